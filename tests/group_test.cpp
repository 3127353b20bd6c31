// Tests of <goro/group.hpp>: waiting for tasks, the first exception winning and cancelling the
// context, set_limit, reuse after wait, plain threads, and the run's shutdown.
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/goro.hpp>
#include <goro/group.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "audit_types.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

namespace {

// what_of: the message wait() rethrows, or "" if it returns normally.
std::string what_of(goro::group& g) {
  try {
    g.wait();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("wait returns once every task has finished", "[group]") {
  std::atomic<int> finished{0};
  goro::run(
      [&] {
        goro::group g;
        for (int i = 0; i < 100; ++i) {
          g.go([&] {
            goro::sleep_for(1ms);
            finished.fetch_add(1);
          });
        }
        g.wait();
        CHECK(finished.load() == 100);
      },
      goro::options{.workers = 4});
}

TEST_CASE("the first exception wins, is rethrown by every wait, and cancels ctx", "[group]") {
  goro::run([] {
    goro::group g;
    std::atomic<bool> second_saw_cancel{false};
    g.go([] { throw std::runtime_error("first"); });
    g.go([&g, &second_saw_cancel] {
      g.ctx().done().recv();  // cancelled by the first failure, before wait()
      second_saw_cancel.store(true);
      throw std::runtime_error("second");
    });
    g.go([] {});  // a task that succeeds
    const std::exception* first_seen = nullptr;
    try {
      g.wait();
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "first");
      first_seen = &e;
    }
    REQUIRE(first_seen != nullptr);
    CHECK(second_saw_cancel.load());
    CHECK(g.ctx().err() == goro::errc::canceled);
    // A later wait rethrows that same exception object.
    try {
      g.wait();
      FAIL("the second wait did not throw");
    } catch (const std::runtime_error& e) {
      CHECK(&e == first_seen);
    }
  });
}

TEST_CASE("wait rethrows only after every task has finished", "[group]") {
  goro::run([] {
    goro::group g;
    std::atomic<bool> slow_finished{false};
    g.go([] { throw std::runtime_error("fast failure"); });
    g.go([&] {
      goro::sleep_for(50ms);  // ignores ctx: wait must still wait for it
      slow_finished.store(true);
    });
    CHECK_THROWS_WITH(g.wait(), "fast failure");
    CHECK(slow_finished.load());
  });
}

TEST_CASE("exceptions of any type are collected without terminating the program", "[group]") {
  goro::run([] {
    goro::group g;
    g.go([] { throw 42; });
    bool caught = false;
    try {
      g.wait();
    } catch (int v) {
      caught = v == 42;
    }
    CHECK(caught);
  });
}

// Go's tasks are func() error: returning a non-nil error fails the group with it. A goro task
// that returns a std::error_code (or an error code enum) fails it the same way, as if it had
// thrown std::system_error with that code; a zero code is success.
TEST_CASE("a task that returns a non-zero error code fails the group with it", "[group]") {
  goro::run([] {
    goro::group g;
    g.go([]() -> std::error_code { return {}; });  // nil: no failure
    g.go([](goro::context) { return std::error_code{}; });
    g.wait();                                      // nothing to rethrow
    CHECK(g.ctx().err() == goro::errc::canceled);  // by wait, not by a failure

    goro::group failing;
    goro::chan<std::monostate> first_failed;
    failing.go([first_failed] {
      first_failed.close();
      return std::make_error_code(std::errc::connection_refused);
    });
    failing.go([first_failed](goro::context ctx) {
      first_failed.recv();
      ctx.done().recv();                     // the failure cancelled the group's context
      return goro::errc::deadline_exceeded;  // an error code enum, failing second: not kept
    });
    std::error_code rethrown;
    try {
      failing.wait();
    } catch (const std::system_error& e) {
      rethrown = e.code();
    }
    CHECK(rethrown == std::errc::connection_refused);

    goro::group with_enum;
    with_enum.go([] { return goro::errc::canceled; });
    CHECK_THROWS_MATCHES(with_enum.wait(), std::system_error,
                         Catch::Predicate<std::system_error>([](const std::system_error& e) {
                           return e.code() == goro::errc::canceled;
                         }));
  });
}

TEST_CASE("ctx is cancelled when wait returns, even without an error", "[group]") {
  goro::run([] {
    goro::group g;
    CHECK_FALSE(g.ctx().err());
    std::atomic<bool> live_in_task{false};
    g.go([&] { live_in_task.store(!g.ctx().err()); });
    g.wait();
    CHECK(live_in_task.load());
    CHECK(g.ctx().err() == goro::errc::canceled);
  });
}

TEST_CASE("a group's ctx derives from its parent context", "[group]") {
  goro::run([] {
    const goro::context_key<int> key;
    auto [parent, cancel] = goro::with_timeout(goro::with_value(goro::background(), key, 7), 1h);
    goro::group g(parent);
    CHECK(*g.ctx().value(key) == 7);
    CHECK(g.ctx().deadline() == parent.deadline());
    std::atomic<bool> stopped{false};
    g.go([&stopped](goro::context ctx) {  // a task may take the group's context
      ctx.done().recv();
      stopped.store(ctx.err() == goro::errc::canceled);
    });
    cancel();
    g.wait();
    CHECK(stopped.load());
  });
}

TEST_CASE("set_limit bounds the running tasks and go blocks at the limit", "[group][limit]") {
  goro::run(
      [] {
        SECTION("the most tasks seen running at once is the limit") {
          for (int limit : {1, 3, 8}) {
            goro::group g;
            g.set_limit(limit);
            std::atomic<int> running{0};
            std::atomic<int> most{0};
            for (int i = 0; i < 40; ++i) {
              g.go([&] {
                const int now = running.fetch_add(1) + 1;
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                // Hold on until the limit has been reached once (a slow start under a sanitizer
                // must not hide it), then linger so that more tasks would overlap without it.
                const auto give_up = std::chrono::steady_clock::now() + 5s;
                while (most.load() < limit && std::chrono::steady_clock::now() < give_up) {
                  goro::sleep_for(100us);
                }
                goro::sleep_for(1ms);
                running.fetch_sub(1);
              });
            }
            g.wait();
            CHECK(most.load() == limit);
          }
        }
        SECTION("go blocks while the limit is reached") {
          goro::group g;
          g.set_limit(1);
          goro::chan<int> release;
          g.go([release] { release.recv(); });
          std::atomic<bool> second_started{false};
          goro::chan<int> go_returned(1);
          goro::go([&] {
            g.go([&] { second_started.store(true); });
            go_returned.send(1);
          });
          goro::sleep_for(20ms);
          CHECK(go_returned.size() == 0);  // still blocked in go()
          CHECK_FALSE(second_started.load());
          release.send(1);
          CHECK(go_returned.recv() == 1);
          g.wait();
          CHECK(second_started.load());
        }
        SECTION("a negative limit removes the limit") {
          goro::group g;
          g.set_limit(1);
          g.set_limit(-1);
          goro::chan<int> release;
          for (int i = 0; i < 10; ++i) g.go([release] { release.recv(); });
          for (int i = 0; i < 10; ++i) release.send(i);  // all ten run at once
          g.wait();
        }
      },
      goro::options{.workers = 4});
}

TEST_CASE("set_limit while tasks are active throws goro::error", "[group][limit]") {
  goro::run([] {
    goro::group g;
    goro::chan<int> release;
    g.go([release] { release.recv(); });
    CHECK_THROWS_AS(g.set_limit(2), goro::error);
    CHECK_THROWS_WITH(g.set_limit(2), Catch::Contains("still active"));
    release.send(1);
    g.wait();
    CHECK_NOTHROW(g.set_limit(2));  // fine once every task has finished
  });
}

TEST_CASE("set_limit takes any limit, however large, without memory for it", "[group][limit]") {
  // errgroup's limit is a channel of zero-size tokens: SetLimit(math.MaxInt) costs nothing.
  goro::run([] {
    goro::group g;
    g.set_limit(std::numeric_limits<std::ptrdiff_t>::max());
    std::atomic<int> ran{0};
    for (int i = 0; i < 100; ++i) g.go([&] { ran.fetch_add(1); });
    g.wait();
    CHECK(ran.load() == 100);
    g.set_limit(std::ptrdiff_t{1} << 40);
    g.go([&] { ran.fetch_add(1); });
    g.wait();
    CHECK(ran.load() == 101);
  });
}

TEST_CASE("with the limit 0, go blocks until the run ends", "[group][limit]") {
  std::atomic<bool> ran{false};
  std::atomic<bool> returned{false};
  goro::group g;  // outlives the goroutine blocked in g.go()
  goro::run(
      [&] {
        g.set_limit(0);
        goro::go([&] {
          g.go([&] { ran.store(true); });
          returned.store(true);
        });
        goro::sleep_for(20ms);
        // main returns: the blocked goroutine is unwound out of go().
      },
      goro::options{.detect_deadlock = false});
  CHECK_FALSE(ran.load());
  CHECK_FALSE(returned.load());
}

TEST_CASE("a group is usable after wait", "[group]") {
  goro::run([] {
    goro::group g;
    std::atomic<int> n{0};
    g.go([&] { n.fetch_add(1); });
    g.wait();
    g.go([&] { n.fetch_add(1); });
    g.go([&] { n.fetch_add(1); });
    g.wait();
    CHECK(n.load() == 3);
    g.go([] { throw std::runtime_error("late"); });
    CHECK(what_of(g) == "late");
    g.go([] { throw std::runtime_error("later"); });
    CHECK(what_of(g) == "late");  // the first exception stays the group's
  });
}

TEST_CASE("many tasks with a limit, from many goroutines, all run exactly once",
          "[group][limit][stress]") {
  const int n = static_cast<int>(scaled(20000, 20));
  std::atomic<int> ran{0};
  std::atomic<int> most{0};
  std::atomic<int> running{0};
  goro::run(
      [&] {
        goro::group g;
        g.set_limit(16);
        goro::wait_group spawners;
        for (int s = 0; s < 8; ++s) {
          spawners.add(1);
          goro::go([&] {
            for (int i = 0; i < n / 8; ++i) {
              g.go([&] {
                const int now = running.fetch_add(1) + 1;
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                goro::yield();
                running.fetch_sub(1);
                ran.fetch_add(1);
              });
            }
            spawners.done();
          });
        }
        spawners.wait();
        g.wait();
      },
      goro::options{.workers = 4});
  CHECK(ran.load() == n / 8 * 8);
  CHECK(most.load() <= 16);
}

TEST_CASE("groups work from plain threads while a run is active", "[group][threads]") {
  std::atomic<int> ran{0};
  std::string error;
  goro::run([&] {
    std::thread plain([&] {
      goro::group g;
      g.set_limit(2);
      for (int i = 0; i < 10; ++i) g.go([&] { ran.fetch_add(1); });
      g.go([] { throw std::runtime_error("from a task started by a thread"); });
      error = what_of(g);
    });
    goro::blocking([&] { plain.join(); });
  });
  CHECK(ran.load() == 10);
  CHECK(error == "from a task started by a thread");
}

TEST_CASE("go with no run active throws goro::error and leaves the group unchanged",
          "[group][threads]") {
  goro::group g;
  CHECK_THROWS_AS(g.go([] {}), goro::error);
  CHECK_NOTHROW(g.set_limit(3));  // nothing is counted as active
  CHECK_NOTHROW(g.wait());        // nothing to wait for
  // With a limit, the refused go gives back the slot it took: the one slot is free in a run.
  goro::group limited;
  limited.set_limit(1);
  CHECK_THROWS_AS(limited.go([] {}), goro::error);
  int ran = 0;
  goro::run([&] {
    limited.go([&] { ++ran; });
    limited.go([&] { ++ran; });
    limited.wait();
  });
  CHECK(ran == 2);
}

// As goro::go does (Go's TestGoNil): a task that is a null function is refused when it is given,
// rather than crashing its goroutine later.
TEST_CASE(
    "go of a null function pointer or an empty std::function throws and leaves the group "
    "unchanged",
    "[group][misuse]") {
  goro::run([] {
    goro::group g;
    g.set_limit(1);
    void (*null_function)() = nullptr;
    CHECK_THROWS_WITH(g.go(null_function), Catch::Contains("go of nil func value"));
    CHECK_THROWS_AS(g.go(std::function<void()>()), goro::error);
    CHECK_THROWS_AS(g.go(std::function<void(goro::context)>()), goro::error);
    CHECK(goro::num_goroutines() == 1);  // nothing was started
    bool ran = false;
    g.go([&] { ran = true; });  // the one slot of the limit is free
    CHECK_NOTHROW(g.wait());    // no task failed
    CHECK(ran);
  });
}

namespace {
// rvalue_task: a task that, like std::thread's and goro::go's callables, may be invoked only as
// an rvalue; with and without the context.
struct rvalue_task {
  std::atomic<int>* calls;
  void operator()() && { calls->fetch_add(1); }
  void operator()() & = delete;
};
struct rvalue_context_task {
  std::atomic<int>* calls;
  void operator()(goro::context ctx) && { calls->fetch_add(ctx.err() ? 100 : 10); }
  void operator()(goro::context) & = delete;
};
}  // namespace

TEST_CASE("group::go calls its task as an rvalue, as goro::go does", "[group]") {
  std::atomic<int> calls{0};
  goro::run([&] {
    goro::group g;
    g.go(rvalue_task{&calls});
    g.go(rvalue_context_task{&calls});
    g.wait();
  });
  CHECK(calls == 11);
}

TEST_CASE("a group destroyed before its tasks finish does not break them", "[group]") {
  std::atomic<int> finished{0};
  goro::run([&] {
    goro::chan<int> release;
    {
      goro::group g;
      for (int i = 0; i < 5; ++i) {
        g.go([&, release] {
          release.recv();
          finished.fetch_add(1);
        });
      }
    }
    for (int i = 0; i < 5; ++i) release.send(i);
    while (finished.load() < 5) goro::sleep_for(1ms);
  });
  CHECK(finished.load() == 5);
}

// --- From the audit of types and call forms at the edges of the API ([audit-types]) ---------

// A task that accepts the group's context gets it (API 6): go() asked whether the task is
// invocable with a context prvalue, then passed its own context as an lvalue, which a task
// taking goro::context&& cannot bind.
TEST_CASE("a task taking the group's context by rvalue reference gets it", "[group][audit-types]") {
  goro::run([] {
    goro::group g;
    std::atomic<int> got{0};
    const goro::context expected = g.ctx();
    g.go([&](goro::context&& ctx) {
      goro::context mine = std::move(ctx);
      if (mine.done() == expected.done()) ++got;
    });
    g.go([&](const goro::context& ctx) {
      if (ctx.done() == expected.done()) ++got;
    });
    g.go([&](goro::context ctx) {
      if (ctx.done() == expected.done()) ++got;
    });
    g.wait();
    CHECK(got == 3);
    // Each task got a context of its own: moving from it left the group's as it was.
    CHECK(g.ctx().done() == expected.done());
    CHECK(g.ctx().err() == goro::errc::canceled);
  });
}

// A task whose result is [[nodiscard]], with and without the context: the group dropped it with
// a plain call, which -Wunused-result reports in the user's build (an error under -Werror).
TEST_CASE("a group runs tasks whose result is [[nodiscard]] and drops the result",
          "[group][audit-types]") {
  std::atomic<int> calls{0};
  goro::run([&] {
    goro::group g;
    g.go(audit_types::makes_important{&calls});  // invocable with the context: gets it
    g.go([&]() -> audit_types::important {
      calls.fetch_add(1);
      return {2};
    });
    g.wait();
  });
  CHECK(calls == 2);
}

namespace audit_types {

// both_forms: a task invocable with and without the context: it gets the context.
struct both_forms {
  std::atomic<int>* with;
  std::atomic<int>* without;
  void operator()() const { without->fetch_add(1); }
  void operator()(const goro::context&) const { with->fetch_add(1); }
};

std::atomic<int> plain_calls{0};
void plain_task() {
  plain_calls.fetch_add(1);
}
void context_task(goro::context ctx) {
  if (ctx.err() == std::error_code{}) plain_calls.fetch_add(10);
}

}  // namespace audit_types

TEST_CASE("group tasks of every callable form run once, with the context when they take it",
          "[group][audit-types]") {
  using namespace audit_types;
  std::atomic<int> with{0};
  std::atomic<int> without{0};
  goro::run([&] {
    goro::group g;
    g.go(both_forms{&with, &without});
    g.go(plain_task);         // a function
    g.go(&plain_task);        // a function pointer
    g.go(context_task);       // a function taking the context
    g.go([&with](auto ctx) {  // a generic lambda: given the context
      static_assert(std::is_same_v<decltype(ctx), goro::context>);
      with.fetch_add(1);
    });
    g.go([&without, p = std::make_unique<int>(1)] { without.fetch_add(*p); });  // move-only
    auto stateful = [&without, n = 0]() mutable { without.fetch_add(++n); };
    g.go(stateful);  // copied: each task has its own state
    g.go(stateful);
    const both_forms constant{&with, &without};
    g.go(constant);
    g.wait();
  });
  CHECK(with == 3);
  CHECK(without == 1 + 1 + 1);
  CHECK(plain_calls == 12);
  CHECK(audit_types::counted::live == 0);
}

TEST_CASE("a group takes a task of a namespace that hijacks names", "[group][audit-types]") {
  std::atomic<int> total{0};
  goro::run([&] {
    goro::group g;
    g.go(audit_hijack::adder{&total});
    g.go([&] { audit_hijack::adder{&total}(audit_hijack::point{2}); });
    g.wait();
  });
  CHECK(total == 3);
}

// Ports of golang.org/x/sync/errgroup's errgroup_test.go. A task's error is an exception here,
// and Wait's returned error is what wait() rethrows. Skipped: BenchmarkGo and
// ExampleGroup_justErrors (it fetches URLs; what it shows, Wait returning the first error, is
// TestZeroGroup's).
namespace errgroup_ports {

// go_returning: g.Go(func() error { return err }), an empty `err` being nil.
void go_returning(goro::group& g, const std::string& err) {
  g.go([err] {
    if (!err.empty()) throw std::runtime_error(err);
  });
}

}  // namespace errgroup_ports

// x/sync's errgroup TestZeroGroup: a group made without a context; after each Go, Wait returns
// the first error any task returned so far (and keeps returning it).
TEST_CASE("a zero group's wait returns the first error after every go", "[group][go]") {
  using errgroup_ports::go_returning;
  const std::string err1 = "errgroup_test: 1";
  const std::string err2 = "errgroup_test: 2";
  const std::vector<std::vector<std::string>> cases = {
      {}, {""}, {err1}, {err1, ""}, {err1, "", err2}};
  goro::run([&] {
    for (const auto& errs : cases) {
      goro::group g;
      std::string first_err;
      for (std::size_t i = 0; i < errs.size(); ++i) {
        go_returning(g, errs[i]);
        if (first_err.empty()) first_err = errs[i];
        INFO("after the tasks " << i + 1 << " of case " << &errs - cases.data());
        CHECK(what_of(g) == first_err);
      }
    }
  });
}

// x/sync's errgroup TestWithContext: Wait returns the first error, and the group's context is
// done once Wait has returned, whether a task failed or not.
TEST_CASE("a group with a context: wait returns the first error and the context is done",
          "[group][go]") {
  using errgroup_ports::go_returning;
  const std::string doom = "group_test: doomed";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, ""}, {{""}, ""}, {{doom}, doom}, {{doom, ""}, doom}};
  goro::run([&] {
    for (const auto& [errs, want] : cases) {
      goro::group g(goro::background());
      const goro::context ctx = g.ctx();
      for (const auto& err : errs) go_returning(g, err);
      CHECK(what_of(g) == want);
      bool canceled = false;
      goro::select(goro::on_recv(ctx.done(), [&](auto) { canceled = true; }), goro::on_default());
      CHECK(canceled);
    }
  });
}

