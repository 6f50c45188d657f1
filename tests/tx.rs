//! Transactions: MULTI/EXEC/DISCARD/WATCH/UNWATCH compared byte for byte with the real redis-server
//! (queueing errors, EXECABORT, runtime errors inside EXEC, WATCH broken by other clients' writes,
//! flushes, SWAPDB and expiry), RESP3, CLIENT LIST/MONITOR/commandstats views, and the `redis`
//! crate's atomic pipelines.

mod common;
use common::*;

use std::time::{Duration, Instant};

fn args(line: &str) -> Vec<Vec<u8>> {
    split_line(line)
}

fn send(c: &mut RawClient, line: &str) -> Vec<u8> {
    let a = args(line);
    let refs: Vec<&[u8]> = a.iter().map(|x| x.as_slice()).collect();
    c.cmd_bytes(&refs)
}

/// Runs `scenario` once against each server (given its port) and compares the transcripts;
/// returns ferredis's.
fn on_both(
    d: &Diff,
    name: &str,
    scenario: impl Fn(u16) -> Vec<(String, Vec<u8>)>,
) -> Vec<(String, Vec<u8>)> {
    let want = scenario(d.redis.port);
    let got = scenario(d.ferredis.port);
    assert_eq!(
        want.len(),
        got.len(),
        "{name}: transcripts differ in length"
    );
    let mut diffs = Vec::new();
    for ((cmd, w), (_, g)) in want.iter().zip(&got) {
        if w != g {
            diffs.push(format!(
                "{cmd}\n   redis:    {:?}\n   ferredis: {:?}",
                String::from_utf8_lossy(w),
                String::from_utf8_lossy(g)
            ));
        }
    }
    assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n"));
    got
}

/// The reply to the last `cmd` of a transcript.
fn last_reply<'a>(t: &'a [(String, Vec<u8>)], cmd: &str) -> &'a [u8] {
    t.iter()
        .rev()
        .find(|(c, _)| c == cmd)
        .map(|(_, r)| r.as_slice())
        .unwrap_or(b"")
}

/// Two connections to one server; each step is `(connection, command line)`.
fn two_clients(port: u16, steps: &[(usize, &str)]) -> Vec<(String, Vec<u8>)> {
    let mut c = [RawClient::connect(port), RawClient::connect(port)];
    send(&mut c[0], "FLUSHALL");
    steps
        .iter()
        .map(|(i, line)| {
            let mut r = send(&mut c[*i], line);
            // HELLO's reply carries the connection id, which differs: keep its type only.
            if line.to_ascii_uppercase().starts_with("HELLO") {
                r.truncate(1);
            }
            (format!("[{i}] {line}"), r)
        })
        .collect()
}

#[test]
fn queueing_errors_and_execabort() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        EXEC
        DISCARD
        MULTI
        MULTI
        SET a 1
        GET
        NOSUCHCOMMAND x y
        WATCH x
        SAVE
        SHUTDOWN
        CONFIG NOSUCHSUB
        INCR a
        EXEC
        GET a
        EXEC
        MULTI
        SET a 1
        SAVE
        EXEC
        MULTI
        SET a 2
        DISCARD
        DISCARD
        GET a
        MULTI
        EXEC
        MULTI
        UNWATCH
        PING
        ECHO hi
        EXEC
        MULTI
        MULTI
        WATCH a
        SET b 1
        EXEC
        GET b
        EXEC x
        MULTI
        SET b 2
        EXEC x
        EXEC
        GET b
        MULTI
        DISCARD x
        MULTI x
        EXEC
        "#,
    );
    d.assert_clean();
}

