// goro/detail/timer_heap.hpp — a heap of timers: a 4-ary min-heap, plus a run of deadlines in
// order. Each worker of a run has one (scheduler.hpp says who fires which); the fallback thread
// has one for the timers of no run.
//
// A timer_node lives inside whatever owns it (a sleeping goroutine's frame, a goro::timer's shared
// state, a context's deadline, a socket's deadline). add() copies what firing needs (deadline,
// callback, argument, sequence) into an entry; workers pop expired entries under the lock and
// call the callbacks after releasing it. The heap never dereferences a node outside add() and
// remove(), both called by the node's owner: an owner that removes its node (remove returns false
// when it already fired) may destroy it at once, and a callback racing with the removal only sees
// its copied (fire, arg, seq) — callbacks make such late calls harmless, e.g. by claiming a parker
// with a ticket that has gone stale.
//
// Most deadlines arrive in order: goroutines that sleep for the same duration, requests that
// all get the same timeout. An entry whose deadline is no earlier than the last one of the run
// (run_, a ring buffer in deadline order) is appended to it; only the others go to the heap
// (heap_). Adding to the run and popping its front are O(1) and touch memory in order, where
// popping the heap's root sifts an entry through log4(n) levels of cold lines (100k timers in
// order: 5 ns per expiry instead of 71, and a shorter hold of the lock every worker takes).
// A removed entry of the run becomes a tombstone (fire == nullptr) until the front passes it or
// a compaction drops it; the run is compacted when its tombstones outnumber its live entries.
//
// Entries move within one contiguous array each, and positions are recorded in a dense table
// (positions_), indexed by a handle the node keeps: no sift step touches memory of the nodes,
// which are scattered over the goroutines' stacks. A handle carries a generation so that a node
// whose entry fired (and whose handle was reused) is recognised as gone.
//
// Invariants (all guarded by lock_):
//   - For a handle h in use: positions_[h] is i with heap_[i].handle == h, or in_run | k with
//     run_[k].handle == h; a handle not in use is on free_handles_.
//   - generations_[h] changes whenever handle h is released, so a node holding (h, g) with
//     g != generations_[h] is not in the heap.
//   - heap_[parent(i)].when <= heap_[i].when.
//   - The run holds the entries of ring positions [run_head_, run_tail_) (indices modulo its
//     power-of-two size); their deadlines never decrease; its front and back entries are live
//     (not tombstones); run_tombstones_ counts the tombstones between them.
//   - earliest_ holds the earlier of heap_[0].when and the run's front deadline, or `none` when
//     both are empty; it may be read without the lock as a hint, and is written only when it
//     changes.
#pragma once

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "config.hpp"
#include "spinlock.hpp"

namespace goro::detail {

using clock = std::chrono::steady_clock;

inline std::int64_t to_nanoseconds(clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline clock::time_point from_nanoseconds(std::int64_t ns) noexcept {
  return clock::time_point(
      std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(ns)));
}

// The coarse clock (CLOCK_MONOTONIC_COARSE, the same epoch as steady_clock on Linux) costs a
// seventh of the precise one (3.5 against 25 ns under a hypervisor) but lags it: it is the time
// of the last timekeeping tick. The lag is not bounded by the clock's resolution: on a 2-core
// virtual machine with a 4 ms tick it lagged by 2.5-6.5 ms, and a check that trusted the
// resolution fired a third of 100k 10-ms sleeps 0.5-4 ms late. coarse_clock_slack_ns() is the lag a
// deadline check allows: four ticks and 10 ms more. Only a deadline further ahead than that is
// ruled out on the coarse clock alone; any nearer one is checked on the precise clock.
inline std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline std::int64_t coarse_clock_slack_ns() noexcept {
  static const std::int64_t slack = [] {
    timespec ts{};
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) != 0) return std::int64_t{1'000'000'000};
    const std::int64_t resolution = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
    return 4 * resolution + 10'000'000;
  }();
  return slack;
}

class timer_heap;

struct timer_node {
  clock::time_point when{};
  void (*fire)(void* arg, std::uint64_t seq) = nullptr;  // called on a worker, no lock held
  void (*drop)(void* arg) = nullptr;  // optional: called for an entry still pending at run end
  void* arg = nullptr;
  std::uint64_t seq = 0;

