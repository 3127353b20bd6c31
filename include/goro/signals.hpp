/// \file
/// goro/signals.hpp — incoming OS signals delivered on channels and to contexts (Go's os/signal).
///
/// ```cpp
///   goro::chan<int> sigs(1);
///   goro::signals::notify(sigs, SIGINT, SIGTERM);
///   int sig = *sigs.recv();  // parks until Ctrl-C or `kill`
/// ```
///
/// notify() installs goro's handler for the signals it names. From then on each of them that
/// reaches the process is sent, without blocking, on every channel that asked for it: a channel
/// that is full misses it, so give the channel a buffer. stop(), reset() and ignore() undo
/// notify(); once no channel or context wants a signal, the action the signal had before goro
/// took it over is put back. notify_context() cancels a context on a signal instead.
//
// How a signal travels. goro's handler (on whatever thread the kernel picks) only sets the
// signal's bit in `pending_signals` and writes to an eventfd, both async-signal-safe. The relay,
// a thread of goro's own that the first notify() starts and nothing ends, reads the eventfd, takes
// the pending bits, and sends each signal with try_send on every channel whose watcher wants it,
// and cancels every notify_context() context that wants it. Signals of one number that arrive
// before the relay has taken the first count as one, as in Go.
//
// Invariants (signal_relay::lock_ guards watchers_, wanted_by_ and saved_; the relay's try_sends
// are the only operations on a user's channel made while it is held: they never block, and on
// the relay, no goroutine, they never yield. Nothing a goroutine does under it may yield):
//   - wanted_by_[s] is the number of watchers whose set holds s. goro's handler is installed for
//     s exactly while it is non-zero (ignore() installs SIG_IGN, with it at zero).
//   - saved_[s] holds the action s had before goro first changed it, until reset() or the stop()
//     of its last watcher puts it back.
//   - A watcher's set is never empty: one whose last signal is reset or ignored is removed.
//   - process().signal_watchers equals watchers_.size(): while it is non-zero a signal may wake
//     a goroutine, so deadlock detection (API 1.3) counts it as an outside waker, like a socket.
//   - signals_being_handled counts handlers between their entry and their return. stop() waits
//     for it to be zero after it has put an action back, so that a signal whose handler had begun
//     reaches the channel being stopped instead of being lost.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "chan.hpp"
#include "context.hpp"
#include "detail/park.hpp"
#include "detail/sanitizer.hpp"
#include "detail/scheduler.hpp"
#include "detail/thread_state.hpp"
#include "error.hpp"

