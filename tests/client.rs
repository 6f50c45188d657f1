//! Connection-state commands against the real redis-server: PING, ECHO, SELECT, QUIT, HELLO, AUTH,
//! RESET, MONITOR and CLIENT. Deterministic replies are compared byte for byte; replies holding ids,
//! addresses or memory sizes are compared field by field on what both servers must agree on.

mod common;
use common::*;

use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A parsed RESP reply, for the tests that look inside replies.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Str(Vec<u8>),
    Int(i64),
    Err(String),
    Nil,
    Arr(Vec<V>),
}

fn parse_value(b: &[u8], i: &mut usize) -> V {
    let nl = *i + b[*i..].windows(2).position(|w| w == b"\r\n").expect("CRLF");
    let head = String::from_utf8_lossy(&b[*i + 1..nl]).into_owned();
    let t = b[*i];
    *i = nl + 2;
    match t {
        b'+' => V::Str(head.into_bytes()),
        b'-' => V::Err(head),
        b':' => V::Int(head.parse().expect("int")),
        b'_' => V::Nil,
        b'$' | b'=' => {
            let n: i64 = head.parse().expect("len");
            if n < 0 {
                return V::Nil;
            }
            let s = b[*i..*i + n as usize].to_vec();
            *i += n as usize + 2;
            V::Str(s)
        }
        b'*' | b'~' | b'%' => {
            let n: i64 = head.parse().expect("len");
            let n = if t == b'%' { n * 2 } else { n };
            if n < 0 {
                return V::Nil;
            }
            V::Arr((0..n).map(|_| parse_value(b, i)).collect())
        }
        other => panic!("unexpected RESP type {:?}", other as char),
    }
}

fn parse(b: &[u8]) -> V {
    parse_value(b, &mut 0)
}

/// The text of a CLIENT LIST / CLIENT INFO reply (bulk in RESP2, verbatim `txt:` in RESP3).
fn text_of(reply: &[u8]) -> String {
    match parse(reply) {
        V::Str(s) => {
            let s = String::from_utf8(s).expect("utf-8");
            match (reply[0], s.strip_prefix("txt:")) {
                (b'=', Some(t)) => t.to_string(),
                _ => s,
            }
        }
        other => panic!("expected a string reply, got {other:?}"),
    }
}

/// `key=value` pairs of one CLIENT LIST line, in order.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Fields whose values depend on the connection (ids, ports, descriptors), on timing, or on the
/// allocator: only their presence and position are compared.
const VARIABLE_FIELDS: &[&str] = &[
    "id",
    "addr",
    "laddr",
    "fd",
    "age",
    "idle",
    "qbuf-free",
    "rbs",
    "rbp",
    "tot-mem",
];

/// Compares two CLIENT LIST texts: same lines, same fields in the same order, same values for
/// every deterministic field.
fn compare_client_lists(redis: &str, ferredis: &str, what: &str) {
    let r: Vec<&str> = redis.lines().collect();
    let f: Vec<&str> = ferredis.lines().collect();
    assert_eq!(
        r.len(),
        f.len(),
        "{what}: line count\nredis:\n{redis}\nferredis:\n{ferredis}"
    );
    assert_eq!(
        redis.ends_with('\n'),
        ferredis.ends_with('\n'),
        "{what}: final newline"
    );
    for (rl, fl) in r.iter().zip(&f) {
        let (rf, ff) = (fields(rl), fields(fl));
        let rk: Vec<&str> = rf.iter().map(|(k, _)| k.as_str()).collect();
        let fk: Vec<&str> = ff.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(rk, fk, "{what}: field names and order");
        for ((k, rv), (_, fv)) in rf.iter().zip(&ff) {
            if VARIABLE_FIELDS.contains(&k.as_str()) {
                if !matches!(k.as_str(), "addr" | "laddr") {
                    assert!(
                        fv.parse::<i64>().is_ok(),
                        "{what}: {k}={fv} is not a number"
                    );
                }
                continue;
            }
            assert_eq!(rv, fv, "{what}: field {k}\nredis:    {rl}\nferredis: {fl}");
        }
    }
}

/// HELLO's reply with the client id masked (ids depend on how many connections came before).
fn mask_hello_id(reply: &[u8]) -> Vec<u8> {
    let key = b"$2\r\nid\r\n:";
    let Some(p) = reply.windows(key.len()).position(|w| w == key) else {
        return reply.to_vec();
    };
    let start = p + key.len();
    let end = start
        + reply[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("CRLF");
    [&reply[..start], b"ID", &reply[end..]].concat()
}

/// Runs a HELLO on both servers and compares the replies with the ids masked.
fn hello_both(d: &mut Diff, args: &[&str]) {
    let want = mask_hello_id(&d.r.cmd(args));
    let got = mask_hello_id(&d.f.cmd(args));
    d.count += 1;
    if want != got {
        d.mismatches.push(format!(
            "{}\n   redis:    {:?}\n   ferredis: {:?}",
            args.join(" "),
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&got)
        ));
    }
}

/// Waits until the server lists exactly `n` clients (connections the harness used to probe the
/// server may still be closing).
fn wait_clients(c: &mut RawClient, n: usize) {
    wait_for(&format!("{n} clients"), WAIT, || {
        text_of(&c.cmd(&["CLIENT", "LIST"])).lines().count() == n
    });
}

