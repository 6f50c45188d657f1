//! The replica side of replication: the link to our master as INFO and ROLE show it
//! ([`LinkInfo`]), and the task that runs it ([`run_link`]).
//!
//! # Design
//! One task per link owns the connection to the master and walks Redis's states in one loop:
//! connect → connecting → handshake (PING, AUTH, REPLCONF, PSYNC) → sync (the RDB snapshot, to a
//! temp file in `dir` or into memory) → connected (streaming). What other tasks see (INFO, ROLE,
//! the dispatch checks) is the [`LinkInfo`] in `ReplState::link`, under the core lock. The task
//! changes it only under that lock and only while it still owns the link (its `generation` is the
//! current one), so REPLICAOF can replace or end a link at any moment without racing its task: the
//! command does the state change itself (as Redis does, synchronously) and cancels the task.
//!
//! The master's stream is applied through the normal dispatch by a client of kind Master: replies
//! are dropped (REPLCONF GETACK is answered with `REPLCONF ACK <offset>`), the offset grows by the
//! bytes of each command once it is complete (a MULTI block counts at its EXEC, so the offset never
//! points inside a transaction), and the same bytes go to our own backlog unchanged
//! ([`super::ReplState::feed_raw`]) so sub-replicas see the master's exact stream. A replica never
//! propagates anything of its own.
//!
//! When a streaming link drops, the master's identity (replid, offset, selected db) is cached so
//! the next PSYNC can continue where the stream stopped; a master that becomes a replica
//! synthesizes that identity from its own, so it may continue partially from a promoted replica
//! (PSYNC2). A full sync loads the snapshot into a fresh keyspace off the lock while the old data
//! keeps serving, and swaps it in only once it loaded completely: a cut or corrupt transfer keeps
//! the old dataset.

use bytes::{Bytes, BytesMut};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cmd::{self, CommandSpec, Ctx};
use crate::resp::{ParseLimits, Proto, Reply, RequestParser};
use crate::server::client::{Client, ClientHandle, ClientKind};
use crate::server::{Core, Server};

/// Where the link to the master is (ROLE's state names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Must connect (`connect`): after an error, until the next once-a-second attempt.
    Connect,
    /// The TCP connection is being made (`connecting`).
    Connecting,
    /// PING / AUTH / REPLCONF / PSYNC exchange (`handshake`).
    Handshake,
    /// Receiving the snapshot (`sync`).
    Transfer,
    /// Streaming (`connected`).
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The identity of the stream we last applied, kept while the link is down so the next PSYNC can
/// ask to continue it (Redis's cached master).
#[derive(Debug, Clone)]
pub struct CachedMaster {
    pub replid: String,
    /// The offset applied so far: PSYNC asks for `reploff + 1`.
    pub reploff: u64,
    /// The database the stream had selected: a continued stream does not select it again.
    pub db: usize,
}

/// Stops a link task: set by REPLICAOF (and replaced links), seen by the task at its next await.
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    notify: Notify,
}

impl Cancel {
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once [`Cancel::cancel`] was called (also if it was before this call).
    pub async fn cancelled(&self) {
        loop {
            let n = self.notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            n.await;
        }
    }
}

/// Numbers the links, so a task can tell whether the link it runs is still the current one.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// The link to our master.
pub struct LinkInfo {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Unix ms of the last byte received from the master while streaming.
    pub last_io_ms: i64,
    /// Unix ms at which a streaming link went down; None if it never was up (INFO shows -1).
    pub down_since_ms: Option<i64>,
    /// While streaming: bytes of the stream received (`slave_read_repl_offset`) and applied
    /// (`slave_repl_offset`).
    pub read_reploff: u64,
    pub reploff: u64,
    /// During a transfer: the payload size (None until the bulk header arrived, 0 for the
    /// diskless `$EOF:` form, as Redis shows them), bytes read so far and the time of the last read.
    pub transfer_size: Option<u64>,
    pub transfer_read: u64,
    pub transfer_last_io_ms: i64,
    /// What the next PSYNC asks to continue, if anything.
    pub cached: Option<CachedMaster>,
    /// The database the master's stream has selected (cached when the link drops).
    pub stream_db: usize,
    /// Which run of the link task owns this link.
    pub generation: u64,
    pub cancel: Arc<Cancel>,
    /// The master's client while streaming (CLIENT LIST `flags=M`); killed when the link ends.
    pub master_client: Option<Arc<ClientHandle>>,
}

impl LinkInfo {
    pub fn new(host: String, port: u16) -> Self {
        LinkInfo {
            host,
            port,
            state: LinkState::Connect,
            last_io_ms: 0,
            down_since_ms: None,
            read_reploff: 0,
            reploff: 0,
            transfer_size: None,
            transfer_read: 0,
            transfer_last_io_ms: 0,
            cached: None,
            stream_db: 0,
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            cancel: Arc::new(Cancel::default()),
            master_client: None,
        }
    }

    /// `slave_read_repl_offset` and `slave_repl_offset` as INFO shows them: the live master's,
    /// else the cached master's, else 1.
    pub fn info_offsets(&self) -> (u64, u64) {
        if self.state == LinkState::Connected {
            (self.read_reploff, self.reploff)
        } else if let Some(c) = &self.cached {
            (c.reploff, c.reploff)
        } else {
            (1, 1)
        }
    }
}

/// The error for writes on a read-only replica.
pub const READONLY_ERR: &str = "READONLY You can't write against a read only replica.";
/// The error while the link is down and `replica-serve-stale-data` is `no`.
pub const MASTERDOWN_ERR: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

/// Whether commands without the `stale` flag must be refused now (a replica whose link is not up,
/// with `replica-serve-stale-data no`). Called only on a replica.
pub fn master_down(srv: &Server, core: &Core) -> bool {
    core.repl
        .link
        .as_ref()
        .is_some_and(|l| l.state != LinkState::Connected)
        && !srv.config.read().replica_serve_stale_data
}

/// Whether `spec` (or, for EXEC, one of the queued commands) lacks the `stale` flag.
pub fn denied_when_stale(client: &Client, spec: &CommandSpec) -> bool {
    use crate::cmd::flags::STALE;
    spec.flags & STALE == 0
        || (spec.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.cmds.iter().any(|(s, _)| s.flags & STALE == 0)))
}

/// Strips the ` (os error N)` tail Rust adds, leaving the C library's text as Redis logs it.
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Kills every replica attached to us: they must resync, our history changed.
fn disconnect_replicas(srv: &Server) {
    for h in crate::server::client::registered(srv) {
        if h.meta.lock().kind == ClientKind::Replica {
            crate::server::client::kill_client(srv, &h);
        }
    }
}

/// Takes the current link out, stops its task and closes its master client. A streaming link is
/// cached first, as Redis caches a master it loses. Returns the cached master and when the link
/// went down; None when we were not a replica.
fn drop_link(srv: &Server, core: &mut Core) -> Option<(Option<CachedMaster>, Option<i64>)> {
    let old = core.repl.link.take()?;
    old.cancel.cancel();
    if let Some(h) = &old.master_client {
        crate::server::client::kill_client(srv, h);
    }
    if old.state == LinkState::Connected {
        tracing::warn!("Connection with master lost.");
        tracing::info!("Caching the disconnected master state.");
        let cached = CachedMaster {
            replid: core.repl.replid.clone(),
            reploff: old.reploff,
            db: old.stream_db,
        };
        return Some((Some(cached), Some(crate::util::now_ms())));
    }
    Some((old.cached, old.down_since_ms))
}

