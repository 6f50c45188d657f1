//! The multi-key algebra of the sorted set family: ZUNION, ZINTER, ZDIFF, their STORE forms, and
//! ZINTERCARD. Plain sets are accepted as inputs, every member scoring 1.
//!
//! Inputs are taken in the order Redis takes them (union and intersection sort them by size, stably,
//! before aggregating), because float sums depend on the order: `inf + -inf` is NaN, which Redis turns
//! into 0 at each step.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

use super::{reply_members, store_result, zs_from_pairs};

use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::db::value::{FastState, SetValue, Value, ZSet};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input: a sorted set, a set (scores 1), or a missing key (empty).
enum Src {
    Missing,
    Z(Arc<ZSet>),
    S(Arc<SetValue>),
}

struct Input {
    /// The key as named, so the same key given twice is recognised (Redis compares the objects).
    key: Bytes,
    src: Src,
    weight: f64,
}

impl Input {
    fn len(&self) -> usize {
        match &self.src {
            Src::Missing => 0,
            Src::Z(z) => z.scores.len(),
            Src::S(s) => s.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&Bytes, f64) -> bool) {
        match &self.src {
            Src::Missing => {}
            Src::Z(z) => {
                for (m, s) in z.scores.iter() {
                    if !f(m, *s) {
                        return;
                    }
                }
            }
            Src::S(s) => {
                for m in s.iter() {
                    if !f(m, 1.0) {
                        return;
                    }
                }
            }
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match &self.src {
            Src::Missing => None,
            Src::Z(z) => z.scores.get(m).copied(),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn same_key(&self, other: &Input) -> bool {
        !matches!(self.src, Src::Missing) && self.key == other.key
    }
}

/// Redis's zunionInterDiffGenericCommand. `numkeys_idx` is where `numkeys` sits; `dst` is the
/// destination of the STORE forms; `card_only` is ZINTERCARD.
fn generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    dst: Option<&Bytes>,
    numkeys_idx: usize,
    op: Op,
    card_only: bool,
) -> CmdResult {
    let setnum = crate::cmd::arg_i64(&args[numkeys_idx])?;
    if setnum < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if setnum > (args.len() - (numkeys_idx + 1)) as i64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    let mut inputs = Vec::with_capacity(setnum);
    let db = ctx.db();
    for key in &args[numkeys_idx + 1..numkeys_idx + 1 + setnum] {
        let src = match ctx.core.ks.lookup_read(db, key) {
            None => Src::Missing,
            Some(e) => match &e.value {
                Value::ZSet(z) => Src::Z(z.clone()),
                Value::Set(s) => Src::S(s.clone()),
                _ => return Err(CmdError::WrongType),
            },
        };
        inputs.push(Input {
            key: key.clone(),
            src,
            weight: 1.0,
        });
    }
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j][..];
        if op != Op::Diff && !card_only && remaining > setnum && a.eq_ignore_ascii_case(b"weights")
        {
            j += 1;
            for inp in inputs.iter_mut() {
                inp.weight = crate::util::parse_f64(&args[j])
                    .ok_or_else(|| CmdError::msg("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if op != Op::Diff
            && !card_only
            && remaining >= 2
            && a.eq_ignore_ascii_case(b"aggregate")
        {
            let v = &args[j + 1][..];
            how = if v.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if v.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if v.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && a.eq_ignore_ascii_case(b"limit") {
            limit = match crate::util::parse_i64(&args[j + 1]) {
                Some(n) if n >= 0 => n,
                _ => return Err(CmdError::msg("ERR LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if op != Op::Diff {
        inputs.sort_by_key(|i| i.len());
    }

    let mut result: HashMap<Bytes, f64, FastState> = HashMap::default();
    let mut cardinality: i64 = 0;
    match op {
        Op::Inter => {
            if inputs[0].len() > 0 {
                let first = &inputs[0];
                first.for_each(|m, s0| {
                    let mut score = first.weight * s0;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for other in &inputs[1..] {
                        let v = if other.same_key(first) {
                            Some(s0)
                        } else {
                            other.score(m)
                        };
                        match v {
                            Some(v) => aggregate(&mut score, v * other.weight, how),
                            None => return true,
                        }
                    }
                    if card_only {
                        cardinality += 1;
                        return !(limit > 0 && cardinality >= limit);
                    }
                    result.insert(m.clone(), score);
                    true
                });
            }
        }
        Op::Union => {
            for inp in &inputs {
                inp.for_each(|m, s| {
                    let mut score = inp.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match result.get_mut(&m[..]) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            result.insert(m.clone(), score);
                        }
                    }
                    true
                });
            }
        }
        Op::Diff => {
            let first = &inputs[0];
            let n0 = first.len();
            let identical = inputs[1..].iter().any(|i| i.same_key(first));
            if n0 > 0 && !identical {
                first.for_each(|m, s| {
                    if inputs[1..].iter().all(|o| o.score(m).is_none()) {
                        result.insert(m.clone(), s);
                    }
                    true
                });
            }
        }
    }

    if card_only {
        ctx.out.int(cardinality);
        return Ok(());
    }
    let th = ctx.core.ks.thresholds;
    let z = zs_from_pairs(result, &th);
    match dst {
        // propagate: as the command itself.
        Some(d) => {
            let event = match op {
                Op::Union => "zunionstore",
                Op::Inter => "zinterstore",
                Op::Diff => "zdiffstore",
            };
            store_result(ctx, d, z, event)
        }
        None => reply_members(
            &mut ctx.out,
            z.order.iter().map(|(s, m)| (&m[..], s.0)),
            withscores,
        ),
    }
    Ok(())
}

pub(super) fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, None, 1, Op::Union, false)
}

pub(super) fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, None, 1, Op::Inter, false)
}

pub(super) fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, None, 1, Op::Diff, false)
}

pub(super) fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, None, 1, Op::Inter, true)
}

pub(super) fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, Some(&args[1]), 2, Op::Union, false)
}

pub(super) fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, Some(&args[1]), 2, Op::Inter, false)
}

pub(super) fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, Some(&args[1]), 2, Op::Diff, false)
}
