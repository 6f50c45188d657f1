#!/usr/bin/env bash
# CPU time each server spends per request, a measure that does not depend on how busy the machine
# is (unlike requests per second on a shared box). Starts one server at a time, runs one
# redis-benchmark test, and reads the server's user and system time from /proc/<pid>/stat.
#
# Usage: bench/cpu.sh [test] [pipeline] [requests]      e.g. bench/cpu.sh get 1 200000
#        TOKIO_WORKER_THREADS=1 bench/cpu.sh ...        (ferredis with one worker thread)
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=${1:-get}
P=${2:-1}
N=${3:-200000}
cargo build --release --quiet
TICK=$(getconf CLK_TCK)
for server in ferredis redis; do
    bin=$PWD/target/release/ferredis-server
    [ "$server" = redis ] && bin=$(command -v redis-server)
    port=$(( 16600 + RANDOM % 1000 ))
    dir=$(mktemp -d)
    "$bin" --port "$port" --bind 127.0.0.1 --save "" --dir "$dir" --logfile "$dir/log" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
    read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
    rps=$(redis-benchmark -p "$port" -c 50 -n "$N" -P "$P" -t "$TEST" --csv 2>/dev/null | awk -F'","' 'NR == 2 { print $2 }')
    read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir"
    awk -v s="$server" -v t="$TEST" -v p="$P" -v n="$N" -v u=$((u1 - u0)) -v k=$((s1 - s0)) -v hz="$TICK" -v r="$rps" \
        'BEGIN { printf "%-8s %-6s -P %-3s user %5.2f us  sys %5.2f us  total %5.2f us per request  (%s rps)\n",
                 s, t, p, u / hz / n * 1e6, k / hz / n * 1e6, (u + k) / hz / n * 1e6, r }'
done
