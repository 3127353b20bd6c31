// goro/detail/stack.hpp — goroutine stacks: reserved with mmap, committed lazily by the kernel,
// guarded or canaried, pooled and given back.
//
// Geometry (S = options.stack_size, a multiple of the page size P). A guarded stack has all S
// bytes to use and its guard page below them (API 1.4: "a no-access page below it"), so its
// span is G = S + P. A stack is one of four kinds:
//   mapped:    one mapping of G bytes per stack; its lowest page is PROT_NONE (the guard; the
//              mprotect splits the mapping in two, which is why mapped stacks count twice against
//              vm.max_map_count). Usable: [base + P, base + G).
//   fenced:    slabs of slab_stacks stacks: [G][G]...[G]. Stack k starts at
//              b_k = slab + k*G and uses [b_k + P, b_k + G). Its lowest page is made PROT_NONE
//              by mprotect when the slab is made, which splits the slab into two mappings per
//              stack: fenced stacks count twice against vm.max_map_count, like mapped ones, but
//              cost one mprotect each instead of an mmap, an mprotect and a munmap.
//   marked:    slabs laid out as fenced ones, but the guard page of each stack carries a guard
//              marker (MADV_GUARD_INSTALL, Linux 6.13): a page-table entry that faults on any
//              access, costing no mapping and no memory.
//   canaried:  slabs of slab_stacks stacks: [P lead page][S][S]...[S]. With
//              b_k = slab + P + k*S, stack k uses [b_k, b_{k+1} - 64) and its 64-byte canary is
//              [b_k - 64, b_k): the last bytes of the page that holds the top of stack k-1 (or of
//              the lead page). A running goroutine always touches its own top page, so canaries
//              cost no extra committed page per goroutine.
// Mapped, fenced and marked stacks are guarded: their overflow faults at the access. The options
// choose: `never` takes canaried stacks, `always` mapped ones (the kernel's mapping budget then
// bounds live goroutines, as API 1.4 says), and `automatic` marked ones where the kernel has guard
// markers; where it has not, fenced ones while they hold under half of vm.max_map_count, then
// canaried ones. The kind is chosen per slab, when one is made; a slab's stacks are all of its
// kind. Slabs are carved from reservations: address space mapped for up to 64 slabs at once
// (1 GiB), none of it committed, the first reservation of a run for one slab and each next one
// for twice as many.
//
// Why marked before fenced: a marker costs no mapping, and installing one takes the process's
// mapping lock for reading, where a fence's mprotect splits the slab's mapping twice under that
// lock held for writing. With two workers mapping slabs, the fences' mprotect took a third of the
// 100k-sleepers benchmark's samples, most of them waiting for the other worker's mprotect; with
// markers the benchmark ran in 0.64 of the time and skynet in 0.83.
//
// Why a marked slab's page tables are made by page faults: on a host that shadows the guest's
// page tables, installing a slab's markers on fresh address space dropped the host's
// translations of the stacks in use nearby, and each one's next touch trapped to the host for
// about 1 µs (a cancel waking 10k waiters took 2.5x as long). Markers make a page table for each
// 2 MiB they fall in, and the kernel links each into its page directory with no page fault; a
// host that sees a directory rewritten several times with no fault through it (KVM's "write
// flooding" rule) discards its shadow of the whole directory, 1 GiB of translations. A page
// table made in a page fault does no harm. So before a slab's markers go in, the pool writes to
// the top page of one stack in each 2 MiB of the slab, a page that stack's goroutine commits
// at its start anyway (fault_in_page_tables says what stacks of 2 MiB or more get). No other
// stack page is committed before its goroutine touches it (API 1.4); committing them from the
// kernel (MADV_POPULATE_WRITE, MAP_POPULATE) makes page tables with no fault too, and did the
// same harm.
//
// Invariants:
//   - Reserved address space is in exactly one place: reserved_ (not carved yet), a slab, or
//     given back. A slab is given back with munmap of its own bytes, whatever the mapping
//     around it.
//   - A slab is in slabs_ from the moment the pool adopts it; uncarved_ holds the adopted slabs
//     no stack has been carved from (made by a worker that raced another one to a new slab),
//     and carving_ is not among them.
//   - A stack is in exactly one place: running a goroutine, a worker's stack_cache, or one of the
//     pool's free sets, dirty (touched pages possibly committed) or clean (everything below the
//     top page given back with MADV_DONTNEED). A slab's free stacks are bits of its own masks
//     (stack_slab::dirty, ::clean); mapped stacks are on the lists mapped_dirty_ (most recently
//     freed at the back) and mapped_clean_.
//   - A slab's free stacks are handed out lowest first, and slabs in the order the pool adopted
//     them: goroutines started one after another get neighbouring stacks even after many have come
//     and gone, so a walk over their waiters (a close waking 10k receivers) touches neighbouring
//     pages. Most recently freed first, as a list gives them, scattered them: after three rounds
//     of 10k goroutines 6% of consecutive ones had neighbouring stacks, and such a close took 3x
//     as long. Bit r of dirty_.with (clean_.with) is set when slabs_[r] has stacks in that set.
//   - The top page of a free stack is never given back while the stack's slab is mapped, because
//     it may hold the canary of the stack above; a whole slab is unmapped only when every stack of
//     it is free in the pool (slab::outside == 0).
//   - Every carved stack of a fenced or marked slab has its guard: guards are installed when the
//     slab is made, before any of its stacks is carved, and MADV_DONTNEED leaves them in place.
//   - A stack is registered with Valgrind (valgrind_stacks_, where built with it) from the
//     moment it is carved or mapped until it is unmapped.
//   - mapped_count_ counts the stacks that cost two mappings and exist (in use or free): mapped
//     stacks, and every stack of each fenced slab, counted from before the slab is made.
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
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
// maximum_stack_size: 1 TiB on 64-bit systems, so that a slab of 64 such stacks (64 TiB) still
// fits in the 128 TiB of a Linux process's address space; a 128th of the address space on
// narrower ones. No size arithmetic on a stack overflows below it.
inline constexpr std::size_t maximum_stack_size = static_cast<std::size_t>(
    std::min<std::uint64_t>(std::numeric_limits<std::size_t>::max() / 128, std::uint64_t{1} << 40));

