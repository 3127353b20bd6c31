/// \file
/// goro/time.hpp — sleeping and timers (API section 4): sleep_for, sleep_until, after, tick,
/// timer, ticker, after_func.
///
/// ```cpp
///   goro::timer t(50ms);
///   goro::select(goro::on_recv(results, [&](auto r) { use(r); }),
///                goro::on_recv(t.c(), [&](auto) { give_up(); }));
///   if (!t.stop()) { /* it had fired: its value is in t.c() unless received */ }
/// ```
///
/// Sleeping parks the goroutine on the runtime's timer heap, never its worker thread; on a plain
/// thread it sleeps the thread.
///
/// Timers (timer, ticker, after, tick, after_func, and the deadlines of <goro/context.hpp>) are
/// timer_states: a counted object with one node for a timer heap. While a run is active every
/// timer goes into that run's heap (detail/timer_heap.hpp; O(log n) per add, remove and expiry,
/// no thread or goroutine per timer) and fires on one of its workers. With no run active — a
/// plain program that has not called goro::run, or has finished it — timers go into the fallback
/// heap, served by one background thread that goro starts the first time it is needed; and a
/// timer still pending when its run ends moves there, so it fires on time (after_func's aside,
/// see below). So timers work everywhere channels do.
/// A pending timer of the fallback heap counts for deadlock detection like any pending timer: a
/// goroutine waiting for a timer (or a context deadline) made before its run began is not
/// reported as deadlocked.
///
/// A timer sends the time it fired (steady_clock::now() in the callback, never earlier than its
/// deadline) on a channel of capacity 1 with a non-blocking send: a firing that finds the channel
/// full is dropped — a ticker never queues more than one tick for a slow receiver, like Go's.
///
/// An after_func timer instead starts a goroutine that calls its function. It needs a run to
/// start that goroutine in: it is armed only while a run is active, and never moves to the
/// fallback heap — one still pending when its run ends is dropped, f never called.
//
// Invariants of a timer_state (all under its lock_):
//   - gen_ numbers the arms: every arm, stop and reset increments it, and the node enters a heap
//     with seq == gen_. A firing whose seq is not gen_ is stale and does nothing but drop the
//     heap's reference. So a stop or reset that wins the lock before a firing cancels it for good,
//     and nothing is delivered twice.
//   - armed_ is true from an arm until the current arm's firing (one-shot) or a stop.
//   - home_ says which heap owns the node: it is in that heap, or popped from it with its fire (or,
//     at the end of a run, its drop) still to come. Nobody writes the node while it is owned,
//     except the owning heap under its own lock. home_ is `none` when no heap owns it.
//   - Each time the node enters a heap, that heap holds one reference to the state, released by
//     the fire or drop callback of that entry, or by whoever removes the node successfully. So
//     the heap never touches freed memory, whatever the owner does.
//   - A run's heap is touched only while that run is known to be alive: from one of its workers,
//     or under a scheduler_ref naming it. A run that has unpublished itself still owns the nodes
//     left in its heap until its destructor drops them (drop_callback moves the armed ones someone
//     may observe to the fallback heap); meanwhile a stop or reset changes only the state, and the
//     drop obeys it.
//   - A firing calls no user code under lock_: on_fire only returns a token, and after_fire acts
//     on it (wakes a context's waiters, starts an after_func goroutine) once lock_ is released.
//   - The handles (goro::timer, goro::ticker objects) are counted apart from the references; the
//     last handle to go stops a pending channel timer whose channel nobody else holds (one that
//     someone can still receive from goes on, as in Go), never an after_func timer, whose heap
//     entry keeps it until it fires.
//
// Lock order: timer_state::lock_, then a channel's lock or a heap's lock. Callbacks run with no
// heap lock held; goroutines are woken only after every lock is released.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "chan.hpp"
#include "detail/callable.hpp"
#include "detail/channel.hpp"
#include "detail/park.hpp"
#include "detail/scheduler.hpp"
#include "detail/timer_heap.hpp"
#include "error.hpp"

