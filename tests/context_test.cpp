// Tests of <goro/context.hpp>: cancellation of context trees, deadlines and their inheritance,
// err() values and messages, values through the chain, done() in select, no accumulation of
// children under a long-lived parent, and contexts on plain threads with and without a run.
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/goro.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "audit_types.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using goro_test::scaled;

namespace {

// is_done: whether ctx.done() is closed now (a receive would proceed), without blocking.
bool is_done(const goro::context& ctx) {
  return goro::select(goro::on_recv(ctx.done()), goro::on_default()) == 0;
}

}  // namespace

TEST_CASE("background is never done and has no deadline or values", "[context]") {
  const goro::context bg = goro::background();
  const goro::context_key<int> key;
  CHECK(bg.done().is_nil());
  CHECK_FALSE(bg.err());
  CHECK_FALSE(bg.deadline().has_value());
  CHECK(bg.value(key) == nullptr);
  CHECK_FALSE(is_done(bg));
  CHECK(goro::context().done().is_nil());  // a default-constructed context is background()
}

TEST_CASE("cancel closes done and sets err to canceled, with a readable message", "[context]") {
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  CHECK_FALSE(ctx.err());
  CHECK_FALSE(ctx.done().is_nil());
  CHECK_FALSE(is_done(ctx));
  CHECK_FALSE(ctx.deadline().has_value());
  cancel();
  CHECK(is_done(ctx));
  CHECK_FALSE(ctx.done().recv().has_value());  // closed: receives return at once
  const std::error_code e = ctx.err();
  CHECK(e == goro::errc::canceled);
  CHECK(e != goro::errc::deadline_exceeded);
  CHECK(e.message() == "context canceled");
  CHECK(std::string(e.category().name()) == "goro");
  CHECK(&e.category() == &goro::error_category());
  CHECK(e == std::errc::operation_canceled);
}

TEST_CASE("the goro error category names both errors", "[context]") {
  const std::error_code canceled = goro::errc::canceled;
  const std::error_code exceeded = goro::errc::deadline_exceeded;
  CHECK(canceled.message() == "context canceled");
  CHECK(exceeded.message() == "context deadline exceeded");
  CHECK(exceeded == std::errc::timed_out);
  CHECK(canceled != exceeded);
}

TEST_CASE("with_timeout fires deadline_exceeded no earlier than its deadline",
          "[context][deadline]") {
  goro::run([] {
    const auto start = clock_type::now();
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 20ms);
    REQUIRE(ctx.deadline().has_value());
    CHECK(*ctx.deadline() >= start + 20ms);
    CHECK(*ctx.deadline() <= clock_type::now() + 20ms);
    // Not done before its deadline. Read err() first: a machine that paused this goroutine for
    // 20 ms since with_timeout may rightly see it done, but only once the deadline has passed.
    const bool done_early = ctx.err() && clock_type::now() < *ctx.deadline();
    CHECK_FALSE(done_early);
    CHECK_FALSE(ctx.done().recv().has_value());
    CHECK(clock_type::now() >= *ctx.deadline());
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
    CHECK(ctx.err().message() == "context deadline exceeded");
    cancel();  // after the deadline: changes nothing
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
  });
}

// A context made with no run active keeps its deadline on the fallback heap, which counts as a
// pending timer for deadlock detection (API 1.3) in the run that waits for it.
TEST_CASE("a deadline set before the run ends a wait inside it, which is no deadlock",
          "[context][deadline]") {
  const auto made_at = clock_type::now();
  const auto timed = goro::with_timeout(goro::background(), 30ms);
  const goro::context& ctx = timed.first;
  REQUIRE_NOTHROW(goro::run([&] {
    CHECK_FALSE(ctx.done().recv().has_value());
    CHECK(clock_type::now() >= made_at + 30ms);
  }));
  CHECK(ctx.err() == goro::errc::deadline_exceeded);
  timed.second();
}

TEST_CASE("a deadline already passed gives a context that is done at once", "[context][deadline]") {
  auto [ctx, cancel] = goro::with_deadline(goro::background(), clock_type::now() - 1s);
  CHECK(is_done(ctx));
  CHECK(ctx.err() == goro::errc::deadline_exceeded);
  auto [zero, cancel_zero] = goro::with_timeout(goro::background(), 0ns);
  CHECK(zero.err() == goro::errc::deadline_exceeded);
}

TEST_CASE("cancel is idempotent and may be called concurrently from goroutines and threads",
          "[context]") {
  goro::run(
      [] {
        for (int round = 0; round < scaled(200, 10); ++round) {
          auto [ctx, cancel] = goro::with_timeout(goro::background(), 1h);
          goro::wait_group wg;
          for (int i = 0; i < 8; ++i) {
            wg.add(1);
            goro::go([&, cancel = cancel] {
              cancel();
              cancel();
              wg.done();
            });
          }
          std::thread plain([cancel = cancel] { cancel(); });
          cancel();
          wg.wait();
          goro::blocking([&] { plain.join(); });
          CHECK(ctx.err() == goro::errc::canceled);
        }
        // A cancelled with_timeout stays canceled after its deadline would have passed.
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 5ms);
        cancel();
        goro::sleep_for(20ms);
        CHECK(ctx.err() == goro::errc::canceled);
      },
      goro::options{.workers = 4});
}

TEST_CASE("cancelling a child leaves its parent and siblings alive", "[context]") {
  auto [parent, cancel_parent] = goro::with_cancel(goro::background());
  auto [a, cancel_a] = goro::with_cancel(parent);
  auto [b, cancel_b] = goro::with_cancel(parent);
  auto [a1, cancel_a1] = goro::with_cancel(a);
  cancel_a();
  CHECK(a.err() == goro::errc::canceled);
  CHECK(a1.err() == goro::errc::canceled);
  CHECK_FALSE(parent.err());
  CHECK_FALSE(b.err());
  cancel_parent();
  CHECK(b.err() == goro::errc::canceled);
}

TEST_CASE("cancelling a parent cancels its 1000 descendants, all with the parent's error",
          "[context][tree]") {
  const goro::context_key<int> key;
  auto build = [&](goro::context root, std::vector<goro::context>& all,
                   std::vector<goro::cancel_func>& cancels) {
    // A tree of 1000 nodes mixing the kinds: node i's parent is node (i - 1) / 3.
    all.push_back(root);
    for (int i = 1; i < 1000; ++i) {
      const goro::context& parent = all[static_cast<std::size_t>((i - 1) / 3)];
      switch (i % 4) {
        case 0: all.push_back(goro::with_value(parent, key, i)); break;
        case 1: {
          auto [c, f] = goro::with_cancel(parent);
          all.push_back(c);
          cancels.push_back(f);
          break;
        }
        case 2: {
          auto [c, f] = goro::with_timeout(parent, 1h);
          all.push_back(c);
          cancels.push_back(f);
          break;
        }
        default: {
          auto [c, f] = goro::with_deadline(parent, clock_type::now() + 2h);
          all.push_back(c);
          cancels.push_back(f);
        }
      }
    }
  };
  goro::run([&] {
    SECTION("by its cancel_func") {
      auto [root, cancel] = goro::with_cancel(goro::background());
      std::vector<goro::context> all;
      std::vector<goro::cancel_func> cancels;
      build(root, all, cancels);
      for (const auto& c : all) REQUIRE_FALSE(c.err());
      // Goroutines wait on the done channels of the leaves.
      std::atomic<int> woke{0};
      goro::wait_group wg;
      for (std::size_t i = 500; i < all.size(); ++i) {
        wg.add(1);
        goro::go([&, c = all[i]] {
          if (!c.done().recv().has_value()) woke.fetch_add(1);
          wg.done();
        });
      }
      cancel();
      wg.wait();
      CHECK(woke.load() == 500);
      int wrong = 0;
      for (const auto& c : all) {
        if (!is_done(c) || c.err() != goro::errc::canceled) ++wrong;
      }
      CHECK(wrong == 0);
    }
    SECTION("by its deadline") {
      auto [root, cancel] = goro::with_timeout(goro::background(), 20ms);
      std::vector<goro::context> all;
      std::vector<goro::cancel_func> cancels;
      build(root, all, cancels);
      root.done().recv();
      int wrong = 0;
      for (const auto& c : all) {
        if (!is_done(c) || c.err() != goro::errc::deadline_exceeded) ++wrong;
        if (c.deadline() != root.deadline()) ++wrong;  // nobody's deadline exceeds the root's
      }
      CHECK(wrong == 0);
    }
  });
}

