// Tests of goro/detail/stack.hpp: the four kinds of goroutine stack (mapped, fenced, marked,
// canaried), which kind each stack_guard mode takes and when automatic moves from one to the next,
// that guards fault and survive trimming, that batches hand out distinct stacks, that no page of a
// new stack is committed before it is touched, and that trimming gives whole slabs (and their
// mapping budget) back.
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <goro/detail/stack.hpp>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using goro::detail::stack_kind;
using goro::detail::stack_pool;
using goro::detail::stack_span;

constexpr std::size_t stack_size = 64 * 1024;
constexpr std::size_t plenty_of_mappings = 65530;

std::size_t mappings_now() {
  std::ifstream in("/proc/self/maps");
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

std::vector<stack_span> acquire(stack_pool& pool, std::size_t n) {
  std::vector<stack_span> out;
  while (out.size() < n) pool.acquire_batch(out, n - out.size());
  return out;
}

// mapped: whether the page holding `address` is mapped (mincore fails with ENOMEM if not).
bool mapped(const char* address) {
  const std::size_t page = goro::detail::page_size();
  auto* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(address) / page * page);
  unsigned char resident = 0;
  return mincore(start, page, &resident) == 0;
}

// A trim that is due at once, whatever trimmed last.
void trim_now(stack_pool& pool, std::size_t keep = 0) {
  static auto later = std::chrono::steady_clock::now();
  later += std::chrono::hours(1);
  pool.trim(later, keep);
}

// Writes one byte just below the stack's usable range in a child process; returns the signal
// that ended the child, or 0 if it exited normally.
int signal_of_write_below(const stack_span& s) {
  auto result = goro_test::run_in_child([&] {
    volatile char* below = s.bottom - 1;
    *below = 1;
    return 0;
  });
  return result.signaled ? result.signal : 0;
}

void touch_whole_stack(const stack_span& s) {
  std::memset(s.bottom, 0x5a, s.size);
}

// kernel_at_least: whether the running kernel's release is major.minor or later.
bool kernel_at_least(int major, int minor) {
  utsname name{};
  if (uname(&name) != 0) return false;
  int running_major = 0;
  int running_minor = 0;
  if (std::sscanf(name.release, "%d.%d", &running_major, &running_minor) != 2) return false;
  return running_major > major || (running_major == major && running_minor >= minor);
}

// guard_choice: a guard mode, and whether the pool may use guard markers for it.
struct guard_choice {
  goro::stack_guard mode;
  bool markers;
};

// slab_guards: a guard choice for each kind of slab: canaried, marked and fenced.
const std::vector<guard_choice> slab_guards = {
    {goro::stack_guard::never, false},
    {goro::stack_guard::automatic, true},
    {goro::stack_guard::automatic, false},
};

// acquire_concurrently: `threads` threads that start together each take `batches` batches of
// 16 stacks; returns all the stacks, by address.
std::vector<stack_span> acquire_concurrently(stack_pool& pool, int threads, int batches) {
  std::vector<std::vector<stack_span>> taken(static_cast<std::size_t>(threads));
  std::atomic<int> ready{0};
  std::vector<std::thread> workers;
  for (auto& list : taken) {
    workers.emplace_back([&, batches] {
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }  // spin: threads that start together run out of stacks together
      for (int b = 0; b < batches; ++b) pool.acquire_batch(list, 16);
    });
  }
  for (std::thread& w : workers) w.join();
  std::vector<stack_span> all;
  for (const auto& list : taken) all.insert(all.end(), list.begin(), list.end());
  std::sort(all.begin(), all.end(),
            [](const stack_span& a, const stack_span& b) { return a.bottom < b.bottom; });
  return all;
}

}  // namespace

