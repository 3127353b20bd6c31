// tests/goro_test_other_unit.cpp — the second translation unit of goro_test: goro used here and
// in goro_test_units.cpp must be one runtime (see there).
#include <sstream>

#include "goro_test_units.hpp"

namespace goro_test::other_unit {

const goro::context_key<std::string> request_id;

goro::chan<int> start_doubler(goro::chan<int> in) {
  goro::chan<int> out;
  goro::go([in, out] {
    for (int value : in) out.send(2 * value);
    out.close();
  });
  return out;
}

std::uint64_t goroutine_id() {
  return goro::goroutine_id();
}

std::size_t num_goroutines() {
  return goro::num_goroutines();
}

std::string dump() {
  std::ostringstream out;
  goro::dump(out);
  return out.str();
}

void sleep_on_timer(std::chrono::nanoseconds d) {
  goro::timer t(d);
  (void)t.c().recv();
}

std::string request_id_of(const goro::context& ctx) {
  const std::string* value = ctx.value(request_id);
  return value != nullptr ? *value : "";
}

void block_for_ever() {
  goro::chan<int> nobody_sends;
  (void)nobody_sends.recv();
}

}  // namespace goro_test::other_unit