#[test]
fn runtime_errors_inside_exec_stay_per_command() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        MULTI
        SET a x
        INCR a
        LPUSH a 1
        RPUSH l a b
        INCR l
        LRANGE l 0 -1
        HSET l f v
        GET a
        APPEND a y
        INCRBY a notanumber
        SET n 10
        INCR n
        EXPIRE n 100
        TTL n
        DEL a
        EXISTS a
        SELECT 3
        SET z 1
        SELECT 0
        EXEC
        GET n
        SELECT 3
        GET z
        SELECT 0
        MULTI
        SET big 1
        CONFIG SET maxmemory-policy nosuch
        GET big
        EXEC
        MULTI
        SETEX k 0 v
        SET k v EX 100 PX 5
        MSET a
        EXEC
        "#,
    );
    d.assert_clean();
}

#[test]
fn watch_is_broken_by_other_clients_changes() {
    let d = Diff::new(&[]);
    // (name, steps, whether EXEC must come back as a null array)
    type Scenario = (&'static str, &'static [(usize, &'static str)], bool);
    let scenarios: &[Scenario] = &[
        (
            "no change",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "GET k")],
            false,
        ),
        (
            "write",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "SET k 2")],
            true,
        ),
        (
            "same value",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "SET k 1")],
            true,
        ),
        ("own write", &[(0, "WATCH k"), (0, "SET k 1")], true),
        ("del", &[(0, "SET k 1"), (0, "WATCH k"), (1, "DEL k")], true),
        ("del absent", &[(0, "WATCH k"), (1, "DEL k")], false),
        ("create", &[(0, "WATCH k"), (1, "SET k 1")], true),
        (
            "expire",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "EXPIRE k 100")],
            true,
        ),
        (
            "persist no ttl",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "PERSIST k")],
            false,
        ),
        (
            "expire absent",
            &[(0, "WATCH k"), (1, "EXPIRE k 100")],
            false,
        ),
        (
            "expire past",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "EXPIRE k -1")],
            true,
        ),
        (
            "append empty",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "APPEND k \"\"")],
            true,
        ),
        (
            "incrby 0",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "INCRBY k 0")],
            true,
        ),
        (
            "setrange empty",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "SETRANGE k 0 \"\"")],
            false,
        ),
        (
            "getex plain",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "GETEX k")],
            false,
        ),
        (
            "getset",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "GETSET k 2")],
            true,
        ),
        ("mset", &[(0, "WATCH a k"), (1, "MSET x 1 k 2")], true),
        (
            "setnx fails",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "SETNX k 2")],
            false,
        ),
        (
            "rename onto",
            &[(0, "SET z 1"), (0, "WATCH k"), (1, "RENAME z k")],
            true,
        ),
        (
            "rename away",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "RENAME k z")],
            true,
        ),
        (
            "copy onto",
            &[(0, "SET z 1"), (0, "WATCH k"), (1, "COPY z k")],
            true,
        ),
        (
            "move in",
            &[
                (0, "WATCH k"),
                (1, "SELECT 1"),
                (1, "SET k 1"),
                (1, "MOVE k 0"),
            ],
            true,
        ),
        (
            "move out",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "MOVE k 1")],
            true,
        ),
        (
            "other db",
            &[(0, "WATCH k"), (1, "SELECT 1"), (1, "SET k 1")],
            false,
        ),
        (
            "watched in db 1",
            &[
                (0, "SELECT 1"),
                (0, "WATCH k"),
                (0, "SELECT 0"),
                (1, "SELECT 1"),
                (1, "SET k 1"),
            ],
            true,
        ),
        (
            "flushall",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "FLUSHALL")],
            true,
        ),
        (
            "flushall absent",
            &[(0, "SET other 1"), (0, "WATCH k"), (1, "FLUSHALL")],
            false,
        ),
        (
            "flushdb",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "FLUSHDB")],
            true,
        ),
        (
            "flushdb other db",
            &[
                (0, "SET k 1"),
                (0, "WATCH k"),
                (1, "SELECT 1"),
                (1, "FLUSHDB"),
            ],
            false,
        ),
        (
            "swapdb key arrives",
            &[
                (0, "WATCH k"),
                (1, "SELECT 1"),
                (1, "SET k 1"),
                (1, "SWAPDB 0 1"),
            ],
            true,
        ),
        (
            "swapdb key leaves",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "SWAPDB 1 0")],
            true,
        ),
        (
            "swapdb both absent",
            &[(0, "SET z 1"), (0, "WATCH k"), (1, "SWAPDB 0 1")],
            false,
        ),
        (
            "swapdb other dbs",
            &[(0, "SET k 1"), (0, "WATCH k"), (1, "SWAPDB 1 2")],
            false,
        ),
        (
            "restore",
            &[
                (0, "SET z 1"),
                (0, "WATCH k"),
                (
                    1,
                    "RESTORE k 0 \"\\x00\\xc0\\x01\\x0a\\x00\\x26\\x78\\xe7\\xb6\\xd1\\x01\\x11\\xfc\"",
                ),
            ],
            true,
        ),
        (
            "unwatch",
            &[
                (0, "SET k 1"),
                (0, "WATCH k"),
                (0, "UNWATCH"),
                (1, "SET k 2"),
            ],
            false,
        ),
        (
            "watch twice",
            &[(0, "WATCH k"), (0, "WATCH k j"), (1, "SET j 2")],
            true,
        ),
        (
            "discard clears",
            &[(0, "WATCH k"), (0, "MULTI"), (0, "DISCARD"), (1, "SET k 2")],
            false,
        ),
        (
            "reset clears",
            &[(0, "WATCH k"), (0, "RESET"), (1, "SET k 2")],
            false,
        ),
        (
            "exec clears",
            &[(0, "WATCH k"), (0, "MULTI"), (0, "EXEC"), (1, "SET k 2")],
            false,
        ),
        (
            "aborted exec clears",
            &[
                (0, "WATCH k"),
                (1, "SET k 2"),
                (0, "MULTI"),
                (0, "EXEC"),
                (1, "SET k 3"),
            ],
            false,
        ),
        (
            "change during multi",
            &[
                (0, "WATCH k"),
                (0, "MULTI"),
                (0, "SET k 9"),
                (1, "SET k 2"),
                (0, "INCR k"),
            ],
            true,
        ),
    ];
    for &(name, steps, broken) in scenarios {
        let t = on_both(&d, name, |port| watch_scenario(port, steps));
        let exec = last_reply(&t, "EXEC");
        assert_eq!(
            exec == b"*-1\r\n",
            broken,
            "{name}: {:?}",
            String::from_utf8_lossy(exec)
        );
    }
}

