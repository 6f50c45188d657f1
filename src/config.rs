//! Configuration: every directive ferredis knows, redis.conf parsing, and CONFIG GET/SET/REWRITE.
//!
//! (Initial version: the typed fields the server reads. The directive table, file parsing and CONFIG
//! commands are built on top of these fields.)

/// `enable-debug-command` / `enable-protected-configs` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtectedAccess {
    No,
    Yes,
    Local,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub unixsocket: Option<String>,
    pub unixsocketperm: Option<u32>,
    pub protected_mode: bool,
    pub tcp_backlog: u32,
    pub tcp_keepalive: u64,
    /// Idle client timeout in seconds (0 = never).
    pub timeout: u64,
    pub maxclients: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub requirepass: Option<Vec<u8>>,
    pub databases: usize,
    pub hz: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: usize,
    pub latency_monitor_threshold: u64,
    /// DEBUG SET-ACTIVE-EXPIRE: not a directive, a runtime switch.
    pub active_expire_enabled: bool,
    pub loglevel: String,
    pub logfile: String,
    pub daemonize: bool,
    pub pidfile: String,
    pub always_show_logo: bool,
    pub enable_debug_command: ProtectedAccess,
    pub dir: String,
    pub dbfilename: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            unixsocket: None,
            unixsocketperm: None,
            protected_mode: true,
            tcp_backlog: 511,
            tcp_keepalive: 300,
            timeout: 0,
            maxclients: 10000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            requirepass: None,
            databases: 16,
            hz: 10,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            active_expire_enabled: true,
            loglevel: "notice".into(),
            logfile: String::new(),
            daemonize: false,
            pidfile: String::new(),
            always_show_logo: false,
            enable_debug_command: ProtectedAccess::No,
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
        }
    }
}
