// hello_goroutines — the first program of the seed's introduction to Go concurrency, in goro:
//
//   func say(s string) {
//       for i := 0; i < 5; i++ {
//           time.Sleep(time.Second)
//           println(s)
//       }
//   }
//   func main() {
//       go say("hello")
//       say("world")
//   }
//
// `go` starts say("hello") as a goroutine; main goes on to say("world"). Both sleep, so they
// take turns: the output interleaves the two words. When main returns, the program ends — the
// goroutine's last "hello" may or may not make it. (The sleeps here are 100 ms rather than the
// seed's second, and the words go to stdout, where Go's println writes to stderr.)
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

void say(const char* s) {
  for (int i = 0; i < 5; ++i) {
    goro::sleep_for(100ms);
    std::printf("%s\n", s);  // one call per line: goroutines on other threads print too
  }
}

int main() {
  goro::run([] {
    goro::go(say, "hello");
    say("world");
  });
}
