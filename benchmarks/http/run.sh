#!/usr/bin/env bash
# benchmarks/http/run.sh — the seed's web-server benchmark (issue 5): wrk against the "Hello,
# World!" HTTP/1.1 server written three ways, on loopback:
#
#   goro      examples/http_server.cpp          one goroutine per connection, GORO_MAXPROCS workers
#   threads   examples/http_server_threads.cpp  one std::thread per connection, blocking sockets
#   go        benchmarks/peers/go/http/         Go's net/http, GOMAXPROCS (if `go` is installed)
#   single    examples/http_server_single.cpp   one thread, one connection at a time (the seed's
#                                               "single-threaded implementation"; ab pass only)
#
# For each server and each connection count it starts a fresh server, runs
# `wrk -t$WRK_THREADS -c<connections> -d$DURATION --latency`, reads the server's peak RSS (VmHWM in
# /proc/<pid>/status), the CPU time it used per request (utime + stime from /proc/<pid>/stat —
# unlike requests/s, not skewed when other processes compete for the CPUs) and its thread count
# half-way through, and stops it; then it prints a markdown table and the machine's load.
#
# Then the seed's own measurement: ApacheBench (`ab -t$AB_SECONDS -c<concurrency>`, a new
# connection per request, as the seed ran it) against each of $AB_SERVERS, with handlers that
# answer at once and handlers that wait AB_WAITS microseconds first (HTTP_HANDLER_WAIT_US,
# standing for I/O such as a database query): a second table.
#
# Usage: benchmarks/http/run.sh            (from anywhere; builds what it needs)
# Environment (defaults in brackets):
#   BUILD_DIR [<repo>/build-http-bench]  WORKERS [2]  CONNECTIONS ["100 1000"]  DURATION [10s]
#   WRK_THREADS [2]  PORT [18080]  SERVERS ["goro threads go"]
#   AB_SERVERS ["goro single threads go"] (empty: no ab pass)  AB_SECONDS [5]
#   AB_CONCURRENCY ["1 100"]  AB_WAITS ["0 1000"]
# DURATION is in seconds with an `s` suffix.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir=${BUILD_DIR:-$repo/build-http-bench}
workers=${WORKERS:-2}
connections=${CONNECTIONS:-"100 1000"}
duration=${DURATION:-10s}
wrk_threads=${WRK_THREADS:-2}
port=${PORT:-18080}
servers=${SERVERS:-"goro threads go"}
ab_servers=${AB_SERVERS-"goro single threads go"}
ab_seconds=${AB_SECONDS:-5}
ab_concurrency=${AB_CONCURRENCY:-"1 100"}
ab_waits=${AB_WAITS:-"0 1000"}

command -v wrk >/dev/null || { echo "run.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [ -n "$ab_servers" ] && ! command -v ab >/dev/null; then
  echo "run.sh: ab is not installed (apt-get install apache2-utils)" >&2
  exit 1
fi
max_connections=$(tr ' ' '\n' <<<"$connections" | sort -n | tail -1)
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((2 * max_connections + 100)) ]; then
  ulimit -n $((2 * max_connections + 100)) 2>/dev/null ||
    echo "run.sh: warning: ulimit -n $(ulimit -n) may be too low for $max_connections connections" >&2
fi

# --- build ---------------------------------------------------------------------------------------
echo "building in $build_dir ..." >&2
cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGORO_BUILD_TESTS=OFF \
  -DGORO_BUILD_BENCHMARKS=OFF >/dev/null
ninja -C "$build_dir" http_server http_server_threads http_server_single >/dev/null
go_server=""
if [[ " $servers $ab_servers " == *" go "* ]] && command -v go >/dev/null && [ -f "$repo/benchmarks/peers/go/http/go.mod" ]; then
  go_server=$build_dir/go_http_server
  (cd "$repo/benchmarks/peers/go/http" && GOFLAGS=-mod=mod GOPROXY=off go build -o "$go_server" .)
fi

# --- measure -------------------------------------------------------------------------------------
# server_command: how to start server $1 on port $2.
server_command() {
  case $1 in
    goro) echo "env GORO_MAXPROCS=$workers $build_dir/examples/http_server $2" ;;
    threads) echo "$build_dir/examples/http_server_threads $2" ;;
    single) echo "$build_dir/examples/http_server_single $2" ;;
    go) echo "env GOMAXPROCS=$workers $go_server $2" ;;
  esac
}

