//! CONFIG GET/SET/REWRITE/RESETSTAT/HELP, over the directive table of [`crate::config`].
//!
//! CONFIG SET is all or nothing: every name is checked first (unknown, immutable, protected,
//! duplicate), then the values are applied to a copy of the configuration, which replaces the live
//! one only if all of them parsed. Values that the command path reads without taking the config
//! lock (slowlog, latency threshold, loglevel) are mirrored right after.

use bytes::Bytes;
use indexmap::IndexMap;
use std::sync::atomic::Ordering;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::config::{self, dflag, Config, Directive, ProtectedAccess};

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    // In the order Redis's COMMAND INFO lists them.
    CommandSpec::new("config|get", -3, config_get)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.0.0",
            "Get the values of configuration parameters",
            "O(N) when N is the number of configuration parameters provided",
        ),
    CommandSpec::new("config|rewrite", 2, config_rewrite)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.8.0",
            "Rewrite the configuration file with the in memory configuration",
            "O(1)",
        ),
    CommandSpec::new("config|resetstat", 2, config_resetstat)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.0.0",
            "Reset the stats returned by INFO",
            "O(1)",
        ),
    CommandSpec::new("config|help", 2, config_help)
        .flags(LOADING | STALE)
        .acl("@slow")
        .doc(
            "server",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("config|set", -4, config_set)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.0.0",
            "Set configuration parameters to the given values",
            "O(N) when N is the number of configuration parameters provided",
        ),
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("config", CONFIG_SUBCOMMANDS)
    .acl("@slow")
    .doc(
        "server",
        "2.0.0",
        "A container for server configuration commands",
        "Depends on subcommand.",
    )];

fn text(a: &[u8]) -> String {
    String::from_utf8_lossy(a).into_owned()
}

/// Redis 7 CONFIG GET: several names or glob patterns; an exact name is echoed as typed, patterns
/// match names and aliases (case-insensitively) but never hidden directives.
fn config_get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cfg = ctx.srv.config.read();
    let mut matches: IndexMap<String, &'static Directive> = IndexMap::new();
    for pat in &args[2..] {
        let p = text(pat);
        if !p.contains(['[', '*', '?']) {
            if matches.contains_key(&p) {
                continue;
            }
            if let Some(d) = config::lookup(&p) {
                matches.insert(p, d);
            }
            continue;
        }
        for (name, d) in config::all_names() {
            if d.has(dflag::HIDDEN) || matches.contains_key(name) {
                continue;
            }
            if crate::util::glob_match(pat, name.as_bytes(), true) {
                matches.insert(name.to_string(), d);
            }
        }
    }
    ctx.out.map(matches.len());
    for (k, d) in matches {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(cfg.render(d).as_bytes());
    }
    Ok(())
}

/// Whether a protected directive may be set by this client (`enable-protected-configs`).
fn protected_allowed(cfg: &Config, ctx: &Ctx) -> bool {
    match cfg.enable_protected_configs {
        ProtectedAccess::Yes => true,
        ProtectedAccess::No => false,
        ProtectedAccess::Local => {
            // Loopback TCP or the unix socket (whose address is the socket path).
            let addr = &ctx.client.handle.addr;
            addr.starts_with("127.") || addr.starts_with("[::1]") || addr.starts_with('/')
        }
    }
}

/// The arguments a CONFIG SET value stands for: multi-argument directives split on single spaces
/// (an empty value is no arguments), others take the value whole.
fn set_args(d: &Directive, v: &str) -> Vec<String> {
    if d.has(dflag::MULTI_ARG) {
        if v.is_empty() {
            Vec::new()
        } else {
            v.split(' ').map(str::to_string).collect()
        }
    } else {
        vec![v.to_string()]
    }
}

