// goro_soak — the soak test: random mixes of every primitive for a configurable time, with an
// invariant check after every round.
//
//   goro_soak [--seconds S] [--channel-ops N] [--seed X] [--only ROUND]
//   (defaults from GORO_SOAK_SECONDS, GORO_SOAK_CHANNEL_OPS, GORO_SOAK_SEED; else 10 s, 10^7, 1)
//
// It runs until both S seconds have passed and N channel operations (completed sends and
// receives, select cases included) were accounted for. Each batch is one goro::run with a
// random number of workers that alternates two kinds of rounds:
//
//   - channel rounds: producers send unique value ids over 1-4 channels of random capacity by
//     send, select and try_send; consumers take them by recv, range-for, select, select_set and
//     try_recv; the channels are closed when the producers are done or, in some rounds, early,
//     racing with blocked senders (which then get channel_closed back with their value). Every
//     id must end up received exactly once or returned to its producer exactly once, never both,
//     and the received ids' sum must match.
//   - primitive rounds: mutex, shared_mutex, condition_variable, once, semaphore (acquires with
//     contexts that time out or are cancelled among them), wait_group, timers and tickers,
//     contexts, group (go and try_go), singleflight (call, call_chan and forget over two keys,
//     one that may throw), signals (notify, notify_context and stop), sockets (TCP, Unix-domain
//     stream and "unixpacket", and UDP echoes), blocking() and sleep, each with its invariant.
//
// A failed invariant prints the seed and round and exits with status 1. Scheduling is not
// deterministic, but a seed fixes every random choice the test itself makes; set GORO_CHAOS as
// well to perturb the schedule.
#include <goro/goro.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct settings {
  double seconds = 10;
  std::uint64_t channel_ops = 10'000'000;
  std::uint64_t seed = 1;
  std::string only;  // one kind of round ("channels" or a primitive's name); empty: all
};

std::uint64_t current_seed = 0;
std::atomic<std::uint64_t> current_round{0};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "goro_soak: FAILED in round %llu (seed %llu): %s\n",
               static_cast<unsigned long long>(current_round.load()),
               static_cast<unsigned long long>(current_seed), what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// --- channel rounds ---------------------------------------------------------------------------

constexpr std::size_t max_channels = 4;
using channel_set = std::array<goro::chan<std::uint64_t>, max_channels>;  // unused: nil

// ledger: the fate of every value id of a round. Bit 1: received; bit 2: returned to its
// producer by channel_closed. Exactly one bit must be set at the end.
class ledger {
 public:
  explicit ledger(std::size_t n) : marks_(n) {}
  void received(std::uint64_t id) {
    check(id < marks_.size(), "received an id never sent: " + std::to_string(id));
    const auto before = marks_[id].fetch_or(1, std::memory_order_relaxed);
    check(before == 0, "value " + std::to_string(id) + " received twice or after being returned");
    sum_.fetch_add(id, std::memory_order_relaxed);
  }
  void returned(std::uint64_t id) {
    const auto before = marks_[id].fetch_or(2, std::memory_order_relaxed);
    check(before == 0, "value " + std::to_string(id) + " returned after being received");
  }
  // settle: every id accounted for exactly once; returns how many were received.
  std::uint64_t settle(bool closed_early) const {
    std::uint64_t received = 0;
    std::uint64_t expected_sum = 0;
    for (std::size_t id = 0; id < marks_.size(); ++id) {
      const auto m = marks_[id].load(std::memory_order_relaxed);
      check(m == 1 || (closed_early && m == 2),
            "value " + std::to_string(id) + " lost (mark " + std::to_string(int(m)) + ")");
      if (m == 1) {
        ++received;
        expected_sum += id;
      }
    }
    check(sum_.load() == expected_sum, "checksum of received values differs");
    return received;
  }

 private:
  std::vector<std::atomic<std::uint8_t>> marks_;
  std::atomic<std::uint64_t> sum_{0};
};

