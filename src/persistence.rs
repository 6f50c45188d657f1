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
use crate::rdb::decode::{Item, RdbError, RdbErrorAt, StreamDecoder};
use crate::rdb::encode::{put_db_header, put_footer, put_header, put_key_meta, Options};

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

/// [`load_into_tracked`] for an RDB image already in memory; `name` stands for the file in error
/// messages.
pub fn load_slice_into_tracked(
    data: &[u8],
    name: &str,
    ks: &mut Keyspace,
    verify_checksum: bool,
    observe: impl FnMut(&Item, usize),
) -> Result<Loaded, LoadError> {
    let mut loader = StreamLoader::new(name, ks, verify_checksum);
    loader.feed(ks, data, true, observe)?;
    loader.finish(ks)
}

/// Loads an RDB stream fed piece by piece as it arrives (a replica's transfer) into a keyspace,
/// with the rules of a whole-file load: keys already expired are skipped on a master, kept on a
/// replica; values get the encoding the thresholds choose; a database beyond `databases` fails.
/// The keyspace is the caller's (a fresh one), passed to every call.
pub struct StreamLoader {
    name: String,
    dec: StreamDecoder,
    /// Bytes fed but not consumed yet: the front of an item that has not fully arrived.
    pending: Vec<u8>,
    databases: usize,
    now: i64,
    out: Loaded,
    too_many: bool,
}

impl StreamLoader {
    pub fn new(name: &str, ks: &Keyspace, verify_checksum: bool) -> Self {
        StreamLoader {
            name: name.to_string(),
            dec: StreamDecoder::new(verify_checksum),
            pending: Vec::new(),
            databases: ks.dbs.len(),
            now: crate::util::now_ms(),
            out: Loaded::default(),
            too_many: false,
        }
    }

    /// Bytes of the stream decoded and applied so far.
    pub fn offset(&self) -> usize {
        self.dec.offset()
    }

    /// Decodes and applies every complete item `piece` ends (with what earlier pieces left over),
    /// showing `observe` each item before it is applied, with the stream offset just past it.
    /// `last`: the stream ends with `piece`, so anything still incomplete is an error.
    pub fn feed(
        &mut self,
        ks: &mut Keyspace,
        piece: &[u8],
        last: bool,
        mut observe: impl FnMut(&Item, usize),
    ) -> Result<(), LoadError> {
        let StreamLoader {
            dec,
            pending,
            databases,
            now,
            out,
            too_many,
            ..
        } = self;
        let mut apply = |item: Item, pos: usize| {
            observe(&item, pos);
            apply_item(ks, item, *databases, *now, out, too_many)
        };
        let res = if pending.is_empty() {
            // The common case: no copy unless the piece ends inside an item.
            dec.feed(piece, last, &mut apply).map(|n| {
                pending.extend_from_slice(&piece[n..]);
            })
        } else {
            pending.extend_from_slice(piece);
            dec.feed(pending, last, &mut apply).map(|n| {
                pending.drain(..n);
            })
        };
        res.map_err(|err| self.error(err))
    }

    /// The result once the last piece was fed.
    pub fn finish(self, ks: &mut Keyspace) -> Result<Loaded, LoadError> {
        if !self.dec.is_done() {
            let err = RdbErrorAt {
                offset: self.dec.offset() + self.pending.len(),
                err: RdbError::Truncated,
            };
            return Err(self.error(err));
        }
        ks.dirty = 0;
        Ok(self.out)
    }

    fn error(&self, err: RdbErrorAt) -> LoadError {
        let path = self.name.clone();
        if self.too_many {
            LoadError::TooManyDbs {
                path,
                databases: self.databases,
            }
        } else {
            LoadError::Rdb { path, err }
        }
    }
}

/// Applies one decoded item to `ks`: the rules every load follows.
fn apply_item(
    ks: &mut Keyspace,
    item: Item,
    databases: usize,
    now: i64,
    out: &mut Loaded,
    too_many: &mut bool,
) -> Result<(), RdbError> {
    match item {
        Item::Aux(k, v) => out.aux.push((k, v)),
        Item::ResizeDb { db, size, expires } => {
            if db < databases {
                ks.presize_loaded(db, size, expires);
            }
        }
        Item::Key {
            db,
            key,
            value,
            expire_ms,
            idle,
            freq,
        } => {
            if db >= databases {
                *too_many = true;
                return Err(RdbError::Corrupt("database index out of range".into()));
            }
            if expire_ms != NO_EXPIRE && expire_ms <= now && !ks.is_replica {
                out.expired_skipped += 1;
                return Ok(());
            }
            let mut value = value;
            value.choose_encoding(&ks.thresholds);
            let expire = if expire_ms < 0 { NO_EXPIRE } else { expire_ms };
            if !ks.add_loaded(db, &key, value, expire, idle, freq) {
                // As Redis, which refuses such a file ("Duplicated key found in RDB file").
                return Err(RdbError::Corrupt(format!(
                    "Duplicated key '{}' found in DB {db} of the RDB file",
                    String::from_utf8_lossy(&key)
                )));
            }
            out.keys += 1;
        }
    }
    Ok(())
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
            let meta = ks.evict.rdb_meta(e.lru, ks.lru_now, ks.now_ms);
            put_key_meta(&mut out, k, &e.value, e.expire, meta, opts);
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

    #[test]
    fn a_stream_fed_in_pieces_loads_what_the_whole_file_loads() {
        let mut ks = Keyspace::new(4);
        for i in 0..500 {
            let v = Value::Str(Bytes::from(format!("value-{i}").repeat(i % 7)).into());
            ks.set(i % 4, Bytes::from(format!("k{i}")), v, NO_EXPIRE);
        }
        let img = encode_keyspace(&ks, &standard_aux(0), &Options::default(), true);
        let mut whole = Keyspace::new(4);
        load_slice_into_tracked(&img, "x", &mut whole, true, |_, _| {}).unwrap();
        let mut fed = Keyspace::new(4);
        let mut loader = StreamLoader::new("x", &fed, true);
        let mut seen = 0;
        for piece in img.chunks(37) {
            loader
                .feed(&mut fed, piece, false, |_, _| seen += 1)
                .unwrap();
        }
        loader.feed(&mut fed, &[], true, |_, _| seen += 1).unwrap();
        assert_eq!(loader.finish(&mut fed).unwrap().keys, 500);
        assert!(seen > 500);
        assert_eq!(
            crate::db::digest::dataset_digest(&fed),
            crate::db::digest::dataset_digest(&whole)
        );
        // Cut short: the last piece says so.
        let mut cut = Keyspace::new(4);
        let mut loader = StreamLoader::new("x", &cut, true);
        loader
            .feed(&mut cut, &img[..img.len() / 2], false, |_, _| {})
            .unwrap();
        let err = loader.feed(&mut cut, &[], true, |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("Unexpected EOF"), "{err}");
    }

    #[test]
    fn a_key_twice_in_one_database_is_refused() {
        let mut img = Vec::new();
        put_header(&mut img, &standard_aux(0));
        put_db_header(&mut img, 0, 2, 0);
        let v = Value::Str(Bytes::from_static(b"v").into());
        crate::rdb::encode::put_key(&mut img, b"k", &v, NO_EXPIRE, &Options::default());
        crate::rdb::encode::put_key(&mut img, b"k", &v, NO_EXPIRE, &Options::default());
        let crc = crate::rdb::crc64(0, &img);
        put_footer(&mut img, crc, true);
        let mut ks = Keyspace::new(16);
        let err = load_slice_into_tracked(&img, "dup.rdb", &mut ks, true, |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("Duplicated key 'k'"), "{err}");
    }
}