// x/sync's errgroup TestGoLimit: with SetLimit(10), no task of 1025 ever sees more than 10
// running, each giving the others a chance to run with a 1 µs sleep.
TEST_CASE("no task of a limited group sees more tasks running than the limit", "[group][go]") {
  const unsigned workers = GENERATE(1U, 2U, 4U);
  constexpr int limit = 10;
  goro::run(
      [] {
        goro::group g;
        g.set_limit(limit);
        std::atomic<int> active{0};
        for (int i = 0; i <= 1 << 10; ++i) {
          g.go([&active] {
            const int n = active.fetch_add(1) + 1;
            if (n > limit) {
              throw std::runtime_error("saw " + std::to_string(n) +
                                       " active goroutines; want <= " + std::to_string(limit));
            }
            goro::sleep_for(1us);
            active.fetch_sub(1);
          });
        }
        CHECK(what_of(g).empty());
      },
      goro::options{.workers = workers});
}

// x/sync's errgroup ExampleGroup_parallel: "Google Search 2.0" — three searches run as the
// tasks of a group with a context, each writing its own slot; the results come out in order.
TEST_CASE("three searches in a group fill their results in order", "[group][go]") {
  using search = std::function<std::string(goro::context, const std::string&)>;
  const auto fake_search = [](std::string kind) -> search {
    return [kind](goro::context, const std::string& query) {
      return kind + " result for \"" + query + "\"";
    };
  };
  const std::vector<search> searches = {fake_search("web"), fake_search("image"),
                                        fake_search("video")};
  const auto google = [&](goro::context parent, const std::string& query) {
    goro::group g(parent);
    std::vector<std::string> results(searches.size());
    for (std::size_t i = 0; i < searches.size(); ++i) {
      g.go([&, i](goro::context ctx) { results[i] = searches[i](ctx, query); });
    }
    g.wait();
    return results;
  };
  const auto results = goro::run([&] { return google(goro::background(), "golang"); });
  CHECK(results == std::vector<std::string>{"web result for \"golang\"",
                                            "image result for \"golang\"",
                                            "video result for \"golang\""});
}

