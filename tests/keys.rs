//! Keyspace commands, expiry and DEBUG: differential scripts against the real redis-server (replies
//! compared byte for byte), unordered comparisons for KEYS and complete SCAN iterations, expiry
//! observed by polling (no fixed sleeps), and DEBUG DIGEST agreement after the same writes.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn del_exists_type_touch_dbsize_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        DEL
        UNLINK
        EXISTS
        TYPE
        TYPE a b
        TOUCH
        DBSIZE x
        SET a 1
        SET b hello
        SET c ""
        DBSIZE
        EXISTS a b c nokey a
        TYPE a
        TYPE b
        TYPE nokey
        TOUCH a nokey b
        DEL a nokey
        DEL a
        EXISTS a
        UNLINK b c b
        DBSIZE
        SET "bin\x00key" v
        EXISTS "bin\x00key"
        DEL "bin\x00key"
        "#,
    );
    d.assert_clean();
}

#[test]
fn rename_move_copy_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        RENAME
        RENAME a
        RENAMENX a
        MOVE a
        COPY a
        RENAME nokey b
        RENAMENX nokey b
        SET a 1
        RENAME a a
        RENAMENX a a
        RENAME a b
        EXISTS a
        GET b
        SET c 3
        RENAMENX b c
        RENAMENX b d
        GET d
        RENAME d c
        GET c
        SET t v
        EXPIRE t 1000
        RENAME t t2
        TTL t2
        EXISTS t
        MOVE t2 x
        MOVE t2 -1
        MOVE t2 16
        MOVE t2 99999999999
        MOVE t2 0
        MOVE nokey 0
        MOVE nokey 1
        MOVE t2 1
        EXISTS t2
        SELECT 1
        TTL t2
        GET t2
        SET c other
        SELECT 0
        MOVE c 1
        GET c
        COPY c c
        COPY c c DB 0
        COPY c c2 DB
        COPY c c2 DB x
        COPY c c2 DB 16
        COPY c c2 DB 99999999999
        COPY c c2 FOO
        COPY nokey c2
        COPY c c2
        GET c2
        COPY c c2
        SET c changed
        COPY c c2 REPLACE
        GET c2
        COPY c c DB 1
        COPY c c DB 1 REPLACE
        SELECT 1
        GET c
        SELECT 0
        SET e v
        PEXPIRE e 1000000
        COPY e e2
        TTL e2
        SET n 12345
        COPY n n2
        OBJECT ENCODING n2
        SET big aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        COPY big big2
        OBJECT ENCODING big2
        SET src 1
        SET dst 2
        EXPIRE dst 100
        RENAME src dst
        TTL dst
        SET src 1
        RENAMENX src dst
        PERSIST
        PERSIST a b
        MOVE a b c
        COPY a
        RENAME a b c
        "#,
    );
    d.assert_clean();
}

#[test]
fn flush_and_swapdb_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        FLUSHDB x
        FLUSHDB async x
        FLUSHALL foo
        FLUSHALL SYNC ASYNC
        SWAPDB
        SWAPDB 0
        SWAPDB x 1
        SWAPDB 1 x
        SWAPDB 0 16
        SWAPDB -1 0
        SWAPDB 99999999999 0
        SET a 1
        SET b 2
        EXPIRE b 1000
        SELECT 1
        SET z 26
        SELECT 0
        SWAPDB 0 1
        DBSIZE
        GET z
        GET a
        SELECT 1
        DBSIZE
        TTL b
        SELECT 0
        SWAPDB 0 0
        DBSIZE
        SWAPDB 1 0
        TTL b
        FLUSHDB
        DBSIZE
        SELECT 1
        DBSIZE
        SELECT 0
        SET a 1
        FLUSHDB ASYNC
        DBSIZE
        SET a 1
        FLUSHDB sync
        SET a 1
        SELECT 2
        SET a 1
        FLUSHALL
        DBSIZE
        SELECT 0
        DBSIZE
        SET a 1
        FLUSHALL async
        DBSIZE
        "#,
    );
    d.assert_clean();
}

#[test]
fn expire_family_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        EXPIRE
        EXPIRE a
        PEXPIRE a
        EXPIREAT a
        PEXPIREAT a
        TTL
        PTTL a b
        EXPIRETIME
        PEXPIRETIME
        PERSIST
        EXPIRE nokey 10
        EXPIRE nokey x
        EXPIRE nokey 10 NX XX
        TTL nokey
        PTTL nokey
        EXPIRETIME nokey
        PEXPIRETIME nokey
        PERSIST nokey
        SET a 1
        TTL a
        PTTL a
        EXPIRETIME a
        PEXPIRETIME a
        PERSIST a
        EXPIRE a x
        EXPIRE a 1.5
        EXPIRE a 10 foo
        EXPIRE a 10 nx xx
        EXPIRE a 10 xx nx
        EXPIRE a 10 NX GT
        EXPIRE a 10 nx lt
        EXPIRE a 10 gt lt
        EXPIRE a 10 LT GT
        EXPIRE a x nx xx
        EXPIRE a 10 nx foo
        EXPIRE a 9223372036854775807
        EXPIRE a 9223372036854775
        EXPIRE a -9223372036854775808
        PEXPIRE a 9223372036854775807
        EXPIREAT a 9223372036854775807
        EXPIREAT a 9223372036854776
        EXPIRE a 100 XX
        EXPIRE a 100 GT
        EXPIRE a 100 NX
        TTL a
        EXPIRE a 50 GT
        EXPIRE a 200 gt
        TTL a
        EXPIRE a 300 LT
        EXPIRE a 50 lt
        TTL a
        EXPIRE a 50 nx
        EXPIRE a 500 xx
        TTL a
        PERSIST a
        PERSIST a
        TTL a
        EXPIRE a 50 LT
        TTL a
        PERSIST a
        EXPIRE a 10 GT
        PEXPIREAT a 4102444800000
        PEXPIRETIME a
        EXPIRETIME a
        TTL a
        EXPIREAT a 4102444801
        PEXPIRETIME a
        PEXPIREAT a 9223372036854775807
        PEXPIRETIME a
        EXPIREAT a 4102444800 GT
        EXPIREAT a 4102444800 LT
        PEXPIRETIME a
        EXPIRE a -1 LT
        EXISTS a
        SET b 1
        EXPIREAT b 1
        EXISTS b
        SET c 1
        PEXPIRE c -5
        EXISTS c
        SET d 1
        EXPIRE d 0
        EXISTS d
        SET e 1
        PEXPIREAT e 0 NX
        EXISTS e
        SET f 1
        EXPIRE f 100
        SET f 2
        TTL f
        SET g 1
        EXPIRE g 100
        EXPIRE g -1 GT
        TTL g
        DBSIZE
        "#,
    );
    d.assert_clean();
}

