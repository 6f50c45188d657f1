//! RDB decoding: a whole file ([`load`]), a stream fed piece by piece as it arrives ([`StreamDecoder`],
//! which the whole-file load runs on), or one value ([`decode_value`], for RESTORE).
//!
//! Every length read from the input is checked against the bytes that remain before anything is
//! allocated, so a corrupt or hostile file fails with an error naming the byte offset, never a panic
//! or an allocation of the size the file claims.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

use super::listpack::{intset_decode, listpack_decode, ziplist_decode, zipmap_decode, BlobError};
use super::{op, RDB_MAX_VERSION};
use crate::db::value::ZSet;
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
    /// More input may follow `data` (a stream being fed): a length that the bytes at hand cannot
    /// hold then means "wait for more" ([`RdbError::Truncated`]), not a corrupt length.
    partial: bool,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input {
            data,
            pos: 0,
            partial: false,
        }
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
            if self.partial {
                return Err(RdbError::Truncated);
            }
            return Err(RdbError::Corrupt(format!(
                "length {n} larger than the remaining input"
            )));
        }
        Ok(n as usize)
    }

    /// A string: length-prefixed, int-encoded or LZF-compressed.
    pub fn string(&mut self) -> Result<Bytes, RdbError> {
        self.string_with(Bytes::copy_from_slice, Bytes::from)
    }

    /// A string handed to `borrowed` where the input holds it as is, else to `owned` once expanded,
    /// so a caller that copies it anyway (into a value, a key arena) saves an allocation.
    pub fn string_with<T>(
        &mut self,
        borrowed: impl FnOnce(&[u8]) -> T,
        owned: impl FnOnce(Vec<u8>) -> T,
    ) -> Result<T, RdbError> {
        let (l, enc) = self.len_or_enc()?;
        if !enc {
            let l = usize::try_from(l).map_err(|_| RdbError::Truncated)?;
            return Ok(borrowed(self.bytes(l)?));
        }
        let int = |v: i64| borrowed(itoa::Buffer::new().format(v).as_bytes());
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
                Ok(owned(out))
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
        if z.insert(&m, s).is_some() {
            return Err(RdbError::Corrupt("Duplicate zset fields detected".into()));
        }
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
        op::STRING => inp.string_with(|s| Value::string(s), Value::string)?,
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
    sink: impl FnMut(Item, usize) -> Result<(), RdbError>,
) -> Result<LoadSummary, RdbErrorAt> {
    let mut dec = StreamDecoder::new(verify_checksum);
    dec.feed(data, true, sink)?;
    Ok(dec.into_summary())
}

/// Size of the blocks keys are decoded into.
const KEY_BLOCK: usize = 64 * 1024;

/// Why one item could not be decoded.
enum Stop {
    /// The input at hand ends inside the item, and more may follow.
    More,
    Err(RdbErrorAt),
}

/// An RDB decoder fed the stream piece by piece, as it arrives (a replica decodes its master's
/// snapshot during the transfer). Each [`feed`](StreamDecoder::feed) decodes every complete item at
/// the front of what it is given and says how many bytes that took; the caller keeps the rest and
/// hands it back, followed by more, next time. Errors and their offsets are exactly those of a
/// one-shot decode of the whole stream: only running out of input is told apart, and it is an error
/// only once the caller says the input is complete.
#[derive(Debug)]
pub struct StreamDecoder {
    verify_checksum: bool,
    /// Absolute stream offset of the next byte to decode.
    pos: usize,
    /// CRC64 of every byte consumed so far (when verifying).
    crc: u64,
    header_read: bool,
    done: bool,
    summary: LoadSummary,
    db: usize,
    expire_ms: i64,
    idle: Option<u64>,
    freq: Option<u8>,
    /// Keys are copied into this block and split off it: a key is transient (the keyspace copies it
    /// into its table), so sharing one allocation among many saves an allocation per key.
    keys: bytes::BytesMut,
    /// After an item was found incomplete: the input length before it is worth another attempt.
    /// Doubling it each time keeps a big item arriving in many small pieces from being re-parsed
    /// from its start on every piece (linear work overall instead of quadratic).
    retry_len: usize,
}

