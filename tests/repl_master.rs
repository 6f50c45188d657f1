//! The master side of replication against real Redis 7.0 replicas: full sync (disk and diskless) of
//! every type with TTLs, the live stream of mixed writes including the rewritten commands, partial
//! resync after the link drops, one diskless snapshot shared by two replicas, `redis-cli --rdb`,
//! and a replica dropped in the middle of a transfer.
//!
//! Every wait polls with a deadline: offsets equal, then `DEBUG DIGEST` equal on both sides.

mod common;
use common::*;

use rand::{Rng, SeedableRng};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn master(args: &[&str]) -> Server {
    let mut a = vec!["--enable-debug-command", "yes"];
    a.extend_from_slice(args);
    Server::start(Kind::Ferredis, &a)
}

fn replica_of(m: &Server) -> Server {
    let port = m.port.to_string();
    Server::start(Kind::Redis, &["--replicaof", "127.0.0.1", &port])
}

fn info(c: &mut RawClient, section: &str, field: &str) -> String {
    c.info_field(section, field).unwrap_or_default()
}

/// Waits until the replica is linked and has applied everything the master wrote, then compares
/// the datasets.
fn wait_in_sync(m: &Server, r: &Server) {
    wait_replica_in_sync(m, r, T);
    let (mut mc, mut rc) = (m.client(), r.client());
    // Key and TTL counts per database agree too (avg_ttl is the master's own estimate).
    let counts = |c: &mut RawClient| -> Vec<String> {
        let text = String::from_utf8_lossy(&c.cmd(&["INFO", "keyspace"])).into_owned();
        text.lines()
            .filter(|l| l.starts_with("db"))
            .map(|l| l.split(",avg_ttl").next().unwrap_or("").to_string())
            .collect()
    };
    let want = counts(&mut mc);
    assert!(!want.is_empty());
    assert_eq!(want, counts(&mut rc));
}

/// A dataset of every type and encoding, in several databases, some keys with TTLs.
fn populate(c: &mut RawClient) {
    let far = "100000";
    for db in ["0", "5"] {
        c.cmd(&["SELECT", db]);
        c.cmd(&["SET", "str", "hello"]);
        c.cmd(&["SET", "int", "12345"]);
        c.cmd(&["SET", "ttl", "v", "EX", far]);
        c.cmd(&["RPUSH", "list", "a", "b", "c"]);
        c.cmd(&["HSET", "hash", "f1", "v1", "f2", "v2"]);
        c.cmd(&["SADD", "intset", "1", "2", "3"]);
        c.cmd(&["SADD", "set", "a", "b", "c"]);
        c.cmd(&["ZADD", "zset", "1", "a", "2.5", "b"]);
        c.cmd(&["EXPIRE", "hash", far]);
        for i in 0..300 {
            let (k, v) = (format!("m{i}"), "x".repeat(i % 70));
            c.cmd(&["RPUSH", "biglist", &v]);
            c.cmd(&["HSET", "bighash", &k, &v]);
            c.cmd(&["SADD", "bigset", &k]);
            c.cmd(&["ZADD", "bigzset", &i.to_string(), &k]);
            c.cmd(&["SET", &format!("k{i}"), &v]);
        }
        c.cmd(&["PEXPIRE", "bigzset", "90000000"]);
    }
    c.cmd(&["SELECT", "0"]);
}

