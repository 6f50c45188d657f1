//! Clients: the state a connection keeps for itself ([`Client`]) and the part other tasks can see
//! ([`ClientHandle`], in the server's registry) for CLIENT LIST, CLIENT KILL and INFO clients.

use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

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

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the reply of the current command (set from SkipNext).
    Skip,
}

/// Fields of a client that other tasks read (CLIENT LIST/INFO) and that change while it runs.
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    pub name: Option<Bytes>,
    pub db: usize,
    pub kind: ClientKind,
    pub proto: Proto,
    /// Full name of the last command (`client|list`).
    pub last_cmd: &'static str,
    pub multi: i64,
    pub sub: usize,
    pub psub: usize,
    pub monitor: bool,
    pub no_evict: bool,
    pub reply_off: bool,
    pub qbuf: usize,
    pub obuf: usize,
    pub readonly_flag: bool,
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
}

impl ClientHandle {
    pub fn new(id: u64, addr: String, laddr: String, fd: i32) -> Arc<Self> {
        Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_interaction_ms: AtomicI64::new(crate::util::now_ms()),
            meta: Mutex::new(ClientMeta {
                multi: -1,
                ..Default::default()
            }),
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
            net_in: AtomicU64::new(0),
            net_out: AtomicU64::new(0),
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
    /// Set by MONITOR: the connection switches to monitor mode after this batch.
    pub start_monitor: bool,
    pub handle: Arc<ClientHandle>,
}

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
            start_monitor: false,
            handle,
        }
    }

    /// Publishes the fields other tasks read into the shared handle.
    pub fn publish_meta(&self, last_cmd: &'static str, qbuf: usize) {
        let mut m = self.handle.meta.lock();
        m.name = self.name.clone();
        m.db = self.db;
        m.kind = self.kind;
        m.proto = self.proto;
        m.last_cmd = last_cmd;
        m.no_evict = self.no_evict;
        m.reply_off = matches!(self.reply_mode, ReplyMode::Off);
        m.qbuf = qbuf;
    }
}
