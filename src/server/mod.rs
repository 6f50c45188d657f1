//! The server: shared state ([`Server`]), the keyspace and its bookkeeping under one lock ([`Core`]),
//! the accept loops, the cron, and shutdown.
//!
//! # Concurrency
//! One tokio multi-thread runtime. Each connection is a task that reads, parses every complete
//! command in its buffer, then takes the [`Core`] lock once for the whole batch and runs the commands
//! in order, as Redis processes a client's query buffer. The lock is a parking_lot mutex held for
//! microseconds and never across an `.await`. The order in which batches take the lock is the order in
//! which writes are applied, and so the order of the replication stream.
//!
//! Lock order: `core` first, then `clients`, `monitors` or `config`; never the reverse.

pub mod blocking;
pub mod busypoll;
pub mod client;
pub mod connection;
pub mod listen;
pub mod notify;
pub mod pubsub;
pub mod save;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

use crate::cmd::CommandSpec;
use crate::config::Config;
use crate::db::Keyspace;
use client::{Client, ClientHandle};

/// Per-command statistics (INFO commandstats).
#[derive(Default, Debug, Clone, Copy)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// Counters kept under the core lock.
#[derive(Default, Debug)]
pub struct CoreStats {
    pub total_commands_processed: u64,
    /// Error replies by error code (INFO errorstats: `errorstat_ERR:count=1`).
    pub errorstats: BTreeMap<String, u64>,
    pub total_error_replies: u64,
    /// Indexed by the command's dense `id` (see `cmd::table`): no lookup on the command path.
    /// Sized to the table on first use.
    pub cmdstats: Vec<CmdStat>,
    /// Errors of commands that were never resolved (unknown command, arity), counted as rejected.
    pub unknown_rejected: u64,
    /// Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM), by `id` as
    /// `cmdstats`.
    pub latency_hist: Vec<crate::info::LatencyHist>,
}

impl CoreStats {
    /// The statistics of a command row (None for a row built outside the table).
    #[inline]
    pub fn cmd_mut(
        &mut self,
        spec: &CommandSpec,
    ) -> Option<(&mut CmdStat, &mut crate::info::LatencyHist)> {
        let id = spec.id as usize;
        if id >= self.cmdstats.len() {
            let n = crate::cmd::table::count();
            if id >= n {
                return None;
            }
            self.cmdstats.resize(n, CmdStat::default());
            self.latency_hist
                .resize_with(n, crate::info::LatencyHist::default);
        }
        Some((&mut self.cmdstats[id], &mut self.latency_hist[id]))
    }

    /// Commands that have statistics (called, rejected or failed at least once), with them.
    pub fn cmd_entries(
        &self,
    ) -> impl Iterator<Item = (&'static str, &CmdStat, &crate::info::LatencyHist)> {
        self.cmdstats
            .iter()
            .zip(&self.latency_hist)
            .enumerate()
            .filter(|(_, (s, _))| s.calls != 0 || s.rejected_calls != 0 || s.failed_calls != 0)
            .filter_map(|(id, (s, h))| Some((crate::cmd::table::by_id(id)?.name, s, h)))
    }

    /// The statistics of a command by its full name (`config|get`), if it has any.
    pub fn cmd_by_name(&self, name: &str) -> Option<(&CmdStat, &crate::info::LatencyHist)> {
        self.cmd_entries()
            .find(|(n, _, _)| *n == name)
            .map(|(_, s, h)| (s, h))
    }

    /// Counts an error reply by its code (the first word, as Redis's errorstats does).
    pub fn count_error(&mut self, code: &str) {
        let code = if code.is_empty() { "ERR" } else { code };
        *self.errorstats.entry(code.to_string()).or_insert(0) += 1;
        self.total_error_replies += 1;
    }

    /// Counts an error given before a command could run (unknown command, wrong arity).
    pub fn unknown_or_arity_errors(&mut self, text: &str) {
        self.count_error(text.split(' ').next().unwrap_or("ERR"));
        self.unknown_rejected += 1;
    }
}

