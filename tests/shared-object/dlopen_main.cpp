// A program that loads a library using goro with dlopen, as a plugin: one goro runtime for the
// two, because the program exports its symbols (CMake's ENABLE_EXPORTS, -rdynamic).
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>

#include "check.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
    return 2;
  }
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
  auto* sum = reinterpret_cast<long (*)(int)>(dlsym(library, "sum_from_goroutines"));
  auto* id = reinterpret_cast<std::uint64_t (*)()>(dlsym(library, "library_goroutine_id"));
  if (sum == nullptr || id == nullptr) {
    std::fprintf(stderr, "dlsym: %s\n", dlerror());
    return 2;
  }
  return library_shares_the_run(sum, id);
}
