//! In-process tests of the string handlers, for what the wire cannot show yet: the value variant each
//! command stores (`OBJECT ENCODING`), TTLs kept or dropped, the dirty counter, keyspace hit/miss
//! statistics, WRONGTYPE paths (a list value is planted directly), and the `proto-max-bulk-len`
//! limits with the master link's exemption. Expected replies and counts were taken from
//! redis-server 7.0.15.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;

use crate::cmd::{dispatch, Ctx};
use crate::config::Config;
use crate::db::{Value, NO_EXPIRE};
use crate::resp::Reply;
use crate::server::client::{Client, ClientHandle, ClientKind};
use crate::server::Server;

struct Harness {
    srv: Arc<Server>,
    client: Client,
}

impl Harness {
    fn new() -> Harness {
        let srv = Server::new(Config::default(), None);
        let handle = ClientHandle::new(1, "127.0.0.1:40000".into(), "127.0.0.1:6379".into(), -1);
        Harness {
            srv,
            client: Client::new(handle, true),
        }
    }

    /// Runs a command line (space-separated, no quoting) and returns the raw reply.
    fn cmd(&mut self, line: &str) -> String {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(if a == "''" { b"" } else { a.as_bytes() }))
            .collect();
        String::from_utf8_lossy(&self.cmd_args(&args)).into_owned()
    }

    fn cmd_args(&mut self, args: &[Bytes]) -> Vec<u8> {
        let mut core = self.srv.core.lock();
        let mut buf = BytesMut::new();
        let proto = self.client.proto;
        let mut ctx = Ctx {
            core: &mut core,
            client: &mut self.client,
            srv: &self.srv,
            out: Reply::new(&mut buf, proto),
        };
        dispatch(&mut ctx, args);
        buf.to_vec()
    }

    fn value(&self, key: &str) -> Option<Value> {
        let core = self.srv.core.lock();
        core.ks.dbs[0]
            .table
            .get(key.as_bytes())
            .map(|e| e.value.clone())
    }

    fn expire(&self, key: &str) -> Option<i64> {
        let core = self.srv.core.lock();
        core.ks.dbs[0].table.get(key.as_bytes()).map(|e| e.expire)
    }

    fn dirty(&self) -> u64 {
        self.srv.core.lock().ks.dirty
    }

    fn hits_misses(&self) -> (u64, u64) {
        let core = self.srv.core.lock();
        (core.ks.stats.keyspace_hits, core.ks.stats.keyspace_misses)
    }

    /// Plants a list value (ferredis has no list commands in this family).
    fn plant_list(&mut self, key: &str) {
        let mut core = self.srv.core.lock();
        let list = Value::List(Arc::new(VecDeque::from([Bytes::from_static(b"a")])));
        core.ks
            .set(0, Bytes::copy_from_slice(key.as_bytes()), list, NO_EXPIRE);
    }
}

/// `OBJECT ENCODING` as Redis would print it for a value variant.
fn encoding(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::Str(b) if b.len() <= crate::db::value::EMBSTR_MAX => "embstr",
        Value::Str(_) | Value::Raw(_) => "raw",
        _ => "not a string",
    }
}

