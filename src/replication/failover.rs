//! Waiting for replicas: WAIT's bookkeeping (how many replicas acknowledged an offset, asking them
//! for an ACK, waking the clients whose target is reached).
//!
//! # WAIT
//! Every client remembers `woff`, the master offset right after its last command that reached
//! the stream (set by `cmd::call`). WAIT answers at once when enough online replicas acknowledged
//! `woff` already; otherwise its client blocks in the blocked-clients registry
//! (`server::blocking`, op [`BlockOp::Wait`], no keys) and `REPLCONF GETACK *` is written into the
//! stream once the command ends (one GETACK for all the WAITs of a batch). Every ACK re-counts the
//! waiters ([`wake_waiting_acks`]); at its deadline (or on CLIENT UNBLOCK) a waiter gets the count
//! it has.
//!
//! # FAILOVER
//! `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]` pauses writes and enters
//! `waiting-for-sync`: the server cron ([`update_failover`]) waits for the target replica (or any
//! replica) to acknowledge exactly our offset (no PING or GETACK enters the stream meanwhile, so
//! the offset stands still), then enters `failover-in-progress` and follows that replica
//! (`replica::set_master`), whose link sends `PSYNC <our replid> <our offset + 1> FAILOVER`. The
//! target, a replica of ours with the same replid, promotes itself on that request and answers
//! `+CONTINUE`; the failover then ends and writes resume ([`psync_replied`]). A timeout without
//! FORCE, ABORT or a refused PSYNC roll back: a demoted server becomes a master again.
//!
//! # SHUTDOWN
//! A master whose replicas have not acknowledged its whole stream does not stop at once (unless
//! NOW, or `shutdown-timeout 0`): it pauses writes, asks for ACKs and blocks the SHUTDOWN client
//! ([`wait_before_shutdown`]); the cron ([`update_shutdown`]) finishes the shutdown once every
//! replica caught up or the timeout passed. SHUTDOWN ABORT (or a failed final save) cancels it and
//! answers the blocked clients with an error.

use bytes::{Bytes, BytesMut};
use std::sync::Arc;

use super::master::ReplicaState;
use super::ReplState;
use crate::resp::Reply;
use crate::server::blocking::BlockOp;
use crate::server::client::{PauseKind, PausePurpose};
use crate::server::{Core, Server, ShutdownRequest};

/// What clients blocked in SHUTDOWN receive when it does not happen.
pub const SHUTDOWN_ERR: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

/// A shutdown waiting for replicas.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownWait {
    pub req: ShutdownRequest,
    /// Unix ms after which it goes ahead anyway.
    pub deadline_ms: i64,
}

/// Where a FAILOVER stands (INFO `master_failover_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailoverPhase {
    #[default]
    None,
    /// Writes paused, waiting for the target to reach our offset.
    WaitForSync,
    /// Following the target, PSYNC FAILOVER under way.
    InProgress,
}

impl FailoverPhase {
    pub fn name(self) -> &'static str {
        match self {
            FailoverPhase::None => "no-failover",
            FailoverPhase::WaitForSync => "waiting-for-sync",
            FailoverPhase::InProgress => "failover-in-progress",
        }
    }
}

/// The FAILOVER under way, if any (in `ReplState`, under the core lock).
#[derive(Debug, Default)]
pub struct FailoverState {
    pub phase: FailoverPhase,
    /// The replica we fail over to (known from TO, or once one caught up).
    pub target: Option<(String, u16)>,
    /// Unix ms of the TIMEOUT; 0 without one.
    pub end_ms: i64,
    pub force: bool,
}

impl ReplState {
    /// How many online replicas acknowledged `offset` (or more).
    pub fn count_acks(&self, offset: u64) -> usize {
        self.replicas
            .values()
            .filter(|r| r.state == ReplicaState::Online && r.ack_offset >= offset)
            .count()
    }
}

/// Writes `REPLCONF GETACK *` into the stream if a WAIT asked for it (after the command that
/// asked, so no client's `woff` covers it). Nothing without replicas or a backlog, nor while
/// clients are paused.
pub fn send_getack(srv: &Server, core: &mut Core) {
    core.repl.master.get_ack_pending = false;
    // While writes are paused (a failover or shutdown waiting for its replicas among others)
    // the offset must stand still, so the replicas' ACKs can match it.
    if core.repl.link.is_some()
        || core.repl.replicas.is_empty()
        || core.repl.backlog.is_none()
        || core.repl.failover.phase != FailoverPhase::None
        || srv.pause.current() != PauseKind::Off
    {
        return;
    }
    core.repl.propagate_now(
        None,
        &[
            Bytes::from_static(b"REPLCONF"),
            Bytes::from_static(b"GETACK"),
            Bytes::from_static(b"*"),
        ],
    );
}

/// Answers the WAITs whose offset enough replicas acknowledged now.
pub fn wake_waiting_acks(core: &mut Core) {
    for (id, offset, numreplicas) in core.blocking.waiting_acks() {
        let acked = core.repl.count_acks(offset);
        if (acked as i64) < numreplicas {
            continue;
        }
        if let Some(b) = core.blocking.take(&mut core.ks.blocking, id) {
            let mut buf = BytesMut::new();
            Reply::new(&mut buf, b.proto).int(acked as i64);
            b.wake(buf.freeze());
        }
    }
}

