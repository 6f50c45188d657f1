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

pub mod blocking;
pub mod digest;
pub mod evict;
pub mod hashvalue;
pub mod lazyfree;
pub mod notify;
pub mod sds;
pub mod snapshot;
pub mod table;
pub mod value;
pub mod watch;
pub mod zindex;

use bytes::Bytes;
use indexmap::IndexSet;

pub use table::Table;
pub use value::Value;

/// "No expiry" in [`Entry::expire`].
pub const NO_EXPIRE: i64 = -1;

/// The command that propagates a deletion: UNLINK when the matching `lazyfree-lazy-*` option is
/// on, DEL otherwise (as Redis's `propagateDeletion` and its rewrites of EXPIRE and GETDEL).
pub fn del_or_unlink(lazy: bool) -> Bytes {
    Bytes::from_static(if lazy { b"UNLINK" } else { b"DEL" })
}

/// One key's slot in a database.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds, or [`NO_EXPIRE`].
    pub expire: i64,
    /// The global write version at which this entry last changed (snapshots, WATCH).
    pub version: u64,
    /// LRU clock (seconds, 24 bits wrap like Redis's) of the last access, for OBJECT IDLETIME; under
    /// an LFU policy the LFU data instead (see [`evict`]).
    pub lru: u32,
}

// Five words: with the key's length and bytes it fills a 64-byte block for keys up to 16 bytes (see
// `table::Node`). A bigger entry costs every key of a large dataset.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Entry>() == 40);

