// goro/detail/stack.hpp — goroutine stacks: reserved with mmap, committed lazily by the kernel,
// guarded or canaried, pooled and given back.
//
// Geometry (S = options.stack_size, a multiple of the page size P). A stack is one of four kinds:
//   mapped:    one mapping of S bytes per stack; its lowest page is PROT_NONE (the guard; the
//              mprotect splits the mapping in two, which is why mapped stacks count twice against
//              vm.max_map_count). Usable: [base + P, base + S).
//   fenced:    slabs of slab_stacks stacks, one mapping each: [S][S]...[S]. Stack k starts at
//              b_k = slab + k*S and uses [b_k + P, b_k + S). Its lowest page is made PROT_NONE
//              by mprotect when the slab is mapped, which splits the slab into two mappings per
//              stack: fenced stacks count twice against vm.max_map_count, like mapped ones, but
//              cost one mprotect each instead of an mmap, an mprotect and a munmap.
//   marked:    slabs laid out as fenced ones, but the lowest page of each stack carries a guard
//              marker (MADV_GUARD_INSTALL, Linux 6.13): a page-table entry that faults on any
//              access, costing no mapping and no memory.
//   canaried:  slabs of slab_stacks stacks, one mapping each: [P lead page][S][S]...[S]. With
//              b_k = slab + P + k*S, stack k uses [b_k, b_{k+1} - 64) and its 64-byte canary is
//              [b_k - 64, b_k): the last bytes of the page that holds the top of stack k-1 (or of
//              the lead page). A running goroutine always touches its own top page, so canaries
//              cost no extra committed page per goroutine.
// Mapped, fenced and marked stacks are guarded: their overflow faults at the access. The options
// choose: `never` takes canaried stacks, `always` mapped ones (the kernel's mapping budget then
// bounds live goroutines, as API 1.4 says), and `automatic` marked ones where the kernel has guard
// markers; where it has not, fenced ones while they hold under half of vm.max_map_count, then
// canaried ones. The kind is chosen per slab, when one is mapped; a slab's stacks are all of its
// kind.
//
// Why marked before fenced: a marker costs no mapping, and installing one takes the process's
// mapping lock for reading, where a fence's mprotect splits the slab's mapping twice under that
// lock held for writing. With two workers mapping slabs, the fences' mprotect took a third of the
// 100k-sleepers benchmark's samples, most of them waiting for the other worker's mprotect; with
// markers the benchmark ran in 0.64 of the time and skynet in 0.83. (On a host that shadowed the
// guest's page tables, page-table entries written outside a page fault, markers among them, once
// made the host drop its translations of pages in use, each next touch trapping for 7-10 µs:
// fences came first then. That host no longer does it; docs/benchmarks.md has both measurements.)
// No stack page is committed before its goroutine touches it (API 1.4); committing them ahead
// (MADV_POPULATE_WRITE, MAP_POPULATE) did the same harm as markers on that host.
//
// Invariants:
//   - A slab is in slabs_ from the moment the pool adopts it; uncarved_ holds the adopted slabs
//     no stack has been carved from (mapped by a worker that raced another one to a new slab),
//     and carving_ is not among them.
//   - A stack is in exactly one place: running a goroutine, a worker's stack_cache, or one of the
//     pool's free lists (dirty_: touched pages possibly committed, most recently freed at the
//     back; clean_: everything below the top page given back with MADV_DONTNEED).
//   - The top page of a free stack is never given back while the stack's slab is mapped, because
//     it may hold the canary of the stack above; a whole slab is unmapped only when every stack of
//     it is on the pool's free lists (slab::outside == 0).
//   - Every carved stack of a fenced or marked slab has its guard: guards are installed when the
//     slab is mapped, before any of its stacks is carved, and MADV_DONTNEED leaves them in place.
//   - mapped_count_ counts the stacks that cost two mappings and exist (in use or free): mapped
//     stacks, and every stack of each fenced slab, counted from before the slab is mapped.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "../error.hpp"
#include "options.hpp"
#include "sanitizer.hpp"
#include "spinlock.hpp"

