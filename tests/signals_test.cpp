// Tests of <goro/signals.hpp>: signals sent to the process relayed to channels and contexts,
// stop, reset, ignore and ignored, the actions given back, deadlock detection beside watched
// signals, misuse, plain threads, and a stress of goroutines watching and stopping at once; with
// ports of Go's os/signal tests (Go 1.19, signal_test.go).
//
// Every case leaves each signal's action as it found it (reset() at its end), so the cases can
// also run one after another in one process. The signals used are SIGHUP, SIGWINCH, SIGUSR1 and
// SIGUSR2: the test framework handles SIGINT and SIGTERM itself.
#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/debug.hpp>
#include <goro/error.hpp>
#include <goro/goro.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/signals.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

// kill_self: sends `number` to the process, as Go's tests do (syscall.Kill(pid)). Under
// ThreadSanitizer, to the calling thread instead: the kernel gives a signal sent to the process
// to its main thread first, and TSan runs the handler there only at that thread's next
// intercepted call, for the fiber running then, which may be a goroutine that then parks for
// good (CI: TestReset once waited 30 s for a signal). A signal a thread sends itself TSan
// handles at once. goro's handler is the process's either way.
void kill_self(int number) {
#if defined(GORO_TSAN)
  ::pthread_kill(::pthread_self(), number);
#else
  ::kill(::getpid(), number);
#endif
}

// wait_signal: receives from `c` until it delivers `want` (true) or 30 s pass (false), as Go's
// waitSig; with `all`, other signals are skipped (the channel was notified of every signal).
bool wait_signal(goro::recv_chan<int> c, int want, bool all = false) {
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < give_up) {
    std::optional<int> got;
    goro::select(goro::on_recv(c, [&](std::optional<int> v) { got = v; }),
                 goro::on_recv(goro::after(10ms)));
    if (!got) continue;
    if (*got == want) return true;
    if (!all) return false;
  }
  return false;
}

// wait_done: whether `ctx` is done within 30 s. Like wait_signal it wakes every 10 ms: under
// ThreadSanitizer, a signal that a goroutine took outside an intercepted call reaches goro's
// handler only at that goroutine's next intercepted call (TSan files it under the goroutine's
// fiber), and a goroutine that parked for good would never make one.
bool wait_done(const goro::context& ctx) {
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (goro::select(goro::on_recv(ctx.done()), goro::on_recv(goro::after(10ms))) == 0) {
      return true;
    }
  }
  return false;
}

// signal_buffered: waits (30 s at most) until `c` holds a value, waking every 10 ms like
// wait_signal, so that the receive that follows does not block.
void signal_buffered(const goro::chan<int>& c) {
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (c.size() == 0 && std::chrono::steady_clock::now() < give_up) {
    goro::select(goro::on_recv(goro::after(10ms)));
  }
}

// quiesce: gives signals already sent time to arrive (Go's quiesce: 100 ms in steps).
void quiesce() {
  for (int i = 0; i < 10; ++i) goro::sleep_for(10ms);
}

// handler_of: the handler the process has now for `number`.
void (*handler_of(int number))(int) {
  struct sigaction current {};
  ::sigaction(number, nullptr, &current);
  return current.sa_handler;
}

std::atomic<int> counted_signals{0};
void counting_handler(int) {
  counted_signals.fetch_add(1);
}

// what_of: the message of what `fn` throws, or "" if it returns.
template <class F>
std::string what_of(F&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("signals: notify relays a signal sent to the process to a channel", "[signals]") {
  goro::run([] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGHUP);
    // Interrupted system calls restart, and the handler runs on a worker's alternate signal
    // stack, not on what is left of a goroutine's.
    struct sigaction installed {};
    ::sigaction(SIGHUP, nullptr, &installed);
    CHECK((installed.sa_flags & SA_RESTART) != 0);
    CHECK((installed.sa_flags & SA_ONSTACK) != 0);
    kill_self(SIGHUP);
    CHECK(wait_signal(c, SIGHUP));
    goro::signals::stop(c);
    CHECK(handler_of(SIGHUP) == SIG_DFL);
  });
}

