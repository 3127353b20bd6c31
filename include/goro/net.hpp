/// \file
/// goro/net.hpp — TCP sockets that block goroutines, not threads (API section 7; Go's package net).
///
/// ```cpp
///   goro::net::listener ln = goro::net::listen(":8080");
///   for (;;) {
///     goro::go([c = ln.accept()]() mutable {
///       std::array<std::byte, 4096> buf;
///       while (std::size_t n = c.read(buf)) c.write(std::span(buf).first(n));
///     });
///   }
/// ```
///
/// Sockets are non-blocking and registered with the runtime's epoll set (detail/netpoll.hpp); a
/// goroutine whose read, write, accept or connect would block parks until the socket is ready, its
/// deadline passes or another goroutine closes it, while its worker runs other goroutines (see
/// detail/net_fd.hpp for the protocol). A plain thread may use the same objects: it blocks in
/// ppoll(2). Every conn has TCP_NODELAY set, as in Go.
///
/// Errors: std::system_error with the errno, whose what() names the operation and the addresses
/// ("goro::net::dial tcp 127.0.0.1:1: Connection refused"); goro::net::timeout_error after a
/// deadline; goro::net::closed_error on a closed socket; std::system_error with code
/// std::errc::invalid_argument for a malformed address or an unknown service. Addresses are Go's
/// "host:port" ("[::1]:80", ":0" for every interface and a free port); a port is a number or a
/// service name ("localhost:http"), as in Go.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "context.hpp"
#include "detail/net_address.hpp"
#include "detail/net_fd.hpp"
#include "detail/park.hpp"
#include "runtime.hpp"

namespace goro::net {

/// timeout_error: an operation's deadline (conn::set_deadline, conn::set_read_deadline,
/// conn::set_write_deadline, listener::set_deadline) has passed. code() is
/// std::errc::timed_out; what() ends in "i/o timeout", as Go's os.ErrDeadlineExceeded does.
class GORO_PROCESS_WIDE timeout_error : public std::system_error {
 public:
  /// timeout_error: the error of `operation` (what() starts with it).
  explicit timeout_error(const std::string& operation)
      : std::system_error(std::make_error_code(std::errc::timed_out), operation),
        text_(operation + ": i/o timeout") {}
  /// what: "<operation>: i/o timeout".
  const char* what() const noexcept override { return text_.what(); }

 private:
  std::runtime_error text_;  // nothrow-copyable storage for what()
};

/// closed_error: the conn or listener was closed, before or during the operation (Go's
/// net.ErrClosed). code() is std::errc::bad_file_descriptor; what() ends in "use of closed network
/// connection".
class GORO_PROCESS_WIDE closed_error : public std::system_error {
 public:
  /// closed_error: the error of `operation` (what() starts with it).
  explicit closed_error(const std::string& operation)
      : std::system_error(std::make_error_code(std::errc::bad_file_descriptor), operation),
        text_(operation + ": use of closed network connection") {}
  /// what: "<operation>: use of closed network connection".
  const char* what() const noexcept override { return text_.what(); }

 private:
  std::runtime_error text_;
};

class conn;
class listener;

}  // namespace goro::net

namespace goro::detail {

struct net_access;

// describe: "goro::net::<op> tcp <local>-><remote>" (a conn), "... tcp <local>" (a listener).
inline std::string describe(const char* op, const poll_descriptor* d) {
  std::string text = std::string("goro::net::") + op;
  if (d == nullptr) return text;
  text += " tcp " + d->local.to_string();
  if (d->remote.length != 0) text += "->" + d->remote.to_string();
  return text;
}

// throw_closed: reports a closed socket — or, once main has returned, stops the calling
// goroutine there instead (unwind_if_stopping).
[[noreturn]] inline void throw_closed(const std::string& what) {
  unwind_if_stopping();
  throw net::closed_error(what);
}

[[noreturn]] inline void throw_io(const io_result& r, const std::string& what) {
  switch (r.status) {
    case io_status::closed: throw_closed(what);
    case io_status::timed_out: throw net::timeout_error(what);
    default: throw std::system_error(r.error, std::generic_category(), what);
  }
}

// deadline_ns: a time_point as poll_descriptor::set_deadline takes it: {} is none (0), anything
// at or before the clock's epoch is long ago (1).
inline std::int64_t deadline_ns(std::chrono::steady_clock::time_point t) noexcept {
  if (t == std::chrono::steady_clock::time_point{}) return 0;
  const std::int64_t ns = detail::to_nanoseconds(t);
  return ns > 0 ? ns : 1;
}

// owned_descriptor: releases a descriptor unless it is taken.
class owned_descriptor {
 public:
  explicit owned_descriptor(poll_descriptor* d) noexcept : d_(d) {}
  owned_descriptor(const owned_descriptor&) = delete;
  owned_descriptor& operator=(const owned_descriptor&) = delete;
  ~owned_descriptor() {
    if (d_ != nullptr) d_->release();
  }
  poll_descriptor* operator->() const noexcept { return d_; }
  poll_descriptor& operator*() const noexcept { return *d_; }
  poll_descriptor* take() noexcept { return std::exchange(d_, nullptr); }