// x/sync's errgroup TestTryGo: with SetLimit(42), 42 TryGo calls start tasks (each blocked
// sending on an unbuffered channel) and the 43rd fails; once they have finished TryGo succeeds
// again; with the limit 1, one succeeds and the next fails; with the limit 0, every one fails.
TEST_CASE("try_go starts a task only while the limit has room", "[group][go]") {
  goro::run([] {
    goro::group g;
    const int n = 42;
    g.set_limit(42);
    goro::chan<std::monostate> ch;
    const auto fn = [ch] { ch.send({}); };
    int failed_at = -1;
    for (int i = 0; i < n && failed_at < 0; ++i) {
      if (!g.try_go(fn)) failed_at = i;
    }
    CHECK(failed_at == -1);
    CHECK_FALSE(g.try_go(fn));
    goro::go([ch] {
      for (int i = 0; i < n; ++i) ch.recv();
    });
    g.wait();

    CHECK(g.try_go(fn));
    goro::go([ch] { ch.recv(); });
    g.wait();

    // Switch limit.
    g.set_limit(1);
    CHECK(g.try_go(fn));
    CHECK_FALSE(g.try_go(fn));
    goro::go([ch] { ch.recv(); });
    g.wait();

    // Block all calls.
    g.set_limit(0);
    int started = 0;
    for (int i = 0; i < 1 << 10; ++i) started += g.try_go(fn) ? 1 : 0;
    CHECK(started == 0);
    g.wait();
  });
}

