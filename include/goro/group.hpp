/// \file
/// goro/group.hpp — a group of goroutines working on subtasks of one task, with the first error
/// collected and a shared context cancelled when it happens (API section 6; Go's
/// golang.org/x/sync/errgroup).
///
/// ```cpp
///   goro::group g(ctx);
///   for (const auto& url : urls) g.go([&g, url] { fetch(g.ctx(), url); });  // may throw
///   g.wait();  // rethrows the first exception of any task
/// ```
///
/// A group's state is shared with its running tasks (a counted object), so a task never outlives
/// what it uses, even if the group object is destroyed before wait() (its exception is then lost).
//
// Invariants (state::lock_ guards first_error_, active_ and slots_):
//   - active_ counts the go() and try_go() calls that have begun and whose task has not
//     finished (tasks waiting in go() for a free slot included); tasks_ (a wait_group) counts
//     the tasks started and not finished.
//   - first_error_ is set once, by the first task that throws, and never cleared; ctx_ is
//     cancelled right after it is set, and by every wait().
//   - With a limit n, slots_ is a channel of capacity n holding one token per running task:
//     go() sends one before it starts the task (blocking while the channel is full; try_go()
//     sends one only if that does not block), the task takes one back when it ends. slots_ is
//     replaced only while active_ == 0.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "chan.hpp"
#include "context.hpp"
#include "detail/scheduler.hpp"
#include "detail/spinlock.hpp"
#include "error.hpp"
#include "runtime.hpp"
#include "sync.hpp"

namespace goro {

/// group: errgroup.Group. Non-copyable. Every member may be called from any goroutine, or from a
/// plain thread while a run is active (go() starts goroutines, so it needs one).
class group {
 public:
  /// group: a group whose ctx() derives from background().
  group() : group(background()) {}

  /// group: a group whose ctx() is a child of `parent`: cancelled when `parent` is, when a task
  /// throws, or when wait() returns (errgroup.WithContext).
  explicit group(context parent) : state_(std::make_shared<state>(std::move(parent))) {}

  group(const group&) = delete;
  group& operator=(const group&) = delete;

  /// go: runs fn in a new goroutine. fn is called with no arguments, or with the group's context
  /// if it accepts one; it is decay-copied, and the copy is called as an rvalue, as goro::go
  /// calls its function. If a limit is set and that many tasks are running, go() blocks until
  /// one finishes. A task fails by throwing, or, as Go's func() error returns one, by returning
  /// a std::error_code (or an error code enum) that is not zero: that counts as throwing
  /// std::system_error with it. Any other result is dropped. A failure is collected, not
  /// propagated: the first one is rethrown by wait() and cancels ctx(). Throws goro::error (from
  /// goro::go) when no run is active, and for a null function pointer or an empty std::function, as
  /// goro::go does; the group is then unchanged.
  template <class F>
  void go(F&& fn) {
    static_cast<void>(start(std::forward<F>(fn), true));
  }

  /// try_go: errgroup's TryGo: runs fn as go() does, but only if the limit lets a task start now;
  /// returns whether it started fn. Never waits for a slot: with no limit it always starts fn,
  /// with the limit 0 never. It does not take a slot that a blocked go() is owed: a slot freed
  /// while go() calls wait for one goes to the first of them. Throws as go() does.
  template <class F>
  [[nodiscard]] bool try_go(F&& fn) {
    return start(std::forward<F>(fn), false);
  }

  /// wait: blocks until every task started by go() has finished, cancels ctx(), then rethrows the
  /// first exception a task threw, if any. The group stays usable: more go() and wait() calls may
  /// follow, and every later wait() rethrows that same first exception (ctx() stays cancelled).
  void wait() {
    state_->tasks_.wait();
    state_->cancel_();
    if (std::exception_ptr e = state_->first_error()) std::rethrow_exception(e);
  }

  /// ctx: the group's context (see the constructors).
  context ctx() const {
    detail::note_api_use();
    return state_->ctx_;
  }

  /// set_limit: at most n tasks of this group run at once from now on; a negative n means no limit
  /// (the default). n == 0 makes every later go() block and try_go() fail (as in Go, where the
  /// limit 0 admits nothing). Like Go, which panics, throws goro::error if a task of the group is
  /// still active (running, or waiting in go() to start).
  void set_limit(std::ptrdiff_t n) { state_->set_limit(n); }

