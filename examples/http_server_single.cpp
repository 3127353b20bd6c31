// http_server_single — the seed's "single-threaded implementation" of its web server: one thread
// serves one connection at a time, in the order they arrive, with blocking POSIX sockets
// (posix_socket.hpp) and no goro. The Go program the other servers mirror is in
// http_server.cpp; so is the usage: http_server_single [port | --self-test].
//
// The seed measures its concurrent server against such a server with `ab`, which opens a new
// connection for every request: benchmarks/http/run.sh does the same (its `ab` pass), so that
// the seed's "10,000 against 1,000 requests per second" is measured on this machine. Under
// keep-alive clients (wrk) it would serve one connection for as long as that client keeps it.
#include <cstdio>
#include <system_error>
#include <thread>

#include "blocking_server.hpp"
#include "posix_socket.hpp"

// serve_forever: each connection in turn, until `ln` is shut down.
void serve_forever(const posix::socket& ln) {
  for (;;) {
    try {
      posix::socket c = posix::accept(ln);
      http::serve_blocking(c);
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::invalid_argument) return;  // shut down
      std::fprintf(stderr, "http_server_single: %s\n", e.what());
    }
  }
}

int main(int argc, char** argv) {
  return http::blocking_server_main(argc, argv, "http_server_single", serve_forever);
}