impl StreamDecoder {
    pub fn new(verify_checksum: bool) -> Self {
        StreamDecoder {
            verify_checksum,
            pos: 0,
            crc: 0,
            header_read: false,
            done: false,
            summary: LoadSummary::default(),
            db: 0,
            expire_ms: -1,
            idle: None,
            freq: None,
            keys: bytes::BytesMut::new(),
            retry_len: 0,
        }
    }

    /// Whether the EOF opcode (and its checksum) has been decoded: anything after it is not RDB.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// What the decode found (complete once [`is_done`](StreamDecoder::is_done)).
    pub fn into_summary(self) -> LoadSummary {
        self.summary
    }

    /// Decodes the complete items at the front of `buf` (the bytes that follow those consumed so
    /// far), reporting each to `sink` with the absolute offset just past it. Returns how many bytes
    /// of `buf` were consumed. `last`: nothing follows `buf`, so an incomplete item is an error.
    pub fn feed(
        &mut self,
        buf: &[u8],
        last: bool,
        mut sink: impl FnMut(Item, usize) -> Result<(), RdbError>,
    ) -> Result<usize, RdbErrorAt> {
        if self.done || (!last && buf.len() < self.retry_len) {
            return Ok(0);
        }
        let mut inp = Input {
            data: buf,
            pos: 0,
            partial: !last,
        };
        // How far into `buf` the running CRC has been taken.
        let mut crc_at = 0;
        let res = if self.header_read {
            Ok(())
        } else {
            self.header(&mut inp)
        };
        let res = res.and_then(|()| loop {
            let start = inp.pos;
            match self.item(&mut inp, &mut crc_at, &mut sink) {
                Ok(false) => self.retry_len = 0,
                Ok(true) => {
                    self.done = true;
                    break Ok(());
                }
                Err(Stop::More) => {
                    inp.pos = start;
                    let pending = buf.len() - start;
                    self.retry_len = pending.saturating_mul(2).max(pending + 1);
                    break Ok(());
                }
                Err(e) => break Err(e),
            }
        });
        let consumed = inp.pos;
        if self.verify_checksum && crc_at < consumed {
            self.crc = super::crc64(self.crc, &buf[crc_at..consumed]);
        }
        self.pos += consumed;
        match res {
            Ok(()) | Err(Stop::More) => Ok(consumed),
            Err(Stop::Err(e)) => Err(e),
        }
    }

    /// The error `e` met at `inp.pos`, or "need more" when the input ran out and more may follow.
    fn stop(&self, inp: &Input, e: RdbError) -> Stop {
        self.stop_at(inp, inp.pos, e)
    }

    fn stop_at(&self, inp: &Input, local: usize, e: RdbError) -> Stop {
        if inp.partial && e == RdbError::Truncated {
            return Stop::More;
        }
        Stop::Err(RdbErrorAt {
            offset: self.pos + local,
            err: e,
        })
    }

    /// `REDIS` and the four-digit version.
    fn header(&mut self, inp: &mut Input) -> Result<(), Stop> {
        let bad = |offset, err| {
            Stop::Err(RdbErrorAt {
                offset: self.pos + offset,
                err,
            })
        };
        if inp.remaining() < 9 {
            return Err(if inp.partial {
                Stop::More
            } else {
                bad(0, RdbError::BadSignature)
            });
        }
        let sig = inp.bytes(9).map_err(|e| self.stop(inp, e))?;
        if &sig[..5] != b"REDIS" {
            return Err(bad(0, RdbError::BadSignature));
        }
        let version: u32 = std::str::from_utf8(&sig[5..9])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(bad(5, RdbError::BadSignature))?;
        if version < 1 || version > RDB_MAX_VERSION as u32 {
            return Err(bad(5, RdbError::UnsupportedVersion(version)));
        }
        self.summary.version = version;
        self.header_read = true;
        Ok(())
    }