/// One SLOWLOG entry.
#[derive(Debug, Clone)]
pub struct SlowlogEntry {
    pub id: u64,
    pub time: i64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

/// Everything the command path reads and writes under the one lock.
pub struct Core {
    pub ks: Keyspace,
    pub stats: CoreStats,
    pub slowlog: VecDeque<SlowlogEntry>,
    pub slowlog_next_id: u64,
    /// `slowlog-log-slower-than` (µs, negative disables) and `slowlog-max-len`, mirrored from the
    /// config so the command path does not take the config lock.
    pub slowlog_threshold_us: i64,
    pub slowlog_max_len: usize,
    /// LATENCY: event name → (samples of (unix s, ms)), and the max per event.
    pub latency: BTreeMap<String, VecDeque<(i64, u64)>>,
    pub latency_threshold_ms: u64,
    /// All-time highest latency per event since its last reset (LATENCY LATEST, GRAPH).
    pub latency_max: BTreeMap<String, u64>,
    /// Replication identity, offsets, backlog, replicas and the link to our master.
    pub repl: crate::replication::ReplState,
    /// What the running command propagates (see [`crate::replication`]).
    pub prop: crate::replication::Propagation,
    /// Clients blocked in BLPOP and friends (see [`blocking`]).
    pub blocking: blocking::Registry,
}

impl Core {
    /// Turns recording of the replication stream on (a backlog exists) or off: the commands'
    /// propagation and the queueing of expired keys' DELs go together.
    ///
    /// A replica never records its own commands: it forwards its master's stream as received
    /// (`ReplState::feed_raw`), so recording stays off while a master link is configured whatever
    /// `on` says; call this again after the role changes.
    pub fn set_propagation_active(&mut self, on: bool) {
        let on = on && self.repl.link.is_none();
        self.prop.active = on;
        self.ks.propagate_expired = on;
        if !on {
            self.ks.expired_pending.clear();
        }
    }

    /// Writes the DELs of keys deleted outside any command (active expiry, eviction from the cron)
    /// to the replication stream, one command each, as Redis propagates them.
    pub fn propagate_expired_now(&mut self) {
        if self.ks.expired_pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.ks.expired_pending);
        let del = crate::db::del_or_unlink(self.ks.lazy_expire);
        for (db, key) in pending {
            self.repl.propagate_now(Some(db), &[del.clone(), key]);
        }
    }

    /// Accounting after a command ran: commandstats, slowlog, latency monitor.
    pub fn record_call(
        &mut self,
        spec: &'static CommandSpec,
        args: &[Bytes],
        client: &Client,
        elapsed_us: u64,
        failed: bool,
    ) {
        self.stats.total_commands_processed += 1;
        if let Some((st, hist)) = self.stats.cmd_mut(spec) {
            st.calls += 1;
            st.usec += elapsed_us;
            if failed {
                st.failed_calls += 1;
            }
            hist.record_us(elapsed_us);
        }
        if self.slowlog_threshold_us >= 0
            && elapsed_us as i64 >= self.slowlog_threshold_us
            && spec.flags & crate::cmd::flags::SKIP_SLOWLOG == 0
        {
            self.slowlog_push(args, client, elapsed_us);
        }
        let ms = elapsed_us / 1000;
        if self.latency_threshold_ms > 0 && ms >= self.latency_threshold_ms {
            let ev = if spec.flags & crate::cmd::flags::FAST != 0 {
                "fast-command"
            } else {
                "command"
            };
            self.latency_add(ev, ms);
        }
    }

    fn slowlog_push(&mut self, args: &[Bytes], client: &Client, elapsed_us: u64) {
        // Redis keeps at most 32 arguments and 128 bytes of each.
        let mut kept: Vec<Bytes> = Vec::new();
        let max_args = 32;
        for (i, a) in args.iter().enumerate() {
            let a: &[u8] = client.arg_for_log(i, a);
            if i == max_args - 1 && args.len() > max_args {
                kept.push(Bytes::from(format!(
                    "... ({} more arguments)",
                    args.len() - max_args + 1
                )));
                break;
            }
            if a.len() > 128 {
                let mut v = a[..128].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                kept.push(Bytes::from(v));
            } else {
                kept.push(Bytes::copy_from_slice(a));
            }
        }
        let name = client
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        self.slowlog.push_front(SlowlogEntry {
            id: self.slowlog_next_id,
            time: crate::util::now_ms() / 1000,
            duration_us: elapsed_us,
            args: kept,
            peer: client.handle.addr.clone(),
            name,
        });
        self.slowlog_next_id += 1;
        while self.slowlog.len() > self.slowlog_max_len {
            self.slowlog.pop_back();
        }
    }

