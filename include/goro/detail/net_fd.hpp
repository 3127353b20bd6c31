// goro/detail/net_fd.hpp — the poll descriptor of a goro::net socket (Go's runtime pollDesc
// together with the reference count of internal/poll.FD) and the loops of its operations.
//
// A socket is non-blocking and owned by one poll_descriptor. An operation tries its syscall; on
// EAGAIN a goroutine parks on the descriptor (wait_reason::io) until the runtime's epoll set
// reports the socket ready, its direction's deadline passes or it is closed; a plain thread, whose
// wait must not depend on a run that may end under it, blocks in ppoll(2) instead. Every wake-up
// means "look again": the woken operation re-checks, in this order, closed, its direction's
// deadline and its syscall.
//
// Deadlines (Go's pollDesc rd and wd): each direction has its own. Read and accept obey the read
// deadline; write and connect the write deadline. Go's SetDeadline sets both, SetReadDeadline and
// SetWriteDeadline one each (conn::set_read_deadline...); a listener's deadline sets both, of
// which accept reads only the read one. dial sets both (its context's deadline, and dial_watch's
// "long ago" on cancellation) and clears both before the conn is handed out.
//
// Registration: the first goroutine that has to wait on a socket during a run adds it to that
// run's epoll set (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, data.ptr = the descriptor) and records the
// run id; a socket that outlives its run is added to the next run's set the same way (the old set
// died with its run).
//
// Lost readiness (Go's pdReady): each direction (read: data, EOF, a connection to accept; write:
// buffer space, a finished connect) has a sequence that every epoll event for it increments under
// lock_. An operation loads the sequence before its syscall and, after EAGAIN, parks only if the
// sequence is still the same under lock_; an edge that came between the syscall and the park has
// changed it, and the operation retries instead of sleeping through it.
//
// The gate (docs/architecture.md: every wake-up goes through one gate): a parked goroutine is a
// waiter in its direction's queue with a timer of its own for that direction's deadline.
// Readiness (dispatch), close and set_deadline unlink waiters under lock_ and wake those whose
// claim they win, writing waiter::outcome = 1 first; the timer claims through the parker with the
// wait's ticket (time.hpp's wake_parker) and never touches the waiter; the shutdown claims it too.
// A woken waiter whose outcome is still 0 was claimed by the timer or the shutdown and may still be
// linked: it unlinks itself under lock_. Readiness wakes every waiter of its direction (several
// goroutines may accept on one listener); writers are serialised by write_lock_ first, so that one
// write's bytes are never interleaved with another's.
//
// set_deadline wakes only the waiters (goroutines and threads) of the direction(s) whose deadline
// it sets — a read deadline never disturbs a blocked write — and close wakes every waiter.
//
// Plain threads: a thread links a thread_waiter (its own eventfd and its direction) into threads_
// and ppolls the socket and the eventfd, with its direction's deadline as the timeout; close, and
// set_deadline of the thread's direction, write to the eventfd of the linked threads concerned.
//
// Lifetime (state_): the owner (a conn or listener) holds the descriptor until release(); each
// operation in flight holds a count. close() sets closing and kicks every waiter; the fd is
// closed by whoever brings the count to zero while closing (close() itself when nothing is in
// flight), so no syscall ever runs on a closed, possibly reused, fd number. The descriptor goes
// back to the pool once its fd is closed and its owner has released it. Pool memory is never freed
// (Go's pollcache): a worker may hand an event collected before a close to a descriptor that was
// recycled since; that only bumps a sequence and wakes waiters, who retry — spurious readiness is
// harmless. So closing a socket while other goroutines or threads operate on it is safe; destroying
// its owner (the conn object) while they do is, as for any C++ object, not.
//
// Invariants:
//   - lock_ guards both wait queues, the plain-thread waiter list, every change of a sequence, of
//     a direction's deadline and of run_. It is never held across a park or a blocking syscall.
//   - An operation reads only its own direction's deadline (check, wait_goroutine, wait_thread),
//     and a waiter parked in a direction is woken by every change of that direction's deadline.
//   - The fd is closed exactly once; the descriptor is recycled exactly once per use, after that.
//   - netpoll::waiters counts exactly the goroutines between "about to park on a socket" and
//     "resumed", so deadlock detection (API 1.3) never fires while one waits on a socket.
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <span>
#include <vector>

