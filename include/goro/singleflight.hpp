/// \file
/// goro/singleflight.hpp — duplicate call suppression: one call in flight per key, whose result
/// every caller that asks for the key meanwhile shares (Go's golang.org/x/sync/singleflight).
///
/// ```cpp
///   goro::singleflight<std::string> flights;
///   auto [page, shared] = flights.call(url, [&] { return fetch(url); });  // fetch may throw
/// ```
///
/// A call for a key that has a call in flight waits for that call and gets a copy of its value,
/// or the exception it threw. Once the call is over the key is free again: the next call runs
/// its function anew (the results are not cached). forget() frees a key while its call is still
/// in flight.
//
// Invariants (state::lock guards state::flights and every flight's duplicates, channels and
// shared; nothing that may park or yield runs while it is held):
//   - flights maps a key to its flight while the flight is in flight and not forgotten; a flight
//     leaves the map once, under the lock, at the end of its call, unless forget() or a later
//     flight of the same key has taken its place.
//   - A flight's outcome (value, error, abandoned, shared) is written once, by the caller that
//     made the flight (or the goroutine it started), before finished.done(); waiters read it only
//     after finished.wait() returns, and nobody writes it after.
//   - duplicates and channels only grow while the flight is in the map; finish() takes them
//     after removing it, so no caller joins a flight whose outcome is already being delivered.
//   - Every channel of a flight has capacity 1 and receives exactly one result, sent by finish();
//     nobody else can send on it or close it (call_chan hands out its receive end only).
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chan.hpp"
#include "detail/callable.hpp"
#include "detail/park.hpp"
#include "detail/scheduler.hpp"
#include "detail/spinlock.hpp"
#include "error.hpp"
#include "runtime.hpp"
#include "sync.hpp"

namespace goro {

/// singleflight: singleflight.Group, for functions that return a `Value`, keyed by `Key`
/// (hashable with std::hash, compared with ==; Go's keys are strings). A call's function fails
/// by throwing: that plays the part of both Go's error and its panic. Every caller gets its own
/// copy of the shared value, so Value must be copy-constructible. Non-copyable; every member may
/// be called from any goroutine or plain thread (call_chan() starts a goroutine, so it needs a
/// run). The state is shared with the calls in flight, so a call outlives the object safely.
template <class Value, class Key = std::string>
class singleflight {
  static_assert(!std::is_void_v<Value> && !std::is_reference_v<Value>,
                "goro::singleflight: Value must be an object type (use std::monostate for none)");
  static_assert(std::is_copy_constructible_v<Value>,
                "goro::singleflight: Value must be copy-constructible: every caller gets a copy");

 public:
  /// result: what call() returns: Do's value and its `shared`, whether the value was given to
  /// more than one caller (Do's error is thrown instead).
  struct result {
    Value value;  ///< the value the call's function returned, copied for this caller
    bool shared;  ///< whether the value was given to more than one caller
  };

  /// chan_result: what the channel of call_chan() delivers (Go's Result): the value, or the
  /// exception the call threw, and whether the outcome was given to more than one caller.
  struct chan_result {
    std::optional<Value> value;  ///< the call's value; empty exactly when error is set
    std::exception_ptr error;    ///< what the call threw, else null
    bool shared = false;         ///< whether the outcome was given to more than one caller

    /// get: the value, or the call's exception rethrown.
    const Value& get() const& {
      if (error) std::rethrow_exception(error);
      return *value;
    }
    /// get: the value, moved out, or the call's exception rethrown.
    Value get() && {
      if (error) std::rethrow_exception(error);
      return std::move(*value);
    }
  };

  singleflight() = default;
  singleflight(const singleflight&) = delete;
  singleflight& operator=(const singleflight&) = delete;

  /// call: Do. Runs fn (with no arguments, in the caller's goroutine or thread) unless a call for
  /// `key` is in flight, in which case it waits for that call instead and ignores fn. Returns the
  /// value fn returned (converted to Value) and `shared`; if the call threw, rethrows its
  /// exception, in the caller that ran fn and in every caller that waited for it. A null function
  /// pointer or an empty std::function fails the call with goro::error, as a nil function panics
  /// in Go. A waiter blocks as on a wait_group (its dump state is `wait_group`).
  template <class F>
  result call(const Key& key, F&& fn) {
    detail::note_api_use();
    detail::stop_point();
    std::shared_ptr<state> s = state_;
    const joining joined = s->join(key, nullptr);
    if (!joined.leads) return joined.in_flight->await();
    s->run(*joined.in_flight, std::forward<F>(fn));
    return joined.in_flight->leader_result();
  }

  /// call_chan: DoChan. Like call(), but returns at once with a channel that receives the result
  /// once it is ready; the channel is never closed. The caller that starts the call runs fn in a
  /// new goroutine, so call_chan throws goro::error when no run is active and no call for `key`
  /// is in flight (callers that joined the call in between get that error too).
  /// Unlike Go, whose DoChan crashes the process when fn panics, an exception from fn arrives on
  /// the channel of every call_chan caller, in chan_result::error (call()'s callers get it
  /// thrown).
  template <class F>
  recv_chan<chan_result> call_chan(const Key& key, F&& fn) {
    detail::note_api_use();
    detail::stop_point();
    std::shared_ptr<state> s = state_;
    chan<chan_result> delivery(1);
    const joining joined = s->join(key, &delivery);
    if (!joined.leads) return delivery;
    try {
      goro::go([s, in_flight = joined.in_flight,
                fn = std::decay_t<F>(std::forward<F>(fn))]() mutable {
        s->run(*in_flight, std::move(fn));  // called as an rvalue, as goro::go calls its function
      });
    } catch (...) {
      joined.in_flight->error = std::current_exception();
      s->finish(*joined.in_flight);
      throw;
    }
    return delivery;
  }

