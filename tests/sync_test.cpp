// Tests of <goro/sync.hpp>.
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/debug.hpp>
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
#include <concepts>
#include <functional>
#include <latch>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "audit_types.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

TEST_CASE("wait_group waits for every done", "[sync][wait_group]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  std::atomic<int> finished{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        for (int i = 0; i < 1000; ++i) {
          wg.add(1);
          goro::go([&, i] {
            if (i % 3 == 0) goro::sleep_for(std::chrono::microseconds(i));
            finished.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
        CHECK(finished.load() == 1000);
      },
      goro::options{.workers = workers});
}

TEST_CASE("wait_group releases every waiter at once", "[sync][wait_group]") {
  std::atomic<int> released{0};
  goro::run([&] {
    goro::wait_group gate, all;
    gate.add(1);
    for (int i = 0; i < 50; ++i) {
      all.add(1);
      goro::go([&] {
        gate.wait();
        released.fetch_add(1);
        all.done();
      });
    }
    goro::sleep_for(5ms);
    CHECK(released.load() == 0);
    gate.done();
    all.wait();
  });
  CHECK(released.load() == 50);
}

TEST_CASE("wait on a zero wait_group returns at once", "[sync][wait_group]") {
  goro::wait_group wg;
  wg.wait();
  goro::run([&] { wg.wait(); });
  SUCCEED();
}

TEST_CASE("a negative wait_group counter throws and leaves the counter unchanged",
          "[sync][wait_group][misuse]") {
  goro::wait_group wg;
  CHECK_THROWS_AS(wg.done(), goro::error);
  CHECK_THROWS_WITH(wg.add(-3), Catch::Contains("negative counter") &&
                                    Catch::Contains("sync: negative WaitGroup counter"));
  wg.add(2);
  CHECK_THROWS_AS(wg.add(-3), goro::error);
  wg.done();
  wg.done();
  wg.wait();  // the counter is 0 again: the failed add(-3) changed nothing
}

TEST_CASE("a wait_group counter pushed past INT32_MAX throws overflow and stays unchanged",
          "[sync][wait_group][misuse]") {
  goro::wait_group wg;
  wg.add(INT32_MAX - 1);
  wg.add(1);
  CHECK_THROWS_WITH(wg.add(1), Catch::Contains("counter overflow (add(1) would take it past "
                                               "2147483647)"));
  CHECK_THROWS_WITH(wg.add(INT32_MAX), Catch::Contains("counter overflow"));
  wg.add(-INT32_MAX);
  wg.wait();  // back at 0: the failed adds changed nothing
  // A delta that is itself beyond 32 bits, either way, is refused before it touches the counter
  // (2^32 would otherwise shift out of the counter's half of the state and add nothing).
  for (const std::ptrdiff_t delta :
       {std::ptrdiff_t{INT32_MAX} + 1, std::ptrdiff_t{1} << 32, -(std::ptrdiff_t{1} << 32),
        -std::ptrdiff_t{INT32_MAX} - 1, std::numeric_limits<std::ptrdiff_t>::max()}) {
    INFO("add(" << delta << ")");
    CHECK_THROWS_WITH(wg.add(delta),
                      "goro::wait_group: add(" + std::to_string(delta) + ") is out of range");
  }
  wg.wait();  // still 0
  wg.add(1);
  wg.done();
}

TEST_CASE("wait_group works between plain threads and goroutines", "[sync][wait_group]") {
  std::atomic<int> count{0};
  goro::run([&] {
    goro::wait_group wg;
    std::latch registered(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      wg.add(1);
      threads.emplace_back([&] {
        // A plain thread counts for deadlock detection from its first use of goro (API 1.3).
        (void)goro::in_goroutine();
        registered.count_down();
        count.fetch_add(1);
        wg.done();
      });
    }
    goro::blocking([&] { registered.wait(); });
    wg.wait();  // a goroutine waiting for plain threads
    for (auto& t : threads) t.join();
    goro::wait_group back;
    back.add(1);
    std::thread waiter([&] {
      back.wait();
      count.fetch_add(10);
    });  // a thread waiting for a goroutine
    goro::go([&] {
      goro::sleep_for(2ms);
      back.done();
    });
    goro::blocking([&] { waiter.join(); });
  });
  CHECK(count.load() == 14);
}

TEST_CASE("wait_group survives add/done/wait races", "[sync][wait_group][stress]") {
  const long rounds = scaled(2000, 10);
  goro::run(
      [&] {
        for (long r = 0; r < rounds; ++r) {
          goro::wait_group wg;
          std::atomic<int> n{0};
          for (int i = 0; i < 8; ++i) {
            wg.add(1);
            goro::go([&] {
              n.fetch_add(1);
              wg.done();
            });
          }
          wg.wait();
          REQUIRE(n.load() == 8);
        }
      },
      goro::options{.workers = 4});
}

// ---------------------------------------------------------------------------------------------
// Helpers for the tests of mutex, shared_mutex, condition_variable, once and semaphore.

namespace {

// eventually: polls `pred` (sleeping between polls, so it works on a goroutine or a plain thread)
// until it holds or ten seconds pass; returns whether it held. A liveness guard, not a timing
// assertion: every caller expects `pred` to become true much sooner.
template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (goro::in_goroutine()) {
      goro::sleep_for(100us);
    } else {
      std::this_thread::sleep_for(100us);
    }
  }
  return true;
}