fn client_id(c: &mut RawClient) -> i64 {
    match parse(&c.cmd(&["CLIENT", "ID"])) {
        V::Int(i) => i,
        other => panic!("CLIENT ID: {other:?}"),
    }
}

#[test]
fn connection_commands_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        PING
        PING hello
        PING a b
        ECHO
        ECHO "a b"
        ECHO a b
        ECHO ""
        SELECT 15
        SELECT 16
        SELECT -1
        SELECT x
        SELECT 1.5
        SELECT 2147483648
        SELECT -2147483649
        SELECT 99999999999999999999
        SELECT 0
        HELLO 4
        HELLO 1
        HELLO x
        HELLO 3 SETNAME
        HELLO 3 AUTH
        HELLO 3 AUTH default
        HELLO 3 FOO
        HELLO 2 SETNAME a b
        HELLO 3 SETNAME "a b"
        AUTH
        AUTH x
        AUTH a b
        AUTH default anything
        AUTH a b c
        CLIENT
        CLIENT FOO
        CLIENT ID x
        CLIENT SETNAME
        CLIENT SETNAME a b
        CLIENT SETNAME "a b"
        CLIENT SETNAME "a\nb"
        CLIENT SETNAME "\xc3\xa9"
        CLIENT SETNAME "a\x7f"
        CLIENT GETNAME
        CLIENT SETNAME foo~!
        CLIENT GETNAME
        CLIENT SETNAME ""
        CLIENT GETNAME
        CLIENT GETNAME x
        CLIENT LIST x
        CLIENT LIST TYPE
        CLIENT LIST TYPE foo
        CLIENT LIST TYPE master
        CLIENT LIST TYPE replica
        CLIENT LIST TYPE slave
        CLIENT LIST TYPE pubsub
        CLIENT LIST type MASTER
        CLIENT LIST ID
        CLIENT LIST ID x
        CLIENT LIST ID 99999
        CLIENT LIST ID 99999 -1
        CLIENT LIST ID 1 x
        CLIENT LIST TYPE normal x
        CLIENT INFO x
        CLIENT KILL
        CLIENT KILL a b c
        CLIENT KILL ID
        CLIENT KILL ID x
        CLIENT KILL ID 0
        CLIENT KILL ID -1
        CLIENT KILL ID 99999
        CLIENT KILL ID 99999999999999999999
        CLIENT KILL TYPE foo
        CLIENT KILL TYPE master
        CLIENT KILL TYPE replica
        CLIENT KILL TYPE slave
        CLIENT KILL TYPE pubsub
        CLIENT KILL USER foo
        CLIENT KILL SKIPME maybe
        CLIENT KILL ADDR 1.2.3.4:5 FOO bar
        CLIENT KILL ADDR 1.2.3.4:5
        CLIENT KILL LADDR 1.2.3.4:5
        CLIENT KILL ADDR 1.2.3.4:5 SKIPME no
        CLIENT KILL 1.2.3.4:5
        CLIENT KILL ID 1 SKIPME
        CLIENT KILL TYPE foo ID x
        CLIENT KILL ID x TYPE foo
        CLIENT REPLY
        CLIENT REPLY foo
        CLIENT REPLY ON
        CLIENT NO-EVICT
        CLIENT NO-EVICT x
        CLIENT NO-EVICT on
        CLIENT NO-EVICT OFF
        CLIENT HELP
        CLIENT help
        CLIENT HELP x
        CLIENT UNBLOCK
        CLIENT UNBLOCK x
        CLIENT UNBLOCK 1 foo
        CLIENT UNBLOCK 99999
        CLIENT UNBLOCK 99999 error
        CLIENT UNBLOCK 99999 TIMEOUT
        CLIENT UNBLOCK 1 2 3
        CLIENT TRACKING
        CLIENT TRACKING foo
        CLIENT TRACKING off
        CLIENT TRACKING off bcast
        CLIENT TRACKING off prefix
        CLIENT TRACKING on prefix a
        CLIENT TRACKING on bcast optin
        CLIENT TRACKING on optin optout
        CLIENT TRACKING on noloop x
        CLIENT TRACKING on redirect -5
        CLIENT TRACKING on redirect x
        CLIENT CACHING yes
        CLIENT CACHING no
        CLIENT CACHING x
        CLIENT CACHING
        CLIENT GETREDIR
        CLIENT GETREDIR x
        CLIENT TRACKINGINFO
        CLIENT PAUSE
        CLIENT PAUSE x
        CLIENT PAUSE -1
        CLIENT PAUSE 10 foo
        CLIENT PAUSE 1 2 3
        CLIENT UNPAUSE
        CLIENT UNPAUSE x
        RESET x
        RESET
        QUIT
        "#,
    );
    d.assert_clean();
}

#[test]
fn quit_with_arguments_closes_after_ok() {
    let mut d = Diff::new(&[]);
    d.run(&["QUIT", "now", "please"]);
    d.assert_clean();
    assert!(d.r.try_read_reply().is_none());
    assert!(d.f.try_read_reply().is_none());
}

