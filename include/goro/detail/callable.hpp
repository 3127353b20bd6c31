// goro/detail/callable.hpp — type erasure for the callables the runtime stores or borrows.
//
// task: an owning, move-only `void()` callable with inline storage, so that spawning a goroutine
//   whose closure fits in task::inline_size bytes allocates nothing. It is constructed in place
//   in the goroutine record and never moved afterwards.
// function_ref: a non-owning reference to a callable, for callbacks that live no longer than the
//   call that receives them (park's after-switch action).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace goro::detail {

class task {
 public:
  static constexpr std::size_t inline_size = 64;

  task() = default;
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  template <class F>
  void emplace(F&& fn) {
    using fn_type = std::decay_t<F>;
    reset();
    if constexpr (fits_inline<fn_type>()) {
      ::new (static_cast<void*>(storage_)) fn_type(std::forward<F>(fn));
      invoke_ = [](task& t) { (*std::launder(reinterpret_cast<fn_type*>(t.storage_)))(); };
      destroy_ = [](task& t) { std::launder(reinterpret_cast<fn_type*>(t.storage_))->~fn_type(); };
    } else {
      auto* heap = new fn_type(std::forward<F>(fn));
      ::new (static_cast<void*>(storage_)) fn_type*(heap);
      invoke_ = [](task& t) { (**std::launder(reinterpret_cast<fn_type**>(t.storage_)))(); };
      destroy_ = [](task& t) { delete *std::launder(reinterpret_cast<fn_type**>(t.storage_)); };
    }
  }

  explicit operator bool() const noexcept { return invoke_ != nullptr; }
  void operator()() { invoke_(*this); }

  // Destroys the stored callable (its captures' destructors run here).
  void reset() noexcept {
    if (destroy_ != nullptr) destroy_(*this);
    invoke_ = nullptr;
    destroy_ = nullptr;
  }

 private:
  template <class F>
  static constexpr bool fits_inline() {
    return sizeof(F) <= inline_size && alignof(F) <= alignof(std::max_align_t);
  }

  alignas(std::max_align_t) unsigned char storage_[inline_size];
  void (*invoke_)(task&) = nullptr;
  void (*destroy_)(task&) = nullptr;
};

template <class Signature>
class function_ref;

template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref> &&
             std::is_invocable_r_v<R, F&, Args...>)
  function_ref(F&& fn) noexcept  // NOLINT(google-explicit-constructor): used like a lambda
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(fn)))),
        call_([](void* object, Args... args) -> R {
          return std::invoke(*static_cast<std::remove_reference_t<F>*>(object),
                             std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace goro::detail
