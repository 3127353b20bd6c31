/// \file
/// goro/error.hpp — the exceptions goro throws where Go would panic.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <stdexcept>
#include <string>

namespace goro {

/// error: misuse of goro (Go's panics): `go` outside `run`, a nested `run`, a negative wait_group
/// counter, unlock of an unlocked mutex, close of a nil channel, a negative channel capacity...
///
/// The base of every exception type goro defines for such misuse.
class GORO_PROCESS_WIDE error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// deadlock_error: thrown by run() when every goroutine is blocked and nothing can wake any of them
/// (API 1.3). what() starts with `all goroutines are asleep - deadlock!` and goes on with a dump of
/// every goroutine in the format of goro::dump.
class GORO_PROCESS_WIDE deadlock_error : public error {
 public:
  using error::error;
};

/// channel_closed: send on a closed channel, close of a closed channel, or a sender blocked on a
/// channel that gets closed.
class GORO_PROCESS_WIDE channel_closed : public error {
 public:
  using error::error;
};

}  // namespace goro