TEST_CASE("a chain of 100000 contexts is cancelled and destroyed without deep recursion",
          "[context][tree]") {
  // On a goroutine's stack (256 KiB): recursion per level would overflow it.
  const int depth = static_cast<int>(scaled(100000, 10));
  const goro::context_key<int> key;
  goro::run([&] {
    auto [root, cancel] = goro::with_cancel(goro::background());
    goro::context leaf = root;
    for (int i = 0; i < depth; ++i) {
      if (i % 2 == 0) {
        leaf = goro::with_cancel(leaf).first;
      } else {
        leaf = goro::with_value(leaf, key, i);
      }
    }
    CHECK(*leaf.value(key) == depth - 1);
    CHECK_FALSE(leaf.err());
    cancel();
    CHECK(leaf.err() == goro::errc::canceled);
    leaf = goro::background();  // frees the whole chain
  });
}

TEST_CASE("a child's deadline never exceeds its parent's", "[context][deadline]") {
  goro::run([] {
    const auto soon = clock_type::now() + 200ms;
    auto [parent, cancel_parent] = goro::with_deadline(goro::background(), soon);
    REQUIRE(parent.deadline() == soon);

    auto [later, cancel_later] = goro::with_deadline(parent, soon + 1h);
    CHECK(later.deadline() == soon);  // inherits the earlier one
    auto [timeout, cancel_timeout] = goro::with_timeout(parent, 1h);
    CHECK(timeout.deadline() == soon);
    auto [plain, cancel_plain] = goro::with_cancel(parent);
    CHECK(plain.deadline() == soon);
    const goro::context_key<int> key;
    CHECK(goro::with_value(parent, key, 1).deadline() == soon);

    const auto sooner = clock_type::now() + 5ms;
    auto [earlier, cancel_earlier] = goro::with_deadline(parent, sooner);
    CHECK(earlier.deadline() == sooner);  // its own, earlier one

    earlier.done().recv();
    CHECK(earlier.err() == goro::errc::deadline_exceeded);
    // The parent's deadline and so the child's with the later one are still ahead, unless a
    // loaded machine held this goroutine for 200 ms: err() is read before the clock.
    CHECK((!parent.err() || clock_type::now() >= soon));
    CHECK((!later.err() || clock_type::now() >= soon));

    later.done().recv();  // the parent's deadline ends the child with the later one
    CHECK(clock_type::now() >= soon);
    CHECK(later.err() == goro::errc::deadline_exceeded);
    CHECK(parent.err() == goro::errc::deadline_exceeded);
    CHECK(plain.err() == goro::errc::deadline_exceeded);  // the parent's error, not canceled
  });
}

TEST_CASE("a child of a cancelled parent is born cancelled with the parent's error", "[context]") {
  auto [parent, cancel] = goro::with_cancel(goro::background());
  cancel();
  auto [child, cancel_child] = goro::with_timeout(parent, 1h);
  CHECK(is_done(child));
  CHECK(child.err() == goro::errc::canceled);
  auto [expired, cancel_expired] = goro::with_deadline(goro::background(), clock_type::now());
  auto [grandchild, cancel_grandchild] = goro::with_cancel(expired);
  CHECK(grandchild.err() == goro::errc::deadline_exceeded);
}

TEST_CASE("values are found through the chain and the nearest one wins", "[context][value]") {
  static const goro::context_key<std::string> user;
  static const goro::context_key<int> request_id;
  static const goro::context_key<int> other_int;  // same type, different key
  goro::context ctx = goro::with_value(goro::background(), user, "gopher");
  auto [cancellable, cancel] = goro::with_cancel(ctx);
  goro::context inner = goro::with_value(cancellable, request_id, 42);
  REQUIRE(inner.value(user) != nullptr);
  CHECK(*inner.value(user) == "gopher");
  CHECK(*inner.value(request_id) == 42);
  CHECK(inner.value(other_int) == nullptr);
  CHECK(ctx.value(request_id) == nullptr);  // values do not flow up

  goro::context shadow = goro::with_value(inner, user, "rob");
  CHECK(*shadow.value(user) == "rob");
  CHECK(*inner.value(user) == "gopher");

  // A value node is cancelled with its cancellable ancestor.
  cancel();
  CHECK(inner.err() == goro::errc::canceled);
  CHECK(is_done(shadow));
  CHECK(*shadow.value(request_id) == 42);  // values survive cancellation
}

// Two empty keys of different types can share an address (an empty base beside a member of the
// derived class); Go's keys are equal only when their types are, so neither may find the other's
// value, which would be read as the wrong type.
struct request_keys : goro::context_key<int> {
  goro::context_key<std::string> name;
};

TEST_CASE("a key finds only values of its own type, even at another key's address",
          "[context][value]") {
  static const request_keys keys;
  const goro::context_key<int>& id_key = keys;
  const goro::context_key<std::string>& name_key = keys.name;
  goro::context with_id = goro::with_value(goro::background(), id_key, 7);
  CHECK(with_id.value(name_key) == nullptr);
  REQUIRE(with_id.value(id_key) != nullptr);
  CHECK(*with_id.value(id_key) == 7);

  goro::context with_both = goro::with_value(with_id, name_key, std::string("gopher"));
  REQUIRE(with_both.value(name_key) != nullptr);
  CHECK(*with_both.value(name_key) == "gopher");
  CHECK(*with_both.value(id_key) == 7);
}
TEST_CASE("done works in select", "[context][select]") {
  goro::run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::chan<int> never;
    goro::go([cancel = cancel] {
      goro::sleep_for(10ms);
      cancel();
    });
    bool closed = false;
    const auto index =
        goro::select(goro::on_recv(never), goro::on_recv(ctx.done(), [&](auto v) { closed = !v; }));
    CHECK(index == 1);
    CHECK(closed);

    // A timeout context against a slower result.
    auto [timeout, cancel_timeout] = goro::with_timeout(goro::background(), 10ms);
    goro::chan<int> slow;
    goro::go([slow] {
      goro::sleep_for(10s);  // a bound only: the timeout's 10 ms must win on a loaded machine too
      slow.try_send(1);
    });
    CHECK(goro::select(goro::on_recv(slow), goro::on_recv(timeout.done())) == 1);
    CHECK(timeout.err() == goro::errc::deadline_exceeded);

    // background's done is nil: never chosen.
    CHECK(goro::select(goro::on_recv(goro::background().done()), goro::on_default()) == 1);
  });
}

