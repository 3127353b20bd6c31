// The functions of the shared library the shared-object tests build with hidden visibility: each
// uses goro from inside the library, in the run of the program that calls it.
#pragma once

#include <cstdint>

extern "C" {
// sum_from_goroutines: starts n goroutines, each sending its index on a channel made here, and
// returns the sum received. Called from a goroutine of the program's run.
[[gnu::visibility("default")]] long sum_from_goroutines(int n);
// library_goroutine_id: goro::goroutine_id() as the library sees it.
[[gnu::visibility("default")]] std::uint64_t library_goroutine_id();
}
