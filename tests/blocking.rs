//! Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP): immediate
//! answers and errors compared byte for byte with redis-server, and the blocking scenarios (who is
//! served, with what, in which order) run against both servers and compared.
//!
//! A client is known to be blocked by polling INFO clients `blocked_clients`, never by sleeping.

mod common;
use common::*;

use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// Sends a command without reading its reply (the client is about to block).
fn send(c: &mut RawClient, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&RawClient::encode(&a));
}

/// Waits until the server reports `n` blocked clients.
fn wait_blocked(admin: &mut RawClient, n: usize) {
    wait_for(&format!("{n} blocked clients"), WAIT, || {
        admin.info_field("clients", "blocked_clients") == Some(n.to_string())
    });
}

/// Runs `scenario` against a real Redis and ferredis and compares the transcripts.
fn same_on_both(scenario: impl Fn(u16) -> Vec<(String, Vec<u8>)>) {
    let redis = Server::start(Kind::Redis, &[]);
    let ferredis = Server::start(Kind::Ferredis, &[]);
    let want = scenario(redis.port);
    let got = scenario(ferredis.port);
    let show = |t: &[(String, Vec<u8>)]| {
        t.iter()
            .map(|(k, v)| format!("{k}: {:?}", String::from_utf8_lossy(v)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        show(&want),
        show(&got),
        "ferredis differs from redis-server"
    );
}

#[test]
fn immediate_answers_and_errors_match_redis() {
    let mut d = Diff::new(&[]);
    let script = "
        RPUSH l a b c d e
        ZADD z 1 a 2 b 3 c 4 d 5 e
        SET s x
        BLPOP l 0
        BRPOP nokey l 1
        BLPOP l l 0
        BLMOVE l l2 LEFT RIGHT 0
        BLMOVE l l right left 0.5
        BRPOPLPUSH l l2 0
        LRANGE l2 0 -1
        BLMPOP 0 2 nokey l2 RIGHT COUNT 10
        EXISTS l2
        RPUSH l2 1 2 3
        BLMPOP 0 1 l2 left
        BZPOPMIN z 0
        BZPOPMAX nokey z 0
        BZMPOP 0 1 z MIN COUNT 2
        BZMPOP 0.1 2 nokey z max
        ZRANGE z 0 -1 WITHSCORES
        # wrong types: at the first key that holds something else
        RPUSH l x y
        ZADD z 9 q
        BLPOP s 0
        BLPOP nokey s l 0
        BRPOP z 0
        BZPOPMIN s 0
        BZPOPMIN l 0
        BZMPOP 0 1 s MIN
        BLMPOP 0 1 z LEFT
        BLMOVE s l LEFT LEFT 0
        BLMOVE l s LEFT LEFT 0
        BRPOPLPUSH l s 0
        LRANGE l 0 -1
        # timeouts that fire at once, and bad timeouts
        BLPOP nokey 0.01
        BRPOP nokey 0.001
        BLMOVE nokey l LEFT LEFT 0.01
        BRPOPLPUSH nokey l 0.01
        BLMPOP 0.01 1 nokey LEFT
        BZPOPMIN nokey 0.01
        BZPOPMAX nokey 0.01
        BZMPOP 0.01 1 nokey MIN COUNT 3
        BLPOP nokey 0x1p-20
        BLPOP nokey abc
        BLPOP nokey -1
        BLPOP nokey -0.5
        BLPOP nokey inf
        BLPOP nokey nan
        BLPOP nokey 1e400
        BLPOP nokey 1e18
        BLPOP nokey \"\"
        BLPOP nokey \" 1\"
        BLPOP nokey \"1 \"
        BZPOPMIN nokey xyz
        BLMOVE nokey l LEFT LEFT -1
        BRPOPLPUSH nokey l abc
        # option errors come before the timeout's
        BLMOVE l l2 UP LEFT abc
        BLMOVE l l2 LEFT DOWN 0
        BLMPOP abc 0 l LEFT
        BLMPOP abc 1 l MIDDLE
        BLMPOP abc 1 l LEFT COUNT 0
        BLMPOP 0 1 l LEFT COUNT -1
        BLMPOP 0 1 l LEFT COUNT 1 COUNT 2
        BLMPOP 0 1 l LEFT COUNT
        BLMPOP 0 5 l LEFT
        BLMPOP abc 1 l LEFT
        BLMPOP 0 -1 l LEFT
        BZMPOP abc 1 z MINX
        BZMPOP abc 1 z MIN COUNT 0
        BZMPOP 0 0 z MIN
        BZMPOP 0 3 z MIN
        BZMPOP -1 1 z MIN
        BZMPOP 0 1 z MIN foo
        # arity
        BLPOP k
        BRPOP
        BLMOVE a b LEFT LEFT
        BRPOPLPUSH a b
        BLMPOP 0 1 l
        BZPOPMIN k
        BZMPOP 0 1 z
    ";
    d.script(script);
    d.assert_clean();
    // The same in RESP3 (null replies, doubles, the BZMPOP pairs).
    d.r.cmd(&["HELLO", "3"]);
    d.f.cmd(&["HELLO", "3"]);
    d.run(&["FLUSHALL"]);
    d.script(script);
    d.assert_clean();
}

#[test]
fn inside_multi_nothing_blocks() {
    let mut d = Diff::new(&[]);
    let script = "
        RPUSH l a b
        ZADD z 1 a
        MULTI
        BLPOP nokey 0
        BRPOP nokey 0
        BLMOVE nokey x LEFT LEFT 0
        BRPOPLPUSH nokey x 0
        BLMPOP 0 1 nokey LEFT
        BZPOPMIN nokey 0
        BZPOPMAX nokey 0
        BZMPOP 0 1 nokey MAX
        BLPOP l 0
        BLMOVE l l3 RIGHT LEFT 0
        BZPOPMAX z 0
        BLPOP nokey abc
        EXEC
        LRANGE l3 0 -1
    ";
    d.script(script);
    d.r.cmd(&["HELLO", "3"]);
    d.f.cmd(&["HELLO", "3"]);
    d.run(&["FLUSHALL"]);
    d.script(script);
    d.assert_clean();
    d.f.cmd(&["HELLO", "2"]);
    assert_eq!(
        d.f.info_field("clients", "blocked_clients").as_deref(),
        Some("0")
    );
}

#[test]
fn timeout_returns_after_about_the_timeout() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut c = srv.client();
    for (cmd, want) in [
        (vec!["BLPOP", "nokey", "0.3"], &b"*-1\r\n"[..]),
        (
            vec!["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.25"],
            b"*-1\r\n",
        ),
        (vec!["BZMPOP", "0.2", "1", "nokey", "MIN"], b"*-1\r\n"),
    ] {
        let secs: f64 = if cmd[0] == "BZMPOP" {
            cmd[1].parse().unwrap()
        } else {
            cmd.last().unwrap().parse().unwrap()
        };
        let t = Instant::now();
        assert_eq!(c.cmd(&cmd), want, "{cmd:?}");
        let took = t.elapsed().as_secs_f64();
        assert!(
            took >= secs * 0.95 && took < secs + 1.5,
            "{cmd:?} took {took}s"
        );
    }
    c.cmd(&["HELLO", "3"]);
    let t = Instant::now();
    assert_eq!(c.cmd(&["BZPOPMIN", "nokey", "0.1"]), b"_\r\n");
    assert!(t.elapsed() >= Duration::from_millis(95));
    c.cmd(&["HELLO", "2"]);
    // A blocked client with a timeout shows in the timeout table.
    let mut b = srv.client();
    send(&mut b, &["BLPOP", "k", "100"]);
    let mut f = srv.client();
    send(&mut f, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 2);
    assert_eq!(
        c.info_field("clients", "clients_in_timeout_table")
            .as_deref(),
        Some("1")
    );
}

/// Blocks the clients in `blockers` one after the other (each is blocked before the next starts).
fn block_in_order(admin: &mut RawClient, blockers: &mut [RawClient], cmd: &[&str], before: usize) {
    for (i, b) in blockers.iter_mut().enumerate() {
        send(b, cmd);
        wait_blocked(admin, before + i + 1);
    }
}

#[test]
fn waiters_are_served_in_order_by_a_push() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut bs: Vec<RawClient> = (0..3).map(|_| RawClient::connect(port)).collect();
        block_in_order(&mut admin, &mut bs, &["BLPOP", "k", "0"], 0);
        t.push(("lpush".into(), admin.cmd(&["LPUSH", "k", "a", "b", "c"])));
        for (i, b) in bs.iter_mut().enumerate() {
            t.push((format!("client {i}"), b.read_reply()));
        }
        t.push(("left".into(), admin.cmd(&["EXISTS", "k"])));
        // Fewer elements than waiters: the first ones are served, the last keeps waiting.
        block_in_order(&mut admin, &mut bs, &["BRPOP", "other", "k", "0"], 0);
        t.push(("rpush".into(), admin.cmd(&["RPUSH", "k", "x", "y"])));
        for (i, b) in bs.iter_mut().take(2).enumerate() {
            t.push((format!("client {i}"), b.read_reply()));
        }
        wait_blocked(&mut admin, 1);
        t.push(("rpush other".into(), admin.cmd(&["RPUSH", "other", "z"])));
        t.push(("client 2".into(), bs[2].read_reply()));
        // BLMPOP with a count takes what it can, the next waiter the rest.
        block_in_order(
            &mut admin,
            &mut bs[..2],
            &["BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "2"],
            0,
        );
        t.push((
            "rpush m2".into(),
            admin.cmd(&["RPUSH", "m2", "1", "2", "3"]),
        ));
        for (i, b) in bs.iter_mut().take(2).enumerate() {
            t.push((format!("client {i}"), b.read_reply()));
        }
        // Sorted sets, RESP3 for one of the waiters.
        bs[1].cmd(&["HELLO", "3"]);
        block_in_order(&mut admin, &mut bs[..2], &["BZPOPMIN", "z", "0"], 0);
        block_in_order(
            &mut admin,
            &mut bs[2..],
            &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "5"],
            2,
        );
        t.push((
            "zadd".into(),
            admin.cmd(&["ZADD", "z", "1", "a", "2.5", "b", "3", "c", "4", "d"]),
        ));
        for (i, b) in bs.iter_mut().enumerate() {
            t.push((format!("client {i}"), b.read_reply()));
        }
        t.push(("left".into(), admin.cmd(&["EXISTS", "z"])));
        bs[1].cmd(&["HELLO", "2"]);
        // A list waiter and a sorted-set waiter on one key: the type decides who is served.
        block_in_order(&mut admin, &mut bs[..1], &["BZPOPMIN", "mix", "0"], 0);
        block_in_order(&mut admin, &mut bs[1..2], &["BLPOP", "mix", "0"], 1);
        t.push(("rpush mix".into(), admin.cmd(&["RPUSH", "mix", "v"])));
        t.push(("list waiter".into(), bs[1].read_reply()));
        wait_blocked(&mut admin, 1);
        admin.cmd(&["DEL", "mix"]);
        t.push(("zadd mix".into(), admin.cmd(&["ZADD", "mix", "7", "m"])));
        t.push(("zset waiter".into(), bs[0].read_reply()));
        t
    });
}