TEST_CASE(
    "without guard markers, automatic fences stacks up to half its mapping budget, then "
    "canaries them",
    "[stack]") {
  stack_pool pool;
  // A budget of 1024 mappings allows 256 fenced stacks (two mappings each, half the budget), four
  // slabs; a sanitized build leaves its runtime more and allows 64.
  pool.configure(stack_size, goro::stack_guard::automatic, 1024, 0, false);
  const std::size_t allowed = goro::detail::sanitized_build ? 64 : 256;
  const std::size_t before = mappings_now();
  auto stacks = acquire(pool, allowed + 100);
  const std::size_t added = mappings_now() - before;
  std::size_t fenced = 0;
  for (const stack_span& s : stacks) {
    CHECK(s.slab != nullptr);
    if (s.kind() == stack_kind::fenced) {
      ++fenced;
      CHECK(s.guarded());
      CHECK(s.size == stack_size);  // all of it, the guard page below it
    } else {
      CHECK(s.kind() == stack_kind::canaried);
      CHECK_FALSE(s.guarded());
      CHECK(goro::detail::stack_canary_intact(s));
    }
  }
  CHECK(fenced == allowed);
  // Each fenced stack is two mappings (its guard and its usable pages); the slabs beyond the
  // budget are one each. (A sanitizer's runtime maps memory of its own meanwhile.)
  CHECK(added >= 2 * allowed);
  if (!goro::detail::sanitized_build) CHECK(added <= 2 * allowed + 4);
  touch_whole_stack(stacks.front());
  touch_whole_stack(stacks.back());
  if (!goro::detail::sanitized_build) {
    CHECK(signal_of_write_below(stacks.front()) == SIGSEGV);
    CHECK(signal_of_write_below(stacks[allowed - 1]) == SIGSEGV);
  }
  pool.release_batch(stacks.data(), stacks.size());
}

TEST_CASE("where the kernel has guard markers, automatic marks every stack, costing no mapping",
          "[stack]") {
  if (!goro::detail::guard_markers_supported()) {
    WARN("this kernel has no guard markers (MADV_GUARD_INSTALL, Linux 6.13): nothing to test");
    return;
  }
  // A budget that would allow 256 fenced stacks: the markers neither use it nor stop at it.
  const std::size_t budget = GENERATE(std::size_t{1024}, plenty_of_mappings);
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::automatic, budget, 0, true);
  const std::size_t before = mappings_now();
  auto stacks = acquire(pool, 1000);
  const std::size_t added = mappings_now() - before;
  // At most one mapping per slab of 64 stacks (slabs share reservations, and the kernel may
  // merge neighbouring ones): 1000 fenced stacks would have added 2000.
  if (!goro::detail::sanitized_build) CHECK(added <= 1000 / 64 + 2);
  CHECK(added < 1000);
  for (const stack_span& s : stacks) {
    CHECK(s.kind() == stack_kind::marked);
    CHECK(s.guarded());
    CHECK(s.size == stack_size);  // all of it, the guard page below it
  }
  touch_whole_stack(stacks.front());
  touch_whole_stack(stacks.back());
  if (!goro::detail::sanitized_build) {
    CHECK(signal_of_write_below(stacks.front()) == SIGSEGV);
    CHECK(signal_of_write_below(stacks[500]) == SIGSEGV);
  }
  pool.release_batch(stacks.data(), stacks.size());
}

TEST_CASE("guards are installed on every stack of a slab, in one call or one per stack",
          "[stack]") {
  // A slab's markers go in one process_madvise where the kernel has it (at_once), else in one
  // madvise each; fences always in one mprotect each.
  const auto kind = GENERATE(stack_kind::fenced, stack_kind::marked);
  const bool at_once = GENERATE(true, false);
  if (kind == stack_kind::marked && !goro::detail::guard_markers_supported()) return;
  if (goro::detail::sanitized_build) return;  // the children's faults are what is checked
  const std::size_t slab_stacks = stack_pool::slab_stacks;
  const std::size_t bytes = slab_stacks * stack_size;
  void* mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  REQUIRE(mapping != MAP_FAILED);
  auto* base = static_cast<char*>(mapping);
  if (kind == stack_kind::marked && at_once && kernel_at_least(6, 14)) {
    CHECK(stack_pool::install_markers_at_once(base, stack_size));  // PIDFD_SELF is there
  }
  REQUIRE(stack_pool::install_guards(kind, base, stack_size, at_once));
  const std::size_t page = goro::detail::page_size();
  for (std::size_t k : {std::size_t{0}, std::size_t{1}, slab_stacks / 2, slab_stacks - 1}) {
    INFO("stack " << k);
    const stack_span s{base + k * stack_size + page, stack_size - page, nullptr};
    touch_whole_stack(s);  // the stack itself is usable
    CHECK(signal_of_write_below(s) == SIGSEGV);
  }
  munmap(mapping, bytes);
}

