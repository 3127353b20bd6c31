// goro/detail/run_queue.hpp — where runnable goroutines wait for a worker.
//
// local_run_queue: one per worker (Go's P.runq + P.runnext). A `next` slot — the goroutine just
// spawned or woken by the running one, run before anything else — and a ring of `capacity`
// slots guarded by a spinlock: the owner pushes and pops at the back (newest first, so a spawn
// tree runs depth-first and its stacks stay hot), takes from the front every 61st schedule
// (fairness: nothing waits behind an endless stream of new work) and, before `next`, when a
// time slice ends (nothing waits behind goroutines that hand the worker to each other through
// `next`; see scheduler::time_slice_over). A goroutine that yields waits in a FIFO list of its
// own, taken when `next` and the ring are empty, and at every other fair schedule: so it runs
// again only after the goroutines waiting before it, and it never stands at the end of the ring
// that fair schedules take from (where yielded goroutines once stood, and a goroutine in the
// middle of the ring, with newer ones pushed behind it, never ran). Thieves take
// half of a ring of two or more from the front (the oldest, largest pieces of work), and a lone
// goroutine (a ring of one, or `next`) only from an owner that has been stuck on one goroutine
// (scheduler::stuck). The ring uses a plain spinlock rather than a Chase-Lev deque: the owner's
// cost is one uncontended atomic exchange either way, and the lock allows every one of these
// disciplines.
//
// global_run_queue: goroutines spawned or woken by plain threads, and the overflow of full local
// queues. An intrusive FIFO through goroutine::next.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "asymmetric_fence.hpp"
#include "goroutine.hpp"
#include "spinlock.hpp"

namespace goro::detail {

// goroutine_list: an intrusive FIFO through goroutine::next (not thread-safe).
struct goroutine_list {
  goroutine* head = nullptr;
  goroutine* tail = nullptr;
  std::size_t size = 0;

  bool empty() const noexcept { return head == nullptr; }
  void push_back(goroutine* g) noexcept {
    g->next = nullptr;
    (tail != nullptr ? tail->next : head) = g;
    tail = g;
    ++size;
  }
  void append(goroutine_list& other) noexcept {
    if (other.empty()) return;
    (tail != nullptr ? tail->next : head) = other.head;
    tail = other.tail;
    size += other.size;
    other = {};
  }
  goroutine* pop_front() noexcept {
    goroutine* g = head;
    if (g == nullptr) return nullptr;
    head = g->next;
    if (head == nullptr) tail = nullptr;
    g->next = nullptr;
    --size;
    return g;
  }
};

class local_run_queue {
 public:
  static constexpr std::uint32_t capacity = 256;

  // placement: where push puts a goroutine: the back or the front of the ring, or, for one that
  // yielded, the back of the yielded list.
  enum class placement { back, front, yielded };

  // push_next: owner only. Puts `g` in the `next` slot and returns the goroutine it displaces
  // (nullptr if none), which the caller pushes to the back. The exchange is seq_cst: it is the
  // store-load barrier of the submitter's side of the idle/wake handshake (scheduler.hpp), and
  // it is atomic against a thief's exchange.
  goroutine* push_next(goroutine* g) noexcept {
    return next_.exchange(g, std::memory_order_seq_cst);
  }

  // push: owner only. On overflow, moves the older half of the ring (and `g`) into `spill`, which
  // the caller hands to the global queue after the lock is released.
  void push(goroutine* g, placement where, goroutine_list& spill) noexcept {
    std::lock_guard guard(lock_);
    if (where == placement::yielded) {
      yielded_.push_back(g);
    } else if (count() == capacity) {
      spill_half(spill);
      spill.push_back(g);
    } else if (where == placement::back) {
      ring_[tail_++ % capacity] = g;
    } else {
      ring_[--head_ % capacity] = g;
    }
    publish_size();
  }

