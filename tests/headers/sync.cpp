// Compiled alone by CTest (tests/CMakeLists.txt): <goro/sync.hpp> by itself declares what API
// section 5 names.
#include <goro/sync.hpp>

#include <mutex>
#include <shared_mutex>
#include <type_traits>

inline void use_each_type(goro::wait_group& wg, goro::mutex& m, goro::shared_mutex& rw,
                          goro::condition_variable& cv, goro::once& o, goro::semaphore& s) {
  wg.add();
  std::unique_lock lock(m);
  cv.wait(lock, [] { return true; });
  std::shared_lock reading(rw);
  o.call([] {});
  s.acquire();
}
static_assert(!std::is_convertible_v<std::ptrdiff_t, goro::semaphore>);
