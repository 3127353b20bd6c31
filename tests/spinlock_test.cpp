// Tests of goro's internal locks (detail/spinlock.hpp) and the asymmetric fences the futex_mutex
// relies on (detail/asymmetric_fence.hpp). Every channel, sync object and timer heap stands on
// these; the tests drive them from plain threads, without a run.
#include <goro/detail/asymmetric_fence.hpp>
#include <goro/detail/spinlock.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "support.hpp"

using goro_test::scaled;

namespace {

// hold_for: keeps the CPU busy, so that a lock held across it makes waiters exhaust their spin.
void hold_for(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// store_buffering_violations: the store-buffering litmus test. Two threads each store 1 to their
// own flag, fence, and read the other's flag; with working fences at least one of them reads 1.
// Returns how many of `rounds` rounds ended with both reading 0. The threads meet at a barrier
// before each round and then wait a varying few pauses, so that their stores and loads overlap.
// The barrier spins, and after a while sleeps on the counter (a futex): where both threads share
// one CPU (a loaded machine), pure spinning would pass each round only when the OS's time slice
// ran out.
template <class FenceA, class FenceB>
int store_buffering_violations(int rounds, FenceA fence_a, FenceB fence_b) {
  struct shared_state {
    alignas(64) std::atomic<int> x{0};
    alignas(64) std::atomic<int> y{0};
    alignas(64) std::atomic<int> arrivals{0};
  } s;
  std::vector<int> read_by_a(static_cast<std::size_t>(rounds));
  std::vector<int> read_by_b(static_cast<std::size_t>(rounds));
  auto meet = [&s](int r) {
    const int target = 2 * (r + 1);
    s.arrivals.fetch_add(1, std::memory_order_acq_rel);
    s.arrivals.notify_one();
    int seen = s.arrivals.load(std::memory_order_acquire);
    for (int spins = 0; seen < target && spins < 1000; ++spins) {
      goro::detail::cpu_relax();
      seen = s.arrivals.load(std::memory_order_acquire);
    }
    while (seen < target) {
      s.arrivals.wait(seen, std::memory_order_acquire);
      seen = s.arrivals.load(std::memory_order_acquire);
    }
  };
  auto pause = [](int n) {
    for (int i = 0; i < n; ++i) goro::detail::cpu_relax();
  };
  std::thread b([&] {
    for (int r = 0; r < rounds; ++r) {
      meet(2 * r);
      pause(r % 7);
      s.y.store(1, std::memory_order_relaxed);
      fence_b();
      read_by_b[static_cast<std::size_t>(r)] = s.x.load(std::memory_order_relaxed);
      meet(2 * r + 1);
    }
  });
  for (int r = 0; r < rounds; ++r) {
    s.x.store(0, std::memory_order_relaxed);
    s.y.store(0, std::memory_order_relaxed);
    meet(2 * r);
    pause(r % 5);
    s.x.store(1, std::memory_order_relaxed);
    fence_a();
    read_by_a[static_cast<std::size_t>(r)] = s.y.load(std::memory_order_relaxed);
    meet(2 * r + 1);
  }
  b.join();
  int violations = 0;
  for (std::size_t r = 0; r < read_by_a.size(); ++r) {
    if (read_by_a[r] == 0 && read_by_b[r] == 0) ++violations;
  }
  return violations;
}

}  // namespace

TEST_CASE(
    "asymmetric fences: a light and a heavy fence order store-then-load like two full fences") {
  goro::detail::enable_asymmetric_fences();
  const int rounds = static_cast<int>(scaled(20000, 10));
  const int violations = store_buffering_violations(
      rounds, [] { goro::detail::light_fence(); }, [] { goro::detail::heavy_fence(); });
  CHECK(violations == 0);
}

TEST_CASE("asymmetric fences: registration is reported consistently") {
  const bool enabled = goro::detail::enable_asymmetric_fences();
  CHECK(goro::detail::enable_asymmetric_fences() == enabled);
  CHECK(goro::detail::asymmetric_fences_ready.load() == enabled);
  if (goro::detail::sanitized_build && !enabled) SUCCEED("full fences under this sanitizer");
}

TEST_CASE("futex_mutex: mutual exclusion among threads, with short and long hold times") {
  goro::detail::futex_mutex lock;
  std::int64_t counter = 0;  // guarded by lock; a data race here is what TSan would report
  const int threads = 4;
  const int per_thread = static_cast<int>(scaled(200000, 20));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        std::lock_guard held(lock);
        ++counter;
        // Now and then hold it long enough that the others give up spinning (about 18,000
        // pauses, under 1 ms on any x86 core) and sleep.
        if ((i + t) % 5000 == 0) hold_for(std::chrono::milliseconds(2));
      }
    });
  }
  for (auto& t : pool) t.join();
  CHECK(counter == std::int64_t{threads} * per_thread);
}

TEST_CASE("futex_mutex: a thread asleep on the lock is woken by the unlock (no lost wake-up)") {
  goro::detail::futex_mutex lock;
  // Each round: the main thread holds the lock well past the waiters' spin (they sleep in the
  // futex), then releases it with a plain unlock. Every waiter must get the lock; a lost wake-up
  // hangs the round (CTest's timeout ends it).
  const int rounds = static_cast<int>(scaled(200, 4));
  for (int r = 0; r < rounds; ++r) {
    std::atomic<int> got{0};
    lock.lock();
    std::vector<std::thread> waiters;
    for (int t = 0; t < 3; ++t) {
      waiters.emplace_back([&] {
        std::lock_guard held(lock);
        got.fetch_add(1, std::memory_order_relaxed);
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    lock.unlock();
    for (auto& t : waiters) t.join();
    REQUIRE(got.load() == 3);
  }
}

TEST_CASE("futex_mutex: try_lock fails while held and succeeds once released") {
  goro::detail::futex_mutex lock;
  REQUIRE(lock.try_lock());
  bool other = true;
  std::thread([&] { other = lock.try_lock(); }).join();
  CHECK_FALSE(other);
  lock.unlock();
  std::thread([&] {
    other = lock.try_lock();
    if (other) lock.unlock();
  }).join();
  CHECK(other);
}

TEST_CASE("spinlock: mutual exclusion among threads") {
  goro::detail::spinlock lock;
  std::int64_t counter = 0;
  const int threads = 4;
  const int per_thread = static_cast<int>(scaled(200000, 20));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        std::lock_guard held(lock);
        ++counter;
      }
    });
  }
  for (auto& t : pool) t.join();
  CHECK(counter == std::int64_t{threads} * per_thread);
}
