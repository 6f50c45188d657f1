//! Clients: the state a connection keeps for itself ([`Client`]) and the part other tasks can see
//! ([`ClientHandle`], in the server's registry) for CLIENT LIST, CLIENT KILL and INFO clients.
//!
//! A connection owns its [`Client`] and runs every command with it; after each batch it publishes
//! the fields other tasks read into the handle's [`ClientMeta`]. A command that lists or kills
//! other clients reads their published meta, and its own live state for itself, so the caller's
//! line in CLIENT LIST shows the command being run (`cmd=client|list`), as Redis's does.

use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;

use super::Server;
use crate::resp::Proto;

/// What kind of client this is, for CLIENT LIST `flags=` and CLIENT KILL TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientKind {
    #[default]
    Normal,
    /// The link to our master (a replica's incoming stream).
    Master,
    /// A replica attached to us.
    Replica,
    /// In subscribed mode.
    PubSub,
}

/// The client classes CLIENT LIST TYPE and CLIENT KILL TYPE filter on (Redis's `getClientType`):
/// a MONITOR client counts as normal, a subscribed one as pubsub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    Normal,
    Master,
    Replica,
    PubSub,
}

impl ClientType {
    /// Parses a type name as CLIENT LIST/KILL accept it (`slave` is an alias of `replica`).
    pub fn parse(name: &[u8]) -> Option<ClientType> {
        let t = [
            ("normal", ClientType::Normal),
            ("slave", ClientType::Replica),
            ("replica", ClientType::Replica),
            ("pubsub", ClientType::PubSub),
            ("master", ClientType::Master),
        ];
        t.iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, t)| *t)
    }
}

/// CLIENT REPLY mode.
///
/// Whether a reply is sent is decided once the command has run (see
/// [`Client::replies_suppressed`]), so `CLIENT REPLY ON` issued while replies are off is answered
/// with `+OK`, as in Redis, where the flag is cleared before the reply is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// CLIENT REPLY SKIP was just run: the next command's reply is dropped.
    SkipNext,
    /// Dropping the reply of the command running now (set from SkipNext when a command ends).
    Skip,
}

/// Fields of a client that other tasks read (CLIENT LIST/INFO) and that change while it runs.
///
/// Engineers adding per-client state that CLIENT LIST shows (subscriptions, MULTI) keep the
/// matching fields here up to date.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    pub name: Option<Bytes>,
    pub db: usize,
    pub kind: ClientKind,
    pub proto: Proto,
    /// Full name of the last command (`client|list`), `NULL` before the first one.
    pub last_cmd: &'static str,
    /// Commands queued in MULTI, -1 outside MULTI.
    pub multi: i64,
    /// Bytes of the arguments of the commands queued in MULTI.
    pub multi_mem: usize,
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    pub monitor: bool,
    pub no_evict: bool,
    pub reply_off: bool,
    /// Unparsed bytes in the query buffer, and the buffer's free room.
    pub qbuf: usize,
    pub qbuf_free: usize,
    /// Capacity of the reply buffer, and the largest batch of replies it held.
    pub rbs: usize,
    pub rbp: usize,
    pub obuf: usize,
    pub readonly_flag: bool,
    pub user: &'static str,
    /// Held back by CLIENT PAUSE (flag `b`), with the bytes of the waiting command's arguments.
    pub blocked: bool,
    pub argv_mem: usize,
}

impl Default for ClientMeta {
    fn default() -> Self {
        ClientMeta {
            name: None,
            db: 0,
            kind: ClientKind::Normal,
            proto: Proto::Resp2,
            last_cmd: "NULL",
            multi: -1,
            multi_mem: 0,
            sub: 0,
            psub: 0,
            ssub: 0,
            monitor: false,
            no_evict: false,
            reply_off: false,
            qbuf: 0,
            qbuf_free: 0,
            rbs: 0,
            rbp: 0,
            obuf: 0,
            readonly_flag: false,
            user: "default",
            blocked: false,
            argv_mem: 0,
        }
    }
}

impl ClientMeta {
    /// Subscribed to anything (Redis's CLIENT_PUBSUB flag).
    pub fn is_pubsub(&self) -> bool {
        self.kind == ClientKind::PubSub || self.sub + self.psub + self.ssub > 0
    }

