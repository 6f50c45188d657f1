//! The segmented hash table behind each database.
//!
//! Extendible hashing: a directory of `2^global_depth` slots points at segments (small hash
//! tables); the top bits of a key's 64-bit hash pick the slot. A segment that grows past
//! [`SEGMENT_MAX`] splits in two by the next hash bit, touching only its own entries, so the table never
//! rehashes everything at once (no latency spike at a million keys) and a position in hash space stays
//! meaningful across splits. That position is what SCAN cursors and the snapshot cursor hold: "every key
//! whose hash is below this value has been visited".
//!
//! Each segment is a `hashbrown::HashTable` of one-pointer slots; each slot points at a single heap
//! block holding the entry's value and its key's bytes (see `Node`). Per key that is 8 bytes of slot
//! plus a control byte, at 44–87.5% load, and one allocation: no ordered side vector, no `Bytes`
//! handle, no separate key block. The table's bucket index gives RANDOMKEY, eviction and active
//! expiry a cheap random pick: a random slot of the directory, then a random bucket of its segment.

use bytes::Bytes;
use hashbrown::HashTable;
use rand::Rng;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::OnceLock;

/// Entries per segment at which it splits: small enough that a SCAN step or a split stays in
/// microseconds, and exactly the capacity of a 1024-bucket table, so a segment splits when its
/// slots are 87.5% full instead of first doubling them.
pub const SEGMENT_MAX: usize = 896;

