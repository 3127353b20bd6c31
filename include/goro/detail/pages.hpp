// goro/detail/pages.hpp — committing memory pages ahead of their first use.
//
// The first write to a fresh anonymous page traps into the kernel, which allocates and zeroes
// the page. On a virtual machine that trap can cost far more than a system call: measured on the
// benchmark machine (a 2-core virtual machine), a first write costs 12-15 µs, one
// madvise(MADV_POPULATE_WRITE) of one page 2.4 µs, and one process_madvise() that populates many
// pages 0.7 µs per page. goro commits the pages it knows will be written (the top page of each
// new goroutine stack, each new chunk of goroutine records) through populate_pages(), which uses
// the cheapest of the three the kernel offers:
//   batched:  process_madvise(PIDFD_SELF, pages, MADV_POPULATE_WRITE), Linux 6.15 (the self
//             pidfd) with 6.13 (any advice on the caller itself);
//   single:   madvise(MADV_POPULATE_WRITE), one call per range, Linux 5.14;
//   touch:    a write to each page.
// Invariants:
//   - populate_method only moves down that list, once a kernel has said it lacks a method; every
//     page a failed call left uncommitted is committed by the next method, so populate_pages()
//     always returns with every page committed (the last method cannot fail).
//   - It is meant for memory whose contents are not in use yet (a fresh mapping, storage about to
//     be constructed): MADV_POPULATE_WRITE keeps contents, but the touch writes a zero byte at the
//     start of each page. (A read followed by a write would fault twice: the read maps the shared
//     zero page, the write then copies it.)
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>

namespace goro::detail {

inline std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// Kernel constants newer than some system headers.
inline constexpr int madvise_populate_write = 23;  // MADV_POPULATE_WRITE, Linux 5.14
inline constexpr int pidfd_self_process = -10001;  // PIDFD_SELF_THREAD_GROUP, Linux 6.15

enum class populate_method : int { batched, single, touch };

// page_range: `bytes` (a multiple of the page size) of memory starting at a page boundary.
struct page_range {
  char* begin = nullptr;
  std::size_t bytes = 0;
};

namespace pages_internal {

inline std::atomic<populate_method>& method() noexcept {
  static std::atomic<populate_method> current{populate_method::batched};
  return current;
}

// unsupported: whether a failed call means the kernel lacks the method (so it is never tried
// again in this process), as opposed to a failure of this one call.
inline bool unsupported(int err) noexcept {
  return err == EINVAL || err == ENOSYS || err == EPERM || err == EBADF || err == ESRCH;
}

inline void give_up(populate_method failed, int err) noexcept {
  if (!unsupported(err)) return;
  populate_method expected = failed;
  method().compare_exchange_strong(expected,
                                   static_cast<populate_method>(static_cast<int>(failed) + 1),
                                   std::memory_order_relaxed);
}

inline void touch(page_range range) noexcept {
  const std::size_t page = page_size();
  for (std::size_t offset = 0; offset < range.bytes; offset += page) {
    *reinterpret_cast<volatile char*>(range.begin + offset) = 0;
  }
}

// populate_single: commits each range with its own madvise; returns how many ranges it did.
inline std::size_t populate_single(std::span<const page_range> ranges) noexcept {
  std::size_t done = 0;
  for (; done < ranges.size(); ++done) {
    if (madvise(ranges[done].begin, ranges[done].bytes, madvise_populate_write) != 0) {
      give_up(populate_method::single, errno);
      break;
    }
  }
  return done;
}

// populate_batched: commits the ranges with as few process_madvise calls as the kernel's limit
// on their length allows; returns how many leading ranges are wholly committed.
inline std::size_t populate_batched(std::span<const page_range> ranges) noexcept {
  constexpr std::size_t vector_length = 64;  // under every kernel's UIO_MAXIOV (1024)
  iovec vectors[vector_length];
  std::size_t done = 0;
  while (done < ranges.size()) {
    const std::size_t count = std::min(vector_length, ranges.size() - done);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < count; ++i) {
      vectors[i] = {ranges[done + i].begin, ranges[done + i].bytes};
      bytes += ranges[done + i].bytes;
    }
    const long advised = syscall(SYS_process_madvise, pidfd_self_process, vectors, count,
                                 madvise_populate_write, 0U);
    if (advised < 0) {
      give_up(populate_method::batched, errno);
      return done;
    }
    if (static_cast<std::size_t>(advised) != bytes) {  // stopped part way: count whole ranges
      for (std::size_t left = static_cast<std::size_t>(advised); left >= ranges[done].bytes;
           left -= ranges[done].bytes) {
        ++done;
      }
      return done;
    }
    done += count;
  }
  return done;
}

}  // namespace pages_internal

// populate_pages: commits every page of `ranges` (none empty) now, starting with method `first`
// and falling back to the next one for what a method left undone.
inline void populate_pages(std::span<const page_range> ranges, populate_method first) noexcept {
  using namespace pages_internal;
  std::size_t done = 0;
  if (first == populate_method::batched) done = populate_batched(ranges);
  if (done < ranges.size() && first != populate_method::touch) {
    done += populate_single(ranges.subspan(done));
  }
  for (const page_range& range : ranges.subspan(done)) touch(range);
}

// populate_method_in_use: the best method this process has not seen fail as unsupported.
inline populate_method populate_method_in_use() noexcept {
  return pages_internal::method().load(std::memory_order_relaxed);
}

inline void populate_pages(std::span<const page_range> ranges) noexcept {
  populate_pages(ranges, populate_method_in_use());
}

inline void populate_pages(page_range range) noexcept {
  populate_pages(std::span(&range, 1));
}

}  // namespace goro::detail
