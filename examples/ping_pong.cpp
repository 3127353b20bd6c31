// ping_pong — two goroutines hit a ball back and forth over an unbuffered channel (from the talk
// "Advanced Go Concurrency Patterns", Google I/O 2013):
//
//   type Ball struct{ hits int }
//   func player(name string, table chan *Ball) {
//       for {
//           ball := <-table
//           ball.hits++
//           fmt.Println(name, ball.hits)
//           time.Sleep(100 * time.Millisecond)
//           table <- ball
//       }
//   }
//   func main() {
//       table := make(chan *Ball)
//       go player("ping", table)
//       go player("pong", table)
//       table <- new(Ball)
//       time.Sleep(1 * time.Second)
//       <-table
//   }
//
// Whoever holds the ball is the only one touching it: the channel hands over ownership. Main
// serves (to whichever player takes it), lets them play for a second, then catches the ball; the
// players are stopped when main returns.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

struct ball {
  int hits = 0;
};

void player(std::string name, goro::chan<std::unique_ptr<ball>> table) {
  for (;;) {
    std::unique_ptr<ball> b = *table.recv();
    ++b->hits;
    std::printf("%s %d\n", name.c_str(), b->hits);
    goro::sleep_for(std::chrono::milliseconds(100));
    table.send(std::move(b));
  }
}

int main() {
  goro::run([] {
    goro::chan<std::unique_ptr<ball>> table;
    goro::go(player, "ping", table);
    goro::go(player, "pong", table);
    table.send(std::make_unique<ball>());
    goro::sleep_for(std::chrono::seconds(1));
    table.recv();
  });
}
