// A shared library that uses goro, built with hidden visibility (tests/CMakeLists.txt): its
// goroutines, channels, timers, errors and exceptions must be those of the program that loaded
// it, in the program's run.
#include "library.hpp"

#include <chrono>

namespace {

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

std::uint64_t goroutine_id() {
  return goro::goroutine_id();
}

void relay(goro::chan<long> in, goro::chan<long> out, int n) {
  goro::wait_group relays;
  relays.add(n);
  for (int i = 0; i < n; ++i) {
    goro::go([in, out, &relays] {
      for (long value : in) out.send(value);
      relays.done();
    });
  }
  relays.wait();
  out.close();
}

std::error_code canceled() {
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  cancel();
  return ctx.err();
}

void send_on_closed() {
  goro::chan<int> closed(1);
  closed.close();
  closed.send(1);
}

struct set_on_destruction {
  std::atomic<bool>* flag;
  ~set_on_destruction() { flag->store(true); }
};

void start_blocked_goroutine(std::atomic<bool>* unwound) {
  goro::go([unwound] {
    set_on_destruction guard{unwound};
    goro::chan<int> never;
    never.recv();
  });
}

}  // namespace

const library_functions* library_functions_table() {
  static constexpr library_functions table{
      sum_from_goroutines, goroutine_id, relay, canceled, send_on_closed, start_blocked_goroutine};
  return &table;
}
