/// \file
/// goro/chan.hpp — typed channels (API section 2): chan<T>, and the directional views
/// send_chan<T> (Go's `chan<- T`) and recv_chan<T> (`<-chan T`).
///
/// ```cpp
///   goro::chan<int> ch;                 // make(chan int): unbuffered
///   goro::chan<int> jobs(100);          // make(chan int, 100): buffered
///   goro::go([=] { for (int i = 0; i < 5; ++i) jobs.send(i); jobs.close(); });
///   for (int j : jobs) use(j);          // receives until closed and drained
/// ```
///
/// A handle is a counted reference, like shared_ptr: copies share one channel, and every operation
/// is const. Handles compare and hash by identity, so that, as Go's channels are map keys, a
/// handle keys a std::unordered_map. Semantics are Go's: an unbuffered send completes only when a
/// receiver takes the value; a buffered channel is FIFO; receivers of a closed channel first drain
/// the buffer, then get std::nullopt; every value sent is received exactly once; sending on a
/// closed channel — or being blocked in a send when the channel gets closed — throws
/// goro::channel_closed. A nil channel (constructed from nullptr) blocks every send and receive
/// forever and never fires in a select. Channels work on goroutines and on plain threads, with or
/// without an active goro::run.
///
/// If T's move (or copy) constructor throws during a transfer, the exception propagates from the
/// operation that moved, and the channel stays consistent. A value leaves the channel with one
/// move, straight into the receiver's result, so no value that was sent is lost; a send whose
/// move threw did not happen (its value stays with the sender, as far as T's move leaves it).
/// When a receive from a full buffer frees a slot and a blocked sender's value fails to move into
/// it, the receive still succeeds and that sender sends again, meeting the exception itself.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "detail/channel.hpp"
#include "detail/park.hpp"
#include "error.hpp"

namespace goro {

template <class T>
class chan;
template <class T>
class send_chan;
template <class T>
class recv_chan;

namespace detail {

// channel_ref: the counted reference every handle holds (nullptr: a nil channel).
template <class T>
class channel_ref {
 public:
  channel_ref() noexcept = default;
  explicit channel_ref(channel<T>* c) noexcept : channel_(c) {}
  channel_ref(const channel_ref& other) noexcept : channel_(other.channel_) {
    if (channel_ != nullptr) channel_->retain();
  }
  channel_ref(channel_ref&& other) noexcept : channel_(std::exchange(other.channel_, nullptr)) {}
  channel_ref& operator=(channel_ref other) noexcept {
    std::swap(channel_, other.channel_);
    return *this;
  }
  ~channel_ref() {
    if (channel_ != nullptr && channel_->release()) delete channel_;
  }

  channel<T>* get() const noexcept { return channel_; }

 private:
  channel<T>* channel_ = nullptr;
};

// channel_access: how select reaches the channel behind any handle.
struct channel_access {
  template <class Handle>
  static auto* get(const Handle& h) noexcept {
    return h.ref_.get();
  }
};

// The operations every handle forwards to; `c` is nullptr for a nil channel.

template <class T>
void send_on(channel<T>* c, T& value) {
  note_api_use();
  stop_point();
  if (c == nullptr) park_forever(wait_reason::chan_send, wait_detail::nil_chan);
  channel_send(*c, value);
}

template <class T>
bool try_send_on(channel<T>* c, T& value, bool copy) {
  note_api_use();
  stop_point();
  return c != nullptr && channel_try_send(*c, value, copy);
}

template <class T>
void close_on(channel<T>* c) {
  if (c == nullptr) throw error("goro::chan::close: close of nil channel");
  note_api_use();
  chaos_point();
  channel_close(*c);
}

// recv_on: receives into `out` (empty); it stays empty once the channel is closed and drained.
template <class T>
void recv_on(channel<T>* c, std::optional<T>& out) {
  note_api_use();
  stop_point();
  if (c == nullptr) park_forever(wait_reason::chan_receive, wait_detail::nil_chan);
  channel_recv(*c, out);
}

// recv_on: returns what it received. One return of one object, so that the compiler constructs
// it in the caller's place: no move of T after the receive that could throw and lose the value.
template <class T>
std::optional<T> recv_on(channel<T>* c) {
  std::optional<T> out;
  recv_on(c, out);
  return out;
}

template <class T>
std::optional<T> try_recv_on(channel<T>* c) {
  note_api_use();
  stop_point();
  return c != nullptr ? channel_try_recv(*c) : std::nullopt;
}

inline std::size_t size_of(const channel_base* c) {
  note_api_use();
  return c != nullptr ? c->size() : 0;
}

inline std::size_t capacity_of(const channel_base* c) {
  note_api_use();
  return c != nullptr ? c->capacity() : 0;
}

// recv_iterator: yields the channel's values until it is closed and drained. It receives a value
// when it is first looked at (compared with the end, or dereferenced), not when it is created or
// incremented: so a loop that stops after its n-th value (a break, std::views::take) receives n
// values, and none is taken from the channel that nobody gets. It holds a reference of its own,
// so that, as in Go, where range evaluates the channel once, a loop keeps receiving from its
// channel when the handle it began from is reassigned or dropped.
template <class T>
class recv_iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;