/// REPLICAOF host port: follow a (new) master. Logs and starts connecting at once, as Redis
/// does; the transfer runs in the background.
pub fn set_master(srv: &Arc<Server>, core: &mut Core, host: String, port: u16) {
    crate::log::set_role(b'S');
    let dropped = drop_link(srv, core);
    // What blocked clients wait for may never come on a replica: they are all released with an
    // error and disconnected, on every change of master (FAILOVER's demotion included).
    crate::server::blocking::disconnect_all_blocked(core);
    let (cached, down_since) = match dropped {
        Some(x) => x,
        None => {
            tracing::info!("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
            let me = CachedMaster {
                replid: core.repl.replid.clone(),
                reploff: core.repl.offset(),
                db: 0,
            };
            (Some(me), None)
        }
    };
    let mut link = LinkInfo::new(host.clone(), port);
    link.cached = cached;
    link.down_since_ms = down_since;
    link.state = LinkState::Connecting;
    let (gen, cancel) = (link.generation, link.cancel.clone());
    core.repl.link = Some(link);
    core.ks.is_replica = true;
    core.set_propagation_active(false);
    srv.config.write().replicaof = Some((host.clone(), port));
    tracing::info!("Connecting to MASTER {}:{}", host, port);
    tracing::info!("MASTER <-> REPLICA sync started");
    tokio::spawn(run_link(srv.clone(), gen, cancel, true));
}

/// REPLICAOF NO ONE: stop following. The data stays; the replication id shifts (the old one stays
/// valid as `replid2` up to our offset, so our own replicas can continue partially) and the
/// backlog keeps serving.
pub fn unset_master(srv: &Server, core: &mut Core) {
    if core.repl.link.is_none() {
        return;
    }
    crate::log::set_role(b'M');
    let Some((cached, _)) = drop_link(srv, core) else {
        return;
    };
    if cached.is_some() {
        tracing::info!("Discarding previously cached master state.");
    }
    core.repl.shift_replid();
    tracing::warn!(
        "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
        core.repl.replid2,
        core.repl.second_replid_offset,
        core.repl.replid
    );
    disconnect_replicas(srv);
    // Our own first write must say which database it is for.
    core.repl.stream_db = None;
    core.ks.is_replica = false;
    let active = core.repl.backlog.is_some();
    core.set_propagation_active(active);
    srv.config.write().replicaof = None;
}

/// A `replicaof` directive (config file or `--replicaof`): we start as a replica, before the
/// dump file loads (a replica keeps keys already expired: its master will delete them).
pub fn init_from_config(srv: &Server) {
    let Some((host, port)) = srv.config.read().replicaof.clone() else {
        return;
    };
    let mut core = srv.core.lock();
    core.repl.link = Some(LinkInfo::new(host, port));
    core.ks.is_replica = true;
    core.set_propagation_active(false);
    crate::log::set_role(b'S');
}

/// After the start-up load: a dump that records a replication history (`repl-id`, `repl-offset`,
/// `repl-stream-db`, as a master's snapshot does) is continued. A replica takes it as its identity
/// and cached master, so the first PSYNC can continue where that snapshot was taken; a master keeps
/// it as `replid2` with a backlog starting at that offset, so its old replicas can continue.
pub fn restore_from_rdb(core: &mut Core, aux: &[(Bytes, Bytes)], backlog_size: u64) {
    let get = |name: &[u8]| aux.iter().find(|(k, _)| &k[..] == name).map(|(_, v)| v);
    let num = |name: &[u8]| get(name).and_then(|v| crate::util::parse_i64(v));
    let (Some(id), Some(offset), Some(db)) = (
        get(b"repl-id").filter(|v| v.len() == 40),
        num(b"repl-offset").filter(|o| *o >= 0),
        num(b"repl-stream-db").filter(|d| *d >= 0),
    ) else {
        return;
    };
    let id = String::from_utf8_lossy(id).into_owned();
    if core.repl.link.is_none() {
        core.repl.restore_as_master(id, offset as u64, backlog_size);
        core.repl.master.no_replicas_since_ms = crate::util::now_ms();
        core.set_propagation_active(true);
        return;
    }
    core.repl.replid = id.clone();
    core.repl.set_offset(offset as u64);
    tracing::info!("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
    let databases = core.ks.dbs.len();
    if let Some(l) = core.repl.link.as_mut() {
        l.cached = Some(CachedMaster {
            replid: id,
            reploff: offset as u64,
            db: (db as usize).min(databases.saturating_sub(1)),
        });
    }
}

/// Starts the link of a `replicaof` directive once the server accepts connections.
pub fn start_from_config(srv: &Arc<Server>) {
    let core = srv.core.lock();
    if let Some(l) = &core.repl.link {
        tokio::spawn(run_link(srv.clone(), l.generation, l.cancel.clone(), false));
    }
}

/// How one connection attempt ended.
enum Flow {
    /// The link was replaced or ended (REPLICAOF), or the server shuts down: leave at once.
    Stop,
    /// A connect or handshake error: back to `connect`, retried at the next once-a-second tick.
    Retry,
    /// A failed transfer or a timeout: reconnect at once ("... after failure").
    RetryNow,
    /// The streaming link dropped: reconnect at once and try to continue.
    Lost,
}

/// Why reading or writing the master's socket stopped.
enum IoErr {
    Stop,
    Timeout,
    Closed(String),
}

/// Bytes read per read call from the master.
const READ_CHUNK: usize = 64 * 1024;
/// The longest reply line accepted during the handshake.
const MAX_LINE: usize = 64 * 1024;

/// The socket to the master, split so ACKs can be written while reading.
struct Conn {
    rd: tokio::net::tcp::OwnedReadHalf,
    wr: tokio::net::tcp::OwnedWriteHalf,
    buf: BytesMut,
    peer: String,
    local: String,
    fd: i32,
}

impl Conn {
    /// One line, without its `\r\n` (or `\n`), if a whole one is buffered; with the bytes it took.
    fn take_line(&mut self) -> Option<(Bytes, usize)> {
        let nl = self.buf.iter().position(|&b| b == b'\n')?;
        let raw = self.buf.split_to(nl + 1);
        let mut line = &raw[..nl];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        Some((Bytes::copy_from_slice(line), nl + 1))
    }
}

/// Encodes a command as a RESP multibulk.
fn command(args: &[&[u8]]) -> BytesMut {
    let mut b = BytesMut::new();
    super::encode_command(&mut b, args.iter().copied());
    b
}

fn ack(offset: u64) -> BytesMut {
    let off = offset.to_string();
    command(&[b"REPLCONF", b"ACK", off.as_bytes()])
}

/// Where the transfer's payload goes: the loader thread, which decodes it as it arrives, and
/// without a diskless load the temp file in `dir` too (it becomes the dump file).
struct Sink {
    file: Option<(std::fs::File, std::path::PathBuf)>,
    tx: tokio::sync::mpsc::Sender<Piece>,
}

/// How the payload's end is found.
enum Mark {
    /// `$<size>`.
    Sized,
    /// `$EOF:<mark>`: the 40-byte mark follows the payload.
    Eof(Vec<u8>),
    /// `$MUX`: interleaved frames (see `receive_mux`).
    Mux,
}

/// What woke the wait for the loader.
enum Step<T> {
    Joined(T),
    Tick,
    Read(Option<usize>),
}

/// What the transfer hands the loader thread. The channel closing without [`Piece::Last`] means
/// the transfer failed: the loader drops what it built (on its own thread) and gives up.
enum Piece {
    Data(Bytes),
    /// The payload is complete; with the temp file to fsync and rename over the dump file first.
    Last(Option<(std::fs::File, std::path::PathBuf, std::path::PathBuf)>),
}

/// Received pieces the loader may lag behind by (reads of up to 64 kB: at most 64 MB). Past it a
/// slow decode holds up the reads instead of piling the payload up in memory; below it the master
/// is never held back by the decode (a queue of 128 made the 1M-key sync ~15% slower: the master
/// waited on the loader while both competed for the cores).
const LOADER_QUEUE: usize = 1024;

/// Removes a temp file left behind by a transfer that did not complete.
struct TempGuard(Option<std::path::PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Deregisters the master's client when the stream ends.
struct MasterClientReg {
    srv: Arc<Server>,
    id: u64,
}

impl Drop for MasterClientReg {
    fn drop(&mut self) {
        let mut clients = self.srv.clients.lock();
        clients.remove(&self.id);
        self.srv
            .stats
            .connected_clients
            .store(clients.len(), Ordering::Relaxed);
    }
}

/// The link task's context.
struct Link {
    srv: Arc<Server>,
    gen: u64,
    cancel: Arc<Cancel>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// What the next attempt logs before connecting.
enum Next {
    /// The command (or the previous step) already logged it.
    Announced,
    /// The start-up link's first attempt.
    Connect,
    /// Wait for the next once-a-second tick, then connect.
    Tick,
    /// Right after a failed transfer.
    AfterFailure,
    /// Right after a streaming link dropped.
    AfterLoss,
}

/// Runs the link `gen` until it is replaced, ended, or the server shuts down.
pub async fn run_link(srv: Arc<Server>, gen: u64, cancel: Arc<Cancel>, announced: bool) {
    let shutdown = srv.shutdown_signal();
    let mut link = Link {
        srv,
        gen,
        cancel,
        shutdown,
    };
    let mut next = if announced {
        Next::Announced
    } else {
        Next::Connect
    };
    loop {
        if link.srv.is_shutting_down() || link.cancel.is_cancelled() {
            return;
        }
        if matches!(next, Next::Tick) {
            let tick = tokio::time::sleep(Duration::from_secs(1));
            if link.until(tick).await.is_err() {
                return;
            }
        }
        {
            let Some(mut core) = link.lock() else { return };
            let Some(l) = core.repl.link.as_mut() else {
                return;
            };
            match next {
                Next::Announced => {}
                Next::Connect | Next::Tick => {
                    tracing::info!("Connecting to MASTER {}:{}", l.host, l.port)
                }
                Next::AfterFailure => {
                    tracing::info!("Reconnecting to MASTER {}:{} after failure", l.host, l.port)
                }
                Next::AfterLoss => tracing::info!("Reconnecting to MASTER {}:{}", l.host, l.port),
            }
            if !matches!(next, Next::Announced) {
                tracing::info!("MASTER <-> REPLICA sync started");
            }
            l.state = LinkState::Connecting;
        }
        let flow = link.attempt().await;
        next = match flow {
            Flow::Stop => return,
            Flow::Retry => Next::Tick,
            Flow::RetryNow => Next::AfterFailure,
            Flow::Lost => Next::AfterLoss,
        };
        let Some(mut core) = link.lock() else { return };
        if let Some(l) = core.repl.link.as_mut() {
            l.state = LinkState::Connect;
            l.transfer_size = None;
            l.transfer_read = 0;
        }
    }
}

impl Link {
    /// The core lock, if this task still owns the link.
    fn lock(&self) -> Option<parking_lot::MutexGuard<'_, Core>> {
        let core = self.srv.core.lock();
        let ours = core
            .repl
            .link
            .as_ref()
            .is_some_and(|l| l.generation == self.gen);
        ours.then_some(core)
    }

    /// Runs `f` on the link under the core lock, if this task still owns it.
    fn with_link<R>(&self, f: impl FnOnce(&mut LinkInfo) -> R) -> Option<R> {
        let mut core = self.lock()?;
        core.repl.link.as_mut().map(f)
    }

    /// Awaits `f` unless the link is cancelled or the server shuts down first.
    async fn until<F: std::future::Future>(&mut self, f: F) -> Result<F::Output, IoErr> {
        let Link {
            cancel, shutdown, ..
        } = self;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(IoErr::Stop),
            _ = shutdown.changed() => Err(IoErr::Stop),
            r = f => Ok(r),
        }
    }

    fn repl_timeout(&self) -> Duration {
        Duration::from_secs(self.srv.config.read().repl_timeout.max(1) as u64)
    }

    /// How much of the stream an interleaved transfer may hold here until the load is installed:
    /// the hard `client-output-buffer-limit replica`, what a master would let that stream grow to
    /// in its own buffer for us (0 = no limit).
    fn sync_stream_limit(&self) -> usize {
        self.srv
            .config
            .read()
            .client_output_buffer_limit
            .replica
            .hard as usize
    }

    /// Reads more from the master into the buffer, by `deadline`.
    async fn fill(&mut self, conn: &mut Conn, deadline: Instant) -> Result<usize, IoErr> {
        if conn.buf.capacity() - conn.buf.len() < READ_CHUNK / 4 {
            conn.buf.reserve(READ_CHUNK);
        }
        let read = tokio::time::timeout_at(deadline, conn.rd.read_buf(&mut conn.buf));
        match self.until(read).await? {
            Err(_) => Err(IoErr::Timeout),
            Ok(Ok(0)) => Err(IoErr::Closed("connection lost".into())),
            Ok(Err(e)) => Err(IoErr::Closed(io_text(&e))),
            Ok(Ok(n)) => Ok(n),
        }
    }

    /// One reply line (without its terminator) and the bytes it took.
    async fn line(&mut self, conn: &mut Conn, timeout: Duration) -> Result<(Bytes, usize), IoErr> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = conn.take_line() {
                return Ok(l);
            }
            if conn.buf.len() > MAX_LINE {
                return Err(IoErr::Closed("reply line too long".into()));
            }
            self.fill(conn, deadline).await?;
        }
    }

    async fn send(&mut self, conn: &mut Conn, bytes: &[u8]) -> Result<(), IoErr> {
        let timeout = self.repl_timeout();
        let write = tokio::time::timeout(timeout, conn.wr.write_all(bytes));
        match self.until(write).await? {
            Err(_) => Err(IoErr::Timeout),
            Ok(Err(e)) => Err(IoErr::Closed(io_text(&e))),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// A handshake reply; failures are logged and say how to go on.
    async fn handshake_reply(&mut self, conn: &mut Conn) -> Result<String, Flow> {
        let timeout = self.repl_timeout();
        match self.line(conn, timeout).await {
            Ok((l, _)) => Ok(String::from_utf8_lossy(&l).into_owned()),
            Err(IoErr::Stop) => Err(Flow::Stop),
            Err(IoErr::Timeout) => {
                tracing::warn!("Timeout connecting to the MASTER...");
                Err(Flow::RetryNow)
            }
            Err(IoErr::Closed(e)) => {
                tracing::warn!("Failed to read response from the server: {}", e);
                tracing::warn!("Master did not respond to command during SYNC handshake");
                Err(Flow::Retry)
            }
        }
    }

    async fn handshake_send(&mut self, conn: &mut Conn, bytes: &[u8]) -> Result<(), Flow> {
        match self.send(conn, bytes).await {
            Ok(()) => Ok(()),
            Err(IoErr::Stop) => Err(Flow::Stop),
            Err(IoErr::Timeout) => {
                tracing::warn!("Timeout connecting to the MASTER...");
                Err(Flow::RetryNow)
            }
            Err(IoErr::Closed(e)) => {
                tracing::warn!(
                    "Sending command to master in replication handshake: -Writing to master: {}",
                    e
                );
                Err(Flow::Retry)
            }
        }
    }

    /// One attempt: connect, handshake, then a full or partial sync and the stream.
    async fn attempt(&mut self) -> Flow {
        let Some((host, port)) = self.with_link(|l| (l.host.clone(), l.port)) else {
            return Flow::Stop;
        };
        let timeout = self.repl_timeout();
        let lookup = tokio::net::lookup_host((host.clone(), port));
        let addrs: Vec<std::net::SocketAddr> = match self.until(lookup).await {
            Err(_) => return Flow::Stop,
            Ok(Err(e)) => {
                tracing::warn!("Unable to connect to MASTER: {}", io_text(&e));
                return Flow::Retry;
            }
            Ok(Ok(addrs)) => addrs.collect(),
        };
        if addrs.is_empty() {
            tracing::warn!("Unable to connect to MASTER: no address for {}", host);
            return Flow::Retry;
        }
        // Each address the name resolves to, in order (`localhost` may give ::1 first).
        let deadline = Instant::now() + timeout;
        let mut last_err = None;
        let mut sock = None;
        for addr in addrs {
            let connect = tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr));
            match self.until(connect).await {
                Err(_) => return Flow::Stop,
                Ok(Err(_)) => {
                    tracing::warn!("Timeout connecting to the MASTER...");
                    return Flow::RetryNow;
                }
                Ok(Ok(Err(e))) => last_err = Some(e),
                Ok(Ok(Ok(s))) => {
                    sock = Some(s);
                    break;
                }
            }
        }
        let Some(sock) = sock else {
            let e = last_err.map(|e| io_text(&e)).unwrap_or_default();
            tracing::warn!("Error condition on socket for SYNC: {}", e);
            return Flow::Retry;
        };
        let nodelay = !self.srv.config.read().repl_disable_tcp_nodelay;
        let _ = sock.set_nodelay(nodelay);
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&sock);
        let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let (rd, wr) = sock.into_split();
        let mut conn = Conn {
            rd,
            wr,
            buf: BytesMut::with_capacity(READ_CHUNK),
            peer,
            local,
            fd,
        };
        if self.with_link(|l| l.state = LinkState::Handshake).is_none() {
            return Flow::Stop;
        }
        tracing::info!("Non blocking connect for SYNC fired the event.");
        match self.handshake(&mut conn).await {
            Ok(flow) => flow,
            Err(flow) => flow,
        }
    }

    /// PING, AUTH, REPLCONF, PSYNC and what follows (`Ok` and `Err` both say how it ended).
    async fn handshake(&mut self, conn: &mut Conn) -> Result<Flow, Flow> {
        self.handshake_send(conn, &command(&[b"PING"])).await?;
        let pong = self.handshake_reply(conn).await?;
        // +PONG, or an authentication error (AUTH comes next); anything else is fatal.
        if !pong.starts_with('+')
            && !pong.starts_with("-NOAUTH")
            && !pong.starts_with("-NOPERM")
            && !pong.starts_with("-ERR operation not permitted")
        {
            tracing::warn!("Error reply to PING from master: '{}'", pong);
            return Err(Flow::Retry);
        }
        tracing::info!("Master replied to PING, replication can continue...");
        let (auth, user, announce_port, announce_ip) = {
            let c = self.srv.config.read();
            (
                c.masterauth.clone(),
                c.masteruser.clone(),
                c.replica_announce_port,
                c.replica_announce_ip.clone(),
            )
        };
        // Sent in one go, replies read in order, as Redis pipelines them.
        let mut out = BytesMut::new();
        if let Some(pass) = &auth {
            match &user {
                Some(u) => {
                    out.extend_from_slice(&command(&[b"AUTH", u.as_bytes(), pass.as_bytes()]))
                }
                None => out.extend_from_slice(&command(&[b"AUTH", pass.as_bytes()])),
            }
        }
        let port = if announce_port != 0 {
            announce_port
        } else {
            self.srv.port()
        }
        .to_string();
        out.extend_from_slice(&command(&[b"REPLCONF", b"listening-port", port.as_bytes()]));
        if let Some(ip) = &announce_ip {
            out.extend_from_slice(&command(&[b"REPLCONF", b"ip-address", ip.as_bytes()]));
        }
        out.extend_from_slice(&command(&[
            b"REPLCONF",
            b"capa",
            b"eof",
            b"capa",
            b"psync2",
            b"capa",
            b"ferredis-mux",
        ]));
        self.handshake_send(conn, &out).await?;
        if auth.is_some() {
            let r = self.handshake_reply(conn).await?;
            if r.starts_with('-') {
                tracing::warn!("Unable to AUTH to MASTER: {}", r);
                return Err(Flow::Retry);
            }
        }
        let r = self.handshake_reply(conn).await?;
        if r.starts_with('-') {
            tracing::info!(
                "(Non critical) Master does not understand REPLCONF listening-port: {}",
                r
            );
        }
        if announce_ip.is_some() {
            let r = self.handshake_reply(conn).await?;
            if r.starts_with('-') {
                tracing::info!(
                    "(Non critical) Master does not understand REPLCONF ip-address: {}",
                    r
                );
            }
        }
        let r = self.handshake_reply(conn).await?;
        if r.starts_with('-') {
            tracing::info!(
                "(Non critical) Master does not understand REPLCONF capa: {}",
                r
            );
        }
        self.psync(conn).await
    }

    /// PSYNC with the cached master's identity (or `? -1`), then the sync its reply asks for.
    async fn psync(&mut self, conn: &mut Conn) -> Result<Flow, Flow> {
        let cached = self.with_link(|l| l.cached.clone()).ok_or(Flow::Stop)?;
        let (id, off) = match &cached {
            Some(c) => {
                let off = (c.reploff + 1).to_string();
                tracing::info!(
                    "Trying a partial resynchronization (request {}:{}).",
                    c.replid,
                    off
                );
                (c.replid.clone(), off)
            }
            None => {
                tracing::info!("Partial resynchronization not possible (no cached master)");
                ("?".to_string(), "-1".to_string())
            }
        };
        // A master handing over to us (FAILOVER) asks its target to promote itself.
        let failover = self
            .lock()
            .is_some_and(|c| super::failover::in_progress(&c));
        let mut psync: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), off.as_bytes()];
        if failover {
            psync.push(b"FAILOVER");
        }
        if let Err(e) = self.send(conn, &command(&psync)).await {
            // A failover whose target cannot be written to is given up (we are a master again).
            if failover && !matches!(e, IoErr::Stop) {
                if let Some(mut core) = self.lock() {
                    super::failover::abort_failover(
                        &self.srv,
                        &mut core,
                        "Write error to failover target",
                    );
                }
                return Err(Flow::Stop);
            }
            return match e {
                IoErr::Stop => Err(Flow::Stop),
                IoErr::Timeout => {
                    tracing::warn!("Timeout connecting to the MASTER...");
                    Err(Flow::RetryNow)
                }
                IoErr::Closed(e) => {
                    tracing::warn!("Unable to send PSYNC to master: -Writing to master: {}", e);
                    tracing::warn!("Sending command to master in replication handshake: Write error sending the PSYNC command.");
                    Err(Flow::Retry)
                }
            };
        }
        // The master may send newlines to keep the link alive before it answers.
        let reply = loop {
            let timeout = self.repl_timeout();
            match self.line(conn, timeout).await {
                Ok((l, _)) if l.is_empty() => continue,
                Ok((l, _)) => break String::from_utf8_lossy(&l).into_owned(),
                Err(IoErr::Stop) => return Err(Flow::Stop),
                Err(IoErr::Timeout) => {
                    tracing::warn!("Timeout connecting to the MASTER...");
                    return Err(Flow::RetryNow);
                }
                Err(IoErr::Closed(e)) => {
                    tracing::warn!("Failed to read response from the server: {}", e);
                    tracing::warn!("Master did not reply to PSYNC, will try later");
                    return Err(Flow::Retry);
                }
            }
        };
        if failover {
            let Some(mut core) = self.lock() else {
                return Err(Flow::Stop);
            };
            if !super::failover::psync_replied(&self.srv, &mut core, &reply) {
                return Err(Flow::Stop);
            }
        }
        if reply.starts_with("+FULLRESYNC") {
            let mut parts = reply.split(' ').skip(1);
            let (replid, offset) = match (parts.next(), parts.next()) {
                (Some(id), Some(off)) if id.len() == 40 => {
                    let off = crate::util::parse_i64(off.as_bytes()).unwrap_or(0);
                    tracing::info!("Full resync from master: {}:{}", id, off);
                    (id.to_string(), off)
                }
                _ => {
                    tracing::warn!("Master replied with wrong +FULLRESYNC syntax.");
                    (String::new(), -1)
                }
            };
            return Ok(self.full_sync(conn, replid, offset).await);
        }
        if let Some(rest) = reply.strip_prefix("+CONTINUE") {
            tracing::info!("Successful partial resynchronization with master.");
            let Some(cached) = cached else {
                return Err(Flow::Retry);
            };
            let new_id = rest.trim();
            return Ok(self.continue_sync(conn, cached, new_id).await);
        }
        if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
            tracing::info!(
                "Master is currently unable to PSYNC but should be in the future: {}",
                reply
            );
            return Err(Flow::Retry);
        }
        if reply.starts_with("-ERR") {
            tracing::info!(
                "Master does not support PSYNC or is in error state (reply: {})",
                reply
            );
        } else {
            tracing::warn!("Unexpected reply to PSYNC from master: {}", reply);
        }
        // A master without PSYNC: the old SYNC, which sends the snapshot without an offset.
        tracing::info!("Retrying with SYNC...");
        if let Err(e) = self.send(conn, b"SYNC\r\n").await {
            return match e {
                IoErr::Stop => Err(Flow::Stop),
                IoErr::Timeout | IoErr::Closed(_) => {
                    tracing::warn!("I/O error writing to MASTER: connection lost");
                    Err(Flow::Retry)
                }
            };
        }
        Ok(self.full_sync(conn, String::new(), -1).await)
    }

    /// +CONTINUE: the stream goes on from the cached master's offset, possibly under a new id.
    async fn continue_sync(&mut self, conn: &mut Conn, cached: CachedMaster, new_id: &str) -> Flow {
        {
            let Some(mut core) = self.lock() else {
                return Flow::Stop;
            };
            let core = &mut *core;
            if new_id.len() == 40 && new_id != cached.replid {
                tracing::warn!("Master replication ID changed to {}", new_id);
                core.repl.replid2 = cached.replid.clone();
                core.repl.second_replid_offset = core.repl.offset() as i64 + 1;
                core.repl.replid = new_id.to_string();
                disconnect_replicas(&self.srv);
            }
            let size = self.srv.config.read().repl_backlog_size.max(1) as u64;
            core.repl.ensure_backlog(size);
            let Some(l) = core.repl.link.as_mut() else {
                return Flow::Stop;
            };
            l.cached = None;
            l.state = LinkState::Connected;
            l.reploff = cached.reploff;
            l.read_reploff = cached.reploff;
            l.down_since_ms = None;
            l.last_io_ms = crate::util::now_ms();
            l.stream_db = cached.db;
        }
        tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        self.stream(conn, cached.db, false).await
    }

    /// Whether this full sync loads from the socket into memory instead of through a file.
    fn diskless_load(&self) -> bool {
        let mode = self.srv.config.read().repl_diskless_load.clone();
        mode == "swapdb" || (mode == "on-empty-db" && self.srv.core.lock().ks.total_keys() == 0)
    }

    /// +FULLRESYNC (or SYNC): receive the snapshot, load it, swap it in, then stream.
    async fn full_sync(&mut self, conn: &mut Conn, replid: String, offset: i64) -> Flow {
        let diskless = self.diskless_load();
        let swapdb = diskless && self.srv.config.read().repl_diskless_load == "swapdb";
        let mut guard = TempGuard(None);
        let file = if diskless {
            None
        } else {
            let dir = self.srv.config.read().dir.clone();
            let path = std::path::Path::new(&dir).join(format!(
                "temp-{}.{}.rdb",
                crate::util::now_ms() / 1000,
                std::process::id()
            ));
            match std::fs::File::create(&path) {
                Ok(file) => {
                    guard.0 = Some(path.clone());
                    Some((file, path))
                }
                Err(e) => {
                    tracing::warn!(
                        "Opening the temp file needed for MASTER <-> REPLICA synchronization: {}",
                        io_text(&e)
                    );
                    return Flow::Retry;
                }
            }
        };
        // The loader decodes the payload while it arrives, into a fresh keyspace that replaces
        // ours only once it is complete and valid.
        let mut fresh = self.srv.core.lock().ks.new_for_load();
        fresh.is_replica = true;
        let verify = self.srv.config.read().rdbchecksum;
        let (tx, rx) = tokio::sync::mpsc::channel(LOADER_QUEUE);
        let mut job =
            tokio::task::spawn_blocking(move || load_streamed(rx, fresh, verify, diskless));
        let mut sink = Sink { file, tx };
        let now = crate::util::now_ms();
        if self
            .with_link(|l| {
                l.state = LinkState::Transfer;
                l.transfer_size = None;
                l.transfer_read = 0;
                l.transfer_last_io_ms = now;
            })
            .is_none()
        {
            return Flow::Stop;
        }
        // The bulk header, after any keep-alive newlines.
        let mark = loop {
            let timeout = self.repl_timeout();
            let (line, raw) = match self.line(conn, timeout).await {
                Ok(x) => x,
                Err(e) => return self.transfer_failed(e, true),
            };
            let now = crate::util::now_ms();
            {
                let Some(mut core) = self.lock() else {
                    return Flow::Stop;
                };
                core.repl.stats.net_repl_input_bytes += raw as u64;
                if let Some(l) = core.repl.link.as_mut() {
                    l.transfer_last_io_ms = now;
                }
            }
            if line.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some(err) = text.strip_prefix('-') {
                tracing::warn!("MASTER aborted replication with an error: {}", err);
                return Flow::RetryNow;
            }
            let Some(rest) = text.strip_prefix('$') else {
                tracing::warn!("Bad protocol from MASTER, the first byte is not '$' (we received '{}'), are you sure the host and port are right?", text);
                return Flow::RetryNow;
            };
            let to = if diskless { "to parser" } else { "to disk" };
            // A ferredis master interleaves its diskless payload with the stream.
            if line[..] == b"$MUX"[..] {
                tracing::info!(
                    "MASTER <-> REPLICA sync: receiving streamed RDB from master, interleaved with the stream, {}",
                    to
                );
                self.with_link(|l| l.transfer_size = Some(0));
                break Mark::Mux;
            }
            // `$EOF:<40-byte mark>`: the diskless form, whose size nobody knows beforehand.
            if line.len() >= 45 && line.starts_with(b"$EOF:") {
                tracing::info!(
                    "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {}",
                    to
                );
                self.with_link(|l| l.transfer_size = Some(0));
                break Mark::Eof(line[5..45].to_vec());
            }
            // strtol: the leading number, whatever follows.
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            let size = digits.parse::<i64>().unwrap_or(0).max(0) as u64;
            tracing::info!(
                "MASTER <-> REPLICA sync: receiving {} bytes from master {}",
                size,
                to
            );
            self.with_link(|l| l.transfer_size = Some(size));
            if let Err(f) = self.receive_sized(conn, &mut sink, size).await {
                return f;
            }
            break Mark::Sized;
        };
        let usemark = !matches!(mark, Mark::Sized);
        let mux = matches!(mark, Mark::Mux);
        match mark {
            Mark::Sized => {}
            Mark::Eof(mark) => {
                if let Err(f) = self.receive_marked(conn, &mut sink, &mark).await {
                    return f;
                }
            }
            Mark::Mux => {
                if let Err(f) = self.receive_mux(conn, &mut sink).await {
                    return f;
                }
            }
        }
        // The snapshot is complete: from here on it replaces the dataset.
        {
            let Some(mut core) = self.lock() else {
                return Flow::Stop;
            };
            crate::server::save::abort_bgsave(&self.srv, &mut core);
            if !swapdb {
                self.attach_to_new_master(&mut core);
                tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
            }
        }
        tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
        let dbfile = {
            let c = self.srv.config.read();
            crate::persistence::dump_path(&c.dir, &c.dbfilename)
        };
        let Sink { file, tx } = sink;
        let renamed = file.is_some();
        // A loader gone early (it only stops on a panic) shows when it is joined.
        let last = Piece::Last(file.map(|(f, path)| (f, path, dbfile)));
        if self.until(tx.send(last)).await.is_err() {
            return Flow::Stop;
        }
        drop(tx);
        // A newline a second while loading tells the master we are alive (it counts as an ACK
        // there), so a load longer than `repl-timeout` does not get us dropped and resynced.
        // With an interleaved transfer the master keeps streaming: we keep reading, so that the
        // writes wait here rather than in the master's buffer.
        // The payload is all here now, so past the stream limit we stop reading instead, and
        // the rest waits in the master's buffer under its own limit.
        let mut reading = mux;
        let limit = self.sync_stream_limit();
        let mut next_tick = Instant::now() + Duration::from_secs(1);
        let joined = loop {
            let tick = tokio::time::sleep_until(next_tick);
            if conn.buf.capacity() - conn.buf.len() < READ_CHUNK / 4 {
                conn.buf.reserve(READ_CHUNK);
            }
            let room = limit == 0 || conn.buf.len() < limit;
            let Conn { rd, buf, .. } = &mut *conn;
            let step = async {
                tokio::select! {
                    r = &mut job => Step::Joined(r),
                    _ = tick => Step::Tick,
                    r = rd.read_buf(buf), if reading && room => Step::Read(r.ok().filter(|&n| n > 0)),
                }
            };
            match self.until(step).await {
                Ok(Step::Joined(r)) => break r,
                Ok(Step::Read(Some(n))) => {
                    if self.transfer_progress(n).is_err() {
                        return Flow::Stop;
                    }
                }
                // The link is gone; the stream finds out once the load is installed.
                Ok(Step::Read(None)) => reading = false,
                Ok(Step::Tick) => {
                    next_tick = Instant::now() + Duration::from_secs(1);
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn.wr.write_all(b"\n"))
                        .await;
                }
                Err(_) => {
                    // The loaded keyspace, if any, is freed off the runtime.
                    tokio::spawn(async move {
                        if let Ok(Ok(r)) = job.await {
                            drop(tokio::task::spawn_blocking(move || drop(r)));
                        }
                    });
                    return Flow::Stop;
                }
            }
        };
        let result = match joined {
            Err(_) => Err("the loading thread stopped unexpectedly".to_string()),
            Ok(r) => r,
        };
        // Renamed over the dump file (or gone): nothing to clean up any more.
        if renamed {
            guard.0 = None;
        }
        let (fresh, loaded, stream_db) = match result {
            Ok(x) => x,
            Err(e) => {
                if diskless {
                    tracing::warn!(
                        "Failed trying to load the MASTER synchronization DB from socket: {}",
                        e
                    );
                    if swapdb {
                        tracing::info!(
                            "MASTER <-> REPLICA sync: Discarding temporary DB in background"
                        );
                    }
                } else {
                    tracing::warn!("{}", e);
                }
                return Flow::RetryNow;
            }
        };
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            loaded.keys,
            loaded.expired_skipped
        );
        let old = {
            let Some(mut core) = self.lock() else {
                tokio::task::spawn_blocking(move || drop(fresh));
                return Flow::Stop;
            };
            let core = &mut *core;
            // A BGSAVE started during the load would snapshot the dataset being replaced.
            crate::server::save::abort_bgsave(&self.srv, core);
            if swapdb {
                self.attach_to_new_master(core);
                tracing::info!("MASTER <-> REPLICA sync: Swapping active DB with loaded DB");
            }
            let old = install_keyspace(core, fresh, diskless);
            {
                let mut st = self.srv.save.lock();
                st.last_load_keys_loaded = loaded.keys;
                st.last_load_keys_expired = loaded.expired_skipped;
            }
            if swapdb {
                tracing::info!("MASTER <-> REPLICA sync: Discarding old DB in background");
            }
            // A new history: the master's id and offset, nothing before it.
            core.repl.free_backlog();
            if offset >= 0 && !replid.is_empty() {
                core.repl.replid = replid.clone();
            }
            core.repl.set_offset(offset.max(0) as u64);
            core.repl.clear_replid2();
            let size = self.srv.config.read().repl_backlog_size.max(1) as u64;
            core.repl.ensure_backlog(size);
            core.set_propagation_active(false);
            let off = core.repl.offset();
            let now = crate::util::now_ms();
            if let Some(l) = core.repl.link.as_mut() {
                l.state = LinkState::Connected;
                l.reploff = off;
                // The stream that arrived with (or right after) the payload is read already.
                l.read_reploff = off + conn.buf.len() as u64;
                l.down_since_ms = None;
                l.last_io_ms = now;
                l.stream_db = stream_db;
                l.cached = None;
            }
            old
        };
        // Freeing a large dataset takes a while: not on the runtime, not under the lock.
        tokio::task::spawn_blocking(move || drop(old));
        tracing::info!("MASTER <-> REPLICA sync: Finished with success");
        // A diskless master puts us online on our first ACK.
        if usemark {
            let off = self.with_link(|l| l.reploff).unwrap_or(0);
            if let Err(e) = self.send(conn, &ack(off)).await {
                return match e {
                    IoErr::Stop => Flow::Stop,
                    _ => self.lost(stream_db),
                };
            }
        }
        self.stream(conn, stream_db, offset < 0).await
    }

    /// A transfer that cannot go on: logged as Redis logs it.
    fn transfer_failed(&self, e: IoErr, header: bool) -> Flow {
        match e {
            IoErr::Stop => Flow::Stop,
            IoErr::Timeout => {
                tracing::warn!("Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.");
                Flow::RetryNow
            }
            IoErr::Closed(e) if header => {
                tracing::warn!("I/O error reading bulk count from MASTER: {}", e);
                Flow::RetryNow
            }
            IoErr::Closed(e) => {
                tracing::warn!("I/O error trying to sync with MASTER: {}", e);
                Flow::RetryNow
            }
        }
    }

    /// The new master's data is about to replace ours: the cached master and our replicas'
    /// positions no longer mean anything (Redis's `replicationAttachToNewMaster`).
    fn attach_to_new_master(&self, core: &mut Core) {
        if let Some(l) = core.repl.link.as_mut() {
            if l.cached.take().is_some() {
                tracing::info!("Discarding previously cached master state.");
            }
        }
        disconnect_replicas(&self.srv);
        core.repl.free_backlog();
    }

    /// Accounts `n` payload bytes just read.
    fn transfer_progress(&self, n: usize) -> Result<(), Flow> {
        let now = crate::util::now_ms();
        let mut core = self.lock().ok_or(Flow::Stop)?;
        core.repl.stats.net_repl_input_bytes += n as u64;
        if let Some(l) = core.repl.link.as_mut() {
            l.transfer_read += n as u64;
            l.transfer_last_io_ms = now;
        }
        Ok(())
    }

    /// A `$<size>` payload: exactly `left` bytes; what follows stays buffered (the stream).
    async fn receive_sized(
        &mut self,
        conn: &mut Conn,
        sink: &mut Sink,
        mut left: u64,
    ) -> Result<(), Flow> {
        loop {
            let take = (conn.buf.len() as u64).min(left) as usize;
            if take > 0 {
                let part = conn.buf.split_to(take).freeze();
                self.sink_write(sink, part).await?;
                left -= take as u64;
            }
            if left == 0 {
                return Ok(());
            }
            let deadline = Instant::now() + self.repl_timeout();
            let n = self
                .fill(conn, deadline)
                .await
                .map_err(|e| self.transfer_failed(e, false))?;
            self.transfer_progress(n)?;
        }
    }

    /// A `$EOF:<mark>` payload: everything up to the 40-byte mark. The last 40 bytes are held back
    /// until more arrives, so the mark never reaches the sink.
    async fn receive_marked(
        &mut self,
        conn: &mut Conn,
        sink: &mut Sink,
        mark: &[u8],
    ) -> Result<(), Flow> {
        let mut held: Vec<u8> = Vec::with_capacity(2 * READ_CHUNK);
        loop {
            if !conn.buf.is_empty() {
                let searched_from = held.len().saturating_sub(mark.len() - 1);
                held.extend_from_slice(&conn.buf.split_to(conn.buf.len()));
                // A vectorised search: a window-by-window compare cost a tenth of the loading CPU.
                if let Some(i) = memchr::memmem::find(&held[searched_from..], mark) {
                    let at = searched_from + i;
                    self.sink_write(sink, Bytes::copy_from_slice(&held[..at]))
                        .await?;
                    // Anything after the mark is already the stream.
                    let rest = &held[at + mark.len()..];
                    let mut b = BytesMut::with_capacity(rest.len() + READ_CHUNK);
                    b.extend_from_slice(rest);
                    conn.buf = b;
                    return Ok(());
                }
                let keep = held.len().min(mark.len() - 1);
                let cut = held.len() - keep;
                if cut > 0 {
                    self.sink_write(sink, Bytes::copy_from_slice(&held[..cut]))
                        .await?;
                }
                held.drain(..cut);
            }
            let deadline = Instant::now() + self.repl_timeout();
            let n = self
                .fill(conn, deadline)
                .await
                .map_err(|e| self.transfer_failed(e, false))?;
            self.transfer_progress(n)?;
        }
    }

    /// A payload interleaved with the stream (`$MUX`, see the master's `transfer_mux`): payload
    /// frames go to the sink, stream frames are kept and end up in front of what follows the
    /// end frame, where the streaming loop applies them once the load is installed. Reading
    /// waits only when the loader is a full queue (`LOADER_QUEUE`) behind; then the master holds
    /// the stream meanwhile, as without interleaving.
    async fn receive_mux(&mut self, conn: &mut Conn, sink: &mut Sink) -> Result<(), Flow> {
        let mut held = BytesMut::new();
        let limit = self.sync_stream_limit();
        // The frame being read: payload (true) or stream (false), and the bytes it still has.
        let mut frame: Option<(bool, usize)> = None;
        loop {
            match frame {
                Some((payload, left)) => {
                    let take = left.min(conn.buf.len());
                    if take > 0 {
                        let part = conn.buf.split_to(take);
                        if payload {
                            self.sink_write(sink, part.freeze()).await?;
                        } else {
                            held.extend_from_slice(&part);
                            // The payload is still coming behind it, so reading cannot pause:
                            // past the limit the sync starts over, as it would when a master
                            // drops a replica whose output buffer went over it.
                            if limit > 0 && held.len() > limit {
                                tracing::warn!(
                                    "The stream received during the interleaved transfer went over the replica limit ({} bytes, client-output-buffer-limit replica): starting the sync over",
                                    limit
                                );
                                return Err(Flow::RetryNow);
                            }
                        }
                    }
                    frame = (left > take).then_some((payload, left - take));
                    if frame.is_some() {
                        self.mux_fill(conn).await?;
                    }
                }
                None => {
                    let Some(nl) = conn.buf.iter().position(|&b| b == b'\n') else {
                        if conn.buf.len() > 64 {
                            tracing::warn!("Bad protocol from MASTER in an interleaved transfer");
                            return Err(Flow::RetryNow);
                        }
                        self.mux_fill(conn).await?;
                        continue;
                    };
                    let line = conn.buf.split_to(nl + 1);
                    let line = line[..nl].strip_suffix(b"\r").unwrap_or(&line[..nl]);
                    let size = || {
                        std::str::from_utf8(&line[1..])
                            .ok()
                            .and_then(|t| t.parse::<usize>().ok())
                    };
                    frame = match (line.first(), size()) {
                        (Some(b'r'), Some(n)) => Some((true, n)),
                        (Some(b's'), Some(n)) => Some((false, n)),
                        (Some(b'e'), _) if line.len() == 1 => {
                            // What follows is the plain stream, after the stream frames.
                            held.extend_from_slice(&conn.buf);
                            held.reserve(READ_CHUNK);
                            conn.buf = held;
                            return Ok(());
                        }
                        _ => {
                            tracing::warn!(
                                "Bad protocol from MASTER in an interleaved transfer: '{}'",
                                String::from_utf8_lossy(line)
                            );
                            return Err(Flow::RetryNow);
                        }
                    };
                }
            }
        }
    }

    /// Reads more of an interleaved transfer.
    async fn mux_fill(&mut self, conn: &mut Conn) -> Result<(), Flow> {
        let deadline = Instant::now() + self.repl_timeout();
        let n = self
            .fill(conn, deadline)
            .await
            .map_err(|e| self.transfer_failed(e, false))?;
        self.transfer_progress(n)
    }

    /// Hands payload bytes to the loader thread, and to the temp file when there is one.
    async fn sink_write(&mut self, sink: &mut Sink, data: Bytes) -> Result<(), Flow> {
        if let Some((file, _)) = sink.file.as_mut() {
            file.write_all(&data).map_err(|e| {
                tracing::warn!(
                    "Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {}",
                    io_text(&e)
                );
                Flow::RetryNow
            })?;
        }
        // A loader gone early (it only stops on a panic) shows when it is joined.
        match self.until(sink.tx.send(Piece::Data(data))).await {
            Err(_) => Err(Flow::Stop),
            Ok(_) => Ok(()),
        }
    }

    /// The streaming link dropped: cache the master so the next PSYNC can continue.
    fn lost(&self, db: usize) -> Flow {
        let Some(mut core) = self.lock() else {
            return Flow::Stop;
        };
        let core = &mut *core;
        tracing::warn!("Connection with master lost.");
        tracing::info!("Caching the disconnected master state.");
        let replid = core.repl.replid.clone();
        let now = crate::util::now_ms();
        if let Some(l) = core.repl.link.as_mut() {
            l.cached = Some(CachedMaster {
                replid,
                reploff: l.reploff,
                db,
            });
            l.state = LinkState::Connect;
            l.down_since_ms = Some(now);
            l.master_client = None;
        }
        Flow::Lost
    }

    /// Streams: applies the master's commands, answers GETACK, ACKs every second, and watches
    /// `repl-timeout`. `pre_psync`: a SYNC master, which gets no ACKs.
    async fn stream(&mut self, conn: &mut Conn, db: usize, pre_psync: bool) -> Flow {
        let handle = {
            let mut clients = self.srv.clients.lock();
            let id = self.srv.next_client_id.fetch_add(1, Ordering::Relaxed);
            let h = ClientHandle::new(id, conn.peer.clone(), conn.local.clone(), conn.fd);
            {
                let mut m = h.meta.lock();
                m.kind = ClientKind::Master;
                m.user = "(superuser)";
                m.db = db;
            }
            clients.insert(id, h.clone());
            self.srv
                .stats
                .connected_clients
                .store(clients.len(), Ordering::Relaxed);
            h
        };
        let _reg = MasterClientReg {
            srv: self.srv.clone(),
            id: handle.id,
        };
        // Stream bytes that came with the end of the handshake or the payload were read already.
        let early = conn.buf.len() as u64;
        if self
            .with_link(|l| {
                l.master_client = Some(handle.clone());
                l.read_reploff += early;
            })
            .is_none()
        {
            return Flow::Stop;
        }
        let mut client = Client::new(handle.clone(), true);
        client.kind = ClientKind::Master;
        client.user = "(superuser)";
        client.db = db;
        let mut st = StreamState {
            parser: RequestParser::new(),
            pending: BytesMut::new(),
            scratch: BytesMut::new(),
            acks: BytesMut::new(),
            unaccounted: 0,
            cmds: Vec::new(),
            ranges: Vec::new(),
            paused: false,
        };
        let killed = handle.kill_notify.notified();
        tokio::pin!(killed);
        let start = Instant::now() + Duration::from_secs(1);
        let mut ticker = tokio::time::interval_at(start, Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_io = Instant::now();
        loop {
            // What the transfer left buffered, or what was just read.
            match self.apply(conn, &mut client, &mut st) {
                Ok(()) => {}
                Err(Flow::Lost) => return self.lost(client.db),
                Err(f) => return f,
            }
            if !st.acks.is_empty() {
                let acks = std::mem::take(&mut st.acks);
                match self.send(conn, &acks).await {
                    Ok(()) => {}
                    Err(IoErr::Stop) => return Flow::Stop,
                    Err(_) => return self.lost(client.db),
                }
            }
            if handle.is_killed() {
                return self.lost(client.db);
            }
            if conn.buf.capacity() - conn.buf.len() < READ_CHUNK / 4 {
                let want = st.parser.needed().saturating_sub(conn.buf.len());
                conn.buf.reserve(want.clamp(READ_CHUNK, 64 << 20));
            }
            let ev = {
                let Link {
                    cancel,
                    shutdown,
                    srv,
                    ..
                } = &mut *self;
                let paused = st.paused;
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => Ev::Stop,
                    _ = shutdown.changed() => Ev::Stop,
                    _ = &mut killed => Ev::Killed,
                    _ = srv.pause.wait(), if paused => Ev::Unpaused,
                    r = conn.rd.read_buf(&mut conn.buf) => match r {
                        Ok(0) | Err(_) => Ev::Closed,
                        Ok(n) => Ev::Read(n),
                    },
                    _ = ticker.tick() => Ev::Tick,
                }
            };
            match ev {
                Ev::Stop => return Flow::Stop,
                Ev::Killed => {
                    if self.srv.is_shutting_down() {
                        return Flow::Stop;
                    }
                    return self.lost(client.db);
                }
                Ev::Closed => return self.lost(client.db),
                Ev::Unpaused => {}
                Ev::Read(n) => {
                    st.unaccounted += n;
                    last_io = Instant::now();
                    handle.net_in.fetch_add(n as u64, Ordering::Relaxed);
                    handle
                        .last_interaction_ms
                        .store(crate::util::now_ms(), Ordering::Relaxed);
                }
                Ev::Tick => {
                    if last_io.elapsed() > self.repl_timeout() {
                        tracing::warn!("MASTER timeout: no data nor PING received...");
                        return self.lost(client.db);
                    }
                    if !pre_psync {
                        let Some(off) = self.with_link(|l| l.reploff) else {
                            return Flow::Stop;
                        };
                        st.acks.extend_from_slice(&ack(off));
                    }
                }
            }
        }
    }

    /// Runs every complete command buffered from the master, in batches under the core lock.
    fn apply(
        &self,
        conn: &mut Conn,
        client: &mut Client,
        st: &mut StreamState,
    ) -> Result<(), Flow> {
        let limits = ParseLimits {
            max_bulk_len: u64::MAX,
            authenticated: true,
            is_master: true,
        };
        let mut parsed = crate::resp::request::ParsedCommand::default();
        let mut args: Vec<Bytes> = Vec::new();
        loop {
            // Up to BATCH_MAX commands: (end offset, first range, number of ranges).
            st.cmds.clear();
            st.ranges.clear();
            let mut pos = 0;
            while st.cmds.len() < crate::server::connection::BATCH_MAX {
                match st.parser.parse(&conn.buf, pos, &limits, &mut parsed) {
                    Ok(Some(end)) => {
                        // A master only sends multibulk; an inline line is a keep-alive.
                        let first = st.ranges.len();
                        if parsed.owned.is_none() {
                            st.ranges.append(&mut parsed.args);
                        }
                        st.cmds.push((end, first, st.ranges.len() - first));
                        pos = end;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!("Protocol error ({}) from the master", e);
                        return Err(Flow::Lost);
                    }
                }
            }
            let chunk = conn.buf.split_to(pos).freeze();
            let mut core = self.lock().ok_or(Flow::Stop)?;
            let core = &mut *core;
            let read = std::mem::take(&mut st.unaccounted) as u64;
            core.repl.stats.net_repl_input_bytes += read;
            let (base, gen_ok) = match core.repl.link.as_mut() {
                Some(l) => {
                    l.read_reploff += read;
                    if read > 0 {
                        l.last_io_ms = crate::util::now_ms();
                    }
                    (l.reploff, true)
                }
                None => (0, false),
            };
            if !gen_ok {
                return Err(Flow::Stop);
            }
            if st.cmds.is_empty() {
                return Ok(());
            }
            let prev_pending = st.pending.len() as u64;
            let mut applied = base;
            let mut boundary: Option<usize> = None;
            // Where CLIENT PAUSE held the stream back (the master's client is paused too).
            let mut held_at: Option<usize> = None;
            let mut start = 0;
            st.paused = false;
            core.ks.serving_master = true;
            for &(end, first, n) in &st.cmds {
                args.clear();
                args.extend(
                    st.ranges[first..first + n]
                        .iter()
                        .map(|r| chunk.slice(r.clone())),
                );
                if !args.is_empty() && cmd::client::pause_blocks(&self.srv, client, &args) {
                    held_at = Some(start);
                    break;
                }
                start = end;
                if let Some(name) = args.first() {
                    if name.eq_ignore_ascii_case(b"replconf") {
                        replconf(core, client, &args, applied, &mut st.acks);
                    } else {
                        let mut ctx = Ctx {
                            core: &mut *core,
                            client: &mut *client,
                            srv: &self.srv,
                            out: Reply::new(&mut st.scratch, Proto::Resp2),
                        };
                        cmd::dispatch(&mut ctx, &args);
                        if st.scratch.first() == Some(&b'-') {
                            let text = String::from_utf8_lossy(&st.scratch);
                            tracing::warn!(
                                "== CRITICAL == This replica is sending an error to its master: '{}' after processing the command '{}'",
                                text.trim_start_matches('-').trim_end(),
                                client.last_cmd
                            );
                        }
                        st.scratch.clear();
                    }
                }
                // The offset only moves outside a transaction: a MULTI block counts at its EXEC.
                if client.multi.is_none() {
                    boundary = Some(end);
                    applied = base + prev_pending + end as u64;
                }
            }
            core.ks.serving_master = false;
            let done = held_at.unwrap_or(chunk.len());
            match boundary {
                Some(b) => {
                    if !st.pending.is_empty() {
                        core.repl.feed_raw(&st.pending);
                        st.pending.clear();
                    }
                    core.repl.feed_raw(&chunk[..b]);
                    st.pending.extend_from_slice(&chunk[b..done]);
                }
                None => st.pending.extend_from_slice(&chunk[..done]),
            }
            if let Some(at) = held_at {
                // The held commands go back in front of what is still unparsed, and wait for the
                // pause to end (the parser's size hint no longer applies).
                let mut rest =
                    BytesMut::with_capacity(chunk.len() - at + conn.buf.len() + READ_CHUNK);
                rest.extend_from_slice(&chunk[at..]);
                rest.extend_from_slice(&conn.buf);
                conn.buf = rest;
                st.parser = RequestParser::new();
                st.paused = true;
            }
            if let Some(l) = core.repl.link.as_mut() {
                l.reploff = applied;
                l.stream_db = client.db;
            }
            if st.paused {
                // CLIENT LIST shows the held command (flag `b`), as `pause_blocks` published it.
                return Ok(());
            }
            client.publish_meta(
                conn.buf.len(),
                conn.buf.capacity() - conn.buf.len(),
                st.scratch.capacity(),
                0,
            );
        }
    }
}