    /// Adds a latency sample (LATENCY LATEST/HISTORY), keeping 160 per event like Redis.
    pub fn latency_add(&mut self, event: &str, ms: u64) {
        let now = crate::util::now_ms() / 1000;
        let max = self.latency_max.entry(event.to_string()).or_insert(0);
        *max = (*max).max(ms);
        let q = self.latency.entry(event.to_string()).or_default();
        if let Some(last) = q.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        q.push_back((now, ms));
        while q.len() > 160 {
            q.pop_front();
        }
    }
}

/// Counters updated outside the core lock.
#[derive(Default)]
pub struct ServerStats {
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub connected_clients: AtomicUsize,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub client_recent_max_input_buffer: AtomicUsize,
    pub client_recent_max_output_buffer: AtomicUsize,
    /// Reads from and writes to client sockets (INFO `total_reads_processed`/`_writes_`).
    pub total_reads_processed: AtomicU64,
    pub total_writes_processed: AtomicU64,
}

/// The server's shared state.
pub struct Server {
    pub core: Mutex<Core>,
    /// Keeps the event loop polling between requests under load (`busy-poll-us`).
    pub busy_poll: busypoll::BusyPoll,
    pub config: RwLock<Config>,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    pub next_client_id: AtomicU64,
    pub stats: ServerStats,
    /// `run_id`: 40 random hex characters, new at every start.
    pub run_id: String,
    pub started: Instant,
    pub started_unix_ms: i64,
    pub pid: u32,
    /// Absolute path of the executable and of the config file (INFO server, CONFIG REWRITE).
    pub executable: String,
    pub config_file: Option<std::path::PathBuf>,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub lastsave: AtomicU64,
    /// A handle on ourselves, for commands that start background work (BGSAVE).
    me: std::sync::Weak<Server>,
    /// SAVE/BGSAVE/save-point state ([`save`]).
    pub save: Mutex<save::SaveState>,
    /// The last save failed: with `stop-writes-on-bgsave-error`, writes get -MISCONF.
    pub bgsave_failed: std::sync::atomic::AtomicBool,
    /// The start-up load of the dump file: while it runs, commands without the `loading` flag get
    /// -LOADING and INFO persistence shows its progress.
    pub loading: save::LoadingState,
    /// Ports actually bound (port 0 in tests binds an ephemeral one).
    pub bound_port: AtomicU64,
    /// CLIENT PAUSE: connections hold paused commands back until it ends.
    pub pause: client::PauseState,
    /// Pub/sub channel and pattern subscribers (taken after `core`).
    pub pubsub: Mutex<pubsub::Registry>,
    monitors: Mutex<Vec<(u64, mpsc::UnboundedSender<Bytes>)>>,
    monitor_count: AtomicUsize,
    shutdown_tx: watch::Sender<bool>,
    /// SHUTDOWN flags requested by the command (NOSAVE/SAVE/...); read by the shutdown sequence.
    pub shutdown_request: Mutex<Option<ShutdownRequest>>,
    /// Sampled rates and memory peak for INFO (filled by `info::metrics_cron`).
    pub inst_metrics: crate::info::InstMetrics,
    /// CONFIG SET port/bind asks the listener task to rebind through this channel.
    pub rebind_tx: mpsc::UnboundedSender<listen::RebindRequest>,
    /// The receiving end, taken by [`listen::run`].
    pub rebind_rx: Mutex<Option<mpsc::UnboundedReceiver<listen::RebindRequest>>>,
    /// Wakes the background eviction task when an eviction call stopped on its time limit.
    pub evict_wake: tokio::sync::Notify,
}

/// How a SHUTDOWN asked to stop.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShutdownRequest {
    pub nosave: bool,
    pub save: bool,
    pub now: bool,
    pub force: bool,
}

fn random_hex40() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("digit < 16"))
        .collect()
}

