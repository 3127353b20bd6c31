// Tests of goro/detail/select_engine.hpp that the public select cannot observe directly: the
// lock order (every distinct channel once, by address, for small and large case lists) and the
// poll order (a permutation of the non-nil cases).
#include <goro/detail/select_engine.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <deque>
#include <numeric>
#include <random>
#include <set>
#include <vector>

namespace {

using goro::detail::channel_base;
using goro::detail::select_case;
using goro::detail::select_scratch;
using goro::detail::waiter_slot;

// cases_over: one case per entry of `picks`, on channels[pick] (a negative pick: a nil case).
std::vector<select_case> cases_over(std::deque<channel_base>& channels,
                                    const std::vector<int>& picks) {
  std::vector<select_case> cases(picks.size());
  for (std::size_t i = 0; i < picks.size(); ++i) {
    cases[i].channel = picks[i] < 0 ? nullptr : &channels[static_cast<std::size_t>(picks[i])];
  }
  return cases;
}

// make_channels: channel_base can neither be copied nor moved; a deque builds them in place.
std::deque<channel_base> make_channels(std::size_t n) {
  std::deque<channel_base> channels;
  for (std::size_t i = 0; i < n; ++i) channels.emplace_back(0);
  return channels;
}

struct scratch_storage {
  explicit scratch_storage(std::size_t n) : poll_order(n), lock_order(n), waiters(n) {}
  select_scratch view() { return {poll_order, lock_order, waiters}; }

  std::vector<std::uint32_t> poll_order;
  std::vector<channel_base*> lock_order;
  std::vector<waiter_slot> waiters;
};

// check_lock_order: sorts the lock order of `picks` and compares it with std::set's order.
void check_lock_order(std::deque<channel_base>& channels, const std::vector<int>& picks) {
  std::vector<select_case> cases = cases_over(channels, picks);
  scratch_storage storage(cases.size());
  const select_scratch scratch = storage.view();
  const std::size_t polled = goro::detail::shuffle_cases(cases, scratch);
  const std::size_t locked = goro::detail::sort_channels(cases, scratch, polled);

  std::set<channel_base*> expected;
  for (const select_case& c : cases) {
    if (c.channel != nullptr) expected.insert(c.channel);
  }
  const std::vector<channel_base*> got(
      storage.lock_order.begin(), storage.lock_order.begin() + static_cast<std::ptrdiff_t>(locked));
  REQUIRE(got == std::vector<channel_base*>(expected.begin(), expected.end()));
}

}  // namespace

TEST_CASE("the poll order is a permutation of the non-nil cases", "[select_engine]") {
  std::deque<channel_base> channels = make_channels(3);
  std::vector<select_case> cases = cases_over(channels, {0, -1, 1, 2, -1, 0});
  scratch_storage storage(cases.size());
  const std::size_t polled = goro::detail::shuffle_cases(cases, storage.view());
  REQUIRE(polled == 4);
  std::vector<std::uint32_t> order(storage.poll_order.begin(), storage.poll_order.begin() + 4);
  std::sort(order.begin(), order.end());
  REQUIRE(order == std::vector<std::uint32_t>{0, 2, 3, 5});
}

TEST_CASE("the lock order holds each channel once, by address", "[select_engine]") {
  std::deque<channel_base> channels = make_channels(40);
  std::mt19937 random(20261203);
  // Small lists take the insertion sort, lists of more than 16 cases std::sort; both with
  // duplicates, nil cases, and channels in every order.
  for (const std::size_t size : {1u, 2u, 3u, 5u, 8u, 16u, 17u, 24u, 64u}) {
    for (int round = 0; round < 200; ++round) {
      std::vector<int> picks(size);
      std::uniform_int_distribution<int> pick(-1, round % 2 == 0 ? 3 : 39);
      for (int& p : picks) p = pick(random);
      check_lock_order(channels, picks);
    }
  }
}

TEST_CASE("the lock order of descending and repeated channels", "[select_engine]") {
  std::deque<channel_base> channels = make_channels(20);
  std::vector<int> descending(20);
  std::iota(descending.rbegin(), descending.rend(), 0);
  check_lock_order(channels, descending);
  check_lock_order(channels, {5, 5, 5, 5});
  check_lock_order(channels, {-1, -1});
}
