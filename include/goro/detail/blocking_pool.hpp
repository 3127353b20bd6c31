// goro/detail/blocking_pool.hpp — the helper threads of goro::blocking().
//
// A goroutine that calls blocking(fn) parks (uninterruptibly) and hands fn to a helper thread;
// the worker goes on running other goroutines. When fn returns the helper claims the goroutine's
// wait and wakes it. Helpers are created on demand, kept while they have work, and exit after
// idle_timeout without any; shutdown() joins them all.
//
// Invariants:
//   - A helper is either on idle_ (waiting on its futex word for a job) or running one job.
//   - The job's callable and the parker belong to the parked goroutine's frame, which stays alive
//     until the helper's wake(); the helper touches neither afterwards.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "callable.hpp"
#include "futex.hpp"
#include "spinlock.hpp"
#include "thread_state.hpp"
#include "waiter.hpp"

namespace goro::detail {

class blocking_pool {
 public:
  struct job {
    function_ref<void()>* fn = nullptr;
    parker* owner = nullptr;
    std::uint64_t ticket = 0;
    // finished(context): called once the owner is awake (the scheduler drops its count of
    // blocking calls, and re-checks for a deadlock if that count was all that held it off).
    void (*finished)(void* context) noexcept = nullptr;
    void* context = nullptr;
  };

  blocking_pool() = default;
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;
  ~blocking_pool() { shutdown(); }

  // submit: runs `j` on an idle helper, or on a new one.
  void submit(const job& j) {
    std::unique_lock guard(lock_);
    helper* h = nullptr;
    if (!idle_.empty()) {
      h = idle_.back();
      idle_.pop_back();
    } else {
      all_.push_back(std::make_unique<helper>());
      h = all_.back().get();
      h->thread = std::thread([this, h] { helper_main(*h); });
    }
    h->work = j;
    guard.unlock();
    h->signal.fetch_add(1, std::memory_order_release);
    futex_wake(h->signal, 1);
  }

  // shutdown: asks every helper to exit and joins them. No job may be running.
  void shutdown() noexcept {
    std::vector<std::unique_ptr<helper>> helpers;
    {
      std::lock_guard guard(lock_);
      stopping_ = true;
      helpers.swap(all_);
      idle_.clear();
    }
    for (auto& h : helpers) {
      h->signal.fetch_add(1, std::memory_order_release);
      futex_wake(h->signal, 1);
    }
    for (auto& h : helpers) {
      if (h->thread.joinable()) h->thread.join();
    }
  }

 private:
  static constexpr auto idle_timeout = std::chrono::seconds(10);

  struct helper {
    std::thread thread;
    std::atomic<std::uint32_t> signal{0};  // bumped for every job and for shutdown
    job work;                              // guarded by lock_ until signal is bumped
    bool exited = false;                   // guarded by lock_
  };

  void helper_main(helper& h) {
    this_thread().role = thread_role::helper;
    std::uint32_t seen = 0;
    for (;;) {
      if (!wait_for_signal(h, seen)) return;
      job j;
      {
        std::lock_guard guard(lock_);
        if (stopping_) return;
        j = h.work;
      }
      (*j.fn)();
      if (try_claim(*j.owner, j.ticket)) wake(*j.owner);
      j.finished(j.context);
      std::lock_guard guard(lock_);
      if (stopping_) return;
      idle_.push_back(&h);
    }
  }

  // Waits until `h.signal` moves past `seen`; false when the helper should exit.
  bool wait_for_signal(helper& h, std::uint32_t& seen) {
    const auto deadline = std::chrono::steady_clock::now() + idle_timeout;
    while (h.signal.load(std::memory_order_acquire) == seen) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero() && retire(h)) return false;
      timespec ts{1, 0};
      futex_wait(h.signal, seen, &ts);
    }
    seen = h.signal.load(std::memory_order_acquire);
    return true;
  }

  // retire: leaves the pool if still idle (a submitter may have just picked this helper).
  bool retire(helper& h) {
    std::lock_guard guard(lock_);
    auto it = std::find(idle_.begin(), idle_.end(), &h);
    if (it == idle_.end()) return stopping_;
    idle_.erase(it);
    h.exited = true;
    return true;
  }

  futex_mutex lock_;  // guards idle_, all_, stopping_ and each helper's work/exited
  std::vector<helper*> idle_;
  std::vector<std::unique_ptr<helper>> all_;
  bool stopping_ = false;
};

}  // namespace goro::detail