/// Random writes of every family, including the commands rewritten for propagation.
fn random_writes(c: &mut RawClient, seed: u64, n: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..n {
        let k = format!("r{}", rng.gen_range(0..40));
        let v = format!("v{}", rng.gen_range(0..1000));
        let db = rng.gen_range(0..3).to_string();
        let args: Vec<String> = match rng.gen_range(0..34) {
            0 => vec!["SELECT".into(), db],
            1 => vec!["SET".into(), k, v, "EX".into(), "1000".into()],
            2 => vec![
                "SET".into(),
                k,
                v,
                "PX".into(),
                "900000".into(),
                "GET".into(),
            ],
            3 => vec!["SETEX".into(), k, "500".into(), v],
            4 => vec!["PSETEX".into(), k, "500000".into(), v],
            5 => vec!["EXPIRE".into(), k, "300".into(), "NX".into()],
            6 => vec!["PEXPIRE".into(), k, "400000".into()],
            7 => vec!["EXPIREAT".into(), k, "1".into()],
            8 => vec!["GETEX".into(), k, "EX".into(), "700".into()],
            9 => vec!["GETEX".into(), k, "PERSIST".into()],
            10 => vec!["GETEX".into(), k, "PXAT".into(), "1".into()],
            11 => vec![
                "INCRBYFLOAT".into(),
                format!("f{}", rng.gen_range(0..5)),
                "1.1".into(),
            ],
            12 => vec![
                "HINCRBYFLOAT".into(),
                "hf".into(),
                format!("f{}", rng.gen_range(0..5)),
                "0.3".into(),
            ],
            13 => vec![
                "SADD".into(),
                "s".into(),
                v.clone(),
                format!("{v}x"),
                "1".into(),
                "2".into(),
            ],
            14 => vec!["SPOP".into(), "s".into()],
            15 => vec!["SPOP".into(), "s".into(), rng.gen_range(1..4).to_string()],
            16 => vec!["RPUSH".into(), "l".into(), v.clone(), v],
            17 => vec![
                "LMPOP".into(),
                "2".into(),
                "nol".into(),
                "l".into(),
                "LEFT".into(),
                "COUNT".into(),
                "3".into(),
            ],
            18 => vec![
                "ZADD".into(),
                "z".into(),
                rng.gen_range(0..100).to_string(),
                v,
            ],
            19 => vec![
                "ZMPOP".into(),
                "1".into(),
                "z".into(),
                if rng.gen_bool(0.5) { "MIN" } else { "MAX" }.into(),
                "COUNT".into(),
                "2".into(),
            ],
            20 => vec!["GETDEL".into(), k],
            21 => vec!["GETSET".into(), k, v],
            22 => vec!["INCR".into(), format!("n{}", rng.gen_range(0..5))],
            23 => vec!["APPEND".into(), k, v],
            24 => vec!["HSET".into(), "h".into(), k, v],
            25 => vec!["DEL".into(), k],
            26 => vec![
                "SORT".into(),
                "l".into(),
                "ALPHA".into(),
                "STORE".into(),
                "sorted".into(),
            ],
            27 => vec!["MOVE".into(), k, "2".into()],
            28 if i % 50 == 0 => vec!["SWAPDB".into(), "1".into(), "2".into()],
            29 if i % 90 == 0 => vec!["FLUSHDB".into()],
            30 => vec!["PUBLISH".into(), "ch".into(), v],
            31 => vec!["SETRANGE".into(), k, "3".into(), v],
            32 => vec!["LPUSH".into(), "l".into(), v],
            _ => vec!["SET".into(), k, v],
        };
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        c.cmd(&a);
        // RESTORE with a relative TTL (propagated with ABSTTL).
        if i % 97 == 0 {
            let dump = c.cmd(&["DUMP", "hf"]);
            if let Some(start) = dump.iter().position(|&b| b == b'\n') {
                if dump.first() == Some(&b'$') && dump.len() > start + 3 {
                    let payload = &dump[start + 1..dump.len() - 2];
                    c.cmd_bytes(&[b"RESTORE", b"restored", b"600000", payload, b"REPLACE"]);
                }
            }
        }
        // A transaction of several writes.
        if i % 61 == 0 {
            c.cmd(&["MULTI"]);
            c.cmd(&["SET", "tx1", "a", "EX", "100"]);
            c.cmd(&["INCRBYFLOAT", "tx2", "2.5"]);
            c.cmd(&["SPOP", "s", "2"]);
            c.cmd(&["EXEC"]);
        }
    }
    c.cmd(&["SELECT", "0"]);
}