TEST_CASE("a guarded slab stack keeps its guard after its pages are given back", "[stack]") {
  const auto kind = GENERATE(stack_kind::fenced, stack_kind::marked);
  const bool markers = kind == stack_kind::marked;
  if (markers && !goro::detail::guard_markers_supported()) return;
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::automatic, plenty_of_mappings, 0, markers);
  auto stacks = acquire(pool, 3);
  for (const stack_span& s : stacks) {
    REQUIRE(s.kind() == kind);
    touch_whole_stack(s);
  }
  pool.release_batch(stacks.data(), stacks.size());
  trim_now(pool);  // sets the low-water mark: all three were free for the whole period
  trim_now(pool);  // gives them back with MADV_DONTNEED
  auto again = acquire(pool, 3);
  for (const stack_span& s : again) {
    CHECK(std::find_if(stacks.begin(), stacks.end(),
                       [&](const stack_span& t) { return t.bottom == s.bottom; }) != stacks.end());
    // Given back: the pages below the top page read as zero again.
    CHECK(s.bottom[0] == 0);
    if (!goro::detail::sanitized_build) CHECK(signal_of_write_below(s) == SIGSEGV);
  }
  pool.release_batch(again.data(), again.size());
}

TEST_CASE("unmapping fenced slabs gives their mappings back to the budget", "[stack]") {
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::automatic, 1024, 0, false);
  const std::size_t allowed = goro::detail::sanitized_build ? 64 : 256;
  for (int round = 0; round < 3; ++round) {
    auto stacks = acquire(pool, allowed);
    for (const stack_span& s : stacks) REQUIRE(s.kind() == stack_kind::fenced);
    pool.release_batch(stacks.data(), stacks.size());
    pool.release_all();
    REQUIRE(pool.slab_count() == 0);
    for (const stack_span& s : stacks) CHECK_FALSE(mapped(s.bottom));
  }
  auto stacks = acquire(pool, allowed);
  pool.release_batch(stacks.data(), stacks.size() - 1);  // one slab keeps a stack out
  trim_now(pool);
  trim_now(pool);
  CHECK(pool.slab_count() == 1);
  auto more = acquire(pool, allowed - 64);  // the budget of the three slabs unmapped
  for (const stack_span& s : more) CHECK(s.kind() == stack_kind::fenced);
  pool.release_batch(more.data(), more.size());
  pool.release_batch(&stacks.back(), 1);
}

TEST_CASE("when the kernel refuses fences, automatic goes on with the next kind of stack",
          "[stack]") {
  // The pool is told of a budget far beyond the kernel's real one, so the kernel's limit is met
  // while mprotect installs fences: that slab is unmapped and no fenced slab follows.
  std::size_t kernel_limit = 0;
  std::ifstream("/proc/sys/vm/max_map_count") >> kernel_limit;
  if (goro::detail::sanitized_build || kernel_limit == 0 || kernel_limit > 262144) {
    WARN("vm.max_map_count is " << kernel_limit << ": not tried in this build or at this limit");
    return;
  }
  stack_pool pool;
  pool.configure(goro::detail::minimum_stack_size, goro::stack_guard::automatic,
                 std::size_t{1} << 40, 0, false);
  std::vector<stack_span> stacks;
  stacks.reserve(kernel_limit / 2 + 1024);  // no allocation near the kernel's limit
  std::size_t fenced = 0;
  while (fenced == stacks.size() && stacks.size() < kernel_limit / 2 + 512) {
    pool.acquire_batch(stacks, 16);
    fenced = static_cast<std::size_t>(
        std::count_if(stacks.begin(), stacks.end(),
                      [](const stack_span& s) { return s.kind() == stack_kind::fenced; }));
  }
  CHECK(fenced > 0);
  CHECK(fenced < kernel_limit / 2);
  pool.acquire_batch(stacks, 16);
  for (std::size_t i = fenced; i < stacks.size(); ++i) {
    REQUIRE(stacks[i].kind() == stack_kind::canaried);
  }
  pool.release_batch(stacks.data(), stacks.size());
  pool.release_all();
  CHECK(pool.slab_count() == 0);
}

