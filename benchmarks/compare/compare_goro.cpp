// compare_goro — the goro column of the side-by-side comparison (tools/compare): every workload
// written against goro's public API (../shared/API.md), as a Go programmer would write it.
//
//   compare_goro --workload NAME [--n N] [--workers W]    (--list: the workloads built in)
//
// Workloads whose goro headers are not there yet are left out of the build: CMake defines
// GORO_COMPARE_HAVE_CHAN, _SELECT, _MUTEX and _CONTEXT for the parts of the API it found, and
// --list names only what this binary implements.
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#if GORO_COMPARE_HAVE_CHAN
#include <goro/chan.hpp>
#endif
#if GORO_COMPARE_HAVE_SELECT
#include <goro/select.hpp>
#endif
#if GORO_COMPARE_HAVE_CONTEXT
#include <goro/context.hpp>
#endif

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using compare::measurement;
using std::int64_t;

goro::options options_for(unsigned workers) {
  return goro::options{.workers = workers};
}

// run_timed: runs `workload` as goro's main goroutine on `workers` workers and returns what it
// measured; starting and stopping the scheduler are outside the timed section.
template <class F>
measurement run_timed(unsigned workers, F workload) {
  return goro::run([&] { return workload(); }, options_for(workers));
}

#if GORO_COMPARE_HAVE_CHAN

// skynet: a goroutine per tree node, ten children each, sums passed up over unbuffered channels.
void skynet(goro::send_chan<int64_t> out, int64_t num, int64_t size) {
  if (size == 1) {
    out.send(num);
    return;
  }
  goro::chan<int64_t> children;
  const int64_t step = size / 10;
  for (int64_t i = 0; i < 10; ++i) goro::go(skynet, children, num + i * step, step);
  int64_t sum = 0;
  for (int i = 0; i < 10; ++i) sum += *children.recv();
  out.send(sum);
}

measurement skynet_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    goro::chan<int64_t> result;
    goro::go(skynet, result, int64_t{0}, n);
    const int64_t sum = *result.recv();
    return {clock.seconds(), sum};
  });
}

// pingpong: n round trips over two unbuffered channels between main and an echo goroutine.
measurement pingpong_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    goro::chan<int64_t> ping;
    goro::chan<int64_t> pong;
    goro::go([ping, pong] {
      for (int64_t v : ping) pong.send(v);
    });
    int64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      ping.send(i);
      sum += *pong.recv();
    }
    ping.close();
    return {clock.seconds(), sum};
  });
}

// spsc: one producer sends 0..n-1 over a channel of capacity 1024 and closes it; main sums.
measurement spsc_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    goro::chan<int64_t> ch(1024);
    goro::go([ch, n] {
      for (int64_t i = 0; i < n; ++i) ch.send(i);
      ch.close();
    });
    int64_t sum = 0;
    for (int64_t v : ch) sum += v;
    return {clock.seconds(), sum};
  });
}

// mpmc: 4 producers send n values in all over a channel of capacity 128, 4 consumers sum them.
measurement mpmc_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    constexpr int64_t producers = 4;
    constexpr int64_t consumers = 4;
    const compare::stopwatch clock;
    goro::chan<int64_t> ch(128);
    goro::wait_group sent;
    sent.add(producers);
    for (int64_t p = 0; p < producers; ++p) {
      const int64_t first = compare::first_of_share(n, producers, p);
      const int64_t last = first + compare::share(n, producers, p);
      goro::go([ch, &sent, first, last] {
        for (int64_t i = first; i < last; ++i) ch.send(i);
        sent.done();
      });
    }
    goro::go([ch, &sent] {
      sent.wait();
      ch.close();
    });
    goro::chan<int64_t> sums(consumers);
    for (int64_t c = 0; c < consumers; ++c) {
      goro::go([ch, sums] {
        int64_t sum = 0;
        for (int64_t v : ch) sum += v;
        sums.send(sum);
      });
    }
    int64_t sum = 0;
    for (int64_t c = 0; c < consumers; ++c) sum += *sums.recv();
    return {clock.seconds(), sum};
  });
}

// idle_memory: n goroutines park receiving from one channel; resident memory added per goroutine.
measurement idle_memory_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    goro::chan<int> release;
    goro::wait_group started;
    goro::wait_group finished;
    std::atomic<int64_t> exited{0};
    started.add(n);
    finished.add(n);
    const int64_t before = compare::resident_kib();
    for (int64_t i = 0; i < n; ++i) {
      goro::go([release, &started, &finished, &exited] {
        started.done();
        (void)release.recv();
        exited.fetch_add(1, std::memory_order_relaxed);
        finished.done();
      });
    }
    started.wait();
    goro::sleep_for(std::chrono::milliseconds(50));  // let the last ones reach recv and park
    const int64_t after = compare::resident_kib();
    release.close();
    finished.wait();
    return {compare::kib_per_task(before, after, n), exited.load()};
  });
}

#endif  // GORO_COMPARE_HAVE_CHAN

#if GORO_COMPARE_HAVE_CHAN && GORO_COMPARE_HAVE_SELECT

// select: two producers on their own unbuffered channel, main receives all n with a 2-way select.
measurement select_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    goro::chan<int64_t> a;
    goro::chan<int64_t> b;
    auto produce = [](goro::send_chan<int64_t> ch, int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) ch.send(i);
    };
    goro::go(produce, a, int64_t{0}, n / 2);
    goro::go(produce, b, n / 2, n);
    int64_t sum = 0;
    auto add = [&sum](std::optional<int64_t> v) { sum += *v; };
    for (int64_t i = 0; i < n; ++i) goro::select(goro::on_recv(a, add), goro::on_recv(b, add));
    return {clock.seconds(), sum};
  });
}

