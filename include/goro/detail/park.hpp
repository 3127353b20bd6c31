// goro/detail/park.hpp — the one blocking primitive (the third layer of docs/architecture.md) as
// goro's objects use it.
//
// The pattern of every blocking operation, on a goroutine or a plain thread alike:
//
//   wait_handle h = open_wait();                 // new ticket on the caller's parker
//   std::unique_lock held(object_lock);
//   ... fast path: proceed without waiting and return ...
//   waiter w = h.make_waiter();  w.slot = ...;
//   block_on(queue, w, h, held, wait_reason::...);   // publish, park, unlock after the switch
//   ... the claimer has written w.outcome (or moved the value) before waking us ...
//
// A claimer (see waiter.hpp) dequeues the waiter under object_lock, wins try_claim, delivers,
// and calls wake() — after releasing the lock if it can, and never touching the waiter again.
#pragma once

#include <exception>
#include <mutex>

#include "callable.hpp"
#include "futex.hpp"
#include "goroutine.hpp"
#include "scheduler.hpp"
#include "thread_state.hpp"
#include "waiter.hpp"

namespace goro::detail {

// register_plain_thread: counts a plain thread for deadlock detection (API 1.3) until it exits.
struct plain_thread_exit_hook {
  bool armed = false;
  ~plain_thread_exit_hook() {
    if (!armed) return;
    const std::uint64_t run = this_thread().registered_run;
    scheduler_ref ref;
    if (ref && ref->run_id() == run) ref->plain_thread_exited();
  }
};

GORO_PROCESS_WIDE GORO_NOINLINE inline void register_plain_thread(thread_state& ts,
                                                                  std::uint64_t run) noexcept {
  scheduler_ref ref;
  if (!ref || ref->run_id() != run) return;
  thread_local plain_thread_exit_hook hook;
  hook.armed = true;
  ts.registered_run = run;
  ref->plain_thread_started();
}

// note_plain_thread: every entry point of the API calls this (through note_api_use) so that a
// plain thread counts from its first use of goro during a run.
inline void note_plain_thread(thread_state& ts) noexcept {
  if (ts.role != thread_role::plain) return;
  const std::uint64_t run = process().active_run.load(std::memory_order_acquire);
  if (run != 0 && ts.registered_run != run) register_plain_thread(ts, run);
}

inline void note_api_use() noexcept {
  thread_state& ts = this_thread();
  if (ts.current == nullptr) note_plain_thread(ts);
}

// chaos_point: with GORO_CHAOS set, a goroutine may yield here (scheduler::chaos_yield). Placed
// at the entry of channel, select and sync operations — never where an internal lock is held.
inline void chaos_point() {
  const std::uint8_t attention = process().attention.load(std::memory_order_relaxed);
  if ((attention & process_state::attention_chaos) == 0) [[likely]]
    return;
  thread_state& ts = this_thread();
  if (ts.current != nullptr) ts.self->sched.chaos_yield(*ts.current);
}

// stop_point: chaos_point, where a goroutine that has run for a whole time slice yields when the
// monitor asks (scheduler::monitor_preemption), and once main has returned, where a goroutine is
// stopped (API 1.1):
// at the entry of every operation that may block — whether it has to wait or not, so that a
// goroutine looping on a buffered channel, an unlocked mutex or a ready select is stopped too —
// and of the try_ forms of channel and sync operations (a loop that spins on try_lock until the
// holder, on the same worker, lets go must yield to it). Not in operations that release
// (unlock, done, close), which destructors call while a goroutine is unwound.
//
// The check is inlined and the rest is not, so that the operations' fast paths make no call for
// it. With a call, the contended mutex workload of benchmarks/compare ran in 115 or 430 ms
// according to where the linker put stop_point (moving it by 16 bytes was enough).
[[gnu::cold]] inline void stop_point_attended(std::uint8_t attention);

inline void stop_point() {
  const std::uint8_t attention = process().attention.load(std::memory_order_relaxed);
  if (attention == 0) [[likely]]
    return;
  stop_point_attended(attention);
}

// stop_point_attended: stop_point, once the attention word is set.
inline void stop_point_attended(std::uint8_t attention) {
  thread_state& ts = this_thread();
  if (ts.current == nullptr) return;
  if ((attention & process_state::attention_stopping) != 0) {
    ts.current->running_on->sched.throw_if_stopping();
  }
  if ((attention & process_state::attention_chaos) != 0) ts.self->sched.chaos_yield(*ts.current);
  if ((attention & process_state::attention_preempt) != 0) {
    ts.self->sched.yield_if_asked(*ts.current);
  }
}

// current_goroutine: the calling goroutine, or nullptr on a plain thread.
inline goroutine* current_goroutine() noexcept {
  return this_thread().current;
}

struct wait_handle {
  parker* self;
  std::uint64_t ticket;

