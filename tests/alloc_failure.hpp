// tests/alloc_failure.hpp — fault injection for goro_test: a replacement of the global operator
// new and delete (every form: plain, array, nothrow, aligned, sized) over malloc and free, with
// a countdown that makes the nth allocation from the moment it is armed fail, counted across
// all threads: the throwing forms throw std::bad_alloc, the nothrow forms return nullptr.
//
// Include it from one translation unit only (the replacement functions are defined here, not
// declared), and only in a build without a sanitizer: AddressSanitizer and ThreadSanitizer
// replace operator new themselves. There, alloc_failure::available is false and the countdown
// does nothing; tests skip themselves.
//
// Invariants:
//   - countdown_ < 0: disarmed; every allocation succeeds after one relaxed load.
//   - countdown_ >= 0: the allocation that takes it from 0 to -1 fails; it is then disarmed, so
//     one arming injects at most one failure.
//   - live_ counts the blocks allocated and not yet freed through these functions.
#pragma once

#include <goro/detail/config.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace alloc_failure {

#if defined(GORO_ASAN) || defined(GORO_TSAN)
inline constexpr bool available = false;
#else
inline constexpr bool available = true;
#endif

inline std::atomic<long> countdown_{-1};
inline std::atomic<long> injected_{0};
inline std::atomic<long> live_{0};

// arm: the nth allocation from now (0: the next one), on any thread, fails.
inline void arm(long n) noexcept {
  injected_.store(0, std::memory_order_relaxed);
  countdown_.store(n, std::memory_order_seq_cst);
}

// disarm: no allocation fails any more; returns whether one failed since arm.
inline bool disarm() noexcept {
  countdown_.store(-1, std::memory_order_seq_cst);
  return injected_.load(std::memory_order_seq_cst) != 0;
}

// live_blocks: blocks allocated and not yet freed.
inline long live_blocks() noexcept {
  return live_.load(std::memory_order_seq_cst);
}

// should_fail: called by every allocation; true for the one the countdown picks.
inline bool should_fail() noexcept {
  if (countdown_.load(std::memory_order_relaxed) < 0) return false;
  if (countdown_.fetch_sub(1, std::memory_order_seq_cst) != 0) return false;
  injected_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

inline void* allocate(std::size_t size, std::size_t alignment) noexcept {
  if (should_fail()) return nullptr;
  if (size == 0) size = 1;
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    p = std::malloc(size);
  } else {
    p = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  }
  if (p != nullptr) live_.fetch_add(1, std::memory_order_relaxed);
  return p;
}

inline void* allocate_or_throw(std::size_t size, std::size_t alignment) {
  void* p = allocate(size, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

inline void deallocate(void* p) noexcept {
  if (p == nullptr) return;
  live_.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

}  // namespace alloc_failure

#if !defined(GORO_ASAN) && !defined(GORO_TSAN)

void* operator new(std::size_t size) {
  return alloc_failure::allocate_or_throw(size, 0);
}
void* operator new[](std::size_t size) {
  return alloc_failure::allocate_or_throw(size, 0);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return alloc_failure::allocate(size, 0);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return alloc_failure::allocate(size, 0);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return alloc_failure::allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return alloc_failure::allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return alloc_failure::allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return alloc_failure::allocate(size, static_cast<std::size_t>(alignment));
}

void operator delete(void* p) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete[](void* p) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete(void* p, std::size_t) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  alloc_failure::deallocate(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  alloc_failure::deallocate(p);
}

#endif
