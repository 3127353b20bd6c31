// compare_thread — the std::thread column of the side-by-side comparison (tools/compare): every
// workload on plain OS threads, std::mutex, std::latch and the mutex/condition-variable channel
// of thread_chan.hpp. Where a workload needs one task per goroutine, a process cannot hold a
// million threads, so those default to 10,000 (tools/compare labels them).
//
//   compare_thread --workload NAME [--n N] [--workers W]    (--list: the workloads)
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "thread_chan.hpp"

namespace {

using compare::measurement;
using compare::thread_chan;
using std::int64_t;

void join_all(std::vector<std::thread>& threads) {
  for (std::thread& t : threads) t.join();
}

// skynet: a thread per tree node, ten children each, sums passed up over unbuffered channels.
void skynet(thread_chan<int64_t>& out, int64_t num, int64_t size) {
  if (size == 1) {
    out.send(num);
    return;
  }
  thread_chan<int64_t> children_out;
  std::vector<std::thread> children;
  children.reserve(10);
  const int64_t step = size / 10;
  for (int64_t i = 0; i < 10; ++i) {
    children.emplace_back(
        [&children_out, num, i, step] { skynet(children_out, num + i * step, step); });
  }
  int64_t sum = 0;
  for (int i = 0; i < 10; ++i) sum += *children_out.recv();
  join_all(children);
  out.send(sum);
}

measurement skynet_workload(int64_t n, unsigned) {
  const compare::stopwatch clock;
  thread_chan<int64_t> result;
  std::thread root([&] { skynet(result, 0, n); });
  const int64_t sum = *result.recv();
  root.join();
  return {clock.seconds(), sum};
}

// spawn: n threads, each adds its number to a shared sum and counts down a latch; the time
// includes joining them.
measurement spawn_workload(int64_t n, unsigned) {
  const compare::stopwatch clock;
  std::atomic<int64_t> sum{0};
  std::latch finished(n);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    threads.emplace_back([&sum, &finished, i] {
      sum.fetch_add(i, std::memory_order_relaxed);
      finished.count_down();
    });
  }
  finished.wait();
  join_all(threads);
  return {clock.seconds(), sum.load()};
}

// pingpong: n round trips over two unbuffered channels between the main thread and an echo thread.
measurement pingpong_workload(int64_t n, unsigned) {
  const compare::stopwatch clock;
  thread_chan<int64_t> ping;
  thread_chan<int64_t> pong;
  std::thread echo([&] {
    while (const auto v = ping.recv()) pong.send(*v);
  });
  int64_t sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    ping.send(i);
    sum += *pong.recv();
  }
  ping.close();
  echo.join();
  return {clock.seconds(), sum};
}

// spsc: one producer sends 0..n-1 over a channel of capacity 1024, one consumer sums.
measurement spsc_workload(int64_t n, unsigned) {
  const compare::stopwatch clock;
  thread_chan<int64_t> ch(1024);
  std::thread producer([&] {
    for (int64_t i = 0; i < n; ++i) ch.send(i);
    ch.close();
  });
  int64_t sum = 0;
  while (const auto v = ch.recv()) sum += *v;
  producer.join();
  return {clock.seconds(), sum};
}

// mpmc: 4 producers send n values in all over a channel of capacity 128, 4 consumers sum them.
measurement mpmc_workload(int64_t n, unsigned) {
  constexpr int64_t producers = 4;
  constexpr int64_t consumers = 4;
  const compare::stopwatch clock;
  thread_chan<int64_t> ch(128);
  std::vector<std::thread> senders;
  for (int64_t p = 0; p < producers; ++p) {
    const int64_t first = compare::first_of_share(n, producers, p);
    const int64_t last = first + compare::share(n, producers, p);
    senders.emplace_back([&ch, first, last] {
      for (int64_t i = first; i < last; ++i) ch.send(i);
    });
  }
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> receivers;
  for (int64_t c = 0; c < consumers; ++c) {
    receivers.emplace_back([&] {
      int64_t local = 0;
      while (const auto v = ch.recv()) local += *v;
      sum.fetch_add(local, std::memory_order_relaxed);
    });
  }
  join_all(senders);
  ch.close();
  join_all(receivers);
  return {clock.seconds(), sum.load()};
}

// select: two producers on their own unbuffered channel, one consumer selecting over both.
measurement select_workload(int64_t n, unsigned) {
  const compare::stopwatch clock;
  thread_chan<int64_t> a;
  thread_chan<int64_t> b;
  std::thread producer_a([&] {
    for (int64_t i = 0; i < n / 2; ++i) a.send(i);
  });
  std::thread producer_b([&] {
    for (int64_t i = n / 2; i < n; ++i) b.send(i);
  });
  thread_chan<int64_t>* const channels[] = {&a, &b};
  int64_t sum = 0;
  std::optional<int64_t> value;
  for (int64_t i = 0; i < n; ++i) {
    compare::select_recv<int64_t>(channels, value);
    sum += *value;
  }
  producer_a.join();
  producer_b.join();
  return {clock.seconds(), sum};
}

