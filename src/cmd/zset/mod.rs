//! The sorted set command family: ZADD, ZINCRBY, ZREM, the score and rank lookups, the pops, ZRANDMEMBER
//! and ZSCAN live here; the range commands in [`range`], the multi-key algebra (ZUNION, ZINTER, ZDIFF and
//! their STORE forms, ZINTERCARD) in [`setops`].
//!
//! A [`ZSet`] keeps `scores` (member → score) and `order` (a `BTreeSet` of (score, member)), the pair Redis
//! keeps in its skiplist encoding. Ranks are found by walking `order`, which is O(N) (Redis's skiplist spans
//! make it O(log N)); every reply is the same.
//!
//! Where Redis's answer depends on how its listpack is walked (lex ranges over members whose scores
//! differ), the walk here is the listpack's: first check the two ends, then scan in order.
//!
//! The blocking forms (BZPOPMIN, BZPOPMAX, BZMPOP) live in [`super::blocking`].

mod range;
mod setops;

use bytes::Bytes;
use std::sync::Arc;

use super::flags::*;
use super::{arg_i64, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::notify::class as nc;
use crate::db::value::{Thresholds, Value, ZSet};
use crate::db::NO_EXPIRE;
use crate::resp::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, zadd)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @sortedset @fast")
        .doc(
            "sorted-set",
            "1.2.0",
            "Add one or more members to a sorted set, or update its score if it already exists",
            "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        ),
    CommandSpec::new("zcard", 2, zcard)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @sortedset @fast")
        .doc(
            "sorted-set",
            "1.2.0",
            "Get the number of members in a sorted set",
            "O(1)",
        ),
    CommandSpec::new("zcount", 4, range::zcount)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @sortedset @fast")
        .doc(
            "sorted-set",
            "2.0.0",
            "Count the members in a sorted set with scores within the given values",
            "O(log(N)) with N being the number of elements in the sorted set.",
        ),
    CommandSpec::new("zdiff", -3, setops::zdiff)
        .flags(READONLY | MOVABLE_KEYS)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "6.2.0",
            "Subtract multiple sorted sets",
            "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        ),
    CommandSpec::new("zdiffstore", -4, setops::zdiffstore)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "6.2.0",
            "Subtract multiple sorted sets and store the resulting sorted set in a new key",
            "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        ),
    CommandSpec::new("zincrby", 4, zincrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @sortedset @fast")
        .doc(
            "sorted-set",
            "1.2.0",
            "Increment the score of a member in a sorted set",
            "O(log(N)) where N is the number of elements in the sorted set.",
        ),
    CommandSpec::new("zinter", -3, setops::zinter)
        .flags(READONLY | MOVABLE_KEYS)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "6.2.0",
            "Intersect multiple sorted sets",
            "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        ),
    CommandSpec::new("zintercard", -3, setops::zintercard)
        .flags(READONLY | MOVABLE_KEYS)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "7.0.0",
            "Intersect multiple sorted sets and return the cardinality of the result",
            "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
        ),
    CommandSpec::new("zinterstore", -4, setops::zinterstore)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "2.0.0",
            "Intersect multiple sorted sets and store the resulting sorted set in a new key",
            "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        ),
    CommandSpec::new("zlexcount", 4, range::zlexcount)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @sortedset @fast")
        .doc(
            "sorted-set",
            "2.8.9",
            "Count the number of members in a sorted set between a given lexicographical range",
            "O(log(N)) with N being the number of elements in the sorted set.",
        ),
    CommandSpec::new("zmpop", -4, zmpop)
        .flags(WRITE | MOVABLE_KEYS)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "7.0.0",
            "Remove and return members with scores in a sorted set",
            "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
    CommandSpec::new("zmscore", -3, zmscore)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @sortedset @fast")
        .doc(
            "sorted-set",
            "6.2.0",
            "Get the score associated with the given members in a sorted set",
            "O(N) where N is the number of members being requested.",
        ),
    CommandSpec::new("zpopmax", -2, zpopmax)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @sortedset @fast")
        .doc(
            "sorted-set",
            "5.0.0",
            "Remove and return members with the highest scores in a sorted set",
            "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
    CommandSpec::new("zpopmin", -2, zpopmin)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @sortedset @fast")
        .doc(
            "sorted-set",
            "5.0.0",
            "Remove and return members with the lowest scores in a sorted set",
            "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
    CommandSpec::new("zrandmember", -2, zrandmember)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "6.2.0",
            "Get one or multiple random elements from a sorted set",
            "O(N) where N is the number of elements returned",
        ),
    CommandSpec::new("zrange", -4, range::zrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "1.2.0",
            "Return a range of members in a sorted set",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        ),
    CommandSpec::new("zrangebylex", -4, range::zrangebylex)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "2.8.9",
            "Return a range of members in a sorted set, by lexicographical range",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        ),
    CommandSpec::new("zrangebyscore", -4, range::zrangebyscore)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "1.0.5",
            "Return a range of members in a sorted set, by score",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        ),
    CommandSpec::new("zrangestore", -5, range::zrangestore)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "6.2.0",
            "Store a range of members from sorted set into another key",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
        ),
    CommandSpec::new("zrank", 3, zrank)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @sortedset @fast")
        .doc(
            "sorted-set",
            "2.0.0",
            "Determine the index of a member in a sorted set",
            "O(log(N))",
        ),
    CommandSpec::new("zrem", -3, zrem)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @sortedset @fast")
        .doc(
            "sorted-set",
            "1.2.0",
            "Remove one or more members from a sorted set",
            "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
        ),
    CommandSpec::new("zremrangebylex", 4, range::zremrangebylex)
        .flags(WRITE)
        .keys(1, 1, 1)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "2.8.9",
            "Remove all members in a sorted set between the given lexicographical range",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        ),
    CommandSpec::new("zremrangebyrank", 4, range::zremrangebyrank)
        .flags(WRITE)
        .keys(1, 1, 1)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "2.0.0",
            "Remove all members in a sorted set within the given indexes",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        ),
    CommandSpec::new("zremrangebyscore", 4, range::zremrangebyscore)
        .flags(WRITE)
        .keys(1, 1, 1)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "1.2.0",
            "Remove all members in a sorted set within the given scores",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        ),
    CommandSpec::new("zrevrange", -4, range::zrevrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "1.2.0",
            "Return a range of members in a sorted set, by index, with scores ordered from high to low",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        ),
    CommandSpec::new("zrevrangebylex", -4, range::zrevrangebylex)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "2.8.9",
            "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        ),
    CommandSpec::new("zrevrangebyscore", -4, range::zrevrangebyscore)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "2.2.0",
            "Return a range of members in a sorted set, by score, with scores ordered from high to low",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        ),
    CommandSpec::new("zrevrank", 3, zrevrank)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @sortedset @fast")
        .doc(
            "sorted-set",
            "2.0.0",
            "Determine the index of a member in a sorted set, with scores ordered from high to low",
            "O(log(N))",
        ),
    CommandSpec::new("zscan", -3, zscan)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "2.8.0",
            "Incrementally iterate sorted sets elements and associated scores",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
        ),
    CommandSpec::new("zscore", 3, zscore)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @sortedset @fast")
        .doc(
            "sorted-set",
            "1.2.0",
            "Get the score associated with the given member in a sorted set",
            "O(1)",
        ),
    CommandSpec::new("zunion", -3, setops::zunion)
        .flags(READONLY | MOVABLE_KEYS)
        .acl("@read @sortedset @slow")
        .doc(
            "sorted-set",
            "6.2.0",
            "Add multiple sorted sets",
            "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        ),
    CommandSpec::new("zunionstore", -4, setops::zunionstore)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .acl("@write @sortedset @slow")
        .doc(
            "sorted-set",
            "2.0.0",
            "Add multiple sorted sets and store the resulting sorted set in a new key",
            "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        ),
];

// ---------------------------------------------------------------------------------------------
// ZSet primitives (kept here rather than on the shared type: only this family mutates sorted sets)
// ---------------------------------------------------------------------------------------------

/// Sets `member`'s score, adding it if new (then the encoding may leave listpack). An unchanged score
/// (`==`, so -0 and 0 are the same) leaves the stored one alone, as Redis does. Returns whether it
/// was added.
pub(crate) fn zs_set(z: &mut ZSet, member: &[u8], score: f64, th: &Thresholds) -> bool {
    if let Some(old) = z.score(member) {
        if old != score {
            let score = stored_score(z, score);
            z.insert(member, score);
        }
        return false;
    }
    // The encoding is decided with the member in: a listpack cannot hold -0.
    z.insert(member, score);
    z.note_insert(member.len(), th);
    let stored = stored_score(z, score);
    if stored.to_bits() != score.to_bits() {
        z.insert(member, stored);
    }
    true
}

/// The score as the encoding stores it: a listpack writes scores as text, where -0 becomes 0.
fn stored_score(z: &ZSet, score: f64) -> f64 {
    if z.listpack && score == 0.0 {
        0.0
    } else {
        score
    }
}

/// After a result's encoding was chosen: a listpack holds no -0 (see [`stored_score`]).
pub(crate) fn normalize_listpack_scores(z: &mut ZSet) {
    if !z.listpack {
        return;
    }
    let negz: Vec<Bytes> = z
        .members()
        .filter(|(_, s)| *s == 0.0 && s.is_sign_negative())
        .map(|(m, _)| Bytes::copy_from_slice(m))
        .collect();
    for m in negz {
        z.insert(&m, 0.0);
    }
}

/// Removes `member`; returns whether it was there.
pub(crate) fn zs_remove(z: &mut ZSet, member: &[u8]) -> bool {
    z.remove(member).is_some()
}

/// The 0-based rank of `member` in ascending order (O(log N)).
fn zs_rank(z: &ZSet, member: &[u8]) -> Option<usize> {
    z.rank(member)
}

/// A sorted set built from scratch by a store command, its encoding chosen from the content as Redis
/// does when it converts a result.
pub(crate) fn zs_from_pairs(
    pairs: impl IntoIterator<Item = (Bytes, f64)>,
    th: &Thresholds,
) -> ZSet {
    let mut z: ZSet = pairs.into_iter().collect();
    z.choose_encoding(th);
    z
}

// ---------------------------------------------------------------------------------------------
// Keyspace access
// ---------------------------------------------------------------------------------------------

/// Looks a sorted set up for reading (counts a hit or miss, as Redis's lookupKeyRead).
pub(crate) fn get_read(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Arc<ZSet>>, CmdError> {
    let db = ctx.db();
    match ctx.core.ks.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z.clone())),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Looks a sorted set up the way a write command does before changing it (no statistics); the
/// returned handle must be dropped before [`with_write`], or the write copies the value.
pub(crate) fn get_write_peek(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Arc<ZSet>>, CmdError> {
    let db = ctx.db();
    match ctx.core.ks.lookup_write_peek(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z.clone())),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Changes an existing sorted set in place (bumping its write version); deletes the key if the
/// change left it empty, as Redis does. Returns `f`'s result.
pub(crate) fn with_write<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut ZSet) -> R,
) -> Option<R> {
    let db = ctx.db();
    let e = ctx.core.ks.lookup_write(db, key)?;
    let Value::ZSet(z) = &mut e.value else {
        return None;
    };
    let z = Arc::make_mut(z);
    let r = f(z);
    if z.is_empty() {
        ctx.core.ks.remove_entry(db, key);
    }
    Some(r)
}