TEST_CASE("when the kernel refuses guard markers, automatic goes on with fenced stacks",
          "[stack]") {
  // The kernel marks no locked memory: after mlockall(MCL_FUTURE), every new mapping is locked
  // and MADV_GUARD_INSTALL fails with EINVAL. A process may lock its memory after goro probed
  // for markers, so the pool must take the refusal in its stride. In a child: the lock is for
  // the whole process.
  if (goro::detail::sanitized_build || !goro::detail::guard_markers_supported()) {
    WARN("not tried in a sanitized build or without guard markers");
    return;
  }
  constexpr int unguarded = 1, wrong_kind = 2, lock_refused = 3, threw = 4;
  auto result = goro_test::run_in_child([] {
    if (mlockall(MCL_FUTURE | MCL_ONFAULT) != 0) return lock_refused;
    stack_pool pool;
    pool.configure(goro::detail::minimum_stack_size, goro::stack_guard::automatic,
                   plenty_of_mappings, 0, true);
    std::vector<stack_span> stacks;
    try {
      stacks = acquire(pool, 100);  // two slabs: the pool does not try markers again
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return threw;
    }
    for (const stack_span& s : stacks) {
      if (s.kind() != stack_kind::fenced) return wrong_kind;
      if (!s.guarded()) return unguarded;
    }
    touch_whole_stack(stacks.back());
    volatile char* below = stacks.back().bottom - 1;
    *below = 1;  // faults: the fence is there
    return 0;
  });
  if (result.exited && result.exit_code == lock_refused) {
    WARN("mlockall(MCL_FUTURE) refused: nothing to test");
    return;
  }
  INFO("the child exited with " << result.exit_code << " (" << wrong_kind
                                << ": a stack not fenced; " << unguarded << ": unguarded; " << threw
                                << ": threw " << result.err << ")");
  CHECK(result.signaled);
  CHECK(result.signal == SIGSEGV);
}

TEST_CASE("each guard mode takes its kind of stack", "[stack]") {
  struct expectation {
    goro::stack_guard mode;
    bool markers;  // whether the pool may use guard markers
    stack_kind kind;
  };
  const auto [mode, markers, kind] = GENERATE(values<expectation>({
      {goro::stack_guard::never, true, stack_kind::canaried},
      {goro::stack_guard::always, true, stack_kind::mapped},
      {goro::stack_guard::automatic, true, stack_kind::marked},
      {goro::stack_guard::automatic, false, stack_kind::fenced},
  }));
  if (markers && !goro::detail::guard_markers_supported()) return;
  stack_pool pool;
  pool.configure(stack_size, mode, plenty_of_mappings, 0, markers);
  auto stacks = acquire(pool, 20);
  for (const stack_span& s : stacks) CHECK(s.kind() == kind);
  pool.release_batch(stacks.data(), stacks.size());
}

TEST_CASE("a canary detects a write below its stack", "[stack]") {
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::never, plenty_of_mappings, 0, false);
  auto stacks = acquire(pool, 2);
  for (const stack_span& s : stacks) {
    touch_whole_stack(s);  // stays within the usable range: the canary survives
    CHECK(goro::detail::stack_canary_intact(s));
  }
  stacks[1].bottom[-1] = 0;
  CHECK_FALSE(goro::detail::stack_canary_intact(stacks[1]));
  CHECK(goro::detail::stack_canary_intact(stacks[0]));
  pool.release_batch(stacks.data(), stacks.size());
}

TEST_CASE("a batch holds distinct stacks that do not overlap", "[stack]") {
  const auto mode = GENERATE(goro::stack_guard::never, goro::stack_guard::automatic);
  stack_pool pool;
  pool.configure(stack_size, mode, plenty_of_mappings, 0, goro::detail::guard_markers_supported());
  std::vector<stack_span> batch;
  pool.acquire_batch(batch, 16);
  REQUIRE(!batch.empty());
  // Fresh slab stacks come 16 at a time; a mapped stack comes alone.
  if (batch.front().slab != nullptr) CHECK(batch.size() == 16);
  auto more = acquire(pool, 100);
  batch.insert(batch.end(), more.begin(), more.end());
  std::sort(batch.begin(), batch.end(),
            [](const stack_span& a, const stack_span& b) { return a.bottom < b.bottom; });
  for (std::size_t i = 1; i < batch.size(); ++i) {
    // Each stack ends below the next one's canary, or below its guard page.
    CHECK(batch[i - 1].top() <= batch[i].bottom - goro::detail::stack_canary_size);
  }
  pool.release_batch(batch.data(), batch.size());
}

