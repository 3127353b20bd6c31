// goro/detail/timer_heap.hpp — the runtime's timers: one 4-ary min-heap shared by all workers.
//
// A timer_node lives inside whatever owns it (a sleeping goroutine's frame, a goro::timer's shared
// state, a context's deadline, a socket's deadline). add() copies what firing needs (deadline,
// callback, argument, sequence) into a heap entry; workers pop expired entries under the lock and
// call the callbacks after releasing it. The heap never dereferences a node outside add() and
// remove(), both called by the node's owner: an owner that removes its node (remove returns false
// when it already fired) may destroy it at once, and a callback racing with the removal only sees
// its copied (fire, arg, seq) — callbacks make such late calls harmless, e.g. by claiming a parker
// with a ticket that has gone stale.
//
// Sifting moves 48-byte entries in one contiguous array and records positions in a dense table
// (positions_), indexed by a handle the node keeps: no sift step touches memory of the nodes,
// which are scattered over the goroutines' stacks. A handle carries a generation so that a node
// whose entry fired (and whose handle was reused) is recognised as gone.
//
// Invariants (all guarded by lock_):
//   - positions_[heap_[i].handle] == i; a handle not in use is on free_handles_.
//   - generations_[h] changes whenever handle h is released, so a node holding (h, g) with
//     g != generations_[h] is not in the heap.
//   - heap_[parent(i)].when <= heap_[i].when.
//   - earliest_ holds heap_[0].when, or `none` when the heap is empty; it may be read without the
//     lock as a hint, and is written only when it changes.
#pragma once

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

struct timer_node {
  clock::time_point when{};
  void (*fire)(void* arg, std::uint64_t seq) = nullptr;  // called on a worker, no lock held
  void (*drop)(void* arg) = nullptr;  // optional: called for an entry still pending at run end
  void* arg = nullptr;
  std::uint64_t seq = 0;

  // Written by the heap in add(), read in remove(): which entry of the heap is this node's.
  std::uint32_t handle = 0;
  std::uint32_t generation = 0;  // 0: never added
};

class timer_heap {
 public:
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

  // add: schedules `node` (which must not be pending). Returns true if it became the earliest.
  bool add(timer_node& node) {
    std::lock_guard guard(lock_);
    const std::uint32_t handle = acquire_handle();
    node.handle = handle;
    node.generation = generations_[handle];
    heap_.push_back(entry{to_nanoseconds(node.when), node.seq, node.fire, node.drop, node.arg,
                          handle});
    sift_up(heap_.size() - 1);
    return publish_earliest() && heap_[0].handle == handle;
  }

  // remove: unschedules `node`. Returns false if it was not pending (already fired, removed or
  // never added).
  bool remove(timer_node& node) noexcept {
    std::lock_guard guard(lock_);
    if (!pending(node)) return false;
    erase_at(positions_[node.handle]);
    publish_earliest();
    return true;
  }

  // clear: empties the heap at the end of a run, calling each remaining entry's `drop`.
  void clear() noexcept {
    std::vector<entry> left;
    {
      std::lock_guard guard(lock_);
      left.swap(heap_);
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
      for (std::size_t i = 0; i < n; ++i) batch[i].fire(batch[i].arg, batch[i].seq);
      fired += n;
      if (n < batch.size()) return fired;
    }
  }

 private:
  struct entry {
    std::int64_t when;  // nanoseconds of steady_clock
    std::uint64_t seq;
    void (*fire)(void*, std::uint64_t);
    void (*drop)(void*);
    void* arg;
    std::uint32_t handle;
  };

  bool pending(const timer_node& node) const noexcept {
    return node.generation != 0 && node.handle < generations_.size() &&
           generations_[node.handle] == node.generation;
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
    while (n < out.size() && !heap_.empty() && heap_[0].when <= now_ns) {
      out[n++] = heap_[0];
      erase_at(0);
    }
    publish_earliest();
    return n;
  }

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

  // publish_earliest: stores the earliest deadline if it changed (then returns true). Most adds
  // and removals leave it as it was, and so do not write the line every worker reads at each
  // schedule. The store is seq_cst: the Dekker handshake of add_timer with a blocked poller.
  bool publish_earliest() noexcept {
    const std::int64_t e = heap_.empty() ? none : heap_[0].when;
    if (earliest_.load(std::memory_order_relaxed) == e) return false;  // only we write it
    earliest_.store(e, std::memory_order_seq_cst);
    return true;
  }

  // earliest_ is read without the lock by every worker at every schedule: it has a cache line of
  // its own, apart from the lock and the vectors that every add and expiry write.
  alignas(cache_line_size) std::atomic<std::int64_t> earliest_{none};  // written under lock_
  alignas(cache_line_size) futex_mutex lock_;  // guards heap_, positions_, generations_,
                                               // free_handles_, and the writing of earliest_
  std::vector<entry> heap_;
  std::vector<std::uint32_t> positions_;    // handle -> index in heap_
  std::vector<std::uint32_t> generations_;  // handle -> generation (0 never used)
  std::vector<std::uint32_t> free_handles_;
};

}  // namespace goro::detail