fn full_sync_then_stream(mode_args: &[&str]) {
    let m = master(mode_args);
    let mut mc = m.client();
    populate(&mut mc);
    let r = replica_of(&m);
    wait_in_sync(&m, &r);
    random_writes(&mut mc, 7, 1500);
    wait_in_sync(&m, &r);
    // The replica is listed with its listening port, online.
    let line = info(&mut mc, "replication", "slave0");
    assert!(
        line.contains(&format!("port={}", r.port)) && line.contains("state=online"),
        "{line}"
    );
    assert_eq!(info(&mut mc, "replication", "connected_slaves"), "1");
    assert_eq!(info(&mut mc, "stats", "sync_full"), "1");
    let out: u64 = info(&mut mc, "stats", "total_net_repl_output_bytes")
        .parse()
        .unwrap_or(0);
    assert!(out > 0);
    let list =
        String::from_utf8_lossy(&mc.cmd(&["CLIENT", "LIST", "TYPE", "replica"])).into_owned();
    assert!(list.contains("flags=S"), "{list}");
}

#[test]
fn diskless_full_sync_and_stream_to_a_real_replica() {
    full_sync_then_stream(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
}

#[test]
fn disk_full_sync_and_stream_to_a_real_replica() {
    full_sync_then_stream(&["--repl-diskless-sync", "no"]);
}

/// A replica made by `replica` syncs fully, follows a stream, loses its link
/// (`CLIENT KILL TYPE replica`) while writes go on, and continues partially from the backlog.
fn full_then_partial(m: &Server, replica: fn(&Server) -> Server, seed: u64) {
    let mut mc = m.client();
    populate(&mut mc);
    let r = replica(m);
    wait_in_sync(m, &r);
    random_writes(&mut mc, seed, 300);
    wait_in_sync(m, &r);
    mc.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
    // Writes while the replica is away are served from the backlog.
    random_writes(&mut mc, seed + 1, 200);
    wait_for("partial resync accepted", T, || {
        info(&mut mc, "stats", "sync_partial_ok") == "1"
    });
    wait_in_sync(m, &r);
    assert_eq!(info(&mut mc, "stats", "sync_full"), "1");
    assert!(m
        .log_text()
        .contains("Partial resynchronization request from"));
}

#[test]
fn partial_resync_after_the_link_drops() {
    let m = master(&["--repl-diskless-sync-delay", "0"]);
    full_then_partial(&m, replica_of, 11);
}

#[test]
fn two_replicas_share_one_diskless_snapshot() {
    let m = master(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "2",
    ]);
    let mut mc = m.client();
    populate(&mut mc);
    let r1 = replica_of(&m);
    let r2 = replica_of(&m);
    wait_in_sync(&m, &r1);
    wait_in_sync(&m, &r2);
    assert_eq!(info(&mut mc, "stats", "sync_full"), "2");
    let log = m.log_text();
    assert_eq!(
        log.matches("Starting BGSAVE for SYNC with target: replicas sockets")
            .count(),
        1,
        "{log}"
    );
    random_writes(&mut mc, 3, 300);
    wait_in_sync(&m, &r1);
    wait_in_sync(&m, &r2);
    let role = String::from_utf8_lossy(&mc.cmd(&["ROLE"])).into_owned();
    assert!(role.contains(&r1.port.to_string()) && role.contains(&r2.port.to_string()));
}

fn cli_rdb(m: &Server, tag: &str) {
    let out = m.dir.join(format!("{tag}.rdb"));
    let st = std::process::Command::new(redis_cli_bin())
        .args(["-p", &m.port.to_string(), "--rdb"])
        .arg(&out)
        .output()
        .expect("redis-cli");
    assert!(st.status.success(), "{st:?}");
    let chk = std::process::Command::new("/usr/bin/redis-check-rdb")
        .arg(&out)
        .output()
        .expect("redis-check-rdb");
    let text = String::from_utf8_lossy(&chk.stdout).into_owned();
    assert!(
        chk.status.success() && text.contains("RDB looks OK!"),
        "{text}"
    );
}

