// chan_bench — Google Benchmark micro-benchmarks of <goro/chan.hpp> and <goro/select.hpp>, each
// next to the same work on std::threads with a mutex/condition-variable channel
// (benchmarks/compare/thread_chan.hpp): unbuffered ping-pong, SPSC and MPMC buffered
// throughput, a 2-way select receive.
//
//   build/benchmarks/chan_bench [--benchmark_filter=...]
#include <goro/chan.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

#include "compare/thread_chan.hpp"

namespace {

goro::options workers(const benchmark::State& state) {
  goro::options o;
  o.workers = static_cast<unsigned>(state.range(0));
  return o;
}

constexpr long ping_pongs = 100'000;

void goro_ping_pong(benchmark::State& state) {
  goro::run(
      [&] {
        for (auto _ : state) {
          goro::chan<long> ping, pong;
          goro::go([=] {
            for (long i = 0; i < ping_pongs; ++i) pong.send(*ping.recv());
          });
          for (long i = 0; i < ping_pongs; ++i) {
            ping.send(i);
            benchmark::DoNotOptimize(pong.recv());
          }
        }
      },
      workers(state));
  state.SetItemsProcessed(state.iterations() * ping_pongs);  // round trips
}
BENCHMARK(goro_ping_pong)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void thread_ping_pong(benchmark::State& state) {
  for (auto _ : state) {
    compare::thread_chan<long> ping, pong;
    std::thread echo([&] {
      for (long i = 0; i < ping_pongs / 10; ++i) pong.send(*ping.recv());
    });
    for (long i = 0; i < ping_pongs / 10; ++i) {
      ping.send(i);
      benchmark::DoNotOptimize(pong.recv());
    }
    echo.join();
  }
  state.SetItemsProcessed(state.iterations() * ping_pongs / 10);
}
BENCHMARK(thread_ping_pong)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr long spsc_items = 1'000'000;

void goro_spsc(benchmark::State& state) {
  goro::run(
      [&] {
        for (auto _ : state) {
          goro::chan<long> q(1024);
          goro::go([=] {
            for (long i = 0; i < spsc_items; ++i) q.send(i);
            q.close();
          });
          long sum = 0;
          for (long v : q) sum += v;
          benchmark::DoNotOptimize(sum);
        }
      },
      workers(state));
  state.SetItemsProcessed(state.iterations() * spsc_items);
}
BENCHMARK(goro_spsc)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void thread_spsc(benchmark::State& state) {
  for (auto _ : state) {
    compare::thread_chan<long> q(1024);
    std::thread producer([&] {
      for (long i = 0; i < spsc_items; ++i) q.send(i);
      q.close();
    });
    long sum = 0;
    while (auto v = q.recv()) sum += *v;
    benchmark::DoNotOptimize(sum);
    producer.join();
  }
  state.SetItemsProcessed(state.iterations() * spsc_items);
}
BENCHMARK(thread_spsc)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr long mpmc_items = 400'000;

void goro_mpmc(benchmark::State& state) {
  goro::run(
      [&] {
        for (auto _ : state) {
          goro::chan<long> q(128);
          goro::wait_group producers, consumers;
          std::atomic<long> sum{0};
          for (int p = 0; p < 4; ++p) {
            producers.add(1);
            goro::go([&] {
              for (long i = 0; i < mpmc_items / 4; ++i) q.send(1);
              producers.done();
            });
          }
          for (int c = 0; c < 4; ++c) {
            consumers.add(1);
            goro::go([&] {
              long local = 0;
              for (long v : q) local += v;
              sum.fetch_add(local);
              consumers.done();
            });
          }
          producers.wait();
          q.close();
          consumers.wait();
          if (sum.load() != mpmc_items) state.SkipWithError("lost values");
        }
      },
      workers(state));
  state.SetItemsProcessed(state.iterations() * mpmc_items);
}
BENCHMARK(goro_mpmc)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void thread_mpmc(benchmark::State& state) {
  for (auto _ : state) {
    compare::thread_chan<long> q(128);
    std::atomic<long> sum{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < 4; ++p) {
      threads.emplace_back([&] {
        for (long i = 0; i < mpmc_items / 4; ++i) q.send(1);
      });
    }
    std::vector<std::thread> consumers;
    for (int c = 0; c < 4; ++c) {
      consumers.emplace_back([&] {
        long local = 0;
        while (auto v = q.recv()) local += *v;
        sum.fetch_add(local);
      });
    }
    for (auto& t : threads) t.join();
    q.close();
    for (auto& t : consumers) t.join();
  }
  state.SetItemsProcessed(state.iterations() * mpmc_items);
}
BENCHMARK(thread_mpmc)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr long select_messages = 400'000;

void goro_select2(benchmark::State& state) {
  goro::run(
      [&] {
        for (auto _ : state) {
          goro::chan<long> a, b;
          goro::go([=] {
            for (long i = 0; i < select_messages / 2; ++i) a.send(1);
          });
          goro::go([=] {
            for (long i = 0; i < select_messages / 2; ++i) b.send(1);
          });
          long sum = 0;
          auto add = [&](std::optional<long> v) { sum += *v; };
          for (long i = 0; i < select_messages; ++i) {
            goro::select(goro::on_recv(a, add), goro::on_recv(b, add));
          }
          if (sum != select_messages) state.SkipWithError("lost values");
        }
      },
      workers(state));
  state.SetItemsProcessed(state.iterations() * select_messages);
}
BENCHMARK(goro_select2)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void thread_select2(benchmark::State& state) {
  for (auto _ : state) {
    compare::thread_chan<long> a, b;
    std::thread pa([&] {
      for (long i = 0; i < select_messages / 20; ++i) a.send(1);
    });
    std::thread pb([&] {
      for (long i = 0; i < select_messages / 20; ++i) b.send(1);
    });
    compare::thread_chan<long>* both[] = {&a, &b};
    long sum = 0;
    for (long i = 0; i < select_messages / 10; ++i) {
      std::optional<long> value;
      compare::select_recv(std::span<compare::thread_chan<long>* const>(both), value);
      sum += value.value_or(0);
    }
    pa.join();
    pb.join();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * select_messages / 10);
}
BENCHMARK(thread_select2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
