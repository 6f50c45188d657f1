//! ferredis: a drop-in `redis-server` written in Rust, with Redis's master/replica replication.
//!
//! # Layout
//! - [`resp`]: the wire protocol codecs (request parsing, RESP2/RESP3 reply encoding). No I/O.
//! - [`db`]: the keyspace: databases of segmented hash tables, value types, expiry.
//! - [`cmd`]: the command table and dispatch, one file per command family.
//! - [`server`]: shared state, the core lock, connections, listeners, cron, shutdown.
//! - [`info`]: INFO sections and the statistics only INFO needs.
//! - [`alloc`]: the global allocator (jemalloc) and its statistics.
//! - [`config`]: directives, redis.conf parsing, CONFIG GET/SET/REWRITE.
//! - [`log`]: Redis's log line format, loglevel and logfile.
//! - [`util`]: number formats and glob matching with Redis's exact rules.
//!
//! The path of one command: socket → [`server::connection`] (parse a batch) → core lock →
//! [`cmd::dispatch`] → handler (keyspace change, reply into the output buffer) → one write.

pub mod alloc;
pub mod cmd;
pub mod config;
pub mod db;
pub mod info;
pub mod log;
pub mod persistence;
pub mod rdb;
pub mod replication;
pub mod resp;
pub mod server;
pub mod util;
