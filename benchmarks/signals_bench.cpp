// Micro-benchmarks of <goro/signals.hpp> (docs/benchmarks.md, "Micro-benchmarks"):
//   signal_round_trip   a goroutine sends SIGUSR1 to its own process and receives it on a
//                       notified channel: the handler, the relay thread's wake-up and try_send,
//                       and the goroutine's wake-up; next to the kernel's own floor, a signal
//                       raised while blocked and taken by sigwait (no handler, no other thread)
//   signal_notify_stop  notify and stop of one channel for one signal: two sigaction calls,
//                       the watcher list, and stop's wait for handlers in flight
// Go's os/signal on the same loops: benchmarks/peers/go-signal.
#include <goro/runtime.hpp>
#include <goro/signals.hpp>

#include <signal.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

namespace {

void goro_signal_round_trip(benchmark::State& state) {
  goro::run(
      [&] {
        goro::chan<int> c(1);
        goro::signals::notify(c, SIGUSR1);
        for (auto _ : state) {
          ::kill(::getpid(), SIGUSR1);
          benchmark::DoNotOptimize(c.recv());
        }
        goro::signals::stop(c);
      },
      goro::options{.workers = 2});
}
BENCHMARK(goro_signal_round_trip)->UseRealTime();

void std_raise_sigwait(benchmark::State& state) {
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &usr2, &old);
  for (auto _ : state) {
    ::raise(SIGUSR2);
    int number = 0;
    sigwait(&usr2, &number);
    benchmark::DoNotOptimize(number);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}
BENCHMARK(std_raise_sigwait)->UseRealTime();

void goro_signal_notify_stop(benchmark::State& state) {
  goro::chan<int> c(1);
  for (auto _ : state) {
    goro::signals::notify(c, SIGUSR1);
    goro::signals::stop(c);
  }
}
BENCHMARK(goro_signal_notify_stop);

}  // namespace

BENCHMARK_MAIN();
