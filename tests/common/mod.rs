//! Test harness shared by the integration tests: starts the built `ferredis-server` (and, for
//! differential and interop tests, a real `redis-server`) on free loopback ports, talks raw RESP to
//! them, and compares replies byte for byte.
//!
//! Servers are stopped by their own pid when the handle drops. Every wait is a poll with a deadline,
//! never a fixed sleep.

#![allow(dead_code)]

pub mod proxy;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Which server to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ferredis,
    Redis,
}

pub fn ferredis_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferredis-server"))
}

/// The real redis-server. Interop tests are never skipped silently: without it they fail and say why.
pub fn redis_bin() -> PathBuf {
    for p in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] {
        if std::path::Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("redis-server not found: install it with `apt-get install -y redis-server redis-tools` (.ci/run does)");
}

pub fn redis_cli_bin() -> PathBuf {
    for p in ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"] {
        if std::path::Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("redis-cli not found: install it with `apt-get install -y redis-tools` (.ci/run does)");
}

/// A port nobody listens on right now, claimed for this process.
///
/// Test binaries run concurrently (cargo runs one at a time, but engineers and CI may run several):
/// a port is claimed with an exclusive file under the temp dir holding the claimer's pid, so two
/// processes never hand out the same port; claims of dead processes are taken over.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20000 + (std::process::id() % 2000) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let claims = std::env::temp_dir().join("ferredis-test-ports");
    let _ = std::fs::create_dir_all(&claims);
    loop {
        let p = NEXT.fetch_add(1, Ordering::SeqCst);
        let p = if p >= 64000 { 20000 + p % 1000 } else { p };
        if !claim_port(&claims, p) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

fn claim_port(dir: &std::path::Path, port: u16) -> bool {
    let path = dir.join(port.to_string());
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                return true;
            }
            Err(_) => {
                let owner: i32 = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                if owner as u32 == std::process::id() {
                    return true;
                }
                // SAFETY: kill(pid, 0) only checks whether the process exists.
                let alive = owner > 0 && unsafe { libc::kill(owner, 0) } == 0;
                if alive {
                    return false;
                }
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    false
}

/// A running server process, killed (by its pid) when dropped.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub log: PathBuf,
}

static DIR_SEQ: AtomicU16 = AtomicU16::new(0);

/// A fresh scratch directory under the target dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let d = base.join(format!(
        "{tag}-{}-{}",
        std::process::id(),
        DIR_SEQ.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

impl Server {
    /// Starts a server with `--port <free> --bind 127.0.0.1 --save ""` plus `args`, and waits until it
    /// answers PING.
    pub fn start(kind: Kind, args: &[&str]) -> Server {
        Self::start_with(kind, None, args)
    }

