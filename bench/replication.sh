#!/usr/bin/env bash
# Side-by-side replication figures, ferredis (release build) against the real redis-server, each
# replicating to a replica of its own kind, in interleaved rounds:
#   - full sync of KEYS keys (VALUE-byte values) to an empty replica, idle;
#   - the same full sync while redis-benchmark writes to the master (-P 16, overwriting the keys of
#     the dataset), and the master's extra memory during it (PSS of the process and its children,
#     as a share of the dataset);
#   - replica lag while redis-benchmark -t set -P 16 runs on the master: the largest offset gap
#     seen, and the time the replica needs to reach the master's offset once the load stops.
# Both kinds use a diskless sync without delay (`repl-diskless-sync yes`, `-delay 0`).
#
# Usage: bench/replication.sh   (env: KEYS=1000000 VALUE=32 ROUNDS=3 SERVERS="ferredis redis")
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
VALUE=${VALUE:-32}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-ferredis redis}

. bench/lib.sh

# lag MASTER_PORT REPLICA_PORT: master offset minus the replica's, in bytes (0 when a reading
# failed, so that a missed sample never counts as lag).
lag() {
    local m r
    m=$(info "$1" replication master_repl_offset || true)
    r=$(info "$2" replication slave_repl_offset || true)
    if [ -z "$m" ] || [ -z "$r" ]; then echo 0; return; fi
    echo $(( m > r ? m - r : 0 ))
}

# fill PORT: KEYS keys named as redis-benchmark -r names them (key:<12 digits>), with VALUE-byte
# values, so that the write load below overwrites the dataset instead of growing it: the memory
# the master gains during a sync is then the sync's cost, not new keys.
fill() {
    awk -v n="$KEYS" -v size="$VALUE" 'BEGIN {
        v = sprintf("%*s", size, ""); gsub(/ /, "x", v)
        for (i = 0; i < n; i++) {
            k = sprintf("key:%012d", i)
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
        }
    }' | redis-cli -p "$1" --pipe >/dev/null
}

echo "keys=$KEYS value=${VALUE}B rounds=$ROUNDS load_avg=$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-8s %12s %14s %16s %12s %14s\n' round server sync_idle_ms sync_load_ms master_extra_% max_lag_B catchup_ms
for round in $(seq 1 "$ROUNDS"); do
    for name in $SERVERS; do
        bin=$(server_bin "$name")
        mport=$(free_port 23000); mpid=$(start "$name-master" "$bin" "$mport" "${SYNC_ARGS[@]}")
        rport=$(free_port $(( mport + 1 ))); rpid=$(start "$name-replica" "$bin" "$rport" "${SYNC_ARGS[@]}")
        fill "$mport"
        dataset=$(( $(info "$mport" memory used_memory) / 1024 ))

        # Idle full sync.
        t0=$(now_ms)
        redis-cli -p "$rport" replicaof 127.0.0.1 "$mport" >/dev/null
        wait_synced "$rport"
        idle_ms=$(( $(now_ms) - t0 ))

        # Full sync under a write load, with the master's memory sampled.
        redis-cli -p "$rport" replicaof no one >/dev/null
        redis-cli -p "$rport" flushall >/dev/null
        redis-benchmark -p "$mport" -t set -r "$KEYS" -d "$VALUE" -n 100000000 -c 20 -P 16 -q >/dev/null 2>&1 &
        load=$!
        sleep 1
        base=$(pss_kb "$mpid"); peak=$base
        t0=$(now_ms)
        redis-cli -p "$rport" replicaof 127.0.0.1 "$mport" >/dev/null
        while [ "$(info "$rport" replication master_link_status)" != up ]; do
            cur=$(pss_kb "$mpid"); [ "$cur" -gt "$peak" ] && peak=$cur
            sleep 0.02
        done
        load_ms=$(( $(now_ms) - t0 ))
        kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true
        extra=$(( (peak - base) * 100 / (dataset > 0 ? dataset : 1) ))
        # The writes buffered during the sync are applied before the lag phase starts.
        until [ "$(info "$mport" replication master_repl_offset)" = "$(info "$rport" replication slave_repl_offset)" ]; do
            sleep 0.01
        done

        # Lag while a write load runs, then the catch-up once it stops.
        redis-benchmark -p "$mport" -t set -r "$KEYS" -d "$VALUE" -n 2000000 -c 20 -P 16 -q >/dev/null 2>&1 &
        load=$!
        max_lag=0
        while kill -0 "$load" 2>/dev/null; do
            l=$(lag "$mport" "$rport"); [ "$l" -gt "$max_lag" ] && max_lag=$l
            sleep 0.05
        done
        wait "$load" 2>/dev/null || true
        t0=$(now_ms)
        until [ "$(info "$mport" replication master_repl_offset)" = "$(info "$rport" replication slave_repl_offset)" ]; do
            sleep 0.005
        done
        catchup=$(( $(now_ms) - t0 ))

        stop "$rpid"; stop "$mpid"
        rm -rf "${WORK:?}/$name-master" "${WORK:?}/$name-replica"
        printf '%-6s %-8s %12s %14s %16s %12s %14s\n' "$round" "$name" "$idle_ms" "$load_ms" "$extra" "$max_lag" "$catchup"
    done
done
