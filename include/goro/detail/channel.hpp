// goro/detail/channel.hpp — the channel itself (Go's hchan), shared by every handle to it.
//
// A channel is a FIFO ring buffer of `capacity` slots (none for an unbuffered channel), a closed
// flag, and two FIFO queues of blocked operations: receivers (recvq_) and senders (sendq_).
// Waiters live on their goroutines' stacks (detail/waiter.hpp); a receiver's waiter points at
// the std::optional<T> it wants filled, a sender's at the value it offers.
//
// Invariants (all under lock_):
//   - recvq_ is non-empty only while the buffer is empty, and sendq_ only while it is full (an
//     unbuffered channel is always both): an operation first pairs with a waiting partner, then
//     uses the buffer, and only then waits. (Select waiters whose select already fired may linger
//     in a queue until their owner removes them; dequeue_claimed skips them.)
//   - Receive pairs with the oldest sender; with a full buffer it takes the head of the buffer
//     and moves that sender's value to the tail, so values keep their send order.
//   - Every value sent is received exactly once: it is either in the buffer, in the slot of the
//     one receiver whose wait was claimed for it, or still with its sender.
//   - Once closed_ is set it stays set and no operation adds a waiter; close() claims and wakes
//     every waiter (receivers get "closed", senders throw channel_closed), a batch per hold of
//     lock_.
//   - count_ is the number of buffered values; it is also read without the lock (size()).
//
// Lock discipline: lock_ is never held across a park (block_on releases it after the switch),
// and goroutines are woken only after it is released (wake_list). Values are moved under the
// lock; if a move throws after a partner was claimed, the partner is woken with
// transfer::retry and repeats its operation, and the channel is left as it was — except when a
// receive from a full buffer has taken the head and a sender's value fails to move into the
// freed slot: the receive keeps its value and the next waiting sender is tried (refill).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "config.hpp"
#include "park.hpp"
#include "spinlock.hpp"
#include "waiter.hpp"

namespace goro::detail {

// transfer: the outcome a claimer writes into a channel waiter (waiter::outcome).
enum class transfer : std::uint32_t {
  pending = 0,  // not (yet) completed
  delivered,    // the value moved to or from this waiter
  closed,       // the channel was closed
  retry,        // the partner's move of T threw: repeat the operation
};

inline void set_outcome(waiter& w, transfer t) noexcept {
  w.outcome = static_cast<std::uint32_t>(t);
}
inline transfer outcome_of(const waiter& w) noexcept {
  return static_cast<transfer>(w.outcome);
}

enum class op_status { done, closed, would_block };

// The value at `source` is copied when `copy` is set (a sender that keeps it: try_send(const T&),
// a select send case on an lvalue), moved otherwise. `copy` is never set for a move-only type:
// those senders require a copyable T.
template <class T>
void emplace_from(std::optional<T>& target, T* source, bool copy) {
  if constexpr (std::is_copy_constructible_v<T>) {
    if (copy) {
      target.emplace(std::as_const(*source));
      return;
    }
  }
  target.emplace(std::move(*source));
}

template <class T>
void construct_from(T* target, T* source, bool copy) {
  if constexpr (std::is_copy_constructible_v<T>) {
    if (copy) {
      std::construct_at(target, std::as_const(*source));
      return;
    }
  }
  std::construct_at(target, std::move(*source));
}

// channel_base: what select needs to know of a channel without knowing its element type.
// Cache-line aligned: two channels made one after the other would otherwise share a line, and
// traffic on one would slow the workers using the other.
class alignas(cache_line_size) channel_base {
 public:
  explicit channel_base(std::size_t capacity) noexcept : capacity_(capacity) {}

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }

  // looks_ready: a hint, read without lock_, that a receive (or a send) would not block now: a
  // partner waits, the buffer has a value (or room), or the channel is closed (a receive gets
  // "closed", a send throws). Select's first look trusts it to skip cases, so a closed channel
  // must look ready: otherwise a select would never choose it while another case is ready.
  bool looks_ready(bool send) const noexcept {
    if (send) return !recvq_.looks_empty() || size() < capacity_ || is_closed();
    return !sendq_.looks_empty() || size() > 0 || is_closed();
  }