// address_space_bytes: the process's mapped address space (/proc/self/statm, first field).
std::size_t address_space_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t pages = 0;
  in >> pages;
  return pages * goro::detail::page_size();
}

TEST_CASE("slabs are carved from shared reservations of address space, all given back at the end",
          "[stack]") {
  // Reservations are for 1, 2, 4... slabs: five slabs take the first three, which leaves two
  // slabs' worth reserved and not carved.
  const auto [mode, markers] = GENERATE(from_range(slab_guards));
  if (markers && !goro::detail::guard_markers_supported()) return;
  const std::size_t before = address_space_bytes();
  {
    stack_pool pool;
    pool.configure(stack_size, mode, plenty_of_mappings, 0, markers);
    auto stacks = acquire(pool, 64 * 5);
    // The second and third slabs share a reservation: one lies right above the other, where
    // the kernel places a mapping of its own below the one before.
    const goro::detail::stack_slab& second = *stacks[64].slab;
    CHECK(stacks[128].slab->base == second.base + second.bytes);
    CHECK(address_space_bytes() >= before + 7 * second.bytes);
    for (const stack_span& s : {stacks[63], stacks[64], stacks[200], stacks.back()}) {
      touch_whole_stack(s);
    }
    pool.release_batch(stacks.data(), stacks.size());
    pool.release_all();
    CHECK(pool.slab_count() == 0);
  }
  // Within a megabyte (the allocator's own mappings may grow): the reservation's two uncarved
  // slabs alone would be 8 MiB.
  CHECK(address_space_bytes() <= before + (1 << 20));
}

TEST_CASE("a reservation the kernel refuses falls back to one slab, and then to a clear error",
          "[stack]") {
  // A cap on the address space stands in for strict overcommit: after the first reservation
  // (one slab) there is room for one more slab but not for the two the pool asks for next.
  if (goro::detail::sanitized_build) {
    WARN("not tried in a sanitized build (its runtime reserves address space of its own)");
    return;
  }
  constexpr int refused_early = 1, no_error = 2, wrong_error = 3;
  const goro_test::child_result result = goro_test::run_in_child([] {
    const std::size_t slab = 64 * stack_size;
    stack_pool pool;
    pool.configure(stack_size, goro::stack_guard::never, plenty_of_mappings, 0, false);
    std::vector<stack_span> stacks = acquire(pool, 1);  // the first reservation: one slab
    const rlimit cap{address_space_bytes() + slab + slab / 2, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &cap) != 0) return refused_early;
    try {
      auto more = acquire(pool, 64 + 63);  // the rest of the first slab, and a second one
      stacks.insert(stacks.end(), more.begin(), more.end());
      for (const stack_span& s : stacks) touch_whole_stack(s);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return refused_early;
    }
    try {
      acquire(pool, 1);  // a third slab does not fit
    } catch (const goro::error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return std::strstr(e.what(), "cannot reserve goroutine stacks") != nullptr ? 0 : wrong_error;
    }
    return no_error;
  });
  INFO("the child exited with " << result.exit_code << " (" << refused_early
                                << ": refused before the cap was reached; " << no_error
                                << ": no error past it; " << wrong_error
                                << ": another error); its stderr: " << result.err);
  CHECK(result.exited);
  CHECK(result.exit_code == 0);
}

TEST_CASE("trimming unmaps the slabs whose stacks are all free", "[stack]") {
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::never, plenty_of_mappings, 0, false);
  auto stacks = acquire(pool, 64 * 4);
  for (const stack_span& s : stacks) CHECK(mapped(s.bottom));
  // Keep one stack of the last slab out (the slab being carved is never unmapped anyway).
  pool.release_batch(stacks.data(), stacks.size() - 1);
  trim_now(pool);
  trim_now(pool);
  CHECK_FALSE(mapped(stacks.front().bottom));
  CHECK_FALSE(mapped(stacks[64 * 3 - 1].bottom));
  // The stack still out, and its slab, are untouched by the trim.
  CHECK(mapped(stacks[64 * 3].bottom));
  touch_whole_stack(stacks.back());
  CHECK(goro::detail::stack_canary_intact(stacks.back()));
  pool.release_batch(&stacks.back(), 1);
  pool.release_all();
  CHECK_FALSE(mapped(stacks.back().bottom));
}

