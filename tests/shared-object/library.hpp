// The shared library the shared-object tests build with hidden visibility: a table of functions
// that use goro from inside the library, in the run of the program that calls them.
#pragma once

#include <goro/goro.hpp>

#include <atomic>
#include <cstdint>
#include <system_error>

struct library_functions {
  // sum_from_goroutines: starts n goroutines that sleep a little and send their index on a
  // channel made in the library; returns the sum received.
  long (*sum_from_goroutines)(int n);
  // goroutine_id: goro::goroutine_id() as the library sees it.
  std::uint64_t (*goroutine_id)();
  // relay: n goroutines of the library move values from `in` to `out` until `in` is closed;
  // then it closes `out`.
  void (*relay)(goro::chan<long> in, goro::chan<long> out, int n);
  // canceled: the err() of a context cancelled in the library.
  std::error_code (*canceled)();
  // send_on_closed: sends on a channel the library closed (throws goro::channel_closed).
  void (*send_on_closed)();
  // start_blocked_goroutine: starts a goroutine that waits for ever on a channel of the
  // library's, with an object on its stack whose destructor sets `unwound`.
  void (*start_blocked_goroutine)(std::atomic<bool>* unwound);
};

// library_functions_table: the table, filled by the library; the one symbol it exports.
extern "C" [[gnu::visibility("default")]] const library_functions* library_functions_table();
