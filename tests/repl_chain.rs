//! Chained replication, PSYNC2 after a failover, and partial resync after a restart, with ferredis
//! and real Redis 7.0 nodes mixed: a replica serving its own replicas forwards its master's exact
//! stream (same replid, same offsets at every level); a promoted replica lets its old siblings and
//! the demoted master continue with `+CONTINUE`; a SHUTDOWN or SAVE records the replication id and
//! offset in the dump so a restarted replica or master continues partially.
//!
//! Every wait polls with a deadline: link up, offsets equal at every level, then `DEBUG DIGEST`
//! equal on all nodes.

mod common;
use common::*;

use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn node(kind: Kind, args: &[&str]) -> Server {
    let mut a = vec!["--repl-diskless-sync-delay", "0"];
    if kind == Kind::Ferredis {
        a.extend_from_slice(&["--enable-debug-command", "yes"]);
    }
    a.extend_from_slice(args);
    Server::start(kind, &a)
}

fn replica(kind: Kind, of: &Server, args: &[&str]) -> Server {
    let port = of.port.to_string();
    let mut a = vec!["--replicaof", "127.0.0.1", &port];
    a.extend_from_slice(args);
    node(kind, &a)
}

/// Starts `kind` again on `port` in `dir` (the dump file there is loaded), as a restart would.
fn restart(kind: Kind, port: u16, dir: &Path, args: &[&str]) -> Server {
    let bin = match kind {
        Kind::Ferredis => ferredis_bin(),
        Kind::Redis => redis_bin(),
    };
    let port_s = port.to_string();
    let child = std::process::Command::new(bin)
        .args(["--port", &port_s, "--bind", "127.0.0.1", "--save", ""])
        .args(["--daemonize", "no", "--enable-debug-command", "yes"])
        .args(["--repl-diskless-sync-delay", "0"])
        .args([
            "--dir",
            dir.to_str().expect("utf-8"),
            "--logfile",
            "server2.log",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn server");
    let s = Server {
        kind,
        port,
        child: Some(child),
        dir: dir.to_path_buf(),
        log: dir.join("server2.log"),
    };
    let pid = format!("process_id:{}", s.pid());
    wait_for("restarted server answers, its dump loaded", T, || {
        RawClient::try_connect(port)
            .map(|mut c| {
                let info = parse_bulk(&c.cmd(&["INFO"])).unwrap_or_default();
                info.lines().any(|l| l.trim() == pid) && info.lines().any(|l| l == "loading:0")
            })
            .unwrap_or(false)
    });
    s
}

fn info(c: &mut RawClient, section: &str, field: &str) -> String {
    c.info_field(section, field).unwrap_or_default()
}

fn repl(s: &Server, field: &str) -> String {
    info(&mut s.client(), "replication", field)
}

fn stat(s: &Server, field: &str) -> String {
    info(&mut s.client(), "stats", field)
}

fn digest(s: &Server) -> String {
    s.client().digest()
}

/// Waits until every replica's link is up and every node has the top master's replid and offset,
/// then compares `DEBUG DIGEST` everywhere. `nodes[0]` is the top master.
fn in_sync(nodes: &[&Server]) {
    let mut cs: Vec<RawClient> = nodes.iter().map(|s| s.client()).collect();
    wait_for("links up", T, || {
        cs[1..]
            .iter_mut()
            .all(|c| info(c, "replication", "master_link_status") == "up")
    });
    wait_for("same replid and offset at every level", T, || {
        let top = (
            info(&mut cs[0], "replication", "master_replid"),
            info(&mut cs[0], "replication", "master_repl_offset"),
        );
        cs[1..].iter_mut().all(|c| {
            info(c, "replication", "master_replid") == top.0
                && info(c, "replication", "master_repl_offset") == top.1
                && info(c, "replication", "slave_repl_offset") == top.1
        })
    });
    let want = digest(nodes[0]);
    for n in &nodes[1..] {
        assert_eq!(digest(n), want, "DEBUG DIGEST differs on port {}", n.port);
    }
}

/// Mixed writes in several databases, some in MULTI/EXEC, pipelined.
fn writes(s: &Server, seed: u64, n: usize) {
    let mut c = s.client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut count = 0;
    for _ in 0..n {
        let k = format!("k{}", rng.gen_range(0..40));
        let v = format!("v{}", rng.gen_range(0..1000));
        let cmd: Vec<String> = match rng.gen_range(0..9) {
            0 => vec!["SET".into(), k, v],
            1 => vec!["SET".into(), k, v, "EX".into(), "5000".into()],
            2 => vec!["INCR".into(), format!("n{}", rng.gen_range(0..5))],
            3 => vec!["RPUSH".into(), "list".into(), v],
            4 => vec!["HSET".into(), "hash".into(), k, v],
            5 => vec!["SADD".into(), "set".into(), v],
            6 => vec![
                "ZADD".into(),
                "zs".into(),
                rng.gen_range(0..99).to_string(),
                v,
            ],
            7 => vec!["SELECT".into(), rng.gen_range(0..4).to_string()],
            _ => {
                out.extend(RawClient::encode(&[b"MULTI"]));
                out.extend(RawClient::encode(&[b"INCR", b"tx"]));
                out.extend(RawClient::encode(&[b"DEL", k.as_bytes()]));
                count += 3;
                vec!["EXEC".into()]
            }
        };
        let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        out.extend(RawClient::encode(&a));
        count += 1;
    }
    c.send_raw(&out);
    for _ in 0..count {
        let r = c.read_reply();
        assert!(!r.starts_with(b"-"), "{}", String::from_utf8_lossy(&r));
    }
}

/// Waits for a ferredis master's first PING to its replicas (sent within about a second of the
/// first attach): with a long `repl-ping-replica-period`, no other stream byte can then slip in
/// between a promotion and the switch of the other nodes. A real Redis sends its first PING on its
/// first cron pass, before any replica of a test can attach, then none for the period.
fn first_ping_sent(m: &Server) {
    if m.kind == Kind::Redis {
        return;
    }
    wait_for("the master's first PING", T, || {
        n(&repl(m, "master_repl_offset")) > 0
    });
}

/// SHUTDOWN SAVE: the server saves and exits without a reply.
fn shutdown_save(s: &Server) {
    let mut c = s.client();
    c.send_raw(&RawClient::encode(&[b"SHUTDOWN", b"SAVE"]));
    if let Some(r) = c.try_read_reply() {
        panic!("SHUTDOWN SAVE replied {}", String::from_utf8_lossy(&r));
    }
}

fn n(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// A 3-level chain top → mid → bottom of the given kinds: writes flow, offsets and ids equal at
/// every level; a cut sub-replica link resyncs partially from the middle node.
fn chain(top_kind: Kind, mid_kind: Kind, bottom_kind: Kind) {
    chain_with(top_kind, mid_kind, bottom_kind, &[]);
}

fn chain_with(top_kind: Kind, mid_kind: Kind, bottom_kind: Kind, mid_args: &[&str]) {
    let top = node(top_kind, &[]);
    // The stream selects a database other than 0 before the middle node syncs: the bottom's
    // snapshot must say which one its stream continues in.
    writes(&top, 1, 300);
    let mut t = top.client();
    assert_eq!(t.cmd(&["SELECT", "3"]), b"+OK\r\n");
    assert_eq!(t.cmd(&["SET", "in3", "x"]), b"+OK\r\n");
    let mid = replica(mid_kind, &top, mid_args);
    in_sync(&[&top, &mid]);
    // The top's stream selects db 3 again after the middle node's sync; the bottom's snapshot
    // from the middle node must carry that database, since nothing selects it again.
    assert_eq!(t.cmd(&["SET", "in3a", "x"]), b"+OK\r\n");
    in_sync(&[&top, &mid]);
    let bottom = replica(bottom_kind, &mid, &[]);
    in_sync(&[&top, &mid, &bottom]);
    // Continues in the database the stream had selected (no new SELECT from `t`).
    assert_eq!(t.cmd(&["SET", "in3b", "y"]), b"+OK\r\n");
    writes(&top, 2, 500);
    in_sync(&[&top, &mid, &bottom]);
    assert_eq!(stat(&mid, "sync_full"), "1");
    // The bottom's link is cut: it continues from the middle node's backlog.
    let ok_before = n(&stat(&mid, "sync_partial_ok"));
    bottom.client().cmd(&["CLIENT", "KILL", "TYPE", "master"]);
    writes(&top, 3, 200);
    wait_for("partial resync from the middle node", T, || {
        n(&stat(&mid, "sync_partial_ok")) > ok_before
    });
    in_sync(&[&top, &mid, &bottom]);
    assert_eq!(stat(&mid, "sync_full"), "1", "the bottom full-synced again");
    // The middle node's own link is cut: it continues under the same id, and its sub-replica
    // keeps streaming through it (no new sync of any kind on the middle node).
    let (ok_mid, top_ok) = (
        n(&stat(&mid, "sync_partial_ok")),
        n(&stat(&top, "sync_partial_ok")),
    );
    mid.client().cmd(&["CLIENT", "KILL", "TYPE", "master"]);
    writes(&top, 4, 200);
    wait_for("the middle node continued", T, || {
        n(&stat(&top, "sync_partial_ok")) > top_ok
    });
    in_sync(&[&top, &mid, &bottom]);
    assert_eq!(n(&stat(&mid, "sync_partial_ok")), ok_mid);
    assert_eq!(stat(&mid, "sync_full"), "1");
    // A real Redis top answers WAIT with GETACKs: forwarded through the chain as stream bytes,
    // counted the same everywhere.
    if top_kind == Kind::Redis {
        let r = t.cmd(&["WAIT", "1", "5000"]);
        assert_eq!(r, b":1\r\n");
        in_sync(&[&top, &mid, &bottom]);
    }
}

#[test]
fn chain_of_three_ferredis() {
    chain(Kind::Ferredis, Kind::Ferredis, Kind::Ferredis);
}

#[test]
fn chain_of_three_ferredis_disk_sync_in_the_middle() {
    chain_with(
        Kind::Ferredis,
        Kind::Ferredis,
        Kind::Ferredis,
        &["--repl-diskless-sync", "no"],
    );
}

/// The middle node moves to a sibling that follows the same master: same history, so it
/// continues (`+CONTINUE`, same id) and its sub-replica is not disturbed.
#[test]
fn middle_node_moving_to_a_sibling_continues() {
    let top = node(Kind::Ferredis, &["--repl-ping-replica-period", "3600"]);
    let sibling = replica(Kind::Redis, &top, &[]);
    let mid = replica(Kind::Ferredis, &top, &[]);
    let bottom = replica(Kind::Ferredis, &mid, &[]);
    in_sync(&[&top, &sibling, &mid, &bottom]);
    first_ping_sent(&top);
    writes(&top, 30, 300);
    in_sync(&[&top, &sibling, &mid, &bottom]);
    let port = sibling.port.to_string();
    assert_eq!(
        mid.client().cmd(&["REPLICAOF", "127.0.0.1", &port]),
        b"+OK\r\n"
    );
    wait_for("the sibling accepted the middle node partially", T, || {
        stat(&sibling, "sync_partial_ok") == "1"
    });
    writes(&top, 31, 300);
    in_sync(&[&top, &sibling, &mid, &bottom]);
    assert_eq!(stat(&sibling, "sync_full"), "0");
    assert_eq!(stat(&mid, "sync_full"), "1");
    assert_eq!(stat(&mid, "sync_partial_ok"), "0");
}

#[test]
fn chain_with_real_redis_in_the_middle() {
    chain(Kind::Ferredis, Kind::Redis, Kind::Ferredis);
}

#[test]
fn chain_with_real_redis_at_the_end() {
    chain(Kind::Ferredis, Kind::Ferredis, Kind::Redis);
}

#[test]
fn chain_under_a_real_redis_master() {
    chain(Kind::Redis, Kind::Ferredis, Kind::Ferredis);
}

/// The middle node follows another master with a different history: it full-syncs, disconnects
/// its sub-replica, which resyncs with the new history.
#[test]
fn middle_node_changing_master_resyncs_its_sub_replicas() {
    for bottom_kind in [Kind::Ferredis, Kind::Redis] {
        let top = node(Kind::Ferredis, &[]);
        writes(&top, 4, 200);
        let mid = replica(Kind::Ferredis, &top, &[]);
        let bottom = replica(bottom_kind, &mid, &[]);
        in_sync(&[&top, &mid, &bottom]);
        let other = node(Kind::Ferredis, &[]);
        writes(&other, 5, 300);
        let port = other.port.to_string();
        assert_eq!(
            mid.client().cmd(&["REPLICAOF", "127.0.0.1", &port]),
            b"+OK\r\n"
        );
        in_sync(&[&other, &mid, &bottom]);
        writes(&other, 6, 200);
        in_sync(&[&other, &mid, &bottom]);
        // The bottom could not continue the old history on the middle node's new one.
        assert_eq!(stat(&mid, "sync_full"), "2");
    }
}

/// PSYNC2: a replica (ferredis or real Redis) is promoted; its siblings (ferredis and real Redis)
/// follow it and continue; the old master (ferredis or real Redis), demoted without extra writes,
/// continues too.
#[test]
fn failover_siblings_and_old_master_continue_partially() {
    for (old_kind, promoted_kind) in [
        (Kind::Ferredis, Kind::Ferredis),
        (Kind::Redis, Kind::Ferredis),
        (Kind::Ferredis, Kind::Redis),
    ] {
        // No PING from the old master may slip in between the promotion and the switch.
        let m = node(old_kind, &["--repl-ping-replica-period", "3600"]);
        let a = replica(promoted_kind, &m, &[]);
        let b = replica(Kind::Ferredis, &m, &[]);
        let c = replica(Kind::Redis, &m, &[]);
        in_sync(&[&m, &a, &b, &c]);
        first_ping_sent(&m);
        writes(&m, 7, 300);
        in_sync(&[&m, &a, &b, &c]);
        let old_id = repl(&m, "master_replid");
        assert_eq!(a.client().cmd(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
        assert_eq!(repl(&a, "master_replid2"), old_id);
        let port = a.port.to_string();
        for s in [&b, &c, &m] {
            assert_eq!(
                s.client().cmd(&["REPLICAOF", "127.0.0.1", &port]),
                b"+OK\r\n"
            );
        }
        writes(&a, 8, 300);
        in_sync(&[&a, &b, &c, &m]);
        assert_eq!(stat(&a, "sync_partial_ok"), "3");
        assert_eq!(stat(&a, "sync_full"), "0");
    }
}

/// A demoted master that took writes after the promotion has a history its new master does not
/// share: it must full-sync (as Redis does), and ends with the new master's data.
#[test]
fn demoted_master_with_extra_writes_full_syncs() {
    for (old_kind, promoted_kind) in [
        (Kind::Ferredis, Kind::Ferredis),
        (Kind::Redis, Kind::Ferredis),
        (Kind::Ferredis, Kind::Redis),
    ] {
        let m = node(old_kind, &[]);
        writes(&m, 9, 200);
        let a = replica(promoted_kind, &m, &[]);
        in_sync(&[&m, &a]);
        assert_eq!(a.client().cmd(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
        // Writes only the old master has.
        assert_eq!(m.client().cmd(&["SET", "lost", "1"]), b"+OK\r\n");
        let port = a.port.to_string();
        assert_eq!(
            m.client().cmd(&["REPLICAOF", "127.0.0.1", &port]),
            b"+OK\r\n"
        );
        writes(&a, 10, 100);
        in_sync(&[&a, &m]);
        assert_eq!(stat(&a, "sync_full"), "1");
        assert_eq!(stat(&a, "sync_partial_ok"), "0");
        assert_eq!(m.client().cmd(&["EXISTS", "lost"]), b":0\r\n");
    }
}

/// SHUTDOWN SAVE of a master with replicas, then a start from its dump on the same port: the
/// replicas (ferredis and real Redis) continue with `+CONTINUE`, nothing is transferred again. The
/// dump may be written by one implementation and loaded by the other: the AUX fields agree.
#[test]
fn restarted_master_accepts_its_replicas_partially() {
    for (first, second) in [
        (Kind::Ferredis, Kind::Ferredis),
        (Kind::Ferredis, Kind::Redis),
        (Kind::Redis, Kind::Ferredis),
    ] {
        let mut m = node(first, &[]);
        let a = replica(Kind::Ferredis, &m, &[]);
        let b = replica(Kind::Redis, &m, &[]);
        in_sync(&[&m, &a, &b]);
        writes(&m, 11, 300);
        // A SAVE first (it resets the dirty counter, which is no change for the replicas; a
        // propagated SHUTDOWN would stop the real Redis replica). A real Redis refuses SAVE while
        // the fork of the replicas' sync is still exiting.
        let mut mc = m.client();
        wait_for("SAVE accepted", T, || mc.cmd(&["SAVE"]) == b"+OK\r\n");
        in_sync(&[&m, &a, &b]);
        let id = repl(&m, "master_replid");
        let (port, dir) = (m.port, m.dir.clone());
        shutdown_save(&m);
        wait_for("master exited", T, || !m.alive());
        // A real Redis sends `REPLCONF GETACK *` to its replicas as it shuts down: the saved
        // offset is where the replicas stood when their link went down.
        wait_for("link down", T, || repl(&a, "master_link_status") == "down");
        let off = repl(&a, "master_repl_offset");
        let m = restart(second, port, &dir, &[]);
        assert_eq!(repl(&m, "master_replid2"), id);
        // The replicas may already be back, with a first PING in the stream: the offset can only
        // have grown from the saved one, and the backlog starts right after it.
        assert!(n(&repl(&m, "master_repl_offset")) >= n(&off));
        assert_eq!(repl(&m, "second_repl_offset"), (n(&off) + 1).to_string());
        assert_eq!(repl(&m, "repl_backlog_active"), "1");
        assert_eq!(
            repl(&m, "repl_backlog_first_byte_offset"),
            (n(&off) + 1).to_string()
        );
        wait_for("both replicas continued", T, || {
            stat(&m, "sync_partial_ok") == "2"
        });
        writes(&m, 12, 300);
        in_sync(&[&m, &a, &b]);
        assert_eq!(stat(&m, "sync_full"), "0");
    }
}

/// A replica saves (SHUTDOWN SAVE, or a BGSAVE followed by more writes and a kill) and starts
/// again from its dump: it continues with `+CONTINUE` from the offset the dump records.
#[test]
fn restarted_replica_continues_partially() {
    for master_kind in [Kind::Ferredis, Kind::Redis] {
        let m = node(master_kind, &[]);
        writes(&m, 13, 300);
        let mut r = replica(Kind::Ferredis, &m, &[]);
        in_sync(&[&m, &r]);
        let (port, dir) = (r.port, r.dir.clone());
        let mport = m.port.to_string();
        let args = ["--replicaof", "127.0.0.1", &mport];
        shutdown_save(&r);
        wait_for("replica exited", T, || !r.alive());
        writes(&m, 14, 100);
        let mut r = restart(Kind::Ferredis, port, &dir, &args);
        wait_for("replica continued", T, || {
            stat(&m, "sync_partial_ok") == "1"
        });
        in_sync(&[&m, &r]);
        // BGSAVE, more writes, then a crash: the dump's offset is behind the master's.
        let saves = n(&info(&mut r.client(), "persistence", "rdb_saves"));
        assert_eq!(
            r.client().cmd(&["BGSAVE"]),
            b"+Background saving started\r\n"
        );
        wait_for("BGSAVE done", T, || {
            n(&info(&mut r.client(), "persistence", "rdb_saves")) > saves
        });
        writes(&m, 15, 100);
        in_sync(&[&m, &r]);
        r.kill();
        writes(&m, 16, 100);
        let r = restart(Kind::Ferredis, port, &dir, &args);
        wait_for("replica continued again", T, || {
            stat(&m, "sync_partial_ok") == "2"
        });
        in_sync(&[&m, &r]);
        assert_eq!(stat(&m, "sync_full"), "1");
    }
}

/// A middle node of a chain restarted from its dump continues from its master and serves its
/// sub-replica partially again.
#[test]
fn restarted_middle_node_continues_both_links() {
    let top = node(Kind::Ferredis, &[]);
    writes(&top, 17, 200);
    let mut mid = replica(Kind::Ferredis, &top, &[]);
    let bottom = replica(Kind::Ferredis, &mid, &[]);
    in_sync(&[&top, &mid, &bottom]);
    let (port, dir) = (mid.port, mid.dir.clone());
    let tport = top.port.to_string();
    shutdown_save(&mid);
    wait_for("middle node exited", T, || !mid.alive());
    writes(&top, 18, 100);
    let mid = restart(
        Kind::Ferredis,
        port,
        &dir,
        &["--replicaof", "127.0.0.1", &tport],
    );
    in_sync(&[&top, &mid, &bottom]);
    assert_eq!(stat(&top, "sync_full"), "1");
    assert_eq!(stat(&mid, "sync_full"), "0");
    assert_eq!(stat(&mid, "sync_partial_ok"), "1");
}

/// The middle node of a chain is promoted (REPLICAOF NO ONE): its sub-replicas (ferredis and real
/// Redis) are disconnected as the history changes, and continue under its new id.
#[test]
fn promoted_middle_node_keeps_its_sub_replicas_partially() {
    let top = node(Kind::Ferredis, &["--repl-ping-replica-period", "3600"]);
    let mid = replica(Kind::Ferredis, &top, &[]);
    let b1 = replica(Kind::Ferredis, &mid, &[]);
    let b2 = replica(Kind::Redis, &mid, &[]);
    in_sync(&[&top, &mid, &b1, &b2]);
    first_ping_sent(&top);
    writes(&top, 40, 300);
    in_sync(&[&top, &mid, &b1, &b2]);
    assert_eq!(mid.client().cmd(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    wait_for("both sub-replicas continued", T, || {
        stat(&mid, "sync_partial_ok") == "2"
    });
    writes(&mid, 41, 300);
    in_sync(&[&mid, &b1, &b2]);
    assert_eq!(stat(&mid, "sync_full"), "2");
    assert_eq!(repl(&b2, "master_replid2"), repl(&top, "master_replid"));
}
