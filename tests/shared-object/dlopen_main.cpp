// A program that loads a library using goro with dlopen, as a plugin: one goro runtime for the
// two, because the program exports its symbols (CMake's ENABLE_EXPORTS, -rdynamic).
#include <dlfcn.h>

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
  using table_function = const library_functions* (*)();
  auto* table = reinterpret_cast<table_function>(dlsym(library, "library_functions_table"));
  if (table == nullptr) {
    std::fprintf(stderr, "dlsym: %s\n", dlerror());
    return 2;
  }
  return library_shares_the_run(*table());
}