#[test]
fn object_and_randomkey_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        OBJECT
        OBJECT HELP
        OBJECT help x
        OBJECT foo a
        OBJECT ENCODING
        OBJECT ENCODING a b
        OBJECT REFCOUNT
        OBJECT FREQ
        OBJECT IDLETIME
        OBJECT ENCODING nokey
        OBJECT REFCOUNT nokey
        OBJECT IDLETIME nokey
        OBJECT FREQ nokey
        RANDOMKEY
        RANDOMKEY x
        SET i 12345
        SET zero 0
        SET shared 9999
        SET notshared 10000
        SET neg -5
        SET big 9223372036854775807
        SET over 9223372036854775808
        SET lead 0123
        SET s hello
        SET e ""
        SET s44 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        SET s45 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        OBJECT ENCODING i
        OBJECT ENCODING zero
        OBJECT ENCODING neg
        OBJECT ENCODING big
        OBJECT ENCODING over
        OBJECT ENCODING lead
        OBJECT ENCODING s
        OBJECT ENCODING e
        OBJECT ENCODING s44
        OBJECT ENCODING s45
        OBJECT REFCOUNT i
        OBJECT REFCOUNT zero
        OBJECT REFCOUNT shared
        OBJECT REFCOUNT notshared
        OBJECT REFCOUNT neg
        OBJECT REFCOUNT s
        OBJECT FREQ s
        SELECT 3
        RANDOMKEY
        SET only one
        RANDOMKEY
        "#,
    );
    d.assert_clean();
}

#[test]
fn object_idletime_counts_from_the_last_access() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut c = srv.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "k"]), b":0\r\n");
    // OBJECT itself does not refresh the clock (a 1-second clock): wait until it shows 2 seconds.
    wait_for("idle time to grow", Duration::from_secs(6), || {
        let r = String::from_utf8(c.cmd(&["OBJECT", "IDLETIME", "k"])).unwrap();
        r.trim_start_matches(':').trim().parse::<i64>().unwrap() >= 2
    });
    // A read refreshes it (0, or 1 if the clock ticked in between).
    c.cmd(&["GET", "k"]);
    let idle = c.cmd(&["OBJECT", "IDLETIME", "k"]);
    assert!(idle == b":0\r\n" || idle == b":1\r\n", "{idle:?}");
}

/// Parses `*2\r\n$n\r\ncursor\r\n*m\r\n$..` into the cursor and the keys.
fn parse_scan(r: &[u8]) -> (String, Vec<Vec<u8>>) {
    let text = r.to_vec();
    let mut lines = Vec::new();
    let mut i = 0;
    // Walk RESP elements by hand: bulk lengths let binary keys through.
    let read_line = |i: &mut usize| -> Vec<u8> {
        let start = *i;
        while !(text[*i] == b'\r' && text[*i + 1] == b'\n') {
            *i += 1;
        }
        let l = text[start..*i].to_vec();
        *i += 2;
        l
    };
    assert_eq!(read_line(&mut i), b"*2", "{:?}", String::from_utf8_lossy(r));
    let n: usize = String::from_utf8_lossy(&read_line(&mut i)[1..])
        .parse()
        .unwrap();
    let cursor = String::from_utf8_lossy(&text[i..i + n]).into_owned();
    i += n + 2;
    let m: usize = String::from_utf8_lossy(&read_line(&mut i)[1..])
        .parse()
        .unwrap();
    for _ in 0..m {
        let n: usize = String::from_utf8_lossy(&read_line(&mut i)[1..])
            .parse()
            .unwrap();
        lines.push(text[i..i + n].to_vec());
        i += n + 2;
    }
    (cursor, lines)
}

/// Runs SCAN with `opts` until the cursor returns to 0; returns the keys seen (with duplicates
/// counted) and the number of calls.
fn scan_all(c: &mut RawClient, opts: &[&str]) -> (Vec<Vec<u8>>, usize) {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", &cursor];
        args.extend_from_slice(opts);
        let (next, mut got) = parse_scan(&c.cmd(&args));
        keys.append(&mut got);
        calls += 1;
        assert!(calls < 100_000, "SCAN does not terminate");
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
    }
}