#[test]
fn other_writes_wake_waiters() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        let mut b2 = RawClient::connect(port);
        /// Blocks `b` with `block`, runs `setup` from `admin`, and records what `b` got.
        fn step(
            t: &mut Vec<(String, Vec<u8>)>,
            admin: &mut RawClient,
            b: &mut RawClient,
            block: &[&str],
            setup: &[&[&str]],
        ) {
            send(b, block);
            wait_blocked(admin, 1);
            for cmd in setup {
                t.push((cmd.join(" "), admin.cmd(cmd)));
            }
            t.push((format!("served {}", block.join(" ")), b.read_reply()));
        }
        admin.cmd(&["RPUSH", "src", "1", "2", "3"]);
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BLPOP", "d1", "0"],
            &[&["RPOPLPUSH", "src", "d1"]],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BRPOP", "d2", "0"],
            &[&["LMOVE", "src", "d2", "LEFT", "LEFT"]],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BLPOP", "d3", "0"],
            &[
                &["LINSERT", "d3", "BEFORE", "x", "y"],
                &["RPUSH", "tmp", "q"],
                &["RENAME", "tmp", "d3"],
            ],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BZPOPMAX", "zd", "0"],
            &[
                &["ZADD", "z1", "1", "a", "2", "b"],
                &["ZUNIONSTORE", "zd", "1", "z1"],
            ],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BZPOPMIN", "zd2", "0"],
            &[&["ZINTERSTORE", "zd2", "1", "z1"]],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BZMPOP", "0", "1", "zd3", "MIN", "COUNT", "9"],
            &[&["ZRANGESTORE", "zd3", "z1", "0", "-1"]],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BZPOPMIN", "zd4", "0"],
            &[&["ZINCRBY", "zd4", "5", "m"]],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BLPOP", "d4", "0"],
            &[
                &["RPUSH", "s", "3", "1", "2"],
                &["SORT", "s", "STORE", "d4"],
            ],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BLPOP", "d5", "0"],
            &[&["COPY", "src", "d5"]],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BLPOP", "d6", "0"],
            &[
                &["SELECT", "1"],
                &["RPUSH", "d6", "m"],
                &["MOVE", "d6", "0"],
                &["SELECT", "0"],
            ],
        );
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BLPOP", "d7", "0"],
            &[
                &["SELECT", "2"],
                &["RPUSH", "d7", "w"],
                &["SWAPDB", "0", "2"],
                &["SELECT", "0"],
            ],
        );
        // SWAPDB moved the waiters' database: back as it was.
        admin.cmd(&["SWAPDB", "0", "2"]);
        // A transaction: the waiter gets what EXEC left, after EXEC's reply.
        step(
            &mut t,
            &mut admin,
            &mut b,
            &["BLPOP", "tx", "0"],
            &[
                &["MULTI"],
                &["RPUSH", "tx", "a"],
                &["LPOP", "tx"],
                &["RPUSH", "tx", "b", "c"],
                &["LPUSH", "tx", "z"],
                &["EXEC"],
            ],
        );
        t.push(("tx after".into(), admin.cmd(&["LRANGE", "tx", "0", "-1"])));
        // A transaction that leaves the key empty serves nobody.
        send(&mut b, &["BLPOP", "tx2", "0.5"]);
        wait_blocked(&mut admin, 1);
        for cmd in [
            &["MULTI"][..],
            &["RPUSH", "tx2", "a"],
            &["DEL", "tx2"],
            &["EXEC"],
        ] {
            t.push((cmd.join(" "), admin.cmd(cmd)));
        }
        t.push(("tx2 timeout".into(), b.read_reply()));
        // A key that becomes another type keeps its list waiter waiting.
        send(&mut b, &["BLPOP", "wt", "0"]);
        wait_blocked(&mut admin, 1);
        t.push(("set".into(), admin.cmd(&["SET", "wt", "str"])));
        t.push(("del".into(), admin.cmd(&["DEL", "wt"])));
        t.push(("zadd".into(), admin.cmd(&["ZADD", "wt", "1", "a"])));
        wait_blocked(&mut admin, 1);
        t.push(("del".into(), admin.cmd(&["DEL", "wt"])));
        t.push(("rpush".into(), admin.cmd(&["RPUSH", "wt", "ok"])));
        t.push(("served".into(), b.read_reply()));
        // BLMOVE served into a destination of the wrong type: WRONGTYPE, the element stays.
        admin.cmd(&["SET", "dstr", "x"]);
        send(&mut b, &["BLMOVE", "bsrc", "dstr", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut admin, 1);
        send(&mut b2, &["BLPOP", "bsrc", "0"]);
        wait_blocked(&mut admin, 2);
        t.push(("rpush bsrc".into(), admin.cmd(&["RPUSH", "bsrc", "e"])));
        t.push(("blmove".into(), b.read_reply()));
        t.push(("next waiter".into(), b2.read_reply()));
        // BLMOVE served chains: its push serves the destination's waiter.
        send(&mut b, &["BLMOVE", "c1", "c2", "RIGHT", "LEFT", "0"]);
        wait_blocked(&mut admin, 1);
        send(&mut b2, &["BRPOPLPUSH", "c2", "c3", "0"]);
        wait_blocked(&mut admin, 2);
        t.push(("rpush c1".into(), admin.cmd(&["RPUSH", "c1", "a", "b"])));
        t.push(("blmove".into(), b.read_reply()));
        t.push(("brpoplpush".into(), b2.read_reply()));
        for k in ["c1", "c2", "c3"] {
            t.push((k.into(), admin.cmd(&["LRANGE", k, "0", "-1"])));
        }
        t
    });
}