// Stacks of their own mapping (stack_guard::always) are trimmed one by one: a trim leaves `keep`
// free stacks as they are, gives back the pages of the others, and of those keeps `keep` mapped
// (for reuse without a new mapping) and unmaps the rest.
TEST_CASE("trimming keeps as many free stacks of their own mapping as asked", "[stack]") {
  constexpr std::size_t keep = 4;
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::always, plenty_of_mappings, 0, false);
  auto stacks = acquire(pool, 10);
  pool.release_batch(stacks.data(), stacks.size());
  trim_now(pool, keep);
  trim_now(pool, keep);
  const auto still_mapped = std::count_if(stacks.begin(), stacks.end(),
                                          [](const stack_span& s) { return mapped(s.bottom); });
  CHECK(still_mapped == static_cast<std::ptrdiff_t>(2 * keep));
  pool.release_all();
  for (const stack_span& s : stacks) CHECK_FALSE(mapped(s.bottom));
}

TEST_CASE("a pool reuses the stacks it was given back", "[stack]") {
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::automatic, plenty_of_mappings, 0,
                 goro::detail::guard_markers_supported());
  auto first = acquire(pool, 10);
  pool.release_batch(first.data(), first.size());
  auto second = acquire(pool, 10);
  for (const stack_span& s : second) {
    CHECK(std::count_if(first.begin(), first.end(),
                        [&](const stack_span& t) { return t.bottom == s.bottom; }) == 1);
  }
  pool.release_batch(second.data(), second.size());
}

// release_shuffled: gives `stacks` back 16 at a time, in a random order.
void release_shuffled(stack_pool& pool, std::vector<stack_span> stacks) {
  std::mt19937 random(7);
  std::shuffle(stacks.begin(), stacks.end(), random);
  for (std::size_t i = 0; i < stacks.size(); i += 16) {
    pool.release_batch(stacks.data() + i, std::min<std::size_t>(16, stacks.size() - i));
  }
}

TEST_CASE("a pool hands its free stacks out in the order it carved them, however they came back",
          "[stack]") {
  // Goroutines started one after another then get neighbouring stacks again, as fresh ones do.
  const auto mode = GENERATE(goro::stack_guard::never, goro::stack_guard::automatic);
  stack_pool pool;
  pool.configure(stack_size, mode, plenty_of_mappings, 0, goro::detail::guard_markers_supported());
  const auto carved = acquire(pool, 64 * 3 + 10);
  if (carved.front().slab == nullptr) return;  // mapped stacks (a sanitizer's budget): no slabs
  for (int round = 0; round < 3; ++round) {
    release_shuffled(pool, carved);
    const auto again = acquire(pool, carved.size());
    REQUIRE(again.size() == carved.size());
    for (std::size_t i = 0; i < carved.size(); ++i) {
      INFO("round " << round << ", stack " << i);
      CHECK(again[i].bottom == carved[i].bottom);
    }
  }
  pool.release_batch(carved.data(), carved.size());
}

TEST_CASE("trimming gives back the free stacks that would be handed out last", "[stack]") {
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::never, plenty_of_mappings, 0, false);
  const std::size_t page = goro::detail::page_size();
  auto stacks = acquire(pool, 64 * 3);
  // Commit the page below each stack's top page; keep the first stack of every slab out, so
  // that no slab is wholly free and unmapped.
  for (const stack_span& s : stacks) s.top()[-static_cast<std::ptrdiff_t>(page) - 1] = 1;
  std::vector<stack_span> freed;
  for (std::size_t i = 0; i < stacks.size(); ++i) {
    if (i % 64 != 0) freed.push_back(stacks[i]);
  }
  release_shuffled(pool, freed);
  trim_now(pool, 100);  // starts a period: nothing was unused for a whole one yet
  trim_now(pool, 100);  // 189 free all period long, 100 kept: the last 89 are given back
  auto resident = [&](const stack_span& s) {
    unsigned char bit = 0;
    auto* below_top =
        reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(s.top() - 1) / page - 1) * page);
    REQUIRE(mincore(below_top, page, &bit) == 0);
    return (bit & 1) != 0;
  };
  std::size_t kept = 0;
  for (std::size_t i = 0; i < freed.size(); ++i) {
    INFO("free stack " << i);
    CHECK(resident(freed[i]) == (i < 100));
    kept += resident(freed[i]) ? 1 : 0;
  }
  CHECK(kept == 100);
  for (std::size_t i = 0; i < stacks.size(); i += 64) pool.release_batch(&stacks[i], 1);
  pool.release_all();
  CHECK_FALSE(mapped(stacks.front().bottom));
}