namespace goro {

namespace detail {

// wake_parker: the timer callback of a sleeping goroutine.
inline void wake_parker(void* arg, std::uint64_t ticket) {
  auto* p = static_cast<parker*>(arg);
  if (try_claim(*p, ticket)) wake(*p);
}

// saturating_deadline: now + d without overflowing time_point.
inline clock::time_point saturating_deadline(clock::time_point now,
                                             std::chrono::nanoseconds d) noexcept {
  if (d > clock::time_point::max() - now) return clock::time_point::max();
  return now + std::chrono::duration_cast<clock::duration>(d);
}

inline clock::time_point saturating_deadline(std::chrono::nanoseconds d) noexcept {
  return saturating_deadline(clock::now(), d);
}

// active_scheduler: the scheduler of the active run, kept alive while this object lives, or
// nullptr. On a worker thread that is the worker's own run (alive while the worker runs); on any
// other thread a scheduler_ref holds it.
class active_scheduler {
 public:
  active_scheduler()
      : own_(own_scheduler()), ref_(own_ != nullptr ? scheduler_ref(nullptr) : scheduler_ref()) {}
  active_scheduler(const active_scheduler&) = delete;
  active_scheduler& operator=(const active_scheduler&) = delete;

  scheduler* get() const noexcept { return own_ != nullptr ? own_ : ref_.get(); }

 private:
  // own_scheduler: the run of the worker this thread is, or nullptr on any other thread.
  static scheduler* own_scheduler() noexcept {
    thread_state& ts = this_thread();
    return ts.self != nullptr ? &ts.self->sched : nullptr;
  }

  scheduler* own_;
  scheduler_ref ref_;  // empty on a worker thread
};

// timer_state: a timer that can be armed, stopped and re-armed, and whose heap entries keep it
// alive (see the invariants at the top of this file). Subclasses say what a firing does.
// Every member function may be called from any thread; the caller must hold a reference.
class timer_state {
 public:
  timer_state(const timer_state&) = delete;
  timer_state& operator=(const timer_state&) = delete;

