//! Configuration: redis.conf loading (Debian's file, includes, quoting, units, fatal errors), the
//! command-line forms, CONFIG GET/SET/REWRITE/RESETSTAT against the real redis-server, daemonize and
//! pidfile, the log format, and `--version`.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs a server binary that is expected to exit at once (a bad config); returns (status, stderr,
/// stdout).
fn run_to_exit(bin: &Path, args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// CONFIG GET reply (RESP2 flat array) as name → value.
fn config_map(c: &mut RawClient, pattern: &str) -> BTreeMap<String, String> {
    let r = c.cmd(&["CONFIG", "GET", pattern]);
    let elems = parse_array(&r);
    elems
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// The bulk strings of a flat RESP2 array reply.
fn parse_array(r: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(r).into_owned();
    let mut out = Vec::new();
    let mut lines = s.split("\r\n");
    let head = lines.next().unwrap_or("");
    assert!(head.starts_with('*'), "not an array: {s:?}");
    while let Some(l) = lines.next() {
        if l.starts_with('$') {
            out.push(lines.next().unwrap_or("").to_string());
        }
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

/// Directives whose default legitimately differs between two servers started by the harness.
const DIFFERENT_BY_NATURE: &[(&str, &str)] = &[
    ("port", "each server listens on its own free port"),
    ("dir", "each server runs in its own scratch directory"),
];

#[test]
fn every_directive_default_matches_redis() {
    let r = Server::start(Kind::Redis, &[]);
    let f = Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"]);
    let want = config_map(&mut r.client(), "*");
    let got = config_map(&mut f.client(), "*");
    let skip: Vec<&str> = DIFFERENT_BY_NATURE.iter().map(|(n, _)| *n).collect();
    let mut diffs = Vec::new();
    for (k, v) in &want {
        if skip.contains(&k.as_str()) {
            continue;
        }
        match got.get(k) {
            Some(g) if g == v => {}
            other => diffs.push(format!("{k}: redis {v:?}, ferredis {other:?}")),
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            diffs.push(format!("{k}: only in ferredis"));
        }
    }
    assert!(
        diffs.is_empty(),
        "CONFIG GET * differs:\n{}",
        diffs.join("\n")
    );
    assert!(
        want.len() > 180,
        "redis returned only {} directives",
        want.len()
    );
    // Hidden directives answer an exact name only.
    let mut c = f.client();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "rdb-key-save-delay"]),
        b"*2\r\n$18\r\nrdb-key-save-delay\r\n$1\r\n0\r\n"
    );
}

#[test]
fn debian_redis_conf_loads() {
    let conf = Path::new("/etc/redis/redis.conf");
    assert!(
        conf.exists(),
        "/etc/redis/redis.conf missing: install redis-server (.ci/run does)"
    );
    let tmp = scratch_dir("debconf");
    let pid_f = tmp.join("f.pid");
    let pid_r = tmp.join("r.pid");
    let f = Server::start_with(
        Kind::Ferredis,
        Some(conf),
        &[
            "--pidfile",
            pid_f.to_str().unwrap(),
            "--enable-debug-command",
            "yes",
        ],
    );
    let r = Server::start_with(
        Kind::Redis,
        Some(conf),
        &["--pidfile", pid_r.to_str().unwrap()],
    );
    let (mut fc, mut rc) = (f.client(), r.client());
    assert_eq!(fc.cmd(&["PING"]), b"+PONG\r\n");
    // Written without daemonize because pidfile is set, as Redis does.
    let pid = std::fs::read_to_string(&pid_f).expect("pidfile written");
    assert_eq!(pid.trim(), f.pid().to_string());
    let want = config_map(&mut rc, "*");
    let got = config_map(&mut fc, "*");
    for (k, v) in &want {
        if ["port", "dir", "pidfile"].contains(&k.as_str()) {
            continue;
        }
        assert_eq!(got.get(k), Some(v), "{k} after loading Debian's redis.conf");
    }
    // The start-up log names what ferredis accepts without acting on it.
    let log = f.log_text();
    assert!(
        log.contains("Directives accepted without effect in ferredis: ")
            && log.contains("activerehashing"),
        "{log}"
    );
}

/// Starts both servers on the same bad configuration and compares the fatal message; ferredis also
/// names the file on the "Reading the configuration file" line.
fn fatal_both(conf_text: &str, extra: &[&str]) -> String {
    let dir = scratch_dir("fatal");
    let conf = write(&dir, "bad.conf", conf_text);
    let mut args = vec![conf.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (rs, rerr, _) = run_to_exit(&redis_bin(), &args, &dir);
    let (fs, ferr, _) = run_to_exit(&ferredis_bin(), &args, &dir);
    assert_eq!(rs, 1, "redis: {rerr}");
    assert_eq!(fs, 1, "ferredis: {ferr}");
    let named = format!(
        "Reading the configuration file '{}', at line",
        conf.display()
    );
    let expected = rerr.replace("Reading the configuration file, at line", &named);
    assert_eq!(ferr, expected);
    ferr
}

#[test]
fn fatal_errors_match_redis_and_name_the_file() {
    let e = fatal_both("port 7000\n# c\n\nnosuchdirective 1\n", &[]);
    assert!(
        e.contains(
            "at line 4\n>>> 'nosuchdirective 1'\nBad directive or wrong number of arguments"
        ),
        "{e}"
    );
    let e = fatal_both("maxmemory 10zb\n", &[]);
    assert!(e.ends_with("argument must be a memory value\n"), "{e}");
    let e = fatal_both("port 1 2\n", &[]);
    assert!(e.ends_with("wrong number of arguments\n"), "{e}");
    fatal_both("appendfsync sometimes\n", &[]);
    fatal_both("hz 1\nrequirepass \"abc\n", &[]);
    fatal_both("save 60\n", &[]);
    fatal_both("replicaof 127.0.0.1 notaport\n", &[]);
    fatal_both("client-output-buffer-limit master 0 0 0\n", &[]);
    fatal_both("notify-keyspace-events Q\n", &[]);
    fatal_both("daemonize maybe\n", &[]);
}

#[test]
fn fatal_error_in_command_line_options_counts_lines_like_redis() {
    let dir = scratch_dir("fatal-cli");
    let args = ["--port", "7000", "--hz", "abc"];
    let (_, rerr, _) = run_to_exit(&redis_bin(), &args, &dir);
    let (fs, ferr, _) = run_to_exit(&ferredis_bin(), &args, &dir);
    assert_eq!(fs, 1);
    assert_eq!(
        ferr,
        rerr.replace(
            "Reading the configuration file, at line",
            "Reading the configuration file (command line arguments), at line"
        )
    );
    // A config file that cannot be opened.
    let (fs, _, fout) = run_to_exit(&ferredis_bin(), &["missing.conf"], &dir);
    assert_eq!(fs, 1);
    assert!(
        fout.contains(&format!(
            "# Fatal error, can't open config file '{}': No such file or directory",
            dir.join("missing.conf").display()
        )),
        "{fout}"
    );
}

#[test]
fn include_quoting_and_units() {
    let dir = scratch_dir("include");
    write(
        &dir,
        "inc.conf",
        "maxmemory 2MB\nhash-max-ziplist-value 1k\nproto-max-bulk-len 2gb\n",
    );
    let main = write(
        &dir,
        "main.conf",
        &format!(
            "# main\ninclude {}\nmasterauth \"p w\\x41\\n\"\nmasteruser 'it\\'s'\nclient-query-buffer-limit 1G\nsave 100 1\nsave 200 2\nclient-output-buffer-limit pubsub 1mb 512kb 5\n",
            dir.join("inc.conf").display()
        ),
    );
    let r = Server::start_with(Kind::Redis, Some(&main), &[]);
    let f = Server::start_with(Kind::Ferredis, Some(&main), &[]);
    let (mut rc, mut fc) = (r.client(), f.client());
    for d in [
        "maxmemory",
        "hash-max-listpack-value",
        "proto-max-bulk-len",
        "masterauth",
        "masteruser",
        "client-query-buffer-limit",
        "save",
        "client-output-buffer-limit",
    ] {
        assert_eq!(
            fc.cmd(&["CONFIG", "GET", d]),
            rc.cmd(&["CONFIG", "GET", d]),
            "{d}"
        );
    }
    // An error inside an included file names that file.
    write(&dir, "bad.conf", "port 1\nbogus\n");
    let top = write(
        &dir,
        "top.conf",
        &format!("include {}\n", dir.join("bad.conf").display()),
    );
    let (fs, ferr, _) = run_to_exit(&ferredis_bin(), &[top.to_str().unwrap()], &dir);
    assert_eq!(fs, 1);
    assert!(
        ferr.contains(&format!(
            "Reading the configuration file '{}', at line 2\n>>> 'bogus'",
            dir.join("bad.conf").display()
        )),
        "{ferr}"
    );
}

#[test]
fn command_line_value_forms_match_redis() {
    // Multi-word values as several arguments, as one quoted argument, and `--save ""`.
    let forms: &[&[&str]] = &[
        &["--save", "100", "10", "--maxmemory", "1mb"],
        &["--save", "100 10 200 20"],
        &["--save", ""],
        &["--client-output-buffer-limit", "normal 1mb 1mb 0"],
        &["--client-output-buffer-limit", "normal", "2mb", "1mb", "0"],
        &["--latency-tracking-info-percentiles", "50", "90"],
        &["--masterauth", "a b"],
        &["--maxmemory-policy allkeys-lru"],
        &["--oom-score-adj-values", "1 2 3"],
    ];
    for args in forms {
        let r = Server::start(Kind::Redis, args);
        let f = Server::start(Kind::Ferredis, args);
        let (mut rc, mut fc) = (r.client(), f.client());
        for d in [
            "save",
            "maxmemory",
            "client-output-buffer-limit",
            "latency-tracking-info-percentiles",
            "masterauth",
            "maxmemory-policy",
            "oom-score-adj-values",
        ] {
            assert_eq!(
                String::from_utf8_lossy(&fc.cmd(&["CONFIG", "GET", d])),
                String::from_utf8_lossy(&rc.cmd(&["CONFIG", "GET", d])),
                "{d} with {args:?}"
            );
        }
    }
    // replicaof as two words and as one quoted word (no master listens on that port).
    for args in [
        &["--replicaof", "127.0.0.1", "1"][..],
        &["--replicaof", "127.0.0.1 1"][..],
    ] {
        let f = Server::start(Kind::Ferredis, args);
        assert_eq!(
            f.client().cmd(&["CONFIG", "GET", "slaveof"]),
            b"*2\r\n$7\r\nslaveof\r\n$11\r\n127.0.0.1 1\r\n"
        );
    }
}

#[test]
fn config_from_stdin() {
    let dir = scratch_dir("stdin");
    let port = free_port();
    let mut child = Command::new(ferredis_bin())
        .args(["-", "--bind", "127.0.0.1", "--logfile", "server.log"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "port {port}\nsave \"\"\nhz 33").unwrap();
    }
    wait_for("server from stdin config", Duration::from_secs(10), || {
        RawClient::try_connect(port).is_ok()
    });
    let mut c = RawClient::connect(port);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hz"]),
        b"*2\r\n$2\r\nhz\r\n$2\r\n33\r\n"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn config_get_and_set_match_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"
        CONFIG GET maxmemory
        CONFIG GET does-not-exist
        CONFIG GET hz hz
        CONFIG GET
        CONFIG SET port
        CONFIG SET foo bar
        CONFIG SET hz 5 foo 1
        CONFIG SET daemonize yes foo 1
        CONFIG SET port 1 port 2
        CONFIG SET hz 5 HZ 6
        CONFIG SET maxmemory-policy allkeys-lru maxmemory-policy noeviction
        CONFIG SET daemonize yes
        CONFIG SET replicaof "a 1"
        CONFIG SET slaveof "a 1"
        CONFIG SET dir /tmp
        CONFIG SET dbfilename x.rdb
        CONFIG SET maxmemory 1x
        CONFIG SET maxmemory 1GB
        CONFIG GET maxmemory
        CONFIG SET maxmemory 0
        CONFIG SET hz abc
        CONFIG SET hz -1
        CONFIG SET hz " 5"
        CONFIG SET maxclients 0
        CONFIG SET slowlog-max-len -1
        CONFIG SET hash-max-listpack-entries -1
        CONFIG SET appendfsync sometimes
        CONFIG SET appendonly maybe
        CONFIG SET save "10 x"
        CONFIG SET save "100 10 200 20"
        CONFIG GET save
        CONFIG SET save ""
        CONFIG GET save
        CONFIG SET hash-max-ziplist-entries 100
        CONFIG GET hash-max-listpack-entries
        CONFIG GET hash-max-ziplist-entries
        CONFIG SET maxmemory-clients 10%
        CONFIG GET maxmemory-clients
        CONFIG SET maxmemory-clients 101%
        CONFIG SET maxmemory-clients 0
        CONFIG SET client-output-buffer-limit "normal 1mb 2mb 3"
        CONFIG GET client-output-buffer-limit
        CONFIG SET client-output-buffer-limit "master 0 0 0"
        CONFIG SET client-output-buffer-limit "normal 0 0"
        CONFIG SET notify-keyspace-events KEAm
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events Q
        CONFIG SET loglevel WARNING
        CONFIG GET loglevel
        CONFIG SET loglevel bogus
        CONFIG SET shutdown-on-sigint "save nosave"
        CONFIG SET shutdown-on-sigint "nosave now"
        CONFIG GET shutdown-on-sigint
        CONFIG SET oom-score-adj relative
        CONFIG GET oom-score-adj
        CONFIG SET oom-score-adj-values "1 2"
        CONFIG SET oom-score-adj-values "1 2 3000"
        CONFIG SET latency-tracking-info-percentiles "50 101"
        CONFIG SET latency-tracking-info-percentiles "50 abc"
        CONFIG SET latency-tracking-info-percentiles "50 99.5"
        CONFIG GET latency-tracking-info-percentiles
        CONFIG SET lua-time-limit 100
        CONFIG GET busy-reply-threshold
        CONFIG GET lua-time-limit
        CONFIG SET proto-max-bulk-len 1000
        CONFIG SET client-query-buffer-limit 1mb
        CONFIG GET client-query-buffer-limit
        CONFIG SET repl-backlog-size 0
        CONFIG SET cluster-announce-hostname "a b"
        CONFIG SET proc-title-template "{bad}"
        CONFIG SET masterauth x bad z
        CONFIG GET masterauth
        CONFIG SET list-max-ziplist-entries 5
        CONFIG SET unixsocketperm 777
        CONFIG GET unixsocketperm
        CONFIG GET rdb-key-save-delay
        CONFIG HELP
        CONFIG
        CONFIG FOO
        CONFIG RESETSTAT x
        CONFIG REWRITE
        "#,
    );
    d.assert_clean();
    // Multi-pattern replies: the same pairs (Redis's order follows its hash table).
    for pats in [
        &["CONFIG", "GET", "*"][..],
        &["CONFIG", "GET", "*max*", "maxmemory", "PORT", "slave*"][..],
        &["CONFIG", "GET", "h?", "[ab]*"][..],
        &["CONFIG", "GET", "*delay*"][..],
        &["CONFIG", "GET", "*max-*-entries*"][..],
    ] {
        let mut w = parse_array(&d.r.cmd(pats));
        let mut g = parse_array(&d.f.cmd(pats));
        let pairs = |v: &mut Vec<String>| {
            let mut p: Vec<(String, String)> =
                v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
            p.sort();
            p.retain(|(k, _)| !["port", "PORT", "dir"].contains(&k.as_str()));
            p
        };
        assert_eq!(pairs(&mut g), pairs(&mut w), "{pats:?}");
    }
    // RESP3 renders CONFIG GET as a map.
    assert_eq!(d.f.cmd(&["CONFIG", "SET", "hz", "5"]), b"+OK\r\n");
    if !d.f.cmd(&["HELLO", "3"]).starts_with(b"-") {
        assert_eq!(
            d.f.cmd(&["CONFIG", "GET", "hz"]),
            b"%1\r\n$2\r\nhz\r\n$1\r\n5\r\n"
        );
    }
}

#[test]
fn config_set_takes_effect() {
    let f = Server::start(Kind::Ferredis, &[]);
    let mut c = f.client();
    // maxclients: the next connection is refused.
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "1"]), b"+OK\r\n");
    let mut extra = RawClient::connect(f.port);
    assert_eq!(
        extra.try_read_reply().as_deref(),
        Some(&b"-ERR max number of clients reached\r\n"[..])
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "10000"]), b"+OK\r\n");
    // requirepass: new connections must authenticate.
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass", "pw"]), b"+OK\r\n");
    let mut other = f.client();
    assert_eq!(
        other.cmd(&["GET", "x"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(other.cmd(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass", ""]), b"+OK\r\n");
    // proto-max-bulk-len: a larger bulk is refused.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        b"+OK\r\n"
    );
    let mut big = f.client();
    big.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    let r = big.try_read_reply().unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&r).contains("Protocol error: invalid bulk length"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
    // timeout + loglevel verbose: the idle client is closed and the verbose line is logged.
    assert_eq!(c.cmd(&["CONFIG", "SET", "loglevel", "verbose"]), b"+OK\r\n");
    let mut idle = f.client();
    assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "timeout", "1"]), b"+OK\r\n");
    wait_for("idle client closed", Duration::from_secs(10), || {
        f.log_text().contains(" - Closing idle client")
    });
    assert!(idle.try_read_reply().is_none());
}

