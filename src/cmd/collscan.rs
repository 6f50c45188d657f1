//! The cursor walk HSCAN, SSCAN and ZSCAN share.
//!
//! A collection held in a compact encoding (listpack, intset) is returned whole with cursor 0, as
//! Redis does. A large one is walked in hash order: the cursor is a position in hash space (shifted
//! right like SCAN's, so it fits 53 bits), every element whose hash is at or past the cursor is
//! eligible, and each call returns at least COUNT of them. Elements present for the whole iteration
//! are returned at least once; none is returned twice unless the collection changes.

use bytes::Bytes;

use super::{arg_i64, CmdError};
use crate::db::table::KeyHash;

/// Bits dropped from a hash position to make a cursor (the same as SCAN's).
const CURSOR_SHIFT: u32 = 11;

/// Parses a SCAN-family cursor as Redis does (`strtoul`, base 10): an optional sign, then digits; a
/// leading space, trailing garbage or overflow is `ERR invalid cursor`; a negative number wraps, and
/// "" or "-" parse as 0, which Redis accepts.
pub fn parse_cursor(a: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::msg("ERR invalid cursor");
    let (neg, digits) = match a.first() {
        Some(b'-') => (true, &a[1..]),
        Some(b'+') => (false, &a[1..]),
        _ => (false, a),
    };
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The options of SCAN, HSCAN, SSCAN and ZSCAN.
pub struct ScanOptions<'a> {
    pub count: usize,
    /// None for no MATCH or `MATCH *`.
    pub pattern: Option<&'a [u8]>,
    /// SCAN's TYPE filter.
    pub type_filter: Option<&'a [u8]>,
}

/// Parses `COUNT n`, `MATCH pattern` (and `TYPE t` when `allow_type`) from `args[from..]`, with
/// Redis's errors: a COUNT below 1 and anything unknown are `ERR syntax error`.
pub fn parse_options(
    args: &[Bytes],
    from: usize,
    allow_type: bool,
) -> Result<ScanOptions<'_>, CmdError> {
    let mut o = ScanOptions {
        count: 10,
        pattern: None,
        type_filter: None,
    };
    let mut i = from;
    while i < args.len() {
        let more = args.len() - i >= 2;
        let opt = &args[i][..];
        if opt.eq_ignore_ascii_case(b"count") && more {
            let n = arg_i64(&args[i + 1])?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt.eq_ignore_ascii_case(b"match") && more {
            let p = &args[i + 1][..];
            o.pattern = if p == b"*" { None } else { Some(p) };
        } else if allow_type && opt.eq_ignore_ascii_case(b"type") && more {
            o.type_filter = Some(&args[i + 1][..]);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(o)
}

/// One step over `items` (element bytes, payload) from `cursor`. Returns the payloads of the
/// elements visited, in hash order, and the next cursor (0 when the walk is complete).
pub fn step<'a, T>(
    items: impl Iterator<Item = (&'a [u8], T)>,
    cursor: u64,
    count: usize,
) -> (Vec<T>, u64) {
    let start = cursor << CURSOR_SHIFT;
    let mut eligible: Vec<(u64, T)> = items
        .map(|(k, t)| (KeyHash::of(k).pos(), t))
        .filter(|(p, _)| *p >= start)
        .collect();
    let want = count.max(1);
    if eligible.len() > want {
        eligible.select_nth_unstable_by_key(want, |(p, _)| *p);
    }
    eligible.sort_unstable_by_key(|(p, _)| *p);
    let mut out = Vec::new();
    let mut last: Option<u64> = None;
    let mut next = 0;
    for (p, t) in eligible {
        if out.len() >= want && last != Some(p) {
            // The next call starts at this element's cursor bucket (2^11 hash positions wide, so
            // two elements sharing one is vanishingly rare; SCAN may repeat an element anyway).
            next = (p >> CURSOR_SHIFT).max(1);
            break;
        }
        last = Some(p);
        out.push(t);
    }
    (out, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn cursor_parses_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert!(parse_cursor(b"18446744073709551616").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"1x").is_err());
        assert!(parse_cursor(b"1.5").is_err());
        assert_eq!(parse_cursor(b""), Ok(0));
    }

    #[test]
    fn options_parse_like_redis() {
        let a = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect::<Vec<_>>()
        };
        let args = a(&["SCAN", "0", "MATCH", "k*", "COUNT", "5", "TYPE", "set"]);
        let o = parse_options(&args, 2, true).unwrap();
        assert_eq!(
            (o.count, o.pattern, o.type_filter),
            (5, Some(&b"k*"[..]), Some(&b"set"[..]))
        );
        assert!(
            parse_options(&args, 2, false).is_err(),
            "TYPE only for SCAN"
        );
        assert!(parse_options(&a(&["X", "0", "COUNT", "0"]), 2, false).is_err());
        assert!(parse_options(&a(&["X", "0", "COUNT"]), 2, false).is_err());
        assert!(parse_options(&a(&["X", "0", "MATCH", "*"]), 2, false)
            .unwrap()
            .pattern
            .is_none());
    }

    #[test]
    fn walk_returns_every_element_once() {
        let items: Vec<String> = (0..5000).map(|i| format!("member:{i}")).collect();
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let (batch, next) = step(items.iter().map(|s| (s.as_bytes(), s.clone())), cursor, 10);
            calls += 1;
            for m in batch {
                assert!(seen.insert(m), "returned twice");
            }
            if next == 0 {
                break;
            }
            assert!(next >= cursor);
            cursor = next;
        }
        assert_eq!(seen.len(), items.len());
        assert!(calls > 100, "COUNT is honoured roughly: {calls} calls");
    }
}