TEST_CASE("a long-lived parent does not accumulate its short-lived children", "[context][leak]") {
  const int n = static_cast<int>(scaled(100000, 20));
  const goro::context parent = goro::with_cancel(goro::background()).first;
  CHECK(goro::detail::context_child_count(parent) == 0);
  {
    std::vector<goro::context> held;
    for (int i = 0; i < 10; ++i) held.push_back(goro::with_cancel(parent).first);
    CHECK(goro::detail::context_child_count(parent) == 10);
  }
  CHECK(goro::detail::context_child_count(parent) == 0);  // destroyed children leave the list

  std::size_t most = 0;
  goro::run([&] {
    const goro::context_key<int> key;
    for (int i = 0; i < n; ++i) {
      switch (i % 4) {
        case 0: {  // cancelled by its cancel_func while still referenced
          auto [c, cancel] = goro::with_cancel(parent);
          cancel();
          most = std::max(most, goro::detail::context_child_count(parent));
          break;
        }
        case 1: {  // dropped without cancel
          auto [c, cancel] = goro::with_timeout(parent, 1h);
          break;
        }
        case 2: {  // a timeout that fires, then the child is dropped
          auto [c, cancel] = goro::with_timeout(parent, 0ns);
          break;
        }
        default: {  // registered through a value node, cancelled
          auto [c, cancel] = goro::with_cancel(goro::with_value(parent, key, i));
          most = std::max(most, goro::detail::context_child_count(parent));
          cancel();
        }
      }
    }
  });
  CHECK(most <= 1);
  CHECK(goro::detail::context_child_count(parent) == 0);
  CHECK_FALSE(parent.err());

  // A child whose own deadline fires leaves the list then, while it is still referenced (its
  // cancel may finish just after done() is closed: polled, for at most 10 s).
  std::size_t left_after_deadline = 1;
  goro::run([&] {
    auto [c, cancel] = goro::with_timeout(parent, 1ms);
    c.done().recv();
    const auto give_up = clock_type::now() + 10s;
    while ((left_after_deadline = goro::detail::context_child_count(parent)) != 0 &&
           clock_type::now() < give_up) {
      goro::sleep_for(1ms);
    }
    CHECK(c.err() == goro::errc::deadline_exceeded);
  });
  CHECK(left_after_deadline == 0);
}

TEST_CASE("contexts work on plain threads while a run is active and with none",
          "[context][threads]") {
  // No run: the deadline fires on goro's fallback timer thread.
  {
    const auto start = clock_type::now();
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 10ms);
    CHECK_FALSE(ctx.done().recv().has_value());
    CHECK(clock_type::now() >= start + 10ms);
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
  }
  std::atomic<int> ok{0};
  goro::run([&] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    std::thread waiter([&, ctx = ctx] {
      if (!ctx.done().recv().has_value() && ctx.err() == goro::errc::canceled) ok.fetch_add(1);
      auto [t, cancel_t] = goro::with_timeout(ctx, 5ms);  // born cancelled
      if (t.err() == goro::errc::canceled) ok.fetch_add(1);
      auto [u, cancel_u] = goro::with_timeout(goro::background(), 5ms);
      if (!u.done().recv() && u.err() == goro::errc::deadline_exceeded) ok.fetch_add(1);
    });
    std::thread canceller([cancel = cancel] {
      std::this_thread::sleep_for(5ms);
      cancel();
    });
    goro::blocking([&] {
      waiter.join();
      canceller.join();
    });
  });
  CHECK(ok.load() == 3);
}

TEST_CASE("ten thousand goroutines waiting on one context are all woken by its cancel",
          "[context][scale]") {
  const int n = static_cast<int>(scaled(10000, 20));
  std::atomic<int> woke{0};
  goro::run(
      [&] {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        goro::wait_group started;
        goro::wait_group finished;
        for (int i = 0; i < n; ++i) {
          started.add(1);
          finished.add(1);
          // Half wait on the context itself, half on a child of their own.
          goro::go([&, i, ctx = ctx] {
            auto [mine, cancel_mine] = goro::with_cancel(ctx);
            const goro::context& target = i % 2 == 0 ? ctx : mine;
            started.done();
            if (!target.done().recv().has_value()) woke.fetch_add(1);
            finished.done();
          });
        }
        started.wait();
        cancel();
        finished.wait();
      },
      goro::options{.workers = 4});
  CHECK(woke.load() == n);
}

// Ports of Go 1.19's context tests (src/context/context_test.go, the XTest... functions).
// Skipped, with no goro equivalent: XTestTODO (no TODO()), the String() checks of every test,
// XTestAllocs (allocation counts), XTestWithValueChecksKey (a key is a typed object: no nil or
// incomparable keys), XTestInvalidDerivedFail (no nil parent: a default context is background()),
// and XTestCustomContextGoroutines' user-defined Context types (goro's context is a closed class;
// its part about the standard contexts is ported below). Go's otherContext, a wrapper of another
// type, becomes a with_value node (or a with_cancel one) between the contexts.
// Already covered: XTestBackground by "background is never done and has no deadline or values",
// XTestWithCancelCanceledParent by "a child of a cancelled parent is born cancelled with the
// parent's error", XTestDeadlineExceededSupportsTimeout (and net_test.go's
// TestDeadlineExceededIsNetError) by "the goro error category names both errors"
// (deadline_exceeded == std::errc::timed_out).

namespace {

// done_within: whether ctx.done() is closed within `limit`, a liveness bound for a context
// expected to be done (Go's quiescent()).
bool done_within(const goro::context& ctx, std::chrono::nanoseconds limit = 10s) {
  goro::timer give_up(limit);
  const bool done = goro::select(goro::on_recv(ctx.done()), goro::on_recv(give_up.c())) == 0;
  give_up.stop();
  return done;
}

// expect_deadline_exceeded: Go's testDeadline: ctx times out, no earlier than its deadline.
void expect_deadline_exceeded(const goro::context& ctx) {
  REQUIRE(ctx.deadline().has_value());
  CHECK(done_within(ctx));
  CHECK(clock_type::now() >= *ctx.deadline());
  CHECK(ctx.err() == goro::errc::deadline_exceeded);
}

}  // namespace

// Go's context XTestWithCancel.
TEST_CASE("cancel reaches a cancellable grandchild through a value node synchronously",
          "[context]") {
  const goro::context_key<int> key;
  auto [c1, cancel] = goro::with_cancel(goro::background());
  const goro::context o = goro::with_value(c1, key, 1);
  auto [c2, cancel2] = goro::with_cancel(o);
  for (const goro::context& c : {c1, o, c2}) {
    CHECK_FALSE(c.done().is_nil());
    CHECK_FALSE(c.err());
    CHECK_FALSE(is_done(c));
  }
  cancel();  // no goroutine involved: every done() is closed when it returns
  for (const goro::context& c : {c1, o, c2}) {
    CHECK(is_done(c));
    CHECK(c.err() == goro::errc::canceled);
  }
}

