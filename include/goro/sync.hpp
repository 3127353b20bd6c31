/// \file
/// goro/sync.hpp — Go's sync toolkit for goroutines and plain threads (API section 5).
///
/// A goroutine that blocks on any of these parks; its worker runs other goroutines. A plain thread
/// blocks on a futex. Every object keeps its waiters in FIFO order under its own futex_mutex, and
/// wakes them through the claim-then-wake gate of detail/waiter.hpp.
///
/// Every object must outlive the goroutines blocked on it, through the shutdown of the run too:
/// declare it outside goro::run, or keep main from returning while others wait on its locals.
//
// Rules every type here follows:
//   - Claim, deliver, then wake: a waker dequeues a waiter under the object's lock, wins its
//     claim, writes what the waiter needs (outcome, grant), releases the lock, then wakes it. After
//     wake() it touches neither the waiter nor the object.
//   - Destruction: a goroutine commonly destroys a mutex or once right after it returns from
//     lock() or call(). So an operation that releases something (unlock, the end of a once) keeps
//     the object alive by what it still holds — the mutex itself, or a waiter it has claimed but
//     not yet woken, which cannot return — until its last touch of the object. In particular an
//     unlocker that finds nobody to wake keeps the mutex locked while it tidies up under the
//     object's lock and releases it with one atomic operation at the very end.
//   - Shutdown: block_on unwinds a goroutine whose wait the shutdown interrupted; the shutdown's
//     claim means no waker delivered anything to it, and each type below says how the object stays
//     consistent when a waiter leaves that way. An object must outlive every goroutine blocked on
//     it, through the shutdown too (declare it outside goro::run, or keep main from returning
//     while others wait on main's locals).
//   - Only the object's lock is ever held across a park, and only through block_on, which releases
//     it after the switch. A user's goro::mutex is never held by the library across a park.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <system_error>

#include "context.hpp"
#include "detail/park.hpp"
#include "detail/spinlock.hpp"
#include "detail/waiter.hpp"
#include "error.hpp"

namespace goro {

/// wait_group: waits for a collection of goroutines to finish (sync.WaitGroup).
//
// state_ packs the counter (high 32 bits, signed) and the number of waiters (low 32 bits) so that
// the add() that brings the counter to zero sees in the same atomic step whether anyone waits:
// if nobody does, it touches the wait_group no more — a waiter that saw zero may already have
// destroyed it. Otherwise it resets the state and hands out one release per waiter; a waiter
// that registered but has not queued yet finds its release in unclaimed_releases_.
//
// A waiter that the shutdown interrupts stays counted in state_: if no release has happened since
// it queued (releases_ unchanged), it leaves a departure for the next release to absorb;
// otherwise the release already banked one for it in unclaimed_releases_, and it takes that back.
//
// Invariants: the counter never stays below zero (an add that would take it there is undone and
// throws); waiters counted in state_ = queued + yet to queue + departed_ (until a release).
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  /// add: adds `delta` (which may be negative) to the counter; when it reaches zero every waiter
  /// is released. Throws goro::error, leaving the counter unchanged, if it would go below zero
  /// or above INT32_MAX (Go's counter is 32 bits too).
  void add(std::ptrdiff_t delta = 1) {
    detail::note_api_use();
    detail::chaos_point();
    if (delta > INT32_MAX || delta < -INT32_MAX) {
      throw error("goro::wait_group: add(" + std::to_string(delta) + ") is out of range");
    }
    const std::uint64_t step = static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32;
    const std::uint64_t state = state_.fetch_add(step, std::memory_order_acq_rel) + step;
    const std::int64_t counter = counter_of(state);
    if (counter < 0) {
      state_.fetch_sub(step, std::memory_order_acq_rel);
      throw_out_of_range(delta, counter);
    }
    const std::uint32_t waiting = waiters_of(state);
    if (counter > 0 || waiting == 0 || delta == 0) return;
    // The counter is zero and `waiting` goroutines wait: nobody can add or wait concurrently
    // without misusing the wait_group (Go panics there), so the reset is exact.
    state_.store(0, std::memory_order_release);
    release(waiting);
  }

  /// done: add(-1).
  void done() { add(-1); }

  /// wait: blocks until the counter is zero.
  void wait() {
    detail::note_api_use();
    detail::stop_point();
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
    const std::uint64_t queued_at = releases_;
    detail::block_on(waiters_, w, h, held, detail::wait_reason::wait_group,
                     detail::wait_detail::none, [&] {
                       if (releases_ == queued_at) {
                         ++departed_;
                       } else if (unclaimed_releases_ > 0) {
                         --unclaimed_releases_;
                       }
                     });
  }

 private:
  // throw_out_of_range: add(delta) took the 32-bit counter to `counter`, below zero: a negative
  // delta went past zero, or a positive one past INT32_MAX and wrapped (Go panics with "negative
  // WaitGroup counter" for both; the message tells them apart).
  [[noreturn]] static void throw_out_of_range(std::ptrdiff_t delta, std::int64_t counter) {
    if (delta > 0) {
      throw error("goro::wait_group: counter overflow (add(" + std::to_string(delta) +
                  ") would take it past " + std::to_string(INT32_MAX) + ")");
    }
    throw error("goro::wait_group: negative counter (add(" + std::to_string(delta) +
                ") would take it to " + std::to_string(counter) +
                "; Go: \"sync: negative WaitGroup counter\")");
  }

