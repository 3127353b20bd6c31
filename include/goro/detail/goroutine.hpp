// goro/detail/goroutine.hpp — the goroutine record (Go's G).
//
// Records are allocated in chunks that live until the run ends and are recycled through free
// lists, so a pointer to a record stays valid for the whole run: the shutdown scan, dump() and
// late claimers may read a record whose goroutine has exited. Identity across reuse is carried by
// parker::token, whose generation never repeats.
//
// Status transitions (each store by the one party allowed to make it):
//   free ──spawn──▶ runnable ──worker picks it──▶ running ──park (after the switch)──▶ parked
//   parked ──ready (claimer)──▶ runnable;  running ──yield──▶ runnable;  running ──exit──▶ free
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "callable.hpp"
#include "exception_state.hpp"
#include "sanitizer.hpp"
#include "stack.hpp"
#include "waiter.hpp"

namespace goro::detail {

struct worker;

enum class goroutine_status : std::uint32_t { free, runnable, running, parked };

// wait_reason: what a parked goroutine waits for, as dump() shows it.
enum class wait_reason : std::uint8_t {
  none,
  chan_receive,
  chan_send,
  select,
  sleep,
  mutex,
  wait_group,
  cond,
  once,
  semaphore,
  io,
  blocking,
};

// wait_detail: the suffix of a dump line: " (nil chan)" or " (no cases)".
enum class wait_detail : std::uint8_t { none, nil_chan, no_cases };

inline const char* wait_reason_name(wait_reason r) noexcept {
  switch (r) {
    case wait_reason::none: return "waiting";
    case wait_reason::chan_receive: return "chan receive";
    case wait_reason::chan_send: return "chan send";
    case wait_reason::select: return "select";
    case wait_reason::sleep: return "sleep";
    case wait_reason::mutex: return "mutex";
    case wait_reason::wait_group: return "wait_group";
    case wait_reason::cond: return "cond";
    case wait_reason::once: return "once";
    case wait_reason::semaphore: return "semaphore";
    case wait_reason::io: return "io";
    case wait_reason::blocking: return "blocking";
  }
  return "waiting";
}

// goroutine: one record per goroutine, cache-line aligned and three lines long (without
// sanitizers), so that no two records share a line. The first line is written on every switch
// into or out of the goroutine and by its claimers; were it shared with the record next door,
// two workers switching their own goroutines would pull the line back and forth (a yield cost
// 60 ns instead of 35 with two workers).
struct alignas(cache_line_size) goroutine {
  // --- line 0, scheduling: touched by the worker that runs it and by claimers
  void* context = nullptr;       // saved fcontext while not running
  worker* running_on = nullptr;  // the worker running it (set before every switch into it)
  goroutine* next = nullptr;     // link in the global run queue and in free lists
  parker park;
  std::atomic<goroutine_status> status{goroutine_status::free};
  // identity, written at spawn and when parking, read by dump() from any thread
  std::atomic<wait_reason> reason{wait_reason::none};
  std::atomic<wait_detail> detail{wait_detail::none};
  std::atomic<bool> is_main{false};  // also read by dump() from any thread

  // --- lines 1 and 2: owned by the goroutine while it runs, and its identity
  task entry;
  std::atomic<std::uint64_t> id{0};
  std::atomic<std::uint64_t> parent_id{0};
  stack_span stack;
  exception_state exceptions;  // saved on every switch out
  [[no_unique_address]] fiber_sanitizer_state sanitizer;
};

static_assert(!std::is_empty_v<fiber_sanitizer_state> || sizeof(goroutine) == 3 * cache_line_size,
              "the goroutine record should stay at three cache lines");

}  // namespace goro::detail