 private:
  poll_descriptor* d_;
};

// open_socket: a descriptor owning a new non-blocking TCP socket of `family`; nullptr with
// `error` set if the system refuses one.
inline poll_descriptor* open_socket(int family, int& error) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    error = detail::last_errno();
    return nullptr;
  }
  return poll_descriptor::acquire(fd);
}

// finish_conn: a connected socket's options and addresses (`remote` if known, else asked).
inline void finish_conn(poll_descriptor& d, const socket_address* remote) {
  const int one = 1;
  setsockopt(d.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  d.local.length = socket_address::capacity();
  if (getsockname(d.fd(), d.local.data(), &d.local.length) != 0) d.local = {};
  if (remote != nullptr) {
    d.remote = *remote;
  } else {
    d.remote.length = socket_address::capacity();
    if (getpeername(d.fd(), d.remote.data(), &d.remote.length) != 0) d.remote = {};
  }
}

// dial_watch: interrupts a connect when a context is done. Go's dialer starts a watcher
// goroutine for this; here the context itself tells the watch (a cancel_hook), which sets the
// socket's deadline to long ago and so wakes the connect: no goroutine or thread per dial, none
// for num_goroutines() and dump() to show. The dialer owns the descriptor until the watch ends.
// connect waits on the write direction and obeys its deadline; the dialer and the watch set both
// directions' deadlines (set_deadline(ns)), as before there were two, and clear both afterwards.
class dial_watch final : public cancel_hook {
 public:
  dial_watch(poll_descriptor& d, const context& ctx)
      : descriptor_(d), node_(anchor_of(context_access::node(ctx))) {
    if (node_ == nullptr) return;  // never cancelled
    if (!node_->add_hook(*this)) on_cancel();
  }
  dial_watch(const dial_watch&) = delete;
  dial_watch& operator=(const dial_watch&) = delete;
  ~dial_watch() { finish(); }

  // finish: ends the watch; true if the context interrupted the connect.
  bool finish() noexcept {
    if (node_ != nullptr) std::exchange(node_, nullptr)->remove_hook(*this);
    return interrupted_.load(std::memory_order_acquire);
  }

 private:
  void on_cancel() noexcept override {
    interrupted_.store(true, std::memory_order_release);
    descriptor_.set_deadline(1);
  }

  poll_descriptor& descriptor_;
  cancel_node* node_;  // the context's cancellable node (the context holds it) until finish()
  std::atomic<bool> interrupted_{false};
};

// dial_one: connects a new socket to `to`, giving up when `ctx` (if any) is done. On success
// `out` owns the connected socket.
inline io_result dial_one(const socket_address& to, const context* ctx, poll_descriptor*& out,
                          bool& cancelled) {
  int error = 0;
  poll_descriptor* raw = open_socket(to.family(), error);
  if (raw == nullptr) return detail::io_failed(error);
  owned_descriptor d(raw);
  io_result r;
  if (ctx != nullptr && !ctx->done().is_nil()) {
    if (const auto deadline = ctx->deadline(); deadline.has_value()) {
      d->set_deadline(deadline_ns(*deadline));
    }
    dial_watch watch(*d, *ctx);
    op_scope op(*d);
    r = detail::socket_connect(*d, to);
    cancelled = watch.finish();
    d->set_deadline(0);
  } else {
    op_scope op(*d);
    r = detail::socket_connect(*d, to);
  }
  if (r.status == io_status::ok && !cancelled) {
    finish_conn(*d, &to);
    out = d.take();
  }
  return r;
}

}  // namespace goro::detail

