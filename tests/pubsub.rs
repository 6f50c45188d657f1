//! Pub/sub: SUBSCRIBE/UNSUBSCRIBE/PSUBSCRIBE/PUNSUBSCRIBE, PUBLISH, PUBSUB introspection and the
//! RESP2 subscribed mode, compared byte for byte with the real redis-server (a subscriber and a
//! publisher connection per server), plus the `redis` crate's pub/sub API.

mod common;
use common::*;

use std::time::{Duration, Instant};

/// Several connections to one server, and a transcript of every byte read from them.
struct Session {
    conns: Vec<RawClient>,
    log: Vec<String>,
}

impl Session {
    fn new(server: &Server, n: usize) -> Session {
        Session {
            conns: (0..n).map(|_| server.client()).collect(),
            log: Vec::new(),
        }
    }

    fn record(&mut self, conn: usize, what: &str, reply: &[u8]) {
        self.log.push(format!(
            "[{conn}] {what} -> {}",
            String::from_utf8_lossy(reply)
        ));
    }

    /// Sends a command (split like a script line) on `conn` without reading.
    fn send(&mut self, conn: usize, line: &str) {
        let args = split_line(line);
        let a: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        self.conns[conn].send_raw(&RawClient::encode(&a));
    }

    /// Sends a command and logs its one reply.
    fn cmd(&mut self, conn: usize, line: &str) {
        self.send(conn, line);
        let r = self.conns[conn].read_reply();
        self.record(conn, line, &r);
    }

    /// Sends a command whose reply is not compared (HELLO: ids and versions differ).
    fn cmd_quiet(&mut self, conn: usize, line: &str) {
        self.send(conn, line);
        self.conns[conn].read_reply();
    }

    /// Reads and logs `n` replies (pushes, or confirmations of a multi-argument command).
    fn read(&mut self, conn: usize, n: usize) {
        for _ in 0..n {
            let r = self.conns[conn].read_reply();
            self.record(conn, "read", &r);
        }
    }

    /// Reads `n` replies that Redis sends in hash-table order, and logs them sorted.
    fn read_unordered(&mut self, conn: usize, n: usize) {
        let mut v: Vec<Vec<u8>> = (0..n).map(|_| self.conns[conn].read_reply()).collect();
        v.sort();
        for r in v {
            self.record(conn, "read (sorted)", &r);
        }
    }

    /// Reads the `n` confirmations of an UNSUBSCRIBE/PUNSUBSCRIBE without arguments: Redis goes
    /// through the subscriptions in hash-table order, so the names are logged sorted and the
    /// counts (which fall by one each time whatever the order) in the order they came.
    fn read_unsubscribe_all(&mut self, conn: usize, n: usize) {
        let mut names = Vec::new();
        let mut counts = Vec::new();
        for _ in 0..n {
            let r = self.conns[conn].read_reply();
            let cut = r
                .windows(3)
                .rposition(|w| w == b"\r\n:")
                .map_or(r.len(), |p| p + 2);
            names.push(r[..cut].to_vec());
            counts.push(String::from_utf8_lossy(&r[cut..]).into_owned());
        }
        names.sort();
        for r in names {
            self.record(conn, "unsubscribed (sorted)", &r);
        }
        self.log.push(format!("[{conn}] counts {counts:?}"));
    }

    /// Logs the INFO stats pub/sub counters.
    fn info_counts(&mut self, conn: usize) {
        let c = &mut self.conns[conn];
        let v = ["pubsub_channels", "pubsub_patterns"].map(|f| c.info_field("stats", f));
        self.log.push(format!("[{conn}] INFO stats {v:?}"));
    }

    /// Sends a command and logs its reply's elements sorted (PUBSUB CHANNELS).
    fn cmd_sorted(&mut self, conn: usize, line: &str) {
        self.send(conn, line);
        let r = self.conns[conn].read_reply();
        let elems = sort_flat_array(&r);
        self.record(conn, line, &elems.concat());
    }

    /// A PING on every connection: anything still pending (a stray message) would show up first.
    fn finish(&mut self) {
        for i in 0..self.conns.len() {
            self.cmd(i, "PING");
        }
    }
}

/// Runs `scenario` against both servers and compares the transcripts line by line.
fn differential(conns: usize, scenario: impl Fn(&mut Session)) {
    let redis = Server::start(Kind::Redis, &[]);
    let ferredis = Server::start(Kind::Ferredis, &[]);
    let mut logs = Vec::new();
    for server in [&redis, &ferredis] {
        let mut s = Session::new(server, conns);
        scenario(&mut s);
        s.finish();
        logs.push(s.log);
    }
    let (want, got) = (&logs[0], &logs[1]);
    for (i, (w, g)) in want.iter().zip(got.iter()).enumerate() {
        assert_eq!(w, g, "step {i} differs (redis vs ferredis)");
    }
    assert_eq!(want.len(), got.len());
}

