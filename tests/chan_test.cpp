// Tests of <goro/chan.hpp>: channels, their directional views, close and nil semantics, and
// stress with exact accounting of every value.
#include <goro/chan.hpp>
#include <goro/debug.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
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

}  // namespace

TEST_CASE("an unbuffered send completes only when a receiver takes the value", "[chan]") {
  goro::run([] {
    goro::chan<int> ch;
    std::atomic<bool> send_returned{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      ch.send(1);
      send_returned.store(true);
      wg.done();
    });
    goro::sleep_for(20ms);
    CHECK_FALSE(send_returned.load());
    CHECK(ch.recv() == 1);
    wg.wait();
    CHECK(send_returned.load());
  });
}

TEST_CASE("an unbuffered hand-off makes the sender's writes visible to the receiver", "[chan]") {
  const long n = scaled(10000, 10);
  long mismatches = 0;
  goro::run(
      [&] {
        goro::chan<long*> ch;
        goro::go([=] {
          for (long i = 0; i < n; ++i) {
            auto* box = new long(0);
            *box = i;  // a plain write, published only by the channel
            ch.send(box);
          }
        });
        for (long i = 0; i < n; ++i) {
          long* box = *ch.recv();
          if (*box != i) ++mismatches;
          delete box;
        }
      },
      with_workers(4));
  CHECK(mismatches == 0);
}

TEST_CASE("a buffered channel is FIFO and blocks only when full", "[chan]") {
  goro::run([] {
    goro::chan<int> ch(3);
    CHECK(ch.capacity() == 3);
    ch.send(1);
    ch.send(2);
    ch.send(3);
    CHECK(ch.size() == 3);
    std::atomic<bool> fourth_sent{false};
    goro::go([&] {
      ch.send(4);
      fourth_sent.store(true);
    });
    goro::sleep_for(10ms);
    CHECK_FALSE(fourth_sent.load());  // full: the sender waits
    CHECK(ch.recv() == 1);            // ...and its value goes to the tail
    while (!fourth_sent.load()) goro::yield();
    CHECK(ch.recv() == 2);
    CHECK(ch.recv() == 3);
    CHECK(ch.recv() == 4);
    CHECK(ch.size() == 0);
  });
}

TEST_CASE("receivers drain a closed channel, then get nullopt", "[chan][close]") {
  goro::run([] {
    goro::chan<int> ch(4);
    ch.send(10);
    ch.send(20);
    ch.close();
    CHECK(ch.recv() == 10);
    CHECK(ch.recv() == 20);
    CHECK_FALSE(ch.recv().has_value());
    CHECK_FALSE(ch.recv().has_value());
    CHECK_FALSE(ch.try_recv().has_value());
  });
}

TEST_CASE("close wakes every blocked receiver with nullopt", "[chan][close]") {
  std::atomic<int> woke_empty{0};
  goro::run([&] {
    goro::chan<int> ch;
    goro::wait_group wg;
    for (int i = 0; i < 20; ++i) {
      wg.add(1);
      goro::go([&] {
        if (!ch.recv()) woke_empty.fetch_add(1);
        wg.done();
      });
    }
    goro::sleep_for(5ms);
    ch.close();
    wg.wait();
  });
  CHECK(woke_empty.load() == 20);
}

TEST_CASE("send on a closed channel throws channel_closed", "[chan][close]") {
  goro::chan<int> ch(1);
  ch.close();
  CHECK_THROWS_AS(ch.send(1), goro::channel_closed);
  CHECK_THROWS_WITH(ch.send(1), Catch::Contains("send on closed channel"));
  CHECK_THROWS_AS(ch.try_send(1), goro::channel_closed);
  goro::channel_closed* derived = nullptr;
  goro::error* base = derived;  // channel_closed is a goro::error
  (void)base;
}

TEST_CASE("a sender blocked on a channel that gets closed throws channel_closed", "[chan][close]") {
  std::atomic<int> threw{0};
  std::atomic<int> threw_while_waiting{0};
  goro::run([&] {
    goro::chan<int> ch;
    goro::wait_group wg;
    for (int i = 0; i < 10; ++i) {
      wg.add(1);
      goro::go([&, i] {
        try {
          ch.send(i);
        } catch (const goro::channel_closed& e) {
          threw.fetch_add(1);
          if (std::string(e.what()).find("closed while the send waited") != std::string::npos) {
            threw_while_waiting.fetch_add(1);
          }
        }
        wg.done();
      });
    }
    goro_test::dump_when({"[chan send]"});  // at least one is blocked
    ch.close();
    wg.wait();
  });
  CHECK(threw.load() == 10);
  CHECK(threw_while_waiting.load() > 0);
}