namespace goro::net {

/// conn: a TCP connection (Go's net.TCPConn). Move-only; owns its socket, which the destructor
/// closes. read, write, set_deadline, set_read_deadline, set_write_deadline and close may be
/// called concurrently from different goroutines or threads (concurrent writes do not
/// interleave); a moved-from or default conn behaves as a closed one.
class conn {
 public:
  /// conn: an empty conn, which behaves as a closed one (dial and accept make real ones).
  conn() noexcept = default;
  /// conn(conn&&): takes over `other`'s socket; `other` becomes empty.
  conn(conn&& other) noexcept : d_(std::exchange(other.d_, nullptr)) {}
  /// operator=: closes the socket this conn had, then takes over `other`'s.
  conn& operator=(conn&& other) noexcept {
    if (this != &other) {
      reset();
      d_ = std::exchange(other.d_, nullptr);
    }
    return *this;
  }
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;
  ~conn() { reset(); }

  /// read: reads what is available, at least one byte, into `buffer` (blocking until some is);
  /// returns the count, or 0 at end of stream (or for an empty buffer). Throws timeout_error,
  /// closed_error, or std::system_error (e.g. connection reset).
  std::size_t read(std::span<std::byte> buffer) {
    detail::poll_descriptor* d = enter("read");
    detail::op_scope op(*d);
    const detail::io_result r =
        op ? detail::socket_read(*d, buffer) : detail::io_result{detail::io_status::closed};
    if (r.status != detail::io_status::ok) detail::throw_io(r, detail::describe("read", d));
    return r.bytes;
  }
  /// read: read(std::span<std::byte>) into a buffer of char.
  std::size_t read(std::span<char> buffer) { return read(std::as_writable_bytes(buffer)); }

  /// write: writes all of `data` (blocking as long as it takes) and returns data.size(). Throws
  /// like read (EPIPE, not SIGPIPE, when the peer is gone); bytes already sent stay sent.
  std::size_t write(std::span<const std::byte> data) {
    detail::poll_descriptor* d = enter("write");
    detail::op_scope op(*d);
    const detail::io_result r =
        op ? detail::socket_write(*d, data) : detail::io_result{detail::io_status::closed};
    if (r.status != detail::io_status::ok) detail::throw_io(r, detail::describe("write", d));
    return r.bytes;
  }
  /// write: write(std::span<const std::byte>) of the characters of `text`.
  std::size_t write(std::string_view text) {
    return write(std::as_bytes(std::span(text.data(), text.size())));
  }

  /// set_deadline: reads and writes — blocked ones included — throw timeout_error once `t` has
  /// passed; {} clears the deadline (Go's SetDeadline). Sets both the read and the write deadline
  /// (set_read_deadline, set_write_deadline), which later calls of those replace one at a time.
  /// From any goroutine or thread. Throws closed_error once the conn is closed, like every other
  /// operation.
  void set_deadline(std::chrono::steady_clock::time_point t) {
    detail::poll_descriptor* d = enter("set_deadline");
    if (d->closing()) detail::throw_closed("goro::net::set_deadline");
    d->set_deadline(detail::deadline_ns(t));
  }

  /// set_read_deadline: reads — a blocked one included — throw timeout_error once `t` has passed;
  /// writes are not affected; {} clears the read deadline (Go's SetReadDeadline). A later call
  /// replaces it: moved later, a blocked read goes on waiting; moved into the past, it wakes and
  /// throws. From any goroutine or thread. Throws closed_error once the conn is closed.
  void set_read_deadline(std::chrono::steady_clock::time_point t) {
    detail::poll_descriptor* d = enter("set_read_deadline");
    if (d->closing()) detail::throw_closed("goro::net::set_read_deadline");
    d->set_deadline(detail::io_direction::read, detail::deadline_ns(t));
  }

