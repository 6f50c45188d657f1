//! WATCH bookkeeping: which clients watch which keys, and which of them saw a watched key change
//! (Redis's `CLIENT_DIRTY_CAS`).
//!
//! The registry lives in the [`Keyspace`](super::Keyspace), so every write path there can signal a
//! change to it under the same lock; transactions (`cmd::tx`) register keys and read the flags. With
//! nobody watching, a signal costs one emptiness check.
//!
//! Expiry follows Redis 7.0: a key that was already logically expired when it was watched counts as
//! missing, so its deletion (lazy, active or by a flush) is no change; a key that was live when
//! watched and has expired since counts as changed at EXEC even if nobody deleted it yet.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One client's watch on one key.
#[derive(Debug, Clone, Copy)]
struct Watcher {
    client: u64,
    /// The key was logically expired (present but past its TTL) when WATCH ran.
    expired: bool,
}

/// One client's dirty flag and the `(db, key)`s it watches.
type ClientWatches = (Arc<AtomicBool>, Vec<(usize, Bytes)>);

/// Every watched key of every client, per database.
#[derive(Default)]
pub struct Watches {
    /// Per database: key → its watchers.
    keys: Vec<HashMap<Bytes, Vec<Watcher>>>,
    /// Per client: its dirty flag (a watched key changed since WATCH; shared with the client's
    /// handle, so CLIENT LIST shows `d` at once) and the keys it watches (to unwatch them all).
    by_client: HashMap<u64, ClientWatches>,
    /// Number of (client, key) watches in force: the fast path when it is zero.
    count: usize,
}