/// Runs `steps`, then ends client 0's transaction with MULTI (unless already in one), a SET, and
/// EXEC, and reads the SET's effect from client 1; returns every reply.
fn watch_scenario(port: u16, steps: &[(usize, &str)]) -> Vec<(String, Vec<u8>)> {
    let mut c = [RawClient::connect(port), RawClient::connect(port)];
    send(&mut c[0], "FLUSHALL");
    let mut in_multi = false;
    let mut out = Vec::new();
    for (i, line) in steps {
        out.push((format!("[{i}] {line}"), send(&mut c[*i], line)));
        if *i == 0 {
            let up = line.to_ascii_uppercase();
            if up == "MULTI" {
                in_multi = true;
            } else if up == "EXEC" || up == "DISCARD" || up == "RESET" {
                in_multi = false;
            }
        }
    }
    if !in_multi {
        out.push(("MULTI".to_string(), send(&mut c[0], "MULTI")));
    }
    for line in ["SELECT 0", "SET done yes", "EXEC"] {
        out.push((line.to_string(), send(&mut c[0], line)));
    }
    out.push(("GET done".into(), send(&mut c[1], "GET done")));
    out
}

/// Waits (polling the clock, nothing else) until `ms` have passed since `start`.
fn wait_ms(start: Instant, ms: u64) {
    wait_for(&format!("{ms} ms to pass"), Duration::from_secs(10), || {
        start.elapsed() >= Duration::from_millis(ms)
    });
}

