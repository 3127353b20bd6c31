// Tests of <goro/runtime.hpp>: run, go, yield, the worker pool, blocking(), shutdown, misuse.
#include <goro/chan.hpp>
#include <goro/debug.hpp>
#include <goro/detail/blocking_pool.hpp>
#include <goro/detail/stack.hpp>
#include <goro/goro.hpp>
#include <goro/net.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <alloca.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "audit_types.hpp"
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

namespace {
struct main_failed {  // not derived from std::exception
  int code;
};
}  // namespace

TEST_CASE("run rethrows main's exception object itself, whatever its type", "[runtime]") {
  CHECK_THROWS_AS(goro::run([] { throw main_failed{42}; }), main_failed);
  try {
    goro::run([]() -> int { throw main_failed{7}; });
    FAIL("run returned");
  } catch (const main_failed& e) {
    CHECK(e.code == 7);
  }
  CHECK_THROWS_AS(goro::run([] { throw std::out_of_range("range"); }), std::out_of_range);
}

TEST_CASE("run returns a move-only result", "[runtime]") {
  auto result = goro::run([] { return std::make_unique<int>(3); });
  REQUIRE(result != nullptr);
  CHECK(*result == 3);
}

TEST_CASE("throwing out of main unwinds the other goroutines, then run rethrows",
          "[runtime][shutdown]") {
  struct counted {
    std::atomic<int>* destroyed;
    ~counted() { destroyed->fetch_add(1); }
  };
  std::atomic<int> destroyed{0};
  std::atomic<int> started{0};
  goro::wait_group never;  // outlives main's body; nobody calls done()
  never.add(1);
  goro::chan<int> nobody_sends;
  CHECK_THROWS_AS(goro::run(
                      [&] {
                        for (int i = 0; i < 100; ++i) {
                          goro::go([&, i] {
                            counted guard{&destroyed};
                            started.fetch_add(1);
                            if (i % 2 == 0) {
                              never.wait();
                            } else {
                              (void)nobody_sends.recv();
                            }
                          });
                        }
                        while (started.load() < 100) goro::sleep_for(1ms);
                        throw main_failed{1};
                      },
                      with_workers(2)),
                  main_failed);
  CHECK(destroyed.load() == 100);
  CHECK(goro::run([] { return 5; }) == 5);  // and the runtime is usable again
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

TEST_CASE("goroutine ids are distinct, stable across switches, and 0 on a plain thread",
          "[runtime]") {
  const int n = 1000;
  std::mutex guard;  // guards ids and changed
  std::set<std::uint64_t> ids;
  int changed = 0;
  std::uint64_t plain_id = 99;
  bool plain_in_goroutine = true;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(n);
        for (int i = 0; i < n; ++i) {
          goro::go([&] {
            const std::uint64_t id = goro::goroutine_id();
            for (int k = 0; k < 5; ++k) {  // switches that may move it to another worker
              goro::yield();
              goro::sleep_for(std::chrono::microseconds(50));
            }
            const bool same = goro::goroutine_id() == id;
            {
              // Released before done(): a goroutine may switch in done() (under GORO_CHAOS),
              // and one that switched holding a std::mutex would stall every worker.
              std::lock_guard held(guard);
              if (!same) ++changed;
              ids.insert(id);
            }
            wg.done();
          });
        }
        wg.wait();
        std::thread plain([&] {
          plain_id = goro::goroutine_id();
          plain_in_goroutine = goro::in_goroutine();
        });
        goro::blocking([&] { plain.join(); });
      },
      with_workers(4));
  CHECK(changed == 0);
  CHECK(ids.size() == static_cast<std::size_t>(n));
  CHECK(ids.count(0) == 0);
  CHECK(ids.count(1) == 0);  // main's
  CHECK(plain_id == 0);
  CHECK_FALSE(plain_in_goroutine);
}

TEST_CASE("spawning a million goroutines runs each exactly once", "[runtime][stress]") {
  const unsigned workers = GENERATE(1u, 2u, 4u, 8u);
  // Under ThreadSanitizer a goroutine's fiber has cost 2-6 ms on a virtual machine.
  const long n = scaled(1'000'000, 1000);
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
  // Under ThreadSanitizer a goroutine's fiber has cost 2-6 ms on a virtual machine.
  constexpr int count = goro::detail::sanitized_build ? 2'000 : 10'000;
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

// The other half of the exception state: a destructor that parks while an exception unwinds
// the stack resumes still unwinding, on whichever worker (std::uncaught_exceptions() stays 1, so
// that the destructor's later waits, and code that asks, know it).
TEST_CASE("a goroutine that parks in a destructor during unwinding resumes still unwinding",
          "[runtime]") {
  const long n = scaled(50, 4);
  std::atomic<long> wrong_before{0};
  std::atomic<long> wrong_after{0};
  std::atomic<long> caught{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        goro::chan<int> go_on;
        struct parks_on_exit {
          goro::chan<int> go_on;
          std::atomic<long>& wrong_before;
          std::atomic<long>& wrong_after;
          ~parks_on_exit() {
            if (std::uncaught_exceptions() != 1) wrong_before.fetch_add(1);
            go_on.recv();  // parks mid-unwinding
            goro::yield();
            if (std::uncaught_exceptions() != 1) wrong_after.fetch_add(1);
          }
        };
        for (long i = 0; i < n; ++i) {
          wg.add(1);
          goro::go([&] {
            try {
              parks_on_exit guard{go_on, wrong_before, wrong_after};
              throw std::runtime_error("unwinding");
            } catch (const std::runtime_error&) {
              caught.fetch_add(1);
            }
            wg.done();
          });
        }
        for (long i = 0; i < n; ++i) go_on.send(static_cast<int>(i));
        wg.wait();
      },
      with_workers(2));
  CHECK(caught.load() == n);
  CHECK(wrong_before.load() == 0);
  CHECK(wrong_after.load() == 0);
}

// API 1.2: the report comes first, then std::terminate(): with the default handler the process
// aborts; a terminate handler of the program's own runs after the report (std::abort() alone
// would skip it).
TEST_CASE("an exception escaping a goroutine prints its id and what() and terminates",
          "[runtime]") {
  const bool own_handler = GENERATE(false, true);
  INFO((own_handler ? "the program's own terminate handler" : "the default terminate handler"));
  constexpr int handler_ran = 7;
  auto result = goro_test::run_in_child([own_handler] {
    if (own_handler) {
      std::set_terminate([] {
        std::fputs("terminate handler\n", stderr);
        std::_Exit(handler_ran);
      });
    }
    goro::run([] {
      goro::go([] {
        std::fprintf(stderr, "id=%llu\n", static_cast<unsigned long long>(goro::goroutine_id()));
        throw std::runtime_error("escaped!");
      });
      goro::sleep_for(10s);
    });
    return 0;
  });
  INFO("the child's stderr: " << result.err);
  const std::string id = result.err.substr(3, result.err.find('\n') - 3);
  const std::string report = "goro: unhandled exception in goroutine " + id + ": escaped!\n";
  if (own_handler) {
    CHECK(result.exited);
    CHECK(result.exit_code == handler_ran);
    CHECK_THAT(result.err, Catch::Contains(report + "terminate handler\n"));
  } else {
    CHECK(result.signaled);
    CHECK(result.signal == SIGABRT);
    CHECK_THAT(result.err, Catch::Contains(report));
  }
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
  CHECK(result.signal == SIGABRT);  // std::terminate
  const std::string id = result.err.substr(3, result.err.find('\n') - 3);
  CHECK_THAT(result.err, Catch::Contains("goro: unhandled exception in goroutine " + id +
                                         ": unknown exception"));
}

// Ports of Go 1.19's runtime crash tests (src/runtime/crash_test.go and testdata/testprog):
// TestPanicDeadlockGosched and TestPanicDeadlockSyscall (Go issue 14432: a panic value whose
// Error method yields, or makes a system call, while the runtime prints it). Here what() yields
// or makes a blocking() call and sleeps while goro prints the report of API 1.2. The deadlock
// tests are in debug_test.cpp; TestGoNil is above. Skipped: the tests of Goexit, LockOSThread,
// SetMaxThreads, recover, breakpoints, tracebacks of frames, maps and pprof (no counterpart).
namespace {
struct yields_in_what : std::exception {
  const char* what() const noexcept override {
    goro::yield();
    return "error that yields";
  }
};

struct blocks_in_what : std::exception {
  explicit blocks_in_what(bool write_one = true) : write_one(write_one) {}
  bool write_one;  // writes "1" to stderr in the blocking() call
  const char* what() const noexcept override {
    goro::blocking([this] { return write_one ? std::fputs("1\n", stderr) : 0; });
    goro::sleep_for(1ms);
    return "3";
  }
};

// escaped_report: what a child process whose goroutine throws `E` writes, and how it ends.
template <class E>
goro_test::child_result escaped_report(unsigned workers) {
  return goro_test::run_in_child([workers] {
    goro::run(
        [] {
          goro::go([] {
            std::fprintf(stderr, "id=%llu\n",
                         static_cast<unsigned long long>(goro::goroutine_id()));
            throw E{};
          });
          goro::sleep_for(10s);
        },
        with_workers(workers));
    return 0;
  });
}
}  // namespace

TEST_CASE("an escaped exception whose what() yields or blocks is reported, then terminates",
          "[runtime][go]") {
  const unsigned workers = GENERATE(1u, 2u);
  SECTION("what() yields (Go's TestPanicDeadlockGosched)") {
    auto result = escaped_report<yields_in_what>(workers);
    CHECK(result.signal == SIGABRT);
    const std::string id = result.err.substr(3, result.err.find('\n') - 3);
    CHECK_THAT(result.err, Catch::Contains("goro: unhandled exception in goroutine " + id +
                                           ": error that yields\n"));
  }
  SECTION("what() makes a blocking() call and sleeps (Go's TestPanicDeadlockSyscall)") {
    auto result = escaped_report<blocks_in_what>(workers);
    CHECK(result.signal == SIGABRT);
    const std::string id = result.err.substr(3, result.err.find('\n') - 3);
    CHECK_THAT(result.err,
               Catch::Contains("1\ngoro: unhandled exception in goroutine " + id + ": 3\n"));
  }
  SECTION("thrown by main, rethrown by run and read outside it") {
    try {
      goro::run([] { throw blocks_in_what(false); }, with_workers(workers));
      FAIL("run returned");
    } catch (const blocks_in_what& e) {
      CHECK(std::string(e.what()) == "3");  // blocking() and sleep_for on a plain thread
    }
    try {
      goro::run([] { throw yields_in_what{}; }, with_workers(workers));
      FAIL("run returned");
    } catch (const yields_in_what& e) {
      CHECK(std::string(e.what()) == "error that yields");
    }
  }
}

TEST_CASE("go outside run throws goro::error", "[runtime][misuse]") {
  CHECK_THROWS_AS(goro::go([] {}), goro::error);
  CHECK_THROWS_WITH(goro::go([] {}), Catch::Contains("no goro::run is active"));
}

// API 1.1: returning from main ends the program's goroutines. A plain thread that keeps starting
// goroutines must not keep the run from ending: once main has returned, go throws there.
TEST_CASE("a plain thread spawning in a loop does not hold up the end of the run",
          "[runtime][shutdown][threads]") {
  std::atomic<long> spawned{0};
  std::string error_text;
  std::thread spawner;
  goro::run([&] {
    spawner = std::thread([&] {
      // Spawns until go throws; the time limit only keeps a broken run from hanging the test.
      const auto give_up = std::chrono::steady_clock::now() + 10s;
      while (std::chrono::steady_clock::now() < give_up) {
        try {
          goro::go([] { goro::yield(); });
        } catch (const goro::error& e) {
          error_text = e.what();
          return;
        }
        spawned.fetch_add(1);
      }
    });
    while (spawned.load() == 0) goro::sleep_for(1ms);
  });
  spawner.join();
  INFO(spawned.load() << " goroutines spawned");
  CHECK_FALSE(error_text.empty());  // stopped by go's error, not by the time limit
}

