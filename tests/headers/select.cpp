// Compiled alone by CTest (tests/CMakeLists.txt): <goro/select.hpp> by itself declares what API
// section 3 names, with the channels its cases take.
#include <goro/select.hpp>

#include <cstddef>
#include <optional>
#include <type_traits>

inline std::size_t select_each_kind(goro::chan<int> ch) {
  return goro::select(goro::on_recv(ch, [](std::optional<int>) {}), goro::on_send(ch, 1),
                      goro::on_default());
}
static_assert(std::is_same_v<decltype(goro::select_set<int>().select().index), std::size_t>);
static_assert(std::is_same_v<decltype(goro::select_set<int>().try_select()),
                             std::optional<goro::select_set<int>::result>>);
