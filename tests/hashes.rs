//! Differential tests of the hash command family: every reply of ferredis is compared byte for byte
//! with a real redis-server 7.0 given the same commands, in RESP2 and RESP3, from hand-written
//! scripts per command, encoding transitions under small listpack limits, and seeded random streams
//! mixing hash and string commands over a few keys (so WRONGTYPE happens), ending with DEBUG DIGEST.
//!
//! A listpack-encoded hash is returned in insertion order by Redis, so HGETALL/HKEYS/HVALS/HSCAN of
//! such a hash are compared exactly; a hashtable's order is Redis's own, so those replies are
//! compared as multisets. HRANDFIELD is compared by shape, with membership and uniqueness checked.

mod common;
use common::*;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A parsed RESP2/RESP3 reply, enough to compare replies regardless of element order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Resp {
    /// Simple strings, errors, integers, doubles, nulls: the whole line with its type byte.
    Line(Vec<u8>),
    Bulk(Vec<u8>),
    /// Arrays, maps (flattened), sets: type byte and elements.
    Agg(u8, Vec<Resp>),
}

fn parse(r: &[u8]) -> Resp {
    let (v, used) = parse_at(r, 0);
    assert_eq!(
        used,
        r.len(),
        "trailing bytes in {:?}",
        String::from_utf8_lossy(r)
    );
    v
}

fn parse_at(r: &[u8], i: usize) -> (Resp, usize) {
    let nl = i + r[i..].iter().position(|&b| b == b'\n').expect("line");
    let line = &r[i..nl - 1];
    let num = || -> i64 { std::str::from_utf8(&line[1..]).unwrap().parse().unwrap() };
    match line[0] {
        b'$' | b'=' => {
            let n = num();
            if n < 0 {
                return (Resp::Line(line.to_vec()), nl + 1);
            }
            let s = nl + 1;
            (
                Resp::Bulk(r[s..s + n as usize].to_vec()),
                s + n as usize + 2,
            )
        }
        t @ (b'*' | b'%' | b'~' | b'>') => {
            let n = num();
            if n < 0 {
                return (Resp::Line(line.to_vec()), nl + 1);
            }
            let n = if t == b'%' { 2 * n } else { n };
            let mut pos = nl + 1;
            let mut items = Vec::new();
            for _ in 0..n {
                let (v, p) = parse_at(r, pos);
                items.push(v);
                pos = p;
            }
            (Resp::Agg(t, items), pos)
        }
        _ => (Resp::Line(line.to_vec()), nl + 1),
    }
}

/// Sorts a reply's elements (in pairs when `pairs`), for replies whose order Redis leaves open.
fn unordered(r: &[u8], pairs: bool) -> Resp {
    match parse(r) {
        Resp::Agg(t, items) if pairs => {
            let mut ps: Vec<Resp> = items
                .chunks(2)
                .map(|c| Resp::Agg(b'p', c.to_vec()))
                .collect();
            ps.sort();
            Resp::Agg(t, ps)
        }
        Resp::Agg(t, mut items) => {
            items.sort();
            Resp::Agg(t, items)
        }
        other => other,
    }
}

/// An HSCAN reply with its element pairs sorted.
fn unordered_scan(r: &[u8]) -> Resp {
    match parse(r) {
        Resp::Agg(t, items) if items.len() == 2 => {
            let mut it = items.into_iter();
            let cursor = it.next().unwrap();
            let elems = match it.next().unwrap() {
                Resp::Agg(t2, e) => {
                    let mut ps: Vec<Resp> =
                        e.chunks(2).map(|c| Resp::Agg(b'p', c.to_vec())).collect();
                    ps.sort();
                    Resp::Agg(t2, ps)
                }
                other => other,
            };
            Resp::Agg(t, vec![cursor, elems])
        }
        other => other,
    }
}

fn record(d: &mut Diff, what: String, want: Resp, got: Resp) {
    d.count += 1;
    if want != got {
        d.mismatches.push(format!(
            "{what}\n   redis:    {want:?}\n   ferredis: {got:?}"
        ));
    }
}

