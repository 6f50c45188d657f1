//! Maxmemory and eviction: the policies, the LRU/LFU data kept in each entry's 24-bit `lru` field,
//! and the approximated eviction Redis runs before every command ([`Keyspace::perform_evictions`]).
//!
//! # The approximation
//! Nothing orders the keys by age or frequency. Each round samples `maxmemory-samples` keys of every
//! database (all keys, or only those with a TTL for the `volatile-*` policies) and merges them into a
//! pool of the [`EVPOOL_SIZE`] best candidates seen so far, ordered by a score where higher means
//! "evict first": idle time for LRU, `255 - counter` for LFU, `u64::MAX - expire` for
//! `volatile-ttl`. The best candidate that still exists is deleted; the pool survives between rounds
//! and calls, so it keeps improving. The `*-random` policies delete a random key of the next
//! non-empty database, round-robin.
//!
//! One call deletes keys until the memory it measured freed covers the excess, but stops after a
//! time limit set by `maxmemory-eviction-tenacity` (checked every 16 keys); then it reports
//! [`EvictResult::Running`] and the server keeps calling it from a background task until the memory
//! is back under the limit (Redis's eviction time proc). Only [`EvictResult::Fail`] (nothing left to
//! evict, or `noeviction`) makes dispatch refuse `denyoom` commands with -OOM.
//!
//! # The `lru` field
//! Under an LRU (or any non-LFU) policy it holds the LRU clock in seconds (24 bits) of the last
//! access. Under an LFU policy it holds, as Redis's does, the last decrement time in minutes (16 bits)
//! and an 8-bit logarithmic access counter: an access first decays the counter by one per
//! `lfu-decay-time` minutes elapsed, then increments it with probability `1 / ((c - 5) *
//! lfu-log-factor + 1)`. New keys start at 5 so they are not evicted before they had a chance to be
//! read. Switching policy at run time reinterprets the old data, as Redis does.
//!
//! Evicted keys leave through the same path as expired ones: removed with `remove_entry` (WATCH,
//! snapshots), counted in `evicted_keys`, and queued in `expired_pending` for a DEL to replicas.

use bytes::Bytes;
use std::time::Instant;

use super::{Keyspace, NO_EXPIRE};

/// Size of the pool of eviction candidates.
pub const EVPOOL_SIZE: usize = 16;
/// The counter a new key starts with under LFU.
pub const LFU_INIT_VAL: u32 = 5;
/// Redis's LRU clock wraps at 24 bits.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl Policy {
    /// Parses a configuration value (already validated by the config table).
    pub fn parse(name: &str) -> Policy {
        match name.to_ascii_lowercase().as_str() {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    /// Candidates come from every key, not only keys with a TTL.
    pub fn allkeys(self) -> bool {
        matches!(
            self,
            Policy::AllkeysLru | Policy::AllkeysLfu | Policy::AllkeysRandom
        )
    }

    pub fn lfu(self) -> bool {
        matches!(self, Policy::AllkeysLfu | Policy::VolatileLfu)
    }

    pub fn lru(self) -> bool {
        matches!(self, Policy::AllkeysLru | Policy::VolatileLru)
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllkeysRandom | Policy::VolatileRandom)
    }
}

/// What one eviction call achieved (Redis's EVICT_OK / EVICT_RUNNING / EVICT_FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictResult {
    /// Under the limit (or eviction does not apply now).
    Ok,
    /// Still over the limit, but the time limit stopped this call: more eviction follows in the
    /// background. Commands are not refused.
    Running,
    /// Over the limit and nothing can be evicted: `denyoom` commands are refused.
    Fail,
}

