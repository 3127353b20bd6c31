// goro/sync.hpp — Go's sync toolkit for goroutines and plain threads (API section 5).
//
// A goroutine that blocks on any of these parks; its worker runs other goroutines. A plain thread
// blocks on a futex. Every object keeps its waiters in FIFO order under its own futex_mutex, and
// wakes them through the claim-then-wake gate of detail/waiter.hpp.
#pragma once

#include <atomic>
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
// Invariants: counter_ never stays below zero (an add that would take it there is undone and
// throws); waiters_ is non-empty only while counter_ > 0 or a release is in progress.
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  // add: adds `delta` (which may be negative) to the counter; when it reaches zero every
  // waiter is released. Throws goro::error, leaving the counter unchanged, if it would go
  // below zero.
  void add(std::ptrdiff_t delta = 1) {
    detail::note_api_use();
    const std::int64_t now = counter_.fetch_add(delta, std::memory_order_acq_rel) + delta;
    if (now < 0) {
      counter_.fetch_sub(delta, std::memory_order_acq_rel);
      throw error("goro::wait_group: negative counter (add(" + std::to_string(delta) +
                  ") would take it to " + std::to_string(now) + ")");
    }
    if (now == 0 && delta != 0) release_waiters();
  }

  // done: add(-1).
  void done() { add(-1); }

  // wait: blocks until the counter is zero.
  void wait() {
    if (counter_.load(std::memory_order_acquire) == 0) {
      detail::note_api_use();
      return;
    }
    detail::wait_handle h = detail::open_wait();
    detail::waiter w = h.make_waiter();
    std::unique_lock held(lock_);
    if (counter_.load(std::memory_order_acquire) == 0) return;
    detail::block_on(waiters_, w, h, held, detail::wait_reason::wait_group);
  }

 private:
  void release_waiters() {
    detail::waiter* chain = nullptr;
    {
      std::lock_guard held(lock_);
      while (detail::waiter* w = waiters_.dequeue_claimed()) {
        w->next = chain;
        chain = w;
      }
    }
    detail::wake_claimed(chain);
  }

  std::atomic<std::int64_t> counter_{0};
  detail::futex_mutex lock_;  // guards waiters_
  detail::wait_queue waiters_;
};

}  // namespace goro