  recv_iterator() = default;
  explicit recv_iterator(const channel_ref<T>& c) : channel_(c), pending_(true) {}

  T&& operator*() const {  // the received value, to be moved
    receive_pending();
    return std::move(*current_);
  }
  recv_iterator& operator++() {
    current_.reset();
    pending_ = true;
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const recv_iterator& it, std::default_sentinel_t) {
    it.receive_pending();
    return !it.current_.has_value();
  }

 private:
  // receive_pending: receives the value this position stands for, once. Receives in place: T
  // need only be move-constructible (API 2), and no second move can throw away a received value.
  // If the receive throws, the position stays pending.
  void receive_pending() const {
    if (!pending_) return;
    recv_on(channel_.get(), current_);
    pending_ = false;
  }

  channel_ref<T> channel_;
  mutable std::optional<T> current_;
  mutable bool pending_ = false;
};

}  // namespace detail

/// chan: a bidirectional channel handle (Go's `chan T`). T must be move-constructible; values
/// are moved through the channel, so move-only types work. Copies of a handle share one channel,
/// and converting to send_chan or recv_chan gives a directional view of the same channel. Every
/// member may be called from any goroutine or thread, concurrently.
template <class T>
class chan {
  static_assert(std::is_move_constructible_v<T>, "goro::chan<T> needs a move-constructible T");

 public:
  /// value_type: the element type, T.
  using value_type = T;

  /// chan: make(chan T) — unbuffered.
  chan() : ref_(new detail::channel<T>(0)) {}

  /// chan(capacity): make(chan T, capacity); 0 means unbuffered. Throws goro::error if negative
  /// or if the buffer would take more than 2^48 bytes (Go's "makechan: size out of range").
  explicit chan(std::integral auto capacity) : ref_(make(capacity)) {}

  /// chan(nullptr): a nil channel.
  chan(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor): like Go's nil

  // send, try_send, close: see send_chan. recv, try_recv, begin/end: see recv_chan.

  /// \copydoc goro::send_chan::send
  void send(T value) const { detail::send_on(ref_.get(), value); }
  /// \copydoc goro::send_chan::try_send(T&&) const
  bool try_send(T&& value) const { return detail::try_send_on(ref_.get(), value, false); }
  /// \copydoc goro::send_chan::try_send(const T&) const
  bool try_send(const T& value) const requires std::copy_constructible<T> {
    return detail::try_send_on(ref_.get(), const_cast<T&>(value), true);
  }
  /// \copydoc goro::send_chan::close
  void close() const { detail::close_on(ref_.get()); }
  /// \copydoc goro::recv_chan::recv
  std::optional<T> recv() const { return detail::recv_on(ref_.get()); }
  /// \copydoc goro::recv_chan::try_recv
  std::optional<T> try_recv() const { return detail::try_recv_on(ref_.get()); }
  /// \copydoc goro::recv_chan::begin
  detail::recv_iterator<T> begin() const { return detail::recv_iterator<T>(ref_); }
  /// \copydoc goro::recv_chan::end
  std::default_sentinel_t end() const noexcept { return {}; }

  /// size: len(ch), the values buffered now; 0 for a nil channel.
  std::size_t size() const { return detail::size_of(ref_.get()); }
  /// capacity: cap(ch); 0 for an unbuffered or a nil channel.
  std::size_t capacity() const { return detail::capacity_of(ref_.get()); }
  /// is_nil: whether this is a nil channel (ch == nil).
  bool is_nil() const noexcept {
    detail::note_api_use();
    return ref_.get() == nullptr;
  }

  /// operator==: whether two handles refer to the same channel (both nil counts as equal).
  friend bool operator==(const chan& a, const chan& b) noexcept {
    detail::note_api_use();
    return a.ref_.get() == b.ref_.get();
  }

 private:
  friend struct detail::channel_access;
  friend class send_chan<T>;
  friend class recv_chan<T>;

  template <class N>
  static detail::channel<T>* make(N requested) {
    // Promoted, so that char, bool and wchar_t capacities (std::integral too) compare as ints.
    const auto capacity = +requested;
    if constexpr (std::is_signed_v<decltype(capacity)>) {
      if (capacity < 0) {
        throw error("goro::chan: negative capacity " + std::to_string(capacity) +
                    " (make(chan T, n) needs n >= 0)");
      }
    }
    if (std::cmp_greater(capacity, detail::max_capacity<T>())) {
      throw error("goro::chan: capacity " + std::to_string(capacity) +
                  " is too large (makechan: size out of range)");
    }
    return new detail::channel<T>(static_cast<std::size_t>(capacity));
  }

  detail::channel_ref<T> ref_;
};

/// send_chan: a send-only view of a channel (`chan<- T`); converts implicitly from chan<T>. A
/// counted handle like chan; every member may be called from any goroutine or thread.
template <class T>
class send_chan {
 public:
  /// value_type: the element type, T.
  using value_type = T;