impl Server {
    pub fn new(config: Config, config_file: Option<std::path::PathBuf>) -> Arc<Server> {
        let mut ks = Keyspace::new(config.databases);
        ks.thresholds = crate::cmd::server::thresholds(&config);
        configure_eviction(&mut ks, &config);
        ks.notify.set_flags(config.notify_keyspace_events.0);
        let mut core = Core {
            ks,
            stats: CoreStats::default(),
            slowlog: VecDeque::new(),
            slowlog_next_id: 0,
            slowlog_threshold_us: config.slowlog_log_slower_than,
            slowlog_max_len: config.slowlog_max_len,
            latency: BTreeMap::new(),
            latency_threshold_ms: config.latency_monitor_threshold,
            latency_max: BTreeMap::new(),
            repl: crate::replication::ReplState::default(),
            prop: crate::replication::Propagation::default(),
            blocking: blocking::Registry::default(),
        };
        core.repl.min_replicas_to_write = config.min_replicas_to_write.max(0) as usize;
        core.repl.min_replicas_max_lag = config.min_replicas_max_lag.max(0);
        let (shutdown_tx, _) = watch::channel(false);
        let (rebind_tx, rebind_rx) = mpsc::unbounded_channel();
        Arc::new_cyclic(|me| Server {
            me: me.clone(),
            core: Mutex::new(core),
            busy_poll: busypoll::BusyPoll::new(config.busy_poll_us),
            config: RwLock::new(config),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            stats: ServerStats::default(),
            run_id: random_hex40(),
            started: Instant::now(),
            started_unix_ms: crate::util::now_ms(),
            pid: std::process::id(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_file,
            lastsave: AtomicU64::new((crate::util::now_ms() / 1000) as u64),
            save: Mutex::new(save::SaveState::default()),
            bgsave_failed: std::sync::atomic::AtomicBool::new(false),
            loading: save::LoadingState::default(),
            bound_port: AtomicU64::new(0),
            pause: client::PauseState::default(),
            pubsub: Mutex::new(pubsub::Registry::default()),
            monitors: Mutex::new(Vec::new()),
            monitor_count: AtomicUsize::new(0),
            shutdown_tx,
            shutdown_request: Mutex::new(None),
            inst_metrics: crate::info::InstMetrics::default(),
            rebind_tx,
            rebind_rx: Mutex::new(Some(rebind_rx)),
            evict_wake: tokio::sync::Notify::new(),
        })
    }

    /// The `Arc` this server lives in.
    pub fn self_arc(&self) -> Arc<Server> {
        self.me.upgrade().expect("the server outlives its commands")
    }

    /// A receiver that turns true when the server begins to shut down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// Starts the shutdown sequence (SIGTERM, SIGINT, SHUTDOWN).
    pub fn begin_shutdown(&self, req: ShutdownRequest) {
        *self.shutdown_request.lock() = Some(req);
        self.shutdown_tx.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown_tx.borrow()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    #[inline]
    pub fn monitors_active(&self) -> bool {
        self.monitor_count.load(Ordering::Relaxed) > 0
    }

    pub fn add_monitor(&self, id: u64) -> mpsc::UnboundedReceiver<Bytes> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut m = self.monitors.lock();
        m.push((id, tx));
        self.monitor_count.store(m.len(), Ordering::Relaxed);
        rx
    }

    pub fn remove_monitor(&self, id: u64) {
        let mut m = self.monitors.lock();
        m.retain(|(i, _)| *i != id);
        self.monitor_count.store(m.len(), Ordering::Relaxed);
    }

    /// Sends one executed command to every MONITOR client, in Redis's line format:
    /// `+1700000000.123456 [0 127.0.0.1:50000] "set" "k" "v"` (`[0 unix:/path]` for a unix-socket
    /// client; passwords shown as `"(redacted)"`). Returns the line when `client` is itself a
    /// monitor: the caller appends it to that client's replies, so it follows the command's reply.
    pub fn feed_monitors(&self, client: &Client, args: &[Bytes]) -> Option<Bytes> {
        let us = crate::util::now_us();
        let mut line = if client.handle.is_unix_socket() {
            format!(
                "+{}.{:06} [{} unix:{}]",
                us / 1_000_000,
                us % 1_000_000,
                client.db,
                client.handle.unix_path()
            )
        } else {
            format!(
                "+{}.{:06} [{} {}]",
                us / 1_000_000,
                us % 1_000_000,
                client.db,
                client.handle.addr
            )
        };
        for (i, a) in args.iter().enumerate() {
            line.push(' ');
            line.push_str(&repr(client.arg_for_log(i, a)));
        }
        line.push_str("\r\n");
        let line = Bytes::from(line);
        let mut m = self.monitors.lock();
        m.retain(|(id, tx)| *id == client.id || tx.send(line.clone()).is_ok());
        self.monitor_count.store(m.len(), Ordering::Relaxed);
        // A monitor's own command: its line goes into its own reply stream, after the reply.
        client.monitor.then_some(line)
    }

    /// The port clients reach us on (the bound one when `port 0` was asked for).
    pub fn port(&self) -> u16 {
        self.bound_port.load(Ordering::Relaxed) as u16
    }
}

/// Quotes a string as Redis's `sdscatrepr` does: `"..."` with `\n`, `\r`, `\t`, `\a`, `\b`, `\\`, `\"`
/// and `\xHH` for other non-printable bytes.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

/// Raises the open-file limit to fit `maxclients` plus Redis's 32 reserved descriptors, as Redis does
/// at start-up; returns the limit in force.
pub fn adjust_open_files_limit(maxclients: u64) -> u64 {
    let want = maxclients + 32;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return want;
        }
        if lim.rlim_cur >= want {
            return lim.rlim_cur;
        }
        let target = if lim.rlim_max != libc::RLIM_INFINITY && lim.rlim_max < want {
            lim.rlim_max
        } else {
            want
        };
        let new = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max.max(target),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
            return target;
        }
        lim.rlim_cur
    }
}

