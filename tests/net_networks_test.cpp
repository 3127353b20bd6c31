// Tests of <goro/net.hpp> beyond TCP: Go's other networks. Unix-domain streams ("unix"), UDP
// and Unix-domain datagrams (listen_packet, read_from, write_to, and dial of "udp" and
// "unixgram"), the networks of one IP version ("tcp4", "tcp6", "udp4", "udp6"), and half-closed
// connections (close_write, close_read). Ports of Go's net tests are tagged [go].
//
// Catch2 is not thread-safe: goroutines and helper threads only record into atomics or vectors
// under a mutex, and the test's own thread checks after goro::run returns. Every blocking call
// that could hang if the feature broke has a deadline.
#include <goro/goro.hpp>
#include <goro/net.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "net_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr goro::options two_workers{.workers = 2};

// socket_path: a path for a Unix-domain socket named `name` in a directory of this process's
// own (made once, under TMPDIR or /tmp); no file is there yet.
std::string socket_path(const std::string& name) {
  static const std::string directory = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != 0 ? tmp : "/tmp") + "/goro-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::generic_category());
    return pattern;
  }();
  const std::string path = directory + "/" + name;
  ::unlink(path.c_str());
  return path;
}

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// error_of: the code and message of the std::system_error `fn` throws ({} if none).
struct thrown {
  std::error_code code;
  std::string what;
};
template <class Fn>
thrown error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return {e.code(), e.what()};
  }
  return {};
}

// refusal: a call that must throw std::system_error(invalid_argument) whose message is
// `expected` followed by the code's own text.
struct refusal {
  std::string expected;
  std::function<void()> call;
};

// check_refusals: each call throws its message, and no descriptor is left open.
void check_refusals(const std::vector<refusal>& refusals) {
  const int fds = goro_test::open_fds();
  for (const refusal& r : refusals) {
    const thrown e = error_of(r.call);
    CHECK(e.code == std::errc::invalid_argument);
    CHECK(e.what == r.expected + ": Invalid argument");
  }
  CHECK(goro_test::open_fds() == fds);
}

std::string text(std::span<const char> bytes, std::size_t n) {
  return std::string(bytes.data(), n);
}

}  // namespace

// --- Unix-domain streams ---------------------------------------------------------------------

TEST_CASE("unix: 200 client goroutines echo through a Unix-domain socket on 2 workers",
          "[net][unix]") {
  const std::string path = socket_path("echo.sock");
  constexpr int clients = static_cast<int>(goro_test::scaled(200, 4));
  std::atomic<int> echoed{0};
  std::atomic<int> wrong{0};
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("unix", path);
        goro::wait_group served;
        served.add(1);
        goro::go([&] {
          goro_test::echo_server(ln);
          served.done();
        });
        goro::wait_group done;
        for (int i = 0; i < clients; ++i) {
          done.add(1);
          goro::go([&, i] {
            try {
              goro::net::conn c = goro::net::dial("unix", path);
              c.set_deadline(clock_type::now() + 60s);
              const std::string message = "message " + std::to_string(i);
              std::string got;
              std::array<char, 64> buf;
              for (int round = 0; round < 10; ++round) {
                c.write(message);
                got.clear();
                while (got.size() < message.size()) got.append(buf.data(), c.read(std::span(buf)));
                if (got == message) echoed.fetch_add(1);
              }
            } catch (const std::system_error&) {
              wrong.fetch_add(1);
            }
            done.done();
          });
        }
        done.wait();
        ln.close();
        served.wait();
      },
      two_workers);
  CHECK(wrong.load() == 0);
  CHECK(echoed.load() == clients * 10);
  CHECK_FALSE(file_exists(path));  // the listener's close removed its file
}

// Go's TestUnixConnLocalAndRemoteNames: the dialled end is unnamed, the accepted end has the
// listener's path; both outlive close.
TEST_CASE("unix: a listener, a dialled and an accepted conn name their paths", "[net][unix][go]") {
  const std::string path = socket_path("names.sock");
  std::string listened, dialled_local, dialled_remote, accepted_local, accepted_remote;
  std::string after_close;
  goro::run([&] {
    goro::net::listener ln = goro::net::listen("unix", path);
    listened = ln.address();
    goro::net::conn client = goro::net::dial("unix", path);
    goro::net::conn server = ln.accept();
    dialled_local = client.local_address();
    dialled_remote = client.remote_address();
    accepted_local = server.local_address();
    accepted_remote = server.remote_address();
    client.close();
    after_close = client.remote_address();
  });
  CHECK(listened == path);
  CHECK(dialled_local.empty());
  CHECK(dialled_remote == path);
  CHECK(accepted_local == path);
  CHECK(accepted_remote.empty());
  CHECK(after_close == path);
}

// Go's TestUnixUnlink: the listener's first close removes the file it made; a second close does
// not remove a file made at that path since.
TEST_CASE("unix: a listener's first close removes its socket file, a second close nothing",
          "[net][unix][go]") {
  const std::string path = socket_path("unlink.sock");
  {
    goro::net::listener ln = goro::net::listen("unix", path);
    CHECK(file_exists(path));
    ln.close();
    CHECK_FALSE(file_exists(path));
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("hello world", f);
    std::fclose(f);
    ln.close();
    CHECK(file_exists(path));  // not the listener's file: left alone
  }                            // nor does the destructor remove it
  CHECK(file_exists(path));
  ::unlink(path.c_str());
  {
    goro::net::listener ln = goro::net::listen("unix", path);
    CHECK(file_exists(path));
  }  // the destructor closes, and so removes
  CHECK_FALSE(file_exists(path));
}

TEST_CASE("unix: listening on an existing file throws address in use and leaves the file",
          "[net][unix]") {
  const std::string path = socket_path("busy.sock");
  goro::net::listener first = goro::net::listen("unix", path);
  const int fds = goro_test::open_fds();
  const thrown e = error_of([&] { goro::net::listen("unix", path); });
  CHECK(e.code == std::errc::address_in_use);
  CHECK(e.what == "goro::net::listen unix " + path + ": Address already in use");
  CHECK(goro_test::open_fds() == fds);
  CHECK(file_exists(path));  // the failed listen removed nothing
  // The first listener still works.
  std::string got;
  goro::run([&] {
    goro::net::conn c = goro::net::dial("unix", path);
    goro::net::conn s = first.accept();
    c.write("still here");
    std::array<char, 32> buf;
    got = text(buf, s.read(std::span(buf)));
  });
  CHECK(got == "still here");
}