  void retain() noexcept { references_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // rearm: Go's modtimer. Cancels the pending arm, if any, and when `when` is given arms the
  // timer to fire at *when, then every `period` after it if period > 0. A one-shot arm whose
  // deadline has passed fires at once, in this call. Returns whether an arm was pending (the
  // result of Go's Stop and Reset).
  bool rearm(std::optional<clock::time_point> when, std::chrono::nanoseconds period) {
    active_scheduler active;
    if (when.has_value()) require_armable(active.get());
    void* fired = nullptr;
    bool was_armed = false;
    {
      wake_list wakes;  // destroyed after the lock is released: wakes the receivers then
      std::lock_guard guard(lock_);
      was_armed = armed_;
      armed_ = false;
      ++gen_;
      unschedule(active.get());
      if (when.has_value()) {
        when_ = *when;
        period_ = period;
        armed_ = true;
        if (home_.where == timer_home::kind::none) {
          if (period_.count() == 0 && when_ <= clock::now()) {
            armed_ = false;
            fired = on_fire(clock::now(), wakes);
          } else {
            schedule(active.get());
          }
        }
        // Else the run that owns the node is ending: its drop_callback schedules the new arm.
      }
    }
    if (fired != nullptr) after_fire(fired, fire_site{active.get(), true});
    return was_armed;
  }

 protected:
  timer_state() = default;
  virtual ~timer_state() = default;

  // fire_site: where after_fire runs. `run` is the active run (nullptr with none: the fallback
  // heap's thread, or a rearm outside any run). `has_caller` is true inside rearm, whose caller
  // takes an exception after_fire throws; false in a heap's fire callback (on a worker's
  // scheduler context, or the fallback thread), where nothing above could take it.
  struct fire_site {
    scheduler* run;
    bool has_caller;
  };

  // on_fire: the current arm fires at `now`. Called with lock_ held, so it must not block, call
  // user code or wake anyone directly: receivers to wake go to `wakes`. It may return a non-null
  // token, which is passed to after_fire once lock_ is released (the caller of after_fire holds
  // a reference to the state throughout).
  virtual void* on_fire(clock::time_point now, wake_list& wakes) = 0;
  virtual void after_fire(void* /*token*/, const fire_site& /*site*/) {}

  // require_armable: throws goro::error if the timer cannot be armed with `active` as the active
  // run (nullptr: none). Called by rearm before it changes anything.
  virtual void require_armable(scheduler* /*active*/) const {}

  // observable: whether anyone but the heap entry could still see this timer fire. A timer of
  // an ended run that nobody can observe is dropped rather than moved to the fallback heap,
  // where it would count as pending for the deadlock detection of later runs (the timeout of a
  // select that returned another case, an after() whose channel is gone). Requires lock_.
  virtual bool observable() const noexcept { return true; }

  // shared: whether a reference other than the heap entry's holds this state.
  bool shared() const noexcept { return references_.load(std::memory_order_acquire) > 1; }

  futex_mutex lock_;  // guards everything below; see the invariants at the top of the file

 private:
  struct timer_home {
    enum class kind : std::uint8_t { none, run, fallback };
    kind where = kind::none;
    scheduler* sched = nullptr;  // kind::run: the run's scheduler
    std::uint64_t run_id = 0;    // kind::run: its run number
  };

  // unschedule: takes the node back from its heap if it is in one. If that heap's run is no
  // longer active (`active` is another run or none), the run's drop is still to come and keeps
  // home_. Requires lock_.
  void unschedule(scheduler* active) noexcept {
    switch (home_.where) {
      case timer_home::kind::none: return;
      case timer_home::kind::fallback:
        if (fallback_timers::instance().remove(node_)) drop_heap_reference();
        break;
      case timer_home::kind::run:
        if (active == nullptr || active->run_id() != home_.run_id) return;
        if (active->remove_timer(node_)) drop_heap_reference();
        break;
    }
    // Removed, or popped by a firer whose callback will find its seq stale: the node is free.
    home_ = {};
  }

  // schedule: puts the node into the active run's heap, or the fallback heap, for the current
  // arm. Requires lock_, home_ == none and armed_. If that fails (no memory, or the fallback
  // thread cannot be started) the arm is cancelled and the exception propagates.
  void schedule(scheduler* active) {
    node_.when = when_;
    node_.seq = gen_;
    node_.fire = &fire_callback;
    node_.drop = &drop_callback;
    node_.arg = this;
    retain();  // the heap's reference
    try {
      if (active != nullptr) {
        home_ = {timer_home::kind::run, active, active->run_id()};
        active->add_timer(node_);
      } else {
        home_ = {timer_home::kind::fallback, nullptr, 0};
        fallback_timers::instance().add(node_);
      }
    } catch (...) {
      home_ = {};
      armed_ = false;
      drop_heap_reference();
      throw;
    }
  }

  // drop_heap_reference: releases a heap's reference while the caller still holds its own.
  void drop_heap_reference() noexcept { references_.fetch_sub(1, std::memory_order_relaxed); }

  // next_tick: the first deadline of a periodic timer after `now`, skipping the ticks missed.
  clock::time_point next_tick(clock::time_point now) const noexcept {
    const auto period = std::chrono::duration_cast<clock::duration>(period_);
    clock::time_point next = when_ + period;
    if (next <= now) next += period * (1 + (now - next) / period);
    return next;
  }

  // fire_callback: a heap's callback for the entry (arg, seq); on a worker or the fallback
  // thread, no heap lock held. Consumes the entry's reference unless it re-schedules a ticker.
  static void fire_callback(void* arg, std::uint64_t seq) {
    auto* self = static_cast<timer_state*>(arg);
    void* fired = nullptr;
    bool keep_reference = false;
    scheduler* run = nullptr;  // the run whose heap fired the entry, alive while this runs
    {
      wake_list wakes;
      std::lock_guard guard(self->lock_);
      if (seq == self->gen_) {
        const timer_home from = self->home_;
        if (from.where == timer_home::kind::run) run = from.sched;
        self->home_ = {};
        const auto now = clock::now();
        fired = self->on_fire(now, wakes);
        if (self->period_.count() > 0 && self->observable()) {
          // A ticker re-enters the heap it fired from, keeping the entry's reference. The run
          // is alive: this callback runs on one of its workers (or it is the fallback heap's).
          // One nobody can observe any more — a tick() channel that everyone has dropped —
          // stops instead.
          self->when_ = self->next_tick(now);
          self->node_.when = self->when_;
          self->node_.seq = ++self->gen_;
          self->home_ = from;
          keep_reference = self->reinsert(from);
        } else {
          self->armed_ = false;
        }
      }
    }
    if (fired != nullptr) self->after_fire(fired, fire_site{run, false});
    if (!keep_reference) self->release();
  }

  // reinsert: puts a ticker's node back into the heap it fired from. Returns false (the ticker
  // stops) if the fallback heap cannot take it. Requires lock_. In a run it goes to the firing
  // worker's heap, which may have to grow; with no memory for that, on the worker where nobody
  // could take the exception, the process ends with a message (report_scheduler_failure).
  bool reinsert(const timer_home& from) noexcept {
    if (from.where == timer_home::kind::run) {
      try {
        from.sched->add_timer(node_);
      } catch (...) {
        report_scheduler_failure();
      }
      return true;
    }
    try {
      fallback_timers::instance().add(node_);
      return true;
    } catch (...) {
      home_ = {};
      armed_ = false;
      return false;
    }
  }

  // drop_callback: the run that owned the node has ended (called from its destructor). A
  // pending arm that someone may observe moves to the fallback heap with the entry's reference;
  // otherwise the arm ends and the reference is released.
  static void drop_callback(void* arg) noexcept {
    auto* self = static_cast<timer_state*>(arg);
    bool keep_reference = false;
    {
      std::lock_guard guard(self->lock_);
      self->home_ = {};
      if (self->armed_ && !self->observable()) self->armed_ = false;
      if (self->armed_) {
        self->node_.when = self->when_;
        self->node_.seq = self->gen_;
        self->home_ = {timer_home::kind::fallback, nullptr, 0};
        keep_reference = self->reinsert(self->home_);
      }
    }
    if (!keep_reference) self->release();
  }

  std::atomic<std::size_t> references_{1};  // the creator's, one per heap entry, others'
  timer_node node_;
  timer_home home_;
  std::uint64_t gen_ = 0;
  bool armed_ = false;
  clock::time_point when_{};
  std::chrono::nanoseconds period_{0};
};

// handled_timer: a timer_state that goro::timer or goro::ticker objects (its handles) refer to.
// Each handle also holds one of its references.
class handled_timer : public timer_state {
 public:
  // add_handle, drop_handle: count the handles. drop_handle is true for the last one.
  void add_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
  bool drop_handle() noexcept { return handles_.fetch_sub(1, std::memory_order_acq_rel) == 1; }

