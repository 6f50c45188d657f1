//! The master side of replication: what we know of each attached replica (INFO `slaveN:` lines,
//! ROLE), PSYNC/SYNC handling, full synchronisation from a fork-less snapshot, the per-replica
//! senders reading the shared buffer, ACKs, heartbeats and the replica timeouts.
//!
//! # A replica's life
//! 1. REPLCONF (before PSYNC) fills the connection's [`ReplConf`]: listening port, capabilities,
//!    rdb-only, rdb-filter-only.
//! 2. PSYNC (or the old SYNC) runs under the core lock ([`sync_command`]). Either it continues: the
//!    reply is `+CONTINUE <replid>` and the replica's read position in the shared buffer is the
//!    requested offset; or it needs a full sync: the replica is registered in `wait_bgsave` and
//!    will learn its snapshot through a channel ([`SyncStart`]).
//! 3. The connection task becomes the replica's sender ([`serve_replica`]); it never runs commands
//!    for it again except what the replica sends (REPLCONF ACK), whose replies are dropped.
//! 4. A snapshot starts (at once, or after `repl-diskless-sync-delay` to gather replicas, from the
//!    cron): under the core lock a fork-less snapshot begins *and* the replication offset is read,
//!    so the stream the replicas get afterwards starts exactly where the snapshot stands. Diskless:
//!    a producer thread serializes it once and hands every chunk (refcounted, not copied) to each
//!    replica's bounded channel; the slowest replica paces it, a replica that goes away leaves it
//!    and the last one leaving aborts it (freeing its pre-images). Disk: a BGSAVE with the
//!    replication AUX fields writes the dump file, and each waiting replica then sends the file.
//! 5. Streaming: each sender reads the shared [`super::buffer::ReplBuffer`] from its own offset
//!    (zero-copy slices), sleeps on `ReplState::appended` when caught up. The lowest offset still
//!    needed by a replica pins the buffer (see [`ReplState::trim_backlog`]).
//!
//! The cron ([`cron`]) starts pending snapshots, PINGs replicas through the stream, disconnects
//! timed-out replicas and those over `client-output-buffer-limit replica`, frees the backlog after
//! `repl-backlog-ttl`, and removes the dump file written only for a sync (`rdb-del-sync-files`).

use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use super::ReplState;
use crate::server::client::Client;
use crate::server::connection::ClientStream;
use crate::server::{Core, Server};

/// A replica's state as INFO shows it (`state=` of the `slaveN:` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Waiting for a snapshot to start (`wait_bgsave`).
    WaitBgsave,
    /// A snapshot for it is being produced (`wait_bgsave` too, as in Redis; diskless transfers
    /// stream in this state).
    WaitBgsaveEnd,
    /// The dump file is being sent (`send_bulk`).
    SendBulk,
    /// Streaming (`online`).
    Online,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave | ReplicaState::WaitBgsaveEnd => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// `rdb-filter-only` bits (a filtered RDB is always produced diskless).
pub const REQ_EXCLUDE_DATA: u8 = 1;
pub const REQ_EXCLUDE_FUNCTIONS: u8 = 2;

/// What a would-be replica announced with REPLCONF before PSYNC.
#[derive(Debug, Clone, Default)]
pub struct ReplConf {
    /// `listening-port` (0 when not told).
    pub listening_port: i64,
    /// `ip-address`, the address to show instead of the peer's.
    pub ip_address: Option<String>,
    /// `capa eof`: can read a diskless `$EOF:` transfer.
    pub capa_eof: bool,
    /// `capa psync2`: understands `+CONTINUE <replid>`.
    pub capa_psync2: bool,
    /// `capa ferredis-mux`: a ferredis replica that takes a diskless payload interleaved with the
    /// stream (see [`transfer_mux`]).
    pub capa_mux: bool,
    /// `rdb-only 1`: wants the snapshot, not the stream (redis-cli --rdb).
    pub rdb_only: bool,
    /// `rdb-filter-only` bits.
    pub req: u8,
}

/// One attached replica, as the master sees it.
#[derive(Debug, Clone)]
pub struct ReplicaInfo {
    /// The address it connected from (or announced), and the port it listens on.
    pub ip: String,
    pub port: u16,
    pub state: ReplicaState,
    /// The offset it acknowledged last (`REPLCONF ACK`).
    pub ack_offset: u64,
    /// When its last ACK arrived (Unix ms), for `lag=` and `repl-timeout`.
    pub last_ack_ms: i64,
    /// Whether any ACK arrived (a diskless replica starts streaming on its first one).
    pub acked: bool,
    /// For logs: `ip:port`, as Redis names replicas.
    pub name: String,
    pub conf: ReplConf,
    /// Came with the old SYNC: no +FULLRESYNC, no ACKs expected.
    pub pre_psync: bool,
    /// When it started waiting for a snapshot (Unix ms; the diskless delay counts from it).
    pub wait_since_ms: i64,
    /// The lowest offset of the shared buffer it still needs (None: nothing pinned).
    pub needed: Option<u64>,
    /// Since when its unsent bytes are above the soft output limit.
    pub soft_limit_since_ms: Option<i64>,
    /// In the full-sync phase (see [`SyncPhase`]): the output limits are relaxed.
    pub sync_phase: Option<SyncPhase>,
    /// Where its snapshot is announced, until one starts.
    pub start_tx: Option<mpsc::UnboundedSender<SyncStart>>,
}

/// How a connection continues after PSYNC/SYNC (set on the client, taken by the connection).
#[derive(Debug)]
pub enum Handover {
    /// Full sync: the snapshot will be announced on this channel.
    Full(mpsc::UnboundedReceiver<SyncStart>),
    /// Partial resync: stream from this buffer position (the reply is already written).
    Continue(u64),
}

/// A snapshot started for a replica: its id and offset for `+FULLRESYNC`, and where the bytes come
/// from.
#[derive(Debug)]
pub struct SyncStart {
    pub replid: String,
    pub offset: u64,
    pub payload: Payload,
}