    /// The class CLIENT LIST/KILL TYPE compares with.
    pub fn client_type(&self) -> ClientType {
        match self.kind {
            ClientKind::Master => ClientType::Master,
            ClientKind::Replica if !self.monitor => ClientType::Replica,
            _ if self.is_pubsub() => ClientType::PubSub,
            _ => ClientType::Normal,
        }
    }
}

/// The shared half of a client, held by the server's registry.
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    /// Unix ms of the last command, for `idle=` and the `timeout` directive.
    pub last_interaction_ms: AtomicI64,
    pub meta: Mutex<ClientMeta>,
    /// Set by CLIENT KILL / shutdown; the connection task closes when it sees it.
    pub killed: AtomicBool,
    pub kill_notify: Notify,
    /// Bytes read and written, for INFO stats.
    pub net_in: AtomicU64,
    pub net_out: AtomicU64,
    /// A key this client WATCHes changed (CLIENT LIST flag `d`); set by whichever client changed
    /// it, through the keyspace's watch registry.
    pub dirty_cas: Arc<AtomicBool>,
}

impl ClientHandle {
    pub fn new(id: u64, addr: String, laddr: String, fd: i32) -> Arc<Self> {
        // A unix-socket client shows `<path>:0` as both addresses, as Redis does.
        let laddr =
            if addr.len() == laddr.len() + 2 && addr.starts_with(&laddr) && addr.ends_with(":0") {
                addr.clone()
            } else {
                laddr
            };
        Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_interaction_ms: AtomicI64::new(crate::util::now_ms()),
            meta: Mutex::new(ClientMeta::default()),
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
            net_in: AtomicU64::new(0),
            net_out: AtomicU64::new(0),
            dirty_cas: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Asks the connection to close (CLIENT KILL, maxclients, shutdown).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_notify.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// A unix-socket client: both addresses are `<socket path>:0` (a TCP peer never has our own
    /// address).
    pub fn is_unix_socket(&self) -> bool {
        self.addr == self.laddr && self.addr.ends_with(":0")
    }

    /// The socket path of a unix-socket client.
    pub fn unix_path(&self) -> &str {
        self.laddr.strip_suffix(":0").unwrap_or(&self.laddr)
    }
}

/// The connection-local state of a client, passed to every command.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub proto: Proto,
    pub authenticated: bool,
    /// Authenticated user name (`default` until ACLs exist).
    pub user: &'static str,
    pub name: Option<Bytes>,
    pub kind: ClientKind,
    pub reply_mode: ReplyMode,
    /// Close the connection once the pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// In MONITOR mode (registered with [`Server::add_monitor`]).
    pub monitor: bool,
    /// The feed of a MONITOR just started, for the connection to pick up after the batch.
    pub monitor_rx: Option<UnboundedReceiver<Bytes>>,
    /// Full name of the last command dispatched (`client|list`), `NULL` if it was unknown.
    pub last_cmd: &'static str,
    /// Indexes of the current command's arguments that MONITOR and SLOWLOG must show as
    /// `(redacted)` (passwords of AUTH and HELLO AUTH). Dispatch clears it before each command.
    pub redacted: Vec<usize>,
    /// The transaction being queued (between MULTI and EXEC/DISCARD), if any.
    pub multi: Option<crate::cmd::tx::MultiState>,
    /// Whether this client has keys registered with WATCH (so closing it must unregister them).
    pub watching: bool,
    /// Pub/sub channels and patterns, and the feed of published messages.
    pub subs: super::pubsub::ClientSubs,
    /// Set by a blocking command that found nothing (BLPOP, ...): the connection stops its batch and
    /// waits on it (see [`super::blocking`]).
    pub blocked: Option<super::blocking::Waiter>,
    /// What a would-be replica said with REPLCONF before its PSYNC/SYNC.
    pub repl_conf: crate::replication::master::ReplConf,
    /// Set by PSYNC/SYNC: the connection stops serving commands and becomes a replica stream.
    pub repl_handover: Option<crate::replication::master::Handover>,
    /// The master offset right after this client's last propagated command (WAIT's target).
    pub woff: u64,
    pub handle: Arc<ClientHandle>,
}

