//! Differential tests of the list family (LPUSH/RPUSH(X), LPOP/RPOP, LLEN, LRANGE, LINDEX, LSET,
//! LREM, LTRIM, LINSERT, LPOS, LMOVE, RPOPLPUSH, LMPOP): every reply of ferredis is compared byte for
//! byte with a real redis-server 7.0 given the same commands, from hand-written scripts covering each
//! option and error path (RESP2 and RESP3), and from seeded random streams mixing list and string
//! commands over a few keys, with the dirty counter, keyspace hits/misses, OBJECT ENCODING and
//! DEBUG DIGEST compared along the way.

mod common;
use common::*;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn diff_script(script: &str) {
    let mut d = Diff::new(&[]);
    d.script(script);
    d.assert_clean();
}

#[test]
fn push_and_pop() {
    diff_script(
        r#"
        LPUSH l a b c
        RPUSH l d e
        LRANGE l 0 -1
        LPUSHX l x
        RPUSHX l y z
        LPUSHX nol x
        RPUSHX nol x
        EXISTS nol
        LLEN l
        LLEN nol
        LPOP l
        RPOP l
        LPOP l 2
        RPOP l 2
        LPOP l 0
        RPOP l 0
        LPOP l -1
        RPOP l -1
        LPOP l abc
        LPOP l 1.5
        LPOP l 9223372036854775807
        LPOP l 1 2
        RPOP l 1 2
        EXISTS l
        LPOP l
        LPOP nol
        RPOP nol
        LPOP nol 0
        LPOP nol 3
        RPOP nol -1
        RPUSH l 1 2 3
        RPOP l 10
        EXISTS l
        RPUSH l 1 2 3
        LPOP l 3
        EXISTS l
        RPUSH l 1
        LPOP l
        EXISTS l
        RPUSH l 12345678901234567890 -5 0 "" "a b"
        LRANGE l 0 -1
        OBJECT ENCODING l
        SET s v
        LPUSH s a
        RPUSH s a
        LPUSHX s a
        RPUSHX s a
        LPOP s
        RPOP s 2
        LPOP s -1
        LPOP s 0
        LLEN s
        LPUSH
        LPUSH k
        LPOP
        "#,
    );
}

#[test]
fn resp3_null_forms() {
    let mut d = Diff::new(&[]);
    d.r.cmd(&["HELLO", "3"]);
    d.f.cmd(&["HELLO", "3"]);
    d.script(
        r#"
        LPOP nol
        LPOP nol 2
        RPOP nol 0
        LINDEX nol 0
        RPUSH l a b a
        LINDEX l 10
        LPOS l zz
        LPOS l zz COUNT 0
        LPOS nol a
        LPOS nol a COUNT 2
        LMOVE nol l LEFT RIGHT
        RPOPLPUSH nol l
        LMPOP 2 nol nol2 LEFT
        LMPOP 2 nol l RIGHT COUNT 2
        LPOP l 5
        LRANGE l 0 -1
        LPOP l 0
        "#,
    );
    d.assert_clean();
}

#[test]
fn lrange_lindex_lset() {
    diff_script(
        r#"
        RPUSH l a b c d e
        LRANGE l 0 -1
        LRANGE l 1 2
        LRANGE l -2 -1
        LRANGE l -100 100
        LRANGE l 3 1
        LRANGE l 5 10
        LRANGE l -1 -2
        LRANGE l 0 0
        LRANGE l -9223372036854775808 9223372036854775807
        LRANGE l a 1
        LRANGE l 0 b
        LRANGE nol 0 -1
        LRANGE nol a b
        LINDEX l 0
        LINDEX l -1
        LINDEX l 4
        LINDEX l 5
        LINDEX l -5
        LINDEX l -6
        LINDEX l -9223372036854775808
        LINDEX l 9223372036854775807
        LINDEX l x
        LINDEX nol x
        LINDEX nol 0
        LSET l 0 A
        LSET l -1 E
        LSET l 5 x
        LSET l -6 x
        LSET l x y
        LSET nol 0 x
        LSET nol x y
        LRANGE l 0 -1
        SET s v
        LRANGE s 0 -1
        LRANGE s a 0
        LINDEX s 0
        LINDEX s x
        LSET s 0 x
        LSET s x x
        "#,
    );
}