namespace goro::detail {

inline std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

inline constexpr std::size_t stack_canary_size = 64;
inline constexpr std::size_t minimum_stack_size = 16 * 1024;

// guard_markers_supported: whether the kernel installs guard markers (MADV_GUARD_INSTALL, Linux
// 6.13). Probed once per process on a scratch mapping.
inline constexpr int madvise_guard_install = 102;  // MADV_GUARD_INSTALL; older headers lack it

inline bool guard_markers_supported() noexcept {
  static const bool supported = [] {
    const std::size_t page = page_size();
    void* probe = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED) return false;
    const bool ok = madvise(probe, page, madvise_guard_install) == 0;
    munmap(probe, 2 * page);
    return ok;
  }();
  return supported;
}

enum class stack_kind : std::uint8_t { mapped, fenced, marked, canaried };

// stack_slab: one mapping that fenced, marked or canaried stacks are carved from.
struct stack_slab {
  char* base = nullptr;
  std::size_t bytes = 0;
  std::size_t stacks = 0;   // stacks carved so far
  std::size_t outside = 0;  // carved stacks not on the pool's free lists
  stack_kind kind = stack_kind::canaried;
};

// stack_span: one goroutine stack. The stack grows down from top(). Spans are copied on every
// spawn and exit: keep them three words (a fourth made spawn 40% slower).
struct stack_span {
  char* bottom = nullptr;  // lowest usable byte
  std::size_t size = 0;    // usable bytes
  stack_slab* slab = nullptr;  // the slab of a slab's stack; nullptr for a mapped one

  char* top() const noexcept { return bottom + size; }
  stack_kind kind() const noexcept { return slab == nullptr ? stack_kind::mapped : slab->kind; }
  // guarded: an overflow faults on the page below `bottom`.
  bool guarded() const noexcept { return kind() != stack_kind::canaried; }
  explicit operator bool() const noexcept { return bottom != nullptr; }
};

// The canary words: the pattern is arbitrary but unlikely to be written by accident.
inline void write_stack_canary(const stack_span& s) noexcept {
  auto* words = reinterpret_cast<std::uint64_t*>(s.bottom - stack_canary_size);
  for (std::size_t i = 0; i < stack_canary_size / sizeof(std::uint64_t); ++i) {
    words[i] = 0x676f726f53544b00ULL ^ (i * 0x9e3779b97f4a7c15ULL);
  }
}

inline bool stack_canary_intact(const stack_span& s) noexcept {
  const auto* words = reinterpret_cast<const std::uint64_t*>(s.bottom - stack_canary_size);
  for (std::size_t i = 0; i < stack_canary_size / sizeof(std::uint64_t); ++i) {
    if (words[i] != (0x676f726f53544b00ULL ^ (i * 0x9e3779b97f4a7c15ULL))) return false;
  }
  return true;
}

class stack_pool {
 public:
  stack_pool() = default;
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;
  ~stack_pool() { release_all(); }

  // configure: sets the geometry for a run. Call with no stack in use. `mappings_in_use` is how
  // many mappings the process has already (its libraries, heap, thread stacks); `markers` says
  // whether guard markers may be used (guard_markers_supported(), or false to test without).
  void configure(std::size_t stack_size, stack_guard mode, std::size_t max_map_count,
                 std::size_t mappings_in_use, bool markers) {
    const std::size_t page = page_size();
    if (stack_size < minimum_stack_size) {
      throw error("goro::run: options.stack_size is " + std::to_string(stack_size) +
                  " bytes; the minimum is " + std::to_string(minimum_stack_size));
    }
    std::lock_guard guard(lock_);
    stack_size_ = (stack_size + page - 1) / page * page;
    mode_ = mode;
    max_map_count_ = max_map_count;
    use_markers_ = mode == stack_guard::automatic && markers;
    if (mode == stack_guard::always) {
      // Refuse while some headroom is left: a process at the kernel's limit cannot even grow its
      // malloc arenas, and the API promises that go() fails cleanly and works again later.
      const std::size_t reserved = mappings_in_use + always_headroom;
      mapped_limit_ = max_map_count > reserved ? (max_map_count - reserved) / 2 : 0;
    } else {
      // Fenced stacks, two mappings each: at most half of the budget; a sanitizer's runtime
      // needs many mappings of its own per goroutine, so leave it more.
      mapped_limit_ = max_map_count / (sanitized_build ? 16 : 4);
    }
  }

