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

#if defined(_LIBCPPABI_VERSION)
// libc++abi exports __cxa_get_globals, as the ABI names it, but declares it only in a header of
// its own sources, not in the <cxxabi.h> it installs (libstdc++'s declares it there).
namespace __cxxabiv1 {
struct __cxa_eh_globals;
extern "C" __cxa_eh_globals* __cxa_get_globals() noexcept;
}  // namespace __cxxabiv1
#endif

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

// thread_exception_state: the calling thread's state. A worker fetches it once, on its own thread,
// and keeps the pointer for the run: the scheduler context never migrates. (Never call it from a
// goroutine's stack: __cxa_get_globals is declared `const`, so its result may be cached across a
// switch that moved the goroutine to another thread.)
inline eh_globals_layout* thread_exception_state() noexcept {
  return reinterpret_cast<eh_globals_layout*>(abi::__cxa_get_globals());
}

// stash_exception_state: moves the thread's state into `saved`, leaving the thread's empty.
inline void stash_exception_state(eh_globals_layout& thread, exception_state& saved) noexcept {
  saved.caught_exceptions = thread.caught_exceptions;
  // Atomic (the compilers' builtin: libc++ 14 has no std::atomic_ref): a shutdown's interrupter
  // may read it (claim_for_interrupt) as the goroutine leaves.
  __atomic_store_n(&saved.uncaught_exceptions, thread.uncaught_exceptions, __ATOMIC_RELAXED);
  thread.caught_exceptions = nullptr;
  thread.uncaught_exceptions = 0;
}

// install_exception_state: makes `saved` the thread's state (which must be empty).
inline void install_exception_state(eh_globals_layout& thread,
                                    const exception_state& saved) noexcept {
  thread.caught_exceptions = saved.caught_exceptions;
  thread.uncaught_exceptions = saved.uncaught_exceptions;
}

}  // namespace goro::detail
