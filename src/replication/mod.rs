//! Replication: the server's replication identity and offsets ([`ReplState`]), the one choke point
//! through which every write reaches the replication stream ([`Propagation`]), the shared
//! replication buffer and backlog ([`buffer`]), the master side ([`master`]: PSYNC, full sync,
//! replica senders) and the replica side ([`replica`]: the link to our master).
//!
//! # Propagation
//! Dispatch wraps every command in [`Propagation::enter`] / [`Propagation::leave`]. A command that
//! changed the keyspace (`dirty` moved) is recorded as it was called, unless its handler asked for
//! something else, as Redis's handlers do:
//! - [`Propagation::replace`]: propagate this argv instead (SET EX → SET PXAT, INCRBYFLOAT → SET, a
//!   served BLPOP → LPOP, ...);
//! - [`Propagation::also`]: propagate one more command, in order (SPOP with a count → SREMs, ...);
//! - [`Propagation::prevent`]: propagate nothing for this command;
//! - [`Propagation::force`]: propagate even though nothing changed (PUBLISH).
//!
//! Keys deleted by lazy expiry (and eviction) while a command runs are queued by the keyspace in
//! `expired_pending` and recorded as DEL ahead of the command. When the outermost command ends
//! (EXEC counts as one, with its whole queue), the ops are written to the stream: wrapped in
//! MULTI/EXEC when there is more than one, as Redis 7.0 does, with a SELECT inserted whenever the
//! database differs from the stream's current one.
//!
//! Nothing is recorded while no backlog exists (a master that never had a replica): then the command
//! path pays one branch. A replica does not propagate what it applies from its master: it forwards
//! the master's bytes as they are ([`ReplState::feed_raw`]), so offsets agree along a chain.

pub mod buffer;
pub mod failover;
pub mod master;
pub mod replica;

use bytes::{BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;
use std::sync::Arc;

use buffer::ReplBuffer;

/// 40 random hex characters: a replication id (and the run id).
pub fn random_replid() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A replication id that means "none" (`master_replid2` before any failover).
pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

/// Counters of INFO stats about replication.
#[derive(Default, Debug, Clone)]
pub struct ReplStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Bytes received from our master (`total_net_repl_input_bytes`).
    pub net_repl_input_bytes: u64,
    /// Bytes sent to replicas (`total_net_repl_output_bytes`).
    pub net_repl_output_bytes: u64,
}

/// The replication state, under the core lock (propagation happens there, in execution order).
pub struct ReplState {
    /// Our replication id (`master_replid`): random at start, a master's id while we follow it.
    pub replid: String,
    /// The previous id (`master_replid2`) and the offset up to which it is valid
    /// (`second_repl_offset`, -1 when none): PSYNC2 after a failover.
    pub replid2: String,
    pub second_replid_offset: i64,
    /// `master_repl_offset` while no backlog exists; with a backlog the backlog's end is the truth
    /// (see [`ReplState::offset`]).
    offset_without_backlog: u64,
    /// The stream's retained tail (created when the first replica attaches, as in Redis).
    pub backlog: Option<ReplBuffer>,
    /// The database the stream last selected; None makes the next op emit SELECT.
    pub stream_db: Option<usize>,
    /// Woken whenever bytes are appended to the backlog (replica senders wait on it).
    pub appended: Arc<tokio::sync::Notify>,
    /// Master side: the replicas attached to us, by client id.
    pub replicas: BTreeMap<u64, master::ReplicaInfo>,
    /// Master side: snapshots under way for replicas, heartbeat and backlog-ttl bookkeeping.
    pub master: master::MasterState,
    /// Replica side: the link to our master; None while we are a master.
    pub link: Option<replica::LinkInfo>,
    pub stats: ReplStats,
    /// `min-replicas-to-write` / `min-replicas-max-lag` (mirrored from the config so the write
    /// path does not take the config lock), and the replicas that currently count as good.
    pub min_replicas_to_write: usize,
    pub min_replicas_max_lag: i64,
    pub good_replicas: usize,
    /// The FAILOVER under way, if any.
    pub failover: failover::FailoverState,
    /// A SHUTDOWN waiting for lagging replicas (`shutdown-timeout`).
    pub shutdown_wait: Option<failover::ShutdownWait>,
}