  // pick: which goroutine pop takes. Each falls back on the oldest yielded goroutine, and on
  // `next` last if it did not start with it.
  enum class pick {
    newest,   // `next`, else the newest of the ring (the usual schedule)
    oldest,   // `next`, else the oldest of the ring (every other 61st schedule)
    yielded,  // `next`, else the oldest yielded one, else the oldest of the ring (the others)
    oldest_before_next,  // the oldest of the ring, else `next` (a time slice has ended)
  };

  // pop: owner only; see pick.
  goroutine* pop(pick which) noexcept {
    if (which != pick::oldest_before_next) {
      if (goroutine* g = take_next()) return g;
    }
    if (size_hint_.load(std::memory_order_relaxed) != 0) {
      std::lock_guard guard(lock_);
      if (goroutine* g = take_locked(which)) {
        publish_size();
        return g;
      }
    }
    return take_next();
  }

  // steal: a thief takes half of what this queue's ring and yielded list hold (at least one
  // goroutine, the ring's oldest first) into `out` if they hold at least `at_least`; or, when it
  // took nothing and `take_next` is set, the `next` slot. Returns how many it took.
  std::uint32_t steal(std::array<goroutine*, capacity / 2 + 1>& out, bool take_next,
                      std::uint32_t at_least) noexcept {
    if (size_hint_.load(std::memory_order_relaxed) >= at_least) {
      std::lock_guard guard(lock_);
      const std::size_t queued = count() + yielded_.size;
      const std::size_t n =
          queued >= at_least ? std::min<std::size_t>((queued + 1) / 2, out.size()) : 0;
      std::uint32_t taken = 0;
      while (taken < n && count() > 0) out[taken++] = ring_[head_++ % capacity];
      while (taken < n) out[taken++] = yielded_.pop_front();
      publish_size();
      if (taken > 0) return taken;
    }
    if (!take_next) return 0;
    goroutine* g = steal_next();
    if (g == nullptr) return 0;
    out[0] = g;
    return 1;
  }

  // has_work: a racy hint for thieves and the idle check. seq_cst: read after the idle side's
  // barrier (scheduler::idle).
  bool has_work() const noexcept {
    return size_hint_.load(std::memory_order_seq_cst) != 0 ||
           next_.load(std::memory_order_seq_cst) != nullptr;
  }
  // lone_work: a racy hint that the queue holds one goroutine, in the ring or in `next`, or two
  // with one in each: less than a thief may take from an owner that keeps scheduling.
  bool lone_work() const noexcept {
    const std::uint32_t ring = size_hint_.load(std::memory_order_relaxed);
    return ring <= 1 && (ring == 1 || next_.load(std::memory_order_relaxed) != nullptr);
  }

  // drain: moves everything into `out` (used at teardown).
  void drain(goroutine_list& out) noexcept {
    std::lock_guard guard(lock_);
    while (count() > 0) out.push_back(ring_[head_++ % capacity]);
    out.append(yielded_);
    if (goroutine* g = next_.exchange(nullptr, std::memory_order_acquire)) out.push_back(g);
    publish_size();
  }

 private:
  std::uint32_t count() const noexcept { return tail_ - head_; }

  void spill_half(goroutine_list& spill) noexcept {
    for (std::uint32_t n = count() / 2; n > 0; --n) spill.push_back(ring_[head_++ % capacity]);
  }

  // take_locked: the ring's or the yielded list's goroutine that `which` picks, if any.
  goroutine* take_locked(pick which) noexcept {
    if (which == pick::yielded && !yielded_.empty()) return yielded_.pop_front();
    if (count() > 0) {
      return which == pick::newest ? ring_[--tail_ % capacity] : ring_[head_++ % capacity];
    }
    return yielded_.pop_front();
  }

  void publish_size() noexcept {
    size_hint_.store(count() + static_cast<std::uint32_t>(yielded_.size),
                     std::memory_order_relaxed);
  }