#[test]
fn redis_cli_rdb_gives_a_valid_file() {
    for mode in ["yes", "no"] {
        let m = master(&[
            "--repl-diskless-sync",
            mode,
            "--repl-diskless-sync-delay",
            "0",
        ]);
        let mut mc = m.client();
        populate(&mut mc);
        cli_rdb(&m, mode);
        wait_for("rdb-only client gone", T, || {
            info(&mut mc, "replication", "connected_slaves") == "0"
        });
    }
}

#[test]
fn a_replica_dropped_during_the_transfer_frees_the_snapshot() {
    use std::io::{Read, Write};
    let m = master(&["--repl-diskless-sync-delay", "0"]);
    let mut mc = m.client();
    mc.cmd(&["DEBUG", "POPULATE", "40000", "key", "1000"]);
    let used = |c: &mut RawClient| -> i64 { info(c, "memory", "used_memory").parse().unwrap_or(0) };
    let before = used(&mut mc);
    // A replica that asks for a diskless sync and never reads.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", m.port)).expect("connect");
    s.write_all(b"REPLCONF capa eof capa psync2\r\n")
        .expect("write");
    let mut first = [0u8; 5];
    s.read_exact(&mut first).expect("read");
    assert_eq!(&first, b"+OK\r\n");
    s.write_all(b"PSYNC ? -1\r\n").expect("write");
    wait_for("replica attached", T, || {
        info(&mut mc, "replication", "slave0").contains("state=wait_bgsave")
    });
    // Writes while the snapshot is held back keep pre-images alive.
    for i in 0..200 {
        mc.cmd(&["SET", &format!("key:{i}"), "new"]);
    }
    drop(s);
    wait_for("replica dropped", T, || {
        info(&mut mc, "replication", "connected_slaves") == "0"
    });
    wait_for("snapshot aborted", T, || {
        m.log_text()
            .contains("Diskless rdb transfer, last replica dropped")
    });
    // The transfer's chunks and the snapshot's pre-images are freed: memory is back to about
    // what the dataset takes (the backlog keeps at most its 1 MB).
    wait_for("memory back", T, || {
        used(&mut mc) < before + 4 * 1024 * 1024
    });
    // A new replica still syncs.
    let r = replica_of(&m);
    wait_in_sync(&m, &r);
}

#[test]
fn replconf_errors_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        "REPLCONF\n\
         REPLCONF a\n\
         REPLCONF foo bar\n\
         REPLCONF rdb-only 2\n\
         REPLCONF rdb-only x\n\
         REPLCONF listening-port x\n\
         REPLCONF rdb-filter-only xx\n\
         REPLCONF ip-address 1.2.3.4 capa eof capa psync2 capa zz\n\
         PSYNC ? x\n\
         COMMAND INFO psync sync replconf role\n\
         COMMAND DOCS psync sync replconf role\n",
    );
    d.assert_clean();
}

/// A hand-made replica: REPLCONF then PSYNC, reads the diskless payload to its end mark and
/// acknowledges once; returns the socket.
fn fake_replica(port: u16) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.write_all(b"REPLCONF listening-port 1 capa eof capa psync2\r\n")
        .expect("write");
    let mut ok = [0u8; 5];
    s.read_exact(&mut ok).expect("read");
    assert_eq!(&ok, b"+OK\r\n");
    s.write_all(b"PSYNC ? -1\r\n").expect("write");
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 65536];
    let mark = loop {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed during the handshake");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(i) = text.find("$EOF:") {
            if text.len() >= i + 5 + 40 {
                break got[i + 5..i + 45].to_vec();
            }
        }
    };
    // The mark opens the payload and closes it.
    while got.windows(40).filter(|w| *w == mark.as_slice()).count() < 2 {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed during the transfer");
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(&RawClient::encode(&[b"REPLCONF", b"ACK", b"0"]))
        .expect("write");
    s
}