// Go's TestGoNil: `go nilFunc()` panics at the go statement.
TEST_CASE("go of a null function pointer or an empty std::function throws goro::error",
          "[runtime][misuse]") {
  goro::run([] {
    void (*null_function)() = nullptr;
    CHECK_THROWS_WITH(goro::go(null_function), Catch::Contains("go of nil func value"));
    CHECK_THROWS_AS(goro::go(std::function<void()>()), goro::error);
    CHECK_THROWS_AS(goro::go(std::function<void(int)>(), 1), goro::error);
    int (std::string::*null_member)() const = nullptr;
    CHECK_THROWS_AS(goro::go(null_member, std::string()), goro::error);
    CHECK(goro::num_goroutines() == 1);  // nothing was started
    goro::wait_group done;
    done.add(1);
    goro::go(std::function<void()>([&] { done.done(); }));  // a non-empty one runs
    done.wait();
  });
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

// A worker is a thread and its state, all made when run starts: a count that wrapped around
// (unsigned(-1)) once made the process allocate worker states until the system killed it.
TEST_CASE("a worker count above 4096 is rejected, and the next run starts", "[runtime][misuse]") {
  for (const unsigned too_many : {4097u, 100'000u, std::numeric_limits<unsigned>::max()}) {
    goro::options o;
    o.workers = too_many;
    bool ran = false;
    CHECK_THROWS_MATCHES(goro::run([&] { ran = true; }, o), goro::error,
                         Catch::Message("goro::run: options.workers is " +
                                        std::to_string(too_many) + "; the maximum is 4096"));
    CHECK_FALSE(ran);
  }
  goro::options o;
  o.workers = 3;
  unsigned seen = 0;
  goro::run([&] { seen = goro::num_workers(); }, o);
  CHECK(seen == 3);
}

TEST_CASE("a stack size below the minimum or above the maximum is rejected", "[runtime][misuse]") {
  goro::options o;
  o.stack_size = 1024;
  CHECK_THROWS_AS(goro::run([] {}, o), goro::error);
  CHECK_THROWS_WITH(goro::run([] {}, o),
                    Catch::Contains("stack_size") && Catch::Contains("minimum"));
  // Sizes whose slab would not fit in the address space, up to one whose rounding to whole pages
  // overflows: refused when run starts rather than crashing the process later.
  for (const std::size_t huge : {(std::size_t{1} << 40) + 1, std::size_t{1} << 58,
                                 std::numeric_limits<std::size_t>::max()}) {
    o.stack_size = huge;
    CHECK_THROWS_WITH(goro::run([] {}, o),
                      Catch::Contains("stack_size is " + std::to_string(huge)) &&
                          Catch::Contains("the maximum is 1099511627776"));
  }
  // The maximum itself is allowed: each stack reserves 1 TiB of address space, committed only as
  // it is used. Not tried where the reservation itself is refused: a sanitizer's shadow memory
  // takes much of the address space, and strict overcommit (mode 2) counts reserved pages.
  int overcommit_mode = 0;
  std::ifstream("/proc/sys/vm/overcommit_memory") >> overcommit_mode;
  if (goro::detail::sanitized_build || overcommit_mode == 2) {
    WARN("a 1 TiB stack_size is not tried in this build or with vm.overcommit_memory=2");
    return;
  }
  o.stack_size = std::size_t{1} << 40;
  CHECK(goro::run(
            [] {
              goro::chan<int> answer;
              goro::go([answer] { answer.send(7); });
              return *answer.recv();
            },
            o) == 7);
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

// A goroutine that blocks again while it is unwound, with nothing left to wake it, is abandoned
// (a message says so). Its waiter stays queued on what it waited for; using that object after
// the run must pass over it, not reach into the ended run.
TEST_CASE("objects an abandoned goroutine waited on stay usable after the run",
          "[runtime][shutdown]") {
  static goro::mutex mutex;  // outlive the run, as the goroutines using them must
  static goro::condition_variable condition;
  static const goro::chan<int> handshake;
  goro::run([] {
    goro::wait_group waiting;
    waiting.add(2);
    goro::go([&] {
      std::unique_lock lock(mutex);
      waiting.done();
      condition.wait(lock);  // unwound at the end: relocking waits for main's lock for ever
    });
    goro::go([&] {
      struct receive_on_exit {
        ~receive_on_exit() { handshake.recv(); }  // blocks while being unwound
      } guard;
      waiting.done();
      goro::chan<int>().recv();
    });
    waiting.wait();
    mutex.lock();  // main returns holding the mutex that the condition's waiter needs
  });
  mutex.unlock();
  CHECK(mutex.try_lock());
  mutex.unlock();
  condition.notify_all();
  CHECK_FALSE(handshake.try_send(1));  // no receiver: the abandoned one is passed over
}

// API 1.1: "stopped at its next blocking operation" — a channel, select or sync operation,
// whether or not it has to wait: a goroutine looping on ones that never wait is stopped too.
TEST_CASE("a goroutine whose operations never have to wait is stopped at them",
          "[runtime][shutdown]") {
  enum class loop {
    buffered_channel,
    try_receive,
    mutex,
    semaphore,
    wait_group,
    ready_select,
    try_lock,
    try_lock_shared,
    try_acquire
  };
  const loop kind = GENERATE(loop::buffered_channel, loop::try_receive, loop::mutex,
                             loop::semaphore, loop::wait_group, loop::ready_select, loop::try_lock,
                             loop::try_lock_shared, loop::try_acquire);
  std::atomic<bool> looping{false};
  std::atomic<bool> gave_up{false};
  std::atomic<bool> unwound{false};
  goro::run(
      [&] {
        goro::go([&] {
          struct on_exit {
            std::atomic<bool>& unwound;
            ~on_exit() { unwound.store(true); }
          } guard{unwound};
          goro::chan<int> buffered(1);
          goro::mutex mutex;
          goro::shared_mutex shared_mutex;
          goro::semaphore semaphore(1);
          goro::wait_group none;
          const auto give_up = std::chrono::steady_clock::now() + 10s;  // against a hang only
          while (std::chrono::steady_clock::now() < give_up) {
            looping.store(true);
            switch (kind) {
              case loop::buffered_channel:
                buffered.send(1);
                buffered.recv();
                break;
              case loop::try_receive: static_cast<void>(buffered.try_recv()); break;
              case loop::mutex:
                mutex.lock();
                mutex.unlock();
                break;
              case loop::semaphore:
                semaphore.acquire();
                semaphore.release();
                break;
              case loop::wait_group: none.wait(); break;
              case loop::ready_select:
                buffered.try_send(1);
                goro::select(goro::on_recv(buffered));
                break;
              case loop::try_lock:
                if (mutex.try_lock()) mutex.unlock();
                break;
              case loop::try_lock_shared:
                if (shared_mutex.try_lock_shared()) shared_mutex.unlock_shared();
                break;
              case loop::try_acquire:
                if (semaphore.try_acquire()) semaphore.release();
                break;
            }
          }
          gave_up.store(true);
        });
        while (!looping.load()) goro::yield();
      },
      with_workers(2));
  CHECK(unwound.load());
  CHECK_FALSE(gave_up.load());
}

// A goroutine still running when main returns may next use a channel or a conn that the
// unwinding of another goroutine has just closed (a destructor that closes it). It is stopped
// there as at a blocking operation: channel_closed or closed_error escaping it would end the
// process, which Go's exit never does.
TEST_CASE("a goroutine running at shutdown that meets what an unwound one closed is stopped",
          "[runtime][shutdown]") {
  enum class operation { send, close, select_send, write };
  const operation op =
      GENERATE(operation::send, operation::close, operation::select_send, operation::write);
  std::atomic<bool> closed_by_unwinding{false};
  std::atomic<bool> after_operation{false};
  std::atomic<bool> stopped{false};
  goro::run(
      [&] {
        goro::chan<int> ch(1);
        auto server = std::make_shared<goro::net::listener>(goro::net::listen("127.0.0.1:0"));
        auto client = std::make_shared<goro::net::conn>(goro::net::dial(server->address()));
        auto accepted = std::make_shared<goro::net::conn>(server->accept());
        goro::wait_group started;
        started.add(2);
        goro::go([&, ch, client, accepted] {
          struct close_on_exit {
            goro::chan<int> ch;
            std::shared_ptr<goro::net::conn> client;
            std::atomic<bool>& done;
            ~close_on_exit() {
              ch.close();
              client->close();
              done.store(true);
            }
          } guard{ch, client, closed_by_unwinding};
          started.done();
          goro::chan<int>().recv();  // parked until the shutdown
        });
        goro::go([&, ch, client] {
          struct on_exit {
            std::atomic<bool>& stopped;
            ~on_exit() { stopped.store(true); }
          } guard{stopped};
          started.done();
          // Busy, with no goro call, until the other goroutine's unwinding has closed both.
          const auto give_up = std::chrono::steady_clock::now() + 10s;
          while (!closed_by_unwinding.load() && std::chrono::steady_clock::now() < give_up) {
          }
          switch (op) {
            case operation::send: ch.send(1); break;
            case operation::close: ch.close(); break;
            case operation::select_send: goro::select(goro::on_send(ch, 1)); break;
            case operation::write: client->write(std::as_bytes(std::span("x", 1))); break;
          }
          after_operation.store(true);
        });
        started.wait();
      },
      with_workers(2));
  CHECK(closed_by_unwinding.load());
  CHECK(stopped.load());
  CHECK_FALSE(after_operation.load());
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
        // The call blocks its thread until the other goroutine has looped 1000 times, which it
        // can do only if the only worker runs it meanwhile. Counted, not timed: a loaded
        // machine may pause the worker for longer than any fixed sleep.
        constexpr int loops = 1000;
        int value = goro::blocking([&] {
          helper_thread = std::this_thread::get_id();
          const auto give_up = std::chrono::steady_clock::now() + 10s;
          while (progress.load() < loops && std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(1ms);
          }
          return 99;
        });
        call_done.store(true);
        CHECK(value == 99);
        CHECK(helper_thread != worker_thread);
        CHECK(progress.load() >= loops);  // the only worker kept running the other goroutine
        wg.wait();
      },
      with_workers(1));
}

TEST_CASE("blocking rethrows the call's exception and passes references through",
          "[runtime][blocking]") {
  goro::run([] {
    CHECK_THROWS_WITH(goro::blocking([]() -> int { throw std::logic_error("io failed"); }),
                      "io failed");
    CHECK_THROWS_AS(goro::blocking([] { throw main_failed{3}; }), main_failed);
    try {
      goro::blocking([] { throw main_failed{4}; });
    } catch (const main_failed& e) {
      CHECK(e.code == 4);
    }
    auto owned = goro::blocking([] { return std::make_unique<int>(8); });
    CHECK(*owned == 8);
    int target = 1;
    int& ref = goro::blocking([&]() -> int& { return target; });
    CHECK(&ref == &target);
    int&& moved = goro::blocking([&]() -> int&& { return std::move(target); });
    CHECK(&moved == &target);
    goro::blocking([] {});
  });
  // run's result type is invoke_result_t<F&> too, an rvalue reference included.
  static int kept = 7;
  int&& from_run = goro::run([]() -> int&& { return std::move(kept); });
  CHECK(&from_run == &kept);
  // On a plain thread the call simply runs.
  CHECK(goro::blocking([] { return 5; }) == 5);
}

// A helper of blocking() that waits idle_timeout without a job exits. Its thread must then be
// joined: one that has ended unjoined keeps its stack mapped, so a long run whose bursts of
// blocking calls came further apart than the timeout (10 s) kept every burst's threads (8
// concurrent calls every 11 s: 8 more threads, 16 more mappings and 64 MiB more address space
// each time). The pool is driven directly, with a short timeout; its jobs' claims never win,
// so they wake nobody.
TEST_CASE("blocking helpers that retire are joined rather than kept", "[runtime][blocking]") {
  goro::detail::blocking_pool pool(1ms);
  constexpr int width = 4;
  constexpr int bursts = 10;
  std::atomic<int> running{0};
  std::atomic<int> finished{0};
  auto call = [&] {
    // Every call of a burst waits until all of them run: each needs a helper of its own.
    const int target = (running.fetch_add(1) / width + 1) * width;
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (running.load() < target && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(100us);
    }
  };
  goro::detail::function_ref<void()> fn(call);
  goro::detail::parker nobody;  // token 0: a ticket of 1 never wins its claim
  auto count_finished = [](void* counter) noexcept {
    static_cast<std::atomic<int>*>(counter)->fetch_add(1);
  };
  const goro::detail::blocking_pool::job job{&fn, &nobody, 1, count_finished, &finished};
  auto settle = [](auto&& done) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    return done();
  };
  for (int burst = 1; burst <= bursts; ++burst) {
    for (int i = 0; i < width; ++i) pool.submit(pool.reserve(), job);
    REQUIRE(settle([&] { return finished.load() == burst * width; }));
    // Every helper goes idle, then exits after its millisecond without a job.
    REQUIRE(settle([&] { return pool.exited_threads() == pool.threads(); }));
  }
  // The last burst's helpers wait for the next reserve to join them; each burst's first reserve
  // joined the burst before (without the fix all 40 are kept).
  CHECK(pool.threads() == width);
  auto quick = [] {};
  goro::detail::function_ref<void()> quick_fn(quick);
  pool.submit(pool.reserve(), {&quick_fn, &nobody, 1, count_finished, &finished});
  REQUIRE(settle([&] { return finished.load() == bursts * width + 1; }));
  CHECK(pool.threads() == 1);
  pool.shutdown();
  CHECK(pool.threads() == 0);
}

TEST_CASE("a goroutine in a blocking call when main returns gets its result, then is unwound",
          "[runtime][blocking][shutdown]") {
  // The call's park cannot be interrupted: the run waits for the call to end, and blocking()
  // must then return its result rather than unwind with it; the goroutine is stopped at its next
  // stop point. One worker: the goroutine resumes only once main has returned.
  std::atomic<bool> started{false};
  std::atomic<bool> finish{false};
  int result = 0;
  bool unwound_after = false;
  goro::run(
      [&] {
        goro::go([&] {
          result = goro::blocking([&] {
            started.store(true);
            while (!finish.load()) std::this_thread::sleep_for(1ms);
            return 42;
          });
          goro_test::unwinding_probe p{unwound_after};
          goro::yield();
        });
        while (!started.load()) goro::sleep_for(1ms);
        finish.store(true);  // the call ends while main returns, or after
      },
      with_workers(1));
  CHECK(result == 42);
  CHECK(unwound_after);
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

// The count is a difference of counters read one after another. Goroutines that plain threads
// start (API 1.5) and that finish between the reads of those counters must not make it read
// below main alone, nor wrap around; runtime_stats must never show more finished than spawned.
TEST_CASE("num_goroutines and runtime_stats stay consistent while plain threads start goroutines",
          "[runtime][threads][debug]") {
  std::atomic<bool> stop{false};
  std::atomic<long> below_main{0};      // readings of num_goroutines under 1, or wrapped around
  std::atomic<long> finished_ahead{0};  // runtime_stats readings with finished > spawned
  goro::run(
      [&] {
        auto check_once = [&] {
          if (goro::num_goroutines() - 1 > (std::size_t{1} << 40)) below_main.fetch_add(1);
          const goro::stats now = goro::runtime_stats();
          if (now.finished > now.spawned) finished_ahead.fetch_add(1);
        };
        std::vector<std::thread> threads;
        for (int i = 0; i < 2; ++i) {
          threads.emplace_back([&] {  // one short goroutine at a time: the true count stays small
            while (!stop.load()) {
              std::atomic<bool> ran{false};
              goro::go([&ran] { ran.store(true); });
              while (!ran.load()) std::this_thread::yield();
            }
          });
        }
        for (int i = 0; i < 2; ++i) {
          threads.emplace_back([&] {
            while (!stop.load()) check_once();
          });
        }
        const auto end = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < end &&
               (below_main.load() == 0 || finished_ahead.load() == 0)) {
          check_once();
          goro::yield();
        }
        stop.store(true);
        goro::blocking([&] {
          for (std::thread& t : threads) t.join();
        });
      },
      with_workers(2));
  CHECK(below_main.load() == 0);
  CHECK(finished_ahead.load() == 0);
}

