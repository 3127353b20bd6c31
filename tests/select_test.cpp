// Tests of <goro/select.hpp>: select over heterogeneous cases, defaults, nil channels, fairness,
// closed channels, select_set, and stress with exact accounting.
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/debug.hpp>
#include <goro/goro.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <any>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "audit_types.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

namespace {

// stop_consumers: once the producers are done and all `expected` values have arrived, closes
// `done` and waits for the consumers to see it.
template <class T>
void stop_consumers(goro::wait_group& producers, const std::atomic<long>& received, long expected,
                    goro::chan<T>& done, goro::wait_group& consumers) {
  producers.wait();
  while (received.load() < expected) goro::sleep_for(100us);
  done.close();
  consumers.wait();
}

// check_every_value_once: values 0 .. n-1 were each received once.
void check_every_value_once(const std::atomic<long>& received, const std::atomic<long>& checksum,
                            long n) {
  CHECK(received.load() == n);
  CHECK(checksum.load() == n * (n - 1) / 2);
}

}  // namespace

TEST_CASE("select fires the ready case, runs its callback and returns its index", "[select]") {
  goro::run([] {
    goro::chan<int> a(1);
    goro::chan<std::string> b(1);
    b.send("ready");
    std::string got;
    bool a_ran = false;
    const std::size_t index =
        goro::select(goro::on_recv(a, [&](std::optional<int>) { a_ran = true; }),
                     goro::on_recv(b, [&](std::optional<std::string> v) { got = *v; }));
    CHECK(index == 1);
    CHECK(got == "ready");
    CHECK_FALSE(a_ran);
  });
}

TEST_CASE("select accepts generic lambdas and cases without callbacks", "[select]") {
  goro::chan<int> a(1);
  a.send(3);
  int got = 0;
  goro::select(goro::on_recv(a, [&](auto v) { got = v.value(); }));
  CHECK(got == 3);
  a.send(4);
  CHECK(goro::select(goro::on_recv(a)) == 0);
  CHECK(a.size() == 0);
}

TEST_CASE("on_default runs only when no case can proceed", "[select][default]") {
  goro::chan<int> empty;
  goro::chan<int> full(1);
  bool defaulted = false;
  CHECK(goro::select(goro::on_recv(empty), goro::on_default([&] { defaulted = true; })) == 1);
  CHECK(defaulted);
  defaulted = false;
  full.send(1);
  CHECK(goro::select(goro::on_default([&] { defaulted = true; }), goro::on_recv(full)) == 1);
  CHECK_FALSE(defaulted);
  CHECK(goro::select(goro::on_send(full, 2), goro::on_default()) == 0);
  CHECK(goro::select(goro::on_send(full, 3), goro::on_default()) == 1);  // full now
}

TEST_CASE("select chooses uniformly among ready cases", "[select][fairness]") {
  const int rounds = 100000;
  SECTION("two ready channels") {
    goro::chan<int> a(1), b(1);
    std::array<int, 2> hits{};
    for (int i = 0; i < rounds; ++i) {
      a.try_send(0);
      b.try_send(0);
      ++hits[goro::select(goro::on_recv(a), goro::on_recv(b))];
    }
    for (int h : hits) CHECK(std::abs(h - rounds / 2) < rounds / 2 * 5 / 100);
  }
  SECTION("three ready channels") {
    goro::chan<int> a(1), b(1), c(1);
    std::array<int, 3> hits{};
    for (int i = 0; i < rounds; ++i) {
      a.try_send(0);
      b.try_send(0);
      c.try_send(0);
      ++hits[goro::select(goro::on_recv(a), goro::on_recv(b), goro::on_recv(c))];
    }
    for (int h : hits) CHECK(std::abs(h - rounds / 3) < rounds / 3 * 5 / 100);
  }
}

// A closed channel is as ready as any other: Go's `for { select { case <-ctx.Done(): return;
// case j := <-jobs: ... } } }` must notice the cancellation while jobs keep flowing.
TEST_CASE("a case on a closed channel is chosen as often as another ready case",
          "[select][fairness][close]") {
  const int rounds = 20000;
  goro::chan<int> closed;
  closed.close();
  goro::chan<int> ready(1);
  const auto about_half = [&](int hits) {
    CHECK(hits > rounds * 45 / 100);
    CHECK(hits < rounds * 55 / 100);
  };
  SECTION("a receive case") {
    int hits = 0;
    for (int i = 0; i < rounds; ++i) {
      (void)ready.try_send(1);
      if (goro::select(goro::on_recv(closed), goro::on_recv(ready)) == 0) ++hits;
    }
    about_half(hits);
  }
  SECTION("a send case, which throws when chosen") {
    int hits = 0;
    for (int i = 0; i < rounds; ++i) {
      (void)ready.try_send(1);
      try {
        goro::select(goro::on_recv(ready), goro::on_send(closed, 2));
      } catch (const goro::channel_closed&) {
        ++hits;
      }
    }
    about_half(hits);
  }
  SECTION("a receive case of a select_set") {
    goro::select_set<int> set;
    set.add_recv(ready);
    set.add_recv(closed);
    int hits = 0;
    for (int i = 0; i < rounds; ++i) {
      (void)ready.try_send(1);
      const auto result = set.select();
      if (result.index == 1) {
        CHECK_FALSE(result.value.has_value());
        ++hits;
      }
    }
    about_half(hits);
  }
  SECTION("a context's done() beside a busy job queue") {
    goro::run([&] {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      goro::chan<int> jobs(1);
      cancel();
      int processed = 0;
      bool stopped = false;
      while (!stopped && processed < rounds) {
        (void)jobs.try_send(1);
        goro::select(goro::on_recv(ctx.done(), [&](auto) { stopped = true; }),
                     goro::on_recv(jobs, [&](auto) { ++processed; }));
      }
      CHECK(stopped);
      CHECK(processed < 100);  // each round stops with probability 1/2
    });
  }
}

TEST_CASE("nil channels never fire", "[select][nil]") {
  goro::chan<int> nil = nullptr;
  goro::chan<int> ready(1);
  ready.send(1);
  for (int i = 0; i < 100; ++i) {
    ready.try_send(1);
    CHECK(goro::select(goro::on_recv(nil), goro::on_send(nil, 5), goro::on_recv(ready)) == 2);
  }
  bool defaulted = false;
  CHECK(goro::select(goro::on_recv(nil), goro::on_default([&] { defaulted = true; })) == 1);
  CHECK(defaulted);
}

TEST_CASE("a select with no cases or only nil channels blocks until shutdown", "[select][nil]") {
  std::atomic<int> unwound{0};
  std::string text;
  goro::run([&] {
    struct guard {
      std::atomic<int>* n;
      ~guard() { n->fetch_add(1); }
    };
    goro::go([&] {
      guard g{&unwound};
      goro::select();
    });
    goro::go([&] {
      guard g{&unwound};
      goro::chan<int> nil = nullptr;
      goro::select(goro::on_recv(nil), goro::on_send(nil, 1));
    });
    text = goro_test::dump_when({"[select (no cases)]:", "[select]:"});
  });
  CHECK(unwound.load() == 2);
  CHECK_THAT(text, Catch::Contains("[select (no cases)]:"));
  CHECK_THAT(text, Catch::Contains("[select]:"));
}

TEST_CASE("a select with no cases in main is a deadlock", "[select][deadlock]") {
  CHECK_THROWS_AS(goro::run([] { goro::select(); }), goro::deadlock_error);
}

TEST_CASE("the value of an on_send case that is not chosen is not consumed", "[select][send]") {
  goro::chan<std::unique_ptr<int>> full(1);
  full.send(std::make_unique<int>(0));
  goro::chan<int> ready(1);
  ready.send(1);
  auto owned = std::make_unique<int>(7);
  CHECK(goro::select(goro::on_send(full, std::move(owned)), goro::on_recv(ready)) == 1);
  REQUIRE(owned != nullptr);  // not moved from: the send case did not fire
  CHECK(*owned == 7);

  goro::chan<std::string> text(1);
  std::string value = "kept";
  CHECK(goro::select(goro::on_send(text, value)) == 0);  // an lvalue is copied
  CHECK(value == "kept");
  CHECK(text.recv() == "kept");
  std::string moved = "moved";
  CHECK(goro::select(goro::on_send(text, std::move(moved))) == 0);
  CHECK(moved.empty());  // an rvalue is moved when its case fires
  CHECK(text.recv() == "moved");
}

TEST_CASE("a send case on a closed channel counts as ready and throws when chosen",
          "[select][close]") {
  goro::chan<int> closed(1);
  closed.close();
  bool defaulted = false;
  CHECK_THROWS_AS(
      goro::select(goro::on_send(closed, 1), goro::on_default([&] { defaulted = true; })),
      goro::channel_closed);
  CHECK_FALSE(defaulted);
  CHECK_THROWS_WITH(goro::select(goro::on_send(closed, 1)), Catch::Contains("send on closed"));
}

TEST_CASE("a receive case on a closed channel fires with nullopt", "[select][close]") {
  goro::chan<int> closed;
  closed.close();
  bool got_nullopt = false;
  CHECK(goro::select(goro::on_recv(closed, [&](std::optional<int> v) { got_nullopt = !v; })) == 0);
  CHECK(got_nullopt);
}

TEST_CASE("a stored receive case selected again after a close gets nullopt, not its old value",
          "[select][close]") {
  std::vector<std::optional<std::string>> seen;
  goro::chan<std::string> ch(1);
  auto receive = goro::on_recv(ch, [&](std::optional<std::string> v) { seen.push_back(v); });
  ch.send("first");
  goro::select(receive);
  ch.close();
  goro::select(receive);  // ready at once: closed
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == "first");
  CHECK_FALSE(seen[1].has_value());

  // The same when the close wakes the select that waits.
  goro::chan<int> blocking;
  std::optional<int> last;
  auto wait_for = goro::on_recv(blocking, [&](std::optional<int> v) { last = v; });
  std::thread peer([blocking] {
    blocking.send(1);
    blocking.close();
  });
  goro::select(wait_for);
  CHECK(last == 1);
  goro::select(wait_for);
  CHECK_FALSE(last.has_value());
  peer.join();
}

TEST_CASE("a case stored in a variable keeps a temporary channel handle alive",
          "[select][lifetime]") {
  // A case made from a named handle refers to it; one made from a temporary holds the handle,
  // so that the channel lives as long as the case (ASan reports a use after free otherwise).
  goro::run([] {
    auto timeout = goro::on_recv(goro::after(std::chrono::milliseconds(1)));
    goro::chan<int> never;
    CHECK(goro::select(goro::on_recv(never), timeout) == 1);  // after's channel outlived its timer

    auto buffered = goro::on_recv(goro::chan<int>(1));
    CHECK(goro::select(buffered, goro::on_default()) == 1);  // empty, not freed

    std::optional<int> got;
    goro::chan<int> source(1);
    auto from_view =
        goro::on_recv(goro::recv_chan<int>(source), [&](std::optional<int> v) { got = v; });
    source.send(7);
    CHECK(goro::select(from_view) == 0);
    CHECK(got == 7);

    goro::chan<int> sink(1);
    auto into_view = goro::on_send(goro::send_chan<int>(sink), 8);  // a number: held by value
    CHECK(goro::select(into_view) == 0);
    CHECK(sink.recv() == 8);
  });
}

TEST_CASE("a stored send case holds a number given as a temporary; other rvalues stay referred to",
          "[select][send][lifetime]") {
  goro::chan<int> numbers(1);
  auto send_42 = goro::on_send(numbers, 42);
  CHECK(goro::select(send_42) == 0);
  CHECK(numbers.recv() == 42);
  // An rvalue that a move would consume is referred to, not moved, until its case fires.
  goro::chan<std::string> full(1);
  full.send("taken");
  std::string text = "kept";
  CHECK(goro::select(goro::on_send(full, std::move(text)), goro::on_default()) == 1);
  CHECK(text == "kept");
}

TEST_CASE("on_send takes a braced value of the channel's type", "[select][send]") {
  goro::chan<std::monostate> done(1);
  CHECK(goro::select(goro::on_send(done, {})) == 0);  // Go's case done <- struct{}{}
  CHECK(done.try_recv().has_value());
  goro::chan<std::pair<int, std::string>> pairs(1);
  CHECK(goro::select(goro::on_send(pairs, {2, "b"}), goro::on_default()) == 0);
  CHECK(pairs.recv() == std::pair<int, std::string>{2, "b"});
}

TEST_CASE("a blocked select is woken by a sender, a receiver or a close", "[select]") {
  std::optional<int> partner_got;
  goro::run([&] {
    goro::chan<int> in, out, closing;
    goro::go([=, &partner_got] {
      goro::sleep_for(2ms);
      in.send(11);
      goro::sleep_for(2ms);
      partner_got = out.recv();
      goro::sleep_for(2ms);
      closing.close();
    });
    int got = 0;
    CHECK(goro::select(goro::on_recv(in, [&](std::optional<int> v) { got = *v; }),
                       goro::on_recv(closing)) == 0);
    CHECK(got == 11);
    CHECK(goro::select(goro::on_send(out, 22), goro::on_recv(closing)) == 0);
    bool closed = false;
    CHECK(goro::select(goro::on_send(out, 33),
                       goro::on_recv(closing, [&](std::optional<int> v) { closed = !v; })) == 1);
    CHECK(closed);
  });
  CHECK(partner_got == 22);
}

TEST_CASE("a blocked send case throws when its channel gets closed", "[select][close]") {
  goro::run([] {
    goro::chan<int> ch;
    goro::chan<int> never;
    goro::go([=] {
      goro::sleep_for(5ms);
      ch.close();
    });
    CHECK_THROWS_AS(goro::select(goro::on_send(ch, 1), goro::on_recv(never)), goro::channel_closed);
  });
}

namespace {

// fails_next_move: a value whose next move throws once fail_next_move is set (the move that
// throws clears it and leaves the source as it was).
struct fails_next_move {
  static inline std::atomic<bool> fail_next_move{false};
  int id;
  explicit fails_next_move(int i) : id(i) {}
  fails_next_move(fails_next_move&& other) : id(other.id) {
    if (fail_next_move.exchange(false)) throw std::runtime_error("fails_next_move: failed");
  }
  fails_next_move(const fails_next_move&) = delete;
};

}  // namespace

