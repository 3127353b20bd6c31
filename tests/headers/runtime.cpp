// Compiled alone by CTest (tests/CMakeLists.txt): <goro/runtime.hpp> by itself declares what
// API section 1 names, and the errors its clauses throw.
#include <goro/runtime.hpp>

#include <cstdint>
#include <type_traits>

static_assert(std::is_enum_v<goro::stack_guard>);
static_assert(std::is_aggregate_v<goro::options>);
static_assert(std::is_same_v<decltype(goro::run([] { return 1; })), int>);
static_assert(std::is_same_v<decltype(goro::go([] {})), void>);
static_assert(std::is_same_v<decltype(goro::yield()), void>);
static_assert(std::is_same_v<decltype(goro::num_workers()), unsigned>);
static_assert(std::is_same_v<decltype(goro::num_goroutines()), std::size_t>);
static_assert(std::is_same_v<decltype(goro::in_goroutine()), bool>);
static_assert(std::is_same_v<decltype(goro::goroutine_id()), std::uint64_t>);
static_assert(std::is_same_v<decltype(goro::blocking([] { return 1L; })), long>);
static_assert(std::is_base_of_v<std::logic_error, goro::error>);
static_assert(std::is_base_of_v<goro::error, goro::deadlock_error>);
