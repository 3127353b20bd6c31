// Tests of <goro/goro.hpp>, the umbrella header: behaviour that crosses every other header —
// the shutdown of a run whose goroutines are blocked in every way a goroutine can block (API
// 1.1: remaining goroutines are stopped and their stacks unwound).
#include <goro/goro.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

namespace {

std::size_t open_descriptors() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator{}));
}

// held_resources: what a blocked goroutine owns on its stack. A heap block that leaks if the
// stack is not unwound (LeakSanitizer reports it in the sanitizer builds) and a destructor
// that counts.
struct held_resources {
  std::atomic<long>* destroyed;
  std::unique_ptr<std::string> payload = std::make_unique<std::string>(100, 'x');
  ~held_resources() { destroyed->fetch_add(1); }
};

// parked_states: how many goroutines the dump shows in each state (the bracketed text).
std::map<std::string, long> parked_states() {
  std::ostringstream out;
  goro::dump(out);
  std::map<std::string, long> states;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("goroutine ", 0) != 0) continue;
    const auto open = line.find('[');
    const auto close = line.rfind(']');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      ++states[line.substr(open + 1, close - open - 1)];
    }
  }
  return states;
}

// Everything the blocked goroutines wait on. It outlives the run: when main returns, its locals
// are destroyed before the goroutines blocked on them are unwound (README, "Things to know").
struct blockers {
  goro::chan<int> unbuffered;
  goro::chan<int> full{1};
  goro::chan<int> nil_chan{nullptr};
  goro::chan<int> never_closed;
  goro::mutex locked_mutex;
  goro::shared_mutex locked_shared_mutex;
  goro::mutex cond_mutex;
  goro::condition_variable cond;
  goro::once once_in_progress;
  goro::semaphore no_permits{1};
  goro::wait_group never_done;
  goro::group group_with_limit;
  std::optional<goro::net::listener> listener;
};

}  // namespace