// A parked select whose partner claims it and then fails to move the value is woken to select
// again: the partner's operation throws, and the select's case has not fired. Its send's value is
// still to be sent, its receive still to be given a value (not nullopt: the channel is open).
TEST_CASE("a parked select whose partner's move throws selects again", "[select][exceptions]") {
  goro::run([] {
    goro::chan<fails_next_move> ch;
    goro::chan<int> never;
    // A send case: the receiver that claims it throws, and the next receive gets the value.
    goro::chan<int> send_fired(1);
    goro::go([=] {
      const std::size_t index =
          goro::select(goro::on_recv(never), goro::on_send(ch, fails_next_move(7)));
      send_fired.send(static_cast<int>(index));
    });
    goro_test::dump_when({"[select]:"});
    fails_next_move::fail_next_move = true;
    CHECK_THROWS_WITH(ch.recv(), "fails_next_move: failed");
    CHECK(send_fired.try_recv() == std::nullopt);  // it has not fired: it selects again
    CHECK(ch.recv()->id == 7);
    CHECK(send_fired.recv() == 1);

    // A receive case: the sender whose value fails to move throws, and the select takes the
    // next value sent.
    goro::chan<int> received(1);
    goro::go([=] {
      goro::select(goro::on_recv(never), goro::on_recv(ch, [&](std::optional<fails_next_move> v) {
                     received.send(v ? v->id : -1);  // -1: nullopt, as if closed
                   }));
    });
    goro_test::dump_when({"[select]:"});
    fails_next_move::fail_next_move = true;
    CHECK_THROWS_WITH(ch.send(fails_next_move(8)), "fails_next_move: failed");
    CHECK(received.try_recv() == std::nullopt);
    ch.send(fails_next_move(9));
    CHECK(received.recv() == 9);
  });
}

TEST_CASE("the same channel may appear in several cases", "[select]") {
  goro::run([] {
    goro::chan<int> ch(2);
    ch.send(1);
    ch.send(2);
    int sum = 0;
    for (int i = 0; i < 2; ++i) {
      goro::select(goro::on_recv(ch, [&](std::optional<int> v) { sum += *v; }),
                   goro::on_recv(ch, [&](std::optional<int> v) { sum += 10 * *v; }));
    }
    CHECK((sum == 3 || sum == 12 || sum == 21 || sum == 30));
  });
}

TEST_CASE("two selects each sending and receiving on one channel pair up", "[select]") {
  const int rounds = static_cast<int>(scaled(2000, 10));
  std::atomic<int> sends{0}, receives{0};
  goro::run(
      [&] {
        goro::chan<int> ch;
        goro::wait_group wg;
        for (int side = 0; side < 2; ++side) {
          wg.add(1);
          goro::go([&] {
            for (int i = 0; i < rounds; ++i) {
              goro::select(goro::on_send(ch, i, [&] { sends.fetch_add(1); }),
                           goro::on_recv(ch, [&](std::optional<int>) { receives.fetch_add(1); }));
            }
            wg.done();
          });
        }
        wg.wait();
      },
      goro::options{.workers = 2});
  CHECK(sends.load() == rounds);
  CHECK(receives.load() == rounds);
}

TEST_CASE("select works on a plain thread", "[select][threads]") {
  goro::run([] {
    goro::chan<int> a, b;
    int got = 0;
    std::thread plain = goro_test::registered_thread([&] {
      goro::select(goro::on_recv(a, [&](std::optional<int> v) { got = *v; }), goro::on_recv(b));
    });
    goro::sleep_for(2ms);
    a.send(5);
    goro::blocking([&] { plain.join(); });
    CHECK(got == 5);
  });
}

TEST_CASE("directional views work as select cases", "[select]") {
  goro::chan<int> ch(1);
  goro::send_chan<int> out = ch;
  goro::recv_chan<int> in = ch;
  CHECK(goro::select(goro::on_send(out, 4)) == 0);
  int got = 0;
  CHECK(goro::select(goro::on_recv(in, [&](std::optional<int> v) { got = *v; })) == 0);
  CHECK(got == 4);
}

TEST_CASE("select_set selects over a runtime-sized set of cases", "[select][set]") {
  goro::chan<int> a(1), b(1), c(1);
  goro::select_set<int> set;
  CHECK(set.add_recv(a) == 0);
  CHECK(set.add_recv(b) == 1);
  CHECK(set.add_send(c, 42) == 2);
  b.send(5);
  c.send(0);  // c is full: its send case cannot fire yet
  auto r = set.select();
  CHECK(r.index == 1);
  CHECK(r.value == 5);
  CHECK_FALSE(set.try_select().has_value());  // nothing ready now
  CHECK(c.recv() == 0);
  r = set.select();  // the send case fires now
  CHECK(r.index == 2);
  CHECK_FALSE(r.value.has_value());
  CHECK(c.recv() == 42);
  CHECK_FALSE(set.try_select().has_value());  // a send case whose value was sent never fires again
  a.close();
  r = set.select();  // receive cases stay armed
  CHECK(r.index == 0);
  CHECK_FALSE(r.value.has_value());
}

TEST_CASE("select_set blocks until a case is ready", "[select][set]") {
  goro::run([] {
    std::vector<goro::chan<int>> channels(16);
    goro::select_set<int> set;
    for (auto& ch : channels) set.add_recv(ch);
    goro::go([=] {
      goro::sleep_for(2ms);
      channels[11].send(1100);
    });
    auto r = set.select();
    CHECK(r.index == 11);
    CHECK(r.value == 1100);
  });
}

TEST_CASE("select_set follows select's rules for closed and nil channels", "[select][set]") {
  goro::chan<int> closed(1);
  closed.close();
  goro::chan<int> nil_channel{nullptr};
  {
    // A send case on a closed channel is ready, and throws from select and try_select alike.
    goro::select_set<int> set;
    set.add_send(closed, 1);
    set.add_recv(nil_channel);
    CHECK_THROWS_AS(set.select(), goro::channel_closed);
    CHECK_THROWS_AS(set.try_select(), goro::channel_closed);
  }
  {
    // Nil channels never fire; a receive on a closed channel fires with nullopt.
    goro::select_set<int> set;
    set.add_recv(nil_channel);
    set.add_send(nil_channel, 2);
    CHECK_FALSE(set.try_select().has_value());
    const std::size_t closed_index = set.add_recv(closed);
    for (int i = 0; i < 20; ++i) {
      auto r = set.select();
      CHECK(r.index == closed_index);
      CHECK_FALSE(r.value.has_value());
    }
  }
}

TEST_CASE("select_set chooses uniformly among ready cases", "[select][set][fairness]") {
  constexpr int cases = 4;
  constexpr int rounds = 40'000;
  std::vector<goro::chan<int>> channels;
  goro::select_set<int> set;
  for (int i = 0; i < cases; ++i) {
    channels.emplace_back(1);
    set.add_recv(channels.back());
  }
  std::vector<int> fired(cases, 0);
  for (int round = 0; round < rounds; ++round) {
    for (auto& ch : channels) (void)ch.try_send(round);  // every case ready
    ++fired[set.select().index];
  }
  for (int count : fired) {
    // Expected 10 000 each; a standard deviation is about 87.
    CHECK(count > rounds / cases - 1000);
    CHECK(count < rounds / cases + 1000);
  }
}

TEST_CASE("a select_set of nil channels only in main is a deadlock", "[select][set][deadlock]") {
  goro::chan<int> nil_channel{nullptr};
  CHECK_THROWS_AS(goro::run([nil_channel] {
                    goro::select_set<int> set;
                    set.add_recv(nil_channel);
                    set.add_send(nil_channel, 1);
                    set.select();
                  }),
                  goro::deadlock_error);
  CHECK_THROWS_AS(goro::run([] { goro::select_set<int>{}.select(); }), goro::deadlock_error);
}

TEST_CASE("selecting goroutines blocked at shutdown are unwound", "[select][shutdown]") {
  std::atomic<int> unwound{0};
  goro::chan<int> a, b;  // outlive the run: no select waiter may stay linked in them
  goro::run([&] {
    for (int i = 0; i < 30; ++i) {
      goro::go([&] {
        struct guard {
          std::atomic<int>* n;
          ~guard() { n->fetch_add(1); }
        } g{&unwound};
        goro::select(goro::on_recv(a), goro::on_send(b, 1));
      });
    }
    goro::sleep_for(10ms);
  });
  CHECK(unwound.load() == 30);
  CHECK_FALSE(a.try_send(1));  // no receiver left behind
  CHECK_FALSE(b.try_recv().has_value());
}

TEST_CASE("a select whose case fired just before main returns completes it, then is unwound",
          "[select][shutdown]") {
  // One select's receive case is handed main's value, another's send case has its value taken
  // by main. One worker: both selects resume only once main has returned; each must complete
  // the case that fired (its callback runs, with the value) and unlink its other waiters before
  // the goroutine is unwound at its next stop point.
  goro::chan<std::shared_ptr<int>> in, out, never_in, never_out;  // outlive the run
  std::weak_ptr<int> handed;
  int received = 0;
  bool sent = false;
  bool receiver_unwound = false;
  bool sender_unwound = false;
  goro::run(
      [&] {
        goro::go([&] {
          goro::select(goro::on_recv(in,
                                     [&](std::optional<std::shared_ptr<int>> v) {
                                       if (v && *v) received = **v;
                                     }),
                       goro::on_recv(never_in));
          goro_test::unwinding_probe p{receiver_unwound};
          goro::yield();
        });
        goro::go([&] {
          goro::select(goro::on_send(out, std::make_shared<int>(2), [&] { sent = true; }),
                       goro::on_send(never_out, std::make_shared<int>(0)));
          goro_test::unwinding_probe p{sender_unwound};
          goro::yield();
        });
        goro_test::dump_when_count("[select]:", 2);
        auto value = std::make_shared<int>(1);
        handed = value;
        in.send(std::move(value));
        const auto taken = out.recv();
        CHECK((taken && *taken && **taken == 2));
      },
      goro::options{.workers = 1});
  CHECK(received == 1);
  CHECK(sent);
  if (!goro_test::chaos_scheduling()) {  // chaos may let them run before main returns
    CHECK(receiver_unwound);
    CHECK(sender_unwound);
  }
  CHECK(handed.expired());
  // No waiter of either select is left in a queue.
  CHECK_FALSE(in.try_send(std::make_shared<int>(3)));
  CHECK_FALSE(out.try_recv().has_value());
  CHECK_FALSE(never_in.try_send(std::make_shared<int>(3)));
  CHECK_FALSE(never_out.try_recv().has_value());
}

TEST_CASE("many selects over shared channels account for every value", "[select][stress]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const long per_producer = scaled(100000, 20);
  std::atomic<long> received{0}, checksum{0};
  goro::run(
      [&] {
        goro::chan<long> a(16), b;
        goro::wait_group producers, consumers;
        for (int p = 0; p < 4; ++p) {
          producers.add(1);
          goro::go([&, p] {
            for (long i = 0; i < per_producer; ++i) {
              const long v = p * per_producer + i;
              goro::select(goro::on_send(a, v), goro::on_send(b, v));
            }
            producers.done();
          });
        }
        goro::chan<int> done;
        for (int c = 0; c < 4; ++c) {
          consumers.add(1);
          goro::go([&] {
            bool running = true;
            while (running) {
              auto take = [&](std::optional<long> v) {
                if (v) {
                  received.fetch_add(1);
                  checksum.fetch_add(*v);
                }
              };
              goro::select(goro::on_recv(a, take), goro::on_recv(b, take),
                           goro::on_recv(done, [&](std::optional<int>) { running = false; }));
            }
            consumers.done();
          });
        }
        stop_consumers(producers, received, 4 * per_producer, done, consumers);
      },
      goro::options{.workers = workers});
  check_every_value_once(received, checksum, 4 * per_producer);
}

TEST_CASE("selects listing shared channels in different orders neither deadlock nor lose values",
          "[select][stress]") {
  // Producers select over five of twelve channels (the engine orders few channels by insertion
  // sort), consumers over all twelve plus `done` (ordered by std::sort); each lists them in an
  // order of its own, so any disagreement on the lock order would deadlock.
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const long per_producer = scaled(20000, 20);
  constexpr int channel_count = 12;
  std::atomic<long> received{0}, checksum{0};
  goro::run(
      [&] {
        std::vector<goro::chan<long>> channels(channel_count);
        goro::chan<long> done;
        goro::wait_group producers, consumers;
        for (int p = 0; p < 4; ++p) {
          producers.add(1);
          goro::go([&, p] {
            auto pick = [&](int k) { return channels[static_cast<std::size_t>((p + k) % 12)]; };
            for (long i = 0; i < per_producer; ++i) {
              const long v = p * per_producer + i;
              goro::select(goro::on_send(pick(0), v), goro::on_send(pick(7), v),
                           goro::on_send(pick(3), v), goro::on_send(pick(11), v),
                           goro::on_send(pick(5), v));
            }
            producers.done();
          });
        }
        for (int c = 0; c < 4; ++c) {
          consumers.add(1);
          goro::go([&, c] {
            goro::select_set<long> set;
            for (int k = 0; k < channel_count; ++k) {
              set.add_recv(channels[static_cast<std::size_t>((5 * k + c) % channel_count)]);
            }
            const std::size_t stop = set.add_recv(done);
            for (;;) {
              auto r = set.select();
              if (r.index == stop) break;
              received.fetch_add(1);
              checksum.fetch_add(*r.value);
            }
            consumers.done();
          });
        }
        stop_consumers(producers, received, 4 * per_producer, done, consumers);
      },
      goro::options{.workers = workers});
  check_every_value_once(received, checksum, 4 * per_producer);
}

TEST_CASE("close racing with blocked selects wakes each exactly once", "[select][close][stress]") {
  const int rounds = static_cast<int>(scaled(200, 10));
  long wrong = 0;
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int> woke{0};
    goro::run(
        [&] {
          goro::chan<int> a, b;
          goro::wait_group wg;
          for (int i = 0; i < 16; ++i) {
            wg.add(1);
            goro::go([&] {
              goro::select(goro::on_recv(a, [&](std::optional<int>) { woke.fetch_add(1); }),
                           goro::on_recv(b, [&](std::optional<int>) { woke.fetch_add(1); }));
              wg.done();
            });
          }
          goro::sleep_for(std::chrono::microseconds(round % 100));
          a.close();
          b.close();
          wg.wait();
        },
        goro::options{.workers = 4});
    wrong += woke.load() != 16;
  }
  CHECK(wrong == 0);
}

// Ports of Go 1.19's runtime/chan_test.go follow (tag [go]).

