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
// fresh stacks of options::stack_size bytes, every stack with its no-access guard page below it
// (goro's default stacks), all threads at once. The guard pages are made before the clock starts.
// The same is measured for pages that are adjacent, and printed with the floor they would allow
// a runtime whose stacks take half a page each (2 KiB, Go's initial stack size).
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

// region: one fresh mapping of `count` strides, reserved like goro's stacks.
struct region {
  char* base = nullptr;
  std::size_t bytes = 0;

  region(std::size_t stride, std::size_t count, bool guarded) : bytes(stride * count) {
    void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED) {
      std::perror("fault_floor: mmap");
      std::exit(1);
    }
    base = static_cast<char*>(mapped);
    for (std::size_t i = 0; guarded && i < count; ++i) {
      if (mprotect(base + i * stride, page_bytes(), PROT_NONE) != 0) {
        std::perror("fault_floor: mprotect (raise vm.max_map_count or lower --pages)");
        std::exit(1);
      }
    }
  }
  region(const region&) = delete;
  region& operator=(const region&) = delete;
  ~region() { munmap(base, bytes); }
};

// pages_per_ms: every thread touches the last word of each of its `count` strides at once;
// returns the fresh pages committed per millisecond by all of them together.
double pages_per_ms(unsigned threads, std::size_t stride, std::size_t count, bool guarded) {
  std::vector<std::unique_ptr<region>> regions;
  for (unsigned t = 0; t < threads; ++t) {
    regions.push_back(std::make_unique<region>(stride, count, guarded));
  }
  const auto start = clock_type::now();
  std::vector<std::thread> touchers;
  for (unsigned t = 0; t < threads; ++t) {
    touchers.emplace_back([&region = *regions[t], stride, count] {
      for (std::size_t i = 0; i < count; ++i) {
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
    const double value = std::atof(argv[i + 1]);
    if (value <= 0) return false;
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
  const std::size_t stride = goro::options{}.stack_size;
  const double strided = pages_per_ms(s.workers, stride, s.pages, true);
  const double adjacent = pages_per_ms(s.workers, page_bytes(), s.pages, false);
  std::printf("%u threads, %zu fresh pages each; %.0f goroutines sleeping %.0f ms\n", s.workers,
              s.pages, s.goroutines, s.sleep_ms);
  std::printf("guarded %zu-KiB stacks (goro): %6.1f pages/ms, floor %6.1f ms\n", stride / 1024,
              strided, floor_ms(s.goroutines, strided, s.sleep_ms));
  std::printf("adjacent pages, 2 stacks each:  %6.1f pages/ms, floor %6.1f ms\n", adjacent,
              floor_ms(s.goroutines, 2 * adjacent, s.sleep_ms));
  return 0;
}