#[test]
fn client_unblock_and_client_list() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        let id = String::from_utf8_lossy(&b.cmd(&["CLIENT", "ID"]))
            .trim()
            .trim_start_matches(':')
            .to_string();
        t.push(("not blocked".into(), admin.cmd(&["CLIENT", "UNBLOCK", &id])));
        // (Labels without the id: the two servers number their clients differently.)
        send(&mut b, &["BLPOP", "k", "0"]);
        wait_blocked(&mut admin, 1);
        let list = String::from_utf8_lossy(&admin.cmd(&["CLIENT", "LIST", "ID", &id])).into_owned();
        let fields: Vec<&str> = list
            .split(' ')
            .filter(|f| {
                f.starts_with("flags=") || f.starts_with("cmd=") || f.starts_with("argv-mem=")
            })
            .collect();
        t.push(("client list".into(), fields.join(" ").into_bytes()));
        t.push(("unblock".into(), admin.cmd(&["CLIENT", "UNBLOCK", &id])));
        t.push(("timeout reply".into(), b.read_reply()));
        t.push((
            "again".into(),
            admin.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        ));
        send(&mut b, &["BZMPOP", "0", "1", "z", "MIN"]);
        wait_blocked(&mut admin, 1);
        t.push((
            "unblock error".into(),
            admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]),
        ));
        t.push(("error reply".into(), b.read_reply()));
        b.cmd(&["HELLO", "3"]);
        send(&mut b, &["BLMOVE", "a", "b", "LEFT", "LEFT", "0"]);
        wait_blocked(&mut admin, 1);
        t.push((
            "unblock".into(),
            admin.cmd(&["CLIENT", "UNBLOCK", &id, "timeout"]),
        ));
        t.push(("resp3 timeout".into(), b.read_reply()));
        t.push((
            "blocked".into(),
            admin
                .info_field("clients", "blocked_clients")
                .unwrap_or_default()
                .into_bytes(),
        ));
        for bad in [
            &["CLIENT", "UNBLOCK", "x"][..],
            &["CLIENT", "UNBLOCK", &id, "maybe"],
            &["CLIENT", "UNBLOCK", &id, "error", "x"],
            &["CLIENT", "UNBLOCK", "-1"],
        ] {
            t.push((bad.join(" ").replace(&id, "<id>"), admin.cmd(bad)));
        }
        // The unblocked client goes on as usual.
        t.push(("ping".into(), b.cmd(&["PING"])));
        t
    });
}