// Go's runtime TestChan.
TEST_CASE("channels of each capacity block when empty or full, drain after close and keep order",
          "[select][chan][go]") {
  const int capacities = static_cast<int>(scaled(20, 4));
  constexpr int in_order = 100;
  constexpr int producers = 4;
  constexpr int per_producer = 1000;
  goro::run(
      [&] {
        for (int cap = 0; cap < capacities; ++cap) {
          INFO("capacity " << cap);
          {  // a receive from an empty channel blocks; a non-blocking one does not
            goro::chan<int> c(cap);
            auto received = std::make_shared<std::atomic<int>>(0);
            for (int r = 0; r < 2; ++r) {
              goro::go([c, received] {
                c.recv();
                received->fetch_add(1);
              });
            }
            goro::sleep_for(1ms);
            CHECK(received->load() == 0);
            CHECK(goro::select(goro::on_recv(c), goro::on_default()) == 1);
            bool fired = false;
            CHECK(goro::select(goro::on_recv(c, [&](std::optional<int>) { fired = true; }),
                               goro::on_default()) == 1);
            CHECK_FALSE(fired);
            c.send(0);
            c.send(0);
          }
          {  // a send to a full channel blocks; a non-blocking one does not
            goro::chan<int> c(cap);
            for (int i = 0; i < cap; ++i) c.send(i);
            auto sent = std::make_shared<std::atomic<bool>>(false);
            goro::go([c, sent] {
              c.send(0);
              sent->store(true);
            });
            goro::sleep_for(1ms);
            CHECK_FALSE(sent->load());
            CHECK(goro::select(goro::on_send(c, 0), goro::on_default()) == 1);
            c.recv();
          }
          {  // a closed channel yields its buffered values in order, then nullopt
            goro::chan<int> c(cap);
            for (int i = 0; i < cap; ++i) c.send(i);
            c.close();
            int wrong = 0;
            for (int i = 0; i < cap; ++i) wrong += c.recv() != i;
            CHECK(wrong == 0);
            CHECK_FALSE(c.recv().has_value());
            CHECK_FALSE(c.recv().has_value());
          }
          {  // close wakes a blocked receiver with nullopt
            goro::chan<int> c(cap);
            goro::chan<bool> done;
            goro::go([c, done] { done.send(!c.recv().has_value()); });
            goro::sleep_for(1ms);
            c.close();
            CHECK(done.recv() == true);
          }
          {  // one sender's values arrive intact and in order; many senders' values arrive once
            goro::chan<int> c(cap);
            for (int pass = 0; pass < 2; ++pass) {
              goro::go([c] {
                for (int i = 0; i < in_order; ++i) c.send(i);
              });
              int wrong = 0;
              for (int i = 0; i < in_order; ++i) wrong += c.recv() != i;
              CHECK(wrong == 0);
            }
            for (int p = 0; p < producers; ++p) {
              goro::go([c] {
                for (int i = 0; i < per_producer; ++i) c.send(i);
              });
            }
            goro::chan<std::vector<int>> tallies;
            for (int p = 0; p < producers; ++p) {
              goro::go([c, tallies] {
                std::vector<int> seen(per_producer);
                for (int i = 0; i < per_producer; ++i) {
                  ++seen[static_cast<std::size_t>(c.recv().value())];
                }
                tallies.send(std::move(seen));
              });
            }
            std::vector<int> total(per_producer);
            for (int p = 0; p < producers; ++p) {
              std::vector<int> part = tallies.recv().value();
              for (std::size_t k = 0; k < total.size(); ++k) total[k] += part[k];
            }
            int wrong = 0;
            for (int t : total) wrong += t != producers;
            CHECK(wrong == 0);
          }
          {  // size and capacity
            goro::chan<int> c(cap);
            CHECK(c.size() == 0);
            CHECK(c.capacity() == static_cast<std::size_t>(cap));
            for (int i = 0; i < cap; ++i) c.send(i);
            CHECK(c.size() == static_cast<std::size_t>(cap));
            CHECK(c.capacity() == static_cast<std::size_t>(cap));
          }
        }
      },
      goro::options{.workers = 4});
}

// Go's runtime TestNonblockRecvRace.
TEST_CASE("a non-blocking select on a closed channel that still holds a value never defaults",
          "[select][close][go]") {
  const long rounds = scaled(10000, 100);
  std::atomic<long> defaulted{0};
  goro::wait_group wg;
  goro::run(
      [&] {
        for (long i = 0; i < rounds; ++i) {
          goro::chan<int> c(1);
          c.send(1);
          wg.add(1);
          goro::go([c, &defaulted, &wg] {
            if (goro::select(goro::on_recv(c), goro::on_default()) == 1) defaulted.fetch_add(1);
            wg.done();
          });
          c.close();
          c.recv();
        }
        wg.wait();
      },
      goro::options{.workers = 2});
  CHECK(defaulted.load() == 0);
}

// Go's runtime TestNonblockSelectRace.
TEST_CASE("a non-blocking select sees one of two channels that are never both empty",
          "[select][default][go]") {
  const long rounds = scaled(100000, 1000);
  long defaulted = 0;
  goro::run(
      [&] {
        goro::chan<bool> done(1);
        for (long i = 0; i < rounds; ++i) {
          goro::chan<int> c1(1), c2(1);
          c1.send(1);
          goro::go([c1, c2, done] {
            done.send(goro::select(goro::on_recv(c1), goro::on_recv(c2), goro::on_default()) != 2);
          });
          c2.send(1);
          goro::select(goro::on_recv(c1), goro::on_default());
          if (!done.recv().value()) ++defaulted;
        }
      },
      goro::options{.workers = 2});
  CHECK(defaulted == 0);
}

// Go's runtime TestNonblockSelectRace2.
TEST_CASE("a non-blocking select sees a channel closed while the other is drained",
          "[select][default][close][go]") {
  const long rounds = scaled(100000, 1000);
  long defaulted = 0;
  goro::run(
      [&] {
        goro::chan<bool> done(1);
        for (long i = 0; i < rounds; ++i) {
          goro::chan<int> c1(1), c2;
          c1.send(1);
          goro::go([c1, c2, done] {
            done.send(goro::select(goro::on_recv(c1), goro::on_recv(c2), goro::on_default()) != 2);
          });
          c2.close();
          goro::select(goro::on_recv(c1), goro::on_default());
          if (!done.recv().value()) ++defaulted;
        }
      },
      goro::options{.workers = 2});
  CHECK(defaulted == 0);
}

// Go's runtime TestSelfSelect.
TEST_CASE("selects that send and receive on one channel never receive their own value",
          "[select][go]") {
  const int rounds = static_cast<int>(scaled(1000, 5));
  for (int cap : {0, 10}) {
    INFO("capacity " << cap);
    std::atomic<int> self_receives{0};
    goro::wait_group wg;
    goro::run(
        [&] {
          goro::chan<int> c(cap);
          for (int p = 0; p < 2; ++p) {
            wg.add(1);
            goro::go([c, p, cap, &self_receives, &wg] {
              auto check = [&](std::optional<int> v) {
                if (cap == 0 && v == p) self_receives.fetch_add(1);
              };
              for (int i = 0; i < rounds; ++i) {
                if (p == 0 || i % 2 == 0) {
                  goro::select(goro::on_send(c, p), goro::on_recv(c, check));
                } else {
                  goro::select(goro::on_recv(c, check), goro::on_send(c, p));
                }
              }
              wg.done();
            });
          }
          wg.wait();
        },
        goro::options{.workers = 2});
    CHECK(self_receives.load() == 0);
  }
}

// Go's runtime TestSelectStress.
TEST_CASE("plain sends and receives mixed with selects that drop finished channels complete",
          "[select][nil][stress][go]") {
  const int n = static_cast<int>(scaled(100000, 100));
  std::array<std::array<std::atomic<int>, 4>, 2> by_select{};  // [0]: sent, [1]: received
  goro::wait_group wg;
  goro::run(
      [&] {
        const std::array<goro::chan<int>, 4> c{goro::chan<int>(), goro::chan<int>(),
                                               goro::chan<int>(2), goro::chan<int>(3)};
        wg.add(10);
        for (const goro::chan<int>& ch : c) {
          goro::go([ch, &wg] {
            for (int i = 0; i < n; ++i) ch.send(0);
            wg.done();
          });
          goro::go([ch, &wg] {
            for (int i = 0; i < n; ++i) ch.recv();
            wg.done();
          });
        }
        goro::go([c, &by_select, &wg] {
          std::array<goro::chan<int>, 4> live = c;  // a channel is set to nil once it had n
          std::array<int, 4> count{};
          auto sent = [&](std::size_t k) {
            return [&, k] {
              by_select[0][k].fetch_add(1);
              if (++count[k] == n) live[k] = nullptr;
            };
          };
          for (int i = 0; i < 4 * n; ++i) {
            goro::select(goro::on_send(live[3], 0, sent(3)), goro::on_send(live[2], 0, sent(2)),
                         goro::on_send(live[0], 0, sent(0)), goro::on_send(live[1], 0, sent(1)));
          }
          wg.done();
        });
        goro::go([c, &by_select, &wg] {
          std::array<goro::chan<int>, 4> live = c;
          std::array<int, 4> count{};
          auto received = [&](std::size_t k) {
            return [&, k](std::optional<int>) {
              by_select[1][k].fetch_add(1);
              if (++count[k] == n) live[k] = nullptr;
            };
          };
          for (int i = 0; i < 4 * n; ++i) {
            goro::select(goro::on_recv(live[0], received(0)), goro::on_recv(live[1], received(1)),
                         goro::on_recv(live[2], received(2)), goro::on_recv(live[3], received(3)));
          }
          wg.done();
        });
        wg.wait();
      },
      goro::options{.workers = 10});
  int wrong = 0;
  for (const auto& side : by_select) {
    for (const auto& count : side) wrong += count.load() != n;
  }
  CHECK(wrong == 0);
}

// Go's runtime TestSelectFairness.
TEST_CASE("a select forwarding from two always-ready channels picks each about half the time",
          "[select][fairness][go]") {
  const long trials = scaled(10000, 10);
  long ones = 0, twos = 0, others = 0;
  goro::wait_group wg;
  goro::run(
      [&] {
        goro::chan<unsigned char> c1(trials + 1), c2(trials + 1);
        for (long i = 0; i < trials + 1; ++i) {
          c1.send(1);
          c2.send(2);
        }
        goro::chan<unsigned char> c3, c4, out, done;
        wg.add(1);
        goro::go([c1, c2, c3, c4, out, done, &wg] {
          for (bool running = true; running;) {
            unsigned char b = 0;
            auto take = [&](std::optional<unsigned char> v) { b = v.value(); };
            goro::select(goro::on_recv(c3, take), goro::on_recv(c4, take), goro::on_recv(c1, take),
                         goro::on_recv(c2, take));
            goro::select(
                goro::on_send(out, b),
                goro::on_recv(done, [&](std::optional<unsigned char>) { running = false; }));
          }
          wg.done();
        });
        for (long i = 0; i < trials; ++i) {
          switch (out.recv().value()) {
            case 1: ++ones; break;
            case 2: ++twos; break;
            default: ++others;
          }
        }
        done.close();
        wg.wait();
      },
      goro::options{.workers = 2});
  CHECK(others == 0);
  // Go's bound: the margin of error at a confidence level of six nines.
  const double error = std::abs(static_cast<double>(ones) / static_cast<double>(trials) - 0.5);
  INFO(ones << " ones and " << twos << " twos in " << trials << " trials");
  CHECK(error <= 4.891676 / (2 * std::sqrt(static_cast<double>(trials))));
}

// Go's runtime TestChanSendInterface.
TEST_CASE("send cases converting to std::any on a full channel fall to the default",
          "[select][default][go]") {
  struct empty {};
  empty m;
  empty other;
  goro::chan<std::any> c(1);
  c.send(&m);
  CHECK(goro::select(goro::on_send(c, &m), goro::on_default()) == 1);
  CHECK(goro::select(goro::on_send(c, &m), goro::on_send(c, &other), goro::on_default()) == 2);
  REQUIRE(c.size() == 1);
  CHECK(std::any_cast<empty*>(c.recv().value()) == &m);
}

// Go's runtime TestPseudoRandomSend.
TEST_CASE("a select with two send cases on one channel sends both values",
          "[select][fairness][go]") {
  constexpr int n = 100;
  for (int cap : {0, n}) {
    INFO("capacity " << cap);
    struct shared {
      goro::mutex m;
      std::vector<int> got = std::vector<int>(n);
    };
    auto s = std::make_shared<shared>();
    goro::run(
        [&] {
          goro::chan<int> c(cap);
          s->m.lock();
          goro::go([c, s] {
            for (std::size_t i = 0; i < n; ++i) {
              goro::yield();
              s->got[i] = c.recv().value();
            }
            s->m.unlock();  // unlocked by another goroutine than the one that locked it, as in Go
          });
          for (int i = 0; i < n; ++i) goro::select(goro::on_send(c, 1), goro::on_send(c, 0));
          s->m.lock();  // waits for the receiver
        },
        goro::options{.workers = 2});
    int zeros = 0, ones = 0;
    for (int v : s->got) {
      zeros += v == 0;
      ones += v == 1;
    }
    CHECK(zeros + ones == n);
    CHECK(zeros > n / 10);
    CHECK(ones > n / 10);
  }
}

// Go's runtime TestSelectDuplicateChannel.
TEST_CASE("a select listing a channel twice leaves that channel's other receivers queued",
          "[select][go]") {
  goro::run([] {
    goro::chan<int> c, d, e;
    goro::go([c, d, e] {  // A: queued on c twice, then woken through d
      goro::select(goro::on_recv(c), goro::on_recv(c), goro::on_recv(d));
      e.send(9);
    });
    goro_test::dump_when({"[select]:"});  // A is queued on c first
    goro::go([c] { c.recv(); });          // B: queued on c after A
    goro_test::dump_when({"[select]:", "[chan receive]:"});
    d.send(7);  // wakes A, which must unlink both of its entries from c
    CHECK(e.recv() == 9);
    c.send(8);  // must reach B: a corrupted queue would block this forever (a deadlock)
  });
}

// Go's runtime TestChanSendBarrier and TestChanSendSelectBarrier (chanbarrier_test.go). Each
// request starts a goroutine that answers it over an unbuffered channel, by a plain send or by a
// select that could also give up on a channel nobody closes; the requester yields after taking
// the answer. Go's test checks that the pointer it receives is intact while the collector runs;
// here each answer is a heap object that must arrive whole, exactly once per request.
TEST_CASE("requests answered by a goroutine each over an unbuffered channel all arrive intact",
          "[select][chan][stress][go]") {
  struct answer {
    std::unique_ptr<int> response;  // none, as in Go's test
    std::string error;
  };
  const bool use_select = GENERATE(false, true);
  constexpr int requesters = 10;
  const long requests = scaled(1000, 50);  // a goroutine per request: slow under TSan
  std::atomic<long> wrong{0};
  goro::wait_group finished;
  goro::mutex global_mutex;
  std::vector<char> global;  // guarded by global_mutex
  goro::run(
      [&] {
        for (int i = 0; i < requesters; ++i) {
          finished.add(1);
          goro::go([&, use_select] {
            std::vector<char> garbage;
            for (long j = 0; j < requests; ++j) {
              goro::chan<std::unique_ptr<answer>> ch;
              goro::chan<std::monostate> done;
              auto make_answer = [] {
                return std::make_unique<answer>(answer{nullptr, "my error"});
              };
              if (use_select) {
                goro::go([ch, done, make_answer] {
                  goro::select(goro::on_send(ch, make_answer()), goro::on_recv(done));
                });
              } else {
                goro::go([ch, make_answer] { ch.send(make_answer()); });
              }
              const std::optional<std::unique_ptr<answer>> r = ch.recv();
              goro::yield();
              if (!r || !*r || (*r)->response || (*r)->error != "my error") wrong.fetch_add(1);
              garbage.assign(1024, static_cast<char>(j));
            }
            {
              std::lock_guard lock(global_mutex);
              global = std::move(garbage);
            }
            finished.done();
          });
        }
        finished.wait();
      },
      goro::options{.workers = 2});
  CHECK(wrong.load() == 0);
  CHECK(global.size() == 1024);
}

