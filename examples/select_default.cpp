// select_default — a select with a default never blocks: Go by Example's "Non-Blocking Channel
// Operations", then a loop polling a channel between other work (try_recv is the short form):
//
//   func main() {
//       messages := make(chan string)
//       signals := make(chan bool)
//       select {
//       case msg := <-messages:
//           fmt.Println("received message", msg)
//       default:
//           fmt.Println("no message received")
//       }
//       msg := "hi"
//       select {  // no receiver is waiting, so the send cannot proceed
//       case messages <- msg:
//           fmt.Println("sent message", msg)
//       default:
//           fmt.Println("no message sent")
//       }
//       select {
//       case msg := <-messages:
//           fmt.Println("received message", msg)
//       case sig := <-signals:
//           fmt.Println("received signal", sig)
//       default:
//           fmt.Println("no activity")
//       }
//
//       result := make(chan string, 1)
//       go func() { time.Sleep(30 * time.Millisecond); result <- "done" }()
//       for polls := 1; ; polls++ {
//           select {
//           case r := <-result:
//               fmt.Println("received", r, "after", polls, "polls")
//               return
//           default:
//               time.Sleep(10 * time.Millisecond)  // other work between polls
//           }
//       }
//   }
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main() {
  goro::run([] {
    goro::chan<std::string> messages;
    goro::chan<bool> signals;
    auto received = [](auto m) { std::printf("received message %s\n", m.value_or("").c_str()); };
    goro::select(goro::on_recv(messages, received),
                 goro::on_default([] { std::printf("no message received\n"); }));
    const std::string msg = "hi";
    goro::select(
        goro::on_send(messages, msg, [&] { std::printf("sent message %s\n", msg.c_str()); }),
        goro::on_default([] { std::printf("no message sent\n"); }));
    goro::select(
        goro::on_recv(messages, received),
        goro::on_recv(signals,
                      [](auto sig) { std::printf("received signal %d\n", sig.value_or(false)); }),
        goro::on_default([] { std::printf("no activity\n"); }));
    goro::chan<std::string> result(1);
    goro::go([result] {
      goro::sleep_for(30ms);
      result.send("done");
    });
    std::string r;
    int polls = 1;
    while (goro::select(goro::on_recv(result, [&](auto v) { r = v.value_or(""); }),
                        goro::on_default()) == 1) {
      goro::sleep_for(10ms);  // default: other work between polls
      ++polls;
    }
    std::printf("received %s after %d polls\n", r.c_str(), polls);
  });
}
