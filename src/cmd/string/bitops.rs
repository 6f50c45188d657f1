//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO.
//!
//! Bits are numbered from the most significant bit of the first byte. A missing key reads as an
//! endless run of zero bits; writes grow the string with zero bytes (up to `proto-max-bulk-len`) and
//! leave it `raw`. Ranges, masks and overflow rules reproduce Redis 7.0's replies exactly, including
//! its quirks (BITCOUNT's early zero for inverted negative ranges, BITPOS's end-of-range rule when
//! looking for a clear bit).

use bytes::Bytes;
use std::collections::HashMap;

use super::{
    cstr, grow_zeroed, kw, modify_raw, must_obey, peek_string, proto_max_bulk_len, str_bytes,
    zeroed,
};
use crate::cmd::{arg_i64, CmdError, CmdResult, Ctx};
use crate::db::{Value, NO_EXPIRE};
use crate::resp::Reply;

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// Parses a bit offset (SETBIT, GETBIT, BITFIELD). With `hash` and a field width, `#N` means the
/// N-th field of that width (`N * bits`, with the same 64-bit wrap-around as Redis). Offsets whose
/// byte lies past `proto-max-bulk-len` are refused, except on the master link.
fn bit_offset(ctx: &Ctx, arg: &[u8], hash: bool, bits: u32) -> Result<u64, CmdError> {
    let use_hash = hash && bits > 0 && arg.first() == Some(&b'#');
    let digits = if use_hash { &arg[1..] } else { arg };
    let mut off = crate::util::parse_i64(digits).ok_or(CmdError::msg(BIT_OFFSET_ERR))?;
    if use_hash {
        off = off.wrapping_mul(bits as i64);
    }
    if off < 0 || (!must_obey(ctx) && (off >> 3) as u64 >= proto_max_bulk_len(ctx)) {
        return Err(CmdError::msg(BIT_OFFSET_ERR));
    }
    Ok(off as u64)
}

/// Position of the first bit equal to `bit` in `s`. Not found: -1 when looking for a one, and the
/// first bit past the end when looking for a zero (the string is taken as zero-padded on the right).
fn first_bit(s: &[u8], bit: bool) -> i64 {
    // Skip whole words holding only the other value (long runs of 0x00 or 0xff are the usual case).
    let skip = if bit { 0u64 } else { u64::MAX };
    let words = s
        .chunks_exact(8)
        .take_while(|c| {
            u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) == skip
        })
        .count();
    let base = words * 8;
    for (i, &b) in s[base..].iter().enumerate() {
        let i = base + i;
        let x = if bit { b } else { !b };
        if x != 0 {
            return i as i64 * 8 + x.leading_zeros() as i64;
        }
    }
    if bit {
        -1
    } else {
        s.len() as i64 * 8
    }
}

fn popcount(s: &[u8]) -> i64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from_ne_bytes(w).count_ones() as u64;
    }
    n += chunks
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>();
    n as i64
}

/// Masks of the bits outside a bit range in its first and last bytes: for a range starting at bit
/// `start` and ending at bit `end`, the first byte's bits before `start` and the last byte's bits
/// after `end`.
fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u32 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u32 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

// ---------------------------------------------------------------------------------------------
// SETBIT, GETBIT
// ---------------------------------------------------------------------------------------------

