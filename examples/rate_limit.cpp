// rate_limit — rate limiting with a ticker, and bursts through a buffered channel, as in Go by
// Example (with shorter periods):
//
//   func main() {
//       requests := make(chan int, 5)
//       for i := 1; i <= 5; i++ { requests <- i }
//       close(requests)
//       start := time.Now()
//       limiter := time.NewTicker(50 * time.Millisecond)
//       defer limiter.Stop()
//       for req := range requests {
//           <-limiter.C
//           fmt.Println("request", req, time.Since(start).Round(10*time.Millisecond))
//       }
//
//       start = time.Now()
//       burstyLimiter := make(chan time.Time, 3)
//       for i := 0; i < 3; i++ { burstyLimiter <- time.Now() }
//       go func() {
//           for t := range time.Tick(50 * time.Millisecond) { burstyLimiter <- t }
//       }()
//       burstyRequests := make(chan int, 5)
//       for i := 1; i <= 5; i++ { burstyRequests <- i }
//       close(burstyRequests)
//       for req := range burstyRequests {
//           <-burstyLimiter
//           fmt.Println("bursty request", req, time.Since(start).Round(10*time.Millisecond))
//       }
//   }
//
// The first five requests come 50 ms apart; of the bursty ones the first three come at once.
// The clock starts before each limiter, so no request is let through less than its schedule
// after it (started after the ticker, it lost the ticker's first few ms on a loaded machine).
#include <goro/goro.hpp>

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

long ms_since(clock_type::time_point start) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start);
  return (ms.count() + 5) / 10 * 10;  // rounded to 10 ms
}

int main() {
  goro::run([] {
    goro::chan<int> requests(5);
    for (int i = 1; i <= 5; ++i) requests.send(i);
    requests.close();
    auto start = clock_type::now();
    goro::ticker limiter(50ms);
    for (int req : requests) {
      limiter.c().recv();
      std::cout << "request " << req << " " << ms_since(start) << "ms\n";
    }

    start = clock_type::now();
    goro::chan<clock_type::time_point> bursty_limiter(3);
    for (int i = 0; i < 3; ++i) bursty_limiter.send(clock_type::now());
    goro::go([=] {
      goro::ticker tick(50ms);
      for (auto t : tick.c()) bursty_limiter.send(t);
    });
    goro::chan<int> bursty_requests(5);
    for (int i = 1; i <= 5; ++i) bursty_requests.send(i);
    bursty_requests.close();
    for (int req : bursty_requests) {
      bursty_limiter.recv();
      std::cout << "bursty request " << req << " " << ms_since(start) << "ms\n";
    }
  });
}
