// http_server_threads — http_server.cpp's "Hello, World!" server the classic way: blocking POSIX
// sockets (posix_socket.hpp) and one std::thread per connection, no goro. The Go program it
// mirrors is in http_server.cpp, and so is its usage: http_server_threads [port | --self-test].
//
// The HTTP/1.1 code is http_common.hpp's, the connection loop and main blocking_server.hpp's. This
// is the baseline goro's server is measured against (benchmarks/http/run.sh): every connection
// costs a kernel thread with its own stack, and the kernel's scheduler switches between them.
#include <chrono>
#include <cstdio>
#include <system_error>
#include <thread>

#include "blocking_server.hpp"
#include "posix_socket.hpp"

// serve_forever: a thread per connection, until `ln` is shut down.
void serve_forever(const posix::socket& ln) {
  for (;;) {
    try {
      std::thread([](posix::socket c) { http::serve_blocking(c); }, posix::accept(ln)).detach();
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::invalid_argument) return;  // shut down
      // Out of descriptors or threads, say: wait and retry (a failed thread closed its socket).
      std::fprintf(stderr, "http_server_threads: %s\n", e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

int main(int argc, char** argv) {
  return http::blocking_server_main(argc, argv, "http_server_threads", serve_forever);
}