 private:
  // start: go() (wait_for_slot) and try_go(). Returns whether the task was started.
  template <class F>
  bool start(F&& fn, bool wait_for_slot) {
    if (detail::is_nil_func<std::decay_t<F>>(fn))
      throw error(wait_for_slot ? "goro::group::go: go of nil func value"
                                : "goro::group::try_go: go of nil func value");
    std::shared_ptr<state> s = state_;
    chan<std::monostate> slots = s->admit();
    bool started = false;
    struct undo_admission {
      state& s;
      const chan<std::monostate>& slots;
      bool& started;
      bool holds_slot = false;
      ~undo_admission() {
        if (started) return;
        if (holds_slot) free_slot(slots);
        s.leave();
      }
    } undo{*s, slots, started};
    if (!slots.is_nil()) {
      if (wait_for_slot) {
        slots.send(std::monostate{});  // blocks while limit_ tasks run
      } else if (!slots.try_send(std::monostate{})) {
        return false;  // limit_ tasks run, or go() calls wait for the slot
      }
      undo.holds_slot = true;
    }
    s->tasks_.add(1);
    try {
      goro::go([s, slots, fn = std::decay_t<F>(std::forward<F>(fn))]() mutable {
        s->run_task(fn, slots);
      });
    } catch (...) {
      s->tasks_.done();
      throw;
    }
    started = true;
    return true;
  }

  // free_slot: gives back a slot of the limit (none without one). Called by destructors, also
  // while the run stops: not through try_recv, where a stopping goroutine is unwound.
  static void free_slot(const chan<std::monostate>& slots) noexcept {
    if (detail::channel<std::monostate>* c = detail::channel_access::get(slots)) {
      static_cast<void>(detail::channel_try_recv(*c));
    }
  }

  struct state {
    explicit state(context parent) {
      auto [c, cancel] = with_cancel(std::move(parent));
      ctx_ = std::move(c);
      cancel_ = std::move(cancel);
    }

    // admit: counts a go() call as active and returns the slots channel it must use.
    chan<std::monostate> admit() {
      std::lock_guard guard(lock_);
      ++active_;
      return slots_;
    }

    // leave: a go() call or its task is over.
    void leave() noexcept {
      std::lock_guard guard(lock_);
      --active_;
    }

    void set_limit(std::ptrdiff_t n) {
      detail::note_api_use();
      chan<std::monostate> replaced = nullptr;  // destroyed after the lock is released
      std::lock_guard guard(lock_);
      if (active_ != 0) {
        throw error("goro::group::set_limit: modify limit while " + std::to_string(active_) +
                    " tasks in the group are still active");
      }
      replaced =
          std::exchange(slots_, n < 0 ? chan<std::monostate>(nullptr) : chan<std::monostate>(n));
    }

    std::exception_ptr first_error() {
      std::lock_guard guard(lock_);
      return first_error_;
    }

    // call: calls a task's function once, as an rvalue, with the group's context if it takes
    // one. The context is a copy, passed as an rvalue, as is_invocable asked about: a task may
    // take it as context&& (and cannot change the group's own through a context&).
    template <class F>
    decltype(auto) call(F& fn) {
      if constexpr (std::is_invocable_v<F, context>) {
        return std::move(fn)(context(ctx_));
      } else {
        return std::move(fn)();
      }
    }

    // run_task: the body of a task's goroutine. `fn` is the goroutine's own decayed copy, called
    // once, as an rvalue: as goro::go and std::thread call theirs.
    template <class F>
    void run_task(F& fn, const chan<std::monostate>& slots) {
      struct finish {
        state& s;
        const chan<std::monostate>& slots;
        ~finish() {
          free_slot(slots);
          s.leave();
          s.tasks_.done();  // last: wait() may return now
        }
      } on_exit{*this, slots};
      try {
        using result = std::remove_cvref_t<decltype(call(fn))>;
        if constexpr (std::is_same_v<result, std::error_code> ||
                      std::is_error_code_enum_v<result>) {
          // Go's func() error: a task that returns an error fails with it.
          const std::error_code failure = call(fn);
          if (failure) record(std::make_exception_ptr(std::system_error(failure)));
        } else {
          static_cast<void>(call(fn));  // any other result is dropped, [[nodiscard]] or not
        }
      } catch (const detail::goroutine_exit&) {
        throw;  // the run is ending: let the goroutine unwind
      } catch (...) {
        record(std::current_exception());
      }
    }

    void record(std::exception_ptr e) {
      {
        std::lock_guard guard(lock_);
        if (first_error_) return;
        first_error_ = std::move(e);
      }
      cancel_();
    }

    context ctx_;
    cancel_func cancel_;
    wait_group tasks_;
    detail::futex_mutex lock_;  // guards the members below
    std::exception_ptr first_error_;
    std::ptrdiff_t active_ = 0;
    chan<std::monostate> slots_ = nullptr;  // nil: no limit
  };

  std::shared_ptr<state> state_;
};

}  // namespace goro