const SUB: usize = 0;
const PUB: usize = 1;

#[test]
fn resp2_channels_patterns_and_subscribed_mode() {
    differential(2, |s| {
        s.cmd(SUB, "SUBSCRIBE a b a");
        s.read(SUB, 2);
        s.cmd(SUB, "PSUBSCRIBE p* news.?");
        s.read(SUB, 1);
        s.cmd(PUB, "PUBLISH a hello");
        s.read(SUB, 1);
        s.cmd(PUB, "PUBLISH pq x");
        s.read(SUB, 1);
        s.cmd(PUB, "PUBLISH news.1 \"\"");
        s.read(SUB, 1);
        s.cmd(PUB, "PUBLISH news.10 nobody");
        s.cmd(PUB, "PUBLISH zz nobody");
        s.cmd(PUB, "PUBLISH \"a\\x00b\" \"bin\\xff\\r\\n\"");
        // A channel that also matches a pattern: the message, then the pmessage.
        s.cmd(SUB, "SUBSCRIBE pa");
        s.cmd(PUB, "PUBLISH pa both");
        s.read(SUB, 2);
        // Subscribed mode refuses everything else, with the full name of a subcommand.
        s.cmd(SUB, "GET x");
        s.cmd(SUB, "CLIENT LIST");
        s.cmd(SUB, "SET x 1");
        s.cmd(SUB, "MULTI");
        s.cmd(SUB, "PUBLISH a x");
        s.cmd(SUB, "PING");
        s.cmd(SUB, "PING hi");
        s.cmd(SUB, "NOSUCH cmd");
        s.cmd(SUB, "SUBSCRIBE");
        // Introspection from the publisher.
        s.cmd(PUB, "PUBSUB NUMSUB a b c pa");
        s.cmd(PUB, "PUBSUB NUMSUB");
        s.cmd(PUB, "PUBSUB NUMPAT");
        s.cmd_sorted(PUB, "PUBSUB CHANNELS");
        s.cmd_sorted(PUB, "PUBSUB CHANNELS p*");
        s.cmd(PUB, "PUBSUB CHANNELS a b");
        s.cmd(PUB, "pubsub channels a b");
        s.cmd(PUB, "PUBSUB NUMPAT x");
        s.cmd(PUB, "PUBSUB SHARDCHANNELS");
        s.cmd(PUB, "PUBSUB SHARDCHANNELS *");
        s.cmd(PUB, "PUBSUB ShardChannels a b");
        s.cmd(PUB, "PUBSUB SHARDNUMSUB a b");
        s.cmd(PUB, "PUBSUB SHARDNUMSUB");
        s.cmd(PUB, "PUBSUB HELP");
        s.cmd(PUB, "PUBSUB help x");
        s.cmd(PUB, "PUBSUB NOSUCH");
        s.cmd(PUB, "PUBSUB");
        s.cmd(PUB, "PUBLISH a");
        // Unsubscribing: named (also one never subscribed), then all, then nothing left.
        s.cmd(SUB, "UNSUBSCRIBE a nosuch");
        s.read(SUB, 1);
        s.send(SUB, "UNSUBSCRIBE");
        s.read_unsubscribe_all(SUB, 2);
        s.cmd(SUB, "GET x");
        s.cmd(SUB, "UNSUBSCRIBE");
        s.send(SUB, "PUNSUBSCRIBE");
        s.read_unsubscribe_all(SUB, 2);
        s.cmd(SUB, "PUNSUBSCRIBE");
        s.cmd(SUB, "PING");
        s.cmd(SUB, "GET x");
        s.cmd(PUB, "PUBSUB NUMPAT");
        s.cmd(PUB, "PUBSUB CHANNELS");
        s.cmd(PUB, "PUBLISH a gone");
        // Unsubscribing when never subscribed.
        s.cmd(PUB, "UNSUBSCRIBE x");
        s.cmd(PUB, "PUNSUBSCRIBE");
        s.cmd(PUB, "GET x");
    });
}

