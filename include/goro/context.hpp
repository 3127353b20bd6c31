/// \file
/// goro/context.hpp — cancellation, deadlines and request-scoped values (API section 6; Go's
/// package context).
///
/// ```cpp
///   auto [ctx, cancel] = goro::with_timeout(goro::background(), 100ms);
///   goro::select(goro::on_recv(results, [&](auto r) { use(r); }),
///                goro::on_recv(ctx.done(), [&](auto) { report(ctx.err()); }));
///   cancel();  // releases the context's resources early; idempotent
/// ```
///
/// A context is a cheap, copyable, immutable handle on a node of a tree. background() is the root
/// (no node at all). with_cancel, with_timeout and with_deadline add a cancellable node; with_value
/// adds a node carrying one value. Every node keeps its parent alive, so lookups walk up the chain.
/// Cancelling a node — through its cancel_func, its deadline, or its parent — closes its done()
/// channel and cancels every cancellable descendant with the same error. No goroutine or thread
/// is started per context; a deadline is one timer on the runtime's timer heap (see time.hpp).
//
// Invariants of a cancel_node (under its lock_):
//   - err_ goes from 0 to canceled or deadline_exceeded once, and done_ is closed after that
//     transition, by the thread that made it — after the done_ of every descendant it cancelled,
//     so whoever sees a context done finds its whole subtree done. err_ is also read without
//     the lock (acquire).
//   - Its children_ list holds exactly the cancellable nodes registered with it (each one's
//     registered_with_) that are neither cancelled through it nor unregistered. Once err_ is set
//     the list stays empty: a node registering with a cancelled parent is cancelled at once.
//   - A child leaves the list when the parent cancels it, when it is cancelled by its own
//     cancel_func or deadline, or when its last reference goes (its destructor): so a long-lived
//     parent does not accumulate short-lived children. The child's link fields are guarded by
//     the parent's lock.
//   - A canceller takes references (try_retain) to the children it unlinks, under the parent's
//     lock, before it cancels them outside it; a child whose count has already reached zero is
//     being destroyed and is only unlinked.
//   - Its hooks_ (cancel_hook: goro's own listeners, such as a dial's connect) are called once,
//     by the cancel that sets err_, under lock_, and the list is emptied then; a hook is never
//     added to a node already cancelled.
//
// Lock order: a parent's lock is never held while taking a child's, nor while closing a channel
// or stopping a timer (a cancel collects, unlocks, then acts). A hook is called under its node's
// lock and takes only a socket's. Cancellation of a deep or wide
// tree is iterative: no recursion, no allocation.
#pragma once

#include "detail/config.hpp"  // first: refuses a language older than C++20, clearly

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "chan.hpp"
#include "detail/channel.hpp"
#include "detail/park.hpp"
#include "detail/spinlock.hpp"
#include "time.hpp"

namespace goro {

/// errc: the errors of a done context (Go's context.Canceled and context.DeadlineExceeded), in
/// the `goro` error category. An is_error_code_enum: `ctx.err() == goro::errc::canceled`.
/// They are also equivalent to the portable conditions std::errc::operation_canceled and
/// std::errc::timed_out.
enum class errc {
  canceled = 1,           ///< "context canceled" (Go's context.Canceled)
  deadline_exceeded = 2,  ///< "context deadline exceeded" (Go's context.DeadlineExceeded)
};

namespace detail {

class goro_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "goro"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::canceled: return "context canceled";
      case errc::deadline_exceeded: return "context deadline exceeded";
    }
    return "unknown goro error " + std::to_string(value);
  }
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::canceled: return std::make_error_condition(std::errc::operation_canceled);
      case errc::deadline_exceeded: return std::make_error_condition(std::errc::timed_out);
    }
    return {value, *this};
  }
};

}  // namespace detail

/// error_category: the `goro` error category of goro::errc. From anywhere.
GORO_PROCESS_WIDE inline const std::error_category& error_category() noexcept {
  static const detail::goro_error_category category;
  return category;
}

/// make_error_code: found by argument-dependent lookup when an errc converts to std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace goro

