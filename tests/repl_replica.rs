//! The replica side of replication against a real Redis 7.0 master: full sync (disk and diskless
//! payloads, disk and in-memory loads), the live stream, partial resync after a dropped link,
//! REPLICAOF NO ONE, the start-up forms (`--replicaof`, config file), a master killed during a
//! full sync, a wrong `masterauth`, `replica-serve-stale-data no`, and REPLICAOF's replies
//! compared with the real server's.
//!
//! Every wait polls a condition with a deadline; "in sync" means the replica's applied offset
//! equals the master's `master_repl_offset`, after which both `DEBUG DIGEST`s must be equal.

mod common;
use common::proxy;
use common::*;

use rand::{Rng, SeedableRng};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn info(c: &mut RawClient, field: &str) -> String {
    c.info_field("replication", field).unwrap_or_default()
}

fn digest(c: &mut RawClient) -> String {
    c.digest()
}

/// Waits until the replica's link is up and its applied offset reached the master's offset.
fn wait_synced(master: &mut RawClient, replica: &mut RawClient) {
    wait_for("replica caught up with the master", LONG, || {
        let want = info(master, "master_repl_offset");
        info(replica, "master_link_status") == "up"
            && info(replica, "slave_repl_offset") == want
            && info(replica, "master_repl_offset") == want
    });
}

fn assert_same_data(master: &mut RawClient, replica: &mut RawClient) {
    wait_synced(master, replica);
    let (m, r) = (digest(master), digest(replica));
    assert!(m.starts_with('+') && m.len() > 10, "master digest {m:?}");
    assert_eq!(m, r, "DEBUG DIGEST differs between master and replica");
}