  // handle_channel: what the handles' c() returns.
  virtual recv_chan<clock::time_point> handle_channel() const = 0;

  // stops_with_last_handle: whether the last handle to go stops a pending arm.
  virtual bool stops_with_last_handle() const noexcept = 0;

 private:
  std::atomic<std::size_t> handles_{0};
};

// channel_timer: a timer_state that sends the firing time on a channel of capacity 1, dropping
// the value if the channel is full (Go's sendTime). The channel is never closed.
class channel_timer final : public handled_timer {
 public:
  channel_timer() = default;

  // channel: the timer's channel (the state keeps its own handle).
  const chan<clock::time_point>& channel() const noexcept { return channel_; }

  recv_chan<clock::time_point> handle_channel() const override { return channel_; }

  // stops_with_last_handle: when nobody holds the channel either: then nobody could stop, reset
  // or receive from the timer after that. A holder of c() sees it fire, as a Go program holding
  // only a timer's C does (`for (auto t : goro::ticker(d).c())`, whose ticker is a temporary, ticks
  // like Go's `for range time.NewTicker(d).C`); a ticker kept only by its channel stops at its
  // first firing after the channel's last holder has let go, as tick()'s does, and a one-shot
  // timer leaves its heap when it fires. A holder that lets go right after this check leaves a
  // timer that nobody observes armed until then: a bounded delay, never a leak.
  bool stops_with_last_handle() const noexcept override {
    return !channel_access::get(channel_)->shared();
  }

 private:
  void* on_fire(clock::time_point now, wake_list& wakes) override {
    detail::channel<clock::time_point>& c = *channel_access::get(channel_);
    std::lock_guard guard(c.lock_);
    c.send_locked(&now, false, wakes);  // would_block: the receiver is behind, drop the value
    return nullptr;
  }

  // observable: a timer or ticker object holds the state, or someone holds the channel. Once
  // neither is true, nobody can get either again.
  bool observable() const noexcept override {
    return shared() || channel_access::get(channel_)->shared();
  }

  const chan<clock::time_point> channel_{1};
};

// func_timer: the timer of goro::after_func. A firing starts a goroutine that calls the function
// (func_timer_of holds it); the goroutine holds a reference to the state while it runs. It is
// armed only while a run is active, and its pending arm is dropped, never moved to the fallback
// heap, when the run ends: f would need that run to start in.
class func_timer : public handled_timer {
 public:
  // handle_channel: nil, as the C of Go's AfterFunc timer is.
  recv_chan<clock::time_point> handle_channel() const override { return nullptr; }

