//! String commands: GET, SET, ...

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::{Value, NO_EXPIRE};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, get)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @string @fast")
        .doc("string", "1.0.0", "Get the value of a key", "O(1)"),
    CommandSpec::new("set", -3, set)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @string @slow")
        .doc("string", "1.0.0", "Set the string value of a key", "O(1)"),
];

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    match ctx.core.ks.lookup_read(db, &args[1]).map(|e| &e.value) {
        None => ctx.out.null(),
        Some(Value::Int(i)) => ctx.out.bulk_int(*i),
        Some(Value::Str(b) | Value::Raw(b)) => ctx.out.bulk(b),
        Some(_) => return Err(CmdError::WrongType),
    }
    Ok(())
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() != 3 {
        return Err(CmdError::Syntax);
    }
    let db = ctx.db();
    let key = Bytes::copy_from_slice(&args[1]);
    let val = Value::string(Bytes::copy_from_slice(&args[2]));
    ctx.core.ks.set(db, key, val, NO_EXPIRE);
    ctx.core.ks.dirty += 1;
    ctx.out.ok();
    Ok(())
}
