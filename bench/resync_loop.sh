#!/usr/bin/env bash
# Full-resync loops, ferredis (release build) against the real redis-server, side by side: for each
# write-load level, a master of each kind holding KEYS keys (VALUE-byte values, a dataset many
# times the backlog) gets an empty replica of its own kind through a proxy that throttles the
# master -> replica direction to LINK kB/s, while a writer sends SETs of 1 kB values at LEVEL kB/s
# to the master. Both masters run with the same `repl-backlog-size BACKLOG` and
# `client-output-buffer-limit replica LIMITS`, diskless sync without delay, `rdbcompression no` (the
# populated values are padding that would compress to nothing).
# Each run reports, within WINDOW seconds:
#   finished Xs     the replica's link is up with no sync but the first (sync_full == 1)
#   LOOP n          the master dropped the replica during its sync and it started over: sync_full
#                   reached n (the run stops at 3)
#   unfinished      neither (the write load outruns the link: nothing can finish)
# then when it caught up (its offset within 256 kB of the master's, the load still running),
# and the peak of the master's `mem_total_replication_buffers` (the writes buffered for it).
#
# Usage: bench/resync_loop.sh
#   (env: KEYS=200000 VALUE=100 LINK=4000 LEVELS="250 500 750 1000 2000" BACKLOG=1mb
#         LIMITS="4mb 2mb 5" WINDOW=60 SERVERS="redis ferredis")
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-200000}
VALUE=${VALUE:-100}
LINK=${LINK:-4000}
LEVELS=${LEVELS:-250 500 750 1000 2000}
BACKLOG=${BACKLOG:-1mb}
LIMITS=${LIMITS:-4mb 2mb 5}
WINDOW=${WINDOW:-60}
SERVERS=${SERVERS:-redis ferredis}

. bench/lib.sh

# run KIND LEVEL: one sync under a write load; prints the result columns.
run() {
    local kind=$1 level=$2 bin mport rport pport m r p w
    bin=$(server_bin "$kind")
    mport=$(free_port 23000)
    m=$(start "m-$kind-$level" "$bin" "$mport" --repl-backlog-size "$BACKLOG" \
        --client-output-buffer-limit "replica $LIMITS" \
        "${SYNC_ARGS[@]}" --rdbcompression no)
    redis-cli -p "$mport" debug populate "$KEYS" key "$VALUE" >/dev/null
    rport=$(free_port 23300)
    r=$(start "r-$kind-$level" "$bin" "$rport")
    pport=$(free_port 23600)
    p=$(start_proxy "$pport" "$mport" "$LINK")
    w=$(start_writer "$mport" "$level")
    sleep 1 # the load is running before the sync starts
    local t0 result="unfinished" peak=0 full buf link
    t0=$(now_ms)
    redis-cli -p "$rport" replicaof 127.0.0.1 "$pport" >/dev/null
    while [ $(( $(now_ms) - t0 )) -lt $(( WINDOW * 1000 )) ]; do
        full=$(info "$mport" stats sync_full || echo 0)
        buf=$(info "$mport" memory mem_total_replication_buffers || echo 0)
        [ "${buf:-0}" -gt "$peak" ] && peak=$buf
        link=$(info "$rport" replication master_link_status || true)
        if [ "${full:-0}" -ge 3 ]; then result="LOOP $full"; break; fi
        if [ "$link" = up ] && [ "${full:-0}" -eq 1 ]; then
            result="finished $(awk -v t=$(( $(now_ms) - t0 )) 'BEGIN {printf "%.1fs", t / 1000}')"
            break
        fi
        sleep 0.2
    done
    # Caught up: the replica's offset within 256 kB of the master's, still under the load.
    local caught=- mo ro
    if [ "${result%% *}" = finished ]; then
        while [ $(( $(now_ms) - t0 )) -lt $(( WINDOW * 1000 )) ]; do
            mo=$(info "$mport" replication master_repl_offset || echo 0)
            ro=$(info "$rport" replication master_repl_offset || echo 0)
            buf=$(info "$mport" memory mem_total_replication_buffers || echo 0)
            [ "${buf:-0}" -gt "$peak" ] && peak=$buf
            if [ $(( ${mo:-0} - ${ro:-0} )) -lt 262144 ]; then
                caught=$(awk -v t=$(( $(now_ms) - t0 )) 'BEGIN {printf "%.1fs", t / 1000}')
                break
            fi
            sleep 0.2
        done
    fi
    kill "$w" "$p" 2>/dev/null || true
    wait "$w" "$p" 2>/dev/null || true
    local drops
    drops=$(grep -c "overcoming of output buffer limits" "$WORK/m-$kind-$level/log" || true)
    stop "$r"
    stop "$m"
    printf '%-9s %8s %-16s %10s %12s %6s\n' "$kind" "$level" "$result" "$caught" \
        "$(awk -v b="$peak" 'BEGIN {printf "%.1f", b / 1048576}')" "$drops"
}

echo "# KEYS=$KEYS VALUE=$VALUE LINK=${LINK}kB/s BACKLOG=$BACKLOG LIMITS=replica $LIMITS WINDOW=${WINDOW}s"
printf '%-9s %8s %-16s %10s %12s %6s\n' server "kB/s" result caught_up "peak_buf_MB" drops
for level in $LEVELS; do
    for kind in $SERVERS; do
        run "$kind" "$level"
    done
done
