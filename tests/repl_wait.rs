//! Waiting for replicas: WAIT with no, one and two replicas (a ferredis and a real Redis 7.0
//! replica of a ferredis master), its timeout, inside MULTI, on a replica, and released by CLIENT
//! UNBLOCK; errors compared byte for byte with redis-server.
//!
//! Every wait polls with a deadline; timings are checked as lower bounds only.

mod common;
use common::*;

use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

fn master() -> Server {
    Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"])
}

fn replica_of(kind: Kind, m: &Server) -> Server {
    let port = m.port.to_string();
    Server::start(kind, &["--replicaof", "127.0.0.1", &port])
}

fn info(c: &mut RawClient, section: &str, field: &str) -> String {
    c.info_field(section, field).unwrap_or_default()
}

#[test]
fn wait_errors_and_multi_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        "WAIT 0 0
         WAIT 1 -1
         WAIT x 1
         WAIT 1 x
         WAIT 1 1.5
         WAIT 1
         WAIT 1 2 3
         SET k v
         WAIT 0 10
         WAIT -3 0
         MULTI
         SET k v2
         WAIT 5 0
         EXEC
         MULTI
         WAIT 5 -1
         EXEC",
    );
    d.assert_clean();
}

#[test]
fn wait_times_out_with_the_count() {
    let m = master();
    let mut c = m.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    let start = Instant::now();
    assert_eq!(c.cmd(&["WAIT", "1", "300"]), b":0\r\n");
    assert!(start.elapsed() >= Duration::from_millis(290));
}

#[test]
fn wait_with_ferredis_and_redis_replicas() {
    let m = master();
    let _r1 = replica_of(Kind::Ferredis, &m);
    let _r2 = replica_of(Kind::Redis, &m);
    wait_online(&m, 2, T);
    let mut c = m.client();
    // A client that never wrote waits for offset 0: every online replica counts at once.
    assert_eq!(c.cmd(&["WAIT", "2", "0"]), b":2\r\n");
    let mut took = Vec::new();
    for i in 0..50 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
        let start = Instant::now();
        assert_eq!(c.cmd(&["WAIT", "2", "0"]), b":2\r\n", "round {i}");
        took.push(start.elapsed());
    }
    // The GETACK makes both replicas answer at once, not at their next once-a-second ACK (which
    // would put the median near half a second).
    took.sort();
    assert!(
        took[took.len() / 2] < Duration::from_millis(250),
        "{took:?}"
    );
    // More than exist: the count at the deadline.
    c.cmd(&["INCR", "n"]);
    let start = Instant::now();
    assert_eq!(c.cmd(&["WAIT", "3", "400"]), b":2\r\n");
    assert!(start.elapsed() >= Duration::from_millis(390));
    // A write with nothing to wait for and a pipelined batch of WAITs.
    c.send_raw(&RawClient::encode(&[b"SET", b"a", b"1"]));
    for _ in 0..3 {
        c.send_raw(&RawClient::encode(&[b"WAIT", b"2", b"5000"]));
    }
    assert_eq!(c.read_reply(), b"+OK\r\n");
    for _ in 0..3 {
        assert_eq!(c.read_reply(), b":2\r\n");
    }
}

#[test]
fn wait_on_a_replica_is_refused_like_redis() {
    let fm = master();
    let rm = Server::start(Kind::Redis, &[]);
    let fr = replica_of(Kind::Ferredis, &fm);
    let rr = replica_of(Kind::Redis, &rm);
    let (mut fc, mut rc) = (fr.client(), rr.client());
    for args in [
        &["WAIT", "0", "0"][..],
        &["WAIT", "x", "-1"],
        &["WAIT", "1"],
    ] {
        assert_eq!(
            String::from_utf8_lossy(&fc.cmd(args)),
            String::from_utf8_lossy(&rc.cmd(args)),
            "{args:?}"
        );
    }
}

