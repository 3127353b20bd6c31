// benchmarks/compare/thread_chan.hpp — a Go-style channel for plain std::threads, built from one
// std::mutex and std::condition_variables, with a receive-only select: the std::thread column of
// the side-by-side comparison (tools/compare). Not part of goro.
//
//   compare::thread_chan<long> ch(1024);       // buffered; thread_chan<long> ch; is unbuffered
//   std::thread producer([&] { for (long i = 0; i < n; ++i) ch.send(i); ch.close(); });
//   while (auto v = ch.recv()) sum += *v;      // nullopt once closed and drained
//
// Invariants (all guarded by mutex_):
//   - 0 <= count_ <= slots_.size(); the values waiting are slots_[head_], ... (count_ of them,
//     wrapping), oldest first.
//   - An unbuffered channel has one slot: a sender deposits its value there and then waits until
//     taken_ has counted past its ticket, so send returns only after a receiver took the value.
//   - Every thread_selector in selectors_ is signalled after each deposit and on close, and is
//     never touched once remove_selector has returned.
// Lock order: a channel's mutex_ before a selector's mutex_; a selecting thread never holds both.
//
// T must be default-constructible and movable (the ring holds T objects). Sending on a closed
// channel throws std::logic_error; a sender of an unbuffered channel whose value is already
// deposited when the channel is closed still returns once a receiver drains it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

namespace compare {

// thread_selector: how a thread blocked in select_recv is woken by the channels it waits on.
class thread_selector {
 public:
  // signal: a channel the selector waits on may be ready. Called with that channel's mutex held.
  void signal() {
    {
      std::lock_guard lock(mutex_);
      ready_ = true;
    }
    ready_changed_.notify_one();
  }

  // rearm: forget earlier signals; called before polling the channels again.
  void rearm() {
    std::lock_guard lock(mutex_);
    ready_ = false;
  }

  // wait: blocks until signal() has been called since the last rearm().
  void wait() {
    std::unique_lock lock(mutex_);
    ready_changed_.wait(lock, [this] { return ready_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_changed_;
  bool ready_ = false;  // guarded by mutex_
};

template <class T>
class thread_chan {
 public:
  // thread_chan: unbuffered with capacity 0 (make(chan T)), else buffered (make(chan T, n)).
  explicit thread_chan(std::size_t capacity = 0)
      : slots_(capacity == 0 ? 1 : capacity), unbuffered_(capacity == 0) {}
  thread_chan(const thread_chan&) = delete;
  thread_chan& operator=(const thread_chan&) = delete;

  // send: blocks until there is room (buffered) or until a receiver took the value (unbuffered).
  void send(T value) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] { return closed_ || count_ < slots_.size(); });
    if (closed_) throw std::logic_error("thread_chan::send: send on closed channel");
    slots_[(head_ + count_) % slots_.size()] = std::move(value);
    ++count_;
    const std::uint64_t ticket = ++deposited_;
    for (thread_selector* s : selectors_) s->signal();
    if (!unbuffered_) {
      lock.unlock();
      values_.notify_one();
      return;
    }
    values_.notify_one();
    taken_changed_.wait(lock, [&] { return taken_ >= ticket; });
  }

  // recv: blocks until a value is available and returns it; nullopt once closed and drained.
  std::optional<T> recv() {
    std::unique_lock lock(mutex_);
    values_.wait(lock, [this] { return count_ > 0 || closed_; });
    return take(lock);
  }

  // try_recv_ready: if a value is waiting, or the channel is closed and drained, stores the
  // outcome in `out` (nullopt: closed) and returns true; otherwise returns false at once.
  bool try_recv_ready(std::optional<T>& out) {
    std::unique_lock lock(mutex_);
    if (count_ == 0 && !closed_) return false;
    out = take(lock);
    return true;
  }

  // close: wakes every receiver and selector; later sends throw.
  void close() {
    {
      std::lock_guard lock(mutex_);
      if (closed_) throw std::logic_error("thread_chan::close: close of closed channel");
      closed_ = true;
      for (thread_selector* s : selectors_) s->signal();
    }
    values_.notify_all();
    room_.notify_all();
  }

  void add_selector(thread_selector* s) {
    std::lock_guard lock(mutex_);
    selectors_.push_back(s);
  }

  void remove_selector(thread_selector* s) {
    std::lock_guard lock(mutex_);
    std::erase(selectors_, s);
  }

 private:
  // take: pops the oldest value (nullopt if there is none: closed and drained) and wakes the
  // thread waiting for room or for its value to be taken. `lock` holds mutex_; unlocks it.
  std::optional<T> take(std::unique_lock<std::mutex>& lock) {
    if (count_ == 0) return std::nullopt;
    std::optional<T> value(std::move(slots_[head_]));
    head_ = (head_ + 1) % slots_.size();
    --count_;
    ++taken_;
    lock.unlock();
    room_.notify_one();
    if (unbuffered_) taken_changed_.notify_all();  // normally one waiter: the value's sender
    return value;
  }

  std::mutex mutex_;
  std::condition_variable values_;         // receivers wait for count_ > 0 or closed_
  std::condition_variable room_;           // senders wait for count_ < slots_.size()
  std::condition_variable taken_changed_;  // an unbuffered sender waits for its value's pickup
  std::vector<T> slots_;                   // guarded by mutex_
  std::size_t head_ = 0;                   // guarded by mutex_
  std::size_t count_ = 0;                  // guarded by mutex_
  std::uint64_t deposited_ = 0;            // guarded by mutex_: values ever deposited
  std::uint64_t taken_ = 0;                // guarded by mutex_: values ever taken
  bool closed_ = false;                    // guarded by mutex_
  const bool unbuffered_;
  std::vector<thread_selector*> selectors_;  // guarded by mutex_
};

// select_recv: Go's select over receives from `channels`, for plain threads. Blocks until one of
// them has a value or is closed, receives from it into `out` (nullopt: that channel is closed and
// drained) and returns its index. Among channels ready at once, polling starts at a random one.
template <class T>
std::size_t select_recv(std::span<thread_chan<T>* const> channels, std::optional<T>& out) {
  thread_local std::minstd_rand random_start(std::random_device{}());
  const std::size_t first = random_start() % channels.size();
  auto poll = [&]() -> std::optional<std::size_t> {
    for (std::size_t k = 0; k < channels.size(); ++k) {
      const std::size_t i = (first + k) % channels.size();
      if (channels[i]->try_recv_ready(out)) return i;
    }
    return std::nullopt;
  };
  // Pass 1: take a ready value without registering anywhere.
  if (const auto ready = poll()) return *ready;
  // Pass 2: register with every channel, then poll and sleep until one signals. A value deposited
  // after a poll missed it signals the selector, so the wait cannot sleep through it.
  thread_selector selector;
  for (thread_chan<T>* c : channels) c->add_selector(&selector);
  std::optional<std::size_t> ready;
  for (;;) {
    selector.rearm();
    ready = poll();
    if (ready) break;
    selector.wait();
  }
  // Pass 3: unregister; no channel touches the selector after remove_selector returns.
  for (thread_chan<T>* c : channels) c->remove_selector(&selector);
  return *ready;
}

}  // namespace compare