#[test]
fn hello_switches_protocol_and_replies_in_resp3() {
    let mut d = Diff::new(&[]);
    hello_both(&mut d, &["HELLO"]);
    hello_both(&mut d, &["HELLO", "3"]);
    d.script(
        r#"
        PING
        PING x
        ECHO x
        CLIENT GETNAME
        CLIENT TRACKINGINFO
        CLIENT LIST TYPE master
        CLIENT LIST ID 99999
        CLIENT GETREDIR
        CLIENT HELP
        HELLO x
        HELLO 9
        SELECT 99
        CLIENT SETNAME n
        CLIENT GETNAME
        "#,
    );
    hello_both(&mut d, &["hello"]);
    hello_both(&mut d, &["HELLO", "2", "SETNAME", "two"]);
    d.script("CLIENT GETNAME\nCLIENT TRACKINGINFO");
    hello_both(&mut d, &["HELLO", "3", "AUTH", "default", "whatever"]);
    d.script("CLIENT GETNAME\nRESET\nCLIENT GETNAME\nCLIENT TRACKINGINFO");
    d.assert_clean();
}

#[test]
fn client_list_and_info_have_redis_fields() {
    let mut d = Diff::new(&[]);
    wait_clients(&mut d.r, 1);
    wait_clients(&mut d.f, 1);
    for (what, args) in [
        ("list", vec!["CLIENT", "LIST"]),
        ("info", vec!["CLIENT", "INFO"]),
        ("list normal", vec!["CLIENT", "LIST", "TYPE", "normal"]),
    ] {
        let r = text_of(&d.r.cmd(&args));
        let f = text_of(&d.f.cmd(&args));
        compare_client_lists(&r, &f, what);
    }

    // Change every piece of state CLIENT INFO shows, then compare again in RESP3.
    d.script("CLIENT SETNAME me\nSELECT 3\nCLIENT NO-EVICT on");
    hello_both(&mut d, &["HELLO", "3"]);
    let r = text_of(&d.r.cmd(&["CLIENT", "INFO"]));
    let f = text_of(&d.f.cmd(&["CLIENT", "INFO"]));
    compare_client_lists(&r, &f, "info after state changes");
    assert!(f.contains(" name=me ") && f.contains(" flags=e ") && f.contains(" resp=3"));

    // A second client, idle after a few commands: its line shows its last command.
    let mut r2 = d.redis.client();
    let mut f2 = d.ferredis.client();
    for c in [&mut r2, &mut f2] {
        c.cmd(&["CLIENT", "SETNAME", "other"]);
        c.cmd(&["SELECT", "5"]);
    }
    let r = text_of(&d.r.cmd(&["CLIENT", "LIST"]));
    let f = text_of(&d.f.cmd(&["CLIENT", "LIST"]));
    compare_client_lists(&r, &f, "list with two clients");

    // ID filter: in the order given, unknown ids skipped.
    let (rid, fid) = (client_id(&mut r2), client_id(&mut f2));
    let (rme, fme) = (client_id(&mut d.r), client_id(&mut d.f));
    let r = text_of(&d.r.cmd(&[
        "CLIENT",
        "LIST",
        "ID",
        &rid.to_string(),
        "99999",
        &rme.to_string(),
    ]));
    let f = text_of(&d.f.cmd(&[
        "CLIENT",
        "LIST",
        "ID",
        &fid.to_string(),
        "99999",
        &fme.to_string(),
    ]));
    compare_client_lists(&r, &f, "list by id");
    assert!(f.starts_with(&format!("id={fid} ")));

    // A MONITOR client is listed with flag O and counts as a normal client.
    for c in [&mut r2, &mut f2] {
        assert_eq!(c.cmd(&["MONITOR"]), b"+OK\r\n");
    }
    for args in [
        vec!["CLIENT", "LIST"],
        vec!["CLIENT", "LIST", "TYPE", "normal"],
        vec!["CLIENT", "LIST", "TYPE", "replica"],
    ] {
        let r = text_of(&d.r.cmd(&args));
        let f = text_of(&d.f.cmd(&args));
        compare_client_lists(&r, &f, &args.join(" "));
    }
}

