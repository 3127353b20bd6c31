// examples/http_common.hpp — the HTTP/1.1 part shared by http_server.cpp (a goroutine per
// connection), http_server_threads.cpp (a thread per connection) and http_server_single.cpp (one
// connection at a time): it turns the bytes a connection has received into responses, knowing
// nothing about sockets or threads; and the client checks every server runs against itself with
// --self-test.
//
// Minimal but correct for what it accepts: persistent connections (HTTP/1.1 keep-alive by
// default, HTTP/1.0 only with "Connection: keep-alive"), pipelined requests answered in order,
// requests split across reads, request bodies skipped by Content-Length, 400 for a malformed
// request line or header, 431 for oversized headers, 413 for bodies over 1 MiB, 501 for chunked
// request bodies. Every
// request gets "Hello, World!" (the seed's handler).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

namespace http {

// handler_wait: how long the handler waits before each batch of answers, standing for a handler
// that does I/O (a database query, another service): HTTP_HANDLER_WAIT_US microseconds from the
// environment, none by default. benchmarks/http/run.sh sets it to measure the seed's claim that
// concurrency multiplies a server's throughput. Each server waits its own way: a goroutine parks,
// a thread sleeps.
inline std::chrono::microseconds handler_wait() {
  static const std::chrono::microseconds wait([] {
    const char* text = std::getenv("HTTP_HANDLER_WAIT_US");
    return text != nullptr ? std::atol(text) : 0L;
  }());
  return wait;
}

// session: one connection's state. The caller appends what it reads to `in`, calls consume, sends
// `out` (then clears it) and closes the connection once `close` is set and `out` is sent.
struct session {
  std::string in;
  std::string out;
  bool close = false;
};

namespace detail {

constexpr std::size_t max_header_bytes = 8192;
constexpr std::size_t max_body_bytes = 1 << 20;

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline void respond(session& s, std::string_view status, bool head, bool keep_alive) {
  constexpr std::string_view body = "Hello, World!";
  s.out += "HTTP/1.1 ";
  s.out += status;
  if (status.front() == '2') {
    s.out += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n";
  } else {
    s.out += "\r\nContent-Length: 0\r\n";
  }
  if (!keep_alive) s.out += "Connection: close\r\n";
  s.out += "\r\n";
  if (status.front() == '2' && !head) s.out += body;
  s.close = s.close || !keep_alive;
}

// parse_one: answers the request at the front of `in` into `s`; returns the bytes it used, or 0
// if the request is not complete yet.
inline std::size_t parse_one(session& s, std::string_view in) {
  const std::size_t header_end = in.find("\r\n\r\n");
  if (header_end == std::string_view::npos) {
    if (in.size() > max_header_bytes)
      respond(s, "431 Request Header Fields Too Large", false, false);
    return 0;
  }
  std::string_view rest = in.substr(0, header_end + 2);
  const std::string_view line = rest.substr(0, rest.find("\r\n"));
  rest.remove_prefix(line.size() + 2);
  // Request line: METHOD SP target SP HTTP/1.x
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    respond(s, "400 Bad Request", false, false);
    return in.size();
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (c < 'A' || c > 'Z') {
      respond(s, "400 Bad Request", false, false);
      return in.size();
    }
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    respond(s, "400 Bad Request", false, false);
    return in.size();
  }
  bool keep_alive = version == "HTTP/1.1";
  std::size_t body = 0;
  while (!rest.empty()) {
    const std::string_view header = rest.substr(0, rest.find("\r\n"));
    rest.remove_prefix(header.size() + 2);
    const std::size_t colon = header.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      respond(s, "400 Bad Request", false, false);
      return in.size();
    }
    const std::string_view name = header.substr(0, colon);
    const std::string_view value = trim(header.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      body = 0;
      for (char c : value) {
        if (c < '0' || c > '9') {
          respond(s, "400 Bad Request", false, false);
          return in.size();
        }
        body = body * 10 + static_cast<std::size_t>(c - '0');
        if (body > max_body_bytes) {
          respond(s, "413 Content Too Large", false, false);
          return in.size();
        }
      }
    } else if (iequals(name, "Transfer-Encoding")) {
      respond(s, "501 Not Implemented", false, false);
      return in.size();
    } else if (iequals(name, "Connection")) {
      if (iequals(value, "close")) keep_alive = false;
      if (iequals(value, "keep-alive")) keep_alive = true;
    }
  }
  const std::size_t total = header_end + 4 + body;
  if (in.size() < total) return 0;  // the body is still on its way
  respond(s, "200 OK", method == "HEAD", keep_alive);
  return total;
}

}  // namespace detail

// consume: answers every complete request at the front of `s.in` and removes it; stops at an
// incomplete one, or once the connection must close.
inline void consume(session& s) {
  std::size_t used = 0;
  while (!s.close) {
    const std::size_t n = detail::parse_one(s, std::string_view(s.in).substr(used));
    if (n == 0) break;
    used += n;
  }
  s.in.erase(0, used);
}

// ---- --self-test: a client that checks the server it is given -----------------------------------

// read_response: reads the next response from `c` (any connection with read(std::span<char>),
// returning 0 at end of stream), keeping bytes beyond it in `pending`; describes it as
// `<status> "<body>"`, `<status> with no body` (HEAD) or `connection closed`.
template <class Conn>
std::string read_response(Conn& c, std::string& pending, bool head = false) {
  std::array<char, 4096> buf;
  auto fill = [&] {  // false at end of stream
    const std::size_t n = c.read(std::span(buf));
    pending.append(buf.data(), n);
    return n > 0;
  };
  std::size_t header_end;
  while ((header_end = pending.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return pending.empty() ? "connection closed" : "truncated response";
  }
  const std::size_t status = pending.find(' ') + 1;
  std::string result = pending.substr(status, pending.find("\r\n") - status);
  const std::size_t length = pending.find("Content-Length: ");
  const std::size_t body =
      head || length > header_end ? 0 : std::stoul(pending.substr(length + 16));
  while (pending.size() < header_end + 4 + body) {
    if (!fill()) return "truncated response";
  }
  result += body == 0 ? " with no body" : " \"" + pending.substr(header_end + 4, body) + "\"";
  pending.erase(0, header_end + 4 + body);
  return result;
}

// self_test: runs the checks against the server `dial()` connects to, printing one line each: a
// keep-alive connection, a pipelined pair of requests (a GET and a HEAD, answered in order) and a
// malformed request line (400, then the server closes the connection).
template <class Dial>
void self_test(Dial dial) {
  const std::string get = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  const std::string head = "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  auto check = [&](const char* what, const std::string& first, const std::string& second,
                   bool second_is_head) {
    auto c = dial();
    std::string pending;
    c.write(first);
    std::string got = read_response(c, pending);
    if (!second.empty()) c.write(second);
    got += ", then " + read_response(c, pending, second_is_head);
    std::printf("%s: %s\n", what, got.c_str());
  };
  check("keep-alive", get, get, false);
  check("pipelined GET and HEAD", get + head, "", true);
  check("malformed request line", "GET /\r\n\r\n", "", false);
}

}  // namespace http