    /// One opcode and what it carries. `Ok(true)`: the EOF opcode, the stream is over. State
    /// changes only once the item is complete, so an incomplete one can be retried from its start.
    fn item(
        &mut self,
        inp: &mut Input,
        crc_at: &mut usize,
        sink: &mut impl FnMut(Item, usize) -> Result<(), RdbError>,
    ) -> Result<bool, Stop> {
        let start = inp.pos;
        let t = inp.u8().map_err(|e| self.stop(inp, e))?;
        match t {
            op::EXPIRETIME_MS => {
                let s = inp.bytes(8).map_err(|e| self.stop(inp, e))?;
                self.expire_ms = i64::from_le_bytes(s.try_into().expect("8 bytes"));
            }
            op::EXPIRETIME => {
                let s = inp.bytes(4).map_err(|e| self.stop(inp, e))?;
                self.expire_ms = i32::from_le_bytes(s.try_into().expect("4 bytes")) as i64 * 1000;
            }
            op::IDLE => self.idle = Some(inp.read_len().map_err(|e| self.stop(inp, e))?),
            op::FREQ => self.freq = Some(inp.u8().map_err(|e| self.stop(inp, e))?),
            op::SELECTDB => self.db = inp.read_len().map_err(|e| self.stop(inp, e))? as usize,
            op::RESIZEDB => {
                let size = inp.read_len().map_err(|e| self.stop(inp, e))?;
                let expires = inp.read_len().map_err(|e| self.stop(inp, e))?;
                let db = self.db;
                sink(Item::ResizeDb { db, size, expires }, self.pos + inp.pos)
                    .map_err(|e| self.sink_err(inp, e))?;
            }
            op::AUX => {
                let k = inp.string().map_err(|e| self.stop(inp, e))?;
                let v = inp.string().map_err(|e| self.stop(inp, e))?;
                sink(Item::Aux(k, v), self.pos + inp.pos).map_err(|e| self.sink_err(inp, e))?;
            }
            op::MODULE_AUX => {
                return Err(self.stop(
                    inp,
                    RdbError::Unsupported(
                        "The RDB file contains module AUX data, but ferredis has no modules to load it".into(),
                    ),
                ));
            }
            op::FUNCTION2 | op::FUNCTION_PRE_GA => {
                return Err(self.stop_at(
                    inp,
                    start,
                    RdbError::Unsupported(
                        "The RDB file contains a function library, but ferredis does not support functions".into(),
                    ),
                ));
            }
            op::EOF => {
                if self.summary.version >= 5 {
                    let body_end = inp.pos;
                    let s = inp.bytes(8).map_err(|e| self.stop(inp, e))?;
                    let expected = u64::from_le_bytes(s.try_into().expect("8 bytes"));
                    if self.verify_checksum {
                        self.crc = super::crc64(self.crc, &inp.data[*crc_at..body_end]);
                        // The trailer itself is not part of the checksummed body.
                        *crc_at = inp.pos;
                    }
                    if self.verify_checksum && expected != 0 {
                        let got = self.crc;
                        if got != expected {
                            return Err(Stop::Err(RdbErrorAt {
                                offset: self.pos + body_end,
                                err: RdbError::BadChecksum { expected, got },
                            }));
                        }
                        self.summary.checksum_verified = true;
                    }
                }
                return Ok(true);
            }
            value_type => {
                let keys = &mut self.keys;
                let key = inp
                    .string_with(
                        |s| {
                            if keys.capacity() < s.len() {
                                keys.reserve(s.len().max(KEY_BLOCK));
                            }
                            keys.extend_from_slice(s);
                            keys.split().freeze()
                        },
                        Bytes::from,
                    )
                    .map_err(|e| self.stop(inp, e))?;
                let value =
                    decode_value(value_type, inp, &key).map_err(|e| self.stop_at(inp, start, e))?;
                let item = Item::Key {
                    db: self.db,
                    key,
                    value,
                    expire_ms: self.expire_ms,
                    idle: self.idle,
                    freq: self.freq,
                };
                sink(item, self.pos + inp.pos).map_err(|e| self.sink_err(inp, e))?;
                self.summary.keys += 1;
                self.expire_ms = -1;
                self.idle = None;
                self.freq = None;
            }
        }
        Ok(false)
    }