fn hello3(d: &mut Diff) {
    // HELLO's reply carries the client id, which may differ: switch both without comparing.
    d.r.cmd(&["HELLO", "3"]);
    d.f.cmd(&["HELLO", "3"]);
}

/// Runs a script on fresh servers in RESP2, then again in RESP3.
fn diff_both(args: &[&str], script: &str) {
    for resp3 in [false, true] {
        let mut d = Diff::new(args);
        if resp3 {
            hello3(&mut d);
        }
        d.script(script);
        if !d.mismatches.is_empty() {
            d.mismatches.insert(0, format!("(resp3: {resp3})"));
        }
        d.assert_clean();
    }
}

#[test]
fn hset_hmset_hsetnx_hget() {
    diff_both(
        &[],
        r#"
        HSET h f1 v1
        HSET h f1 v2 f2 v3 f3 ""
        HGET h f1
        HGET h nope
        HGET nokey f
        HSET h f
        HSET h f v g
        HMSET h a 1 b 2
        HMSET h a
        HMSET h a 1 b
        HSETNX h a x
        HSETNX h z x
        HSETNX new f v
        HGETALL h
        HGETALL new
        HGETALL nokey
        HKEYS h
        HVALS h
        HKEYS nokey
        HVALS nokey
        SET s x
        HSET s f v
        HMSET s f v
        HSETNX s f v
        HGET s f
        HGETALL s
        HKEYS s
        HVALS s
        HSET "bin\x00key" "f\x00" "\xff\x00v"
        HGET "bin\x00key" "f\x00"
        HGETALL "bin\x00key"
        INFO keyspace
        "#,
    );
}

#[test]
fn hmget_hdel_hlen_hstrlen_hexists() {
    diff_both(
        &[],
        r#"
        HSET h a 1 b 22 c 333 d ""
        HMGET h a b nope c d
        HMGET nokey a b
        HMGET h
        HDEL h
        HDEL h nope
        HDEL h a a nope
        HLEN h
        HLEN nokey
        HSTRLEN h c
        HSTRLEN h d
        HSTRLEN h nope
        HSTRLEN nokey f
        HEXISTS h b
        HEXISTS h a
        HEXISTS nokey a
        HGETALL h
        HDEL h b c d
        EXISTS h
        HLEN h
        HDEL nokey f
        SET s x
        HMGET s a
        HDEL s a
        HLEN s
        HSTRLEN s a
        HEXISTS s a
        HSET h c 1 a 2 b 3 d 4
        HDEL h a
        HSET h c 9 e 5
        HGETALL h
        HKEYS h
        HVALS h
        "#,
    );
}

#[test]
fn hincrby_and_hincrbyfloat() {
    diff_both(
        &[],
        r#"
        HINCRBY h i 5
        HINCRBY h i -7
        HINCRBY h i x
        HINCRBY h i 1.5
        HINCRBY h i ""
        HSET h s abc sp " 1" fl 1.5 big 9223372036854775807 small -9223372036854775808 lz 007
        HINCRBY h s 1
        HINCRBY h sp 1
        HINCRBY h fl 1
        HINCRBY h lz 1
        HINCRBY h big 1
        HINCRBY h big 0
        HINCRBY h small -1
        HINCRBY h small 9223372036854775807
        HINCRBY nokey f x
        EXISTS nokey
        HINCRBYFLOAT h f 10.5
        HINCRBYFLOAT h f 0.1
        HINCRBYFLOAT h f -10.6
        HINCRBYFLOAT h f 1e300
        HINCRBYFLOAT h f 5.0e3
        HINCRBYFLOAT h fl 1
        HINCRBYFLOAT h i 1
        HINCRBYFLOAT h s 1
        HINCRBYFLOAT h sp 1
        HINCRBYFLOAT h f abc
        HINCRBYFLOAT h f nan
        HINCRBYFLOAT h f inf
        HINCRBYFLOAT h f -Infinity
        HINCRBYFLOAT h f " 1"
        HINCRBYFLOAT h f ""
        HINCRBYFLOAT nokey2 f inf
        EXISTS nokey2
        HINCRBYFLOAT h g 1e4932
        HINCRBYFLOAT h g 1e4932
        HINCRBYFLOAT h g2 1e4933
        HSET h inf inf
        HINCRBYFLOAT h inf 1
        HINCRBYFLOAT h hex 0x10
        HINCRBYFLOAT h z 0
        HINCRBYFLOAT h z -0.0
        OBJECT ENCODING h
        HLEN h
        HMGET h i s sp fl big small lz f g g2 inf hex z
        SET str x
        HINCRBY str f 1
        HINCRBY str f x
        HINCRBYFLOAT str f 1
        HINCRBYFLOAT str f x
        HINCRBYFLOAT str f inf
        "#,
    );
}