#[test]
fn requirepass_flows_match_redis() {
    let mut d = Diff::new(&["--requirepass", "secret"]);
    d.script(
        r#"
        PING
        CLIENT ID
        GET x
        FOO
        GET
        CLIENT
        HELLO
        HELLO 3
        HELLO 3 SETNAME foo
        HELLO 4
        HELLO 3 AUTH default
        AUTH
        AUTH wrong
        AUTH default wrong
        AUTH other secret
        AUTH a b c
        HELLO 3 AUTH default wrong
        HELLO 3 AUTH other secret
        PING
        AUTH secret
        PING
        AUTH wrong
        PING
        RESET
        PING
        AUTH default secret
        PING
        "#,
    );
    // HELLO AUTH authenticates and switches protocol in one step; RESET logs out again.
    d.script("RESET");
    hello_both(
        &mut d,
        &["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "n"],
    );
    d.script("CLIENT GETNAME\nPING\nRESET\nCLIENT GETNAME\nHELLO 3 SETNAME x");
    d.script("AUTH secret\nCLIENT GETNAME");
    // A failed HELLO AUTH leaves an authenticated client authenticated.
    d.script("HELLO 2 AUTH default wrong\nPING\nQUIT");
    d.assert_clean();
}

#[test]
fn unauthenticated_clients_may_run_only_no_auth_commands() {
    let srv = Server::start(Kind::Ferredis, &["--requirepass", "pw"]);
    let mut c = srv.client();
    for cmd in [
        vec!["SET", "k", "v"],
        vec!["SELECT", "1"],
        vec!["CLIENT", "SETNAME", "x"],
        vec!["ECHO", "x"],
        vec!["MONITOR"],
    ] {
        assert_eq!(
            c.cmd(&cmd),
            b"-NOAUTH Authentication required.\r\n",
            "{cmd:?}"
        );
    }
    assert_eq!(c.cmd(&["RESET"]), b"+RESET\r\n");
    assert_eq!(c.cmd(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["QUIT"]), b"+OK\r\n");
}

/// One CLIENT KILL scenario on one server: returns the replies the killer saw, and checks the
/// victims' connections were closed.
fn kill_scenario(srv: &Server) -> Vec<Vec<u8>> {
    let mut killer = srv.client();
    wait_clients(&mut killer, 1);
    let mut out = Vec::new();

    // By id: the victim's connection is closed and it disappears from CLIENT LIST at once.
    let mut victim = srv.client();
    let vid = client_id(&mut victim);
    out.push(killer.cmd(&["CLIENT", "KILL", "ID", &vid.to_string()]));
    assert!(victim.try_read_reply().is_none(), "victim still connected");
    out.push(killer.cmd(&["CLIENT", "KILL", "ID", &vid.to_string()]));
    assert_eq!(text_of(&killer.cmd(&["CLIENT", "LIST"])).lines().count(), 1);

    // Old form by address.
    let mut victim = srv.client();
    let info = text_of(&victim.cmd(&["CLIENT", "INFO"]));
    let addr = fields(info.trim_end())
        .into_iter()
        .find(|(k, _)| k == "addr")
        .map(|(_, v)| v)
        .expect("addr");
    out.push(killer.cmd(&["CLIENT", "KILL", &addr]));
    assert!(victim.try_read_reply().is_none(), "victim still connected");
    out.push(killer.cmd(&["CLIENT", "KILL", &addr]));

    // Filters: TYPE with SKIPME (the default skips the caller), USER, ADDR + LADDR.
    let mut v1 = srv.client();
    let mut v2 = srv.client();
    v1.cmd(&["PING"]);
    v2.cmd(&["PING"]);
    out.push(killer.cmd(&["CLIENT", "KILL", "TYPE", "master"]));
    out.push(killer.cmd(&["CLIENT", "KILL", "TYPE", "normal", "USER", "default"]));
    assert!(v1.try_read_reply().is_none());
    assert!(v2.try_read_reply().is_none());
    let mut v3 = srv.client();
    let info = text_of(&v3.cmd(&["CLIENT", "INFO"]));
    let f = fields(info.trim_end());
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .expect(k)
    };
    out.push(killer.cmd(&["CLIENT", "KILL", "ADDR", &get("addr"), "LADDR", "1.1.1.1:1"]));
    out.push(killer.cmd(&[
        "CLIENT",
        "KILL",
        "ADDR",
        &get("addr"),
        "LADDR",
        &get("laddr"),
    ]));
    assert!(v3.try_read_reply().is_none());

    // SKIPME no: the caller gets its reply, then its own connection is closed.
    out.push(killer.cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"]));
    assert!(killer.try_read_reply().is_none(), "killer still connected");
    out
}

#[test]
fn client_kill_closes_connections_like_redis() {
    let redis = Server::start(Kind::Redis, &[]);
    let ferredis = Server::start(Kind::Ferredis, &[]);
    let want = kill_scenario(&redis);
    let got = kill_scenario(&ferredis);
    let show = |v: &[Vec<u8>]| {
        v.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&want), show(&got));
}

#[test]
fn client_kill_of_self_by_address() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut c = srv.client();
    let info = text_of(&c.cmd(&["CLIENT", "INFO"]));
    let addr = fields(info.trim_end())
        .into_iter()
        .find(|(k, _)| k == "addr")
        .map(|(_, v)| v)
        .expect("addr");
    assert_eq!(c.cmd(&["CLIENT", "KILL", &addr]), b"+OK\r\n");
    assert!(c.try_read_reply().is_none());
}

/// Sends a pipeline that ends with `ECHO end` and returns everything received up to that reply.
fn pipeline_until_end(c: &mut RawClient, cmds: &[&[&str]]) -> Vec<u8> {
    let mut req = Vec::new();
    for cmd in cmds {
        let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        req.extend(RawClient::encode(&a));
    }
    req.extend(RawClient::encode(&[b"ECHO", b"end"]));
    c.send_raw(&req);
    let mut out = Vec::new();
    loop {
        let r = c.read_reply();
        let end = r == b"$3\r\nend\r\n";
        out.extend(r);
        if end {
            return out;
        }
    }
}

#[test]
fn client_reply_off_and_skip_match_redis() {
    let d = Diff::new(&[]);
    let (mut r, mut f) = (d.redis.client(), d.ferredis.client());
    let pipelines: &[&[&[&str]]] = &[
        &[
            &["CLIENT", "REPLY", "SKIP"],
            &["PING", "skipped"],
            &["PING", "shown"],
        ],
        &[
            &["CLIENT", "REPLY", "OFF"],
            &["PING", "a"],
            &["GET", "nosuch"],
            &["FOO"],
            &["CLIENT", "REPLY", "SKIP"],
            &["PING", "b"],
            &["CLIENT", "REPLY", "ON"],
            &["PING", "c"],
        ],
        &[
            &["CLIENT", "REPLY", "SKIP"],
            &["CLIENT", "REPLY", "ON"],
            &["PING", "d"],
        ],
        &[
            &["CLIENT", "REPLY", "SKIP"],
            &["CLIENT", "REPLY", "SKIP"],
            &["PING", "e"],
            &["PING", "f"],
        ],
        &[&["CLIENT", "REPLY", "SKIP"], &["RESET"], &["PING", "g"]],
        &[&["CLIENT", "REPLY", "OFF"], &["RESET"], &["PING", "h"]],
        &[
            &["CLIENT", "REPLY", "OFF"],
            &["CLIENT", "REPLY", "bad"],
            &["CLIENT", "REPLY", "ON"],
        ],
    ];
    for p in pipelines {
        let want = pipeline_until_end(&mut r, p);
        let got = pipeline_until_end(&mut f, p);
        assert_eq!(
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&got),
            "{p:?}"
        );
    }
}

