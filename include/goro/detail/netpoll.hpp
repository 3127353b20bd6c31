// goro/detail/netpoll.hpp — the runtime's epoll instance (Go's netpoll_epoll.go).
//
// One epoll set per run holds: an eventfd that any thread writes to wake the worker blocked in
// epoll_wait (interrupt), a timerfd armed to the earliest timer while a worker blocks (epoll_wait
// itself only has millisecond resolution), and every socket of goro::net, registered once,
// edge-triggered, with epoll_event::data.ptr pointing at its io_descriptor.
//
// At most one worker blocks in poll() at a time (the scheduler's "poller"); any worker may poll
// without blocking.
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <system_error>

#include "callable.hpp"
#include "timer_heap.hpp"

namespace goro::detail {

// io_descriptor: what a socket registers; on_event runs on a worker's scheduler context with the
// epoll event bits, and wakes the goroutines waiting on the socket.
struct io_descriptor {
  void (*on_event)(io_descriptor* self, std::uint32_t events) = nullptr;
};

class netpoll {
 public:
  netpoll() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (epoll_fd_ < 0 || event_fd_ < 0 || timer_fd_ < 0) {
      int err = errno;
      close_all();
      throw std::system_error(err, std::generic_category(),
                              "goro::run: cannot create the netpoller");
    }
    add_internal(event_fd_, &event_marker_);
    add_internal(timer_fd_, &timer_marker_);
  }
  netpoll(const netpoll&) = delete;
  netpoll& operator=(const netpoll&) = delete;
  ~netpoll() { close_all(); }

  int epoll_fd() const noexcept { return epoll_fd_; }

  using event_buffer = std::array<epoll_event, 128>;

  // wait: collects the sockets' ready events into `out` and returns how many, blocking until
  // `deadline_ns` (steady_clock nanoseconds; timer_heap::none: no deadline) if `block`. The
  // blocking caller drains the eventfd and timerfd here, while it is still the only poller:
  // draining later could consume an expiry armed by the next poller.
  int wait(event_buffer& out, bool block, std::int64_t deadline_ns) {
    if (block) arm_timer(deadline_ns);
    int n = epoll_wait(epoll_fd_, out.data(), static_cast<int>(out.size()), block ? -1 : 0);
    int sockets = 0;
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = out[static_cast<std::size_t>(i)];
      if (ev.data.ptr == &event_marker_ || ev.data.ptr == &timer_marker_) {
        // Level-triggered: a non-blocking poll leaves them for the blocked poller.
        if (block) drain_internal(ev.data.ptr);
      } else {
        out[static_cast<std::size_t>(sockets++)] = ev;
      }
    }
    return sockets;
  }

  // dispatch: hands the events of a wait() to their sockets.
  void dispatch(const event_buffer& events, int n) {
    for (int i = 0; i < n; ++i) {
      auto* d = static_cast<io_descriptor*>(events[static_cast<std::size_t>(i)].data.ptr);
      d->on_event(d, events[static_cast<std::size_t>(i)].events);
    }
  }

  // interrupt: makes a blocked (or the next) poll() return. Coalesced: one write per poll.
  void interrupt() noexcept {
    if (interrupt_pending_.exchange(true, std::memory_order_acq_rel)) return;
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(event_fd_, &one, sizeof one);
  }

  // waiters: goroutines parked on sockets (for deadlock detection and opportunistic polling).
  std::atomic<std::int64_t> waiters{0};

 private:
  void add_internal(int fd, void* marker) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = marker;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }

  void drain_internal(const void* marker) noexcept {
    if (marker == &event_marker_) {
      // Read, then clear the flag with an exchange. An interrupt() that found the flag still set
      // (and did not write) is absorbed by this wake-up, and the exchange synchronises with it,
      // so this poller sees whatever it published; an interrupt() after the exchange writes.
      std::uint64_t count;
      [[maybe_unused]] ssize_t r = ::read(event_fd_, &count, sizeof count);
      interrupt_pending_.exchange(false, std::memory_order_acq_rel);
    } else {
      std::uint64_t expirations;
      [[maybe_unused]] ssize_t r = ::read(timer_fd_, &expirations, sizeof expirations);
      armed_ns_ = 0;
    }
  }

  void arm_timer(std::int64_t deadline_ns) noexcept {
    if (deadline_ns == armed_ns_) return;
    itimerspec spec{};
    if (deadline_ns != timer_heap::none) {
      std::int64_t ns = deadline_ns > 0 ? deadline_ns : 1;
      spec.it_value.tv_sec = ns / 1'000'000'000;
      spec.it_value.tv_nsec = ns % 1'000'000'000;
    }
    timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
    armed_ns_ = deadline_ns;
  }

  void close_all() noexcept {
    for (int fd : {timer_fd_, event_fd_, epoll_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  int epoll_fd_ = -1;
  int event_fd_ = -1;
  int timer_fd_ = -1;
  std::int64_t armed_ns_ = timer_heap::none;  // owned by the blocking poller
  std::atomic<bool> interrupt_pending_{false};
  char event_marker_ = 0;
  char timer_marker_ = 0;
};

}  // namespace goro::detail
