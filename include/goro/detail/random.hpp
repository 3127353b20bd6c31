// goro/detail/random.hpp — the cheap pseudo-random generator of scheduling decisions (victim
// choice in work stealing, select's shuffle). Not for anything that needs unpredictability.
#pragma once

#include <cstdint>

namespace goro::detail {

// xorshift64star: Vigna's xorshift64* step; `state` must not be zero.
inline std::uint64_t xorshift64star(std::uint64_t& state) noexcept {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545f4914f6cdd1dULL;
}

}  // namespace goro::detail
