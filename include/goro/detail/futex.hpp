// goro/detail/futex.hpp — the Linux futex: how goro puts an OS thread to sleep and wakes it.
// Used by idle workers, by plain threads blocked on goro objects, and by futex_mutex.
#pragma once

#include "config.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace goro::detail {

// to_timespec: a relative timeout for futex_wait (or ppoll) of `span`, which must not be negative.
inline timespec to_timespec(std::chrono::nanoseconds span) noexcept {
  return {static_cast<std::time_t>(span.count() / 1'000'000'000),
          static_cast<long>(span.count() % 1'000'000'000)};
}

// futex_wait: sleeps while `word` holds `expected`. Returns on a wake, a signal, a timeout, or at
// once if the value differs; callers re-check their condition in a loop.
//
// Under ThreadSanitizer a wait lasts 20 ms at most and ends with run_deferred_signal_handlers()
// (config.hpp): a thread asleep in a raw futex call would otherwise hold a signal for as long
// as it sleeps, and goro::signals' relay (signals.hpp) would never hear of it.
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       const timespec* relative_timeout = nullptr) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
#if defined(GORO_TSAN)
  constexpr timespec longest{0, 20'000'000};
  const bool shorter = relative_timeout != nullptr && (relative_timeout->tv_sec == 0 &&
                                                       relative_timeout->tv_nsec < longest.tv_nsec);
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
          shorter ? relative_timeout : &longest, nullptr, 0);
  run_deferred_signal_handlers();
#else
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
          relative_timeout, nullptr, 0);
#endif
}

// futex_wake: wakes up to `count` threads sleeping in futex_wait on `word`.
inline void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr,
          nullptr, 0);
}

}  // namespace goro::detail
