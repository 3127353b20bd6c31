// goro/detail/select_engine.hpp — the untyped core of select (Go's runtime/select.go).
//
// A select is a list of cases, each a receive or a send on one channel (nullptr: a nil channel,
// which never fires). The typed front ends (goro::select, goro::select_set) describe each case
// with a select_case: the channel, and a `poll` function that tries to complete the case under
// the channel's lock. The engine then runs Go's three passes:
//
//   pass 0: shuffle the poll order (uniformly random).
//   pass 1: poll the cases in the shuffled order; the first that can proceed fires. A first look
//           without the locks (poll_one_ready) polls, under its own lock only, the first case
//           whose channel looks ready. When none does, sort the distinct channels by address —
//           the one global lock order — lock them all and poll every case: that poll decides.
//           With none ready, a select with a default returns the default.
//   pass 2: enqueue one waiter per case, in the shuffled order, all sharing the caller's wait
//           ticket, and park; the channels are unlocked after the switch. A partner that comes
//           later claims the ticket through whichever waiter it finds first, so exactly one case
//           fires, and since partners dequeue in FIFO order across shuffled enqueues, which one
//           is again random.
//   pass 3: relock, unlink the waiters of the cases that did not fire, unlock. The fired case's
//           channel is not relocked unless another case uses it: its claimer unlinked it.
//
// Invariants: a select holds one channel's lock at a time outside the lock-all passes, and
// several only in address order, never while the caller holds any other channel's lock; the
// waiters live in the caller's frame and are unlinked from every queue before select returns or
// unwinds.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <span>

#include "channel.hpp"
#include "park.hpp"
#include "random.hpp"
#include "thread_state.hpp"
#include "worker.hpp"

namespace goro::detail {

// random_source: the calling worker's generator, or a per-thread one on a plain thread, looked
// up once per select (the look-up is an out-of-line call: see this_thread).
class random_source {
 public:
  random_source() noexcept : state_(state_of(this_thread())) {}

  // below: a number in [0, n), n > 0 (Lemire's multiply-shift reduction).
  std::uint32_t below(std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>(((xorshift64star(state_) >> 32) * n) >> 32);
  }

 private:
  static std::uint64_t& state_of(thread_state& ts) noexcept {
    if (ts.self != nullptr) return ts.self->random_state;
    if (ts.random_state == 0) ts.random_state = reinterpret_cast<std::uintptr_t>(&ts) | 1;
    return ts.random_state;
  }

  std::uint64_t& state_;
};

// select_case: one case as the engine sees it.
struct select_case {
  channel_base* channel = nullptr;  // nullptr: never fires
  bool is_send = false;
  void* slot = nullptr;  // receive: the std::optional<T> to fill; send: the T to offer
  bool copy = false;     // send: copy the value rather than move it
  // poll: tries to complete the case now; requires channel->lock_. Returns the status and, when
  // a partner was claimed, adds it to `wakes`.
  op_status (*poll)(select_case& self, wake_list& wakes) = nullptr;
};

// select_outcome: which case fired and how, or that none did (`how` pending: a select with a
// default that would block). Eight bytes with no optional around them, so that it comes back in
// one register: std::optional's flag made the compiler assemble the result in memory and reload
// it across two store-forwarding stalls on every select (indices are 32-bit, as in the poll order).
struct select_outcome {
  std::uint32_t index = 0;
  transfer how = transfer::pending;  // delivered, or closed (a receive got nothing; a send throws)

  explicit operator bool() const noexcept { return how != transfer::pending; }
};

// waiter_slot: room for one case's waiter, constructed only by pass 2. A select that does not
// park then never initialises its waiters (zeroing them cost a tenth of a two-way select).
union waiter_slot {
  waiter w;
  waiter_slot() noexcept {}  // leaves `w` unconstructed: pass 2 constructs it before any use
};

// select_scratch: per-select storage the caller provides (sized to its case count), so that
// the engine allocates nothing. The engine takes it by reference: copying its spans right after
// the caller built them stalled on store forwarding.
struct select_scratch {
  std::span<std::uint32_t> poll_order;
  std::span<channel_base*> lock_order;
  std::span<waiter_slot> waiters;
};

class select_locks {
 public:
  explicit select_locks(std::span<channel_base*> order) noexcept : order_(order) {}
  void lock() noexcept {
    for (channel_base* c : order_) c->lock_.lock();
  }
  void unlock() noexcept {
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) (*it)->lock_.unlock();
  }

