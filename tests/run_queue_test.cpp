// Tests of goro/detail/run_queue.hpp: the owner's disciplines (next slot, newest first, fair
// pops from the front, overflow spill) and what thieves may take (half of the ring, only rings
// of a minimum size, `next` only when asked).
#include <goro/detail/run_queue.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <vector>

namespace {

using goro::detail::goroutine;
using goro::detail::goroutine_list;
using goro::detail::local_run_queue;

using loot_array = std::array<goroutine*, local_run_queue::capacity / 2 + 1>;

void push_back(local_run_queue& q, goroutine* g) {
  goroutine_list spill;
  q.push(g, local_run_queue::placement::back, spill);
  REQUIRE(spill.empty());
}

}  // namespace

TEST_CASE("local_run_queue pops next first, then the newest, or the oldest when fair",
          "[run_queue]") {
  using pick = local_run_queue::pick;
  std::vector<goroutine> g(5);
  local_run_queue q;
  push_back(q, &g[0]);
  push_back(q, &g[1]);
  push_back(q, &g[2]);
  push_back(q, &g[3]);
  CHECK(q.push_next(&g[4]) == nullptr);
  CHECK(q.pop(pick::oldest) == &g[4]);  // next still comes first
  CHECK(q.pop(pick::newest) == &g[3]);
  CHECK(q.pop(pick::oldest) == &g[0]);
  CHECK(q.pop(pick::newest) == &g[2]);
  CHECK(q.pop(pick::newest) == &g[1]);
  CHECK(q.pop(pick::newest) == nullptr);
  CHECK_FALSE(q.has_work());
}

TEST_CASE("local_run_queue takes the oldest before next when a time slice ends", "[run_queue]") {
  using pick = local_run_queue::pick;
  std::vector<goroutine> g(3);
  local_run_queue q;
  push_back(q, &g[0]);
  push_back(q, &g[1]);
  CHECK(q.push_next(&g[2]) == nullptr);
  CHECK(q.pop(pick::oldest_before_next) == &g[0]);
  CHECK(q.pop(pick::oldest_before_next) == &g[1]);
  CHECK(q.pop(pick::oldest_before_next) == &g[2]);  // next, once the ring is empty
  CHECK(q.pop(pick::oldest_before_next) == nullptr);
}

TEST_CASE("local_run_queue spills its older half and the new goroutine when full", "[run_queue]") {
  std::vector<goroutine> g(local_run_queue::capacity + 1);
  local_run_queue q;
  for (std::size_t i = 0; i < local_run_queue::capacity; ++i) push_back(q, &g[i]);
  goroutine_list spill;
  q.push(&g.back(), local_run_queue::placement::back, spill);
  std::vector<goroutine*> spilled;
  while (goroutine* s = spill.pop_front()) spilled.push_back(s);
  REQUIRE(spilled.size() == local_run_queue::capacity / 2 + 1);
  for (std::size_t i = 0; i < local_run_queue::capacity / 2; ++i) CHECK(spilled[i] == &g[i]);
  CHECK(spilled.back() == &g.back());
}