#[test]
fn config_rewrite_matches_redis() {
    let dir = scratch_dir("rewrite");
    let text = "# My config\n\nmaxmemory 10mb\nmaxmemory 20mb\n# keep me\nhz 20\nslave-read-only no\nlist-max-ziplist-entries 4\nappendonly no\n";
    let rconf = write(&dir, "r.conf", text);
    let fconf = write(&dir, "f.conf", text);
    let r = Server::start_with(Kind::Redis, Some(&rconf), &[]);
    let f = Server::start_with(
        Kind::Ferredis,
        Some(&fconf),
        &["--enable-debug-command", "yes"],
    );
    for s in [&r, &f] {
        let mut c = s.client();
        for (k, v) in [
            ("maxmemory", "3mb"),
            ("hz", "10"),
            ("timeout", "30"),
            ("notify-keyspace-events", "Ex"),
            ("client-output-buffer-limit", "pubsub 1mb 1mb 1"),
            ("masterauth", "x y"),
        ] {
            assert_eq!(c.cmd(&["CONFIG", "SET", k, v]), b"+OK\r\n", "{k}");
        }
        assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    }
    let norm = |t: String| -> (Vec<String>, Vec<String>) {
        // Lines before the signature keep their place; generated ones are compared as a set
        // (Redis appends them in its hash table's order). Server-specific lines are dropped.
        let lines: Vec<String> = t
            .lines()
            .filter(|l| {
                !l.starts_with("port ") && !l.starts_with("dir ") && !l.starts_with("user ")
            })
            .map(str::to_string)
            .collect();
        let cut = lines
            .iter()
            .position(|l| l == "# Generated by CONFIG REWRITE")
            .unwrap_or(lines.len());
        let mut tail = lines[cut..].to_vec();
        tail.sort();
        (lines[..cut].to_vec(), tail)
    };
    let want = norm(std::fs::read_to_string(&rconf).unwrap());
    let got = norm(std::fs::read_to_string(&fconf).unwrap());
    assert_eq!(got, want);
    // INFO names the (absolute) config file CONFIG REWRITE writes.
    assert_eq!(
        f.client().info_field("server", "config_file").as_deref(),
        fconf.to_str()
    );
    // The rewritten file loads again.
    drop(f);
    let f2 = Server::start_with(Kind::Ferredis, Some(&fconf), &[]);
    let mut c = f2.client();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n3145728\r\n"
    );
    // The file Redis rewrote (with its default-user line) loads in ferredis too.
    drop(r);
    let f3 = Server::start_with(Kind::Ferredis, Some(&rconf), &[]);
    assert_eq!(
        f3.client().cmd(&["CONFIG", "GET", "masterauth"]),
        b"*2\r\n$10\r\nmasterauth\r\n$3\r\nx y\r\n"
    );
    // Without a config file, Redis's error.
    let g = Server::start(Kind::Ferredis, &[]);
    assert_eq!(
        g.client().cmd(&["CONFIG", "REWRITE"]),
        b"-ERR The server is running without a config file\r\n"
    );
}