/// Makes goro::errc an error code enum: it converts to std::error_code (through
/// goro::make_error_code) and compares with one, as in `ctx.err() == goro::errc::canceled`.
template <>
struct std::is_error_code_enum<goro::errc> : std::true_type {};

namespace goro {

class context;

/// context_key: the key of a value in a context (Go uses an unexported type's value for this). A
/// key is an object, compared by address: declare one per value, e.g. as a static or global
/// `const goro::context_key<user> user_key;`, and keep it alive while contexts use it. Like Go's
/// keys, which are equal only when their types are, a key also matches only its own T: two empty
/// keys of different types may share an address (an empty base beside a member, or
/// `[[no_unique_address]]` members), and neither finds the other's value.
template <class T>
struct context_key {};

namespace detail {

// value_type_tag: one object per type T, whose address identifies T among the types of stored
// context values without RTTI.
template <class T>
struct value_type_tag {
  static constexpr char tag = 0;
};

class cancel_node;

// context_node: one node of a context tree. Immutable once built, apart from the reference
// count and, in a cancel_node, the cancellation state.
class context_node {
 public:
  context_node(const context_node&) = delete;
  context_node& operator=(const context_node&) = delete;

  void retain() noexcept { references_.fetch_add(1, std::memory_order_relaxed); }

