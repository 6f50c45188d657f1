//! Replication edge cases, each run the same way against a real redis-server and ferredis and
//! compared byte for byte: blocked clients when a master becomes a replica, pauses of different
//! purposes (CLIENT PAUSE, FAILOVER, SHUTDOWN) that CLIENT UNPAUSE must not mix up, and the
//! diskless transfer counted as a background save.
//!
//! Every wait polls with a deadline.

mod common;
use common::proxy::Proxy;
use common::*;

use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn info(c: &mut RawClient, section: &str, field: &str) -> String {
    c.info_field(section, field).unwrap_or_default()
}

/// Waits until `n` clients are blocked on `s`.
fn wait_blocked(c: &mut RawClient, n: usize) {
    wait_for("clients blocked", T, || {
        info(c, "clients", "blocked_clients") == n.to_string()
    });
}

/// Whether the server closed `c` (reads EOF within the client's timeout).
fn closed(c: &mut RawClient) -> bool {
    c.set_timeout(Duration::from_secs(10));
    c.try_read_reply().is_none()
}

/// Whether `c` gets no reply within a short time (its command is held back).
fn silent(c: &mut RawClient) -> bool {
    c.set_timeout(Duration::from_millis(300));
    let r = c.try_read_reply();
    c.set_timeout(Duration::from_secs(30));
    r.is_none()
}

fn rec(out: &mut Vec<String>, what: &str, r: &[u8]) {
    out.push(format!("{what}: {}", String::from_utf8_lossy(r)));
}

fn send(c: &mut RawClient, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&RawClient::encode(&a));
}

/// A master of `kind` with clients blocked in BLPOP, BZPOPMIN (RESP3) and WAIT turns into a
/// replica; then a replica's blocked client sees REPLICAOF to the same master (nothing happens),
/// REPLICAOF NO ONE (still blocked) and REPLICAOF to another master (released). Returns the
/// replies and facts in order.
fn role_change_scenario(kind: Kind) -> Vec<String> {
    // A writable replica, so BLPOP may block on it.
    let m = Server::start(kind, &["--replica-read-only", "no"]);
    let t1 = Server::start(Kind::Redis, &[]);
    let t2 = Server::start(Kind::Redis, &[]);
    let mut out = Vec::new();
    let mut ctl = m.client();
    let mut c1 = m.client();
    let mut c2 = m.client();
    let mut c3 = m.client();
    send(&mut c1, &["BLPOP", "l", "0"]);
    c2.cmd(&["HELLO", "3"]);
    send(&mut c2, &["BZPOPMIN", "z", "0"]);
    send(&mut c3, &["WAIT", "1", "0"]);
    // Pipelined after the BLPOP: dropped with the connection.
    send(&mut c1, &["PING"]);
    wait_blocked(&mut ctl, 3);
    let p1 = t1.port.to_string();
    rec(
        &mut out,
        "replicaof",
        &ctl.cmd(&["REPLICAOF", "127.0.0.1", &p1]),
    );
    for (name, c) in [("blpop", &mut c1), ("bzpopmin", &mut c2), ("wait", &mut c3)] {
        c.set_timeout(Duration::from_secs(10));
        rec(&mut out, name, &c.try_read_reply().unwrap_or_default());
        out.push(format!("{name} closed: {}", closed(c)));
    }
    rec(
        &mut out,
        "blocked",
        info(&mut ctl, "clients", "blocked_clients").as_bytes(),
    );
    rec(
        &mut out,
        "errorstat",
        info(&mut ctl, "errorstats", "errorstat_UNBLOCKED").as_bytes(),
    );
    rec(
        &mut out,
        "total_error_replies",
        info(&mut ctl, "stats", "total_error_replies").as_bytes(),
    );
    wait_for("link up", T, || {
        info(&mut ctl, "replication", "master_link_status") == "up"
    });
    // A replica's blocked reader: the same master again changes nothing.
    let mut c4 = m.client();
    send(&mut c4, &["BLPOP", "r", "0"]);
    wait_blocked(&mut ctl, 1);
    rec(
        &mut out,
        "same master",
        &ctl.cmd(&["REPLICAOF", "127.0.0.1", &p1]),
    );
    out.push(format!("still blocked: {}", silent(&mut c4)));
    rec(&mut out, "no one", &ctl.cmd(&["REPLICAOF", "NO", "ONE"]));
    out.push(format!("still blocked: {}", silent(&mut c4)));
    // A master again, then a replica again: released.
    rec(
        &mut out,
        "replicaof again",
        &ctl.cmd(&["REPLICAOF", "127.0.0.1", &p1]),
    );
    rec(&mut out, "blpop", &c4.try_read_reply().unwrap_or_default());
    out.push(format!("closed: {}", closed(&mut c4)));
    wait_for("link up", T, || {
        info(&mut ctl, "replication", "master_link_status") == "up"
    });
    // A replica that follows another master releases its blocked clients too.
    let mut c5 = m.client();
    send(&mut c5, &["BLPOP", "r", "0"]);
    wait_blocked(&mut ctl, 1);
    let p2 = t2.port.to_string();
    rec(
        &mut out,
        "other master",
        &ctl.cmd(&["REPLICAOF", "127.0.0.1", &p2]),
    );
    rec(
        &mut out,
        "replica's blpop",
        &c5.try_read_reply().unwrap_or_default(),
    );
    out.push(format!("closed: {}", closed(&mut c5)));
    out
}

