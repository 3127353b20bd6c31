// http_server_threads — http_server.cpp's "Hello, World!" server the classic way: blocking POSIX
// sockets and one std::thread per connection. The Go program it mirrors:
//
//   func handler(w http.ResponseWriter, r *http.Request) {
//       fmt.Fprint(w, "Hello, World!")
//   }
//   func main() {
//       http.HandleFunc("/", handler)
//       http.ListenAndServe(":8080", nil)
//   }
//
// Usage: http_server_threads [port] (default 8080). Same HTTP handling (http_common.hpp), no goro:
// the baseline goro's server is measured against (benchmarks/http/run.sh). Every connection
// costs a kernel thread with its own stack, and the kernel's scheduler switches between them.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

#include "http_common.hpp"

// send_all: writes all of `data` to the blocking socket; false if the connection is gone.
bool send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// serve: one connection on its own thread, until the client closes it or a request asks to.
void serve(int fd) {
  http::session s;
  std::array<char, 4096> buf;
  while (!s.close) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed by the client, or reset
    s.in.append(buf.data(), static_cast<std::size_t>(n));
    http::consume(s);
    if (!s.out.empty()) {
      if (!send_all(fd, s.out)) break;
      s.out.clear();
    }
  }
  ::close(fd);
}

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  // Every interface, IPv4 and IPv6, as ":8080" means in Go.
  const int ln = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  const int zero = 0;
  setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(ln, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  sockaddr_in6 at{};
  at.sin6_family = AF_INET6;
  at.sin6_addr = in6addr_any;
  at.sin6_port = htons(static_cast<std::uint16_t>(port));
  if (ln < 0 || ::bind(ln, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
      ::listen(ln, 65535) != 0) {
    std::fprintf(stderr, "http_server_threads: listen on port %d: %s\n", port,
                 std::strerror(errno));
    return 1;
  }
  std::printf("Server listening on [::]:%d\n", port);
  std::fflush(stdout);
  for (;;) {
    const int fd = ::accept4(ln, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED) {
        std::fprintf(stderr, "http_server_threads: accept: %s\n", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as Go and goro::net do
    try {
      std::thread(serve, fd).detach();
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "http_server_threads: no thread for a connection: %s\n", e.what());
      ::close(fd);
    }
  }
}