/// What MONITOR and SLOWLOG show instead of a password.
pub const REDACTED: &[u8] = b"(redacted)";

impl Client {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Self {
        Client {
            id: handle.id,
            db: 0,
            proto: Proto::Resp2,
            authenticated,
            user: "default",
            name: None,
            kind: ClientKind::Normal,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            no_evict: false,
            monitor: false,
            monitor_rx: None,
            last_cmd: "NULL",
            redacted: Vec::new(),
            multi: None,
            watching: false,
            subs: Default::default(),
            blocked: None,
            repl_conf: Default::default(),
            repl_handover: None,
            woff: 0,
            handle,
        }
    }

    /// Whether the reply of the command that just ran must be dropped (CLIENT REPLY OFF/SKIP).
    pub fn replies_suppressed(&self) -> bool {
        matches!(self.reply_mode, ReplyMode::Off | ReplyMode::Skip)
    }

    /// End-of-command bookkeeping: a SKIP covers exactly the command after CLIENT REPLY SKIP.
    pub fn after_command(&mut self) {
        self.reply_mode = match self.reply_mode {
            ReplyMode::Skip => ReplyMode::On,
            ReplyMode::SkipNext => ReplyMode::Skip,
            m => m,
        };
    }

    /// In subscribed mode.
    pub fn in_pubsub(&self) -> bool {
        self.kind == ClientKind::PubSub
    }

    /// Argument `i` of the current command as MONITOR/SLOWLOG may show it.
    pub fn arg_for_log<'a>(&self, i: usize, a: &'a [u8]) -> &'a [u8] {
        if self.redacted.contains(&i) {
            REDACTED
        } else {
            a
        }
    }

    /// Marks argument `i` of the current command as a secret.
    pub fn redact(&mut self, i: usize) {
        if !self.redacted.contains(&i) {
            self.redacted.push(i);
        }
    }

    /// Back to the state of a new connection (RESET): database 0, RESP2, no name, replies on, not
    /// monitoring, authenticated only if the default user needs no password.
    ///
    /// Per-client state added later (MULTI, subscriptions, tracking) is cleared here too. The
    /// watched keys live in the keyspace: RESET unregisters them first (`cmd::tx::reset`, which
    /// has the core lock).
    pub fn reset_connection_state(&mut self, srv: &Server) {
        self.multi = None;
        if self.monitor {
            srv.remove_monitor(self.id);
            self.monitor = false;
            self.monitor_rx = None;
        }
        self.db = 0;
        self.proto = Proto::Resp2;
        self.user = "default";
        self.authenticated = srv.config.read().requirepass.is_none();
        self.name = None;
        // RESET leaves every subscription without unsubscribe replies, as Redis does.
        if self.subs.count() > 0 {
            srv.pubsub.lock().remove_client(self.id, &self.subs);
            self.subs.channels.clear();
            self.subs.patterns.clear();
        }
        if self.kind == ClientKind::PubSub {
            self.kind = ClientKind::Normal;
        }
        // A SKIP already in force still covers RESET's own reply, as in Redis.
        if matches!(self.reply_mode, ReplyMode::Off | ReplyMode::SkipNext) {
            self.reply_mode = ReplyMode::On;
        }
        let mut m = self.handle.meta.lock();
        m.readonly_flag = false;
    }

    /// The fields CLIENT LIST shows, live for this client (others see the published copy).
    pub fn live_meta(&self) -> ClientMeta {
        let mut m = self.handle.meta.lock().clone();
        m.name = self.name.clone();
        m.db = self.db;
        m.kind = self.kind;
        m.proto = self.proto;
        m.last_cmd = self.last_cmd;
        m.no_evict = self.no_evict;
        m.monitor = self.monitor;
        m.reply_off = matches!(self.reply_mode, ReplyMode::Off);
        m.user = self.user;
        (m.multi, m.multi_mem) = self.multi_meta();
        (m.sub, m.psub) = (self.subs.channels.len(), self.subs.patterns.len());
        m
    }

    /// CLIENT LIST `multi=` and `multi-mem=`: queued commands (-1 outside MULTI) and their size.
    fn multi_meta(&self) -> (i64, usize) {
        match &self.multi {
            Some(t) => (t.count as i64, t.mem),
            None => (-1, 0),
        }
    }

    /// Publishes the fields other tasks read into the shared handle, with the connection's buffer
    /// sizes: unparsed query bytes and free room, reply buffer capacity and the batch just written.
    pub fn publish_meta(&self, qbuf: usize, qbuf_free: usize, rbs: usize, reply_bytes: usize) {
        let mut m = self.handle.meta.lock();
        m.name = self.name.clone();
        m.db = self.db;
        m.kind = self.kind;
        m.proto = self.proto;
        m.last_cmd = self.last_cmd;
        m.no_evict = self.no_evict;
        m.monitor = self.monitor;
        m.reply_off = matches!(self.reply_mode, ReplyMode::Off);
        m.user = self.user;
        (m.multi, m.multi_mem) = self.multi_meta();
        (m.sub, m.psub) = (self.subs.channels.len(), self.subs.patterns.len());
        m.qbuf = qbuf;
        m.qbuf_free = qbuf_free;
        m.rbs = rbs;
        m.rbp = m.rbp.max(reply_bytes);
        m.blocked = false;
        m.argv_mem = 0;
    }

    /// Shows this client as blocked on `cmd` (held back by CLIENT PAUSE) until its next batch ends.
    pub fn publish_blocked(&self, cmd: &'static str, args: &[Bytes]) {
        let mut m = self.handle.meta.lock();
        m.blocked = true;
        m.last_cmd = cmd;
        m.argv_mem = args.iter().map(|a| a.len()).sum();
    }
}

