// range_close — a worker sends five values and closes the channel; main ranges over it (the
// seed article's example, with a shorter sleep):
//
//   func worker(ch chan int) {
//       for i := 0; i < 5; i++ {
//           fmt.Printf("Worker sending %d\n", i)
//           ch <- i
//           time.Sleep(100 * time.Millisecond)
//       }
//       close(ch)
//   }
//   func main() {
//       ch := make(chan int)
//       go worker(ch)
//       for v := range ch { fmt.Printf("Main received %d\n", v) }
//   }
//
// The range-for ends when the channel is closed and drained: close is how a sender says "no more".
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>

void worker(goro::chan<int> ch) {
  for (int i = 0; i < 5; ++i) {
    std::printf("Worker sending %d\n", i);
    ch.send(i);
    goro::sleep_for(std::chrono::milliseconds(100));
  }
  ch.close();
}

int main() {
  goro::run([] {
    goro::chan<int> ch;
    goro::go(worker, ch);
    for (int v : ch) std::printf("Main received %d\n", v);
  });
}