/// What woke the streaming loop.
enum Ev {
    Stop,
    /// CLIENT PAUSE ended (or changed): the held commands may run.
    Unpaused,
    Killed,
    Closed,
    Read(usize),
    Tick,
}

/// The streaming loop's buffers.
struct StreamState {
    parser: RequestParser,
    /// Bytes of commands applied inside a MULTI not yet closed: counted and forwarded at EXEC.
    pending: BytesMut,
    /// Where the (dropped) replies of the master's commands are written.
    scratch: BytesMut,
    /// ACKs to send after the batch.
    acks: BytesMut,
    /// Bytes read since the last accounting (`slave_read_repl_offset`, INFO stats).
    unaccounted: usize,
    /// The batch being parsed: per command (end offset, first range, number of ranges), and the
    /// argument ranges of all of them, back to back (kept to reuse their allocations).
    cmds: Vec<(usize, usize, usize)>,
    ranges: Vec<std::ops::Range<usize>>,
    /// CLIENT PAUSE holds the next command back.
    paused: bool,
}

/// REPLCONF from the master: GETACK is answered with our applied offset (before this command, as
/// Redis counts it); nothing else needs an answer.
fn replconf(core: &mut Core, client: &Client, args: &[Bytes], applied: u64, acks: &mut BytesMut) {
    if args.len() >= 2 && args[1].eq_ignore_ascii_case(b"getack") {
        acks.extend_from_slice(&ack(applied));
    }
    if let Some(spec) = cmd::lookup(b"replconf") {
        core.record_call(spec, args, client, 0, false);
    }
}

