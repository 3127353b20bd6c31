// Micro-benchmarks of <goro/net.hpp> over loopback (docs/benchmarks.md, "Micro-benchmarks"): a
// 64-byte ping-pong between two goroutines, one round trip per iteration, on 1 and 2 workers
// (/1, /2), in each kind of socket goro has:
//   tcp_round_trip      a TCP conn (dial and accept)
//   unix_round_trip     a Unix-domain stream (listen("unix", ...))
//   udp_round_trip      UDP: a dialled "udp" conn against a packet_conn that answers with
//                       read_from and write_to (the address resolved at each write_to)
// Go's package net on the same loops: benchmarks/peers/go-net.
#include <goro/net.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>

#include <unistd.h>

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include <benchmark/benchmark.h>

namespace {

constexpr std::size_t message_size = 64;

// ping_pong: the client side of the loop: write a message, read the answer whole.
void ping_pong(benchmark::State& state, goro::net::conn& c) {
  std::array<std::byte, message_size> out{};
  std::array<std::byte, message_size> in{};
  for (auto _ : state) {
    c.write(out);
    for (std::size_t got = 0; got < in.size();) got += c.read(std::span(in).subspan(got));
  }
}

// workers: the benchmark's argument, the number of workers.
goro::options workers(const benchmark::State& state) {
  return goro::options{.workers = static_cast<unsigned>(state.range(0))};
}

// stream_round_trip: ping_pong against a goroutine that echoes an accepted stream conn.
void stream_round_trip(benchmark::State& state, const char* network, const std::string& address) {
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen(network, address);
        goro::wait_group echoed;
        echoed.add(1);
        goro::go([&] {
          goro::net::conn s = ln.accept();
          std::array<std::byte, message_size> buf;
          while (std::size_t n = s.read(buf)) s.write(std::span(buf).first(n));
          echoed.done();
        });
        goro::net::conn c = goro::net::dial(network, ln.address());
        ping_pong(state, c);
        c.close_write();
        echoed.wait();
      },
      workers(state));
}

void tcp_round_trip(benchmark::State& state) {
  stream_round_trip(state, "tcp", "127.0.0.1:0");
}
BENCHMARK(tcp_round_trip)->Arg(1)->Arg(2)->UseRealTime();

void unix_round_trip(benchmark::State& state) {
  stream_round_trip(state, "unix", "@goro-net-bench-" + std::to_string(::getpid()));
}
BENCHMARK(unix_round_trip)->Arg(1)->Arg(2)->UseRealTime();

void udp_round_trip(benchmark::State& state) {
  goro::run(
      [&] {
        goro::net::packet_conn server = goro::net::listen_packet("udp", "127.0.0.1:0");
        goro::wait_group echoed;
        echoed.add(1);
        goro::go([&] {
          std::array<std::byte, message_size> buf;
          try {
            for (;;) {
              auto [n, from] = server.read_from(buf);
              server.write_to(std::span(buf).first(n), from);
            }
          } catch (const goro::net::closed_error&) {
          }
          echoed.done();
        });
        goro::net::conn c = goro::net::dial("udp", server.local_address());
        ping_pong(state, c);
        server.close();
        echoed.wait();
      },
      workers(state));
}
BENCHMARK(udp_round_trip)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