#[test]
fn number_forms_in_values_and_arguments() {
    diff_both(
        &[],
        r#"
        HSET h p +1 z -0 w 0x10 e 1e3 sp "1 " nl "1\n"
        HINCRBY h p 1
        HINCRBY h z 1
        HINCRBY h w 1
        HINCRBY h e 1
        HINCRBY h sp 1
        HINCRBYFLOAT h sp 1
        HINCRBYFLOAT h nl 1
        HINCRBYFLOAT h e 1
        HINCRBYFLOAT h p 1
        HINCRBYFLOAT h w 1
        HINCRBY h new +5
        HINCRBY h new2 -0
        HINCRBYFLOAT h new3 +.5
        HINCRBYFLOAT h new4 .5e1
        HINCRBYFLOAT h new5 1e-4950
        HINCRBYFLOAT h new6 -1e-300
        HGETALL h
        HSCAN h 0 COUNT 9223372036854775807
        HSCAN h 0 COUNT 9223372036854775808
        HRANDFIELD h -0
        HRANDFIELD h +1
        HRANDFIELD h 01 WITHVALUES
        "#,
    );
}

#[test]
fn hscan_options_and_errors() {
    diff_both(
        &[],
        r#"
        HSET h a 1 b 2 c 3 ab 4
        HSCAN h 0
        HSCAN h 5
        HSCAN h -1
        HSCAN h +0
        HSCAN h 18446744073709551615
        HSCAN h 18446744073709551616
        HSCAN h x
        HSCAN h " 0"
        HSCAN h 0 COUNT 0
        HSCAN h 0 COUNT -1
        HSCAN h 0 COUNT x
        HSCAN h 0 COUNT 1
        HSCAN h 0 MATCH
        HSCAN h 0 MATCH a*
        HSCAN h 0 match a count 1 match b*
        HSCAN h 0 foo bar
        HSCAN h 0 TYPE string
        HSCAN nokey 0
        HSCAN nokey x
        SET s x
        HSCAN s 0
        HSCAN s x
        "#,
    );
}

#[test]
fn hrandfield_errors_and_fixed_replies() {
    diff_both(
        &[],
        r#"
        HSET one f v
        HRANDFIELD one
        HRANDFIELD one 1
        HRANDFIELD one 5
        HRANDFIELD one -3
        HRANDFIELD one -3 WITHVALUES
        HRANDFIELD one 2 withvalues
        HRANDFIELD one 0
        HRANDFIELD one 0 WITHVALUES
        HRANDFIELD one 1 WITHVALUE
        HRANDFIELD one 1 WITHVALUES x
        HRANDFIELD one x
        HRANDFIELD one -9223372036854775808
        HRANDFIELD one -4611686018427387904 WITHVALUES
        HRANDFIELD one 4611686018427387904 WITHVALUES
        HRANDFIELD one 4611686018427387903
        HRANDFIELD nokey
        HRANDFIELD nokey 5
        HRANDFIELD nokey -5 WITHVALUES
        HRANDFIELD nokey x
        HRANDFIELD nokey 1 foo
        HRANDFIELD nokey -4611686018427387904 WITHVALUES
        SET s x
        HRANDFIELD s
        HRANDFIELD s 0
        HRANDFIELD s 1
        HRANDFIELD s -9223372036854775808
        HRANDFIELD s -4611686018427387904 WITHVALUES
        HSET h a 1 b 2 c 3
        HRANDFIELD h 3
        HRANDFIELD h 10 WITHVALUES
        "#,
    );
}