#[test]
fn lrem_ltrim_linsert() {
    diff_script(
        r#"
        RPUSH l a b a c a b a
        LREM l 2 a
        LRANGE l 0 -1
        LREM l -1 a
        LRANGE l 0 -1
        RPUSH l a a
        LREM l 0 a
        LRANGE l 0 -1
        LREM l 0 zz
        LREM l -9223372036854775808 b
        LRANGE l 0 -1
        LREM l 1 c
        EXISTS l
        LREM nol 1 a
        LREM l x a
        LREM nol x a
        RPUSH l 1 2 3 4 5 6 7
        LTRIM l 1 -2
        LRANGE l 0 -1
        LTRIM l -3 100
        LRANGE l 0 -1
        LTRIM l 0 0
        LRANGE l 0 -1
        LTRIM l 5 10
        EXISTS l
        RPUSH l 1 2 3
        LTRIM l 2 1
        EXISTS l
        RPUSH l 1 2 3
        LTRIM l -9223372036854775808 9223372036854775807
        LRANGE l 0 -1
        LTRIM l x 1
        LTRIM nol 0 1
        LTRIM nol x 1
        LINSERT l BEFORE 2 x
        LINSERT l after 3 y
        LINSERT l AFTER 1 z
        LRANGE l 0 -1
        LINSERT l BEFORE nope x
        LINSERT nol BEFORE a x
        LINSERT l MIDDLE a x
        LINSERT nol MIDDLE a x
        EXISTS nol
        SET s v
        LREM s 1 a
        LREM s x a
        LTRIM s 0 1
        LTRIM s x 1
        LINSERT s BEFORE a b
        LINSERT s BAD a b
        "#,
    );
}

#[test]
fn lpos_options() {
    diff_script(
        r#"
        RPUSH l a b c a b c a
        LPOS l a
        LPOS l c
        LPOS l z
        LPOS l a RANK 2
        LPOS l a RANK -1
        LPOS l a RANK -2
        LPOS l a RANK 4
        LPOS l a RANK -4
        LPOS l a RANK 0
        LPOS l a RANK x
        LPOS l a RANK -9223372036854775808
        LPOS l a RANK -9223372036854775808 COUNT 2
        LPOS l a RANK -9223372036854775808 COUNT 0
        LPOS l a RANK 9223372036854775807
        LPOS l a RANK -9223372036854775807
        LPOS l a COUNT 0
        LPOS l a COUNT 2
        LPOS l a COUNT 10
        LPOS l a COUNT 2 RANK 2
        LPOS l a COUNT 2 RANK -1
        LPOS l a COUNT -1
        LPOS l a COUNT x
        LPOS l a MAXLEN 3
        LPOS l a MAXLEN 3 COUNT 0
        LPOS l c MAXLEN 2
        LPOS l a RANK -1 MAXLEN 1
        LPOS l a RANK -1 MAXLEN 1 COUNT 0
        LPOS l a MAXLEN -1
        LPOS l a MAXLEN x
        LPOS l a MAXLEN 0
        LPOS l a COUNT
        LPOS l a RANK
        LPOS l a FOO 1
        LPOS l a COUNT 1 COUNT 2
        LPOS l a RANK 1 RANK 3
        LPOS nol a
        LPOS nol a COUNT 1
        LPOS nol a RANK 0
        LPOS nol a COUNT -1
        LPOS nol a bad
        SET s v
        LPOS s a
        LPOS s a COUNT 1
        LPOS s a RANK 0
        LPOS s a BAD
        "#,
    );
}

#[test]
fn lmove_rpoplpush_lmpop() {
    diff_script(
        r#"
        RPUSH a 1 2 3
        LMOVE a b LEFT RIGHT
        LMOVE a b RIGHT LEFT
        LMOVE a b left left
        LMOVE a b RIGHT right
        LRANGE a 0 -1
        LRANGE b 0 -1
        EXISTS a
        LMOVE a b LEFT RIGHT
        LMOVE b b LEFT RIGHT
        LRANGE b 0 -1
        LMOVE b b RIGHT LEFT
        LRANGE b 0 -1
        LMOVE b b LEFT LEFT
        LMOVE b b RIGHT RIGHT
        LRANGE b 0 -1
        RPUSH one x
        EXPIRE one 100000
        LMOVE one one LEFT RIGHT
        LRANGE one 0 -1
        TTL one
        RPOPLPUSH one one
        LMOVE b c UP LEFT
        LMOVE b c LEFT DOWN
        LMOVE nol c UP LEFT
        SET s v
        LMOVE b s LEFT RIGHT
        LMOVE s b LEFT RIGHT
        LMOVE nol s LEFT RIGHT
        RPOPLPUSH b s
        RPOPLPUSH s b
        RPOPLPUSH nol s
        RPOPLPUSH b nb
        LRANGE b 0 -1
        LRANGE nb 0 -1
        RPOPLPUSH nb nb
        DEL a b c nb one
        RPUSH a 1 2 3 4 5
        RPUSH b x y
        LMPOP 2 a b LEFT
        LMPOP 2 a b RIGHT COUNT 2
        LMPOP 2 nol b LEFT COUNT 10
        LMPOP 2 nol b LEFT
        LMPOP 1 a LEFT COUNT 100
        EXISTS a b
        LMPOP 1 a LEFT
        RPUSH a 1
        LMPOP 2 s a LEFT
        LMPOP 2 a s LEFT
        LMPOP 2 nol s LEFT
        LMPOP 0 a LEFT
        LMPOP -1 a LEFT
        LMPOP x a LEFT
        LMPOP 2 a LEFT
        LMPOP 3 a b LEFT
        LMPOP 1 a MIDDLE
        LMPOP 1 a LEFT COUNT 0
        LMPOP 1 a LEFT COUNT -1
        LMPOP 1 a LEFT COUNT x
        LMPOP 1 a LEFT COUNT
        LMPOP 1 a LEFT COUNT 1 COUNT 1
        LMPOP 1 a LEFT FOO
        LMPOP 1 nol LEFT COUNT 0
        LMPOP 1 a
        LMPOP 1
        LMOVE a b
        "#,
    );
}