#[test]
fn keys_and_complete_scans_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        KEYS
        KEYS * x
        KEYS *
        SCAN
        SCAN x
        SCAN " 1"
        SCAN 1.5
        SCAN 0x10
        SCAN 18446744073709551616
        SCAN 0 COUNT
        SCAN 0 COUNT 0
        SCAN 0 COUNT -1
        SCAN 0 COUNT x
        SCAN 0 MATCH
        SCAN 0 TYPE
        SCAN 0 FOO bar
        SCAN "" COUNT 10
        SCAN +0
        SCAN -0
        "#,
    );
    let mut batch = String::new();
    for i in 0..600 {
        batch.push_str(&format!("SET user:{i} {i}\n"));
        if i % 3 == 0 {
            batch.push_str(&format!("SET item:{i}:name x{i}\n"));
        }
        if i % 7 == 0 {
            batch.push_str(&format!("SET tmp:{i} v\nPEXPIRE tmp:{i} 1000000\n"));
        }
    }
    batch.push_str(
        "SET \"we*ird\" 1\nSET \"a\\\\b\" 1\nSET \"h?llo\" 1\nSET hallo 1\nSET hbllo 1\n",
    );
    d.script(&batch);
    for pat in [
        "*",
        "user:1*",
        "user:?",
        "item:*:name",
        "*[0-2]",
        "*[^0-9]",
        "h?llo",
        "h[ab]llo",
        "h\\?llo",
        "we\\*ird",
        "a\\\\b",
        "nomatch*",
        "[",
        "*[",
    ] {
        d.run_unordered(&["KEYS", pat]);
    }
    d.run(&["DBSIZE"]);
    d.assert_clean();

    // Complete iterations return the same set of keys on both servers, for every option combination.
    for opts in [
        vec![],
        vec!["COUNT", "1"],
        vec!["COUNT", "7"],
        vec!["COUNT", "1000"],
        vec!["MATCH", "user:1*"],
        vec!["MATCH", "item:*", "COUNT", "3"],
        vec!["TYPE", "string"],
        vec!["TYPE", "STRING", "MATCH", "tmp:*"],
        vec!["TYPE", "list"],
        vec!["TYPE", "none"],
        vec!["MATCH", "*"],
    ] {
        let (want, _) = scan_all(&mut d.r, &opts);
        let (got, calls) = scan_all(&mut d.f, &opts);
        let want: BTreeSet<_> = want.into_iter().collect();
        let got_set: BTreeSet<_> = got.iter().cloned().collect();
        assert_eq!(
            got.len(),
            got_set.len(),
            "SCAN {opts:?} returned a key twice"
        );
        assert_eq!(want, got_set, "SCAN {opts:?}");
        if opts.is_empty() {
            // COUNT 10 over ~900 keys takes many steps, not one.
            assert!(calls > 20, "SCAN took {calls} calls");
        }
    }
}

#[test]
fn scan_skips_and_deletes_expired_keys() {
    let srv = Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"]);
    let mut c = srv.client();
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), b"+OK\r\n");
    for i in 0..50 {
        c.cmd(&["SET", &format!("live{i}"), "v"]);
        c.cmd(&["SET", &format!("dead{i}"), "v"]);
        c.cmd(&["PEXPIRE", &format!("dead{i}"), "30"]);
    }
    // A probe with the same TTL, set last: once it has expired, so have all the others.
    c.cmd(&["SET", "probe", "v"]);
    c.cmd(&["PEXPIRE", "probe", "30"]);
    wait_for("TTL keys to expire", Duration::from_secs(5), || {
        c.cmd(&["PTTL", "probe"]) == b":-2\r\n"
    });
    // KEYS hides expired keys but leaves them; SCAN hides and deletes them.
    let keys = sort_flat_array(&c.cmd(&["KEYS", "*"]));
    assert_eq!(keys.len(), 50);
    assert_eq!(c.cmd(&["DBSIZE"]), b":100\r\n");
    let (seen, _) = scan_all(&mut c, &[]);
    assert_eq!(seen.len(), 50);
    assert!(seen.iter().all(|k| k.starts_with(b"live")));
    assert_eq!(c.cmd(&["DBSIZE"]), b":50\r\n");
}

#[test]
fn keys_with_a_ttl_disappear_without_being_touched() {
    let srv = Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"]);
    let mut c = srv.client();
    for db in ["0", "5", "15"] {
        c.cmd(&["SELECT", db]);
        for i in 0..200 {
            c.cmd(&["SET", &format!("k{i}"), "v"]);
            c.cmd(&["PEXPIRE", &format!("k{i}"), "50"]);
        }
        c.cmd(&["SET", "keep", "v"]);
        c.cmd(&["SET", "later", "v"]);
        c.cmd(&["EXPIRE", "later", "1000"]);
    }
    // Only DBSIZE is asked: the keys themselves are never looked up, so only active expiry can
    // remove them.
    for db in ["0", "5", "15"] {
        c.cmd(&["SELECT", db]);
        wait_for(
            "active expiry to empty the TTL keys",
            Duration::from_secs(10),
            || c.cmd(&["DBSIZE"]) == b":2\r\n",
        );
    }
    assert_eq!(c.cmd(&["TTL", "later"]), b":1000\r\n");
}

#[test]
fn set_active_expire_zero_stops_the_cycle() {
    let srv = Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"]);
    let mut c = srv.client();
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), b"+OK\r\n");
    for k in ["idle", "probe"] {
        c.cmd(&["SET", k, "v"]);
        c.cmd(&["PEXPIRE", k, "40"]);
    }
    // The probe, set last, is looked up (lazy expiry); once it is gone, `idle` has expired too.
    wait_for("probe to expire", Duration::from_secs(5), || {
        c.cmd(&["EXISTS", "probe"]) == b":0\r\n"
    });
    // Several cron periods (hz 10) pass while `idle` stays stored.
    let until = Instant::now() + Duration::from_millis(400);
    while Instant::now() < until {
        assert_eq!(c.cmd(&["DBSIZE"]), b":1\r\n");
        std::thread::yield_now();
    }
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), b"+OK\r\n");
    wait_for("active expiry to resume", Duration::from_secs(5), || {
        c.cmd(&["DBSIZE"]) == b":0\r\n"
    });
}

