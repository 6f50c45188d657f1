//! INFO: every section Redis 7.0 prints, with its field names in its order, filled from ferredis's
//! own state. A field whose concept ferredis does not have yet (Lua, AOF, forks, tracking, ...) prints
//! the value an idle Redis prints for it, so tools that parse INFO see a well-formed, truthful report.
//!
//! Also here: the instantaneous metrics (`instantaneous_ops_per_sec`, `..._kbps`), sampled every
//! 100 ms by [`metrics_cron`] as Redis's `serverCron` does, the memory peak, and the per-command
//! latency histograms behind `latencystats`.

use parking_lot::Mutex;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::{CmdStat, Core, Server};

/// The version tools check (`redis_version`); ferredis answers as the Redis it replaces.
pub const REDIS_VERSION: &str = "7.0.15";

/// Samples kept per instantaneous metric (Redis's `STATS_METRIC_SAMPLES`).
const METRIC_SAMPLES: usize = 16;

/// One instantaneous metric: a ring of per-second rates computed every sample period.
#[derive(Default)]
struct Metric {
    last_time: Option<Instant>,
    last_value: u64,
    samples: [u64; METRIC_SAMPLES],
    idx: usize,
}

impl Metric {
    fn track(&mut self, now: Instant, value: u64) {
        if let Some(t) = self.last_time {
            let ms = now.duration_since(t).as_millis() as u64;
            // Integer rates, averaged with integer division, as Redis computes them.
            let delta = value.saturating_sub(self.last_value);
            if let Some(rate) = (delta * 1000).checked_div(ms) {
                self.samples[self.idx] = rate;
                self.idx = (self.idx + 1) % METRIC_SAMPLES;
            }
        }
        self.last_time = Some(now);
        self.last_value = value;
    }

    fn rate(&self) -> u64 {
        self.samples.iter().sum::<u64>() / METRIC_SAMPLES as u64
    }
}

#[derive(Default)]
struct Metrics {
    ops: Metric,
    net_in: Metric,
    net_out: Metric,
    /// Replication bytes received from our master and sent to replicas.
    repl_in: Metric,
    repl_out: Metric,
}

/// Server-wide figures INFO needs that are neither counters under the core lock nor config: the
/// sampled instantaneous rates, the memory peak and the memory in use at start-up.
#[derive(Default)]
pub struct InstMetrics {
    metrics: Mutex<Metrics>,
    /// `used_memory_peak`.
    pub peak_memory: AtomicU64,
    /// `used_memory_startup`: allocated bytes once the server was ready, before any client.
    pub startup_memory: AtomicU64,
}

impl InstMetrics {
    /// Records the allocator's current figure into the peak; returns the current figure.
    pub fn update_peak(&self) -> u64 {
        let used = crate::alloc::used_memory();
        self.peak_memory.fetch_max(used, Ordering::Relaxed);
        used
    }

    /// CONFIG RESETSTAT: forget the peak (it restarts from the current figure) and the samples.
    pub fn reset(&self) {
        self.peak_memory
            .store(crate::alloc::used_memory(), Ordering::Relaxed);
        *self.metrics.lock() = Metrics::default();
    }

    pub fn ops_per_sec(&self) -> u64 {
        self.metrics.lock().ops.rate()
    }
}

