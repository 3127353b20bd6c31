/// \file
/// goro/runtime.hpp — starting the scheduler and goroutines (API section 1).
///
/// ```cpp
///   int answer = goro::run([] {
///     goro::wait_group wg;
///     wg.add(1);
///     goro::go([&] { wg.done(); });
///     wg.wait();
///     return 42;
///   });
/// ```
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <type_traits>
#include <utility>

#include "detail/options.hpp"
#include "detail/outcome.hpp"
#include "detail/park.hpp"
#include "detail/scheduler.hpp"
#include "error.hpp"

// goro::options and goro::stack_guard are declared in detail/options.hpp, so that the internals
// can use them; their reference documentation is here, in the header users include for them.

/// \struct goro::options goro/detail/options.hpp goro/runtime.hpp
/// options: how goro::run sets up the scheduler. Members are in this order on purpose:
/// designated initializers (`goro::run(main_fn, {.workers = 2})`) rely on it.

/// \var goro::options::workers
/// workers: the OS worker threads that run goroutines (Go's GOMAXPROCS), the thread that calls
/// run included. 0: the environment variable `GORO_MAXPROCS` if it holds a number from 1 to
/// 4096, else std::thread::hardware_concurrency(). More than 4096 makes run throw goro::error
/// (each worker's thread and state are made when run starts).

/// \var goro::options::stack_size
/// stack_size: the address space reserved for each goroutine stack, main's included (rounded up
/// to the page size), all of it usable but for an unguarded stack's 64-byte canary, which lies
/// within it; a guarded stack's guard page lies below it. Pages are committed lazily, as they
/// are touched (goro itself touches the top page of one stack in each 2 MiB when it makes
/// guard-marked stacks, a page that stack's goroutine writes at its start anyway). Less than
/// 16 KiB or more than 1 TiB makes run throw goro::error.

/// \var goro::options::guard
/// guard: whether goroutine stacks get a guard page (API 1.4); see goro::stack_guard.

/// \var goro::options::detect_deadlock
/// detect_deadlock: when every goroutine is blocked and nothing outside them can wake one, run
/// throws goro::deadlock_error (API 1.3).

/// \enum goro::stack_guard
/// stack_guard: whether goroutine stacks get a no-access guard page (API 1.4). A guarded stack
/// catches an overflow at the faulting access, given code compiled with
/// `-fstack-clash-protection` (the goro::goro CMake target and pkg-config add it): without it a
/// frame larger than a page can step over the guard into the stack below. A guard made with
/// mprotect costs two of the kernel's `vm.max_map_count` memory mappings (65530 by default); a
/// guard marker (Linux 6.13, MADV_GUARD_INSTALL) costs none. An unguarded stack has a canary at its
/// low end, checked at every switch; its overflow is reported at the goroutine's next switch, and
/// may have corrupted a neighbouring stack by then. Either way the report is `goro: goroutine <id>
/// overflowed its <N>-byte stack`, and the process aborts.

/// \var goro::stack_guard::automatic
/// automatic: guard new stacks with guard markers where the kernel has them (Linux 6.13 and
/// later; they cost no mapping); else with mprotect while goro's stacks so guarded hold fewer
/// than half of `vm.max_map_count` (read when run starts), then take unguarded stacks. The
/// default; a million live goroutines work with it.

/// \var goro::stack_guard::always
/// always: guard every stack with a mapping of its own (two mappings each, guard markers or not);
/// goro::go throws goro::error naming `vm.max_map_count` when the kernel refuses a mapping (it
/// works again once goroutines have exited).

/// \var goro::stack_guard::never
/// never: guard no stack (canary only).