TEST_CASE("signals: each of several channels gets its own copy of a signal", "[signals]") {
  goro::run([] {
    goro::chan<int> first(1), second(1), other(1);
    goro::signals::notify(first, SIGUSR1);
    goro::signals::notify(second, SIGUSR1, SIGUSR2);
    goro::signals::notify(other, SIGUSR2);
    kill_self(SIGUSR1);
    CHECK(wait_signal(first, SIGUSR1));
    CHECK(wait_signal(second, SIGUSR1));
    quiesce();
    CHECK(other.size() == 0);
    goro::signals::stop(first);
    goro::signals::stop(second);
    goro::signals::stop(other);
  });
}

TEST_CASE("signals: notify again adds signals to a channel's set", "[signals]") {
  goro::run([] {
    goro::chan<int> c(2);
    goro::signals::notify(c, SIGUSR1);
    goro::signals::notify(c, SIGUSR2);
    kill_self(SIGUSR2);
    CHECK(wait_signal(c, SIGUSR2));
    kill_self(SIGUSR1);
    CHECK(wait_signal(c, SIGUSR1));
    goro::signals::stop(c);
    CHECK(handler_of(SIGUSR1) == SIG_DFL);
    CHECK(handler_of(SIGUSR2) == SIG_DFL);
  });
}

TEST_CASE("signals: a full channel misses a signal and holds up nobody", "[signals]") {
  goro::run([] {
    goro::chan<int> full(1), free(4);
    goro::signals::notify(full, SIGHUP);
    goro::signals::notify(free, SIGHUP);
    REQUIRE(full.try_send(0));
    kill_self(SIGHUP);
    CHECK(wait_signal(free, SIGHUP));
    quiesce();
    CHECK(full.size() == 1);
    CHECK(full.try_recv() == 0);
    goro::signals::stop(full);
    goro::signals::stop(free);
  });
}

TEST_CASE("signals: an unbuffered channel gets a signal when a receiver is waiting", "[signals]") {
  goro::run([] {
    goro::chan<int> c;
    goro::chan<int> got(1);
    goro::signals::notify(c, SIGUSR1);
    goro::go([c, got] { got.send(*c.recv()); });
    goro_test::dump_when({"[chan receive]:"});
    kill_self(SIGUSR1);
    CHECK(wait_signal(got, SIGUSR1));
    goro::signals::stop(c);
  });
}

TEST_CASE("signals: a plain thread waits for a signal with no run active", "[signals]") {
  goro::chan<int> c(1);
  goro::signals::notify(c, SIGUSR2);
  std::thread sender([] {
    std::this_thread::sleep_for(20ms);
    kill_self(SIGUSR2);
  });
  CHECK(c.recv() == SIGUSR2);
  sender.join();
  goro::signals::stop(c);
  CHECK(handler_of(SIGUSR2) == SIG_DFL);
}

TEST_CASE("signals: a channel closed while notified misses signals, and the relay goes on",
          "[signals]") {
  goro::run([] {
    goro::chan<int> closed(1), open(1);
    goro::signals::notify(closed, SIGUSR1);
    goro::signals::notify(open, SIGUSR1);
    closed.close();
    kill_self(SIGUSR1);
    CHECK(wait_signal(open, SIGUSR1));
    kill_self(SIGUSR1);
    CHECK(wait_signal(open, SIGUSR1));
    CHECK(closed.recv() == std::nullopt);
    goro::signals::stop(closed);
    goro::signals::stop(open);
  });
}

TEST_CASE("signals: notify with no signal named relays every relayable signal", "[signals]") {
  goro::run([] {
    goro::chan<int> c(10);
    goro::signals::notify(c);
    for (int number : {SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGPIPE, SIGRTMIN}) {
      CHECK(handler_of(number) == goro::detail::relay_signal_handler);
    }
    for (int number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGKILL, SIGSTOP}) {
      CHECK(handler_of(number) != goro::detail::relay_signal_handler);
    }
    kill_self(SIGWINCH);
    CHECK(wait_signal(c, SIGWINCH, true));
    kill_self(SIGRTMIN + 1);
    CHECK(wait_signal(c, SIGRTMIN + 1, true));
    goro::signals::stop(c);
    CHECK(handler_of(SIGHUP) == SIG_DFL);
    CHECK(handler_of(SIGRTMIN) == SIG_DFL);
  });
}

