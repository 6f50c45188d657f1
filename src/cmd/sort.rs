//! SORT and SORT_RO: sort the elements of a list, set or sorted set, numerically (by default) or
//! lexicographically (`ALPHA`), by the elements themselves or by weights looked up through a `BY`
//! pattern, then page (`LIMIT`), project (`GET` patterns, `#` for the element itself) and either
//! reply or, for SORT, `STORE` the result as a list.
//!
//! Patterns follow Redis: the first `*` is replaced by the element; `key->field` reads a hash field;
//! a pattern without `*` names no key (a `BY` without `*` means "do not sort", a `GET` without `*`
//! yields nil). Weights are parsed as C's `strtod` reads them, up to a NUL byte; one that does not
//! parse (or is NaN, or out of range) fails the whole command with Redis's error.
//!
//! Orders: equal numeric weights fall back to comparing the elements as bytes, so the result is
//! deterministic; ALPHA compares as C strings (Redis's `strcoll` under a C/UTF-8 locale), or as
//! whole byte strings with STORE. The sort is stable, as the C library's merge-sort `qsort` is, so
//! ALPHA ties under a `BY` pattern keep the input order.
//!
//! "Do not sort" (`BY nosort`) keeps a list's order and a sorted set's score order (reversed with
//! DESC, LIMIT applied to that order); a set then comes in its own order, except with STORE, where
//! Redis sorts it ALPHA so that replicas store the same list.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::flags::*;
use super::{arg_i64, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::{Keyspace, Value, NO_EXPIRE};
use crate::util::eq_ic;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, sort)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .acl("@write @set @sortedset @list @slow @dangerous")
        .doc(
            "generic",
            "1.0.0",
            "Sort the elements in a list, set or sorted set",
            SORT_COMPLEXITY,
        ),
    CommandSpec::new("sort_ro", -2, sort_ro)
        .flags(READONLY | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .acl("@read @set @sortedset @list @slow @dangerous")
        .doc(
            "generic",
            "7.0.0",
            "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
            SORT_COMPLEXITY,
        ),
];

const SORT_COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

