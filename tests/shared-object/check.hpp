// The check both shared-object programs make, given the library's two functions.
#pragma once

#include <goro/goro.hpp>

#include <cstdint>
#include <cstdio>

// library_shares_the_run: from goroutines of a run started here, the library sees the same
// goroutine ids and starts goroutines of the same run, which the deadlock detector counts.
inline int library_shares_the_run(long (*sum_from_goroutines)(int),
                                  std::uint64_t (*library_goroutine_id)()) {
  constexpr int count = 1000;
  int failures = 0;
  goro::run([&] {
    if (library_goroutine_id() != goro::goroutine_id()) {
      std::fprintf(stderr, "main is goroutine %llu here, %llu in the library\n",
                   static_cast<unsigned long long>(goro::goroutine_id()),
                   static_cast<unsigned long long>(library_goroutine_id()));
      ++failures;
    }
    goro::chan<long> result;
    goro::go([&] { result.send(sum_from_goroutines(count)); });
    const long sum = *result.recv();
    if (sum != long{count} * (count - 1) / 2) {
      std::fprintf(stderr, "the library's goroutines sent a sum of %ld\n", sum);
      ++failures;
    }
  });
  return failures == 0 ? 0 : 1;
}
