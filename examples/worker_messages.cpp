// worker_messages — five workers each send three greetings and a "done" over one channel (the
// seed article's example):
//
//   func worker(id int, ch chan string) {
//       fmt.Println("Worker", id, "started")
//       for i := 0; i < 3; i++ {
//           ch <- fmt.Sprintf("Worker %d: Hello!", id)
//           time.Sleep(500 * time.Millisecond)
//       }
//       ch <- "Worker " + fmt.Sprintf("%d", id) + " done"
//   }
//   func main() {
//       ch := make(chan string)
//       for i := 0; i < 5; i++ { go worker(i, ch) }
//       for i := 0; i < 15; i++ { fmt.Println(<-ch) }
//   }
//
// Main receives 15 of the 20 messages, interleaved as the workers run: the three greetings of
// each, usually in three rounds 500 ms apart. When it returns, the workers still blocked on their
// last sends are stopped.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <string>

void worker(int id, goro::send_chan<std::string> ch) {
  std::printf("Worker %d started\n", id);
  for (int i = 0; i < 3; ++i) {
    ch.send("Worker " + std::to_string(id) + ": Hello!");
    goro::sleep_for(std::chrono::milliseconds(500));
  }
  ch.send("Worker " + std::to_string(id) + " done");
}

int main() {
  goro::run([] {
    goro::chan<std::string> ch;
    for (int i = 0; i < 5; ++i) goro::go(worker, i, ch);
    for (int i = 0; i < 15; ++i) std::printf("%s\n", ch.recv()->c_str());
  });
}