/// Swaps a loaded keyspace in: watchers of keys in the old or the new data see a change, and the
/// keyspace's own bookkeeping (watches, stats, limits) carries over. Returns the old keyspace.
fn install_keyspace(
    core: &mut Core,
    mut fresh: crate::db::Keyspace,
    diskless: bool,
) -> crate::db::Keyspace {
    let ks = &mut core.ks;
    if ks.watches.is_active() {
        let now = crate::util::now_ms();
        let crate::db::Keyspace {
            ref mut watches,
            ref dbs,
            ..
        } = *ks;
        for (db, old) in dbs.iter().enumerate() {
            let Some(new) = fresh.dbs.get(db) else {
                continue;
            };
            watches.touch_db(
                db,
                |k| old.table.get(k).is_some(),
                |k| new.table.get(k).is_some(),
                |k| {
                    new.table
                        .get(k)
                        .is_some_and(|e| e.expire != crate::db::NO_EXPIRE && e.expire <= now)
                },
            );
        }
    }
    std::mem::swap(&mut fresh.watches, &mut ks.watches);
    std::mem::swap(&mut fresh.stats, &mut ks.stats);
    fresh.carry_settings_from(ks);
    fresh.propagate_expired = false;
    fresh.is_replica = true;
    fresh.version = fresh.version.max(ks.version);
    fresh.next_snapshot_id = ks.next_snapshot_id;
    // A diskless load is a change no save has seen.
    fresh.dirty = ks.dirty + diskless as u64;
    std::mem::replace(ks, fresh)
}

