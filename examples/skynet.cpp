// skynet — one million goroutines in a ten-ary tree (github.com/atemerev/skynet).
//
//   func skynet(c chan int, num, size, div int) {
//       if size == 1 { c <- num; return }
//       rc := make(chan int)
//       for i := 0; i < div; i++ {
//           go skynet(rc, num+i*(size/div), size/div, div)
//       }
//       sum := 0
//       for i := 0; i < div; i++ { sum += <-rc }
//       c <- sum
//   }
//
// Each goroutine reports the sum of its subtree; the root must see 0 + 1 + ... + 999999.
// This version passes results up through wait_groups and atomics; the channel version lives in
// benchmarks/compare once channels exist.
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>

void skynet(std::atomic<long>& out, long num, long size, long div) {
  if (size == 1) {
    out.fetch_add(num, std::memory_order_relaxed);
    return;
  }
  goro::wait_group wg;
  std::atomic<long> sum{0};
  for (long i = 0; i < div; ++i) {
    wg.add(1);
    goro::go([&, i] {
      skynet(sum, num + i * (size / div), size / div, div);
      wg.done();
    });
  }
  wg.wait();
  out.fetch_add(sum.load(), std::memory_order_relaxed);
}

int main(int argc, char** argv) {
  const long size = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  goro::run([size] {
    const auto start = std::chrono::steady_clock::now();
    std::atomic<long> result{0};
    skynet(result, 0, size, 10);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    std::printf("Result: %ld in %.0f ms\n", result.load(),
                std::chrono::duration<double, std::milli>(elapsed).count());
    return 0;
  });
}
