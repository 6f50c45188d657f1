//! Commands: the command table, and dispatch, the one path every command takes.
//!
//! A command is a table row ([`CommandSpec`]: name, arity, flags, key positions, handler) and a handler
//! function `fn(&mut Ctx, &[Bytes]) -> CmdResult` that parses its arguments, applies itself to the
//! keyspace and writes its reply. Dispatch ([`dispatch`]) checks once, for every command, what Redis's
//! `processCommand` checks (known command, arity, authentication, ...), then calls the handler and
//! accounts for it (calls, time, slowlog, MONITOR).
//!
//! The families live one per file: `conn` (connection: PING, HELLO, AUTH, CLIENT, ...), `string`,
//! `keys`, `server` (INFO, CONFIG, COMMAND, DEBUG, SLOWLOG, ...).

pub mod blocking;
pub mod client;
pub mod collscan;
pub mod config;
pub mod conn;
pub mod debug;
pub mod dump;
pub mod hash;
pub mod keys;
pub mod list;
pub mod meta;
pub mod persist;
pub mod pubsub;
pub mod repl;
pub mod replicaof;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod table;
pub mod tx;
pub mod zset;

use bytes::Bytes;
use std::borrow::Cow;

use crate::resp::Reply;
use crate::server::client::Client;
use crate::server::{Core, Server};

pub use table::{all, lookup, CommandSpec};

/// Command flags (a subset of Redis's, the ones dispatch and COMMAND INFO use).
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const MOVABLE_KEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const SENTINEL: u32 = 1 << 17;
    pub const ONLY_SENTINEL: u32 = 1 << 18;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 19;
    pub const NO_ASYNC_LOADING: u32 = 1 << 20;

    /// Flag names in the order Redis prints them in COMMAND INFO.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SENTINEL, "sentinel"),
        (ONLY_SENTINEL, "only_sentinel"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
        (NO_ASYNC_LOADING, "no_async_loading"),
    ];
}

/// Why a command failed; dispatch turns it into the error reply, with Redis's exact text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// The key holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// Options that do not parse.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be a 64-bit integer is not.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument that must be a double is not.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// A key that must exist does not.
    #[error("ERR no such key")]
    NoSuchKey,
    /// SELECT/MOVE/SWAPDB with a bad database number.
    #[error("ERR DB index is out of range")]
    DbIndex,
    /// Any other error; the text starts with its code (`ERR ...`, `NOAUTH ...`).
    #[error("{0}")]
    Msg(Cow<'static, str>),
}

impl CmdError {
    pub fn msg(s: impl Into<Cow<'static, str>>) -> CmdError {
        CmdError::Msg(s.into())
    }
}

pub type CmdResult = Result<(), CmdError>;

/// What a handler sees: the keyspace (locked), the calling client, the server, and the reply writer.
pub struct Ctx<'a> {
    pub core: &'a mut Core,
    pub client: &'a mut Client,
    pub srv: &'a Server,
    pub out: Reply<'a>,
}

impl Ctx<'_> {
    /// The client's selected database.
    #[inline]
    pub fn db(&self) -> usize {
        self.client.db
    }

    /// Raises a keyspace notification for `key` in the client's database (`class` from
    /// [`crate::db::notify::class`]); one branch when the class is off. See [`crate::db::notify`].
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.client.db;
        self.notify_db(class, event, db, key);
    }

    /// As [`Ctx::notify`], for an event Redis raises after writing the reply (see
    /// [`crate::db::notify::AFTER_REPLY`]).
    #[inline]
    pub fn notify_after_reply(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.client.db;
        self.core.ks.notify_after_reply(class, event, db, key);
    }

    /// As [`Ctx::notify`], for a key of another database (MOVE, ...).
    #[inline]
    pub fn notify_db(&mut self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        let pos = self.out.buf.len();
        self.core.ks.notify.raise_at(class, event, db, key, pos);
    }
}

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn arg_i64(a: &[u8]) -> Result<i64, CmdError> {
    crate::util::parse_i64(a).ok_or(CmdError::NotInteger)
}

/// Parses a double argument (`ERR value is not a valid float`).
pub fn arg_f64(a: &[u8]) -> Result<f64, CmdError> {
    crate::util::parse_f64(a).ok_or(CmdError::NotFloat)
}