#include "../sync.hpp"
#include "../time.hpp"
#include "futex.hpp"
#include "net_address.hpp"
#include "netpoll.hpp"
#include "park.hpp"
#include "scheduler.hpp"
#include "spinlock.hpp"
#include "timer_heap.hpp"
#include "waiter.hpp"

namespace goro::detail {

// last_errno: errno of the calling thread, read afresh. glibc declares __errno_location const, so
// a compiler may keep errno's address across a park — after which the goroutine may run on
// another thread (docs/architecture.md: thread-local state is a hazard). The barrier makes this
// call opaque.
[[gnu::noinline]] inline int last_errno() noexcept {
  compiler_barrier();
  return errno;
}

// io_status: how a socket operation ended.
enum class io_status : std::uint8_t { ok, closed, timed_out, failed };

struct io_result {
  io_status status = io_status::ok;
  int error = 0;          // the errno, when failed
  std::size_t bytes = 0;  // read/write: bytes transferred (write: also when it failed)
  int fd = -1;            // accept: the new socket
};

inline io_result io_failed(int error, std::size_t bytes = 0) noexcept {
  return {io_status::failed, error, bytes, -1};
}

enum class io_direction : std::uint8_t { read, write };

// thread_signal: a plain thread's eventfd, which close and set_deadline write to wake the thread
// from ppoll. Created on first use, closed when the thread exits.
class thread_signal {
 public:
  thread_signal() = default;
  thread_signal(const thread_signal&) = delete;
  thread_signal& operator=(const thread_signal&) = delete;
  ~thread_signal() {
    if (fd_ >= 0) ::close(fd_);
  }

  // fd: the eventfd, or -1 (errno set) if none could be created.
  int fd() noexcept {
    if (fd_ < 0) fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd_;
  }
  void drain() const noexcept {
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t r = ::read(fd_, &count, sizeof count);
  }

 private:
  int fd_ = -1;
};

// this_thread_signal: the calling plain thread's signal (plain threads do not migrate, so the
// thread-local may be used directly).
GORO_PROCESS_WIDE inline thread_signal& this_thread_signal() noexcept {
  thread_local thread_signal signal;
  return signal;
}

// thread_waiter: a plain thread in ppoll on a socket, linked in poll_descriptor::threads_.
struct thread_waiter {
  int signal_fd = -1;
  io_direction which = io_direction::read;  // the direction it waits on
  bool kicked = false;  // written under lock_ by close/set_deadline, which also signal
  thread_waiter* prev = nullptr;
  thread_waiter* next = nullptr;
};

class poll_descriptor final : public io_descriptor {
 public:
  poll_descriptor() noexcept { on_event = &poll_descriptor::dispatch; }
  poll_descriptor(const poll_descriptor&) = delete;
  poll_descriptor& operator=(const poll_descriptor&) = delete;

  // acquire: a descriptor that owns the non-blocking socket `fd` (from any thread). On failure
  // (bad_alloc) closes `fd` and rethrows.
  static poll_descriptor* acquire(int fd);

  int fd() const noexcept { return fd_; }

  // local, remote: the socket's addresses; net: its network; unlink_on_close: close() removes
  // the file of `local` (a Unix-domain listener's path, as Go's UnixListener.Close does). Written
  // by its creator before it hands the descriptor out, read-only afterwards.
  socket_address local;
  socket_address remote;
  const network* net = &tcp_network;
  bool unlink_on_close = false;
  // read_shut: close_read was called (set before its shutdown). A datagram socket's recv keeps
  // failing with EAGAIN after SHUT_RD where a stream's returns 0, so reads consult this to end.
  std::atomic<bool> read_shut{false};

  // begin_op: counts an operation in flight; false (and nothing counted) once closing. From any
  // thread, paired with end_op.
  bool begin_op() noexcept {
    const std::uint32_t s = state_.fetch_add(op_unit, std::memory_order_acquire);
    if ((s & closing_bit) == 0) return true;
    end_op();
    return false;
  }

