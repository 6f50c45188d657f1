# Shared helpers of the side-by-side benchmark scripts (sourced, not run).
# Expects: set -euo pipefail; defines WORK (a temp dir removed on exit) and PIDS (other processes
# to kill on exit); servers from start() are killed on exit too.

for bin in redis-server redis-benchmark redis-cli; do
    command -v "$bin" >/dev/null || { echo "bench: $bin not found (scripts/test.sh installs it)" >&2; exit 1; }
done
export PATH="$HOME/.cargo/bin:$PATH"
# FERREDIS=<path> benchmarks a binary built earlier (e.g. a baseline) instead of building this tree.
if [ -z "${FERREDIS:-}" ]; then
    cargo build --release --quiet
    FERREDIS=$PWD/target/release/ferredis-server
fi
WORK=$(mktemp -d)
PIDS=()
bench_cleanup() {
    # start() runs in a command substitution (a subshell): its pids are kept in a file.
    for p in "${PIDS[@]}" $(cat "$WORK/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # KEEP=1 keeps the servers' directories (logs) for a look afterwards.
    if [ -n "${KEEP:-}" ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap bench_cleanup EXIT

# free_port BASE: the first port from BASE on that nobody listens on.
free_port() {
    local p
    for p in $(seq "$1" $(( $1 + 200 ))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "no free port near $1" >&2; exit 1
}

now_ms() { date +%s%3N; }

# server_bin NAME: the binary of "ferredis" or "redis".
server_bin() { if [ "$1" = ferredis ]; then echo "$FERREDIS"; else echo redis-server; fi; }

# start DIRNAME BIN PORT [ARGS...]: starts a server in $WORK/DIRNAME (loading its dump.rdb if
# present), waits until it answers PING, and echoes its pid.
start() {
    local name=$1 bin=$2 port=$3 dir=$WORK/$1
    shift 3
    mkdir -p "$dir"
    "$bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --logfile "$dir/log" --enable-debug-command yes --daemonize no "$@" >/dev/null 2>&1 &
    local pid=$!
    echo "$pid" >>"$WORK/pids"
    for _ in $(seq 1 6000); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then echo "$pid"; return; fi
        sleep 0.05
    done
    echo "server $name did not start" >&2; exit 1
}

# stop PID: kills a server we started and waits until it is gone.
stop() { kill "$1" 2>/dev/null || true; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

# pss_kb PID: PSS of a process and its children (a forked snapshot child counts), in kB.
pss_kb() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        local v
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        total=$(( total + ${v:-0} ))
    done
    echo "$total"
}

# info PORT SECTION FIELD: one INFO field.
info() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'; }

# Diskless full sync without delay, as every replication script runs both kinds.
SYNC_ARGS=(--repl-diskless-sync yes --repl-diskless-sync-delay 0)

# wait_synced REPLICA_PORT: until the replica's link is up (its full sync is over).
wait_synced() {
    for _ in $(seq 1 120000); do
        [ "$(info "$1" replication master_link_status)" = up ] && return
        sleep 0.01
    done
    echo "replica on $1 never synced" >&2; exit 1
}

# start_proxy LISTEN_PORT TARGET_PORT [RATE_KBPS [ACCEPT_LOG]]: starts the fault proxy of
# bench/tools.py (SIGUSR1 cuts the link and refuses reconnects, SIGUSR2 restores it; the times of
# the connections it forwards go to ACCEPT_LOG), waits until it listens, and echoes its pid.
start_proxy() {
    python3 bench/tools.py proxy "$1" "$2" "${3:-0}" ${4:+"$4"} >/dev/null 2>>"$WORK/tools.log" &
    local pid=$!
    echo "$pid" >>"$WORK/pids"
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then echo "$pid"; return; fi
        sleep 0.05
    done
    echo "proxy on $1 did not start" >&2; exit 1
}

# start_writer PORT RATE_KBPS: starts the paced SET writer of bench/tools.py; echoes its pid.
start_writer() {
    python3 bench/tools.py writer "$1" "$2" >/dev/null 2>>"$WORK/tools.log" &
    echo $! | tee -a "$WORK/pids"
}

# median: the median of the numbers on stdin (one a line; "n/a" for none).
median() {
    { grep -v '^$' || true; } | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fill_for TEST: the push test whose elements TEST pops (run first, outside the measurement).
fill_for() {
    case "$1" in
        rpop|lpop) echo lpush ;;
        spop) echo sadd ;;
        zpopmin) echo zadd ;;
        *) echo "" ;;
    esac
}