// After stop() returns, the channel receives nothing, though the signal keeps coming (another
// channel keeps goro's handler installed, as SIGUSR1's default action ends the process).
TEST_CASE("signals: after stop returns, the channel receives no more signals", "[signals]") {
  goro::run([] {
    goro::chan<int> keeper(1), stopped(1000);
    goro::signals::notify(keeper, SIGUSR1);
    goro::signals::notify(stopped, SIGUSR1);
    std::atomic<bool> done{false};
    std::thread sender([&done] {
      while (!done.load()) {
        kill_self(SIGUSR1);
        std::this_thread::sleep_for(100us);
      }
    });
    CHECK(wait_signal(stopped, SIGUSR1));
    goro::signals::stop(stopped);
    const std::size_t after_stop = stopped.size();
    quiesce();
    CHECK(stopped.size() == after_stop);
    CHECK(wait_signal(keeper, SIGUSR1));
    done.store(true);
    goro::blocking([&sender] { sender.join(); });
    quiesce();  // the last SIGUSR1 is handled before its default action (the end) is back
    goro::signals::stop(keeper);
  });
}

TEST_CASE("signals: stop gives back the handler the program had installed", "[signals]") {
  struct sigaction own {};
  own.sa_handler = counting_handler;
  sigemptyset(&own.sa_mask);
  REQUIRE(::sigaction(SIGUSR2, &own, nullptr) == 0);
  counted_signals.store(0);
  goro::run([] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGUSR2);
    CHECK(handler_of(SIGUSR2) == goro::detail::relay_signal_handler);
    kill_self(SIGUSR2);
    CHECK(wait_signal(c, SIGUSR2));
    CHECK(counted_signals.load() == 0);
    goro::signals::stop(c);
    CHECK(handler_of(SIGUSR2) == counting_handler);
    kill_self(SIGUSR2);
    for (int i = 0; i < 3000 && counted_signals.load() == 0; ++i) goro::sleep_for(10ms);
    CHECK(counted_signals.load() == 1);
    CHECK(c.size() == 0);
  });
  ::signal(SIGUSR2, SIG_DFL);
}

// In the child of a fork (made after earlier cases in this process started a relay), notify
// starts a relay of the child's own.
TEST_CASE("signals: a signal whose action was given back takes it again", "[signals][child]") {
  if (goro::detail::sanitized_build) return;  // forks (tests/support.hpp: run_in_child)
  goro::chan<int> parents(1);                 // the parent's relay runs before the fork
  goro::signals::notify(parents, SIGUSR2);
  goro::signals::stop(parents);
  goro_test::child_result result = goro_test::run_in_child([] {
    goro::run([] {
      goro::chan<int> c(1);
      goro::signals::notify(c, SIGUSR1);
      kill_self(SIGUSR1);
      if (!wait_signal(c, SIGUSR1)) std::_Exit(3);
      goro::signals::stop(c);
      kill_self(SIGUSR1);  // SIGUSR1's default action: the process ends
      goro::sleep_for(30s);
    });
    return 4;
  });
  CHECK(result.signaled);
  CHECK(result.signal == SIGUSR1);
}

TEST_CASE("signals: reset and ignore take a signal from every channel", "[signals]") {
  goro::run([] {
    goro::chan<int> first(1), second(1);
    goro::signals::notify(first, SIGUSR1, SIGUSR2);
    goro::signals::notify(second, SIGUSR1);
    goro::signals::reset(SIGUSR1);
    CHECK(handler_of(SIGUSR1) == SIG_DFL);
    CHECK(handler_of(SIGUSR2) == goro::detail::relay_signal_handler);
    goro::signals::ignore(SIGUSR2);
    CHECK(goro::signals::ignored(SIGUSR2));
    kill_self(SIGUSR2);
    quiesce();
    CHECK(first.size() == 0);
    // A new channel for SIGUSR1 takes it over afresh, and only it receives it now.
    goro::chan<int> third(1);
    goro::signals::notify(third, SIGUSR1);
    CHECK(handler_of(SIGUSR1) == goro::detail::relay_signal_handler);
    kill_self(SIGUSR1);
    CHECK(wait_signal(third, SIGUSR1));
    quiesce();
    CHECK(first.size() == 0);
    CHECK(second.size() == 0);
    goro::signals::stop(third);
    CHECK(handler_of(SIGUSR1) == SIG_DFL);
    // Both watchers are gone: stop finds nothing, and a new notify starts afresh.
    goro::signals::stop(first);
    goro::signals::stop(second);
    goro::signals::notify(second, SIGUSR2);
    CHECK_FALSE(goro::signals::ignored(SIGUSR2));
    goro::signals::stop(second);
    CHECK(handler_of(SIGUSR2) == SIG_DFL);  // back to what it was before goro, as in Go
    CHECK_FALSE(goro::signals::ignored(SIGUSR2));
  });
}

