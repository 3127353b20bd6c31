// goro/detail/sanitizer.hpp — AddressSanitizer and ThreadSanitizer annotations of fiber switches.
// In a build without sanitizers every function here is an empty inline function.
//
// ASan must be told the bounds of the stack it is switching to
// (__sanitizer_start_switch_fiber before, __sanitizer_finish_switch_fiber after the jump) or it
// reports false stack-buffer errors and cannot unwind fake stacks. TSan keeps one "fiber" (its
// shadow of a thread) per goroutine and must be told which one runs (__tsan_switch_to_fiber).
#pragma once

#include <pthread.h>

#include <cstddef>

#include "config.hpp"

#if defined(GORO_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#if defined(GORO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace goro::detail {

// fiber_sanitizer_state: what the sanitizers need to know about one goroutine's fiber.
// Empty in a build without sanitizers (a goroutine record holds it [[no_unique_address]]).
struct fiber_sanitizer_state {
#if defined(GORO_ASAN)
  void* asan_fake_stack = nullptr;  // ASan's fake stack of the fiber while it is switched out
#endif
#if defined(GORO_TSAN)
  void* tsan_fiber = nullptr;  // TSan's fiber object of the goroutine
#endif
};

// sanitizer_keep_reachable: LeakSanitizer scans [p, p + n) for pointers from now on, as it scans
// globals: the stack of a goroutine abandoned at shutdown, kept for good, keeps reachable what
// it points to (the exception that was unwinding it).
inline void sanitizer_keep_reachable([[maybe_unused]] const void* p,
                                     [[maybe_unused]] std::size_t n) noexcept {
#if defined(GORO_ASAN)
  __lsan_register_root_region(p, n);
#endif
}

// thread_sanitizer_state: the same for the scheduler context of a worker thread (its native stack).
struct thread_sanitizer_state {
  void* asan_fake_stack = nullptr;
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* tsan_fiber = nullptr;
};

// sanitizer_thread_init: records the calling worker thread's own stack, where its scheduler
// context runs, and its TSan fiber.
inline void sanitizer_thread_init(thread_sanitizer_state& s) noexcept {
#if defined(GORO_ASAN)
  pthread_attr_t attr;
  void* bottom = nullptr;
  std::size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &bottom, &size);
    pthread_attr_destroy(&attr);
  }
  s.stack_bottom = bottom;
  s.stack_size = size;
#endif
#if defined(GORO_TSAN)
  s.tsan_fiber = __tsan_get_current_fiber();
#endif
  (void)s;
}

inline void sanitizer_fiber_create(fiber_sanitizer_state& s) noexcept {
#if defined(GORO_TSAN)
  s.tsan_fiber = __tsan_create_fiber(0);
#else
  (void)s;
#endif
}

inline void sanitizer_fiber_destroy(fiber_sanitizer_state& s) noexcept {
#if defined(GORO_TSAN)
  if (s.tsan_fiber != nullptr) __tsan_destroy_fiber(s.tsan_fiber);
  s.tsan_fiber = nullptr;
#else
  (void)s;
#endif
}

// Scheduler → goroutine. Called on the scheduler context just before jumping into the fiber whose
// usable stack is [bottom, bottom + size).
inline void sanitizer_enter_fiber(thread_sanitizer_state& t, fiber_sanitizer_state& f,
                                  const void* bottom, std::size_t size) noexcept {
#if defined(GORO_ASAN)
  __sanitizer_start_switch_fiber(&t.asan_fake_stack, bottom, size);
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(f.tsan_fiber, 0);
#endif
  (void)t, (void)f, (void)bottom, (void)size;
}

// Back on the scheduler context after the goroutine switched out.
inline void sanitizer_back_on_scheduler(thread_sanitizer_state& t) noexcept {
#if defined(GORO_ASAN)
  __sanitizer_finish_switch_fiber(t.asan_fake_stack, nullptr, nullptr);
#endif
  (void)t;
}

// Goroutine → scheduler. `exiting` tells ASan the fiber will never run again so that its fake
// stack is released.
inline void sanitizer_leave_fiber(fiber_sanitizer_state& f, thread_sanitizer_state& t,
                                  bool exiting) noexcept {
#if defined(GORO_ASAN)
  __sanitizer_start_switch_fiber(exiting ? nullptr : &f.asan_fake_stack, t.stack_bottom,
                                 t.stack_size);
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(t.tsan_fiber, 0);
#endif
  (void)f, (void)t, (void)exiting;
}

// Goroutine → goroutine, without passing through the scheduler context (a direct switch).
inline void sanitizer_switch_fibers(fiber_sanitizer_state& from, fiber_sanitizer_state& to,
                                    const void* to_bottom, std::size_t to_size,
                                    bool exiting) noexcept {
#if defined(GORO_ASAN)
  __sanitizer_start_switch_fiber(exiting ? nullptr : &from.asan_fake_stack, to_bottom, to_size);
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  (void)from, (void)to, (void)to_bottom, (void)to_size, (void)exiting;
}

// First thing on the goroutine after a switch into it (at entry and after every resume), from
// the scheduler context or from another goroutine.
inline void sanitizer_resumed_fiber(fiber_sanitizer_state& f) noexcept {
#if defined(GORO_ASAN)
  __sanitizer_finish_switch_fiber(f.asan_fake_stack, nullptr, nullptr);
#endif
  (void)f;
}

// A recycled stack may still carry the poison of the frames of its previous goroutine.
inline void sanitizer_unpoison_stack(void* bottom, std::size_t size) noexcept {
#if defined(GORO_ASAN)
  __asan_unpoison_memory_region(bottom, size);
#endif
  (void)bottom, (void)size;
}

}  // namespace goro::detail