fn config_set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 == 1 {
        return Err(CmdError::Syntax);
    }
    let mut invalid_arg: Option<String> = None;
    let mut failed: Option<(String, &'static str)> = None;
    let mut chosen: Vec<(&'static Directive, String, String)> = Vec::new();
    {
        let cfg = ctx.srv.config.read();
        for (i, pair) in args[2..].chunks(2).enumerate() {
            let name = text(&pair[0]);
            let Some(d) = config::lookup(&name) else {
                if invalid_arg.is_none() && failed.is_none() {
                    invalid_arg = Some(name);
                }
                continue;
            };
            // Secrets never reach SLOWLOG or MONITOR, even when the command fails.
            if d.has(dflag::SENSITIVE) {
                ctx.client.redact(2 + i * 2 + 1);
            }
            if invalid_arg.is_some() || failed.is_some() {
                continue;
            }
            if d.has(dflag::IMMUTABLE) {
                failed = Some((name, "can't set immutable config"));
                continue;
            }
            if d.has(dflag::PROTECTED) && !protected_allowed(&cfg, ctx) {
                failed = Some((name, "can't set protected config"));
                continue;
            }
            if chosen.iter().any(|(c, _, _)| std::ptr::eq(*c, d)) {
                failed = Some((name, "duplicate parameter"));
                continue;
            }
            // Errors while setting name the directive as the table spells the name given.
            let canonical = if d.name.eq_ignore_ascii_case(&name) {
                d.name.to_string()
            } else {
                d.alias.unwrap_or(d.name).to_string()
            };
            chosen.push((d, canonical, text(&pair[1])));
        }
    }
    if let Some(n) = invalid_arg {
        return Err(CmdError::msg(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{n}'"
        )));
    }
    if let Some((n, why)) = failed {
        return Err(CmdError::msg(format!(
            "ERR CONFIG SET failed (possibly related to argument '{n}') - {why}"
        )));
    }
    let old_cwd = std::env::current_dir().ok();
    let mut new = ctx.srv.config.read().clone();
    for (d, name, v) in &chosen {
        if let Err(e) = new.set_directive(d, &set_args(d, v)) {
            if let Some(dir) = &old_cwd {
                let _ = std::env::set_current_dir(dir);
            }
            return Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
            )));
        }
    }
    new.clamp_hz();
    let old_maxclients = ctx.srv.config.read().maxclients;
    if new.maxclients != old_maxclients {
        // The open-files limit must fit the new maxclients plus Redis's 32 reserved descriptors.
        let limit = crate::server::adjust_open_files_limit(new.maxclients);
        if limit < new.maxclients + 32 {
            return Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with {}",
                limit.saturating_sub(32)
            )));
        }
    }
    let (old_port, old_bind, backlog) = {
        let c = ctx.srv.config.read();
        (c.port, c.bind.clone(), c.tcp_backlog)
    };
    if new.port != old_port || new.bind != old_bind {
        let bind_changed = new.bind != old_bind;
        rebind(ctx, &new, old_port, old_bind, backlog).map_err(|_| {
            let (name, why) = if bind_changed {
                ("bind", "Failed to bind to specified addresses.")
            } else {
                ("port", "Unable to listen on this port. Check server logs.")
            };
            CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        })?;
    }
    for (d, _, _) in &chosen {
        if d.has(dflag::NO_EFFECT) {
            tracing::warn!(
                "CONFIG SET {}: accepted, but ferredis does not act on this directive",
                d.name
            );
        }
    }
    apply_runtime(ctx, &new);
    let maxmemory_set = chosen.iter().any(|(d, _, _)| d.name == "maxmemory");
    *ctx.srv.config.write() = new;
    if maxmemory_set {
        // A new limit applies at once: Redis evicts right away (and warns when it is lower than
        // what is in use).
        apply_maxmemory(ctx);
    }
    ctx.out.ok();
    Ok(())
}

fn apply_maxmemory(ctx: &mut Ctx) {
    let max = ctx.core.ks.evict.maxmemory;
    if max == 0 {
        return;
    }
    let used = crate::alloc::used_memory()
        .saturating_sub(crate::server::mem_not_counted_for_evict(ctx.core));
    if max < used {
        tracing::warn!("WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.");
    }
    crate::server::perform_evictions(ctx.srv, ctx.core);
}