    /// Like [`Server::start`], with a config file as first argument.
    pub fn start_with(kind: Kind, config: Option<&std::path::Path>, args: &[&str]) -> Server {
        for _attempt in 0..5 {
            let port = free_port();
            let dir = scratch_dir(match kind {
                Kind::Ferredis => "ferredis",
                Kind::Redis => "redis",
            });
            let log = dir.join("server.log");
            let bin = match kind {
                Kind::Ferredis => ferredis_bin(),
                Kind::Redis => redis_bin(),
            };
            let mut cmd = Command::new(bin);
            if let Some(c) = config {
                cmd.arg(c);
            }
            let port_s = port.to_string();
            cmd.args([
                "--port",
                &port_s,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--daemonize",
                "no",
            ]);
            cmd.args([
                "--dir",
                dir.to_str().expect("utf-8 path"),
                "--logfile",
                "server.log",
            ]);
            if kind == Kind::Redis {
                cmd.args(["--enable-debug-command", "yes"]);
            }
            cmd.args(args);
            cmd.current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd.spawn().expect("spawn server");
            let mut s = Server {
                kind,
                port,
                child: Some(child),
                dir,
                log,
            };
            if s.wait_ready(Duration::from_secs(20)) {
                return s;
            }
            // Lost a race for the port (or failed to start): look at the log, then retry.
            let log = std::fs::read_to_string(&s.log).unwrap_or_default();
            if !log.contains("Address already in use") && !log.contains("address in use") {
                panic!("{kind:?} did not start on port {port}; log:\n{log}");
            }
            s.kill();
        }
        panic!("could not start {kind:?} after 5 attempts");
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    return false;
                }
            }
            if let Ok(mut c) = RawClient::try_connect(self.port) {
                let r = c.cmd(&["PING"]);
                // With requirepass the server is up when it asks for a password.
                if r.starts_with(b"-NOAUTH") {
                    return true;
                }
                // Make sure it is our process answering on this port, not another test's.
                if r == b"+PONG\r\n" {
                    let pid = format!("process_id:{}", self.pid());
                    let info = parse_bulk(&c.cmd(&["INFO", "server"])).unwrap_or_default();
                    if info.lines().any(|l| l.trim() == pid) {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: kill(2) on the pid of our own child.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `f` is true, polling; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

/// Waits until master `m` lists `n` replicas, all online.
pub fn wait_online(m: &Server, n: usize, timeout: Duration) {
    let mut c = m.client();
    let mut field = |f: &str| c.info_field("replication", f).unwrap_or_default();
    wait_for("replicas online", timeout, || {
        field("connected_slaves") == n.to_string()
            && (0..n).all(|i| field(&format!("slave{i}")).contains("state=online"))
    });
}

/// Waits until replica `r` is linked and has applied everything master `m` wrote, then asserts
/// that both have the same `DEBUG DIGEST`.
pub fn wait_replica_in_sync(m: &Server, r: &Server, timeout: Duration) {
    let mut mc = m.client();
    let mut rc = r.client();
    wait_for("replica link up", timeout, || {
        rc.info_field("replication", "master_link_status")
            .as_deref()
            == Some("up")
    });
    wait_for("replica offset reaches the master's", timeout, || {
        let mo = mc.info_field("replication", "master_repl_offset");
        mo.is_some() && mo == rc.info_field("replication", "master_repl_offset")
    });
    assert_eq!(mc.digest(), rc.digest(), "datasets differ");
}

/// A blocking RESP client that returns raw reply bytes, for byte-exact comparisons.
pub struct RawClient {
    pub stream: BufReader<TcpStream>,
}

impl RawClient {
    pub fn connect(port: u16) -> RawClient {
        Self::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    pub fn try_connect(port: u16) -> std::io::Result<RawClient> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_nodelay(true)?;
        Ok(RawClient {
            stream: BufReader::new(s),
        })
    }

    /// Changes how long a reply may take (30 s by default): for commands that walk a big dataset
    /// in a debug build on a loaded machine.
    pub fn set_timeout(&mut self, t: Duration) {
        self.stream
            .get_mut()
            .set_read_timeout(Some(t))
            .expect("set read timeout");
    }

    /// Encodes a command as a multibulk request.
    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).expect("write");
    }

    /// Sends one command (string arguments) and returns its raw reply.
    pub fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd_bytes(&a)
    }

    /// Sends one command (binary arguments) and returns its raw reply.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_raw(&Self::encode(args));
        self.read_reply()
    }

    /// Reads one complete RESP2/RESP3 reply and returns its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_value(&mut out);
        out
    }

    /// Reads one reply, or None if the server closed the connection first.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut line = Vec::new();
        match self.stream.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        self.read_value_from_line(line, &mut out);
        Some(out)
    }

    fn read_line(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        let mut line = Vec::new();
        let n = self
            .stream
            .read_until(b'\n', &mut line)
            .expect("read reply line");
        assert!(n > 0, "connection closed while reading a reply");
        out.extend_from_slice(&line);
        line
    }

    fn read_value(&mut self, out: &mut Vec<u8>) {
        let line = self.read_line(out);
        out.truncate(out.len() - line.len());
        self.read_value_from_line(line, out);
    }

    fn read_value_from_line(&mut self, line: Vec<u8>, out: &mut Vec<u8>) {
        out.extend_from_slice(&line);
        let body = String::from_utf8_lossy(&line[1..line.len().saturating_sub(2)]).to_string();
        match line[0] {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
            b'$' | b'=' | b'!' => {
                let n: i64 = body.parse().expect("bulk length");
                if n >= 0 {
                    let mut buf = vec![0u8; n as usize + 2];
                    self.stream.read_exact(&mut buf).expect("read bulk");
                    out.extend_from_slice(&buf);
                }
            }
            b'*' | b'~' | b'>' => {
                let n: i64 = body.parse().expect("aggregate length");
                for _ in 0..n.max(0) {
                    self.read_value(out);
                }
            }
            b'%' | b'|' => {
                let n: i64 = body.parse().expect("map length");
                for _ in 0..n.max(0) * 2 {
                    self.read_value(out);
                }
            }
            other => panic!(
                "unexpected RESP type byte {:?} in {:?}",
                other as char,
                String::from_utf8_lossy(&line)
            ),
        }
    }

    /// Reads a bulk-string reply as a String (panics on other replies).
    pub fn cmd_str(&mut self, args: &[&str]) -> String {
        let r = self.cmd(args);
        parse_bulk(&r).unwrap_or_else(|| {
            panic!(
                "expected a bulk string for {args:?}, got {:?}",
                String::from_utf8_lossy(&r)
            )
        })
    }

    /// DEBUG DIGEST as its raw reply (`+` and 40 hex digits), checked to be one.
    pub fn digest(&mut self) -> String {
        let d = String::from_utf8_lossy(&self.cmd(&["DEBUG", "DIGEST"])).into_owned();
        assert!(d.starts_with('+') && d.len() == 43, "DEBUG DIGEST: {d}");
        d
    }

    /// INFO field value (`field:value` line) from `INFO <section>`.
    pub fn info_field(&mut self, section: &str, field: &str) -> Option<String> {
        let info = self.cmd_str(&["INFO", section]);
        info.lines().find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
    }
}

