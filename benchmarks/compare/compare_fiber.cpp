// compare_fiber — the Boost.Fiber column of the side-by-side comparison (tools/compare): every
// workload on Boost.Fiber fibers scheduled by its work_stealing algorithm over W threads (the
// main thread and W-1 helpers; round_robin when W is 1), with boost::fibers channels, mutex and
// condition_variable, and Boost's default fiber stacks.
//
//   compare_fiber --workload NAME [--n N] [--workers W]    (--list: the workloads)
//
// Boost.Fiber has no select, so the select workload is not implemented (the table says so);
// it has no context either, so ctx_cancel wakes its waiters by closing a channel, which is what
// Go's ctx.Done() is. buffered_channel needs a power-of-two capacity and keeps one slot free: the
// capacity-1024 and -128 channels hold 1023 and 127 values.
#include <boost/fiber/all.hpp>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"

namespace {

using boost::fibers::buffered_channel;
using boost::fibers::channel_op_status;
using boost::fibers::unbuffered_channel;
using compare::measurement;
using std::int64_t;

unsigned worker_count(unsigned workers) {
  return workers != 0 ? workers : std::max(1u, std::thread::hardware_concurrency());
}

// fiber_latch: Go's WaitGroup for fibers (count fixed up front): count_down from any fiber,
// wait blocks the calling fiber until the count reaches zero.
class fiber_latch {
 public:
  explicit fiber_latch(int64_t count) : count_(count) {}

  void count_down() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }

  void wait() {
    std::unique_lock lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
  }

 private:
  std::atomic<int64_t> count_;
  boost::fibers::mutex mutex_;
  boost::fibers::condition_variable opened_;
  bool open_ = false;  // guarded by mutex_
};

// run_timed: runs `workload` on the main thread's main fiber while `workers` threads (this one
// included) share fibers through work_stealing; returns what it measured. The helper threads
// park their main fiber until the workload is over, so their schedulers run the pool's fibers.
template <class F>
measurement run_timed(unsigned workers, F workload) {
  const unsigned threads = worker_count(workers);
  boost::fibers::mutex mutex;
  boost::fibers::condition_variable finished;
  bool done = false;  // guarded by mutex
  std::vector<std::thread> helpers;
  for (unsigned i = 1; i < threads; ++i) {
    helpers.emplace_back([&] {
      boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads);
      std::unique_lock lock(mutex);
      finished.wait(lock, [&] { return done; });
    });
  }
  // Boost 1.74's work_stealing over one thread hangs as soon as that thread idles (seen here: a
  // lone main fiber's sleep_for never returns), so one worker uses the default round_robin.
  if (threads > 1) {
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads);
  }
  const measurement m = workload();
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  finished.notify_all();
  for (std::thread& t : helpers) t.join();
  return m;
}

template <class F>
void spawn_detached(F&& fn) {
  boost::fibers::fiber(std::forward<F>(fn)).detach();
}

// skynet: a fiber per tree node, ten children each, sums passed up over unbuffered channels.
void skynet(unbuffered_channel<int64_t>& out, int64_t num, int64_t size) {
  if (size == 1) {
    out.push(num);
    return;
  }
  unbuffered_channel<int64_t> children;
  const int64_t step = size / 10;
  for (int64_t i = 0; i < 10; ++i) {
    spawn_detached([&children, num, i, step] { skynet(children, num + i * step, step); });
  }
  int64_t sum = 0;
  for (int i = 0; i < 10; ++i) sum += children.value_pop();
  out.push(sum);
}

measurement skynet_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    unbuffered_channel<int64_t> result;
    spawn_detached([&result, n] { skynet(result, 0, n); });
    const int64_t sum = result.value_pop();
    return {clock.seconds(), sum};
  });
}

// spawn: n fibers, each adds its number to a shared sum and counts down a latch.
measurement spawn_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    std::atomic<int64_t> sum{0};
    fiber_latch finished(n);
    for (int64_t i = 0; i < n; ++i) {
      spawn_detached([&sum, &finished, i] {
        sum.fetch_add(i, std::memory_order_relaxed);
        finished.count_down();
      });
    }
    finished.wait();
    return {clock.seconds(), sum.load()};
  });
}

