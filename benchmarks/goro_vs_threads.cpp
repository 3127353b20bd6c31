// goro_vs_threads — the demo's comparison: the same tasks started, run and joined on goroutines
// and on std::threads. Each task adds its number to a shared sum and signals completion.
//
//   goro_vs_threads [tasks]        (default 100000, at most 10^8; std::thread runs them
//                                   1000 at a time)
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double run_goroutines(long tasks, long& sum) {
  std::atomic<long> total{0};
  const auto start = clock_type::now();
  goro::run([&] {
    goro::wait_group wg;
    wg.add(tasks);
    for (long i = 0; i < tasks; ++i) {
      goro::go([&total, &wg, i] {
        total.fetch_add(i, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
  });
  const double elapsed = seconds_since(start);
  sum = total.load();
  return elapsed;
}

double run_threads(long tasks, long& sum) {
  constexpr long batch = 1000;  // a process cannot hold 100k threads at once
  std::atomic<long> total{0};
  const auto start = clock_type::now();
  std::vector<std::thread> threads;
  threads.reserve(batch);
  for (long first = 0; first < tasks; first += batch) {
    for (long i = first; i < std::min(first + batch, tasks); ++i) {
      threads.emplace_back([&total, i] { total.fetch_add(i, std::memory_order_relaxed); });
    }
    for (auto& t : threads) t.join();
    threads.clear();
  }
  const double elapsed = seconds_since(start);
  sum = total.load();
  return elapsed;
}

// tasks_from: how many tasks to run, from the command line (at least one).
long tasks_from(int argc, char** argv) {
  if (argc < 2) return 100'000;
  char* end = nullptr;
  const long tasks = std::strtol(argv[1], &end, 10);
  if (argc > 2 || end == argv[1] || *end != '\0' || tasks < 1 || tasks > 100'000'000) {
    std::fprintf(stderr,
                 "usage: goro_vs_threads [tasks]: 1 to 100000000 tasks (default 100000), "
                 "not '%s'\n",
                 argv[argc > 2 ? 2 : 1]);
    std::exit(2);
  }
  return tasks;
}

}  // namespace

int main(int argc, char** argv) {
  const long tasks = tasks_from(argc, argv);
  const long expected = tasks * (tasks - 1) / 2;
  long goro_sum = 0;
  long thread_sum = 0;
  run_goroutines(1000, goro_sum);  // warm up the stack pool and the allocator
  const double goro_seconds = run_goroutines(tasks, goro_sum);
  const double thread_seconds = run_threads(tasks, thread_sum);
  if (goro_sum != expected || thread_sum != expected) {
    std::fprintf(stderr, "wrong sum: goro %ld, std::thread %ld, expected %ld\n", goro_sum,
                 thread_sum, expected);
    return 1;
  }
  std::printf("== %ld tasks: start, run and join each (sum checked)\n\n", tasks);
  char goro_label[64];
  std::snprintf(goro_label, sizeof goro_label, "goro::go (%u workers)", goro::num_workers());
  std::printf("| %-28s | %10s | %10s |\n", "system", "total", "per task");
  std::printf("|%s|%s|%s|\n", "------------------------------", "-----------:", "-----------:");
  std::printf("| %-28s | %7.1f ms | %7.0f ns |\n", goro_label, goro_seconds * 1e3,
              goro_seconds * 1e9 / static_cast<double>(tasks));
  std::printf("| %-28s | %7.1f ms | %7.0f ns |\n", "std::thread (1000 at a time)",
              thread_seconds * 1e3, thread_seconds * 1e9 / static_cast<double>(tasks));
  std::printf("\ngoroutines are %.0fx cheaper per task than threads on this machine.\n",
              thread_seconds / goro_seconds);
}