// mutex: 8 threads each increment a shared counter n/8 times under a std::mutex.
measurement mutex_workload(int64_t n, unsigned) {
  constexpr int64_t thread_count = 8;
  const compare::stopwatch clock;
  std::mutex mutex;
  int64_t counter = 0;
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, count = compare::share(n, thread_count, t)] {
      for (int64_t i = 0; i < count; ++i) {
        std::lock_guard lock(mutex);
        ++counter;
      }
    });
  }
  join_all(threads);
  return {clock.seconds(), counter};
}

// idle_memory: n threads block receiving from one channel; resident memory added per thread.
measurement idle_memory_workload(int64_t n, unsigned) {
  thread_chan<int> release;
  std::latch started(n);
  std::atomic<int64_t> exited{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  const int64_t before = compare::resident_kib();
  for (int64_t i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      started.count_down();
      (void)release.recv();
      exited.fetch_add(1, std::memory_order_relaxed);
    });
  }
  started.wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the last ones block
  const int64_t after = compare::resident_kib();
  release.close();
  join_all(threads);
  return {compare::kib_per_task(before, after, n), exited.load()};
}

// timers: n threads each sleep 10 ms; the time until all have been joined.
measurement timers_workload(int64_t n, unsigned) {
  const compare::stopwatch clock;
  std::atomic<int64_t> woken{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    threads.emplace_back([&woken] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      woken.fetch_add(1, std::memory_order_relaxed);
    });
  }
  join_all(threads);
  return {clock.seconds(), woken.load()};
}

// yield: 2 threads per worker (default: per hardware thread) share n calls of
// std::this_thread::yield evenly.
measurement yield_workload(int64_t n, unsigned workers) {
  const int64_t thread_count = 2 * (workers != 0 ? workers : std::thread::hardware_concurrency());
  const compare::stopwatch clock;
  std::atomic<int64_t> yields{0};
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < thread_count; ++t) {
    threads.emplace_back([&yields, count = compare::share(n, thread_count, t)] {
      for (int64_t i = 0; i < count; ++i) std::this_thread::yield();
      yields.fetch_add(count, std::memory_order_relaxed);
    });
  }
  join_all(threads);
  return {clock.seconds(), yields.load()};
}

// ctx_cancel: n threads block receiving from a "done" channel; the time from closing it (the
// cancellation) until every thread has woken and counted down.
measurement ctx_cancel_workload(int64_t n, unsigned) {
  thread_chan<int> done;
  std::latch started(n);
  std::latch finished(n);
  std::atomic<int64_t> woken{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      started.count_down();
      (void)done.recv();
      woken.fetch_add(1, std::memory_order_relaxed);
      finished.count_down();
    });
  }
  started.wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the last ones block
  const compare::stopwatch clock;
  done.close();
  finished.wait();
  const double seconds = clock.seconds();
  join_all(threads);
  return {seconds, woken.load()};
}

// parallel: n threads, each computes compare::mix_chain (processor work and nothing else) and
// sends its result on a channel of capacity n; the main thread receives and sums them, then
// joins the threads.
measurement parallel_workload(int64_t n, unsigned) {
  const compare::stopwatch clock;
  thread_chan<std::uint64_t> results(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    threads.emplace_back([&results, i] {
      results.send(compare::mix_chain(static_cast<std::uint64_t>(i), compare::parallel_steps));
    });
  }
  std::uint64_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += *results.recv();
  join_all(threads);
  return {clock.seconds(), static_cast<int64_t>(sum)};
}

constexpr compare::workload workloads[] = {
    {"skynet", 10'000, "s", compare::triangle, skynet_workload},
    {"spawn", 10'000, "s", compare::triangle, spawn_workload},
    {"pingpong", 1'000'000, "s", compare::triangle, pingpong_workload},
    {"spsc", 10'000'000, "s", compare::triangle, spsc_workload},
    {"mpmc", 4'000'000, "s", compare::triangle, mpmc_workload},
    {"select", 4'000'000, "s", compare::triangle, select_workload},
    {"mutex", 10'000'000, "s", compare::identity, mutex_workload},
    {"idle_memory", 10'000, "KiB", compare::identity, idle_memory_workload},
    {"timers", 10'000, "s", compare::identity, timers_workload},
    {"yield", 2'000'000, "s", compare::identity, yield_workload},
    {"ctx_cancel", 10'000, "s", compare::identity, ctx_cancel_workload},
    {"parallel", 256, "s", compare::parallel_expected, parallel_workload},
};

}  // namespace

int main(int argc, char** argv) {
  return compare::main_with(
      "thread", workloads, [](unsigned) { return std::string("os"); }, argc, argv);
}
