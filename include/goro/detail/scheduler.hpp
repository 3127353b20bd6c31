// goro/detail/scheduler.hpp — the M:N scheduler of one goro::run: workers, spawn, park/ready,
// timers, the idle/wake protocol, shutdown and deadlock detection.
//
// Mapping to Go: a goroutine record is a G; a worker is an M bound to its P (its run queue,
// caches and counters); worker 0 is the thread that called run(). Every worker runs
// worker_main(): find a runnable goroutine, switch to it, and when it switches back complete
// whatever it asked for (park, yield, exit) on the worker's own stack — Go's mcall to g0.
//
// Invariants:
//   - A goroutine runs on at most one worker at a time. Only a claimer's ready() makes a parked
//     goroutine runnable, and ready() waits until the goroutine has really switched out
//     (status == parked, stored by the worker after the switch and after the park's `after`
//     action), so no worker ever resumes a goroutine that is still on its stack.
//   - park's `after` action runs on the worker after the switch; it releases the lock under
//     which the goroutine published its waiters. A waker finds a waiter only under that lock.
//   - Idle/wake (Go's "spinning" protocol): a submitter makes work visible, then (seq_cst fence)
//     wakes an idle worker if none is spinning; a worker going idle registers itself, stops
//     spinning, then (seq_cst fence) re-checks every queue. One of the two always sees the
//     other, so no work is left behind while a worker sleeps.
//   - While any worker is idle, one idle worker is the poller: it blocks in epoll_wait with the
//     timerfd armed to the earliest timer of all workers. Wakers prefer sleeping non-pollers;
//     the poller is woken through the netpoller's eventfd.
//   - Each worker has its own timer heap, which takes the timers started on it (a plain thread's
//     go to worker 0's). A worker fires its own expired timers at every schedule, another
//     worker's once they are foreign_timer_delay_ns (50 µs) overdue (that worker is busy in one
//     goroutine; a busy worker looks every 16th schedule), and everyone's that are due before
//     it goes idle.
//   - The run ends when main has returned and no goroutine is live: live = Σspawned − Σfinished,
//     read finished-first (see live_goroutines), decided under idle_lock_ which also serialises
//     spawns from plain threads.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../error.hpp"
#include "asymmetric_fence.hpp"
#include "blocking_pool.hpp"
#include "callable.hpp"
#include "exception_state.hpp"
#include "fallback_timers.hpp"
#include "futex.hpp"
#include "goroutine.hpp"
#include "netpoll.hpp"
#include "options.hpp"
#include "process_threads.hpp"
#include "random.hpp"
#include "registry.hpp"
#include "run_queue.hpp"
#include "sanitizer.hpp"
#include "signals.hpp"
#include "spinlock.hpp"
#include "stack.hpp"
#include "thread_state.hpp"
#include "timer_heap.hpp"
#include "waiter.hpp"
#include "worker.hpp"

namespace goro::detail {

namespace fcontext = boost::context::detail;

// goroutine_exit: thrown into a goroutine to unwind its stack when the run stops (API 1.1).
// Deliberately not a std::exception: `catch (const std::exception&)` does not swallow it.
struct GORO_PROCESS_WIDE goroutine_exit {};

// switch_action: what a goroutine asks its worker to do once it has switched out.
struct switch_action {
  // yield: to the back of the worker's queue, the oldest goroutine running next; step_back: to
  // the front, behind the goroutines the worker runs newest first (make_way).
  enum class kind : std::uint8_t { park, yield, step_back, exit };
  kind what;
  function_ref<void()>* after = nullptr;  // park: releases the waiters' lock (may be null)
};

class scheduler;

// process_state: what outlives a run. One run at a time per process.
struct process_state {
  std::atomic<bool> run_active{false};       // a run() is between entry and return
  std::atomic<scheduler*> active{nullptr};   // the running scheduler, for plain threads
  std::atomic<std::uint64_t> active_run{0};  // its run number, 0 when none
  std::atomic<std::int64_t> users{0};        // plain threads inside a scheduler_ref
  std::atomic<std::uint64_t> runs{0};
  // signal_watchers: the channels and contexts goro::signals relays signals to (signals.hpp).
  // While there are any, a signal may wake a goroutine: no deadlock is declared.
  std::atomic<std::uint32_t> signal_watchers{0};
  // attention: what the entry of an operation must look at (chaos_point, stop_point): the active
  // run schedules chaotically (GORO_CHAOS), is stopping, or has a worker asked to preempt its
  // goroutine (scheduler::monitor_preemption). Zero, one load, almost always.
  static constexpr std::uint8_t attention_chaos = 1;
  static constexpr std::uint8_t attention_stopping = 2;
  static constexpr std::uint8_t attention_preempt = 4;
  std::atomic<std::uint8_t> attention{0};
  worker_counters totals;  // counters of the runs that have ended
  // fold_lock guards the move of an ending run's counters into totals, from before the run is
  // unpublished until they are in: a plain thread reads the run's counters and totals under it,
  // so it never sees the run's counts in neither place (or in both).
  futex_mutex fold_lock;
};

GORO_PROCESS_WIDE inline process_state& process() noexcept {
  static process_state state;
  return state;
}

// scheduler_ref: keeps the active scheduler alive while a thread that is not one of its
// workers (a plain thread, a blocking() helper) uses it. The run's teardown waits until no
// reference is held.
class scheduler_ref {
 public:
  scheduler_ref() noexcept {
    process_state& p = process();
    p.users.fetch_add(1, std::memory_order_seq_cst);
    scheduler_ = p.active.load(std::memory_order_seq_cst);
    if (scheduler_ == nullptr) p.users.fetch_sub(1, std::memory_order_release);
  }
  // An empty reference: holds no scheduler and keeps none alive.
  explicit scheduler_ref(std::nullptr_t) noexcept {}
  scheduler_ref(const scheduler_ref&) = delete;
  scheduler_ref& operator=(const scheduler_ref&) = delete;
  ~scheduler_ref() {
    if (scheduler_ != nullptr) process().users.fetch_sub(1, std::memory_order_release);
  }
  explicit operator bool() const noexcept { return scheduler_ != nullptr; }
  scheduler* get() const noexcept { return scheduler_; }
  scheduler* operator->() const noexcept { return scheduler_; }
  scheduler& operator*() const noexcept { return *scheduler_; }