/// What CLIENT PAUSE holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    /// Nothing paused.
    Off = 0,
    /// Commands that may change the keyspace or replicate (WRITE, MAY_REPLICATE).
    Write = 1,
    /// Every command of every client except replicas (and MONITOR clients).
    All = 2,
}

/// Why clients are paused. Each purpose has its own pause, so ending one (CLIENT UNPAUSE, a
/// failover that completes) leaves the others in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PausePurpose {
    /// CLIENT PAUSE (lifted by CLIENT UNPAUSE).
    ClientCommand = 0,
    /// A SHUTDOWN waiting for its replicas to catch up.
    Shutdown = 1,
    /// A FAILOVER waiting for its target to catch up, or under way.
    Failover = 2,
}

/// The pause state shared by all connections: one pause (kind and end) per [`PausePurpose`]; the
/// pause in force is the strictest of the active ones (ALL beats WRITE), until the latest end
/// among those of that kind.
///
/// Changed only under the core lock, read by connections under the same lock before each
/// command, so a command never slips past a pause that started before it. A connection whose
/// command is held back waits in [`PauseState::wait`] without the lock.
#[derive(Default)]
pub struct PauseState {
    /// Per purpose: its kind (0 when none) and the Unix ms at which it ends by itself.
    slots: [(AtomicU8, AtomicI64); 3],
    /// Woken by UNPAUSE (and by a PAUSE that changes the state), so waiters re-check.
    changed: Notify,
}

impl PauseState {
    /// The pause in force now and when it ends (an expired pause counts as none).
    fn effective(&self) -> (PauseKind, i64) {
        let mut now = None;
        let (mut kind, mut end) = (PauseKind::Off, 0);
        for (k, e) in &self.slots {
            let k = match k.load(Ordering::Acquire) {
                0 => continue,
                1 => PauseKind::Write,
                _ => PauseKind::All,
            };
            let e = e.load(Ordering::Acquire);
            if e < *now.get_or_insert_with(crate::util::now_ms) {
                continue;
            }
            if k > kind {
                (kind, end) = (k, e);
            } else if k == kind {
                end = end.max(e);
            }
        }
        (kind, end)
    }

    /// The pause in force now.
    pub fn current(&self) -> PauseKind {
        self.effective().0
    }

