// goro/sync.hpp — Go's sync toolkit for goroutines and plain threads (API section 5).
//
// A goroutine that blocks on any of these parks; its worker runs other goroutines. A plain thread
// blocks on a futex. Every object keeps its waiters in FIFO order under its own futex_mutex, and
// wakes them through the claim-then-wake gate of detail/waiter.hpp.
#pragma once

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "detail/park.hpp"
#include "detail/spinlock.hpp"
#include "detail/waiter.hpp"
#include "error.hpp"

namespace goro {

// wait_group: waits for a collection of goroutines to finish (sync.WaitGroup).
//
// state_ packs the counter (high 32 bits, signed) and the number of waiters (low 32 bits) so that
// the add() that brings the counter to zero sees in the same atomic step whether anyone waits:
// if nobody does, it touches the wait_group no more — a waiter that saw zero may already have
// destroyed it. Otherwise it resets the state and hands out one release per waiter; a waiter
// that registered but has not queued yet finds its release in unclaimed_releases_.
//
// Invariants: the counter never stays below zero (an add that would take it there is undone and
// throws); waiters_.size() + unclaimed_releases_ never exceeds the waiters counted in state_ plus
// those released but not yet woken.
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  // add: adds `delta` (which may be negative) to the counter; when it reaches zero every waiter
  // is released. Throws goro::error, leaving the counter unchanged, if it would go below zero.
  void add(std::ptrdiff_t delta = 1) {
    detail::note_api_use();
    if (delta > INT32_MAX || delta < -INT32_MAX) {
      throw error("goro::wait_group: add(" + std::to_string(delta) + ") is out of range");
    }
    const std::uint64_t step = static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32;
    const std::uint64_t state = state_.fetch_add(step, std::memory_order_acq_rel) + step;
    const std::int64_t counter = counter_of(state);
    if (counter < 0) {
      state_.fetch_sub(step, std::memory_order_acq_rel);
      throw error("goro::wait_group: negative counter (add(" + std::to_string(delta) +
                  ") would take it to " + std::to_string(counter) + ")");
    }
    const std::uint32_t waiting = waiters_of(state);
    if (counter > 0 || waiting == 0 || delta == 0) return;
    // The counter is zero and `waiting` goroutines wait: nobody can add or wait concurrently
    // without misusing the wait_group (Go panics there), so the reset is exact.
    state_.store(0, std::memory_order_release);
    release(waiting);
  }

  // done: add(-1).
  void done() { add(-1); }

  // wait: blocks until the counter is zero.
  void wait() {
    detail::note_api_use();
    std::uint64_t state = state_.load(std::memory_order_acquire);
    do {
      if (counter_of(state) == 0) return;
    } while (!state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire));
    detail::wait_handle h = detail::open_wait();
    detail::waiter w = h.make_waiter();
    std::unique_lock held(lock_);
    if (unclaimed_releases_ > 0) {
      --unclaimed_releases_;
      return;
    }
    detail::block_on(waiters_, w, h, held, detail::wait_reason::wait_group);
  }

 private:
  static std::int64_t counter_of(std::uint64_t state) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(state >> 32));
  }
  static std::uint32_t waiters_of(std::uint64_t state) noexcept {
    return static_cast<std::uint32_t>(state);
  }

  void release(std::uint32_t waiting) {
    detail::waiter* chain = nullptr;
    {
      std::lock_guard held(lock_);
      while (waiting > 0) {
        detail::waiter* w = waiters_.dequeue_claimed();
        if (w == nullptr) break;
        w->next = chain;
        chain = w;
        --waiting;
      }
      unclaimed_releases_ += waiting;  // waiters counted in state_ that have not queued yet
    }
    detail::wake_claimed(chain);
  }

  std::atomic<std::uint64_t> state_{0};  // counter << 32 | waiters
  detail::futex_mutex lock_;             // guards waiters_ and unclaimed_releases_
  detail::wait_queue waiters_;
  std::uint32_t unclaimed_releases_ = 0;
};

}  // namespace goro
