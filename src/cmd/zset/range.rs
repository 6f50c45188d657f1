//! Range commands of the sorted set family: ZRANGE (rank, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) and its
//! older forms (ZRANGEBYSCORE, ZREVRANGE, ...), ZRANGESTORE, ZCOUNT, ZLEXCOUNT and ZREMRANGEBY*.
//!
//! Score and lex ranges select the way Redis walks a listpack: the range is empty unless the last
//! member is at or above the minimum and the first at or below the maximum; then the walk starts at the
//! first member at or above the minimum (the last at or below the maximum, in reverse) and goes on while
//! members stay within the other bound. On score ranges (always sorted) this is plain filtering; on lex
//! ranges over members whose scores differ it is what Redis answers for a listpack.

use bytes::Bytes;

use super::{get_read, get_write_peek, reply_members, with_write, zs_remove, zs_set};
use crate::cmd::{arg_i64, CmdError, CmdResult, Ctx};
use crate::db::value::{ScoreKey, ZSet};

/// A score interval (`(` makes a bound exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

/// `strtod` over the whole argument, NaN refused (Redis's range parsing: no check of leading spaces
/// or overflow, unlike score arguments).
fn range_strtod(a: &[u8]) -> Option<f64> {
    let mut tmp = Vec::with_capacity(a.len() + 1);
    tmp.extend_from_slice(a);
    tmp.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: tmp is NUL-terminated and outlives the call; strtod stops at the NUL at the latest.
    let (v, consumed) = unsafe {
        let v = libc::strtod(tmp.as_ptr() as *const libc::c_char, &mut end);
        (v, end as usize - tmp.as_ptr() as usize)
    };
    // An embedded NUL ends the C string early, which Redis also takes as the end.
    let stop = a.iter().position(|&c| c == 0).unwrap_or(a.len());
    (consumed == stop && !v.is_nan()).then_some(v)
}

fn score_bound(a: &[u8]) -> Option<(f64, bool)> {
    match a.first() {
        Some(b'(') => range_strtod(&a[1..]).map(|v| (v, true)),
        _ => range_strtod(a).map(|v| (v, false)),
    }
}