TEST_CASE("unix: dialling a path nobody listens on throws, naming the path", "[net][unix]") {
  const std::string missing = socket_path("missing.sock");
  thrown e = error_of([&] { goro::net::dial("unix", missing); });
  CHECK(e.code == std::errc::no_such_file_or_directory);
  CHECK(e.what == "goro::net::dial unix " + missing + ": No such file or directory");
  // A file that is not a socket: connection refused.
  std::FILE* f = std::fopen(missing.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fclose(f);
  goro::run([&] { e = error_of([&] { goro::net::dial("unix", missing); }); });
  CHECK(e.code == std::errc::connection_refused);
  ::unlink(missing.c_str());
}

TEST_CASE("unix: a name in the abstract namespace makes no file and prints with '@'",
          "[net][unix]") {
  const std::string name = "@goro-test-" + std::to_string(::getpid());
  std::string listened, dialled_remote, got;
  bool made_a_file = true;
  goro::run([&] {
    goro::net::listener ln = goro::net::listen("unix", name);
    made_a_file = file_exists(name);
    listened = ln.address();
    goro::net::conn c = goro::net::dial("unix", name);
    goro::net::conn s = ln.accept();
    dialled_remote = c.remote_address();
    s.write("abstract");
    std::array<char, 32> buf;
    got = text(buf, c.read(std::span(buf)));
  });
  CHECK_FALSE(made_a_file);
  CHECK(listened == name);
  CHECK(dialled_remote == name);
  CHECK(got == "abstract");
  // Closed, the name is free again (there was no file to remove).
  goro::net::listener again = goro::net::listen("unix", name);
  CHECK(again.address() == name);
}

// Linux's abstract names are bytes: another program may bind one with a NUL in it. goro gives
// the name as it is, as Go does, and its error messages show the NUL escaped.
TEST_CASE("unix: a peer's abstract name with a NUL is given whole, and messages escape it",
          "[net][unix]") {
  const std::string listened = "@goro-test-listener-" + std::to_string(::getpid());
  const std::string peer_name = "goro-test-peer-" + std::to_string(::getpid()) + '\0' + "tail";
  std::string remote, what;
  bool timed_out = false;
  goro::run([&] {
    goro::net::listener ln = goro::net::listen("unix", listened);
    const int raw = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(raw >= 0);
    sockaddr_un at{};
    at.sun_family = AF_UNIX;
    std::memcpy(at.sun_path + 1, peer_name.data(), peer_name.size());  // sun_path[0]: abstract
    const auto at_length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + peer_name.size());
    REQUIRE(::bind(raw, reinterpret_cast<const sockaddr*>(&at), at_length) == 0);
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::memcpy(to.sun_path + 1, listened.data() + 1, listened.size() - 1);
    const auto to_length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + listened.size());
    REQUIRE(::connect(raw, reinterpret_cast<const sockaddr*>(&to), to_length) == 0);
    goro::net::conn c = ln.accept();
    remote = c.remote_address();
    c.set_read_deadline(std::chrono::steady_clock::now());
    std::array<char, 8> buf;
    try {
      (void)c.read(std::span(buf));
    } catch (const goro::net::timeout_error& e) {
      timed_out = true;
      what = e.what();
    }
    ::close(raw);
  });
  CHECK(remote == "@" + peer_name);
  REQUIRE(timed_out);
  CHECK_THAT(what, Catch::Contains(listened + "->@goro-test-peer-" + std::to_string(::getpid()) +
                                   "\\x00tail"));
}

TEST_CASE("unix: an empty path, one too long and one with a NUL are refused as invalid",
          "[net][unix][address]") {
  const std::string too_long(108, 'x');
  const std::string longest = socket_path(std::string(107 - socket_path("").size(), 'y'));
  for (const std::string& bad : {std::string(), too_long, std::string("a\0b", 3)}) {
    for (int op = 0; op < 4; ++op) {
      const thrown e = error_of([&] {
        if (op == 0) goro::net::listen("unix", bad);
        if (op == 1) goro::net::dial("unix", bad);
        if (op == 2) goro::net::listen_packet("unixgram", bad);
        if (op == 3) goro::net::listen_packet("unixgram", "@x").write_to("", bad);
      });
      CHECK(e.code == std::errc::invalid_argument);
      CHECK_THAT(e.what, Catch::Contains("invalid address"));
    }
  }
  // 107 bytes is the most a path may have.
  REQUIRE(longest.size() == 107);
  goro::net::listener ln = goro::net::listen("unix", longest);
  CHECK(ln.address() == longest);
}

// --- unixpacket: connections that keep message boundaries (SOCK_SEQPACKET) ------------------

// A "unixpacket" conn is a Unix-domain connection, listened for, dialled and accepted like
// "unix", whose writes are messages: each read takes one, as much of it as fits. As in Go, an
// empty buffer returns 0 at once and takes nothing, and an empty message reads as 0 (which is
// also how end of stream reads).
TEST_CASE("unixpacket: each write is one message, which one read takes", "[net][unix]") {
  const std::string path = socket_path("packet.sock");
  std::vector<std::string> got;
  std::size_t empty_buffer_read = 99, empty_message_read = 99;
  std::string listened, dialled_remote, accepted_local;
  thrown too_large;
  bool file_while_listening = false;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("unixpacket", path);
        file_while_listening = file_exists(path);
        listened = ln.address();
        goro::net::conn c = goro::net::dial("unixpacket", path);
        goro::net::conn s = ln.accept();
        dialled_remote = c.remote_address();
        accepted_local = s.local_address();
        s.set_deadline(clock_type::now() + 30s);
        std::array<char, 4> b;
        for (const std::string message : {"a", "bc", "xxxxxxxxxx", "d"}) c.write(message);
        for (int i = 0; i < 4; ++i) got.push_back(text(b, s.read(std::span(b))));
        empty_buffer_read = s.read(std::span(b).first(0));  // takes nothing
        c.write("e");
        got.push_back(text(b, s.read(std::span(b))));
        c.write("");
        empty_message_read = s.read(std::span(b));
        const std::string huge(4 << 20, 'h');  // more than a socket's send buffer
        too_large = error_of([&] { c.write(huge); });
        c.write("f");
        got.push_back(text(b, s.read(std::span(b))));
      },
      two_workers);
  CHECK(file_while_listening);
  CHECK_FALSE(file_exists(path));  // the listener's close removed it
  CHECK(listened == path);
  CHECK(dialled_remote == path);
  CHECK(accepted_local == path);
  CHECK(got == std::vector<std::string>{"a", "bc", "xxxx", "d", "e", "f"});
  CHECK(empty_buffer_read == 0);
  CHECK(empty_message_read == 0);
  CHECK(too_large.code == std::errc::message_size);
  CHECK_THAT(too_large.what, Catch::StartsWith("goro::net::write unixpacket "));
}

