// Compiled alone by CTest (tests/CMakeLists.txt): <goro/group.hpp> by itself declares the group
// half of API section 6, with the context it takes.
#include <goro/group.hpp>

#include <type_traits>

static_assert(std::is_default_constructible_v<goro::group>);
static_assert(std::is_constructible_v<goro::group, goro::context>);
inline void use_group(goro::group& g) {
  g.set_limit(2);
  g.go([] {});
  g.wait();
  (void)g.ctx().err();
}
