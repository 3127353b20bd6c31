// udp_echo — a UDP echo server: one goroutine answers every client, datagram by datagram:
//
//   func main() {
//       pc, err := net.ListenPacket("udp", ":9000")
//       if err != nil { log.Fatal(err) }
//       buf := make([]byte, 65536)
//       for {
//           n, addr, err := pc.ReadFrom(buf)
//           if err != nil { log.Fatal(err) }
//           pc.WriteTo(buf[:n], addr)
//       }
//   }
//
// Usage: udp_echo [port] (default 9000); try it with `nc -u localhost 9000`. With --self-test it
// serves a free port, runs 10 client goroutines that each send 10 numbered datagrams (waiting
// for each echo before the next, as datagrams carry no flow control), prints what they saw and
// exits.
#include <goro/goro.hpp>
#include <goro/net.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

using namespace std::chrono_literals;

// serve: sends every datagram back to its sender, until the socket is closed.
void serve(goro::net::packet_conn& pc) {
  std::array<std::byte, 65536> buf;
  try {
    for (;;) {
      auto [n, from] = pc.read_from(buf);
      pc.write_to(std::span(buf).first(n), from);
    }
  } catch (const goro::net::closed_error&) {  // closed by the self-test
  }
}

// client: sends 10 datagrams, each after the echo of the one before; the count echoed intact.
int client(const std::string& address, int id) {
  goro::net::conn c = goro::net::dial("udp", address);
  c.set_read_deadline(std::chrono::steady_clock::now() + 10s);  // a lost datagram is no hang
  int echoed = 0;
  std::array<char, 64> buf;
  try {
    for (int i = 0; i < 10; ++i) {
      const std::string message = "client " + std::to_string(id) + " datagram " + std::to_string(i);
      c.write(message);
      echoed += std::string(buf.data(), c.read(std::span(buf))) == message;
    }
  } catch (const goro::net::timeout_error& e) {
    std::fprintf(stderr, "udp_echo: %s\n", e.what());
  }
  return echoed;
}

// self_test: 10 client goroutines against a server on a free port.
void self_test() {
  goro::net::packet_conn pc = goro::net::listen_packet("udp", "127.0.0.1:0");
  goro::wait_group served;
  served.add(1);
  goro::go([&] {
    serve(pc);
    served.done();
  });
  goro::chan<int> results;
  for (int id = 0; id < 10; ++id) {
    goro::go([=, address = pc.local_address()] { results.send(client(address, id)); });
  }
  int echoed = 0;
  for (int id = 0; id < 10; ++id) echoed += *results.recv();
  pc.close();
  served.wait();
  std::printf("%d of 100 datagrams came back\n", echoed);
}

int main(int argc, char** argv) {
  const std::string arg = argc > 1 ? argv[1] : "9000";
  try {
    goro::run([&] {
      if (arg == "--self-test") return self_test();
      goro::net::packet_conn pc = goro::net::listen_packet("udp", ":" + arg);
      std::printf("udp echo server on %s\n", pc.local_address().c_str());
      std::fflush(stdout);
      serve(pc);
    });
  } catch (const std::system_error& e) {  // Go: if err != nil { log.Fatal(err) }
    std::fprintf(stderr, "udp_echo: %s\n", e.what());
    return 1;
  }
}
