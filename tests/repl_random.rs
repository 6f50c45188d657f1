//! A randomized consistency test of ferredis replication: a master and two replicas (one chained
//! under the other), each replica reaching its master through a fault proxy; random writes of every
//! type with TTLs from several clients, random link cuts, stalls and delays, random kill -9 restarts
//! of replicas (with their dump or empty), random promotions (REPLICAOF NO ONE on a replica, the
//! other nodes re-pointed at it). At the end every node has the same `DEBUG DIGEST`, and no
//! acknowledged write is lost.
//!
//! "Acknowledged": a marker write counts once every replica's `master_repl_offset` reached the
//! master's offset read right after the write. WAIT would count only the master's direct replicas,
//! and a random promotion may pick the chained one, so the test asks every node itself.
//!
//! Runs about 40 s of actions by default; `FERREDIS_RANDOM_SECS` runs longer, `FERREDIS_SEED`
//! replays a printed seed. Actions happen at positions of the write load, not after sleeps.

mod common;
mod repl_util;
use common::proxy::Proxy;
use common::*;
use repl_util::*;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// One node and the proxy through which it reaches its master (idle while it is the master).
struct Node {
    server: Server,
    proxy: Proxy,
}

/// The topology: `order[0]` is the master, `order[1]` its replica, `order[2]` chained under
/// `order[1]`.
struct Topo {
    nodes: Vec<Node>,
    order: [usize; 3],
}

impl Topo {
    fn master_port(&self) -> u16 {
        self.nodes[self.order[0]].server.port
    }

    /// (master port, replica port) of every link.
    fn links(&self) -> Vec<(u16, u16)> {
        let p = |i: usize| self.nodes[self.order[i]].server.port;
        vec![(p(0), p(1)), (p(1), p(2))]
    }

    /// Points `order[1]` at `order[0]` and `order[2]` at `order[1]`, through their proxies.
    fn wire(&mut self) {
        for (up, down) in [(0, 1), (1, 2)] {
            let target = self.nodes[self.order[up]].server.port;
            let n = &self.nodes[self.order[down]];
            n.proxy.retarget(target);
            replicaof(&mut n.server.client(), n.proxy.port);
            // A node already following this proxy keeps its link: cut it so that it reconnects
            // to the new target.
            n.proxy.cut();
        }
    }

    fn heal(&self) {
        for n in &self.nodes {
            n.proxy.stall(false);
            n.proxy.set_delay(Duration::ZERO);
            n.proxy.refuse(false);
        }
    }
}

