//! SAVE, BGSAVE and save points.
//!
//! BGSAVE never forks: it starts a fork-less snapshot of the keyspace (see `db::snapshot`) under the
//! core lock and returns; a blocking thread then takes the snapshot a slice at a time (a short lock
//! hold per slice), encodes it outside the lock, and streams it to `temp-bgsave-<pid>.rdb`, which is
//! fsynced and renamed over the dump file only when complete. The server keeps serving reads and
//! writes throughout; the extra memory is the pre-images of keys written meanwhile.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::{Core, Server};
use crate::rdb::encode::{put_footer, put_header, put_key_meta, put_len, Options};

/// Keys taken per lock hold while serializing a snapshot.
const STEP_KEYS: usize = 4096;
/// Redis waits this long before retrying a failed automatic BGSAVE.
const BGSAVE_RETRY_DELAY_S: i64 = 5;

/// State INFO persistence reports, and what the save-point check needs.
#[derive(Debug)]
pub struct SaveState {
    /// The running BGSAVE: its snapshot id and when it started.
    pub bgsave: Option<(u64, Instant)>,
    /// When the running diskless replication transfer started: Redis produces it in an RDB child
    /// too, so it counts as a background save in progress (INFO, BGSAVE, SAVE, save points).
    pub socket_sync: Option<Instant>,
    /// Unix seconds of the last successful save (LASTSAVE, `rdb_last_save_time`).
    pub last_save: i64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_time_sec: i64,
    /// When the last automatic BGSAVE was tried (failed saves are retried after a delay).
    pub last_bgsave_try: i64,
    pub saves: u64,
    /// `dirty` when the running BGSAVE started: what a successful save subtracts.
    pub dirty_before_bgsave: u64,
    /// BGSAVE ran inside EXEC: the cron starts it once no save runs.
    pub scheduled: bool,
    /// Keys written during the last BGSAVE whose old values the snapshot had to keep.
    pub last_preimages: u64,
    /// Load figures of the start-up load (INFO `rdb_last_load_keys_*`).
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
}

impl Default for SaveState {
    fn default() -> Self {
        SaveState {
            bgsave: None,
            socket_sync: None,
            last_save: crate::util::now_ms() / 1000,
            last_bgsave_ok: true,
            last_bgsave_time_sec: -1,
            last_bgsave_try: 0,
            saves: 0,
            dirty_before_bgsave: 0,
            scheduled: false,
            last_preimages: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
        }
    }
}

impl SaveState {
    /// Whether a BGSAVE or a diskless transfer runs (Redis's RDB child).
    pub fn in_progress(&self) -> bool {
        self.bgsave.is_some() || self.socket_sync.is_some()
    }

    /// Seconds since the running BGSAVE or diskless transfer started (-1 when none runs).
    pub fn current_secs(&self) -> i64 {
        self.bgsave
            .map(|(_, t)| t)
            .or(self.socket_sync)
            .map(|t| t.elapsed().as_secs() as i64)
            .unwrap_or(-1)
    }
}

/// A diskless replication transfer starts (under the core lock).
pub fn socket_sync_started(srv: &Server) {
    srv.save.lock().socket_sync = Some(Instant::now());
}

/// The diskless transfer ended (under the core lock): as when Redis's RDB child exits, its
/// duration becomes `rdb_last_bgsave_time_sec`; the last save time and the dirty count stay.
pub fn socket_sync_ended(srv: &Server) {
    let mut st = srv.save.lock();
    if let Some(t) = st.socket_sync.take() {
        st.last_bgsave_time_sec = t.elapsed().as_secs() as i64;
    }
}

fn encode_options(srv: &Server) -> (Options, bool, String, String) {
    let cfg = srv.config.read();
    (
        Options {
            compress: cfg.rdbcompression,
            thresholds: crate::cmd::server::thresholds(&cfg),
        },
        cfg.rdbchecksum,
        cfg.dir.clone(),
        cfg.dbfilename.clone(),
    )
}

/// Whether writes must be refused with -MISCONF (`stop-writes-on-bgsave-error` after a failed save).
pub fn writes_denied(srv: &Server) -> bool {
    srv.bgsave_failed.load(Ordering::Relaxed) && {
        let cfg = srv.config.read();
        cfg.stop_writes_on_bgsave_error && !cfg.save.is_empty()
    }
}