// Messages written at once by goroutines on two workers and by plain threads arrive whole, none
// lost or duplicated, each writer's in its order.
TEST_CASE("unixpacket stress: concurrent writers' messages arrive whole, each writer's in order",
          "[net][unix][stress]") {
  constexpr int writers = 6;  // 4 goroutines, 2 plain threads
  constexpr int per_writer = 500;
  const std::string path = socket_path("packet-stress.sock");
  std::array<int, writers> next{};
  int malformed = 0, out_of_order = 0, received = 0;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("unixpacket", path);
        goro::net::conn c = goro::net::dial("unixpacket", path);
        goro::net::conn s = ln.accept();
        s.set_deadline(clock_type::now() + 60s);
        auto write_all = [&c](int writer) {
          for (int i = 0; i < per_writer; ++i) {
            // A message of writer and number, padded to a length that varies with both.
            std::string message = std::to_string(writer) + ":" + std::to_string(i) + ":";
            message.append(static_cast<std::size_t>((writer * 37 + i * 11) % 300), '.');
            c.write(message);
          }
        };
        goro::wait_group written;
        written.add(4);
        for (int w = 0; w < 4; ++w) {
          goro::go([&, w] {
            write_all(w);
            written.done();
          });
        }
        std::thread first([&] { write_all(4); });
        std::thread second([&] { write_all(5); });
        std::array<char, 512> b;
        for (; received < writers * per_writer; ++received) {
          const std::string message = text(b, s.read(std::span(b)));
          int writer = -1, number = -1;
          if (std::sscanf(message.c_str(), "%d:%d:", &writer, &number) != 2 || writer < 0 ||
              writer >= writers) {
            ++malformed;
            continue;
          }
          const std::size_t header = message.find(':', message.find(':') + 1) + 1;
          const auto padding = static_cast<std::size_t>((writer * 37 + number * 11) % 300);
          if (message.size() != header + padding) ++malformed;
          if (number != next[static_cast<std::size_t>(writer)]) ++out_of_order;
          next[static_cast<std::size_t>(writer)] = number + 1;
        }
        first.join();
        second.join();
        written.wait();
      },
      two_workers);
  CHECK(received == writers * per_writer);
  CHECK(malformed == 0);
  CHECK(out_of_order == 0);
  for (const int n : next) CHECK(n == per_writer);
}

// --- Networks by name ------------------------------------------------------------------------

TEST_CASE("an unknown network, or one of the wrong kind, is refused as invalid, naming it",
          "[net][address]") {
  check_refusals({
      {"goro::net::listen udp: unknown network \"udp\"", [] { goro::net::listen("udp", ":0"); }},
      {"goro::net::listen ip: unknown network \"ip\"", [] { goro::net::listen("ip", ":0"); }},
      {"goro::net::listen TCP: unknown network \"TCP\"", [] { goro::net::listen("TCP", ":0"); }},
      {"goro::net::listen_packet tcp: unknown network \"tcp\"",
       [] { goro::net::listen_packet("tcp", ":0"); }},
      {"goro::net::listen_packet unix: unknown network \"unix\"",
       [] { goro::net::listen_packet("unix", "/x"); }},
      {"goro::net::dial ip4: unknown network \"ip4\"", [] { goro::net::dial("ip4", "/x"); }},
      {"goro::net::listen_packet unixpacket: unknown network \"unixpacket\"",
       [] { goro::net::listen_packet("unixpacket", "/x"); }},
      {"goro::net::listen unixgram: unknown network \"unixgram\"",
       [] { goro::net::listen("unixgram", "/x"); }},
      {"goro::net::dial : unknown network \"\"", [] { goro::net::dial("", "127.0.0.1:1"); }},
      {"goro::net::dial sctp: unknown network \"sctp\"",
       [] { goro::net::dial(goro::background(), "sctp", "127.0.0.1:1"); }},
  });
}

// The resolver and the services database read C strings, so an address with a NUL was looked up
// as its part before the NUL: "127.0.0.1\0junk:PORT" dialled 127.0.0.1:PORT. Such an address is
// malformed in every network. Messages show control bytes escaped, as Go's %q does: a raw NUL
// would end what() there.
TEST_CASE("an address with a NUL is refused whole, and messages show control bytes escaped",
          "[net][address]") {
  using namespace std::string_literals;
  goro::run([] {
    goro::net::listener ln = goro::net::listen("tcp", "127.0.0.1:0");
    const std::string port = ln.address().substr(ln.address().rfind(':') + 1);
    const std::string nul_host = "127.0.0.1\0junk:"s + port;
    const std::string nul_name = "localhost\0junk:"s + port;
    const std::string nul_port = "127.0.0.1:"s + port + "\0"s;
    const std::string nul_service = "127.0.0.1:http\0x"s;
    const std::string escaped_port = "127.0.0.1:" + port;
    check_refusals({
        {"goro::net::dial: invalid address \"127.0.0.1\\x00junk:" + port + "\": NUL in address",
         [&] { goro::net::dial(nul_host); }},
        {"goro::net::dial: invalid address \"localhost\\x00junk:" + port + "\": NUL in address",
         [&] { goro::net::dial("tcp4", nul_name); }},
        {"goro::net::dial: invalid address \"" + escaped_port + "\\x00\": NUL in address",
         [&] { goro::net::dial(goro::background(), "tcp", nul_port); }},
        {"goro::net::dial: invalid address \"127.0.0.1:http\\x00x\": NUL in address",
         [&] { goro::net::dial("udp", nul_service); }},
        {"goro::net::listen: invalid address \"127.0.0.1\\x00junk:" + port + "\": NUL in address",
         [&] { goro::net::listen("tcp", nul_host); }},
        {"goro::net::listen_packet: invalid address \"127.0.0.1:http\\x00x\": NUL in address",
         [&] { goro::net::listen_packet("udp", nul_service); }},
        {"goro::net::write_to: invalid address \"127.0.0.1\\x00junk:" + port + "\": NUL in address",
         [&] { goro::net::listen_packet("udp", "127.0.0.1:0").write_to("x", nul_host); }},
        {"goro::net::dial: invalid address \"a\\x00b\": NUL in path",
         [] { goro::net::dial("unix", "a\0b"s); }},
        {"goro::net::listen tcp\\x00: unknown network \"tcp\\x00\"",
         [] { goro::net::listen("tcp\0"s, ":0"); }},
        {"goro::net::dial: invalid address \"a\\\"b\\\\c\\n\\t\\x7f\\x1b\": missing port in "
         "address",
         [] { goro::net::dial("a\"b\\c\n\t\x7f\x1b"); }},
    });
    // Nothing reached the listener: a conn it accepted would be waiting.
    goro::net::conn probe = goro::net::dial("tcp", ln.address());
    goro::net::conn first = ln.accept();
    CHECK(first.remote_address() == probe.local_address());
  });
}