impl ScoreRange {
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let err = || CmdError::msg("ERR min or max is not a float");
        let (min, minex) = score_bound(min).ok_or_else(err)?;
        let (max, maxex) = score_bound(max).ok_or_else(err)?;
        Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex interval.
#[derive(Clone, Debug, PartialEq)]
enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[m` (inclusive) or `(m` (exclusive).
    At(Bytes, bool),
}

impl LexBound {
    fn parse(a: &[u8]) -> Option<LexBound> {
        match a.first()? {
            b'+' if a.len() == 1 => Some(LexBound::Max),
            b'-' if a.len() == 1 => Some(LexBound::Min),
            b'(' => Some(LexBound::At(Bytes::copy_from_slice(&a[1..]), true)),
            b'[' => Some(LexBound::At(Bytes::copy_from_slice(&a[1..]), false)),
            _ => None,
        }
    }

    fn exclusive(&self) -> bool {
        match self {
            LexBound::At(_, ex) => *ex,
            _ => true,
        }
    }

    /// Compares the bound with a member (`-` below everything, `+` above).
    fn cmp_member(&self, m: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            LexBound::Min => Less,
            LexBound::Max => Greater,
            LexBound::At(b, _) => b[..].cmp(m),
        }
    }
}

/// A lex interval.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
        let err = || CmdError::msg("ERR min or max not valid string range item");
        Ok(LexRange {
            min: LexBound::parse(min).ok_or_else(err)?,
            max: LexBound::parse(max).ok_or_else(err)?,
        })
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match self.min.cmp_member(m) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => !self.min.exclusive(),
            std::cmp::Ordering::Greater => false,
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match self.max.cmp_member(m) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => !self.max.exclusive(),
            std::cmp::Ordering::Less => false,
        }
    }

    fn is_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        let c = match (&self.min, &self.max) {
            (LexBound::Min, LexBound::Min) | (LexBound::Max, LexBound::Max) => Equal,
            (LexBound::Min, _) | (_, LexBound::Max) => Less,
            (LexBound::Max, _) | (_, LexBound::Min) => Greater,
            (LexBound::At(a, _), LexBound::At(b, _)) => a.cmp(b),
        };
        c == Greater || (c == Equal && (self.min.exclusive() || self.max.exclusive()))
    }
}

/// A score or lex interval, with the two bound checks the walk needs.
pub(crate) enum Interval {
    Score(ScoreRange),
    Lex(LexRange),
}

impl Interval {
    fn is_empty(&self) -> bool {
        match self {
            Interval::Score(r) => r.is_empty(),
            Interval::Lex(r) => r.is_empty(),
        }
    }

    fn gte_min(&self, e: &(ScoreKey, Bytes)) -> bool {
        match self {
            Interval::Score(r) => r.gte_min(e.0 .0),
            Interval::Lex(r) => r.gte_min(&e.1),
        }
    }

    fn lte_max(&self, e: &(ScoreKey, Bytes)) -> bool {
        match self {
            Interval::Score(r) => r.lte_max(e.0 .0),
            Interval::Lex(r) => r.lte_max(&e.1),
        }
    }

    /// The members in the interval, in walk order (see the module note).
    fn select<'a>(
        &'a self,
        z: &'a ZSet,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = &'a (ScoreKey, Bytes)> + 'a> {
        self.select_from(z, reverse, 0)
    }

    /// Like [`Interval::select`], with `offset` members skipped first the way Redis skips them: from
    /// the first member in range, without checking the range (on sorted data this changes nothing; on
    /// lex ranges over members whose scores differ it is what Redis answers).
    fn select_from<'a>(
        &'a self,
        z: &'a ZSet,
        reverse: bool,
        offset: usize,
    ) -> Box<dyn Iterator<Item = &'a (ScoreKey, Bytes)> + 'a> {
        let (Some(first), Some(last)) = (z.order.first(), z.order.last()) else {
            return Box::new(std::iter::empty());
        };
        if self.is_empty() || !self.gte_min(last) || !self.lte_max(first) {
            return Box::new(std::iter::empty());
        }
        // The walk starts at the first member at or above the minimum (or, in reverse, the last at or
        // below the maximum); if that one is outside the other bound, nothing is in range.
        let from: Box<dyn Iterator<Item = &'a (ScoreKey, Bytes)> + 'a> = if reverse {
            Box::new(z.order.iter().rev().skip_while(|e| !self.lte_max(e)))
        } else if let Interval::Score(r) = self {
            // Sorted by score: start the walk at the minimum instead of the first member.
            Box::new(
                z.order
                    .range((ScoreKey(r.min), Bytes::new())..)
                    .skip_while(|e| !self.gte_min(e)),
            )
        } else {
            Box::new(z.order.iter().skip_while(|e| !self.gte_min(e)))
        };
        let mut from = from.peekable();
        let start_ok = match from.peek() {
            Some(e) => {
                if reverse {
                    self.gte_min(e)
                } else {
                    self.lte_max(e)
                }
            }
            None => false,
        };
        if !start_ok {
            return Box::new(std::iter::empty());
        }
        Box::new(from.skip(offset).take_while(move |e| {
            if reverse {
                self.gte_min(e)
            } else {
                self.lte_max(e)
            }
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and friends
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Redis's zrangeGenericCommand: `start` is the index of the source key; `dst` is ZRANGESTORE's.
fn zrange_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    start: usize,
    dst: Option<&Bytes>,
    mut rtype: RangeType,
    mut reverse: Option<bool>,
) -> CmdResult {
    let store = dst.is_some();
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = start + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j][..];
        if !store && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = arg_i64(&args[j + 1])?;
            limit = arg_i64(&args[j + 2])?;
            j += 2;
        } else if reverse.is_none() && a.eq_ignore_ascii_case(b"rev") {
            reverse = Some(true);
        } else if rtype == RangeType::Auto && a.eq_ignore_ascii_case(b"bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && a.eq_ignore_ascii_case(b"byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&args[start + 1][..], &args[start + 2][..]);
    if reverse && rtype != RangeType::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    enum Sel {
        Rank(i64, i64),
        By(Interval),
    }
    let sel = match rtype {
        RangeType::Score => Sel::By(Interval::Score(ScoreRange::parse(lo, hi)?)),
        RangeType::Lex => Sel::By(Interval::Lex(LexRange::parse(lo, hi)?)),
        _ => Sel::Rank(arg_i64(lo)?, arg_i64(hi)?),
    };
    let key = &args[start];
    let z = get_read(ctx, key)?;
    let th = ctx.core.ks.thresholds;
    let Some(z) = z else {
        match dst {
            Some(d) => super::store_result(ctx, d, ZSet::default(), "zrangestore"),
            None => ctx.out.array(0),
        }
        return Ok(());
    };
    let picked: Vec<&(ScoreKey, Bytes)> = match &sel {
        Sel::Rank(s, e) => {
            let len = z.order.len() as i64;
            let (mut s, mut e) = (*s, *e);
            if s < 0 {
                s += len;
            }
            if e < 0 {
                e += len;
            }
            if s < 0 {
                s = 0;
            }
            if s > e || s >= len {
                Vec::new()
            } else {
                if e >= len {
                    e = len - 1;
                }
                let n = (e - s + 1) as usize;
                if reverse {
                    z.order.iter().rev().skip(s as usize).take(n).collect()
                } else {
                    z.order.iter().skip(s as usize).take(n).collect()
                }
            }
        }
        Sel::By(iv) => {
            if offset > 0 && offset >= z.order.len() as i64 {
                Vec::new()
            } else if offset < 0 {
                // Redis walks a negative offset off the end: nothing is returned.
                Vec::new()
            } else {
                let it = iv.select_from(&z, reverse, offset as usize);
                if limit < 0 {
                    it.collect()
                } else {
                    it.take(limit as usize).collect()
                }
            }
        }
    };
    match dst {
        Some(d) => {
            // Built as Redis builds it: a listpack unless a rank range is already too long, then
            // member by member, so the conversion (and a listpack's -0 → 0) happens where it does.
            let mut res = ZSet {
                listpack: match sel {
                    Sel::Rank(..) => picked.len() <= th.zset_max_listpack_entries,
                    Sel::By(_) => true,
                },
                ..Default::default()
            };
            for (s, m) in &picked {
                zs_set(&mut res, m, s.0, &th);
            }
            super::store_result(ctx, d, res, "zrangestore");
        }
        None => reply_members(
            &mut ctx.out,
            picked.iter().map(|(s, m)| (&m[..], s.0)),
            withscores,
        ),
    }
    Ok(())
}

pub(super) fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Auto, None)
}

pub(super) fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 2, Some(&args[1]), RangeType::Auto, None)
}

pub(super) fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Rank, Some(true))
}

pub(super) fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Some(false))
}

pub(super) fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Some(true))
}

pub(super) fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Some(false))
}

pub(super) fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Some(true))
}

// ---------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------

fn count_generic(ctx: &mut Ctx, args: &[Bytes], iv: Interval) -> CmdResult {
    let n = get_read(ctx, &args[1])?.map_or(0, |z| iv.select(&z, false).count());
    ctx.out.int(n as i64);
    Ok(())
}

pub(super) fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = ScoreRange::parse(&args[2], &args[3])?;
    count_generic(ctx, args, Interval::Score(r))
}

pub(super) fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3])?;
    count_generic(ctx, args, Interval::Lex(r))
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------------------------

/// Removes the chosen members (found on a read-only view first, so that removing nothing leaves the
/// key untouched, as in Redis) and replies with their number.
fn remove_members(ctx: &mut Ctx, key: &[u8], doomed: Vec<Bytes>, event: &'static str) {
    let n = doomed.len();
    if n > 0 {
        with_write(ctx, key, |z| {
            for m in &doomed {
                zs_remove(z, m);
            }
        });
        ctx.core.ks.dirty += n as u64;
        ctx.notify(crate::db::notify::class::ZSET, event, key);
        let db = ctx.db();
        ctx.core.ks.notify_del_if_gone(db, key);
    }
    ctx.out.int(n as i64);
}

fn zremrange_by(ctx: &mut Ctx, args: &[Bytes], iv: Interval) -> CmdResult {
    let Some(z) = get_write_peek(ctx, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let doomed: Vec<Bytes> = iv.select(&z, false).map(|(_, m)| m.clone()).collect();
    drop(z);
    let event = match iv {
        Interval::Score(_) => "zremrangebyscore",
        Interval::Lex(_) => "zremrangebylex",
    };
    remove_members(ctx, &args[1], doomed, event);
    Ok(())
}

pub(super) fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = ScoreRange::parse(&args[2], &args[3])?;
    zremrange_by(ctx, args, Interval::Score(r))
}

pub(super) fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3])?;
    zremrange_by(ctx, args, Interval::Lex(r))
}

pub(super) fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (mut s, mut e) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
    let Some(z) = get_write_peek(ctx, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let len = z.order.len() as i64;
    if s < 0 {
        s += len;
    }
    if e < 0 {
        e += len;
    }
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        ctx.out.int(0);
        return Ok(());
    }
    if e >= len {
        e = len - 1;
    }
    let doomed: Vec<Bytes> = z
        .order
        .iter()
        .skip(s as usize)
        .take((e - s + 1) as usize)
        .map(|(_, m)| m.clone())
        .collect();
    drop(z);
    remove_members(ctx, &args[1], doomed, "zremrangebyrank");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_parse_like_redis() {
        let r = ScoreRange::parse(b"(1.5", b"+inf").unwrap();
        assert!(r.minex && !r.maxex && r.max.is_infinite());
        assert!(
            ScoreRange::parse(b"(", b"1").is_ok(),
            "an empty number is 0 for strtod"
        );
        assert!(ScoreRange::parse(b"nan", b"1").is_err());
        assert!(ScoreRange::parse(b"1x", b"1").is_err());
        assert!(ScoreRange::parse(b"[1", b"2").is_err());
    }

    #[test]
    fn lex_bounds_and_emptiness() {
        assert!(LexRange::parse(b"a", b"+").is_err());
        assert!(LexRange::parse(b"-x", b"+").is_err());
        assert!(LexRange::parse(b"-", b"-").unwrap().is_empty());
        assert!(LexRange::parse(b"+", b"-").unwrap().is_empty());
        assert!(!LexRange::parse(b"-", b"+").unwrap().is_empty());
        assert!(LexRange::parse(b"(a", b"[a").unwrap().is_empty());
        assert!(!LexRange::parse(b"[a", b"[a").unwrap().is_empty());
        let r = LexRange::parse(b"(a", b"[c").unwrap();
        assert!(!r.gte_min(b"a") && r.gte_min(b"aa") && r.lte_max(b"c") && !r.lte_max(b"ca"));
    }
}
