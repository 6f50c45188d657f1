//! The set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE,
//! SINTER/SUNION/SDIFF with their STORE forms, SINTERCARD and SSCAN.
//!
//! A set is a [`SetValue`]: the members, and whether Redis would hold it as an intset. The flag is
//! visible in two ways, and both must match Redis:
//! - OBJECT ENCODING: a set is an intset while every member is an integer and it has at most
//!   `set-max-intset-entries` members; once either limit is crossed it stays a hashtable for good.
//!   The store commands build their result as a fresh set, so its encoding follows the result.
//! - Reply order: Redis walks an intset in ascending integer order, so everything it replies by
//!   walking one (SMEMBERS, SINTER's smallest set, SUNION/SDIFF's result, SSCAN) comes sorted. A
//!   hashtable's order is undefined, and ferredis's differs from Redis's.
//!
//! Writes look their key up without statistics first and take it for writing only once they will
//! change it, so a no-op (SADD of present members, SREM of absent ones) leaves the write version
//! alone. `ks.dirty` grows as Redis's `server.dirty` does: by members added or removed, by one per
//! stored destination.
//!
//! Replication: SPOP is not deterministic; its marked points (`propagate:` comments) say the form
//! Redis propagates (SREM per popped member, or DEL when the whole set is popped).

use std::sync::Arc;

use bytes::Bytes;
use rand::Rng;

