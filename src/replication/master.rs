//! The master side of replication: what we know of each attached replica (INFO `slaveN:` lines,
//! ROLE), and, built on it, PSYNC/SYNC handling, full synchronisation from a fork-less snapshot,
//! the per-replica senders reading the shared buffer, ACKs and the replica timeouts.

/// A replica's state as INFO shows it (`state=` of the `slaveN:` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Waiting for a snapshot to start (`wait_bgsave`).
    WaitBgsave,
    /// The snapshot is being sent (`send_bulk`).
    SendBulk,
    /// Streaming (`online`).
    Online,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// One attached replica, as the master sees it.
#[derive(Debug, Clone)]
pub struct ReplicaInfo {
    /// The address it connected from, and the port it listens on (`REPLCONF listening-port`, or
    /// the announced ones).
    pub ip: String,
    pub port: u16,
    pub state: ReplicaState,
    /// The offset it acknowledged last (`REPLCONF ACK`).
    pub ack_offset: u64,
    /// When its last ACK arrived (Unix ms), for `lag=`.
    pub last_ack_ms: i64,
}
