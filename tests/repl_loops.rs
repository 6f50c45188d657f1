//! No full-resync loops: a ferredis replica whose full sync lasts longer than the master's
//! `client-output-buffer-limit replica` allows at the write rate still finishes (one full sync),
//! because the writes buffered during the sync are held against the larger sync-phase allowance;
//! once it caught up, the configured limits apply again (the same load then drops it). A real Redis
//! replica of a ferredis master finishes too.
//!
//! The replica reaches the master through a fault proxy that is stalled during the transfer, so
//! the transfer takes as long as the test wants while a write load runs. Every wait polls with a
//! deadline.

mod common;
use common::*;

use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
/// The small limits of the test: 64 kB hard, 32 kB soft for 1 s.
const LIMITS: &str = "replica 64kb 32kb 1";

fn info(c: &mut RawClient, section: &str, field: &str) -> String {
    c.info_field(section, field).unwrap_or_default()
}

fn sync_full(c: &mut RawClient) -> u64 {
    info(c, "stats", "sync_full").parse().unwrap_or(0)
}

/// Writes `bytes` of SET traffic (`size`-byte values) for at least `min_time`.
fn write_load(c: &mut RawClient, bytes: usize, size: usize, min_time: Duration) {
    let value = "v".repeat(size);
    let started = Instant::now();
    let mut i = 0usize;
    while i * size < bytes || started.elapsed() < min_time {
        let key = format!("load:{}", i % 5000);
        assert_eq!(c.cmd(&["SET", &key, &value]), b"+OK\r\n");
        i += 1;
    }
}

fn full_sync_under_load(diskless: &str, replica_kind: Kind) {
    let master = Server::start(
        Kind::Ferredis,
        &[
            "--enable-debug-command",
            "yes",
            "--repl-backlog-size",
            "16kb",
            "--client-output-buffer-limit",
            LIMITS,
            "--repl-diskless-sync",
            diskless,
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    let mut mc = master.client();
    mc.cmd(&["DEBUG", "POPULATE", "20000", "key", "100"]);
    let proxy = proxy::Proxy::start(master.port);
    let pport = proxy.port.to_string();
    let replica = Server::start(replica_kind, &["--enable-debug-command", "yes"]);
    let mut rc = replica.client();
    // The transfer is held up as soon as it starts.
    assert_eq!(rc.cmd(&["REPLICAOF", "127.0.0.1", &pport]), b"+OK\r\n");
    wait_for("the full sync starts", T, || sync_full(&mut mc) == 1);
    proxy.stall(true);
    // Far more than the hard limit, for longer than the soft limit's seconds.
    write_load(&mut mc, 2 << 20, 1000, Duration::from_millis(2500));
    let pending = master
        .client()
        .cmd_str(&["CLIENT", "LIST", "TYPE", "replica"]);
    proxy.stall(false);
    wait_replica_in_sync(&master, &replica, T);
    assert_eq!(sync_full(&mut mc), 1, "the replica had to sync again");
    assert!(
        !master
            .log_text()
            .contains("overcoming of output buffer limits"),
        "the replica was dropped during its sync (client then: {pending})"
    );

    // Caught up: the configured limits apply again, and the same load drops a stalled replica.
    proxy.stall(true);
    let deadline = Instant::now() + T;
    let mut written = 0usize;
    while !master
        .log_text()
        .contains("overcoming of output buffer limits")
    {
        if Instant::now() >= deadline {
            let mut c = master.client();
            panic!(
                "a stalled online replica was kept after {written} bytes of writes: {} {}",
                c.cmd_str(&["CLIENT", "LIST", "TYPE", "replica"]),
                c.cmd_str(&["INFO", "replication"])
            );
        }
        // Large values: the socket buffers between the master and the stalled proxy (up to the
        // kernel's autotuned send buffer, 4 MiB here) fill in a few round trips even on a
        // starved machine, and only then does the stream pile up on the master.
        write_load(&mut mc, 1 << 20, 64 << 10, Duration::ZERO);
        written += 1 << 20;
    }
    proxy.stall(false);
    // It comes back, fully or partially: the backlog keeps whole commands, so one of the large
    // values written last may cover what it missed.
    wait_for("the dropped replica syncs again", T, || {
        sync_full(&mut mc)
            + info(&mut mc, "stats", "sync_partial_ok")
                .parse()
                .unwrap_or(0)
            >= 2
    });
    wait_replica_in_sync(&master, &replica, T);
}

#[test]
fn disk_full_sync_finishes_under_a_write_load_over_the_limit() {
    full_sync_under_load("no", Kind::Ferredis);
}

#[test]
fn diskless_full_sync_finishes_under_a_write_load_over_the_limit() {
    full_sync_under_load("yes", Kind::Ferredis);
}

/// The relaxed limit is the master's decision: a real Redis 7.0 replica of a ferredis master
/// finishes too.
#[test]
fn redis_replica_of_a_ferredis_master_finishes_too() {
    full_sync_under_load("yes", Kind::Redis);
}
