//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Between MULTI and EXEC a client's commands pass dispatch's checks and are then queued
//! ([`MultiState`], on the client) with a `+QUEUED` reply; a command refused by those checks dooms
//! the transaction, and EXEC then answers EXECABORT. EXEC runs the queue inside the core-lock hold
//! of the batch it arrived in, so no other client's command can interleave, and answers with one
//! array of the queued commands' replies (runtime errors stay per-command error replies).
//!
//! WATCH registers keys in the keyspace's registry ([`crate::db::watch`]); every write path of the
//! keyspace signals it, and EXEC answers a null array when a watched key changed — or, as in Redis
//! 7.0, when a key that was live at WATCH time has expired since.

use bytes::Bytes;

use super::{call, flags::*, CmdError, CmdResult, CommandSpec, Ctx};
use crate::server::client::Client;
use crate::server::Server;

/// The commands queued by one MULTI, and whether the transaction is already doomed.
#[derive(Default)]
pub struct MultiState {
    /// Each queued command with its arguments (copied out of the read buffer); EXEC moves them
    /// out to run them.
    pub cmds: Vec<(&'static CommandSpec, Vec<Bytes>)>,
    /// CLIENT LIST `multi=`: commands queued (still shown while EXEC runs them, as in Redis).
    pub count: usize,
    /// A command was refused while queueing (Redis's `CLIENT_DIRTY_EXEC`): EXEC aborts.
    pub dirty_exec: bool,
    /// Union of the queued commands' flags (EXEC counts as a write when one of them is).
    pub cmd_flags: u32,
    /// CLIENT LIST `multi-mem=`: argument bytes plus one pointer per argument, as Redis counts.
    pub mem: usize,
}

/// Commands that run at once even inside MULTI (the rest are queued).
pub fn runs_in_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// A refusal inside MULTI dooms the transaction (Redis's `flagTransaction`).
pub fn flag_transaction(client: &mut Client) {
    if let Some(m) = client.multi.as_mut() {
        m.dirty_exec = true;
    }
}

/// The flags an EXEC of `client` takes on from its queue (none for other commands): checks that
/// refuse writes (MISCONF, CLIENT PAUSE WRITE) treat such an EXEC as the writes it would run.
pub fn queued_flags(client: &Client, spec: &CommandSpec) -> u32 {
    match &client.multi {
        Some(m) if spec.name == "exec" => m.cmd_flags,
        _ => 0,
    }
}

/// Whether `spec` is an EXEC that would run a write.
pub fn exec_writes(client: &Client, spec: &CommandSpec) -> bool {
    queued_flags(client, spec) & WRITE != 0
}

/// Whether the running command comes from an EXEC (Redis's `CLIENT_DENY_BLOCKING` during EXEC):
/// it must answer at once, so MONITOR refuses and blocking commands must not block. (Outside
/// EXEC, a client in MULTI only runs the commands of [`runs_in_multi`]; the rest are queued.)
pub fn deny_blocking(client: &Client) -> bool {
    client.multi.is_some()
}

/// Queues a command that passed dispatch's checks. A transaction already doomed (refused command,
/// or a watched key changed) keeps nothing more, as it will not run.
pub fn queue(ctx: &mut Ctx, spec: &'static CommandSpec, args: &[Bytes]) {
    let id = ctx.client.id;
    let cas_dirty = ctx.client.watching && ctx.core.ks.watches.is_dirty(id);
    let Some(m) = ctx.client.multi.as_mut() else {
        return;
    };
    if m.dirty_exec || cas_dirty {
        return;
    }
    m.mem += args
        .iter()
        .map(|a| a.len() + std::mem::size_of::<usize>())
        .sum::<usize>();
    m.cmd_flags |= spec.flags;
    m.count += 1;
    m.cmds.push((
        spec,
        args.iter().map(|a| Bytes::copy_from_slice(a)).collect(),
    ));
}

/// Forgets every key the client watches.
fn unwatch_all(ctx: &mut Ctx) {
    if ctx.client.watching {
        ctx.core.ks.watches.unwatch_all(ctx.client.id);
        ctx.client.watching = false;
    }
}

/// Ends the transaction without running it and forgets the watched keys (DISCARD, aborted EXEC).
pub fn discard_transaction(ctx: &mut Ctx) {
    ctx.client.multi = None;
    unwatch_all(ctx);
}

/// A refused EXEC (wrong arity, NOAUTH, MISCONF, ...): the transaction is discarded, whether or
/// not one was open, and the error says why (without its `ERR ` code, as Redis words it).
pub fn exec_abort(ctx: &mut Ctx, why: &str) {
    discard_transaction(ctx);
    let why = why.strip_prefix("ERR ").unwrap_or(why);
    ctx.core.stats.count_error("EXECABORT");
    ctx.out.error(&format!(
        "EXECABORT Transaction discarded because of: {why}"
    ));
}

/// RESET: the transaction and the watched keys go.
pub fn reset(ctx: &mut Ctx) {
    discard_transaction(ctx);
}

/// The connection is closing: its watched keys are unregistered (takes the core lock, only when
/// there is something to unregister).
pub fn on_close(srv: &Server, client: &mut Client) {
    client.multi = None;
    if client.watching {
        srv.core.lock().ks.watches.unwatch_all(client.id);
        client.watching = false;
    }
}

fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    discard_transaction(ctx);
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let Some(m) = ctx.client.multi.as_mut() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    // EXEC itself is not propagated: its queue's writes are (wrapped in MULTI/EXEC when several).
    ctx.core.prop.prevent();
    // The client stays in MULTI while its queue runs (CLIENT LIST shows `x` and the count).
    let cmds = std::mem::take(&mut m.cmds);
    let dirty_exec = m.dirty_exec;
    let id = ctx.client.id;
    let ks = &mut ctx.core.ks;
    // A key live at WATCH time that has expired since counts as changed, deleted or not.
    let cas_dirty = ctx.client.watching
        && (ks.watches.is_dirty(id)
            || ks
                .watches
                .live_watched(id)
                .iter()
                .any(|(db, key)| ks.key_is_expired(*db, key)));
    // Unwatch before running, so the transaction's own writes do not signal its watches.
    unwatch_all(ctx);
    if dirty_exec || cas_dirty {
        ctx.client.multi = None;
    }
    if dirty_exec {
        return Err(CmdError::msg(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    if cas_dirty {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(cmds.len());
    // The clock stays at EXEC's start for the whole queue, so no key expires halfway through.
    for (spec, args) in &cmds {
        call(ctx, spec, args, false);
    }
    ctx.client.multi = None;
    Ok(())
}

fn watch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let (id, db) = (ctx.client.id, ctx.db());
    let ks = &mut ctx.core.ks;
    // A client that already saw a change will abort anyway: nothing more to watch.
    if !(ctx.client.watching && ks.watches.is_dirty(id)) {
        for key in &args[1..] {
            let expired = ks.key_is_expired(db, key);
            ks.watches
                .watch(id, &ctx.client.handle.dirty_cas, db, key, expired);
        }
        ctx.client.watching = true;
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    unwatch_all(ctx);
    ctx.out.ok();
    Ok(())
}

const TX: u32 = NOSCRIPT | LOADING | STALE;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, multi)
        .flags(TX | FAST | ALLOW_BUSY)
        .acl("@fast @transaction")
        .doc(
            "transactions",
            "1.2.0",
            "Mark the start of a transaction block",
            "O(1)",
        ),
    CommandSpec::new("exec", 1, exec)
        .flags(TX | SKIP_SLOWLOG)
        .acl("@slow @transaction")
        .doc(
            "transactions",
            "1.2.0",
            "Execute all commands issued after MULTI",
            "Depends on commands in the transaction",
        ),
    CommandSpec::new("discard", 1, discard)
        .flags(TX | FAST | ALLOW_BUSY)
        .acl("@fast @transaction")
        .doc(
            "transactions",
            "2.0.0",
            "Discard all commands issued after MULTI",
            "O(N), when N is the number of queued commands",
        ),
    CommandSpec::new("watch", -2, watch)
        .flags(TX | FAST | ALLOW_BUSY)
        .keys(1, -1, 1)
        .acl("@fast @transaction")
        .doc(
            "transactions",
            "2.2.0",
            "Watch the given keys to determine execution of the MULTI/EXEC block",
            "O(1) for every key.",
        ),
    CommandSpec::new("unwatch", 1, unwatch)
        .flags(TX | FAST | ALLOW_BUSY)
        .acl("@fast @transaction")
        .doc(
            "transactions",
            "2.2.0",
            "Forget about all watched keys",
            "O(1)",
        ),
];