namespace goro::detail {

// A set of signal numbers 1..64 (Linux's; NSIG is 65): bit s - 1 stands for signal s.
using signal_set = std::uint64_t;
inline constexpr int highest_signal = 64;

// signal_number: what the functions of goro::signals take for a signal (SIGINT, 15, ...).
template <class T>
concept signal_number = std::convertible_to<T, int>;

constexpr signal_set signal_bit(int number) noexcept {
  return signal_set{1} << (number - 1);
}

// What the handler shares with the relay: plain atomics, lock-free, so that a handler may touch
// them at any moment.
GORO_PROCESS_WIDE inline std::atomic<signal_set> pending_signals{0};
GORO_PROCESS_WIDE inline std::atomic<int> signal_eventfd{-1};
GORO_PROCESS_WIDE inline std::atomic<int> signals_being_handled{0};
static_assert(std::atomic<signal_set>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "a signal handler may only use lock-free atomics");

// relay_signal_handler: goro's handler for every signal a watcher wants. Async-signal-safe.
inline void relay_signal_handler(int number) noexcept {
  const int saved_errno = errno;
  signals_being_handled.fetch_add(1, std::memory_order_seq_cst);
  pending_signals.fetch_or(signal_bit(number), std::memory_order_seq_cst);
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written =
      ::write(signal_eventfd.load(std::memory_order_seq_cst), &one, sizeof one);
  signals_being_handled.fetch_sub(1, std::memory_order_seq_cst);
  errno = saved_errno;
}

// signal_name: "SIGINT" for SIGINT; "signal 40" where the C library has no name.
inline std::string signal_name(int number) {
  const char* abbreviation = ::sigabbrev_np(number);
  if (abbreviation == nullptr) return "signal " + std::to_string(number);
  return "SIG" + std::string(abbreviation);
}

// fault_signal: raised by the kernel when the program itself faults (goro reports stack overflow
// with SIGSEGV). A handler that returns from such a fault meets it again at once.
inline bool fault_signal(int number) noexcept {
  return number == SIGSEGV || number == SIGBUS || number == SIGFPE || number == SIGILL ||
         number == SIGTRAP || number == SIGSYS;
}

// reserved_signal: between the classic signals and SIGRTMIN: glibc's threads use them.
inline bool reserved_signal(int number) noexcept {
  return number > SIGSYS && number < SIGRTMIN;
}

// signal_refusal: why goro cannot relay a signal number, or none if it can.
enum class signal_refusal { none, not_a_signal, uncatchable, fault, reserved };

inline signal_refusal refusal_of(int number) noexcept {
  if (number < 1 || number > highest_signal) return signal_refusal::not_a_signal;
  if (number == SIGKILL || number == SIGSTOP) return signal_refusal::uncatchable;
  if (fault_signal(number)) return signal_refusal::fault;
  if (reserved_signal(number)) return signal_refusal::reserved;
  return signal_refusal::none;
}

// check_signal: throws goro::error naming `function` unless goro can relay `number`.
inline void check_signal(const char* function, int number) {
  std::string problem;
  switch (refusal_of(number)) {
    case signal_refusal::none: return;
    case signal_refusal::not_a_signal:
      problem = std::to_string(number) + " is not a signal number (they run from 1 to " +
                std::to_string(highest_signal) + ")";
      break;
    case signal_refusal::uncatchable:
      problem = signal_name(number) + " cannot be caught or ignored";
      break;
    case signal_refusal::fault:
      problem = signal_name(number) +
                " reports a fault of the program itself; goro does not relay or ignore it";
      break;
    case signal_refusal::reserved:
      problem = signal_name(number) + " is reserved by the C library for its threads";
      break;
  }
  throw goro::error(std::string(function) + ": " + problem);
}

// every_relayable_signal: what a call naming no signal means (Go: all incoming signals).
inline signal_set every_relayable_signal() noexcept {
  signal_set every = 0;
  for (int number = 1; number <= highest_signal; ++number) {
    if (refusal_of(number) == signal_refusal::none) every |= signal_bit(number);
  }
  return every;
}

// signal_set_of: the set a call names, checked; an empty list means every relayable signal.
inline signal_set signal_set_of(const char* function, std::initializer_list<int> numbers) {
  if (numbers.size() == 0) return every_relayable_signal();
  signal_set set = 0;
  for (int number : numbers) {
    check_signal(function, number);
    set |= signal_bit(number);
  }
  return set;
}

// for_each_signal: calls fn(number) for every signal of `set`, lowest first.
template <class F>
void for_each_signal(signal_set set, F&& fn) {
  for (int number = 1; number <= highest_signal; ++number) {
    if ((set & signal_bit(number)) != 0) fn(number);
  }
}

// signal_relay: the watchers and the relay thread. One per process, created on first use and
// never destroyed (the relay may still be reading its eventfd when the process exits).
class signal_relay {
 public:
  GORO_PROCESS_WIDE static signal_relay& instance() {
    static signal_relay* const relay = create();
    return *relay;
  }

  // notify: `channel` receives the signals of `set` too (signal.Notify).
  void notify(send_chan<int> channel, signal_set set) {
    std::lock_guard guard(lock_);
    start_relay();
    watcher* existing = find(channel);
    if (existing == nullptr) {
      watchers_.push_back(watcher{std::move(channel), nullptr, 0, 0});
      existing = &watchers_.back();
    }
    want(*existing, set);
  }

  // watch_context: a new watcher that calls `cancel` on a signal of `set`; returns its id.
  std::uint64_t watch_context(cancel_func cancel, signal_set set) {
    std::lock_guard guard(lock_);
    start_relay();
    watchers_.push_back(watcher{send_chan<int>(nullptr), std::move(cancel), ++last_id_, 0});
    want(watchers_.back(), set);
    return last_id_;
  }

  // stop: removes the channel's watcher (signal.Stop). When it returns, the channel receives no
  // more signals; one that arrived before is sent to it, if its handler had begun.
  void stop(const send_chan<int>& channel) {
    signal_set arrived = 0;
    {
      std::lock_guard guard(lock_);
      watcher* found = find(channel);
      if (found == nullptr) return;
      arrived = remove(*found);
    }
    // After the lock: a goroutine's try_send may yield (GORO_CHAOS) or be unwound (API 1.1).
    for_each_signal(arrived, [&](int number) { send(channel, number); });
  }

