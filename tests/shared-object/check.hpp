// The checks both shared-object programs make, given the library's table of functions.
#pragma once

#include <goro/goro.hpp>

#include <cstdio>

#include "library.hpp"

// library_shares_the_run: from goroutines of a run started here, the library sees the same
// goroutine ids; its goroutines belong to this run and exchange values with this program's
// through channels made on either side; its errors compare equal to this program's codes; its
// exceptions are caught here by their types; and its goroutines still blocked when main returns
// are unwound. Returns the process's exit code.
inline int library_shares_the_run(const library_functions& library) {
  int failures = 0;
  auto fail = [&](const char* what) {
    std::fprintf(stderr, "%s\n", what);
    ++failures;
  };
  std::atomic<bool> unwound{false};
  goro::run([&] {
    if (library.goroutine_id() != goro::goroutine_id()) fail("main's id differs in the library");

    constexpr int count = 1000;
    goro::chan<long> result;
    goro::go([&] { result.send(library.sum_from_goroutines(count)); });
    if (*result.recv() != long{count} * (count - 1) / 2) fail("the library's sum is wrong");

    // Goroutines on both sides contend for the channels' locks, on every worker.
    constexpr long values = 20000;
    goro::chan<long> in(4), out;
    goro::go([&] { library.relay(in, out, 8); });
    goro::go([&] {
      for (long v = 1; v <= values; ++v) in.send(v);
      in.close();
    });
    long sum = 0;
    for (long value : out) sum += value;
    if (sum != values * (values + 1) / 2) fail("values were lost or duplicated in the relay");

    if (library.canceled() != goro::errc::canceled) fail("the library's canceled differs");
    try {
      library.send_on_closed();
      fail("a send on a closed channel in the library did not throw");
    } catch (const goro::channel_closed&) {
    }
    library.start_blocked_goroutine(&unwound);
  });
  if (!unwound.load()) fail("the library's blocked goroutine was not unwound");
  return failures == 0 ? 0 : 1;
}