fn record_result(srv: &Server, ok: bool) {
    srv.bgsave_failed.store(!ok, Ordering::Relaxed);
}

/// SAVE: a synchronous save under the core lock, as Redis's SAVE blocks the server.
pub fn save_sync(srv: &Server, core: &mut Core) -> Result<(), String> {
    save_sync_counted(srv, core, true)
}

/// The save DEBUG RELOAD makes before reloading: stops a running BGSAVE, and (as in Redis) does not
/// count in `rdb_saves`.
pub fn save_for_reload(srv: &Server, core: &mut Core) -> Result<(), String> {
    abort_bgsave(srv, core);
    save_sync_counted(srv, core, false)
}

/// FLUSHALL with save points saves the now empty dataset at once, as Redis does (this save does not
/// count in `rdb_saves`). FLUSHALL has already stopped any running BGSAVE.
pub fn save_after_flushall(srv: &Server, core: &mut Core) {
    if srv.config.read().save.is_empty() {
        return;
    }
    let _ = save_sync_counted(srv, core, false);
}

fn save_sync_counted(srv: &Server, core: &mut Core, count: bool) -> Result<(), String> {
    // Saving now would overwrite the dump file with the part loaded so far: Redis turns the final
    // save of a SHUTDOWN during a load into NOSAVE.
    if srv.loading.is_loading() {
        tracing::warn!("Not saving the DB while it is still loading");
        return Ok(());
    }
    let (opts, checksum, dir, file) = encode_options(srv);
    // With a replication history, the file records it so a restart can continue it.
    let aux = crate::replication::master::with_repl_aux(
        crate::persistence::standard_aux(crate::alloc::used_memory()),
        core.repl.save_info().unwrap_or_default(),
    );
    let image = crate::persistence::encode_keyspace(&core.ks, &aux, &opts, checksum);
    let res = crate::persistence::write_atomic(std::path::Path::new(&dir), &file, &image);
    let mut st = srv.save.lock();
    match res {
        Ok(()) => {
            core.ks.dirty = 0;
            st.last_save = crate::util::now_ms() / 1000;
            if count {
                st.saves += 1;
            }
            srv.lastsave.store(st.last_save as u64, Ordering::Relaxed);
            record_result(srv, true);
            st.last_bgsave_ok = true;
            tracing::info!("DB saved on disk");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("Failed saving the DB: {}", e);
            Err(e.to_string())
        }
    }
}

/// Starts a BGSAVE (caller holds the core lock). Errors are Redis's reply texts.
pub fn start_bgsave(srv: &Arc<Server>, core: &mut Core) -> Result<(), &'static str> {
    start_bgsave_with(srv, core, None)
}

/// Starts a BGSAVE whose file carries the replication AUX fields `repl_aux` (a disk-target full
/// sync, Redis's `rdbSaveBackground` with replication info); when it ends, the replicas waiting
/// for it are told through `replication::master::disk_sync_done`.
pub fn start_bgsave_for_sync(
    srv: &Arc<Server>,
    core: &mut Core,
    repl_aux: Vec<(&'static str, String)>,
) -> Result<(), &'static str> {
    start_bgsave_with(srv, core, Some(repl_aux))
}

fn start_bgsave_with(
    srv: &Arc<Server>,
    core: &mut Core,
    repl_aux: Option<Vec<(&'static str, String)>>,
) -> Result<(), &'static str> {
    let mut st = srv.save.lock();
    if st.in_progress() {
        return Err("ERR Background save already in progress");
    }
    let (opts, _, _, _) = encode_options(srv);
    let id = core.ks.snapshot_begin(opts);
    st.bgsave = Some((id, Instant::now()));
    st.dirty_before_bgsave = core.ks.dirty;
    st.last_bgsave_try = crate::util::now_ms() / 1000;
    // INFO `rdb_saves` counts a background save when it starts, as Redis counts its fork (one
    // stopped by FLUSHALL counts too).
    st.saves += 1;
    drop(st);
    tracing::info!("Background saving started");
    // The replication position is read with the snapshot's start, under the same lock.
    let for_sync = repl_aux.is_some();
    let repl_aux = repl_aux.unwrap_or_else(|| core.repl.save_info().unwrap_or_default());
    let srv2 = srv.clone();
    std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || run_bgsave(srv2, id, repl_aux, for_sync))
        .map_err(|_| "ERR Background save failed to start")?;
    Ok(())
}

