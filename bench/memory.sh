#!/usr/bin/env bash
# Dataset memory of ferredis (release build) and the real redis-server, side by side: each dataset is
# loaded into a fresh pair of servers, and the script reports `used_memory` and RSS after the load,
# minus the same figures of the empty server (so that the numbers are the dataset's cost).
#
# Datasets (the same commands go to both servers, through `redis-cli --pipe`):
#   strings  KEYS keys `key:000000123456` (redis-benchmark's -r names) with VALUE-byte values (SET)
#   hash     one hash `bighash` with KEYS fields `f:123456` holding `v:123456` (HSET, 100 per command)
#   zset     one sorted set `bigzset` with KEYS members `m:123456`, score = N (ZADD, 100 per command)
#
# Usage: bench/memory.sh [dataset...]   (env: KEYS=1000000 VALUE=32 FERREDIS=<binary>)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

KEYS=${KEYS:-1000000}
VALUE=${VALUE:-32}
DATASETS=("$@")
[ ${#DATASETS[@]} -eq 0 ] && DATASETS=(strings hash zset)

for bin in redis-server redis-cli; do
    command -v "$bin" >/dev/null || { echo "bench: $bin not found" >&2; exit 1; }
done
if [ -z "${FERREDIS:-}" ]; then
    cargo build --release --quiet
    FERREDIS=$PWD/target/release/ferredis-server
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    local p
    for p in $(seq "$1" $(( $1 + 200 ))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "no free port near $1" >&2; exit 1
}

# start NAME BIN PORT: starts an empty server; echoes the pid.
start() {
    local name=$1 bin=$2 port=$3 dir=$WORK/$1
    rm -rf "$dir"; mkdir -p "$dir"
    "$bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --logfile "$dir/log" --daemonize no >/dev/null 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 6000); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then echo "$pid"; return; fi
        sleep 0.05
    done
    echo "server $name did not start" >&2; exit 1
}

stop() { kill "$1" 2>/dev/null || true; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

info() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The RESP commands of a dataset, written once and replayed into each server.
gen() {
    case $1 in
    strings)
        awk -v n="$KEYS" -v size="$VALUE" 'BEGIN {
            v = sprintf("%*s", size, ""); gsub(/ /, "x", v)
            for (i = 0; i < n; i++) {
                k = sprintf("key:%012d", i)
                printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
            }
        }' ;;
    hash | zset)
        awk -v n="$KEYS" -v kind="$1" 'BEGIN {
            per = 100
            for (i = 0; i < n; i += per) {
                m = (n - i < per) ? n - i : per
                if (kind == "hash") printf "*%d\r\n$4\r\nHSET\r\n$7\r\nbighash\r\n", 2 + 2 * m
                else printf "*%d\r\n$4\r\nZADD\r\n$7\r\nbigzset\r\n", 2 + 2 * m
                for (j = i; j < i + m; j++) {
                    if (kind == "hash") { a = sprintf("f:%d", j); b = sprintf("v:%d", j) }
                    else { a = sprintf("%d", j); b = sprintf("m:%d", j) }
                    printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(a), a, length(b), b
                }
            }
        }' ;;
    esac
}

FPORT=$(free_port 23000); RPORT=$(free_port 24000)
echo "keys=$KEYS value=${VALUE}B  ferredis=$(git rev-parse --short HEAD) redis=$(redis-server --version | awk '{print $3}')"
printf '%-8s %-9s %10s %14s %12s %14s %12s\n' dataset server entries used_memory_kB B/entry rss_kB rss_B/entry
for ds in "${DATASETS[@]}"; do
    gen "$ds" > "$WORK/$ds.resp"
    for name in ferredis redis; do
        if [ $name = ferredis ]; then bin=$FERREDIS; port=$FPORT; else bin=redis-server; port=$RPORT; fi
        pid=$(start $name "$bin" "$port")
        used0=$(info "$port" memory used_memory); rss0=$(rss_kb "$pid")
        redis-cli -p "$port" --pipe < "$WORK/$ds.resp" >/dev/null
        case $ds in
        strings) n=$(redis-cli -p "$port" dbsize) ;;
        hash) n=$(redis-cli -p "$port" hlen bighash) ;;
        zset) n=$(redis-cli -p "$port" zcard bigzset) ;;
        esac
        used=$(( $(info "$port" memory used_memory) - used0 )); rss=$(( $(rss_kb "$pid") - rss0 ))
        printf '%-8s %-9s %10s %14s %12s %14s %12s\n' "$ds" "$name" "$n" $(( used / 1024 )) \
            $(( used / (n > 0 ? n : 1) )) "$rss" $(( rss * 1024 / (n > 0 ? n : 1) ))
        stop "$pid"
    done
done
