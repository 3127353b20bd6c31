// Tests of <goro/runtime.hpp>: run, go, yield, the worker pool, blocking(), shutdown, misuse.
#include <goro/debug.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

namespace {

goro::options with_workers(unsigned n) {
  goro::options o;
  o.workers = n;
  return o;
}

// Busy work that the compiler cannot remove.
void spin_for(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

TEST_CASE("run returns the main function's result", "[runtime]") {
  CHECK(goro::run([] { return 42; }) == 42);
  CHECK(goro::run([] { return std::string("hello"); }) == "hello");
  int target = 0;
  int& ref = goro::run([&]() -> int& { return target; });
  CHECK(&ref == &target);
  bool ran = false;
  goro::run([&] { ran = true; });
  CHECK(ran);
}

TEST_CASE("run rethrows an exception that escapes main", "[runtime]") {
  CHECK_THROWS_WITH(goro::run([]() -> int { throw std::runtime_error("boom in main"); }),
                    "boom in main");
  // The runtime is usable again afterwards.
  CHECK(goro::run([] { return 7; }) == 7);
}

TEST_CASE("main runs as goroutine 1 and plain threads are not goroutines", "[runtime]") {
  CHECK_FALSE(goro::in_goroutine());
  CHECK(goro::goroutine_id() == 0);
  goro::run([] {
    CHECK(goro::in_goroutine());
    CHECK(goro::goroutine_id() == 1);
    std::uint64_t child = 0;
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      child = goro::goroutine_id();
      wg.done();
    });
    wg.wait();
    CHECK(child > 1);
  });
}

TEST_CASE("spawning a million goroutines runs each exactly once", "[runtime][stress]") {
  const unsigned workers = GENERATE(1u, 2u, 4u, 8u);
  // Under ThreadSanitizer a goroutine's fiber costs about 2 ms on a virtual machine.
  const long n = scaled(1'000'000, 200);
  std::vector<std::atomic<std::uint8_t>> ran(static_cast<std::size_t>(n));
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(n);
        for (long i = 0; i < n; ++i) {
          goro::go(
              [&ran, &wg](long k) {
                ran[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed);
                wg.done();
              },
              i);
        }
        wg.wait();
      },
      with_workers(workers));
  long wrong = 0;
  for (auto& r : ran) wrong += r.load() != 1;
  CHECK(wrong == 0);
}

TEST_CASE("go decay-copies its arguments and invokes with rvalues", "[runtime]") {
  goro::run([] {
    goro::wait_group wg;
    std::string text = "copied";
    std::unique_ptr<int> owned = std::make_unique<int>(5);
    std::string seen_text;
    int seen_value = 0;
    wg.add(1);
    goro::go(
        [&](std::string s, std::unique_ptr<int> p) {
          seen_text = std::move(s);
          seen_value = *p;
          wg.done();
        },
        text, std::move(owned));
    text = "changed after go";
    wg.wait();
    CHECK(seen_text == "copied");
    CHECK(seen_value == 5);
  });
}

// closure_probe: a closure of `Size` bytes aligned to `Align`, which counts its live copies and
// records whether the copy that ran was aligned as its type requires.
template <std::size_t Size, std::size_t Align>
struct alignas(Align) closure_probe {
  static inline std::atomic<int> live{0};
  static inline std::atomic<int> runs{0};
  static inline std::atomic<bool> misaligned{false};
  unsigned char padding[Size - sizeof(void*)] = {};
  goro::wait_group* wg;

  explicit closure_probe(goro::wait_group* w) : wg(w) { ++live; }
  closure_probe(const closure_probe& other) : wg(other.wg) { ++live; }
  ~closure_probe() { --live; }
  void operator()() const {
    if (reinterpret_cast<std::uintptr_t>(this) % Align != 0) misaligned = true;
    ++runs;
    wg->done();
  }
};

template <class Probe>
void check_closure_runs_once() {
  goro::run([] {
    goro::wait_group wg;
    wg.add(100);
    for (int i = 0; i < 100; ++i) goro::go(Probe(&wg));
    wg.wait();
  });
  CHECK(Probe::runs == 100);
  CHECK_FALSE(Probe::misaligned);
  CHECK(Probe::live == 0);  // every copy destroyed, the stored one included
}