  /// send_chan(nullptr): a nil channel.
  send_chan(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)
  /// send_chan(c): a send-only handle on the channel of `c`.
  send_chan(const chan<T>& c) noexcept : ref_(c.ref_) {}  // NOLINT(google-explicit-constructor)

  /// send: ch <- value. Blocks until a receiver or the buffer takes the value. Throws
  /// goro::channel_closed if the channel is closed or gets closed while the send waits. On a nil
  /// channel it blocks forever.
  void send(T value) const { detail::send_on(ref_.get(), value); }

  /// try_send: sends only if that needs no waiting. Returns false, leaving `value` untouched,
  /// when the buffer is full and no receiver waits (or on a nil channel); throws
  /// goro::channel_closed on a closed channel.
  bool try_send(T&& value) const { return detail::try_send_on(ref_.get(), value, false); }
  /// try_send: as try_send(T&&), copying `value` only if it is sent. Only for a copyable T: a
  /// move-only value is offered as an rvalue, try_send(std::move(v)), and is left untouched
  /// when it is not sent.
  bool try_send(const T& value) const requires std::copy_constructible<T> {
    return detail::try_send_on(ref_.get(), const_cast<T&>(value), true);
  }

  /// close: no more values will be sent; receivers drain the buffer, then get std::nullopt;
  /// blocked senders throw. Throws goro::channel_closed if already closed, goro::error if nil.
  void close() const { detail::close_on(ref_.get()); }

  /// size: len(ch), the values buffered now; 0 for a nil channel.
  std::size_t size() const { return detail::size_of(ref_.get()); }
  /// capacity: cap(ch); 0 for an unbuffered or a nil channel.
  std::size_t capacity() const { return detail::capacity_of(ref_.get()); }
  /// is_nil: whether this is a nil channel.
  bool is_nil() const noexcept {
    detail::note_api_use();
    return ref_.get() == nullptr;
  }

  /// operator==: whether two handles refer to the same channel (both nil counts as equal).
  friend bool operator==(const send_chan& a, const send_chan& b) noexcept {
    detail::note_api_use();
    return a.ref_.get() == b.ref_.get();
  }

 private:
  friend struct detail::channel_access;
  detail::channel_ref<T> ref_;
};

/// recv_chan: a receive-only view of a channel (`<-chan T`); converts implicitly from chan<T>. A
/// counted handle like chan; every member may be called from any goroutine or thread.
template <class T>
class recv_chan {
 public:
  /// value_type: the element type, T.
  using value_type = T;

  /// recv_chan(nullptr): a nil channel.
  recv_chan(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)
  /// recv_chan(c): a receive-only handle on the channel of `c`.
  recv_chan(const chan<T>& c) noexcept : ref_(c.ref_) {}  // NOLINT(google-explicit-constructor)

  /// recv: `v, ok := <-ch`. Blocks until a value arrives; std::nullopt once the channel is closed
  /// and drained. On a nil channel it blocks forever.
  std::optional<T> recv() const { return detail::recv_on(ref_.get()); }

  /// try_recv: a value if one was ready (buffered or offered by a blocked sender), else nullopt.
  std::optional<T> try_recv() const { return detail::try_recv_on(ref_.get()); }

  /// begin/end: `for (T v : ch)` receives until the channel is closed and drained; `*it` yields
  /// the received value as T&&, so move-only types work. Each value is received when the loop
  /// looks at it, so a loop that breaks (or a std::views::take) leaves the rest in the channel.
  detail::recv_iterator<T> begin() const { return detail::recv_iterator<T>(ref_); }
  /// end: the sentinel of the range that begin() starts.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// size: len(ch), the values buffered now; 0 for a nil channel.
  std::size_t size() const { return detail::size_of(ref_.get()); }
  /// capacity: cap(ch); 0 for an unbuffered or a nil channel.
  std::size_t capacity() const { return detail::capacity_of(ref_.get()); }
  /// is_nil: whether this is a nil channel.
  bool is_nil() const noexcept {
    detail::note_api_use();
    return ref_.get() == nullptr;
  }

  /// operator==: whether two handles refer to the same channel (both nil counts as equal).
  friend bool operator==(const recv_chan& a, const recv_chan& b) noexcept {
    detail::note_api_use();
    return a.ref_.get() == b.ref_.get();
  }

 private:
  friend struct detail::channel_access;
  detail::channel_ref<T> ref_;
};

}  // namespace goro

namespace goro::detail {

// channel_hash: hashes a handle by the channel it refers to (std::hash's specializations below).
struct channel_hash {
  template <class Handle>
  std::size_t operator()(const Handle& handle) const noexcept {
    return std::hash<const void*>{}(channel_access::get(handle));
  }
};

}  // namespace goro::detail

// std::hash of the handles: by the channel they refer to, consistent with operator== (and equal
// for a chan, a send_chan and a recv_chan of one channel). Go's map[chan T]V is
// std::unordered_map<goro::chan<T>, V>.
template <class T>
struct std::hash<goro::chan<T>> : goro::detail::channel_hash {};
template <class T>
struct std::hash<goro::send_chan<T>> : goro::detail::channel_hash {};
template <class T>
struct std::hash<goro::recv_chan<T>> : goro::detail::channel_hash {};
