// pipeline — three stages connected by channels, each a goroutine (the Go blog's pipeline):
//
//   func gen(nums ...int) <-chan int {
//       out := make(chan int)
//       go func() { for _, n := range nums { out <- n }; close(out) }()
//       return out
//   }
//   func sq(in <-chan int) <-chan int {
//       out := make(chan int)
//       go func() { for n := range in { out <- n * n }; close(out) }()
//       return out
//   }
//   func main() {
//       for n := range sq(sq(gen(1, 2, 3, 4))) { fmt.Println(n) }
//   }
//
// Each stage receives from the one before, sends to the one after and closes its output when
// its input is drained, so the close travels down the pipeline and ends main's loop.
#include <goro/goro.hpp>

#include <cstdio>
#include <initializer_list>
#include <vector>

goro::recv_chan<long> gen(std::initializer_list<long> nums) {
  goro::chan<long> out;
  goro::go([out, values = std::vector<long>(nums)] {
    for (long n : values) out.send(n);
    out.close();
  });
  return out;
}

goro::recv_chan<long> sq(goro::recv_chan<long> in) {
  goro::chan<long> out;
  goro::go([in, out] {
    for (long n : in) out.send(n * n);
    out.close();
  });
  return out;
}

int main() {
  goro::run([] {
    for (long n : sq(sq(gen({1, 2, 3, 4})))) std::printf("%ld\n", n);
  });
}
