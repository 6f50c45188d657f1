#!/usr/bin/env bash
# Runs every gate of ferredis on a fresh machine that has only the Rust toolchain:
#   1. installs redis-server and redis-tools with apt when missing (the interop tests need the real
#      redis-server, redis-cli and redis-benchmark; they are never skipped: no redis, no pass),
#   2. raises the open-file limit (a network test holds 5,000 connections open),
#   3. cargo fmt --check, cargo clippy --all-targets -D warnings, cargo test (every test).
# Usage: ./scripts/test.sh        (from anywhere; needs root or sudo only if redis must be installed)
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

have_redis() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null &&
        command -v redis-benchmark >/dev/null
}

install_redis() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "redis-server is missing and we are not root (no sudo): cannot install redis-server/redis-tools, so the interop tests cannot run"
        sudo="sudo -n"
    fi
    command -v apt-get >/dev/null || die "redis-server is missing and apt-get is not available: install redis-server and redis-tools (Redis 7.0) by hand"
    # Keep the package from starting a system redis-server on port 6379: policy-rc.d exit 101 tells
    # invoke-rc.d not to start services. We remove it afterwards only if we created it.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        created_policy=1
    fi
    local marker
    marker=$(mktemp)
    say "installing redis-server and redis-tools with apt"
    local ok=1
    $sudo apt-get update -q || ok=0
    if [ "$ok" = 1 ]; then
        $sudo apt-get install -y -q redis-server redis-tools || ok=0
    fi
    if [ "$created_policy" = 1 ]; then
        $sudo rm -f "$policy"
    fi
    # Belt and braces: if the install still started a server anyway, its pid file is newer than our
    # marker; stop exactly that pid (and nothing else).
    for pidfile in /run/redis/redis-server.pid /var/run/redis/redis-server.pid; do
        if [ -f "$pidfile" ] && [ "$pidfile" -nt "$marker" ]; then
            local pid
            pid=$(cat "$pidfile")
            if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "redis-server" ]; then
                say "stopping the redis-server (pid $pid) the package install started"
                $sudo kill "$pid" || true
            fi
        fi
    done
    rm -f "$marker"
    [ "$ok" = 1 ] || die "apt-get could not install redis-server/redis-tools: the interop tests need them and are never skipped"
}

if ! have_redis; then
    install_redis
fi
have_redis || die "redis-server, redis-cli or redis-benchmark still missing after install"
say "using $(redis-server --version)"

# A network test holds 5,000 client connections open; the server inherits this limit.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then
    ulimit -n 65536 2>/dev/null || true
else
    ulimit -n "$hard" 2>/dev/null || true
fi
say "open-file limit: $(ulimit -n)"

if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# Tests start servers as child processes; two test threads per binary fit a 2-core machine (test
# binaries themselves run one after the other).
say "cargo test"
RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}" cargo test --no-fail-fast

say "all gates passed"