// Go's context XTestParentFinishesChild.
TEST_CASE("a cancelled parent finishes every kind of child and forgets them", "[context][tree]") {
  goro::run([] {
    const goro::context_key<std::string> key;
    // parent -> cancel_child; parent -> value_child -> timer_child
    auto [parent, cancel] = goro::with_cancel(goro::background());
    auto [cancel_child, stop_cancel_child] = goro::with_cancel(parent);
    const goro::context value_child = goro::with_value(parent, key, "value");
    auto [timer_child, stop_timer_child] = goro::with_timeout(value_child, 1000h);
    for (const goro::context& c : {parent, cancel_child, value_child, timer_child}) {
      CHECK_FALSE(is_done(c));
    }
    // Both cancellable children are registered with the parent, the timer child through the
    // value node.
    CHECK(goro::detail::context_child_count(parent) == 2);

    cancel();
    CHECK(goro::detail::context_child_count(parent) == 0);
    for (const goro::context& c : {parent, cancel_child, value_child, timer_child}) {
      CHECK(is_done(c));
      CHECK(c.err() == goro::errc::canceled);
    }

    // A value child of a cancelled parent is born done.
    const goro::context precancelled = goro::with_value(parent, key, "value");
    CHECK(is_done(precancelled));
    CHECK(precancelled.err() == goro::errc::canceled);
    stop_cancel_child();
    stop_timer_child();
  });
}

// Go's context XTestChildFinishesFirst.
TEST_CASE("a cancelled child leaves its parent's list and its parent alive", "[context][tree]") {
  auto [cancellable, stop] = goro::with_cancel(goro::background());
  for (const goro::context& parent : {goro::background(), cancellable}) {
    const bool parent_cancellable = !parent.done().is_nil();
    auto [child, cancel] = goro::with_cancel(parent);
    CHECK_FALSE(is_done(parent));
    CHECK_FALSE(is_done(child));
    if (parent_cancellable) CHECK(goro::detail::context_child_count(parent) == 1);

    cancel();
    if (parent_cancellable) CHECK(goro::detail::context_child_count(parent) == 0);
    CHECK(is_done(child));
    CHECK(child.err() == goro::errc::canceled);
    CHECK_FALSE(is_done(parent));
    CHECK_FALSE(parent.err());
  }
  stop();
}

// Go's context XTestDeadline.
TEST_CASE("with_deadline contexts time out under a value node too and in the past",
          "[context][deadline]") {
  goro::run([] {
    const goro::context_key<int> key;
    auto [c, cancel_c] = goro::with_deadline(goro::background(), clock_type::now() + 1ms);
    expect_deadline_exceeded(c);

    auto [d, cancel_d] = goro::with_deadline(goro::background(), clock_type::now() + 1ms);
    expect_deadline_exceeded(goro::with_value(d, key, 1));

    // A later deadline under a value node under an earlier one: the earlier wins.
    auto [e, cancel_e] = goro::with_deadline(goro::background(), clock_type::now() + 1ms);
    auto [f, cancel_f] =
        goro::with_deadline(goro::with_value(e, key, 2), clock_type::now() + 1000h);
    expect_deadline_exceeded(f);

    auto [past, cancel_past] = goro::with_deadline(goro::background(), clock_type::now() - 1ms);
    expect_deadline_exceeded(past);

    auto [now, cancel_now] = goro::with_deadline(goro::background(), clock_type::now());
    expect_deadline_exceeded(now);
  });
}

// Go's context XTestTimeout.
TEST_CASE("with_timeout contexts time out under a value node too", "[context][deadline]") {
  goro::run([] {
    const goro::context_key<int> key;
    auto [c, cancel_c] = goro::with_timeout(goro::background(), 1ms);
    expect_deadline_exceeded(c);

    auto [d, cancel_d] = goro::with_timeout(goro::background(), 1ms);
    expect_deadline_exceeded(goro::with_value(d, key, 1));

    auto [e, cancel_e] = goro::with_timeout(goro::background(), 1ms);
    auto [f, cancel_f] = goro::with_timeout(goro::with_value(e, key, 2), 1000h);
    expect_deadline_exceeded(f);
  });
}

// Go's context XTestCanceledTimeout.
TEST_CASE("cancelling a timeout context under a value node is synchronous and says canceled",
          "[context][deadline]") {
  goro::run([] {
    const goro::context_key<int> key;
    // Go's test gives the outer context 1 s; a deadline that a paused machine cannot reach
    // before the check keeps that check about the cancel alone.
    auto [outer, cancel_outer] = goro::with_timeout(goro::background(), 1000h);
    auto [c, cancel] = goro::with_timeout(goro::with_value(outer, key, 1), 1000h);
    cancel();
    CHECK(is_done(c));
    CHECK(c.err() == goro::errc::canceled);
    CHECK_FALSE(outer.err());
    cancel_outer();
  });
}

namespace {

// value_text: the string ctx holds under `key`, "" when there is none or it is null (Go's
// c.Value(k).(string) failing on a missing or nil value).
std::string value_text(const goro::context& ctx, const goro::context_key<const char*>& key) {
  const char* const* v = ctx.value(key);
  return v != nullptr && *v != nullptr ? *v : "";
}

}  // namespace

// Go's context XTestValues.
TEST_CASE(
    "values of distinct keys are found through value and cancel nodes with the nearest winning",
    "[context][value]") {
  // Three distinct keys of one value type (Go's k1, k2 and k3 differ by type or value).
  static const goro::context_key<const char*> k1, k2, k3;
  auto check = [](const goro::context& c, const char* v1, const char* v2, const char* v3) {
    CHECK(value_text(c, k1) == v1);
    CHECK(value_text(c, k2) == v2);
    CHECK(value_text(c, k3) == v3);
  };
  // A with_cancel node stands in for Go's otherContext wrapper: another kind of context.
  auto other = [](const goro::context& c) { return goro::with_cancel(c).first; };

  const goro::context c0 = goro::background();
  check(c0, "", "", "");
  const goro::context c1 = goro::with_value(goro::background(), k1, "c1k1");
  check(c1, "c1k1", "", "");
  const goro::context c2 = goro::with_value(c1, k2, "c2k2");
  check(c2, "c1k1", "c2k2", "");
  const goro::context c3 = goro::with_value(c2, k3, "c3k3");
  check(c3, "c1k1", "c2k2", "c3k3");
  const goro::context c4 = goro::with_value(c3, k1, nullptr);  // hides c1's value
  check(c4, "", "c2k2", "c3k3");

  check(other(goro::background()), "", "", "");
  const goro::context o1 = other(goro::with_value(goro::background(), k1, "c1k1"));
  check(o1, "c1k1", "", "");
  check(goro::with_value(o1, k2, "o2k2"), "c1k1", "o2k2", "");
  const goro::context o3 = other(c4);
  check(o3, "", "c2k2", "c3k3");
  check(goro::with_value(o3, k3, nullptr), "", "c2k2", "");
}

