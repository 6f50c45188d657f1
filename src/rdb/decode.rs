//! RDB decoding: a whole file ([`load`]) or one value ([`decode_value`], for RESTORE).
//!
//! Every length read from the input is checked against the bytes that remain before anything is
//! allocated, so a corrupt or hostile file fails with an error naming the byte offset, never a panic
//! or an allocation of the size the file claims.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

use super::listpack::{intset_decode, listpack_decode, ziplist_decode, zipmap_decode, BlobError};
use super::{op, RDB_MAX_VERSION};
use crate::db::value::{ScoreKey, ZSet};
use crate::db::Value;

/// Why a load failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RdbError {
    /// The file does not start with `REDIS`.
    #[error("Wrong signature trying to load DB from file")]
    BadSignature,
    /// A version newer than ferredis reads.
    #[error("Can't handle RDB format version {0}")]
    UnsupportedVersion(u32),
    /// The input ended in the middle of something.
    #[error("Unexpected EOF reading RDB file")]
    Truncated,
    /// The CRC64 trailer does not match the content.
    #[error("Wrong RDB checksum expected: ({expected:016x}) got: ({got:016x})")]
    BadChecksum { expected: u64, got: u64 },
    /// An opcode or value type ferredis does not know.
    #[error("Unknown RDB encoding type {0}")]
    UnknownType(u8),
    /// A key of a type ferredis cannot hold yet (streams, modules).
    #[error("The RDB file contains key '{key}' of type {kind}, which ferredis does not support")]
    UnsupportedType { key: String, kind: &'static str },
    /// Data ferredis cannot honour (functions, module aux data).
    #[error("{0}")]
    Unsupported(String),
    /// A malformed length, blob or number.
    #[error("{0}")]
    Corrupt(String),
}

impl From<BlobError> for RdbError {
    fn from(e: BlobError) -> Self {
        RdbError::Corrupt(e.0.to_string())
    }
}

/// An error with the byte offset where it was detected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{err} (at byte offset {offset})")]
pub struct RdbErrorAt {
    pub offset: usize,
    pub err: RdbError,
}

/// What the loader reports, in file order.
#[derive(Debug)]
pub enum Item {
    Aux(Bytes, Bytes),
    ResizeDb {
        db: usize,
        size: u64,
        expires: u64,
    },
    Key {
        db: usize,
        key: Bytes,
        value: Value,
        expire_ms: i64,
        idle: Option<u64>,
        freq: Option<u8>,
    },
}

/// Result of a whole-file load.
#[derive(Debug, Default)]
pub struct LoadSummary {
    pub version: u32,
    pub keys: u64,
    pub checksum_verified: bool,
}

/// A cursor over the input.
pub struct Input<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        if n > self.remaining() {
            return Err(RdbError::Truncated);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.bytes(1)?[0])
    }

    /// A length (`Ok((len, false))`) or a special-encoding marker (`Ok((kind, true))`).
    fn len_or_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok(((b & 0x3F) as u64, false)),
            1 => Ok(((((b & 0x3F) as u64) << 8) | self.u8()? as u64, false)),
            2 => match b {
                0x80 => {
                    let s = self.bytes(4)?;
                    Ok((u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as u64, false))
                }
                0x81 => {
                    let s = self.bytes(8)?;
                    Ok((u64::from_be_bytes(s.try_into().expect("8 bytes")), false))
                }
                _ => Err(RdbError::Corrupt(format!(
                    "Unknown length encoding {b} in rdbLoadLen()"
                ))),
            },
            _ => Ok(((b & 0x3F) as u64, true)),
        }
    }

    pub fn read_len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            (l, false) => Ok(l),
            (_, true) => Err(RdbError::Corrupt("unexpected encoded length".into())),
        }
    }

    /// A length that counts elements each taking at least `min_bytes`: refused when the input cannot
    /// possibly hold that many, so a lying header cannot make us allocate.
    fn count(&mut self, min_bytes: usize) -> Result<usize, RdbError> {
        let n = self.read_len()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(RdbError::Corrupt(format!(
                "length {n} larger than the remaining input"
            )));
        }
        Ok(n as usize)
    }

    /// A string: length-prefixed, int-encoded or LZF-compressed.
    pub fn string(&mut self) -> Result<Bytes, RdbError> {
        let (l, enc) = self.len_or_enc()?;
        if !enc {
            let l = usize::try_from(l).map_err(|_| RdbError::Truncated)?;
            return Ok(Bytes::copy_from_slice(self.bytes(l)?));
        }
        let int = |v: i64| Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes());
        match l {
            0 => Ok(int(self.u8()? as i8 as i64)),
            1 => {
                let s = self.bytes(2)?;
                Ok(int(i16::from_le_bytes([s[0], s[1]]) as i64))
            }
            2 => {
                let s = self.bytes(4)?;
                Ok(int(i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64))
            }
            3 => {
                let clen = self.read_len()? as usize;
                let ulen = self.read_len()? as usize;
                let comp = self.bytes(clen)?;
                // LZF expands at most ~ 8x per control byte run; a claim far beyond that is corrupt.
                if ulen > clen.saturating_mul(256) + 64 {
                    return Err(RdbError::Corrupt("invalid LZF lengths".into()));
                }
                let out = lzf::decompress(comp, ulen)
                    .map_err(|_| RdbError::Corrupt("invalid LZF compressed string".into()))?;
                if out.len() != ulen {
                    return Err(RdbError::Corrupt("invalid LZF compressed string".into()));
                }
                Ok(Bytes::from(out))
            }
            other => Err(RdbError::Corrupt(format!(
                "Unknown RDB string encoding type {other}"
            ))),
        }
    }

    /// A score in the old text form (ZSET type 3): length byte, 253 nan, 254 +inf, 255 -inf.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        let l = self.u8()?;
        match l {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s = self.bytes(n as usize)?;
                std::str::from_utf8(s)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| RdbError::Corrupt("invalid double value".into()))
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64, RdbError> {
        let s = self.bytes(8)?;
        Ok(f64::from_le_bytes(s.try_into().expect("8 bytes")))
    }
}