#[test]
fn config_resetstat_resets_counters() {
    let f = Server::start(Kind::Ferredis, &[]);
    let mut c = f.client();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "missing"]);
    c.cmd(&["NOSUCH"]);
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    // INFO belongs to another family; check it when it is there.
    let info = c.cmd(&["INFO", "stats"]);
    if info.starts_with(b"$") {
        let hits = c.info_field("stats", "keyspace_hits");
        assert_eq!(hits.as_deref(), Some("0"));
        assert_eq!(
            c.info_field("stats", "total_error_replies").as_deref(),
            Some("0")
        );
    }
}

#[test]
fn daemonize_writes_and_removes_pidfile() {
    let dir = scratch_dir("daemon");
    let port = free_port();
    let pidfile = dir.join("d.pid");
    let st = Command::new(ferredis_bin())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "yes",
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--dir",
            dir.to_str().unwrap(),
            "--logfile",
            "server.log",
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(st.success(), "the foreground process exits 0 after forking");
    wait_for("pidfile", Duration::from_secs(10), || pidfile.exists());
    wait_for("daemon answers", Duration::from_secs(10), || {
        RawClient::try_connect(port)
            .map(|mut c| c.cmd(&["PING"]) == b"+PONG\r\n")
            .unwrap_or(false)
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .expect("pid");
    assert!(pid > 0);
    // SAFETY: signalling the daemon this test started, by the pid it wrote.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    wait_for("pidfile removed", Duration::from_secs(10), || {
        !pidfile.exists()
    });
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap();
    assert!(log.contains(&format!("{pid}:M ")), "{log}");
    assert!(log.contains("Removing the pid file."), "{log}");
}