#[test]
fn ttl_counts_down_and_the_key_expires() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut c = srv.client();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["PEXPIRE", "k", "300"]);
    let pttl = String::from_utf8(c.cmd(&["PTTL", "k"])).unwrap();
    let ms: i64 = pttl.trim_start_matches(':').trim().parse().unwrap();
    assert!((1..=300).contains(&ms), "PTTL {ms}");
    assert_eq!(c.cmd(&["TTL", "k"]), b":0\r\n");
    c.cmd(&["PEXPIRE", "k", "150"]);
    wait_for("k to expire", Duration::from_secs(5), || {
        c.cmd(&["GET", "k"]) == b"$-1\r\n"
    });
    assert_eq!(c.cmd(&["TTL", "k"]), b":-2\r\n");
    assert_eq!(c.cmd(&["EXISTS", "k"]), b":0\r\n");
}

#[test]
fn debug_digest_agrees_with_redis_after_the_same_writes() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        DEBUG DIGEST
        DEBUG DIGEST-VALUE
        DEBUG DIGEST-VALUE nokey
        SET a 1
        DEBUG DIGEST
        SET b hello
        SET c ""
        SET n -12345
        SET big 9223372036854775807
        SET long aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        SET bin "\x00\x01\xff"
        SET t1 v
        EXPIRE t1 1000
        SET t2 12
        PEXPIRE t2 100000000
        DEBUG DIGEST
        DEBUG DIGEST-VALUE a b c n big long bin t1 t2 nokey
        SELECT 1
        SET a 1
        SET other x
        EXPIRE other 500
        DEBUG DIGEST
        SELECT 15
        SET last z
        DEBUG DIGEST
        SWAPDB 1 15
        DEBUG DIGEST
        MOVE last 3
        DEBUG DIGEST
        COPY last last2 DB 0
        RENAME last last3
        DEBUG DIGEST
        SELECT 0
        PERSIST t1
        DEBUG DIGEST
        EXPIRE a 100
        DEBUG DIGEST-VALUE a t1
        DEBUG DIGEST
        DEL b
        FLUSHDB
        DEBUG DIGEST
        FLUSHALL
        DEBUG DIGEST
        DEBUG POPULATE 20000 k 30
        SELECT 2
        DEBUG POPULATE 5000
        DEBUG DIGEST
        SWAPDB 2 9
        RENAME k:17 moved
        DEBUG DIGEST
        "#,
    );
    d.assert_clean();
}

#[test]
fn debug_subcommands_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        DEBUG
        DEBUG foo
        DEBUG digest x
        DEBUG sleep
        DEBUG sleep 0
        DEBUG SLEEP 0.01
        DEBUG sleep abc
        DEBUG set-active-expire
        DEBUG set-active-expire 1
        DEBUG object nokey
        DEBUG populate
        DEBUG populate -1
        DEBUG populate x
        DEBUG populate 3 p -1
        DEBUG populate 5
        DBSIZE
        GET key:0
        GET key:4
        DEBUG populate 3 p 2
        GET p:1
        DEBUG populate 2 q 12
        GET q:1
        DEBUG populate 6
        DBSIZE
        DEBUG DIGEST
        DEBUG protocol string
        DEBUG protocol INTEGER
        DEBUG protocol double
        DEBUG protocol bignum
        DEBUG protocol null
        DEBUG protocol array
        DEBUG protocol set
        DEBUG protocol map
        DEBUG protocol attrib
        DEBUG protocol push
        DEBUG protocol verbatim
        DEBUG protocol true
        DEBUG protocol false
        DEBUG protocol foo
        DEBUG protocol
        DEBUG log hello
        DEBUG error "MYERR some text"
        DEBUG error x
        "#,
    );
    d.assert_clean();
}

#[test]
fn debug_object_line_has_redis_fields() {
    let srv = Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"]);
    let mut c = srv.client();
    c.cmd(&["SET", "s", "hello"]);
    let line = String::from_utf8(c.cmd(&["DEBUG", "OBJECT", "s"])).unwrap();
    assert!(line.starts_with("+Value at:0x"), "{line}");
    assert!(
        line.contains(" refcount:1 encoding:embstr serializedlength:6 lru:"),
        "{line}"
    );
    assert!(line.contains(" lru_seconds_idle:0\r\n"), "{line}");
    c.cmd(&["SET", "n", "10"]);
    let line = String::from_utf8(c.cmd(&["DEBUG", "OBJECT", "n"])).unwrap();
    assert!(
        line.contains(" refcount:2147483647 encoding:int serializedlength:2 "),
        "{line}"
    );
    assert_eq!(
        c.cmd(&["DEBUG", "SEGFAULT"]),
        b"-ERR DEBUG SEGFAULT is not supported by ferredis\r\n"
    );
}

#[test]
fn debug_is_refused_unless_enabled() {
    let mut d = Diff::new(&["--enable-debug-command", "no"]);
    d.script(
        "DEBUG DIGEST
         DEBUG HELP
         DEBUG
         DEBUG SLEEP 0",
    );
    d.assert_clean();
    // `local` allows loopback clients (the tests connect from 127.0.0.1).
    let mut d = Diff::new(&["--enable-debug-command", "local"]);
    d.script(
        "SET a 1
         DEBUG DIGEST
         DEBUG DIGEST-VALUE a",
    );
    d.assert_clean();
}