TEST_CASE("signals: ignored sees a signal ignored before goro, and reset leaves it so",
          "[signals]") {
  ::signal(SIGUSR2, SIG_IGN);
  CHECK(goro::signals::ignored(SIGUSR2));
  goro::signals::reset(SIGUSR2);  // goro never changed it
  CHECK(goro::signals::ignored(SIGUSR2));
  goro::chan<int> c(1);
  goro::signals::notify(c, SIGUSR2);
  CHECK_FALSE(goro::signals::ignored(SIGUSR2));
  goro::signals::stop(c);
  CHECK(goro::signals::ignored(SIGUSR2));
  ::signal(SIGUSR2, SIG_DFL);
  CHECK_FALSE(goro::signals::ignored(SIGUSR2));
  CHECK_FALSE(goro::signals::ignored(0));
  CHECK_FALSE(goro::signals::ignored(1000));
  CHECK_FALSE(goro::signals::ignored(SIGKILL));
}

TEST_CASE("signals: a goroutine waiting for a notified signal is not deadlocked",
          "[signals][deadlock]") {
  // A thread that never touches goro sends the signal well after the deadlock grace period:
  // only the watched signal stands between the run and a deadlock report.
  std::thread sender;
  goro::run([&sender] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGUSR1);
    sender = std::thread([] {
      std::this_thread::sleep_for(300ms);
      kill_self(SIGUSR1);
    });
    CHECK(c.recv() == SIGUSR1);
    goro::signals::stop(c);
  });
  sender.join();
}

TEST_CASE("signals: once every watcher has stopped, a deadlock is reported again",
          "[signals][deadlock]") {
  goro::chan<int> c(1);
  std::pair<goro::context, goro::cancel_func> watched =
      goro::signals::notify_context(goro::background(), SIGHUP);
  goro::signals::notify(c, SIGUSR1);
  CHECK_THROWS_AS(goro::run([&] {
                    goro::signals::stop(c);
                    watched.second();
                    goro::chan<int>().recv();
                  }),
                  goro::deadlock_error);
}

TEST_CASE("signals: notify_context cancels its context when a signal arrives", "[signals]") {
  goro::run([] {
    auto [ctx, stop] = goro::signals::notify_context(goro::background(), SIGWINCH, SIGUSR1);
    CHECK(ctx.err() == std::error_code{});
    kill_self(SIGUSR1);
    CHECK(wait_done(ctx));
    CHECK(ctx.err() == goro::errc::canceled);
    CHECK(handler_of(SIGUSR1) == goro::detail::relay_signal_handler);  // until stop
    stop();
    CHECK(handler_of(SIGUSR1) == SIG_DFL);
    CHECK(handler_of(SIGWINCH) == SIG_DFL);
    stop();  // idempotent
  });
}

TEST_CASE("signals: notify_context works from a plain thread with no run", "[signals]") {
  auto [ctx, stop] = goro::signals::notify_context(goro::background(), SIGUSR2);
  auto [child, cancel_child] = goro::with_cancel(ctx);
  std::thread sender([] {
    std::this_thread::sleep_for(20ms);
    kill_self(SIGUSR2);
  });
  child.done().recv();
  sender.join();
  CHECK(child.err() == goro::errc::canceled);
  cancel_child();
  stop();
  CHECK(handler_of(SIGUSR2) == SIG_DFL);
}

// Ports of Go 1.19's os/signal tests (signal_test.go). TestDetectNohup and TestNohup run the
// test binary under nohup, TestSIGCONT and TestAtomicStop need a child of the test binary,
// TestTime and TestSignalTrace test the Go runtime's own use of signals (timers and
// tracing), and TestNotifyContextStringer a String method goro's contexts do not have: skipped.

// TestSignal
TEST_CASE("signals: [go] TestSignal", "[signals][go]") {
  goro::run([] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGHUP);
    kill_self(SIGHUP);
    CHECK(wait_signal(c, SIGHUP));

    goro::chan<int> c1(10);
    goro::signals::notify(c1);
    kill_self(SIGWINCH);
    CHECK(wait_signal(c1, SIGWINCH, true));

    // Two more SIGHUPs reach c1; c, not read, holds up nothing.
    kill_self(SIGHUP);
    CHECK(wait_signal(c1, SIGHUP, true));
    kill_self(SIGHUP);
    CHECK(wait_signal(c1, SIGHUP, true));

    // The first SIGHUP should be waiting for us on c.
    CHECK(wait_signal(c, SIGHUP));
    goro::signals::stop(c1);
    goro::signals::stop(c);
  });
}