/// Abandons a running BGSAVE (SHUTDOWN saves synchronously instead, FLUSHALL restarts it).
pub fn abort_bgsave(srv: &Server, core: &mut Core) {
    let mut st = srv.save.lock();
    if let Some((id, _)) = st.bgsave.take() {
        core.ks.snapshot_end(id);
        tracing::warn!("Background saving aborted");
    }
}

fn run_bgsave(srv: Arc<Server>, id: u64, repl_aux: Vec<(&'static str, String)>, for_sync: bool) {
    let started = Instant::now();
    let (opts, checksum, dir, file) = encode_options(&srv);
    let dir = std::path::PathBuf::from(dir);
    let tmp = dir.join(format!("temp-bgsave-{}.rdb", std::process::id()));
    let aux = crate::replication::master::with_repl_aux(
        crate::persistence::standard_aux(crate::alloc::used_memory()),
        repl_aux,
    );
    let result = write_snapshot(&srv, id, &tmp, &aux, &opts, checksum);
    // Finish under the core lock, so a SHUTDOWN or FLUSHALL cannot interleave with the rename.
    let mut core = srv.core.lock();
    let preimages = core
        .ks
        .snapshots
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.preimage_count)
        .unwrap_or(0);
    core.ks.snapshot_end(id);
    let mut st = srv.save.lock();
    let ours = matches!(st.bgsave, Some((i, _)) if i == id);
    let ok = match result {
        Ok(()) if ours => match std::fs::rename(&tmp, dir.join(&file)) {
            Ok(()) => {
                if let Ok(d) = std::fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
                true
            }
            Err(e) => {
                tracing::warn!(
                    "Error moving temp DB file {} on the final destination {}: {}",
                    tmp.display(),
                    file,
                    e
                );
                false
            }
        },
        Ok(()) => false,
        Err(e) => {
            tracing::warn!("Write error saving DB on disk: {}", e);
            false
        }
    };
    if !ok {
        let _ = std::fs::remove_file(&tmp);
    }
    if for_sync {
        crate::replication::master::disk_sync_done(&srv, &mut core, ok && ours, dir.join(&file));
    }
    if !ours {
        // Aborted: the caller already took over.
        return;
    }
    st.bgsave = None;
    st.last_bgsave_time_sec = started.elapsed().as_secs() as i64;
    st.last_preimages = preimages;
    st.last_bgsave_ok = ok;
    record_result(&srv, ok);
    if ok {
        core.ks.dirty = core.ks.dirty.saturating_sub(st.dirty_before_bgsave);
        st.last_save = crate::util::now_ms() / 1000;
        srv.lastsave.store(st.last_save as u64, Ordering::Relaxed);
        tracing::info!("Background saving terminated with success");
    } else {
        tracing::warn!("Background saving error");
    }
    let again = std::mem::take(&mut st.scheduled);
    drop(st);
    if again {
        let _ = start_bgsave(&srv, &mut core);
    }
}

/// Streams the snapshot `id` into `path`, fsynced. The core lock is held only while taking a slice.
fn write_snapshot(
    srv: &Server,
    id: u64,
    path: &std::path::Path,
    aux: &[(&str, String)],
    opts: &Options,
    checksum: bool,
) -> std::io::Result<()> {
    let f = std::fs::File::create(path)?;
    let mut w = std::io::BufWriter::with_capacity(256 << 10, f);
    stream_snapshot(srv, id, aux, opts, checksum, false, |b| w.write_all(b))?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(())
}

