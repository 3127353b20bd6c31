// Tests of <goro/debug.hpp> (dump, runtime_stats) and of deadlock detection (API 1.3, 8).
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/debug.hpp>
#include <goro/detail/random.hpp>
#include <goro/goro.hpp>
#include <goro/group.hpp>
#include <goro/net.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/time.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;

TEST_CASE("dump lists every goroutine with its state", "[debug][dump]") {
  goro::run([] {
    goro::wait_group parked, release;
    release.add(1);
    parked.add(2);
    goro::go([&] {
      parked.done();
      release.wait();
    });
    goro::go([&] {
      parked.done();
      goro::sleep_for(1h);
    });
    parked.wait();
    const std::string text = goro_test::dump_when({"[wait_group]:", "[sleep]:"});
    // Each header is followed by where its goroutine came from: main's by the line saying so.
    CHECK_THAT(text, Catch::Contains("goroutine 1 [running]:\nmain goroutine\n"));
    CHECK_THAT(text, Catch::Contains("[wait_group]:\ncreated by goroutine 1\n"));
    CHECK_THAT(text, Catch::Contains("[sleep]:\ncreated by goroutine 1\n"));
    release.done();
  });
}

TEST_CASE("dump shows goroutines in a blocking call and goroutines waiting to run",
          "[debug][dump]") {
  goro::run(
      [] {
        std::atomic<bool> release{false};
        goro::wait_group finished;
        finished.add(2);
        goro::go([&] {
          goro::blocking([&] {
            while (!release.load()) std::this_thread::sleep_for(1ms);
          });
          finished.done();
        });
        // One worker, busy with main until main parks: a goroutine spawned now waits its turn.
        const std::string blocked = goro_test::dump_when({"[blocking]:"});
        goro::go([&] { finished.done(); });
        std::ostringstream out;
        goro::dump(out);
        CHECK_THAT(blocked, Catch::Contains("[blocking]:\ncreated by goroutine 1"));
        CHECK_THAT(out.str(), Catch::Contains("[runnable]:\ncreated by goroutine 1"));
        CHECK_THAT(out.str(), Catch::Contains("goroutine 1 [running]:"));
        release.store(true);
        finished.wait();
      },
      goro::options{.workers = 1});
}

TEST_CASE("dump writes nothing outside a run", "[debug][dump]") {
  std::ostringstream out;
  goro::dump(out);
  CHECK(out.str().empty());
}

TEST_CASE("runtime_stats counts spawns, finishes, switches and parks", "[debug][stats]") {
  const goro::stats before = goro::runtime_stats();
  goro::run([] {
    goro::wait_group wg;
    for (int i = 0; i < 100; ++i) {
      wg.add(1);
      goro::go([&] {
        goro::sleep_for(1ms);
        wg.done();
      });
    }
    wg.wait();
  });
  const goro::stats after = goro::runtime_stats();
  CHECK(after.spawned - before.spawned == 101);
  CHECK(after.finished - before.finished == 101);
  CHECK(after.parks - before.parks >= 100);
  CHECK(after.context_switches - before.context_switches >= 201);
}

namespace {
// header_states: the state of every header line of a dump ("goroutine 7 [chan receive]:").
std::vector<std::string> header_states(const std::string& dump) {
  std::vector<std::string> states;
  std::istringstream lines(dump);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("goroutine ", 0) != 0) continue;
    const auto open = line.find('[');
    const auto close = line.rfind("]:");
    states.push_back(
        open != line.npos && close != line.npos ? line.substr(open + 1, close - open - 1) : line);
  }
  return states;
}

bool is_contract_state(const std::string& state) {
  static const std::vector<std::string> names = {
      "running",    "runnable", "chan receive", "chan send", "select", "sleep",   "mutex",
      "wait_group", "cond",     "once",         "semaphore", "io",     "blocking"};
  for (const std::string& name : names) {
    if (state == name || state.rfind(name + " (", 0) == 0 || state.rfind(name + ", ", 0) == 0) {
      return true;
    }
  }
  return false;
}
}  // namespace

TEST_CASE("dump shows only the contract's states while goroutines start and end around it",
          "[debug][dump]") {
  goro::run(
      [] {
        std::atomic<bool> stop{false};
        goro::wait_group churning;
        churning.add(1);
        goro::go([&] {
          while (!stop.load()) {
            for (int i = 0; i < 16; ++i) goro::go([] {});
            goro::yield();
          }
          churning.done();
        });
        std::size_t bad = 0;
        std::string example;
        for (int i = 0; i < 300; ++i) {
          std::ostringstream out;
          goro::dump(out);
          for (const std::string& state : header_states(out.str())) {
            if (!is_contract_state(state)) {
              ++bad;
              example = state;
            }
          }
          goro::yield();
        }
        stop.store(true);
        churning.wait();
        INFO("e.g. [" << example << "]");
        CHECK(bad == 0);
      },
      goro::options{.workers = 2});
}

TEST_CASE("runtime_stats read by a plain thread never goes down, even as runs end",
          "[debug][stats]") {
  std::atomic<bool> stop{false};
  std::atomic<int> decreases{0};
  std::thread reader([&] {
    goro::stats last = goro::runtime_stats();
    while (!stop.load()) {
      const goro::stats now = goro::runtime_stats();
      if (now.spawned < last.spawned || now.finished < last.finished || now.parks < last.parks ||
          now.context_switches < last.context_switches || now.steals < last.steals) {
        decreases.fetch_add(1);
      }
      last = now;
    }
  });
  for (int run = 0; run < 40; ++run) {
    goro::run(
        [] {
          goro::wait_group wg;
          for (int i = 0; i < 50; ++i) {
            wg.add(1);
            goro::go([&] {
              goro::yield();
              wg.done();
            });
          }
          wg.wait();
        },
        goro::options{.workers = 2});
  }
  stop.store(true);
  reader.join();
  CHECK(decreases.load() == 0);
}
TEST_CASE("a main goroutine waiting for nobody is a deadlock", "[debug][deadlock]") {
  try {
    goro::run([] {
      goro::wait_group wg;
      wg.add(1);
      wg.wait();
    });
    FAIL("run returned");
  } catch (const goro::deadlock_error& e) {
    const std::string what = e.what();
    CHECK(what.rfind("all goroutines are asleep - deadlock!", 0) == 0);
    CHECK_THAT(what, Catch::Contains("goroutine 1 [wait_group]:"));
  }
}