#[test]
fn encodings_follow_redis() {
    let mut h = Harness::new();
    let cases: &[(&str, &str, &str)] = &[
        ("SET a 123", "a", "int"),
        ("SET a -0", "a", "embstr"),
        ("SET a 12345678901234567890", "a", "embstr"),
        ("SET a abc", "a", "embstr"),
        ("APPEND a x", "a", "raw"),
        ("APPEND n1 5", "n1", "int"),
        ("APPEND n2 abc", "n2", "embstr"),
        ("SET n3 12", "n3", "int"),
        ("APPEND n3 ''", "n3", "raw"),
        ("INCRBYFLOAT f 1", "f", "embstr"),
        ("INCR f", "f", "int"),
        ("INCRBYFLOAT f 1e300", "f", "raw"),
        ("INCR g", "g", "int"),
        ("SET r abc", "r", "embstr"),
        ("SETRANGE r 0 x", "r", "raw"),
        ("SET r2 12", "r2", "int"),
        ("SETRANGE r2 0 ''", "r2", "int"),
        ("SETRANGE r3 2 x", "r3", "raw"),
        ("SET b 12", "b", "int"),
        ("SETBIT b 0 0", "b", "raw"),
        ("SETBIT b2 1 1", "b2", "raw"),
        ("BITOP OR b3 b2", "b3", "raw"),
        ("SET bf 12", "bf", "int"),
        ("BITFIELD bf GET u8 0", "bf", "int"),
        ("BITFIELD bf OVERFLOW FAIL INCRBY u2 0 100", "bf", "raw"),
        ("GETSET g 55", "g", "int"),
        ("MSET m1 5 m2 xx", "m1", "int"),
        ("SETEX se 100 42", "se", "int"),
        ("PSETEX pe 100000 abc", "pe", "embstr"),
        ("SETNX sn 7", "sn", "int"),
        ("SET kt 8 KEEPTTL", "kt", "int"),
    ];
    for (line, key, want) in cases {
        h.cmd(line);
        let v = h
            .value(key)
            .unwrap_or_else(|| panic!("{line}: {key} missing"));
        assert_eq!(encoding(&v), *want, "after {line}");
    }
}

#[test]
fn ttl_is_kept_or_dropped_like_redis() {
    let mut h = Harness::new();
    let far = "99999999999999";
    let at: i64 = far.parse().unwrap();
    h.cmd(&format!("SET k 1 PXAT {far}"));
    assert_eq!(h.expire("k"), Some(at));
    // Kept: KEEPTTL, the INCR family, INCRBYFLOAT, APPEND, SETRANGE, SETBIT, BITFIELD.
    for line in [
        "SET k 2 KEEPTTL",
        "INCR k",
        "INCRBY k 5",
        "DECR k",
        "INCRBYFLOAT k 1.5",
        "APPEND k x",
        "SETRANGE k 0 y",
        "SETBIT k 100 1",
        "BITFIELD k SET u8 0 65",
    ] {
        h.cmd(line);
        assert_eq!(h.expire("k"), Some(at), "after {line}");
    }
    // Dropped: a plain SET, GETSET, MSET, BITOP's destination, GETEX PERSIST.
    for line in ["SET k v", "GETSET k v", "MSET k v", "BITOP NOT k k"] {
        h.cmd(&format!("SET k 1 PXAT {far}"));
        h.cmd(line);
        assert_eq!(h.expire("k"), Some(NO_EXPIRE), "after {line}");
    }
    h.cmd(&format!("SET k 1 PXAT {far}"));
    assert_eq!(h.cmd("GETEX k PERSIST"), "$1\r\n1\r\n");
    assert_eq!(h.expire("k"), Some(NO_EXPIRE));
    // Relative expiries become absolute.
    let before = crate::util::now_ms();
    h.cmd("SETEX k 100 v");
    let e = h.expire("k").unwrap();
    assert!(e >= before + 100_000 && e <= crate::util::now_ms() + 100_000);
    h.cmd("GETEX k PX 5000");
    let e = h.expire("k").unwrap();
    assert!(e >= before + 5000 && e <= crate::util::now_ms() + 5000);
}