// One producer: sends ids [first, last) by one method; on channel_closed returns the rest.
void produce(const channel_set& chans, std::size_t active, std::uint64_t first, std::uint64_t last,
             int method, ledger& book, std::atomic<std::uint64_t>& ops) {
  std::uint64_t sent = 0;
  std::uint64_t id = first;
  try {
    for (; id < last; ++id) {
      switch (method) {
        case 0: chans[id % active].send(id); break;
        case 1:
          goro::select(goro::on_send(chans[0], id), goro::on_send(chans[1], id),
                       goro::on_send(chans[2], id), goro::on_send(chans[3], id));
          break;
        default:  // try first; block if that fails (two pollers could never meet)
          if (!chans[id % active].try_send(id)) chans[id % active].send(id);
          break;
      }
      ++sent;
    }
  } catch (const goro::channel_closed&) {
    for (; id < last; ++id) book.returned(id);
  }
  ops.fetch_add(sent, std::memory_order_relaxed);
}

// One consumer: receives by one method until every channel is closed and drained.
void consume(channel_set chans, std::size_t active, int method, ledger& book,
             std::atomic<std::uint64_t>& ops) {
  std::uint64_t got = 0;
  auto take = [&](std::uint64_t id) {
    book.received(id);
    ++got;
  };
  switch (method) {
    case 0:  // recv, one channel after the other
      for (std::size_t i = 0; i < active; ++i) {
        while (auto v = chans[i].recv()) take(*v);
      }
      break;
    case 1:  // range-for
      for (std::size_t i = 0; i < active; ++i) {
        for (std::uint64_t v : chans[i]) take(v);
      }
      break;
    case 2: {  // select over all, a closed channel becomes nil (the Go idiom)
      std::size_t open = active;
      while (open > 0) {
        auto on = [&](std::size_t i) {
          return goro::on_recv(chans[i], [&, i](std::optional<std::uint64_t> v) {
            if (v) {
              take(*v);
            } else {
              chans[i] = nullptr;
              --open;
            }
          });
        };
        goro::select(on(0), on(1), on(2), on(3));
      }
      break;
    }
    case 3: {  // select_set, one set per channel still open
      std::vector<bool> closed(active, false);
      std::size_t open = active;
      while (open > 0) {
        goro::select_set<std::uint64_t> set;
        std::vector<std::size_t> index;
        for (std::size_t i = 0; i < active; ++i) {
          if (!closed[i]) {
            set.add_recv(chans[i]);
            index.push_back(i);
          }
        }
        for (std::size_t n = 0; n < 64 && open > 0; ++n) {
          auto r = set.select();
          if (!r.value) {
            closed[index[r.index]] = true;
            --open;
            break;  // rebuild without it
          }
          take(*r.value);
        }
      }
      break;
    }
    default: {  // polling: try_recv, and a select with a default to tell empty from closed
      std::vector<bool> closed(active, false);
      std::size_t open = active;
      while (open > 0) {
        bool progress = false;
        for (std::size_t i = 0; i < active; ++i) {
          if (closed[i]) continue;
          if (auto v = chans[i].try_recv()) {
            take(*v);
            progress = true;
            continue;
          }
          goro::select(goro::on_recv(chans[i],
                                     [&, i](std::optional<std::uint64_t> v) {
                                       progress = true;
                                       if (v) {
                                         take(*v);
                                       } else {
                                         closed[i] = true;
                                         --open;
                                       }
                                     }),
                       goro::on_default());
        }
        if (!progress) goro::yield();
      }
      break;
    }
  }
  ops.fetch_add(got, std::memory_order_relaxed);
}

std::uint64_t channel_round(std::mt19937_64& rng) {
  const std::size_t active = 1 + rng() % max_channels;
  static constexpr std::array<int, 5> capacities{0, 0, 1, 8, 128};
  channel_set chans{nullptr, nullptr, nullptr, nullptr};
  for (std::size_t i = 0; i < active; ++i)
    chans[i] = goro::chan<std::uint64_t>(capacities[rng() % 5]);
  const std::size_t producers = 1 + rng() % 8;
  const std::size_t consumers = std::max<std::size_t>(active, 1 + rng() % 8);
  const std::uint64_t per_producer = 1000 + rng() % 40'000;
  const bool close_early = rng() % 5 == 0;
  ledger book(producers * per_producer);
  std::atomic<std::uint64_t> ops{0};
  goro::wait_group producing, consuming;
  for (std::size_t p = 0; p < producers; ++p) {
    producing.add(1);
    const int method = static_cast<int>(rng() % 3);
    goro::go([&, p, method] {
      produce(chans, active, p * per_producer, (p + 1) * per_producer, method, book, ops);
      producing.done();
    });
  }
  for (std::size_t c = 0; c < consumers; ++c) {
    consuming.add(1);
    const int method = static_cast<int>(rng() % 5);
    // recv and range-for drain one channel after another: such a consumer gets one channel
    // (consumer c reads channel c % active, so every channel has a reader).
    channel_set mine = chans;
    std::size_t reads = active;
    if (method < 2) {
      mine = {chans[c % active], nullptr, nullptr, nullptr};
      reads = 1;
    }
    goro::go([&, mine, reads, method] {
      consume(mine, reads, method, book, ops);
      consuming.done();
    });
  }
  if (close_early) goro::sleep_for(std::chrono::microseconds(rng() % 2000));
  if (!close_early) producing.wait();
  for (std::size_t i = 0; i < active; ++i) chans[i].close();
  producing.wait();
  consuming.wait();
  book.settle(close_early);
  return ops.load();
}

