// http_server — the seed's "Hello, World!" web server, one goroutine per connection:
//
//   func handler(w http.ResponseWriter, r *http.Request) {
//       fmt.Fprint(w, "Hello, World!")
//   }
//   func main() {
//       http.HandleFunc("/", handler)
//       fmt.Println("Server listening on port 8080")
//       http.ListenAndServe(":8080", nil)
//   }
//
// Usage: http_server [port] (default 8080). Each connection's goroutine reads as if it blocked;
// while it waits for the next request it is parked on the runtime's netpoller and its worker
// serves other connections, so a few workers (GORO_MAXPROCS) carry thousands of keep-alive
// connections. The HTTP/1.1 handling (keep-alive, pipelining, partial requests, 400 for malformed
// requests) is in http_common.hpp, shared with http_server_threads.cpp.
#include <goro/goro.hpp>
#include <goro/net.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

#include "http_common.hpp"

// serve: one connection, until the client closes it, a request asks to, or an error.
void serve(goro::net::conn c) {
  http::session s;
  std::array<char, 4096> buf;
  try {
    while (!s.close) {
      const std::size_t n = c.read(std::span(buf));
      if (n == 0) return;  // the client closed the connection
      s.in.append(buf.data(), n);
      http::consume(s);  // every complete request, pipelined ones too
      if (!s.out.empty()) {
        c.write(s.out);
        s.out.clear();
      }
    }
  } catch (const std::system_error&) {
    // reset by the client, or the like: drop the connection (its destructor closes it)
  }
}

int main(int argc, char** argv) {
  const std::string port = argc > 1 ? argv[1] : "8080";
  goro::run([&] {
    goro::net::listener ln = goro::net::listen(":" + port);
    std::printf("Server listening on %s\n", ln.address().c_str());
    std::fflush(stdout);
    auto backoff = std::chrono::milliseconds(0);
    for (;;) {
      try {
        goro::go(serve, ln.accept());
        backoff = {};
      } catch (const goro::net::closed_error&) {
        return;
      } catch (const std::system_error& e) {
        // Out of file descriptors, say: wait and retry, as net/http's Serve does.
        backoff = std::min(std::max(2 * backoff, std::chrono::milliseconds(5)),
                           std::chrono::milliseconds(1000));
        std::fprintf(stderr, "http_server: %s; retrying in %lld ms\n", e.what(),
                     static_cast<long long>(backoff.count()));
        goro::sleep_for(backoff);
      }
    }
  });
}