  std::size_t stack_size() const noexcept { return stack_size_; }

  // slab_count: the slabs mapped now, uncarved ones included (for tests).
  std::size_t slab_count() {
    std::lock_guard guard(lock_);
    return slabs_.size();
  }

  // acquire_batch: appends up to `count` stacks (at least one) to `out`: free ones if there are
  // any, else new ones carved from a slab (or one new mapped stack). A new slab is mapped, and
  // its guards installed (100-160 µs for 64 stacks), outside the lock: the other workers go on
  // taking and giving back stacks meanwhile. Two workers that run out at once may both map one;
  // the pool keeps the second for later.
  void acquire_batch(std::vector<stack_span>& out, std::size_t count) {
    const std::size_t before = out.size();
    std::unique_ptr<stack_slab, slab_unmapper> fresh;  // mapped outside the lock, not yet adopted
    stack_kind kind = stack_kind::canaried;
    for (;;) {
      std::size_t stack_size = 0;
      {
        std::lock_guard guard(lock_);
        if (fresh) {
          adopt(fresh.get());
          fresh.release();
        } else if (kind == stack_kind::fenced) {
          // The kernel refused the fences (its mapping budget was smaller than configured):
          // no more fenced slabs in this run.
          mapped_count_ -= slab_stacks;
          mapped_limit_ = mapped_count_;
        } else if (kind == stack_kind::marked) {
          // The kernel refused the markers (it marks no locked memory: the process called
          // mlockall(MCL_FUTURE) after the probe): no more marked slabs in this run.
          use_markers_ = false;
        }
        for (; count > 0 && !dirty_.empty(); --count) out.push_back(take(dirty_));
        for (; count > 0 && !clean_.empty(); --count) out.push_back(take(clean_));
        if (out.size() > before) return;
        if (mode_ == stack_guard::always) {
          out.push_back(prepare(map_guarded()));
          return;
        }
        if (find_carving_slab()) {
          carve(out, count);
          return;
        }
        kind = next_slab_kind();
        if (kind == stack_kind::fenced) mapped_count_ += slab_stacks;  // before it is mapped
        stack_size = stack_size_;
      }
      fresh.reset(map_slab(kind, stack_size));
    }
  }

  // release_batch: gives stacks back; they stay committed (dirty) until trim().
  void release_batch(const stack_span* spans, std::size_t count) {
    std::lock_guard guard(lock_);
    for (std::size_t i = 0; i < count; ++i) {
      if (spans[i].slab != nullptr) --spans[i].slab->outside;
      dirty_.push_back(spans[i]);
    }
  }

  // trim: gives memory back to the kernel, at most once per trim_period: the free stacks that
  // stayed unused for a whole period (the low-water mark of the dirty list, above `keep`), the
  // slabs whose stacks are all free, and mapped stacks beyond `keep`. Called by workers about
  // to go idle, so that a burst of goroutines does not pin its peak footprint, while a steady
  // reuse of stacks never pays for madvise.
  void trim(std::chrono::steady_clock::time_point now, std::size_t keep) {
    std::lock_guard guard(lock_);
    if (now < next_trim_) return;
    next_trim_ = now + trim_period;
    next_trim_hint_.store(next_trim_.time_since_epoch().count(), std::memory_order_relaxed);
    const std::size_t surplus = std::min(low_water_, dirty_.size());
    const std::size_t give_back = surplus > keep ? surplus - keep : 0;
    // dirty_ is used from the back: its front holds the stacks unused the longest.
    for (std::size_t i = 0; i < give_back; ++i) {
      give_back_below_top_page(dirty_[i]);
      clean_.push_back(dirty_[i]);
    }
    dirty_.erase(dirty_.begin(), dirty_.begin() + static_cast<std::ptrdiff_t>(give_back));
    low_water_ = dirty_.size();
    unmap_empty_slabs();
    unmap_surplus_mapped(keep);
  }

