#!/usr/bin/env bash
# Side-by-side RDB persistence figures of ferredis (release build) and the real redis-server:
#   - SAVE time, file size and load time for about KEYS keys (a random fill that covers ~98% of
#     KEYS names) with VALUE-byte values;
#   - BGSAVE under a concurrent write load: the extra memory of the server during the snapshot
#     (PSS of the process, plus for Redis its forked child), as a share of the dataset.
# Both servers run at once; each measurement runs on ferredis then on Redis (interleaved rounds).
#
# Usage: bench/persistence.sh   (env: KEYS=1000000 VALUE=32 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
VALUE=${VALUE:-32}
ROUNDS=${ROUNDS:-3}

. bench/lib.sh

FPORT=$(free_port 21000); RPORT=$(free_port 22000)
echo "keys=$KEYS value=${VALUE}B rounds=$ROUNDS"
printf '%-9s %-8s %9s %10s %10s %12s %12s %14s\n' round server keys save_ms load_ms file_bytes dataset_kB bgsave_extra_%
for round in $(seq 1 "$ROUNDS"); do
    for name in ferredis redis; do
        if [ $name = ferredis ]; then bin=$FERREDIS; port=$FPORT; else bin=redis-server; port=$RPORT; fi
        rm -rf "${WORK:?}/$name"
        pid=$(start $name "$bin" "$port")
        # Fill with the key names redis-benchmark's -r uses (key:000000000123), so that the write
        # load below overwrites existing keys instead of adding new ones.
        redis-benchmark -p "$port" -t set -r "$KEYS" -d "$VALUE" -n $(( KEYS * 4 )) -c 20 -P 64 -q >/dev/null 2>&1
        nkeys=$(redis-cli -p "$port" dbsize)
        t0=$(now_ms); redis-cli -p "$port" save >/dev/null; t1=$(now_ms)
        save_ms=$(( t1 - t0 ))
        size=$(stat -c %s "$WORK/$name/dump.rdb")
        # BGSAVE while redis-benchmark overwrites random existing keys.
        base=$(pss_kb "$pid")
        dataset=$(( $(info "$port" memory used_memory) / 1024 ))
        redis-benchmark -p "$port" -t set -r "$KEYS" -d "$VALUE" -n 100000000 -c 20 -P 16 -q >/dev/null 2>&1 &
        load_pid=$!
        sleep 1
        base=$(pss_kb "$pid")
        redis-cli -p "$port" bgsave >/dev/null
        peak=$base
        while :; do
            cur=$(pss_kb "$pid")
            [ "$cur" -gt "$peak" ] && peak=$cur
            [ "$(info "$port" persistence rdb_bgsave_in_progress)" = 0 ] && break
            sleep 0.05
        done
        kill "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true
        extra=$(( (peak - base) * 100 / (dataset > 0 ? dataset : 1) ))
        redis-cli -p "$port" save >/dev/null
        stop "$pid"
        # Load time: from the server's own log line.
        pid=$(start $name "$bin" "$port")
        load=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$WORK/$name/log" | tail -1 | awk '{print $5}')
        load_ms=$(awk -v s="${load:-0}" 'BEGIN {printf "%d", s * 1000}')
        stop "$pid"
        printf '%-9s %-8s %9s %10s %10s %12s %12s %14s\n' "$round" "$name" "$nkeys" "$save_ms" "$load_ms" "$size" "$dataset" "$extra"
    done
done
