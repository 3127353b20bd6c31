// select_timeout — timeouts and non-blocking receives with select, as in Go by Example:
//
//   func main() {
//       c1 := make(chan string, 1)
//       go func() { time.Sleep(200 * time.Millisecond); c1 <- "result 1" }()
//       select {
//       case res := <-c1:
//           fmt.Println(res)
//       case <-time.After(100 * time.Millisecond):
//           fmt.Println("timeout 1")
//       }
//       c2 := make(chan string, 1)
//       go func() { time.Sleep(200 * time.Millisecond); c2 <- "result 2" }()
//       select {
//       case res := <-c2:
//           fmt.Println(res)
//       case <-time.After(300 * time.Millisecond):
//           fmt.Println("timeout 2")
//       }
//       messages := make(chan string)
//       select {
//       case msg := <-messages:
//           fmt.Println("received message", msg)
//       default:
//           fmt.Println("no message received")
//       }
//   }
//
// Prints "timeout 1", "result 2", "no message received".
#include <goro/goro.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>

using namespace std::chrono_literals;

int main() {
  goro::run([] {
    goro::chan<std::string> c1(1);
    goro::go([=] {
      goro::sleep_for(200ms);
      c1.send("result 1");
    });
    goro::select(
        goro::on_recv(c1, [](std::optional<std::string> res) { std::cout << *res << "\n"; }),
        goro::on_recv(goro::after(100ms), [](auto) { std::cout << "timeout 1\n"; }));

    goro::chan<std::string> c2(1);
    goro::go([=] {
      goro::sleep_for(200ms);
      c2.send("result 2");
    });
    goro::select(
        goro::on_recv(c2, [](std::optional<std::string> res) { std::cout << *res << "\n"; }),
        goro::on_recv(goro::after(300ms), [](auto) { std::cout << "timeout 2\n"; }));

    goro::chan<std::string> messages;
    goro::select(goro::on_recv(messages,
                               [](std::optional<std::string> msg) {
                                 std::cout << "received message " << *msg << "\n";
                               }),
                 goro::on_default([] { std::cout << "no message received\n"; }));
  });
}