  // Written by the heap in add(), read in remove(): which heap, and which entry of it, is this
  // node's.
  timer_heap* heap = nullptr;
  std::uint32_t handle = 0;
  std::uint32_t generation = 0;  // 0: never added
};

class timer_heap {
 public:
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

  // add: schedules `node` (which must not be pending; its fire must be set). Returns true if it
  // became the earliest.
  bool add(timer_node& node) {
    std::lock_guard guard(lock_);
    const std::int64_t when = to_nanoseconds(node.when);
    const bool to_run = run_empty() || run_back().when <= when;
    make_room(to_run);  // may throw: before anything changes
    const std::uint32_t handle = acquire_handle();
    node.heap = this;
    node.handle = handle;
    node.generation = generations_[handle];
    const entry e{when, node.seq, node.fire, node.drop, node.arg, handle};
    if (to_run) {
      append_to_run(e);
    } else {
      heap_.push_back(e);
      sift_up(heap_.size() - 1);
    }
    // Only this entry was added: if the earliest deadline changed, it is this entry's.
    return publish_earliest();
  }

  // remove: unschedules `node`. Returns false if it was not pending (already fired, removed or
  // never added).
  bool remove(timer_node& node) noexcept {
    std::lock_guard guard(lock_);
    if (!pending(node)) return false;
    const std::uint32_t position = positions_[node.handle];
    if ((position & in_run) != 0) {
      remove_from_run(position & ~in_run);
    } else {
      erase_at(position);
    }
    publish_earliest();
    return true;
  }

  // clear: empties the heap at the end of a run, calling each remaining entry's `drop`. Collects
  // the entries of the run first, which allocates: may throw std::bad_alloc.
  void clear() {
    std::vector<entry> left;
    {
      std::lock_guard guard(lock_);
      left.swap(heap_);
      for (; !run_empty(); ++run_head_) {
        if (const entry& e = run_[slot(run_head_)]; e.fire != nullptr) left.push_back(e);
      }
      run_tombstones_ = 0;
      for (const entry& e : left) release_handle(e.handle);
      publish_earliest();
    }
    for (const entry& e : left) {
      if (e.drop != nullptr) e.drop(e.arg);
    }
  }

  // earliest: the earliest deadline in nanoseconds of steady_clock, or `none` (a racy hint).
  std::int64_t earliest() const noexcept { return earliest_.load(std::memory_order_seq_cst); }

  // empty: whether no timer is pending (a racy hint, like earliest()).
  bool empty() const noexcept { return earliest() == none; }

  // run_expired: fires every entry whose deadline is at or before `now`. Returns how many fired.
  // With `skip_if_busy` it returns 0 at once while another thread holds the heap: that one is
  // adding an entry or already firing the expired ones, and a worker comes back at its next
  // schedule anyway (the poller, at once: the earliest deadline has passed). Two workers then
  // do not queue up on the lock to fire one batch.
  std::size_t run_expired(clock::time_point now, bool skip_if_busy = false) {
    std::size_t fired = 0;
    for (;;) {
      std::array<entry, 32> batch;
      std::size_t n = pop_expired(to_nanoseconds(now), batch, skip_if_busy && fired == 0);
      // The arguments (e.g. the parkers of sleeping goroutines) are cold: load them together.
      for (std::size_t i = 0; i < n; ++i) prefetch_for_write(batch[i].arg);
      for (std::size_t i = 0; i < n; ++i) batch[i].fire(batch[i].arg, batch[i].seq);
      fired += n;
      if (n < batch.size()) return fired;
    }
  }

 private:
  struct entry {
    std::int64_t when;  // nanoseconds of steady_clock
    std::uint64_t seq;
    void (*fire)(void*, std::uint64_t);  // nullptr: a tombstone of the run
    void (*drop)(void*);
    void* arg;
    std::uint32_t handle;
  };

  // The tag of positions_ values that index run_ rather than heap_.
  static constexpr std::uint32_t in_run = std::uint32_t{1} << 31;
  static constexpr std::size_t initial_capacity = 64;      // of the ring, heap and handle tables
  static constexpr std::size_t compaction_threshold = 64;  // fewer tombstones never compact

  bool pending(const timer_node& node) const noexcept {
    return node.generation != 0 && node.handle < generations_.size() &&
           generations_[node.handle] == node.generation;
  }