#[test]
fn debug_sleep_blocks_the_whole_server() {
    let srv = Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"]);
    let mut a = srv.client();
    let mut b = srv.client();
    let start = Instant::now();
    a.send_raw(&RawClient::encode(&[b"DEBUG", b"SLEEP", b"0.6"]));
    // Some PING sent while the sleep runs must wait for it.
    let mut blocked = false;
    while start.elapsed() < Duration::from_millis(500) {
        let t = Instant::now();
        assert_eq!(b.cmd(&["PING"]), b"+PONG\r\n");
        if t.elapsed() >= Duration::from_millis(100) {
            blocked = true;
            break;
        }
    }
    assert!(blocked, "PING was never delayed by DEBUG SLEEP");
    assert_eq!(a.read_reply(), b"+OK\r\n");
    assert!(start.elapsed() >= Duration::from_millis(600));
}

/// A parsed RESP2 reply, enough for COMMAND INFO.
#[derive(Debug)]
enum Resp {
    Str(String),
    Int(i64),
    Arr(Vec<Resp>),
    Nil,
}

fn parse_resp(r: &[u8], i: &mut usize) -> Resp {
    let end = *i + r[*i..].windows(2).position(|w| w == b"\r\n").unwrap();
    let line = String::from_utf8_lossy(&r[*i + 1..end]).into_owned();
    let kind = r[*i];
    *i = end + 2;
    match kind {
        b'+' | b'-' => Resp::Str(line),
        b':' => Resp::Int(line.parse().unwrap()),
        b'$' => {
            let n: i64 = line.parse().unwrap();
            if n < 0 {
                return Resp::Nil;
            }
            let s = String::from_utf8_lossy(&r[*i..*i + n as usize]).into_owned();
            *i += n as usize + 2;
            Resp::Str(s)
        }
        b'*' => {
            let n: i64 = line.parse().unwrap();
            Resp::Arr((0..n.max(0)).map(|_| parse_resp(r, i)).collect())
        }
        other => panic!("unexpected {}", other as char),
    }
}