impl Default for ReplState {
    fn default() -> Self {
        ReplState {
            replid: random_replid(),
            replid2: NULL_REPLID.to_string(),
            second_replid_offset: -1,
            offset_without_backlog: 0,
            backlog: None,
            stream_db: None,
            appended: Arc::new(tokio::sync::Notify::new()),
            replicas: BTreeMap::new(),
            master: master::MasterState::default(),
            link: None,
            stats: ReplStats::default(),
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            good_replicas: 0,
            failover: Default::default(),
            shutdown_wait: None,
        }
    }
}

impl ReplState {
    /// `master_repl_offset`: the offset of the last byte of the stream.
    pub fn offset(&self) -> u64 {
        match &self.backlog {
            Some(b) => b.end_offset(),
            None => self.offset_without_backlog,
        }
    }

    /// Counts the good replicas: online, and acknowledged within `min-replicas-max-lag` seconds
    /// (Redis refreshes this once a second and on every ACK).
    pub fn refresh_good_replicas(&mut self, now_ms: i64) {
        let max_lag = self.min_replicas_max_lag;
        self.good_replicas = self
            .replicas
            .values()
            .filter(|r| {
                r.state == master::ReplicaState::Online
                    && (now_ms - r.last_ack_ms) / 1000 <= max_lag
            })
            .count();
    }

    /// Whether writes are refused for lack of good replicas (`-NOREPLICAS`): only on a master with
    /// both `min-replicas-to-write` and `min-replicas-max-lag` set.
    #[inline]
    pub fn too_few_replicas(&self) -> bool {
        self.min_replicas_to_write > 0
            && self.min_replicas_max_lag > 0
            && self.link.is_none()
            && self.good_replicas < self.min_replicas_to_write
    }

    /// Sets the offset (a full sync adopts the master's; a restart restores the saved one). The
    /// backlog, if any, restarts empty at that offset.
    pub fn set_offset(&mut self, offset: u64) {
        self.offset_without_backlog = offset;
        if let Some(b) = &mut self.backlog {
            b.reset(offset);
        }
    }

    /// Creates the backlog if it does not exist yet (a replica attaches, or we start following a
    /// master and may serve sub-replicas). Returns true when it was created.
    pub fn ensure_backlog(&mut self, size: u64) -> bool {
        if self.backlog.is_some() {
            return false;
        }
        self.backlog = Some(ReplBuffer::new(self.offset_without_backlog, size));
        // The next op of the stream must say which database it is for.
        self.stream_db = None;
        true
    }

    /// Frees the backlog (`repl-backlog-ttl` expired with no replica); the offset is kept.
    pub fn free_backlog(&mut self) {
        if let Some(b) = self.backlog.take() {
            self.offset_without_backlog = b.end_offset();
        }
    }