  // try_retain: takes a reference unless the count has already reached zero (the node is being
  // destroyed). Used by a canceller that found the node in a children list, under the lock
  // that its destructor must take to unlink it.
  bool try_retain() noexcept {
    std::size_t n = references_.load(std::memory_order_relaxed);
    while (n != 0) {
      if (references_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed,
                                            std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  // release: drops a reference to `node` (may be nullptr); the last one destroys it, and then
  // drops its reference to its parent — in a loop, so a long chain unwinds without recursion.
  static void release(context_node* node) noexcept {
    while (node != nullptr && node->references_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      context_node* parent = node->parent_;  // its reference passes to us
      delete node;
      node = parent;
    }
  }

  context_node* parent() const noexcept { return parent_; }
  cancel_node* anchor() const noexcept { return anchor_; }
  const std::optional<clock::time_point>& deadline() const noexcept { return deadline_; }

  // find: the value stored under `key` of the value type tagged `type` here or in the nearest
  // ancestor that has one.
  const void* find(const void* key, const void* type) const noexcept {
    for (const context_node* n = this; n != nullptr; n = n->parent_) {
      if (n->key_ == key && n->type_ == type) return n->value_;
    }
    return nullptr;
  }

 protected:
  // context_node: takes over a reference to `parent` (nullptr: background). `anchor` is the
  // nearest cancellable node on the chain, this one included.
  context_node(context_node* parent, cancel_node* anchor, std::optional<clock::time_point> deadline,
               const void* key, const void* type, const void* value) noexcept
      : parent_(parent),
        anchor_(anchor),
        deadline_(deadline),
        key_(key),
        type_(type),
        value_(value) {}
  virtual ~context_node() = default;  // must not release parent_ (release does)

 private:
  std::atomic<std::size_t> references_{1};
  context_node* const parent_;  // owned reference, or nullptr under background()
  cancel_node* const anchor_;   // done()/err() come from here; nullptr: never cancelled
  const std::optional<clock::time_point> deadline_;  // the earliest deadline on the chain
  const void* const key_;    // with_value nodes: the key's address, else nullptr
  const void* const type_;   // with_value nodes: &value_type_tag<T>::tag, else nullptr
  const void* const value_;  // with_value nodes: the value
};

inline cancel_node* anchor_of(const context_node* n) noexcept {
  return n != nullptr ? n->anchor() : nullptr;
}

// value_node: a with_value node.
template <class T>
class value_node final : public context_node {
 public:
  value_node(context_node* parent, const void* key, T&& value)
      : context_node(parent, anchor_of(parent),
                     parent != nullptr ? parent->deadline() : std::nullopt, key,
                     &value_type_tag<T>::tag, std::addressof(value_)),
        value_(std::move(value)) {}

 private:
  const T value_;
};

class deadline_timer;

// cancel_hook: something of goro's own, not a context, to tell when a context is cancelled:
// dial's connect (net.hpp), which Go interrupts from a watcher goroutine. on_cancel runs once,
// under the lock of the node the hook was added to, so that remove_hook waits for a call in
// progress: it must be short, must not block, and must not touch contexts (lock order: a
// node's lock, then whatever on_cancel takes).
class cancel_hook {
 public:
  virtual void on_cancel() noexcept = 0;

 protected:
  cancel_hook() = default;
  cancel_hook(const cancel_hook&) = delete;
  cancel_hook& operator=(const cancel_hook&) = delete;
  ~cancel_hook() = default;

 private:
  friend class cancel_node;
  cancel_hook* next_ = nullptr;  // link in the node's hooks_, guarded by its lock_
};

// cancel_node: a with_cancel / with_deadline node: the cancellation state of its subtree.
class cancel_node final : public context_node {
 public:
  // make: a new cancellable child of `parent` (nullptr: background), taking over the caller's
  // reference to `parent`, registered with the nearest cancellable ancestor — or cancelled at
  // once if that is already done. `own_deadline`, if given, must be earlier than the parent's:
  // the node arms a timer for it (a deadline already passed cancels it at once). Without one
  // the node inherits the parent's deadline, which the parent enforces.
  static cancel_node* make(context_node* parent, std::optional<clock::time_point> own_deadline);

  // err: 0 while live, else the errc value. From any thread.
  int err() const noexcept { return err_.load(std::memory_order_acquire); }

  const chan<std::monostate>& done() const noexcept { return done_; }

  // cancel: cancels `root` and all its descendants with `error` (an errc value); the first
  // cancel wins, later ones do nothing. `unregister` takes `root` out of its parent's list (a
  // cancellation coming from the parent has done so already). The caller holds a reference to
  // `root`. From any thread, including a timer callback: it never blocks (beyond the short
  // internal locks) and never calls user code.
  static void cancel(cancel_node* root, int error, bool unregister) noexcept;

  // add_hook: `hook` is told when this node is cancelled, unless it is removed first; returns
  // false, adding nothing, if the node is cancelled already.
  bool add_hook(cancel_hook& hook) noexcept {
    std::lock_guard guard(lock_);
    if (err_.load(std::memory_order_relaxed) != 0) return false;
    hook.next_ = hooks_;
    hooks_ = &hook;
    return true;
  }

  // remove_hook: once this returns, `hook` is not called (any more).
  void remove_hook(cancel_hook& hook) noexcept {
    std::lock_guard guard(lock_);
    for (cancel_hook** link = &hooks_; *link != nullptr; link = &(*link)->next_) {
      if (*link == &hook) {
        *link = hook.next_;
        return;
      }
    }
  }

  // child_count: the children registered now (for tests).
  std::size_t child_count() {
    std::lock_guard guard(lock_);
    return child_count_;
  }

 private:
  cancel_node(context_node* parent, std::optional<clock::time_point> own_deadline);
  ~cancel_node() override;

  // mark: the transition of one node: sets err_ (returns false if it was already set), unlinks
  // its children and pushes the ones it could retain onto `pending` (through next_pending_).
  bool mark(int error, cancel_node*& pending) noexcept;
  // close: after a successful mark(): closes done_ and stops the timer.
  void close() noexcept;
  void unregister() noexcept;
  void stop_timer() noexcept;

  futex_mutex lock_;  // guards err_'s transition, the children list and the children's links
  std::atomic<int> err_{0};
  const chan<std::monostate> done_;     // closed once err_ is set
  cancel_node* const registered_with_;  // the parent's anchor, whose list holds us

  cancel_node* first_child_ = nullptr;  // guarded by lock_
  std::size_t child_count_ = 0;         // guarded by lock_
  cancel_hook* hooks_ = nullptr;        // guarded by lock_; called and emptied by mark()
  // Links in registered_with_->first_child_'s list, guarded by registered_with_->lock_.
  cancel_node* prev_sibling_ = nullptr;
  cancel_node* next_sibling_ = nullptr;
  bool linked_ = false;
  cancel_node* next_pending_ = nullptr;  // the lists of the canceller that unlinked us

  deadline_timer* const timer_;  // owned reference, or nullptr without an own deadline
};

// deadline_timer: the timer of a with_deadline node. It holds a weak link to the node — target_,
// cleared by the node's destructor under lock_ — so a pending deadline does not keep an
// otherwise unused context alive.
class deadline_timer final : public timer_state {
 public:
  explicit deadline_timer(cancel_node* target) noexcept : target_(target) {}

  // detach: the node is being destroyed; the timer must not reach it any more.
  void detach() noexcept {
    std::lock_guard guard(lock_);
    target_ = nullptr;
  }

 private:
  void* on_fire(clock::time_point, wake_list&) override {
    return target_ != nullptr && target_->try_retain() ? target_ : nullptr;
  }
  void after_fire(void* token, const fire_site&) override {
    auto* node = static_cast<cancel_node*>(token);
    cancel_node::cancel(node, static_cast<int>(errc::deadline_exceeded), true);
    context_node::release(node);
  }

  cancel_node* target_;  // guarded by lock_
};

inline cancel_node::cancel_node(context_node* parent, std::optional<clock::time_point> own_deadline)
    : context_node(
          parent, this,
          own_deadline.has_value() || parent == nullptr ? own_deadline : parent->deadline(),
          nullptr, nullptr, nullptr),
      registered_with_(anchor_of(parent)),
      timer_(own_deadline.has_value() ? new deadline_timer(this) : nullptr) {}

inline cancel_node* cancel_node::make(context_node* parent,
                                      std::optional<clock::time_point> own_deadline) {
  cancel_node* node = nullptr;
  try {
    node = new cancel_node(parent, own_deadline);
  } catch (...) {
    context_node::release(parent);
    throw;
  }
  if (cancel_node* p = node->registered_with_; p != nullptr) {
    int parent_error = 0;
    {
      std::lock_guard guard(p->lock_);
      parent_error = p->err_.load(std::memory_order_relaxed);
      if (parent_error == 0) {
        node->next_sibling_ = p->first_child_;
        if (p->first_child_ != nullptr) p->first_child_->prev_sibling_ = node;
        p->first_child_ = node;
        node->linked_ = true;
        ++p->child_count_;
      }
    }
    if (parent_error != 0) {
      cancel(node, parent_error, false);
      return node;
    }
  }
  if (node->timer_ == nullptr || node->err() != 0) return node;
  if (*own_deadline <= clock::now()) {
    cancel(node, static_cast<int>(errc::deadline_exceeded), true);
    return node;
  }
  try {
    node->timer_->rearm(*own_deadline, {});
  } catch (...) {
    context_node::release(node);
    throw;
  }
  // A cancel that stopped the timer before we armed it: stop it again.
  if (node->err() != 0) node->stop_timer();
  return node;
}

inline void cancel_node::cancel(cancel_node* root, int error, bool unregister) noexcept {
  // Pass 1, top-down: set err_ on `root` and on every descendant still registered, unlinking
  // them (mark). Pass 2, bottom-up: close their done channels and stop their timers, so that by
  // the time a node's done() is closed, every descendant's is too.
  cancel_node* pending = nullptr;   // retained, still to mark
  cancel_node* finished = nullptr;  // retained and marked by us, the latest first
  const bool root_marked = root->mark(error, pending);
  while (pending != nullptr) {
    cancel_node* n = pending;
    pending = n->next_pending_;
    if (n->mark(error, pending)) {
      n->next_pending_ = finished;  // after its parent: closed before it
      finished = n;
    } else {
      context_node::release(n);  // cancelled meanwhile by someone else, who closes it
    }
  }
  while (finished != nullptr) {
    cancel_node* n = finished;
    finished = n->next_pending_;
    n->close();
    context_node::release(n);
  }
  if (root_marked) root->close();
  if (unregister) root->unregister();
}

inline bool cancel_node::mark(int error, cancel_node*& pending) noexcept {
  std::lock_guard guard(lock_);
  if (err_.load(std::memory_order_relaxed) != 0) return false;
  err_.store(error, std::memory_order_release);
  for (cancel_node* c = first_child_; c != nullptr;) {
    cancel_node* next = c->next_sibling_;
    c->prev_sibling_ = c->next_sibling_ = nullptr;
    c->linked_ = false;
    if (c->try_retain()) {
      c->next_pending_ = pending;
      pending = c;
    }
    c = next;
  }
  first_child_ = nullptr;
  child_count_ = 0;
  for (cancel_hook* hook = std::exchange(hooks_, nullptr); hook != nullptr;) {
    cancel_hook* next = hook->next_;  // read first: on_cancel may end the hook's owner's wait
    hook->on_cancel();
    hook = next;
  }
  return true;
}

inline void cancel_node::close() noexcept {
  // Only the canceller whose mark() set err_ gets here, once: the channel is still open.
  channel_close(*channel_access::get(done_));
  stop_timer();
}

inline void cancel_node::unregister() noexcept {
  cancel_node* p = registered_with_;
  if (p == nullptr) return;
  std::lock_guard guard(p->lock_);
  if (!linked_) return;
  (prev_sibling_ != nullptr ? prev_sibling_->next_sibling_ : p->first_child_) = next_sibling_;
  if (next_sibling_ != nullptr) next_sibling_->prev_sibling_ = prev_sibling_;
  prev_sibling_ = next_sibling_ = nullptr;
  linked_ = false;
  --p->child_count_;
}

inline void cancel_node::stop_timer() noexcept {
  if (timer_ != nullptr) timer_->rearm(std::nullopt, {});
}

inline cancel_node::~cancel_node() {
  if (timer_ != nullptr) {
    timer_->detach();
    timer_->rearm(std::nullopt, {});
    timer_->release();
  }
  unregister();
}

// context_access: how the free functions reach a context's node.
struct context_access;

}  // namespace detail

/// context: Go's context.Context. A cheap copyable handle (one counted pointer), immutable; all
/// members may be called from any goroutine or thread, concurrently.
class context {
 public:
  /// context: background().
  context() noexcept = default;
  /// context(const context&): another handle on the same context.
  context(const context& other) noexcept : node_(other.node_) {
    if (node_ != nullptr) node_->retain();
  }
  /// context(context&&): takes over the handle; `other` becomes background().
  context(context&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  /// operator=: makes this a handle on `other`'s context.
  context& operator=(context other) noexcept {
    std::swap(node_, other.node_);
    return *this;
  }
  ~context() { detail::context_node::release(node_); }

  /// done: a channel that is closed when the context is cancelled or its deadline passes; a nil
  /// channel (never ready) for a context that can never be cancelled, like background(). Use it
  /// in select: on_recv(ctx.done(), ...) fires with std::nullopt.
  recv_chan<std::monostate> done() const {
    detail::note_api_use();
    detail::cancel_node* a = detail::anchor_of(node_);
    if (a == nullptr) return nullptr;
    return a->done();
  }

  /// err: {} while the context is live; goro::errc::canceled or goro::errc::deadline_exceeded
  /// once done() is closed (a context cancelled through its parent has the parent's error).
  std::error_code err() const noexcept {
    detail::note_api_use();
    detail::cancel_node* a = detail::anchor_of(node_);
    const int e = a != nullptr ? a->err() : 0;
    if (e == 0) return {};
    return make_error_code(static_cast<errc>(e));
  }

  /// deadline: when the context will be cancelled by a deadline, if it has one: the earliest on
  /// its chain of parents.
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept {
    detail::note_api_use();
    if (node_ == nullptr) return std::nullopt;
    return node_->deadline();
  }

  /// value: the value stored under `key` by the nearest with_value on the chain, or nullptr. The
  /// pointer is valid while this context (or any context derived from it) lives.
  template <class T>
  const T* value(const context_key<T>& key) const noexcept {
    detail::note_api_use();
    if (node_ == nullptr) return nullptr;
    // std::addressof: a plain &key would find, by argument-dependent lookup, an operator& of
    // T's namespace (context_key<T>'s namespaces include T's).
    return static_cast<const T*>(node_->find(std::addressof(key), &detail::value_type_tag<T>::tag));
  }

 private:
  friend struct detail::context_access;
  explicit context(detail::context_node* node) noexcept : node_(node) {}

  detail::context_node* node_ = nullptr;  // nullptr: background()
};

/// cancel_func: cancels its context and every descendant with errc::canceled, and releases the
/// context's resources (its place in its parent's list, its timer). Idempotent; from any
/// goroutine or thread, concurrently too.
using cancel_func = std::function<void()>;

namespace detail {

struct context_access {
  static context_node* node(const context& c) noexcept { return c.node_; }
  static context adopt(context_node* n) noexcept { return context(n); }
};

// retained_cancel: the state of a cancel_func — a counted reference to the node.
class retained_cancel {
 public:
  explicit retained_cancel(cancel_node* n) noexcept : node_(n) { node_->retain(); }
  retained_cancel(const retained_cancel& other) noexcept : node_(other.node_) { node_->retain(); }
  retained_cancel& operator=(const retained_cancel&) = delete;
  ~retained_cancel() { context_node::release(node_); }

  void operator()() const {
    note_api_use();
    cancel_node::cancel(node_, static_cast<int>(errc::canceled), true);
  }

 private:
  cancel_node* node_;
};

inline std::pair<context, cancel_func> make_cancellable(
    const context& parent, std::optional<clock::time_point> own_deadline) {
  note_api_use();
  context_node* p = context_access::node(parent);
  if (p != nullptr) p->retain();
  cancel_node* node = cancel_node::make(p, own_deadline);
  context ctx = context_access::adopt(node);
  return {std::move(ctx), cancel_func(retained_cancel(node))};
}

// context_child_count: how many cancellable children are registered with `c`'s own node (0 if
// `c` is not a with_cancel/with_deadline context). For tests.
inline std::size_t context_child_count(const context& c) {
  context_node* n = context_access::node(c);
  if (n == nullptr || n->anchor() != n) return 0;
  return static_cast<cancel_node*>(n)->child_count();
}

}  // namespace detail

/// background: the root context: never cancelled, no deadline, no values (Go's
/// context.Background()).
inline context background() noexcept {
  detail::note_api_use();
  return context();
}

/// with_cancel: a child of `parent` that is cancelled when the returned cancel_func is called or
/// when `parent` is, whichever happens first. Call the cancel_func (or drop every copy of the
/// context and the cancel_func) when done, so the parent forgets the child.
inline std::pair<context, cancel_func> with_cancel(context parent) {
  return detail::make_cancellable(parent, std::nullopt);
}

/// with_deadline: with_cancel, and also cancelled with errc::deadline_exceeded at `t`. If the
/// parent's deadline is earlier, the child keeps the parent's (and is cancelled by it). A
/// deadline already passed gives a context that is done at once. The deadline is a timer on the
/// runtime's heap (or the fallback heap with no run active, see time.hpp).
inline std::pair<context, cancel_func> with_deadline(context parent,
                                                     std::chrono::steady_clock::time_point t) {
  const std::optional<detail::clock::time_point> inherited = parent.deadline();
  if (inherited.has_value() && *inherited <= t) return with_cancel(std::move(parent));
  return detail::make_cancellable(parent, t);
}

/// with_timeout: with_deadline(parent, now + d).
inline std::pair<context, cancel_func> with_timeout(context parent, std::chrono::nanoseconds d) {
  return with_deadline(std::move(parent), detail::saturating_deadline(d));
}

/// with_value: a child of `parent` that carries `value` under `key` (and is cancelled with the
/// parent). value(key) on it or its descendants finds this value unless a nearer with_value of the
/// same key hides it.
template <class T>
context with_value(context parent, const context_key<T>& key, std::type_identity_t<T> value) {
  detail::note_api_use();
  detail::context_node* p = detail::context_access::node(parent);
  if (p != nullptr) p->retain();
  detail::context_node* node = nullptr;
  try {
    node = new detail::value_node<T>(p, std::addressof(key), std::move(value));
  } catch (...) {
    detail::context_node::release(p);
    throw;
  }
  return detail::context_access::adopt(node);
}

}  // namespace goro
