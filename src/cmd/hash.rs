//! The hash command family: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HSTRLEN, HEXISTS, HINCRBY,
//! HINCRBYFLOAT, HGETALL, HKEYS, HVALS, HRANDFIELD and HSCAN.
//!
//! Encoding follows Redis 7.0 because OBJECT ENCODING reports it: a new hash is a listpack, and every
//! field/value actually stored is checked against `hash-max-listpack-entries` / `-value`
//! ([`HashValue::note_insert`]); once past a limit the hash is a hashtable for good. A listpack-encoded
//! hash keeps insertion order (overwrites keep their place, deletions close the gap), which is the
//! order Redis returns it in, so HGETALL, HKEYS, HVALS and HSCAN of a small hash match byte for byte.
//!
//! Lookups follow Redis's read/write split: reads count keyspace hits and misses; writes look the key
//! up without statistics and take the entry for writing only once they will change it. `dirty` moves
//! as Redis's `server.dirty`: HSET/HMSET count every pair given, HDEL the fields removed, HSETNX,
//! HINCRBY and HINCRBYFLOAT one per successful write.

use bytes::Bytes;
use rand::Rng;
use std::sync::Arc;

use super::flags::*;
use super::string::ld;
use super::{arg_i64, arity_error, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::notify::class as nc;
use crate::db::value::HashValue;
use crate::db::{Keyspace, Value, NO_EXPIRE};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, hset)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @hash @fast")
        .doc(
            "hash",
            "2.0.0",
            "Set the string value of a hash field",
            "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
        ),
    CommandSpec::new("hsetnx", 4, hsetnx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @hash @fast")
        .doc(
            "hash",
            "2.0.0",
            "Set the value of a hash field, only if the field does not exist",
            "O(1)",
        ),
    CommandSpec::new("hmset", -4, hmset)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @hash @fast")
        .doc(
            "hash",
            "2.0.0",
            "Set multiple hash fields to multiple values",
            "O(N) where N is the number of fields being set.",
        ),
    CommandSpec::new("hget", 3, hget)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @hash @fast")
        .doc("hash", "2.0.0", "Get the value of a hash field", "O(1)"),
    CommandSpec::new("hmget", -3, hmget)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @hash @fast")
        .doc(
            "hash",
            "2.0.0",
            "Get the values of all the given hash fields",
            "O(N) where N is the number of fields being requested.",
        ),
    CommandSpec::new("hdel", -3, hdel)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @hash @fast")
        .doc(
            "hash",
            "2.0.0",
            "Delete one or more hash fields",
            "O(N) where N is the number of fields to be removed.",
        ),
    CommandSpec::new("hlen", 2, hlen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @hash @fast")
        .doc("hash", "2.0.0", "Get the number of fields in a hash", "O(1)"),
    CommandSpec::new("hstrlen", 3, hstrlen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @hash @fast")
        .doc(
            "hash",
            "3.2.0",
            "Get the length of the value of a hash field",
            "O(1)",
        ),
    CommandSpec::new("hexists", 3, hexists)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @hash @fast")
        .doc("hash", "2.0.0", "Determine if a hash field exists", "O(1)"),
    CommandSpec::new("hincrby", 4, hincrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @hash @fast")
        .doc(
            "hash",
            "2.0.0",
            "Increment the integer value of a hash field by the given number",
            "O(1)",
        ),
    CommandSpec::new("hincrbyfloat", 4, hincrbyfloat)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @hash @fast")
        .doc(
            "hash",
            "2.6.0",
            "Increment the float value of a hash field by the given amount",
            "O(1)",
        ),
    CommandSpec::new("hgetall", 2, hgetall)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @hash @slow")
        .doc(
            "hash",
            "2.0.0",
            "Get all the fields and values in a hash",
            "O(N) where N is the size of the hash.",
        ),
    CommandSpec::new("hkeys", 2, hkeys)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @hash @slow")
        .doc(
            "hash",
            "2.0.0",
            "Get all the fields in a hash",
            "O(N) where N is the size of the hash.",
        ),
    CommandSpec::new("hvals", 2, hvals)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @hash @slow")
        .doc(
            "hash",
            "2.0.0",
            "Get all the values in a hash",
            "O(N) where N is the size of the hash.",
        ),
    CommandSpec::new("hrandfield", -2, hrandfield)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @hash @slow")
        .doc(
            "hash",
            "6.2.0",
            "Get one or multiple random fields from a hash",
            "O(N) where N is the number of fields returned",
        ),
    CommandSpec::new("hscan", -3, hscan)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @hash @slow")
        .doc(
            "hash",
            "2.8.0",
            "Incrementally iterate hash fields and associated values",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
        ),
];

// ---------------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------------

/// A hash for reading (counts a keyspace hit or miss): None when missing, WRONGTYPE for other types.
fn read_hash<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a HashValue>, CmdError> {
    match ks.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// A hash as a write command first sees it (no statistics, no version bump).
fn peek_hash<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a HashValue>, CmdError> {
    match ks.lookup_write_peek(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The hash at `key` for changing, created empty (listpack) when missing. Call only once the type
/// was checked with [`peek_hash`] and the command is sure to write.
fn write_hash<'a>(ks: &'a mut Keyspace, db: usize, key: &[u8]) -> &'a mut HashValue {
    let exists = ks.lookup_write_peek(db, key).is_some();
    write_hash_known(ks, db, key, exists)
}

/// [`write_hash`] when the caller's [`peek_hash`] already said whether the key exists (one lookup
/// fewer on the HSET path).
fn write_hash_known<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
    exists: bool,
) -> &'a mut HashValue {
    if !exists {
        let h = HashValue::new_empty(&ks.thresholds);
        ks.set(
            db,
            Bytes::copy_from_slice(key),
            Value::Hash(Arc::new(h)),
            NO_EXPIRE,
        );
    }
    let entry = ks
        .lookup_write(db, key)
        .expect("the key was just checked or created");
    match &mut entry.value {
        Value::Hash(h) => Arc::make_mut(h),
        _ => unreachable!("the type was checked by peek_hash"),
    }
}

/// Stores one field/value pair, converting the encoding past a limit; true if the field is new.
fn store(h: &mut HashValue, field: &[u8], value: Bytes, th: &crate::db::value::Thresholds) -> bool {
    let (flen, vlen) = (field.len(), value.len());
    let new = h.insert(field, value);
    h.note_insert(flen, vlen, th);
    new
}

// ---------------------------------------------------------------------------------------------
// HSET, HMSET, HSETNX, HDEL
// ---------------------------------------------------------------------------------------------

/// Sets every pair; returns how many fields were new.
fn set_pairs(ctx: &mut Ctx, args: &[Bytes]) -> Result<i64, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(arity_error(
            &String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
        ));
    }
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let exists = peek_hash(ks, db, &args[1])?.is_some();
    let th = ks.thresholds;
    let h = write_hash_known(ks, db, &args[1], exists);
    let mut created = 0;
    for pair in args[2..].chunks_exact(2) {
        if store(h, &pair[0], Bytes::copy_from_slice(&pair[1]), &th) {
            created += 1;
        }
    }
    ks.dirty += ((args.len() - 2) / 2) as u64;
    ctx.notify_after_reply(nc::HASH, "hset", &args[1]);
    Ok(created)
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let created = set_pairs(ctx, args)?;
    ctx.out.int(created);
    Ok(())
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_pairs(ctx, args)?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let exists = peek_hash(ks, db, &args[1])?.is_some_and(|h| h.contains_key(&args[2][..]));
    if exists {
        ctx.out.int(0);
        return Ok(());
    }
    let th = ks.thresholds;
    let h = write_hash(ks, db, &args[1]);
    store(h, &args[2], Bytes::copy_from_slice(&args[3]), &th);
    ks.dirty += 1;
    ctx.notify_after_reply(nc::HASH, "hset", &args[1]);
    ctx.out.int(1);
    Ok(())
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let key = &args[1];
    let ks = &mut ctx.core.ks;
    let Some(h) = peek_hash(ks, db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if !args[2..].iter().any(|f| h.contains_key(&f[..])) {
        ctx.out.int(0);
        return Ok(());
    }
    let h = write_hash(ks, db, key);
    let mut deleted = 0;
    for f in &args[2..] {
        if h.remove_field(f).is_some() {
            deleted += 1;
        }
    }
    if h.is_empty() {
        ks.remove_entry(db, key);
    }
    ks.dirty += deleted as u64;
    if deleted > 0 {
        ks.notify(nc::HASH, "hdel", db, key);
        ks.notify_del_if_gone(db, key);
    }
    ctx.out.int(deleted);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reads of fields
// ---------------------------------------------------------------------------------------------

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    match read_hash(&mut ctx.core.ks, db, &args[1])?.and_then(|h| h.get(&args[2][..])) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let h = read_hash(&mut ctx.core.ks, db, &args[1])?;
    ctx.out.array(args.len() - 2);
    for f in &args[2..] {
        match h.and_then(|h| h.get(&f[..])) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let n = read_hash(&mut ctx.core.ks, db, &args[1])?.map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let n = read_hash(&mut ctx.core.ks, db, &args[1])?
        .and_then(|h| h.get(&args[2][..]))
        .map_or(0, |v| v.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let found =
        read_hash(&mut ctx.core.ks, db, &args[1])?.is_some_and(|h| h.contains_key(&args[2][..]));
    ctx.out.int(found as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HINCRBY, HINCRBYFLOAT
// ---------------------------------------------------------------------------------------------

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = arg_i64(&args[3])?;
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let cur = match peek_hash(ks, db, &args[1])?.and_then(|h| h.get(&args[2][..])) {
        None => 0,
        Some(v) => crate::util::parse_i64(v)
            .ok_or_else(|| CmdError::msg("ERR hash value is not an integer"))?,
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| CmdError::msg("ERR increment or decrement would overflow"))?;
    let th = ks.thresholds;
    let h = write_hash(ks, db, &args[1]);
    let text = Bytes::copy_from_slice(itoa::Buffer::new().format(new).as_bytes());
    store(h, &args[2], text, &th);
    ks.dirty += 1;
    ctx.notify_after_reply(nc::HASH, "hincrby", &args[1]);
    ctx.out.int(new);
    Ok(())
}

/// Whether a valid float argument spells out an infinity (`inf`, `-Infinity`, ...): Redis's
/// long double parser accepts those, and HINCRBYFLOAT then refuses them with its own error.
fn spells_infinity(a: &[u8]) -> bool {
    let t = match a.first() {
        Some(b'+' | b'-') => &a[1..],
        _ => a,
    };
    t.eq_ignore_ascii_case(b"inf") || t.eq_ignore_ascii_case(b"infinity")
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let incr = &args[3];
    if !ld::is_valid(incr) {
        return Err(CmdError::NotFloat);
    }
    if spells_infinity(incr) {
        return Err(CmdError::msg("ERR value is NaN or Infinity"));
    }
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let cur: &[u8] = match peek_hash(ks, db, &args[1])?.and_then(|h| h.get(&args[2][..])) {
        None => b"0",
        Some(v) => v,
    };
    let sum = match ld::incr_by(cur, incr) {
        Ok(s) => Bytes::from(s),
        Err(ld::LdError::BadValue) => return Err(CmdError::msg("ERR hash value is not a float")),
        Err(ld::LdError::BadIncr) => return Err(CmdError::NotFloat),
        Err(ld::LdError::NanOrInf) => {
            return Err(CmdError::msg("ERR increment would produce NaN or Infinity"))
        }
    };
    let th = ks.thresholds;
    let h = write_hash(ks, db, &args[1]);
    store(h, &args[2], sum.clone(), &th);
    ks.dirty += 1;
    ctx.notify_after_reply(nc::HASH, "hincrbyfloat", &args[1]);
    ctx.out.bulk(&sum);
    // propagate: as `HSET key field <sum>`, so replicas do not redo float arithmetic.
    ctx.core
        .prop
        .replace_with(|| crate::replication::argv(&[b"HSET", &args[1], &args[2], &sum]));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HGETALL, HKEYS, HVALS
// ---------------------------------------------------------------------------------------------

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    match read_hash(&mut ctx.core.ks, db, &args[1])? {
        None => ctx.out.map(0),
        Some(h) => {
            ctx.out.map(h.len());
            for (f, v) in h.iter() {
                ctx.out.bulk(f);
                ctx.out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let h = read_hash(&mut ctx.core.ks, db, &args[1])?;
    ctx.out.array(h.map_or(0, |h| h.len()));
    for f in h.iter().flat_map(|h| h.keys()) {
        ctx.out.bulk(f);
    }
    Ok(())
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let h = read_hash(&mut ctx.core.ks, db, &args[1])?;
    ctx.out.array(h.map_or(0, |h| h.len()));
    for v in h.iter().flat_map(|h| h.values()) {
        ctx.out.bulk(v);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------------------------

/// Largest |count| ferredis serves for a negative HRANDFIELD count without WITHVALUES. Redis has no
/// limit and would build a reply of that many elements (exhausting memory for absurd counts); the
/// limit refuses those with Redis's range error instead.
const RANDFIELD_MAX_REPEATS: u64 = 1 << 32;

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    if args.len() == 2 {
        let h = read_hash(&mut ctx.core.ks, db, &args[1])?;
        match h.filter(|h| !h.is_empty()) {
            None => ctx.out.null(),
            Some(h) => {
                let i = rand::thread_rng().gen_range(0..h.len());
                match h.get_index(i) {
                    Some((f, _)) => ctx.out.bulk(f),
                    None => ctx.out.null(),
                }
            }
        }
        return Ok(());
    }
    let l = arg_i64(&args[2])?;
    if l == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match args.len() {
        3 => false,
        4 if args[3].eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    let count = l.unsigned_abs();
    // Redis refuses counts whose doubled reply length would overflow a long.
    if (withvalues && count > (i64::MAX / 2) as u64) || (l < 0 && count > RANDFIELD_MAX_REPEATS) {
        return Err(CmdError::msg("ERR value is out of range"));
    }
    let resp3 = ctx.out.resp3();
    let Some(h) = read_hash(&mut ctx.core.ks, db, &args[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let size = h.len();
    if count == 0 || size == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let mut rng = rand::thread_rng();
    // A negative count repeats fields and is streamed (it may be far larger than the hash); a
    // positive one is a sample without repetition, or the whole hash.
    let n = if l < 0 {
        count
    } else {
        (count as usize).min(size) as u64
    };
    let out = &mut ctx.out;
    out.array(if withvalues && !resp3 { 2 * n } else { n } as usize);
    let mut emit = |i: usize| {
        let (f, v) = h.get_index(i).map_or((&b""[..], &b""[..]), |(f, v)| (f, v));
        if withvalues {
            if resp3 {
                out.array(2);
            }
            out.bulk(f);
            out.bulk(v);
        } else {
            out.bulk(f);
        }
    };
    if l < 0 {
        for _ in 0..count {
            emit(rng.gen_range(0..size));
        }
    } else if n as usize == size {
        (0..size).for_each(emit);
    } else {
        rand::seq::index::sample(&mut rng, size, n as usize)
            .into_iter()
            .for_each(emit);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------------------------

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = crate::cmd::collscan::parse_cursor(&args[2])?;
    let db = ctx.db();
    // As Redis: the key is looked up before the options are parsed (a missing key is an empty scan).
    let Some(h) = read_hash(&mut ctx.core.ks, db, &args[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let opts = crate::cmd::collscan::parse_options(args, 3, false)?;
    let (count, pattern) = (opts.count, opts.pattern);
    let (pairs, next): (Vec<_>, u64) = if h.listpack {
        // A listpack is returned whole, in its order, whatever the cursor.
        (h.iter().collect(), 0)
    } else if cursor >> (64 - 11) != 0 {
        // Past every position of the cursor space: nothing left to visit.
        (Vec::new(), 0)
    } else {
        crate::cmd::collscan::step(h.iter().map(|(f, v)| (f, (f, v))), cursor, count)
    };
    let kept: Vec<(&[u8], &[u8])> = pairs
        .into_iter()
        .filter(|(f, _)| pattern.is_none_or(|p| crate::util::glob_match(p, f, false)))
        .collect();
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(kept.len() * 2);
    for (f, v) in kept {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::value::Thresholds;

    #[test]
    fn infinities_are_recognised_by_spelling() {
        for s in ["inf", "-inf", "+INF", "Infinity", "-infinity"] {
            assert!(spells_infinity(s.as_bytes()), "{s}");
        }
        for s in ["1e400", "info", "in", "nan", ""] {
            assert!(!spells_infinity(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn listpack_hash_keeps_insertion_order() {
        let th = Thresholds::default();
        let mut h = HashValue::new_empty(&th);
        for f in ["c", "a", "b", "d"] {
            store(&mut h, f.as_bytes(), Bytes::from_static(b"1"), &th);
        }
        h.remove_field(b"a");
        store(&mut h, b"c", Bytes::from_static(b"2"), &th);
        store(&mut h, b"e", Bytes::from_static(b"3"), &th);
        let order: Vec<&[u8]> = h.keys().collect();
        assert_eq!(order, [&b"c"[..], b"b", b"d", b"e"]);
        assert_eq!(h.get(&b"c"[..]), Some(&b"2"[..]));
    }
}
