// goro/detail/timer_heap.hpp — the runtime's timers: one 4-ary min-heap shared by all workers.
//
// A timer_node lives inside whatever owns it (a sleeping goroutine's frame, a goro::timer's shared
// state, a context's deadline). Workers pop expired nodes under the heap lock, copy the node's
// callback and arguments, and call them after releasing the lock; from the moment a node leaves
// the heap the runtime never touches it again. So an owner that removes its node (remove returns
// false when the node already fired) may destroy it at once; a callback that raced with the
// removal only sees its copied (fire, arg, seq) — callbacks make such late calls harmless, e.g.
// by claiming a parker with a ticket that has gone stale.
//
// Invariants (all guarded by lock_):
//   - heap_[i]->index == i for every node in the heap; index == npos for every node outside it.
//   - heap_[parent(i)]->when <= heap_[i]->when.
//   - earliest_ holds heap_[0]->when in nanoseconds, or max when the heap is empty; it may be
//     read without the lock as a hint.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "spinlock.hpp"

namespace goro::detail {

using clock = std::chrono::steady_clock;

inline std::int64_t to_nanoseconds(clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct timer_node {
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

  clock::time_point when{};
  void (*fire)(void* arg, std::uint64_t seq) = nullptr;  // called on a worker, no lock held
  void (*drop)(void* arg) = nullptr;  // optional: called for a node still pending when the run ends
  void* arg = nullptr;
  std::uint64_t seq = 0;
  std::size_t index = npos;  // guarded by the heap's lock
};

class timer_heap {
 public:
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

  // add: schedules `node` (which must not be in the heap). Returns true if it became the earliest.
  bool add(timer_node& node) {
    std::lock_guard guard(lock_);
    node.index = heap_.size();
    heap_.push_back(&node);
    sift_up(node.index);
    return publish_earliest() && heap_[0] == &node;
  }

  // remove: unschedules `node`. Returns false if it was not in the heap (already fired or never
  // added).
  bool remove(timer_node& node) noexcept {
    std::lock_guard guard(lock_);
    if (node.index == timer_node::npos) return false;
    erase_at(node.index);
    publish_earliest();
    return true;
  }

  // clear: empties the heap at the end of a run, calling each remaining node's `drop`.
  void clear() noexcept {
    std::vector<timer_node> left;
    {
      std::lock_guard guard(lock_);
      for (timer_node* node : heap_) {
        node->index = timer_node::npos;
        left.push_back(*node);
      }
      heap_.clear();
      publish_earliest();
    }
    for (const timer_node& node : left) {
      if (node.drop != nullptr) node.drop(node.arg);
    }
  }

  // earliest: the earliest deadline in nanoseconds of steady_clock, or `none` (a racy hint).
  std::int64_t earliest() const noexcept { return earliest_.load(std::memory_order_seq_cst); }

  std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }

  // run_expired: fires every node whose deadline is at or before `now`. Returns how many fired.
  std::size_t run_expired(clock::time_point now) {
    std::size_t fired = 0;
    for (;;) {
      std::array<timer_node, 32> batch;
      std::size_t n = pop_expired(now, batch);
      for (std::size_t i = 0; i < n; ++i) batch[i].fire(batch[i].arg, batch[i].seq);
      fired += n;
      if (n < batch.size()) return fired;
    }
  }

 private:
  std::size_t pop_expired(clock::time_point now, std::array<timer_node, 32>& out) {
    std::lock_guard guard(lock_);
    std::size_t n = 0;
    while (n < out.size() && !heap_.empty() && heap_[0]->when <= now) {
      timer_node* node = heap_[0];
      out[n++] = *node;
      erase_at(0);
    }
    publish_earliest();
    return n;
  }

  void erase_at(std::size_t i) noexcept {
    heap_[i]->index = timer_node::npos;
    timer_node* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    heap_[i] = last;
    last->index = i;
    sift_down(i);
    sift_up(last->index);
  }

  void sift_up(std::size_t i) noexcept {
    while (i > 0) {
      std::size_t parent = (i - 1) / 4;
      if (heap_[parent]->when <= heap_[i]->when) return;
      swap_nodes(i, parent);
      i = parent;
    }
  }

  void sift_down(std::size_t i) noexcept {
    for (;;) {
      std::size_t smallest = i;
      for (std::size_t c = 4 * i + 1; c <= 4 * i + 4 && c < heap_.size(); ++c) {
        if (heap_[c]->when < heap_[smallest]->when) smallest = c;
      }
      if (smallest == i) return;
      swap_nodes(i, smallest);
      i = smallest;
    }
  }

  void swap_nodes(std::size_t a, std::size_t b) noexcept {
    std::swap(heap_[a], heap_[b]);
    heap_[a]->index = a;
    heap_[b]->index = b;
  }

  // Returns true if the earliest deadline changed.
  bool publish_earliest() noexcept {
    std::int64_t e = heap_.empty() ? none : to_nanoseconds(heap_[0]->when);
    size_.store(heap_.size(), std::memory_order_release);
    return earliest_.exchange(e, std::memory_order_seq_cst) != e;
  }

  futex_mutex lock_;  // guards heap_ and every node's index
  std::vector<timer_node*> heap_;
  std::atomic<std::int64_t> earliest_{none};
  std::atomic<std::size_t> size_{0};
};

}  // namespace goro::detail