 private:
  scheduler* scheduler_ = nullptr;
};

// bump: increments a counter that only the calling thread writes (no locked instruction).
inline void bump(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// maximum_workers: the most workers options::workers and GORO_MAXPROCS may ask for. Each worker
// is a thread and its state, made when run starts: a count past this is a mistake (an unsigned
// that wrapped around), and made in full it would exhaust memory before the system refused it.
inline constexpr unsigned maximum_workers = 4096;

// resolve_worker_count: the workers of a run that asked for `requested` (options::workers).
// Throws goro::error for more than maximum_workers.
inline unsigned resolve_worker_count(unsigned requested) {
  if (requested > maximum_workers) {
    throw error("goro::run: options.workers is " + std::to_string(requested) + "; the maximum is " +
                std::to_string(maximum_workers));
  }
  if (requested > 0) return requested;
  if (const char* env = std::getenv("GORO_MAXPROCS"); env != nullptr) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= maximum_workers) {
      return static_cast<unsigned>(n);
    }
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// chaos_seed: GORO_CHAOS=<seed> turns on chaos scheduling (see scheduler::chaos_yield). Any
// other value leaves it off, and says so on stderr (once per process): a mistyped seed must not
// let a test run that was scheduled as usual pass for a chaotic one.
inline std::optional<std::uint64_t> chaos_seed() {
  const char* env = std::getenv("GORO_CHAOS");
  if (env == nullptr || *env == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const unsigned long long seed = std::strtoull(env, &end, 10);
  if (end != env && *end == '\0' && errno != ERANGE) return seed;
  static std::atomic<bool> reported{false};
  if (!reported.exchange(true, std::memory_order_relaxed)) {
    std::fprintf(stderr,
                 "goro: GORO_CHAOS=\"%s\" is not a seed (an unsigned decimal number): chaos "
                 "scheduling is off\n",
                 env);
  }
  return std::nullopt;
}

inline std::size_t read_max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  std::size_t n = 0;
  if (in >> n && n > 0) return n;
  return 65530;
}

// count_mappings: the memory mappings the process has now (lines of /proc/self/maps).
inline std::size_t count_mappings() {
  std::ifstream in("/proc/self/maps");
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

void goroutine_trampoline(fcontext::transfer_t t) noexcept;
fcontext::transfer_t finish_direct_switch(fcontext::transfer_t t) noexcept;

// resumed: the first thing a goroutine does when a worker — maybe another one — switches back
// into it, whether from the worker's scheduler context or directly from another goroutine:
// `t` carries that worker and its scheduler context.
inline void resumed(goroutine& g, fcontext::transfer_t t) noexcept {
  auto* now = static_cast<worker*>(t.data);
  now->scheduler_context = t.fctx;
  sanitizer_resumed_fiber(g.sanitizer);
}

// switch_to_scheduler: the goroutine side of a switch through the worker's scheduler loop.
inline void switch_to_scheduler(goroutine& g, switch_action& action) noexcept {
  worker* w = g.running_on;
  sanitizer_leave_fiber(g.sanitizer, w->sanitizer, action.what == switch_action::kind::exit);
  resumed(g, fcontext::jump_fcontext(w->scheduler_context, &action));
}

// direct_handoff: what a goroutine switching directly into another leaves for the successor to
// complete on its own stack (finish_direct_switch).
struct direct_handoff {
  worker* w;
  goroutine* from;
  switch_action* action;
};

[[noreturn]] inline void report_unhandled_exception(const goroutine& g) noexcept {
  std::string what = "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "goro: unhandled exception in goroutine %llu: %s\n",
               static_cast<unsigned long long>(g.id.load(std::memory_order_relaxed)), what.c_str());
  std::fflush(stderr);
  std::terminate();
}

// report_scheduler_failure: an exception escaped the scheduler's own work on a worker (the
// switch completions, timers, I/O, the shutdown), where no caller could take it. That work is
// written not to throw; what is left is the system running out of memory (std::bad_alloc) in a
// path that cannot report it. As Go's runtime does then, the process ends, with a message. Call
// from a catch block.
[[noreturn]] inline void report_scheduler_failure() noexcept {
  const char* what = "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "goro: fatal error in the scheduler: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

// run_goroutine_body: runs the goroutine's function and destroys it, on the goroutine's stack.
inline void run_goroutine_body(goroutine& g) noexcept {
  try {
    g.entry();
  } catch (const goroutine_exit&) {
    // stopped by the shutdown: the stack is unwound, nothing to report
  } catch (...) {
    report_unhandled_exception(g);
  }
  g.entry.reset();
}

void write_traceback(const scheduler& s);

// traceback_watcher: with GORO_TRACEBACK=1 in the environment, SIGQUIT (Ctrl-\) prints every
// goroutine (the dump of goro::dump) to stderr and exits with status 2, as Go does. The signal
// handler only writes a byte to a pipe (async-signal-safe); a thread of the watcher reads it and
// writes the dump, outside the handler. Active for one run.
class traceback_watcher {
 public:
  explicit traceback_watcher(const scheduler& s) {
    const char* env = std::getenv("GORO_TRACEBACK");
    if (env == nullptr || std::string_view(env) != "1" || pipe2(pipe_, O_CLOEXEC) != 0) return;
    signal_pipe().store(pipe_[1], std::memory_order_release);
    struct sigaction action {};
    action.sa_handler = &on_sigquit;
    sigemptyset(&action.sa_mask);
    sigaction(SIGQUIT, &action, &previous_);
    try {
      watcher_ = std::thread([this, &s] {
        char byte = 0;
        if (::read(pipe_[0], &byte, 1) == 1 && byte == 'q') {
          write_traceback(s);
          std::_Exit(2);
        }
      });
    } catch (const std::exception&) {
      // No thread to spare (std::system_error: RLIMIT_NPROC) or no memory for its state
      // (std::bad_alloc): the run goes on without the dump, and SIGQUIT keeps the action it
      // had, rather than the run failing over a debugging aid.
      sigaction(SIGQUIT, &previous_, nullptr);
      signal_pipe().store(-1, std::memory_order_release);
      ::close(pipe_[0]);
      ::close(pipe_[1]);
    }
  }
  traceback_watcher(const traceback_watcher&) = delete;
  traceback_watcher& operator=(const traceback_watcher&) = delete;
  ~traceback_watcher() {
    if (!watcher_.joinable()) return;
    sigaction(SIGQUIT, &previous_, nullptr);
    signal_pipe().store(-1, std::memory_order_release);
    const char byte = 'x';  // ends the watcher
    [[maybe_unused]] ssize_t r = ::write(pipe_[1], &byte, 1);
    watcher_.join();
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }

 private:
  GORO_PROCESS_WIDE static std::atomic<int>& signal_pipe() noexcept {
    static std::atomic<int> fd{-1};
    return fd;
  }
  static void on_sigquit(int) noexcept {
    const int fd = signal_pipe().load(std::memory_order_acquire);
    const char byte = 'q';
    if (fd >= 0) [[maybe_unused]]
      ssize_t r = ::write(fd, &byte, 1);
  }

  int pipe_[2] = {-1, -1};
  struct sigaction previous_ {};
  std::thread watcher_;
};

class scheduler {
 public:
  explicit scheduler(const options& requested)
      : options_(requested), requested_stack_size_(requested.stack_size) {
    options_.workers = resolve_worker_count(requested.workers);
    stacks_.configure(requested.stack_size, requested.guard, read_max_map_count(),
                      requested.guard == stack_guard::always ? count_mappings() : 0,
                      guard_markers_supported());
    options_.stack_size = stacks_.stack_size();  // rounded up to whole pages
    chaos_ = chaos_seed();
    enable_asymmetric_fences();  // lock releases then cost no locked instruction
    for (unsigned i = 0; i < options_.workers; ++i) {
      workers_.push_back(std::make_unique<worker>(*this, i));
      // A fixed seed makes every chaotic decision of a worker reproducible (with one worker,
      // the whole schedule: GORO_MAXPROCS=1 GORO_CHAOS=<seed>).
      if (chaos_) workers_.back()->random_state = chaos_random_state(*chaos_, i);
    }
    idle_.reserve(workers_.size());
    run_id_ = process().runs.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;
  // The timers still pending move to the fallback heap (their drop callbacks). With no memory
  // to collect them, in this destructor, the process ends with a message.
  ~scheduler() {
    try {
      for (auto& w : workers_) w->timers.clear();
    } catch (...) {
      report_scheduler_failure();
    }
  }

  // execute: runs `main_body` as the main goroutine on the calling thread (worker 0) and the
  // other workers, and returns once the run has ended. Throws deadlock_error (API 1.3).
  void execute(function_ref<void()> main_body) {
    // First what may fail (main's record and stack: RLIMIT_AS), while nothing is installed or
    // published that a throw would leave behind; nothing below throws.
    spawn_main(main_body);
    // Before any goroutine can run: for the process's main thread, glibc reads the stack bounds
    // that the sanitizers' fiber switches need from /proc/self/maps, and a program counting its
    // open descriptors must not see that file open (the other workers read theirs at start).
    sanitizer_thread_init(workers_[0]->sanitizer);
    install_fault_handlers(requested_stack_size_);  // API 1.4's <N>: the size asked for
    traceback_watcher traceback(*this);
    process().attention.store(chaos_.has_value() ? process_state::attention_chaos : 0,
                              std::memory_order_relaxed);
    publish();
    start_workers();
    {
      const preemption_monitor monitor(*this);
      worker_main(*workers_[0]);
      for (std::size_t i = 1; i < workers_.size(); ++i) workers_[i]->os_thread.join();
    }
    {
      std::lock_guard fold(process().fold_lock);
      unpublish();
      process().attention.store(0, std::memory_order_relaxed);
      blocking_.shutdown();  // its helpers are idle: no blocking() call outlives the run
      fold_counters();
    }
    restore_fault_handlers();
    if (deadlock_declared_.load(std::memory_order_acquire)) {
      throw deadlock_error(deadlock_report_.empty() ? deadlock_headline : deadlock_report_);
    }
  }

  // --- spawning -------------------------------------------------------------------------

  // spawn: starts a goroutine running `body`. `w` is the spawning goroutine's worker: the new
  // goroutine goes to its `next` slot. From any other thread (w == nullptr), to the global queue.
  template <class F>
  void spawn(F&& body, worker* w, std::uint64_t parent) {
    goroutine* g = allocate_record(w);
    try {
      g->entry.emplace(std::forward<F>(body));
      if (options_.guard == stack_guard::always) g->stack = acquire_stack(w);
    } catch (...) {
      g->entry.reset();
      release_record(w, g);
      throw;
    }
    if (w == nullptr) {
      launch_outside(g, parent);
    } else if (launch_local(*w, g, parent)) {
      make_way(*w);
    }
  }

  // make_way: the spawning goroutine filled its worker's run queue (the older half just spilled
  // to the global queue): it steps behind the goroutines it started, so they run on the records
  // and stacks that are warm in this worker's cache before it starts more. Without this, a loop
  // of go() calls outruns the workers, and each of a million queued goroutines holds a freshly
  // committed record (a page fault per 20 records: half the cost of spawning them).
  // At most once per half a queue of spawns on this worker: when the queue is full of other
  // goroutines (e.g. thousands that loop on yield), every spawn overflows it, and stepping back
  // each time would put the spawner behind all of them once per spawn.
  // Not a point where the shutdown unwinds a goroutine: it does not throw.
  void make_way(worker& w) {
    const std::uint64_t spawned = w.counters.spawned.load(std::memory_order_relaxed);
    if (spawned < w.make_way_after || stopping_.load(std::memory_order_relaxed)) return;
    w.make_way_after = spawned + local_run_queue::capacity / 2;
    switch_action action{switch_action::kind::step_back};
    leave(*w.current, action);  // may resume on another worker: `w` is not used after this
  }

  // --- park / ready / yield -------------------------------------------------------------

  // park: switches the goroutine out; `after` runs on the worker once it is off its stack.
  // Returns true if the wait was interrupted by the shutdown.
  bool park(goroutine& g, wait_reason reason, wait_detail detail, function_ref<void()> after) {
    g.reason.store(reason, std::memory_order_relaxed);
    g.detail.store(detail, std::memory_order_relaxed);
    switch_action action{switch_action::kind::park, &after};
    leave(g, action);
    return g.park.interrupted;
  }

  // ready: makes a claimed, parked goroutine runnable (called by its claimer, from any thread;
  // `ts` is the caller's thread state). From a goroutine it goes to the `next` slot of the
  // caller's worker; from a worker's scheduler context (timers, I/O, shutdown) to the back of its
  // queue; from any other thread to the global queue.
  void ready(goroutine* g, thread_state& ts) {
    for (unsigned spins = 0; g->status.load(std::memory_order_acquire) != goroutine_status::parked;
         ++spins) {
      // The goroutine is still switching out on its worker (a claimer outside its lock).
      if (spins < 128) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    g->status.store(goroutine_status::runnable, std::memory_order_relaxed);
    if (ts.self != nullptr && &ts.self->sched == this) {
      worker& w = *ts.self;
      if (chaos_) {
        push_chaotically(w, g);
      } else if (ts.current != nullptr) {
        push_next(w, g);
      } else {
        prefetch_resume(*g);
        push_local(w, g, local_run_queue::placement::back);
      }
    } else {
      global_.push(g);
      wake_if_needed();
    }
  }

  void ready(goroutine* g) { ready(g, this_thread()); }

  // prefetch_resume: starts loading what resuming `g` reads first — its saved context and the
  // frames above it, up to the goroutine's own function, and the lines of its record that the
  // switch reads and writes (line 0 the caller has just read) — while it waits its turn in the
  // queue. A goroutine readied by a timer or by the network has usually slept long enough for
  // all of it and its stack page's translation to have left every cache: 100k goroutines
  // sleeping 10 ms spent a fifth of their time in the first load from the resumed stack. A
  // sleeping goroutine's context sits 416 bytes below its stack top, so eight lines cover it.
  static void prefetch_resume(const goroutine& g) noexcept {
    constexpr std::size_t resume_lines = 8;
    const char* context = static_cast<const char*>(g.context);
    for (std::size_t line = 0; line < resume_lines; ++line) {
      prefetch(context + line * cache_line_size);
    }
    const char* record = reinterpret_cast<const char*>(&g);
    for (std::size_t line = 1; line < sizeof(goroutine) / cache_line_size; ++line) {
      prefetch_for_write(record + line * cache_line_size);
    }
  }

  // yield: puts the goroutine behind the others of its worker (Go's Gosched).
  void yield(goroutine& g) {
    throw_if_stopping();
    switch_action action{switch_action::kind::yield};
    leave(g, action);
    throw_if_stopping();
  }

  // chaos_yield: with GORO_CHAOS set, called at the entry of channel, select and sync operations
  // (detail::chaos_point): sometimes lets other goroutines run first, so that interleavings a
  // fair scheduler rarely produces happen in ordinary tests. Never throws, never yields while
  // the run is stopping.
  void chaos_yield(goroutine& g) {
    worker& w = *g.running_on;
    if (!chaos_ || stopping_.load(std::memory_order_relaxed) || w.random() % 4 != 0) return;
    switch_action action{switch_action::kind::yield};
    leave(g, action);
  }

  bool chaotic() const noexcept { return chaos_.has_value(); }

  // yield_if_asked: at a stop point while the attention word's preempt bit is set, yields `g`
  // if the monitor asked its worker to: `g` has run for a whole time slice without a switch
  // (monitor_preemption). The request is then done. Once no request stands — this one done, or
  // made moot by a switch since (a worker whose thread the kernel held off is asked, and then
  // switches on its own) — the bit is cleared, since every stop point takes the slow path while
  // it is set. Left until the monitor's next look, it was set for about half of the time a lone
  // poller ran, and for 15% of a producer/consumer pair's values on a loaded machine
  // (runtime_test). A request the monitor makes meanwhile may lose the bit: it is made again at
  // the next look.
  void yield_if_asked(goroutine& g) {
    worker& w = *g.running_on;
    const bool asked = preemption_asked(w);
    if (asked) w.preempt_at.store(~std::uint64_t{0}, std::memory_order_relaxed);
    if (std::none_of(workers_.begin(), workers_.end(),
                     [](const auto& other) { return preemption_asked(*other); })) {
      announce_preemption(false);
    }
    if (!asked || stopping_.load(std::memory_order_relaxed)) return;
    switch_action action{switch_action::kind::yield};
    leave(g, action);
  }

  // announce_preemption: sets or clears the attention word's preempt bit, which sends every stop
  // point to yield_if_asked.
  static void announce_preemption(bool asked) noexcept {
    if (asked) {
      process().attention.fetch_or(process_state::attention_preempt, std::memory_order_relaxed);
    } else {
      process().attention.fetch_and(static_cast<std::uint8_t>(~process_state::attention_preempt),
                                    std::memory_order_relaxed);
    }
  }

  // preemption_asked: whether the monitor's request to `w` stands: no switch since it was made.
  static bool preemption_asked(const worker& w) noexcept {
    return w.preempt_at.load(std::memory_order_relaxed) ==
           w.progress.load(std::memory_order_relaxed);
  }

  // throw_if_stopping: a goroutine that reaches a blocking operation or a yield after main has
  // returned is unwound there (API 1.1); not while it is already unwinding.
  void throw_if_stopping() const {
    if (stopping_.load(std::memory_order_relaxed) && std::uncaught_exceptions() == 0) {
      throw goroutine_exit{};
    }
  }

  // --- timers, I/O, blocking calls ------------------------------------------------------

  // add_timer: schedules `node` on the calling worker's heap (worker 0's from other threads).
  void add_timer(timer_node& node) {
    thread_state& ts = this_thread();
    worker& w = ts.self != nullptr && &ts.self->sched == this ? *ts.self : *workers_[0];
    // Pairs with wait_polling: either the poller sees the new earliest deadline of this heap,
    // or we see that it is blocked and interrupt it.
    if (w.timers.add(node) && poller_blocked_.load(std::memory_order_seq_cst)) {
      netpoll_.interrupt();
    }
  }
  // remove_timer: unschedules `node` from the heap it was added to, from any thread.
  bool remove_timer(timer_node& node) noexcept {
    return node.heap != nullptr && node.heap->remove(node);
  }

  netpoll& network() noexcept { return netpoll_; }

  // run_blocking: parks `g` uninterruptibly while a helper thread runs `job`. A goroutine that
  // calls it after main has returned is unwound instead, before `job` starts (API 1.1): the
  // park cannot be interrupted, so without this check a goroutine that loops on blocking calls
  // would hold up the end of the run forever.
  //
  // If no helper thread can be started (std::system_error: RLIMIT_NPROC, a cgroup's pids.max),
  // the goroutine makes the call itself, holding its worker, rather than fail it. That is
  // decided before it parks: a parked goroutine is readied only once its worker has switched it
  // out, so the worker could not ready it after running the call in its place.
  void run_blocking(goroutine& g, function_ref<void()> job) {
    throw_if_stopping();
    blocking_pool::helper* helper = nullptr;
    try {
      helper = blocking_.reserve();
    } catch (const std::system_error&) {
      job();
      return;
    }
    const std::uint64_t ticket = begin_wait(g.park, false);
    blocking_calls_.fetch_add(1, std::memory_order_seq_cst);
    blocking_pool::job j{&job, &g.park, ticket, &blocking_call_finished, this};
    park(g, wait_reason::blocking, wait_detail::none, [&] { blocking_.submit(helper, j); });
  }

  // --- plain threads (API 1.3) ----------------------------------------------------------

  std::uint64_t run_id() const noexcept { return run_id_; }
  void plain_thread_started() noexcept { plain_threads_.fetch_add(1, std::memory_order_seq_cst); }
  void plain_thread_exited() noexcept {
    plain_threads_.fetch_sub(1, std::memory_order_seq_cst);
    recheck_if_all_idle();
  }

  // fallback_timers_fired: the fallback thread has fired timers (which readied any goroutine
  // they woke); while they were pending no deadlock was declared.
  void fallback_timers_fired() noexcept { recheck_if_all_idle(); }

  // --- introspection --------------------------------------------------------------------

  unsigned worker_count() const noexcept { return static_cast<unsigned>(workers_.size()); }
  bool stopping() const noexcept { return stopping_.load(std::memory_order_relaxed); }
  // ending: stopping(), or the run has shut down: it starts no more goroutines (a spawn from
  // outside its goroutines throws, launch_outside). shutdown_ is read too because another worker
  // may set it after main's has set main_done_ and before it sets stopping_ (check_shutdown).
  bool ending() const noexcept {
    return stopping_.load(std::memory_order_seq_cst) || shutdown_.load(std::memory_order_seq_cst);
  }

  // live_goroutines: goroutines spawned and not finished, main included. Reads every
  // `finished` counter before any `spawned` one: a finish seen implies its spawn is seen (the
  // spawn happens-before the finish), so the result never undercounts.
  std::size_t live_goroutines() const noexcept {
    const std::uint64_t finished = finished_so_far();
    return static_cast<std::size_t>(spawned_so_far() - finished);
  }

  // dump: one block per live goroutine, in the format of goro::dump.
  void dump(std::ostream& out) const {
    std::vector<goroutine_snapshot> live;
    registry_.for_each([&](const goroutine& g) {
      const goroutine_status status = g.status.load(std::memory_order_acquire);
      if (status == goroutine_status::free) return;
      live.push_back(
          {g.id.load(std::memory_order_relaxed), g.parent_id.load(std::memory_order_relaxed),
           status, g.reason.load(std::memory_order_relaxed),
           g.detail.load(std::memory_order_relaxed), g.is_main.load(std::memory_order_relaxed)});
    });
    std::sort(live.begin(), live.end(),
              [](const goroutine_snapshot& a, const goroutine_snapshot& b) { return a.id < b.id; });
    for (const goroutine_snapshot& g : live) dump_one(out, g);
  }

  // add_counters: adds this run's counters to `into`; finished before spawned, as in
  // live_goroutines, so that spawned never reads below finished.
  void add_counters(worker_counters& into) const noexcept {
    constexpr auto relaxed = std::memory_order_relaxed;
    into.finished.fetch_add(finished_so_far(), relaxed);
    into.spawned.fetch_add(spawned_so_far(), relaxed);
    for (const auto& w : workers_) {
      into.context_switches.fetch_add(w->counters.context_switches.load(relaxed), relaxed);
      into.steals.fetch_add(w->counters.steals.load(relaxed), relaxed);
      into.parks.fetch_add(w->counters.parks.load(relaxed), relaxed);
    }
  }

 private:
  static constexpr std::size_t trim_keep_stacks = 64;

  // --- run lifecycle --------------------------------------------------------------------

  void publish() {
    process_state& p = process();
    p.active_run.store(run_id_, std::memory_order_release);
    p.active.store(this, std::memory_order_seq_cst);
  }

  // unpublish: no plain thread can reach the scheduler once this returns.
  void unpublish() noexcept {
    process_state& p = process();
    p.active.store(nullptr, std::memory_order_seq_cst);
    p.active_run.store(0, std::memory_order_release);
    while (p.users.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }

  // spawn_main: main's stack is taken here rather than when main first runs (start_fiber), so
  // that a stack the system refuses (RLIMIT_AS) makes run throw instead of aborting.
  void spawn_main(function_ref<void()> body) {
    worker& w = *workers_[0];
    goroutine* g = allocate_record(&w);
    try {
      g->stack = acquire_stack(&w);
    } catch (...) {
      release_record(&w, g);
      throw;
    }
    g->entry.emplace([body] { body(); });
    g->is_main.store(true, std::memory_order_relaxed);
    main_record_ = g;
    launch_local(w, g, 0);
  }

  // preemption_monitor: the run's monitor thread (Go's sysmon, for one of its duties), from the
  // start of the workers to their end; none under GORO_CHAOS, whose chaos_yield already yields
  // at every stop point now and then, and whose schedule must depend on nothing but its seed.
  class preemption_monitor {
   public:
    explicit preemption_monitor(scheduler& s) {
      if (s.chaos_) return;
      try {
        thread_ = std::thread([&s, this] { s.monitor_preemption(stop_); });
      } catch (const std::exception&) {
        // No thread to spare, or no memory for its state (std::system_error, std::bad_alloc):
        // goroutines then yield only when they block, as without one.
      }
    }
    preemption_monitor(const preemption_monitor&) = delete;
    preemption_monitor& operator=(const preemption_monitor&) = delete;
    ~preemption_monitor() {
      if (!thread_.joinable()) return;
      stop_.store(1, std::memory_order_release);
      futex_wake(stop_, 1);
      thread_.join();
      announce_preemption(false);
    }

   private:
    std::atomic<std::uint32_t> stop_{0};
    std::thread thread_;
  };

  // monitor_preemption: the monitor thread's loop. Every time slice it looks at each worker that
  // runs a goroutine (not idle, nor looking for work in its loop): one that has not switched
  // goroutines since the last look has run one goroutine for one to two slices, and is asked to
  // make it yield at its next stop point (the entry of a channel, select or sync operation:
  // stop_point), and the process's attention word says so. goro cannot preempt a goroutine at any
  // instruction, as Go has since 1.14, but like Go before it, it preempts at calls into the
  // runtime: a loop over a select with a default case, or over try_recv, no longer keeps every
  // other goroutine (main sleeping, a timer's wake-up) off its worker for ever, which with one
  // worker hung the run.
  void monitor_preemption(std::atomic<std::uint32_t>& stop) {
    for (;;) {
      // A whole slice between looks, even if signals end the waits early (EINTR): a look after
      // less would ask a goroutine to yield after less than a slice.
      const auto next_look = clock::now() + std::chrono::nanoseconds(time_slice_ns);
      for (auto left = next_look - clock::now(); left > clock::duration::zero();
           left = next_look - clock::now()) {
        const timespec wait =
            to_timespec(std::chrono::duration_cast<std::chrono::nanoseconds>(left));
        futex_wait(stop, 0, &wait);
        if (stop.load(std::memory_order_acquire) != 0) return;
      }
      if (stop.load(std::memory_order_acquire) != 0) return;
      bool asked = false;
      {
        std::lock_guard guard(idle_lock_);
        for (auto& w : workers_) asked |= ask_to_yield_if_stuck(*w);
      }
      announce_preemption(asked);
    }
  }

  // ask_to_yield_if_stuck: see monitor_preemption. Requires idle_lock_ (listed_idle).
  static bool ask_to_yield_if_stuck(worker& w) noexcept {
    const std::uint64_t progress = w.progress.load(std::memory_order_relaxed);
    const bool stuck = (progress & 1) != 0 && progress == w.monitor_seen && !w.listed_idle;
    w.monitor_seen = progress;
    if (stuck) w.preempt_at.store(progress, std::memory_order_relaxed);
    return stuck;
  }

  // start_workers: starts workers 1..n-1. If the system refuses a thread (std::system_error)
  // or memory for its state (std::bad_alloc), the run goes on with the workers it has: the ones
  // started are running already, and a throw would destroy them joinable.
  void start_workers() {
    for (std::size_t i = 1; i < workers_.size(); ++i) {
      try {
        workers_[i]->os_thread = std::thread([this, w = workers_[i].get()] {
          sanitizer_thread_init(w->sanitizer);
          worker_main(*w);
        });
      } catch (const std::exception&) {
        workers_.resize(i);
        options_.workers = static_cast<unsigned>(i);
        return;
      }
    }
  }

  void fold_counters() noexcept { add_counters(process().totals); }

  // finished_so_far, spawned_so_far: the run's goroutines finished and spawned, by every worker
  // and, for spawns, by plain threads and helpers too.
  std::uint64_t finished_so_far() const noexcept {
    std::uint64_t finished = 0;
    for (const auto& w : workers_) finished += w->counters.finished.load(std::memory_order_seq_cst);
    return finished;
  }
  std::uint64_t spawned_so_far() const noexcept {
    std::uint64_t spawned = spawned_outside_.load(std::memory_order_seq_cst);
    for (const auto& w : workers_) spawned += w->counters.spawned.load(std::memory_order_seq_cst);
    return spawned;
  }

  // goroutine_snapshot: what dump() shows of a goroutine, each field read once: one that ends
  // while the dump runs is shown as it was (or not at all), never as a free record.
  struct goroutine_snapshot {
    std::uint64_t id;
    std::uint64_t parent_id;
    goroutine_status status;
    wait_reason reason;
    wait_detail detail;
    bool is_main;
  };

  static void dump_one(std::ostream& out, const goroutine_snapshot& g) {
    out << "goroutine " << g.id << " [";
    switch (g.status) {
      case goroutine_status::running: out << "running"; break;
      case goroutine_status::runnable: out << "runnable"; break;
      case goroutine_status::parked: {
        out << wait_reason_name(g.reason);
        switch (g.detail) {
          case wait_detail::nil_chan: out << " (nil chan)"; break;
          case wait_detail::no_cases: out << " (no cases)"; break;
          case wait_detail::none: break;
        }
        break;
      }
      case goroutine_status::free:  // not snapshotted
        break;
    }
    out << "]:\n";
    if (g.parent_id != 0) {
      out << "created by goroutine " << g.parent_id << "\n";
    } else if (g.is_main) {
      out << "main goroutine\n";
    }
    out << "\n";
  }

  // --- records, ids, stacks -------------------------------------------------------------

  goroutine* allocate_record(worker* w) {
    if (w == nullptr) {
      std::vector<goroutine*> one;
      registry_.allocate(one, 1);
      return one[0];
    }
    if (w->free_goroutines.empty()) registry_.allocate(w->free_goroutines, 64);
    goroutine* g = w->free_goroutines.back();
    w->free_goroutines.pop_back();
    return g;
  }

  void release_record(worker* w, goroutine* g) noexcept {
    if (w == nullptr) {
      registry_.release(&g, 1);
      return;
    }
    w->free_goroutines.push_back(g);  // within the capacity the worker reserved
    if (w->free_goroutines.size() > worker::free_goroutines_limit) {
      constexpr std::size_t keep = worker::free_goroutines_limit / 2;
      registry_.release(w->free_goroutines.data() + keep, w->free_goroutines.size() - keep);
      w->free_goroutines.resize(keep);
    }
  }

  // next_goroutine_id: ids are unique and increase per worker; workers take them from the
  // shared counter in batches (as Go's goidcache does), so they are not globally sequential.
  std::uint64_t next_goroutine_id(worker* w) noexcept {
    constexpr std::uint64_t batch = 16;
    if (w == nullptr) return next_id_.fetch_add(1, std::memory_order_relaxed);
    if (w->next_id == w->id_limit) {
      w->next_id = next_id_.fetch_add(batch, std::memory_order_relaxed);
      w->id_limit = w->next_id + batch;
    }
    return w->next_id++;
  }

  stack_span acquire_stack(worker* w) {
    if (w != nullptr) return w->stacks.acquire(stacks_);
    std::vector<stack_span> one;
    stacks_.acquire_batch(one, 1);
    return one[0];
  }

  void prepare_record(goroutine* g, worker* w, std::uint64_t parent) noexcept {
    g->id.store(next_goroutine_id(w), std::memory_order_relaxed);
    g->parent_id.store(parent, std::memory_order_relaxed);
    g->reason.store(wait_reason::none, std::memory_order_relaxed);
    g->detail.store(wait_detail::none, std::memory_order_relaxed);
    g->context = nullptr;
    g->status.store(goroutine_status::runnable, std::memory_order_release);
  }

  // launch_local: returns true if `w`'s run queue overflowed.
  bool launch_local(worker& w, goroutine* g, std::uint64_t parent) {
    prepare_record(g, &w, parent);
    bump(w.counters.spawned);
    return push_next(w, g);
  }

  void launch_outside(goroutine* g, std::uint64_t parent) {
    {
      std::lock_guard guard(idle_lock_);
      if (shutdown_.load(std::memory_order_relaxed)) {
        g->entry.reset();
        if (g->stack) stacks_.release_batch(&g->stack, 1);
        g->stack = {};
        registry_.release(&g, 1);
        throw error("goro::go: the run has ended; start goroutines from inside goro::run");
      }
      prepare_record(g, nullptr, parent);
      spawned_outside_.fetch_add(1, std::memory_order_seq_cst);
      global_.push(g);
    }
    wake_if_needed();
  }

  // --- queues and waking ----------------------------------------------------------------

  // push_local: returns true if the queue overflowed (its older half went to the global queue).
  bool push_local(worker& w, goroutine* g, local_run_queue::placement where) {
    goroutine_list spill;
    w.queue.push(g, where, spill);
    const bool overflowed = !spill.empty();
    if (overflowed) global_.push(spill);
    wake_if_needed();
    return overflowed;
  }

  // push_next: `g` to the `next` slot of `w`; the goroutine it displaces goes to the back.
  // Returns true if that overflowed the queue.
  bool push_next(worker& w, goroutine* g) {
    if (goroutine* displaced = w.queue.push_next(g)) {
      return push_local(w, displaced, local_run_queue::placement::back);
    }
    wake_if_fenced();  // push_next's seq_cst exchange was the barrier
    return false;
  }

  // push_chaotically: GORO_CHAOS: a readied goroutine goes to the next slot, the back or the
  // front of the queue at random.
  void push_chaotically(worker& w, goroutine* g) {
    switch (w.random() % 3) {
      case 0: push_next(w, g); break;
      case 1: push_local(w, g, local_run_queue::placement::back); break;
      default: push_local(w, g, local_run_queue::placement::front); break;
    }
  }

  // wake_if_needed: after making work visible, wakes an idle worker if none is looking for work.
  // The fence pairs with the one in idle(): either we see the idle worker, or it sees the work.
  void wake_if_needed() {
    full_fence();
    wake_if_fenced();
  }

  void wake_if_fenced() {
    if (idle_count_.load(std::memory_order_seq_cst) == 0 ||
        spinning_.load(std::memory_order_seq_cst) != 0) {
      return;
    }
    wake_one();
  }

  // wake_one: wakes an idle worker, which starts out spinning (counted here on its behalf).
  void wake_one() {
    unsigned expected = 0;
    if (!spinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return;
    popped_worker p;
    {
      std::lock_guard guard(idle_lock_);
      p = pop_idle();
    }
    if (p.w == nullptr) {
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
    signal(p);
  }

  struct popped_worker {
    worker* w = nullptr;
    bool poller = false;
    std::uint32_t epoch = 0;
  };

  // pop_idle: takes a sleeping worker off the idle list, the poller only if no other sleeps.
  // poller_ stays set: only the poller itself gives up the role, once it is out of
  // netpoll::wait (resign_poller). Requires idle_lock_.
  popped_worker pop_idle() noexcept {
    auto it = std::find_if(idle_.rbegin(), idle_.rend(), [&](worker* w) { return w != poller_; });
    worker* w = it != idle_.rend() ? *it : (idle_.empty() ? nullptr : idle_.back());
    if (w == nullptr) return {};
    idle_.erase(std::find(idle_.begin(), idle_.end(), w));
    w->listed_idle = false;
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    idle_exits_.fetch_add(1, std::memory_order_seq_cst);
    return popped_worker{w, w == poller_, w->idle_epoch};
  }

  // resign_poller: `w` stops being the poller. Workers that went to sleep meanwhile had no
  // poller to watch the timers for them: hand the role to one of them (returned; signal it
  // after releasing the lock). Requires idle_lock_.
  popped_worker resign_poller(worker& w) noexcept {
    if (poller_ != &w) return {};
    poller_ = nullptr;
    if (idle_.empty()) return {};
    popped_worker next = pop_idle();
    spinning_.fetch_add(1, std::memory_order_seq_cst);  // it wakes up spinning
    return next;
  }

  void signal(const popped_worker& p) noexcept {
    if (p.w == nullptr) return;
    if (p.poller) {
      netpoll_.interrupt();
    } else {
      p.w->idle_word.store(p.epoch + 1, std::memory_order_release);
      futex_wake(p.w->idle_word, 1);
    }
  }

  // wake_all: wakes every idle worker (the run has shut down), one at a time so that nothing is
  // allocated: it runs on a worker's own stack, where nobody could take an exception. A woken
  // worker does not list itself idle again once shutdown_ is set.
  void wake_all() {
    for (;;) {
      popped_worker p;
      {
        std::lock_guard guard(idle_lock_);
        if (idle_.empty()) break;
        p = pop_idle();
        spinning_.fetch_add(1, std::memory_order_seq_cst);
      }
      signal(p);
    }
    netpoll_.interrupt();
  }

  // --- the worker loop ------------------------------------------------------------------

  void worker_main(worker& w) {
    thread_state& ts = this_thread();
    const thread_role previous_role = ts.role;
    ts.role = thread_role::worker;
    ts.self = &w;
    w.thread = &ts;
    w.exceptions = thread_exception_state();
    {
      alternate_signal_stack altstack;
      const unblocked_fault_signals faults_delivered;
      try {
        while (goroutine* g = find_work(w)) run(w, g);
      } catch (...) {
        report_scheduler_failure();
      }
    }
    w.stacks.flush(stacks_);
    ts.self = nullptr;
    ts.role = previous_role;
  }

  // run: switches to `g` and, once a goroutine switches back to the loop, completes what it
  // asked for. That may be another goroutine than `g`: goroutines switch directly among
  // themselves (leave), and w.current always names the one on the worker.
  void run(worker& w, goroutine* g) {
    enter(w, *g);
    sanitizer_enter_fiber(w.sanitizer, g->sanitizer, g->stack.bottom, g->stack.size);
    fcontext::transfer_t t = fcontext::jump_fcontext(g->context, &w);
    sanitizer_back_on_scheduler(w.sanitizer);
    goroutine& left = *w.current;
    left.context = t.fctx;
    w.thread->current = nullptr;
    w.current = nullptr;
    w.progress.store(w.progress.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);  // even: back in the loop (worker.hpp)
    after_leave(w, left, *static_cast<switch_action*>(t.data));
  }

  // enter: makes `g` the goroutine running on `w` (before the switch into it).
  void enter(worker& w, goroutine& g) {
    if (g.context == nullptr) start_fiber(w, g);
    w.current = &g;
    w.clock_reading = 0;
    g.running_on = &w;
    w.thread->current = &g;
    g.status.store(goroutine_status::running, std::memory_order_relaxed);
    w.progress.store((w.progress.load(std::memory_order_relaxed) | 1) + 2,
                     std::memory_order_relaxed);  // odd: a goroutine runs (worker.hpp)
    if (!g.exceptions.empty()) install_exception_state(*w.exceptions, g.exceptions);
  }

  // after_leave: `g` is off its stack (g.context saved): completes what it asked for.
  void after_leave(worker& w, goroutine& g, switch_action& action) {
    bump(w.counters.context_switches);
    complete_switch(w, g, action);
  }

 public:
  // leave: switches the running goroutine `g` out for `action`. When it is safe, the switch goes
  // straight into the next runnable goroutine of the same worker (one context jump instead of
  // two, and no pass through the scheduler loop); every 61st schedule, when a timer is due, or
  // once the run is stopping it goes through the worker's loop, which also polls the global
  // queue, timers and the network.
  void leave(goroutine& g, switch_action& action) {
    // An unguarded stack that overflowed may have overwritten the saved context of the
    // goroutine below it: report before switching anywhere, not after.
    if (!g.stack.guarded() && !stack_canary_intact(g.stack)) report_stack_overflow(g);
    worker& w = *g.running_on;
    stash_exception_state(*w.exceptions, g.exceptions);
    goroutine* next = direct_successor(w, g, action);
    if (next != nullptr && next->context != nullptr) {
      switch_directly(w, g, *next, action);
      return;
    }
    // A goroutine that never ran starts from its trampoline, which only the worker loop can
    // enter (ontop_fcontext does not hand a fresh context its argument): run it next from there.
    w.start_next = next;
    switch_to_scheduler(g, action);
  }

  // finish_direct: the successor's side of a direct switch, on its stack before it resumes.
  fcontext::transfer_t finish_direct(direct_handoff handoff, void* from_context) {
    worker& w = *handoff.w;
    handoff.from->context = from_context;
    after_leave(w, *handoff.from, *handoff.action);
    return fcontext::transfer_t{w.scheduler_context, &w};
  }

 private:
  goroutine* direct_successor(worker& w, goroutine& g, const switch_action& action) {
    if ((w.tick + 1) % 61 == 0 || time_slice_over(w) || stopping_.load(std::memory_order_relaxed) ||
        (action.what == switch_action::kind::exit && g.is_main.load(std::memory_order_relaxed)) ||
        timer_may_be_due(w) || (chaos_ && w.random() % 2 == 0)) {
      return nullptr;
    }
    goroutine* next = w.queue.pop(local_run_queue::pick::newest);
    if (next != nullptr) ++w.tick;
    return next;
  }

  void switch_directly(worker& w, goroutine& from, goroutine& to, switch_action& action) {
    enter(w, to);
    direct_handoff handoff{&w, &from, &action};
    sanitizer_switch_fibers(from.sanitizer, to.sanitizer, to.stack.bottom, to.stack.size,
                            action.what == switch_action::kind::exit);
    resumed(from, fcontext::ontop_fcontext(to.context, &handoff, &finish_direct_switch));
  }

  void start_fiber(worker& w, goroutine& g) {
    if (!g.stack) {
      try {
        g.stack = w.stacks.acquire(stacks_);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "goro: cannot start goroutine %llu: %s\n",
                     static_cast<unsigned long long>(g.id.load()), e.what());
        std::abort();
      }
    }
    g.context = fcontext::make_fcontext(g.stack.top(), g.stack.size, &goroutine_trampoline);
    sanitizer_fiber_create(g.sanitizer);
  }

  void complete_switch(worker& w, goroutine& g, switch_action& action) {
    switch (action.what) {
      case switch_action::kind::park:
        if (action.after != nullptr) (*action.after)();
        bump(w.counters.parks);
        // Store status, then load stopping_: pairs with begin_stop (store stopping_, scan
        // status), which takes the heavy side of the fence — every park takes the light one.
        g.status.store(goroutine_status::parked, std::memory_order_release);
        light_fence();
        if (stopping_.load(std::memory_order_relaxed)) try_interrupt(g);
        break;
      case switch_action::kind::yield:
        // Behind the goroutines waiting in the worker's queue (run_queue.hpp).
        g.status.store(goroutine_status::runnable, std::memory_order_relaxed);
        push_local(w, &g, local_run_queue::placement::yielded);
        break;
      case switch_action::kind::step_back:
        g.status.store(goroutine_status::runnable, std::memory_order_relaxed);
        push_local(w, &g, local_run_queue::placement::front);
        break;
      case switch_action::kind::exit: finish_exit(w, g); break;
    }
  }

  void finish_exit(worker& w, goroutine& g) {
    sanitizer_fiber_destroy(g.sanitizer);
    w.stacks.release(stacks_, g.stack);
    g.stack = {};
    g.context = nullptr;
    const bool was_main = g.is_main.load(std::memory_order_relaxed);
    g.is_main.store(false, std::memory_order_relaxed);
    g.status.store(goroutine_status::free, std::memory_order_release);
    release_record(&w, &g);
    w.counters.finished.fetch_add(1, std::memory_order_seq_cst);
    if (was_main) {
      main_done_.store(true, std::memory_order_seq_cst);
      begin_stop();
    }
    if (stopping_.load(std::memory_order_seq_cst)) check_shutdown();
  }

  // find_work: the next goroutine for `w` to run, or nullptr once the run has shut down. A
  // worker that was spinning (woken to look for work, or stealing) stops counting as spinning
  // once it has found some, wherever it found it (Go's resetspinning): a count left behind
  // would keep wakers from waking an idle worker and thieves from stealing — a goroutine
  // readied into the `next` slot of a worker that then never blocked would never run.
  goroutine* find_work(worker& w) {
    goroutine* g = find_runnable(w);
    if (g != nullptr && w.spinning) stop_spinning(w);
    return g;
  }

  goroutine* find_runnable(worker& w) {
    if (goroutine* g = std::exchange(w.start_next, nullptr)) return g;
    for (;;) {
      if (shutdown_.load(std::memory_order_acquire)) return nullptr;
      ++w.tick;
      const bool slice_ended = end_time_slice(w);
      const bool fair = slice_ended || w.tick % 61 == 0 || (chaos_ && w.random() % 3 == 0);
      if (fair) {
        // The network first: with the global queue never empty (e.g. more goroutines that loop
        // on yield than a local queue holds), polling after a successful take would never
        // happen, and a goroutine waiting on a socket would wait forever (Go's sysmon polls).
        if (netpoll_.waiters.load(std::memory_order_relaxed) > 0) poll_network(false);
        if (goroutine* g = take_global(w, 1)) return g;
      }
      run_timers(w, false);
      if (goroutine* g = w.queue.pop(pick_for(w, slice_ended, fair))) return g;
      if (goroutine* g = take_global(w, local_run_queue::capacity / 2)) return g;
      if (netpoll_.waiters.load(std::memory_order_relaxed) > 0 && poll_network(false) > 0) continue;
      if (goroutine* g = steal(w)) return g;
      if (run_timers(w, true) > 0) continue;
      if (spin_on_network(w)) continue;
      idle(w);
    }
  }

  // spin_on_network: before a worker sleeps while goroutines wait on sockets, it polls the
  // network without blocking for up to network_spin_ns. A goroutine that has just sent a
  // request on loopback or a fast link often has its answer that soon; sleeping in epoll_wait
  // instead costs a wake-up of this thread per message: with the two goroutines of a ping-pong
  // on two workers, one per half round trip (docs/benchmarks.md: TCP round trips 21 → 11.5 µs).
  // Go's idle Ps spin looking for work the same way. The price is that much CPU time each time
  // a worker runs out of work while sockets are waited on. True if the network readied
  // something, a timer fired or other work appeared.
  bool spin_on_network(worker& w) {
    if (netpoll_.waiters.load(std::memory_order_relaxed) == 0) return false;
    const std::int64_t until = to_nanoseconds(clock::now()) + network_spin_ns;
    do {
      if (poll_network(false) > 0 || work_visible() || run_timers(w, true) > 0) return true;
      cpu_relax();
    } while (to_nanoseconds(clock::now()) < until && !shutdown_.load(std::memory_order_relaxed));
    return false;
  }

  // run_timers: fires the expired timers of `w`, those of other workers that are overdue by
  // foreign_timer_delay_ns, and — `idle`: `w` has nothing else to do — all that are due. Returns
  // how many fired.
  //
  // A worker fires its own: the two workers of the 100k-sleepers benchmark, adding to and
  // firing from one shared heap, spent 7–12% of their time contending for its lock. Another
  // worker steps in when the owner has not scheduled for a while (it runs one goroutine that
  // does not block) and whenever it is idle — the poller wakes for the earliest deadline of all
  // heaps, whichever worker's it is.
  //
  // Reading the precise clock on every schedule is costly (25 ns under a hypervisor), so the
  // coarse clock first rules out deadlines well ahead (further than coarse_clock_slack_ns(), see
  // timer_heap.hpp).
  std::size_t run_timers(worker& w, bool idle) {
    std::int64_t coarse = 0;  // 0: not read yet
    std::size_t fired = 0;
    for (const auto& owner : workers_) {
      const std::int64_t due = firing_time(*owner, w, idle);
      if (due == timer_heap::none || !may_have_passed(w, due, coarse)) continue;
      const std::int64_t now = precise_now_ns(w);
      if (now >= due) fired += owner->timers.run_expired(from_nanoseconds(now), true);
    }
    return fired;
  }

  // may_have_passed: false if the coarse clock (read into `coarse` once, 0: not yet) puts `due`
  // further ahead than its slack, so that no precise reading is needed to rule it out; true
  // when a precise reading is at hand already.
  bool may_have_passed(const worker& w, std::int64_t due, std::int64_t& coarse) const noexcept {
    if (w.clock_reading != 0) return true;
    if (coarse == 0) coarse = coarse_now_ns();
    return coarse + coarse_slack_ns_ >= due;
  }

  // precise_now_ns: the precise clock, read at most once between two goroutines. A reading
  // taken since `w` last entered a goroutine or went idle is reused (worker::clock_reading): the
  // check of a goroutine's switch, the worker loop that the switch may go through, and a sleep
  // that parks right after reading the clock share one. Deciding on a reading that is a few
  // hundred ns old fires a timer that much later, never early. The 100k-sleepers benchmark read
  // the clock 3.6 times per goroutine without this (19 ns a read on this VM).
  static std::int64_t precise_now_ns(worker& w) noexcept {
    if (w.clock_reading == 0) w.clock_reading = to_nanoseconds(clock::now());
    return w.clock_reading;
  }

  // pick_for: which goroutine find_runnable takes from the local queue (run_queue.hpp).
  // Fair schedules alternate between the oldest of the ring and the oldest yielded goroutine, so
  // that neither waits for ever behind the other.
  static local_run_queue::pick pick_for(const worker& w, bool slice_ended, bool fair) noexcept {
    using pick = local_run_queue::pick;
    if (slice_ended) return pick::oldest_before_next;
    if (!fair) return pick::newest;
    return (w.tick / 61) % 2 == 0 ? pick::oldest : pick::yielded;
  }

  // time_slice_over: whether the worker's time slice has ended. Goroutines that hand the
  // worker to each other through the `next` slot (a send readies the receiver there) share one
  // slice, as in Go, where the goroutine in runnext inherits the time slice: without a limit, a
  // pair handing off long jobs would get the worker as often as a pair handing off short ones,
  // and so far more of its time. goro cannot preempt, so the slice ends at the first switch
  // after time_slice_ns (Go's forcePreemptNS), and that switch takes the oldest goroutine of
  // the queue instead of `next`. The coarse clock (4 ns a read) is read every 16th schedule.
  // There are no slices under GORO_CHAOS: its schedule must depend on nothing but its seed.
  bool time_slice_over(worker& w) const noexcept {
    if (w.slice_over) return true;
    if (w.tick % 16 != 0 || chaos_) return false;
    w.slice_over = coarse_now_ns() - w.slice_start >= time_slice_ns;
    return w.slice_over;
  }

  // end_time_slice: in find_runnable, whether this schedule ends a time slice (and so must be
  // fair); if it does, the next slice starts now.
  bool end_time_slice(worker& w) const noexcept {
    if (!time_slice_over(w)) return false;
    w.slice_over = false;
    w.slice_start = coarse_now_ns();
    return true;
  }

  // timer_may_be_due: whether run_timers(w, false) would find a timer to fire, read the same
  // way (a deadline within the coarse clock's slack is checked on the precise clock, so that a
  // timer due in the next few ms does not turn every switch into one through the scheduler).
  bool timer_may_be_due(worker& w) const noexcept {
    std::int64_t coarse = 0;
    for (const auto& owner : workers_) {
      const std::int64_t due = firing_time(*owner, w, false);
      if (due == timer_heap::none || !may_have_passed(w, due, coarse)) continue;
      if (precise_now_ns(w) >= due) return true;
    }
    return false;
  }

  // firing_time: when worker `w` fires the earliest timer of `owner`'s heap (timer_heap::none:
  // it holds none) — at its deadline if the heap is w's own or w is idle, else once it is
  // foreign_timer_delay_ns overdue. A busy worker looks at another's heap only at every
  // foreign_timer_check_ticks-th schedule: the owner writes the line of its earliest deadline
  // whenever it fires one, so each look is a cache miss when timers fire steadily. Looking at
  // every switch took 2% of the 100k-sleepers benchmark's time.
  static std::int64_t firing_time(const worker& owner, const worker& w, bool idle) noexcept {
    if (&owner != &w && !idle && w.tick % foreign_timer_check_ticks != 0) return timer_heap::none;
    const std::int64_t earliest = owner.timers.earliest();
    if (earliest == timer_heap::none || &owner == &w || idle) return earliest;
    return earliest + foreign_timer_delay_ns;
  }

  // earliest_timer: the earliest deadline of all workers' timers, or timer_heap::none.
  std::int64_t earliest_timer() const noexcept {
    std::int64_t earliest = timer_heap::none;
    for (const auto& w : workers_) earliest = std::min(earliest, w->timers.earliest());
    return earliest;
  }

  static constexpr std::int64_t network_spin_ns = 50'000;  // spin_on_network's spin

  int poll_network(bool block) {
    netpoll::event_buffer events;
    int n = netpoll_.wait(events, block, timer_heap::none);
    netpoll_.dispatch(events, n);
    return n;
  }

  // take_global: a fair share of the global queue; the first to run, the rest to `w`'s queue.
  goroutine* take_global(worker& w, std::size_t max) {
    const std::size_t available = global_.size_hint();
    if (available == 0) return nullptr;
    goroutine_list batch = global_.pop_batch(std::min(available / workers_.size() + 1, max));
    goroutine* first = batch.pop_front();
    while (goroutine* g = batch.pop_front()) {
      goroutine_list spill;
      w.queue.push(g, local_run_queue::placement::back, spill);
      global_.push(spill);
    }
    return first;
  }

  goroutine* steal(worker& w) {
    const std::size_t n = workers_.size();
    if (n == 1) return nullptr;
    if (!w.spinning) {
      // At most half of the busy workers spin, so spinning cannot eat a loaded machine.
      const std::size_t busy = n - idle_count_.load(std::memory_order_relaxed);
      if (2 * spinning_.load(std::memory_order_relaxed) >= busy) return nullptr;
      w.spinning = true;
      spinning_.fetch_add(1, std::memory_order_seq_cst);
    }
    std::array<goroutine*, local_run_queue::capacity / 2 + 1> loot;
    for (int round = 0; round < 4; ++round) {
      const std::size_t start = w.random() % n;
      for (std::size_t i = 0; i < n; ++i) {
        worker& victim = *workers_[(start + i) % n];
        if (&victim == &w) continue;
        std::uint32_t k = victim.queue.steal(loot, false, 2);
        if (k == 0 && round == 3 && stuck(victim)) k = victim.queue.steal(loot, true, 1);
        if (k == 0) continue;
        bump(w.counters.steals);
        for (std::uint32_t j = 0; j + 1 < k; ++j) {
          goroutine_list spill;
          w.queue.push(loot[j], local_run_queue::placement::back, spill);
          global_.push(spill);
        }
        return loot[k - 1];
      }
      if (goroutine* g = take_global(w, local_run_queue::capacity / 2)) return g;
    }
    return nullptr;
  }

  // stuck: the victim holds one runnable goroutine (or two, one in `next`) and has not
  // scheduled for a while: it runs a goroutine that does not block, and the ones waiting
  // would starve behind it. The common case is different: a goroutine readied its partner and
  // blocks right after (a channel ping-pong, a select fed by producers), and the owner runs the
  // partner within a switch or two. Stealing then would only drag a partner to another core,
  // where every hand-off between them crosses cores, so wait as long as Go does (usleep(3),
  // which the kernel's timer slack stretches to about 50 us) before deciding. A ring of two or
  // more is taken at once.
  static bool stuck(const worker& victim) noexcept {
    if (!victim.queue.lone_work()) return false;
    const std::uint64_t before = victim.progress.load(std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(3));
    return victim.queue.lone_work() && victim.progress.load(std::memory_order_relaxed) == before;
  }

  void stop_spinning(worker& w) {
    w.spinning = false;
    // The last spinner to find work wakes another worker: there may be more (Go's resetspinning).
    if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) wake_if_needed();
  }

  // --- idle -----------------------------------------------------------------------------

  void idle(worker& w) {
    w.clock_reading = 0;  // the wait below may be long
    if (const auto now = clock::now(); stacks_.trim_due(now)) stacks_.trim(now, trim_keep_stacks);
    bool poller = false;
    bool quiescent = false;
    std::uint64_t exits_before = 0;
    {
      std::lock_guard guard(idle_lock_);
      if (shutdown_.load(std::memory_order_relaxed)) return;
      w.listed_idle = true;
      w.idle_epoch = w.idle_word.load(std::memory_order_relaxed);
      idle_.push_back(&w);
      if (poller_ == nullptr) {
        poller_ = &w;
        poller = true;
      }
      quiescent = idle_count_.fetch_add(1, std::memory_order_seq_cst) + 1 == workers_.size();
      exits_before = idle_exits_.load(std::memory_order_relaxed);
    }
    if (w.spinning) {
      w.spinning = false;
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
    }
    full_fence();
    if (quiescent) on_quiescence(w, exits_before);
    if (work_visible()) {
      leave_idle(w, poller);
    } else if (poller) {
      wait_polling(w);
    } else {
      wait_sleeping(w);
    }
  }

  bool work_visible() const noexcept {
    if (global_.size_hint() != 0 || shutdown_.load(std::memory_order_relaxed)) return true;
    return std::any_of(workers_.begin(), workers_.end(),
                       [](const auto& w) { return w->queue.has_work(); });
  }

  // leave_idle: cancels an idle registration. If a waker took us off the list first, its
  // signal is on its way (a sleeper consumes it) and it counted us as spinning.
  void leave_idle(worker& w, bool registered_as_poller) {
    if (withdraw_idle(w)) {
      if (!registered_as_poller) consume_wake(w);
      w.spinning = true;
    }
  }

  // withdraw_idle: takes `w` off the idle list, unless a waker popped it first (then true: the
  // waker's signal is on its way), and resigns it as the poller, signalling the worker that
  // takes over.
  bool withdraw_idle(worker& w) {
    bool popped = false;
    popped_worker handoff;
    {
      std::lock_guard guard(idle_lock_);
      popped = !w.listed_idle;
      if (!popped) unlist(w);
      handoff = resign_poller(w);
    }
    signal(handoff);
    return popped;
  }

  // unlist: takes `w` off the idle list itself. Requires idle_lock_.
  void unlist(worker& w) noexcept {
    idle_.erase(std::find(idle_.begin(), idle_.end(), &w));
    w.listed_idle = false;
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    idle_exits_.fetch_add(1, std::memory_order_seq_cst);
  }

  void consume_wake(worker& w) noexcept {
    while (w.idle_word.load(std::memory_order_acquire) == w.idle_epoch) {
      futex_wait(w.idle_word, w.idle_epoch);
    }
  }

  void wait_sleeping(worker& w) {
    consume_wake(w);
    w.spinning = true;  // the waker counted us
  }

  void wait_polling(worker& w) {
    netpoll::event_buffer events;
    poller_blocked_.store(true, std::memory_order_seq_cst);
    int n = netpoll_.wait(events, true, earliest_timer());
    poller_blocked_.store(false, std::memory_order_seq_cst);
    w.spinning = withdraw_idle(w);  // a waker that popped the poller counted it as spinning
    netpoll_.dispatch(events, n);
  }

  // on_quiescence: every worker is idle. If nothing outside the goroutines can wake one —
  // no timer (in the workers' heaps or the fallback heap, where timers made before the run
  // wait), no socket, no blocking() call, no plain thread, no signal watcher — the run is
  // deadlocked (or, while stopping, stuck in destructors).
  //
  // The outside wakers are read before the run queues: a blocking() helper or a plain thread
  // readies its goroutine before it drops its count, so once a count is seen at zero the
  // goroutine it readied is visible in a queue. (Looking at the queues first lets a ready slip
  // in between the two reads and be mistaken for a deadlock.)
  //
  // `exits_before` is idle_exits_ when this worker made the count complete. If any worker has
  // left idle since, the reads above are no snapshot of an idle run — the poller, woken by a
  // timer, pops the expired timers (the heap looks empty) before it readies their goroutines
  // (no queue shows them yet) — and that worker will check again when it is idle again. A
  // worker leaves idle (idle_exits_) before it does anything that those reads could see.
  //
  // A deadlock is declared only once the run has stayed quiet for a while (stayed_quiet): a
  // plain thread counts from its first call into goro (API 1.3), and one that main has just
  // started may not have made that call yet when main blocks waiting for it. Go, which has no
  // such threads, declares at once; here a report comes that much later.
  void on_quiescence(worker& w, std::uint64_t exits_before) {
    if (!quiet(exits_before)) return;
    if (!stopping_.load(std::memory_order_seq_cst)) {
      if (!options_.detect_deadlock || !stayed_quiet(w, exits_before)) return;
      if (!stopping_.load(std::memory_order_seq_cst) && declare_deadlock() != 0) return;
    }
    // The others are unwound or stuck: now main's turn (begin_stop).
    if (!main_done_.load(std::memory_order_seq_cst) && interrupt_main()) return;
    check_shutdown();
    if (!shutdown_.load(std::memory_order_seq_cst)) abandon_stuck_goroutines();
  }

  // stayed_quiet: whether the run is still quiet after deadlock_grace, listed idle all along,
  // and after as many more grace periods, up to deadlock_patience, as some other thread of the
  // process is seen runnable at their end. A plain thread that main has just started on a
  // machine whose CPUs are all busy can wait longer than deadlock_grace for its first time
  // slice, and so for its first call into goro: with two CPU-bound processes beside a test on
  // two CPUs, a thread started to wake main had not run after 65-111 ms, and the run was
  // declared deadlocked in 10 of 10 runs of 5 000 such wakes. A thread of the process that
  // never touches goro and stays busy delays a report by deadlock_patience at most.
  bool stayed_quiet(worker& w, std::uint64_t exits_before) {
    std::chrono::milliseconds waited{0};
    do {
      wait_for_waker(w, deadlock_grace);
      waited += deadlock_grace;
      if (!quiet(exits_before)) return false;
    } while (waited < deadlock_patience && another_thread_runnable());
    return true;
  }

  // wait_for_waker: sleeps until a waker pops `w` off the idle list or `limit` passes. A popped
  // worker's wake is consumed as usual afterwards. The poller is popped through the netpoller,
  // not its idle word: it looks at the list every millisecond. The limit is read off the clock,
  // not counted in slices: a signal ends a futex wait early (EINTR), and a program whose
  // interval timer signals every 100 µs had its 50 ms grace cut to a few milliseconds.
  void wait_for_waker(worker& w, std::chrono::milliseconds limit) {
    constexpr timespec slice{0, 1'000'000};
    const auto until = clock::now() + limit;
    do {
      futex_wait(w.idle_word, w.idle_epoch, &slice);  // at once if a waker has bumped the word
      std::lock_guard guard(idle_lock_);
      if (!w.listed_idle) return;
    } while (clock::now() < until);
  }

  // quiet: nothing outside the goroutines can wake one (no timer, socket, blocking() call, plain
  // thread or signal watcher), no goroutine is queued, and no worker has left idle since
  // `exits_before`.
  bool quiet(std::uint64_t exits_before) const noexcept {
    if (earliest_timer() != timer_heap::none || fallback_timers::pending() ||
        netpoll_.waiters.load(std::memory_order_seq_cst) != 0 ||
        blocking_calls_.load(std::memory_order_seq_cst) != 0 ||
        plain_threads_.load(std::memory_order_seq_cst) != 0 ||
        process().signal_watchers.load(std::memory_order_seq_cst) != 0) {
      return false;
    }
    if (work_visible()) return false;
    return idle_exits_.load(std::memory_order_seq_cst) == exits_before;
  }

  // declare_deadlock: records the report and begins the stop; returns how many goroutines
  // that interrupted.
  std::size_t declare_deadlock() {
    bool expected = false;
    if (!deadlock_declared_.compare_exchange_strong(expected, true)) return 0;
    try {
      std::ostringstream out;
      // A stream swallows a failure to grow its buffer (it sets badbit and keeps what it had:
      // "all goroutines "): make it throw instead.
      out.exceptions(std::ios::badbit);
      out << deadlock_headline << "\n\n";
      dump(out);
      deadlock_report_ = out.str();
    } catch (const std::exception&) {
      // No memory for the dump (std::bad_alloc), here on a worker where nobody could take the
      // exception: the report is the headline alone, made when run throws it (execute), in the
      // caller's thread.
      deadlock_report_.clear();
    }
    return begin_stop();
  }

  // abandon_stuck_goroutines: goroutines that block again while being unwound at shutdown, with
  // nothing left to wake them, cannot be unwound: report them and end the run without them.
  // Their waiters stay queued on the objects they wait on (a mutex main returned holding), and
  // those objects may be used after the run: each abandoned wait is claimed, so that a later
  // unlock, send or close passes over it as over any wait the shutdown took, and the records
  // (and, never released, the stacks) that the waiters point into are kept for good.
  void abandon_stuck_goroutines() {
    bool abandoned = false;
    registry_.for_each([&](goroutine& g) {
      if (g.status.load(std::memory_order_acquire) != goroutine_status::parked) return;
      std::fprintf(stderr,
                   "goro: goroutine %llu blocked while being unwound at shutdown; abandoning "
                   "it (its remaining destructors do not run)\n",
                   static_cast<unsigned long long>(g.id.load()));
      const std::uint64_t ticket = g.park.token.load(std::memory_order_acquire);
      if ((ticket & token_waiting) != 0) static_cast<void>(try_claim(g.park, ticket));
      sanitizer_keep_reachable(g.stack.bottom, g.stack.size);
      abandoned = true;
    });
    if (abandoned) registry_.keep_forever();
    {
      std::lock_guard guard(idle_lock_);
      shutdown_.store(true, std::memory_order_seq_cst);
    }
    wake_all();
  }

  // --- stopping -------------------------------------------------------------------------

  // begin_stop: from now on every goroutine is unwound at its next blocking operation or yield;
  // the parked ones are woken for it now. Pairs with complete_switch (store status, load
  // stopping_): a goroutine parking concurrently is caught by one side or the other.
  // While main is still alive (a deadlock) it is spared until the others are gone (see
  // on_quiescence): they may refer to its locals, as goroutines do to the variables of the
  // function that started them. Its wait is claimed now all the same, so that nothing the others
  // do while they are unwound (a destructor's wait_group::done, unlock or send) can complete it
  // and let main run on past a deadlock: it is woken, interrupted, when its turn comes.
  // Returns how many it interrupted.
  std::size_t begin_stop() {
    stopping_.store(true, std::memory_order_seq_cst);
    process().attention.fetch_or(process_state::attention_stopping, std::memory_order_relaxed);
    heavy_fence();  // pairs with the park in complete_switch
    const bool spare_main = !main_done_.load(std::memory_order_seq_cst);
    if (spare_main && claim_for_interrupt(*main_record_)) {
      main_held_.store(true, std::memory_order_seq_cst);
    }
    std::size_t interrupted = 0;
    registry_.for_each([&](goroutine& g) {
      if ((!spare_main || &g != main_record_) && try_interrupt(g)) ++interrupted;
    });
    return interrupted;
  }

  // interrupt_main: wakes main for unwinding: the wait that begin_stop claimed and held, or else
  // the one it is parked in now, if it can be interrupted.
  bool interrupt_main() {
    if (main_held_.exchange(false, std::memory_order_seq_cst)) {
      ready(main_record_);
      return true;
    }
    return try_interrupt(*main_record_);
  }

  // try_interrupt: wakes `g` for unwinding if it is parked in an interruptible wait.
  bool try_interrupt(goroutine& g) {
    if (!claim_for_interrupt(g)) return false;
    ready(&g);
    return true;
  }

  // claim_for_interrupt: claims the wait `g` is parked in, marked interrupted, for the caller to
  // wake; fails if `g` is not parked in an interruptible wait — it is in a blocking() call, or
  // already unwinding (its stashed exception state counts an exception in flight: a destructor
  // that blocks) — or another claimer won.
  bool claim_for_interrupt(goroutine& g) {
    const std::uint64_t ticket = g.park.token.load(std::memory_order_acquire);
    if ((ticket & token_waiting) == 0 || (ticket & token_uninterruptible) != 0) return false;
    // Read after the ticket: `parked` here means parked in that very wait (see goroutine.hpp),
    // and the exception state stashed before that park is visible.
    if (g.status.load(std::memory_order_seq_cst) != goroutine_status::parked) return false;
    // Atomic: the goroutine, woken meanwhile by someone else, may be stashing it for its next
    // park; the ticket's claim below then fails.
    if (__atomic_load_n(&g.exceptions.uncaught_exceptions, __ATOMIC_RELAXED) != 0) return false;
    if (!try_claim(g.park, ticket)) return false;
    g.park.interrupted = true;
    return true;
  }

  void check_shutdown() {
    if (!main_done_.load(std::memory_order_seq_cst)) return;
    {
      std::lock_guard guard(idle_lock_);
      if (shutdown_.load(std::memory_order_relaxed) || live_goroutines() != 0) return;
      shutdown_.store(true, std::memory_order_seq_cst);
    }
    wake_all();
  }

  // blocking_call_finished: a blocking() call has readied its goroutine. That goroutine may
  // already have run and parked again, and every worker gone idle while this call still
  // counted, which kept on_quiescence from declaring a deadlock: re-check.
  static void blocking_call_finished(void* self) noexcept {
    auto& sched = *static_cast<scheduler*>(self);
    sched.blocking_calls_.fetch_sub(1, std::memory_order_seq_cst);
    sched.recheck_if_all_idle();
  }

  // recheck_if_all_idle: after an outside waker (a blocking() call, a plain thread) dropped its
  // count: if every worker is asleep, the poller wakes and checks for a deadlock again.
  void recheck_if_all_idle() noexcept {
    if (idle_count_.load(std::memory_order_seq_cst) == workers_.size()) netpoll_.interrupt();
  }

  // --- state ----------------------------------------------------------------------------

  // Members that workers write often start cache lines of their own (the queues, the pools, the
  // id counter, the spinning count), so that they do not slow the reads every schedule makes of
  // the others (stopping_, the workers, the options).
  options options_;
  const std::size_t requested_stack_size_;  // options.stack_size as given, before rounding
  std::uint64_t run_id_ = 0;
  std::optional<std::uint64_t> chaos_;  // GORO_CHAOS seed
  std::vector<std::unique_ptr<worker>> workers_;
  const std::int64_t coarse_slack_ns_ = coarse_clock_slack_ns();
  // How long a quiet run waits before it is declared deadlocked (on_quiescence), and how much
  // longer at most while another thread of the process is runnable (stayed_quiet).
  static constexpr std::chrono::milliseconds deadlock_grace{50};
  static constexpr std::chrono::milliseconds deadlock_patience{2000};
  // How late a worker's expired timer may be before a busy other worker fires it (run_timers).
  static constexpr std::int64_t foreign_timer_delay_ns = 50'000;
  static constexpr std::uint32_t foreign_timer_check_ticks = 16;
  // How long goroutines may keep their worker by handing it to each other (time_slice_over).
  static constexpr std::int64_t time_slice_ns = 10'000'000;
  alignas(cache_line_size) global_run_queue global_;
  alignas(cache_line_size) goroutine_registry registry_;
  alignas(cache_line_size) stack_pool stacks_;
  alignas(cache_line_size) netpoll netpoll_;
  blocking_pool blocking_;

  alignas(cache_line_size) std::atomic<std::uint64_t> next_id_{1};  // main gets 1
  std::atomic<std::uint64_t> spawned_outside_{0};  // spawns by plain threads and helpers
  std::atomic<std::int64_t> blocking_calls_{0};
  std::atomic<std::int64_t> plain_threads_{0};

  alignas(cache_line_size) std::atomic<std::size_t> idle_count_{0};  // workers on idle_ (written
                                                                     // under idle_lock_)
  std::atomic<std::uint64_t> idle_exits_{0};  // workers taken off idle_ so far (idem)
  std::atomic<unsigned> spinning_{0};         // workers looking for work to steal
  std::atomic<bool> poller_blocked_{false};

  futex_mutex idle_lock_;  // guards idle_, poller_, each worker's listed_idle/idle_epoch, the
                           // shutdown decision and spawns from plain threads
  std::vector<worker*> idle_;
  worker* poller_ = nullptr;

  alignas(cache_line_size) std::atomic<bool> main_done_{false};
  goroutine* main_record_ = nullptr;    // set before the workers start; valid until main_done_
  std::atomic<bool> main_held_{false};  // main's wait is claimed for unwinding, not yet woken
  std::atomic<bool> stopping_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> deadlock_declared_{false};
  static constexpr const char* deadlock_headline = "all goroutines are asleep - deadlock!";
  std::string deadlock_report_;  // written once, before stopping begins; empty: the headline
};

inline void recheck_active_run() noexcept {
  scheduler_ref ref;
  if (ref) ref->fallback_timers_fired();
}

inline void write_traceback(const scheduler& s) {
  std::ostringstream out;
  out << "SIGQUIT: quit\n\n";
  s.dump(out);
  const std::string text = out.str();
  write_stderr(text.data(), text.size());
}

// The entry point of every goroutine's fiber.
inline void goroutine_trampoline(fcontext::transfer_t t) noexcept {
  goroutine& g = *static_cast<worker*>(t.data)->current;
  resumed(g, t);
  run_goroutine_body(g);
  switch_action exit{switch_action::kind::exit};
  g.running_on->sched.leave(g, exit);
  std::abort();  // an exited goroutine is never resumed
}

// finish_direct_switch: runs on the successor's stack, on top of its saved context, right after
// a direct switch; what it returns is what the successor's own pending switch returns.
inline fcontext::transfer_t finish_direct_switch(fcontext::transfer_t t) noexcept {
  const direct_handoff handoff = *static_cast<direct_handoff*>(t.data);  // on `from`'s stack
  try {
    return handoff.w->sched.finish_direct(handoff, t.fctx);
  } catch (...) {
    report_scheduler_failure();
  }
}

}  // namespace goro::detail
