#!/usr/bin/env bash
# Memory of one big sorted set, ferredis (release build) against the real redis-server.
#
# Starts both servers, loads the same MEMBERS members into one key `bigz` of each through
# `redis-cli --pipe` (ZADD commands of 100 pairs; members `member:<i>`, scores from a fixed
# pseudo-random sequence, so inserts land all over the order), then prints each server's
# used_memory and used_memory_rss above what it used before the load, and the ZCARD as a check;
# then the requests/s of ZRANK of the middle member and ZRANGE of ten ranks from the middle (one
# client, so it is the latency of the lookup; both are O(log N) in both servers now).
# With ORDER=seq the scores grow with i instead (members appended in order).
#
# Usage: bench/zset_memory.sh   (env: MEMBERS=1000000 ORDER=random FERREDIS=<binary>)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

MEMBERS=${MEMBERS:-1000000}
ORDER=${ORDER:-random}

command -v python3 >/dev/null || { echo "bench: python3 not found" >&2; exit 1; }
. bench/lib.sh

# The load, as RESP, written once and fed to both servers.
python3 - "$MEMBERS" "$ORDER" >"$WORK/load.resp" <<'EOF'
import sys
n, order = int(sys.argv[1]), sys.argv[2]
out = sys.stdout.buffer
x = 0x2545F4914F6CDD1D
def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)
for start in range(0, n, 100):
    pairs = []
    for i in range(start, min(n, start + 100)):
        if order == "seq":
            score = i
        else:
            x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
            x ^= x >> 7
            x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
            score = x % 100_000_000
        pairs.append((b"%d" % score, b"member:%d" % i))
    out.write(b"*%d\r\n" % (2 + 2 * len(pairs)) + bulk(b"ZADD") + bulk(b"bigz"))
    for s, m in pairs:
        out.write(bulk(s) + bulk(m))
EOF

mem() { # port field
    redis-cli -p "$1" info memory | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'
}

FPORT=$(free_port 16500)
start ferredis "$FERREDIS" "$FPORT" >/dev/null
RPORT=$(free_port $(( FPORT + 1 )))
start redis "$(command -v redis-server)" "$RPORT" >/dev/null
echo "$MEMBERS members, $ORDER scores; ferredis $FERREDIS, $(redis-server --version | cut -d' ' -f1-3)"
printf '%-9s %10s %14s %14s %12s %12s %10s %10s\n' server zcard used_memory used_rss \
    "bytes/member" "rss/member" "zrank/s" "zrange/s"
for server in ferredis redis; do
    port=$FPORT; [ "$server" = redis ] && port=$RPORT
    u0=$(mem "$port" used_memory); r0=$(mem "$port" used_memory_rss)
    redis-cli -p "$port" --pipe <"$WORK/load.resp" >/dev/null
    u1=$(mem "$port" used_memory); r1=$(mem "$port" used_memory_rss)
    card=$(redis-cli -p "$port" zcard bigz)
    mid=$(( MEMBERS / 2 ))
    rank=$(redis-benchmark -p "$port" -c 1 -n 2000 --csv zrank bigz "member:$mid" 2>/dev/null |
        awk -F'","' 'NR == 2 { print $2 }')
    range=$(redis-benchmark -p "$port" -c 1 -n 2000 --csv zrange bigz "$mid" "$(( mid + 9 ))" 2>/dev/null |
        awk -F'","' 'NR == 2 { print $2 }')
    printf '%-9s %10s %14s %14s %12.1f %12.1f %10s %10s\n' "$server" "$card" $(( u1 - u0 )) $(( r1 - r0 )) \
        "$(echo "($u1 - $u0) / $MEMBERS" | bc -l)" "$(echo "($r1 - $r0) / $MEMBERS" | bc -l)" \
        "${rank:-?}" "${range:-?}"
done
