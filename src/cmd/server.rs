//! Server introspection commands: INFO, COMMAND (COUNT/INFO/DOCS/LIST/GETKEYS/GETKEYSANDFLAGS/HELP),
//! TIME, LASTSAVE, SLOWLOG, LATENCY, MEMORY and SHUTDOWN.
//!
//! COMMAND INFO and COMMAND DOCS are built from two sources: the table rows (arity, flags, key
//! positions, ACL categories, group/since/summary/complexity) and [`super::meta`] (tips, key
//! specifications, argument trees, history), so that a row added by any family is reported at once,
//! and in full when its metadata is known.

use bytes::Bytes;

use super::flags::*;
use super::meta::{self, Node};
use super::{arg_i64, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::Value;
use crate::resp::Reply;
use crate::util::eq_ic;

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("command|info", -2, command_info)
        .flags(LOADING | STALE)
        .acl("@slow @connection")
        .doc(
            "server",
            "2.8.13",
            "Get array of specific Redis command details, or all when no argument is given.",
            "O(N) where N is the number of commands to look up",
        ),
    CommandSpec::new("command|list", -2, command_list)
        .flags(LOADING | STALE)
        .acl("@slow @connection")
        .doc(
            "server",
            "7.0.0",
            "Get an array of Redis command names",
            "O(N) where N is the total number of Redis commands",
        ),
    CommandSpec::new("command|count", 2, command_count)
        .flags(LOADING | STALE)
        .acl("@slow @connection")
        .doc(
            "server",
            "2.8.13",
            "Get total number of Redis commands",
            "O(1)",
        ),
    CommandSpec::new("command|getkeysandflags", -4, command_getkeysandflags)
        .flags(LOADING | STALE)
        .acl("@slow @connection")
        .doc(
            "server",
            "7.0.0",
            "Extract keys and access flags given a full Redis command",
            "O(N) where N is the number of arguments to the command",
        ),
    CommandSpec::new("command|getkeys", -4, command_getkeys)
        .flags(LOADING | STALE)
        .acl("@slow @connection")
        .doc(
            "server",
            "2.8.13",
            "Extract keys given a full Redis command",
            "O(N) where N is the number of arguments to the command",
        ),
    CommandSpec::new("command|docs", -2, command_docs)
        .flags(LOADING | STALE)
        .acl("@slow @connection")
        .doc(
            "server",
            "7.0.0",
            "Get array of specific Redis command documentation",
            "O(N) where N is the number of commands to look up",
        ),
    CommandSpec::new("command|help", 2, command_help)
        .flags(LOADING | STALE)
        .acl("@slow @connection")
        .doc(
            "server",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
];

static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("slowlog|reset", 2, slowlog_reset)
        .flags(ADMIN | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.2.12",
            "Clear all entries from the slow log",
            "O(N) where N is the number of entries in the slowlog",
        ),
    CommandSpec::new("slowlog|get", -2, slowlog_get)
        .flags(ADMIN | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.2.12",
            "Get the slow log's entries",
            "O(N) where N is the number of entries returned",
        ),
    CommandSpec::new("slowlog|len", 2, slowlog_len)
        .flags(ADMIN | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc("server", "2.2.12", "Get the slow log's length", "O(1)"),
    CommandSpec::new("slowlog|help", 2, slowlog_help)
        .flags(LOADING | STALE)
        .acl("@slow")
        .doc(
            "server",
            "6.2.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
];

static LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("latency|graph", 3, latency_graph)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.8.13",
            "Return a latency graph for the event.",
            "O(1)",
        ),
    CommandSpec::new("latency|latest", 2, latency_latest)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.8.13",
            "Return the latest latency samples for all events.",
            "O(1)",
        ),
    CommandSpec::new("latency|reset", -2, latency_reset)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.8.13",
            "Reset latency data for one or more events.",
            "O(1)",
        ),
    CommandSpec::new("latency|history", 3, latency_history)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.8.13",
            "Return timestamp-latency samples for the event.",
            "O(1)",
        ),
    CommandSpec::new("latency|doctor", 2, latency_doctor)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.8.13",
            "Return a human readable latency analysis report.",
            "O(1)",
        ),
    CommandSpec::new("latency|help", 2, latency_help)
        .flags(LOADING | STALE)
        .acl("@slow")
        .doc(
            "server",
            "2.8.13",
            "Show helpful text about the different subcommands.",
            "O(1)",
        ),
    CommandSpec::new("latency|histogram", -2, latency_histogram)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "7.0.0",
            "Return the cumulative distribution of latencies of a subset of commands or all.",
            "O(N) where N is the number of commands with latency information being retrieved.",
        ),
];

static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("memory|purge", 2, memory_purge)
        .acl("@slow")
        .doc(
            "server",
            "4.0.0",
            "Ask the allocator to release memory",
            "Depends on how much memory is allocated, could be slow",
        ),
    CommandSpec::new("memory|usage", -3, memory_usage)
        .flags(READONLY)
        .keys(2, 2, 1)
        .acl("@read @slow")
        .doc(
            "server",
            "4.0.0",
            "Estimate the memory usage of a key",
            "O(N) where N is the number of samples.",
        ),
    CommandSpec::new("memory|doctor", 2, memory_doctor)
        .acl("@slow")
        .doc("server", "4.0.0", "Outputs memory problems report", "O(1)"),
    CommandSpec::new("memory|malloc-stats", 2, memory_malloc_stats)
        .acl("@slow")
        .doc(
            "server",
            "4.0.0",
            "Show allocator internal stats",
            "Depends on how much memory is allocated, could be slow",
        ),
    CommandSpec::new("memory|stats", 2, memory_stats)
        .acl("@slow")
        .doc("server", "4.0.0", "Show memory usage details", "O(1)"),
    CommandSpec::new("memory|help", 2, memory_help)
        .flags(LOADING | STALE)
        .acl("@slow")
        .doc(
            "server",
            "4.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
];