TEST_CASE("num_workers follows options, then GORO_MAXPROCS, then the hardware", "[runtime]") {
  CHECK(goro::run([] { return goro::num_workers(); }, with_workers(3)) == 3u);
  setenv("GORO_MAXPROCS", "5", 1);
  CHECK(goro::run([] { return goro::num_workers(); }) == 5u);
  CHECK(goro::num_workers() == 5u);
  // Anything but a whole number from 1 to 4096 is ignored: the hardware decides.
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  for (const char* ignored : {"not a number", "0", "-2", "5x", "4097", ""}) {
    INFO("GORO_MAXPROCS=\"" << ignored << '"');
    setenv("GORO_MAXPROCS", ignored, 1);
    CHECK(goro::run([] { return goro::num_workers(); }) == hardware);
  }
  // Both ends of the range count (4096 is checked without starting 4096 threads).
  setenv("GORO_MAXPROCS", "1", 1);
  CHECK(goro::run([] { return goro::num_workers(); }) == 1u);
  setenv("GORO_MAXPROCS", "4096", 1);
  CHECK(goro::detail::resolve_worker_count(0) == 4096u);
  CHECK(goro::detail::resolve_worker_count(2) == 2u);  // options come first
  unsetenv("GORO_MAXPROCS");
  CHECK(goro::run([] { return goro::num_workers(); }) ==
        std::max(1u, std::thread::hardware_concurrency()));
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

namespace {
// large_frame: a frame of 48 KiB, larger than a guard page, whose first write is its lowest byte.
// The index is read from a volatile: with a constant one, clang++ keeps only the byte it
// writes, and the frame is no larger than a page.
[[gnu::noinline]] char large_frame() {
  volatile char frame[48 * 1024];
  static volatile std::size_t lowest = 0;
  frame[lowest] = 1;
  return frame[lowest];
}

// large_frame_at: moves the stack pointer down to about `address`, then enters large_frame.
[[gnu::noinline]] void large_frame_at(std::uintptr_t address) {
  const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  auto* padding = static_cast<volatile char*>(alloca(here - address));
  padding[0] = 1;
  padding[0] = large_frame();  // the padding stays in place across the call
}
}  // namespace

TEST_CASE("a frame larger than the guard page meets it instead of writing into the stack below",
          "[runtime][stack]") {
  // API 1.4: an overflow of a guarded stack is caught at the faulting access. A frame larger
  // than a page moves the stack pointer past the guard page in one step; compiled without
  // stack-clash probes, its first write lands in the next stack down, another goroutine's, and
  // nothing faults. goro::goro gives its users -fstack-clash-protection, which makes the frame
  // touch each page on its way down. Here goroutine `upper` enters a 48-KiB frame 12 KiB above
  // its stack's end, aimed at the middle of a pattern on the stack of goroutine `lower` below.
  if (goro::detail::sanitized_build) return;  // frames and stacks differ under the sanitizers
  constexpr int no_neighbour = 4, pattern_overwritten = 5, nothing_happened = 6;
  const auto mode = GENERATE(goro::stack_guard::always, goro::stack_guard::automatic);
  auto result = goro_test::run_in_child([mode] {
    goro::options o;
    o.workers = 1;
    o.stack_size = 64 * 1024;
    o.guard = mode;
    return goro::run(
        [] {
          constexpr int count = 16;
          constexpr std::size_t pattern_size = 24 * 1024;
          std::array<const volatile char*, count> pattern{};
          std::array<goro::chan<std::uintptr_t>, count> descend;
          goro::wait_group parked, descended;
          parked.add(count);
          for (int i = 0; i < count; ++i) {
            goro::go([&, i] {
              volatile char own_pattern[pattern_size];
              for (auto& byte : own_pattern) byte = 0x5a;
              pattern[i] = own_pattern;
              parked.done();
              if (auto address = descend[i].recv()) {
                large_frame_at(*address);
                descended.done();
              }
            });
          }
          parked.wait();
          const std::uintptr_t stride = 64 * 1024 + goro::detail::page_size();
          for (int upper = 0; upper < count; ++upper) {
            for (int lower = 0; lower < count; ++lower) {
              const auto upper_at = reinterpret_cast<std::uintptr_t>(pattern[upper]);
              const auto lower_at = reinterpret_cast<std::uintptr_t>(pattern[lower]);
              if (upper_at - lower_at != stride) continue;
              descended.add(1);
              descend[upper].send(lower_at + pattern_size / 2 + 48 * 1024);
              descended.wait();
              // Ends here: the run's end would unwind goroutines whose stacks were written over.
              for (std::size_t k = 0; k < pattern_size; ++k) {
                if (pattern[lower][k] != 0x5a) std::_Exit(pattern_overwritten);
              }
              std::_Exit(nothing_happened);
            }
          }
          return no_neighbour;
        },
        o);
  });
  INFO("exit code " << result.exit_code << ", stderr: " << result.err);
  REQUIRE(result.exit_code != no_neighbour);  // stacks are carved next to each other
  CHECK(result.signaled);
  CHECK(result.signal == SIGABRT);
  CHECK_THAT(result.err, Catch::Contains(" overflowed its 65536-byte stack"));
}

TEST_CASE("goroutines run in a process that locked its memory after goro looked for markers",
          "[runtime][stack]") {
  // The kernel puts no guard marker in locked memory. A process that calls mlockall after goro
  // has found that the kernel has markers still runs its goroutines, on guarded stacks.
  if (goro::detail::sanitized_build) return;  // the sanitizers' shadow memory cannot be locked
  constexpr int lock_refused = 3;
  auto result = goro_test::run_in_child([] {
    (void)goro::detail::guard_markers_supported();  // probed before the lock, as by a run
    if (mlockall(MCL_FUTURE | MCL_ONFAULT) != 0) return lock_refused;
    goro::options o;
    o.stack_size = 64 * 1024;
    o.workers = 2;
    const long sum = goro::run(
        [] {
          goro::chan<long> results;
          for (long i = 1; i <= 100; ++i) goro::go([results, i] { results.send(i); });
          long total = 0;
          for (int i = 0; i < 100; ++i) total += *results.recv();
          return total;
        },
        o);
    return sum == 5050 ? 0 : 1;
  });
  if (result.exited && result.exit_code == lock_refused) {
    WARN("mlockall(MCL_FUTURE) refused: nothing to test");
    return;
  }
  INFO(result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
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

TEST_CASE("the overflow message names the stack size the options asked for", "[runtime][stack]") {
  if (goro::detail::sanitized_build) return;
  auto result = goro_test::run_in_child([] {
    goro::options o;
    o.stack_size = 100'000;  // not a whole number of pages: goro rounds it up to 102400
    o.guard = goro::stack_guard::always;
    goro::run(
        [] {
          goro::go([] { overflow(0); });
          goro::sleep_for(std::chrono::hours(1));
        },
        o);
    return 0;
  });
  CHECK(result.signaled);
  CHECK_THAT(result.err, Catch::Contains(" overflowed its 100000-byte stack"));
}

namespace {
// use_stack: writes a frame of `bytes` at the top of the calling goroutine's stack.
[[gnu::noinline]] void use_stack(std::size_t bytes) {
  auto* frame = static_cast<volatile char*>(alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 256) frame[i] = 1;
  frame[0] = 1;  // the lowest byte last, after every page above it
}
}  // namespace

TEST_CASE("a goroutine may use all of options.stack_size, the guard page lying below it",
          "[runtime][stack]") {
  // API 1.4: a stack is options.stack_size of address space, and a guarded one has a no-access
  // page below it. Guard pages once came out of stack_size, leaving a guarded goroutine a page
  // less than it asked for (12 of a 16-KiB stack). Every mode leaves at most the canary's 64
  // bytes and the frames that start a goroutine unusable.
  if (goro::detail::sanitized_build) return;  // a sanitizer's frames are larger
  const auto guard =
      GENERATE(goro::stack_guard::automatic, goro::stack_guard::always, goro::stack_guard::never);
  const std::size_t stack_size = GENERATE(std::size_t{16 * 1024}, std::size_t{64 * 1024});
  INFO("guard mode " << static_cast<int>(guard) << ", stack_size " << stack_size);
  auto result = goro_test::run_in_child([guard, stack_size] {
    goro::options o;
    o.stack_size = stack_size;
    o.guard = guard;
    const std::size_t usable = stack_size - 1024;
    goro::run(
        [usable] {
          use_stack(usable);  // main's stack
          goro::wait_group wg;
          wg.add(1);
          goro::go([&wg, usable] {
            use_stack(usable);
            wg.done();
          });
          wg.wait();
        },
        o);
    return 0;
  });
  INFO(result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

// API 1.4: an unguarded stack's canary is checked at every switch (park, yield and exit): the
// goroutine overruns its stack, then switches the one way.
TEST_CASE("an unguarded stack overflow is caught by its canary at the next switch",
          "[runtime][stack]") {
  if (goro::detail::sanitized_build) return;  // the sanitizers report overflows their own way
  enum class next_switch { park, yield, exit };
  const next_switch how = GENERATE(next_switch::park, next_switch::yield, next_switch::exit);
  INFO("switch " << static_cast<int>(how));
  auto result = goro_test::run_in_child([how] {
    goro::options o;
    o.stack_size = 64 * 1024;
    o.guard = goro::stack_guard::never;
    goro::run(
        [how] {
          goro::go([how] {
            std::fprintf(stderr, "id=%llu\n",
                         static_cast<unsigned long long>(goro::goroutine_id()));
            // A frame as large as the whole stack runs through the canary below it, a little
            // way into the memory below (a canary cannot promise more: an overflow that reaches
            // unmapped memory first ends in a plain SIGSEGV).
            volatile char big[64 * 1024];
            for (std::size_t i = 0; i < sizeof big; ++i) big[i] = 1;
            switch (how) {
              case next_switch::park: (void)goro::chan<int>().recv(); break;  // nobody sends
              case next_switch::yield: goro::yield(); break;
              case next_switch::exit: break;
            }
          });
          goro::sleep_for(10s);  // an overflow not caught ends the run after this
        },
        o);
    return 0;
  });
  INFO("signal " << result.signal << ", exit code " << result.exit_code);
  CHECK(result.signaled);
  CHECK(result.signal == SIGABRT);
  const std::string id = result.err.substr(3, result.err.find('\n') - 3);
  CHECK_THAT(result.err,
             Catch::Contains("goro: goroutine " + id + " overflowed its 65536-byte stack"));
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
            code = 2;  // refused; now it must work again once the goroutines have exited
          }
          release.done();
          if (code != 2) return;
          while (goro::num_goroutines() > 1) goro::sleep_for(1ms);
          goro::chan<int> reply(1);
          goro::go([reply] { reply.send(5); });
          if (*reply.recv() == 5) code = 0;
        },
        o);
    return code;
  });
  INFO("signal " << result.signal << ", stderr: " << result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);  // 1: never refused; 2: refused, and still refusing after
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

// Ports of Go 1.19's scheduler tests (src/runtime/proc_test.go and the testprog programs they
// run). Skipped: TestStopTheWorldDeadlock, TestPreemptionGC, TestPreemptSplitBig, TestGCFairness2
// (stop-the-world and the garbage collector); TestYieldLockedProgress, TestYieldLocked,
// TestBlockLocked and the TestLockOSThread... tests (no LockOSThread); TestAsyncPreempt (goro
// cannot preempt a goroutine that never blocks or yields, API 1.1); TestSchedLocalQueue,
// TestSchedLocalQueueSteal, TestStealOrder, TestGetgThreadSwitch and TestNetpollBreak (runtime
// internals: run_queue_test.cpp tests goro's run queue directly). TestSchedLocalQueueEmpty's
// visible effect, no idle worker beside a queued goroutine, is covered by "a goroutine readied
// by one that never blocks is taken by another worker" and "goroutines queued behind one that
// never blocks are taken by another worker". The first half of TestNumGoroutine (1 at the start
// of main) is covered by "num_goroutines counts live goroutines, main included".

// Go's runtime TestPingPongHog. Two pairs of goroutines hand a job back and forth on one worker,
// one pair a job a thousand times longer than the other's. Each handoff readies the partner in
// the worker's `next` slot, where it inherits the time slice (scheduler::time_slice_over), so
// each pair keeps the worker for about one slice at a time and both count at about the same
// rate. Without slices each pair would get the worker for the same number of handoffs, and the
// counts would be about 1000 times apart. The count loop has a compiler barrier so that it
// cannot be folded into one addition (Go's compiler does not fold it either). Skipped under the
// sanitizers, as Go skips it under -race: they slow the two loops unequally. Skipped under
// GORO_CHAOS too, which has no time slices (its schedule depends on its seed alone).
TEST_CASE("a pair handing off long jobs does not starve a pair handing off short ones",
          "[runtime][fairness]") {
  if (goro::detail::sanitized_build || goro_test::chaos_scheduling()) return;
  static long hog_count = 0;
  static long light_count = 0;
  hog_count = light_count = 0;
  const auto wall_before = std::chrono::steady_clock::now();
  const auto cpu_before = goro_test::process_cpu_time();
  goro::run(
      [] {
        goro::chan<bool> done;
        goro::chan<bool> hog_chan;
        goro::chan<bool> light_chan;
        auto member = [done](long limit, long* counter, goro::chan<bool> wake) {
          for (;;) {
            bool woken = false;
            goro::select(goro::on_recv(done), goro::on_recv(wake, [&](auto) { woken = true; }));
            if (!woken) return;
            for (long i = 0; i < limit; ++i) {
              ++*counter;
              std::atomic_signal_fence(std::memory_order_seq_cst);
            }
            wake.send(true);
          }
        };
        for (int i = 0; i < 2; ++i) goro::go(member, 1'000'000L, &hog_count, hog_chan);
        for (int i = 0; i < 2; ++i) goro::go(member, 1'000L, &light_count, light_chan);
        hog_chan.send(true);
        light_chan.send(true);
        goro::sleep_for(100ms);
        done.close();
        hog_chan.recv();
        light_chan.recv();
      },
      with_workers(1));
  // The one worker is busy throughout. Where it had a CPU for less than half the time (more
  // runnable threads than CPUs, as under ctest -j8 on two), it was taken off for whole time
  // slices at once; each pair then ran one job per slice, and the counts say nothing of goro.
  const auto wall = std::chrono::steady_clock::now() - wall_before;
  const auto cpu = goro_test::process_cpu_time() - cpu_before;
  if (cpu * 2 < wall) {
    WARN("the worker had a CPU for " << 100 * cpu / wall << "% of the run; counts not checked");
    return;
  }
  INFO("hog " << hog_count << ", light " << light_count);
  CHECK(hog_count / 20 <= light_count);  // within a factor of 20, Go's bound
  CHECK(light_count / 20 <= hog_count);
}

// Go's runtime TestYieldProgress.
TEST_CASE("a goroutine polling a channel between yields sees a value sent after a sleep",
          "[runtime][yield]") {
  const unsigned workers = GENERATE(1u, 2u);
  goro::run(
      [] {
        goro::chan<bool> c, cack;
        goro::go([c, cack] {
          for (;;) {
            if (goro::select(goro::on_recv(c), goro::on_default()) == 0) {
              cack.send(true);
              return;
            }
            goro::yield();
          }
        });
        goro::sleep_for(10ms);  // wakes although the only other goroutine never parks
        c.send(true);
        CHECK(cack.recv() == true);
      },
      with_workers(workers));
}

TEST_CASE("goroutines looping over ready operations, with no yield, leave room for the others",
          "[runtime][preempt]") {
  // As many goroutines as workers poll without ever having to wait — a select with a default
  // case, try_recv, a mutex nobody else holds, a buffered channel they fill and drain — while
  // main sleeps: its timer must fire and main must run, so each poller is preempted at one of
  // its operations once it has held its worker for a whole time slice (Go preempts such loops;
  // before 1.14, at the same calls into the runtime).
  const unsigned workers = GENERATE(1u, 2u);
  const int kind = GENERATE(0, 1, 2, 3);
  goro::run(
      [workers, kind] {
        goro::chan<int> done;
        goro::chan<int> stop(static_cast<int>(workers));  // for the try_recv pollers
        goro::mutex mu;
        goro::wait_group polling;
        std::atomic<long> rounds{0};
        for (unsigned i = 0; i < workers; ++i) {
          polling.add(1);
          goro::go([&, done, stop] {
            goro::chan<int> own(1);
            for (;;) {
              if (kind == 0 && goro::select(goro::on_recv(done), goro::on_default()) == 0) break;
              if (kind == 1 && stop.try_recv().has_value()) break;
              if (kind == 2) {
                std::lock_guard lock(mu);
              }
              if (kind == 3) {
                own.send(1);
                own.recv();
              }
              if (kind >= 2 && goro::select(goro::on_recv(done), goro::on_default()) == 0) break;
              rounds.fetch_add(1, std::memory_order_relaxed);
            }
            polling.done();
          });
        }
        goro::sleep_for(5ms);  // wakes although no poller ever parks
        done.close();
        for (unsigned i = 0; i < workers; ++i) stop.send(1);
        polling.wait();
        CHECK(rounds.load() > 0);
      },
      with_workers(workers));
}

namespace {
// lock_kind: a mutex, a shared_mutex or a semaphore, held and taken the same way whichever it is.
class lock_kind {
 public:
  enum kind { mutex, shared_mutex, semaphore };
  explicit lock_kind(kind k) : kind_(k) {}

  void hold() {
    if (kind_ == mutex) mutex_.lock();
    if (kind_ == shared_mutex) shared_mutex_.lock();
    if (kind_ == semaphore) semaphore_.acquire();
  }
  void let_go() {
    if (kind_ == mutex) mutex_.unlock();
    if (kind_ == shared_mutex) shared_mutex_.unlock();
    if (kind_ == semaphore) semaphore_.release();
  }
  // try_take_and_let_go: one try_lock, try_lock_shared or try_acquire; let go at once if taken.
  bool try_take_and_let_go() {
    bool taken = false;
    if (kind_ == mutex && (taken = mutex_.try_lock())) mutex_.unlock();
    if (kind_ == shared_mutex && (taken = shared_mutex_.try_lock_shared())) {
      shared_mutex_.unlock_shared();
    }
    if (kind_ == semaphore && (taken = semaphore_.try_acquire())) semaphore_.release();
    return taken;
  }

 private:
  kind kind_;
  goro::mutex mutex_;
  goro::shared_mutex shared_mutex_;
  goro::semaphore semaphore_{1};
};
}  // namespace

// A goroutine that spins on a try_ form until the holder lets go must leave the holder room to
// run, even on the holder's only worker: the try_ forms are stop points too.
TEST_CASE("goroutines spinning on try_lock, try_lock_shared or try_acquire let the holder run",
          "[runtime][preempt]") {
  const auto kind = GENERATE(lock_kind::mutex, lock_kind::shared_mutex, lock_kind::semaphore);
  const unsigned workers = GENERATE(1u, 2u);
  std::atomic<int> gave_up{0};
  goro::run(
      [&] {
        lock_kind lock(kind);
        lock.hold();  // while main sleeps; as many spinners as workers try to take it meanwhile
        goro::wait_group spinning;
        goro::wait_group finished;
        for (unsigned i = 0; i < workers; ++i) {
          spinning.add(1);
          finished.add(1);
          goro::go([&] {
            spinning.done();
            const auto give_up = std::chrono::steady_clock::now() + 10s;  // against a hang only
            bool taken = false;
            while (!taken && std::chrono::steady_clock::now() < give_up) {
              taken = lock.try_take_and_let_go();
            }
            if (!taken) gave_up.fetch_add(1);
            finished.done();
          });
        }
        spinning.wait();
        goro::sleep_for(5ms);  // wakes although no spinner ever parks
        lock.let_go();
        finished.wait();
      },
      with_workers(workers));
  CHECK(gave_up.load() == 0);
}

TEST_CASE("a yield the monitor asked for ends the asking once it is done", "[runtime][preempt]") {
  // One worker, and a goroutine that polls a select with a default case for 100 ms: the monitor
  // asks it to yield every other time slice, and it yields at its next poll. From then on no
  // yield is asked, and the stop points must be back on their fast path. (They once stayed on
  // the slow one until the monitor's next look, half of the time.)
  goro::run(
      [] {
        goro::chan<int> never;
        long samples = 0;
        long asked = 0;
        bool yielded = false;
        // 100 ms at least, and on until the first yield: the monitor thread, which must look
        // twice to ask, may be kept off a loaded machine's CPUs for longer (10 s bound).
        const auto end = std::chrono::steady_clock::now() + 100ms;
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        for (auto now = std::chrono::steady_clock::now(); now < end || (!yielded && now < give_up);
             now = std::chrono::steady_clock::now()) {
          const std::uint64_t before = goro::runtime_stats().context_switches;
          (void)goro::select(goro::on_recv(never), goro::on_default());
          yielded = yielded || goro::runtime_stats().context_switches != before;
          const std::uint8_t attention =
              goro::detail::process().attention.load(std::memory_order_relaxed);
          asked += (attention & goro::detail::process_state::attention_preempt) != 0 ? 1 : 0;
          ++samples;
        }
        INFO(asked << " of " << samples << " polls saw a yield asked");
        CHECK(yielded);
        CHECK(asked * 10 < samples);
      },
      with_workers(1));
}

TEST_CASE("the monitor asks no worker that runs no goroutine to yield", "[runtime][preempt]") {
  // Main receives from a producer: the two hand the first worker to each other at every value,
  // and the second worker finds nothing it may steal, so it keeps looking for work in its loop
  // without ever running a goroutine. No goroutine holds a worker for a time slice: the monitor
  // must not ask for a yield, which would leave every stop point on its slow path (the preempt
  // bit of the attention word) for as long as the asking lasts. It once asked the looking
  // worker, at every other look.
  goro::run(
      [] {
        goro::chan<long> values;
        goro::chan<int> done;
        goro::go([values, done] {
          for (long i = 0;; ++i) {
            if (goro::select(goro::on_send(values, i), goro::on_recv(done)) == 1) return;
          }
        });
        const auto end = std::chrono::steady_clock::now() + 100ms;
        long samples = 0;
        long asked = 0;
        while (std::chrono::steady_clock::now() < end) {
          (void)values.recv();
          const std::uint8_t attention =
              goro::detail::process().attention.load(std::memory_order_relaxed);
          asked += (attention & goro::detail::process_state::attention_preempt) != 0 ? 1 : 0;
          ++samples;
        }
        done.close();
        INFO(asked << " of " << samples << " values were received while a yield was asked");
        // A worker thread that the kernel holds off for a whole slice is asked, rightly: allow
        // for that, not for half of the time.
        CHECK(asked * 10 < samples);
      },
      with_workers(2));
}

// Go's runtime TestGoroutineParallelism.
TEST_CASE("as many goroutines as workers spinning in turn all run at the same time",
          "[runtime][parallel]") {
  const unsigned p = GENERATE(2u, 4u);
  goro::run(
      [p] {
        for (long attempt = 0; attempt < scaled(3, 3); ++attempt) {
          // Each goroutine waits, spinning without yielding, for its turns: the test ends only if
          // all p run at once, one per worker.
          auto x = std::make_shared<std::atomic<unsigned>>(0);
          goro::chan<bool> done;
          for (unsigned k = 0; k < p; ++k) {
            goro::go(
                [x, done, p](unsigned me) {
                  for (unsigned i = 0; i < 3; ++i) {
                    const unsigned expected = p * i + me;
                    while (x->load() != expected) {
                    }
                    x->store(expected + 1);
                  }
                  done.send(true);
                },
                k);
          }
          for (unsigned k = 0; k < p; ++k) done.recv();
        }
      },
      with_workers(p));
}

// Go's runtime TestGoroutineParallelism2.
TEST_CASE(
    "goroutines spawned by goroutines all run at the same time after a load and beside a "
    "listener",
    "[runtime][parallel]") {
  constexpr unsigned p = 4;
  // Go's three variants (its fourth, neither, is commented out): load, a listener, or both.
  const int variant = GENERATE(1, 2, 3);
  const bool load = (variant & 1) != 0;
  const bool netpoll = (variant & 2) != 0;
  goro::run(
      [load, netpoll] {
        std::vector<goro::net::listener> listeners;
        for (long attempt = 0; attempt < scaled(3, 3); ++attempt) {
          if (load) {
            // p goroutines that spin until all have run: the workers running them then park.
            auto x = std::make_shared<std::atomic<unsigned>>(0);
            goro::chan<bool> done;
            for (unsigned k = 0; k < p; ++k) {
              goro::go([x, done] {
                if (x->fetch_add(1) + 1 == p) {
                  done.send(true);
                  return;
                }
                while (x->load() != p) {
                }
              });
            }
            done.recv();
          }
          if (netpoll) listeners.push_back(goro::net::listen("127.0.0.1:0"));
          auto x = std::make_shared<std::atomic<unsigned>>(0);
          goro::chan<bool> done;
          // Spawned in a nested fashion, two by each of p / 2 goroutines.
          for (unsigned k = 0; k < p / 2; ++k) {
            goro::go(
                [x, done](unsigned outer) {
                  for (unsigned inner = 0; inner < 2; ++inner) {
                    goro::go(
                        [x, done](unsigned me) {
                          for (unsigned i = 0; i < 3; ++i) {
                            const unsigned expected = p * i + me;
                            while (x->load() != expected) {
                            }
                            x->store(expected + 1);
                          }
                          done.send(true);
                        },
                        outer * 2 + inner);
                  }
                },
                k);
          }
          for (unsigned k = 0; k < p; ++k) done.recv();
        }
      },
      with_workers(p));
}

// Go's runtime TestTimerFairness.
TEST_CASE("a timer is chosen while two goroutines keep a channel always ready",
          "[runtime][fairness]") {
  const unsigned workers = GENERATE(1u, 2u);
  goro::run(
      [] {
        goro::chan<bool> done, c;
        for (int i = 0; i < 2; ++i) {
          goro::go([done, c] {
            bool stop = false;
            while (!stop) {
              goro::select(goro::on_send(c, true), goro::on_recv(done, [&](auto) { stop = true; }));
            }
          });
        }
        const auto start = std::chrono::steady_clock::now();
        auto timer = goro::after(20ms);
        while (goro::select(goro::on_recv(c), goro::on_recv(timer)) == 0) {
        }
        CHECK(std::chrono::steady_clock::now() >= start + 20ms);
        done.close();
      },
      with_workers(workers));
}

// Go's runtime TestTimerFairness2. Go's zero-length read(2) becomes one through blocking().
TEST_CASE("timers fire for goroutines that alternate blocking calls with a busy channel",
          "[runtime][fairness][blocking]") {
  const unsigned workers = GENERATE(1u, 2u);
  goro::run(
      [] {
        goro::chan<bool> done, c;
        for (int i = 0; i < 2; ++i) {
          goro::go([done, c] {
            auto timer = goro::after(20ms);
            char buf[1];
            for (;;) {
              const ssize_t n = goro::blocking([&] { return ::read(0, buf, 0); });
              (void)n;
              bool fired = false;
              goro::select(goro::on_send(c, true), goro::on_recv(c),
                           goro::on_recv(timer, [&](auto) { fired = true; }));
              if (fired) break;
            }
            done.send(true);
          });
        }
        done.recv();
        done.recv();
      },
      with_workers(workers));
}

// Go's runtime TestPreemption, adapted: goro cannot preempt the waiting loop (API 1.1), so it
// yields where Go's loop makes a preemptible call.
TEST_CASE("two goroutines waiting in yield loops take turns on one worker", "[runtime][yield]") {
  const unsigned workers = GENERATE(1u, 2u);
  goro::run(
      [] {
        auto x = std::make_shared<std::atomic<int>>(0);
        goro::chan<bool> c;
        for (int g = 0; g < 2; ++g) {
          goro::go(
              [x, c](int me) {
                for (int i = 0; i < 5; ++i) {
                  while (x->load() != me) goro::yield();
                  x->store(1 - me);
                }
                c.send(true);
              },
              g);
        }
        c.recv();
        c.recv();
      },
      with_workers(workers));
}

// Goroutines that keep a buffered channel busy hand the worker to each other through `next` and
// push the goroutine they displace to the back of the queue; one of them yields after every
// value. Main, woken from its sleep (or yield) into the middle of that queue, must still run:
// a yielded goroutine once went to the front, where every fair schedule took it again.
TEST_CASE("a goroutine readied behind busy and yielding ones gets the worker", "[runtime][yield]") {
  const bool main_sleeps = GENERATE(true, false);
  std::atomic<bool> main_resumed{false};
  std::atomic<bool> busy_gave_up{false};
  goro::run(
      [&] {
        goro::chan<int> values(3);
        goro::wait_group busy;
        busy.add(3);
        const auto give_up = std::chrono::steady_clock::now() + 10s;  // against a hang only
        auto still_busy = [&] {
          if (main_resumed.load()) return false;
          if (std::chrono::steady_clock::now() < give_up) return true;
          busy_gave_up.store(true);
          return false;
        };
        goro::go([&, values] {
          try {
            while (still_busy()) values.send(1);
          } catch (const goro::channel_closed&) {
          }
          busy.done();
        });
        goro::go([&, values] {
          while (still_busy()) values.recv();
          busy.done();
        });
        goro::go([&, values] {
          while (still_busy()) {
            values.recv();
            goro::yield();
          }
          busy.done();
        });
        if (main_sleeps) {
          goro::sleep_for(1ms);
        } else {
          goro::yield();
        }
        main_resumed.store(true);
        values.close();  // frees whichever is blocked; the others see main_resumed
        busy.wait();
      },
      with_workers(1));
  CHECK(main_resumed.load());
  CHECK_FALSE(busy_gave_up.load());
}

// Go's runtime TestNumGoroutine, its second half.
TEST_CASE("num_goroutines agrees with the goroutines that dump lists", "[runtime][debug]") {
  goro::wait_group release, finished;  // outside the run: goroutines wait on them
  release.add(1);
  goro::run(
      [&] {
        goro::chan<int> never;
        for (int i = 0; i < 30; ++i) {
          finished.add(1);
          goro::go([&, i, never] {
            switch (i % 3) {
              case 0: release.wait(); break;
              case 1: goro::select(goro::on_recv(never), goro::on_recv(goro::after(10ms))); break;
              default: goro::yield();  // ends while the counts are taken
            }
            finished.done();
          });
        }
        std::size_t counted = 0;
        std::size_t listed = 0;
        // Go gives up after 10 attempts; here goroutines may go on exiting on the other worker
        // between the two reads for longer on a loaded machine: retry for up to 10 s instead.
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < give_up) {
          goro::yield();  // lets goroutines about to exit do so
          counted = goro::num_goroutines();
          std::ostringstream out;
          goro::dump(out);
          std::istringstream lines(out.str());
          listed = 0;
          for (std::string line; std::getline(lines, line);) {
            if (line.rfind("goroutine ", 0) == 0) ++listed;
          }
          if (counted == listed) break;
        }
        CHECK(counted == listed);
        release.done();
        finished.wait();
        CHECK(goro_test::live_goroutines_when(1) == 1);
      },
      with_workers(2));
}

// Go's runtime TestPreemptionAfterSyscall, adapted: Go's fake system call, a spin between
// entersyscall and exitsyscall, becomes a spin in blocking().
TEST_CASE("goroutines looping on short blocking calls let main stop them", "[runtime][blocking]") {
  const auto d = GENERATE(10us, 100us, 1000us);
  goro::run(
      [d] {
        for (long iteration = 0; iteration < scaled(5, 5); ++iteration) {
          const auto start = std::chrono::steady_clock::now();
          constexpr int n = 8;
          goro::chan<bool> c(n);
          auto stop = std::make_shared<std::atomic<bool>>(false);
          for (int g = 0; g < n; ++g) {
            goro::go([c, stop, d] {
              c.send(true);
              while (!stop->load()) goro::blocking([d] { spin_for(d); });
              c.send(true);
            });
          }
          for (int g = 0; g < n; ++g) c.recv();  // all started
          stop->store(true);
          for (int g = 0; g < n; ++g) c.recv();  // all finished
          CHECK(std::chrono::steady_clock::now() - start < 10s);
        }
      },
      with_workers(2));
}

// Go's runtime TestBigGOMAXPROCS (Go starts with GOMAXPROCS=1024).
TEST_CASE("a run with 1024 workers starts and runs goroutines", "[runtime]") {
  // 128 under a sanitizer, where each thread takes about 10 ms to start.
  constexpr unsigned workers = goro::detail::sanitized_build ? 128 : 1024;
  std::atomic<int> ran{0};
  const unsigned seen = goro::run(
      [&] {
        goro::wait_group wg;
        for (int i = 0; i < 100; ++i) {
          wg.add(1);
          goro::go([&] {
            ran.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
        return goro::num_workers();
      },
      with_workers(workers));
  CHECK(seen == workers);
  CHECK(ran.load() == 100);
}

// Go's runtime TestGCFairness (testprog GCFairness): goroutines write to /dev/null in a loop
// that never ends, and main must still wake from its sleep and end the program. Go's writes
// are plain system calls; here they go through blocking(), whose park cannot be interrupted,
// so the run ends only if a goroutine calling blocking() after main returned is unwound there
// (API 1.1). Run in a child with an alarm, so that a hang fails quickly.
TEST_CASE(
    "goroutines looping on blocking calls do not keep main from waking or the run from ending",
    "[runtime][fairness][blocking][shutdown]") {
  const goro_test::child_result child = goro_test::run_in_child([] {
    alarm(60);
    const int fd = ::open("/dev/null", O_WRONLY);
    if (fd < 0) return 3;
    static std::atomic<int> unwound{0};
    struct count_unwinding {
      ~count_unwinding() { unwound.fetch_add(1); }
    };
    bool woke = false;
    goro::run(
        [fd, &woke] {
          for (int i = 0; i < 2; ++i) {
            goro::go([fd] {
              const count_unwinding on_exit;
              for (;;) (void)goro::blocking([fd] { return ::write(fd, ".", 1); });
            });
          }
          const auto start = std::chrono::steady_clock::now();
          goro::sleep_for(10ms);
          woke = std::chrono::steady_clock::now() >= start + 10ms;
        },
        with_workers(1));
    ::close(fd);
    return woke && unwound.load() == 2 ? 0 : 4;
  });
  INFO("child stderr: " << child.err);
  CHECK(child.exited);
  CHECK(child.exit_code == 0);
}

// --- A hostile process environment: the program's own signal handlers, resource limits ----------
//
// Each runs in a child process: signal dispositions and resource limits are the process's, and
// must not leak into the other tests.

namespace {

int* volatile null_pointer = nullptr;

// on_fault_exit_42: a program's own SIGSEGV or SIGBUS handler.
void on_fault_exit_42(int, siginfo_t*, void*) {
  _exit(42);
}

void install_exit_42(int sig) {
  struct sigaction action {};
  action.sa_sigaction = &on_fault_exit_42;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, nullptr);
}

bool exit_42_installed(int sig) {
  struct sigaction current {};
  sigaction(sig, nullptr, &current);
  return (current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == &on_fault_exit_42;
}

// fault_with: makes the calling thread fault with `sig`: SIGSEGV by a write through a null
// pointer, SIGBUS by a read of a mapped page that lies past the end of its (empty) file.
void fault_with(int sig) {
  if (sig == SIGSEGV) *null_pointer = 1;
  std::FILE* file = std::tmpfile();
  if (file == nullptr) return;
  void* page = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fileno(file), 0);
  if (page != MAP_FAILED) static_cast<void>(*static_cast<volatile char*>(page));
}

bool default_action(int sig) {
  struct sigaction current {};
  sigaction(sig, nullptr, &current);
  return (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL;
}

// no_threads_left: makes every later thread creation of this process fail (RLIMIT_NPROC, which
// binds only a user without privileges: a root process becomes `nobody` first). False if that
// could not be arranged.
bool no_threads_left() {
  const rlimit none{0, 0};
  if (setrlimit(RLIMIT_NPROC, &none) != 0) return false;
  if (getuid() == 0 && setuid(65534) != 0) return false;
  try {
    std::thread([] {}).join();
    return false;
  } catch (const std::system_error&) {
    return true;
  }
}

std::size_t address_space_in_use() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (statm == nullptr) return 0;
  if (std::fscanf(statm, "%lu", &pages) != 1) pages = 0;
  std::fclose(statm);
  return pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("a fault in a goroutine that is no overflow reaches the program's own handler",
          "[runtime][signal]") {
  if (goro::detail::sanitized_build) return;  // the sanitizers handle SIGSEGV their own way
  // Each signal reaches the handler installed for it, not the other's (the other keeps its
  // default action, which would kill the child instead).
  const int sig = GENERATE(SIGSEGV, SIGBUS);
  INFO(strsignal(sig));
  auto result = goro_test::run_in_child([sig] {
    install_exit_42(sig);
    goro::run([sig] {
      goro::chan<int> done;
      goro::go([done, sig] {
        fault_with(sig);
        done.send(1);
      });
      done.recv();
    });
    return 0;
  });
  CHECK(result.exited);
  CHECK(result.exit_code == 42);
}

TEST_CASE("a fault handler installed before a run is back after it, one installed during it stays",
          "[runtime][signal]") {
  if (goro::detail::sanitized_build) return;
  const int sig = GENERATE(SIGSEGV, SIGBUS);
  INFO(strsignal(sig));
  constexpr int not_back = 1, not_kept = 2, replaced_during_run = 3;
  auto result = goro_test::run_in_child([sig] {
    install_exit_42(sig);
    goro::run([] {});
    if (!exit_42_installed(sig)) return not_back;
    signal(sig, SIG_DFL);
    bool installed_during_run = false;
    goro::run([&] {
      install_exit_42(sig);
      goro::sleep_for(1ms);  // the run goes on with the program's handler
      installed_during_run = exit_42_installed(sig);
    });
    if (!installed_during_run) return replaced_during_run;
    // It was installed after goro's: the end of the run must not put back what goro replaced.
    if (!exit_42_installed(sig)) return not_kept;
    return 0;
  });
  INFO("the child exited with " << result.exit_code << " (" << not_back
                                << ": the handler from before the run was not put back; "
                                << not_kept << ": the one installed during the run was replaced)");
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

TEST_CASE("a program that blocks every signal before run still gets overflow reports",
          "[runtime][signal][stack]") {
  if (goro::detail::sanitized_build) return;
  // The common server pattern: block every signal, take them in a sigwait thread. A fault on a
  // thread that blocks SIGSEGV bypasses every handler (the kernel applies the default action),
  // so workers keep it unblocked during the run, and put the caller's mask back after.
  const bool overflow_it = GENERATE(true, false);
  constexpr int mask_not_back = 5;
  auto result = goro_test::run_in_child([overflow_it] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    goro::options o;
    o.stack_size = 64 * 1024;
    o.workers = 2;
    goro::run(
        [overflow_it] {
          goro::wait_group wg;
          wg.add(1);
          goro::go([&] {
            if (overflow_it) overflow(0);
            wg.done();
          });
          wg.wait();
        },
        o);
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, nullptr, &now);
    return sigismember(&now, SIGSEGV) == 1 && sigismember(&now, SIGBUS) == 1 ? 0 : mask_not_back;
  });
  INFO("the child's stderr: " << result.err);
  if (overflow_it) {
    CHECK(result.signaled);
    CHECK(result.signal == SIGABRT);
    CHECK_THAT(result.err, Catch::Contains("overflowed its 65536-byte stack"));
  } else {
    CHECK(result.exited);
    CHECK(result.exit_code == 0);
  }
}

TEST_CASE("a SIGSEGV or SIGBUS sent by raise or kill during a run is not swallowed",
          "[runtime][signal]") {
  if (goro::detail::sanitized_build) return;
  // Not a fault: no instruction runs again after the handler, so goro's handler must send it
  // again for the default action (which ends the process) to happen.
  const int sig = GENERATE(SIGSEGV, SIGBUS);
  const bool from_plain_thread = GENERATE(false, true);
  constexpr int survived = 3;
  auto result = goro_test::run_in_child([sig, from_plain_thread] {
    goro::run([sig, from_plain_thread] {
      if (from_plain_thread) {
        std::thread([sig] { kill(getpid(), sig); }).join();
        goro::sleep_for(100ms);  // a process-wide signal may go to any thread
      } else {
        raise(sig);
      }
    });
    return survived;
  });
  INFO("signal " << sig << (from_plain_thread ? " sent by kill from a plain thread" : " raised")
                 << "; the child exited with " << result.exit_code << " (" << survived
                 << ": it survived)");
  CHECK(result.signaled);
  CHECK(result.signal == sig);
}

TEST_CASE("a SIGSEGV ignored before a run and sent by raise during it stays ignored",
          "[runtime][signal]") {
  if (goro::detail::sanitized_build) return;
  auto result = goro_test::run_in_child([] {
    signal(SIGSEGV, SIG_IGN);
    goro::run([] { raise(SIGSEGV); });
    return 0;
  });
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

TEST_CASE("blocking calls still complete when no helper thread can be started",
          "[runtime][blocking][limits]") {
  constexpr int no_limit = 99, wrong_result = 1;
  auto result = goro_test::run_in_child([] {
    if (!no_threads_left()) return no_limit;
    alarm(20);  // a hang ends the child by SIGALRM
    const int sum = goro::run(
        [] {
          goro::wait_group wg;
          std::atomic<int> total{0};
          for (int i = 1; i <= 4; ++i) {
            wg.add(1);
            goro::go([&, i] {
              total.fetch_add(goro::blocking([i] { return i; }));
              wg.done();
            });
          }
          total.fetch_add(goro::blocking([] { return 10; }));
          wg.wait();
          return total.load();
        },
        with_workers(2));
    return sum == 20 ? 0 : wrong_result;
  });
  if (result.exited && result.exit_code == no_limit) {
    WARN("could not forbid new threads in a child (RLIMIT_NPROC): nothing to test");
    return;
  }
  INFO("the child's stderr: " << result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

TEST_CASE("with GORO_TRACEBACK=1 and no thread for the dump, the run goes on without it",
          "[runtime][signal][limits]") {
  constexpr int no_limit = 99, threw = 1, left_segv = 2, left_quit = 3;
  auto result = goro_test::run_in_child([] {
    if (!no_threads_left()) return no_limit;
    setenv("GORO_TRACEBACK", "1", 1);
    try {
      if (goro::run([] { return 7; }) != 7) return threw;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "run threw: %s\n", e.what());
      return threw;
    }
    if (!default_action(SIGSEGV)) return left_segv;
    if (!default_action(SIGQUIT)) return left_quit;
    return 0;
  });
  if (result.exited && result.exit_code == no_limit) {
    WARN("could not forbid new threads in a child (RLIMIT_NPROC): nothing to test");
    return;
  }
  INFO("the child exited with " << result.exit_code << " (" << threw << ": run threw; " << left_segv
                                << ", " << left_quit
                                << ": a SIGSEGV or SIGQUIT handler was left); its stderr: "
                                << result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

TEST_CASE("a run whose main stack cannot be reserved throws and leaves nothing behind",
          "[runtime][stack][limits]") {
  if (goro::detail::sanitized_build) return;  // their runtimes reserve address space of their own
  constexpr int refused_early = 1, no_error = 2, left_segv = 3, still_active = 4, not_again = 5;
  auto result = goro_test::run_in_child([] {
    goro::options o;
    o.workers = 1;
    goro::run([] {}, o);  // what a first run maps once for all (its fault handlers, …)
    rlimit old{};
    getrlimit(RLIMIT_AS, &old);
    // Room for the run's own structures, not for a slab of goroutine stacks (16 MiB).
    const rlimit cap{address_space_in_use() + (1u << 20), old.rlim_max};
    if (setrlimit(RLIMIT_AS, &cap) != 0) return refused_early;
    bool threw = false;
    try {
      goro::run([] {}, o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "run threw: %s\n", e.what());
      threw = true;
    }
    setrlimit(RLIMIT_AS, &old);
    if (!threw) return no_error;
    if (!default_action(SIGSEGV)) return left_segv;
    try {
      goro::go([] {});
      return still_active;
    } catch (const goro::error&) {
    }
    return goro::run([] { return 5; }, o) == 5 ? 0 : not_again;
  });
  INFO("the child exited with " << result.exit_code << " (" << no_error << ": no error; "
                                << left_segv << ": goro's SIGSEGV handler was left; "
                                << still_active
                                << ": the run still looked active); its stderr: " << result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

// Ports of Go 1.19's test/fixedbugs programs about goroutines and the scheduler follow (tag
// [go]); chan_test lists the fixedbugs programs skipped as Go compiler, stack or garbage
// collector matters. Skipped here: issue25897a and issue25897b (100 goroutines not yet started
// when the collector scans their reflect-made functions' arguments), issue11256 (the collector's
// stack barriers and runtime.Goexit), issue13160 (write barriers of pointer copies on twice as
// many Ps as CPUs).

// Go's test/fixedbugs/issue19182.go: with two Ps, a goroutine adding to a counter in a loop that
// never yields kept main from seeing the counter move. Go's goroutine spins until the program
// ends; goro stops a goroutine only at a blocking operation or yield (API 1.1), so this one
// spins until main, done looking, tells it to stop.
TEST_CASE("main wakes from its sleep beside a goroutine spinning without yielding and sees it run",
          "[runtime][go]") {
  std::atomic<std::uint64_t> a{0};
  std::atomic<bool> stop{false};
  std::uint64_t val = 0;
  int tries = 0;
  goro::run(
      [&] {
        goro::go([&] {
          while (!stop.load(std::memory_order_relaxed)) a.fetch_add(1);
        });
        goro::sleep_for(10ms);  // a short sleep is enough in the passing case
        for (val = a.load(); val == 0 && tries < 100; val = a.load(), ++tries) {
          goro::sleep_for(100ms);
        }
        stop.store(true);
      },
      goro::options{.workers = 2});  // Go's GOMAXPROCS(2): with one, the loop never yields
  INFO("tries: " << tries);
  CHECK(val != 0);  // "Failed to observe atomic increment"
}

// Go's test/fixedbugs/issue21576.go: a program whose only goroutine blocks on a send was not
// reported as deadlocked once it imported os/signal (whose goroutine waits for signals). goro
// has no such goroutine of its own; the program must be reported all the same.
TEST_CASE("main sending on a channel nobody receives from is reported as a deadlock",
          "[runtime][deadlock][go]") {
  std::string what;
  try {
    goro::run([] {
      goro::chan<int> c;
      c.send(1);
    });
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  CHECK_THAT(what, Catch::StartsWith("all goroutines are asleep - deadlock!"));
}

namespace bug512 {

// The fields are atomics so that, were the object shared rather than copied, the test would see
// the caller's stores rather than race with them.
struct S {
  std::atomic<std::int32_t> i1, i2;

  S(std::int32_t v1, std::int32_t v2) : i1(v1), i2(v2) {}
  S(const S& other) : i1(other.i1.load()), i2(other.i2.load()) {}

  // check: the goroutine's copy of the receiver keeps the values it was started with while the
  // caller changes its own, until the caller says it is done.
  void check(std::int32_t v1, std::int32_t v2, std::atomic<int>* done, goro::wait_group* wg,
             std::atomic<int>* wrong) {
    for (;;) {
      if (i1.load() != v1) wrong->fetch_add(1);
      if (i2.load() != v2) wrong->fetch_add(1);
      if (done->load() != 0) break;
      goro::yield();  // Go's loop is preemptible; goro's must yield (API 1.1)
    }
    wg->done();
  }
};

}  // namespace bug512

// Go's test/fixedbugs/bug512.go: `go s.Check(1, 2)` with a value receiver did not copy s
// (gccgo), so the goroutine saw the caller's later stores. goro::go decay-copies its arguments,
// the object of a member function included.
TEST_CASE("go with a member function runs it on a copy of the object", "[runtime][go]") {
  using bug512::S;
  std::atomic<int> wrong{0};
  goro::run([&] {
    goro::wait_group wg;
    std::atomic<int> done{0};
    wg.add(1);
    [&] {  // Go's F
      S s{1, 2};
      goro::go(&S::check, s, 1, 2, &done, &wg, &wrong);
      s.i1.store(3);
      s.i2.store(4);
      done.store(1);
    }();
    wg.wait();
  });
  CHECK(wrong.load() == 0);
}

// Go's test/fixedbugs/issue9321.go: two goroutines writing the goroutine profile at once, with
// four Ps, crashed the runtime. goro's counterpart of the profile is dump().
TEST_CASE("two goroutines dumping every goroutine at once, ten times over",
          "[runtime][debug][go]") {
  std::atomic<long> empty_dumps{0};
  goro::run(
      [&] {
        for (int i = 0; i < 10; ++i) {
          goro::wait_group wg;
          wg.add(2);
          const auto test = [&] {
            for (int j = 0; j < 10; ++j) {
              std::ostringstream buf;
              goro::dump(buf);
              if (buf.str().find("goroutine ") == std::string::npos) empty_dumps.fetch_add(1);
            }
            wg.done();
          };
          goro::go(test);
          goro::go(test);
          wg.wait();
        }
      },
      goro::options{.workers = 4});  // Go's GOMAXPROCS(4)
  CHECK(empty_dumps.load() == 0);
}

// --- From the audit of types and call forms at the edges of the API ([audit-types]) ---------

// A goroutine's function whose result is [[nodiscard]]: go() dropped it with a plain call,
// which -Wunused-result reports in the user's build (an error under -Werror).
TEST_CASE("go runs a function whose result is [[nodiscard]] and drops the result",
          "[runtime][go][audit-types]") {
  std::atomic<int> calls{0};
  goro::run([&] {
    goro::wait_group wg;
    wg.add(2);
    goro::go(
        [&wg](audit_types::makes_important f) {
          static_cast<void>(f());
          wg.done();
        },
        audit_types::makes_important{&calls});
    goro::go(audit_types::makes_important{&calls}, 1, "two");
    while (calls.load() < 2) goro::yield();
    wg.done();
    wg.wait();
  });
  CHECK(calls == 2);
}

namespace audit_types {

// widget: a target for member pointers; counts calls through a shared counter.
struct widget {
  std::atomic<int>* calls;
  int value = 7;
  void bump(int by) const { calls->fetch_add(by); }
  void bump_twice(int by) & {
    bump(by);
    bump(by);
  }
};

// rvalue_only: a callable that, like std::thread's, goro must invoke as an rvalue.
struct rvalue_only {
  std::atomic<int>* calls;
  void operator()(int by) && { calls->fetch_add(by); }
  void operator()(int) & = delete;
};

// by_form: an overload set telling which argument form arrived.
struct by_form {
  std::atomic<int>* seen;
  void operator()(int&) const { seen->fetch_add(1); }
  void operator()(const int&) const { seen->fetch_add(10); }
  void operator()(int&&) const { seen->fetch_add(100); }
};

std::atomic<int> free_calls{0};
void free_function(const char* text, int* numbers) {
  free_calls.fetch_add(static_cast<int>(std::string_view(text).size()) + numbers[0]);
}

}  // namespace audit_types

TEST_CASE("go takes every call form std::thread takes and invokes decayed copies as rvalues",
          "[runtime][go][audit-types]") {
  using namespace audit_types;
  std::atomic<int> calls{0};
  int by_ref = 0;
  goro::run([&] {
    widget w{&calls};
    auto shared = std::make_shared<widget>(widget{&calls});
    goro::go(&widget::bump, &w, 1);                  // member function, object pointer
    goro::go(&widget::bump, std::ref(w), 2);         // reference_wrapper
    goro::go(&widget::bump, shared, 4);              // shared_ptr (dereferenced)
    goro::go(&widget::bump, w, 8);                   // a copy of the object
    goro::go(&widget::bump_twice, std::ref(w), 16);  // an &-qualified member
    goro::go(rvalue_only{&calls}, 32);               // only invocable as an rvalue
    goro::go([](std::unique_ptr<int> p, std::atomic<int>* c) { c->fetch_add(*p); },
             std::make_unique<int>(64), &calls);  // move-only argument
    goro::go([p = std::make_unique<int>(128), &calls] { calls.fetch_add(*p); });  // move-only fn
    int numbers[3] = {1000, 0, 0};
    goro::go(free_function, "abc", numbers);  // function reference; decayed arrays
    goro::go(&free_function, "de", numbers);  // function pointer
    goro::go(
        [&calls](int& r) {
          r = 5;
          calls.fetch_add(1024);  // after the write: main reads by_ref once it sees this
        },
        std::ref(by_ref));  // std::ref reaches the original
    std::atomic<int> seen{0};
    int lvalue = 1;
    goro::go(by_form{&seen}, lvalue);             // a decayed copy, passed as an rvalue
    goro::go(by_form{&seen}, std::cref(lvalue));  // const int& through the wrapper
    goro::go(by_form{&seen}, std::ref(lvalue));   // int& through the wrapper
    const by_form constant{&seen};
    goro::go(constant, 2);
    goro::go([count = 0, &calls]() mutable { calls.fetch_add(++count * 256); });
    goro::go([](auto a, auto&& b) { b->fetch_add(a); }, 512, &calls);  // generic lambda
    // w and numbers outlive the goroutines that use them: main waits for every effect.
    while (calls.load() < 2063 || free_calls.load() < 2005 || seen.load() < 211) {
      goro::yield();
    }
    CHECK(seen == 100 + 10 + 1 + 100);
  });
  CHECK(calls == 1 + 2 + 4 + 8 + 2 * 16 + 32 + 64 + 128 + 256 + 512 + 1024);
  CHECK(free_calls == 2005);
  CHECK(by_ref == 5);
}

namespace audit_types {

int global_value = 3;
int& global_ref() {
  return global_value;
}
std::unique_ptr<int> make_owned() {
  return std::make_unique<int>(4);
}
const std::string make_const_text() {
  return "const";
}  // NOLINT(readability-const-return-type)

}  // namespace audit_types

TEST_CASE("run and blocking return references, move-only, const and over-aligned results",
          "[runtime][blocking][audit-types]") {
  using namespace audit_types;
  int& ref = goro::run(global_ref);  // a function, by reference
  CHECK(&ref == &global_value);
  CHECK(*goro::run(&make_owned) == 4);  // a function pointer
  CHECK(goro::run(make_const_text) == "const");
  auto mutable_main = [n = 1]() mutable { return ++n; };
  CHECK(goro::run(mutable_main) == 2);
  CHECK(goro::run(mutable_main) == 3);  // invoked as an lvalue: the state is the caller's
  goro::run([] {
    int& r = goro::blocking(global_ref);
    CHECK(&r == &global_value);
    CHECK(*goro::blocking(make_owned) == 4);
    CHECK(goro::blocking(&make_const_text) == "const");
    aligned<256> a = goro::blocking([] { return aligned<256>(9); });
    CHECK(a.id == 9);
    auto block = goro::blocking([] {
      std::array<char, 16 * 1024> b{};
      b.back() = 'q';
      return b;
    });
    CHECK(block.back() == 'q');
    int counter = 0;
    auto step = [&counter]() mutable { return ++counter; };
    CHECK(goro::blocking(step) == 1);
    CHECK(goro::blocking(std::ref(step)) == 2);
    CHECK(goro::blocking([](auto... none) { return sizeof...(none); }) == 0);
    std::unique_ptr<counted> c = goro::blocking([] { return std::make_unique<counted>(1); });
    CHECK(c->id == 1);
  });
  CHECK(counted::live == 0);
  CHECK(aligned<256>::misaligned == 0);
}

// A callable and arguments of a namespace that hijacks operator& and common names (tests/
// audit_types.hpp): go, run and blocking still call goro's own functions.
TEST_CASE("go, run and blocking take callables and arguments of a namespace that hijacks names",
          "[runtime][go][audit-types]") {
  std::atomic<int> total{0};
  const audit_hijack::adder add{&total};
  goro::run([&] {
    goro::go(add, audit_hijack::point{2});
    goro::go(add);
    goro::blocking(add);
    goro::blocking([&] { return add(audit_hijack::point{4}); });
    while (total.load() < 8) goro::yield();
  });
  goro::run(add);
  CHECK(total == 9);
}

// docs/go-to-goro.md, section "Goroutines and the runtime": every row's spelling, as written there.
namespace go_to_goro {
std::string received_text;  // what f saw, and whether its parameters were its own copies
bool f_got_copies = false;
std::atomic<bool> f_done{false};
const std::string* x_address = nullptr;
const int* y_address = nullptr;
void f(const std::string& x, const int& y) {
  received_text = x + std::to_string(y);
  f_got_copies = &x != x_address && &y != y_address;
  f_done.store(true, std::memory_order_release);
}
}  // namespace go_to_goro

TEST_CASE("go-to-goro: main, go with arguments and with a lambda", "[runtime][go-to-goro]") {
  using namespace go_to_goro;
  // `int main() { goro::run([] { ... }); }`: the lambda is goroutine 1; run returns its result.
  int result = goro::run([] { return goro::goroutine_id() == 1 ? 42 : -1; });
  CHECK(result == 42);

  // `goro::go(f, x, y);`: the arguments are decay-copied, as by std::thread, so f's reference
  // parameters see copies made by go, not the caller's variables (which main changes at once).
  goro::run([] {
    std::string x = "x=";
    int y = 7;
    x_address = &x;
    y_address = &y;
    goro::go(f, x, y);
    x = "changed";
    y = 0;
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!f_done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < give_up) {
      goro::yield();
    }
  });
  REQUIRE(f_done);
  CHECK(received_text == "x=7");
  CHECK(f_got_copies);

  // `goro::go([=] { ... });`: the lambda's copies are its own.
  int seen = goro::run([] {
    int value = 5;
    goro::chan<int> out;
    goro::go([=] { out.send(value * 2); });
    value = 0;
    return *out.recv();
  });
  CHECK(seen == 10);
}

TEST_CASE("go-to-goro: yield, num_goroutines, num_workers, GORO_MAXPROCS",
          "[runtime][go-to-goro]") {
  // `goro::yield();` lets another goroutine run: on one worker the spawned goroutine can set its
  // flag only while main yields (a yield that did not switch would spin to the guard's end).
  bool ran = goro::run(
      [] {
        std::atomic<bool> flag{false};
        goro::go([&] { flag = true; });
        auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!flag && std::chrono::steady_clock::now() < give_up) goro::yield();
        return flag.load();
      },
      {.workers = 1});
  CHECK(ran);

  // `goro::num_goroutines()` counts live goroutines, main included.
  std::pair<std::size_t, std::size_t> counts = goro::run([] {
    std::size_t alone = goro::num_goroutines();
    goro::chan<int> block;
    goro::go([block] { block.recv(); });
    std::size_t with_one = goro_test::live_goroutines_when(2);
    block.send(1);
    return std::pair{alone, with_one};
  });
  CHECK(counts.first == 1);
  CHECK(counts.second == 2);

  // `goro::run(fn, {.workers = n});` and `goro::num_workers()`.
  unsigned n = 3;
  CHECK(goro::run([] { return goro::num_workers(); }, {.workers = n}) == 3u);
  // `GORO_MAXPROCS=n` in the environment, read when run starts.
  const char* old = std::getenv("GORO_MAXPROCS");
  std::string saved = old ? old : "";
  setenv("GORO_MAXPROCS", "3", 1);
  unsigned from_environment = goro::run([] { return goro::num_workers(); });
  if (old) {
    setenv("GORO_MAXPROCS", saved.c_str(), 1);
  } else {
    unsetenv("GORO_MAXPROCS");
  }
  CHECK(from_environment == 3u);
}

TEST_CASE("go-to-goro: blocking, goroutine_id and in_goroutine", "[runtime][go-to-goro]") {
  // `auto r = goro::blocking([&] { return read_file(path); });` runs the call on a helper thread
  // while the goroutine parks: on one worker, another goroutine runs meanwhile and releases it.
  char path_template[] = "/tmp/goro-go-to-goro-XXXXXX";
  int fd = mkstemp(path_template);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "contents", 8) == 8);
  close(fd);
  const std::string path = path_template;
  std::atomic<bool> other_ran{false};
  bool helper_was_plain = false;
  auto read_file = [&](const std::string& name) {
    helper_was_plain = !goro::in_goroutine() && goro::goroutine_id() == 0;
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!other_ran && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::string text(8, '\0');
    int in = open(name.c_str(), O_RDONLY);
    text.resize(static_cast<std::size_t>(read(in, text.data(), text.size())));
    close(in);
    return text;
  };
  std::string r = goro::run(
      [&] {
        goro::go([&] { other_ran = true; });
        auto r = goro::blocking([&] { return read_file(path); });
        return r;
      },
      {.workers = 1});
  unlink(path_template);
  CHECK(r == "contents");
  CHECK(helper_was_plain);
  CHECK(other_ran);

  // `goro::goroutine_id()`: 1 for main, 0 on a plain thread; `goro::in_goroutine()`.
  std::uint64_t thread_id = 99;
  bool thread_in_goroutine = true;
  std::thread([&] {
    thread_id = goro::goroutine_id();
    thread_in_goroutine = goro::in_goroutine();
  }).join();
  CHECK(thread_id == 0);
  CHECK_FALSE(thread_in_goroutine);
  auto ids = goro::run([] {
    goro::chan<std::uint64_t> other;
    goro::go([other] { other.send(goro::goroutine_id()); });
    return std::tuple{goro::goroutine_id(), goro::in_goroutine(), *other.recv()};
  });
  CHECK(std::get<0>(ids) == 1);
  CHECK(std::get<1>(ids));
  CHECK(std::get<2>(ids) > 1);
}

// docs/go-to-goro.md, section "Semantic differences": every row's spelling, as written there.
// Not checked here: "thread_local means per worker thread" (where a goroutine resumes is the
// scheduler's choice, so no test can demand a move), "Objects must outlive the goroutines that
// use them" and "Never block a worker thread behind goro's back" (each describes what a program
// must not do; doing it is undefined or a stall). "Panics are exceptions" is in sync_test (once),
// "A select's cases refer to what they name" in select_test, "Errors are exceptions" in
// net_test, "Timers behave like Go 1.19's" in time_test.
namespace go_to_goro {
struct order_probe {  // records when it is destroyed and whether an exception was unwinding
  std::atomic<int>& clock;
  int& at;
  bool& unwinding;
  ~order_probe() {
    at = ++clock;
    unwinding = std::uncaught_exceptions() > 0;
  }
};
}  // namespace go_to_goro

TEST_CASE("go-to-goro: returning from main unwinds goroutines after main's locals",
          "[runtime][go-to-goro]") {
  using go_to_goro::order_probe;
  static const goro::chan<int> never;  // outlives the run, as the text requires
  std::atomic<int> clock{0};
  int local_at = 0, goroutine_at = 0, std_catch_at = 0;
  bool local_unwinding = true, goroutine_unwinding = false, std_catch_unwinding = false;
  bool caught_as_std_exception = false, rethrown = false;
  goro::run([&] {
    goro::go([&] {
      order_probe probe{clock, goroutine_at, goroutine_unwinding};
      never.recv();
    });
    // The stop is not a std::exception: `catch (const std::exception&)` lets it pass, and a
    // `catch (...)` that rethrows passes it on.
    goro::go([&] {
      order_probe probe{clock, std_catch_at, std_catch_unwinding};
      try {
        try {
          never.recv();
        } catch (const std::exception&) {
          caught_as_std_exception = true;
        }
      } catch (...) {
        rethrown = true;
        throw;
      }
    });
    goro_test::dump_when_count("[chan receive]:", 2);
    bool dummy = false;
    order_probe local{clock, local_at, dummy};
    local_unwinding = false;
  });
  CHECK_FALSE(local_unwinding);
  CHECK(local_at == 1);  // main's locals first
  CHECK(goroutine_at > 1);
  CHECK(std_catch_at > 1);
  CHECK(goroutine_unwinding);
  CHECK(std_catch_unwinding);
  CHECK_FALSE(caught_as_std_exception);
  CHECK(rethrown);
}

TEST_CASE("go-to-goro: goroutines are preempted at goro's operations that never wait",
          "[runtime][go-to-goro]") {
  // On one worker, main loops over operations that never have to wait — a select with a
  // default, try_ forms, and operations that may block but find what they need — and the other
  // goroutine gets to run only if those loops yield at the end of a time slice.
  enum class loop {
    select_default,
    try_recv,
    try_send,
    try_lock,
    try_lock_shared,
    try_acquire,
    buffered_channel,
    uncontended_lock,
    done_wait_group
  };
  for (loop kind :
       {loop::select_default, loop::try_recv, loop::try_send, loop::try_lock, loop::try_lock_shared,
        loop::try_acquire, loop::buffered_channel, loop::uncontended_lock, loop::done_wait_group}) {
    bool other_ran = goro::run(
        [kind] {
          std::atomic<bool> flag{false};
          goro::chan<int> empty(1), full(1), buffered(1);
          full.send(0);
          goro::mutex mu;
          goro::shared_mutex rw;
          goro::semaphore none(0);
          goro::wait_group zero;
          goro::go([&] { flag = true; });
          auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!flag && std::chrono::steady_clock::now() < give_up) {
            switch (kind) {
              case loop::select_default:
                goro::select(goro::on_recv(empty), goro::on_default());
                break;
              case loop::try_recv: (void)empty.try_recv(); break;
              case loop::try_send: (void)full.try_send(1); break;
              case loop::try_lock:
                if (mu.try_lock()) mu.unlock();
                break;
              case loop::try_lock_shared:
                if (rw.try_lock_shared()) rw.unlock_shared();
                break;
              case loop::try_acquire: (void)none.try_acquire(1); break;
              case loop::buffered_channel:
                buffered.send(1);
                buffered.recv();
                break;
              case loop::uncontended_lock:
                mu.lock();
                mu.unlock();
                break;
              case loop::done_wait_group: zero.wait(); break;
            }
          }
          return flag.load();
        },
        {.workers = 1});
    INFO("loop " << static_cast<int>(kind));
    CHECK(other_ran);
  }
}

// ... and one that computes without calling goro holds up the return of run until it reaches
// an operation: run returns only after the spinning goroutine has seen the release.
TEST_CASE("go-to-goro: a goroutine that never calls goro holds up the return of run",
          "[runtime][go-to-goro]") {
  std::atomic<bool> spinning{false}, release{false}, spinner_finished{false};
  std::thread releaser([&] {
    spinning.wait(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    release = true;
  });
  goro::run(
      [&] {
        goro::go([&] {
          spinning = true;
          spinning.notify_one();
          auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!release && std::chrono::steady_clock::now() < give_up) {
          }
          spinner_finished = true;
        });
        goro::blocking([&] { spinning.wait(false); });  // main returns while it spins
      },
      {.workers = 2});
  const bool finished_when_run_returned = spinner_finished;
  releaser.join();
  CHECK(finished_when_run_returned);
}

TEST_CASE("go-to-goro: plain threads interoperate, one run at a time", "[runtime][go-to-goro]") {
  // Channels and sync objects work with no run active: plain threads block on them.
  goro::chan<int> ch;
  goro::mutex mu;
  int got = 0;
  std::thread sender([&] {
    std::lock_guard lock(mu);
    ch.send(11);
  });
  got = *ch.recv();
  sender.join();
  CHECK(got == 11);
  CHECK(mu.try_lock());
  mu.unlock();

  // `goro::go` works from a plain thread while a run is active (main waits for the thread in
  // `blocking`, so deadlock detection knows someone may still wake it).
  int from_thread = goro::run([] {
    goro::chan<int> out(1);
    std::thread starter(
        [out] { goro::go([out] { out.send(goro::goroutine_id() > 1 ? 5 : -1); }); });
    goro::blocking([&] { starter.join(); });
    return *out.recv();
  });
  CHECK(from_thread == 5);

  // A second run while one is active throws goro::error, nested or from another thread; `go`
  // outside any run throws too; runs may follow one another.
  bool nested_threw = goro::run([] {
    try {
      goro::run([] {});
    } catch (const goro::error&) {
      return true;
    }
    return false;
  });
  CHECK(nested_threw);
  bool concurrent_threw = goro::run([] {
    return goro::blocking([] {
      try {
        goro::run([] {});
      } catch (const goro::error&) {
        return true;
      }
      return false;
    });
  });
  CHECK(concurrent_threw);
  CHECK_THROWS_AS(goro::go([] {}), goro::error);
  CHECK(goro::run([] { return 1; }) + goro::run([] { return 2; }) == 3);
}

// "Returning from main ends the goroutines": a goroutine looping on yield is stopped there too,
// and a destructor that blocks during the unwinding is not interrupted: it completes its
// operation when another goroutine's cleanup meets it (here a destructor that sends), and the
// unwinding goes on after it. A swallowing `catch (...)` keeps its goroutine running ("Unwinding
// is an exception").
// API 1.1: a goroutine is stopped at its next yield once main has returned, also when it yielded
// just before: resumed by the shutdown, it is unwound at that yield rather than going on past
// it. One worker, so that nothing runs between main's flag and its return.
TEST_CASE("a goroutine that yielded as main returned is unwound at that yield",
          "[runtime][shutdown]") {
  std::atomic<bool> main_returning{false};
  bool ran_past = false;
  bool unwound = false;
  goro::run(
      [&] {
        goro::go([&] {
          goro_test::unwinding_probe probe{unwound};
          for (;;) {
            goro::yield();
            if (main_returning.load()) {
              ran_past = true;  // resumed normally after main returned
              return;
            }
          }
        });
        for (int i = 0; i < 10; ++i) goro::yield();  // the goroutine is in its loop
        main_returning.store(true);
      },
      with_workers(1));
  CHECK(unwound);
  CHECK_FALSE(ran_past);
}

TEST_CASE("go-to-goro: unwinding stops yield loops, lets cleanup block, and can be swallowed",
          "[runtime][go-to-goro]") {
  static const goro::chan<int> never;
  static const goro::chan<int> handshake;
  std::atomic<int> received_in_destructor{0};
  std::atomic<bool> yielder_stopped{false}, sender_done{false};
  std::atomic<bool> ran_after_swallow{false};
  bool receiver_unwinding = false;
  goro::run([&] {
    goro::go([&] {
      struct on_exit {
        std::atomic<bool>& stopped;
        ~on_exit() { stopped = true; }
      } guard{yielder_stopped};
      for (;;) goro::yield();
    });
    goro::go([&] {
      goro_test::unwinding_probe probe{receiver_unwinding};  // destroyed after the receive
      struct receive_on_exit {
        std::atomic<int>& got;
        ~receive_on_exit() { got = handshake.recv().value_or(-1); }
      } guard{received_in_destructor};
      never.recv();
    });
    goro::go([&] {
      struct send_on_exit {
        std::atomic<bool>& done;
        ~send_on_exit() {
          handshake.send(7);
          done = true;
        }
      } guard{sender_done};
      never.recv();
    });
    goro::go([&] {
      try {
        never.recv();
      } catch (...) {  // swallowed: the goroutine goes on, to be stopped at its next operation
      }
      ran_after_swallow = true;
      never.recv();
    });
    goro_test::dump_when_count("[chan receive]:", 3);
  });
  CHECK(yielder_stopped);
  CHECK(received_in_destructor == 7);
  CHECK(sender_done);
  CHECK(receiver_unwinding);
  CHECK(ran_after_swallow);
}

// ... and one whose destructor blocks with nothing left to wake it is abandoned, with a message,
// and its remaining destructors do not run; the run still returns.
TEST_CASE("go-to-goro: a goroutine stuck in a destructor while unwound is abandoned",
          "[runtime][go-to-goro]") {
  auto result = goro_test::run_in_child([] {
    static const goro::chan<int> never;
    goro::run([] {
      goro::go([] {
        struct outer_guard {
          ~outer_guard() { std::fprintf(stderr, "outer destroyed\n"); }
        } outer;
        struct stuck_guard {
          ~stuck_guard() { never.recv(); }
        } stuck;
        never.recv();
      });
      goro_test::dump_when({"[chan receive]:"});
    });
    std::fprintf(stderr, "run returned\n");
    return 0;
  });
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.err, Catch::Contains("blocked while being unwound at shutdown; abandoning it "
                                         "(its remaining destructors do not run)"));
  CHECK_THAT(result.err, !Catch::Contains("outer destroyed"));
  CHECK_THAT(result.err, Catch::Contains("run returned"));
}

// ---------------------------------------------------------------------------------------------
// Go's memory model (go.dev/ref/mem) for starting goroutines, blocking and run. Each case shares
// plain, non-atomic data through nothing but the operation under test: a missing edge is a wrong
// value here and a data race under ThreadSanitizer.

// "The go statement that starts a new goroutine is synchronized before the start of the
// goroutine's execution." The spawner (the main goroutine, another goroutine or a plain thread)
// writes a slot, then starts a goroutine that reads it and its decay-copied arguments, and
// records what it saw in its own slot.
TEST_CASE("memory model: go happens before the goroutine starts, arguments too",
          "[runtime][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  constexpr int spawner_count = 3;  // the main goroutine, a goroutine, a plain thread
  const auto n = static_cast<std::size_t>(rounds * spawner_count);
  std::vector<goro_test::payload> slots(n);
  std::vector<int> saw(n, 0);
  goro::run(
      [&] {
        goro::wait_group started;
        started.add(static_cast<std::ptrdiff_t>(n));
        auto spawn = [&](int first) {
          for (int i = first; i < static_cast<int>(n); i += spawner_count) {
            const auto si = static_cast<std::size_t>(i);
            slots[si].write(i);
            goro::go(
                [&slots, &saw, &started, si, i](const std::string& text,
                                                const std::vector<int>& items, int number) {
                  saw[si] = slots[si].holds(i) && text == "value " + std::to_string(i) &&
                                    items == std::vector<int>(4, i) && number == i
                                ? 1
                                : -1;
                  started.done();
                },
                "value " + std::to_string(i), std::vector<int>(4, i), i);
          }
        };
        goro_test::parties parties;
        parties.start(false, [&] { spawn(1); });
        parties.start(true, [&] { spawn(2); });
        spawn(0);
        parties.wait();
        started.wait();
      },
      goro_test::memory_model_options(workers));
  CHECK(std::count(saw.begin(), saw.end(), 1) == static_cast<long>(n));
}

// blocking(fn): the caller's writes before the call are seen by fn, and fn's writes (and its
// result) by the caller after blocking returns; from goroutines, and from plain threads (where
// fn runs in place).
TEST_CASE("memory model: blocking's function sees the caller's writes, the caller sees its writes",
          "[runtime][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(500, 5));
  constexpr std::size_t caller_count = 4;
  std::array<int, caller_count> wrong{};
  std::array<int, caller_count> calls{};
  goro::run(
      [&] {
        goro_test::parties parties;
        for (std::size_t c = 0; c < caller_count; ++c) {
          parties.start(c == 3, [&, c] {
            goro_test::payload in;
            goro_test::payload out;
            for (int i = 0; i < rounds; ++i) {
              in.write(i);
              std::string result = goro::blocking([&] {
                const bool ok = in.holds(i);
                out.write(ok ? i + 1 : -1);
                return "result " + std::to_string(i);
              });
              if (!out.holds(i + 1) || result != "result " + std::to_string(i)) ++wrong[c];
              ++calls[c];
            }
          });
        }
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  for (std::size_t c = 0; c < caller_count; ++c) {
    CHECK(calls[c] == rounds);
    CHECK(wrong[c] == 0);
  }
}

// run: the caller's writes before run are seen by main_fn (and by the goroutines it starts);
// main_fn's writes, and its result, are seen by the caller when run returns, on the process's
// main thread and on another thread.
TEST_CASE("memory model: run's caller and main_fn see each other's writes",
          "[runtime][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const bool on_thread = GENERATE(false, true);
  const int rounds = static_cast<int>(goro_test::scaled(100, 10));
  int wrong = 0;
  int runs = 0;
  auto rounds_of_run = [&] {
    for (int i = 0; i < rounds; ++i) {
      goro_test::payload before;
      goro_test::payload after;
      before.write(i);
      std::vector<int> result = goro::run(
          [&] {
            const bool saw_before = before.holds(i);
            goro::chan<int> seen(1);
            goro::go([&before, seen, i] { seen.send(before.holds(i) ? 1 : 0); });
            after.write(saw_before && seen.recv() == 1 ? i : -1);
            return std::vector<int>(4, i);
          },
          goro_test::memory_model_options(workers));
      if (!after.holds(i) || result != std::vector<int>(4, i)) ++wrong;
      ++runs;
    }
  };
  if (on_thread) {
    std::thread t(rounds_of_run);
    t.join();
  } else {
    rounds_of_run();
  }
  CHECK(runs == rounds);
  CHECK(wrong == 0);
}

// ---------------------------------------------------------------------------------------------
// The contract, clause by clause (docs/API.md, section 1; docs/contract-coverage/1-runtime.md
// lists every clause with the cases that check it). The cases below check the clauses that no
// case above checks directly.

namespace contract {

// returns_long: a callable whose result type run and blocking must pass on.
struct returns_long {
  long operator()() const { return 1; }
};

// ref_qualified: a callable whose result depends on its value category. run and blocking
// return std::invoke_result_t<F&>: they invoke it as an lvalue, even when given an rvalue.
struct ref_qualified {
  int operator()() & { return 1; }
  std::string operator()() && { return "invoked as an rvalue"; }
};

// stack_mapping_flags: the VmFlags line of /proc/self/smaps for the mapping that holds
// `address` ("" if no mapping holds it).
std::string stack_mapping_flags(std::uintptr_t address) {
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    // A mapping's first line starts with its range in lower-case hex ("7f12a000-7f12c000 rw-p
    // ..."); the lines of its fields start with their capitalised names ("VmFlags: rd wr ...").
    const char first = line.empty() ? ' ' : line[0];
    if ((first >= '0' && first <= '9') || (first >= 'a' && first <= 'f')) {
      std::istringstream range(line);
      std::uintptr_t start = 0;
      std::uintptr_t end = 0;
      char dash = 0;
      range >> std::hex >> start >> dash >> end;
      inside = dash == '-' && start <= address && address < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

}  // namespace contract

// API 1, the declarations: a scoped stack_guard of three values; options an aggregate of the
// contract's member types; the results of yield, num_workers, num_goroutines, in_goroutine,
// goroutine_id and go; run's options defaulted.
TEST_CASE("the runtime's declarations have the contract's types", "[runtime][contract]") {
  STATIC_REQUIRE(std::is_enum_v<goro::stack_guard>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<goro::stack_guard, int>);  // enum class
  STATIC_REQUIRE(goro::stack_guard::automatic != goro::stack_guard::always);
  STATIC_REQUIRE(goro::stack_guard::automatic != goro::stack_guard::never);
  STATIC_REQUIRE(goro::stack_guard::always != goro::stack_guard::never);
  STATIC_REQUIRE(std::is_aggregate_v<goro::options>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::options::workers), unsigned>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::options::stack_size), std::size_t>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::options::guard), goro::stack_guard>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::options::detect_deadlock), bool>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::yield()), void>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::num_workers()), unsigned>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::num_goroutines()), std::size_t>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::in_goroutine()), bool>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::goroutine_id()), std::uint64_t>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::go(contract::returns_long{})), void>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::go(&std::string::size, std::string())), void>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::run(contract::returns_long{})), long>);
  STATIC_REQUIRE(
      std::is_same_v<decltype(goro::run(contract::returns_long{}, goro::options{})), long>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::blocking(contract::returns_long{})), long>);
}

