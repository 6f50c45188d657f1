//! Persistence: writing the keyspace to an RDB file atomically, and loading one at start-up.
//!
//! A save writes `temp-<pid>.rdb` in `dir`, fsyncs it, renames it over `dbfilename` and fsyncs the
//! directory, so a crash at any moment leaves either the previous dump or the new one, never a torn
//! file. A load decodes into a fresh keyspace and only then replaces the current one; a corrupt file
//! is refused with its path, the byte offset and the reason, and is never modified.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::db::{Keyspace, NO_EXPIRE};
use crate::rdb::decode::{load_tracked, Item, RdbErrorAt};
use crate::rdb::encode::{put_db_header, put_footer, put_header, put_key, Options};

/// Why a load failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("Fatal error loading the DB {path}: {source}. Exiting.")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file's content is not a valid RDB ferredis can load.
    #[error("Fatal error loading the DB {path}: {err}. Exiting.")]
    Rdb { path: String, err: RdbErrorAt },
    /// The file selects a database the configuration does not have.
    #[error("Fatal error loading the DB {path}: FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting.")]
    TooManyDbs { path: String, databases: usize },
}

/// What a load found besides keys: AUX fields (`repl-id`, `repl-offset`, `repl-stream-db`, ...).
#[derive(Debug, Default)]
pub struct Loaded {
    pub keys: u64,
    pub expired_skipped: u64,
    pub aux: Vec<(bytes::Bytes, bytes::Bytes)>,
}

/// Full path of the dump file.
pub fn dump_path(dir: &str, dbfilename: &str) -> PathBuf {
    Path::new(dir).join(dbfilename)
}

/// Loads `path` into `ks` (which should be empty). Keys already expired are skipped on a master, as
/// Redis does; a replica keeps them (its master will send the DEL).
pub fn load_into(
    path: &Path,
    ks: &mut Keyspace,
    verify_checksum: bool,
) -> Result<Loaded, LoadError> {
    load_into_tracked(path, ks, verify_checksum, |_, _| {})
}

/// [`load_into`], showing `observe` each item before it is applied, with the file offset just past
/// it (the start-up load reports progress and logs the AUX fields through this).
pub fn load_into_tracked(
    path: &Path,
    ks: &mut Keyspace,
    verify_checksum: bool,
    observe: impl FnMut(&Item, usize),
) -> Result<Loaded, LoadError> {
    let p = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| LoadError::Io {
        path: p.clone(),
        source,
    })?;
    load_slice_into_tracked(&data, &p, ks, verify_checksum, observe)
}

/// [`load_into_tracked`] for an RDB image already in memory (a replica's diskless load); `name`
/// stands for the file in error messages.
pub fn load_slice_into_tracked(
    data: &[u8],
    name: &str,
    ks: &mut Keyspace,
    verify_checksum: bool,
    mut observe: impl FnMut(&Item, usize),
) -> Result<Loaded, LoadError> {
    let p = name.to_string();
    let mut out = Loaded::default();
    let databases = ks.dbs.len();
    let now = crate::util::now_ms();
    let is_replica = ks.is_replica;
    let mut too_many = false;
    let res = load_tracked(data, verify_checksum, |item, pos| {
        observe(&item, pos);
        match item {
            Item::Aux(k, v) => out.aux.push((k, v)),
            Item::ResizeDb { .. } => {}
            Item::Key {
                db,
                key,
                value,
                expire_ms,
                ..
            } => {
                if db >= databases {
                    too_many = true;
                    return Err(crate::rdb::decode::RdbError::Corrupt(
                        "database index out of range".into(),
                    ));
                }
                if expire_ms != NO_EXPIRE && expire_ms <= now && !is_replica {
                    out.expired_skipped += 1;
                    return Ok(());
                }
                let mut value = value;
                value.choose_encoding(&ks.thresholds);
                ks.set(
                    db,
                    key,
                    value,
                    if expire_ms < 0 { NO_EXPIRE } else { expire_ms },
                );
                out.keys += 1;
            }
        }
        Ok(())
    });
    match res {
        Ok(_) => {
            ks.dirty = 0;
            Ok(out)
        }
        Err(_) if too_many => Err(LoadError::TooManyDbs { path: p, databases }),
        Err(err) => Err(LoadError::Rdb { path: p, err }),
    }
}

/// Encodes the whole keyspace as an RDB file image.
pub fn encode_keyspace(
    ks: &Keyspace,
    aux: &[(&str, String)],
    opts: &Options,
    checksum: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    put_header(&mut out, aux);
    for (i, db) in ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        put_db_header(&mut out, i, db.len() as u64, db.expires.len() as u64);
        for (k, e) in db.table.iter() {
            put_key(&mut out, k, &e.value, e.expire, opts);
        }
    }
    let crc = if checksum {
        crate::rdb::crc64(0, &out)
    } else {
        0
    };
    put_footer(&mut out, crc, checksum);
    out
}

/// Writes `data` to `dir/filename` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(dir: &Path, filename: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(filename))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The AUX fields every save carries.
pub fn standard_aux(used_mem: u64) -> Vec<(&'static str, String)> {
    vec![
        ("redis-ver", "7.0.15".to_string()),
        ("redis-bits", "64".to_string()),
        ("ctime", (crate::util::now_ms() / 1000).to_string()),
        ("used-mem", used_mem.to_string()),
        ("aof-base", "0".to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;
    use bytes::Bytes;

    #[test]
    fn save_then_load_keeps_everything() {
        let dir = std::env::temp_dir().join(format!("ferredis-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ks = Keyspace::new(16);
        ks.set(0, Bytes::from_static(b"a"), Value::Int(1), NO_EXPIRE);
        ks.set(
            15,
            Bytes::from_static(b"b"),
            Value::Str(Bytes::from_static(b"x").into()),
            ks.now_ms + 100_000,
        );
        ks.set(3, Bytes::from_static(b"gone"), Value::Int(2), ks.now_ms - 1);
        let img = encode_keyspace(
            &ks,
            &standard_aux(0),
            &Options {
                compress: true,
                ..Default::default()
            },
            true,
        );
        write_atomic(&dir, "dump.rdb", &img).unwrap();
        let mut back = Keyspace::new(16);
        let loaded = load_into(&dir.join("dump.rdb"), &mut back, true).unwrap();
        assert_eq!(loaded.keys, 2);
        assert_eq!(loaded.expired_skipped, 1);
        assert!(back.lookup_read(0, b"a").is_some());
        assert_eq!(
            back.lookup_read(15, b"b").map(|e| e.expire),
            ks.lookup_read(15, b"b").map(|e| e.expire)
        );
        // A corrupt copy is refused with the path and an offset, and left untouched.
        let mut bad = img.clone();
        let n = bad.len();
        bad[n - 3] ^= 0xFF;
        std::fs::write(dir.join("bad.rdb"), &bad).unwrap();
        let err = load_into(&dir.join("bad.rdb"), &mut Keyspace::new(16), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.rdb") && err.contains("offset"), "{err}");
        assert_eq!(std::fs::read(dir.join("bad.rdb")).unwrap(), bad);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
