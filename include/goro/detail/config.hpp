// goro/detail/config.hpp — compiler and sanitizer shims. The only macros goro defines live here
// and in sanitizer.hpp; everything else is plain C++20.
#pragma once

// goro is C++20 (concepts, std::span, designated initializers): say so before any of it fails
// to parse. CMake's goro::goro target asks for C++20 itself.
#if __cplusplus < 202002L
#error "goro needs C++20 or later: compile with -std=c++20 (or link CMake's goro::goro target)"
#endif

// goro reports misuse and failure by throwing (goro::error, goro::channel_closed, ...), and ends
// the goroutines left at the end of a run by unwinding their stacks: say so before the first
// throw fails to compile.
#if !defined(__cpp_exceptions)
#error "goro needs C++ exceptions: compile without -fno-exceptions"
#endif

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstddef>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORO_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define GORO_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(GORO_ASAN)
#define GORO_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GORO_TSAN)
#define GORO_TSAN 1
#endif

// GORO_VALGRIND: goroutine stacks are registered with Valgrind (sanitizer.hpp), so that Memcheck
// takes a switch between two of them for a switch of stacks rather than for one enormous frame.
// On by default wherever Valgrind's header is installed. Outside Valgrind it costs a test of a
// flag per stack the pool carves, and nothing per switch. Define GORO_VALGRIND=0 to leave it out.
#if !defined(GORO_VALGRIND) && defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#define GORO_VALGRIND 1
#endif
#endif
#if defined(GORO_VALGRIND) && !GORO_VALGRIND
#undef GORO_VALGRIND
#endif

// GORO_NOINLINE keeps an accessor of thread-local state out of line, so that a caller that may
// have migrated to another worker thread re-reads it (docs/architecture.md: thread-local state
// is a hazard).
#define GORO_NOINLINE __attribute__((noinline))

// GORO_PROCESS_WIDE marks each function and variable that holds goro's process-wide state (the
// active run, each thread's state, saved signal handlers, the timers made outside a run, the
// error categories, whose addresses identify them), and each exception type one shared object
// may throw and another catch. A program whose shared objects all use goro must share one copy
// of each, as it shares one runtime. With default visibility the dynamic linker sees to it; a
// shared object built with -fvisibility=hidden or -fvisibility-inlines-hidden would otherwise
// keep copies of its own: a goroutine it started would find no run active, its errors would
// compare unequal to goro::errc's, and with libc++ its exceptions would escape the catch clauses
// of the program (and goro's own, which unwind goroutines at the end of a run).
#define GORO_PROCESS_WIDE __attribute__((visibility("default")))

namespace goro::detail {

inline constexpr std::size_t cache_line_size = 64;

// cpu_relax: the spin-wait hint of the processor (PAUSE on x86, YIELD on Arm).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

// prefetch: asks for the cache line holding `address` ahead of its use (a hint: it never faults,
// on memory that is unmapped or gone it does nothing).
inline void prefetch(const void* address) noexcept {
  __builtin_prefetch(address, 0, 3);
}

// prefetch_for_write: the same, for a line about to be written.
inline void prefetch_for_write(const void* address) noexcept {
  __builtin_prefetch(address, 1, 3);
}

// compiler_barrier: forbids the compiler to cache memory (notably thread-local addresses) across
// this point. Emits no instruction.
inline void compiler_barrier() noexcept {
  asm volatile("" ::: "memory");
}

// full_fence: a sequentially consistent fence (the store-load barrier of the Dekker-style
// handshakes between submitters and idle workers). ThreadSanitizer does not model standalone
// fences, so under TSan it is a seq_cst read-modify-write of one shared atomic instead: all such
// RMWs are totally ordered and each reads the previous one, which gives the same guarantee in a
// form TSan understands.
GORO_PROCESS_WIDE inline void full_fence() noexcept {
#if defined(GORO_TSAN)
  static std::atomic<unsigned> fence_word{0};
  fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// run_deferred_signal_handlers: under ThreadSanitizer, an intercepted call (a look at the signal
// mask) that runs the signal handlers TSan put off. TSan runs a handler that interrupted a thread
// outside an intercepted call only at that thread's next intercepted call: a thread asleep in a
// raw futex would hold the signal for as long as it sleeps — forever, if the signal is what
// should wake it (goro::signals). Called as a futex wait ends. Does nothing in other builds.
inline void run_deferred_signal_handlers() noexcept {
#if defined(GORO_TSAN)
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
#endif
}

// True when the library is built with a sanitizer whose fiber support makes very large numbers of
// goroutines expensive; tests use it to scale their workloads down.
#if defined(GORO_ASAN) || defined(GORO_TSAN)
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

}  // namespace goro::detail
