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
# Usage: bench/memory.sh [dataset...]   (env: KEYS=1000000 VALUE=32, BIN=<another ferredis binary>)
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
VALUE=${VALUE:-32}
DATASETS=("$@")
if [ ${#DATASETS[@]} -eq 0 ]; then DATASETS=(strings hash zset); fi

source bench/lib.sh
if [ -n "${BIN:-}" ]; then FERREDIS=$BIN; fi

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
        rm -rf "${WORK:?}/$name"
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