// --- primitive rounds ------------------------------------------------------------------------

void mutex_round(std::mt19937_64& rng) {
  goro::mutex m;
  long counter = 0;  // guarded by m
  std::atomic<int> inside{0};
  const int goroutines = 2 + static_cast<int>(rng() % 16);
  const int iterations = 200 + static_cast<int>(rng() % 2000);
  goro::wait_group wg;
  for (int g = 0; g < goroutines; ++g) {
    wg.add(1);
    goro::go([&, g] {
      for (int i = 0; i < iterations; ++i) {
        std::lock_guard guard(m);
        check(inside.fetch_add(1) == 0, "two goroutines inside a goro::mutex");
        ++counter;
        if ((i + g) % 97 == 0) goro::yield();  // hold it across a reschedule
        inside.fetch_sub(1);
      }
      wg.done();
    });
  }
  wg.wait();
  check(counter == long{goroutines} * iterations, "mutex counter " + std::to_string(counter));
}

void shared_mutex_round(std::mt19937_64& rng) {
  goro::shared_mutex m;
  long a = 0, b = 0;  // guarded by m; a == b outside a writer's critical section
  std::atomic<int> writers_inside{0};
  const int writers = 1 + static_cast<int>(rng() % 4);
  const int readers = 1 + static_cast<int>(rng() % 12);
  const int iterations = 200 + static_cast<int>(rng() % 1000);
  goro::wait_group wg;
  for (int w = 0; w < writers; ++w) {
    wg.add(1);
    goro::go([&] {
      for (int i = 0; i < iterations; ++i) {
        std::lock_guard guard(m);
        check(writers_inside.fetch_add(1) == 0, "two writers inside a goro::shared_mutex");
        ++a;
        if (i % 31 == 0) goro::yield();
        ++b;
        writers_inside.fetch_sub(1);
      }
      wg.done();
    });
  }
  for (int r = 0; r < readers; ++r) {
    wg.add(1);
    goro::go([&] {
      for (int i = 0; i < iterations; ++i) {
        std::shared_lock guard(m);
        check(writers_inside.load() == 0 && a == b, "a reader saw a writer's half-done update");
      }
      wg.done();
    });
  }
  wg.wait();
  check(a == long{writers} * iterations && a == b, "shared_mutex counters");
}

void condition_variable_round(std::mt19937_64& rng) {
  goro::mutex m;
  goro::condition_variable not_empty, not_full;
  std::vector<long> queue;  // guarded by m
  const std::size_t bound = 1 + rng() % 8;
  const int producers = 1 + static_cast<int>(rng() % 6);
  const int consumers = 1 + static_cast<int>(rng() % 6);
  const long per_producer = 500 + static_cast<long>(rng() % 3000);
  const long total = producers * per_producer;
  long taken = 0;  // guarded by m
  std::atomic<long> sum{0};
  goro::wait_group wg;
  for (int p = 0; p < producers; ++p) {
    wg.add(1);
    goro::go([&, p] {
      for (long i = 0; i < per_producer; ++i) {
        std::unique_lock lock(m);
        not_full.wait(lock, [&] { return queue.size() < bound; });
        queue.push_back(p * per_producer + i);
        not_empty.notify_one();
      }
      wg.done();
    });
  }
  for (int c = 0; c < consumers; ++c) {
    wg.add(1);
    goro::go([&] {
      std::unique_lock lock(m);
      for (;;) {
        not_empty.wait(lock, [&] { return !queue.empty() || taken == total; });
        if (queue.empty()) break;
        sum.fetch_add(queue.back());
        queue.pop_back();
        if (++taken == total) not_empty.notify_all();
        not_full.notify_one();
      }
      lock.unlock();  // before done(): once wait() returns, `m` may be gone
      wg.done();
    });
  }
  wg.wait();
  check(sum.load() == total * (total - 1) / 2,
        "condition_variable queue lost or duplicated values");
}

