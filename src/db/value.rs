//! The value types of the keyspace, one per Redis type.
//!
//! Strings are [`Sds`] (one pointer to a length-prefixed block, see [`super::sds`]), or an `i64` when
//! Redis would int-encode them, which also makes INCR cheap. Every variant is one word, so a `Value`
//! is two words: that and the entry's single block are what a million small keys cost.
//! Collections sit behind `Arc` so that a snapshot can hold on to a value with a refcount bump, and a
//! write to a value a snapshot still holds copies it first (`Arc::make_mut`).

pub use super::hashvalue::HashValue;
pub use super::sds::Sds;
use bytes::Bytes;
use indexmap::IndexSet;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

pub type FastState = foldhash::fast::RandomState;

/// Redis's size limit for embstr-encoded strings; longer plain strings are `raw`.
pub const EMBSTR_MAX: usize = 44;

#[derive(Clone, Debug)]
pub enum Value {
    /// A string Redis stores int-encoded (`OBJECT ENCODING` says `int`).
    Int(i64),
    /// A string as written by a whole-value write (SET, GETSET, ...): `embstr` up to 44 bytes.
    Str(Sds),
    /// A string modified in place (APPEND, SETRANGE, SETBIT, ...): always `raw`, as in Redis.
    Raw(Sds),
    List(Arc<VecDeque<Bytes>>),
    Hash(Arc<HashValue>),
    Set(Arc<SetValue>),
    ZSet(Arc<ZSet>),
}

/// Size limits of the compact encodings (`hash-max-listpack-*`, `set-max-intset-entries`,
/// `zset-max-listpack-*`, `list-max-listpack-size`): what OBJECT ENCODING reports, what RDB writes,
/// and how MEMORY USAGE sizes a value. Defaults are Redis 7.0.15's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Bytes per listpack node of a list (`list-max-listpack-size -2` = 8 KiB).
    pub list_node_bytes: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_node_bytes: 8192,
        }
    }
}

/// A set, and whether Redis would still hold it as an intset (Redis 7.0 has no listpack sets).
#[derive(Clone, Debug, Default)]
pub struct SetValue {
    /// Index access gives SPOP/SRANDMEMBER an O(1) random pick (order is not meaningful: removal
    /// swaps the last member into the hole; intset replies are sorted where Redis sorts them).
    pub set: IndexSet<Bytes, FastState>,
    pub intset: bool,
}

impl SetValue {
    /// The encoding Redis picks when it builds a set from existing content.
    pub fn from_set(set: IndexSet<Bytes, FastState>, th: &Thresholds) -> Self {
        let intset = set.len() <= th.set_max_intset_entries
            && set.iter().all(|m| crate::util::parse_i64(m).is_some());
        SetValue { set, intset }
    }

    /// An empty set as SADD creates it for its first member.
    pub fn new_for(first: &[u8], th: &Thresholds) -> Self {
        SetValue {
            set: IndexSet::default(),
            intset: th.set_max_intset_entries > 0 && crate::util::parse_i64(first).is_some(),
        }
    }

    /// Removes a member (O(1): the last member takes its slot); returns whether it was there.
    pub fn remove_member(&mut self, member: &[u8]) -> bool {
        self.set.swap_remove(member)
    }

    /// A member by position, for O(1) random picks.
    pub fn member_at(&self, i: usize) -> Option<&Bytes> {
        self.set.get_index(i)
    }

    /// After inserting `member`: converts to hashtable for good if it is not an integer or the set
    /// grew past the limit.
    pub fn note_insert(&mut self, member: &[u8], th: &Thresholds) {
        if self.intset
            && (self.set.len() > th.set_max_intset_entries
                || crate::util::parse_i64(member).is_none())
        {
            self.intset = false;
        }
    }
}

impl std::ops::Deref for SetValue {
    type Target = IndexSet<Bytes, FastState>;
    fn deref(&self) -> &Self::Target {
        &self.set
    }
}

impl std::ops::DerefMut for SetValue {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.set
    }
}

impl From<HashSet<Bytes, FastState>> for SetValue {
    fn from(set: HashSet<Bytes, FastState>) -> Self {
        SetValue::from_set(set.into_iter().collect(), &Thresholds::default())
    }
}

impl FromIterator<Bytes> for SetValue {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        SetValue::from_set(iter.into_iter().collect(), &Thresholds::default())
    }
}

/// A sorted set: member → score, plus the (score, member) order, and whether Redis would still hold
/// it as a listpack (left for good once a limit is crossed, as for hashes).
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    pub scores: HashMap<Bytes, f64, FastState>,
    pub order: BTreeSet<(ScoreKey, Bytes)>,
    pub listpack: bool,
}

impl ZSet {
    /// An empty sorted set as ZADD creates it for a first member of this length.
    pub fn new_for(first_len: usize, th: &Thresholds) -> Self {
        ZSet {
            listpack: th.zset_max_listpack_entries > 0 && first_len <= th.zset_max_listpack_value,
            ..Default::default()
        }
    }

    /// Sets the encoding from the content (loading).
    pub fn choose_encoding(&mut self, th: &Thresholds) {
        self.listpack = self.scores.len() <= th.zset_max_listpack_entries
            && self
                .scores
                .keys()
                .all(|m| m.len() <= th.zset_max_listpack_value);
    }

