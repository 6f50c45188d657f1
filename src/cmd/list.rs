//! The list commands: LPUSH/RPUSH(X), LPOP/RPOP (with count), LLEN, LRANGE, LINDEX, LSET, LREM,
//! LTRIM, LINSERT, LPOS, LMOVE/RPOPLPUSH and LMPOP. The blocking variants (BLPOP, BRPOP, BLMOVE,
//! BRPOPLPUSH, BLMPOP) live in [`super::blocking`].
//!
//! A list is a `VecDeque<Bytes>` behind an `Arc` ([`Value::List`]); Redis 7.0 always reports it as a
//! `quicklist`. As in Redis, a list that becomes empty is deleted, and `dirty` grows by the number of
//! elements pushed, popped, removed or trimmed.
//!
//! Lookups follow Redis's split: the reads (LLEN, LRANGE, LINDEX, LPOS) count keyspace hits and
//! misses; the writes look first without statistics ([`Keyspace::lookup_write_peek`]) and take the
//! entry for writing only once they will change it, so a write that changes nothing (LREM without a
//! match, LINSERT without the pivot, LPOP with count 0) leaves the key's version, and WATCH, alone.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::flags::*;
use super::{arg_i64, arg_ranged, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::notify::class as nc;
use crate::db::{Keyspace, Value, NO_EXPIRE};
use crate::util::eq_ic;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, lpush)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @list @fast")
        .doc(
            "list",
            "1.0.0",
            "Prepend one or multiple elements to a list",
            PUSH_COMPLEXITY,
        ),
    CommandSpec::new("rpush", -3, rpush)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @list @fast")
        .doc(
            "list",
            "1.0.0",
            "Append one or multiple elements to a list",
            PUSH_COMPLEXITY,
        ),
    CommandSpec::new("lpushx", -3, lpushx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @list @fast")
        .doc(
            "list",
            "2.2.0",
            "Prepend an element to a list, only if the list exists",
            PUSH_COMPLEXITY,
        ),
    CommandSpec::new("rpushx", -3, rpushx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @list @fast")
        .doc(
            "list",
            "2.2.0",
            "Append an element to a list, only if the list exists",
            PUSH_COMPLEXITY,
        ),
    CommandSpec::new("lpop", -2, lpop)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @list @fast")
        .doc(
            "list",
            "1.0.0",
            "Remove and get the first elements in a list",
            "O(N) where N is the number of elements returned",
        ),
    CommandSpec::new("rpop", -2, rpop)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @list @fast")
        .doc(
            "list",
            "1.0.0",
            "Remove and get the last elements in a list",
            "O(N) where N is the number of elements returned",
        ),
    CommandSpec::new("llen", 2, llen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @list @fast")
        .doc("list", "1.0.0", "Get the length of a list", "O(1)"),
    CommandSpec::new("lrange", 4, lrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @list @slow")
        .doc(
            "list",
            "1.0.0",
            "Get a range of elements from a list",
            "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
        ),
    CommandSpec::new("lindex", 3, lindex)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @list @slow")
        .doc(
            "list",
            "1.0.0",
            "Get an element from a list by its index",
            "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
        ),
    CommandSpec::new("lset", 4, lset)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @list @slow")
        .doc(
            "list",
            "1.0.0",
            "Set the value of an element in a list by its index",
            "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
        ),
    CommandSpec::new("lrem", 4, lrem)
        .flags(WRITE)
        .keys(1, 1, 1)
        .acl("@write @list @slow")
        .doc(
            "list",
            "1.0.0",
            "Remove elements from a list",
            "O(N+M) where N is the length of the list and M is the number of elements removed.",
        ),
    CommandSpec::new("ltrim", 4, ltrim)
        .flags(WRITE)
        .keys(1, 1, 1)
        .acl("@write @list @slow")
        .doc(
            "list",
            "1.0.0",
            "Trim a list to the specified range",
            "O(N) where N is the number of elements to be removed by the operation.",
        ),
    CommandSpec::new("linsert", 5, linsert)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @list @slow")
        .doc(
            "list",
            "2.2.0",
            "Insert an element before or after another element in a list",
            "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
        ),
    CommandSpec::new("lpos", -3, lpos)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @list @slow")
        .doc(
            "list",
            "6.0.6",
            "Return the index of matching elements on a list",
            "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
        ),
    CommandSpec::new("lmove", 5, lmove)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .acl("@write @list @slow")
        .doc(
            "list",
            "6.2.0",
            "Pop an element from a list, push it to another list and return it",
            "O(1)",
        ),
    CommandSpec::new("rpoplpush", 3, rpoplpush)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .acl("@write @list @slow")
        .doc(
            "list",
            "1.2.0",
            "Remove the last element in a list, prepend it to another list and return it",
            "O(1)",
        ),
    CommandSpec::new("lmpop", -4, lmpop)
        .flags(WRITE | MOVABLE_KEYS)
        .keys(0, 0, 0)
        .acl("@write @list @slow")
        .doc(
            "list",
            "7.0.0",
            "Pop elements from a list",
            "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        ),
];

const PUSH_COMPLEXITY: &str = "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";

type List = VecDeque<Bytes>;

/// Which end of a list (Redis's `LIST_HEAD` / `LIST_TAIL`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    Left,
    Right,
}

impl End {
    /// The keyspace event of a push at this end.
    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }

    /// The keyspace event of a pop from this end.
    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }
}

/// Parses `LEFT` / `RIGHT` (anything else is a syntax error, as in Redis).
fn parse_end(a: &[u8]) -> Result<End, CmdError> {
    if eq_ic(a, "left") {
        Ok(End::Left)
    } else if eq_ic(a, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The error Redis gives for a count that must not be negative.
fn positive_error() -> CmdError {
    CmdError::msg("ERR value is out of range, must be positive")
}

/// Looks a key up for a list write without statistics or a version bump: `Ok(None)` when missing,
/// WRONGTYPE when it holds something else, else the list's length.
fn peek_list_len(ks: &mut Keyspace, db: usize, key: &[u8]) -> Result<Option<usize>, CmdError> {
    match ks.lookup_write_peek(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::List(l) => Ok(Some(l.len())),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Like [`peek_list_len`], lending the list itself for a look before writing.
fn peek_list<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a List>, CmdError> {
    match ks.lookup_write_peek(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::List(l) => Ok(Some(&**l)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Changes the list at `key` (which the caller has checked exists and is a list) and deletes the key
/// if the list ends up empty, as Redis does. Returns None if the key was not a list after all.
fn modify_list<R>(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    f: impl FnOnce(&mut List) -> R,
) -> Option<R> {
    let e = ks.lookup_write(db, key)?;
    let Value::List(l) = &mut e.value else {
        return None;
    };
    let l = Arc::make_mut(l);
    let r = f(l);
    if l.is_empty() {
        ks.remove_entry(db, key);
    }
    Some(r)
}

/// Pushes onto `key`, creating the list when missing; returns the new length.
fn push_into(ks: &mut Keyspace, db: usize, key: &[u8], elems: &[Bytes], end: End) -> usize {
    let push = |l: &mut List| {
        for el in elems {
            let el = Bytes::copy_from_slice(el);
            match end {
                End::Left => l.push_front(el),
                End::Right => l.push_back(el),
            }
        }
        l.len()
    };
    if let Some(n) = modify_list(ks, db, key, push) {
        return n;
    }
    let mut l = List::with_capacity(elems.len());
    let n = push(&mut l);
    ks.set(
        db,
        Bytes::copy_from_slice(key),
        Value::List(Arc::new(l)),
        NO_EXPIRE,
    );
    n
}

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let exists = peek_list_len(ks, db, &args[1])?.is_some();
    if !exists && only_existing {
        ctx.out.int(0);
        return Ok(());
    }
    let n = push_into(ks, db, &args[1], &args[2..], end);
    ks.dirty += (args.len() - 2) as u64;
    ctx.notify_after_reply(nc::LIST, end.push_event(), &args[1]);
    ctx.out.int(n as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Right, true)
}

/// Removes up to `count` elements from one end, in the order they were popped.
fn pop_range(l: &mut List, end: End, count: usize) -> Vec<Bytes> {
    let n = count.min(l.len());
    match end {
        End::Left => l.drain(..n).collect(),
        End::Right => {
            let mut v: Vec<Bytes> = l.drain(l.len() - n..).collect();
            v.reverse();
            v
        }
    }
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(super::arity_error(if end == End::Left {
            "lpop"
        } else {
            "rpop"
        }));
    }
    let count = match args.get(2) {
        Some(a) => Some(
            crate::util::parse_i64(a)
                .filter(|&c| c >= 0)
                .ok_or_else(positive_error)?,
        ),
        None => None,
    };
    let db = ctx.db();
    let key = &args[1];
    let ks = &mut ctx.core.ks;
    if peek_list_len(ks, db, key)?.is_none() {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    match count {
        Some(0) => ctx.out.array(0),
        Some(c) => {
            let popped =
                modify_list(ks, db, key, |l| pop_range(l, end, c as usize)).unwrap_or_default();
            ks.dirty += popped.len() as u64;
            ks.notify_after_reply(nc::LIST, end.pop_event(), db, key);
            ks.notify_del_if_gone(db, key);
            ctx.out.array(popped.len());
            for el in &popped {
                ctx.out.bulk(el);
            }
        }
        None => {
            let popped = modify_list(ks, db, key, |l| pop_range(l, end, 1)).unwrap_or_default();
            ks.dirty += popped.len() as u64;
            ks.notify_after_reply(nc::LIST, end.pop_event(), db, key);
            ks.notify_del_if_gone(db, key);
            match popped.first() {
                Some(el) => ctx.out.bulk(el),
                None => ctx.out.null(),
            }
        }
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Right)
}

/// Looks a list up for reading (counts hits and misses).
fn read_list<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a List>, CmdError> {
    match ks.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::List(l) => Ok(Some(&**l)),
            _ => Err(CmdError::WrongType),
        },
    }
}

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let n = read_list(&mut ctx.core.ks, db, &args[1])?.map_or(0, |l| l.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// Clamps Redis-style `start`/`end` (negative from the tail) to a range of a list of `len`; None
/// when the range is empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    let db = ctx.db();
    let Some(l) = read_list(&mut ctx.core.ks, db, &args[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    match clamp_range(start, end, l.len()) {
        None => ctx.out.array(0),
        Some((s, e)) => {
            ctx.out.array(e - s + 1);
            for el in l.range(s..=e) {
                ctx.out.bulk(el);
            }
        }
    }
    Ok(())
}

/// The position of a Redis index (negative from the tail) in a list of `len`, if inside.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        (len as i64).checked_add(index)?
    } else {
        index
    };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let Some(l) = read_list(&mut ctx.core.ks, db, &args[1])? else {
        ctx.out.null();
        return Ok(());
    };
    // Redis parses the index only once it has the list.
    let index = arg_i64(&args[2])?;
    match resolve_index(index, l.len()).and_then(|i| l.get(i)) {
        Some(el) => ctx.out.bulk(el),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let Some(len) = peek_list_len(ks, db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = arg_i64(&args[2])?;
    let Some(i) = resolve_index(index, len) else {
        return Err(CmdError::msg("ERR index out of range"));
    };
    let value = Bytes::copy_from_slice(&args[3]);
    modify_list(ks, db, &args[1], |l| {
        if let Some(slot) = l.get_mut(i) {
            *slot = value;
        }
    });
    ks.dirty += 1;
    ctx.notify_after_reply(nc::LIST, "lset", &args[1]);
    ctx.out.ok();
    Ok(())
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let toremove = arg_i64(&args[2])?;
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let elem = &args[3];
    let Some(l) = peek_list(ks, db, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    if !l.iter().any(|e| e == elem) {
        ctx.out.int(0);
        return Ok(());
    }
    // A count of i64::MIN cannot be negated; no list is that long, so "all" is the same answer.
    let limit = if toremove == 0 {
        usize::MAX
    } else {
        usize::try_from(toremove.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let from_tail = toremove < 0;
    let removed = modify_list(ks, db, &args[1], |l| {
        let mut removed = 0usize;
        let old = std::mem::take(l);
        let mut kept: Vec<Bytes> = Vec::with_capacity(old.len());
        let iter: Box<dyn Iterator<Item = Bytes>> = if from_tail {
            Box::new(old.into_iter().rev())
        } else {
            Box::new(old.into_iter())
        };
        for e in iter {
            if removed < limit && e == elem {
                removed += 1;
            } else {
                kept.push(e);
            }
        }
        if from_tail {
            kept.reverse();
        }
        *l = kept.into();
        removed
    })
    .unwrap_or(0);
    ks.dirty += removed as u64;
    if removed > 0 {
        ks.notify(nc::LIST, "lrem", db, &args[1]);
        ks.notify_del_if_gone(db, &args[1]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let Some(len) = peek_list_len(ks, db, &args[1])? else {
        ctx.out.ok();
        return Ok(());
    };
    let (ltrim, rtrim) = match clamp_range(start, end, len) {
        None => (len, 0),
        Some((s, e)) => (s, len - e - 1),
    };
    modify_list(ks, db, &args[1], |l| {
        l.truncate(len - rtrim);
        l.drain(..ltrim.min(l.len()));
    });
    ks.dirty += (ltrim + rtrim) as u64;
    ks.notify(nc::LIST, "ltrim", db, &args[1]);
    ks.notify_del_if_gone(db, &args[1]);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let after = if eq_ic(&args[2], "after") {
        true
    } else if eq_ic(&args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let Some(l) = peek_list(ks, db, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(pos) = l.iter().position(|e| e == &args[3]) else {
        ctx.out.int(-1);
        return Ok(());
    };
    let value = Bytes::copy_from_slice(&args[4]);
    let at = if after { pos + 1 } else { pos };
    let n = modify_list(ks, db, &args[1], |l| {
        l.insert(at, value);
        l.len()
    })
    .unwrap_or(0);
    ks.dirty += 1;
    ctx.notify(nc::LIST, "linsert", &args[1]);
    ctx.out.int(n as i64);
    Ok(())
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let elem = &args[2];
    let mut rank: i64 = 1;
    // None: COUNT not given (a single reply rather than an array).
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = j + 1 < args.len();
        if eq_ic(opt, "rank") && more {
            j += 1;
            rank = arg_i64(&args[j])?;
            if rank == 0 {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq_ic(opt, "count") && more {
            j += 1;
            count = Some(arg_ranged(
                &args[j],
                0,
                i64::MAX,
                "ERR COUNT can't be negative",
            )?);
        } else if eq_ic(opt, "maxlen") && more {
            j += 1;
            maxlen = arg_ranged(&args[j], 0, i64::MAX, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis 7.0 negates the rank in a C long: RANK
    // -9223372036854775808 stays negative, so every match qualifies and (with COUNT) the count
    // test never stops the scan; the wrapping arithmetic below gives the same answers.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let db = ctx.db();
    let Some(l) = read_list(&mut ctx.core.ks, db, &args[1])? else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let len = l.len();
    let mut found: Vec<i64> = Vec::new();
    let mut matches: i64 = 0;
    for index in 0..len {
        if maxlen != 0 && index as i64 >= maxlen {
            break;
        }
        let pos = if from_tail { len - 1 - index } else { index };
        if l[pos] != elem {
            continue;
        }
        matches += 1;
        if matches >= rank {
            found.push(pos as i64);
            match count {
                None => break,
                Some(c) => {
                    if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c {
                        break;
                    }
                }
            }
        }
    }
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for p in found {
                ctx.out.int(p);
            }
        }
        None => match found.first() {
            Some(&p) => ctx.out.int(p),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

/// LMOVE and RPOPLPUSH: pops from one end of `src`, pushes onto one end of `dst` (the same list when
/// the keys are equal, which rotates it) and replies with the element.
fn move_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    if peek_list_len(ks, db, src)?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    peek_list_len(ks, db, dst)?;
    if src == dst {
        // A rotation: the list keeps its entry (and TTL), even with one element.
        let el = modify_list(ks, db, src, |l| {
            let el = match from {
                End::Left => l.pop_front(),
                End::Right => l.pop_back(),
            }?;
            match to {
                End::Left => l.push_front(el.clone()),
                End::Right => l.push_back(el.clone()),
            }
            Some(el)
        })
        .flatten();
        match el {
            Some(el) => {
                ks.dirty += 1;
                ks.notify(nc::LIST, to.push_event(), db, dst);
                ks.notify_after_reply(nc::LIST, from.pop_event(), db, src);
                ctx.out.bulk(&el);
            }
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let Some(el) = modify_list(ks, db, src, |l| match from {
        End::Left => l.pop_front(),
        End::Right => l.pop_back(),
    })
    .flatten() else {
        ctx.out.null();
        return Ok(());
    };
    push_into(ks, db, dst, std::slice::from_ref(&el), to);
    ks.dirty += 1;
    ks.notify(nc::LIST, to.push_event(), db, dst);
    ks.notify_after_reply(nc::LIST, from.pop_event(), db, src);
    ks.notify_del_if_gone(db, src);
    ctx.out.bulk(&el);
    Ok(())
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from = parse_end(&args[3])?;
    let to = parse_end(&args[4])?;
    move_generic(ctx, &args[1], &args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    move_generic(ctx, &args[1], &args[2], End::Right, End::Left)
}

fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let where_idx = super::mpop_where(args, 1)?;
    let end = parse_end(&args[where_idx])?;
    let count = super::mpop_count(args, where_idx)?;
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    for key in &args[2..where_idx] {
        match peek_list_len(ks, db, key)? {
            None | Some(0) => continue,
            Some(_) => {}
        }
        let popped = modify_list(ks, db, key, |l| pop_range(l, end, count)).unwrap_or_default();
        ks.dirty += popped.len() as u64;
        ks.notify_after_reply(nc::LIST, end.pop_event(), db, key);
        ks.notify_del_if_gone(db, key);
        // propagate: as `LPOP key n` / `RPOP key n` with n the number popped.
        let n = popped.len();
        ctx.core.prop.replace_with(|| {
            let pop: &[u8] = if matches!(end, End::Left) {
                b"LPOP"
            } else {
                b"RPOP"
            };
            let mut b = itoa::Buffer::new();
            crate::replication::argv(&[pop, key, b.format(n).as_bytes()])
        });
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(popped.len());
        for el in &popped {
            ctx.out.bulk(el);
        }
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    #[test]
    fn indexes_resolve_from_both_ends() {
        assert_eq!(resolve_index(0, 3), Some(0));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
    }

    #[test]
    fn pop_range_returns_elements_in_pop_order() {
        let mut l: List = ["a", "b", "c"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(pop_range(&mut l, End::Right, 2), vec!["c", "b"]);
        assert_eq!(pop_range(&mut l, End::Left, 5), vec!["a"]);
        assert!(l.is_empty());
    }
}
