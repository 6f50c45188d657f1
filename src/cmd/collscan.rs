//! The cursor walk HSCAN, SSCAN and ZSCAN share.
//!
//! A collection held in a compact encoding (listpack, intset) is returned whole with cursor 0, as
//! Redis does. A large one is walked in hash order: the cursor is a position in hash space (shifted
//! right like SCAN's, so it fits 53 bits), every element whose hash is at or past the cursor is
//! eligible, and each call returns at least COUNT of them. Elements present for the whole iteration
//! are returned at least once; none is returned twice unless the collection changes.

use crate::db::table::KeyHash;

/// Bits dropped from a hash position to make a cursor (the same as SCAN's).
const CURSOR_SHIFT: u32 = 11;

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