// TestStress: a goroutine sends SIGUSR1 to the process as fast as it can for a while, then
// stops the channel and closes it; stop's promise makes the close safe.
TEST_CASE("signals: [go] TestStress", "[signals][go]") {
  goro::run(
      [] {
        goro::chan<int> sig(1);
        goro::signals::notify(sig, SIGUSR1);
        goro::go([sig] {
          auto stop = goro::after(100ms);
          for (;;) {
            if (stop.try_recv()) {
              quiesce();
              goro::signals::stop(sig);
              sig.close();
              return;
            }
            kill_self(SIGUSR1);
            goro::yield();
          }
        });
        long received = 0;
        for (int s : sig) received += s == SIGUSR1 ? 1 : 0;
        CHECK(received > 0);
        CHECK(handler_of(SIGUSR1) == SIG_DFL);
      },
      {.workers = 4});
}

// testCancel, with ignore false (TestReset) and true (TestIgnore).
void test_cancel(bool ignore) {
  goro::chan<int> c1(1), c2(1);
  goro::signals::notify(c1, SIGWINCH);
  goro::signals::notify(c2, SIGHUP);
  kill_self(SIGWINCH);
  CHECK(wait_signal(c1, SIGWINCH));
  kill_self(SIGHUP);
  CHECK(wait_signal(c2, SIGHUP));

  if (ignore) {
    goro::signals::ignore(SIGWINCH, SIGHUP);
  } else {
    goro::signals::reset(SIGWINCH, SIGHUP);
  }
  kill_self(SIGWINCH);  // ignored either way (SIGWINCH's default action is to ignore it)
  if (ignore) kill_self(SIGHUP);
  quiesce();
  CHECK(c1.size() == 0);
  CHECK(c2.size() == 0);
  goro::signals::stop(c1);
  goro::signals::stop(c2);
  goro::signals::reset(SIGWINCH, SIGHUP);
}

TEST_CASE("signals: [go] TestReset", "[signals][go]") {
  goro::run([] { test_cancel(false); });
}

TEST_CASE("signals: [go] TestIgnore", "[signals][go]") {
  goro::run([] { test_cancel(true); });
}

// TestIgnored
TEST_CASE("signals: [go] TestIgnored", "[signals][go]") {
  goro::run([] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGWINCH);
    CHECK_FALSE(goro::signals::ignored(SIGWINCH));
    goro::signals::stop(c);
    goro::signals::ignore(SIGWINCH);
    CHECK(goro::signals::ignored(SIGWINCH));
    goro::signals::reset();
    CHECK_FALSE(goro::signals::ignored(SIGWINCH));
  });
}

// TestStop, for SIGWINCH (whose default action is to ignore it, so it is also sent after stop),
// SIGHUP and SIGUSR1 (whose default actions end the process: the test above of a given-back
// action sends one after stop in a child process).
TEST_CASE("signals: [go] TestStop", "[signals][go]") {
  goro::run([] {
    for (int sig : {SIGWINCH, SIGHUP, SIGUSR1}) {
      CAPTURE(sig);
      if (sig == SIGWINCH) {
        kill_self(sig);
        quiesce();
      }
      goro::chan<int> c(1);
      goro::signals::notify(c, sig);
      kill_self(sig);
      CHECK(wait_signal(c, sig));
      goro::signals::stop(c);
      if (sig == SIGWINCH) {
        kill_self(sig);
        quiesce();
        CHECK(c.size() == 0);
      }
      CHECK(handler_of(sig) == SIG_DFL);
    }
  });
}

// TestNotifyContextNotifications: the context of each of several notify_context calls is
// cancelled by the signal.
TEST_CASE("signals: [go] TestNotifyContextNotifications", "[signals][go]") {
  goro::run([] {
    for (int contexts : {1, 4}) {
      std::vector<std::pair<goro::context, goro::cancel_func>> made;
      for (int i = 0; i < contexts; ++i) {
        made.push_back(goro::signals::notify_context(goro::background(), SIGUSR1));
      }
      kill_self(SIGUSR1);
      for (auto& one : made) {
        CHECK(wait_done(one.first));
        CHECK(one.first.err() == goro::errc::canceled);
      }
      for (auto& one : made) one.second();
    }
  });
}

