// select_timeout — a timeout on a channel operation: select between the result and time.After,
// as in Go by Example's "Timeouts" (with its seconds as quarter seconds):
//
//   func main() {
//       c1 := make(chan string, 1)
//       go func() {
//           time.Sleep(500 * time.Millisecond)
//           c1 <- "result 1"
//       }()
//       select {
//       case res := <-c1:
//           fmt.Println(res)
//       case <-time.After(250 * time.Millisecond):
//           fmt.Println("timeout 1")
//       }
//
//       c2 := make(chan string, 1)
//       go func() {
//           time.Sleep(500 * time.Millisecond)
//           c2 <- "result 2"
//       }()
//       select {
//       case res := <-c2:
//           fmt.Println(res)
//       case <-time.After(750 * time.Millisecond):
//           fmt.Println("timeout 2")
//       }
//   }
//
// Prints "timeout 1" (the result would take 500 ms, the limit is 250), then "result 2" (it
// arrives within the 750 ms limit, with 250 ms to spare for a goroutine that starts late: under
// ThreadSanitizer on a loaded machine, starting one has taken 40-60 ms). The buffered channels
// let the late sender of c1 finish without a receiver. select_default.cpp shows a select that
// does not wait at all.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

using namespace std::chrono_literals;

int main() {
  goro::run([] {
    goro::chan<std::string> c1(1);
    goro::go([c1] {
      goro::sleep_for(500ms);
      c1.send("result 1");
    });
    goro::select(goro::on_recv(c1, [](auto res) { std::printf("%s\n", res.value_or("").c_str()); }),
                 goro::on_recv(goro::after(250ms), [](auto) { std::printf("timeout 1\n"); }));

    goro::chan<std::string> c2(1);
    goro::go([c2] {
      goro::sleep_for(500ms);
      c2.send("result 2");
    });
    goro::select(goro::on_recv(c2, [](auto res) { std::printf("%s\n", res.value_or("").c_str()); }),
                 goro::on_recv(goro::after(750ms), [](auto) { std::printf("timeout 2\n"); }));
  });
}
