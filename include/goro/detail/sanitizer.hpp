// goro/detail/sanitizer.hpp — AddressSanitizer, ThreadSanitizer and Valgrind annotations of
// fibers. In a build without them every function here is an empty inline function.
//
// ASan must be told the bounds of the stack it is switching to
// (__sanitizer_start_switch_fiber before, __sanitizer_finish_switch_fiber after the jump) or it
// reports false stack-buffer errors and cannot unwind fake stacks. TSan keeps one "fiber" (its
// shadow of a thread) per goroutine and must be told which one runs (__tsan_switch_to_fiber).
// Valgrind must know where each stack lies (valgrind_stack_registry): it sees a switch only as a
// move of the stack pointer, and without the stacks' bounds Memcheck takes a move from one
// goroutine's stack to another's for a frame pushed or popped, marks the memory in between as
// unusable, and reports every later read of the other stack.
#pragma once

#include <pthread.h>

#include <cstddef>

#include "config.hpp"

#if defined(GORO_VALGRIND)
#include <valgrind/valgrind.h>

#include <unordered_map>
#endif

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

// valgrind_stack_registry: the goroutine stacks registered with Valgrind, by their lowest byte.
// A stack is registered for as long as its memory is mapped as a stack: from the moment the pool
// carves or maps it to the moment it is unmapped, however many goroutines run on it in between.
// running_on_valgrind: whether the process runs under Valgrind, which does not know every
// recent system call: where it does not, it answers ENOSYS, but prints a warning first.
inline bool running_on_valgrind() noexcept {
#if defined(GORO_VALGRIND)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

// valgrind_stack_registry: the goroutine stacks registered with Valgrind, by their lowest byte.
// A stack is registered for as long as its memory is mapped as a stack: from the moment the pool
// carves or maps it to the moment it is unmapped, however many goroutines run on it in between.
// The owner serializes calls (the stack pool calls it under its lock). Outside Valgrind every
// member returns at once, so that no carve pays for a map entry; where GORO_VALGRIND is not
// defined the class is empty and every member a no-op.
class valgrind_stack_registry {
 public:
  // add: [bottom, bottom + size) is a stack from now on.
  void add([[maybe_unused]] const char* bottom, [[maybe_unused]] std::size_t size) {
#if defined(GORO_VALGRIND)
    if (active_) ids_[bottom] = VALGRIND_STACK_REGISTER(bottom, bottom + size - 1);
#endif
  }

  // remove: the stack whose lowest byte is `bottom` is about to be unmapped.
  void remove([[maybe_unused]] const char* bottom) noexcept {
#if defined(GORO_VALGRIND)
    if (!active_) return;
    const auto found = ids_.find(bottom);
    if (found == ids_.end()) return;
    VALGRIND_STACK_DEREGISTER(found->second);
    ids_.erase(found);
#endif
  }

 private:
#if defined(GORO_VALGRIND)
  bool active_ = running_on_valgrind();
  std::unordered_map<const char*, unsigned> ids_;
#endif
};

// A recycled stack may still carry the poison of the frames of its previous goroutine.
inline void sanitizer_unpoison_stack(void* bottom, std::size_t size) noexcept {
#if defined(GORO_ASAN)
  __asan_unpoison_memory_region(bottom, size);
#endif
  (void)bottom, (void)size;
}

}  // namespace goro::detail