// TestNotifyContextStop
TEST_CASE("signals: [go] TestNotifyContextStop", "[signals][go]") {
  goro::run([] {
    CHECK(handler_of(SIGHUP) == SIG_DFL);
    auto [c, stop] = goro::signals::notify_context(goro::background(), SIGHUP);
    CHECK(handler_of(SIGHUP) == goro::detail::relay_signal_handler);
    stop();
    CHECK(handler_of(SIGHUP) == SIG_DFL);
    c.done().recv();
    CHECK(c.err() == goro::errc::canceled);
  });
}

// TestNotifyContextCancelParent
TEST_CASE("signals: [go] TestNotifyContextCancelParent", "[signals][go]") {
  goro::run([] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    auto [c, stop] = goro::signals::notify_context(parent, SIGINT);
    cancel_parent();
    c.done().recv();
    CHECK(c.err() == goro::errc::canceled);
    stop();
  });
}

// TestNotifyContextPrematureCancelParent
TEST_CASE("signals: [go] TestNotifyContextPrematureCancelParent", "[signals][go]") {
  goro::run([] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    cancel_parent();  // prematurely
    auto [c, stop] = goro::signals::notify_context(parent, SIGINT);
    c.done().recv();
    CHECK(c.err() == goro::errc::canceled);
    stop();
  });
}

// TestNotifyContextSimultaneousStop: ten goroutines call the stop function at once.
TEST_CASE("signals: [go] TestNotifyContextSimultaneousStop", "[signals][go]") {
  goro::run([] {
    std::pair<goro::context, goro::cancel_func> c =
        goro::signals::notify_context(goro::background(), SIGINT);
    goro::wait_group wg;
    const int n = 10;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      goro::go([&] {
        c.second();
        wg.done();
      });
    }
    wg.wait();
    c.first.done().recv();
    CHECK(c.first.err() == goro::errc::canceled);
  });
}

// ExampleNotify and ExampleNotifyContext: a signal the program sends itself.
TEST_CASE("signals: [go] ExampleNotify and ExampleNotifyContext", "[signals][go]") {
  goro::run([] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGHUP);
    kill_self(SIGHUP);
    CHECK(wait_signal(c, SIGHUP));  // Go: s := <-c
    goro::signals::stop(c);

    auto [ctx, stop] = goro::signals::notify_context(goro::background(), SIGHUP);
    kill_self(SIGHUP);
    CHECK(wait_done(ctx));  // Go: select { case <-time.After(time.Second): case <-ctx.Done(): }
    CHECK(ctx.err().message() == "context canceled");
    stop();
  });
}

TEST_CASE("signals: misuse throws goro::error and changes nothing", "[signals][errors]") {
  goro::chan<int> c(1);
  CHECK(what_of([&] { goro::signals::notify(goro::chan<int>(nullptr), SIGHUP); }) ==
        "goro::signals::notify: notify using nil channel (Go: \"os/signal: Notify using nil "
        "channel\")");
  CHECK(what_of([&] { goro::signals::notify(c, 0); }) ==
        "goro::signals::notify: 0 is not a signal number (they run from 1 to 64)");
  CHECK(what_of([&] { goro::signals::notify(c, 65); }) ==
        "goro::signals::notify: 65 is not a signal number (they run from 1 to 64)");
  CHECK(what_of([&] { goro::signals::notify(c, SIGHUP, SIGKILL); }) ==
        "goro::signals::notify: SIGKILL cannot be caught or ignored");
  CHECK(what_of([&] { goro::signals::ignore(SIGSTOP); }) ==
        "goro::signals::ignore: SIGSTOP cannot be caught or ignored");
  CHECK(what_of([&] { goro::signals::notify(c, SIGSEGV); }) ==
        "goro::signals::notify: SIGSEGV reports a fault of the program itself; goro does not "
        "relay or ignore it");
  CHECK(what_of([&] { goro::signals::reset(SIGBUS); }) ==
        "goro::signals::reset: SIGBUS reports a fault of the program itself; goro does not "
        "relay or ignore it");
  CHECK(what_of([&] { goro::signals::notify_context(goro::background(), SIGRTMIN - 1); }) ==
        "goro::signals::notify_context: signal " + std::to_string(SIGRTMIN - 1) +
            " is reserved by the C library for its threads");
  CHECK_THROWS_AS(goro::signals::notify(c, SIGFPE), goro::error);
  // Nothing was taken over, not even SIGHUP, named before SIGKILL.
  CHECK(handler_of(SIGHUP) == SIG_DFL);
  CHECK(goro::detail::process().signal_watchers.load() == 0);
  goro::signals::stop(c);                         // not notified: nothing
  goro::signals::stop(goro::chan<int>(nullptr));  // nil: nothing
}