/// COMMAND is a container that also runs on its own (arity -1: all commands' details).
const COMMAND: CommandSpec = CommandSpec {
    arity: -1,
    handler: command_all,
    ..CommandSpec::container("command", COMMAND_SUBCOMMANDS)
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, info)
        .flags(LOADING | STALE)
        .acl("@slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Get information and statistics about the server",
            "O(1)",
        ),
    CommandSpec::new("time", 1, time)
        .flags(LOADING | STALE | FAST)
        .acl("@fast")
        .doc("server", "2.6.0", "Return the current server time", "O(1)"),
    CommandSpec::new("lastsave", 1, lastsave)
        .flags(LOADING | STALE | FAST)
        .acl("@admin @fast @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Get the UNIX time stamp of the last successful save to disk",
            "O(1)",
        ),
    CommandSpec::new("shutdown", -1, shutdown)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Synchronously save the dataset to disk and then shut down the server",
            "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        ),
    COMMAND
        .acl("@slow @connection")
        .flags(LOADING | STALE)
        .doc(
            "server",
            "2.8.13",
            "Get array of Redis command details",
            "O(N) where N is the total number of Redis commands",
        ),
    CommandSpec::container("slowlog", SLOWLOG_SUBCOMMANDS)
        .acl("@slow")
        .doc(
            "server",
            "2.2.12",
            "A container for slow log commands",
            "Depends on subcommand.",
        ),
    CommandSpec::container("latency", LATENCY_SUBCOMMANDS)
        .acl("@slow")
        .doc(
            "server",
            "2.8.13",
            "A container for latency diagnostics commands",
            "Depends on subcommand.",
        ),
    CommandSpec::container("memory", MEMORY_SUBCOMMANDS)
        .acl("@slow")
        .doc(
            "server",
            "4.0.0",
            "A container for memory diagnostics commands",
            "Depends on subcommand.",
        ),
];

/// Writes a help reply: the first line names the command, then the given lines, then HELP.
fn help_reply(out: &mut Reply, cmd: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

// ---------------------------------------------------------------------------------------------
// INFO, TIME, LASTSAVE, SHUTDOWN

fn info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let names: Vec<&[u8]> = args[1..].iter().map(|a| a.as_ref()).collect();
    let sections = crate::info::select_sections(&names);
    let text = crate::info::render(ctx.srv, ctx.core, &sections);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn time(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let us = crate::util::now_us();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
    Ok(())
}

fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let t = ctx.srv.lastsave.load(std::sync::atomic::Ordering::Relaxed);
    ctx.out.int(t as i64);
    Ok(())
}

fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut req = crate::server::ShutdownRequest::default();
    let mut abort = false;
    for a in &args[1..] {
        if eq_ic(a, "nosave") {
            req.nosave = true;
        } else if eq_ic(a, "save") {
            req.save = true;
        } else if eq_ic(a, "now") {
            req.now = true;
        } else if eq_ic(a, "force") {
            req.force = true;
        } else if eq_ic(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && args.len() != 2) || (req.nosave && req.save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        if !crate::replication::failover::cancel_shutdown(ctx.srv, ctx.core) {
            return Err(CmdError::msg("ERR No shutdown in progress."));
        }
        tracing::info!("Shutdown manually aborted.");
        ctx.out.ok();
        return Ok(());
    }
    // A master whose replicas lag waits for them first (`shutdown-timeout`): the client blocks
    // until the shutdown happens (no reply) or fails.
    if crate::replication::failover::wait_before_shutdown(ctx.srv, ctx.core, req) {
        let core = &mut *ctx.core;
        let waiter = core.blocking.block(
            &mut core.ks.blocking,
            ctx.client,
            ctx.client.db,
            Vec::new(),
            crate::server::blocking::BlockOp::Shutdown,
            None,
        );
        ctx.client.blocked = Some(waiter);
        ctx.client.publish_blocked(ctx.client.last_cmd, args);
        return Ok(());
    }
    finish_shutdown(ctx.srv, ctx.core, req).map_err(CmdError::msg)?;
    ctx.client.close_after_reply = true;
    Ok(())
}

/// The shutdown itself, once no replica needs waiting for: the final save (SAVE forces it, NOSAVE
/// forbids it, otherwise save points decide, as in Redis), then the stop. A failed save without
/// FORCE keeps the server running and returns the error for the client.
pub fn finish_shutdown(
    srv: &crate::server::Server,
    core: &mut crate::server::Core,
    req: crate::server::ShutdownRequest,
) -> Result<(), String> {
    crate::replication::failover::log_replicas_at_shutdown(core);
    let want_save = !req.nosave && (req.save || !srv.config.read().save.is_empty());
    if want_save {
        tracing::warn!("Saving the final RDB snapshot before exiting.");
        if let Err(e) = save_now(srv, core) {
            tracing::warn!("{e}");
            if !req.force {
                tracing::warn!("Error trying to save the DB, can't exit.");
                return Err("ERR Errors trying to SHUTDOWN. Check logs.".into());
            }
            tracing::warn!("Error trying to save the DB, but FORCE was given: exiting anyway.");
        }
    }
    core.repl.shutdown_wait = None;
    srv.begin_shutdown(req);
    Ok(())
}

/// The encoding thresholds the configuration sets (RDB encodings and MEMORY USAGE sizing).
pub fn thresholds(cfg: &crate::config::Config) -> crate::rdb::encode::Thresholds {
    crate::rdb::encode::Thresholds {
        hash_max_listpack_entries: cfg.hash_max_listpack_entries as usize,
        hash_max_listpack_value: cfg.hash_max_listpack_value as usize,
        set_max_intset_entries: cfg.set_max_intset_entries as usize,
        zset_max_listpack_entries: cfg.zset_max_listpack_entries as usize,
        zset_max_listpack_value: cfg.zset_max_listpack_value as usize,
        list_node_bytes: match cfg.list_max_listpack_size {
            n @ -5..=-1 => 4096 << (-n - 1),
            // A count limit: bytes per node are then bounded by the entries, not a size.
            _ => 8192,
        },
    }
}

/// Writes the keyspace to `dir/dbfilename` synchronously (the final save of SHUTDOWN), then
/// resets the dirty counter and LASTSAVE as a successful save does.
pub fn save_now(srv: &crate::server::Server, core: &mut crate::server::Core) -> Result<(), String> {
    // A BGSAVE still running would rename an older snapshot over this one: stop it first.
    crate::server::save::abort_bgsave(srv, core);
    crate::server::save::save_sync(srv, core).map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// COMMAND

fn write_node(out: &mut Reply, n: &Node) {
    match n {
        Node::B(s) => out.bulk(s.as_bytes()),
        Node::S(s) => out.simple(s),
        Node::I(i) => out.int(*i),
        Node::A(v) => {
            out.array(v.len());
            v.iter().for_each(|x| write_node(out, x));
        }
        Node::T(v) => {
            out.set(v.len());
            v.iter().for_each(|x| write_node(out, x));
        }
        Node::M(v) => {
            out.map(v.len());
            for (k, x) in v.iter() {
                out.bulk(k.as_bytes());
                write_node(out, x);
            }
        }
    }
}

/// Subcommands in the order Redis lists them.
fn ordered_subs(spec: &'static CommandSpec) -> Vec<&'static CommandSpec> {
    let mut v: Vec<&CommandSpec> = spec.subcommands.iter().collect();
    v.sort_by_key(|c| (meta::order_of(c.name), c.name));
    v
}

/// Every top-level command in the order Redis lists them.
fn ordered_all() -> Vec<&'static CommandSpec> {
    let mut v: Vec<&CommandSpec> = super::all().to_vec();
    v.sort_by_key(|c| (meta::order_of(c.name), c.name));
    v
}

/// Finds a command by its full name (`get`, `config|get`), ignoring case.
fn lookup_full(name: &[u8]) -> Option<&'static CommandSpec> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    match name.split_once('|') {
        None => super::lookup(name.as_bytes()),
        Some((parent, _)) => super::lookup(parent.as_bytes())?
            .subcommands
            .iter()
            .find(|s| s.name == name),
    }
}