fn strs(v: &Resp) -> BTreeSet<String> {
    match v {
        Resp::Arr(a) => a
            .iter()
            .map(|x| match x {
                Resp::Str(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// Compares one COMMAND INFO entry of the real Redis with ferredis's table row.
fn check_row(info: &Resp, mismatches: &mut Vec<String>, checked: &mut usize) {
    *checked += 1;
    let Resp::Arr(f) = info else {
        panic!("{info:?}")
    };
    let Resp::Str(name) = &f[0] else { panic!() };
    let Some(spec) = lookup_spec(name) else {
        mismatches.push(format!("{name}: missing from the table"));
        return;
    };
    let int = |v: &Resp| match v {
        Resp::Int(n) => *n,
        other => panic!("{other:?}"),
    };
    let our_flags: BTreeSet<String> = ferredis::cmd::flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let our_acl: BTreeSet<String> = spec.acl.split_whitespace().map(String::from).collect();
    let ours = (
        spec.arity as i64,
        our_flags,
        spec.first_key as i64,
        spec.last_key as i64,
        spec.step as i64,
        our_acl,
    );
    let theirs = (
        int(&f[1]),
        strs(&f[2]),
        int(&f[3]),
        int(&f[4]),
        int(&f[5]),
        strs(&f[6]),
    );
    if ours != theirs {
        mismatches.push(format!(
            "{name}:\n   redis:    {theirs:?}\n   ferredis: {ours:?}"
        ));
    }
    if let Some(Resp::Arr(subs)) = f.get(9) {
        for s in subs {
            check_row(s, mismatches, checked);
        }
    }
}

fn lookup_spec(name: &str) -> Option<&'static ferredis::cmd::CommandSpec> {
    match name.split_once('|') {
        None => ferredis::cmd::lookup(name.as_bytes()),
        Some((top, _)) => ferredis::cmd::lookup(top.as_bytes())?
            .subcommands
            .iter()
            .find(|s| s.name == name),
    }
}

#[test]
fn command_table_rows_match_redis_command_info() {
    let redis = Server::start(Kind::Redis, &[]);
    let mut c = redis.client();
    let names = [
        "del",
        "unlink",
        "exists",
        "type",
        "keys",
        "scan",
        "randomkey",
        "rename",
        "renamenx",
        "move",
        "copy",
        "dbsize",
        "flushdb",
        "flushall",
        "swapdb",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "persist",
        "touch",
        "object",
        "debug",
    ];
    let mut args = vec!["COMMAND", "INFO"];
    args.extend_from_slice(&names);
    let reply = c.cmd(&args);
    let Resp::Arr(infos) = parse_resp(&reply, &mut 0) else {
        panic!()
    };
    assert_eq!(infos.len(), names.len());
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for info in &infos {
        check_row(info, &mut mismatches, &mut checked);
    }
    // The 27 commands and OBJECT's 5 subcommands.
    assert_eq!(checked, 32);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Compares COMMAND DOCS summary, since, group and complexity of one command (and its subcommands)
/// with the table.
fn check_docs(name: &str, docs: &Resp, mismatches: &mut Vec<String>, checked: &mut usize) {
    *checked += 1;
    let Resp::Arr(kv) = docs else {
        panic!("{docs:?}")
    };
    let field = |k: &str| {
        kv.chunks(2).find_map(|p| match (&p[0], &p[1]) {
            (Resp::Str(key), v) if key == k => Some(v),
            _ => None,
        })
    };
    let text = |k: &str| match field(k) {
        Some(Resp::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let Some(spec) = lookup_spec(name) else {
        mismatches.push(format!("{name}: missing from the table"));
        return;
    };
    let theirs = (
        text("summary"),
        text("since"),
        text("group"),
        text("complexity"),
    );
    let ours = (
        spec.summary.to_string(),
        spec.since.to_string(),
        spec.group.to_string(),
        spec.complexity.to_string(),
    );
    if ours != theirs {
        mismatches.push(format!(
            "{name}:\n   redis:    {theirs:?}\n   ferredis: {ours:?}"
        ));
    }
    if let Some(Resp::Arr(subs)) = field("subcommands") {
        for p in subs.chunks(2) {
            let Resp::Str(sub) = &p[0] else { panic!() };
            check_docs(sub, &p[1], mismatches, checked);
        }
    }
}

#[test]
fn command_table_docs_match_redis_command_docs() {
    let redis = Server::start(Kind::Redis, &[]);
    let mut c = redis.client();
    let names = [
        "del",
        "unlink",
        "exists",
        "type",
        "keys",
        "scan",
        "randomkey",
        "rename",
        "renamenx",
        "move",
        "copy",
        "dbsize",
        "flushdb",
        "flushall",
        "swapdb",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "persist",
        "touch",
        "object",
        "debug",
    ];
    let mut args = vec!["COMMAND", "DOCS"];
    args.extend_from_slice(&names);
    let reply = c.cmd(&args);
    let Resp::Arr(flat) = parse_resp(&reply, &mut 0) else {
        panic!()
    };
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for p in flat.chunks(2) {
        let Resp::Str(name) = &p[0] else { panic!() };
        check_docs(name, &p[1], &mut mismatches, &mut checked);
    }
    assert_eq!(checked, 32);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn debug_reload_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        DEBUG RELOAD NOSAVE
        DEBUG RELOAD foo
        DEBUG RELOAD MERGE bar
        SET a 1
        SET b hello
        SET long aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        SET t v
        EXPIRE t 1000
        SELECT 4
        SET other x
        SELECT 0
        DEBUG DIGEST
        DEBUG RELOAD
        DEBUG DIGEST
        DBSIZE
        GET long
        TTL t
        OBJECT ENCODING a
        OBJECT ENCODING long
        SET a changed
        SET new 1
        DEBUG RELOAD NOSAVE
        GET a
        EXISTS new
        SET extra 1
        SET b different
        DEBUG RELOAD NOSAVE NOFLUSH MERGE
        GET extra
        GET b
        DEBUG DIGEST
        SELECT 4
        GET other
        "#,
    );
    d.assert_clean();
}

/// Random sequences of keyspace commands over a few keys and databases, the same on both servers:
/// every reply must be identical, and so must the dataset digest along the way. Only commands
/// whose replies do not depend on timing or randomness are drawn (absolute expiry times for the
/// GT/LT/NX/XX options; relative ones only without options).
#[test]
fn random_keyspace_operations_match_redis() {
    use rand::{Rng, SeedableRng};
    let mut d = Diff::new(&[]);
    for seed in [1u64, 2, 3] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let keys = ["a", "b", "c", "d", "n", "s"];
        let vals = ["1", "x", "", "12345678901234567890", "-7", "hello world"];
        let far = 4_102_444_800u64; // 2100-01-01
        for step in 0..1500 {
            let k = keys[rng.gen_range(0..keys.len())];
            let k2 = keys[rng.gen_range(0..keys.len())];
            let db = rng.gen_range(0..3).to_string();
            let at = (far + rng.gen_range(0..5u64) * 1000).to_string();
            let opt = ["NX", "XX", "GT", "LT", ""][rng.gen_range(0..5)];
            let cmd: Vec<String> = match rng.gen_range(0..24) {
                0..=3 => vec![
                    "SET".into(),
                    k.into(),
                    vals[rng.gen_range(0..vals.len())].into(),
                ],
                4 => vec!["DEL".into(), k.into(), k2.into()],
                5 => vec!["UNLINK".into(), k.into()],
                6 => vec!["EXISTS".into(), k.into(), k2.into(), k.into()],
                7 => vec!["TYPE".into(), k.into()],
                8 => vec!["RENAME".into(), k.into(), k2.into()],
                9 => vec!["RENAMENX".into(), k.into(), k2.into()],
                10 => vec!["MOVE".into(), k.into(), db],
                11 => {
                    let mut c = vec!["COPY".into(), k.into(), k2.into(), "DB".into(), db];
                    if rng.gen_bool(0.5) {
                        c.push("REPLACE".into());
                    }
                    c
                }
                12 => {
                    let mut c = vec!["EXPIREAT".into(), k.into(), at];
                    if !opt.is_empty() {
                        c.push(opt.into());
                    }
                    c
                }
                13 => vec![
                    "EXPIRE".into(),
                    k.into(),
                    (rng.gen_range(1..5) * 1000).to_string(),
                ],
                14 => vec!["PERSIST".into(), k.into()],
                15 => vec!["TTL".into(), k.into()],
                16 => vec!["EXPIRETIME".into(), k.into()],
                17 => vec!["SELECT".into(), db],
                18 => vec!["DBSIZE".into()],
                19 => vec!["SWAPDB".into(), db, rng.gen_range(0..3).to_string()],
                20 => vec!["OBJECT".into(), "ENCODING".into(), k.into()],
                21 => vec!["DEBUG".into(), "DIGEST-VALUE".into(), k.into(), k2.into()],
                22 => vec!["PEXPIREAT".into(), k.into(), "1".into()],
                _ => {
                    if step % 100 == 0 {
                        vec!["FLUSHDB".into()]
                    } else {
                        vec!["TOUCH".into(), k.into(), k2.into()]
                    }
                }
            };
            let refs: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            d.run(&refs);
            if step % 50 == 0 {
                d.run(&["DEBUG", "DIGEST"]);
                d.run_unordered(&["KEYS", "*"]);
            }
        }
        d.run(&["DEBUG", "DIGEST"]);
        d.run(&["FLUSHALL"]);
    }
    d.assert_clean();
}

#[test]
fn debug_local_allows_unix_socket_clients() {
    use std::io::{Read, Write};
    let dir = scratch_dir("keys-unix");
    let sock = dir.join("ferredis.sock");
    let srv = Server::start(
        Kind::Ferredis,
        &[
            "--enable-debug-command",
            "local",
            "--unixsocket",
            sock.to_str().unwrap(),
        ],
    );
    let mut u = std::os::unix::net::UnixStream::connect(&sock).expect("unix socket");
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    u.write_all(b"*2\r\n$5\r\nDEBUG\r\n$6\r\nDIGEST\r\n")
        .unwrap();
    let want = format!("+{}\r\n", "0".repeat(40));
    let mut got = vec![0u8; want.len()];
    u.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    // And loopback TCP clients are local too.
    let mut c = srv.client();
    assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), want.as_bytes());
}

#[test]
fn object_under_lru_and_lfu_policies_matches_redis() {
    // With a maxmemory LRU policy small integers are not shared (refcount 1).
    let mut d = Diff::new(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]);
    d.script(
        "SET n 10
         OBJECT REFCOUNT n
         OBJECT ENCODING n
         OBJECT IDLETIME n
         OBJECT FREQ n",
    );
    d.assert_clean();
    // Under LFU, idle time is not tracked.
    let mut d = Diff::new(&["--maxmemory-policy", "volatile-lfu"]);
    d.script(
        "SET n 10
         OBJECT IDLETIME n
         OBJECT IDLETIME nokey
         OBJECT REFCOUNT n",
    );
    d.assert_clean();
}

#[test]
fn resp3_replies_match_redis() {
    let mut d = Diff::new(&[]);
    // The HELLO replies differ only by client id.
    d.r.cmd(&["HELLO", "3"]);
    d.f.cmd(&["HELLO", "3"]);
    d.script(
        r#"
        RANDOMKEY
        OBJECT ENCODING nokey
        OBJECT REFCOUNT nokey
        OBJECT HELP
        SET a 1
        TYPE a
        SCAN 0
        KEYS *
        TTL a
        DEBUG DIGEST-VALUE a nokey
        DEBUG PROTOCOL string
        DEBUG PROTOCOL integer
        DEBUG PROTOCOL double
        DEBUG PROTOCOL bignum
        DEBUG PROTOCOL null
        DEBUG PROTOCOL array
        DEBUG PROTOCOL set
        DEBUG PROTOCOL map
        DEBUG PROTOCOL attrib
        DEBUG PROTOCOL push
        DEBUG PROTOCOL verbatim
        DEBUG PROTOCOL true
        DEBUG PROTOCOL false
        "#,
    );
    d.assert_clean();
}

#[test]
fn command_info_and_docs_of_the_family_match_redis_byte_for_byte() {
    let mut d = Diff::new(&[]);
    for name in [
        "del",
        "unlink",
        "exists",
        "type",
        "keys",
        "scan",
        "randomkey",
        "rename",
        "renamenx",
        "move",
        "copy",
        "dbsize",
        "flushdb",
        "flushall",
        "swapdb",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "persist",
        "touch",
        "debug",
        "object|encoding",
        "object|freq",
        "object|help",
        "object|idletime",
        "object|refcount",
    ] {
        d.run(&["COMMAND", "INFO", name]);
        d.run(&["COMMAND", "DOCS", name]);
    }
    d.assert_clean();
}

#[test]
fn keyspace_hits_and_misses_are_counted_as_in_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        SET a 1
        SET b 2
        EXISTS a nokey b
        TYPE a
        TYPE nokey
        TTL a
        PTTL nokey
        EXPIRETIME a
        TOUCH a nokey
        OBJECT ENCODING a
        OBJECT REFCOUNT nokey
        COPY a c
        COPY nokey d
        RENAME a e
        MOVE b 1
        EXPIRE e 100
        PERSIST e
        DEL e nokey
        SCAN 0 TYPE string
        KEYS *
        RANDOMKEY
        DEBUG DIGEST-VALUE c nokey
        "#,
    );
    d.assert_clean();
    d.assert_same_info(
        "stats",
        &["keyspace_hits", "keyspace_misses", "expired_keys"],
    );
}