#[test]
fn a_replica_that_stops_acknowledging_times_out() {
    let m = master(&["--repl-diskless-sync-delay", "0", "--repl-timeout", "2"]);
    let mut mc = m.client();
    mc.cmd(&["SET", "a", "1"]);
    let _s = fake_replica(m.port);
    wait_for("replica online", T, || {
        info(&mut mc, "replication", "slave0").contains("state=online")
    });
    wait_for("timed-out replica dropped", T, || {
        info(&mut mc, "replication", "connected_slaves") == "0"
    });
    assert!(m
        .log_text()
        .contains("Disconnecting timedout replica (streaming sync): 127.0.0.1:1"));
}

#[test]
fn a_replica_over_its_output_limit_is_dropped() {
    let m = master(&[
        "--repl-diskless-sync-delay",
        "0",
        "--client-output-buffer-limit",
        "replica 1mb 0 0",
    ]);
    let mut mc = m.client();
    let s = fake_replica(m.port);
    wait_for("replica online", T, || {
        info(&mut mc, "replication", "slave0").contains("state=online")
    });
    // The replica reads nothing more: the stream piles up past the hard limit.
    let big = "x".repeat(64 * 1024);
    for i in 0..400 {
        mc.cmd(&["SET", &format!("big{}", i % 10), &big]);
        if info(&mut mc, "replication", "connected_slaves") == "0" {
            break;
        }
    }
    wait_for("replica over the limit dropped", T, || {
        info(&mut mc, "replication", "connected_slaves") == "0"
    });
    assert!(m
        .log_text()
        .contains("scheduled to be closed ASAP for overcoming of output buffer limits."));
    drop(s);
}

#[test]
fn rdb_del_sync_files_removes_the_file_made_for_a_disk_sync() {
    let m = master(&["--repl-diskless-sync", "no", "--rdb-del-sync-files", "yes"]);
    let mut mc = m.client();
    populate(&mut mc);
    let r = replica_of(&m);
    wait_in_sync(&m, &r);
    wait_for("sync file removed", T, || {
        m.log_text()
            .contains("Removing the RDB file used to feed replicas in a persistence-less instance")
    });
    assert!(!m.dir.join("dump.rdb").exists());
}

#[test]
fn the_backlog_is_freed_after_repl_backlog_ttl() {
    let m = master(&["--repl-diskless-sync-delay", "0", "--repl-backlog-ttl", "1"]);
    let mut mc = m.client();
    mc.cmd(&["SET", "a", "1"]);
    let mut r = replica_of(&m);
    wait_in_sync(&m, &r);
    assert_eq!(info(&mut mc, "replication", "repl_backlog_active"), "1");
    let id = info(&mut mc, "replication", "master_replid");
    r.kill();
    wait_for("backlog freed", T, || {
        info(&mut mc, "replication", "repl_backlog_active") == "0"
    });
    assert!(m
        .log_text()
        .contains("Replication backlog freed after 1 seconds without connected replicas."));
    // A new history: the old id cannot be continued.
    assert_ne!(info(&mut mc, "replication", "master_replid"), id);
}