#[test]
fn encodings_and_commands_table() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        RPUSH l a
        OBJECT ENCODING l
        RPUSH big 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128 129 130
        OBJECT ENCODING big
        TYPE l
        DEBUG DIGEST-VALUE l big
        "#,
    );
    for name in [
        "lpush",
        "rpush",
        "lpushx",
        "rpushx",
        "lpop",
        "rpop",
        "llen",
        "lrange",
        "lindex",
        "lset",
        "lrem",
        "ltrim",
        "linsert",
        "lpos",
        "lmove",
        "rpoplpush",
        "lmpop",
    ] {
        d.run(&["COMMAND", "INFO", name]);
        d.run(&["COMMAND", "DOCS", name]);
    }
    d.script(
        r#"
        COMMAND GETKEYS lmpop 2 a b LEFT
        COMMAND GETKEYS lmove a b LEFT RIGHT
        COMMAND GETKEYS rpoplpush a b
        "#,
    );
    // The blocking variants (their behaviour is tested in tests/blocking.rs).
    d.script(
        r#"
        COMMAND GETKEYS blpop a b 0
        COMMAND GETKEYS blmpop 0 2 a b LEFT
        COMMAND GETKEYS blmove a b LEFT RIGHT 0
        COMMAND GETKEYS brpoplpush a b 0
        "#,
    );
    d.assert_clean();
}

#[test]
fn dirty_counter_and_keyspace_stats() {
    let mut d = Diff::new(&[]);
    let mut c = Counters::read(&mut d);
    for line in [
        "RPUSH l a b c d e f",
        "LPUSH l x y",
        "LPUSHX nol a",
        "RPUSHX l z",
        "LPOP l",
        "RPOP l 2",
        "LPOP l 0",
        "LPOP nol 2",
        "LSET l 0 q",
        "LSET l 100 q",
        "LREM l 0 zz",
        "LREM l 0 q",
        "LTRIM l 1 -2",
        "LTRIM l 0 -1",
        "LINSERT l BEFORE c w",
        "LINSERT l BEFORE nope w",
        "LMOVE l l LEFT RIGHT",
        "LMOVE l m LEFT RIGHT",
        "RPOPLPUSH l m",
        "LMPOP 2 nol l LEFT COUNT 2",
        "LLEN l",
        "LLEN nol",
        "LRANGE l 0 -1",
        "LRANGE nol 0 -1",
        "LINDEX l 0",
        "LPOS l a",
        "LPOS nol a",
        "LTRIM l 5 1",
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        d.run(&args);
        c.compare(&mut d, line);
    }
    d.assert_clean();
}

const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"];
const ELEMS: &[&str] = &["a", "b", "c", "1", "2", "-3", "", "10", "a b"];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

fn rand_index(rng: &mut StdRng) -> String {
    match rng.gen_range(0..12) {
        0 => pick(
            rng,
            &["x", "9223372036854775807", "-9223372036854775808", "1.5"],
        )
        .to_string(),
        _ => rng.gen_range(-8i64..8).to_string(),
    }
}

fn rand_count(rng: &mut StdRng) -> String {
    match rng.gen_range(0..15) {
        0 => pick(rng, &["-1", "x", "0"]).to_string(),
        _ => rng.gen_range(1i64..6).to_string(),
    }
}

