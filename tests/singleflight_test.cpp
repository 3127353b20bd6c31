// Tests of <goro/singleflight.hpp>: one call in flight per key, its result shared by every caller
// that asked meanwhile, exceptions shared the same way, forget, call_chan, plain threads, the
// run's shutdown, and a stress of many callers over few keys; with ports of x/sync's
// singleflight tests (golang.org/x/sync 0.1.0, as Debian ships it).
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/debug.hpp>
#include <goro/goro.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/singleflight.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

namespace {

// what_of: the message of what `fn` throws, or "" if it returns.
template <class F>
std::string what_of(F&& fn) {
  try {
    std::forward<F>(fn)();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// On sharing one exception between goroutines under ThreadSanitizer: every caller of a call
// that threw catches the same exception object, and its last reference may go in any of them.
// libstdc++ counts the references in code that ThreadSanitizer does not see, so when the last
// one goes in a goroutine that did not read the object, after others did, it reports a race that
// is none. The cases below that read a shared exception in several goroutines keep a reference
// in main until those goroutines are done (the last one then goes in main), and the cases that
// read one that a call_chan goroutine also holds wait for that goroutine to end first.

// some_error: an exception type of the test's own, to see that its type reaches every caller.
struct some_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

// x/sync's TestDo: one call, its value returned.
TEST_CASE("call runs fn and returns its value", "[singleflight][go]") {
  goro::singleflight<std::string> g;
  auto [value, shared] = g.call("key", [] { return "bar"; });
  CHECK(value == "bar");
  CHECK_FALSE(shared);
}

// x/sync's TestDoErr: the function's error reaches the caller (here, as its exception).
TEST_CASE("call rethrows what fn threw", "[singleflight][go]") {
  goro::singleflight<std::string> g;
  CHECK_THROWS_AS(g.call("key", []() -> std::string { throw some_error("Some error"); }),
                  some_error);
  CHECK(what_of([&] { g.call("key", []() -> std::string { throw some_error("Some error"); }); }) ==
        "Some error");
}

// x/sync's TestDoDupSuppress: ten goroutines call Do for one key while the first call is held;
// fewer than ten calls run, and every goroutine gets "bar".
TEST_CASE("callers that arrive while a call is in flight share it", "[singleflight][go]") {
  goro::run([] {
    goro::singleflight<std::string> g;
    goro::wait_group wg1, wg2;
    goro::chan<std::string> c(1);
    std::atomic<int> calls{0};
    std::atomic<int> wrong{0};
    auto fn = [&] {
      if (calls.fetch_add(1) + 1 == 1) wg1.done();  // first invocation
      std::string v = *c.recv();
      c.send(v);              // pump; make available for any future calls
      goro::sleep_for(10ms);  // let more goroutines enter Do
      return v;
    };
    const int n = 10;
    wg1.add(1);
    for (int i = 0; i < n; ++i) {
      wg1.add(1);
      wg2.add(1);
      goro::go([&] {
        wg1.done();
        if (g.call("key", fn).value != "bar") wrong.fetch_add(1);
        wg2.done();
      });
    }
    wg1.wait();
    // At least one goroutine is in fn now and all of them have at least reached the line
    // before the Do.
    c.send("bar");
    wg2.wait();
    CHECK(wrong.load() == 0);
    CHECK(calls.load() > 0);
    CHECK(calls.load() < n);
  });
}

// x/sync's TestForget (Go issue 31420): after Forget, a new call runs while the first is still in
// flight, and a call made after the first has finished joins the second, not the first.
TEST_CASE("forget lets a new call run while the old one is in flight", "[singleflight][go]") {
  goro::run([] {
    goro::singleflight<int> g;
    goro::chan<std::monostate> first_started, unblock_first, first_finished;
    goro::go([=, &g] {
      g.call("key", [=] {
        first_started.close();
        unblock_first.recv();
        first_finished.close();
        return 0;
      });
    });
    first_started.recv();
    g.forget("key");

    goro::chan<std::monostate> unblock_second;
    auto second_result = g.call_chan("key", [=] {
      unblock_second.recv();
      return 2;
    });

    unblock_first.close();
    first_finished.recv();

    auto third_result = g.call_chan("key", [] { return 3; });

    unblock_second.close();
    second_result.recv();
    auto r = third_result.recv();
    REQUIRE(r.has_value());
    CHECK(r->get() == 2);  // the result produced by the second call
  });
}

// x/sync's TestDoChan.
TEST_CASE("call_chan delivers fn's value on its channel", "[singleflight][go]") {
  goro::run([] {
    goro::singleflight<std::string> g;
    auto ch = g.call_chan("key", [] { return std::string("bar"); });
    auto res = ch.recv();
    REQUIRE(res.has_value());
    REQUIRE(res->value.has_value());
    CHECK(*res->value == "bar");
    CHECK_FALSE(res->error);
    CHECK_FALSE(res->shared);
  });
}

// x/sync's TestPanicDo (Go issue 41133): a function that panics makes every caller panic, and
// none hangs. Here every caller gets the exception.
TEST_CASE("every caller of a call that throws gets the exception", "[singleflight][go]") {
  goro::run([] {
    goro::singleflight<int> g;
    auto fn = []() -> int {
      throw std::runtime_error("invalid memory address or nil pointer dereference");
    };
    const int n = 5;
    std::atomic<int> waited{n};
    std::atomic<int> panic_count{0};
    std::vector<std::exception_ptr> kept(n);  // see "under ThreadSanitizer" above
    goro::chan<std::monostate> done;
    for (int i = 0; i < n; ++i) {
      goro::go([&, done, i] {
        try {
          g.call("key", fn);
        } catch (const std::runtime_error& e) {
          kept[static_cast<std::size_t>(i)] = std::current_exception();
          if (std::string(e.what()) == "invalid memory address or nil pointer dereference")
            panic_count.fetch_add(1);
        }
        if (waited.fetch_sub(1) - 1 == 0) done.close();
      });
    }
    done.recv();
    CHECK(panic_count.load() == n);
  });
}

// x/sync's TestGoexitDo: a function that calls runtime.Goexit ends its own goroutine, and every
// other caller goes on with a nil error. goro has no Goexit; the one way a goroutine ends inside
// fn is the end of the run (API 1.1): the goroutines waiting for the call are unwound with it,
// and a plain thread waiting for it gets goro::error.
TEST_CASE("the run's end stopping the call's goroutine releases every waiter",
          "[singleflight][go]") {
  goro::singleflight<int> g;
  std::optional<goro::singleflight<int>::chan_result> thread_result;
  std::atomic<int> waiters_unwound{0};
  std::thread thread;
  goro::run([&] {
    goro::chan<std::monostate> in_fn;
    goro::go([&, in_fn] {
      g.call("key", [in_fn] {
        in_fn.close();
        goro::chan<int>().recv();  // until the run ends
        return 1;
      });
    });
    in_fn.recv();
    for (int i = 0; i < 3; ++i) {
      goro::go([&] {
        struct count_if_unwinding {
          std::atomic<int>& unwound;
          ~count_if_unwinding() {
            if (std::uncaught_exceptions() > 0) unwound.fetch_add(1);
          }
        } probe{waiters_unwound};
        g.call("key", [] { return 2; });
      });
    }
    goro::chan<std::monostate> joined;
    thread = std::thread([&, joined] {
      auto ch = g.call_chan("key", [] { return 3; });  // joins: needs no run
      joined.close();
      thread_result = ch.recv();
    });
    joined.recv();
    goro_test::dump_when_count("[wait_group]", 3);
  });
  thread.join();
  CHECK(waiters_unwound.load() == 3);
  REQUIRE(thread_result.has_value());
  CHECK_FALSE(thread_result->value.has_value());
  CHECK(what_of([&] { thread_result->get(); }) ==
        "goro::singleflight: the goroutine running the call was stopped by the end of the run");
  CHECK(g.call("key", [] { return 4; }).value == 4);  // the key is free again
}

// x/sync's TestPanicDoChan: Go's DoChan crashes the process when fn panics (its caller could
// not recover the panic, and the channel would never receive). goro's delivers the exception on
// the channel instead.
TEST_CASE("call_chan delivers fn's exception on its channel", "[singleflight][go]") {
  goro::run([] {
    goro::singleflight<int> g;
    auto ch = g.call_chan("", []() -> int { throw std::runtime_error("Panicking in DoChan"); });
    auto r = ch.recv();
    REQUIRE(r.has_value());
    CHECK_FALSE(r->value.has_value());
    REQUIRE(r->error);
    CHECK(what_of([&] { r->get(); }) == "Panicking in DoChan");
    CHECK(goro_test::live_goroutines_when(1) == 1);  // see "under ThreadSanitizer" above
  });
}

// x/sync's TestPanicDoSharedByDoChan: a DoChan caller that joins a Do call which panics. Go
// crashes; here the Do caller gets the exception and the DoChan caller receives it, and the
// DoChan caller's own function never runs.
TEST_CASE("a call_chan caller that joins a call that throws receives the exception",
          "[singleflight][go]") {
  goro::run([] {
    goro::singleflight<int> g;
    goro::chan<std::monostate> blocked, unblock;
    goro::chan<std::string> do_outcome(1);
    goro::go([=, &g] {
      do_outcome.send(what_of([&] {
        g.call("", [=]() -> int {
          blocked.close();
          unblock.recv();
          throw std::runtime_error("Panicking in Do");
        });
      }));
    });
    blocked.recv();
    auto ch = g.call_chan(
        "", []() -> int { throw std::runtime_error("DoChan unexpectedly executed callback"); });
    unblock.close();
    auto r = ch.recv();
    REQUIRE(r.has_value());
    CHECK(r->shared);
    CHECK(what_of([&] { r->get(); }) == "Panicking in Do");
    CHECK(*do_outcome.recv() == "Panicking in Do");
  });
}

TEST_CASE("every caller that joins gets a copy of the value, and shared is true for all",
          "[singleflight]") {
  goro::run([] {
    goro::singleflight<std::vector<int>, int> g;
    goro::chan<std::monostate> release;
    std::atomic<int> calls{0};
    auto fn = [&, release] {
      calls.fetch_add(1);
      release.recv();
      return std::vector<int>{1, 2, 3};
    };
    const int n = 20;
    std::vector<goro::singleflight<std::vector<int>, int>::result> results(
        n + 1, {std::vector<int>{}, false});
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      results[n] = g.call(7, fn);
      wg.done();
    });
    goro_test::dump_when({"[chan receive]:"});  // the leader is in fn
    for (int i = 0; i < n; ++i) {
      wg.add(1);
      goro::go([&, i] {
        results[i] = g.call(7, fn);
        wg.done();
      });
    }
    goro_test::dump_when_count("[wait_group]", n);  // every other caller has joined
    release.close();
    wg.wait();
    CHECK(calls.load() == 1);
    for (const auto& r : results) {
      CHECK(r.value == std::vector<int>{1, 2, 3});
      CHECK(r.shared);
    }
  });
}

TEST_CASE("a finished call is not cached: the next call runs fn again", "[singleflight]") {
  goro::singleflight<int> g;
  int calls = 0;
  for (int i = 1; i <= 3; ++i) {
    auto [value, shared] = g.call("key", [&] { return ++calls; });
    CHECK(value == i);
    CHECK_FALSE(shared);
  }
}

TEST_CASE("calls for different keys run at once", "[singleflight]") {
  goro::run([] {
    goro::singleflight<int> g;
    goro::chan<std::monostate> b_done;
    goro::chan<int> a_value(1);
    goro::go([&, b_done, a_value] {
      // a's function waits for b's call to finish: one call per key, not one per group.
      a_value.send(g.call("a", [b_done] {
                      b_done.recv();
                      return 1;
                    }).value);
    });
    goro_test::dump_when({"[chan receive]:"});
    CHECK(g.call("b", [] { return 2; }).value == 2);
    b_done.close();
    CHECK(*a_value.recv() == 1);
  });
}

TEST_CASE("a plain thread can lead a call that goroutines join", "[singleflight]") {
  goro::singleflight<std::string> g;
  std::atomic<int> calls{0};
  std::optional<goro::singleflight<std::string>::result> leader;
  std::vector<std::string> values(4);
  std::vector<int> shared(4, 0);
  goro::run([&] {
    goro::chan<std::monostate> in_fn, release;
    std::thread thread([&, in_fn, release] {
      leader = g.call("key", [&, in_fn, release] {
        calls.fetch_add(1);
        in_fn.close();
        release.recv();
        return std::string("from a thread");
      });
    });
    in_fn.recv();
    goro::wait_group wg;
    for (int i = 0; i < 4; ++i) {
      wg.add(1);
      goro::go([&, i] {
        auto r = g.call("key", [&] {
          calls.fetch_add(1);
          return std::string("from a goroutine");
        });
        values[static_cast<std::size_t>(i)] = r.value;
        shared[static_cast<std::size_t>(i)] = r.shared ? 1 : 0;
        wg.done();
      });
    }
    goro_test::dump_when_count("[wait_group]", 4);
    release.close();
    wg.wait();
    goro::blocking([&] { thread.join(); });
  });
  CHECK(calls.load() == 1);
  REQUIRE(leader.has_value());
  CHECK(leader->value == "from a thread");
  CHECK(leader->shared);
  for (int i = 0; i < 4; ++i) {
    CHECK(values[static_cast<std::size_t>(i)] == "from a thread");
    CHECK(shared[static_cast<std::size_t>(i)] == 1);
  }
}

TEST_CASE("call works on a plain thread with no run active", "[singleflight]") {
  goro::singleflight<int> g;
  std::thread thread([&] { g.forget("key"); });
  thread.join();
  CHECK(g.call("key", [] { return 42; }).value == 42);
}

TEST_CASE("the exception's own type reaches every caller", "[singleflight]") {
  goro::run([] {
    goro::singleflight<int> g;
    goro::chan<std::monostate> release;
    std::atomic<int> caught_as_own_type{0};
    std::vector<std::exception_ptr> kept(5);  // see "under ThreadSanitizer" above
    goro::wait_group wg;
    auto fn = [release]() -> int {
      release.recv();
      throw some_error("shared failure");
    };
    for (int i = 0; i < 5; ++i) {
      wg.add(1);
      goro::go([&, i] {
        try {
          g.call("key", fn);
        } catch (const some_error& e) {
          kept[static_cast<std::size_t>(i)] = std::current_exception();
          if (std::string(e.what()) == "shared failure") caught_as_own_type.fetch_add(1);
        } catch (...) {
        }
        wg.done();
      });
    }
    goro_test::dump_until([](const std::string& text) {
      return goro_test::count_in_dump(text, "[wait_group]") == 4 &&
             goro_test::count_in_dump(text, "[chan receive]") == 1;
    });
    release.close();
    wg.wait();
    CHECK(caught_as_own_type.load() == 5);
  });
}

TEST_CASE("a nil function fails the call with goro::error", "[singleflight]") {
  goro::singleflight<int> g;
  int (*null_function)() = nullptr;
  CHECK(what_of([&] { g.call("key", null_function); }) ==
        "goro::singleflight: call of nil func value");
  CHECK(what_of([&] { g.call("key", std::function<int()>()); }) ==
        "goro::singleflight: call of nil func value");
  CHECK_THROWS_AS(g.call("key", std::function<int()>()), goro::error);
  CHECK(g.call("key", [] { return 1; }).value == 1);  // the key is free again
  goro::run([&] {
    auto r = g.call_chan("key", std::function<int()>()).recv();
    REQUIRE(r.has_value());
    CHECK(what_of([&] { r->get(); }) == "goro::singleflight: call of nil func value");
    CHECK(goro_test::live_goroutines_when(1) == 1);  // see "under ThreadSanitizer" above
  });
}

TEST_CASE("a caller that joins ignores its own function, even a nil one", "[singleflight]") {
  goro::run([] {
    goro::singleflight<int> g;
    goro::chan<std::monostate> release;
    goro::chan<int> leader_value(1);
    goro::go([&, release, leader_value] {
      leader_value.send(g.call("key", [release] {
                           release.recv();
                           return 5;
                         }).value);
    });
    goro_test::dump_when({"[chan receive]:"});
    auto joined = g.call_chan("key", std::function<int()>());
    release.close();
    auto r = joined.recv();
    REQUIRE(r.has_value());
    CHECK(r->get() == 5);
    CHECK(*leader_value.recv() == 5);
  });
}

TEST_CASE("call_chan's channel receives one result and is never closed", "[singleflight]") {
  goro::run([] {
    goro::singleflight<int> g;
    goro::chan<std::monostate> release;
    std::vector<goro::recv_chan<goro::singleflight<int>::chan_result>> channels;
    channels.push_back(g.call_chan("key", [release] {
      release.recv();
      return 9;
    }));
    for (int i = 0; i < 10; ++i) channels.push_back(g.call_chan("key", [] { return -1; }));
    release.close();
    for (auto& ch : channels) {
      auto r = ch.recv();
      REQUIRE(r.has_value());
      CHECK(r->get() == 9);
      CHECK(r->shared);
      CHECK(ch.capacity() == 1);
      bool received_again = false;
      goro::select(goro::on_recv(ch, [&](auto) { received_again = true; }), goro::on_default());
      CHECK_FALSE(received_again);  // neither a second value nor a close
    }
  });
}

TEST_CASE("call_chan with no run active throws and leaves the key free", "[singleflight]") {
  goro::singleflight<int> g;
  CHECK_THROWS_AS(g.call_chan("key", [] { return 1; }), goro::error);
  CHECK(what_of([&] {
          g.call_chan("key", [] { return 1; });
        }).starts_with("goro::go: no goro::run is active"));
  CHECK(g.call("key", [] { return 2; }).value == 2);
}

TEST_CASE("call_chan works in a select beside a context's done", "[singleflight]") {
  goro::run([] {
    goro::singleflight<std::string> g;
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_timeout(goro::background(), 50ms);
    goro::chan<std::monostate> never;
    std::string outcome;
    goro::select(goro::on_recv(g.call_chan("slow",
                                           [never] {
                                             never.recv();
                                             return std::string("late");
                                           }),
                               [&](auto r) {
                                 if (r) outcome = r->get();
                               }),
                 goro::on_recv(ctx.done(), [&](auto) { outcome = ctx.err().message(); }));
    cancel();
    CHECK(outcome == "context deadline exceeded");
    never.close();  // lets the call finish; its result goes to a channel nobody reads
    auto r = g.call_chan("slow", [] { return std::string("again"); }).recv();
    REQUIRE(r.has_value());
    CHECK((r->get() == "late" || r->get() == "again"));
  });
}

TEST_CASE("a call_chan call outlives the singleflight object", "[singleflight]") {
  goro::run([] {
    goro::chan<std::monostate> release;
    std::optional<goro::recv_chan<goro::singleflight<int>::chan_result>> ch;
    {
      goro::singleflight<int> g;
      ch = g.call_chan("key", [release] {
        release.recv();
        return 11;
      });
    }
    release.close();
    auto r = ch->recv();
    REQUIRE(r.has_value());
    CHECK(r->get() == 11);
  });
}

TEST_CASE("call_chan calls its copy of fn as an rvalue, as goro::go does", "[singleflight]") {
  struct rvalue_only {
    int operator()() && { return 3; }
  };
  goro::run([] {
    goro::singleflight<int> g;
    CHECK(g.call_chan("key", rvalue_only{}).recv()->get() == 3);
    CHECK(g.call("key", rvalue_only{}).value == 3);
  });
}

TEST_CASE("a value whose copy throws delivers that exception to the channel that needed it",
          "[singleflight]") {
  struct fragile {
    int n;
    bool throw_on_copy;
    fragile(int v, bool t) : n(v), throw_on_copy(t) {}
    fragile(const fragile& other) : n(other.n), throw_on_copy(other.throw_on_copy) {
      if (throw_on_copy) throw std::runtime_error("copy failed");
    }
    fragile(fragile&&) noexcept = default;  // moves never fail: only the copies for callers do
  };
  goro::run([] {
    goro::singleflight<fragile> g;
    auto r = g.call_chan("key", [] { return fragile(1, false); }).recv();
    REQUIRE(r.has_value());
    CHECK(r->value.has_value());
    CHECK(r->value->n == 1);
    goro::chan<std::monostate> release;
    auto first = g.call_chan("key", [release] {
      release.recv();
      return fragile(2, true);
    });
    auto second = g.call_chan("key", [] { return fragile(0, false); });
    release.close();
    for (auto* ch : {&first, &second}) {
      auto out = ch->recv();
      REQUIRE(out.has_value());
      CHECK_FALSE(out->value.has_value());
      CHECK(what_of([&] { out->get(); }) == "copy failed");
    }
  });
}

TEST_CASE("a goroutine waiting for a call shows wait_group in the dump", "[singleflight]") {
  goro::run([] {
    goro::singleflight<int> g;
    goro::chan<std::monostate> release;
    goro::wait_group wg;
    for (int i = 0; i < 2; ++i) {
      wg.add(1);
      goro::go([&, release] {
        g.call("key", [release] {
          release.recv();
          return 0;
        });
        wg.done();
      });
    }
    std::string dump = goro_test::dump_when({"[wait_group]:", "[chan receive]:"});
    CHECK(goro_test::count_in_dump(dump, "[wait_group]:") == 1);
    release.close();
    wg.wait();
  });
}

TEST_CASE("a waiter for a call that never ends is part of a deadlock", "[singleflight]") {
  std::string what;
  try {
    goro::run([] {
      goro::singleflight<int> g;
      goro::chan<int> never;
      goro::go([&, never] { g.call("key", [never] { return *never.recv(); }); });
      goro_test::dump_when({"[chan receive]:"});
      g.call("key", [] { return 0; });
    });
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  CHECK(what.starts_with("all goroutines are asleep - deadlock!"));
  CHECK(what.find("[wait_group]") != std::string::npos);
}

namespace {

// Stress: goroutines and plain threads call, call_chan and forget over a few keys at random.
// Every call's function returns a number unique to that run of it; every caller must get one
// for its own key, each run's number must reach at least the caller that ran it, and no caller
// may be left waiting.
void stress_many_callers() {
  constexpr int keys = 4;
  const int goroutines = static_cast<int>(scaled(64, 4));
  const int rounds = static_cast<int>(scaled(400, 20));
  const int threads = 2;
  goro::singleflight<std::int64_t, int> g;
  std::atomic<std::int64_t> next_run{0};
  std::mutex lock;
  std::map<std::int64_t, int> key_of_run;  // every run of a function: its key
  std::set<std::int64_t> received;         // every number some caller got
  std::atomic<int> crossed{0};             // a caller got another key's number
  std::atomic<int> unknown{0};             // a caller got a number no run returned
  std::atomic<long> results{0};
  std::atomic<long> calls{0};

  auto fn_for = [&](int key, std::uint64_t seed) {
    return [&, key, seed] {
      const std::int64_t id = next_run.fetch_add(1);
      {
        std::lock_guard guard(lock);
        key_of_run[id] = key;
      }
      if (seed % 3 == 0) goro::yield();
      if (seed % 5 == 0) goro::sleep_for(std::chrono::microseconds(seed % 200));
      return id * keys + key;
    };
  };
  auto check = [&](int key, std::int64_t value) {
    if (value % keys != key) crossed.fetch_add(1);
    std::lock_guard guard(lock);
    if (key_of_run.find(value / keys) == key_of_run.end()) unknown.fetch_add(1);
    received.insert(value / keys);
    results.fetch_add(1);
  };
  auto party = [&](std::uint64_t seed) {
    std::mt19937_64 random(seed);
    for (int i = 0; i < rounds; ++i) {
      const int key = static_cast<int>(random() % keys);
      const std::uint64_t choice = random() % 10;
      if (choice == 0) {
        g.forget(key);
        continue;
      }
      calls.fetch_add(1);
      if (choice < 4 && goro::in_goroutine()) {
        auto r = g.call_chan(key, fn_for(key, random())).recv();
        check(key, r->get());
      } else {
        check(key, g.call(key, fn_for(key, random())).value);
      }
    }
  };
  goro::run([&] {
    goro::wait_group wg;
    for (int i = 0; i < goroutines; ++i) {
      wg.add(1);
      goro::go([&, i] {
        party(static_cast<std::uint64_t>(i) + 1);
        wg.done();
      });
    }
    std::vector<std::thread> plain;
    for (int t = 0; t < threads; ++t) {
      plain.push_back(
          goro_test::registered_thread([&, t] { party(1000u + static_cast<unsigned>(t)); }));
    }
    wg.wait();
    goro::blocking([&] {
      for (auto& t : plain) t.join();
    });
  });
  CHECK(crossed.load() == 0);
  CHECK(unknown.load() == 0);
  CHECK(results.load() == calls.load());
  // Every run's number reached a caller (at least the one that ran it).
  CHECK(received.size() == key_of_run.size());
  CHECK(static_cast<long>(key_of_run.size()) <= calls.load());
}

}  // namespace

TEST_CASE("many callers over few keys: nothing lost, nothing crossed", "[singleflight][stress]") {
  stress_many_callers();
}

// The same under chaos scheduling (seed 7, unless GORO_CHAOS already sets one), where goroutines
// yield at the entry of goro's operations: a goroutine that yielded while holding the
// singleflight's internal lock would leave every worker blocked on it.
TEST_CASE("many callers over few keys under chaos scheduling", "[singleflight][stress]") {
  const bool chaos_was_set = std::getenv("GORO_CHAOS") != nullptr;
  if (!chaos_was_set) setenv("GORO_CHAOS", "7", 1);
  stress_many_callers();
  if (!chaos_was_set) unsetenv("GORO_CHAOS");
}

// docs/go-to-goro.md, section "singleflight (golang.org/x/sync/singleflight)": every row's
// spelling, as the table writes it.
TEST_CASE("go-to-goro: singleflight's call, call_chan, chan_result and forget",
          "[singleflight][go-to-goro]") {
  goro::run([] {
    goro::singleflight<std::string> g;
    const std::string key = "key";
    auto [v, shared] = g.call(key, [&] { return std::string("value"); });
    CHECK(v == "value");
    CHECK_FALSE(shared);

    goro::singleflight<long, int> by_number;
    CHECK(by_number.call(7, [] { return 7L; }).value == 7);

    auto fn = [] { return std::string("from a goroutine"); };
    goro::recv_chan<goro::singleflight<std::string>::chan_result> ch = g.call_chan(key, fn);
    auto r = *ch.recv();
    REQUIRE(r.value.has_value());
    CHECK(*r.value == "from a goroutine");
    CHECK_FALSE(r.error);
    CHECK_FALSE(r.shared);
    CHECK(r.get() == "from a goroutine");

    auto failed = *g.call_chan(key, []() -> std::string { throw std::runtime_error("no"); }).recv();
    CHECK_FALSE(failed.value.has_value());
    CHECK(failed.error);
    CHECK(what_of([&] { failed.get(); }) == "no");
    CHECK(goro_test::live_goroutines_when(1) == 1);  // see "under ThreadSanitizer" above

    g.forget(key);
  });
}