// Go's context XTestSimultaneousCancels.
TEST_CASE("cancelling every node of a tree at once from goroutines finishes them all",
          "[context][tree]") {
  // Outside the run: goroutines still in wg.done() when a failed check ends main must not
  // touch a destroyed wait_group.
  goro::wait_group wg;
  std::mt19937 rng(std::random_device{}());
  goro::run(
      [&] {
        for (long round = 0; round < scaled(20, 10); ++round) {
          auto [root, cancel] = goro::with_cancel(goro::background());
          std::vector<std::pair<goro::context, goro::cancel_func>> nodes{{root, cancel}};
          // A tree of about 100 contexts, each with 4 children, breadth first.
          for (std::size_t next = 0; next < nodes.size() && nodes.size() < 100; ++next) {
            const goro::context parent = nodes[next].first;
            for (int i = 0; i < 4; ++i) nodes.push_back(goro::with_cancel(parent));
          }
          // Start all the cancels in a random order.
          std::shuffle(nodes.begin(), nodes.end(), rng);
          wg.add(static_cast<std::ptrdiff_t>(nodes.size()));
          for (const auto& node : nodes) {
            goro::go([&wg, cancel = node.second] {
              cancel();
              wg.done();
            });
          }
          // Wait on all the contexts in another random order.
          std::shuffle(nodes.begin(), nodes.end(), rng);
          int stuck = 0;
          for (const auto& node : nodes) {
            if (!done_within(node.first)) ++stuck;
          }
          CHECK(stuck == 0);
          for (const auto& node : nodes) CHECK(node.first.err() == goro::errc::canceled);
          // Wait for all the cancel functions to return.
          goro::chan<int> cancels_returned;
          goro::go([&wg, cancels_returned] {
            wg.wait();
            cancels_returned.close();
          });
          goro::timer give_up(10s);
          REQUIRE(goro::select(goro::on_recv(cancels_returned), goro::on_recv(give_up.c())) == 0);
          give_up.stop();
        }
      },
      goro::options{.workers = 2});
}

// Go's context XTestInterlockedCancels.
TEST_CASE("a child cancelled by a goroutine woken by its parent's cancel is done",
          "[context][tree]") {
  goro::run(
      [] {
        for (long round = 0; round < scaled(200, 10); ++round) {
          auto [parent, cancel_parent] = goro::with_cancel(goro::background());
          auto [child, cancel_child] = goro::with_cancel(parent);
          goro::chan<int> finished(1);
          goro::go([parent = parent, cancel_child = cancel_child, finished] {
            parent.done().recv();
            cancel_child();
            finished.send(1);
          });
          cancel_parent();
          CHECK(done_within(child));
          CHECK(child.err() == goro::errc::canceled);
          finished.recv();
        }
      },
      goro::options{.workers = 2});
}

// Whoever sees a context done finds every descendant done: the cancel closes the descendants'
// done() before the root's (Go closes a cancelled context's children before returning from
// its cancel, under the parent's lock). The one who sees it is a plain thread, woken at once on
// the other CPU while the cancel is still at work on a goroutine.
TEST_CASE("a thread woken by a parent's done finds every descendant done", "[context][tree]") {
  long not_done_seen = 0;
  goro::run([&] {
    for (long round = 0; round < scaled(20, 3); ++round) {
      auto [parent, cancel_parent] = goro::with_cancel(goro::background());
      std::vector<goro::context> descendants;
      goro::context inner = parent;
      for (int i = 0; i < 1000; ++i) {
        descendants.push_back(goro::with_cancel(parent).first);  // wide
        inner = goro::with_cancel(inner).first;                  // and deep
        descendants.push_back(inner);
      }
      long open = 0;
      std::thread observer = goro_test::registered_thread([&, parent = parent] {
        parent.done().recv();
        for (const goro::context& c : descendants) {
          if (goro::select(goro::on_recv(c.done()), goro::on_default()) != 0) ++open;
        }
      });
      goro::sleep_for(1ms);  // the observer waits on done() (if not yet, it sees all done)
      cancel_parent();
      goro::blocking([&] { observer.join(); });
      not_done_seen += open;
    }
  });
  CHECK(not_done_seen == 0);
}

// Children leave their parent's list in any order, each unlinking itself: the list stays whole
// (counted, walked by the parent's cancel) whichever neighbour goes first.
TEST_CASE("children leaving their parent in any order leave its list whole", "[context][tree]") {
  for (const std::vector<int>& order :
       {std::vector<int>{1, 2, 0, 4, 3}, {4, 3, 2, 1, 0}, {0, 1, 2, 3, 4}, {2, 1, 3, 0, 4}}) {
    INFO("children removed in the order " << order[0] << order[1] << order[2] << order[3]
                                          << order[4]);
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    std::vector<std::optional<goro::context>> children;
    for (int i = 0; i < 5; ++i) children.emplace_back(goro::with_cancel(parent).first);
    std::size_t left = children.size();
    for (int i : order) {
      children[static_cast<std::size_t>(i)].reset();
      CHECK(goro::detail::context_child_count(parent) == --left);
    }
    // And the list still takes new children, and cancels them all.
    std::vector<goro::context> later;
    for (int i = 0; i < 3; ++i) later.push_back(goro::with_cancel(parent).first);
    CHECK(goro::detail::context_child_count(parent) == 3);
    cancel_parent();
    for (const goro::context& c : later) CHECK(c.err() == goro::errc::canceled);
    CHECK(goro::detail::context_child_count(parent) == 0);
  }
}

namespace {

// check_layers: Go's testLayers: a random chain of at least 30 value, cancel and timeout
// layers; a random cancel (or, with `short_timeouts`, the 1 ms timeouts) ends the innermost
// context, whose values all survive.
void check_layers(std::uint32_t seed, bool short_timeouts) {
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::deque<goro::context_key<const void*>> keys;  // a deque: keys are compared by address
  std::vector<goro::cancel_func> cancels;
  int timers = 0;
  goro::context ctx = goro::background();
  for (int i = 0; i < 30 || timers == 0 || cancels.empty() || keys.empty(); ++i) {
    switch (rng() % 3) {
      case 0:
        keys.emplace_back();
        ctx = goro::with_value(ctx, keys.back(), &keys.back());
        break;
      case 1: {
        auto [c, cancel] = goro::with_cancel(ctx);
        ctx = c;
        cancels.push_back(cancel);
        break;
      }
      default: {
        auto [c, cancel] = goro::with_timeout(ctx, short_timeouts ? 1ms : 1000h);
        ctx = c;
        cancels.push_back(cancel);
        ++timers;
      }
    }
  }
  auto wrong_values = [&] {
    int wrong = 0;
    for (const auto& key : keys) {
      const void* const* v = ctx.value(key);
      if (v == nullptr || *v != &key) ++wrong;
    }
    return wrong;
  };
  if (!short_timeouts) CHECK_FALSE(is_done(ctx));
  CHECK(wrong_values() == 0);
  if (short_timeouts) {
    CHECK(done_within(ctx));
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
  } else {
    cancels[rng() % cancels.size()]();
    CHECK(is_done(ctx));
    CHECK(ctx.err() == goro::errc::canceled);
  }
  CHECK(wrong_values() == 0);
  for (const auto& cancel : cancels) cancel();
}

}  // namespace

// Go's context XTestLayersCancel.
TEST_CASE("a random cancel in a random chain of layers ends the innermost context",
          "[context][tree]") {
  goro::run([] {
    std::random_device seeds;
    for (long round = 0; round < scaled(20, 5); ++round) check_layers(seeds(), false);
  });
}

// Go's context XTestLayersTimeout.
TEST_CASE("short timeouts in a random chain of layers end the innermost context",
          "[context][tree][deadline]") {
  goro::run([] {
    std::random_device seeds;
    for (long round = 0; round < scaled(20, 5); ++round) check_layers(seeds(), true);
  });
}