/// The WAIT op of a client that must block.
pub fn wait_op(offset: u64, numreplicas: i64) -> BlockOp {
    BlockOp::Wait {
        offset,
        numreplicas,
    }
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms], under the core lock. Ok(()) means +OK.
pub fn command(srv: &Server, core: &mut Core, args: &[Bytes]) -> Result<(), String> {
    if srv.config.read().cluster_enabled {
        return Err(
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead."
                .into(),
        );
    }
    // ABORT stands alone.
    if args.len() == 2 && args[1].eq_ignore_ascii_case(b"abort") {
        if core.repl.failover.phase == FailoverPhase::None {
            return Err("ERR No failover in progress.".into());
        }
        abort_failover(srv, core, "Failover manually aborted");
        return Ok(());
    }
    let mut target: Option<(String, i64)> = None;
    let mut timeout_ms: i64 = 0;
    let mut force = false;
    let mut j = 1;
    while j < args.len() {
        let a = &args[j];
        let is = |s: &str| a.eq_ignore_ascii_case(s.as_bytes());
        if is("timeout") && j + 1 < args.len() && timeout_ms == 0 {
            timeout_ms = crate::util::parse_i64(&args[j + 1])
                .ok_or("ERR value is not an integer or out of range")?;
            if timeout_ms <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0".into());
            }
            j += 1;
        } else if is("to") && j + 2 < args.len() && target.is_none() {
            let port = crate::util::parse_i64(&args[j + 2])
                .ok_or("ERR value is not an integer or out of range")?;
            target = Some((String::from_utf8_lossy(&args[j + 1]).into_owned(), port));
            j += 2;
        } else if is("force") && !force {
            force = true;
        } else {
            return Err("ERR syntax error".into());
        }
        j += 1;
    }
    if core.repl.failover.phase != FailoverPhase::None {
        return Err("ERR FAILOVER already in progress.".into());
    }
    if core.repl.link.is_some() {
        return Err("ERR FAILOVER is not valid when server is a replica.".into());
    }
    if core.repl.replicas.is_empty() {
        return Err("ERR FAILOVER requires connected replicas.".into());
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.".into(),
        );
    }
    let target = match target {
        Some((host, port)) => {
            let Some(r) = core
                .repl
                .replicas
                .values()
                .find(|r| r.ip == host && r.port as i64 == port)
            else {
                return Err("ERR FAILOVER target HOST and PORT is not a replica.".into());
            };
            if r.state != ReplicaState::Online {
                return Err("ERR FAILOVER target replica is not online.".into());
            }
            tracing::info!("FAILOVER requested to {}:{}.", host, port);
            Some((host, r.port))
        }
        None => {
            tracing::info!("FAILOVER requested to any replica.");
            None
        }
    };
    let f = &mut core.repl.failover;
    f.target = target;
    f.end_ms = if timeout_ms > 0 {
        crate::util::now_ms().saturating_add(timeout_ms)
    } else {
        0
    };
    f.force = force;
    f.phase = FailoverPhase::WaitForSync;
    srv.pause
        .pause(PausePurpose::Failover, i64::MAX, PauseKind::Write);
    Ok(())
}

/// Ends the failover state and lets writes run again.
fn clear(srv: &Server, core: &mut Core) {
    core.repl.failover = FailoverState::default();
    srv.pause.unpause(PausePurpose::Failover);
}

/// Gives up a failover: logs why, becomes a master again if we already follow the target.
pub fn abort_failover(srv: &Server, core: &mut Core, why: &str) {
    let f = &core.repl.failover;
    if f.phase == FailoverPhase::None {
        return;
    }
    match &f.target {
        Some((h, p)) => tracing::info!("FAILOVER to {}:{} aborted: {}", h, p, why),
        None => tracing::info!("FAILOVER to any replica aborted: {}", why),
    }
    if f.phase == FailoverPhase::InProgress {
        super::replica::unset_master(srv, core);
    }
    clear(srv, core);
}

/// The server cron's part: a failover waiting for its target times out, or starts once the
/// target acknowledged our whole stream.
pub fn update_failover(srv: &Server, core: &mut Core) {
    if core.repl.failover.phase != FailoverPhase::WaitForSync {
        return;
    }
    let f = &core.repl.failover;
    if f.end_ms != 0 && f.end_ms <= crate::util::now_ms() {
        if let (true, Some((h, p))) = (f.force, f.target.clone()) {
            tracing::info!("FAILOVER to {}:{} time out exceeded, failing over.", h, p);
            start(srv, core, h, p);
        } else {
            abort_failover(srv, core, "Replica never caught up before timeout");
        }
        return;
    }
    let off = core.repl.offset();
    let caught_up = match &f.target {
        Some((h, p)) => core
            .repl
            .replicas
            .values()
            .any(|r| &r.ip == h && r.port == *p && r.ack_offset == off)
            .then(|| (h.clone(), *p)),
        None => core
            .repl
            .replicas
            .values()
            .find(|r| r.ack_offset == off)
            .map(|r| (r.ip.clone(), r.port)),
    };
    if let Some((h, p)) = caught_up {
        core.repl.failover.target = Some((h.clone(), p));
        tracing::info!("Failover target {}:{} is synced, failing over.", h, p);
        start(srv, core, h, p);
    }
}