TEST_CASE("try_go without a limit always starts, and its tasks fail the group as go's do",
          "[group][try_go]") {
  const std::string text = goro::run([] {
    goro::group g(goro::background());
    std::atomic<int> ran{0};
    int started = 0;
    for (int i = 0; i < 100; ++i) started += g.try_go([&] { ran.fetch_add(1); }) ? 1 : 0;
    CHECK(started == 100);
    CHECK(g.try_go([]() -> std::error_code { return goro::errc::canceled; }));
    CHECK(g.try_go([](const goro::context& ctx) {
      ctx.done().recv();  // cancelled by the failure of the task above
      throw std::runtime_error("second");
    }));
    std::string what;
    try {
      g.wait();
    } catch (const std::system_error& e) {
      what = e.what();
      CHECK(e.code() == goro::errc::canceled);
    }
    CHECK(ran.load() == 100);
    return what;
  });
  CHECK_THAT(text, Catch::Contains("context canceled"));
}

// errgroup's TryGo sends on the limit's channel only if that does not block, so it never takes a
// slot from a Go call already waiting for one: the channel hands a freed slot to the first
// blocked sender. Here try_go is called over and over, from another goroutine, while the slot
// passes from a finishing task to a go() blocked for it; the task that go() starts then holds
// the slot, so no try_go may succeed before it is released.
TEST_CASE("try_go does not take a slot that a blocked go is owed", "[group][try_go][limit]") {
  const unsigned workers = GENERATE(1U, 2U);
  goro::run(
      [] {
        goro::group g;
        g.set_limit(1);
        goro::chan<std::monostate> release_first;
        goro::chan<std::monostate> release_second;
        g.go([release_first] { release_first.recv(); });
        goro::chan<std::monostate> admitted(1);
        goro::go([&g, admitted, release_second] {
          g.go([release_second] { release_second.recv(); });  // blocks: the slot is taken
          admitted.send({});
        });
        goro_test::dump_when({"[chan send]:"});  // the go() waiting for the slot
        std::atomic<bool> stop{false};
        std::atomic<long> attempts{0};
        std::atomic<long> stolen{0};
        goro::wait_group spinning;
        spinning.add(1);
        goro::go([&] {
          while (!stop.load()) {
            if (g.try_go([] {})) stolen.fetch_add(1);
            attempts.fetch_add(1);
            goro::yield();
          }
          spinning.done();
        });
        while (attempts.load() < 10) goro::yield();
        release_first.send({});  // the first task ends; its slot goes to the blocked go()
        admitted.recv();
        const long before = attempts.load();
        while (attempts.load() < before + 10) goro::yield();
        stop.store(true);
        spinning.wait();
        CHECK(stolen.load() == 0);
        release_second.send({});
        g.wait();
        CHECK(g.try_go([] {}));  // the slot is free again
        g.wait();
      },
      goro::options{.workers = workers});
}