#[test]
fn pipelined_commands_wait_for_the_blocked_one() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        let mut batch = Vec::new();
        for cmd in [
            &["SET", "before", "1"][..],
            &["BLPOP", "k", "0"],
            &["SET", "after", "1"],
            &["PING"],
        ] {
            let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            batch.extend(RawClient::encode(&a));
        }
        b.send_raw(&batch);
        wait_blocked(&mut admin, 1);
        t.push(("before ran".into(), admin.cmd(&["EXISTS", "before"])));
        t.push(("after waits".into(), admin.cmd(&["EXISTS", "after"])));
        t.push(("push".into(), admin.cmd(&["RPUSH", "k", "v"])));
        for i in 0..4 {
            t.push((format!("reply {i}"), b.read_reply()));
        }
        t.push(("after ran".into(), admin.cmd(&["EXISTS", "after"])));
        t
    });
}

#[test]
fn a_disconnected_waiter_is_forgotten() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut gone = RawClient::connect(port);
        let mut stays = RawClient::connect(port);
        send(&mut gone, &["BLPOP", "k", "0"]);
        wait_blocked(&mut admin, 1);
        send(&mut stays, &["BLPOP", "k", "0"]);
        wait_blocked(&mut admin, 2);
        drop(gone);
        wait_blocked(&mut admin, 1);
        t.push(("push".into(), admin.cmd(&["RPUSH", "k", "a", "b"])));
        t.push(("served".into(), stays.read_reply()));
        t.push(("left".into(), admin.cmd(&["LRANGE", "k", "0", "-1"])));
        // CLIENT KILL of a blocked client too.
        let mut killed = RawClient::connect(port);
        let id = String::from_utf8_lossy(&killed.cmd(&["CLIENT", "ID"]))
            .trim()
            .trim_start_matches(':')
            .to_string();
        send(&mut killed, &["BZPOPMIN", "z", "0"]);
        wait_blocked(&mut admin, 1);
        t.push(("kill".into(), admin.cmd(&["CLIENT", "KILL", "ID", &id])));
        drop(killed);
        wait_blocked(&mut admin, 0);
        t.push(("zadd".into(), admin.cmd(&["ZADD", "z", "1", "m"])));
        t.push(("kept".into(), admin.cmd(&["ZCARD", "z"])));
        t
    });
}