pub fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let off = bit_offset(ctx, &args[2], false, 0)?;
    let bit_err = || CmdError::msg("ERR bit is not an integer or out of range");
    let on = crate::util::parse_i64(&args[3]).ok_or_else(bit_err)?;
    if on & !1 != 0 {
        return Err(bit_err());
    }
    let db = ctx.db();
    let key = &args[1];
    let byte = (off >> 3) as usize;
    let shift = 7 - (off & 7) as u32;
    // What the write would do, from a look at the current value: a bit already as asked in a raw
    // string within its length changes nothing, so the entry is left alone (and stays unchanged
    // for WATCH). Other strings are rewritten even then: Redis makes them raw on any SETBIT.
    let (exists, noop, old) = match peek_string(&mut ctx.core.ks, db, key)? {
        None => (false, false, 0),
        Some(v) => {
            let mut buf = itoa::Buffer::new();
            let cur = str_bytes(v, &mut buf).unwrap_or_default();
            let old = cur.get(byte).map_or(0, |b| (b >> shift) & 1);
            let noop = matches!(v, Value::Raw(_)) && byte < cur.len() && old as i64 == on;
            (true, noop, old)
        }
    };
    let ks = &mut ctx.core.ks;
    let changed = if noop {
        false
    } else if exists {
        modify_raw(ks, db, key, |b| {
            let grew = b.len() < byte + 1;
            grow_zeroed(b, byte + 1)?;
            let changed = grew || ((b[byte] >> shift) & 1) as i64 != on;
            b[byte] = (b[byte] & !(1 << shift)) | ((on as u8) << shift);
            Ok(changed)
        })?
    } else {
        let mut b = zeroed(byte + 1)?;
        b[byte] |= (on as u8) << shift;
        ks.set(
            db,
            Bytes::copy_from_slice(key),
            Value::Raw(b.into()),
            NO_EXPIRE,
        );
        true
    };
    if changed {
        ks.dirty += 1;
        ctx.notify(crate::db::notify::class::STRING, "setbit", key);
    }
    ctx.out.int(old as i64);
    Ok(())
}