TEST_CASE("closures of any size and alignment run once aligned and are destroyed", "[runtime]") {
  check_closure_runs_once<closure_probe<16, 8>>();   // stored in the goroutine record
  check_closure_runs_once<closure_probe<64, 8>>();   // exactly the inline size
  check_closure_runs_once<closure_probe<72, 8>>();   // too large: on the heap
  check_closure_runs_once<closure_probe<16, 16>>();  // over-aligned for the record: on the heap
  check_closure_runs_once<closure_probe<64, 64>>();
}

TEST_CASE("goroutines run on every worker thread", "[runtime]") {
  const unsigned workers = GENERATE(2u, 4u);
  std::mutex m;
  std::set<std::thread::id> threads;
  goro::run(
      [&] {
        CHECK(goro::num_workers() == workers);
        goro::wait_group wg;
        for (int i = 0; i < 64; ++i) {
          wg.add(1);
          goro::go([&] {
            spin_for(2ms);
            {
              std::lock_guard lock(m);
              threads.insert(std::this_thread::get_id());
            }
            wg.done();
          });
        }
        wg.wait();
      },
      with_workers(workers));
  CHECK(threads.size() == workers);
}

TEST_CASE("idle workers steal from a worker that spawns everything", "[runtime]") {
  const auto steals_before = goro::runtime_stats().steals;
  std::atomic<int> elsewhere{0};
  goro::run(
      [&] {
        const auto spawner = std::this_thread::get_id();
        goro::wait_group wg;
        for (int i = 0; i < 200; ++i) {
          wg.add(1);
          goro::go([&] {
            spin_for(200us);
            if (std::this_thread::get_id() != spawner) elsewhere.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
      },
      with_workers(2));
  CHECK(elsewhere.load() > 0);
  CHECK(goro::runtime_stats().steals > steals_before);
}

TEST_CASE("a goroutine readied by one that never blocks is taken by another worker", "[runtime]") {
  // The receiver is readied into the sender's `next` slot, and the sender then spins without
  // blocking or yielding until the receiver has run: only the other worker taking `next` from a
  // stuck owner (local_run_queue::steal_next) lets it run. Repeated, because each round the
  // sender may be on either worker.
  const int rounds = goro_test::chaos_scheduling() ? 5 : 50;
  int completed = 0;
  goro::run(
      [&] {
        for (int r = 0; r < rounds; ++r) {
          goro::chan<int> ch;
          std::atomic<bool> received{false};
          goro::wait_group done;
          done.add(1);
          goro::go([&] {
            (void)ch.recv();
            received.store(true);
            done.done();
          });
          goro::sleep_for(1ms);  // the receiver runs and parks
          ch.send(r);
          const auto give_up = std::chrono::steady_clock::now() + 20s;
          while (!received.load() && std::chrono::steady_clock::now() < give_up) {
          }
          if (received.load()) ++completed;
          done.wait();
        }
      },
      with_workers(2));
  CHECK(completed == rounds);
}

TEST_CASE("goroutines queued behind one that never blocks are taken by another worker",
          "[runtime]") {
  // Two go() calls in a row: the second takes the spawner's `next` slot and puts the first in
  // its ring, where it is a lone goroutine — which thieves leave to an owner that keeps
  // scheduling. This owner spins without blocking until both have run: the other worker must
  // decide the owner is stuck and take both, the ring's first, then `next`.
  const int rounds = goro_test::chaos_scheduling() ? 5 : 50;
  int completed = 0;
  goro::run(
      [&] {
        for (int r = 0; r < rounds; ++r) {
          std::atomic<int> ran{0};
          goro::wait_group done;
          done.add(2);
          for (int i = 0; i < 2; ++i) {
            goro::go([&] {
              ran.fetch_add(1);
              done.done();
            });
          }
          const auto give_up = std::chrono::steady_clock::now() + 20s;
          while (ran.load() < 2 && std::chrono::steady_clock::now() < give_up) {
          }
          const bool in_time = ran.load() == 2;
          done.wait();
          if (!in_time) break;  // starved for 20 s: do not wait out every round
          ++completed;
        }
      },
      with_workers(2));
  CHECK(completed == rounds);
}

TEST_CASE("a loop of go() that overflows the run queue lets the started goroutines run",
          "[runtime]") {
  // One worker and no blocking call in the loop: only the spawner's stepping back (make_way,
  // once its queue of 256 overflows) lets any of them run before the loop ends. They all run.
  constexpr int count = 10'000;
  int ran_during_loop = 0;
  int ran = 0;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(count);
        for (int i = 0; i < count; ++i) {
          goro::go([&] {
            ++ran;
            wg.done();
          });
        }
        ran_during_loop = ran;
        wg.wait();
      },
      with_workers(1));
  CHECK(ran == count);
  CHECK(ran_during_loop > 0);
  if (goro_test::chaos_scheduling()) return;  // chaos also lets the spawner run early
  CHECK(ran_during_loop > count / 4);         // the local half of each overflow, at least
}

TEST_CASE("yield alternates two goroutines on one worker", "[runtime]") {
  std::vector<char> order;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(2);
        for (char name : {'a', 'b'}) {
          goro::go([&, name] {
            for (int i = 0; i < 5; ++i) {
              order.push_back(name);
              goro::yield();
            }
            wg.done();
          });
        }
        wg.wait();
      },
      with_workers(1));
  REQUIRE(order.size() == 10);
  if (goro_test::chaos_scheduling()) return;  // chaos reorders yields on purpose
  for (std::size_t i = 1; i < order.size(); ++i) CHECK(order[i] != order[i - 1]);
}

