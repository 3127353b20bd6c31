// fan_out_fan_in — several goroutines read from one channel (fan-out) and their results merge
// into one (fan-in), as in the Go blog's "Pipelines and cancellation":
//
//   func gen(nums ...int) <-chan int   // sends nums, then closes (see pipeline.cpp)
//   func sq(id int, in <-chan int) <-chan string {
//       out := make(chan string)
//       go func() {
//           for n := range in {
//               time.Sleep(10 * time.Millisecond)  // squaring is slow work
//               out <- fmt.Sprintf("worker %d: %d squared is %d", id, n, n*n)
//           }
//           close(out)
//       }()
//       return out
//   }
//   func merge(cs ...<-chan string) <-chan string  // as in fan_in.cpp
//   func main() {
//       in := gen(1, 2, 3, 4, 5, 6, 7, 8)
//       c1, c2, c3 := sq(1, in), sq(2, in), sq(3, in)  // fan out: three workers share in
//       for s := range merge(c1, c2, c3) {             // fan in
//           fmt.Println(s)
//       }
//   }
//
// Each number goes to whichever worker is free; the squares come out in no fixed order.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

goro::recv_chan<int> gen(std::vector<int> nums) {
  goro::chan<int> out;
  goro::go([out, nums] {
    for (int n : nums) out.send(n);
    out.close();
  });
  return out;
}

goro::recv_chan<std::string> sq(int id, goro::recv_chan<int> in) {
  goro::chan<std::string> out;
  goro::go([id, in, out] {
    for (int n : in) {
      goro::sleep_for(std::chrono::milliseconds(10));  // squaring is slow work
      out.send("worker " + std::to_string(id) + ": " + std::to_string(n) + " squared is " +
               std::to_string(n * n));
    }
    out.close();
  });
  return out;
}

goro::recv_chan<std::string> merge(std::vector<goro::recv_chan<std::string>> cs) {
  goro::chan<std::string> out;
  auto wg = std::make_shared<goro::wait_group>();
  wg->add(static_cast<std::ptrdiff_t>(cs.size()));
  for (auto& c : cs) {
    goro::go([c, out, wg] {
      for (std::string s : c) out.send(std::move(s));
      wg->done();
    });
  }
  goro::go([out, wg] {
    wg->wait();
    out.close();
  });
  return out;
}

int main() {
  goro::run([] {
    goro::recv_chan<int> in = gen({1, 2, 3, 4, 5, 6, 7, 8});
    auto c1 = sq(1, in), c2 = sq(2, in), c3 = sq(3, in);  // fan out: three workers share `in`
    for (std::string s : merge({c1, c2, c3})) std::printf("%s\n", s.c_str());  // fan in
  });
}
