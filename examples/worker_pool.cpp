// worker_pool — three workers share nine jobs through one channel and report on another:
//
//   func worker(id int, jobs <-chan int, results chan<- int) {
//       for j := range jobs {
//           fmt.Println("worker", id, "processing job", j)
//           time.Sleep(time.Second)
//           results <- j * 2
//       }
//   }
//   func main() {
//       jobs := make(chan int, 100)
//       results := make(chan int, 100)
//       for w := 1; w <= 3; w++ { go worker(w, jobs, results) }
//       for j := 1; j <= 9; j++ { jobs <- j }
//       close(jobs)
//       for a := 1; a <= 9; a++ { <-results }
//   }
//
// Nine one-second jobs on three workers take three seconds, not nine. Each worker sees only a
// receive-only view of jobs and a send-only view of results.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>

void worker(int id, goro::recv_chan<int> jobs, goro::send_chan<int> results) {
  for (int j : jobs) {
    std::printf("worker %d processing job %d\n", id, j);
    goro::sleep_for(std::chrono::seconds(1));
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
    for (int a = 1; a <= 9; ++a) results.recv();
  });
}
