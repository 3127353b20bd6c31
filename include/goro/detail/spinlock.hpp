// goro/detail/spinlock.hpp — the two locks of the runtime's internals.
//
// spinlock: test-and-test-and-set, for critical sections of a few dozen instructions that never
//   block, allocate or call user code (run queues, the goroutine registry). unlock is one store.
// futex_mutex: spins briefly, then sleeps on a futex (Drepper's three-state mutex). For the
//   objects that goroutines and plain threads share (channels, sync objects, the timer heap):
//   their critical sections are short, but a plain thread holding one may be descheduled.
//
// Neither is ever held across a context switch: a goroutine that must wait releases its lock
// only after it has switched out (see park in scheduler.hpp), never by sleeping while holding it.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

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
    std::uint32_t expected = unlocked;
    if (state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_contended();
  }
  bool try_lock() noexcept {
    std::uint32_t expected = unlocked;
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() noexcept {
    if (state_.exchange(unlocked, std::memory_order_release) == contended) [[unlikely]] {
      futex_wake(state_, 1);
    }
  }

 private:
  static constexpr std::uint32_t unlocked = 0;
  static constexpr std::uint32_t locked = 1;     // held, nobody sleeps on it
  static constexpr std::uint32_t contended = 2;  // held, and someone may sleep on it

  void lock_contended() noexcept {
    for (int spins = 0; spins < 100; ++spins) {
      cpu_relax();
      std::uint32_t expected = unlocked;
      if (state_.load(std::memory_order_relaxed) == unlocked &&
          state_.compare_exchange_weak(expected, locked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
    }
    // From here on we announce a sleeper; the unlocker will wake one.
    while (state_.exchange(contended, std::memory_order_acquire) != unlocked) {
      futex_wait(state_, contended);
    }
  }

  std::atomic<std::uint32_t> state_{unlocked};
};

}  // namespace goro::detail
