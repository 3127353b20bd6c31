// context_cancel — a pipeline of goroutines stopped by a context's timeout:
//
//   func gen(ctx context.Context) <-chan int {
//       out := make(chan int)
//       go func() {
//           defer close(out)
//           for i := 1; ; i++ {
//               select {
//               case out <- i:
//               case <-ctx.Done():
//                   return
//               }
//               time.Sleep(20 * time.Millisecond)
//           }
//       }()
//       return out
//   }
//   func square(ctx context.Context, in <-chan int) <-chan int {
//       out := make(chan int)
//       go func() {
//           defer close(out)
//           for v := range in {
//               select {
//               case out <- v * v:
//               case <-ctx.Done():
//                   return
//               }
//           }
//       }()
//       return out
//   }
//   func main() {
//       ctx, cancel := context.WithTimeout(context.Background(), 110*time.Millisecond)
//       defer cancel()
//       for v := range square(ctx, gen(ctx)) {
//           fmt.Println(v)
//       }
//       fmt.Println("pipeline stopped:", ctx.Err())
//   }
//
// Prints a few squares (1, 4, 9, ...), then "pipeline stopped: context deadline exceeded".
#include <goro/goro.hpp>

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;

goro::recv_chan<int> gen(goro::context ctx) {
  goro::chan<int> out;
  goro::go([=] {
    for (int i = 1; goro::select(goro::on_send(out, i), goro::on_recv(ctx.done())) == 0; ++i) {
      goro::sleep_for(20ms);
    }
    out.close();
  });
  return out;
}

goro::recv_chan<int> square(goro::context ctx, goro::recv_chan<int> in) {
  goro::chan<int> out;
  goro::go([=] {
    for (int v : in) {
      if (goro::select(goro::on_send(out, v * v), goro::on_recv(ctx.done())) == 1) break;
    }
    out.close();
  });
  return out;
}

int main() {
  goro::run([] {
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 110ms);
    for (int v : square(ctx, gen(ctx))) std::cout << v << "\n";
    std::cout << "pipeline stopped: " << ctx.err().message() << "\n";
    cancel();
  });
}
