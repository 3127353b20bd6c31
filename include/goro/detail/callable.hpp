// goro/detail/callable.hpp — type erasure for the callables the runtime stores or borrows.
//
// task: an owning, move-only `void()` callable with inline storage, so that spawning a goroutine
//   whose closure fits in task::inline_size bytes allocates nothing. It is constructed in place
//   in the goroutine record and never moved afterwards.
// function_ref: a non-owning reference to a callable, for callbacks that live no longer than the
//   call that receives them (park's after-switch action).
// is_nil_func: whether a callable is a null pointer or an empty std::function.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace goro::detail {

template <class F>
inline constexpr bool is_std_function = false;
template <class R, class... Args>
inline constexpr bool is_std_function<std::function<R(Args...)>> = true;

// is_nil_func: whether `fn` is a null function or member pointer, or an empty std::function
// (Go's "go of nil func value"). Any other callable is never nil.
template <class F>
bool is_nil_func(const F& fn) noexcept {
  if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) {
    return fn == nullptr;
  } else if constexpr (is_std_function<F>) {
    return !fn;
  } else {
    return false;
  }
}

class task {
 public:
  static constexpr std::size_t inline_size = 64;
  // Word alignment rather than max_align_t's 16: the task then takes 72 bytes, not 80 (closures
  // are made of references, pointers and integers; one that needs more goes to the heap).
  static constexpr std::size_t inline_alignment = alignof(void*);

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
      operations_ = &inline_operations<fn_type>;
    } else {
      auto* heap = new fn_type(std::forward<F>(fn));
      ::new (static_cast<void*>(storage_)) fn_type*(heap);
      operations_ = &heap_operations<fn_type>;
    }
  }

  explicit operator bool() const noexcept { return operations_ != nullptr; }
  void operator()() { operations_->invoke(*this); }

  // Destroys the stored callable (its captures' destructors run here).
  void reset() noexcept {
    if (operations_ != nullptr) operations_->destroy(*this);
    operations_ = nullptr;
  }

 private:
  // operations: what a stored callable's type needs, one table per type. One pointer instead of
  // two keeps the goroutine record at three cache lines.
  struct operations {
    void (*invoke)(task&);
    void (*destroy)(task&) noexcept;
  };

  template <class F>
  static constexpr bool fits_inline() {
    return sizeof(F) <= inline_size && alignof(F) <= inline_alignment;
  }

  template <class F>
  F& stored() noexcept {
    return *std::launder(reinterpret_cast<F*>(storage_));
  }

  template <class F>
  static void invoke_inline(task& t) {
    t.stored<F>()();
  }
  template <class F>
  static void destroy_inline(task& t) noexcept {
    t.stored<F>().~F();
  }
  template <class F>
  static void invoke_heap(task& t) {
    (*t.stored<F*>())();
  }
  template <class F>
  static void destroy_heap(task& t) noexcept {
    delete t.stored<F*>();
  }

  template <class F>
  static constexpr operations inline_operations{&invoke_inline<F>, &destroy_inline<F>};
  template <class F>
  static constexpr operations heap_operations{&invoke_heap<F>, &destroy_heap<F>};

  alignas(inline_alignment) unsigned char storage_[inline_size];
  const operations* operations_ = nullptr;
};

template <class Signature>
class function_ref;

// referable_as: an F a function_ref<R(Args...)> (`Ref`) may refer to: anything but a
// function_ref itself that can be called with Args... for an R.
template <class F, class Ref, class R, class... Args>
concept referable_as =
    !std::is_same_v<std::remove_cvref_t<F>, Ref> && std::is_invocable_r_v<R, F&, Args...>;

template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  template <referable_as<function_ref, R, Args...> F>
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
