//! The value types of the keyspace, one per Redis type.
//!
//! Strings are `Bytes` (or an `i64` when Redis would int-encode them, which also makes INCR cheap).
//! Collections sit behind `Arc` so that a snapshot can hold on to a value with a refcount bump, and a
//! write to a value a snapshot still holds copies it first (`Arc::make_mut`).

use bytes::Bytes;
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
    Str(Bytes),
    /// A string modified in place (APPEND, SETRANGE, SETBIT, ...): always `raw`, as in Redis.
    Raw(Bytes),
    List(Arc<VecDeque<Bytes>>),
    Hash(Arc<HashMap<Bytes, Bytes, FastState>>),
    Set(Arc<HashSet<Bytes, FastState>>),
    ZSet(Arc<ZSet>),
}

/// A sorted set: member → score, plus the (score, member) order.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    pub scores: HashMap<Bytes, f64, FastState>,
    pub order: BTreeSet<(ScoreKey, Bytes)>,
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
        self.0.total_cmp(&other.0)
    }
}

impl Value {
    /// Builds a string value the way Redis's SET does: int-encoded when the bytes are a canonical i64.
    pub fn string(b: Bytes) -> Value {
        if b.len() <= 20 {
            if let Some(i) = crate::util::parse_i64(&b) {
                return Value::Int(i);
            }
        }
        Value::Str(b)
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
            Value::Str(b) | Value::Raw(b) => Some(b.clone()),
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

/// Redis 7.0.15's default encoding thresholds, as the real server reports them
/// (`hash-max-listpack-entries` 512, `...-value` 64, `set-max-intset-entries` 512,
/// `zset-max-listpack-entries` 128, `...-value` 64).
pub const HASH_LISTPACK_MAX_ENTRIES: usize = 512;
pub const LISTPACK_MAX_ENTRIES: usize = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;
pub const INTSET_MAX_ENTRIES: usize = 512;

impl Value {
    /// The encoding OBJECT ENCODING reports, as Redis 7.0 with its default thresholds would have it
    /// for this content: lists are always `quicklist`; small hashes and sorted sets are `listpack`;
    /// sets of integers are `intset`. (Redis never converts back to the compact encoding when a value
    /// shrinks; that history is not tracked here.)
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(b) if b.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
            Value::List(_) => "quicklist",
            Value::Hash(h) => {
                if h.len() <= HASH_LISTPACK_MAX_ENTRIES
                    && h.iter().all(|(f, v)| {
                        f.len() <= LISTPACK_MAX_VALUE && v.len() <= LISTPACK_MAX_VALUE
                    })
                {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::Set(s) => {
                if s.len() <= INTSET_MAX_ENTRIES
                    && s.iter().all(|m| crate::util::parse_i64(m).is_some())
                {
                    "intset"
                } else {
                    "hashtable"
                }
            }
            Value::ZSet(z) => {
                if z.scores.len() <= LISTPACK_MAX_ENTRIES
                    && z.scores.keys().all(|m| m.len() <= LISTPACK_MAX_VALUE)
                {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
        }
    }
}
