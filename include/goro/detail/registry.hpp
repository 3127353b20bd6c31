// goro/detail/registry.hpp — every goroutine record of a run, and the free list between them.
//
// Records are allocated in chunks of chunk_size and never freed before the run ends, so pointers
// to them stay valid (see goroutine.hpp). The chunk directory is append-only: for_each() reads it
// without a lock and visits every record, free or not.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "goroutine.hpp"
#include "run_queue.hpp"
#include "spinlock.hpp"

namespace goro::detail {

class goroutine_registry {
 public:
  static constexpr std::size_t chunk_size = 1024;
  static constexpr std::size_t max_chunks = 1 << 16;  // 67 million records

  goroutine_registry() : chunks_(new std::atomic<goroutine*>[max_chunks]) {}
  goroutine_registry(const goroutine_registry&) = delete;
  goroutine_registry& operator=(const goroutine_registry&) = delete;
  ~goroutine_registry() {
    const std::size_t n = chunk_count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
  }

  // allocate: appends up to `count` free records (at least one) to `out`.
  void allocate(std::vector<goroutine*>& out, std::size_t count) {
    std::lock_guard guard(lock_);
    if (free_.empty()) add_chunk();
    for (; count > 0 && !free_.empty(); --count) out.push_back(free_.pop_front());
  }

  void release(goroutine* const* records, std::size_t count) noexcept {
    std::lock_guard guard(lock_);
    for (std::size_t i = 0; i < count; ++i) free_.push_back(records[i]);
  }

  // for_each: visits every record ever allocated in this run.
  template <class F>
  void for_each(F&& fn) const {
    const std::size_t n = chunk_count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
      goroutine* chunk = chunks_[i].load(std::memory_order_acquire);
      for (std::size_t j = 0; j < chunk_size; ++j) fn(chunk[j]);
    }
  }

 private:
  void add_chunk() {
    const std::size_t n = chunk_count_.load(std::memory_order_relaxed);
    if (n == max_chunks) throw error("goro::go: too many goroutines");
    auto* chunk = new goroutine[chunk_size];
    for (std::size_t j = 0; j < chunk_size; ++j) {
      chunk[j].park.g = &chunk[j];
      free_.push_back(&chunk[j]);
    }
    chunks_[n].store(chunk, std::memory_order_release);
    chunk_count_.store(n + 1, std::memory_order_release);
  }

  futex_mutex lock_;  // guards free_ and the growth of the directory
  goroutine_list free_;
  std::unique_ptr<std::atomic<goroutine*>[]> chunks_;
  std::atomic<std::size_t> chunk_count_{0};
};

}  // namespace goro::detail