// Ports of Go 1.19's test/chan programs follow (tag [go]), with test/ken/chan.go, ken/chan1.go
// and chanlinear.go. Go's panics become CHECKs in the main goroutine; a goroutine that finds a
// fault counts it, and main checks the count (Catch2 is not thread-safe).

// Go's test/chan/doubleselect.go.
TEST_CASE("a select over four send cases sends each value on exactly one channel",
          "[select][send][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int iterations = static_cast<int>(scaled(100000, 20));
  long duplicates = 0, received = 0;
  goro::run(
      [&] {
        const std::array<goro::chan<int>, 4> c{};
        goro::chan<bool> done;
        goro::chan<int> cmux;
        goro::go([c, count = iterations] {  // sender: each value to one of four channels
          for (int i = 0; i < count; ++i) {
            goro::select(goro::on_send(c[0], i), goro::on_send(c[1], i), goro::on_send(c[2], i),
                         goro::on_send(c[3], i));
          }
          for (std::size_t k = c.size(); k-- > 0;) c[k].close();
        });
        for (const goro::chan<int>& in : c) {
          goro::go([in, cmux, done] {  // mux: forward to cmux
            for (int v : in) cmux.send(v);
            done.send(true);
          });
        }
        goro::go([done, cmux] {
          for (int k = 0; k < 4; ++k) done.recv();
          cmux.close();
        });
        std::vector<char> seen(static_cast<std::size_t>(iterations));
        for (int v : cmux) {  // recver: no value twice
          if (seen[static_cast<std::size_t>(v)]++ != 0) ++duplicates;
          ++received;
        }
      },
      goro::options{.workers = workers});
  CHECK(duplicates == 0);
  CHECK(received == iterations);
}

namespace {

// nonblock_pair: Go's nonblock.go for one element type and buffer size: a non-blocking receive
// from an empty channel defaults; a non-blocking send to a waiting receiver and a non-blocking
// receive from a waiting sender go through. Go retries them, sleeping, until they do; here the
// test waits until the partner is parked on the channel (or, buffered, has returned), after
// which the one non-blocking attempt must succeed.
template <class T>
void nonblock_pair(int buffer, const T& to_receiver, const T& from_sender) {
  INFO("buffer " << buffer);
  goro::chan<bool> sync;
  goro::chan<T> c(buffer);
  bool fired = false;
  CHECK(goro::select(goro::on_recv(c, [&](std::optional<T>) { fired = true; }),
                     goro::on_default()) == 1);
  CHECK_FALSE(fired);

  goro::go([c, sync, to_receiver] { sync.send(c.recv() == to_receiver); });
  if (buffer == 0) goro_test::dump_when({"[chan receive]:"});
  CHECK(goro::select(goro::on_send(c, to_receiver), goro::on_default()) == 0);
  CHECK(sync.recv() == true);

  goro::go([c, sync, from_sender] {
    c.send(from_sender);
    sync.send(true);
  });
  if (buffer > 0) {
    sync.recv();
  } else {
    goro_test::dump_when({"[chan send]:"});
  }
  std::optional<T> got;
  CHECK(goro::select(goro::on_recv(c, [&](std::optional<T> v) { got = std::move(v); }),
                     goro::on_default()) == 0);
  CHECK(got == from_sender);
  if (buffer == 0) sync.recv();
}

}  // namespace

// Go's test/chan/nonblock.go.
TEST_CASE("non-blocking sends and receives of several types go through once the partner waits",
          "[select][default][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  goro::run(
      [] {
        for (int buffer = 0; buffer < 2; ++buffer) {
          nonblock_pair<std::int32_t>(buffer, 123, 234);
          nonblock_pair<std::int64_t>(buffer, 123456, 234567);
          nonblock_pair<bool>(buffer, true, true);
          nonblock_pair<std::string>(buffer, "hello", "hello again");
        }
      },
      goro::options{.workers = workers});
}

// Go's test/chan/select.go.
TEST_CASE("a select loop that drops each channel once it sent evaluates every send value",
          "[select][send][nil][go]") {
  unsigned counter = 0, shift = 0;
  auto get_value = [&] {
    ++counter;
    return 1u << shift;
  };
  // send: sends on a and b until both are full or nil, one value per select; each select
  // computes a value for every send case, chosen or not.
  auto send = [&](goro::chan<unsigned> a, goro::chan<unsigned> b) {
    int sent = 0;
    while (goro::select(goro::on_send(a, get_value(),
                                      [&] {
                                        ++sent;
                                        a = nullptr;
                                      }),
                        goro::on_send(b, get_value(),
                                      [&] {
                                        ++sent;
                                        b = nullptr;
                                      }),
                        goro::on_default()) != 2) {
      ++shift;
    }
    return sent;
  };
  goro::run([&] {
    goro::chan<unsigned> a(1), b(1);
    CHECK(send(a, b) == 2);
    CHECK((a.recv().value() | b.recv().value()) == 3);
    CHECK(send(a, nullptr) == 1);
    CHECK(counter == 10);
  });
}

// Go's test/chan/select2.go. Go checks that 100000 selects do not grow the heap; that check,
// of the garbage collector's statistics, has no counterpart here. What remains: a receiver
// selecting between a sender's channel and a silent one gets every value from the sender.
TEST_CASE("100000 selects receive every value from a sender and never from a silent channel",
          "[select][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(scaled(100000, 20));
  int from_dummy = 0;
  goro::run(
      [&] {
        goro::chan<int> c, dummy;
        for (int round = 0; round < 2; ++round) {  // a warm-up, then the measured run in Go
          goro::go([c, count = n] {
            for (int i = 0; i < count; ++i) c.send(1);
          });
          for (int i = 0; i < n; ++i) {
            from_dummy += goro::select(goro::on_recv(c), goro::on_recv(dummy)) == 1;
          }
        }
      },
      goro::options{.workers = workers});
  CHECK(from_dummy == 0);
}

// Go's test/chan/select3.go. Go tells "always blocks" from "never blocks" by waiting 10 ms (or
// 10 s) for the operation; here an operation that must block forever runs alone in a run's
// main goroutine, where it must be reported as a deadlock, and one that must not block runs
// inline (were it to block, the run would report a deadlock and the test fail).
TEST_CASE("operations on nil, closed, ready and unready channels block, proceed or throw as Go's",
          "[select][nil][close][deadlock][go]") {
  goro::chan<int> nilch = nullptr;
  goro::chan<int> closedch;
  closedch.close();
  auto unreachable = [](auto&&...) { FAIL("control flow should not reach here"); };

  SECTION("sending to or receiving from a nil channel blocks") {
    CHECK_THROWS_AS(goro::run([&] { nilch.send(7); }), goro::deadlock_error);
    CHECK_THROWS_AS(goro::run([&] { nilch.recv(); }), goro::deadlock_error);
  }
  SECTION("a nil channel's case is never selected") {
    goro::run([&] {
      CHECK(goro::select(goro::on_send(nilch, 7, unreachable), goro::on_default()) == 1);
      CHECK(goro::select(goro::on_recv(nilch, unreachable), goro::on_default()) == 1);
    });
  }
  SECTION("sending to a buffered channel with room, receiving from a closed one never block") {
    goro::run([&] {
      goro::chan<int> ch(1);
      ch.send(7);
      for (int i = 0; i < 10; ++i) {
        CHECK(closedch.recv() == std::nullopt);  // Go: the zero value, and ok == false
      }
    });
  }
  SECTION("sending to a closed channel throws, plainly or in a select") {
    goro::run([&] {
      CHECK_THROWS_AS(closedch.send(7), goro::channel_closed);
      CHECK_THROWS_AS(goro::select(goro::on_send(closedch, 7)), goro::channel_closed);
    });
  }
  SECTION("receiving from a channel nobody sends on blocks") {
    CHECK_THROWS_AS(goro::run([] { goro::chan<int>().recv(); }), goro::deadlock_error);
  }
  SECTION("a select with no cases, only nil channels or unready ones blocks") {
    CHECK_THROWS_AS(goro::run([] { goro::select(); }), goro::deadlock_error);
    CHECK_THROWS_AS(goro::run([&] { goro::select(goro::on_recv(nilch, unreachable)); }),
                    goro::deadlock_error);
    CHECK_THROWS_AS(goro::run([&] { goro::select(goro::on_send(nilch, 7, unreachable)); }),
                    goro::deadlock_error);
    CHECK_THROWS_AS(goro::run([&] {
                      goro::select(goro::on_recv(nilch, unreachable),
                                   goro::on_send(nilch, 7, unreachable));
                    }),
                    goro::deadlock_error);
    CHECK_THROWS_AS(goro::run([&] {
                      goro::chan<int> ch;
                      goro::select(goro::on_recv(ch, unreachable));
                    }),
                    goro::deadlock_error);
  }
  SECTION("a select with a default, or with a ready case, does not block") {
    goro::run([&] {
      CHECK(goro::select(goro::on_default()) == 0);
      CHECK(goro::select(goro::on_recv(nilch, unreachable), goro::on_default()) == 1);
      CHECK(goro::select(goro::on_send(nilch, 7, unreachable), goro::on_default()) == 1);
      goro::chan<int> ch(1);
      CHECK(goro::select(goro::on_send(ch, 7), goro::on_default(unreachable)) == 0);
      CHECK(goro::select(goro::on_recv(ch), goro::on_default(unreachable)) == 0);
    });
  }
  SECTION("a select on a closed channel behaves as the plain operation") {
    goro::run([&] {
      std::optional<int> got = 1;
      CHECK(goro::select(goro::on_recv(closedch)) == 0);
      CHECK(goro::select(goro::on_recv(closedch, [&](std::optional<int> v) { got = v; })) == 0);
      CHECK(got == std::nullopt);
      CHECK_THROWS_AS(goro::select(goro::on_send(closedch, 7)), goro::channel_closed);
    });
  }
  SECTION("a select that sends and receives on one unbuffered channel does not pair with itself") {
    CHECK_THROWS_AS(goro::run([] {
                      goro::chan<int> c;
                      goro::select(goro::on_send(c, 1), goro::on_recv(c));
                    }),
                    goro::deadlock_error);
  }
}

// Go's test/chan/select4.go.
TEST_CASE("a select takes the case whose value is ready and runs only its callback",
          "[select][go]") {
  goro::run([] {
    goro::chan<int> c(1), c1;
    c.send(42);
    struct {
      int a = 0;
    } x;
    bool other_ran = false;
    CHECK(goro::select(goro::on_recv(c1, [&](std::optional<int>) { other_ran = true; }),
                       goro::on_recv(c, [&](std::optional<int> v) { x.a = v.value(); })) == 1);
    CHECK(x.a == 42);
    CHECK_FALSE(other_ran);
  });
}

namespace select5 {

// Go's select5.go generates every combination of a real send or receive on a buffered channel
// with a default placed before or after it (or none) and dummy cases that are never ready (on
// a channel nobody uses, and on a nil channel), in several forms; it checks the real case or
// the default fires. Here each combination is a template instance: its cases are built as a
// tuple and passed to goro::select, which must return the expected case's index.

// maybe: a tuple of the case `make` builds if `Present`, else an empty tuple.
template <bool Present, class Make>
auto maybe(Make make) {
  if constexpr (Present) {
    return std::make_tuple(make());
  } else {
    return std::tuple<>();
  }
}

struct state {
  goro::chan<int> c = goro::chan<int>(1);  // buffered: the test runs on one goroutine
  goro::chan<int> nilch = nullptr;
  goro::chan<int> dummy;
  int n = 1;
  int x = 0;
  long combinations = 0;
  long failures = 0;
  std::string first_failure;