  /// set_write_deadline: writes — a blocked one included — throw timeout_error once `t` has
  /// passed (bytes a write had already sent stay sent); reads are not affected; {} clears the
  /// write deadline (Go's SetWriteDeadline). A later call replaces it: moved later, a blocked
  /// write goes on; moved into the past, it wakes and throws. From any goroutine or thread.
  /// Throws closed_error once the conn is closed.
  void set_write_deadline(std::chrono::steady_clock::time_point t) {
    detail::poll_descriptor* d = enter("set_write_deadline");
    if (d->closing()) detail::throw_closed("goro::net::set_write_deadline");
    d->set_deadline(detail::io_direction::write, detail::deadline_ns(t));
  }

  /// close: closes the connection; blocked and later operations throw closed_error. A second
  /// close does nothing. From any goroutine or thread.
  void close() noexcept {
    detail::note_api_use();
    if (d_ != nullptr) d_->close();
  }

  /// local_address: "host:port" of this end ("" for an empty conn).
  std::string local_address() const {
    detail::note_api_use();
    return d_ != nullptr ? d_->local.to_string() : "";
  }
  /// remote_address: "host:port" of the peer ("" for an empty conn).
  std::string remote_address() const {
    detail::note_api_use();
    return d_ != nullptr ? d_->remote.to_string() : "";
  }

 private:
  friend struct detail::net_access;
  explicit conn(detail::poll_descriptor* d) noexcept : d_(d) {}
  void reset() noexcept {
    if (d_ != nullptr) std::exchange(d_, nullptr)->release();
  }

  // enter: the descriptor an operation works on. Operations use only this copy from here on —
  // never `this` once they may have blocked: a goroutine that closes a conn and then destroys it
  // (Go's idiom: close, then drop) must not pull the object from under an operation it woke.
  detail::poll_descriptor* enter(const char* op) const {
    detail::note_api_use();
    if (d_ == nullptr) detail::throw_closed(std::string("goro::net::") + op);
    return d_;
  }

  detail::poll_descriptor* d_ = nullptr;
};

/// listener: a listening TCP socket (Go's net.TCPListener). Move-only; the destructor closes it.
class listener {
 public:
  /// listener: an empty listener, which behaves as a closed one (listen makes real ones).
  listener() noexcept = default;
  /// listener(listener&&): takes over `other`'s socket; `other` becomes empty.
  listener(listener&& other) noexcept : d_(std::exchange(other.d_, nullptr)) {}
  /// operator=: closes the socket this listener had, then takes over `other`'s.
  listener& operator=(listener&& other) noexcept {
    if (this != &other) {
      reset();
      d_ = std::exchange(other.d_, nullptr);
    }
    return *this;
  }
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener() { reset(); }

  /// accept: waits for the next connection. Throws closed_error once closed (also when closed
  /// while waiting), timeout_error once the deadline (set_deadline) has passed,
  /// std::system_error otherwise (e.g. EMFILE). Any number of goroutines may accept at once.
  conn accept();

  /// set_deadline: accepts — blocked ones included — throw timeout_error once `t` has passed,
  /// even with connections waiting; {} clears the deadline (Go's TCPListener.SetDeadline). A
  /// later call replaces it: moved later, a blocked accept goes on waiting; moved into the past,
  /// it wakes and throws. The accepted conns do not inherit it. From any goroutine or thread.
  /// Throws closed_error once the listener is closed.
  void set_deadline(std::chrono::steady_clock::time_point t) {
    detail::note_api_use();
    detail::poll_descriptor* const d = d_;
    if (d == nullptr || d->closing()) detail::throw_closed("goro::net::set_deadline");
    d->set_deadline(detail::deadline_ns(t));
  }

  /// close: stops listening; blocked and later accepts throw closed_error. A second close does
  /// nothing. From any goroutine or thread.
  void close() noexcept {
    detail::note_api_use();
    if (d_ != nullptr) d_->close();
  }

  /// address: the address it listens on, with the port chosen for ":0" ("[::]:41234").
  std::string address() const {
    detail::note_api_use();
    return d_ != nullptr ? d_->local.to_string() : "";
  }

 private:
  friend struct detail::net_access;
  explicit listener(detail::poll_descriptor* d) noexcept : d_(d) {}
  // (accept, like conn's operations, touches only its copy of d_ once it may have blocked.)
  void reset() noexcept {
    if (d_ != nullptr) std::exchange(d_, nullptr)->release();
  }

  detail::poll_descriptor* d_ = nullptr;
};

}  // namespace goro::net

