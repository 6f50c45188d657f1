//! Replication between ferredis nodes under faults: a proxy that delays, stalls and cuts the link at
//! seeded positions of a write load (during a full sync and during streaming), kill -9 of the master
//! (restarted with its dump or empty), of a replica and of the middle node of a chain, a backlog too
//! small for what was written while the link was down, and a slow replica dropped by
//! `client-output-buffer-limit replica`.
//!
//! Faults happen at positions in the load (ops done, bytes forwarded), never after fixed sleeps; each
//! test ends, once every link is up and the offsets match, with `DEBUG DIGEST` equal on every node.

mod common;
mod repl_util;
use common::proxy::Proxy;
use common::*;
use repl_util::*;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Random delays, stalls and cuts while a replica full-syncs a large dataset through the proxy and
/// then streams a write load from three clients.
#[test]
fn delays_stalls_and_cuts_during_full_sync_and_streaming() {
    let seed = seed();
    println!("seed {seed} (FERREDIS_SEED replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let master = fer(&["--repl-diskless-sync", "no"]);
    let mut m = master.client();
    m.cmd(&["DEBUG", "POPULATE", "30000", "pop", "64"]);
    let proxy = Proxy::start(master.port);
    let replica = fer(&[]);
    let mut r = replica.client();
    let load = Load::start(master.port, 3, seed);

    // During the full sync: slow the transfer, then cut it at a random byte position.
    proxy.set_delay(Duration::from_millis(2));
    replicaof(&mut r, proxy.port);
    for _ in 0..2 {
        let at = proxy.forwarded() + rng.gen_range(10_000..400_000);
        wait_for("the transfer passes the cut position", LONG, || {
            proxy.forwarded() >= at || info(&mut r, "master_link_status") == "up"
        });
        proxy.cut();
    }
    proxy.set_delay(Duration::ZERO);

    // During streaming: random faults at positions of the load.
    for _ in 0..8 {
        load.advance(rng.gen_range(50..400));
        match rng.gen_range(0..3) {
            0 => proxy.cut(),
            1 => {
                proxy.stall(true);
                load.advance(rng.gen_range(50..600));
                proxy.stall(false);
            }
            _ => {
                proxy.set_delay(Duration::from_millis(rng.gen_range(1..8)));
                load.advance(rng.gen_range(50..300));
                proxy.set_delay(Duration::ZERO);
            }
        }
    }
    load.advance(200);
    load.finish();
    assert_converged(master.port, &[(master.port, replica.port)]);
    assert!(stat(&mut m, "sync_full") >= 1);
}

/// kill -9 of the master, restarted on its port with its dump: the replica (ahead of the dump,
/// which the writes after the SAVE reached) resyncs with the restarted master and ends with the
/// dump's data plus what came after.
#[test]
fn master_killed_and_restarted_with_its_dump() {
    let seed = seed();
    println!("seed {seed}");
    let mut master = fer(&[]);
    let replica = fer(&[]);
    let mut r = replica.client();
    replicaof(&mut r, master.port);
    let load = Load::start(master.port, 2, seed);
    load.advance(500);
    assert_eq!(master.client().cmd(&["SAVE"]), b"+OK\r\n");
    load.advance(300);
    load.finish();
    let (port, dir) = (master.port, master.dir.clone());
    master.kill();
    let master = restart_on(port, &dir, &[]);
    let mut m = master.client();
    wait_for("the restarted master resyncs the replica", LONG, || {
        stat(&mut m, "sync_full") + stat(&mut m, "sync_partial_ok") >= 1
    });
    let load = Load::start(master.port, 2, seed ^ 1);
    load.advance(300);
    load.finish();
    assert_converged(port, &[(port, replica.port)]);
}

/// kill -9 of the master, restarted empty: the replica full-syncs and drops everything it had.
#[test]
fn master_killed_and_restarted_empty() {
    let seed = seed();
    println!("seed {seed}");
    let mut master = fer(&[]);
    let replica = fer(&[]);
    let mut r = replica.client();
    replicaof(&mut r, master.port);
    let load = Load::start(master.port, 2, seed);
    load.advance(500);
    load.finish();
    assert_converged(master.port, &[(master.port, replica.port)]);
    let port = master.port;
    master.kill();
    let dir = scratch_dir("empty-master");
    let master = restart_on(port, &dir, &[]);
    let mut m = master.client();
    wait_for("the replica full-syncs from the empty master", LONG, || {
        stat(&mut m, "sync_full") >= 1 && info(&mut r, "master_link_status") == "up"
    });
    assert_converged(port, &[(port, replica.port)]);
    assert_eq!(r.cmd(&["DBSIZE"]), b":0\r\n");
    m.cmd(&["SET", "after", "1"]);
    assert_converged(port, &[(port, replica.port)]);
}

/// kill -9 of a replica, restarted from its own dump: it continues the master's history with a
/// partial resync (its dump records the replication id and offset).
#[test]
fn replica_killed_and_restarted_from_its_dump() {
    let seed = seed();
    println!("seed {seed}");
    let master = fer(&[]);
    let mut m = master.client();
    let mut replica = fer(&[]);
    let mut r = replica.client();
    replicaof(&mut r, master.port);
    let load = Load::start(master.port, 2, seed);
    load.advance(400);
    wait_for("replica link up", LONG, || {
        info(&mut r, "master_link_status") == "up"
    });
    assert_eq!(r.cmd(&["SAVE"]), b"+OK\r\n");
    load.advance(300);
    let (port, dir) = (replica.port, replica.dir.clone());
    replica.kill();
    load.advance(300);
    let mport = master.port.to_string();
    let partial_before = stat(&mut m, "sync_partial_ok");
    let replica = restart_on(port, &dir, &["--replicaof", "127.0.0.1", &mport]);
    load.advance(300);
    load.finish();
    assert_converged(master.port, &[(master.port, replica.port)]);
    assert!(
        stat(&mut m, "sync_partial_ok") > partial_before,
        "the restarted replica should continue from its dump's history"
    );
}

/// kill -9 of a replica restarted without a dump: a full sync.
#[test]
fn replica_killed_and_restarted_empty() {
    let seed = seed();
    println!("seed {seed}");
    let master = fer(&[]);
    let mut m = master.client();
    let mut replica = fer(&[]);
    let mut r = replica.client();
    replicaof(&mut r, master.port);
    let load = Load::start(master.port, 2, seed);
    load.advance(400);
    let port = replica.port;
    replica.kill();
    let full_before = stat(&mut m, "sync_full");
    let mport = master.port.to_string();
    let dir = scratch_dir("empty-replica");
    let replica = restart_on(port, &dir, &["--replicaof", "127.0.0.1", &mport]);
    load.advance(300);
    load.finish();
    assert_converged(master.port, &[(master.port, replica.port)]);
    assert!(stat(&mut m, "sync_full") > full_before);
}

/// A chain master → middle → leaf; the middle node is killed and restarted (empty); the leaf
/// follows it again and all three converge.
#[test]
fn middle_of_a_chain_killed_and_restarted() {
    let seed = seed();
    println!("seed {seed}");
    let master = fer(&[]);
    let mut middle = fer(&[]);
    let leaf = fer(&[]);
    replicaof(&mut middle.client(), master.port);
    replicaof(&mut leaf.client(), middle.port);
    let load = Load::start(master.port, 2, seed);
    load.advance(400);
    let (port, dir) = (middle.port, middle.dir.clone());
    middle.kill();
    load.advance(300);
    let mport = master.port.to_string();
    let middle = restart_on(port, &dir, &["--replicaof", "127.0.0.1", &mport]);
    load.advance(300);
    load.finish();
    assert_converged(
        master.port,
        &[(master.port, middle.port), (middle.port, leaf.port)],
    );
}

/// A backlog smaller than what is written while the link is down: the reconnect needs a full
/// resync, and the data still converges.
#[test]
fn backlog_overflow_forces_a_full_resync() {
    let master = fer(&["--repl-backlog-size", "16kb"]);
    let mut m = master.client();
    let proxy = Proxy::start(master.port);
    let replica = fer(&[]);
    let mut r = replica.client();
    replicaof(&mut r, proxy.port);
    m.cmd(&["SET", "before", "1"]);
    assert_converged(master.port, &[(master.port, replica.port)]);
    let full_before = stat(&mut m, "sync_full");
    proxy.refuse(true);
    proxy.cut();
    wait_for("the replica sees the link down", LONG, || {
        info(&mut r, "master_link_status") == "down"
    });
    let value = "x".repeat(100);
    for i in 0..500 {
        m.cmd(&["SET", &format!("k{i}"), &value]);
    }
    proxy.refuse(false);
    assert_converged(master.port, &[(master.port, replica.port)]);
    assert_eq!(stat(&mut m, "sync_full"), full_before + 1);
    assert_eq!(r.cmd(&["DBSIZE"]), b":501\r\n");
}

/// A replica behind a stalled link: the master's unsent stream passes the
/// `client-output-buffer-limit replica` hard limit, the master drops it, and once the link flows
/// again the replica continues from the backlog (a partial resync, although more than its hard
/// limit is left to send: the limit is checked when the stream grows, not on the PSYNC) and
/// converges.
#[test]
fn slow_replica_dropped_by_output_buffer_limit_recovers() {
    let master = fer(&[
        "--client-output-buffer-limit",
        "replica 256kb 128kb 60",
        "--repl-backlog-size",
        "64mb",
    ]);
    let mut m = master.client();
    let proxy = Proxy::start(master.port);
    let replica = fer(&[]);
    let mut r = replica.client();
    replicaof(&mut r, proxy.port);
    m.cmd(&["SET", "before", "1"]);
    assert_converged(master.port, &[(master.port, replica.port)]);
    let (full, partial) = (stat(&mut m, "sync_full"), stat(&mut m, "sync_partial_ok"));
    proxy.stall(true);
    // Kernel buffers absorb an unknown amount first: write in batches until the master drops it.
    let value = "y".repeat(16 * 1024);
    let mut i = 0;
    wait_for("the master drops the slow replica", LONG, || {
        let mut out = Vec::new();
        for _ in 0..64 {
            i += 1;
            let k = format!("big{}", i % 2000);
            out.extend(RawClient::encode(&[b"SET", k.as_bytes(), value.as_bytes()]));
        }
        m.send_raw(&out);
        for _ in 0..64 {
            m.read_reply();
        }
        master
            .log_text()
            .contains("for overcoming of output buffer limits")
    });
    proxy.stall(false);
    assert_converged(master.port, &[(master.port, replica.port)]);
    assert_eq!(info(&mut m, "connected_slaves"), "1");
    assert_eq!(stat(&mut m, "sync_full"), full, "no full resync was needed");
    assert!(stat(&mut m, "sync_partial_ok") > partial);
}

/// A sub-replica full-syncs from a replica while its master's stream has another database than 0
/// selected: the snapshot tells it the stream's database (the middle's master's, not its own), so
/// the commands that follow without a SELECT land in the right database.
#[test]
fn sub_replica_full_sync_continues_in_the_streams_database() {
    let master = fer(&[]);
    let middle = fer(&[]);
    let leaf = fer(&[]);
    let mut m = master.client();
    replicaof(&mut middle.client(), master.port);
    // After this sync the master's stream selects again on its next write (the SELECT 2 below),
    // and never after.
    assert_converged(master.port, &[(master.port, middle.port)]);
    assert_eq!(m.cmd(&["SELECT", "2"]), b"+OK\r\n");
    assert_eq!(m.cmd(&["SET", "x", "1"]), b"+OK\r\n");
    assert_converged(master.port, &[(master.port, middle.port)]);
    replicaof(&mut leaf.client(), middle.port);
    assert_converged(
        master.port,
        &[(master.port, middle.port), (middle.port, leaf.port)],
    );
    // The same connection: the stream selects no database again.
    assert_eq!(m.cmd(&["SET", "y", "2"]), b"+OK\r\n");
    assert_converged(
        master.port,
        &[(master.port, middle.port), (middle.port, leaf.port)],
    );
    let mut l = leaf.client();
    assert_eq!(l.cmd(&["SELECT", "2"]), b"+OK\r\n");
    assert_eq!(l.cmd(&["GET", "y"]), b"$1\r\n2\r\n");
}