    /// After inserting a member of this length: converts to skiplist for good past a limit.
    pub fn note_insert(&mut self, member_len: usize, th: &Thresholds) {
        if self.listpack
            && (self.scores.len() > th.zset_max_listpack_entries
                || member_len > th.zset_max_listpack_value)
        {
            self.listpack = false;
        }
    }
}

/// A total order on scores (NaN never enters a sorted set).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreKey(pub f64);

impl Eq for ScoreKey {}
impl PartialOrd for ScoreKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ScoreKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // -0 and 0 tie (members then decide), as in Redis's skiplist and listpack.
        if self.0 == other.0 {
            std::cmp::Ordering::Equal
        } else {
            self.0.total_cmp(&other.0)
        }
    }
}

impl Value {
    /// Recomputes the compact-encoding flags from the content, as Redis does when it loads a value
    /// (RDB, RESTORE) under the current thresholds.
    pub fn choose_encoding(&mut self, th: &Thresholds) {
        match self {
            Value::Hash(h) => Arc::make_mut(h).choose_encoding(th),
            Value::Set(s) => {
                let s = Arc::make_mut(s);
                let set = std::mem::take(&mut s.set);
                *s = SetValue::from_set(set, th);
            }
            Value::ZSet(z) => Arc::make_mut(z).choose_encoding(th),
            _ => {}
        }
    }

    /// Builds a string value the way Redis's SET does: int-encoded when the bytes are a canonical i64.
    pub fn string(b: impl AsRef<[u8]>) -> Value {
        let b = b.as_ref();
        if b.len() <= 20 {
            if let Some(i) = crate::util::parse_i64(b) {
                return Value::Int(i);
            }
        }
        Value::Str(Sds::from_slice(b))
    }

    /// The type name TYPE prints.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str(_) | Value::Raw(_))
    }

    /// The bytes of a string value (allocates only for int-encoded strings).
    pub fn string_bytes(&self) -> Option<Bytes> {
        match self {
            Value::Int(i) => Some(Bytes::copy_from_slice(
                itoa::Buffer::new().format(*i).as_bytes(),
            )),
            Value::Str(b) | Value::Raw(b) => Some(b.to_bytes()),
            _ => None,
        }
    }

    /// Length in bytes of a string value.
    pub fn string_len(&self) -> Option<usize> {
        match self {
            Value::Int(i) => Some(itoa::Buffer::new().format(*i).len()),
            Value::Str(b) | Value::Raw(b) => Some(b.len()),
            _ => None,
        }
    }
}

// A value is two words; an entry (value, expiry, version, LRU clock) five. Growing either costs a
// million-key dataset that many bytes per key (see docs/BENCHMARKS.md, memory).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Value>() == 16);

/// Redis 7.0.15's default encoding thresholds, as the real server reports them
/// (`hash-max-listpack-entries` 512, `...-value` 64, `set-max-intset-entries` 512,
/// `zset-max-listpack-entries` 128, `...-value` 64).
pub const HASH_LISTPACK_MAX_ENTRIES: usize = 512;
pub const LISTPACK_MAX_ENTRIES: usize = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;
pub const INTSET_MAX_ENTRIES: usize = 512;

impl Value {
    /// The encoding OBJECT ENCODING reports: lists are always `quicklist` in Redis 7.0; hashes,
    /// sets and sorted sets carry their (sticky) compact-encoding flag.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(b) if b.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
            Value::List(_) => "quicklist",
            Value::Hash(h) => {
                if h.listpack {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::Set(s) => {
                if s.intset {
                    "intset"
                } else {
                    "hashtable"
                }
            }
            Value::ZSet(z) => {
                if z.listpack {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_encodings_are_left_for_good() {
        let th = Thresholds {
            hash_max_listpack_entries: 2,
            zset_max_listpack_entries: 2,
            set_max_intset_entries: 2,
            ..Default::default()
        };
        let mut h = HashValue::new_empty(&th);
        for (i, f) in ["a", "b", "c"].iter().enumerate() {
            h.insert(f, "v");
            h.note_insert(1, 1, &th);
            assert_eq!(h.listpack, i < 2, "after {} fields", i + 1);
        }
        h.remove_field(b"c");
        h.note_insert(0, 0, &th);
        assert!(
            !h.listpack,
            "a shrinking hash stays a hashtable, as in Redis"
        );
        assert!(
            HashValue::from_pairs(h.iter(), &th).listpack,
            "loading picks from the content"
        );

        let mut s = SetValue::new_for(b"1", &th);
        s.insert(Bytes::from("1"));
        s.note_insert(b"1", &th);
        assert!(s.intset);
        s.insert(Bytes::from("x"));
        s.note_insert(b"x", &th);
        assert!(!s.intset);
        s.remove_member(b"x");
        assert!(!s.intset);

        let mut z = ZSet::new_for(70, &th);
        assert!(
            !z.listpack,
            "a first member longer than the value limit starts as a skiplist"
        );
        z = ZSet::new_for(3, &th);
        assert!(z.listpack);
        z.scores.insert(Bytes::from("m"), 1.0);
        z.note_insert(65, &th);
        assert!(!z.listpack);
    }
}