/// Parses a long that must lie in `min..=max`, with one error text for both failures (Redis's
/// `getRangeLongFromObjectOrReply` with a message).
pub fn arg_ranged(a: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, CmdError> {
    match crate::util::parse_i64(a) {
        Some(n) if n >= min && n <= max => Ok(n),
        _ => Err(CmdError::msg(msg)),
    }
}

/// LMPOP, ZMPOP, BLMPOP and BZMPOP: `numkeys key... <where> [COUNT n]` with `numkeys` at
/// `args[at]`. Returns the index of `where` (the keys are `args[at + 1..where]`), checked to exist
/// before its value is looked at, as Redis checks it.
pub fn mpop_where(args: &[Bytes], at: usize) -> Result<usize, CmdError> {
    let numkeys = arg_ranged(
        &args[at],
        1,
        i64::MAX,
        "ERR numkeys should be greater than 0",
    )?;
    usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(at + 1))
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)
}

/// The options after an MPOP's `where`: at most one `COUNT n` (1 when absent).
pub fn mpop_count(args: &[Bytes], where_idx: usize) -> Result<usize, CmdError> {
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && crate::util::eq_ic(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            count = Some(arg_ranged(
                &args[j],
                1,
                i64::MAX,
                "ERR count should be greater than 0",
            )?);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(count.unwrap_or(1) as usize)
}

/// The error for a wrong number of arguments, with Redis 7.0's text.
pub fn arity_error(name: &str) -> CmdError {
    CmdError::Msg(format!("ERR wrong number of arguments for '{name}' command").into())
}

/// Renders arguments for error messages the way Redis does (`'a' 'b' `, at most ~128 bytes).
fn args_preview(args: &[Bytes]) -> String {
    let mut s = String::new();
    for a in args {
        if s.len() >= 128 {
            break;
        }
        let room = 128 - s.len();
        let a = &a[..a.len().min(room)];
        s.push('\'');
        s.push_str(&String::from_utf8_lossy(a));
        s.push_str("' ");
    }
    s
}

fn unknown_command(args: &[Bytes]) -> String {
    let name = &args[0][..args[0].len().min(128)];
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        args_preview(&args[1..])
    )
}

/// Resolves a command and, for container commands (CONFIG, CLIENT, ...), its subcommand.
/// Errors are the exact replies Redis gives for unknown names and wrong arity.
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, String> {
    let Some(spec) = lookup(&args[0]) else {
        return Err(unknown_command(args));
    };
    // Without a subcommand, a container runs itself if its arity allows (COMMAND), as in Redis.
    if !spec.subcommands.is_empty() && args.len() >= 2 {
        let Some(sub) = spec
            .subcommands
            .iter()
            .find(|s| s.sub_name().eq_ignore_ascii_case_bytes(&args[1]))
        else {
            return Err(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                String::from_utf8_lossy(&args[1][..args[1].len().min(128)]),
                spec.name.to_ascii_uppercase()
            ));
        };
        check_arity(sub, args.len())?;
        return Ok(sub);
    }
    check_arity(spec, args.len())?;
    Ok(spec)
}

/// The command a failed [`resolve`] found but refused for its arity (None for unknown names).
fn arity_rejected(args: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = lookup(&args[0])?;
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Some(spec);
    }
    spec.subcommands
        .iter()
        .find(|s| s.sub_name().eq_ignore_ascii_case_bytes(&args[1]))
}

fn check_arity(spec: &CommandSpec, argc: usize) -> Result<(), String> {
    let a = spec.arity;
    if (a > 0 && argc as i32 != a) || (argc as i32) < -a {
        return Err(format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        ));
    }
    Ok(())
}

trait EqIc {
    fn eq_ignore_ascii_case_bytes(&self, other: &[u8]) -> bool;
}
impl EqIc for str {
    fn eq_ignore_ascii_case_bytes(&self, other: &[u8]) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other)
    }
}

/// Refuses a resolved command before it runs (Redis's `rejectCommand`): the error reply, counted
/// in errorstats and in the command's `rejected_calls`.
///
/// Inside MULTI a refusal also dooms the transaction (EXEC then answers EXECABORT); a refused EXEC
/// discards the transaction and says why.
fn reject(ctx: &mut Ctx, spec: &'static CommandSpec, text: &str) {
    tx::flag_transaction(ctx.client);
    if let Some((st, _)) = ctx.core.stats.cmd_mut(spec) {
        st.rejected_calls += 1;
    }
    if spec.name == "exec" {
        tx::exec_abort(ctx, text);
        return;
    }
    ctx.core
        .stats
        .count_error(text.split(' ').next().unwrap_or("ERR"));
    ctx.out.error(text);
}

