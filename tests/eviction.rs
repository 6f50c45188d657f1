//! maxmemory and eviction: the limit is honoured under every policy (used_memory stays within a
//! small tolerance while far more is written), noeviction and volatile policies without candidates
//! refuse `denyoom` commands with Redis's exact -OOM error (reads still work), volatile-ttl evicts
//! the nearest expiries first, allkeys-lru and allkeys-lfu keep a working set, CONFIG SET maxmemory
//! evicts at once, and OBJECT FREQ/IDLETIME and RESTORE FREQ compared with the real redis-server.

mod common;
use common::*;

use std::time::Duration;

/// Value size of the filler keys.
const VALUE: usize = 1000;

fn int_field(c: &mut RawClient, section: &str, field: &str) -> u64 {
    c.info_field(section, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} {field}"))
}

fn used(c: &mut RawClient) -> u64 {
    int_field(c, "memory", "used_memory")
}

fn ok(c: &mut RawClient, args: &[&str]) {
    let r = c.cmd(args);
    assert_eq!(r, b"+OK\r\n", "{args:?}: {}", String::from_utf8_lossy(&r));
}

/// Sends `n` commands made by `make` in one pipeline and returns the replies.
fn pipeline(c: &mut RawClient, n: usize, make: impl Fn(usize) -> Vec<String>) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    for i in 0..n {
        let a = make(i);
        let refs: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
        buf.extend_from_slice(&RawClient::encode(&refs));
    }
    c.send_raw(&buf);
    (0..n).map(|_| c.read_reply()).collect()
}

fn value() -> String {
    "x".repeat(VALUE)
}

/// Writes keys `prefix:from..prefix:to` (with a TTL of `ttl` + index seconds when given) in
/// pipelines of 50, checking used_memory against `limit` after each pipeline when one is given.
fn write_keys(
    c: &mut RawClient,
    prefix: &str,
    range: std::ops::Range<usize>,
    ttl: Option<u64>,
    limit: Option<u64>,
) {
    let v = value();
    let start = range.start;
    let total = range.len();
    let mut done = 0;
    while done < total {
        let n = 50.min(total - done);
        let base = start + done;
        let replies = pipeline(c, n, |i| {
            let k = format!("{prefix}:{}", base + i);
            match ttl {
                Some(t) => vec![
                    "SET".into(),
                    k,
                    v.clone(),
                    "EX".into(),
                    (t + (base + i) as u64).to_string(),
                ],
                None => vec!["SET".into(), k, v.clone()],
            }
        });
        for r in replies {
            assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&r));
        }
        done += n;
        if let Some(limit) = limit {
            let u = used(c);
            // Eviction runs before each command: what is left over the limit is at most one
            // pipeline's query buffer and INFO's own reply.
            assert!(
                u <= limit + TOLERANCE,
                "used_memory {u} over maxmemory {limit}"
            );
        }
    }
}

/// How far over maxmemory used_memory may be seen between commands.
const TOLERANCE: u64 = 128 * 1024;

fn int_reply(r: &[u8]) -> i64 {
    String::from_utf8_lossy(r)
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("not an integer: {:?}", String::from_utf8_lossy(r)))
}

fn exists(c: &mut RawClient, key: &str) -> bool {
    c.cmd(&["EXISTS", key]) == b":1\r\n"
}

#[test]
fn the_limit_holds_under_every_evicting_policy() {
    let s = Server::start(Kind::Ferredis, &[]);
    let mut c = s.client();
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        ok(&mut c, &["FLUSHALL"]);
        ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
        let base = used(&mut c);
        let limit = base + 3 * 1024 * 1024;
        ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", policy]);
        ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
        let evicted_before = int_field(&mut c, "stats", "evicted_keys");
        // About 12 MB of values: four times what fits.
        write_keys(&mut c, "k", 0..12_000, Some(10_000), Some(limit));
        // One INFO for both figures: every command may evict before it runs.
        let info = c.cmd_str(&["INFO", "stats", "keyspace"]);
        let dbsize: u64 = info
            .split("db0:keys=")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let evicted: u64 = info
            .split("evicted_keys:")
            .nth(1)
            .and_then(|r| r.split('\r').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
            - evicted_before;
        assert!(dbsize < 6000, "{policy}: {dbsize} keys left");
        assert!(dbsize > 1000, "{policy}: only {dbsize} keys left");
        assert_eq!(evicted + dbsize, 12_000, "{policy}");
        assert!(used(&mut c) <= limit + TOLERANCE, "{policy}");
    }
    let info = c.cmd_str(&["INFO", "memory"]);
    assert!(info.contains("maxmemory_policy:volatile-ttl\r\n"), "{info}");
    assert!(info.contains("mem_not_counted_for_evict:0\r\n"), "{info}");
}

