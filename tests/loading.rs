//! The LOADING state: ferredis serves connections while the dump file loads at start-up, answers
//! commands without the `loading` flag with -LOADING, shows the load's progress in INFO
//! persistence, and swaps the whole dataset in only once the file is fully read. A corrupt file
//! still stops the server with exit code 1, and a shutdown during the load never saves.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Keys in the generated dump: enough that a debug build takes seconds to load it.
const KEYS: u64 = 500_000;
const LOADING: &[u8] = b"-LOADING Redis is loading the dataset in memory\r\n";

/// A large dump written once per test run by a first ferredis (DEBUG POPULATE, a few keys of
/// other types, SAVE), with its key count and DEBUG DIGEST.
struct BigDump {
    path: PathBuf,
    keys: u64,
    digest: Vec<u8>,
}

fn big_dump() -> &'static BigDump {
    static DUMP: OnceLock<BigDump> = OnceLock::new();
    DUMP.get_or_init(|| {
        let src = Server::start(Kind::Ferredis, &["--enable-debug-command", "yes"]);
        let mut c = src.client();
        c.set_timeout(Duration::from_secs(300));
        // In slices, so that no single reply waits long on a loaded machine (the client's read
        // timeout is 30 s).
        for slice in 0..10 {
            let prefix = format!("key{slice}");
            let n = (KEYS / 10).to_string();
            assert_eq!(c.cmd(&["DEBUG", "POPULATE", &n, &prefix]), b"+OK\r\n");
        }
        c.cmd(&["RPUSH", "list", "a", "b", "c"]);
        c.cmd(&["HSET", "hash", "f", "v"]);
        c.cmd(&["SET", "ttl", "v", "EX", "100000"]);
        assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
        let digest = c.cmd(&["DEBUG", "DIGEST"]);
        let dir = scratch_dir("loading-src");
        let path = dir.join("big.rdb");
        std::fs::copy(src.dir.join("dump.rdb"), &path).expect("copy the dump");
        BigDump {
            path,
            keys: KEYS + 3,
            digest,
        }
    })
}

