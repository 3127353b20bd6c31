// fault_floor — how fast this machine commits fresh stack pages, and what that rate allows the
// timers workload of benchmarks/compare (n goroutines that each sleep d) at the very best.
//
//   fault_floor [--workers W] [--pages P] [--n N] [--sleep-ms D]
//
// Every goroutine that has started and not yet woken holds a stack page of its own: the top page
// of its stack, where its frames are. A stack given back by a goroutine that woke can be reused
// warm, but the first goroutines sleep d before any stack comes back, so the runtime must commit
// a fresh page for each goroutine alive at once beyond those it reuses. If the workers can commit
// at most c pages per millisecond between them, then at every time t the goroutines started in
// (t - d, t] number at most c * t, and the goroutines started by t number at most
// S(t) = c * (t + (t - d) + (t - 2d) + ...), summing the positive terms. The last one starts no
// earlier than the t where S(t) reaches n, and wakes d later: that is the floor printed here,
// counting the page faults and nothing else a runtime does.
//
// c is measured the way goro lays its stacks out: each of W threads touches the top page of P
// fresh stacks of options::stack_size bytes, every stack with its no-access guard page below it,
// all threads at once, with the guards made both ways goro makes them (detail/stack.hpp): guard
// markers, which cost no mapping and are goro's default stacks where the kernel has them (Linux
// 6.13), and fences, an mprotect that splits the mapping, which goro falls back to elsewhere.
// The guards are made before the clock starts, and the markers once more inside the timed part,
// a slab at a time as goro makes them, for what a fresh stack costs in all. The program says
// which kind goro's default stacks are here. The same is measured for pages that are adjacent,
// and printed with the floor they would allow a runtime whose stacks take half a page each
// (2 KiB, Go's initial stack size).
#include <sys/mman.h>
#include <unistd.h>
#include <goro/goro.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

std::size_t page_bytes() {
  return static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

struct settings {
  unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  std::size_t pages = 4000;  // fresh pages per thread
  double goroutines = 100'000;
  double sleep_ms = 10;
};

// guard_kind: how the page below each stack is made no-access, as goro's stack kinds do it.
// marker_timed: markers made inside the timed part, a slab of stacks at a time as goro makes them
// for a new slab (stack_pool::install_guards), so that the rate counts what a fresh stack costs.
enum class guard_kind { none, marker, fence, marker_timed };

// region: one fresh mapping of `count` strides, reserved like goro's stacks.
struct region {
  char* base = nullptr;
  std::size_t bytes = 0;

  region(std::size_t stride, std::size_t count, guard_kind guard) : bytes(stride * count) {
    void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED) {
      std::perror("fault_floor: mmap");
      std::exit(1);
    }
    base = static_cast<char*>(mapped);
    if (guard == guard_kind::marker || guard == guard_kind::fence) {
      const auto kind = guard == guard_kind::marker ? goro::detail::stack_kind::marked
                                                    : goro::detail::stack_kind::fenced;
      for (std::size_t i = 0; i < count; i += slab_stacks) install_slab_guards(kind, i, stride);
    }
  }

  // install_slab_guards: the guards of the slab of stacks that starts at stack `first`, made by
  // goro's own stack_pool::install_guards. `count` is a multiple of slab_stacks.
  void install_slab_guards(goro::detail::stack_kind kind, std::size_t first,
                           std::size_t stride) const {
    if (!goro::detail::stack_pool::install_guards(kind, base + first * stride, stride, true)) {
      std::perror("fault_floor: guard pages (raise vm.max_map_count or lower --pages)");
      std::exit(1);
    }
  }

  static constexpr std::size_t slab_stacks = goro::detail::stack_pool::slab_stacks;

  region(const region&) = delete;
  region& operator=(const region&) = delete;
  ~region() { munmap(base, bytes); }
};

