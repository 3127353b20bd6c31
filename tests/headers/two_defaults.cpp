// Must not compile (tests/CMakeLists.txt checks the message): API 3 allows at most one
// on_default case in a select.
#include <goro/select.hpp>

inline void two_defaults() {
  goro::select(goro::on_default(), goro::on_default());
}