/// A key specification made from a row's first/last/step, for commands without metadata.
fn write_row_key_specs(out: &mut Reply, spec: &CommandSpec) {
    if spec.first_key <= 0 {
        out.set(0);
        return;
    }
    out.set(1);
    out.map(3);
    out.bulk(b"flags");
    out.set(0);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"index");
    out.bulk(b"spec");
    out.map(1);
    out.bulk(b"index");
    out.int(spec.first_key as i64);
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"range");
    out.bulk(b"spec");
    out.map(3);
    out.bulk(b"lastkey");
    let last = if spec.last_key < 0 {
        spec.last_key
    } else {
        spec.last_key - spec.first_key
    };
    out.int(last as i64);
    out.bulk(b"keystep");
    out.int(spec.step as i64);
    out.bulk(b"limit");
    out.int(0);
}

/// The flags COMMAND INFO shows, in its order; `sentinel`, `only_sentinel` and `may_replicate` are
/// internal and Redis never prints them.
const INFO_FLAGS: &[(u32, &str)] = &[
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
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (NO_ASYNC_LOADING, "no_async_loading"),
    (NO_MULTI, "no_multi"),
    (MOVABLE_KEYS, "movablekeys"),
    (ALLOW_BUSY, "allow_busy"),
];

/// One command's COMMAND INFO entry (10 fields).
fn write_command_info(out: &mut Reply, spec: &'static CommandSpec) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(spec.arity as i64);
    let flags: Vec<&str> = INFO_FLAGS
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    flags.iter().for_each(|f| out.simple(f));
    out.int(spec.first_key as i64);
    out.int(spec.last_key as i64);
    out.int(spec.step as i64);
    let acl: Vec<&str> = spec.acl.split_whitespace().collect();
    out.set(acl.len());
    acl.iter().for_each(|c| out.simple(c));
    match meta::get(spec.name) {
        Some(m) => {
            write_node(out, &m.tips);
            write_node(out, &m.key_specs);
        }
        None => {
            out.set(0);
            write_row_key_specs(out, spec);
        }
    }
    let subs = ordered_subs(spec);
    out.set(subs.len());
    for s in subs {
        write_command_info(out, s);
    }
}

/// One command's COMMAND DOCS map.
fn write_command_docs(out: &mut Reply, spec: &'static CommandSpec) {
    let extra = meta::get(spec.name).map(|m| m.docs).unwrap_or(&[]);
    let base = [
        ("summary", spec.summary),
        ("since", spec.since),
        ("group", spec.group),
        ("complexity", spec.complexity),
    ];
    let base: Vec<_> = base.iter().filter(|(_, v)| !v.is_empty()).collect();
    let subs = ordered_subs(spec);
    out.map(base.len() + extra.len() + usize::from(!subs.is_empty()));
    for (k, v) in base {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
    for (k, n) in extra {
        out.bulk(k.as_bytes());
        write_node(out, n);
    }
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for s in subs {
            out.bulk(s.name.as_bytes());
            write_command_docs(out, s);
        }
    }
}

fn command_all(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let all = ordered_all();
    ctx.out.array(all.len());
    for c in all {
        write_command_info(&mut ctx.out, c);
    }
    Ok(())
}