void once_round(std::mt19937_64& rng) {
  goro::once once;
  std::atomic<int> attempts{0};
  const int failures = static_cast<int>(rng() % 3);  // the first calls throw, later ones retry
  std::atomic<int> done_seen{0};
  const int goroutines = 2 + static_cast<int>(rng() % 30);
  goro::wait_group wg;
  for (int g = 0; g < goroutines; ++g) {
    wg.add(1);
    goro::go([&] {
      for (;;) {
        try {
          once.call([&] {
            const int attempt = attempts.fetch_add(1);
            goro::yield();
            if (attempt < failures) throw std::runtime_error("not yet");
          });
          break;
        } catch (const std::runtime_error&) {
        }
      }
      done_seen.fetch_add(1);
      wg.done();
    });
  }
  wg.wait();
  check(attempts.load() == failures + 1,
        "once ran its function " + std::to_string(attempts.load()) + " times");
  check(done_seen.load() == goroutines, "once callers");
}

// acquire_with_context: sem.acquire(ctx, weight) with a context that times out within 200 µs or
// that another goroutine cancels at once; true if it took the permits. Giving up must report
// the context's error.
bool acquire_with_context(goro::semaphore& sem, std::ptrdiff_t weight, std::mt19937_64& rng) {
  auto [ctx, cancel] = rng() % 2 == 0 ? goro::with_timeout(goro::background(),
                                                           std::chrono::microseconds(rng() % 200))
                                      : goro::with_cancel(goro::background());
  if (rng() % 2 == 0) goro::go([cancel = cancel] { cancel(); });
  const std::error_code err = sem.acquire(ctx, weight);
  if (err) check(err == ctx.err(), "a semaphore acquire gave up without its context's error");
  cancel();
  return !err;
}

void semaphore_round(std::mt19937_64& rng) {
  const std::ptrdiff_t capacity = 1 + static_cast<std::ptrdiff_t>(rng() % 6);
  goro::semaphore sem(capacity);
  std::atomic<std::ptrdiff_t> in_use{0};
  const int goroutines = 2 + static_cast<int>(rng() % 24);
  goro::wait_group wg;
  for (int g = 0; g < goroutines; ++g) {
    wg.add(1);
    const std::ptrdiff_t weight = 1 + static_cast<std::ptrdiff_t>(rng() % capacity);
    const bool with_contexts = rng() % 2 == 0;  // acquires that may give up
    const std::uint64_t seed = rng();
    goro::go([&, weight, with_contexts, seed] {
      std::mt19937_64 own(seed);
      for (int i = 0; i < 50; ++i) {
        if (with_contexts) {
          if (!acquire_with_context(sem, weight, own)) continue;
        } else {
          sem.acquire(weight);
        }
        check(in_use.fetch_add(weight) + weight <= capacity, "semaphore over capacity");
        goro::yield();
        in_use.fetch_sub(weight);
        sem.release(weight);
      }
      wg.done();
    });
  }
  wg.wait();
  check(sem.try_acquire(capacity), "semaphore permits lost");
}

void wait_group_round(std::mt19937_64& rng) {
  goro::wait_group outer;
  std::atomic<int> finished{0};
  const int parents = 1 + static_cast<int>(rng() % 10);
  const int children = static_cast<int>(rng() % 10);
  outer.add(parents);
  for (int p = 0; p < parents; ++p) {
    goro::go([&] {
      outer.add(children);  // added before this parent's own done: the count never hits zero early
      for (int c = 0; c < children; ++c) {
        goro::go([&] {
          goro::yield();
          finished.fetch_add(1);
          outer.done();
        });
      }
      finished.fetch_add(1);
      outer.done();
    });
  }
  outer.wait();
  check(finished.load() == parents * (children + 1), "wait_group returned early");
}