    /// Pauses clients for `purpose` until `end_ms`; while that purpose's pause is in force, the
    /// stricter kind and the later end win.
    pub fn pause(&self, purpose: PausePurpose, end_ms: i64, kind: PauseKind) {
        let (k, e) = &self.slots[purpose as usize];
        let cur = k.load(Ordering::Acquire);
        let cur_end = e.load(Ordering::Acquire);
        let (kind, end_ms) = if cur != 0 && cur_end >= crate::util::now_ms() {
            ((kind as u8).max(cur), end_ms.max(cur_end))
        } else {
            (kind as u8, end_ms)
        };
        e.store(end_ms, Ordering::Release);
        k.store(kind, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Ends the pause of `purpose` (CLIENT UNPAUSE ends only CLIENT PAUSE's).
    pub fn unpause(&self, purpose: PausePurpose) {
        self.slots[purpose as usize]
            .0
            .store(PauseKind::Off as u8, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Waits until the pause ends or changes (the caller re-checks its command).
    pub async fn wait(&self) {
        let notified = self.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (kind, end) = self.effective();
        if kind == PauseKind::Off {
            return;
        }
        let left = end - crate::util::now_ms();
        let left = std::time::Duration::from_millis(left.max(0) as u64);
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(left) => {}
        }
    }
}

/// The `flags=` letters of CLIENT LIST, in Redis's order; `N` when none applies.
fn flag_letters(h: &ClientHandle, m: &ClientMeta) -> String {
    let mut f = String::new();
    if m.monitor {
        f.push('O');
    } else if m.kind == ClientKind::Replica {
        f.push('S');
    }
    if m.kind == ClientKind::Master {
        f.push('M');
    }
    if m.is_pubsub() {
        f.push('P');
    }
    if m.multi >= 0 {
        f.push('x');
    }
    if m.blocked {
        f.push('b');
    }
    if h.dirty_cas.load(Ordering::Relaxed) {
        f.push('d');
    }
    if h.is_unix_socket() {
        f.push('U');
    }
    if m.readonly_flag {
        f.push('r');
    }
    if m.no_evict {
        f.push('e');
    }
    if f.is_empty() {
        f.push('N');
    }
    f
}

/// Size of the multibulk request that carries `args` (the current command's share of `qbuf=`).
fn request_len(args: &[Bytes]) -> usize {
    let digits = |n: usize| n.to_string().len();
    let mut n = 3 + digits(args.len());
    for a in args {
        n += 3 + digits(a.len()) + a.len() + 2;
    }
    n
}

/// One line of CLIENT LIST / CLIENT INFO (without the newline), with Redis 7.0's fields in its
/// order. `current` is the command being run when the line describes the caller itself.
pub fn info_line(h: &ClientHandle, m: &ClientMeta, current: Option<&[Bytes]>) -> String {
    let now = crate::util::now_ms();
    let age = h.created.elapsed().as_secs();
    let idle = (now - h.last_interaction_ms.load(Ordering::Relaxed)).max(0) / 1000;
    let (qbuf, argv_mem) = match current {
        Some(args) => (
            m.qbuf + request_len(args),
            args.iter().map(|a| a.len()).sum::<usize>(),
        ),
        None => (m.qbuf, m.argv_mem),
    };
    let tot_mem = std::mem::size_of::<Client>()
        + qbuf
        + m.qbuf_free
        + m.rbs
        + argv_mem
        + m.multi_mem
        + m.obuf;
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl=0 oll=0 omem={} \
         tot-mem={} events=r cmd={} user={} redir=-1 resp={}",
        h.id,
        h.addr,
        h.laddr,
        h.fd,
        m.name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default(),
        age,
        idle,
        flag_letters(h, m),
        m.db,
        m.sub,
        m.psub,
        m.ssub,
        m.multi,
        qbuf,
        m.qbuf_free,
        argv_mem,
        m.multi_mem,
        m.rbs,
        m.rbp,
        m.obuf,
        tot_mem,
        m.last_cmd,
        m.user,
        match m.proto {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    )
}

/// A snapshot of the registry, in connection order (ids grow with each connection).
pub fn registered(srv: &Server) -> Vec<Arc<ClientHandle>> {
    srv.clients.lock().values().cloned().collect()
}

/// Clients held back by CLIENT PAUSE right now (INFO clients `blocked_clients` counts them, as
/// Redis counts its postponed clients).
pub fn blocked_count(srv: &Server) -> usize {
    registered(srv)
        .iter()
        .filter(|h| h.meta.lock().blocked)
        .count()
}

/// Closes another client's connection now: it leaves the registry at once (so CLIENT LIST and
/// INFO clients stop counting it, as after Redis's `freeClient`) and its task stops at its next
/// wake-up without writing anything more.
pub fn kill_client(srv: &Server, h: &ClientHandle) {
    {
        let mut clients = srv.clients.lock();
        clients.remove(&h.id);
        srv.stats
            .connected_clients
            .store(clients.len(), Ordering::Relaxed);
    }
    h.kill();
}

/// Whether a client name is acceptable: printable ASCII without spaces (CLIENT LIST stays
/// splittable on spaces). The empty name removes the current one.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_purposes_combine_and_end_separately() {
        let p = PauseState::default();
        assert_eq!(p.current(), PauseKind::Off);
        let now = crate::util::now_ms();
        p.pause(PausePurpose::Failover, i64::MAX, PauseKind::Write);
        p.pause(PausePurpose::ClientCommand, now + 60_000, PauseKind::All);
        // ALL is stricter, so its end is the one in force.
        assert_eq!(p.effective(), (PauseKind::All, now + 60_000));
        p.unpause(PausePurpose::ClientCommand);
        assert_eq!(p.effective(), (PauseKind::Write, i64::MAX));
        // An ALL pause that already ended leaves the WRITE one.
        p.pause(PausePurpose::ClientCommand, now - 1, PauseKind::All);
        assert_eq!(p.current(), PauseKind::Write);
        // Same kind: the later end.
        p.pause(PausePurpose::Shutdown, i64::MAX - 1, PauseKind::Write);
        p.unpause(PausePurpose::Failover);
        assert_eq!(p.effective(), (PauseKind::Write, i64::MAX - 1));
        p.unpause(PausePurpose::Shutdown);
        assert_eq!(p.current(), PauseKind::Off);
    }

    #[test]
    fn request_len_matches_encoding() {
        let args = [Bytes::from_static(b"client"), Bytes::from_static(b"list")];
        assert_eq!(
            request_len(&args),
            b"*2\r\n$6\r\nclient\r\n$4\r\nlist\r\n".len()
        );
    }

    #[test]
    fn client_types() {
        assert_eq!(ClientType::parse(b"SLAVE"), Some(ClientType::Replica));
        assert_eq!(ClientType::parse(b"Normal"), Some(ClientType::Normal));
        assert_eq!(ClientType::parse(b"x"), None);
        let mut m = ClientMeta::default();
        assert_eq!(m.client_type(), ClientType::Normal);
        m.sub = 1;
        assert_eq!(m.client_type(), ClientType::PubSub);
        m.kind = ClientKind::Master;
        assert_eq!(m.client_type(), ClientType::Master);
    }

    #[test]
    fn names() {
        assert!(valid_client_name(b"abc~!"));
        assert!(valid_client_name(b""));
        assert!(!valid_client_name(b"a b"));
        assert!(!valid_client_name(b"a\n"));
        assert!(!valid_client_name(&[0xc3, 0xa9]));
    }

    #[test]
    fn unix_socket_detection() {
        let h = ClientHandle::new(1, "/tmp/r.sock:0".into(), "/tmp/r.sock".into(), 5);
        assert!(h.is_unix_socket());
        assert_eq!(h.laddr, "/tmp/r.sock:0");
        assert_eq!(h.unix_path(), "/tmp/r.sock");
        let h = ClientHandle::new(1, "127.0.0.1:5000".into(), "127.0.0.1:6379".into(), 5);
        assert!(!h.is_unix_socket());
    }

    #[test]
    fn reply_skip_covers_one_command() {
        let h = ClientHandle::new(1, "a:1".into(), "b:2".into(), 5);
        let mut c = Client::new(h, true);
        c.reply_mode = ReplyMode::SkipNext; // CLIENT REPLY SKIP ran
        assert!(!c.replies_suppressed());
        c.after_command();
        assert!(c.replies_suppressed()); // the next command
        c.after_command();
        assert!(!c.replies_suppressed());
    }
}
