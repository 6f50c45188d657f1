//! The segmented hash table behind each database.
//!
//! Extendible hashing: a directory of `2^global_depth` slots points at segments (small insertion-ordered
//! hash maps); the top bits of a key's 64-bit hash pick the slot. A segment that grows past
//! [`SEGMENT_MAX`] splits in two by the next hash bit, touching only its own entries, so the table never
//! rehashes everything at once (no latency spike at a million keys) and a position in hash space stays
//! meaningful across splits. That position is what SCAN cursors and the snapshot cursor hold: "every key
//! whose hash is below this value has been visited".
//!
//! Each segment is an `IndexMap`, which gives O(1) access by index: RANDOMKEY, eviction and active expiry
//! sample a random slot, then a random index.

use bytes::Bytes;
use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
use indexmap::IndexMap;
use rand::Rng;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// Entries per segment before it splits. Small enough that a SCAN step or a split stays in microseconds.
pub const SEGMENT_MAX: usize = 1024;

fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| rand::thread_rng().gen())
}

/// The hasher of keys. Its `finish` rotates the 64-bit hash so the bits that choose the segment (the
/// top ones) are not the bits the segment's own hash map uses for its control bytes, which would
/// otherwise be nearly constant within a segment.
#[derive(Clone, Copy)]
pub struct KeyState(foldhash::fast::FixedState);

impl Default for KeyState {
    fn default() -> Self {
        KeyState(foldhash::fast::FixedState::with_seed(seed()))
    }
}

pub struct KeyHasher(foldhash::fast::FoldHasher);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0.finish().rotate_left(32)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i)
    }
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i)
    }
}

impl BuildHasher for KeyState {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0.build_hasher())
    }
}

/// A key's hash: `map` is what the segment's hash map uses, `pos` is its position in hash space
/// (directory slot = top bits; SCAN order).
#[derive(Clone, Copy, Debug)]
pub struct KeyHash {
    map: u64,
}

impl KeyHash {
    pub fn of(key: &[u8]) -> KeyHash {
        KeyHash {
            map: KeyState::default().hash_one(key),
        }
    }
    #[inline]
    pub fn pos(self) -> u64 {
        self.map.rotate_right(32)
    }
}

type SegMap<V> = IndexMap<Bytes, V, KeyState>;

struct Segment<V> {
    /// How many top hash bits all keys of this segment share.
    depth: u32,
    map: SegMap<V>,
}

/// A hash table of `Bytes` keys split into segments; see the module documentation.
pub struct Table<V> {
    dir: Vec<u32>,
    global_depth: u32,
    segs: Vec<Segment<V>>,
    len: usize,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn slot_of(pos: u64, depth: u32) -> usize {
    if depth == 0 {
        0
    } else {
        (pos >> (64 - depth)) as usize
    }
}

impl<V> Table<V> {
    pub fn new() -> Self {
        Table {
            dir: vec![0],
            global_depth: 0,
            segs: vec![Segment {
                depth: 0,
                map: SegMap::with_hasher(KeyState::default()),
            }],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of segments (for INFO and the snapshot cursor).
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }

    #[inline]
    fn seg_index(&self, h: KeyHash) -> usize {
        self.dir[slot_of(h.pos(), self.global_depth)] as usize
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let h = KeyHash::of(key);
        let seg = &self.segs[self.seg_index(h)];
        seg.map
            .raw_entry_v1()
            .from_hash(h.map, |k| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let h = KeyHash::of(key);
        let si = self.seg_index(h);
        match self.segs[si]
            .map
            .raw_entry_mut_v1()
            .from_hash(h.map, |k| k.as_ref() == key)
        {
            RawEntryMut::Occupied(o) => Some(o.into_mut()),
            RawEntryMut::Vacant(_) => None,
        }
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Bytes, &V)> {
        let h = KeyHash::of(key);
        let seg = &self.segs[self.seg_index(h)];
        seg.map
            .raw_entry_v1()
            .from_hash(h.map, |k| k.as_ref() == key)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Bytes, value: V) -> Option<V> {
        let h = KeyHash::of(&key);
        let si = self.seg_index(h);
        let old = match self.segs[si]
            .map
            .raw_entry_mut_v1()
            .from_hash(h.map, |k| *k == key)
        {
            RawEntryMut::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), value)),
            RawEntryMut::Vacant(v) => {
                v.insert_hashed_nocheck(h.map, key, value);
                None
            }
        };
        if old.is_none() {
            self.len += 1;
            if self.segs[si].map.len() > SEGMENT_MAX {
                self.split(si);
            }
        }
        old
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Bytes, V)> {
        let h = KeyHash::of(key);
        let si = self.seg_index(h);
        match self.segs[si]
            .map
            .raw_entry_mut_v1()
            .from_hash(h.map, |k| k.as_ref() == key)
        {
            RawEntryMut::Occupied(o) => {
                self.len -= 1;
                Some(o.swap_remove_entry())
            }
            RawEntryMut::Vacant(_) => None,
        }
    }