void timer_round(std::mt19937_64& rng) {
  const int goroutines = 1 + static_cast<int>(rng() % 50);
  std::atomic<int> fired_early{0};
  std::atomic<int> stopped_but_fired{0};
  goro::wait_group wg;
  for (int g = 0; g < goroutines; ++g) {
    wg.add(1);
    const auto d = std::chrono::microseconds(rng() % 3000);
    const int kind = static_cast<int>(rng() % 4);
    goro::go([&, d, kind] {
      const auto start = clock_type::now();
      switch (kind) {
        case 0:
          goro::sleep_for(d);
          if (clock_type::now() - start < d) fired_early.fetch_add(1);
          break;
        case 1: {
          auto when = goro::after(d).recv();
          if (!when || *when - start < d) fired_early.fetch_add(1);
          break;
        }
        case 2: {
          goro::timer t(1h);
          if (!t.stop()) stopped_but_fired.fetch_add(1);
          t.reset(d);
          if (t.c().recv().value() - start < d) fired_early.fetch_add(1);
          break;
        }
        default: {
          goro::ticker t(std::chrono::microseconds(200) + d / 10);
          clock_type::time_point last{};
          for (int i = 0; i < 3; ++i) {
            auto tick = t.c().recv().value();
            if (tick <= last) fired_early.fetch_add(1);
            last = tick;
          }
          break;
        }
      }
      wg.done();
    });
  }
  wg.wait();
  check(fired_early.load() == 0, "a timer fired before its deadline or a tick went backwards");
  check(stopped_but_fired.load() == 0, "stop of a pending timer returned false");
}

void context_round(std::mt19937_64& rng) {
  auto [root, cancel_root] = goro::with_cancel(goro::background());
  std::vector<goro::context> nodes{root};
  std::vector<goro::cancel_func> cancels;
  const int count = 10 + static_cast<int>(rng() % 200);
  for (int i = 0; i < count; ++i) {
    const auto& parent = nodes[rng() % nodes.size()];
    auto [child, cancel] =
        rng() % 4 == 0 ? goro::with_timeout(parent, 1h) : goro::with_cancel(parent);
    nodes.push_back(child);
    cancels.push_back(cancel);
  }
  goro::wait_group waiting;
  std::atomic<int> woken{0};
  for (const auto& ctx : nodes) {
    waiting.add(1);
    goro::go([&, ctx] {
      ctx.done().recv();
      if (ctx.err() == goro::errc::canceled) woken.fetch_add(1);
      waiting.done();
    });
  }
  if (!cancels.empty()) cancels[rng() % cancels.size()]();  // a subtree first
  goro::yield();
  cancel_root();
  waiting.wait();
  check(woken.load() == static_cast<int>(nodes.size()), "a descendant was not cancelled");
  auto [short_lived, cancel_short] =
      goro::with_timeout(goro::background(), std::chrono::microseconds(rng() % 1000));
  short_lived.done().recv();
  check(short_lived.err() == goro::errc::deadline_exceeded, "with_timeout did not expire");
  cancel_short();
}

void group_round(std::mt19937_64& rng) {
  goro::group g;
  g.set_limit(rng() % 2 == 0 ? -1 : 1 + static_cast<std::ptrdiff_t>(rng() % 4));
  const int tasks = 1 + static_cast<int>(rng() % 30);
  const int thrower = rng() % 2 == 0 ? static_cast<int>(rng() % tasks) : -1;
  std::atomic<int> ran{0};
  for (int t = 0; t < tasks; ++t) {
    const auto task = [&, t] {
      ran.fetch_add(1);
      goro::yield();
      if (t == thrower) throw std::runtime_error("task " + std::to_string(t));
    };
    // try_go when the limit has room; else (or one time in two) go, which waits for it.
    if (rng() % 2 == 0 || !g.try_go(task)) g.go(task);
  }
  bool threw = false;
  try {
    g.wait();
  } catch (const std::runtime_error& e) {
    threw = true;
    check(std::string(e.what()) == "task " + std::to_string(thrower),
          "group rethrew another error");
  }
  check(threw == (thrower >= 0), "group::wait and the first error");
  check(ran.load() == tasks, "group lost a task");
  check(static_cast<bool>(g.ctx().err()), "group context not cancelled after wait");
}

// key_error: what a singleflight round's function for key K throws. An exception type per key,
// caught by type and never read: every caller of a call shares one exception object, and
// libstdc++ counts its references where ThreadSanitizer cannot see, so reading it in one
// goroutine while its last reference goes in another is reported as a race that is none.
template <int K>
struct key_error : std::exception {};