use super::flags::*;
use super::{arg_i64, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::notify::class as nc;
use crate::db::value::{SetValue, Thresholds};
use crate::db::{Keyspace, Value, NO_EXPIRE};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, sadd)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @set @fast")
        .doc(
            "set",
            "1.0.0",
            "Add one or more members to a set",
            "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        ),
    CommandSpec::new("srem", -3, srem)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @set @fast")
        .doc(
            "set",
            "1.0.0",
            "Remove one or more members from a set",
            "O(N) where N is the number of members to be removed.",
        ),
    CommandSpec::new("smembers", 2, smembers)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Get all the members in a set",
            "O(N) where N is the set cardinality.",
        ),
    CommandSpec::new("sismember", 3, sismember)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @set @fast")
        .doc(
            "set",
            "1.0.0",
            "Determine if a given value is a member of a set",
            "O(1)",
        ),
    CommandSpec::new("smismember", -3, smismember)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @set @fast")
        .doc(
            "set",
            "6.2.0",
            "Returns the membership associated with the given elements for a set",
            "O(N) where N is the number of elements being checked for membership",
        ),
    CommandSpec::new("scard", 2, scard)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @set @fast")
        .doc("set", "1.0.0", "Get the number of members in a set", "O(1)"),
    CommandSpec::new("spop", -2, spop)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @set @fast")
        .doc(
            "set",
            "1.0.0",
            "Remove and return one or multiple random members from a set",
            "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        ),
    CommandSpec::new("srandmember", -2, srandmember)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Get one or multiple random members from a set",
            "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        ),
    CommandSpec::new("smove", 4, smove)
        .flags(WRITE | FAST)
        .keys(1, 2, 1)
        .acl("@write @set @fast")
        .doc(
            "set",
            "1.0.0",
            "Move a member from one set to another",
            "O(1)",
        ),
    CommandSpec::new("sinter", -2, sinter)
        .flags(READONLY)
        .keys(1, -1, 1)
        .acl("@read @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Intersect multiple sets",
            "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        ),
    CommandSpec::new("sunion", -2, sunion)
        .flags(READONLY)
        .keys(1, -1, 1)
        .acl("@read @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Add multiple sets",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sdiff", -2, sdiff)
        .flags(READONLY)
        .keys(1, -1, 1)
        .acl("@read @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Subtract multiple sets",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sinterstore", -3, sinterstore)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 1)
        .acl("@write @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Intersect multiple sets and store the resulting set in a key",
            "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        ),
    CommandSpec::new("sunionstore", -3, sunionstore)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 1)
        .acl("@write @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Add multiple sets and store the resulting set in a key",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sdiffstore", -3, sdiffstore)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 1)
        .acl("@write @set @slow")
        .doc(
            "set",
            "1.0.0",
            "Subtract multiple sets and store the resulting set in a key",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sintercard", -3, sintercard)
        .flags(READONLY | MOVABLE_KEYS)
        .keys(0, 0, 0)
        .acl("@read @set @slow")
        .doc(
            "set",
            "7.0.0",
            "Intersect multiple sets and return the cardinality of the result",
            "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        ),
    CommandSpec::new("sscan", -3, sscan)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @set @slow")
        .doc(
            "set",
            "2.8.0",
            "Incrementally iterate Set elements",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
        ),
];

type Members = indexmap::IndexSet<Bytes, crate::db::value::FastState>;

fn is_int(m: &[u8]) -> bool {
    crate::util::parse_i64(m).is_some()
}

/// Whether Redis would hold a set built by adding these members one by one as an intset.
fn fits_intset(members: &Members, th: &Thresholds) -> bool {
    members.len() <= th.set_max_intset_entries && members.iter().all(|m| is_int(m))
}

/// The members in the order Redis walks a set of this encoding: ascending integers for an intset,
/// the hash table's order otherwise.
fn walk_order(members: &Members, intset: bool) -> Vec<&Bytes> {
    let mut v: Vec<&Bytes> = members.iter().collect();
    if intset {
        v.sort_by_key(|m| crate::util::parse_i64(m).unwrap_or(0));
    }
    v
}

/// Looks a set up for reading (hits/misses counted): None when missing, WRONGTYPE for other types.
/// The value is shared (a refcount), so several keys can be held at once.
fn read_set(ks: &mut Keyspace, db: usize, key: &[u8]) -> Result<Option<Arc<SetValue>>, CmdError> {
    match ks.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Set(s) => Ok(Some(s.clone())),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The set under `key` as a write command first sees it (expired keys deleted, no statistics, no
/// version bump): None when missing, WRONGTYPE for other types.
fn peek_set<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a SetValue>, CmdError> {
    match ks.lookup_write_peek(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The set under `key`, taken for writing (version bumped, copied if a snapshot still holds it).
/// Call only after [`peek_set`] found a set and the command will change it.
fn write_set<'a>(ks: &'a mut Keyspace, db: usize, key: &[u8]) -> Option<&'a mut SetValue> {
    match &mut ks.lookup_write(db, key)?.value {
        Value::Set(s) => Some(Arc::make_mut(s)),
        _ => None,
    }
}

/// Deletes `key` if its set became empty (Redis never keeps an empty collection).
fn delete_if_empty(ks: &mut Keyspace, db: usize, key: &[u8]) {
    let empty = matches!(ks.lookup_write_peek(db, key), Some(e) if matches!(&e.value, Value::Set(s) if s.is_empty()));
    if empty {
        ks.remove_entry(db, key);
    }
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let th = ctx.core.ks.thresholds;
    let key = &args[1];
    let members = &args[2..];
    let added = match peek_set(&mut ctx.core.ks, db, key)? {
        None => {
            let mut s = SetValue::new_for(&members[0], &th);
            let mut added = 0;
            for m in members {
                if s.insert(Bytes::copy_from_slice(m)) {
                    added += 1;
                    s.note_insert(m, &th);
                }
            }
            ctx.core.ks.set(
                db,
                Bytes::copy_from_slice(key),
                Value::Set(Arc::new(s)),
                NO_EXPIRE,
            );
            added
        }
        Some(s) if members.iter().all(|m| s.contains(&m[..])) => 0,
        Some(_) => {
            let mut added = 0;
            if let Some(s) = write_set(&mut ctx.core.ks, db, key) {
                for m in members {
                    if !s.contains(&m[..]) {
                        s.insert(Bytes::copy_from_slice(m));
                        added += 1;
                        s.note_insert(m, &th);
                    }
                }
            }
            added
        }
    };
    ctx.core.ks.dirty += added;
    if added > 0 {
        ctx.notify(nc::SET, "sadd", key);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let key = &args[1];
    let members = &args[2..];
    let any = match peek_set(&mut ctx.core.ks, db, key)? {
        None => false,
        Some(s) => members.iter().any(|m| s.contains(&m[..])),
    };
    let mut deleted = 0u64;
    if any {
        if let Some(s) = write_set(&mut ctx.core.ks, db, key) {
            for m in members {
                if s.remove_member(&m[..]) {
                    deleted += 1;
                    if s.is_empty() {
                        break;
                    }
                }
            }
        }
        delete_if_empty(&mut ctx.core.ks, db, key);
    }
    ctx.core.ks.dirty += deleted;
    if deleted > 0 {
        ctx.notify(nc::SET, "srem", key);
        ctx.core.ks.notify_del_if_gone(db, key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let th = ctx.core.ks.thresholds;
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let ks = &mut ctx.core.ks;
    // Both keys are looked up (and expired) before any check, as Redis does.
    let src_state = match ks.lookup_write_peek(db, src) {
        None => None,
        Some(e) => match &e.value {
            Value::Set(s) => Some(Ok(s.contains(&member[..]))),
            _ => Some(Err(CmdError::WrongType)),
        },
    };
    let dst_state = match ks.lookup_write_peek(db, dst) {
        None => None,
        Some(e) => match &e.value {
            Value::Set(s) => Some(Ok(s.contains(&member[..]))),
            _ => Some(Err(CmdError::WrongType)),
        },
    };
    let Some(src_has) = src_state else {
        ctx.out.int(0);
        return Ok(());
    };
    let src_has = src_has?;
    let dst_has = dst_state.transpose()?;
    if src == dst {
        ctx.out.int(src_has as i64);
        return Ok(());
    }
    if !src_has {
        ctx.out.int(0);
        return Ok(());
    }
    if let Some(s) = write_set(ks, db, src) {
        s.remove_member(&member[..]);
    }
    delete_if_empty(ks, db, src);
    ks.dirty += 1;
    ks.notify(nc::SET, "srem", db, src);
    ks.notify_del_if_gone(db, src);
    match dst_has {
        None => {
            let mut s = SetValue::new_for(member, &th);
            s.insert(Bytes::copy_from_slice(member));
            s.note_insert(member, &th);
            ks.set(
                db,
                Bytes::copy_from_slice(dst),
                Value::Set(Arc::new(s)),
                NO_EXPIRE,
            );
            ks.dirty += 1;
        }
        Some(false) => {
            if let Some(s) = write_set(ks, db, dst) {
                s.insert(Bytes::copy_from_slice(member));
                s.note_insert(member, &th);
            }
            ks.dirty += 1;
        }
        Some(true) => {}
    }
    if dst_has != Some(true) {
        ks.notify(nc::SET, "sadd", db, dst);
    }
    ctx.out.int(1);
    Ok(())
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let found = match read_set(&mut ctx.core.ks, db, &args[1])? {
        Some(s) => s.contains(&args[2][..]),
        None => false,
    };
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let set = read_set(&mut ctx.core.ks, db, &args[1])?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        let found = set.as_ref().is_some_and(|s| s.contains(&m[..]));
        ctx.out.int(found as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let n = read_set(&mut ctx.core.ks, db, &args[1])?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// `count` distinct random positions out of `size`, in random order.
fn sample_positions(size: usize, count: usize) -> Vec<usize> {
    rand::seq::index::sample(&mut rand::thread_rng(), size, count).into_vec()
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => spop_one(ctx, &args[1]),
        3 => spop_count(ctx, &args[1], &args[2]),
        _ => Err(CmdError::Syntax),
    }
}

fn spop_one(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let db = ctx.db();
    let size = match peek_set(&mut ctx.core.ks, db, key)? {
        None => {
            ctx.out.null();
            return Ok(());
        }
        Some(s) => s.len(),
    };
    let pos = rand::thread_rng().gen_range(0..size.max(1));
    let mut popped = None;
    if let Some(s) = write_set(&mut ctx.core.ks, db, key) {
        if let Some(m) = s.member_at(pos).cloned() {
            s.remove_member(&m);
            popped = Some(m);
        }
    }
    delete_if_empty(&mut ctx.core.ks, db, key);
    ctx.core.ks.dirty += 1;
    ctx.core.ks.notify(nc::SET, "spop", db, key);
    // Redis raises the `del` of an emptied set after its reply.
    if ctx.core.ks.notify.wants(nc::GENERIC) && !ctx.core.ks.exists(db, key) {
        ctx.core.ks.notify_after_reply(nc::GENERIC, "del", db, key);
    }
    // propagate: as `SREM key <member>`.
    if let Some(m) = &popped {
        ctx.core
            .prop
            .replace_with(|| crate::replication::argv(&[b"SREM", key, m]));
    }
    match popped {
        Some(m) => ctx.out.bulk(&m),
        None => ctx.out.null(),
    }
    Ok(())
}

/// How much bigger than what stays the popped part must be for SPOP to rebuild the set from the
/// members that stay (which also re-chooses its encoding), as Redis does.
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

fn spop_count(ctx: &mut Ctx, key: &[u8], count: &[u8]) -> CmdResult {
    let count = match crate::util::parse_i64(count) {
        Some(n) if n >= 0 => n as u64,
        _ => return Err(CmdError::msg("ERR value is out of range, must be positive")),
    };
    let db = ctx.db();
    let th = ctx.core.ks.thresholds;
    let size = match peek_set(&mut ctx.core.ks, db, key)? {
        None => {
            ctx.out.set(0);
            return Ok(());
        }
        Some(s) => s.len(),
    };
    if count == 0 {
        ctx.out.set(0);
        return Ok(());
    }
    ctx.core.ks.notify(nc::SET, "spop", db, key);
    if count >= size as u64 {
        // The whole set, in the order Redis's union of one set walks it; then the key goes.
        ctx.core.ks.dirty += size as u64;
        if let Some(s) = read_set(&mut ctx.core.ks, db, key)? {
            let intset = fits_intset(&s, &th);
            let order = walk_order(&s, intset);
            ctx.out.set(order.len());
            for m in order {
                ctx.out.bulk(m);
            }
        }
        ctx.core.ks.remove_entry(db, key);
        ctx.core.ks.notify_after_reply(nc::GENERIC, "del", db, key);
        // propagate: as `DEL key`.
        ctx.core
            .prop
            .replace_with(|| crate::replication::argv(&[b"DEL", key]));
        return Ok(());
    }
    let count = count as usize;
    ctx.core.ks.dirty += count as u64;
    let remaining = size - count;
    let Some(s) = write_set(&mut ctx.core.ks, db, key) else {
        ctx.out.set(0);
        return Ok(());
    };
    let all: Vec<Bytes> = s.iter().cloned().collect();
    ctx.out.set(count);
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        for p in sample_positions(size, count) {
            s.remove_member(&all[p]);
            ctx.out.bulk(&all[p]);
            ctx.core.prop.also_with(Some(db), || {
                crate::replication::argv(&[b"SREM", key, &all[p]])
            });
        }
    } else {
        // Few stay: the kept members form a new set (its encoding chosen afresh); the popped ones
        // are replied in the old set's walk order.
        let mut keep = vec![false; size];
        let mut kept = Members::default();
        for p in sample_positions(size, remaining) {
            keep[p] = true;
            kept.insert(all[p].clone());
        }
        let mut popped: Members = Members::default();
        for (i, m) in all.iter().enumerate() {
            if !keep[i] {
                popped.insert(m.clone());
            }
        }
        for m in walk_order(&popped, s.intset) {
            ctx.out.bulk(m);
            ctx.core
                .prop
                .also_with(Some(db), || crate::replication::argv(&[b"SREM", key, m]));
        }
        *s = SetValue::from_set(kept, &th);
    }
    // propagate: as one `SREM key <member>` per popped member (recorded above).
    ctx.core.prop.prevent();
    Ok(())
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if args.len() == 2 {
        match read_set(&mut ctx.core.ks, db, &args[1])? {
            Some(s) if !s.is_empty() => {
                let pos = rand::thread_rng().gen_range(0..s.len());
                match s.member_at(pos) {
                    Some(m) => ctx.out.bulk(m),
                    None => ctx.out.null(),
                }
            }
            _ => ctx.out.null(),
        }
        return Ok(());
    }
    let n = arg_i64(&args[2])?;
    if n == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let Some(s) = read_set(&mut ctx.core.ks, db, &args[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let size = s.len();
    let (count, uniq) = (n.unsigned_abs(), n >= 0);
    if count == 0 || size == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let all: Vec<&Bytes> = s.iter().collect();
    if !uniq || count == 1 {
        // With repetitions, in random order. The reply is streamed: a huge count costs output
        // buffer, as in Redis, not a list built up front.
        ctx.out.array(count as usize);
        let mut rng = rand::thread_rng();
        for _ in 0..count {
            ctx.out.bulk(all[rng.gen_range(0..size)]);
        }
        return Ok(());
    }
    if count >= size as u64 {
        ctx.out.array(size);
        for m in walk_order(&s, s.intset) {
            ctx.out.bulk(m);
        }
        return Ok(());
    }
    let count = count as usize;
    ctx.out.array(count);
    for p in sample_positions(size, count) {
        ctx.out.bulk(all[p]);
    }
    Ok(())
}

/// What an intersection does with its result.
enum InterMode<'a> {
    /// Reply with the members (SINTER, SMEMBERS).
    Members,
    /// Reply with the count, stopping at `limit` when non-zero (SINTERCARD).
    Card(u64),
    /// Store into this key (SINTERSTORE).
    Store(&'a [u8]),
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    inter_generic(ctx, &args[1..2], InterMode::Members)
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    inter_generic(ctx, &args[1..], InterMode::Members)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    inter_generic(ctx, &args[2..], InterMode::Store(&args[1]))
}

fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let numkeys = match crate::util::parse_i64(&args[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::msg("ERR numkeys should be greater than 0")),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let first_opt = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = first_opt;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args[j].eq_ignore_ascii_case(b"limit") && more > 0 {
            j += 1;
            limit = match crate::util::parse_i64(&args[j]) {
                Some(n) if n >= 0 => n as u64,
                _ => return Err(CmdError::msg("ERR LIMIT can't be negative")),
            };
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    inter_generic(ctx, &args[2..first_opt], InterMode::Card(limit))
}

/// Stores a computed set at `dst` (replacing whatever was there, TTL dropped), or deletes `dst`
/// when the result is empty; replies with the result's size. One dirty change either way, none
/// when an empty result meets a missing destination.
fn store_result(ctx: &mut Ctx, dst: &[u8], members: Members, intset: bool, event: &'static str) {
    let db = ctx.db();
    let n = members.len();
    let ks = &mut ctx.core.ks;
    if n > 0 {
        // Redis looks the destination up for writing first (an expired one is deleted as such).
        ks.lookup_write_peek(db, dst);
        ks.set(
            db,
            Bytes::copy_from_slice(dst),
            Value::Set(Arc::new(SetValue {
                set: members,
                intset,
            })),
            NO_EXPIRE,
        );
        ks.dirty += 1;
        ks.notify_after_reply(nc::SET, event, db, dst);
    } else if ks.remove_entry(db, dst).is_some() {
        ks.dirty += 1;
        ks.notify_after_reply(nc::GENERIC, "del", db, dst);
    }
    ctx.out.int(n as i64);
}

fn inter_generic(ctx: &mut Ctx, keys: &[Bytes], mode: InterMode) -> CmdResult {
    let db = ctx.db();
    let th = ctx.core.ks.thresholds;
    let mut sets: Vec<Arc<SetValue>> = Vec::with_capacity(keys.len());
    let mut any_missing = false;
    for k in keys {
        match read_set(&mut ctx.core.ks, db, k)? {
            Some(s) => sets.push(s),
            None => any_missing = true,
        }
    }
    if any_missing {
        match mode {
            InterMode::Members => ctx.out.set(0),
            InterMode::Card(_) => ctx.out.int(0),
            InterMode::Store(dst) => {
                // As store_result with an empty result, but Redis raises `del` before replying
                // on this path.
                if ctx.core.ks.remove_entry(db, dst).is_some() {
                    ctx.core.ks.dirty += 1;
                    ctx.notify(nc::GENERIC, "del", dst);
                }
                ctx.out.int(0);
            }
        }
        return Ok(());
    }
    // Smallest first: its members are the candidates (and its walk order is the reply's order).
    sets.sort_by_key(|s| s.len());
    let (first, rest) = sets.split_first().expect("at least one key");
    let in_all = |m: &Bytes| rest.iter().all(|s| s.contains(m));
    match mode {
        InterMode::Card(limit) => {
            let mut n = 0u64;
            for m in first.iter() {
                if in_all(m) {
                    n += 1;
                    if limit != 0 && n >= limit {
                        break;
                    }
                }
            }
            ctx.out.int(n as i64);
        }
        InterMode::Members => {
            let found: Vec<&Bytes> = walk_order(first, first.intset)
                .into_iter()
                .filter(|m| in_all(m))
                .collect();
            ctx.out.set(found.len());
            for m in found {
                ctx.out.bulk(m);
            }
        }
        InterMode::Store(dst) => {
            let found: Members = first.iter().filter(|m| in_all(m)).cloned().collect();
            drop(sets);
            let intset = fits_intset(&found, &th);
            store_result(ctx, dst, found, intset, "sinterstore");
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    union_diff(ctx, &args[1..], None, SetOp::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    union_diff(ctx, &args[1..], None, SetOp::Diff)
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    union_diff(ctx, &args[2..], Some(&args[1]), SetOp::Union)
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    union_diff(ctx, &args[2..], Some(&args[1]), SetOp::Diff)
}

fn union_diff(ctx: &mut Ctx, keys: &[Bytes], dst: Option<&[u8]>, op: SetOp) -> CmdResult {
    let db = ctx.db();
    let th = ctx.core.ks.thresholds;
    let mut sets: Vec<Option<Arc<SetValue>>> = Vec::with_capacity(keys.len());
    for k in keys {
        sets.push(read_set(&mut ctx.core.ks, db, k)?);
    }
    let mut result = Members::default();
    // Redis builds the result in a fresh set that starts as an intset; whether it still is one
    // decides the reply order and the stored encoding.
    let intset = match op {
        SetOp::Union => {
            for s in sets.iter().flatten() {
                result.extend(s.iter().cloned());
            }
            fits_intset(&result, &th)
        }
        SetOp::Diff => match &sets[0] {
            None => true,
            Some(first) => {
                let others: Vec<&Arc<SetValue>> = sets[1..].iter().flatten().collect();
                if others.iter().any(|s| Arc::ptr_eq(s, first)) {
                    // The first key appears again: nothing can be left.
                    true
                } else {
                    result = first
                        .iter()
                        .filter(|m| !others.iter().any(|s| s.contains(*m)))
                        .cloned()
                        .collect();
                    // Redis picks between filtering the first set (the result is built from
                    // what survives) and copying it whole then removing (the copy leaves the
                    // intset encoding as soon as the first set could not be one).
                    let present = 1 + others.len();
                    let algo_one_work = (present * first.len()) / 2;
                    let algo_two_work: usize =
                        first.len() + others.iter().map(|s| s.len()).sum::<usize>();
                    if algo_one_work <= algo_two_work {
                        fits_intset(&result, &th)
                    } else {
                        fits_intset(&first.set, &th)
                    }
                }
            }
        },
    };
    drop(sets);
    match dst {
        Some(dst) => {
            let event = match op {
                SetOp::Union => "sunionstore",
                SetOp::Diff => "sdiffstore",
            };
            store_result(ctx, dst, result, intset, event)
        }
        None => {
            let order = walk_order(&result, intset);
            ctx.out.set(order.len());
            for m in order {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = super::collscan::parse_cursor(&args[2])?;
    let db = ctx.db();
    let Some(s) = read_set(&mut ctx.core.ks, db, &args[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let opts = super::collscan::parse_options(args, 3, false)?;
    let (count, pattern) = (opts.count, opts.pattern);
    let (batch, next) = if s.intset {
        (walk_order(&s, true), 0)
    } else {
        super::collscan::step(s.iter().map(|m| (m.as_ref(), m)), cursor, count)
    };
    let keep: Vec<&Bytes> = batch
        .into_iter()
        .filter(|m| pattern.is_none_or(|p| crate::util::glob_match(p, m, false)))
        .collect();
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(keep.len());
    for m in keep {
        ctx.out.bulk(m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(v: &[&str]) -> Members {
        v.iter()
            .map(|m| Bytes::copy_from_slice(m.as_bytes()))
            .collect()
    }

    #[test]
    fn an_intset_is_walked_in_ascending_integer_order() {
        let s = members(&[
            "10",
            "-3",
            "2",
            "9223372036854775807",
            "-9223372036854775808",
        ]);
        let order: Vec<&[u8]> = walk_order(&s, true).into_iter().map(|m| &m[..]).collect();
        assert_eq!(
            order,
            [
                &b"-9223372036854775808"[..],
                b"-3",
                b"2",
                b"10",
                b"9223372036854775807"
            ]
        );
    }

    #[test]
    fn intset_fit_needs_canonical_integers_within_the_limit() {
        let th = Thresholds {
            set_max_intset_entries: 3,
            ..Default::default()
        };
        assert!(fits_intset(&members(&["1", "2", "3"]), &th));
        assert!(!fits_intset(&members(&["1", "2", "3", "4"]), &th));
        assert!(!fits_intset(&members(&["01"]), &th));
        assert!(!fits_intset(&members(&["-0"]), &th));
        assert!(!fits_intset(&members(&["18446744073709551616"]), &th));
        assert!(!fits_intset(&members(&[" 1"]), &th));
        assert!(fits_intset(&members(&[]), &th));
    }
}