  // trim_due: a cheap, racy hint that trim() would do something now.
  bool trim_due(std::chrono::steady_clock::time_point now) const noexcept {
    return now.time_since_epoch().count() >= next_trim_hint_.load(std::memory_order_relaxed);
  }

  // release_all: unmaps every free stack and every slab. Stacks still in use (goroutines
  // abandoned at shutdown) keep their slabs mapped.
  void release_all() noexcept {
    std::lock_guard guard(lock_);
    for (auto* list : {&dirty_, &clean_}) {
      for (const stack_span& s : *list) {
        if (s.kind() == stack_kind::mapped) unmap_guarded(s);
      }
      list->clear();
    }
    std::erase_if(slabs_, [&](stack_slab* slab) {
      if (slab->outside != 0) return false;
      unmap_adopted(slab);
      return true;
    });
    carving_ = nullptr;
    uncarved_.clear();  // none of their stacks was out: unmapped above
    low_water_ = 0;
  }

 private:
  static constexpr std::size_t slab_stacks = 64;
  static constexpr std::chrono::seconds trim_period{1};
  static constexpr std::size_t always_headroom = 2048;  // mappings left to the rest of the process

  stack_span take(std::vector<stack_span>& list) {
    stack_span s = list.back();
    list.pop_back();
    if (s.slab != nullptr) ++s.slab->outside;
    if (&list == &dirty_) low_water_ = std::min(low_water_, dirty_.size());
    return prepare(s);
  }

  stack_span prepare(stack_span s) {
    sanitizer_unpoison_stack(s.bottom, s.size);
    if (s.kind() == stack_kind::canaried) write_stack_canary(s);
    return s;
  }

  // next_slab_kind: the kind of the next slab to map (`automatic` and `never`). Requires lock_.
  stack_kind next_slab_kind() const noexcept {
    if (mode_ == stack_guard::never) return stack_kind::canaried;
    if (use_markers_) return stack_kind::marked;
    if (mapped_count_ + slab_stacks <= mapped_limit_) return stack_kind::fenced;
    return stack_kind::canaried;
  }

