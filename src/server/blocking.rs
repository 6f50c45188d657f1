//! Blocked clients: the registry of clients waiting in BLPOP, BZPOPMIN and friends, and the wait
//! a blocked connection does.
//!
//! # Design
//! - A blocking command that finds nothing to pop registers its client here ([`Registry::block`],
//!   under the core lock) and in the keyspace's key index (`db::blocking`), and leaves a
//!   [`Waiter`] in its [`Client`]. The connection sees it right after dispatch, stops running the
//!   batch (later pipelined commands wait, as in Redis), releases the lock and awaits [`wait`].
//! - Writes signal keys with waiters as ready (one branch when nobody is blocked). When the
//!   outermost command ends, dispatch serves the ready keys (`cmd::blocking::handle_ready`) in the
//!   same lock hold, so nothing runs in between and replication sees the pops right after the
//!   write, in execution order. Serving takes the client out of the registry and sends its reply
//!   through the one-shot channel of its [`Waiter`]; the connection appends it to its output.
//! - Timeout, CLIENT UNBLOCK, CLIENT KILL and disconnection all take the registration out under
//!   the core lock too; whoever takes it answers, so a client is answered exactly once.

use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::client::{Client, ClientHandle};
use super::connection::{ClientStream, READ_CHUNK};
use super::Server;
use crate::db::blocking::BlockingKeys;
use crate::resp::{Proto, Reply};

/// What a blocked client waits to do once one of its keys is ready.
#[derive(Debug, Clone)]
pub enum BlockOp {
    /// BLPOP (`left`) / BRPOP: one element.
    Pop { left: bool },
    /// BLMOVE / BRPOPLPUSH: pop from the key, push onto `dst`. `from`/`to` are the client's own
    /// LEFT/RIGHT arguments (propagated as given); `rpoplpush` marks BRPOPLPUSH.
    Move {
        dst: Bytes,
        from_left: bool,
        to_left: bool,
        from: Bytes,
        to: Bytes,
        rpoplpush: bool,
    },
    /// BLMPOP: up to `count` elements from one end.
    MPop { left: bool, count: usize },
    /// BZPOPMIN / BZPOPMAX (`max`): one member.
    ZPop { max: bool },
    /// BZMPOP: up to `count` members.
    ZMPop { max: bool, count: usize },
    /// WAIT: no keys; woken when `numreplicas` replicas acknowledged `offset` (see
    /// `replication::failover::wake_waiting_acks`).
    Wait { offset: u64, numreplicas: i64 },
    /// SHUTDOWN waiting for lagging replicas: answered only if the shutdown fails or is aborted.
    Shutdown,
}

impl BlockOp {
    /// Whether a list (true) or a sorted set (false) serves it.
    pub fn wants_list(&self) -> bool {
        matches!(
            self,
            BlockOp::Pop { .. } | BlockOp::Move { .. } | BlockOp::MPop { .. }
        )
    }
}

/// One blocked client, as the server sees it.
pub struct Blocked {
    pub db: usize,
    /// The keys it waits on, without repeats, in the command's order.
    pub keys: Vec<Bytes>,
    pub op: BlockOp,
    /// The protocol its reply is encoded in.
    pub proto: Proto,
    /// Whether it has a timeout (INFO `clients_in_timeout_table`).
    pub timed: bool,
    /// Its shared half: CLIENT LIST shows `flags=b` until it is woken.
    pub handle: Arc<ClientHandle>,
    tx: oneshot::Sender<Woken>,
}

impl Blocked {
    /// Sends the client its reply (it is no longer registered).
    pub fn wake(self, reply: Bytes) {
        let _ = self.tx.send(Woken {
            reply,
            close: false,
        });
    }

    /// Sends the client its reply, after which its connection closes.
    pub fn wake_and_close(self, reply: Bytes) {
        let _ = self.tx.send(Woken { reply, close: true });
    }
}

/// What a blocked connection is woken with.
#[derive(Debug)]
pub struct Woken {
    pub reply: Bytes,
    /// The connection closes once the reply is written (Redis's close-after-reply).
    pub close: bool,
}

impl Woken {
    fn reply(reply: Bytes) -> Woken {
        Woken {
            reply,
            close: false,
        }
    }
}

/// What the blocked connection waits on: its reply, or its deadline.
pub struct Waiter {
    rx: oneshot::Receiver<Woken>,
    deadline: Option<Instant>,
}

