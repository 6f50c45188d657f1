//! Connection commands: PING, ECHO, SELECT, QUIT. (HELLO, AUTH, RESET, CLIENT: `client.rs`.)

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::resp::Proto;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, ping)
        .flags(FAST | SENTINEL)
        .acl("@fast @connection")
        .doc("connection", "1.0.0", "Ping the server", "O(1)"),
    CommandSpec::new("echo", 2, echo)
        .flags(LOADING | STALE | FAST)
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

/// PING [message]. A RESP2 client in subscribed mode gets `["pong", message]`, since only
/// pushes may be sent to it then.
fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(super::arity_error("ping"));
    }
    let msg = args.get(1).map(|m| &m[..]);
    if ctx.client.in_pubsub() && ctx.client.proto == Proto::Resp2 {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(msg.unwrap_or(b""));
        return Ok(());
    }
    match msg {
        Some(msg) => ctx.out.bulk(msg),
        None => ctx.out.simple("PONG"),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&args[1]);
    Ok(())
}

/// SELECT index: the index must fit a C int (Redis's `getIntFromObjectOrReply`) and name one of the
/// `databases`.
fn select(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let id = crate::util::parse_i64(&args[1]).ok_or(CmdError::NotInteger)?;
    if id < i32::MIN as i64 || id > i32::MAX as i64 {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
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
