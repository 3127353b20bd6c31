// Tests of <goro/select.hpp>: select over heterogeneous cases, defaults, nil channels, fairness,
// closed channels, select_set, and stress with exact accounting.
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/debug.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

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
  CHECK_THROWS_AS(goro::select(goro::on_send(closed, 1), goro::on_default([&] { defaulted = true; })),
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
            case 1:
              ++ones;
              break;
            case 2:
              ++twos;
              break;
            default:
              ++others;
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
