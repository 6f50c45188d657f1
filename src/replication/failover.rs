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

use bytes::{Bytes, BytesMut};

use super::master::ReplicaState;
use super::ReplState;
use crate::resp::Reply;
use crate::server::blocking::BlockOp;
use crate::server::Core;

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
/// asked, so no client's `woff` covers it). Nothing without replicas or a backlog.
pub fn send_getack(core: &mut Core) {
    core.repl.master.get_ack_pending = false;
    if core.repl.link.is_some() || core.repl.replicas.is_empty() || core.repl.backlog.is_none() {
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