TEST_CASE("yield on a plain thread returns", "[runtime]") {
  goro::yield();
  SUCCEED();
}

TEST_CASE("a goroutine that parks inside a catch block keeps its exception on another worker",
          "[runtime]") {
  const long n = scaled(200, 4);
  std::atomic<long> rethrown{0};
  std::atomic<long> moved{0};
  std::atomic<long> wrong_state{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        for (long i = 0; i < n; ++i) {
          wg.add(1);
          goro::go([&, i] {
            try {
              throw std::runtime_error("error " + std::to_string(i));
            } catch (const std::runtime_error&) {
              const pid_t before = goro_test::os_thread_id();
              for (int k = 0; k < 50 && goro_test::os_thread_id() == before; ++k) {
                goro::sleep_for(100us);
                goro::yield();
              }
              if (goro_test::os_thread_id() != before) moved.fetch_add(1);
              if (std::uncaught_exceptions() != 0) wrong_state.fetch_add(1);
              try {
                throw;  // rethrows this goroutine's exception, wherever it runs now
              } catch (const std::runtime_error& again) {
                if (std::string(again.what()) == "error " + std::to_string(i)) {
                  rethrown.fetch_add(1);
                }
              }
            }
            wg.done();
          });
        }
        wg.wait();
      },
      with_workers(4));
  CHECK(rethrown.load() == n);
  CHECK(moved.load() > 0);
  CHECK(wrong_state.load() == 0);
}

TEST_CASE("an exception escaping a goroutine prints its id and what() and terminates",
          "[runtime]") {
  auto result = goro_test::run_in_child([] {
    goro::run([] {
      goro::go([] {
        std::fprintf(stderr, "id=%llu\n", static_cast<unsigned long long>(goro::goroutine_id()));
        throw std::runtime_error("escaped!");
      });
      goro::sleep_for(10s);
    });
    return 0;
  });
  CHECK(result.signaled);
  CHECK(result.signal == SIGABRT);
  const std::string id = result.err.substr(3, result.err.find('\n') - 3);
  CHECK_THAT(result.err,
             Catch::Contains("goro: unhandled exception in goroutine " + id + ": escaped!"));
}

TEST_CASE("an escaping exception not derived from std::exception is reported as unknown",
          "[runtime]") {
  auto result = goro_test::run_in_child([] {
    goro::run([] {
      goro::go([] {
        std::fprintf(stderr, "id=%llu\n", static_cast<unsigned long long>(goro::goroutine_id()));
        throw 17;
      });
      goro::sleep_for(10s);
    });
    return 0;
  });
  CHECK(result.signaled);
  const std::string id = result.err.substr(3, result.err.find('\n') - 3);
  CHECK_THAT(result.err, Catch::Contains("goro: unhandled exception in goroutine " + id +
                                         ": unknown exception"));
}