// pingpong: n round trips over two unbuffered channels between main and an echo fiber.
measurement pingpong_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    unbuffered_channel<int64_t> ping;
    unbuffered_channel<int64_t> pong;
    boost::fibers::fiber echo([&] {
      int64_t v = 0;
      while (ping.pop(v) == channel_op_status::success) pong.push(v);
    });
    int64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      ping.push(i);
      sum += pong.value_pop();
    }
    ping.close();
    echo.join();
    return {clock.seconds(), sum};
  });
}

// spsc: one producer sends 0..n-1 over a channel of capacity 1024 and closes it; main sums.
measurement spsc_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    buffered_channel<int64_t> ch(1024);
    boost::fibers::fiber producer([&ch, n] {
      for (int64_t i = 0; i < n; ++i) ch.push(i);
      ch.close();
    });
    int64_t sum = 0;
    int64_t v = 0;
    while (ch.pop(v) == channel_op_status::success) sum += v;
    producer.join();
    return {clock.seconds(), sum};
  });
}

// mpmc: 4 producers send n values in all over a channel of capacity 128, 4 consumers sum them.
measurement mpmc_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    constexpr int64_t producers = 4;
    constexpr int64_t consumers = 4;
    const compare::stopwatch clock;
    buffered_channel<int64_t> ch(128);
    std::vector<boost::fibers::fiber> senders;
    for (int64_t p = 0; p < producers; ++p) {
      const int64_t first = compare::first_of_share(n, producers, p);
      const int64_t last = first + compare::share(n, producers, p);
      senders.emplace_back([&ch, first, last] {
        for (int64_t i = first; i < last; ++i) ch.push(i);
      });
    }
    std::atomic<int64_t> sum{0};
    std::vector<boost::fibers::fiber> receivers;
    for (int64_t c = 0; c < consumers; ++c) {
      receivers.emplace_back([&ch, &sum] {
        int64_t local = 0;
        int64_t v = 0;
        while (ch.pop(v) == channel_op_status::success) local += v;
        sum.fetch_add(local, std::memory_order_relaxed);
      });
    }
    for (boost::fibers::fiber& f : senders) f.join();
    ch.close();
    for (boost::fibers::fiber& f : receivers) f.join();
    return {clock.seconds(), sum.load()};
  });
}

// mutex: 8 fibers each increment a shared counter n/8 times under a boost::fibers::mutex.
measurement mutex_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    constexpr int64_t fiber_count = 8;
    const compare::stopwatch clock;
    boost::fibers::mutex mutex;
    int64_t counter = 0;
    std::vector<boost::fibers::fiber> fibers;
    for (int64_t f = 0; f < fiber_count; ++f) {
      fibers.emplace_back([&, count = compare::share(n, fiber_count, f)] {
        for (int64_t i = 0; i < count; ++i) {
          std::lock_guard lock(mutex);
          ++counter;
        }
      });
    }
    for (boost::fibers::fiber& f : fibers) f.join();
    return {clock.seconds(), counter};
  });
}

// idle_memory: n fibers park receiving from one channel; resident memory added per fiber.
measurement idle_memory_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    unbuffered_channel<int> release;
    fiber_latch started(n);
    fiber_latch finished(n);
    std::atomic<int64_t> exited{0};
    const int64_t before = compare::resident_kib();
    for (int64_t i = 0; i < n; ++i) {
      spawn_detached([&] {
        started.count_down();
        int v = 0;
        (void)release.pop(v);
        exited.fetch_add(1, std::memory_order_relaxed);
        finished.count_down();
      });
    }
    started.wait();
    boost::this_fiber::sleep_for(std::chrono::milliseconds(50));  // let the last ones park
    const int64_t after = compare::resident_kib();
    release.close();
    finished.wait();
    return {compare::kib_per_task(before, after, n), exited.load()};
  });
}

