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
// Usage: http_server [port] (default 8080), or --self-test: serve a free port, run the client
// checks of http_common.hpp (the HTTP/1.1 code shared with http_server_threads.cpp) against it,
// print what they saw and exit. A goroutine waiting for its connection's next request is parked
// on the netpoller while its worker serves others: a few workers carry thousands of connections.
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
      if (!s.out.empty() && http::handler_wait().count() > 0) goro::sleep_for(http::handler_wait());
      if (!s.out.empty()) c.write(s.out);
      s.out.clear();
    }
  } catch (const std::system_error&) {  // reset by the client, say: drop the connection
  }
}

// serve_forever: a goroutine per connection, until the listener is closed.
void serve_forever(goro::net::listener& ln) {
  auto backoff = std::chrono::milliseconds(0);
  for (;;) {
    try {
      goro::go(serve, ln.accept());
      backoff = {};
    } catch (const goro::net::closed_error&) {
      return;
    } catch (const std::system_error& e) {  // out of descriptors, say: retry, as net/http does
      backoff =
          std::clamp(2 * backoff, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
      std::fprintf(stderr, "http_server: %s; retrying in %d ms\n", e.what(),
                   static_cast<int>(backoff.count()));
      goro::sleep_for(backoff);
    }
  }
}

int main(int argc, char** argv) {
  const std::string arg = argc > 1 ? argv[1] : "8080";
  const bool self_test = arg == "--self-test";
  try {
    goro::run([&] {
      goro::net::listener ln = goro::net::listen(":" + (self_test ? std::string("0") : arg));
      if (self_test) {
        goro::go([&] { serve_forever(ln); });
        const std::string port = ln.address().substr(ln.address().rfind(':'));
        http::self_test([&] { return goro::net::dial("127.0.0.1" + port); });
        return ln.close();
      }
      std::printf("Server listening on %s\n", ln.address().c_str());
      std::fflush(stdout);
      serve_forever(ln);
    });
  } catch (const std::system_error& e) {  // Go: if err != nil { log.Fatal(err) }
    std::fprintf(stderr, "http_server: %s\n", e.what());
    return 1;
  }
}
