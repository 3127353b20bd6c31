// goro/detail/blocking_pool.hpp — the helper threads of goro::blocking().
//
// A goroutine that calls blocking(fn) parks (uninterruptibly) and hands fn to a helper thread;
// the worker goes on running other goroutines. When fn returns the helper claims the goroutine's
// wait and wakes it. Helpers are created on demand, kept while they have work, and exit after
// idle_timeout without any. A helper that has exited is joined by the next reserve() (a thread
// that has ended but is not joined keeps its stack mapped, so a long run whose bursts of blocking
// calls are further apart than idle_timeout would otherwise pile up dead threads' stacks);
// shutdown() joins the rest.
//
// Invariants:
//   - A helper is either on idle_ (waiting on its futex word for a job), reserved (taken off
//     idle_ by reserve(), its job not handed over yet), running one job, or exited (it has left
//     idle_ for good and is about to return, or has returned) and still in all_ until joined;
//     exited_ counts the last kind.
//   - The job's callable and the parker belong to the parked goroutine's frame, which stays alive
//     until the helper's wake(); the helper touches neither afterwards.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
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

  explicit blocking_pool(std::chrono::nanoseconds idle_timeout = std::chrono::seconds(10)) noexcept
      : idle_timeout_(idle_timeout) {}
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;
  ~blocking_pool() { shutdown(); }

  // helper: one thread of the pool.
  struct helper {
    std::thread thread;
    std::atomic<std::uint32_t> signal{0};  // bumped for every job and for shutdown
    job work;                              // written by its reserver before signal is bumped
    bool exited = false;                   // guarded by lock_
  };

  // reserve: takes an idle helper, or starts a new one, for the job that submit() hands it next.
  // Called by the goroutine before it parks, so that a thread the system refuses
  // (std::system_error, e.g. RLIMIT_NPROC) is reported while the goroutine can still run the
  // call itself: once parked, it could not be readied by the worker that is parking it. Joins
  // the helpers that have exited since the last reserve, once the lock is released.
  helper* reserve() {
    joiner exited;  // declared before the lock's guard: joins after it unlocks, even on a throw
    std::lock_guard guard(lock_);
    if (exited_ > 0) take_exited(exited.helpers);
    if (!idle_.empty()) {
      helper* h = idle_.back();
      idle_.pop_back();
      return h;
    }
    all_.reserve(all_.size() + 1);  // the push_back below cannot throw once the thread runs
    // Room for every helper on the idle list: a helper puts itself back there after each call,
    // on its own thread, where nobody could take an exception (helper_main).
    if (idle_.capacity() < all_.size() + 1) {
      idle_.reserve(std::max(all_.size() + 1, 2 * idle_.capacity()));
    }
    auto fresh = std::make_unique<helper>();
    helper* h = fresh.get();
    h->thread = std::thread([this, h] { helper_main(*h); });  // may throw: nothing changed yet
    all_.push_back(std::move(fresh));
    return h;
  }

  // submit: runs `j` on `h`, a helper reserve() returned. Never fails. A reserved helper is
  // the caller's alone: its work needs no lock, the release of the signal publishes it.
  void submit(helper* h, const job& j) noexcept {
    h->work = j;
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
      exited_ = 0;
    }
    for (auto& h : helpers) {
      h->signal.fetch_add(1, std::memory_order_release);
      futex_wake(h->signal, 1);
    }
    for (auto& h : helpers) {
      if (h->thread.joinable()) h->thread.join();
    }
  }

  // threads: the helper threads not joined yet, exited ones included (for tests).
  std::size_t threads() {
    std::lock_guard guard(lock_);
    return all_.size();
  }

  // exited_threads: the helper threads that have exited and are not joined yet (for tests).
  std::size_t exited_threads() {
    std::lock_guard guard(lock_);
    return exited_;
  }

 private:
  // joiner: helpers taken out of all_ after they exited, joined when it goes out of scope.
  struct joiner {
    std::vector<std::unique_ptr<helper>> helpers;
    joiner() = default;
    joiner(const joiner&) = delete;
    joiner& operator=(const joiner&) = delete;
    ~joiner() {
      for (auto& h : helpers) h->thread.join();
    }
  };

  // take_exited: moves the exited helpers from all_ to `out`. Requires lock_. The only
  // allocation comes first, so that a throw leaves all_ as it was.
  void take_exited(std::vector<std::unique_ptr<helper>>& out) {
    out.reserve(exited_);
    const auto kept = std::partition(all_.begin(), all_.end(),
                                     [](const std::unique_ptr<helper>& h) { return !h->exited; });
    std::move(kept, all_.end(), std::back_inserter(out));
    all_.erase(kept, all_.end());
    exited_ = 0;
  }

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
      idle_.push_back(&h);  // within the room reserve() made
    }
  }

  // Waits until `h.signal` moves past `seen`; false when the helper should exit.
  bool wait_for_signal(helper& h, std::uint32_t& seen) {
    const auto deadline = std::chrono::steady_clock::now() + idle_timeout_;
    while (h.signal.load(std::memory_order_acquire) == seen) {
      const std::chrono::nanoseconds left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero() && retire(h)) return false;
      // Sleep until the deadline, a second at most (and a second once it has passed: a
      // reserver has just picked this helper and is about to signal it).
      const std::chrono::nanoseconds nap =
          left > std::chrono::nanoseconds::zero()
              ? std::min<std::chrono::nanoseconds>(left, std::chrono::seconds(1))
              : std::chrono::seconds(1);
      const timespec ts = to_timespec(nap);
      futex_wait(h.signal, seen, &ts);
    }
    seen = h.signal.load(std::memory_order_acquire);
    return true;
  }

  // retire: leaves the pool if still idle (a reserver may have just picked this helper).
  bool retire(helper& h) {
    std::lock_guard guard(lock_);
    auto it = std::find(idle_.begin(), idle_.end(), &h);
    if (it == idle_.end()) return stopping_;
    idle_.erase(it);
    h.exited = true;
    ++exited_;
    return true;
  }

  const std::chrono::nanoseconds idle_timeout_;  // how long a helper waits for a job, then exits
  futex_mutex lock_;  // guards idle_, all_, exited_, stopping_ and each helper's `exited`
  std::vector<helper*> idle_;
  std::vector<std::unique_ptr<helper>> all_;
  std::size_t exited_ = 0;  // helpers of all_ that have exited and are not joined yet
  bool stopping_ = false;
};

}  // namespace goro::detail
