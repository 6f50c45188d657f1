//! The replica side of replication: the link to our master as INFO and ROLE show it, and, built on
//! it, the state machine connect → handshake → transfer → streaming.

/// Where the link to the master is (ROLE's state names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Must connect (`connect`).
    Connect,
    /// Connecting (`connecting`).
    Connecting,
    /// PING / AUTH / REPLCONF / PSYNC exchange (`handshake`).
    Handshake,
    /// Receiving the snapshot (`sync`).
    Transfer,
    /// Streaming (`connected`).
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The link to our master.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Unix ms of the last byte received from the master.
    pub last_io_ms: i64,
    /// Unix ms at which the link went down; None if it never was up (INFO shows -1 then).
    pub down_since_ms: Option<i64>,
    /// Bytes of the stream received (`slave_read_repl_offset`) and applied (`slave_repl_offset`).
    pub read_reploff: u64,
    pub reploff: u64,
    /// During a transfer: the payload size (None for the diskless `$EOF:` form), bytes read so far
    /// and the time of the last read.
    pub transfer_size: Option<u64>,
    pub transfer_read: u64,
    pub transfer_last_io_ms: i64,
}

impl LinkInfo {
    pub fn new(host: String, port: u16) -> Self {
        LinkInfo {
            host,
            port,
            state: LinkState::Connect,
            last_io_ms: 0,
            down_since_ms: None,
            read_reploff: 0,
            reploff: 0,
            transfer_size: None,
            transfer_read: 0,
            transfer_last_io_ms: 0,
        }
    }
}