/// Samples the instantaneous metrics and the memory peak every 100 ms, and the clients' buffer
/// peaks every second, until shutdown.
pub async fn metrics_cron(srv: Arc<Server>) {
    let m = &srv.inst_metrics;
    m.startup_memory
        .store(crate::alloc::used_memory(), Ordering::Relaxed);
    let mut shutdown = srv.shutdown_signal();
    // Per-second peaks of client buffers over the last 8 seconds (Redis's "recent max").
    let mut peaks = [(0usize, 0usize); 8];
    let mut tick: u64 = 0;
    loop {
        if tick.is_multiple_of(10) {
            let (mut qbuf, mut obuf) = (0, 0);
            for h in srv.clients.lock().values() {
                let m = h.meta.lock();
                qbuf = qbuf.max(m.qbuf);
                obuf = obuf.max(m.obuf);
            }
            peaks[(tick / 10) as usize % peaks.len()] = (qbuf, obuf);
            let st = &srv.stats;
            st.client_recent_max_input_buffer.store(
                peaks.iter().map(|p| p.0).max().unwrap_or(0),
                Ordering::Relaxed,
            );
            st.client_recent_max_output_buffer.store(
                peaks.iter().map(|p| p.1).max().unwrap_or(0),
                Ordering::Relaxed,
            );
        }
        tick += 1;
        let (ops, repl_in, repl_out) = {
            let core = srv.core.lock();
            (
                core.stats.total_commands_processed,
                core.repl.stats.net_repl_input_bytes,
                core.repl.stats.net_repl_output_bytes,
            )
        };
        let now = Instant::now();
        {
            let mut s = m.metrics.lock();
            s.ops.track(now, ops);
            s.net_in
                .track(now, srv.stats.net_input_bytes.load(Ordering::Relaxed));
            s.net_out
                .track(now, srv.stats.net_output_bytes.load(Ordering::Relaxed));
            s.repl_in.track(now, repl_in);
            s.repl_out.track(now, repl_out);
        }
        m.update_peak();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A latency histogram with HDR's layout at 2 significant figures (values in nanoseconds, 256
/// sub-buckets), so that percentiles come out exactly as Redis's `latencystats` prints them.
#[derive(Default, Debug, Clone)]
pub struct LatencyHist {
    /// Count per bucket, by bucket index (see [`LatencyHist::index`]): a flat array, so recording
    /// is an increment. Empty until the first sample.
    buckets: Vec<u64>,
    total: u64,
}

impl LatencyHist {
    const MAX_NS: u64 = 1_000_000_000;
    /// Values below 256 have a bucket each; above, 128 buckets per power of two up to 2^30.
    const BUCKETS: usize = 256 + (30 - 8) * 128;

    /// (lowest equivalent value, bucket width) of `v`.
    fn bucket(v: u64) -> (u64, u64) {
        let magnitude = 64 - (v | 255).leading_zeros() as u64;
        let shift = magnitude - 8;
        ((v >> shift) << shift, 1 << shift)
    }

    /// The bucket index of `v` (at most `MAX_NS`); indexes grow with the values.
    fn index(v: u64) -> usize {
        let magnitude = 64 - (v | 255).leading_zeros() as u64;
        if magnitude <= 8 {
            v as usize
        } else {
            let shift = magnitude - 8;
            256 + (magnitude as usize - 9) * 128 + ((v >> shift) as usize - 128)
        }
    }

    /// The lowest value of the bucket at `i` (inverse of [`LatencyHist::index`]).
    fn low_of(i: usize) -> u64 {
        if i < 256 {
            i as u64
        } else {
            let magnitude = (i - 256) / 128 + 9;
            let top = ((i - 256) % 128 + 128) as u64;
            top << (magnitude - 8)
        }
    }

    /// (lowest equivalent value, count) of the buckets that have samples, in value order.
    fn filled(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, &n)| n != 0)
            .map(|(i, &n)| (Self::low_of(i), n))
    }

    /// Records one command duration given in microseconds.
    #[inline]
    pub fn record_us(&mut self, us: u64) {
        let ns = us.saturating_mul(1000).clamp(1, Self::MAX_NS);
        if self.buckets.is_empty() {
            self.buckets = vec![0; Self::BUCKETS];
        }
        if let Some(b) = self.buckets.get_mut(Self::index(ns)) {
            *b += 1;
        }
        self.total += 1;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The value at a percentile, in nanoseconds (the highest value equivalent to the bucket).
    pub fn percentile_ns(&self, p: f64) -> u64 {
        let want = ((p.min(100.0) / 100.0) * self.total as f64 + 0.5) as u64;
        let want = want.max(1);
        let mut seen = 0;
        for (low, n) in self.filled() {
            seen += n;
            if seen >= want {
                let (low, width) = Self::bucket(low);
                return low + width - 1;
            }
        }
        0
    }

    /// LATENCY HISTOGRAM's buckets: reporting levels at 1024 ns doubling, each printed as the highest
    /// value equivalent to the level in microseconds, with the cumulative count of samples up to
    /// it; levels no sample reached are left out.
    pub fn cumulative_pow2(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut seen = 0;
        let mut level: u64 = 1024;
        for (low, n) in self.filled() {
            while low > level {
                level *= 2;
            }
            seen += n;
            let (l, width) = Self::bucket(level);
            let key = (l + width - 1) / 1000;
            match out.last_mut() {
                Some(last) if last.0 == key => last.1 = seen,
                _ => out.push((key, seen)),
            }
        }
        out
    }
}

/// Redis's `bytesToHuman`: `123B`, `1.50K`, `2.00M`, ...
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else if d < K * K * K * K * K * K {
        format!("{:.2}P", d / (K * K * K * K * K))
    } else {
        format!("{n}B")
    }
}

