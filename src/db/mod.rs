//! The keyspace: the databases (16 by default), their entries, expiry, and the write version counter.
//!
//! All access goes through [`Keyspace`], held under one mutex by the command path. Every change to an
//! entry passes through a handful of methods here (`insert`, `entry_mut`, `remove`, expiry), so the
//! bookkeeping that must see every write — the write version that fork-less snapshots and WATCH rely
//! on, the dirty counter, the expiry index, the keys deleted by expiry that must be propagated as DEL —
//! lives in one place.
//!
//! Expiry follows Redis: a logically expired key is deleted when touched (lazy expiry) and by a
//! periodic sampling cycle (active expiry, [`Keyspace::active_expire_cycle`]). A replica never deletes
//! expired keys itself; reads just do not see them, and the master's DEL removes them.

pub mod table;
pub mod value;

use bytes::Bytes;
use indexmap::IndexSet;
use rand::Rng;

pub use table::Table;
pub use value::Value;

/// "No expiry" in [`Entry::expire`].
pub const NO_EXPIRE: i64 = -1;

/// One key's slot in a database.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds, or [`NO_EXPIRE`].
    pub expire: i64,
    /// The global write version at which this entry last changed (snapshots, WATCH).
    pub version: u64,
    /// LRU clock (seconds, 24 bits wrap like Redis's) of the last access, for OBJECT IDLETIME.
    pub lru: u32,
}

/// One database.
#[derive(Default)]
pub struct Db {
    pub table: Table<Entry>,
    /// Keys that have an expiry, for sampling by the active expiry cycle and the `expires=` count.
    pub expires: IndexSet<Bytes, table::KeyState>,
    /// Average TTL estimate of sampled keys, ms (INFO keyspace `avg_ttl`).
    pub avg_ttl: i64,
}

impl Db {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Counters INFO stats reports from the keyspace.
#[derive(Default, Debug, Clone)]
pub struct KeyspaceStats {
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub expire_cycle_cpu_milliseconds: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// Redis's LRU clock: seconds, 24 bits.
pub fn lru_clock() -> u32 {
    ((crate::util::now_ms() / 1000) & 0xFF_FFFF) as u32
}

pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Global write version: bumped on every change, stored in the changed entry.
    pub version: u64,
    /// The time commands see (set once per command, as Redis caches it), Unix ms.
    pub now_ms: i64,
    /// A replica does not delete expired keys; reads treat them as missing.
    pub is_replica: bool,
    /// Keys deleted by expiry since the caller last drained this: propagated as DEL before the command.
    pub expired_pending: Vec<(usize, Bytes)>,
    /// Changes since the last save (`rdb_changes_since_last_save`).
    pub dirty: u64,
    pub stats: KeyspaceStats,
    /// LRU clock read once per command.
    pub lru_now: u32,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        Keyspace {
            dbs: (0..databases).map(|_| Db::default()).collect(),
            version: 0,
            now_ms: crate::util::now_ms(),
            is_replica: false,
            expired_pending: Vec::new(),
            dirty: 0,
            stats: KeyspaceStats::default(),
            lru_now: lru_clock(),
        }
    }

    /// Refreshes the cached clock; called before each command.
    #[inline]
    pub fn tick(&mut self) {
        self.now_ms = crate::util::now_ms();
        self.lru_now = ((self.now_ms / 1000) & 0xFF_FFFF) as u32;
    }

    #[inline]
    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Whether the key exists and is logically expired.
    fn is_expired(&self, db: usize, key: &[u8]) -> bool {
        match self.dbs[db].table.get(key) {
            Some(e) => e.expire != NO_EXPIRE && e.expire <= self.now_ms,
            None => false,
        }
    }