#[derive(Debug)]
pub enum Payload {
    /// Disk target: the dump file, once written.
    Disk(watch::Receiver<DiskOutcome>),
    /// Diskless: the RDB chunks as produced, framed by `$EOF:<mark>` and the mark.
    Socket {
        mark: String,
        chunks: mpsc::Receiver<Chunk>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskOutcome {
    Running,
    Done(std::path::PathBuf),
    Failed,
}

#[derive(Debug)]
pub enum Chunk {
    Data(Bytes),
    End,
    Failed,
}

/// A disk-target sync snapshot under way (a BGSAVE started for replication).
#[derive(Debug)]
pub struct DiskJob {
    pub offset: u64,
    pub replid: String,
    pub req: u8,
    pub done: watch::Sender<DiskOutcome>,
}

/// Master-side state, in [`ReplState`].
#[derive(Debug, Default)]
pub struct MasterState {
    /// Unix ms since which no replica is attached (for `repl-backlog-ttl`); 0 while some are.
    pub no_replicas_since_ms: i64,
    pub disk_job: Option<DiskJob>,
    /// The diskless snapshot being produced (its snapshot id) and the offset it stands at.
    pub socket_job: Option<(u64, u64)>,
    /// The dump file was written for a sync (`rdb-del-sync-files`).
    pub rdb_generated_by_sync: bool,
    /// A WAIT asked the replicas for an ACK: `REPLCONF GETACK *` goes into the stream once the
    /// command ends (one per batch of WAITs, see `failover::send_getack`).
    pub get_ack_pending: bool,
    /// Unix ms of the last once-per-second cron pass and of the last PING.
    last_second_ms: i64,
    last_ping_ms: i64,
}

/// Where a fully synchronising replica stands. From the snapshot's start until the replica has
/// read the stream up to where it stood when the payload was complete, the writes buffered for it
/// are the price of the sync, not a sign of a stuck reader: Redis counts them against
/// `client-output-buffer-limit replica`, so a sync that takes longer than the limit lasts at the
/// write rate is dropped and starts over forever. We hold them against the larger
/// [`sync_allowance`] instead, as long as the transfer moves (a transfer that stalls for
/// `repl-timeout` is still dropped), and apply the normal limits once the replica caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPhase {
    /// The payload is being produced or sent.
    Transfer,
    /// The payload is sent; the replica loads it (until its first ACK).
    Loading,
    /// Loaded: the replica reads the stream buffered meanwhile, up to this offset.
    CatchUp(u64),
}

/// Floor of the sync-phase allowance: the bytes of stream a fully synchronising replica may have
/// pending whatever the configured limits.
const SYNC_ALLOWANCE_FLOOR: u64 = 512 * 1024 * 1024;
/// The sync-phase allowance is at least this many times the configured hard limit.
const SYNC_ALLOWANCE_FACTOR: u64 = 16;

/// The (hard, soft) output limits that apply to replica `r` now: the configured ones, or in the
/// sync phase a hard allowance of `max(16 x hard, 512 MiB)` and no soft limit. A hard limit of 0
/// (unlimited) stays unlimited.
pub fn effective_limits(
    r: Option<&ReplicaInfo>,
    lim: &crate::config::ObufLimit,
) -> (u64, u64, u64) {
    if r.is_some_and(|r| r.sync_phase.is_some()) {
        return (sync_allowance(lim.hard), 0, 0);
    }
    (lim.hard, lim.soft, lim.soft_seconds)
}

/// The hard allowance of the sync phase for a configured hard limit (0: unlimited).
pub fn sync_allowance(hard: u64) -> u64 {
    if hard == 0 {
        return 0;
    }
    hard.saturating_mul(SYNC_ALLOWANCE_FACTOR)
        .max(SYNC_ALLOWANCE_FLOOR)
}

/// Whether a replica with `unsent` bytes pending is back within the configured limits with room to
/// spare (below the soft limit, or half the hard one): leaving the sync phase any earlier would
/// drop a replica that is still draining what was written while it caught up.
fn caught_up(unsent: u64, lim: &crate::config::ObufLimit) -> bool {
    if lim.soft > 0 {
        unsent < lim.soft
    } else if lim.hard > 0 {
        unsent < lim.hard / 2
    } else {
        true
    }
}

/// Chunk channel depth per replica for diskless transfers: bounds what a slow replica holds.
const CHUNK_QUEUE: usize = 4;
/// Bytes read from the shared buffer per write.
const SEND_MAX: usize = 256 * 1024;

/// Inserts the replication AUX fields (`repl-stream-db`, `repl-id`, `repl-offset`) where Redis puts
/// them: after `used-mem`, before `aof-base`.
pub fn with_repl_aux(
    mut aux: Vec<(&'static str, String)>,
    repl: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    let at = aux
        .iter()
        .position(|(k, _)| *k == "aof-base")
        .unwrap_or(aux.len());
    for (i, f) in repl.into_iter().enumerate() {
        aux.insert(at + i, f);
    }
    aux
}

impl ReplState {
    /// Drops the part of the buffer no replica and no backlog needs any more.
    pub fn trim_backlog(&mut self) {
        let mut min = self.replicas.values().filter_map(|r| r.needed).min();
        if let Some(j) = &self.master.disk_job {
            min = Some(min.map_or(j.offset, |m| m.min(j.offset)));
        }
        if let Some(b) = &mut self.backlog {
            b.trim(min);
        }
    }

    /// The AUX fields of a snapshot taken now for replicas; resets the stream's database so the
    /// next op re-emits SELECT (the replica starts from the snapshot's state).
    fn sync_aux(&mut self) -> Vec<(&'static str, String)> {
        // A replica serving sub-replicas forwards its master's stream: the database that stream
        // has selected is where the sub-replica's stream goes on.
        let db = match &self.link {
            Some(l) => l.stream_db,
            None => self.stream_db.unwrap_or(0),
        };
        self.stream_db = None;
        vec![
            ("repl-stream-db", db.to_string()),
            ("repl-id", self.replid.clone()),
            ("repl-offset", self.offset().to_string()),
        ]
    }
}

/// Redis's name for a replica in logs: `ip:port`, or `ip:<unknown-replica-port>`.
fn replica_name(ip: &str, port: i64) -> String {
    if port != 0 {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    } else {
        format!("{ip}:<unknown-replica-port>")
    }
}

/// The peer IP of a client (`addr` is `ip:port`, or `[v6]:port`).
fn peer_ip(addr: &str) -> String {
    match addr.rfind(':') {
        Some(i) => addr[..i].trim_matches(|c| c == '[' || c == ']').to_string(),
        None => addr.to_string(),
    }
}

/// The outcome of PSYNC/SYNC for the command handler.
pub enum SyncError {
    /// Reply this error.
    Reply(String),
    /// Nothing to reply (SYNC from a replica already attached).
    Ignore,
}

/// PSYNC and SYNC, under the core lock (Redis's `syncCommand`). On success the client is a replica
/// and `client.repl_handover` says how its connection goes on; `+CONTINUE` is written to `out`.
pub fn sync_command(
    srv: &Server,
    core: &mut Core,
    client: &mut Client,
    args: &[Bytes],
    out: &mut crate::resp::Reply,
) -> Result<(), SyncError> {
    use crate::server::client::ClientKind;
    // Already a replica, or a MONITOR (which Redis flags as a replica too): ignored.
    if client.kind == ClientKind::Replica || client.monitor {
        return Err(SyncError::Ignore);
    }
    let is_psync = args[0].eq_ignore_ascii_case(b"psync");
    if is_psync && args.len() > 3 && args[3].eq_ignore_ascii_case(b"failover") {
        tracing::warn!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(&args[1])
        );
        if core.repl.link.is_none() {
            return Err(SyncError::Reply(
                "ERR PSYNC FAILOVER can't be sent to a master.".into(),
            ));
        }
        // Our master hands over to us: we become a master, and its PSYNC below continues
        // from our previous id.
        if args[1].as_ref() != core.repl.replid.as_bytes() {
            return Err(SyncError::Reply(
                "ERR PSYNC FAILOVER replid must match my replid.".into(),
            ));
        }
        super::replica::unset_master(srv, core);
        tracing::info!(
            "MASTER MODE enabled (failover request from '{}')",
            crate::server::client::info_line(&client.handle, &client.live_meta(), Some(args))
        );
    }
    // No replica may sync with us while we hand over.
    if core.repl.failover.phase != super::failover::FailoverPhase::None {
        return Err(SyncError::Reply(
            "NOMASTERLINK Can't SYNC while failing over".into(),
        ));
    }
    if let Some(l) = &core.repl.link {
        if l.state != super::replica::LinkState::Connected {
            return Err(SyncError::Reply(
                "NOMASTERLINK Can't SYNC while not connected with my master".into(),
            ));
        }
    }
    // Replies of earlier commands still unsent would mix with the replication stream.
    if out.begin_deferred() > 0 {
        return Err(SyncError::Reply(
            "ERR SYNC and PSYNC are invalid with pending output".into(),
        ));
    }
    let conf = client.repl_conf.clone();
    if conf.req != 0 && !conf.capa_eof {
        return Err(SyncError::Reply(
            "ERR Filtered replica requires EOF capability".into(),
        ));
    }
    let ip = conf
        .ip_address
        .clone()
        .unwrap_or_else(|| peer_ip(&client.handle.addr));
    let name = replica_name(&ip, conf.listening_port);
    tracing::info!("Replica {} asks for synchronization", name);
    let now = crate::util::now_ms();
    let mut info = ReplicaInfo {
        ip,
        port: conf.listening_port.clamp(0, u16::MAX as i64) as u16,
        state: ReplicaState::WaitBgsave,
        ack_offset: 0,
        last_ack_ms: now,
        acked: false,
        name: name.clone(),
        conf: conf.clone(),
        pre_psync: !is_psync,
        wait_since_ms: now,
        needed: None,
        soft_limit_since_ms: None,
        sync_phase: None,
        start_tx: None,
    };
    if is_psync {
        let Some(offset) = crate::util::parse_i64(&args[2]) else {
            tracing::warn!(
                "Replica {} asks for synchronization but with a wrong offset",
                name
            );
            return Err(SyncError::Reply(
                "ERR value is not an integer or out of range".into(),
            ));
        };
        let replid = String::from_utf8_lossy(&args[1]).into_owned();
        if let Some(pos) = try_partial(&core.repl, &replid, offset, &name) {
            let repl = &mut core.repl;
            repl.stats.sync_partial_ok += 1;
            let line = if conf.capa_psync2 {
                format!("CONTINUE {}", repl.replid)
            } else {
                "CONTINUE".to_string()
            };
            out.simple(&line);
            let len = repl.offset() - pos;
            info.state = ReplicaState::Online;
            info.needed = Some(pos);
            repl.replicas.insert(client.id, info);
            repl.master.no_replicas_since_ms = 0;
            client.kind = ClientKind::Replica;
            client.repl_handover = Some(Handover::Continue(pos));
            tracing::info!(
                "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                name,
                len,
                offset
            );
            return Ok(());
        }
        if !replid.starts_with('?') {
            core.repl.stats.sync_partial_err += 1;
        }
    }
    core.repl.stats.sync_full += 1;
    let (tx, rx) = mpsc::unbounded_channel();
    info.start_tx = Some(tx);
    let req = conf.req;
    let eof = conf.capa_eof;
    core.repl.replicas.insert(client.id, info);
    core.repl.master.no_replicas_since_ms = 0;
    client.kind = ClientKind::Replica;
    client.repl_handover = Some(Handover::Full(rx));
    let backlog_size = srv.config.read().repl_backlog_size.max(1) as u64;
    if core.repl.backlog.is_none() {
        // A new history starts with the backlog, as in Redis.
        core.repl.replid = super::random_replid();
        core.repl.clear_replid2();
        core.repl.ensure_backlog(backlog_size);
        core.set_propagation_active(true);
        tracing::info!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            core.repl.replid,
            core.repl.replid2
        );
    }
    let (diskless, delay) = {
        let cfg = srv.config.read();
        (cfg.repl_diskless_sync, cfg.repl_diskless_sync_delay)
    };
    let bgsave_running = srv.save.lock().bgsave.is_some();
    if core.repl.master.disk_job.is_some() || bgsave_running {
        // A disk BGSAVE runs: attach to it if it was started for replicas like this one.
        let job = core.repl.master.disk_job.as_ref().filter(|j| j.req == req);
        if let Some(job) = job {
            // The file being written is good for this replica too: the stream since its offset
            // is still in the shared buffer (the job pins it).
            let start = SyncStart {
                replid: job.replid.clone(),
                offset: job.offset,
                payload: Payload::Disk(job.done.subscribe()),
            };
            let offset = job.offset;
            if let Some(r) = core.repl.replicas.get_mut(&client.id) {
                if let Some(tx) = r.start_tx.take() {
                    let _ = tx.send(start);
                }
                r.state = ReplicaState::WaitBgsaveEnd;
                r.needed = (!r.conf.rdb_only).then_some(offset);
                r.sync_phase = Some(SyncPhase::Transfer);
            }
            tracing::info!("Waiting for end of BGSAVE for SYNC");
        } else {
            tracing::info!(
                "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC"
            );
        }
    } else if core.repl.master.socket_job.is_some() {
        tracing::info!("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC");
    } else if diskless && eof && delay > 0 {
        tracing::info!("Delay next BGSAVE for diskless SYNC");
    } else {
        start_pending(srv, core, true);
    }
    Ok(())
}