pub fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let off = bit_offset(ctx, &args[2], false, 0)?;
    let db = ctx.db();
    let Some(e) = ctx.core.ks.lookup_read(db, &args[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let s = str_bytes(&e.value, &mut buf).ok_or(CmdError::WrongType)?;
    let byte = (off >> 3) as usize;
    let bit = s.get(byte).map_or(0, |b| (b >> (7 - (off & 7))) & 1);
    ctx.out.int(bit as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BITCOUNT, BITPOS
// ---------------------------------------------------------------------------------------------

/// Parses BIT|BYTE.
fn bit_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if kw(arg, "bit") {
        Ok(true)
    } else if kw(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

pub fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let Some(e) = ctx.core.ks.lookup_read(db, &args[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let p = str_bytes(&e.value, &mut buf).ok_or(CmdError::WrongType)?;
    let strlen = p.len() as i64;
    let (mut start, mut end);
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match args.len() {
        4 | 5 => {
            let mut total = strlen;
            start = arg_i64(&args[2])?;
            end = arg_i64(&args[3])?;
            // Checked before the unit, so an inverted negative range answers 0 even with a bad one.
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let is_bit = args.len() == 5 && bit_unit(&args[4])?;
            if is_bit {
                total <<= 3;
            }
            if start < 0 {
                start += total;
            }
            if end < 0 {
                end += total;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= total {
                end = total - 1;
            }
            if is_bit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        2 => {
            start = 0;
            end = strlen - 1;
        }
        _ => return Err(CmdError::Syntax),
    }
    if start > end {
        ctx.out.int(0);
        return Ok(());
    }
    let (s, e) = (start as usize, end as usize);
    let mut count = popcount(&p[s..=e]);
    // Bits of the edge bytes outside a bit range were counted above; take them back out.
    count -= (p[s] & first_mask).count_ones() as i64 + (p[e] & last_mask).count_ones() as i64;
    ctx.out.int(count);
    Ok(())
}

pub fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let bit = arg_i64(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::msg("ERR The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    let db = ctx.db();
    let Some(e) = ctx.core.ks.lookup_read(db, &args[1]) else {
        // A missing key is an endless run of zeros.
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let p = str_bytes(&e.value, &mut buf).ok_or(CmdError::WrongType)?;
    let strlen = p.len() as i64;
    let (mut start, mut end);
    let mut end_given = false;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match args.len() {
        4..=6 => {
            let mut total = strlen;
            start = arg_i64(&args[3])?;
            let is_bit = args.len() == 6 && bit_unit(&args[5])?;
            if args.len() >= 5 {
                end = arg_i64(&args[4])?;
                end_given = true;
            } else if is_bit {
                end = (total << 3) + 7;
            } else {
                end = total - 1;
            }
            if is_bit {
                total <<= 3;
            }
            if start < 0 {
                start += total;
            }
            if end < 0 {
                end += total;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= total {
                end = total - 1;
            }
            if is_bit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        3 => {
            start = 0;
            end = strlen - 1;
        }
        _ => return Err(CmdError::Syntax),
    }
    // An empty range holds neither a one nor a zero.
    if start > end {
        ctx.out.int(-1);
        return Ok(());
    }
    let mut start = start as usize;
    let end = end as usize;
    let mut bytes = end - start + 1;
    // Edge bytes of a bit range are searched with their outside bits forced to the value that is
    // not looked for.
    let hide = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let pos = 'search: {
        if first_mask != 0 {
            let mut b = hide(p[start], first_mask);
            if last_mask != 0 && bytes == 1 {
                b = hide(b, last_mask);
            }
            let pos = first_bit(&[b], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            bytes -= 1;
        }
        let middle = bytes - (last_mask != 0) as usize;
        if middle > 0 {
            let pos = first_bit(&p[start..start + middle], bit);
            if bytes == middle || (pos != -1 && pos != (middle as i64) << 3) {
                break 'search pos;
            }
            start += middle;
            bytes -= middle;
        }
        first_bit(&[hide(p[end], last_mask)], bit)
    };
    // With an explicit end, the zero "found" just past the range is not in it.
    if end_given && !bit && pos == (bytes as i64) << 3 {
        ctx.out.int(-1);
        return Ok(());
    }
    ctx.out.int(if pos != -1 {
        pos + ((start as i64) << 3)
    } else {
        pos
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

pub fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let name = &args[1];
    let op = if kw(name, "and") {
        BitOp::And
    } else if kw(name, "or") {
        BitOp::Or
    } else if kw(name, "xor") {
        BitOp::Xor
    } else if kw(name, "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::msg(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let mut srcs: Vec<Bytes> = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        match ks.lookup_read(db, key) {
            None => srcs.push(Bytes::new()),
            Some(e) => srcs.push(e.value.string_bytes().ok_or(CmdError::WrongType)?),
        }
    }
    let max_len = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let dest = &args[2];
    if max_len > 0 {
        // Shorter inputs count as zero-padded to the longest one.
        let mut res = vec![0u8; max_len];
        res[..srcs[0].len()].copy_from_slice(&srcs[0]);
        if op == BitOp::Not {
            res.iter_mut().for_each(|b| *b = !*b);
        }
        for s in &srcs[1..] {
            let n = s.len();
            match op {
                BitOp::And => {
                    res[..n].iter_mut().zip(s.iter()).for_each(|(r, b)| *r &= b);
                    res[n..].fill(0);
                }
                BitOp::Or => res[..n].iter_mut().zip(s.iter()).for_each(|(r, b)| *r |= b),
                BitOp::Xor => res[..n].iter_mut().zip(s.iter()).for_each(|(r, b)| *r ^= b),
                BitOp::Not => {}
            }
        }
        ks.set(
            db,
            Bytes::copy_from_slice(dest),
            Value::Raw(res.into()),
            NO_EXPIRE,
        );
        ks.dirty += 1;
        ks.notify(crate::db::notify::class::STRING, "set", db, dest);
    } else if ks.remove_entry(db, dest).is_some() {
        // An all-empty result removes the destination.
        ks.dirty += 1;
        ks.notify(crate::db::notify::class::GENERIC, "del", db, dest);
    }
    ctx.out.int(max_len as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BITFIELD, BITFIELD_RO
// ---------------------------------------------------------------------------------------------

/// What BITFIELD does when a SET or INCRBY does not fit the field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    /// Wrap around modulo the field width (the default).
    Wrap,
    /// Saturate at the field's minimum or maximum.
    Sat,
    /// Write nothing and reply null.
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

/// One parsed BITFIELD subcommand.
#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    offset: u64,
    /// SET's value or INCRBY's increment.
    value: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

const FIELD_TYPE_ERR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Parses a field type: `i1`..`i64` or `u1`..`u63` (lowercase prefix, as Redis requires).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || CmdError::msg(FIELD_TYPE_ERR);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = crate::util::parse_i64(cstr(&arg[1..])).ok_or_else(err)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

/// Where BITFIELD reads and writes bytes: the string itself, or an [`Overlay`] over it.
trait ByteStore {
    /// The byte at `i`; zero past the end.
    fn byte(&self, i: u64) -> u8;
    fn set_byte(&mut self, i: u64, v: u8);
}

impl ByteStore for [u8] {
    fn byte(&self, i: u64) -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn set_byte(&mut self, i: u64, v: u8) {
        if let Some(b) = usize::try_from(i).ok().and_then(|i| self.get_mut(i)) {
            *b = v;
        }
    }
}

impl ByteStore for Vec<u8> {
    fn byte(&self, i: u64) -> u8 {
        self.as_slice().byte(i)
    }

    fn set_byte(&mut self, i: u64, v: u8) {
        self.as_mut_slice().set_byte(i, v)
    }
}

/// Writes kept beside a read-only string, so BITFIELD can run first and touch the entry only if
/// something changed.
struct Overlay<'a> {
    base: &'a [u8],
    writes: HashMap<u64, u8>,
}

impl ByteStore for Overlay<'_> {
    fn byte(&self, i: u64) -> u8 {
        match self.writes.get(&i) {
            Some(&v) => v,
            None => self.base.byte(i),
        }
    }

    fn set_byte(&mut self, i: u64, v: u8) {
        self.writes.insert(i, v);
    }
}

fn get_unsigned<S: ByteStore + ?Sized>(p: &S, offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for k in 0..bits as u64 {
        let o = offset + k;
        v = (v << 1) | ((p.byte(o >> 3) >> (7 - (o & 7))) & 1) as u64;
    }
    v
}

fn get_signed<S: ByteStore + ?Sized>(p: &S, offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v | (-1i64 << bits)
    } else {
        v
    }
}

fn set_unsigned<S: ByteStore + ?Sized>(p: &mut S, offset: u64, bits: u32, value: u64) {
    for k in 0..bits as u64 {
        let bit = ((value >> (bits as u64 - 1 - k)) & 1) as u8;
        let o = offset + k;
        let shift = 7 - (o & 7);
        let b = p.byte(o >> 3);
        p.set_byte(o >> 3, (b & !(1 << shift)) | (bit << shift));
    }
}

/// Whether `value + incr` leaves an unsigned field of `bits` bits, and the value to store instead
/// (wrapped or saturated; None for FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & max;
    let over = value > max || (incr > 0 && incr > max_incr);
    let under = !over && incr < 0 && incr < min_incr;
    if !over && !under {
        return None;
    }
    Some(match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(if over { max } else { 0 }),
        Overflow::Fail => None,
    })
}

/// The signed counterpart of [`unsigned_overflow`], for fields of 1 to 64 bits.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let over = value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr);
    let under = !over
        && (value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr));
    if !over && !under {
        return None;
    }
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    Some(match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(if over { max } else { min }),
        Overflow::Fail => None,
    })
}

/// Parses the subcommands. Returns them and the highest bit a SET or INCRBY writes (None when
/// every subcommand is a GET).
fn parse_fields(ctx: &Ctx, args: &[Bytes]) -> Result<(Vec<Field>, Option<u64>), CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let sub = &args[j];
        let op = if kw(sub, "get") && rem >= 2 {
            FieldOp::Get
        } else if kw(sub, "set") && rem >= 3 {
            FieldOp::Set
        } else if kw(sub, "incrby") && rem >= 3 {
            FieldOp::IncrBy
        } else if kw(sub, "overflow") && rem >= 1 {
            let t = &args[j + 1];
            overflow = if kw(t, "wrap") {
                Overflow::Wrap
            } else if kw(t, "sat") {
                Overflow::Sat
            } else if kw(t, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::msg("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(ctx, &args[j + 2], true, bits)?;
        let mut value = 0;
        if op != FieldOp::Get {
            let last = offset + bits as u64 - 1;
            highest = Some(highest.map_or(last, |h| h.max(last)));
            value = arg_i64(&args[j + 3])?;
        }
        fields.push(Field {
            op,
            offset,
            value,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok((fields, highest))
}

fn reply_get_field<S: ByteStore + ?Sized>(out: &mut Reply, p: &S, f: &Field) {
    if f.signed {
        out.int(get_signed(p, f.offset, f.bits));
    } else {
        out.int(get_unsigned(p, f.offset, f.bits) as i64);
    }
}

/// Runs the subcommands on a string already grown to hold every written bit, writing one reply per
/// subcommand. `grown` says the string was created or lengthened (every write then counts as a
/// change). Returns the number of changes.
fn run_fields<S: ByteStore + ?Sized>(
    p: &mut S,
    fields: &[Field],
    grown: bool,
    out: &mut Reply,
) -> u64 {
    let mut changes = 0;
    for f in fields {
        if f.op == FieldOp::Get {
            reply_get_field(out, p, f);
            continue;
        }
        // Both SET and INCRBY read the old value: SET replies with it, INCRBY with the new one.
        let (old, new, reply) = if f.signed {
            let old = get_signed(p, f.offset, f.bits);
            let (target, incr) = match f.op {
                FieldOp::IncrBy => (old, f.value),
                _ => (f.value, 0),
            };
            let new = match signed_overflow(target, incr, f.bits, f.overflow) {
                None => Some(target.wrapping_add(incr)),
                Some(limit) => limit,
            };
            let reply = if f.op == FieldOp::IncrBy {
                new
            } else {
                Some(old)
            };
            (old as u64, new.map(|n| n as u64), reply)
        } else {
            let old = get_unsigned(p, f.offset, f.bits);
            let (target, incr) = match f.op {
                FieldOp::IncrBy => (old, f.value),
                _ => (f.value as u64, 0),
            };
            let new = match unsigned_overflow(target, incr, f.bits, f.overflow) {
                None => Some(target.wrapping_add(incr as u64)),
                Some(limit) => limit,
            };
            let reply = if f.op == FieldOp::IncrBy {
                new.map(|n| n as i64)
            } else {
                Some(old as i64)
            };
            (old, new, reply)
        };
        match (new, reply) {
            (Some(new), Some(reply)) => {
                out.int(reply);
                set_unsigned(p, f.offset, f.bits, new);
                if grown || old != new {
                    changes += 1;
                }
            }
            // OVERFLOW FAIL: nothing written.
            _ => out.null(),
        }
    }
    changes
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only_cmd: bool) -> CmdResult {
    let (fields, highest) = parse_fields(ctx, args)?;
    let db = ctx.db();
    let key = &args[1];
    let Some(highest) = highest else {
        // Only GETs: a read lookup; a missing key reads as zeros.
        let e = ctx.core.ks.lookup_read(db, key);
        let mut buf = itoa::Buffer::new();
        let p: &[u8] = match e {
            None => &[],
            Some(e) => str_bytes(&e.value, &mut buf).ok_or(CmdError::WrongType)?,
        };
        ctx.out.array(fields.len());
        for f in &fields {
            reply_get_field(&mut ctx.out, p, f);
        }
        return Ok(());
    };
    if read_only_cmd {
        return Err(CmdError::msg(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let need = (highest >> 3) as usize + 1;
    let ks = &mut ctx.core.ks;
    let out = &mut ctx.out;
    // Some(base): an existing raw string already long enough. The subcommands then run against an
    // overlay and the entry is written only if a bit changed (so an unchanged key stays unchanged
    // for WATCH). Other strings are rewritten in any case: created, grown, or made raw as Redis does.
    let (exists, base) = match peek_string(ks, db, key)? {
        None => (false, None),
        Some(Value::Raw(b)) if b.len() >= need => (true, Some(b.clone())),
        Some(_) => (true, None),
    };
    let changes = if let Some(base) = base {
        let mut overlay = Overlay {
            base: &base,
            writes: HashMap::new(),
        };
        out.array(fields.len());
        let changes = run_fields(&mut overlay, &fields, false, out);
        let writes = std::mem::take(&mut overlay.writes);
        // Release our reference first, so the entry's buffer is unique and changed in place.
        drop(base);
        if changes > 0 {
            modify_raw(ks, db, key, |b| {
                for (i, v) in writes {
                    b.set_byte(i, v);
                }
                Ok(())
            })?;
        }
        changes
    } else if exists {
        // The reply starts only once the string has room for every write.
        modify_raw(ks, db, key, |b| {
            let grown = b.len() < need;
            grow_zeroed(b, need)?;
            out.array(fields.len());
            Ok(run_fields(b, &fields, grown, out))
        })?
    } else {
        let mut b = zeroed(need)?;
        out.array(fields.len());
        let changes = run_fields(&mut b, &fields, true, out);
        ks.set(
            db,
            Bytes::copy_from_slice(key),
            Value::Raw(b.into()),
            NO_EXPIRE,
        );
        changes
    };
    ks.dirty += changes;
    if changes > 0 {
        ks.notify_after_reply(crate::db::notify::class::STRING, "setbit", db, key);
    }
    Ok(())
}

pub fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

pub fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bit_pads_with_zeros() {
        assert_eq!(first_bit(&[0x00, 0x10], true), 11);
        assert_eq!(first_bit(&[0x00, 0x00], true), -1);
        assert_eq!(first_bit(&[0xff, 0xfe], false), 15);
        assert_eq!(first_bit(&[0xff, 0xff], false), 16);
        let mut long = vec![0u8; 37];
        assert_eq!(first_bit(&long, true), -1);
        assert_eq!(first_bit(&long, false), 0);
        long[33] = 0x20;
        assert_eq!(first_bit(&long, true), 33 * 8 + 2);
        let mut ones = vec![0xffu8; 37];
        assert_eq!(first_bit(&ones, false), 37 * 8);
        ones[16] = 0xfe;
        assert_eq!(first_bit(&ones, false), 16 * 8 + 7);
    }

    #[test]
    fn popcount_counts_every_byte() {
        let v: Vec<u8> = (0..=255u8).collect();
        assert_eq!(popcount(&v), 1024);
        assert_eq!(popcount(&[0xff; 13]), 104);
    }

    #[test]
    fn fields_read_and_write_across_bytes() {
        let mut p = vec![0u8; 3];
        set_unsigned(&mut p, 4, 12, 0xabc);
        assert_eq!(p, [0x0a, 0xbc, 0x00]);
        assert_eq!(get_unsigned(&p, 4, 12), 0xabc);
        assert_eq!(get_signed(&p, 4, 4), -6);
        assert_eq!(get_unsigned(&p, 20, 8), 0); // past the end reads zeros
    }

    #[test]
    fn overlay_reads_its_own_writes() {
        let base = [0xffu8, 0x00];
        let mut o = Overlay {
            base: &base,
            writes: HashMap::new(),
        };
        set_unsigned(&mut o, 4, 8, 0x5a);
        assert_eq!(get_unsigned(&o, 0, 16), 0xf5a0);
        set_unsigned(&mut o, 0, 4, 0);
        assert_eq!(get_unsigned(&o, 0, 16), 0x05a0);
        assert_eq!(base, [0xff, 0x00]);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(Some(4)));
        assert_eq!(
            unsigned_overflow(250, 10, 8, Overflow::Sat),
            Some(Some(255))
        );
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(Some(0)));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Fail), Some(None));
        assert_eq!(unsigned_overflow(5, 10, 8, Overflow::Fail), None);
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(Some(-128)));
        assert_eq!(
            signed_overflow(-128, -1, 8, Overflow::Sat),
            Some(Some(-128))
        );
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(Some(i64::MIN))
        );
        assert_eq!(
            signed_overflow(i64::MIN, -1, 64, Overflow::Sat),
            Some(Some(i64::MIN))
        );
        assert_eq!(signed_overflow(-5, 3, 64, Overflow::Fail), None);
    }

    #[test]
    fn field_types() {
        assert_eq!(field_type(b"i64").unwrap(), (true, 64));
        assert_eq!(field_type(b"u63").unwrap(), (false, 63));
        assert!(field_type(b"u64").is_err());
        assert!(field_type(b"I8").is_err());
        assert!(field_type(b"i0").is_err());
        assert!(field_type(b"i").is_err());
        assert!(field_type(b"").is_err());
        assert_eq!(field_type(b"i8\0x").unwrap(), (true, 8));
    }

    #[test]
    fn edge_masks_cover_outside_bits() {
        assert_eq!(edge_masks(0, 7), (0, 0));
        assert_eq!(edge_masks(3, 12), (0b1110_0000, 0b0000_0111));
    }
}