  /// forget: Forget. The next call for `key` runs its function even if a call for it is still in
  /// flight; that call's waiters still get its result.
  void forget(const Key& key) {
    detail::note_api_use();
    std::lock_guard guard(state_->lock);
    state_->flights.erase(key);
  }

 private:
  // flight: an in-flight (or finished) call for one key (Go's call).
  struct flight {
    explicit flight(const Key& k) : key(k) { finished.add(1); }

    // await: a waiter's outcome, once the call has finished.
    result await() {
      finished.wait();
      if (abandoned) detail::unwind_if_stopping();  // a goroutine: the run ends, unwind it too
      if (error) std::rethrow_exception(error);
      return result{*value, true};
    }

    // leader_result: the outcome for the caller that ran the function.
    result leader_result() {
      if (error) std::rethrow_exception(error);
      return result{*value, shared};
    }

    const Key key;
    wait_group finished;  // done() once the outcome below is written
    std::optional<Value> value;
    std::exception_ptr error;
    bool abandoned = false;  // the run's end stopped the goroutine running the function
    bool shared = false;
    std::size_t duplicates = 0;               // callers that joined
    std::vector<chan<chan_result>> channels;  // call_chan callers' channels
  };

  // joining: a caller's flight, and whether the caller made it (and so runs its function).
  struct joining {
    std::shared_ptr<flight> in_flight;
    bool leads;
  };

  struct state {
    // join: the flight of `key` and whether the caller leads it (made it) or joined it; a
    // call_chan caller's channel is added to the flight's. A new flight is made outside the
    // lock, because its wait_group's add is a chaos point, where a goroutine may yield: a
    // goroutine must never yield holding `lock`.
    joining join(const Key& key, const chan<chan_result>* delivery) {
      std::shared_ptr<flight> made;
      for (;;) {
        {
          std::lock_guard guard(lock);
          if (auto found = flights.find(key); found != flights.end()) {
            flight& f = *found->second;
            if (delivery != nullptr) f.channels.push_back(*delivery);
            ++f.duplicates;
            return {found->second, false};
          }
          if (made != nullptr) {
            if (delivery != nullptr) made->channels.push_back(*delivery);
            flights.emplace(key, made);
            return {std::move(made), true};
          }
        }
        made = std::make_shared<flight>(key);
      }
    }

    // run: calls fn for flight `f` and finishes it. A goroutine the run's end stops inside fn
    // leaves its waiters an error, and goes on unwinding.
    template <class F>
    void run(flight& f, F&& fn) {
      static_assert(std::is_invocable_v<F>,
                    "goro::singleflight: fn must be callable with no arguments");
      static_assert(std::is_constructible_v<Value, std::invoke_result_t<F>>,
                    "goro::singleflight: fn must return something a Value can be made from");
      std::exception_ptr unwinding;
      if (detail::is_nil_func(fn)) {
        f.error = std::make_exception_ptr(error("goro::singleflight: call of nil func value"));
      } else {
        try {
          f.value.emplace(std::invoke(std::forward<F>(fn)));
        } catch (const detail::goroutine_exit&) {
          unwinding = std::current_exception();
          f.abandoned = true;
          f.error = std::make_exception_ptr(
              error("goro::singleflight: the goroutine running the call was stopped by the end "
                    "of the run"));
        } catch (...) {
          f.error = std::current_exception();
        }
      }
      finish(f);
      if (unwinding) std::rethrow_exception(unwinding);
    }

    // finish: frees the flight's key, wakes its waiters and sends its outcome to its channels.
    // No stop point: it also runs for a goroutine that the run's end is stopping.
    void finish(flight& f) noexcept {
      std::vector<chan<chan_result>> deliveries;
      {
        std::lock_guard guard(lock);
        if (auto found = flights.find(f.key); found != flights.end() && found->second.get() == &f)
          flights.erase(found);
        f.shared = f.duplicates > 0;
        deliveries.swap(f.channels);
      }
      f.finished.done();
      for (const chan<chan_result>& delivery : deliveries) deliver(f, delivery);
    }

    // deliver: sends a copy of the outcome on one call_chan channel (capacity 1, so the send
    // never blocks). A copy of the value that throws delivers that exception instead.
    static void deliver(const flight& f, const chan<chan_result>& delivery) noexcept {
      chan_result outcome;
      outcome.shared = f.shared;
      outcome.error = f.error;
      if (!f.error) {
        try {
          outcome.value.emplace(*f.value);
        } catch (...) {
          outcome.error = std::current_exception();
        }
      }
      static_cast<void>(
          detail::channel_try_send(*detail::channel_access::get(delivery), outcome, false));
    }

    detail::futex_mutex lock;  // guards flights and each flight's duplicates, channels, shared
    std::unordered_map<Key, std::shared_ptr<flight>> flights;
  };

  std::shared_ptr<state> state_ = std::make_shared<state>();
};

}  // namespace goro