/// The sections INFO can print, in the order it prints them.
const ORDER: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections the INFO arguments select (no arguments means `default`; unknown names select
/// nothing, as in Redis).
pub fn select_sections(args: &[&[u8]]) -> Vec<&'static str> {
    let mut want = std::collections::HashSet::new();
    if args.is_empty() {
        want.extend(DEFAULT.iter().copied());
    }
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => want.extend(DEFAULT.iter().copied()),
            "all" | "everything" => want.extend(ORDER.iter().copied()),
            s => {
                if let Some(n) = ORDER.iter().find(|n| **n == s) {
                    want.insert(*n);
                }
            }
        }
    }
    ORDER.iter().copied().filter(|s| want.contains(s)).collect()
}

/// Builds the INFO text for the selected sections. Called with the core lock held.
pub fn render(srv: &Server, core: &Core, sections: &[&str]) -> String {
    let mut out = String::with_capacity(4096);
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        match *s {
            "server" => server(&mut out, srv),
            "clients" => clients(&mut out, srv, core),
            "memory" => memory(&mut out, srv, core),
            "persistence" => persistence(&mut out, srv, core),
            "stats" => stats(&mut out, srv, core),
            "replication" => core
                .repl
                .info(&mut out, &srv.config.read(), crate::util::now_ms()),
            "cpu" => cpu(&mut out),
            "modules" => out.push_str("# Modules\r\n"),
            "commandstats" => commandstats(&mut out, core),
            "errorstats" => errorstats(&mut out, core),
            "latencystats" => latencystats(&mut out, core),
            "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => keyspace(&mut out, core),
            _ => {}
        }
    }
    out
}

/// Appends `name:value\r\n`.
macro_rules! field {
    ($out:expr, $name:expr, $($v:tt)*) => {{
        let _ = write!($out, "{}:", $name);
        let _ = write!($out, $($v)*);
        $out.push_str("\r\n");
    }};
}

fn uname() -> String {
    // SAFETY: uname fills a zeroed struct of NUL-terminated fields.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        let f = |a: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(a.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
    }
}

/// A build id stable for a given ferredis version (Redis derives its from build details).
fn build_id() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in concat!("ferredis-", env!("CARGO_PKG_VERSION")).bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{:x}", h >> 4)
}

fn server(out: &mut String, srv: &Server) {
    let cfg = srv.config.read();
    out.push_str("# Server\r\n");
    field!(out, "redis_version", "{REDIS_VERSION}");
    field!(out, "redis_git_sha1", "00000000");
    field!(out, "redis_git_dirty", "0");
    field!(out, "redis_build_id", "{}", build_id());
    field!(out, "redis_mode", "standalone");
    field!(out, "os", "{}", uname());
    field!(out, "arch_bits", "{}", usize::BITS);
    field!(out, "monotonic_clock", "POSIX clock_gettime");
    field!(out, "multiplexing_api", "epoll");
    field!(out, "atomicvar_api", "c11-builtin");
    // Redis prints the gcc that built it; ferredis is not built by gcc, and Redis prints 0.0.0 then.
    field!(out, "gcc_version", "0.0.0");
    field!(out, "process_id", "{}", srv.pid);
    field!(out, "process_supervised", "no");
    field!(out, "run_id", "{}", srv.run_id);
    field!(out, "tcp_port", "{}", srv.port());
    field!(out, "server_time_usec", "{}", crate::util::now_us());
    let up = srv.uptime_secs();
    field!(out, "uptime_in_seconds", "{up}");
    field!(out, "uptime_in_days", "{}", up / 86400);
    field!(out, "hz", "{}", cfg.hz);
    field!(out, "configured_hz", "{}", cfg.hz);
    field!(out, "lru_clock", "{}", crate::db::lru_clock());
    field!(out, "executable", "{}", srv.executable);
    let cf = srv
        .config_file
        .as_ref()
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .unwrap_or_default();
    field!(out, "config_file", "{cf}");
    field!(out, "io_threads_active", "0");
    field!(out, "ferredis_version", "{}", env!("CARGO_PKG_VERSION"));
}