TEST_CASE("go outside run throws goro::error", "[runtime][misuse]") {
  CHECK_THROWS_AS(goro::go([] {}), goro::error);
  CHECK_THROWS_WITH(goro::go([] {}), Catch::Contains("no goro::run is active"));
}

TEST_CASE("a nested run throws goro::error and the outer run goes on", "[runtime][misuse]") {
  int result = goro::run([] {
    CHECK_THROWS_AS(goro::run([] {}), goro::error);
    CHECK_THROWS_WITH(goro::run([] {}), Catch::Contains("cannot be nested"));
    return 3;
  });
  CHECK(result == 3);
}

TEST_CASE("a concurrent run from another thread throws goro::error", "[runtime][misuse]") {
  goro::run([] {
    std::string message;
    std::thread other([&] {
      try {
        goro::run([] {});
      } catch (const goro::error& e) {
        message = e.what();
      }
    });
    goro::blocking([&] { other.join(); });
    CHECK_THAT(message, Catch::Contains("another goro::run is active"));
  });
}

TEST_CASE("a stack size below the minimum is rejected", "[runtime][misuse]") {
  goro::options o;
  o.stack_size = 1024;
  CHECK_THROWS_AS(goro::run([] {}, o), goro::error);
  CHECK_THROWS_WITH(goro::run([] {}, o), Catch::Contains("stack_size"));
}

TEST_CASE("a plain thread can start goroutines and wait for them while a run is active",
          "[runtime]") {
  // Catch2's assertions are not thread-safe: goroutines and threads record, main checks.
  std::atomic<int> done{0};
  std::atomic<int> in_goroutine{0};
  bool thread_was_goroutine = true;
  goro::run(
      [&] {
        std::thread plain([&] {
          thread_was_goroutine = goro::in_goroutine();
          goro::wait_group wg;
          for (int i = 0; i < 100; ++i) {
            wg.add(1);
            goro::go([&] {
              if (goro::in_goroutine()) in_goroutine.fetch_add(1);
              goro::yield();
              done.fetch_add(1);
              wg.done();
            });
          }
          wg.wait();
        });
        goro::blocking([&] { plain.join(); });
      },
      with_workers(2));
  CHECK_FALSE(thread_was_goroutine);
  CHECK(in_goroutine.load() == 100);
  CHECK(done.load() == 100);
}

