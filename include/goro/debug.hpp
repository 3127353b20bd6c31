/// \file
/// goro/debug.hpp — introspection (API section 8): the goroutine dump and the runtime counters.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <cstdint>
#include <mutex>
#include <ostream>

#include "detail/park.hpp"
#include "detail/scheduler.hpp"

namespace goro {

/// dump: writes one block per live goroutine of the active run (those num_goroutines() counts),
/// in the style of Go's SIGQUIT dump: a header line `goroutine <id> [<state>]:`, where the
/// goroutine was created, and a blank line. Writes nothing when no run is active.
///
/// The state is one of `running`, `runnable`, `chan receive`, `chan send`, `select`, `sleep`,
/// `mutex`, `wait_group`, `cond`, `once`, `semaphore`, `io` or `blocking`, possibly followed by
/// ` (nil chan)` or ` (no cases)`. From any goroutine or thread.
inline void dump(std::ostream& out) {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current != nullptr) {
    ts.self->sched.dump(out);
    return;
  }
  detail::note_plain_thread(ts);
  detail::scheduler_ref ref;
  if (ref) ref->dump(out);
}

/// stats: counters since the process started (the runs that have ended and the active one).
struct stats {
  std::uint64_t spawned;           ///< goroutines started (main goroutines included)
  std::uint64_t finished;          ///< goroutines that returned or were unwound
  std::uint64_t context_switches;  ///< switches from a goroutine back to its worker
  std::uint64_t steals;            ///< successful steals from another worker's run queue
  std::uint64_t parks;             ///< goroutines parked by a blocking operation
};

/// runtime_stats: the counters of goro::stats as they are now. From any goroutine or thread; the
/// counts of the active run are read without stopping it, so they may be slightly behind.

inline stats runtime_stats() {
  detail::worker_counters sum;
  detail::process_state& p = detail::process();
  detail::thread_state& ts = detail::this_thread();
  std::unique_lock<detail::futex_mutex> fold(p.fold_lock, std::defer_lock);
  if (ts.current != nullptr) {
    ts.self->sched.add_counters(sum);  // the run cannot end while one of its goroutines runs
  } else {
    detail::note_plain_thread(ts);
    fold.lock();  // not while the counters of a run that ends move into the totals
    detail::scheduler_ref ref;
    if (ref) ref->add_counters(sum);
  }
  constexpr auto relaxed = std::memory_order_relaxed;
  return stats{sum.spawned.load(relaxed) + p.totals.spawned.load(relaxed),
               sum.finished.load(relaxed) + p.totals.finished.load(relaxed),
               sum.context_switches.load(relaxed) + p.totals.context_switches.load(relaxed),
               sum.steals.load(relaxed) + p.totals.steals.load(relaxed),
               sum.parks.load(relaxed) + p.totals.parks.load(relaxed)};
}

}  // namespace goro