// Go's context XTestCancelRemoves.
TEST_CASE("a cancel_func takes its child out of the parent even after the child is dropped",
          "[context][leak]") {
  goro::run([] {
    auto [ctx, stop] = goro::with_cancel(goro::background());
    CHECK(goro::detail::context_child_count(ctx) == 0);
    goro::cancel_func cancel = goro::with_cancel(ctx).second;  // the context itself is dropped
    CHECK(goro::detail::context_child_count(ctx) == 1);
    cancel();
    CHECK(goro::detail::context_child_count(ctx) == 0);

    auto [ctx2, stop2] = goro::with_cancel(goro::background());
    cancel = goro::with_timeout(ctx2, 60min).second;
    CHECK(goro::detail::context_child_count(ctx2) == 1);
    cancel();
    CHECK(goro::detail::context_child_count(ctx2) == 0);
    stop();
    stop2();
  });
}

// Go's context XTestCustomContextGoroutines, its part about the standard contexts.
TEST_CASE("deriving and cancelling contexts starts no goroutine", "[context]") {
  goro::run([] {
    const std::size_t before = goro::num_goroutines();
    const goro::context_key<int> key;
    auto [ctx1, cancel1] = goro::with_cancel(goro::background());
    auto [ctx3, cancel3] = goro::with_cancel(goro::with_value(ctx1, key, 1));
    CHECK(goro::num_goroutines() == before);
    auto [ctx4, cancel4] = goro::with_timeout(ctx3, 1000h);
    auto [ctx5, cancel5] = goro::with_cancel(ctx4);
    CHECK(goro::num_goroutines() == before);
    cancel5();
    CHECK(goro::num_goroutines() == before);
    auto [ctx6, cancel6] = goro::with_timeout(ctx5, 1000h);  // of a cancelled parent
    CHECK(goro::num_goroutines() == before);
    cancel6();
    cancel1();
    auto [ctx7, cancel7] = goro::with_cancel(ctx5);
    CHECK(goro::num_goroutines() == before);
    CHECK(ctx7.err() == goro::errc::canceled);
    cancel7();
    cancel4();
    cancel3();
  });
}

// Go's context ExampleWithCancel: a generator goroutine stops when its context is cancelled, so
// it does not leak: after the cancel, the goroutine count is back where it was.
TEST_CASE("a generator stopped by its context's cancel leaks no goroutine", "[context][go]") {
  const unsigned workers = GENERATE(1u, 2u);
  goro::run(
      [] {
        const std::size_t before = goro::num_goroutines();
        goro::chan<int> exited(1);
        const auto generate = [exited](const goro::context& ctx) {
          goro::chan<int> numbers;
          goro::go([ctx, numbers, exited] {
            for (int n = 1;; ++n) {
              if (goro::select(goro::on_recv(ctx.done()), goro::on_send(numbers, n)) == 0) break;
            }
            exited.send(1);
          });
          return goro::recv_chan<int>(numbers);
        };
        std::vector<int> seen;
        {
          auto [ctx, cancel] = goro::with_cancel(goro::background());
          for (int n : generate(ctx)) {
            seen.push_back(n);
            if (n == 5) break;
          }
          cancel();
        }
        CHECK(seen == std::vector<int>{1, 2, 3, 4, 5});
        exited.recv();
        while (goro::num_goroutines() != before) goro::yield();  // it ends right after saying so
        CHECK(goro::num_goroutines() == before);
      },
      goro::options{.workers = workers});
}

// Go's context ExampleWithDeadline and ExampleWithTimeout: a select between a long timer and
// ctx.done() ends with "context deadline exceeded", on a goroutine and on a plain thread.
TEST_CASE("a context's deadline ends a select on done() before a longer timer", "[context][go]") {
  const bool by_timeout = GENERATE(false, true);
  const auto example = [by_timeout] {
    auto [timed, cancel] = by_timeout
                               ? goro::with_timeout(goro::background(), 1ms)
                               : goro::with_deadline(goro::background(), clock_type::now() + 1ms);
    const goro::context ctx = timed;  // a lambda may not name a structured binding (clang 14)
    std::string out;
    // Go's example oversleeps after 1 s; 10 s leaves a loaded machine room for the 1 ms deadline.
    goro::select(goro::on_recv(goro::after(10s), [&](auto) { out = "overslept"; }),
                 goro::on_recv(ctx.done(), [&](auto) { out = ctx.err().message(); }));
    cancel();
    CHECK(out == "context deadline exceeded");
  };
  goro::run(example);
  example();  // no run
}

// Go's context ExampleWithValue.
TEST_CASE("a value is found under its key and another key is not found", "[context][go]") {
  static const goro::context_key<std::string> language;
  static const goro::context_key<std::string> color;
  std::string out;
  const auto find = [&](const goro::context& ctx, const goro::context_key<std::string>& key,
                        const char* name) {
    if (const std::string* value = ctx.value(key)) {
      out += "found value: " + *value + "\n";
    } else {
      out += std::string("key not found: ") + name + "\n";
    }
  };
  const goro::context ctx = goro::with_value(goro::background(), language, std::string("Go"));
  find(ctx, language, "language");
  find(ctx, color, "color");
  CHECK(out == "found value: Go\nkey not found: color\n");
}

// --- From the audit of types and call forms at the edges of the API ([audit-types]) ---------

// A context_key<point> has audit_hijack among its associated namespaces, whose greedy deleted
// operator& (tests/audit_types.hpp) took over the plain &key of with_value and value().
TEST_CASE("values whose namespace hijacks operator& are stored and found by their key",
          "[context][audit-types]") {
  const goro::context_key<audit_hijack::point> key;
  const goro::context_key<audit_hijack::point> other;
  goro::context ctx = goro::with_value(goro::background(), key, audit_hijack::point{42});
  const audit_hijack::point* found = ctx.value(key);
  REQUIRE(found != nullptr);
  CHECK(found->x == 42);
  CHECK(ctx.value(other) == nullptr);
  auto [child, cancel] = goro::with_cancel(ctx);
  cancel();
  CHECK(child.value(key)->x == 42);
}

// with_value keeps a value of any move-constructible type, over-aligned or move-only, and
// destroys it once, with the last context that holds it.
TEST_CASE("context values may be move-only, over-aligned or counted, and are destroyed once",
          "[context][audit-types]") {
  using audit_types::aligned;
  using audit_types::counted;
  {
    const goro::context_key<std::unique_ptr<counted>> owned_key;
    const goro::context_key<aligned<256>> aligned_key;
    const goro::context_key<std::optional<int>> maybe_key;
    goro::context ctx =
        goro::with_value(goro::background(), owned_key, std::make_unique<counted>(5));
    ctx = goro::with_value(ctx, aligned_key, aligned<256>(6));
    ctx = goro::with_value(ctx, maybe_key, std::nullopt);
    auto [child, cancel] = goro::with_timeout(ctx, std::chrono::hours(1));
    CHECK((*child.value(owned_key))->id == 5);
    const aligned<256>* a = child.value(aligned_key);
    REQUIRE(a != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 256 == 0);
    CHECK(a->id == 6);
    const std::optional<int>* maybe = child.value(maybe_key);
    REQUIRE(maybe != nullptr);  // a stored nullopt is found: a present value
    CHECK_FALSE(maybe->has_value());
    cancel();
    CHECK(counted::live == 1);
  }
  CHECK(counted::live == 0);
  CHECK(aligned<256>::misaligned == 0);
}