  static std::int64_t counter_of(std::uint64_t state) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(state >> 32));
  }
  static std::uint32_t waiters_of(std::uint64_t state) noexcept {
    return static_cast<std::uint32_t>(state);
  }

  void release(std::uint32_t waiting) {
    detail::wake_list wakes;
    {
      std::lock_guard held(lock_);
      waiting = detail::claim_front(waiters_, waiting, wakes);
      // The rest were counted in state_ but are not queued: interrupted ones that departed, and
      // ones that have not queued yet (they find a banked release).
      const std::uint32_t absorbed = std::min(waiting, departed_);
      departed_ -= absorbed;
      unclaimed_releases_ += waiting - absorbed;
      ++releases_;
    }
  }

  std::atomic<std::uint64_t> state_{0};  // counter << 32 | waiters
  detail::futex_mutex lock_;  // guards waiters_, unclaimed_releases_, departed_, releases_
  detail::wait_queue waiters_;
  std::uint32_t unclaimed_releases_ = 0;
  std::uint32_t departed_ = 0;  // interrupted waiters still counted in state_
  std::uint64_t releases_ = 0;  // releases so far
};

namespace detail {

// steady_nanoseconds: the monotonic clock in nanoseconds, for the mutex's starvation threshold.
inline std::int64_t steady_nanoseconds() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// spin_may_help: whether a locker should spin before it parks. On a goroutine, only if another
// worker can run the holder meanwhile (a spinning goroutine is not preempted: with one worker
// the holder cannot run until we park). A plain thread's holder runs elsewhere, so it may spin.
inline bool spin_may_help() {
  thread_state& ts = this_thread();
  return ts.self == nullptr || ts.self->sched.worker_count() > 1;
}

// The message of an unlock of an unlocked mutex, from either unlock path.
inline constexpr const char* unlock_of_unlocked_mutex =
    "goro::mutex: unlock of unlocked mutex (Go: \"sync: unlock of unlocked mutex\")";

// spin_pause: one round of busy waiting, about a few hundred nanoseconds.
inline void spin_pause() noexcept {
  for (int i = 0; i < 30; ++i) cpu_relax();
}

}  // namespace detail