// singleflight_round: goroutines call and call_chan over two keys while one of them may throw
// and another forgets; every caller gets a result of its own key's call, each call's number
// reaches at least its own caller, and nobody is left waiting.
void singleflight_round(std::mt19937_64& rng) {
  goro::singleflight<long, int> flights;
  const int callers = 1 + static_cast<int>(rng() % 24);
  const int failing_key = static_cast<int>(rng() % 3);  // 2: none fails
  std::atomic<long> next_call{0};
  std::atomic<int> answered{0};
  std::atomic<int> crossed{0};
  goro::wait_group wg;
  for (int i = 0; i < callers; ++i) {
    const int key = static_cast<int>(rng() % 2);
    const std::uint64_t how = rng() % 8;
    wg.add(1);
    goro::go([&, key, how] {
      const auto fn = [&, key]() -> long {
        const long number = next_call.fetch_add(1);
        goro::yield();
        if (key == failing_key && key == 0) throw key_error<0>();
        if (key == failing_key) throw key_error<1>();
        return number * 2 + key;
      };
      try {
        if (how == 0) flights.forget(key);
        const long value =
            how < 4 ? flights.call(key, fn).value : flights.call_chan(key, fn).recv()->get();
        if (value % 2 != key || key == failing_key) crossed.fetch_add(1);
      } catch (const key_error<0>&) {
        if (key != 0 || failing_key != 0) crossed.fetch_add(1);
      } catch (const key_error<1>&) {
        if (key != 1 || failing_key != 1) crossed.fetch_add(1);
      }
      answered.fetch_add(1);
      wg.done();
    });
  }
  wg.wait();
  check(answered.load() == callers, "singleflight left a caller without a result");
  check(crossed.load() == 0, "singleflight gave a caller another key's result");
  check(next_call.load() >= 1 && next_call.load() <= callers,
        "singleflight ran more calls than callers, or none");
}

// signals_round: goroutines each watch SIGWINCH or SIGURG (whose default actions ignore them, so
// a signal that arrives after the last stop ends nothing) on a channel or a notify_context of
// their own, send it to the process, wait for it and stop; every one gets its signal, and no
// watcher is left.
void signals_round(std::mt19937_64& rng) {
  const int watchers = 1 + static_cast<int>(rng() % 8);
  std::atomic<int> received{0};
  goro::wait_group wg;
  for (int i = 0; i < watchers; ++i) {
    const int number = rng() % 2 == 0 ? SIGWINCH : SIGURG;
    const bool by_context = rng() % 4 == 0;
    const std::size_t capacity = rng() % 3;
    wg.add(1);
    goro::go([&, number, by_context, capacity] {
      goro::chan<int> mine(capacity);
      std::pair<goro::context, goro::cancel_func> watched{goro::background(), [] {}};
      if (by_context) {
        watched = goro::signals::notify_context(goro::background(), number);
      } else {
        goro::signals::notify(mine, number);
      }
      const auto give_up = goro::after(10s);
      // Once, but again every millisecond into an unbuffered channel: a signal that comes while
      // its goroutine is not yet receiving is missed there, as in Go.
      const bool resend = capacity == 0 && !by_context;
      for (bool got = false, sent = false; !got; sent = true) {
        if (!sent || resend) ::kill(::getpid(), number);
        const std::size_t fired =
            by_context ? goro::select(goro::on_recv(watched.first.done()), goro::on_recv(give_up))
                       : goro::select(goro::on_recv(mine), goro::on_recv(give_up),
                                      goro::on_recv(goro::after(1ms)));
        check(fired != 1, "a watched signal never arrived");
        got = fired == 0;
      }
      received.fetch_add(1);
      if (by_context) {
        watched.second();
      } else {
        goro::signals::stop(mine);
      }
      wg.done();
    });
  }
  wg.wait();
  check(received.load() == watchers, "a signal watcher got nothing");
  check(goro::detail::process().signal_watchers.load() == 0, "a signal watcher was left");
}

