//! The compact blobs RDB embeds: listpack (Redis 7), ziplist (older files), intset and zipmap.
//! Decoders return the elements as byte strings (integers in decimal), validating every length against
//! the blob so a corrupt file gives an error, never a panic or an out-of-bounds read.

use bytes::Bytes;

/// A malformed blob; the text says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BlobError(pub &'static str);

fn take<'a>(
    b: &'a [u8],
    pos: &mut usize,
    n: usize,
    what: &'static str,
) -> Result<&'a [u8], BlobError> {
    let end = pos.checked_add(n).ok_or(BlobError(what))?;
    if end > b.len() {
        return Err(BlobError(what));
    }
    let s = &b[*pos..end];
    *pos = end;
    Ok(s)
}

fn int_bytes(v: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes())
}

fn le_int(s: &[u8]) -> i64 {
    // Sign-extend a little-endian integer of s.len() bytes.
    let mut v: u64 = 0;
    for (i, &b) in s.iter().enumerate() {
        v |= (b as u64) << (8 * i);
    }
    let bits = 8 * s.len() as u32;
    if bits < 64 {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    } else {
        v as i64
    }
}

/// Decodes a listpack into its elements.
pub fn listpack_decode(b: &[u8]) -> Result<Vec<Bytes>, BlobError> {
    const BAD: &str = "corrupt listpack";
    if b.len() < 7 {
        return Err(BlobError(BAD));
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total != b.len() {
        return Err(BlobError("listpack size does not match its header"));
    }
    let count = u16::from_le_bytes([b[4], b[5]]);
    let mut pos = 6;
    let mut out = Vec::with_capacity(if count == u16::MAX {
        16
    } else {
        count as usize
    });
    loop {
        let start = pos;
        let first = *b.get(pos).ok_or(BlobError(BAD))?;
        if first == 0xFF {
            if pos + 1 != b.len() {
                return Err(BlobError("listpack has data after its end marker"));
            }
            break;
        }
        pos += 1;
        let elem = if first & 0x80 == 0 {
            int_bytes((first & 0x7F) as i64)
        } else if first & 0xC0 == 0x80 {
            let len = (first & 0x3F) as usize;
            Bytes::copy_from_slice(take(b, &mut pos, len, BAD)?)
        } else if first & 0xE0 == 0xC0 {
            let lo = take(b, &mut pos, 1, BAD)?[0];
            let v = (((first & 0x1F) as i64) << 8) | lo as i64;
            int_bytes(if v >= 4096 { v - 8192 } else { v })
        } else if first & 0xF0 == 0xE0 {
            let lo = take(b, &mut pos, 1, BAD)?[0];
            let len = (((first & 0x0F) as usize) << 8) | lo as usize;
            Bytes::copy_from_slice(take(b, &mut pos, len, BAD)?)
        } else {
            match first {
                0xF0 => {
                    let l = take(b, &mut pos, 4, BAD)?;
                    let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    Bytes::copy_from_slice(take(b, &mut pos, len, BAD)?)
                }
                0xF1 => int_bytes(le_int(take(b, &mut pos, 2, BAD)?)),
                0xF2 => int_bytes(le_int(take(b, &mut pos, 3, BAD)?)),
                0xF3 => int_bytes(le_int(take(b, &mut pos, 4, BAD)?)),
                0xF4 => int_bytes(le_int(take(b, &mut pos, 8, BAD)?)),
                _ => return Err(BlobError("listpack entry with an unknown encoding")),
            }
        };
        let entry_len = pos - start;
        let backlen = backlen_size(entry_len);
        take(b, &mut pos, backlen, BAD)?;
        out.push(elem);
    }
    if count != u16::MAX && out.len() != count as usize {
        return Err(BlobError(
            "listpack element count does not match its header",
        ));
    }
    Ok(out)
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    match backlen_size(l as usize) {
        1 => out.push(l as u8),
        2 => out.extend_from_slice(&[(l >> 7) as u8, ((l & 127) | 128) as u8]),
        3 => out.extend_from_slice(&[
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        4 => out.extend_from_slice(&[
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        _ => out.extend_from_slice(&[
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
    }
}

/// Builds a listpack from elements; strings that are canonical integers are stored as integers, in
/// the smallest encoding, as Redis does.
pub fn listpack_encode<'a>(elems: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    let mut count = 0usize;
    for e in elems {
        count += 1;
        let start = out.len();
        match crate::util::parse_i64(e) {
            Some(v) if e.len() <= 20 => {
                if (0..=127).contains(&v) {
                    out.push(v as u8);
                } else if (-4096..=4095).contains(&v) {
                    let u = if v < 0 { (v + 8192) as u16 } else { v as u16 };
                    out.push(0xC0 | (u >> 8) as u8);
                    out.push((u & 0xFF) as u8);
                } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
                    out.push(0xF1);
                    out.extend_from_slice(&(v as i16).to_le_bytes());
                } else if (-(1i64 << 23)..(1i64 << 23)).contains(&v) {
                    out.push(0xF2);
                    out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
                    out.push(0xF3);
                    out.extend_from_slice(&(v as i32).to_le_bytes());
                } else {
                    out.push(0xF4);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            _ => {
                let len = e.len();
                if len < 64 {
                    out.push(0x80 | len as u8);
                } else if len < 4096 {
                    out.push(0xE0 | (len >> 8) as u8);
                    out.push((len & 0xFF) as u8);
                } else {
                    out.push(0xF0);
                    out.extend_from_slice(&(len as u32).to_le_bytes());
                }
                out.extend_from_slice(e);
            }
        }
        let l = out.len() - start;
        push_backlen(&mut out, l);
    }
    out.push(0xFF);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    let c = if count < u16::MAX as usize {
        count as u16
    } else {
        u16::MAX
    };
    out[4..6].copy_from_slice(&c.to_le_bytes());
    out
}

/// Decodes a ziplist (RDB files before Redis 7) into its elements.
pub fn ziplist_decode(b: &[u8]) -> Result<Vec<Bytes>, BlobError> {
    const BAD: &str = "corrupt ziplist";
    if b.len() < 11 {
        return Err(BlobError(BAD));
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total != b.len() {
        return Err(BlobError("ziplist size does not match its header"));
    }
    let mut pos = 10;
    let mut out = Vec::new();
    loop {
        let first = *b.get(pos).ok_or(BlobError(BAD))?;
        if first == 0xFF {
            break;
        }
        // prevlen
        if first == 0xFE {
            take(b, &mut pos, 5, BAD)?;
        } else {
            pos += 1;
        }
        let enc = take(b, &mut pos, 1, BAD)?[0];
        let elem = match enc >> 6 {
            0 => Bytes::copy_from_slice(take(b, &mut pos, (enc & 0x3F) as usize, BAD)?),
            1 => {
                let lo = take(b, &mut pos, 1, BAD)?[0];
                let len = (((enc & 0x3F) as usize) << 8) | lo as usize;
                Bytes::copy_from_slice(take(b, &mut pos, len, BAD)?)
            }
            2 => {
                let l = take(b, &mut pos, 4, BAD)?;
                let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                Bytes::copy_from_slice(take(b, &mut pos, len, BAD)?)
            }
            _ => match enc {
                0xC0 => int_bytes(le_int(take(b, &mut pos, 2, BAD)?)),
                0xD0 => int_bytes(le_int(take(b, &mut pos, 4, BAD)?)),
                0xE0 => int_bytes(le_int(take(b, &mut pos, 8, BAD)?)),
                0xF0 => int_bytes(le_int(take(b, &mut pos, 3, BAD)?)),
                0xFE => int_bytes(le_int(take(b, &mut pos, 1, BAD)?)),
                0xF1..=0xFD => int_bytes((enc & 0x0F) as i64 - 1),
                _ => return Err(BlobError("ziplist entry with an unknown encoding")),
            },
        };
        out.push(elem);
    }
    Ok(out)
}

/// Decodes an intset into its members (decimal strings).
pub fn intset_decode(b: &[u8]) -> Result<Vec<Bytes>, BlobError> {
    const BAD: &str = "corrupt intset";
    if b.len() < 8 {
        return Err(BlobError(BAD));
    }
    let width = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || len.checked_mul(width).map(|n| n + 8) != Some(b.len()) {
        return Err(BlobError(BAD));
    }
    Ok(b[8..]
        .chunks_exact(width)
        .map(|c| int_bytes(le_int(c)))
        .collect())
}

/// Builds an intset from integers (sorted, deduplicated here), with the narrowest width.
pub fn intset_encode(values: &mut [i64]) -> Vec<u8> {
    values.sort_unstable();
    let width: usize = if values
        .iter()
        .all(|&v| (i16::MIN as i64..=i16::MAX as i64).contains(&v))
    {
        2
    } else if values
        .iter()
        .all(|&v| (i32::MIN as i64..=i32::MAX as i64).contains(&v))
    {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + values.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values.iter() {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Decodes a zipmap (very old hash encoding) into field, value pairs flattened.
pub fn zipmap_decode(b: &[u8]) -> Result<Vec<Bytes>, BlobError> {
    const BAD: &str = "corrupt zipmap";
    let mut pos = 1; // zmlen
    let mut out = Vec::new();
    let read_len = |pos: &mut usize| -> Result<Option<usize>, BlobError> {
        let first = *b.get(*pos).ok_or(BlobError(BAD))?;
        *pos += 1;
        match first {
            255 => Ok(None),
            254 => {
                let l = take(b, pos, 4, BAD)?;
                Ok(Some(u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize))
            }
            n => Ok(Some(n as usize)),
        }
    };
    while let Some(klen) = read_len(&mut pos)? {
        let k = Bytes::copy_from_slice(take(b, &mut pos, klen, BAD)?);
        let vlen = read_len(&mut pos)?.ok_or(BlobError(BAD))?;
        let free = take(b, &mut pos, 1, BAD)?[0] as usize;
        let v = Bytes::copy_from_slice(take(b, &mut pos, vlen, BAD)?);
        take(b, &mut pos, free, BAD)?;
        out.push(k);
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trip_all_encodings() {
        let long = "x".repeat(5000);
        let mid = "y".repeat(300);
        let elems: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"32767",
            b"-32768",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"",
            b"hello",
            b"007",
            mid.as_bytes(),
            long.as_bytes(),
        ];
        let lp = listpack_encode(elems.iter().copied());
        let back = listpack_decode(&lp).unwrap();
        let back: Vec<&[u8]> = back.iter().map(|b| b.as_ref()).collect();
        assert_eq!(back, elems);
    }

    #[test]
    fn listpack_rejects_truncation_without_panicking() {
        let lp = listpack_encode([b"hello".as_slice(), b"12345".as_slice(), &[b'z'; 200]]);
        for cut in 0..lp.len() {
            let mut t = lp[..cut].to_vec();
            if t.len() >= 4 {
                let n = t.len() as u32;
                t[0..4].copy_from_slice(&n.to_le_bytes());
            }
            assert!(listpack_decode(&t).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn intset_round_trip() {
        let mut v = vec![5, -3, i64::MAX, 0];
        let enc = intset_encode(&mut v);
        let dec = intset_decode(&enc).unwrap();
        assert_eq!(dec, vec!["-3", "0", "5", "9223372036854775807"]);
        assert!(intset_decode(&enc[..enc.len() - 1]).is_err());
    }

    #[test]
    fn ziplist_small_ints_and_strings() {
        // zlbytes, zltail, zllen, then entries: "ab" (prevlen 0), int 5 (immediate), end.
        let mut z = vec![0, 0, 0, 0, 0, 0, 0, 0, 2, 0];
        z.extend_from_slice(&[0, 0x02, b'a', b'b']);
        z.extend_from_slice(&[4, 0xF6]);
        z.push(0xFF);
        let n = z.len() as u32;
        z[0..4].copy_from_slice(&n.to_le_bytes());
        assert_eq!(ziplist_decode(&z).unwrap(), vec!["ab", "5"]);
    }
}