/// A MONITOR line with the timestamp and the client's port masked.
fn mask_monitor_line(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line).into_owned();
    let (ts, rest) = s.split_once(' ').expect("timestamp");
    let (secs, us) = ts[1..].split_once('.').expect("seconds.micros");
    assert!(secs.parse::<u64>().is_ok() && us.len() == 6, "{s}");
    let (bracket, args) = rest.split_once("] ").expect("[db addr]");
    let (db, addr) = bracket[1..].split_once(' ').expect("db addr");
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    format!("+T [{db} {host}:P] {args}")
}

/// Commands another client runs while a MONITOR client watches; what the monitor sees.
fn monitor_scenario(srv: &Server) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut m = srv.client();
    let mut replies = vec![m.cmd(&["MONITOR"])];
    let mut c = srv.client();
    let script = r#"
        SET k v
        set bin "\xff\x00\"\\ x\x7f\x07\x08\t\r\n"
        SELECT 2
        GET k
        AUTH pw
        AUTH user pw
        AUTH a b c
        HELLO 2 AUTH default pw SETNAME n
        CLIENT LIST
        CLIENT ID
        NOSUCH x
        GET
        MONITOR
        ECHO last
    "#;
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let args = split_line(line);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        c.cmd_bytes(&refs);
    }
    let mut lines = Vec::new();
    loop {
        let line = m.read_reply();
        let masked = mask_monitor_line(&line);
        let done = masked.ends_with("\"ECHO\" \"last\"\r\n");
        lines.push(masked);
        if done {
            break;
        }
    }
    // The monitor itself: no keyspace access, other commands still answered (and fed), RESET
    // leaves monitor mode.
    replies.push(cmd_skipping_feed(&mut m, &["GET", "k"]));
    replies.push(cmd_skipping_feed(&mut m, &["PING"]));
    replies.push(cmd_skipping_feed(&mut m, &["RESET"]));
    replies.push(cmd_skipping_feed(&mut m, &["GET", "k"]));
    (replies, lines)
}

/// Sends a command from a MONITOR client and returns its reply, skipping the feed lines.
fn cmd_skipping_feed(m: &mut RawClient, args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    m.send_raw(&RawClient::encode(&a));
    loop {
        let r = m.read_reply();
        let feed = r.starts_with(b"+") && r.get(1).is_some_and(u8::is_ascii_digit);
        if !feed {
            return r;
        }
    }
}

#[test]
fn monitor_feed_matches_redis() {
    let redis = Server::start(Kind::Redis, &[]);
    let ferredis = Server::start(Kind::Ferredis, &[]);
    let (rr, rl) = monitor_scenario(&redis);
    let (fr, fl) = monitor_scenario(&ferredis);
    assert_eq!(rl, fl, "monitor lines");
    let show = |v: &[Vec<u8>]| {
        v.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&rr), show(&fr));
}

#[test]
fn monitor_pipelined_commands_after_monitor_still_run() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let mut m = srv.client();
    let mut req = RawClient::encode(&[b"MONITOR"]);
    req.extend(RawClient::encode(&[b"PING", b"after"]));
    m.send_raw(&req);
    assert_eq!(m.read_reply(), b"+OK\r\n");
    assert_eq!(m.read_reply(), b"$5\r\nafter\r\n");
}

#[test]
fn redis_crate_client_works() {
    let srv = Server::start(Kind::Ferredis, &["--requirepass", "s3cret"]);
    let port = srv.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        // AUTH and SELECT from the URL, then ordinary commands.
        let url = format!("redis://:s3cret@127.0.0.1:{port}/3");
        let client = redis::Client::open(url).expect("client");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let pong: String = redis::cmd("PING")
            .query_async(&mut con)
            .await
            .expect("ping");
        assert_eq!(pong, "PONG");
        let () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("crate")
            .query_async(&mut con)
            .await
            .expect("setname");
        let name: Option<String> = redis::cmd("CLIENT")
            .arg("GETNAME")
            .query_async(&mut con)
            .await
            .expect("getname");
        assert_eq!(name.as_deref(), Some("crate"));
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut con)
            .await
            .expect("info");
        assert!(info.contains(" db=3 "), "{info}");
        assert!(info.contains(" name=crate "), "{info}");
        let echo: Vec<u8> = redis::cmd("ECHO")
            .arg(&b"\x00\xffbin"[..])
            .query_async(&mut con)
            .await
            .expect("echo");
        assert_eq!(echo, b"\x00\xffbin");

        // A wrong password is refused.
        let bad = redis::Client::open(format!("redis://:nope@127.0.0.1:{port}/0")).expect("client");
        let err = match bad.get_multiplexed_async_connection().await {
            Ok(_) => panic!("AUTH with a wrong password must fail"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");
    });
}

