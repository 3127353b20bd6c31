/// \file
/// goro/net.hpp — sockets that block goroutines, not threads (API section 7; Go's package net):
/// TCP (API 7), and beyond the contract UDP and Unix-domain sockets, named by Go's networks.
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
/// ppoll(2). Every TCP conn has TCP_NODELAY set, as in Go.
///
/// Networks, as Go names them: listen, dial and listen_packet take one as their first argument
/// ("tcp", "tcp4", "tcp6" and "unix" for streams; "unixpacket" for connections that keep
/// message boundaries; "udp", "udp4", "udp6" and "unixgram" for datagrams); the forms without
/// one are "tcp". A "unix", "unixpacket" or "unixgram" address is a path, or "@name" in Linux's
/// abstract namespace. A listener of "unix" or "unixpacket" removes its socket file when it is
/// closed; nothing else removes one, as in Go.
///
/// Errors: std::system_error with the errno, whose what() names the operation and the addresses
/// ("goro::net::dial tcp 127.0.0.1:1: Connection refused"); goro::net::timeout_error after a
/// deadline; goro::net::closed_error on a closed socket; std::system_error with code
/// std::errc::invalid_argument for a malformed address, an unknown service or network, or a
/// network of the wrong kind (listen("udp", ...)). Addresses are Go's
/// "host:port" ("[::1]:80", ":0" for every interface and a free port); a port is a number or a
/// service name ("localhost:http"), as in Go.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

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

/// closed_error: the conn, packet_conn or listener was closed, before or during the operation
/// (Go's net.ErrClosed). code() is std::errc::bad_file_descriptor; what() ends in "use of closed
/// network connection".
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
class packet_conn;

}  // namespace goro::net