    /// A sink's refusal is always an error, whatever it says.
    fn sink_err(&self, inp: &Input, e: RdbError) -> Stop {
        Stop::Err(RdbErrorAt {
            offset: self.pos + inp.pos,
            err: e,
        })
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

#[cfg(test)]
mod stream_tests {
    use super::*;
    use crate::rdb::encode::Options;
    use rand::{Rng, SeedableRng};

    type Outcome = (Vec<(String, usize)>, Result<(u32, u64, bool), RdbErrorAt>);

    /// An item as text; a value by its DEBUG DIGEST-VALUE (a set's iteration order varies).
    fn describe(item: &Item) -> String {
        match item {
            Item::Key {
                db,
                key,
                value,
                expire_ms,
                idle,
                freq,
            } => {
                let mut d = [0u8; 20];
                crate::db::digest::xor_value_digest(&mut d, value, *expire_ms >= 0);
                format!(
                    "Key {db} {key:?} {expire_ms} {idle:?} {freq:?} {}",
                    crate::db::digest::to_hex(&d)
                )
            }
            other => format!("{other:?}"),
        }
    }

    /// `assert_eq!` without printing thousands of items: the first difference only.
    #[track_caller]
    fn same(got: Outcome, want: &Outcome, what: &str) {
        if let Some(i) = (0..got.0.len().max(want.0.len())).find(|&i| got.0.get(i) != want.0.get(i))
        {
            panic!(
                "{what}: item {i} differs: {:?} != {:?}",
                got.0.get(i),
                want.0.get(i)
            );
        }
        assert_eq!(got.1, want.1, "{what}");
    }

    fn one_shot(data: &[u8]) -> Outcome {
        let mut items = Vec::new();
        let res = load_tracked(data, true, |item, pos| {
            items.push((describe(&item), pos));
            Ok(())
        });
        (items, res.map(|s| (s.version, s.keys, s.checksum_verified)))
    }

    /// Feeds `data` as a caller would: pieces cut at `cuts`, the unconsumed tail kept and handed
    /// back with the next piece, `last` on the final call.
    fn streamed(data: &[u8], cuts: &[usize]) -> Outcome {
        let mut dec = StreamDecoder::new(true);
        let mut items = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut from = 0;
        let ends = cuts.iter().copied().chain(std::iter::once(data.len()));
        for (i, to) in ends.enumerate() {
            let to = to.clamp(from, data.len());
            let last = i == cuts.len();
            pending.extend_from_slice(&data[from..to]);
            from = to;
            let r = dec.feed(&pending, last, |item, pos| {
                items.push((describe(&item), pos));
                Ok(())
            });
            match r {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(e) => return (items, Err(e)),
            }
            assert!(
                last || !dec.is_done() || dec.offset() <= data.len(),
                "consumed past the input"
            );
        }
        assert!(dec.is_done(), "a last feed either finishes or fails");
        let s = dec.into_summary();
        (items, Ok((s.version, s.keys, s.checksum_verified)))
    }

    fn random_cuts(rng: &mut impl Rng, len: usize, max_piece: usize) -> Vec<usize> {
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < len {
            // Empty pieces too: a caller may feed nothing new.
            at += rng.gen_range(0..=max_piece.max(1));
            cuts.push(at.min(len));
        }
        cuts
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/rdb/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    /// A small file of every kind the encoder writes: strings (plain, int, LZF), expiries, lists,
    /// sets, hashes, sorted sets, two databases.
    fn encoded() -> Vec<u8> {
        let mut ks = crate::db::Keyspace::new(16);
        let b = |s: String| Bytes::from(s);
        for i in 0..6 {
            ks.set(
                0,
                b(format!("s{i}")),
                Value::string(b("v".repeat(i * 13))),
                -1,
            );
        }
        ks.set(0, b("int".into()), Value::Int(-123456), 1_900_000_000_000);
        let list: VecDeque<Bytes> = (0..40).map(|i| b(format!("item-{i}"))).collect();
        ks.set(0, b("list".into()), Value::List(Arc::new(list)), -1);
        let set = set_value((0..20).map(|i| b(format!("m{i}"))).collect()).expect("distinct");
        ks.set(1, b("set".into()), set, -1);
        let mut h = crate::db::value::HashValue::with_capacity(4);
        for i in 0..4 {
            h.insert(b(format!("f{i}")), b("x".repeat(i * 30)));
        }
        ks.set(1, b("hash".into()), Value::Hash(Arc::new(h)), -1);
        let mut z = ZSet::default();
        for i in 0..10 {
            z.insert(format!("z{i}").as_bytes(), i as f64 / 3.0);
        }
        ks.set(1, b("zset".into()), Value::ZSet(Arc::new(z)), -1);
        crate::persistence::encode_keyspace(
            &ks,
            &[("redis-ver", "7.0.15".into())],
            &Options {
                compress: true,
                ..Default::default()
            },
            true,
        )
    }

    fn files() -> Vec<Vec<u8>> {
        vec![
            fixture("all-types-7.0.rdb"),
            fixture("empty-7.0.rdb"),
            fixture("with-stream-7.0.rdb"),
            encoded(),
        ]
    }

    #[test]
    fn pieces_of_any_size_give_the_one_shot_items() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for data in files() {
            let want = one_shot(&data);
            for max_piece in [1, 7, 100, 4096, 70_000] {
                for _ in 0..3 {
                    let cuts = random_cuts(&mut rng, data.len(), max_piece);
                    same(
                        streamed(&data, &cuts),
                        &want,
                        &format!("pieces up to {max_piece}"),
                    );
                }
            }
            same(streamed(&data, &[]), &want, "one piece");
        }
    }

    #[test]
    fn a_truncated_stream_fails_only_at_its_end_as_the_one_shot_does() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let small = encoded();
        let big = fixture("all-types-7.0.rdb");
        let positions = (0..small.len())
            .map(|n| (&small, n))
            .chain((0..big.len()).step_by(1999).map(|n| (&big, n)));
        for (data, n) in positions {
            let prefix = &data[..n];
            let want = one_shot(prefix);
            assert!(want.1.is_err(), "a prefix of {n} bytes loaded");
            let mut cuts = random_cuts(&mut rng, n, 64);
            same(streamed(prefix, &cuts), &want, &format!("prefix {n}"));
            // All of it fed as not the last piece, then an empty last piece.
            cuts.push(n);
            same(
                streamed(prefix, &cuts),
                &want,
                &format!("prefix {n}, empty last piece"),
            );
        }
    }

    #[test]
    fn a_corrupt_byte_fails_as_in_the_one_shot_decode() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (data, tries) in [(encoded(), 400), (fixture("all-types-7.0.rdb"), 40)] {
            let step = (data.len() / tries).max(1);
            for at in (0..data.len()).step_by(step) {
                for flip in [0xFFu8, 0x01] {
                    let mut bad = data.clone();
                    bad[at] ^= flip;
                    let want = one_shot(&bad);
                    let cuts = random_cuts(&mut rng, bad.len(), 300);
                    same(
                        streamed(&bad, &cuts),
                        &want,
                        &format!("byte {at} ^ {flip:#x}"),
                    );
                }
            }
        }
    }