// API 1: run and blocking return std::invoke_result_t<F&>: the function is invoked as an lvalue.
TEST_CASE("run and blocking invoke their function as an lvalue, even one passed as an rvalue",
          "[runtime][contract]") {
  STATIC_REQUIRE(std::is_same_v<decltype(goro::run(contract::ref_qualified{})), int>);
  STATIC_REQUIRE(std::is_same_v<decltype(goro::blocking(contract::ref_qualified{})), int>);
  CHECK(goro::run(contract::ref_qualified{}) == 1);
  const int from_goroutine = goro::run([] { return goro::blocking(contract::ref_qualified{}); });
  CHECK(from_goroutine == 1);
  CHECK(goro::blocking(contract::ref_qualified{}) == 1);  // on a plain thread
}

// API 1.1: GORO_MAXPROCS is read when run starts: each run reads it anew, and a change made
// while a run is active leaves that run's workers as they are.
TEST_CASE("GORO_MAXPROCS is read when each run starts, and not while it runs",
          "[runtime][contract]") {
  const char* old = std::getenv("GORO_MAXPROCS");
  const std::string saved = old != nullptr ? old : "";
  setenv("GORO_MAXPROCS", "1", 1);
  const auto [at_start, after_change] = goro::run([] {
    const unsigned first = goro::num_workers();
    setenv("GORO_MAXPROCS", "3", 1);  // one worker: no other goroutine reads the environment
    goro::yield();
    return std::pair{first, goro::num_workers()};
  });
  const unsigned next_run = goro::run([] { return goro::num_workers(); });
  if (old != nullptr) {
    setenv("GORO_MAXPROCS", saved.c_str(), 1);
  } else {
    unsetenv("GORO_MAXPROCS");
  }
  CHECK(at_start == 1u);
  CHECK(after_change == 1u);
  CHECK(next_run == 3u);
}

