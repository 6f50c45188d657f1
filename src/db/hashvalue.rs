//! [`HashValue`]: the hash type's value, compact at any size.
//!
//! A field and its value live together in one heap block, [`HashPair`] (`[field len][value len]
//! [field][value]`, reached by one pointer). The hash is a dense vector of those pointers in
//! insertion order plus a `hashbrown` table of `u32` positions into it, so a field costs its block,
//! 8 bytes of vector and 5 bytes of index slot, against two `Bytes` handles, two blocks, a stored hash
//! and a `usize` index with `IndexMap<Bytes, Bytes>`.
//!
//! Like Redis, the compact encoding (listpack) is left for good once a write exceeds a threshold
//! ([`HashValue::note_insert`]); a shrinking hash does not go back. Loading (RDB, RESTORE) chooses
//! from the content ([`HashValue::choose_encoding`]).
//!
//! The vector keeps insertion order because a listpack does: Redis returns a small hash's fields
//! (HGETALL, HKEYS, HSCAN, ...) in the order they were first set, and an overwrite keeps the field's
//! place. Removing a field from a listpack-encoded hash therefore preserves the order of the rest
//! ([`HashValue::remove_field`]); a hashtable-encoded one moves its last field into the hole.

use super::value::{FastState, Thresholds};
use hashbrown::HashTable;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::hash::BuildHasher;
use std::ptr::NonNull;
use std::sync::OnceLock;

fn field_hash(f: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE
        .get_or_init(|| foldhash::fast::FixedState::with_seed(super::table::seed() ^ 0x9e37))
        .hash_one(f)
}

/// Lengths that do not fit a `u32` switch the header to two `u64`s (marked by `u32::MAX` twice).
const SMALL_HDR: usize = 8;
const BIG_HDR: usize = 24;

/// One field and its value in a single block.
pub struct HashPair(NonNull<u8>);

// A pair owns its block exclusively, like a `Box<[u8]>`.
unsafe impl Send for HashPair {}
unsafe impl Sync for HashPair {}

impl HashPair {
    fn header(flen: usize, vlen: usize) -> usize {
        if flen < u32::MAX as usize && vlen < u32::MAX as usize {
            SMALL_HDR
        } else {
            BIG_HDR
        }
    }

    fn layout(hdr: usize, flen: usize, vlen: usize) -> Layout {
        let size = hdr
            .checked_add(flen)
            .and_then(|s| s.checked_add(vlen))
            .expect("pair size");
        Layout::from_size_align(size, 8).expect("pair layout")
    }

    pub fn new(field: &[u8], value: &[u8]) -> HashPair {
        let (flen, vlen) = (field.len(), value.len());
        let hdr = Self::header(flen, vlen);
        let layout = Self::layout(hdr, flen, vlen);
        // SAFETY: the layout is at least 8 bytes; everything is written before it is read.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            if hdr == SMALL_HDR {
                (p as *mut u32).write(flen as u32);
                (p.add(4) as *mut u32).write(vlen as u32);
            } else {
                (p as *mut u32).write(u32::MAX);
                (p.add(4) as *mut u32).write(u32::MAX);
                (p.add(8) as *mut u64).write(flen as u64);
                (p.add(16) as *mut u64).write(vlen as u64);
            }
            std::ptr::copy_nonoverlapping(field.as_ptr(), p.add(hdr), flen);
            std::ptr::copy_nonoverlapping(value.as_ptr(), p.add(hdr + flen), vlen);
            HashPair(NonNull::new_unchecked(p))
        }
    }

    /// (header size, field length, value length)
    #[inline]
    fn dims(&self) -> (usize, usize, usize) {
        // SAFETY: the header was written by `new` and the block is 8-aligned.
        unsafe {
            let p = self.0.as_ptr();
            let (f, v) = ((p as *const u32).read(), (p.add(4) as *const u32).read());
            if f == u32::MAX && v == u32::MAX {
                (
                    BIG_HDR,
                    (p.add(8) as *const u64).read() as usize,
                    (p.add(16) as *const u64).read() as usize,
                )
            } else {
                (SMALL_HDR, f as usize, v as usize)
            }
        }
    }

    #[inline]
    pub fn field(&self) -> &[u8] {
        let (hdr, flen, _) = self.dims();
        // SAFETY: the field's bytes follow the header.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(hdr), flen) }
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        let (hdr, flen, vlen) = self.dims();
        // SAFETY: the value's bytes follow the field's.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(hdr + flen), vlen) }
    }

    #[inline]
    pub fn parts(&self) -> (&[u8], &[u8]) {
        (self.field(), self.value())
    }
}