/// Serializes the snapshot `id` as an RDB image, handing it to `sink` a slice at a time (a file, or
/// the sockets of replicas for a diskless sync). The core lock is held only while taking a slice.
/// With `exclude_data` (a replica's `rdb-filter-only`) the keys are consumed but not written.
pub fn stream_snapshot(
    srv: &Server,
    id: u64,
    aux: &[(&str, String)],
    opts: &Options,
    checksum: bool,
    exclude_data: bool,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut crc = 0u64;
    let mut buf = Vec::with_capacity(1 << 16);
    put_header(&mut buf, aux);
    let mut cur_db = usize::MAX;
    // Each database's size goes out (RESIZEDB, a hint that lets the loader size its tables) the
    // first time it is selected.
    let mut sizes = srv.core.lock().ks.snapshot_db_sizes(id);
    let mut select = |buf: &mut Vec<u8>, db: usize| {
        buf.push(crate::rdb::op::SELECTDB);
        put_len(buf, db as u64);
        if let Some((keys, expires)) = sizes.get_mut(db).map(std::mem::take) {
            if keys > 0 {
                buf.push(crate::rdb::op::RESIZEDB);
                put_len(buf, keys);
                put_len(buf, expires);
            }
        }
    };
    loop {
        let ((batch, encoded), done) = {
            let mut core = srv.core.lock();
            if !core.ks.snapshots.iter().any(|s| s.id == id) {
                return Err(std::io::Error::other("snapshot aborted"));
            }
            let b = core.ks.snapshot_step(id, STEP_KEYS);
            (b, core.ks.snapshot_done(id))
        };
        for (db, bytes) in encoded.iter().filter(|_| !exclude_data) {
            if *db != cur_db {
                select(&mut buf, *db);
                cur_db = *db;
            }
            buf.extend_from_slice(bytes);
        }
        drop(encoded);
        // `rdb-key-save-delay` (a testing knob, as in Redis): a pause per key written, in
        // microseconds (negative: nanoseconds), so tests can observe a save in progress.
        let delay = srv.config.read().rdb_key_save_delay;
        for it in batch.iter().filter(|_| !exclude_data) {
            if it.db != cur_db {
                select(&mut buf, it.db);
                cur_db = it.db;
            }
            put_key_meta(&mut buf, &it.key, &it.value, it.expire, it.meta, opts);
            if delay != 0 {
                std::thread::sleep(if delay > 0 {
                    std::time::Duration::from_micros(delay as u64)
                } else {
                    std::time::Duration::from_nanos(delay.unsigned_abs())
                });
            }
        }
        drop(batch);
        if checksum {
            crc = crate::rdb::crc64(crc, &buf);
        }
        if !buf.is_empty() {
            sink(&buf)?;
        }
        buf.clear();
        if done {
            break;
        }
    }
    put_footer(&mut buf, crc, checksum);
    sink(&buf)
}

/// Checks the `save <seconds> <changes>` points (called by the cron with the core lock held) and
/// starts a BGSAVE when one is reached.
pub fn check_save_points(srv: &Arc<Server>, core: &mut Core) {
    start_scheduled(srv, core);
    let points = srv.config.read().save.clone();
    if points.is_empty() {
        return;
    }
    let now = crate::util::now_ms() / 1000;
    let (running, last_save, last_ok, last_try) = {
        let st = srv.save.lock();
        (
            st.in_progress(),
            st.last_save,
            st.last_bgsave_ok,
            st.last_bgsave_try,
        )
    };
    if running {
        return;
    }
    let dirty = core.ks.dirty;
    for (secs, changes) in points {
        if dirty >= changes
            && now - last_save > secs as i64
            && (last_ok || now - last_try > BGSAVE_RETRY_DELAY_S)
        {
            tracing::info!("{} changes in {} seconds. Saving...", changes, secs);
            let _ = start_bgsave(srv, core);
            return;
        }
    }
}

/// Starts the BGSAVE that BGSAVE inside EXEC scheduled, once no save runs (a failed save is
/// retried after a delay, as for save points).
fn start_scheduled(srv: &Arc<Server>, core: &mut Core) {
    {
        let st = srv.save.lock();
        let now = crate::util::now_ms() / 1000;
        if !st.scheduled
            || st.in_progress()
            || !(st.last_bgsave_ok || now - st.last_bgsave_try > BGSAVE_RETRY_DELAY_S)
        {
            return;
        }
    }
    if start_bgsave(srv, core).is_ok() {
        srv.save.lock().scheduled = false;
    }
}

/// Progress of the start-up load, read lock-free by dispatch and INFO while a loader thread fills
/// a fresh keyspace.
#[derive(Debug, Default)]
pub struct LoadingState {
    /// Redis's `server.loading`: checked by every command, so a single atomic load.
    pub active: AtomicBool,
    /// Unix seconds when the load started (`loading_start_time`).
    pub start_time: AtomicI64,
    /// Size of the dump file (`loading_total_bytes`).
    pub total_bytes: AtomicU64,
    /// The `used-mem` AUX field of the file (`loading_rdb_used_mem`).
    pub rdb_used_mem: AtomicU64,
    /// File offset reached so far (`loading_loaded_bytes`).
    pub loaded_bytes: AtomicU64,
    /// Keys loaded and keys skipped as expired so far: Redis's `rdb_last_load_keys_*` count up
    /// during the load.
    pub keys_loaded: AtomicU64,
    pub keys_expired: AtomicU64,
}