/// Writes keep coming while the snapshot is produced: the replica must end with exactly the
/// master's data (the snapshot and the stream after it meet at the same offset).
fn sync_under_writes(mode_args: &[&str]) {
    let m = master(mode_args);
    let mut mc = m.client();
    mc.cmd(&["DEBUG", "POPULATE", "150000", "key", "100"]);
    populate(&mut mc);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = m.port;
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut c = RawClient::connect(port);
        let mut seed = 100;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            random_writes(&mut c, seed, 50);
            // Overwrite and delete keys the snapshot may not have visited yet.
            for i in 0..50 {
                let k = format!("key:{}", (seed as usize * 577 + i * 613) % 150000);
                c.cmd(&["SET", &k, "changed"]);
                c.cmd(&[
                    "DEL",
                    &format!("key:{}", (seed as usize * 131 + i) % 150000),
                ]);
            }
            seed += 1;
        }
    });
    let r = replica_of(&m);
    let mut rc = r.client();
    wait_for("replica link up", T, || {
        info(&mut rc, "replication", "master_link_status") == "up"
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    wait_in_sync(&m, &r);
}

#[test]
fn diskless_sync_under_writes() {
    sync_under_writes(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
}

#[test]
fn disk_sync_under_writes() {
    sync_under_writes(&["--repl-diskless-sync", "no"]);
}

#[test]
fn diskless_sync_starts_once_max_replicas_are_waiting() {
    // A long delay that only repl-diskless-sync-max-replicas can cut short.
    let m = master(&[
        "--repl-diskless-sync-delay",
        "600",
        "--repl-diskless-sync-max-replicas",
        "2",
    ]);
    let mut mc = m.client();
    populate(&mut mc);
    let r1 = replica_of(&m);
    let r2 = replica_of(&m);
    wait_in_sync(&m, &r1);
    wait_in_sync(&m, &r2);
    let log = m.log_text();
    assert!(log.contains("Delay next BGSAVE for diskless SYNC"), "{log}");
    assert_eq!(
        log.matches("Starting BGSAVE for SYNC with target: replicas sockets")
            .count(),
        1
    );
}

fn ferredis_replica_of(m: &Server) -> Server {
    let port = m.port.to_string();
    Server::start(
        Kind::Ferredis,
        &[
            "--enable-debug-command",
            "yes",
            "--replicaof",
            "127.0.0.1",
            &port,
        ],
    )
}

#[test]
fn ferredis_replica_of_ferredis_full_then_partial() {
    for mode in ["yes", "no"] {
        let m = master(&[
            "--repl-diskless-sync",
            mode,
            "--repl-diskless-sync-delay",
            "0",
        ]);
        full_then_partial(&m, ferredis_replica_of, 21);
    }
}

/// Connects to `port` as a pre-PSYNC replica (`SYNC`): reads the sized payload (after any
/// keep-alive newlines) and returns the socket, the payload and what followed it.
fn old_sync(port: u16, who: &str) -> (std::net::TcpStream, Vec<u8>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.write_all(b"SYNC\r\n").expect("write");
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 65536];
    let (len, body_at) = loop {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "{who}: closed before the payload");
        got.extend_from_slice(&buf[..n]);
        let start = got.iter().position(|&b| b != b'\n').unwrap_or(got.len());
        if let Some(end) = got[start..].windows(2).position(|w| w == b"\r\n") {
            let head = String::from_utf8_lossy(&got[start..start + end]).into_owned();
            let len: usize = head
                .strip_prefix('$')
                .and_then(|l| l.parse().ok())
                .unwrap_or_else(|| panic!("{who}: not a sized payload: {head:?}"));
            break (len, start + end + 2);
        }
    };
    while got.len() < body_at + len {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "{who}: closed during the payload");
        got.extend_from_slice(&buf[..n]);
    }
    let rest = got[body_at + len..].to_vec();
    got.truncate(body_at + len);
    got.drain(..body_at);
    (s, got, rest)
}

/// Reads from `s` onto `got` until `done` says it holds what is awaited.
fn read_until(
    s: &mut std::net::TcpStream,
    got: &mut Vec<u8>,
    who: &str,
    done: impl Fn(&[u8]) -> bool,
) {
    use std::io::Read;
    let mut buf = [0u8; 65536];
    // The master's PINGs keep the socket busy, so its read timeout alone would never end a wait.
    let deadline = std::time::Instant::now() + T;
    while !done(got) {
        assert!(
            std::time::Instant::now() < deadline,
            "{who}: the stream never held what was awaited: {}",
            String::from_utf8_lossy(got)
        );
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "{who}: closed during the stream");
        got.extend_from_slice(&buf[..n]);
    }
}