  // take_next: owner only: empties the `next` slot.
  goroutine* take_next() noexcept {
    if (next_.load(std::memory_order_relaxed) == nullptr) return nullptr;  // thieves only empty it
    if (!enter_next()) return next_.exchange(nullptr, std::memory_order_acquire);
    goroutine* g = next_.load(std::memory_order_relaxed);
    next_.store(nullptr, std::memory_order_relaxed);
    leave_next();
    return g;
  }

  // enter_next / leave_next: bracket the owner's plain read-then-write of `next` in take_next
  // (pushes exchange: they need the barrier anyway). enter_next fails when a thief is after
  // `next`; the owner then uses an atomic exchange instead.
  bool enter_next() noexcept {
    owner_in_next_.store(true, std::memory_order_relaxed);
    light_fence();
    if (!thief_in_next_.load(std::memory_order_relaxed)) [[likely]]
      return true;
    leave_next();
    return false;
  }
  void leave_next() noexcept { owner_in_next_.store(false, std::memory_order_release); }

  // steal_next: a thief's take of `next`: one thief at a time raises thief_in_next_, waits out
  // an owner inside its plain read-then-write (heavy_fence: the two flags are a Dekker
  // handshake), then exchanges. From the raise to the drop the owner uses exchanges too.
  goroutine* steal_next() noexcept {
    bool expected = false;
    if (!thief_in_next_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      return nullptr;  // another thief is at it
    }
    heavy_fence();
    while (owner_in_next_.load(std::memory_order_acquire)) cpu_relax();
    goroutine* g = next_.exchange(nullptr, std::memory_order_acq_rel);
    thief_in_next_.store(false, std::memory_order_release);
    return g;
  }

  // The `next` slot. The owner takes from it with a plain load and store inside
  // enter_next/leave_next — a channel hand-off takes a goroutine out of it once per operation,
  // and a locked exchange there was a seventh of a ping-pong round trip — and with an exchange
  // while a thief is at it; it puts into it with an exchange. A thief takes it only from an owner
  // stuck on one goroutine (scheduler::stuck), which is rare, so the thief pays for the fence (a
  // membarrier).
  std::atomic<goroutine*> next_{nullptr};
  std::atomic<bool> owner_in_next_{false};  // the owner is between enter_next and leave_next
  std::atomic<bool> thief_in_next_{false};  // a thief is taking `next` (steal_next)
  spinlock lock_;                           // guards ring_, head_, tail_, yielded_
  std::uint32_t head_ = 0;                  // front: index of the oldest entry (wraps)
  std::uint32_t tail_ = 0;                  // back: one past the newest entry (wraps)
  std::array<goroutine*, capacity> ring_{};
  goroutine_list yielded_;  // goroutines that yielded, the earliest first (through next)
  std::atomic<std::uint32_t> size_hint_{0};  // count() + yielded_.size, readable without the lock
};

class global_run_queue {
 public:
  void push(goroutine_list& batch) noexcept {
    if (batch.empty()) return;
    std::lock_guard guard(lock_);
    list_.append(batch);
    size_hint_.store(list_.size, std::memory_order_relaxed);
  }

  void push(goroutine* g) noexcept {
    goroutine_list one;
    one.push_back(g);
    push(one);
  }

  // pop_batch: takes up to `max` goroutines from the front.
  goroutine_list pop_batch(std::size_t max) noexcept {
    goroutine_list out;
    if (size_hint_.load(std::memory_order_relaxed) == 0) return out;
    std::lock_guard guard(lock_);
    while (out.size < max && !list_.empty()) out.push_back(list_.pop_front());
    size_hint_.store(list_.size, std::memory_order_relaxed);
    return out;
  }

  std::size_t size_hint() const noexcept { return size_hint_.load(std::memory_order_relaxed); }

 private:
  spinlock lock_;  // guards list_
  goroutine_list list_;
  std::atomic<std::size_t> size_hint_{0};
};

}  // namespace goro::detail