    /// Lazy expiry: if `key` is expired, delete it (master) and report it as gone. Returns true when
    /// the key must be treated as missing.
    fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        if !self.is_expired(db, key) {
            return false;
        }
        if self.is_replica {
            return true;
        }
        self.delete_expired(db, key);
        true
    }

    /// Deletes an expired key, counts it and queues its DEL for propagation.
    fn delete_expired(&mut self, db: usize, key: &[u8]) {
        if let Some((k, _)) = self.remove_entry(db, key) {
            self.stats.expired_keys += 1;
            self.expired_pending.push((db, k));
        }
    }

    /// Looks a key up for reading: expired keys are missing; hits and misses are counted; the entry's
    /// LRU clock is refreshed.
    pub fn lookup_read(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        if self.expire_if_needed(db, key) {
            self.stats.keyspace_misses += 1;
            return None;
        }
        let lru = self.lru_now;
        match self.dbs[db].table.get_mut(key) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                e.lru = lru;
                Some(&*e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// Looks a key up without touching statistics or the LRU clock (EXISTS-like internal checks, TYPE
    /// and OBJECT use it as Redis's LOOKUP_NOTOUCH does). Expired keys are still missing.
    pub fn lookup_peek(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        self.dbs[db].table.get(key)
    }

    /// Looks a key up for writing: expired keys are deleted first; the entry's version is bumped, so
    /// call it only when the command will change the value.
    pub fn lookup_write(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        // A write on a replica (only the master stream writes there) may delete an expired key.
        if self.is_expired(db, key) {
            self.delete_expired(db, key);
            return None;
        }
        let v = self.next_version();
        let lru = self.lru_now;
        let e = self.dbs[db].table.get_mut(key)?;
        e.version = v;
        e.lru = lru;
        Some(e)
    }

    /// Whether a live key exists (no statistics).
    pub fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        self.lookup_peek(db, key).is_some()
    }

    /// Sets a key to a value, replacing any old value and its expiry (`expire` may be [`NO_EXPIRE`]).
    pub fn set(&mut self, db: usize, key: Bytes, value: Value, expire: i64) {
        let version = self.next_version();
        let entry = Entry {
            value,
            expire,
            version,
            lru: self.lru_now,
        };
        let d = &mut self.dbs[db];
        let had_expire = match d.table.get_mut(&key) {
            Some(old) => {
                let had = old.expire != NO_EXPIRE;
                *old = entry;
                had
            }
            None => {
                d.table.insert(key.clone(), entry);
                false
            }
        };
        match (had_expire, expire != NO_EXPIRE) {
            (true, false) => {
                d.expires.swap_remove(key.as_ref());
            }
            (false, true) => {
                d.expires.insert(key);
            }
            _ => {}
        }
    }

    /// Replaces the value of a key, keeping its expiry (KEEPTTL, or in-place writes); creates the key
    /// without expiry when missing.
    pub fn set_keep_ttl(&mut self, db: usize, key: Bytes, value: Value) {
        let version = self.next_version();
        let lru = self.lru_now;
        match self.dbs[db].table.get_mut(&key) {
            Some(e) => {
                e.value = value;
                e.version = version;
                e.lru = lru;
            }
            None => {
                self.dbs[db].table.insert(
                    key,
                    Entry {
                        value,
                        expire: NO_EXPIRE,
                        version,
                        lru,
                    },
                );
            }
        }
    }

    /// Removes a key and returns it (no expiry check: a logically expired key is removed too).
    pub fn remove_entry(&mut self, db: usize, key: &[u8]) -> Option<(Bytes, Entry)> {
        self.next_version();
        let d = &mut self.dbs[db];
        let removed = d.table.remove(key)?;
        if removed.1.expire != NO_EXPIRE {
            d.expires.swap_remove(key);
        }
        Some(removed)
    }

    /// Deletes a live key; returns whether it existed (an expired key counts as missing).
    pub fn delete(&mut self, db: usize, key: &[u8]) -> bool {
        if self.expire_if_needed(db, key) {
            return false;
        }
        self.remove_entry(db, key).is_some()
    }

    /// Sets or removes (`NO_EXPIRE`) the expiry of an existing key; returns false if the key is missing.
    pub fn set_expire(&mut self, db: usize, key: &[u8], when: i64) -> bool {
        let v = self.next_version();
        let d = &mut self.dbs[db];
        let Some((k, e)) = d.table.get_key_value(key) else {
            return false;
        };
        let (k, had) = (k.clone(), e.expire != NO_EXPIRE);
        if let Some(e) = d.table.get_mut(key) {
            e.expire = when;
            e.version = v;
        }
        match (had, when != NO_EXPIRE) {
            (true, false) => {
                d.expires.swap_remove(key);
            }
            (false, true) => {
                d.expires.insert(k);
            }
            _ => {}
        }
        true
    }

    /// Removes every key of one database.
    pub fn flush_db(&mut self, db: usize) {
        self.next_version();
        let d = &mut self.dbs[db];
        d.table.clear();
        d.expires.clear();
        d.avg_ttl = 0;
    }

    /// Total number of keys over all databases.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }

    /// A random live key of a database (expired keys met on the way are expired, as Redis does).
    pub fn random_key(&mut self, db: usize) -> Option<Bytes> {
        let mut tries = 0;
        loop {
            let (k, expired) = {
                let (k, e) = self.dbs[db].table.random()?;
                (k.clone(), e.expire != NO_EXPIRE && e.expire <= self.now_ms)
            };
            if !expired {
                return Some(k);
            }
            tries += 1;
            if self.is_replica {
                // Every key may be logically expired on a replica; give up after a while like Redis.
                if tries > 100 || self.dbs[db].expires.len() == self.dbs[db].len() && tries > 10 {
                    return Some(k);
                }
                continue;
            }
            self.delete_expired(db, &k);
        }
    }

    /// One pass of the active expiry cycle over every database: sample keys with a TTL and delete the
    /// expired ones, repeating while more than a quarter of a sample was expired, within `budget_us`.
    /// Returns the number of keys deleted.
    pub fn active_expire_cycle(&mut self, budget_us: u64) -> usize {
        const SAMPLE: usize = 20;
        if self.is_replica {
            return 0;
        }
        self.tick();
        let start = std::time::Instant::now();
        let mut deleted = 0;
        let mut total_sampled = 0usize;
        let mut total_expired = 0usize;
        let mut rng = rand::thread_rng();
        for db in 0..self.dbs.len() {
            loop {
                let n = self.dbs[db].expires.len();
                if n == 0 {
                    break;
                }
                let mut expired = Vec::new();
                let mut ttl_sum = 0i64;
                let mut ttl_n = 0i64;
                let sample = SAMPLE.min(n);
                for _ in 0..sample {
                    let idx = rng.gen_range(0..self.dbs[db].expires.len());
                    let key = self.dbs[db]
                        .expires
                        .get_index(idx)
                        .expect("index in range")
                        .clone();
                    if let Some(e) = self.dbs[db].table.get(&key) {
                        if e.expire <= self.now_ms {
                            expired.push(key);
                        } else {
                            ttl_sum += e.expire - self.now_ms;
                            ttl_n += 1;
                        }
                    }
                }
                if ttl_n > 0 {
                    let avg = ttl_sum / ttl_n;
                    let d = &mut self.dbs[db];
                    d.avg_ttl = if d.avg_ttl == 0 {
                        avg
                    } else {
                        (d.avg_ttl / 50) * 49 + avg / 50
                    };
                }
                expired.sort();
                expired.dedup();
                total_sampled += sample;
                total_expired += expired.len();
                for k in &expired {
                    self.delete_expired(db, k);
                }
                deleted += expired.len();
                if start.elapsed().as_micros() as u64 > budget_us {
                    self.stats.expired_time_cap_reached_count += 1;
                    break;
                }
                if expired.len() * 4 <= sample {
                    break;
                }
            }
        }
        if total_sampled > 0 {
            let perc = total_expired as f64 / total_sampled as f64;
            self.stats.expired_stale_perc = perc * 0.05 + self.stats.expired_stale_perc * 0.95;
        }
        self.stats.expire_cycle_cpu_milliseconds += start.elapsed().as_millis() as u64;
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> Keyspace {
        Keyspace::new(16)
    }

    #[test]
    fn set_get_delete() {
        let mut k = ks();
        k.set(
            0,
            Bytes::from_static(b"a"),
            Value::string(Bytes::from_static(b"1")),
            NO_EXPIRE,
        );
        assert!(matches!(
            k.lookup_read(0, b"a").map(|e| &e.value),
            Some(Value::Int(1))
        ));
        assert!(k.lookup_read(1, b"a").is_none());
        assert!(k.delete(0, b"a"));
        assert!(!k.delete(0, b"a"));
    }

    #[test]
    fn lazy_expiry_deletes_and_queues_del() {
        let mut k = ks();
        k.set(
            0,
            Bytes::from_static(b"a"),
            Value::Str(Bytes::from_static(b"x")),
            k.now_ms - 1,
        );
        assert_eq!(k.dbs[0].expires.len(), 1);
        assert!(k.lookup_read(0, b"a").is_none());
        assert_eq!(k.dbs[0].len(), 0);
        assert_eq!(k.dbs[0].expires.len(), 0);
        assert_eq!(k.stats.expired_keys, 1);
        assert_eq!(k.expired_pending, vec![(0, Bytes::from_static(b"a"))]);
    }

    #[test]
    fn replica_hides_but_keeps_expired_keys() {
        let mut k = ks();
        k.is_replica = true;
        k.set(
            0,
            Bytes::from_static(b"a"),
            Value::Str(Bytes::from_static(b"x")),
            k.now_ms - 1,
        );
        assert!(k.lookup_read(0, b"a").is_none());
        assert_eq!(k.dbs[0].len(), 1);
        assert_eq!(k.active_expire_cycle(1000), 0);
        assert_eq!(k.dbs[0].len(), 1);
    }

    #[test]
    fn active_cycle_removes_expired() {
        let mut k = ks();
        let past = k.now_ms - 10;
        for i in 0..500 {
            k.set(3, Bytes::from(format!("e{i}")), Value::Int(i), past);
        }
        for i in 0..10 {
            k.set(3, Bytes::from(format!("p{i}")), Value::Int(i), NO_EXPIRE);
        }
        let mut rounds = 0;
        while k.dbs[3].len() > 10 && rounds < 1000 {
            k.active_expire_cycle(25_000);
            rounds += 1;
        }
        assert_eq!(k.dbs[3].len(), 10);
        assert_eq!(k.stats.expired_keys, 500);
    }

    #[test]
    fn versions_grow_on_writes() {
        let mut k = ks();
        k.set(0, Bytes::from_static(b"a"), Value::Int(1), NO_EXPIRE);
        let v1 = k.lookup_peek(0, b"a").unwrap().version;
        k.lookup_write(0, b"a").unwrap();
        let v2 = k.lookup_peek(0, b"a").unwrap().version;
        assert!(v2 > v1);
        assert!(k.set_expire(0, b"a", k.now_ms + 100_000));
        assert_eq!(k.dbs[0].expires.len(), 1);
        assert!(k.set_expire(0, b"a", NO_EXPIRE));
        assert_eq!(k.dbs[0].expires.len(), 0);
    }
}
