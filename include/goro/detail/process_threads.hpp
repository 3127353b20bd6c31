// goro/detail/process_threads.hpp — what the kernel reports of the process's other threads.
//
// Deadlock detection (scheduler.hpp, on_quiescence) cannot see a plain thread before its first
// call into goro (API 1.3). A thread that main has just started may not have made that call yet
// when main blocks waiting for it, and on a machine whose CPUs are all busy it may wait longer
// for its first time slice than the detector's grace period. All that time the kernel reports
// it runnable, which is what the detector asks here before it declares a deadlock.
//
// The answer is only a hint: a thread may change state as soon as it has been read.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace goro::detail {

// thread_state_letter: the state of thread `tid` of this process as /proc/self/task/<tid>/stat
// gives it ('R' running or waiting for a CPU, 'S' sleeping, ...); '?' if it cannot be read (the
// thread has exited).
inline char thread_state_letter(long tid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  char stat[512];
  const ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return '?';
  stat[n] = '\0';
  // "tid (name) S ...": the name may hold spaces and parentheses, so look after the last ')'.
  const char* name_end = std::strrchr(stat, ')');
  if (name_end == nullptr || name_end[1] != ' ' || name_end[2] == '\0') return '?';
  return name_end[2];
}

// another_thread_runnable: whether some thread of this process other than the caller is
// running or waiting for a CPU. False if /proc cannot be read.
inline bool another_thread_runnable() noexcept {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  const long self = syscall(SYS_gettid);
  bool runnable = false;
  while (const dirent* entry = readdir(tasks)) {
    char* end = nullptr;
    const long tid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || tid == self) continue;  // ".", "..", the caller
    if (thread_state_letter(tid) == 'R') {
      runnable = true;
      break;
    }
  }
  closedir(tasks);
  return runnable;
}

}  // namespace goro::detail
