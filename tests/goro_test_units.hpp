// tests/goro_test_units.hpp — what goro_test_units.cpp and goro_test_other_unit.cpp share: the
// functions the other unit defines, each using goro on its own side of the link.
#pragma once

#include <goro/goro.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace goro_test::other_unit {

extern const goro::context_key<std::string> request_id;  // defined in the other unit

// A channel made in the other unit, and a goroutine started there that doubles what it
// receives on `in` and sends it on the channel returned.
goro::chan<int> start_doubler(goro::chan<int> in);

std::uint64_t goroutine_id();
std::size_t num_goroutines();
std::string dump();

// Sleeps until a timer made in the other unit fires.
void sleep_on_timer(std::chrono::nanoseconds d);

// The value of request_id in ctx, looked up in the other unit ("" if absent).
std::string request_id_of(const goro::context& ctx);

// Blocks for ever on a channel nobody else has, in the other unit.
void block_for_ever();

}  // namespace goro_test::other_unit
