//! Helpers shared by the replication fault tests (`repl_faults`, `repl_random`, `readme`): ferredis
//! nodes started and restarted on their port, a multi-client write load of every type whose
//! progress positions the faults, and the convergence check (links up, offsets equal, digests
//! equal).

#![allow(dead_code)]

use crate::common::*;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const LONG: Duration = Duration::from_secs(90);

pub fn fer(args: &[&str]) -> Server {
    Server::start(
        Kind::Ferredis,
        &[&["--enable-debug-command", "yes"], args].concat(),
    )
}

/// Starts ferredis again on `port` with its old directory (a process coming back where it was).
pub fn restart_on(port: u16, dir: &Path, args: &[&str]) -> Server {
    let port_s = port.to_string();
    let child = std::process::Command::new(ferredis_bin())
        .args(["--port", &port_s, "--bind", "127.0.0.1", "--save", ""])
        .args(["--daemonize", "no", "--enable-debug-command", "yes"])
        .args([
            "--dir",
            dir.to_str().expect("utf-8"),
            "--logfile",
            "server.log",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferredis");
    let pid = child.id();
    let s = Server {
        kind: Kind::Ferredis,
        port,
        child: Some(child),
        dir: dir.to_path_buf(),
        log: dir.join("server.log"),
    };
    wait_for("restarted node answers", LONG, || {
        RawClient::try_connect(port)
            .map(|mut c| {
                let text = parse_bulk(&c.cmd(&["INFO", "server"])).unwrap_or_default();
                text.lines()
                    .any(|l| l.trim() == format!("process_id:{pid}"))
            })
            .unwrap_or(false)
    });
    s
}

pub fn info(c: &mut RawClient, field: &str) -> String {
    c.info_field("replication", field).unwrap_or_default()
}

pub fn stat(c: &mut RawClient, field: &str) -> u64 {
    c.info_field("stats", field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn digest(c: &mut RawClient) -> String {
    c.digest()
}

/// Waits until each replica's link is up and its offset equals its master's, then compares digests
/// of every node with the top master's.
pub fn assert_converged(top: u16, links: &[(u16, u16)]) {
    for &(master, replica) in links {
        let mut m = RawClient::connect(master);
        let mut r = RawClient::connect(replica);
        wait_for(
            &format!("replica {replica} caught up with {master}"),
            LONG,
            || {
                let want = info(&mut m, "master_repl_offset");
                info(&mut r, "master_link_status") == "up"
                    && info(&mut r, "slave_repl_offset") == want
                    && info(&mut r, "master_repl_offset") == want
            },
        );
    }
    let want = digest(&mut RawClient::connect(top));
    for &(_, replica) in links {
        let got = digest(&mut RawClient::connect(replica));
        if got != want {
            let diffs = key_differences(top, replica);
            panic!("DEBUG DIGEST of {replica} differs from the master's {top}; first differences: {diffs:#?}");
        }
    }
}

/// The first keys (of databases 0-3) whose value digest or TTL differ between two nodes, to
/// explain a digest mismatch.
pub fn key_differences(a: u16, b: u16) -> Vec<String> {
    let mut out = Vec::new();
    let (mut ca, mut cb) = (RawClient::connect(a), RawClient::connect(b));
    for db in 0..4 {
        let db = db.to_string();
        ca.cmd(&["SELECT", &db]);
        cb.cmd(&["SELECT", &db]);
        let mut keys: Vec<Vec<u8>> = sort_flat_array(&ca.cmd(&["KEYS", "*"]));
        keys.extend(sort_flat_array(&cb.cmd(&["KEYS", "*"])));
        keys.sort();
        keys.dedup();
        for k in keys {
            // Elements come framed (`$n\r\n...\r\n`).
            let Some(start) = k.iter().position(|&b| b == b'\n') else {
                continue;
            };
            let k = String::from_utf8_lossy(&k[start + 1..k.len().saturating_sub(2)]).into_owned();
            let look = |c: &mut RawClient| {
                (
                    String::from_utf8_lossy(&c.cmd(&["DEBUG", "DIGEST-VALUE", &k])).into_owned(),
                    String::from_utf8_lossy(&c.cmd(&["PEXPIRETIME", &k])).into_owned(),
                    String::from_utf8_lossy(&c.cmd(&["TYPE", &k])).into_owned(),
                )
            };
            let (va, vb) = (look(&mut ca), look(&mut cb));
            if va != vb && out.len() < 8 {
                out.push(format!("db{db} {k}: {va:?} vs {vb:?}"));
                if va.2.contains("zset") {
                    let range = |c: &mut RawClient| {
                        sort_flat_array(&c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]))
                    };
                    let (ra, rb) = (range(&mut ca), range(&mut cb));
                    let only_a: Vec<String> = ra
                        .iter()
                        .filter(|e| !rb.contains(e))
                        .map(|e| String::from_utf8_lossy(e).into_owned())
                        .collect();
                    let only_b: Vec<String> = rb
                        .iter()
                        .filter(|e| !ra.contains(e))
                        .map(|e| String::from_utf8_lossy(e).into_owned())
                        .collect();
                    out.push(format!(
                        "  only on {a}: {only_a:?}; only on {b}: {only_b:?}"
                    ));
                }
            }
        }
    }
    out
}

/// One random write of any type, most with TTLs far away (so no key expires between the offset
/// check and the digest), some deleting at once (EXPIREAT in the past), some switching database.
pub fn random_op(rng: &mut StdRng, tag: usize) -> Vec<String> {
    let k = format!(
        "{}:{}",
        ["s", "l", "h", "t", "z"][rng.gen_range(0..5)],
        rng.gen_range(0..60)
    );
    let v = format!("v{tag}-{}", rng.gen_range(0..10_000));
    let ttl = rng.gen_range(1000..100_000).to_string();
    let n = rng.gen_range(1..50).to_string();
    let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match rng.gen_range(0..22) {
        0 => s(&["SET", &k, &v]),
        1 => s(&["SET", &k, &v, "EX", &ttl]),
        2 => s(&["INCRBY", &format!("n{tag}"), &n]),
        3 => s(&["APPEND", &format!("a{tag}"), &v]),
        4 => s(&["RPUSH", "list", &v, &n]),
        5 => s(&["LPOP", "list"]),
        6 => s(&["HSET", "hash", &n, &v]),
        7 => s(&["HINCRBYFLOAT", "hash:f", &n, "0.5"]),
        8 => s(&["SADD", "set", &v, &n]),
        9 => s(&["SPOP", "set"]),
        10 => s(&["ZADD", "zset", &n, &v]),
        11 => s(&["ZINCRBY", "zset", "1.5", &n]),
        12 => s(&["EXPIRE", &k, &ttl]),
        13 => s(&["PEXPIREAT", &k, "1"]),
        14 => s(&["PERSIST", &k]),
        15 => s(&["DEL", &k]),
        16 => s(&["SELECT", &rng.gen_range(0..3).to_string()]),
        17 => s(&["INCRBYFLOAT", "float", "1.25"]),
        18 => s(&["SETEX", &k, &ttl, &v]),
        19 => s(&["HSET", &format!("h:{n}"), "f", &v]),
        20 => s(&["ZREM", "zset", &n]),
        _ => s(&["LMOVE", "list", "list2", "LEFT", "RIGHT"]),
    }
}

/// A write load from several clients on `port`; `ops` counts commands done, so the test can pick
/// fault positions in the load.
pub struct Load {
    pub stop: Arc<AtomicBool>,
    pub ops: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16, clients: usize, seed: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let threads = (0..clients)
            .map(|i| {
                let (stop, ops) = (Arc::clone(&stop), Arc::clone(&ops));
                std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
                    let mut c = RawClient::connect(port);
                    while !stop.load(Ordering::SeqCst) {
                        // A pipelined batch: fast enough to fill buffers on a loaded machine.
                        let mut out = Vec::new();
                        let batch = 20;
                        for _ in 0..batch {
                            let cmd = random_op(&mut rng, i);
                            let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
                            out.extend(RawClient::encode(&a));
                        }
                        c.send_raw(&out);
                        for _ in 0..batch {
                            c.read_reply();
                        }
                        ops.fetch_add(batch, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Load { stop, ops, threads }
    }

    pub fn done(&self) -> u64 {
        self.ops.load(Ordering::SeqCst)
    }

    /// Waits until `n` more ops are done.
    pub fn advance(&self, n: u64) {
        let target = self.done() + n;
        wait_for("the write load advances", LONG, || self.done() >= target);
    }

    pub fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("load thread");
        }
    }
}

pub fn seed() -> u64 {
    std::env::var("FERREDIS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen())
}

pub fn replicaof(c: &mut RawClient, port: u16) {
    let r = c.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]);
    assert!(r.starts_with(b"+OK"), "{}", String::from_utf8_lossy(&r));
}