#[test]
fn client_unblock_releases_a_wait() {
    let m = master();
    let _r = replica_of(Kind::Ferredis, &m);
    wait_online(&m, 1, T);
    let mut w = m.client();
    let id = String::from_utf8_lossy(&w.cmd(&["CLIENT", "ID"]))
        .trim()
        .trim_start_matches(':')
        .to_string();
    w.cmd(&["SET", "k", "v"]);
    assert_eq!(w.cmd(&["WAIT", "1", "0"]), b":1\r\n");
    let mut ctl = m.client();
    for (how, want) in [
        (None, &b":1\r\n"[..]),
        (
            Some("ERROR"),
            b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
        ),
    ] {
        w.send_raw(&RawClient::encode(&[b"WAIT", b"5", b"0"]));
        wait_for("WAIT blocks", T, || {
            info(&mut ctl, "clients", "blocked_clients") == "1"
        });
        let mut args = vec!["CLIENT", "UNBLOCK", &id];
        args.extend(how);
        assert_eq!(ctl.cmd(&args), b":1\r\n");
        assert_eq!(w.read_reply(), want);
    }
    assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id]), b":0\r\n");
}

fn digest(c: &mut RawClient) -> String {
    c.digest()
}

fn role(c: &mut RawClient) -> String {
    info(c, "replication", "role")
}

/// The same FAILOVER errors from a ferredis master and a Redis master, each with one replica of
/// its own kind (whose port the `{r}` placeholder stands for), and from the replicas themselves.
#[test]
fn failover_errors_match_redis() {
    let fm = master();
    let rm = Server::start(Kind::Redis, &[]);
    let (mut fc, mut rc) = (fm.client(), rm.client());
    // No replica yet.
    for args in [
        &["FAILOVER"][..],
        &["FAILOVER", "ABORT"],
        &["FAILOVER", "FORCE"],
        &["FAILOVER", "TO"],
    ] {
        assert_eq!(
            String::from_utf8_lossy(&fc.cmd(args)),
            String::from_utf8_lossy(&rc.cmd(args)),
            "{args:?}"
        );
    }
    let fr = replica_of(Kind::Ferredis, &fm);
    let rr = replica_of(Kind::Redis, &rm);
    wait_online(&fm, 1, T);
    wait_online(&rm, 1, T);
    let cases = [
        "FAILOVER TO",
        "FAILOVER TO h",
        "FAILOVER TO h x",
        "FAILOVER TIMEOUT 0",
        "FAILOVER TIMEOUT -1",
        "FAILOVER TIMEOUT x",
        "FAILOVER FORCE",
        "FAILOVER FORCE TIMEOUT 10",
        "FAILOVER TO h 1 FORCE",
        "FAILOVER TO 127.0.0.1 {r} FORCE",
        "FAILOVER TO 127.0.0.1 1 TIMEOUT 5 FORCE",
        "FAILOVER TO 127.0.0.1 1",
        "FAILOVER TIMEOUT 5 TIMEOUT 6",
        "FAILOVER ABORT TIMEOUT 5",
        "FAILOVER TO 127.0.0.1 {r} ABORT",
        "FAILOVER ABORT ABORT",
        "FAILOVER FOO",
        "FAILOVER ABORT",
    ];
    for case in cases {
        let f: Vec<String> = case
            .replace("{r}", &fr.port.to_string())
            .split(' ')
            .map(String::from)
            .collect();
        let r: Vec<String> = case
            .replace("{r}", &rr.port.to_string())
            .split(' ')
            .map(String::from)
            .collect();
        let f: Vec<&str> = f.iter().map(|s| s.as_str()).collect();
        let r: Vec<&str> = r.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            String::from_utf8_lossy(&fc.cmd(&f)),
            String::from_utf8_lossy(&rc.cmd(&r)),
            "{case}"
        );
    }
    let (mut frc, mut rrc) = (fr.client(), rr.client());
    for args in [&["FAILOVER"][..], &["FAILOVER", "ABORT"]] {
        assert_eq!(
            String::from_utf8_lossy(&frc.cmd(args)),
            String::from_utf8_lossy(&rrc.cmd(args)),
            "{args:?} on a replica"
        );
    }
}

