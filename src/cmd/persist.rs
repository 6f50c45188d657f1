//! SAVE and BGSAVE.

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::server::save;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("save", 1, save_cmd)
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Synchronously save the dataset to disk",
            "O(N) where N is the total number of keys in all databases",
        ),
    CommandSpec::new("bgsave", -1, bgsave)
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Asynchronously save the dataset to disk",
            "O(1)",
        ),
];

fn save_cmd(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.srv.save.lock().in_progress() {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    save::save_sync(ctx.srv, ctx.core).map_err(|_| CmdError::msg("ERR"))?;
    ctx.out.ok();
    Ok(())
}

fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // SCHEDULE waits only for other kinds of background work (Redis's AOF rewrite): with a
    // save (or a diskless transfer) running, both forms are refused.
    match args.len() {
        1 => {}
        2 if args[1].eq_ignore_ascii_case(b"schedule") => {}
        _ => return Err(CmdError::Syntax),
    }
    if ctx.srv.save.lock().in_progress() {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    // Inside EXEC (the client is still in MULTI while its queue runs) the save only starts after
    // the transaction, from the cron, as in Redis.
    if ctx.client.multi.is_some() {
        ctx.srv.save.lock().scheduled = true;
        ctx.out.simple("Background saving scheduled");
        return Ok(());
    }
    let srv = ctx.srv.self_arc();
    save::start_bgsave(&srv, ctx.core).map_err(CmdError::msg)?;
    ctx.out.simple("Background saving started");
    Ok(())
}