    /// Starts a new replication history (a master that stops following, or a full sync): the
    /// current id becomes `replid2`, valid up to the current offset, and a fresh id is drawn.
    pub fn shift_replid(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, random_replid());
        self.second_replid_offset = self.offset() as i64 + 1;
    }

    /// The replication AUX fields a snapshot saved now carries (`repl-stream-db`, `repl-id`,
    /// `repl-offset`), so a restart can continue the history: only with a history to continue (a
    /// master with a backlog, or a replica that has, or had, a live master). A replica records its
    /// master's stream database; it may differ from any database its own clients use.
    pub fn save_info(&self) -> Option<Vec<(&'static str, String)>> {
        let db = match &self.link {
            None if self.backlog.is_some() => self.stream_db.unwrap_or(0),
            None => return None,
            Some(l) if l.state == replica::LinkState::Connected => l.stream_db,
            Some(l) => l.cached.as_ref()?.db,
        };
        Some(vec![
            ("repl-stream-db", db.to_string()),
            ("repl-id", self.replid.clone()),
            ("repl-offset", self.offset().to_string()),
        ])
    }

    /// A master's start-up load found a replication history in the dump (`repl-id`,
    /// `repl-offset`): our own fresh id stays, the saved one becomes `replid2` valid up to the
    /// saved offset, and an empty backlog starts there, so a replica that was exactly in step when
    /// we stopped continues with `+CONTINUE`.
    pub fn restore_as_master(&mut self, id: String, offset: u64, backlog_size: u64) {
        self.replid2 = id;
        self.second_replid_offset = offset as i64 + 1;
        self.backlog = None;
        self.set_offset(offset);
        self.ensure_backlog(backlog_size);
    }

    /// Forgets the previous id (Redis's `clearReplicationId2`).
    pub fn clear_replid2(&mut self) {
        self.replid2 = NULL_REPLID.to_string();
        self.second_replid_offset = -1;
    }

    /// Appends bytes received from our master to our own stream, unchanged (a replica forwards
    /// what it applies to its sub-replicas, so offsets line up along a chain).
    pub fn feed_raw(&mut self, data: &[u8]) {
        match &mut self.backlog {
            Some(b) => {
                b.append(data);
                self.appended.notify_waiters();
            }
            None => self.offset_without_backlog += data.len() as u64,
        }
    }

    /// Writes ops to the stream: each preceded by SELECT when its database differs from the
    /// stream's; `db` None for ops that belong to no database (MULTI, EXEC, PING).
    fn write_ops<'a>(&mut self, ops: impl Iterator<Item = (Option<usize>, &'a [Bytes])>) {
        // A replica's stream is its master's, forwarded by `feed_raw`: nothing of its own goes in.
        if self.link.is_some() {
            return;
        }
        let Some(backlog) = &mut self.backlog else {
            return;
        };
        let stream_db = &mut self.stream_db;
        backlog.append_with(|buf| {
            for (db, argv) in ops {
                if let Some(db) = db {
                    if *stream_db != Some(db) {
                        let mut itoa = itoa::Buffer::new();
                        let n = itoa.format(db).as_bytes();
                        encode_command(buf, [&b"SELECT"[..], n].into_iter());
                        *stream_db = Some(db);
                    }
                }
                encode_command(buf, argv.iter().map(|a| &a[..]));
            }
        });
        self.appended.notify_waiters();
    }

    /// Propagates one command outside any client command (the master's PING to its replicas, the
    /// active expiry's DEL, an eviction).
    pub fn propagate_now(&mut self, db: Option<usize>, argv: &[Bytes]) {
        self.write_ops(std::iter::once((db, argv)));
    }
}

impl ReplState {
    /// The INFO replication section, with Redis 7.0's fields in its order.
    pub fn info(&self, out: &mut String, cfg: &crate::config::Config, now_ms: i64) {
        use std::fmt::Write;
        let secs_since = |ms: i64| (now_ms - ms).max(0) / 1000;
        out.push_str("# Replication\r\n");
        match &self.link {
            None => out.push_str("role:master\r\n"),
            Some(l) => {
                let up = l.state == replica::LinkState::Connected;
                let syncing = l.state == replica::LinkState::Transfer;
                let _ = write!(
                    out,
                    "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                     master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n\
                     slave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
                    l.host,
                    l.port,
                    if up { "up" } else { "down" },
                    if up { secs_since(l.last_io_ms) } else { -1 },
                    syncing as u8,
                    l.info_offsets().0,
                    l.info_offsets().1,
                );
                if syncing {
                    // -1 until the bulk header arrived, 0 for the diskless `$EOF:` form.
                    let total = l.transfer_size.map(|s| s as i64).unwrap_or(-1);
                    let read = l.transfer_read as i64;
                    let perc = if total != 0 {
                        read as f64 * 100.0 / total as f64
                    } else {
                        0.0
                    };
                    let _ = write!(
                        out,
                        "master_sync_total_bytes:{total}\r\nmaster_sync_read_bytes:{read}\r\n\
                         master_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\n\
                         master_sync_last_io_seconds_ago:{}\r\n",
                        total - read,
                        secs_since(l.transfer_last_io_ms),
                    );
                }
                if !up {
                    let down = l.down_since_ms.map(secs_since).unwrap_or(-1);
                    let _ = write!(out, "master_link_down_since_seconds:{down}\r\n");
                }
                let _ = write!(
                    out,
                    "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
                    cfg.replica_priority, cfg.replica_read_only as u8, cfg.replica_announced as u8,
                );
            }
        }
        let _ = write!(out, "connected_slaves:{}\r\n", self.replicas.len());
        if self.min_replicas_to_write > 0 && self.min_replicas_max_lag > 0 {
            let _ = write!(out, "min_slaves_good_slaves:{}\r\n", self.good_replicas);
        }
        for (i, r) in self.replicas.values().enumerate() {
            let _ = write!(
                out,
                "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
                r.ip,
                r.port,
                r.state.name(),
                r.ack_offset,
                secs_since(r.last_ack_ms),
            );
        }
        let (first, histlen) = match &self.backlog {
            Some(b) => (b.start_offset() + 1, b.histlen()),
            None => (0, 0),
        };
        let _ = write!(
            out,
            "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
             master_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\n\
             repl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{first}\r\n\
             repl_backlog_histlen:{histlen}\r\n",
            self.failover.phase.name(),
            self.replid,
            self.replid2,
            self.offset(),
            self.second_replid_offset,
            self.backlog.is_some() as u8,
            cfg.repl_backlog_size,
        );
    }