  // make_room: grows what adding one entry needs, so that the adding cannot throw (an entry whose
  // handle was taken but that was never placed would look pending forever). The handle tables
  // grow together, and free_handles_ with them, so that releasing a handle never allocates:
  // removals and expiries are noexcept.
  void make_room(bool to_run) {
    if (to_run) {
      if (run_tail_ - run_head_ == run_.size()) {
        relayout_run(std::max(initial_capacity, 2 * run_.size()));
      }
    } else if (heap_.size() == heap_.capacity()) {
      heap_.reserve(std::max(initial_capacity, 2 * heap_.size()));
    }
    if (free_handles_.empty()) {
      // A new handle: each table must have room for it, checked one by one, since a reserve
      // that threw may have grown the tables before it and not the ones after.
      const std::size_t handles = positions_.size() + 1;
      const std::size_t grown = std::max(initial_capacity, 2 * positions_.size());
      reserve_for(positions_, handles, grown);
      reserve_for(generations_, handles, grown);
      reserve_for(free_handles_, handles, grown);
    }
  }

  static void reserve_for(std::vector<std::uint32_t>& table, std::size_t size, std::size_t grown) {
    if (table.capacity() < size) table.reserve(grown);
  }

  std::uint32_t acquire_handle() {
    if (!free_handles_.empty()) {
      const std::uint32_t h = free_handles_.back();
      free_handles_.pop_back();
      return h;
    }
    positions_.push_back(0);
    generations_.push_back(1);
    return static_cast<std::uint32_t>(positions_.size() - 1);
  }

  void release_handle(std::uint32_t h) {
    // Generation 0 is reserved for "never added".
    generations_[h] = generations_[h] + 1 == 0 ? 1 : generations_[h] + 1;
    free_handles_.push_back(h);
  }

  std::size_t pop_expired(std::int64_t now_ns, std::array<entry, 32>& out, bool skip_if_busy) {
    std::unique_lock guard(lock_, std::defer_lock);
    if (!skip_if_busy) {
      guard.lock();
    } else if (!guard.try_lock()) {
      return 0;
    }
    std::size_t n = 0;
    while (n < out.size()) {
      const bool heap_due = !heap_.empty() && heap_[0].when <= now_ns;
      const bool run_due = !run_empty() && run_front().when <= now_ns;
      if (run_due && (!heap_due || run_front().when <= heap_[0].when)) {
        out[n++] = run_front();
        pop_run_front();
      } else if (heap_due) {
        out[n++] = heap_[0];
        erase_at(0);
      } else {
        break;
      }
    }
    publish_earliest();
    return n;
  }

  // --- the heap -------------------------------------------------------------------------

  void erase_at(std::size_t i) {
    release_handle(heap_[i].handle);
    const entry last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    place(i, last);
    sift_up(sift_down(i));
  }

  void place(std::size_t i, const entry& e) noexcept {
    heap_[i] = e;
    positions_[e.handle] = static_cast<std::uint32_t>(i);
  }

