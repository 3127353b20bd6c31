// producer_consumer — one goroutine produces values, another consumes them, with a buffered
// channel as the queue between them (the seed articles' producer-consumer pattern):
//
//   func produce(n int, queue chan<- int) {
//       for i := 1; i <= n; i++ {
//           queue <- i  // blocks only while the queue is full
//       }
//       close(queue)    // no more values: ends the consumer's range loop
//   }
//   func consume(queue <-chan int, done chan<- int) {
//       sum := 0
//       for v := range queue {
//           fmt.Println("consumed", v)
//           sum += v
//       }
//       done <- sum
//   }
//   func main() {
//       queue := make(chan int, 4)  // the producer may run up to four values ahead
//       done := make(chan int)
//       go produce(10, queue)
//       go consume(queue, done)
//       fmt.Println("sum", <-done)
//   }
//
// The consumer sees every value exactly once, in the order produced; close tells it the producer
// has finished, and the done channel tells main the consumer has.
#include <goro/goro.hpp>

#include <cstdio>

void produce(int n, goro::send_chan<int> queue) {
  for (int i = 1; i <= n; ++i) queue.send(i);  // blocks only while the queue is full
  queue.close();                               // no more values: ends the consumer's range loop
}

void consume(goro::recv_chan<int> queue, goro::send_chan<int> done) {
  int sum = 0;
  for (int v : queue) {
    std::printf("consumed %d\n", v);
    sum += v;
  }
  done.send(sum);
}

int main() {
  goro::run([] {
    goro::chan<int> queue(4);  // the producer may run up to four values ahead
    goro::chan<int> done;
    goro::go(produce, 10, queue);
    goro::go(consume, queue, done);
    std::printf("sum %d\n", *done.recv());
  });
}
