//! Server introspection commands against the real redis-server: INFO sections and field names,
//! COMMAND INFO/DOCS/COUNT/LIST/GETKEYS, SLOWLOG, LATENCY, MEMORY, SHUTDOWN, TIME, LASTSAVE, and
//! redis-cli talking to ferredis.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A RESP2 reply as a tree, for structural comparisons.
#[derive(Debug, Clone, PartialEq)]
enum R {
    Str(String),
    Err(String),
    Int(i64),
    Nil,
    Arr(Vec<R>),
}

fn parse(b: &[u8]) -> R {
    fn line(b: &[u8], pos: &mut usize) -> String {
        let end = *pos
            + b[*pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF");
        let s = String::from_utf8_lossy(&b[*pos + 1..end]).into_owned();
        *pos = end + 2;
        s
    }
    fn value(b: &[u8], pos: &mut usize) -> R {
        let t = b[*pos];
        let l = line(b, pos);
        match t {
            b'+' => R::Str(l),
            b'-' => R::Err(l),
            b':' => R::Int(l.parse().expect("int")),
            b'$' => {
                let n: i64 = l.parse().expect("len");
                if n < 0 {
                    return R::Nil;
                }
                let s = String::from_utf8_lossy(&b[*pos..*pos + n as usize]).into_owned();
                *pos += n as usize + 2;
                R::Str(s)
            }
            b'*' => {
                let n: i64 = l.parse().expect("len");
                if n < 0 {
                    return R::Nil;
                }
                R::Arr((0..n).map(|_| value(b, pos)).collect())
            }
            other => panic!("unexpected type {}", other as char),
        }
    }
    let mut pos = 0;
    value(b, &mut pos)
}

fn strs(r: &R) -> Vec<String> {
    match r {
        R::Arr(v) => v
            .iter()
            .map(|x| match x {
                R::Str(s) => s.clone(),
                other => panic!("not a string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// INFO text → sections (lowercase title) → ordered (field, value) pairs.
fn info_sections(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut cur = String::new();
    for l in text.split("\r\n") {
        if let Some(t) = l.strip_prefix("# ") {
            cur = t.to_ascii_lowercase();
            out.entry(cur.clone()).or_default();
        } else if let Some((k, v)) = l.split_once(':') {
            out.entry(cur.clone())
                .or_default()
                .push((k.to_string(), v.to_string()));
        }
    }
    out
}

fn field<'a>(s: &'a BTreeMap<String, Vec<(String, String)>>, sec: &str, f: &str) -> &'a str {
    s.get(sec)
        .and_then(|v| v.iter().find(|(k, _)| k == f))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {sec}.{f}"))
}

#[test]
fn info_has_every_section_and_field_of_redis_in_order() {
    let mut d = Diff::new(&[]);
    d.script(
        "SET a 1
         SET b hello
         GET a
         GET nosuch
         NOSUCHCOMMAND
         SELECT 3
         SET c 1
         SET e 1 EX 1000
         SELECT 0",
    );
    d.assert_clean();
    let want = info_sections(&d.r.cmd_str(&["INFO", "everything"]));
    let got = info_sections(&d.f.cmd_str(&["INFO", "everything"]));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "sections"
    );
    for (sec, fields) in &want {
        if ["commandstats", "latencystats"].contains(&sec.as_str()) {
            continue;
        }
        let w: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        let g: Vec<&str> = got[sec]
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != "ferredis_version")
            .collect();
        assert_eq!(w, g, "field names of section {sec}");
    }
    // The same commands give the same counts and keyspace.
    for (sec, f) in [
        ("server", "redis_version"),
        ("server", "redis_mode"),
        ("server", "arch_bits"),
        ("server", "hz"),
        ("clients", "connected_clients"),
        ("clients", "maxclients"),
        ("replication", "role"),
        ("replication", "connected_slaves"),
        ("stats", "keyspace_hits"),
        ("stats", "keyspace_misses"),
        ("stats", "total_error_replies"),
        ("stats", "expired_keys"),
        ("persistence", "rdb_changes_since_last_save"),
        ("persistence", "aof_enabled"),
        ("memory", "maxmemory_policy"),
        ("cluster", "cluster_enabled"),
        ("keyspace", "db0"),
    ] {
        assert_eq!(field(&want, sec, f), field(&got, sec, f), "{sec}.{f}");
    }
    // avg_ttl is an estimate refreshed by active expiry's sampling; keys and expires are exact.
    let counts = |v: &str| v.split(",avg_ttl=").next().unwrap_or("").to_string();
    assert_eq!(
        counts(field(&want, "keyspace", "db3")),
        counts(field(&got, "keyspace", "db3"))
    );
    assert_eq!(counts(field(&got, "keyspace", "db3")), "keys=2,expires=1");
    assert_eq!(want["errorstats"], got["errorstats"]);
    assert_eq!(field(&got, "server", "redis_version"), "7.0.15");
    assert_eq!(
        field(&got, "server", "ferredis_version"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        field(&got, "server", "tcp_port"),
        d.ferredis.port.to_string()
    );
    assert_eq!(
        field(&got, "server", "process_id"),
        d.ferredis.pid().to_string()
    );
    assert!(field(&got, "memory", "mem_allocator").starts_with("jemalloc-5"));
    let used: u64 = field(&got, "memory", "used_memory").parse().unwrap();
    assert!(used > 100_000 && used < 1 << 30, "used_memory {used}");
    // Commandstats name the same commands (set, get, select, info, ping).
    let names = |s: &BTreeMap<String, Vec<(String, String)>>, sec: &str| {
        s[sec]
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(names(&want, "commandstats"), names(&got, "commandstats"));
    assert_eq!(names(&want, "latencystats"), names(&got, "latencystats"));
}

#[test]
fn info_section_selection_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        "INFO nosuch
         INFO cluster
         INFO CLUSTER keyspace
         INFO modules
         INFO errorstats
         SET k v
         INFO keyspace
         INFO keyspace cluster nosuch",
    );
    d.assert_clean();
    for args in [
        vec!["INFO"],
        vec!["INFO", "default"],
        vec!["INFO", "all"],
        vec!["INFO", "server", "cpu"],
        vec!["INFO", "default", "commandstats"],
    ] {
        let w: Vec<String> = info_sections(&d.r.cmd_str(&args)).into_keys().collect();
        let g: Vec<String> = info_sections(&d.f.cmd_str(&args)).into_keys().collect();
        assert_eq!(w, g, "{args:?}");
    }
}

#[test]
fn info_counters_move() {
    let s = Server::start(Kind::Ferredis, &[]);
    let mut c = s.client();
    let info = |c: &mut RawClient| info_sections(&c.cmd_str(&["INFO", "everything"]));
    let before = info(&mut c);
    let n0: u64 = field(&before, "stats", "total_commands_processed")
        .parse()
        .unwrap();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "missing"]);
    c.cmd(&["SELECT", "x"]);
    c.cmd(&["NOSUCH"]);
    let after = info(&mut c);
    let n1: u64 = field(&after, "stats", "total_commands_processed")
        .parse()
        .unwrap();
    // INFO itself, SET, 3 GETs and the failed SELECT.
    assert_eq!(n1 - n0, 6);
    assert_eq!(field(&after, "stats", "keyspace_hits"), "2");
    assert_eq!(field(&after, "stats", "keyspace_misses"), "1");
    assert_eq!(field(&after, "errorstats", "errorstat_ERR"), "count=2");
    assert_eq!(field(&after, "stats", "total_error_replies"), "2");
    let get = field(&after, "commandstats", "cmdstat_get");
    assert!(
        get.starts_with("calls=3,usec=") && get.ends_with(",rejected_calls=0,failed_calls=0"),
        "{get}"
    );
    let sel = field(&after, "commandstats", "cmdstat_select");
    assert!(sel.ends_with("failed_calls=1"), "{sel}");
    let lat = field(&after, "latencystats", "latency_percentiles_usec_get");
    assert!(lat.starts_with("p50=") && lat.contains(",p99=") && lat.contains(",p99.9="));
    assert_eq!(
        field(&after, "keyspace", "db0"),
        "keys=1,expires=0,avg_ttl=0"
    );
    assert_eq!(field(&after, "clients", "connected_clients"), "1");
    let conns: u64 = field(&after, "stats", "total_connections_received")
        .parse()
        .unwrap();
    assert!(conns >= 2, "{conns}");
    for f in ["total_reads_processed", "total_writes_processed"] {
        let n: u64 = field(&after, "stats", f).parse().unwrap();
        assert!(n >= 7, "{f} {n}");
    }
    // instantaneous_ops_per_sec is sampled every 100 ms: a busy client makes it move.
    wait_for(
        "instantaneous_ops_per_sec > 0",
        Duration::from_secs(10),
        || {
            for _ in 0..50 {
                c.cmd(&["PING"]);
            }
            c.info_field("stats", "instantaneous_ops_per_sec")
                .is_some_and(|v| v != "0")
        },
    );
}