TEST_CASE("returning from main unwinds goroutines blocked anywhere", "[runtime][shutdown]") {
  struct counted {
    std::atomic<long>* destroyed;
    ~counted() { destroyed->fetch_add(1); }
  };
  const long n = scaled(100'000);
  std::atomic<long> destroyed{0};
  std::atomic<long> started{0};
  // What blocked goroutines wait on must outlive main's body: main's locals are destroyed when it
  // returns, before the goroutines blocked on them are unwound.
  goro::wait_group never;  // nobody ever calls done()
  never.add(1);
  goro::run(
      [&] {
        for (long i = 0; i < n; ++i) {
          goro::go([&] {
            counted guard{&destroyed};
            started.fetch_add(1);
            if (started.load() % 2 == 0) {
              never.wait();
            } else {
              goro::sleep_for(1h);
            }
          });
        }
        while (started.load() < n) goro::sleep_for(1ms);
        CHECK(goro::num_goroutines() == static_cast<std::size_t>(n) + 1);
      },
      with_workers(2));
  CHECK(destroyed.load() == n);
}

TEST_CASE("goroutines still runnable at shutdown are stopped at their next yield",
          "[runtime][shutdown]") {
  std::atomic<int> unwound{0};
  goro::run(
      [&] {
        for (int i = 0; i < 10; ++i) {
          goro::go([&] {
            struct on_exit {
              std::atomic<int>* n;
              ~on_exit() { n->fetch_add(1); }
            } guard{&unwound};
            for (;;) goro::yield();
          });
        }
        goro::yield();
      },
      with_workers(2));
  CHECK(unwound.load() == 10);
}

TEST_CASE("blocking runs a call on a helper while the worker runs other goroutines",
          "[runtime][blocking]") {
  goro::run(
      [] {
        std::atomic<bool> call_done{false};
        std::atomic<int> progress{0};
        goro::wait_group wg;
        wg.add(1);
        goro::go([&] {
          while (!call_done.load()) {
            progress.fetch_add(1);
            goro::yield();
          }
          wg.done();
        });
        const auto worker_thread = std::this_thread::get_id();
        std::thread::id helper_thread;
        int value = goro::blocking([&] {
          helper_thread = std::this_thread::get_id();
          std::this_thread::sleep_for(50ms);  // blocks the helper thread, not the worker
          return 99;
        });
        call_done.store(true);
        CHECK(value == 99);
        CHECK(helper_thread != worker_thread);
        CHECK(progress.load() > 10);  // the only worker kept running the other goroutine
        wg.wait();
      },
      with_workers(1));
}

TEST_CASE("blocking rethrows the call's exception and passes references through",
          "[runtime][blocking]") {
  goro::run([] {
    CHECK_THROWS_WITH(goro::blocking([]() -> int { throw std::logic_error("io failed"); }),
                      "io failed");
    int target = 1;
    int& ref = goro::blocking([&]() -> int& { return target; });
    CHECK(&ref == &target);
    goro::blocking([] {});
  });
  // On a plain thread the call simply runs.
  CHECK(goro::blocking([] { return 5; }) == 5);
}

TEST_CASE("many concurrent blocking calls all complete", "[runtime][blocking]") {
  std::atomic<int> completed{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        for (int i = 0; i < 32; ++i) {
          wg.add(1);
          goro::go([&] {
            goro::blocking([] { std::this_thread::sleep_for(5ms); });
            completed.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
      },
      with_workers(2));
  CHECK(completed.load() == 32);
}

TEST_CASE("num_goroutines counts live goroutines, main included", "[runtime]") {
  CHECK(goro::num_goroutines() == 0);
  goro::run([] {
    CHECK(goro::num_goroutines() == 1);
    goro::wait_group started, release;
    release.add(1);
    for (int i = 0; i < 10; ++i) {
      started.add(1);
      goro::go([&] {
        started.done();
        release.wait();
      });
    }
    started.wait();
    CHECK(goro::num_goroutines() == 11);
    release.done();
    while (goro::num_goroutines() != 1) goro::yield();
  });
}

TEST_CASE("num_workers follows options, then GORO_MAXPROCS, then the hardware", "[runtime]") {
  CHECK(goro::run([] { return goro::num_workers(); }, with_workers(3)) == 3u);
  setenv("GORO_MAXPROCS", "5", 1);
  CHECK(goro::run([] { return goro::num_workers(); }) == 5u);
  CHECK(goro::num_workers() == 5u);
  setenv("GORO_MAXPROCS", "not a number", 1);
  CHECK(goro::run([] { return goro::num_workers(); }) ==
        std::max(1u, std::thread::hardware_concurrency()));
  unsetenv("GORO_MAXPROCS");
}

namespace {
[[gnu::noinline]] long recurse(int depth) {
  volatile char frame[512];
  frame[0] = 1;
  if (depth == 0) return frame[0];
  return recurse(depth - 1) + frame[0];
}
}  // namespace

TEST_CASE("options.stack_size gives goroutines that much stack", "[runtime][stack]") {
  goro::options o;
  o.stack_size = 4 * 1024 * 1024;
  goro::run(
      [] {
        goro::wait_group wg;
        wg.add(1);
        long result = 0;
        goro::go([&] {
          result = recurse(4000);  // about 2.5 MiB of frames
          wg.done();
        });
        wg.wait();
        CHECK(result == 4001);
      },
      o);
}

namespace {
volatile int overflow_limit = 1 << 30;  // never reached: the stack ends first

[[gnu::noinline]] int overflow(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (depth > overflow_limit) return 0;
  return overflow(depth + 1) + frame[0];
}
}  // namespace

TEST_CASE("a guarded stack overflow prints the contract's message and aborts", "[runtime][stack]") {
  if (goro::detail::sanitized_build) return;  // the sanitizers report overflows their own way
  // automatic guards the first stacks whatever the kernel: with guard markers, or with mappings
  // while they fit in vm.max_map_count.
  const auto mode = GENERATE(goro::stack_guard::always, goro::stack_guard::automatic);
  auto result = goro_test::run_in_child([mode] {
    goro::options o;
    o.stack_size = 64 * 1024;
    o.guard = mode;
    goro::run(
        [] {
          goro::wait_group wg;
          wg.add(1);
          goro::go([&] {
            std::fprintf(stderr, "id=%llu\n",
                         static_cast<unsigned long long>(goro::goroutine_id()));
            overflow(0);
            // Caught at the faulting access, not at a later switch: none comes.
            std::_Exit(3);
          });
          wg.wait();
        },
        o);
    return 0;
  });
  CHECK(result.signaled);
  CHECK(result.signal == SIGABRT);
  const std::string id = result.err.substr(3, result.err.find('\n') - 3);
  CHECK_THAT(result.err,
             Catch::Contains("goro: goroutine " + id + " overflowed its 65536-byte stack"));
}

TEST_CASE("an overflow of main's stack is reported too", "[runtime][stack]") {
  if (goro::detail::sanitized_build) return;
  auto result = goro_test::run_in_child([] {
    goro::options o;
    o.stack_size = 32 * 1024;
    o.guard = goro::stack_guard::always;
    goro::run([] { overflow(0); }, o);
    return 0;
  });
  CHECK(result.signaled);
  CHECK_THAT(result.err, Catch::Contains("goro: goroutine 1 overflowed its 32768-byte stack"));
}

TEST_CASE("an unguarded stack overflow is caught by its canary at the next switch",
          "[runtime][stack]") {
  if (goro::detail::sanitized_build) return;
  auto result = goro_test::run_in_child([] {
    goro::options o;
    o.stack_size = 64 * 1024;
    o.guard = goro::stack_guard::never;
    goro::run(
        [] {
          goro::wait_group wg;
          wg.add(1);
          goro::go([&] {
            // A frame as large as the whole stack runs through the canary below it, a little
            // way into the memory below (a canary cannot promise more: an overflow that reaches
            // unmapped memory first ends in a plain SIGSEGV).
            volatile char big[64 * 1024];
            for (std::size_t i = 0; i < sizeof big; ++i) big[i] = 1;
            goro::yield();
            wg.done();
          });
          wg.wait();
        },
        o);
    return 0;
  });
  INFO("signal " << result.signal << ", exit code " << result.exit_code);
  CHECK(result.signaled);
  CHECK_THAT(result.err, Catch::Contains("overflowed its 65536-byte stack"));
}

TEST_CASE("stack_guard::always refuses a goroutine when the kernel's mappings run out",
          "[runtime][stack]") {
  if (goro::detail::sanitized_build) return;
  auto result = goro_test::run_in_child([] {
    goro::options o;
    o.stack_size = 16 * 1024;
    o.guard = goro::stack_guard::always;
    int code = 1;
    // Outside the run: the last goroutines spawned may not have started when main returns, and
    // they still call release.wait() (returning at once) before the shutdown stops them.
    goro::wait_group release;
    release.add(1);
    goro::run(
        [&] {
          try {
            for (int i = 0; i < 70000; ++i) goro::go([&] { release.wait(); });
          } catch (const goro::error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            code = 0;
          }
          release.done();
        },
        o);
    return code;
  });
  INFO("signal " << result.signal << ", stderr: " << result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.err, Catch::Contains("vm.max_map_count"));
}

TEST_CASE("a million parked goroutines fit with the default options", "[runtime][stack][stress]") {
  const long n = scaled(1'000'000, 500);
  goro::run([&] {
    goro::wait_group parked, release;
    release.add(1);
    parked.add(n);
    for (long i = 0; i < n; ++i) {
      goro::go([&] {
        parked.done();
        release.wait();
      });
    }
    parked.wait();
    CHECK(goro::num_goroutines() == static_cast<std::size_t>(n) + 1);
    release.done();
  });
}
