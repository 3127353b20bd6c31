// The Catch2 main of every goro test executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <goro/detail/config.hpp>

#if defined(GORO_TSAN)
// Tests of paths that end the process run them in a forked child (goro_test::run_in_child),
// which starts goro's threads. A test program run whole forks while threads of earlier cases
// still live, and ThreadSanitizer by default kills a child of a multi-threaded process once it
// starts a thread; ctest runs each case in a process of its own, so only runs by hand met it.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif
