//! Keyspace notifications (`notify-keyspace-events`), compared byte for byte with the real
//! redis-server: on each side a subscriber PSUBSCRIBEs `__key*__:*`, the same commands run on both,
//! and after every command a sync message (`PUBLISH __keysync__:x n`, which the pattern also
//! matches) marks where the command's events end; the two subscribers' messages up to it must be
//! identical, in order. Per-family scripts, a seeded random stream mixing every family with short
//! TTLs (`expired` events), several class settings, CONFIG GET's canonical form, and RESP3 pushes.

mod common;
use common::*;

use std::time::Duration;

/// Both servers with a pattern subscriber each, and the mismatches seen so far.
struct NDiff {
    d: Diff,
    rs: RawClient,
    fs: RawClient,
    /// The connections that publish the sync messages (not the command connections, which may
    /// be inside MULTI).
    rp: RawClient,
    fp: RawClient,
    seq: u64,
    mismatches: Vec<String>,
    events_seen: usize,
}

fn show(msgs: &[Vec<u8>]) -> String {
    msgs.iter()
        .map(|m| {
            // `*4 $8 pmessage $pat $channel $payload`: show channel=payload.
            let s = String::from_utf8_lossy(m);
            let parts: Vec<&str> = s.split("\r\n").collect();
            match parts.as_slice() {
                [_, _, _, _, _, _, ch, _, payload, ..] => format!("{ch}={payload}"),
                _ => s.replace("\r\n", " "),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn subscribe(server: &Server) -> RawClient {
    let mut c = server.client();
    let r = c.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    assert!(r.starts_with(b"*3\r\n$10\r\npsubscribe"), "{r:?}");
    c
}

impl NDiff {
    fn new(flags: &str) -> NDiff {
        let d = Diff::new(&["--notify-keyspace-events", flags]);
        let rs = subscribe(&d.redis);
        let fs = subscribe(&d.ferredis);
        let (rp, fp) = (d.redis.client(), d.ferredis.client());
        NDiff {
            d,
            rs,
            fs,
            rp,
            fp,
            seq: 0,
            mismatches: Vec::new(),
            events_seen: 0,
        }
    }

    /// Messages a subscriber got up to the sync message `seq` (excluded).
    fn drain(sub: &mut RawClient, seq: u64) -> Vec<Vec<u8>> {
        let marker = format!(
            "$13\r\n__keysync__:x\r\n${}\r\n{seq}\r\n",
            seq.to_string().len()
        );
        let mut out = Vec::new();
        loop {
            let m = sub.read_reply();
            if m.ends_with(marker.as_bytes()) {
                return out;
            }
            out.push(m);
        }
    }

    /// Ends the current command's events on both sides and compares them.
    fn sync(&mut self, what: &str) {
        self.seq += 1;
        let n = self.seq.to_string();
        let a = self.rp.cmd(&["PUBLISH", "__keysync__:x", &n]);
        let b = self.fp.cmd(&["PUBLISH", "__keysync__:x", &n]);
        assert_eq!(a, b, "PUBLISH sync after {what}");
        let want = Self::drain(&mut self.rs, self.seq);
        let got = Self::drain(&mut self.fs, self.seq);
        self.events_seen += want.len();
        if std::env::var_os("NOTIFY_TRACE").is_some() {
            eprintln!(
                "{what}\n   redis:    [{}]\n   ferredis: [{}]",
                show(&want),
                show(&got)
            );
        }
        if want != got {
            self.mismatches.push(format!(
                "{what}\n   redis:    [{}]\n   ferredis: [{}]",
                show(&want),
                show(&got)
            ));
        }
    }

    fn run(&mut self, args: &[&[u8]]) {
        if args[0].eq_ignore_ascii_case(b"spop") {
            // Which members a whole-set SPOP lists first is the set family's business here; the
            // events are compared all the same.
            let a: Vec<&str> = args
                .iter()
                .map(|a| std::str::from_utf8(a).unwrap_or(""))
                .collect();
            self.d.run_unordered(&a);
        } else {
            self.d.run_bytes(args);
        }
        let what = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        self.sync(&what);
    }

    fn run_str(&mut self, line: &str) {
        let args = split_line(line);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        self.run(&refs);
    }

    /// Waits until `key` is gone on both servers (PTTL -2: expired actively, or lazily by the PTTL
    /// itself, which raises the same `expired` event), then compares the events.
    fn wait_gone(&mut self, key: &str) {
        // OBJECT raises no `keymiss` (unlike PTTL), so polling does not add events.
        for c in [&mut self.d.r, &mut self.d.f] {
            wait_for(&format!("{key} to expire"), Duration::from_secs(10), || {
                c.cmd(&["OBJECT", "REFCOUNT", key]) == b"$-1\r\n"
            });
        }
        self.sync(&format!("(expiry of {key})"));
    }

    /// Runs a script: one command per line; `@gone <key>` waits for a key to expire.
    fn script(&mut self, text: &str) {
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if let Some(k) = t.strip_prefix("@gone ") {
                self.wait_gone(k.trim());
                continue;
            }
            self.run_str(t);
        }
    }

    fn assert_clean(&self) {
        self.d.assert_clean();
        assert!(
            self.mismatches.is_empty(),
            "{} commands raised other events than redis-server:\n{}",
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
    }
}

const GENERIC: &str = r#"
set a 1
del a
del a
set a 1
set b 2
del a b c
set a 1
unlink a
set a 1
expire a 100
expire a 100 nx
expire a 200 xx
expire a 50 gt
expire a 50 lt
pexpire a 100000
expireat a 4000000000
pexpireat a 4000000000000
persist a
persist a
expire a 0
set a 1
pexpire a -5
set a 1
expireat a 1
expire missing 10
set a 1
rename a b
rename b b
renamenx b b
set c 3
rename b c
renamenx c d
set e 1
renamenx d e
rename nosuch x
move d 1
set d 2
move d 1
select 1
move d 0
del d
select 0
set x 1
copy x y
copy x y
copy x y replace
copy x y db 2
copy x y db 2 replace
copy nosuch y
rpush l 3 1 2
sort l store sorted
sort l desc store sorted
sort nosuch store sorted
sort nosuch store sorted
touch x y nosuch
exists x
type x
flushdb
set x 1
flushall
set a 1
swapdb 0 1
select 1
del a
select 0
"#;

const STRINGS: &str = r#"
set s v
set s v nx
set s w xx
set s2 v xx
set s v get
set s v ex 100
set s v px 100000
set s v exat 4000000000
set s v pxat 4000000000000
set s v keepttl
set s v ex 100 get
set s v nx ex 100
setnx s x
setnx s3 x
setex s 100 v
psetex s 100000 v
getset s y
getset s4 y
mset m1 1 m2 2
msetnx m1 1 m3 3
msetnx m4 1 m5 2
append s zz
append s5 zz
setrange s 2 abc
setrange s 0 ""
setrange s6 0 ""
setrange s6 3 x
incr n
incrby n 5
decr n
decrby n 2
incrbyfloat n 1.5
incrbyfloat f 2
incr s
getdel s
getdel s
set s v
getex s
getex s ex 100
getex s px 100000
getex s exat 4000000000
getex s persist
getex s persist
getex s pxat 1
getex nosuch ex 10
setbit b 7 1
setbit b 7 1
setbit b 100 0
bitop or d b b
bitop and d nosuch1 nosuch2
bitop and d nosuch1 nosuch2
bitop not d b
bitfield bf set u8 0 255
bitfield bf get u8 0
bitfield bf incrby u8 0 1 overflow fail incrby u8 0 300
bitfield bf overflow fail incrby u8 0 300
bitfield_ro bf get u8 0
get s
strlen s
getrange s 0 1
mget s n nosuch
lcs s n
"#;

const LISTS: &str = r#"
lpush l a b c
rpush l d e
lpushx l x
rpushx l y
lpushx nol x
rpushx nol y
linsert l before a z
linsert l after nosuchpivot z
linsert nol before a z
lset l 0 q
lset l 100 q
lrem l 0 zz
lrem l 1 a
ltrim l 1 -1
ltrim l 0 2
lpop l
rpop l
lpop l 0
rpop l 5
lpop nol
rpush l a b c
ltrim l 5 10
rpush l a b c
lrem l 0 a
lrem l 0 b
lrem l 0 c
rpush src a b c
rpoplpush src dst
rpoplpush src src
lmove src dst left right
lmove src dst right left
lmove dst dst left left
lmove nosrc dst left left
lmpop 2 nol src left
lmpop 2 nol src right count 10
lmpop 2 nol nol2 left
lrange dst 0 -1
llen dst
lindex dst 0
lpos dst a
set str x
lpush str a
rpoplpush dst str
"#;

const HASHES: &str = r#"
hset h f v
hset h f v g w
hset h f v
hmset h a 1 b 2
hsetnx h f x
hsetnx h new x
hdel h nosuch
hdel h f g
hincrby h a 5
hincrby h2 a 5
hincrbyfloat h b 1.5
hincrbyfloat h3 b 1.5
hincrby h new 1
hdel h a b new
hdel h nosuch
hget h f
hgetall h2
hlen h2
hstrlen h2 a
hexists h2 a
hdel h2 a
hdel h3 b
"#;

const SETS: &str = r#"
sadd s a b c
sadd s a
srem s nosuch
srem s a
srem s b c
sadd s a b c
sadd t c d
smove s t a
smove s t c
smove s s b
smove s t nosuch
smove s t b
smove t u a
sadd x 1 2 3
sadd y 2 3 4
sinterstore i x y
sinterstore i x nosuch
sinterstore i x nosuch
sunionstore u x y
sunionstore u nosuch1 nosuch2
sdiffstore df x y
sdiffstore df x x
sdiffstore df x x
spop nosuch
spop x 0
spop x 10
sadd x 1
spop x
sadd x 1 2 3
spop x 3
sadd x 1 2 3
spop x 4
sismember y 2
smembers nosuch
scard y
sinter x y
sintercard 2 x y
"#;

const ZSETS: &str = r#"
zadd z 1 a 2 b 3 c
zadd z 1 a
zadd z 5 a
zadd z nx 9 a
zadd z nx 9 d
zadd z xx 9 e
zadd z xx 8 d
zadd z gt 1 d
zadd z lt 1 d
zadd z ch 2 d
zadd z incr 1 a
zadd z incr nx 1 a
zincrby z 2 b
zincrby z2 2 b
zrem z nosuch
zrem z a
zremrangebyscore z 100 200
zremrangebyscore z 0 2
zremrangebyrank z 5 10
zremrangebyrank z 0 0
zadd z 1 a 2 b 3 c
zremrangebylex z [x [z
zremrangebylex z - [a
zpopmin z
zpopmax z 5
zpopmin nosuch
zadd z 1 a 2 b 3 c
zpopmin z 0
zadd z1 1 a 2 b
zadd z2 2 b 3 c
zinterstore zi 2 z1 z2
zinterstore zi 2 z1 nosuch
zinterstore zi 2 z1 nosuch
zunionstore zu 2 z1 z2
zunionstore zu 2 no1 no2
zdiffstore zd 2 z1 z2
zdiffstore zd 2 z1 z1
zdiffstore zd 2 z1 z1
zrangestore zr z1 0 -1
zrangestore zr z1 5 10
zrangestore zr z1 5 10
zmpop 2 nosuch z1 min
zmpop 2 nosuch z1 max count 5
zmpop 1 nosuch min
zrem z2 b c
zrange z 0 -1
zscore z a
zcard z
zrank z a
zcount z -inf +inf
zinter 2 z z
"#;

const EXPIRY: &str = r#"
set e1 v
pexpire e1 50
@gone e1
set e2 v px 50
@gone e2
rpush e3 a
pexpire e3 50
@gone e3
set e4 v
pexpire e4 30
@gone e4
hset e5 f v
pexpire e5 30
@gone e5
"#;

const EDGES: &str = r#"
append a ""
append a x
append a ""
setrange b 0 ""
set n 10
incrby n 0
incrbyfloat n 0
decrby n 0
rpush l a
set l2 x
set l2 y get
lpush s x
set s y get
hset h f 1
hincrby h f 0
hincrbyfloat h f 0
hset h f 1
hsetnx h f 1
sadd st a
sadd st a
srem st b
zadd z 1 a
zadd z 1 a
zincrby z 0 a
zadd z incr 0 a
zadd z gt 0 a
zadd z xx ch 1 a
zrem z b
zremrangebyscore z 5 6
expire nosuch 10
persist n
getex n persist
ltrim l 0 -1
ltrim l 1 0
lrem l 0 nothing
linsert l before a a
lset l 0 a
move nosuch 2
copy nosuch x
rename l l
del nosuch
unlink nosuch
sort nosuch store d
smove st st a
smove st st2 a
smove st2 st2 a
"#;

#[test]
fn edge_cases_match() {
    let mut n = NDiff::new("KEAn");
    n.script(EDGES);
    n.assert_clean();
    resp3_self_script("KEA", EDGES);
}

#[test]
fn generic_events_match() {
    let mut n = NDiff::new("KEA");
    n.script(GENERIC);
    n.assert_clean();
    assert!(n.events_seen > 50, "{}", n.events_seen);
}

#[test]
fn string_events_match() {
    let mut n = NDiff::new("KEA");
    n.script(STRINGS);
    n.assert_clean();
}

#[test]
fn list_events_match() {
    let mut n = NDiff::new("KEA");
    n.script(LISTS);
    n.assert_clean();
}

#[test]
fn hash_events_match() {
    let mut n = NDiff::new("KEA");
    n.script(HASHES);
    n.assert_clean();
}

#[test]
fn set_events_match() {
    let mut n = NDiff::new("KEA");
    n.script(SETS);
    n.assert_clean();
}

#[test]
fn zset_events_match() {
    let mut n = NDiff::new("KEA");
    n.script(ZSETS);
    n.assert_clean();
}

#[test]
fn expired_and_new_events_match() {
    let mut n = NDiff::new("KEAn");
    n.script(EXPIRY);
    n.script(GENERIC);
    n.script(STRINGS);
    n.script(LISTS);
    n.script(HASHES);
    n.script(SETS);
    n.script(ZSETS);
    n.assert_clean();
}

#[test]
fn narrower_class_settings_match() {
    for flags in ["Kl", "Ex", "Eg$", "Kzh", "Es", "Kn", "A", "KEm", "Kgx"] {
        let mut n = NDiff::new(flags);
        n.script(EXPIRY);
        n.script(STRINGS);
        n.script(LISTS);
        n.script(ZSETS);
        n.run_str("get nosuch");
        n.run_str("exists nosuch");
        n.assert_clean();
    }
}

#[test]
fn transactions_raise_each_commands_events() {
    let mut n = NDiff::new("KEA");
    n.script(
        r#"
        multi
        set a 1
        rpush l x
        lpop l
        expire a 100
        exec
        "#,
    );
    n.assert_clean();
}

#[test]
fn active_expiry_raises_expired() {
    // The key is never touched again: only the expiry cycle can delete it.
    let mut n = NDiff::new("KEA");
    n.run_str("set k v px 10");
    for c in [&mut n.d.r, &mut n.d.f] {
        wait_for("active expiry", Duration::from_secs(10), || {
            c.info_field("stats", "expired_keys").as_deref() == Some("1")
        });
    }
    n.sync("(active expiry)");
    n.assert_clean();
}

/// A tiny seeded generator (xorshift), so a failing stream can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Command templates of every family; `K` is a key, `M` a member/field, `V` a value.
const TEMPLATES: &[&str] = &[
    "set K V",
    "set K V nx",
    "set K V xx get",
    "setnx K V",
    "getset K V",
    "append K V",
    "setrange K 1 V",
    "incr K",
    "incrby K 3",
    "incrbyfloat K 1.5",
    "mset K V K V",
    "msetnx K V K V",
    "getdel K",
    "getex K persist",
    "setbit K 3 1",
    "bitop or K K K",
    "lpush K M M",
    "rpush K M",
    "lpushx K M",
    "lpop K",
    "rpop K 2",
    "linsert K before M V",
    "lset K 0 V",
    "lrem K 0 M",
    "ltrim K 1 -1",
    "rpoplpush K K",
    "lmove K K left right",
    "lmpop 2 K K left",
    "hset K M V M V",
    "hsetnx K M V",
    "hdel K M M",
    "hincrby K M 2",
    "hincrbyfloat K M 0.5",
    "sadd K M M",
    "srem K M",
    "smove K K M",
    "sinterstore K K K",
    "sunionstore K K K",
    "sdiffstore K K K",
    "spop K 10",
    "zadd K 1 M 2 M",
    "zadd K incr 1 M",
    "zincrby K 2 M",
    "zrem K M",
    "zremrangebyscore K 0 1",
    "zremrangebyrank K 0 0",
    "zremrangebylex K - [b",
    "zpopmin K",
    "zpopmax K 2",
    "zinterstore K 2 K K",
    "zunionstore K 2 K K",
    "zdiffstore K 2 K K",
    "zrangestore K K 0 -1",
    "zmpop 2 K K min",
    "del K K",
    "unlink K",
    "expire K 100",
    "persist K",
    "expire K -1",
    "rename K K",
    "renamenx K K",
    "copy K K",
    "copy K K replace",
    "sort K store K",
    "touch K",
    "get K",
    "exists K",
    "setex K 100 V",
    "set K V px 100000",
    "getex K ex 100",
    "expire K 100 nx",
    "zadd K gt 5 M",
    "zadd K lt 0 M",
    "bitfield K incrby u8 0 1",
    "sadd K 1 2 3",
    "sinterstore K K K K",
    "hget K M",
    "lrange K 0 -1",
    "zscore K M",
    "type K",
    "ttl K",
    "strlen K",
    "move K 1",
    "copy K K db 1",
];

#[test]
fn random_stream_matches() {
    let keys = ["k1", "k2", "k3", "k4", "k5", "k6"];
    let members = ["a", "b", "c", "1", "2"];
    let values = ["1", "2", "x", "10", "3.5"];
    let mut runs = vec![
        ("KEA", 0x9e3779b97f4a7c15u64, 500),
        ("KEAn", 42, 500),
        ("Elzx", 7, 30),
        ("Kg$shm", 1234567, 200),
    ];
    // More seeds on demand: NOTIFY_SEEDS=1,2,3 (each run with KEAnm).
    if let Ok(seeds) = std::env::var("NOTIFY_SEEDS") {
        runs = seeds
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .map(|s| ("KEAnm", s, 100))
            .collect();
    }
    for (flags, seed, min_events) in runs {
        let mut n = NDiff::new(flags);
        let mut rng = Rng(seed);
        for _ in 0..800 {
            if rng.next().is_multiple_of(12) {
                // A short TTL, then wait until it fired (active or lazy expiry, same events).
                let k = rng.pick(&keys);
                // At least 3 ms, so the TTL is still in the future when the command checks it
                // (a debug build is slow).
                let ms = (3 + rng.next() % 5).to_string();
                // The `expire` and `expired` events are compared together: the key may expire
                // before or after a sync message could be published.
                let args = split_line(&format!("pexpire {k} {ms}"));
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                n.d.run_bytes(&refs);
                // Missing key: nothing to wait for; else the TTL is set and fires soon.
                n.wait_gone(k);
                continue;
            }
            let t = rng.pick(TEMPLATES);
            let mut line = String::new();
            for w in t.split(' ') {
                let w = match w {
                    "K" => rng.pick(&keys),
                    "M" => rng.pick(&members),
                    "V" => rng.pick(&values),
                    w => w,
                };
                line.push_str(w);
                line.push(' ');
            }
            n.run_str(line.trim_end());
        }
        n.assert_clean();
        assert!(n.events_seen > min_events, "{flags}: {}", n.events_seen);
    }
}

#[test]
fn config_get_gives_the_canonical_form() {
    let r = Server::start(Kind::Redis, &[]);
    let f = Server::start(Kind::Ferredis, &[]);
    let (mut rc, mut fc) = (r.client(), f.client());
    for v in [
        "KEA",
        "AKE",
        "A",
        "K",
        "E",
        "Kx",
        "Eg$",
        "Kl",
        "g$lshzxetd",
        "g$lshzxetdK",
        "n",
        "Kn",
        "KEAn",
        "KEAm",
        "m",
        "KEAnm",
        "Km$",
        "xE",
        "",
        "KEz?",
        "a",
        "EEKK",
        "tdem",
        "$$",
    ] {
        let set = ["CONFIG", "SET", "notify-keyspace-events", v];
        assert_eq!(rc.cmd(&set), fc.cmd(&set), "CONFIG SET {v:?}");
        let get = ["CONFIG", "GET", "notify-keyspace-events"];
        assert_eq!(rc.cmd(&get), fc.cmd(&get), "CONFIG GET after {v:?}");
    }
    let bad = ["CONFIG", "SET", "notify-keyspace-events", "K", "E"];
    assert_eq!(rc.cmd(&bad), fc.cmd(&bad));
    // The directive at start-up.
    for v in ["KEA", "Elg", "xK"] {
        let r = Server::start(Kind::Redis, &["--notify-keyspace-events", v]);
        let f = Server::start(Kind::Ferredis, &["--notify-keyspace-events", v]);
        let get = ["CONFIG", "GET", "notify-keyspace-events"];
        assert_eq!(r.client().cmd(&get), f.client().cmd(&get), "{v}");
    }
}

#[test]
fn config_set_turns_events_on_and_off() {
    let mut n = NDiff::new("");
    n.run_str("set a 1");
    n.run_str("config set notify-keyspace-events KEA");
    n.run_str("set a 2");
    n.run_str("config set notify-keyspace-events Kh");
    n.run_str("set a 3");
    n.run_str("hset h f v");
    n.run_str("config set notify-keyspace-events \"\"");
    n.run_str("hset h f w");
    n.assert_clean();
    assert_eq!(n.events_seen, 3);
}

/// RESP3 subscribers get pushes (`>4 pmessage ...`); a RESP3 client subscribed to its own events
/// gets them within its reply stream, where Redis writes them. Compared with the real server.
#[test]
fn resp3_push_delivery_matches() {
    let d = Diff::new(&["--notify-keyspace-events", "KEA"]);
    let mut outs = Vec::new();
    for s in [&d.redis, &d.ferredis] {
        let mut sub = s.client();
        sub.cmd(&["HELLO", "3"]);
        let mut transcript = Vec::new();
        transcript.extend(sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]));
        transcript.extend(sub.cmd(&["SUBSCRIBE", "__keyspace@0__:k"]));
        // Its own commands: pushes interleave with the replies where Redis writes them.
        for c in [
            &["SET", "k", "v"][..],
            &["EXPIRE", "k", "100"],
            &["DEL", "k"],
            &["RPUSH", "l", "a", "b"],
            &["LPOP", "l"],
            &["PING"],
        ] {
            sub.send_raw(&RawClient::encode(
                &c.iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
            ));
        }
        loop {
            let m = sub.read_reply();
            transcript.extend(&m);
            if m == b"+PONG\r\n" {
                break;
            }
        }
        // Another client's command reaches it as pushes; then an end marker.
        let mut other = s.client();
        other.cmd(&["PING"]);
        other.cmd(&["SET", "k", "w"]);
        other.cmd(&["PUBLISH", "__keyevent@0__:zz", "end"]);
        loop {
            let m = sub.read_reply();
            transcript.extend(&m);
            if m.ends_with(b"$3\r\nend\r\n") {
                break;
            }
        }
        outs.push(String::from_utf8_lossy(&transcript).into_owned());
    }
    assert_eq!(outs[0], outs[1]);
    assert!(outs[1].contains(">4\r\n$8\r\npmessage\r\n"), "{}", outs[1]);
}

#[test]
fn resp2_channel_subscriber_gets_messages() {
    let d = Diff::new(&["--notify-keyspace-events", "KEA"]);
    let mut outs = Vec::new();
    for s in [&d.redis, &d.ferredis] {
        let mut sub = s.client();
        let mut t = sub.cmd(&["SUBSCRIBE", "__keyevent@0__:set", "__keyspace@0__:k"]);
        t.extend(sub.read_reply());
        let mut c = s.client();
        c.cmd(&["SET", "k", "v"]);
        c.cmd(&["SET", "other", "v"]);
        for _ in 0..3 {
            t.extend(sub.read_reply());
        }
        outs.push(String::from_utf8_lossy(&t).into_owned());
    }
    assert_eq!(outs[0], outs[1]);
}

/// Runs a script on a RESP3 connection subscribed to its own events and compares everything it
/// reads per command (the reply and the pushes, interleaved as Redis writes them).
fn resp3_self_script(flags: &str, script: &str) {
    let d = Diff::new(&["--notify-keyspace-events", flags]);
    let mut sides: Vec<(RawClient, RawClient)> = [&d.redis, &d.ferredis]
        .iter()
        .map(|s| {
            let mut c = s.client();
            c.cmd(&["HELLO", "3"]);
            let r = c.cmd(&["PSUBSCRIBE", "__key*__:*"]);
            assert!(r.starts_with(b">3\r\n"), "{r:?}");
            (c, s.client())
        })
        .collect();
    let mut mismatches = Vec::new();
    for (seq, line) in script
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.starts_with('#') && !t.starts_with('@'))
        .enumerate()
    {
        let args = split_line(line);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let n = seq.to_string();
        let marker = format!("$13\r\n__keysync__:x\r\n${}\r\n{n}\r\n", n.len());
        let mut got = Vec::new();
        for (c, p) in sides.iter_mut() {
            c.send_raw(&RawClient::encode(&refs));
            // The command's reply must be complete before the sync is published.
            let mut t = Vec::new();
            loop {
                let m = c.read_reply();
                let push = m.starts_with(b">");
                t.extend(&m);
                if !push {
                    break;
                }
            }
            p.cmd(&["PUBLISH", "__keysync__:x", &n]);
            loop {
                let m = c.read_reply();
                if m.ends_with(marker.as_bytes()) {
                    break;
                }
                t.extend(&m);
            }
            got.push(String::from_utf8_lossy(&t).replace("\r\n", " "));
        }
        if got[0] != got[1] {
            mismatches.push(format!(
                "{line}\n   redis:    {}\n   ferredis: {}",
                got[0], got[1]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} commands differ for a RESP3 client subscribed to its own events:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn resp3_self_subscriber_sees_pushes_where_redis_writes_them() {
    for script in [GENERIC, STRINGS, LISTS, HASHES, SETS, ZSETS] {
        resp3_self_script("KEA", script);
    }
    // Inside EXEC each command's pushes land within the EXEC reply, where Redis writes them.
    resp3_self_script(
        "KEA",
        "multi\nset a 1\nrpush l x y\nlpop l\nexpire a 100\nzadd z 1 m\nzpopmin z\nexec\nget a",
    );
}

/// The server's clock, ms (TIME).
fn server_ms(c: &mut RawClient) -> i64 {
    let r = String::from_utf8_lossy(&c.cmd(&["TIME"])).into_owned();
    let parts: Vec<&str> = r.split("\r\n").collect();
    let s: i64 = parts[2].parse().expect("TIME seconds");
    let us: i64 = parts[4].parse().expect("TIME micros");
    s * 1000 + us / 1000
}

#[test]
fn lazy_expiry_raises_expired_before_the_commands_events() {
    let mut n = NDiff::new("KEAn");
    n.run_str("debug set-active-expire 0");
    for cmd in [
        "lpush k x",
        "set k v",
        "incr k",
        "sadd k a",
        "hset k f v",
        "zadd k 1 a",
        "del k",
        "rename k k2",
        "expire k 100",
        "append k x",
        "get k",
        "exists k",
        "setrange k 0 x",
        "rpoplpush k k3",
        "copy k k4",
        // Empty results stored over an expired destination.
        "zunionstore k 1 nosuch",
        "zinterstore k 1 nosuch",
        "zrangestore k nosuch 0 -1",
        "sunionstore k nosuch",
        "sinterstore k nosuch",
        "sdiffstore k nosuch",
        "bitop and k nosuch",
        "sort nosuch store k",
        "getex k persist",
        "getdel k",
        "restore k 0 nosuchpayload",
        "move k 1",
        "smove k x a",
        "lmove k x left left",
    ] {
        // The TTL must outlast reading both expiry times; on a loaded machine 150 ms may not, and
        // then (on both servers alike) the key expires early: try again with a longer one.
        let mut expired_early = true;
        for ttl in ["150", "600", "2500"] {
            n.run_str("set k 1");
            n.run_str(&format!("pexpire k {ttl}"));
            // Read both expiry times first (PEXPIRETIME on an expired key would expire it), then
            // wait on each server's own clock until the TTL has passed, touching nothing.
            let before = [&mut n.d.r, &mut n.d.f].map(|c| c.info_field("stats", "expired_keys"));
            let ats: Vec<i64> = [&mut n.d.r, &mut n.d.f]
                .into_iter()
                .map(|c| {
                    let r = c.cmd(&["PEXPIRETIME", "k"]);
                    String::from_utf8_lossy(&r[1..r.len() - 2])
                        .parse::<i64>()
                        .unwrap_or(-2)
                })
                .collect();
            for (c, at) in [&mut n.d.r, &mut n.d.f].into_iter().zip(ats) {
                wait_for("the TTL to pass", Duration::from_secs(10), || {
                    server_ms(c) > at
                });
            }
            // Nothing expired it yet: the command's own lookup will.
            let after = [&mut n.d.r, &mut n.d.f].map(|c| c.info_field("stats", "expired_keys"));
            if before == after {
                expired_early = false;
                break;
            }
        }
        assert!(
            !expired_early,
            "the key expired before {cmd}, even with a 2.5 s TTL"
        );
        n.run_str(cmd);
    }
    n.run_str("debug set-active-expire 1");
    n.assert_clean();
}

#[test]
fn debug_populate_and_reload_raise_what_redis_raises() {
    let mut n = NDiff::new("KEAn");
    n.script(
        r#"
        debug populate 3
        debug populate 3 p 10
        set x 1
        debug reload
        get x
        "#,
    );
    n.assert_clean();
}

#[test]
fn restore_raises_restore_and_new() {
    for flags in ["KEA", "KEAn"] {
        let mut n = NDiff::new(flags);
        n.run_str("rpush src a b c");
        // Redis's own DUMP payload, restored on both servers.
        let dump = n.d.r.cmd(&["DUMP", "src"]);
        let payload = parse_bulk_bytes(&dump);
        for line in [
            &[&b"RESTORE"[..], b"dst", b"0", &payload][..],
            &[b"RESTORE", b"dst", b"0", &payload],
            &[b"RESTORE", b"dst", b"0", &payload, b"REPLACE"],
            &[b"RESTORE", b"dst", b"1", &payload, b"REPLACE", b"ABSTTL"],
            &[b"RESTORE", b"dst2", b"100000", &payload],
            &[b"RESTORE", b"dst2", b"1", &payload, b"REPLACE", b"ABSTTL"],
        ] {
            n.run(line);
        }
        n.assert_clean();
    }
}

/// The payload of a `$n` bulk reply, as bytes.
fn parse_bulk_bytes(r: &[u8]) -> Vec<u8> {
    let nl = r.iter().position(|&b| b == b'\n').expect("bulk header");
    let n: usize = std::str::from_utf8(&r[1..nl - 1])
        .expect("utf-8 length")
        .parse()
        .expect("bulk length");
    r[nl + 1..nl + 1 + n].to_vec()
}

/// With CLIENT REPLY OFF/SKIP a RESP3 client still gets the pushes of its own events.
#[test]
fn pushes_reach_a_client_whose_replies_are_off() {
    let d = Diff::new(&["--notify-keyspace-events", "KEA"]);
    let mut outs = Vec::new();
    for s in [&d.redis, &d.ferredis] {
        let mut c = s.client();
        c.cmd(&["HELLO", "3"]);
        let mut t = c.cmd(&["PSUBSCRIBE", "__keyevent*"]);
        for a in [
            &["CLIENT", "REPLY", "OFF"][..],
            &["SET", "a", "1"],
            &["RPUSH", "l", "x"],
            &["CLIENT", "REPLY", "SKIP"],
            &["DEL", "a"],
            &["CLIENT", "REPLY", "ON"],
            &["PING"],
        ] {
            let a: Vec<&[u8]> = a.iter().map(|x| x.as_bytes()).collect();
            c.send_raw(&RawClient::encode(&a));
        }
        loop {
            let m = c.read_reply();
            t.extend(&m);
            if m == b"+PONG\r\n" {
                break;
            }
        }
        outs.push(String::from_utf8_lossy(&t).into_owned());
    }
    assert_eq!(outs[0], outs[1]);
}