/// mutex: a mutual exclusion lock (sync.Mutex), fair under contention the way Go's is. Lockable:
/// works with std::lock_guard, std::unique_lock and std::scoped_lock. Not recursive; a locked mutex
/// may be unlocked by another goroutine or thread than the one that locked it (as in Go).
//
// state_ holds four bits:
//   locked_bit   the mutex is held. The uncontended lock and unlock are one CAS each on it.
//   woken_bit    a locker is on its way to retry — a waiter an unlocker woke, or a spinner that
//                announced itself — so an unlocker need not wake another. A hint: correctness
//                needs only that it is never left set with no such locker in flight, which holds
//                because whoever sets it clears it in the CAS that ends its attempt (it acquires
//                or queues).
//   starving_bit starvation mode (Go's): a waiter has waited more than starvation_ns. Arrivals
//                queue instead of barging, and unlock hands ownership to the front waiter directly
//                (locked_bit stays set across the hand-off).
//   parked_bit   the wait queues may be non-empty; set under lock_ by a waiter before it queues,
//                cleared under lock_ by the waker that empties them.
//
// Normal mode: an unlocker with parked waiters and nobody woken releases the mutex and wakes the
// front waiter, which competes with new arrivals (they are running, so they usually win); a loser
// goes back to the front (retry_ is served before waiters_). A waiter that has waited over
// starvation_ns when it loses sets starving_bit; the mode ends when the hand-off empties the
// queues or goes to a waiter that waited less than the threshold.
//
// Invariants:
//   - starving_bit implies locked_bit (the hand-off keeps the mutex locked; an unlocker that
//     finds no waiter to hand to clears starving_bit before it releases).
//   - Under lock_, parked_bit is clear whenever both queues are empty, except after a waiter was
//     interrupted by the shutdown (block_on unlinks it): the stale bit only sends the next unlock
//     down the slow path, which finds nobody and clears it.
//   - An unlocker touches the mutex after releasing locked_bit only while a waiter it has claimed
//     and not yet woken (which cannot return from lock()) keeps the mutex alive.
class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  /// lock: blocks until the caller holds the mutex. From any goroutine or thread.
  void lock() {
    detail::note_api_use();
    detail::stop_point();
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, locked_bit, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_slow();
  }

  /// try_lock: takes the mutex if it is free and not promised to a starving waiter; never blocks.
  bool try_lock() {
    detail::note_api_use();
    detail::stop_point();
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    while ((s & (locked_bit | starving_bit)) == 0) {
      if (state_.compare_exchange_weak(s, s | locked_bit, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  /// unlock: releases the mutex, waking or handing it to a waiter if one is parked. Throws
  /// goro::error, changing nothing, if the mutex is not locked.
  void unlock() {
    detail::note_api_use();
    std::uint32_t s = locked_bit;
    if (state_.compare_exchange_strong(s, 0, std::memory_order_release, std::memory_order_relaxed))
        [[likely]] {
      return;
    }
    if ((s & locked_bit) == 0) throw error(detail::unlock_of_unlocked_mutex);
    unlock_slow(s);
  }

 private:
  static constexpr std::uint32_t locked_bit = 1;
  static constexpr std::uint32_t woken_bit = 2;
  static constexpr std::uint32_t starving_bit = 4;
  static constexpr std::uint32_t parked_bit = 8;
  static constexpr std::int64_t starvation_ns = 1'000'000;  // Go's starvationThresholdNs
  static constexpr int max_spins = 4;

  // waiter::outcome values, written by the unlocker that claims a waiter.
  static constexpr std::uint32_t retry = 1;       // the mutex was released: compete for it
  static constexpr std::uint32_t handed_off = 2;  // the mutex is yours (starvation mode)

  void lock_slow() {
    std::int64_t wait_start = 0;  // when this call first queued; read by unlockers via slot
    bool awoke = false;           // we set woken_bit (or were woken with it set) and must clear it
    bool starving = false;        // we have waited longer than starvation_ns
    int spins = 0;
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      // Barge: a free mutex not promised to a starving waiter is anyone's.
      if ((s & (locked_bit | starving_bit)) == 0) {
        if (state_.compare_exchange_weak(s, (s | locked_bit) & ~(awoke ? woken_bit : 0),
                                         std::memory_order_acquire, std::memory_order_relaxed)) {
          return;
        }
        continue;
      }
      // Spin while the holder is likely running elsewhere; tell unlockers not to wake anyone.
      if ((s & starving_bit) == 0 && spins < max_spins && detail::spin_may_help()) {
        if (!awoke && (s & (woken_bit | parked_bit)) == parked_bit &&
            state_.compare_exchange_strong(s, s | woken_bit, std::memory_order_relaxed)) {
          awoke = true;
        }
        detail::spin_pause();
        ++spins;
        s = state_.load(std::memory_order_relaxed);
        continue;
      }
      // Queue. Under lock_, either take the mutex after all or announce ourselves in parked_bit:
      // an unlock racing with us either happens first (we see it free) or sees parked_bit and
      // takes the slow path, which needs lock_ and so finds us queued.
      detail::wait_handle h = detail::open_wait();
      std::unique_lock held(lock_);
      s = state_.load(std::memory_order_relaxed);
      bool acquired = false;
      for (;;) {
        const std::uint32_t clear = awoke ? woken_bit : 0;
        if ((s & (locked_bit | starving_bit)) == 0) {
          if (state_.compare_exchange_weak(s, (s | locked_bit) & ~clear, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
            acquired = true;
            break;
          }
          continue;
        }
        // Here locked_bit is set (starving_bit implies it), so starving_bit may be set too.
        const std::uint32_t next = ((s | parked_bit) & ~clear) | (starving ? starving_bit : 0);
        if (state_.compare_exchange_weak(s, next, std::memory_order_relaxed)) break;
      }
      if (acquired) return;
      awoke = false;
      const bool requeue = wait_start != 0;
      if (!requeue) wait_start = detail::steady_nanoseconds();
      detail::waiter w = h.make_waiter();
      w.slot = &wait_start;
      detail::block_on(requeue ? retry_ : waiters_, w, h, held, detail::wait_reason::mutex);
      if (w.outcome == handed_off) return;
      // Woken to compete: woken_bit was set for us.
      awoke = true;
      starving = starving || detail::steady_nanoseconds() - wait_start > starvation_ns;
      spins = 0;
      s = state_.load(std::memory_order_relaxed);
    }
  }

  // unlock_slow: `s` is a value of state_ with locked_bit and some other bit set; the caller
  // holds the mutex.
  void unlock_slow(std::uint32_t s) {
    for (;;) {
      if ((s & locked_bit) == 0) throw error(detail::unlock_of_unlocked_mutex);
      if (s == locked_bit) {
        // The bits we came for were cleared meanwhile: the plain release.
        if (state_.compare_exchange_weak(s, 0, std::memory_order_release,
                                         std::memory_order_relaxed)) {
          return;
        }
        continue;
      }
      if ((s & starving_bit) == 0 && (s & (parked_bit | woken_bit)) != parked_bit) {
        // Nobody parked, or a locker is already on its way: release without waking anyone.
        if (state_.compare_exchange_weak(s, s & ~locked_bit, std::memory_order_release,
                                         std::memory_order_relaxed)) {
          return;
        }
        continue;
      }
      detail::waiter* w = nullptr;
      {
        std::lock_guard held(lock_);
        w = dequeue_front();
        if (w == nullptr) {
          // Only waiters the shutdown interrupted were left: drop the stale bits while we still
          // hold the mutex, then release it as usual.
          state_.fetch_and(~(parked_bit | starving_bit), std::memory_order_relaxed);
        } else {
          const bool more = !retry_.empty() || !waiters_.empty();
          s = state_.load(std::memory_order_relaxed);
          if ((s & starving_bit) != 0) {
            // Hand-off: locked_bit stays set, the waiter owns the mutex when it wakes. Leave
            // starvation mode when nobody else waits or this waiter did not starve.
            w->outcome = handed_off;
            const bool stay =
                more &&
                detail::steady_nanoseconds() - *static_cast<std::int64_t*>(w->slot) > starvation_ns;
            state_.fetch_and(~((more ? 0 : parked_bit) | (stay ? 0 : starving_bit)),
                             std::memory_order_relaxed);
          } else {
            // Release and wake the front waiter to compete; it owns woken_bit until it acquires
            // or queues again. (A spinner may have set woken_bit meanwhile: then two lockers
            // are in flight, which costs nothing but a wasted wake-up.)
            w->outcome = retry;
            while (!state_.compare_exchange_weak(
                s, ((s & ~(locked_bit | parked_bit)) | woken_bit | (more ? parked_bit : 0)),
                std::memory_order_release, std::memory_order_relaxed)) {
            }
          }
        }
      }
      if (w != nullptr) {
        detail::wake(*w->owner);  // `w` and possibly the mutex are gone from here on
        return;
      }
      s = state_.load(std::memory_order_relaxed);
    }
  }

  // dequeue_front: the oldest waiter, claimed for the caller. Requires lock_.
  detail::waiter* dequeue_front() noexcept {
    if (detail::waiter* w = retry_.dequeue_claimed()) return w;
    return waiters_.dequeue_claimed();
  }

  std::atomic<std::uint32_t> state_{0};  // locked | woken | starving | parked bits, see above
  detail::futex_mutex lock_;             // guards retry_, waiters_ and the setting/clearing of
                                         // parked_bit and starving_bit
  detail::wait_queue retry_;             // waiters woken once that lost to an arrival: served first
  detail::wait_queue waiters_;           // first-time waiters, FIFO
};

/// shared_mutex: a reader/writer lock (sync.RWMutex). Any number of readers or one writer hold
/// it. Lockable and SharedLockable: works with std::unique_lock and std::shared_lock.
///
/// Fairness: a reader arriving while a writer waits queues behind it, so a stream of readers
/// cannot starve a writer: the writer gets the lock as soon as the readers inside leave. When a
/// writer unlocks, the readers that queued meanwhile all go in before the next writer, so writers
/// cannot starve readers either. Writers among themselves are FIFO, with direct hand-off.
//
// state_ holds the reader count (above reader_shift) and three bits:
//   writer_bit           a writer holds the lock (or it was handed to one that is waking up)
//   writers_waiting_bit  writers_ is non-empty: arriving readers queue
//   readers_waiting_bit  readers_ is non-empty: the writer's unlock takes the slow path
// Uncontended lock/unlock and lock_shared/unlock_shared are one CAS each.
//
// Invariants:
//   - writer_bit and a non-zero reader count never hold together.
//   - The waiting bits change only under lock_, where they say whether their queue is non-empty
//     (readers_waiting_bit may stay set after a reader was interrupted by the shutdown; that only
//     sends the next writer unlock down the slow path, which clears it).
//   - A queued writer implies a holder, which serves the queues when it leaves: the writer that
//     unlocks, or the last reader, which holds its read count until, under lock_, it converts it
//     into the writer's hold. A writer interrupted by the shutdown admits, on its way out, the
//     readers that queued behind it if no other writer waits and none holds the lock.
//   - As with mutex, a releaser keeps its own hold (or a claimed, unwoken waiter keeps the object
//     alive) until its last touch of the object.
class shared_mutex {
 public:
  shared_mutex() = default;
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;

  /// lock: blocks until the caller holds the lock exclusively. From any goroutine or thread.
  void lock() {
    detail::note_api_use();
    detail::stop_point();
    std::uint64_t expected = 0;
    if (state_.compare_exchange_strong(expected, writer_bit, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_slow();
  }

  /// try_lock: takes the lock exclusively if nobody holds it; never blocks.
  bool try_lock() {
    detail::note_api_use();
    detail::stop_point();
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while ((s & writer_bit) == 0 && readers_of(s) == 0) {
      if (state_.compare_exchange_weak(s, s | writer_bit, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  /// unlock: releases an exclusive hold: admits the readers that queued meanwhile, else hands the
  /// lock to the next writer. Throws goro::error, changing nothing, if no writer holds the lock.
  void unlock() {
    detail::note_api_use();
    std::uint64_t s = writer_bit;
    if (state_.compare_exchange_strong(s, 0, std::memory_order_release, std::memory_order_relaxed))
        [[likely]] {
      return;
    }
    if ((s & writer_bit) == 0) {
      throw error(
          "goro::shared_mutex: unlock of unlocked shared_mutex (not locked for writing; Go: "
          "\"sync: Unlock of unlocked RWMutex\")");
    }
    unlock_slow();
  }

  /// lock_shared: blocks until the caller holds the lock shared. From any goroutine or thread.
  void lock_shared() {
    detail::note_api_use();
    detail::stop_point();
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while ((s & (writer_bit | writers_waiting_bit)) == 0) {
      if (state_.compare_exchange_weak(s, s + one_reader, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
    }
    lock_shared_slow();
  }

  /// try_lock_shared: takes a shared hold if no writer holds or waits for the lock; never blocks.
  bool try_lock_shared() {
    detail::note_api_use();
    detail::stop_point();
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while ((s & (writer_bit | writers_waiting_bit)) == 0) {
      if (state_.compare_exchange_weak(s, s + one_reader, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  /// unlock_shared: releases a shared hold; the last reader out hands the lock to a waiting
  /// writer. Throws goro::error, changing nothing, if no reader holds the lock.
  void unlock_shared() {
    detail::note_api_use();
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (readers_of(s) == 0) {
        throw error(
            "goro::shared_mutex: unlock_shared of unlocked shared_mutex (not locked for reading; "
            "Go: \"sync: RUnlock of unlocked RWMutex\")");
      }
      if (readers_of(s) == 1 && (s & writers_waiting_bit) != 0) {
        if (unlock_shared_slow()) return;
        s = state_.load(std::memory_order_relaxed);
        continue;
      }
      // acq_rel: the last reader's CAS reads from every earlier reader's release, and passes
      // them on to the writer it wakes.
      if (state_.compare_exchange_weak(s, s - one_reader, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return;
      }
    }
  }

 private:
  static constexpr std::uint64_t writer_bit = 1;
  static constexpr std::uint64_t writers_waiting_bit = 2;
  static constexpr std::uint64_t readers_waiting_bit = 4;
  static constexpr int reader_shift = 3;
  static constexpr std::uint64_t one_reader = std::uint64_t{1} << reader_shift;

  static std::uint64_t readers_of(std::uint64_t s) noexcept { return s >> reader_shift; }

  void lock_slow() {
    detail::wait_handle h = detail::open_wait();
    std::unique_lock held(lock_);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & writer_bit) == 0 && readers_of(s) == 0) {
        if (state_.compare_exchange_weak(s, s | writer_bit, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          return;
        }
        continue;
      }
      if (state_.compare_exchange_weak(s, s | writers_waiting_bit, std::memory_order_relaxed)) {
        break;
      }
    }
    detail::waiter w = h.make_waiter();
    try {
      detail::block_on(writers_, w, h, held, detail::wait_reason::mutex);
    } catch (const detail::goroutine_exit&) {
      abandon_writer_wait();
      throw;
    }
    // The releaser set writer_bit for us before waking us.
  }

  void lock_shared_slow() {
    detail::wait_handle h = detail::open_wait();
    std::unique_lock held(lock_);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & (writer_bit | writers_waiting_bit)) == 0) {
        if (state_.compare_exchange_weak(s, s + one_reader, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          return;
        }
        continue;
      }
      if (state_.compare_exchange_weak(s, s | readers_waiting_bit, std::memory_order_relaxed)) {
        break;
      }
    }
    detail::waiter w = h.make_waiter();
    detail::block_on(readers_, w, h, held, detail::wait_reason::mutex);
    // The releaser counted us in as a reader before waking us.
  }

  void unlock_slow() {
    for (;;) {
      detail::wake_list wakes;
      {
        std::lock_guard held(lock_);
        std::uint64_t admitted = 0;
        take_readers(wakes, admitted);
        std::uint64_t s = state_.load(std::memory_order_relaxed);
        if (admitted > 0) {
          // The readers that queued while we held the lock go first.
          std::uint64_t next;
          do {
            next = ((s & ~(writer_bit | readers_waiting_bit)) + admitted * one_reader);
          } while (!state_.compare_exchange_weak(s, next, std::memory_order_release,
                                                 std::memory_order_relaxed));
        } else if (detail::waiter* w = writers_.dequeue_claimed()) {
          // Hand-off: writer_bit stays set for the next writer.
          const std::uint64_t clear =
              readers_waiting_bit | (writers_.empty() ? writers_waiting_bit : 0);
          state_.fetch_and(~clear, std::memory_order_relaxed);
          wakes.add(*w);
        } else {
          // Only interrupted waiters were left: tidy up while we still hold the lock.
          state_.fetch_and(~(readers_waiting_bit | writers_waiting_bit), std::memory_order_relaxed);
        }
      }
      if (!wakes.empty()) {
        wakes.wake_all();  // the woken may destroy the lock: touch nothing after
        return;
      }
      std::uint64_t s = writer_bit;
      if (state_.compare_exchange_strong(s, 0, std::memory_order_release,
                                         std::memory_order_relaxed)) {
        return;
      }
    }
  }

  // unlock_shared_slow: the caller is the last reader and a writer waits. Returns true once it
  // has handed its hold to a writer; false if the caller still holds its read count and must
  // release it the usual way.
  bool unlock_shared_slow() {
    detail::wake_list wakes;
    bool handed_off = false;
    {
      std::lock_guard held(lock_);
      std::uint64_t s = state_.load(std::memory_order_relaxed);
      if (readers_of(s) != 1 || (s & writers_waiting_bit) == 0) return false;
      if (detail::waiter* w = writers_.dequeue_claimed()) {
        // Our read count becomes the writer's hold in one step.
        const std::uint64_t clear = writers_.empty() ? writers_waiting_bit : 0;
        std::uint64_t next;
        do {
          next = ((s - one_reader) | writer_bit) & ~clear;
        } while (!state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                               std::memory_order_relaxed));
        wakes.add(*w);
        handed_off = true;
      } else {
        // Every queued writer was interrupted: admit the readers that queued behind them. We
        // keep our own read count until we have woken them.
        state_.fetch_and(~writers_waiting_bit, std::memory_order_relaxed);
        admit_readers(wakes);
      }
    }
    wakes.wake_all();
    return handed_off;
  }

  // abandon_writer_wait: a queued writer interrupted by the shutdown leaves. If it was the last
  // queued writer and no writer holds the lock, the readers that queued behind it go in.
  void abandon_writer_wait() {
    detail::wake_list wakes;
    std::lock_guard held(lock_);
    if (!writers_.empty()) return;
    const std::uint64_t s =
        state_.fetch_and(~writers_waiting_bit, std::memory_order_relaxed) & ~writers_waiting_bit;
    if ((s & writer_bit) == 0) admit_readers(wakes);
  }

  // admit_readers: takes every queued reader in as a holder, adding it to `wakes`. Requires
  // lock_ and that no writer holds the lock.
  void admit_readers(detail::wake_list& wakes) {
    std::uint64_t admitted = 0;
    take_readers(wakes, admitted);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while (!state_.compare_exchange_weak(s, (s & ~readers_waiting_bit) + admitted * one_reader,
                                         std::memory_order_release, std::memory_order_relaxed)) {
    }
  }

  // take_readers: claims every queued reader, adding it to `wakes` and counting it in
  // `admitted`. The caller must count them in. Requires lock_.
  void take_readers(detail::wake_list& wakes, std::uint64_t& admitted) noexcept {
    while (detail::waiter* w = readers_.dequeue_claimed()) {
      wakes.add(*w);
      ++admitted;
    }
  }

  std::atomic<std::uint64_t> state_{0};  // reader count << reader_shift | waiting bits | writer
  detail::futex_mutex lock_;             // guards writers_, readers_ and the waiting bits
  detail::wait_queue writers_;           // writers waiting for the lock, FIFO
  detail::wait_queue readers_;           // readers waiting behind a writer
};

namespace detail {

// shared_mutex_lock: the locks of a goro::shared_mutex that condition_variable::wait takes.
template <class Lock>
concept shared_mutex_lock = std::same_as<Lock, std::unique_lock<goro::shared_mutex>> ||
    std::same_as<Lock, std::shared_lock<goro::shared_mutex>>;

}  // namespace detail

/// condition_variable: a rendezvous point for goroutines and threads waiting for a condition
/// that a goro::mutex protects (sync.Cond). wait releases the mutex and blocks in one step with
/// respect to notify: a notify that follows the unlock — by a holder of the mutex or anyone
/// else — finds the waiter queued, so no wake-up is lost. Waiters are woken in FIFO order.
/// Spurious wake-ups do not happen, but use the predicate form anyway, as with any condvar.
/// As Go's Cond takes any Locker, wait also takes a lock on a goro::shared_mutex: a
/// std::unique_lock of it (its write lock) or a std::shared_lock (its read lock, Go's
/// sync.NewCond(rw.RLocker())).
//
// Invariants: waiters_ holds exactly the waiters not yet claimed by a notify (or the shutdown).
// A waiter queues and releases the mutex while it holds lock_, and keeps lock_ until it has
// switched out, so a notifier, which needs lock_, sees it queued.
class condition_variable {
 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  /// wait: releases the mutex `lk` holds, blocks until notified, and locks it again before it
  /// returns. From any goroutine or thread. Throws goro::error if `lk` does not hold its mutex. If
  /// the shutdown unwinds the waiting goroutine, the mutex is locked again first (without
  /// interruption), so `lk` owns it during the unwinding as after a normal return.
  void wait(std::unique_lock<mutex>& lk) { wait_with(lk); }

  /// wait: wait(lk) until pred() is true; pred is called with the mutex held.
  template <class Predicate>
  void wait(std::unique_lock<mutex>& lk, Predicate pred) {
    while (!pred()) wait(lk);
  }

  /// wait: wait(lk) for a lock of a goro::shared_mutex — std::unique_lock (the write lock) or
  /// std::shared_lock (a read lock): releases it, blocks until notified, and takes it again in
  /// the same mode before it returns (also when the shutdown unwinds the waiter). Throws
  /// goro::error if `lk` does not hold its mutex.
  template <class Lock>
    requires detail::shared_mutex_lock<Lock>
  void wait(Lock& lk) { wait_with(lk); }

  /// wait: wait(lk) until pred() is true, for a lock of a goro::shared_mutex; pred is called
  /// with the lock held.
  template <class Lock, class Predicate>
    requires detail::shared_mutex_lock<Lock>
  void wait(Lock& lk, Predicate pred) {
    while (!pred()) wait_with(lk);
  }

  /// notify_one: wakes the longest-waiting waiter, if any. From any goroutine or thread, with or
  /// without the mutex held.
  void notify_one() {
    detail::note_api_use();
    detail::waiter* w = nullptr;
    {
      std::lock_guard held(lock_);
      w = waiters_.dequeue_claimed();
    }
    if (w != nullptr) detail::wake(*w->owner);
  }

  /// notify_all: wakes every waiter. From any goroutine or thread, with or without the mutex held.
  void notify_all() {
    detail::note_api_use();
    detail::wake_list wakes;  // wakes in FIFO order once the lock is released
    std::lock_guard held(lock_);
    while (detail::waiter* w = waiters_.dequeue_claimed()) wakes.add(*w);
  }

 private:
  // wait_with: every wait. `lk` is a std::unique_lock of a goro::mutex, or a std::unique_lock or
  // std::shared_lock of a goro::shared_mutex, whose unlock never blocks.
  template <class Lock>
  void wait_with(Lock& lk) {
    detail::stop_point();
    if (!lk.owns_lock()) {
      throw error("goro::condition_variable: wait needs a lock that holds its mutex");
    }
    detail::wait_handle h = detail::open_wait();
    detail::waiter w = h.make_waiter();
    std::unique_lock held(lock_);
    lk.unlock();  // may wake a locker; never blocks
    relock_if_unwinding<Lock> relock{lk};
    detail::block_on(waiters_, w, h, held, detail::wait_reason::cond);  // releases lock_
    // Still under `relock`: a notified waiter that meets the end of the run here (the lock's
    // stop point, or its park interrupted) is unwound with `lk` owning the mutex all the same.
    lk.lock();
  }

  // relock_if_unwinding: locks `lk` again if the wait ends by unwinding, whether the shutdown
  // interrupted the wait or stopped the goroutine as it locked `lk` again after a notify. The lock
  // taken during unwinding is an uninterruptible wait (open_wait sees the exception in flight).
  template <class Lock>
  struct relock_if_unwinding {
    Lock& lk;
    int uncaught = std::uncaught_exceptions();
    ~relock_if_unwinding() {
      if (std::uncaught_exceptions() > uncaught) lk.lock();
    }
  };

  detail::futex_mutex lock_;    // guards waiters_
  detail::wait_queue waiters_;  // FIFO
};

/// once: runs a function exactly once (sync.Once), like std::call_once. Callers that arrive while
/// it runs wait for it. If it throws, the once is not done: the exception goes to that caller, and
/// one of the waiting or later callers runs the function again.
//
// state_ packs done_bit, running_bit and the number of counted waiters (above waiter_shift), so
// that the runner's finish — one atomic exchange — learns in the same step whether anyone waits:
// if nobody does, it touches the once no more (a caller that saw it done may already have
// destroyed it). Otherwise it hands out one release per counted waiter, as wait_group does; a
// waiter that counted itself but has not queued yet finds its release in unclaimed_releases_. A
// released waiter looks at state_ again: done, or free to run the function itself.
//
// Invariants: done_bit is final; running_bit is set by exactly one caller, the runner, and cleared
// only by its finish; releases handed out never fall short of the waiters counted. A waiter that
// the shutdown interrupts leaves its count behind: its release ends up in unclaimed_releases_,
// where it costs a later waiter one extra look at state_ and nothing else.
class once {
 public:
  once() = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  /// call: runs fn() unless a call has already completed; waits while another caller runs it.
  /// From any goroutine or thread. Rethrows fn's exception (the once then stays not done).
  template <class F>
  void call(F&& fn) {
    detail::note_api_use();
    detail::stop_point();
    if ((state_.load(std::memory_order_acquire) & done_bit) != 0) [[likely]]
      return;
    if (!enter()) return;
    try {
      static_cast<void>(std::invoke(std::forward<F>(fn)));  // dropped, [[nodiscard]] or not
    } catch (...) {
      finish(false);
      throw;
    }
    finish(true);
  }

 private:
  static constexpr std::uint64_t done_bit = 1;
  static constexpr std::uint64_t running_bit = 2;
  static constexpr int waiter_shift = 2;
  static constexpr std::uint64_t one_waiter = std::uint64_t{1} << waiter_shift;

  // enter: returns true when the caller is to run the function, false once it has completed.
  bool enter() {
    std::uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((s & done_bit) != 0) return false;
      if ((s & running_bit) == 0) {
        if (state_.compare_exchange_weak(s, s | running_bit, std::memory_order_acquire,
                                         std::memory_order_acquire)) {
          return true;
        }
        continue;
      }
      if (!state_.compare_exchange_weak(s, s + one_waiter, std::memory_order_acquire,
                                        std::memory_order_acquire)) {
        continue;
      }
      await_release();
      s = state_.load(std::memory_order_acquire);
    }
  }

  // await_release: blocks a counted waiter until the runner finishes.
  void await_release() {
    detail::wait_handle h = detail::open_wait();
    detail::waiter w = h.make_waiter();
    std::unique_lock held(lock_);
    if (unclaimed_releases_ > 0) {
      --unclaimed_releases_;
      return;
    }
    detail::block_on(waiters_, w, h, held, detail::wait_reason::once);
  }

  // finish: the runner's last step: done (or free again after an exception), and one release
  // per counted waiter.
  void finish(bool succeeded) {
    const std::uint64_t s = state_.exchange(succeeded ? done_bit : 0, std::memory_order_acq_rel);
    std::uint64_t waiting = s >> waiter_shift;
    if (waiting == 0) return;  // nobody can be inside call() on our account: touch nothing more
    detail::wake_list wakes;
    std::lock_guard held(lock_);
    waiting = detail::claim_front(waiters_, waiting, wakes);
    unclaimed_releases_ += waiting;  // counted waiters that have not queued yet
  }

  std::atomic<std::uint64_t> state_{0};  // waiters << waiter_shift | running | done
  detail::futex_mutex lock_;             // guards waiters_ and unclaimed_releases_
  detail::wait_queue waiters_;
  std::uint64_t unclaimed_releases_ = 0;
};

namespace detail {

// context_wait_watch: ends a wait when a context is cancelled (a cancel_hook of the context's
// node). The cancellation claims the waiter — after which no grant can reach it — marks it
// cancelled and wakes its owner; a grant that claims it first leaves the cancellation nothing
// to do. Lives on the waiting goroutine's stack, registered from before the waiter is published
// until the wait is over (the destructor unregisters it, waiting for a call in progress).
class context_wait_watch final : public cancel_hook {
 public:
  static constexpr std::uint32_t cancelled = 1;  // waiter::outcome written by the cancellation

  explicit context_wait_watch(waiter& w) noexcept : waiter_(w) {}
  context_wait_watch(const context_wait_watch&) = delete;
  context_wait_watch& operator=(const context_wait_watch&) = delete;
  ~context_wait_watch() {
    if (node_ != nullptr) node_->remove_hook(*this);
  }

  // start: watches `node`; false, watching nothing, if it is cancelled already.
  bool start(cancel_node& node) noexcept {
    if (!node.add_hook(*this)) return false;
    node_ = &node;
    return true;
  }

 private:
  // on_cancel: under the node's lock. The owner may still be switching out: wake() waits for
  // that. After wake() nothing of the owner's stack — this object included — is touched.
  void on_cancel() noexcept override {
    if (!waiter_.try_claim()) return;  // granted first
    waiter_.outcome = cancelled;
    wake(*waiter_.owner);
  }

  waiter& waiter_;
  cancel_node* node_ = nullptr;  // the watched node (the caller's context keeps it alive)
};

}  // namespace detail

/// semaphore: a weighted semaphore (golang.org/x/sync/semaphore.Weighted) of a fixed capacity.
/// acquire(n) takes n permits, blocking until they are free; waiters are served strictly in FIFO
/// order, so a large acquire is never overtaken by later small ones (nor does a free permit let a
/// small one jump the queue while a large one waits at its front).
//
// Invariants (under lock_): 0 <= held_ <= capacity_; a waiter's permits are added to held_ only
// by the waker that claimed it, before it wakes it, so a waiter the shutdown interrupted was
// granted nothing; the front waiter needs more than capacity_ - held_ whenever the lock is free
// (every release and every departure of a waiter re-serves the queue).
class semaphore {
 public:
  /// semaphore: a semaphore of `capacity` permits, all free. Throws goro::error if negative.
  explicit semaphore(std::ptrdiff_t capacity) : capacity_(capacity) {
    if (capacity < 0) {
      throw error("goro::semaphore: negative capacity " + std::to_string(capacity));
    }
  }
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// acquire: takes n permits, blocking until they are free and every earlier waiter is served.
  /// From any goroutine or thread. Throws goro::error if n is negative. More permits than the
  /// capacity can never be had: as x/sync's Acquire, which then waits for its context without
  /// holding up anyone behind it, the caller blocks without joining the queue — with no context
  /// here, until main returns and the goroutine is stopped (deadlock detection sees it blocked).
  /// acquire(ctx, n) gives up when a context is done.
  void acquire(std::ptrdiff_t n = 1) {
    detail::stop_point();
    throw_if_negative("acquire", n);
    if (n > capacity_) {
      detail::park_forever(detail::wait_reason::semaphore, detail::wait_detail::none);
    }
    detail::wait_handle h = detail::open_wait();
    std::unique_lock held(lock_);
    if (capacity_ - held_ >= n && waiters_.empty()) {
      held_ += n;
      return;
    }
    detail::waiter w = h.make_waiter();
    w.amount = n;
    try {
      detail::block_on(waiters_, w, h, held, detail::wait_reason::semaphore);
    } catch (const detail::goroutine_exit&) {
      serve_after_departure();  // we may have been the front waiter holding up the others
      throw;
    }
    // The waker added our n permits to held_ before waking us.
  }

  /// acquire: x/sync's Acquire(ctx, n): takes n permits as acquire(n) does, or gives up when
  /// `ctx` is done first. Returns {} once the permits are taken; ctx.err() if the context is done
  /// before they are granted, leaving the semaphore as if the call had not been made (a waiter
  /// that gives up from the front of the queue lets the ones behind it in, if they fit now).
  /// Exactly one of the two happens, whichever comes first: a grant and a cancellation never
  /// both count. As x/sync's (0.1.0, Debian's), a context already done does not stop an acquire
  /// whose permits are free and that nobody waits ahead of; one that would have to wait fails
  /// at once. An acquire of more than the capacity waits for the context without joining the
  /// queue, as x/sync's does. From any goroutine or thread; throws goro::error if n is negative.
  [[nodiscard]] std::error_code acquire(const context& ctx, std::ptrdiff_t n = 1) {
    detail::stop_point();
    throw_if_negative("acquire", n);
    detail::cancel_node* node = detail::anchor_of(detail::context_access::node(ctx));
    if (node == nullptr) {  // a context that is never done, like background()
      acquire(n);
      return {};
    }
    detail::wait_handle h = detail::open_wait();
    detail::waiter w = h.make_waiter();
    w.amount = n;
    detail::context_wait_watch watch(w);
    if (n > capacity_) {
      if (watch.start(*node)) await_cancel(h);
      return ctx.err();
    }
    detail::wake_list wakes;  // woken after held is released
    std::unique_lock held(lock_);
    if (capacity_ - held_ >= n && waiters_.empty()) {
      held_ += n;
      return {};
    }
    if (!watch.start(*node)) return ctx.err();  // done already: it would have to wait
    detail::block_on(waiters_, w, h, held, detail::wait_reason::semaphore,
                     detail::wait_detail::none, [&] { serve(wakes); });
    if (w.outcome != detail::context_wait_watch::cancelled) return {};  // granted
    // The cancellation claimed the waiter: no grant can reach it. Leave the queue (a grant that
    // found the waiter claimed has unlinked it already) and serve whoever now fits.
    held.lock();
    waiters_.remove(w);
    serve(wakes);
    return ctx.err();
  }

  /// try_acquire: takes n permits if they are free and nobody waits; never blocks. False for n
  /// above the capacity, as x/sync's TryAcquire; throws goro::error if n is negative.
  bool try_acquire(std::ptrdiff_t n = 1) {
    detail::note_api_use();
    detail::stop_point();
    throw_if_negative("try_acquire", n);
    std::lock_guard held(lock_);
    if (capacity_ - held_ >= n && waiters_.empty()) {
      held_ += n;
      return true;
    }
    return false;
  }

  /// release: returns n permits and wakes the waiters at the front that now fit. Throws
  /// goro::error, changing nothing, if n is negative or more than are held.
  void release(std::ptrdiff_t n = 1) {
    detail::note_api_use();
    throw_if_negative("release", n);
    detail::wake_list wakes;
    std::lock_guard held(lock_);
    if (n > held_) {
      throw error("goro::semaphore: release(" + std::to_string(n) + ") of more than held (" +
                  std::to_string(held_) + " of " + std::to_string(capacity_) +
                  "; Go: \"semaphore: released more than held\")");
    }
    held_ -= n;
    serve(wakes);
  }

 private:
  static void throw_if_negative(const char* what, std::ptrdiff_t n) {
    if (n < 0) {
      throw error(std::string("goro::semaphore: ") + what + "(" + std::to_string(n) +
                  ") is negative");
    }
  }

  // serve: grants permits to the front waiters while the next one fits, in order, adding them
  // to `wakes` (woken in that order after lock_ is released). Requires lock_.
  void serve(detail::wake_list& wakes) {
    while (detail::waiter* w = waiters_.front()) {
      if (capacity_ - held_ < w->amount) break;  // FIFO: nobody overtakes the front waiter
      waiters_.remove(*w);
      if (!w->try_claim()) continue;  // interrupted by the shutdown: it leaves with nothing
      held_ += w->amount;
      wakes.add(*w);
    }
  }

  void serve_after_departure() {
    detail::wake_list wakes;
    std::lock_guard held(lock_);
    serve(wakes);
  }

  // await_cancel: parks the caller, queued nowhere, until its context's cancellation (through a
  // started context_wait_watch) or the shutdown claims the wait of `h`.
  static void await_cancel(const detail::wait_handle& h) {
    if (detail::park(h, detail::wait_reason::semaphore, detail::wait_detail::none, [] {})) {
      throw detail::goroutine_exit{};
    }
  }

  const std::ptrdiff_t capacity_;
  detail::futex_mutex lock_;    // guards held_ and waiters_
  std::ptrdiff_t held_ = 0;     // permits acquired and not released
  detail::wait_queue waiters_;  // FIFO; waiter::amount is the weight
};

}  // namespace goro
