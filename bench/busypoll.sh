#!/usr/bin/env bash
# What busy polling (`busy-poll-us`) buys and costs: ferredis at its default, ferredis with
# `busy-poll-us 0` and the real redis-server, side by side on loopback. For each round (the server
# order rotates between rounds), three loads per server:
#   c50   redis-benchmark -c 50 -P 1 -t get      (the -P 1 throughput test of bench/run.sh)
#   c1    redis-benchmark -c 1 -P 1 -t get       (one client in a ping-pong loop)
#   tick  redis-cli -r REQS -i INTERVAL ping     (one client, a request every INTERVAL seconds)
# and prints, per load and server, the median requests/s and the median CPU the server used
# (% of one core, user + system, from /proc/<pid>/stat over the run).
#
# Usage: bench/busypoll.sh   (env: ROUNDS=3 N=100000 N1=20000 REQS=2000 INTERVAL=0.0005 FERREDIS=<binary>)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-100000}
N1=${N1:-20000}
REQS=${REQS:-2000}
INTERVAL=${INTERVAL:-0.0005}

. bench/lib.sh

TICK=$(getconf CLK_TCK)
declare -A PORT PID
PORT[poll]=$(free_port 16700)
PID[poll]=$(start poll "$FERREDIS" "${PORT[poll]}")
PORT[nopoll]=$(free_port $(( PORT[poll] + 1 )))
PID[nopoll]=$(start nopoll "$FERREDIS" "${PORT[nopoll]}" --busy-poll-us 0)
PORT[redis]=$(free_port $(( PORT[nopoll] + 1 )))
PID[redis]=$(start redis "$(command -v redis-server)" "${PORT[redis]}")
SERVERS=(poll nopoll redis)

echo "ferredis $FERREDIS (tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')): poll = busy-poll-us $(redis-cli -p "${PORT[poll]}" config get busy-poll-us | tail -1), nopoll = busy-poll-us 0; $(redis-server --version | cut -d' ' -f1-3)"
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds"
RESULTS=$WORK/results.txt   # lines: load server rps cpu_percent
: > "$RESULTS"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure LOAD SERVER: runs one load against one server, appends "load server rps cpu%".
measure() {
    local load=$1 server=$2 port=${PORT[$2]} pid=${PID[$2]} t0 t1 c0 c1 rps
    c0=$(ticks "$pid")
    t0=$(now_ms)
    case "$load" in
        c50) rps=$(redis-benchmark -p "$port" -c 50 -n "$N" -P 1 -t get --csv | awk -F, 'NR == 2 { gsub(/"/, "", $2); print $2 }') ;;
        c1) rps=$(redis-benchmark -p "$port" -c 1 -n "$N1" -P 1 -t get --csv | awk -F, 'NR == 2 { gsub(/"/, "", $2); print $2 }') ;;
        tick) redis-cli -p "$port" -r "$REQS" -i "$INTERVAL" ping >/dev/null; rps= ;;
    esac
    t1=$(now_ms)
    c1=$(ticks "$pid")
    [ -n "$rps" ] || rps=$(awk -v n="$REQS" -v ms=$(( t1 - t0 )) 'BEGIN { printf "%.0f", n * 1000 / ms }')
    local cpu
    cpu=$(awk -v c=$(( c1 - c0 )) -v hz="$TICK" -v ms=$(( t1 - t0 )) 'BEGIN { printf "%.0f", c * 100000 / hz / ms }')
    echo "$load $server $rps $cpu" >>"$RESULTS"
    printf '%-5s %-7s %10s req/s  server CPU %4s%%\n' "$load" "$server" "$rps" "$cpu"
}

for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    for load in c50 c1 tick; do
        for i in 0 1 2; do
            measure "$load" "${SERVERS[$(( (i + round) % 3 ))]}"
        done
    done
done

echo
echo "medians over $ROUNDS rounds:"
printf '%-5s %-7s %10s %8s\n' load server "req/s" "CPU %"
for load in c50 c1 tick; do
    for server in "${SERVERS[@]}"; do
        rps=$(awk -v l="$load" -v s="$server" '$1 == l && $2 == s { print $3 }' "$RESULTS" | median)
        cpu=$(awk -v l="$load" -v s="$server" '$1 == l && $2 == s { print $4 }' "$RESULTS" | median)
        printf '%-5s %-7s %10.0f %8s\n' "$load" "$server" "$rps" "$cpu"
    done
done
