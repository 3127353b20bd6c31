// worker_pool — three workers share nine jobs through one channel and report on another, as in
// Go by Example's "Worker Pools" (with 100 ms jobs instead of one-second ones):
//
//   func worker(id int, jobs <-chan int, results chan<- int) {
//       for j := range jobs {
//           fmt.Println("worker", id, "processing job", j)
//           time.Sleep(100 * time.Millisecond)
//           results <- j * 2
//       }
//   }
//   func main() {
//       jobs := make(chan int, 100)
//       results := make(chan int, 100)
//       for w := 1; w <= 3; w++ {
//           go worker(w, jobs, results)
//       }
//       for j := 1; j <= 9; j++ {
//           jobs <- j
//       }
//       close(jobs)
//       sum := 0
//       for a := 1; a <= 9; a++ {
//           sum += <-results
//       }
//       fmt.Println("sum of results", sum)
//   }
//
// Nine 100 ms jobs on three workers take 300 ms, not 900: jobs 1-3 start at once, then 4-6, then
// 7-9, each on whichever worker is free. Each worker sees only a receive-only view of jobs and a
// send-only view of results.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>

void worker(int id, goro::recv_chan<int> jobs, goro::send_chan<int> results) {
  for (int j : jobs) {
    std::printf("worker %d processing job %d\n", id, j);
    goro::sleep_for(std::chrono::milliseconds(100));
    results.send(j * 2);
  }
}

int main() {
  goro::run([] {
    goro::chan<int> jobs(100);
    goro::chan<int> results(100);
    for (int w = 1; w <= 3; ++w) goro::go(worker, w, jobs, results);
    for (int j = 1; j <= 9; ++j) jobs.send(j);
    jobs.close();
    int sum = 0;
    for (int a = 1; a <= 9; ++a) sum += *results.recv();
    std::printf("sum of results %d\n", sum);
  });
}