 private:
  std::span<channel_base*> order_;
};

// sort_channels: writes the distinct channels of the polled cases to the lock order, by address;
// returns how many. A select has a handful of cases: an insertion sort that drops duplicates as
// it goes costs a fraction of std::sort and std::unique there, so those serve only large sets.
inline std::size_t sort_channels(std::span<select_case> cases, const select_scratch& scratch,
                                 std::size_t polled) {
  constexpr std::size_t insertion_limit = 16;
  std::span<channel_base*> order = scratch.lock_order;
  if (polled > insertion_limit) {
    for (std::size_t k = 0; k < polled; ++k) order[k] = cases[scratch.poll_order[k]].channel;
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(polled), std::less<>{});
    return static_cast<std::size_t>(
        std::unique(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(polled)) -
        order.begin());
  }
  std::size_t count = 0;
  for (std::size_t k = 0; k < polled; ++k) {
    channel_base* const c = cases[scratch.poll_order[k]].channel;
    const auto sorted = order.first(count);
    if (std::find(sorted.begin(), sorted.end(), c) != sorted.end()) continue;  // already there
    // Shift while comparing: a separate shifting loop would compile to a call of memmove.
    std::size_t at = count;
    for (; at > 0 && std::less<>{}(c, order[at - 1]); --at) order[at] = order[at - 1];
    order[at] = c;
    ++count;
  }
  return count;
}

// shuffle_cases: pass 0. Writes the poll order (the non-nil cases, shuffled) and returns its
// length. The lock order is sorted later, and only if the first look finds nothing: a select
// that finds a partner waiting never needs it.
inline std::size_t shuffle_cases(std::span<select_case> cases, const select_scratch& scratch) {
  random_source random;
  std::size_t polled = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].channel == nullptr) continue;
    // Inside-out Fisher-Yates: place i at a random position among those placed so far (the
    // first has only one place: no draw).
    const std::uint32_t j = polled == 0 ? 0 : random.below(static_cast<std::uint32_t>(polled + 1));
    scratch.poll_order[polled] = scratch.poll_order[j];
    scratch.poll_order[j] = static_cast<std::uint32_t>(i);
    ++polled;
  }
  return polled;
}

inline wait_queue& queue_of(const select_case& c) noexcept {
  return c.is_send ? c.channel->sendq_ : c.channel->recvq_;
}

// poll_one_ready: pass 1, first look. In the shuffled order, the first case whose channel looks
// ready (a hint read without its lock) is polled under that one channel's lock. A select that
// finds a partner waiting then locks one channel instead of all of them; a stale hint only
// costs the lock-all pass that follows, which decides.
inline select_outcome poll_one_ready(std::span<select_case> cases, const select_scratch& scratch,
                                     std::size_t polled) {
  for (std::size_t k = 0; k < polled; ++k) {
    select_case& c = cases[scratch.poll_order[k]];
    if (!c.channel->looks_ready(c.is_send)) continue;
    wake_list wakes;  // destroyed after the unlock below: wakes a claimed partner
    std::lock_guard held(c.channel->lock_);
    const op_status status = c.poll(c, wakes);
    if (status == op_status::would_block) continue;
    return select_outcome{scratch.poll_order[k],
                          status == op_status::done ? transfer::delivered : transfer::closed};
  }
  return {};
}