#[test]
fn role_change_disconnects_blocked_clients_like_redis() {
    let want = role_change_scenario(Kind::Redis);
    let got = role_change_scenario(Kind::Ferredis);
    assert_eq!(got, want);
}

/// A master of `kind` with one real Redis replica (that the test puts to sleep).
fn master_with_sleepy_replica(kind: Kind) -> (Server, Server) {
    let m = Server::start(kind, &[]);
    let r = Server::start(
        Kind::Redis,
        &["--replicaof", "127.0.0.1", &m.port.to_string()],
    );
    wait_online(&m, 1, T);
    (m, r)
}

/// Puts the replica to sleep for `secs` and writes a key it has not seen yet.
fn lag_replica(m: &Server, r: &Server, secs: &str) {
    let mut mc = m.client();
    assert_eq!(mc.cmd(&["SET", "before", "1"]), b"+OK\r\n");
    assert_eq!(mc.cmd(&["WAIT", "1", "0"]), b":1\r\n");
    let mut rc = r.client();
    send(&mut rc, &["DEBUG", "SLEEP", secs]);
    // The replica stops answering PINGs while it sleeps.
    let mut probe = r.client();
    probe.set_timeout(Duration::from_millis(200));
    wait_for("replica asleep", T, || {
        send(&mut probe, &["PING"]);
        let asleep = probe.try_read_reply().is_none();
        if !asleep {
            std::thread::sleep(Duration::from_millis(20));
        }
        asleep
    });
    assert_eq!(mc.cmd(&["SET", "late", "1"]), b"+OK\r\n");
}