#[test]
fn redis_crate_blpop_is_woken_by_another_connection() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let port = srv.port;
    let waiter = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).expect("client");
        let mut con = client.get_connection().expect("connect");
        let got: Option<(String, String)> = redis::cmd("BLPOP")
            .arg("jobs")
            .arg(0)
            .query(&mut con)
            .expect("blpop");
        let none: Option<(String, String)> = redis::cmd("BRPOP")
            .arg("jobs")
            .arg(0.1)
            .query(&mut con)
            .expect("brpop");
        (got, none)
    });
    let mut admin = srv.client();
    wait_blocked(&mut admin, 1);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).expect("client");
    let mut con = client.get_connection().expect("connect");
    let n: i64 = redis::cmd("RPUSH")
        .arg("jobs")
        .arg("job-1")
        .query(&mut con)
        .expect("rpush");
    assert_eq!(n, 1);
    let (got, none) = waiter.join().expect("waiter thread");
    assert_eq!(got, Some(("jobs".to_string(), "job-1".to_string())));
    assert_eq!(none, None);
}

#[test]
fn client_pause_write_holds_blocking_pops_back() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        admin.cmd(&["RPUSH", "full", "x"]);
        t.push((
            "pause".into(),
            admin.cmd(&["CLIENT", "PAUSE", "300", "WRITE"]),
        ));
        let start = Instant::now();
        t.push(("blpop full".into(), b.cmd(&["BLPOP", "full", "5"])));
        t.push((
            "held until the pause ended".into(),
            format!("{}", start.elapsed() >= Duration::from_millis(250)).into_bytes(),
        ));
        t.push((
            "pause".into(),
            admin.cmd(&["CLIENT", "PAUSE", "200", "WRITE"]),
        ));
        let start = Instant::now();
        t.push(("blpop empty".into(), b.cmd(&["BLPOP", "empty", "0.1"])));
        t.push((
            "then its own timeout".into(),
            format!("{}", start.elapsed() >= Duration::from_millis(250)).into_bytes(),
        ));
        t
    });
}

