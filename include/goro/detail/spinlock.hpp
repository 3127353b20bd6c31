// goro/detail/spinlock.hpp — the two locks of the runtime's internals.
//
// spinlock: test-and-test-and-set, for critical sections of a few dozen instructions that never
//   block, allocate or call user code (the run queues). unlock is one store.
// futex_mutex: spins (for up to about 0.4 ms: see lock_contended), then sleeps on a futex;
//   unlock is a plain store plus a look at a count of sleepers. For the objects that goroutines
//   and plain threads share (channels, sync objects, the timer heap): their critical sections
//   are short, but a plain thread holding one may be descheduled.
//
// Neither is ever held across a context switch: a goroutine that must wait releases its lock
// only after it has switched out (see park in scheduler.hpp), never by sleeping while holding it.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "asymmetric_fence.hpp"
#include "config.hpp"
#include "futex.hpp"

namespace goro::detail {

class spinlock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) wait_until_free();
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  void wait_until_free() noexcept {
    for (unsigned spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
      if (spins < 64) {
        cpu_relax();
      } else {
        sched_yield();  // the holder was descheduled: let it run
      }
    }
  }

  std::atomic<bool> locked_{false};
};

class futex_mutex {
 public:
  void lock() noexcept {
    if (try_lock()) [[likely]]
      return;
    lock_contended();
  }
  bool try_lock() noexcept {
    std::uint32_t expected = unlocked;
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // unlock: a plain release store, then a look at the sleepers. The two form a Dekker handshake
  // with lock_sleeping (count a sleeper, then look at state_): light_fence here, heavy_fence
  // there (asymmetric_fence.hpp), so the unlock of an uncontended lock costs no locked
  // instruction — on a channel, one of the two per operation.
  //
  // Once the store is done another thread may take the lock and destroy the object that holds
  // it (a wait_group on the stack of a goroutine that just returned from wait), so the sleeper
  // count lives outside the mutex, in a process-wide table; only the futex_wake system call
  // names state_ afterwards, which is harmless on memory that is gone or reused (the kernel
  // finds no waiter there, or wakes one that re-checks its condition) — as in glibc's mutexes.
  void unlock() noexcept {
    std::atomic<std::uint32_t>& sleepers = sleepers_of(this);
    state_.store(unlocked, std::memory_order_release);
    light_fence();
    if (sleepers.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      futex_wake(state_, 1);
    }
  }

 private:
  static constexpr std::uint32_t unlocked = 0;
  static constexpr std::uint32_t locked = 1;

  // lock_contended: exponential back-off, a long spin, then sleep. A holder doing a burst of
  // operations (a goroutine sending run after run on one channel) lets go of the lock only for a
  // moment between two of them. A waiter that looks often pulls the lock's cache line away at
  // every look and catches that moment, so two workers sharing one channel hand the lock and the
  // buffer's lines back and forth every few operations. So the waiter first looks after 32
  // pauses (about 0.75 µs here; Go's runtime lock spins 30 between attempts), then doubles the
  // pause up to 1024 between looks, and goes on looking every 1024 pauses for `long_looks` more
  // looks; then one sched_yield, in case the holder is a descheduled thread, then sleep. The whole
  // spin is about 18,000 pauses (about 0.4 ms here).
  //
  // Why so long before sleeping: a waiter that sleeps here puts its whole worker to sleep, and
  // the goroutines queued on that worker with it, until the holder's unlock wakes the thread —
  // on a virtual machine, tens of µs for the host to run it again. Two workers sharing a channel
  // then fall into a rhythm where each sleeps in turn: with the spin ending after the doubling
  // (2,000 pauses), 6 mpmc runs of 25 took 153–232 ms instead of about 70, with 1,800–3,300 futex
  // calls instead of tens. A waiter is held off that long only when the other worker takes the
  // lock again at once, run after run: the critical sections themselves are a few dozen ns.
  //
  // Measured on mpmc 4M (docs/benchmarks.md): polling after every pause spent 65% of the time
  // here; doubling from 1 up to a cap of 64 took 185 ms, up to 1024 140–160 ms (a cap of 16 made
  // mpmc and the mutex workload 30% and 110% slower); starting at 32 instead of 1, 103 ms against
  // 172. Ping-pong, spsc, select and mutex changed with neither the cap (64 to 4096) nor the start.
  // A sched_yield after each of the long looks made mpmc slower (141–172 ms), not faster.
  void lock_contended() noexcept {
    for (int pauses = first_pauses_per_check; pauses <= max_pauses_per_check; pauses *= 2) {
      for (int i = 0; i < pauses; ++i) cpu_relax();
      if (try_acquire_unlocked()) return;
    }
    for (int look = 0; look < long_looks; ++look) {
      for (int i = 0; i < max_pauses_per_check; ++i) cpu_relax();
      if (try_acquire_unlocked()) return;
    }
    sched_yield();
    if (try_acquire_unlocked()) return;
    lock_sleeping();
  }

  // lock_sleeping: counts itself a sleeper, then (heavy_fence) sleeps until it wins the lock.
  // Every unlock that comes after the fence sees the count and wakes one sleeper; an unlock that
  // came before it has made the lock word 0, which futex_wait then sees.
  void lock_sleeping() noexcept {
    std::atomic<std::uint32_t>& sleepers = sleepers_of(this);
    sleepers.fetch_add(1, std::memory_order_relaxed);
    heavy_fence();
    while (!try_acquire_unlocked()) futex_wait(state_, locked);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
  }

  // sleepers_of: the count of threads asleep (or about to be) on the mutexes whose address
  // hashes like `m`'s. Mutexes that share a slot only cost each other a futex_wake that finds
  // no one while one of them has sleepers.
  GORO_PROCESS_WIDE static std::atomic<std::uint32_t>& sleepers_of(const futex_mutex* m) noexcept {
    static constexpr std::size_t slots = 256;
    static std::atomic<std::uint32_t> table[slots];  // zero: static storage
    const auto address = reinterpret_cast<std::uintptr_t>(m);
    return table[((address >> 4) ^ (address >> 12)) % slots];
  }

  bool try_acquire_unlocked() noexcept {
    return state_.load(std::memory_order_relaxed) == unlocked && try_lock();
  }

  static constexpr int first_pauses_per_check = 32;
  static constexpr int max_pauses_per_check = 1024;
  static constexpr int long_looks = 16;  // looks every max_pauses_per_check after the doubling

  std::atomic<std::uint32_t> state_{unlocked};  // 1 while held
};

}  // namespace goro::detail