/// `core` gives the attached replicas (which Redis does not count as connected clients) and the
/// blocked clients with a timeout.
fn clients(out: &mut String, srv: &Server, core: &Core) {
    let maxclients = srv.config.read().maxclients;
    let replicas = core.repl.replicas.len();
    let st = &srv.stats;
    out.push_str("# Clients\r\n");
    field!(
        out,
        "connected_clients",
        "{}",
        st.connected_clients
            .load(Ordering::Relaxed)
            .saturating_sub(replicas)
    );
    field!(out, "cluster_connections", "0");
    field!(out, "maxclients", "{maxclients}");
    field!(
        out,
        "client_recent_max_input_buffer",
        "{}",
        st.client_recent_max_input_buffer.load(Ordering::Relaxed)
    );
    field!(
        out,
        "client_recent_max_output_buffer",
        "{}",
        st.client_recent_max_output_buffer.load(Ordering::Relaxed)
    );
    // Blocked in BLPOP and friends, or held back by CLIENT PAUSE (Redis counts both).
    field!(
        out,
        "blocked_clients",
        "{}",
        crate::server::client::blocked_count(srv)
    );
    field!(out, "tracking_clients", "0");
    field!(out, "clients_in_timeout_table", "{}", core.blocking.timed());
}

/// Memory figures shared by INFO memory and MEMORY STATS.
pub struct MemFigures {
    pub used: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
    pub overhead: u64,
    pub dataset: u64,
    pub clients_normal: u64,
    pub alloc: crate::alloc::AllocStats,
    /// Per database with keys: (db, main table overhead, expires overhead).
    pub db_overheads: Vec<(usize, u64, u64)>,
    pub keys: u64,
}