// sockets_round: clients dial a server of a random network — TCP, a Unix-domain stream or
// "unixpacket" connection (an abstract name) or UDP — and send it messages of random sizes,
// which it echoes; every byte comes back as sent. A connected client half-closes its conn at the
// end (close_write) and reads until the server's end of stream ("unixpacket": message by
// message, each read taking one whole). UDP clients wait for each echo before the next datagram
// (loopback drops none while the receiver has room).
void sockets_round(std::mt19937_64& rng) {
  static std::atomic<unsigned> next_name{0};
  const int network = static_cast<int>(rng() % 4);  // tcp, unix, udp, unixpacket
  const int clients = 1 + static_cast<int>(rng() % 4);
  const int messages = 1 + static_cast<int>(rng() % 8);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::atomic<int> intact{0};
  goro::wait_group wg;
  auto exchange = [&](goro::net::conn& c, unsigned seed) {
    std::mt19937_64 own(seed);
    std::string sent, got;
    std::array<char, 2048> buf;
    for (int m = 0; m < messages; ++m) {
      std::string message(1 + own() % (network == 2 ? 512 : 2048), '\0');
      for (char& ch : message) ch = static_cast<char>('a' + own() % 26);
      c.write(message);
      sent += message;
      if (network == 2) got.append(buf.data(), c.read(std::span(buf)));
    }
    if (network != 2) {
      c.close_write();
      while (std::size_t n = c.read(std::span(buf))) got.append(buf.data(), n);
    }
    if (got == sent) intact.fetch_add(1);
  };
  if (network == 2) {
    goro::net::packet_conn server = goro::net::listen_packet("udp", "127.0.0.1:0");
    server.set_deadline(deadline);
    wg.add(1);
    goro::go([&] {
      std::array<char, 2048> buf;
      for (int i = 0; i < clients * messages; ++i) {
        const goro::net::datagram d = server.read_from(std::span(buf));
        server.write_to(std::string_view(buf.data(), d.size), d.from);
      }
      wg.done();
    });
    for (int i = 0; i < clients; ++i) {
      wg.add(1);
      goro::go([&, seed = static_cast<unsigned>(rng())] {
        goro::net::conn c = goro::net::dial("udp", server.local_address());
        c.set_deadline(deadline);
        exchange(c, seed);
        wg.done();
      });
    }
    wg.wait();
  } else {
    const std::string address = network == 0 ? std::string("127.0.0.1:0")
                                             : "@goro-soak-" + std::to_string(::getpid()) + "-" +
                                                   std::to_string(next_name.fetch_add(1));
    const char* const name = network == 0 ? "tcp" : network == 1 ? "unix" : "unixpacket";
    goro::net::listener ln = goro::net::listen(name, address);
    for (int i = 0; i < clients; ++i) {
      wg.add(2);
      goro::go([&] {
        goro::net::conn s = ln.accept();
        s.set_deadline(deadline);
        std::array<char, 4096> buf;
        while (std::size_t n = s.read(std::span(buf))) s.write(std::string_view(buf.data(), n));
        wg.done();
      });
      goro::go([&, seed = static_cast<unsigned>(rng())] {
        goro::net::conn c = goro::net::dial(name, ln.address());
        c.set_deadline(deadline);
        exchange(c, seed);
        wg.done();
      });
    }
    wg.wait();
  }
  check(intact.load() == clients, "a socket client's bytes did not all come back as sent");
}

void blocking_round(std::mt19937_64& rng) {
  const int calls = 1 + static_cast<int>(rng() % 8);
  std::atomic<int> sum{0};
  goro::wait_group wg;
  for (int i = 0; i < calls; ++i) {
    wg.add(1);
    goro::go([&, i] {
      sum.fetch_add(goro::blocking([i] {
        std::this_thread::sleep_for(100us);
        return i;
      }));
      wg.done();
    });
  }
  wg.wait();
  check(sum.load() == calls * (calls - 1) / 2, "blocking() results");
}

using round_fn = void (*)(std::mt19937_64&);
constexpr std::array<std::pair<const char*, round_fn>, 13> primitive_rounds{{
    {"mutex", mutex_round},
    {"shared_mutex", shared_mutex_round},
    {"condition_variable", condition_variable_round},
    {"once", once_round},
    {"semaphore", semaphore_round},
    {"wait_group", wait_group_round},
    {"timers", timer_round},
    {"context", context_round},
    {"group", group_round},
    {"singleflight", singleflight_round},
    {"signals", signals_round},
    {"sockets", sockets_round},
    {"blocking", blocking_round},
}};

// --- driver ----------------------------------------------------------------------------------

[[noreturn]] void usage_error(const std::string& problem) {
  std::fprintf(stderr,
               "goro_soak: %s\n"
               "usage: goro_soak [--seconds S] [--channel-ops N] [--seed X] [--only ROUND]\n",
               problem.c_str());
  std::exit(2);
}