    fn split(&mut self, si: usize) {
        let depth = self.segs[si].depth;
        if depth == self.global_depth {
            // Double the directory: slot i becomes slots 2i and 2i+1, same segments.
            let mut dir = Vec::with_capacity(self.dir.len() * 2);
            for &s in &self.dir {
                dir.push(s);
                dir.push(s);
            }
            self.dir = dir;
            self.global_depth += 1;
        }
        let new_depth = depth + 1;
        let bit = 1u64 << (63 - depth);
        let old = std::mem::replace(
            &mut self.segs[si].map,
            SegMap::with_hasher(KeyState::default()),
        );
        let mut low = SegMap::with_capacity_and_hasher(old.len() / 2 + 16, KeyState::default());
        let mut high = SegMap::with_capacity_and_hasher(old.len() / 2 + 16, KeyState::default());
        for (k, v) in old {
            let h = KeyHash::of(&k);
            let target = if h.pos() & bit != 0 {
                &mut high
            } else {
                &mut low
            };
            if let RawEntryMut::Vacant(e) = target.raw_entry_mut_v1().from_hash(h.map, |_| false) {
                e.insert_hashed_nocheck(h.map, k, v);
            }
        }
        self.segs[si] = Segment {
            depth: new_depth,
            map: low,
        };
        let ni = self.segs.len() as u32;
        self.segs.push(Segment {
            depth: new_depth,
            map: high,
        });
        // Slots of the old segment whose next bit is 1 now point at the new one.
        let g = self.global_depth;
        let slot_bit = 1usize << (g - new_depth);
        for (slot, s) in self.dir.iter_mut().enumerate() {
            if *s as usize == si && slot & slot_bit != 0 {
                *s = ni;
            }
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        *self = Table::new();
    }

    /// A uniformly chosen slot, then a uniformly chosen entry of its segment; `None` when empty.
    pub fn random(&self) -> Option<(&Bytes, &V)> {
        if self.len == 0 {
            return None;
        }
        let mut rng = rand::thread_rng();
        for _ in 0..64 {
            let seg = &self.segs[self.dir[rng.gen_range(0..self.dir.len())] as usize];
            if !seg.map.is_empty() {
                return seg.map.get_index(rng.gen_range(0..seg.map.len()));
            }
        }
        // Very sparse table: walk the segments from a random start.
        let start = rng.gen_range(0..self.segs.len());
        (0..self.segs.len())
            .map(|i| &self.segs[(start + i) % self.segs.len()])
            .find(|s| !s.map.is_empty())
            .and_then(|s| s.map.get_index(rng.gen_range(0..s.map.len())))
    }

    /// One SCAN step from hash position `cursor`: visits keys until at least `count` were
    /// visited (all keys sharing the last hash are included), returns the next cursor, 0 when done.
    /// `visit` is called for every visited entry.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Bytes, &V)) -> u64 {
        let mut pos = cursor;
        let mut visited = 0usize;
        let mut batch: Vec<(u64, usize)> = Vec::new();
        loop {
            let si = self.dir[slot_of(pos, self.global_depth)] as usize;
            let seg = &self.segs[si];
            let span_shift = 64 - seg.depth;
            let start = if seg.depth == 0 {
                0
            } else {
                (pos >> span_shift) << span_shift
            };
            // End of this segment's range; None means the end of hash space.
            let end = if seg.depth == 0 {
                None
            } else {
                start.checked_add(1u64 << span_shift)
            };
            batch.clear();
            for (i, k) in seg.map.keys().enumerate() {
                let p = KeyHash::of(k).pos();
                if p >= pos {
                    batch.push((p, i));
                }
            }
            batch.sort_unstable();
            let want = count.saturating_sub(visited).max(1);
            let mut taken = 0;
            let mut next = end;
            while taken < batch.len() {
                let p = batch[taken].0;
                if taken >= want && batch[taken - 1].0 != p {
                    next = Some(p);
                    break;
                }
                let (k, v) = seg
                    .map
                    .get_index(batch[taken].1)
                    .expect("index from the same map");
                visit(k, v);
                taken += 1;
            }
            visited += taken;
            match next {
                None => return 0,
                Some(n) => {
                    pos = n;
                    if visited >= count {
                        return pos;
                    }
                }
            }
        }
    }

    /// Iterates all entries (for KEYS, DEBUG DIGEST, RDB save).
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> {
        self.segs.iter().flat_map(|s| s.map.iter())
    }

    /// Iterates all entries mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Bytes, &mut V)> {
        self.segs.iter_mut().flat_map(|s| s.map.iter_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn insert_get_remove_across_splits() {
        let mut t = Table::new();
        for i in 0..20_000u32 {
            assert!(t.insert(Bytes::from(format!("key:{i}")), i).is_none());
        }
        assert_eq!(t.len(), 20_000);
        assert!(t.segment_count() > 10);
        for i in 0..20_000u32 {
            assert_eq!(t.get(format!("key:{i}").as_bytes()), Some(&i));
        }
        for i in (0..20_000u32).step_by(2) {
            assert_eq!(
                t.remove(format!("key:{i}").as_bytes()).map(|(_, v)| v),
                Some(i)
            );
        }
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.iter().count(), 10_000);
        assert!(t.get(b"key:0").is_none());
        assert_eq!(t.get(b"key:1"), Some(&1));
    }

    #[test]
    fn scan_visits_every_key_once_even_while_growing() {
        let mut t = Table::new();
        for i in 0..3000u32 {
            t.insert(Bytes::from(format!("k{i}")), i);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut extra = 3000u32;
        loop {
            let mut got = Vec::new();
            cursor = t.scan(cursor, 10, |k, _| {
                got.push(k.clone());
            });
            for k in got {
                assert!(seen.insert(k), "key returned twice");
            }
            // Grow the table between steps: keys present from the start must still all be returned.
            for _ in 0..5 {
                t.insert(Bytes::from(format!("k{extra}")), extra);
                extra += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..3000u32 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn random_finds_keys() {
        let mut t = Table::new();
        assert!(t.random().is_none());
        t.insert(Bytes::from_static(b"only"), 1);
        assert_eq!(
            t.random().map(|(k, _)| k.clone()),
            Some(Bytes::from_static(b"only"))
        );
    }
}