/// The periodic tasks Redis's `serverCron` runs: active expiry (`hz` times a second) and idle-client
/// timeouts.
pub async fn cron(srv: Arc<Server>) {
    tokio::spawn(eviction_proc(srv.clone()));
    let mut shutdown = srv.shutdown_signal();
    let mut last_clients_check = Instant::now();
    loop {
        let hz = srv.config.read().hz.clamp(1, 500);
        let period = Duration::from_millis(1000 / hz);
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
        let active_expire = srv.config.read().active_expire_enabled;
        // No key expires while clients are paused (their writes are held back).
        if active_expire && srv.pause.current() == client::PauseKind::Off {
            // Redis gives the slow cycle 25% of the period.
            let budget = period.as_micros() as u64 / 4;
            let mut core = srv.core.lock();
            core.ks.active_expire_cycle(budget);
            core.propagate_expired_now();
            notify::deliver_detached(&srv, &mut core.ks);
        }
        {
            let mut core = srv.core.lock();
            save::check_save_points(&srv, &mut core);
            crate::replication::master::cron(&srv, &mut core);
            let now = crate::util::now_ms();
            core.repl.refresh_good_replicas(now);
        }
        if last_clients_check.elapsed() >= Duration::from_secs(1) {
            last_clients_check = Instant::now();
            let timeout = srv.config.read().timeout;
            if timeout > 0 {
                let now = crate::util::now_ms();
                for h in srv.clients.lock().values() {
                    // Replicas, masters, MONITOR and subscribed clients never time out.
                    let normal = {
                        let m = h.meta.lock();
                        m.client_type() == client::ClientType::Normal && !m.monitor && !m.blocked
                    };
                    let idle = now - h.last_interaction_ms.load(Ordering::Relaxed);
                    if normal && idle > timeout as i64 * 1000 {
                        tracing::debug!("Closing idle client");
                        h.kill();
                    }
                }
            }
        }
    }
}

/// Mirrors the eviction directives into the keyspace (start-up and CONFIG SET), where the command
/// path reads them without the config lock.
pub fn configure_eviction(ks: &mut Keyspace, c: &Config) {
    ks.evict.configure(
        c.maxmemory,
        &c.maxmemory_policy,
        c.maxmemory_samples,
        c.maxmemory_eviction_tenacity,
        c.lfu_log_factor,
        c.lfu_decay_time,
    );
    ks.evict.replica_ignore_maxmemory = c.replica_ignore_maxmemory;
    ks.lazy_expire = c.lazyfree_lazy_expire;
    ks.lazy_server_del = c.lazyfree_lazy_server_del;
    ks.lazy_eviction = c.lazyfree_lazy_eviction;
    ks.lazy_user_del = c.lazyfree_lazy_user_del;
    // Allocations are counted only while a limit needs the figure before every command.
    crate::alloc::set_counting(c.maxmemory != 0);
}

/// Memory left out of the maxmemory comparison (`mem_not_counted_for_evict`): the replication
/// buffer beyond `repl-backlog-size`, which exists only for replicas that lag. Counting it would feed
/// back (evictions make DELs, DELs grow the buffer). Per-replica output buffers and an AOF buffer,
/// if ferredis grows them, are added here too.
pub fn mem_not_counted_for_evict(core: &Core) -> u64 {
    core.repl
        .backlog
        .as_ref()
        .map(|b| b.histlen().saturating_sub(b.backlog_size()))
        .unwrap_or(0)
}