  // stops_with_last_handle: no; its heap entry keeps it alive until it fires, so that
  // `goro::after_func(d, f);` with the result discarded still calls f, as in Go.
  bool stops_with_last_handle() const noexcept override { return false; }

 protected:
  func_timer() = default;

  // call: calls the function; in the goroutine a firing started.
  virtual void call() = 0;

 private:
  // started_reference: the reference to the state that a started goroutine holds.
  class started_reference {
   public:
    explicit started_reference(func_timer* state) noexcept : state_(state) { state_->retain(); }
    started_reference(started_reference&& other) noexcept
        : state_(std::exchange(other.state_, nullptr)) {}
    started_reference(const started_reference&) = delete;
    started_reference& operator=(const started_reference&) = delete;
    started_reference& operator=(started_reference&&) = delete;
    ~started_reference() {
      if (state_ != nullptr) state_->release();
    }

    func_timer* get() const noexcept { return state_; }

   private:
    func_timer* state_;
  };

  // on_fire: starting the goroutine allocates and calls into the scheduler: after_fire does it,
  // once lock_ is released.
  void* on_fire(clock::time_point, wake_list&) override { return this; }

  // after_fire: starts the goroutine in `site.run`, unless that run is ending (its main has
  // returned, or a deadlock was declared): then f is dropped, as a Go program's pending
  // AfterFuncs are when it exits. Any other failure (no memory, a stack the kernel refuses) goes
  // to rearm's caller when there is one. The heap's fire callback has none: on the worker's
  // scheduler context the process ends with a message. The site is told by the call site rather
  // than read from the thread's state: a rearm may run on a worker's scheduler context too (from
  // another timer's after_fire), and its exception then belongs to that caller.
  void after_fire(void*, const fire_site& site) override {
    scheduler* run = site.run;
    if (run == nullptr || run->ending()) return;
    try {
      run->spawn([self = started_reference(this)] { self.get()->call(); },
                 spawning_worker(*run, site), 0);
    } catch (...) {
      if (run->ending()) return;
      if (site.has_caller) throw;
      report_scheduler_failure();
    }
  }

  // spawning_worker: the worker to start the goroutine on: the caller's, when rearm's caller is
  // a goroutine of `run` (as goro::go does); otherwise none (the run's global queue). Never the
  // worker of a scheduler context: spawning there may make the worker's current goroutine step
  // back (scheduler::make_way), and on that context there is none.
  static worker* spawning_worker(scheduler& run, const fire_site& site) noexcept {
    const thread_state& ts = this_thread();
    if (!site.has_caller || ts.current == nullptr || &ts.self->sched != &run) return nullptr;
    return ts.self;
  }

  // observable: nobody observes a firing once the run has ended: f could not start.
  bool observable() const noexcept override { return false; }

  // require_armable: with no run active, the firing could not start f.
  void require_armable(scheduler* active) const override {
    if (active == nullptr) {
      throw error(
          "goro::after_func: no goro::run is active; an after_func timer is armed and fires only "
          "during a run");
    }
  }
};

// func_timer_of: a func_timer holding the function, decay-copied once, called as an lvalue at
// each firing; its result is dropped.
template <class Fn>
class func_timer_of final : public func_timer {
 public:
  template <class F>
  explicit func_timer_of(F&& fn) : fn_(std::forward<F>(fn)) {}

 private:
  // The result is dropped, as goro::go drops it (a cast: no [[nodiscard]] warning).
  void call() override { static_cast<void>(std::invoke(fn_)); }