impl Waiter {
    /// The reply, if the client was already answered (no waiting).
    pub fn try_reply(&mut self) -> Option<Bytes> {
        self.rx.try_recv().ok().map(|w| w.reply)
    }
}

/// Blocked clients by id (under the core lock).
#[derive(Default)]
pub struct Registry {
    clients: HashMap<u64, Blocked>,
    timed: usize,
    /// How many of them are in WAIT (so an ACK costs one branch when nobody waits).
    pub waiting_acks: usize,
}

impl Registry {
    /// Number of clients blocked on keys.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Number of blocked clients with a timeout.
    pub fn timed(&self) -> usize {
        self.timed
    }

    pub fn get(&self, id: u64) -> Option<&Blocked> {
        self.clients.get(&id)
    }

    /// Blocks `client` on `keys` of `db` (already deduplicated); returns what its connection waits on.
    /// `timeout_ms` None waits forever.
    #[allow(clippy::too_many_arguments)]
    pub fn block(
        &mut self,
        index: &mut BlockingKeys,
        client: &Client,
        db: usize,
        keys: Vec<Bytes>,
        op: BlockOp,
        timeout_ms: Option<u64>,
    ) -> Waiter {
        let (tx, rx) = oneshot::channel();
        // A deadline beyond what the clock can express is as good as none.
        let deadline = timeout_ms
            .and_then(|ms| Instant::now().checked_add(std::time::Duration::from_millis(ms)));
        for k in &keys {
            index.add(db, k, client.id);
        }
        let timed = timeout_ms.is_some();
        if timed {
            self.timed += 1;
        }
        if matches!(op, BlockOp::Wait { .. }) {
            self.waiting_acks += 1;
        }
        self.clients.insert(
            client.id,
            Blocked {
                db,
                keys,
                op,
                proto: client.proto,
                timed,
                handle: client.handle.clone(),
                tx,
            },
        );
        Waiter { rx, deadline }
    }

    /// Takes a client out of the registry and of the key index (it is served, timed out,
    /// unblocked or gone). CLIENT LIST stops showing it as blocked at once.
    pub fn take(&mut self, index: &mut BlockingKeys, id: u64) -> Option<Blocked> {
        let b = self.clients.remove(&id)?;
        for k in &b.keys {
            index.remove(b.db, k, id);
        }
        if b.timed {
            self.timed -= 1;
        }
        if matches!(b.op, BlockOp::Wait { .. }) {
            self.waiting_acks -= 1;
        }
        b.handle.meta.lock().blocked = false;
        Some(b)
    }

    /// The ids of every blocked client.
    pub fn ids(&self) -> Vec<u64> {
        self.clients.keys().copied().collect()
    }