namespace goro::detail {

struct net_access;

// describe: "goro::net::<op> <network> <local>-><remote>" (a conn), "... <network> <local>" (a
// listener or a packet_conn): "goro::net::read tcp 127.0.0.1:5000->127.0.0.1:41234". An
// unnamed Unix-domain end is left out; an abstract name's control bytes are escaped (another
// program may bind a name with a NUL in it).
inline std::string describe(const char* op, const poll_descriptor* d) {
  std::string text = std::string("goro::net::") + op;
  if (d == nullptr) return text;
  text += " " + std::string(d->net->name) + " " + printable(d->local.to_string());
  if (std::string remote = d->remote.to_string(); !remote.empty()) {
    text += "->" + printable(remote);
  }
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

// open_socket: a descriptor owning a new non-blocking socket of network `net` and `family`;
// nullptr with `error` set if the system refuses one.
inline poll_descriptor* open_socket(const network& net, int family, int& error) {
  const int fd = ::socket(family, net.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = detail::last_errno();
    return nullptr;
  }
  poll_descriptor* d = poll_descriptor::acquire(fd);
  d->net = &net;
  return d;
}

// peer_source: where finish_conn takes a connected socket's remote address from.
enum class peer_source {
  accepted,  // the address accept returned: the kernel's own report of the peer
  dialled,   // the kernel's (getpeername), as Go's dialer asks it: dialling 0.0.0.0 reaches
             // 127.0.0.1, and the conn says so; the address dialled if the kernel has none
};

// finish_conn: a connected socket's options and addresses; `remote` as `source` says.
inline void finish_conn(poll_descriptor& d, const socket_address& remote, peer_source source) {
  const int one = 1;
  if (!d.net->is_unix() && !d.net->is_datagram()) {
    setsockopt(d.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  d.local.length = socket_address::capacity();
  if (getsockname(d.fd(), d.local.data(), &d.local.length) != 0) d.local = {};
  d.remote = remote;
  if (source == peer_source::dialled) {
    socket_address peer;
    peer.length = socket_address::capacity();
    if (getpeername(d.fd(), peer.data(), &peer.length) == 0) d.remote = peer;
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

// dial_one: connects a new socket of `net` to `to`, giving up when `ctx` (if any) is done. On
// success `out` owns the connected socket.
inline io_result dial_one(const network& net, const socket_address& to, const context* ctx,
                          poll_descriptor*& out, bool& cancelled) {
  int error = 0;
  poll_descriptor* raw = open_socket(net, to.family(), error);
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
    finish_conn(*d, to, peer_source::dialled);
    out = d.take();
  }
  return r;
}

// destination: where packet_conn::write_to sends: the first of `address`'s candidates in the
// socket's network that the socket can reach: one of its own family, or an IPv4 address from a
// "udp" socket of IPv6 (dual-stack; Linux takes the IPv4 address as it is).
inline socket_address destination(const poll_descriptor& d, std::string_view address) {
  constexpr std::string_view op = "goro::net::write_to";
  const std::string what =
      std::string(op) + " " + std::string(d.net->name) + " " + printable(address);
  const int family = d.local.family();
  const bool dual_stack = family == AF_INET6 && d.net->family == AF_UNSPEC;
  for (const socket_address& to : resolve_network(*d.net, address, false, op, what)) {
    if (to.family() == family || (dual_stack && to.family() == AF_INET)) return to;
  }
  throw_bad_address(op, address, "no suitable address found");
}

}  // namespace goro::detail

namespace goro::net {

/// socket_handle: what conn and packet_conn share: the ownership of a socket (the destructor
/// closes it; move-only, a moved-from one behaves as a closed one), its deadlines, close and its
/// local address. Made only as a conn or a packet_conn.
class socket_handle {
 public:
  /// socket_handle: an empty one, which behaves as a closed one.
  socket_handle() noexcept = default;
  /// socket_handle(socket_handle&&): takes over `other`'s socket; `other` becomes empty.
  socket_handle(socket_handle&& other) noexcept : d_(std::exchange(other.d_, nullptr)) {}
  /// operator=: closes the socket this one had, then takes over `other`'s.
  socket_handle& operator=(socket_handle&& other) noexcept {
    if (this != &other) {
      reset();
      d_ = std::exchange(other.d_, nullptr);
    }
    return *this;
  }
  socket_handle(const socket_handle&) = delete;
  socket_handle& operator=(const socket_handle&) = delete;
  /// ~socket_handle: closes the socket.
  ~socket_handle() { reset(); }

  /// set_deadline: operations in both directions — blocked ones included — throw
  /// goro::net::timeout_error once `t` has passed; {} clears the deadline (Go's SetDeadline).
  /// Sets both the read and the write deadline (set_read_deadline, set_write_deadline), which
  /// later calls of those replace one at a time. From any goroutine or thread. Throws
  /// goro::net::closed_error once the socket is closed, like every other operation.
  void set_deadline(std::chrono::steady_clock::time_point t) {
    detail::poll_descriptor* d = enter_open("set_deadline");
    d->set_deadline(detail::deadline_ns(t));
  }

  /// set_read_deadline: reads (read, read_from) — a blocked one included — throw
  /// goro::net::timeout_error once `t` has passed; writes are not affected; {} clears the read
  /// deadline (Go's SetReadDeadline). A later call replaces it: moved later, a blocked read goes
  /// on waiting; moved into the past, it wakes and throws. From any goroutine or thread. Throws
  /// goro::net::closed_error once the socket is closed.
  void set_read_deadline(std::chrono::steady_clock::time_point t) {
    detail::poll_descriptor* d = enter_open("set_read_deadline");
    d->set_deadline(detail::io_direction::read, detail::deadline_ns(t));
  }

  /// set_write_deadline: writes (write, write_to) — a blocked one included — throw
  /// goro::net::timeout_error once `t` has passed (bytes a write had already sent stay sent);
  /// reads are not affected; {} clears the write deadline (Go's SetWriteDeadline). A later call
  /// replaces it: moved later, a blocked write goes on; moved into the past, it wakes and throws.
  /// From any goroutine or thread. Throws goro::net::closed_error once the socket is closed.
  void set_write_deadline(std::chrono::steady_clock::time_point t) {
    detail::poll_descriptor* d = enter_open("set_write_deadline");
    d->set_deadline(detail::io_direction::write, detail::deadline_ns(t));
  }

  /// close: closes the socket; blocked and later operations throw goro::net::closed_error. A
  /// second close does nothing. From any goroutine or thread.
  void close() noexcept {
    detail::note_api_use();
    if (d_ != nullptr) d_->close();
  }

  /// local_address: this end's address: "host:port", a Unix-domain socket's path ("" if it has
  /// none), "" for an empty object.
  std::string local_address() const {
    detail::note_api_use();
    return d_ != nullptr ? d_->local.to_string() : "";
  }

 private:
  friend class conn;
  friend class packet_conn;

  explicit socket_handle(detail::poll_descriptor* d) noexcept : d_(d) {}

  // enter: the descriptor an operation works on. Operations use only this copy from here on —
  // never `this` once they may have blocked: a goroutine that closes a socket and then destroys
  // its object (Go's idiom: close, then drop) must not pull the object from under an operation
  // it woke.
  detail::poll_descriptor* enter(const char* op) const {
    detail::note_api_use();
    if (d_ == nullptr) detail::throw_closed(std::string("goro::net::") + op);
    return d_;
  }

  // enter_open: enter, for an operation that throws closed_error once the socket is closing.
  detail::poll_descriptor* enter_open(const char* op) const {
    detail::poll_descriptor* d = enter(op);
    if (d->closing()) detail::throw_closed(std::string("goro::net::") + op);
    return d;
  }

  void reset() noexcept {
    if (d_ != nullptr) std::exchange(d_, nullptr)->release();
  }

  detail::poll_descriptor* d_ = nullptr;
};

/// conn: a connection (Go's net.Conn): TCP (net.TCPConn), a Unix-domain stream (net.UnixConn),
/// a "unixpacket" connection (each write sends one message, each read takes one), or a
/// connected datagram socket (dial("udp", ...), dial("unixgram", ...): each read takes one
/// datagram, each write sends one). Move-only; owns its socket, which the destructor closes.
/// read, write, close_write, close_read, the deadlines and close may be called concurrently from
/// different goroutines or threads (concurrent writes do not interleave); a moved-from or
/// default conn behaves as a closed one.
class conn : public socket_handle {
 public:
  /// conn: an empty conn, which behaves as a closed one (dial and accept make real ones).
  conn() noexcept = default;

  /// read: reads what is available, at least one byte, into `buffer` (blocking until some is);
  /// returns the count, or 0 at end of stream (or for an empty buffer). Throws timeout_error,
  /// closed_error, or std::system_error (e.g. connection reset). On a datagram conn: one
  /// datagram, as much of it as fits (the rest is dropped); 0 for an empty datagram. An empty
  /// buffer returns 0 at once and takes nothing, on every network, as Go's Read does (read_from
  /// of an empty buffer takes a datagram, as Go's ReadFrom does). On a "unixpacket" conn: one
  /// message, as much of it as fits (the rest is dropped); 0 at end of stream, and for an empty
  /// message, as in Go.
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
  /// like read (EPIPE, not SIGPIPE, when the peer is gone); bytes already sent stay sent. On a
  /// datagram or "unixpacket" conn: sends `data` as one message (an empty one too), or throws
  /// (EMSGSIZE if it is too large).
  std::size_t write(std::span<const std::byte> data) {
    detail::poll_descriptor* d = enter("write");
    detail::op_scope op(*d);
    detail::io_result r{detail::io_status::closed};
    if (op) {
      r = d->net->keeps_messages() ? detail::socket_send_datagram(*d, data, nullptr)
                                   : detail::socket_write(*d, data);
    }
    if (r.status != detail::io_status::ok) detail::throw_io(r, detail::describe("write", d));
    return r.bytes;
  }
  /// write: write(std::span<const std::byte>) of the characters of `text`.
  std::size_t write(std::string_view text) {
    return write(std::as_bytes(std::span(text.data(), text.size())));
  }

  /// close_write: shuts down the sending side (Go's TCPConn.CloseWrite and UnixConn.CloseWrite):
  /// the peer reads end of stream once it has read what was sent, and this end can go on
  /// reading. Later writes throw std::system_error (EPIPE). Throws closed_error once closed,
  /// std::system_error if the system refuses (ENOTCONN).
  void close_write() { shut_down(SHUT_WR, "close_write"); }

  /// close_read: shuts down the receiving side (Go's TCPConn.CloseRead and UnixConn.CloseRead):
  /// reads — a blocked one included — return 0, end of stream (a datagram conn's too, once the
  /// datagrams that had arrived are read, though its socket never says end of stream itself);
  /// this end can go on writing.
  /// Throws like close_write.
  void close_read() { shut_down(SHUT_RD, "close_read"); }

  /// remote_address: the peer's address: "host:port", a Unix-domain socket's path ("" if it
  /// has none), "" for an empty conn.
  std::string remote_address() const {
    detail::note_api_use();
    return d_ != nullptr ? d_->remote.to_string() : "";
  }

 private:
  friend struct detail::net_access;
  explicit conn(detail::poll_descriptor* d) noexcept : socket_handle(d) {}

  void shut_down(int how, const char* op) {
    detail::poll_descriptor* d = enter(op);
    detail::op_scope scope(*d);
    if (!scope) detail::throw_closed(detail::describe(op, d));
    if (how == SHUT_RD) d->read_shut.store(true, std::memory_order_release);
    if (::shutdown(d->fd(), how) != 0) {
      const int error = detail::last_errno();
      if (how == SHUT_RD) d->read_shut.store(false, std::memory_order_release);
      throw std::system_error(error, std::generic_category(), detail::describe(op, d));
    }
  }
};

/// datagram: what packet_conn::read_from received: its size, and the sender's address
/// ("host:port"; a Unix-domain sender's path, "" for an unnamed one).
struct datagram {
  std::size_t size = 0;  ///< the bytes read into the buffer (0 for an empty datagram)
  std::string from;      ///< the sender's address ("" for an unnamed Unix-domain socket)
};

/// packet_conn: a datagram socket that is not connected (Go's net.PacketConn: net.UDPConn and
/// net.UnixConn of ListenPacket), made by listen_packet. Move-only; owns its socket, which the
/// destructor closes. read_from, write_to, the deadlines and close may be called concurrently
/// from different goroutines or threads; a moved-from or default packet_conn behaves as a closed
/// one. Datagrams may be lost, duplicated or reordered on the way, as the network decides; on
/// one machine, the kernel drops those for which the receiver has no room.
class packet_conn : public socket_handle {
 public:
  /// packet_conn: an empty packet_conn, which behaves as a closed one.
  packet_conn() noexcept = default;

  /// read_from: waits for the next datagram and reads as much of it as fits into `buffer` (the
  /// rest is dropped; an empty buffer takes the datagram too). Returns its size as read (0 for
  /// an empty datagram) and its sender's address. Throws timeout_error (read deadline),
  /// closed_error or std::system_error.
  datagram read_from(std::span<std::byte> buffer) {
    detail::poll_descriptor* d = enter("read_from");
    detail::op_scope op(*d);
    detail::socket_address from;
    const detail::io_result r = op ? detail::socket_receive_from(*d, buffer, from)
                                   : detail::io_result{detail::io_status::closed};
    if (r.status != detail::io_status::ok) detail::throw_io(r, detail::describe("read_from", d));
    return {r.bytes, from.to_string()};
  }
  /// read_from: read_from(std::span<std::byte>) into a buffer of char.
  datagram read_from(std::span<char> buffer) { return read_from(std::as_writable_bytes(buffer)); }

  /// write_to: sends `data` as one datagram (an empty one too) to `address`, an address of the
  /// socket's network (a name is resolved first, as dial does) or a path for "unixgram"; returns
  /// data.size(). Waits only while the socket has no room. Throws timeout_error (write
  /// deadline), closed_error, std::system_error with code std::errc::invalid_argument for a
  /// malformed address or one of the other IP version on a socket of one ("udp4", "udp6", or
  /// "udp" bound to an address of one), else with the errno (EMSGSIZE: too large).
  std::size_t write_to(std::span<const std::byte> data, std::string_view address) {
    detail::poll_descriptor* d = enter("write_to");
    detail::op_scope op(*d);
    if (!op) detail::throw_closed(detail::describe("write_to", d));
    const detail::socket_address to = detail::destination(*d, address);
    const detail::io_result r = detail::socket_send_datagram(*d, data, &to);
    if (r.status != detail::io_status::ok) detail::throw_io(r, detail::describe("write_to", d));
    return r.bytes;
  }
  /// write_to: write_to(std::span<const std::byte>, address) of the characters of `text`.
  std::size_t write_to(std::string_view text, std::string_view address) {
    return write_to(std::as_bytes(std::span(text.data(), text.size())), address);
  }

 private:
  friend struct detail::net_access;
  explicit packet_conn(detail::poll_descriptor* d) noexcept : socket_handle(d) {}
};

/// listener: a listening socket: TCP (Go's net.TCPListener) or Unix-domain (net.UnixListener,
/// which removes its socket file when closed). Move-only; the destructor closes it.
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

  /// close: stops listening; blocked and later accepts throw closed_error. A "unix" listener's
  /// first close also removes its socket file (not a name in the abstract namespace), as Go's
  /// does. A second close does nothing. From any goroutine or thread.
  void close() noexcept {
    detail::note_api_use();
    if (d_ != nullptr) d_->close();
  }

  /// address: the address it listens on, with the port chosen for ":0" ("[::]:41234"); a
  /// Unix-domain listener's path.
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
  static net::packet_conn make_packet_conn(poll_descriptor* d) noexcept {
    return net::packet_conn(d);
  }
};

inline net::conn net_dial(const network& net, std::string_view address, const context* ctx) {
  detail::note_api_use();
  const std::string what = "goro::net::dial " + std::string(net.name) + " " + printable(address);
  constexpr std::string_view op = "goro::net::dial";
  // A malformed address is reported first, a done context next, both before any lookup.
  const host_port hp = net.is_unix() ? host_port{} : parse_address(address, op, net.protocol());
  const socket_address path = net.is_unix() ? unix_address(address, op) : socket_address{};
  if (ctx != nullptr && ctx->err()) throw std::system_error(ctx->err(), what);
  const std::vector<socket_address> candidates =
      net.is_unix() ? std::vector{path} : resolve_ip(net, hp, false, address, op, what);
  io_result first_failure;
  for (const socket_address& to : candidates) {
    poll_descriptor* d = nullptr;
    bool cancelled = false;
    const io_result r = dial_one(net, to, ctx, d, cancelled);
    if (d != nullptr) return net_access::make_conn(d);
    if (ctx != nullptr) {
      // Given up because of the context: its error, even if the connect finished meanwhile. A
      // connect that timed out reached the socket's deadline, the context's own, on the socket's
      // clock; the context's timer may not have fired yet. It is due, so wait for it: the error
      // thrown is then what ctx.err() says from here on (API 7), never one made up here.
      if (r.status == io_status::timed_out && !cancelled) (void)ctx->done().recv();
      const std::error_code e = ctx->err();
      if (cancelled || e) throw std::system_error(e ? e : goro::errc::canceled, what);
    }
    if (first_failure.status == io_status::ok) first_failure = r;
  }
  throw_io(first_failure, what);
}

// bind_socket: a descriptor owning a new socket of `net` bound to `at` — listening, for a
// stream — with its local address; nullptr with `error` set if the system refuses.
inline poll_descriptor* bind_socket(const network& net, const socket_address& at, int& error) {
  poll_descriptor* raw = open_socket(net, at.family(), error);
  if (raw == nullptr) return nullptr;
  owned_descriptor d(raw);
  const int one = 1;
  if (!net.is_unix() && !net.is_datagram()) {
    setsockopt(d->fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (net.family == AF_INET6) {
    // "tcp6" and "udp6" are IPv6 alone, as in Go.
    setsockopt(d->fd(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  } else if (at.wildcard_v6()) {
    // [::] of "tcp" and "udp" serves IPv4 too (Go's dual-stack wildcard).
    const int zero = 0;
    setsockopt(d->fd(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  d->local.length = socket_address::capacity();
  if (::bind(d->fd(), at.data(), at.length) != 0 ||
      (!net.is_datagram() && ::listen(d->fd(), 65535) != 0) ||
      getsockname(d->fd(), d->local.data(), &d->local.length) != 0) {
    error = last_errno();
    return nullptr;
  }
  return d.take();
}

// listen_on: a socket of `net` bound to `address` (listen and listen_packet; `op` names the
// caller): the first of the address's candidates that binds.
inline poll_descriptor* listen_on(const network& net, std::string_view address, const char* op) {
  const std::string name = std::string("goro::net::") + op;
  const std::string what = name + " " + std::string(net.name) + " " + printable(address);
  // As in Go, an empty IP address is ":0": every interface, a free port.
  const std::string_view at = address.empty() && !net.is_unix() ? ":0" : address;
  int first_error = 0;
  for (const socket_address& candidate : resolve_network(net, at, true, name, what)) {
    int error = 0;
    if (poll_descriptor* d = bind_socket(net, candidate, error)) {
      // A "unix" or "unixpacket" listener removes its file when closed (Go's UnixListener); an
      // abstract name has no file.
      d->unlink_on_close = net.is_unix() && !net.is_datagram() && d->local.sa.un.sun_path[0] != 0;
      return d;
    }
    if (first_error == 0) first_error = error;
  }
  throw std::system_error(first_error, std::generic_category(), what);
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
  accepted->net = d->net;
  detail::finish_conn(*accepted, peer, detail::peer_source::accepted);
  return detail::net_access::make_conn(accepted.take());
}

/// listen: listens for connections of `network` ("tcp", "tcp4", "tcp6", "unix" or
/// "unixpacket", as Go's net.Listen) on `address`: "127.0.0.1:8080", "[::1]:0", ":0" — every
/// interface, IPv4 and IPv6 for "tcp" — and a free port for port 0; for "unix" and
/// "unixpacket", a path (whose file must not exist; the listener's close removes it) or "@name"
/// in the abstract namespace. Throws std::system_error:
/// code std::errc::invalid_argument for a malformed address, an unknown service name or a
/// network that is not one of those, the errno if the socket cannot listen (EADDRINUSE...). From
/// any goroutine or thread.
inline listener listen(std::string_view network, std::string_view address) {
  detail::note_api_use();
  const detail::network& net = detail::find_network(network, SOCK_STREAM, "goro::net::listen");
  return detail::net_access::make_listener(detail::listen_on(net, address, "listen"));
}

/// listen: listen("tcp", address) — TCP on IPv4 and IPv6.
inline listener listen(std::string_view address) {
  return listen("tcp", address);
}

/// listen_packet: a datagram socket of `network` ("udp", "udp4", "udp6" or "unixgram", as Go's
/// net.ListenPacket) bound to `address`, as listen takes it (a "unixgram" path is not removed
/// by close, as in Go). Throws like listen.
inline packet_conn listen_packet(std::string_view network, std::string_view address) {
  detail::note_api_use();
  const detail::network& net =
      detail::find_network(network, SOCK_DGRAM, "goro::net::listen_packet");
  return detail::net_access::make_packet_conn(detail::listen_on(net, address, "listen_packet"));
}

/// dial: connects to `address` in `network`, any of Go's that listen or listen_packet take:
/// "host:port" ("127.0.0.1:8080", "[::1]:80", "localhost:80") trying each address a name
/// resolves to in turn, or a "unix", "unixpacket" or "unixgram" path. A datagram conn ("udp",
/// "unixgram") sends to and receives from that address alone. Throws std::system_error: code
/// std::errc::invalid_argument for a malformed address or an unknown network, else the first
/// address's error if no connection could be made. From any goroutine or thread.
inline conn dial(std::string_view network, std::string_view address) {
  return detail::net_dial(detail::find_network(network, 0, "goro::net::dial"), address, nullptr);
}

/// dial: dial("tcp", address).
inline conn dial(std::string_view address) {
  return detail::net_dial(detail::tcp_network, address, nullptr);
}

/// dial: dial(network, address), giving up when `ctx` is done (cancelled or past its deadline):
/// then it throws std::system_error whose code() is ctx.err().
inline conn dial(context ctx, std::string_view network, std::string_view address) {
  return detail::net_dial(detail::find_network(network, 0, "goro::net::dial"), address, &ctx);
}

/// dial: dial(ctx, "tcp", address).
inline conn dial(context ctx, std::string_view address) {
  return detail::net_dial(detail::tcp_network, address, &ctx);
}

}  // namespace goro::net
