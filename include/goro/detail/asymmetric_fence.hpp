// goro/detail/asymmetric_fence.hpp — a store-load barrier whose cost is moved to the rare side.
//
// A Dekker-style handshake (each side stores its flag, then loads the other's) needs a store-load
// barrier on both sides: on x86 a locked instruction or MFENCE, 20–40 cycles. When one side runs
// millions of times a second and the other rarely (a lock's unlock against a waiter going to
// sleep), Linux's membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) lets the frequent side get away
// with a compiler barrier: the rare side's membarrier makes every running thread of the process
// execute a full barrier before it returns (threads not running have passed one when they were
// switched out). So for a frequent side doing `store A; light_fence(); load B` and a rare side
// doing `store B; heavy_fence(); load A`:
//   - if the frequent side's store precedes its barrier point, the rare side's load sees it;
//   - if it follows, the frequent side's load comes after the rare side's store, and sees it.
// Either way one side sees the other, as with two full fences.
//
// Invariants:
//   - asymmetric_fences_ready is set only after the process registered for private expedited
//     membarrier (enable_asymmetric_fences), and never cleared; until then, and wherever the
//     kernel or a seccomp policy refuses membarrier, light_fence is a full fence.
//   - heavy_fence is a full fence and, wherever registration succeeds, also a membarrier, so it
//     pairs with a light_fence that read the flag either way.
//   - Under ThreadSanitizer registration is never attempted: TSan does not model membarrier,
//     and with full fences it checks the handshakes as written.
#pragma once

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "config.hpp"

namespace goro::detail {

GORO_PROCESS_WIDE inline std::atomic<bool> asymmetric_fences_ready{false};

inline long membarrier(int command) noexcept {
  return syscall(SYS_membarrier, command, 0, 0);
}

// enable_asymmetric_fences: registers the process for private expedited membarrier (once).
// Returns whether light fences can be compiler barriers. Called when a run starts.
GORO_PROCESS_WIDE inline bool enable_asymmetric_fences() noexcept {
#if defined(GORO_TSAN)
  return false;
#else
  static const bool enabled = [] {
    const long commands = membarrier(MEMBARRIER_CMD_QUERY);
    if (commands < 0 || (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return false;
    asymmetric_fences_ready.store(true, std::memory_order_seq_cst);
    return true;
  }();
  return enabled;
#endif
}

// light_fence: the frequent side's store-load barrier.
inline void light_fence() noexcept {
  if (asymmetric_fences_ready.load(std::memory_order_relaxed)) [[likely]] {
    compiler_barrier();
  } else {
    full_fence();
  }
}

// heavy_fence: the rare side's store-load barrier (a system call where membarrier works). It
// registers the process itself if no run did yet, so it never races a registration: either it
// issues the membarrier, or registration failed and no light fence will ever skip the full fence.
inline void heavy_fence() noexcept {
  full_fence();
  if (!enable_asymmetric_fences()) return;
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
    // Cannot fail once registered; if it ever did, light fences would no longer be safe.
    std::fputs("goro: membarrier failed after registration\n", stderr);
    std::abort();
  }
}

}  // namespace goro::detail