impl Drop for HashPair {
    fn drop(&mut self) {
        let (hdr, flen, vlen) = self.dims();
        // SAFETY: freed once, with the layout it was allocated with.
        unsafe { dealloc(self.0.as_ptr(), Self::layout(hdr, flen, vlen)) }
    }
}

impl Clone for HashPair {
    fn clone(&self) -> Self {
        HashPair::new(self.field(), self.value())
    }
}

impl fmt::Debug for HashPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |s: &[u8]| bytes::Bytes::copy_from_slice(s);
        write!(f, "{:?}: {:?}", b(self.field()), b(self.value()))
    }
}

/// A hash, and whether Redis would still hold it as a listpack.
#[derive(Clone, Default)]
pub struct HashValue {
    /// Insertion order (listpack order while `listpack`).
    entries: Vec<HashPair>,
    /// Positions in `entries`, by field hash.
    index: HashTable<u32>,
    pub listpack: bool,
}

impl fmt::Debug for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashValue")
            .field("entries", &self.entries)
            .field("listpack", &self.listpack)
            .finish()
    }
}

impl HashValue {
    /// An empty hash as HSET creates it (listpack, unless the thresholds forbid even one entry).
    pub fn new_empty(th: &Thresholds) -> Self {
        HashValue {
            listpack: th.hash_max_listpack_entries > 0,
            ..Default::default()
        }
    }

    /// An empty hash with room for `n` fields (loading); its encoding is chosen once it is filled.
    pub fn with_capacity(n: usize) -> Self {
        HashValue {
            entries: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            listpack: false,
        }
    }

    /// The encoding Redis picks when it builds a hash from existing content.
    pub fn choose_encoding(&mut self, th: &Thresholds) {
        self.listpack = self.len() <= th.hash_max_listpack_entries
            && self.iter().all(|(f, v)| {
                f.len() <= th.hash_max_listpack_value && v.len() <= th.hash_max_listpack_value
            });
    }

