//! The keys clients are blocked on (BLPOP, BZPOPMIN and friends), and the keys that became "ready"
//! since the server last looked (Redis's `db->blocking_keys` and `server.ready_keys`).
//!
//! The index lives in the [`Keyspace`](super::Keyspace) so that every write path there can signal a
//! change under the same lock: a key with waiters that is set or written is queued as ready (once).
//! The command layer (`cmd::blocking`) drains the queue after the command that filled it and
//! serves the waiters, in the order they blocked. With nobody blocked a signal costs one branch.
//!
//! The index knows only client ids; what each client waits for lives with the server's registry
//! (`server::blocking`).

use bytes::Bytes;
use std::collections::{HashMap, HashSet, VecDeque};

/// Blocked clients per key, and the ready queue.
#[derive(Default)]
pub struct BlockingKeys {
    /// Per database: key → ids of the clients blocked on it, oldest first.
    keys: Vec<HashMap<Bytes, VecDeque<u64>>>,
    /// Number of keys with at least one waiter: the fast path when it is zero.
    count: usize,
    /// Keys with waiters that were written since the last drain, in the order they were signalled.
    ready: Vec<(usize, Bytes)>,
    /// The same keys, so a key written many times is queued once.
    ready_set: HashSet<(usize, Bytes)>,
}

impl BlockingKeys {
    /// Whether any client is blocked on any key (the test every write path makes first).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.count != 0
    }

    /// Whether keys are waiting to be served.
    #[inline]
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Registers `client` as waiting on `key` of `db` (once per key).
    pub fn add(&mut self, db: usize, key: &[u8], client: u64) {
        if self.keys.len() <= db {
            self.keys.resize_with(db + 1, HashMap::new);
        }
        match self.keys[db].get_mut(key) {
            Some(q) => {
                if !q.contains(&client) {
                    q.push_back(client);
                }
            }
            None => {
                self.keys[db].insert(Bytes::copy_from_slice(key), VecDeque::from([client]));
                self.count += 1;
            }
        }
    }

    /// Removes `client` from the waiters of `key` of `db`.
    pub fn remove(&mut self, db: usize, key: &[u8], client: u64) {
        let Some(map) = self.keys.get_mut(db) else {
            return;
        };
        let Some(q) = map.get_mut(key) else {
            return;
        };
        q.retain(|&c| c != client);
        if q.is_empty() {
            map.remove(key);
            self.count -= 1;
        }
    }

    /// The clients blocked on `key` of `db`, oldest first.
    pub fn waiters(&self, db: usize, key: &[u8]) -> Option<&VecDeque<u64>> {
        self.keys.get(db)?.get(key)
    }

    /// A key was written: if somebody waits on it, queue it as ready.
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        let Some(map) = self.keys.get(db) else {
            return;
        };
        let Some((k, _)) = map.get_key_value(key) else {
            return;
        };
        let entry = (db, k.clone());
        if self.ready_set.insert(entry.clone()) {
            self.ready.push(entry);
        }
    }

    /// Every key of `db` with waiters is ready (SWAPDB brought in a whole new database).
    pub fn signal_db(&mut self, db: usize) {
        let Some(map) = self.keys.get(db) else {
            return;
        };
        for k in map.keys() {
            let entry = (db, k.clone());
            if self.ready_set.insert(entry.clone()) {
                self.ready.push(entry);
            }
        }
    }

    /// Takes the ready queue (the caller serves it; keys it makes ready meanwhile queue anew).
    pub fn take_ready(&mut self) -> Vec<(usize, Bytes)> {
        self.ready_set.clear();
        std::mem::take(&mut self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_only_keys_with_waiters_once_in_order() {
        let mut b = BlockingKeys::default();
        assert!(!b.is_active());
        b.add(0, b"a", 1);
        b.add(0, b"a", 2);
        b.add(0, b"a", 1);
        b.add(3, b"b", 1);
        assert!(b.is_active());
        assert_eq!(b.waiters(0, b"a").map(|q| q.len()), Some(2));
        b.signal(0, b"zz");
        assert!(!b.has_ready());
        b.signal(3, b"b");
        b.signal(0, b"a");
        b.signal(3, b"b");
        let r = b.take_ready();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].0, &r[0].1[..]), (3, &b"b"[..]));
        assert!(!b.has_ready());
        b.remove(0, b"a", 1);
        b.remove(0, b"a", 2);
        b.remove(3, b"b", 1);
        assert!(!b.is_active());
        b.signal_db(0);
        assert!(!b.has_ready());
    }
}
