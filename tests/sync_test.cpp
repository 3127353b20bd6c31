// Tests of <goro/sync.hpp>.
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

TEST_CASE("wait_group waits for every done", "[sync][wait_group]") {
  const unsigned workers = GENERATE(1u, 2u, 4u);
  std::atomic<int> finished{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        for (int i = 0; i < 1000; ++i) {
          wg.add(1);
          goro::go([&, i] {
            if (i % 3 == 0) goro::sleep_for(std::chrono::microseconds(i));
            finished.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
        CHECK(finished.load() == 1000);
      },
      goro::options{.workers = workers});
}

TEST_CASE("wait_group releases every waiter at once", "[sync][wait_group]") {
  std::atomic<int> released{0};
  goro::run([&] {
    goro::wait_group gate, all;
    gate.add(1);
    for (int i = 0; i < 50; ++i) {
      all.add(1);
      goro::go([&] {
        gate.wait();
        released.fetch_add(1);
        all.done();
      });
    }
    goro::sleep_for(5ms);
    CHECK(released.load() == 0);
    gate.done();
    all.wait();
  });
  CHECK(released.load() == 50);
}

TEST_CASE("wait on a zero wait_group returns at once", "[sync][wait_group]") {
  goro::wait_group wg;
  wg.wait();
  goro::run([&] { wg.wait(); });
  SUCCEED();
}

TEST_CASE("a negative wait_group counter throws and leaves the counter unchanged",
          "[sync][wait_group][misuse]") {
  goro::wait_group wg;
  CHECK_THROWS_AS(wg.done(), goro::error);
  CHECK_THROWS_WITH(wg.add(-3), Catch::Contains("negative counter"));
  wg.add(2);
  CHECK_THROWS_AS(wg.add(-3), goro::error);
  wg.done();
  wg.done();
  wg.wait();  // the counter is 0 again: the failed add(-3) changed nothing
}

TEST_CASE("wait_group works between plain threads and goroutines", "[sync][wait_group]") {
  std::atomic<int> count{0};
  goro::run([&] {
    goro::wait_group wg;
    std::latch registered(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      wg.add(1);
      threads.emplace_back([&] {
        // A plain thread counts for deadlock detection from its first use of goro (API 1.3).
        (void)goro::in_goroutine();
        registered.count_down();
        count.fetch_add(1);
        wg.done();
      });
    }
    goro::blocking([&] { registered.wait(); });
    wg.wait();  // a goroutine waiting for plain threads
    for (auto& t : threads) t.join();
    goro::wait_group back;
    back.add(1);
    std::thread waiter([&] { back.wait(); count.fetch_add(10); });  // a thread waiting for a goroutine
    goro::go([&] {
      goro::sleep_for(2ms);
      back.done();
    });
    goro::blocking([&] { waiter.join(); });
  });
  CHECK(count.load() == 14);
}

TEST_CASE("wait_group survives add/done/wait races", "[sync][wait_group][stress]") {
  const long rounds = scaled(2000, 10);
  goro::run(
      [&] {
        for (long r = 0; r < rounds; ++r) {
          goro::wait_group wg;
          std::atomic<int> n{0};
          for (int i = 0; i < 8; ++i) {
            wg.add(1);
            goro::go([&] {
              n.fetch_add(1);
              wg.done();
            });
          }
          wg.wait();
          REQUIRE(n.load() == 8);
        }
      },
      goro::options{.workers = 4});
}