/// FAILOVER, then the roles swap: the old master follows the promoted replica with every write.
fn failover_to(kind: Kind, with_target: bool) {
    let m = master();
    let r = Server::start(
        kind,
        &[
            "--replicaof",
            "127.0.0.1",
            &m.port.to_string(),
            "--enable-debug-command",
            "yes",
        ],
    );
    wait_online(&m, 1, T);
    let (mut mc, mut rc) = (m.client(), r.client());
    for i in 0..500 {
        mc.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
        mc.cmd(&["RPUSH", "list", &i.to_string()]);
    }
    let rport = r.port.to_string();
    let reply = if with_target {
        mc.cmd(&["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT", "30000"])
    } else {
        mc.cmd(&["FAILOVER"])
    };
    assert_eq!(reply, b"+OK\r\n");
    wait_for("roles swap", T, || {
        role(&mut mc) == "slave"
            && role(&mut rc) == "master"
            && info(&mut mc, "replication", "master_link_status") == "up"
            && info(&mut mc, "replication", "master_failover_state") == "no-failover"
    });
    assert_eq!(info(&mut mc, "replication", "master_port"), rport);
    // Writes go to the new master and reach the old one.
    for i in 0..100 {
        rc.cmd(&["INCR", &format!("k{i}")]);
    }
    wait_for("old master catches up", T, || {
        let a = info(&mut rc, "replication", "master_repl_offset");
        !a.is_empty() && a == info(&mut mc, "replication", "master_repl_offset")
    });
    assert_eq!(digest(&mut mc), digest(&mut rc));
    assert_eq!(mc.cmd(&["GET", "k7"]), b"$1\r\n8\r\n");
    assert!(String::from_utf8_lossy(&mc.cmd(&["SET", "x", "1"])).starts_with("-READONLY"));
}

#[test]
fn failover_to_a_ferredis_replica() {
    failover_to(Kind::Ferredis, false);
}

#[test]
fn failover_to_a_redis_replica() {
    failover_to(Kind::Redis, true);
}

/// FAILOVER ABORT before the target caught up, and a TIMEOUT without FORCE: the master stays a
/// master and takes writes again.
#[test]
fn failover_abort_and_timeout_roll_back() {
    let m = master();
    let r = Server::start(
        Kind::Redis,
        &[
            "--replicaof",
            "127.0.0.1",
            &m.port.to_string(),
            "--enable-debug-command",
            "yes",
        ],
    );
    wait_online(&m, 1, T);
    let (mut mc, mut rc) = (m.client(), r.client());
    // ABORT in the same batch, before the cron looks at the target.
    mc.send_raw(&RawClient::encode(&[b"FAILOVER"]));
    mc.send_raw(&RawClient::encode(&[b"FAILOVER"]));
    mc.send_raw(&RawClient::encode(&[b"FAILOVER", b"ABORT"]));
    assert_eq!(mc.read_reply(), b"+OK\r\n");
    assert_eq!(mc.read_reply(), b"-ERR FAILOVER already in progress.\r\n");
    assert_eq!(mc.read_reply(), b"+OK\r\n");
    assert_eq!(
        info(&mut mc, "replication", "master_failover_state"),
        "no-failover"
    );
    assert_eq!(mc.cmd(&["SET", "a", "1"]), b"+OK\r\n");
    // The replica sleeps, so it cannot acknowledge the next write in time.
    rc.send_raw(&RawClient::encode(&[b"DEBUG", b"SLEEP", b"2"]));
    wait_for("replica asleep", T, || {
        m.client().cmd(&["SET", "b", "2"]) == b"+OK\r\n"
    });
    assert_eq!(mc.cmd(&["FAILOVER", "TIMEOUT", "300"]), b"+OK\r\n");
    assert_eq!(
        info(&mut mc, "replication", "master_failover_state"),
        "waiting-for-sync"
    );
    wait_for("failover times out", T, || {
        info(&mut mc, "replication", "master_failover_state") == "no-failover"
    });
    assert_eq!(role(&mut mc), "master");
    assert_eq!(mc.cmd(&["SET", "c", "3"]), b"+OK\r\n");
    assert!(m
        .log_text()
        .contains("aborted: Replica never caught up before timeout"));
    assert_eq!(rc.read_reply(), b"+OK\r\n");
}

