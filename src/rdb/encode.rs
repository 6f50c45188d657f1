//! RDB encoding: values (for SAVE, full sync and DUMP) in encodings Redis 7.0 loads, and the file
//! framing (header, AUX fields, SELECTDB/RESIZEDB, expiry, EOF + CRC64).

use super::listpack::{intset_encode, listpack_encode};
use super::{op, RDB_VERSION};
use crate::db::Value;

pub use crate::db::value::Thresholds;

/// Encoding options.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it saves space.
    pub compress: bool,
    pub thresholds: Thresholds,
}

pub fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 64 {
        out.push(len as u8);
    } else if len < 16384 {
        out.push(0x40 | (len >> 8) as u8);
        out.push((len & 0xFF) as u8);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes an integer in the int-encoded string form when it fits 32 bits; returns false otherwise.
fn put_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if (i8::MIN as i64..=i8::MAX as i64).contains(&v) {
        out.extend_from_slice(&[0xC0, v as i8 as u8]);
    } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
        out.push(0xC1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        out.push(0xC2);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Writes a string: int-encoded when it is a short canonical integer, LZF-compressed when asked and
/// worth it, else length-prefixed.
pub fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::util::parse_i64(s) {
            if put_int_encoded(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        // As Redis: only when the compressed form fits in 4 bytes less than the original.
        if let Some(c) = super::lzf::compress(s, s.len() - 4) {
            out.push(0xC3);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The score text a listpack zset stores (Redis's `d2string`: integers without a fraction, `inf`).
fn score_text(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if d > -4503599627370495.0 && d < 4503599627370496.0 && d == (d as i64) as f64 {
        return (d as i64).to_string();
    }
    crate::util::fmt_printf_g17(d)
}

/// The RDB type byte ferredis writes for a value, and its payload.
pub fn put_value(out: &mut Vec<u8>, v: &Value, opts: &Options) -> u8 {
    let mut payload = Vec::new();
    let t = encode_value_payload(&mut payload, v, opts);
    out.push(t);
    out.extend_from_slice(&payload);
    t
}

fn encode_value_payload(out: &mut Vec<u8>, v: &Value, opts: &Options) -> u8 {
    let th = &opts.thresholds;
    match v {
        Value::Int(i) => {
            if !put_int_encoded(out, *i) {
                let s = itoa::Buffer::new().format(*i).to_string();
                put_len(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            op::STRING
        }
        Value::Str(b) | Value::Raw(b) => {
            put_string(out, b, opts.compress);
            op::STRING
        }
        Value::List(l) => {
            // Quicklist 2: listpack nodes of bounded size.
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            let mut cur: Vec<&[u8]> = Vec::new();
            let mut cur_bytes = 0;
            for e in l.iter() {
                if !cur.is_empty() && cur_bytes + e.len() + 11 > th.list_node_bytes {
                    nodes.push(listpack_encode(cur.drain(..)));
                    cur_bytes = 0;
                }
                cur_bytes += e.len() + 11;
                cur.push(e);
            }
            if !cur.is_empty() {
                nodes.push(listpack_encode(cur.drain(..)));
            }
            put_len(out, nodes.len() as u64);
            for n in nodes {
                put_len(out, 2); // PACKED container
                put_string(out, &n, opts.compress);
            }
            op::LIST_QUICKLIST_2
        }
        Value::Set(s) => {
            let ints: Option<Vec<i64>> = if s.len() <= th.set_max_intset_entries {
                s.iter().map(|m| crate::util::parse_i64(m)).collect()
            } else {
                None
            };
            match ints {
                Some(mut ints) => {
                    put_string(out, &intset_encode(&mut ints), false);
                    op::SET_INTSET
                }
                None => {
                    put_len(out, s.len() as u64);
                    for m in s.iter() {
                        put_string(out, m, opts.compress);
                    }
                    op::SET
                }
            }
        }
        Value::Hash(h) => {
            // The stored encoding decides, as in Redis: a hashtable that shrank stays one.
            if h.listpack {
                let lp = listpack_encode(h.iter().flat_map(|(f, v)| [f, v]));
                put_string(out, &lp, opts.compress);
                op::HASH_LISTPACK
            } else {
                put_len(out, h.len() as u64);
                for (f, v) in h.iter() {
                    put_string(out, f, opts.compress);
                    put_string(out, v, opts.compress);
                }
                op::HASH
            }
        }
        Value::ZSet(z) => {
            let small = z.len() <= th.zset_max_listpack_entries
                && z.members()
                    .all(|(m, _)| m.len() <= th.zset_max_listpack_value);
            if small {
                let texts: Vec<(&[u8], String)> =
                    z.iter().map(|(m, s)| (m, score_text(s))).collect();
                let lp = listpack_encode(texts.iter().flat_map(|(m, s)| [*m, s.as_bytes()]));
                put_string(out, &lp, opts.compress);
                op::ZSET_LISTPACK
            } else {
                put_len(out, z.len() as u64);
                // Highest score first, so a loader inserting at the head builds the order cheaply.
                for (m, s) in z.rev_iter() {
                    put_string(out, m, opts.compress);
                    out.extend_from_slice(&s.to_le_bytes());
                }
                op::ZSET_2
            }
        }
    }
}

/// The file header and AUX fields.
pub fn put_header(out: &mut Vec<u8>, aux: &[(&str, String)]) {
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    for (k, v) in aux {
        out.push(op::AUX);
        put_string(out, k.as_bytes(), false);
        put_string(out, v.as_bytes(), false);
    }
}

/// SELECTDB + RESIZEDB before the keys of a database.
pub fn put_db_header(out: &mut Vec<u8>, db: usize, size: u64, expires: u64) {
    out.push(op::SELECTDB);
    put_len(out, db as u64);
    out.push(op::RESIZEDB);
    put_len(out, size);
    put_len(out, expires);
}

/// What a key record says of the key's eviction state: Redis writes the idle time under an LRU
/// policy and the LFU counter under an LFU policy, nothing otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMeta {
    #[default]
    None,
    /// Seconds since the last access (`IDLE`).
    Idle(u64),
    /// The LFU counter, decayed to now (`FREQ`).
    Freq(u8),
}

/// One key: optional expiry, type, key, value.
pub fn put_key(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_ms: i64, opts: &Options) {
    put_key_meta(out, key, value, expire_ms, KeyMeta::None, opts)
}

/// One key: optional expiry, optional idle time or LFU counter, type, key, value.
pub fn put_key_meta(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_ms: i64,
    meta: KeyMeta,
    opts: &Options,
) {
    if expire_ms >= 0 {
        out.push(op::EXPIRETIME_MS);
        out.extend_from_slice(&expire_ms.to_le_bytes());
    }
    match meta {
        KeyMeta::None => {}
        KeyMeta::Idle(secs) => {
            out.push(op::IDLE);
            put_len(out, secs);
        }
        KeyMeta::Freq(counter) => {
            out.push(op::FREQ);
            out.push(counter);
        }
    }
    // The type byte comes first but is known once the value is encoded: written in place
    // afterwards, so no key costs a buffer of its own.
    let at = out.len();
    out.push(0);
    put_string(out, key, false);
    out[at] = encode_value_payload(out, value, opts);
}

/// EOF and the checksum of everything before it (`crc` = running CRC64 of the bytes already written
/// elsewhere, or 0 when `out` holds the whole file); a zero checksum when `rdbchecksum no`.
pub fn put_footer(out: &mut Vec<u8>, crc_so_far: u64, checksum: bool) {
    out.push(op::EOF);
    let crc = if checksum {
        super::crc64(crc_so_far, &out[out.len() - 1..])
    } else {
        0
    };
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A DUMP payload: type, value, RDB version (2 bytes LE), CRC64 (8 bytes LE).
pub fn dump(value: &Value, opts: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    put_value(&mut out, value, opts);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = super::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a DUMP payload's footer (version, CRC) and decodes its value.
pub fn undump(payload: &[u8], verify_checksum: bool) -> Result<Value, super::decode::RdbError> {
    use super::decode::{decode_value, Input, RdbError};
    let bad = || RdbError::Corrupt("DUMP payload version or checksum are wrong".into());
    if payload.len() < 10 {
        return Err(bad());
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    if ver > super::RDB_MAX_VERSION {
        return Err(bad());
    }
    if verify_checksum {
        let crc = u64::from_le_bytes(footer[2..10].try_into().expect("8 bytes"));
        if super::crc64(0, &payload[..payload.len() - 8]) != crc {
            return Err(bad());
        }
    }
    let mut inp = Input::new(body);
    let t = inp.data.first().copied().ok_or_else(bad)?;
    inp.pos = 1;
    let v =
        decode_value(t, &mut inp, b"").map_err(|_| RdbError::Corrupt("Bad data format".into()))?;
    if inp.pos != body.len() {
        return Err(RdbError::Corrupt("Bad data format".into()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::decode::{decode_value, load, Input, Item};
    use bytes::Bytes;
    use std::sync::Arc;

    fn round_trip(v: &Value, compress: bool) -> Value {
        let opts = Options {
            compress,
            ..Default::default()
        };
        let mut out = Vec::new();
        let t = put_value(&mut out, v, &opts);
        let mut inp = Input::new(&out[1..]);
        let back = decode_value(t, &mut inp, b"k").unwrap();
        assert_eq!(inp.pos, out.len() - 1, "decoder consumed the whole payload");
        back
    }

    #[test]
    fn strings_round_trip() {
        for s in [
            &b""[..],
            b"0",
            b"-1",
            b"127",
            b"-129",
            b"65536",
            b"2147483648",
            b"007",
            b"hello",
        ] {
            let v = Value::string(Bytes::copy_from_slice(s));
            assert_eq!(
                round_trip(&v, true).string_bytes().unwrap(),
                Bytes::copy_from_slice(s)
            );
        }
        let long = Bytes::from("abcdefgh".repeat(100));
        let mut out = Vec::new();
        put_string(&mut out, &long, true);
        assert_eq!(out[0], 0xC3, "long repetitive strings are LZF-compressed");
        assert_eq!(
            round_trip(&Value::Str(long.clone().into()), true)
                .string_bytes()
                .unwrap(),
            long
        );
    }

    #[test]
    fn collections_round_trip() {
        let list = Value::List(Arc::new(
            (0..3000)
                .map(|i| Bytes::from(format!("item-{i}")))
                .collect(),
        ));
        match round_trip(&list, false) {
            Value::List(l) => assert_eq!(l.len(), 3000),
            _ => panic!("list"),
        }
        let ints = Value::Set(Arc::new(
            ["1", "-5", "9223372036854775807"]
                .iter()
                .map(|s| Bytes::from(*s))
                .collect(),
        ));
        match round_trip(&ints, false) {
            Value::Set(s) => assert!(s.contains(b"9223372036854775807".as_slice())),
            _ => panic!("set"),
        }
        let mut z = crate::db::value::ZSet::default();
        for (m, s) in [("a", 1.0), ("b", 2.5), ("c", f64::INFINITY), ("d", -0.125)] {
            z.insert(m.as_bytes(), s);
        }
        match round_trip(&Value::ZSet(Arc::new(z)), false) {
            Value::ZSet(z) => {
                assert_eq!(z.score(b"c"), Some(f64::INFINITY));
                assert_eq!(z.score(b"d"), Some(-0.125));
            }
            _ => panic!("zset"),
        }
    }

    #[test]
    fn dump_payload_checks_crc() {
        let d = dump(
            &Value::Str(Bytes::from_static(b"hello").into()),
            &Options::default(),
        );
        assert!(undump(&d, true).is_ok());
        let mut bad = d.clone();
        bad[2] ^= 1;
        assert!(undump(&bad, true).is_err());
    }

    #[test]
    fn whole_file_round_trip() {
        let opts = Options {
            compress: true,
            ..Default::default()
        };
        let mut f = Vec::new();
        put_header(&mut f, &[("redis-ver", "7.0.15".into())]);
        put_db_header(&mut f, 3, 2, 1);
        put_key(&mut f, b"a", &Value::Int(5), -1, &opts);
        put_key(
            &mut f,
            b"b",
            &Value::Str(Bytes::from_static(b"x").into()),
            4102444800000,
            &opts,
        );
        let crc = crate::rdb::crc64(0, &f);
        put_footer(&mut f, crc, true);
        let mut keys = Vec::new();
        let s = load(&f, true, |it| {
            if let Item::Key {
                db, key, expire_ms, ..
            } = it
            {
                keys.push((db, key, expire_ms));
            }
            Ok(())
        })
        .unwrap();
        assert!(s.checksum_verified);
        assert_eq!(
            keys,
            vec![
                (3, Bytes::from_static(b"a"), -1),
                (3, Bytes::from_static(b"b"), 4102444800000)
            ]
        );
        let mut corrupt = f.clone();
        corrupt[20] ^= 0xFF;
        assert!(load(&corrupt, true, |_| Ok(())).is_err());
    }
}

#[cfg(test)]
mod property_tests {
    use super::*;
    use crate::db::value::ZSet;
    use crate::rdb::decode::{decode_value, Input};
    use bytes::Bytes;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    fn random_bytes(rng: &mut rand::rngs::StdRng) -> Bytes {
        match rng.gen_range(0..5) {
            0 => Bytes::from(rng.gen_range(i64::MIN..i64::MAX).to_string()),
            1 => Bytes::from(rng.gen_range(-200i64..200).to_string()),
            2 => Bytes::from(
                (0..rng.gen_range(0..40))
                    .map(|_| rng.gen::<u8>())
                    .collect::<Vec<_>>(),
            ),
            3 => Bytes::from("ab".repeat(rng.gen_range(0..400))),
            _ => Bytes::from(format!("m{}", rng.gen_range(0..100_000))),
        }
    }

    fn random_value(rng: &mut rand::rngs::StdRng) -> Value {
        let n = if rng.gen_bool(0.2) {
            rng.gen_range(100..2000)
        } else {
            rng.gen_range(0..20)
        };
        match rng.gen_range(0..5) {
            0 => Value::string(random_bytes(rng)),
            1 => Value::List(Arc::new((0..n.max(1)).map(|_| random_bytes(rng)).collect())),
            2 => Value::Hash(Arc::new(
                (0..n.max(1))
                    .map(|_| (random_bytes(rng), random_bytes(rng)))
                    .collect(),
            )),
            3 => Value::Set(Arc::new((0..n.max(1)).map(|_| random_bytes(rng)).collect())),
            _ => {
                let mut z = ZSet::default();
                for _ in 0..n.max(1) {
                    let m = random_bytes(rng);
                    let s = match rng.gen_range(0..5) {
                        0 => f64::INFINITY,
                        1 => f64::NEG_INFINITY,
                        2 => rng.gen_range(-100i64..100) as f64,
                        _ => rng.gen_range(-1e12..1e12),
                    };
                    z.insert(&m, s);
                }
                z.choose_encoding(&Thresholds::default());
                Value::ZSet(Arc::new(z))
            }
        }
    }

    /// Canonical content of a value for comparison (collections sorted).
    fn content(v: &Value) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = match v {
            Value::List(l) => return l.iter().map(|b| b.to_vec()).collect(),
            Value::Hash(h) => h.iter().map(|(f, v)| [f, b"=", v].concat()).collect(),
            Value::Set(s) => s.iter().map(|m| m.to_vec()).collect(),
            Value::ZSet(z) => z
                .iter()
                .map(|(m, s)| [m, &s.to_bits().to_le_bytes()].concat())
                .collect(),
            other => return vec![other.string_bytes().unwrap().to_vec()],
        };
        out.sort();
        out
    }

    #[test]
    fn random_values_of_every_type_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        for i in 0..400 {
            let v = random_value(&mut rng);
            for compress in [false, true] {
                let mut out = Vec::new();
                let t = put_value(
                    &mut out,
                    &v,
                    &Options {
                        compress,
                        ..Default::default()
                    },
                );
                let mut inp = Input::new(&out[1..]);
                let back =
                    decode_value(t, &mut inp, b"k").unwrap_or_else(|e| panic!("value {i}: {e}"));
                assert_eq!(inp.pos, out.len() - 1, "value {i}: payload fully consumed");
                assert_eq!(back.type_name(), v.type_name());
                assert_eq!(
                    content(&back),
                    content(&v),
                    "value {i} (compress {compress})"
                );
            }
        }
    }
}