fn list_value(items: Vec<Bytes>) -> Value {
    Value::List(Arc::new(VecDeque::from(items)))
}

fn set_value(items: Vec<Bytes>) -> Result<Value, RdbError> {
    let n = items.len();
    let set: std::collections::HashSet<Bytes, _> = items.into_iter().collect();
    if set.len() != n {
        return Err(RdbError::Corrupt("Duplicate set members detected".into()));
    }
    Ok(Value::Set(Arc::new(set.into())))
}

fn hash_value(flat: Vec<Bytes>) -> Result<Value, RdbError> {
    if !flat.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt(
            "hash with an odd number of elements".into(),
        ));
    }
    let n = flat.len() / 2;
    // Ordered: a listpack-encoded hash keeps its fields in file order, as Redis does.
    let mut h = crate::db::value::HashValue::with_capacity(n);
    let mut it = flat.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        if !h.insert(f, v) {
            return Err(RdbError::Corrupt("Duplicate hash fields detected".into()));
        }
    }
    h.choose_encoding(&Default::default());
    Ok(Value::Hash(Arc::new(h)))
}

fn zset_value(pairs: Vec<(Bytes, f64)>) -> Result<Value, RdbError> {
    let mut z = ZSet::default();
    for (m, s) in pairs {
        if s.is_nan() {
            return Err(RdbError::Corrupt("Zset with NAN score detected".into()));
        }
        if z.scores.insert(m.clone(), s).is_some() {
            return Err(RdbError::Corrupt("Duplicate zset fields detected".into()));
        }
        z.order.insert((ScoreKey(s), m));
    }
    z.choose_encoding(&crate::db::value::Thresholds::default());
    Ok(Value::ZSet(Arc::new(z)))
}

fn zset_from_flat(flat: Vec<Bytes>) -> Result<Value, RdbError> {
    if !flat.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt(
            "zset with an odd number of elements".into(),
        ));
    }
    let mut pairs = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        let score = crate::util::parse_f64(&s)
            .ok_or_else(|| RdbError::Corrupt("invalid zset score".into()))?;
        pairs.push((m, score));
    }
    zset_value(pairs)
}