TEST_CASE("try_go refuses what go refuses and changes nothing", "[group][try_go][misuse]") {
  goro::group outside;
  CHECK_THROWS_AS(outside.try_go([] {}), goro::error);  // no run
  goro::run([] {
    goro::group g;
    g.set_limit(1);
    void (*null_function)() = nullptr;
    CHECK_THROWS_WITH(g.try_go(null_function), Catch::Contains("go of nil func value"));
    CHECK_THROWS_AS(g.try_go(std::function<void()>()), goro::error);
    // Nothing was admitted: the one slot is free and set_limit sees no active task.
    CHECK_NOTHROW(g.set_limit(1));
    CHECK(g.try_go([] {}));
    g.wait();
  });
}

// Many goroutines and plain threads call try_go on a group limited to 3 while the tasks run for
// a random while: no task ever sees more than 3 running, and the tasks that ran are exactly the
// ones try_go said it started.
TEST_CASE("try_go from many goroutines and threads starts exactly what it reports",
          "[group][try_go][limit][stress]") {
  const unsigned workers = GENERATE(1U, 2U, 4U);
  goro::run(
      [] {
        constexpr int limit = 3;
        const long attempts = scaled(2000, 10);
        goro::group g;
        g.set_limit(limit);
        std::atomic<int> running{0};
        std::atomic<int> most{0};
        std::atomic<long> started{0};
        std::atomic<long> ran{0};
        const auto task = [&] {
          const int now = running.fetch_add(1) + 1;
          int seen = most.load();
          while (now > seen && !most.compare_exchange_weak(seen, now)) {
          }
          goro::sleep_for(std::chrono::microseconds(now * 7 % 50));
          ran.fetch_add(1);
          running.fetch_sub(1);
        };
        const auto caller = [&] {
          for (long i = 0; i < attempts; ++i) {
            if (g.try_go(task)) started.fetch_add(1);
            if (i % 8 == 0) goro::yield();
          }
        };
        goro::wait_group callers;
        callers.add(4);
        for (int i = 0; i < 4; ++i) {
          goro::go([&] {
            caller();
            callers.done();
          });
        }
        std::thread plain = goro_test::registered_thread(caller);
        callers.wait();
        plain.join();
        g.wait();
        CHECK(started.load() > 0);
        CHECK(ran.load() == started.load());
        CHECK(most.load() <= limit);
        CHECK_NOTHROW(g.set_limit(limit));  // every admission was given back
      },
      goro::options{.workers = workers});
}