TEST_CASE("workers that run out of stacks at once get distinct stacks, and no slab is lost",
          "[stack][threads]") {
  // Each thread needs a new slab every fourth batch and makes it outside the pool's lock, so
  // threads that run out together make a slab each: the pool keeps the extra ones and carves
  // them later. Several rounds, since whether two threads meet there is up to the scheduler.
  const auto [mode, markers] = GENERATE(from_range(slab_guards));
  if (markers && !goro::detail::guard_markers_supported()) return;
  for (int round = 0; round < 8; ++round) {
    stack_pool pool;
    pool.configure(stack_size, mode, plenty_of_mappings, 0, markers);
    const std::vector<stack_span> all = acquire_concurrently(pool, 4, 40);
    for (std::size_t i = 1; i < all.size(); ++i) {
      REQUIRE(all[i - 1].top() <= all[i].bottom - goro::detail::stack_canary_size);
    }
    for (const stack_span& s : all) REQUIRE(mapped(s.bottom));
    // Slabs hold 64 stacks: no more slabs than the stacks need, plus at most one per thread
    // mapped in a race and not carved from yet.
    if (all.front().slab != nullptr) CHECK(pool.slab_count() <= (all.size() + 63) / 64 + 4);

    pool.release_batch(all.data(), all.size());
    pool.release_all();
    CHECK(pool.slab_count() == 0);
    for (const stack_span& s : all) CHECK_FALSE(mapped(s.bottom));
  }
}

TEST_CASE("a new stack has no page committed before it is touched", "[stack]") {
  // API 1.4: pages are committed as they are touched. (Committing them ahead, in a batch, made
  // the pages already in use dearer to touch on the benchmark machine: see stack.hpp.) The one
  // exception: the top page of one stack in each 2 MiB of a marked slab, written by the pool
  // so that the kernel makes that 2 MiB's page table in a fault, is committed (its goroutine
  // writes it at its start anyway).
  const std::size_t page = goro::detail::page_size();
  const auto [mode, markers] = GENERATE(values<guard_choice>({
      {goro::stack_guard::automatic, true},   // marked
      {goro::stack_guard::automatic, false},  // fenced
      {goro::stack_guard::always, false},     // mapped
  }));
  if (markers && !goro::detail::guard_markers_supported()) return;
  stack_pool pool;
  pool.configure(stack_size, mode, plenty_of_mappings, 0, markers);
  auto stacks = acquire(pool, 100);  // more than one batch, and stacks in several 2 MiB
  std::vector<std::uintptr_t> tables_with_a_committed_top;
  for (const stack_span& s : stacks) {
    REQUIRE(s.guarded());
    std::vector<unsigned char> resident(s.size / page);
    REQUIRE(mincore(s.bottom, s.size, resident.data()) == 0);
    CHECK(
        std::none_of(resident.begin(), resident.end() - 1, [](unsigned char r) { return r & 1; }));
    if ((resident.back() & 1) != 0) {
      CHECK(s.kind() == stack_kind::marked);
      tables_with_a_committed_top.push_back(reinterpret_cast<std::uintptr_t>(s.top() - 1) >> 21);
    }
    // Nor its guard page, which the pool writes to before splitting a fenced slab (stack.hpp,
    // touch_before_split) and then empties.
    unsigned char guard_resident = 1;
    REQUIRE(mincore(s.bottom - page, page, &guard_resident) == 0);
    CHECK((guard_resident & 1) == 0);
  }
  // At most one committed top page in each 2 MiB.
  const std::size_t committed_tops = tables_with_a_committed_top.size();
  std::sort(tables_with_a_committed_top.begin(), tables_with_a_committed_top.end());
  tables_with_a_committed_top.erase(
      std::unique(tables_with_a_committed_top.begin(), tables_with_a_committed_top.end()),
      tables_with_a_committed_top.end());
  CHECK(committed_tops == tables_with_a_committed_top.size());
  touch_whole_stack(stacks.front());
  std::vector<unsigned char> resident(stacks.front().size / page);
  REQUIRE(mincore(stacks.front().bottom, stacks.front().size, resident.data()) == 0);
  CHECK(std::all_of(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; }));
  pool.release_batch(stacks.data(), stacks.size());
}

