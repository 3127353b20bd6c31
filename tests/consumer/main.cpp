// The program the packaging tests build against goro: it must compile, link and print 4950.
#include <goro/goro.hpp>

#include <atomic>
#include <cstdio>

int main() {
  const long sum = goro::run([] {
    std::atomic<long> total{0};
    goro::wait_group wg;
    for (long i = 0; i < 100; ++i) {
      wg.add(1);
      goro::go([&total, &wg, i] {
        total.fetch_add(i);
        wg.done();
      });
    }
    wg.wait();
    return total.load();
  });
  std::printf("%ld\n", sum);
  return sum == 4950 ? 0 : 1;
}