// docs/go-to-goro.md, section "errgroup (golang.org/x/sync/errgroup)": every row's spelling, as
// written there.
TEST_CASE("go-to-goro: group, go, wait and its first exception", "[group][go-to-goro]") {
  goro::run([] {
    {
      goro::group g;  // var g errgroup.Group
      std::atomic<int> ran{0};
      for (int i = 0; i < 3; ++i) {
        g.go([&] { ++ran; });
      }
      g.wait();  // no task threw: returns normally, after every task
      CHECK(ran == 3);
    }
    {
      goro::group g;
      goro::chan<int> second_may_throw;
      g.go([] { throw std::runtime_error("first"); });
      g.go([second_may_throw] {
        second_may_throw.recv();  // closed below, once the first task has ended
        throw std::runtime_error("second");
      });
      goro_test::live_goroutines_when(2);  // main and the second task: the first has thrown
      second_may_throw.close();
      std::string caught;
      try {
        g.wait();
      } catch (const std::exception& e) {
        caught = e.what();
      }
      CHECK(caught == "first");
    }
    {
      goro::group g;
      g.go([&]() -> std::error_code { return std::make_error_code(std::errc::timed_out); });
      std::error_code returned;
      try {
        g.wait();
      } catch (const std::system_error& e) {
        returned = e.code();
      }
      CHECK(returned == std::errc::timed_out);
    }
  });
}