namespace {

// deadlock_report: the message of the deadlock_error `main_body` ends its run with ("" if none).
template <class F>
std::string deadlock_report(F main_body) {
  try {
    goro::run(main_body, goro::options{.workers = 2});
  } catch (const goro::deadlock_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("main receiving from a channel nobody sends to is a deadlock", "[debug][deadlock]") {
  const std::string report = deadlock_report([] {
    goro::chan<int> nobody_sends;
    goro::go([nobody_sends] { nobody_sends.recv(); });  // a second receiver, also stuck
    nobody_sends.recv();
  });
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
  CHECK_THAT(report, Catch::Contains("goroutine 1 [chan receive]:"));
  CHECK_THAT(report, Catch::Contains("[chan receive]:\ncreated by goroutine 1"));
}

TEST_CASE("goroutines in a cycle of mutexes are a deadlock", "[debug][deadlock]") {
  goro::mutex first, second;  // outlive the run: the goroutines are unwound after main
  const std::string report = deadlock_report([&] {
    goro::wait_group both_hold_one, done;
    both_hold_one.add(2);
    done.add(2);
    goro::go([&] {
      std::lock_guard a(first);
      both_hold_one.done();
      both_hold_one.wait();
      std::lock_guard b(second);
      done.done();
    });
    goro::go([&] {
      std::lock_guard b(second);
      both_hold_one.done();
      both_hold_one.wait();
      std::lock_guard a(first);
      done.done();
    });
    done.wait();
  });
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
  CHECK_THAT(report, Catch::Contains("goroutine 1 [wait_group]:"));
  const auto first_mutex = report.find("[mutex]:");
  REQUIRE(first_mutex != std::string::npos);
  CHECK(report.find("[mutex]:", first_mutex + 1) != std::string::npos);  // both of them
  CHECK(first.try_lock());  // unwinding released both locks
  CHECK(second.try_lock());
  first.unlock();
  second.unlock();
}

TEST_CASE("a select over nil channels only is a deadlock", "[debug][deadlock]") {
  const std::string report = deadlock_report([] {
    goro::chan<int> nil_a{nullptr};
    goro::chan<std::string> nil_b{nullptr};
    goro::select(goro::on_recv(nil_a), goro::on_send(nil_b, std::string("never")));
  });
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
  CHECK_THAT(report, Catch::Contains("goroutine 1 [select]:"));  // as Go reports it
}

TEST_CASE("a select with no cases is a deadlock, reported as Go reports it", "[debug][deadlock]") {
  const std::string report = deadlock_report([] { goro::select(); });
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
  CHECK_THAT(report, Catch::Contains("goroutine 1 [select (no cases)]:"));
}

// Ports of Go 1.19's deadlock tests (src/runtime/crash_test.go, testdata/testprog/deadlock.go,
// testdata/testprognet/net.go). TestSimpleDeadlock is the case above ("a select with no cases").
// Skipped: TestInitDeadlock (no package init in C++), TestLockedDeadlock (LockOSThread),
// TestGoexitDeadlock (no Goexit).

// Go's TestLockedDeadlock2, without LockOSThread: a goroutine blocks for ever, main sleeps and
// then blocks for ever too.
TEST_CASE("a goroutine and then main blocked for ever in select are a deadlock",
          "[debug][deadlock][go]") {
  const std::string report = deadlock_report([] {
    goro::go([] { goro::select(); });
    goro::sleep_for(1ms);
    goro::select();
  });
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
  CHECK_THAT(report, Catch::Contains("goroutine 1 [select (no cases)]:"));
  const auto states = header_states(report);
  CHECK(std::count(states.begin(), states.end(), "select (no cases)") == 2);
}

// Go's TestNoHelperGoroutines: a program with a pending timer (and a finalizer) that panics shows
// only goroutine 1. Here main has made every kind of thing that might need a helper: timers,
// a ticker, a context deadline, a listener on the poller, a blocking() call; the dump lists main
// alone, as `num_goroutines` counts it.
TEST_CASE("a dump shows no goroutine of goro's own", "[debug][dump][go]") {
  goro::run([] {
    goro::timer pending(1h);
    auto after_an_hour = goro::after(1h);
    goro::ticker ticking(1h);
    auto deadline = goro::with_timeout(goro::background(), 1h);
    auto listening = goro::net::listen("127.0.0.1:0");
    (void)goro::blocking([] { return 0; });
    std::ostringstream out;
    goro::dump(out);
    INFO(out.str());
    const auto states = header_states(out.str());
    REQUIRE(states.size() == 1);
    CHECK(states[0] == "running");
    CHECK(out.str().rfind("goroutine 1 [running]:", 0) == 0);
    CHECK(goro::num_goroutines() == 1);
  });
}

// Go's TestNetpollDeadlock: a dial that fails during package initialisation (nothing listens on
// its port), then a main that only prints "done". The failed dial leaves nothing behind that
// holds up or ends the run: here, made before the run on a plain thread and again inside it.
TEST_CASE("a failed dial before the run or in it leaves the run to end normally",
          "[debug][deadlock][go]") {
  std::string address;
  {
    auto closed = goro::net::listen("127.0.0.1:0");
    address = closed.address();
  }  // closed: nothing listens there now
  CHECK_THROWS_AS(goro::net::dial(address), std::system_error);
  const std::string result = goro::run(
      [&address] {
        CHECK_THROWS_AS(goro::net::dial(address), std::system_error);
        return std::string("done");
      },
      goro::options{.workers = 2});
  CHECK(result == "done");
}

TEST_CASE("a live plain thread that has not touched goro does not hide a deadlock",
          "[debug][deadlock]") {
  std::atomic<bool> stop{false};
  std::thread bystander([&] {  // calls nothing of goro's: invisible to the detector
    while (!stop.load()) std::this_thread::sleep_for(1ms);
  });
  const std::string report = deadlock_report([] {
    goro::chan<int> nobody_sends;
    nobody_sends.recv();
  });
  stop.store(true);
  bystander.join();
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
}

TEST_CASE("a plain thread that only constructs and copies handles does not hide a deadlock",
          "[debug][deadlock]") {
  std::atomic<bool> start{false};
  std::atomic<bool> copied{false};
  std::atomic<bool> stop{false};
  goro::chan<int> shared;
  std::thread holder([&] {
    while (!start.load()) std::this_thread::sleep_for(1ms);
    goro::chan<int> own(4);                              // constructing a handle, during the run
    goro::chan<int> copy = shared;                       // copying one
    [[maybe_unused]] goro::wait_group group_of_its_own;  // constructing one, too
    copied.store(true);
    while (!stop.load()) std::this_thread::sleep_for(1ms);
  });
  const std::string report = deadlock_report([&] {
    start.store(true);
    while (!copied.load()) goro::sleep_for(1ms);
    shared.recv();
  });
  stop.store(true);
  holder.join();
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
}

TEST_CASE("a plain thread that used goro stops counting when it exits", "[debug][deadlock]") {
  const std::string report = deadlock_report([] {
    goro::chan<int> ch(1);
    std::thread user([ch] { ch.send(1); });  // counts from here until it exits
    goro::blocking([&] { user.join(); });
    (void)ch.recv();
    ch.recv();  // nobody else: a deadlock, though a thread used goro during this run
  });
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
}

TEST_CASE("a deadlock unwinds every goroutine before run throws, main last", "[debug][deadlock]") {
  // The goroutines refer to main's locals (as Go closures do), so main is unwound after them.
  std::mutex order_lock;
  std::vector<std::string> order;
  struct counted {
    std::mutex* lock;
    std::vector<std::string>* order;
    std::string name;
    ~counted() {
      std::lock_guard guard(*lock);
      order->push_back(name);
    }
  };
  CHECK_THROWS_AS(goro::run([&] {
                    counted in_main{&order_lock, &order, "main"};
                    goro::wait_group a, b;
                    a.add(1);
                    b.add(1);
                    for (int i = 0; i < 3; ++i) {
                      goro::go([&, i] {
                        counted in_child{&order_lock, &order, "child " + std::to_string(i)};
                        a.wait();  // `a` lives in main's frame
                      });
                    }
                    b.wait();
                  }),
                  goro::deadlock_error);
  REQUIRE(order.size() == 4);
  CHECK(order.back() == "main");
}

// In Go a deadlock is fatal: nothing runs after it. Here the other goroutines are unwound
// first, and their destructors may do what main waits for (the C++ form of `defer wg.Done()`);
// main must still not return from its wait and run on.
TEST_CASE("what the unwinding does after a deadlock never lets main run on", "[debug][deadlock]") {
  bool main_ran_on = false;
  SECTION("a wait_group released by a goroutine's destructor") {
    struct done_on_exit {
      goro::wait_group& wg;
      ~done_on_exit() { wg.done(); }
    };
    CHECK_THROWS_AS(goro::run([&] {
                      goro::wait_group wg;
                      goro::chan<int> never;
                      wg.add(1);
                      goro::go([&] {
                        done_on_exit guard{wg};
                        never.recv();
                      });
                      wg.wait();
                      main_ran_on = true;
                    }),
                    goro::deadlock_error);
  }
  SECTION("a group whose task is unwound") {
    CHECK_THROWS_AS(goro::run([&] {
                      goro::group tasks;
                      goro::chan<int> never;
                      tasks.go([&] { never.recv(); });
                      tasks.wait();
                      main_ran_on = true;
                    }),
                    goro::deadlock_error);
  }
  SECTION("a once whose function is unwound") {
    int calls = 0;
    CHECK_THROWS_AS(goro::run([&] {
                      goro::once once;
                      goro::chan<int> never;
                      goro::go([&] {
                        once.call([&] {
                          ++calls;
                          never.recv();
                        });
                      });
                      goro_test::dump_when({"[chan receive]:"});
                      once.call([&] { ++calls; });
                      main_ran_on = true;
                    }),
                    goro::deadlock_error);
    CHECK(calls == 1);
  }
  SECTION("a writer unwound from in front of main's second read lock") {
    goro::shared_mutex rw;
    CHECK_THROWS_AS(goro::run([&] {
                      rw.lock_shared();
                      goro::go([&] {
                        std::lock_guard guard(rw);
                        main_ran_on = true;
                      });
                      goro_test::dump_when({"[mutex]:"});
                      rw.lock_shared();  // behind the queued writer: blocks for ever, as in Go
                      main_ran_on = true;
                    }),
                    goro::deadlock_error);
  }
  CHECK_FALSE(main_ran_on);
}

TEST_CASE("a sleeping goroutine is not a deadlock", "[debug][deadlock]") {
  goro::run([] {
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      goro::sleep_for(50ms);
      wg.done();
    });
    wg.wait();
  });
  SUCCEED();
}

TEST_CASE("a plain thread that will release main is not a deadlock", "[debug][deadlock]") {
  goro::wait_group wg;
  wg.add(1);
  goro::run([&] {
    std::thread releaser([&] {
      wg.add(0);  // touches goro: counts as a plain thread from here on
      std::this_thread::sleep_for(200ms);
      wg.done();
    });
    releaser.detach();
    while (true) {
      // Wait until the thread has registered before blocking, so that the check is meaningful.
      goro::sleep_for(1ms);
      break;
    }
    goro::sleep_for(20ms);
    wg.wait();
  });
  SUCCEED();
}

// API 1.3: a plain thread counts from its first call "blocking or not". Each section's first call
// completes without blocking; then the thread sleeps outside goro and releases main. Were the
// call not counted, main's receive would be reported as a deadlock during that sleep.
namespace {

// first_touch: what a plain thread's first call may use, all made before the run.
struct first_touch {
  goro::chan<int> buffered{2};  // holds one value: a receive finds it, a send finds room
  goro::context_key<int> key;
  goro::context context = goro::with_value(goro::background(), key, 7);
  goro::group group;
  goro::net::listener listener = goro::net::listen("127.0.0.1:0");
  goro::timer timer{std::chrono::hours(1)};
  first_touch() {
    buffered.send(1);
    timer.stop();  // a pending timer would keep any deadlock from being declared
  }
};

}  // namespace

TEST_CASE("a plain thread whose first goro call does not block counts from that call",
          "[debug][deadlock]") {
  using first_call = void (*)(first_touch&);
  const auto [name, call] = GENERATE(table<const char*, first_call>({
      {"send with room in the buffer", [](first_touch& t) { t.buffered.send(1); }},
      {"receive of a buffered value", [](first_touch& t) { (void)t.buffered.recv(); }},
      {"range over a buffered value",
       [](first_touch& t) {
         for (int v : t.buffered) {
           (void)v;
           break;
         }
       }},
      {"try_send", [](first_touch& t) { (void)t.buffered.try_send(1); }},
      {"select with a ready case", [](first_touch& t) { goro::select(goro::on_recv(t.buffered)); }},
      {"select_set's add_recv",
       [](first_touch& t) { goro::select_set<int>().add_recv(t.buffered); }},
      {"a context's err()", [](first_touch& t) { (void)t.context.err(); }},
      {"a context's done()", [](first_touch& t) { (void)t.context.done(); }},
      {"a context's deadline()", [](first_touch& t) { (void)t.context.deadline(); }},
      {"a context's value()", [](first_touch& t) { (void)t.context.value(t.key); }},
      {"a group's ctx()", [](first_touch& t) { (void)t.group.ctx(); }},
      {"a listener's address()", [](first_touch& t) { (void)t.listener.address(); }},
      {"a timer's c()", [](first_touch& t) { (void)t.timer.c(); }},
      {"a channel's is_nil()", [](first_touch& t) { (void)t.buffered.is_nil(); }},
      {"a comparison of channels", [](first_touch& t) { (void)(t.buffered == nullptr); }},
  }));
  INFO(name);
  first_touch touch;
  goro::chan<int> release(1);  // buffered: the thread's send never waits, whatever main did
  std::atomic<bool> called{false};
  std::thread user;
  bool deadlocked = false;
  try {
    goro::run([&, call = call] {
      user = std::thread([&] {
        call(touch);
        called.store(true);
        std::this_thread::sleep_for(200ms);  // outside goro: the detector runs meanwhile
        release.send(1);
      });
      while (!called.load()) goro::sleep_for(1ms);
      CHECK(release.recv() == 1);
    });
  } catch (const goro::deadlock_error&) {
    deadlocked = true;
  }
  user.join();
  CHECK_FALSE(deadlocked);
}

// A thread that main has just started has not called into goro yet when main blocks waiting for
// it: the run waits deadlock_grace (50 ms) before declaring a deadlock, time for it to start.
// (Go's TestCondBroadcast, ported with plain threads as the waiters, met this in 37 of 60 runs
// on a loaded machine.)
TEST_CASE("a plain thread started just before main blocks on it is not taken for a deadlock",
          "[debug][deadlock][threads]") {
  int deadlocks = 0;
  for (int round = 0; round < 20; ++round) {
    goro::chan<int> from_thread(1);  // buffered: the thread never waits, whatever main did
    std::thread sender;
    try {
      goro::run(
          [&] {
            sender = std::thread([from_thread] { from_thread.send(1); });
            CHECK(from_thread.recv() == 1);
          },
          {.workers = 1u + round % 2});  // one worker: it is also the poller
    } catch (const goro::deadlock_error&) {
      ++deadlocks;
    }
    sender.join();
  }
  CHECK(deadlocks == 0);
}

TEST_CASE("signals that interrupt the detector's waits do not shorten its grace",
          "[debug][deadlock][signal]") {
  // A program whose interval timer signals every 100 µs, with a handler installed without
  // SA_RESTART: every futex wait of the detector ends early (EINTR). Counted in waits rather
  // than on the clock, the 50 ms of quiet before a deadlock is declared (which lets a plain
  // thread main has just started make its first call) had shrunk to 6-15 ms, and a plain thread
  // that slept 20 ms before its first call was taken for a deadlock in every round. Checked here
  // on a real deadlock, so that only a lower bound is asserted: load can only lengthen it.
  constexpr int no_timer = 99;
  auto result = goro_test::run_in_child([] {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART
    if (sigaction(SIGALRM, &action, nullptr) != 0) return no_timer;
    const itimerval every_100us{{0, 100}, {0, 100}};
    if (setitimer(ITIMER_REAL, &every_100us, nullptr) != 0) return no_timer;
    int early = 0;
    for (int round = 0; round < 3; ++round) {
      const auto start = std::chrono::steady_clock::now();
      try {
        goro::run(
            [] {
              goro::chan<int> never;
              (void)never.recv();
            },
            {.workers = 1});  // the run's only thread: the one the timer's signals go to
      } catch (const goro::deadlock_error&) {
      }
      const auto took = std::chrono::steady_clock::now() - start;
      if (took < 50ms) {
        std::fprintf(stderr, "declared after %.1f ms\n",
                     std::chrono::duration<double, std::milli>(took).count());
        ++early;
      }
    }
    const itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    return early;
  });
  if (result.exited && result.exit_code == no_timer) {
    WARN("no interval timer: nothing to test");
    return;
  }
  INFO("the child's stderr: " << result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

namespace {
// spin_for: keeps the calling thread busy, runnable all along, for `d`.
void spin_for(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}
}  // namespace

TEST_CASE(
    "a plain thread that stays runnable longer than the grace before its first call "
    "is not taken for a deadlock",
    "[debug][deadlock][threads]") {
  // What a thread that main has just started looks like on a machine whose CPUs are all busy:
  // runnable, but not yet at its first call into goro after the 50 ms grace. (Waiting that long
  // for a CPU, such threads were taken for a deadlock: with two CPU-bound processes beside it
  // on two CPUs, in 10 of 10 runs of 5 000 wakes.)
  const unsigned workers = GENERATE(1u, 2u);
  bool deadlocked = false;
  std::thread waker;
  try {
    goro::run(
        [&] {
          goro::wait_group wg;
          wg.add(1);
          waker = std::thread([&wg] {
            spin_for(200ms);
            wg.done();
          });
          wg.wait();
        },
        {.workers = workers});
  } catch (const goro::deadlock_error&) {
    deadlocked = true;
  }
  waker.join();
  CHECK_FALSE(deadlocked);
}

TEST_CASE("a busy plain thread that never touches goro delays a deadlock report but no more",
          "[debug][deadlock][threads]") {
  std::atomic<bool> stop{false};
  std::thread bystander([&] {  // runnable all along, but never a caller of goro
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  const std::string report = deadlock_report([] {
    goro::chan<int> nobody_sends;
    nobody_sends.recv();
  });
  stop.store(true);
  bystander.join();
  CHECK(report.rfind("all goroutines are asleep - deadlock!", 0) == 0);
}

TEST_CASE("a running blocking() call is not a deadlock", "[debug][deadlock]") {
  goro::run([] {
    int v = goro::blocking([] {
      std::this_thread::sleep_for(100ms);
      return 1;
    });
    CHECK(v == 1);
  });
}

TEST_CASE("a deadlock right after a blocking() call is detected", "[debug][deadlock]") {
  // The helper readies main before it stops counting the call: main may park for good, and the
  // worker go idle, while the call still counts. The helper's last step must look again. On one
  // CPU (the helpers inherit the test thread's affinity) the woken worker usually preempts the
  // helper right there: without that last look, the first or second run hung.
  cpu_set_t before;
  REQUIRE(sched_getaffinity(0, sizeof before, &before) == 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  const long runs = goro_test::scaled(200, 10);
  long detected = 0;
  for (long i = 0; i < runs; ++i) {
    try {
      goro::run(
          [] {
            goro::blocking([] {});
            goro::chan<int> nobody_sends;
            nobody_sends.recv();
          },
          goro::options{.workers = 1});
    } catch (const goro::deadlock_error&) {
      ++detected;
    }
  }
  sched_setaffinity(0, sizeof before, &before);
  CHECK(detected == runs);
}

TEST_CASE("detect_deadlock = false turns detection off", "[debug][deadlock]") {
  goro::options o;
  o.detect_deadlock = false;
  goro::wait_group wg;
  wg.add(1);
  std::thread late([&] {
    std::this_thread::sleep_for(100ms);
    // Not counted as a goro thread until it calls done(): without detection main waits.
    wg.done();
  });
  goro::run([&] { wg.wait(); }, o);
  late.join();
  SUCCEED();
}

namespace {

// A workload whose schedule depends only on scheduling decisions; returns its switch count.
std::uint64_t switches_of_a_fixed_workload() {
  const auto before = goro::runtime_stats().context_switches;
  goro::run([] {
    goro::chan<int> ch(2);
    goro::wait_group wg;
    for (int p = 0; p < 3; ++p) {
      wg.add(1);
      goro::go([&, p] {
        for (int i = 0; i < 2000; ++i) ch.send(i + p);
        wg.done();
      });
    }
    goro::go([&] {
      wg.wait();
      ch.close();
    });
    for (int v : ch) (void)v;
  });
  return goro::runtime_stats().context_switches - before;
}

}  // namespace

TEST_CASE("GORO_CHAOS perturbs the schedule reproducibly for a seed on one worker",
          "[debug][chaos]") {
  setenv("GORO_MAXPROCS", "1", 1);
  unsetenv("GORO_CHAOS");
  const auto calm = switches_of_a_fixed_workload();
  setenv("GORO_CHAOS", "42", 1);
  const auto chaotic = switches_of_a_fixed_workload();
  const auto again = switches_of_a_fixed_workload();
  setenv("GORO_CHAOS", "43", 1);
  const auto other_seed = switches_of_a_fixed_workload();
  unsetenv("GORO_CHAOS");
  unsetenv("GORO_MAXPROCS");
  CHECK(chaotic != calm);
  CHECK(chaotic == again);
  CHECK(other_seed != chaotic);
}

TEST_CASE("a GORO_CHAOS that is not a seed leaves chaos off and says so once", "[debug][chaos]") {
  // Text, a number with more after it, and one past 2^64 - 1 (strtoull's ERANGE).
  const char* const value = GENERATE(as<const char*>{}, "abc", "4x2", "18446744073709551616");
  INFO("GORO_CHAOS=" << value);
  auto result = goro_test::run_in_child([value] {
    setenv("GORO_MAXPROCS", "1", 1);
    // A time slice that ends (a slow build, a loaded machine) adds switches to any run; chaos
    // adds them to every run of its seed. So one of three attempts must match the calm run.
    for (int attempt = 0; attempt < 3; ++attempt) {
      unsetenv("GORO_CHAOS");
      const auto calm = switches_of_a_fixed_workload();
      setenv("GORO_CHAOS", value, 1);
      const auto first = switches_of_a_fixed_workload();
      const auto second = switches_of_a_fixed_workload();
      if (first == calm && second == calm) return 0;  // scheduled as without GORO_CHAOS
    }
    return 1;
  });
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
  const std::string message = std::string("goro: GORO_CHAOS=\"") + value +
                              "\" is not a seed (an unsigned decimal number): chaos scheduling "
                              "is off\n";
  const auto at = result.err.find(message);
  CHECK(at != std::string::npos);
  CHECK(result.err.find(message, at + 1) == std::string::npos);  // two runs, one message
}

TEST_CASE("every chaos seed gives every worker a distinct nonzero random state", "[debug][chaos]") {
  // A zero state stays zero under xorshift64*: that worker's chaotic choices would all be the
  // same. Seeds that give a worker zero: 2^64 - 1 (GORO_CHAOS=-1, as strtoull reads it) for
  // worker 0, and for worker 1 the seed s with (s + 1) * golden = -1 (mod 2^64).
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;
  std::uint64_t inverse = golden;  // Newton's iteration: golden * inverse = 1 (mod 2^64)
  for (int i = 0; i < 6; ++i) inverse *= 2 - golden * inverse;
  REQUIRE(golden * inverse == 1);
  const std::uint64_t zero_for_worker_1 = (0 - inverse) - 1;
  for (std::uint64_t seed :
       {std::uint64_t{0}, std::uint64_t{42}, ~std::uint64_t{0}, zero_for_worker_1}) {
    std::vector<std::uint64_t> states;
    for (unsigned worker = 0; worker < 64; ++worker) {
      states.push_back(goro::detail::chaos_random_state(seed, worker));
    }
    INFO("seed " << seed);
    CHECK(std::find(states.begin(), states.end(), 0) == states.end());
    std::sort(states.begin(), states.end());
    CHECK(std::adjacent_find(states.begin(), states.end()) == states.end());
  }
}

namespace {

// sigquit_with_traceback: a child process with GORO_TRACEBACK=1 whose run raises SIGQUIT while
// a goroutine waits on a receive.
goro_test::child_result sigquit_with_traceback() {
  return goro_test::run_in_child([] {
    setenv("GORO_TRACEBACK", "1", 1);
    goro::run([] {
      goro::chan<int> never;
      goro::go([never] { never.recv(); });
      goro_test::dump_when({"[chan receive]:"});
      raise(SIGQUIT);
      goro::sleep_for(10s);  // the watcher exits the process first
    });
    return 0;
  });
}

}  // namespace

TEST_CASE("with GORO_TRACEBACK=1 SIGQUIT prints every goroutine and exits with status 2",
          "[debug][traceback]") {
  auto result = sigquit_with_traceback();
  CHECK(result.exited);
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.err, Catch::StartsWith("SIGQUIT: quit"));
  CHECK_THAT(result.err, Catch::Contains("goroutine 1 ["));
  CHECK_THAT(result.err, Catch::Contains("[chan receive]:"));
}

TEST_CASE("without GORO_TRACEBACK=1 SIGQUIT keeps its default action", "[debug][traceback]") {
  // Unset, or any other value (GORO_TRACEBACK=0 is not a way to turn the dump on).
  const char* const value = GENERATE(as<const char*>{}, nullptr, "0", "");
  INFO("GORO_TRACEBACK=" << (value != nullptr ? value : "(unset)"));
  auto result = goro_test::run_in_child([value] {
    if (value != nullptr) {
      setenv("GORO_TRACEBACK", value, 1);
    } else {
      unsetenv("GORO_TRACEBACK");
    }
    goro::run([] { raise(SIGQUIT); });
    return 0;
  });
  CHECK(result.signaled);
  CHECK(result.signal == SIGQUIT);
}

// docs/go-to-goro.md, section "Panics, deadlocks and dumps": every row's spelling, as written
// there. Not checked here: `go test -race` is a build, not a call (the ThreadSanitizer build of
// this suite is that row's check).
TEST_CASE("go-to-goro: panic and recover are throw and catch; misuse throws goro::error",
          "[debug][go-to-goro]") {
  static_assert(std::is_base_of_v<std::logic_error, goro::error>);
  goro::run([] {
    // panic(err) / recover(), within one goroutine.
    goro::chan<std::string> recovered(1);
    goro::go([recovered] {
      try {
        throw std::runtime_error("panic value");
      } catch (...) {
        try {
          throw;
        } catch (const std::exception& e) {
          recovered.send(e.what());
        }
      }
    });
    CHECK(*recovered.recv() == "panic value");

    // Runtime misuse: exceptions derived from goro::error, itself a std::logic_error.
    goro::wait_group wg;
    CHECK_THROWS_AS(wg.add(-1), goro::error);
    goro::mutex mu;
    CHECK_THROWS_AS(mu.unlock(), goro::error);
    goro::chan<int> nil = nullptr;
    CHECK_THROWS_AS(nil.close(), goro::error);
  });
}

TEST_CASE("go-to-goro: an exception that escapes a goroutine terminates the program",
          "[debug][go-to-goro]") {
  auto result = goro_test::run_in_child([] {
    goro::run([] {
      goro::chan<std::uint64_t> id(1);
      goro::chan<int> printed(1);  // the id is on stderr before the goroutine throws
      goro::go([id, printed] {
        id.send(goro::goroutine_id());
        printed.recv();
        throw std::runtime_error("escaped");
      });
      std::fprintf(stderr, "id=%llu\n", static_cast<unsigned long long>(*id.recv()));
      printed.send(1);
      goro::sleep_for(std::chrono::seconds(10));
    });
    return 0;
  });
  CHECK(result.signaled);
  CHECK(result.signal == SIGABRT);  // std::terminate()
  const std::string id = result.err.substr(3, result.err.find('\n') - 3);
  CHECK_THAT(result.err,
             Catch::Contains("goro: unhandled exception in goroutine " + id + ": escaped"));
}

TEST_CASE("go-to-goro: deadlock_error, GORO_TRACEBACK=1 and dump", "[debug][go-to-goro]") {
  // fatal error: all goroutines are asleep - deadlock!: run throws deadlock_error, whose what()
  // starts with that line and goes on with a dump of every goroutine.
  std::string what;
  try {
    goro::run([] {
      goro::chan<int> never;
      goro::go([never] { never.recv(); });
      never.recv();
    });
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  CHECK_THAT(what, Catch::StartsWith("all goroutines are asleep - deadlock!"));
  CHECK_THAT(what, Catch::Contains("goroutine 1 [chan receive]:"));
  CHECK(goro_test::count_in_dump(what, "[chan receive]:") == 2);

  // SIGQUIT with GORO_TRACEBACK=1: a `goroutine <id> [<state>]:` block per goroutine, exit
  // status 2.
  auto result = sigquit_with_traceback();
  CHECK(result.exited);
  CHECK(result.exit_code == 2);
  CHECK(goro_test::count_in_dump(result.err, "\ngoroutine ") == 2);
  CHECK_THAT(result.err, Catch::Contains("[chan receive]:"));

  // pprof.Lookup("goroutine").WriteTo(w, 2): goro::dump(std::cerr) writes the same blocks.
  std::string dumped = goro::run([] {
    goro::chan<int> never;
    goro::go([never] { never.recv(); });
    goro_test::dump_when({"[chan receive]:"});
    std::ostringstream captured;
    std::streambuf* old = std::cerr.rdbuf(captured.rdbuf());
    goro::dump(std::cerr);
    std::cerr.rdbuf(old);
    never.send(1);
    return captured.str();
  });
  CHECK_THAT(dumped, Catch::Contains("goroutine 1 [running]:"));
  CHECK_THAT(dumped, Catch::Contains("[chan receive]:"));
}

// ---------------------------------------------------------------------------------------------
// The contract, clause by clause (docs/API.md section 8; docs/contract-coverage).

// API 8: dump(std::ostream&) and runtime_stats() with the five counters of stats, in the
// contract's order (designated initializers rely on it), each a std::uint64_t.
TEST_CASE("dump and runtime_stats have the contract's signatures, stats its five counters",
          "[debug][stats][contract]") {
  static_assert(std::is_same_v<decltype(goro::dump(std::declval<std::ostream&>())), void>);
  static_assert(std::is_same_v<decltype(goro::runtime_stats()), goro::stats>);
  static_assert(std::is_same_v<decltype(goro::stats::spawned), std::uint64_t>);
  static_assert(std::is_same_v<decltype(goro::stats::finished), std::uint64_t>);
  static_assert(std::is_same_v<decltype(goro::stats::context_switches), std::uint64_t>);
  static_assert(std::is_same_v<decltype(goro::stats::steals), std::uint64_t>);
  static_assert(std::is_same_v<decltype(goro::stats::parks), std::uint64_t>);
  const goro::stats s{.spawned = 1, .finished = 2, .context_switches = 3, .steals = 4, .parks = 5};
  CHECK(s.spawned + s.finished + s.context_switches + s.steals + s.parks == 15);
}

// API 8: the counters count since the process started, not since a run did: a second run adds
// to what the first counted, and between runs they keep their values.
TEST_CASE("runtime_stats keeps counting across runs and keeps its counts between them",
          "[debug][stats][contract]") {
  const auto one_run = [] {
    goro::run([] {
      goro::chan<int> handed;
      goro::go([handed] {
        goro::sleep_for(1ms);  // parks, and main parks in its receive meanwhile
        handed.send(1);
      });
      handed.recv();
    });
  };
  one_run();
  const goro::stats after_first = goro::runtime_stats();
  const goro::stats between = goro::runtime_stats();
  one_run();
  const goro::stats after_second = goro::runtime_stats();
  CHECK(after_first.spawned >= 2);
  CHECK(between.spawned == after_first.spawned);
  CHECK(between.finished == after_first.finished);
  CHECK(between.context_switches == after_first.context_switches);
  CHECK(between.parks == after_first.parks);
  CHECK(between.steals == after_first.steals);
  CHECK(after_second.spawned == between.spawned + 2);
  CHECK(after_second.finished == between.finished + 2);
  CHECK(after_second.parks >= between.parks + 1);
  CHECK(after_second.context_switches >= between.context_switches + 2);
}

// API 8: dump writes one header line for every goroutine num_goroutines() counts.
TEST_CASE("dump writes one header line for each goroutine num_goroutines counts",
          "[debug][dump][contract]") {
  std::size_t counted = 0;
  std::size_t headers = 0;
  goro::run([&] {
    goro::chan<int> release;
    goro::wait_group finished;
    for (int i = 0; i < 10; ++i) {
      finished.add(1);
      goro::go([&finished, release] {
        release.recv();
        finished.done();
      });
    }
    const std::string text = goro_test::dump_when_count("[chan receive]:", 10);
    counted = goro::num_goroutines();
    headers = header_states(text).size();
    release.close();
    finished.wait();
  });
  CHECK(counted == 11);
  CHECK(headers == 11);
}

namespace {

// blockers: what the goroutines of the next case block on. It outlives the run, so that a
// failure ending main early leaves the goroutines unwound then nothing destroyed to touch.
struct blockers {
  goro::wait_group finished;  // of the goroutines that are released
  goro::chan<int> never_sent;
  goro::chan<int> never_received;
  goro::chan<int> select_a;
  goro::chan<int> select_b;
  goro::mutex locked;
  goro::wait_group never_done;
  goro::mutex cond_mutex;
  goro::condition_variable cond;
  bool ready = false;
  goro::semaphore taken{1};
  goro::net::listener listening;
  std::atomic<bool> release_blocking{false};
  goro::once once;
  goro::chan<int> release_once;
};

}  // namespace

// API 8: each header line is `goroutine <id> [<state>]:`, <id> the goroutine's goroutine_id()
// (API 1.2), for every state the contract names and both suffixes; `runnable` is checked by
// "dump shows goroutines in a blocking call and goroutines waiting to run".
TEST_CASE("dump shows each goroutine's id with the state it is blocked in, for every state",
          "[debug][dump][contract]") {
  std::map<std::string, std::uint64_t> ids;  // state -> the id of the goroutine blocked in it
  std::string text;
  blockers b;
  goro::run(
      [&] {
        goro::chan<std::pair<std::string, std::uint64_t>> reported(64);
        // start: a goroutine that reports its id as the one to be seen in `state`, then blocks;
        // `forever`: it is never released, and is unwound when main returns (API 1.1).
        const auto start = [&](std::string state, auto block, bool forever = false) {
          if (!forever) b.finished.add(1);
          goro::go([&b, reported, state, block, forever]() mutable {
            reported.send({state, goro::goroutine_id()});
            block();
            if (!forever) b.finished.done();
          });
        };
        ids["running"] = goro::goroutine_id();
        start("chan receive", [&b] { b.never_sent.recv(); });
        start("chan send", [&b] { b.never_received.send(1); });
        start("select",
              [&b] { goro::select(goro::on_recv(b.select_a), goro::on_recv(b.select_b)); });
        start(
            "sleep", [] { goro::sleep_for(1h); }, true);
        b.locked.lock();
        start("mutex", [&b] { std::lock_guard lock(b.locked); });
        b.never_done.add(1);
        start("wait_group", [&b] { b.never_done.wait(); });
        start("cond", [&b] {
          std::unique_lock lock(b.cond_mutex);
          b.cond.wait(lock, [&b] { return b.ready; });
        });
        b.taken.acquire();
        start("semaphore", [&b] {
          b.taken.acquire();
          b.taken.release();
        });
        b.listening = goro::net::listen("127.0.0.1:0");
        start("io", [&b] {
          try {
            b.listening.accept();
          } catch (const goro::net::closed_error&) {
          }
        });
        start("blocking", [&b] {
          goro::blocking([&b] {
            // Bounded: should main fail before releasing it, the run still ends.
            const auto give_up = std::chrono::steady_clock::now() + 60s;
            while (!b.release_blocking.load() && std::chrono::steady_clock::now() < give_up) {
              std::this_thread::sleep_for(1ms);
            }
          });
        });
        start(
            "chan receive (nil chan)", [] { goro::chan<int>(nullptr).recv(); }, true);
        start(
            "chan send (nil chan)", [] { goro::chan<int>(nullptr).send(1); }, true);
        start(
            "select (no cases)", [] { goro::select(); }, true);
        // once: the first caller holds it in its function (blocked in a chan receive of its
        // own), the second waits in once.
        goro::chan<std::uint64_t> holder_id(1);
        b.finished.add(1);
        goro::go([&b, holder_id] {
          b.once.call([&b, holder_id] {
            holder_id.send(goro::goroutine_id());
            b.release_once.recv();
          });
          b.finished.done();
        });
        const std::string holder = "goroutine " + std::to_string(*holder_id.recv());
        goro_test::dump_when({holder + " [chan receive]:"});
        start("once", [&b] { b.once.call([] {}); });

        for (int i = 0; i < 14; ++i) {
          auto [state, id] = *reported.recv();
          ids[state] = id;
        }
        const auto all_shown = [&](const std::string& dump) {
          for (const auto& [state, id] : ids) {
            const std::string line = "goroutine " + std::to_string(id) + " [" + state + "]:\n";
            if (dump.find(line) == std::string::npos) return false;
          }
          return true;
        };
        text = goro_test::dump_until(all_shown);

        // Release every goroutine that can be, and wait for them.
        b.never_sent.close();
        b.never_received.recv();
        b.select_a.close();
        b.locked.unlock();
        b.never_done.done();
        {
          std::lock_guard lock(b.cond_mutex);
          b.ready = true;
        }
        b.cond.notify_all();
        b.taken.release();
        b.listening.close();
        b.release_blocking.store(true);
        b.release_once.send(1);
        b.finished.wait();
      },
      goro::options{.workers = 2});
  CHECK(ids.size() == 15);
  for (const auto& [state, id] : ids) {
    INFO(text);
    CHECK_THAT(text, Catch::Contains("goroutine " + std::to_string(id) + " [" + state + "]:\n"));
  }
}