#[test]
fn log_lines_have_redis_format() {
    let f = Server::start(Kind::Ferredis, &[]);
    let log = f.log_text();
    let pid = f.pid();
    let mut saw_ready = false;
    for line in log.lines() {
        // pid:R DD Mon YYYY HH:MM:SS.mmm L message
        let (head, rest) = line.split_once(':').expect("pid:");
        assert_eq!(head, pid.to_string(), "{line}");
        let parts: Vec<&str> = rest.splitn(7, ' ').collect();
        assert!(["C", "M", "S"].contains(&parts[0]), "{line}");
        assert!(
            parts[1].len() == 2 && parts[1].bytes().all(|b| b.is_ascii_digit()),
            "{line}"
        );
        assert_eq!(parts[2].len(), 3, "{line}");
        assert_eq!(parts[3].len(), 4, "{line}");
        assert_eq!(parts[4].len(), 12, "{line}");
        assert!([".", "-", "*", "#"].contains(&parts[5]), "{line}");
        if line.ends_with(":M") || parts[6] == "Ready to accept connections" {
            assert_eq!(parts[5], "*");
            assert_eq!(parts[0], "M");
            saw_ready = true;
        }
    }
    assert!(saw_ready, "{log}");
    assert!(
        log.contains(&format!("Running mode=standalone, port={}.", f.port)),
        "{log}"
    );
    assert!(log.contains("# Server initialized"), "{log}");
    // always-show-logo prints the banner with the port and pid.
    let g = Server::start(Kind::Ferredis, &["--always-show-logo", "yes"]);
    let log = g.log_text();
    assert!(log.contains(&format!("Port: {}", g.port)), "{log}");
    assert!(log.contains(&format!(" PID: {}", g.pid())), "{log}");
}