/// A ferredis master with one real Redis replica that can be put to sleep.
fn master_with_sleepy_replica() -> (Server, Server) {
    let m = master();
    let r = Server::start(
        Kind::Redis,
        &[
            "--replicaof",
            "127.0.0.1",
            &m.port.to_string(),
            "--enable-debug-command",
            "yes",
        ],
    );
    wait_online(&m, 1, T);
    (m, r)
}

/// Puts the replica to sleep for `secs` and writes `n` keys the replica has not seen yet.
fn lag_replica(m: &Server, rc: &mut RawClient, secs: &str, n: usize) {
    let mut mc = m.client();
    assert_eq!(mc.cmd(&["SET", "before", "1"]), b"+OK\r\n");
    assert_eq!(mc.cmd(&["WAIT", "1", "0"]), b":1\r\n");
    rc.send_raw(&RawClient::encode(&[b"DEBUG", b"SLEEP", secs.as_bytes()]));
    // The replica stops answering PINGs while it sleeps.
    let mut probe = RawClient::connect(rc.stream.get_ref().peer_addr().unwrap().port());
    probe.set_timeout(Duration::from_millis(200));
    wait_for("replica asleep", T, || {
        probe.send_raw(&RawClient::encode(&[b"PING"]));
        let asleep = probe.try_read_reply().is_none();
        if !asleep {
            std::thread::sleep(Duration::from_millis(20));
        }
        asleep
    });
    for i in 0..n {
        mc.cmd(&["SET", &format!("late{i}"), &i.to_string()]);
    }
}

#[test]
fn shutdown_waits_for_a_lagging_replica() {
    let (mut m, r) = master_with_sleepy_replica();
    let mut rc = r.client();
    lag_replica(&m, &mut rc, "2", 300);
    let want = digest(&mut m.client());
    let mut sc = m.client();
    let start = Instant::now();
    sc.send_raw(&RawClient::encode(&[b"SHUTDOWN", b"NOSAVE"]));
    let mut probe = m.client();
    wait_for("shutdown waits", T, || {
        m.log_text()
            .contains("Waiting for replicas before shutting down.")
    });
    // Writes are paused meanwhile; reads still answer.
    assert_eq!(probe.cmd(&["GET", "late0"]), b"$1\r\n0\r\n");
    assert_eq!(sc.try_read_reply(), None, "SHUTDOWN gets no reply");
    wait_for("master exits", T, || !m.alive());
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert!(m
        .log_text()
        .contains("1 of 1 replicas are in sync when shutting down."));
    let mut rc = r.client();
    assert_eq!(digest(&mut rc), want, "the replica has every write");
}

