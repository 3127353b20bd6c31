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
//       for polls, done := 1, false; !done; polls++ {
//           select {
//           case r := <-result:
//               fmt.Println("received", r, "after", polls, "polls")
//               done = true
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
    auto received = [](auto msg) { std::printf("received message %s\n", msg->c_str()); };
    goro::select(goro::on_recv(messages, received),
                 goro::on_default([] { std::printf("no message received\n"); }));
    const std::string msg = "hi";
    goro::select(
        goro::on_send(messages, msg, [&] { std::printf("sent message %s\n", msg.c_str()); }),
        goro::on_default([] { std::printf("no message sent\n"); }));
    goro::select(
        goro::on_recv(messages, received),
        goro::on_recv(signals, [](auto sig) { std::printf("received signal %d\n", *sig); }),
        goro::on_default([] { std::printf("no activity\n"); }));
    goro::chan<std::string> result(1);
    goro::go([result] {
      goro::sleep_for(30ms);
      result.send("done");
    });
    bool done = false;
    for (int polls = 1; !done; ++polls) {
      goro::select(goro::on_recv(result,
                                 [&](auto r) {
                                   std::printf("received %s after %d polls\n", r->c_str(), polls);
                                   done = true;
                                 }),
                   goro::on_default([] { goro::sleep_for(10ms); }));  // other work between polls
    }
  });
}
