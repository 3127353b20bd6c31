// tests/audit_types.hpp — element and argument types for the tests of the audit of types and
// call forms at the edges of the API ([audit-types]).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace audit_hijack {

// point: a plain value in a namespace that declares, for argument-dependent lookup, a greedy
// deleted overload of every name goro or the standard library might call unqualified. Any type
// with point among its template arguments (std::optional<point>, goro::chan<point>,
// goro::context_key<point>) brings these in: goro must qualify its calls and take addresses
// with std::addressof, or a use of such a type does not compile.
struct point {
  int x;
};

template <class U>
void operator&(const U&) = delete;
template <class A, class B>
void operator,(A&&, B&&) = delete;

template <class... A>
void select(A&&...) = delete;
template <class... A>
void go(A&&...) = delete;
template <class... A>
void run(A&&...) = delete;
template <class... A>
void close(A&&...) = delete;
template <class... A>
void swap(A&&...) = delete;
template <class... A>
void move(A&&...) = delete;
template <class... A>
void forward(A&&...) = delete;
template <class... A>
void begin(A&&...) = delete;
template <class... A>
void end(A&&...) = delete;
template <class... A>
void addressof(A&&...) = delete;
template <class... A>
void invoke(A&&...) = delete;
template <class... A>
void get(A&&...) = delete;
template <class... A>
void data(A&&...) = delete;
template <class... A>
void size(A&&...) = delete;
template <class... A>
void destroy_at(A&&...) = delete;
template <class... A>
void construct_at(A&&...) = delete;
// Names of goro's own internals.
template <class... A>
void send_on(A&&...) = delete;
template <class... A>
void recv_on(A&&...) = delete;
template <class... A>
void channel_send(A&&...) = delete;
template <class... A>
void channel_recv(A&&...) = delete;
template <class... A>
void channel_try_send(A&&...) = delete;
template <class... A>
void channel_try_recv(A&&...) = delete;
template <class... A>
void channel_close(A&&...) = delete;
template <class... A>
void emplace_from(A&&...) = delete;
template <class... A>
void construct_from(A&&...) = delete;
template <class... A>
void keep_handle(A&&...) = delete;
template <class... A>
void is_nil_func(A&&...) = delete;
template <class... A>
void spawn(A&&...) = delete;

// adder: a callable of this namespace, taking points; adds their x to a counter.
struct adder {
  std::atomic<int>* total;
  void operator()(point p = point{1}) const { total->fetch_add(p.x); }
};

}  // namespace audit_hijack

namespace audit_types {

// counted: a value that counts its live objects, to check that nothing leaks and nothing is
// destroyed twice. Its id travels with it; a moved-from object has id -1.
struct counted {
  static inline std::atomic<long> live{0};
  int id;
  explicit counted(int i) : id(i) { ++live; }
  counted(counted&& other) noexcept : id(std::exchange(other.id, -1)) { ++live; }
  counted(const counted& other) : id(other.id) { ++live; }
  counted& operator=(const counted&) = default;
  ~counted() { --live; }
};

}  // namespace audit_types

namespace audit_types {

// important: a result type marked [[nodiscard]]; a callable returning one is as valid a goroutine
// body or callback as any other, and goro, which drops the result as Go does, must say so
// (a cast to void) rather than make -Wunused-result fire in the user's build.
struct [[nodiscard]] important {
  int value;
};

// makes_important: counts its calls, then returns an important.
struct makes_important {
  std::atomic<int>* calls;
  template <class... A>
  important operator()(A&&...) const {
    calls->fetch_add(1);
    return {1};
  }
};

}  // namespace audit_types

namespace audit_types {

// aligned: an over-aligned value that records whether each object was aligned as its type asks.
template <std::size_t Align>
struct alignas(Align) aligned {
  static inline std::atomic<int> misaligned{0};
  int id;
  explicit aligned(int i) : id(i) { check(); }
  aligned(const aligned& other) : id(other.id) { check(); }
  aligned(aligned&& other) noexcept : id(other.id) { check(); }
  void check() const {
    if (reinterpret_cast<std::uintptr_t>(this) % Align != 0) misaligned.fetch_add(1);
  }
};

// greedy: a type whose unconstrained converting constructor template is an exact match for a
// non-const lvalue of itself, better than the copy constructor: a library that copies from a
// non-const T& calls it. It marks what it made as hijacked.
struct greedy {
  int id;
  bool hijacked = false;
  explicit greedy(int i) : id(i) {}
  greedy(const greedy&) = default;
  greedy(greedy&&) = default;
  template <class U>
  greedy(U&& other)  // NOLINT(google-explicit-constructor, bugprone-forwarding-reference-overload)
      : id(-1), hijacked(true) {
    static_cast<void>(other);
  }
  greedy& operator=(const greedy&) = default;
};

// no_default: a value with no default constructor.
struct no_default {
  int id;
  no_default() = delete;
  explicit no_default(int i) : id(i) {}
};

}  // namespace audit_types