pub(crate) fn seed() -> u64 {
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

/// One entry: a single heap block holding the value, the key's length and the key's bytes, reached
/// through one pointer. A million keys thus cost one allocation each (plus whatever the value itself
/// allocates) and 8 bytes of hash-table slot, instead of a `Bytes` handle and a separate key block.
struct Node<V>(NonNull<Header<V>>, PhantomData<V>);

#[repr(C)]
struct Header<V> {
    value: V,
    klen: usize,
}

// A node owns its block exclusively, like a `Box`.
unsafe impl<V: Send> Send for Node<V> {}
unsafe impl<V: Sync> Sync for Node<V> {}

impl<V> Node<V> {
    /// The key's bytes follow the header.
    const KEY_OFF: usize = std::mem::size_of::<Header<V>>();

    fn layout(klen: usize) -> Layout {
        Layout::from_size_align(Self::KEY_OFF + klen, std::mem::align_of::<Header<V>>())
            .expect("key length fits a layout")
    }

    fn new(key: &[u8], value: V) -> Self {
        let layout = Self::layout(key.len());
        // SAFETY: the layout is non-empty; the header and the key are written before any read.
        unsafe {
            let p = alloc(layout) as *mut Header<V>;
            if p.is_null() {
                handle_alloc_error(layout);
            }
            p.write(Header {
                value,
                klen: key.len(),
            });
            std::ptr::copy_nonoverlapping(
                key.as_ptr(),
                (p as *mut u8).add(Self::KEY_OFF),
                key.len(),
            );
            Node(NonNull::new_unchecked(p), PhantomData)
        }
    }

    #[inline]
    fn key(&self) -> &[u8] {
        // SAFETY: the block holds `klen` key bytes at KEY_OFF for as long as the node lives.
        unsafe {
            let p = self.0.as_ptr();
            std::slice::from_raw_parts((p as *const u8).add(Self::KEY_OFF), (*p).klen)
        }
    }

    #[inline]
    fn value(&self) -> &V {
        // SAFETY: the header is initialised for the node's lifetime.
        unsafe { &(*self.0.as_ptr()).value }
    }

    #[inline]
    fn value_mut(&mut self) -> &mut V {
        // SAFETY: as `value`, and `&mut self` makes the access exclusive.
        unsafe { &mut (*self.0.as_ptr()).value }
    }

    #[inline]
    fn parts_mut(&mut self) -> (&[u8], &mut V) {
        // SAFETY: the key bytes and the value are disjoint parts of the block.
        unsafe {
            let p = self.0.as_ptr();
            let key = std::slice::from_raw_parts((p as *const u8).add(Self::KEY_OFF), (*p).klen);
            (key, &mut (*p).value)
        }
    }

    /// Takes the value out and frees the block.
    fn into_value(self) -> V {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: the value is moved out exactly once, then the block is freed without dropping it.
        unsafe {
            let value = std::ptr::read(&(*p).value);
            dealloc(p as *mut u8, Self::layout((*p).klen));
            value
        }
    }

    #[inline]
    fn hash(&self) -> KeyHash {
        KeyHash::of(self.key())
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        let p = self.0.as_ptr();
        // SAFETY: the value is dropped once, then the block is freed with the layout it had.
        unsafe {
            let layout = Self::layout((*p).klen);
            std::ptr::drop_in_place(&mut (*p).value);
            dealloc(p as *mut u8, layout);
        }
    }
}

type SegMap<V> = HashTable<Node<V>>;

struct Segment<V> {
    /// How many top hash bits all keys of this segment share.
    depth: u32,
    map: SegMap<V>,
}

/// A hash table of byte-string keys split into segments; see the module documentation.
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

#[inline]
fn rehash<V>(n: &Node<V>) -> u64 {
    n.hash().map
}

impl<V> Table<V> {
    pub fn new() -> Self {
        Table {
            dir: vec![0],
            global_depth: 0,
            segs: vec![Segment {
                depth: 0,
                map: SegMap::new(),
            }],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Shapes an empty table for about `n` keys (a load that knows its size beforehand): as many
    /// segments as filling it would have split it into, each with room for its share, so the load
    /// neither splits segments nor regrows their maps. Does nothing to a table holding keys.
    pub fn presize(&mut self, n: usize) {
        // Filled to three quarters of SEGMENT_MAX on average, a segment's share stays below it.
        let per = SEGMENT_MAX * 3 / 4;
        if self.len != 0 || self.segs.len() != 1 || n <= per {
            return;
        }
        let count = n.div_ceil(per).next_power_of_two();
        let depth = count.trailing_zeros();
        let share = n / count;
        let cap = (share + share / 4 + 16).min(SEGMENT_MAX);
        self.dir = (0..count as u32).collect();
        self.global_depth = depth;
        self.segs = (0..count)
            .map(|_| Segment {
                depth,
                map: SegMap::with_capacity(cap),
            })
            .collect();
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
        self.get_key_value(key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let h = KeyHash::of(key);
        let si = self.seg_index(h);
        self.segs[si]
            .map
            .find_mut(h.map, |n| n.key() == key)
            .map(|n| n.value_mut())
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&[u8], &V)> {
        let h = KeyHash::of(key);
        let seg = &self.segs[self.seg_index(h)];
        seg.map
            .find(h.map, |n| n.key() == key)
            .map(|n| (n.key(), n.value()))
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value. The key's bytes are copied into the entry.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: V) -> Option<V> {
        let key = key.as_ref();
        let h = KeyHash::of(key);
        let si = self.seg_index(h);
        let map = &mut self.segs[si].map;
        if let Some(n) = map.find_mut(h.map, |n| n.key() == key) {
            return Some(std::mem::replace(n.value_mut(), value));
        }
        map.insert_unique(h.map, Node::new(key, value), rehash);
        self.len += 1;
        if self.segs[si].map.len() >= SEGMENT_MAX {
            self.split(si);
        }
        None
    }

    /// Inserts a key that must not be there yet, with one probe; gives the value back when the key
    /// exists (the caller decides whether that is an error).
    pub fn insert_new(&mut self, key: &[u8], value: V) -> Result<(), V> {
        let h = KeyHash::of(key);
        let si = self.seg_index(h);
        let map = &mut self.segs[si].map;
        match map.entry(h.map, |n| n.key() == key, rehash) {
            hashbrown::hash_table::Entry::Occupied(_) => return Err(value),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Node::new(key, value));
            }
        }
        self.len += 1;
        if self.segs[si].map.len() >= SEGMENT_MAX {
            self.split(si);
        }
        Ok(())
    }

    /// Removes a key; returns it (copied out of the entry) with its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<(Bytes, V)> {
        let h = KeyHash::of(key);
        let si = self.seg_index(h);
        let map = &mut self.segs[si].map;
        let Ok(o) = map.find_entry(h.map, |n| n.key() == key) else {
            return None;
        };
        let (node, _) = o.remove();
        self.len -= 1;
        // Give memory back once a segment is mostly empty (segments never merge).
        if map.capacity() > 64 && map.len() * 4 < map.capacity() {
            map.shrink_to(map.len() * 2, rehash);
        }
        let k = Bytes::copy_from_slice(node.key());
        Some((k, node.into_value()))
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
        let mut old = std::mem::take(&mut self.segs[si].map);
        // Each half gets exactly what it holds: the table sizes itself as it grows, so a segment's
        // slots stay between 44% and 87.5% full.
        let mut low = SegMap::with_capacity(old.len() / 2);
        let mut high = SegMap::with_capacity(old.len() / 2);
        for n in old.drain() {
            let h = n.hash();
            let target = if h.pos() & bit != 0 {
                &mut high
            } else {
                &mut low
            };
            target.insert_unique(h.map, n, rehash);
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

    /// A random occupied slot of a segment, probing onwards from a random bucket.
    fn random_in<'a>(seg: &'a Segment<V>, rng: &mut impl Rng) -> Option<(&'a [u8], &'a V)> {
        let nb = seg.map.num_buckets();
        if seg.map.is_empty() || nb == 0 {
            return None;
        }
        let start = rng.gen_range(0..nb);
        (0..nb)
            .find_map(|i| seg.map.get_bucket((start + i) % nb))
            .map(|n| (n.key(), n.value()))
    }

    /// A uniformly chosen slot, then a random entry of its segment; `None` when empty. (Entries
    /// after a run of empty buckets are a little more likely, as with any open-addressing pick.)
    pub fn random(&self) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        let mut rng = rand::thread_rng();
        for _ in 0..64 {
            let seg = &self.segs[self.dir[rng.gen_range(0..self.dir.len())] as usize];
            if let Some(e) = Self::random_in(seg, &mut rng) {
                return Some(e);
            }
        }
        // Very sparse table: walk the segments from a random start.
        let start = rng.gen_range(0..self.segs.len());
        (0..self.segs.len())
            .map(|i| &self.segs[(start + i) % self.segs.len()])
            .find_map(|s| Self::random_in(s, &mut rng))
    }

    /// One SCAN step from hash position `cursor`: visits keys until at least `count` were
    /// visited (all keys sharing the last hash are included), returns the next cursor, 0 when done.
    /// `visit` is called for every visited entry.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        let mut pos = cursor;
        let mut visited = 0usize;
        let mut batch: Vec<(u64, &Node<V>)> = Vec::new();
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
            for n in seg.map.iter() {
                let p = n.hash().pos();
                if p >= pos {
                    batch.push((p, n));
                }
            }
            batch.sort_unstable_by_key(|&(p, _)| p);
            let want = count.saturating_sub(visited).max(1);
            let mut taken = 0;
            let mut next = end;
            while taken < batch.len() {
                let (p, n) = batch[taken];
                if taken >= want && batch[taken - 1].0 != p {
                    next = Some(p);
                    break;
                }
                visit(n.key(), n.value());
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
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.segs
            .iter()
            .flat_map(|s| s.map.iter().map(|n| (n.key(), n.value())))
    }

    /// Iterates all entries mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut V)> {
        self.segs
            .iter_mut()
            .flat_map(|s| s.map.iter_mut().map(|n| n.parts_mut()))
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
    fn a_presized_table_fills_without_splitting() {
        let mut t: Table<u32> = Table::new();
        t.presize(100_000);
        let segs = t.segment_count();
        assert!(segs >= 100_000 / SEGMENT_MAX, "{segs} segments");
        for i in 0..100_000u32 {
            assert!(t.insert_new(format!("key:{i}").as_bytes(), i).is_ok());
        }
        assert_eq!(t.segment_count(), segs, "no split while filling");
        assert_eq!(t.len(), 100_000);
        assert!(t.insert_new(b"key:7", 0).is_err());
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = t.scan(cursor, 1000, |k, _| assert!(seen.insert(k.to_vec())));
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100_000);
        // More keys than announced still fit: segments split as usual.
        for i in 100_000..400_000u32 {
            assert!(t.insert_new(format!("key:{i}").as_bytes(), i).is_ok());
        }
        assert!(t.segment_count() > segs);
        assert_eq!(t.get(b"key:150000"), Some(&150_000));
        // A table that holds keys keeps its shape.
        let mut u: Table<u32> = Table::new();
        u.insert_new(b"a", 1).unwrap();
        u.presize(100_000);
        assert_eq!(u.segment_count(), 1);
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
                got.push(k.to_vec());
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
    fn sparse_tables_shrink_and_still_pick_and_iterate() {
        let mut t = Table::new();
        for i in 0..50_000u32 {
            t.insert(format!("key:{i}").as_bytes(), i);
        }
        for i in 10..50_000u32 {
            assert_eq!(
                t.remove(format!("key:{i}").as_bytes()).map(|(_, v)| v),
                Some(i)
            );
        }
        assert_eq!(t.len(), 10);
        for _ in 0..100 {
            let (k, v) = t.random().expect("non-empty");
            assert_eq!(k, format!("key:{v}").as_bytes());
            assert!(*v < 10);
        }
        for (_, v) in t.iter_mut() {
            *v += 100;
        }
        let mut got: Vec<u32> = t.iter().map(|(_, v)| *v).collect();
        got.sort();
        assert_eq!(got, (100..110).collect::<Vec<_>>());
        // Replacing keeps one entry; the old value comes back.
        assert_eq!(t.insert(b"key:3", 7), Some(103));
        assert_eq!(t.len(), 10);
        assert_eq!(t.get_key_value(b"key:3"), Some((&b"key:3"[..], &7)));
    }

    #[test]
    fn random_finds_keys() {
        let mut t = Table::new();
        assert!(t.random().is_none());
        t.insert(Bytes::from_static(b"only"), 1);
        assert_eq!(t.random().map(|(k, _)| k.to_vec()), Some(b"only".to_vec()));
    }
}
