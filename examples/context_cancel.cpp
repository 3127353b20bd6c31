// context_cancel — stopping goroutines with a context: cancel a generator once you have what you
// need, and give up on slow work at a deadline (after the examples of Go's context package):
//
//   func gen(ctx context.Context) <-chan int {
//       dst := make(chan int)
//       go func() {
//           defer close(dst)
//           for n := 1; ; n++ {
//               select {
//               case dst <- n:
//               case <-ctx.Done():
//                   return  // returning not to leak the goroutine
//               }
//           }
//       }()
//       return dst
//   }
//   func main() {
//       ctx, cancel := context.WithCancel(context.Background())
//       numbers := gen(ctx)
//       for n := range numbers {
//           fmt.Println(n)
//           if n == 5 { break }
//       }
//       cancel()
//       for range numbers {}  // until gen has seen the cancellation and closed it
//       fmt.Println("generator stopped:", ctx.Err())
//
//       ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
//       defer cancel()
//       select {
//       case <-time.After(time.Second):  // the slow work finished first
//           fmt.Println("overslept")
//       case <-ctx.Done():
//           fmt.Println("gave up:", ctx.Err())
//       }
//   }
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <tuple>

using namespace std::chrono_literals;

goro::recv_chan<int> gen(goro::context ctx) {
  goro::chan<int> dst;
  goro::go([ctx, dst] {
    for (int n = 1;; ++n) {
      if (goro::select(goro::on_send(dst, n), goro::on_recv(ctx.done())) == 1) break;
    }
    dst.close();  // returning, not to leak the goroutine
  });
  return dst;
}

int main() {
  goro::run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::recv_chan<int> numbers = gen(ctx);
    for (int n : numbers) {
      std::printf("%d\n", n);
      if (n == 5) break;
    }
    cancel();
    while (numbers.recv()) continue;  // until gen has seen the cancellation and closed it
    std::printf("generator stopped: %s\n", ctx.err().message().c_str());

    std::tie(ctx, cancel) = goro::with_timeout(goro::background(), 50ms);
    if (goro::select(goro::on_recv(goro::after(1s)), goro::on_recv(ctx.done())) == 0) {
      std::printf("overslept\n");  // the slow work finished first
    } else {
      std::printf("gave up: %s\n", ctx.err().message().c_str());
    }
    cancel();  // Go's defer cancel()
  });
}
