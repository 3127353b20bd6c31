// Compiled alone by CTest (tests/CMakeLists.txt): <goro/singleflight.hpp> by itself declares
// goro::singleflight (golang.org/x/sync/singleflight; not part of API.md) and what it returns.
#include <goro/singleflight.hpp>

#include <string>
#include <type_traits>

static_assert(std::is_default_constructible_v<goro::singleflight<int>>);
static_assert(!std::is_copy_constructible_v<goro::singleflight<int>>);
static_assert(std::is_same_v<decltype(goro::singleflight<int>::result::value), int>);
static_assert(std::is_same_v<decltype(goro::singleflight<int>::result::shared), bool>);
static_assert(std::is_same_v<decltype(goro::singleflight<int, long>::chan_result::error),
                             std::exception_ptr>);
inline void use_singleflight(goro::singleflight<std::string>& flights) {
  auto [value, shared] = flights.call("key", [] { return std::string("value"); });
  (void)value;
  (void)shared;
  goro::recv_chan<goro::singleflight<std::string>::chan_result> ch =
      flights.call_chan("key", [] { return "converted"; });
  (void)ch.recv()->get();
  flights.forget("key");
}
