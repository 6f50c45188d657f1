//! SAVE, BGSAVE and save points.
//!
//! BGSAVE never forks: it starts a fork-less snapshot of the keyspace (see `db::snapshot`) under the
//! core lock and returns; a blocking thread then takes the snapshot a slice at a time (a short lock
//! hold per slice), encodes it outside the lock, and streams it to `temp-bgsave-<pid>.rdb`, which is
//! fsynced and renamed over the dump file only when complete. The server keeps serving reads and
//! writes throughout; the extra memory is the pre-images of keys written meanwhile.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::{Core, Server};
use crate::rdb::encode::{put_footer, put_header, put_key, put_len, Options};

/// Keys taken per lock hold while serializing a snapshot.
const STEP_KEYS: usize = 4096;
/// Redis waits this long before retrying a failed automatic BGSAVE.
const BGSAVE_RETRY_DELAY_S: i64 = 5;

/// State INFO persistence reports, and what the save-point check needs.
#[derive(Debug)]
pub struct SaveState {
    /// The running BGSAVE: its snapshot id and when it started.
    pub bgsave: Option<(u64, Instant)>,
    /// Unix seconds of the last successful save (LASTSAVE, `rdb_last_save_time`).
    pub last_save: i64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_time_sec: i64,
    /// When the last automatic BGSAVE was tried (failed saves are retried after a delay).
    pub last_bgsave_try: i64,
    pub saves: u64,
    /// `dirty` when the running BGSAVE started: what a successful save subtracts.
    pub dirty_before_bgsave: u64,
    /// BGSAVE SCHEDULE asked while a save was running.
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

/// FLUSHALL with save points: Redis stops a running BGSAVE and saves the now empty dataset at once
/// (this save does not count in `rdb_saves`).
pub fn save_after_flushall(srv: &Server, core: &mut Core) {
    if srv.config.read().save.is_empty() {
        return;
    }
    abort_bgsave(srv, core);
    let _ = save_sync_counted(srv, core, false);
}

fn save_sync_counted(srv: &Server, core: &mut Core, count: bool) -> Result<(), String> {
    let (opts, checksum, dir, file) = encode_options(srv);
    let aux = crate::persistence::standard_aux(crate::alloc::used_memory());
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
    let mut st = srv.save.lock();
    if st.bgsave.is_some() {
        return Err("ERR Background save already in progress");
    }
    let (opts, _, _, _) = encode_options(srv);
    let id = core.ks.snapshot_begin(opts);
    st.bgsave = Some((id, Instant::now()));
    st.dirty_before_bgsave = core.ks.dirty;
    st.last_bgsave_try = crate::util::now_ms() / 1000;
    drop(st);
    tracing::info!("Background saving started");
    let srv2 = srv.clone();
    std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || run_bgsave(srv2, id))
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

fn run_bgsave(srv: Arc<Server>, id: u64) {
    let started = Instant::now();
    let (opts, checksum, dir, file) = encode_options(&srv);
    let dir = std::path::PathBuf::from(dir);
    let tmp = dir.join(format!("temp-bgsave-{}.rdb", std::process::id()));
    let result = write_snapshot(&srv, id, &tmp, &opts, checksum);
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
        st.saves += 1;
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
    opts: &Options,
    checksum: bool,
) -> std::io::Result<()> {
    let f = std::fs::File::create(path)?;
    let mut w = std::io::BufWriter::with_capacity(256 << 10, f);
    let mut crc = 0u64;
    let mut buf = Vec::with_capacity(1 << 16);
    put_header(
        &mut buf,
        &crate::persistence::standard_aux(crate::alloc::used_memory()),
    );
    let mut cur_db = usize::MAX;
    loop {
        let ((batch, encoded), done) = {
            let mut core = srv.core.lock();
            if !core.ks.snapshots.iter().any(|s| s.id == id) {
                return Err(std::io::Error::other("snapshot aborted"));
            }
            let b = core.ks.snapshot_step(id, STEP_KEYS);
            (b, core.ks.snapshot_done(id))
        };
        for (db, bytes) in &encoded {
            if *db != cur_db {
                buf.push(crate::rdb::op::SELECTDB);
                put_len(&mut buf, *db as u64);
                cur_db = *db;
            }
            buf.extend_from_slice(bytes);
        }
        drop(encoded);
        for it in &batch {
            if it.db != cur_db {
                buf.push(crate::rdb::op::SELECTDB);
                put_len(&mut buf, it.db as u64);
                cur_db = it.db;
            }
            put_key(&mut buf, &it.key, &it.value, it.expire, opts);
        }
        drop(batch);
        if checksum {
            crc = crate::rdb::crc64(crc, &buf);
        }
        w.write_all(&buf)?;
        buf.clear();
        if done {
            break;
        }
    }
    put_footer(&mut buf, crc, checksum);
    w.write_all(&buf)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(())
}

/// Checks the `save <seconds> <changes>` points (called by the cron with the core lock held) and
/// starts a BGSAVE when one is reached.
pub fn check_save_points(srv: &Arc<Server>, core: &mut Core) {
    let points = srv.config.read().save.clone();
    if points.is_empty() {
        return;
    }
    let now = crate::util::now_ms() / 1000;
    let (running, last_save, last_ok, last_try) = {
        let st = srv.save.lock();
        (
            st.bgsave.is_some(),
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

/// Loads the dump file at start-up, if there is one. A file that cannot be loaded stops the start
/// (the caller exits non-zero) and is left as it is.
pub fn load_at_startup(srv: &Server) -> Result<(), String> {
    let (dir, file, verify) = {
        let cfg = srv.config.read();
        (cfg.dir.clone(), cfg.dbfilename.clone(), cfg.rdbchecksum)
    };
    let path = crate::persistence::dump_path(&dir, &file);
    if !path.exists() {
        return Ok(());
    }
    let start = Instant::now();
    let mut core = srv.core.lock();
    match crate::persistence::load_into(&path, &mut core.ks, verify) {
        Ok(loaded) => {
            let mut st = srv.save.lock();
            st.last_load_keys_loaded = loaded.keys;
            st.last_load_keys_expired = loaded.expired_skipped;
            drop(st);
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
        Err(e) => {
            // Nothing half-loaded stays: start from an empty keyspace (the process exits anyway).
            let n = core.ks.dbs.len();
            core.ks = crate::db::Keyspace::new(n);
            Err(e.to_string())
        }
    }
}