/// The error for writes after a failed save (`stop-writes-on-bgsave-error`).
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// The error for `denyoom` commands when maxmemory is reached and nothing can be evicted.
pub const OOM_ERR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Runs eviction before a command, as Redis's `processCommand` does, and says whether the command
/// must be refused: eviction failed and the command is flagged `denyoom` (an EXEC with such a
/// command queued counts), or the client is in MULTI (queueing takes memory too) and the command
/// is not EXEC, DISCARD, QUIT or RESET. The master's stream is never refused: a replica must
/// stay an exact copy.
fn oom_refused(ctx: &mut Ctx, spec: &'static CommandSpec) -> bool {
    let failed =
        crate::server::perform_evictions(ctx.srv, ctx.core) == crate::db::evict::EvictResult::Fail;
    if !failed || ctx.client.kind == crate::server::client::ClientKind::Master {
        return false;
    }
    let denyoom = (spec.flags | tx::queued_flags(ctx.client, spec)) & flags::DENYOOM != 0;
    let queueing =
        ctx.client.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
    denyoom || queueing
}

/// The error for writes without enough good replicas (`min-replicas-to-write`).
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// The error for commands without the `loading` flag while the dump file loads.
pub const LOADING_ERR: &str = "LOADING Redis is loading the dataset in memory";

/// Runs one command for a client: the checks of Redis's `processCommand`, then the handler, then the
/// accounting. The reply (or error) goes to `ctx.out`.
pub fn dispatch(ctx: &mut Ctx, args: &[Bytes]) {
    let spec = match resolve(args) {
        Ok(s) => s,
        Err(e) => {
            ctx.client.last_cmd = client::last_cmd_name(args);
            // A known (sub)command refused for its arity counts as rejected in its commandstats.
            let known = arity_rejected(args);
            if let Some((st, _)) = known.and_then(|spec| ctx.core.stats.cmd_mut(spec)) {
                st.rejected_calls += 1;
            }
            if known.is_some_and(|s| s.name == "exec") {
                ctx.core.stats.unknown_rejected += 1;
                tx::exec_abort(ctx, &e);
                return;
            }
            ctx.core.stats.unknown_or_arity_errors(&e);
            tx::flag_transaction(ctx.client);
            ctx.out.error(&e);
            return;
        }
    };
    ctx.client.last_cmd = spec.name;
    if !ctx.client.authenticated
        && spec.flags & flags::NO_AUTH == 0
        && client::auth_required(ctx.srv)
    {
        reject(ctx, spec, "NOAUTH Authentication required.");
        return;
    }
    if let Err(e) = client::check_client_may_run(ctx.client, spec) {
        reject(ctx, spec, &e.to_string());
        return;
    }
    // maxmemory: evict before the command (one branch when no limit is set), and refuse commands
    // that may grow memory when nothing more can be evicted.
    if ctx.core.ks.evict.maxmemory != 0 && oom_refused(ctx, spec) {
        reject(ctx, spec, OOM_ERR);
        return;
    }
    // A failed save with stop-writes-on-bgsave-error refuses writes (and PING, as Redis does); an
    // EXEC counts as a write when it has a write queued.
    if (spec.flags & flags::WRITE != 0 || spec.name == "ping" || tx::exec_writes(ctx.client, spec))
        && ctx.client.kind != crate::server::client::ClientKind::Master
        && crate::server::save::writes_denied(ctx.srv)
    {
        reject(ctx, spec, MISCONF);
        return;
    }
    // Not enough good replicas for `min-replicas-to-write` (one branch when it is off).
    if ctx.core.repl.min_replicas_to_write > 0
        && ctx.core.repl.too_few_replicas()
        && (spec.flags & flags::WRITE != 0 || tx::exec_writes(ctx.client, spec))
        && ctx.client.kind != crate::server::client::ClientKind::Master
    {
        reject(ctx, spec, NOREPLICAS);
        return;
    }
    // A read-only replica refuses writes, except its master's.
    if ctx.core.ks.is_replica
        && ctx.client.kind != crate::server::client::ClientKind::Master
        && (spec.flags & flags::WRITE != 0 || tx::exec_writes(ctx.client, spec))
        && ctx.srv.config.read().replica_read_only
    {
        reject(ctx, spec, crate::replication::replica::READONLY_ERR);
        return;
    }
    if let Some(text) = pubsub::subscribed_mode_refusal(ctx.client, spec) {
        reject(ctx, spec, &text);
        return;
    }
    // A replica with its link down serves only `stale` commands under replica-serve-stale-data no.
    if ctx.core.ks.is_replica
        && crate::replication::replica::denied_when_stale(ctx.client, spec)
        && crate::replication::replica::master_down(ctx.srv, ctx.core)
    {
        reject(ctx, spec, crate::replication::replica::MASTERDOWN_ERR);
        return;
    }
    // While the dump file loads at start-up only commands flagged `loading` run (one atomic load
    // on the hot path).
    if spec.flags & flags::LOADING == 0 && ctx.srv.loading.is_loading() {
        reject(ctx, spec, LOADING_ERR);
        return;
    }
    if ctx.client.multi.is_some() {
        if spec.flags & flags::NO_MULTI != 0 {
            reject(ctx, spec, "ERR Command not allowed inside a transaction");
            return;
        }
        if !tx::runs_in_multi(spec) {
            tx::queue(ctx, spec, args);
            ctx.out.simple("QUEUED");
            return;
        }
    }
    call(ctx, spec, args, true);
}

