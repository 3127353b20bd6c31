// tests/net_support.hpp — helpers shared by the tests of <goro/net.hpp> (net_test.cpp,
// net_networks_test.cpp).
#pragma once

#include <dirent.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <system_error>

#include <goro/net.hpp>
#include <goro/runtime.hpp>

namespace goro_test {

// open_fds: the process's open file descriptors (entries of /proc/self/fd, minus the one
// opendir uses).
inline int open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n - 3;  // ".", ".." and the directory's own fd
}

// echo_server: accepts on `ln` until it is closed; echoes each connection, TCP or Unix-domain,
// in its goroutine (for at most 60 s).
inline void echo_server(goro::net::listener& ln) {
  for (;;) {
    goro::net::conn c;
    try {
      c = ln.accept();
    } catch (const goro::net::closed_error&) {
      return;
    }
    goro::go([c = std::move(c)]() mutable {
      std::array<std::byte, 16384> buf;
      try {
        c.set_deadline(std::chrono::steady_clock::now() + std::chrono::seconds(60));
        while (std::size_t n = c.read(buf)) c.write(std::span(buf).first(n));
      } catch (const std::system_error&) {
      }
    });
  }
}

}  // namespace goro_test
