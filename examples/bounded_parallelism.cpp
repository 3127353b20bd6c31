// bounded_parallelism — however many tasks there are, at most three run at once: a weighted
// semaphore, as in the worker-pool example of golang.org/x/sync/semaphore:
//
//   func main() {
//       const limit = 3
//       sem := semaphore.NewWeighted(limit)
//       var mu sync.Mutex
//       running, peak := 0, 0
//       steps := make([]int, 12)
//       for i := range steps {
//           sem.Acquire(context.Background(), 1)  // waits while three tasks hold it
//           go func(i int) {
//               defer sem.Release(1)
//               mu.Lock(); running++; peak = max(peak, running); mu.Unlock()
//               steps[i] = collatzSteps(i + 1)
//               time.Sleep(50 * time.Millisecond)  // the slow part: I/O, say
//               mu.Lock(); running--; mu.Unlock()
//           }(i)
//       }
//       sem.Acquire(context.Background(), limit)  // all of it: every task has finished
//       fmt.Println("steps:", steps)
//       fmt.Println("at most", peak, "tasks at once")
//   }
//
// Twelve 50 ms tasks, three at a time, take 200 ms. Acquiring the whole weight at the end waits
// for the last tasks without a WaitGroup.
#include <goro/goro.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <mutex>

// collatz_steps: how many steps of n -> n/2 (even) or 3n+1 (odd) take n to 1.
int collatz_steps(long n) {
  int steps = 0;
  for (; n > 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
  return steps;
}

int main() {
  goro::run([] {
    constexpr int limit = 3;
    goro::semaphore sem(limit);
    goro::mutex mu;
    int running = 0, peak = 0;  // guarded by mu
    std::array<int, 12> steps{};
    for (std::size_t i = 0; i < steps.size(); ++i) {
      sem.acquire(1);  // waits while three tasks hold it
      goro::go([&, i] {
        {
          std::lock_guard hold(mu);
          peak = std::max(peak, ++running);
        }
        steps[i] = collatz_steps(static_cast<long>(i) + 1);
        goro::sleep_for(std::chrono::milliseconds(50));  // the slow part: I/O, say
        {
          std::lock_guard hold(mu);
          --running;
        }
        sem.release(1);  // Go's defer sem.Release(1)
      });
    }
    sem.acquire(limit);  // all of it: every task has finished
    std::printf("steps:");
    for (int s : steps) std::printf(" %d", s);
    std::printf("\nat most %d tasks at once\n", peak);
  });
}
