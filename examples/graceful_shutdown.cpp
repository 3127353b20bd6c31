// graceful_shutdown — a worker pool that stops cleanly on Ctrl-C: the signal cancels a context,
// the producer stops handing out jobs, and the workers finish the ones they have (Go's
// os/signal):
//
//   func main() {
//       ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//       defer stop()
//
//       jobs := make(chan int)
//       var finished int64
//       var wg sync.WaitGroup
//       for w := 0; w < 3; w++ {
//           wg.Add(1)
//           go func() {
//               defer wg.Done()
//               for range jobs {
//                   time.Sleep(10 * time.Millisecond) // the work
//                   atomic.AddInt64(&finished, 1)
//               }
//           }()
//       }
//       go func() { // the user presses Ctrl-C (here the program interrupts itself)
//           time.Sleep(100 * time.Millisecond)
//           syscall.Kill(syscall.Getpid(), syscall.SIGINT)
//       }()
//       handed := int64(0)
//   loop:
//       for {
//           select {
//           case jobs <- int(handed):
//               handed++
//           case <-ctx.Done():
//               break loop
//           }
//       }
//       close(jobs)
//       wg.Wait()
//       stop() // a second Ctrl-C now ends the program at once
//       fmt.Println("interrupted:", ctx.Err())
//       fmt.Println("every job handed out was finished:", finished == handed)
//
//       sigs := make(chan os.Signal, 1) // the plain form: signals on a channel
//       signal.Notify(sigs, syscall.SIGHUP)
//       syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
//       fmt.Println("received:", <-sigs)
//       signal.Stop(sigs)
//   }
//
// Prints "interrupted: context canceled", "every job handed out was finished: true" and
// "received: Hangup" (Go names it "hangup"). Pressing Ctrl-C during the first 100 ms does the
// same as the program's own SIGINT.
#include <goro/goro.hpp>
#include <goro/signals.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>

using namespace std::chrono_literals;

int main() {
  goro::run([] {
    auto [ctx, stop] = goro::signals::notify_context(goro::background(), SIGINT, SIGTERM);

    goro::chan<int> jobs;
    std::atomic<long> finished{0};
    goro::wait_group wg;
    for (int w = 0; w < 3; ++w) {
      wg.add(1);
      goro::go([jobs, &finished, &wg] {
        for (int job : jobs) {
          (void)job;
          goro::sleep_for(10ms);  // the work
          finished.fetch_add(1);
        }
        wg.done();
      });
    }
    goro::go([] {  // the user presses Ctrl-C (here the program interrupts itself)
      goro::sleep_for(100ms);
      ::kill(::getpid(), SIGINT);
    });
    long handed = 0;
    for (;;) {
      const bool interrupted =
          goro::select(goro::on_send(jobs, static_cast<int>(handed), [&] { ++handed; }),
                       goro::on_recv(ctx.done())) == 1;
      if (interrupted) break;
    }
    jobs.close();
    wg.wait();
    stop();  // a second Ctrl-C now ends the program at once
    std::printf("interrupted: %s\n", ctx.err().message().c_str());
    std::printf("every job handed out was finished: %s\n",
                finished.load() == handed ? "true" : "false");

    goro::chan<int> sigs(1);  // the plain form: signals on a channel
    goro::signals::notify(sigs, SIGHUP);
    ::kill(::getpid(), SIGHUP);
    std::printf("received: %s\n", ::strsignal(*sigs.recv()));
    goro::signals::stop(sigs);
  });
}