  // stop_context: removes the watcher `id` if it is still there.
  void stop_context(std::uint64_t id) {
    std::lock_guard guard(lock_);
    for (watcher& w : watchers_) {
      if (w.context_id == id) {
        remove(w);  // its context was cancelled first: what arrived meanwhile changes nothing
        return;
      }
    }
  }

  // reset: no watcher wants `set` any more, and its signals get back the actions they had
  // before goro changed them (signal.Reset).
  void reset(signal_set set) {
    std::lock_guard guard(lock_);
    forget(set);
    for_each_signal(set, [&](int number) { give_back(number); });
  }

  // ignore: no watcher wants `set` any more, and its signals are ignored (signal.Ignore).
  void ignore(signal_set set) {
    std::lock_guard guard(lock_);
    forget(set);
    for_each_signal(set, [&](int number) { take_over(number, SIG_IGN); });
  }

 private:
  struct watcher {
    send_chan<int> channel;  // notify(): where its signals go; nil for a context's watcher
    cancel_func cancel;      // notify_context(): cancels its context; empty for a channel's
    std::uint64_t context_id;
    signal_set wanted;
  };

  signal_relay() = default;

  // create: the relay state, with fork handlers: a child made by fork() has none of its parent's
  // threads, so it starts a relay of its own (and an eventfd the parent does not read) at its
  // next notify() or notify_context(); until then the watchers it inherited wait.
  static signal_relay* create() {
    auto* relay = new signal_relay();
    ::pthread_atfork([] { instance().lock_.lock(); }, [] { instance().lock_.unlock(); },
                     [] { instance().forget_parent_relay(); });
    return relay;
  }

  // forget_parent_relay: in the child of a fork, which holds lock_ (taken before the fork).
  void forget_parent_relay() noexcept {
    const int fd = signal_eventfd.exchange(-1, std::memory_order_seq_cst);
    if (fd >= 0) ::close(fd);
    started_ = false;
    lock_.unlock();
  }

  watcher* find(const send_chan<int>& channel) noexcept {
    if (channel.is_nil()) return nullptr;
    for (watcher& w : watchers_) {
      if (w.channel == channel) return &w;
    }
    return nullptr;
  }

  // want: adds `set` to `w`'s signals, installing goro's handler for those nobody wanted yet.
  // Requires lock_. On a failure `w` keeps what it had (and is removed if that was nothing).
  void want(watcher& w, signal_set set) {
    try {
      for_each_signal(set & ~w.wanted, [&](int number) {
        if (wanted_by_[number] == 0) take_over(number, relay_signal_handler);
        ++wanted_by_[number];
        w.wanted |= signal_bit(number);
      });
    } catch (...) {
      if (w.wanted == 0) erase(w);
      publish_count();
      throw;
    }
    publish_count();
  }

  // remove: stop() of `w`; returns the signals that arrived for it and that nobody else will
  // relay, which its channel is still owed. Requires lock_.
  signal_set remove(watcher& w) {
    const signal_set wanted = w.wanted;
    signal_set given_back = 0;
    for_each_signal(wanted, [&](int number) {
      if (--wanted_by_[number] != 0) return;
      give_back(number);
      given_back |= signal_bit(number);
    });
    erase(w);
    // A handler that began before give_back() sets its bit; once none is running, the bits of
    // the signals given back are final. Nobody else wants them: they are this watcher's.
    while (signals_being_handled.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    return pending_signals.fetch_and(~given_back, std::memory_order_seq_cst) & given_back;
  }

  // forget: takes `set` out of every watcher, removing those left with nothing. Requires lock_.
  void forget(signal_set set) {
    for (std::size_t i = watchers_.size(); i-- > 0;) {
      watcher& w = watchers_[i];
      for_each_signal(w.wanted & set, [&](int number) { --wanted_by_[number]; });
      w.wanted &= ~set;
      if (w.wanted == 0) erase(w);
    }
    pending_signals.fetch_and(~set, std::memory_order_seq_cst);
  }

  void erase(watcher& w) {
    watchers_.erase(watchers_.begin() + (&w - watchers_.data()));
    publish_count();
  }

  void publish_count() noexcept {
    process().signal_watchers.store(static_cast<std::uint32_t>(watchers_.size()),
                                    std::memory_order_seq_cst);
  }

  // take_over: installs `handler` (goro's, or SIG_IGN) for `number`, first saving the action
  // it replaces unless that is saved already. Requires lock_.
  void take_over(int number, void (*handler)(int)) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = handler == SIG_IGN ? 0 : SA_RESTART | handler_stack_flag();
    struct sigaction previous {};
    if (::sigaction(number, &action, &previous) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              "goro::signals: sigaction(" + signal_name(number) + ")");
    }
    if (!saved_[number]) saved_[number] = previous;
  }