/// The payload of a `$n` bulk reply.
pub fn parse_bulk(r: &[u8]) -> Option<String> {
    if r.first() != Some(&b'$') {
        return None;
    }
    let nl = r.iter().position(|&b| b == b'\n')?;
    let n: usize = std::str::from_utf8(&r[1..nl - 1]).ok()?.parse().ok()?;
    Some(String::from_utf8_lossy(&r[nl + 1..nl + 1 + n]).into_owned())
}

/// A differential run: the same commands against a real Redis and ferredis, replies compared.
pub struct Diff {
    pub redis: Server,
    pub ferredis: Server,
    pub r: RawClient,
    pub f: RawClient,
    pub mismatches: Vec<String>,
    pub count: usize,
}

impl Diff {
    /// Starts both servers with the same extra arguments.
    pub fn new(args: &[&str]) -> Diff {
        let redis = Server::start(Kind::Redis, args);
        let ferredis = Server::start(
            Kind::Ferredis,
            &[&["--enable-debug-command", "yes"], args].concat(),
        );
        let r = redis.client();
        let f = ferredis.client();
        Diff {
            redis,
            ferredis,
            r,
            f,
            mismatches: Vec::new(),
            count: 0,
        }
    }

    /// Runs one command on both and records a mismatch.
    pub fn run(&mut self, args: &[&str]) {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.run_bytes(&a);
    }