    /// ROLE: `master offset [[ip port offset] ...]` or `slave host port state offset`.
    pub fn role(&self, out: &mut crate::resp::Reply) {
        match &self.link {
            None => {
                out.array(3);
                out.bulk(b"master");
                out.int(self.offset() as i64);
                out.array(self.replicas.len());
                for r in self.replicas.values() {
                    out.array(3);
                    out.bulk(r.ip.as_bytes());
                    out.bulk(r.port.to_string().as_bytes());
                    out.bulk(r.ack_offset.to_string().as_bytes());
                }
            }
            Some(l) => {
                out.array(5);
                out.bulk(b"slave");
                out.bulk(l.host.as_bytes());
                out.int(l.port as i64);
                out.bulk(l.state.name().as_bytes());
                let connected = matches!(l.state, replica::LinkState::Connected);
                out.int(if connected { l.reploff as i64 } else { -1 });
            }
        }
    }
}

/// An argv for [`Propagation::replace`]/[`Propagation::also`], copied from slices.
pub fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// Encodes a command as a RESP multibulk.
pub fn encode_command<'a>(buf: &mut BytesMut, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    let mut itoa = itoa::Buffer::new();
    buf.put_u8(b'*');
    buf.put_slice(itoa.format(args.len()).as_bytes());
    buf.put_slice(b"\r\n");
    for a in args {
        buf.put_u8(b'$');
        buf.put_slice(itoa.format(a.len()).as_bytes());
        buf.put_slice(b"\r\n");
        buf.put_slice(a);
        buf.put_slice(b"\r\n");
    }
}

/// Per-call propagation state of the command being run (see the module docs).
#[derive(Default)]
pub struct Propagation {
    /// Whether anything consumes the stream (a backlog exists); nothing is recorded otherwise.
    pub active: bool,
    /// Ops recorded during the outermost command, in execution order.
    ops: Vec<(Option<usize>, Vec<Bytes>)>,
    /// Nesting depth of running commands (EXEC runs its queue inside itself).
    depth: u32,
    /// The running command's own wishes (saved and restored around nested calls).
    frame: Frame,
    saved: Vec<Frame>,
}

#[derive(Default, Clone)]
struct Frame {
    replaced: Option<Vec<Bytes>>,
    prevented: bool,
    forced: bool,
    dirty_before: u64,
}

impl Propagation {
    /// Propagate `argv` instead of the running command's arguments.
    pub fn replace(&mut self, argv: Vec<Bytes>) {
        if self.active {
            self.frame.replaced = Some(argv);
        }
    }

    /// [`Propagation::replace`] with an argv built only when something records the stream.
    #[inline]
    pub fn replace_with(&mut self, argv: impl FnOnce() -> Vec<Bytes>) {
        if self.active {
            self.frame.replaced = Some(argv());
        }
    }

    /// [`Propagation::also`] with an argv built only when something records the stream.
    #[inline]
    pub fn also_with(&mut self, db: Option<usize>, argv: impl FnOnce() -> Vec<Bytes>) {
        if self.active {
            self.ops.push((db, argv()));
        }
    }

    /// Propagate one more command for database `db` (None for none), after what was recorded so far.
    pub fn also(&mut self, db: Option<usize>, argv: Vec<Bytes>) {
        if self.active {
            self.ops.push((db, argv));
        }
    }

    /// The running command propagates nothing (its effects, if any, were recorded with `also`).
    pub fn prevent(&mut self) {
        self.frame.prevented = true;
    }

    /// The running command propagates even if it changed nothing (PUBLISH).
    pub fn force(&mut self) {
        self.frame.forced = true;
    }