  void check(bool ok, const std::string& what) {
    ++combinations;
    if (!ok && failures++ == 0) first_failure = what;
  }
  // fail: a callback, for any case, that records that the case ran.
  auto fail(const char* what) {
    return [this, what](auto&&...) { check(false, what); };
  }
};

// Extras: bit 0 a dummy send, bit 1 a dummy receive, bit 2 a nil send, bit 3 a nil receive.
template <unsigned Extras>
auto extra_cases(state& s) {
  return std::tuple_cat(
      maybe<(Extras & 1) != 0>([&] { return goro::on_send(s.dummy, 1, s.fail("dummy send")); }),
      maybe<(Extras & 2) != 0>([&] { return goro::on_recv(s.dummy, s.fail("dummy receive")); }),
      maybe<(Extras & 4) != 0>([&] { return goro::on_send(s.nilch, 1, s.fail("nilch send")); }),
      maybe<(Extras & 8) != 0>([&] { return goro::on_recv(s.nilch, s.fail("nilch recv")); }));
}

template <class Tuple>
std::size_t select_tuple(Tuple& cases) {
  return std::apply([](auto&... c) { return goro::select(c...); }, cases);
}

// recv_variant: send n, receive it in a select (Variant 0: a plain receive), check it is n.
// Default: 0 none, 1 before the receive, 2 after it. Form: how the callback stores the value
// (Go's assignment to a variable, through a pointer, with :=, to an interface, to a map).
template <unsigned Variant>
void recv_variant(state& s) {
  s.c.send(s.n);
  if constexpr (Variant == 0) {
    s.x = s.c.recv().value();
  } else {
    constexpr unsigned v = Variant - 1;
    constexpr unsigned default_at = v % 3;
    constexpr unsigned form = v / 3 % 5;
    constexpr unsigned extras = v / 15;
    std::any i;
    std::map<int, int> m;
    auto receive = [&] {
      if constexpr (form == 0) {
        return goro::on_recv(s.c, [&](std::optional<int> y) { s.x = y.value(); });
      } else if constexpr (form == 1) {
        return goro::on_recv(s.c, [p = &s.x](auto y) { *p = *y; });
      } else if constexpr (form == 2) {
        return goro::on_recv(s.c, [&](const std::optional<int>& y) {
          const int z = *y;
          s.x = z;
        });
      } else if constexpr (form == 3) {
        return goro::on_recv(s.c, [&](std::optional<int> y) {
          i = *y;
          s.x = std::any_cast<int>(i);
        });
      } else {
        return goro::on_recv(s.c, [&](std::optional<int> y) {
          m[13] = *y;
          s.x = m[13];
        });
      }
    };
    auto cases =
        std::tuple_cat(maybe<default_at == 1>([&] { return goro::on_default(s.fail("nonblock")); }),
                       std::make_tuple(receive()),
                       maybe<default_at == 2>([&] { return goro::on_default(s.fail("nonblock")); }),
                       extra_cases<extras>(s));
    s.check(select_tuple(cases) == (default_at == 1 ? 1 : 0), "recv: the receive's index");
  }
  s.check(s.x == s.n, "recv: the value");
  ++s.n;
}

// send_variant: send n in a select (Variant 0: a plain send), receive it, check it is n.
template <unsigned Variant>
void send_variant(state& s) {
  if constexpr (Variant == 0) {
    s.c.send(s.n);
  } else {
    constexpr unsigned v = Variant - 1;
    constexpr unsigned default_at = v % 3;
    constexpr unsigned extras = v / 3;
    auto cases =
        std::tuple_cat(maybe<default_at == 1>([&] { return goro::on_default(s.fail("nonblock")); }),
                       std::make_tuple(goro::on_send(s.c, s.n)),
                       maybe<default_at == 2>([&] { return goro::on_default(s.fail("nonblock")); }),
                       extra_cases<extras>(s));
    s.check(select_tuple(cases) == (default_at == 1 ? 1 : 0), "send: the send's index");
  }
  s.x = s.c.recv().value();
  s.check(s.x == s.n, "send: the value");
  ++s.n;
}

// nonblock_variant: a select with a default (first or last) and cases that are never ready,
// some of whose callbacks would store into x: the default fires and x keeps its value.
// Extras: bits 0-3 as extra_cases; bit 4 a dummy receive, bit 5 a nil receive, both storing
// into x.
template <unsigned Variant>
void nonblock_variant(state& s) {
  constexpr bool default_first = Variant % 2 == 0;
  constexpr unsigned extras = Variant / 2;
  s.x = s.n;
  auto store = [&s, fail = s.fail("receive into x")](std::optional<int> y) {
    s.x = y.value_or(-1);
    fail();
  };
  auto cases = std::tuple_cat(
      maybe<default_first>([] { return goro::on_default(); }), extra_cases<extras % 16>(s),
      maybe<(extras & 16) != 0>([&] { return goro::on_recv(s.dummy, store); }),
      maybe<(extras & 32) != 0>([&] { return goro::on_recv(s.nilch, store); }),
      maybe<!default_first>([] { return goro::on_default(); }));
  const std::size_t fired = select_tuple(cases);
  s.check(fired == (default_first ? 0 : std::tuple_size_v<decltype(cases)> - 1),
          "nonblock: the default's index");
  s.check(s.x == s.n, "nonblock: x untouched");
  ++s.n;
}

template <unsigned... V>
void all_recv(state& s, std::integer_sequence<unsigned, V...>) {
  (recv_variant<V>(s), ...);
}
template <unsigned... V>
void all_send(state& s, std::integer_sequence<unsigned, V...>) {
  (send_variant<V>(s), ...);
}
template <unsigned... V>
void all_nonblock(state& s, std::integer_sequence<unsigned, V...>) {
  (nonblock_variant<V>(s), ...);
}

}  // namespace select5

// Go's test/chan/select5.go. Its recvOrder and sendOrder parts check Go's left-to-right
// evaluation of channel and value expressions in a select; C++ leaves the order of evaluating
// function arguments unspecified, so they have no counterpart.
TEST_CASE("every combination of a real case, a default and never-ready cases picks the right one",
          "[select][default][nil][go]") {
  select5::state s;
  goro::run([&] {
    select5::all_recv(s, std::make_integer_sequence<unsigned, 1 + 3 * 5 * 16>());
    select5::all_send(s, std::make_integer_sequence<unsigned, 1 + 3 * 16>());
    select5::all_nonblock(s, std::make_integer_sequence<unsigned, 2 * 64>());
  });
  INFO(s.first_failure);
  CHECK(s.failures == 0);
  CHECK(s.combinations == (1 + 2 * 3 * 5 * 16) + (1 + 2 * 3 * 16) + 2 * 2 * 64);
}

// Go's test/chan/select6.go (issue 2075): a select that gives up on a channel must leave that
// channel's queue of waiters intact, or a later waiter on it is never woken.
TEST_CASE("a select that gives up on a channel leaves its other waiters queued", "[select][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  std::atomic<int> wrong_case{0};
  goro::run(
      [&] {
        goro::chan<bool> c1, c2, c3;
        goro::go([c1] { c1.recv(); });
        goro::go([c1, c2, c3, &wrong_case] {
          goro::select(goro::on_recv(c1, [&](std::optional<bool>) { wrong_case.fetch_add(1); }),
                       goro::on_recv(c2, [&](std::optional<bool>) { c3.send(true); }));
          c1.recv();
        });
        goro::go([c2] { c2.send(true); });
        c3.recv();
        c1.send(true);
        c1.send(true);  // both receivers on c1 get one (a lost waiter would deadlock here)
      },
      goro::options{.workers = workers});
  CHECK(wrong_case.load() == 0);
}

// Go's test/chan/select7.go: a value sent by a plain send, a one-case select or a two-case
// select reaches a plain receive, a one-case select or a two-case select.
TEST_CASE("sends and receives, plain or in selects of one or two cases, pair up", "[select][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  using receiver = std::function<void(goro::recv_chan<int>)>;
  const std::array<receiver, 3> receivers{
      [](goro::recv_chan<int> c) { c.recv(); },
      [](goro::recv_chan<int> c) { goro::select(goro::on_recv(c)); },
      [](goro::recv_chan<int> c) {
        goro::chan<int> c2;
        goro::select(goro::on_recv(c), goro::on_recv(c2));
      }};
  std::atomic<int> received{0};
  goro::wait_group receiving;
  goro::run(
      [&] {
        for (const receiver& recv : receivers) {
          for (int how = 0; how < 3; ++how) {
            goro::chan<int> c;
            receiving.add(1);
            goro::go([recv, c, &received, &receiving] {
              recv(c);
              received.fetch_add(1);
              receiving.done();
            });
            goro::yield();
            if (how == 0) {
              c.send(1);
            } else if (how == 1) {
              goro::select(goro::on_send(c, 1));
            } else {
              goro::chan<int> c2;
              goro::select(goro::on_send(c, 1), goro::on_send(c2, 1));
            }
          }
        }
        receiving.wait();
      },
      goro::options{.workers = workers});
  CHECK(received.load() == 9);
}

// Go's test/chan/select8.go checks `break` inside select cases of one, two and three cases
// (a gccgo bug); here a callback returning stands for break, and the index is checked.
TEST_CASE("selects of one, two and three cases return the case that ran", "[select][go]") {
  goro::run([] {
    goro::chan<int> ch;
    goro::go([ch] {
      for (;;) ch.send(5);
    });
    int got = 0;
    CHECK(goro::select(goro::on_recv(ch, [&](std::optional<int> v) { got = v.value(); })) == 0);
    CHECK(got == 5);
    CHECK(goro::select(goro::on_default()) == 0);
    // The sender may not be back in its send yet: the default may run instead.
    got = 0;
    std::size_t fired = goro::select(
        goro::on_recv(ch, [&](std::optional<int> v) { got = v.value(); }), goro::on_default());
    CHECK((fired == 1 || got == 5));
    // Nobody receives, so the send case never can.
    got = 0;
    fired = goro::select(goro::on_recv(ch, [&](std::optional<int> v) { got = v.value(); }),
                         goro::on_send(ch, 10), goro::on_default());
    CHECK(fired != 1);
    CHECK((fired == 2 || got == 5));
  });
}

// Go's test/chan/sendstmt.go. Its chanchan part: a send case on a channel received from a
// channel of channels. (Its sendprec part checks the precedence of `c <- false || true` in Go's
// grammar, which has no counterpart.)
TEST_CASE("a send case on a channel just received from a channel of channels goes through",
          "[select][send][go]") {
  goro::run([] {
    goro::chan<goro::chan<int>> cc(1);
    goro::chan<int> c(1);
    cc.send(c);
    CHECK(goro::select(goro::on_send(cc.recv().value(), 2), goro::on_default()) == 0);
    CHECK(c.recv() == 2);
  });
}

namespace ken_chan {

// Go's test/ken/chan.go: channels that each carry 76 consecutive numbers, sent and received by
// plain operations and by selects of eight cases, some on nil channels; a side that has passed
// its 76th value sets its channel to nil. Every number must arrive in order.

constexpr int end = 10000;

struct test_state {
  std::atomic<long> randx{0};
  std::atomic<long> tots{0}, totr{0};
  std::atomic<long> out_of_order{0};
  int cval = 0;
  goro::wait_group running;

  int nrand(int n) { return static_cast<int>(randx.fetch_add(10007) % 1000000 % n); }
  // expect: the number after v, or end after the 76th; a number out of order counts as a fault
  // and ends the channel.
  int expect(int v, int v0) {
    if (v == v0) return v % 100 == 75 ? end : v + 1;
    out_of_order.fetch_add(1);
    return end;
  }
};

struct chan_state {        // Go's Chan
  goro::chan<int> sc, rc;  // send and receive side: one channel, or nil
  int sv = 0, rv = 0;      // next value to send and to receive
  test_state* t = nullptr;

  bool sent() {
    t->tots.fetch_add(1);
    sv = t->expect(sv, sv);
    if (sv != end) return false;
    sc = nullptr;
    return true;
  }
  bool received(int v) {
    t->totr.fetch_add(1);
    rv = t->expect(rv, v);
    if (rv != end) return false;
    rc = nullptr;
    return true;
  }
};

using chan_ptr = std::shared_ptr<chan_state>;

std::vector<chan_ptr> mkchan(test_state& t, int capacity, int n) {
  std::vector<chan_ptr> ca;
  for (int i = 0; i < n; ++i) {
    t.cval += 100;
    auto ch = std::make_shared<chan_state>();
    ch->sc = goro::chan<int>(capacity);
    ch->rc = ch->sc;
    ch->sv = ch->rv = t.cval;
    ch->t = &t;
    ca.push_back(ch);
  }
  return ca;
}

void yield_some(test_state& t, int up_to) {
  for (int r = t.nrand(up_to); r >= 0; --r) goro::yield();
}

void send(test_state& t, chan_ptr c) {
  t.running.add(1);
  goro::go([&t, c] {
    do {
      yield_some(t, 10);
      c->sc.send(c->sv);
    } while (!c->sent());
    t.running.done();
  });
}

void recv(test_state& t, chan_ptr c) {
  t.running.add(1);
  goro::go([&t, c] {
    do {
      yield_some(t, 10);
    } while (!c->received(c->rc.recv().value()));
    t.running.done();
  });
}

// sel: receives from r's channels and sends on s's in one select until all are done.
void sel(test_state& t, std::array<chan_ptr, 4> r, std::array<chan_ptr, 4> s) {
  t.running.add(1);
  goro::go([&t, r, s] {
    int live = 0;
    for (const chan_ptr& c : r) live += !c->rc.is_nil();
    for (const chan_ptr& c : s) live += !c->sc.is_nil();
    auto on_r = [&](const chan_ptr& c) {
      return goro::on_recv(c->rc, [&](std::optional<int> v) { live -= c->received(v.value()); });
    };
    auto on_s = [&](const chan_ptr& c) {
      return goro::on_send(c->sc, c->sv, [&] { live -= c->sent(); });
    };
    while (live > 0) {
      yield_some(t, 5);
      goro::select(on_r(r[0]), on_r(r[1]), on_r(r[2]), on_r(r[3]), on_s(s[0]), on_s(s[1]),
                   on_s(s[2]), on_s(s[3]));
    }
    t.running.done();
  });
}

// tests: Go's test1..test6 with channels of one capacity; nc is a Chan whose channels are nil.
void tests(test_state& t, int capacity, const chan_ptr& nc) {
  const std::array<chan_ptr, 4> nils{nc, nc, nc, nc};
  auto four = [](const std::vector<chan_ptr>& ca, std::size_t from) {
    return std::array<chan_ptr, 4>{ca[from], ca[from + 1], ca[from + 2], ca[from + 3]};
  };
  for (const chan_ptr& c : mkchan(t, capacity, 4)) {  // direct send to direct receive
    send(t, c);
    recv(t, c);
  }
  t.running.wait();
  {  // direct send to select receive
    const auto ca = mkchan(t, capacity, 4);
    for (const chan_ptr& c : ca) send(t, c);
    sel(t, four(ca, 0), nils);
    t.running.wait();
  }
  {  // select send to direct receive
    const auto ca = mkchan(t, capacity, 4);
    for (const chan_ptr& c : ca) recv(t, c);
    sel(t, nils, four(ca, 0));
    t.running.wait();
  }
  {  // select send to select receive
    const auto ca = mkchan(t, capacity, 4);
    sel(t, nils, four(ca, 0));
    sel(t, four(ca, 0), nils);
    t.running.wait();
  }
  {  // two selects, each sending on four channels and receiving on four others
    const auto ca = mkchan(t, capacity, 8);
    sel(t, four(ca, 4), four(ca, 0));
    sel(t, four(ca, 0), four(ca, 4));
    t.running.wait();
  }
  {  // direct sends and receives around two selects
    const auto ca = mkchan(t, capacity, 12);
    for (std::size_t i = 4; i < 8; ++i) send(t, ca[i]);
    for (std::size_t i = 8; i < 12; ++i) recv(t, ca[i]);
    sel(t, four(ca, 4), four(ca, 0));
    sel(t, four(ca, 0), four(ca, 8));
    t.running.wait();
  }
}

}  // namespace ken_chan

// Go's test/ken/chan.go.
TEST_CASE("plain operations and eight-case selects pass 76 numbers per channel in order",
          "[select][nil][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  ken_chan::test_state t;
  goro::run(
      [&] {
        auto nc = std::make_shared<ken_chan::chan_state>();
        nc->sc = nc->rc = nullptr;
        nc->t = &t;
        for (int capacity : {0, 1, 10, 100}) ken_chan::tests(t, capacity, nc);
      },
      goro::options{.workers = workers});
  const long want = 4 * (4 * 4 + 8 + 12) * 76;  // buffer sizes x channels x values per channel
  CHECK(t.out_of_order.load() == 0);
  CHECK(t.tots.load() == want);
  CHECK(t.totr.load() == want);
}

