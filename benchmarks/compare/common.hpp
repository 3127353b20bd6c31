// benchmarks/compare/common.hpp — what the side-by-side comparison programs share: the command
// line, the workload table, the RESULT line and resident-memory readings.
//
// Every program (compare_goro, compare_thread, compare_fiber, and the Go peer in
// benchmarks/peers/go) runs one workload per process and prints one line:
//
//   RESULT system=goro workload=skynet workers=2 n=1000000 value=0.612345 unit=s check=499999500000
//
// value is the elapsed time of the timed section in seconds (unit=s), or KiB of resident memory
// per parked task (unit=KiB) for idle_memory; check is the workload's result. A program whose
// check is wrong prints why on stderr and exits with status 1 — a fast wrong answer is not a
// result. tools/compare runs these programs and builds the table.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace compare {

// measurement: what one run of a workload produced.
struct measurement {
  double value = 0;        // seconds, or KiB per task for idle_memory
  std::int64_t check = 0;  // the workload's result, compared with workload::expected
};

// workload: one entry of a program's table.
struct workload {
  std::string_view name;
  std::int64_t default_n;  // the size used when --n is not given
  std::string_view unit;   // "s" or "KiB"
  std::int64_t (*expected)(std::int64_t n);
  measurement (*run)(std::int64_t n, unsigned workers);
};

// triangle: 0 + 1 + ... + (n - 1), the check of every workload that sums 0..n-1.
inline std::int64_t triangle(std::int64_t n) {
  return n * (n - 1) / 2;
}

// identity: the check of workloads that count their n operations.
inline std::int64_t identity(std::int64_t n) {
  return n;
}

// The parallel workload: n tasks, task i computes mix_chain(i, parallel_steps) and nothing else,
// and the check is the sum of their results. The Go peer's mixChain is the same function, so both
// compilers emit the same chain of dependent multiplies and the row compares the runtimes.
inline constexpr std::int64_t parallel_steps = std::int64_t{1} << 17;

// mix_chain: `steps` rounds of splitmix64's step, each round's input the previous round's output:
// a chain of dependent multiplies that no compiler can vectorise or shorten.
inline std::uint64_t mix_chain(std::uint64_t seed, std::int64_t steps) {
  std::uint64_t x = seed;
  for (std::int64_t i = 0; i < steps; ++i) {
    x += 0x9e3779b97f4a7c15;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
    x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
    x ^= x >> 31;
  }
  return x;
}

// parallel_expected: the parallel workload's check, computed on one thread (wrapping sum).
inline std::int64_t parallel_expected(std::int64_t n) {
  std::uint64_t sum = 0;
  for (std::int64_t i = 0; i < n; ++i)
    sum += mix_chain(static_cast<std::uint64_t>(i), parallel_steps);
  return static_cast<std::int64_t>(sum);
}

// power_of_ten: skynet's tree needs n = 10^k leaves.
inline bool power_of_ten(std::int64_t n) {
  while (n > 1 && n % 10 == 0) n /= 10;
  return n == 1;
}

// share: the size of part `index` of `total` split into `parts` contiguous parts.
inline std::int64_t share(std::int64_t total, std::int64_t parts, std::int64_t index) {
  return total * (index + 1) / parts - total * index / parts;
}

// first_of_share: where part `index` of that split starts.
inline std::int64_t first_of_share(std::int64_t total, std::int64_t parts, std::int64_t index) {
  return total * index / parts;
}

// stopwatch: seconds since construction, on the steady clock.
class stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

[[noreturn]] inline void fail(std::string_view program, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(message.size()), message.data());
  std::exit(1);
}

// resident_kib: VmRSS of this process from /proc/self/status, in KiB.
inline std::int64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  fail("resident_kib", "no VmRSS line in /proc/self/status");
}

// kib_per_task: the resident memory `tasks` tasks added between two readings.
inline double kib_per_task(std::int64_t before_kib, std::int64_t after_kib, std::int64_t tasks) {
  return static_cast<double>(after_kib - before_kib) / static_cast<double>(tasks);
}

namespace detail {

inline std::int64_t parse_count(std::string_view program, std::string_view flag,
                                std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 0) {
    fail(program, std::string(flag) + ": not a count: '" + std::string(text) + "'");
  }
  return value;
}

}  // namespace detail

// main_with: the whole main() of a comparison program. `system` names it in the RESULT line;
// `workers_label` returns what to print as workers= for the given --workers value (0: default).
//
//   <program> --workload NAME [--n N] [--workers W]   run one workload
//   <program> --list                                  print the workloads it implements
template <class WorkersLabel>
int main_with(std::string_view system, std::span<const workload> table, WorkersLabel workers_label,
              int argc, char** argv) {
  const std::string program = "compare_" + std::string(system);
  std::string_view name;
  std::int64_t n = 0;
  std::int64_t workers = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--list") {
      for (const workload& w : table)
        std::printf("%.*s ", static_cast<int>(w.name.size()), w.name.data());
      std::printf("\n");
      return 0;
    }
    if (i + 1 >= argc) fail(program, "usage: --workload NAME [--n N] [--workers W] | --list");
    const std::string_view value = argv[++i];
    if (arg == "--workload") {
      name = value;
    } else if (arg == "--n") {
      n = detail::parse_count(program, arg, value);
    } else if (arg == "--workers") {
      workers = detail::parse_count(program, arg, value);
    } else {
      fail(program, "unknown option '" + std::string(arg) + "'");
    }
  }
  const workload* chosen = nullptr;
  for (const workload& w : table) {
    if (w.name == name) chosen = &w;
  }
  if (chosen == nullptr) {
    fail(program, "unknown or unavailable workload '" + std::string(name) + "' (see --list)");
  }
  if (n == 0) n = chosen->default_n;
  if (chosen->name == "skynet" && !power_of_ten(n)) {
    fail(program, "skynet: --n must be a power of 10");
  }
  const measurement m = chosen->run(n, static_cast<unsigned>(workers));
  const std::int64_t want = chosen->expected(n);
  if (m.check != want) {
    fail(program, std::string(chosen->name) + ": wrong result: check=" + std::to_string(m.check) +
                      ", expected " + std::to_string(want));
  }
  const std::string label = workers_label(static_cast<unsigned>(workers));
  std::printf(
      "RESULT system=%.*s workload=%.*s workers=%s n=%lld value=%.6f unit=%.*s check=%lld\n",
      static_cast<int>(system.size()), system.data(), static_cast<int>(chosen->name.size()),
      chosen->name.data(), label.c_str(), static_cast<long long>(n), m.value,
      static_cast<int>(chosen->unit.size()), chosen->unit.data(), static_cast<long long>(m.check));
  return 0;
}

}  // namespace compare
