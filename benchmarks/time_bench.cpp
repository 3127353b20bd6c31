// time_bench — goro's timers next to std::thread equivalents.
//
//   sleepers:     N goroutines each sleep 10 ms; the time for all of them to start, sleep and be
//                 joined (Go 1.19 on this kind of machine: 100k goroutines ≈ 150 ms). The
//                 std::thread row sleeps 1000 threads (a process cannot hold 100k of them).
//   after_fire:   select { <-never; <-after(1µs) }: create a timer, park, fire, wake. Next to a
//                 condition_variable::wait_for(1µs) that times out on a plain thread.
//   start_stop:   timer t(1h); t.stop() with P other timers pending: the heap's O(log n) add and
//                 remove (no goroutine switch).
//   ticker_tick:  receive from a 10 µs ticker.
#include <benchmark/benchmark.h>

#include <goro/goro.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

void goro_sleepers(benchmark::State& state) {
  const auto n = static_cast<long>(state.range(0));
  for (auto _ : state) {
    goro::run([n] {
      goro::wait_group wg;
      wg.add(n);
      for (long i = 0; i < n; ++i) {
        goro::go([&wg] {
          goro::sleep_for(10ms);
          wg.done();
        });
      }
      wg.wait();
    });
  }
  state.SetLabel(std::to_string(goro::num_workers()) + " workers");
}
BENCHMARK(goro_sleepers)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void thread_sleepers(benchmark::State& state) {
  const auto n = static_cast<long>(state.range(0));
  for (auto _ : state) {
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) threads.emplace_back([] { std::this_thread::sleep_for(10ms); });
    for (auto& t : threads) t.join();
  }
}
BENCHMARK(thread_sleepers)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void goro_after_fire(benchmark::State& state) {
  goro::run([&] {
    goro::chan<int> never;
    for (auto _ : state) {
      goro::select(goro::on_recv(never), goro::on_recv(goro::after(1us)));
    }
  });
}
BENCHMARK(goro_after_fire)->UseRealTime();

void thread_timed_wait(benchmark::State& state) {
  std::mutex m;
  std::condition_variable cv;
  for (auto _ : state) {
    std::unique_lock lock(m);
    cv.wait_for(lock, 1us);
  }
}
BENCHMARK(thread_timed_wait)->UseRealTime();

void goro_timer_start_stop(benchmark::State& state) {
  const auto pending = static_cast<std::size_t>(state.range(0));
  goro::run([&] {
    std::vector<goro::timer> others;
    others.reserve(pending);
    for (std::size_t i = 0; i < pending; ++i) {
      others.emplace_back(1h + std::chrono::microseconds(i * 7919 % 100000));
    }
    for (auto _ : state) {
      goro::timer t(30min);
      benchmark::DoNotOptimize(t.stop());
    }
  });
}
BENCHMARK(goro_timer_start_stop)->Arg(0)->Arg(10000)->Arg(100000)->UseRealTime();

void goro_timer_reset(benchmark::State& state) {
  goro::run([&] {
    goro::timer t(1h);
    for (auto _ : state) benchmark::DoNotOptimize(t.reset(1h));
  });
}
BENCHMARK(goro_timer_reset)->UseRealTime();

void goro_ticker_tick(benchmark::State& state) {
  goro::run([&] {
    goro::ticker tk(10us);
    for (auto _ : state) tk.c().recv();
  });
}
BENCHMARK(goro_ticker_tick)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
