// goro/detail/fallback_timers.hpp — the timer heap of no run, and the one thread that fires it.
//
// While a run is active every timer goes into that run's heaps (time.hpp). Timers made with no
// run active — before the first run, between runs, or pending when a run ends — go here instead,
// and a background thread, started the first time a timer needs it, fires them on time.
//
// Such a timer can still wake a goroutine of a later run: a context deadline or a goro::timer
// made before run() and waited on inside it. So deadlock detection (scheduler::on_quiescence)
// counts this heap as an outside waker, as it counts blocking() calls and plain threads: while
// pending() is true no deadlock is declared, and after each batch of firings the thread asks the
// active run, if any, to look again (recheck_active_run, defined in scheduler.hpp).
//
// Invariants:
//   - firing_ is non-zero from before the thread pops a batch of expired entries until after
//     their callbacks have run (and readied whatever goroutines they wake). A reader that finds
//     the heap empty and then firing_ at zero therefore sees every goroutine those firings woke.
//   - The object is created on first use and never destroyed: the detached thread may still be
//     asleep in it when the process exits.
//
// Included by scheduler.hpp only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "timer_heap.hpp"

namespace goro::detail {

// recheck_active_run: after firings on the fallback thread, the active run (if any) checks again
// whether it is deadlocked. Defined in scheduler.hpp.
inline void recheck_active_run() noexcept;

class fallback_timers {
 public:
  // instance: the process's fallback heap, created on first use. From any thread.
  GORO_PROCESS_WIDE static fallback_timers& instance() {
    static fallback_timers* const timers = create();
    return *timers;
  }

  // pending: whether a timer of this heap is pending or firing now. Never creates the heap.
  static bool pending() noexcept {
    const fallback_timers* timers = published().load(std::memory_order_acquire);
    if (timers == nullptr) return false;
    // The heap before firing_: the thread raises firing_ before it empties the heap.
    if (!timers->heap_.empty()) return true;
    return timers->firing_.load(std::memory_order_seq_cst) != 0;
  }

  // add: schedules `node`, starting the thread if this is the first timer. Throws if the thread
  // cannot be started (the node is then not scheduled).
  void add(timer_node& node) {
    {
      std::lock_guard guard(lock_);
      if (!started_) {
        std::thread([this] { serve(); }).detach();
        started_ = true;
      }
    }
    if (heap_.add(node)) {
      // The thread reads the earliest deadline under lock_ before it sleeps: taking the lock
      // here means it either sees our node or is already waiting when we notify.
      std::lock_guard guard(lock_);
      changed_.notify_one();
    }
  }

  // remove: unschedules `node`; false if it had already left the heap (its fire is on its way).
  bool remove(timer_node& node) noexcept { return heap_.remove(node); }

 private:
  fallback_timers() = default;

  static fallback_timers* create() {
    auto* timers = new fallback_timers();
    published().store(timers, std::memory_order_release);
    return timers;
  }

  // published: the heap once created, for pending(), which must not create it.
  GORO_PROCESS_WIDE static std::atomic<fallback_timers*>& published() noexcept {
    static std::atomic<fallback_timers*> timers{nullptr};
    return timers;
  }

  [[noreturn]] void serve() {
    std::unique_lock guard(lock_);
    for (;;) {
      const std::int64_t earliest = heap_.earliest();
      if (earliest == timer_heap::none) {
        changed_.wait(guard);
        continue;
      }
      const auto now = clock::now();
      if (to_nanoseconds(now) < earliest) {
        changed_.wait_until(guard, clock::time_point(std::chrono::nanoseconds(earliest)));
        continue;
      }
      guard.unlock();
      fire_expired(now);
      guard.lock();
    }
  }

  void fire_expired(clock::time_point now) {
    firing_.fetch_add(1, std::memory_order_seq_cst);
    heap_.run_expired(now);
    firing_.fetch_sub(1, std::memory_order_seq_cst);
    recheck_active_run();
  }

  timer_heap heap_;
  std::atomic<int> firing_{0};  // see the invariants above
  std::mutex lock_;  // guards started_; orders the thread's look at heap_ with add's notify
  std::condition_variable changed_;
  bool started_ = false;
};

}  // namespace goro::detail
