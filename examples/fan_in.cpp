// fan_in — several producers fan in to one channel; a merge goroutine closes it when all are done
// (merge as in the Go blog's "Pipelines and cancellation"):
//
//   func producer(id int, n int) <-chan string { ... sends "producer id: item i" n times, closes }
//   func merge(cs ...<-chan string) <-chan string {
//       var wg sync.WaitGroup
//       out := make(chan string)
//       output := func(c <-chan string) { for s := range c { out <- s }; wg.Done() }
//       wg.Add(len(cs))
//       for _, c := range cs { go output(c) }
//       go func() { wg.Wait(); close(out) }()
//       return out
//   }
//   func main() { for s := range merge(producer(1, 3), producer(2, 3), producer(3, 3)) { ... } }
//
// Fan-in: the producers run concurrently, their items arrive interleaved on one channel, and a
// WaitGroup tells the merger when every input is drained (fan_out_fan_in.cpp adds the fan-out).
#include <goro/goro.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

goro::recv_chan<std::string> producer(int id, int n) {
  goro::chan<std::string> out;
  goro::go([=] {
    for (int i = 1; i <= n; ++i)
      out.send("producer " + std::to_string(id) + ": item " + std::to_string(i));
    out.close();
  });
  return out;
}

goro::recv_chan<std::string> merge(std::vector<goro::recv_chan<std::string>> inputs) {
  goro::chan<std::string> out;
  auto wg = std::make_shared<goro::wait_group>();
  wg->add(static_cast<std::ptrdiff_t>(inputs.size()));
  for (auto& in : inputs) {
    goro::go([=] {
      for (std::string s : in) out.send(std::move(s));
      wg->done();
    });
  }
  goro::go([=] {
    wg->wait();
    out.close();
  });
  return out;
}

int main() {
  goro::run([] {
    int count = 0;
    for (std::string s : merge({producer(1, 3), producer(2, 3), producer(3, 3)})) {
      std::printf("%s\n", s.c_str());
      ++count;
    }
    std::printf("received %d items\n", count);
  });
}