/// The pre-PSYNC protocol: `SYNC` gets a sized (`$<len>`) payload even when the master syncs
/// diskless (such a replica cannot read the `$EOF:` form), no `+FULLRESYNC` line, then the write
/// stream from the snapshot on; the replica is listed online. Byte for byte as a real Redis.
#[test]
fn old_sync_protocol_gets_a_sized_payload_then_the_stream() {
    let mut seen = Vec::new();
    for kind in [Kind::Ferredis, Kind::Redis] {
        let who = format!("{kind:?}");
        let m = Server::start(kind, &["--repl-diskless-sync", "yes"]);
        let mut c = m.client();
        assert_eq!(c.cmd(&["SET", "a", "1"]), b"+OK\r\n");
        let (mut s, rdb, mut rest) = old_sync(m.port, &who);
        assert!(rdb.starts_with(b"REDIS00"), "{who}: {:?}", &rdb[..9]);
        wait_for("the SYNC replica is online", T, || {
            info(&mut c, "replication", "slave0").contains("state=online")
        });
        assert_eq!(c.cmd(&["SET", "b", "2"]), b"+OK\r\n");
        let expect = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";
        read_until(&mut s, &mut rest, &who, |g| g.len() >= expect.len());
        assert_eq!(
            String::from_utf8_lossy(&rest),
            String::from_utf8_lossy(expect),
            "{who}"
        );
        let line = info(&mut c, "replication", "slave0");
        seen.push(
            line.split(",offset=")
                .next()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(seen[0], seen[1], "INFO slave0 (up to the offset)");
}

/// With `lazyfree-lazy-expire`, `lazyfree-lazy-eviction` and `lazyfree-lazy-user-del`, expired
/// and evicted keys, an EXPIRE into the past and GETDEL reach replicas as UNLINK, as in Redis;
/// without them as DEL.
#[test]
fn lazyfree_options_propagate_expiry_and_eviction_as_unlink() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        for lazy in ["yes", "no"] {
            let who = format!("{kind:?} lazyfree {lazy}");
            let m = Server::start(
                kind,
                &[
                    "--lazyfree-lazy-expire",
                    lazy,
                    "--lazyfree-lazy-eviction",
                    lazy,
                    "--lazyfree-lazy-user-del",
                    lazy,
                    "--maxmemory-policy",
                    "allkeys-random",
                ],
            );
            let mut c = m.client();
            let (mut s, _, mut rest) = old_sync(m.port, &who);
            wait_for("the SYNC replica is online", T, || {
                info(&mut c, "replication", "slave0").contains("state=online")
            });
            assert_eq!(c.cmd(&["SET", "gone", "v", "PX", "1"]), b"+OK\r\n");
            wait_for("the key expires", T, || {
                c.cmd(&["GET", "gone"]) == b"$-1\r\n"
            });
            for k in ["past", "taken"] {
                assert_eq!(c.cmd(&["SET", k, "v"]), b"+OK\r\n");
            }
            assert_eq!(c.cmd(&["EXPIRE", "past", "-1"]), b":1\r\n");
            assert_eq!(c.cmd(&["GETDEL", "taken"]), b"$1\r\nv\r\n");
            for i in 0..100 {
                c.cmd(&["SET", &format!("k{i}"), "v"]);
            }
            assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), b"+OK\r\n");
            let oom = c.cmd(&["SET", "x", "y"]);
            assert!(
                oom.starts_with(b"-OOM"),
                "{who}: {}",
                String::from_utf8_lossy(&oom)
            );
            assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), b"+OK\r\n");
            let evicted: u64 = info(&mut c, "stats", "evicted_keys").parse().unwrap_or(0);
            assert!(evicted > 0, "{who}: nothing evicted");
            let del: &[u8] = if lazy == "yes" { b"UNLINK" } else { b"DEL" };
            let other: &[u8] = if lazy == "yes" {
                b"\r\nDEL\r\n"
            } else {
                b"UNLINK"
            };
            let count = |g: &[u8]| {
                g.windows(del.len() + 2)
                    .filter(|w| &w[2..] == del && w[..2] == *b"\r\n")
                    .count()
            };
            // gone, past and taken, then the evicted keys.
            read_until(&mut s, &mut rest, &who, |g| count(g) as u64 >= evicted + 3);
            let text = String::from_utf8_lossy(&rest).into_owned();
            for key in ["gone", "past", "taken"] {
                assert!(
                    text.contains(&format!(
                        "{}\r\n${}\r\n{key}\r\n",
                        String::from_utf8_lossy(del),
                        key.len()
                    )),
                    "{who}: {key}: {text}"
                );
            }
            assert!(
                !rest.windows(other.len()).any(|w| w == other),
                "{who}: {text}"
            );
        }
    }
}