TEST_CASE(
    "a run that ends with goroutines blocked in every state unwinds them all and leaks "
    "nothing",
    "[goro][shutdown]") {
  const long per_state = scaled(100'000) / 25 + 1;
  const long sockets = std::min(per_state, 50L);
  std::atomic<long> destroyed{0};
  std::atomic<long> spawned{0};
  std::map<std::string, long> seen;
  const std::size_t descriptors_before = open_descriptors();
  {
    blockers b;
    b.full.send(0);
    b.never_done.add(1);
    b.no_permits.acquire(1);
    b.group_with_limit.set_limit(1);
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    const auto cancellable = goro::with_cancel(goro::background());
    const goro::context& ctx = cancellable.first;
    const goro::cancel_func& cancel = cancellable.second;

    goro::run(
        [&] {
          auto spawn = [&](long count, std::function<void()> block) {
            for (long i = 0; i < count; ++i) {
              spawned.fetch_add(1);
              goro::go([&destroyed, block] {
                held_resources held{&destroyed};
                block();
              });
            }
          };
          // Holders: goroutines that own a lock, a once or the group's only slot, then block.
          goro::wait_group holding;
          holding.add(4);
          spawn(1, [&] {
            b.locked_mutex.lock();
            holding.done();
            b.never_closed.recv();
          });
          spawn(1, [&] {
            b.locked_shared_mutex.lock();
            holding.done();
            b.never_closed.recv();
          });
          spawn(1, [&] {
            b.once_in_progress.call([&] {
              holding.done();
              b.never_closed.recv();
            });
          });
          spawn(1, [&] {
            b.group_with_limit.go([&] {
              holding.done();
              b.never_closed.recv();
            });
          });
          holding.wait();

          spawn(per_state, [&] { b.unbuffered.send(1); });
          spawn(per_state, [&] { b.full.send(1); });
          spawn(per_state, [&] { b.never_closed.recv(); });
          spawn(per_state, [&] { b.nil_chan.recv(); });
          spawn(per_state, [&] { b.nil_chan.send(1); });
          spawn(per_state, [&] {
            goro::select(goro::on_recv(b.never_closed), goro::on_send(b.unbuffered, 2));
          });
          spawn(per_state, [] { goro::select(); });
          spawn(per_state, [&] {
            goro::select_set<int> set;
            set.add_recv(b.never_closed);
            set.add_recv(b.never_closed);
            set.select();
          });
          spawn(per_state, [&] { std::lock_guard guard(b.locked_mutex); });
          spawn(per_state, [&] { std::lock_guard guard(b.locked_shared_mutex); });
          spawn(per_state, [&] { std::shared_lock guard(b.locked_shared_mutex); });
          spawn(per_state, [&] {
            std::unique_lock lock(b.cond_mutex);
            b.cond.wait(lock);
          });
          spawn(per_state, [&] { b.once_in_progress.call([] {}); });
          spawn(per_state, [&] { b.no_permits.acquire(1); });
          spawn(per_state, [&] { b.never_done.wait(); });
          spawn(per_state, [] { goro::sleep_for(1h); });
          spawn(per_state, [] {
            goro::timer t(1h);
            t.c().recv();
          });
          spawn(per_state, [] {
            goro::ticker t(1h);
            t.c().recv();
          });
          spawn(per_state, [] { goro::after(1h).recv(); });
          spawn(per_state, [ctx = ctx] { ctx.done().recv(); });
          spawn(per_state, [&] { b.group_with_limit.go([] {}); });
          spawn(per_state, [&] { b.group_with_limit.wait(); });
          spawn(per_state, [] {
            for (;;) goro::yield();  // runnable, never blocked
          });

          b.listener = goro::net::listen("127.0.0.1:0");
          const std::string address = b.listener->address();
          goro::wait_group all_accepted;
          all_accepted.add(1);
          spawn(1, [&] {
            std::vector<goro::net::conn> accepted;  // the server side: never writes
            for (long i = 0; i < sockets; ++i) accepted.push_back(b.listener->accept());
            all_accepted.done();
            b.never_closed.recv();
          });
          spawn(sockets, [address] {
            goro::net::conn c = goro::net::dial(address);
            std::byte buffer[16];
            c.read(buffer);  // nobody writes: blocks in io
          });
          // Only once the first acceptor holds every dialled connection: started earlier, this
          // one could take one of them and finish, leaving the first blocked in accept instead.
          all_accepted.wait();
          spawn(1, [&] { goro::net::conn c = b.listener->accept(); });  // no more dials

          // Wait until every goroutine is parked in its state (bounded, so a broken wait fails).
          const auto give_up = std::chrono::steady_clock::now() + 60s;
          const long blocked = spawned.load() - per_state;  // all but the yielding ones
          for (;;) {
            seen = parked_states();
            long parked = 0;
            for (const auto& [state, count] : seen) {
              if (state != "running" && state != "runnable") parked += count;
            }
            if (parked >= blocked || std::chrono::steady_clock::now() > give_up) break;
            goro::sleep_for(5ms);
          }
        },
        goro::options{.workers = 2, .stack_size = 64 * 1024});
    cancel();
  }
  CHECK(destroyed.load() == spawned.load());
  CHECK(open_descriptors() == descriptors_before);
  for (const char* state :
       {"chan send", "chan receive", "chan send (nil chan)", "chan receive (nil chan)", "select",
        "select (no cases)", "mutex", "cond", "once", "semaphore", "wait_group", "sleep", "io"}) {
    INFO("state " << state);
    CHECK(seen.count(state) == 1);
  }
}

TEST_CASE("the contract's types: exception hierarchy, move-only sockets, options order",
          "[goro][types]") {
  // Where Go panics, goro throws a type derived from goro::error, itself a std::logic_error.
  STATIC_REQUIRE(std::is_base_of_v<std::logic_error, goro::error>);
  STATIC_REQUIRE(std::is_base_of_v<goro::error, goro::deadlock_error>);
  STATIC_REQUIRE(std::is_base_of_v<goro::error, goro::channel_closed>);
  // Network errors are system errors (API 7).
  STATIC_REQUIRE(std::is_base_of_v<std::system_error, goro::net::timeout_error>);
  STATIC_REQUIRE(std::is_base_of_v<std::system_error, goro::net::closed_error>);
  // conn and listener own their socket: move-only.
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::net::conn>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<goro::net::conn>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<goro::net::conn>);
  STATIC_REQUIRE(std::is_move_assignable_v<goro::net::conn>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<goro::net::listener>);
  STATIC_REQUIRE(std::is_move_constructible_v<goro::net::listener>);
  STATIC_REQUIRE(std::is_move_assignable_v<goro::net::listener>);
  // The members of options, in the contract's order (designated initializers rely on it).
  const goro::options all{.workers = 3,
                          .stack_size = 128 * 1024,
                          .guard = goro::stack_guard::never,
                          .detect_deadlock = false};
  CHECK(all.workers == 3);
  CHECK(all.stack_size == 128 * 1024);
  CHECK(all.guard == goro::stack_guard::never);
  CHECK_FALSE(all.detect_deadlock);
  const goro::options defaults;
  CHECK(defaults.workers == 0);
  CHECK(defaults.stack_size == 256 * 1024);
  CHECK(defaults.guard == goro::stack_guard::automatic);
  CHECK(defaults.detect_deadlock);
  CHECK(goro::run([] { return goro::num_workers(); }, all) == 3u);
}