/// A dataset of every type ferredis holds, in several databases, some keys with TTLs, both
/// compact and large encodings.
fn fill_dataset(m: &mut RawClient) {
    let big = "x".repeat(100_000);
    let script: Vec<Vec<String>> = vec![
        vec!["SET", "s:int", "12345"],
        vec!["SET", "s:raw", "hello world"],
        vec!["SET", "s:big", &big],
        vec!["SET", "s:ttl", "v", "EX", "5000"],
        vec!["RPUSH", "l:small", "a", "b", "1", "2"],
        vec!["HSET", "h:small", "f1", "v1", "f2", "2"],
        vec!["SADD", "set:int", "1", "2", "3", "99"],
        vec!["SADD", "set:str", "a", "b", "c"],
        vec!["ZADD", "z:small", "1", "a", "2.5", "b", "-3", "c"],
        vec!["PEXPIRE", "h:small", "9000000"],
        vec!["SELECT", "3"],
        vec!["SET", "db3:key", "in db 3"],
        vec!["EXPIRE", "db3:key", "7000"],
        vec!["SELECT", "0"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect();
    for cmd in &script {
        let a: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        let r = m.cmd(&a);
        assert!(
            !r.starts_with(b"-"),
            "{a:?}: {}",
            String::from_utf8_lossy(&r)
        );
    }
    // Large encodings: long list, hashtable hash, big set and zset.
    for i in 0..300 {
        let (i, v) = (i.to_string(), format!("value-{i}"));
        m.cmd(&["RPUSH", "l:big", &v]);
        m.cmd(&["HSET", "h:big", &i, &v]);
        m.cmd(&["SADD", "set:big", &v]);
        m.cmd(&["ZADD", "z:big", &i, &v]);
    }
    m.cmd(&["EXPIRE", "z:big", "8000"]);
    m.cmd(&["DEBUG", "POPULATE", "500", "pop"]);
}

/// Random mixed writes, in several databases, some inside MULTI/EXEC (a pipelined burst).
fn random_writes(m: &mut RawClient, n: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut count = 0;
    for _ in 0..n {
        let k = format!("k{}", rng.gen_range(0..50));
        let v = format!("v{}", rng.gen_range(0..1000));
        let n = rng.gen_range(1..100).to_string();
        let cmd: Vec<String> = match rng.gen_range(0..18) {
            0 => vec!["SET".into(), k, v],
            1 => vec!["SET".into(), k, v, "EX".into(), "5000".into()],
            2 => vec!["INCRBY".into(), format!("n{}", n), n],
            3 => vec!["APPEND".into(), format!("a{}", n), v],
            4 => vec!["DEL".into(), k],
            5 => vec!["LPUSH".into(), format!("list{}", n.len()), v],
            6 => vec!["RPOP".into(), format!("list{}", n.len())],
            7 => vec!["HSET".into(), format!("hash{}", n.len()), k, v],
            8 => vec!["HINCRBY".into(), "hcount".into(), k, n],
            9 => vec!["SADD".into(), format!("set{}", n.len()), v],
            10 => vec!["SREM".into(), format!("set{}", n.len()), v],
            11 => vec!["ZADD".into(), "zs".into(), n, v],
            12 => vec!["ZINCRBY".into(), "zs".into(), "1.5".into(), v],
            13 => vec!["EXPIRE".into(), k, "4000".into()],
            14 => vec!["PERSIST".into(), k],
            15 => vec!["SELECT".into(), rng.gen_range(0..4).to_string()],
            16 => vec!["INCRBYFLOAT".into(), "float".into(), "0.25".into()],
            _ => {
                // A transaction: the replica applies it as one unit.
                out.extend(RawClient::encode(&[b"MULTI"]));
                out.extend(RawClient::encode(&[b"INCR", b"tx:counter"]));
                out.extend(RawClient::encode(&[b"LPUSH", b"tx:list", v.as_bytes()]));
                count += 3;
                vec!["EXEC".into()]
            }
        };
        let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        out.extend(RawClient::encode(&a));
        count += 1;
    }
    out.extend(RawClient::encode(&[b"SELECT", b"0"]));
    count += 1;
    m.send_raw(&out);
    for _ in 0..count {
        m.read_reply();
    }
}

/// Starts a real redis-server on a given port (a master coming back where the old one was).
fn start_redis_on(port: u16, args: &[&str]) -> Server {
    let dir = scratch_dir("redis-again");
    let log = dir.join("server.log");
    let port_s = port.to_string();
    let child = std::process::Command::new(redis_bin())
        .args(["--port", &port_s, "--bind", "127.0.0.1", "--save", ""])
        .args(["--daemonize", "no", "--enable-debug-command", "yes"])
        .args([
            "--dir",
            dir.to_str().expect("utf-8"),
            "--logfile",
            "server.log",
        ])
        .args(args)
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let s = Server {
        kind: Kind::Redis,
        port,
        child: Some(child),
        dir,
        log,
    };
    wait_for("restarted master answers", LONG, || {
        RawClient::try_connect(port)
            .map(|mut c| c.cmd(&["PING"]) == b"+PONG\r\n")
            .unwrap_or(false)
    });
    s
}

fn ferredis(args: &[&str]) -> Server {
    Server::start(
        Kind::Ferredis,
        &[&["--enable-debug-command", "yes"], args].concat(),
    )
}

/// A cut transfer's temp file is gone.
fn assert_no_temp_files(replica: &Server) {
    let leftovers: Vec<_> = std::fs::read_dir(&replica.dir)
        .expect("replica dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Waits until a transfer is in progress and more than `bytes` of it arrived.
fn wait_transfer_read(r: &mut RawClient, bytes: i64) {
    wait_for("transfer under way", LONG, || {
        info(r, "master_sync_in_progress") == "1"
            && info(r, "master_sync_read_bytes")
                .parse::<i64>()
                .unwrap_or(0)
                > bytes
    });
}

fn log_has(s: &Server, text: &str) -> bool {
    s.log_text().contains(text)
}

#[test]
fn full_sync_from_disk_then_stream_partial_resync_and_promotion() {
    let master = Server::start(Kind::Redis, &["--repl-diskless-sync", "no"]);
    let mut m = master.client();
    fill_dataset(&mut m);
    let replica = ferredis(&[]);
    let mut r = replica.client();
    // Data of its own, which a runtime REPLICAOF discards.
    assert_eq!(r.cmd(&["SET", "mine", "1"]), b"+OK\r\n");
    assert_eq!(r.cmd(&["SELECT", "5"]), b"+OK\r\n");
    assert_eq!(r.cmd(&["SET", "mine5", "1"]), b"+OK\r\n");
    assert_eq!(r.cmd(&["SELECT", "0"]), b"+OK\r\n");
    let port = master.port.to_string();
    assert_eq!(r.cmd(&["SLAVEOF", "127.0.0.1", &port]), b"+OK\r\n");
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port]),
        b"+OK Already connected to specified master\r\n"
    );
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.cmd(&["EXISTS", "mine"]), b":0\r\n");
    assert_eq!(info(&mut r, "role"), "slave");
    assert_eq!(info(&mut r, "master_replid"), info(&mut m, "master_replid"));
    let log = replica.log_text();
    for line in [
        "Connecting to MASTER 127.0.0.1:",
        "MASTER <-> REPLICA sync started",
        "Master replied to PING, replication can continue...",
        "Full resync from master: ",
        "MASTER <-> REPLICA sync: receiving ",
        " bytes from master to disk",
        "MASTER <-> REPLICA sync: Finished with success",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }

    // The live stream, with transactions and database switches.
    random_writes(&mut m, 3000, 7);
    assert_same_data(&mut m, &mut r);
    // Reads work on the replica; writes do not.
    assert_eq!(r.cmd(&["GET", "s:raw"]), b"$11\r\nhello world\r\n");
    assert_eq!(
        r.cmd(&["SET", "x", "1"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    let role = r.cmd(&["ROLE"]);
    let role_s = String::from_utf8_lossy(&role).into_owned();
    assert!(
        role_s.starts_with(&format!(
            "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:{port}\r\n$9\r\nconnected\r\n:"
        )),
        "{role_s:?}"
    );
    let list = String::from_utf8_lossy(&r.cmd(&["CLIENT", "LIST", "TYPE", "master"])).into_owned();
    assert!(list.contains("flags=M"), "{list}");

    // A dropped link continues partially.
    let full_before = m.info_field("stats", "sync_full").unwrap_or_default();
    let partial_before: u64 = m
        .info_field("stats", "sync_partial_ok")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(r.cmd(&["CLIENT", "KILL", "TYPE", "master"]), b":1\r\n");
    random_writes(&mut m, 500, 8);
    assert_same_data(&mut m, &mut r);
    let partial_after: u64 = m
        .info_field("stats", "sync_partial_ok")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(partial_after, partial_before + 1, "no partial resync");
    assert_eq!(
        m.info_field("stats", "sync_full").unwrap_or_default(),
        full_before
    );
    assert!(log_has(
        &replica,
        "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization."
    ));
    assert!(log_has(
        &replica,
        "Successful partial resynchronization with master."
    ));

    // REPLICAOF NO ONE keeps the data, shifts the id and accepts writes.
    let old_id = info(&mut r, "master_replid");
    let offset: u64 = info(&mut r, "master_repl_offset").parse().expect("offset");
    let before = digest(&mut r);
    assert_eq!(r.cmd(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    assert_eq!(r.cmd(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    assert_eq!(digest(&mut r), before);
    assert_eq!(info(&mut r, "role"), "master");
    assert_eq!(info(&mut r, "master_replid2"), old_id);
    assert_ne!(info(&mut r, "master_replid"), old_id);
    assert_eq!(info(&mut r, "second_repl_offset"), (offset + 1).to_string());
    assert_eq!(info(&mut r, "repl_backlog_active"), "1");
    assert_eq!(r.cmd(&["SET", "x", "1"]), b"+OK\r\n");
    assert!(log_has(
        &replica,
        "MASTER MODE enabled (user request from 'id="
    ));
}

#[test]
fn diskless_payload_with_flag_and_config_file_replicas() {
    let master = Server::start(
        Kind::Redis,
        &[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    let mut m = master.client();
    fill_dataset(&mut m);
    let port = master.port.to_string();
    // `--replicaof host port`, loading through a file.
    let a = ferredis(&["--replicaof", "127.0.0.1", &port]);
    // `replicaof` in the config file, loading from the socket into a new keyspace.
    let conf = scratch_dir("replica-conf").join("replica.conf");
    std::fs::write(
        &conf,
        format!("replicaof 127.0.0.1 {port}\nrepl-diskless-load swapdb\n"),
    )
    .expect("write config");
    let b = Server::start_with(
        Kind::Ferredis,
        Some(&conf),
        &["--enable-debug-command", "yes"],
    );
    let (mut ra, mut rb) = (a.client(), b.client());
    assert_same_data(&mut m, &mut ra);
    assert_same_data(&mut m, &mut rb);
    random_writes(&mut m, 1500, 11);
    assert_same_data(&mut m, &mut ra);
    assert_same_data(&mut m, &mut rb);
    assert!(log_has(
        &a,
        "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk"
    ));
    assert!(log_has(
        &a,
        "Partial resynchronization not possible (no cached master)"
    ));
    assert!(log_has(
        &b,
        "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to parser"
    ));
    assert!(log_has(
        &b,
        "MASTER <-> REPLICA sync: Swapping active DB with loaded DB"
    ));
    assert_eq!(
        String::from_utf8_lossy(&ra.cmd(&["CONFIG", "GET", "replicaof"])),
        format!(
            "*2\r\n$9\r\nreplicaof\r\n${}\r\n127.0.0.1 {port}\r\n",
            port.len() + 10
        )
    );
}

/// Kills a master and the child it forked for a sync (its pid is in the master's log).
fn kill_master_and_child(master: &mut Server) {
    let log = master.log_text();
    let child = log
        .lines()
        .rev()
        .filter_map(|l| l.split("started by pid ").nth(1))
        .find_map(|p| p.trim().parse::<i32>().ok());
    master.kill();
    if let Some(pid) = child {
        // SAFETY: signals the sync child forked by the redis-server this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[test]
fn master_killed_during_full_sync_keeps_old_data_then_reconnects() {
    // A slow snapshot (delay per key), streamed to the replica as it is written.
    let mut master = Server::start(
        Kind::Redis,
        &[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            "--rdb-key-save-delay",
            "500",
        ],
    );
    let mut m = master.client();
    assert_eq!(m.cmd(&["DEBUG", "POPULATE", "20000"]), b"+OK\r\n");
    let replica = ferredis(&[]);
    let mut r = replica.client();
    for i in 0..100 {
        r.cmd(&["SET", &format!("old{i}"), "kept"]);
    }
    let before = digest(&mut r);
    let port = master.port;
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]),
        b"+OK\r\n"
    );
    wait_transfer_read(&mut r, 0);
    assert_eq!(info(&mut r, "master_sync_total_bytes"), "0");
    drop(m);
    kill_master_and_child(&mut master);
    wait_for("the cut transfer noticed", LONG, || {
        info(&mut r, "master_sync_in_progress") == "0"
    });
    assert_eq!(digest(&mut r), before, "the old dataset must stay");
    assert_eq!(r.cmd(&["GET", "old7"]), b"$4\r\nkept\r\n");
    assert_eq!(info(&mut r, "master_link_status"), "down");
    assert!(log_has(&replica, "I/O error trying to sync with MASTER"));
    assert_no_temp_files(&replica);
    // Retried about once a second while nobody listens.
    wait_for("reconnect attempts logged", LONG, || {
        replica
            .log_text()
            .matches("Error condition on socket for SYNC: Connection refused")
            .count()
            >= 2
    });
    // A master comes back on that port: the replica syncs with it.
    let again = start_redis_on(port, &["--repl-diskless-sync", "no"]);
    let mut m2 = again.client();
    m2.cmd(&["SET", "fresh", "1"]);
    assert_same_data(&mut m2, &mut r);
    assert_eq!(r.cmd(&["EXISTS", "old7"]), b":0\r\n");
}

#[test]
fn wrong_masterauth_keeps_the_link_down() {
    let master = Server::start(Kind::Redis, &["--requirepass", "secret"]);
    let mut m = master.client();
    assert_eq!(m.cmd(&["AUTH", "secret"]), b"+OK\r\n");
    m.cmd(&["SET", "k", "v"]);
    let port = master.port.to_string();
    let replica = ferredis(&["--replicaof", "127.0.0.1", &port, "--masterauth", "wrong"]);
    wait_for("AUTH refusals logged twice", LONG, || {
        replica
            .log_text()
            .matches("Unable to AUTH to MASTER: -WRONGPASS invalid username-password pair or user is disabled.")
            .count()
            >= 2
    });
    let mut r = replica.client();
    assert_eq!(info(&mut r, "master_link_status"), "down");
    assert_eq!(r.cmd(&["EXISTS", "k"]), b":0\r\n");
    // With the right password it comes up.
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "masterauth", "secret"]),
        b"+OK\r\n"
    );
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
}

#[test]
fn replicaof_replies_and_stale_data_match_redis() {
    let dead = free_port().to_string();
    let mut d = Diff::new(&[]);
    d.script(
        "REPLICAOF
        REPLICAOF 127.0.0.1
        REPLICAOF 127.0.0.1 abc
        REPLICAOF 127.0.0.1 -1
        REPLICAOF 127.0.0.1 70000
        REPLICAOF no two
        SLAVEOF NO ONE
        CONFIG GET replicaof
        CONFIG SET replicaof \"127.0.0.1 1\"
        COMMAND INFO replicaof slaveof
        COMMAND DOCS replicaof slaveof
        SET k v",
    );
    d.run(&["REPLICAOF", "127.0.0.1", &dead]);
    d.run(&["SLAVEOF", "127.0.0.1", &dead]);
    d.script(
        "CONFIG GET replicaof
        CONFIG GET slaveof
        GET k
        SET k v2
        CONFIG SET replica-serve-stale-data no
        GET k
        PING
        SET k v3
        INFO keyspace
        MULTI
        GET k
        EXEC
        MULTI
        INFO keyspace
        EXEC
        CONFIG SET replica-serve-stale-data yes
        CONFIG SET replica-read-only no
        SET k v4
        GET k
        CONFIG SET replica-read-only yes
        REPLICAOF NO ONE
        CONFIG GET replicaof
        GET k",
    );
    d.assert_clean();
}

#[test]
fn replica_info_fields_while_down_match_redis() {
    let dead = free_port().to_string();
    let args = ["--replicaof", "127.0.0.1", &dead];
    let redis = Server::start(Kind::Redis, &args);
    let fer = ferredis(&args);
    let (mut rc, mut fc) = (redis.client(), fer.client());
    // Both have tried at least once.
    for (s, c) in [(&redis, &mut rc), (&fer, &mut fc)] {
        wait_for("a connection attempt", LONG, || {
            s.log_text().contains("Error condition on socket for SYNC")
                && info(c, "master_link_status") == "down"
        });
    }
    let norm = |c: &mut RawClient| {
        parse_bulk(&c.cmd(&["INFO", "replication"]))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("master_replid:"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(norm(&mut fc), norm(&mut rc));
    let role = fc.cmd(&["ROLE"]);
    let s = String::from_utf8_lossy(&role).into_owned();
    assert!(
        s.ends_with(":-1\r\n") && s.starts_with("*5\r\n$5\r\nslave\r\n"),
        "{s:?}"
    );
}

#[test]
fn wait_is_acknowledged_and_a_silent_link_times_out_then_continues() {
    // Pings every second keep the link busy enough for a 2 s repl-timeout until the stall.
    let master = Server::start(
        Kind::Redis,
        &[
            "--repl-diskless-sync",
            "no",
            "--repl-ping-replica-period",
            "1",
        ],
    );
    let mut m = master.client();
    fill_dataset(&mut m);
    let proxy = proxy::Proxy::start(master.port);
    let replica = ferredis(&["--repl-timeout", "2"]);
    let mut r = replica.client();
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &proxy.port.to_string()]),
        b"+OK\r\n"
    );
    assert_same_data(&mut m, &mut r);
    // WAIT makes the master send REPLCONF GETACK: the replica answers with its offset.
    random_writes(&mut m, 200, 3);
    assert_eq!(m.cmd(&["WAIT", "1", "20000"]), b":1\r\n");
    // No byte (not even the master's PINGs) for longer than repl-timeout: the link is dropped.
    proxy.stall(true);
    wait_for("the replica gives up on the silent master", LONG, || {
        log_has(&replica, "MASTER timeout: no data nor PING received...")
    });
    random_writes(&mut m, 200, 4);
    proxy.stall(false);
    assert_same_data(&mut m, &mut r);
    assert!(log_has(
        &replica,
        "Successful partial resynchronization with master."
    ));
    assert_eq!(
        m.info_field("stats", "sync_full").unwrap_or_default(),
        "1",
        "the reconnection must not need a full sync"
    );
}

#[test]
fn a_full_sync_signals_watched_keys() {
    let master = Server::start(Kind::Redis, &[]);
    let mut m = master.client();
    m.cmd(&["SET", "k", "from-master"]);
    let replica = ferredis(&[]);
    let mut r = replica.client();
    let mut watcher = replica.client();
    r.cmd(&["SET", "k", "mine"]);
    assert_eq!(watcher.cmd(&["WATCH", "k"]), b"+OK\r\n");
    // A host name, resolved by the link task.
    assert_eq!(
        r.cmd(&["REPLICAOF", "localhost", &master.port.to_string()]),
        b"+OK\r\n"
    );
    assert_same_data(&mut m, &mut r);
    assert_eq!(watcher.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(watcher.cmd(&["GET", "k"]), b"+QUEUED\r\n");
    assert_eq!(watcher.cmd(&["EXEC"]), b"*-1\r\n");
}

#[test]
fn psync2_continues_from_a_promoted_replica_under_its_new_id() {
    // M → (real replica P, ferredis replica F); then P is promoted and F follows P. No PING from
    // M may land between P's promotion and F's last read, or F would be ahead of P.
    let master = Server::start(
        Kind::Redis,
        &[
            "--repl-diskless-sync",
            "no",
            "--repl-ping-replica-period",
            "3600",
        ],
    );
    let mut m = master.client();
    fill_dataset(&mut m);
    let mport = master.port.to_string();
    let promoted = Server::start(Kind::Redis, &["--replicaof", "127.0.0.1", &mport]);
    let mut p = promoted.client();
    let replica = ferredis(&["--slaveof", "127.0.0.1", &mport]);
    let mut f = replica.client();
    random_writes(&mut m, 300, 21);
    assert_same_data(&mut m, &mut p);
    assert_same_data(&mut m, &mut f);
    let old_id = info(&mut m, "master_replid");
    assert_eq!(p.cmd(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    let new_id = info(&mut p, "master_replid");
    assert_ne!(new_id, old_id);
    assert_eq!(
        f.cmd(&["REPLICAOF", "127.0.0.1", &promoted.port.to_string()]),
        b"+OK\r\n"
    );
    random_writes(&mut p, 300, 22);
    assert_same_data(&mut p, &mut f);
    assert_eq!(info(&mut f, "master_replid"), new_id);
    assert_eq!(info(&mut f, "master_replid2"), old_id);
    assert_eq!(
        p.info_field("stats", "sync_partial_ok").unwrap_or_default(),
        "1"
    );
    assert!(log_has(
        &replica,
        &format!("Master replication ID changed to {new_id}")
    ));
}

#[test]
fn a_restarted_replica_continues_from_the_history_its_dump_records() {
    let master = Server::start(Kind::Redis, &["--repl-diskless-sync", "no"]);
    let mut m = master.client();
    fill_dataset(&mut m);
    let port = master.port.to_string();
    let mut first = ferredis(&["--replicaof", "127.0.0.1", &port]);
    let mut r = first.client();
    random_writes(&mut m, 300, 31);
    assert_same_data(&mut m, &mut r);
    drop(r);
    // The dump file is the master's snapshot (with its repl-id and repl-offset); no save at exit.
    let dir = first.dir.clone();
    first.terminate(Duration::from_secs(20));
    random_writes(&mut m, 300, 32);
    let dir_s = dir.to_str().expect("utf-8").to_string();
    let again = ferredis(&["--replicaof", "127.0.0.1", &port, "--dir", &dir_s]);
    let mut r = again.client();
    assert_same_data(&mut m, &mut r);
    assert_eq!(
        m.info_field("stats", "sync_partial_ok").unwrap_or_default(),
        "1"
    );
    assert_eq!(m.info_field("stats", "sync_full").unwrap_or_default(), "1");
    // With `--dir` the log file (a relative name) is written in that directory.
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(
        log.contains("Trying a partial resynchronization (request ")
            && log
                .contains("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization."),
        "{log}"
    );
}

#[test]
fn client_pause_holds_the_masters_writes_back() {
    let master = Server::start(Kind::Redis, &[]);
    let mut m = master.client();
    let replica = ferredis(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut r = replica.client();
    m.cmd(&["SET", "before", "1"]);
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]), b"+OK\r\n");
    m.cmd(&["SET", "during", "1"]);
    let target = info(&mut m, "master_repl_offset");
    wait_for("the write read but not applied", LONG, || {
        info(&mut r, "slave_read_repl_offset") == target
    });
    assert_ne!(info(&mut r, "slave_repl_offset"), target);
    assert_eq!(r.cmd(&["EXISTS", "during"]), b":0\r\n");
    assert_eq!(r.cmd(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.cmd(&["EXISTS", "during"]), b":1\r\n");
}

/// A transfer cut in the middle, while the replica decodes it as it arrives: the half-loaded
/// snapshot is dropped and the old dataset keeps serving; a later sync loads the whole one.
fn cut_transfer_keeps_old_data(load_mode: &str) {
    let master = Server::start(
        Kind::Redis,
        &[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            "--rdb-key-save-delay",
            "200",
        ],
    );
    let mut m = master.client();
    assert_eq!(
        m.cmd(&["DEBUG", "POPULATE", "20000", "k", "64"]),
        b"+OK\r\n"
    );
    fill_dataset(&mut m);
    let proxy = proxy::Proxy::start(master.port);
    let replica = ferredis(&["--repl-diskless-load", load_mode]);
    let mut r = replica.client();
    for i in 0..100 {
        r.cmd(&["SET", &format!("old{i}"), "kept"]);
    }
    let before = digest(&mut r);
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &proxy.port.to_string()]),
        b"+OK\r\n"
    );
    wait_transfer_read(&mut r, 100_000);
    proxy.refuse(true);
    proxy.cut();
    wait_for("the cut transfer noticed", LONG, || {
        info(&mut r, "master_sync_in_progress") == "0"
    });
    assert_eq!(digest(&mut r), before, "the old dataset must stay");
    assert_eq!(r.cmd(&["GET", "old7"]), b"$4\r\nkept\r\n");
    assert_eq!(r.cmd(&["EXISTS", "k:1"]), b":0\r\n");
    assert_no_temp_files(&replica);
    // The master is reachable again and quick: the next sync loads everything.
    m.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    m.cmd(&["SET", "fresh", "1"]);
    proxy.refuse(false);
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.cmd(&["EXISTS", "old7"]), b":0\r\n");
    assert_eq!(r.cmd(&["GET", "fresh"]), b"$1\r\n1\r\n");
}

#[test]
fn a_transfer_cut_midway_keeps_the_old_dataset_loading_through_disk() {
    cut_transfer_keeps_old_data("disabled");
}

#[test]
fn a_transfer_cut_midway_keeps_the_old_dataset_loading_from_the_socket() {
    cut_transfer_keeps_old_data("swapdb");
}

/// The payload's key records carry each key's LFU counter (FREQ) under an LFU policy and its idle
/// time (IDLE) under an LRU policy; a ferredis replica applies them as a Redis replica does.
#[test]
fn lfu_counters_and_idle_times_come_with_the_payload() {
    let lfu = LFU_EXACT;
    let master = Server::start(Kind::Redis, &lfu);
    let mut m = master.client();
    hot_and_cold(&mut m);
    let replica = ferredis(&lfu);
    let mut r = replica.client();
    r.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.cmd(&["OBJECT", "FREQ", "hot"]), b":105\r\n");
    assert_eq!(
        r.cmd(&["OBJECT", "FREQ", "cold"]),
        m.cmd(&["OBJECT", "FREQ", "cold"])
    );

    let lru = ["--maxmemory-policy", "allkeys-lru"];
    let master = Server::start(Kind::Redis, &lru);
    let mut m = master.client();
    m.cmd(&["SET", "old", "v"]);
    let idle = |c: &mut RawClient| -> u64 {
        let r = c.cmd(&["OBJECT", "IDLETIME", "old"]);
        String::from_utf8_lossy(&r[1..r.len() - 2])
            .parse()
            .unwrap_or_else(|_| panic!("OBJECT IDLETIME: {r:?}"))
    };
    wait_for("the key idle for 2 s on the master", LONG, || {
        idle(&mut m) >= 2
    });
    let replica = ferredis(&lru);
    let mut r = replica.client();
    r.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    assert_same_data(&mut m, &mut r);
    assert!(idle(&mut r) >= 2, "the idle time is kept: {}", idle(&mut r));
}