impl MemFigures {
    pub fn dataset_perc(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup);
        if net == 0 {
            0.0
        } else {
            self.dataset as f64 * 100.0 / net as f64
        }
    }

    pub fn peak_perc(&self) -> f64 {
        if self.peak == 0 {
            0.0
        } else {
            self.used as f64 * 100.0 / self.peak as f64
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

/// Gathers the memory figures. The per-database overhead is the hash table's slots and entries, as
/// Redis counts its dict buckets and entries.
pub fn mem_figures(srv: &Server, core: &Core) -> MemFigures {
    let alloc = crate::alloc::stats();
    // The same counter eviction compares with maxmemory.
    let used = crate::alloc::used_memory();
    srv.inst_metrics
        .peak_memory
        .fetch_max(used, Ordering::Relaxed);
    let peak = srv.inst_metrics.peak_memory.load(Ordering::Relaxed);
    let startup = srv.inst_metrics.startup_memory.load(Ordering::Relaxed);
    let clients_normal: u64 = srv
        .clients
        .lock()
        .values()
        .map(|h| {
            let m = h.meta.lock();
            (m.qbuf + m.obuf) as u64
        })
        .sum();
    let mut db_overheads = Vec::new();
    let mut keys = 0u64;
    let mut overhead = startup + clients_normal;
    for (i, db) in core.ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        keys += db.len() as u64;
        // A slot pointer per bucket plus an entry per key, for the main table and the expires index.
        let main = (db.len().next_power_of_two() * 8 + db.len() * 24) as u64;
        let exp = if db.expires.is_empty() {
            0
        } else {
            (db.expires.len().next_power_of_two() * 8 + db.expires.len() * 24) as u64
        };
        overhead += main + exp;
        db_overheads.push((i, main, exp));
    }
    let overhead = overhead.min(used);
    MemFigures {
        used,
        rss: crate::alloc::rss(),
        peak: peak.max(used),
        startup,
        overhead,
        dataset: used - overhead,
        clients_normal,
        alloc,
        db_overheads,
        keys,
    }
}

fn memory(out: &mut String, srv: &Server, core: &Core) {
    let m = mem_figures(srv, core);
    let a = m.alloc;
    let total_mem = crate::alloc::total_system_memory();
    out.push_str("# Memory\r\n");
    field!(out, "used_memory", "{}", m.used);
    field!(out, "used_memory_human", "{}", bytes_to_human(m.used));
    field!(out, "used_memory_rss", "{}", m.rss);
    field!(out, "used_memory_rss_human", "{}", bytes_to_human(m.rss));
    field!(out, "used_memory_peak", "{}", m.peak);
    field!(out, "used_memory_peak_human", "{}", bytes_to_human(m.peak));
    field!(out, "used_memory_peak_perc", "{:.2}%", m.peak_perc());
    field!(out, "used_memory_overhead", "{}", m.overhead);
    field!(out, "used_memory_startup", "{}", m.startup);
    field!(out, "used_memory_dataset", "{}", m.dataset);
    field!(out, "used_memory_dataset_perc", "{:.2}%", m.dataset_perc());
    field!(out, "allocator_allocated", "{}", a.allocated);
    field!(out, "allocator_active", "{}", a.active);
    field!(out, "allocator_resident", "{}", a.resident);
    field!(out, "total_system_memory", "{total_mem}");
    field!(
        out,
        "total_system_memory_human",
        "{}",
        bytes_to_human(total_mem)
    );
    // No Lua or function engine yet: their memory is nothing.
    field!(out, "used_memory_lua", "0");
    field!(out, "used_memory_vm_eval", "0");
    field!(out, "used_memory_lua_human", "0B");
    field!(out, "used_memory_scripts_eval", "0");
    field!(out, "number_of_cached_scripts", "0");
    field!(out, "number_of_functions", "0");
    field!(out, "number_of_libraries", "0");
    field!(out, "used_memory_vm_functions", "0");
    field!(out, "used_memory_vm_total", "0");
    field!(out, "used_memory_vm_total_human", "0B");
    field!(out, "used_memory_functions", "0");
    field!(out, "used_memory_scripts", "0");
    field!(out, "used_memory_scripts_human", "0B");
    let (maxmemory, policy) = {
        let c = srv.config.read();
        (c.maxmemory, c.maxmemory_policy.clone())
    };
    field!(out, "maxmemory", "{maxmemory}");
    field!(out, "maxmemory_human", "{}", bytes_to_human(maxmemory));
    field!(out, "maxmemory_policy", "{policy}");
    field!(
        out,
        "allocator_frag_ratio",
        "{:.2}",
        ratio(a.active, a.allocated)
    );
    field!(
        out,
        "allocator_frag_bytes",
        "{}",
        diff(a.active, a.allocated)
    );
    field!(
        out,
        "allocator_rss_ratio",
        "{:.2}",
        ratio(a.resident, a.active)
    );
    field!(out, "allocator_rss_bytes", "{}", diff(a.resident, a.active));
    field!(out, "rss_overhead_ratio", "{:.2}", ratio(m.rss, a.resident));
    field!(out, "rss_overhead_bytes", "{}", diff(m.rss, a.resident));
    field!(
        out,
        "mem_fragmentation_ratio",
        "{:.2}",
        ratio(m.rss, m.used)
    );
    field!(out, "mem_fragmentation_bytes", "{}", diff(m.rss, m.used));
    field!(
        out,
        "mem_not_counted_for_evict",
        "{}",
        crate::server::mem_not_counted_for_evict(core)
    );
    // The shared replication buffer: what exceeds repl-backlog-size while replicas are attached
    // counts as the replicas' memory, as Redis 7.0 splits it.
    let repl_buf = core.repl.backlog.as_ref().map_or(0, |b| b.histlen());
    let backlog_size = core.repl.backlog.as_ref().map_or(0, |b| b.backlog_size());
    let (backlog_mem, slaves_mem) = if !core.repl.replicas.is_empty() && repl_buf > backlog_size {
        (backlog_size, repl_buf - backlog_size)
    } else {
        (repl_buf, 0)
    };
    field!(out, "mem_replication_backlog", "{backlog_mem}");
    field!(out, "mem_total_replication_buffers", "{repl_buf}");
    field!(out, "mem_clients_slaves", "{slaves_mem}");
    field!(out, "mem_clients_normal", "{}", m.clients_normal);
    field!(out, "mem_cluster_links", "0");
    field!(out, "mem_aof_buffer", "0");
    field!(out, "mem_allocator", "{}", crate::alloc::allocator_name());
    field!(out, "active_defrag_running", "0");
    field!(
        out,
        "lazyfree_pending_objects",
        "{}",
        crate::db::lazyfree::pending()
    );
    field!(out, "lazyfreed_objects", "{}", crate::db::lazyfree::freed());
}

fn persistence(out: &mut String, srv: &Server, core: &Core) {
    out.push_str("# Persistence\r\n");
    let loading = srv.loading.is_loading();
    field!(out, "loading", "{}", loading as u8);
    for f in [
        "async_loading",
        "current_cow_peak",
        "current_cow_size",
        "current_cow_size_age",
    ] {
        field!(out, f, "0");
    }
    // The running snapshot's progress (a save or a diskless transfer), as Redis reports its
    // child's: keys handed to the serializer out of the keys there were when it began.
    let (done, total) = core
        .ks
        .snapshots
        .first()
        .map_or((0, 0), |s| (s.keys_done, s.keys_total));
    let perc = if total > 0 {
        done as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    field!(out, "current_fork_perc", "{:.2}", perc);
    field!(out, "current_save_keys_processed", "{}", done);
    field!(out, "current_save_keys_total", "{}", total);
    field!(out, "rdb_changes_since_last_save", "{}", core.ks.dirty);
    let st = srv.save.lock();
    field!(out, "rdb_bgsave_in_progress", "{}", st.in_progress() as u8);
    field!(out, "rdb_last_save_time", "{}", st.last_save);
    field!(
        out,
        "rdb_last_bgsave_status",
        "{}",
        if st.last_bgsave_ok { "ok" } else { "err" }
    );
    field!(
        out,
        "rdb_last_bgsave_time_sec",
        "{}",
        st.last_bgsave_time_sec
    );
    field!(out, "rdb_current_bgsave_time_sec", "{}", st.current_secs());
    field!(out, "rdb_saves", "{}", st.saves);
    // No fork, so no copy-on-write: the snapshot's extra memory is its pre-images.
    field!(out, "rdb_last_cow_size", "0");
    // While loading, the counts so far.
    let (keys_expired, keys_loaded) = if loading {
        (
            srv.loading.keys_expired.load(Ordering::Relaxed),
            srv.loading.keys_loaded.load(Ordering::Relaxed),
        )
    } else {
        (st.last_load_keys_expired, st.last_load_keys_loaded)
    };
    field!(out, "rdb_last_load_keys_expired", "{}", keys_expired);
    field!(out, "rdb_last_load_keys_loaded", "{}", keys_loaded);
    drop(st);
    field!(out, "aof_enabled", "0");
    field!(out, "aof_rewrite_in_progress", "0");
    field!(out, "aof_rewrite_scheduled", "0");
    field!(out, "aof_last_rewrite_time_sec", "-1");
    field!(out, "aof_current_rewrite_time_sec", "-1");
    field!(out, "aof_last_bgrewrite_status", "ok");
    field!(out, "aof_rewrites", "0");
    field!(out, "aof_rewrites_consecutive_failures", "0");
    field!(out, "aof_last_write_status", "ok");
    field!(out, "aof_last_cow_size", "0");
    field!(out, "module_fork_in_progress", "0");
    field!(out, "module_fork_last_cow_size", "0");
    // Redis appends the progress of a running load at the end of the section.
    if loading {
        for (name, value) in srv.loading.info_fields() {
            field!(out, name, "{}", value);
        }
    }
}

fn stats(out: &mut String, srv: &Server, core: &Core) {
    let st = &srv.stats;
    let ks = &core.ks.stats;
    let (ops, kin, kout, krin, krout) = {
        let m = srv.inst_metrics.metrics.lock();
        (
            m.ops.rate(),
            m.net_in.rate() as f64 / 1024.0,
            m.net_out.rate() as f64 / 1024.0,
            m.repl_in.rate() as f64 / 1024.0,
            m.repl_out.rate() as f64 / 1024.0,
        )
    };
    out.push_str("# Stats\r\n");
    field!(
        out,
        "total_connections_received",
        "{}",
        st.total_connections_received.load(Ordering::Relaxed)
    );
    field!(
        out,
        "total_commands_processed",
        "{}",
        core.stats.total_commands_processed
    );
    field!(out, "instantaneous_ops_per_sec", "{ops}");
    field!(
        out,
        "total_net_input_bytes",
        "{}",
        st.net_input_bytes.load(Ordering::Relaxed)
    );
    field!(
        out,
        "total_net_output_bytes",
        "{}",
        st.net_output_bytes.load(Ordering::Relaxed)
    );
    field!(
        out,
        "total_net_repl_input_bytes",
        "{}",
        core.repl.stats.net_repl_input_bytes
    );
    field!(
        out,
        "total_net_repl_output_bytes",
        "{}",
        core.repl.stats.net_repl_output_bytes
    );
    field!(out, "instantaneous_input_kbps", "{kin:.2}");
    field!(out, "instantaneous_output_kbps", "{kout:.2}");
    field!(out, "instantaneous_input_repl_kbps", "{krin:.2}");
    field!(out, "instantaneous_output_repl_kbps", "{krout:.2}");
    field!(
        out,
        "rejected_connections",
        "{}",
        st.rejected_connections.load(Ordering::Relaxed)
    );
    field!(out, "sync_full", "{}", core.repl.stats.sync_full);
    field!(
        out,
        "sync_partial_ok",
        "{}",
        core.repl.stats.sync_partial_ok
    );
    field!(
        out,
        "sync_partial_err",
        "{}",
        core.repl.stats.sync_partial_err
    );
    field!(out, "expired_keys", "{}", ks.expired_keys);
    field!(
        out,
        "expired_stale_perc",
        "{:.2}",
        ks.expired_stale_perc * 100.0
    );
    field!(
        out,
        "expired_time_cap_reached_count",
        "{}",
        ks.expired_time_cap_reached_count
    );
    field!(
        out,
        "expire_cycle_cpu_milliseconds",
        "{}",
        ks.expire_cycle_cpu_milliseconds
    );
    field!(out, "evicted_keys", "{}", ks.evicted_keys);
    field!(out, "evicted_clients", "0");
    field!(
        out,
        "total_eviction_exceeded_time",
        "{}",
        core.ks.evict.total_exceeded_ms()
    );
    field!(
        out,
        "current_eviction_exceeded_time",
        "{}",
        core.ks.evict.current_exceeded_ms()
    );
    field!(out, "keyspace_hits", "{}", ks.keyspace_hits);
    field!(out, "keyspace_misses", "{}", ks.keyspace_misses);
    {
        let reg = srv.pubsub.lock();
        field!(out, "pubsub_channels", "{}", reg.channels.len());
        field!(out, "pubsub_patterns", "{}", reg.patterns.len());
    }
    for f in [
        "pubsubshard_channels",
        "latest_fork_usec",
        "total_forks",
        "migrate_cached_sockets",
        "slave_expires_tracked_keys",
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
        "tracking_total_keys",
        "tracking_total_items",
        "tracking_total_prefixes",
        "unexpected_error_replies",
    ] {
        field!(out, f, "0");
    }
    field!(
        out,
        "total_error_replies",
        "{}",
        core.stats.total_error_replies
    );
    field!(out, "dump_payload_sanitizations", "0");
    field!(
        out,
        "total_reads_processed",
        "{}",
        st.total_reads_processed.load(Ordering::Relaxed)
    );
    field!(
        out,
        "total_writes_processed",
        "{}",
        st.total_writes_processed.load(Ordering::Relaxed)
    );
    for f in [
        "io_threaded_reads_processed",
        "io_threaded_writes_processed",
        "reply_buffer_shrinks",
        "reply_buffer_expands",
    ] {
        field!(out, f, "0");
    }
}

fn rusage(who: i32) -> (libc::timeval, libc::timeval) {
    // SAFETY: getrusage fills a zeroed struct.
    unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut r);
        (r.ru_stime, r.ru_utime)
    }
}