wait_for_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "run.sh: server did not start on port $1" >&2
  return 1
}

# cpu_ticks: user + system CPU time process $1 has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# to_ms: a wrk duration ("812.00us", "1.23ms", "2.01s") in milliseconds.
to_ms() {
  awk -v t="$1" 'BEGIN {
    if (t ~ /us$/) { sub(/us$/, "", t); printf "%.3f", t / 1000 }
    else if (t ~ /ms$/) { sub(/ms$/, "", t); printf "%.2f", t }
    else if (t ~ /m$/) { sub(/m$/, "", t); printf "%.0f", t * 60000 }
    else { sub(/s$/, "", t); printf "%.1f", t * 1000 }
  }'
}

rows=()
load_before=$(uptime)
for server in $servers; do
  [ "$server" = go ] && [ -z "$go_server" ] && { echo "run.sh: skipping go (no Go toolchain or peer)" >&2; continue; }
  for c in $connections; do
    port=$((port + 1))
    $(server_command "$server" "$port") >/dev/null 2>&1 &
    pid=$!
    wait_for_port "$port"
    cpu_before=$(cpu_ticks "$pid")
    # The server's own process: `env` execs it, so $pid is the server itself.
    wrk -t"$wrk_threads" -c"$c" -d"$duration" --latency "http://127.0.0.1:$port/" >"$build_dir/wrk.out" 2>&1 &
    wrk_pid=$!
    sleep "$(awk -v d="${duration%s}" 'BEGIN {print d / 2}')"
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
    wait "$wrk_pid" || true
    cpu_after=$(cpu_ticks "$pid")
    out=$(cat "$build_dir/wrk.out")
    rss_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu_us=$(awk -v t=$((cpu_after - cpu_before)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" \
      'BEGIN {if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "?"}')
    errors=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    echo "$server c=$c: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu_us us CPU/request, peak RSS $((rss_kib / 1024)) MiB${errors:+, socket errors: $errors}${non2xx:+, non-2xx: $non2xx}" >&2
    rows+=("| $server | $c | ${rps:-?} | ${p50:-?} | ${p99:-?} | $cpu_us | $(awk -v k="$rss_kib" 'BEGIN {printf "%.1f", k / 1024}') | $threads | ${errors:-none} |")
  done
done
load_after=$(uptime)

echo
echo "wrk -t$wrk_threads -d$duration --latency, loopback, $workers workers (GORO_MAXPROCS/GOMAXPROCS), $(nproc) CPUs"
echo
echo "| server | connections | requests/s | p50 (ms) | p99 (ms) | server CPU per request (us) | peak RSS (MiB) | server threads | socket errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "load before: ${load_before#*load average: }; after: ${load_after#*load average: }"

# --- the seed's measurement: ab, a new connection per request ------------------------------------
[ -n "$ab_servers" ] || exit 0
ab_rows=()
for wait_us in $ab_waits; do
  for server in $ab_servers; do
    [ "$server" = go ] && [ -z "$go_server" ] && continue
    for c in $ab_concurrency; do
      port=$((port + 1))
      HTTP_HANDLER_WAIT_US=$wait_us $(server_command "$server" "$port") >/dev/null 2>&1 &
      pid=$!
      wait_for_port "$port"
      # -t: as many requests as fit in the time (-n only caps them).
      out=$(ab -q -t "$ab_seconds" -n 10000000 -c "$c" "http://127.0.0.1:$port/" 2>&1 || true)
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rps=$(awk '/^Requests per second:/ {printf "%.0f", $4}' <<<"$out")
      mean=$(awk '/^Time per request:/ && /\(mean\)/ {print $4; exit}' <<<"$out")
      failed=$(awk '/^Failed requests:/ {print $3}' <<<"$out")
      echo "ab wait=${wait_us}us $server c=$c: ${rps:-?} req/s, mean ${mean:-?} ms, failed ${failed:-?}" >&2
      ab_rows+=("| $wait_us | $server | $c | ${rps:-?} | ${mean:-?} | ${failed:-?} |")
    done
  done
done
echo
echo "ab -t$ab_seconds (HTTP/1.0, a new connection per request), loopback, $workers workers, $(nproc) CPUs"
echo
echo "| handler wait (us) | server | concurrency | requests/s | mean time per request (ms) | failed |"
echo "|---:|---|---:|---:|---:|---:|"
printf '%s\n' "${ab_rows[@]}"