// Stress: goroutines (and two plain threads) each watch SIGUSR2 on a channel of their own, send
// it, wait until their channel has it, and stop, round after round, while a keeper channel keeps
// the handler installed. Each must get the signal it sent: none is lost between the handler and
// the relay however the notifies, stops and arrivals interleave.
void watch_and_stop_rounds(int goroutines, int rounds) {
  goro::run([goroutines, rounds] {
    goro::chan<int> keeper(1);
    goro::signals::notify(keeper, SIGUSR2);
    std::atomic<int> missed{0}, received{0};
    // Every watcher waits for the others before it ends: a plain thread that has ended cannot
    // take a signal the kernel sends its way.
    goro::wait_group finished;
    finished.add(goroutines + 2);
    auto watcher = [&missed, &received, &finished, rounds] {
      for (int round = 0; round < rounds; ++round) {
        goro::chan<int> mine(1);
        goro::signals::notify(mine, SIGUSR2);
        kill_self(SIGUSR2);
        if (wait_signal(mine, SIGUSR2)) {
          received.fetch_add(1);
        } else {
          missed.fetch_add(1);
        }
        goro::signals::stop(mine);
      }
      finished.done();
      finished.wait();
    };
    goro::wait_group wg;
    wg.add(goroutines);
    for (int i = 0; i < goroutines; ++i) {
      goro::go([&wg, watcher] {
        watcher();
        wg.done();
      });
    }
    std::thread first(watcher), second(watcher);
    wg.wait();
    goro::blocking([&] {
      first.join();
      second.join();
    });
    quiesce();  // a signal merged into another's arrival may still be on its way
    goro::signals::stop(keeper);
    CHECK(missed.load() == 0);
    CHECK(received.load() == (goroutines + 2) * rounds);
    CHECK(handler_of(SIGUSR2) == SIG_DFL);
    CHECK(goro::detail::process().signal_watchers.load() == 0);
  });
}

TEST_CASE("signals: stress: goroutines watching and stopping while signals arrive",
          "[signals][stress]") {
  watch_and_stop_rounds(32, static_cast<int>(goro_test::scaled(20, 4)));
}

// The same under chaos scheduling (seed 7, unless GORO_CHAOS already sets one).
TEST_CASE("signals: stress under chaos scheduling", "[signals][stress]") {
  const bool chaos_was_set = std::getenv("GORO_CHAOS") != nullptr;
  if (!chaos_was_set) setenv("GORO_CHAOS", "7", 1);
  watch_and_stop_rounds(16, static_cast<int>(goro_test::scaled(10, 2)));
  if (!chaos_was_set) unsetenv("GORO_CHAOS");
}

// docs/go-to-goro.md, section "os/signal": every row's spelling, as the table writes it.
TEST_CASE("go-to-goro: os/signal's notify, stop, reset, ignore, ignored and notify_context",
          "[signals][go-to-goro]") {
  goro::run([] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGHUP, SIGUSR1);
    kill_self(SIGHUP);
    signal_buffered(c);
    int s = *c.recv();
    CHECK(s == SIGHUP);
    CHECK(std::string(strsignal(s)) == "Hangup");
    goro::signals::stop(c);

    goro::chan<int> every(10);
    goro::signals::notify(every);
    CHECK(handler_of(SIGTERM) == goro::detail::relay_signal_handler);
    goro::signals::stop(every);

    goro::signals::ignore(SIGHUP);
    CHECK(goro::signals::ignored(SIGHUP));
    goro::signals::reset(SIGHUP);
    CHECK_FALSE(goro::signals::ignored(SIGHUP));
    goro::signals::ignore(SIGHUP);
    goro::signals::reset();
    CHECK_FALSE(goro::signals::ignored(SIGHUP));

    goro::context parent = goro::background();
    auto [ctx, stop] = goro::signals::notify_context(parent, SIGUSR1);
    kill_self(SIGUSR1);
    CHECK(wait_done(ctx));
    ctx.done().recv();
    CHECK(ctx.err() == goro::errc::canceled);
    stop();
  });
}

