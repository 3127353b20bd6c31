// goro/detail/thread_state.hpp — what goro knows about the calling OS thread.
//
// Read it only through this_thread(), an out-of-line accessor with a compiler barrier: a
// goroutine may resume on another worker after any switch, and a thread-local address cached
// across the switch would name the old thread's state (docs/architecture.md: thread-local state
// is a hazard).
#pragma once

#include <cstdint>

#include "config.hpp"
#include "waiter.hpp"

namespace goro::detail {

struct goroutine;
struct worker;

enum class thread_role : std::uint8_t {
  plain,     // a thread of the application
  worker,    // one of the scheduler's worker threads (the thread that called run() is worker 0)
  helper,    // a thread of the blocking() pool
  internal,  // another thread of goro's own, which uses channels: the signal relay (signals.hpp)
};

struct thread_state {
  goroutine* current = nullptr;  // the goroutine running on this thread, if any
  worker* self = nullptr;        // this thread's worker, on worker threads
  thread_role role = thread_role::plain;
  std::uint64_t registered_run = 0;  // plain threads: the run that counts this thread (API 1.3)
  std::uint64_t random_state = 0;    // plain threads: select's shuffle
  parker thread_parker;              // blocks this thread when it is not running a goroutine
};

// this_thread: the calling thread's state. Trivially destructible, so the access needs no guard.
GORO_PROCESS_WIDE GORO_NOINLINE inline thread_state& this_thread() noexcept {
  thread_local thread_state state;
  compiler_barrier();
  return state;
}

}  // namespace goro::detail