#[test]
fn watch_and_expiry() {
    let d = Diff::new(&[]);
    // (name, whether the key's 100 ms TTL passes before WATCH (else between WATCH and EXEC), what
    //  the other client does then, whether EXEC must come back as a null array). Active expiry is
    //  off, so only the commands here can delete the key.
    type Case = (&'static str, bool, Option<&'static str>, bool);
    let cases: &[Case] = &[
        // Live at WATCH, expired by EXEC, deleted or not: counts as changed.
        ("expires between watch and exec", false, None, true),
        (
            "expires, then read (lazy delete)",
            false,
            Some("GET k"),
            true,
        ),
        // Already expired at WATCH: deleting it is no change; re-creating it is.
        ("expired at watch", true, None, false),
        ("expired at watch, read", true, Some("GET k"), false),
        ("expired at watch, flushall", true, Some("FLUSHALL"), false),
        ("expired at watch, set", true, Some("SET k new"), true),
        ("expired at watch, del", true, Some("DEL k"), false),
    ];
    for &(name, expired_first, other, broken) in cases {
        let t = on_both(&d, name, |port| {
            let mut a = RawClient::connect(port);
            let mut b = RawClient::connect(port);
            let mut t = Vec::new();
            send(&mut a, "FLUSHALL");
            send(&mut a, "DEBUG SET-ACTIVE-EXPIRE 0");
            let start = Instant::now();
            send(&mut a, "SET k v PX 100");
            if expired_first {
                wait_ms(start, 150);
                t.push(("WATCH k".into(), send(&mut a, "WATCH k")));
            } else {
                t.push(("WATCH k".into(), send(&mut a, "WATCH k")));
                wait_ms(start, 150);
            }
            if let Some(cmd) = other {
                t.push((cmd.to_string(), send(&mut b, cmd)));
            }
            t.push(("MULTI".into(), send(&mut a, "MULTI")));
            t.push(("PING".into(), send(&mut a, "PING")));
            t.push(("EXEC".into(), send(&mut a, "EXEC")));
            send(&mut a, "DEBUG SET-ACTIVE-EXPIRE 1");
            t
        });
        let exec = last_reply(&t, "EXEC");
        assert_eq!(
            exec == b"*-1\r\n",
            broken,
            "{name}: {:?}",
            String::from_utf8_lossy(exec)
        );
    }
    // Active expiry removes a watched key that was live at WATCH: a change.
    let t = on_both(&d, "active expiry", |port| {
        let mut a = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        send(&mut a, "FLUSHALL");
        send(&mut a, "SET k v PX 30");
        let mut t = vec![("WATCH k".to_string(), send(&mut a, "WATCH k"))];
        // DBSIZE does not touch keys: only the active cycle can bring it to 0.
        wait_for("active expiry to delete k", Duration::from_secs(10), || {
            send(&mut b, "DBSIZE") == b":0\r\n"
        });
        t.push(("MULTI".into(), send(&mut a, "MULTI")));
        t.push(("EXEC".into(), send(&mut a, "EXEC")));
        t
    });
    assert_eq!(last_reply(&t, "EXEC"), b"*-1\r\n");
}

#[test]
fn resp3_replies() {
    let mut d = Diff::new(&[]);
    // (HELLO's reply carries the connection id, which differs.)
    d.r.cmd(&["HELLO", "3"]);
    d.f.cmd(&["HELLO", "3"]);
    d.script(
        r#"
        MULTI
        SET a 1
        INCR a
        GET a
        GET nosuch
        INCRBYFLOAT a 0.5
        EXEC
        MULTI
        NOSUCH
        EXEC
        "#,
    );
    d.assert_clean();
    on_both(&d, "resp3 aborted", |port| {
        two_clients(
            port,
            &[
                (0, "HELLO 3"),
                (0, "WATCH k"),
                (1, "SET k 1"),
                (0, "MULTI"),
                (0, "GET k"),
                (0, "EXEC"),
                (0, "HELLO 2"),
                (0, "WATCH k"),
                (1, "SET k 2"),
                (0, "MULTI"),
                (0, "EXEC"),
            ],
        )
    });
}

