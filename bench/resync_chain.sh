#!/usr/bin/env bash
# Resync after a link cut, and a 3-level chain brought up from empty: ferredis (release build)
# against the real redis-server, each topology all of one kind, in interleaved rounds (ferredis,
# redis, ferredis, redis, ...). Both kinds sync diskless without delay.
#
# partial  A master holding KEYS keys (VALUE-byte values, DEBUG POPULATE) and `repl-backlog-size
#          BACKLOG` has a replica linked through the fault proxy of bench/tools.py. The paced writer
#          sends `SET load:<i> <1000 bytes>` to the master at LOAD kB/s for the whole run. Once the
#          replica has caught up, the proxy cuts the link and refuses reconnects for CUT seconds,
#          then lets them through again. Reported, from that restore: the time until the replica
#          connects again (it retries once a second: 0-1 s of waiting for that retry), until its
#          link is up, and until its offset reaches the master's (sampled just before it); the
#          latter from the reconnection (psync_ms: the resync itself); whether the resync was
#          partial (the master's sync_partial_ok grew, sync_full did not); the stream the master
#          had to resend (its offset minus the replica's at the restore); what the replica read
#          from the link (total_net_repl_input_bytes) until the catch-up; and, with the load
#          stopped and the offsets equal, whether DEBUG DIGEST matches on both.
# chain    A master holding KEYS keys (VALUE-byte values), and two empty servers A and B. REPLICAOF
#          is sent to A (-> master) and right after its reply to B (-> A), as when a chain is
#          brought up from a configuration: B is refused (NOMASTERLINK) and retries once a second
#          until A has synced, then syncs from A. Reported: the time until A, then B, is linked
#          and has reached the master's offset (sampled just before), idle and while the writer
#          sends LOAD kB/s to the master; then, the load stopped and the offsets equal, whether
#          DEBUG DIGEST matches on all three.
# Each scenario ends with the median times of each server and the median of the per-round ratios
# ferredis/redis (< 1.0: ferredis is faster).
#
# Usage: bench/resync_chain.sh
#   (env: ROUNDS=3 KEYS=1000000 VALUE=32 LOAD=2000 CUT=10 BACKLOG=64mb TIMEOUT=180
#         SCENARIOS="partial chain" SERVERS="ferredis redis" FERREDIS=<binary>)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-1000000}
VALUE=${VALUE:-32}
LOAD=${LOAD:-2000}
CUT=${CUT:-10}
BACKLOG=${BACKLOG:-64mb}
TIMEOUT=${TIMEOUT:-180}
SCENARIOS=${SCENARIOS:-partial chain}
SERVERS=${SERVERS:-ferredis redis}

. bench/lib.sh

RESULTS=$WORK/results.txt # lines: scenario round server column value
: >"$RESULTS"

# caught_up MASTER_PORT REPLICA_PORT: true when the replica is linked and its offset has reached
# the master's, read just before it (under a load the master has moved on since).
caught_up() {
    local mo ro
    mo=$(info "$1" replication master_repl_offset || true)
    [ "$(info "$2" replication master_link_status || true)" = up ] || return 1
    ro=$(info "$2" replication master_repl_offset || true)
    [ -n "$mo" ] && [ -n "$ro" ] && [ "$ro" -ge "$mo" ]
}

# wait_caught_up MASTER_PORT REPLICA_PORT T0: echoes the ms from T0 until caught_up holds, or
# "timeout" after TIMEOUT seconds.
wait_caught_up() {
    while ! caught_up "$1" "$2"; do
        if [ $(( $(now_ms) - $3 )) -gt $(( TIMEOUT * 1000 )) ]; then echo timeout; return; fi
        sleep 0.02
    done
    echo $(( $(now_ms) - $3 ))
}

# digests_match MASTER_PORT PORT...: once every offset equals the master's (no load running),
# "match" when DEBUG DIGEST is the same on all of them, else "DIFFER".
digests_match() {
    local m=$1 p d want
    shift
    for p in "$@"; do
        for _ in $(seq 1 $(( TIMEOUT * 50 ))); do
            [ "$(info "$p" replication master_repl_offset)" = "$(info "$m" replication master_repl_offset)" ] && break
            sleep 0.02
        done
    done
    want=$(redis-cli -p "$m" debug digest)
    for p in "$@"; do
        d=$(redis-cli -p "$p" debug digest)
        [ "$d" = "$want" ] || { echo DIFFER; return; }
    done
    echo match
}

mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }

record() { echo "$1 $2 $3 $4 $5" >>"$RESULTS"; }

