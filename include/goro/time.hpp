// goro/time.hpp — sleeping and timers (API section 4).
//
// Sleeping parks the goroutine on the runtime's timer heap, never its worker thread; on a plain
// thread it sleeps the thread.
#pragma once

#include <chrono>
#include <thread>

#include "detail/park.hpp"
#include "detail/scheduler.hpp"
#include "detail/timer_heap.hpp"

namespace goro {

namespace detail {

// wake_parker: the timer callback of a sleeping goroutine.
inline void wake_parker(void* arg, std::uint64_t ticket) {
  auto* p = static_cast<parker*>(arg);
  if (try_claim(*p, ticket)) wake(*p);
}

// saturating_deadline: now + d without overflowing time_point.
inline clock::time_point saturating_deadline(std::chrono::nanoseconds d) noexcept {
  const auto now = clock::now();
  if (d > clock::time_point::max() - now) return clock::time_point::max();
  return now + std::chrono::duration_cast<clock::duration>(d);
}

}  // namespace detail

// sleep_until: blocks the calling goroutine (or thread) until `deadline`.
inline void sleep_until(std::chrono::steady_clock::time_point deadline) {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current == nullptr) {
    detail::note_plain_thread(ts);
    std::this_thread::sleep_until(deadline);
    return;
  }
  detail::goroutine& g = *ts.current;
  detail::scheduler& s = g.running_on->sched;
  if (deadline <= detail::clock::now()) {
    s.throw_if_stopping();
    return;
  }
  detail::wait_handle h = detail::open_wait();
  detail::timer_node node;
  node.when = deadline;
  node.fire = &detail::wake_parker;
  node.arg = h.self;
  node.seq = h.ticket;
  if (s.park(g, detail::wait_reason::sleep, detail::wait_detail::none, [&] { s.add_timer(node); })) {
    // `s` is the scheduler of this run: goroutines do not outlive it.
    s.remove_timer(node);
    throw detail::goroutine_exit{};
  }
}

// sleep_for: blocks the calling goroutine (or thread) for at least `d`; returns at once if d <= 0.
inline void sleep_for(std::chrono::nanoseconds d) { sleep_until(detail::saturating_deadline(d)); }

}  // namespace goro
