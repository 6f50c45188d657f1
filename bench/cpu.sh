#!/usr/bin/env bash
# CPU time each server spends per request, a measure that does not depend on how busy the machine
# is (unlike requests per second on a shared box). For each round and test, starts one server at a
# time (ferredis then Redis), runs one redis-benchmark test, and reads the server's user and system
# time from /proc/<pid>/stat. Tests that pop (rpop, spop, zpopmin) first fill their key with the
# matching push test, outside the measurement. With several rounds it ends with, per test, the
# median CPU time per request of each server and the median of the per-round ratios
# redis/ferredis (> 1.0: ferredis spends less CPU per request).
#
# Usage: bench/cpu.sh [tests] [pipeline] [requests]   e.g. bench/cpu.sh get 1 200000
#        ROUNDS=3 bench/cpu.sh lpush,rpop,sadd,hset,zadd,lrange_100,spop,zpopmin 16 500000
#        TOKIO_WORKER_THREADS=1 bench/cpu.sh ...        (ferredis with one worker thread)
#        FERREDIS=<binary> bench/cpu.sh ...             (a binary built earlier)
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=${1:-get}
P=${2:-1}
N=${3:-200000}
ROUNDS=${ROUNDS:-1}

. bench/lib.sh

TICK=$(getconf CLK_TCK)
RESULTS=$WORK/results.txt   # lines: test server us_per_request

for round in $(seq 1 "$ROUNDS"); do
    for TEST in ${TESTS//,/ }; do
        for server in ferredis redis; do
            bin=$FERREDIS
            [ "$server" = redis ] && bin=$(command -v redis-server)
            port=$(( 16600 + RANDOM % 1000 ))
            dir=$(mktemp -d)
            "$bin" --port "$port" --bind 127.0.0.1 --save "" --dir "$dir" --logfile "$dir/log" >/dev/null 2>&1 &
            pid=$!
            for _ in $(seq 1 100); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
            fill=$(fill_for "$TEST")
            if [ -n "$fill" ]; then
                redis-benchmark -p "$port" -c 50 -n "$N" -P "$P" -t "$fill" --csv >/dev/null 2>&1
            fi
            read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
            rps=$(redis-benchmark -p "$port" -c 50 -n "$N" -P "$P" -t "$TEST" --csv 2>/dev/null |
                awk -F'","' '!/needed to/ && NR > 1 { print $2 }' | tail -1)
            read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
            kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir"
            awk -v s="$server" -v t="$TEST" -v p="$P" -v n="$N" -v u=$((u1 - u0)) -v k=$((s1 - s0)) -v hz="$TICK" -v r="$rps" \
                'BEGIN { printf "%-8s %-10s -P %-3s user %5.2f us  sys %5.2f us  total %5.2f us per request  (%s rps)\n",
                         s, t, p, u / hz / n * 1e6, k / hz / n * 1e6, (u + k) / hz / n * 1e6, r }'
            awk -v s="$server" -v t="$TEST" -v n="$N" -v u=$((u1 - u0)) -v k=$((s1 - s0)) -v hz="$TICK" \
                'BEGIN { printf "%s %s %.4f\n", t, s, (u + k) / hz / n * 1e6 }' >>"$RESULTS"
        done
    done
done

if [ "$ROUNDS" -gt 1 ]; then
    echo
    echo "median CPU us per request, and median ratio redis/ferredis (> 1.0: ferredis cheaper)"
    for TEST in ${TESTS//,/ }; do
        f=$(awk -v T="$TEST" '$1 == T && $2 == "ferredis" { print $3 }' "$RESULTS")
        r=$(awk -v T="$TEST" '$1 == T && $2 == "redis" { print $3 }' "$RESULTS")
        ratio=$(paste <(echo "$f") <(echo "$r") | awk '$1 > 0 { print $2 / $1 }' | median)
        printf '%-10s -P %-3s ferredis %6.3f  redis %6.3f  ratio %s\n' "$TEST" "$P" \
            "$(echo "$f" | median)" "$(echo "$r" | median)" "$(printf '%.2f' "$ratio")"
    done
fi