#[test]
fn version_and_help() {
    let dir = scratch_dir("version");
    for flag in ["--version", "-v"] {
        let (st, _, out) = run_to_exit(&ferredis_bin(), &[flag], &dir);
        assert_eq!(st, 0);
        assert!(
            out.starts_with("ferredis server v=") && out.contains("redis_version=7.0.15"),
            "{out}"
        );
    }
    for flag in ["--help", "-h"] {
        let (st, err, _) = run_to_exit(&ferredis_bin(), &[flag], &dir);
        assert_eq!(st, 0);
        assert!(
            err.starts_with("Usage: ./ferredis-server [/path/to/redis.conf] [options] [-]"),
            "{err}"
        );
    }
}

#[test]
fn config_command_info_rows() {
    let mut d = Diff::new(&[]);
    // Not `COMMAND INFO config` itself: Redis lists a container's subcommands in its hash table's
    // order, which differs from one redis-server process to the next; each row is compared below.
    d.script(
        "COMMAND INFO config|get
         COMMAND INFO config|set
         COMMAND INFO config|rewrite
         COMMAND INFO config|resetstat
         COMMAND INFO config|help
         COMMAND DOCS config|get
         COMMAND DOCS config|set",
    );
    d.assert_clean();
    // The container lists its subcommands in Redis's hash-table order, which varies between runs:
    // the same rows, possibly permuted, so the same length.
    let want = d.r.cmd(&["COMMAND", "INFO", "config"]);
    let got = d.f.cmd(&["COMMAND", "INFO", "config"]);
    assert_eq!(got.len(), want.len(), "{:?}", String::from_utf8_lossy(&got));
    assert!(got.starts_with(
        b"*1\r\n*10\r\n$6\r\nconfig\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n"
    ));
}