#endif  // GORO_COMPARE_HAVE_CHAN && GORO_COMPARE_HAVE_SELECT

// spawn: n goroutines, each adds its number to a shared sum and signals a wait_group.
measurement spawn_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    std::atomic<int64_t> sum{0};
    goro::wait_group wg;
    wg.add(n);
    for (int64_t i = 0; i < n; ++i) {
      goro::go([&sum, &wg, i] {
        sum.fetch_add(i, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    return {clock.seconds(), sum.load()};
  });
}

#if GORO_COMPARE_HAVE_MUTEX

// mutex: 8 goroutines each increment a shared counter n/8 times under a goro::mutex.
measurement mutex_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    constexpr int64_t goroutines = 8;
    const compare::stopwatch clock;
    goro::mutex mutex;
    int64_t counter = 0;
    goro::wait_group wg;
    wg.add(goroutines);
    for (int64_t g = 0; g < goroutines; ++g) {
      goro::go([&, count = compare::share(n, goroutines, g)] {
        for (int64_t i = 0; i < count; ++i) {
          std::lock_guard lock(mutex);
          ++counter;
        }
        wg.done();
      });
    }
    wg.wait();
    return {clock.seconds(), counter};
  });
}

#endif  // GORO_COMPARE_HAVE_MUTEX

// timers: n goroutines each sleep 10 ms; the time until all have signalled a wait_group.
measurement timers_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    std::atomic<int64_t> woken{0};
    goro::wait_group wg;
    wg.add(n);
    for (int64_t i = 0; i < n; ++i) {
      goro::go([&woken, &wg] {
        goro::sleep_for(std::chrono::milliseconds(10));
        woken.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    return {clock.seconds(), woken.load()};
  });
}

// yield: 2 goroutines per worker share n calls of goro::yield evenly.
measurement yield_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const int64_t goroutines = 2 * static_cast<int64_t>(goro::num_workers());
    const compare::stopwatch clock;
    std::atomic<int64_t> yields{0};
    goro::wait_group wg;
    wg.add(goroutines);
    for (int64_t g = 0; g < goroutines; ++g) {
      goro::go([&yields, &wg, count = compare::share(n, goroutines, g)] {
        for (int64_t i = 0; i < count; ++i) goro::yield();
        yields.fetch_add(count, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    return {clock.seconds(), yields.load()};
  });
}

#if GORO_COMPARE_HAVE_CHAN

// parallel: n goroutines, each computes compare::mix_chain (processor work and nothing else) and
// sends its result on a channel of capacity n; main receives and sums them.
measurement parallel_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    goro::chan<std::uint64_t> results(n);
    for (int64_t i = 0; i < n; ++i) {
      goro::go([results, i] {
        results.send(compare::mix_chain(static_cast<std::uint64_t>(i), compare::parallel_steps));
      });
    }
    std::uint64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += *results.recv();
    return {clock.seconds(), static_cast<int64_t>(sum)};
  });
}

#endif  // GORO_COMPARE_HAVE_CHAN

#if GORO_COMPARE_HAVE_CONTEXT

// ctx_cancel: n goroutines wait on ctx.done() of one cancellable context; the time from cancel()
// until every one of them has woken and signalled a wait_group.
measurement ctx_cancel_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const auto cancellable = goro::with_cancel(goro::background());
    const goro::context ctx = cancellable.first;
    goro::wait_group started;
    goro::wait_group finished;
    std::atomic<int64_t> woken{0};
    started.add(n);
    finished.add(n);
    for (int64_t i = 0; i < n; ++i) {
      goro::go([ctx, &started, &finished, &woken] {
        started.done();
        (void)ctx.done().recv();
        woken.fetch_add(1, std::memory_order_relaxed);
        finished.done();
      });
    }
    started.wait();
    goro::sleep_for(std::chrono::milliseconds(20));  // let the last ones park on done()
    const compare::stopwatch clock;
    cancellable.second();
    finished.wait();
    return {clock.seconds(), woken.load()};
  });
}

#endif  // GORO_COMPARE_HAVE_CONTEXT

constexpr compare::workload workloads[] = {
#if GORO_COMPARE_HAVE_CHAN
    {"skynet", 1'000'000, "s", compare::triangle, skynet_workload},
#endif
    {"spawn", 1'000'000, "s", compare::triangle, spawn_workload},
#if GORO_COMPARE_HAVE_CHAN
    {"pingpong", 1'000'000, "s", compare::triangle, pingpong_workload},
    {"spsc", 10'000'000, "s", compare::triangle, spsc_workload},
    {"mpmc", 4'000'000, "s", compare::triangle, mpmc_workload},
#endif
#if GORO_COMPARE_HAVE_CHAN && GORO_COMPARE_HAVE_SELECT
    {"select", 4'000'000, "s", compare::triangle, select_workload},
#endif
#if GORO_COMPARE_HAVE_MUTEX
    {"mutex", 10'000'000, "s", compare::identity, mutex_workload},
#endif
#if GORO_COMPARE_HAVE_CHAN
    {"idle_memory", 100'000, "KiB", compare::identity, idle_memory_workload},
#endif
    {"timers", 100'000, "s", compare::identity, timers_workload},
    {"yield", 2'000'000, "s", compare::identity, yield_workload},
#if GORO_COMPARE_HAVE_CONTEXT
    {"ctx_cancel", 10'000, "s", compare::identity, ctx_cancel_workload},
#endif
#if GORO_COMPARE_HAVE_CHAN
    {"parallel", 256, "s", compare::parallel_expected, parallel_workload},
#endif
};

}  // namespace

int main(int argc, char** argv) {
  return compare::main_with(
      "goro", workloads,
      [](unsigned workers) { return std::to_string(workers != 0 ? workers : goro::num_workers()); },
      argc, argv);
}
