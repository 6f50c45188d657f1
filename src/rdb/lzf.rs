//! LZF compression for RDB strings, producing the same bytes as the compressor Redis uses.
//!
//! The format: a control byte below 32 starts a run of `ctrl + 1` literal bytes; otherwise it is a
//! back reference of length `(ctrl >> 5) + 2` (7 means an extra length byte follows) at distance
//! `((ctrl & 31) << 8 | next byte) + 1`. Compression is greedy, finding candidates through a hash
//! of the next three bytes (64 Ki slots), as Redis's compressor does, so DUMP payloads and RDB files
//! are byte-identical to Redis's for the same values.
//!
//! The hash table is kept per thread and never cleared: each call gets a new generation number and
//! slots from older generations count as empty. Allocating and zeroing 512 KiB per string (what a
//! naive compressor does) made saving a million small values take seconds.
//! Decompression uses the `lzf` crate.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

struct Table {
    /// generation << 32 | position
    slots: Vec<u64>,
    generation: u64,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table { slots: vec![0; HSIZE], generation: 0 });
}

#[inline]
fn slot_of(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `max_out` bytes; `None` when it does not fit (the caller then
/// stores the string as is). Redis calls this with `max_out = len - 4`.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    if input.len() < 3 || max_out == 0 {
        return None;
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.generation += 1;
        if t.generation >= 1 << 31 {
            t.slots.iter_mut().for_each(|s| *s = 0);
            t.generation = 1;
        }
        let generation = t.generation;
        compress_with(input, max_out, &mut t.slots, generation)
    })
}

fn compress_with(
    input: &[u8],
    max_out: usize,
    slots: &mut [u64],
    generation: u64,
) -> Option<Vec<u8>> {
    let n = input.len();
    let tag = generation << 32;
    let mut out: Vec<u8> = Vec::with_capacity(max_out.min(n + n / 32 + 2));
    // Index of the control byte of the literal run being written, and its length so far.
    let mut run_at = 0usize;
    out.push(0);
    let mut lit = 0usize;
    let put = |slots: &mut [u64], h: u32, pos: usize| slots[slot_of(h)] = tag | pos as u64;
    let mut pos = 0usize;
    let mut h: u32 = (input[0] as u32) << 8 | input[1] as u32;
    while pos < n - 2 {
        h = (h << 8) | input[pos + 2] as u32;
        let slot = slot_of(h);
        let entry = slots[slot];
        let cand = if entry >> 32 == generation {
            (entry & 0xFFFF_FFFF) as usize
        } else {
            0
        };
        slots[slot] = tag | pos as u64;
        let off = pos.wrapping_sub(cand).wrapping_sub(1);
        if off < MAX_OFF
            && pos + 4 < n
            && cand > 0
            && cand < n - 2
            && input[cand..cand + 3] == input[pos..pos + 3]
        {
            // Close the literal run (or drop its empty control byte).
            if lit > 0 {
                out[run_at] = (lit - 1) as u8;
            } else {
                out.pop();
            }
            if out.len() + 3 + 1 >= max_out {
                return None;
            }
            let max_len = (n - pos - 2).min(MAX_REF);
            let mut len = 3;
            while len < max_len && input[cand + len] == input[pos + len] {
                len += 1;
            }
            let enc = len - 2;
            if enc < 7 {
                out.push(((off >> 8) + (enc << 5)) as u8);
            } else {
                out.push(((off >> 8) + (7 << 5)) as u8);
                out.push((enc - 7) as u8);
            }
            out.push(off as u8);
            run_at = out.len();
            out.push(0);
            lit = 0;
            pos += enc;
            if pos >= n {
                break;
            }
            // Hash the last two positions covered by the match, as the reference compressor does.
            h = (input[pos] as u32) << 8 | input[pos + 1] as u32;
            h = (h << 8) | input[pos + 2] as u32;
            put(slots, h, pos);
            pos += 1;
            h = (h << 8) | input[pos + 2] as u32;
            put(slots, h, pos);
            pos += 1;
        } else {
            if out.len() >= max_out {
                return None;
            }
            lit += 1;
            out.push(input[pos]);
            pos += 1;
            if lit == MAX_LIT {
                out[run_at] = (MAX_LIT - 1) as u8;
                lit = 0;
                run_at = out.len();
                out.push(0);
            }
        }
    }
    if out.len() + 3 > max_out {
        return None;
    }
    while pos < n {
        lit += 1;
        out.push(input[pos]);
        pos += 1;
        if lit == MAX_LIT {
            out[run_at] = (MAX_LIT - 1) as u8;
            lit = 0;
            run_at = out.len();
            out.push(0);
        }
    }
    if lit > 0 {
        out[run_at] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn round_trips_and_matches_the_reference_format() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..3000 {
            let len = rng.gen_range(3..3000);
            let alphabet = rng.gen_range(1..=255u8);
            let data: Vec<u8> = (0..len).map(|_| rng.gen_range(0..=alphabet)).collect();
            // With the crate's own bound (the input length) both must agree byte for byte.
            let ours = compress(&data, data.len());
            let theirs = lzf::compress(&data).ok();
            assert_eq!(ours, theirs, "len {len} alphabet {alphabet}");
            if let Some(c) = ours {
                assert_eq!(lzf::decompress(&c, data.len()).unwrap(), data);
            }
        }
    }

    #[test]
    fn redis_bound_refuses_what_does_not_save_four_bytes() {
        let random: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(compress(&random, random.len() - 4).is_none());
        let repetitive = b"abcdefghabcdefghabcdefghabcdefghabcdefgh".repeat(4);
        let c = compress(&repetitive, repetitive.len() - 4).unwrap();
        assert!(c.len() < repetitive.len() - 4);
        assert_eq!(lzf::decompress(&c, repetitive.len()).unwrap(), repetitive);
    }
}
