// Tests of goro/detail/timer_heap.hpp: the runtime's timers, a heap plus a run of deadlines in
// order. A reference model (a multiset of pending deadlines) checks every add, remove and expiry
// over random sequences that mix in-order deadlines (the run), out-of-order ones (the heap),
// removals anywhere (tombstones, compaction) and ring growth past a wrapped front. And that the
// coarse clock's slack covers how far that clock really lags the precise one.
#include <goro/detail/timer_heap.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace {

using goro::detail::clock;
using goro::detail::timer_heap;
using goro::detail::timer_node;

// fired_log: what the callbacks saw, in call order.
struct fired_log {
  std::vector<std::uint64_t> fired;     // seq of each fire
  std::vector<std::int64_t> deadlines;  // the deadline of each fire (ns from `base`)
  std::vector<std::uint64_t> dropped;   // seq of each drop
};

// timer: a node plus what its callbacks need.
struct timer {
  timer_node node;
  fired_log* log = nullptr;
  std::int64_t at = 0;  // deadline in ns from base
};

void on_fire(void* arg, std::uint64_t seq) {
  auto* t = static_cast<timer*>(arg);
  t->log->fired.push_back(seq);
  t->log->deadlines.push_back(t->at);
}

void on_drop(void* arg) {
  auto* t = static_cast<timer*>(arg);
  t->log->dropped.push_back(t->node.seq);
}

const clock::time_point base = clock::now();

clock::time_point at(std::int64_t ns) {
  return base + std::chrono::nanoseconds(ns);
}

// make_timer: a timer for `deadline` (ns from base) whose callbacks write to `log`, with the
// deadline as its sequence number unless told otherwise.
std::unique_ptr<timer> make_timer(fired_log& log, std::int64_t deadline, std::uint64_t seq = 0) {
  auto t = std::make_unique<timer>();
  t->at = deadline;
  t->log = &log;
  t->node.when = at(deadline);
  t->node.fire = &on_fire;
  t->node.drop = &on_drop;
  t->node.arg = t.get();
  t->node.seq = seq != 0 ? seq : static_cast<std::uint64_t>(deadline);
  return t;
}

// add_timer: makes a timer for `deadline`, adds it to `heap` and keeps it in `timers`.
void add_timer(timer_heap& heap, fired_log& log, std::vector<std::unique_ptr<timer>>& timers,
               std::int64_t deadline) {
  timers.push_back(make_timer(log, deadline));
  heap.add(timers.back()->node);
}

std::int64_t earliest_from_base(const timer_heap& heap) {
  const std::int64_t e = heap.earliest();
  return e == timer_heap::none ? timer_heap::none : e - goro::detail::to_nanoseconds(base);
}

// model_check: runs `steps` random operations on a heap and on the model, comparing them after
// each. `in_order_percent` is the share of adds whose deadline is at or after every earlier one.
void model_check(std::uint64_t seed, int steps, int in_order_percent, int remove_percent) {
  std::mt19937_64 random(seed);
  timer_heap heap;
  fired_log log;
  std::vector<std::unique_ptr<timer>> timers;
  std::multimap<std::int64_t, std::uint64_t> pending;  // deadline -> seq
  std::int64_t now = 0;
  std::int64_t last_added = 0;
  std::uint64_t next_seq = 1;

  auto add = [&] {
    const bool in_order = static_cast<int>(random() % 100) < in_order_percent;
    const std::int64_t when = in_order ? last_added + static_cast<std::int64_t>(random() % 3)
                                       : now + static_cast<std::int64_t>(random() % 1000);
    last_added = std::max(last_added, when);
    auto t = make_timer(log, when, next_seq++);
    const std::int64_t before = pending.empty() ? timer_heap::none : pending.begin()->first;
    const bool became_earliest = heap.add(t->node);
    CHECK(became_earliest == (when < before));
    pending.emplace(when, t->node.seq);
    timers.push_back(std::move(t));
  };
  auto remove = [&] {
    if (timers.empty()) return;
    timer& t = *timers[random() % timers.size()];
    auto it = std::find_if(pending.begin(), pending.end(),
                           [&](const auto& p) { return p.second == t.node.seq; });
    const bool was_pending = it != pending.end();
    CHECK(heap.remove(t.node) == was_pending);
    if (was_pending) pending.erase(it);
    CHECK_FALSE(heap.remove(t.node));  // a second removal finds nothing
  };
  auto expire = [&] {
    now += static_cast<std::int64_t>(random() % 200);
    log.fired.clear();
    log.deadlines.clear();
    const std::size_t n = heap.run_expired(at(now));
    std::vector<std::uint64_t> expected;
    while (!pending.empty() && pending.begin()->first <= now) {
      expected.push_back(pending.begin()->second);
      pending.erase(pending.begin());
    }
    REQUIRE(n == expected.size());
    REQUIRE(log.fired.size() == expected.size());
    CHECK(std::is_sorted(log.deadlines.begin(), log.deadlines.end()));
    std::vector<std::uint64_t> got = log.fired;
    std::sort(got.begin(), got.end());
    std::sort(expected.begin(), expected.end());
    CHECK(got == expected);
  };

  for (int step = 0; step < steps; ++step) {
    const int dice = static_cast<int>(random() % 100);
    if (dice < remove_percent) {
      remove();
    } else if (dice < remove_percent + 10) {
      expire();
    } else {
      add();
    }
    const std::int64_t expected = pending.empty() ? timer_heap::none : pending.begin()->first;
    REQUIRE(earliest_from_base(heap) == expected);
    REQUIRE(heap.empty() == pending.empty());
  }

  // clear drops exactly the pending ones.
  log.dropped.clear();
  heap.clear();
  std::vector<std::uint64_t> expected;
  for (const auto& [when, seq] : pending) expected.push_back(seq);
  std::sort(expected.begin(), expected.end());
  std::sort(log.dropped.begin(), log.dropped.end());
  CHECK(log.dropped == expected);
  CHECK(heap.empty());
  for (auto& t : timers) CHECK_FALSE(heap.remove(t->node));
}

}  // namespace