#[test]
fn resp3_pushes_and_commands_while_subscribed() {
    differential(2, |s| {
        s.cmd_quiet(SUB, "HELLO 3");
        s.cmd(SUB, "SUBSCRIBE a b");
        s.read(SUB, 1);
        s.cmd(SUB, "PSUBSCRIBE a*");
        // RESP3 clients may run any command while subscribed.
        s.cmd(SUB, "SET x 1");
        s.cmd(SUB, "GET x");
        s.cmd(SUB, "PING");
        s.cmd(PUB, "PUBLISH a hi");
        s.read(SUB, 2);
        s.cmd(PUB, "PUBLISH ab hi");
        s.read(SUB, 1);
        // Publishing to itself: the pushes come before the PUBLISH reply.
        s.cmd(SUB, "PUBLISH b self");
        s.read(SUB, 1);
        s.cmd(SUB, "PUBLISH a self");
        s.read(SUB, 2);
        s.cmd(SUB, "PUBSUB NUMSUB a");
        s.cmd(SUB, "UNSUBSCRIBE x");
        s.send(SUB, "UNSUBSCRIBE");
        s.read_unsubscribe_all(SUB, 2);
        s.cmd(SUB, "UNSUBSCRIBE");
        s.cmd(SUB, "PUNSUBSCRIBE a* b*");
        s.read(SUB, 1);
        // A RESP3 publisher, and a RESP2 subscriber.
        s.cmd_quiet(PUB, "HELLO 3");
        s.cmd_quiet(SUB, "HELLO 2");
        s.cmd(SUB, "PSUBSCRIBE *");
        s.cmd(PUB, "PUBLISH z 1");
        s.read(SUB, 1);
        s.cmd(PUB, "PUBSUB NUMSUB z");
        s.cmd(PUB, "PUBSUB CHANNELS");
    });
}

#[test]
fn messages_come_before_the_replies_of_later_commands() {
    differential(2, |s| {
        s.cmd_quiet(SUB, "HELLO 3");
        s.cmd(SUB, "SUBSCRIBE a");
        for i in 0..20 {
            s.cmd(PUB, &format!("PUBLISH a m{i}"));
            s.send(SUB, "PING");
            s.read(SUB, 2);
        }
    });
}

#[test]
fn pushes_ignore_client_reply_off_and_skip() {
    differential(2, |s| {
        // RESP2: the confirmations and messages still come while replies are off.
        s.send(SUB, "CLIENT REPLY OFF");
        s.cmd(SUB, "SUBSCRIBE a b");
        s.read(SUB, 1);
        s.cmd(PUB, "PUBLISH a 1");
        s.read(SUB, 1);
        s.cmd(SUB, "UNSUBSCRIBE a b");
        s.read(SUB, 1);
        s.cmd(SUB, "CLIENT REPLY ON");
        // RESP3: a message between commands under SKIP, and a self-publish whose reply is dropped.
        s.cmd_quiet(SUB, "HELLO 3");
        s.cmd(SUB, "SUBSCRIBE a");
        s.send(SUB, "CLIENT REPLY SKIP");
        s.cmd(PUB, "PUBLISH a 2");
        s.read(SUB, 1);
        s.send(SUB, "PING");
        s.send(SUB, "CLIENT REPLY SKIP");
        s.cmd(SUB, "PUBLISH a 3");
        s.cmd(SUB, "PING");
        s.send(SUB, "CLIENT REPLY OFF");
        s.cmd(SUB, "PUBLISH a 4");
        s.cmd(SUB, "PSUBSCRIBE x*");
        s.cmd(PUB, "PUBLISH xa 5");
        s.read(SUB, 1);
        s.cmd(SUB, "CLIENT REPLY ON");
    });
}

#[test]
fn several_subscribers_and_receiver_counts() {
    differential(4, |s| {
        s.cmd(0, "SUBSCRIBE ch");
        s.cmd(1, "SUBSCRIBE ch");
        s.cmd(2, "PSUBSCRIBE c* *h");
        s.read(2, 1);
        s.cmd(3, "PUBLISH ch m1");
        s.read(0, 1);
        s.read(1, 1);
        s.read_unordered(2, 2);
        s.cmd(3, "PUBSUB NUMSUB ch");
        s.cmd(3, "PUBSUB NUMPAT");
        s.info_counts(3);
        s.cmd(1, "UNSUBSCRIBE ch");
        s.cmd(3, "PUBLISH ch m2");
        s.read(0, 1);
        s.read_unordered(2, 2);
        s.cmd(2, "PUNSUBSCRIBE *h");
        s.cmd(3, "PUBLISH ch m3");
        s.read(0, 1);
        s.read(2, 1);
        s.cmd(3, "PUBSUB NUMPAT");
        // MULTI around subscription commands (allowed before subscribing), and RESET.
        s.cmd(1, "MULTI");
        s.cmd(1, "SUBSCRIBE q");
        s.cmd(1, "PING");
        s.cmd(1, "EXEC");
        s.cmd(1, "GET x");
        s.cmd(1, "RESET");
        s.cmd(3, "PUBSUB NUMSUB q");
        s.cmd(1, "GET x");
        s.cmd(3, "PUBLISH q none");
        s.info_counts(3);
    });
}