// docs/go-to-goro.md, section "context": every row's spelling, as written there.
TEST_CASE("go-to-goro: background, with_cancel and cancel_func", "[context][go-to-goro]") {
  static_assert(std::is_copy_constructible_v<goro::context>);
  static_assert(std::is_same_v<goro::cancel_func, std::function<void()>>);
  goro::run([] {
    goro::context parent = goro::background();
    CHECK_FALSE(parent.err());  // live
    CHECK_FALSE(parent.deadline());
    CHECK(parent.done().is_nil());  // a nil channel: it never fires in a select
    bool defaulted = false;
    goro::select(goro::on_recv(parent.done()), goro::on_default([&] { defaulted = true; }));
    CHECK(defaulted);

    auto [ctx, cancel] = goro::with_cancel(parent);
    CHECK_FALSE(ctx.err());  // std::error_code, empty while the context is live
    CHECK_FALSE(ctx.done().try_recv());
    goro::context copy = ctx;  // a copy is the same context
    goro::go([cancel = cancel] {
      goro_test::dump_when({"[chan receive]:"});
      cancel();
    });
    ctx.done().recv();  // <-ctx.Done(): returns once cancelled
    CHECK(ctx.err() == goro::errc::canceled);
    CHECK(copy.err() == goro::errc::canceled);
    CHECK_FALSE(parent.err());  // the parent is not cancelled by its child
    cancel();                   // idempotent
    CHECK(ctx.err() == goro::errc::canceled);

    // A cancelled parent cancels its children; the select spelling of <-ctx.Done().
    auto [outer, cancel_outer] = goro::with_cancel(goro::background());
    auto [inner, cancel_inner] = goro::with_cancel(outer);
    cancel_outer();
    bool done = false;
    goro::select(goro::on_recv(inner.done(), [&](auto) { done = true; }));
    CHECK(done);
    CHECK(inner.err() == goro::errc::canceled);
    cancel_inner();
  });
}

TEST_CASE("go-to-goro: with_timeout, with_deadline and deadline", "[context][go-to-goro]") {
  using namespace std::chrono_literals;
  goro::run([] {
    goro::context parent = goro::background();
    auto before = std::chrono::steady_clock::now();
    auto [ctx, cancel] = goro::with_timeout(parent, 2s);
    auto after = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> d = ctx.deadline();
    REQUIRE(d);
    CHECK(*d >= before + 2s);
    CHECK(*d <= after + 2s);
    CHECK_FALSE(ctx.err());
    ctx.done().recv();
    CHECK(std::chrono::steady_clock::now() >= before + 2s);
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
    cancel();
    CHECK(ctx.err() == goro::errc::deadline_exceeded);  // a later cancel changes nothing

    auto t = std::chrono::steady_clock::now() + 20ms;
    auto [at, cancel_at] = goro::with_deadline(parent, t);
    CHECK(at.deadline() == t);
    goro::select(goro::on_recv(at.done(), [](auto) {}));
    CHECK(std::chrono::steady_clock::now() >= t);
    CHECK(at.err() == goro::errc::deadline_exceeded);
    CHECK_FALSE(at.err() == goro::errc::canceled);
    cancel_at();

    auto [cancelled, cancel_now] = goro::with_timeout(parent, 1h);
    cancel_now();
    CHECK(cancelled.err() == goro::errc::canceled);
    CHECK_FALSE(cancelled.err() == goro::errc::deadline_exceeded);
  });
}

TEST_CASE("go-to-goro: context values", "[context][go-to-goro]") {
  using T = std::string;
  goro::run([] {
    goro::context parent = goro::background();
    const goro::context_key<T> key;  // one object per key, compared by address
    const goro::context_key<T> other_key;
    T v0 = "value";
    goro::context ctx = goro::with_value(parent, key, v0);
    const T* v = ctx.value(key);
    REQUIRE(v != nullptr);
    CHECK(*v == "value");
    CHECK(ctx.value(other_key) == nullptr);  // another key of the same type: absent
    CHECK(parent.value(key) == nullptr);
    auto [child, cancel] = goro::with_cancel(ctx);  // values are seen through descendants
    REQUIRE(child.value(key) != nullptr);
    CHECK(*child.value(key) == "value");
    cancel();
  });
}

// ---------------------------------------------------------------------------------------------
// Go's memory model (go.dev/ref/mem) for contexts: Done's channel is closed by a cancel, so "the
// closing of a channel is synchronized before a receive that returns because the channel is
// closed" makes the canceller's writes visible to whoever sees it done. Each case shares plain,
// non-atomic data between goroutines and plain threads through nothing but the context: a missing
// edge is a wrong value here and a data race under ThreadSanitizer.