/// Random HRANDFIELD replies: counts, uniqueness for positive counts, every field and value real.
#[test]
fn hrandfield_random_replies() {
    for resp3 in [false, true] {
        let srv = Server::start(Kind::Ferredis, &[]);
        let mut c = srv.client();
        if resp3 {
            c.cmd(&["HELLO", "3"]);
        }
        for (key, n) in [("small", 5usize), ("big", 300)] {
            let mut args = vec!["HSET".to_string(), key.to_string()];
            for i in 0..n {
                args.push(format!("f{i}"));
                args.push(format!("v{i}"));
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            c.cmd(&refs);
            for count in [1i64, 3, 4, -1, -10, n as i64 - 1, n as i64 + 2] {
                for withvalues in [false, true] {
                    let cs = count.to_string();
                    let mut cmd = vec!["HRANDFIELD", key, &cs];
                    if withvalues {
                        cmd.push("WITHVALUES");
                    }
                    let Resp::Agg(_, items) = parse(&c.cmd(&cmd)) else {
                        panic!("not an array");
                    };
                    let want = if count < 0 {
                        count.unsigned_abs() as usize
                    } else {
                        (count as usize).min(n)
                    };
                    assert_eq!(items.len(), want * if withvalues && !resp3 { 2 } else { 1 });
                    let pairs: Vec<(Vec<u8>, Option<Vec<u8>>)> = if !withvalues {
                        items
                            .into_iter()
                            .map(|i| match i {
                                Resp::Bulk(f) => (f, None),
                                o => panic!("{o:?}"),
                            })
                            .collect()
                    } else if resp3 {
                        items
                            .into_iter()
                            .map(|i| match i {
                                Resp::Agg(b'*', p) => match &p[..] {
                                    [Resp::Bulk(f), Resp::Bulk(v)] => (f.clone(), Some(v.clone())),
                                    o => panic!("{o:?}"),
                                },
                                o => panic!("{o:?}"),
                            })
                            .collect()
                    } else {
                        items
                            .chunks(2)
                            .map(|p| match p {
                                [Resp::Bulk(f), Resp::Bulk(v)] => (f.clone(), Some(v.clone())),
                                o => panic!("{o:?}"),
                            })
                            .collect()
                    };
                    let mut seen = std::collections::HashSet::new();
                    for (f, v) in pairs {
                        let f = String::from_utf8(f).unwrap();
                        let i: usize = f[1..].parse().unwrap();
                        assert!(i < n, "{f}");
                        if let Some(v) = v {
                            assert_eq!(v, format!("v{i}").into_bytes());
                        }
                        if count > 0 {
                            assert!(seen.insert(f), "positive count repeated a field");
                        }
                    }
                }
            }
            let single = parse(&c.cmd(&["HRANDFIELD", key]));
            assert!(matches!(single, Resp::Bulk(_)), "{single:?}");
        }
    }
}

/// HSCAN over a hashtable-encoded hash: the walk returns every field once, with its value.
#[test]
fn hscan_walks_a_hashtable() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut c = srv.client();
    let mut args = vec!["HSET".to_string(), "h".to_string()];
    for i in 0..1000 {
        args.push(format!("field:{i}"));
        args.push(format!("{i}"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    c.cmd(&refs);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "h"]), b"$9\r\nhashtable\r\n");
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashMap::new();
    let mut calls = 0;
    loop {
        let Resp::Agg(_, parts) = parse(&c.cmd(&["HSCAN", "h", &cursor, "COUNT", "20"])) else {
            panic!()
        };
        calls += 1;
        let [Resp::Bulk(next), Resp::Agg(_, elems)] = &parts[..] else {
            panic!("{parts:?}")
        };
        for p in elems.chunks(2) {
            let [Resp::Bulk(f), Resp::Bulk(v)] = p else {
                panic!()
            };
            let f = String::from_utf8(f.clone()).unwrap();
            assert_eq!(&f.as_bytes()[6..], &v[..]);
            assert!(seen.insert(f, ()).is_none(), "returned twice");
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 1000);
    assert!(calls > 20, "COUNT is honoured roughly: {calls} calls");
    // MATCH filters what a step visits.
    let r = parse(&c.cmd(&["HSCAN", "h", "0", "MATCH", "field:99*", "COUNT", "5000"]));
    let Resp::Agg(_, parts) = r else { panic!() };
    let Resp::Agg(_, elems) = &parts[1] else {
        panic!()
    };
    assert_eq!(elems.len(), 2 * 11);
}

#[test]
fn encoding_transitions_under_small_limits() {
    let limits = [
        "--hash-max-listpack-entries",
        "4",
        "--hash-max-listpack-value",
        "8",
    ];
    diff_both(
        &limits,
        r#"
        HSET a f v
        HSETNX a f 123456789012
        OBJECT ENCODING a
        HSET b f v
        HINCRBY b 123456789012 1
        OBJECT ENCODING b
        HSET c f v
        HINCRBYFLOAT c x 1.00000000001
        OBJECT ENCODING c
        HSET d f v
        HSETNX d 123456789012 1
        OBJECT ENCODING d
        HSET e2 a 1 b 2 c 3 d 4
        OBJECT ENCODING e2
        HSET e2 e 5
        OBJECT ENCODING e2
        HDEL e2 a b c
        OBJECT ENCODING e2
        HSET e3 a 1 b 2 c 3 d 4 e 5
        OBJECT ENCODING e3
        HSET e4 a 1 b 2 c 3 d 4 a 5
        OBJECT ENCODING e4
        HGETALL e4
        HSCAN e4 0
        HSET e5 a 1 b 2 c 3
        HINCRBY e5 d 1
        OBJECT ENCODING e5
        HINCRBY e5 e 1
        OBJECT ENCODING e5
        HSET g f 1
        HINCRBY g f 1234567890
        OBJECT ENCODING g
        HSET g2 f 12345678
        HINCRBYFLOAT g2 f 1
        OBJECT ENCODING g2
        HINCRBYFLOAT g2 f 1.5
        OBJECT ENCODING g2
        HSET g3 f 1
        HSETNX g3 f 1234567890123
        OBJECT ENCODING g3
        HSET g4 f 12345678
        OBJECT ENCODING g4
        HSET g4 f 123456789
        OBJECT ENCODING g4
        HSET g4 f 1
        OBJECT ENCODING g4
        HMSET g5 123456789 x
        OBJECT ENCODING g5
        CONFIG SET hash-max-listpack-entries 0
        HSET z f 1
        OBJECT ENCODING z
        OBJECT ENCODING a
        HSET a g 1
        OBJECT ENCODING a
        CONFIG SET hash-max-listpack-entries 4
        CONFIG SET hash-max-listpack-value 0
        HSET z2 f ""
        OBJECT ENCODING z2
        HSET z3 "" ""
        OBJECT ENCODING z3
        CONFIG SET hash-max-listpack-value 64
        HSET z4 f 123456789
        OBJECT ENCODING z4
        "#,
    );
}

/// A listpack hash serializes in insertion order (DUMP bytes equal Redis's) and keeps that order
/// through RESTORE and DEBUG RELOAD.
#[test]
fn listpack_order_survives_dump_restore_and_reload() {
    diff_both(
        &[],
        r#"
        HSET h c 1 a 2 b 3 d 4 e 12345678901234 f -7
        HDEL h a
        HSET h c 9 g x
        DUMP h
        HGETALL h
        DEBUG RELOAD
        HGETALL h
        HSCAN h 0
        OBJECT ENCODING h
        HSET big f v
        HSET big long "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
        OBJECT ENCODING big
        DEBUG RELOAD
        OBJECT ENCODING big
        HSTRLEN big long
        "#,
    );
    // A hashtable that shrank stays one: DUMP writes it as such, and a reload picks from content.
    diff_both(
        &[
            "--hash-max-listpack-entries",
            "4",
            "--hash-max-listpack-value",
            "8",
        ],
        r#"
        HSET x a 1 b 2 c 3 d 4 e 5
        HDEL x b c d e
        OBJECT ENCODING x
        DUMP x
        HSET y a 1 b 2
        MEMORY USAGE y
        DEBUG RELOAD
        OBJECT ENCODING x
        DUMP x
        "#,
    );
}

/// `dirty` (INFO rdb_changes_since_last_save) moves as in Redis for each hash write.
#[test]
fn dirty_counts_like_redis() {
    let mut d = Diff::new(&[]);
    let dirty = |c: &mut RawClient| -> i64 {
        c.info_field("persistence", "rdb_changes_since_last_save")
            .unwrap()
            .parse()
            .unwrap()
    };
    let script = [
        "HSET x a 1 a 2 b 3",
        "HSETNX x a 1",
        "HSETNX x z 1",
        "HDEL x a b nope",
        "HDEL x z",
        "HINCRBY y f 1",
        "HINCRBYFLOAT y f 1",
        "HINCRBY y f x",
        "HMSET y a 1 b 2",
        "HDEL nokey a",
        "HINCRBYFLOAT y g inf",
        "HSET y g abc",
        "HINCRBY y g 1",
        "HGET y a",
        "HGETALL y",
    ];
    for line in script {
        let (r0, f0) = (dirty(&mut d.r), dirty(&mut d.f));
        let args: Vec<&str> = line.split(' ').collect();
        d.run(&args);
        let (r1, f1) = (dirty(&mut d.r), dirty(&mut d.f));
        record(
            &mut d,
            format!("dirty after {line}"),
            Resp::Line(format!("{}", r1 - r0).into_bytes()),
            Resp::Line(format!("{}", f1 - f0).into_bytes()),
        );
    }
    d.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Seeded random stream
// ---------------------------------------------------------------------------------------------

const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"];
const FIELDS: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "field-long-name",
    "n",
    "",
];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

fn rand_value(rng: &mut StdRng) -> String {
    match rng.gen_range(0..9) {
        0 => String::new(),
        1 | 2 => rng.gen_range(-100i64..100).to_string(),
        3 => pick(
            rng,
            &[
                "9223372036854775807",
                "-9223372036854775808",
                "1.5",
                "007",
                " 1",
                "inf",
                "abc",
                "1e10",
            ],
        )
        .to_string(),
        4 => "v".repeat(rng.gen_range(5..80)),
        _ => format!("val{}", rng.gen_range(0..50)),
    }
}

fn rand_int(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0 => pick(
            rng,
            &["9223372036854775807", "-9223372036854775808", "x", "1.5"],
        )
        .to_string(),
        _ => rng.gen_range(-50i64..50).to_string(),
    }
}

