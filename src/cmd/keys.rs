//! Keyspace commands (Redis's "generic" group and the keyspace part of "server"): DEL, UNLINK, EXISTS,
//! TYPE, KEYS, SCAN, RANDOMKEY, RENAME, RENAMENX, MOVE, COPY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, the
//! EXPIRE family, TTL family, PERSIST, TOUCH and OBJECT.
//!
//! Lookups follow Redis's flags: EXISTS, TYPE, TTL and OBJECT read without refreshing the LRU clock
//! (`LOOKUP_NOTOUCH`) but count hits and misses; write commands look up without statistics and delete
//! an expired key first. Every change goes through a `Keyspace` method and bumps `dirty` as Redis
//! bumps `server.dirty`.

use bytes::Bytes;

use super::flags::*;
use super::{arg_i64, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::notify::class as nc;
use crate::db::{Value, NO_EXPIRE};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, del)
        .flags(WRITE)
        .keys(1, -1, 1)
        .acl("@keyspace @write @slow")
        .doc(
            "generic",
            "1.0.0",
            "Delete a key",
            "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
        ),
    CommandSpec::new("unlink", -2, unlink)
        .flags(WRITE | FAST)
        .keys(1, -1, 1)
        .acl("@keyspace @write @fast")
        .doc(
            "generic",
            "4.0.0",
            "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
            "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
        ),
    CommandSpec::new("exists", -2, exists)
        .flags(READONLY | FAST)
        .keys(1, -1, 1)
        .acl("@keyspace @read @fast")
        .doc(
            "generic",
            "1.0.0",
            "Determine if a key exists",
            "O(N) where N is the number of keys to check.",
        ),
    CommandSpec::new("type", 2, type_cmd)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @read @fast")
        .doc("generic", "1.0.0", "Determine the type stored at key", "O(1)"),
    CommandSpec::new("keys", 2, keys)
        .flags(READONLY)
        .acl("@keyspace @read @slow @dangerous")
        .doc(
            "generic",
            "1.0.0",
            "Find all keys matching the given pattern",
            "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        ),
    CommandSpec::new("scan", -2, scan)
        .flags(READONLY)
        .acl("@keyspace @read @slow")
        .doc(
            "generic",
            "2.8.0",
            "Incrementally iterate the keys space",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        ),
    CommandSpec::new("randomkey", 1, randomkey)
        .flags(READONLY)
        .acl("@keyspace @read @slow")
        .doc(
            "generic",
            "1.0.0",
            "Return a random key from the keyspace",
            "O(1)",
        ),
    CommandSpec::new("rename", 3, rename)
        .flags(WRITE)
        .keys(1, 2, 1)
        .acl("@keyspace @write @slow")
        .doc("generic", "1.0.0", "Rename a key", "O(1)"),
    CommandSpec::new("renamenx", 3, renamenx)
        .flags(WRITE | FAST)
        .keys(1, 2, 1)
        .acl("@keyspace @write @fast")
        .doc(
            "generic",
            "1.0.0",
            "Rename a key, only if the new key does not exist",
            "O(1)",
        ),
    CommandSpec::new("move", 3, move_cmd)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @write @fast")
        .doc("generic", "1.0.0", "Move a key to another database", "O(1)"),
    CommandSpec::new("copy", -3, copy)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .acl("@keyspace @write @slow")
        .doc(
            "generic",
            "6.2.0",
            "Copy a key",
            "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        ),
    CommandSpec::new("dbsize", 1, dbsize)
        .flags(READONLY | FAST)
        .acl("@keyspace @read @fast")
        .doc(
            "server",
            "1.0.0",
            "Return the number of keys in the selected database",
            "O(1)",
        ),
    CommandSpec::new("flushdb", -1, flushdb)
        .flags(WRITE)
        .acl("@keyspace @write @slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Remove all keys from the current database",
            "O(N) where N is the number of keys in the selected database",
        ),
    CommandSpec::new("flushall", -1, flushall)
        .flags(WRITE)
        .acl("@keyspace @write @slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Remove all keys from all databases",
            "O(N) where N is the total number of keys in all databases",
        ),
    CommandSpec::new("swapdb", 3, swapdb)
        .flags(WRITE | FAST)
        .acl("@keyspace @write @fast @dangerous")
        .doc(
            "server",
            "4.0.0",
            "Swaps two Redis databases",
            "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        ),
    CommandSpec::new("expire", -3, expire)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @write @fast")
        .doc(
            "generic",
            "1.0.0",
            "Set a key's time to live in seconds",
            "O(1)",
        ),
    CommandSpec::new("pexpire", -3, pexpire)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @write @fast")
        .doc(
            "generic",
            "2.6.0",
            "Set a key's time to live in milliseconds",
            "O(1)",
        ),
    CommandSpec::new("expireat", -3, expireat)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @write @fast")
        .doc(
            "generic",
            "1.2.0",
            "Set the expiration for a key as a UNIX timestamp",
            "O(1)",
        ),
    CommandSpec::new("pexpireat", -3, pexpireat)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @write @fast")
        .doc(
            "generic",
            "2.6.0",
            "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
            "O(1)",
        ),
    CommandSpec::new("ttl", 2, ttl)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @read @fast")
        .doc(
            "generic",
            "1.0.0",
            "Get the time to live for a key in seconds",
            "O(1)",
        ),
    CommandSpec::new("pttl", 2, pttl)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @read @fast")
        .doc(
            "generic",
            "2.6.0",
            "Get the time to live for a key in milliseconds",
            "O(1)",
        ),
    CommandSpec::new("expiretime", 2, expiretime)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @read @fast")
        .doc(
            "generic",
            "7.0.0",
            "Get the expiration Unix timestamp for a key",
            "O(1)",
        ),
    CommandSpec::new("pexpiretime", 2, pexpiretime)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @read @fast")
        .doc(
            "generic",
            "7.0.0",
            "Get the expiration Unix timestamp for a key in milliseconds",
            "O(1)",
        ),
    CommandSpec::new("persist", 2, persist)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@keyspace @write @fast")
        .doc(
            "generic",
            "2.2.0",
            "Remove the expiration from a key",
            "O(1)",
        ),
    CommandSpec::new("touch", -2, touch)
        .flags(READONLY | FAST)
        .keys(1, -1, 1)
        .acl("@keyspace @read @fast")
        .doc(
            "generic",
            "3.2.1",
            "Alters the last access time of a key(s). Returns the number of existing keys specified.",
            "O(N) where N is the number of keys that will be touched.",
        ),
    CommandSpec::container("object", OBJECT_SUBCOMMANDS)
        .acl("@slow")
        .doc(
            "generic",
            "2.2.3",
            "A container for object introspection commands",
            "Depends on subcommand.",
        ),
];

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("object|encoding", 3, object_encoding)
        .flags(READONLY)
        .keys(2, 2, 1)
        .acl("@keyspace @read @slow")
        .doc(
            "generic",
            "2.2.3",
            "Inspect the internal encoding of a Redis object",
            "O(1)",
        ),
    CommandSpec::new("object|freq", 3, object_freq)
        .flags(READONLY)
        .keys(2, 2, 1)
        .acl("@keyspace @read @slow")
        .doc(
            "generic",
            "4.0.0",
            "Get the logarithmic access frequency counter of a Redis object",
            "O(1)",
        ),
    CommandSpec::new("object|help", 2, object_help)
        .flags(LOADING | STALE)
        .acl("@keyspace @slow")
        .doc(
            "generic",
            "6.2.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("object|idletime", 3, object_idletime)
        .flags(READONLY)
        .keys(2, 2, 1)
        .acl("@keyspace @read @slow")
        .doc(
            "generic",
            "2.2.3",
            "Get the time since a Redis object was last accessed",
            "O(1)",
        ),
    CommandSpec::new("object|refcount", 3, object_refcount)
        .flags(READONLY)
        .keys(2, 2, 1)
        .acl("@keyspace @read @slow")
        .doc(
            "generic",
            "2.2.3",
            "Get the number of references to the value of the key",
            "O(1)",
        ),
];

/// Writes a HELP reply the way Redis's `addReplyHelp` does: a status line naming the command, the
/// given lines, then the HELP entry, all as simple strings.
pub fn reply_help(ctx: &mut Ctx, command: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Parses a database index as Redis's `getIntFromObjectOrReply` (a 32-bit integer), then checks its
/// range (`ERR DB index is out of range`).
fn arg_db(ctx: &Ctx, a: &[u8]) -> Result<usize, CmdError> {
    let id = arg_i64(a)?;
    if i32::try_from(id).is_err() {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if id < 0 || id as usize >= ctx.core.ks.dbs.len() {
        return Err(CmdError::DbIndex);
    }
    Ok(id as usize)
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = ctx.core.ks.lazy_user_del;
    delete_keys(ctx, args, lazy)
}

/// UNLINK: DEL that frees large values in the background (see `db::lazyfree`).
fn unlink(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    delete_keys(ctx, args, true)
}

fn delete_keys(ctx: &mut Ctx, args: &[Bytes], lazy: bool) -> CmdResult {
    let db = ctx.db();
    let mut n = 0;
    for k in &args[1..] {
        if ctx.core.ks.delete_lazy(db, k, lazy) {
            n += 1;
            ctx.core.ks.dirty += 1;
            ctx.notify(nc::GENERIC, "del", k);
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut n = 0;
    for k in &args[1..] {
        if ctx.core.ks.lookup_read_notouch(db, k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let name = ctx
        .core
        .ks
        .lookup_read_notouch(db, &args[1])
        .map(|e| e.value.type_name())
        .unwrap_or("none");
    ctx.out.simple(name);
    Ok(())
}

fn keys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let pattern = &args[1][..];
    let allkeys = pattern == b"*";
    let now = ctx.core.ks.now_ms;
    let mark = ctx.out.begin_deferred();
    let mut n = 0;
    // Like Redis, KEYS skips logically expired keys without deleting them.
    for (k, e) in ctx.core.ks.dbs[db].table.iter() {
        if (allkeys || crate::util::glob_match(pattern, k, false))
            && (e.expire == NO_EXPIRE || e.expire > now)
        {
            ctx.out.bulk(k);
            n += 1;
        }
    }
    ctx.out.end_deferred(mark, b'*', n);
    Ok(())
}

/// SCAN cursors are positions in the table's 64-bit hash space scaled down by this many bits, so
/// that every cursor fits in 53 bits: clients that keep cursors as IEEE doubles (JavaScript) or
/// signed 64-bit integers round-trip them exactly. Resuming at the rounded-down position can only
/// return again a key whose hash lies within 2^11 of the boundary, which SCAN's contract allows.
const CURSOR_SHIFT: u32 = 11;

fn scan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = super::collscan::parse_cursor(&args[1])?;
    let opts = super::collscan::parse_options(args, 2, true)?;
    let (count, pattern, type_filter) = (opts.count, opts.pattern, opts.type_filter);
    let db = ctx.db();
    let start = if cursor >> (64 - CURSOR_SHIFT) != 0 {
        u64::MAX
    } else {
        cursor << CURSOR_SHIFT
    };
    let mut found: Vec<Bytes> = Vec::new();
    let next = ctx.core.ks.dbs[db]
        .table
        .scan(start, count, |k, _| found.push(Bytes::copy_from_slice(k)));
    let next_cursor = if next == 0 {
        0
    } else {
        (next >> CURSOR_SHIFT).max(1)
    };
    let mut keep = Vec::with_capacity(found.len());
    for k in found {
        if let Some(p) = pattern {
            if !crate::util::glob_match(p, &k, false) {
                continue;
            }
        }
        if let Some(t) = type_filter {
            // Redis looks the key up here (counting a hit or miss); an expired key is "none".
            let name = ctx
                .core
                .ks
                .lookup_read_notouch(db, &k)
                .map(|e| e.value.type_name())
                .unwrap_or("none");
            if !name.as_bytes().eq_ignore_ascii_case(t) {
                continue;
            }
        }
        if !ctx.core.ks.exists(db, &k) {
            continue;
        }
        keep.push(k);
    }
    ctx.out.array(2);
    ctx.out
        .bulk(itoa::Buffer::new().format(next_cursor).as_bytes());
    ctx.out.array(keep.len());
    for k in &keep {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    match ctx.core.ks.random_key(db) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> CmdResult {
    let db = ctx.db();
    let (src, dst) = (&args[1], &args[2]);
    if ctx.core.ks.lookup_write_peek(db, src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if ctx.core.ks.lookup_write_peek(db, dst).is_some() && nx {
        ctx.out.int(0);
        return Ok(());
    }
    // The old destination goes first, so the renamed key is added anew (`new`), as in Redis.
    ctx.core.ks.remove_replaced(db, dst);
    ctx.core.ks.rename(db, src, Bytes::copy_from_slice(dst));
    ctx.core.ks.dirty += 1;
    ctx.notify(nc::GENERIC, "rename_from", src);
    ctx.notify(nc::GENERIC, "rename_to", dst);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, true)
}

fn move_cmd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let src = ctx.db();
    let dst = arg_db(ctx, &args[2])?;
    if src == dst {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    let key = &args[1];
    if ctx.core.ks.lookup_write_peek(src, key).is_none()
        || ctx.core.ks.lookup_write_peek(dst, key).is_some()
    {
        ctx.out.int(0);
        return Ok(());
    }
    ctx.core.ks.move_key(src, dst, key);
    ctx.core.ks.dirty += 1;
    ctx.notify_db(nc::GENERIC, "move_from", src, key);
    ctx.notify_db(nc::GENERIC, "move_to", dst, key);
    ctx.out.int(1);
    Ok(())
}

fn copy(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j][..];
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"db") && j + 1 < args.len() {
            dst_db = arg_db(ctx, &args[j + 1])?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let (key, newkey) = (&args[1], &args[2]);
    if src_db == dst_db && key == newkey {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    // Collections are behind Arc: the copy shares them until either side is written (copy on write).
    let Some((value, expire)) = ctx
        .core
        .ks
        .lookup_read(src_db, key)
        .map(|e| (e.value.clone(), e.expire))
    else {
        ctx.out.int(0);
        return Ok(());
    };
    if ctx.core.ks.lookup_write_peek(dst_db, newkey).is_some() && !replace {
        ctx.out.int(0);
        return Ok(());
    }
    // A replaced destination is deleted first and the copy added anew (`new`), as in Redis.
    ctx.core.ks.remove_replaced(dst_db, newkey);
    ctx.core
        .ks
        .set(dst_db, Bytes::copy_from_slice(newkey), value, expire);
    ctx.core.ks.dirty += 1;
    ctx.notify_db(nc::GENERIC, "copy_to", dst_db, newkey);
    ctx.out.int(1);
    Ok(())
}

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    ctx.out.int(ctx.core.ks.dbs[db].len() as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL take an optional ASYNC or SYNC; without one, `lazyfree-lazy-user-flush`
/// decides. Returns whether to flush in the background (the emptied tables are freed on the
/// lazy-free thread).
fn flush_async(ctx: &Ctx, args: &[Bytes]) -> Result<bool, CmdError> {
    match args.len() {
        1 => Ok(ctx.srv.config.read().lazyfree_lazy_user_flush),
        2 if args[1].eq_ignore_ascii_case(b"sync") => Ok(false),
        2 if args[1].eq_ignore_ascii_case(b"async") => Ok(true),
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_async(ctx, args)?;
    let db = ctx.db();
    let n = ctx.core.ks.flush_db_lazy(db, lazy);
    ctx.core.ks.dirty += n as u64;
    // Propagated even when the database was already empty, as Redis does.
    ctx.core.prop.force();
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_async(ctx, args)?;
    // A running BGSAVE would write the dataset just removed: it is stopped first, as Redis kills
    // its child (and before the flush, which would otherwise hand it every key as a pre-image).
    crate::server::save::abort_bgsave(ctx.srv, ctx.core);
    // Redis counts the removed keys; with save points configured it also saves the empty dataset
    // right away (which resets the counter).
    let n = ctx.core.ks.flush_all_lazy(lazy);
    ctx.core.ks.dirty += n as u64;
    crate::server::save::save_after_flushall(ctx.srv, ctx.core);
    // Propagated even when the databases were already empty, as Redis does.
    ctx.core.prop.force();
    ctx.out.ok();
    Ok(())
}

fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let parse = |a: &[u8], msg: &'static str| {
        crate::util::parse_i64(a)
            .filter(|v| i32::try_from(*v).is_ok())
            .ok_or(CmdError::msg(msg))
    };
    let a = parse(&args[1], "ERR invalid first DB index")?;
    let b = parse(&args[2], "ERR invalid second DB index")?;
    let n = ctx.core.ks.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(CmdError::DbIndex);
    }
    ctx.core.ks.swap_dbs(a as usize, b as usize);
    ctx.core.ks.dirty += 1;
    ctx.out.ok();
    Ok(())
}

/// The NX/XX/GT/LT options of the EXPIRE family.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(args: &[Bytes]) -> Result<ExpireFlags, CmdError> {
    let mut f = ExpireFlags::default();
    for a in &args[3..] {
        if a.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if a.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if a.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CmdError::msg(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(CmdError::msg(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `relative` adds the current time, `seconds` scales by 1000.
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], relative: bool, seconds: bool) -> CmdResult {
    let f = parse_expire_flags(args)?;
    let mut when = arg_i64(&args[2])?;
    let overflow = || {
        CmdError::msg(format!(
            "ERR invalid expire time in '{}' command",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        ))
    };
    if seconds {
        when = when.checked_mul(1000).ok_or_else(overflow)?;
    }
    if relative {
        when = when.checked_add(ctx.core.ks.now_ms).ok_or_else(overflow)?;
    }
    let db = ctx.db();
    let key = &args[1];
    let Some(current) = ctx.core.ks.lookup_write_peek(db, key).map(|e| e.expire) else {
        ctx.out.int(0);
        return Ok(());
    };
    let refused = (f.nx && current != NO_EXPIRE)
        || (f.xx && current == NO_EXPIRE)
        || (f.gt && (current == NO_EXPIRE || when <= current))
        || (f.lt && current != NO_EXPIRE && when >= current);
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= crate::util::now_ms() && !ctx.core.ks.is_replica {
        // A time in the past deletes the key: propagated as DEL (UNLINK with lazyfree-lazy-expire).
        ctx.core.ks.remove_entry(db, key);
        ctx.notify(nc::GENERIC, "del", key);
        let del = crate::db::del_or_unlink(ctx.core.ks.lazy_expire);
        ctx.core
            .prop
            .replace_with(|| vec![del, Bytes::copy_from_slice(key)]);
    } else {
        ctx.core.ks.set_expire(db, key, when);
        ctx.notify_after_reply(nc::GENERIC, "expire", key);
        // Propagated as PEXPIREAT with the absolute time; the NX/XX/GT/LT flags stay.
        ctx.core.prop.replace_with(|| {
            let mut n = itoa::Buffer::new();
            let mut argv =
                crate::replication::argv(&[b"PEXPIREAT", key, n.format(when).as_bytes()]);
            argv.extend(args[3..].iter().map(|a| Bytes::copy_from_slice(a)));
            argv
        });
    }
    ctx.core.ks.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, true, true)
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, true, false)
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, false, true)
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, false, false)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without expiry.
fn ttl_generic(ctx: &mut Ctx, args: &[Bytes], ms: bool, absolute: bool) -> CmdResult {
    let db = ctx.db();
    let Some(expire) = ctx
        .core
        .ks
        .lookup_read_notouch(db, &args[1])
        .map(|e| e.expire)
    else {
        ctx.out.int(-2);
        return Ok(());
    };
    if expire == NO_EXPIRE {
        ctx.out.int(-1);
        return Ok(());
    }
    let t = if absolute {
        expire
    } else {
        expire.saturating_sub(crate::util::now_ms())
    }
    .max(0);
    ctx.out
        .int(if ms { t } else { t.saturating_add(500) / 1000 });
    Ok(())
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let has_expire = ctx
        .core
        .ks
        .lookup_write_peek(db, &args[1])
        .is_some_and(|e| e.expire != NO_EXPIRE);
    if has_expire {
        ctx.core.ks.set_expire(db, &args[1], NO_EXPIRE);
        ctx.core.ks.dirty += 1;
        ctx.notify(nc::GENERIC, "persist", &args[1]);
    }
    ctx.out.int(has_expire as i64);
    Ok(())
}

fn touch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut n = 0;
    for k in &args[1..] {
        if ctx.core.ks.lookup_read(db, k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// Whether the eviction policy is an LFU one (`maxmemory-policy allkeys-lfu|volatile-lfu`): then
/// Redis tracks access frequency instead of idle time, and OBJECT IDLETIME refuses.
fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.srv.config.read().maxmemory_policy.ends_with("-lfu")
}

/// Redis shares the objects of the integers 0..9999, whose refcount is INT_MAX, unless a maxmemory
/// limit with an LRU or LFU policy is set (those need a clock per object). `shared_integers` says
/// which case applies (Redis decides when the value is stored; ferredis answers for the current
/// configuration).
pub fn refcount(v: &Value, shared_integers: bool) -> i64 {
    match v {
        Value::Int(i) if shared_integers && (0..10_000).contains(i) => i32::MAX as i64,
        _ => 1,
    }
}

/// Whether Redis would store small integers as shared objects under the current configuration.
pub fn shared_integers(ctx: &Ctx) -> bool {
    let c = ctx.srv.config.read();
    c.maxmemory == 0
        || !(c.maxmemory_policy.ends_with("-lru") || c.maxmemory_policy.ends_with("-lfu"))
}

/// Seconds since the entry was last accessed, on Redis's 24-bit LRU clock (wrapping like Redis's).
pub fn idle_seconds(lru_now: u32, lru: u32) -> u64 {
    const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
    if lru_now >= lru {
        (lru_now - lru) as u64
    } else {
        (lru_now as u64) + LRU_CLOCK_MAX.saturating_sub(lru) as u64
    }
}

/// OBJECT's lookup: no LRU refresh, statistics counted; a missing key replies null.
fn object_lookup<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a crate::db::Entry> {
    let db = ctx.db();
    ctx.core.ks.lookup_read_nonotify(db, key)
}

fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match object_lookup(ctx, &args[2]).map(|e| e.value.encoding()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let shared = shared_integers(ctx);
    match object_lookup(ctx, &args[2]).map(|e| refcount(&e.value, shared)) {
        Some(n) => ctx.out.int(n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(lru) = object_lookup(ctx, &args[2]).map(|e| e.lru) else {
        ctx.out.null();
        return Ok(());
    };
    if lfu_policy(ctx) {
        return Err(CmdError::msg("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let idle = idle_seconds(ctx.core.ks.lru_now, lru);
    ctx.out.int(idle as i64);
    Ok(())
}

fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(field) = object_lookup(ctx, &args[2]).map(|e| e.lru) else {
        ctx.out.null();
        return Ok(());
    };
    if !lfu_policy(ctx) {
        return Err(CmdError::msg("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    // The counter with the decay owed since the last access (the lookup itself does not touch).
    let ks = &ctx.core.ks;
    let freq = crate::db::evict::lfu_decr_and_return(field, ks.now_ms, ks.evict.lfu_decay_time);
    ctx.out.int(freq as i64);
    Ok(())
}

fn object_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    reply_help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_wraps_like_redis() {
        assert_eq!(idle_seconds(100, 40), 60);
        assert_eq!(idle_seconds(5, (1 << 24) - 10), 5 + 9);
    }

    #[test]
    fn shared_integers_have_max_refcount() {
        assert_eq!(refcount(&Value::Int(0), true), 2147483647);
        assert_eq!(refcount(&Value::Int(9999), true), 2147483647);
        assert_eq!(refcount(&Value::Int(9999), false), 1);
        assert_eq!(refcount(&Value::Int(10000), true), 1);
        assert_eq!(refcount(&Value::Int(-1), true), 1);
        assert_eq!(
            refcount(&Value::Str(Bytes::from_static(b"x").into()), true),
            1
        );
    }

    #[test]
    fn collection_encodings_follow_redis_7_0_defaults() {
        use crate::db::value::ZSet;
        use std::sync::Arc;
        let b = |s: String| Bytes::from(s);
        let hash = |n: usize, vlen: usize| {
            Value::Hash(Arc::new(
                (0..n)
                    .map(|i| (b(format!("f{i}")), b("v".repeat(vlen))))
                    .collect(),
            ))
        };
        // Checked with OBJECT ENCODING on redis-server 7.0.15 (hash-max-listpack-entries is 512).
        assert_eq!(hash(300, 1).encoding(), "listpack");
        assert_eq!(hash(512, 1).encoding(), "listpack");
        assert_eq!(hash(513, 1).encoding(), "hashtable");
        assert_eq!(hash(1, 64).encoding(), "listpack");
        assert_eq!(hash(1, 65).encoding(), "hashtable");
        let set = |n: usize, p: &str| {
            Value::Set(Arc::new((0..n).map(|i| b(format!("{p}{i}"))).collect()))
        };
        assert_eq!(set(512, "").encoding(), "intset");
        assert_eq!(set(513, "").encoding(), "hashtable");
        assert_eq!(set(3, "m").encoding(), "hashtable");
        let zset = |n: usize| {
            let mut z = ZSet::default();
            for i in 0..n {
                z.insert(format!("m{i}").as_bytes(), i as f64);
            }
            z.choose_encoding(&Default::default());
            Value::ZSet(Arc::new(z))
        };
        assert_eq!(zset(128).encoding(), "listpack");
        assert_eq!(zset(129).encoding(), "skiplist");
        assert_eq!(
            Value::List(Arc::new(std::collections::VecDeque::new())).encoding(),
            "quicklist"
        );
    }
}