// A cancel happens before a receive from done() that returns (plain recv, range-for, a select
// receive case), before err() returns non-empty, and likewise for a child context, cancelled
// through its parent. Per round a fresh context; the canceller and the watchers are goroutines or
// plain threads.
TEST_CASE("memory model: a cancel happens before done() is seen closed and err() is seen set",
          "[context][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  const auto n = static_cast<std::size_t>(rounds);
  constexpr std::size_t watcher_count = 5;
  std::vector<goro_test::payload> data(n);
  std::array<int, watcher_count> wrong{};
  std::array<int, watcher_count> seen{};
  goro::run(
      [&] {
        std::vector<goro::context> contexts;
        std::vector<goro::context> children;
        std::vector<goro::cancel_func> cancels;
        for (std::size_t i = 0; i < n; ++i) {
          auto [ctx, cancel] = goro::with_cancel(goro::background());
          children.push_back(goro::with_cancel(ctx).first);
          contexts.push_back(ctx);
          cancels.push_back(cancel);
        }
        goro_test::parties parties;
        for (std::size_t w = 0; w < watcher_count; ++w) {
          parties.start(w % 2 == 1, [&, w] {
            for (std::size_t i = 0; i < n; ++i) {
              const goro::context& ctx = w == 4 ? children[i] : contexts[i];
              if (w == 0 || w == 4) {
                if (ctx.done().recv()) ++wrong[w];
              } else if (w == 1) {
                for (std::monostate v : ctx.done()) (void)v;
              } else if (w == 2) {
                goro::select(goro::on_recv(ctx.done()));
              } else {
                while (!ctx.err()) goro::yield();
              }
              if (!data[i].holds(static_cast<int>(i)) || ctx.err() != goro::errc::canceled) {
                ++wrong[w];
              }
              ++seen[w];
            }
          });
        }
        parties.start(true, [&] {  // the canceller, on a thread
          for (std::size_t i = 0; i < n; i += 2) {
            data[i].write(static_cast<int>(i));
            cancels[i]();
          }
        });
        parties.start(false, [&] {  // and on a goroutine
          for (std::size_t i = 1; i < n; i += 2) {
            data[i].write(static_cast<int>(i));
            cancels[i]();
          }
        });
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  for (std::size_t w = 0; w < watcher_count; ++w) {
    CHECK(seen[w] == rounds);
    CHECK(wrong[w] == 0);
  }
}

// A deadline firing closes done() and sets err() together: whoever sees done() closed sees
// deadline_exceeded from err(), and a child of the expired context sees the same, on goroutines
// and plain threads.
TEST_CASE("memory model: a deadline firing happens before done() is seen closed and err() is set",
          "[context][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(200, 10));
  constexpr std::size_t watcher_count = 4;
  std::array<int, watcher_count> wrong{};
  std::array<int, watcher_count> seen{};
  goro::run(
      [&] {
        for (int i = 0; i < rounds; ++i) {
          auto [ctx, cancel] =
              goro::with_timeout(goro::background(), std::chrono::microseconds(50));
          const goro::context timed = ctx;
          goro::context child = goro::with_cancel(timed).first;
          goro_test::parties parties;
          for (std::size_t w = 0; w < watcher_count; ++w) {
            parties.start(w % 2 == 1, [&, w, timed, child] {
              const goro::context& watched = w >= 2 ? child : timed;
              if (w % 2 == 0) {
                if (watched.done().recv()) ++wrong[w];
              } else {
                while (!watched.err()) goro::yield();
              }
              if (watched.err() != goro::errc::deadline_exceeded) ++wrong[w];
              ++seen[w];
            });
          }
          parties.wait();
          cancel();
        }
      },
      goro_test::memory_model_options(workers));
  for (std::size_t w = 0; w < watcher_count; ++w) {
    CHECK(seen[w] == rounds);
    CHECK(wrong[w] == 0);
  }
}

// value(): what with_value stored is what every holder of the context (or of a child made
// elsewhere) reads. The contexts are made on one party and handed over a channel, the context
// being the only carrier of the data.
TEST_CASE("memory model: with_value's data is seen whole by every holder of the context",
          "[context][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  const goro::context_key<std::string> text_key;
  const goro::context_key<std::vector<int>> items_key;
  const goro::context_key<int> number_key;
  std::array<int, 3> wrong{};
  std::array<int, 3> seen{};
  goro::run(
      [&] {
        goro::chan<goro::context> made(4);
        goro::chan<goro::context> derived(4);
        goro_test::parties parties;
        parties.start(false, [&] {  // makes a context per round
          for (int i = 0; i < rounds; ++i) {
            goro::context ctx =
                goro::with_value(goro::background(), text_key, "value " + std::to_string(i));
            ctx = goro::with_value(ctx, items_key, std::vector<int>(4, i));
            made.send(ctx);
          }
          made.close();
        });
        parties.start(true, [&] {  // reads it and derives a child, on a thread
          for (goro::context ctx : made) {
            const int i = seen[0]++;
            const std::string* text = ctx.value(text_key);
            const std::vector<int>* items = ctx.value(items_key);
            if (text == nullptr || *text != "value " + std::to_string(i) || items == nullptr ||
                *items != std::vector<int>(4, i) || ctx.value(number_key) != nullptr) {
              ++wrong[0];
            }
            derived.send(goro::with_value(goro::with_cancel(ctx).first, number_key, i));
          }
          derived.close();
        });
        parties.start(false, [&] {  // reads the child's values and its parent's
          for (goro::context ctx : derived) {
            const int i = seen[1]++;
            const std::string* text = ctx.value(text_key);
            const int* number = ctx.value(number_key);
            const std::vector<int>* items = ctx.value(items_key);
            if (text == nullptr || *text != "value " + std::to_string(i) || number == nullptr ||
                *number != i || items == nullptr || *items != std::vector<int>(4, i)) {
              ++wrong[1];
            }
          }
        });
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  CHECK(seen[0] == rounds);
  CHECK(seen[1] == rounds);
  CHECK(wrong[0] == 0);
  CHECK(wrong[1] == 0);
}

// ---------------------------------------------------------------------------------------------
// The contract, clause by clause (docs/API.md section 6; docs/contract-coverage).

// API 6: context is a cheap copyable handle; goro::errc is an is_error_code_enum, so
// ctx.err() == goro::errc::canceled compiles; the functions return the contract's types.
TEST_CASE("the context API has the contract's types, and err() compares with goro::errc",
          "[context][contract]") {
  static_assert(std::is_nothrow_copy_constructible_v<goro::context>);
  static_assert(std::is_copy_assignable_v<goro::context>);
  static_assert(std::is_error_code_enum_v<goro::errc>);
  static_assert(std::is_convertible_v<goro::errc, std::error_code>);
  const goro::context& any = goro::context();
  static_assert(std::is_same_v<decltype(any.done()), goro::recv_chan<std::monostate>>);
  static_assert(std::is_same_v<decltype(any.err()), std::error_code>);
  static_assert(std::is_same_v<decltype(any.deadline()), std::optional<clock_type::time_point>>);
  const goro::context_key<double> key;
  static_assert(std::is_same_v<decltype(any.value(key)), const double*>);
  static_assert(std::is_same_v<decltype(goro::background()), goro::context>);
  static_assert(std::is_same_v<goro::cancel_func, std::function<void()>>);
  using derived = std::pair<goro::context, goro::cancel_func>;
  static_assert(std::is_same_v<decltype(goro::with_cancel(any)), derived>);
  static_assert(std::is_same_v<decltype(goro::with_timeout(any, 1s)), derived>);
  static_assert(std::is_same_v<decltype(goro::with_deadline(any, clock_type::now())), derived>);
  static_assert(std::is_default_constructible_v<goro::context_key<double>>);
  static_assert(std::is_same_v<decltype(goro::with_value(any, key, 1.5)), goro::context>);

  auto [ctx, cancel] = goro::with_cancel(goro::background());
  CHECK_FALSE(ctx.err() == goro::errc::canceled);
  cancel();
  CHECK(ctx.err() == goro::errc::canceled);
  CHECK(goro::errc::canceled == ctx.err());
}

// API 6: a context is immutable: deriving children from it (values, deadlines, cancels),
// cancelling them, or assigning another context to a copy of the handle changes nothing it
// reports; with_value keeps its own copy of the value.
TEST_CASE("deriving and cancelling children leaves a context's values, deadline and err unchanged",
          "[context][contract]") {
  const goro::context_key<std::string> name;
  const goro::context_key<int> number;
  std::string original = "gopher";
  const auto far = clock_type::now() + 1h;
  auto [parent, cancel_parent] =
      goro::with_deadline(goro::with_value(goro::background(), name, original), far);
  original = "changed after with_value";

  const goro::context shadow = goro::with_value(parent, name, std::string("shadow"));
  const goro::context numbered = goro::with_value(parent, number, 7);
  auto [sooner, cancel_sooner] = goro::with_deadline(numbered, clock_type::now() + 1min);
  auto [child, cancel_child] = goro::with_cancel(shadow);
  cancel_sooner();
  cancel_child();
  goro::context handle = parent;
  handle = numbered;  // rebinds the handle, not the context it was a copy of

  REQUIRE(parent.value(name) != nullptr);
  CHECK(*parent.value(name) == "gopher");
  CHECK(parent.value(number) == nullptr);
  CHECK(parent.deadline() == far);
  CHECK_FALSE(parent.err());
  CHECK(*shadow.value(name) == "shadow");
  CHECK(*handle.value(number) == 7);
  CHECK(sooner.err() == goro::errc::canceled);
  CHECK(child.err() == goro::errc::canceled);
  cancel_parent();
}

// API 6: a key is compared by address: a copy of a key is another key, whose value the original
// does not find, and the other way round.
TEST_CASE("a copy of a key is another key, since keys are compared by address",
          "[context][contract]") {
  const goro::context_key<int> key;
  const goro::context_key<int> copy = key;
  const goro::context with_key = goro::with_value(goro::background(), key, 1);
  CHECK(with_key.value(copy) == nullptr);
  REQUIRE(with_key.value(key) != nullptr);
  const goro::context with_both = goro::with_value(with_key, copy, 2);
  REQUIRE(with_both.value(key) != nullptr);
  REQUIRE(with_both.value(copy) != nullptr);
  CHECK(*with_both.value(key) == 1);
  CHECK(*with_both.value(copy) == 2);
  CHECK(goro::with_value(goro::background(), copy, 3).value(key) == nullptr);
}