fn command_info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return command_all(ctx, args);
    }
    ctx.out.array(args.len() - 2);
    for name in &args[2..] {
        match lookup_full(name) {
            Some(c) => write_command_info(&mut ctx.out, c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn command_docs(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cmds: Vec<&'static CommandSpec> = if args.len() == 2 {
        ordered_all()
    } else {
        args[2..].iter().filter_map(|n| lookup_full(n)).collect()
    };
    ctx.out.map(cmds.len());
    for c in cmds {
        ctx.out.bulk(c.name.as_bytes());
        write_command_docs(&mut ctx.out, c);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(super::all().len() as i64);
    Ok(())
}

fn command_list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    enum Filter {
        All,
        Module,
        AclCat(String),
        Pattern(Bytes),
    }
    let filter = match args.len() {
        2 => Filter::All,
        5 if eq_ic(&args[2], "filterby") => {
            if eq_ic(&args[3], "module") {
                Filter::Module
            } else if eq_ic(&args[3], "aclcat") {
                Filter::AclCat(format!(
                    "@{}",
                    String::from_utf8_lossy(&args[4]).to_ascii_lowercase()
                ))
            } else if eq_ic(&args[3], "pattern") {
                Filter::Pattern(args[4].clone())
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let keep = |c: &CommandSpec| match &filter {
        Filter::All => true,
        // No modules can be loaded, so no command belongs to one.
        Filter::Module => false,
        Filter::AclCat(cat) => c.acl.split_whitespace().any(|a| a == cat),
        Filter::Pattern(p) => crate::util::glob_match(p, c.name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for c in ordered_all() {
        if keep(c) {
            names.push(c.name);
        }
        for s in ordered_subs(c) {
            if keep(s) {
                names.push(s.name);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// A key found by COMMAND GETKEYS: its argument index and the flags of the spec that found it.
struct FoundKey {
    index: usize,
    flags: Vec<&'static str>,
}

fn node_map_get<'a>(n: &'a Node, key: &str) -> Option<&'a Node> {
    match n {
        Node::M(v) => v.iter().find(|(k, _)| *k == key).map(|(_, x)| x),
        _ => None,
    }
}

fn node_int(n: Option<&Node>) -> Option<i64> {
    match n {
        Some(Node::I(i)) => Some(*i),
        _ => None,
    }
}

fn node_str(n: Option<&Node>) -> Option<&'static str> {
    match n {
        Some(Node::B(s)) | Some(Node::S(s)) => Some(s),
        _ => None,
    }
}

/// Applies key specifications to a full command line. `Err` means the arguments do not fit the
/// specs (`Invalid arguments specified for command`).
fn keys_from_specs(specs: &Node, args: &[Bytes]) -> Result<Vec<FoundKey>, ()> {
    let Node::T(specs) = specs else {
        return Ok(Vec::new());
    };
    let argc = args.len() as i64;
    let mut found = Vec::new();
    for spec in specs.iter() {
        let flags: Vec<&'static str> = match node_map_get(spec, "flags") {
            Some(Node::T(v)) => v.iter().filter_map(|f| node_str(Some(f))).collect(),
            _ => Vec::new(),
        };
        let Some(bs) = node_map_get(spec, "begin_search") else {
            continue;
        };
        let bs_spec = node_map_get(bs, "spec");
        let first = match node_str(node_map_get(bs, "type")) {
            Some("index") => node_int(bs_spec.and_then(|s| node_map_get(s, "index"))).ok_or(())?,
            Some("keyword") => {
                let kw = node_str(bs_spec.and_then(|s| node_map_get(s, "keyword"))).ok_or(())?;
                let from = node_int(bs_spec.and_then(|s| node_map_get(s, "startfrom"))).ok_or(())?;
                let (start, end, step) = if from > 0 {
                    (from, argc - 1, 1)
                } else {
                    (argc + from, 1, -1)
                };
                let mut i = start;
                let mut at = None;
                while (step > 0 && i <= end) || (step < 0 && i >= end) {
                    if i >= 1 && i < argc && eq_ic(&args[i as usize], kw) {
                        at = Some(i + 1);
                        break;
                    }
                    i += step;
                }
                match at {
                    Some(f) => f,
                    None => continue,
                }
            }
            _ => continue,
        };
        if first >= argc {
            continue;
        }
        let Some(fk) = node_map_get(spec, "find_keys") else {
            continue;
        };
        let fk_spec = node_map_get(fk, "spec");
        let get = |name: &str| node_int(fk_spec.and_then(|s| node_map_get(s, name)));
        let (first, last, step) = match node_str(node_map_get(fk, "type")) {
            Some("range") => {
                let lastkey = get("lastkey").ok_or(())?;
                let keystep = get("keystep").ok_or(())?.max(1);
                let limit = get("limit").ok_or(())?;
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit <= 1 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, keystep)
            }
            Some("keynum") => {
                let idx = first + get("keynumidx").ok_or(())?;
                if idx >= argc {
                    return Err(());
                }
                let n = crate::util::parse_i64(&args[idx as usize]).ok_or(())?;
                let keystep = get("keystep").ok_or(())?.max(1);
                if n < 0 || n > argc {
                    return Err(());
                }
                let first = first + get("firstkey").ok_or(())?;
                (first, first + (n - 1) * keystep, keystep)
            }
            _ => continue,
        };
        let mut i = first;
        while i <= last {
            if i >= argc || i < 1 {
                return Err(());
            }
            found.push(FoundKey {
                index: i as usize,
                flags: flags.clone(),
            });
            i += step;
        }
    }
    Ok(found)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the checks and texts of Redis, then the key specs (or the
/// row's key positions for commands without metadata).
fn getkeys(ctx: &mut Ctx, args: &[Bytes], with_flags: bool) -> CmdResult {
    let line = &args[2..];
    let Ok(spec) = super::resolve(line) else {
        // Unknown command, unknown subcommand or wrong arity: tell which.
        return match super::lookup(&line[0]) {
            None => Err(CmdError::msg("ERR Invalid command specified")),
            Some(_) => Err(CmdError::msg(
                "ERR Invalid number of arguments specified for command",
            )),
        };
    };
    let m = meta::get(spec.name);
    let has_specs = match m.map(|m| &m.key_specs) {
        Some(Node::T(v)) => !v.is_empty(),
        _ => spec.first_key > 0,
    };
    if !has_specs && spec.flags & MOVABLE_KEYS == 0 {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    let found = match m {
        Some(m) => keys_from_specs(&m.key_specs, line),
        None => Ok(spec
            .key_indexes(line.len())
            .into_iter()
            .map(|index| FoundKey {
                index,
                flags: Vec::new(),
            })
            .collect()),
    };
    let mut found = match found {
        Ok(f) if !f.is_empty() || spec.flags & NO_MANDATORY_KEYS != 0 => f,
        _ => return Err(CmdError::msg("ERR Invalid arguments specified for command")),
    };
    if let Some(flags) = variable_key_flags(spec.name, line) {
        found.iter_mut().for_each(|k| k.flags = flags.to_vec());
    }
    ctx.out.array(found.len());
    for k in found {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(&line[k.index]);
            ctx.out.set(k.flags.len());
            k.flags.iter().for_each(|f| ctx.out.simple(f));
        } else {
            ctx.out.bulk(&line[k.index]);
        }
    }
    Ok(())
}

/// The key flags of the commands whose key spec says `variable_flags`: they depend on the options.
fn variable_key_flags(name: &str, line: &[Bytes]) -> Option<&'static [&'static str]> {
    const RW: &[&str] = &["RW", "access", "update"];
    match name {
        // SET ... GET reads the old value; otherwise it only overwrites.
        "set" => Some(if line.iter().skip(3).any(|a| eq_ic(a, "get")) {
            RW
        } else {
            &["OW", "update"]
        }),
        "bitfield" => Some(
            if line
                .iter()
                .skip(2)
                .any(|a| eq_ic(a, "set") || eq_ic(a, "incrby"))
            {
                RW
            } else {
                &["RO", "access"]
            },
        ),
        _ => None,
    }
}

fn command_getkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    getkeys(ctx, args, false)
}

fn command_getkeysandflags(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    getkeys(ctx, args, true)
}

fn command_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    help_reply(
        &mut ctx.out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SLOWLOG

fn slowlog_get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let count = match args.get(2) {
        None => 10,
        Some(a) => match crate::util::parse_i64(a) {
            Some(n) if n >= -1 => n,
            _ => {
                return Err(CmdError::msg(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        },
    };
    let len = ctx.core.slowlog.len();
    let n = if count == -1 {
        len
    } else {
        len.min(count as usize)
    };
    ctx.out.array(n);
    for e in ctx.core.slowlog.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time);
        ctx.out.int(e.duration_us as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.peer.as_bytes());
        ctx.out.bulk(e.name.as_bytes());
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.core.slowlog.len() as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.core.slowlog.clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    help_reply(
        &mut ctx.out,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LATENCY

fn latency_latest(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let events: Vec<_> = ctx
        .core
        .latency
        .iter()
        .filter_map(|(name, q)| {
            let last = q.back()?;
            let max = ctx.core.latency_max.get(name).copied().unwrap_or(last.1);
            Some((name.clone(), last.0, last.1, max))
        })
        .collect();
    ctx.out.array(events.len());
    for (name, t, ms, max) in events {
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t);
        ctx.out.int(ms as i64);
        ctx.out.int(max as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&args[2]).into_owned();
    match ctx.core.latency.get(&name) {
        None => ctx.out.array(0),
        Some(q) => {
            ctx.out.array(q.len());
            for (t, ms) in q {
                ctx.out.array(2);
                ctx.out.int(*t);
                ctx.out.int(*ms as i64);
            }
        }
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = if args.len() == 2 {
        let n = ctx.core.latency.len();
        ctx.core.latency.clear();
        ctx.core.latency_max.clear();
        n
    } else {
        args[2..]
            .iter()
            .filter(|a| {
                let name = String::from_utf8_lossy(a);
                ctx.core.latency_max.remove(name.as_ref());
                ctx.core.latency.remove(name.as_ref()).is_some()
            })
            .count()
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn latency_graph(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&args[2]).into_owned();
    let Some(q) = ctx.core.latency.get(&name).filter(|q| !q.is_empty()) else {
        return Err(CmdError::msg(format!(
            "ERR No samples available for event '{name}'"
        )));
    };
    let now = crate::util::now_ms() / 1000;
    let samples: Vec<(f64, String)> = q
        .iter()
        .map(|&(t, ms)| {
            let ago = now - t;
            let label = match ago {
                a if a < 60 => format!("{a}s"),
                a if a < 3600 => format!("{}m", a / 60),
                a if a < 86400 => format!("{}h", a / 3600),
                a => format!("{}d", a / 86400),
            };
            (ms as f64, label)
        })
        .collect();
    let high = q.iter().map(|s| s.1).max().unwrap_or(0);
    let low = q.iter().map(|s| s.1).min().unwrap_or(0);
    let all_time = ctx.core.latency_max.get(&name).copied().unwrap_or(high);
    let mut graph =
        format!("{name} - high {high} ms, low {low} ms (all time high {all_time} ms)\n");
    graph.push_str(&"-".repeat(80));
    graph.push('\n');
    sparkline(&mut graph, &samples, 80, 4);
    ctx.out.verbatim(graph.as_bytes());
    Ok(())
}

/// Renders samples as Redis's filled ASCII sparkline: `rows` rows of `_o#|` bars scaled between
/// the lowest and highest value, then each sample's label written vertically below its column,
/// in chunks of `columns` samples.
fn sparkline(out: &mut String, samples: &[(f64, String)], columns: usize, rows: usize) {
    const FILL: &[u8] = b"_o#";
    let min = samples.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = samples
        .iter()
        .map(|s| s.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * rows) as i64;
    let has_labels = samples.iter().any(|s| !s.1.is_empty());
    for (chunk_no, chunk) in samples.chunks(columns).enumerate() {
        if chunk_no > 0 {
            out.push('\n');
        }
        let mut row = 0;
        loop {
            let mut line = vec![b' '; chunk.len()];
            let mut more = false;
            for (j, (v, label)) in chunk.iter().enumerate() {
                let step = ((((v - min) * steps as f64) as i64) as f64 / range) as i64;
                let step = step.clamp(0, steps - 1);
                if row < rows {
                    more = true;
                    let idx = step - ((rows - row - 1) * FILL.len()) as i64;
                    if (0..FILL.len() as i64).contains(&idx) {
                        line[j] = FILL[idx as usize];
                    } else if idx >= FILL.len() as i64 {
                        line[j] = b'|';
                    }
                } else {
                    // One blank row between the bars and the labels.
                    if has_labels && row - rows < 1 {
                        more = true;
                        break;
                    }
                    if let Some(&c) = (row - rows)
                        .checked_sub(1)
                        .and_then(|i| label.as_bytes().get(i))
                    {
                        more = true;
                        line[j] = c;
                    }
                }
            }
            if !more {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&line));
            out.push('\n');
        }
    }
}

/// Anonymous huge pages of this process (transparent huge pages cause latency spikes).
fn anon_huge_pages_kb() -> u64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("AnonHugePages:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The advices of LATENCY DOCTOR, in the order Redis prints them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Advice {
    SlowlogEnabled,
    SlowlogTuning,
    SlowlogInspect,
    Scheduler,
    LocalDisk,
    Ssd,
    DataWriteback,
    DiskContention,
    NoAppendfsync,
    WriteLoadInfo,
    Hz,
    LargeObjects,
    MassEviction,
    DisableThp,
}

fn latency_report(ctx: &Ctx) -> String {
    let core = &*ctx.core;
    if core.latency.is_empty() && core.latency_threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    let now = crate::util::now_ms() / 1000;
    let threshold = core.latency_threshold_ms;
    let mut report = String::new();
    let mut advices: Vec<Advice> = Vec::new();
    let mut count = 0usize;
    let mut events = 0;
    for (event, q) in &core.latency {
        events += 1;
        if events == 1 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let n = q.len() as u64;
        let (avg, mad, period) = match q.iter().map(|s| s.1).sum::<u64>().checked_div(n) {
            None => (0, 0, 0),
            Some(avg) => {
                let dev: u64 = q
                    .iter()
                    .map(|s| (avg as i64 - s.1 as i64).unsigned_abs())
                    .sum();
                let oldest = q.iter().map(|s| s.0).min().unwrap_or(now);
                (avg, dev / n, (now - oldest).max(1))
            }
        };
        let worst = core.latency_max.get(event).copied().unwrap_or(0);
        report.push_str(&format!(
            "{events}. {event}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {worst}ms.",
            period as f64 / n.max(1) as f64
        ));
        let mut add = |a: &[Advice], n: usize| {
            advices.extend_from_slice(a);
            count += n;
        };
        match event.to_ascii_lowercase().as_str() {
            "command" => {
                let slower = core.slowlog_threshold_us;
                if slower < 0 {
                    add(&[Advice::SlowlogEnabled], 1);
                } else if (slower / 1000) as u64 > threshold {
                    add(&[Advice::SlowlogTuning], 1);
                }
                add(&[Advice::SlowlogInspect, Advice::LargeObjects], 2);
            }
            "fast-command" => add(&[Advice::Scheduler], 1),
            "aof-write-pending-fsync" => add(
                &[
                    Advice::LocalDisk,
                    Advice::DiskContention,
                    Advice::Ssd,
                    Advice::DataWriteback,
                ],
                4,
            ),
            "aof-write-active-child" => add(
                &[Advice::NoAppendfsync, Advice::DataWriteback, Advice::Ssd],
                3,
            ),
            "aof-write-alone" => add(&[Advice::LocalDisk, Advice::DataWriteback, Advice::Ssd], 3),
            "aof-fstat" | "rdb-unlink-temp-file" => {
                add(&[Advice::DiskContention, Advice::LocalDisk], 2)
            }
            "aof-rewrite-diff-write" | "aof-rename" => add(
                &[
                    Advice::WriteLoadInfo,
                    Advice::DataWriteback,
                    Advice::Ssd,
                    Advice::LocalDisk,
                ],
                4,
            ),
            "expire-cycle" => add(&[Advice::Hz, Advice::LargeObjects], 2),
            "eviction-del" => add(&[Advice::LargeObjects], 1),
            "eviction-cycle" => add(&[Advice::MassEviction], 1),
            _ => {}
        }
        report.push('\n');
    }
    if anon_huge_pages_kb() > 0 {
        advices.push(Advice::DisableThp);
        count += 1;
    }
    if events == 0 && count == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return report;
    }
    if count == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return report;
    }
    advices.sort();
    advices.dedup();
    report.push_str("\nI have a few advices for you:\n\n");
    let hz = ctx.srv.config.read().hz;
    for a in advices {
        let text = match a {
            Advice::SlowlogEnabled => format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold * 1000),
            Advice::SlowlogTuning => format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold * 1000),
            Advice::SlowlogInspect => "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n".into(),
            Advice::Scheduler => "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n".into(),
            Advice::LocalDisk => "- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n".into(),
            Advice::Ssd => "- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n".into(),
            Advice::DataWriteback => "- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n".into(),
            Advice::DiskContention => "- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n".into(),
            Advice::NoAppendfsync => "- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n".into(),
            Advice::WriteLoadInfo => "- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n".into(),
            Advice::Hz if hz < 100 => "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n".into(),
            Advice::Hz => String::new(),
            Advice::LargeObjects => "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n".into(),
            Advice::MassEviction => "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n".into(),
            Advice::DisableThp => "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n".into(),
        };
        report.push_str(&text);
    }
    report
}

fn latency_doctor(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let text = latency_report(ctx);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn write_histogram(out: &mut Reply, h: &crate::info::LatencyHist, calls: u64) {
    out.map(2);
    out.bulk(b"calls");
    out.int(calls as i64);
    out.bulk(b"histogram_usec");
    let buckets = h.cumulative_pow2();
    out.map(buckets.len());
    for (bound_us, n) in buckets {
        out.int(bound_us as i64);
        out.int(n as i64);
    }
}

fn latency_histogram(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let names: Vec<&'static str> = if args.len() == 2 {
        let mut v: Vec<&'static str> = ctx.core.stats.cmd_entries().map(|e| e.0).collect();
        v.sort_by_key(|n| (meta::order_of(n), *n));
        v
    } else {
        args[2..]
            .iter()
            .filter_map(|a| lookup_full(a).map(|c| c.name))
            .collect()
    };
    let stats = &ctx.core.stats;
    let rows: Vec<_> = names
        .into_iter()
        .filter_map(|n| {
            let (s, h) = stats.cmd_by_name(n)?;
            let calls = s.calls;
            (calls > 0 && h.total() > 0).then_some((n, h, calls))
        })
        .collect();
    ctx.out.map(rows.len());
    for (n, h, calls) in rows {
        ctx.out.bulk(n.as_bytes());
        write_histogram(&mut ctx.out, h, calls);
    }
    Ok(())
}

fn latency_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    help_reply(
        &mut ctx.out,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// MEMORY

/// The size jemalloc actually hands out for a request of `n` bytes (its size classes).
pub fn alloc_size(n: usize) -> usize {
    if n <= 8 {
        8
    } else if n <= 128 {
        n.div_ceil(16) * 16
    } else {
        // Four classes per doubling: (128, 256] is 160, 192, 224, 256.
        let base = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
        let width = base / 4;
        n.div_ceil(width) * width
    }
}

/// Bytes of an sds string of `len` bytes: header (by length class) + data + NUL, as allocated.
fn sds_size(len: usize, is_key: bool) -> usize {
    let hdr = if is_key && len < 32 {
        1
    } else if len < 256 {
        3
    } else if len < 65536 {
        5
    } else if len < (1 << 32) {
        9
    } else {
        17
    };
    alloc_size(hdr + len + 1)
}

const ROBJ: usize = 16;
const DICT_ENTRY: usize = 24;
const DICT: usize = 56;

/// Bytes one element takes in a listpack.
fn lp_entry_size(e: &[u8]) -> usize {
    let enc = match crate::util::parse_i64(e) {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..4096).contains(&v) => 2,
        Some(v) if (-32768..32768).contains(&v) => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if (i32::MIN as i64..=i32::MAX as i64).contains(&v) => 5,
        Some(_) => 9,
        None if e.len() < 64 => 1 + e.len(),
        None if e.len() < 4096 => 2 + e.len(),
        None => 5 + e.len(),
    };
    let backlen = match enc {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    };
    enc + backlen
}

fn lp_size<'a>(items: impl Iterator<Item = &'a [u8]>) -> usize {
    6 + 1 + items.map(lp_entry_size).sum::<usize>()
}

/// Scales the bytes of `sampled` elements (out of `total`) to the whole collection, as Redis does.
fn extrapolate(bytes: usize, sampled: usize, total: usize) -> usize {
    bytes.checked_div(sampled).unwrap_or(0) * total
}

/// Estimates a value's memory as Redis sizes its objects, with Redis 7.0's default encodings.
/// `samples == 0` means every element.
fn value_size(v: &Value, samples: usize, th: &crate::rdb::encode::Thresholds) -> usize {
    let lim = if samples == 0 { usize::MAX } else { samples };
    match v {
        Value::Int(_) => ROBJ,
        Value::Str(b) if b.len() <= crate::db::value::EMBSTR_MAX => {
            alloc_size(ROBJ + 3 + b.len() + 1)
        }
        Value::Str(b) | Value::Raw(b) => ROBJ + sds_size(b.len(), false),
        Value::List(l) => {
            // A quicklist of listpacks of about 8 KB each.
            let mut size = ROBJ + 40;
            let mut node_bytes = 7;
            let mut nodes = Vec::new();
            for e in l.iter() {
                let s = lp_entry_size(e);
                if node_bytes + s > th.list_node_bytes && node_bytes > 7 {
                    nodes.push(node_bytes);
                    node_bytes = 7;
                }
                node_bytes += s;
            }
            nodes.push(node_bytes);
            let sampled: usize = nodes.iter().take(lim).map(|b| 32 + alloc_size(*b)).sum();
            size += extrapolate(sampled, nodes.len().min(lim), nodes.len());
            size
        }
        Value::Hash(h) => {
            // The stored encoding decides, as in Redis: a hashtable that shrank stays one.
            if h.listpack {
                ROBJ + alloc_size(lp_size(h.iter().flat_map(|(f, v)| [f, v])))
            } else {
                let slots = h.len().next_power_of_two();
                let sampled: usize = h
                    .iter()
                    .take(lim)
                    .map(|(f, v)| DICT_ENTRY + sds_size(f.len(), false) + sds_size(v.len(), false))
                    .sum();
                ROBJ + DICT + 8 * slots + extrapolate(sampled, h.len().min(lim), h.len())
            }
        }
        Value::Set(s) => {
            let ints: Option<Vec<i64>> = if s.len() <= th.set_max_intset_entries {
                s.iter().map(|m| crate::util::parse_i64(m)).collect()
            } else {
                None
            };
            match ints {
                Some(ints) => {
                    let width = if ints.iter().all(|&i| i16::try_from(i).is_ok()) {
                        2
                    } else if ints.iter().all(|&i| i32::try_from(i).is_ok()) {
                        4
                    } else {
                        8
                    };
                    ROBJ + alloc_size(8 + width * ints.len())
                }
                None => {
                    let slots = s.len().next_power_of_two();
                    let sampled: usize = s
                        .iter()
                        .take(lim)
                        .map(|m| DICT_ENTRY + sds_size(m.len(), false))
                        .sum();
                    ROBJ + DICT + 8 * slots + extrapolate(sampled, s.len().min(lim), s.len())
                }
            }
        }
        Value::ZSet(z) => {
            let n = z.len();
            let small = n <= th.zset_max_listpack_entries
                && z.members()
                    .all(|(m, _)| m.len() <= th.zset_max_listpack_value);
            if small {
                let scores: Vec<String> =
                    z.iter().map(|(_, s)| crate::util::fmt_double(s)).collect();
                let bytes = 7 + z
                    .iter()
                    .zip(&scores)
                    .map(|((m, _), s)| lp_entry_size(m) + lp_entry_size(s.as_bytes()))
                    .sum::<usize>();
                ROBJ + alloc_size(bytes)
            } else {
                // zset + skiplist + dict headers, the skiplist head node (32 levels), then per
                // element its sds, its dict entry and a skiplist node of the average level.
                let head = alloc_size(32 + 32 * 16);
                let slots = n.next_power_of_two();
                // Redis samples from the head of the skiplist: the lowest scores.
                let sampled: usize = z
                    .iter()
                    .take(lim)
                    .map(|(m, _)| {
                        sds_size(m.len(), false) + DICT_ENTRY + alloc_size(24 + 16 * 4 / 3)
                    })
                    .sum();
                ROBJ + 16 + 32 + DICT + 8 * slots + head + extrapolate(sampled, n.min(lim), n)
            }
        }
    }
}

fn memory_usage(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut samples = 5usize;
    let mut i = 3;
    while i < args.len() {
        if eq_ic(&args[i], "samples") && i + 1 < args.len() {
            let n = arg_i64(&args[i + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            samples = n as usize;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let db = ctx.db();
    // Like Redis, a plain table lookup: no expiry check, no statistics, no LRU update.
    let Some(e) = ctx.core.ks.dbs[db].table.get(&args[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let k = args[2].len();
    let th = thresholds(&ctx.srv.config.read());
    let size = value_size(&e.value, samples, &th) + sds_size(k, true) + DICT_ENTRY;
    ctx.out.int(size as i64);
    Ok(())
}

fn memory_stats(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let m = crate::info::mem_figures(ctx.srv, ctx.core);
    let a = m.alloc;
    // Redis keeps these ratios as floats.
    let f = |x: f64| (x as f32) as f64;
    let ratio = |x: u64, y: u64| if y == 0 { 0.0 } else { f(x as f64 / y as f64) };
    let diff = |x: u64, y: u64| x as i64 - y as i64;
    let out = &mut ctx.out;
    out.map(27 + m.db_overheads.len());
    let ints: [(&str, i64); 10] = [
        ("peak.allocated", m.peak as i64),
        ("total.allocated", m.used as i64),
        ("startup.allocated", m.startup as i64),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", m.clients_normal as i64),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ];
    for (k, v) in ints {
        out.bulk(k.as_bytes());
        out.int(v);
    }
    for (db, main, exp) in &m.db_overheads {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(3);
        out.bulk(b"overhead.hashtable.main");
        out.int(*main as i64);
        out.bulk(b"overhead.hashtable.expires");
        out.int(*exp as i64);
        out.bulk(b"overhead.hashtable.slot-to-keys");
        out.int(0);
    }
    let net = m.used.saturating_sub(m.startup);
    out.bulk(b"overhead.total");
    out.int(m.overhead as i64);
    out.bulk(b"keys.count");
    out.int(m.keys as i64);
    out.bulk(b"keys.bytes-per-key");
    out.int(net.checked_div(m.keys).unwrap_or(0) as i64);
    out.bulk(b"dataset.bytes");
    out.int(m.dataset as i64);
    out.bulk(b"dataset.percentage");
    out.double(f(m.dataset_perc()));
    out.bulk(b"peak.percentage");
    out.double(f(m.peak_perc()));
    out.bulk(b"allocator.allocated");
    out.int(a.allocated as i64);
    out.bulk(b"allocator.active");
    out.int(a.active as i64);
    out.bulk(b"allocator.resident");
    out.int(a.resident as i64);
    out.bulk(b"allocator-fragmentation.ratio");
    out.double(ratio(a.active, a.allocated));
    out.bulk(b"allocator-fragmentation.bytes");
    out.int(diff(a.active, a.allocated));
    out.bulk(b"allocator-rss.ratio");
    out.double(ratio(a.resident, a.active));
    out.bulk(b"allocator-rss.bytes");
    out.int(diff(a.resident, a.active));
    out.bulk(b"rss-overhead.ratio");
    out.double(ratio(m.rss, a.resident));
    out.bulk(b"rss-overhead.bytes");
    out.int(diff(m.rss, a.resident));
    out.bulk(b"fragmentation");
    out.double(ratio(m.rss, m.used));
    out.bulk(b"fragmentation.bytes");
    out.int(diff(m.rss, m.used));
    Ok(())
}

fn memory_doctor(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let m = crate::info::mem_figures(ctx.srv, ctx.core);
    let a = m.alloc;
    let ratio = |x: u64, y: u64| if y == 0 { 0.0 } else { x as f64 / y as f64 };
    const MB10: i64 = 10 << 20;
    let clients = ctx.srv.clients.lock().len().max(1) as u64;
    let text = if m.used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        // Redis's checks, in its order: peak, total RSS, allocator fragmentation, allocator RSS,
        // process RSS, client buffers.
        let checks: [(bool, &str); 6] = [
            (
                ratio(m.peak, m.used) > 1.5,
                " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n",
            ),
            (
                ratio(m.rss, m.used) > 1.4 && m.rss as i64 - m.used as i64 > MB10,
                " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc-5.3.0\".\n\n",
            ),
            (
                ratio(a.active, a.allocated) > 1.1 && a.active as i64 - a.allocated as i64 > MB10,
                " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n",
            ),
            (
                ratio(a.resident, a.active) > 1.1 && a.resident as i64 - a.active as i64 > MB10,
                " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n",
            ),
            (
                ratio(m.rss, a.resident) > 1.1 && m.rss as i64 - a.resident as i64 > MB10,
                " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n",
            ),
            (
                m.clients_normal / clients > 200 * 1024,
                " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n",
            ),
        ];
        let issues: Vec<&str> = checks.iter().filter(|c| c.0).map(|c| c.1).collect();
        if issues.is_empty() {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            let mut s = String::from(
                "Sam, I detected a few issues in this Redis instance memory implants:\n\n",
            );
            issues.iter().for_each(|i| s.push_str(i));
            s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
            s
        }
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn memory_malloc_stats(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let text = crate::alloc::malloc_stats_text();
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn memory_purge(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    crate::alloc::purge();
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    help_reply(
        &mut ctx.out,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_like_redis() {
        // LATENCY GRAPH body Redis 7.0 printed for samples of 5, 50, 20 and 3 ms, 4s..1s ago.
        let samples: Vec<(f64, String)> = [(5.0, "4s"), (50.0, "3s"), (20.0, "2s"), (3.0, "1s")]
            .iter()
            .map(|(v, l)| (*v, l.to_string()))
            .collect();
        let mut out = String::new();
        sparkline(&mut out, &samples, 80, 4);
        assert_eq!(out, " #  \n |  \n |o \n_||_\n    \n4321\nssss\n");
    }

    #[test]
    fn latency_doctor_report_like_redis() {
        let srv = crate::server::Server::new(crate::config::Config::default(), None);
        let mut core = srv.core.lock();
        core.latency_threshold_ms = 1;
        core.latency_add("command", 5);
        let handle =
            crate::server::client::ClientHandle::new(1, "127.0.0.1:1".into(), "".into(), -1);
        let mut client = crate::server::client::Client::new(handle, true);
        let mut buf = bytes::BytesMut::new();
        let ctx = Ctx {
            core: &mut core,
            client: &mut client,
            srv: &srv,
            out: Reply::new(&mut buf, crate::resp::Proto::Resp2),
        };
        let report = latency_report(&ctx);
        // What Redis 7.0 reports after one 5 ms command with latency-monitor-threshold 1.
        let want = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 1 latency spikes (average 5ms, mean deviation 0ms, period 1.00 sec). Worst all time event 5ms.\n\nI have a few advices for you:\n\n- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than 1000'.\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n";
        if anon_huge_pages_kb() == 0 {
            assert_eq!(report, want);
        } else {
            assert!(report.starts_with(&want[..want.len() - 1]), "{report}");
        }
    }

    #[test]
    fn jemalloc_size_classes() {
        assert_eq!(alloc_size(3), 8);
        assert_eq!(alloc_size(17), 32);
        assert_eq!(alloc_size(129), 160);
        assert_eq!(alloc_size(257), 320);
        assert_eq!(alloc_size(1025), 1280);
    }

    #[test]
    fn string_sizes_like_redis() {
        // SET a 1 → MEMORY USAGE a = 48 on Redis 7.0.
        assert_eq!(
            value_size(&Value::Int(1), 5, &Default::default()) + sds_size(1, true) + DICT_ENTRY,
            48
        );
    }

    #[test]
    fn every_row_has_metadata_or_row_keys() {
        for c in super::super::all() {
            assert!(!c.summary.is_empty(), "{} has no summary", c.name);
        }
    }
}
#[cfg(test)]
mod collection_sizes {
    use super::*;
    use crate::db::value::ZSet;
    use std::sync::Arc;

    fn b(s: impl Into<String>) -> Bytes {
        Bytes::from(s.into())
    }

    fn zset(items: impl Iterator<Item = (f64, String)>) -> Value {
        let mut z = ZSet::default();
        for (s, m) in items {
            z.insert(m.as_bytes(), s);
        }
        Value::ZSet(Arc::new(z))
    }

    /// MEMORY USAGE of two-byte keys holding these values, as Redis 7.0.15 reports them.
    #[test]
    fn estimates_are_close_to_redis() {
        let cases: Vec<(&str, Value, usize)> = vec![
            (
                "RPUSH l1 a b c",
                Value::List(Arc::new(["a", "b", "c"].into_iter().map(b).collect())),
                144,
            ),
            (
                "RPUSH l2 0xxxxxxxxxx .. 999xxxxxxxxxx",
                Value::List(Arc::new(
                    (0..1000).map(|i| b(format!("{i}xxxxxxxxxx"))).collect(),
                )),
                15528,
            ),
            (
                "HSET h1 f1 v1 f2 v2",
                Value::Hash(Arc::new(
                    [("f1", "v1"), ("f2", "v2")]
                        .into_iter()
                        .map(|(f, v)| (b(f), b(v)))
                        .collect(),
                )),
                80,
            ),
            (
                "HSET h2 field0 value0 .. (200)",
                Value::Hash(Arc::new(
                    (0..200)
                        .map(|i| (b(format!("field{i}")), b(format!("value{i}"))))
                        .collect(),
                )),
                4144,
            ),
            (
                "SADD s1 1 2 3",
                Value::Set(Arc::new(["1", "2", "3"].into_iter().map(b).collect())),
                64,
            ),
            (
                "SADD s2 a b c",
                Value::Set(Arc::new(["a", "b", "c"].into_iter().map(b).collect())),
                232,
            ),
            (
                "SADD s3 m0 .. m999",
                Value::Set(Arc::new((0..1000).map(|i| b(format!("m{i}"))).collect())),
                40296,
            ),
            (
                "ZADD z1 1 a 2.5 b",
                zset([(1.0, "a".to_string()), (2.5, "b".to_string())].into_iter()),
                80,
            ),
            (
                "ZADD z2 (300 members, scores i*1.5) SAMPLES 0",
                zset((0..300).map(|i| (i as f64 * 1.5, format!("member{i}")))),
                34904,
            ),
        ];
        for (what, v, redis) in cases {
            let th = thresholds(&crate::config::Config::default());
            let ours = value_size(&v, 0, &th) + sds_size(2, true) + DICT_ENTRY;
            let err = (ours as f64 - redis as f64).abs() / redis as f64;
            assert!(err < 0.15, "{what}: ours {ours}, redis {redis}");
        }
    }
}