// parse_count, parse_seconds: a whole value or a usage error that names `what` (the flag or
// the environment variable) and the text; "10x", "" or "-1" are refused, not read as 10 or 0.
std::uint64_t parse_count(const std::string& what, std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty()) {
    usage_error(what + ": not a count: '" + std::string(text) + "'");
  }
  return value;
}

double parse_seconds(const std::string& what, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(value >= 0) || value > 1e9) {
    usage_error(what + ": not a number of seconds: '" + text + "'");
  }
  return value;
}

settings parse(int argc, char** argv) {
  settings s;
  if (const char* v = std::getenv("GORO_SOAK_SECONDS")) {
    s.seconds = parse_seconds("GORO_SOAK_SECONDS", v);
  }
  if (const char* v = std::getenv("GORO_SOAK_CHANNEL_OPS")) {
    s.channel_ops = parse_count("GORO_SOAK_CHANNEL_OPS", v);
  }
  if (const char* v = std::getenv("GORO_SOAK_SEED")) s.seed = parse_count("GORO_SOAK_SEED", v);
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag != "--seconds" && flag != "--channel-ops" && flag != "--seed" && flag != "--only") {
      usage_error("unknown option '" + flag + "'");
    }
    if (i + 1 == argc) usage_error(flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--seconds") {
      s.seconds = parse_seconds(flag, value);
    } else if (flag == "--channel-ops") {
      s.channel_ops = parse_count(flag, value);
    } else if (flag == "--seed") {
      s.seed = parse_count(flag, value);
    } else {
      s.only = value;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  settings s = parse(argc, argv);
  std::vector<std::size_t> kinds;  // the primitive rounds to draw from
  for (std::size_t k = 0; k < primitive_rounds.size(); ++k) {
    if (s.only.empty() || s.only == primitive_rounds[k].first) kinds.push_back(k);
  }
  if (!s.only.empty() && s.only != "channels") s.channel_ops = 0;
  if (s.only == "channels") kinds.clear();
  if (!s.only.empty() && kinds.empty() && s.only != "channels") {
    std::fprintf(stderr, "goro_soak: no round named %s\n", s.only.c_str());
    return 2;
  }
  current_seed = s.seed;
  std::mt19937_64 rng(s.seed);
  const auto start = clock_type::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(clock_type::now() - start).count();
  };
  std::uint64_t channel_ops = 0;
  std::uint64_t channel_rounds = 0;
  clock_type::duration channel_time{};
  std::array<std::uint64_t, primitive_rounds.size()> counts{};
  std::uint64_t runs = 0;
  while ((elapsed() < s.seconds && !kinds.empty()) || channel_ops < s.channel_ops) {
    goro::options o;
    o.workers = 1 + static_cast<unsigned>(rng() % 4);
    const double batch_end = elapsed() + 1.0;
    goro::run(
        [&] {
          while (elapsed() < batch_end) {
            const bool channels_left = channel_ops < s.channel_ops;
            const bool time_left = elapsed() < s.seconds && !kinds.empty();
            if (!channels_left && !time_left) break;
            if (channels_left) {
              current_round.fetch_add(1);
              const auto round_start = clock_type::now();
              channel_ops += channel_round(rng);
              channel_time += clock_type::now() - round_start;
              ++channel_rounds;
            }
            if (time_left) {
              const std::size_t k = kinds[rng() % kinds.size()];
              current_round.fetch_add(1);
              primitive_rounds[k].second(rng);
              ++counts[k];
            }
          }
        },
        o);
    ++runs;
    check(goro::num_goroutines() == 0, "goroutines left after a run");
  }
  std::printf("goro_soak: passed — seed %llu, %.1f s, %llu runs, %llu rounds\n",
              static_cast<unsigned long long>(s.seed), elapsed(),
              static_cast<unsigned long long>(runs),
              static_cast<unsigned long long>(current_round.load()));
  const double channel_seconds = std::chrono::duration<double>(channel_time).count();
  std::printf("  channel operations accounted for: %llu in %llu rounds (%.1f s, %.1f M/s)\n",
              static_cast<unsigned long long>(channel_ops),
              static_cast<unsigned long long>(channel_rounds), channel_seconds,
              channel_seconds > 0 ? double(channel_ops) / 1e6 / channel_seconds : 0.0);
  for (std::size_t k = 0; k < primitive_rounds.size(); ++k) {
    std::printf("  %-20s %llu rounds\n", primitive_rounds[k].first,
                static_cast<unsigned long long>(counts[k]));
  }
  return 0;
}