/// What the loader thread hands back: the loaded keyspace, the load's figures and the database
/// the master's stream starts in (`repl-stream-db`).
type Received = (crate::db::Keyspace, crate::persistence::Loaded, usize);

/// The loader thread: decodes the pieces of the payload as the transfer hands them over, into a
/// fresh keyspace. On the last piece a received file is first fsynced and renamed over the dump
/// file, as Redis does before loading it. A transfer that fails closes the channel: the half-built
/// keyspace is dropped here, off the runtime. Errors are the log lines Redis writes.
fn load_streamed(
    mut rx: tokio::sync::mpsc::Receiver<Piece>,
    mut ks: crate::db::Keyspace,
    verify: bool,
    diskless: bool,
) -> Result<Received, String> {
    let databases = ks.dbs.len();
    let mut stream_db = 0usize;
    let mut observe = |item: &crate::rdb::decode::Item, _: usize| {
        if let crate::rdb::decode::Item::Aux(k, v) = item {
            crate::server::save::log_aux(&Default::default(), k, v);
            if &k[..] == b"repl-stream-db" {
                if let Some(db) = crate::util::parse_i64(v).filter(|d| *d >= 0) {
                    stream_db = (db as usize).min(databases.saturating_sub(1));
                }
            }
        }
    };
    let mut loader = crate::persistence::StreamLoader::new("socket", &ks, verify);
    // A payload found invalid part-way is still received to its end (and, in a file, renamed over
    // the dump file) before the failure is reported, as when it was loaded only once complete.
    let mut failed = None;
    let file = loop {
        match rx.blocking_recv() {
            None => return Err("the transfer did not complete".into()),
            Some(Piece::Data(data)) => {
                if failed.is_none() {
                    failed = loader.feed(&mut ks, &data, false, &mut observe).err();
                }
            }
            Some(Piece::Last(file)) => break file,
        }
    };
    if let Some((file, path, dbfile)) = file {
        file.sync_all().map_err(|e| {
            format!(
                "Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {}",
                io_text(&e)
            )
        })?;
        drop(file);
        std::fs::rename(&path, &dbfile).map_err(|e| {
            let _ = std::fs::remove_file(&path);
            format!(
                "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {}",
                dbfile.display(),
                io_text(&e)
            )
        })?;
        if let Some(dir) = dbfile.parent() {
            if let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
    }
    if failed.is_none() {
        failed = loader.feed(&mut ks, &[], true, &mut observe).err();
    }
    let result = match failed {
        None => loader.finish(&mut ks),
        Some(e) => Err(e),
    };
    let loaded = result.map_err(|e| {
        let reason = match e {
            crate::persistence::LoadError::Io { source, .. } => io_text(&source),
            crate::persistence::LoadError::Rdb { err, .. } => err.to_string(),
            crate::persistence::LoadError::TooManyDbs { databases, .. } => format!(
                "the snapshot selects a database beyond the {databases} configured ('databases')"
            ),
        };
        if diskless {
            reason
        } else {
            format!("Failed trying to load the MASTER synchronization DB from disk: {reason}")
        }
    })?;
    Ok((ks, loaded, stream_db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_offsets_follow_the_master_or_the_cache() {
        let mut l = LinkInfo::new("h".into(), 1);
        assert_eq!(l.info_offsets(), (1, 1));
        l.cached = Some(CachedMaster {
            replid: "x".into(),
            reploff: 42,
            db: 0,
        });
        assert_eq!(l.info_offsets(), (42, 42));
        l.state = LinkState::Connected;
        l.reploff = 50;
        l.read_reploff = 60;
        assert_eq!(l.info_offsets(), (60, 50));
    }

    #[test]
    fn generations_are_unique() {
        let a = LinkInfo::new("h".into(), 1);
        let b = LinkInfo::new("h".into(), 1);
        assert_ne!(a.generation, b.generation);
    }

    #[test]
    fn ack_encoding() {
        assert_eq!(
            &ack(1234)[..],
            b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$4\r\n1234\r\n"
        );
    }
}
