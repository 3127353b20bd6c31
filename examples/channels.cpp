// channels — a goroutine sends 0..4 over an unbuffered channel; main receives them (the seed
// article's channel example):
//
//   ch := make(chan int)
//   go func() {
//       for i := 0; i < 5; i++ { ch <- i }
//   }()
//   for i := 0; i < 5; i++ { fmt.Println(<-ch) }
//
// Each send waits until main takes the value: the two goroutines meet at every hand-off.
#include <goro/goro.hpp>

#include <iostream>

int main() {
  goro::run([] {
    goro::chan<int> ch;
    goro::go([ch] {
      for (int i = 0; i < 5; ++i) ch.send(i);
    });
    for (int i = 0; i < 5; ++i) std::cout << *ch.recv() << '\n';
  });
}