    /// A command starts (dispatch's `call`); `dirty` is the keyspace's change counter.
    pub fn enter(&mut self, dirty: u64) {
        if self.depth > 0 {
            self.saved.push(std::mem::take(&mut self.frame));
        }
        self.depth += 1;
        self.frame = Frame {
            dirty_before: dirty,
            ..Frame::default()
        };
    }

    /// The command ended: records it (after the DELs of keys it found expired) if it changed the
    /// keyspace or forced propagation. Returns true when the outermost command ended, so the caller
    /// flushes with [`Propagation::flush`].
    pub fn leave(
        &mut self,
        ks: &mut crate::db::Keyspace,
        db: usize,
        args: &[Bytes],
        from_master: bool,
    ) -> bool {
        let frame = std::mem::take(&mut self.frame);
        if self.active && !from_master {
            self.take_expired(ks);
            // `>`: SAVE and SHUTDOWN reset the counter; a reset is no change to propagate.
            if !frame.prevented && (frame.forced || ks.dirty > frame.dirty_before) {
                let argv = frame
                    .replaced
                    .unwrap_or_else(|| args.iter().map(|a| Bytes::copy_from_slice(a)).collect());
                self.ops.push((Some(db), argv));
            }
        }
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 {
            self.frame = self.saved.pop().unwrap_or_default();
            false
        } else {
            true
        }
    }

    /// Moves the keys deleted by expiry into the ops, as DELs (UNLINKs with
    /// `lazyfree-lazy-expire`). Evicted keys never wait here: eviction runs before the command and
    /// propagates its own.
    pub fn take_expired(&mut self, ks: &mut crate::db::Keyspace) {
        let del = crate::db::del_or_unlink(ks.lazy_expire);
        for (db, key) in ks.expired_pending.drain(..) {
            self.ops.push((Some(db), vec![del.clone(), key]));
        }
    }

    /// Writes the recorded ops to the stream (MULTI/EXEC around more than one).
    pub fn flush(&mut self, repl: &mut ReplState) {
        if self.ops.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.ops);
        if ops.len() > 1 {
            let multi = [Bytes::from_static(b"MULTI")];
            let exec = [Bytes::from_static(b"EXEC")];
            repl.write_ops(
                std::iter::once((None, &multi[..]))
                    .chain(ops.iter().map(|(db, a)| (*db, &a[..])))
                    .chain(std::iter::once((None, &exec[..]))),
            );
        } else {
            repl.write_ops(ops.iter().map(|(db, a)| (*db, &a[..])));
        }
        // Keep the allocation for the next command.
        self.ops = ops;
        self.ops.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(repl: &mut ReplState) -> Vec<u8> {
        let b = repl.backlog.as_mut().expect("backlog");
        let start = b.start_offset();
        let mut out = Vec::new();
        b.read(start, usize::MAX, &mut out);
        out.concat()
    }

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn nothing_is_recorded_without_a_backlog() {
        let mut repl = ReplState::default();
        let mut ks = crate::db::Keyspace::new(16);
        let mut p = Propagation::default();
        p.enter(ks.dirty);
        ks.dirty += 1;
        assert!(p.leave(&mut ks, 0, &args("SET a 1"), false));
        p.flush(&mut repl);
        assert_eq!(repl.offset(), 0);
    }

    #[test]
    fn save_info_only_with_a_history_and_restore_as_master() {
        let mut repl = ReplState::default();
        assert!(repl.save_info().is_none());
        repl.ensure_backlog(1024);
        repl.feed_raw(&[b'x'; 50]);
        repl.stream_db = Some(4);
        let info = repl.save_info().expect("a master with a backlog");
        let want = [
            ("repl-stream-db", "4".to_string()),
            ("repl-id", repl.replid.clone()),
            ("repl-offset", "50".to_string()),
        ];
        assert_eq!(info, want);
        // A replica records its master's stream database, live or cached.
        let mut link = replica::LinkInfo::new("h".into(), 1);
        link.stream_db = 2;
        repl.link = Some(link);
        assert!(
            repl.save_info().is_none(),
            "not streaming and nothing cached"
        );
        if let Some(l) = repl.link.as_mut() {
            l.state = replica::LinkState::Connected;
        }
        assert_eq!(repl.save_info().expect("streaming")[0].1, "2");
        // A restarted master: the saved id becomes replid2, the backlog starts at the offset.
        let mut m = ReplState::default();
        let id = "a".repeat(40);
        m.restore_as_master(id.clone(), 50, 1024);
        assert_eq!((m.replid2.as_str(), m.second_replid_offset), (&id[..], 51));
        assert_eq!(m.offset(), 50);
        assert!(m.backlog.as_ref().is_some_and(|b| b.can_serve_from(50)));
        assert!(!m.backlog.as_ref().is_some_and(|b| b.can_serve_from(49)));
    }