    #[test]
    fn a_checksum_mismatch_is_detected() {
        let mut data = encoded();
        let n = data.len();
        data[n - 1] ^= 0x10;
        let (_, res) = streamed(&data, &[1, 10, 100, n - 5]);
        let err = res.expect_err("bad trailer");
        assert!(matches!(err.err, RdbError::BadChecksum { .. }), "{err}");
        assert_eq!(err.offset, n - 8);
        // Unverified, the same file loads.
        let mut dec = StreamDecoder::new(false);
        assert_eq!(dec.feed(&data, true, |_, _| Ok(())), Ok(n));
        assert!(dec.is_done());
    }

    #[test]
    fn a_big_item_in_tiny_pieces_is_not_reparsed_on_every_piece() {
        let mut ks = crate::db::Keyspace::new(1);
        let list: VecDeque<Bytes> = (0..20_000).map(|i| Bytes::from(format!("e{i}"))).collect();
        ks.set(0, Bytes::from_static(b"l"), Value::List(Arc::new(list)), -1);
        let data = crate::persistence::encode_keyspace(&ks, &[], &Options::default(), true);
        let mut dec = StreamDecoder::new(true);
        let mut pending = Vec::new();
        let mut attempts = 0;
        let mut keys = 0;
        for piece in data.chunks(16) {
            pending.extend_from_slice(piece);
            let before = dec.retry_len;
            let n = dec
                .feed(&pending, false, |_, _| {
                    keys += 1;
                    Ok(())
                })
                .expect("valid");
            if pending.len() >= before {
                attempts += 1;
            }
            pending.drain(..n);
        }
        assert_eq!(dec.feed(&pending, true, |_, _| Ok(())), Ok(pending.len()));
        assert_eq!(keys, 1);
        assert!(
            attempts < 40,
            "{attempts} attempts for {} pieces",
            data.len() / 16
        );
    }
}