/// Asks the listener task to close the TCP listeners and bind the new `bind`/`port`, and waits for
/// the answer (the old set is restored on failure).
fn rebind(
    ctx: &mut Ctx,
    new: &Config,
    old_port: u16,
    old_bind: Vec<String>,
    backlog: u32,
) -> Result<u16, String> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi = Handle::try_current()
        .map(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if !multi {
        return Err("no runtime to rebind on".into());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    ctx.srv
        .rebind_tx
        .send(crate::server::listen::RebindRequest {
            bind: new.bind.clone(),
            port: new.port,
            old_bind,
            old_port,
            backlog,
            reply: tx,
        })
        .map_err(|_| "listener task gone".to_string())?;
    // The listener task runs on another worker; this one blocks (under the core lock, as Redis
    // blocks its event loop) until it answers.
    tokio::task::block_in_place(|| {
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .map_err(|_| "no answer from the listener task".to_string())?
    })
}

/// Makes a new configuration take effect where the running server keeps its own copy.
fn apply_runtime(ctx: &mut Ctx, new: &Config) {
    ctx.core.ks.thresholds = crate::cmd::server::thresholds(new);
    crate::server::configure_eviction(&mut ctx.core.ks, new);
    ctx.core.ks.notify.set_flags(new.notify_keyspace_events.0);
    ctx.core.slowlog_threshold_us = new.slowlog_log_slower_than;
    ctx.core.slowlog_max_len = new.slowlog_max_len;
    while ctx.core.slowlog.len() > new.slowlog_max_len {
        ctx.core.slowlog.pop_back();
    }
    ctx.core.latency_threshold_ms = new.latency_monitor_threshold;
    ctx.core.repl.min_replicas_to_write = new.min_replicas_to_write.max(0) as usize;
    ctx.core.repl.min_replicas_max_lag = new.min_replicas_max_lag.max(0);
    ctx.core.repl.refresh_good_replicas(crate::util::now_ms());
    crate::log::set_level_name(&new.loglevel);
    ctx.srv.busy_poll.set_max_us(new.busy_poll_us);
}

fn config_rewrite(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let Some(path) = ctx.srv.config_file.clone() else {
        return Err(CmdError::msg(
            "ERR The server is running without a config file",
        ));
    };
    let old = match std::fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(rewrite_error(&e)),
    };
    let new = config::rewrite_text(&old, &ctx.srv.config.read());
    write_atomically(&path, new.as_bytes()).map_err(|e| {
        tracing::warn!("CONFIG REWRITE failed: {}", e);
        rewrite_error(&e)
    })?;
    tracing::info!("CONFIG REWRITE executed with success.");
    ctx.out.ok();
    Ok(())
}

fn rewrite_error(e: &std::io::Error) -> CmdError {
    let msg = e
        .raw_os_error()
        .map(|c| {
            // SAFETY: strerror returns a static NUL-terminated message.
            unsafe { std::ffi::CStr::from_ptr(libc::strerror(c)) }
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| e.to_string());
    CmdError::msg(format!("ERR Rewriting config file: {msg}"))
}

/// Writes a temporary file beside the target, syncs it, and renames it over the target.
fn write_atomically(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_file_name(format!(
        "{}.{}.tmp",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Resets what INFO reports as statistics: command and error counters, keyspace hits/misses/expired,
/// connection and network counters.
fn config_resetstat(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.core.stats = crate::server::CoreStats::default();
    ctx.core.ks.stats = crate::db::KeyspaceStats::default();
    let s = &ctx.srv.stats;
    s.total_connections_received.store(0, Ordering::Relaxed);
    s.rejected_connections.store(0, Ordering::Relaxed);
    s.net_input_bytes.store(0, Ordering::Relaxed);
    s.net_output_bytes.store(0, Ordering::Relaxed);
    s.total_reads_processed.store(0, Ordering::Relaxed);
    s.total_writes_processed.store(0, Ordering::Relaxed);
    s.client_recent_max_input_buffer.store(0, Ordering::Relaxed);
    s.client_recent_max_output_buffer
        .store(0, Ordering::Relaxed);
    ctx.srv.inst_metrics.reset();
    ctx.out.ok();
    Ok(())
}

const HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn config_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.array(HELP.len());
    for l in HELP {
        ctx.out.simple(l);
    }
    Ok(())
}