/// One database.
#[derive(Default)]
pub struct Db {
    pub table: Table<Entry>,
    /// Keys that have an expiry, for sampling by the active expiry cycle and the `expires=` count.
    pub expires: IndexSet<Bytes, table::KeyState>,
    /// Average TTL estimate of sampled keys, ms (INFO keyspace `avg_ttl`).
    pub avg_ttl: i64,
    /// Where the active expiry cycle resumes its walk of `expires`, so that successive cycles cover
    /// every key with a TTL (Redis keeps the same per-database cursor over its expires dict).
    pub expires_cursor: usize,
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
    /// Running estimate (5% weight per cycle) of the share of sampled TTL keys found already expired.
    pub expired_stale_perc: f64,
    /// Active expiry cycles that stopped on their time limit.
    pub expired_time_cap_reached_count: u64,
    pub expire_cycle_cpu_milliseconds: u64,
    /// Time spent in active expiry, µs (the precise counter behind `expire_cycle_cpu_milliseconds`).
    pub expire_cycle_time_used_us: u64,
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
    /// Set while a replica applies a command from its master's stream: expired keys then count as
    /// live and are never deleted locally, so the master's commands act on the data the master has
    /// (Redis 7.0's `expireIfNeeded` answers "not expired" for the master client).
    pub serving_master: bool,
    /// Keys deleted by expiry since the caller last drained this: propagated as DEL before the command.
    pub expired_pending: Vec<(usize, Bytes)>,
    /// Whether expired keys are queued in `expired_pending` at all: only while something (the
    /// replication stream) consumes them, so the queue cannot grow without bound.
    pub propagate_expired: bool,
    /// `lazyfree-lazy-expire`: expired keys reach replicas as UNLINK instead of DEL, as in Redis,
    /// and their values are freed in the background (see [`lazyfree`]).
    pub lazy_expire: bool,
    /// `lazyfree-lazy-server-del`: a value replaced by an overwrite is freed in the background.
    pub lazy_server_del: bool,
    /// `lazyfree-lazy-eviction`: evicted values are freed in the background.
    pub lazy_eviction: bool,
    /// `lazyfree-lazy-user-del`: DEL behaves as UNLINK.
    pub lazy_user_del: bool,
    /// Changes since the last save (`rdb_changes_since_last_save`).
    pub dirty: u64,
    pub stats: KeyspaceStats,
    /// LRU clock read once per command.
    pub lru_now: u32,
    /// Active expiry state kept across cycles, as Redis keeps it in statics: the next database to
    /// visit, and whether the previous cycle stopped on its time limit (then the next one visits
    /// every database).
    pub expire_current_db: usize,
    pub expire_timelimit_exit: bool,
    /// When the last fast expiry cycle started (Unix µs), to space them out.
    pub expire_last_fast_cycle_us: i64,
    /// `active-expire-effort` (1..=10): more keys per round, a lower stale threshold and a longer
    /// fast cycle, as in Redis. Whoever applies the configuration mirrors it here; the slow cycle's
    /// time budget (25% + 2% per effort step of the cron period) is the caller's.
    pub active_expire_effort: u32,
    /// Fork-less snapshots in progress (BGSAVE, full syncs); see [`snapshot`].
    pub snapshots: Vec<snapshot::Snapshot>,
    /// The compact-encoding limits from the configuration (mirrored here by CONFIG SET), read by
    /// every write that may convert a value's encoding.
    pub thresholds: value::Thresholds,
    pub next_snapshot_id: u64,
    /// WATCHed keys and the clients that saw one change (see [`watch`]); every write path below
    /// signals it through [`Keyspace::signal_modified`] / [`Keyspace::signal_db_replaced`].
    pub watches: watch::Watches,
    /// maxmemory, the eviction policy and its state; also decides what an access writes into an
    /// entry's `lru` field (LRU clock or LFU counter).
    pub evict: evict::EvictState,
    /// Keys that clients are blocked on (BLPOP, BZPOPMIN, ...) and those written since the server
    /// last served them (see [`blocking`]); signalled by the same write paths as WATCH.
    pub blocking: blocking::BlockingKeys,
    /// Keyspace notifications: the configured classes and the events raised by the running
    /// command, published after it (see [`notify`]).
    pub notify: notify::Notifier,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        Keyspace {
            dbs: (0..databases).map(|_| Db::default()).collect(),
            version: 0,
            now_ms: crate::util::now_ms(),
            is_replica: false,
            serving_master: false,
            expired_pending: Vec::new(),
            propagate_expired: false,
            lazy_expire: false,
            lazy_server_del: false,
            lazy_eviction: false,
            lazy_user_del: false,
            dirty: 0,
            stats: KeyspaceStats::default(),
            lru_now: lru_clock(),
            expire_current_db: 0,
            expire_timelimit_exit: false,
            expire_last_fast_cycle_us: 0,
            active_expire_effort: 1,
            snapshots: Vec::new(),
            thresholds: value::Thresholds::default(),
            next_snapshot_id: 0,
            watches: watch::Watches::default(),
            evict: evict::EvictState::default(),
            blocking: blocking::BlockingKeys::default(),
            notify: notify::Notifier::default(),
        }
    }

    /// Refreshes the cached clock; called before each command.
    #[inline]
    pub fn tick(&mut self) {
        self.tick_at(crate::util::now_ms());
    }

    /// Sets the cached clock from a reading the caller already took (dispatch times the command
    /// with the same reading).
    #[inline]
    pub fn tick_at(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        self.lru_now = ((now_ms / 1000) & 0xFF_FFFF) as u32;
    }

    /// Raises a keyspace notification (`class` from [`notify::class`]); one branch when the class
    /// is off. Handlers that have a `Ctx` use `ctx.notify` instead, which also places the event
    /// right in the raising client's own reply stream.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        self.notify.raise(class, event, db, key);
    }

    #[inline]
    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// WATCH hook, called by every write path once a key changed (`exists`: still stored after
    /// the change). Free when nobody watches.
    #[inline]
    fn signal_modified(&mut self, db: usize, key: &[u8], exists: bool) {
        if self.watches.is_active() {
            self.watches.touch(db, key, exists);
        }
        if exists && self.blocking.is_active() {
            self.blocking.signal(db, key);
        }
    }

    /// WATCH hook for a database about to be emptied (`with` None: FLUSHDB/FLUSHALL) or replaced
    /// by database `with` (SWAPDB): watchers of keys stored in either see a change.
    fn signal_db_replaced(&mut self, db: usize, with: Option<usize>) {
        if !self.watches.is_active() {
            return;
        }
        let now = self.now_ms;
        let emptied = &self.dbs[db].table;
        let other = with.map(|w| &self.dbs[w].table);
        self.watches.touch_db(
            db,
            |k| emptied.get(k).is_some(),
            |k| other.is_some_and(|t| t.get(k).is_some()),
            |k| {
                other
                    .and_then(|t| t.get(k))
                    .is_some_and(|e| e.expire != NO_EXPIRE && e.expire <= now)
            },
        );
    }

    /// Whether a key is stored with a TTL already past (Redis's `keyIsExpired`; no deletion).
    pub fn key_is_expired(&self, db: usize, key: &[u8]) -> bool {
        self.is_expired(db, key)
    }

    /// Whether the key exists and is logically expired.
    fn is_expired(&self, db: usize, key: &[u8]) -> bool {
        let d = &self.dbs[db];
        // No key of the database has a TTL: nothing to look up (the common case of a cache-less
        // dataset, and every lookup path starts here).
        if d.expires.is_empty() {
            return false;
        }
        match d.table.get(key) {
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
            return !self.serving_master;
        }
        self.delete_expired(db, key);
        true
    }

    /// Lazy expiry before a write: an expired key is deleted, on a writable replica too (Redis's
    /// `LOOKUP_WRITE`), except for the master's own stream, which sees the key as the master does.
    /// Returns true when the key must be treated as missing.
    fn expire_for_write(&mut self, db: usize, key: &[u8]) -> bool {
        if !self.is_expired(db, key) || (self.is_replica && self.serving_master) {
            return false;
        }
        self.delete_expired(db, key);
        true
    }

    /// Deletes an expired key, counts it and queues its DEL for propagation (when enabled).
    fn delete_expired(&mut self, db: usize, key: &[u8]) {
        if let Some((k, e)) = self.remove_entry(db, key) {
            if self.lazy_expire {
                lazyfree::free_value(e.value);
            }
            self.stats.expired_keys += 1;
            self.notify.raise(notify::class::EXPIRED, "expired", db, &k);
            if self.propagate_expired {
                self.expired_pending.push((db, k));
            }
        }
    }

    /// Looks a key up for reading: expired keys are missing; hits and misses are counted; the entry's
    /// LRU clock is refreshed.
    pub fn lookup_read(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        if self.expire_if_needed(db, key) {
            self.stats.keyspace_misses += 1;
            self.notify
                .raise(notify::class::KEY_MISS, "keymiss", db, key);
            return None;
        }
        let (lru, now) = (self.lru_now, self.now_ms);
        match self.dbs[db].table.get_mut(key) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                e.lru = self.evict.touch(db, key, e.lru, lru, now);
                Some(&*e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                self.notify
                    .raise(notify::class::KEY_MISS, "keymiss", db, key);
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
        if self.expire_for_write(db, key) {
            return None;
        }
        self.preserve(db, key);
        if self.watches.is_active() && self.dbs[db].table.get(key).is_some() {
            self.watches.touch(db, key, true);
        }
        if self.blocking.is_active() {
            self.blocking.signal(db, key);
        }
        let v = self.next_version();
        let (lru, now) = (self.lru_now, self.now_ms);
        let e = self.dbs[db].table.get_mut(key)?;
        e.version = v;
        e.lru = self.evict.touch_once(db, key, e.lru, lru, now);
        Some(e)
    }

    /// Whether a live key exists (no statistics).
    pub fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        self.lookup_peek(db, key).is_some()
    }

    /// Looks a key up for reading without refreshing its LRU clock (Redis's `LOOKUP_NOTOUCH`: EXISTS,
    /// TYPE, TTL, OBJECT); hits and misses are still counted.
    pub fn lookup_read_notouch(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        if self.expire_if_needed(db, key) {
            self.stats.keyspace_misses += 1;
            self.notify
                .raise(notify::class::KEY_MISS, "keymiss", db, key);
            return None;
        }
        match self.dbs[db].table.get(key) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                Some(e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                self.notify
                    .raise(notify::class::KEY_MISS, "keymiss", db, key);
                None
            }
        }
    }

    /// Looks a key up the way a write command does before deciding whether to change it: an expired
    /// key is deleted first (on a replica too, as Redis's `LOOKUP_WRITE`), the LRU clock is refreshed,
    /// no statistics are counted, and the write version is left alone (nothing changed yet).
    pub fn lookup_write_peek(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        if self.expire_for_write(db, key) {
            return None;
        }
        let (lru, now) = (self.lru_now, self.now_ms);
        let e = self.dbs[db].table.get_mut(key)?;
        // Handlers may peek more than once before writing (type check, then the write path):
        // one access per command, as Redis's single lookupKeyWrite.
        e.lru = self.evict.touch_once(db, key, e.lru, lru, now);
        Some(&*e)
    }

    /// The absolute expiry (Unix ms) of a key as stored, or [`NO_EXPIRE`]; no expiry check.
    pub fn get_expire(&self, db: usize, key: &[u8]) -> i64 {
        self.dbs[db]
            .table
            .get(key)
            .map(|e| e.expire)
            .unwrap_or(NO_EXPIRE)
    }

    /// Renames `src` to `dst` in one database, keeping the value and its expiry and replacing whatever
    /// `dst` held. Returns false (and changes nothing) when `src` is missing.
    pub fn rename(&mut self, db: usize, src: &[u8], dst: Bytes) -> bool {
        let Some((_, e)) = self.remove_entry(db, src) else {
            return false;
        };
        // The value keeps its LRU/LFU data under the new name, as the object moves in Redis.
        let lru = self
            .evict
            .touch_once(db, src, e.lru, self.lru_now, self.now_ms);
        self.set(db, dst.clone(), e.value, e.expire);
        if let Some(n) = self.dbs[db].table.get_mut(&dst) {
            n.lru = lru;
        }
        true
    }

    /// Moves `key` from `src_db` to `dst_db` with its expiry, replacing any key of that name in
    /// `dst_db` (callers check first when that must not happen). Returns false when `key` is missing.
    pub fn move_key(&mut self, src_db: usize, dst_db: usize, key: &[u8]) -> bool {
        let Some((k, e)) = self.remove_entry(src_db, key) else {
            return false;
        };
        let lru = self
            .evict
            .touch_once(src_db, key, e.lru, self.lru_now, self.now_ms);
        self.set(dst_db, k, e.value, e.expire);
        if let Some(n) = self.dbs[dst_db].table.get_mut(key) {
            n.lru = lru;
        }
        true
    }

    /// Swaps two databases (SWAPDB): their entries, expiry indexes and TTL estimates change places.
    ///
    /// Every entry of both is stamped with a new write version: to a client (WATCH) and to a snapshot,
    /// each key of both databases has just changed, exactly as Redis signals every watched key of both.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a != b {
            self.preserve_db(a);
            self.preserve_db(b);
            self.signal_db_replaced(a, Some(b));
            self.signal_db_replaced(b, Some(a));
        }
        let v = self.next_version();
        if a == b {
            return;
        }
        self.dbs.swap(a, b);
        for db in [a, b] {
            for (_, e) in self.dbs[db].table.iter_mut() {
                e.version = v;
            }
            self.dbs[db].expires_cursor = 0;
        }
        if self.blocking.is_active() {
            self.blocking.signal_db(a);
            self.blocking.signal_db(b);
        }
    }

    /// Sets a key to a value, replacing any old value and its expiry (`expire` may be [`NO_EXPIRE`]).
    ///
    /// An old value that is logically expired counts as deleted by expiry first, as Redis's
    /// `setKey` expires it in its write lookup (`expired_keys`, the `expired` and `new` events,
    /// the DEL for replication), without a second lookup here.
    pub fn set(&mut self, db: usize, key: Bytes, value: Value, expire: i64) {
        self.preserve(db, &key);
        self.signal_modified(db, &key, true);
        let version = self.next_version();
        let lru_now = self.lru_now;
        let mut entry = Entry {
            value,
            expire,
            version,
            lru: lru_now,
        };
        let (now, may_expire) = (self.now_ms, !(self.is_replica && self.serving_master));
        let (lazy_expire, lazy_server_del) = (self.lazy_expire, self.lazy_server_del);
        let d = &mut self.dbs[db];
        let had_expire = match d.table.get_mut(&key) {
            Some(old) => {
                let had = old.expire != NO_EXPIRE;
                let was_expired = had && old.expire <= now && may_expire;
                // An overwrite is an access; under LFU the key keeps its counter (Redis's
                // dbSetValue), under LRU it is as new. Over an expired key it is a new key.
                entry.lru = if was_expired {
                    self.evict.new_lru(db, &key, lru_now, now)
                } else {
                    self.evict.touch_once(db, &key, old.lru, lru_now, now)
                };
                let prev = std::mem::replace(old, entry);
                // The old value leaves as an expired key's or as an overwritten one's.
                if (was_expired && lazy_expire) || (!was_expired && lazy_server_del) {
                    lazyfree::free_value(prev.value);
                }
                if was_expired {
                    self.stats.expired_keys += 1;
                    self.notify
                        .raise(notify::class::EXPIRED, "expired", db, &key);
                    if self.propagate_expired {
                        self.expired_pending.push((db, key.clone()));
                    }
                    self.notify.raise(notify::class::NEW, "new", db, &key);
                }
                had
            }
            None => {
                entry.lru = self.evict.new_lru(db, &key, lru_now, now);
                d.table.insert(key.clone(), entry);
                self.notify.raise(notify::class::NEW, "new", db, &key);
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

    /// Takes the settings the server mirrors into the keyspace (encoding thresholds, expiry effort,
    /// eviction configuration, the `lazyfree-lazy-*` options, notification classes) from `old`, which
    /// this keyspace replaces (a start-up load, a replica's full sync).
    pub fn carry_settings_from(&mut self, old: &Keyspace) {
        self.thresholds = old.thresholds;
        self.active_expire_effort = old.active_expire_effort;
        self.evict.copy_config_from(&old.evict);
        self.lazy_expire = old.lazy_expire;
        self.lazy_server_del = old.lazy_server_del;
        self.lazy_eviction = old.lazy_eviction;
        self.lazy_user_del = old.lazy_user_del;
        self.notify.set_flags(old.notify.flags);
    }

    /// An empty keyspace to load a dump into, with this one's settings (so that loaded keys get the
    /// server's encodings and the LRU/LFU state its eviction policy reads from the file) and role.
    pub fn new_for_load(&self) -> Keyspace {
        let mut ks = Keyspace::new(self.dbs.len());
        ks.is_replica = self.is_replica;
        ks.carry_settings_from(self);
        ks
    }

    /// Prepares database `db` of a keyspace being loaded for the sizes an RDB file announces
    /// (RESIZEDB), when it is still empty. The figures come from the file: they are capped, so a
    /// corrupt one cannot make us reserve more than a large dataset would use anyway.
    pub fn presize_loaded(&mut self, db: usize, keys: u64, expires: u64) {
        const CAP: u64 = 8 << 20;
        let d = &mut self.dbs[db];
        if d.table.is_empty() {
            d.table.presize(keys.min(CAP) as usize);
            d.expires.reserve(expires.min(CAP) as usize);
        }
    }

    /// Adds a key read from an RDB file to a keyspace that is being loaded and serves nobody yet
    /// (no snapshot, watcher or notification can see it): one table probe. Returns false, and
    /// changes nothing, when the key is already there, which a valid file never has.
    /// `idle`/`freq`: the key record's IDLE or FREQ, applied as Redis applies them (a FREQ under an
    /// LFU policy, an IDLE under any other); without them the key starts as a new one.
    pub fn add_loaded(
        &mut self,
        db: usize,
        key: &[u8],
        value: Value,
        expire: i64,
        idle: Option<u64>,
        freq: Option<u8>,
    ) -> bool {
        let version = self.next_version();
        let lru = if self.evict.policy.lfu() {
            match freq {
                Some(f) => (evict::lfu_minutes(self.now_ms) << 8) | f as u32,
                None => self.evict.new_lru(db, key, self.lru_now, self.now_ms),
            }
        } else {
            match idle {
                Some(secs) => evict::lru_minus(self.lru_now, secs),
                None => self.evict.new_lru(db, key, self.lru_now, self.now_ms),
            }
        };
        let d = &mut self.dbs[db];
        let entry = Entry {
            value,
            expire,
            version,
            lru,
        };
        if d.table.insert_new(key, entry).is_err() {
            return false;
        }
        if expire != NO_EXPIRE {
            d.expires.insert(Bytes::copy_from_slice(key));
        }
        true
    }

    /// Replaces the value of a key, keeping its expiry (KEEPTTL, or in-place writes); creates the key
    /// without expiry when missing.
    pub fn set_keep_ttl(&mut self, db: usize, key: Bytes, value: Value) {
        self.preserve(db, &key);
        self.signal_modified(db, &key, true);
        let version = self.next_version();
        let (lru, now) = (self.lru_now, self.now_ms);
        let lazy = self.lazy_server_del;
        match self.dbs[db].table.get_mut(&key) {
            Some(e) => {
                let prev = std::mem::replace(&mut e.value, value);
                if lazy {
                    lazyfree::free_value(prev);
                }
                e.version = version;
                e.lru = self.evict.touch_once(db, &key, e.lru, lru, now);
            }
            None => {
                let lru = self.evict.new_lru(db, &key, lru, now);
                self.notify.raise(notify::class::NEW, "new", db, &key);
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
        self.preserve(db, key);
        self.next_version();
        let d = &mut self.dbs[db];
        let removed = d.table.remove(key)?;
        if removed.1.expire != NO_EXPIRE {
            d.expires.swap_remove(key);
        }
        self.signal_modified(db, key, false);
        Some(removed)
    }

    /// Deletes a live key; returns whether it existed (an expired key counts as missing).
    ///
    /// On a replica a logically expired key is still stored, and DEL removes it and counts it, as
    /// Redis 7.0 does (its lazy expiry leaves the key to the explicit delete).
    pub fn delete(&mut self, db: usize, key: &[u8]) -> bool {
        self.delete_lazy(db, key, false)
    }

    /// [`Keyspace::delete`]; with `lazy` (UNLINK), a large value is freed in the background.
    pub fn delete_lazy(&mut self, db: usize, key: &[u8], lazy: bool) -> bool {
        if !self.is_replica && self.expire_if_needed(db, key) {
            return false;
        }
        self.remove_lazy(db, key, lazy)
    }

    /// Removes a key, expired or not; with `lazy`, a large value is freed in the background.
    fn remove_lazy(&mut self, db: usize, key: &[u8], lazy: bool) -> bool {
        match self.remove_entry(db, key) {
            Some((_, e)) => {
                if lazy {
                    lazyfree::free_value(e.value);
                }
                true
            }
            None => false,
        }
    }

    /// Removes the key a command replaces (RENAME's or COPY's destination), expired or not; under
    /// `lazyfree-lazy-server-del` a large value is freed in the background, as Redis's `dbDelete`
    /// does.
    pub fn remove_replaced(&mut self, db: usize, key: &[u8]) {
        self.remove_lazy(db, key, self.lazy_server_del);
    }

    /// Sets or removes (`NO_EXPIRE`) the expiry of an existing key; returns false if the key is missing.
    pub fn set_expire(&mut self, db: usize, key: &[u8], when: i64) -> bool {
        self.preserve(db, key);
        let v = self.next_version();
        let d = &mut self.dbs[db];
        let Some(e) = d.table.get_mut(key) else {
            return false;
        };
        let had = e.expire != NO_EXPIRE;
        e.expire = when;
        e.version = v;
        match (had, when != NO_EXPIRE) {
            (true, false) => {
                d.expires.swap_remove(key);
            }
            (false, true) => {
                d.expires.insert(Bytes::copy_from_slice(key));
            }
            _ => {}
        }
        self.signal_modified(db, key, true);
        true
    }

    /// Removes every key of one database; returns how many there were (Redis adds that to `dirty`).
    pub fn flush_db(&mut self, db: usize) -> usize {
        self.flush_db_lazy(db, false)
    }

    /// [`Keyspace::flush_db`]; with `lazy` (ASYNC), the emptied table is freed in the background.
    pub fn flush_db_lazy(&mut self, db: usize, lazy: bool) -> usize {
        self.preserve_db(db);
        self.signal_db_replaced(db, None);
        self.next_version();
        let d = &mut self.dbs[db];
        let n = d.table.len();
        if lazy && n > 0 {
            let table = std::mem::take(&mut d.table);
            let expires = std::mem::take(&mut d.expires);
            lazyfree::free_later((table, expires), n as u64);
        } else {
            d.table.clear();
            d.expires.clear();
        }
        d.avg_ttl = 0;
        d.expires_cursor = 0;
        n
    }

    /// Removes every key of every database; returns how many there were.
    pub fn flush_all(&mut self) -> usize {
        self.flush_all_lazy(false)
    }

    /// [`Keyspace::flush_all`], freeing in the background with `lazy`.
    pub fn flush_all_lazy(&mut self, lazy: bool) -> usize {
        (0..self.dbs.len())
            .map(|db| self.flush_db_lazy(db, lazy))
            .sum()
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
                (
                    Bytes::copy_from_slice(k),
                    e.expire != NO_EXPIRE && e.expire <= self.now_ms,
                )
            };
            if !expired {
                return Some(k);
            }
            if self.is_replica {
                // The master's stream sees the key as live. Otherwise, when every key has a TTL they
                // may all be logically expired here (the master's DELs have not arrived): after 100
                // tries Redis returns an expired one rather than loop forever.
                tries += 1;
                let all_volatile = self.dbs[db].expires.len() == self.dbs[db].len();
                if self.serving_master || (all_volatile && tries >= 100) {
                    return Some(k);
                }
                continue;
            }
            self.delete_expired(db, &k);
        }
    }

    /// One slow cycle of active expiry, as Redis's `activeExpireCycle` runs it `hz` times a second,
    /// within `budget_us` (25% of the cron period). Returns the number of keys deleted.
    ///
    /// Databases are visited round-robin from where the last cycle stopped (all 16 per call by
    /// default; all of them after a cycle that hit its time limit). In each, up to 20 keys with a TTL
    /// (+5 per effort step) are examined per round, continuing from the database's walk position;
    /// the database is sampled again while more than 10% (-1 per effort step) of a round was
    /// expired. The time limit is checked every 16 rounds;
    /// hitting it ends the cycle and counts `expired_time_cap_reached_count`. `expired_stale_perc`
    /// tracks the share of sampled keys already expired (5% weight per cycle), and each database's
    /// `avg_ttl` the TTL of live samples (2% weight).
    pub fn active_expire_cycle(&mut self, budget_us: u64) -> usize {
        self.expire_cycle(budget_us)
    }

    /// The fast expiry cycle Redis runs before each event-loop sleep: only after a slow cycle ran out
    /// of time (Redis also looks at the stale share, but compares the fraction with a percentage, so
    /// in effect only the time limit counts), at most once per 2 ms, for at most 1 ms. Call it after
    /// serving a batch of commands. Returns the number of keys deleted.
    pub fn active_expire_cycle_fast(&mut self) -> usize {
        /// Redis's ACTIVE_EXPIRE_CYCLE_FAST_DURATION, µs, at effort 1.
        const FAST_DURATION_US: i64 = 1000;
        if self.is_replica || !self.expire_timelimit_exit {
            return 0;
        }
        let duration = FAST_DURATION_US + FAST_DURATION_US / 4 * self.effort_step() as i64;
        let now = crate::util::now_us();
        if now < self.expire_last_fast_cycle_us + 2 * duration {
            return 0;
        }
        self.expire_last_fast_cycle_us = now;
        self.expire_cycle(duration as u64)
    }

    /// The configured effort rescaled to 0..=9.
    fn effort_step(&self) -> usize {
        self.active_expire_effort.clamp(1, 10) as usize - 1
    }

    fn expire_cycle(&mut self, budget_us: u64) -> usize {
        /// Keys examined per round (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP at effort 1).
        const KEYS_PER_LOOP: usize = 20;
        /// Percent of expired keys in a round above which the database is sampled again.
        const ACCEPTABLE_STALE: usize = 10;
        let effort = self.effort_step();
        let keys_per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * effort;
        let acceptable_stale = ACCEPTABLE_STALE - effort;
        /// Databases visited per call (Redis's CRON_DBS_PER_CALL).
        const DBS_PER_CALL: usize = 16;
        if self.is_replica || self.dbs.is_empty() {
            return 0;
        }
        self.tick();
        let start = std::time::Instant::now();
        let timelimit = budget_us.max(1);
        let ndbs = self.dbs.len();
        let dbs_per_call = if self.expire_timelimit_exit {
            ndbs
        } else {
            DBS_PER_CALL.min(ndbs)
        };
        self.expire_timelimit_exit = false;
        let mut deleted = 0;
        let mut total_sampled = 0usize;
        let mut total_expired = 0usize;
        let mut iteration = 0u64;
        let mut j = 0;
        while j < dbs_per_call && !self.expire_timelimit_exit {
            let db = self.expire_current_db % ndbs;
            // Advance first, so a cycle cut short resumes with the next database.
            self.expire_current_db = self.expire_current_db.wrapping_add(1);
            j += 1;
            loop {
                iteration += 1;
                let num = self.dbs[db].expires.len();
                if num == 0 {
                    self.dbs[db].avg_ttl = 0;
                    break;
                }
                let now = crate::util::now_ms();
                let want = num.min(keys_per_loop);
                let (mut sampled, mut expired) = (0usize, 0usize);
                let (mut ttl_sum, mut ttl_samples) = (0i64, 0i64);
                while sampled < want {
                    let d = &mut self.dbs[db];
                    if d.expires.is_empty() {
                        break;
                    }
                    if d.expires_cursor >= d.expires.len() {
                        d.expires_cursor = 0;
                    }
                    let key = d.expires[d.expires_cursor].clone();
                    let when = d.table.get(&key).map(|e| e.expire).unwrap_or(NO_EXPIRE);
                    sampled += 1;
                    if when != NO_EXPIRE && when <= now {
                        // Removing swaps the last key into this position: the walk stays put.
                        self.delete_expired(db, &key);
                        expired += 1;
                    } else {
                        if when != NO_EXPIRE {
                            ttl_sum += when - now;
                            ttl_samples += 1;
                        }
                        self.dbs[db].expires_cursor += 1;
                    }
                }
                total_sampled += sampled;
                total_expired += expired;
                deleted += expired;
                if ttl_samples > 0 {
                    let avg = ttl_sum / ttl_samples;
                    let d = &mut self.dbs[db];
                    if d.avg_ttl == 0 {
                        d.avg_ttl = avg;
                    }
                    d.avg_ttl = (d.avg_ttl / 50) * 49 + avg / 50;
                }
                if iteration & 0xf == 0 && start.elapsed().as_micros() as u64 > timelimit {
                    self.expire_timelimit_exit = true;
                    self.stats.expired_time_cap_reached_count += 1;
                    break;
                }
                if sampled != 0 && expired * 100 / sampled <= acceptable_stale {
                    break;
                }
            }
        }
        let elapsed_us = start.elapsed().as_micros() as u64;
        self.stats.expire_cycle_time_used_us += elapsed_us;
        self.stats.expire_cycle_cpu_milliseconds = self.stats.expire_cycle_time_used_us / 1000;
        let current = if total_sampled > 0 {
            total_expired as f64 / total_sampled as f64
        } else {
            0.0
        };
        self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
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
    fn expired_keys_are_not_queued_without_a_consumer() {
        let mut k = ks();
        for i in 0..100 {
            k.set(0, Bytes::from(format!("k{i}")), Value::Int(i), k.now_ms - 1);
        }
        for i in 0..100 {
            assert!(k.lookup_read(0, format!("k{i}").as_bytes()).is_none());
        }
        assert_eq!(k.stats.expired_keys, 100);
        assert!(k.expired_pending.is_empty());
    }

    #[test]
    fn lazy_expiry_deletes_and_queues_del() {
        let mut k = ks();
        k.propagate_expired = true;
        k.set(
            0,
            Bytes::from_static(b"a"),
            Value::Str(Bytes::from_static(b"x").into()),
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
            Value::Str(Bytes::from_static(b"x").into()),
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

    fn key(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn rename_keeps_the_ttl_and_the_expires_index() {
        let mut k = ks();
        let later = k.now_ms + 100_000;
        k.set(0, key("a"), Value::Int(1), later);
        k.set(0, key("b"), Value::Int(2), k.now_ms + 5);
        assert!(k.rename(0, b"a", key("b")));
        assert!(!k.rename(0, b"a", key("c")));
        assert_eq!(k.get_expire(0, b"b"), later);
        assert_eq!(k.dbs[0].len(), 1);
        assert_eq!(k.dbs[0].expires.len(), 1);
        assert!(k.dbs[0].expires.contains(b"b".as_slice()));
        // Renaming onto a key without TTL, from one without TTL, clears the index entry.
        k.set(0, key("p"), Value::Int(3), NO_EXPIRE);
        assert!(k.rename(0, b"p", key("b")));
        assert_eq!(k.dbs[0].expires.len(), 0);
        assert_eq!(k.get_expire(0, b"b"), NO_EXPIRE);
    }

    #[test]
    fn move_and_swap_carry_expiry_across_databases() {
        let mut k = ks();
        let later = k.now_ms + 100_000;
        k.set(0, key("a"), Value::Int(1), later);
        k.set(0, key("keep"), Value::Int(2), NO_EXPIRE);
        assert!(k.move_key(0, 3, b"a"));
        assert!(!k.move_key(0, 3, b"a"));
        assert_eq!(k.dbs[0].expires.len(), 0);
        assert_eq!(k.dbs[3].expires.len(), 1);
        assert_eq!(k.get_expire(3, b"a"), later);
        let before = k.version;
        k.swap_dbs(0, 3);
        assert_eq!(k.dbs[0].expires.len(), 1);
        assert_eq!(k.get_expire(0, b"a"), later);
        assert!(k.lookup_peek(3, b"keep").is_some());
        // Every entry of both databases carries the swap's version (WATCH and snapshots see it).
        assert!(k.lookup_peek(0, b"a").unwrap().version > before);
        assert!(k.lookup_peek(3, b"keep").unwrap().version > before);
    }

    #[test]
    fn flushes_count_and_clear_the_index() {
        let mut k = ks();
        for db in [0, 1, 7] {
            k.set(db, key("x"), Value::Int(1), k.now_ms + 1000);
            k.set(db, key("y"), Value::Int(1), NO_EXPIRE);
        }
        assert_eq!(k.flush_db(1), 2);
        assert_eq!(k.dbs[1].expires.len(), 0);
        assert_eq!(k.flush_all(), 4);
        assert_eq!(k.total_keys(), 0);
        assert!(k.dbs.iter().all(|d| d.expires.is_empty()));
    }

    #[test]
    fn write_peek_expires_without_a_version_bump() {
        let mut k = ks();
        k.set(0, key("a"), Value::Int(1), NO_EXPIRE);
        let v = k.version;
        assert!(k.lookup_write_peek(0, b"a").is_some());
        assert_eq!(k.version, v);
        k.set(0, key("old"), Value::Int(1), k.now_ms - 1);
        k.is_replica = true;
        // A write lookup deletes an expired key even on a replica (Redis's LOOKUP_WRITE).
        assert!(k.lookup_write_peek(0, b"old").is_none());
        assert_eq!(k.dbs[0].len(), 1);
    }

    #[test]
    fn notouch_lookups_count_stats_but_keep_the_lru() {
        let mut k = ks();
        k.set(0, key("a"), Value::Int(1), NO_EXPIRE);
        k.dbs[0].table.get_mut(b"a").unwrap().lru = 5;
        assert!(k.lookup_read_notouch(0, b"a").is_some());
        assert!(k.lookup_read_notouch(0, b"b").is_none());
        assert_eq!(k.lookup_peek(0, b"a").unwrap().lru, 5);
        assert_eq!((k.stats.keyspace_hits, k.stats.keyspace_misses), (1, 1));
    }

    #[test]
    fn active_cycle_tracks_stale_share_and_time_cap() {
        let mut k = ks();
        let past = k.now_ms - 10;
        for i in 0..20_000 {
            k.set(0, Bytes::from(format!("e{i}")), Value::Int(i), past);
        }
        for i in 0..100 {
            k.set(
                0,
                Bytes::from(format!("live{i}")),
                Value::Int(i),
                k.now_ms + 60_000,
            );
        }
        // A 1 µs budget is exceeded after the first 16 rounds: the cycle stops and says so.
        let n = k.active_expire_cycle(1);
        assert!(n > 0 && n < 20_000, "{n}");
        assert_eq!(k.stats.expired_time_cap_reached_count, 1);
        assert!(k.expire_timelimit_exit);
        assert!(
            k.stats.expired_stale_perc > 0.02,
            "{}",
            k.stats.expired_stale_perc
        );
        while k.dbs[0].len() > 100 {
            k.active_expire_cycle(25_000);
        }
        assert_eq!(k.stats.expired_keys, 20_000);
        // With only live keys left the cycle samples once per database and stops; avg_ttl is known.
        k.active_expire_cycle(25_000);
        assert!(k.dbs[0].avg_ttl > 50_000, "{}", k.dbs[0].avg_ttl);
        assert_eq!(k.dbs[0].len(), 100);
    }

    #[test]
    fn a_replica_applying_its_master_stream_sees_expired_keys() {
        let mut k = ks();
        k.is_replica = true;
        k.set(0, key("a"), Value::Int(1), k.now_ms - 1);
        assert!(k.lookup_read(0, b"a").is_none());
        k.serving_master = true;
        assert!(k.lookup_read(0, b"a").is_some());
        assert!(k.lookup_write(0, b"a").is_some());
        assert!(k.lookup_write_peek(0, b"a").is_some());
        assert_eq!(k.dbs[0].len(), 1);
        k.serving_master = false;
        // A client write on a writable replica deletes it.
        assert!(k.lookup_write_peek(0, b"a").is_none());
        assert_eq!(k.dbs[0].len(), 0);
    }

    #[test]
    fn fast_cycle_runs_only_after_a_time_capped_slow_cycle() {
        let mut k = ks();
        let past = k.now_ms - 10;
        for i in 0..5000 {
            k.set(0, Bytes::from(format!("e{i}")), Value::Int(i), past);
        }
        assert_eq!(k.active_expire_cycle_fast(), 0);
        k.active_expire_cycle(1);
        assert!(k.expire_timelimit_exit);
        let before = k.dbs[0].len();
        assert!(k.active_expire_cycle_fast() > 0);
        assert!(k.dbs[0].len() < before);
        // Not again within 2 ms of the last start.
        k.expire_timelimit_exit = true;
        k.expire_last_fast_cycle_us = crate::util::now_us();
        assert_eq!(k.active_expire_cycle_fast(), 0);
    }

    #[test]
    fn randomkey_on_a_replica_with_only_expired_keys_gives_up() {
        let mut k = ks();
        k.is_replica = true;
        k.set(0, key("a"), Value::Int(1), k.now_ms - 1);
        assert_eq!(k.random_key(0), Some(key("a")));
        assert_eq!(k.dbs[0].len(), 1);
        // A master deletes the expired keys it meets and finds the live one.
        let mut m = ks();
        m.set(0, key("gone"), Value::Int(1), m.now_ms - 1);
        m.set(0, key("live"), Value::Int(1), NO_EXPIRE);
        assert_eq!(m.random_key(0), Some(key("live")));
        m.flush_db(0);
        m.set(0, key("gone"), Value::Int(1), m.now_ms - 1);
        assert_eq!(m.random_key(0), None);
        assert_eq!(m.dbs[0].len(), 0);
    }

    #[test]
    fn set_over_an_expired_key_counts_it_as_expired() {
        let mut k = ks();
        k.propagate_expired = true;
        k.set(0, key("a"), Value::Int(1), k.now_ms - 1);
        k.set(0, key("a"), Value::Int(2), NO_EXPIRE);
        assert_eq!(k.stats.expired_keys, 1);
        assert_eq!(k.expired_pending, vec![(0, key("a"))]);
        assert_eq!(k.dbs[0].expires.len(), 0);
        // The master's stream on a replica sees the key as live: a plain overwrite.
        k.is_replica = true;
        k.serving_master = true;
        k.set(0, key("b"), Value::Int(1), k.now_ms - 1);
        k.set(0, key("b"), Value::Int(2), NO_EXPIRE);
        assert_eq!(k.stats.expired_keys, 1);
    }
}
