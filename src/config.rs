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

/// A configuration error, rendered as Redis's fatal start-up message.
#[derive(Debug, thiserror::Error)]
#[error("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{reason}")]
pub struct ConfigError {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

impl Config {
    /// Applies one directive (name lowercase, arguments split).
    pub fn apply(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let v = args.first().cloned().unwrap_or_default();
        match name {
            "port" => self.port = parse_num(&v)?,
            "bind" => self.bind = args.to_vec(),
            "unixsocket" => self.unixsocket = if v.is_empty() { None } else { Some(v) },
            "protected-mode" => self.protected_mode = parse_bool(&v)?,
            "timeout" => self.timeout = parse_num(&v)?,
            "maxclients" => self.maxclients = parse_num(&v)?,
            "requirepass" => {
                self.requirepass = if v.is_empty() {
                    None
                } else {
                    Some(v.into_bytes())
                }
            }
            "databases" => self.databases = parse_num(&v)?,
            "hz" => self.hz = parse_num(&v)?,
            "slowlog-log-slower-than" => self.slowlog_log_slower_than = parse_num(&v)?,
            "slowlog-max-len" => self.slowlog_max_len = parse_num(&v)?,
            "latency-monitor-threshold" => self.latency_monitor_threshold = parse_num(&v)?,
            "loglevel" => self.loglevel = v,
            "logfile" => self.logfile = v,
            "daemonize" => self.daemonize = parse_bool(&v)?,
            "pidfile" => self.pidfile = v,
            "dir" => self.dir = v,
            "dbfilename" => self.dbfilename = v,
            "enable-debug-command" => {
                self.enable_debug_command = match v.as_str() {
                    "yes" => ProtectedAccess::Yes,
                    "no" => ProtectedAccess::No,
                    "local" => ProtectedAccess::Local,
                    _ => {
                        return Err(
                            "argument(s) must be one of the following: no, yes, local".into()
                        )
                    }
                }
            }
            "save" | "appendonly" => {}
            _ => return Err("Bad directive or wrong number of arguments".into()),
        }
        Ok(())
    }

    /// Applies the text of a config file (one directive per line).
    pub fn apply_text(&mut self, text: &str) -> Result<(), ConfigError> {
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let words =
                crate::resp::request::split_args(t.as_bytes()).ok_or_else(|| ConfigError {
                    line: i + 1,
                    text: t.to_string(),
                    reason: "Unbalanced quotes in configuration line".into(),
                })?;
            let words: Vec<String> = words
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            let name = words[0].to_ascii_lowercase();
            self.apply(&name, &words[1..])
                .map_err(|reason| ConfigError {
                    line: i + 1,
                    text: t.to_string(),
                    reason,
                })?;
        }
        Ok(())
    }
}