/// The master's `master_repl_offset`, and whether every replica reaches it within a short
/// deadline (a write before it is then acknowledged by all).
fn acknowledged(topo: &Topo) -> bool {
    let mut m = RawClient::connect(topo.master_port());
    let want: u64 = info(&mut m, "master_repl_offset")
        .parse()
        .unwrap_or(u64::MAX);
    let deadline = Instant::now() + Duration::from_secs(5);
    for &(_, r) in &topo.links() {
        let mut c = RawClient::connect(r);
        loop {
            let got: u64 = info(&mut c, "master_repl_offset").parse().unwrap_or(0);
            if got >= want && info(&mut c, "master_link_status") == "up" {
                break;
            }
            if Instant::now() > deadline {
                println!(
                    "not acknowledged: {r} at {got} ({}), master at {want}",
                    info(&mut c, "master_link_status")
                );
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    true
}

#[test]
fn random_faults_restarts_and_promotions_keep_replicas_consistent() {
    let seed = seed();
    let secs: u64 = std::env::var("FERREDIS_RANDOM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    println!("seed {seed} (FERREDIS_SEED={seed} replays it), {secs} s of actions");
    let mut rng = StdRng::seed_from_u64(seed);
    let nodes: Vec<Node> = (0..3)
        .map(|_| {
            // No wait before a diskless full sync: more rounds of faults per second of test.
            let server = fer(&["--repl-diskless-sync-delay", "0"]);
            let proxy = Proxy::start(server.port);
            Node { server, proxy }
        })
        .collect();
    let mut topo = Topo {
        nodes,
        order: [0, 1, 2],
    };
    topo.wire();
    let mut load = Some(Load::start(topo.master_port(), 3, seed));
    let mut acked: Vec<u64> = Vec::new();
    let mut marker = 0u64;
    let (mut cuts, mut restarts, mut promotions) = (0, 0, 0);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let l = load.as_ref().expect("load running");
        l.advance(rng.gen_range(100..800));
        let replica = topo.order[rng.gen_range(1..3)];
        match rng.gen_range(0..12) {
            0..=2 => {
                topo.nodes[replica].proxy.cut();
                cuts += 1;
            }
            3 => {
                let p = &topo.nodes[replica].proxy;
                p.stall(true);
                l.advance(rng.gen_range(100..500));
                p.stall(false);
            }
            4 => {
                let p = &topo.nodes[replica].proxy;
                p.set_delay(Duration::from_millis(rng.gen_range(1..6)));
                l.advance(rng.gen_range(100..400));
                p.set_delay(Duration::ZERO);
            }
            5 | 6 => {
                // kill -9 of a replica, back on its port with its dump (saved just before, so
                // it can continue) or with an empty directory.
                let keep_dump = rng.gen_bool(0.5);
                let n = &mut topo.nodes[replica];
                if keep_dump {
                    // SAVE may be refused (a full sync is loading): the restart then uses the
                    // dump that is there, if any.
                    let r = n.server.client().cmd(&["SAVE"]);
                    if r != b"+OK\r\n" {
                        println!(
                            "SAVE before a restart: {}",
                            String::from_utf8_lossy(&r).trim()
                        );
                    }
                }
                let port = n.server.port;
                let dir = if keep_dump {
                    n.server.dir.clone()
                } else {
                    scratch_dir("random-restart")
                };
                n.server.kill();
                let pp = n.proxy.port.to_string();
                n.server = restart_on(
                    port,
                    &dir,
                    &[
                        "--replicaof",
                        "127.0.0.1",
                        &pp,
                        "--repl-diskless-sync-delay",
                        "0",
                    ],
                );
                restarts += 1;
            }
            7 => {
                // A promotion, as an operator does it: writes stop, the replicas catch up, one
                // becomes the master and the others follow it.
                load.take().expect("load running").finish();
                topo.heal();
                assert_converged(topo.master_port(), &topo.links());
                let old = topo.order;
                let others: Vec<usize> = old.iter().copied().filter(|&i| i != replica).collect();
                let (a, b) = if rng.gen_bool(0.5) {
                    (others[0], others[1])
                } else {
                    (others[1], others[0])
                };
                let r = topo.nodes[replica]
                    .server
                    .client()
                    .cmd(&["REPLICAOF", "NO", "ONE"]);
                assert_eq!(r, b"+OK\r\n");
                topo.order = [replica, a, b];
                topo.wire();
                load = Some(Load::start(topo.master_port(), 3, rng.gen()));
                promotions += 1;
            }
            _ => {
                // A marker write, kept if every replica acknowledged it.
                marker += 1;
                let k = format!("ack:{marker}");
                let mut m = RawClient::connect(topo.master_port());
                assert_eq!(m.cmd(&["SET", &k, &marker.to_string()]), b"+OK\r\n");
                if acknowledged(&topo) {
                    acked.push(marker);
                }
            }
        }
    }
    if let Some(l) = load.take() {
        l.finish();
    }
    topo.heal();
    assert_converged(topo.master_port(), &topo.links());
    println!(
        "{cuts} cuts, {restarts} restarts, {promotions} promotions, {} of {marker} markers acknowledged",
        acked.len()
    );
    for n in &topo.nodes {
        let mut c = n.server.client();
        for &a in &acked {
            let got = c.cmd(&["GET", &format!("ack:{a}")]);
            let want = format!("${}\r\n{a}\r\n", a.to_string().len());
            assert_eq!(
                got,
                want.as_bytes(),
                "acknowledged write ack:{a} lost on port {}",
                n.server.port
            );
        }
    }
}