// pages_per_ms: every thread touches the last word of each of its `count` strides at once
// (`count`: a multiple of stack_pool::slab_stacks); returns the fresh pages committed per
// millisecond by all of them together.
double pages_per_ms(unsigned threads, std::size_t stride, std::size_t count, guard_kind guard) {
  std::vector<std::unique_ptr<region>> regions;
  for (unsigned t = 0; t < threads; ++t) {
    regions.push_back(std::make_unique<region>(stride, count, guard));
  }
  const auto start = clock_type::now();
  std::vector<std::thread> touchers;
  for (unsigned t = 0; t < threads; ++t) {
    touchers.emplace_back([&region = *regions[t], stride, count, guard] {
      for (std::size_t i = 0; i < count; ++i) {
        if (guard == guard_kind::marker_timed && i % region::slab_stacks == 0) {
          region.install_slab_guards(goro::detail::stack_kind::marked, i, stride);
        }
        auto* top_word = reinterpret_cast<volatile long*>(region.base + (i + 1) * stride) - 1;
        *top_word = static_cast<long>(i);
      }
    });
  }
  for (auto& toucher : touchers) toucher.join();
  const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
  return static_cast<double>(threads) * static_cast<double>(count) / ms;
}

// started_by: the most goroutines that can have started by `t` ms when the goroutines started
// in any window (t - d, t] are at most `per_ms * t` (S(t) in the header comment).
double started_by(double t, double per_ms, double d) {
  double total = 0;
  for (double start = t; start > 0; start -= d) total += per_ms * start;
  return total;
}

// floor_ms: the earliest time the last of `n` goroutines can wake.
double floor_ms(double n, double per_ms, double d) {
  double low = 0;
  double high = d;
  while (started_by(high, per_ms, d) < n) high *= 2;
  for (int i = 0; i < 60; ++i) {
    const double middle = (low + high) / 2;
    if (started_by(middle, per_ms, d) < n) {
      low = middle;
    } else {
      high = middle;
    }
  }
  return high + d;
}

bool parse(int argc, char** argv, settings& s) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    char* end = nullptr;
    const double value = std::strtod(argv[i + 1], &end);
    if (end == argv[i + 1] || *end != '\0' || !(value > 0) || value > 1e9) return false;
    if (flag == "--workers") {
      s.workers = static_cast<unsigned>(value);
    } else if (flag == "--pages") {
      s.pages = static_cast<std::size_t>(value);
    } else if (flag == "--n") {
      s.goroutines = value;
    } else if (flag == "--sleep-ms") {
      s.sleep_ms = value;
    } else {
      return false;
    }
  }
  return argc % 2 == 1;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (!parse(argc, argv, s)) {
    std::fprintf(stderr, "usage: fault_floor [--workers W] [--pages P] [--n N] [--sleep-ms D]\n");
    return 2;
  }
  // A guarded stack spans options::stack_size and its guard page below (stack.hpp).
  const std::size_t stack_size = goro::options{}.stack_size;
  const std::size_t stride = stack_size + page_bytes();
  const std::size_t slab = goro::detail::stack_pool::slab_stacks;
  s.pages = (s.pages + slab - 1) / slab * slab;
  const bool markers = goro::detail::guard_markers_supported();
  std::printf("%u threads, %zu fresh pages each; %.0f goroutines sleeping %.0f ms\n", s.workers,
              s.pages, s.goroutines, s.sleep_ms);
  auto print = [&](const char* layout, double per_ms, double stacks_per_page, bool goros) {
    std::printf("%-34s %7.1f pages/ms, floor %6.1f ms%s\n", layout, per_ms,
                floor_ms(s.goroutines, stacks_per_page * per_ms, s.sleep_ms),
                goros ? "  <- goro's default stacks here" : "");
  };
  const std::string size = std::to_string(stack_size / 1024) + "-KiB stacks";
  if (markers) {
    print((size + ", guard markers:").c_str(),
          pages_per_ms(s.workers, stride, s.pages, guard_kind::marker), 1, true);
    print((size + ", markers timed too:").c_str(),
          pages_per_ms(s.workers, stride, s.pages, guard_kind::marker_timed), 1, false);
  }
  print((size + ", fences (mprotect):").c_str(),
        pages_per_ms(s.workers, stride, s.pages, guard_kind::fence), 1, !markers);
  print("adjacent pages, 2 stacks each:",
        pages_per_ms(s.workers, page_bytes(), s.pages, guard_kind::none), 2, false);
  return 0;
}