  // is_closed: whether close() has run; read without lock_ it is only a hint.
  bool is_closed() const noexcept { return closed_.load(std::memory_order_relaxed); }

  futex_mutex lock_;  // guards everything below except the atomics, and the buffer
  wait_queue recvq_;  // blocked receivers, oldest first
  wait_queue sendq_;  // blocked senders, oldest first
  // closed_: written under lock_ and never cleared; read without it only as a hint.
  std::atomic<bool> closed_{false};

  void retain() noexcept { references_.fetch_add(1, std::memory_order_relaxed); }
  // release: true when the last reference is gone (the caller deletes the channel).
  bool release() noexcept { return references_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  // shared: whether more than one handle refers to the channel.
  bool shared() const noexcept { return references_.load(std::memory_order_acquire) > 1; }

 protected:
  const std::size_t capacity_;
  std::atomic<std::size_t> count_{0};  // buffered values (written under lock_)

 private:
  std::atomic<std::size_t> references_{1};  // handles (chan, send_chan, recv_chan)
};

// stateless: a T whose objects hold no state and whose copies and destruction do nothing
// (std::monostate, a tag: Go's struct{}). Every slot of a channel's buffer can then share the
// storage of one object, so that a buffer of any capacity costs no memory, as in Go, where a
// channel of zero-size elements has no buffer at all (e.g. a semaphore of a billion tokens).
template <class T>
inline constexpr bool stateless =
    std::is_empty_v<T>&& std::is_trivially_copyable_v<T>&& std::is_trivially_destructible_v<T>;

// buffer_slots: how many objects of storage a buffer of `capacity` values takes.
template <class T>
constexpr std::size_t buffer_slots(std::size_t capacity) noexcept {
  return stateless<T> ? std::min<std::size_t>(capacity, 1) : capacity;
}

// max_buffer_bytes: the largest buffer a channel may ask for. Go's makechan panics with "size out
// of range" beyond its maxAlloc, the 48-bit address space on 64-bit systems, and fails only as
// an ordinary out-of-memory below it; goro draws the line at the same place (and at PTRDIFF_MAX,
// the most any array may take, on narrower systems).
inline constexpr std::size_t max_buffer_bytes = static_cast<std::size_t>(
    std::min<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max(), std::uint64_t{1} << 48));

// max_capacity: the largest capacity whose buffer a channel may ask std::allocator<T> for.
template <class T>
constexpr std::size_t max_capacity() noexcept {
  if constexpr (stateless<T>) {
    return std::numeric_limits<std::size_t>::max();
  } else {
    return std::min(std::allocator_traits<std::allocator<T>>::max_size(std::allocator<T>()),
                    max_buffer_bytes / sizeof(T));
  }
}