/// Decodes one value of type `t` (the byte that precedes the key in a file, or opens a DUMP payload).
pub fn decode_value(t: u8, inp: &mut Input, key: &[u8]) -> Result<Value, RdbError> {
    Ok(match t {
        op::STRING => Value::string(inp.string()?),
        op::LIST => {
            let n = inp.count(1)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(inp.string()?);
            }
            list_value(v)
        }
        op::SET => {
            let n = inp.count(1)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(inp.string()?);
            }
            set_value(v)?
        }
        op::ZSET | op::ZSET_2 => {
            let n = inp.count(2)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let m = inp.string()?;
                let s = if t == op::ZSET {
                    inp.text_double()?
                } else {
                    inp.binary_double()?
                };
                v.push((m, s));
            }
            zset_value(v)?
        }
        op::HASH => {
            let n = inp.count(2)?;
            let mut v = Vec::with_capacity(n * 2);
            for _ in 0..n {
                v.push(inp.string()?);
                v.push(inp.string()?);
            }
            hash_value(v)?
        }
        op::HASH_ZIPMAP => hash_value(zipmap_decode(&inp.string()?)?)?,
        op::LIST_ZIPLIST => list_value(ziplist_decode(&inp.string()?)?),
        op::SET_INTSET => set_value(intset_decode(&inp.string()?)?)?,
        op::SET_LISTPACK => set_value(listpack_decode(&inp.string()?)?)?,
        op::ZSET_ZIPLIST => zset_from_flat(ziplist_decode(&inp.string()?)?)?,
        op::ZSET_LISTPACK => zset_from_flat(listpack_decode(&inp.string()?)?)?,
        op::HASH_ZIPLIST => hash_value(ziplist_decode(&inp.string()?)?)?,
        op::HASH_LISTPACK => hash_value(listpack_decode(&inp.string()?)?)?,
        op::LIST_QUICKLIST | op::LIST_QUICKLIST_2 => {
            let nodes = inp.count(1)?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                // Quicklist 2 tags each node: 1 = a plain element, 2 = a listpack.
                let container = if t == op::LIST_QUICKLIST_2 {
                    inp.read_len()?
                } else {
                    2
                };
                let blob = inp.string()?;
                match (t, container) {
                    (op::LIST_QUICKLIST, _) => items.extend(ziplist_decode(&blob)?),
                    (_, 1) => items.push(blob),
                    (_, 2) => {
                        let elems = listpack_decode(&blob)?;
                        if elems.is_empty() {
                            return Err(RdbError::Corrupt(
                                "Empty listpack in quicklist node".into(),
                            ));
                        }
                        items.extend(elems)
                    }
                    (_, c) => {
                        return Err(RdbError::Corrupt(format!(
                            "Unknown quicklist node container {c}"
                        )))
                    }
                }
            }
            list_value(items)
        }
        op::STREAM_LISTPACKS | op::STREAM_LISTPACKS_2 | op::STREAM_LISTPACKS_3 => {
            return Err(RdbError::UnsupportedType {
                key: String::from_utf8_lossy(key).into_owned(),
                kind: "stream",
            })
        }
        op::MODULE_PRE_GA | op::MODULE_2 => {
            return Err(RdbError::UnsupportedType {
                key: String::from_utf8_lossy(key).into_owned(),
                kind: "module",
            })
        }
        other => return Err(RdbError::UnknownType(other)),
    })
}

/// Loads a whole RDB file, reporting each item to `sink` in file order. Nothing is applied by the
/// decoder itself: the caller decides (e.g. load into a fresh keyspace, swap it in only on success).
pub fn load(
    data: &[u8],
    verify_checksum: bool,
    mut sink: impl FnMut(Item) -> Result<(), RdbError>,
) -> Result<LoadSummary, RdbErrorAt> {
    load_tracked(data, verify_checksum, |item, _| sink(item))
}