fn rand_float(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0 => pick(rng, &["inf", "nan", "abc", "1e300", "-1e300", "0.1"]).to_string(),
        1 => rng.gen_range(-50i64..50).to_string(),
        _ => format!("{:.3}", rng.gen_range(-100.0f64..100.0)),
    }
}

/// How a command's reply is compared.
enum Cmp {
    Exact,
    /// All fields/values of a hash: exact while listpack-encoded, as a multiset otherwise.
    WholeHash {
        pairs: bool,
    },
    Scan,
    /// Random: the reply's shape only (type and length), membership checked separately.
    Shape,
}

fn rand_command(rng: &mut StdRng) -> (Vec<String>, Cmp) {
    let k = pick(rng, KEYS).to_string();
    let f = |rng: &mut StdRng| pick(rng, FIELDS).to_string();
    let s = |x: &str| x.to_string();
    let mut c = Vec::new();
    let mut cmp = Cmp::Exact;
    match rng.gen_range(0..40) {
        0..=5 => {
            c.push(s(if rng.gen_ratio(1, 4) { "HMSET" } else { "HSET" }));
            c.push(k);
            for _ in 0..rng.gen_range(1..4) {
                c.push(f(rng));
                c.push(rand_value(rng));
            }
            if rng.gen_ratio(1, 30) {
                c.pop();
            }
        }
        6 => c.extend([s("HSETNX"), k, f(rng), rand_value(rng)]),
        7 | 8 => c.extend([s("HGET"), k, f(rng)]),
        9 => {
            c.extend([s("HMGET"), k]);
            for _ in 0..rng.gen_range(1..4) {
                c.push(f(rng));
            }
        }
        10..=12 => {
            c.extend([s("HDEL"), k]);
            for _ in 0..rng.gen_range(1..4) {
                c.push(f(rng));
            }
        }
        13 => c.extend([s("HLEN"), k]),
        14 => c.extend([s("HSTRLEN"), k, f(rng)]),
        15 => c.extend([s("HEXISTS"), k, f(rng)]),
        16 | 17 => c.extend([s("HINCRBY"), k, f(rng), rand_int(rng)]),
        18 | 19 => c.extend([s("HINCRBYFLOAT"), k, f(rng), rand_float(rng)]),
        20 | 21 => {
            c.extend([s("HGETALL"), k]);
            cmp = Cmp::WholeHash { pairs: true };
        }
        22 => {
            c.extend([s("HKEYS"), k]);
            cmp = Cmp::WholeHash { pairs: false };
        }
        23 => {
            c.extend([s("HVALS"), k]);
            cmp = Cmp::WholeHash { pairs: false };
        }
        24 | 25 => {
            c.extend([s("HSCAN"), k, s("0"), s("COUNT"), s("1000")]);
            if rng.gen_ratio(1, 3) {
                c.extend([s("MATCH"), s("[a-d]*")]);
            }
            cmp = Cmp::Scan;
        }
        26 => {
            c.extend([s("HRANDFIELD"), k]);
            match rng.gen_range(0..4) {
                0 => {}
                1 => c.push(rng.gen_range(-5i64..6).to_string()),
                2 => c.extend([rng.gen_range(-5i64..6).to_string(), s("WITHVALUES")]),
                _ => c.extend([s("20"), s("WITHVALUES")]),
            }
            // Deterministic when the whole hash comes back; only the shape otherwise.
            cmp = Cmp::Shape;
        }
        27 | 28 => c.extend([s("SET"), k, rand_value(rng)]),
        29 => c.extend([s("GET"), k]),
        30 => c.extend([s("DEL"), k]),
        31 => c.extend([s("INCR"), k]),
        32 => c.extend([s("APPEND"), k, s("x")]),
        33 => c.extend([s("TYPE"), k]),
        34 => c.extend([s("EXISTS"), k]),
        35 => {
            c.extend([s("HINCRBY"), k, f(rng), s("1")]);
        }
        _ => {
            c.extend([s("HSET"), k, f(rng), rand_value(rng)]);
        }
    }
    (c, cmp)
}