/// Redis's `masterTryPartialResynchronization`: the buffer position to continue from, if the
/// replica's history is ours and the offset is still held.
fn try_partial(repl: &ReplState, replid: &str, psync_offset: i64, name: &str) -> Option<u64> {
    let same = replid.eq_ignore_ascii_case(&repl.replid);
    let second = replid.eq_ignore_ascii_case(&repl.replid2);
    if !same && (!second || psync_offset > repl.second_replid_offset) {
        if !replid.starts_with('?') {
            if !same && !second {
                tracing::info!(
                    "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{}', my replication IDs are '{}' and '{}')",
                    replid,
                    repl.replid,
                    repl.replid2
                );
            } else {
                tracing::info!(
                    "Partial resynchronization not accepted: Requested offset for second ID was {}, but I can reply up to {}",
                    psync_offset,
                    repl.second_replid_offset
                );
            }
        } else {
            tracing::info!("Full resync requested by replica {}", name);
        }
        return None;
    }
    // PSYNC names the first byte wanted, 1-based: it is at buffer position offset - 1.
    let pos = (psync_offset - 1).max(-1);
    let ok = pos >= 0
        && repl
            .backlog
            .as_ref()
            .is_some_and(|b| b.can_serve_from(pos as u64));
    if !ok {
        tracing::info!(
            "Unable to partial resync with replica {} for lack of backlog (Replica request was: {}).",
            name,
            psync_offset
        );
        if psync_offset > repl.offset() as i64 {
            tracing::warn!(
                "Warning: replica {} tried to PSYNC with an offset that is greater than the master replication offset.",
                name
            );
        }
        return None;
    }
    Some(pos as u64)
}