TEST_CASE("timer_heap matches a reference model over random adds, removals and expiries",
          "[timer_heap]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    INFO("seed " << seed);
    model_check(seed, 20000, 95, 20);   // deadlines mostly in order: the run
    model_check(seed, 20000, 10, 20);   // mostly out of order: the heap
    model_check(seed, 20000, 100, 45);  // removals outnumber expiries: tombstones, compaction
  }
}

TEST_CASE("timer_heap fires in deadline order across the heap and the run", "[timer_heap]") {
  timer_heap heap;
  fired_log log;
  std::vector<std::unique_ptr<timer>> timers;
  // 10, 20, ..., 1000 in order (the run), then 5, 15, ..., 995 (each earlier than the last:
  // the heap).
  std::vector<std::int64_t> deadlines;
  for (std::int64_t d = 10; d <= 1000; d += 10) deadlines.push_back(d);
  for (std::int64_t d = 5; d <= 995; d += 10) deadlines.push_back(d);
  for (std::int64_t d : deadlines) add_timer(heap, log, timers, d);
  CHECK(earliest_from_base(heap) == 5);
  CHECK(heap.run_expired(at(500)) == 100);
  CHECK(heap.run_expired(at(2000)) == 100);
  REQUIRE(log.deadlines.size() == 200);
  CHECK(std::is_sorted(log.deadlines.begin(), log.deadlines.end()));
  CHECK(heap.empty());
}

TEST_CASE("timer_heap keeps positions through ring growth with a wrapped front", "[timer_heap]") {
  timer_heap heap;
  fired_log log;
  std::vector<std::unique_ptr<timer>> timers;
  std::int64_t next = 0;
  auto add_one = [&] { add_timer(heap, log, timers, ++next); };
  // Fill, fire half (the front moves), then add well past the first ring's size so that it grows
  // while its live entries wrap around its end.
  for (int i = 0; i < 48; ++i) add_one();
  CHECK(heap.run_expired(at(24)) == 24);
  for (int i = 0; i < 500; ++i) add_one();
  // Every entry not yet fired can be removed once, wherever the growth put it.
  std::size_t removed = 0;
  for (std::size_t i = 24; i < timers.size(); i += 2) {
    CHECK(heap.remove(timers[i]->node));
    ++removed;
  }
  const std::size_t left = timers.size() - 24 - removed;
  CHECK(heap.run_expired(at(next)) == left);
  for (auto& t : timers) CHECK_FALSE(heap.remove(t->node));
  CHECK(heap.empty());
}

TEST_CASE("timer_heap compacts a run full of tombstones and keeps every position right",
          "[timer_heap]") {
  timer_heap heap;
  fired_log log;
  std::vector<std::unique_ptr<timer>> timers;
  for (std::int64_t d = 1; d <= 2000; ++d) add_timer(heap, log, timers, d);
  // Remove all but every tenth from the middle of the run (the first and the last stay, so the
  // tombstones are neither at its front nor at its back): they soon outnumber the live entries,
  // and the run is compacted, moving the live ones.
  std::vector<std::int64_t> kept;
  for (std::size_t i = 0; i < timers.size(); ++i) {
    const bool keep = i % 10 == 0 || i + 1 == timers.size();
    if (keep) {
      kept.push_back(timers[i]->at);
    } else {
      CHECK(heap.remove(timers[i]->node));
    }
  }
  // The moved entries are found where their positions say: remove every other one of them.
  std::vector<std::int64_t> expected;
  for (std::size_t k = 0; k < kept.size(); ++k) {
    timer& t = *timers[static_cast<std::size_t>(kept[k] - 1)];
    if (k % 2 == 1) {
      CHECK(heap.remove(t.node));
    } else {
      expected.push_back(t.at);
    }
  }
  CHECK(earliest_from_base(heap) == expected.front());
  CHECK(heap.run_expired(at(5000)) == expected.size());
  CHECK(log.deadlines == expected);
  CHECK(heap.empty());
}

TEST_CASE("the coarse clock never lags the precise one by more than its slack", "[timer_heap]") {
  // Over at least 50 ms, so that many timekeeping ticks pass between the samples.
  const std::int64_t slack = goro::detail::coarse_clock_slack_ns();
  std::int64_t worst_lag = 0;
  const auto until = clock::now() + std::chrono::milliseconds(50);
  for (auto now = clock::now(); now < until; now = clock::now()) {
    // The precise clock first: a preemption between the reads can only shrink the lag seen.
    const std::int64_t precise = goro::detail::to_nanoseconds(clock::now());
    const std::int64_t coarse = goro::detail::coarse_now_ns();
    worst_lag = std::max(worst_lag, precise - coarse);
  }
  INFO("worst lag " << worst_lag << " ns, slack " << slack << " ns");
  CHECK(worst_lag <= slack);
}