#[test]
fn oom_errors_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        SET a 1
        SET b hello
        RPUSH l x y
        CONFIG SET maxmemory 1
        SET c 1
        GET a
        INCR a
        LRANGE l 0 -1
        RPUSH l z
        DEL b
        EXISTS b
        MULTI
        GET a
        EXEC
        MULTI
        DISCARD
        CONFIG SET maxmemory-policy volatile-lru
        SET c 1
        SET t 1 EX 1000
        CONFIG SET maxmemory-policy volatile-ttl
        SET u 2
        DBSIZE
        CONFIG SET maxmemory-policy allkeys-random
        SET v 3
        DBSIZE
        GET a
        CONFIG SET maxmemory 0
        SET c 1
        GET c
        "#,
    );
    d.assert_clean();
    // The error text itself, and the stats.
    ok(&mut d.f, &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(
        d.f.cmd(&["SET", "x", "1"]),
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    let stats = d.f.cmd_str(&["INFO", "stats"]);
    assert!(stats.contains("evicted_keys:"), "{stats}");
    assert!(
        !stats.contains("current_eviction_exceeded_time:\r\n"),
        "{stats}"
    );
    let errs = d.f.cmd_str(&["INFO", "errorstats"]);
    assert!(errs.contains("errorstat_OOM:count="), "{errs}");
}

#[test]
fn noeviction_refuses_writes_but_serves_reads() {
    let s = Server::start(Kind::Ferredis, &[]);
    let mut c = s.client();
    let limit = used(&mut c) + 2 * 1024 * 1024;
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    let v = value();
    let mut written = 0;
    let mut refused = false;
    for i in 0..10_000 {
        let r = c.cmd(&["SET", &format!("k:{i}"), &v]);
        if r.starts_with(b"-OOM") {
            refused = true;
            break;
        }
        assert_eq!(r, b"+OK\r\n");
        written += 1;
    }
    assert!(refused && written > 1000, "{written}");
    assert!(used(&mut c) <= limit + TOLERANCE);
    assert_eq!(int_field(&mut c, "stats", "evicted_keys"), 0);
    assert_eq!(
        c.cmd(&["GET", "k:0"]),
        format!("${VALUE}\r\n{v}\r\n").as_bytes()
    );
    assert_eq!(c.cmd(&["DEL", "k:0"]), b":1\r\n");
    // Over the limit since then: the exceeded time is measured.
    wait_for("eviction exceeded time", Duration::from_secs(5), || {
        int_field(&mut c, "stats", "current_eviction_exceeded_time") > 0
    });
    ok(&mut c, &["FLUSHALL"]);
    ok(&mut c, &["SET", "again", "1"]);
    assert_eq!(
        int_field(&mut c, "stats", "current_eviction_exceeded_time"),
        0
    );
    assert!(int_field(&mut c, "stats", "total_eviction_exceeded_time") > 0);
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiries_first() {
    let s = Server::start(Kind::Ferredis, &["--maxmemory-policy", "volatile-ttl"]);
    let mut c = s.client();
    let base = used(&mut c);
    write_keys(&mut c, "t", 0..4000, Some(1000), None);
    // Keys without a TTL are never candidates.
    write_keys(&mut c, "p", 0..200, None, None);
    let limit = base + (used(&mut c) - base) / 2;
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    wait_for(
        "memory under the new limit",
        Duration::from_secs(10),
        || used(&mut c) <= limit + TOLERANCE,
    );
    assert!((0..200).all(|i| exists(&mut c, &format!("p:{i}"))));
    let evicted = int_field(&mut c, "stats", "evicted_keys") as usize;
    assert!(evicted > 1500, "{evicted}");
    // The approximation samples: most, not all, of the earliest expiries went first.
    let gone_early = (0..evicted)
        .filter(|i| !exists(&mut c, &format!("t:{i}")))
        .count();
    assert!(
        gone_early * 100 >= evicted * 80,
        "{gone_early} of the first {evicted}"
    );
    let gone_late = (evicted..4000)
        .filter(|i| !exists(&mut c, &format!("t:{i}")))
        .count();
    assert!(
        gone_late * 100 <= (4000 - evicted) * 20,
        "{gone_late} late keys"
    );
}

/// Fills `cold:*`, reads a working set of them with `touch`, then writes as much again as new keys
/// under a limit that holds about the original amount. Returns the share of the working set kept.
fn working_set_kept(policy: &str, touch: impl Fn(&mut RawClient, usize)) -> f64 {
    let s = Server::start(Kind::Ferredis, &["--maxmemory-policy", policy]);
    let mut c = s.client();
    let base = used(&mut c);
    write_keys(&mut c, "cold", 0..3000, None, None);
    let limit = used(&mut c) + 256 * 1024;
    if policy.ends_with("lru") {
        // The LRU clock has a resolution of one second: let the cold keys age first.
        wait_for("the cold keys to age", Duration::from_secs(10), || {
            int_reply(&c.cmd(&["OBJECT", "IDLETIME", "cold:2999"])) >= 2
        });
    }
    for i in 0..300 {
        touch(&mut c, i);
    }
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    write_keys(&mut c, "new", 0..1500, None, Some(limit));
    assert!(int_field(&mut c, "stats", "evicted_keys") > 1000);
    assert!(used(&mut c) > base);
    let kept = (0..300)
        .filter(|i| exists(&mut c, &format!("cold:{i}")))
        .count();
    kept as f64 / 300.0
}

#[test]
fn allkeys_lru_keeps_the_recently_read_keys() {
    let kept = working_set_kept("allkeys-lru", |c, i| {
        let r = c.cmd(&["GET", &format!("cold:{i}")]);
        assert!(r.starts_with(b"$1000"));
    });
    // Half of all the cold keys go; nearly all of the recently read ones stay.
    assert!(kept >= 0.9, "kept {kept}");
}

#[test]
fn allkeys_lfu_keeps_the_frequently_read_keys() {
    let kept = working_set_kept("allkeys-lfu", |c, i| {
        for _ in 0..10 {
            let r = c.cmd(&["GET", &format!("cold:{i}")]);
            assert!(r.starts_with(b"$1000"));
        }
    });
    assert!(kept >= 0.9, "kept {kept}");
}

#[test]
fn config_set_maxmemory_lower_evicts_at_once() {
    let s = Server::start(Kind::Ferredis, &["--maxmemory-policy", "allkeys-random"]);
    let mut c = s.client();
    let base = used(&mut c);
    write_keys(&mut c, "k", 0..5000, None, None);
    let limit = base + (used(&mut c) - base) / 3;
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    // CONFIG SET itself evicted (the first slice of the work at least, the rest continues in the
    // background when the time limit cut it short).
    let evicted = int_field(&mut c, "stats", "evicted_keys");
    assert!(evicted > 0);
    wait_for(
        "memory under the new limit",
        Duration::from_secs(10),
        || used(&mut c) <= limit + TOLERANCE,
    );
    // With unlimited tenacity one CONFIG SET does it all.
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    write_keys(&mut c, "m", 0..3000, None, None);
    ok(
        &mut c,
        &["CONFIG", "SET", "maxmemory-eviction-tenacity", "100"],
    );
    let limit = base + (used(&mut c) - base) / 3;
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    let u = used(&mut c);
    assert!(u <= limit + TOLERANCE, "{u} > {limit}");
}

#[test]
fn object_freq_and_idletime_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        SET k v
        OBJECT FREQ k
        OBJECT FREQ nokey
        OBJECT IDLETIME k
        CONFIG SET maxmemory-policy allkeys-lfu
        SET a v
        OBJECT FREQ a
        SET a w
        OBJECT FREQ a
        OBJECT IDLETIME a
        OBJECT IDLETIME nokey
        OBJECT FREQ nokey
        HSET h f v
        OBJECT FREQ h
        HGET h f
        OBJECT FREQ h
        CONFIG SET maxmemory-policy volatile-lfu
        OBJECT FREQ h
        # With lfu-log-factor 0 every access counts: the number of lookups shows exactly.
        CONFIG SET lfu-log-factor 0
        SET c1 v
        GET c1
        GET c1
        OBJECT FREQ c1
        SET c1 w
        OBJECT FREQ c1
        APPEND c1 x
        OBJECT FREQ c1
        STRLEN c1
        EXISTS c1
        TYPE c1
        TTL c1
        OBJECT FREQ c1
        MGET c1 c1 nokey
        OBJECT FREQ c1
        SET n 20000
        INCR n
        INCRBY n 5
        OBJECT FREQ n
        LPUSH l a
        LPUSH l b
        LRANGE l 0 -1
        OBJECT FREQ l
        HSET h2 f v
        HSET h2 g v
        HGETALL h2
        OBJECT FREQ h2
        SADD s a
        SADD s b
        SISMEMBER s a
        OBJECT FREQ s
        ZADD z 1 a
        ZADD z 2 b
        ZSCORE z a
        OBJECT FREQ z
        EXPIRE c1 1000
        PERSIST c1
        OBJECT FREQ c1
        RENAME c1 c2
        OBJECT FREQ c2
        SET c2 r XX
        OBJECT FREQ c2
        CONFIG SET lfu-log-factor 10
        CONFIG SET maxmemory-policy volatile-lru
        OBJECT FREQ h
        "#,
    );
    d.assert_clean();
    // RESTORE's FREQ sets the counter under LFU.
    for c in [&mut d.r, &mut d.f] {
        ok(c, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
        let payload = c.cmd(&["DUMP", "a"]);
        let nl = payload.iter().position(|&b| b == b'\n').unwrap();
        let body = &payload[nl + 1..payload.len() - 2];
        let r = c.cmd_bytes(&[b"RESTORE", b"r", b"0", body, b"FREQ", b"100"]);
        assert_eq!(r, b"+OK\r\n");
        assert_eq!(c.cmd(&["OBJECT", "FREQ", "r"]), b":100\r\n");
    }
}

#[test]
fn used_memory_is_continuous_when_a_limit_is_set_or_cleared() {
    // Counted from the start when configured at start-up.
    let s = Server::start(Kind::Ferredis, &["--maxmemory", "100mb"]);
    let mut c = s.client();
    let counted = used(&mut c);
    assert!(counted > 50_000 && counted < 50 << 20, "{counted}");
    write_keys(&mut c, "k", 0..2000, None, None);
    let counted = used(&mut c);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    let jemalloc = used(&mut c);
    assert!(counted.abs_diff(jemalloc) < 4 << 20, "{counted} {jemalloc}");
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1gb"]);
    let again = used(&mut c);
    assert!(again.abs_diff(jemalloc) < 256 << 10, "{jemalloc} {again}");
    ok(&mut c, &["FLUSHALL"]);
    assert!(used(&mut c) + 1_500_000 < again);
}

/// Every evicted key raises the `evicted` keyspace event (class `e`) on both channels, as Redis
/// does, and only that many.
#[test]
fn evicted_keys_raise_the_evicted_event() {
    let s = Server::start(Kind::Ferredis, &["--notify-keyspace-events", "Ke"]);
    let mut sub = s.client();
    sub.cmd(&["PSUBSCRIBE", "__keyspace@0__:*"]);
    let mut c = s.client();
    let base = used(&mut c);
    let limit = base + 1024 * 1024;
    ok(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
    );
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    write_keys(&mut c, "k", 0..3_000, None, Some(limit));
    let evicted = int_field(&mut c, "stats", "evicted_keys");
    assert!(evicted > 1000, "{evicted}");
    let dbsize = int_reply(&c.cmd(&["DBSIZE"])) as u64;
    assert_eq!(evicted + dbsize, 3_000);
    for _ in 0..evicted {
        let msg = String::from_utf8_lossy(&sub.read_reply()).into_owned();
        assert!(
            msg.contains("__keyspace@0__:k:") && msg.ends_with("$7\r\nevicted\r\n"),
            "{msg}"
        );
    }
    // Nothing more: a PING's reply comes next on the subscriber.
    sub.send_raw(b"*1\r\n$4\r\nPING\r\n");
    let next = sub.read_reply();
    assert!(
        String::from_utf8_lossy(&next).contains("pong"),
        "{:?}",
        String::from_utf8_lossy(&next)
    );
}

/// Under `lazyfree-lazy-eviction` an evicted value that is costly to free (here, sets of 100
/// members) goes to the lazy-free thread: every eviction shows in `lazyfreed_objects`, on both
/// servers, and the limit still holds once the thread has caught up.
#[test]
fn lazy_eviction_frees_in_the_background() {
    for kind in [Kind::Redis, Kind::Ferredis] {
        let s = Server::start(kind, &["--lazyfree-lazy-eviction", "yes"]);
        let mut c = s.client();
        let limit = used(&mut c) + 3 * 1024 * 1024;
        ok(
            &mut c,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
        );
        ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
        // About 12 MB of sets of 100 members: a hashtable each (members are not integers).
        for batch in 0..40 {
            pipeline(&mut c, 50, |i| {
                let mut a = vec!["SADD".to_string(), format!("s:{batch}:{i}")];
                a.extend((0..100).map(|m| format!("member-{m:04}-{}", "y".repeat(40))));
                a
            });
        }
        wait_for("the lazy frees done", Duration::from_secs(30), || {
            int_field(&mut c, "memory", "lazyfree_pending_objects") == 0
        });
        let evicted = int_field(&mut c, "stats", "evicted_keys");
        assert!(evicted > 0, "{kind:?}: nothing evicted");
        assert_eq!(
            int_field(&mut c, "memory", "lazyfreed_objects"),
            evicted,
            "{kind:?}"
        );
        assert!(used(&mut c) <= limit + TOLERANCE, "{kind:?}");
    }
}
