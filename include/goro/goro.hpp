/// \file
/// goro/goro.hpp — the whole library: Go's concurrency model for C++20.
///
/// Includes every public header of goro.
#pragma once

#include "chan.hpp"
#include "context.hpp"
#include "debug.hpp"
#include "error.hpp"
#include "group.hpp"
#include "net.hpp"
#include "runtime.hpp"
#include "select.hpp"
#include "signals.hpp"
#include "singleflight.hpp"
#include "sync.hpp"
#include "time.hpp"

/// \mainpage goro — Go's concurrency model for C++20
///
/// goro gives C++ programs goroutines, channels, `select`, and Go's `sync`, `time` and `context`
/// toolkits. Goroutines are stackful fibers (Boost.Context) scheduled M:N over a pool of OS
/// threads with work-stealing run queues; a blocking call parks only the goroutine, never its
/// thread. Everything is in namespace goro; `#include <goro/goro.hpp>` brings it all.
///
/// ```cpp
/// #include <goro/goro.hpp>
///
/// #include <cstdio>
///
/// int main() {
///   goro::run([] {                          // the scheduler runs main as goroutine 1
///     goro::chan<int> ch;                   // make(chan int)
///     goro::go([ch] { ch.send(42); });      // go func() { ch <- 42 }()
///     std::printf("%d\n", *ch.recv());      // fmt.Println(<-ch)
///   });
/// }
/// ```
///
/// The reference, one public header per concept:
///
/// - goro/runtime.hpp: goro::run, goro::go, goro::yield, goro::blocking, goro::options (Go's
///   `go` statement and package runtime)
/// - goro/chan.hpp: goro::chan, goro::send_chan, goro::recv_chan (`chan T`, `chan<- T`,
///   `<-chan T`)
/// - goro/select.hpp: goro::select with goro::on_recv, goro::on_send and goro::on_default;
///   goro::select_set (`select`, `reflect.Select`)
/// - goro/sync.hpp: goro::wait_group, goro::mutex, goro::shared_mutex, goro::condition_variable,
///   goro::once, goro::semaphore (package sync, golang.org/x/sync/semaphore)
/// - goro/time.hpp: goro::sleep_for, goro::sleep_until, goro::after, goro::timer, goro::ticker
///   (package time)
/// - goro/context.hpp: goro::context, goro::background, goro::with_cancel, goro::with_timeout,
///   goro::with_deadline, goro::with_value (package context)
/// - goro/group.hpp: goro::group (golang.org/x/sync/errgroup)
/// - goro/singleflight.hpp: goro::singleflight (golang.org/x/sync/singleflight)
/// - goro/signals.hpp: goro::signals::notify, stop, reset, ignore, ignored, notify_context
///   (package os/signal)
/// - goro/net.hpp: goro::net::listen, goro::net::dial, goro::net::conn, goro::net::listener,
///   goro::net::listen_packet, goro::net::packet_conn (TCP, UDP and Unix-domain sockets;
///   package net)
/// - goro/debug.hpp: goro::dump, goro::runtime_stats (the SIGQUIT goroutine dump, counters)
/// - goro/error.hpp: goro::error, goro::deadlock_error, goro::channel_closed (panics)
///
/// The project's guides are in its `docs/` directory: getting-started.md (install, build, first
/// program, options, environment variables), go-to-goro.md (every Go construct next to its goro
/// spelling, and the semantic differences) and architecture.md (how the runtime works).

/// \namespace goro
/// Goroutines, channels, select, sync, time, context, errgroup and singleflight: Go's concurrency
/// model.

/// \namespace goro::net
/// TCP sockets whose blocking operations park the calling goroutine, not its thread.
