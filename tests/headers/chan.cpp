// Compiled alone by CTest (tests/CMakeLists.txt): <goro/chan.hpp> by itself declares what API
// section 2 names.
#include <goro/chan.hpp>

#include <optional>
#include <type_traits>

static_assert(std::is_same_v<decltype(goro::chan<int>().recv()), std::optional<int>>);
static_assert(std::is_convertible_v<goro::chan<int>, goro::send_chan<int>>);
static_assert(std::is_convertible_v<goro::chan<int>, goro::recv_chan<int>>);
static_assert(std::is_base_of_v<goro::error, goro::channel_closed>);