  // handler_stack_flag: SA_ONSTACK, so that the handler runs on a worker's alternate signal
  // stack rather than on whatever is left of a goroutine's. Not under Valgrind, which, after
  // such a handler has run, marks frames of the interrupted goroutine's stack inaccessible (the
  // graceful_shutdown example: invalid writes in 6 runs of 20 under Memcheck, none without it).
  static int handler_stack_flag() noexcept { return running_on_valgrind() ? 0 : SA_ONSTACK; }

  // give_back: puts back the action `number` had before goro changed it. Requires lock_.
  void give_back(int number) noexcept {
    if (!saved_[number]) return;
    ::sigaction(number, &*saved_[number], nullptr);
    saved_[number].reset();
  }

  // start_relay: creates the eventfd and starts the relay thread, once. Requires lock_.
  void start_relay() {
    if (started_) return;
    const int fd = ::eventfd(0, EFD_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "goro::signals: eventfd");
    signal_eventfd.store(fd, std::memory_order_seq_cst);
    // The relay thread takes no signal (but the faults): the handler runs on the program's own
    // threads. Under ThreadSanitizer, which runs a handler only at the receiving thread's next
    // intercepted call, a signal the kernel gave to the relay, asleep in read(2) until a handler
    // wakes it, was never handled (CI: signals_test's TestReset waited 30 s for one). The thread
    // inherits the mask it is created with, so no signal reaches it before it could block them.
    sigset_t blocked;
    sigfillset(&blocked);
    for (int number = 1; number <= highest_signal; ++number) {
      if (fault_signal(number)) sigdelset(&blocked, number);
    }
    sigset_t previous;
    pthread_sigmask(SIG_BLOCK, &blocked, &previous);
    try {
      std::thread([this, fd] { serve(fd); }).detach();
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      signal_eventfd.store(-1, std::memory_order_seq_cst);
      ::close(fd);
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    started_ = true;
  }

  // serve: the relay thread. It first relays what arrived before it started (in a forked
  // child, what arrived since the fork).
  [[noreturn]] void serve(int fd) {
    this_thread().role = thread_role::internal;
    for (;;) {
      relay_pending();
      std::uint64_t count = 0;
      if (::read(fd, &count, sizeof count) < 0 && errno != EINTR) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // cannot happen; no spin
      }
    }
  }

  // relay_pending: sends the pending signals to their watchers.
  void relay_pending() {
    std::vector<cancel_func> cancels;
    {
      std::lock_guard guard(lock_);
      const signal_set arrived = pending_signals.exchange(0, std::memory_order_seq_cst);
      for_each_signal(arrived, [&](int number) {
        for (const watcher& w : watchers_) {
          if ((w.wanted & signal_bit(number)) == 0) continue;
          if (w.cancel) {
            cancels.push_back(w.cancel);
          } else {
            send(w.channel, number);
          }
        }
      });
    }
    for (const cancel_func& cancel : cancels) cancel();
  }

  // send: Go's `select { case c <- sig: default: }`. A channel closed while it was watched
  // (Go would panic) misses the signal. On a goroutine (stop()), a chaos point and a stop point.
  static void send(const send_chan<int>& channel, int number) {
    try {
      channel.try_send(number);
    } catch (const channel_closed&) {
    }
  }

  std::mutex lock_;  // guards watchers_, wanted_by_, saved_, last_id_ and started_
  std::vector<watcher> watchers_;
  std::array<int, highest_signal + 1> wanted_by_{};
  std::array<std::optional<struct sigaction>, highest_signal + 1> saved_{};
  std::uint64_t last_id_ = 0;
  bool started_ = false;
};

}  // namespace goro::detail