  waiter make_waiter() const noexcept {
    waiter w;
    w.owner = self;
    w.ticket = ticket;
    return w;
  }
};

// open_wait: a new wait on the caller's parker. (A wait opened while the caller is being unwound
// — a blocking call in a destructor — is not interrupted by the shutdown: the scheduler sees the
// exception in flight in the goroutine's stashed state.)
inline wait_handle open_wait() {
  thread_state& ts = this_thread();
  if (ts.current != nullptr) {
    parker& p = ts.current->park;
    return {&p, begin_wait(p, true)};
  }
  note_plain_thread(ts);
  return {&ts.thread_parker, begin_wait(ts.thread_parker, true)};
}

inline void park_thread(parker& p, function_ref<void()> after) {
  after();
  while (p.wakeup.load(std::memory_order_acquire) == 0) futex_wait(p.wakeup, 0);
  p.wakeup.store(0, std::memory_order_relaxed);
}

// park: blocks until the wait of `h` is claimed and woken; `after` runs once the caller is off
// its stack (a plain thread: at once) and must release the lock that guards its waiters.
// Returns true if the shutdown interrupted the wait.
inline bool park(const wait_handle& h, wait_reason reason, wait_detail detail,
                 function_ref<void()> after) {
  if (goroutine* g = h.self->g; g != nullptr) {
    return g->running_on->sched.park(*g, reason, detail, after);
  }
  park_thread(*h.self, after);
  return false;
}

// unwind_if_stopping: called by an operation about to report a closed channel or connection.
// Once main has returned, the unwinding of other goroutines may have closed what a goroutine
// still running uses (a destructor that closes a channel or a conn); that goroutine is then
// stopped there, as at a blocking operation (API 1.1), rather than failing with an error that
// nothing expects and that would end the process.
inline void unwind_if_stopping() {
  if (goroutine* g = this_thread().current; g != nullptr) g->running_on->sched.throw_if_stopping();
}

// park_forever: blocks until the shutdown (a nil channel, a select with no cases).
[[noreturn]] inline void park_forever(wait_reason reason, wait_detail detail) {
  wait_handle h = open_wait();
  park(h, reason, detail, [] {});
  throw goroutine_exit{};
}

// wake: readies the claimed owner of `p`.
inline void wake(parker& p) {
  if (p.g == nullptr) {
    p.wakeup.store(1, std::memory_order_release);
    futex_wake(p.wakeup, 1);
    return;
  }
  thread_state& ts = this_thread();
  if (ts.self != nullptr) {
    ts.self->sched.ready(p.g, ts);
    return;
  }
  scheduler_ref ref;
  if (ref) ref->ready(p.g, ts);
}

// block_on: publishes `w` on `queue` (guarded by the lock `held` owns) and parks until a claimer
// wakes it; the lock is released after the switch. If the shutdown interrupts the wait, `w` is
// unlinked and the goroutine is unwound.
template <class Lock>
void block_on(wait_queue& queue, waiter& w, const wait_handle& h, std::unique_lock<Lock>& held,
              wait_reason reason, wait_detail detail = wait_detail::none) {
  block_on(queue, w, h, held, reason, detail, [] {});
}

// block_on with `on_interrupt`: called under the lock, after `w` is unlinked, when the shutdown
// interrupted the wait — for objects that must also undo bookkeeping done for the waiter.
template <class Lock, class F>
void block_on(wait_queue& queue, waiter& w, const wait_handle& h, std::unique_lock<Lock>& held,
              wait_reason reason, wait_detail detail, F&& on_interrupt) {
  queue.push_back(w);
  if (!park(h, reason, detail, [&] { held.unlock(); })) return;
  held.lock();
  queue.remove(w);
  on_interrupt();
  held.unlock();
  throw goroutine_exit{};
}

// wake_list: the owners of waiters claimed under a lock, woken in the order they were added
// when the list is destroyed (or by wake_all). Declare it before the lock guard so that it is
// destroyed — and wakes — after the lock is released. The list links the owners' parkers
// (parker::next_woken), not the waiters: a claimer may write a claimed owner's parker until it
// wakes it, and waking reads nothing from the waiter, whose stack line, one page per goroutine,
// may have left the cache and the TLB by then (a close waking 10k receivers paid for it twice).
class wake_list {
 public:
  wake_list() = default;
  wake_list(const wake_list&) = delete;
  wake_list& operator=(const wake_list&) = delete;
  ~wake_list() { wake_all(); }

  // add: `w` must have been claimed by the caller (try_claim won), and not yet woken.
  void add(waiter& w) noexcept {
    parker* const p = w.owner;
    p->next_woken = nullptr;
    (tail_ != nullptr ? tail_->next_woken : head_) = p;
    tail_ = p;
  }

  bool empty() const noexcept { return head_ == nullptr; }

  // wake_all: wakes every owner added so far, in order, and empties the list.
  void wake_all() {
    parker* p = head_;
    head_ = tail_ = nullptr;
    while (p != nullptr) {
      parker* const next = p->next_woken;
      wake(*p);  // `p` may be waiting again from here on: read nothing more from it
      p = next;
    }
  }

 private:
  parker* head_ = nullptr;
  parker* tail_ = nullptr;
};

// claim_front: claims up to `n` waiters from the front of `queue` into `wakes` (waiters claimed
// elsewhere are dropped on the way, as dequeue_claimed drops them); returns how many of the `n`
// found no waiter. Requires the lock that guards `queue`.
template <class Count>
Count claim_front(wait_queue& queue, Count n, wake_list& wakes) noexcept {
  for (; n > 0; --n) {
    waiter* w = queue.dequeue_claimed();
    if (w == nullptr) break;
    wakes.add(*w);
  }
  return n;
}

}  // namespace goro::detail