fn sort(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// The part of a byte string C functions see: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// The options of one SORT call.
#[derive(Default)]
struct SortOptions {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    by: Option<Bytes>,
    /// `BY` with a pattern that has no `*`: the elements are taken in their stored order.
    dontsort: bool,
    store: Option<Bytes>,
    get: Vec<Bytes>,
}

fn parse_options(args: &[Bytes], readonly: bool) -> Result<SortOptions, CmdError> {
    let mut o = SortOptions {
        limit_count: -1,
        ..Default::default()
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if eq_ic(a, "asc") {
            o.desc = false;
        } else if eq_ic(a, "desc") {
            o.desc = true;
        } else if eq_ic(a, "alpha") {
            o.alpha = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            o.limit_start = arg_i64(&args[j + 1])?;
            o.limit_count = arg_i64(&args[j + 2])?;
            j += 2;
        } else if !readonly && eq_ic(a, "store") && left >= 1 {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if eq_ic(a, "by") && left >= 1 {
            let p = &args[j + 1];
            // A constant pattern turns sorting off for good: a later BY with `*` only sets the
            // pattern (Redis's flag is never cleared).
            if !c_str(p).contains(&b'*') {
                o.dontsort = true;
            }
            o.by = Some(p.clone());
            j += 1;
        } else if eq_ic(a, "get") && left >= 1 {
            o.get.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// What a pattern resolves to for one element: `#` is the element itself; otherwise the first `*`
/// is replaced by the element and the key read as a string, or, with `->field`, as a hash field.
/// A pattern without `*`, a missing key or field, or a key of another type gives None.
fn lookup_by_pattern(ks: &mut Keyspace, db: usize, pattern: &[u8], subst: &Bytes) -> Option<Bytes> {
    let cpat = c_str(pattern);
    // Read as a C string, as Redis does: `#` followed by a NUL is `#` too.
    if cpat == b"#" {
        return Some(subst.clone());
    }
    let star = cpat.iter().position(|&c| c == b'*')?;
    // `->` after the `*`, followed by at least one (non-NUL) byte, introduces a hash field.
    let field = cpat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < cpat.len())
        .map(|f| &pattern[f + 2..]);
    let postfix_end = match field {
        Some(f) => pattern.len() - f.len() - 2,
        None => pattern.len(),
    };
    let mut key = Vec::with_capacity(pattern.len() + subst.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    let e = ks.lookup_read(db, &key)?;
    match (field, &e.value) {
        (Some(f), Value::Hash(h)) => h.get(f).map(Bytes::copy_from_slice),
        (None, v) if v.is_string() => v.string_bytes(),
        _ => None,
    }
}

/// Reads a weight as Redis does with `strtod` on the C string: None when nothing or not all of it
/// parses, when it is NaN, or when it is out of a double's range (ERANGE, underflow included).
fn parse_weight(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    let mut tmp = Vec::with_capacity(s.len() + 1);
    tmp.extend_from_slice(s);
    tmp.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: tmp is NUL-terminated and lives across the call; errno is thread-local.
    let (v, consumed, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(tmp.as_ptr() as *const libc::c_char, &mut end);
        let consumed = end as usize - tmp.as_ptr() as usize;
        (v, consumed, *libc::__errno_location() == libc::ERANGE)
    };
    (consumed == s.len() && !erange && !v.is_nan()).then_some(v)
}

/// One element to sort, with its weight.
struct Item {
    obj: Bytes,
    score: f64,
    /// ALPHA with BY: the looked-up weight (None when missing, sorting first).
    cmp: Option<Bytes>,
}

fn sort_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> CmdResult {
    let mut o = parse_options(args, readonly)?;
    let db = ctx.db();
    let ks = &mut ctx.core.ks;

    /// The type of the sorted value (a missing key sorts as an empty list).
    #[derive(PartialEq)]
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let value = match ks.lookup_read(db, &args[1]) {
        None => None,
        Some(e) => match &e.value {
            Value::List(_) | Value::Set(_) | Value::ZSet(_) => Some(e.value.clone()),
            _ => return Err(CmdError::WrongType),
        },
    };
    let kind = match &value {
        Some(Value::Set(_)) => Kind::Set,
        Some(Value::ZSet(_)) => Kind::ZSet,
        _ => Kind::List,
    };
    // Unsorted output of a set would differ between master and replicas: STORE sorts it.
    if o.dontsort && kind == Kind::Set && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let full_len = match &value {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.order.len(),
        _ => 0,
    } as i64;

    // LIMIT, clamped to the value's size as Redis does.
    let mut start = o.limit_start.max(0).min(full_len);
    let limit_count = o.limit_count.max(-1).min(full_len);
    let mut end = if limit_count < 0 {
        full_len - 1
    } else {
        start + limit_count - 1
    };
    if start >= full_len {
        start = full_len - 1;
        end = full_len - 2;
    }
    if end >= full_len {
        end = full_len - 1;
    }

    // Load the elements. Unsorted lists and sorted sets load just the requested range, in their
    // stored order (reversed with DESC).
    let ranged = o.dontsort && kind != Kind::Set;
    let mut vector: Vec<Item> = Vec::new();
    let item = |obj: &Bytes| Item {
        obj: obj.clone(),
        score: 0.0,
        cmp: None,
    };
    if ranged {
        let take = (end - start + 1).max(0) as usize;
        let skip = start.max(0) as usize;
        match &value {
            Some(Value::List(l)) => {
                if o.desc {
                    vector.extend(l.iter().rev().skip(skip).take(take).map(item));
                } else {
                    vector.extend(l.iter().skip(skip).take(take).map(item));
                }
            }
            Some(Value::ZSet(z)) => {
                if o.desc {
                    vector.extend(
                        z.order
                            .iter()
                            .rev()
                            .skip(skip)
                            .take(take)
                            .map(|(_, m)| item(m)),
                    );
                } else {
                    vector.extend(z.order.iter().skip(skip).take(take).map(|(_, m)| item(m)));
                }
            }
            _ => {}
        }
        if end >= start {
            end -= start;
            start = 0;
        }
    } else {
        match &value {
            Some(Value::List(l)) => vector.extend(l.iter().map(item)),
            Some(Value::Set(s)) => vector.extend(s.iter().map(item)),
            Some(Value::ZSet(z)) => vector.extend(z.order.iter().map(|(_, m)| item(m))),
            _ => {}
        }
    }

    let mut conversion_error = false;
    if !o.dontsort {
        for it in vector.iter_mut() {
            let byval = match &o.by {
                Some(p) => match lookup_by_pattern(ks, db, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match parse_weight(&byval) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let (alpha, by, store, desc) = (o.alpha, o.by.is_some(), o.store.is_some(), o.desc);
        // Byte-wise comparison (STORE) or as C strings (Redis's strcoll).
        let text_cmp = |a: &[u8], b: &[u8]| {
            if store {
                a.cmp(b)
            } else {
                c_str(a).cmp(c_str(b))
            }
        };
        vector.sort_by(|a, b| {
            let c = if !alpha {
                if a.score > b.score {
                    Ordering::Greater
                } else if a.score < b.score {
                    Ordering::Less
                } else {
                    a.obj.cmp(&b.obj)
                }
            } else if by {
                match (&a.cmp, &b.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => text_cmp(x, y),
                }
            } else {
                text_cmp(&a.obj, &b.obj)
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }

    let rows = (end - start + 1).max(0) as usize;
    let outputlen = if o.get.is_empty() {
        rows
    } else {
        o.get.len() * rows
    };
    if conversion_error {
        return Err(CmdError::msg(
            "ERR One or more scores can't be converted into double",
        ));
    }
    let selected = if rows == 0 {
        &vector[..0]
    } else {
        let s = start.max(0) as usize;
        &vector[s.min(vector.len())..(s + rows).min(vector.len())]
    };
    match o.store {
        None => {
            ctx.out.array(outputlen);
            for it in selected {
                if o.get.is_empty() {
                    ctx.out.bulk(&it.obj);
                }
                for p in &o.get {
                    match lookup_by_pattern(ks, db, p, &it.obj) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = std::collections::VecDeque::with_capacity(outputlen);
            for it in selected {
                if o.get.is_empty() {
                    list.push_back(it.obj.clone());
                }
                for p in &o.get {
                    list.push_back(lookup_by_pattern(ks, db, p, &it.obj).unwrap_or_default());
                }
            }
            if outputlen > 0 {
                ks.set(
                    db,
                    Bytes::copy_from_slice(&dst),
                    Value::List(Arc::new(list)),
                    NO_EXPIRE,
                );
                ks.dirty += outputlen as u64;
                ks.notify(crate::db::notify::class::LIST, "sortstore", db, &dst);
            } else if ks.remove_entry(db, &dst).is_some() {
                // Even a logically expired key is removed (`del`), as Redis's dbDelete does.
                ks.dirty += 1;
                ks.notify(crate::db::notify::class::GENERIC, "del", db, &dst);
            }
            ctx.out.int(outputlen as i64);
        }
    }
    Ok(())
}

/// The keys of a SORT call for COMMAND GETKEYS(ANDFLAGS) and, later, cluster and ACL checks: the
/// sorted key (`RO access`), and the destination of the last `STORE` (`OW update`). Options are
/// skipped as Redis's key finder skips them (LIMIT 2 arguments, GET and BY 1, anything else none),
/// so `line` is the command line with the name at index 0. SORT_RO has only the sorted key.
pub fn sort_get_keys(line: &[Bytes]) -> Vec<(usize, &'static [&'static str])> {
    let mut keys: Vec<(usize, &'static [&'static str])> = vec![(1, &["RO", "access"])];
    let mut store = None;
    let mut i = 2;
    while i < line.len() {
        let a = &line[i];
        if eq_ic(a, "limit") {
            i += 2;
        } else if eq_ic(a, "get") || eq_ic(a, "by") {
            i += 1;
        } else if eq_ic(a, "store") && i + 1 < line.len() {
            // The destination is looked at again as an option name, as Redis's scan does.
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(pos) = store {
        keys.push((pos, &["OW", "update"]));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn get_keys_finds_the_last_store() {
        let pos = |s: &str| -> Vec<usize> { sort_get_keys(&line(s)).iter().map(|k| k.0).collect() };
        assert_eq!(pos("SORT l"), vec![1]);
        assert_eq!(pos("SORT l STORE d"), vec![1, 3]);
        assert_eq!(pos("SORT l STORE d1 ALPHA store d2"), vec![1, 6]);
        assert_eq!(pos("SORT l GET store BY store LIMIT store store"), vec![1]);
        assert_eq!(pos("SORT l STORE"), vec![1]);
        assert_eq!(pos("SORT l STORE limit 1 2"), vec![1, 3]);
    }

    #[test]
    fn weights_parse_like_strtod() {
        assert_eq!(parse_weight(b"1.5"), Some(1.5));
        assert_eq!(parse_weight(b""), Some(0.0));
        assert_eq!(parse_weight(b" 2"), Some(2.0));
        assert_eq!(parse_weight(b"3\0junk"), Some(3.0));
        assert_eq!(parse_weight(b"0x10"), Some(16.0));
        assert_eq!(parse_weight(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_weight(b"nan"), None);
        assert_eq!(parse_weight(b"1e400"), None);
        assert_eq!(parse_weight(b"1e-400"), None);
        assert_eq!(parse_weight(b"abc"), None);
        assert_eq!(parse_weight(b"1 "), None);
    }

    #[test]
    fn c_strings_stop_at_nul() {
        assert_eq!(c_str(b"ab\0cd"), b"ab");
        assert_eq!(c_str(b"abc"), b"abc");
    }
}