/// Stores a store command's result in `dst` (replacing any value and TTL), or deletes `dst` when the
/// result is empty. Replies with the result's size and counts the change as Redis does.
pub(crate) fn store_result(ctx: &mut Ctx, dst: &[u8], mut z: ZSet, event: &'static str) {
    normalize_listpack_scores(&mut z);
    let db = ctx.db();
    let n = z.len();
    if n > 0 {
        ctx.core.ks.set(
            db,
            Bytes::copy_from_slice(dst),
            Value::ZSet(Arc::new(z)),
            NO_EXPIRE,
        );
        ctx.core.ks.dirty += 1;
        ctx.notify_after_reply(nc::ZSET, event, dst);
    } else if ctx.core.ks.remove_entry(db, dst).is_some() {
        // Removed whatever is stored, even logically expired, as Redis's dbDelete does (`del`).
        ctx.core.ks.dirty += 1;
        ctx.notify_after_reply(nc::GENERIC, "del", dst);
    }
    ctx.out.int(n as i64);
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// Members (and scores) as ZRANGE and the algebra commands reply: a flat array in RESP2, pairs
/// `[member, score]` in RESP3 when scores are asked for.
pub(crate) fn reply_members<'a>(
    out: &mut Reply,
    items: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    let n = items.len();
    let flat = withscores && !out.resp3();
    out.array(if flat { 2 * n } else { n });
    for (m, s) in items {
        if withscores && out.resp3() {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

/// The error Redis gives for a count that must be positive.
fn positive_count(a: &[u8]) -> Result<i64, CmdError> {
    let err = || CmdError::msg("ERR value is out of range, must be positive");
    let n = arg_i64(a).map_err(|_| err())?;
    if n < 0 {
        return Err(err());
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY
// ---------------------------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What one `score member` pair did.
enum AddOutcome {
    Added,
    Updated,
    /// Processed without a change (same score): still answers INCR with the score.
    Same,
    /// Skipped by NX/XX/GT/LT.
    Nop,
}

/// What one pair of ZADD does to `z` (Redis's zsetAdd), without doing it: the outcome and the new
/// score; `Err(())` when INCR would make the score NaN.
fn zadd_decide(
    z: &ZSet,
    member: &[u8],
    mut score: f64,
    f: AddFlags,
) -> Result<(AddOutcome, f64), ()> {
    if let Some(cur) = z.score(member) {
        if f.nx {
            return Ok((AddOutcome::Nop, cur));
        }
        if f.incr {
            score += cur;
            if score.is_nan() {
                return Err(());
            }
        }
        if (f.lt && score >= cur) || (f.gt && score <= cur) {
            return Ok((AddOutcome::Nop, cur));
        }
        if score != cur {
            return Ok((AddOutcome::Updated, score));
        }
        return Ok((AddOutcome::Same, score));
    }
    if f.xx {
        return Ok((AddOutcome::Nop, score));
    }
    Ok((AddOutcome::Added, score))
}

/// The totals of a ZADD run.
#[derive(Default)]
struct AddTotals {
    added: i64,
    updated: i64,
    processed: i64,
    last_score: f64,
    nan: bool,
}

/// Tries ZADD's pairs on `z` without changing it: the totals if no pair would change anything (or
/// the first change would be a NaN error), None otherwise. Until a change, nothing differs from the
/// real run, so the totals are exact.
fn zadd_probe(z: &ZSet, pairs: &[(f64, &[u8])], f: AddFlags) -> Option<AddTotals> {
    let mut t = AddTotals::default();
    for &(score, member) in pairs {
        match zadd_decide(z, member, score, f) {
            Err(()) => {
                t.nan = true;
                return Some(t);
            }
            Ok((AddOutcome::Added | AddOutcome::Updated, _)) => return None,
            Ok((o, s)) => {
                if !matches!(o, AddOutcome::Nop) {
                    t.processed += 1;
                }
                t.last_score = s;
            }
        }
    }
    Some(t)
}

/// Runs ZADD's pairs over `z`; stops at a NaN error (earlier pairs stay applied, as in Redis).
fn zadd_run(z: &mut ZSet, pairs: &[(f64, &[u8])], f: AddFlags, th: &Thresholds, t: &mut AddTotals) {
    for &(score, member) in pairs {
        match zadd_decide(z, member, score, f) {
            Err(()) => {
                t.nan = true;
                return;
            }
            Ok((o, s)) => {
                match o {
                    AddOutcome::Added => t.added += 1,
                    AddOutcome::Updated => t.updated += 1,
                    _ => {}
                }
                if matches!(o, AddOutcome::Added | AddOutcome::Updated) {
                    zs_set(z, member, s, th);
                }
                if !matches!(o, AddOutcome::Nop) {
                    t.processed += 1;
                }
                t.last_score = s;
            }
        }
    }
}

fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], mut f: AddFlags) -> CmdResult {
    let mut ch = false;
    let mut idx = 2;
    while idx < args.len() {
        let o = &args[idx][..];
        if o.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if o.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if o.eq_ignore_ascii_case(b"ch") {
            ch = true;
        } else if o.eq_ignore_ascii_case(b"incr") {
            f.incr = true;
        } else if o.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if o.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &args[idx..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        pairs.push((super::arg_f64(&p[0])?, &p[1][..]));
    }
    let key = &args[1];
    let db = ctx.db();
    let th = ctx.core.ks.thresholds;
    let current = get_write_peek(ctx, key)?;
    let mut t = AddTotals::default();
    match current {
        Some(cur) => {
            // A ZADD that changes nothing must not touch the key (WATCH, versions), as in Redis.
            let probe = zadd_probe(&cur, &pairs, f);
            drop(cur);
            match probe {
                Some(p) => t = p,
                None => {
                    with_write(ctx, key, |z| zadd_run(z, &pairs, f, &th, &mut t));
                }
            }
        }
        None if !f.xx => {
            let mut z = ZSet::new_for(pairs[0].1.len(), &th);
            zadd_run(&mut z, &pairs, f, &th, &mut t);
            if !z.is_empty() {
                ctx.core.ks.set(
                    db,
                    Bytes::copy_from_slice(key),
                    Value::ZSet(Arc::new(z)),
                    NO_EXPIRE,
                );
            }
        }
        None => {}
    }
    let AddTotals {
        added,
        updated,
        processed,
        last_score,
        nan,
    } = t;
    if nan {
        return Err(CmdError::msg("ERR resulting score is not a number (NaN)"));
    }
    ctx.core.ks.dirty += (added + updated) as u64;
    if added + updated > 0 {
        ctx.notify_after_reply(nc::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if f.incr {
        if processed > 0 {
            ctx.out.double(last_score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, AddFlags::default())
}

fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(
        ctx,
        args,
        AddFlags {
            incr: true,
            ..Default::default()
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = get_read(ctx, &args[1])?.map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match get_read(ctx, &args[1])?.and_then(|z| z.score(&args[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = get_read(ctx, &args[1])?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn zrank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CmdResult {
    let Some(z) = get_read(ctx, &args[1])? else {
        ctx.out.null();
        return Ok(());
    };
    match zs_rank(&z, &args[2]) {
        Some(r) => {
            let r = if rev { z.len() - 1 - r } else { r };
            ctx.out.int(r as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrank_generic(ctx, args, true)
}

// ---------------------------------------------------------------------------------------------
// ZREM
// ---------------------------------------------------------------------------------------------

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let Some(z) = get_write_peek(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    // Only a removal that happens touches the key (WATCH, dirty), as in Redis.
    let any = args[2..].iter().any(|m| z.contains(m));
    drop(z);
    let mut deleted = 0i64;
    if any {
        with_write(ctx, key, |z| {
            for m in &args[2..] {
                if zs_remove(z, m) {
                    deleted += 1;
                }
                if z.is_empty() {
                    break;
                }
            }
        });
    }
    ctx.core.ks.dirty += deleted as u64;
    if deleted > 0 {
        ctx.notify(nc::ZSET, "zrem", key);
        let db = ctx.db();
        ctx.core.ks.notify_del_if_gone(db, key);
    }
    ctx.out.int(deleted);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------------

/// Pops up to `count` members from the low (`max == false`) or high end of an existing sorted set.
fn pop_n(ctx: &mut Ctx, key: &[u8], count: usize, max: bool) -> Vec<(Bytes, f64)> {
    let mut popped = Vec::new();
    with_write(ctx, key, |z| {
        for _ in 0..count {
            let item = if max { z.pop_last() } else { z.pop_first() };
            let Some(item) = item else { break };
            popped.push(item);
        }
    });
    ctx.core.ks.dirty += popped.len() as u64;
    popped
}

/// The events of a pop: Redis raises `zpopmin`/`zpopmax` once the reply's array header is written
/// (a client subscribed to its own events reads it there), and `del` after the reply.
fn notify_popped(ctx: &mut Ctx, key: &[u8], max: bool) {
    ctx.notify(nc::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    let db = ctx.db();
    ctx.core.ks.notify_del_if_gone_after_reply(db, key);
}

fn zpop_generic(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => Some(positive_count(a)?),
        None => None,
    };
    let key = &args[1];
    if get_write_peek(ctx, key)?.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    if count == Some(0) {
        ctx.out.array(0);
        return Ok(());
    }
    // propagate: as the command itself.
    let popped = pop_n(ctx, key, count.unwrap_or(1) as usize, max);
    let nested = ctx.out.resp3() && count.is_some();
    ctx.out.array(if nested {
        popped.len()
    } else {
        2 * popped.len()
    });
    notify_popped(ctx, key, max);
    for (m, s) in &popped {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        ctx.out.double(*s);
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, true)
}

fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let where_idx = super::mpop_where(args, 1)?;
    let w = &args[where_idx][..];
    let max = if w.eq_ignore_ascii_case(b"min") {
        false
    } else if w.eq_ignore_ascii_case(b"max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let count = super::mpop_count(args, where_idx)?;
    for key in &args[2..where_idx] {
        if get_write_peek(ctx, key)?.is_none() {
            continue;
        }
        // propagate: as `ZPOPMIN|ZPOPMAX key <popped count>`.
        let popped = pop_n(ctx, key, count, max);
        let n = popped.len();
        ctx.core.prop.replace_with(|| {
            let pop: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            let mut b = itoa::Buffer::new();
            crate::replication::argv(&[pop, key, b.format(n).as_bytes()])
        });
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(popped.len());
        notify_popped(ctx, key, max);
        for (m, s) in &popped {
            ctx.out.array(2);
            ctx.out.bulk(m);
            ctx.out.double(*s);
        }
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    use rand::seq::SliceRandom;
    use rand::Rng;
    if args.len() == 2 {
        let Some(z) = get_read(ctx, &args[1])? else {
            ctx.out.null();
            return Ok(());
        };
        let i = rand::thread_rng().gen_range(0..z.len());
        if let Some((m, _)) = z.get(i) {
            ctx.out.bulk(m);
        }
        return Ok(());
    }
    let l = match crate::util::parse_i64(&args[2]) {
        None => return Err(CmdError::NotInteger),
        Some(i64::MIN) => {
            return Err(CmdError::msg(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Some(l) => l,
    };
    let withscores = match args.get(3) {
        None => false,
        Some(a) if args.len() == 4 && a.eq_ignore_ascii_case(b"withscores") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::msg("ERR value is out of range"));
    }
    let Some(z) = get_read(ctx, &args[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    if l == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let all: Vec<(&[u8], f64)> = z.iter().collect();
    let mut rng = rand::thread_rng();
    if l < 0 {
        // Repeats allowed, in random order; written as drawn, so a large count costs only the reply.
        let n = l.unsigned_abs() as usize;
        // Redis would try to build the reply and run out of memory; refuse a count no client could
        // receive rather than hold the keyspace lock for hours.
        if n > 1 << 31 {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        let flat = withscores && !ctx.out.resp3();
        ctx.out.array(if flat { 2 * n } else { n });
        for _ in 0..n {
            let (m, s) = all[rng.gen_range(0..all.len())];
            if withscores && ctx.out.resp3() {
                ctx.out.array(2);
            }
            ctx.out.bulk(m);
            if withscores {
                ctx.out.double(s);
            }
        }
        return Ok(());
    }
    let picked: Vec<(&[u8], f64)> = if l as usize >= all.len() {
        // The whole set, in the order Redis's iterator walks it: from the highest.
        all.into_iter().rev().collect()
    } else {
        all.choose_multiple(&mut rng, l as usize).copied().collect()
    };
    reply_members(&mut ctx.out, picked.into_iter(), withscores);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------------------------

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = super::collscan::parse_cursor(&args[2])?;
    let Some(z) = get_read(ctx, &args[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let opts = super::collscan::parse_options(args, 3, false)?;
    let (count, pattern) = (opts.count, opts.pattern);
    let (items, next): (Vec<(&[u8], f64)>, u64) = if z.listpack {
        (z.iter().collect(), 0)
    } else {
        super::collscan::step(z.members().map(|(m, s)| (m, (m, s))), cursor, count)
    };
    let kept: Vec<(&[u8], f64)> = items
        .into_iter()
        .filter(|(m, _)| pattern.is_none_or(|p| crate::util::glob_match(p, m, false)))
        .collect();
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(2 * kept.len());
    for (m, s) in kept {
        ctx.out.bulk(m);
        if z.listpack {
            ctx.out.bulk(listpack_score_text(s).as_bytes());
        } else {
            ctx.out.bulk(crate::util::fmt_double(s).as_bytes());
        }
    }
    Ok(())
}

/// A score as a listpack holds it, which is what ZSCAN returns for a listpack: an integer when the
/// score is integral and within ±2^62 (stored as an integer entry), otherwise `%.17g` text.
fn listpack_score_text(s: f64) -> String {
    const LIM: f64 = (i64::MAX / 2) as f64;
    if (-LIM..=LIM).contains(&s) && (s as i64) as f64 == s {
        itoa::Buffer::new().format(s as i64).to_string()
    } else {
        crate::util::fmt_double(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_remove_rank_keep_both_views_in_step() {
        let th = Thresholds {
            zset_max_listpack_entries: 2,
            ..Default::default()
        };
        let mut z = ZSet::new_for(1, &th);
        assert!(zs_set(&mut z, b"b", 2.0, &th));
        assert!(zs_set(&mut z, b"a", 2.0, &th));
        assert!(!zs_set(&mut z, b"c", 1.0, &th) || !z.listpack);
        assert!(!z.listpack, "three members pass the limit of two");
        assert_eq!(zs_rank(&z, b"c"), Some(0));
        assert_eq!(zs_rank(&z, b"a"), Some(1));
        assert_eq!(zs_rank(&z, b"b"), Some(2));
        assert!(!zs_set(&mut z, b"c", 3.0, &th));
        assert_eq!(zs_rank(&z, b"c"), Some(2));
        assert!(zs_remove(&mut z, b"a"));
        assert!(!zs_remove(&mut z, b"a"));
        assert_eq!(z.iter().count(), z.len());
        assert_eq!(zs_rank(&z, b"b"), Some(0));
    }

    #[test]
    fn listpack_scores_print_as_stored() {
        assert_eq!(listpack_score_text(1e17), "100000000000000000");
        assert_eq!(
            listpack_score_text(4611686018427387904.0),
            "4611686018427387904"
        );
        assert_eq!(listpack_score_text(1e19), "1e+19");
        assert_eq!(listpack_score_text(-0.0), "0");
        assert_eq!(listpack_score_text(0.5), "0.5");
        assert_eq!(listpack_score_text(f64::INFINITY), "inf");
    }

    #[test]
    fn negative_zero_ties_with_zero_and_orders_by_member() {
        let th = Thresholds {
            zset_max_listpack_entries: 0,
            ..Default::default()
        };
        let mut z = ZSet::new_for(1, &th);
        assert!(!z.listpack);
        zs_set(&mut z, b"b", -0.0, &th);
        zs_set(&mut z, b"a", 0.0, &th);
        assert_eq!(zs_rank(&z, b"a"), Some(0));
        // An "update" to an equal score keeps the stored one.
        zs_set(&mut z, b"b", 0.0, &th);
        assert!(z.score(b"b").is_some_and(|s| s.is_sign_negative()));
        // A listpack stores scores as text: -0 becomes 0.
        let th = Thresholds::default();
        let mut z = ZSet::new_for(1, &th);
        zs_set(&mut z, b"b", -0.0, &th);
        assert!(z.score(b"b").is_some_and(|s| s.is_sign_positive()));
        assert_eq!(z.first().map(|(_, s)| s.is_sign_positive()), Some(true));
    }
}