impl Watches {
    /// Whether anybody watches anything (the test every write path makes first).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.count != 0
    }

    /// Registers `client`'s watch on `key` of `db` (once per key), noting whether the key is
    /// logically expired right now. `dirty` is the client's flag, set when a watched key changes.
    pub fn watch(
        &mut self,
        client: u64,
        dirty: &Arc<AtomicBool>,
        db: usize,
        key: &[u8],
        expired: bool,
    ) {
        if self.keys.len() <= db {
            self.keys.resize_with(db + 1, HashMap::new);
        }
        let list = self.keys[db]
            .entry(Bytes::copy_from_slice(key))
            .or_default();
        if list.iter().any(|w| w.client == client) {
            return;
        }
        list.push(Watcher { client, expired });
        self.by_client
            .entry(client)
            .or_insert_with(|| (dirty.clone(), Vec::new()))
            .1
            .push((db, Bytes::copy_from_slice(key)));
        self.count += 1;
    }

    /// Forgets every watch of `client` and its dirty flag (EXEC, DISCARD, UNWATCH, RESET, close).
    pub fn unwatch_all(&mut self, client: u64) {
        let Some((dirty, keys)) = self.by_client.remove(&client) else {
            return;
        };
        dirty.store(false, Ordering::Relaxed);
        for (db, key) in keys {
            let Some(map) = self.keys.get_mut(db) else {
                continue;
            };
            if let Some(list) = map.get_mut(&key) {
                let before = list.len();
                list.retain(|w| w.client != client);
                self.count -= before - list.len();
                if list.is_empty() {
                    map.remove(&key);
                }
            }
        }
    }

    /// Whether a watched key of `client` changed since WATCH.
    pub fn is_dirty(&self, client: u64) -> bool {
        self.by_client
            .get(&client)
            .is_some_and(|(d, _)| d.load(Ordering::Relaxed))
    }

    /// The keys `client` watches that were live when watched (the ones that count as changed once
    /// their TTL passes).
    pub fn live_watched(&self, client: u64) -> Vec<(usize, Bytes)> {
        let Some(keys) = self.by_client.get(&client) else {
            return Vec::new();
        };
        keys.1
            .iter()
            .filter(|(db, key)| {
                self.keys[*db]
                    .get(key)
                    .and_then(|l| l.iter().find(|w| w.client == client))
                    .is_some_and(|w| !w.expired)
            })
            .cloned()
            .collect()
    }

    /// Marks `client` as having seen a change.
    fn mark_dirty(by_client: &HashMap<u64, ClientWatches>, client: u64) {
        if let Some((d, _)) = by_client.get(&client) {
            d.store(true, Ordering::Relaxed);
        }
    }

    /// A key changed (`exists` says whether it is still there afterwards): its watchers are dirty,
    /// except those that watched it already expired and now see it deleted (no logical change).
    pub fn touch(&mut self, db: usize, key: &[u8], exists: bool) {
        let Some(list) = self.keys.get_mut(db).and_then(|m| m.get_mut(key)) else {
            return;
        };
        for w in list.iter_mut() {
            if w.expired && !exists {
                // Deleted keys are no longer "expired": a later re-creation is a change.
                w.expired = false;
                continue;
            }
            w.expired = false;
            Self::mark_dirty(&self.by_client, w.client);
        }
    }

    /// Database `db` is being emptied (FLUSHDB/FLUSHALL, `replaced_with` = None) or replaced by
    /// another (SWAPDB). `in_emptied(key)` / `in_replacement(key)` say whether a key is stored
    /// (expired or not) in each, and `expired_in_replacement(key)` whether it is stored there with a
    /// past TTL. Watchers of keys present in either are dirty, with the expiry exceptions above:
    /// a watched-expired key that goes away (or stays expired) is no change, and an absent key
    /// replaced by an already expired one is still missing.
    pub fn touch_db(
        &mut self,
        db: usize,
        in_emptied: impl Fn(&[u8]) -> bool,
        in_replacement: impl Fn(&[u8]) -> bool,
        expired_in_replacement: impl Fn(&[u8]) -> bool,
    ) {
        let Some(map) = self.keys.get_mut(db) else {
            return;
        };
        for (key, list) in map.iter_mut() {
            let here = in_emptied(key);
            let there = in_replacement(key);
            if !here && !there {
                continue;
            }
            for w in list.iter_mut() {
                if w.expired {
                    if !there {
                        w.expired = false;
                        continue;
                    } else if expired_in_replacement(key) {
                        continue;
                    }
                } else if !here && expired_in_replacement(key) {
                    w.expired = true;
                    continue;
                }
                Self::mark_dirty(&self.by_client, w.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    #[test]
    fn touch_marks_watchers_and_unwatch_clears() {
        let mut w = Watches::default();
        assert!(!w.is_active());
        w.watch(1, &flag(), 0, b"k", false);
        w.watch(1, &flag(), 0, b"k", false);
        w.watch(2, &flag(), 0, b"k", false);
        w.watch(2, &flag(), 3, b"other", false);
        assert_eq!(w.count, 3);
        w.touch(1, b"k", true);
        assert!(!w.is_dirty(1));
        w.touch(0, b"k", true);
        assert!(w.is_dirty(1) && w.is_dirty(2));
        w.unwatch_all(1);
        w.unwatch_all(2);
        assert!(!w.is_active());
        assert!(!w.is_dirty(1));
        assert!(w.keys.iter().all(|m| m.is_empty()));
    }

    #[test]
    fn deleting_a_key_watched_expired_is_no_change() {
        let mut w = Watches::default();
        w.watch(1, &flag(), 0, b"k", true);
        w.touch(0, b"k", false);
        assert!(!w.is_dirty(1));
        assert_eq!(w.live_watched(1).len(), 1);
        // Re-created after that: a change.
        w.touch(0, b"k", true);
        assert!(w.is_dirty(1));
    }

    #[test]
    fn flush_touches_only_present_keys() {
        let mut w = Watches::default();
        w.watch(1, &flag(), 0, b"absent", false);
        w.watch(2, &flag(), 0, b"present", false);
        w.touch_db(0, |k| k == b"present", |_| false, |_| false);
        assert!(!w.is_dirty(1));
        assert!(w.is_dirty(2));
    }

    #[test]
    fn swapdb_rules_for_expired_keys() {
        let mut w = Watches::default();
        // Absent key replaced by an already expired one: still missing, but now "expired".
        w.watch(1, &flag(), 0, b"k", false);
        w.touch_db(0, |_| false, |_| true, |_| true);
        assert!(!w.is_dirty(1));
        assert!(w.live_watched(1).is_empty());
        // Watched expired, replaced by a live key: a change.
        w.touch_db(0, |_| true, |_| true, |_| false);
        assert!(w.is_dirty(1));
        // Watched expired, replaced by nothing: no change.
        let mut w = Watches::default();
        w.watch(2, &flag(), 0, b"k", true);
        w.touch_db(0, |_| true, |_| false, |_| false);
        assert!(!w.is_dirty(2));
    }
}