#[test]
fn active_expiry_shows_in_info() {
    let srv = Server::start(Kind::Ferredis, &["--hz", "50"]);
    let mut c = srv.client();
    for i in 0..300 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
        c.cmd(&["PEXPIRE", &format!("k{i}"), "20"]);
    }
    for i in 0..10 {
        c.cmd(&["SET", &format!("live{i}"), "v"]);
        c.cmd(&["EXPIRE", &format!("live{i}"), "1000"]);
    }
    wait_for("active expiry", Duration::from_secs(10), || {
        c.info_field("stats", "expired_keys").as_deref() == Some("300")
    });
    let line = c.info_field("keyspace", "db0").expect("db0 line");
    assert!(line.starts_with("keys=10,expires=10,avg_ttl="), "{line}");
    wait_for("avg_ttl estimate", Duration::from_secs(10), || {
        let line = c.info_field("keyspace", "db0").unwrap_or_default();
        let avg: i64 = line.rsplit('=').next().unwrap_or("0").parse().unwrap_or(0);
        avg > 900_000
    });
    let perc: f64 = c
        .info_field("stats", "expired_stale_perc")
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..=100.0).contains(&perc), "{perc}");
}

/// UNLINK, DEL under `lazyfree-lazy-user-del`, FLUSHDB/FLUSHALL ASYNC and FLUSHALL under
/// `lazyfree-lazy-user-flush`, overwrites under `lazyfree-lazy-server-del` and expiry under
/// `lazyfree-lazy-expire` free in the background what Redis frees there: INFO's
/// `lazyfreed_objects` grows by one per costly value (more than 64 elements of a hashtable or
/// skiplist, 64 quicklist nodes) and by one per key of a flushed database, and by nothing for cheap
/// values or synchronous flushes. Both servers must reach each step's count (Redis counts a free
/// just after it stops showing it as pending, so each count is awaited, not read once).
#[test]
fn lazy_free_counts_match_redis() {
    let members = |cmd: &str, key: &str, n: usize, pair: fn(usize) -> Vec<String>| {
        let mut v = vec![cmd.to_string(), key.to_string()];
        for i in 0..n {
            v.extend(pair(i));
        }
        v
    };
    // (command, lazyfreed_objects after it)
    let steps: Vec<(Vec<String>, u64)> = vec![
        (members("SADD", "small", 3, |i| vec![i.to_string()]), 0),
        (vec!["UNLINK".into(), "small".into()], 0),
        (members("SADD", "bigset", 100, |i| vec![format!("{i}x")]), 0),
        (vec!["UNLINK".into(), "bigset".into()], 1),
        (
            members("RPUSH", "longlist", 1000, |i| vec![format!("{i}x")]),
            1,
        ),
        (vec!["UNLINK".into(), "longlist".into()], 1),
        (
            members("ZADD", "bigz", 200, |i| {
                vec![i.to_string(), format!("{i}x")]
            }),
            1,
        ),
        (vec!["DEL".into(), "bigz".into()], 1),
        (
            ["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]
                .map(String::from)
                .to_vec(),
            1,
        ),
        // Past hash-max-listpack-entries (512): a hashtable.
        (
            members("HSET", "bigh", 600, |i| vec![format!("{i}f"), "v".into()]),
            1,
        ),
        (vec!["DEL".into(), "bigh".into()], 2),
        (["DEBUG", "POPULATE", "1000"].map(String::from).to_vec(), 2),
        (["FLUSHALL", "ASYNC"].map(String::from).to_vec(), 1002),
        (
            ["DEBUG", "POPULATE", "100"].map(String::from).to_vec(),
            1002,
        ),
        (["FLUSHDB", "ASYNC"].map(String::from).to_vec(), 1102),
        (["FLUSHALL", "ASYNC"].map(String::from).to_vec(), 1102),
        (["DEBUG", "POPULATE", "10"].map(String::from).to_vec(), 1102),
        (vec!["FLUSHALL".into()], 1102),
        (
            ["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]
                .map(String::from)
                .to_vec(),
            1102,
        ),
        (["DEBUG", "POPULATE", "7"].map(String::from).to_vec(), 1102),
        (vec!["FLUSHALL".into()], 1109),
        (["DEBUG", "POPULATE", "3"].map(String::from).to_vec(), 1109),
        (["FLUSHDB", "SYNC"].map(String::from).to_vec(), 1109),
        // An overwrite frees the old value in the background under lazyfree-lazy-server-del.
        (
            members("SADD", "over", 100, |i| vec![format!("{i}x")]),
            1109,
        ),
        (["SET", "over", "x"].map(String::from).to_vec(), 1109),
        (
            ["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]
                .map(String::from)
                .to_vec(),
            1109,
        ),
        (
            members("SADD", "over2", 100, |i| vec![format!("{i}x")]),
            1109,
        ),
        (["SET", "over2", "x"].map(String::from).to_vec(), 1110),
        // So does a destination that RENAME or COPY ... REPLACE replaces.
        (members("SADD", "ren", 100, |i| vec![format!("{i}x")]), 1110),
        (["SET", "rsrc", "v"].map(String::from).to_vec(), 1110),
        (["RENAME", "rsrc", "ren"].map(String::from).to_vec(), 1111),
        (
            members("SADD", "cdst", 100, |i| vec![format!("{i}x")]),
            1111,
        ),
        (
            ["COPY", "ren", "cdst", "REPLACE"]
                .map(String::from)
                .to_vec(),
            1112,
        ),
    ];
    for kind in [Kind::Redis, Kind::Ferredis] {
        let s = Server::start(kind, &["--enable-debug-command", "yes"]);
        let mut c = s.client();
        for (cmd, freed) in &steps {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let reply = c.cmd(&args);
            assert_ne!(reply.first(), Some(&b'-'), "{kind:?} {}", cmd[0]);
            let want = freed.to_string();
            wait_for(
                &format!("{kind:?}: lazyfreed_objects {want} after {}", cmd[0]),
                Duration::from_secs(30),
                || {
                    c.info_field("memory", "lazyfree_pending_objects")
                        .as_deref()
                        == Some("0")
                        && c.info_field("memory", "lazyfreed_objects").as_deref()
                            == Some(want.as_str())
                },
            );
        }
        // Under lazyfree-lazy-expire an expired costly value leaves the same way (found expired
        // by a lookup or by the active cycle, whichever comes first).
        let base = steps.last().map_or(0, |s| s.1);
        c.cmd(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
        let add = members("SADD", "exp", 100, |i| vec![format!("{i}x")]);
        c.cmd(&add.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(c.cmd(&["PEXPIRE", "exp", "1"]), b":1\r\n");
        let want = (base + 1).to_string();
        wait_for(
            &format!("{kind:?}: the expired set freed in the background"),
            Duration::from_secs(30),
            || {
                c.cmd(&["EXISTS", "exp"]) == b":0\r\n"
                    && c.info_field("memory", "lazyfree_pending_objects")
                        .as_deref()
                        == Some("0")
                    && c.info_field("memory", "lazyfreed_objects").as_deref() == Some(want.as_str())
            },
        );
    }
}