// A signal whose handler ran before stop() gave its action back, and which the relay has not
// taken yet, goes to the channel being stopped: it is neither dropped nor left to the action
// given back. (The pending bit is set here by hand, without waking the relay, so that the relay
// cannot take it first.) stop() sends it after letting go of the relay's lock, because a
// goroutine's send may yield: under chaos scheduling, several goroutines stop at once.
// blocked_signal_masks: SigBlk of every thread of the process (/proc/self/task/*/status): bit
// n-1 set if signal n is blocked.
std::vector<unsigned long long> blocked_signal_masks() {
  std::vector<unsigned long long> masks;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return masks;
  while (const dirent* task = readdir(tasks)) {
    if (task->d_name[0] == '.') continue;
    std::ifstream status(std::string("/proc/self/task/") + task->d_name + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0) masks.push_back(std::stoull(line.substr(7), nullptr, 16));
    }
  }
  closedir(tasks);
  return masks;
}

// The relay thread blocks every signal but the faults, so that the kernel gives a signal to one
// of the program's threads: under ThreadSanitizer one given to the relay, asleep in read(2) until
// a handler wakes it, was never handled. The relay is the one thread that blocks SIGINT, SIGHUP,
// SIGWINCH and SIGRTMIN and leaves SIGSEGV open.
TEST_CASE("signals: the relay thread blocks every signal but the faults", "[signals]") {
  goro::chan<int> c(1);
  goro::signals::notify(c, SIGWINCH);  // starts the relay, if no earlier case has
  const auto bit = [](int number) { return 1ULL << (number - 1); };
  const unsigned long long wanted = bit(SIGINT) | bit(SIGHUP) | bit(SIGWINCH) | bit(SIGRTMIN);
  // A new thread blocks everything until glibc's start routine sets the mask it inherited:
  // look again until it has.
  int relays = 0;
  for (int attempt = 0; attempt < 5000 && relays == 0; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (const unsigned long long mask : blocked_signal_masks()) {
      if ((mask & wanted) == wanted && (mask & bit(SIGSEGV)) == 0) ++relays;
    }
  }
  CHECK(relays == 1);
  goro::signals::stop(c);
  // Nothing else changed: this thread's own mask blocks none of them.
  sigset_t mine;
  pthread_sigmask(SIG_BLOCK, nullptr, &mine);
  CHECK_FALSE(sigismember(&mine, SIGWINCH));
  CHECK_FALSE(sigismember(&mine, SIGINT));
}

TEST_CASE("signals: stop sends its channel a signal that arrived before it", "[signals]") {
  goro::run([] {
    goro::chan<int> c(1);
    goro::signals::notify(c, SIGWINCH);
    goro::detail::pending_signals.fetch_or(goro::detail::signal_bit(SIGWINCH));
    goro::signals::stop(c);
    CHECK(c.try_recv() == SIGWINCH);
    CHECK(goro::detail::pending_signals.load() == 0);
  });
}

TEST_CASE("signals: goroutines stopping owed channels at once under chaos scheduling",
          "[signals][stress]") {
  const bool chaos_was_set = std::getenv("GORO_CHAOS") != nullptr;
  if (!chaos_was_set) setenv("GORO_CHAOS", "3", 1);
  goro::run([] {
    const int goroutines = 8;
    std::atomic<int> owed{0};
    goro::wait_group wg;
    wg.add(goroutines);
    for (int i = 0; i < goroutines; ++i) {
      goro::go([&owed, &wg, i] {
        const int number = i % 2 == 0 ? SIGWINCH : SIGURG;
        for (int round = 0; round < 50; ++round) {
          goro::chan<int> c(1);
          goro::signals::notify(c, number);
          goro::detail::pending_signals.fetch_or(goro::detail::signal_bit(number));
          goro::signals::stop(c);
          if (c.try_recv()) owed.fetch_add(1);
        }
        wg.done();
      });
    }
    wg.wait();
    CHECK(owed.load() > 0);
    CHECK(goro::detail::process().signal_watchers.load() == 0);
  });
  if (!chaos_was_set) unsetenv("GORO_CHAOS");
}
