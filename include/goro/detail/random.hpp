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

// chaos_random_state: worker `index`'s first state under chaos seed `seed` (GORO_CHAOS): the
// same in every run for a seed, distinct for each worker, and never zero, which xorshift64star
// would return for ever (the seed 2^64 - 1, which strtoull makes of "-1", led to it).
constexpr std::uint64_t chaos_random_state(std::uint64_t seed, unsigned index) noexcept {
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;  // odd: seeds map to states one to one
  const std::uint64_t state = (seed + 1) * golden + index;
  return state != 0 ? state : golden;
}

}  // namespace goro::detail
