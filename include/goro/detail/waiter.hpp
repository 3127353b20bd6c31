// goro/detail/waiter.hpp — the wake gate: parkers, waiters and wait queues.
//
// Every blocked goroutine or plain thread has one parker. Before it publishes any waiter it
// opens a new wait: begin_wait() bumps the parker's token to a new generation with the `waiting`
// bit set (generation << 2 | uninterruptible << 1 | waiting) and returns that value, the ticket.
// Whoever wants to wake it — a channel partner, a timer, a close, a netpoll event, the shutdown —
// must first win try_claim(parker, ticket), a single compare-and-swap from the ticket to ticket &
// ~1. Exactly one claimer wins per wait (Go's selectDone, generalised to every wake-up path): a
// select's losing cases, a timer that fires after the value arrived, a shutdown racing a hand-off
// all lose the CAS and back off. Tickets of an earlier wait can never win, because the generation
// only grows.
//
// Invariants:
//   - Only the parker's owner calls begin_wait; only a claimer writes parker::next_woken,
//     parker::interrupted and waiter::outcome, and only between its winning CAS and its wake().
//   - After wake() the claimer touches neither the waiter nor anything else on the woken stack.
//   - A waiter is linked in at most one wait_queue, guarded by the lock of the object that owns
//     the queue; waiter::queued says whether it is linked.
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::detail {

struct goroutine;
struct waiter;

inline constexpr std::uint64_t token_waiting = 1;
inline constexpr std::uint64_t token_uninterruptible = 2;  // the shutdown must not claim this wait

struct parker {
  std::atomic<std::uint64_t> token{0};   // generation << 2 | uninterruptible << 1 | waiting
  goroutine* g = nullptr;                // the goroutine; nullptr for a plain thread
  parker* next_woken = nullptr;          // link in the claimer's wake_list (park.hpp)
  std::atomic<std::uint32_t> wakeup{0};  // plain threads: the futex word the waker sets to 1
  bool interrupted = false;              // woken by the shutdown, not by a partner (claimer)
};

// begin_wait: opens a new wait on the caller's own parker and returns its ticket. An
// uninterruptible wait (a blocking() call) is never claimed by the shutdown. (A wait inside a
// destructor run by unwinding is opened interruptible; the shutdown passes it over because the
// goroutine has an exception in flight: scheduler::claim_for_interrupt.)
inline std::uint64_t begin_wait(parker& self, bool interruptible) noexcept {
  const std::uint64_t generation = (self.token.load(std::memory_order_relaxed) >> 2) + 1;
  const std::uint64_t ticket =
      generation << 2 | (interruptible ? 0 : token_uninterruptible) | token_waiting;
  self.interrupted = false;
  // Relaxed is enough: the ticket reaches a claimer only through a waiter published under a lock
  // (release), or through the goroutine's status (release) for the shutdown scan.
  self.token.store(ticket, std::memory_order_relaxed);
  return ticket;
}

// try_claim: wins the right to wake the wait identified by `ticket`.
inline bool try_claim(parker& p, std::uint64_t ticket) noexcept {
  std::uint64_t expected = ticket;
  return p.token.compare_exchange_strong(expected, ticket & ~token_waiting,
                                         std::memory_order_acq_rel, std::memory_order_relaxed);
}

// wake: makes the claimed owner of `p` runnable. Defined in scheduler.hpp.
void wake(parker& p);

// waiter: one blocked operation of one goroutine on one object (Go's sudog). Lives on the
// blocked goroutine's stack.
struct waiter {
  parker* owner = nullptr;
  std::uint64_t ticket = 0;
  waiter* prev = nullptr;
  waiter* next = nullptr;
  bool queued = false;
  void* slot = nullptr;       // object-specific: the value to take or the place to put one
  std::uint32_t index = 0;    // select: the case this waiter stands for
  std::uint32_t outcome = 0;  // object-specific result, written by the claimer
  std::intptr_t amount = 0;   // object-specific (a semaphore's weight, a reader/writer flag)
  bool copy = false;          // channels: the value at `slot` must be copied, not moved

  bool try_claim() noexcept { return detail::try_claim(*owner, ticket); }
};

// wait_queue: an intrusive FIFO of waiters. Not thread-safe: guarded by its owner's lock.
class wait_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  waiter* front() const noexcept { return head_; }
  // looks_empty: a hint readable without the owner's lock (select's lock-free first look).
  bool looks_empty() const noexcept { return length_.load(std::memory_order_relaxed) == 0; }

  void push_back(waiter& w) noexcept {
    w.prev = tail_;
    w.next = nullptr;
    if (tail_ != nullptr) {
      tail_->next = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
    w.queued = true;
    set_length(length_.load(std::memory_order_relaxed) + 1);
  }

  // remove: unlinks `w` if it is still linked (a claimer may have unlinked it already).
  void remove(waiter& w) noexcept {
    if (!w.queued) return;
    (w.prev != nullptr ? w.prev->next : head_) = w.next;
    (w.next != nullptr ? w.next->prev : tail_) = w.prev;
    w.prev = w.next = nullptr;
    w.queued = false;
    set_length(length_.load(std::memory_order_relaxed) - 1);
  }

  // dequeue_claimed: unlinks waiters from the front until one is claimed for the caller, and
  // returns it; waiters whose owner was already claimed elsewhere are dropped on the way.
  waiter* dequeue_claimed() noexcept {
    while (waiter* w = head_) {
      remove(*w);
      if (w->try_claim()) return w;
    }
    return nullptr;
  }

  // for_each: visits every linked waiter; `fn` may unlink the one it is given.
  template <class F>
  void for_each(F&& fn) {
    for (waiter* w = head_; w != nullptr;) {
      waiter* next = w->next;
      fn(*w);
      w = next;
    }
  }

 private:
  void set_length(std::uint32_t n) noexcept { length_.store(n, std::memory_order_relaxed); }

  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
  std::atomic<std::uint32_t> length_{0};  // linked waiters; written under the owner's lock
};

}  // namespace goro::detail
