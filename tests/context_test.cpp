// Tests of <goro/context.hpp>: cancellation of context trees, deadlines and their inheritance,
// err() values and messages, values through the chain, done() in select, no accumulation of
// children under a long-lived parent, and contexts on plain threads with and without a run.
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

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
    CHECK_FALSE(ctx.err());
    CHECK_FALSE(ctx.done().recv().has_value());
    CHECK(clock_type::now() >= *ctx.deadline());
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
    CHECK(ctx.err().message() == "context deadline exceeded");
    cancel();  // after the deadline: changes nothing
    CHECK(ctx.err() == goro::errc::deadline_exceeded);
  });
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
        case 0:
          all.push_back(goro::with_value(parent, key, i));
          break;
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
    CHECK_FALSE(parent.err());
    CHECK_FALSE(later.err());

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
      goro::sleep_for(2s);
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