  // sift_up: moves the entry at i towards the root; returns where it ends.
  std::size_t sift_up(std::size_t i) noexcept {
    const entry moving = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 4;
      if (heap_[parent].when <= moving.when) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, moving);
    return i;
  }

  // sift_down: moves the entry at i towards the leaves; returns where it ends.
  std::size_t sift_down(std::size_t i) noexcept {
    const entry moving = heap_[i];
    for (;;) {
      std::size_t smallest = i;
      std::int64_t smallest_when = moving.when;
      const std::size_t first = 4 * i + 1;
      const std::size_t end = std::min(first + 4, heap_.size());
      for (std::size_t c = first; c < end; ++c) {
        if (heap_[c].when < smallest_when) {
          smallest = c;
          smallest_when = heap_[c].when;
        }
      }
      if (smallest == i) break;
      place(i, heap_[smallest]);
      i = smallest;
    }
    place(i, moving);
    return i;
  }

  // --- the run --------------------------------------------------------------------------

  bool run_empty() const noexcept { return run_head_ == run_tail_; }
  std::size_t slot(std::size_t position) const noexcept { return position & (run_.size() - 1); }
  const entry& run_front() const noexcept { return run_[slot(run_head_)]; }
  const entry& run_back() const noexcept { return run_[slot(run_tail_ - 1)]; }

  // append_to_run: requires room (make_room).
  void append_to_run(const entry& e) noexcept {
    const std::size_t k = slot(run_tail_++);
    run_[k] = e;
    positions_[e.handle] = in_run | static_cast<std::uint32_t>(k);
  }

  void pop_run_front() noexcept {
    release_handle(run_front().handle);
    ++run_head_;
    drop_tombstones_at_ends();
  }

  void remove_from_run(std::size_t k) noexcept {
    release_handle(run_[k].handle);
    run_[k].fire = nullptr;
    ++run_tombstones_;
    drop_tombstones_at_ends();
    // Compact when the tombstones outnumber the live entries: each compaction then moves no
    // more entries than removals made tombstones since the last one.
    const std::size_t live = run_tail_ - run_head_ - run_tombstones_;
    if (run_tombstones_ > compaction_threshold && run_tombstones_ > live) compact_run();
  }

  // compact_run: moves the live entries together, in order, from the front on; in place, so that
  // a removal never allocates.
  void compact_run() noexcept {
    run_tail_ = copy_live_entries(run_, run_head_);
    run_tombstones_ = 0;
  }

  // drop_tombstones_at_ends: restores "the front and back are live" (or empties the run).
  void drop_tombstones_at_ends() noexcept {
    while (!run_empty() && run_front().fire == nullptr) {
      ++run_head_;
      --run_tombstones_;
    }
    while (!run_empty() && run_back().fire == nullptr) {
      --run_tail_;
      --run_tombstones_;
    }
  }

  // relayout_run: copies the live entries, in order, to the start of a new ring of `size` slots
  // (a power of two no smaller than their count).
  void relayout_run(std::size_t size) {
    std::vector<entry> ring(size);
    const std::size_t count = copy_live_entries(ring, 0);
    run_.swap(ring);
    run_head_ = 0;
    run_tail_ = count;
    run_tombstones_ = 0;
  }

  // copy_live_entries: copies the run's live entries, in order, into the ring `to_ring` (a power
  // of two in size) from position `to` on, and points their positions there; returns the
  // position after the last. `to_ring` may be run_ itself with `to` = run_head_: the write
  // position then never passes the read position.
  std::size_t copy_live_entries(std::vector<entry>& to_ring, std::size_t to) noexcept {
    const std::size_t mask = to_ring.size() - 1;
    for (std::size_t from = run_head_; from != run_tail_; ++from) {
      const entry& e = run_[slot(from)];
      if (e.fire == nullptr) continue;
      const std::size_t k = to++ & mask;
      to_ring[k] = e;
      positions_[e.handle] = in_run | static_cast<std::uint32_t>(k);
    }
    return to;
  }

  // publish_earliest: stores the earliest deadline if it changed (then returns true). Most adds
  // and removals leave it as it was, and so do not write the line every worker reads at each
  // schedule. The store is seq_cst: the Dekker handshake of add_timer with a blocked poller.
  bool publish_earliest() noexcept {
    const std::int64_t in_heap = heap_.empty() ? none : heap_[0].when;
    const std::int64_t e = run_empty() ? in_heap : std::min(in_heap, run_front().when);
    if (earliest_.load(std::memory_order_relaxed) == e) return false;  // only we write it
    earliest_.store(e, std::memory_order_seq_cst);
    return true;
  }

  // earliest_ is read without the lock by every worker at every schedule: it has a cache line of
  // its own, apart from the lock and the vectors that every add and expiry write.
  alignas(cache_line_size) std::atomic<std::int64_t> earliest_{none};  // written under lock_
  alignas(cache_line_size) futex_mutex lock_;  // guards everything below, and the writing of
                                               // earliest_
  std::vector<entry> heap_;
  std::vector<entry> run_;    // a ring: size 0 or a power of two
  std::size_t run_head_ = 0;  // position of the front (monotonic; slot() maps it into run_)
  std::size_t run_tail_ = 0;  // one past the back
  std::size_t run_tombstones_ = 0;
  std::vector<std::uint32_t> positions_;    // handle -> index in heap_, or in_run | slot in run_
  std::vector<std::uint32_t> generations_;  // handle -> generation (0 never used)
  std::vector<std::uint32_t> free_handles_;
};

}  // namespace goro::detail
