// Benchmarks of <goro/sync.hpp>, each next to its std::mutex / std::thread equivalent.
//
//   mutex_uncontended    lock + unlock by one goroutine (one CAS each), vs std::mutex
//   mutex_contended      8 goroutines on 2 workers share a mutex-protected counter, vs 8
//                        std::threads on a std::mutex; time per lock/unlock pair (per_lock)
//   wait_group_*         add/done/wait with nobody parked, and a fan-in of 100 goroutines, vs
//                        a mutex + condition_variable counter and 100 std::threads
//   singleflight_*       a call that finds no call in flight (eight keys in turn), and 8
//                        goroutines on 2 workers calling one key whose function yields (Go's
//                        x/sync singleflight on the same loops: benchmarks/peers/go-singleflight)
#include <goro/runtime.hpp>
#include <goro/singleflight.hpp>
#include <goro/sync.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// per_op: a counter shown as the time per operation (ops per iteration, inverted rate).
benchmark::Counter per_op(std::int64_t ops) {
  return benchmark::Counter(
      static_cast<double>(ops),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// std_wait_group: what a WaitGroup looks like with the standard library.
class std_wait_group {
 public:
  void add(int n) {
    std::lock_guard hold(m_);
    count_ += n;
  }
  void done() {
    std::lock_guard hold(m_);
    if (--count_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock hold(m_);
    cv_.wait(hold, [&] { return count_ == 0; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int count_ = 0;
};

// --- mutex, uncontended ----------------------------------------------------------------------

void goro_mutex_uncontended(benchmark::State& state) {
  goro::run(
      [&] {
        goro::mutex m;
        for (auto _ : state) {
          m.lock();
          m.unlock();
        }
      },
      goro::options{.workers = 1});
}
BENCHMARK(goro_mutex_uncontended);

void std_mutex_uncontended(benchmark::State& state) {
  std::mutex m;
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
}
BENCHMARK(std_mutex_uncontended);

// --- mutex, 8 contenders ---------------------------------------------------------------------

constexpr int contenders = 8;
constexpr std::int64_t locks_per_contender = 250'000;

void goro_mutex_contended(benchmark::State& state) {
  const auto workers = static_cast<unsigned>(state.range(0));
  for (auto _ : state) {
    double elapsed = 0;
    std::int64_t counter = 0;
    goro::run(
        [&] {
          goro::mutex m;
          goro::wait_group wg;
          const auto start = clock_type::now();
          wg.add(contenders);
          for (int g = 0; g < contenders; ++g) {
            goro::go([&] {
              for (std::int64_t i = 0; i < locks_per_contender; ++i) {
                std::lock_guard hold(m);
                ++counter;
              }
              wg.done();
            });
          }
          wg.wait();
          elapsed = seconds_since(start);
        },
        goro::options{.workers = workers});
    if (counter != contenders * locks_per_contender) state.SkipWithError("lost an increment");
    state.SetIterationTime(elapsed);
  }
  state.counters["per_lock"] = per_op(contenders * locks_per_contender);
}
BENCHMARK(goro_mutex_contended)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

void std_mutex_contended(benchmark::State& state) {
  for (auto _ : state) {
    std::mutex m;
    std::int64_t counter = 0;
    std::vector<std::thread> threads;
    const auto start = clock_type::now();
    for (int t = 0; t < contenders; ++t) {
      threads.emplace_back([&] {
        for (std::int64_t i = 0; i < locks_per_contender; ++i) {
          std::lock_guard hold(m);
          ++counter;
        }
      });
    }
    for (auto& t : threads) t.join();
    const double elapsed = seconds_since(start);
    if (counter != contenders * locks_per_contender) state.SkipWithError("lost an increment");
    state.SetIterationTime(elapsed);
  }
  state.counters["per_lock"] = per_op(contenders * locks_per_contender);
}
BENCHMARK(std_mutex_contended)->UseManualTime()->Unit(benchmark::kMillisecond);

// --- wait_group ------------------------------------------------------------------------------

void goro_wait_group_add_done_wait(benchmark::State& state) {
  goro::run(
      [&] {
        goro::wait_group wg;
        for (auto _ : state) {
          wg.add(1);
          wg.done();
          wg.wait();
        }
      },
      goro::options{.workers = 1});
}
BENCHMARK(goro_wait_group_add_done_wait);

void std_wait_group_add_done_wait(benchmark::State& state) {
  std_wait_group wg;
  for (auto _ : state) {
    wg.add(1);
    wg.done();
    wg.wait();
  }
}
BENCHMARK(std_wait_group_add_done_wait);

constexpr int fan_in = 100;

// One wait for 100 goroutines that each call done(); the run is started once.
void goro_wait_group_fan_in(benchmark::State& state) {
  goro::run(
      [&] {
        for (auto _ : state) {
          goro::wait_group wg;
          wg.add(fan_in);
          for (int i = 0; i < fan_in; ++i) goro::go([&wg] { wg.done(); });
          wg.wait();
        }
      },
      goro::options{.workers = 2});
  state.counters["per_task"] = per_op(fan_in);
}
BENCHMARK(goro_wait_group_fan_in)->UseRealTime()->Unit(benchmark::kMicrosecond);

void std_thread_fan_in(benchmark::State& state) {
  for (auto _ : state) {
    std_wait_group wg;
    wg.add(fan_in);
    std::vector<std::thread> threads;
    threads.reserve(fan_in);
    for (int i = 0; i < fan_in; ++i) threads.emplace_back([&wg] { wg.done(); });
    wg.wait();
    for (auto& t : threads) t.join();
  }
  state.counters["per_task"] = per_op(fan_in);
}
BENCHMARK(std_thread_fan_in)->UseRealTime()->Unit(benchmark::kMicrosecond);

// --- singleflight ----------------------------------------------------------------------------

// One call per iteration, over eight keys in turn, none of them in flight: the map lookup, the
// call's record, the function and the removal.
void goro_singleflight_call_uncontended(benchmark::State& state) {
  goro::run(
      [&] {
        goro::singleflight<int, int> flights;
        int i = 0;
        for (auto _ : state) {
          benchmark::DoNotOptimize(flights.call(i & 7, [i] { return i; }).value);
          ++i;
        }
      },
      goro::options{.workers = 1});
}
BENCHMARK(goro_singleflight_call_uncontended);

// 8 goroutines on 2 workers, each making `calls_each` calls of one key whose function yields
// once, so that others join it; time per call.
void goro_singleflight_one_key_8_goroutines(benchmark::State& state) {
  constexpr int goroutines = 8;
  constexpr int calls_each = 20'000;
  std::atomic<long> functions_run{0};
  goro::run(
      [&] {
        goro::singleflight<int, int> flights;
        for (auto _ : state) {
          goro::wait_group wg;
          wg.add(goroutines);
          for (int g = 0; g < goroutines; ++g) {
            goro::go([&] {
              for (int i = 0; i < calls_each; ++i) {
                benchmark::DoNotOptimize(flights.call(1, [&] {
                  functions_run.fetch_add(1, std::memory_order_relaxed);
                  goro::yield();
                  return 1;
                }));
              }
              wg.done();
            });
          }
          wg.wait();
        }
      },
      goro::options{.workers = 2});
  state.counters["per_call"] = per_op(goroutines * calls_each);
  state.counters["calls_per_function"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * goroutines * calls_each /
                         static_cast<double>(functions_run.load() > 0 ? functions_run.load() : 1));
}
BENCHMARK(goro_singleflight_one_key_8_goroutines)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