/// Starts ferredis on `dump` (copied into a fresh directory as dump.rdb) without waiting for it
/// to answer: the caller watches the load.
fn start_on(dump: &Path, extra: &[&str]) -> Server {
    for _attempt in 0..5 {
        let dir = scratch_dir("loading");
        std::fs::copy(dump, dir.join("dump.rdb")).expect("copy the dump");
        let port = free_port();
        let port_s = port.to_string();
        let mut cmd = Command::new(ferredis_bin());
        cmd.args(["--port", &port_s, "--bind", "127.0.0.1", "--save", ""]);
        cmd.args(["--daemonize", "no", "--enable-debug-command", "yes"]);
        cmd.args(["--dir", dir.to_str().expect("utf-8 path")]);
        cmd.args(["--logfile", "server.log"]);
        cmd.args(extra);
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn ferredis");
        let mut s = Server {
            kind: Kind::Ferredis,
            port,
            child: Some(child),
            log: dir.join("server.log"),
            dir,
        };
        // Wait until it listens (or died, e.g. on a port lost to another test).
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && s.alive() {
            if RawClient::try_connect(port).is_ok() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let log = s.log_text();
        if !log.contains("Address already in use") && !log.contains("address in use") {
            panic!("ferredis did not start listening; log:\n{log}");
        }
        s.kill();
    }
    panic!("could not start ferredis after 5 attempts");
}

fn info_lines(c: &mut RawClient) -> Vec<String> {
    c.cmd_str(&["INFO", "persistence"])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn field(lines: &[String], name: &str) -> Option<String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

#[test]
fn serves_loading_errors_and_progress_then_the_whole_dataset() {
    let dump = big_dump();
    let total = std::fs::metadata(&dump.path).expect("dump size").len();
    let mut s = start_on(&dump.path, &[]);
    let mut c = s.client();
    // The first command must find the load still running: the file takes seconds to load.
    let first = c.cmd(&["PING"]);
    assert_eq!(
        first,
        LOADING,
        "PING during the load: {}",
        String::from_utf8_lossy(&first)
    );
    assert_eq!(c.cmd(&["GET", "key:1"]), LOADING);
    assert_eq!(c.cmd(&["DBSIZE"]), LOADING);
    // Commands flagged `loading` still run.
    assert_eq!(c.cmd(&["ECHO", "hi"]), b"$2\r\nhi\r\n");
    // Inside MULTI the refusal dooms the transaction, as any rejected command does.
    assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]), LOADING);
    assert_eq!(c.cmd(&["DISCARD"]), b"+OK\r\n");

    let lines = info_lines(&mut c);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert_eq!(field(&lines, "loading").as_deref(), Some("1"));
    assert_eq!(field(&lines, "async_loading").as_deref(), Some("0"));
    // The progress fields close the section, in Redis's order.
    let names: Vec<&str> = lines[lines.len() - 6..]
        .iter()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "loading_start_time",
            "loading_total_bytes",
            "loading_rdb_used_mem",
            "loading_loaded_bytes",
            "loading_loaded_perc",
            "loading_eta_seconds"
        ]
    );
    let num = |n: &str| -> f64 {
        field(&lines, n)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{n} missing or not a number: {lines:?}"))
    };
    assert!((num("loading_start_time") as i64 - now).abs() <= 60);
    assert_eq!(num("loading_total_bytes") as u64, total);
    let loaded = num("loading_loaded_bytes") as u64;
    assert!(loaded <= total);
    let perc = num("loading_loaded_perc");
    assert!((0.0..=100.0).contains(&perc), "perc {perc}");
    assert!(num("loading_eta_seconds") >= 0.0);
    num("loading_rdb_used_mem");
    // The key counts run up with the load.
    let keys_so_far = num("rdb_last_load_keys_loaded") as u64;
    assert!(keys_so_far <= dump.keys);
    assert_eq!(num("rdb_last_load_keys_expired"), 0.0);

    // Progress moves on, then the dataset appears whole.
    wait_for("the load to finish", Duration::from_secs(300), || {
        c.cmd(&["PING"]) == b"+PONG\r\n"
    });
    assert_eq!(c.cmd(&["DBSIZE"]), format!(":{}\r\n", dump.keys).as_bytes());
    c.set_timeout(Duration::from_secs(300));
    assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), dump.digest);
    assert_eq!(c.cmd(&["LRANGE", "list", "0", "-1"]).len(), 25);
    let lines = info_lines(&mut c);
    assert_eq!(field(&lines, "loading").as_deref(), Some("0"));
    assert!(field(&lines, "loading_total_bytes").is_none());
    assert_eq!(
        field(&lines, "rdb_last_load_keys_loaded"),
        Some(dump.keys.to_string())
    );
    let log = s.log_text();
    for want in [
        "Loading RDB produced by version 7.0.15",
        "RDB age ",
        "RDB memory usage when created ",
        &format!(
            "Done loading RDB, keys loaded: {}, keys expired: 0.",
            dump.keys
        ),
        "DB loaded from disk: ",
    ] {
        assert!(log.contains(want), "log lacks {want:?}:\n{log}");
    }
    s.kill();
}

#[test]
fn corrupt_dump_exits_1_after_serving_loading_errors() {
    let dump = big_dump();
    // Cut the file short near its end: the decoder fails only after most of the data.
    let data = std::fs::read(&dump.path).expect("read dump");
    let dir = scratch_dir("loading-corrupt-src");
    let cut = dir.join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() * 9 / 10]).expect("write cut dump");
    let mut s = start_on(&cut, &[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "key:1"]), LOADING);
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(child) = s.child.as_mut() {
            if let Ok(Some(st)) = child.try_wait() {
                break st;
            }
        }
        assert!(Instant::now() < deadline, "ferredis did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let log = s.log_text();
    assert!(log.contains("Fatal error loading the DB"), "log:\n{log}");
    assert!(!log.contains("Ready to accept connections"), "log:\n{log}");
    // The file is left as it was.
    assert_eq!(
        std::fs::read(s.dir.join("dump.rdb"))
            .expect("dump kept")
            .len(),
        data.len() * 9 / 10
    );
}

#[test]
fn shutdown_during_the_load_never_saves() {
    let dump = big_dump();
    let before = std::fs::read(&dump.path).expect("read dump");
    // Save points would make a normal shutdown save: during the load it must not.
    let mut s = start_on(&dump.path, &["--save", "3600 1"]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "key:1"]), LOADING);
    let status = s.terminate(Duration::from_secs(60)).expect("exit status");
    assert_eq!(status.code(), Some(0));
    let after = std::fs::read(s.dir.join("dump.rdb")).expect("dump kept");
    assert!(after == before, "the dump file changed");
}