#[test]
fn changes_counted_as_redis_counts_them() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        let dirty = |c: &mut RawClient| {
            c.info_field("persistence", "rdb_changes_since_last_save")
                .unwrap_or_default()
        };
        let mut last = dirty(&mut admin);
        for (block, push) in [
            (&["BLPOP", "k", "0"][..], &["RPUSH", "k", "a", "b", "c"][..]),
            (
                &["BLMPOP", "0", "1", "k2", "LEFT", "COUNT", "5"],
                &["RPUSH", "k2", "a", "b", "c"],
            ),
            (
                &["BLMOVE", "k3", "d", "LEFT", "LEFT", "0"],
                &["RPUSH", "k3", "a"],
            ),
            (&["BRPOPLPUSH", "k4", "d", "0"], &["RPUSH", "k4", "a"]),
            (
                &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"],
                &["ZADD", "z", "1", "a", "2", "b"],
            ),
            (&["BZPOPMIN", "z2", "0"], &["ZADD", "z2", "1", "a"]),
        ] {
            send(&mut b, block);
            wait_blocked(&mut admin, 1);
            admin.cmd(push);
            b.read_reply();
            let now = dirty(&mut admin);
            t.push((block.join(" "), format!("{last} -> {now}").into_bytes()));
            last = now;
        }
        for cmd in [
            &["BLPOP", "k", "0"][..],
            &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"],
            &["RPUSH", "k2", "x", "y"],
            &["BLMPOP", "0", "1", "k2", "LEFT", "COUNT", "5"],
            &["ZADD", "z", "1", "a", "2", "b"],
            &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"],
        ] {
            admin.cmd(cmd);
            let now = dirty(&mut admin);
            t.push((cmd.join(" "), format!("{last} -> {now}").into_bytes()));
            last = now;
        }
        t
    });
}