/// The shape of a reply: its type and length, recursively for aggregates (elements ignored).
fn shape(r: &Resp) -> String {
    match r {
        Resp::Line(l) => String::from_utf8_lossy(l).into_owned(),
        Resp::Bulk(_) => "bulk".into(),
        Resp::Agg(t, items) => format!(
            "{}[{}]",
            *t as char,
            items.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
    }
}

/// INFO counters hash commands move: dirty, keyspace hits and misses.
fn counters(c: &mut RawClient) -> [i64; 3] {
    [
        ("persistence", "rdb_changes_since_last_save"),
        ("stats", "keyspace_hits"),
        ("stats", "keyspace_misses"),
    ]
    .map(|(section, field)| {
        // A bulk string in RESP2, verbatim text in RESP3: the fields are lines either way.
        let text = String::from_utf8_lossy(&c.cmd(&["INFO", section])).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("INFO {section} has no numeric {field}"))
    })
}

fn random_stream(seed: u64, n: usize, resp3: bool, args: &[&str]) {
    let mut d = Diff::new(args);
    if resp3 {
        hello3(&mut d);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut cr, mut cf) = (counters(&mut d.r), counters(&mut d.f));
    for i in 0..n {
        let (cmd, cmp) = rand_command(&mut rng);
        let refs: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        // For whole-hash replies the encoding decides whether the order is defined (it is
        // compared on both servers too).
        let ordered = match cmp {
            Cmp::WholeHash { .. } | Cmp::Scan => {
                let enc = ["OBJECT", "ENCODING", cmd[1].as_str()];
                let want = d.r.cmd(&enc);
                let got = d.f.cmd(&enc);
                record(&mut d, enc.join(" "), parse(&want), parse(&got));
                want != b"$9\r\nhashtable\r\n"
            }
            _ => false,
        };
        match cmp {
            Cmp::Exact => d.run_bytes(&refs),
            _ if ordered => d.run_bytes(&refs),
            Cmp::WholeHash { pairs } => {
                let (want, got) = (d.r.cmd_bytes(&refs), d.f.cmd_bytes(&refs));
                record(
                    &mut d,
                    cmd.join(" "),
                    unordered(&want, pairs),
                    unordered(&got, pairs),
                );
            }
            Cmp::Scan => {
                let (want, got) = (d.r.cmd_bytes(&refs), d.f.cmd_bytes(&refs));
                record(
                    &mut d,
                    cmd.join(" "),
                    unordered_scan(&want),
                    unordered_scan(&got),
                );
            }
            Cmp::Shape => {
                let (want, got) = (d.r.cmd_bytes(&refs), d.f.cmd_bytes(&refs));
                record(
                    &mut d,
                    cmd.join(" "),
                    Resp::Line(shape(&parse(&want)).into_bytes()),
                    Resp::Line(shape(&parse(&got)).into_bytes()),
                );
            }
        }
        if rng.gen_ratio(1, 8) {
            d.run(&["OBJECT", "ENCODING", &cmd[1]]);
        }
        if i % 100 == 99 {
            let (nr, nf) = (counters(&mut d.r), counters(&mut d.f));
            for j in 0..3 {
                if nr[j] - cr[j] != nf[j] - cf[j] {
                    d.mismatches.push(format!(
                        "counter {j} moved by {} on redis-server, by {} on ferredis (before command {i})",
                        nr[j] - cr[j],
                        nf[j] - cf[j]
                    ));
                }
            }
            (cr, cf) = (counters(&mut d.r), counters(&mut d.f));
        }
    }
    for k in KEYS {
        d.run(&["TYPE", k]);
        d.run(&["OBJECT", "ENCODING", k]);
        d.run(&["HLEN", k]);
    }
    d.run(&["DBSIZE"]);
    d.run(&["INFO", "errorstats"]);
    // The stream is meant to collide types: WRONGTYPE must have happened.
    let stats = String::from_utf8_lossy(&d.r.cmd(&["INFO", "errorstats"])).into_owned();
    assert!(stats.contains("errorstat_WRONGTYPE"), "{stats}");
    d.run(&["DEBUG", "DIGEST"]);
    let mut digest = vec!["DEBUG", "DIGEST-VALUE"];
    digest.extend_from_slice(KEYS);
    d.run(&digest);
    if !d.mismatches.is_empty() {
        d.mismatches.insert(
            0,
            format!("(seed {seed:#x}, resp3: {resp3}, args {args:?})"),
        );
    }
    d.assert_clean();
}

const SMALL: &[&str] = &[
    "--hash-max-listpack-entries",
    "4",
    "--hash-max-listpack-value",
    "8",
];

#[test]
fn randomized_hash_commands_small_limits() {
    for seed in 1..=3 {
        random_stream(0x4a5_0000 + seed, 3000, seed == 2, SMALL);
    }
}

#[test]
fn randomized_hash_commands_default_limits() {
    random_stream(0x4a5_1001, 3000, false, &[]);
    random_stream(0x4a5_1002, 3000, true, &[]);
}

/// Many more seeds: `cargo test --test hashes -- --ignored long`.
#[test]
#[ignore]
fn randomized_hash_commands_long() {
    for seed in 1..=12 {
        let args = if seed % 3 == 0 { &[][..] } else { SMALL };
        random_stream(seed, 10_000, seed % 2 == 0, args);
    }
}
