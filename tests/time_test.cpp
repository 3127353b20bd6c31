// Tests of <goro/time.hpp>: sleep_for and sleep_until.
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("sleep_for waits at least the requested time", "[time][sleep]") {
  goro::run([] {
    for (auto d : {1ms, 5ms, 20ms}) {
      const auto start = clock_type::now();
      goro::sleep_for(d);
      CHECK(clock_type::now() - start >= d);
    }
  });
}

TEST_CASE("sleepers wake in deadline order", "[time][sleep]") {
  // Timers that expire within one check of the runtime may resume in any order (as in Go): keep
  // the deadlines further apart than a sanitized, loaded machine takes to check them.
  const int gap_ms = goro::detail::sanitized_build ? 50 : 10;
  std::vector<int> order;
  std::mutex m;
  goro::run([&] {
    goro::wait_group wg;
    for (int ms : {30, 10, 50, 20, 40}) {
      wg.add(1);
      goro::go([&, ms] {
        goro::sleep_for(std::chrono::milliseconds(ms / 10 * gap_ms));
        std::lock_guard lock(m);
        order.push_back(ms);
        wg.done();
      });
    }
    wg.wait();
  });
  CHECK(order == std::vector<int>{10, 20, 30, 40, 50});
}

TEST_CASE("sleep_until a past deadline returns at once", "[time][sleep]") {
  goro::run([] {
    goro::sleep_until(clock_type::now() - 1s);
    goro::sleep_for(0ns);
    goro::sleep_for(-5ms);
  });
  SUCCEED();
}

TEST_CASE("sleep works on a plain thread", "[time][sleep]") {
  const auto start = clock_type::now();
  goro::sleep_for(5ms);
  goro::sleep_until(clock_type::now() + 5ms);
  CHECK(clock_type::now() - start >= 10ms);
}

TEST_CASE("a sleeping goroutine does not hold its worker", "[time][sleep]") {
  std::atomic<int> progress{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(1);
        goro::go([&] {
          goro::sleep_for(50ms);
          wg.done();
        });
        const auto until = clock_type::now() + 20ms;
        while (clock_type::now() < until) {
          progress.fetch_add(1);
          goro::yield();
        }
        wg.wait();
      },
      goro::options{.workers = 1});
  CHECK(progress.load() > 100);
}

TEST_CASE("idle workers use no CPU while every goroutine sleeps", "[time][sleep][idle]") {
  goro::run(
      [] {
        goro::wait_group wg;
        for (int i = 0; i < 100; ++i) {
          wg.add(1);
          goro::go([&] {
            goro::sleep_for(1s);
            wg.done();
          });
        }
        goro::sleep_for(20ms);  // let every goroutine reach its sleep
        const auto cpu_before = goro_test::process_cpu_time();
        wg.wait();
        const auto cpu = goro_test::process_cpu_time() - cpu_before;
        const double cpu_ms = std::chrono::duration<double, std::milli>(cpu).count();
        INFO("CPU time while sleeping: " << cpu_ms << " ms");
        // Under a sanitizer its own background thread uses some CPU.
        CHECK(cpu < (goro::detail::sanitized_build ? 400ms : 100ms));
      },
      goro::options{.workers = 4});
}

TEST_CASE("a thousand sleepers with random deadlines all wake after their deadline",
          "[time][sleep][stress]") {
  std::atomic<int> early{0};
  std::atomic<int> woke{0};
  goro::run([&] {
    goro::wait_group wg;
    for (int i = 0; i < 1000; ++i) {
      wg.add(1);
      goro::go([&, i] {
        const auto d = std::chrono::microseconds((i * 7919) % 20000);
        const auto start = clock_type::now();
        goro::sleep_for(d);
        if (clock_type::now() - start < d) early.fetch_add(1);
        woke.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
  });
  CHECK(woke.load() == 1000);
  CHECK(early.load() == 0);
}
