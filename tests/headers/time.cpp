// Compiled alone by CTest (tests/CMakeLists.txt): <goro/time.hpp> by itself declares what API
// section 4 names.
#include <goro/time.hpp>

#include <chrono>
#include <type_traits>

using time_point = std::chrono::steady_clock::time_point;
static_assert(std::is_same_v<decltype(goro::sleep_for(std::chrono::nanoseconds(1))), void>);
static_assert(std::is_same_v<decltype(goro::sleep_until(time_point())), void>);
static_assert(std::is_same_v<decltype(goro::after(std::chrono::nanoseconds(1))),
                             goro::recv_chan<time_point>>);
static_assert(std::is_same_v<decltype(std::declval<goro::timer&>().stop()), bool>);
static_assert(
    std::is_same_v<decltype(std::declval<goro::ticker&>().c()), goro::recv_chan<time_point>>);