impl LoadingState {
    pub fn is_loading(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The INFO persistence fields Redis adds while a load runs, in its order.
    pub fn info_fields(&self) -> Vec<(&'static str, String)> {
        let start = self.start_time.load(Ordering::Relaxed);
        let total = self.total_bytes.load(Ordering::Relaxed);
        let loaded = self.loaded_bytes.load(Ordering::Relaxed);
        let perc = loaded as f64 / (total as f64 + 1.0) * 100.0;
        let elapsed = crate::util::now_ms() / 1000 - start;
        let remaining = total.saturating_sub(loaded) as i64;
        // As Redis: with no second elapsed yet the estimate is 1.
        let eta = if elapsed <= 0 {
            1
        } else {
            elapsed.saturating_mul(remaining) / (loaded as i64 + 1)
        };
        vec![
            ("loading_start_time", start.to_string()),
            ("loading_total_bytes", total.to_string()),
            (
                "loading_rdb_used_mem",
                self.rdb_used_mem.load(Ordering::Relaxed).to_string(),
            ),
            ("loading_loaded_bytes", loaded.to_string()),
            ("loading_loaded_perc", format!("{perc:.2}")),
            ("loading_eta_seconds", eta.to_string()),
        ]
    }
}

/// Logs what Redis logs of a dump file's AUX fields as it reads them.
pub(crate) fn log_aux(st: &LoadingState, k: &[u8], v: &[u8]) {
    let num = || {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    match k {
        b"redis-ver" => tracing::info!(
            "Loading RDB produced by version {}",
            String::from_utf8_lossy(v)
        ),
        b"ctime" => {
            if let Some(ctime) = num() {
                tracing::info!("RDB age {} seconds", crate::util::now_ms() / 1000 - ctime);
            }
        }
        b"used-mem" => {
            if let Some(mem) = num() {
                st.rdb_used_mem.store(mem.max(0) as u64, Ordering::Relaxed);
                tracing::info!(
                    "RDB memory usage when created {:.2} Mb",
                    mem as f64 / (1024.0 * 1024.0)
                );
            }
        }
        _ => {}
    }
}

/// Loads the dump file at start-up, if there is one, while the server already accepts
/// connections: the file is decoded into a fresh keyspace on a thread of its own, off the core
/// lock, and swapped in only once complete. Meanwhile `srv.loading` is set, so clients get
/// -LOADING. A file that cannot be loaded stops the start (the caller exits non-zero) and is left
/// as it is; nothing of it is ever served.
///
/// The loading state is set before this returns, so the caller starts accepting connections only
/// afterwards and no client ever sees the empty keyspace; [`PendingLoad::finish`] then waits for
/// the loader and swaps the data in.
pub fn load_at_startup(srv: &Arc<Server>) -> Result<Option<PendingLoad>, String> {
    let (dir, file, verify) = {
        let cfg = srv.config.read();
        (cfg.dir.clone(), cfg.dbfilename.clone(), cfg.rdbchecksum)
    };
    let path = crate::persistence::dump_path(&dir, &file);
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(None);
    };
    let start = Instant::now();
    let st = &srv.loading;
    st.start_time
        .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
    st.total_bytes.store(meta.len(), Ordering::Relaxed);
    st.loaded_bytes.store(0, Ordering::Relaxed);
    st.rdb_used_mem.store(0, Ordering::Relaxed);
    st.keys_loaded.store(0, Ordering::Relaxed);
    st.keys_expired.store(0, Ordering::Relaxed);
    st.active.store(true, Ordering::SeqCst);
    let mut fresh = { srv.core.lock().ks.new_for_load() };
    // A plain thread rather than the runtime's blocking pool: a shutdown during the load must not
    // wait for it.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let srv2 = Arc::clone(srv);
    let is_replica = fresh.is_replica;
    let now = crate::util::now_ms();
    let spawned = std::thread::Builder::new()
        .name("rdb-load".into())
        .spawn(move || {
            let st = &srv2.loading;
            let res =
                crate::persistence::load_into_tracked(&path, &mut fresh, verify, |item, pos| {
                    match item {
                        crate::rdb::decode::Item::Aux(k, v) => log_aux(st, k, v),
                        // The same rule as the loader's: a master skips keys already expired.
                        crate::rdb::decode::Item::Key { expire_ms, .. }
                            if *expire_ms != crate::db::NO_EXPIRE
                                && *expire_ms <= now
                                && !is_replica =>
                        {
                            st.keys_expired.fetch_add(1, Ordering::Relaxed);
                        }
                        crate::rdb::decode::Item::Key { .. } => {
                            st.keys_loaded.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    st.loaded_bytes.store(pos as u64, Ordering::Relaxed);
                });
            let _ = tx.send(res.map(|loaded| (loaded, fresh)));
        });
    if let Err(e) = spawned {
        return Err(format!("Can't start the loading thread: {e}"));
    }
    Ok(Some(PendingLoad {
        srv: srv.clone(),
        rx,
        start,
    }))
}

/// Result of the loader thread: what it found and the keyspace it filled.
type LoadOutcome =
    Result<(crate::persistence::Loaded, crate::db::Keyspace), crate::persistence::LoadError>;

/// A start-up load under way on its own thread.
pub struct PendingLoad {
    srv: Arc<Server>,
    rx: tokio::sync::oneshot::Receiver<LoadOutcome>,
    start: Instant,
}

impl PendingLoad {
    /// Waits for the loader; on success swaps the loaded keyspace in and leaves the loading state.
    pub async fn finish(self) -> Result<(), String> {
        let PendingLoad { srv, rx, start } = self;
        let st = &srv.loading;
        let (loaded, fresh) = match rx.await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("The loading thread stopped unexpectedly".into()),
        };
        {
            let mut core = srv.core.lock();
            let mut fresh = fresh;
            // CONFIG SET (allowed while loading) may have changed the settings meanwhile.
            fresh.carry_settings_from(&core.ks);
            fresh.propagate_expired = core.ks.propagate_expired;
            // WATCH is allowed while loading: its registrations, and the counters the cron kept
            // meanwhile, carry over to the loaded keyspace.
            std::mem::swap(&mut fresh.watches, &mut core.ks.watches);
            std::mem::swap(&mut fresh.stats, &mut core.ks.stats);
            core.ks = fresh;
            // A replica continues the replication history its dump records.
            let backlog_size = srv.config.read().repl_backlog_size.max(1) as u64;
            crate::replication::replica::restore_from_rdb(&mut core, &loaded.aux, backlog_size);
            let mut save = srv.save.lock();
            save.last_load_keys_loaded = loaded.keys;
            save.last_load_keys_expired = loaded.expired_skipped;
            st.loaded_bytes
                .store(st.total_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
            st.active.store(false, Ordering::SeqCst);
        }
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            loaded.keys,
            loaded.expired_skipped
        );
        tracing::info!(
            "DB loaded from disk: {:.3} seconds",
            start.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_progress_fields() {
        let st = LoadingState::default();
        st.start_time
            .store(crate::util::now_ms() / 1000 + 5, Ordering::Relaxed);
        st.total_bytes.store(199, Ordering::Relaxed);
        st.loaded_bytes.store(50, Ordering::Relaxed);
        st.rdb_used_mem.store(1024, Ordering::Relaxed);
        let f = st.info_fields();
        let get = |n: &str| f.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("loading_total_bytes"), Some("199"));
        assert_eq!(get("loading_rdb_used_mem"), Some("1024"));
        assert_eq!(get("loading_loaded_bytes"), Some("50"));
        // loaded / (total + 1), as Redis computes it.
        assert_eq!(get("loading_loaded_perc"), Some("25.00"));
        // No second elapsed yet: the estimate is 1.
        assert_eq!(get("loading_eta_seconds"), Some("1"));
        st.start_time
            .store(crate::util::now_ms() / 1000 - 100, Ordering::Relaxed);
        let f = st.info_fields();
        let eta: i64 = f[5].1.parse().expect("eta");
        // 100 s for 50 bytes, 149 to go: about 292 s.
        assert!((290..=300).contains(&eta), "{eta}");
    }
}
