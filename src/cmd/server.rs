//! Server commands: INFO, CONFIG, COMMAND, DEBUG, SLOWLOG, TIME, ...

use bytes::Bytes;

use super::flags::*;
use super::{CmdResult, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("time", 1, time)
    .flags(LOADING | STALE | FAST)
    .acl("@fast")
    .doc("server", "2.6.0", "Return the current server time", "O(1)")];

fn time(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let us = crate::util::now_us();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
    Ok(())
}