  // map_guarded: one new mapped stack (`always`); throws when the kernel refuses it.
  stack_span map_guarded() {
    const std::size_t page = page_size();
    if (mapped_count_ >= mapped_limit_) throw_refused(ENOMEM);
    void* base = mmap(nullptr, stack_size_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw_refused(errno);
    if (mprotect(base, page, PROT_NONE) != 0) {
      const int err = errno;
      munmap(base, stack_size_);
      throw_refused(err);
    }
    ++mapped_count_;
    return stack_span{static_cast<char*>(base) + page, stack_size_ - page, nullptr};
  }

  [[noreturn]] void throw_refused(int err) const {
    throw error("goro::go: no memory mapping left for a guarded goroutine stack (" +
                std::error_code(err, std::generic_category()).message() + ": " +
                std::to_string(mapped_count_) +
                " guarded stacks exist, each takes two of the kernel's vm.max_map_count = " +
                std::to_string(max_map_count_) +
                " mappings); raise vm.max_map_count, let goroutines exit, or use "
                "options.guard = goro::stack_guard::automatic");
  }

  // find_carving_slab: makes carving_ a slab with stacks left to carve, taking one the pool
  // mapped earlier if the current one is full. False if there is none. Whatever its kind: that
  // was chosen when the slab was mapped, and its guards (and mappings) are paid for.
  bool find_carving_slab() noexcept {
    if (carving_ != nullptr && carving_->stacks < slab_stacks) return true;
    if (uncarved_.empty()) return false;
    carving_ = uncarved_.back();
    uncarved_.pop_back();
    return true;
  }

  // adopt: a slab mapped outside the lock becomes the pool's, to carve from when needed. If it
  // throws (no memory for the lists), the slab is still the caller's.
  void adopt(stack_slab* slab) {
    slabs_.reserve(slabs_.size() + 1);
    uncarved_.reserve(uncarved_.size() + 1);
    slabs_.push_back(slab);  // neither can throw after the reserves
    uncarved_.push_back(slab);
  }

  // carve: appends up to `count` (at least one) new stacks from the carving slab, which
  // find_carving_slab has just found.
  void carve(std::vector<stack_span>& out, std::size_t count) {
    const stack_kind kind = carving_->kind;
    const std::size_t page = page_size();
    const std::size_t lead = kind == stack_kind::canaried ? page : 0;
    for (; count > 0 && carving_->stacks < slab_stacks; --count) {
      const std::size_t k = carving_->stacks++;
      ++carving_->outside;
      char* boundary = carving_->base + lead + k * stack_size_;
      stack_span s = kind == stack_kind::canaried
                         ? stack_span{boundary, stack_size_ - stack_canary_size, carving_}
                         : stack_span{boundary + page, stack_size_ - page, carving_};
      out.push_back(prepare(s));
    }
  }

  // map_slab: maps a new slab of `kind` for stacks of `stack_size` bytes, with the guard of each
  // of its stacks. Touches no member: it runs without the lock. A slab whose guards the kernel
  // refuses is nullptr, and so is a fenced slab it refuses to map (its mapping budget is smaller
  // than configured); any other failure throws.
  static stack_slab* map_slab(stack_kind kind, std::size_t stack_size) {
    const std::size_t page = page_size();
    const std::size_t bytes = (kind == stack_kind::canaried ? page : 0) + slab_stacks * stack_size;
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) {
      if (kind == stack_kind::fenced) return nullptr;
      throw error("goro::go: cannot reserve goroutine stacks: " +
                  std::error_code(errno, std::generic_category()).message());
    }
    auto* slab = new stack_slab{static_cast<char*>(base), bytes, 0, 0, kind};
    if (kind == stack_kind::canaried) return slab;
    if (kind == stack_kind::fenced) touch_before_split(slab->base);
    for (std::size_t k = 0; k < slab_stacks; ++k) {
      if (install_guard(kind, slab->base + k * stack_size) == 0) continue;
      unmap_slab(slab);
      return nullptr;
    }
    return slab;
  }

  // touch_before_split: writes to the first stack's guard page, and gives the page back, before
  // mprotect splits the mapping into stacks and guards. Linux gives a mapping the record of its
  // anonymous pages (anon_vma) at its first write fault, taking the process's mapping lock to do
  // it, and the pieces of a split inherit the record. Fenced stacks split before any write each
  // took that lock at their first fault, and waited there for the other worker's mprotect. With
  // the touch, the 100k-sleepers benchmark ran 2.5% faster, skynet 6% and context cancel 3%
  // (medians of 9 alternating runs); no page of a stack is committed before the goroutine
  // touches it (API 1.4), and the guard page is empty again.
  static void touch_before_split(char* guard) noexcept {
    *static_cast<volatile char*>(guard) = 0;
    madvise(guard, page_size(), MADV_DONTNEED);
  }

  // install_guard: makes the page at `guard` fault on any access; 0 or -1 (errno), as mprotect.
  static int install_guard(stack_kind kind, char* guard) noexcept {
    if (kind == stack_kind::fenced) return mprotect(guard, page_size(), PROT_NONE);
    return madvise(guard, page_size(), madvise_guard_install);
  }

  static void unmap_slab(stack_slab* slab) noexcept {
    munmap(slab->base, slab->bytes);
    delete slab;
  }