/// Evicts keys when `maxmemory` is exceeded (Redis's `performEvictions`), if eviction may run now:
/// not while the dump file loads, not on a replica that ignores maxmemory, not while clients are
/// paused (the dataset must stay still). Evicted keys' DELs are written to the replication stream
/// at once, one by one, as Redis propagates them (no MULTI). A call cut short by its time limit
/// wakes the background task that continues it.
pub fn perform_evictions(srv: &Server, core: &mut Core) -> crate::db::evict::EvictResult {
    use crate::db::evict::EvictResult;
    let ks = &core.ks;
    if ks.evict.maxmemory == 0
        || srv.loading.is_loading()
        || (ks.is_replica && ks.evict.replica_ignore_maxmemory)
        || srv.pause.current() != client::PauseKind::Off
    {
        return EvictResult::Ok;
    }
    let pending = core.ks.expired_pending.len();
    let evicted_before = core.ks.stats.evicted_keys;
    let not_counted = mem_not_counted_for_evict(core);
    let result = core.ks.perform_evictions(not_counted);
    if core.ks.expired_pending.len() > pending || core.ks.stats.evicted_keys > evicted_before {
        // The `evicted` events, delivered now: eviction runs before (or without) any command.
        notify::deliver_detached(srv, &mut core.ks);
    }
    if core.ks.expired_pending.len() > pending {
        let del = crate::db::del_or_unlink(core.ks.lazy_eviction);
        let evicted: Vec<(usize, Bytes)> = core.ks.expired_pending.drain(pending..).collect();
        // A replica's stream is its master's bytes: what it evicts itself is not forwarded.
        if !core.ks.is_replica {
            for (db, key) in evicted {
                core.repl.propagate_now(Some(db), &[del.clone(), key]);
            }
        }
    }
    if result == EvictResult::Running {
        srv.evict_wake.notify_one();
    }
    result
}

/// Continues an eviction that stopped on its time limit, one call per turn of the scheduler, until
/// the memory is under the limit (Redis's eviction time proc).
async fn eviction_proc(srv: Arc<Server>) {
    use crate::db::evict::EvictResult;
    let mut shutdown = srv.shutdown_signal();
    loop {
        tokio::select! {
            _ = srv.evict_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        loop {
            let result = {
                let mut core = srv.core.lock();
                let r = perform_evictions(&srv, &mut core);
                if r != EvictResult::Running {
                    core.ks.evict.proc_running = false;
                }
                r
            };
            if result != EvictResult::Running {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod evict_tests {
    use super::*;
    use crate::db::evict::EvictResult;

    #[test]
    fn evicted_keys_reach_the_replication_stream_as_dels() {
        let cfg = Config {
            maxmemory: 1,
            maxmemory_policy: "allkeys-random".into(),
            ..Config::default()
        };
        let srv = Server::new(cfg, None);
        let mut core = srv.core.lock();
        core.repl.ensure_backlog(1 << 20);
        core.set_propagation_active(true);
        for i in 0..3 {
            core.ks.set(
                2,
                Bytes::from(format!("k{i}")),
                crate::db::Value::Int(i),
                crate::db::NO_EXPIRE,
            );
        }
        // Everything goes and the limit is still exceeded: commands would get -OOM.
        assert_eq!(perform_evictions(&srv, &mut core), EvictResult::Fail);
        assert_eq!(core.ks.total_keys(), 0);
        assert_eq!(core.ks.stats.evicted_keys, 3);
        assert!(core.ks.expired_pending.is_empty());
        let b = core.repl.backlog.as_mut().expect("backlog");
        let start = b.start_offset();
        let mut out = Vec::new();
        b.read(start, usize::MAX, &mut out);
        let text = String::from_utf8_lossy(&out.concat()).into_owned();
        assert!(
            text.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"),
            "{text:?}"
        );
        assert_eq!(text.matches("*2\r\n$3\r\nDEL\r\n").count(), 3, "{text:?}");
        assert!(!text.contains("MULTI"), "{text:?}");
        // A replica that ignores maxmemory (the default) evicts nothing.
        core.ks.is_replica = true;
        core.ks
            .set(0, Bytes::from_static(b"r"), crate::db::Value::Int(1), -1);
        assert_eq!(perform_evictions(&srv, &mut core), EvictResult::Ok);
        assert_eq!(core.ks.total_keys(), 1);
    }
}