TEST_CASE("thieves take half the ring, none below their minimum, and next on request",
          "[run_queue]") {
  std::vector<goroutine> g(8);
  local_run_queue q;
  loot_array loot{};

  SECTION("a ring of one is left to its owner by a thief that wants two") {
    push_back(q, &g[0]);
    CHECK(q.lone_work());
    CHECK(q.steal(loot, false, 2) == 0);
    CHECK(q.steal(loot, false, 1) == 1);
    CHECK(loot[0] == &g[0]);
    CHECK_FALSE(q.has_work());
  }
  SECTION("half of a ring of five, rounded up, from the front") {
    for (int i = 0; i < 5; ++i) push_back(q, &g[i]);
    CHECK_FALSE(q.lone_work());
    REQUIRE(q.steal(loot, false, 2) == 3);
    CHECK(loot[0] == &g[0]);
    CHECK(loot[1] == &g[1]);
    CHECK(loot[2] == &g[2]);
    CHECK(q.pop(local_run_queue::pick::newest) == &g[4]);
    CHECK(q.pop(local_run_queue::pick::newest) == &g[3]);
  }
  SECTION("next goes only to a thief that asks for it, and only with the ring empty") {
    CHECK(q.push_next(&g[0]) == nullptr);
    CHECK(q.lone_work());
    CHECK(q.steal(loot, false, 1) == 0);
    CHECK(q.steal(loot, true, 1) == 1);
    CHECK(loot[0] == &g[0]);
    CHECK_FALSE(q.has_work());
    push_back(q, &g[1]);
    CHECK(q.push_next(&g[2]) == nullptr);
    CHECK(q.lone_work());  // one in the ring, one in next
    CHECK(q.steal(loot, true, 1) == 1);
    CHECK(loot[0] == &g[1]);  // the ring first
    CHECK(q.steal(loot, true, 1) == 1);
    CHECK(loot[0] == &g[2]);
  }
}

TEST_CASE("local_run_queue keeps yielded goroutines behind the ring, in order", "[run_queue]") {
  using pick = local_run_queue::pick;
  std::vector<goroutine> g(6);
  local_run_queue q;
  goroutine_list spill;
  q.push(&g[0], local_run_queue::placement::yielded, spill);
  q.push(&g[1], local_run_queue::placement::yielded, spill);
  push_back(q, &g[2]);
  push_back(q, &g[3]);
  CHECK(q.has_work());
  CHECK(q.pop(pick::newest) == &g[3]);   // the ring first, newest first
  CHECK(q.pop(pick::yielded) == &g[0]);  // the fair pick that serves the yielded, oldest first
  CHECK(q.pop(pick::oldest) == &g[2]);
  CHECK(q.pop(pick::newest) == &g[1]);  // the ring is empty: the yielded list
  CHECK(q.pop(pick::newest) == nullptr);

  // A thief takes half of both, the ring's oldest first, then the yielded ones.
  push_back(q, &g[0]);
  q.push(&g[1], local_run_queue::placement::yielded, spill);
  q.push(&g[2], local_run_queue::placement::yielded, spill);
  q.push(&g[3], local_run_queue::placement::yielded, spill);
  loot_array loot{};
  REQUIRE(q.steal(loot, false, 2) == 2);
  CHECK(loot[0] == &g[0]);
  CHECK(loot[1] == &g[1]);
  // A lone yielded goroutine is taken only with at_least 1, as a lone one in the ring.
  CHECK(q.pop(pick::newest) == &g[2]);
  CHECK(q.steal(loot, false, 2) == 0);
  CHECK(q.steal(loot, false, 1) == 1);
  CHECK(loot[0] == &g[3]);
  CHECK_FALSE(q.has_work());
  CHECK(spill.empty());
}

TEST_CASE("the global run queue gives batches of at most the size asked, oldest first",
          "[run_queue]") {
  using goro::detail::global_run_queue;
  std::vector<goroutine> g(10);
  global_run_queue q;
  CHECK(q.pop_batch(4).empty());
  goroutine_list batch;
  for (goroutine& one : g) batch.push_back(&one);
  q.push(batch);
  CHECK(q.size_hint() == 10);
  std::vector<goroutine*> taken;
  for (const std::size_t max : {std::size_t{1}, std::size_t{4}, std::size_t{0}, std::size_t{9}}) {
    goroutine_list out = q.pop_batch(max);
    INFO("pop_batch(" << max << ")");
    CHECK(out.size == std::min<std::size_t>(max, 10 - taken.size()));
    while (!out.empty()) taken.push_back(out.pop_front());
    CHECK(q.size_hint() == 10 - taken.size());
  }
  REQUIRE(taken.size() == g.size());
  for (std::size_t i = 0; i < g.size(); ++i) CHECK(taken[i] == &g[i]);
}