  // unmap_adopted: unmaps one of the pool's slabs, giving back the budget of a fenced one.
  void unmap_adopted(stack_slab* slab) noexcept {
    if (slab->kind == stack_kind::fenced) mapped_count_ -= slab_stacks;
    unmap_slab(slab);
  }

  struct slab_unmapper {
    void operator()(stack_slab* slab) const noexcept { unmap_slab(slab); }
  };

  void give_back_below_top_page(const stack_span& s) noexcept {
    const std::size_t page = page_size();
    auto top_page = reinterpret_cast<std::uintptr_t>(s.top() - 1) / page * page;
    auto bottom = reinterpret_cast<std::uintptr_t>(s.bottom);
    if (top_page > bottom) {
      madvise(reinterpret_cast<void*>(bottom), top_page - bottom, MADV_DONTNEED);
    }
  }

  void unmap_guarded(const stack_span& s) noexcept {
    munmap(s.bottom - page_size(), stack_size_);
    --mapped_count_;
  }

  void unmap_empty_slabs() {
    auto empty = [&](const stack_slab* slab) {
      return slab->outside == 0 && slab->stacks == slab_stacks && slab != carving_;
    };
    if (std::none_of(slabs_.begin(), slabs_.end(), empty)) return;
    auto in_empty_slab = [&](const stack_span& s) { return s.slab != nullptr && empty(s.slab); };
    std::erase_if(clean_, in_empty_slab);
    std::erase_if(dirty_, in_empty_slab);
    std::erase_if(slabs_, [&](stack_slab* slab) {
      if (!empty(slab)) return false;
      unmap_adopted(slab);
      return true;
    });
  }

  void unmap_surplus_mapped(std::size_t keep) {
    std::size_t mapped_free = 0;
    std::erase_if(clean_, [&](const stack_span& s) {
      if (s.kind() != stack_kind::mapped || ++mapped_free <= keep) return false;
      unmap_guarded(s);
      return true;
    });
  }

  futex_mutex lock_;  // guards every member below
  std::size_t stack_size_ = 256 * 1024;
  stack_guard mode_ = stack_guard::automatic;
  bool use_markers_ = false;  // automatic, and the kernel has guard markers
  std::size_t max_map_count_ = 65530;
  std::size_t mapped_limit_ = 16382;
  std::size_t mapped_count_ = 0;
  std::vector<stack_span> dirty_;
  std::vector<stack_span> clean_;
  std::vector<stack_slab*> slabs_;     // every slab mapped, uncarved ones included
  std::vector<stack_slab*> uncarved_;  // slabs mapped and adopted but not carved from yet
  stack_slab* carving_ = nullptr;  // the slab new slab stacks are carved from
  std::size_t low_water_ = 0;  // the fewest stacks dirty_ held since the last trim
  std::chrono::steady_clock::time_point next_trim_{};
  std::atomic<std::chrono::steady_clock::rep> next_trim_hint_{0};  // next_trim_, without lock_
};

// stack_cache: a worker's private stack free list, refilled from and spilled to the pool in
// batches so that spawn and exit take no lock in the common case. Owned by one worker thread.
class stack_cache {
 public:
  static constexpr std::size_t capacity = 32;

  stack_span acquire(stack_pool& pool) {
    if (items_.empty()) pool.acquire_batch(items_, capacity / 2);
    stack_span s = items_.back();
    items_.pop_back();
    sanitizer_unpoison_stack(s.bottom, s.size);
    return s;
  }

  void release(stack_pool& pool, stack_span s) {
    items_.push_back(s);
    if (items_.size() > capacity) flush(pool, capacity / 2);
  }

  void flush(stack_pool& pool, std::size_t keep = 0) {
    if (items_.size() <= keep) return;
    pool.release_batch(items_.data() + keep, items_.size() - keep);
    items_.resize(keep);
  }

 private:
  std::vector<stack_span> items_;
};

}  // namespace goro::detail