  Fn fn_;
};

// timer_handle: a goro::timer's or goro::ticker's reference to its state. Copies share the state,
// as copies of Go's *time.Timer do; the last one to go stops a pending timer, which nobody could
// stop or reset after that — unless the state says otherwise (an after_func timer).
class timer_handle {
 public:
  timer_handle() noexcept = default;
  // timer_handle(state): takes over the creator's reference to a new state.
  explicit timer_handle(handled_timer* state) noexcept : state_(state) { state_->add_handle(); }
  timer_handle(const timer_handle& other) noexcept : state_(other.state_) {
    if (state_ == nullptr) return;
    state_->add_handle();
    state_->retain();
  }
  timer_handle(timer_handle&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  timer_handle& operator=(const timer_handle& other) noexcept {
    timer_handle(other).swap(*this);
    return *this;
  }
  timer_handle& operator=(timer_handle&& other) noexcept {
    timer_handle(std::move(other)).swap(*this);
    return *this;
  }
  ~timer_handle() {
    if (state_ == nullptr) return;
    if (state_->drop_handle() && state_->stops_with_last_handle()) {
      state_->rearm(std::nullopt, {});  // unschedules a pending arm
    }
    state_->release();
  }

  void swap(timer_handle& other) noexcept { std::swap(state_, other.state_); }
  handled_timer* get() const noexcept { return state_; }

 private:
  handled_timer* state_ = nullptr;
};

// park_until: parks goroutine `g` until `deadline`, which the caller has found still ahead on
// its reading `now` of the clock. The switch's check for expired timers reuses that reading
// (scheduler::precise_now_ns) instead of reading the clock again.
inline void park_until(goroutine& g, clock::time_point deadline, clock::time_point now) {
  g.running_on->clock_reading = to_nanoseconds(now);
  scheduler& s = g.running_on->sched;
  wait_handle h = open_wait();
  timer_node node;
  node.when = deadline;
  node.fire = &wake_parker;
  node.arg = h.self;
  node.seq = h.ticket;
  if (s.park(g, wait_reason::sleep, wait_detail::none, [&] { s.add_timer(node); })) {
    // `s` is the scheduler of this run: goroutines do not outlive it.
    s.remove_timer(node);
    throw goroutine_exit{};
  }
}

}  // namespace detail

/// sleep_until: blocks the calling goroutine (or thread) until `deadline`; returns at once if it
/// has passed.
inline void sleep_until(std::chrono::steady_clock::time_point deadline) {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current == nullptr) {
    detail::note_plain_thread(ts);
    // A deadline already past returns here: the standard library may subtract the time now from
    // it (libc++ does), which overflows for the earliest time points and then sleeps for ages.
    if (deadline > std::chrono::steady_clock::now()) std::this_thread::sleep_until(deadline);
    return;
  }
  const auto now = detail::clock::now();
  if (deadline <= now) {
    ts.current->running_on->sched.throw_if_stopping();
    return;
  }
  detail::park_until(*ts.current, deadline, now);
}

/// sleep_for: blocks the calling goroutine (or thread) for at least `d`; returns at once if d <= 0.
/// Reads the clock once: a positive `d` puts the deadline ahead.
inline void sleep_for(std::chrono::nanoseconds d) {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current == nullptr) {
    detail::note_plain_thread(ts);
    if (d > std::chrono::nanoseconds::zero()) std::this_thread::sleep_for(d);
    return;
  }
  if (d <= std::chrono::nanoseconds::zero()) {
    ts.current->running_on->sched.throw_if_stopping();
    return;
  }
  const auto now = detail::clock::now();
  detail::park_until(*ts.current, detail::saturating_deadline(now, d), now);
}

/// after: Go's time.After. Returns a channel of capacity 1 that receives, once, the time at which
/// `d` has elapsed (at once if d <= 0). From any goroutine or thread, with or without an active
/// run. The timer cannot be stopped: until it fires it keeps its channel and a heap entry, so a
/// loop that selects on a fresh after(1h) many times should use a goro::timer instead.
inline recv_chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d) {
  detail::note_api_use();
  auto* state = new detail::channel_timer();
  chan<std::chrono::steady_clock::time_point> c = state->channel();
  try {
    state->rearm(detail::saturating_deadline(d), {});
  } catch (...) {
    state->release();
    throw;
  }
  state->release();  // the heap keeps it until it fires
  return c;
}

/// tick: Go's time.Tick. Returns a channel of capacity 1 that receives the time every `d`, as a
/// ticker's c() does (a slow receiver finds at most one tick waiting), from a ticker that nothing
/// can stop or reset — for loops that tick for as long as they run:
/// `for (auto now : goro::tick(1s)) { ... }`. Unlike Go's, whose ticker leaks, it stops once
/// nobody holds the channel any more (at its next tick). A nil channel if d <= 0, as in Go. From
/// any goroutine or thread, with or without an active run.
inline recv_chan<std::chrono::steady_clock::time_point> tick(std::chrono::nanoseconds d) {
  detail::note_api_use();
  if (d.count() <= 0) return nullptr;
  auto* state = new detail::channel_timer();
  chan<std::chrono::steady_clock::time_point> c = state->channel();
  try {
    state->rearm(detail::saturating_deadline(d), d);
  } catch (...) {
    state->release();
    throw;
  }
  state->release();  // the heap keeps it while someone holds the channel
  return c;
}