    /// Builds a hash from pairs (a later duplicate field overwrites the earlier value in place) with
    /// the encoding Redis would pick for that content.
    pub fn from_pairs<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (F, V)>,
        th: &Thresholds,
    ) -> Self {
        let mut h = HashValue::default();
        for (f, v) in pairs {
            h.insert(f, v);
        }
        h.choose_encoding(th);
        h
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, field: &[u8]) -> Option<usize> {
        let e = &self.entries;
        self.index
            .find(field_hash(field), |&i| e[i as usize].field() == field)
            .map(|&i| i as usize)
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.position(field).map(|i| self.entries[i].value())
    }

    pub fn contains_key(&self, field: &[u8]) -> bool {
        self.position(field).is_some()
    }

    /// Sets a field; an existing field keeps its place. Returns true when the field is new.
    pub fn insert(&mut self, field: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> bool {
        let (field, value) = (field.as_ref(), value.as_ref());
        if let Some(i) = self.position(field) {
            self.entries[i] = HashPair::new(field, value);
            return false;
        }
        let i = u32::try_from(self.entries.len()).expect("a hash holds fewer than 2^32 fields");
        let e = &self.entries;
        self.index
            .insert_unique(field_hash(field), i, |&j| field_hash(e[j as usize].field()));
        self.entries.push(HashPair::new(field, value));
        true
    }

    /// Removes a field: order-preserving while listpack-encoded (as a listpack deletion is), a
    /// constant-time swap once it is a hashtable (whose order Redis does not define).
    pub fn remove_field(&mut self, field: &[u8]) -> Option<HashPair> {
        let h = field_hash(field);
        let e = &self.entries;
        let Ok(slot) = self
            .index
            .find_entry(h, |&i| e[i as usize].field() == field)
        else {
            return None;
        };
        let (i, _) = slot.remove();
        let i = i as usize;
        let last = self.entries.len() - 1;
        if self.listpack {
            // Every later field moves down one place.
            for j in self.index.iter_mut() {
                if *j as usize > i {
                    *j -= 1;
                }
            }
            Some(self.entries.remove(i))
        } else {
            if i != last {
                let lh = field_hash(self.entries[last].field());
                if let Some(j) = self.index.find_mut(lh, |&j| j as usize == last) {
                    *j = i as u32;
                }
            }
            Some(self.entries.swap_remove(i))
        }
    }

    /// After inserting a field/value of these lengths: converts to hashtable for good if a limit
    /// was crossed.
    pub fn note_insert(&mut self, field_len: usize, value_len: usize, th: &Thresholds) {
        if self.listpack
            && (self.len() > th.hash_max_listpack_entries
                || field_len > th.hash_max_listpack_value
                || value_len > th.hash_max_listpack_value)
        {
            self.listpack = false;
        }
    }

    /// The field and value at a position (insertion order), for O(1) random picks.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(HashPair::parts)
    }

    /// Fields and values in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> + ExactSizeIterator {
        self.entries.iter().map(HashPair::parts)
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.entries.iter().map(HashPair::field)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.entries.iter().map(HashPair::value)
    }
}

impl<F: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(F, V)> for HashValue {
    fn from_iter<I: IntoIterator<Item = (F, V)>>(iter: I) -> Self {
        HashValue::from_pairs(iter, &Thresholds::default())
    }
}

/// From a map (tests, fixtures): the order is the map's iteration order.
impl From<std::collections::HashMap<bytes::Bytes, bytes::Bytes, FastState>> for HashValue {
    fn from(map: std::collections::HashMap<bytes::Bytes, bytes::Bytes, FastState>) -> Self {
        HashValue::from_pairs(map, &Thresholds::default())
    }
}

impl From<indexmap::IndexMap<bytes::Bytes, bytes::Bytes, FastState>> for HashValue {
    fn from(map: indexmap::IndexMap<bytes::Bytes, bytes::Bytes, FastState>) -> Self {
        HashValue::from_pairs(map, &Thresholds::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_order_and_index() {
        let th = Thresholds::default();
        let mut h = HashValue::new_empty(&th);
        for i in 0..10 {
            assert!(h.insert(format!("f{i}"), format!("v{i}")));
        }
        assert!(!h.insert("f3", "new"));
        assert_eq!(h.get(b"f3"), Some(&b"new"[..]));
        assert!(h.remove_field(b"f0").is_some());
        assert!(h.remove_field(b"f0").is_none());
        let keys: Vec<_> = h
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(keys, ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"]);
        for i in 1..10 {
            assert!(h.contains_key(format!("f{i}").as_bytes()));
        }
        // Hashtable removals swap the last field in; lookups stay right.
        h.listpack = false;
        h.remove_field(b"f2");
        assert_eq!(h.get_index(1), Some((&b"f9"[..], &b"v9"[..])));
        for i in [1, 3, 4, 5, 6, 7, 8, 9] {
            assert!(h.contains_key(format!("f{i}").as_bytes()), "f{i}");
        }
        assert_eq!(h.len(), 8);
        let big = vec![7u8; 100_000];
        h.insert(&big[..], b"x");
        assert_eq!(h.get(&big), Some(&b"x"[..]));
        assert_eq!(std::mem::size_of::<HashPair>(), 8);
    }
}