// API 1.3: a plain thread counts from its first call "during this run": one that called goro
// only before the run, with no run active or in an earlier run, and is still alive, does not
// keep the run's deadlock from being reported.
TEST_CASE("a live plain thread that used goro only before this run does not hide its deadlock",
          "[runtime][contract][deadlock]") {
  const bool in_earlier_run = GENERATE(false, true);
  INFO((in_earlier_run ? "the thread used goro in an earlier run" : "with no run active"));
  goro::chan<int> used(1);
  std::atomic<bool> stop{false};
  std::thread user;
  auto start_user = [&] {
    user = std::thread([&] {
      used.send(1);  // the thread's only call into goro
      while (!stop.load()) std::this_thread::sleep_for(1ms);
    });
  };
  if (in_earlier_run) {
    goro::run([&] {
      start_user();
      (void)used.recv();  // the thread has called goro during this (earlier) run
    });
  } else {
    start_user();
    (void)used.recv();  // on this plain thread, with no run active
  }
  bool deadlocked = false;
  try {
    goro::run([&] { (void)used.recv(); });  // nobody sends: a deadlock
  } catch (const goro::deadlock_error&) {
    deadlocked = true;
  }
  stop.store(true);
  user.join();
  CHECK(deadlocked);
}

// API 1.4: every goroutine's stack, main's included, is options.stack_size: a goroutine that
// needs more than that overflows (a case above shows that it may use nearly all of it).
TEST_CASE("a goroutine or main that needs more than options.stack_size overflows",
          "[runtime][contract][stack]") {
  if (goro::detail::sanitized_build) return;  // the sanitizers report overflows their own way
  const auto guard = GENERATE(goro::stack_guard::always, goro::stack_guard::automatic);
  const bool in_main = GENERATE(false, true);
  INFO("guard mode " << static_cast<int>(guard) << (in_main ? ", main" : ", a goroutine"));
  constexpr int no_overflow = 3;
  auto result = goro_test::run_in_child([guard, in_main] {
    goro::options o;
    o.stack_size = 64 * 1024;
    o.guard = guard;
    goro::run(
        [in_main] {
          // The frames already on the stack and this one together need more than 64 KiB.
          if (in_main) {
            use_stack(64 * 1024);
            std::_Exit(no_overflow);
          }
          goro::wait_group wg;
          wg.add(1);
          goro::go([&wg] {
            use_stack(64 * 1024);
            wg.done();
          });
          wg.wait();
        },
        o);
    return no_overflow;
  });
  INFO("signal " << result.signal << ", exit code " << result.exit_code << ", stderr "
                 << result.err);
  CHECK(result.signaled);
  CHECK(result.signal == SIGABRT);
  CHECK_THAT(result.err, Catch::Contains(" overflowed its 65536-byte stack"));
}

