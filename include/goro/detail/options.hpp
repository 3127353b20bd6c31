// goro/detail/options.hpp — goro::options and goro::stack_guard, declared apart from runtime.hpp so
// that the internals can use them; users include <goro/runtime.hpp>.
#pragma once

#include <cstddef>

namespace goro {

// stack_guard: whether goroutine stacks get a no-access guard page (API 1.4).
//   automatic — guard every stack with a guard marker where the kernel has them (they hold no
//               mapping); else guard new stacks while goro's guarded stacks hold fewer than half
//               of vm.max_map_count, then take unguarded stacks with a canary;
//   always    — guard every stack with a mapping of its own (go throws goro::error when the
//               kernel refuses one);
//   never     — guard none (canary only).
enum class stack_guard { automatic, always, never };

// options: how goro::run sets up the scheduler. Members are in this order on purpose: designated
// initializers (`goro::options{.workers = 2}`) rely on it.
struct options {
  unsigned workers = 0;                 // OS worker threads (GOMAXPROCS); 0: GORO_MAXPROCS or
                                        // std::thread::hardware_concurrency()
  std::size_t stack_size = 256 * 1024;  // address space of each goroutine stack, committed lazily
  stack_guard guard = stack_guard::automatic;
  bool detect_deadlock = true;  // API 1.3
};

}  // namespace goro
