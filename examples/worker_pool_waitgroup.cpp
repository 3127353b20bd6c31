// worker_pool_waitgroup — the worker pool pattern from the Go concurrency article this project
// started from:
//
//   type task struct{ id int }
//
//   func worker(tasks chan task, wg *sync.WaitGroup) {
//       defer wg.Done()
//       for t := range tasks {
//           fmt.Printf("Worker processing task %d\n", t.id)
//       }
//   }
//   func main() {
//       tasks := make(chan task)
//       var wg sync.WaitGroup
//       for i := 0; i < 5; i++ {          // start 5 worker goroutines
//           wg.Add(1)
//           go worker(tasks, &wg)
//       }
//       for i := 0; i < 10; i++ {         // send 10 tasks to the workers
//           tasks <- task{id: i}
//       }
//       close(tasks)
//       wg.Wait()                         // wait for all workers to finish
//   }
//
// Five goroutines range over one unbuffered channel; each task goes to whichever worker is free.
// Closing the channel ends every worker's loop, and the wait_group tells main when all are done.
// Which worker takes which task varies from run to run; every task is processed exactly once.
#include <goro/chan.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>

#include <cstdio>
#include <functional>

struct task {
  int id;
};

void worker(goro::recv_chan<task> tasks, goro::wait_group& wg) {
  for (task t : tasks) std::printf("Worker processing task %d\n", t.id);
  wg.done();  // Go's `defer wg.Done()`: the loop ends when tasks is closed and drained
}

int main() {
  goro::run([] {
    goro::chan<task> tasks;
    goro::wait_group wg;
    for (int i = 0; i < 5; ++i) {
      wg.add(1);
      goro::go(worker, tasks, std::ref(wg));
    }
    for (int i = 0; i < 10; ++i) tasks.send(task{i});
    tasks.close();
    wg.wait();
  });
}