// fired_case: after a wake that was not the shutdown's, the case whose waiter was claimed.
inline select_outcome fired_case(const select_scratch& scratch, std::size_t polled) noexcept {
  for (std::size_t k = 0; k < polled; ++k) {
    const std::uint32_t i = scratch.poll_order[k];
    const transfer how = outcome_of(scratch.waiters[i].w);
    if (how != transfer::pending) return select_outcome{i, how};
  }
  return {};
}

// without_fired_channel: the channels pass 3 must lock: all of them, less the fired case's
// channel when no other case uses it (its waiter is already unlinked). Keeps the address order.
inline std::span<channel_base*> without_fired_channel(std::span<select_case> cases,
                                                      const select_scratch& scratch,
                                                      std::size_t polled, std::size_t locked,
                                                      select_outcome fired) {
  std::span<channel_base*> all = scratch.lock_order.first(locked);
  if (!fired) return all;
  channel_base* const channel = cases[fired.index].channel;
  for (std::size_t k = 0; k < polled; ++k) {
    const std::uint32_t i = scratch.poll_order[k];
    if (i != fired.index && cases[i].channel == channel) return all;
  }
  const auto end = std::remove(all.begin(), all.end(), channel);
  return all.first(static_cast<std::size_t>(end - all.begin()));
}

// run_select: runs the passes above. `blocking` false makes it return no outcome where it would
// block (a select with a default). Throws goroutine_exit if the shutdown interrupts the wait.
inline select_outcome run_select(std::span<select_case> cases, bool blocking,
                                 const select_scratch& scratch) {
  std::size_t polled = 0;
  std::size_t locked = 0;
  for (;;) {
    polled = shuffle_cases(cases, scratch);
    if (auto ready = poll_one_ready(cases, scratch, polled)) return ready;
    locked = sort_channels(cases, scratch, polled);
    select_locks locks(scratch.lock_order.first(locked));
    {
      wake_list wakes;  // destroyed after the unlock below: wakes a claimed partner
      locks.lock();
      for (std::size_t k = 0; k < polled; ++k) {  // pass 1
        select_case& c = cases[scratch.poll_order[k]];
        op_status status;
        try {
          status = c.poll(c, wakes);
        } catch (...) {
          locks.unlock();
          throw;
        }
        if (status == op_status::would_block) continue;
        locks.unlock();
        return select_outcome{scratch.poll_order[k],
                              status == op_status::done ? transfer::delivered : transfer::closed};
      }
      if (!blocking) {
        locks.unlock();
        return {};
      }
    }
    if (polled == 0) {
      locks.unlock();
      park_forever(wait_reason::select, cases.empty() ? wait_detail::no_cases : wait_detail::none);
    }
    wait_handle h = open_wait();  // pass 2
    for (std::size_t k = 0; k < polled; ++k) {
      const std::uint32_t i = scratch.poll_order[k];
      waiter* w = ::new (&scratch.waiters[i].w) waiter{.owner = h.self,
                                                       .ticket = h.ticket,
                                                       .slot = cases[i].slot,
                                                       .index = i,
                                                       .copy = cases[i].copy};
      queue_of(cases[i]).push_back(*w);
    }
    const bool interrupted =
        park(h, wait_reason::select, wait_detail::none, [&] { locks.unlock(); });
    // Pass 3. The claimer that woke us unlinked its waiter under its channel's lock and wrote
    // its outcome before the wake; no other waiter's outcome is ever written. So the case that
    // fired is known without a lock, and its channel need not be locked again unless another
    // case of this select uses it too.
    select_outcome fired;
    if (!interrupted) fired = fired_case(scratch, polled);
    select_locks relock(without_fired_channel(cases, scratch, polled, locked, fired));
    relock.lock();
    for (std::size_t k = 0; k < polled; ++k) {
      const std::uint32_t i = scratch.poll_order[k];
      if (fired && i == fired.index) continue;
      queue_of(cases[i]).remove(scratch.waiters[i].w);
    }
    relock.unlock();
    if (interrupted) throw goroutine_exit{};
    if (fired && fired.how != transfer::retry) return fired;
    // A partner's move of the value threw: select again.
  }
}

}  // namespace goro::detail