/// Demotes us: follow the target, whose link asks `PSYNC ... FAILOVER`.
fn start(srv: &Server, core: &mut Core, host: String, port: u16) {
    core.repl.failover.phase = FailoverPhase::InProgress;
    let arc: Arc<Server> = srv.self_arc();
    super::replica::set_master(&arc, core, host, port);
}

/// Whether our link must send `PSYNC ... FAILOVER`.
pub fn in_progress(core: &Core) -> bool {
    core.repl.failover.phase == FailoverPhase::InProgress
}

/// The target answered our `PSYNC ... FAILOVER`: a sync (+CONTINUE or +FULLRESYNC) completes the
/// failover; anything else rolls it back (we are a master again). Returns whether the link goes on.
pub fn psync_replied(srv: &Server, core: &mut Core, reply: &str) -> bool {
    if !in_progress(core) {
        return true;
    }
    if reply.starts_with("+CONTINUE") || reply.starts_with("+FULLRESYNC") {
        clear(srv, core);
        true
    } else {
        abort_failover(srv, core, "Failover target rejected psync request");
        false
    }
}

/// Whether every replica acknowledged our whole stream (or there is none).
pub fn ready_to_shutdown(core: &Core) -> bool {
    let off = core.repl.offset();
    core.repl.replicas.values().all(|r| r.ack_offset == off)
}

/// Starts waiting for lagging replicas before a shutdown, if it must; returns true when the
/// shutdown waits (already did, or starts to now), false when it may go ahead at once.
pub fn wait_before_shutdown(srv: &Server, core: &mut Core, req: ShutdownRequest) -> bool {
    if core.repl.shutdown_wait.is_some() {
        return true;
    }
    let timeout = srv.config.read().shutdown_timeout;
    if req.now || timeout == 0 || ready_to_shutdown(core) {
        return false;
    }
    core.repl.shutdown_wait = Some(ShutdownWait {
        req,
        deadline_ms: crate::util::now_ms().saturating_add(timeout.saturating_mul(1000)),
    });
    if srv.pause.current() == PauseKind::Off && core.repl.backlog.is_some() {
        core.repl.propagate_now(
            None,
            &[
                Bytes::from_static(b"REPLCONF"),
                Bytes::from_static(b"GETACK"),
                Bytes::from_static(b"*"),
            ],
        );
    }
    srv.pause
        .pause(PausePurpose::Shutdown, i64::MAX, PauseKind::Write);
    tracing::info!("Waiting for replicas before shutting down.");
    true
}

/// Logs the replicas that lag as the server stops, and how many are in sync.
pub fn log_replicas_at_shutdown(core: &Core) {
    let off = core.repl.offset();
    let now = crate::util::now_ms();
    let mut lagging = 0;
    for r in core.repl.replicas.values() {
        if r.ack_offset != off {
            lagging += 1;
            let lag = if r.state == ReplicaState::Online {
                (now - r.last_ack_ms).max(0) / 1000
            } else {
                0
            };
            tracing::warn!(
                "Lagging replica {} reported offset {} behind master, lag={}, state={}.",
                r.name,
                off as i64 - r.ack_offset as i64,
                lag,
                r.state.name()
            );
        }
    }
    let n = core.repl.replicas.len();
    if n > 0 {
        tracing::info!(
            "{} of {} replicas are in sync when shutting down.",
            n - lagging,
            n
        );
    }
}

/// Cancels a waiting shutdown (SHUTDOWN ABORT, or its final save failed): writes resume and the
/// clients blocked in SHUTDOWN get an error. Returns false when none was waiting.
pub fn cancel_shutdown(srv: &Server, core: &mut Core) -> bool {
    if core.repl.shutdown_wait.take().is_none() {
        return false;
    }
    for id in core.blocking.shutdown_waiters() {
        if let Some(b) = core.blocking.take(&mut core.ks.blocking, id) {
            let mut buf = BytesMut::new();
            Reply::new(&mut buf, b.proto).error(SHUTDOWN_ERR);
            b.wake(buf.freeze());
        }
    }
    srv.pause.unpause(PausePurpose::Shutdown);
    true
}

/// The cron's part: a waiting shutdown goes ahead once every replica caught up or its time is up.
pub fn update_shutdown(srv: &Server, core: &mut Core) {
    let Some(w) = core.repl.shutdown_wait else {
        return;
    };
    if crate::util::now_ms() < w.deadline_ms && !ready_to_shutdown(core) {
        return;
    }
    if let Err(e) = crate::cmd::server::finish_shutdown(srv, core, w.req) {
        tracing::warn!("{}", e);
        cancel_shutdown(srv, core);
    }
}
