// Compiled alone by CTest (tests/CMakeLists.txt): <goro/signals.hpp> by itself declares
// goro::signals (Go's os/signal; not part of API.md) with the signatures below.
#include <goro/signals.hpp>

#include <signal.h>

#include <type_traits>
#include <utility>

static_assert(std::is_same_v<decltype(goro::signals::ignored(SIGHUP)), bool>);
static_assert(noexcept(goro::signals::ignored(SIGHUP)));
static_assert(std::is_same_v<decltype(goro::signals::notify_context(goro::background(), SIGINT)),
                             std::pair<goro::context, goro::cancel_func>>);
inline void use_signals(goro::chan<int> c, goro::send_chan<int> sender) {
  goro::signals::notify(c, SIGINT, SIGTERM);
  goro::signals::notify(sender);  // every relayable signal
  goro::signals::stop(c);
  goro::signals::stop(sender);
  goro::signals::ignore(SIGHUP);
  goro::signals::reset(SIGHUP);
  goro::signals::reset();
  auto [ctx, stop] = goro::signals::notify_context(goro::background());
  (void)ctx.done();
  stop();
}