/// Runs a resolved command that passed the checks (directly, or queued and now run by EXEC):
/// the handler, its error reply, MONITOR and the accounting (commandstats, slowlog, latency).
/// `tick` refreshes the cached clock first (EXEC keeps its own for the whole queue).
pub(crate) fn call(ctx: &mut Ctx, spec: &'static CommandSpec, args: &[Bytes], tick: bool) {
    ctx.client.redacted.clear();
    // One clock reading serves as the keyspace's cached time and as the command's start; a wall
    // clock step back during the command counts as zero duration.
    let start_us = crate::util::now_us();
    if tick {
        ctx.core.ks.tick_at(start_us / 1000);
    }
    ctx.core.ks.evict.last_touched = None;
    ctx.core.prop.enter(ctx.core.ks.dirty);
    let offset_before = ctx.core.repl.offset();
    let reply_mark = ctx.out.buf.len();
    let result = (spec.handler)(ctx, args);
    // Keyspace notifications the command raised are published now, in order.
    if ctx.core.ks.notify.has_pending() {
        crate::server::notify::deliver_after_command(ctx, reply_mark);
    }
    let elapsed_us = (crate::util::now_us() - start_us).max(0) as u64;
    // The one choke point of replication: what the command changed is recorded here, and written
    // to the stream when the outermost command (EXEC with its queue) ends.
    let core = &mut *ctx.core;
    let from_master = ctx.client.kind == crate::server::client::ClientKind::Master;
    if core
        .prop
        .leave(&mut core.ks, ctx.client.db, args, from_master)
    {
        core.prop.flush(&mut core.repl);
        // Clients blocked on keys this command (or EXEC's queue) filled are served now, in the
        // same lock hold, before anything else runs.
        if core.ks.blocking.has_ready() {
            blocking::handle_ready(ctx.srv, core, from_master);
        }
    }
    // WAIT's target: the offset right after this client's last command that reached the stream.
    if core.repl.offset() != offset_before {
        ctx.client.woff = core.repl.offset();
    }
    if core.repl.master.get_ack_pending {
        crate::replication::failover::send_getack(ctx.srv, core);
    }
    let failed = match result {
        Ok(()) => false,
        Err(e) => {
            let text = e.to_string();
            ctx.core
                .stats
                .count_error(text.split(' ').next().unwrap_or("ERR"));
            ctx.out.error(&text);
            true
        }
    };
    // After the command and its reply, as Redis does: SELECT shows the new db, AUTH shows
    // `(redacted)`, and a MONITOR client gets the line of its own command after the reply.
    if ctx.srv.monitors_active() && spec.flags & (flags::ADMIN | flags::SKIP_MONITOR) == 0 {
        if let Some(own) = ctx.srv.feed_monitors(ctx.client, args) {
            ctx.out.raw(&own);
        }
    }
    ctx.core
        .record_call(spec, args, ctx.client, elapsed_us, failed);
}
