// goro/detail/worker.hpp — a worker: one OS thread with its run queue (Go's M and P together).
//
// Everything here is owned by the worker's own thread except where marked: `queue` has its own
// lock (thieves), `listed_idle`/`idle_epoch` are guarded by scheduler::idle_lock_, and the
// counters are atomics that other threads read for runtime_stats() and num_goroutines().
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "config.hpp"
#include "exception_state.hpp"
#include "goroutine.hpp"
#include "random.hpp"
#include "run_queue.hpp"
#include "sanitizer.hpp"
#include "stack.hpp"
#include "thread_state.hpp"
#include "timer_heap.hpp"

namespace goro::detail {

class scheduler;

// worker_counters: monotonic counts kept by one worker (relaxed unless noted).
struct worker_counters {
  std::atomic<std::uint64_t> spawned{0};
  std::atomic<std::uint64_t> finished{0};  // incremented seq_cst: see scheduler::live_goroutines
  std::atomic<std::uint64_t> context_switches{0};
  std::atomic<std::uint64_t> steals{0};
  std::atomic<std::uint64_t> parks{0};
};

struct alignas(cache_line_size) worker {
  // Records beyond this many go back to the registry; an exit, on the worker's own stack where
  // nobody could take an exception, then never grows the list.
  static constexpr std::size_t free_goroutines_limit = 256;

  worker(scheduler& s, unsigned i)
      : sched(s), index(i), random_state(0x9e3779b97f4a7c15ULL * (i + 1)) {
    free_goroutines.reserve(free_goroutines_limit + 1);
  }

  scheduler& sched;
  const unsigned index;
  local_run_queue queue;

  void* scheduler_context = nullptr;  // this thread's own context while a goroutine runs
  thread_state* thread = nullptr;     // the worker thread's state (set by worker_main)
  goroutine* start_next = nullptr;    // taken off the queue by a direct switch, run next
  goroutine* current = nullptr;
  thread_sanitizer_state sanitizer;
  eh_globals_layout* exceptions = nullptr;  // this thread's C++ exception state
  std::uint32_t tick = 0;                   // schedules since the run started
  std::int64_t slice_start = 0;             // coarse clock when the current time slice began
  bool slice_over = false;                  // the time slice ended; the next schedule is fair
  std::int64_t clock_reading = 0;  // precise clock (ns) read since this worker last entered a
                                   // goroutine or went idle; 0: none (scheduler::precise_now_ns)
  // progress: changes at every switch into a goroutine and back to the worker's loop; odd while
  // a goroutine runs, even in the loop. Thieves read it (the stuck check), and the monitor.
  std::atomic<std::uint64_t> progress{0};
  // The monitor thread's (scheduler::monitor_preemption): progress at its last look, and the
  // progress at which it asked the running goroutine to yield at its next stop point.
  std::uint64_t monitor_seen = ~std::uint64_t{0};
  std::atomic<std::uint64_t> preempt_at{~std::uint64_t{0}};
  bool spinning = false;  // counted in scheduler::spinning_

  bool listed_idle = false;                 // guarded by scheduler::idle_lock_
  std::atomic<std::uint32_t> idle_word{0};  // futex word of a sleeping worker
  std::uint32_t idle_epoch = 0;             // the value idle_word has while it may sleep

  std::uint64_t random_state;  // owned by this worker's thread
  stack_cache stacks;
  timer_heap timers;  // the timers started on this worker (own lock; see scheduler::run_timers)
  std::vector<goroutine*> free_goroutines;  // room for free_goroutines_limit + 1 from the start
  std::uint64_t next_id = 0;                // ids handed out from [next_id, id_limit)
  std::uint64_t id_limit = 0;
  std::uint64_t make_way_after = 0;  // spawn count before which make_way does not step back
  worker_counters counters;
  std::thread os_thread;  // workers 1..n-1 (worker 0 is run()'s caller)

  std::uint64_t random() noexcept { return xorshift64star(random_state); }
};

}  // namespace goro::detail