TEST_CASE("closing twice throws channel_closed and closing nil throws goro::error",
          "[chan][close][misuse]") {
  goro::chan<int> ch;
  ch.close();
  CHECK_THROWS_AS(ch.close(), goro::channel_closed);
  CHECK_THROWS_WITH(ch.close(), Catch::Contains("close of closed channel"));
  goro::chan<int> nil = nullptr;
  CHECK_THROWS_AS(nil.close(), goro::error);
  CHECK_THROWS_WITH(nil.close(), Catch::Contains("close of nil channel"));
  goro::send_chan<int> nil_send = nullptr;
  CHECK_THROWS_AS(nil_send.close(), goro::error);
}

TEST_CASE("a negative capacity throws and zero means unbuffered", "[chan][misuse]") {
  CHECK_THROWS_AS(goro::chan<int>(-1), goro::error);
  CHECK_THROWS_WITH(goro::chan<int>(-5), Catch::Contains("negative capacity -5"));
  goro::chan<int> zero(0);
  CHECK(zero.capacity() == 0);
  CHECK_FALSE(zero.is_nil());
  CHECK_FALSE(zero.try_send(1));  // unbuffered, nobody receiving
  goro::chan<int> big(std::size_t{1} << 10);
  CHECK(big.capacity() == 1024);
  // Go: "makechan: size out of range".
  CHECK_THROWS_WITH(goro::chan<int>(std::numeric_limits<std::size_t>::max() / 2),
                    Catch::Contains("capacity") && Catch::Contains("too large"));
}

namespace {
// counted_tag: an empty type whose objects are counted, so not one whose slots may share storage.
struct counted_tag {
  static inline int live = 0;
  counted_tag() { ++live; }
  counted_tag(const counted_tag&) { ++live; }
  ~counted_tag() { --live; }
};
}  // namespace

TEST_CASE("a channel of stateless values may have any capacity, as Go's chan struct{}",
          "[chan][buffer]") {
  // Go gives a channel of zero-size elements no buffer: make(chan struct{}, 1<<40) is fine.
  const std::size_t huge = std::size_t{1} << 40;
  goro::chan<std::monostate> tokens(huge);
  CHECK(tokens.capacity() == huge);
  for (int i = 0; i < 1000; ++i) REQUIRE(tokens.try_send(std::monostate{}));
  CHECK(tokens.size() == 1000);
  for (int i = 0; i < 600; ++i) REQUIRE(tokens.try_recv().has_value());
  CHECK(tokens.size() == 400);
  tokens.close();
  int drained = 0;
  for (std::monostate token : tokens) {
    static_cast<void>(token);
    ++drained;
  }
  CHECK(drained == 400);
  CHECK(goro::chan<std::monostate>(std::numeric_limits<std::size_t>::max()).capacity() ==
        std::numeric_limits<std::size_t>::max());

  // An empty type that does something when made or destroyed keeps a slot per value.
  {
    goro::chan<counted_tag> counted(3);
    for (int i = 0; i < 3; ++i) REQUIRE(counted.try_send(counted_tag{}));
    CHECK(counted_tag::live == 3);
    CHECK(counted.try_recv().has_value());
    CHECK(counted_tag::live == 2);
  }
  CHECK(counted_tag::live == 0);
  CHECK_THROWS_WITH(goro::chan<counted_tag>(std::numeric_limits<std::size_t>::max()),
                    Catch::Contains("too large"));
}

TEST_CASE("try_send never blocks and leaves the value untouched on failure", "[chan][try]") {
  goro::chan<std::unique_ptr<int>> ch(1);
  auto first = std::make_unique<int>(1);
  CHECK(ch.try_send(std::move(first)));
  CHECK(first == nullptr);  // taken
  auto second = std::make_unique<int>(2);
  CHECK_FALSE(ch.try_send(std::move(second)));
  REQUIRE(second != nullptr);  // untouched
  CHECK(*second == 2);
  goro::chan<std::string> strings(1);
  const std::string kept = "copy me";
  CHECK(strings.try_send(kept));
  CHECK(kept == "copy me");
  CHECK(strings.recv() == "copy me");
}

