// goro/detail/outcome.hpp — the result of a call made elsewhere (main's body, a blocking() call):
// its value or its exception, handed back to the caller that waits for it.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "../error.hpp"
#include "scheduler.hpp"

namespace goro::detail {

template <class R>
class outcome {
 public:
  template <class F>
  void capture(F& fn) noexcept(false) {
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn);
        has_value_ = true;
      } else if constexpr (std::is_reference_v<R>) {
        R&& result = std::invoke(fn);  // named: an lvalue, also for an rvalue reference R
        value_ = std::addressof(result);
      } else {
        value_.emplace(std::invoke(fn));
      }
    } catch (const goroutine_exit&) {
      throw;  // the shutdown unwinds the goroutine that made the call
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  R get() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (std::is_void_v<R>) {
      if (!has_value_) throw error("goro: the call did not complete");
    } else if constexpr (std::is_reference_v<R>) {
      if (value_ == nullptr) throw error("goro: the call did not complete");
      return static_cast<R>(*value_);
    } else {
      if (!value_) throw error("goro: the call did not complete");
      return std::move(*value_);
    }
  }

 private:
  using stored = std::conditional_t<std::is_reference_v<R>, std::remove_reference_t<R>*,
                                    std::optional<std::conditional_t<std::is_void_v<R>, int, R>>>;
  stored value_{};
  bool has_value_ = false;
  std::exception_ptr error_;
};

}  // namespace goro::detail
