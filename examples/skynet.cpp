// skynet — one million goroutines in a ten-ary tree (github.com/atemerev/skynet):
//
//   func skynet(c chan int, num, size, div int) {
//       if size == 1 {
//           c <- num
//           return
//       }
//       rc := make(chan int)
//       for i := 0; i < div; i++ {
//           go skynet(rc, num+i*(size/div), size/div, div)
//       }
//       sum := 0
//       for i := 0; i < div; i++ {
//           sum += <-rc
//       }
//       c <- sum
//   }
//   func main() {
//       c := make(chan int)
//       start := time.Now()
//       go skynet(c, 0, 1000000, 10)
//       fmt.Printf("Result: %d in %d ms.\n", <-c, time.Since(start).Milliseconds())
//   }
//
// Each leaf sends its number, each inner goroutine the sum of its ten children, over unbuffered
// channels; the root must see 0 + 1 + ... + 999999. Usage: skynet [size] (default 1000000).
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>

void skynet(goro::send_chan<long> c, long num, long size, long div) {
  if (size == 1) {
    c.send(num);
    return;
  }
  goro::chan<long> rc;
  for (long i = 0; i < div; ++i) goro::go(skynet, rc, num + i * (size / div), size / div, div);
  long sum = 0;
  for (long i = 0; i < div; ++i) sum += *rc.recv();
  c.send(sum);
}

// size_from: the tree's number of leaves, from the command line. The tree divides by 10 down to
// single leaves, so any other size would recurse for ever: it is refused.
long size_from(int argc, char** argv) {
  if (argc < 2) return 1'000'000;
  char* end = nullptr;
  const long size = std::strtol(argv[1], &end, 10);
  long rest = size;
  while (rest > 1 && rest % 10 == 0) rest /= 10;
  if (argc > 2 || end == argv[1] || *end != '\0' || size < 1 || rest != 1) {
    std::fprintf(stderr,
                 "usage: skynet [size]: size is a power of 10 (default 1000000), not '%s'\n",
                 argv[argc > 2 ? 2 : 1]);
    std::exit(2);
  }
  return size;
}

int main(int argc, char** argv) {
  const long size = size_from(argc, argv);
  goro::run([size] {
    goro::chan<long> c;
    const auto start = std::chrono::steady_clock::now();
    goro::go(skynet, c, 0L, size, 10L);
    const long result = *c.recv();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    std::printf("Result: %ld in %lld ms.\n", result,
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
  });
}
