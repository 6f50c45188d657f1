//! Connection commands: PING, ECHO, SELECT, QUIT, ...

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, ping)
        .flags(FAST | SENTINEL)
        .acl("@fast @connection")
        .doc("connection", "1.0.0", "Ping the server", "O(1)"),
    CommandSpec::new("echo", 2, echo)
        .flags(FAST)
        .acl("@fast @connection")
        .doc("connection", "1.0.0", "Echo the given string", "O(1)"),
    CommandSpec::new("select", 2, select)
        .flags(LOADING | STALE | FAST)
        .acl("@fast @connection")
        .doc(
            "connection",
            "1.0.0",
            "Change the selected database for the current connection",
            "O(1)",
        ),
    CommandSpec::new("quit", -1, quit)
        .flags(ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH)
        .acl("@fast @connection")
        .doc("connection", "1.0.0", "Close the connection", "O(1)"),
];

fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(super::arity_error("ping"));
    }
    match args.get(1) {
        Some(msg) => ctx.out.bulk(msg),
        None => ctx.out.simple("PONG"),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&args[1]);
    Ok(())
}

fn select(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let id = crate::util::parse_i64(&args[1])
        .ok_or(CmdError::msg("ERR value is not an integer or out of range"))?;
    if id < 0 || id as usize >= ctx.core.ks.dbs.len() {
        return Err(CmdError::DbIndex);
    }
    ctx.client.db = id as usize;
    ctx.out.ok();
    Ok(())
}

fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}