// Go's test/ken/chan1.go: ten receivers, each in a loop of one-case selects, share a channel
// of capacity 2; every number sent is received once, after it was sent. (Go's main returns
// once it has sent; here it also waits for the receivers to mark every number.)
TEST_CASE("ten selecting receivers on one buffered channel take each value once", "[select][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  constexpr int n = 1000;  // sent messages
  constexpr int m = 10;    // receiving goroutines
  constexpr int w = 2;     // channel buffering
  std::array<int, n> h{};  // 1: sent, 2: received; ordered by the channel
  std::atomic<int> faults{0};
  goro::wait_group marked;
  goro::run(
      [&] {
        goro::chan<int> c(w);
        for (int k = 0; k < m; ++k) {
          goro::go([c, &h, &faults, &marked] {
            for (;;) {
              goro::select(goro::on_recv(c, [&](std::optional<int> r) {
                int& mark = h[static_cast<std::size_t>(r.value())];
                if (mark != 1) faults.fetch_add(1);
                mark = 2;
                marked.done();
              }));
            }
          });
          goro::yield();
        }
        goro::yield();
        goro::yield();
        marked.add(n);
        for (int r = 0; r < n; ++r) {
          int& mark = h[static_cast<std::size_t>(r)];
          if (mark != 0) faults.fetch_add(1);
          mark = 1;
          c.send(r);
        }
        marked.wait();
      },
      goro::options{.workers = workers});
  CHECK(faults.load() == 0);
  CHECK(std::count(h.begin(), h.end(), 2) == n);
}

// Go's test/chanlinear.go checks that the time to dequeue a select's waiter from a channel
// does not grow with the number of waiters, by comparing timings; timings are not asserted
// here. What remains: 1000 goroutines each selecting ten times between a shared channel
// nobody uses and their own, woken in turn through their own, all finish, none by the shared.
TEST_CASE("a thousand selects queued on one shared channel are each woken through their own",
          "[select][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(scaled(1000, 10));
  constexpr int messages = 10;
  std::atomic<int> from_shared{0};
  goro::wait_group finished;
  goro::run(
      [&] {
        goro::chan<bool> c;  // the shared channel
        std::vector<goro::chan<bool>> a;
        for (int i = 0; i < n; ++i) {
          goro::chan<bool> d;
          a.push_back(d);
          finished.add(1);
          goro::go([c, d, &from_shared, &finished] {
            for (int j = 0; j < messages; ++j) {
              if (goro::select(goro::on_recv(c), goro::on_recv(d)) == 0) from_shared.fetch_add(1);
            }
            finished.done();
          });
        }
        for (int i = 0; i < messages; ++i) {
          for (const goro::chan<bool>& d : a) d.send(true);
        }
        finished.wait();
      },
      goro::options{.workers = workers});
  CHECK(from_shared.load() == 0);
}

// A select that parks leaves a waiter on every case's channel, and when one case fires the
// others' waiters must be unlinked (pass 3). Left queued, they would pile up for as long as a
// loop runs on a channel that is never ready, or on the done() of a long-lived context: the
// classic Go loop over select { case <-ctx.Done(): ...; case v := <-work: ... }. Every select
// here parks (the sender waits for an acknowledgement before its next send, and the run has one
// worker), and the channels it passed over must end with empty queues.
TEST_CASE("selects that choose another case leave no waiter on the channels they passed over",
          "[select][leak]") {
  const long n = scaled(20000, 20);
  goro::options one;
  one.workers = 1;
  goro::run(
      [&] {
        goro::chan<int> never;        // nobody sends
        goro::chan<int> never_taken;  // nobody receives: an on_send case never chosen
        goro::chan<int> work;
        goro::chan<int> ack;
        const auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto queued = [](const auto& ch, bool senders) {
          goro::detail::channel_base* c = goro::detail::channel_access::get(ch);
          return !(senders ? c->sendq_ : c->recvq_).looks_empty();
        };
        long seen_parked = 0;  // sends that found main's select parked on `never`
        goro::go([&] {
          for (long i = 0; i < n; ++i) {
            if (queued(never, false)) ++seen_parked;
            work.send(static_cast<int>(i));
            ack.recv();
          }
          work.close();
        });
        long sum = 0;
        long received = 0;
        for (bool open = true; open;) {
          goro::select(goro::on_recv(never), goro::on_send(never_taken, 1),
                       goro::on_recv(ctx.done()), goro::on_recv(work, [&](std::optional<int> v) {
                         if (!v) {
                           open = false;
                           return;
                         }
                         sum += *v;
                         ++received;
                       }));
          if (open) ack.send(0);
        }
        CHECK(received == n);
        CHECK(sum == (n - 1) * n / 2);
        CHECK(seen_parked > 0);  // the loop exercised parked selects
        CHECK_FALSE(queued(never, false));
        CHECK_FALSE(queued(never_taken, true));
        CHECK_FALSE(queued(ctx.done(), false));
        CHECK_FALSE(queued(work, false));
        CHECK_FALSE(ctx.err());
      },
      one);
}

// Ports of Go 1.19's test/fixedbugs programs about select follow (tag [go]). Skipped: bug078 and
// bug312 (a select that once did not compile), bug347 (the line a nil dereference in a case is
// reported at), issue8336 (a case's nil dereference must fault before a later case's channel
// expression runs: C++ leaves the order of function arguments unspecified, and a null pointer
// dereference is undefined, not a panic), issue48289 (each select case's variable is a new one,
// a rule of Go's closures), issue19201 and issue43292 (code generation around a case's body and
// its assignment to an interface variable).

// Go's test/fixedbugs/bug225.go: a select with a default received from an empty channel, or
// took the default beside a full one.
TEST_CASE("a select with a default receives only from a channel that holds a value",
          "[select][default][go]") {
  goro::chan<bool> c(1);
  CHECK(goro::select(goro::on_recv(c), goro::on_default()) == 1);  // "recv should not"
  c.send(true);
  CHECK(goro::select(goro::on_recv(c), goro::on_default()) == 0);  // "recv should"
}

// Go's test/fixedbugs/bug320.go: select stored the received value through a pointer to the
// case's variable taken before that variable was allocated, so the case saw garbage.
TEST_CASE("the value a select receives is the one sent, also when a goroutine copies it",
          "[select][go]") {
  goro::run([] {
    goro::chan<int> c(1);
    goro::chan<int> dummy;
    int v = 0x12345678;
    for (int i = 0; i < 10; ++i) {
      v += 0x1020304;
      c.send(v);
      const std::size_t chosen = goro::select(goro::on_recv(c,
                                                            [&v](std::optional<int> t) {
                                                              goro::go([t] { (void)t; });  // f(t)
                                                              CHECK(t == v);  // "wrong values"
                                                            }),
                                              goro::on_send(dummy, 1));
      CHECK(chosen == 0);
    }
  });
}

// Go's test/fixedbugs/issue16870.go, its channel receives: `v, ok = <-c` as a plain receive, as
// a select's only case, beside a default and beside a case that never fires, gave the wrong ok.
TEST_CASE("receives with ok, plain and in selects of every shape, give the value and then closed",
          "[select][chan][close][go]") {
  goro::chan<int> c(1);
  goro::chan<int> c2;
  std::optional<int> got;
  const auto into_got = [&got](std::optional<int> v) { got = v; };
  c.send(42);
  CHECK(c.recv() == 42);  // i, ok = <-c
  c.send(42);
  CHECK(c.recv().has_value());  // _, ok = <-c
  c.send(42);
  got.reset();
  goro::select(goro::on_recv(c, into_got));  // select { case i, ok = <-c: }
  CHECK(got == 42);
  c.send(42);
  got.reset();
  CHECK(goro::select(goro::on_recv(c, into_got), goro::on_default()) == 0);
  CHECK(got == 42);
  c.send(42);
  got.reset();
  CHECK(goro::select(goro::on_recv(c, into_got), goro::on_recv(c2)) == 0);
  CHECK(got == 42);
  c.close();
  CHECK(c.recv() == std::nullopt);  // i == 0, !ok
  CHECK(c.recv() == std::nullopt);
  got = 0;
  goro::select(goro::on_recv(c, into_got));
  CHECK(got == std::nullopt);
}

// Go's test/fixedbugs/issue43111.go: a select whose send case's value expression closed the
// channel of an earlier receive case and set its variable to nil read the variable again, found
// nil and blocked forever. Go evaluates every case's channel and value once, in source order,
// before it selects. C++ leaves the order of a call's arguments unspecified, so the port does
// what Go's compiler does: evaluates them into locals, in Go's order, then selects. (Written as
// one call, select(on_recv(ch), on_send(nilch, f())), it would block forever where f() runs
// first, and read a freed channel where on_recv(ch) runs first: a case made from a named handle
// keeps no reference to its channel. Go's five forms of the receive case differ only in what
// they assign.)
TEST_CASE("a select receives from a channel a later case's value closed and dropped",
          "[select][close][nil][go]") {
  goro::chan<int> nilch = nullptr;
  goro::chan<int> ch;
  int x = 0;
  const auto f = [&ch] {
    ch.close();
    ch = nullptr;
    return 0;
  };
  const auto g = [&ch, &x] {
    ch = nullptr;
    x = 0;
    return 0;
  };
  for (int form = 0; form < 5; ++form) {
    ch = goro::chan<int>();
    const goro::chan<int> received_from = ch;  // <-ch
    const int sent = f();                      // nilch <- f()
    std::optional<int> v = 1;
    const auto chosen =
        goro::select(goro::on_recv(received_from, [&v](std::optional<int> got) { v = got; }),
                     goro::on_send(nilch, sent));
    CHECK(chosen == 0);
    CHECK(v == std::nullopt);  // v, ok = 0, false
  }
  goro::chan<int> ch1(1);
  ch = ch1;
  x = 42;
  const goro::chan<int> sent_to = ch;  // ch <- x
  const int sent = x;
  const int nil_sent = g();  // nilch <- g()
  CHECK(goro::select(goro::on_send(sent_to, sent), goro::on_send(nilch, nil_sent)) == 0);
  CHECK(ch1.recv() == 42);
}

// Go's test/fixedbugs/issue4313.go: a select sent the value its send case's variable had after a
// later case's channel expression changed it. As for issue43111, the cases' operands are
// evaluated into locals in Go's order. (Written as one call, select(on_send(c, x),
// on_recv(makec(&x))) sends 42 in either order: on_send refers to an lvalue and reads it only
// when its case fires, after every argument has been evaluated.)
TEST_CASE("a select sends the value its send case had before later cases were evaluated",
          "[select][go]") {
  goro::chan<int> c(1);
  int x = 0;
  const auto makec = [](int* px) {
    *px = 42;
    return goro::chan<bool>();
  };
  const int sent = x;                       // c <- x: should see x = 0
  const goro::chan<bool> made = makec(&x);  // <-makec(&x): evaluated only after
  goro::select(goro::on_send(c, sent), goro::on_recv(made));
  CHECK(c.recv() == 0);
}

// Go's test/fixedbugs/issue8347.go: `_, ok = <-c` in a select with a default left ok false
// before the channel was closed.
TEST_CASE("a select with a default sees ok turn false only once the channel is closed",
          "[select][close][default][go]") {
  goro::chan<bool> c(1);
  bool ok = true;
  int bugs = 0;
  for (int i = 0; i < 12; ++i) {
    goro::select(goro::on_recv(c,
                               [&](std::optional<bool> v) {
                                 ok = v.has_value();
                                 if (i < 10 && !ok) ++bugs;
                               }),
                 goro::on_default());
    if (i < 10 && !ok) ++bugs;
    if (i >= 10 && ok) c.close();
  }
  CHECK(bugs == 0);
  CHECK_FALSE(ok);
}

namespace issue9110 {

// waiter: Go's sync.Cond with its Mutex, and the broadcast it waits for. Go orders the waits
// before the broadcasts by sleeping 1 ms; a predicate keeps a late waiter from waiting forever.
struct waiter {
  goro::mutex mu;
  goro::condition_variable cond;
  bool broadcast = false;  // guarded by mu

  void wait() {
    std::unique_lock lock(mu);
    cond.wait(lock, [this] { return broadcast; });
  }
  void broadcast_all() {
    {
      std::lock_guard lock(mu);
      broadcast = true;
    }
    cond.notify_all();
  }
};

}  // namespace issue9110

// Go's test/fixedbugs/issue9110.go: selects with three cases on one channel, woken by its close,
// interleaved with goroutines waiting on conds, leaked the runtime's waiter records (Go counts
// heap objects). Here every goroutine that was let go must have exited; the last cond's waiter,
// which Go never releases, is stopped when main returns.
TEST_CASE("selects of three cases on one channel woken by close, beside cond waiters, all end",
          "[select][close][sync][go]") {
  using issue9110::waiter;
  const unsigned workers = GENERATE(1u, 2u);
  std::size_t live_at_end = 0;
  goro::run(
      [&] {
        std::function<void()> release = [] {};
        for (int i = 0; i < 20; ++i) {
          goro::chan<int> c;
          for (int j = 0; j < 10; ++j) {
            goro::go([c] { goro::select(goro::on_recv(c), goro::on_recv(c), goro::on_recv(c)); });
          }
          goro::sleep_for(1ms);
          release();
          c.close();  // let select put its waiters into the cache
          goro::sleep_for(1ms);
          auto cond1 = std::make_shared<waiter>();  // pick up top waiter
          goro::go([cond1] { cond1->wait(); });
          goro::sleep_for(1ms);
          auto cond2 = std::make_shared<waiter>();  // pick up next waiter
          goro::go([cond2] { cond2->wait(); });
          goro::sleep_for(1ms);
          cond1->broadcast_all();  // put top waiter back
          goro::sleep_for(1ms);
          release = [cond2] {  // release cond2 after select has gotten to run
            cond2->broadcast_all();
            goro::sleep_for(1ms);
          };
        }
        live_at_end = goro_test::live_goroutines_when(2);  // main and the last cond2's waiter
      },
      goro::options{.workers = workers});
  CHECK(live_at_end == 2);
}

// --- From the audit of types and call forms at the edges of the API ([audit-types]) ---------

namespace audit_types {

// on_send_accepts: whether on_send(ch, v) compiles for a channel handle Ch and a value V.
template <class Ch, class V>
concept on_send_accepts = requires(const Ch& ch, V&& v) {
  goro::on_send(ch, std::forward<V>(v));
};

template <class Ch>
concept has_send = requires(const Ch& ch) {
  ch.send(1);
};
template <class Ch>
concept has_recv = requires(const Ch& ch) {
  ch.recv();
};

// two_ways: made from an int only explicitly, from a long implicitly.
struct two_ways {
  int how;
  explicit two_ways(int) : how(1) {}
  two_ways(long) : how(2) {}  // NOLINT(google-explicit-constructor)
};

}  // namespace audit_types