/// Starts a snapshot for the replicas waiting for one, if the time has come (Redis's
/// `shouldStartChildReplication` + `startBgsaveForReplication`). `now_anyway` skips the diskless
/// delay (PSYNC with a delay of 0).
fn start_pending(srv: &Server, core: &mut Core, now_anyway: bool) {
    if core.repl.master.disk_job.is_some() || core.repl.master.socket_job.is_some() {
        return;
    }
    let (diskless, delay_s, max_replicas) = {
        let cfg = srv.config.read();
        (
            cfg.repl_diskless_sync,
            cfg.repl_diskless_sync_delay,
            cfg.repl_diskless_sync_max_replicas,
        )
    };
    let now = crate::util::now_ms();
    let mut req = None;
    let mut mincapa_eof = true;
    let mut waiting = 0i64;
    let mut max_idle_ms = 0i64;
    for r in core.repl.replicas.values() {
        if r.state != ReplicaState::WaitBgsave || r.start_tx.is_none() {
            continue;
        }
        match req {
            None => req = Some(r.conf.req),
            Some(q) if q != r.conf.req => continue,
            _ => {}
        }
        waiting += 1;
        max_idle_ms = max_idle_ms.max(now - r.wait_since_ms);
        mincapa_eof &= r.conf.capa_eof;
    }
    let Some(req) = req else { return };
    let due = now_anyway
        || !diskless
        || (max_replicas > 0 && waiting >= max_replicas)
        || max_idle_ms >= delay_s.saturating_mul(1000);
    if !due {
        return;
    }
    let socket = (diskless || req != 0) && mincapa_eof;
    if srv.save.lock().bgsave.is_some() {
        // A BGSAVE not made for replication runs: wait for it to end, as Redis waits for its
        // child.
        return;
    }
    tracing::info!(
        "Starting BGSAVE for SYNC with target: {}",
        if socket { "replicas sockets" } else { "disk" }
    );
    let srv_arc = srv.self_arc();
    let replid = core.repl.replid.clone();
    let offset = core.repl.offset();
    let ids: Vec<u64> = core
        .repl
        .replicas
        .iter()
        .filter(|(_, r)| r.state == ReplicaState::WaitBgsave && r.conf.req == req)
        .map(|(id, _)| *id)
        .collect();
    if socket {
        let aux = core.repl.sync_aux();
        let (opts, checksum) = {
            let cfg = srv.config.read();
            (
                crate::rdb::encode::Options {
                    compress: cfg.rdbcompression,
                    thresholds: crate::cmd::server::thresholds(&cfg),
                },
                cfg.rdbchecksum,
            )
        };
        let id = core.ks.snapshot_begin(opts);
        let mark = super::random_replid();
        let mut sinks = Vec::new();
        for cid in &ids {
            let Some(r) = core.repl.replicas.get_mut(cid) else {
                continue;
            };
            let (ctx, crx) = mpsc::channel(CHUNK_QUEUE);
            if let Some(tx) = r.start_tx.take() {
                let _ = tx.send(SyncStart {
                    replid: replid.clone(),
                    offset,
                    payload: Payload::Socket {
                        mark: mark.clone(),
                        chunks: crx,
                    },
                });
            }
            r.state = ReplicaState::WaitBgsaveEnd;
            r.needed = (!r.conf.rdb_only).then_some(offset);
            r.sync_phase = Some(SyncPhase::Transfer);
            sinks.push(ctx);
        }
        core.repl.master.socket_job = Some((id, offset));
        crate::server::save::socket_sync_started(srv);
        let exclude = req & REQ_EXCLUDE_DATA != 0;
        let aux = with_repl_aux(
            crate::persistence::standard_aux(crate::alloc::used_memory()),
            aux,
        );
        let spawned = std::thread::Builder::new()
            .name("repl-rdb".into())
            .spawn(move || produce_diskless(srv_arc, id, aux, opts, checksum, exclude, sinks));
        if spawned.is_err() {
            tracing::warn!("BGSAVE for replication failed");
            core.ks.snapshot_end(id);
            core.repl.master.socket_job = None;
            crate::server::save::socket_sync_ended(srv);
        }
        return;
    }
    let aux = core.repl.sync_aux();
    match crate::server::save::start_bgsave_for_sync(&srv_arc, core, aux) {
        Ok(()) => {
            let (done, _) = watch::channel(DiskOutcome::Running);
            for cid in &ids {
                let Some(r) = core.repl.replicas.get_mut(cid) else {
                    continue;
                };
                if let Some(tx) = r.start_tx.take() {
                    let _ = tx.send(SyncStart {
                        replid: replid.clone(),
                        offset,
                        payload: Payload::Disk(done.subscribe()),
                    });
                }
                r.state = ReplicaState::WaitBgsaveEnd;
                r.needed = (!r.conf.rdb_only).then_some(offset);
                r.sync_phase = Some(SyncPhase::Transfer);
            }
            core.repl.master.disk_job = Some(DiskJob {
                offset,
                replid,
                req,
                done,
            });
            if srv.config.read().rdb_del_sync_files {
                core.repl.master.rdb_generated_by_sync = true;
            }
        }
        Err(_) => {
            tracing::warn!("BGSAVE for replication failed");
            // The waiting replicas are told and dropped, as Redis does.
            for cid in &ids {
                if let Some(r) = core.repl.replicas.get_mut(cid) {
                    r.start_tx = None;
                }
            }
        }
    }
}

/// The disk-target sync BGSAVE ended (called by the BGSAVE thread under the core lock).
pub fn disk_sync_done(_srv: &Server, core: &mut Core, ok: bool, path: std::path::PathBuf) {
    let Some(job) = core.repl.master.disk_job.take() else {
        return;
    };
    if !ok {
        tracing::warn!("SYNC failed. BGSAVE child returned an error");
    }
    job.done.send_replace(if ok {
        DiskOutcome::Done(path)
    } else {
        DiskOutcome::Failed
    });
}

