//! REPLICAOF (and its old name SLAVEOF): follow another server as its replica, or stop following
//! (`NO ONE`). The reply comes at once; connecting and synchronising run in the background
//! (`replication::replica`).

use bytes::Bytes;

use super::flags::*;
use super::{arg_i64, CmdError, CmdResult, CommandSpec, Ctx};
use crate::replication::replica;
use crate::server::client::ClientKind;

const SUMMARY: &str = "Make the server a replica of another instance, or promote it as master.";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("replicaof", 3, replicaof)
        .flags(ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING)
        .acl("@admin @slow @dangerous")
        .doc("server", "5.0.0", SUMMARY, "O(1)"),
    CommandSpec::new("slaveof", 3, replicaof)
        .flags(ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING)
        .acl("@admin @slow @dangerous")
        .doc("server", "1.0.0", SUMMARY, "O(1)"),
];

/// The caller as CLIENT LIST shows it, for the log line Redis writes.
fn caller(ctx: &Ctx, args: &[Bytes]) -> String {
    crate::server::client::info_line(&ctx.client.handle, &ctx.client.live_meta(), Some(args))
}

/// REPLICAOF host port | NO ONE.
fn replicaof(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.srv.config.read().cluster_enabled {
        return Err(CmdError::msg("ERR REPLICAOF not allowed in cluster mode."));
    }
    if ctx.core.repl.failover.phase != crate::replication::failover::FailoverPhase::None {
        return Err(CmdError::msg(
            "ERR REPLICAOF not allowed while failing over.",
        ));
    }
    if args[1].eq_ignore_ascii_case(b"no") && args[2].eq_ignore_ascii_case(b"one") {
        if ctx.core.repl.link.is_some() {
            replica::unset_master(ctx.srv, ctx.core);
            tracing::info!(
                "MASTER MODE enabled (user request from '{}')",
                caller(ctx, args)
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    // Following a new master drops our replicas, this client included.
    if ctx.client.kind == ClientKind::Replica {
        return Err(CmdError::msg(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = match arg_i64(&args[2]) {
        Ok(p) if (0..=65535).contains(&p) => p as u16,
        _ => return Err(CmdError::msg("ERR Invalid master port")),
    };
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    if let Some(l) = &ctx.core.repl.link {
        if l.host.eq_ignore_ascii_case(&host) && l.port == port {
            tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            ctx.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    replica::set_master(&ctx.srv.self_arc(), ctx.core, host.clone(), port);
    tracing::info!(
        "REPLICAOF {}:{} enabled (user request from '{}')",
        host,
        port,
        caller(ctx, args)
    );
    ctx.out.ok();
    Ok(())
}
