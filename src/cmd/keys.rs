//! Keyspace commands: DEL, EXISTS, DBSIZE, ...

use bytes::Bytes;

use super::flags::*;
use super::{CmdResult, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, del)
        .flags(WRITE)
        .keys(1, -1, 1)
        .acl("@keyspace @write @slow")
        .doc("generic", "1.0.0", "Delete a key", "O(N)"),
    CommandSpec::new("exists", -2, exists)
        .flags(READONLY | FAST)
        .keys(1, -1, 1)
        .acl("@keyspace @read @fast")
        .doc("generic", "1.0.0", "Determine if a key exists", "O(N)"),
    CommandSpec::new("dbsize", 1, dbsize)
        .flags(READONLY | FAST)
        .acl("@keyspace @read @fast")
        .doc(
            "server",
            "1.0.0",
            "Return the number of keys in the selected database",
            "O(1)",
        ),
];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut n = 0;
    for k in &args[1..] {
        if ctx.core.ks.delete(db, k) {
            n += 1;
            ctx.core.ks.dirty += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let n = args[1..]
        .iter()
        .filter(|k| ctx.core.ks.lookup_read(db, k).is_some())
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    ctx.out.int(ctx.core.ks.dbs[db].len() as i64);
    Ok(())
}