// Go's `case ch <- v` needs v assignable to the element type, as a plain send does: on_send
// converted with a static_cast, so explicit constructors counted too, and a raw pointer sent on
// a channel of unique_ptr was adopted by it.
TEST_CASE("on_send converts its value only implicitly, as a plain send does",
          "[select][send][audit-types]") {
  using audit_types::on_send_accepts;
  static_assert(!on_send_accepts<goro::chan<std::unique_ptr<int>>, int*>);
  static_assert(!on_send_accepts<goro::chan<std::vector<int>>, int>);
  static_assert(!on_send_accepts<goro::send_chan<std::chrono::seconds>, int>);
  static_assert(!on_send_accepts<goro::chan<std::string>, int>);
  static_assert(on_send_accepts<goro::chan<std::string>, const char(&)[4]>);
  static_assert(on_send_accepts<goro::chan<long>, int>);
  static_assert(on_send_accepts<goro::chan<std::unique_ptr<int>>, std::unique_ptr<int>>);
  static_assert(!on_send_accepts<goro::chan<std::unique_ptr<int>>, std::unique_ptr<int>&>);
  static_assert(!on_send_accepts<goro::recv_chan<int>, int>);  // no send on a receive-only view
  static_assert(!audit_types::has_send<goro::recv_chan<int>>);
  static_assert(!audit_types::has_recv<goro::send_chan<int>>);
  static_assert(audit_types::has_send<goro::chan<int>> && audit_types::has_recv<goro::chan<int>>);

  goro::chan<audit_types::two_ways> ch(2);
  ch.send(3);  // a plain send takes the implicit constructor: int converts to long
  CHECK(goro::select(goro::on_send(ch, 4)) == 0);
  CHECK(ch.recv()->how == 2);
  CHECK(ch.recv()->how == 2);  // on_send chose the constructor a plain send chooses
  goro::chan<std::string> text(1);
  CHECK(goro::select(goro::on_send(text, "abc"), goro::on_default()) == 0);
  CHECK(text.recv() == "abc");
}

namespace audit_types {

// job: a value whose member function a receive case may name as its callback.
struct job {
  int id;
  std::atomic<int>* ran;
  void run() const { ran->fetch_add(id); }
};

}  // namespace audit_types

// on_recv admits any callable invocable with std::optional<T> (API 3), which std::invoke says a
// pointer to a member of T is: the case called it as callback(v), which does not compile.
TEST_CASE("a receive callback may be a pointer to a member function of the element type",
          "[select][audit-types]") {
  std::atomic<int> ran{0};
  goro::chan<audit_types::job> jobs(2);
  jobs.send(audit_types::job{5, &ran});
  CHECK(goro::select(goro::on_recv(jobs, &audit_types::job::run)) == 0);
  CHECK(ran == 5);
  goro::run([&] {
    std::atomic<int>* counter = &ran;
    goro::go([jobs, counter] { jobs.send(audit_types::job{7, counter}); });
    CHECK(goro::select(goro::on_recv(jobs, &audit_types::job::run)) == 0);
  });
  CHECK(ran == 12);
  CHECK(jobs.size() == 0);
}

// A select and a select_set over channels of a type whose namespace declares greedy deleted
// overloads of operator& and of common names (tests/audit_types.hpp): the cases took the
// address of their std::optional<point> with a plain &, which that namespace's operator& takes
// over, and did not compile.
TEST_CASE("select and select_set over a type whose namespace hijacks operator& and common names",
          "[select][set][audit-types]") {
  using audit_hijack::point;
  goro::run([] {
    goro::chan<point> in;
    goro::chan<point> out;
    std::atomic<int> received{0};  // Catch's assertions are for main alone
    goro::go([in, out, &received] {
      in.send(point{1});
      received = out.recv()->x;
      in.close();
    });
    int got = 0;
    CHECK(goro::select(goro::on_recv(in, [&](std::optional<point> p) { got = p->x; })) == 0);
    CHECK(got == 1);
    point two{2};
    CHECK(goro::select(goro::on_send(out, two)) == 0);
    goro::select_set<point> set;
    set.add_recv(in);
    auto [index, value] = set.select();
    CHECK(index == 0);
    CHECK_FALSE(value.has_value());  // closed
    CHECK(received == 2);            // stored before the close
    goro::chan<point> room(1);
    goro::select_set<point> sends;
    sends.add_send(room, point{3});
    CHECK(sends.try_select().has_value());
    CHECK(room.recv()->x == 3);
  });
}

// Callbacks whose result is [[nodiscard]] (tests/audit_types.hpp): select dropped the result
// with a plain call, which -Wunused-result reports in the user's build (an error under -Werror,
// as the tests are built).
TEST_CASE("select callbacks may return a [[nodiscard]] type, whose result is dropped",
          "[select][audit-types]") {
  std::atomic<int> calls{0};
  const audit_types::makes_important cb{&calls};
  goro::chan<int> ch(1);
  CHECK(goro::select(goro::on_send(ch, 1, cb)) == 0);
  CHECK(goro::select(goro::on_recv(ch, cb)) == 0);
  CHECK(goro::select(goro::on_recv(ch), goro::on_default(cb)) == 1);
  CHECK(calls == 3);
}

namespace audit_types {

template <class Ch, class F>
concept on_recv_accepts = requires(const Ch& ch, F&& f) {
  goro::on_recv(ch, std::forward<F>(f));
};
template <class Ch, class F>
concept on_send_with_callback_accepts = requires(const Ch& ch, F&& f) {
  goro::on_send(ch, 1, std::forward<F>(f));
};
template <class F>
concept on_default_accepts = requires(F&& f) {
  goro::on_default(std::forward<F>(f));
};

// overloaded: a function object with one overload per parameter form; records which ran.
struct overloaded {
  int* which;
  void operator()(std::optional<int>&&) const { *which = 1; }
  void operator()(const std::optional<int>&) const { *which = 2; }
};

}  // namespace audit_types

TEST_CASE("case constraints reject callbacks and channels of the wrong kind",
          "[select][audit-types]") {
  using namespace audit_types;
  using recv_int = goro::recv_chan<int>;
  using send_int = goro::send_chan<int>;
  static_assert(on_recv_accepts<recv_int, void (*)(std::optional<int>)>);
  static_assert(on_recv_accepts<recv_int, void (&)(const std::optional<int>&)>);
  static_assert(!on_recv_accepts<recv_int, void (*)(int)>);  // the value, not the optional
  static_assert(!on_recv_accepts<recv_int, void (*)(std::optional<int>&)>);  // an rvalue comes
  static_assert(!on_recv_accepts<recv_int, void (*)()>);
  static_assert(!on_recv_accepts<recv_int, void (*)(std::optional<std::string>)>);
  static_assert(!on_recv_accepts<send_int, void (*)(std::optional<int>)>);
  static_assert(!on_recv_accepts<recv_int, int>);
  static_assert(on_send_with_callback_accepts<send_int, void (*)()>);
  static_assert(!on_send_with_callback_accepts<send_int, void (*)(int)>);
  static_assert(!on_send_with_callback_accepts<recv_int, void (*)()>);
  static_assert(on_default_accepts<void (*)()>);
  static_assert(!on_default_accepts<void (*)(int)>);
  static_assert(!on_default_accepts<int>);
  // A callback only invocable as an rvalue is not accepted: a stored case calls it as an lvalue.
  struct rvalue_only {
    void operator()(std::optional<int>) && {}
  };
  static_assert(!on_recv_accepts<recv_int, rvalue_only>);
}

TEST_CASE("select callbacks of every parameter form get the value once, in the right overload",
          "[select][audit-types]") {
  goro::chan<int> ch(8);
  for (int i = 1; i <= 8; ++i) ch.send(i);
  int sum = 0;
  goro::select(goro::on_recv(ch, [&](std::optional<int> v) { sum += *v; }));
  goro::select(goro::on_recv(ch, [&](const std::optional<int>& v) { sum += *v; }));
  goro::select(goro::on_recv(ch, [&](std::optional<int>&& v) { sum += *std::move(v); }));
  goro::select(goro::on_recv(ch, [&](auto&& v) { sum += *v; }));
  goro::select(goro::on_recv(ch, [&](auto v) { sum += v.value(); }));
  goro::select(goro::on_recv(ch, [&](std::optional<long> v) { sum += static_cast<int>(*v); }));
  int which = 0;
  goro::select(goro::on_recv(ch, audit_types::overloaded{&which}));
  CHECK(which == 1);  // the value comes as an rvalue
  // A mutable lambda in a case stored in a variable keeps its state from select to select.
  auto counting = goro::on_recv(
      ch, [count = 0, &sum](std::optional<int> v) mutable { sum += *v * 100 * ++count; });
  goro::select(counting);
  CHECK(sum == 1 + 2 + 3 + 4 + 5 + 6 + 800);
  ch.send(9);
  ch.send(10);
  goro::select(counting);
  goro::select(counting);
  CHECK(sum == 21 + 800 + 900 * 2 + 1000 * 3);
  // A function pointer and a function reference.
  static int seen = 0;
  struct free_functions {
    static void take(std::optional<int> v) { seen += *v; }
  };
  ch.send(11);
  ch.send(12);
  goro::select(goro::on_recv(ch, &free_functions::take));
  goro::select(goro::on_recv(ch, free_functions::take));
  CHECK(seen == 23);
  CHECK(ch.size() == 0);
}

TEST_CASE("stored cases are selected on again and again, in several selects",
          "[select][audit-types]") {
  goro::run([] {
    goro::chan<int> a;
    goro::chan<int> b;
    goro::chan<std::string> out(1);
    int from_a = 0;
    int from_b = 0;
    int sent = 0;
    auto take_a = goro::on_recv(a, [&](std::optional<int> v) { from_a += *v; });
    auto take_b = goro::on_recv(b, [&](std::optional<int> v) { from_b += *v; });
    const std::string text = "again";
    auto give = goro::on_send(out, text, [&] { ++sent; });  // refers to text: copied each time
    goro::go([a, b] {
      for (int i = 1; i <= 50; ++i) {
        a.send(i);
        b.send(i);
      }
    });
    for (int i = 0; i < 100; ++i) {
      if (i % 2 == 0) {
        goro::select(take_a, take_b);
      } else {
        goro::select(take_b, take_a);
      }
      if (goro::select(give, goro::on_default()) == 0) CHECK(out.recv() == "again");
    }
    CHECK(from_a == 50 * 51 / 2);
    CHECK(from_b == 50 * 51 / 2);
    CHECK(sent == 100);
    CHECK(text == "again");
  });
}

TEST_CASE("select and select_set carry over-aligned, large, move-only and optional values",
          "[select][set][audit-types]") {
  using audit_types::aligned;
  using audit_types::counted;
  goro::run([] {
    goro::chan<aligned<256>> al;
    goro::chan<std::array<char, 16 * 1024>> large;
    goro::chan<std::unique_ptr<counted>> owned;
    goro::chan<std::optional<int>> maybe(1);
    std::atomic<bool> moved_out{false};  // Catch's assertions are for main alone
    goro::go([=, &moved_out] {
      goro::select(goro::on_send(al, aligned<256>(1)));
      std::array<char, 16 * 1024> block{};
      block.back() = 'z';
      goro::select(goro::on_send(large, block));
      auto p = std::make_unique<counted>(3);
      goro::select(goro::on_send(owned, std::move(p)));
      moved_out = p == nullptr;  // sent: moved
      goro::select(goro::on_send(maybe, std::nullopt));
    });
    int got = 0;
    goro::select(goro::on_recv(al, [&](std::optional<aligned<256>> v) {
      v->check();
      got += v->id;
    }));
    goro::select(goro::on_recv(large, [&](auto v) { got += v->back() == 'z' ? 10 : 0; }));
    goro::select_set<std::unique_ptr<counted>> set;
    set.add_recv(owned);
    auto r = set.select();
    got += (*r.value)->id * 100;
    goro::select(goro::on_recv(maybe, [&](std::optional<std::optional<int>> v) {
      if (v.has_value() && !v->has_value()) got += 1000;
    }));
    CHECK(got == 1311);
    CHECK(moved_out);  // stored before the last send
  });
  CHECK(audit_types::counted::live == 0);
  CHECK(aligned<256>::misaligned == 0);
}

// docs/go-to-goro.md, section "Select": every row's spelling, as written there. Not checked:
// that on_default may appear "at most one" time, a rule the compiler enforces (a select with two
// does not compile, which a test program cannot show and still build).
namespace go_to_goro {
struct counted {  // counts its copies and moves, to see whether a send case consumed its value
  int value = 0;
  int* copies;
  int* moves;
  counted(int v, int* c, int* m) : value(v), copies(c), moves(m) {}
  counted(const counted& other) : value(other.value), copies(other.copies), moves(other.moves) {
    ++*copies;
  }
  counted(counted&& other) noexcept : value(other.value), copies(other.copies), moves(other.moves) {
    ++*moves;
  }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) = default;
};
}  // namespace go_to_goro

TEST_CASE("go-to-goro: select with receive, send and default cases", "[select][go-to-goro]") {
  using namespace std::chrono_literals;
  using T = int;
  goro::run([] {
    // select { case v, ok := <-in: ...; case out <- x: ...; }: only the receive is ready.
    goro::chan<T> in(1), out;
    in.send(4);
    T x = 9;
    std::optional<T> got;
    bool sent = false;
    goro::select(goro::on_recv(in, [&](std::optional<T> v) { got = v; }),
                 goro::on_send(out, x, [&] { sent = true; }));
    CHECK(got == 4);
    CHECK_FALSE(sent);
    // Only the send is ready (a receiver waits on out); a closed `in` would be ready, so it is
    // left open and empty.
    goro::chan<T> received(1);
    goro::go([out, received] { received.send(*out.recv()); });
    goro_test::dump_when({"[chan receive]:"});
    got.reset();
    goro::select(goro::on_recv(in, [&](std::optional<T> v) { got = v; }),
                 goro::on_send(out, x, [&] { sent = true; }));
    CHECK(sent);
    CHECK_FALSE(got);
    CHECK(*received.recv() == 9);
    // A closed channel's receive case gets nullopt (ok == false).
    in.close();
    bool closed_seen = false;
    goro::select(goro::on_recv(in, [&](std::optional<T> v) { closed_seen = !v; }),
                 goro::on_send(out, x, [&] { sent = true; }));
    CHECK(closed_seen);

    // select { ...; default: ... }: the default runs when no case is ready.
    goro::chan<T> empty;
    bool defaulted = false;
    goro::select(goro::on_recv(empty), goro::on_default([&] { defaulted = true; }));
    CHECK(defaulted);

    // case <-ch: (value unused), and case out <- x: (nothing to do after).
    goro::chan<T> ch(1);
    ch.send(1);
    CHECK(goro::select(goro::on_recv(ch), goro::on_default()) == 0);
    CHECK(ch.size() == 0);
    goro::chan<T> out2(1);
    CHECK(goro::select(goro::on_send(out2, x), goro::on_default()) == 0);
    CHECK(*out2.recv() == 9);

    // switch on which case ran: the index in argument order.
    goro::chan<T> second(1);
    second.send(2);
    int which = -1;
    switch (goro::select(goro::on_recv(empty), goro::on_recv(second))) {
      case 0: which = 0; break;
      case 1: which = 1; break;
    }
    CHECK(which == 1);
  });
}

