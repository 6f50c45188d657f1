//! Replication commands: ROLE, and the master side's PSYNC, SYNC and REPLCONF.

use bytes::Bytes;

use super::flags::*;
use super::{CmdResult, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("role", 1, role)
    .flags(NOSCRIPT | LOADING | STALE | FAST)
    .acl("@admin @fast @dangerous")
    .doc(
        "server",
        "2.8.12",
        "Return the role of the instance in the context of replication",
        "O(1)",
    )];

/// ROLE: the replication role, offset and peers.
fn role(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.core.repl.role(&mut ctx.out);
    Ok(())
}
