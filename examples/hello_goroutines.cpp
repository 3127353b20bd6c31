// hello_goroutines — the first program of Go's tour of concurrency, in goro:
//
//   func say(s string) {
//       for i := 0; i < 5; i++ {
//           time.Sleep(100 * time.Millisecond)
//           fmt.Println(s)
//       }
//   }
//   func main() {
//       go say("world")
//       say("hello")
//   }
//
// `go` starts say("world") as a goroutine; main goes on to say("hello"). Both sleep, so they
// take turns: the output interleaves the two words. When main returns, the program ends — the
// goroutine's last "world" may or may not make it.
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
    goro::go(say, "world");
    say("hello");
  });
}