/// One random command of the list family (or a string command, so types collide) over the keys.
fn rand_command(rng: &mut StdRng) -> Vec<String> {
    let k = |rng: &mut StdRng| pick(rng, KEYS).to_string();
    let e = |rng: &mut StdRng| pick(rng, ELEMS).to_string();
    let s = |x: &str| x.to_string();
    let end = |rng: &mut StdRng| s(pick(rng, &["LEFT", "RIGHT", "left", "right"]));
    let mut c: Vec<String> = Vec::new();
    match rng.gen_range(0..30) {
        0..=3 => {
            c.extend([
                s(pick(rng, &["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"])),
                k(rng),
            ]);
            for _ in 0..rng.gen_range(1..5) {
                c.push(e(rng));
            }
        }
        4..=6 => {
            c.extend([s(pick(rng, &["LPOP", "RPOP"])), k(rng)]);
            if rng.gen_bool(0.5) {
                c.push(rand_count(rng));
            }
        }
        7 => c.extend([s("LLEN"), k(rng)]),
        8 | 9 => c.extend([s("LRANGE"), k(rng), rand_index(rng), rand_index(rng)]),
        10 => c.extend([s("LINDEX"), k(rng), rand_index(rng)]),
        11 => c.extend([s("LSET"), k(rng), rand_index(rng), e(rng)]),
        12 => c.extend([s("LREM"), k(rng), rand_index(rng), e(rng)]),
        13 => c.extend([s("LTRIM"), k(rng), rand_index(rng), rand_index(rng)]),
        14 => c.extend([
            s("LINSERT"),
            k(rng),
            s(pick(rng, &["BEFORE", "AFTER", "after", "MIDDLE"])),
            e(rng),
            e(rng),
        ]),
        15 => {
            c.extend([s("LPOS"), k(rng), e(rng)]);
            for _ in 0..rng.gen_range(0..3) {
                match rng.gen_range(0..3) {
                    0 => c.extend([s("RANK"), rand_index(rng)]),
                    1 => c.extend([s("COUNT"), rand_count(rng)]),
                    _ => c.extend([s("MAXLEN"), rand_count(rng)]),
                }
            }
        }
        16 | 17 => c.extend([s("LMOVE"), k(rng), k(rng), end(rng), end(rng)]),
        18 => c.extend([s("RPOPLPUSH"), k(rng), k(rng)]),
        19 => {
            let n = rng.gen_range(1..4);
            c.extend([s("LMPOP"), n.to_string()]);
            for _ in 0..n {
                c.push(k(rng));
            }
            c.push(end(rng));
            if rng.gen_bool(0.5) {
                c.extend([s("COUNT"), rand_count(rng)]);
            }
        }
        20 | 21 => c.extend([s("SET"), k(rng), e(rng)]),
        22 => c.extend([s("GET"), k(rng)]),
        23 => c.extend([s("DEL"), k(rng)]),
        24 => c.extend([s("APPEND"), k(rng), e(rng)]),
        25 => c.extend([s("EXPIRE"), k(rng), s("100000")]),
        26 => c.extend([s("TYPE"), k(rng)]),
        27 => c.extend([s("OBJECT"), s("ENCODING"), k(rng)]),
        28 => c.extend([s("EXISTS"), k(rng), k(rng)]),
        _ => c.extend([s("LLEN"), k(rng)]),
    }
    c
}

fn random_stream(seed: u64, n: usize, resp3: bool) {
    let mut d = Diff::new(&[]);
    if resp3 {
        d.r.cmd(&["HELLO", "3"]);
        d.f.cmd(&["HELLO", "3"]);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counters = Counters::read(&mut d);
    for i in 0..n {
        let cmd = rand_command(&mut rng);
        let refs: Vec<&str> = cmd.iter().map(|a| a.as_str()).collect();
        d.run(&refs);
        if i % 100 == 99 {
            counters.compare(&mut d, &format!("after command {i}"));
        }
    }
    for k in KEYS {
        d.run(&["TYPE", k]);
        d.run(&["LRANGE", k, "0", "-1"]);
        d.run(&["OBJECT", "ENCODING", k]);
    }
    counters.compare(&mut d, "at the end");
    d.run(&["INFO", "errorstats"]);
    d.run(&["DEBUG", "DIGEST"]);
    d.assert_clean();
}

#[test]
fn random_stream_seed_1() {
    random_stream(1, 3000, false);
}

#[test]
fn random_stream_seed_2() {
    random_stream(2, 3000, false);
}

#[test]
fn random_stream_seed_3_resp3() {
    random_stream(3, 3000, true);
}

#[test]
fn random_stream_seed_4() {
    random_stream(4, 3000, false);
}
