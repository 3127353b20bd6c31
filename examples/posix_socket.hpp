// examples/posix_socket.hpp — the blocking POSIX TCP sockets under http_server_threads.cpp and
// http_server_single.cpp, which use no goro: a socket that closes itself, listen on every
// interface, accept, a loopback dial.
// Every call blocks its thread; errors throw std::system_error.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

namespace posix {

// socket: owns a descriptor, closed by the destructor; move-only.
class socket {
 public:
  explicit socket(int fd) : fd_(fd) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  }
  socket(socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  socket& operator=(socket&&) = delete;
  ~socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

  // read: what has arrived, at least one byte (waiting until some has); 0 at the end of the
  // stream or when the connection is reset.
  std::size_t read(std::span<char> buffer) {
    ssize_t n;
    while ((n = ::recv(fd_, buffer.data(), buffer.size(), 0)) < 0 && errno == EINTR) continue;
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  // write: all of `data`; false if the connection is gone.
  bool write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // shutdown: ends both directions; an accept blocked on a listening socket fails with EINVAL.
  void shutdown() { ::shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
};

// parse_port: a port number 0-65535 written in decimal digits alone, or -1.
inline int parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return -1;
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    port = port * 10 + (c - '0');
  }
  return port <= 65535 ? port : -1;
}

// listen: a socket listening on `port` (0: a free one) on every interface, IPv4 and IPv6, as
// ":port" means in Go.
inline socket listen(int port) {
  socket ln(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1, zero = 0;
  setsockopt(ln.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(ln.fd(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  sockaddr_in6 at{};
  at.sin6_family = AF_INET6;
  at.sin6_addr = in6addr_any;
  at.sin6_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(ln.fd(), reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
      ::listen(ln.fd(), 65535) != 0) {
    throw std::system_error(errno, std::generic_category(), "listen");
  }
  return ln;
}

// port: the port socket `s` is bound to.
inline int port(const socket& s) {
  sockaddr_in6 at{};
  socklen_t length = sizeof at;
  if (::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&at), &length) != 0) {
    throw std::system_error(errno, std::generic_category(), "getsockname");
  }
  return ntohs(at.sin6_port);
}

// accept: the next connection on `ln`, with TCP_NODELAY as Go and goro::net set it. Throws
// when out of descriptors, say, and with EINVAL once `ln` has been shut down.
inline socket accept(const socket& ln) {
  for (;;) {
    const int fd = ::accept4(ln.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
    socket c(fd);
    const int one = 1;
    setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
  }
}

// dial_loopback: a connection to 127.0.0.1:`port`.
inline socket dial_loopback(int port) {
  socket c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  at.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(c.fd(), reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
    throw std::system_error(errno, std::generic_category(), "connect");
  }
  return c;
}

}  // namespace posix