#[test]
fn dirty_counts_like_redis() {
    let mut h = Harness::new();
    // (command, change of Redis's rdb_changes_since_last_save), measured on redis-server 7.0.15.
    let cases: &[(&str, u64)] = &[
        ("SET a 1", 1),
        ("SET a 1 NX", 0),
        ("SET a 2 XX GET", 1),
        ("SETNX a 1", 0),
        ("SETNX b 1", 1),
        ("MSET a 1 b 2 c 3", 3),
        ("MSETNX a 1 z 1", 0),
        ("MSETNX y 1 z 1", 2),
        ("GETSET a 5", 1),
        ("GETDEL a", 1),
        ("GETDEL a", 0),
        ("GETEX b", 0),
        ("GETEX b PERSIST", 0),
        ("GETEX b EX 1000", 1),
        ("GETEX b PERSIST", 1),
        ("GETEX b PXAT 1", 1),
        ("APPEND c x", 1),
        ("APPEND c ''", 1),
        ("APPEND nn ''", 1),
        ("INCR c2", 1),
        ("INCRBYFLOAT c2 1.5", 1),
        ("SETRANGE c 0 ''", 0),
        ("SETRANGE c 0 y", 1),
        ("SETRANGE nz 0 ''", 0),
        ("SETBIT sb 3 1", 1),
        ("SETBIT sb 3 1", 0),
        ("SETBIT sb 3 0", 1),
        ("SETBIT sb 100 0", 1),
        ("BITOP OR d sb", 1),
        ("BITOP OR d nokey", 1),
        ("BITOP OR d nokey", 0),
        ("BITFIELD bf SET u8 0 1 SET u8 0 1 INCRBY u8 0 0", 3),
        ("BITFIELD bf SET u8 0 1 SET u8 0 2", 1),
        ("BITFIELD bf2 OVERFLOW FAIL INCRBY u2 0 100", 0),
        ("BITFIELD bf SET u8 100 0 GET u8 0", 1),
        ("BITFIELD bf SET u8 0 2 GET u8 0", 0),
        ("SET e x PXAT 1", 1),
        ("GET e", 0),
        ("SET k v EX 10 NX", 1),
        ("INCR s x", 0),
    ];
    for (line, want) in cases {
        let before = h.dirty();
        h.cmd(line);
        assert_eq!(h.dirty() - before, *want, "after {line}");
    }
}

