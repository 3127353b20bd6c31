// A shared library that uses goro, built with hidden visibility (tests/CMakeLists.txt): its
// goroutines, channels and timers must belong to the run of the program that loaded it.
#include "library.hpp"

#include <goro/goro.hpp>

#include <chrono>

long sum_from_goroutines(int n) {
  goro::chan<long> values;
  for (int i = 0; i < n; ++i) {
    goro::go([values, i] {
      goro::sleep_for(std::chrono::microseconds(i % 7));  // a timer of the program's run
      values.send(i);
    });
  }
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += *values.recv();
  return sum;
}

std::uint64_t library_goroutine_id() {
  return goro::goroutine_id();
}