/// FAILOVER and SHUTDOWN waiting for a lagging replica pause writes for their own purpose: CLIENT
/// UNPAUSE does not lift them, and a CLIENT PAUSE ALL on top holds reads back only until it ends.
fn pause_purposes_scenario(kind: Kind) -> Vec<String> {
    let (m, r) = master_with_sleepy_replica(kind);
    let mut out = Vec::new();
    let mut ctl = m.client();
    lag_replica(&m, &r, "8");
    let rport = r.port.to_string();
    let failover = ["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT", "60000"];
    rec(&mut out, "failover", &ctl.cmd(&failover));
    rec(&mut out, "unpause", &ctl.cmd(&["CLIENT", "UNPAUSE"]));
    let mut w1 = m.client();
    send(&mut w1, &["SET", "x", "1"]);
    wait_blocked(&mut ctl, 1);
    out.push(format!("write held: {}", silent(&mut w1)));
    rec(&mut out, "read", &ctl.cmd(&["GET", "late"]));
    // ALL on top: reads wait until it ends, writes stay held after it.
    rec(
        &mut out,
        "pause all",
        &ctl.cmd(&["CLIENT", "PAUSE", "1000", "ALL"]),
    );
    let mut r1 = m.client();
    send(&mut r1, &["GET", "late"]);
    out.push(format!("read held: {}", silent(&mut r1)));
    r1.set_timeout(T);
    rec(&mut out, "read after pause", &r1.read_reply());
    out.push(format!("write still held: {}", silent(&mut w1)));
    rec(
        &mut out,
        "state",
        info(&mut ctl, "replication", "master_failover_state").as_bytes(),
    );
    rec(&mut out, "abort", &ctl.cmd(&["FAILOVER", "ABORT"]));
    w1.set_timeout(T);
    rec(&mut out, "write after abort", &w1.read_reply());
    // SHUTDOWN waiting for the replica: the same.
    lag_replica(&m, &r, "8");
    let mut sc = m.client();
    send(&mut sc, &["SHUTDOWN", "NOSAVE"]);
    wait_blocked(&mut ctl, 1);
    rec(&mut out, "unpause", &ctl.cmd(&["CLIENT", "UNPAUSE"]));
    let mut w2 = m.client();
    send(&mut w2, &["SET", "y", "1"]);
    wait_blocked(&mut ctl, 2);
    out.push(format!("write held: {}", silent(&mut w2)));
    rec(&mut out, "read", &ctl.cmd(&["GET", "late"]));
    rec(&mut out, "shutdown abort", &ctl.cmd(&["SHUTDOWN", "ABORT"]));
    sc.set_timeout(T);
    rec(&mut out, "shutdown", &sc.read_reply());
    w2.set_timeout(T);
    rec(&mut out, "write after abort", &w2.read_reply());
    out
}

#[test]
fn client_unpause_leaves_failover_and_shutdown_pauses_like_redis() {
    let want = pause_purposes_scenario(Kind::Redis);
    let got = pause_purposes_scenario(Kind::Ferredis);
    assert_eq!(got, want);
}