    #[test]
    fn a_reset_of_the_dirty_counter_is_not_propagated() {
        // SAVE (and the save of SHUTDOWN) set `dirty` to 0: not a change replicas must see.
        let mut repl = ReplState::default();
        repl.ensure_backlog(1 << 20);
        let mut ks = crate::db::Keyspace::new(16);
        ks.dirty = 5;
        let mut p = Propagation {
            active: true,
            ..Default::default()
        };
        p.enter(ks.dirty);
        ks.dirty = 0;
        assert!(p.leave(&mut ks, 0, &args("SAVE"), false));
        p.flush(&mut repl);
        assert_eq!(repl.offset(), 0);
    }

    #[test]
    fn select_is_inserted_and_multi_wraps_several_ops() {
        let mut repl = ReplState::default();
        repl.ensure_backlog(1 << 20);
        let mut ks = crate::db::Keyspace::new(16);
        let mut p = Propagation {
            active: true,
            ..Default::default()
        };
        // A write in db 0, then a read that changes nothing.
        p.enter(ks.dirty);
        ks.dirty += 1;
        assert!(p.leave(&mut ks, 0, &args("SET a 1"), false));
        p.flush(&mut repl);
        p.enter(ks.dirty);
        assert!(p.leave(&mut ks, 0, &args("GET a"), false));
        p.flush(&mut repl);
        // An EXEC in db 3 with two writes, one rewritten.
        p.enter(ks.dirty);
        p.prevent();
        for cmd in ["INCR n", "SET k v EX 10"] {
            p.enter(ks.dirty);
            ks.dirty += 1;
            if cmd.starts_with("SET") {
                p.replace(args("SET k v PXAT 99"));
            }
            assert!(!p.leave(&mut ks, 3, &args(cmd), false));
        }
        assert!(p.leave(&mut ks, 3, &args("EXEC"), false));
        p.flush(&mut repl);
        let want = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
                    *1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n\
                    *5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$2\r\n99\r\n*1\r\n$4\r\nEXEC\r\n";
        assert_eq!(String::from_utf8_lossy(&stream(&mut repl)), want);
        assert_eq!(repl.offset(), want.len() as u64);
    }

    #[test]
    fn expired_keys_go_first_as_del_and_master_stream_is_not_repropagated() {
        let mut repl = ReplState::default();
        repl.ensure_backlog(1 << 20);
        let mut ks = crate::db::Keyspace::new(16);
        let mut p = Propagation {
            active: true,
            ..Default::default()
        };
        p.enter(ks.dirty);
        ks.expired_pending.push((1, Bytes::from_static(b"old")));
        ks.dirty += 1;
        assert!(p.leave(&mut ks, 1, &args("SET old 2"), false));
        p.flush(&mut repl);
        let s = String::from_utf8_lossy(&stream(&mut repl)).into_owned();
        assert!(s.starts_with("*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$3\r\nold\r\n"));
        let before = repl.offset();
        p.enter(ks.dirty);
        ks.dirty += 1;
        assert!(p.leave(&mut ks, 1, &args("SET x 1"), true));
        p.flush(&mut repl);
        assert_eq!(repl.offset(), before);
    }

    #[test]
    fn replid_shift_keeps_the_old_history_valid_up_to_the_offset() {
        let mut repl = ReplState::default();
        repl.ensure_backlog(1024);
        repl.feed_raw(b"0123456789");
        let old = repl.replid.clone();
        repl.shift_replid();
        assert_eq!(repl.replid2, old);
        assert_eq!(repl.second_replid_offset, 11);
        assert_ne!(repl.replid, old);
        repl.free_backlog();
        assert_eq!(repl.offset(), 10);
    }
}