# partial ROUND KIND: one cut-and-resync run; prints its row.
partial() {
    local round=$1 kind=$2 bin mport rport pport m r p w
    bin=$(server_bin "$kind")
    mport=$(free_port 23000)
    m=$(start "pm-$kind-$round" "$bin" "$mport" "${SYNC_ARGS[@]}" --repl-backlog-size "$BACKLOG")
    redis-cli -p "$mport" debug populate "$KEYS" key "$VALUE" >/dev/null
    rport=$(free_port $(( mport + 1 )))
    r=$(start "pr-$kind-$round" "$bin" "$rport" "${SYNC_ARGS[@]}")
    pport=$(free_port $(( rport + 1 )))
    local accepts=$WORK/accepts-$kind-$round
    p=$(start_proxy "$pport" "$mport" 0 "$accepts")
    redis-cli -p "$rport" replicaof 127.0.0.1 "$pport" >/dev/null
    wait_synced "$rport"
    w=$(start_writer "$mport" "$LOAD")
    local t0
    t0=$(now_ms)
    [ "$(wait_caught_up "$mport" "$rport" "$t0")" != timeout ] || { echo "partial: replica never caught up before the cut" >&2; exit 1; }
    sleep 2 # the stream flows at the load's rate before the cut

    local full0 pok0 mo ro rx0
    full0=$(info "$mport" stats sync_full)
    pok0=$(info "$mport" stats sync_partial_ok)
    kill -USR1 "$p"
    sleep "$CUT"
    mo=$(info "$mport" replication master_repl_offset)
    ro=$(info "$rport" replication master_repl_offset)
    rx0=$(info "$rport" stats total_net_repl_input_bytes)
    t0=$(now_ms) # before the signal: the proxy may forward a connection before `date` returns
    kill -USR2 "$p"
    # The replica retries its connection once a second (both kinds), so it reconnects 0-1 s after
    # the restore, depending on where its retry cycle stands: a ferredis replica retries one second
    # after each failed attempt, so its cycle starts at the cut and a cut of whole seconds ends just
    # after an attempt; Redis retries on its once-a-second cron. The proxy's log of the connections
    # it forwards separates that wait (retry_ms) from the resync itself (psync_ms: from the
    # replica's connection to the catch-up).
    local ms=timeout link_ms=timeout rx full pok how digest retry_ms psync_ms
    while [ $(( $(now_ms) - t0 )) -le $(( TIMEOUT * 1000 )) ]; do
        if [ "$link_ms" = timeout ] && [ "$(info "$rport" replication master_link_status || true)" = up ]; then
            link_ms=$(( $(now_ms) - t0 ))
        fi
        if caught_up "$mport" "$rport"; then ms=$(( $(now_ms) - t0 )); break; fi
        sleep 0.02
    done
    [ "$link_ms" != timeout ] || link_ms=$ms
    local reconnect
    reconnect=$(awk -v t="$t0" '$1 >= t { print; exit }' "$accepts" 2>/dev/null || true)
    if [ -n "$reconnect" ] && [ "$ms" != timeout ]; then
        retry_ms=$(( reconnect - t0 )); psync_ms=$(( ms - retry_ms ))
    else
        retry_ms=-; psync_ms=timeout
    fi
    rx=$(( $(info "$rport" stats total_net_repl_input_bytes) - rx0 ))
    full=$(( $(info "$mport" stats sync_full) - full0 ))
    pok=$(( $(info "$mport" stats sync_partial_ok) - pok0 ))
    if [ "$full" -eq 0 ] && [ "$pok" -ge 1 ]; then how=partial; else how="FULL($full)"; fi
    kill "$w" 2>/dev/null || true
    digest=$(digests_match "$mport" "$rport")
    kill "$p" 2>/dev/null || true
    stop "$r"
    stop "$m"
    [ -n "${KEEP:-}" ] || rm -rf "${WORK:?}/pm-$kind-$round" "${WORK:?}/pr-$kind-$round"
    record partial "$round" "$kind" retry_ms "$retry_ms"
    record partial "$round" "$kind" resync_ms "$ms"
    record partial "$round" "$kind" psync_ms "$psync_ms"
    printf '%-6s %-8s %8s %8s %10s %9s %-10s %10s %8s %7s\n' "$round" "$kind" "$retry_ms" "$link_ms" "$ms" \
        "$psync_ms" "$how" "$(mb $(( mo - ro )))" \
        "$(mb "$rx")" "$digest"
}

