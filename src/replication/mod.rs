//! Replication: the shared replication buffer and backlog ([`buffer`]). The role state machine,
//! PSYNC handling, replica senders and the replica side are built on top of it.

pub mod buffer;
