// goro/detail/exception_state.hpp — the C++ runtime's per-thread exception state, carried by
// goroutines across worker threads.
//
// The Itanium C++ ABI keeps, per thread, the stack of exceptions being handled (what `throw;`
// rethrows, what std::current_exception returns) and the count of exceptions in flight
// (std::uncaught_exceptions). A goroutine that parks inside a catch block may resume on another
// worker thread; without help it would find that thread's state, not its own. The scheduler
// saves the state when a goroutine switches out and installs it when it switches in; the
// scheduler context itself always runs with an empty state.
#pragma once

#include <cxxabi.h>

namespace goro::detail {

// The two leading members of __cxa_eh_globals in libstdc++ and libc++abi alike.
struct exception_state {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;

  bool empty() const noexcept { return caught_exceptions == nullptr && uncaught_exceptions == 0; }
};

struct eh_globals_layout {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

// Moves the calling thread's state into `saved` and leaves the thread's empty. Call only from the
// scheduler context (never from a goroutine's own stack: __cxa_get_globals is declared `const`,
// so its result may be cached across a switch).
inline void stash_exception_state(exception_state& saved) noexcept {
  auto* globals = reinterpret_cast<eh_globals_layout*>(abi::__cxa_get_globals());
  saved.caught_exceptions = globals->caught_exceptions;
  saved.uncaught_exceptions = globals->uncaught_exceptions;
  globals->caught_exceptions = nullptr;
  globals->uncaught_exceptions = 0;
}

// Installs `saved` as the calling thread's state (which must be empty). Scheduler context only.
inline void install_exception_state(const exception_state& saved) noexcept {
  auto* globals = reinterpret_cast<eh_globals_layout*>(abi::__cxa_get_globals());
  globals->caught_exceptions = saved.caught_exceptions;
  globals->uncaught_exceptions = saved.uncaught_exceptions;
}

}  // namespace goro::detail