#[test]
fn client_list_shows_subscriptions_and_close_unsubscribes() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut sub = srv.client();
    let mut other = srv.client();
    sub.cmd(&["CLIENT", "SETNAME", "listener"]);
    sub.cmd(&["SUBSCRIBE", "a", "b"]);
    sub.read_reply();
    sub.cmd(&["PSUBSCRIBE", "x*"]);
    let list = other.cmd_str(&["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| l.contains("name=listener"))
        .expect("listener in CLIENT LIST");
    assert!(line.contains(" flags=P "), "{line}");
    assert!(line.contains(" sub=2 psub=1 "), "{line}");
    let typed = other.cmd_str(&["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert!(typed.contains("name=listener"), "{typed}");
    drop(sub);
    wait_for(
        "subscriptions of a closed client to go",
        Duration::from_secs(10),
        || {
            other.cmd(&["PUBSUB", "NUMSUB", "a"]) == b"*2\r\n$1\r\na\r\n:0\r\n"
                && other.cmd(&["PUBSUB", "NUMPAT"]) == b":0\r\n"
        },
    );
}

#[test]
fn a_subscriber_that_does_not_read_never_blocks_the_publisher() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut sub = srv.client();
    let mut publisher = srv.client();
    sub.cmd(&["SUBSCRIBE", "big"]);
    let payload = "x".repeat(1 << 20);
    let start = Instant::now();
    for _ in 0..32 {
        assert_eq!(publisher.cmd(&["PUBLISH", "big", &payload]), b":1\r\n");
    }
    assert!(start.elapsed() < Duration::from_secs(20));
    // The subscriber still gets every message, in order, once it reads.
    for _ in 0..32 {
        let m = sub.read_reply();
        assert!(m.starts_with(b"*3\r\n$7\r\nmessage\r\n$3\r\nbig\r\n$1048576\r\n"));
    }
    assert_eq!(sub.cmd(&["PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

#[test]
fn redis_crate_pubsub_api() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", srv.port)).expect("client");
    let mut con = client.get_connection().expect("connect");
    let mut publisher = client.get_connection().expect("connect");
    let mut ps = con.as_pubsub();
    ps.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    ps.subscribe("news").expect("subscribe");
    ps.psubscribe("sport.*").expect("psubscribe");
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hello")
        .query(&mut publisher)
        .expect("publish");
    assert_eq!(n, 1);
    let msg = ps.get_message().expect("message");
    assert_eq!(msg.get_channel_name(), "news");
    assert!(!msg.from_pattern());
    assert_eq!(msg.get_payload::<String>().expect("payload"), "hello");
    let n: i64 = redis::cmd("PUBLISH")
        .arg("sport.ski")
        .arg("snow")
        .query(&mut publisher)
        .expect("publish");
    assert_eq!(n, 1);
    let msg = ps.get_message().expect("pmessage");
    assert!(msg.from_pattern());
    assert_eq!(msg.get_pattern::<String>().expect("pattern"), "sport.*");
    assert_eq!(msg.get_channel_name(), "sport.ski");
    assert_eq!(msg.get_payload::<String>().expect("payload"), "snow");
    ps.unsubscribe("news").expect("unsubscribe");
    ps.punsubscribe("sport.*").expect("punsubscribe");
    drop(ps);
    // Out of subscribed mode, the connection runs commands again.
    let pong: String = redis::cmd("PING").query(&mut con).expect("ping");
    assert_eq!(pong, "PONG");
}

#[test]
fn command_table_rows_of_the_family() {
    let mut d = Diff::new(&[]);
    for name in [
        "subscribe",
        "unsubscribe",
        "psubscribe",
        "punsubscribe",
        "publish",
        "pubsub|help",
        "pubsub|channels",
        "pubsub|numsub",
        "pubsub|numpat",
        "pubsub|shardchannels",
        "pubsub|shardnumsub",
    ] {
        d.run(&["COMMAND", "INFO", name]);
        d.run(&["COMMAND", "DOCS", name]);
    }
    d.assert_clean();
}