#[test]
fn reads_count_hits_and_misses_writes_do_not() {
    let mut h = Harness::new();
    h.cmd("SET a 1");
    let cases: &[(&str, (u64, u64))] = &[
        ("GET a", (1, 0)),
        ("GET nokey", (0, 1)),
        ("MGET a nokey a", (2, 1)),
        ("STRLEN a", (1, 0)),
        ("GETRANGE a 0 1", (1, 0)),
        ("SET a 2 GET", (1, 0)),
        ("GETEX a", (1, 0)),
        ("LCS a nokey", (1, 1)),
        ("GETBIT a 0", (1, 0)),
        ("BITCOUNT a", (1, 0)),
        ("BITPOS a 1", (1, 0)),
        ("BITOP AND d a nokey", (1, 1)),
        ("BITFIELD a GET u8 0", (1, 0)),
        ("BITFIELD_RO a GET u8 0", (1, 0)),
        // Writes look keys up without statistics.
        ("SET a 3", (0, 0)),
        ("SETNX a 3", (0, 0)),
        ("INCR a", (0, 0)),
        ("APPEND a 1", (0, 0)),
        ("SETRANGE a 0 1", (0, 0)),
        ("SETBIT a 0 1", (0, 0)),
        ("BITFIELD a SET u8 0 1", (0, 0)),
        ("MSETNX a 1", (0, 0)),
        ("INCRBYFLOAT a 1", (0, 0)),
    ];
    for (line, (hits, misses)) in cases {
        let (h0, m0) = h.hits_misses();
        h.cmd(line);
        let (h1, m1) = h.hits_misses();
        assert_eq!((h1 - h0, m1 - m0), (*hits, *misses), "after {line}");
    }
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn wrong_type_replies_match_redis() {
    let mut h = Harness::new();
    h.plant_list("l");
    h.cmd("SET s x");
    let cases: &[(&str, &str)] = &[
        ("GET l", WRONGTYPE),
        ("SET l v GET", WRONGTYPE),
        ("SET l v XX GET", WRONGTYPE),
        (
            "SET l v EX 0 GET",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        ("GETSET l v", WRONGTYPE),
        ("GETDEL l", WRONGTYPE),
        ("GETEX l", WRONGTYPE),
        ("GETEX l EX 0", WRONGTYPE),
        ("GETEX l FOO", "-ERR syntax error\r\n"),
        ("MGET l nokey", "*2\r\n$-1\r\n$-1\r\n"),
        ("APPEND l x", WRONGTYPE),
        ("STRLEN l", WRONGTYPE),
        ("INCR l", WRONGTYPE),
        (
            "INCRBY l x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("DECRBY l 1", WRONGTYPE),
        ("INCRBYFLOAT l 1", WRONGTYPE),
        ("INCRBYFLOAT l x", WRONGTYPE),
        ("GETRANGE l 0 1", WRONGTYPE),
        (
            "GETRANGE l x 1",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("SETRANGE l 0 x", WRONGTYPE),
        ("SETRANGE l 0 ''", WRONGTYPE),
        ("SETRANGE l -1 x", "-ERR offset is out of range\r\n"),
        (
            "LCS l nokey",
            "-ERR The specified keys must contain string values\r\n",
        ),
        (
            "LCS nokey l IDX",
            "-ERR The specified keys must contain string values\r\n",
        ),
        (
            "LCS l nokey FOO",
            "-ERR The specified keys must contain string values\r\n",
        ),
        ("SETBIT l 0 1", WRONGTYPE),
        (
            "SETBIT l 0 2",
            "-ERR bit is not an integer or out of range\r\n",
        ),
        ("GETBIT l 0", WRONGTYPE),
        ("BITCOUNT l", WRONGTYPE),
        ("BITCOUNT l x y z", WRONGTYPE),
        ("BITPOS l 1", WRONGTYPE),
        ("BITPOS l 2", "-ERR The bit argument must be 1 or 0.\r\n"),
        ("BITOP AND d s l", WRONGTYPE),
        ("BITFIELD l GET u8 0", WRONGTYPE),
        ("BITFIELD l SET u8 0 1", WRONGTYPE),
        ("BITFIELD_RO l GET u8 0", WRONGTYPE),
        (
            "BITFIELD_RO l SET u8 0 1",
            "-ERR BITFIELD_RO only supports the GET subcommand\r\n",
        ),
        ("SETNX l v", ":0\r\n"),
        ("SET l v NX", "$-1\r\n"),
        ("MSETNX l v", ":0\r\n"),
    ];
    for (line, want) in cases {
        assert_eq!(h.cmd(line), *want, "{line}");
    }
    assert!(matches!(h.value("l"), Some(Value::List(_))));
    // BITOP overwrites a destination of any type.
    assert_eq!(h.cmd("BITOP NOT l s"), ":1\r\n");
    assert!(h.value("l").is_some_and(|v| v.is_string()));
}

#[test]
fn proto_max_bulk_len_limits_and_master_exemption() {
    let mut h = Harness::new();
    h.srv.config.write().proto_max_bulk_len = 1024 * 1024;
    let too_big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    let bad_offset = "-ERR bit offset is not an integer or out of range\r\n";
    let cases: &[(&str, &str)] = &[
        ("SETRANGE big 1048575 x", ":1048576\r\n"),
        ("SETRANGE big 1048575 xy", too_big),
        ("APPEND big 12345", too_big),
        ("SETBIT big 8388607 1", ":0\r\n"),
        ("SETBIT big 8388608 1", bad_offset),
        ("BITFIELD big SET u16 8388607 1", "*1\r\n:32768\r\n"),
        ("STRLEN big", ":1048578\r\n"),
        ("GETBIT big 8388608", bad_offset),
        (
            "LCS big big",
            "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n",
        ),
        ("BITFIELD big SET u8 #1048575 1", "*1\r\n:120\r\n"),
        ("BITFIELD big SET u8 #1048576 1", bad_offset),
        ("STRLEN big", ":1048578\r\n"),
        ("SETRANGE new 1048576 x", too_big),
    ];
    for (line, want) in cases {
        assert_eq!(h.cmd(line), *want, "{line}");
    }
    // The master link applies what its master accepted.
    h.client.kind = ClientKind::Master;
    assert_eq!(h.cmd("APPEND big 12345"), ":1048583\r\n");
    assert_eq!(h.cmd("SETBIT big 8388700 1"), ":0\r\n");
    assert_eq!(h.cmd("SETRANGE big 1048600 x"), ":1048601\r\n");
    // Sizes no memory can hold are refused rather than aborting the server.
    for line in [
        "SETRANGE big 9223372036854775000 x",
        "SETRANGE new 9223372036854775000 x",
        "SETBIT big 9223372036854775000 1",
        "SETBIT new 9223372036854775000 1",
        "BITFIELD big SET u8 9223372036854775000 1",
        "BITFIELD new SET u8 9223372036854775000 1",
    ] {
        assert_eq!(h.cmd(line), too_big, "{line}");
    }
    assert_eq!(h.cmd("STRLEN big"), ":1048601\r\n");
    assert_eq!(h.cmd("EXISTS new"), ":0\r\n");
}

#[test]
fn binary_safe_values_and_big_appends() {
    let mut h = Harness::new();
    let bin = Bytes::from_static(b"a\x00b\r\n\xff");
    let key = Bytes::from_static(b"k\x00");
    h.cmd_args(&[Bytes::from_static(b"SET"), key.clone(), bin.clone()]);
    assert_eq!(
        h.cmd_args(&[Bytes::from_static(b"GET"), key.clone()]),
        b"$6\r\na\x00b\r\n\xff\r\n"
    );
    assert_eq!(
        h.cmd_args(&[Bytes::from_static(b"STRLEN"), key.clone()]),
        b":6\r\n"
    );
    // Many appends stay linear: the buffer is reused, not copied, when nothing else holds it.
    for _ in 0..20_000 {
        h.cmd("APPEND big 0123456789");
    }
    assert_eq!(h.cmd("STRLEN big"), ":200000\r\n");
}

#[test]
fn unchanged_bitmaps_keep_their_version() {
    let mut h = Harness::new();
    let version = |h: &Harness| {
        let core = h.srv.core.lock();
        core.ks.dbs[0].table.get(b"b".as_slice()).map(|e| e.version)
    };
    h.cmd("SETBIT b 20 1");
    let v0 = version(&h);
    // No-ops on a raw string leave the entry alone (WATCH sees no change).
    assert_eq!(h.cmd("SETBIT b 20 1"), ":1\r\n");
    assert_eq!(h.cmd("SETBIT b 3 0"), ":0\r\n");
    assert_eq!(
        h.cmd("BITFIELD b SET u4 0 0 GET u8 0 OVERFLOW FAIL INCRBY u2 0 100"),
        "*3\r\n:0\r\n:0\r\n$-1\r\n"
    );
    assert_eq!(version(&h), v0);
    // Real changes go through.
    assert_eq!(
        h.cmd("BITFIELD b SET u4 0 3 GET u8 0"),
        "*2\r\n:0\r\n:48\r\n"
    );
    assert_ne!(version(&h), v0);
    assert_eq!(h.cmd("GET b"), "$3\r\n0\x00\x08\r\n");
}

#[test]
fn many_bitfield_subcommands_stay_fast() {
    let mut h = Harness::new();
    h.cmd("SETBIT b 80000 1");
    let mut args: Vec<Bytes> = vec![Bytes::from_static(b"BITFIELD"), Bytes::from_static(b"b")];
    for i in 0..20_000u64 {
        args.push(Bytes::from_static(b"INCRBY"));
        args.push(Bytes::from_static(b"u4"));
        args.push(Bytes::from(format!("#{}", i % 5000)));
        args.push(Bytes::from_static(b"1"));
    }
    let reply = h.cmd_args(&args);
    assert!(reply.starts_with(b"*20000\r\n:1\r\n"));
    assert!(reply.ends_with(b":4\r\n"));
}
