// tests/goro_test_units.cpp — goro used from two translation units of one program is one
// runtime. goro is header-only: every piece of its state (the active run, the current goroutine,
// the timer heaps, the registry dump reads) must be one object however many units include it,
// which holds only if none of it has internal linkage. The other unit is goro_test_other_unit.cpp.
#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include "goro_test_units.hpp"

using namespace std::chrono_literals;
namespace other_unit = goro_test::other_unit;

TEST_CASE("goro used from two translation units is one runtime", "[goro][units]") {
  goro::run(
      [] {
        // A run started here is active there: go() in the other unit starts a goroutine.
        goro::chan<int> in;
        goro::chan<int> doubled = other_unit::start_doubler(in);
        CHECK(other_unit::num_goroutines() == goro::num_goroutines());
        CHECK(goro::num_goroutines() == 2);
        // This goroutine is the same one there.
        CHECK(other_unit::goroutine_id() == goro::goroutine_id());
        // Channels cross: sent here, doubled there, received here.
        for (int i = 1; i <= 100; ++i) {
          in.send(i);
          CHECK(doubled.recv() == 2 * i);
        }
        in.close();
        CHECK_FALSE(doubled.recv().has_value());
        // A timer made there wakes a goroutine parked here, and a sleep here is counted there.
        other_unit::sleep_on_timer(1ms);
        goro::wait_group slept;
        slept.add(1);
        goro::go([&slept] {
          goro::sleep_for(1h);
          slept.done();
        });
        std::string dump = other_unit::dump();  // taken there, by main, running here
        for (int i = 0; i < 10'000 && dump.find("[sleep]:") == std::string::npos; ++i) {
          goro::sleep_for(1ms);  // until the sleeper has started
          dump = other_unit::dump();
        }
        CHECK(dump.find("[sleep]:") != std::string::npos);
        CHECK(dump.rfind("goroutine 1 [running]:", 0) == 0);
        // A context key defined there is the same key here.
        const auto ctx =
            goro::with_value(goro::background(), other_unit::request_id, std::string("request 7"));
        CHECK(other_unit::request_id_of(ctx) == "request 7");
        CHECK(*ctx.value(other_unit::request_id) == "request 7");
      },
      goro::options{.workers = 2});
}

TEST_CASE("a deadlock across two translation units is detected", "[goro][units]") {
  try {
    goro::run(
        [] {
          goro::go([] { other_unit::block_for_ever(); });
          goro::chan<int> nobody_sends;
          (void)nobody_sends.recv();
        },
        goro::options{.workers = 2});
    FAIL("run returned");
  } catch (const goro::deadlock_error& e) {
    const std::string what = e.what();
    CHECK(what.rfind("all goroutines are asleep - deadlock!", 0) == 0);
    CHECK(what.find("goroutine 1 [chan receive]:") != std::string::npos);
  }
}

TEST_CASE("a plain thread that calls goro in the other unit is counted by this one",
          "[goro][units]") {
  goro::run([] {
    goro::chan<int> in;
    goro::chan<int> doubled;
    std::thread plain([&] { doubled = other_unit::start_doubler(in); });  // go() from a thread
    plain.join();
    in.send(21);
    CHECK(doubled.recv() == 42);
    in.close();
  });
}
