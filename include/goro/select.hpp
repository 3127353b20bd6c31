/// \file
/// goro/select.hpp — waiting on several channel operations at once (API section 3).
///
/// ```cpp
///   switch (goro::select(goro::on_recv(jobs, [&](std::optional<job> j) { ... }),
///                        goro::on_send(results, r),
///                        goro::on_recv(goro::after(1s)))) {
///     case 2: /* timed out */ break;
///   }
/// ```
///
/// select blocks until one case can proceed, completes it, runs its callback and returns its index
/// in argument order. When several cases are ready one is chosen uniformly at random. Nil channels
/// never fire; a select with no cases, or only nil channels and no default, blocks forever. With
/// on_default, select never blocks. A receive on a closed channel fires with std::nullopt. A send
/// on a closed channel counts as ready (a default does not run in its place) and, when chosen,
/// throws goro::channel_closed. The value of an on_send case that is not chosen is not consumed:
/// on_send refers to the caller's value and copies (an lvalue) or moves (an rvalue) it only if
/// that case fires — so build the cases inside the select call, where they live as long as it.
///
/// select_set<T> is Go's reflect.Select: a runtime-sized set of cases of one element type.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "chan.hpp"
#include "detail/select_engine.hpp"
#include "error.hpp"

namespace goro {

namespace detail {

// ignore_result: the callback of a case given none.
struct ignore_result {
  template <class... Args>
  void operator()(Args&&...) const noexcept {}
};

// no_handle: what a case keeps of a named channel handle: nothing (the handle outlives the
// select call that names it).
struct no_handle {};

// kept_handle: what a case made from `Handle&&` keeps: a temporary handle itself (moved in, no
// count changes), so that a case stored in a variable — auto timeout = on_recv(after(1s)); —
// keeps its channel alive; nothing for a named one.
template <class Handle>
using kept_handle =
    std::conditional_t<std::is_lvalue_reference_v<Handle>, no_handle, std::remove_cvref_t<Handle>>;

template <class Handle>
kept_handle<Handle> keep_handle(Handle&& ch) {
  if constexpr (std::is_lvalue_reference_v<Handle>) {
    return {};
  } else {
    return std::move(ch);
  }
}

template <class T, class F, class Kept = no_handle>
struct recv_case {
  channel<T>* target;  // nullptr: nil
  F callback;
  std::optional<T> value;
  [[no_unique_address]] Kept kept;

  // describe: also empties `value`, which a case stored and selected on before still holds:
  // a receive from a closed channel leaves it as it is.
  select_case describe() noexcept {
    value.reset();
    // std::addressof: a plain & on std::optional<T> finds, by argument-dependent lookup, any
    // operator& of T's namespace.
    return {target, false, std::addressof(value), false, &poll};
  }
  static op_status poll(select_case& c, wake_list& wakes) {
    return static_cast<channel<T>*>(c.channel)->recv_locked(*static_cast<std::optional<T>*>(c.slot),
                                                            wakes);
  }
  // std::invoke, not a call expression: on_recv admits any callable invocable with the
  // optional, a pointer to a member of T included (the optional is dereferenced for it). A
  // callback's result is dropped, with a cast: a [[nodiscard]] one raises no warning.
  void complete(transfer) { static_cast<void>(std::invoke(callback, std::move(value))); }
};

// send_case: `Stored` is const T& (an lvalue to copy), T&& (an rvalue to move) or T (owned by
// the case: see stored_value).
template <class T, class Stored, class F, class Kept = no_handle>
struct send_case {
  channel<T>* target;  // nullptr: nil
  Stored value;
  F callback;
  [[no_unique_address]] Kept kept;

  static constexpr bool copies = std::is_same_v<Stored, const T&>;

  select_case describe() noexcept {
    return {target, true, const_cast<T*>(std::addressof(value)), copies, &poll};
  }
  static op_status poll(select_case& c, wake_list& wakes) {
    return static_cast<channel<T>*>(c.channel)->send_locked(static_cast<T*>(c.slot), c.copy, wakes);
  }
  void complete(transfer how) {
    if (how == transfer::closed) throw_channel_closed("goro::select: send on closed channel");
    static_cast<void>(callback());  // dropped, as on_recv's
  }
};

template <class F>
struct default_case {
  F callback;

