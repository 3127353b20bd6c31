// goro/detail/registry.hpp — every goroutine record of a run, and the free list between them.
//
// Records are allocated in chunks of chunk_size and never freed before the run ends, so pointers
// to them stay valid (see goroutine.hpp). The chunk directory is append-only: for_each() reads it
// without a lock and visits every record, free or not.
#pragma once

#include <algorithm>
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
    if (kept_) {
      // Records abandoned goroutines left in use, reachable from here for good (so that leak
      // checkers do not count them).
      static auto* const kept = new std::vector<std::unique_ptr<std::atomic<goroutine*>[]>>;
      kept->push_back(std::move(chunks_));
      return;
    }
    const std::size_t n = chunk_count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
  }

  // keep_forever: the records outlive the registry (they are never freed). For a run that ends
  // with goroutines abandoned in a wait: the objects they waited on still hold their waiters,
  // which the next operation on such an object reads, down to the owner's parker in its record.
  void keep_forever() noexcept { kept_ = true; }

  // allocate: appends up to `count` free records (at least one) to `out`.
  void allocate(std::vector<goroutine*>& out, std::size_t count) {
    std::lock_guard guard(lock_);
    if (free_.empty()) add_chunk();
    // Most recently released first (still warm in some cache). Only pointers are copied: the
    // records themselves are not touched under the lock.
    const std::size_t n = std::min(count, free_.size());
    out.insert(out.end(), free_.end() - static_cast<std::ptrdiff_t>(n), free_.end());
    free_.resize(free_.size() - n);
  }

  void release(goroutine* const* records, std::size_t count) noexcept {
    std::lock_guard guard(lock_);
    free_.insert(free_.end(), records, records + count);
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
    // Room for every record of the run, so release() (noexcept) never allocates.
    const std::size_t records = (n + 1) * chunk_size;
    if (free_.capacity() < records) free_.reserve(std::max(records, 2 * free_.capacity()));
    auto* chunk = new goroutine[chunk_size];
    for (std::size_t j = chunk_size; j-- > 0;) {  // handed out in address order
      chunk[j].park.g = &chunk[j];
      free_.push_back(&chunk[j]);
    }
    chunks_[n].store(chunk, std::memory_order_release);
    chunk_count_.store(n + 1, std::memory_order_release);
  }

  futex_mutex lock_;              // guards free_ and the growth of the directory
  std::vector<goroutine*> free_;  // an array, not a list through the records: moving a batch
                                  // copies pointers instead of chasing them record by record
  std::unique_ptr<std::atomic<goroutine*>[]> chunks_;
  std::atomic<std::size_t> chunk_count_{0};
  bool kept_ = false;  // keep_forever was called (by the run's last thread)
};

}  // namespace goro::detail