#[test]
fn auth_and_connection_commands_inside_multi() {
    let mut d = Diff::new(&["--requirepass", "pw"]);
    d.script(
        r#"
        EXEC
        MULTI
        DISCARD
        WATCH k
        AUTH pw
        MULTI
        AUTH wrong
        EXEC
        MULTI
        SELECT 2
        SET a 1
        EXEC
        GET a
        SELECT 2
        GET a
        MULTI
        RESET
        EXEC
        "#,
    );
    d.assert_clean();
    // QUIT inside MULTI answers and closes.
    on_both(&d, "quit", |port| {
        let mut c = RawClient::connect(port);
        let mut t = vec![("AUTH".to_string(), send(&mut c, "AUTH pw"))];
        t.push(("MULTI".into(), send(&mut c, "MULTI")));
        t.push(("QUIT".into(), send(&mut c, "QUIT")));
        t.push((
            "closed".into(),
            c.try_read_reply().unwrap_or_else(|| b"<closed>".to_vec()),
        ));
        t
    });
}

/// The fields of a client's CLIENT LIST line that transactions change.
fn tx_fields(line: &str) -> String {
    line.split(' ')
        .filter(|f| {
            let k = f.split('=').next().unwrap_or("");
            matches!(k, "flags" | "multi" | "multi-mem" | "cmd")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn client_list_shows_the_queue() {
    let d = Diff::new(&[]);
    on_both(&d, "client list", |port| {
        let mut a = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        send(&mut a, "CLIENT SETNAME txclient");
        let mut t = Vec::new();
        let mut look = |b: &mut RawClient, what: &str| {
            let list = parse_bulk(&send(b, "CLIENT LIST")).unwrap_or_default();
            let line = list
                .lines()
                .find(|l| l.contains("name=txclient"))
                .unwrap_or("")
                .to_string();
            t.push((what.to_string(), tx_fields(&line).into_bytes()));
        };
        look(&mut b, "before");
        for line in [
            "MULTI",
            "SET a b",
            "SET abcdefgh xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "GET a",
            "WATCH x",
            "EXEC",
            "MULTI",
            "NOSUCH",
            "SET c d",
            "DISCARD",
        ] {
            send(&mut a, line);
            look(&mut b, line);
        }
        // A transaction whose watched key changed keeps nothing more either.
        send(&mut a, "WATCH x");
        look(&mut b, "WATCH x");
        send(&mut b, "SET x 1");
        look(&mut b, "changed");
        for line in ["MULTI", "SET a b", "EXEC"] {
            send(&mut a, line);
            look(&mut b, line);
        }
        t
    });
}

#[test]
fn a_client_is_still_in_multi_while_exec_runs_its_queue() {
    let d = Diff::new(&[]);
    on_both(&d, "client info inside exec", |port| {
        let mut a = RawClient::connect(port);
        let mut t = Vec::new();
        for line in ["MULTI", "CLIENT INFO", "SET a 1", "CLIENT INFO"] {
            t.push((line.to_string(), send(&mut a, line)));
        }
        let exec = String::from_utf8_lossy(&send(&mut a, "EXEC")).into_owned();
        for line in exec.split("\r\n").filter(|l| l.starts_with("id=")) {
            t.push(("CLIENT INFO".into(), tx_fields(line).into_bytes()));
        }
        t.push((
            "after".into(),
            tx_fields(&parse_bulk(&send(&mut a, "CLIENT INFO")).unwrap_or_default()).into_bytes(),
        ));
        t
    });
}

#[test]
fn monitor_sees_queued_commands_when_they_run() {
    let d = Diff::new(&[]);
    on_both(&d, "monitor", |port| {
        let mut m = RawClient::connect(port);
        let mut a = RawClient::connect(port);
        let mut t = vec![("MONITOR".to_string(), send(&mut m, "MONITOR"))];
        for line in [
            "MULTI", "SET a 1", "GET a", "EXEC", "MULTI", "SET a 2", "DISCARD", "WATCH a",
            "UNWATCH", "PING",
        ] {
            send(&mut a, line);
        }
        loop {
            let r = m.read_reply();
            let s = String::from_utf8_lossy(&r).into_owned();
            // Drop the timestamp and address: `+<ts> [0 <addr>] "cmd" ...`.
            let cmd = s.split_once("] ").map(|x| x.1).unwrap_or(&s).to_string();
            let done = cmd.to_ascii_lowercase().starts_with("\"ping\"");
            t.push(("feed".into(), cmd.into_bytes()));
            if done {
                break;
            }
        }
        t
    });
}

/// `name:calls=..,usec=..` lines of INFO commandstats without timings, sorted.
fn commandstats(c: &mut RawClient) -> Vec<String> {
    let s = parse_bulk(&send(c, "INFO commandstats")).unwrap_or_default();
    let mut v: Vec<String> = s
        .lines()
        .filter(|l| l.starts_with("cmdstat_"))
        .map(|l| {
            l.split(',')
                .filter(|f| !f.starts_with("usec"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn commandstats_count_exec_and_the_queued_commands_when_run() {
    let d = Diff::new(&[]);
    on_both(&d, "commandstats", |port| {
        let mut a = RawClient::connect(port);
        send(&mut a, "CONFIG RESETSTAT");
        for line in [
            "MULTI", "SET a 1", "INCR a", "GET", "EXEC", "MULTI", "SET a x", "INCR a", "SAVE",
            "EXEC", "MULTI", "SET a x", "INCR a", "EXEC", "EXEC", "DISCARD", "MULTI", "MULTI",
            "DISCARD", "WATCH a", "UNWATCH", "EXEC x", "MULTI", "EXEC x",
        ] {
            send(&mut a, line);
        }
        let mut t: Vec<(String, Vec<u8>)> = commandstats(&mut a)
            .into_iter()
            .map(|l| ("cmdstat".to_string(), l.into_bytes()))
            .collect();
        for f in ["total_error_replies", "total_commands_processed"] {
            t.push((
                f.into(),
                a.info_field("stats", f).unwrap_or_default().into(),
            ));
        }
        let errs = parse_bulk(&send(&mut a, "INFO errorstats")).unwrap_or_default();
        t.push(("errorstats".into(), errs.into_bytes()));
        t
    });
}

#[test]
fn exec_waits_out_a_write_pause() {
    let d = Diff::new(&[]);
    on_both(&d, "pause", |port| {
        let mut a = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        let mut t = Vec::new();
        send(&mut a, "CLIENT SETNAME waiter");
        t.push(("MULTI".into(), send(&mut a, "MULTI")));
        t.push(("SET".into(), send(&mut a, "SET k 1")));
        t.push(("PAUSE".into(), send(&mut b, "CLIENT PAUSE 20000 WRITE")));
        a.send_raw(&RawClient::encode(&[b"EXEC"]));
        wait_for("EXEC held by the pause", Duration::from_secs(10), || {
            let list = parse_bulk(&send(&mut b, "CLIENT LIST")).unwrap_or_default();
            list.lines()
                .any(|l| l.contains("name=waiter") && l.contains("flags=xb"))
        });
        t.push(("GET".into(), send(&mut b, "GET k")));
        t.push(("UNPAUSE".into(), send(&mut b, "CLIENT UNPAUSE")));
        t.push(("EXEC".into(), a.read_reply()));
        t.push(("GET".into(), send(&mut b, "GET k")));
        t
    });
}

#[test]
fn redis_crate_atomic_pipelines() {
    let d = Diff::new(&[]);
    let run = |port: u16| -> Vec<(String, Vec<u8>)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let client =
                redis::Client::open(format!("redis://127.0.0.1:{port}/0")).expect("client");
            let mut con = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let mut other = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let mut t = Vec::new();
            let () = redis::cmd("FLUSHALL")
                .query_async(&mut con)
                .await
                .expect("flushall");
            let (s, n, v): (String, i64, String) = redis::pipe()
                .atomic()
                .set("a", 41)
                .incr("a", 1)
                .get("a")
                .query_async(&mut con)
                .await
                .expect("atomic pipeline");
            t.push(("pipeline".to_string(), format!("{s} {n} {v}").into_bytes()));
            // A runtime error inside the transaction is reported, the rest still ran.
            let r: redis::RedisResult<(String, i64)> = redis::pipe()
                .atomic()
                .set("s", "x")
                .incr("s", 1)
                .query_async(&mut con)
                .await;
            t.push((
                "runtime error".into(),
                format!("{}", r.is_err()).into_bytes(),
            ));
            let s: String = redis::cmd("GET")
                .arg("s")
                .query_async(&mut con)
                .await
                .expect("get");
            t.push(("after".into(), s.into_bytes()));
            // Optimistic locking: a transaction over a watched key that another client changes
            // comes back as nil; run again without interference it goes through.
            let () = redis::cmd("WATCH")
                .arg("a")
                .query_async(&mut con)
                .await
                .expect("watch");
            let () = redis::cmd("SET")
                .arg("a")
                .arg(0)
                .query_async(&mut other)
                .await
                .expect("set");
            let r: Option<(i64,)> = redis::pipe()
                .atomic()
                .incr("a", 1)
                .query_async(&mut con)
                .await
                .expect("exec");
            t.push(("watched, changed".into(), format!("{r:?}").into_bytes()));
            let () = redis::cmd("WATCH")
                .arg("a")
                .query_async(&mut con)
                .await
                .expect("watch");
            let r: Option<(i64,)> = redis::pipe()
                .atomic()
                .incr("a", 1)
                .query_async(&mut con)
                .await
                .expect("exec");
            t.push(("watched, unchanged".into(), format!("{r:?}").into_bytes()));
            t
        })
    };
    let t = on_both(&d, "redis crate", run);
    assert_eq!(last_reply(&t, "pipeline"), b"OK 42 42");
    assert_eq!(last_reply(&t, "runtime error"), b"true");
    assert_eq!(last_reply(&t, "after"), b"x");
    assert_eq!(last_reply(&t, "watched, changed"), b"None");
    assert_eq!(last_reply(&t, "watched, unchanged"), b"Some((1,))");
}

#[test]
fn exec_runs_server_commands_and_keeps_watches_per_database() {
    let d = Diff::new(&[]);
    on_both(&d, "server commands", |port| {
        two_clients(
            port,
            &[
                (0, "CONFIG RESETSTAT"),
                (0, "CONFIG SET slowlog-log-slower-than 0"),
                (0, "SLOWLOG RESET"),
                (0, "MULTI"),
                (0, "SET a 1"),
                (0, "GET a"),
                (0, "EXEC"),
                (0, "SLOWLOG LEN"),
                (0, "CONFIG SET slowlog-log-slower-than 10000"),
                // DEBUG RELOAD empties and reloads the data: a watched key that existed changed.
                (0, "SET k 1"),
                (0, "WATCH k"),
                (1, "DEBUG RELOAD"),
                (0, "MULTI"),
                (0, "EXEC"),
                // The same name watched in two databases: a change in either counts.
                (0, "WATCH k k2"),
                (0, "SELECT 1"),
                (0, "WATCH k"),
                (1, "SELECT 1"),
                (1, "SET k x"),
                (0, "MULTI"),
                (0, "EXEC"),
                // MONITOR cannot start from inside EXEC.
                (0, "MULTI"),
                (0, "MONITOR"),
                (0, "EXEC"),
                (0, "PING"),
                (0, "MULTI"),
                (0, "DEBUG SLEEP 0"),
                (0, "FLUSHALL"),
                (0, "SWAPDB 0 1"),
                (0, "EXEC"),
                (0, "MULTI"),
                (0, "SELECT 99"),
                (0, "SET a"),
                (0, "EXEC"),
                (0, "MULTI"),
                (0, "CLIENT KILL ID 999999"),
                (0, "EXEC"),
                (0, "MULTI"),
                (0, "CONFIG SET appendonly no"),
                (0, "INFO nosuchsection"),
                (0, "EXEC"),
                (0, "WATCH"),
                (0, "MULTI x"),
                (0, "UNWATCH x"),
                (0, "DISCARD"),
                (0, "INFO errorstats"),
            ],
        )
    });
}

#[test]
fn watch_is_broken_by_collection_writes_that_change_something() {
    let d = Diff::new(&[]);
    // (name, steps, whether EXEC must come back as a null array)
    type Scenario = (&'static str, &'static [(usize, &'static str)], bool);
    let scenarios: &[Scenario] = &[
        ("lpush", &[(0, "WATCH k"), (1, "LPUSH k a")], true),
        (
            "lpop last",
            &[(0, "RPUSH k a"), (0, "WATCH k"), (1, "LPOP k")],
            true,
        ),
        (
            "lrem none",
            &[(0, "RPUSH k a"), (0, "WATCH k"), (1, "LREM k 0 zz")],
            false,
        ),
        (
            "hset same",
            &[(0, "HSET k f v"), (0, "WATCH k"), (1, "HSET k f v")],
            true,
        ),
        (
            "hdel none",
            &[(0, "HSET k f v"), (0, "WATCH k"), (1, "HDEL k zz")],
            false,
        ),
        (
            "sadd existing",
            &[(0, "SADD k a"), (0, "WATCH k"), (1, "SADD k a")],
            false,
        ),
        (
            "srem none",
            &[(0, "SADD k a"), (0, "WATCH k"), (1, "SREM k zz")],
            false,
        ),
        (
            "zadd same",
            &[(0, "ZADD k 1 a"), (0, "WATCH k"), (1, "ZADD k 1 a")],
            false,
        ),
        (
            "zincrby 0",
            &[(0, "ZADD k 1 a"), (0, "WATCH k"), (1, "ZINCRBY k 0 a")],
            false,
        ),
        (
            "sort store",
            &[(0, "RPUSH l 3 1"), (0, "WATCH k"), (1, "SORT l STORE k")],
            true,
        ),
        (
            "sinterstore empty",
            &[(0, "SADD k a"), (0, "WATCH k"), (1, "SINTERSTORE k nosuch")],
            true,
        ),
        (
            "smove",
            &[(0, "SADD s a"), (0, "WATCH k"), (1, "SMOVE s k a")],
            true,
        ),
        (
            "lset",
            &[(0, "RPUSH k a"), (0, "WATCH k"), (1, "LSET k 0 a")],
            true,
        ),
        (
            "ltrim noop",
            &[(0, "RPUSH k a"), (0, "WATCH k"), (1, "LTRIM k 0 -1")],
            true,
        ),
        (
            "hincrby 0",
            &[(0, "HSET k f 1"), (0, "WATCH k"), (1, "HINCRBY k f 0")],
            true,
        ),
        (
            "zremrangebyscore none",
            &[
                (0, "ZADD k 1 a"),
                (0, "WATCH k"),
                (1, "ZREMRANGEBYSCORE k 5 6"),
            ],
            false,
        ),
        (
            "spop",
            &[(0, "SADD k a"), (0, "WATCH k"), (1, "SPOP k")],
            true,
        ),
        (
            "lmove same",
            &[
                (0, "RPUSH k a b"),
                (0, "WATCH k"),
                (1, "LMOVE k k LEFT RIGHT"),
            ],
            true,
        ),
        (
            "linsert miss",
            &[
                (0, "RPUSH k a"),
                (0, "WATCH k"),
                (1, "LINSERT k BEFORE zz x"),
            ],
            false,
        ),
        (
            "hsetnx exists",
            &[(0, "HSET k f 1"), (0, "WATCH k"), (1, "HSETNX k f 2")],
            false,
        ),
    ];
    for &(name, steps, broken) in scenarios {
        let t = on_both(&d, name, |port| watch_scenario(port, steps));
        let exec = last_reply(&t, "EXEC");
        assert_eq!(
            exec == b"*-1\r\n",
            broken,
            "{name}: {:?}",
            String::from_utf8_lossy(exec)
        );
    }
}