#[test]
fn command_info_and_docs_match_redis() {
    // A debug build's COMMAND can take over 10 ms on a loaded machine: with the default threshold it
    // would land in the SLOWLOG this test compares.
    let mut d = Diff::new(&["--slowlog-log-slower-than", "10000000"]);
    let list = strs(&parse(&d.f.cmd(&["COMMAND", "LIST"])));
    let count = match parse(&d.f.cmd(&["COMMAND", "COUNT"])) {
        R::Int(n) => n as usize,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        count,
        list.iter().filter(|n| !n.contains('|')).count(),
        "COMMAND COUNT counts top-level commands"
    );
    match parse(&d.f.cmd(&["COMMAND"])) {
        R::Arr(v) => assert_eq!(v.len(), count),
        other => panic!("{other:?}"),
    }
    let redis_list: BTreeSet<String> = strs(&parse(&d.r.cmd(&["COMMAND", "LIST"])))
        .into_iter()
        .collect();
    for name in &list {
        assert!(redis_list.contains(name), "{name} is not a Redis command");
        let is_container = list.iter().any(|n| n.starts_with(&format!("{name}|")));
        if is_container {
            // Redis lists subcommands in its hash table's order, which moves as lookups rehash it;
            // compare the container's own fields and then each subcommand by its full name.
            let sub_names = |c: &mut RawClient| -> BTreeSet<String> {
                match parse(&c.cmd(&["COMMAND", "INFO", name])) {
                    R::Arr(v) => match &v[0] {
                        R::Arr(f) => match &f[9] {
                            R::Arr(subs) => subs
                                .iter()
                                .map(|s| match s {
                                    R::Arr(x) => format!("{:?}", x[0]),
                                    other => panic!("{other:?}"),
                                })
                                .collect(),
                            other => panic!("{other:?}"),
                        },
                        other => panic!("{other:?}"),
                    },
                    other => panic!("{other:?}"),
                }
            };
            let (w, g) = (sub_names(&mut d.r), sub_names(&mut d.f));
            if w != g {
                d.mismatches.push(format!(
                    "subcommands of {name}: redis {w:?}, ferredis {g:?}"
                ));
            }
            let head = |c: &mut RawClient| match parse(&c.cmd(&["COMMAND", "INFO", name])) {
                R::Arr(v) => match &v[0] {
                    R::Arr(f) => f[..9].to_vec(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            };
            let (w, g) = (head(&mut d.r), head(&mut d.f));
            if w != g {
                d.mismatches.push(format!(
                    "COMMAND INFO {name}:\n   redis:    {w:?}\n   ferredis: {g:?}"
                ));
            }
        } else {
            d.run(&["COMMAND", "INFO", name]);
            d.run(&["COMMAND", "DOCS", name]);
        }
    }
    d.script(
        "COMMAND INFO nosuch get
         COMMAND INFO GET CONFIG|NOSUCH
         COMMAND DOCS nosuch
         COMMAND DOCS GET get
         COMMAND FOO
         COMMAND COUNT x
         COMMAND HELP
         COMMAND LIST FOO
         COMMAND LIST FILTERBY FOO x
         COMMAND LIST FILTERBY MODULE x
         COMMAND GETKEYS
         COMMAND GETKEYS get
         COMMAND GETKEYS nosuch a
         COMMAND GETKEYS ping x
         COMMAND GETKEYS set a
         COMMAND GETKEYS set a b
         COMMAND GETKEYS GET a
         COMMAND GETKEYS del a b c
         COMMAND GETKEYS memory usage k
         COMMAND GETKEYS memory usage k samples 3
         COMMAND GETKEYSANDFLAGS set a b
         COMMAND GETKEYSANDFLAGS get a
         COMMAND GETKEYSANDFLAGS exists a b",
    );
    d.assert_clean();
    // The same in RESP3, where maps, sets and status strings keep their own types.
    d.run(&["HELLO", "3"]);
    d.mismatches.clear();
    for name in &list {
        if !list.iter().any(|n| n.starts_with(&format!("{name}|"))) {
            d.run(&["COMMAND", "INFO", name]);
            d.run(&["COMMAND", "DOCS", name]);
        }
    }
    d.script(
        "COMMAND GETKEYSANDFLAGS set a b get
         COMMAND INFO nosuch
         COMMAND DOCS nosuch get
         MEMORY USAGE nosuch
         LATENCY LATEST
         LATENCY HISTOGRAM nosuch
         SLOWLOG GET
         INFO cluster
         MEMORY DOCTOR
         LATENCY DOCTOR",
    );
    d.assert_clean();
    d.run(&["HELLO", "2"]);
    d.mismatches.clear();
    // LIST filters: what ferredis lists is what Redis lists, restricted to ferredis's commands.
    let ours: BTreeSet<String> = list.iter().cloned().collect();
    for args in [
        vec!["COMMAND", "LIST", "FILTERBY", "PATTERN", "*"],
        vec!["COMMAND", "LIST", "FILTERBY", "PATTERN", "co*"],
        vec!["COMMAND", "LIST", "FILTERBY", "PATTERN", "MEMORY|*"],
        vec!["COMMAND", "LIST", "FILTERBY", "ACLCAT", "admin"],
        vec!["COMMAND", "LIST", "FILTERBY", "ACLCAT", "FAST"],
        vec!["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"],
    ] {
        let want: BTreeSet<String> = strs(&parse(&d.r.cmd(&args)))
            .into_iter()
            .filter(|n| ours.contains(n))
            .collect();
        let got: BTreeSet<String> = strs(&parse(&d.f.cmd(&args))).into_iter().collect();
        assert_eq!(want, got, "{args:?}");
    }
}

#[test]
fn slowlog_records_every_command_when_threshold_is_zero() {
    let mut d = Diff::new(&["--slowlog-log-slower-than", "0"]);
    d.script(
        "SLOWLOG RESET
         SLOWLOG LEN
         SLOWLOG GET x
         SLOWLOG GET -2
         SLOWLOG GET 1 2
         SLOWLOG LEN 2
         SLOWLOG HELP
         SLOWLOG FOO",
    );
    d.assert_clean();
    // Long arguments and long argument lists are cut as Redis cuts them.
    let long = "v".repeat(200);
    let mut mset: Vec<String> = vec!["MSET".into()];
    for i in 0..20 {
        mset.push(format!("k{i}"));
        mset.push(format!("{i}"));
    }
    let entries_args = |c: &mut RawClient| -> Vec<Vec<String>> {
        match parse(&c.cmd(&["SLOWLOG", "GET", "3"])) {
            R::Arr(v) => v
                .iter()
                .map(|e| match e {
                    R::Arr(f) => {
                        let mut x = strs(&f[3]);
                        x.push(format!("{:?}", f[5]));
                        x
                    }
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    };
    for c in [&mut d.r, &mut d.f] {
        c.cmd(&["SLOWLOG", "RESET"]);
        c.cmd(&["SET", "key", &long]);
        let m: Vec<&str> = mset.iter().map(|s| s.as_str()).collect();
        c.cmd(&m);
    }
    assert_eq!(entries_args(&mut d.r), entries_args(&mut d.f));

    let mut c = d.ferredis.client();
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["SET", "key", "value"]);
    let entries = parse(&c.cmd(&["SLOWLOG", "GET", "2"]));
    let R::Arr(entries) = entries else {
        panic!("{entries:?}")
    };
    assert_eq!(entries.len(), 2);
    // Newest first: SET, then SLOWLOG RESET.
    let R::Arr(e) = &entries[0] else { panic!() };
    assert_eq!(e.len(), 6);
    assert!(matches!(e[0], R::Int(_)));
    let R::Int(t) = e[1] else { panic!() };
    assert!(
        (t - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64)
            .abs()
            < 5
    );
    assert!(matches!(e[2], R::Int(us) if us >= 0));
    assert_eq!(strs(&e[3]), vec!["SET", "key", "value"]);
    let R::Str(peer) = &e[4] else { panic!() };
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    assert_eq!(e[5], R::Str(String::new()));
    let R::Arr(older) = &entries[1] else { panic!() };
    assert_eq!(strs(&older[3]), vec!["SLOWLOG", "RESET"]);
    match parse(&c.cmd(&["SLOWLOG", "GET", "-1"])) {
        R::Arr(v) => assert_eq!(v.len(), 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn latency_commands_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        "LATENCY LATEST
         LATENCY HISTORY command
         LATENCY RESET
         LATENCY RESET command foo
         LATENCY GRAPH command
         LATENCY DOCTOR
         LATENCY HELP
         LATENCY HISTORY
         LATENCY FOO",
    );
    d.assert_clean();
    let mut d = Diff::new(&["--latency-monitor-threshold", "100"]);
    d.script(
        "LATENCY DOCTOR
         LATENCY LATEST",
    );
    d.assert_clean();
    // LATENCY HISTOGRAM: same commands, same calls, and buckets that add up to the calls.
    let mut d = Diff::new(&[]);
    d.script("SET a 1\nSET b 2\nGET a");
    let h = |c: &mut RawClient| parse(&c.cmd(&["LATENCY", "HISTOGRAM", "set", "get", "nosuch"]));
    let (w, g) = (h(&mut d.r), h(&mut d.f));
    let names = |r: &R| match r {
        R::Arr(v) => v
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let (w, g) = (names(&w), names(&g));
    assert_eq!(w.len(), g.len());
    for ((wn, wv), (gn, gv)) in w.iter().zip(&g) {
        assert_eq!(wn, gn);
        let (R::Arr(wv), R::Arr(gv)) = (wv, gv) else {
            panic!()
        };
        assert_eq!(wv[..2], gv[..2], "calls of {wn:?}");
        assert_eq!(gv[2], R::Str("histogram_usec".into()));
    }
}

#[test]
fn memory_usage_is_redis_sized_and_errors_match() {
    let mut d = Diff::new(&[]);
    let long = "x".repeat(100_000);
    let mid = "y".repeat(1000);
    d.run(&["SET", "a", "1"]);
    d.run(&["SET", "n", "123456789012"]);
    d.run(&["SET", "b", "0123456789x"]);
    d.run(&["SET", "c", &"z".repeat(44)]);
    d.run(&["SET", "d", &"z".repeat(45)]);
    d.run(&["SET", "e", &mid]);
    d.run(&["SET", "f", &long]);
    d.run(&["SET", &"k".repeat(40), "hello"]);
    d.script(
        "MEMORY USAGE a
         MEMORY USAGE n
         MEMORY USAGE b
         MEMORY USAGE c
         MEMORY USAGE d
         MEMORY USAGE e
         MEMORY USAGE f
         MEMORY USAGE kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk
         MEMORY USAGE a SAMPLES 0
         MEMORY USAGE missing
         MEMORY USAGE a SAMPLES
         MEMORY USAGE a SAMPLES x
         MEMORY USAGE a FOO 1
         MEMORY USAGE
         MEMORY PURGE
         MEMORY HELP
         MEMORY DOCTOR
         MEMORY FOO",
    );
    d.assert_clean();
    // MEMORY STATS: the same fields, in the same order.
    let keys = |c: &mut RawClient| match parse(&c.cmd(&["MEMORY", "STATS"])) {
        R::Arr(v) => v
            .chunks(2)
            .map(|p| match &p[0] {
                R::Str(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(keys(&mut d.r), keys(&mut d.f));
    let stats = d.f.cmd_str(&["MEMORY", "MALLOC-STATS"]);
    assert!(
        stats.contains("jemalloc"),
        "{}",
        &stats[..stats.len().min(200)]
    );
}

#[test]
fn time_and_lastsave() {
    let s = Server::start(Kind::Ferredis, &[]);
    let mut c = s.client();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = strs(&parse(&c.cmd(&["TIME"])));
    let secs: i64 = t[0].parse().unwrap();
    let us: i64 = t[1].parse().unwrap();
    assert!((secs - now).abs() < 5 && (0..1_000_000).contains(&us));
    match parse(&c.cmd(&["LASTSAVE"])) {
        R::Int(t) => assert!((t - now).abs() < 60),
        other => panic!("{other:?}"),
    }
    let mut d = Diff::new(&[]);
    d.script("TIME x\nLASTSAVE x");
    d.assert_clean();
}

/// Waits for a server process to exit and returns its exit code.
fn wait_exit(s: &mut Server) -> Option<i32> {
    let mut child = s.child.take().expect("child");
    let mut status = None;
    wait_for("the server to exit", Duration::from_secs(20), || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    status.and_then(|s| s.code())
}

#[test]
fn shutdown_nosave_exits_zero_and_errors_match() {
    let mut d = Diff::new(&[]);
    d.script(
        "SHUTDOWN ABORT
         SHUTDOWN FOO
         SHUTDOWN NOSAVE SAVE
         SHUTDOWN ABORT NOW",
    );
    d.assert_clean();
    let mut s = Server::start(Kind::Ferredis, &["--save", "60 1"]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "v"]);
    c.send_raw(&RawClient::encode(&[b"SHUTDOWN", b"NOSAVE"]));
    assert_eq!(c.try_read_reply(), None, "SHUTDOWN replies nothing");
    assert_eq!(wait_exit(&mut s), Some(0));
    assert!(!s.dir.join("dump.rdb").exists(), "NOSAVE wrote no snapshot");
}

#[test]
fn shutdown_save_writes_a_snapshot_redis_loads_or_refuses_to_exit() {
    // A save that cannot complete (the target name is a directory) keeps the server running,
    // with Redis's error; FORCE exits anyway.
    let mut d = Diff::new(&[]);
    for s in [&d.redis, &d.ferredis] {
        std::fs::create_dir_all(s.dir.join("dump.rdb")).expect("mkdir");
    }
    d.script("SET k v\nSHUTDOWN SAVE");
    d.assert_clean();
    assert!(d.ferredis.alive() && d.redis.alive());
    d.f.send_raw(&RawClient::encode(&[b"SHUTDOWN", b"SAVE", b"FORCE"]));
    assert_eq!(d.f.try_read_reply(), None);
    assert_eq!(wait_exit(&mut d.ferredis), Some(0));

    // A working save: SHUTDOWN (save points configured) writes dump.rdb, and redis-server loads it.
    let mut s = Server::start(Kind::Ferredis, &["--save", "60 1"]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "hello"]);
    c.cmd(&["SELECT", "5"]);
    c.cmd(&["SET", "n", "12345"]);
    c.send_raw(&RawClient::encode(&[b"SHUTDOWN"]));
    assert_eq!(c.try_read_reply(), None);
    assert_eq!(wait_exit(&mut s), Some(0));
    let dump = s.dir.join("dump.rdb");
    assert!(dump.exists(), "SHUTDOWN with save points saves");
    let r = Server::start(
        Kind::Redis,
        &["--dir", s.dir.to_str().unwrap(), "--dbfilename", "dump.rdb"],
    );
    let mut rc = r.client();
    assert_eq!(rc.cmd(&["GET", "k"]), b"$5\r\nhello\r\n");
    rc.cmd(&["SELECT", "5"]);
    assert_eq!(rc.cmd(&["GET", "n"]), b"$5\r\n12345\r\n");
}

#[test]
fn redis_cli_talks_to_ferredis_without_errors() {
    let r = Server::start(Kind::Redis, &[]);
    let f = Server::start(Kind::Ferredis, &[]);
    let run = |port: u16, args: &[&str]| {
        let out = std::process::Command::new(redis_cli_bin())
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(out.status.success());
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Interactive mode (through a pseudo-terminal, TERM=dumb so the line editor stays simple)
    // fetches COMMAND DOCS at start for its hints, then runs what it reads.
    let interactive = |port: u16| {
        use std::io::Write;
        let mut child = std::process::Command::new("script")
            .args([
                "-qc",
                &format!("{} -p {port}", redis_cli_bin().display()),
                "/dev/null",
            ])
            .env("TERM", "dumb")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("`script` (util-linux) runs redis-cli on a pseudo-terminal");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"ping\nset x 1\nget x\nquit\n")
            .expect("write");
        let out = child.wait_with_output().expect("redis-cli output");
        String::from_utf8_lossy(&out.stdout).replace(&port.to_string(), "PORT")
            + &String::from_utf8_lossy(&out.stderr)
    };
    let want = interactive(r.port);
    assert!(want.contains("PONG"), "{want}");
    assert_eq!(want, interactive(f.port));
    let mut c = f.client();
    assert!(c
        .info_field("commandstats", "cmdstat_command|docs")
        .is_some_and(|v| v.starts_with("calls=1,")));
    let (out, err) = run(f.port, &["ping"]);
    assert_eq!(out, "PONG\n");
    assert_eq!(err, "");
    for args in [
        vec!["--no-raw", "COMMAND", "DOCS", "get"],
        vec!["--no-raw", "COMMAND", "INFO", "set"],
        vec!["--no-raw", "INFO", "cluster"],
    ] {
        let want = run(r.port, &args);
        let got = run(f.port, &args);
        assert_eq!(want, got, "{args:?}");
    }
}

#[test]
fn commandstats_count_calls_rejections_and_failures_like_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        "GET
         GET a
         SET a 1
         MEMORY USAGE
         MEMORY NOSUCH
         MEMORY USAGE a SAMPLES x
         SELECT x
         NOSUCH",
    );
    d.assert_clean();
    let counts = |c: &mut RawClient| -> BTreeMap<String, String> {
        info_sections(&c.cmd_str(&["INFO", "commandstats"]))["commandstats"]
            .iter()
            .filter(|(k, _)| k != "cmdstat_info" && k != "cmdstat_ping")
            .map(|(k, v)| {
                // Keep calls, rejected_calls and failed_calls; times differ.
                let kept: Vec<&str> = v.split(',').filter(|f| !f.starts_with("usec")).collect();
                (k.clone(), kept.join(","))
            })
            .collect()
    };
    assert_eq!(counts(&mut d.r), counts(&mut d.f));
    let errs = |c: &mut RawClient| info_sections(&c.cmd_str(&["INFO", "errorstats"]));
    assert_eq!(errs(&mut d.r), errs(&mut d.f));
}

#[test]
fn info_memory_reports_configured_maxmemory_and_resetstat_clears_counters() {
    let mut d = Diff::new(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]);
    let want = info_sections(&d.r.cmd_str(&["INFO", "memory"]));
    let got = info_sections(&d.f.cmd_str(&["INFO", "memory"]));
    for f in ["maxmemory", "maxmemory_human", "maxmemory_policy"] {
        assert_eq!(field(&want, "memory", f), field(&got, "memory", f), "{f}");
    }
    d.script("SET a 1\nGET a\nGET b\nNOSUCH\nCONFIG RESETSTAT");
    d.assert_clean();
    let want = info_sections(&d.r.cmd_str(&["INFO", "everything"]));
    let got = info_sections(&d.f.cmd_str(&["INFO", "everything"]));
    for (sec, f) in [
        ("stats", "keyspace_hits"),
        ("stats", "keyspace_misses"),
        ("stats", "total_error_replies"),
        ("stats", "total_commands_processed"),
        ("stats", "total_connections_received"),
    ] {
        assert_eq!(field(&want, sec, f), field(&got, sec, f), "{sec}.{f}");
    }
    assert_eq!(want["errorstats"], got["errorstats"]);
    let names = |s: &BTreeMap<String, Vec<(String, String)>>| {
        s["commandstats"]
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&want), names(&got));
}

#[test]
fn memory_usage_of_collections_is_close_to_redis() {
    // Collections are built on Redis and copied with DUMP/RESTORE, so both hold the same values.
    let mut d = Diff::new(&[]);
    let big_list: Vec<String> = (0..1000).map(|i| format!("{i}xxxxxxxxxx")).collect();
    let hash_small = ["f1", "v1", "f2", "v2"];
    let hash_200: Vec<String> = (0..200)
        .flat_map(|i| [format!("field{i}"), format!("value{i}")])
        .collect();
    let hash_big: Vec<String> = (0..1000)
        .flat_map(|i| [format!("field{i}"), format!("value{i}")])
        .collect();
    let set_big: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    let zset_big: Vec<String> = (0..300)
        .flat_map(|i| [format!("{}", i as f64 * 1.5), format!("member{i}")])
        .collect();
    let mut builds: Vec<Vec<String>> = vec![
        vec![
            "RPUSH".into(),
            "l1".into(),
            "a".into(),
            "b".into(),
            "c".into(),
        ],
        [vec!["RPUSH".into(), "l2".into()], big_list].concat(),
        [
            vec!["HSET".into(), "h1".into()],
            hash_small.iter().map(|s| s.to_string()).collect(),
        ]
        .concat(),
        [vec!["HSET".into(), "h2".into()], hash_200].concat(),
        [vec!["HSET".into(), "h3".into()], hash_big].concat(),
        vec![
            "SADD".into(),
            "s1".into(),
            "1".into(),
            "2".into(),
            "3".into(),
        ],
        vec![
            "SADD".into(),
            "s2".into(),
            "a".into(),
            "b".into(),
            "c".into(),
        ],
        [vec!["SADD".into(), "s3".into()], set_big].concat(),
        vec![
            "ZADD".into(),
            "z1".into(),
            "1".into(),
            "a".into(),
            "2.5".into(),
            "b".into(),
        ],
        [vec!["ZADD".into(), "z2".into()], zset_big].concat(),
    ];
    for b in builds.iter_mut() {
        let key = b[1].clone();
        let args: Vec<&str> = b.iter().map(|s| s.as_str()).collect();
        d.r.cmd(&args);
        let dump = d.r.cmd(&["DUMP", &key]);
        let payload = parse_bulk_bytes(&dump);
        let restored = d.f.cmd_bytes(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
        assert_eq!(restored, b"+OK\r\n", "RESTORE {key}");
        for samples in ["5", "0"] {
            let size = |c: &mut RawClient| match parse(
                &c.cmd(&["MEMORY", "USAGE", &key, "SAMPLES", samples]),
            ) {
                R::Int(n) => n as f64,
                other => panic!("{other:?}"),
            };
            let (want, got) = (size(&mut d.r), size(&mut d.f));
            // With 5 samples of a skiplist, Redis's own figure depends on the random levels of
            // the first nodes, so only the full count (SAMPLES 0) is held to 15%.
            let tolerance = if samples == "5" && key == "z2" {
                0.35
            } else {
                0.15
            };
            assert!(
                (got - want).abs() / want < tolerance,
                "MEMORY USAGE {key} SAMPLES {samples}: redis {want}, ferredis {got}"
            );
        }
    }
}

/// The raw payload of a `$n` bulk reply.
fn parse_bulk_bytes(r: &[u8]) -> Vec<u8> {
    let nl = r.iter().position(|&b| b == b'\n').expect("bulk header");
    let n: usize = std::str::from_utf8(&r[1..nl - 1])
        .expect("len")
        .parse()
        .expect("len");
    r[nl + 1..nl + 1 + n].to_vec()
}
