//! Replication commands: ROLE, and the master side's PSYNC, SYNC and REPLCONF (the work is in
//! `replication::master`).

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::replication::master;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("role", 1, role)
        .flags(NOSCRIPT | LOADING | STALE | FAST)
        .acl("@admin @fast @dangerous")
        .doc(
            "server",
            "2.8.12",
            "Return the role of the instance in the context of replication",
            "O(1)",
        ),
    CommandSpec::new("psync", -3, sync)
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "2.8.0",
            "Internal command used for replication",
            "",
        ),
    CommandSpec::new("sync", 1, sync)
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Internal command used for replication",
            "",
        ),
    CommandSpec::new("wait", 3, wait)
        .flags(NOSCRIPT)
        .acl("@slow @connection")
        .doc(
            "generic",
            "3.0.0",
            "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
            "O(1)",
        ),
    CommandSpec::new("failover", -1, failover)
        .flags(ADMIN | NOSCRIPT | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "6.2.0",
            "Start a coordinated failover between this server and one of its replicas.",
            "O(1)",
        ),
    CommandSpec::new("replconf", -1, replconf)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "3.0.0",
            "An internal command for configuring the replication stream",
            "O(1)",
        ),
];

/// ROLE: the replication role, offset and peers.
fn role(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.core.repl.role(&mut ctx.out);
    Ok(())
}

/// PSYNC replid offset / SYNC: the connection becomes a replica.
fn sync(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match master::sync_command(ctx.srv, ctx.core, ctx.client, args, &mut ctx.out) {
        Ok(()) => Ok(()),
        Err(master::SyncError::Ignore) => Ok(()),
        Err(master::SyncError::Reply(e)) => Err(CmdError::msg(e)),
    }
}

/// REPLCONF <option> <value> ...: what a replica tells its master before (and after) PSYNC.
fn replconf(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut conf = ctx.client.repl_conf.clone();
    for pair in args[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("listening-port") {
            conf.listening_port = super::arg_i64(val)?;
        } else if is("ip-address") {
            // Redis's NET_HOST_STR_LEN: 256 bytes with the terminator.
            if val.len() >= 256 {
                return Err(CmdError::msg(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                )));
            }
            conf.ip_address = Some(String::from_utf8_lossy(val).into_owned());
        } else if is("capa") {
            // Capabilities we do not know are ignored, as Redis does.
            if val.eq_ignore_ascii_case(b"eof") {
                conf.capa_eof = true;
            } else if val.eq_ignore_ascii_case(b"psync2") {
                conf.capa_psync2 = true;
            } else if val.eq_ignore_ascii_case(b"ferredis-mux") {
                conf.capa_mux = true;
            }
        } else if is("ack") {
            // From an attached replica only; never answered.
            if ctx.client.kind == crate::server::client::ClientKind::Replica {
                if let Some(off) = crate::util::parse_i64(val) {
                    master::ack(ctx.core, ctx.client.id, off);
                }
            }
            ctx.client.repl_conf = conf;
            return Ok(());
        } else if is("getack") {
            // Only a master asks for an ACK; the replica side answers it on its link.
            ctx.client.repl_conf = conf;
            return Ok(());
        } else if is("rdb-only") {
            let v = super::arg_i64(val)?;
            if !(0..=1).contains(&v) {
                return Err(CmdError::msg(
                    "ERR value is out of range, value must between 0 and 1",
                ));
            }
            conf.rdb_only = v == 1;
        } else if is("rdb-filter-only") {
            let Some(filters) = crate::resp::request::split_args(val) else {
                return Err(CmdError::msg("ERR Missing rdb-filter-only values"));
            };
            // Everything is left out but what the filters name.
            conf.req = master::REQ_EXCLUDE_DATA | master::REQ_EXCLUDE_FUNCTIONS;
            for f in &filters {
                if f.eq_ignore_ascii_case(b"functions") {
                    conf.req &= !master::REQ_EXCLUDE_FUNCTIONS;
                } else {
                    return Err(CmdError::msg(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(f)
                    )));
                }
            }
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        ctx.client.repl_conf = conf.clone();
    }
    ctx.client.repl_conf = conf;
    ctx.out.ok();
    Ok(())
}

/// The error of WAIT on a replica.
pub const WAIT_REPLICA_ERR: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";

/// WAIT numreplicas timeout: blocks until `numreplicas` replicas acknowledged this client's last
/// write, or `timeout` ms passed (0: forever); replies with how many did.
fn wait(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.core.repl.link.is_some() {
        return Err(CmdError::msg(WAIT_REPLICA_ERR));
    }
    let numreplicas = super::arg_i64(&args[1])?;
    let timeout = crate::util::parse_i64(&args[2])
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    let offset = ctx.client.woff;
    let acked = ctx.core.repl.count_acks(offset);
    // Inside a transaction nothing may block: the count is the answer.
    if acked as i64 >= numreplicas || ctx.client.multi.is_some() {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    let core = &mut *ctx.core;
    let waiter = core.blocking.block(
        &mut core.ks.blocking,
        ctx.client,
        ctx.client.db,
        Vec::new(),
        crate::replication::failover::wait_op(offset, numreplicas),
        (timeout > 0).then_some(timeout as u64),
    );
    ctx.client.blocked = Some(waiter);
    ctx.client.publish_blocked(ctx.client.last_cmd, args);
    core.repl.master.get_ack_pending = true;
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: hand the master role to a replica.
fn failover(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    crate::replication::failover::command(ctx.srv, ctx.core, args).map_err(CmdError::msg)?;
    ctx.out.ok();
    Ok(())
}