# chain ROUND KIND MODE: brings up master -> A -> B (MODE idle or load); prints its row.
chain() {
    local round=$1 kind=$2 mode=$3 bin mport aport bport m a b w=""
    bin=$(server_bin "$kind")
    mport=$(free_port 23000)
    m=$(start "cm-$kind-$mode-$round" "$bin" "$mport" "${SYNC_ARGS[@]}")
    redis-cli -p "$mport" debug populate "$KEYS" key "$VALUE" >/dev/null
    aport=$(free_port $(( mport + 1 )))
    a=$(start "ca-$kind-$mode-$round" "$bin" "$aport" "${SYNC_ARGS[@]}")
    bport=$(free_port $(( aport + 1 )))
    b=$(start "cb-$kind-$mode-$round" "$bin" "$bport" "${SYNC_ARGS[@]}")
    if [ "$mode" = load ]; then
        w=$(start_writer "$mport" "$LOAD")
        sleep 1 # the load is running before the chain comes up
    fi
    local t0 a_ms=timeout b_ms=timeout
    t0=$(now_ms)
    # A first: sent at the same moment, B's REPLICAOF could reach A while A is still an empty
    # master, and B would first sync A's empty dataset (A drops it once it has loaded).
    redis-cli -p "$aport" replicaof 127.0.0.1 "$mport" >/dev/null
    redis-cli -p "$bport" replicaof 127.0.0.1 "$aport" >/dev/null
    while [ $(( $(now_ms) - t0 )) -le $(( TIMEOUT * 1000 )) ]; do
        if [ "$a_ms" = timeout ] && caught_up "$mport" "$aport"; then a_ms=$(( $(now_ms) - t0 )); fi
        if [ "$a_ms" != timeout ] && caught_up "$mport" "$bport"; then b_ms=$(( $(now_ms) - t0 )); break; fi
        sleep 0.02
    done
    [ -z "$w" ] || kill "$w" 2>/dev/null || true
    local digest fm fa
    digest=$(digests_match "$mport" "$aport" "$bport")
    fm=$(info "$mport" stats sync_full)
    fa=$(info "$aport" stats sync_full)
    stop "$b"
    stop "$a"
    stop "$m"
    [ -n "${KEEP:-}" ] || rm -rf "${WORK:?}/cm-$kind-$mode-$round" "${WORK:?}/ca-$kind-$mode-$round" "${WORK:?}/cb-$kind-$mode-$round"
    record "chain-$mode" "$round" "$kind" a_ms "$a_ms"
    record "chain-$mode" "$round" "$kind" b_ms "$b_ms"
    printf '%-6s %-8s %-5s %9s %9s %7s %11s\n' "$round" "$kind" "$mode" "$a_ms" "$b_ms" "$digest" "$fm/$fa"
}

# summary SCENARIO COLUMN: the medians of each server and of the per-round ratios ferredis/redis.
summary() {
    local f r ratio
    f=$(awk -v s="$1" -v c="$2" '$1 == s && $3 == "ferredis" && $4 == c { print $5 }' "$RESULTS" | grep -v timeout || true)
    r=$(awk -v s="$1" -v c="$2" '$1 == s && $3 == "redis" && $4 == c { print $5 }' "$RESULTS" | grep -v timeout || true)
    ratio=$(join <(awk -v s="$1" -v c="$2" '$1 == s && $3 == "ferredis" && $4 == c { print $2, $5 }' "$RESULTS" | sort) \
        <(awk -v s="$1" -v c="$2" '$1 == s && $3 == "redis" && $4 == c { print $2, $5 }' "$RESULTS" | sort) |
        awk '$2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && $3 > 0 { print $2 / $3 }' | median)
    [ "$ratio" = n/a ] || ratio=$(printf '%.2f' "$ratio")
    printf '%-14s %-9s %12s %12s %8s\n' "$1" "$2" "$(echo "$f" | median)" "$(echo "$r" | median)" "$ratio"
}

echo "ferredis $FERREDIS (tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')), $(redis-server --version | cut -d' ' -f1-3)"
echo "keys=$KEYS value=${VALUE}B load=${LOAD}kB/s of 1 kB SETs cut=${CUT}s backlog=$BACKLOG rounds=$ROUNDS"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for scenario in $SCENARIOS; do
    echo
    case $scenario in
    partial)
        echo "# partial resync after a ${CUT}s cut (ms from the restore; psync_ms from the reconnection; resend_MB: master offset - replica offset at the restore; rx_MB: read by the replica until caught up)"
        printf '%-6s %-8s %8s %8s %10s %9s %-10s %10s %8s %7s\n' round server retry_ms link_ms resync_ms psync_ms sync \
            resend_MB rx_MB digest
        for round in $(seq 1 "$ROUNDS"); do
            for kind in $SERVERS; do partial "$round" "$kind"; done
        done
        ;;
    chain)
        echo "# 3-level chain from empty, REPLICAOF on A then at once on B (ms until A, then B, reached the master's offset; sync_full on master/A)"
        printf '%-6s %-8s %-5s %9s %9s %7s %11s\n' round server mode a_ms b_ms digest full_m/a
        for round in $(seq 1 "$ROUNDS"); do
            for mode in idle load; do
                for kind in $SERVERS; do chain "$round" "$kind" "$mode"; done
            done
        done
        ;;
    *) echo "unknown scenario $scenario" >&2; exit 1 ;;
    esac
done

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians (ms) and the median of the per-round ratios ferredis/redis (< 1.0: ferredis faster)"
printf '%-14s %-9s %12s %12s %8s\n' scenario column ferredis redis ratio
for scenario in $SCENARIOS; do
    case $scenario in
    partial)
        summary partial retry_ms
        summary partial resync_ms
        summary partial psync_ms
        ;;
    chain)
        for mode in idle load; do
            summary "chain-$mode" a_ms
            summary "chain-$mode" b_ms
        done
        ;;
    esac
done