fn cpu(out: &mut String) {
    let tv = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
    let (ss, su) = rusage(libc::RUSAGE_SELF);
    let (cs, cu) = rusage(libc::RUSAGE_CHILDREN);
    out.push_str("# CPU\r\n");
    field!(out, "used_cpu_sys", "{}", tv(ss));
    field!(out, "used_cpu_user", "{}", tv(su));
    field!(out, "used_cpu_sys_children", "{}", tv(cs));
    field!(out, "used_cpu_user_children", "{}", tv(cu));
    // Commands run on every runtime thread, so the whole process stands for Redis's main thread.
    field!(out, "used_cpu_sys_main_thread", "{}", tv(ss));
    field!(out, "used_cpu_user_main_thread", "{}", tv(su));
}

/// Commands with statistics, in the order Redis lists commands.
fn stat_rows(core: &Core) -> Vec<(&'static str, &CmdStat, &LatencyHist)> {
    let mut rows: Vec<_> = core.stats.cmd_entries().collect();
    rows.sort_by_key(|(n, _, _)| (crate::cmd::meta::order_of(n), *n));
    rows
}

fn commandstats(out: &mut String, core: &Core) {
    out.push_str("# Commandstats\r\n");
    for (name, s, _) in stat_rows(core) {
        let per = if s.calls == 0 {
            0.0
        } else {
            s.usec as f64 / s.calls as f64
        };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
            s.calls, s.usec, s.rejected_calls, s.failed_calls
        );
    }
}