#[test]
fn keyspace_events_of_served_and_immediate_pops() {
    same_on_both(|port| {
        let mut t = Vec::new();
        let mut admin = RawClient::connect(port);
        let mut b = RawClient::connect(port);
        let mut sub = RawClient::connect(port);
        admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        sub.cmd(&["PSUBSCRIBE", "__key*__:*"]);
        let steps: &[(&[&str], &[&[&str]])] = &[
            (&["BLPOP", "k", "0"], &[&["RPUSH", "k", "a"]]),
            (&["BRPOP", "k", "0"], &[&["RPUSH", "k", "a", "b"]]),
            (
                &["BLMPOP", "0", "1", "m", "LEFT", "COUNT", "2"],
                &[&["RPUSH", "m", "a", "b"]],
            ),
            (
                &["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"],
                &[&["LPUSH", "s", "x"]],
            ),
            (&["BRPOPLPUSH", "s", "s", "0"], &[&["LPUSH", "s", "y"]]),
            (&["BZPOPMIN", "z", "0"], &[&["ZADD", "z", "1", "a"]]),
            (
                &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "1"],
                &[&["ZADD", "z", "1", "a", "2", "b"]],
            ),
            (
                &["BLPOP", "t", "0"],
                &[
                    &["MULTI"],
                    &["RPUSH", "t", "1", "2"],
                    &["LPOP", "t"],
                    &["EXEC"],
                ],
            ),
        ];
        for (block, writes) in steps {
            send(&mut b, block);
            wait_blocked(&mut admin, 1);
            for w in *writes {
                admin.cmd(w);
            }
            t.push((block.join(" "), b.read_reply()));
        }
        // Served at once.
        for cmd in [
            &["BLPOP", "k", "0"][..],
            &["RPUSH", "k", "1", "2"],
            &["BLMOVE", "k", "d", "RIGHT", "LEFT", "0"],
            &["BLMPOP", "0", "1", "k", "RIGHT", "COUNT", "5"],
            &["BZPOPMAX", "z", "0"],
            &["ZADD", "z", "1", "a", "2", "b"],
            &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"],
        ] {
            t.push((cmd.join(" "), admin.cmd(cmd)));
        }
        admin.cmd(&["PUBLISH", "__keyevent@0__:end", "end"]);
        let mut n = 0;
        loop {
            let m = sub.read_reply();
            let end = String::from_utf8_lossy(&m).contains("__keyevent@0__:end");
            t.push((format!("event {n}"), m));
            n += 1;
            if end {
                break;
            }
        }
        assert!(n > 30, "only {n} events");
        t
    });
}