// timers: n fibers each sleep 10 ms; the time until all have counted down a latch.
measurement timers_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    std::atomic<int64_t> woken{0};
    fiber_latch finished(n);
    for (int64_t i = 0; i < n; ++i) {
      spawn_detached([&woken, &finished] {
        boost::this_fiber::sleep_for(std::chrono::milliseconds(10));
        woken.fetch_add(1, std::memory_order_relaxed);
        finished.count_down();
      });
    }
    finished.wait();
    return {clock.seconds(), woken.load()};
  });
}

// yield: 2 fibers per worker thread share n calls of boost::this_fiber::yield evenly.
measurement yield_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n, workers]() -> measurement {
    const int64_t fiber_count = 2 * static_cast<int64_t>(worker_count(workers));
    const compare::stopwatch clock;
    std::atomic<int64_t> yields{0};
    std::vector<boost::fibers::fiber> fibers;
    for (int64_t f = 0; f < fiber_count; ++f) {
      fibers.emplace_back([&yields, count = compare::share(n, fiber_count, f)] {
        for (int64_t i = 0; i < count; ++i) boost::this_fiber::yield();
        yields.fetch_add(count, std::memory_order_relaxed);
      });
    }
    for (boost::fibers::fiber& f : fibers) f.join();
    return {clock.seconds(), yields.load()};
  });
}

// ctx_cancel: n fibers block receiving from a "done" channel; the time from closing it (the
// cancellation) until every fiber has woken and counted down a latch.
measurement ctx_cancel_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    unbuffered_channel<int> done;
    fiber_latch started(n);
    fiber_latch finished(n);
    std::atomic<int64_t> woken{0};
    for (int64_t i = 0; i < n; ++i) {
      spawn_detached([&] {
        started.count_down();
        int v = 0;
        (void)done.pop(v);
        woken.fetch_add(1, std::memory_order_relaxed);
        finished.count_down();
      });
    }
    started.wait();
    boost::this_fiber::sleep_for(std::chrono::milliseconds(20));  // let the last ones park
    const compare::stopwatch clock;
    done.close();
    finished.wait();
    return {clock.seconds(), woken.load()};
  });
}

// parallel: n fibers, each computes compare::mix_chain (processor work and nothing else) and
// pushes its result on a buffered_channel that holds n values (the next power of two above n);
// the main fiber pops and sums them.
measurement parallel_workload(int64_t n, unsigned workers) {
  return run_timed(workers, [n]() -> measurement {
    const compare::stopwatch clock;
    buffered_channel<std::uint64_t> results(std::bit_ceil(static_cast<std::size_t>(n) + 1));
    for (int64_t i = 0; i < n; ++i) {
      spawn_detached([&results, i] {
        results.push(compare::mix_chain(static_cast<std::uint64_t>(i), compare::parallel_steps));
      });
    }
    std::uint64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += results.value_pop();
    return {clock.seconds(), static_cast<int64_t>(sum)};
  });
}

constexpr compare::workload workloads[] = {
    {"skynet", 1'000'000, "s", compare::triangle, skynet_workload},
    {"spawn", 1'000'000, "s", compare::triangle, spawn_workload},
    {"pingpong", 1'000'000, "s", compare::triangle, pingpong_workload},
    {"spsc", 10'000'000, "s", compare::triangle, spsc_workload},
    {"mpmc", 4'000'000, "s", compare::triangle, mpmc_workload},
    {"mutex", 10'000'000, "s", compare::identity, mutex_workload},
    {"idle_memory", 100'000, "KiB", compare::identity, idle_memory_workload},
    {"timers", 100'000, "s", compare::identity, timers_workload},
    {"yield", 2'000'000, "s", compare::identity, yield_workload},
    {"ctx_cancel", 10'000, "s", compare::identity, ctx_cancel_workload},
    {"parallel", 256, "s", compare::parallel_expected, parallel_workload},
};

}  // namespace

int main(int argc, char** argv) {
  return compare::main_with(
      "fiber", workloads, [](unsigned workers) { return std::to_string(worker_count(workers)); },
      argc, argv);
}