  void end_op() noexcept { settle(state_.fetch_sub(op_unit, std::memory_order_acq_rel) - op_unit); }

  bool closing() const noexcept {
    return (state_.load(std::memory_order_acquire) & closing_bit) != 0;
  }

  // close: marks the socket closing and wakes every operation waiting on it (Go's
  // pollDesc.evict); the fd is closed as soon as no operation is in flight. A second close does
  // nothing. From any thread.
  void close() noexcept {
    const std::uint32_t s = state_.fetch_or(closing_bit, std::memory_order_acq_rel);
    if ((s & closing_bit) != 0) return;
    // Only the first close: a second must not remove a file made at that path since.
    if (unlink_on_close) ::unlink(local.sa.un.sun_path);
    kick(nullptr, true, true);
    settle(state_.load(std::memory_order_acquire));
  }

  // release: the owner gives the descriptor up (closing it first). Only the owner, once.
  void release() noexcept {
    close();
    settle(state_.fetch_or(released_bit, std::memory_order_acq_rel) | released_bit);
  }

  // set_deadline: steady_clock nanoseconds after which reads and writes fail with timed_out (0:
  // none) — both directions' deadlines. Wakes every waiting operation so that it re-reads its
  // deadline. From any thread.
  void set_deadline(std::int64_t ns) { kick(&ns, true, true); }

  // set_deadline: the deadline of direction `which` only; wakes only that direction's waiting
  // operations. From any thread.
  void set_deadline(io_direction which, std::int64_t ns) {
    kick(&ns, which == io_direction::read, which == io_direction::write);
  }

  // check: the state an operation on `which` must see before its syscall: closed, timed out (by
  // the deadline of `which`), or ok with `seq` loaded for wait().
  io_status check(io_direction which, std::uint64_t& seq) const noexcept {
    if (closing()) return io_status::closed;
    const direction& dir = side(which);
    const std::int64_t deadline = dir.deadline_ns.load(std::memory_order_acquire);
    if (deadline != 0 && to_nanoseconds(clock::now()) >= deadline) return io_status::timed_out;
    seq = dir.seq.load(std::memory_order_acquire);
    return io_status::ok;
  }

  // wait: blocks the caller until `which` may have changed since `seq` was loaded (check), or
  // the socket is closing, or the deadline of `which` changed or passed. Returns 0, or the errno of
  // a failure to wait (the socket cannot join the epoll set). Throws goroutine_exit if the shutdown
  // interrupts the wait.
  int wait(io_direction which, std::uint64_t seq) {
    thread_state& ts = this_thread();
    if (goroutine* g = ts.current; g != nullptr) return wait_goroutine(*g, which, seq);
    return wait_thread(which);
  }

  // write_lock: serialises writers, so that a write's bytes are never interleaved with
  // another's (Go's fdMutex write lock).
  goro::mutex& write_lock() noexcept { return write_lock_; }

 private:
  friend class poll_descriptor_pool;

  static constexpr std::uint32_t closing_bit = 1;     // close() was called
  static constexpr std::uint32_t fd_claimed_bit = 2;  // someone is closing the fd
  static constexpr std::uint32_t fd_closed_bit = 4;   // the fd is closed
  static constexpr std::uint32_t released_bit = 8;    // the owner gave the descriptor up
  static constexpr std::uint32_t recycled_bit = 16;   // back in the pool
  static constexpr std::uint32_t op_unit = 32;        // one operation in flight

  // direction: one side of the socket.
  struct direction {
    std::atomic<std::uint64_t> seq{0};         // readiness events seen; changed under lock_
    std::atomic<std::int64_t> deadline_ns{0};  // steady_clock ns, 0: none; changed under lock_
    wait_queue parked;                         // goroutines waiting; guarded by lock_
  };

  direction& side(io_direction which) noexcept {
    return which == io_direction::read ? read_ : write_;
  }
  const direction& side(io_direction which) const noexcept {
    return which == io_direction::read ? read_ : write_;
  }

