// context_bench — goro's contexts next to std::thread equivalents.
//
//   cancel_fanout: N goroutines wait on ctx.done(); the time from cancel() until the last of
//                  them has woken and finished (setup excluded). The std::thread row wakes N
//                  threads blocked on a condition_variable with notify_all (1000 threads: a
//                  process cannot hold 10k comfortably).
//   child_cancel:  with_cancel(parent) then cancel(), under a long-lived parent.
//   timeout_cancel: with_timeout(parent, 1h) then cancel(): adds and removes a heap timer too.
//   value_lookup:  value(key) through a chain of 10 contexts.
#include <benchmark/benchmark.h>

#include <goro/goro.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

void goro_cancel_fanout(benchmark::State& state) {
  const auto n = static_cast<long>(state.range(0));
  goro::run([&] {
    for (auto _ : state) {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      goro::wait_group ready;
      goro::wait_group done;
      ready.add(n);
      done.add(n);
      for (long i = 0; i < n; ++i) {
        goro::go([&, c = ctx.done()] {
          ready.done();
          c.recv();
          done.done();
        });
      }
      ready.wait();
      goro::sleep_for(1ms);  // let them all park
      const auto start = clock_type::now();
      cancel();
      done.wait();
      state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - start).count());
    }
  });
  state.SetLabel(std::to_string(n) + " goroutines");
}
BENCHMARK(goro_cancel_fanout)
    ->Arg(1000)
    ->Arg(10000)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void thread_cancel_fanout(benchmark::State& state) {
  const auto n = static_cast<long>(state.range(0));
  for (auto _ : state) {
    std::mutex m;
    std::condition_variable cv;
    bool cancelled = false;
    long waiting = 0;
    std::vector<std::thread> threads;
    for (long i = 0; i < n; ++i) {
      threads.emplace_back([&] {
        std::unique_lock lock(m);
        ++waiting;
        cv.notify_all();
        cv.wait(lock, [&] { return cancelled; });
      });
    }
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return waiting == n; });
    }
    const auto start = clock_type::now();
    {
      std::lock_guard lock(m);
      cancelled = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - start).count());
  }
  state.SetLabel(std::to_string(n) + " threads");
}
BENCHMARK(thread_cancel_fanout)->Arg(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);

void goro_child_cancel(benchmark::State& state) {
  auto [parent, cancel_parent] = goro::with_cancel(goro::background());
  for (auto _ : state) {
    auto [ctx, cancel] = goro::with_cancel(parent);
    cancel();
  }
}
BENCHMARK(goro_child_cancel);

void goro_timeout_cancel(benchmark::State& state) {
  goro::run([&] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    for (auto _ : state) {
      auto [ctx, cancel] = goro::with_timeout(parent, 1h);
      cancel();
    }
  });
}
BENCHMARK(goro_timeout_cancel);

void goro_value_lookup(benchmark::State& state) {
  static const goro::context_key<int> key;
  static const goro::context_key<int> other;
  goro::context ctx = goro::with_value(goro::background(), key, 1);
  for (int i = 0; i < 9; ++i) ctx = goro::with_value(ctx, other, i);
  for (auto _ : state) benchmark::DoNotOptimize(ctx.value(key));
}
BENCHMARK(goro_value_lookup);

}  // namespace

BENCHMARK_MAIN();