/// A ferredis replica takes a diskless payload interleaved with the stream (`capa ferredis-mux`):
/// the writes made during its full sync leave the master as they are made, instead of waiting in
/// the master's buffer until the replica has loaded the payload. The data still ends equal.
#[test]
fn writes_during_an_interleaved_sync_leave_the_master_at_once() {
    let m = master(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--rdb-key-save-delay",
        "300",
        "--repl-backlog-size",
        "1mb",
    ]);
    let mut mc = m.client();
    // 20,000 keys at 300 µs each: the payload takes at least 6 s to produce.
    mc.cmd(&["DEBUG", "POPULATE", "20000", "key", "100"]);
    let r = ferredis_replica_of(&m);
    let mut rc = r.client();
    wait_for("the transfer under way", T, || {
        info(&mut rc, "replication", "master_sync_in_progress") == "1"
    });
    // 8 MB of writes while the payload is still being produced.
    let value = "v".repeat(8192);
    for i in 0..1000 {
        assert_eq!(mc.cmd(&["SET", &format!("new:{i}"), &value]), b"+OK\r\n");
    }
    let buffers = |mc: &mut RawClient| -> u64 {
        info(mc, "memory", "mem_total_replication_buffers")
            .parse()
            .expect("mem_total_replication_buffers")
    };
    wait_for("the writes sent on during the transfer", T, || {
        buffers(&mut mc) < 3 << 20
    });
    assert_eq!(
        info(&mut rc, "replication", "master_sync_in_progress"),
        "1",
        "the writes were meant to be made and sent during the transfer"
    );
    wait_in_sync(&m, &r);
    assert_eq!(rc.cmd(&["STRLEN", "new:999"]), b":8192\r\n");
    assert!(r
        .log_text()
        .contains("receiving streamed RDB from master, interleaved with the stream"));
}

/// A ferredis master's payload carries LFU counters (FREQ) under an LFU policy, as Redis's does,
/// and a real Redis replica applies them.
#[test]
fn lfu_counters_reach_a_real_replica() {
    let lfu = LFU_EXACT;
    let m = master(&lfu);
    let mut mc = m.client();
    hot_and_cold(&mut mc);
    assert_eq!(mc.cmd(&["OBJECT", "FREQ", "hot"]), b":105\r\n");
    let port = m.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(&lfu);
    let r = Server::start(Kind::Redis, &args);
    wait_in_sync(&m, &r);
    let mut rc = r.client();
    assert_eq!(rc.cmd(&["OBJECT", "FREQ", "hot"]), b":105\r\n");
    assert_eq!(
        rc.cmd(&["OBJECT", "FREQ", "cold"]),
        mc.cmd(&["OBJECT", "FREQ", "cold"])
    );
}