namespace goro {

namespace detail {

// run_scheduler: the non-template part of goro::run.
inline void run_scheduler(function_ref<void()> main_body, const options& opts) {
  process_state& p = process();
  if (p.run_active.exchange(true, std::memory_order_acq_rel)) {
    throw error(this_thread().current != nullptr
                    ? "goro::run: called from a goroutine; goro::run cannot be nested"
                    : "goro::run: another goro::run is active; one run at a time per process");
  }
  struct release_run {
    ~release_run() { process().run_active.store(false, std::memory_order_release); }
  } release;
  scheduler s(opts);
  s.execute(main_body);
}

// spawn: the non-variadic part of goro::go.
template <class F>
void spawn(F&& body) {
  thread_state& ts = this_thread();
  if (ts.current != nullptr) {
    ts.self->sched.spawn(std::forward<F>(body), ts.self, ts.current->id.load());
    return;
  }
  note_plain_thread(ts);
  scheduler_ref ref;
  if (!ref) {
    throw error(
        "goro::go: no goro::run is active; start goroutines inside goro::run (or from another "
        "thread while a run is active)");
  }
  // A thread spawning in a loop would otherwise keep the ending run from ever finishing.
  if (ref->stopping()) {
    throw error(
        "goro::go: the run is ending (its main goroutine has returned); no goroutine can "
        "start now");
  }
  ref->spawn(std::forward<F>(body), nullptr, 0);
}

}  // namespace detail

/// run: starts the scheduler with `opts`, runs `main_fn` as the main goroutine (id 1) and blocks
/// the calling thread — which becomes worker 0 — until it returns; then every goroutine still
/// alive is unwound at its next blocking operation or yield, and run returns main_fn's result or
/// rethrows its exception. Throws goro::deadlock_error when every goroutine is blocked for good
/// (options::detect_deadlock), goro::error if a run is already active.
template <class F>
auto run(F&& main_fn, options opts = {}) -> std::invoke_result_t<F&> {
  using result_type = std::invoke_result_t<F&>;
  detail::outcome<result_type> result;
  detail::run_scheduler([&] { result.capture(main_fn); }, opts);
  return result.get();
}

/// go: starts a goroutine that runs fn(args...). fn and args are decay-copied (like std::thread)
/// and invoked as rvalues. Callable from a goroutine, or from any thread while a run is active
/// and its main has not returned; otherwise throws goro::error, as it does for a null function
/// pointer or an empty
/// std::function (Go: "go of nil func value"). An exception escaping the goroutine prints
/// `goro: unhandled exception in goroutine <id>: <what()>` and calls std::terminate().
template <class F, class... Args>
void go(F&& fn, Args&&... args) {
  if (detail::is_nil_func<std::decay_t<F>>(fn)) throw error("goro::go: go of nil func value");
  detail::spawn([fn = std::forward<F>(fn), ... args = std::forward<Args>(args)]() mutable {
    // The result is dropped, as Go drops it: said with a cast, so that a [[nodiscard]] result
    // type raises no warning in the user's build.
    static_cast<void>(std::invoke(std::move(fn), std::move(args)...));
  });
}

/// yield: lets the other runnable goroutines of this worker run first (runtime.Gosched). On a
/// plain thread: std::this_thread::yield().
inline void yield() {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current == nullptr) {
    detail::note_plain_thread(ts);
    std::this_thread::yield();
    return;
  }
  detail::goroutine& g = *ts.current;
  g.running_on->sched.yield(g);
}

/// num_workers: the worker threads of the active run (runtime.GOMAXPROCS(0)); outside a run, the
/// number a run would start with default options.
inline unsigned num_workers() {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current != nullptr) return ts.self->sched.worker_count();
  detail::note_plain_thread(ts);
  detail::scheduler_ref ref;
  return ref ? ref->worker_count() : detail::resolve_worker_count(0);
}

/// num_goroutines: live goroutines of the active run, main included (runtime.NumGoroutine); 0
/// outside a run.
inline std::size_t num_goroutines() {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current != nullptr) return ts.self->sched.live_goroutines();
  detail::note_plain_thread(ts);
  detail::scheduler_ref ref;
  return ref ? ref->live_goroutines() : 0;
}

/// in_goroutine: true when called on a goroutine, false on a plain thread.
inline bool in_goroutine() {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current == nullptr) detail::note_plain_thread(ts);
  return ts.current != nullptr;
}

/// goroutine_id: the calling goroutine's id (main is 1), 0 on a plain thread.
inline std::uint64_t goroutine_id() {
  detail::thread_state& ts = detail::this_thread();
  if (ts.current == nullptr) {
    detail::note_plain_thread(ts);
    return 0;
  }
  return ts.current->id.load(std::memory_order_relaxed);
}

/// blocking: runs fn() — a call that blocks its thread (file I/O, a C library) — on a helper
/// thread while the calling goroutine parks, so its worker keeps running other goroutines.
/// Returns fn's result or rethrows its exception. On a plain thread, calls fn() directly.
template <class F>
auto blocking(F&& fn) -> std::invoke_result_t<F&> {
  using result_type = std::invoke_result_t<F&>;
  detail::thread_state& ts = detail::this_thread();
  if (ts.current == nullptr) {
    detail::note_plain_thread(ts);
    return std::invoke(fn);
  }
  detail::outcome<result_type> result;
  detail::goroutine& g = *ts.current;
  g.running_on->sched.run_blocking(g, [&] { result.capture(fn); });
  return result.get();
}

}  // namespace goro
