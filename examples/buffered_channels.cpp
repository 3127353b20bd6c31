// buffered_channels — a channel with room for values: a send completes without a receiver until
// the buffer is full (Go by Example's "Channel Buffering", then len, cap, a full buffer, a blocked
// sender and close):
//
//   func main() {
//       messages := make(chan string, 2)
//       messages <- "buffered"  // no receiver yet: the values wait in the buffer
//       messages <- "channel"
//       fmt.Println("len", len(messages), "cap", cap(messages))
//       select {
//       case messages <- "overflow":
//           fmt.Println("sent overflow")
//       default:
//           fmt.Println("full: a third send would block")
//       }
//       go func() { messages <- "from a goroutine" }()  // waits until main makes room
//       fmt.Println(<-messages)
//       fmt.Println(<-messages)
//       fmt.Println(<-messages)
//       messages <- "sent before close"
//       close(messages)
//       for m := range messages {  // a closed channel still delivers what it holds
//           fmt.Println(m)
//       }
//       _, ok := <-messages
//       fmt.Println("closed and drained, ok =", ok)
//   }
//
// The values come out in the order they went in (FIFO); the goroutine's value joins the queue
// once a receive makes room for it.
#include <goro/goro.hpp>

#include <cstdio>
#include <string>

int main() {
  goro::run([] {
    goro::chan<std::string> messages(2);
    messages.send("buffered");
    messages.send("channel");
    std::printf("len %zu cap %zu\n", messages.size(), messages.capacity());
    goro::select(
        goro::on_send(messages, std::string("overflow"), [] { std::printf("sent overflow\n"); }),
        goro::on_default([] { std::printf("full: a third send would block\n"); }));
    goro::go([messages] { messages.send("from a goroutine"); });
    std::printf("%s\n", messages.recv()->c_str());
    std::printf("%s\n", messages.recv()->c_str());
    std::printf("%s\n", messages.recv()->c_str());
    messages.send("sent before close");
    messages.close();
    for (std::string m : messages) std::printf("%s\n", m.c_str());
    std::printf("closed and drained, ok = %s\n", messages.recv() ? "true" : "false");
  });
}