// What a fuzzer checked of the address parsers (docs/reliability.md, the fourteenth audit), kept
// as a test: strings drawn from the bytes of the address syntax, a NUL and other control bytes
// among them, are either parsed or refused as invalid_argument naming the address; nothing with
// a NUL passes; a Unix-domain address prints back as its text; a quoted string holds no control
// byte.
TEST_CASE("address parsing: random strings of the syntax's bytes are parsed or refused cleanly",
          "[net][address]") {
  using namespace std::string_view_literals;
  constexpr std::string_view alphabet = "[]:%@.0123456789abcdefx:ff::/\0\n\t\x7f\x01\"\\+- "sv;
  const std::string seeds[] = {"127.0.0.1:80",    "[::1]:443", "[fe80::1%lo]:0", ":8080",
                               "10.0.0.1:+65535", "[::]:",     "@abstract",      "/tmp/socket"};
  std::mt19937_64 random(20261207);
  std::size_t parsed = 0, ip = 0, refused = 0, unix_parsed = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::string text;
    if (i % 2 == 0) {  // random bytes of the syntax
      text.resize(random() % 24);
      for (char& c : text) c = alphabet[random() % alphabet.size()];
    } else {  // a well-formed address with up to three bytes replaced, inserted or removed
      text = seeds[random() % std::size(seeds)];
      for (auto edits = random() % 4; edits > 0 && !text.empty(); --edits) {
        const std::size_t at = random() % text.size();
        const char c = alphabet[random() % alphabet.size()];
        switch (random() % 3) {
          case 0: text[at] = c; break;
          case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
          default: text.erase(at, 1); break;
        }
      }
    }
    const std::string shown = goro::detail::quoted(text);
    const bool clean = std::none_of(shown.begin(), shown.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (!clean) FAIL("quoted() kept a control byte of " << shown);
    try {
      const auto parts = goro::detail::split_host_port(text, "op");
      ++parsed;
      if (text.find('\0') != std::string::npos) FAIL("accepted with a NUL: " << shown);
      if (parts.port.find_first_of("[]") != std::string_view::npos) FAIL("bracket: " << shown);
      goro::detail::socket_address address;
      if (goro::detail::parse_ip(std::string(parts.host), 80, address)) {
        ++ip;
        if (address.to_string().empty()) FAIL("an IP that prints as nothing: " << shown);
      }
    } catch (const std::system_error& e) {
      ++refused;
      if (e.code() != std::errc::invalid_argument) FAIL(shown << ": " << e.what());
      if (std::string_view(e.what()).find("op: invalid address " + shown) != 0) {
        FAIL(shown << ": " << e.what());
      }
    }
    try {
      const goro::detail::socket_address path = goro::detail::unix_address(text, "op");
      ++unix_parsed;
      if (path.to_string() != text) FAIL("unix address " << shown << " printed differently");
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::invalid_argument) FAIL(shown << ": " << e.what());
    }
  }
  // Each outcome happened often enough for the checks above to mean something.
  CHECK(parsed > 1'000);
  CHECK(ip > 100);
  CHECK(refused > 1'000);
  CHECK(unix_parsed > 1'000);
}

TEST_CASE("tcp4 and tcp6 listen and dial on their IP version alone", "[net][ipv6]") {
  std::string v4_address, v6_address;
  bool v4_served = false;
  thrown v4_to_v6, v6_to_v4, refused;
  goro::run([&] {
    goro::net::listener v4 = goro::net::listen("tcp4", ":0");
    goro::net::listener v6 = goro::net::listen("tcp6", ":0");
    v4_address = v4.address();
    v6_address = v6.address();
    const std::string v4_port = v4_address.substr(v4_address.rfind(':'));
    const std::string v6_port = v6_address.substr(v6_address.rfind(':'));
    // "tcp4" with no host dials 127.0.0.1.
    goro::net::conn c = goro::net::dial("tcp4", v4_port);
    v4_served = c.remote_address() == "127.0.0.1" + v4_port;
    // An address of the other version is no suitable address.
    v4_to_v6 = error_of([&] { goro::net::dial("tcp4", "[::1]" + v6_port); });
    v6_to_v4 = error_of([&] { goro::net::dial("tcp6", "127.0.0.1" + v4_port); });
    // "tcp6"'s [::] is IPv6 alone: IPv4 clients are refused.
    refused = error_of([&] { goro::net::dial("tcp", "127.0.0.1" + v6_port); });
    goro::net::conn over_v6 = goro::net::dial("tcp6", v6_port);  // [::1]
    CHECK(over_v6.remote_address() == "[::1]" + v6_port);
  });
  CHECK_THAT(v4_address, Catch::StartsWith("0.0.0.0:"));
  CHECK_THAT(v6_address, Catch::StartsWith("[::]:"));
  CHECK(v4_served);
  CHECK(v4_to_v6.code == std::errc::invalid_argument);
  CHECK(v4_to_v6.what == "goro::net::dial: invalid address \"[::1]" +
                             v6_address.substr(v6_address.rfind(':')) +
                             "\": no suitable address found: Invalid argument");
  CHECK(v6_to_v4.code == std::errc::invalid_argument);
  CHECK(refused.code == std::errc::connection_refused);
}

TEST_CASE("listen(\"tcp\", ...) and dial(\"tcp\", ...) are listen and dial", "[net]") {
  std::string got;
  goro::run([&] {
    goro::net::listener ln = goro::net::listen("tcp", "127.0.0.1:0");
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 30s);
    goro::net::conn c = goro::net::dial(ctx, "tcp", ln.address());
    goro::net::conn s = ln.accept();
    c.write("tcp");
    std::array<char, 8> buf;
    got = text(buf, s.read(std::span(buf)));
    cancel();
  });
  CHECK(got == "tcp");
}

// --- Half-closed connections -----------------------------------------------------------------

// Go's TestCloseWrite, for "tcp", "unix" and "unixpacket": each end shuts down writing, reads
// end of stream, and then fails to write.
TEST_CASE("close_write: the peer reads end of stream, and this end can still read", "[net][go]") {
  for (const std::string network : {"tcp", "unix", "unixpacket"}) {
    const std::string address = network == "tcp" ? "127.0.0.1:0" : socket_path("half.sock");
    std::size_t server_read = 99, client_read = 99;
    thrown server_write, client_write;
    std::string reply;
    goro::run(
        [&] {
          goro::net::listener ln = goro::net::listen(network, address);
          goro::wait_group served;
          served.add(1);
          goro::go([&] {
            goro::net::conn c = ln.accept();
            c.set_deadline(clock_type::now() + 30s);
            std::array<char, 1> b;
            server_read = c.read(std::span(b));
            c.write("bye");  // the client shut down writing only: it still reads
            c.close_write();
            server_write = error_of([&] { c.write("x"); });
            served.done();
          });
          goro::net::conn c = goro::net::dial(network, ln.address());
          c.set_deadline(clock_type::now() + 30s);
          c.close_write();
          std::array<char, 8> b;
          std::size_t n = 0;
          while ((n = c.read(std::span(b))) != 0) reply.append(b.data(), n);
          client_read = n;
          client_write = error_of([&] { c.write("x"); });
          served.wait();
        },
        two_workers);
    INFO(network);
    CHECK(server_read == 0);
    CHECK(client_read == 0);
    CHECK(reply == "bye");
    CHECK(server_write.code == std::errc::broken_pipe);
    CHECK(client_write.code == std::errc::broken_pipe);
    CHECK_THAT(client_write.what, Catch::StartsWith("goro::net::write " + network + " "));
    CHECK_THAT(server_write.what, Catch::StartsWith("goro::net::write " + network + " "));
  }
}

// Go's TestCloseRead, for the same networks: a read after close_read returns end of stream; so does
// one blocked when another goroutine shuts reading down. Writing goes on.
TEST_CASE("close_read: reads, a blocked one included, return 0 while writing goes on",
          "[net][go]") {
  for (const std::string network : {"tcp", "unix", "unixpacket"}) {
    const std::string address = network == "tcp" ? "127.0.0.1:0" : socket_path("half-read.sock");
    std::size_t blocked_read = 99, later_read = 99;
    std::string peer_got;
    goro::run(
        [&] {
          goro::net::listener ln = goro::net::listen(network, address);
          goro::net::conn c = goro::net::dial(network, ln.address());
          goro::net::conn s = ln.accept();
          c.set_deadline(clock_type::now() + 30s);
          s.set_deadline(clock_type::now() + 30s);
          goro::wait_group reading;
          reading.add(1);
          goro::go([&] {
            std::array<char, 8> b;
            blocked_read = c.read(std::span(b));
            reading.done();
          });
          goro::sleep_for(20ms);  // let the read block (either way, it must return 0)
          c.close_read();
          reading.wait();
          std::array<char, 8> b;
          later_read = c.read(std::span(b));
          c.write("go on");
          c.close_write();
          peer_got = text(b, s.read(std::span(b)));
        },
        two_workers);
    INFO(network);
    CHECK(blocked_read == 0);
    CHECK(later_read == 0);
    CHECK(peer_got == "go on");
  }
}

// A datagram socket's recv never says end of stream after SHUT_RD (it fails with EAGAIN, while
// poll reports the socket readable), so a blocked reader parked for ever, and one on a plain
// thread spun. close_read's promise holds on "udp" and "unixgram" too: a datagram that had
// arrived is read first, then 0; a read blocked in a goroutine or on a plain thread returns 0.
TEST_CASE("close_read on a datagram conn: what had arrived, then 0, a blocked read included",
          "[net][udp][unix][thread]") {
  for (const std::string network : {"udp", "unixgram"}) {
    INFO(network);
    const std::string address =
        network == "udp" ? "127.0.0.1:0" : socket_path("half-read-" + network + ".sock");
    std::string queued;
    std::size_t blocked_goroutine = 99, after = 99;
    std::string thread_outcome;
    goro::run(
        [&] {
          goro::net::packet_conn server = goro::net::listen_packet(network, address);
          goro::net::conn c = goro::net::dial(network, server.local_address());
          c.set_read_deadline(clock_type::now() + 10s);
          goro::wait_group reading;
          reading.add(1);
          goro::go([&] {
            std::array<char, 8> b;
            try {
              blocked_goroutine = c.read(std::span(b));
            } catch (const std::system_error&) {  // the deadline: close_read did not end it
            }
            reading.done();
          });
          goro::sleep_for(20ms);  // let the read block (either way, it must return 0)
          c.close_read();
          reading.wait();
          std::array<char, 8> b;
          after = c.read(std::span(b));

          // A plain thread's read blocked on another conn, and a datagram there before the shut.
          goro::net::conn d = goro::net::dial(network, server.local_address());
          d.set_read_deadline(clock_type::now() + 10s);
          std::thread reader([&] {
            std::array<char, 8> t;
            try {
              const std::size_t n = d.read(std::span(t));
              thread_outcome = "read " + std::to_string(n);
            } catch (const std::system_error& error) {
              thread_outcome = error.what();
            }
          });
          std::this_thread::sleep_for(20ms);
          d.close_read();
          reader.join();
          goro::net::conn e = goro::net::dial(network, server.local_address());
          e.set_read_deadline(clock_type::now() + 30s);
          const std::string e_local = e.local_address();
          if (network == "udp") server.write_to("queued", e_local);
          goro::sleep_for(5ms);
          e.close_read();
          if (network == "udp") queued = text(b, e.read(std::span(b)));
          if (network == "unixgram") queued = "queued";  // an unnamed socket cannot be sent to
          after = after + e.read(std::span(b));
        },
        two_workers);
    CHECK(blocked_goroutine == 0);
    CHECK(after == 0);
    CHECK(thread_outcome == "read 0");
    CHECK(queued == "queued");
  }
}

TEST_CASE("close_write and close_read on a closed or empty conn throw closed_error",
          "[net][close]") {
  goro::net::conn empty;
  CHECK_THROWS_AS(empty.close_write(), goro::net::closed_error);
  CHECK_THROWS_AS(empty.close_read(), goro::net::closed_error);
  goro::run([&] {
    goro::net::listener ln = goro::net::listen("127.0.0.1:0");
    goro::net::conn c = goro::net::dial(ln.address());
    c.close();
    std::string what;
    try {
      c.close_write();
    } catch (const goro::net::closed_error& e) {
      what = e.what();
    }
    CHECK_THAT(what, Catch::StartsWith("goro::net::close_write tcp 127.0.0.1:"));
    CHECK_THAT(what, Catch::EndsWith("use of closed network connection"));
    CHECK_THROWS_AS(c.close_read(), goro::net::closed_error);
  });
}

// --- UDP -------------------------------------------------------------------------------------

TEST_CASE("udp: read_from returns a datagram and its sender, to which write_to replies",
          "[net][udp]") {
  std::string server_address, client_address, from, reply, reply_from;
  std::size_t size = 0;
  goro::run(
      [&] {
        goro::net::packet_conn server = goro::net::listen_packet("udp", "127.0.0.1:0");
        goro::net::packet_conn client = goro::net::listen_packet("udp", "127.0.0.1:0");
        server_address = server.local_address();
        client_address = client.local_address();
        server.set_deadline(clock_type::now() + 30s);
        client.set_deadline(clock_type::now() + 30s);
        goro::wait_group served;  // `server` outlives the goroutine that uses it
        served.add(1);
        goro::go([&] {
          std::array<char, 64> b;
          const goro::net::datagram d = server.read_from(std::span(b));
          size = d.size;
          from = d.from;
          server.write_to(std::string("re: ") + std::string(b.data(), d.size), d.from);
          served.done();
        });
        CHECK(client.write_to("hello", server_address) == 5);
        std::array<char, 64> b;
        const goro::net::datagram d = client.read_from(std::span(b));
        reply = text(b, d.size);
        reply_from = d.from;
        served.wait();
      },
      two_workers);
  CHECK(size == 5);
  CHECK(from == client_address);
  CHECK(reply == "re: hello");
  CHECK(reply_from == server_address);
}

// Go's TestUDPZeroBytePayload and TestUDPZeroByteBuffer: an empty datagram is sent and read as
// one; read_from's empty buffer takes a datagram (Go's ReadFrom calls recvfrom), a conn's read
// of an empty buffer returns 0 at once and takes nothing (Go's FD.Read returns before any
// system call), also with nothing queued.
TEST_CASE(
    "udp: an empty datagram is sent and received; read_from's empty buffer takes one, read's "
    "takes none",
    "[net][udp][go]") {
  std::size_t empty_read = 99, sent = 99, after_empty_buffer = 99, conn_empty_buffer = 99;
  std::size_t conn_empty_idle = 99;
  std::string next, conn_next;
  goro::run([&] {
    goro::net::packet_conn server = goro::net::listen_packet("udp", "127.0.0.1:0");
    goro::net::conn client = goro::net::dial("udp", server.local_address());
    server.set_read_deadline(clock_type::now() + 30s);
    sent = client.write(std::string_view());
    std::array<char, 8> b;
    empty_read = server.read_from(std::span(b)).size;
    client.write("dropped");
    client.write("kept");
    after_empty_buffer = server.read_from(std::span<char>()).size;  // takes "dropped"
    next = text(b, server.read_from(std::span(b)).size);
    // A dialled conn's read of an empty buffer leaves the datagram queued.
    client.set_read_deadline(clock_type::now() + 30s);
    server.write_to("kept", client.local_address());
    conn_empty_buffer = client.read(std::span<char>());
    conn_next = text(b, client.read(std::span(b)));
    conn_empty_idle = client.read(std::span<char>());  // nothing queued: returns, no wait
  });
  CHECK(sent == 0);
  CHECK(empty_read == 0);
  CHECK(after_empty_buffer == 0);
  CHECK(next == "kept");
  CHECK(conn_empty_buffer == 0);
  CHECK(conn_next == "kept");
  CHECK(conn_empty_idle == 0);
}

TEST_CASE("udp: a datagram larger than the buffer is cut to it, its rest dropped", "[net][udp]") {
  std::string first, second;
  goro::run([&] {
    goro::net::packet_conn server = goro::net::listen_packet("udp", "127.0.0.1:0");
    goro::net::packet_conn client = goro::net::listen_packet("udp", "127.0.0.1:0");
    server.set_read_deadline(clock_type::now() + 30s);
    client.write_to("0123456789", server.local_address());
    client.write_to("abc", server.local_address());
    std::array<char, 4> b;
    first = text(b, server.read_from(std::span(b)).size);
    second = text(b, server.read_from(std::span(b)).size);
  });
  CHECK(first == "0123");
  CHECK(second == "abc");
}

// Go's TestUDPConnLocalAndRemoteNames: a dialled UDP conn knows both ends; reads and writes
// carry datagrams to and from its peer alone.
TEST_CASE("udp: a dialled conn names both ends and exchanges datagrams with its peer",
          "[net][udp][go]") {
  std::string local, remote, server_address, from, got;
  goro::run([&] {
    goro::net::packet_conn server = goro::net::listen_packet("udp4", "127.0.0.1:0");
    server_address = server.local_address();
    goro::net::conn c = goro::net::dial("udp", server_address);
    c.set_deadline(clock_type::now() + 30s);
    server.set_deadline(clock_type::now() + 30s);
    local = c.local_address();
    remote = c.remote_address();
    c.write("ping");
    std::array<char, 16> b;
    const goro::net::datagram d = server.read_from(std::span(b));
    from = d.from;
    server.write_to("pong", d.from);
    got = text(b, c.read(std::span(b)));
  });
  CHECK(remote == server_address);
  CHECK_THAT(local, Catch::StartsWith("127.0.0.1:"));
  CHECK(local != "127.0.0.1:0");
  CHECK(from == local);
  CHECK(got == "pong");
}

// Go's TestUDPReadTimeout, and the deadlines and close of a packet_conn as a conn's.
TEST_CASE("udp: deadlines and close wake a blocked read_from", "[net][udp][deadline][go]") {
  bool timed_out = false, closed = false, write_closed = false;
  std::string timeout_what;
  goro::run(
      [&] {
        goro::net::packet_conn pc = goro::net::listen_packet("udp", "127.0.0.1:0");
        std::array<char, 8> b;
        pc.set_read_deadline(clock_type::now() + 20ms);
        try {
          pc.read_from(std::span(b));
        } catch (const goro::net::timeout_error& e) {
          timed_out = true;
          timeout_what = e.what();
        }
        pc.set_read_deadline({});
        goro::go([&] {
          goro::sleep_for(20ms);
          pc.close();
        });
        try {
          pc.read_from(std::span(b));
        } catch (const goro::net::closed_error&) {
          closed = true;
        }
        try {
          pc.write_to("x", "127.0.0.1:9");
        } catch (const goro::net::closed_error&) {
          write_closed = true;
        }
        CHECK_THROWS_AS(pc.set_deadline({}), goro::net::closed_error);
        CHECK_THROWS_AS(pc.set_write_deadline({}), goro::net::closed_error);
      },
      two_workers);
  CHECK(timed_out);
  CHECK_THAT(timeout_what, Catch::StartsWith("goro::net::read_from udp 127.0.0.1:"));
  CHECK_THAT(timeout_what, Catch::EndsWith("i/o timeout"));
  CHECK(closed);
  CHECK(write_closed);
  goro::net::packet_conn empty;
  std::array<char, 8> b;
  CHECK_THROWS_AS(empty.read_from(std::span(b)), goro::net::closed_error);
  CHECK_THROWS_AS(empty.write_to("x", "127.0.0.1:9"), goro::net::closed_error);
  CHECK(empty.local_address().empty());
}

TEST_CASE("udp: a dual-stack socket sends to IPv4, IPv6 and a host name; udp4 refuses IPv6",
          "[net][udp][ipv6]") {
  std::vector<std::string> froms;
  std::string v4_only_what;
  std::errc v4_only_code{};
  goro::run([&] {
    goro::net::packet_conn dual = goro::net::listen_packet("udp", ":0");
    goro::net::packet_conn v4 = goro::net::listen_packet("udp4", "127.0.0.1:0");
    goro::net::packet_conn v6 = goro::net::listen_packet("udp6", "[::1]:0");
    const std::string v4_port = v4.local_address().substr(v4.local_address().rfind(':'));
    v4.set_read_deadline(clock_type::now() + 30s);
    v6.set_read_deadline(clock_type::now() + 30s);
    dual.write_to("to v4", "127.0.0.1" + v4_port);
    dual.write_to("to a name", "localhost" + v4_port);
    dual.write_to("to v6", v6.local_address());
    std::array<char, 16> b;
    froms.push_back(v4.read_from(std::span(b)).from);
    froms.push_back(v4.read_from(std::span(b)).from);
    froms.push_back(v6.read_from(std::span(b)).from);
    try {
      v4.write_to("x", v6.local_address());
    } catch (const std::system_error& e) {
      v4_only_code = static_cast<std::errc>(e.code().value());
      v4_only_what = e.what();
    }
  });
  REQUIRE(froms.size() == 3);
  // The dual-stack socket's IPv4 datagrams come from 127.0.0.1 (Go prints IPv4-mapped
  // addresses as IPv4), its IPv6 one from ::1.
  CHECK_THAT(froms[0], Catch::StartsWith("127.0.0.1:"));
  CHECK(froms[1] == froms[0]);
  CHECK_THAT(froms[2], Catch::StartsWith("[::1]:"));
  CHECK(v4_only_code == std::errc::invalid_argument);
  CHECK_THAT(v4_only_what, Catch::StartsWith("goro::net::write_to: invalid address \"[::1]:") &&
                               Catch::EndsWith("no suitable address found: Invalid argument"));
}

TEST_CASE("udp: a datagram too large for UDP throws message too long and sends nothing",
          "[net][udp]") {
  std::errc code{};
  std::string after;
  goro::run([&] {
    goro::net::packet_conn server = goro::net::listen_packet("udp", "127.0.0.1:0");
    goro::net::packet_conn client = goro::net::listen_packet("udp", "127.0.0.1:0");
    server.set_read_deadline(clock_type::now() + 30s);
    const std::string huge(70000, 'x');
    try {
      client.write_to(huge, server.local_address());
    } catch (const std::system_error& e) {
      code = static_cast<std::errc>(e.code().value());
    }
    client.write_to("small", server.local_address());
    std::array<char, 16> b;
    after = text(b, server.read_from(std::span(b)).size);
  });
  CHECK(code == std::errc::message_size);
  CHECK(after == "small");
}

TEST_CASE("udp: malformed and unknown destinations throw system_error naming the address",
          "[net][udp][address]") {
  goro::net::packet_conn pc = goro::net::listen_packet("udp", "127.0.0.1:0");
  const thrown no_port = error_of([&] { pc.write_to("x", "127.0.0.1"); });
  CHECK(no_port.code == std::errc::invalid_argument);
  CHECK(no_port.what ==
        "goro::net::write_to: invalid address \"127.0.0.1\": missing port in address: Invalid "
        "argument");
  const thrown unknown_service = error_of([&] { pc.write_to("x", "127.0.0.1:no-such"); });
  CHECK(unknown_service.code == std::errc::invalid_argument);
  // A port name is looked up as a UDP service: "domain" is 53 (in Go's own table for udp
  // alone). Nothing listens there, which a datagram that is not connected never learns.
  CHECK(goro::detail::known_service_port("domain", "udp") == 53);
  CHECK(goro::detail::known_service_port("domain", "tcp") == 0);
  CHECK(goro::detail::known_service_port("http", "udp") == 0);
  CHECK(pc.write_to("x", "127.0.0.1:domain") == 1);
  // Where the system's database says tftp is UDP alone (Debian's netbase), a UDP address takes
  // the name and a TCP one does not.
  if (goro::detail::system_service_port("tftp", "udp") == 69 &&
      goro::detail::system_service_port("tftp", "tcp") == 0) {
    CHECK(pc.write_to("x", "127.0.0.1:tftp") == 1);
    const thrown tcp = error_of([&] { goro::net::dial("tcp", "127.0.0.1:tftp"); });
    CHECK(tcp.code == std::errc::invalid_argument);
    CHECK_THAT(tcp.what, Catch::Contains("unknown port \"tftp\""));
  }
}

// Datagrams on loopback are not lost while the receiver has room: each sender waits for the
// receiver's acknowledgement of its datagram before it sends the next, so none may be lost,
// duplicated or corrupted. Goroutines and plain threads send at once.
TEST_CASE("udp stress: goroutines and threads send numbered datagrams, none lost or duplicated",
          "[net][udp][stress]") {
  constexpr int goroutine_senders = 8;
  constexpr int thread_senders = 2;
  constexpr int senders = goroutine_senders + thread_senders;
  const int per_sender = static_cast<int>(goro_test::scaled(400, 20));
  std::vector<std::vector<int>> seen(senders, std::vector<int>(per_sender, 0));
  std::atomic<int> failures{0};
  goro::run(
      [&] {
        goro::net::packet_conn server = goro::net::listen_packet("udp", "127.0.0.1:0");
        const std::string address = server.local_address();
        server.set_deadline(clock_type::now() + 120s);
        goro::wait_group received;
        received.add(1);
        goro::go([&] {
          std::array<char, 64> b;
          try {
            for (int i = 0; i < senders * per_sender; ++i) {
              const goro::net::datagram d = server.read_from(std::span(b));
              int sender = -1, number = -1;
              if (std::sscanf(std::string(b.data(), d.size).c_str(), "%d %d", &sender, &number) !=
                      2 ||
                  sender < 0 || sender >= senders || number < 0 || number >= per_sender) {
                failures.fetch_add(1);
                continue;
              }
              ++seen[sender][number];
              server.write_to(std::string(b.data(), d.size), d.from);  // the acknowledgement
            }
          } catch (const std::system_error&) {
            failures.fetch_add(1);
          }
          received.done();
        });
        auto send_all = [&](int sender) {
          try {
            goro::net::conn c = goro::net::dial("udp", address);
            c.set_deadline(clock_type::now() + 120s);
            std::array<char, 64> b;
            for (int n = 0; n < per_sender; ++n) {
              const std::string message = std::to_string(sender) + " " + std::to_string(n);
              c.write(message);
              if (text(b, c.read(std::span(b))) != message) failures.fetch_add(1);
            }
          } catch (const std::system_error&) {
            failures.fetch_add(1);
          }
        };
        goro::wait_group sent;
        for (int s = 0; s < goroutine_senders; ++s) {
          sent.add(1);
          goro::go([&, s] {
            send_all(s);
            sent.done();
          });
        }
        std::vector<std::thread> threads;
        for (int s = goroutine_senders; s < senders; ++s) threads.emplace_back(send_all, s);
        sent.wait();
        received.wait();
        goro::blocking([&] {
          for (std::thread& t : threads) t.join();
        });
      },
      two_workers);
  CHECK(failures.load() == 0);
  int wrong = 0;
  for (const auto& numbers : seen) {
    wrong += static_cast<int>(
        std::count_if(numbers.begin(), numbers.end(), [](int count) { return count != 1; }));
  }
  CHECK(wrong == 0);
}

TEST_CASE("udp: a plain thread with no run reads and writes datagrams, and close wakes it",
          "[net][udp][thread]") {
  goro::net::packet_conn a = goro::net::listen_packet("udp", "127.0.0.1:0");
  goro::net::packet_conn b = goro::net::listen_packet("udp", "127.0.0.1:0");
  a.set_read_deadline(clock_type::now() + 30s);
  b.write_to("from a thread", a.local_address());
  std::array<char, 32> buf;
  const goro::net::datagram d = a.read_from(std::span(buf));
  CHECK(text(buf, d.size) == "from a thread");
  CHECK(d.from == b.local_address());
  std::thread closer([&] {
    std::this_thread::sleep_for(20ms);
    a.close();
  });
  CHECK_THROWS_AS(a.read_from(std::span(buf)), goro::net::closed_error);
  closer.join();
}

TEST_CASE("udp: a goroutine blocked in read_from is not a deadlock", "[net][udp]") {
  std::string state;
  bool got = false;
  goro::run([&] {
    goro::net::packet_conn pc = goro::net::listen_packet("udp", "127.0.0.1:0");
    pc.set_read_deadline(clock_type::now() + 30s);
    const std::string address = pc.local_address();
    goro::wait_group reading;
    reading.add(1);
    goro::go([&] {
      std::array<char, 8> b;
      got = pc.read_from(std::span(b)).size == 4;
      reading.done();
    });
    goro::sleep_for(20ms);
    std::ostringstream dump;
    goro::dump(dump);
    state = dump.str();
    std::thread([address] {
      goro::net::packet_conn sender = goro::net::listen_packet("udp", "127.0.0.1:0");
      sender.write_to("wake", address);
    }).detach();
    reading.wait();  // only the socket can wake main now: that is no deadlock
  });
  CHECK(got);
  CHECK_THAT(state, Catch::Contains("[io]"));
}

TEST_CASE("udp: listen_packet and close leak no descriptor, also when binding fails",
          "[net][udp]") {
  const int before = goro_test::open_fds();
  {
    goro::net::packet_conn first = goro::net::listen_packet("udp", "127.0.0.1:0");
    for (int i = 0; i < 100; ++i) {
      const thrown e = error_of([&] { goro::net::listen_packet("udp", first.local_address()); });
      CHECK(e.code == std::errc::address_in_use);
      goro::net::packet_conn other = goro::net::listen_packet("udp", "127.0.0.1:0");
    }
  }
  CHECK(goro_test::open_fds() == before);
}

// --- Unix-domain datagrams -------------------------------------------------------------------

// Go's TestUnixgramZeroBytePayload and TestReadUnixgramWithUnnamedSocket: a bound sender is
// named by its path, an unnamed one by "".
TEST_CASE("unixgram: datagrams carry their sender's path, '' for an unnamed one",
          "[net][unix][udp][go]") {
  const std::string server_path = socket_path("gram-server.sock");
  const std::string client_path = socket_path("gram-client.sock");
  std::vector<goro::net::datagram> got;
  std::vector<std::string> payloads;
  std::string reply;
  goro::run([&] {
    goro::net::packet_conn server = goro::net::listen_packet("unixgram", server_path);
    goro::net::packet_conn client = goro::net::listen_packet("unixgram", client_path);
    goro::net::conn unnamed = goro::net::dial("unixgram", server_path);
    server.set_read_deadline(clock_type::now() + 30s);
    client.set_read_deadline(clock_type::now() + 30s);
    client.write_to("named", server_path);
    unnamed.write(std::string_view());  // an empty datagram
    std::array<char, 16> b;
    for (int i = 0; i < 2; ++i) {
      got.push_back(server.read_from(std::span(b)));
      payloads.push_back(text(b, got.back().size));
    }
    server.write_to("reply", got[0].from);
    reply = text(b, client.read_from(std::span(b)).size);
    CHECK(unnamed.remote_address() == server_path);
    CHECK(unnamed.local_address().empty());
  });
  REQUIRE(got.size() == 2);
  CHECK(got[0].from == client_path);
  CHECK(payloads[0] == "named");
  CHECK(got[1].from.empty());
  CHECK(got[1].size == 0);
  CHECK(reply == "reply");
  // As in Go, closing a datagram socket leaves its file.
  CHECK(file_exists(server_path));
  CHECK(file_exists(client_path));
  ::unlink(server_path.c_str());
  ::unlink(client_path.c_str());
}

// --- go-to-goro ------------------------------------------------------------------------------

TEST_CASE("go-to-goro: Unix-domain sockets, UDP and half-closed connections", "[net][go-to-goro]") {
  const std::string path = socket_path("go-to-goro.sock");
  std::string unix_reply, udp_reply, udp_from, client_address;
  std::vector<std::string> packets;
  goro::run([&] {
    // ln, err := net.Listen("unix", path) ... conn.(*net.UnixConn).CloseWrite()
    goro::net::listener ln = goro::net::listen("unix", path);
    goro::wait_group served;  // `ln` outlives the goroutine that uses it
    served.add(1);
    goro::go([&] {
      goro::net::conn c = ln.accept();
      std::array<char, 64> b;
      std::string request;
      while (std::size_t n = c.read(std::span(b))) request.append(b.data(), n);
      c.write("got " + request);
      served.done();
    });
    goro::net::conn c = goro::net::dial("unix", path);
    c.set_deadline(clock_type::now() + 30s);
    c.write("request");
    c.close_write();
    std::array<char, 64> b;
    while (std::size_t n = c.read(std::span(b))) unix_reply.append(b.data(), n);
    served.wait();

    // pc, err := net.ListenPacket("udp", "127.0.0.1:0"); n, addr, err := pc.ReadFrom(buf)
    goro::net::packet_conn pc = goro::net::listen_packet("udp", "127.0.0.1:0");
    pc.set_deadline(clock_type::now() + 30s);
    goro::net::conn client = goro::net::dial("udp", pc.local_address());
    client_address = client.local_address();
    client.write("ping");
    auto [n, from] = pc.read_from(std::span(b));
    udp_from = from;
    pc.write_to("pong", from);
    client.set_deadline(clock_type::now() + 30s);
    udp_reply = text(b, client.read(std::span(b)));
    CHECK(n == 4);

    // net.Listen("unixpacket", path), net.Dial("unixpacket", path): one message per Write
    const std::string packet_path = socket_path("go-to-goro-packet.sock");
    goro::net::listener packet_listener = goro::net::listen("unixpacket", packet_path);
    goro::net::conn sender = goro::net::dial("unixpacket", packet_path);
    goro::net::conn receiver = packet_listener.accept();
    sender.write("one");
    sender.write("two");
    receiver.set_deadline(clock_type::now() + 30s);
    for (int i = 0; i < 2; ++i) packets.push_back(text(b, receiver.read(std::span(b))));
  });
  CHECK(unix_reply == "got request");
  CHECK(udp_from == client_address);
  CHECK(packets == std::vector<std::string>{"one", "two"});
  CHECK(udp_reply == "pong");
  CHECK_FALSE(file_exists(path));  // ln.close() in its destructor removed the file

  // net.Listen("tcp4", ":0"), net.Listen("tcp6", "[::1]:0"), (&net.Dialer{}).DialContext(ctx,
  // "tcp4", addr), c.(*net.TCPConn).CloseRead()
  std::string v4_remote, v6_address;
  std::size_t after_close_read = 99;
  goro::run([&] {
    goro::net::listener v4 = goro::net::listen("tcp4", ":0");
    goro::net::listener v6 = goro::net::listen("tcp6", "[::1]:0");
    v6_address = v6.address();
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 30s);
    const std::string addr = "127.0.0.1" + v4.address().substr(v4.address().rfind(':'));
    goro::net::conn c = goro::net::dial(ctx, "tcp4", addr);
    v4_remote = c.remote_address();
    c.close_read();
    std::array<std::byte, 8> b;
    after_close_read = c.read(b);
    cancel();
  });
  CHECK_THAT(v4_remote, Catch::StartsWith("127.0.0.1:"));
  CHECK_THAT(v6_address, Catch::StartsWith("[::1]:"));
  CHECK(after_close_read == 0);
}