#[test]
fn redis_conf_example_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("redis.conf.example");
    let want = ferredis::config::example_conf();
    if std::env::var_os("FERREDIS_WRITE_EXAMPLE").is_some() {
        std::fs::write(&path, &want).expect("write redis.conf.example");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "redis.conf.example is out of date: run FERREDIS_WRITE_EXAMPLE=1 cargo test --test config redis_conf_example"
    );
    // Uncommented, the example's default lines load and change nothing.
    let mut text = String::new();
    for l in have.lines() {
        if let Some(d) = l.strip_prefix("# ") {
            let name = d.split(' ').next().unwrap_or("");
            if ferredis::config::lookup(name).is_some()
                && !d.contains('<')
                && !name.starts_with("dir")
            {
                text.push_str(d);
                text.push('\n');
            }
        }
    }
    let mut c = ferredis::config::Config::default();
    c.apply_text(&text).expect("example defaults load");
    let d = ferredis::config::Config::default();
    for dir in ferredis::config::DIRECTIVES {
        assert_eq!(c.render(dir), d.render(dir), "{}", dir.name);
    }
}

#[test]
fn config_set_port_and_bind_rebind_listeners() {
    let f = Server::start(Kind::Ferredis, &[]);
    let mut c = f.client();
    let new_port = free_port();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "port", &new_port.to_string()]),
        b"+OK\r\n"
    );
    // The connection that asked stays; new clients reach the new port only.
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    let mut n = RawClient::connect(new_port);
    assert_eq!(n.cmd(&["PING"]), b"+PONG\r\n");
    wait_for("old port closed", Duration::from_secs(5), || {
        RawClient::try_connect(f.port).is_err()
    });
    // An address that cannot be bound fails with Redis's text and keeps the old listeners.
    assert_eq!(
        n.cmd(&["CONFIG", "SET", "bind", "10.255.255.1"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"
    );
    assert_eq!(RawClient::connect(new_port).cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(
        n.cmd(&["CONFIG", "SET", "bind", "127.0.0.1 -::1"]),
        b"+OK\r\n"
    );
    assert_eq!(RawClient::connect(new_port).cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(
        n.cmd(&["CONFIG", "GET", "bind"]),
        b"*2\r\n$4\r\nbind\r\n$14\r\n127.0.0.1 -::1\r\n"
    );
}

#[test]
fn protected_dir_and_dbfilename_match_redis() {
    let dir = scratch_dir("protected");
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let sub_s = sub.to_str().unwrap().to_string();
    let mut d = Diff::new(&["--enable-protected-configs", "yes"]);
    d.run(&["CONFIG", "SET", "dir", &sub_s]);
    d.run(&["CONFIG", "GET", "dir"]);
    d.run(&["CONFIG", "SET", "dir", "/nonexistent/x"]);
    d.run(&["CONFIG", "GET", "dir"]);
    d.run(&["CONFIG", "SET", "dbfilename", "a/b.rdb"]);
    d.run(&["CONFIG", "SET", "dbfilename", "b.rdb"]);
    d.run(&["CONFIG", "GET", "dbfilename"]);
    d.run(&["CONFIG", "SET", "hz", "7", "dir", "/nonexistent/y"]);
    d.run(&["CONFIG", "GET", "hz"]);
    d.run(&["CONFIG", "SET", "hz", "1000"]);
    d.run(&["CONFIG", "GET", "hz"]);
    d.assert_clean();
}

#[test]
fn supervised_systemd_notifies_readiness() {
    use std::os::unix::net::UnixDatagram;
    let dir = scratch_dir("systemd");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let port = free_port();
    let mut child = Command::new(ferredis_bin())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--supervised",
            "systemd",
            "--daemonize",
            "yes",
            "--logfile",
            "server.log",
        ])
        .env("NOTIFY_SOCKET", &sock_path)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.iter().any(|m: &String| m == "READY=1\n") {
        let n = sock.recv(&mut buf).expect("notification");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(
        got,
        [
            "STATUS=ferredis is loading...\n",
            "STATUS=Ready to accept connections\n",
            "READY=1\n"
        ]
    );
    // Supervised, it stays in the foreground even with daemonize yes.
    assert!(matches!(child.try_wait(), Ok(None)));
    assert_eq!(RawClient::connect(port).cmd(&["PING"]), b"+PONG\r\n");
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let n = sock.recv(&mut buf).expect("stopping");
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    let _ = child.wait();
    assert!(std::fs::read_to_string(dir.join("server.log"))
        .unwrap()
        .contains("Supervised by systemd."));
}
