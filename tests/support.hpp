// tests/support.hpp — helpers shared by goro's tests.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <goro/debug.hpp>
#include <goro/detail/config.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

namespace goro_test {

// unwinding_probe: records, when it is destroyed, whether an exception is unwinding the stack —
// as one does when the end of a run stops a goroutine (API 1.1).
struct unwinding_probe {
  bool& unwinding;
  ~unwinding_probe() { unwinding = std::uncaught_exceptions() > 0; }
};

// scaled: a workload size, reduced under sanitizers (whose fiber bookkeeping is costly).
constexpr long scaled(long n, long divisor = 50) {
  return goro::detail::sanitized_build ? (n / divisor > 0 ? n / divisor : 1) : n;
}

// child_result: how a function run in a child process ended and what it wrote to stderr.
struct child_result {
  bool exited = false;  // exited normally
  int exit_code = -1;
  bool signaled = false;  // killed by a signal
  int signal = 0;
  std::string err;
};

// run_in_child: forks, runs `fn` in the child with stderr captured, and exits the child with
// `fn`'s return value. For tests of paths that end the process (terminate, abort).
inline child_result run_in_child(const std::function<int()>& fn) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) std::abort();
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    // The child reports only through stderr and how it ends: drop the test framework's signal
    // handlers (they would report a second failure) and its stdout. SIGINT and SIGQUIT start
    // from their default actions too: a shell runs a background job with both ignored, and the
    // tests of SIGQUIT check what goro does to its action.
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTERM, SIGINT, SIGQUIT}) {
      signal(sig, SIG_DFL);
    }
    int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, STDOUT_FILENO);
    close(null_fd);
    close(pipe_fds[0]);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[1]);
    int code = fn();
    std::fflush(nullptr);
    _exit(code);
  }
  close(pipe_fds[1]);
  child_result result;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    result.err.append(buffer, static_cast<std::size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exited = WIFEXITED(status);
  result.exit_code = result.exited ? WEXITSTATUS(status) : -1;
  result.signaled = WIFSIGNALED(status);
  result.signal = result.signaled ? WTERMSIG(status) : 0;
  return result;
}

// registered_thread: starts a std::thread running `fn` and returns once that thread has called
// into goro, so that deadlock detection counts it (API 1.3: a plain thread is invisible until its
// first call). Call from a goroutine or a plain thread while a run is active.
inline std::thread registered_thread(std::function<void()> fn) {
  std::atomic<bool> registered{false};
  std::thread t([&registered, fn = std::move(fn)] {
    (void)goro::in_goroutine();  // the first call into goro registers the thread
    registered.store(true, std::memory_order_release);
    registered.notify_one();
    fn();
  });
  goro::blocking([&] { registered.wait(false, std::memory_order_acquire); });
  return t;
}

// os_thread_id: the kernel id of the calling thread. Unlike std::this_thread::get_id() (which
// calls pthread_self(), declared `const`), the compiler cannot reuse it across a call that may
// park a goroutine and resume it on another worker.
inline pid_t os_thread_id() {
  return gettid();
}

// process_cpu_time: CPU time used by every thread of the process so far.
inline std::chrono::nanoseconds process_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// chaos_scheduling: GORO_CHAOS is set, so tests of a deterministic schedule (an exact order
// on one worker) must not assert that order.
inline bool chaos_scheduling() {
  return std::getenv("GORO_CHAOS") != nullptr;
}

// dump_until: from a goroutine, the text of goro::dump() once `shows(text)` holds, polled every
// millisecond for at most 10 s, else the last dump. A test that needs other goroutines parked
// waits for it instead of sleeping a guess: under a sanitizer on a virtual machine, starting a
// goroutine has taken more than 10 ms.
template <class Predicate>
std::string dump_until(Predicate shows) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::ostringstream out;
    goro::dump(out);
    std::string text = out.str();
    if (shows(text) || std::chrono::steady_clock::now() > give_up) return text;
    goro::sleep_for(std::chrono::milliseconds(1));
  }
}

// dump_when: dump_until the dump shows every one of `states` (e.g. "[chan receive]:").
inline std::string dump_when(std::initializer_list<std::string_view> states) {
  return dump_until([states](const std::string& text) {
    bool all = true;
    for (std::string_view state : states) all = all && text.find(state) != std::string::npos;
    return all;
  });
}

// live_goroutines_when: from a goroutine, goro::num_goroutines() once it is `expected`, polled
// every millisecond for at most 10 s, else the last count. A goroutine that has signalled a
// wait_group or closed a channel on its way out may not have exited yet when the waiter runs
// (seen under ThreadSanitizer on a loaded machine).
inline std::size_t live_goroutines_when(std::size_t expected) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::size_t live = goro::num_goroutines();
  while (live != expected && std::chrono::steady_clock::now() < give_up) {
    goro::sleep_for(std::chrono::milliseconds(1));
    live = goro::num_goroutines();
  }
  return live;
}

// count_in_dump: how many goroutines a dump's text shows in `state` (e.g. "[io]:").
inline std::size_t count_in_dump(const std::string& text, std::string_view state) {
  std::size_t seen = 0;
  for (auto at = text.find(state); at != std::string::npos; at = text.find(state, at + 1)) ++seen;
  return seen;
}

// dump_when_count: dump_until at least `count` goroutines are shown in `state` (e.g. "[io]:").
inline std::string dump_when_count(std::string_view state, std::size_t count) {
  return dump_until(
      [state, count](const std::string& text) { return count_in_dump(text, state) >= count; });
}

// parties: the parties of a memory-model test, each a goroutine or a plain thread (API 1.5).
// start runs fn on one of them; wait (on a goroutine) waits for all: goroutines through a
// wait_group, threads by joining them in a blocking call.
struct parties {
  std::vector<std::thread> threads;
  goro::wait_group running;
  template <class F>
  void start(bool on_thread, F fn) {
    if (on_thread) {
      threads.emplace_back(std::move(fn));
      return;
    }
    running.add(1);
    goro::go([this, fn = std::move(fn)]() mutable {
      fn();
      running.done();
    });
  }
  void wait() {
    running.wait();
    goro::blocking([this] {
      for (std::thread& t : threads) t.join();
    });
  }
};

// memory_model_options: `workers` workers, and no deadlock detection: a party on a plain thread
// that has not yet touched goro is invisible to it (API 1.3), so detection could fire while the
// goroutines wait for it.
inline goro::options memory_model_options(unsigned workers) {
  goro::options o;
  o.workers = workers;
  o.detect_deadlock = false;
  return o;
}

// payload: plain, non-atomic data of several kinds that memory-model tests share between
// parties through nothing but the goro operation under test.
struct payload {
  int number = 0;
  std::string text;
  std::vector<int> items;
  void write(int i) {
    number = i;
    text = "value " + std::to_string(i);
    items.assign(4, i);
  }
  bool holds(int i) const {
    return number == i && text == "value " + std::to_string(i) && items == std::vector<int>(4, i);
  }
};

}  // namespace goro_test