    pub fn run_bytes(&mut self, args: &[&[u8]]) {
        let want = self.r.cmd_bytes(args);
        let got = self.f.cmd_bytes(args);
        self.count += 1;
        if want != got {
            self.mismatches.push(format!(
                "{}\n   redis:    {:?}\n   ferredis: {:?}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }

    /// Runs one command on both, comparing replies after sorting the elements of a flat array reply
    /// (for commands whose order Redis does not define: KEYS, SMEMBERS, ...).
    pub fn run_unordered(&mut self, args: &[&str]) {
        let want = sort_flat_array(&self.r.cmd(args));
        let got = sort_flat_array(&self.f.cmd(args));
        self.count += 1;
        if want != got {
            self.mismatches.push(format!(
                "{} (unordered)\n   redis:    {:?}\n   ferredis: {:?}",
                args.join(" "),
                want,
                got
            ));
        }
    }

    /// Runs a script: one command per line, arguments split with Redis's quoting rules; blank lines
    /// and lines starting with `#` are skipped.
    pub fn script(&mut self, text: &str) {
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let args = split_line(t);
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            self.run_bytes(&refs);
        }
    }

    /// Asserts that both servers show the same values for these INFO fields of `section`.
    pub fn assert_same_info(&mut self, section: &str, fields: &[&str]) {
        for field in fields {
            assert_eq!(
                self.r.info_field(section, field),
                self.f.info_field(section, field),
                "INFO {section} {field}"
            );
        }
    }

    /// Panics listing every mismatch, if any.
    pub fn assert_clean(&self) {
        assert!(
            self.mismatches.is_empty(),
            "{} of {} commands differ from redis-server:\n{}",
            self.mismatches.len(),
            self.count,
            self.mismatches.join("\n")
        );
    }
}

/// Splits a script line like redis-cli does: spaces separate, double quotes group with escapes.
pub fn split_line(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let mut cur = Vec::new();
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => cur.push(b'\n'),
                        b'r' => cur.push(b'\r'),
                        b't' => cur.push(b'\t'),
                        b'x' if i + 2 < b.len() => {
                            let h = u8::from_str_radix(
                                std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00"),
                                16,
                            )
                            .unwrap_or(0);
                            cur.push(h);
                            i += 2;
                        }
                        c => cur.push(c),
                    }
                } else {
                    cur.push(b[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && b[i] != b' ' {
                cur.push(b[i]);
                i += 1;
            }
        }
        out.push(cur);
    }
    out
}

/// Splits a flat RESP array reply into its elements and sorts them (non-arrays are returned as-is).
pub fn sort_flat_array(r: &[u8]) -> Vec<Vec<u8>> {
    if r.first() != Some(&b'*') {
        return vec![r.to_vec()];
    }
    let mut elems = Vec::new();
    let mut i = r
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(r.len());
    while i < r.len() {
        let nl = i + r[i..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(r.len() - i - 1);
        if r[i] == b'$' {
            let n: i64 = std::str::from_utf8(&r[i + 1..nl - 1])
                .unwrap_or("-1")
                .parse()
                .unwrap_or(-1);
            let end = if n >= 0 {
                nl + 1 + n as usize + 2
            } else {
                nl + 1
            };
            elems.push(r[i..end].to_vec());
            i = end;
        } else {
            elems.push(r[i..=nl].to_vec());
            i = nl + 1;
        }
    }
    elems.sort();
    elems
}

/// INFO counters a command moves, read from both servers of a [`Diff`]: the dirty counter
/// (`rdb_changes_since_last_save`) and keyspace hits and misses.
pub struct Counters {
    redis: [i64; 3],
    ferredis: [i64; 3],
}

const COUNTER_FIELDS: [(&str, &str); 3] = [
    ("persistence", "rdb_changes_since_last_save"),
    ("stats", "keyspace_hits"),
    ("stats", "keyspace_misses"),
];

impl Counters {
    pub fn read(d: &mut Diff) -> Counters {
        let read = |c: &mut RawClient| {
            COUNTER_FIELDS.map(|(section, field)| {
                // A bulk string in RESP2, verbatim text in RESP3: the fields are lines either way.
                let text = String::from_utf8_lossy(&c.cmd(&["INFO", section])).into_owned();
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{field}:")))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or_else(|| panic!("INFO {section} has no numeric {field}"))
            })
        };
        Counters {
            redis: read(&mut d.r),
            ferredis: read(&mut d.f),
        }
    }

    /// Records a mismatch if the counters moved differently on the two servers since `self` was
    /// read, then takes the current values as the new baseline.
    pub fn compare(&mut self, d: &mut Diff, when: &str) {
        let now = Counters::read(d);
        for (i, (_, field)) in COUNTER_FIELDS.iter().enumerate() {
            let want = now.redis[i] - self.redis[i];
            let got = now.ferredis[i] - self.ferredis[i];
            if want != got {
                d.mismatches.push(format!(
                    "INFO {field} moved by {want} on redis-server, by {got} on ferredis ({when})"
                ));
            }
        }
        *self = now;
    }
}

/// Flags under which LFU counters are exact: an LFU policy, every access counts one
/// (`lfu-log-factor 0`), nothing decays (`lfu-decay-time 0`).
pub const LFU_EXACT: [&str; 6] = [
    "--maxmemory-policy",
    "allkeys-lfu",
    "--lfu-log-factor",
    "0",
    "--lfu-decay-time",
    "0",
];

/// Two keys: `hot`, read 100 times (LFU counter 105 under [`LFU_EXACT`]), and `cold`, never read.
pub fn hot_and_cold(c: &mut RawClient) {
    c.cmd(&["SET", "hot", "v"]);
    c.cmd(&["SET", "cold", "v"]);
    for _ in 0..100 {
        c.cmd(&["GET", "hot"]);
    }
}