TEST_CASE("try_send hands a value to a blocked receiver", "[chan][try]") {
  goro::run([] {
    goro::chan<int> ch;
    std::optional<int> got;
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      got = ch.recv();
      wg.done();
    });
    while (!ch.try_send(5)) goro::yield();
    wg.wait();
    CHECK(got == 5);
  });
}

TEST_CASE("try_recv returns a ready value and nullopt otherwise", "[chan][try]") {
  goro::run([] {
    goro::chan<int> ch(2);
    CHECK_FALSE(ch.try_recv().has_value());
    ch.send(3);
    CHECK(ch.try_recv() == 3);
    goro::chan<int> unbuffered;
    goro::go([=] { unbuffered.send(9); });
    std::optional<int> v;
    while (!(v = unbuffered.try_recv())) goro::yield();  // takes from the blocked sender
    CHECK(v == 9);
  });
}

TEST_CASE("a nil channel blocks forever and never fires", "[chan][nil]") {
  std::atomic<int> unwound{0};
  std::string dump_text;
  goro::run([&] {
    goro::chan<int> nil = nullptr;
    CHECK(nil.is_nil());
    CHECK(nil.size() == 0);
    CHECK(nil.capacity() == 0);
    CHECK_FALSE(nil.try_send(1));
    CHECK_FALSE(nil.try_recv().has_value());
    struct guard {
      std::atomic<int>* n;
      ~guard() { n->fetch_add(1); }
    };
    goro::go([&] {
      guard g{&unwound};
      nil.send(1);
    });
    goro::go([&] {
      guard g{&unwound};
      nil.recv();
    });
    dump_text = goro_test::dump_when({"[chan send (nil chan)]:", "[chan receive (nil chan)]:"});
  });
  CHECK(unwound.load() == 2);  // stopped when main returned
  CHECK_THAT(dump_text, Catch::Contains("[chan send (nil chan)]:"));
  CHECK_THAT(dump_text, Catch::Contains("[chan receive (nil chan)]:"));
}