  select_case describe() noexcept { return {}; }
  void complete(transfer) { static_cast<void>(callback()); }
};

template <class C>
inline constexpr bool is_default_case = false;
template <class F>
inline constexpr bool is_default_case<default_case<F>> = true;

template <class Handle>
using element_of = typename std::remove_cvref_t<Handle>::value_type;

template <class Handle>
concept receivable = std::same_as<std::remove_cvref_t<Handle>, chan<element_of<Handle>>> ||
    std::same_as<std::remove_cvref_t<Handle>, recv_chan<element_of<Handle>>>;

template <class Handle>
concept sendable = std::same_as<std::remove_cvref_t<Handle>, chan<element_of<Handle>>> ||
    std::same_as<std::remove_cvref_t<Handle>, send_chan<element_of<Handle>>>;

// copied_freely: a T whose copy leaves the original as it was and costs no more than a move, so
// a send case may hold a copy of an rvalue of it without consuming anything: then a case stored
// in a variable — auto s = on_send(ch, 42); — holds its value, not a reference to a temporary.
template <class T>
inline constexpr bool copied_freely = std::is_trivially_copyable_v<T> && sizeof(T) <= 64;

// stored_value: how a send case keeps the value `V&&` for a channel of T: a reference to the
// caller's T (copied from an lvalue, moved from an rvalue only if the case fires), or a T of its
// own (converted from another type, or copied from an rvalue that is copied_freely).
template <class T, class V>
using stored_value = std::conditional_t<
    std::is_same_v<std::remove_cvref_t<V>, T>,
    std::conditional_t<std::is_lvalue_reference_v<V> || std::is_const_v<std::remove_reference_t<V>>,
                       const T&, std::conditional_t<copied_freely<T>, T, T&&>>,
    T>;

// store_value: the value a send case keeps (see stored_value). A T of its own is
// copy-initialised, as the parameter of a plain send would be: only implicit conversions, as
// Go's `ch <- v` needs v assignable to the element type. A static_cast would also take explicit
// constructors, and on_send(ch, raw_pointer) on a channel of unique_ptr would adopt the pointer.
template <class Stored, class V>
Stored store_value(V&& value) {
  if constexpr (std::is_reference_v<Stored>) {
    return static_cast<Stored>(value);
  } else {
    return std::forward<V>(value);
  }
}

}  // namespace detail

/// on_recv: a case that receives from `ch` (a chan<T> or recv_chan<T>) and calls
/// fn(std::optional<T>) with the value, or std::nullopt if the channel is closed. `fn` may be
/// any callable invocable with std::optional<T> (a generic lambda too), or left out. A case made
/// from a temporary handle (on_recv(after(1s))) holds that handle, and so its channel; one given
/// with std::move(h) takes it, and h is nil afterwards.
template <class Handle, class F = detail::ignore_result>
  requires detail::receivable<Handle> &&
      std::invocable<F&, std::optional<detail::element_of<Handle>>>
auto on_recv(Handle&& ch, F&& fn = {}) {
  using T = detail::element_of<Handle>;
  detail::channel<T>* const target = detail::channel_access::get(ch);
  return detail::recv_case<T, std::decay_t<F>, detail::kept_handle<Handle>>{
      target, std::forward<F>(fn), std::nullopt, detail::keep_handle(std::forward<Handle>(ch))};
}

/// on_send: a case that sends `value` on `ch` (a chan<T> or send_chan<T>) and then calls fn()
/// (which may be left out). The case refers to `value`; it is copied (an lvalue) or moved (an
/// rvalue) only if this case is chosen. (A value of another type than T is converted to T when
/// the case is made, implicitly, as a plain send would: `value` must be convertible to T; `{}`
/// or `{a, b}` makes a T; an rvalue of a small trivially copyable T, such as a number, is copied
/// into the case, which leaves it as it was.) A case made from a temporary handle holds it, as
/// on_recv's does.
template <class Handle, class V = detail::element_of<Handle>, class F = detail::ignore_result>
  requires detail::sendable<Handle> && std::convertible_to<V&&, detail::element_of<Handle>> &&
      std::invocable<F&>
auto on_send(Handle&& ch, V&& value, F&& fn = {}) {
  using T = detail::element_of<Handle>;
  using stored = detail::stored_value<T, V&&>;
  detail::channel<T>* const target = detail::channel_access::get(ch);
  return detail::send_case<T, stored, std::decay_t<F>, detail::kept_handle<Handle>>{
      target, detail::store_value<stored>(std::forward<V>(value)), std::forward<F>(fn),
      detail::keep_handle(std::forward<Handle>(ch))};
}

/// on_default: the case that runs when no other can proceed at once (at most one per select);
/// fn() may be left out.
template <class F = detail::ignore_result>
  requires std::invocable<F&>
auto on_default(F&& fn = {}) {
  return detail::default_case<std::decay_t<F>>{std::forward<F>(fn)};
}

/// select: blocks until one of `cases` proceeds, runs its callback, returns its index (in
/// argument order). The cases are made by on_recv, on_send and on_default; see the rules at the
/// top of this header. From any goroutine or thread.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t n = sizeof...(Cases);
  constexpr std::size_t defaults =
      (std::size_t{0} + ... + (detail::is_default_case<std::remove_cvref_t<Cases>> ? 1 : 0));
  static_assert(defaults <= 1, "goro::select: at most one on_default case");
  detail::note_api_use();
  detail::stop_point();
  std::array<detail::select_case, n> described{cases.describe()...};
  std::array<std::uint32_t, n> poll_order{};
  std::array<detail::channel_base*, n> lock_order{};
  std::array<detail::waiter_slot, n> waiters;
  const auto fired = detail::run_select(described, defaults == 0,
                                        detail::select_scratch{poll_order, lock_order, waiters});
  std::size_t index = 0;
  if (fired) {
    index = fired.index;
  } else {
    std::size_t i = 0;
    ((detail::is_default_case<std::remove_cvref_t<Cases>> ? (index = i, ++i) : ++i), ...);
  }
  [[maybe_unused]] const detail::transfer how = fired ? fired.how : detail::transfer::delivered;
  std::size_t i = 0;
  ((i++ == index ? cases.complete(how) : void()), ...);
  return index;
}