TEST_CASE("go-to-goro: group with a parent context, and tasks that take it",
          "[group][go-to-goro]") {
  goro::run([] {
    {
      // g, ctx := errgroup.WithContext(parent): g.ctx() is cancelled when the first task throws.
      goro::context parent = goro::background();
      goro::group g(parent);
      goro::context seen_by_task;
      std::atomic<bool> saw_cancel{false};
      g.go([&](goro::context ctx) {
        seen_by_task = ctx;
        ctx.done().recv();  // woken by the other task's exception
        saw_cancel = ctx.err() == goro::errc::canceled;
      });
      g.go([] { throw std::runtime_error("stop"); });
      CHECK_THROWS_AS(g.wait(), std::runtime_error);
      CHECK(saw_cancel);
      CHECK(g.ctx().err() == goro::errc::canceled);
      CHECK(seen_by_task.err() == goro::errc::canceled);  // the task's ctx is the group's
      CHECK_FALSE(parent.err());
    }
    {
      // ... and when wait returns, with no task failing.
      goro::group g(goro::background());
      g.go([] {});
      CHECK_FALSE(g.ctx().err());
      g.wait();
      CHECK(g.ctx().err() == goro::errc::canceled);
    }
    {
      // A cancelled parent cancels g.ctx().
      auto [parent, cancel] = goro::with_cancel(goro::background());
      goro::group g(parent);
      cancel();
      CHECK(g.ctx().err() == goro::errc::canceled);
      g.wait();
    }
  });
}

TEST_CASE("go-to-goro: set_limit", "[group][go-to-goro]") {
  goro::run([] {
    for (std::ptrdiff_t n : {std::ptrdiff_t{1}, std::ptrdiff_t{2}}) {
      goro::group g;
      g.set_limit(n);  // at most n tasks at once
      std::atomic<int> running{0}, most{0};
      for (int i = 0; i < 6; ++i) {
        g.go([&, n] {
          int now = ++running;
          int seen = most.load();
          while (now > seen && !most.compare_exchange_weak(seen, now)) {
          }
          // Stay until n tasks have run at once, so that the limit is reached whatever the
          // schedule (10 s guard against a hang if it cannot be).
          auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (most < n && std::chrono::steady_clock::now() < give_up) {
            goro::sleep_for(std::chrono::milliseconds(1));
          }
          --running;
        });
      }
      g.wait();
      CHECK(most == n);
    }
    // Negative: no limit: six tasks that wait for each other all run at once.
    goro::group g;
    g.set_limit(-1);
    goro::wait_group all_started;
    all_started.add(6);
    for (int i = 0; i < 6; ++i) {
      g.go([&] {
        all_started.done();
        all_started.wait();
      });
    }
    g.wait();
  });
}

TEST_CASE("go-to-goro: try_go", "[group][go-to-goro]") {
  goro::run([] {
    goro::group g;
    g.set_limit(1);
    goro::chan<int> release;
    int started = 0;
    // if g.TryGo(f) { ... }
    if (g.try_go([release] { release.recv(); })) ++started;
    if (g.try_go([] {})) ++started;  // the limit has no room: f is not started
    CHECK(started == 1);
    release.send(1);
    g.wait();
  });
}

// ---------------------------------------------------------------------------------------------
// Go's memory model (go.dev/ref/mem) for groups: errgroup's Wait is a sync.WaitGroup's, whose
// "Done synchronizes before the return of any Wait call that it unblocks". Each case shares
// plain, non-atomic data between the tasks and the waiter through nothing but the group: a
// missing edge is a wrong value here and a data race under ThreadSanitizer.

namespace {

// mm_failure: an exception that carries plain data built by the task that throws it.
struct mm_failure : std::runtime_error {
  std::vector<int> items;
  std::string detail;
  explicit mm_failure(int i)
      : std::runtime_error("task failed"), items(4, i), detail("task " + std::to_string(i)) {}
};

}  // namespace