// parked_in: how many goroutines goro::dump shows parked in `state` (e.g. "mutex").
std::size_t parked_in(const std::string& state) {
  std::ostringstream out;
  goro::dump(out);
  const std::string text = out.str();
  const std::string needle = "[" + state + "]";
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// registered_thread: starts a plain thread running `fn` and returns once the thread counts for
// deadlock detection (API 1.3: from its first call into goro). Without that, a run whose
// goroutines all wait for a thread that has not touched goro yet is declared deadlocked.
template <class F>
std::thread registered_thread(F fn) {
  std::atomic<bool> registered{false};
  std::thread t([&registered, fn = std::move(fn)]() mutable {
    (void)goro::in_goroutine();
    registered.store(true);  // the last touch of `registered`
    fn();
  });
  while (!registered.load()) {
    if (goro::in_goroutine()) {
      goro::sleep_for(50us);
    } else {
      std::this_thread::sleep_for(50us);
    }
  }
  return t;
}

// counted: adds one to `n` when destroyed (proves a goroutine's stack was unwound).
struct counted {
  std::atomic<int>* n;
  ~counted() { n->fetch_add(1); }
};

// Busy work the compiler cannot remove.
void spin_for(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

// --- mutex -----------------------------------------------------------------------------------

TEST_CASE("mutex gives 8 goroutines mutual exclusion over a million increments each",
          "[sync][mutex][stress]") {
  const unsigned workers = GENERATE(1u, 2u, 4u, 8u);
  const long per_goroutine = scaled(1'000'000, 100);
  long counter = 0;  // deliberately not atomic: the mutex protects it
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  goro::run(
      [&] {
        goro::mutex m;
        goro::wait_group wg;
        for (int g = 0; g < 8; ++g) {
          wg.add(1);
          goro::go([&] {
            for (long i = 0; i < per_goroutine; ++i) {
              std::lock_guard hold(m);
              if (inside.fetch_add(1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1);
              ++counter;
              inside.fetch_sub(1, std::memory_order_relaxed);
            }
            wg.done();
          });
        }
        wg.wait();
      },
      goro::options{.workers = workers});
  CHECK(overlaps.load() == 0);
  CHECK(counter == 8 * per_goroutine);
}

TEST_CASE("a goroutine waiting on a hot mutex gets it within a bound", "[sync][mutex][fairness]") {
  // Eight goroutines keep the mutex held nearly all the time and re-lock it at once after each
  // unlock, so a parked waiter that merely competes would lose almost every time. Starvation mode
  // hands the mutex to a waiter that waited over 1 ms: its waits stay short. The bound is
  // generous because every hop of a hand-off chain needs its worker thread on a CPU: measured on
  // a 2-core machine shared with other builds (load 7-10), the worst of 100 waits was typically
  // 1-60 ms, once 268 ms; with hand-off disabled it was 1.3-11 s (the waiter waits until the
  // hammering stops — the 10 s safety stop — or forever).
  const unsigned workers = GENERATE(2u, 4u);
  const int rounds = goro::detail::sanitized_build ? 20 : 100;
  std::atomic<bool> stop{false};
  std::atomic<long> hammered{0};
  std::atomic<long> worst_wait_us{0};
  std::atomic<int> measured{0};
  goro::run(
      [&] {
        goro::mutex m;
        goro::wait_group wg;
        for (int g = 0; g < 8; ++g) {
          wg.add(1);
          goro::go([&] {
            while (!stop.load(std::memory_order_relaxed)) {
              std::lock_guard hold(m);
              spin_for(20us);
              hammered.fetch_add(1, std::memory_order_relaxed);
            }
            wg.done();
          });
        }
        wg.add(1);
        goro::go([&] {
          while (hammered.load() < 100) goro::sleep_for(100us);
          for (int i = 0; i < rounds; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            m.lock();
            const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0);
            m.unlock();
            if (waited.count() > worst_wait_us.load()) worst_wait_us.store(waited.count());
            measured.fetch_add(1);
            goro::sleep_for(500us);
          }
          stop.store(true);
          wg.done();
        });
        // Safety stop, so that a starving implementation fails the test instead of hanging it.
        goro::go([&] {
          for (int i = 0; i < 10'000 && !stop.load(); ++i) goro::sleep_for(1ms);
          stop.store(true);
        });
        wg.wait();
      },
      goro::options{.workers = workers});
  INFO("worst wait " << worst_wait_us.load() << " us over " << measured.load() << " locks on "
                     << workers << " workers");
  CHECK(measured.load() == rounds);
  CHECK(worst_wait_us.load() < 1'000'000);
}

TEST_CASE("mutex stays exclusive through starvation hand-offs among goroutines and threads",
          "[sync][mutex][stress]") {
  // Holders that sometimes sleep with the mutex held make waiters queue for over 1 ms, which
  // switches the mutex to starvation mode and back again, over and over; goroutines and plain
  // threads hand it to each other in both modes.
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const long rounds = scaled(3'000, 10);
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  goro::run(
      [&] {
        goro::mutex m;
        auto body = [&](int who) {
          for (long i = 0; i < rounds; ++i) {
            std::lock_guard hold(m);
            if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
            ++counter;
            if ((i + who) % 97 == 0) {
              if (goro::in_goroutine()) {
                goro::sleep_for(200us);
              } else {
                std::this_thread::sleep_for(200us);
              }
            } else if ((i + who) % 7 == 0) {
              spin_for(5us);
            }
            inside.fetch_sub(1);
          }
        };
        std::vector<std::thread> threads;
        for (int t = 0; t < 2; ++t) threads.push_back(registered_thread([&, t] { body(t); }));
        goro::wait_group wg;
        for (int g = 0; g < 8; ++g) {
          wg.add(1);
          goro::go([&, g] {
            body(10 + g);
            wg.done();
          });
        }
        wg.wait();
        goro::blocking([&] {
          for (auto& t : threads) t.join();
        });
      },
      goro::options{.workers = workers});
  CHECK(overlaps.load() == 0);
  CHECK(counter == 10 * rounds);
}

TEST_CASE("try_lock takes a free mutex and fails on a held one", "[sync][mutex]") {
  goro::mutex m;
  CHECK(m.try_lock());
  CHECK_FALSE(m.try_lock());
  std::atomic<int> other_got{-1};
  goro::run([&] {
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      other_got.store(m.try_lock() ? 1 : 0);
      wg.done();
    });
    wg.wait();
  });
  CHECK(other_got.load() == 0);
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("unlock of an unlocked mutex throws goro::error and changes nothing",
          "[sync][mutex][misuse]") {
  goro::mutex m;
  CHECK_THROWS_AS(m.unlock(), goro::error);
  CHECK_THROWS_WITH(m.unlock(), Catch::StartsWith("goro::mutex: unlock of unlocked mutex") &&
                                    Catch::Contains("sync: unlock of unlocked mutex"));
  m.lock();
  m.unlock();
  CHECK_THROWS_AS(m.unlock(), goro::error);
  CHECK(m.try_lock());  // still usable: the failed unlocks left the state alone
  m.unlock();
}

TEST_CASE("std::scoped_lock over two goro mutexes locks both without deadlock", "[sync][mutex]") {
  const long rounds = scaled(20'000, 20);
  long a_count = 0;
  long b_count = 0;
  goro::run(
      [&] {
        goro::mutex a, b;
        goro::wait_group wg;
        for (int g = 0; g < 4; ++g) {
          wg.add(1);
          goro::go([&, g] {
            for (long i = 0; i < rounds; ++i) {
              // Half of the goroutines name the mutexes in the other order.
              if (g % 2 == 0) {
                std::scoped_lock both(a, b);
                ++a_count;
                ++b_count;
              } else {
                std::scoped_lock both(b, a);
                ++a_count;
                ++b_count;
              }
              if (i % 64 == 0) goro::yield();
            }
            wg.done();
          });
        }
        wg.wait();
      },
      goro::options{.workers = 4});
  CHECK(a_count == 4 * rounds);
  CHECK(b_count == 4 * rounds);
}

// Go's mutex queues a waiter that was woken and lost the mutex to a barging locker at the front
// (LIFO), not behind the waiters that came after it: the oldest waiter is served first. One
// worker makes the barge certain: the unlocker locks again before the woken waiter runs.
TEST_CASE("a woken waiter that loses the mutex to a barger keeps its place in front",
          "[sync][mutex]") {
  std::vector<int> order;
  goro::run(
      [&] {
        goro::mutex m;
        goro::wait_group done;
        m.lock();
        for (int id : {1, 2}) {
          done.add(1);
          goro::go([&, id] {
            m.lock();
            order.push_back(id);  // under the mutex
            m.unlock();
            done.done();
          });
          goro_test::dump_when_count("[mutex]:", static_cast<std::size_t>(id));  // 1, then 2
        }
        m.unlock();                                 // wakes waiter 1 to compete...
        m.lock();                                   // ...and this barges in before it runs
        goro_test::dump_when_count("[mutex]:", 2);  // waiter 1 lost, and waits again
        m.unlock();
        done.wait();
      },
      goro::options{.workers = 1});
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("mutex excludes goroutines and plain threads from each other", "[sync][mutex]") {
  const long per_party = scaled(100'000, 20);
  long counter = 0;
  goro::run(
      [&] {
        goro::mutex m;
        goro::wait_group wg;
        std::vector<std::thread> threads;
        for (int t = 0; t < 3; ++t) {
          wg.add(1);
          threads.push_back(registered_thread([&] {
            for (long i = 0; i < per_party; ++i) {
              std::lock_guard hold(m);
              ++counter;
            }
            wg.done();
          }));
        }
        for (int g = 0; g < 3; ++g) {
          wg.add(1);
          goro::go([&] {
            for (long i = 0; i < per_party; ++i) {
              std::lock_guard hold(m);
              ++counter;
            }
            wg.done();
          });
        }
        wg.wait();
        for (auto& t : threads) t.join();
      },
      goro::options{.workers = 2});
  CHECK(counter == 6 * per_party);
}

TEST_CASE("a thread blocked on a mutex gets it when a goroutine unlocks it", "[sync][mutex]") {
  goro::mutex m;
  std::atomic<bool> thread_has_it{false};
  goro::run([&] {
    m.lock();
    std::thread t = registered_thread([&] {
      m.lock();  // blocks this thread on its futex until the goroutine unlocks
      thread_has_it.store(true);
      m.unlock();
    });
    goro::sleep_for(2ms);
    const bool early = thread_has_it.load();
    m.unlock();
    goro::blocking([&] { t.join(); });
    CHECK_FALSE(early);
  });
  CHECK(thread_has_it.load());
}

TEST_CASE("mutex works between plain threads with no run active", "[sync][mutex]") {
  goro::mutex m;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (long i = 0; i < scaled(100'000, 20); ++i) {
        std::lock_guard hold(m);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(counter == 4 * scaled(100'000, 20));
}

TEST_CASE("a mutex may be destroyed as soon as its last user unlocks it", "[sync][mutex]") {
  // The waiter destroys the mutex right after its lock() returns and it unlocks; the unlocker
  // that woke it must not touch the mutex after the wake (ASan catches it if it does).
  const int rounds = static_cast<int>(scaled(5'000, 10));
  std::atomic<int> done{0};
  goro::run(
      [&] {
        for (int r = 0; r < rounds; ++r) {
          auto* m = new goro::mutex;
          goro::wait_group started;
          m->lock();
          started.add(1);
          goro::go([&, m] {
            started.done();
            m->lock();
            m->unlock();
            delete m;
            done.fetch_add(1);
          });
          started.wait();
          if (r % 2 == 0) goro::yield();
          m->unlock();
        }
        while (done.load() < rounds) goro::sleep_for(100us);
      },
      goro::options{.workers = 2});
  CHECK(done.load() == rounds);
}

// --- shared_mutex ----------------------------------------------------------------------------

TEST_CASE("shared_mutex lets readers in together", "[sync][shared_mutex]") {
  std::atomic<int> inside{0};
  std::atomic<int> saw_both{0};
  goro::shared_mutex rw;
  goro::run([&] {
    goro::wait_group wg;
    for (int r = 0; r < 2; ++r) {
      wg.add(1);
      goro::go([&] {
        std::shared_lock hold(rw);
        inside.fetch_add(1);
        // Each reader waits, holding its read lock, until the other one is inside too: only
        // possible if readers really share the lock.
        if (eventually([&] { return inside.load() == 2; })) saw_both.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
  });
  CHECK(saw_both.load() == 2);
}

TEST_CASE("a writer makes progress under a continuous stream of readers",
          "[sync][shared_mutex][fairness]") {
  // Four readers take turns so that at least one always holds the lock; a writer that waited
  // for a moment with no reader inside would wait forever. Readers arriving behind a waiting
  // writer queue, so it gets in once the readers inside leave.
  const int writes = 20;
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::atomic<long> reads{0};
  std::atomic<long> worst_wait_us{0};
  goro::run(
      [&] {
        goro::shared_mutex rw;
        goro::wait_group wg;
        for (int r = 0; r < 4; ++r) {
          wg.add(1);
          goro::go([&, r] {
            goro::sleep_for(std::chrono::microseconds(250 * r));
            while (!stop.load()) {
              std::shared_lock hold(rw);
              reads.fetch_add(1);
              goro::sleep_for(1ms);
            }
            wg.done();
          });
        }
        wg.add(1);
        goro::go([&] {
          while (reads.load() < 20) goro::sleep_for(100us);
          for (int i = 0; i < writes; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            rw.lock();
            const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0);
            written.fetch_add(1);
            rw.unlock();
            if (waited.count() > worst_wait_us.load()) worst_wait_us.store(waited.count());
            goro::sleep_for(2ms);
          }
          stop.store(true);
          wg.done();
        });
        goro::go([&] {  // safety stop: a starving writer fails the test instead of hanging it
          for (int i = 0; i < 10'000 && !stop.load(); ++i) goro::sleep_for(1ms);
          stop.store(true);
        });
        wg.wait();
      },
      goro::options{.workers = 2});
  INFO("worst writer wait " << worst_wait_us.load() << " us");
  CHECK(written.load() == writes);
  CHECK(worst_wait_us.load() < 1'000'000);
}

TEST_CASE("shared_mutex excludes writers from readers and from each other",
          "[sync][shared_mutex][stress]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const long rounds = scaled(20'000, 20);
  long a = 0;  // writers keep a == b; readers check it
  long b = 0;
  std::atomic<int> torn{0};
  std::atomic<int> writers_inside{0};
  std::atomic<int> overlaps{0};
  goro::run(
      [&] {
        goro::shared_mutex rw;
        goro::wait_group wg;
        for (int g = 0; g < 6; ++g) {
          wg.add(1);
          goro::go([&, g] {
            for (long i = 0; i < rounds; ++i) {
              if (g < 2) {
                std::unique_lock hold(rw);
                if (writers_inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                ++a;
                if (i % 128 == 0) goro::yield();
                ++b;
                writers_inside.fetch_sub(1);
              } else {
                std::shared_lock hold(rw);
                if (writers_inside.load() != 0) overlaps.fetch_add(1);
                if (a != b) torn.fetch_add(1);
                if (i % 128 == 0) goro::yield();
              }
            }
            wg.done();
          });
        }
        wg.wait();
      },
      goro::options{.workers = workers});
  CHECK(torn.load() == 0);
  CHECK(overlaps.load() == 0);
  CHECK(a == 2 * rounds);
  CHECK(b == 2 * rounds);
}

TEST_CASE("shared_mutex try_lock and try_lock_shared respect the holders", "[sync][shared_mutex]") {
  goro::shared_mutex rw;
  CHECK(rw.try_lock_shared());
  CHECK(rw.try_lock_shared());
  CHECK_FALSE(rw.try_lock());
  rw.unlock_shared();
  CHECK_FALSE(rw.try_lock());
  rw.unlock_shared();
  CHECK(rw.try_lock());
  CHECK_FALSE(rw.try_lock());
  CHECK_FALSE(rw.try_lock_shared());
  rw.unlock();
  CHECK(rw.try_lock_shared());
  rw.unlock_shared();
}

TEST_CASE("shared_mutex misuse throws goro::error and changes nothing",
          "[sync][shared_mutex][misuse]") {
  goro::shared_mutex rw;
  CHECK_THROWS_AS(rw.unlock(), goro::error);
  CHECK_THROWS_WITH(rw.unlock_shared(), Catch::Contains("unlock_shared of unlocked shared_mutex") &&
                                            Catch::Contains("not locked for reading") &&
                                            Catch::Contains("sync: RUnlock of unlocked RWMutex"));
  rw.lock_shared();
  CHECK_THROWS_WITH(rw.unlock(), Catch::Contains("unlock of unlocked shared_mutex") &&
                                     Catch::Contains("not locked for writing") &&
                                     Catch::Contains("sync: Unlock of unlocked RWMutex"));
  rw.unlock_shared();
  rw.lock();
  CHECK_THROWS_AS(rw.unlock_shared(), goro::error);
  rw.unlock();
  CHECK(rw.try_lock());  // nothing was corrupted by the failed calls
  rw.unlock();
}

TEST_CASE("a writer waiting on readers is served after the readers that came first",
          "[sync][shared_mutex]") {
  // A reader holds the lock; a writer queues; a later reader must queue behind the writer.
  std::vector<int> order;  // appended under the lock it records
  goro::shared_mutex rw;
  goro::run([&] {
    rw.lock_shared();
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {
      std::unique_lock hold(rw);
      order.push_back(1);  // the writer
      wg.done();
    });
    REQUIRE(eventually([] { return parked_in("mutex") == 1; }));
    CHECK_FALSE(rw.try_lock_shared());  // a writer waits: new readers do not barge
    goro::go([&] {
      std::shared_lock hold(rw);
      order.push_back(2);  // the late reader
      wg.done();
    });
    REQUIRE(eventually([] { return parked_in("mutex") == 2; }));
    rw.unlock_shared();
    wg.wait();
  });
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("shared_mutex works between plain threads and goroutines", "[sync][shared_mutex]") {
  const long rounds = scaled(20'000, 20);
  long value = 0;
  std::atomic<int> torn{0};
  goro::shared_mutex rw;
  goro::run(
      [&] {
        goro::wait_group wg;
        std::vector<std::thread> threads;
        for (int t = 0; t < 2; ++t) {
          wg.add(1);
          threads.push_back(registered_thread([&, t] {
            for (long i = 0; i < rounds; ++i) {
              if (t == 0) {
                std::unique_lock hold(rw);
                value += 2;
              } else {
                std::shared_lock hold(rw);
                if (value % 2 != 0) torn.fetch_add(1);
              }
            }
            wg.done();
          }));
        }
        for (int g = 0; g < 2; ++g) {
          wg.add(1);
          goro::go([&, g] {
            for (long i = 0; i < rounds; ++i) {
              if (g == 0) {
                std::unique_lock hold(rw);
                ++value;
                ++value;
              } else {
                std::shared_lock hold(rw);
                if (value % 2 != 0) torn.fetch_add(1);
              }
            }
            wg.done();
          });
        }
        wg.wait();
        for (auto& t : threads) t.join();
      },
      goro::options{.workers = 2});
  CHECK(torn.load() == 0);
  CHECK(value == 4 * rounds);
}

// --- condition_variable ----------------------------------------------------------------------

TEST_CASE("condition_variable ping-pong between two goroutines loses no wake-up",
          "[sync][cond][stress]") {
  // A lost wake-up leaves both goroutines waiting forever: the run then ends in deadlock_error.
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const long rounds = scaled(100'000, 20);
  long pings = 0;
  long pongs = 0;
  goro::run(
      [&] {
        goro::mutex m;
        goro::condition_variable cv;
        bool ping_turn = true;
        goro::wait_group wg;
        wg.add(2);
        goro::go([&] {
          for (long i = 0; i < rounds; ++i) {
            std::unique_lock lk(m);
            cv.wait(lk, [&] { return ping_turn; });
            ++pings;
            ping_turn = false;
            cv.notify_one();
          }
          wg.done();
        });
        goro::go([&] {
          for (long i = 0; i < rounds; ++i) {
            std::unique_lock lk(m);
            cv.wait(lk, [&] { return !ping_turn; });
            ++pongs;
            ping_turn = true;
            lk.unlock();
            cv.notify_one();  // outside the lock: allowed, and still not lost
          }
          wg.done();
        });
        wg.wait();
      },
      goro::options{.workers = workers});
  CHECK(pings == rounds);
  CHECK(pongs == rounds);
}

TEST_CASE("notify_all releases every waiter and notify_one releases one", "[sync][cond]") {
  std::atomic<int> released{0};
  std::size_t one_after_notify_one = 0;
  goro::run(
      [&] {
        goro::mutex m;
        goro::condition_variable cv;
        int waiting = 0;
        int tickets = 0;  // each notify_one hands out one
        bool open = false;
        goro::wait_group wg;
        for (int i = 0; i < 50; ++i) {
          wg.add(1);
          goro::go([&] {
            std::unique_lock lk(m);
            ++waiting;
            cv.wait(lk, [&] { return open || tickets > 0; });
            if (!open) --tickets;
            released.fetch_add(1);
            wg.done();
          });
        }
        // A waiter counted under the mutex has queued: it released the mutex only by waiting.
        REQUIRE(eventually([&] {
          std::lock_guard hold(m);
          return waiting == 50;
        }));
        {
          std::lock_guard hold(m);
          ++tickets;
        }
        cv.notify_one();
        REQUIRE(eventually([&] { return released.load() == 1; }));
        goro::sleep_for(5ms);  // a second release would show up by now (it cannot happen)
        one_after_notify_one = static_cast<std::size_t>(released.load());
        {
          std::lock_guard hold(m);
          open = true;
        }
        cv.notify_all();
        wg.wait();
      },
      goro::options{.workers = 2});
  CHECK(one_after_notify_one == 1);
  CHECK(released.load() == 50);
}

TEST_CASE("condition_variable wakes a plain thread from a goroutine and back", "[sync][cond]") {
  const long rounds = scaled(10'000, 10);
  long thread_turns = 0;
  long goroutine_turns = 0;
  goro::mutex m;
  goro::condition_variable cv;
  goro::run(
      [&] {
        bool thread_turn = true;
        std::thread t = registered_thread([&] {
          for (long i = 0; i < rounds; ++i) {
            std::unique_lock lk(m);
            cv.wait(lk, [&] { return thread_turn; });
            ++thread_turns;
            thread_turn = false;
            cv.notify_one();
          }
        });
        for (long i = 0; i < rounds; ++i) {
          std::unique_lock lk(m);
          cv.wait(lk, [&] { return !thread_turn; });
          ++goroutine_turns;
          thread_turn = true;
          cv.notify_one();
        }
        goro::blocking([&] { t.join(); });
      },
      goro::options{.workers = 2});
  CHECK(thread_turns == rounds);
  CHECK(goroutine_turns == rounds);
}

TEST_CASE("condition_variable wait without holding the mutex throws goro::error",
          "[sync][cond][misuse]") {
  goro::mutex m;
  goro::condition_variable cv;
  std::unique_lock lk(m, std::defer_lock);
  CHECK_THROWS_AS(cv.wait(lk), goro::error);
  CHECK_FALSE(lk.owns_lock());
}

TEST_CASE("a condition_variable may be destroyed by a waiter as soon as it wakes", "[sync][cond]") {
  const int rounds = static_cast<int>(scaled(5'000, 10));
  std::atomic<int> done{0};
  goro::run(
      [&] {
        goro::mutex m;
        for (int r = 0; r < rounds; ++r) {
          auto* cv = new goro::condition_variable;
          bool ready = false;
          goro::wait_group waiting;
          waiting.add(1);
          goro::go([&, cv] {
            {
              std::unique_lock lk(m);
              waiting.done();
              cv->wait(lk, [&] { return ready; });
            }
            delete cv;
            done.fetch_add(1);
          });
          waiting.wait();
          {
            std::lock_guard hold(m);
            ready = true;
          }
          cv->notify_all();  // outside the mutex: the waiter may already be deleting cv
          while (done.load() <= r) goro::yield();
        }
      },
      goro::options{.workers = 2});
  CHECK(done.load() == rounds);
}

// --- once ------------------------------------------------------------------------------------

TEST_CASE("once runs its function exactly once for 100 contending goroutines", "[sync][once]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  std::atomic<int> runs{0};
  std::atomic<int> saw_effect{0};
  goro::run(
      [&] {
        goro::once o;
        int value = 0;  // written by the function, read by every caller after call returns
        goro::wait_group wg;
        for (int i = 0; i < 100; ++i) {
          wg.add(1);
          goro::go([&] {
            o.call([&] {
              runs.fetch_add(1);
              goro::sleep_for(2ms);  // the others arrive meanwhile and wait
              value = 42;
            });
            if (value == 42) saw_effect.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
      },
      goro::options{.workers = workers});
  CHECK(runs.load() == 1);
  CHECK(saw_effect.load() == 100);
}

TEST_CASE("a once whose function throws is not done and the next call runs it again",
          "[sync][once]") {
  goro::once o;
  int runs = 0;
  CHECK_THROWS_WITH(o.call([&] {
    ++runs;
    throw std::runtime_error("first try fails");
  }),
                    "first try fails");
  o.call([&] { ++runs; });
  o.call([&] { ++runs; });
  CHECK(runs == 2);
}

TEST_CASE("callers waiting on a once whose function throws retry it", "[sync][once]") {
  std::atomic<int> runs{0};
  std::atomic<int> failures{0};
  std::atomic<int> returned{0};
  std::atomic<int> saw_effect{0};
  goro::run(
      [&] {
        goro::once o;
        int value = 0;
        goro::wait_group wg;
        for (int i = 0; i < 20; ++i) {
          wg.add(1);
          goro::go([&] {
            try {
              o.call([&] {
                const int run = runs.fetch_add(1);
                goro::sleep_for(2ms);
                if (run == 0) throw std::runtime_error("first run fails");
                value = 7;
              });
              returned.fetch_add(1);
              if (value == 7) saw_effect.fetch_add(1);
            } catch (const std::runtime_error&) {
              failures.fetch_add(1);
            }
            wg.done();
          });
        }
        wg.wait();
      },
      goro::options{.workers = 2});
  CHECK(runs.load() == 2);
  CHECK(failures.load() == 1);
  CHECK(returned.load() == 19);
  CHECK(saw_effect.load() == 19);
}

TEST_CASE("once works across plain threads and goroutines", "[sync][once]") {
  std::atomic<int> runs{0};
  std::atomic<int> calls{0};
  goro::once o;
  goro::run(
      [&] {
        auto body = [&] {
          o.call([&] {
            runs.fetch_add(1);
            std::this_thread::sleep_for(2ms);  // blocks a thread or a worker: fine for a test
          });
          calls.fetch_add(1);
        };
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) threads.push_back(registered_thread(body));
        goro::wait_group wg;
        for (int g = 0; g < 4; ++g) {
          wg.add(1);
          goro::go([&] {
            body();
            wg.done();
          });
        }
        wg.wait();
        goro::blocking([&] {
          for (auto& t : threads) t.join();
        });
      },
      goro::options{.workers = 2});
  CHECK(runs.load() == 1);
  CHECK(calls.load() == 8);
}

TEST_CASE("a once may be destroyed by a caller as soon as its call returns", "[sync][once]") {
  const int rounds = static_cast<int>(scaled(5'000, 10));
  std::atomic<int> done{0};
  goro::run(
      [&] {
        for (int r = 0; r < rounds; ++r) {
          auto* o = new goro::once;
          auto* left = new std::atomic<int>(2);  // the last caller out deletes the once
          for (int g = 0; g < 2; ++g) {
            goro::go([o, left, &done] {
              o->call([] { goro::yield(); });
              if (left->fetch_sub(1) == 1) {
                delete o;
                delete left;
                done.fetch_add(1);
              }
            });
          }
          if (r % 64 == 0) goro::yield();
        }
        while (done.load() < rounds) goro::sleep_for(100us);
      },
      goro::options{.workers = 2});
  CHECK(done.load() == rounds);
}

// --- semaphore -------------------------------------------------------------------------------

TEST_CASE("semaphore serves waiters in FIFO order", "[sync][semaphore]") {
  std::vector<int> order;  // appended while holding the single permit
  goro::semaphore sem(1);
  goro::run([&] {
    sem.acquire();
    goro::wait_group wg;
    for (int i = 0; i < 10; ++i) {
      wg.add(1);
      goro::go([&, i] {
        sem.acquire();
        order.push_back(i);
        sem.release();
        wg.done();
      });
      // Queue them one at a time, in a known order.
      REQUIRE(
          eventually([&] { return parked_in("semaphore") == static_cast<std::size_t>(i + 1); }));
    }
    sem.release();
    wg.wait();
  });
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("a large acquire is not overtaken by later small ones", "[sync][semaphore]") {
  std::vector<std::string> order;  // appended under `record`
  goro::semaphore sem(10);
  bool small_could_barge = true;
  goro::run([&] {
    goro::mutex record;
    sem.acquire(5);  // 5 of 10 free: enough for every small acquire, not for the big one
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      sem.acquire(10);
      {
        std::lock_guard hold(record);
        order.push_back("big");
      }
      sem.release(10);
      wg.done();
    });
    REQUIRE(eventually([] { return parked_in("semaphore") == 1; }));
    for (int i = 0; i < 3; ++i) {
      wg.add(1);
      goro::go([&] {
        sem.acquire(1);
        {
          std::lock_guard hold(record);
          order.push_back("small");
        }
        sem.release(1);
        wg.done();
      });
    }
    REQUIRE(eventually([] { return parked_in("semaphore") == 4; }));
    small_could_barge = sem.try_acquire(1);
    sem.release(5);
    wg.wait();
  });
  CHECK_FALSE(small_could_barge);
  CHECK(order == std::vector<std::string>{"big", "small", "small", "small"});
}

// Weight 0 is a weight like any other (x/sync's Weighted): a semaphore of capacity 0 is valid,
// and taking 0 permits waits its turn behind the waiters already queued, as a larger take would.
TEST_CASE("semaphore weights of zero: capacity 0, and a take of 0 waits its turn",
          "[sync][semaphore]") {
  goro::semaphore none(0);
  CHECK(none.try_acquire(0));
  CHECK_FALSE(none.try_acquire(1));
  none.acquire(0);
  none.release(0);

  std::vector<std::string> taken;
  bool zero_could_barge = true;
  bool zero_returned_early = true;
  goro::run([&] {
    goro::semaphore sem(2);
    sem.acquire(2);
    goro::chan<std::string> done(2);
    goro::go([&sem, done] {
      sem.acquire(2);  // queued: nothing is free
      done.send("two");
      sem.release(2);
    });
    goro_test::dump_when({"[semaphore]:"});
    zero_could_barge = sem.try_acquire(0);  // someone waits: not even 0 is taken
    goro::go([&sem, done] {
      sem.acquire(0);  // behind the take of two
      done.send("zero");
    });
    goro_test::dump_when_count("[semaphore]:", 2);  // both wait (a barging zero never does)
    zero_returned_early = done.try_recv().has_value();
    sem.release(2);  // serves both, the two first
    taken.push_back(*done.recv());
    taken.push_back(*done.recv());
  });
  CHECK_FALSE(zero_could_barge);
  CHECK_FALSE(zero_returned_early);
  std::sort(taken.begin(), taken.end());
  CHECK(taken == std::vector<std::string>{"two", "zero"});
}

TEST_CASE("semaphore weights: try_acquire takes what fits", "[sync][semaphore]") {
  goro::semaphore sem(3);
  CHECK(sem.try_acquire(2));
  CHECK_FALSE(sem.try_acquire(2));
  CHECK(sem.try_acquire(1));
  CHECK_FALSE(sem.try_acquire(1));
  CHECK(sem.try_acquire(0));
  sem.release(3);
  CHECK(sem.try_acquire(3));
  sem.release(1);
  sem.release(2);
  sem.acquire(3);  // all free again: does not block
  sem.release(3);
}

TEST_CASE("semaphore misuse throws goro::error and changes nothing", "[sync][semaphore][misuse]") {
  CHECK_THROWS_AS(goro::semaphore(-1), goro::error);
  goro::semaphore sem(2);
  CHECK_FALSE(sem.try_acquire(3));  // x/sync's TryAcquire: false, not a panic
  CHECK_THROWS_WITH(sem.acquire(-1), Catch::Contains("negative"));
  CHECK_THROWS_WITH(sem.try_acquire(-1), Catch::Contains("negative"));
  CHECK_THROWS_WITH(sem.release(1), Catch::Contains("semaphore: released more than held"));
  sem.acquire(1);
  CHECK_THROWS_WITH(sem.release(2), Catch::Contains("more than held"));
  CHECK_THROWS_AS(sem.release(-1), goro::error);
  sem.release(1);
  CHECK(sem.try_acquire(2));  // the failed calls took and returned nothing
  sem.release(2);
}

TEST_CASE("semaphore bounds concurrency and works with plain threads", "[sync][semaphore]") {
  const long rounds = scaled(5'000, 10);
  std::atomic<int> inside{0};
  std::atomic<int> over{0};
  goro::semaphore sem(3);
  goro::run(
      [&] {
        auto body = [&](std::ptrdiff_t weight) {
          for (long i = 0; i < rounds; ++i) {
            sem.acquire(weight);
            if (inside.fetch_add(static_cast<int>(weight)) + weight > 3) over.fetch_add(1);
            if (i % 16 == 0) goro::yield();
            inside.fetch_sub(static_cast<int>(weight));
            sem.release(weight);
          }
        };
        std::thread t1 = registered_thread([&] { body(2); });
        std::thread t2 = registered_thread([&] { body(1); });
        goro::wait_group wg;
        for (int g = 0; g < 4; ++g) {
          wg.add(1);
          goro::go([&, g] {
            body(g % 3 + 1);
            wg.done();
          });
        }
        wg.wait();
        goro::blocking([&] {
          t1.join();
          t2.join();
        });
      },
      goro::options{.workers = 2});
  CHECK(over.load() == 0);
  CHECK(sem.try_acquire(3));
}

// --- shutdown --------------------------------------------------------------------------------

TEST_CASE("returning from main unwinds goroutines blocked on every sync type", "[sync][shutdown]") {
  // The objects outlive the run (goroutines blocked on them are unwound after main returns).
  goro::mutex m;
  goro::shared_mutex rw;
  goro::mutex cond_mutex;
  goro::condition_variable cv;
  goro::once o;
  goro::semaphore sem(1);
  goro::wait_group wg;
  std::atomic<int> unwound{0};
  std::atomic<int> relocked_in_unwind{0};
  static constexpr std::size_t per_kind = 3;
  goro::run(
      [&] {
        m.lock();
        rw.lock();
        sem.acquire();
        wg.add(1);
        for (std::size_t i = 0; i < per_kind; ++i) {
          goro::go([&] {
            counted c{&unwound};
            m.lock();
          });
          goro::go([&] {
            counted c{&unwound};
            rw.lock();
          });
          goro::go([&] {
            counted c{&unwound};
            rw.lock_shared();
          });
          goro::go([&] {
            counted c{&unwound};
            std::unique_lock lk(cond_mutex);
            struct check_relocked {
              std::unique_lock<goro::mutex>& lk;
              std::atomic<int>& n;
              ~check_relocked() {
                if (lk.owns_lock()) n.fetch_add(1);
              }
            } check{lk, relocked_in_unwind};
            cv.wait(lk, [] { return false; });
          });
          goro::go([&] {
            counted c{&unwound};
            o.call([] { goro::sleep_for(1h); });  // one runs it and sleeps, the others wait
          });
          goro::go([&] {
            counted c{&unwound};
            sem.acquire();
          });
          goro::go([&] {
            counted c{&unwound};
            wg.wait();
          });
        }
        REQUIRE(eventually([] {
          return parked_in("mutex") == 3 * per_kind && parked_in("cond") == per_kind &&
                 parked_in("once") == per_kind - 1 && parked_in("sleep") == 1 &&
                 parked_in("semaphore") == per_kind && parked_in("wait_group") == per_kind;
        }));
      },
      goro::options{.workers = 2});
  CHECK(unwound.load() == 7 * per_kind);
  CHECK(relocked_in_unwind.load() == per_kind);
  // Every object is still consistent: the interrupted waiters left nothing behind.
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
  rw.unlock();
  CHECK(rw.try_lock_shared());
  rw.unlock_shared();
  CHECK(rw.try_lock());
  rw.unlock();
  CHECK(cond_mutex.try_lock());
  cond_mutex.unlock();
  CHECK_FALSE(sem.try_acquire(1));  // main's permit is still held; no waiter was granted one
  sem.release(1);
  CHECK(sem.try_acquire(1));
  int runs = 0;
  o.call([&] { ++runs; });  // the sleeping run was unwound: the once is not done
  CHECK(runs == 1);
}

TEST_CASE(
    "a condition_variable waiter notified just before main returns is unwound holding the mutex",
    "[sync][cond][shutdown]") {
  // The waiter is woken by the notify, not by the shutdown, and meets the end of the run when it
  // locks the mutex again inside wait(): it is unwound there, and wait() must leave `lk` owning
  // the mutex during that unwinding, as after a normal return.
  goro::mutex m;
  goro::condition_variable cv;
  bool unwound = false;
  bool owned_while_unwinding = false;
  goro::run(
      [&] {
        goro::go([&] {
          std::unique_lock lk(m);
          struct observe {
            std::unique_lock<goro::mutex>& lk;
            bool& unwound;
            bool& owned;
            ~observe() {
              unwound = std::uncaught_exceptions() > 0;
              owned = lk.owns_lock();
            }
          } check{lk, unwound, owned_while_unwinding};
          cv.wait(lk);
        });
        REQUIRE(eventually([] { return parked_in("cond") == 1; }));
        // One worker: the waiter runs only after main has returned and the run is stopping.
        cv.notify_one();
      },
      goro::options{.workers = 1});
  REQUIRE(unwound);
  CHECK(owned_while_unwinding);
  CHECK(m.try_lock());  // and the unwinding released it
  m.unlock();
}

TEST_CASE("a mutex waiter interrupted by the shutdown leaves a starving mutex usable",
          "[sync][mutex][shutdown]") {
  // Waiters that queued long enough to put the mutex in starvation mode are interrupted; the
  // holder's unlock afterwards must find nobody to hand to and release the mutex for real.
  goro::mutex m;
  std::atomic<int> unwound{0};
  goro::run(
      [&] {
        m.lock();
        for (int i = 0; i < 4; ++i) {
          goro::go([&] {
            counted c{&unwound};
            std::lock_guard hold(m);
          });
        }
        REQUIRE(eventually([] { return parked_in("mutex") == 4; }));
        // Release and take back the mutex while the waiters compete, so that some are woken,
        // lose, and requeue after more than 1 ms (starvation mode).
        for (int i = 0; i < 20; ++i) {
          goro::sleep_for(2ms);
          m.unlock();
          m.lock();
        }
      },
      goro::options{.workers = 1});
  CHECK(unwound.load() == 4);
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
}

// The same, made certain: one waiter, woken after waiting more than 1 ms and beaten by a barging
// holder, puts the mutex in starvation mode and waits again; main returns holding it. The
// shutdown unwinds the waiter, and the unlock after the run finds nobody to hand the mutex to:
// it must leave it free, starvation mode ended.
TEST_CASE("a mutex left in starvation mode by an unwound waiter is free after its unlock",
          "[sync][mutex][shutdown]") {
  // The order built here (the waiter runs only once main has barged in) is one worker's plain
  // order, which chaos scheduling changes: under it the waiter may simply get the mutex.
  if (goro_test::chaos_scheduling()) return;
  goro::mutex m;
  bool waiter_unwound = false;
  goro::run(
      [&] {
        m.lock();
        goro::go([&] {
          goro_test::unwinding_probe probe{waiter_unwound};
          std::lock_guard hold(m);
        });
        goro_test::dump_when({"[mutex]:"});
        goro::sleep_for(2ms);  // its wait passes the 1 ms of starvation
        m.unlock();            // wakes it to compete...
        m.lock();              // ...and main barges in first (one worker)
        goro::sleep_for(2ms);  // it loses, turns the mutex to starvation mode, and waits again
        goro_test::dump_when({"[mutex]:"});
      },
      goro::options{.workers = 1});
  CHECK(waiter_unwound);
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
}

// A reader queued behind a waiting writer (writers are not starved) must go in once that writer
// leaves, also when it leaves because the shutdown unwound it: here the reader is a plain thread,
// which the shutdown does not stop, and main returns holding the lock shared, so only the
// writer's leaving can let the reader in.
TEST_CASE("a reader queued behind a writer unwound at shutdown goes in",
          "[sync][shared_mutex][shutdown]") {
  auto* m = new goro::shared_mutex;  // leaked only if the reader never gets in (see below)
  std::atomic<bool> reader_in{false};
  std::atomic<bool> reader_done{false};
  bool writer_unwound = false;
  std::thread reader;
  goro::run([&] {
    m->lock_shared();
    goro::go([&] {
      goro_test::unwinding_probe probe{writer_unwound};
      m->lock();
      m->unlock();
    });
    goro_test::dump_when({"[mutex]:"});  // the writer waits for main's shared hold
    reader = goro_test::registered_thread([&] {
      m->lock_shared();  // queues behind the writer
      reader_in = true;
      m->unlock_shared();
      reader_done = true;
    });
    goro::sleep_for(20ms);  // the reader queues (if it has not, it goes in later: no failure)
  });
  const bool in_while_main_holds = eventually([&] { return reader_in.load(); });
  m->unlock_shared();
  if (eventually([&] { return reader_done.load(); })) {
    reader.join();
    delete m;
  } else {
    reader.detach();  // still waiting on *m, which must outlive it
  }
  CHECK(writer_unwound);
  CHECK(in_while_main_holds);
}

// Likewise for a weighted semaphore: a large take at the front of the queue blocks the smaller
// ones behind it (FIFO); when the shutdown unwinds it, the queue is served again, and a plain
// thread's take that fits goes in, while main still holds its permit.
TEST_CASE("a semaphore take queued behind one unwound at shutdown goes in",
          "[sync][semaphore][shutdown]") {
  goro::semaphore sem(2);
  std::atomic<bool> thread_in{false};
  bool big_unwound = false;
  std::thread small;
  goro::run([&] {
    sem.acquire(1);
    goro::go([&] {
      goro_test::unwinding_probe probe{big_unwound};
      sem.acquire(2);  // queued: only one permit is free
      sem.release(2);
    });
    goro_test::dump_when({"[semaphore]:"});
    small = goro_test::registered_thread([&] {
      sem.acquire(1);  // fits, but queues behind the take of two
      thread_in = true;
    });
    goro::sleep_for(20ms);  // the thread queues (if it has not, it goes in later: no failure)
  });
  const bool in_while_main_holds = eventually([&] { return thread_in.load(); });
  sem.release(1);  // main's permit: lets a stuck thread in, so that it can be joined
  small.join();
  sem.release(1);
  CHECK(big_unwound);
  CHECK(in_while_main_holds);
}

TEST_CASE("a wait_group waiter unwound at shutdown does not release a later wait",
          "[sync][wait_group][shutdown]") {
  goro::wait_group wg;
  wg.add(1);
  goro::run([&] {
    goro::go([&] { wg.wait(); });
    goro::sleep_for(5ms);  // the waiter is parked; it is unwound when main returns
  });
  wg.done();  // counter zero: the departed waiter is absorbed, nothing is banked
  wg.add(1);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    wg.wait();
    returned.store(true);
  });
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(returned.load());
  wg.done();
  waiter.join();
  CHECK(returned.load());
}

TEST_CASE(
    "sync waiters granted the object just before main returns are unwound holding their grant",
    "[sync][shutdown]") {
  // Each goroutine is parked in an acquire when main's last steps — releases, which are not stop
  // points — grant it what it waits for: the mutex (handed off in starvation mode, or released to
  // a woken waiter), the shared_mutex (a last reader's hand-off to a writer, a writer's admission
  // of a reader), the semaphore's permit, the once (whose runner threw, so a waiter takes over
  // the run), the wait_group's release. One worker: the grantees run only once main has returned,
  // so the acquire must return what it was granted, and the goroutine is unwound at its next stop
  // point, where its guard gives the grant back. Nothing granted may be lost for the objects'
  // later users.
  goro::mutex starving;
  goro::mutex woken;
  goro::shared_mutex handed;
  goro::shared_mutex admitted;
  goro::semaphore sem(1);
  goro::once o;
  goro::wait_group wg;
  enum grantee { starving_mutex, woken_mutex, writer, reader, permit, once_runner, group_waiter };
  constexpr int grantees = 7;
  std::array<bool, grantees> unwound_holding{};
  int ended_before = 0;  // grantees that held their grant and let go before main returned
  // probe: made once the goroutine holds its grant; says whether the shutdown unwound it then.
  struct probe {
    bool& seen;
    int& ended_before;
    ~probe() {
      seen = std::uncaught_exceptions() > 0;
      if (!seen) ++ended_before;
    }
  };
  goro::run(
      [&] {
        starving.lock();
        goro::go([&] {
          std::unique_lock lk(starving);
          probe p{unwound_holding[starving_mutex], ended_before};
          goro::yield();
        });
        REQUIRE(eventually([] { return parked_in("mutex") == 1; }));
        // Put `starving` in starvation mode: its waiter, woken to compete after more than 1 ms,
        // loses to main's lock and queues again, starving; main's unlock then hands it over.
        goro::sleep_for(2ms);
        starving.unlock();
        starving.lock();
        goro::yield();  // the waiter loses and requeues

        woken.lock();
        goro::go([&] {
          std::unique_lock lk(woken);
          probe p{unwound_holding[woken_mutex], ended_before};
          goro::yield();
        });
        handed.lock_shared();
        goro::go([&] {
          std::unique_lock lk(handed);
          probe p{unwound_holding[writer], ended_before};
          goro::yield();
        });
        admitted.lock();
        goro::go([&] {
          std::shared_lock lk(admitted);
          probe p{unwound_holding[reader], ended_before};
          goro::yield();
        });
        sem.acquire();
        goro::go([&] {
          sem.acquire();
          struct give_back {
            goro::semaphore& s;
            ~give_back() { s.release(); }
          } g{sem};
          probe p{unwound_holding[permit], ended_before};
          goro::yield();
        });
        wg.add(1);
        goro::go([&] {
          wg.wait();
          probe p{unwound_holding[group_waiter], ended_before};
          goro::yield();
        });
        // (Under chaos the starving mutex's waiter may have taken it early and be gone.)
        REQUIRE(eventually([&] {
          return parked_in("mutex") + static_cast<std::size_t>(ended_before) == 4 &&
                 parked_in("semaphore") == 1 && parked_in("wait_group") == 1;
        }));
        try {
          o.call([&] {
            goro::go([&] {
              o.call([&] {
                probe p{unwound_holding[once_runner], ended_before};
                goro::yield();
              });
            });
            REQUIRE(eventually([] { return parked_in("once") == 1; }));
            throw std::runtime_error("the first run fails");  // releases the waiter
          });
        } catch (const std::runtime_error&) {
        }
        // The other grants: no stop point from the end of the once's run to the end of main.
        starving.unlock();
        woken.unlock();
        handed.unlock_shared();
        admitted.unlock();
        sem.release();
        wg.done();
      },
      goro::options{.workers = 1});
  if (!goro_test::chaos_scheduling()) {  // chaos may let a grantee run before main returns
    for (int i = 0; i < grantees; ++i) {
      INFO("grantee " << i);
      CHECK(unwound_holding[static_cast<std::size_t>(i)]);
    }
  }
  // Every grant was given back.
  CHECK(starving.try_lock());
  starving.unlock();
  CHECK(woken.try_lock());
  woken.unlock();
  CHECK(handed.try_lock());
  handed.unlock();
  CHECK(admitted.try_lock());
  admitted.unlock();
  CHECK(sem.try_acquire(1));
  sem.release(1);
  wg.wait();
  int runs = 0;
  o.call([&] { ++runs; });  // the run taken over was unwound: the once is not done
  CHECK(runs == 1);
}

// --- ports of Go 1.19's sync tests -----------------------------------------------------------
//
// Each test below ports one `func Test...` of Go's src/sync. Go's tests already covered by a
// test above: TestOnce ("once runs its function exactly once for 100 contending goroutines"),
// TestOncePanic (its first half: "a once whose function throws is not done and the next call
// runs it again"; goro retries where Go stays done, on purpose), TestWaitGroupMisuse ("a negative
// wait_group counter throws and leaves the counter unchanged"), TestWaitGroupRace ("wait_group
// survives add/done/wait races").

namespace {

// go_or_thread: runs `fn` on a new goroutine, or on a new plain thread appended to `threads`
// when `as_thread` (API 1.5: sync works from plain threads too). Pair with join_all.
template <class F>
void go_or_thread(bool as_thread, std::vector<std::thread>& threads, F fn) {
  if (as_thread) {
    threads.push_back(registered_thread(std::move(fn)));
  } else {
    goro::go(std::move(fn));
  }
}

// join_all: joins the threads of go_or_thread from a goroutine, without blocking its worker.
void join_all(std::vector<std::thread>& threads) {
  goro::blocking([&] {
    for (auto& t : threads) t.join();
  });
  threads.clear();
}

// busy_loop: Go's `for i := 0; i < 100; i++ {}`, which the compiler may not remove.
void busy_loop() {
  for (int i = 0; i < 100; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
}

// signalled: whether a select of `ch` against a timer of `limit` picked `ch`. A liveness bound,
// not a timing assertion: every caller expects `ch` to be ready long before.
template <class T>
bool signalled(const goro::chan<T>& ch, std::chrono::nanoseconds limit) {
  goro::timer timeout(limit);
  const bool got = goro::select(goro::on_recv(ch), goro::on_recv(timeout.c())) == 0;
  timeout.stop();
  return got;
}

}  // namespace

namespace {

// exclusion_probe: counts the times a party found another inside the section it guards.
struct exclusion_probe {
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  void pass_through() {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    inside.fetch_sub(1);
  }
};

// in_ten_parties: runs `body` on ten parties at once, every second one a plain thread when
// `with_threads`, and returns once all ten have finished. Go's sync tests hammer this way.
template <class F>
void in_ten_parties(unsigned workers, bool with_threads, F body) {
  goro::run(
      [&] {
        goro::chan<bool> cdone;
        std::vector<std::thread> threads;
        for (int i = 0; i < 10; ++i) {
          go_or_thread(with_threads && i % 2 == 1, threads, [&body, cdone] {
            body();
            cdone.send(true);
          });
        }
        for (int i = 0; i < 10; ++i) cdone.recv();
        join_all(threads);
      },
      goro::options{.workers = workers});
}

}  // namespace

// Go's sync TestSemaphore (the runtime semaphore it hammers is goro::semaphore here).
TEST_CASE("a one-permit semaphore survives ten parties hammering acquire and release",
          "[sync][semaphore][go]") {
  const bool with_threads = GENERATE(false, true);
  const long loops = scaled(1000, 10);
  exclusion_probe probe;
  goro::semaphore s(1);
  in_ten_parties(2, with_threads, [&] {
    for (long j = 0; j < loops; ++j) {
      s.acquire();
      probe.pass_through();
      s.release();
    }
  });
  CHECK(probe.overlaps.load() == 0);
  CHECK(s.try_acquire(1));
}

// x/sync's TestWeightedDoesntBlockIfTooBig: an acquire of more than the capacity can never
// succeed; it waits (in x/sync, for its context; here, for the end of the run) without queueing,
// so the acquires after it go on. Its goroutine is stopped when main returns.
TEST_CASE("an acquire of more than the capacity blocks only itself", "[sync][semaphore][go]") {
  const unsigned workers = GENERATE(1U, 2U);
  const bool from_thread = GENERATE(false, true);
  goro::run(
      [from_thread] {
        const std::ptrdiff_t n = 2;
        goro::semaphore sem(n);
        goro::go([&] { sem.acquire(n + 1); });
        goro_test::dump_when({"[semaphore]:"});
        goro::wait_group done;
        const auto small_ones = [&] {
          for (int i = 0; i < 6; ++i) {
            sem.acquire(1);
            goro::yield();
            sem.release(1);
          }
          done.done();
        };
        done.add(2);
        goro::go(small_ones);
        std::thread thread;
        if (from_thread) {
          thread = std::thread(small_ones);
        } else {
          goro::go(small_ones);
        }
        done.wait();
        if (thread.joinable()) thread.join();
        CHECK(sem.try_acquire(n));  // the blocked acquire took nothing
        sem.release(n);
        // main and the one still blocked, once the small ones have exited
        CHECK(goro_test::live_goroutines_when(2) == 2);
      },
      goro::options{.workers = workers});
}

TEST_CASE("a lone acquire of more than the capacity is a deadlock", "[sync][semaphore][deadlock]") {
  goro::semaphore sem(1);
  try {
    goro::run([&] { sem.acquire(2); }, goro::options{.workers = 1});
    FAIL("run returned");
  } catch (const goro::deadlock_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("[semaphore]:"));
  }
  CHECK(sem.try_acquire(1));
  sem.release(1);
}

// Go's sync TestMutex (its try_lock checks on a held and a free mutex are covered by "try_lock
// takes a free mutex and fails on a held one").
TEST_CASE("mutex survives ten parties mixing lock and try_lock", "[sync][mutex][go]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const bool with_threads = GENERATE(false, true);
  const long loops = scaled(1000, 10);
  exclusion_probe probe;
  goro::mutex m;
  in_ten_parties(workers, with_threads, [&] {
    for (long j = 0; j < loops; ++j) {
      if (j % 3 == 0) {
        if (m.try_lock()) {
          probe.pass_through();
          m.unlock();
        }
        continue;
      }
      m.lock();
      probe.pass_through();
      m.unlock();
    }
  });
  CHECK(probe.overlaps.load() == 0);
  CHECK(m.try_lock());
  m.unlock();
}

// Go's sync TestMutexMisuse, its cases RWMutex.Unlock3 and RWMutex.RUnlock3 (Mutex.Unlock and
// Mutex.Unlock2 are covered by "unlock of an unlocked mutex throws goro::error and changes
// nothing", the other RWMutex cases by "shared_mutex misuse throws goro::error and changes
// nothing"). Go's fatal error is goro::error here.
TEST_CASE("a second unlock or unlock_shared of a shared_mutex throws goro::error",
          "[sync][shared_mutex][misuse][go]") {
  goro::shared_mutex rw;
  rw.lock();
  rw.unlock();
  CHECK_THROWS_AS(rw.unlock(), goro::error);
  rw.lock_shared();
  rw.unlock_shared();
  CHECK_THROWS_AS(rw.unlock_shared(), goro::error);
  CHECK(rw.try_lock());  // the failed calls changed nothing
  rw.unlock();
  CHECK(rw.try_lock_shared());
  rw.unlock_shared();
}

// Go's sync TestMutexFairness.
TEST_CASE("a mutex that another party keeps re-locking is still acquired ten times",
          "[sync][mutex][fairness][go]") {
  const int thread_party = GENERATE(0, 1, 2);  // 1: the holder is a plain thread, 2: the locker
  goro::mutex mu;
  goro::wait_group finished;
  bool acquired_ten_times = false;
  goro::run(
      [&] {
        goro::chan<bool> stop;
        goro::chan<bool> done(1);
        std::vector<std::thread> threads;
        finished.add(2);
        go_or_thread(thread_party == 1, threads, [&mu, &finished, stop] {
          for (;;) {
            mu.lock();
            goro::sleep_for(100us);
            mu.unlock();
            if (goro::select(goro::on_recv(stop), goro::on_default()) == 0) break;
          }
          finished.done();
        });
        go_or_thread(thread_party == 2, threads, [&mu, &finished, done] {
          for (int i = 0; i < 10; ++i) {
            goro::sleep_for(100us);
            mu.lock();
            mu.unlock();
          }
          done.send(true);
          finished.done();
        });
        // Go gives up after 10 s: a liveness bound, not a timing assertion.
        acquired_ten_times = signalled(done, 10s);
        stop.close();
        finished.wait();
        join_all(threads);
      },
      goro::options{.workers = 2});
  CHECK(acquired_ten_times);
}

// Go's sync TestParallelReaders.
TEST_CASE("shared_mutex holds every parallel reader at once", "[sync][shared_mutex][go]") {
  const auto config = GENERATE(table<int, unsigned>({{1, 4}, {3, 4}, {4, 2}}));
  const int readers = std::get<0>(config);
  const unsigned workers = std::get<1>(config);
  const bool with_threads = GENERATE(false, true);
  goro::shared_mutex m;
  goro::run(
      [&] {
        goro::chan<bool> clocked;
        goro::chan<bool> cunlock;
        goro::chan<bool> cdone;
        std::vector<std::thread> threads;
        for (int i = 0; i < readers; ++i) {
          go_or_thread(with_threads && i % 2 == 0, threads, [&m, clocked, cunlock, cdone] {
            m.lock_shared();
            clocked.send(true);
            cunlock.recv();
            m.unlock_shared();
            cdone.send(true);
          });
        }
        // Every reader holds the lock before any is told to release it.
        for (int i = 0; i < readers; ++i) clocked.recv();
        for (int i = 0; i < readers; ++i) cunlock.send(true);
        for (int i = 0; i < readers; ++i) cdone.recv();
        join_all(threads);
      },
      goro::options{.workers = workers});
  CHECK(m.try_lock());
  m.unlock();
}

// Go's sync TestRWMutex (its try_lock checks are covered by "shared_mutex try_lock and
// try_lock_shared respect the holders"), with Go's ten (workers, readers) configurations.
TEST_CASE("shared_mutex hammered by two writers and many readers keeps them apart",
          "[sync][shared_mutex][stress][go]") {
  const auto config = GENERATE(table<unsigned, int>(
      {{1, 1}, {1, 3}, {1, 10}, {4, 1}, {4, 3}, {4, 10}, {10, 1}, {10, 3}, {10, 10}, {10, 5}}));
  const unsigned workers = std::get<0>(config);
  const int readers = std::get<1>(config);
  const bool with_threads = GENERATE(false, true);
  const long iterations = scaled(1000, 10);
  std::atomic<int> activity{0};  // active readers + 10000 * active writers
  std::atomic<int> bad_reads{0};
  std::atomic<int> bad_writes{0};
  goro::shared_mutex rwm;
  goro::run(
      [&] {
        goro::chan<bool> cdone;
        std::vector<std::thread> threads;
        auto writer = [&, cdone] {
          for (long i = 0; i < iterations; ++i) {
            rwm.lock();
            if (activity.fetch_add(10000) + 10000 != 10000) bad_writes.fetch_add(1);
            busy_loop();
            activity.fetch_sub(10000);
            rwm.unlock();
          }
          cdone.send(true);
        };
        auto reader = [&, cdone] {
          for (long i = 0; i < iterations; ++i) {
            rwm.lock_shared();
            const int n = activity.fetch_add(1) + 1;
            if (n < 1 || n >= 10000) bad_reads.fetch_add(1);
            busy_loop();
            activity.fetch_sub(1);
            rwm.unlock_shared();
          }
          cdone.send(true);
        };
        go_or_thread(false, threads, writer);
        int i = 0;
        for (; i < readers / 2; ++i) go_or_thread(with_threads && i % 2 == 1, threads, reader);
        go_or_thread(with_threads, threads, writer);
        for (; i < readers; ++i) go_or_thread(with_threads && i % 2 == 1, threads, reader);
        for (int k = 0; k < 2 + readers; ++k) cdone.recv();
        join_all(threads);
      },
      goro::options{.workers = workers});
  CHECK(bad_reads.load() == 0);
  CHECK(bad_writes.load() == 0);
  CHECK(activity.load() == 0);
}

// Go's sync TestRLocker. Go's RLocker is std::shared_lock over goro::shared_mutex here; the
// locks themselves travel over the channels and the receiving side releases them.
TEST_CASE("two read locks keep a writer out until both are released and its lock keeps readers out",
          "[sync][shared_mutex][go]") {
  using read_lock = std::shared_lock<goro::shared_mutex>;
  using write_lock = std::unique_lock<goro::shared_mutex>;
  static constexpr int n = 10;
  const bool as_thread = GENERATE(false, true);
  goro::shared_mutex wl;
  int writer_got_in = 0;  // while a read lock was still held
  int reader_got_in = 0;  // while the write lock was held
  goro::run(
      [&] {
        goro::chan<std::pair<read_lock, read_lock>> rlocked(1);
        goro::chan<write_lock> wlocked(1);
        std::vector<std::thread> threads;
        go_or_thread(as_thread, threads, [&wl, rlocked, wlocked] {
          for (int i = 0; i < n; ++i) {
            read_lock first(wl);
            read_lock second(wl);  // a second read lock by the same party
            rlocked.send({std::move(first), std::move(second)});
            wlocked.send(write_lock(wl));
          }
        });
        for (int i = 0; i < n; ++i) {
          std::optional<std::pair<read_lock, read_lock>> reads = rlocked.recv();
          REQUIRE(reads.has_value());
          reads->first.unlock();
          if (wlocked.try_recv().has_value()) ++writer_got_in;
          reads->second.unlock();
          std::optional<write_lock> write = wlocked.recv();
          REQUIRE(write.has_value());
          if (rlocked.try_recv().has_value()) ++reader_got_in;
          write->unlock();
        }
        join_all(threads);
      },
      goro::options{.workers = 2});
  CHECK(writer_got_in == 0);
  CHECK(reader_got_in == 0);
  CHECK(wl.try_lock());
  wl.unlock();
}

// Go's sync TestCondSignal.
TEST_CASE("each notify_one wakes exactly one waiter", "[sync][cond][go]") {
  const bool with_threads = GENERATE(false, true);
  const int n = 2;
  goro::mutex m;
  goro::condition_variable c;
  int awake_too_early = 0;
  int awake_too_many = 0;
  goro::run(
      [&] {
        goro::chan<bool> running(n);
        goro::chan<bool> awake(n);
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
          go_or_thread(with_threads && i == 1, threads, [&m, &c, running, awake] {
            std::unique_lock lk(m);
            running.send(true);
            c.wait(lk);
            awake.send(true);
          });
        }
        for (int i = 0; i < n; ++i) running.recv();  // everyone is running
        for (int left = n; left > 0; --left) {
          if (awake.try_recv().has_value()) ++awake_too_early;
          {
            std::lock_guard hold(m);  // the waiters hold m until they wait
            c.notify_one();
          }
          awake.recv();  // deadlocks if nobody wakes up
          if (awake.try_recv().has_value()) ++awake_too_many;
        }
        c.notify_one();  // nobody waits: a no-op
        join_all(threads);
      },
      goro::options{.workers = 2});
  CHECK(awake_too_early == 0);
  CHECK(awake_too_many == 0);
}

// Go's sync TestCondSignalGenerations.
TEST_CASE("notify_one wakes a waiter that waited before it and not a later one",
          "[sync][cond][go]") {
  const bool with_threads = GENERATE(false, true);
  const int n = static_cast<int>(scaled(100, 5));
  goro::mutex m;
  goro::condition_variable c;
  std::vector<int> woke;  // which waiter each round's awake received
  goro::run(
      [&] {
        goro::chan<bool> running(n);
        goro::chan<int> awake(n);
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
          go_or_thread(with_threads && i % 2 == 1, threads, [&m, &c, running, awake, i] {
            std::unique_lock lk(m);
            running.send(true);
            c.wait(lk);
            awake.send(i);
          });
          // Waiter i-1 was notified before waiter i began waiting: it, not i, must wake.
          if (i > 0) woke.push_back(awake.recv().value());
          running.recv();
          std::lock_guard hold(m);
          c.notify_one();
        }
        woke.push_back(awake.recv().value());
        join_all(threads);
      },
      goro::options{.workers = 2});
  std::vector<int> expected;
  for (int i = 0; i < n; ++i) expected.push_back(i);
  CHECK(woke == expected);
}

// Go's sync TestCondBroadcast.
TEST_CASE("notify_all wakes every waiter exactly once round after round", "[sync][cond][go]") {
  const bool with_threads = GENERATE(false, true);
  const int n = static_cast<int>(with_threads ? scaled(40, 4) : scaled(200, 10));
  goro::mutex m;
  goro::condition_variable c;
  bool exiting = false;
  goro::wait_group finished;
  int awake_too_early = 0;
  int woke_twice = 0;
  int still_running = 0;
  goro::run(
      [&] {
        goro::chan<int> running(n);
        goro::chan<int> awake(n);
        std::vector<std::thread> threads;
        for (int g = 0; g < n; ++g) {
          finished.add(1);
          go_or_thread(with_threads && g % 5 == 0, threads,
                       [&m, &c, &exiting, &finished, running, awake, g] {
                         {
                           std::unique_lock lk(m);
                           while (!exiting) {
                             running.send(g);
                             c.wait(lk);
                             awake.send(g);
                           }
                         }
                         finished.done();
                       });
        }
        for (int round = 0; round < n; ++round) {
          for (int i = 0; i < n; ++i) running.recv();  // deadlocks unless all n run
          if (round == n - 1) {
            std::lock_guard hold(m);
            exiting = true;
          }
          if (awake.try_recv().has_value()) ++awake_too_early;
          {
            std::lock_guard hold(m);
            c.notify_all();
          }
          std::vector<bool> seen(static_cast<std::size_t>(n));
          for (int i = 0; i < n; ++i) {
            const auto g = static_cast<std::size_t>(awake.recv().value());
            if (seen[g]) ++woke_twice;
            seen[g] = true;
          }
        }
        finished.wait();
        if (running.try_recv().has_value()) ++still_running;
        c.notify_all();  // nobody waits: a no-op
        join_all(threads);
      },
      goro::options{.workers = 2});
  CHECK(awake_too_early == 0);
  CHECK(woke_twice == 0);
  CHECK(still_running == 0);
}

// Go's sync TestRace (a condition_variable test, despite its name).
TEST_CASE("condition_variable passes a value along three parties without a misdirected wake-up",
          "[sync][cond][go]") {
  const bool with_threads = GENERATE(false, true);
  const long rounds = with_threads ? scaled(100, 10) : scaled(1000, 50);
  std::atomic<int> wrong{0};
  goro::run(
      [&] {
        std::vector<std::thread> threads;
        for (long r = 0; r < rounds; ++r) {
          goro::mutex m;
          goro::condition_variable c;
          int x = 0;
          goro::chan<bool> done;
          const auto thread_party = with_threads ? r % 3 : -1;
          go_or_thread(thread_party == 0, threads, [&m, &c, &x, &wrong, done] {
            {
              std::unique_lock lk(m);
              x = 1;
              c.wait(lk);
              if (x != 2) wrong.fetch_add(1);
              x = 3;
              c.notify_one();
            }
            done.send(true);
          });
          go_or_thread(thread_party == 1, threads, [&m, &c, &x, done] {
            {
              std::unique_lock lk(m);
              for (;;) {
                if (x == 1) {
                  x = 2;
                  c.notify_one();
                  break;
                }
                lk.unlock();
                goro::yield();
                lk.lock();
              }
            }
            done.send(true);
          });
          go_or_thread(thread_party == 2, threads, [&m, &c, &x, &wrong, done] {
            {
              std::unique_lock lk(m);
              for (;;) {
                if (x == 2) {
                  c.wait(lk);
                  if (x != 3) wrong.fetch_add(1);
                  break;
                }
                if (x == 3) break;
                lk.unlock();
                goro::yield();
                lk.lock();
              }
            }
            done.send(true);
          });
          for (int i = 0; i < 3; ++i) done.recv();
        }
        join_all(threads);
      },
      goro::options{.workers = 2});
  CHECK(wrong.load() == 0);
}

// Go's sync TestCondSignalStealing.
TEST_CASE("notify_all racing a new waiter still wakes the waiter that was already waiting",
          "[sync][cond][go]") {
  const bool as_thread = GENERATE(false, true);  // the first waiter is a plain thread
  const long iterations = as_thread ? scaled(200, 20) : scaled(1000, 50);
  struct state {
    goro::mutex m;
    goro::condition_variable cond;
    bool done = false;
  };
  goro::wait_group finished;
  long missed = 0;
  goro::run(
      [&] {
        std::vector<std::thread> threads;
        for (long iter = 0; iter < iterations; ++iter) {
          auto st = std::make_shared<state>();
          goro::chan<bool> ch;
          finished.add(3);
          go_or_thread(as_thread, threads, [st, ch, &finished] {
            {
              std::unique_lock lk(st->m);
              ch.send(true);
              st->cond.wait(lk);
            }
            ch.send(true);
            finished.done();
          });
          ch.recv();
          { std::lock_guard hold(st->m); }  // the waiter is now inside wait
          // The broadcast and a new waiter race; the new one may or may not be woken, but the
          // first one must be.
          goro::go([st, &finished] {
            st->cond.notify_all();
            finished.done();
          });
          goro::go([st, &finished] {
            {
              std::unique_lock lk(st->m);
              while (!st->done) st->cond.wait(lk);
            }
            finished.done();
          });
          // Go gives up after 2 s: a liveness bound, not a timing assertion.
          const bool woke = signalled(ch, 10s);
          if (!woke) ++missed;
          {
            std::lock_guard hold(st->m);
            st->done = true;
          }
          st->cond.notify_all();  // releases the second waiter if it missed the broadcast
          if (!woke) ch.recv();
        }
        finished.wait();
        join_all(threads);
      },
      goro::options{.workers = 2});
  CHECK(missed == 0);
}

// Go's sync TestCondCopy: Go detects a copied Cond at run time; goro's sync types cannot be
// copied (nor moved) at all.
TEST_CASE("condition_variable and the other sync types cannot be copied or moved",
          "[sync][cond][go]") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::condition_variable>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<goro::condition_variable>);
  STATIC_REQUIRE_FALSE(std::is_move_constructible_v<goro::condition_variable>);
  STATIC_REQUIRE_FALSE(std::is_move_assignable_v<goro::condition_variable>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::mutex>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::shared_mutex>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::wait_group>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::once>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::semaphore>);
}

// Go's sync TestWaitGroup.
TEST_CASE("a wait_group barrier used eight times in a row releases nobody early",
          "[sync][wait_group][go]") {
  const bool with_threads = GENERATE(false, true);
  constexpr int n = 16;
  goro::wait_group wg1;
  goro::wait_group wg2;
  int released_early = 0;
  goro::run(
      [&] {
        std::vector<std::thread> threads;
        for (long rep = 0; rep < scaled(8, 4); ++rep) {  // the same wait_groups, reused
          wg1.add(n);
          wg2.add(n);
          goro::chan<bool> exited(n);
          for (int i = 0; i < n; ++i) {
            go_or_thread(with_threads && i % 4 == 0, threads, [&wg1, &wg2, exited] {
              wg1.done();
              wg2.wait();
              exited.send(true);
            });
          }
          wg1.wait();
          int received = 0;
          for (int i = 0; i < n; ++i) {
            if (exited.try_recv().has_value()) {
              ++released_early;
              ++received;
            }
            wg2.done();
          }
          for (; received < n; ++received) exited.recv();  // blocks if one is never released
          join_all(threads);
        }
      },
      goro::options{.workers = 2});
  CHECK(released_early == 0);
}

// Go's sync TestWaitGroupAlign.
TEST_CASE("a wait_group works as a member placed right after a char", "[sync][wait_group][go]") {
  struct with_char {
    char x;
    goro::wait_group wg;
  };
  goro::run([] {
    with_char x{};
    x.wg.add(1);
    goro::go([p = &x] { p->wg.done(); });
    x.wg.wait();
  });
  SUCCEED();
}

// Ports of Go 1.19's test/fixedbugs programs about sync follow (tag [go]); chan_test lists the
// fixedbugs programs skipped. Skipped here: issue27695 and issue5493 (a WaitGroup beside reflect
// calls and finalizers, which are what they check).

// Go's test/fixedbugs/bug474.go: once.Do(t.M), a method value, did not call the method (the
// compiler's escape analysis lost its receiver).
TEST_CASE("once calls a member function bound to its object", "[sync][once][go]") {
  struct T {
    goro::once once;
    bool called = false;
    void M() { called = true; }
  };
  T t;
  t.once.call([&t] { t.M(); });  // t.once.Do(t.M)
  CHECK(t.called);               // "not called"
}

// --- From the audit of types and call forms at the edges of the API ([audit-types]) ---------

// once.call(f) with an f whose result is [[nodiscard]]: call() dropped it with a plain call,
// which -Wunused-result reports in the user's build (an error under -Werror).
TEST_CASE("once calls a function whose result is [[nodiscard]] and drops the result",
          "[sync][once][audit-types]") {
  std::atomic<int> calls{0};
  goro::once once;
  once.call(audit_types::makes_important{&calls});
  once.call(audit_types::makes_important{&calls});
  CHECK(calls == 1);
}

namespace audit_types {

// Namespace-scope sync objects: constant-initialised (constinit compiles), so usable from other
// translation units' static initialisers, before main, in any order.
constinit goro::mutex global_mutex;
constinit goro::shared_mutex global_shared_mutex;
constinit goro::wait_group global_wait_group;
constinit goro::once global_once;
constinit goro::condition_variable global_cond;

// guarded: sync objects as members of a class, used through its methods.
class guarded {
 public:
  void add(int n) {
    std::lock_guard lock(mutex_);
    total_ += n;
    changed_.notify_all();
  }
  int wait_for(int at_least) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return total_ >= at_least; });
    return total_;
  }

 private:
  goro::mutex mutex_;
  goro::condition_variable changed_;
  int total_ = 0;
};

// truthy: a predicate result with only an explicit conversion to bool.
struct truthy {
  bool value;
  explicit operator bool() const { return value; }
};

}  // namespace audit_types

TEST_CASE("sync objects work as constinit statics, function-local statics and members",
          "[sync][audit-types]") {
  using namespace audit_types;
  static goro::mutex local_mutex;  // a function-local static
  static goro::semaphore local_semaphore(2);
  int counter = 0;
  goro::run(
      [&] {
        guarded g;
        global_wait_group.add(20);
        for (int i = 0; i < 20; ++i) {
          goro::go([&, i] {
            {
              std::scoped_lock both(global_mutex, local_mutex);
              ++counter;
            }
            { std::shared_lock read(global_shared_mutex); }
            local_semaphore.acquire();
            global_once.call([&] { g.add(1000); });
            local_semaphore.release();
            g.add(i);
            global_wait_group.done();
          });
        }
        CHECK(g.wait_for(1000 + 190) == 1190);
        global_wait_group.wait();
        std::unique_lock lock(global_mutex);
        global_cond.wait(lock, [] { return truthy{true}; });  // explicit bool: never waits
      },
      goro::options{.workers = 2});
  CHECK(counter == 20);
  CHECK(global_mutex.try_lock());
  global_mutex.unlock();
}

TEST_CASE("once calls rvalue-only, mutable and std::function callables",
          "[sync][once][audit-types]") {
  struct rvalue_only {
    int* hits;
    void operator()() && { ++*hits; }
  };
  int hits = 0;
  goro::once first;
  first.call(rvalue_only{&hits});  // forwarded: invoked as the rvalue it is
  first.call(rvalue_only{&hits});
  CHECK(hits == 1);
  goro::once second;
  auto stateful = [n = 0, &hits]() mutable { hits += ++n * 10; };
  second.call(stateful);  // an lvalue: the caller's object runs
  second.call(stateful);
  CHECK(hits == 11);
  goro::once third;
  std::function<void()> wrapped = [&hits] { hits += 100; };
  third.call(wrapped);
  CHECK(hits == 111);
}

TEST_CASE("once and condition_variable take callables of a namespace that hijacks names",
          "[sync][audit-types]") {
  std::atomic<int> total{0};
  goro::once once;
  once.call(audit_hijack::adder{&total});
  once.call(audit_hijack::adder{&total});
  CHECK(total == 1);
  goro::mutex m;
  goro::condition_variable cv;
  std::unique_lock lock(m);
  struct ready {
    audit_hijack::point p;
    bool operator()() const { return p.x > 0; }
  };
  cv.wait(lock, ready{audit_hijack::point{1}});
}

// Ports of golang.org/x/sync/semaphore's semaphore_test.go and semaphore_example_test.go
// (TestWeightedDoesntBlockIfTooBig is ported above, next to goro's own cases for an acquire of
// more than the capacity; the acquires that take a context, acquire(ctx, n), follow these).
// Skipped: the benchmarks.
namespace semaphore_ports {

// collatz_steps: the steps the Collatz sequence from n takes to reach 1.
int collatz_steps(long n) {
  int steps = 0;
  for (; n > 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
  return steps;
}

}  // namespace semaphore_ports

// x/sync's TestWeighted: as many goroutines as workers hammer a semaphore of that capacity,
// goroutine i acquiring i permits (0 included) and sleeping up to 1 ms before releasing them.
// Go's test only checks that it ends; this one also checks that the permits held at once never
// exceed the capacity.
TEST_CASE("goroutines of every weight hammering a weighted semaphore", "[sync][semaphore][go]") {
  const unsigned workers = GENERATE(1U, 2U, 4U);
  goro::run(
      [] {
        const auto n = static_cast<std::ptrdiff_t>(goro::num_workers());
        const long loops = scaled(2000, 10) / n;
        goro::semaphore sem(n);
        std::atomic<std::ptrdiff_t> held{0};
        std::atomic<std::ptrdiff_t> most{0};
        goro::wait_group wg;
        wg.add(n);
        for (std::ptrdiff_t i = 0; i < n; ++i) {
          goro::go([&, i] {
            std::minstd_rand random(static_cast<unsigned>(i) + 1);
            for (long j = 0; j < loops; ++j) {
              sem.acquire(i);
              const std::ptrdiff_t now = held.fetch_add(i) + i;
              std::ptrdiff_t seen = most.load();
              while (now > seen && !most.compare_exchange_weak(seen, now)) {
              }
              goro::sleep_for(std::chrono::nanoseconds(random() % 1'000'000));
              held.fetch_sub(i);
              sem.release(i);
            }
            wg.done();
          });
        }
        wg.wait();
        CHECK(most.load() <= n);
        CHECK(sem.try_acquire(n));  // every permit came back
      },
      goro::options{.workers = workers});
}

// x/sync's TestWeightedPanic: a release of permits nobody acquired fails loudly (a panic there,
// goro::error here).
TEST_CASE("a release of an unacquired weighted semaphore throws", "[sync][semaphore][go]") {
  goro::semaphore w(1);
  CHECK_THROWS_AS(w.release(1), goro::error);
  CHECK_THROWS_WITH(w.release(1), Catch::Contains("released more than held"));
}

// x/sync's TestWeightedTryAcquire.
TEST_CASE("try_acquire on a weighted semaphore as x/sync's TryAcquire", "[sync][semaphore][go]") {
  goro::semaphore sem(2);
  std::vector<bool> tries;
  sem.acquire(1);
  tries.push_back(sem.try_acquire(1));
  tries.push_back(sem.try_acquire(1));
  sem.release(2);
  tries.push_back(sem.try_acquire(1));
  sem.acquire(1);
  tries.push_back(sem.try_acquire(1));
  CHECK(tries == std::vector<bool>{true, false, true, false});
}

// x/sync's TestLargeAcquireDoesntStarve: goroutines each holding one permit keep releasing and
// re-acquiring it; an acquire of every permit, queued among them, is served all the same (it
// hangs if a release lets the small re-acquires overtake it).
TEST_CASE("a large acquire among goroutines cycling single permits is not starved",
          "[sync][semaphore][go]") {
  const unsigned workers = GENERATE(1U, 2U, 4U);
  goro::run(
      [] {
        const auto n = static_cast<std::ptrdiff_t>(goro::num_workers());
        goro::semaphore sem(n);
        std::atomic<bool> running{true};
        goro::wait_group wg;
        wg.add(n);
        for (std::ptrdiff_t i = n; i > 0; --i) {
          sem.acquire(1);
          goro::go([&] {
            while (running.load()) {
              goro::sleep_for(1ms);
              sem.release(1);
              sem.acquire(1);
            }
            sem.release(1);
            wg.done();
          });
        }
        sem.acquire(n);
        running.store(false);
        sem.release(n);
        wg.wait();
        CHECK(sem.try_acquire(n));
      },
      goro::options{.workers = workers});
}

// x/sync's semaphore Example_workerPool: at most num_workers() goroutines at a time compute
// Collatz step counts, each holding a permit; acquiring every permit at the end waits for the
// last of them.
TEST_CASE("a weighted semaphore bounds a worker pool", "[sync][semaphore][go]") {
  const unsigned workers = GENERATE(1U, 2U, 4U);
  const auto out = goro::run(
      [] {
        const auto max_workers = static_cast<std::ptrdiff_t>(goro::num_workers());
        goro::semaphore sem(max_workers);
        std::vector<int> steps(32);
        for (std::size_t i = 0; i < steps.size(); ++i) {
          sem.acquire(1);
          goro::go([&sem, &steps, i] {
            steps[i] = semaphore_ports::collatz_steps(static_cast<long>(i) + 1);
            sem.release(1);
          });
        }
        sem.acquire(max_workers);
        return steps;
      },
      goro::options{.workers = workers});
  CHECK(out == std::vector<int>{0,  1,  7,  2, 5, 8,  16, 3,  19, 6,  14,  9,  9,  17, 17,  4,
                                12, 20, 20, 7, 7, 15, 15, 10, 23, 10, 111, 18, 18, 18, 106, 5});
}

// x/sync's TestWeightedAcquire: acquires bounded by a 10 ms timeout get a permit when one is
// free and give up with deadline_exceeded when none is.
TEST_CASE("acquires bounded by a timeout as x/sync's TestWeightedAcquire",
          "[sync][semaphore][context][go]") {
  const bool on_goroutine = GENERATE(false, true);
  const auto body = [] {
    const goro::context ctx = goro::background();
    goro::semaphore sem(2);
    std::vector<std::error_code> errors;
    const auto try_acquire = [&](std::ptrdiff_t n) {
      auto [timed, cancel] = goro::with_timeout(ctx, 10ms);
      errors.push_back(sem.acquire(timed, n));
      cancel();
      return !errors.back();
    };
    std::vector<bool> tries;
    REQUIRE_FALSE(sem.acquire(ctx, 1));
    tries.push_back(try_acquire(1));
    tries.push_back(try_acquire(1));
    sem.release(2);
    tries.push_back(try_acquire(1));
    REQUIRE_FALSE(sem.acquire(ctx, 1));
    tries.push_back(try_acquire(1));
    CHECK(tries == std::vector<bool>{true, false, true, false});
    CHECK(errors[1] == goro::errc::deadline_exceeded);
    CHECK(errors[3] == goro::errc::deadline_exceeded);
    sem.release(2);
    CHECK(sem.try_acquire(2));  // the acquires that gave up hold nothing
  };
  if (on_goroutine) {
    goro::run(body);
  } else {
    body();  // a plain thread, no run active
  }
}

// x/sync's TestWeightedDoesntBlockIfTooBig as written there: the acquire of more than the
// capacity waits for its context, without queueing; an errgroup's acquires with the group's
// context all succeed meanwhile. Then cancelling the large one's context ends it with canceled.
TEST_CASE("an acquire of more than the capacity waits for its context only",
          "[sync][semaphore][context][go]") {
  const unsigned workers = GENERATE(1U, 2U);
  goro::run(
      [] {
        const std::ptrdiff_t n = 2;
        goro::semaphore sem(n);
        goro::context large_ctx;
        goro::cancel_func cancel;
        std::tie(large_ctx, cancel) = goro::with_cancel(goro::background());
        goro::chan<std::error_code> large_result(1);
        goro::go([&, large_result] { large_result.send(sem.acquire(large_ctx, n + 1)); });
        goro_test::dump_when({"[semaphore]:"});
        goro::group g(goro::background());
        for (std::ptrdiff_t i = n * 3; i > 0; --i) {
          g.go([&sem](const goro::context& ctx) -> std::error_code {
            std::error_code err = sem.acquire(ctx, 1);
            if (!err) {
              goro::sleep_for(1ms);
              sem.release(1);
            }
            return err;
          });
        }
        CHECK_NOTHROW(g.wait());
        CHECK(large_result.try_recv() == std::nullopt);  // still waiting
        cancel();
        CHECK(large_result.recv() == std::optional(std::error_code(goro::errc::canceled)));
        CHECK(sem.try_acquire(n));  // it took nothing
      },
      goro::options{.workers = workers});
}

// x/sync's TestAllocCancelDoesntStarve: a large acquire queued at the front gives up (its context
// is cancelled) while a small one waits behind it; the small one must then be served — it hangs
// if the departing waiter does not serve the queue behind it.
TEST_CASE("a waiter that gives up at the front of the queue lets the next one in",
          "[sync][semaphore][context][go]") {
  const unsigned workers = GENERATE(1U, 2U);
  const bool cancel_from_thread = GENERATE(false, true);
  goro::run(
      [cancel_from_thread] {
        goro::semaphore sem(10);
        REQUIRE_FALSE(sem.acquire(goro::background(), 1));
        goro::context ctx;
        goro::cancel_func cancel;
        std::tie(ctx, cancel) = goro::with_cancel(goro::background());
        goro::chan<std::error_code> large_result(1);
        goro::go([&, large_result] { large_result.send(sem.acquire(ctx, 10)); });
        // Wait until the acquire of 10 is queued: try_acquire fails from then on.
        while (sem.try_acquire(1)) {
          sem.release(1);
          goro::yield();
        }
        std::thread canceller;
        if (cancel_from_thread) {
          canceller = goro_test::registered_thread(cancel);
        } else {
          goro::go(cancel);
        }
        CHECK_FALSE(sem.acquire(goro::background(), 1));
        sem.release(1);
        if (canceller.joinable()) canceller.join();
        CHECK(large_result.recv() == std::optional(std::error_code(goro::errc::canceled)));
        sem.release(1);
        CHECK(sem.try_acquire(10));
      },
      goro::options{.workers = workers});
}

// x/sync 0.1.0's Acquire takes free permits whatever its context ("if ctx is already done,
// Acquire may still succeed without blocking"); it fails at once where it would have to wait.
TEST_CASE("an acquire with a context already done takes free permits and fails where it waits",
          "[sync][semaphore][context]") {
  goro::semaphore sem(3);
  goro::context ctx;
  goro::cancel_func cancel;
  std::tie(ctx, cancel) = goro::with_cancel(goro::background());
  cancel();
  CHECK_FALSE(sem.acquire(ctx, 1));                    // free: taken
  CHECK_FALSE(sem.acquire(ctx, 0));                    // nobody waits ahead: taken
  CHECK(sem.acquire(ctx, 4) == goro::errc::canceled);  // more than the capacity: never free
  CHECK_FALSE(sem.acquire(ctx, 2));                    // the last two
  CHECK(sem.acquire(ctx, 1) == goro::errc::canceled);  // none free: it would wait
  goro::context past;
  goro::cancel_func cancel_past;
  std::tie(past, cancel_past) = goro::with_deadline(goro::background(), {});
  CHECK(sem.acquire(past, 1) == goro::errc::deadline_exceeded);
  cancel_past();
  sem.release(3);
  CHECK(sem.try_acquire(3));  // the failed ones took nothing
  // With a context that can never be done, the context form is the plain one.
  sem.release(3);
  CHECK_FALSE(sem.acquire(goro::background(), 3));
  CHECK_FALSE(sem.try_acquire(1));
  sem.release(3);
  // Misuse is misuse whatever the context.
  CHECK_THROWS_AS(sem.acquire(ctx, -1), goro::error);
  CHECK_THROWS_AS(sem.acquire(goro::background(), -1), goro::error);
}

TEST_CASE("a queued acquire gives up with its context's error and takes nothing",
          "[sync][semaphore][context]") {
  const bool by_deadline = GENERATE(false, true);
  goro::run([by_deadline] {
    goro::semaphore sem(2);
    REQUIRE_FALSE(sem.acquire(goro::background(), 2));
    // Long enough for both acquires below to queue first (dump_when_count waits for that).
    constexpr auto timeout = 100ms;
    const auto started = std::chrono::steady_clock::now();
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = by_deadline ? goro::with_timeout(goro::background(), timeout)
                                        : goro::with_cancel(goro::background());
    goro::chan<std::error_code> result(1);
    goro::chan<std::error_code> behind(1);
    goro::go([&, result] { result.send(sem.acquire(ctx, 1)); });
    goro_test::dump_when_count("[semaphore]:", 1);
    goro::go([&, behind] { behind.send(sem.acquire(goro::background(), 2)); });
    goro_test::dump_when_count("[semaphore]:", 2);
    if (!by_deadline) cancel();
    const std::optional<std::error_code> err = result.recv();
    REQUIRE(err.has_value());
    if (by_deadline) {
      CHECK(*err == goro::errc::deadline_exceeded);
      CHECK(std::chrono::steady_clock::now() - started >= timeout);
    } else {
      CHECK(*err == goro::errc::canceled);
    }
    CHECK(*err == ctx.err());
    // The one that gave up left the queue: the acquire of 2 behind it gets both permits.
    sem.release(2);
    CHECK(behind.recv() == std::optional(std::error_code()));
    CHECK_FALSE(sem.try_acquire(1));
    sem.release(2);
    cancel();
  });
}

// A grant and a cancellation of one waiter race: exactly one of them counts. If the acquire
// reports success it holds the permit; if it reports the context's error, the permit is free.
// By turns the release comes first, the cancellation comes first (each from main), a plain
// thread releases while main cancels (the two race on two CPUs), or both come from goroutines.
TEST_CASE("a grant racing a cancellation counts exactly once", "[sync][semaphore][context]") {
  const unsigned workers = GENERATE(1U, 2U, 4U);
  const long rounds = scaled(2000, 10);
  const auto [granted, cancelled] = goro::run(
      [&] {
        long granted = 0;
        long cancelled = 0;
        long inconsistent = 0;
        goro::semaphore sem(1);
        std::atomic<long> release_round{-1};   // the plain thread releases once per new value
        std::atomic<long> released_round{-1};  // and then publishes it here
        std::atomic<bool> stop{false};
        std::minstd_rand random(1);
        std::atomic<unsigned> spin_sink{0};
        std::thread releaser = goro_test::registered_thread([&] {
          for (long seen = -1; !stop.load();) {
            const long round = release_round.load();
            if (round == seen) continue;
            seen = round;
            sem.release(1);
            released_round.store(round);
          }
        });
        for (long i = 0; i < rounds; ++i) {
          REQUIRE_FALSE(sem.acquire(goro::background(), 1));
          goro::context ctx;
          goro::cancel_func cancel;
          std::tie(ctx, cancel) = goro::with_cancel(goro::background());
          goro::chan<std::error_code> result(1);
          std::atomic<bool> about_to_wait{false};
          goro::go([&, result] {
            about_to_wait.store(true);
            result.send(sem.acquire(ctx, 1));
          });
          while (!about_to_wait.load()) goro::yield();
          goro::yield();  // on one worker: the acquire queues and parks
          goro::wait_group racers;
          racers.add(2);
          const auto release = [&] {
            sem.release(1);
            racers.done();
          };
          const auto cancel_it = [&] {
            cancel();
            racers.done();
          };
          switch (i % 4) {
            case 0: release(), cancel_it(); break;
            case 1: cancel_it(), release(); break;
            case 2:
              release_round.store(i);
              // A random head start for the thread, so that either may win.
              for (auto spins = random() % 2048; spins > 0; --spins) spin_sink.fetch_add(1);
              cancel_it();
              while (released_round.load() != i) goro::yield();
              racers.done();
              break;
            default: goro::go(cancel_it), goro::go(release); break;
          }
          racers.wait();
          const std::error_code err = result.recv().value();
          if (err) {
            ++cancelled;
            if (err != goro::errc::canceled || !sem.try_acquire(1)) ++inconsistent;
          } else {
            ++granted;
            if (sem.try_acquire(1)) ++inconsistent;  // we hold it: nobody else may
          }
          sem.release(1);  // ours, or the one try_acquire took
          cancel();
        }
        stop.store(true);
        goro::blocking([&] { releaser.join(); });
        CHECK(inconsistent == 0);
        CHECK(sem.try_acquire(1));
        return std::pair(granted, cancelled);
      },
      goro::options{.workers = workers});
  CHECK(granted + cancelled == rounds);
  CHECK(granted > 0);    // both outcomes happened (a release that comes first grants, ...)
  CHECK(cancelled > 0);  // (... a cancellation that comes first takes the waiter)
}

// Stress: goroutines and plain threads take random weights with contexts that random others
// cancel or that time out, and release what they got. Every acquire reports one outcome; the
// permits held at once never exceed the capacity; at the end every permit is free.
TEST_CASE("acquires with contexts cancelled at random lose and duplicate nothing",
          "[sync][semaphore][context][stress]") {
  const unsigned workers = GENERATE(1U, 2U, 4U);
  goro::run(
      [] {
        constexpr std::ptrdiff_t capacity = 5;
        const long per_party = scaled(400, 10);
        constexpr int goroutines = 8;
        constexpr int threads = 2;
        goro::semaphore sem(capacity);
        std::atomic<std::ptrdiff_t> held{0};
        std::atomic<std::ptrdiff_t> most{0};
        std::atomic<long> granted{0};
        std::atomic<long> gave_up{0};
        std::atomic<long> wrong_error{0};
        const auto party = [&](unsigned seed) {
          std::minstd_rand random(seed);
          for (long j = 0; j < per_party; ++j) {
            const auto n = static_cast<std::ptrdiff_t>(random() % (capacity + 2));  // 0..cap+1
            goro::context ctx;
            goro::cancel_func cancel;
            std::tie(ctx, cancel) =
                random() % 2 == 0 ? goro::with_timeout(goro::background(),
                                                       std::chrono::microseconds(random() % 300))
                                  : goro::with_cancel(goro::background());
            if (random() % 3 == 0) goro::go([cancel] { cancel(); });
            if (n > capacity) cancel();  // it could never be granted: do not wait for ever
            const std::error_code err = sem.acquire(ctx, n);
            if (err) {
              gave_up.fetch_add(1);
              if (err != ctx.err()) wrong_error.fetch_add(1);
            } else {
              granted.fetch_add(1);
              const std::ptrdiff_t now = held.fetch_add(n) + n;
              std::ptrdiff_t seen = most.load();
              while (now > seen && !most.compare_exchange_weak(seen, now)) {
              }
              if (random() % 4 == 0) goro::yield();
              held.fetch_sub(n);
              sem.release(n);
            }
            cancel();
          }
        };
        goro::wait_group wg;
        wg.add(goroutines);
        for (int i = 0; i < goroutines; ++i) {
          goro::go([&, i] {
            party(static_cast<unsigned>(i) + 1);
            wg.done();
          });
        }
        std::vector<std::thread> plain;
        for (int i = 0; i < threads; ++i) {
          plain.push_back(goro_test::registered_thread([&, i] { party(100U + i); }));
        }
        wg.wait();
        for (auto& t : plain) t.join();
        CHECK(granted.load() + gave_up.load() == per_party * (goroutines + threads));
        CHECK(wrong_error.load() == 0);
        CHECK(most.load() <= capacity);
        CHECK(held.load() == 0);
        CHECK(sem.try_acquire(capacity));
      },
      goro::options{.workers = workers});
}

TEST_CASE("a goroutine waiting in acquire with a context is unwound when main returns",
          "[sync][semaphore][context][shutdown]") {
  goro::semaphore sem(1);
  std::atomic<int> unwound{0};
  goro::run([&] {
    REQUIRE_FALSE(sem.acquire(goro::background(), 1));
    const goro::context ctx = goro::with_cancel(goro::background()).first;
    for (int i = 0; i < 2; ++i) {
      goro::go([&, ctx = ctx, i] {
        counted c{&unwound};
        static_cast<void>(sem.acquire(ctx, i == 0 ? 1 : 2));  // queued; more than the capacity
      });
    }
    goro_test::dump_when_count("[semaphore]:", 2);
  });
  CHECK(unwound.load() == 2);
  sem.release(1);
  CHECK(sem.try_acquire(1));  // the unwound waiter took nothing
}

TEST_CASE("an acquire with a context that nothing will cancel is a deadlock",
          "[sync][semaphore][context][deadlock]") {
  goro::semaphore sem(1);
  goro::context ctx;
  goro::cancel_func cancel;
  std::tie(ctx, cancel) = goro::with_cancel(goro::background());
  const std::ptrdiff_t n = GENERATE(1, 2);  // queued, or more than the capacity
  try {
    goro::run(
        [&] {
          REQUIRE_FALSE(sem.acquire(ctx, 1));
          static_cast<void>(sem.acquire(ctx, n));
        },
        goro::options{.workers = 1});
    FAIL("run returned");
  } catch (const goro::deadlock_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("[semaphore]:"));
  }
  cancel();
  sem.release(1);
  CHECK(sem.try_acquire(1));
}

// Go's sync ExampleOnce: ten goroutines call Do with one body, which runs once.
TEST_CASE("once runs its body once for ten goroutines", "[sync][once][go]") {
  const int runs = goro::run([] {
    goro::once once;
    std::atomic<int> bodies{0};
    goro::chan<bool> done;
    for (int i = 0; i < 10; ++i) {
      goro::go([&, done] {
        once.call([&] { bodies.fetch_add(1); });  // fmt.Println("Only once")
        done.send(true);
      });
    }
    for (int i = 0; i < 10; ++i) done.recv();
    return bodies.load();
  });
  CHECK(runs == 1);
}

// Go's sync ExampleWaitGroup: a goroutine per URL, each done when its fetch returns; Wait
// returns after every fetch (a fetch here records its URL after a short sleep).
TEST_CASE("a wait_group waits for a goroutine per URL", "[sync][wait_group][go]") {
  const std::vector<std::string> urls = {"http://www.golang.org/", "http://www.google.com/",
                                         "http://www.example.com/"};
  const auto fetched = goro::run([&] {
    goro::wait_group wg;
    goro::mutex m;
    std::vector<std::string> seen;
    for (const auto& url : urls) {
      wg.add(1);
      goro::go(
          [&](std::string u) {
            goro::sleep_for(1ms);  // http.Get(url)
            std::lock_guard lock(m);
            seen.push_back(std::move(u));
            wg.done();
          },
          url);
    }
    wg.wait();
    std::lock_guard lock(m);
    return seen;
  });
  CHECK(std::is_permutation(fetched.begin(), fetched.end(), urls.begin(), urls.end()));
}

// docs/go-to-goro.md, section "sync and x/sync/semaphore": every row's spelling, as written there.
TEST_CASE("go-to-goro: wait_group and mutex", "[sync][go-to-goro]") {
  // "They are not copyable."
  static_assert(!std::is_copy_constructible_v<goro::wait_group>);
  static_assert(!std::is_copy_constructible_v<goro::mutex>);
  static_assert(!std::is_copy_constructible_v<goro::shared_mutex>);
  static_assert(!std::is_copy_constructible_v<goro::condition_variable>);
  static_assert(!std::is_copy_constructible_v<goro::once>);
  static_assert(!std::is_copy_constructible_v<goro::semaphore>);
  goro::run([] {
    // var wg sync.WaitGroup; wg.Add(n), wg.Done(), wg.Wait(): wait returns after every done.
    goro::wait_group wg;
    std::atomic<int> finished{0};
    int n = 3;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      goro::go([&] {
        goro::yield();
        ++finished;
        wg.done();
      });
    }
    wg.wait();
    CHECK(finished == 3);
    // negative WaitGroup counter: goro::error.
    goro::wait_group empty;
    CHECK_THROWS_AS(empty.done(), goro::error);

    // var mu sync.Mutex; mu.Lock(); defer mu.Unlock() as std::lock_guard: while main holds it,
    // another goroutine's try_lock fails; after the scope it succeeds.
    goro::mutex mu;
    auto other_try_lock = [&mu] {
      goro::chan<bool> result(1);
      goro::go([&mu, result] {
        bool locked = mu.try_lock();
        if (locked) mu.unlock();
        result.send(locked);
      });
      return *result.recv();
    };
    {
      std::lock_guard lock(mu);
      CHECK_FALSE(other_try_lock());
    }
    CHECK(other_try_lock());
    {
      std::unique_lock lock(mu);
      CHECK_FALSE(other_try_lock());
    }
    {
      std::scoped_lock lock(mu);
      CHECK_FALSE(other_try_lock());
    }
    mu.lock();
    CHECK_FALSE(other_try_lock());
    mu.unlock();
    CHECK(mu.try_lock());
    CHECK_FALSE(other_try_lock());
    mu.unlock();
    // unlock of unlocked mutex: goro::error.
    CHECK_THROWS_AS(mu.unlock(), goro::error);
  });
}

TEST_CASE("go-to-goro: shared_mutex and condition_variable", "[sync][go-to-goro]") {
  goro::run([] {
    goro::shared_mutex rw;
    // Another goroutine's attempts, while main holds rw one way or the other.
    auto other_tries = [&rw] {
      goro::chan<std::pair<bool, bool>> result(1);
      goro::go([&rw, result] {
        bool shared = rw.try_lock_shared();
        if (shared) rw.unlock_shared();
        bool exclusive = rw.try_lock();
        if (exclusive) rw.unlock();
        result.send({shared, exclusive});
      });
      return *result.recv();
    };
    {
      std::shared_lock lock(rw);  // RLock: other readers enter, a writer does not
      CHECK(other_tries() == std::pair{true, false});
    }
    rw.lock_shared();
    CHECK(other_tries() == std::pair{true, false});
    rw.unlock_shared();
    CHECK(rw.try_lock_shared());
    rw.unlock_shared();
    rw.lock();  // Lock: nobody else enters
    CHECK(other_tries() == std::pair{false, false});
    rw.unlock();
    CHECK(rw.try_lock());
    CHECK(other_tries() == std::pair{false, false});
    rw.unlock();
    CHECK(other_tries() == std::pair{true, true});

    // c := sync.NewCond(&mu), with a std::unique_lock<goro::mutex>: both waiting forms, woken by
    // notify_one and notify_all, see the condition that was set under the lock.
    goro::mutex mu;
    goro::condition_variable c;
    bool cond = false;
    int woken = 0;
    goro::wait_group waiters;
    waiters.add(3);
    goro::go([&] {
      std::unique_lock<goro::mutex> lock(mu);
      c.wait(lock, [&] { return cond; });
      ++woken;
      waiters.done();
    });
    for (int i = 0; i < 2; ++i) {
      goro::go([&] {
        std::unique_lock<goro::mutex> lock(mu);
        while (!cond) c.wait(lock);
        ++woken;
        waiters.done();
      });
    }
    goro_test::dump_when_count("[cond]", 3);
    {
      std::unique_lock<goro::mutex> lock(mu);
      cond = true;
    }
    c.notify_one();  // wakes one: two are left waiting
    std::string after_one = goro_test::dump_until(
        [](const std::string& text) { return goro_test::count_in_dump(text, "[cond]") == 2; });
    CHECK(goro_test::count_in_dump(after_one, "[cond]") == 2);
    c.notify_all();
    waiters.wait();
    {
      std::unique_lock<goro::mutex> lock(mu);
      CHECK(woken == 3);
    }

    // c := sync.NewCond(rw.RLocker()): wait with a std::shared_lock<goro::shared_mutex>.
    goro::condition_variable read_cond;
    bool published = false;  // guarded by rw
    goro::chan<bool> seen(1);
    goro::go([&, seen] {
      std::shared_lock<goro::shared_mutex> lock(rw);
      read_cond.wait(lock, [&] { return published; });
      seen.send(published);
    });
    goro_test::dump_when({"[cond]"});
    {
      std::unique_lock<goro::shared_mutex> lock(rw);
      published = true;
    }
    read_cond.notify_all();
    CHECK(seen.recv() == std::optional(true));
  });
}

TEST_CASE("go-to-goro: once and semaphore", "[sync][go-to-goro]") {
  goro::run([] {
    // var once sync.Once; once.Do(f): f runs once, whoever calls.
    goro::once once;
    std::atomic<int> calls{0};
    auto f = [&] { ++calls; };
    goro::wait_group callers;
    for (int i = 0; i < 4; ++i) {
      callers.add(1);
      goro::go([&] {
        once.call(f);
        callers.done();
      });
    }
    once.call(f);
    callers.wait();
    CHECK(calls == 1);

    // semaphore.NewWeighted(n): Acquire, TryAcquire, Release with weights.
    std::ptrdiff_t n = 3;
    goro::semaphore s(n);
    s.acquire(2);
    CHECK_FALSE(s.try_acquire(2));
    CHECK(s.try_acquire(1));
    s.release(3);
    CHECK(s.try_acquire(3));
    s.release(3);
  });

  // Acquiring more than the capacity waits without holding up others, until the run ends.
  static goro::semaphore s(2);  // outlives the run, as the goroutine that waits on it must
  bool big_unwound = false;
  std::atomic<bool> big_returned{false};
  bool small_acquired = goro::run([&] {
    goro::go([&] {
      goro_test::unwinding_probe probe{big_unwound};
      s.acquire(3);
      big_returned = true;
    });
    goro_test::dump_when({"[semaphore]"});
    s.acquire(1);  // not held up by the waiter ahead of it
    s.release(1);
    return true;
  });
  CHECK(small_acquired);
  CHECK_FALSE(big_returned);
  CHECK(big_unwound);
}

TEST_CASE("go-to-goro: semaphore acquire with a context", "[sync][go-to-goro][context]") {
  goro::run([] {
    goro::semaphore s(2);
    // if err := s.Acquire(ctx, k); err != nil { ... }
    goro::context ctx;
    goro::cancel_func cancel;
    std::tie(ctx, cancel) = goro::with_timeout(goro::background(), 50ms);
    bool failed = false;
    if (std::error_code err = s.acquire(ctx, 2)) failed = true;
    CHECK_FALSE(failed);  // free: taken at once
    std::error_code late;
    if (std::error_code err = s.acquire(ctx, 1)) late = err;
    CHECK(late == goro::errc::deadline_exceeded);  // none free before the deadline
    cancel();
    // s.Acquire(context.Background(), k)
    s.release(2);
    s.acquire(2);
    CHECK_FALSE(s.try_acquire(1));
    s.release(2);
  });
}

// docs/go-to-goro.md, section "Semantic differences", "Panics are exceptions": a once whose
// function threw is not done, so the next call runs its function again (std::call_once's rule).
TEST_CASE("go-to-goro: a once whose function threw runs the next call's function",
          "[sync][go-to-goro]") {
  goro::run([] {
    goro::once once;
    int runs = 0;
    CHECK_THROWS_AS(once.call([&] {
      ++runs;
      throw std::runtime_error("first");
    }),
                    std::runtime_error);
    once.call([&] { ++runs; });
    once.call([&] { ++runs; });
    CHECK(runs == 2);
  });
}

// ---------------------------------------------------------------------------------------------
// Go's memory model (go.dev/ref/mem) and the "synchronized before" statements of Go's sync
// package, for goro's sync objects. Each case shares plain, non-atomic data between goroutines and
// plain threads through nothing but the operation under test: a missing edge is a wrong value here
// and a data race under ThreadSanitizer.

// "For any sync.Mutex or sync.RWMutex variable l and n < m, call n of l.Unlock() is synchronized
// before call m of l.Lock() returns"; a successful TryLock counts as a Lock. Four parties, two of
// them plain threads, two taking the mutex with try_lock, update plain data under it.
TEST_CASE("memory model: a mutex unlock happens before the next lock returns, try_lock too",
          "[sync][mutex][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(2000, 5));
  constexpr int party_count = 4;
  long counter = 0;
  std::vector<int> log;
  std::string text;
  goro::run(
      [&] {
        goro::mutex m;
        goro_test::parties parties;
        for (int p = 0; p < party_count; ++p) {
          parties.start(p % 2 == 1, [&, p] {
            for (int i = 0; i < rounds; ++i) {
              if (p >= 2) {
                while (!m.try_lock()) goro::yield();
              } else {
                m.lock();
              }
              ++counter;
              log.push_back(p);
              text += static_cast<char>('a' + p);
              m.unlock();
            }
          });
        }
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  CHECK(counter == static_cast<long>(party_count) * rounds);
  CHECK(log.size() == static_cast<std::size_t>(party_count * rounds));
  for (int p = 0; p < party_count; ++p) {
    CHECK(std::count(log.begin(), log.end(), p) == rounds);
    CHECK(std::count(text.begin(), text.end(), static_cast<char>('a' + p)) == rounds);
  }
}

// "For any call to l.RLock on a sync.RWMutex variable l, there is an n such that the nth call to
// l.Unlock is synchronized before the return from l.RLock, and the matching call to l.RUnlock is
// synchronized before the return from call n+1 to l.Lock." Writers rewrite plain data under
// lock (or try_lock); readers read it under lock_shared (or try_lock_shared); goroutines and
// plain threads on both sides.
TEST_CASE("memory model: shared_mutex unlocks happen before the locks that follow, try_ forms too",
          "[sync][shared_mutex][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  constexpr int writer_count = 2;
  constexpr int reader_count = 4;
  int version = 0;
  goro_test::payload shared;
  shared.write(0);
  std::array<int, reader_count> reads{};
  std::array<int, reader_count> wrong{};
  goro::run(
      [&] {
        goro::shared_mutex m;
        goro_test::parties parties;
        for (int w = 0; w < writer_count; ++w) {
          parties.start(w == 1, [&, w] {
            for (int i = 0; i < rounds; ++i) {
              if (w == 1) {
                while (!m.try_lock()) goro::yield();
              } else {
                m.lock();
              }
              ++version;
              shared.write(version);
              m.unlock();
            }
          });
        }
        for (int r = 0; r < reader_count; ++r) {
          parties.start(r % 2 == 1, [&, r] {
            const auto ri = static_cast<std::size_t>(r);
            for (int i = 0; i < rounds; ++i) {
              if (r >= 2) {
                while (!m.try_lock_shared()) goro::yield();
              } else {
                m.lock_shared();
              }
              if (!shared.holds(version)) ++wrong[ri];
              ++reads[ri];
              m.unlock_shared();
            }
          });
        }
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  CHECK(version == writer_count * rounds);
  CHECK(shared.holds(version));
  for (std::size_t r = 0; r < reader_count; ++r) {
    CHECK(reads[r] == rounds);
    CHECK(wrong[r] == 0);
  }
}

// "The completion of a single call of f() from once.Do(f) is synchronized before the return of
// any call of once.Do(f)." Per round a fresh once whose function writes plain data; four parties
// (two plain threads) call it and read the data when call returns. In the second way the first
// attempt writes, then throws: the callers retry, and the attempt that succeeds sees what the
// failed one wrote.
TEST_CASE("memory model: the once function's completion happens before every call returns",
          "[sync][once][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const bool first_throws = GENERATE(false, true);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  constexpr int party_count = 4;
  const auto n = static_cast<std::size_t>(rounds);
  auto onces = std::make_unique<goro::once[]>(n);
  std::vector<goro_test::payload> data(n);
  std::vector<int> attempts(n, 0);
  std::array<int, party_count> wrong{};
  std::array<int, party_count> returned{};
  goro::run(
      [&] {
        goro_test::parties parties;
        for (int p = 0; p < party_count; ++p) {
          parties.start(p % 2 == 1, [&, p] {
            const auto pi = static_cast<std::size_t>(p);
            for (std::size_t i = 0; i < n; ++i) {
              const int value = static_cast<int>(i);
              for (;;) {
                try {
                  onces[i].call([&] {
                    if (attempts[i]++ == 0 && first_throws) {
                      data[i].write(-1);
                      throw std::runtime_error("first attempt");
                    }
                    if (first_throws && !data[i].holds(-1)) ++wrong[pi];
                    data[i].write(value);
                  });
                  break;
                } catch (const std::runtime_error&) {
                  goro::yield();
                }
              }
              if (!data[i].holds(value)) ++wrong[pi];
              ++returned[pi];
            }
          });
        }
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(attempts[i] == (first_throws ? 2 : 1));
  }
  for (std::size_t p = 0; p < party_count; ++p) {
    CHECK(returned[p] == rounds);
    CHECK(wrong[p] == 0);
  }
}

// Go's sync package: "a call to Done ... synchronizes before the return of any Wait call that it
// unblocks." Per round a wait_group counts four parties (two plain threads) that each write their
// plain slot, then call done; a waiter, goroutine or thread, reads all slots when wait returns.
TEST_CASE("memory model: every wait_group done happens before the wait it releases returns",
          "[sync][wait_group][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const bool waiter_on_thread = GENERATE(false, true);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  constexpr std::size_t party_count = 4;
  const auto n = static_cast<std::size_t>(rounds);
  auto groups = std::make_unique<goro::wait_group[]>(n);
  std::vector<std::array<goro_test::payload, party_count>> slots(n);
  int wrong = 0;
  int waited = 0;
  goro::run(
      [&] {
        for (std::size_t i = 0; i < n; ++i) groups[i].add(static_cast<std::ptrdiff_t>(party_count));
        goro_test::parties parties;
        parties.start(waiter_on_thread, [&] {
          for (std::size_t i = 0; i < n; ++i) {
            groups[i].wait();
            for (std::size_t p = 0; p < party_count; ++p) {
              if (!slots[i][p].holds(static_cast<int>(i * party_count + p))) ++wrong;
            }
            ++waited;
          }
        });
        for (std::size_t p = 0; p < party_count; ++p) {
          parties.start(p % 2 == 1, [&, p] {
            for (std::size_t i = 0; i < n; ++i) {
              slots[i][p].write(static_cast<int>(i * party_count + p));
              groups[i].done();
            }
          });
        }
        parties.wait();
      },
      goro_test::memory_model_options(workers));
  CHECK(waited == rounds);
  CHECK(wrong == 0);
}

// Go's sync package: a Cond's waiter returns holding the lock, and the notify it returns on
// follows the notifier's writes. A producer and a consumer (each a goroutine or a plain thread)
// hand plain data back and forth with a mutex-guarded predicate; the notifier notifies after
// unlocking, or while holding the mutex, with notify_one or notify_all.
TEST_CASE("memory model: a notify happens before the wait it unblocks returns",
          "[sync][cond][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  for (int way = 0; way < 4; ++way) {  // bit 0: notify under the mutex; bit 1: notify_all
    for (int threads = 0; threads < 3; ++threads) {
      goro_test::payload data;
      int turn = 0;  // 0: the producer's, 1: the consumer's
      int wrong = 0;
      int consumed = 0;
      goro::run(
          [&] {
            goro::mutex m;
            goro::condition_variable cv;
            auto notify = [&cv, way] {
              if ((way & 2) != 0) {
                cv.notify_all();
              } else {
                cv.notify_one();
              }
            };
            auto hand_over = [&](std::unique_lock<goro::mutex>& lock, int next) {
              turn = next;
              if ((way & 1) != 0) {
                notify();
                lock.unlock();
              } else {
                lock.unlock();
                notify();
              }
            };
            goro_test::parties parties;
            parties.start(threads == 1, [&] {
              for (int i = 0; i < rounds; ++i) {
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return turn == 0; });
                data.write(i);
                hand_over(lock, 1);
              }
            });
            parties.start(threads == 2, [&] {
              for (int i = 0; i < rounds; ++i) {
                std::unique_lock lock(m);
                while (turn != 1) cv.wait(lock);
                if (!data.holds(i)) ++wrong;
                ++consumed;
                hand_over(lock, 0);
              }
            });
            parties.wait();
          },
          goro_test::memory_model_options(workers));
      CHECK(consumed == rounds);
      CHECK(wrong == 0);
    }
  }
}

// x/sync/semaphore, like a buffered channel used as a semaphore: a release happens before the
// acquire it enables returns. With all of the semaphore held at first, a producer writes plain
// slots and releases them, one or two at a time; a consumer acquires them (acquire or
// try_acquire) and reads the slots.
TEST_CASE("memory model: a semaphore release happens before the acquire it enables returns",
          "[sync][semaphore][memory-model]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  const std::ptrdiff_t weight = GENERATE(1, 2);
  const int rounds = static_cast<int>(goro_test::scaled(1000, 5));
  for (int way = 0; way < 2; ++way) {  // 0: acquire, 1: try_acquire
    for (int threads = 0; threads < 3; ++threads) {
      std::vector<goro_test::payload> slots(static_cast<std::size_t>(rounds * weight));
      int wrong = 0;
      int acquired = 0;
      goro::run(
          [&] {
            goro::semaphore sem(rounds * weight);
            sem.acquire(rounds * weight);  // all of it held: each release frees what it enables
            goro_test::parties parties;
            parties.start(threads == 1, [&] {
              for (int i = 0; i < rounds * weight; i += static_cast<int>(weight)) {
                for (int k = 0; k < weight; ++k)
                  slots[static_cast<std::size_t>(i + k)].write(i + k);
                sem.release(weight);
              }
            });
            parties.start(threads == 2, [&] {
              for (int i = 0; i < rounds * weight; i += static_cast<int>(weight)) {
                if (way == 1) {
                  while (!sem.try_acquire(weight)) goro::yield();
                } else {
                  sem.acquire(weight);
                }
                for (int k = 0; k < weight; ++k) {
                  if (!slots[static_cast<std::size_t>(i + k)].holds(i + k)) ++wrong;
                }
                ++acquired;
              }
            });
            parties.wait();
          },
          goro_test::memory_model_options(workers));
      CHECK(acquired == rounds);
      CHECK(wrong == 0);
    }
  }
}

// --- Clauses of API section 5 that no case above checks directly ([contract]) ----------------

// API 5, the code block: the members and their signatures. wait_group's add takes a
// std::ptrdiff_t and may be called without one; mutex and shared_mutex have lock, a try_lock that
// answers bool, and unlock (Lockable: what std::lock_guard, std::unique_lock and std::scoped_lock
// call); shared_mutex adds the shared forms; condition_variable waits on a
// std::unique_lock<goro::mutex>, with or without a predicate; once calls any callable; semaphore
// is made explicitly from a std::ptrdiff_t, and its members take a weight that may be left out.
TEST_CASE("the sync types have the members and signatures the contract names", "[sync][contract]") {
  static_assert(std::is_default_constructible_v<goro::wait_group>);
  static_assert(requires(goro::wait_group & wg, std::ptrdiff_t n) {
    { wg.add(n) } -> std::same_as<void>;
    { wg.add() } -> std::same_as<void>;
    { wg.done() } -> std::same_as<void>;
    { wg.wait() } -> std::same_as<void>;
  });

  static_assert(std::is_default_constructible_v<goro::mutex>);
  static_assert(requires(goro::mutex & m) {
    { m.lock() } -> std::same_as<void>;
    { m.try_lock() } -> std::same_as<bool>;
    { m.unlock() } -> std::same_as<void>;
  });

  static_assert(std::is_default_constructible_v<goro::shared_mutex>);
  static_assert(requires(goro::shared_mutex & m) {
    { m.lock() } -> std::same_as<void>;
    { m.try_lock() } -> std::same_as<bool>;
    { m.unlock() } -> std::same_as<void>;
    { m.lock_shared() } -> std::same_as<void>;
    { m.try_lock_shared() } -> std::same_as<bool>;
    { m.unlock_shared() } -> std::same_as<void>;
  });

  static_assert(std::is_default_constructible_v<goro::condition_variable>);
  static_assert(requires(goro::condition_variable & cv, std::unique_lock<goro::mutex> & lk) {
    { cv.wait(lk) } -> std::same_as<void>;
    {
      cv.wait(lk, [] { return true; })
      } -> std::same_as<void>;
    { cv.notify_one() } -> std::same_as<void>;
    { cv.notify_all() } -> std::same_as<void>;
  });

  static_assert(std::is_default_constructible_v<goro::once>);
  static_assert(requires(goro::once & o, void (*function)(), std::function<void()>& wrapped) {
    {
      o.call([] {})
      } -> std::same_as<void>;
    { o.call(function) } -> std::same_as<void>;
    { o.call(wrapped) } -> std::same_as<void>;
  });

  static_assert(std::is_constructible_v<goro::semaphore, std::ptrdiff_t>);
  static_assert(!std::is_convertible_v<std::ptrdiff_t, goro::semaphore>);  // explicit
  static_assert(requires(goro::semaphore & s, std::ptrdiff_t n) {
    { s.acquire(n) } -> std::same_as<void>;
    { s.acquire() } -> std::same_as<void>;
    { s.try_acquire(n) } -> std::same_as<bool>;
    { s.try_acquire() } -> std::same_as<bool>;
    { s.release(n) } -> std::same_as<void>;
    { s.release() } -> std::same_as<void>;
  });
  SUCCEED();
}

// API 5: wait_group::add(std::ptrdiff_t n = 1) — add() with no argument adds one. After two of
// them and two done() the counter is zero: a third done() would take it below zero and throws.
TEST_CASE("wait_group add with no argument adds one", "[sync][wait_group][contract]") {
  goro::wait_group wg;
  wg.add();
  wg.add();
  CHECK_NOTHROW(wg.done());
  CHECK_NOTHROW(wg.done());
  CHECK_THROWS_AS(wg.done(), goro::error);
  wg.wait();  // zero: returns at once
}

// API 5: semaphore's acquire, try_acquire and release take a weight of one when it is left out.
TEST_CASE("semaphore acquire, try_acquire and release with no argument take and give one permit",
          "[sync][semaphore][contract]") {
  goro::semaphore sem(2);
  CHECK(sem.try_acquire());
  CHECK(sem.try_acquire());
  CHECK_FALSE(sem.try_acquire(1));  // both permits taken, one by each call
  sem.release();
  CHECK(sem.try_acquire(1));  // release() gave back exactly one
  CHECK_FALSE(sem.try_acquire(1));
  sem.release(2);
  sem.acquire();  // two free: does not block, takes one
  CHECK(sem.try_acquire(1));
  CHECK_FALSE(sem.try_acquire(1));
  sem.release();
  sem.release();
  CHECK(sem.try_acquire(2));  // every permit is back
  sem.release(2);
}

namespace contract {

// main_runs_while_blocked: on one worker, main calls `prepare`; then a goroutine calls `block`,
// which must block until `release` is called, while main yields a thousand times. Returns whether
// main had all its turns while that goroutine was still inside `block` (API 5: a goroutine that
// blocks on a sync object parks; its worker runs other goroutines). A `block` that held its
// worker thread would give main its turns back only once a watchdog thread had called `release`
// (after ten seconds), and the goroutine would have returned by then. `release` runs once: on
// main after its turns, or on the watchdog if main is still held up after ten seconds.
template <class Prepare, class Block, class Release>
bool main_runs_while_blocked(Prepare prepare, Block block, Release release) {
  std::atomic<bool> entered{false};
  std::atomic<bool> returned{false};
  std::atomic<bool> released{false};
  std::atomic<bool> main_finished{false};
  bool still_blocked = false;
  auto release_once = [&] {
    if (!released.exchange(true)) release();
  };
  std::thread watchdog([&] {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!main_finished.load() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    release_once();
  });
  goro::run(
      [&] {
        prepare();
        goro::go([&] {
          entered.store(true);
          block();
          returned.store(true);
        });
        while (!entered.load()) goro::yield();
        for (int i = 0; i < 1000; ++i) goro::yield();
        still_blocked = !returned.load();
        release_once();
        main_finished.store(true);
        while (!returned.load()) goro::yield();
      },
      goro::options{.workers = 1});
  watchdog.join();
  return still_blocked;
}

// no_run_active: whether goro::go refuses to start a goroutine, as it does outside any run
// (API 1.1), which proves that the case runs with no run active.
bool no_run_active() {
  try {
    goro::go([] {});
  } catch (const goro::error&) {
    return true;
  }
  return false;
}

}  // namespace contract

// API 5: a goroutine that blocks on a wait_group parks; its worker runs other goroutines.
TEST_CASE("a goroutine blocked in wait_group wait parks and its worker runs other goroutines",
          "[sync][wait_group][contract]") {
  goro::wait_group wg;
  CHECK(contract::main_runs_while_blocked([&] { wg.add(1); }, [&] { wg.wait(); },
                                          [&] { wg.done(); }));
}

// API 5: a goroutine that blocks on a mutex parks; its worker runs other goroutines.
TEST_CASE("a goroutine blocked in mutex lock parks and its worker runs other goroutines",
          "[sync][mutex][contract]") {
  goro::mutex m;
  CHECK(contract::main_runs_while_blocked([&] { m.lock(); }, [&] { std::lock_guard hold(m); },
                                          [&] { m.unlock(); }));
}

// API 5: a goroutine that blocks on a shared_mutex parks, as a writer behind a reader and as a
// reader behind a writer; its worker runs other goroutines.
TEST_CASE("a goroutine blocked on a shared_mutex parks and its worker runs other goroutines",
          "[sync][shared_mutex][contract]") {
  goro::shared_mutex behind_reader;
  CHECK(contract::main_runs_while_blocked([&] { behind_reader.lock_shared(); },
                                          [&] { std::unique_lock hold(behind_reader); },
                                          [&] { behind_reader.unlock_shared(); }));
  goro::shared_mutex behind_writer;
  CHECK(contract::main_runs_while_blocked([&] { behind_writer.lock(); },
                                          [&] { std::shared_lock hold(behind_writer); },
                                          [&] { behind_writer.unlock(); }));
}

// API 5: a goroutine that blocks on a condition_variable parks; its worker runs other goroutines.
TEST_CASE(
    "a goroutine blocked in condition_variable wait parks and its worker runs other goroutines",
    "[sync][cond][contract]") {
  goro::mutex m;
  goro::condition_variable cv;
  bool ready = false;  // guarded by m
  CHECK(contract::main_runs_while_blocked([] {},
                                          [&] {
                                            std::unique_lock lk(m);
                                            cv.wait(lk, [&] { return ready; });
                                          },
                                          [&] {
                                            {
                                              std::lock_guard hold(m);
                                              ready = true;
                                            }
                                            cv.notify_all();
                                          }));
}

// API 5: a goroutine that calls a once while another caller runs its function parks; its worker
// runs other goroutines. The runner itself waits on a channel until the release closes it.
TEST_CASE(
    "a goroutine waiting for a once that another caller runs parks and its worker runs others",
    "[sync][once][contract]") {
  goro::once o;
  goro::chan<int> gate;
  std::atomic<bool> running{false};
  std::atomic<int> runs{0};
  CHECK(contract::main_runs_while_blocked(
      [&] {
        goro::go([&] {
          o.call([&] {
            runs.fetch_add(1);
            running.store(true);
            (void)gate.recv();
          });
        });
        while (!running.load()) goro::yield();
      },
      [&] { o.call([&] { runs.fetch_add(1); }); }, [&] { gate.close(); }));
  CHECK(runs.load() == 1);
}

// API 5: a goroutine that blocks on a semaphore parks; its worker runs other goroutines.
TEST_CASE("a goroutine blocked in semaphore acquire parks and its worker runs other goroutines",
          "[sync][semaphore][contract]") {
  goro::semaphore sem(1);
  CHECK(contract::main_runs_while_blocked([&] { sem.acquire(); },
                                          [&] {
                                            sem.acquire();
                                            sem.release();
                                          },
                                          [&] { sem.release(); }));
  CHECK(sem.try_acquire(1));
}

// API 2 (its last paragraph): the sync objects of section 5 can be created and used with no run
// active; plain threads then block on them. One case per type follows; each first checks that no
// run is active. A thread that returned while it should still be blocked fails the case (the
// sleeps only give it the chance to; no timing is asserted).

TEST_CASE("with no run active a plain thread blocks in wait_group wait until the counter is zero",
          "[sync][wait_group][contract]") {
  REQUIRE(contract::no_run_active());
  goro::wait_group wg;
  wg.add(2);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    wg.wait();
    returned.store(true);
  });
  std::this_thread::sleep_for(10ms);
  const bool returned_at_two = returned.load();
  wg.done();
  std::this_thread::sleep_for(10ms);
  const bool returned_at_one = returned.load();
  wg.done();
  waiter.join();
  CHECK_FALSE(returned_at_two);
  CHECK_FALSE(returned_at_one);
  CHECK(returned.load());
}

TEST_CASE("with no run active a plain thread blocks on a held mutex until it is unlocked",
          "[sync][mutex][contract]") {
  REQUIRE(contract::no_run_active());
  goro::mutex m;
  m.lock();
  std::atomic<bool> locked{false};
  std::thread locker([&] {
    m.lock();
    locked.store(true);
    m.unlock();
  });
  std::this_thread::sleep_for(10ms);
  const bool locked_while_held = locked.load();
  m.unlock();
  locker.join();
  CHECK_FALSE(locked_while_held);
  CHECK(locked.load());
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("with no run active plain threads block on a shared_mutex as readers and writers",
          "[sync][shared_mutex][contract]") {
  REQUIRE(contract::no_run_active());
  goro::shared_mutex rw;
  // A reader waits while this thread writes.
  rw.lock();
  std::atomic<bool> read{false};
  std::thread reader([&] {
    std::shared_lock hold(rw);
    read.store(true);
  });
  std::this_thread::sleep_for(10ms);
  const bool read_while_written = read.load();
  rw.unlock();
  reader.join();
  CHECK_FALSE(read_while_written);
  CHECK(read.load());
  // A writer waits while this thread reads; readers share the lock meanwhile.
  rw.lock_shared();
  std::atomic<bool> written{false};
  std::thread writer([&] {
    std::unique_lock hold(rw);
    written.store(true);
  });
  std::this_thread::sleep_for(10ms);
  const bool written_while_read = written.load();
  rw.unlock_shared();
  writer.join();
  CHECK_FALSE(written_while_read);
  CHECK(written.load());
  CHECK(rw.try_lock());
  rw.unlock();
}

TEST_CASE("with no run active a plain thread blocks in condition_variable wait until notified",
          "[sync][cond][contract]") {
  REQUIRE(contract::no_run_active());
  goro::mutex m;
  goro::condition_variable cv;
  bool ready = false;  // guarded by m
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return ready; });
    returned.store(true);
  });
  std::this_thread::sleep_for(10ms);
  const bool returned_before_notify = returned.load();
  {
    std::lock_guard hold(m);
    ready = true;
  }
  cv.notify_one();
  waiter.join();
  CHECK_FALSE(returned_before_notify);
  CHECK(returned.load());
}

TEST_CASE("with no run active a plain thread calling a once waits while another thread runs it",
          "[sync][once][contract]") {
  REQUIRE(contract::no_run_active());
  goro::once o;
  std::atomic<int> runs{0};
  std::atomic<bool> running{false};
  std::atomic<bool> finish{false};
  std::thread runner([&] {
    o.call([&] {
      runs.fetch_add(1);
      running.store(true);
      while (!finish.load()) std::this_thread::sleep_for(1ms);
    });
  });
  while (!running.load()) std::this_thread::sleep_for(1ms);
  std::atomic<bool> returned{false};
  std::thread caller([&] {
    o.call([&] { runs.fetch_add(1); });
    returned.store(true);
  });
  std::this_thread::sleep_for(10ms);
  const bool returned_while_running = returned.load();
  finish.store(true);
  runner.join();
  caller.join();
  CHECK_FALSE(returned_while_running);
  CHECK(returned.load());
  CHECK(runs.load() == 1);
}

TEST_CASE("with no run active a plain thread blocks in semaphore acquire until a release",
          "[sync][semaphore][contract]") {
  REQUIRE(contract::no_run_active());
  goro::semaphore sem(2);
  sem.acquire(2);
  std::atomic<bool> acquired{false};
  std::thread acquirer([&] {
    sem.acquire(1);
    acquired.store(true);
  });
  std::this_thread::sleep_for(10ms);
  const bool acquired_while_held = acquired.load();
  sem.release(1);
  acquirer.join();
  CHECK_FALSE(acquired_while_held);
  CHECK(acquired.load());
  CHECK_FALSE(sem.try_acquire(1));  // the thread holds the permit released to it
  sem.release(2);
  CHECK(sem.try_acquire(2));
  sem.release(2);
}

// API 5 (sync.Cond's Wait): condition_variable::wait(lk) releases the mutex while it waits —
// another party can lock it — and returns holding it again: `lk` owns it and nobody else can
// take it until the waiter unlocks.
TEST_CASE("condition_variable wait releases the mutex while it waits and holds it again on return",
          "[sync][cond][contract]") {
  goro::mutex m;
  goro::condition_variable cv;
  std::atomic<bool> ready{false};
  bool free_while_waiting = false;
  bool owned_after_wait = false;
  bool held_after_wait = false;
  goro::run([&] {
    goro::chan<int> woke;
    goro::chan<int> checked;
    goro::wait_group done;
    done.add(1);
    goro::go([&] {
      {
        std::unique_lock lk(m);
        while (!ready.load()) cv.wait(lk);
        owned_after_wait = lk.owns_lock();
        woke.send(1);
        (void)checked.recv();
      }
      done.done();
    });
    goro_test::dump_when({"[cond]"});
    free_while_waiting = m.try_lock();
    ready.store(true);
    if (free_while_waiting) m.unlock();
    cv.notify_one();
    (void)woke.recv();
    held_after_wait = !m.try_lock();
    if (!held_after_wait) m.unlock();
    checked.send(1);
    done.wait();
  });
  CHECK(free_while_waiting);
  CHECK(owned_after_wait);
  CHECK(held_after_wait);
}

// Go's Cond takes any Locker; sync.NewCond(rw.RLocker()) makes goroutines wait holding a read
// lock. Here readers wait with a std::shared_lock of a goro::shared_mutex: each wait releases
// its read lock (so a writer gets in while they all wait), and each returns holding it again
// (so a writer is kept out until they let go). Goroutines and plain threads wait alike.
TEST_CASE("condition_variable waits with a read lock of a shared_mutex, as on Go's RLocker",
          "[sync][cond][shared_mutex]") {
  const unsigned workers = GENERATE(1U, 2U);
  goro::shared_mutex rw;
  goro::condition_variable cv;
  bool ready = false;  // guarded by rw
  std::atomic<int> owned_after_wait{0};
  std::atomic<int> waiting_readers{0};
  bool writer_got_in = false;
  bool writer_kept_out = false;
  goro::run(
      [&] {
        constexpr int goroutine_readers = 4;
        goro::chan<int> woke(goroutine_readers + 1);
        goro::chan<int> leave;
        const auto reader = [&] {
          std::shared_lock lk(rw);
          waiting_readers.fetch_add(1);
          cv.wait(lk, [&] { return ready; });
          if (lk.owns_lock()) owned_after_wait.fetch_add(1);
          woke.send(1);
          (void)leave.recv();  // holds the read lock until main has looked
        };
        goro::wait_group done;
        done.add(goroutine_readers);
        for (int i = 0; i < goroutine_readers; ++i) {
          goro::go([&] {
            reader();
            done.done();
          });
        }
        std::thread plain = goro_test::registered_thread(reader);
        goro_test::dump_when_count("[cond]", goroutine_readers);
        while (waiting_readers.load() < goroutine_readers + 1) goro::sleep_for(100us);
        {
          std::unique_lock write(rw);  // every reader released its lock while waiting
          writer_got_in = true;
          ready = true;
        }
        cv.notify_all();
        for (int i = 0; i < goroutine_readers + 1; ++i) (void)woke.recv();
        writer_kept_out = !rw.try_lock();  // they hold read locks again
        if (!writer_kept_out) rw.unlock();
        for (int i = 0; i < goroutine_readers + 1; ++i) leave.send(1);
        done.wait();
        goro::blocking([&] { plain.join(); });
      },
      goro::options{.workers = workers});
  CHECK(writer_got_in);
  CHECK(writer_kept_out);
  CHECK(owned_after_wait.load() == 5);
  CHECK(rw.try_lock());  // every read lock was given back
  rw.unlock();
}

// The write lock of a shared_mutex with a condition variable: a bounded queue whose producer
// and consumers wait with std::unique_lock<goro::shared_mutex>; every item is taken once.
TEST_CASE("condition_variable waits with the write lock of a shared_mutex", "[sync][cond]") {
  const unsigned workers = GENERATE(1U, 2U);
  const long items = scaled(20000, 10);
  const auto [taken, sum] = goro::run(
      [&] {
        goro::shared_mutex rw;
        goro::condition_variable not_empty;
        goro::condition_variable not_full;
        std::vector<long> queue;  // guarded by rw
        bool finished = false;    // guarded by rw
        long taken = 0;           // guarded by rw
        long sum = 0;             // guarded by rw
        goro::wait_group consumers;
        consumers.add(3);
        for (int c = 0; c < 3; ++c) {
          goro::go([&] {
            std::unique_lock lk(rw);
            for (;;) {
              not_empty.wait(lk, [&] { return !queue.empty() || finished; });
              if (queue.empty()) break;
              sum += queue.back();
              queue.pop_back();
              ++taken;
              not_full.notify_one();
            }
            consumers.done();
          });
        }
        for (long i = 1; i <= items; ++i) {
          std::unique_lock lk(rw);
          not_full.wait(lk, [&] { return queue.size() < 8; });
          queue.push_back(i);
          not_empty.notify_one();
        }
        {
          std::unique_lock lk(rw);
          finished = true;
        }
        not_empty.notify_all();
        consumers.wait();
        std::shared_lock read(rw);
        return std::pair(taken, sum);
      },
      goro::options{.workers = workers});
  CHECK(taken == items);
  CHECK(sum == items * (items + 1) / 2);
}

TEST_CASE("condition_variable waits with shared_mutex locks: misuse and the shutdown",
          "[sync][cond][shared_mutex][shutdown]") {
  goro::shared_mutex rw;
  goro::condition_variable cv;
  std::shared_lock read(rw, std::defer_lock);
  CHECK_THROWS_AS(cv.wait(read), goro::error);
  std::unique_lock write(rw, std::defer_lock);
  CHECK_THROWS_AS(cv.wait(write, [] { return false; }), goro::error);
  CHECK_FALSE(read.owns_lock());
  CHECK_FALSE(write.owns_lock());
  // Waiters unwound when main returns hold their lock again during the unwinding (in its mode),
  // and give it back: afterwards the shared_mutex is free.
  std::atomic<int> owned_while_unwinding{0};
  goro::run([&] {
    const auto wait_for_ever = [&](auto& lk) {
      struct probe {
        std::atomic<int>& owned;
        const std::remove_reference_t<decltype(lk)>& lock;
        ~probe() {
          if (lock.owns_lock()) owned.fetch_add(1);
        }
      } on_unwind{owned_while_unwinding, lk};
      cv.wait(lk, [] { return false; });
    };
    for (int i = 0; i < 3; ++i) {
      goro::go([&, i] {
        if (i == 0) {
          std::unique_lock lk(rw);
          wait_for_ever(lk);
        } else {
          std::shared_lock lk(rw);
          wait_for_ever(lk);
        }
      });
    }
    goro_test::dump_when_count("[cond]", 3);
  });
  CHECK(owned_while_unwinding.load() == 3);
  CHECK(rw.try_lock());
  rw.unlock();
}

// API 5 (sync.Cond's Signal and Broadcast wake the goroutines waiting, if there are any): a
// notify_one or notify_all with nobody waiting is not kept: a wait that begins afterwards
// blocks until the next notify.
TEST_CASE("a notify with nobody waiting is not kept for a later wait", "[sync][cond][contract]") {
  goro::mutex m;
  goro::condition_variable cv;
  std::atomic<bool> returned{false};
  bool returned_before_notify = true;
  goro::run([&] {
    cv.notify_one();
    cv.notify_all();
    goro::wait_group done;
    done.add(1);
    goro::go([&] {
      {
        std::unique_lock lk(m);
        cv.wait(lk);
      }
      returned.store(true);
      done.done();
    });
    goro_test::dump_when({"[cond]"});
    returned_before_notify = returned.load();
    cv.notify_one();
    done.wait();
  });
  CHECK_FALSE(returned_before_notify);
  CHECK(returned.load());
}
