// echo_server — a TCP echo server, one goroutine per connection:
//
//   func main() {
//       ln, err := net.Listen("tcp", ":7000")
//       if err != nil { log.Fatal(err) }
//       for {
//           c, err := ln.Accept()
//           if err != nil { log.Fatal(err) }
//           go func(c net.Conn) {
//               defer c.Close()
//               io.Copy(c, c)
//           }(c)
//       }
//   }
//
// Usage: echo_server [port] (default 7000); try it with `nc localhost 7000`. With --self-test it
// listens on a free port, runs 100 client goroutines against itself, prints what they saw and
// exits.
#include <goro/goro.hpp>
#include <goro/net.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <string>
#include <system_error>

// echo: copies what the client sends back to it until the client closes (io.Copy(c, c)).
void echo(goro::net::conn c) {
  std::array<std::byte, 16384> buf;
  try {
    while (std::size_t n = c.read(buf)) c.write(std::span(buf).first(n));
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
  }
}

void serve(goro::net::listener& ln) {
  for (;;) {
    try {
      goro::go(echo, ln.accept());
    } catch (const goro::net::closed_error&) {
      return;
    }
  }
}

// self_test: 100 clients each send a line and check the echo.
int self_test() {
  return goro::run([] {
    goro::net::listener ln = goro::net::listen("127.0.0.1:0");
    goro::go([&] { serve(ln); });
    std::atomic<int> echoed{0};
    goro::wait_group wg;
    for (int i = 0; i < 100; ++i) {
      wg.add(1);
      goro::go([&, i] {
        goro::net::conn c = goro::net::dial(ln.address());
        const std::string line = "hello from client " + std::to_string(i) + "\n";
        c.write(line);
        std::string back(line.size(), '\0');
        for (std::size_t got = 0; got < back.size();) {
          const std::size_t n = c.read(std::span(back).subspan(got));
          if (n == 0) break;
          got += n;
        }
        if (back == line) echoed.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
    ln.close();
    std::printf("%d of 100 clients got their line back\n", echoed.load());
    return echoed.load() == 100 ? 0 : 1;
  });
}

int main(int argc, char** argv) {
  const std::string arg = argc > 1 ? argv[1] : "7000";
  if (arg == "--self-test") return self_test();
  goro::run([&] {
    goro::net::listener ln = goro::net::listen(":" + arg);
    std::printf("echo server listening on %s\n", ln.address().c_str());
    std::fflush(stdout);
    serve(ln);
  });
}