/// The diskless producer: serializes snapshot `id` once and hands each slice to every replica
/// still listening. Runs on its own thread; the core lock is taken per slice only.
fn produce_diskless(
    srv: Arc<Server>,
    id: u64,
    aux: Vec<(&'static str, String)>,
    opts: crate::rdb::encode::Options,
    checksum: bool,
    exclude: bool,
    mut sinks: Vec<mpsc::Sender<Chunk>>,
) {
    let res = crate::server::save::stream_snapshot(&srv, id, &aux, &opts, checksum, exclude, |b| {
        let chunk = Bytes::copy_from_slice(b);
        sinks.retain(|s| s.blocking_send(Chunk::Data(chunk.clone())).is_ok());
        if sinks.is_empty() {
            return Err(io::Error::other("no replica left"));
        }
        Ok(())
    });
    {
        let mut core = srv.core.lock();
        core.ks.snapshot_end(id);
        if matches!(core.repl.master.socket_job, Some((j, _)) if j == id) {
            core.repl.master.socket_job = None;
            crate::server::save::socket_sync_ended(&srv);
        }
    }
    match res {
        Ok(()) => {
            tracing::warn!(
                "Diskless rdb transfer, done reading from pipe, {} replicas still up.",
                sinks.len()
            );
            for s in &sinks {
                let _ = s.blocking_send(Chunk::End);
            }
            tracing::info!("Background RDB transfer terminated with success");
        }
        Err(_) if sinks.is_empty() => {
            tracing::warn!("Diskless rdb transfer, last replica dropped, killing fork child.");
        }
        Err(e) => {
            tracing::warn!(
                "Diskless rdb transfer, read error sending DB to replicas: {}",
                e
            );
            for s in &sinks {
                let _ = s.blocking_send(Chunk::Failed);
            }
        }
    }
}

/// REPLCONF ACK from an attached replica (no reply, as in Redis).
pub fn ack(core: &mut Core, client_id: u64, offset: i64) {
    let end = core.repl.offset();
    if let Some(r) = core.repl.replicas.get_mut(&client_id) {
        if offset > r.ack_offset as i64 {
            r.ack_offset = offset as u64;
        }
        r.last_ack_ms = crate::util::now_ms();
        r.acked = true;
        // Any ACK means the payload is loaded (a replica ACKs only once it is), even one that
        // arrives before the sender has marked the transfer done.
        if matches!(r.sync_phase, Some(SyncPhase::Transfer | SyncPhase::Loading)) {
            // Loaded: what it still has to read is what was written during its sync.
            r.sync_phase = Some(SyncPhase::CatchUp(end));
        }
        // An ACK may make a replica good again (min-replicas-to-write) and may release WAITs.
        let now = r.last_ack_ms;
        core.repl.refresh_good_replicas(now);
        if core.blocking.waiting_acks > 0 {
            super::failover::wake_waiting_acks(core);
        }
    }
}

/// Why a sender stopped.
enum Stop {
    /// Killed, shut down, or the peer closed: nothing to log beyond "lost".
    Closed,
}

type Res<T> = Result<T, Stop>;

/// The input side of a replica connection: what it sends (REPLCONF ACK) runs through dispatch as
/// the replica client, with replies dropped (Redis never replies to a replica).
struct Input {
    rbuf: BytesMut,
    parser: crate::resp::RequestParser,
    parsed: crate::resp::request::ParsedCommand,
    scratch: BytesMut,
}

impl Input {
    /// Reads what is available without waiting and runs the complete commands.
    fn poll<S: ClientStream>(&mut self, srv: &Server, stream: &S, client: &mut Client) -> Res<()> {
        loop {
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(16 * 1024);
            }
            match stream.try_read_into(&mut self.rbuf) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => {
                    srv.stats
                        .net_input_bytes
                        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    client
                        .handle
                        .last_interaction_ms
                        .store(crate::util::now_ms(), std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(Stop::Closed),
            }
        }
        self.run(srv, client)
    }

    fn run(&mut self, srv: &Server, client: &mut Client) -> Res<()> {
        let limits = crate::resp::ParseLimits {
            max_bulk_len: srv.config.read().proto_max_bulk_len,
            authenticated: client.authenticated,
            is_master: false,
        };
        let mut pos = 0;
        let mut cmds: Vec<Vec<Bytes>> = Vec::new();
        let chunk = self.rbuf.split().freeze();
        // A bare newline is a replica's keep-alive while it loads a payload: it counts as an ACK
        // for `repl-timeout` (Redis refreshes the ACK time on an empty inline line from a replica).
        let mut keepalive = false;
        loop {
            keepalive |= chunk.get(pos) == Some(&b'\n')
                || chunk[pos.min(chunk.len())..].starts_with(b"\r\n");
            match self.parser.parse(&chunk, pos, &limits, &mut self.parsed) {
                Ok(Some(end)) => {
                    let args: Vec<Bytes> = match self.parsed.owned.take() {
                        Some(o) => o.into_iter().map(Bytes::from).collect(),
                        None => self
                            .parsed
                            .args
                            .iter()
                            .map(|r| chunk.slice(r.clone()))
                            .collect(),
                    };
                    if !args.is_empty() {
                        cmds.push(args);
                    }
                    pos = end;
                }
                Ok(None) => break,
                Err(_) => return Err(Stop::Closed),
            }
        }
        self.rbuf.extend_from_slice(&chunk[pos..]);
        if keepalive {
            if let Some(r) = srv.core.lock().repl.replicas.get_mut(&client.id) {
                r.last_ack_ms = crate::util::now_ms();
            }
        }
        if cmds.is_empty() {
            return Ok(());
        }
        let mut core = srv.core.lock();
        for args in &cmds {
            self.scratch.clear();
            let proto = client.proto;
            let mut ctx = crate::cmd::Ctx {
                core: &mut core,
                client,
                srv,
                out: crate::resp::Reply::new(&mut self.scratch, proto),
            };
            crate::cmd::dispatch(&mut ctx, args);
        }
        drop(core);
        client.publish_meta(self.rbuf.len(), 0, 0, 0);
        Ok(())
    }
}

/// Writes `bytes` to the replica, giving up when it is killed or no byte leaves for
/// `repl-timeout` seconds.
async fn send<S: ClientStream, F: Future<Output = ()>>(
    stream: &mut S,
    bytes: &[u8],
    stop: Pin<&mut F>,
    timeout: Duration,
) -> Res<()> {
    tokio::select! {
        biased;
        r = tokio::time::timeout(timeout, stream.write_all(bytes)) => match r {
            Ok(Ok(())) => Ok(()),
            _ => Err(Stop::Closed),
        },
        _ = stop => Err(Stop::Closed),
    }
}

/// `repl-timeout`: how long a write to a replica may stay blocked.
fn repl_timeout(srv: &Server) -> Duration {
    Duration::from_secs(srv.config.read().repl_timeout.max(1) as u64)
}

fn count_out(srv: &Server, n: usize) {
    srv.core.lock().repl.stats.net_repl_output_bytes += n as u64;
}

/// Serves a connection that became a replica (PSYNC/SYNC): the snapshot transfer if any, then the
/// stream. Returns when the replica goes away or is dropped; its entry and pins are removed.
pub async fn serve_replica<S: ClientStream, F: Future<Output = ()>>(
    srv: Arc<Server>,
    stream: &mut S,
    client: &mut Client,
    rbuf: BytesMut,
    handover: Handover,
    mut stop: Pin<&mut F>,
) {
    let mut input = Input {
        rbuf,
        parser: crate::resp::RequestParser::new(),
        parsed: Default::default(),
        scratch: BytesMut::new(),
    };
    let _ = input.run(&srv, client);
    let _ = run_replica(&srv, stream, client, &mut input, handover, stop.as_mut()).await;
    detach(&srv, client.id);
}

/// Forgets a replica whose connection ended: its entry, its pin on the buffer (and, through its
/// dropped channels, its share of a diskless snapshot).
pub fn detach(srv: &Server, client_id: u64) {
    let mut core = srv.core.lock();
    if let Some(r) = core.repl.replicas.remove(&client_id) {
        tracing::warn!("Connection with replica {} lost.", r.name);
    }
    if core.repl.replicas.is_empty() {
        core.repl.master.no_replicas_since_ms = crate::util::now_ms();
    }
    core.repl.trim_backlog();
}

async fn run_replica<S: ClientStream, F: Future<Output = ()>>(
    srv: &Arc<Server>,
    stream: &mut S,
    client: &mut Client,
    input: &mut Input,
    handover: Handover,
    mut stop: Pin<&mut F>,
) -> Res<()> {
    let id = client.id;
    let timeout = || repl_timeout(srv);
    let (name, rdb_only, pre_psync, mux) = {
        let core = srv.core.lock();
        match core.repl.replicas.get(&id) {
            Some(r) => (
                r.name.clone(),
                r.conf.rdb_only,
                r.pre_psync,
                r.conf.capa_mux && !r.conf.rdb_only && !r.pre_psync,
            ),
            None => return Err(Stop::Closed),
        }
    };
    let pos = match handover {
        Handover::Continue(pos) => pos,
        Handover::Full(mut rx) => {
            // Wait for the snapshot, with a newline a second to keep the link alive.
            let start = loop {
                tokio::select! {
                    biased;
                    _ = stop.as_mut() => return Err(Stop::Closed),
                    s = rx.recv() => match s {
                        Some(s) => break s,
                        None => {
                            let mut out = BytesMut::new();
                            crate::resp::Reply::new(&mut out, client.proto)
                                .error("ERR BGSAVE failed, replication can't continue");
                            let _ = send(stream, &out, stop.as_mut(), timeout()).await;
                            return Err(Stop::Closed);
                        }
                    },
                    r = stream.wait_readable() => {
                        if r.is_err() { return Err(Stop::Closed); }
                        input.poll(srv, stream, client)?;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        send(stream, b"\n", stop.as_mut(), timeout()).await?;
                    }
                }
            };
            if !pre_psync {
                let line = format!("+FULLRESYNC {} {}\r\n", start.replid, start.offset);
                send(stream, line.as_bytes(), stop.as_mut(), timeout()).await?;
            }
            let socket = matches!(start.payload, Payload::Socket { .. });
            // Where the stream resumes after the payload: the snapshot's offset, or, when it was
            // interleaved with the payload, as far as that got.
            let mut resume = start.offset;
            match start.payload {
                Payload::Socket { chunks, .. } if mux => {
                    resume = transfer_mux(
                        srv,
                        stream,
                        client,
                        input,
                        chunks,
                        start.offset,
                        &name,
                        stop.as_mut(),
                    )
                    .await?;
                }
                payload => {
                    transfer(srv, stream, client, input, payload, &name, stop.as_mut()).await?
                }
            }
            if rdb_only {
                tracing::info!(
                    "RDB transfer completed, rdb only replica ({}) should be disconnected asap",
                    name
                );
                let _ = stream.flush().await;
                return Err(Stop::Closed);
            }
            if socket {
                tracing::info!(
                    "Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from slave to enable streaming",
                    name
                );
            }
            {
                let mut core = srv.core.lock();
                let end = core.repl.offset();
                let Some(r) = core.repl.replicas.get_mut(&id) else {
                    return Err(Stop::Closed);
                };
                r.state = ReplicaState::Online;
                r.last_ack_ms = crate::util::now_ms();
                // An ACK that came first has already moved it on to catching up.
                if r.sync_phase == Some(SyncPhase::Transfer) {
                    // An old SYNC replica never ACKs: its catch-up target is known now.
                    r.sync_phase = Some(if pre_psync {
                        SyncPhase::CatchUp(end)
                    } else {
                        SyncPhase::Loading
                    });
                }
            }
            tracing::info!("Synchronization with replica {} succeeded", name);
            if socket && !mux {
                // The replica detects the end of a diskless payload by its mark: nothing may
                // follow until it says it loaded it (its first ACK).
                loop {
                    if srv
                        .core
                        .lock()
                        .repl
                        .replicas
                        .get(&id)
                        .is_none_or(|r| r.acked)
                    {
                        break;
                    }
                    tokio::select! {
                        biased;
                        _ = stop.as_mut() => return Err(Stop::Closed),
                        r = stream.wait_readable() => {
                            if r.is_err() { return Err(Stop::Closed); }
                            input.poll(srv, stream, client)?;
                        }
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
            resume
        }
    };
    stream_from(srv, stream, client, input, pos, stop).await
}

/// Sends the snapshot payload.
async fn transfer<S: ClientStream, F: Future<Output = ()>>(
    srv: &Arc<Server>,
    stream: &mut S,
    client: &mut Client,
    input: &mut Input,
    payload: Payload,
    name: &str,
    mut stop: Pin<&mut F>,
) -> Res<()> {
    let timeout = || repl_timeout(srv);
    match payload {
        Payload::Socket { mark, mut chunks } => {
            let head = format!("$EOF:{mark}\r\n");
            send(stream, head.as_bytes(), stop.as_mut(), timeout()).await?;
            count_out(srv, head.len());
            loop {
                let c = tokio::select! {
                    biased;
                    _ = stop.as_mut() => return Err(Stop::Closed),
                    c = chunks.recv() => c,
                };
                match c {
                    Some(Chunk::Data(b)) => {
                        if send(stream, &b, stop.as_mut(), timeout()).await.is_err() {
                            tracing::warn!("Disconnecting timedout replica (full sync): {}", name);
                            return Err(Stop::Closed);
                        }
                        count_out(srv, b.len());
                        input.poll(srv, stream, client)?;
                    }
                    Some(Chunk::End) => break,
                    Some(Chunk::Failed) | None => return Err(Stop::Closed),
                }
            }
            send(stream, mark.as_bytes(), stop.as_mut(), timeout()).await?;
            count_out(srv, mark.len());
            Ok(())
        }
        Payload::Disk(mut done) => {
            let path = loop {
                let state = done.borrow().clone();
                match state {
                    DiskOutcome::Done(p) => break p,
                    DiskOutcome::Failed => return Err(Stop::Closed),
                    DiskOutcome::Running => {}
                }
                tokio::select! {
                    biased;
                    _ = stop.as_mut() => return Err(Stop::Closed),
                    r = done.changed() => if r.is_err() { return Err(Stop::Closed); },
                    r = stream.wait_readable() => {
                        if r.is_err() { return Err(Stop::Closed); }
                        input.poll(srv, stream, client)?;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        send(stream, b"\n", stop.as_mut(), timeout()).await?;
                    }
                }
            };
            // Reads of the file just written come from the page cache: plain reads.
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!("SYNC failed. Can't open/stat DB after BGSAVE: {}", e);
                    return Err(Stop::Closed);
                }
            };
            let len = match file.metadata() {
                Ok(m) => m.len(),
                Err(e) => {
                    tracing::warn!("SYNC failed. Can't open/stat DB after BGSAVE: {}", e);
                    return Err(Stop::Closed);
                }
            };
            if let Some(r) = srv.core.lock().repl.replicas.get_mut(&client.id) {
                r.state = ReplicaState::SendBulk;
            }
            let head = format!("${len}\r\n");
            send(stream, head.as_bytes(), stop.as_mut(), timeout()).await?;
            count_out(srv, head.len());
            let mut left = len;
            let mut buf = vec![0u8; 64 * 1024];
            while left > 0 {
                use std::io::Read;
                let want = buf.len().min(left as usize);
                let n = match file.read(&mut buf[..want]) {
                    Ok(0) | Err(_) => {
                        tracing::warn!("Read error sending DB to replica: premature EOF");
                        return Err(Stop::Closed);
                    }
                    Ok(n) => n,
                };
                send(stream, &buf[..n], stop.as_mut(), timeout()).await?;
                count_out(srv, n);
                left -= n as u64;
                input.poll(srv, stream, client)?;
            }
            Ok(())
        }
    }
}

/// A diskless payload interleaved with the stream, for a replica that announced
/// `capa ferredis-mux`. Redis's protocol holds the writes made during a full sync on the master
/// until the replica has loaded the payload; interleaving them lets the replica hold them instead,
/// so the master's buffer is trimmed as usual while the sync goes on. The wire format, after
/// `$MUX\r\n`, is a sequence of frames:
/// - `r<n>\r\n` and `n` bytes of the RDB payload;
/// - `s<n>\r\n` and `n` bytes of the stream, from the snapshot's offset on, in order;
/// - `e\r\n`: the payload is complete; the plain stream follows.
///
/// The stream goes first whenever both are ready. Returns the stream position reached.
#[allow(clippy::too_many_arguments)]
async fn transfer_mux<S: ClientStream, F: Future<Output = ()>>(
    srv: &Arc<Server>,
    stream: &mut S,
    client: &mut Client,
    input: &mut Input,
    mut chunks: mpsc::Receiver<Chunk>,
    mut pos: u64,
    name: &str,
    mut stop: Pin<&mut F>,
) -> Res<u64> {
    const HEAD: &[u8] = b"$MUX\r\n";
    const END: &[u8] = b"e\r\n";
    let id = client.id;
    let appended = srv.core.lock().repl.appended.clone();
    let timeout = || repl_timeout(srv);
    send(stream, HEAD, stop.as_mut(), timeout()).await?;
    count_out(srv, HEAD.len());
    let mut bufs: Vec<Bytes> = Vec::new();
    let mut seen_end: Option<u64> = None;
    loop {
        let notified = appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let n = next_slice(srv, id, pos, &mut seen_end, &mut bufs)?;
        if n > 0 {
            let head = format!("s{n}\r\n");
            send(stream, head.as_bytes(), stop.as_mut(), timeout()).await?;
            count_out(srv, head.len());
            pos = send_slices(
                srv,
                stream,
                client,
                input,
                &mut bufs,
                pos,
                n,
                stop.as_mut(),
                &appended,
            )
            .await?;
            continue;
        }
        let c = tokio::select! {
            biased;
            _ = stop.as_mut() => return Err(Stop::Closed),
            _ = &mut notified => continue,
            c = chunks.recv() => c,
            r = stream.wait_readable() => {
                if r.is_err() { return Err(Stop::Closed); }
                input.poll(srv, stream, client)?;
                continue;
            }
        };
        match c {
            Some(Chunk::Data(b)) => {
                let head = format!("r{}\r\n", b.len());
                send(stream, head.as_bytes(), stop.as_mut(), timeout()).await?;
                if send(stream, &b, stop.as_mut(), timeout()).await.is_err() {
                    tracing::warn!("Disconnecting timedout replica (full sync): {}", name);
                    return Err(Stop::Closed);
                }
                count_out(srv, head.len() + b.len());
                input.poll(srv, stream, client)?;
            }
            Some(Chunk::End) => break,
            Some(Chunk::Failed) | None => return Err(Stop::Closed),
        }
    }
    send(stream, END, stop.as_mut(), timeout()).await?;
    count_out(srv, END.len());
    Ok(pos)
}

/// Under the core lock: checks the replica's output limit when the stream grew since `seen_end`,
/// pins the buffer at `pos`, ends the catch-up phase once it is over, and reads up to `SEND_MAX`
/// bytes from `pos` into `bufs` (zero-copy slices). Returns the number of bytes read.
fn next_slice(
    srv: &Server,
    id: u64,
    pos: u64,
    seen_end: &mut Option<u64>,
    bufs: &mut Vec<Bytes>,
) -> Res<usize> {
    let lim = srv.config.read().client_output_buffer_limit.replica;
    let mut core = srv.core.lock();
    // A sender that falls behind the writers (not only one blocked on a full socket) is over the
    // limit as soon as its unsent part is. The limit is checked when the stream grows, as Redis
    // checks on appends, so a replica resumed far back in the backlog (more than its hard limit
    // to send) drains it while the master is idle instead of being dropped on every PSYNC.
    let end = core.repl.backlog.as_ref().map_or(0, |b| b.end_offset());
    let (hard, _, _) = effective_limits(core.repl.replicas.get(&id), &lim);
    let grew = seen_end.is_some_and(|e| end > e);
    *seen_end = Some(end);
    if grew && hard > 0 && end.saturating_sub(pos) >= hard {
        if let Some(h) = srv.clients.lock().get(&id) {
            h.meta.lock().obuf = end.saturating_sub(pos) as usize;
        }
        drop_over_limit(srv, &mut core, id);
        return Err(Stop::Closed);
    }
    let repl = &mut core.repl;
    let Some(r) = repl.replicas.get_mut(&id) else {
        return Err(Stop::Closed);
    };
    r.needed = Some(pos);
    if matches!(r.sync_phase, Some(SyncPhase::CatchUp(t)) if pos >= t)
        && caught_up(end.saturating_sub(pos), &lim)
    {
        // Read what was written during the sync, and what it still has to read fits the
        // configured limits: normal limits from now on.
        r.sync_phase = None;
    }
    let Some(b) = repl.backlog.as_mut() else {
        return Err(Stop::Closed);
    };
    b.read(pos, SEND_MAX, bufs).ok_or(Stop::Closed)
}

/// Sends the stream slices `bufs` (the `n` bytes from `pos` that [`next_slice`] read), accounts
/// them, moves the replica's pin past them and reads what the replica sent meanwhile. Returns the
/// new position.
#[allow(clippy::too_many_arguments)]
async fn send_slices<S: ClientStream, F: Future<Output = ()>>(
    srv: &Server,
    stream: &mut S,
    client: &mut Client,
    input: &mut Input,
    bufs: &mut Vec<Bytes>,
    pos: u64,
    n: usize,
    mut stop: Pin<&mut F>,
    appended: &tokio::sync::Notify,
) -> Res<u64> {
    let id = client.id;
    let timeout = repl_timeout(srv);
    for b in bufs.drain(..) {
        send_stream(srv, stream, &b, stop.as_mut(), timeout, id, pos, appended).await?;
    }
    let pos = pos + n as u64;
    {
        let mut core = srv.core.lock();
        core.repl.stats.net_repl_output_bytes += n as u64;
        if let Some(r) = core.repl.replicas.get_mut(&id) {
            r.needed = Some(pos);
        }
    }
    input.poll(srv, stream, client)?;
    Ok(pos)
}

/// Streams the shared buffer from `pos` on, forever.
async fn stream_from<S: ClientStream, F: Future<Output = ()>>(
    srv: &Arc<Server>,
    stream: &mut S,
    client: &mut Client,
    input: &mut Input,
    mut pos: u64,
    mut stop: Pin<&mut F>,
) -> Res<()> {
    let id = client.id;
    let appended = srv.core.lock().repl.appended.clone();
    let mut bufs: Vec<Bytes> = Vec::new();
    // The stream's end at the previous check (see `next_slice`).
    let mut seen_end: Option<u64> = None;
    loop {
        let notified = appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let n = next_slice(srv, id, pos, &mut seen_end, &mut bufs)?;
        if n == 0 {
            tokio::select! {
                biased;
                _ = stop.as_mut() => return Err(Stop::Closed),
                r = stream.wait_readable() => {
                    if r.is_err() { return Err(Stop::Closed); }
                    input.poll(srv, stream, client)?;
                }
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        pos = send_slices(
            srv,
            stream,
            client,
            input,
            &mut bufs,
            pos,
            n,
            stop.as_mut(),
            &appended,
        )
        .await?;
    }
}

/// Replication's part of the server cron, under the core lock: called every tick.
pub fn cron(srv: &Server, core: &mut Core) {
    let now = crate::util::now_ms();
    start_pending(srv, core, false);
    check_output_limits(srv, core, now);
    super::failover::update_failover(srv, core);
    super::failover::update_shutdown(srv, core);
    if now - core.repl.master.last_second_ms < 1000 {
        return;
    }
    core.repl.master.last_second_ms = now;
    let cfg = srv.config.read();
    let (period, timeout, ttl, size) = (
        cfg.repl_ping_replica_period.max(1),
        cfg.repl_timeout.max(1),
        cfg.repl_backlog_ttl,
        cfg.repl_backlog_size.max(1) as u64,
    );
    let del_sync_files = cfg.rdb_del_sync_files;
    let persistence_off = cfg.save.is_empty() && !cfg.appendonly;
    let rdb_path = crate::persistence::dump_path(&cfg.dir, &cfg.dbfilename);
    drop(cfg);
    let repl = &mut core.repl;
    if let Some(b) = &mut repl.backlog {
        if b.backlog_size() != size {
            b.set_backlog_size(size);
        }
    }
    // Only a top-level master writes its own PINGs: a replica forwards its master's stream as is.
    if !repl.replicas.is_empty()
        && repl.link.is_none()
        && repl.failover.phase == super::failover::FailoverPhase::None
        && now - repl.master.last_ping_ms >= period * 1000
    {
        repl.master.last_ping_ms = now;
        repl.propagate_now(None, &[Bytes::from_static(b"PING")]);
    }
    // Replicas that stopped acknowledging.
    let mut dead = Vec::new();
    for (id, r) in &repl.replicas {
        if r.state == ReplicaState::Online && !r.pre_psync && now - r.last_ack_ms > timeout * 1000 {
            tracing::warn!(
                "Disconnecting timedout replica (streaming sync): {}",
                r.name
            );
            dead.push(*id);
        }
    }
    for id in dead {
        kill(srv, id);
    }
    // The backlog of a master left alone.
    if repl.replicas.is_empty() && repl.link.is_none() && ttl > 0 && repl.backlog.is_some() {
        if repl.master.no_replicas_since_ms == 0 {
            repl.master.no_replicas_since_ms = now;
        }
        if (now - repl.master.no_replicas_since_ms) / 1000 > ttl {
            repl.replid = super::random_replid();
            repl.clear_replid2();
            repl.free_backlog();
            core.set_propagation_active(false);
            tracing::info!(
                "Replication backlog freed after {} seconds without connected replicas.",
                ttl
            );
        }
    }
    // A dump file written only to feed replicas, in an instance without persistence.
    let repl = &mut core.repl;
    if !del_sync_files {
        repl.master.rdb_generated_by_sync = false;
    } else if persistence_off
        && repl.master.rdb_generated_by_sync
        && repl.master.disk_job.is_none()
        && !repl.replicas.values().any(|r| {
            matches!(
                r.state,
                ReplicaState::WaitBgsave | ReplicaState::WaitBgsaveEnd | ReplicaState::SendBulk
            )
        })
        && std::fs::symlink_metadata(&rdb_path).is_ok()
    {
        repl.master.rdb_generated_by_sync = false;
        tracing::info!(
            "Removing the RDB file used to feed replicas in a persistence-less instance"
        );
        let _ = std::fs::remove_file(&rdb_path);
    }
}

/// Disconnects replicas whose unsent stream exceeds `client-output-buffer-limit replica`.
fn check_output_limits(srv: &Server, core: &mut Core, now: i64) {
    let repl = &mut core.repl;
    let Some(end) = repl.backlog.as_ref().map(|b| b.end_offset()) else {
        return;
    };
    let lim = srv.config.read().client_output_buffer_limit.replica;
    let mut over = Vec::new();
    let clients = srv.clients.lock();
    for (id, r) in repl.replicas.iter_mut() {
        let Some(needed) = r.needed else { continue };
        let unsent = end.saturating_sub(needed);
        // CLIENT LIST `omem=` of a replica: its unsent part of the shared buffer, as in Redis.
        if let Some(h) = clients.get(id) {
            h.meta.lock().obuf = unsent as usize;
        }
        let (hard_lim, soft_lim, soft_secs) = effective_limits(Some(r), &lim);
        let hard = hard_lim > 0 && unsent >= hard_lim;
        let mut soft = false;
        if soft_lim > 0 && unsent >= soft_lim {
            let since = *r.soft_limit_since_ms.get_or_insert(now);
            // As Redis: the first time it is seen does not count; then more than the seconds.
            soft = (now - since) / 1000 > soft_secs as i64;
        } else {
            r.soft_limit_since_ms = None;
        }
        if hard || soft {
            over.push(*id);
        }
    }
    drop(clients);
    for id in over {
        drop_over_limit(srv, core, id);
    }
    core.repl.trim_backlog();
}

/// Disconnects a replica over its output limit, logging its client line (with `omem=`) as Redis
/// does; it stops pinning the buffer at once.
fn drop_over_limit(srv: &Server, core: &mut Core, id: u64) {
    let h = srv.clients.lock().get(&id).cloned();
    if let Some(h) = h {
        let line = crate::server::client::info_line(&h, &h.meta.lock(), None);
        tracing::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            line
        );
    }
    kill(srv, id);
    if let Some(r) = core.repl.replicas.get_mut(&id) {
        r.needed = None;
    }
}

/// While a write to a replica is blocked, whether the stream appended since puts it over the
/// hard output limit (checked on every append, as Redis checks on every write to a replica).
fn over_hard_limit(srv: &Server, id: u64, pos: u64) -> bool {
    let lim = srv.config.read().client_output_buffer_limit.replica;
    if lim.hard == 0 {
        return false;
    }
    let mut core = srv.core.lock();
    let (hard, _, _) = effective_limits(core.repl.replicas.get(&id), &lim);
    let end = core.repl.backlog.as_ref().map_or(0, |b| b.end_offset());
    let unsent = end.saturating_sub(pos);
    if unsent < hard {
        return false;
    }
    if let Some(h) = srv.clients.lock().get(&id) {
        h.meta.lock().obuf = unsent as usize;
    }
    drop_over_limit(srv, &mut core, id);
    true
}

/// [`send`] for the stream: also gives up when the replica goes over its hard output limit while
/// the write is blocked.
#[allow(clippy::too_many_arguments)]
async fn send_stream<S: ClientStream, F: Future<Output = ()>>(
    srv: &Server,
    stream: &mut S,
    bytes: &[u8],
    mut stop: Pin<&mut F>,
    timeout: Duration,
    id: u64,
    pos: u64,
    appended: &tokio::sync::Notify,
) -> Res<()> {
    let write = tokio::time::timeout(timeout, stream.write_all(bytes));
    tokio::pin!(write);
    loop {
        tokio::select! {
            biased;
            r = &mut write => return match r {
                Ok(Ok(())) => Ok(()),
                _ => Err(Stop::Closed),
            },
            _ = stop.as_mut() => return Err(Stop::Closed),
            _ = appended.notified() => {
                if over_hard_limit(srv, id, pos) {
                    return Err(Stop::Closed);
                }
            }
        }
    }
}

/// Disconnects every attached replica (Redis's `disconnectSlaves`: our history changed, so they
/// must sync again, as when this server starts following another master).
pub fn disconnect_all(srv: &Server, core: &mut Core) {
    let ids: Vec<u64> = core.repl.replicas.keys().copied().collect();
    for id in ids {
        kill(srv, id);
    }
}

fn kill(srv: &Server, id: u64) {
    let h = srv.clients.lock().get(&id).cloned();
    if let Some(h) = h {
        crate::server::client::kill_client(srv, &h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aux_order() {
        assert_eq!(replica_name("127.0.0.1", 6380), "127.0.0.1:6380");
        assert_eq!(
            replica_name("10.0.0.1", 0),
            "10.0.0.1:<unknown-replica-port>"
        );
        assert_eq!(replica_name("::1", 6380), "[::1]:6380");
        assert_eq!(peer_ip("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(peer_ip("[::1]:5000"), "::1");
        let aux = with_repl_aux(
            vec![("redis-ver", "7.0.15".into()), ("aof-base", "0".into())],
            vec![("repl-stream-db", "0".into()), ("repl-id", "x".into())],
        );
        let keys: Vec<_> = aux.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["redis-ver", "repl-stream-db", "repl-id", "aof-base"]);
    }

    #[test]
    fn sync_phase_relaxes_the_replica_limits() {
        let lim = crate::config::ObufLimit {
            hard: 64 << 10,
            soft: 32 << 10,
            soft_seconds: 1,
        };
        let mut r = ReplicaInfo {
            ip: "127.0.0.1".into(),
            port: 1,
            state: ReplicaState::Online,
            ack_offset: 0,
            last_ack_ms: 0,
            acked: true,
            name: "r".into(),
            conf: ReplConf::default(),
            pre_psync: false,
            wait_since_ms: 0,
            needed: Some(0),
            soft_limit_since_ms: None,
            sync_phase: None,
            start_tx: None,
        };
        assert_eq!(effective_limits(Some(&r), &lim), (64 << 10, 32 << 10, 1));
        assert_eq!(effective_limits(None, &lim), (64 << 10, 32 << 10, 1));
        for phase in [
            SyncPhase::Transfer,
            SyncPhase::Loading,
            SyncPhase::CatchUp(10),
        ] {
            r.sync_phase = Some(phase);
            assert_eq!(effective_limits(Some(&r), &lim), (512 << 20, 0, 0));
        }
        assert!(caught_up(10 << 10, &lim) && !caught_up(40 << 10, &lim));
        let hard_only = crate::config::ObufLimit {
            hard: 64 << 10,
            ..Default::default()
        };
        assert!(caught_up(20 << 10, &hard_only) && !caught_up(40 << 10, &hard_only));
        assert_eq!(sync_allowance(0), 0);
        assert_eq!(sync_allowance(256 << 20), 4 << 30);
    }

    #[test]
    fn psync_continues_only_within_our_history_and_the_buffer() {
        let mut repl = ReplState::default();
        // No backlog yet: nothing can be continued.
        let id = repl.replid.clone();
        assert_eq!(try_partial(&repl, &id, 1, "r"), None);
        repl.ensure_backlog(16);
        repl.feed_raw(&[b'x'; 100]);
        // PSYNC names the first byte wanted (1-based): 101 is "nothing missed".
        assert_eq!(try_partial(&repl, &id, 101, "r"), Some(100));
        assert_eq!(try_partial(&repl, &id, 1, "r"), Some(0));
        assert_eq!(try_partial(&repl, &id, 102, "r"), None);
        assert_eq!(try_partial(&repl, "?", 1, "r"), None);
        assert_eq!(try_partial(&repl, &"a".repeat(40), 1, "r"), None);
        // After a shift, the old id is good up to the switch point only.
        repl.shift_replid();
        repl.feed_raw(&[b'y'; 10]);
        assert_eq!(try_partial(&repl, &id, 101, "r"), Some(100));
        assert_eq!(try_partial(&repl, &id, 102, "r"), None);
        assert_eq!(
            try_partial(&repl, &repl.replid.clone(), 111, "r"),
            Some(110)
        );
        // History trimmed out of the buffer cannot be served.
        let cur = repl.replid.clone();
        for _ in 0..100 {
            repl.feed_raw(&[b'z'; 1000]);
        }
        if let Some(b) = repl.backlog.as_mut() {
            b.trim(None);
        }
        assert_eq!(try_partial(&repl, &cur, 1, "r"), None);
        let end = repl.offset() as i64;
        assert_eq!(try_partial(&repl, &cur, end + 1, "r"), Some(end as u64));
    }
}