#[test]
fn shutdown_abort_and_now() {
    let (mut m, r) = master_with_sleepy_replica();
    let mut rc = r.client();
    lag_replica(&m, &mut rc, "3", 10);
    let mut sc = m.client();
    sc.send_raw(&RawClient::encode(&[b"SHUTDOWN"]));
    let mut ctl = m.client();
    wait_for("shutdown waits", T, || {
        info(&mut ctl, "clients", "blocked_clients") == "1"
    });
    assert_eq!(ctl.cmd(&["SHUTDOWN", "ABORT"]), b"+OK\r\n");
    assert_eq!(
        sc.read_reply(),
        b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert_eq!(
        ctl.cmd(&["SHUTDOWN", "ABORT"]),
        b"-ERR No shutdown in progress.\r\n"
    );
    assert_eq!(ctl.cmd(&["SET", "after", "1"]), b"+OK\r\n");
    // NOW does not wait for the sleeping replica.
    sc.send_raw(&RawClient::encode(&[b"SHUTDOWN", b"NOW", b"NOSAVE"]));
    assert_eq!(sc.try_read_reply(), None);
    wait_for("master exits", Duration::from_secs(2), || !m.alive());
    assert!(m
        .log_text()
        .contains("0 of 1 replicas are in sync when shutting down."));
}

#[test]
fn sigterm_waits_for_a_lagging_replica() {
    let (mut m, r) = master_with_sleepy_replica();
    let mut rc = r.client();
    lag_replica(&m, &mut rc, "1", 100);
    let want = digest(&mut m.client());
    assert!(m.terminate(T).is_some());
    let log = m.log_text();
    assert!(log.contains("Waiting for replicas before shutting down."));
    assert!(log.contains("1 of 1 replicas are in sync when shutting down."));
    assert_eq!(digest(&mut r.client()), want);
}

/// TIMEOUT with FORCE: the target never caught up in time, the master fails over all the same.
#[test]
fn failover_force_after_timeout() {
    let (m, r) = master_with_sleepy_replica();
    let mut rc = r.client();
    lag_replica(&m, &mut rc, "1", 50);
    let mut mc = m.client();
    let rport = r.port.to_string();
    assert_eq!(
        mc.cmd(&[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &rport,
            "TIMEOUT",
            "200",
            "FORCE"
        ]),
        b"+OK\r\n"
    );
    wait_for("roles swap", T, || {
        role(&mut mc) == "slave"
            && info(&mut mc, "replication", "master_link_status") == "up"
            && info(&mut mc, "replication", "master_failover_state") == "no-failover"
    });
    let log = m.log_text();
    assert!(log.contains(&format!(
        "FAILOVER to 127.0.0.1:{rport} time out exceeded, failing over."
    )));
    let mut rc = r.client();
    assert_eq!(role(&mut rc), "master");
    rc.cmd(&["SET", "new", "1"]);
    wait_for("old master follows", T, || {
        mc.cmd(&["GET", "new"]) == b"$1\r\n1\r\n"
    });
    assert_eq!(digest(&mut mc), digest(&mut rc));
}

/// A real Redis master hands over to a ferredis replica, which promotes itself on PSYNC FAILOVER.
#[test]
fn redis_master_fails_over_to_ferredis() {
    let m = Server::start(Kind::Redis, &["--enable-debug-command", "yes"]);
    let r = Server::start(
        Kind::Ferredis,
        &[
            "--replicaof",
            "127.0.0.1",
            &m.port.to_string(),
            "--enable-debug-command",
            "yes",
        ],
    );
    wait_online(&m, 1, T);
    let (mut mc, mut rc) = (m.client(), r.client());
    for i in 0..300 {
        mc.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    assert_eq!(mc.cmd(&["FAILOVER"]), b"+OK\r\n");
    wait_for("roles swap", T, || {
        role(&mut mc) == "slave"
            && role(&mut rc) == "master"
            && info(&mut mc, "replication", "master_link_status") == "up"
    });
    assert!(r
        .log_text()
        .contains("MASTER MODE enabled (failover request from"));
    rc.cmd(&["SET", "new", "1"]);
    wait_for("old master follows", T, || {
        mc.cmd(&["GET", "new"]) == b"$1\r\n1\r\n"
    });
    assert_eq!(digest(&mut mc), digest(&mut rc));
    // The promotion continued the stream: no full sync was needed.
    assert_eq!(info(&mut rc, "stats", "sync_full"), "0");
}