    /// The ids of the clients blocked in SHUTDOWN.
    pub fn shutdown_waiters(&self) -> Vec<u64> {
        self.clients
            .iter()
            .filter(|(_, b)| matches!(b.op, BlockOp::Shutdown))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The ids of the clients in WAIT, with their target offset and replica count.
    pub fn waiting_acks(&self) -> Vec<(u64, u64, i64)> {
        self.clients
            .iter()
            .filter_map(|(id, b)| match b.op {
                BlockOp::Wait {
                    offset,
                    numreplicas,
                } => Some((*id, offset, numreplicas)),
                _ => None,
            })
            .collect()
    }
}

/// The reply of a blocked client whose time is up (or that CLIENT UNBLOCK released): the null
/// array, or for WAIT the number of replicas that acknowledged its offset.
pub fn timed_out_reply(b: &Blocked, repl: &crate::replication::ReplState) -> Bytes {
    match b.op {
        BlockOp::Wait { offset, .. } => {
            let mut buf = BytesMut::new();
            Reply::new(&mut buf, b.proto).int(repl.count_acks(offset) as i64);
            buf.freeze()
        }
        BlockOp::Shutdown => {
            let mut buf = BytesMut::new();
            Reply::new(&mut buf, b.proto).error(crate::replication::failover::SHUTDOWN_ERR);
            buf.freeze()
        }
        _ => timeout_reply(b.proto),
    }
}

/// The reply of a blocking command that timed out: the null array of the client's protocol.
pub fn timeout_reply(proto: Proto) -> Bytes {
    let mut buf = BytesMut::new();
    Reply::new(&mut buf, proto).null_array();
    buf.freeze()
}

/// The error a client unblocked with CLIENT UNBLOCK ... ERROR receives.
pub const UNBLOCKED_ERR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// CLIENT UNBLOCK: answers a blocked client as if it timed out, or with the UNBLOCKED error.
/// Returns whether `id` was blocked. Called under the core lock.
pub fn unblock(core: &mut super::Core, id: u64, error: bool) -> bool {
    let Some(b) = core.blocking.take(&mut core.ks.blocking, id) else {
        return false;
    };
    let reply = if error {
        core.stats.count_error("UNBLOCKED");
        let mut buf = BytesMut::new();
        Reply::new(&mut buf, b.proto).error(UNBLOCKED_ERR);
        buf.freeze()
    } else {
        timed_out_reply(&b, &core.repl)
    };
    b.wake(reply);
    true
}

/// What every blocked client receives when the server turns into a replica.
pub const ROLE_CHANGE_ERR: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// The server is turning into a replica (REPLICAOF, a FAILOVER's demotion): every blocked client
/// (BLPOP and friends, WAIT, SHUTDOWN) gets the UNBLOCKED error and its connection closes after
/// it, as in Redis. Clients held back by CLIENT PAUSE are not blocked here: their command runs
/// (or is refused) from scratch once the pause ends. Called under the core lock.
pub fn disconnect_all_blocked(core: &mut super::Core) {
    if core.blocking.is_empty() {
        return;
    }
    for id in core.blocking.ids() {
        let Some(b) = core.blocking.take(&mut core.ks.blocking, id) else {
            continue;
        };
        core.stats.count_error("UNBLOCKED");
        let mut buf = BytesMut::new();
        Reply::new(&mut buf, b.proto).error(ROLE_CHANGE_ERR);
        b.wake_and_close(buf.freeze());
    }
}

/// Forgets a blocked client whose connection is closing.
fn forget(srv: &Server, id: u64) {
    let mut core = srv.core.lock();
    let core = &mut *core;
    core.blocking.take(&mut core.ks.blocking, id);
}

/// Waits, without the core lock, until the blocked client gets its reply (served, timed out or
/// unblocked), and returns it (with whether the connection closes after it). Meanwhile the socket is still read (into `rbuf`, up to
/// `qbuf_limit` bytes), so pipelined commands queue and a disconnection is noticed. Returns None
/// when the connection must close (the client went away or was killed); its registration is
/// then gone.
pub async fn wait<S: ClientStream, F: Future<Output = ()>>(
    srv: &Server,
    client: &Client,
    w: Waiter,
    stream: &mut S,
    rbuf: &mut BytesMut,
    qbuf_limit: u64,
    mut stop: Pin<&mut F>,
) -> Option<Woken> {
    let Waiter { mut rx, deadline } = w;
    let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
    tokio::pin!(sleep);
    let mut reading = true;
    loop {
        tokio::select! {
            biased;
            r = &mut rx => return Some(r.unwrap_or_else(|_| Woken::reply(timeout_reply(client.proto)))),
            _ = stop.as_mut() => {
                forget(srv, client.id);
                return None;
            }
            _ = &mut sleep, if deadline.is_some() => {
                let timed_out = {
                    let mut core = srv.core.lock();
                    let core = &mut *core;
                    core.blocking
                        .take(&mut core.ks.blocking, client.id)
                        .map(|b| timed_out_reply(&b, &core.repl))
                };
                if let Some(reply) = timed_out {
                    return Some(Woken::reply(reply));
                }
                // Served (or unblocked) just before the deadline: the reply is in the channel.
                return Some(rx.await.unwrap_or_else(|_| Woken::reply(timeout_reply(client.proto))));
            }
            r = stream.wait_readable(), if reading => {
                if r.is_err() {
                    forget(srv, client.id);
                    return None;
                }
                if rbuf.capacity() - rbuf.len() < READ_CHUNK {
                    rbuf.reserve(READ_CHUNK);
                }
                match stream.try_read_into(rbuf) {
                    Ok(0) => {
                        forget(srv, client.id);
                        return None;
                    }
                    Ok(n) => {
                        srv.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        srv.stats.total_reads_processed.fetch_add(1, Ordering::Relaxed);
                        client.handle.net_in.fetch_add(n as u64, Ordering::Relaxed);
                        // Past the query buffer limit: stop reading until the client is woken.
                        if rbuf.len() as u64 > qbuf_limit {
                            reading = false;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        forget(srv, client.id);
                        return None;
                    }
                }
            }
        }
    }
}
