// Compiled alone by CTest (tests/CMakeLists.txt): <goro/context.hpp> by itself declares the
// context half of API section 6.
#include <goro/context.hpp>

#include <chrono>
#include <system_error>
#include <type_traits>
#include <utility>

static_assert(std::is_same_v<decltype(goro::background().done()), goro::recv_chan<std::monostate>>);
static_assert(std::is_same_v<decltype(goro::with_cancel(goro::background())),
                             std::pair<goro::context, goro::cancel_func>>);
static_assert(
    std::is_same_v<decltype(goro::with_timeout(goro::background(), std::chrono::nanoseconds(1))),
                   std::pair<goro::context, goro::cancel_func>>);
static_assert(std::is_same_v<decltype(goro::with_deadline(goro::background(),
                                                          std::chrono::steady_clock::now())),
                             std::pair<goro::context, goro::cancel_func>>);
inline const goro::context_key<int> key;
static_assert(
    std::is_same_v<decltype(goro::with_value(goro::background(), key, 1)), goro::context>);
static_assert(std::is_error_code_enum_v<goro::errc>);
inline bool canceled(const goro::context& ctx) {
  return ctx.err() == goro::errc::canceled;
}
