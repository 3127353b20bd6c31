// Compiled alone by CTest (tests/CMakeLists.txt): <goro/debug.hpp> by itself declares what API
// section 8 names.
#include <goro/debug.hpp>

#include <cstdint>
#include <ostream>
#include <type_traits>

static_assert(std::is_same_v<decltype(goro::dump(std::declval<std::ostream&>())), void>);
static_assert(std::is_same_v<decltype(goro::runtime_stats()), goro::stats>);
static_assert(std::is_same_v<decltype(goro::stats::spawned), std::uint64_t>);
static_assert(std::is_same_v<decltype(goro::stats::parks), std::uint64_t>);