// guard_markers_supported: whether the kernel installs guard markers (MADV_GUARD_INSTALL, Linux
// 6.13). Probed once per process on a scratch mapping.
inline constexpr int madvise_guard_install = 102;  // MADV_GUARD_INSTALL; older headers lack it
inline constexpr int pidfd_self_process = -10001;  // PIDFD_SELF_PROCESS, Linux 6.14

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
  std::size_t span = 0;     // the address space of each stack, guard or canary included
  std::size_t stacks = 0;   // stacks carved so far
  std::size_t outside = 0;  // carved stacks not free in the pool
  std::size_t rank = 0;     // index in the pool's slabs_
  std::uint64_t dirty = 0;  // free stacks, pages possibly committed (bit k: stack k)
  std::uint64_t clean = 0;  // free stacks given back below their top page
  stack_kind kind = stack_kind::canaried;
};

// stack_span: one goroutine stack. The stack grows down from top(). Spans are copied on every
// spawn and exit: keep them three words (a fourth made spawn 40% slower).
struct stack_span {
  char* bottom = nullptr;      // lowest usable byte
  std::size_t size = 0;        // usable bytes
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
    if (stack_size > maximum_stack_size) {
      throw error("goro::run: options.stack_size is " + std::to_string(stack_size) +
                  " bytes; the maximum is " + std::to_string(maximum_stack_size));
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

  // span_of_kind: the address space each stack of `kind` takes: options.stack_size, and a
  // guarded stack's guard page below it. (A canaried stack's canary is at its low end, within
  // options.stack_size, as API 1.4 says.)
  std::size_t span_of_kind(stack_kind kind) const noexcept {
    return kind == stack_kind::canaried ? stack_size_ : stack_size_ + page_size();
  }

  // slab_count: the slabs mapped now, uncarved ones included (for tests).
  std::size_t slab_count() {
    std::lock_guard guard(lock_);
    return slabs_.size();
  }

  // acquire_batch: appends up to `count` stacks (at least one) to `out`: free ones if there are
  // any, else new ones carved from a slab (or one new mapped stack). A new slab takes its
  // address space from the pool's reservation, and its guards are installed (33 µs for 64
  // marked stacks) outside the lock: the other workers go on taking and giving back stacks
  // meanwhile. A new reservation is mapped outside the lock too. Two workers that run out at
  // once may both make a slab; the pool keeps the second for later.
  void acquire_batch(std::vector<stack_span>& out, std::size_t count) {
    out.reserve(out.size() + count);  // a stack taken is never lost to a push_back that throws
    const std::size_t before = out.size();
    std::unique_ptr<stack_slab, slab_unmapper> fresh;  // made outside the lock, not yet adopted
    address_range reserved;  // mapped outside the lock, not yet the pool's
    stack_kind kind = stack_kind::canaried;
    attempt tried = attempt::none;
    for (;;) {
      char* base = nullptr;
      std::size_t span = 0;
      std::size_t bytes = 0;
      std::size_t reservation_slabs = 0;
      {
        std::lock_guard guard(lock_);
        if (tried == attempt::slab) settle_slab(fresh, kind);
        if (tried == attempt::reservation) settle_reservation(reserved, kind);
        tried = attempt::none;
        for (; count > 0 && dirty_.count > 0; --count) out.push_back(take_first(dirty_));
        for (; count > 0 && !mapped_dirty_.empty(); --count) out.push_back(take(mapped_dirty_));
        for (; count > 0 && clean_.count > 0; --count) out.push_back(take_first(clean_));
        for (; count > 0 && !mapped_clean_.empty(); --count) out.push_back(take(mapped_clean_));
        if (out.size() > before) return;
        if (mode_ == stack_guard::always) {
          // Room for every mapped stack in the free lists, so that giving one back (an exit, on
          // a worker's stack) and trimming (an idle worker) never allocate.
          reserve_room(mapped_dirty_, mapped_count_ + 1);
          reserve_room(mapped_clean_, mapped_count_ + 1);
          out.push_back(prepare(map_guarded()));
          return;
        }
        if (find_carving_slab()) {
          carve(out, count);
          return;
        }
        kind = next_slab_kind();
        span = span_of_kind(kind);
        bytes = slab_bytes(kind, span);
        base = take_reserved(bytes);
        if (base != nullptr && kind == stack_kind::fenced) mapped_count_ += slab_stacks;
        reservation_slabs = next_reservation_slabs_;
      }
      if (base == nullptr) {
        reserved = reserve(bytes, reservation_slabs, kind);
        tried = attempt::reservation;
      } else {
        fresh.reset(make_slab(kind, span, base, bytes));
        tried = attempt::slab;
      }
    }
  }

  // release_batch: gives stacks back; they stay committed (dirty) until trim().
  void release_batch(const stack_span* spans, std::size_t count) {
    std::lock_guard guard(lock_);
    for (std::size_t i = 0; i < count; ++i) {
      stack_slab* const slab = spans[i].slab;
      if (slab == nullptr) {
        mapped_dirty_.push_back(spans[i]);
        continue;
      }
      --slab->outside;
      put(dirty_, *slab, index_in_slab(spans[i]));
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
    const std::size_t surplus = std::min(low_water_, dirty_count());
    std::size_t give_back = surplus > keep ? surplus - keep : 0;
    // mapped_dirty_ is used from the back: its front holds the stacks unused the longest.
    const std::size_t mapped = std::min(give_back, mapped_dirty_.size());
    for (std::size_t i = 0; i < mapped; ++i) {
      give_back_below_top_page(mapped_dirty_[i]);
      mapped_clean_.push_back(mapped_dirty_[i]);
    }
    mapped_dirty_.erase(mapped_dirty_.begin(),
                        mapped_dirty_.begin() + static_cast<std::ptrdiff_t>(mapped));
    // Slab stacks are handed out first in slab order: the last ones wait longest.
    for (give_back -= mapped; give_back > 0; --give_back) clean_last_dirty();
    low_water_ = dirty_count();
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
    for (auto* list : {&mapped_dirty_, &mapped_clean_}) {
      for (const stack_span& s : *list) unmap_guarded(s);
      list->clear();
    }
    std::erase_if(slabs_, [&](stack_slab* slab) {
      if (slab->outside == 0) {
        unmap_adopted(slab);
        return true;
      }
      slab->dirty = slab->clean = 0;  // its free stacks go with it: it is never carved again
      return false;
    });
    dirty_.count = clean_.count = 0;
    rank_slabs();
    carving_ = nullptr;
    uncarved_.clear();  // none of their stacks was out: unmapped above
    low_water_ = 0;
    unmap_range(reserved_);
    reserved_ = {};
  }

  static constexpr std::size_t slab_stacks = 64;

  // install_guards: installs the guard of each of the slab_stacks stacks that span `span` bytes
  // each from `base` (the layout of fenced and marked slabs at the top of this file); false if
  // the kernel refused one. With `at_once`, markers go in one system call where the kernel
  // takes it: a slab's 64 markers took 33 µs that way against 40 with one madvise each
  // (docs/benchmarks.md). A marker installed twice is one marker, so a batch that fails
  // half-way is completed stack by stack. Fences are preceded by touch_before_split.
  static bool install_guards(stack_kind kind, char* base, std::size_t span, bool at_once) noexcept {
    if (kind == stack_kind::marked) fault_in_page_tables(base, span);
    if (kind == stack_kind::marked && at_once && install_markers_at_once(base, span)) {
      return true;
    }
    if (kind == stack_kind::fenced) touch_before_split(base);
    for (std::size_t k = 0; k < slab_stacks; ++k) {
      if (install_guard(kind, base + k * span) != 0) return false;
    }
    return true;
  }

  // fault_in_page_tables: makes, by a page fault, the page table of each 2 MiB that the slab's
  // guards fall in, before the markers go in (the top of this file says why). The fault is a
  // write to the top page of a stack in that 2 MiB, which its goroutine writes at its start
  // anyway, or else, where no top page is there (stacks of 2 MiB or more), a read of the lowest
  // page of the guard's stack, which commits nothing where the kernel maps reads of fresh
  // memory to its zero page. A 2 MiB holding no page of the slab but the guard (the slab's first
  // guard, on the last page of a 2 MiB) is left to the marker: one directory write.
  static void fault_in_page_tables(char* base, std::size_t span) noexcept {
    const std::size_t page = page_size();
    std::uintptr_t made = 0;  // the page table a fault made last, as table_of numbers them
    for (std::size_t k = 0; k < slab_stacks; ++k) {
      char* const guard = base + k * span;
      const std::uintptr_t table = table_of(guard);
      if (table == made) continue;
      made = table;
      if (k > 0 && table_of(guard - page) == table) {
        *static_cast<volatile char*>(guard - page) = 0;  // the top page of stack k - 1
      } else if (table_of(guard + span - page) == table) {
        *static_cast<volatile char*>(guard + span - page) = 0;  // the top page of stack k
      } else if (table_of(guard + page) == table) {
        (void)*static_cast<volatile const char*>(guard + page);  // the lowest page of stack k
      }
    }
  }

  // table_of: the number of the last-level page table that maps `address` (its 2 MiB with 4 KiB
  // pages and 8-byte entries).
  static std::uintptr_t table_of(const char* address) noexcept {
    const std::size_t table_span = page_size() / sizeof(void*) * page_size();
    return reinterpret_cast<std::uintptr_t>(address) / table_span;
  }

  // install_markers_at_once: the markers of all the slab's stacks in one process_madvise on the
  // calling process (PIDFD_SELF_PROCESS, Linux 6.14). False if some were not installed: the
  // kernel lacks the call or PIDFD_SELF_PROCESS (then it is not tried again), or refused one.
  // Under Valgrind, which does not know the call, it is never tried.
  static bool install_markers_at_once(char* base, std::size_t span) noexcept {
#ifdef SYS_process_madvise
    static std::atomic<bool> unavailable{running_on_valgrind()};
    if (unavailable.load(std::memory_order_relaxed)) return false;
    iovec guards[slab_stacks];
    for (std::size_t k = 0; k < slab_stacks; ++k) guards[k] = {base + k * span, page_size()};
    const long installed = syscall(SYS_process_madvise, pidfd_self_process, guards, slab_stacks,
                                   madvise_guard_install, 0U);
    if (installed == static_cast<long>(slab_stacks * page_size())) return true;
    if (installed < 0 && (errno == EBADF || errno == ENOSYS || errno == EPERM)) {
      unavailable.store(true, std::memory_order_relaxed);
    }
#else
    (void)base;
    (void)span;
#endif
    return false;
  }

 private:
  static constexpr std::chrono::seconds trim_period{1};
  static constexpr std::size_t always_headroom = 2048;  // mappings left to the rest of the process
  static constexpr std::size_t max_reservation_slabs = 64;
  static constexpr std::size_t max_reservation_bytes = std::size_t{1} << 30;

  // address_range: address space mapped for slabs and not carved into one yet: [next, end).
  struct address_range {
    char* next = nullptr;
    char* end = nullptr;

    std::size_t bytes() const noexcept { return static_cast<std::size_t>(end - next); }
  };

  // attempt: what acquire_batch did outside the lock, for it to settle under the lock.
  enum class attempt : std::uint8_t { none, slab, reservation };

  struct slab_unmapper {
    void operator()(stack_slab* slab) const noexcept { unmap_slab(slab); }
  };

  // slab_free_set: the free stacks of the slabs in one state, dirty or clean: a mask in each
  // slab, the slabs that have any (bit r of `with`: slabs_[r]), and how many there are.
  struct slab_free_set {
    std::uint64_t stack_slab::*mask;
    std::vector<std::uint64_t> with;
    std::size_t count = 0;
  };

  static constexpr std::uint64_t bit(std::size_t i) noexcept {
    return std::uint64_t{1} << i;
  }

  std::size_t dirty_count() const noexcept {
    return dirty_.count + mapped_dirty_.size();
  }

  // take: the most recently freed stack of a list of mapped stacks.
  stack_span take(std::vector<stack_span>& list) {
    stack_span s = list.back();
    list.pop_back();
    if (&list == &mapped_dirty_) low_water_ = std::min(low_water_, dirty_count());
    return prepare(s);
  }

  // take_first: the stack of `set` that comes first: in the slab adopted first, the lowest.
  // Requires set.count > 0.
  stack_span take_first(slab_free_set& set) {
    std::size_t word = 0;
    while (set.with[word] == 0) ++word;
    stack_slab& slab =
        *slabs_[word * 64 + static_cast<std::size_t>(std::countr_zero(set.with[word]))];
    const auto k = static_cast<std::size_t>(std::countr_zero(slab.*set.mask));
    remove(set, slab, k);
    ++slab.outside;
    if (&set == &dirty_) low_water_ = std::min(low_water_, dirty_count());
    return prepare(span_of(slab, k));
  }

  // clean_last_dirty: gives back the pages below the top page of the dirty slab stack that
  // comes last, which becomes clean. Requires dirty_.count > 0.
  void clean_last_dirty() noexcept {
    std::size_t word = dirty_.with.size() - 1;
    while (dirty_.with[word] == 0) --word;
    stack_slab& slab =
        *slabs_[word * 64 + 63 - static_cast<std::size_t>(std::countl_zero(dirty_.with[word]))];
    const std::size_t k = 63 - static_cast<std::size_t>(std::countl_zero(slab.dirty));
    remove(dirty_, slab, k);
    give_back_below_top_page(span_of(slab, k));
    put(clean_, slab, k);
  }

  void put(slab_free_set& set, stack_slab& slab, std::size_t k) noexcept {
    if (slab.*set.mask == 0) set.with[slab.rank / 64] |= bit(slab.rank % 64);
    slab.*set.mask |= bit(k);
    ++set.count;
  }

  void remove(slab_free_set& set, stack_slab& slab, std::size_t k) noexcept {
    slab.*set.mask &= ~bit(k);
    if (slab.*set.mask == 0) set.with[slab.rank / 64] &= ~bit(slab.rank % 64);
    --set.count;
  }

  // rank_slabs: renumbers the slabs after some left slabs_, and rebuilds the free sets' `with`.
  void rank_slabs() noexcept {
    // Never more words than before: assign allocates nothing.
    for (slab_free_set* set : {&dirty_, &clean_}) set->with.assign((slabs_.size() + 63) / 64, 0);
    for (std::size_t r = 0; r < slabs_.size(); ++r) {
      stack_slab& slab = *slabs_[r];
      slab.rank = r;
      for (slab_free_set* set : {&dirty_, &clean_}) {
        if (slab.*set->mask != 0) set->with[r / 64] |= bit(r % 64);
      }
    }
  }

  // span_of: stack k of `slab` (the layouts at the top of this file).
  static stack_span span_of(stack_slab& slab, std::size_t k) noexcept {
    const std::size_t page = page_size();
    if (slab.kind == stack_kind::canaried) {
      return {slab.base + page + k * slab.span, slab.span - stack_canary_size, &slab};
    }
    return {slab.base + k * slab.span + page, slab.span - page, &slab};
  }

  // index_in_slab: k for a stack that span_of(slab, k) made: both kinds start a page above
  // slab.base + k * span.
  static std::size_t index_in_slab(const stack_span& s) noexcept {
    return static_cast<std::size_t>(s.bottom - s.slab->base - page_size()) / s.slab->span;
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

  // reserve_room: `list` can hold `size` stacks, grown geometrically.
  static void reserve_room(std::vector<stack_span>& list, std::size_t size) {
    if (list.capacity() < size) list.reserve(std::max(size, 2 * list.capacity()));
  }

  // map_guarded: one new mapped stack (`always`); throws when the kernel refuses it.
  stack_span map_guarded() {
    const std::size_t page = page_size();
    if (mapped_count_ >= mapped_limit_) throw_refused(ENOMEM);
    const std::size_t span = span_of_kind(stack_kind::mapped);
    void* base = mmap(nullptr, span, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw_refused(errno);
    if (mprotect(base, page, PROT_NONE) != 0) {
      const int err = errno;
      munmap(base, span);
      throw_refused(err);
    }
    ++mapped_count_;
    const stack_span s{static_cast<char*>(base) + page, stack_size_, nullptr};
    valgrind_stacks_.add(s.bottom, s.size);
    return s;
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

  // settle_slab: adopts a slab made outside the lock, or takes the kernel's refusal of its
  // guards (a nullptr `fresh`) into account. Requires lock_.
  void settle_slab(std::unique_ptr<stack_slab, slab_unmapper>& fresh, stack_kind kind) {
    if (fresh) {
      adopt(fresh.get());
      fresh.release();
    } else if (kind == stack_kind::fenced) {
      // The kernel refused the fences (its mapping budget was smaller than configured): no
      // more fenced slabs in this run.
      mapped_count_ -= slab_stacks;
      mapped_limit_ = mapped_count_;
    } else if (kind == stack_kind::marked) {
      // The kernel refused the markers (it marks no locked memory: the process called
      // mlockall(MCL_FUTURE) after the probe): no more marked slabs in this run.
      use_markers_ = false;
    }
  }

  // settle_reservation: makes address space reserved outside the lock the pool's. Of it and
  // the pool's reservation, the one with more room is kept and the other given back (another
  // worker may have reserved meanwhile; the rest of a range too small for the next slab goes
  // too). An empty `range` is the kernel's refusal of a fenced slab's space, which ends fenced
  // slabs for the run like a refusal of their fences. Requires lock_.
  void settle_reservation(address_range& range, stack_kind kind) noexcept {
    if (range.next == nullptr) {
      if (kind == stack_kind::fenced) mapped_limit_ = mapped_count_;
      return;
    }
    if (range.bytes() > reserved_.bytes()) std::swap(range, reserved_);
    unmap_range(range);
    range = {};
    next_reservation_slabs_ = std::min(2 * next_reservation_slabs_, max_reservation_slabs);
  }

  static std::size_t slab_bytes(stack_kind kind, std::size_t span) noexcept {
    return (kind == stack_kind::canaried ? page_size() : 0) + slab_stacks * span;
  }

  // take_reserved: the address of a new slab of `bytes`, from the reservation; nullptr if it
  // has no room left. Requires lock_.
  char* take_reserved(std::size_t bytes) noexcept {
    if (reserved_.bytes() < bytes) return nullptr;
    char* const base = reserved_.next;
    reserved_.next += bytes;
    return base;
  }

  // reserve: maps address space for `slabs` slabs of `bytes` each (at most 1 GiB, at least one
  // slab), committing nothing (API 1.4). It falls back to one slab's worth if the kernel
  // refuses more (strict overcommit accounts even for MAP_NORESERVE). Touches no member: it
  // runs without the lock. An empty range if the kernel refuses a fenced slab's space (its
  // mapping budget may be smaller than configured); any other refusal throws.
  //
  // Why many slabs in one mapping: a mapping takes the process's mapping lock for writing, and
  // a new one next to a slab in use is merged into that slab's mapping, which holds up the page
  // faults of the goroutines starting on its stacks until the mmap returns. With a mapping per
  // slab, the 100k-sleepers benchmark made 400 of them, and its workers blocked in the kernel
  // 762 times a run, mostly waiting for each other's mapping lock; with reservations, 224 times,
  // and it ran in 0.90 of the time (docs/benchmarks.md).
  static address_range reserve(std::size_t bytes, std::size_t slabs, stack_kind kind) {
    const std::size_t most = std::max<std::size_t>(1, max_reservation_bytes / bytes);
    for (std::size_t n = std::min(slabs, most);; n = 1) {
      void* base = mmap(nullptr, n * bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (base != MAP_FAILED) {
        return {static_cast<char*>(base), static_cast<char*>(base) + n * bytes};
      }
      if (n == 1) break;
    }
    if (kind == stack_kind::fenced) return {};
    throw error("goro::go: cannot reserve goroutine stacks: " +
                std::error_code(errno, std::generic_category()).message());
  }

  static void unmap_range(const address_range& range) noexcept {
    if (range.bytes() > 0) munmap(range.next, range.bytes());
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
    const std::size_t words = slabs_.size() / 64 + 1;
    dirty_.with.resize(words);  // new words are zero: the slab has no free stack yet
    clean_.with.resize(words);
    slabs_.reserve(slabs_.size() + 1);
    uncarved_.reserve(uncarved_.size() + 1);
    slab->rank = slabs_.size();
    slabs_.push_back(slab);  // neither can throw after the reserves
    uncarved_.push_back(slab);
  }

  // carve: appends up to `count` (at least one) new stacks from the carving slab, which
  // find_carving_slab has just found.
  void carve(std::vector<stack_span>& out, std::size_t count) {
    for (; count > 0 && carving_->stacks < slab_stacks; --count) {
      const std::size_t k = carving_->stacks++;
      ++carving_->outside;
      const stack_span s = span_of(*carving_, k);
      valgrind_stacks_.add(s.bottom, s.size);
      out.push_back(prepare(s));
    }
  }

  // make_slab: a new slab of `kind` for stacks spanning `span` bytes each on the `bytes` of
  // reserved address space at `base`, with the guard of each of its stacks. Touches no member:
  // it runs without the lock. A slab whose guards the kernel refuses is nullptr, its space given
  // back.
  static stack_slab* make_slab(stack_kind kind, std::size_t span, char* base, std::size_t bytes) {
    auto* slab = new stack_slab{.base = base, .bytes = bytes, .span = span, .kind = kind};
    if (kind == stack_kind::canaried) return slab;
    if (install_guards(kind, slab->base, span, true)) return slab;
    unmap_slab(slab);
    return nullptr;
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
    for (std::size_t k = 0; k < slab->stacks; ++k)
      valgrind_stacks_.remove(span_of(*slab, k).bottom);
    unmap_slab(slab);
  }

  void give_back_below_top_page(const stack_span& s) noexcept {
    const std::size_t page = page_size();
    auto top_page = reinterpret_cast<std::uintptr_t>(s.top() - 1) / page * page;
    auto bottom = reinterpret_cast<std::uintptr_t>(s.bottom);
    if (top_page > bottom) {
      madvise(reinterpret_cast<void*>(bottom), top_page - bottom, MADV_DONTNEED);
    }
  }

  void unmap_guarded(const stack_span& s) noexcept {
    valgrind_stacks_.remove(s.bottom);
    munmap(s.bottom - page_size(), span_of_kind(stack_kind::mapped));
    --mapped_count_;
  }

  void unmap_empty_slabs() {
    auto empty = [&](const stack_slab* slab) {
      return slab->outside == 0 && slab->stacks == slab_stacks && slab != carving_;
    };
    if (std::none_of(slabs_.begin(), slabs_.end(), empty)) return;
    std::erase_if(slabs_, [&](stack_slab* slab) {
      if (!empty(slab)) return false;
      dirty_.count -= static_cast<std::size_t>(std::popcount(slab->dirty));
      clean_.count -= static_cast<std::size_t>(std::popcount(slab->clean));
      unmap_adopted(slab);
      return true;
    });
    rank_slabs();
  }

  void unmap_surplus_mapped(std::size_t keep) {
    std::size_t mapped_free = 0;
    std::erase_if(mapped_clean_, [&](const stack_span& s) {
      if (++mapped_free <= keep) return false;
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
  slab_free_set dirty_{&stack_slab::dirty, {}, 0};
  slab_free_set clean_{&stack_slab::clean, {}, 0};
  std::vector<stack_span> mapped_dirty_;  // free mapped stacks, most recently freed at the back
  std::vector<stack_span> mapped_clean_;
  std::vector<stack_slab*> slabs_;  // every slab mapped, uncarved ones included, in adoption order
  std::vector<stack_slab*> uncarved_;       // slabs mapped and adopted but not carved from yet
  address_range reserved_;                  // address space for the next slabs
  std::size_t next_reservation_slabs_ = 1;  // doubles with each reservation, up to the maximum
  stack_slab* carving_ = nullptr;           // the slab new slab stacks are carved from
  [[no_unique_address]] valgrind_stack_registry valgrind_stacks_;  // every carved or mapped stack
  std::size_t low_water_ = 0;  // the fewest dirty free stacks since the last trim
  std::chrono::steady_clock::time_point next_trim_{};
  std::atomic<std::chrono::steady_clock::rep> next_trim_hint_{0};  // next_trim_, without lock_
};

// stack_cache: a worker's private stack free list, refilled from and spilled to the pool in
// batches so that spawn and exit take no lock in the common case. Owned by one worker thread.
// Its list has room for every stack it can hold from the start (one over capacity, before a
// spill), so that an exit, on the worker's own stack where nobody could take an exception,
// never allocates.
class stack_cache {
 public:
  static constexpr std::size_t capacity = 32;

  stack_cache() { items_.reserve(capacity + 1); }

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