// Each task's completion happens before wait returns: per round a group runs tasks that write
// their plain slots; the waiter reads them all when wait returns. The waiter (who also starts the
// tasks) is a goroutine or a plain thread; with a limit, go blocks while tasks run.
TEST_CASE("memory model: each task's completion happens before the group's wait returns",
          "[group][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const bool on_thread = GENERATE(false, true);
  const std::ptrdiff_t limit = GENERATE(-1, 2);
  const int rounds = static_cast<int>(goro_test::scaled(300, 10));
  constexpr std::size_t task_count = 6;
  int wrong = 0;
  int waited = 0;
  goro::run(
      [&] {
        goro_test::parties parties;
        parties.start(on_thread, [&] {
          for (int i = 0; i < rounds; ++i) {
            std::array<goro_test::payload, task_count> slots;
            goro::group g;
            g.set_limit(limit);
            for (std::size_t t = 0; t < task_count; ++t) {
              g.go([&slots, t, i] { slots[t].write(i * 100 + static_cast<int>(t)); });
            }
            g.wait();
            for (std::size_t t = 0; t < task_count; ++t) {
              if (!slots[t].holds(i * 100 + static_cast<int>(t))) ++wrong;
            }
            ++waited;
          }
        });
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  CHECK(waited == rounds);
  CHECK(wrong == 0);
}

// The first exception, and what its task wrote before throwing, are seen whole by the waiter
// that wait rethrows it to, and by a later wait; the other tasks' writes too.
TEST_CASE("memory model: the first exception's data is seen by the group's waiter",
          "[group][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const bool on_thread = GENERATE(false, true);
  const int rounds = static_cast<int>(goro_test::scaled(300, 10));
  constexpr std::size_t task_count = 4;
  int wrong = 0;
  int caught = 0;
  goro::run(
      [&] {
        goro_test::parties parties;
        parties.start(on_thread, [&] {
          for (int i = 0; i < rounds; ++i) {
            std::array<goro_test::payload, task_count> slots;
            goro::group g;
            for (std::size_t t = 0; t < task_count; ++t) {
              g.go([&slots, t, i] {
                slots[t].write(i * 100 + static_cast<int>(t));
                if (t == 0) throw mm_failure(i);
              });
            }
            for (int pass = 0; pass < 2; ++pass) {
              try {
                g.wait();
                ++wrong;
              } catch (const mm_failure& e) {
                if (e.items != std::vector<int>(4, i) || e.detail != "task " + std::to_string(i)) {
                  ++wrong;
                }
                ++caught;
              }
              for (std::size_t t = 0; t < task_count; ++t) {
                if (!slots[t].holds(i * 100 + static_cast<int>(t))) ++wrong;
              }
            }
          }
        });
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  CHECK(caught == 2 * rounds);
  CHECK(wrong == 0);
}

// ---------------------------------------------------------------------------------------------
// The contract, clause by clause (docs/API.md section 6; docs/contract-coverage).

// API 6: group() and an explicit group(context parent); ctx() returns the group's context;
// set_limit takes a std::ptrdiff_t.
TEST_CASE(
    "group's constructor from a context is explicit and its members have the contract's types",
    "[group][contract]") {
  static_assert(std::is_default_constructible_v<goro::group>);
  static_assert(std::is_constructible_v<goro::group, goro::context>);
  static_assert(!std::is_convertible_v<goro::context, goro::group>);
  static_assert(std::is_same_v<decltype(std::declval<const goro::group&>().ctx()), goro::context>);
  static_assert(std::is_same_v<decltype(std::declval<goro::group&>().wait()), void>);
  static_assert(
      std::is_same_v<decltype(std::declval<goro::group&>().set_limit(std::ptrdiff_t{-1})), void>);
  const goro::group g(goro::background());
  CHECK_FALSE(g.ctx().err());
}

// API 6: group() derives its context from background(): live and cancellable (wait() cancels
// it), with no deadline and no values.
TEST_CASE("a default-constructed group's ctx is live, cancellable and has no deadline or values",
          "[group][contract]") {
  goro::run([] {
    const goro::context_key<int> key;
    goro::group g;
    const goro::context ctx = g.ctx();
    CHECK_FALSE(ctx.err());
    CHECK_FALSE(ctx.done().is_nil());
    CHECK_FALSE(ctx.deadline().has_value());
    CHECK(ctx.value(key) == nullptr);
    g.wait();
    CHECK(ctx.err() == goro::errc::canceled);
  });
}

// API 6: the first task that throws cancels ctx() at once, not only when wait() returns: a task
// that waits for the cancellation, with no wait() called, is released by it.
TEST_CASE("the first task that throws cancels ctx before anyone calls wait", "[group][contract]") {
  std::atomic<bool> released{false};
  std::string first;
  goro::run([&] {
    goro::group g;
    goro::chan<int> waiter_done(1);
    g.go([&released, waiter_done](goro::context ctx) {
      ctx.done().recv();
      released.store(ctx.err() == goro::errc::canceled);
      waiter_done.send(1);
    });
    g.go([] { throw std::runtime_error("first"); });
    waiter_done.recv();  // no wait() yet: only the throw can have released the waiter
    first = what_of(g);
  });
  CHECK(released.load());
  CHECK(first == "first");
}
