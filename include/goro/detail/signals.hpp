// goro/detail/signals.hpp — reporting goroutine stack overflow (API 1.4).
//
// A guarded stack overflows into its guard page (PROT_NONE, or a guard marker: see stack.hpp)
// and the kernel raises SIGSEGV on the faulting thread, whose own stack is the exhausted one: the
// handler runs on a per-worker alternate signal stack (sigaltstack), recognises the guard page of
// the goroutine running on that thread, prints the contract's message with async-signal-safe
// write(2) calls and aborts. A fault that is not a goroutine's overflow, and a SIGSEGV or SIGBUS
// sent by kill or raise, goes to the handler that was installed before (or the default action).
// When the run ends that handler is put back, unless the program installed one during the run.
// An unguarded stack is checked by its canary at every switch (scheduler.hpp) and reported by
// report_stack_overflow() from the scheduler context.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "goroutine.hpp"
#include "stack.hpp"
#include "thread_state.hpp"

namespace goro::detail {

// The configured stack size of the active run, for the message.
GORO_PROCESS_WIDE inline std::atomic<std::size_t> overflow_report_stack_size{0};

inline void write_stderr(const char* text, std::size_t length) noexcept {
  while (length > 0) {
    ssize_t n = ::write(STDERR_FILENO, text, length);
    if (n <= 0) return;
    text += n;
    length -= static_cast<std::size_t>(n);
  }
}

inline std::size_t format_decimal(char* out, std::uint64_t value) noexcept {
  char digits[24];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (std::size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  return n;
}

// report_stack_overflow: prints "goro: goroutine <id> overflowed its <N>-byte stack" and aborts.
// Async-signal-safe.
[[noreturn]] inline void report_stack_overflow(const goroutine& g) noexcept {
  char line[128];
  std::size_t n = 0;
  auto append = [&](const char* s) {
    while (*s != '\0') line[n++] = *s++;
  };
  append("goro: goroutine ");
  n += format_decimal(line + n, g.id.load(std::memory_order_relaxed));
  append(" overflowed its ");
  n += format_decimal(line + n, overflow_report_stack_size.load(std::memory_order_relaxed));
  append("-byte stack\n");
  write_stderr(line, n);
  std::abort();
}

struct fault_handlers {
  struct sigaction segv {};
  struct sigaction bus {};
};

GORO_PROCESS_WIDE inline fault_handlers& previous_fault_handlers() noexcept {
  static fault_handlers saved;
  return saved;
}

inline bool is_stack_overflow(const goroutine& g, const void* address, const void* context) {
  if (!g.stack) return false;
  auto fault = reinterpret_cast<std::uintptr_t>(address);
  auto bottom = reinterpret_cast<std::uintptr_t>(g.stack.bottom);
  const std::uintptr_t page = page_size();
  if (g.stack.guarded() && fault >= bottom - page && fault < bottom) return true;
#if defined(__x86_64__)
  // A frame larger than the guard page may skip it: then the stack pointer tells.
  const auto* uc = static_cast<const ucontext_t*>(context);
  auto sp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  return sp < bottom + 256 && sp + (1u << 20) > bottom && fault < bottom + 256;
#else
  (void)context;
  return false;
#endif
}

inline void forward_fault(int sig, siginfo_t* info, void* context) noexcept {
  fault_handlers& saved = previous_fault_handlers();
  struct sigaction& previous = sig == SIGBUS ? saved.bus : saved.segv;
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  } else if (info->si_code <= 0) {
    // Sent by kill, raise or tgkill (SI_USER, SI_TKILL, SI_QUEUE: si_code <= 0), not raised by
    // a fault: nothing runs again on return, so the default action would be lost and the
    // process would go on as if nothing was sent. Send it once more under the default action
    // (it stays blocked until this handler returns); one that was ignored stays ignored.
    if (previous.sa_handler == SIG_DFL) {
      signal(sig, SIG_DFL);
      raise(sig);
    }
  } else {
    // Let the faulting instruction run again under the default action.
    signal(sig, SIG_DFL);
  }
}

inline void on_fault(int sig, siginfo_t* info, void* context) noexcept {
  const goroutine* g = this_thread().current;
  // Only a fault (si_code > 0) has a faulting address; a sent signal's si_addr means nothing.
  if (g != nullptr && info->si_code > 0 && is_stack_overflow(*g, info->si_addr, context)) {
    report_stack_overflow(*g);
  }
  forward_fault(sig, info, context);
}

inline void install_fault_handlers(std::size_t stack_size) noexcept {
  overflow_report_stack_size.store(stack_size, std::memory_order_relaxed);
  struct sigaction action {};
  action.sa_sigaction = &on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  fault_handlers& saved = previous_fault_handlers();
  sigaction(SIGSEGV, &action, &saved.segv);
  sigaction(SIGBUS, &action, &saved.bus);
}

// restore_fault_handler: puts back the handler that install_fault_handlers replaced, unless the
// program has installed one of its own since (during the run): that one stays.
inline void restore_fault_handler(int sig, const struct sigaction& saved) noexcept {
  struct sigaction current {};
  if (sigaction(sig, nullptr, &current) != 0) return;
  if ((current.sa_flags & SA_SIGINFO) == 0 || current.sa_sigaction != &on_fault) return;
  sigaction(sig, &saved, nullptr);
}

inline void restore_fault_handlers() noexcept {
  fault_handlers& saved = previous_fault_handlers();
  restore_fault_handler(SIGSEGV, saved.segv);
  restore_fault_handler(SIGBUS, saved.bus);
}

// alternate_signal_stack: installed on every worker thread for the duration of a run.
class alternate_signal_stack {
 public:
  static constexpr std::size_t size = 64 * 1024;

  alternate_signal_stack() {
    memory_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory_ == MAP_FAILED) {
      memory_ = nullptr;
      return;
    }
    stack_t ss{};
    ss.ss_sp = memory_;
    ss.ss_size = size;
    installed_ = sigaltstack(&ss, &previous_) == 0;
  }
  alternate_signal_stack(const alternate_signal_stack&) = delete;
  alternate_signal_stack& operator=(const alternate_signal_stack&) = delete;
  ~alternate_signal_stack() {
    if (installed_) sigaltstack(&previous_, nullptr);
    if (memory_ != nullptr) munmap(memory_, size);
  }

 private:
  void* memory_ = nullptr;
  stack_t previous_{};
  bool installed_ = false;
};

// unblocked_fault_signals: a worker keeps SIGSEGV and SIGBUS unblocked for the duration of a
// run, whatever mask its thread inherited, and puts the mask back at the end (worker 0 is the
// thread that called run). The kernel delivers a fault that the faulting thread blocks under the
// default action, past every handler: a program that blocks all signals before run, to take them
// in a sigwait thread, lost the overflow report (API 1.4) and its own handler's turn. Go's
// runtime unblocks these signals on its threads likewise.
class unblocked_fault_signals {
 public:
  unblocked_fault_signals() noexcept {
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGBUS);
    restore_ = pthread_sigmask(SIG_UNBLOCK, &faults, &previous_) == 0;
  }
  unblocked_fault_signals(const unblocked_fault_signals&) = delete;
  unblocked_fault_signals& operator=(const unblocked_fault_signals&) = delete;
  ~unblocked_fault_signals() {
    if (restore_) pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }

 private:
  sigset_t previous_{};
  bool restore_ = false;
};

}  // namespace goro::detail