/// [`load`], also telling the sink the input offset just past each item, so a caller can report
/// progress (INFO `loading_loaded_bytes`) without the decoder knowing about it.
pub fn load_tracked(
    data: &[u8],
    verify_checksum: bool,
    mut sink: impl FnMut(Item, usize) -> Result<(), RdbError>,
) -> Result<LoadSummary, RdbErrorAt> {
    let mut inp = Input::new(data);
    let at = |inp: &Input, err: RdbError| RdbErrorAt {
        offset: inp.pos,
        err,
    };
    let sig = inp.bytes(9).map_err(|_| RdbErrorAt {
        offset: 0,
        err: RdbError::BadSignature,
    })?;
    if &sig[..5] != b"REDIS" {
        return Err(RdbErrorAt {
            offset: 0,
            err: RdbError::BadSignature,
        });
    }
    let version: u32 = std::str::from_utf8(&sig[5..9])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(RdbErrorAt {
            offset: 5,
            err: RdbError::BadSignature,
        })?;
    if version < 1 || version > RDB_MAX_VERSION as u32 {
        return Err(RdbErrorAt {
            offset: 5,
            err: RdbError::UnsupportedVersion(version),
        });
    }
    let mut summary = LoadSummary {
        version,
        ..Default::default()
    };
    let mut db = 0usize;
    let mut expire_ms: i64 = -1;
    let mut idle = None;
    let mut freq = None;
    loop {
        let start = inp.pos;
        let t = inp.u8().map_err(|e| at(&inp, e))?;
        match t {
            op::EXPIRETIME_MS => {
                let s = inp.bytes(8).map_err(|e| at(&inp, e))?;
                expire_ms = i64::from_le_bytes(s.try_into().expect("8 bytes"));
                continue;
            }
            op::EXPIRETIME => {
                let s = inp.bytes(4).map_err(|e| at(&inp, e))?;
                expire_ms = i32::from_le_bytes(s.try_into().expect("4 bytes")) as i64 * 1000;
                continue;
            }
            op::IDLE => {
                idle = Some(inp.read_len().map_err(|e| at(&inp, e))?);
                continue;
            }
            op::FREQ => {
                freq = Some(inp.u8().map_err(|e| at(&inp, e))?);
                continue;
            }
            op::SELECTDB => {
                db = inp.read_len().map_err(|e| at(&inp, e))? as usize;
                continue;
            }
            op::RESIZEDB => {
                let size = inp.read_len().map_err(|e| at(&inp, e))?;
                let expires = inp.read_len().map_err(|e| at(&inp, e))?;
                sink(Item::ResizeDb { db, size, expires }, inp.pos).map_err(|e| at(&inp, e))?;
                continue;
            }
            op::AUX => {
                let k = inp.string().map_err(|e| at(&inp, e))?;
                let v = inp.string().map_err(|e| at(&inp, e))?;
                sink(Item::Aux(k, v), inp.pos).map_err(|e| at(&inp, e))?;
                continue;
            }
            op::MODULE_AUX => {
                return Err(at(
                    &inp,
                    RdbError::Unsupported(
                        "The RDB file contains module AUX data, but ferredis has no modules to load it".into(),
                    ),
                ));
            }
            op::FUNCTION2 | op::FUNCTION_PRE_GA => {
                return Err(RdbErrorAt {
                    offset: start,
                    err: RdbError::Unsupported(
                        "The RDB file contains a function library, but ferredis does not support functions".into(),
                    ),
                });
            }
            op::EOF => {
                if version >= 5 {
                    let body_end = inp.pos;
                    let s = inp.bytes(8).map_err(|e| at(&inp, e))?;
                    let expected = u64::from_le_bytes(s.try_into().expect("8 bytes"));
                    if verify_checksum && expected != 0 {
                        let got = super::crc64(0, &data[..body_end]);
                        if got != expected {
                            return Err(RdbErrorAt {
                                offset: body_end,
                                err: RdbError::BadChecksum { expected, got },
                            });
                        }
                        summary.checksum_verified = true;
                    }
                }
                return Ok(summary);
            }
            value_type => {
                let key = inp.string().map_err(|e| at(&inp, e))?;
                let value = decode_value(value_type, &mut inp, &key).map_err(|e| RdbErrorAt {
                    offset: start,
                    err: e,
                })?;
                sink(
                    Item::Key {
                        db,
                        key,
                        value,
                        expire_ms,
                        idle,
                        freq,
                    },
                    inp.pos,
                )
                .map_err(|e| at(&inp, e))?;
                summary.keys += 1;
                expire_ms = -1;
                idle = None;
                freq = None;
            }
        }
    }
}

#[cfg(test)]
mod tracked_tests {
    use super::*;
    use crate::rdb::encode::{put_db_header, put_footer, put_header, put_key, Options};

    #[test]
    fn offsets_grow_and_end_before_the_eof_opcode() {
        let mut data = Vec::new();
        put_header(&mut data, &[("redis-ver", "7.0.15".into())]);
        put_db_header(&mut data, 0, 3, 0);
        let opts = Options {
            compress: false,
            thresholds: Default::default(),
        };
        for i in 0..3 {
            let v = Value::Int(i);
            put_key(&mut data, format!("k{i}").as_bytes(), &v, -1, &opts);
        }
        let body_end = data.len();
        let crc = crate::rdb::crc64(0, &data);
        put_footer(&mut data, crc, true);
        let mut offsets = Vec::new();
        let summary = load_tracked(&data, true, |_, pos| {
            offsets.push(pos);
            Ok(())
        })
        .expect("valid file");
        assert_eq!(summary.keys, 3);
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        assert_eq!(offsets.last().copied(), Some(body_end));
    }
}