namespace goro::detail {

struct net_access {
  static net::conn make_conn(poll_descriptor* d) noexcept { return net::conn(d); }
  static net::listener make_listener(poll_descriptor* d) noexcept { return net::listener(d); }
};

inline net::conn net_dial(std::string_view address, const context* ctx) {
  detail::note_api_use();
  const std::string what = "goro::net::dial tcp " + std::string(address);
  const detail::host_port hp = detail::parse_address(address, "goro::net::dial");
  if (ctx != nullptr && ctx->err()) throw std::system_error(ctx->err(), what);
  const std::vector<socket_address> candidates = detail::resolve(hp, false, what);
  io_result first_failure;
  for (const socket_address& to : candidates) {
    poll_descriptor* d = nullptr;
    bool cancelled = false;
    const io_result r = dial_one(to, ctx, d, cancelled);
    if (d != nullptr) return net_access::make_conn(d);
    if (ctx != nullptr) {
      // Given up because of the context: its error, even if the connect finished meanwhile.
      std::error_code e = ctx->err();
      if (!e && r.status == io_status::timed_out) e = goro::errc::deadline_exceeded;
      if (cancelled || e) throw std::system_error(e ? e : goro::errc::canceled, what);
    }
    if (first_failure.status == io_status::ok) first_failure = r;
  }
  throw_io(first_failure, what);
}

}  // namespace goro::detail

namespace goro::net {

inline conn listener::accept() {
  detail::note_api_use();
  detail::poll_descriptor* const d = d_;
  if (d == nullptr) detail::throw_closed("goro::net::accept");
  detail::socket_address peer;
  detail::op_scope op(*d);
  const detail::io_result r =
      op ? detail::socket_accept(*d, peer) : detail::io_result{detail::io_status::closed};
  if (r.status != detail::io_status::ok) detail::throw_io(r, detail::describe("accept", d));
  detail::owned_descriptor accepted(detail::poll_descriptor::acquire(r.fd));
  detail::finish_conn(*accepted, &peer);
  return detail::net_access::make_conn(accepted.take());
}

/// listen: listens for TCP connections on `address` ("127.0.0.1:8080", "[::1]:0", ":0" — every
/// interface, IPv4 and IPv6 — and a free port for port 0). Throws std::system_error: code
/// std::errc::invalid_argument for a malformed address or an unknown service name, the errno if the
/// socket cannot listen (EADDRINUSE...). From any goroutine or thread.
inline listener listen(std::string_view address) {
  detail::note_api_use();
  const std::string what = "goro::net::listen tcp " + std::string(address);
  // As in Go, an empty address is ":0": every interface, a free port.
  const detail::host_port hp =
      detail::parse_address(address.empty() ? ":0" : address, "goro::net::listen");
  int first_error = 0;
  for (const detail::socket_address& at : detail::resolve(hp, true, what)) {
    int error = 0;
    detail::poll_descriptor* raw = detail::open_socket(at.family(), error);
    if (raw != nullptr) {
      detail::owned_descriptor d(raw);
      const int one = 1;
      const int zero = 0;
      setsockopt(d->fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      // [::] serves IPv4 too (Go's dual-stack wildcard).
      if (at.wildcard_v6()) setsockopt(d->fd(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      d->local.length = detail::socket_address::capacity();
      if (::bind(d->fd(), at.data(), at.length) == 0 && ::listen(d->fd(), 65535) == 0 &&
          getsockname(d->fd(), d->local.data(), &d->local.length) == 0) {
        return detail::net_access::make_listener(d.take());
      }
      error = detail::last_errno();
    }
    if (first_error == 0) first_error = error;
  }
  throw std::system_error(first_error, std::generic_category(), what);
}

/// dial: connects to `address` ("127.0.0.1:8080", "[::1]:80", "localhost:80"), trying each
/// address a name resolves to in turn. Throws std::system_error: code
/// std::errc::invalid_argument for a malformed address, else the first address's error if no
/// connection could be made. From any
/// goroutine or thread.
inline conn dial(std::string_view address) {
  return detail::net_dial(address, nullptr);
}

/// dial: dial, giving up when `ctx` is done (cancelled or past its deadline): then it throws
/// std::system_error whose code() is ctx.err().
inline conn dial(context ctx, std::string_view address) {
  return detail::net_dial(address, &ctx);
}

}  // namespace goro::net
