// examples/blocking_server.hpp — what the two servers on blocking POSIX sockets share
// (http_server_threads.cpp, a thread per connection, and http_server_single.cpp, one connection
// at a time): the loop that serves one connection, and their main.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <system_error>
#include <thread>

#include "http_common.hpp"
#include "posix_socket.hpp"

namespace http {

// serve_blocking: serves connection `c` on the calling thread, until the client closes it or a
// request asks to; the handler's wait sleeps the thread.
inline void serve_blocking(posix::socket& c) {
  session s;
  std::array<char, 4096> buf;
  while (!s.close) {
    const std::size_t n = c.read(buf);
    if (n == 0) return;  // closed by the client, or reset
    s.in.append(buf.data(), n);
    consume(s);  // every complete request, pipelined ones too
    if (!s.out.empty() && handler_wait().count() > 0) std::this_thread::sleep_for(handler_wait());
    if (!c.write(s.out)) return;
    s.out.clear();
  }
}

// blocking_server_main: the main of both servers. `serve_forever` serves the listener until it
// is shut down. Usage: <name> [port | --self-test] (see http_server.cpp).
inline int blocking_server_main(int argc, char** argv, const char* name,
                                void (*serve_forever)(const posix::socket&)) {
  const std::string arg = argc > 1 ? argv[1] : "8080";
  const bool testing = arg == "--self-test";
  const int port = testing ? 0 : posix::parse_port(arg);
  if (port < 0) {
    std::fprintf(stderr, "%s: invalid port \"%s\" (usage: %s [port | --self-test])\n", name,
                 arg.c_str(), name);
    return 2;
  }
  try {
    posix::socket ln = posix::listen(port);
    if (testing) {
      std::thread server(serve_forever, std::cref(ln));
      self_test([&] { return posix::dial_loopback(posix::port(ln)); });
      ln.shutdown();
      server.join();
      return 0;
    }
    std::printf("Server listening on [::]:%d\n", posix::port(ln));
    std::fflush(stdout);
    serve_forever(ln);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
  return 0;
}

}  // namespace http