/// After an eviction that found nothing to evict: if the lazy-free thread has work (`pending`),
/// waits for it for `limit_us` (one eviction call's time limit) and then reports whether memory is
/// under the limit now (`under_limit`). Redis sleeps the time limit once; at tenacity 100 (no time
/// limit) it would sleep for about 71 minutes, so here "no limit" waits until the thread is idle
/// instead, checking every millisecond. Nothing pending: no wait, false.
pub fn wait_for_lazy_free(
    limit_us: u64,
    pending: impl Fn() -> u64,
    under_limit: impl Fn() -> bool,
) -> bool {
    if pending() == 0 {
        return false;
    }
    if limit_us != u64::MAX {
        std::thread::sleep(std::time::Duration::from_micros(limit_us));
        return under_limit();
    }
    loop {
        std::thread::sleep(std::time::Duration::from_millis(1));
        if under_limit() {
            return true;
        }
        if pending() == 0 {
            return under_limit();
        }
    }
}

/// One candidate of the pool.
#[derive(Clone, Debug)]
struct Candidate {
    score: u64,
    db: usize,
    key: Bytes,
}

/// Eviction settings (mirrored from the configuration) and state kept across calls.
#[derive(Debug)]
pub struct EvictState {
    /// `maxmemory`, bytes; 0 = no limit (then dispatch pays one branch and nothing else).
    pub maxmemory: u64,
    pub policy: Policy,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity` (0..=100).
    pub tenacity: u32,
    /// `lfu-log-factor` and `lfu-decay-time` (minutes).
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// Candidates, best last; empty slots are None and sit at the end of the filled ones.
    pool: [Option<Candidate>; EVPOOL_SIZE],
    /// Where the random policies continue their round-robin over databases.
    next_db: usize,
    /// xorshift state for the LFU increment's coin flip (cheaper than a thread RNG per access).
    rng: u64,
    /// Since when the memory has been over the limit without eviction catching up
    /// (`current_eviction_exceeded_time`).
    pub exceeded_since: Option<Instant>,
    /// Total of the finished over-the-limit periods, µs (`total_eviction_exceeded_time`).
    pub exceeded_total_us: u64,
    /// An eviction call stopped on its time limit and the background task continues it.
    pub proc_running: bool,
    /// `replica-ignore-maxmemory`: a replica leaves eviction to its master.
    pub replica_ignore_maxmemory: bool,
    /// Under LFU, the key (database, hash) the running command last looked up: overwriting it
    /// afterwards is the same access, not a second one (Redis counts one per lookup, and an
    /// overwrite keeps the counter). Cleared before each command.
    pub last_touched: Option<(usize, u64)>,
}

impl Default for EvictState {
    fn default() -> Self {
        EvictState {
            maxmemory: 0,
            policy: Policy::NoEviction,
            samples: 5,
            tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            pool: Default::default(),
            next_db: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (crate::util::now_us() as u64),
            exceeded_since: None,
            exceeded_total_us: 0,
            proc_running: false,
            replica_ignore_maxmemory: true,
            last_touched: None,
        }
    }
}

/// Minutes on LFU's 16-bit clock.
#[inline]
pub fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// Seconds since an access at LRU clock `lru` (wrapping like Redis's 24-bit clock).
pub fn idle_seconds(lru_now: u32, lru: u32) -> u64 {
    if lru_now >= lru {
        (lru_now - lru) as u64
    } else {
        lru_now as u64 + (LRU_CLOCK_MAX - lru.min(LRU_CLOCK_MAX)) as u64
    }
}

/// The LRU clock `secs` seconds before `lru_now` (wrapping like Redis's 24-bit clock).
pub fn lru_minus(lru_now: u32, secs: u64) -> u32 {
    let span = LRU_CLOCK_MAX as u64 + 1;
    ((lru_now as u64 + span - secs % span) % span) as u32
}

/// The LFU counter of a field after the decay owed since its last decrement time (Redis's
/// `LFUDecrAndReturn`); the field itself is not changed.
pub fn lfu_decr_and_return(field: u32, now_ms: i64, decay_time: u32) -> u32 {
    let ldt = field >> 8;
    let counter = field & 0xFF;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    // A decay time of 0 means no decay.
    let periods = elapsed.checked_div(decay_time).unwrap_or(0);
    counter.saturating_sub(periods)
}

impl EvictState {
    /// Takes the configured values of `other` (a keyspace replacing another keeps its settings).
    pub fn copy_config_from(&mut self, other: &EvictState) {
        self.maxmemory = other.maxmemory;
        self.policy = other.policy;
        self.samples = other.samples;
        self.tenacity = other.tenacity;
        self.lfu_log_factor = other.lfu_log_factor;
        self.lfu_decay_time = other.lfu_decay_time;
        self.replica_ignore_maxmemory = other.replica_ignore_maxmemory;
    }

    /// Takes the configuration's values (at start-up and after CONFIG SET).
    pub fn configure(
        &mut self,
        maxmemory: u64,
        policy: &str,
        samples: i64,
        tenacity: i64,
        lfu_log_factor: i64,
        lfu_decay_time: i64,
    ) {
        let policy = Policy::parse(policy);
        if policy != self.policy {
            // Scores of different policies do not compare.
            self.pool = Default::default();
        }
        self.maxmemory = maxmemory;
        self.policy = policy;
        self.samples = samples.clamp(1, 1 << 16) as usize;
        self.tenacity = tenacity.clamp(0, 100) as u32;
        self.lfu_log_factor = lfu_log_factor.clamp(0, u32::MAX as i64) as u32;
        self.lfu_decay_time = lfu_decay_time.clamp(0, u32::MAX as i64) as u32;
    }

    /// What an RDB key record says of a key whose `lru` field is `field` (see
    /// [`crate::rdb::encode::KeyMeta`]): its idle time under an LRU policy, its decayed counter
    /// under an LFU policy, nothing otherwise.
    pub fn rdb_meta(&self, field: u32, lru_now: u32, now_ms: i64) -> crate::rdb::encode::KeyMeta {
        use crate::rdb::encode::KeyMeta;
        if self.policy.lru() {
            KeyMeta::Idle(idle_seconds(lru_now, field))
        } else if self.policy.lfu() {
            let c = lfu_decr_and_return(field, now_ms, self.lfu_decay_time);
            KeyMeta::Freq(c.min(255) as u8)
        } else {
            KeyMeta::None
        }
    }

    /// The `lru` field of `key`, being created by the running command.
    #[inline(always)]
    pub fn new_lru(&mut self, db: usize, key: &[u8], lru_now: u32, now_ms: i64) -> u32 {
        if self.policy.lfu() {
            self.lfu_new(db, key, now_ms)
        } else {
            lru_now
        }
    }

    /// The `lru` field after a lookup of `key` (Redis's lookupKey touch: the LRU clock, or
    /// `updateLFU`).
    #[inline(always)]
    pub fn touch(&mut self, db: usize, key: &[u8], old: u32, lru_now: u32, now_ms: i64) -> u32 {
        if self.policy.lfu() {
            self.lfu_touch(db, key, old, now_ms, false)
        } else {
            lru_now
        }
    }

    /// The `lru` field when the running command writes `key` (modifies it in place, replaces its
    /// value, renames it): under LRU the LRU clock; under LFU the counter is kept and counts one
    /// access, unless this command's lookup of the key already counted it.
    #[inline(always)]
    pub fn touch_once(
        &mut self,
        db: usize,
        key: &[u8],
        old: u32,
        lru_now: u32,
        now_ms: i64,
    ) -> u32 {
        if self.policy.lfu() {
            self.lfu_touch(db, key, old, now_ms, true)
        } else {
            lru_now
        }
    }

    /// Creating is this command's access to the key: a write through the new entry right after
    /// (create, then modify) does not count again.
    #[inline(never)]
    fn lfu_new(&mut self, db: usize, key: &[u8], now_ms: i64) -> u32 {
        self.last_touched = Some((db, super::table::KeyHash::of(key).pos()));
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
    }

    #[inline(never)]
    fn lfu_touch(&mut self, db: usize, key: &[u8], old: u32, now_ms: i64, once: bool) -> u32 {
        let this = Some((db, super::table::KeyHash::of(key).pos()));
        if once && self.last_touched == this {
            return old;
        }
        self.last_touched = this;
        self.lfu_update(old, now_ms)
    }

    fn lfu_update(&mut self, old: u32, now_ms: i64) -> u32 {
        let counter = lfu_decr_and_return(old, now_ms, self.lfu_decay_time);
        let counter = self.lfu_log_incr(counter);
        (lfu_minutes(now_ms) << 8) | counter
    }

    /// Redis's `LFULogIncr`: the higher the counter, the less likely it grows.
    fn lfu_log_incr(&mut self, counter: u32) -> u32 {
        if counter >= 255 {
            return 255;
        }
        let r = self.next_f64();
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * self.lfu_log_factor as f64 + 1.0);
        if r < p {
            counter + 1
        } else {
            counter
        }
    }

    /// A uniform number in [0, 1).
    fn next_f64(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The time one eviction call may take, µs (Redis's `evictionTimeLimitUs`): linear up to 500 µs
    /// at tenacity 10, then 15% more per step, unlimited at 100.
    pub fn time_limit_us(&self) -> u64 {
        match self.tenacity {
            t @ 0..=10 => 50 * t as u64,
            t @ 11..=99 => (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
            _ => u64::MAX,
        }
    }

    /// Merges one sample into the pool (Redis's `evictionPoolPopulate` insertion): the pool stays
    /// sorted by score, best last; a sample worse than all of a full pool is dropped, otherwise it
    /// takes its place and the worst candidate falls off the front.
    fn pool_insert(&mut self, cand: Candidate) {
        let pool = &mut self.pool;
        let mut k = 0;
        while k < EVPOOL_SIZE && pool[k].as_ref().is_some_and(|c| c.score < cand.score) {
            k += 1;
        }
        let last_full = pool[EVPOOL_SIZE - 1].is_some();
        if k == 0 && last_full {
            return;
        }
        if k < EVPOOL_SIZE && pool[k].is_none() {
            // An empty slot right where it belongs.
        } else if !last_full {
            // Room on the right: shift k.. one step right.
            pool[k..].rotate_right(1);
        } else {
            // Full: drop the worst (front) and insert just before k.
            k -= 1;
            pool[..=k].rotate_left(1);
        }
        pool[k] = Some(cand);
    }

    /// Takes the best candidate out of the pool.
    fn pool_pop_best(&mut self) -> Option<Candidate> {
        self.pool.iter_mut().rev().find_map(|c| c.take())
    }

    /// Closes or opens an over-the-limit period for the INFO stats.
    fn note_result(&mut self, r: EvictResult) {
        match r {
            EvictResult::Running | EvictResult::Fail => {
                if self.exceeded_since.is_none() {
                    self.exceeded_since = Some(Instant::now());
                }
            }
            EvictResult::Ok => {
                if let Some(t) = self.exceeded_since.take() {
                    self.exceeded_total_us += t.elapsed().as_micros() as u64;
                }
            }
        }
    }

    /// `current_eviction_exceeded_time`, ms.
    pub fn current_exceeded_ms(&self) -> u64 {
        self.exceeded_since
            .map(|t| t.elapsed().as_millis() as u64)
            .unwrap_or(0)
    }

    /// `total_eviction_exceeded_time`, ms (the current period included).
    pub fn total_exceeded_ms(&self) -> u64 {
        (self.exceeded_total_us
            + self
                .exceeded_since
                .map(|t| t.elapsed().as_micros() as u64)
                .unwrap_or(0))
            / 1000
    }
}

impl Keyspace {
    /// The used memory counted against `maxmemory`, and how much must be freed (0 when under the
    /// limit). `not_counted` is memory Redis leaves out (replication buffers beyond the backlog).
    pub fn maxmemory_state(&self, used: u64, not_counted: u64) -> u64 {
        let max = self.evict.maxmemory;
        if max == 0 || used <= max {
            return 0;
        }
        used.saturating_sub(not_counted).saturating_sub(max)
    }

    /// Evicts keys until the memory is under `maxmemory` (Redis's `performEvictions`), measuring
    /// memory with [`crate::alloc::used_memory`]. The caller has decided that eviction may run (not
    /// loading, not a replica ignoring maxmemory, no client pause).
    pub fn perform_evictions(&mut self, not_counted: u64) -> EvictResult {
        self.perform_evictions_with(not_counted, |_| crate::alloc::used_memory())
    }

    /// [`Keyspace::perform_evictions`] with the memory figure from `used_memory` (tests inject one).
    pub fn perform_evictions_with(
        &mut self,
        not_counted: u64,
        used_memory: impl Fn(&Keyspace) -> u64,
    ) -> EvictResult {
        let tofree = self.maxmemory_state(used_memory(self), not_counted);
        let mut result = if tofree == 0 {
            EvictResult::Ok
        } else if self.evict.policy == Policy::NoEviction {
            EvictResult::Fail
        } else {
            self.evict_loop(tofree, not_counted, &used_memory)
        };
        // Nothing left to evict, but the lazy-free thread may still be giving memory back: a
        // short wait before the command gets -OOM, as Redis does.
        if result == EvictResult::Fail
            && wait_for_lazy_free(self.evict.time_limit_us(), super::lazyfree::pending, || {
                self.maxmemory_state(used_memory(self), not_counted) == 0
            })
        {
            result = EvictResult::Ok;
        }
        if result != EvictResult::Running {
            self.evict.proc_running = false;
        }
        self.evict.note_result(result);
        result
    }

    fn evict_loop(
        &mut self,
        tofree: u64,
        not_counted: u64,
        used_memory: &impl Fn(&Keyspace) -> u64,
    ) -> EvictResult {
        let limit_us = self.evict.time_limit_us();
        let start = Instant::now();
        let mut freed: i64 = 0;
        let mut keys_freed = 0u64;
        self.tick();
        while freed < tofree as i64 {
            let Some((db, key)) = self.pick_victim() else {
                return EvictResult::Fail;
            };
            let before = used_memory(self) as i64;
            if let Some((k, entry)) = self.remove_entry(db, &key) {
                // The value is freed here, inside the measurement; under
                // `lazyfree-lazy-eviction` a costly one goes to the lazy-free thread, and the
                // check every 16 keys below sees what that thread has given back.
                if self.lazy_eviction {
                    super::lazyfree::free_value(entry.value);
                } else {
                    drop(entry);
                }
                self.stats.evicted_keys += 1;
                // Delivered by `server::perform_evictions`, which runs outside the command.
                self.notify
                    .raise(super::notify::class::EVICTED, "evicted", db, &k);
                if self.propagate_expired {
                    self.expired_pending.push((db, k));
                }
            }
            freed += before - used_memory(self) as i64;
            keys_freed += 1;
            if self.lazy_eviction
                && keys_freed.is_multiple_of(16)
                && self.maxmemory_state(used_memory(self), not_counted) == 0
            {
                break;
            }
            if keys_freed.is_multiple_of(16) && start.elapsed().as_micros() as u64 > limit_us {
                self.evict.proc_running = true;
                break;
            }
        }
        if self.evict.proc_running {
            EvictResult::Running
        } else {
            EvictResult::Ok
        }
    }

    /// The next key to evict under the current policy, or None when no candidate exists.
    fn pick_victim(&mut self) -> Option<(usize, Bytes)> {
        let policy = self.evict.policy;
        let allkeys = policy.allkeys();
        let ndbs = self.dbs.len();
        if policy.random() {
            for _ in 0..ndbs {
                self.evict.next_db = (self.evict.next_db + 1) % ndbs;
                let d = &self.dbs[self.evict.next_db];
                let key = if allkeys {
                    d.table.random().map(|(k, _)| Bytes::copy_from_slice(k))
                } else if d.expires.is_empty() {
                    None
                } else {
                    let i = rand::Rng::gen_range(&mut rand::thread_rng(), 0..d.expires.len());
                    d.expires.get_index(i).cloned()
                };
                if let Some(k) = key {
                    return Some((self.evict.next_db, k));
                }
            }
            return None;
        }
        loop {
            let mut total = 0usize;
            for db in 0..ndbs {
                let n = if allkeys {
                    self.dbs[db].len()
                } else {
                    self.dbs[db].expires.len()
                };
                if n > 0 {
                    self.populate_pool(db);
                    total += n;
                }
            }
            if total == 0 {
                return None;
            }
            // Best first; a candidate deleted since it was sampled (a ghost) is skipped.
            while let Some(c) = self.evict.pool_pop_best() {
                let d = &self.dbs[c.db];
                let live = if allkeys {
                    d.table.contains_key(&c.key)
                } else {
                    d.expires.contains(&c.key[..])
                };
                if live {
                    return Some((c.db, c.key));
                }
            }
        }
    }

    /// Samples `maxmemory-samples` keys of one database into the pool.
    fn populate_pool(&mut self, db: usize) {
        let ev = &mut self.evict;
        let d = &self.dbs[db];
        let (lru_now, now_ms) = (self.lru_now, self.now_ms);
        let policy = ev.policy;
        let score = |e: &super::Entry| -> u64 {
            match policy {
                Policy::VolatileTtl => {
                    if e.expire == NO_EXPIRE {
                        0
                    } else {
                        u64::MAX - e.expire.max(0) as u64
                    }
                }
                p if p.lfu() => 255 - lfu_decr_and_return(e.lru, now_ms, ev.lfu_decay_time) as u64,
                // Idle time in ms, as Redis's `estimateObjectIdleTime` (1 s resolution).
                _ => idle_seconds(lru_now, e.lru) * 1000,
            }
        };
        let mut samples: Vec<Candidate> = Vec::with_capacity(ev.samples);
        if policy.allkeys() {
            if d.table.len() <= ev.samples {
                for (k, e) in d.table.iter() {
                    samples.push(Candidate {
                        score: score(e),
                        db,
                        key: Bytes::copy_from_slice(k),
                    });
                }
            } else {
                for _ in 0..ev.samples {
                    if let Some((k, e)) = d.table.random() {
                        samples.push(Candidate {
                            score: score(e),
                            db,
                            key: Bytes::copy_from_slice(k),
                        });
                    }
                }
            }
        } else {
            let n = d.expires.len();
            let mut take = |i: usize| {
                if let Some(k) = d.expires.get_index(i) {
                    if let Some(e) = d.table.get(k) {
                        samples.push(Candidate {
                            score: score(e),
                            db,
                            key: k.clone(),
                        });
                    }
                }
            };
            if n <= ev.samples {
                (0..n).for_each(&mut take);
            } else {
                let mut rng = rand::thread_rng();
                for _ in 0..ev.samples {
                    take(rand::Rng::gen_range(&mut rng, 0..n));
                }
            }
        }
        for c in samples {
            self.evict.pool_insert(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::db::Value;

    fn key(s: String) -> Bytes {
        Bytes::from(s)
    }

    /// A keyspace whose "memory" is 100 bytes per key.
    fn fill(ks: &mut Keyspace, n: usize, ttl: bool) {
        for i in 0..n {
            let exp = if ttl {
                ks.now_ms + 100_000 + i as i64
            } else {
                NO_EXPIRE
            };
            ks.set(0, key(format!("k{i}")), Value::Int(i as i64), exp);
        }
    }

    fn mem(ks: &Keyspace) -> u64 {
        ks.total_keys() as u64 * 100
    }

    fn run(ks: &mut Keyspace) -> EvictResult {
        ks.perform_evictions_with(0, mem)
    }

    #[test]
    fn pool_keeps_the_best_sixteen_sorted() {
        let mut ev = EvictState::default();
        for s in [
            5u64, 1, 9, 3, 7, 2, 8, 4, 6, 0, 10, 11, 12, 13, 14, 15, 16, 17, 18,
        ] {
            ev.pool_insert(Candidate {
                score: s,
                db: 0,
                key: Bytes::from(s.to_string()),
            });
        }
        let scores: Vec<u64> = ev.pool.iter().map(|c| c.as_ref().unwrap().score).collect();
        assert_eq!(scores, (3..=18).collect::<Vec<_>>());
        // Worse than all of a full pool: dropped.
        ev.pool_insert(Candidate {
            score: 1,
            db: 0,
            key: Bytes::new(),
        });
        assert_eq!(ev.pool[0].as_ref().unwrap().score, 3);
        assert_eq!(ev.pool_pop_best().unwrap().score, 18);
        assert_eq!(ev.pool_pop_best().unwrap().score, 17);
    }

    #[test]
    fn allkeys_policies_evict_down_to_the_limit() {
        for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            let mut ks = Keyspace::new(4);
            ks.evict.configure(0, policy, 5, 100, 10, 1);
            fill(&mut ks, 1000, false);
            ks.evict.maxmemory = 50_000;
            assert_eq!(run(&mut ks), EvictResult::Ok, "{policy}");
            assert!(mem(&ks) <= 50_000, "{policy}");
            assert_eq!(ks.stats.evicted_keys, 500, "{policy}");
        }
    }

    #[test]
    fn volatile_policies_spare_keys_without_ttl() {
        for policy in [
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            let mut ks = Keyspace::new(2);
            ks.evict.configure(0, policy, 5, 100, 10, 1);
            ks.propagate_expired = true;
            fill(&mut ks, 100, true);
            for i in 0..100 {
                ks.set(1, key(format!("p{i}")), Value::Int(i), NO_EXPIRE);
            }
            ks.evict.maxmemory = 100 * 150;
            assert_eq!(run(&mut ks), EvictResult::Ok, "{policy}");
            assert_eq!(ks.dbs[1].len(), 100);
            assert_eq!(ks.dbs[0].len(), 50);
            assert_eq!(ks.expired_pending.len(), 50);
            // Nothing with a TTL is left: eviction cannot go further.
            ks.evict.maxmemory = 100 * 90;
            assert_eq!(run(&mut ks), EvictResult::Fail, "{policy}");
            assert_eq!(ks.dbs[1].len(), 100);
            assert!(ks.evict.exceeded_since.is_some());
        }
    }

    #[test]
    fn volatile_ttl_evicts_the_nearest_expiry_first() {
        let mut ks = Keyspace::new(1);
        ks.evict.configure(0, "volatile-ttl", 5, 100, 10, 1);
        fill(&mut ks, 200, true);
        ks.evict.maxmemory = 100 * 150;
        assert_eq!(run(&mut ks), EvictResult::Ok);
        // k0..k49 expire first; the approximation may spare a few of them.
        let early_left = (0..50)
            .filter(|i| ks.dbs[0].table.contains_key(format!("k{i}").as_bytes()))
            .count();
        assert!(early_left < 25, "{early_left}");
    }

    #[test]
    fn noeviction_fails_and_lru_prefers_idle_keys() {
        let mut ks = Keyspace::new(1);
        fill(&mut ks, 10, false);
        ks.evict.maxmemory = 500;
        assert_eq!(run(&mut ks), EvictResult::Fail);
        assert_eq!(ks.total_keys(), 10);
        ks.evict.configure(500, "allkeys-lru", 10, 100, 10, 1);
        for i in 0..5 {
            ks.dbs[0]
                .table
                .get_mut(format!("k{i}").as_bytes())
                .unwrap()
                .lru = ks.lru_now.wrapping_sub(100);
        }
        assert_eq!(run(&mut ks), EvictResult::Ok);
        assert!((0..5).all(|i| !ks.dbs[0].table.contains_key(format!("k{i}").as_bytes())));
        assert_eq!(ks.total_keys(), 5);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut ev = EvictState::default();
        ev.configure(0, "allkeys-lfu", 5, 10, 10, 1);
        let now = 1_700_000_000_000i64;
        let mut f = ev.new_lru(1, b"other", 0, now);
        assert_eq!(f & 0xFF, LFU_INIT_VAL);
        f = ev.touch(0, b"k", f, 0, now);
        assert_eq!(
            f & 0xFF,
            6,
            "the first access past the initial value always counts"
        );
        // An overwrite right after the lookup is the same access.
        assert_eq!(ev.touch_once(0, b"k", f, 0, now), f);
        // A new command's access counts again, with probability 1/(1 * lfu-log-factor + 1).
        ev.last_touched = None;
        let again = ev.touch_once(0, b"k", f, 0, now) & 0xFF;
        assert!(again == 6 || again == 7, "{again}");
        for _ in 0..10_000 {
            f = ev.touch(0, b"k", f, 0, now);
        }
        let c = f & 0xFF;
        assert!((15..60).contains(&c), "{c}");
        // Ten minutes later, with a decay time of one minute: ten less.
        assert_eq!(lfu_decr_and_return(f, now + 600_000, 1), c - 10);
        assert_eq!(lfu_decr_and_return(f, now + 600_000, 0), c);
    }

    #[test]
    fn a_call_stops_on_its_time_limit_and_continues_later() {
        let mut ks = Keyspace::new(1);
        ks.evict.configure(0, "allkeys-random", 5, 0, 10, 1);
        fill(&mut ks, 100, false);
        ks.evict.maxmemory = 1000;
        // Tenacity 0: no time at all, so the call stops after the first 16 keys.
        assert_eq!(run(&mut ks), EvictResult::Running);
        assert_eq!(ks.total_keys(), 84);
        assert!(ks.evict.proc_running);
        ks.evict.tenacity = 100;
        // Still "running" while the flag is up (the background task clears it), then done.
        assert_eq!(run(&mut ks), EvictResult::Running);
        assert_eq!(ks.total_keys(), 10);
        assert_eq!(run(&mut ks), EvictResult::Ok);
        assert!(!ks.evict.proc_running);
        assert!(ks.evict.exceeded_since.is_none());
    }

    #[test]
    fn time_limits_follow_tenacity() {
        let mut ev = EvictState::default();
        for (t, us) in [(0, 0), (10, 500), (11, 575), (100, u64::MAX)] {
            ev.tenacity = t;
            assert_eq!(ev.time_limit_us(), us);
        }
    }

    #[test]
    fn a_failed_eviction_waits_for_the_lazy_free_thread_only_when_it_has_work() {
        use std::cell::Cell;
        // Nothing pending: no wait, and the failure stands.
        let t = Instant::now();
        assert!(!wait_for_lazy_free(1_000_000, || 0, || true));
        assert!(t.elapsed() < std::time::Duration::from_millis(500));
        // Pending work: one wait of the time limit, then the memory decides.
        let t = Instant::now();
        assert!(wait_for_lazy_free(2_000, || 1, || true));
        assert!(t.elapsed() >= std::time::Duration::from_micros(2_000));
        assert!(!wait_for_lazy_free(0, || 1, || false));
        // No time limit: until the memory is under the limit...
        let checks = Cell::new(0);
        assert!(wait_for_lazy_free(
            u64::MAX,
            || 1,
            || {
                checks.set(checks.get() + 1);
                checks.get() == 3
            }
        ));
        assert_eq!(checks.get(), 3);
        // ...or the thread has nothing left.
        let left = Cell::new(3u64);
        assert!(!wait_for_lazy_free(
            u64::MAX,
            || {
                left.set(left.get().saturating_sub(1));
                left.get()
            },
            || false
        ));
    }

    #[test]
    fn a_failed_eviction_reports_ok_once_the_lazy_free_thread_gave_the_memory_back() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        // "Memory" the test controls: over the limit until a value on the lazy-free thread is
        // dropped, which takes 50 ms.
        struct Slow(Arc<AtomicU64>);
        impl Drop for Slow {
            fn drop(&mut self) {
                std::thread::sleep(std::time::Duration::from_millis(50));
                self.0.store(0, Ordering::SeqCst);
            }
        }
        let used = Arc::new(AtomicU64::new(1_000));
        let mut ks = Keyspace::new(1);
        // noeviction: nothing can be evicted; tenacity 100: wait until the thread is idle.
        ks.evict.configure(500, "noeviction", 5, 100, 10, 1);
        crate::db::lazyfree::free_later(Slow(used.clone()), 1);
        let mem = |_: &Keyspace| used.load(Ordering::SeqCst);
        assert_eq!(ks.perform_evictions_with(0, mem), EvictResult::Ok);
        // With nothing pending, the failure stands at once.
        used.store(1_000, Ordering::SeqCst);
        assert_eq!(ks.perform_evictions_with(0, mem), EvictResult::Fail);
    }
}