TEST_CASE("a marked slab's page tables are made by page faults before its markers go in",
          "[stack]") {
  // stack.hpp: markers installed on fresh address space made page tables with no fault, and a
  // host that shadows page tables then dropped its translations of the stacks in use nearby.
  // Every 2 MiB that a guard falls in must hold a page the pool faulted in (a stack's top page,
  // or for stacks of 2 MiB or more, its lowest one), unless the guard is all the slab has there.
  if (!goro::detail::guard_markers_supported()) return;
  const std::size_t page = goro::detail::page_size();
  constexpr std::size_t table_span = std::size_t{2} << 20;
  REQUIRE(page / sizeof(void*) * page == table_span);  // 4 KiB pages
  // Spans below, at and above 2 MiB; the slab starting on a 2 MiB boundary or a little below
  // one, so that its first guard is alone in its 2 MiB.
  const std::size_t span =
      GENERATE(std::size_t{16 << 10} + 4096, std::size_t{256 << 10} + 4096, std::size_t{2} << 20,
               std::size_t{4} << 20, (std::size_t{4} << 20) + 4096);
  const std::size_t offset = GENERATE(std::size_t{0}, std::size_t{4096}, std::size_t{12288});
  INFO("span " << span << ", slab starts " << offset << " bytes below a 2 MiB boundary");
  const std::size_t slab_bytes = stack_pool::slab_stacks * span;
  const std::size_t bytes = slab_bytes + 2 * table_span;
  void* mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  REQUIRE(mapping != MAP_FAILED);
  // The first 2 MiB boundary at least `offset` into the mapping.
  const auto aligned =
      ((reinterpret_cast<std::uintptr_t>(mapping) + offset) / table_span + 1) * table_span;
  char* const base = reinterpret_cast<char*>(aligned - offset);
  REQUIRE(stack_pool::install_guards(stack_kind::marked, base, span, true));
  char* const end = base + slab_bytes;
  std::size_t faulted_in = 0;
  for (std::size_t k = 0; k < stack_pool::slab_stacks; ++k) {
    char* const guard = base + k * span;
    const auto table = reinterpret_cast<std::uintptr_t>(guard) / table_span;
    char* const from = std::max(base, reinterpret_cast<char*>(table * table_span));
    char* const to = std::min(end, reinterpret_cast<char*>((table + 1) * table_span));
    std::vector<unsigned char> resident(static_cast<std::size_t>(to - from) / page);
    REQUIRE(mincore(from, static_cast<std::size_t>(to - from), resident.data()) == 0);
    const auto committed = std::count_if(resident.begin(), resident.end(),
                                         [](unsigned char r) { return (r & 1) != 0; });
    INFO("guard " << k);
    if (from == guard && to == guard + page) {
      CHECK(committed == 0);  // nothing of the slab to fault in there
    } else {
      CHECK(committed == 1);
      ++faulted_in;
    }
  }
  CHECK(faulted_in > 0);
  munmap(mapping, bytes);
}

// API 1.4: an unguarded stack has "a canary of at least 64 bytes at [its] low end": a change to
// any one of the 64 bytes at the low end of the stack's reservation is seen.
TEST_CASE("a canary notices a change to any one of the 64 bytes at its stack's low end",
          "[stack][contract]") {
  STATIC_REQUIRE(goro::detail::stack_canary_size >= 64);
  stack_pool pool;
  pool.configure(stack_size, goro::stack_guard::never, plenty_of_mappings, 0, false);
  auto stacks = acquire(pool, 2);
  const stack_span& s = stacks[1];
  REQUIRE(s.kind() == stack_kind::canaried);
  REQUIRE(goro::detail::stack_canary_intact(s));
  int unnoticed = 0;
  int not_restored = 0;
  for (std::ptrdiff_t below = 1; below <= 64; ++below) {
    char& byte = s.bottom[-below];
    const char kept = byte;
    byte = static_cast<char>(~kept);
    if (goro::detail::stack_canary_intact(s)) ++unnoticed;
    byte = kept;
    if (!goro::detail::stack_canary_intact(s)) ++not_restored;
  }
  CHECK(unnoticed == 0);
  CHECK(not_restored == 0);
  pool.release_batch(stacks.data(), stacks.size());
}
