// goro/goro.hpp — the whole library: Go's concurrency model for C++20.
#pragma once

#include "chan.hpp"
#include "context.hpp"
#include "debug.hpp"
#include "error.hpp"
#include "group.hpp"
#include "net.hpp"
#include "runtime.hpp"
#include "select.hpp"
#include "sync.hpp"
#include "time.hpp"