/// timer: Go's time.Timer. Fires once, `d` after it is created (or reset), by sending the time on
/// c(). A handle, as Go's *time.Timer is a pointer: copies refer to the same timer. Destroying
/// the last copy of a pending timer stops it unless someone still holds c(): then it fires, as
/// Go's does for a program that kept only its C (`auto c = goro::timer(d).c(); c.recv();`).
/// Every member may be called from any goroutine or thread, with or without an active
/// run; calls through different copies may run at the same time (a stop or reset is atomic, and
/// of two stops of a pending timer exactly one returns true). One object, like any C++ object,
/// must not be assigned while another thread uses it. A timer made by after_func calls a function
/// instead of sending on c(), and differs in the ways after_func says.
class timer {
 public:
  /// timer: starts a timer that fires after `d` (at once, in the constructor, if d <= 0).
  explicit timer(std::chrono::nanoseconds d) : state_(new detail::channel_timer()) {
    detail::note_api_use();
    state_.get()->rearm(detail::saturating_deadline(d), {});
  }
  /// timer(const timer&): another handle to the same timer.
  timer(const timer&) noexcept = default;
  /// timer(timer&&): takes over the handle; the moved-from object has a nil c(), its stop()
  /// returns false and its reset() throws goro::error.
  timer(timer&&) noexcept = default;
  /// operator=: refers to `other`'s timer; the timer this object referred to is stopped if this
  /// was its last handle and nobody holds its channel.
  timer& operator=(const timer&) noexcept = default;
  /// operator=: takes over `other`'s handle, which is left nil; the timer this object referred
  /// to is stopped if this was its last handle and nobody holds its channel.
  timer& operator=(timer&&) noexcept = default;

  /// c: the channel the firing time is sent on (capacity 1). A nil channel for a moved-from timer
  /// and for a timer of after_func, which sends nothing.
  recv_chan<std::chrono::steady_clock::time_point> c() const {
    detail::note_api_use();
    if (state_.get() == nullptr) return nullptr;
    return state_.get()->handle_channel();
  }

  /// stop: prevents the timer from firing. Returns true if that stopped a pending timer; false if
  /// it had already fired or been stopped. After stop() returns false the fired value is in c()
  /// (unless someone received it): `if (!t.stop()) t.c().recv();` drains it, as in Go. After
  /// stop() returns true nothing is sent.
  bool stop() {
    detail::note_api_use();
    return state_.get() != nullptr && state_.get()->rearm(std::nullopt, {});
  }

  /// reset: re-arms the timer to fire after `d` from now, cancelling a pending firing. Returns
  /// true if the timer had been pending, false if it had fired or been stopped. A value fired
  /// earlier and not received stays in c() (as in Go 1.19: stop and drain before reset if that
  /// matters); a firing cancelled by this reset never arrives. Throws goro::error on a moved-from
  /// timer.
  bool reset(std::chrono::nanoseconds d) {
    detail::note_api_use();
    if (state_.get() == nullptr) throw error("goro::timer::reset: called on a moved-from timer");
    return state_.get()->rearm(detail::saturating_deadline(d), {});
  }

 private:
  template <class F>
  friend timer after_func(std::chrono::nanoseconds d, F&& f);

  // timer(state, d): a handle to `state` (taking over its creator's reference), armed to fire
  // after `d`.
  timer(detail::handled_timer* state, std::chrono::nanoseconds d) : state_(state) {
    state_.get()->rearm(detail::saturating_deadline(d), {});
  }

  detail::timer_handle state_;
};

/// ticker: Go's time.Ticker. Sends the time on c() every `d`; a receiver that falls behind finds at
/// most one tick waiting, the others are dropped, and the ticks keep their period (missed ones are
/// skipped, not bunched). A handle like timer: copies refer to the same ticker, and destroying the
/// last copy stops it, unless someone still holds c(): then it ticks on, as Go's does, until
/// nobody does (`for (auto t : goro::ticker(d).c())` ticks, though its ticker is a temporary).
/// Members as timer's.
class ticker {
 public:
  /// ticker: starts ticking every `d`. Throws goro::error if d <= 0 (Go panics
  /// "non-positive interval for NewTicker").
  explicit ticker(std::chrono::nanoseconds d) : state_(make(d)) {
    detail::note_api_use();
    state_.get()->rearm(detail::saturating_deadline(d), d);
  }
  /// ticker(const ticker&): another handle to the same ticker.
  ticker(const ticker&) noexcept = default;
  /// ticker(ticker&&): takes over the handle; the moved-from object has a nil c() and its
  /// reset() throws goro::error.
  ticker(ticker&&) noexcept = default;
  /// operator=: refers to `other`'s ticker; the ticker this object referred to is stopped if this
  /// was its last handle and nobody holds its channel.
  ticker& operator=(const ticker&) noexcept = default;
  /// operator=: takes over `other`'s handle, which is left nil; the ticker this object referred
  /// to is stopped if this was its last handle and nobody holds its channel.
  ticker& operator=(ticker&&) noexcept = default;