template <class T>
class channel : public channel_base {
 public:
  explicit channel(std::size_t capacity)
      : channel_base(capacity),
        buffer_(capacity > 0 ? std::allocator<T>().allocate(buffer_slots<T>(capacity)) : nullptr) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel() {
    const std::size_t n = count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) std::destroy_at(slot(head_ + i));
    if (buffer_ != nullptr) std::allocator<T>().deallocate(buffer_, buffer_slots<T>(capacity_));
  }

  // --- the operations under lock_ (also select's pass 1) --------------------------------

  // recv_locked: receives into `out` if a value is available (done), reports a closed and
  // drained channel (closed), or would_block. A claimed sender goes to `wakes`.
  op_status recv_locked(std::optional<T>& out, wake_list& wakes) {
    if (waiter* sender = sendq_.dequeue_claimed()) {
      wakes.add(*sender);
      if (capacity_ == 0) {
        guard_partner retry_on_throw{*sender};
        take(*sender, out);
        retry_on_throw.deliver();
        return op_status::done;
      }
      {
        guard_partner retry_on_throw{*sender};
        out.emplace(std::move(*slot(head_)));  // if this throws, nothing has changed
      }
      pop_head();
      refill(sender, wakes);
      return op_status::done;
    }
    if (count_.load(std::memory_order_relaxed) > 0) {
      out.emplace(std::move(*slot(head_)));
      pop_head();
      return op_status::done;
    }
    return is_closed() ? op_status::closed : op_status::would_block;
  }

  // send_locked: offers the value at `value` (copied if `copy`, else moved) to a waiting
  // receiver or the buffer (done), reports a closed channel (closed), or would_block.
  op_status send_locked(T* value, bool copy, wake_list& wakes) {
    if (is_closed()) return op_status::closed;
    if (waiter* receiver = recvq_.dequeue_claimed()) {
      wakes.add(*receiver);
      guard_partner retry_on_throw{*receiver};
      emplace_from(*static_cast<std::optional<T>*>(receiver->slot), value, copy);
      retry_on_throw.deliver();
      return op_status::done;
    }
    if (count_.load(std::memory_order_relaxed) < capacity_) {
      construct_from(slot(head_ + count_.load(std::memory_order_relaxed)), value, copy);
      count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return op_status::done;
    }
    return op_status::would_block;
  }

  // close_locked: marks the channel closed; from here on no operation waits on it. Returns false
  // if it was closed already.
  bool close_locked() noexcept {
    if (is_closed()) return false;
    closed_.store(true, std::memory_order_relaxed);
    return true;
  }

  // claim_closed_waiters: after close_locked, claims the waiters the close must wake: every
  // sender (it will throw channel_closed) and up to `receivers` receivers (they get "closed").
  // Returns whether receivers are left. The senders all go in the close's first hold of lock_:
  // a receive that paired with one left behind would take a value after others had seen the
  // channel closed and drained. Receivers left behind are safe: no send pairs with them once
  // closed_ is set.
  bool claim_closed_waiters(wake_list& wakes, std::size_t receivers) noexcept {
    while (waiter* w = sendq_.dequeue_claimed()) claim_for_close(*w, wakes);
    for (; receivers > 0; --receivers) {
      waiter* w = recvq_.dequeue_claimed();
      if (w == nullptr) break;
      claim_for_close(*w, wakes);
    }
    return !recvq_.empty();
  }

 private:
  // guard_partner: a claimed partner must be woken with an outcome even if moving T throws.
  class guard_partner {
   public:
    explicit guard_partner(waiter& w) noexcept : w_(w) { set_outcome(w_, transfer::retry); }
    void deliver() noexcept { set_outcome(w_, transfer::delivered); }

   private:
    waiter& w_;
  };

  static void claim_for_close(waiter& w, wake_list& wakes) noexcept {
    set_outcome(w, transfer::closed);
    wakes.add(w);
  }

  T* slot(std::size_t i) const noexcept {
    if constexpr (stateless<T>) {
      return buffer_;
    } else {
      return buffer_ + i % capacity_;
    }
  }

  void pop_head() noexcept {
    std::destroy_at(slot(head_));
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }

  // refill: moves the claimed `sender`'s value into the slot a receive has just freed at the
  // tail. A sender whose move throws is woken to send again (retry) and the next waiting sender
  // is tried, so that senders still wait only while the buffer is full.
  void refill(waiter* sender, wake_list& wakes) noexcept {
    for (;;) {
      try {
        push_tail(*sender);
        set_outcome(*sender, transfer::delivered);
        return;
      } catch (...) {
        set_outcome(*sender, transfer::retry);
      }
      sender = sendq_.dequeue_claimed();
      if (sender == nullptr) return;
      wakes.add(*sender);
    }
  }

  // push_tail: moves a claimed sender's value to the tail (the buffer has just lost its head).
  void push_tail(waiter& sender) {
    construct_from(slot(head_ + count_.load(std::memory_order_relaxed)),
                   static_cast<T*>(sender.slot), sender.copy);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  static void take(waiter& sender, std::optional<T>& out) {
    emplace_from(out, static_cast<T*>(sender.slot), sender.copy);
  }

  T* const buffer_;       // buffer_slots<T>(capacity_) objects' raw storage
  std::size_t head_ = 0;  // index of the oldest buffered value (guarded by lock_)
};