/// A diskless transfer held up by a stalled link counts as a background save in progress: INFO
/// shows it, BGSAVE (with or without SCHEDULE) and SAVE are refused, and a save point reached
/// meanwhile saves only once the transfer is over.
fn diskless_scenario(kind: Kind) -> Vec<String> {
    let m = Server::start(
        kind,
        &[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "1",
            // DEBUG POPULATE's padded values would compress to almost nothing.
            "--rdbcompression",
            "no",
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut out = Vec::new();
    let mut c = m.client();
    c.set_timeout(T);
    // Far more than the stalled link holds.
    assert_eq!(
        c.cmd(&["DEBUG", "POPULATE", "100000", "key", "500"]),
        b"+OK\r\n"
    );
    rec(
        &mut out,
        "before",
        info(&mut c, "persistence", "rdb_bgsave_in_progress").as_bytes(),
    );
    let proxy = Proxy::start(m.port);
    let _r = Server::start(
        Kind::Redis,
        &["--replicaof", "127.0.0.1", &proxy.port.to_string()],
    );
    // The transfer starts a second after the replica asked for it: stall the link meanwhile.
    wait_for("replica attached", T, || {
        info(&mut c, "replication", "connected_slaves") == "1"
    });
    proxy.stall(true);
    wait_for("transfer running", T, || {
        info(&mut c, "persistence", "rdb_bgsave_in_progress") == "1"
    });
    rec(&mut out, "bgsave", &c.cmd(&["BGSAVE"]));
    rec(&mut out, "bgsave schedule", &c.cmd(&["BGSAVE", "SCHEDULE"]));
    rec(&mut out, "save", &c.cmd(&["SAVE"]));
    // A save point falls due while the transfer is held.
    rec(&mut out, "set", &c.cmd(&["SET", "k", "v"]));
    rec(
        &mut out,
        "config",
        &c.cmd(&["CONFIG", "SET", "save", "1 1"]),
    );
    wait_for("save point due", T, || {
        info(&mut c, "persistence", "rdb_current_bgsave_time_sec")
            .parse::<i64>()
            .unwrap_or(0)
            >= 3
    });
    for f in [
        "rdb_bgsave_in_progress",
        "rdb_saves",
        "rdb_last_bgsave_time_sec",
    ] {
        rec(&mut out, f, info(&mut c, "persistence", f).as_bytes());
    }
    out.push(format!("dump written: {}", m.dir.join("dump.rdb").exists()));
    proxy.stall(false);
    wait_for("replica online", T, || {
        info(&mut c, "replication", "slave0").contains("state=online")
    });
    // The save point's BGSAVE runs once the transfer is over.
    wait_for("save point saved", T, || {
        info(&mut c, "persistence", "rdb_saves") == "1"
            && info(&mut c, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    for f in ["rdb_changes_since_last_save", "rdb_last_bgsave_status"] {
        rec(&mut out, f, info(&mut c, "persistence", f).as_bytes());
    }
    out.push(format!("dump written: {}", m.dir.join("dump.rdb").exists()));
    out
}

#[test]
fn diskless_transfer_counts_as_a_bgsave_like_redis() {
    let want = diskless_scenario(Kind::Redis);
    let got = diskless_scenario(Kind::Ferredis);
    assert_eq!(got, want);
}

/// FAILOVER's demotion releases the blocked clients the same way, while a write held back by its
/// pause runs once it is a replica (and is refused as such).
fn failover_demotion_scenario(kind: Kind) -> Vec<String> {
    let (m, r) = master_with_sleepy_replica(kind);
    let mut out = Vec::new();
    let mut ctl = m.client();
    let mut b = m.client();
    send(&mut b, &["BLPOP", "l", "0"]);
    wait_blocked(&mut ctl, 1);
    lag_replica(&m, &r, "3");
    let rport = r.port.to_string();
    let failover = ["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT", "60000"];
    rec(&mut out, "failover", &ctl.cmd(&failover));
    let mut w = m.client();
    send(&mut w, &["SET", "x", "1"]);
    wait_blocked(&mut ctl, 2);
    // The replica wakes up, catches up, and the roles swap.
    b.set_timeout(T);
    rec(&mut out, "blpop", &b.try_read_reply().unwrap_or_default());
    out.push(format!("closed: {}", closed(&mut b)));
    w.set_timeout(T);
    rec(&mut out, "held write", &w.read_reply());
    wait_for("failover done", T, || {
        info(&mut ctl, "replication", "master_failover_state") == "no-failover"
    });
    rec(
        &mut out,
        "role",
        info(&mut ctl, "replication", "role").as_bytes(),
    );
    out
}

#[test]
fn failover_demotion_releases_blocked_clients_like_redis() {
    let want = failover_demotion_scenario(Kind::Redis);
    let got = failover_demotion_scenario(Kind::Ferredis);
    assert_eq!(got, want);
}

/// BGSAVE inside EXEC is only scheduled; the save runs once, after the transaction.
#[test]
fn bgsave_in_exec_is_scheduled_like_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        "MULTI
         BGSAVE
         BGSAVE SCHEDULE
         EXEC",
    );
    d.assert_clean();
    for kind in [Kind::Redis, Kind::Ferredis] {
        let s = Server::start(kind, &[]);
        let mut c = s.client();
        c.cmd(&["MULTI"]);
        c.cmd(&["BGSAVE"]);
        c.cmd(&["BGSAVE"]);
        assert_eq!(
            c.cmd(&["EXEC"]),
            b"*2\r\n+Background saving scheduled\r\n+Background saving scheduled\r\n",
            "{kind:?}"
        );
        wait_for("scheduled save done", T, || {
            info(&mut c, "persistence", "rdb_saves") == "1"
                && info(&mut c, "persistence", "rdb_bgsave_in_progress") == "0"
        });
        assert!(s.dir.join("dump.rdb").exists(), "{kind:?}");
        assert_eq!(info(&mut c, "persistence", "rdb_saves"), "1", "{kind:?}");
    }
}