  // dispatch: the epoll callback, on a worker's scheduler context (netpoll::dispatch).
  static void dispatch(io_descriptor* self, std::uint32_t events) {
    auto& d = static_cast<poll_descriptor&>(*self);
    wake_list wakes;
    std::lock_guard held(d.lock_);
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) d.signal(d.read_, wakes);
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) d.signal(d.write_, wakes);
  }

  // signal: a readiness edge on `dir`. Requires lock_.
  static void signal(direction& dir, wake_list& wakes) noexcept {
    dir.seq.store(dir.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    collect(dir.parked, wakes);
  }

  // collect: unlinks every waiter of `q`, adding those whose claim it wins to `wakes`. Requires
  // the lock that guards `q`.
  static void collect(wait_queue& q, wake_list& wakes) noexcept {
    while (waiter* w = q.dequeue_claimed()) {
      w->outcome = 1;
      wakes.add(*w);
    }
  }

  // kick: wakes every waiter, goroutine or thread, of the read side if `read` and of the write
  // side if `write`; with `deadline`, first stores it as the deadline of those sides.
  void kick(const std::int64_t* deadline, bool read, bool write) {
    wake_list wakes;
    {
      std::lock_guard held(lock_);
      if (read) {
        if (deadline != nullptr) read_.deadline_ns.store(*deadline, std::memory_order_release);
        collect(read_.parked, wakes);
      }
      if (write) {
        if (deadline != nullptr) write_.deadline_ns.store(*deadline, std::memory_order_release);
        collect(write_.parked, wakes);
      }
      for (thread_waiter* t = threads_; t != nullptr; t = t->next) {
        if (t->kicked || !(t->which == io_direction::read ? read : write)) continue;
        t->kicked = true;
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(t->signal_fd, &one, sizeof one);
      }
    }
  }

  // attach: adds the socket to the epoll set of `s`'s run unless it is there. Requires lock_.
  int attach(scheduler& s) noexcept {
    const std::uint64_t run = s.run_id();
    if (run_.load(std::memory_order_relaxed) == run) return 0;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = static_cast<io_descriptor*>(this);
    if (epoll_ctl(s.network().epoll_fd(), EPOLL_CTL_ADD, fd_, &ev) != 0) return last_errno();
    run_.store(run, std::memory_order_relaxed);
    return 0;
  }

  int wait_goroutine(goroutine& g, io_direction which, std::uint64_t seq) {
    scheduler& s = g.running_on->sched;  // the run's scheduler: goroutines do not outlive it
    direction& dir = side(which);
    wait_handle h = open_wait();
    waiter w = h.make_waiter();
    timer_node timer;
    std::unique_lock held(lock_);
    if (int e = attach(s); e != 0) return e;
    if (closing() || dir.seq.load(std::memory_order_relaxed) != seq) return 0;
    const std::int64_t deadline = dir.deadline_ns.load(std::memory_order_relaxed);
    if (deadline != 0) {
      if (to_nanoseconds(clock::now()) >= deadline) return 0;
      timer.when = clock::time_point(std::chrono::nanoseconds(deadline));
      timer.fire = &wake_parker;
      timer.arg = h.self;
      timer.seq = h.ticket;
    }
    dir.parked.push_back(w);
    netpoll& network = s.network();
    network.waiters.fetch_add(1, std::memory_order_seq_cst);
    const bool interrupted = s.park(g, wait_reason::io, wait_detail::none, [&] {
      held.unlock();
      if (deadline != 0) s.add_timer(timer);
    });
    network.waiters.fetch_sub(1, std::memory_order_seq_cst);
    if (deadline != 0) s.remove_timer(timer);
    if (w.outcome == 0) {
      // Claimed by the timer or the shutdown: the waiter may still be linked.
      held.lock();
      dir.parked.remove(w);
      held.unlock();
    }
    if (interrupted) throw goroutine_exit{};
    return 0;
  }

  int wait_thread(io_direction which) {
    thread_signal& signal = this_thread_signal();
    thread_waiter self;
    self.signal_fd = signal.fd();
    if (self.signal_fd < 0) return last_errno();
    self.which = which;
    std::int64_t deadline = 0;
    {
      std::lock_guard held(lock_);
      if (closing()) return 0;
      deadline = side(which).deadline_ns.load(std::memory_order_relaxed);
      self.next = threads_;
      if (threads_ != nullptr) threads_->prev = &self;
      threads_ = &self;
    }
    timespec timeout{};
    bool expired = false;
    if (deadline != 0) {
      const std::int64_t left = deadline - to_nanoseconds(clock::now());
      expired = left <= 0;
      if (!expired) timeout = to_timespec(std::chrono::nanoseconds(left));
    }
    if (!expired) {
      pollfd fds[2] = {};
      fds[0].fd = fd_;
      fds[0].events = which == io_direction::read ? POLLIN | POLLRDHUP : POLLOUT;
      fds[1].fd = self.signal_fd;
      fds[1].events = POLLIN;
      ppoll(fds, 2, deadline != 0 ? &timeout : nullptr, nullptr);  // EINTR: the caller retries
    }
    bool kicked = false;
    {
      std::lock_guard held(lock_);
      (self.prev != nullptr ? self.prev->next : threads_) = self.next;
      if (self.next != nullptr) self.next->prev = self.prev;
      kicked = self.kicked;
    }
    // Unlinked: nobody signals us any more, and the eventfd is non-zero exactly if kicked.
    if (kicked) signal.drain();
    return 0;
  }

  // settle: closes the fd and recycles the descriptor when `s` (a fresh value of state_) says it
  // is time.
  void settle(std::uint32_t s) noexcept {
    for (;;) {
      if (s >= op_unit || (s & closing_bit) == 0) return;
      if ((s & fd_claimed_bit) == 0) {
        if (state_.compare_exchange_weak(s, s | fd_claimed_bit, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
          close_fd();
          s = state_.fetch_or(fd_closed_bit, std::memory_order_acq_rel) | fd_closed_bit;
        }
        continue;
      }
      if ((s & fd_closed_bit) == 0) return;  // the claimer settles again once it is closed
      if ((s & (released_bit | recycled_bit)) != released_bit) return;
      if (state_.compare_exchange_weak(s, s | recycled_bit, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        recycle();
        return;
      }
    }
  }

  // close_fd: takes the socket out of its run's epoll set (if that run is still on) and closes
  // it.
  void close_fd() noexcept {
    if (const std::uint64_t run = run_.load(std::memory_order_relaxed); run != 0) {
      epoll_event unused{};
      thread_state& ts = this_thread();
      if (ts.self != nullptr && ts.self->sched.run_id() == run) {
        epoll_ctl(ts.self->sched.network().epoll_fd(), EPOLL_CTL_DEL, fd_, &unused);
      } else if (scheduler_ref ref; ref && ref->run_id() == run) {
        epoll_ctl(ref->network().epoll_fd(), EPOLL_CTL_DEL, fd_, &unused);
      }
    }
    ::close(fd_);
  }

  void recycle() noexcept;

  int fd_ = -1;
  std::atomic<std::uint32_t> state_{0};  // op count * op_unit | the bits above
  std::atomic<std::uint64_t> run_{0};    // the run whose epoll set holds fd_; changed under lock_
  futex_mutex lock_;  // guards read_, write_, threads_ and the changes noted above; never held
                      // across a park or a blocking syscall, never while readying a goroutine
  direction read_;
  direction write_;
  thread_waiter* threads_ = nullptr;  // plain threads in ppoll; guarded by lock_
  goro::mutex write_lock_;
};

// poll_descriptor_pool: where descriptors come from and go back to. Its memory is never freed.
class poll_descriptor_pool {
 public:
  poll_descriptor* take() {
    std::lock_guard held(lock_);
    if (free_.empty()) {
      // Room for every descriptor ever made, so that give() never allocates.
      constexpr std::size_t chunk = 64;
      chunks_.reserve(chunks_.size() + 1);
      free_.reserve((chunks_.size() + 1) * chunk);
      auto* block = new poll_descriptor[chunk];
      chunks_.push_back(block);
      for (std::size_t i = chunk; i > 0; --i) free_.push_back(&block[i - 1]);
    }
    poll_descriptor* d = free_.back();
    free_.pop_back();
    return d;
  }

  void give(poll_descriptor* d) noexcept {
    std::lock_guard held(lock_);
    free_.push_back(d);  // capacity reserved in take(): never allocates
  }

 private:
  futex_mutex lock_;  // guards free_ and chunks_
  std::vector<poll_descriptor*> free_;
  std::vector<poll_descriptor*> chunks_;  // every chunk ever allocated (kept reachable)
};

// descriptor_pool: the process's pool (deliberately never destroyed: late epoll events may name
// its descriptors until the process exits).
GORO_PROCESS_WIDE inline poll_descriptor_pool& descriptor_pool() {
  static poll_descriptor_pool* pool = new poll_descriptor_pool;
  return *pool;
}

inline poll_descriptor* poll_descriptor::acquire(int fd) {
  poll_descriptor* d = nullptr;
  try {
    d = descriptor_pool().take();
  } catch (...) {
    ::close(fd);
    throw;
  }
  // The previous user's last touches happen-before this through the pool's lock.
  d->fd_ = fd;
  d->local = {};
  d->remote = {};
  d->net = &tcp_network;
  d->unlink_on_close = false;
  d->read_shut.store(false, std::memory_order_relaxed);
  d->read_.deadline_ns.store(0, std::memory_order_relaxed);
  d->write_.deadline_ns.store(0, std::memory_order_relaxed);
  d->run_.store(0, std::memory_order_relaxed);
  d->state_.store(0, std::memory_order_release);
  return d;
}

inline void poll_descriptor::recycle() noexcept {
  descriptor_pool().give(this);
}

// op_scope: an operation in flight on a descriptor (begin_op ... end_op).
class op_scope {
 public:
  explicit op_scope(poll_descriptor& d) noexcept : d_(d), entered_(d.begin_op()) {}
  op_scope(const op_scope&) = delete;
  op_scope& operator=(const op_scope&) = delete;
  ~op_scope() {
    if (entered_) d_.end_op();
  }
  explicit operator bool() const noexcept { return entered_; }

 private:
  poll_descriptor& d_;
  bool entered_;
};

// The operations below require the caller to hold an operation on `d` (op_scope): it keeps the
// fd open and the descriptor from being recycled, also while the caller formats an error.

// socket_read: one read of up to buffer.size() bytes; 0 bytes at end of stream. On a datagram
// socket, one datagram (the part of it that fits: the rest is dropped), 0 bytes for an empty one;
// on a "unixpacket" socket, one message likewise. An empty buffer returns 0 at once and takes
// nothing, whatever the socket (Go's FD.Read). Once close_read has shut the socket for reading,
// 0 bytes when nothing is left to read, whatever the socket.
inline io_result socket_read(poll_descriptor& d, std::span<std::byte> buffer) {
  for (;;) {
    std::uint64_t seq = 0;
    if (io_status s = d.check(io_direction::read, seq); s != io_status::ok) return {s};
    // An empty buffer reads 0 at once and takes nothing, a datagram neither (Go's FD.Read).
    if (buffer.empty()) return {};
    const ssize_t n = ::recv(d.fd(), buffer.data(), buffer.size(), 0);
    if (n >= 0) return {io_status::ok, 0, static_cast<std::size_t>(n)};
    const int e = last_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) return io_failed(e);
    // Shut for reading and drained: end of stream, as a stream socket's recv says itself. The
    // shutdown's readiness event woke a reader blocked below.
    if (d.read_shut.load(std::memory_order_acquire)) return {};
    if (int w = d.wait(io_direction::read, seq); w != 0) return io_failed(w);
  }
}

// socket_write: writes all of `data`, in as many syscalls and waits as it takes; one writer at a
// time per socket.
inline io_result socket_write(poll_descriptor& d, std::span<const std::byte> data) {
  std::lock_guard serial(d.write_lock());
  std::size_t done = 0;
  for (;;) {
    std::uint64_t seq = 0;
    if (io_status s = d.check(io_direction::write, seq); s != io_status::ok) {
      return {s, 0, done};
    }
    if (done == data.size()) return {io_status::ok, 0, done};
    const ssize_t n = ::send(d.fd(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      // Everything sent: the write succeeded, even if the deadline has passed or the socket was
      // closed since (as Go's Write returns the count). The check above is for the next send.
      if (done == data.size()) return {io_status::ok, 0, done};
      continue;
    }
    const int e = last_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) return io_failed(e, done);
    if (int w = d.wait(io_direction::write, seq); w != 0) return io_failed(w, done);
  }
}

// socket_receive_from: one datagram into `buffer` (the part of it that fits: the rest is
// dropped), and its sender's address in `from`.
inline io_result socket_receive_from(poll_descriptor& d, std::span<std::byte> buffer,
                                     socket_address& from) {
  for (;;) {
    std::uint64_t seq = 0;
    if (io_status s = d.check(io_direction::read, seq); s != io_status::ok) return {s};
    from.length = socket_address::capacity();
    const ssize_t n =
        ::recvfrom(d.fd(), buffer.data(), buffer.size(), 0, from.data(), &from.length);
    if (n >= 0) return {io_status::ok, 0, static_cast<std::size_t>(n)};
    const int e = last_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) return io_failed(e);
    if (int w = d.wait(io_direction::read, seq); w != 0) return io_failed(w);
  }
}