TEST_CASE("range-for receives until the channel is closed and drained", "[chan][range]") {
  std::vector<int> seen;
  goro::run([&] {
    goro::chan<int> ch(2);
    goro::go([=] {
      for (int i = 0; i < 100; ++i) ch.send(i);
      ch.close();
    });
    for (int v : ch) seen.push_back(v);
  });
  REQUIRE(seen.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("range-for works with move-only values and recv_chan", "[chan][range]") {
  int total = 0;
  goro::run([&] {
    goro::chan<std::unique_ptr<int>> ch;
    goro::go([=] {
      for (int i = 1; i <= 10; ++i) ch.send(std::make_unique<int>(i));
      ch.close();
    });
    goro::recv_chan<std::unique_ptr<int>> in = ch;
    for (std::unique_ptr<int> p : in) total += *p;
  });
  CHECK(total == 55);
}

// API 2 asks only that T be move-constructible: a type that cannot be assigned must work in
// every operation, range-for included.
TEST_CASE("range-for works with a type that can be moved but not assigned", "[chan][range]") {
  struct message {
    const int id;
  };
  static_assert(!std::is_move_assignable_v<message>);
  goro::chan<message> ch(4);
  for (int i = 1; i <= 4; ++i) ch.send(message{i});
  ch.close();
  int total = 0;
  for (message m : ch) total += m.id;
  CHECK(total == 10);
}

// Go's range evaluates the channel once: reassigning the variable in the body changes nothing.
TEST_CASE("range-for keeps its channel when the handle it began from is dropped", "[chan][range]") {
  goro::chan<int> ch(4);
  for (int i = 1; i <= 4; ++i) ch.send(i);
  ch.close();
  int received = 0;
  int total = 0;
  for (int v : ch) {
    ++received;
    total += v;
    ch = nullptr;  // the last handle: the loop's own reference keeps the channel
  }
  CHECK(received == 4);
  CHECK(total == 10);
}

namespace {
// no_address: a value whose operator& is deleted; goro must take addresses with std::addressof.
struct no_address {
  int id;
  no_address* operator&() = delete;
  const no_address* operator&() const = delete;
};
}  // namespace

TEST_CASE("capacities of every integral type, and values without operator&", "[chan]") {
  // std::integral includes char, bool and wchar_t: make(chan T, n) takes any integer.
  CHECK(goro::chan<int>(char{5}).capacity() == 5);
  CHECK(goro::chan<int>(true).capacity() == 1);
  CHECK(goro::chan<int>(wchar_t{7}).capacity() == 7);
  CHECK(goro::chan<int>(static_cast<unsigned char>(200)).capacity() == 200);
  CHECK_THROWS_WITH(goro::chan<int>(static_cast<signed char>(-3)),
                    Catch::Contains("negative capacity -3"));

  goro::chan<no_address> ch(2);
  ch.send(no_address{1});
  CHECK(ch.try_send(no_address{2}));
  CHECK(ch.recv()->id == 1);
  CHECK(ch.try_recv()->id == 2);
}

namespace {

// counted_move: a value that counts its moves; the move that finds moves_until_failure at 0
// throws (it counts down from any value set, and never reaches 0 again from below).
struct counted_move {
  static inline std::atomic<int> moves{0};
  static inline std::atomic<int> moves_until_failure{-1};
  int id;
  explicit counted_move(int i) : id(i) {}
  counted_move(counted_move&& other) : id(other.id) {
    if (moves_until_failure.fetch_sub(1) == 0) throw std::runtime_error("counted_move: failed");
    ++moves;
  }
  counted_move(const counted_move&) = delete;
};

}  // namespace

// A received value leaves the channel with one move, straight into what the caller gets: a later
// move of goro's own that threw would lose it.
TEST_CASE("a received value moves once, from the channel to the caller", "[chan][exceptions]") {
  goro::chan<counted_move> ch(4);
  const auto moves_of = [&](auto receive) {
    ch.send(counted_move(1));
    counted_move::moves = 0;
    receive();
    return counted_move::moves.load();
  };
  CHECK(moves_of([&] { CHECK(ch.recv()->id == 1); }) == 1);
  CHECK(moves_of([&] {
          for (counted_move&& m : ch) {
            CHECK(m.id == 1);
            break;
          }
        }) == 1);
  goro::select_set<counted_move> set;
  set.add_recv(ch);
  CHECK(moves_of([&] { CHECK(set.select().value->id == 1); }) == 1);
  CHECK(moves_of([&] { CHECK(set.try_select()->value->id == 1); }) == 1);
}

// A full buffer and blocked senders: the receive takes the head and moves the first sender's
// value into the buffer. If that move throws, the receive still returns the head, the next
// sender's value fills the slot (senders wait only while the buffer is full), and the first
// sender sends again.
TEST_CASE("a sender's move into the buffer that throws loses no value", "[chan][exceptions]") {
  goro::run([] {
    goro::chan<counted_move> ch(1);
    ch.send(counted_move(1));
    goro::wait_group sent;
    for (int id : {2, 3}) {
      sent.add(1);
      goro::go([ch, id, &sent] {
        ch.send(counted_move(id));  // blocks: the buffer is full
        sent.done();
      });
      goro_test::dump_when_count("[chan send]:", static_cast<std::size_t>(id - 1));
    }
    // The receive moves the buffer's head out, then sender 2's value in: the second throws.
    counted_move::moves_until_failure = 1;
    const std::optional<counted_move> first = ch.recv();
    REQUIRE(first.has_value());
    CHECK(first->id == 1);
    CHECK(counted_move::moves_until_failure.load() < 0);  // it did throw
    CHECK(ch.size() == 1);                                // sender 3's value took the slot
    std::vector<int> rest;
    for (int i = 0; i < 2; ++i) {
      const std::optional<counted_move> next = ch.recv();
      REQUIRE(next.has_value());
      rest.push_back(next->id);
    }
    sent.wait();
    std::sort(rest.begin(), rest.end());
    CHECK(rest == std::vector<int>{2, 3});
    CHECK(ch.size() == 0);
  });
}

TEST_CASE("channel handles compare by identity", "[chan]") {
  goro::chan<int> a;
  goro::chan<int> b;
  goro::chan<int> a_copy = a;
  CHECK(a == a_copy);
  CHECK_FALSE(a == b);
  goro::send_chan<int> s1 = a, s2 = a_copy;
  goro::recv_chan<int> r1 = a, r2 = b;
  CHECK(s1 == s2);
  CHECK_FALSE(r1 == r2);
  goro::chan<int> nil1 = nullptr, nil2 = nullptr;
  CHECK(nil1 == nil2);
}

TEST_CASE("directional views send and receive on the same channel", "[chan]") {
  goro::run([] {
    goro::chan<std::string> ch(1);
    goro::send_chan<std::string> out = ch;
    goro::recv_chan<std::string> in = ch;
    out.send("through views");
    CHECK(in.size() == 1);
    CHECK(out.capacity() == 1);
    CHECK(in.recv() == "through views");
    CHECK(out.try_send("again"));
    CHECK(in.try_recv() == "again");
    out.close();
    CHECK_FALSE(in.recv().has_value());
  });
}

TEST_CASE("channels carry large, move-only and empty types", "[chan]") {
  goro::run([] {
    goro::chan<std::array<char, 8192>> large(2);
    std::array<char, 8192> block{};
    block.fill('x');
    goro::go([=] { large.send(block); });
    CHECK(large.recv()->at(8191) == 'x');

    goro::chan<std::monostate> signal;
    goro::go([=] { signal.close(); });
    CHECK_FALSE(signal.recv().has_value());

    goro::chan<goro::chan<int>> of_channels(1);
    goro::chan<int> inner(1);
    of_channels.send(inner);
    of_channels.recv()->send(4);
    CHECK(inner.recv() == 4);
  });
}

TEST_CASE("buffered values are destroyed with the channel", "[chan]") {
  auto counter = std::make_shared<int>(0);
  {
    goro::chan<std::shared_ptr<int>> ch(8);
    for (int i = 0; i < 5; ++i) ch.send(counter);
    CHECK(counter.use_count() == 6);
  }
  CHECK(counter.use_count() == 1);
}

TEST_CASE("plain threads and goroutines talk over channels", "[chan][threads]") {
  long from_threads = 0;
  long from_goroutines = 0;
  goro::run([&] {
    goro::chan<long> up;      // threads → goroutine
    goro::chan<long> down(4); // goroutines → threads
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.push_back(goro_test::registered_thread([=] {
        for (long i = 1; i <= 1000; ++i) up.send(i);
        long sum = 0;
        for (int i = 0; i < 250; ++i) sum += *down.recv();
        up.send(-sum);
      }));
    }
    for (int g = 0; g < 4; ++g) {
      goro::go([=] {
        for (long i = 1; i <= 250; ++i) down.send(i);
      });
    }
    for (int i = 0; i < 4 * 1001; ++i) {
      long v = *up.recv();
      if (v > 0) {
        from_threads += v;
      } else {
        from_goroutines -= v;
      }
    }
    goro::blocking([&] {
      for (auto& t : threads) t.join();
    });
  });
  CHECK(from_threads == 4 * 500500);
  CHECK(from_goroutines == 4 * 31375);
}

TEST_CASE("channels work between plain threads with no run active", "[chan][threads]") {
  goro::chan<int> ch;
  long sum = 0;
  std::thread producer([=] {
    for (int i = 1; i <= 1000; ++i) ch.send(i);
    ch.close();
  });
  for (int v : ch) sum += v;
  producer.join();
  CHECK(sum == 500500);
}

TEST_CASE("goroutines blocked in send or receive are unwound at shutdown", "[chan][shutdown]") {
  std::atomic<int> unwound{0};
  struct guard {
    std::atomic<int>* n;
    ~guard() { n->fetch_add(1); }
  };
  goro::chan<int> ch;  // outlives the run: no waiter may stay linked in it
  goro::run([&] {
    for (int i = 0; i < 50; ++i) {
      goro::go([&] {
        guard g{&unwound};
        ch.send(1);
      });
      goro::go([&, i] {
        guard g{&unwound};
        goro::chan<int> other;
        if (i % 2 == 0) other.recv();
      });
    }
    goro::sleep_for(10ms);
  });
  CHECK(unwound.load() == 100);
  CHECK_FALSE(ch.try_recv().has_value());  // no sender left behind
}

namespace {

// Sends [0, count) over `ch` from `producers` goroutines and receives with `consumers`; checks
// every value arrives exactly once.
void exact_delivery(goro::chan<long> ch, int producers, int consumers, long count,
                    unsigned workers) {
  std::vector<std::atomic<std::uint8_t>> seen(static_cast<std::size_t>(count));
  std::atomic<long> checksum{0};
  goro::run(
      [&] {
        goro::wait_group producing, consuming;
        for (int p = 0; p < producers; ++p) {
          producing.add(1);
          goro::go([&, p] {
            for (long v = p; v < count; v += producers) ch.send(v);
            producing.done();
          });
        }
        for (int c = 0; c < consumers; ++c) {
          consuming.add(1);
          goro::go([&] {
            long local = 0;
            for (long v : ch) {
              seen[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
              local += v;
            }
            checksum.fetch_add(local);
            consuming.done();
          });
        }
        producing.wait();
        ch.close();
        consuming.wait();
      },
      with_workers(workers));
  long wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  CHECK(wrong == 0);
  CHECK(checksum.load() == count * (count - 1) / 2);
}

}  // namespace

TEST_CASE("8 producers and 8 consumers deliver every value exactly once", "[chan][stress]") {
  const unsigned workers = GENERATE(1u, 2u, 4u, 8u);
  const long count = scaled(1'000'000, 20);
  SECTION("buffered") { exact_delivery(goro::chan<long>(64), 8, 8, count, workers); }
  SECTION("unbuffered") { exact_delivery(goro::chan<long>(), 8, 8, count, workers); }
}

TEST_CASE("close racing with blocked senders and receivers loses and duplicates nothing",
          "[chan][close][stress]") {
  const int rounds = static_cast<int>(scaled(300, 10));
  long lost = 0;
  for (int round = 0; round < rounds; ++round) {
    std::atomic<long> sent{0}, received{0}, refused{0};
    goro::run(
        [&] {
          goro::chan<int> ch(round % 3);
          goro::wait_group wg;
          for (int i = 0; i < 8; ++i) {
            wg.add(2);
            goro::go([&] {
              for (int k = 0; k < 20; ++k) {
                try {
                  ch.send(1);
                  sent.fetch_add(1);
                } catch (const goro::channel_closed&) {
                  refused.fetch_add(1);
                }
              }
              wg.done();
            });
            goro::go([&] {
              while (auto v = ch.recv()) received.fetch_add(*v);
              wg.done();
            });
          }
          goro::sleep_for(std::chrono::microseconds(round % 200));
          ch.close();
          wg.wait();
        },
        with_workers(4));
    lost += sent.load() - received.load();
    REQUIRE(sent.load() + refused.load() == 8 * 20);
  }
  CHECK(lost == 0);
}

// Go's runtime TestMultiConsumer.
TEST_CASE("23 workers ranging over a shared queue pass on every item exactly once",
          "[chan][range][stress][go]") {
  constexpr int workers = 23;
  static constexpr std::array<int, 10> values{2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
  const long iterations = scaled(271828, 50);
  long expected_sum = 0, received = 0, sum = 0;
  goro::wait_group working;
  goro::run(
      [&] {
        goro::chan<int> q(workers * 3), r(workers * 3);
        for (int w = 0; w < workers; ++w) {
          working.add(1);
          goro::go([q, r, w, &working] {
            for (int v : q) {
              if (values[static_cast<std::size_t>(w) % values.size()] == v) goro::yield();
              r.send(v);
            }
            working.done();
          });
        }
        goro::go([q, r, &expected_sum, &working] {  // feeder and closer
          for (long i = 0; i < iterations; ++i) {
            const int v = values[static_cast<std::size_t>(i) % values.size()];
            expected_sum += v;
            q.send(v);
          }
          q.close();       // no more work
          working.wait();  // the workers are done
          r.close();       // ...so there can be no more results
        });
        for (int v : r) {
          ++received;
          sum += v;
        }
      },
      with_workers(4));
  CHECK(received == iterations);
  CHECK(sum == expected_sum);
}