/// Go's os/signal: incoming signals delivered on channels (notify) or to contexts
/// (notify_context). Signals are the `<signal.h>` numbers (SIGINT, SIGTERM, SIGHUP...); a call
/// that names none means every signal goro can relay: all but SIGKILL and SIGSTOP, the signals
/// that report the program's own faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) and
/// those the C library reserves. Naming one of those throws goro::error. Every function may be
/// called from any goroutine or plain thread, during a run or outside one.
namespace goro::signals {

/// notify: relays the signals named (every relayable one if none is named) to `channel`
/// (signal.Notify). Each arrival is sent without blocking: a channel with no room, or an
/// unbuffered one with no receiver waiting, misses it. Calling notify again for the same
/// channel adds signals to its set; several channels may want one signal, and each gets it.
/// While any channel or context is notified, deadlock detection (API 1.3) counts the signals as
/// something that can wake a goroutine, as Go does. Throws goro::error on a nil channel or a
/// signal goro cannot relay, std::system_error if the handler cannot be installed.
template <detail::signal_number... Signals>
void notify(send_chan<int> channel, Signals... signal_numbers) {
  detail::note_api_use();
  if (channel.is_nil()) {
    throw goro::error(
        "goro::signals::notify: notify using nil channel (Go: \"os/signal: Notify using nil "
        "channel\")");
  }
  const detail::signal_set set =
      detail::signal_set_of("goro::signals::notify", {static_cast<int>(signal_numbers)...});
  detail::signal_relay::instance().notify(std::move(channel), set);
}

/// stop: relays no more signals to `channel` (signal.Stop). When stop returns the channel
/// receives no more signals. A signal that no channel or context wants any more gets back the
/// action it had before goro took it over. A channel that is not notified (or nil): nothing.
inline void stop(const send_chan<int>& channel) {
  detail::note_api_use();
  detail::signal_relay::instance().stop(channel);
}

/// reset: undoes notify() and ignore() for the signals named, every relayable one if none is
/// named (signal.Reset): no channel or context receives them any more, and each gets back the
/// action it had before goro first changed it.
template <detail::signal_number... Signals>
void reset(Signals... signal_numbers) {
  detail::note_api_use();
  const detail::signal_set set =
      detail::signal_set_of("goro::signals::reset", {static_cast<int>(signal_numbers)...});
  detail::signal_relay::instance().reset(set);
}

/// ignore: the signals named (every relayable one if none is named) are ignored from now on:
/// their arrival does nothing (signal.Ignore). Undoes notify() for them; reset() undoes it.
template <detail::signal_number... Signals>
void ignore(Signals... signal_numbers) {
  detail::note_api_use();
  const detail::signal_set set =
      detail::signal_set_of("goro::signals::ignore", {static_cast<int>(signal_numbers)...});
  detail::signal_relay::instance().ignore(set);
}

/// ignored: whether `signal_number`'s arrival is ignored now (SIG_IGN), by ignore() or since
/// the program started, as under nohup (signal.Ignored). False for a number that is no signal.
inline bool ignored(int signal_number) noexcept {
  if (signal_number < 1 || signal_number > detail::highest_signal) return false;
  struct sigaction current {};
  if (::sigaction(signal_number, nullptr, &current) != 0) return false;
  return (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_IGN;
}

/// notify_context: a child of `parent` that is cancelled (errc::canceled) when one of the
/// signals named arrives (every relayable one if none is named), when the returned function is
/// called, or when `parent` is (signal.NotifyContext). The returned function also stops the
/// relay to the context, like stop(): call it once the context has served, so that a second
/// Ctrl-C takes the signal's usual action again. No goroutine waits for the signals.
template <detail::signal_number... Signals>
std::pair<context, cancel_func> notify_context(context parent, Signals... signal_numbers) {
  detail::note_api_use();
  const detail::signal_set set =
      detail::signal_set_of("goro::signals::notify_context", {static_cast<int>(signal_numbers)...});
  std::pair<context, cancel_func> child = with_cancel(std::move(parent));
  const std::uint64_t id = detail::signal_relay::instance().watch_context(child.second, set);
  child.second = [cancel = std::move(child.second), id] {
    cancel();
    detail::signal_relay::instance().stop_context(id);
  };
  return child;
}

}  // namespace goro::signals
