// runtime_bench — Google Benchmark micro-benchmarks of <goro/runtime.hpp>'s hot paths: spawning
// and joining goroutines, a yield round trip, a park/ready switch, skynet; next to std::thread.
//
//   build/benchmarks/runtime_bench [--benchmark_filter=...]
//
// Each benchmark runs inside goro::run on the given number of workers (the /N argument) and
// reports wall-clock time (the main goroutine may move between worker threads).
#include <goro/chan.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

goro::options workers(const benchmark::State& state) {
  goro::options o;
  o.workers = static_cast<unsigned>(state.range(0));
  return o;
}

// Spawns a batch of goroutines that each signal a wait_group; reports time per goroutine.
void spawn_join(benchmark::State& state) {
  constexpr long batch = 10'000;
  goro::run(
      [&] {
        for (auto _ : state) {
          goro::wait_group wg;
          wg.add(batch);
          for (long i = 0; i < batch; ++i) goro::go([&wg] { wg.done(); });
          wg.wait();
        }
      },
      workers(state));
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(spawn_join)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The same on std::thread: start and join a batch of threads, 100 at a time.
void thread_spawn_join(benchmark::State& state) {
  constexpr long batch = 1'000;
  std::atomic<long> done{0};
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (long i = 0; i < batch; ++i) {
      threads.emplace_back([&done] { done.fetch_add(1, std::memory_order_relaxed); });
      if (threads.size() == 100) {
        for (auto& t : threads) t.join();
        threads.clear();
      }
    }
    for (auto& t : threads) t.join();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(thread_spawn_join)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Two goroutines yield to each other; reports time per yield.
void yield_round_trip(benchmark::State& state) {
  constexpr long rounds = 100'000;
  goro::run(
      [&] {
        for (auto _ : state) {
          std::atomic<bool> stop{false};
          goro::wait_group wg;
          wg.add(1);
          goro::go([&] {
            while (!stop.load(std::memory_order_relaxed)) goro::yield();
            wg.done();
          });
          for (long i = 0; i < rounds; ++i) goro::yield();
          stop.store(true);
          wg.wait();
        }
      },
      workers(state));
  state.SetItemsProcessed(state.iterations() * rounds);
}
BENCHMARK(yield_round_trip)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

// skynet: a 10-ary tree of one million goroutines reporting through unbuffered channels.
void skynet(goro::send_chan<long> out, long num, long size) {
  if (size == 1) {
    out.send(num);
    return;
  }
  goro::chan<long> results;
  for (long i = 0; i < 10; ++i) goro::go(skynet, results, num + i * (size / 10), size / 10);
  long sum = 0;
  for (long i = 0; i < 10; ++i) sum += *results.recv();
  out.send(sum);
}

void skynet_1m(benchmark::State& state) {
  goro::run(
      [&] {
        for (auto _ : state) {
          goro::chan<long> result;
          goro::go(skynet, result, 0, 1'000'000);
          const long sum = *result.recv();
          if (sum != 499'999'500'000) state.SkipWithError("wrong skynet sum");
        }
      },
      workers(state));
}
BENCHMARK(skynet_1m)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