// --- blocking operations -------------------------------------------------------------------

// throw_channel_closed: reports a closed channel — or, once main has returned, stops the calling
// goroutine there instead (unwind_if_stopping).
[[noreturn]] inline void throw_channel_closed(const char* what) {
  unwind_if_stopping();
  throw channel_closed(what);
}

// channel_send: sends `value` on `c` (not nil), blocking until a receiver or the buffer takes
// it. Throws channel_closed if the channel is or gets closed.
template <class T>
void channel_send(channel<T>& c, T& value) {
  for (;;) {
    wake_list wakes;
    std::unique_lock held(c.lock_);
    switch (c.send_locked(std::addressof(value), false, wakes)) {
      case op_status::done: return;
      case op_status::closed: throw_channel_closed("goro::chan::send: send on closed channel");
      case op_status::would_block: break;
    }
    wait_handle h = open_wait();
    waiter w = h.make_waiter();
    w.slot = std::addressof(value);
    block_on(c.sendq_, w, h, held, wait_reason::chan_send);
    switch (outcome_of(w)) {
      case transfer::delivered: return;
      case transfer::closed:
        throw_channel_closed(
            "goro::chan::send: send on closed channel (closed while the send waited)");
      default: break;  // retry
    }
  }
}

// channel_recv: receives from `c` (not nil) into `out` (empty), blocking until a value arrives;
// `out` stays empty once the channel is closed and drained. The value moves once, from the
// buffer or the sender straight into `out`: a move that throws leaves it where it was.
template <class T>
void channel_recv(channel<T>& c, std::optional<T>& out) {
  for (;;) {
    wake_list wakes;
    std::unique_lock held(c.lock_);
    if (c.recv_locked(out, wakes) != op_status::would_block) return;  // done, or closed
    wait_handle h = open_wait();
    waiter w = h.make_waiter();
    w.slot = std::addressof(out);  // not &out: a T in a namespace with a greedy operator&
    block_on(c.recvq_, w, h, held, wait_reason::chan_receive);
    if (outcome_of(w) != transfer::retry) return;  // delivered, or closed
  }
}

template <class T>
bool channel_try_send(channel<T>& c, T& value, bool copy) {
  wake_list wakes;
  std::lock_guard held(c.lock_);
  switch (c.send_locked(std::addressof(value), copy, wakes)) {
    case op_status::done: return true;
    case op_status::closed: throw_channel_closed("goro::chan::try_send: send on closed channel");
    case op_status::would_block: return false;
  }
  return false;
}

template <class T>
std::optional<T> channel_try_recv(channel<T>& c) {
  std::optional<T> out;
  wake_list wakes;
  std::lock_guard held(c.lock_);
  c.recv_locked(out, wakes);
  return out;
}

// close_wake_batch: how many receivers a close claims per hold of the channel's lock (32 to 256
// did about as well, 16 less well; docs/benchmarks.md, the twenty-sixth session).
inline constexpr std::size_t close_wake_batch = 64;

// channel_close: closes `c` and wakes every waiter, the receivers a batch at a time: each batch
// is claimed under the lock and woken after it is released, so that other workers run the woken
// while the close claims the next batch (a close of 10k receivers on two workers: 7.8 ms in one
// pass, 5.6 in batches). No waiter joins once closed_ is set, so the queues only shrink between
// batches (owners may still unlink their own waiters, as at any time).
template <class T>
void channel_close(channel<T>& c) {
  std::unique_lock held(c.lock_);
  if (!c.close_locked()) {
    held.unlock();
    throw_channel_closed("goro::chan::close: close of closed channel");
  }
  for (;;) {
    wake_list wakes;
    const bool more = c.claim_closed_waiters(wakes, close_wake_batch);
    held.unlock();
    wakes.wake_all();
    if (!more) return;
    held.lock();
  }
}

}  // namespace goro::detail