TEST_CASE("go-to-goro: select on time.After, ctx.Done(), nil channels and nothing",
          "[select][go-to-goro]") {
  using namespace std::chrono_literals;
  goro::run([] {
    // case <-time.After(time.Second): fires after a second, not before.
    goro::chan<int> never;
    bool timed_out = false;
    auto start = std::chrono::steady_clock::now();
    goro::select(goro::on_recv(never),
                 goro::on_recv(goro::after(1s), [&](auto) { timed_out = true; }));
    CHECK(timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 1s);

    // case <-ctx.Done(): fires when the context is cancelled.
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::go([cancel = cancel] {
      goro_test::dump_when({"[select]:"});
      cancel();
    });
    bool done = false;
    goro::select(goro::on_recv(never), goro::on_recv(ctx.done(), [&](auto) { done = true; }));
    CHECK(done);

    // A case whose channel is set to nil never fires: not even when the channel it named had a
    // value ready.
    goro::chan<int> ch(1);
    ch.send(1);
    goro::chan<int> disabled = ch;
    disabled = nullptr;
    bool fired = false, defaulted = false;
    goro::select(goro::on_recv(disabled, [&](std::optional<int>) { fired = true; }),
                 goro::on_default([&] { defaulted = true; }));
    CHECK_FALSE(fired);
    CHECK(defaulted);
  });
  // select {} blocks forever: with nothing else, the run is deadlocked.
  CHECK_THROWS_AS(goro::run([] { goro::select(); }), goro::deadlock_error);
}

TEST_CASE("go-to-goro: select_set, the random choice and the send value's copies",
          "[select][go-to-goro]") {
  using T = int;
  goro::run([] {
    // reflect.Select(cases): one send case and one receive case of one channel.
    goro::chan<T> ch(1);
    T v = 5;
    goro::select_set<T> set;
    set.add_recv(ch);
    set.add_send(ch, v);
    auto [index, value] = set.select();  // empty: only the send is ready
    CHECK(index == 1);
    CHECK_FALSE(value);
    auto [index2, value2] = set.select();  // the send is spent; the receive gets its value
    CHECK(index2 == 0);
    CHECK(value2 == 5);
    CHECK_FALSE(set.try_select());  // nothing ready: try_select does not block

    // Several ready cases: each is chosen (uniformly at random: about 500 of 1000 each; fewer
    // than 350 has probability below 1e-20).
    goro::chan<T> a(1), b(1);
    int chose_a = 0;
    for (int i = 0; i < 1000; ++i) {
      a.try_send(1);
      b.try_send(1);
      if (goro::select(goro::on_recv(a), goro::on_recv(b)) == 0) ++chose_a;
    }
    CHECK(chose_a > 350);
    CHECK(chose_a < 650);

    // The value of an on_send case is copied (an lvalue) or moved (an rvalue) only when the case
    // is chosen.
    int copies = 0, moves = 0;
    go_to_goro::counted item(3, &copies, &moves);
    goro::chan<go_to_goro::counted> full(1);
    full.send(go_to_goro::counted(0, &copies, &moves));
    copies = moves = 0;
    goro::select(goro::on_send(full, item), goro::on_default());
    goro::select(goro::on_send(full, std::move(item)), goro::on_default());
    CHECK(copies == 0);
    CHECK(moves == 0);
    goro::chan<go_to_goro::counted> room(2);
    goro::select(goro::on_send(room, item));
    CHECK(copies == 1);
    goro::select(goro::on_send(room, std::move(item)));
    CHECK(copies == 1);  // the rvalue is moved, not copied
    CHECK(moves >= 1);
    CHECK(room.size() == 2);
  });
}

// docs/go-to-goro.md, section "Semantic differences", "A select's cases refer to what they
// name": on_send(out, x) sends what x holds when the case fires, not when select starts.
TEST_CASE("go-to-goro: a send case sends what its variable holds when it fires",
          "[select][go-to-goro]") {
  goro::run([] {
    goro::chan<int> out;
    int x = 1;
    goro::chan<int> received(1);
    goro::go([out, received, &x] {
      goro_test::dump_when({"[select]:"});
      x = 2;  // while main waits in select; the receive below pairs with its send case
      received.send(*out.recv());
    });
    goro::select(goro::on_send(out, x));
    CHECK(*received.recv() == 2);
  });
}

// ---------------------------------------------------------------------------------------------
// Go's memory model (go.dev/ref/mem), channel rules through select and select_set. Each case
// shares plain, non-atomic data between goroutines and plain threads through nothing but the
// channel operation a select performs: a missing edge is a wrong value here and a data race under
// ThreadSanitizer.

namespace {

// mm_send: sends v on ch the way `way` names: 0 a plain send, 1 a select whose other case never
// fires, 2 a select_set.
void mm_send(const goro::chan<int>& ch, const goro::chan<int>& idle, int v, int way) {
  if (way == 0) {
    ch.send(v);
  } else if (way == 1) {
    goro::select(goro::on_send(ch, v), goro::on_recv(idle));
  } else {
    goro::select_set<int> set;
    set.add_recv(idle);
    set.add_send(ch, v);
    set.select();
  }
}

}  // namespace

// "A send on a channel is synchronized before the completion of the corresponding receive from
// that channel", with a select on one side or both. The sender writes a slot, then sends its
// index; the receiver reads the slot when its select returns (and in the select's callback).
TEST_CASE("memory model: a send happens before its receive completes, through select",
          "[select][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int capacity = GENERATE(0, 2);
  const int rounds = static_cast<int>(goro_test::scaled(600, 20));
  // way: 0 send -> select receive, 1 select send -> recv, 2 select_set both sides,
  // 3 select send -> select with a default, polled.
  for (int way = 0; way < 4; ++way) {
    for (int threads = 0; threads < 3; ++threads) {  // 0: none, 1: the sender, 2: the receiver
      std::vector<goro_test::payload> slots(static_cast<std::size_t>(rounds));
      int received = 0;
      int wrong = 0;
      goro::run(
          [&] {
            goro::chan<int> ch(capacity);
            goro::chan<int> idle;  // never ready
            goro_test::parties parties;
            parties.start(threads == 1, [&slots, ch, idle, way] {
              for (int i = 0; i < rounds; ++i) {
                slots[static_cast<std::size_t>(i)].write(i);
                mm_send(ch, idle, i, way == 0 ? 0 : way == 2 ? 2 : 1);
              }
            });
            parties.start(threads == 2, [&slots, &received, &wrong, ch, idle, way] {
              goro::select_set<int> set;
              set.add_recv(idle);
              set.add_recv(ch);
              for (int i = 0; i < rounds;) {
                std::optional<int> got;
                if (way == 1) {
                  got = ch.recv();
                } else if (way == 2) {
                  got = set.select().value;
                } else {
                  bool in_callback_ok = false;
                  auto on_value = [&](std::optional<int> v) {
                    got = v;
                    in_callback_ok = v && slots[static_cast<std::size_t>(*v)].holds(*v);
                  };
                  if (way == 0) {
                    goro::select(goro::on_recv(idle), goro::on_recv(ch, on_value));
                  } else if (goro::select(goro::on_recv(ch, on_value), goro::on_default()) == 1) {
                    goro::yield();
                    continue;
                  }
                  if (!in_callback_ok) ++wrong;
                }
                if (!got || *got != i || !slots[static_cast<std::size_t>(i)].holds(i)) ++wrong;
                ++received;
                ++i;
              }
            });
            parties.wait();
          },
          goro_test::memory_model_options(workers));
      CHECK(received == rounds);
      CHECK(wrong == 0);
    }
  }
}

// "The closing of a channel is synchronized before a receive that returns because the channel is
// closed", the receive being a select's receive case (callback given nullopt) or a select_set's
// receive case (result value nullopt).
TEST_CASE("memory model: a close happens before a select receive that returns because of it",
          "[select][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(300, 10));
  int wrong = 0;
  int seen = 0;
  for (int round = 0; round < rounds; ++round) {
    goro_test::payload shared;
    std::array<int, 4> saw{};
    goro::run(
        [&] {
          goro::chan<int> ch;
          goro::chan<int> idle;
          goro_test::parties parties;
          for (std::size_t r = 0; r < saw.size(); ++r) {
            parties.start((r + static_cast<std::size_t>(round)) % 2 == 0, [&shared, &saw, ch, idle,
                                                                           r, round] {
              bool closed = false;
              if (r % 2 == 0) {
                goro::select(goro::on_recv(idle), goro::on_recv(ch, [&](std::optional<int> v) {
                               closed = !v;
                               if (closed && !shared.holds(round)) saw[r] = -1;
                             }));
              } else {
                goro::select_set<int> set;
                set.add_recv(idle);
                set.add_recv(ch);
                auto result = set.select();
                closed = result.index == 1 && !result.value;
              }
              if (saw[r] == 0) saw[r] = closed && shared.holds(round) ? 1 : -1;
            });
          }
          parties.start(round % 3 == 0, [&shared, ch, round] {
            shared.write(round);
            ch.close();
          });
          parties.wait();
        },
        goro_test::memory_model_options(workers));
    for (int s : saw) {
      if (s != 1) ++wrong;
      ++seen;
    }
  }
  CHECK(seen == rounds * 4);
  CHECK(wrong == 0);
}

// "A receive from an unbuffered channel is synchronized before the completion of the
// corresponding send on that channel", with select on the receiving side, the sending side or
// both: the receiver writes a slot before each receive, the sender reads it once its select (or
// send) returns.
TEST_CASE("memory model: an unbuffered receive happens before its send completes, through select",
          "[select][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(600, 20));
  for (int way = 0; way < 3;
       ++way) {  // 0: select receive, 1: select send, 2: select_set both sides
    for (int threads = 0; threads < 3; ++threads) {
      std::vector<goro_test::payload> slots(static_cast<std::size_t>(rounds));
      int wrong = 0;
      int sent = 0;
      goro::run(
          [&] {
            goro::chan<int> ch;
            goro::chan<int> idle;
            goro_test::parties parties;
            parties.start(threads == 1, [&slots, &wrong, &sent, ch, idle, way] {
              for (int i = 0; i < rounds; ++i) {
                mm_send(ch, idle, i, way == 0 ? 0 : way);
                if (!slots[static_cast<std::size_t>(i)].holds(i)) ++wrong;
                ++sent;
              }
            });
            parties.start(threads == 2, [&slots, ch, idle, way] {
              goro::select_set<int> set;
              set.add_recv(idle);
              set.add_recv(ch);
              for (int i = 0; i < rounds; ++i) {
                slots[static_cast<std::size_t>(i)].write(i);
                if (way == 0) {
                  goro::select(goro::on_recv(idle), goro::on_recv(ch));
                } else if (way == 1) {
                  ch.recv();
                } else {
                  set.select();
                }
              }
            });
            parties.wait();
          },
          goro_test::memory_model_options(workers));
      CHECK(sent == rounds);
      CHECK(wrong == 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Clauses of API section 3 that no case above checks directly ([contract]); the traceability
// table is docs/contract-coverage/2-3-channels-select.md.

// API 3: "The value of an on_send case that is not chosen is not consumed", also when the select
// had to wait and another case woke it: the send cases were queued on their channels meanwhile.
TEST_CASE("a select that waits and then fires another case does not consume a send case's value",
          "[select][send][contract]") {
  goro::run([] {
    goro::chan<std::unique_ptr<int>> owners;  // unbuffered, nobody receives: never ready
    goro::chan<std::string> texts;            // the same
    goro::chan<int> wake;
    goro::go([wake] {
      goro_test::dump_when({"[select]:"});  // main waits in its select
      wake.send(1);
    });
    auto owned = std::make_unique<int>(7);
    std::string text = "kept";
    std::optional<int> got;
    const std::size_t index =
        goro::select(goro::on_send(owners, std::move(owned)), goro::on_send(texts, text),
                     goro::on_recv(wake, [&](std::optional<int> v) { got = v; }));
    CHECK(index == 2);
    CHECK(got == 1);
    REQUIRE(owned != nullptr);  // the rvalue was not moved from
    CHECK(*owned == 7);
    CHECK(text == "kept");
    CHECK_FALSE(owners.try_recv().has_value());  // and no send is left queued
    CHECK_FALSE(texts.try_recv().has_value());
  });
}

// API 3: a select_set follows select's rules and "a send case whose value was sent never fires
// again": a send case passed over by a select that waited keeps its value, and sends it later.
TEST_CASE("a select_set send case passed over by a select that waited still sends its value",
          "[select][set][contract]") {
  goro::run([] {
    goro::chan<std::unique_ptr<int>> out;  // unbuffered: ready only once a receiver waits
    goro::chan<std::unique_ptr<int>> wake;
    goro::select_set<std::unique_ptr<int>> set;
    const std::size_t send_index = set.add_send(out, std::make_unique<int>(7));
    const std::size_t recv_index = set.add_recv(wake);
    goro::go([wake] {
      goro_test::dump_when({"[select]:"});
      wake.send(std::make_unique<int>(1));
    });
    auto first = set.select();
    CHECK(first.index == recv_index);
    REQUIRE(first.value.has_value());
    CHECK(**first.value == 1);
    CHECK_FALSE(set.try_select().has_value());  // the send case is armed, but nobody receives

    goro::chan<int> received(1);
    goro::go([out, received] { received.send(**out.recv()); });
    goro_test::dump_when({"[chan receive]:"});
    auto second = set.select();
    CHECK(second.index == send_index);
    CHECK_FALSE(second.value.has_value());
    CHECK(received.recv() == 7);                // the value it was given, intact
    CHECK_FALSE(set.try_select().has_value());  // sent: it never fires again
  });
}

// API 3: "When several cases are ready one is chosen uniformly at random", whatever their kinds:
// a ready send case and a ready receive case, in select and in select_set. Each count has a
// standard deviation of about 71 in 20000 rounds; the bounds are 14 deviations away.
TEST_CASE("a ready send case and a ready receive case are each chosen about half the time",
          "[select][set][fairness][contract]") {
  constexpr int rounds = 20000;
  goro::chan<int> in(1);
  goro::chan<int> out(1);
  int sends = 0;
  for (int i = 0; i < rounds; ++i) {
    (void)in.try_send(i);  // a value waits in `in`: the receive case is ready
    (void)out.try_recv();  // `out` has room: the send case is ready
    if (goro::select(goro::on_send(out, i), goro::on_recv(in)) == 0) ++sends;
  }
  CHECK(sends > rounds * 45 / 100);
  CHECK(sends < rounds * 55 / 100);

  int set_sends = 0;
  for (int i = 0; i < rounds; ++i) {
    (void)in.try_send(i);
    (void)out.try_recv();
    goro::select_set<int> set;  // a new set each round: a sent case never fires again
    set.add_recv(in);
    set.add_send(out, i);
    if (set.select().index == 1) ++set_sends;
  }
  CHECK(set_sends > rounds * 45 / 100);
  CHECK(set_sends < rounds * 55 / 100);
}
