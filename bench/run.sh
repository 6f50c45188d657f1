#!/usr/bin/env bash
# Side-by-side throughput of ferredis (release build) and the real redis-server on loopback.
#
# Both servers run at once on free ports; for ROUNDS rounds, at -P 1 and -P 16, with -c 50, each
# test runs against one server then the other (one redis-benchmark test at a time, on an emptied
# dataset; the first server alternates between rounds), for the string tests (PING multibulk, SET,
# GET, INCR, MSET) and the collection tests (LPUSH, RPOP, SADD, HSET, ZADD, LRANGE_100, SPOP,
# ZPOPMIN). Prints every run's requests per second, then per command the median ratio
# ferredis/redis of the rounds (> 1.0: ferredis is faster), and the load average at the start and
# the end.
#
# RPOP, SPOP and ZPOPMIN first fill their key with LPUSH, SADD and ZADD (same -n and -P, not
# measured). LRANGE_100's own "LPUSH (needed to benchmark LRANGE)" fill is left out of the results.
#
# Usage: bench/run.sh   (env: ROUNDS=3 N=200000 (x5 when pipelined) CLIENTS=50 PIPELINES="1 16"
#                        TESTS=ping_mbulk,set,get,incr,mset,lpush,rpop,sadd,hset,zadd,lrange_100,spop,zpopmin
#                        FERREDIS=<binary> REDIS_SERVER=<binary>)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

ROUNDS=${ROUNDS:-3}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-ping_mbulk,set,get,incr,mset,lpush,rpop,sadd,hset,zadd,lrange_100,spop,zpopmin}
PIPELINES=${PIPELINES:-"1 16"}

. bench/lib.sh

FPORT=$(free_port 16400)
start ferredis "$FERREDIS" "$FPORT" >/dev/null
RPORT=$(free_port $(( FPORT + 1 )))
# REDIS_SERVER=<binary> puts another server in Redis's place: with a ferredis binary, an A/A run
# that shows how far apart two identical servers measure on this machine.
REDIS_BIN=${REDIS_SERVER:-$(command -v redis-server)}
start redis "$REDIS_BIN" "$RPORT" >/dev/null

echo "ferredis $FERREDIS (tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')) on $FPORT, $("$REDIS_BIN" --version | cut -d' ' -f1-3) ($REDIS_BIN) on $RPORT"
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); -c $CLIENTS -n $N -t $TESTS; $ROUNDS rounds"
RESULTS=$WORK/results.txt   # lines: pipeline test server rps round
: > "$RESULTS"

# run_one ROUND P SERVER TEST: one redis-benchmark test against one server, on an empty dataset.
run_one() {
    local round=$1 P=$2 server=$3 test=$4 port=$FPORT n=$N fill
    [ "$server" = redis ] && port=$RPORT
    # Pipelined runs are 5x longer, so that each lasts long enough to measure.
    [ "$P" -gt 1 ] && n=$(( N * 5 ))
    redis-cli -p "$port" flushall >/dev/null 2>&1 || true
    fill=$(fill_for "$test")
    if [ -n "$fill" ]; then
        redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$P" -t "$fill" --csv >/dev/null 2>&1 || true
    fi
    local out=$WORK/run.csv
    if ! redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$P" -t "$test" --csv \
        >"$out" 2>"$WORK/run.err"; then
        echo "bench: redis-benchmark failed against $server:" >&2; cat "$WORK/run.err" >&2
    fi
    if grep -q "Error from server" "$WORK/run.err" "$out"; then
        echo "round $round -P $P $server: errors: $(grep -h 'Error from server' "$WORK/run.err" "$out" | head -1)"
    fi
    # CSV rows: "TEST","rps",...; skip the header and the LRANGE fill.
    awk -F'","' -v P="$P" -v S="$server" -v R="$round" 'NR > 1 && !/needed to/ {
            t = $1; gsub(/"/, "", t); gsub(/ .*/, "", t); print P, t, S, $2, R }' "$out" >>"$RESULTS"
}

for round in $(seq 1 "$ROUNDS"); do
    # The servers take turns per test, and which goes first alternates between rounds, so that
    # the machine's drift (other work, CPU frequency) falls on both alike.
    order="ferredis redis"; [ $(( round % 2 )) -eq 0 ] && order="redis ferredis"
    for P in $PIPELINES; do
        for test in ${TESTS//,/ }; do
            for server in $order; do
                run_one "$round" "$P" "$server" "$test"
            done
        done
        for server in ferredis redis; do
            printf 'round %s -P %-2s %-8s %s\n' "$round" "$P" "$server" \
                "$(awk -v P="$P" -v S="$server" -v R="$round" '$1 == P && $3 == S && $5 == R { printf "%s=%s ", $2, $4 }' "$RESULTS")"
        done
    done
done

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median requests/s and ratio ferredis/redis (median of per-round ratios)"
printf '%-4s %-11s %12s %12s %7s\n' "-P" "test" "ferredis" "redis" "ratio"
for P in $PIPELINES; do
    for t in $(awk -v P="$P" '$1 == P { print $2 }' "$RESULTS" | awk '!seen[$0]++'); do
        f=$(awk -v P="$P" -v T="$t" '$1 == P && $2 == T && $3 == "ferredis" { print $4 }' "$RESULTS")
        r=$(awk -v P="$P" -v T="$t" '$1 == P && $2 == T && $3 == "redis" { print $4 }' "$RESULTS")
        fm=$(echo "$f" | median); rm_=$(echo "$r" | median)
        ratio=$(paste <(echo "$f") <(echo "$r") | awk 'NF == 2 && $2 > 0 { print $1 / $2 }' | median)
        [ "$ratio" = n/a ] || ratio=$(printf '%.2f' "$ratio")
        printf '%-4s %-11s %12s %12s %7s\n' "$P" "$t" "$fm" "$rm_" "$ratio"
    done
done