fn errorstats(out: &mut String, core: &Core) {
    out.push_str("# Errorstats\r\n");
    for (code, n) in &core.stats.errorstats {
        let _ = write!(out, "errorstat_{code}:count={n}\r\n");
    }
}

fn latencystats(out: &mut String, core: &Core) {
    out.push_str("# Latencystats\r\n");
    for (name, _, h) in stat_rows(core) {
        if h.total() == 0 {
            continue;
        }
        let p = |q: f64| h.percentile_ns(q) as f64 / 1000.0;
        let _ = write!(
            out,
            "latency_percentiles_usec_{name}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
            p(50.0),
            p(99.0),
            p(99.9)
        );
    }
}

fn keyspace(out: &mut String, core: &Core) {
    out.push_str("# Keyspace\r\n");
    for (i, db) in core.ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "db{i}:keys={},expires={},avg_ttl={}\r\n",
            db.len(),
            db.expires.len(),
            db.avg_ttl
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(200), "200B");
        assert_eq!(bytes_to_human(32768), "32.00K");
        assert_eq!(bytes_to_human(1024 * 1024 * 3 / 2), "1.50M");
    }

    #[test]
    fn histogram_matches_hdr_buckets() {
        let mut h = LatencyHist::default();
        h.record_us(13);
        // 13000 ns falls in the 64 ns wide bucket [12992, 13055].
        assert_eq!(h.percentile_ns(50.0), 13055);
        assert_eq!(h.cumulative_pow2(), vec![(16, 1)]);
        let mut h = LatencyHist::default();
        h.record_us(0);
        assert_eq!(h.percentile_ns(99.0), 1);
    }

    #[test]
    fn latency_bucket_indexes_are_dense_and_ordered() {
        let mut last = None;
        for v in (1..300).chain((300..LatencyHist::MAX_NS).step_by(997)) {
            let i = LatencyHist::index(v);
            assert!(i < LatencyHist::BUCKETS, "{v}");
            assert_eq!(LatencyHist::low_of(i), LatencyHist::bucket(v).0, "{v}");
            assert!(last.is_none_or(|l| l <= i));
            last = Some(i);
        }
        assert!(LatencyHist::index(LatencyHist::MAX_NS) < LatencyHist::BUCKETS);
    }

    #[test]
    fn section_selection() {
        assert_eq!(select_sections(&[]), DEFAULT.to_vec());
        assert_eq!(select_sections(&[b"nosuch"]), Vec::<&str>::new());
        assert_eq!(
            select_sections(&[b"keyspace", b"CPU"]),
            vec!["cpu", "keyspace"]
        );
        assert_eq!(select_sections(&[b"everything"]), ORDER.to_vec());
        assert!(select_sections(&[b"default", b"commandstats"]).contains(&"commandstats"));
    }
}