  /// c: the channel ticks are sent on (capacity 1). A nil channel for a moved-from ticker.
  recv_chan<std::chrono::steady_clock::time_point> c() const {
    detail::note_api_use();
    if (state_.get() == nullptr) return nullptr;
    return state_.get()->handle_channel();
  }

  /// stop: no more ticks are sent (a tick already in c() stays there). The channel is not closed.
  void stop() {
    detail::note_api_use();
    if (state_.get() != nullptr) state_.get()->rearm(std::nullopt, {});
  }

  /// reset: stops the ticker and restarts it with period `d`; the next tick comes `d` from now.
  /// Also restarts a stopped ticker. Throws goro::error if d <= 0 (Go: "non-positive interval for
  /// Ticker.Reset"), or on a moved-from ticker.
  void reset(std::chrono::nanoseconds d) {
    detail::note_api_use();
    if (d.count() <= 0) throw error("goro::ticker::reset: non-positive interval for Ticker.Reset");
    if (state_.get() == nullptr) throw error("goro::ticker::reset: called on a moved-from ticker");
    state_.get()->rearm(detail::saturating_deadline(d), d);
  }

 private:
  static detail::channel_timer* make(std::chrono::nanoseconds d) {
    if (d.count() <= 0) throw error("goro::ticker: non-positive interval for NewTicker");
    return new detail::channel_timer();
  }

  detail::timer_handle state_;
};

/// after_func: Go's time.AfterFunc. Waits `d` (not at all if d <= 0), then calls f() in a new
/// goroutine of its own, started as goro::go starts one: an exception escaping f ends the
/// process as one escaping any goroutine does. f is decay-copied once into the timer and called
/// as an lvalue, with no arguments, each time the timer fires; its result is dropped.
///
/// The timer returned is a handle like any goro::timer, with these differences: c() is a nil
/// channel (nothing is sent); stop() returns true if it kept f from being started, false if f
/// was started already or the timer was stopped; reset(d) re-arms it, so that f is started
/// again after `d` — f may then run more than once, even at the same time as an earlier call,
/// as in Go. And destroying the last handle does not stop it: only stop() does, so that
/// `goro::after_func(d, f);`, its result discarded, calls f as Go's AfterFunc does.
///
/// Needs an active run: throws goro::error when called outside a run, from a plain thread once
/// the run's main has returned (as goro::go does; from a goroutine the run is unwinding, the
/// timer is made but never fires), or for a null function pointer or an empty std::function
/// (creating nothing then);
/// reset() throws goro::error outside a run. A pending timer counts as pending for deadlock
/// detection; one still pending when its run ends is dropped without calling f, as a Go
/// program's pending AfterFuncs are when it exits. Every member of the timer may be called from
/// any goroutine or thread during the run.
template <class F>
timer after_func(std::chrono::nanoseconds d, F&& f) {
  using function_type = std::decay_t<F>;
  static_assert(std::is_invocable_v<function_type&>,
                "goro::after_func: f must be callable with no arguments");
  detail::note_api_use();
  if (detail::is_nil_func<function_type>(f)) throw error("goro::after_func: nil func value");
  if (detail::this_thread().current == nullptr) {
    // From a plain thread, as goro::go: refused once main has returned. A goroutine may still
    // make one while the run ends (in a destructor its unwinding runs, say): it never fires.
    detail::active_scheduler active;
    if (active.get() != nullptr && active.get()->stopping()) {
      throw error(
          "goro::after_func: the run is ending (its main goroutine has returned); no goroutine "
          "can start now");
    }
  }
  // With no run active, the timer's rearm throws (func_timer::require_armable).
  return timer(new detail::func_timer_of<function_type>(std::forward<F>(f)), d);
}

}  // namespace goro
