// Tests of <goro/sync.hpp>.
#include <goro/debug.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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
  CHECK_THROWS_WITH(wg.add(-3), Catch::Contains("negative counter"));
  wg.add(2);
  CHECK_THROWS_AS(wg.add(-3), goro::error);
  wg.done();
  wg.done();
  wg.wait();  // the counter is 0 again: the failed add(-3) changed nothing
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
  CHECK_THROWS_WITH(m.unlock(), Catch::Contains("unlock of unlocked mutex"));
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
  CHECK_THROWS_WITH(rw.unlock_shared(), Catch::Contains("not locked for reading"));
  rw.lock_shared();
  CHECK_THROWS_WITH(rw.unlock(), Catch::Contains("not locked for writing"));
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
  CHECK_THROWS_WITH(sem.acquire(3), Catch::Contains("exceeds the capacity"));
  CHECK_THROWS_WITH(sem.try_acquire(3), Catch::Contains("exceeds the capacity"));
  CHECK_THROWS_WITH(sem.acquire(-1), Catch::Contains("negative"));
  CHECK_THROWS_WITH(sem.release(1), Catch::Contains("more than held"));
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