/// select_set: a runtime-sized set of cases on channels of one element type (Go's
/// reflect.Select). A set may be selected on again: receive cases stay armed; a send case whose
/// value was sent never fires again. Not synchronised: one goroutine at a time uses a set.
template <class T>
class select_set {
 public:
  /// result: which case fired, and what a receive case received.
  struct result {
    std::size_t index;       ///< the case's index, as add_recv or add_send returned it
    std::optional<T> value;  ///< a receive case's value (nullopt: closed); nullopt for a send case
  };

  /// add_recv: adds a receive case; returns its index.
  std::size_t add_recv(recv_chan<T> ch) {
    detail::note_api_use();
    entries_.push_back(entry{std::move(ch), nullptr, false, std::nullopt});
    return entries_.size() - 1;
  }

  /// add_send: adds a case that sends `value`; once that value is sent the case never fires again.
  /// Returns its index.
  std::size_t add_send(send_chan<T> ch, T value) {
    detail::note_api_use();
    entries_.push_back(entry{nullptr, std::move(ch), true, std::move(value)});
    return entries_.size() - 1;
  }

  /// select: blocks until a case proceeds (the rules of goro::select).
  result select() {
    result out{0, std::nullopt};
    run(true, out);
    return out;
  }

  /// try_select: never blocks: nullopt where select would have blocked.
  std::optional<result> try_select() {
    std::optional<result> out(result{0, std::nullopt});  // empty: nothing of T moves
    if (!run(false, *out)) out.reset();
    return out;
  }

 private:
  struct entry {
    recv_chan<T> receive;
    send_chan<T> send;
    bool is_send;
    std::optional<T> value;  // send: the value still to send (nullopt once sent)
  };

  // run: selects; returns false where a non-blocking select would block. Every receive case
  // fills out.value in place: exactly one case fires, and the value moves once, from the
  // channel into the caller's result, so no later move can throw it away.
  bool run(bool blocking, result& out) {
    detail::note_api_use();
    detail::stop_point();
    const std::size_t n = entries_.size();
    std::vector<detail::select_case> cases(n);
    for (std::size_t i = 0; i < n; ++i) cases[i] = describe(i, out.value);
    std::vector<std::uint32_t> poll_order(n);
    std::vector<detail::channel_base*> lock_order(n);
    std::vector<detail::waiter_slot> waiters(n);
    const auto fired = detail::run_select(cases, blocking,
                                          detail::select_scratch{poll_order, lock_order, waiters});
    if (!fired) return false;
    out.index = fired.index;
    entry& e = entries_[fired.index];
    if (!e.is_send) return true;
    if (fired.how == detail::transfer::closed) {
      detail::throw_channel_closed("goro::select_set: send on closed channel");
    }
    e.value.reset();
    return true;
  }

  detail::select_case describe(std::size_t i, std::optional<T>& slot) {
    entry& e = entries_[i];
    if (!e.is_send) {
      return {detail::channel_access::get(e.receive), false, std::addressof(slot), false,
              &detail::recv_case<T, detail::ignore_result>::poll};
    }
    if (!e.value) return {};  // already sent: never fires again
    return {detail::channel_access::get(e.send), true, std::addressof(*e.value), false,
            &detail::send_case<T, T&&, detail::ignore_result>::poll};
  }

  std::vector<entry> entries_;
};

}  // namespace goro