// socket_send_datagram: sends `data` as one datagram — to `to`, or to the connected peer if
// `to` is null. A datagram goes whole or not at all; an empty one is sent too.
inline io_result socket_send_datagram(poll_descriptor& d, std::span<const std::byte> data,
                                      const socket_address* to) {
  for (;;) {
    std::uint64_t seq = 0;
    if (io_status s = d.check(io_direction::write, seq); s != io_status::ok) return {s};
    const ssize_t n =
        ::sendto(d.fd(), data.data(), data.size(), MSG_NOSIGNAL,
                 to != nullptr ? to->data() : nullptr, to != nullptr ? to->length : 0);
    if (n >= 0) return {io_status::ok, 0, static_cast<std::size_t>(n)};
    const int e = last_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) return io_failed(e);
    if (int w = d.wait(io_direction::write, seq); w != 0) return io_failed(w);
  }
}

// socket_accept: the next connection, as a new non-blocking socket; its address in `peer`.
inline io_result socket_accept(poll_descriptor& d, socket_address& peer) {
  for (;;) {
    std::uint64_t seq = 0;
    if (io_status s = d.check(io_direction::read, seq); s != io_status::ok) return {s};
    peer.length = socket_address::capacity();
    const int fd = ::accept4(d.fd(), peer.data(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return {io_status::ok, 0, 0, fd};
    const int e = last_errno();
    if (e == EINTR || e == ECONNABORTED) continue;  // a connection reset before we took it
    if (e != EAGAIN && e != EWOULDBLOCK) return io_failed(e);
    if (int w = d.wait(io_direction::read, seq); w != 0) return io_failed(w);
  }
}

// socket_connect: connects the socket to `to`, waiting for the handshake.
inline io_result socket_connect(poll_descriptor& d, const socket_address& to) {
  std::uint64_t seq = 0;
  if (io_status s = d.check(io_direction::write, seq); s != io_status::ok) return {s};
  if (::connect(d.fd(), to.data(), to.length) == 0) return {};
  if (int e = last_errno(); e != EINPROGRESS && e != EINTR && e != EALREADY) return io_failed(e);
  for (;;) {
    if (int w = d.wait(io_direction::write, seq); w != 0) return io_failed(w);
    if (io_status s = d.check(io_direction::write, seq); s != io_status::ok) return {s};
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(d.fd(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
      return io_failed(last_errno());
    }
    if (error == 0 || error == EISCONN) {
      // Connected — unless the wake-up was spurious (a stale event): then the peer is unknown.
      socket_address peer;
      peer.length = socket_address::capacity();
      if (getpeername(d.fd(), peer.data(), &peer.length) == 0) return {};
      continue;
    }
    if (error != EINPROGRESS && error != EALREADY && error != EINTR) return io_failed(error);
  }
}

}  // namespace goro::detail