#[test]
fn redis_crate_resp3_client_works() {
    let srv = Server::start(Kind::Ferredis, &[]);
    let port = srv.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let url = format!("redis://127.0.0.1:{port}/?protocol=resp3");
        let client = redis::Client::open(url).expect("client");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut con)
            .await
            .expect("info");
        assert!(info.contains(" resp=3"), "{info}");
        let name: Option<String> = redis::cmd("CLIENT")
            .arg("GETNAME")
            .query_async(&mut con)
            .await
            .expect("getname");
        assert_eq!(name, None);
    });
}

/// The command table rows agree with COMMAND INFO and COMMAND DOCS of the real server.
#[test]
fn command_table_rows_match_redis() {
    use ferredis::cmd::{flags, lookup, CommandSpec};
    let redis = Server::start(Kind::Redis, &[]);
    let mut c = redis.client();
    // Flags Redis never shows in COMMAND INFO.
    let hidden = flags::SENTINEL | flags::ONLY_SENTINEL | flags::MAY_REPLICATE;
    let check = |spec: &CommandSpec, info: &[V], docs: &[V]| {
        let s = |v: &V| match v {
            V::Str(s) => String::from_utf8_lossy(s).into_owned(),
            other => panic!("{other:?}"),
        };
        let n = |v: &V| match v {
            V::Int(i) => *i,
            other => panic!("{other:?}"),
        };
        assert_eq!(s(&info[0]), spec.name);
        assert_eq!(n(&info[1]), spec.arity as i64, "{} arity", spec.name);
        let want_flags: Vec<String> = match &info[2] {
            V::Arr(a) => a.iter().map(s).collect(),
            other => panic!("{other:?}"),
        };
        let got_flags: Vec<String> = flags::NAMES
            .iter()
            .filter(|(f, _)| spec.flags & f & !hidden != 0)
            .map(|(_, n)| n.to_string())
            .collect();
        let mut w = want_flags.clone();
        let mut g = got_flags.clone();
        w.sort();
        g.sort();
        assert_eq!(w, g, "{} flags", spec.name);
        assert_eq!(
            (n(&info[3]), n(&info[4]), n(&info[5])),
            (
                spec.first_key as i64,
                spec.last_key as i64,
                spec.step as i64
            ),
            "{} keys",
            spec.name
        );
        let acl: Vec<String> = match &info[6] {
            V::Arr(a) => a.iter().map(s).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(acl.join(" "), spec.acl, "{} acl", spec.name);
        // COMMAND DOCS: a flat map of fields.
        let mut doc = std::collections::HashMap::new();
        for kv in docs.chunks(2) {
            if let (V::Str(k), V::Str(v)) = (&kv[0], &kv[1]) {
                doc.insert(
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                );
            }
        }
        assert_eq!(
            doc.get("summary").map(String::as_str),
            Some(spec.summary),
            "{}",
            spec.name
        );
        assert_eq!(
            doc.get("since").map(String::as_str),
            Some(spec.since),
            "{}",
            spec.name
        );
        assert_eq!(
            doc.get("group").map(String::as_str),
            Some(spec.group),
            "{}",
            spec.name
        );
        assert_eq!(
            doc.get("complexity").cloned().unwrap_or_default(),
            spec.complexity,
            "{}",
            spec.name
        );
    };
    let docs_of = |reply: V, name: &str| -> Vec<V> {
        let V::Arr(top) = reply else { panic!("docs") };
        let pos = top
            .iter()
            .position(|v| *v == V::Str(name.as_bytes().to_vec()))
            .expect("doc entry");
        match &top[pos + 1] {
            V::Arr(a) => a.clone(),
            other => panic!("{other:?}"),
        }
    };
    for name in [
        "ping", "echo", "select", "quit", "hello", "auth", "reset", "monitor", "client",
    ] {
        let spec = lookup(name.as_bytes()).expect(name);
        let info = match parse(&c.cmd(&["COMMAND", "INFO", name])) {
            V::Arr(mut a) => match a.remove(0) {
                V::Arr(x) => x,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let docs = docs_of(parse(&c.cmd(&["COMMAND", "DOCS", name])), name);
        check(spec, &info, &docs);
        if spec.subcommands.is_empty() {
            continue;
        }
        let V::Arr(subs) = &info[9] else {
            panic!("subcommands")
        };
        assert_eq!(
            subs.len(),
            spec.subcommands.len(),
            "{name} subcommand count"
        );
        for sub in subs {
            let V::Arr(sub) = sub else { panic!("sub") };
            let V::Str(full) = &sub[0] else {
                panic!("name")
            };
            let full = String::from_utf8_lossy(full).into_owned();
            let spec = spec
                .subcommands
                .iter()
                .find(|s| s.name == full)
                .unwrap_or_else(|| panic!("missing {full}"));
            let (_, subname) = full.split_once('|').expect("container|sub");
            let docs = docs_of(
                parse(&c.cmd(&["COMMAND", "DOCS", &format!("{name}|{subname}")])),
                &full,
            );
            check(spec, sub, &docs);
        }
    }
}

/// Sends a command and returns its reply and how long it took.
fn timed(c: &mut RawClient, args: &[&str]) -> (Vec<u8>, Duration) {
    let t = std::time::Instant::now();
    let r = c.cmd(args);
    (r, t.elapsed())
}

/// CLIENT PAUSE on one server: returns each reply with whether it was held back (took at least
/// `HELD`), for comparison with Redis.
fn pause_scenario(srv: &Server) -> Vec<(String, bool)> {
    const HELD: Duration = Duration::from_millis(400);
    let mut a = srv.client();
    let mut b = srv.client();
    let mut c = srv.client();
    let mut out = Vec::new();
    let mut push = |(r, t): (Vec<u8>, Duration)| {
        out.push((String::from_utf8_lossy(&r).into_owned(), t >= HELD));
    };

    // WRITE: reads go on, writes wait for the end of the pause.
    push(timed(&mut a, &["CLIENT", "PAUSE", "800", "WRITE"]));
    push(timed(&mut b, &["GET", "x"]));
    push(timed(&mut b, &["PING"]));
    push(timed(&mut b, &["NOSUCH"]));
    push(timed(&mut b, &["SET", "x", "1"]));

    // UNPAUSE from another client releases a held write at once.
    push(timed(&mut a, &["CLIENT", "PAUSE", "60000", "WRITE"]));
    b.send_raw(&RawClient::encode(&[b"SET", b"x", b"2"]));
    push(timed(&mut c, &["CLIENT", "UNPAUSE"]));
    let t = std::time::Instant::now();
    let r = b.read_reply();
    assert!(t.elapsed() < Duration::from_secs(30));
    push((r, Duration::ZERO));

    // A pipeline: the replies before the held command are sent while it waits.
    push(timed(&mut a, &["CLIENT", "PAUSE", "800", "WRITE"]));
    let mut req = RawClient::encode(&[b"PING", b"first"]);
    req.extend(RawClient::encode(&[b"SET", b"y", b"2"]));
    req.extend(RawClient::encode(&[b"GET", b"y"]));
    let t = std::time::Instant::now();
    b.send_raw(&req);
    let first = b.read_reply();
    push((first, t.elapsed()));
    let set = b.read_reply();
    push((set, t.elapsed()));
    push((b.read_reply(), Duration::ZERO));

    // ALL: everything waits, even UNPAUSE from another client; the stricter kind and the later
    // end win over an earlier pause.
    push(timed(&mut a, &["CLIENT", "PAUSE", "800", "WRITE"]));
    push(timed(&mut a, &["CLIENT", "PAUSE", "10", "ALL"]));
    push(timed(&mut c, &["CLIENT", "UNPAUSE"]));
    push(timed(&mut b, &["PING"]));
    // A timeout of 0, or one so large it wraps, pauses nothing.
    push(timed(&mut a, &["CLIENT", "PAUSE", "0", "ALL"]));
    push(timed(&mut b, &["PING"]));
    push(timed(
        &mut a,
        &["CLIENT", "PAUSE", "9223372036854775807", "ALL"],
    ));
    push(timed(&mut b, &["PING"]));
    out
}

#[test]
fn client_pause_holds_commands_like_redis() {
    let redis = Server::start(Kind::Redis, &[]);
    let ferredis = Server::start(Kind::Ferredis, &[]);
    let want = pause_scenario(&redis);
    let got = pause_scenario(&ferredis);
    assert_eq!(want, got);
}

#[test]
fn paused_client_is_listed_blocked() {
    let d = Diff::new(&[]);
    let mut lists = Vec::new();
    for srv in [&d.redis, &d.ferredis] {
        let mut a = srv.client();
        // The Diff's own client and this one.
        wait_clients(&mut a, 2);
        let mut b = srv.client();
        assert_eq!(a.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), b"+OK\r\n");
        b.send_raw(&RawClient::encode(&[b"SET", b"k", b"v"]));
        let mut list = String::new();
        wait_for("the held SET to show as blocked", WAIT, || {
            list = text_of(&a.cmd(&["CLIENT", "LIST"]));
            list.contains("flags=b")
        });
        assert_eq!(a.cmd(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
        assert_eq!(b.read_reply(), b"+OK\r\n");
        lists.push(list);
    }
    compare_client_lists(&lists[0], &lists[1], "list with a paused client");
}

/// One command over a unix socket; returns the raw reply (simple, error, integer or bulk).
fn unix_cmd(s: &mut std::io::BufReader<std::os::unix::net::UnixStream>, args: &[&str]) -> Vec<u8> {
    use std::io::{BufRead, Read, Write};
    let a: Vec<&[u8]> = args.iter().map(|x| x.as_bytes()).collect();
    s.get_mut()
        .write_all(&RawClient::encode(&a))
        .expect("write");
    let mut line = Vec::new();
    s.read_until(b'\n', &mut line).expect("read");
    if line[0] == b'$' {
        let n: usize = String::from_utf8_lossy(&line[1..line.len() - 2])
            .parse()
            .expect("len");
        let mut body = vec![0; n + 2];
        s.read_exact(&mut body).expect("body");
        line.extend(body);
    }
    line
}

/// CLIENT LIST and MONITOR show unix-socket clients as Redis does (`addr=<path>:0`, flag `U`,
/// `[0 unix:<path>]`).
#[test]
fn unix_socket_clients_match_redis() {
    let mut outs = Vec::new();
    for kind in [Kind::Redis, Kind::Ferredis] {
        let dir = scratch_dir("unixsock");
        let path = dir.join("s.sock");
        let path_s = path.to_str().expect("utf-8").to_string();
        let srv = Server::start(kind, &["--unixsocket", &path_s]);
        let mut m = srv.client();
        wait_clients(&mut m, 1);
        assert_eq!(m.cmd(&["MONITOR"]), b"+OK\r\n");
        let mut u = std::io::BufReader::new(
            std::os::unix::net::UnixStream::connect(&path).expect("connect unix socket"),
        );
        assert_eq!(unix_cmd(&mut u, &["SET", "k", "v"]), b"+OK\r\n");
        let line = String::from_utf8_lossy(&m.read_reply()).into_owned();
        let (_, rest) = line.split_once(' ').expect("timestamp");
        let info = text_of(&unix_cmd(&mut u, &["CLIENT", "INFO"]));
        assert!(
            info.contains(&format!(" addr={path_s}:0 laddr={path_s}:0 ")),
            "{info}"
        );
        outs.push((rest.replace(&path_s, "PATH"), info.replace(&path_s, "PATH")));
    }
    assert_eq!(outs[0].0, outs[1].0, "monitor line");
    compare_client_lists(&outs[0].1, &outs[1].1, "unix client info");
}

/// Sends raw bytes and returns everything the server writes until it closes the connection.
fn raw_until_closed(port: u16, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Before AUTH, requests are limited to 10 arguments and 16 KiB per argument; protocol errors
/// close the connection with Redis's `-ERR Protocol error: ...` text.
#[test]
fn unauthenticated_request_limits_match_redis() {
    let redis = Server::start(Kind::Redis, &["--requirepass", "pw"]);
    let ferredis = Server::start(Kind::Ferredis, &["--requirepass", "pw"]);
    let eleven: Vec<&[u8]> = vec![b"x"; 11];
    let big = vec![b'a'; 16 * 1024 + 1];
    let ok_big = vec![b'a'; 16 * 1024];
    let cases: Vec<Vec<u8>> = vec![
        RawClient::encode(&eleven),
        RawClient::encode(&[b"ECHO", &big]),
        [RawClient::encode(&[b"ECHO", &ok_big]), b"*abc\r\n".to_vec()].concat(),
        [
            RawClient::encode(&[b"AUTH", b"pw"]),
            RawClient::encode(&eleven),
            RawClient::encode(&[b"ECHO", &big[..20]]),
            b"*1\r\n$-3\r\n".to_vec(),
        ]
        .concat(),
        b"set \"a\r\n".to_vec(),
    ];
    for case in &cases {
        let want = raw_until_closed(redis.port, case);
        let got = raw_until_closed(ferredis.port, case);
        assert_eq!(
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&got),
            "request {:?}",
            String::from_utf8_lossy(&case[..case.len().min(80)])
        );
    }
}

/// A second MONITOR is ignored without a reply; a monitor's own command is answered, then its line
/// follows in the same stream, before the next reply.
#[test]
fn monitor_twice_is_ignored_like_redis() {
    let d = Diff::new(&[]);
    let (mut r, mut f) = (d.redis.client(), d.ferredis.client());
    let p: &[&[&str]] = &[&["MONITOR"], &["MONITOR"], &["PING", "x"]];
    let mask = |b: Vec<u8>| -> Vec<String> {
        String::from_utf8_lossy(&b)
            .split_inclusive("\r\n")
            .map(|l| {
                if l.as_bytes().get(1).is_some_and(u8::is_ascii_digit) && l.starts_with('+') {
                    mask_monitor_line(l.as_bytes())
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    let want = mask(pipeline_until_end(&mut r, p));
    let got = mask(pipeline_until_end(&mut f, p));
    assert_eq!(want, got);
    assert_eq!(
        got,
        [
            "+OK\r\n",
            "$1\r\n",
            "x\r\n",
            "+T [0 127.0.0.1:P] \"PING\" \"x\"\r\n",
            "$3\r\n",
            "end\r\n"
        ]
    );
    // Then the feed of ECHO.
    for c in [&mut r, &mut f] {
        let echo = mask_monitor_line(&c.read_reply());
        assert_eq!(echo, "+T [0 127.0.0.1:P] \"ECHO\" \"end\"\r\n");
    }
}

/// `requirepass` set and removed at runtime: connected clients stay authenticated, new ones must
/// authenticate, and once the password is gone unauthenticated clients run commands but HELLO
/// still refuses them (it checks the client's own state), until RESET.
fn runtime_requirepass_scenario(srv: &Server) -> Vec<Vec<u8>> {
    let mut a = srv.client();
    let mut out = vec![
        a.cmd(&["CONFIG", "SET", "requirepass", "pw"]),
        a.cmd(&["PING"]),
    ];
    let mut b = srv.client();
    out.push(b.cmd(&["PING"]));
    out.push(b.cmd(&["HELLO", "3"]));
    out.push(a.cmd(&["CONFIG", "SET", "requirepass", ""]));
    out.push(b.cmd(&["PING"]));
    out.push(b.cmd(&["HELLO", "2"]));
    out.push(b.cmd(&["AUTH", "x"]));
    out.push(b.cmd(&["RESET"]));
    out.push(b.cmd(&["HELLO", "2"]));
    out.iter_mut().for_each(|r| *r = mask_hello_id(r));
    out
}

#[test]
fn requirepass_changed_at_runtime_matches_redis() {
    let redis = Server::start(Kind::Redis, &[]);
    let ferredis = Server::start(Kind::Ferredis, &[]);
    let show = |v: Vec<Vec<u8>>| {
        v.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        show(runtime_requirepass_scenario(&redis)),
        show(runtime_requirepass_scenario(&ferredis))
    );
}