/// What a real replica of a `kind` master applies while blocked clients are served, as its
/// MONITOR shows (commands only), after the scenario has fully reached it.
fn replica_stream(kind: Kind) -> Vec<String> {
    let m = Server::start(kind, &["--repl-diskless-sync-delay", "0"]);
    let port = m.port.to_string();
    let r = Server::start(Kind::Redis, &["--replicaof", "127.0.0.1", &port]);
    let mut mc = m.client();
    let mut rc = r.client();
    let in_sync = |mc: &mut RawClient, rc: &mut RawClient| {
        wait_for("replica caught up", WAIT * 3, || {
            rc.info_field("replication", "master_link_status")
                .as_deref()
                == Some("up")
                && mc.info_field("replication", "master_repl_offset")
                    == rc.info_field("replication", "master_repl_offset")
        })
    };
    in_sync(&mut mc, &mut rc);
    let mut mon = r.client();
    assert_eq!(mon.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut b = m.client();
    let mut b2 = m.client();
    for (block, writes) in [
        (
            &["BLPOP", "k", "0"][..],
            &[&["LPUSH", "k", "a", "b"][..]][..],
        ),
        (
            &["BLMPOP", "0", "2", "x", "k2", "RIGHT", "COUNT", "2"],
            &[&["RPUSH", "k2", "1", "2", "3"]],
        ),
        (
            &["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"],
            &[&["MULTI"], &["RPUSH", "s", "p", "q"], &["EXEC"]],
        ),
        (&["BRPOPLPUSH", "s2", "d", "0"], &[&["RPUSH", "s2", "v"]]),
        (
            &["BZPOPMAX", "z", "0"],
            &[&["ZADD", "z", "1", "a", "2", "b"]],
        ),
        (
            &["BZMPOP", "0", "1", "z2", "MIN", "COUNT", "9"],
            &[&["ZADD", "z2", "1", "a", "2", "b"]],
        ),
    ] {
        send(&mut b, block);
        wait_blocked(&mut mc, 1);
        for w in writes {
            mc.cmd(w);
        }
        b.read_reply();
    }
    // Two waiters served by one push, in another database.
    b.cmd(&["SELECT", "3"]);
    b2.cmd(&["SELECT", "3"]);
    send(&mut b, &["BRPOP", "q", "0"]);
    wait_blocked(&mut mc, 1);
    send(&mut b2, &["BLPOP", "q", "0"]);
    wait_blocked(&mut mc, 2);
    mc.cmd(&["SELECT", "3"]);
    mc.cmd(&["RPUSH", "q", "1", "2", "3"]);
    b.read_reply();
    b2.read_reply();
    // Served at once.
    for cmd in [
        &["BLPOP", "q", "0"][..],
        &["SELECT", "0"],
        &["BLMOVE", "d", "d2", "RIGHT", "left", "0"],
        &["ZADD", "z3", "1", "a"],
        &["BZPOPMIN", "z3", "0"],
        &["SET", "end", "1"],
    ] {
        mc.cmd(cmd);
    }
    in_sync(&mut mc, &mut rc);
    let mut lines = Vec::new();
    loop {
        let l = String::from_utf8_lossy(&mon.read_reply()).into_owned();
        let cmd = l
            .split_once("] ")
            .map(|(_, c)| c.trim().to_string())
            .unwrap_or(l);
        // The master's pings, and the test's own INFO on the replica, are not the stream.
        if ["\"PING\"", "\"ping\"", "\"INFO\""]
            .iter()
            .any(|p| cmd.starts_with(p))
        {
            continue;
        }
        let end = cmd.contains("\"end\"");
        lines.push(cmd);
        if end {
            return lines;
        }
    }
}

#[test]
fn served_pops_reach_a_real_replica_as_redis_sends_them() {
    let want = replica_stream(Kind::Redis);
    let got = replica_stream(Kind::Ferredis);
    assert!(want.len() > 20, "{want:#?}");
    assert_eq!(want, got);
}