// API 1.4: every goroutine's stack, main's included, is address space reserved without
// committing memory (MAP_NORESERVE: the kernel shows the mapping's flag `nr`).
TEST_CASE("every goroutine's stack, main's included, is mapped with MAP_NORESERVE",
          "[runtime][contract][stack]") {
  std::string overcommit;
  std::ifstream("/proc/sys/vm/overcommit_memory") >> overcommit;
  if (overcommit == "2") {
    WARN("strict overcommit: the kernel reserves every mapping, MAP_NORESERVE or not");
    return;
  }
  const auto guard =
      GENERATE(goro::stack_guard::automatic, goro::stack_guard::always, goro::stack_guard::never);
  INFO("guard mode " << static_cast<int>(guard));
  std::string main_flags;
  std::string goroutine_flags;
  goro::options o;
  o.guard = guard;
  o.workers = 2;
  goro::run(
      [&] {
        goro::chan<std::uintptr_t> address;
        goro::chan<int> release;
        goro::go([address, release] {
          address.send(reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)));
          (void)release.recv();  // keeps its stack in use while main reads the maps
        });
        const auto goroutine_frame = *address.recv();
        main_flags = contract::stack_mapping_flags(
            reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)));
        goroutine_flags = contract::stack_mapping_flags(goroutine_frame);
        release.send(1);
      },
      o);
  INFO("main's stack: " << main_flags << "; the goroutine's: " << goroutine_flags);
  CHECK_THAT(main_flags + " ", Catch::Contains(" nr "));
  CHECK_THAT(goroutine_flags + " ", Catch::Contains(" nr "));
}
