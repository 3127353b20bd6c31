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
// serves a free port, runs 100 client goroutines against itself, prints what they saw and exits.
#include <goro/goro.hpp>
#include <goro/net.hpp>

#include <array>
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

// client: sends a line and reads it back; true if it came back whole.
bool client(const std::string& address, int i) {
  goro::net::conn c = goro::net::dial(address);
  const std::string line = "hello from client " + std::to_string(i) + "\n";
  c.write(line);
  std::string back(line.size(), '\0');
  for (std::size_t got = 0, n = 1; n > 0 && got < back.size(); got += n) {
    n = c.read(std::span(back).subspan(got));  // 0: the server closed the connection
  }
  return back == line;
}

// serve: a goroutine per connection, until the listener is closed.
void serve(goro::net::listener& ln) {
  try {
    for (;;) goro::go(echo, ln.accept());
  } catch (const goro::net::closed_error&) {  // closed by the self-test
  }
}

// self_test: 100 client goroutines against a server on a free port.
void self_test() {
  goro::net::listener ln = goro::net::listen(":0");
  goro::go([&] { serve(ln); });
  const std::string address = "127.0.0.1" + ln.address().substr(ln.address().rfind(':'));
  goro::chan<bool> results;
  for (int i = 0; i < 100; ++i) goro::go([=] { results.send(client(address, i)); });
  int echoed = 0;
  for (int i = 0; i < 100; ++i) echoed += *results.recv();
  ln.close();
  std::printf("%d of 100 clients got their line back\n", echoed);
}

int main(int argc, char** argv) {
  const std::string arg = argc > 1 ? argv[1] : "7000";
  try {
    goro::run([&] {
      if (arg == "--self-test") return self_test();
      goro::net::listener ln = goro::net::listen(":" + arg);
      std::printf("echo server listening on %s\n", ln.address().c_str());
      std::fflush(stdout);
      serve(ln);
    });
  } catch (const std::system_error& e) {  // Go: if err != nil { log.Fatal(err) }
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
