//! String commands: GET, SET and its variants, MGET/MSET, GETEX/GETDEL/GETSET, APPEND, STRLEN,
//! GETRANGE/SETRANGE, the INCR family, INCRBYFLOAT and LCS. The bitmap commands (SETBIT, BITCOUNT,
//! BITFIELD, ...) live in [`bitops`], the long double arithmetic of INCRBYFLOAT in [`ld`].
//!
//! Encodings follow Redis's, because `OBJECT ENCODING` reports them: a whole-value write (SET, MSET,
//! GETSET, APPEND to a missing key) stores [`Value::string`] (`int` for canonical integers, else
//! `embstr`/`raw` by length); INCR and friends store [`Value::Int`]; INCRBYFLOAT stores the printed
//! sum as [`Value::Str`] (never int-encoded); a write in place (APPEND, SETRANGE, SETBIT, BITFIELD,
//! BITOP's result) leaves [`Value::Raw`].
//!
//! Key lookups follow Redis's read/write split: reads (GET, MGET, GETRANGE, ...) count keyspace hits
//! and misses; writes look the key up without statistics and take the entry for writing only once
//! the command is sure to change it, so a failed write leaves the entry's version alone.
//!
//! Replication: each write has one marked point (`propagate:` comments) where the deterministic
//! form Redis propagates is known (SET ... PXAT, PEXPIREAT, SET ... KEEPTTL for INCRBYFLOAT, DEL).

pub mod bitops;
pub mod ld;

use bytes::Bytes;

use super::flags::*;
use super::{arg_i64, arity_error, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::notify::class as nc;
use crate::db::{Keyspace, Value, NO_EXPIRE};
use crate::resp::Reply;
use crate::server::client::ClientKind;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, get)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @string @fast")
        .doc("string", "1.0.0", "Get the value of a key", "O(1)"),
    CommandSpec::new("set", -3, set)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @string @slow")
        .doc("string", "1.0.0", "Set the string value of a key", "O(1)"),
    CommandSpec::new("setnx", 3, setnx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "1.0.0",
            "Set the value of a key, only if the key does not exist",
            "O(1)",
        ),
    CommandSpec::new("setex", 4, setex)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @string @slow")
        .doc(
            "string",
            "2.0.0",
            "Set the value and expiration of a key",
            "O(1)",
        ),
    CommandSpec::new("psetex", 4, psetex)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @string @slow")
        .doc(
            "string",
            "2.6.0",
            "Set the value and expiration in milliseconds of a key",
            "O(1)",
        ),
    CommandSpec::new("mget", -2, mget)
        .flags(READONLY | FAST)
        .keys(1, -1, 1)
        .acl("@read @string @fast")
        .doc(
            "string",
            "1.0.0",
            "Get the values of all the given keys",
            "O(N) where N is the number of keys to retrieve.",
        ),
    CommandSpec::new("mset", -3, mset)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 2)
        .acl("@write @string @slow")
        .doc(
            "string",
            "1.0.1",
            "Set multiple keys to multiple values",
            "O(N) where N is the number of keys to set.",
        ),
    CommandSpec::new("msetnx", -3, msetnx)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 2)
        .acl("@write @string @slow")
        .doc(
            "string",
            "1.0.1",
            "Set multiple keys to multiple values, only if none of the keys exist",
            "O(N) where N is the number of keys to set.",
        ),
    CommandSpec::new("getset", 3, getset)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "1.0.0",
            "Set the string value of a key and return its old value",
            "O(1)",
        ),
    CommandSpec::new("getdel", 2, getdel)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "6.2.0",
            "Get the value of a key and delete the key",
            "O(1)",
        ),
    CommandSpec::new("getex", -2, getex)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "6.2.0",
            "Get the value of a key and optionally set its expiration",
            "O(1)",
        ),
    CommandSpec::new("append", 3, append)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "2.0.0",
            "Append a value to a key",
            "O(1). The amortized time complexity is O(1) assuming the appended value is small and \
             the already present value is of any size, since the dynamic string library used by \
             Redis will double the free space available on every reallocation.",
        ),
    CommandSpec::new("strlen", 2, strlen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @string @fast")
        .doc(
            "string",
            "2.2.0",
            "Get the length of the value stored in a key",
            "O(1)",
        ),
    CommandSpec::new("incr", 2, incr)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "1.0.0",
            "Increment the integer value of a key by one",
            "O(1)",
        ),
    CommandSpec::new("decr", 2, decr)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "1.0.0",
            "Decrement the integer value of a key by one",
            "O(1)",
        ),
    CommandSpec::new("incrby", 3, incrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "1.0.0",
            "Increment the integer value of a key by the given amount",
            "O(1)",
        ),
    CommandSpec::new("decrby", 3, decrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "1.0.0",
            "Decrement the integer value of a key by the given number",
            "O(1)",
        ),
    CommandSpec::new("incrbyfloat", 3, incrbyfloat)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .acl("@write @string @fast")
        .doc(
            "string",
            "2.6.0",
            "Increment the float value of a key by the given amount",
            "O(1)",
        ),
    CommandSpec::new("getrange", 4, getrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @string @slow")
        .doc(
            "string",
            "2.4.0",
            "Get a substring of the string stored at a key",
            GETRANGE_COMPLEXITY,
        ),
    CommandSpec::new("substr", 4, getrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @string @slow")
        .doc(
            "string",
            "1.0.0",
            "Get a substring of the string stored at a key",
            GETRANGE_COMPLEXITY,
        ),
    CommandSpec::new("setrange", 4, setrange)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @string @slow")
        .doc(
            "string",
            "2.2.0",
            "Overwrite part of a string at key starting at the specified offset",
            "O(1), not counting the time taken to copy the new string in place. Usually, this \
             string is very small so the amortized complexity is O(1). Otherwise, complexity is \
             O(M) with M being the length of the value argument.",
        ),
    CommandSpec::new("lcs", -3, lcs)
        .flags(READONLY)
        .keys(1, 2, 1)
        .acl("@read @string @slow")
        .doc(
            "string",
            "7.0.0",
            "Find longest common substring",
            "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        ),
    CommandSpec::new("setbit", 4, bitops::setbit)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @bitmap @slow")
        .doc(
            "bitmap",
            "2.2.0",
            "Sets or clears the bit at offset in the string value stored at key",
            "O(1)",
        ),
    CommandSpec::new("getbit", 3, bitops::getbit)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @bitmap @fast")
        .doc(
            "bitmap",
            "2.2.0",
            "Returns the bit value at offset in the string value stored at key",
            "O(1)",
        ),
    CommandSpec::new("bitcount", -2, bitops::bitcount)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @bitmap @slow")
        .doc("bitmap", "2.6.0", "Count set bits in a string", "O(N)"),
    CommandSpec::new("bitpos", -3, bitops::bitpos)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@read @bitmap @slow")
        .doc(
            "bitmap",
            "2.8.7",
            "Find first bit set or clear in a string",
            "O(N)",
        ),
    CommandSpec::new("bitop", -4, bitops::bitop)
        .flags(WRITE | DENYOOM)
        .keys(2, -1, 1)
        .acl("@write @bitmap @slow")
        .doc(
            "bitmap",
            "2.6.0",
            "Perform bitwise operations between strings",
            "O(N)",
        ),
    CommandSpec::new("bitfield", -2, bitops::bitfield)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@write @bitmap @slow")
        .doc(
            "bitmap",
            "3.2.0",
            "Perform arbitrary bitfield integer operations on strings",
            "O(1) for each subcommand specified",
        ),
    CommandSpec::new("bitfield_ro", -2, bitops::bitfield_ro)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .acl("@read @bitmap @fast")
        .doc(
            "bitmap",
            "6.0.0",
            "Perform arbitrary bitfield integer operations on strings. Read-only variant of \
             BITFIELD",
            "O(1) for each subcommand specified",
        ),
];

const GETRANGE_COMPLEXITY: &str = "O(N) where N is the length of the returned string. The \
    complexity is ultimately determined by the returned length, but because creating a substring \
    from an existing string is very cheap, it can be considered O(1) for small strings.";

// ---------------------------------------------------------------------------------------------
// Helpers shared with `bitops`
// ---------------------------------------------------------------------------------------------

/// Compares an option argument with a keyword as Redis's C string comparisons do: ASCII case is
/// ignored and the argument ends at its first NUL byte.
pub(crate) fn kw(arg: &[u8], keyword: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(keyword.as_bytes())
}

/// The part of an argument a C string function sees: up to the first NUL.
pub(crate) fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// The bytes of a string value; an int-encoded value is printed into `buf`. None for other types.
pub(crate) fn str_bytes<'a>(v: &'a Value, buf: &'a mut itoa::Buffer) -> Option<&'a [u8]> {
    match v {
        Value::Int(i) => Some(buf.format(*i).as_bytes()),
        Value::Str(b) | Value::Raw(b) => Some(b),
        _ => None,
    }
}

/// Replies with a string value as a bulk string, or fails with WRONGTYPE.
fn reply_value(out: &mut Reply, v: &Value) -> CmdResult {
    match v {
        Value::Int(i) => out.bulk_int(*i),
        Value::Str(b) | Value::Raw(b) => out.bulk(b),
        _ => return Err(CmdError::WrongType),
    }
    Ok(())
}

/// GET's body, shared by GETDEL, GETSET and SET ... GET: a read lookup, a null reply for a missing
/// key, WRONGTYPE for another type. Returns whether a value was replied.
fn reply_get(ks: &mut Keyspace, out: &mut Reply, db: usize, key: &[u8]) -> Result<bool, CmdError> {
    match ks.lookup_read(db, key) {
        None => {
            out.null();
            Ok(false)
        }
        Some(e) => reply_value(out, &e.value).map(|()| true),
    }
}

/// Looks a key up for a write without statistics: `Ok(None)` when missing, WRONGTYPE when it holds
/// something other than a string.
pub(crate) fn peek_string<'a>(
    ks: &'a mut Keyspace,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a Value>, CmdError> {
    match ks.lookup_peek(db, key) {
        None => Ok(None),
        Some(e) if e.value.is_string() => Ok(Some(&e.value)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Changes an existing string in place and leaves it `raw`, as Redis does after unsharing a string
/// for an in-place write. The buffer is reused when nothing else holds it (amortised appends).
/// Callers have checked that the key holds a string; a missing key is reported as `NoSuchKey`.
/// If `f` fails (it may only fail before changing anything) the old content stays.
pub(crate) fn modify_raw<R>(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    f: impl FnOnce(&mut Vec<u8>) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    let e = ks.lookup_write(db, key).ok_or(CmdError::NoSuchKey)?;
    let mut buf: Vec<u8> = match std::mem::replace(&mut e.value, Value::Int(0)) {
        Value::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
        Value::Str(b) | Value::Raw(b) => b.into_vec(),
        other => {
            e.value = other;
            return Err(CmdError::WrongType);
        }
    };
    let r = f(&mut buf);
    e.value = Value::Raw(buf.into());
    r
}

/// Replaces the value of a key keeping its TTL, or creates the key: Redis's `dbOverwrite`/`dbAdd`
/// pair. An existing key is changed through its entry, so the key is not copied again.
fn overwrite_keep_ttl(ks: &mut Keyspace, db: usize, key: &[u8], value: Value) {
    match ks.lookup_write(db, key) {
        Some(e) => e.value = value,
        None => ks.set_keep_ttl(db, Bytes::copy_from_slice(key), value),
    }
}

/// The error for a string that cannot be allocated (possible only on the master link, or with a
/// `proto-max-bulk-len` larger than memory): refused, where Redis would abort.
fn alloc_error() -> CmdError {
    CmdError::msg("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// Grows `v` with zero bytes to at least `len`, refusing (not aborting) when memory is short.
pub(crate) fn grow_zeroed(v: &mut Vec<u8>, len: usize) -> Result<(), CmdError> {
    if v.len() < len {
        v.try_reserve(len - v.len()).map_err(|_| alloc_error())?;
        v.resize(len, 0);
    }
    Ok(())
}

/// A zero-filled buffer of `len` bytes, refusing (not aborting) when memory is short.
pub(crate) fn zeroed(len: usize) -> Result<Vec<u8>, CmdError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| alloc_error())?;
    v.resize(len, 0);
    Ok(v)
}

/// Whether size limits are waived for this client: the master link applies whatever its master
/// accepted.
pub(crate) fn must_obey(ctx: &Ctx) -> bool {
    ctx.client.kind == ClientKind::Master
}

pub(crate) fn proto_max_bulk_len(ctx: &Ctx) -> u64 {
    ctx.srv.config.read().proto_max_bulk_len
}

/// Refuses a string that would grow past `proto-max-bulk-len` (APPEND, SETRANGE).
fn check_string_length(ctx: &Ctx, size: u64, append: u64) -> CmdResult {
    if must_obey(ctx) {
        return Ok(());
    }
    match size.checked_add(append) {
        Some(total) if total <= proto_max_bulk_len(ctx) => Ok(()),
        _ => Err(CmdError::msg(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// SET and its variants
// ---------------------------------------------------------------------------------------------

/// Options of SET and GETEX (Redis's extended string arguments).
#[derive(Default, Clone, Copy)]
struct ExtOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// The expiry option and the index of its argument.
    expire: Option<(ExpireKind, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    /// Relative seconds.
    Ex,
    /// Relative milliseconds.
    Px,
    /// Absolute Unix seconds.
    ExAt,
    /// Absolute Unix milliseconds.
    PxAt,
}

impl ExpireKind {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }
}

/// Parses SET options (`for_set`, from argument 3) or GETEX options (from argument 2). Any option
/// that conflicts with one already given, or an expiry without its value, is a syntax error.
fn parse_ext_opts(args: &[Bytes], for_set: bool) -> Result<ExtOpts, CmdError> {
    let mut o = ExtOpts::default();
    let mut j = if for_set { 3 } else { 2 };
    while j < args.len() {
        let a = &args[j];
        let has_next = j + 1 < args.len();
        let expiry_given = o.expire.is_some();
        if for_set && kw(a, "NX") && !o.xx {
            o.nx = true;
        } else if for_set && kw(a, "XX") && !o.nx {
            o.xx = true;
        } else if for_set && kw(a, "GET") {
            o.get = true;
        } else if for_set && kw(a, "KEEPTTL") && !expiry_given {
            o.keepttl = true;
        } else if !for_set && kw(a, "PERSIST") && !expiry_given {
            o.persist = true;
        } else {
            let kind = if kw(a, "EX") {
                ExpireKind::Ex
            } else if kw(a, "PX") {
                ExpireKind::Px
            } else if kw(a, "EXAT") {
                ExpireKind::ExAt
            } else if kw(a, "PXAT") {
                ExpireKind::PxAt
            } else {
                return Err(CmdError::Syntax);
            };
            // The same expiry option may repeat (the last value wins); another one conflicts.
            let conflict = o.keepttl || o.persist || o.expire.is_some_and(|(k, _)| k != kind);
            if conflict || !has_next {
                return Err(CmdError::Syntax);
            }
            o.expire = Some((kind, j + 1));
            j += 1;
        }
        j += 1;
    }
    Ok(o)
}

/// Converts an expiry argument to absolute Unix milliseconds, with Redis's checks: a positive
/// integer, no overflow when scaled to milliseconds or made absolute.
fn expire_at_ms(ctx: &Ctx, arg: &[u8], kind: ExpireKind, cmd: &str) -> Result<i64, CmdError> {
    let invalid = || CmdError::Msg(format!("ERR invalid expire time in '{cmd}' command").into());
    let mut ms = arg_i64(arg)?;
    if ms <= 0 || (kind.in_seconds() && ms > i64::MAX / 1000) {
        return Err(invalid());
    }
    if kind.in_seconds() {
        ms *= 1000;
    }
    if kind.relative() {
        ms = ms.wrapping_add(ctx.core.ks.now_ms);
    }
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms)
}

/// What SET-like commands reply when they set, and when NX/XX make them skip the write.
#[derive(Clone, Copy)]
enum SetReplies {
    /// SET: `+OK` / null.
    OkNull,
    /// SETNX: `:1` / `:0`.
    OneZero,
}

/// The shared body of SET, SETNX, SETEX and PSETEX.
fn set_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    opts: ExtOpts,
    value_idx: usize,
    replies: SetReplies,
    cmd: &str,
) -> CmdResult {
    let db = ctx.db();
    let key = &args[1];
    let expire = match opts.expire {
        Some((kind, idx)) => Some(expire_at_ms(ctx, &args[idx], kind, cmd)?),
        None => None,
    };
    let ks = &mut ctx.core.ks;
    if opts.get {
        reply_get(ks, &mut ctx.out, db, key)?;
    }
    // NX and XX need to know whether the key exists, and KEEPTTL must not keep the TTL of a key
    // that has already expired: those look the key up (expiring it). A plain SET replaces all.
    let found = (opts.nx || opts.xx || opts.keepttl) && ks.exists(db, key);
    if (opts.nx && found) || (opts.xx && !found) {
        if !opts.get {
            match replies {
                SetReplies::OkNull => ctx.out.null(),
                SetReplies::OneZero => ctx.out.int(0),
            }
        }
        return Ok(());
    }
    let key = Bytes::copy_from_slice(key);
    let value = Value::string(&args[value_idx]);
    if opts.keepttl {
        ks.set_keep_ttl(db, key, value);
    } else {
        // An expiry already in the past leaves a logically expired key, deleted when next
        // touched, exactly as Redis 7.0 does.
        ks.set(db, key, value, expire.unwrap_or(NO_EXPIRE));
    }
    ks.dirty += 1;
    ctx.notify(nc::STRING, "set", &args[1]);
    if expire.is_some() {
        ctx.notify(nc::GENERIC, "expire", &args[1]);
    }
    // propagate: with an expiry, as `SET key value PXAT <expire>` (other options dropped, as in
    // Redis 7.0); otherwise the command as it came.
    if let Some(at) = expire {
        ctx.core.prop.replace_with(|| {
            let mut n = itoa::Buffer::new();
            let at = n.format(at).as_bytes();
            crate::replication::argv(&[b"SET", &args[1], &args[value_idx], b"PXAT", at])
        });
    }
    if !opts.get {
        match replies {
            SetReplies::OkNull => ctx.out.ok(),
            SetReplies::OneZero => ctx.out.int(1),
        }
    }
    Ok(())
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = parse_ext_opts(args, true)?;
    set_generic(ctx, args, opts, 2, SetReplies::OkNull, "set")
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = ExtOpts {
        nx: true,
        ..ExtOpts::default()
    };
    set_generic(ctx, args, opts, 2, SetReplies::OneZero, "setnx")
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = ExtOpts {
        expire: Some((ExpireKind::Ex, 2)),
        ..ExtOpts::default()
    };
    set_generic(ctx, args, opts, 3, SetReplies::OkNull, "setex")
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = ExtOpts {
        expire: Some((ExpireKind::Px, 2)),
        ..ExtOpts::default()
    };
    set_generic(ctx, args, opts, 3, SetReplies::OkNull, "psetex")
}

// ---------------------------------------------------------------------------------------------
// GET and its variants, MGET, MSET
// ---------------------------------------------------------------------------------------------

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    reply_get(&mut ctx.core.ks, &mut ctx.out, db, &args[1]).map(|_| ())
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = parse_ext_opts(args, false)?;
    let db = ctx.db();
    let key = &args[1];
    match ctx.core.ks.lookup_read(db, key) {
        None => {
            ctx.out.null();
            return Ok(());
        }
        Some(e) if !e.value.is_string() => return Err(CmdError::WrongType),
        Some(_) => {}
    }
    let expire = match opts.expire {
        Some((kind, idx)) => Some((kind, expire_at_ms(ctx, &args[idx], kind, "getex")?)),
        None => None,
    };
    let ks = &mut ctx.core.ks;
    if let Some(e) = ks.lookup_peek(db, key) {
        reply_value(&mut ctx.out, &e.value)?;
    }
    match expire {
        // An absolute time already past deletes the key (a replica leaves that to its master).
        Some((kind, at)) if !kind.relative() && at <= ks.now_ms && !ks.is_replica => {
            ks.delete(db, key);
            ks.dirty += 1;
            ctx.notify(nc::GENERIC, "del", key);
            // propagate: as `DEL key` (`UNLINK` with lazyfree-lazy-expire).
            let del = crate::db::del_or_unlink(ctx.core.ks.lazy_expire);
            ctx.core
                .prop
                .replace_with(|| vec![del, Bytes::copy_from_slice(key)]);
        }
        Some((_, at)) => {
            ks.set_expire(db, key, at);
            ks.dirty += 1;
            ctx.notify(nc::GENERIC, "expire", key);
            // propagate: as `PEXPIREAT key <at>`.
            ctx.core.prop.replace_with(|| {
                let mut n = itoa::Buffer::new();
                crate::replication::argv(&[b"PEXPIREAT", key, n.format(at).as_bytes()])
            });
        }
        None if opts.persist => {
            let has_ttl = ks
                .lookup_peek(db, key)
                .is_some_and(|e| e.expire != NO_EXPIRE);
            if has_ttl {
                ks.set_expire(db, key, NO_EXPIRE);
                ks.dirty += 1;
                ctx.notify(nc::GENERIC, "persist", key);
                // propagate: as `PERSIST key`.
                ctx.core
                    .prop
                    .replace_with(|| crate::replication::argv(&[b"PERSIST", key]));
            }
        }
        None => {}
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    if reply_get(ks, &mut ctx.out, db, &args[1])? && ks.delete(db, &args[1]) {
        ks.dirty += 1;
        ctx.notify(nc::GENERIC, "del", &args[1]);
        // propagate: as `DEL key` (`UNLINK` with lazyfree-lazy-user-del).
        let del = crate::db::del_or_unlink(ctx.core.ks.lazy_user_del);
        ctx.core
            .prop
            .replace_with(|| vec![del, Bytes::copy_from_slice(&args[1])]);
    }
    Ok(())
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    reply_get(ks, &mut ctx.out, db, &args[1])?;
    let value = Value::string(&args[2]);
    ks.set(db, Bytes::copy_from_slice(&args[1]), value, NO_EXPIRE);
    ks.dirty += 1;
    ctx.notify(nc::STRING, "set", &args[1]);
    // propagate: as `SET key value`.
    ctx.core
        .prop
        .replace_with(|| crate::replication::argv(&[b"SET", &args[1], &args[2]]));
    Ok(())
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    ctx.out.array(args.len() - 1);
    for key in &args[1..] {
        match ctx.core.ks.lookup_read(db, key).map(|e| &e.value) {
            Some(Value::Int(i)) => ctx.out.bulk_int(*i),
            Some(Value::Str(b) | Value::Raw(b)) => ctx.out.bulk(b),
            // A missing key and a key of another type are both null.
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(arity_error(if nx { "msetnx" } else { "mset" }));
    }
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    if nx && args[1..].iter().step_by(2).any(|k| ks.exists(db, k)) {
        ctx.out.int(0);
        return Ok(());
    }
    for pair in args[1..].chunks_exact(2) {
        let value = Value::string(&pair[1]);
        ks.set(db, Bytes::copy_from_slice(&pair[0]), value, NO_EXPIRE);
        ks.notify(nc::STRING, "set", db, &pair[0]);
    }
    ks.dirty += (args.len() as u64 - 1) / 2;
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    mset_generic(ctx, args, false)
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    mset_generic(ctx, args, true)
}

// ---------------------------------------------------------------------------------------------
// INCR family, INCRBYFLOAT
// ---------------------------------------------------------------------------------------------

fn incr_decr(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let cur = match peek_string(ks, db, key)? {
        None => 0,
        Some(Value::Int(i)) => *i,
        Some(Value::Str(b) | Value::Raw(b)) => {
            crate::util::parse_i64(b).ok_or(CmdError::NotInteger)?
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    let Some(new) = cur.checked_add(by) else {
        return Err(CmdError::msg("ERR increment or decrement would overflow"));
    };
    // Overwriting the value keeps the key's TTL, as Redis's INCR does.
    overwrite_keep_ttl(ks, db, key, Value::Int(new));
    ks.dirty += 1;
    ctx.notify(nc::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_decr(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_decr(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = arg_i64(&args[2])?;
    incr_decr(ctx, &args[1], by)
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = arg_i64(&args[2])?;
    if by == i64::MIN {
        return Err(CmdError::msg("ERR decrement would overflow"));
    }
    incr_decr(ctx, &args[1], -by)
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let ks = &mut ctx.core.ks;
    let mut buf = itoa::Buffer::new();
    let cur: &[u8] = match peek_string(ks, db, &args[1])? {
        None => b"0",
        Some(v) => str_bytes(v, &mut buf).ok_or(CmdError::WrongType)?,
    };
    let sum = match ld::incr_by(cur, &args[2]) {
        Ok(s) => Bytes::from(s),
        Err(ld::LdError::BadValue | ld::LdError::BadIncr) => return Err(CmdError::NotFloat),
        Err(ld::LdError::NanOrInf) => {
            return Err(CmdError::msg("ERR increment would produce NaN or Infinity"))
        }
    };
    ctx.out.bulk(&sum);
    // The printed sum is stored as a plain string (never int-encoded), keeping the TTL.
    overwrite_keep_ttl(ks, db, &args[1], Value::Str(sum.clone().into()));
    ks.dirty += 1;
    ks.notify(nc::STRING, "incrbyfloat", db, &args[1]);
    // propagate: as `SET key <sum> KEEPTTL`, so replicas do not redo float arithmetic.
    ctx.core
        .prop
        .replace_with(|| crate::replication::argv(&[b"SET", &args[1], &sum, b"KEEPTTL"]));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// APPEND, STRLEN, GETRANGE, SETRANGE
// ---------------------------------------------------------------------------------------------

fn append(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let (key, tail) = (&args[1], &args[2]);
    let cur_len = match peek_string(&mut ctx.core.ks, db, key)? {
        None => None,
        Some(v) => v.string_len(),
    };
    let total = match cur_len {
        None => {
            let value = Value::string(tail);
            ctx.core
                .ks
                .set(db, Bytes::copy_from_slice(key), value, NO_EXPIRE);
            tail.len()
        }
        Some(len) => {
            check_string_length(ctx, len as u64, tail.len() as u64)?;
            modify_raw(&mut ctx.core.ks, db, key, |b| {
                b.try_reserve(tail.len()).map_err(|_| alloc_error())?;
                b.extend_from_slice(tail);
                Ok(b.len())
            })?
        }
    };
    ctx.core.ks.dirty += 1;
    ctx.notify(nc::STRING, "append", key);
    ctx.out.int(total as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let n = match ctx.core.ks.lookup_read(db, &args[1]) {
        None => 0,
        Some(e) => e.value.string_len().ok_or(CmdError::WrongType)?,
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// GETRANGE and its old name SUBSTR.
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut start = arg_i64(&args[2])?;
    let mut end = arg_i64(&args[3])?;
    let db = ctx.db();
    let Some(e) = ctx.core.ks.lookup_read(db, &args[1]) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let s = str_bytes(&e.value, &mut buf).ok_or(CmdError::WrongType)?;
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = arg_i64(&args[2])?;
    if offset < 0 {
        return Err(CmdError::msg("ERR offset is out of range"));
    }
    let db = ctx.db();
    let (key, value) = (&args[1], &args[3]);
    let cur_len = match peek_string(&mut ctx.core.ks, db, key)? {
        None => None,
        Some(v) => v.string_len(),
    };
    let new_len = match cur_len {
        None => {
            // Writing nothing to a missing key creates nothing.
            if value.is_empty() {
                ctx.out.int(0);
                return Ok(());
            }
            check_string_length(ctx, offset as u64, value.len() as u64)?;
            let off = offset as usize;
            let mut b = zeroed(off.saturating_add(value.len()))?;
            b[off..].copy_from_slice(value);
            let len = b.len();
            ctx.core.ks.set(
                db,
                Bytes::copy_from_slice(key),
                Value::Raw(b.into()),
                NO_EXPIRE,
            );
            len
        }
        Some(len) => {
            if value.is_empty() {
                ctx.out.int(len as i64);
                return Ok(());
            }
            check_string_length(ctx, offset as u64, value.len() as u64)?;
            let off = offset as usize;
            modify_raw(&mut ctx.core.ks, db, key, |b| {
                let end = off.saturating_add(value.len());
                grow_zeroed(b, end)?;
                b[off..end].copy_from_slice(value);
                Ok(b.len())
            })?
        }
    };
    ctx.core.ks.dirty += 1;
    ctx.notify(nc::STRING, "setrange", key);
    ctx.out.int(new_len as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------------------------

/// The value of a string key for LCS: empty when missing, an error for other types.
fn lcs_operand(ks: &mut Keyspace, db: usize, key: &[u8]) -> Result<Bytes, CmdError> {
    match ks.lookup_read(db, key) {
        None => Ok(Bytes::new()),
        Some(e) => e.value.string_bytes().ok_or(CmdError::msg(
            "ERR The specified keys must contain string values",
        )),
    }
}

fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let a = lcs_operand(&mut ctx.core.ks, db, &args[1]);
    let b = lcs_operand(&mut ctx.core.ks, db, &args[2]);
    let (a, b) = (a?, b?);
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = j + 1 < args.len();
        if kw(opt, "IDX") {
            get_idx = true;
        } else if kw(opt, "LEN") {
            get_len = true;
        } else if kw(opt, "WITHMATCHLEN") {
            with_match_len = true;
        } else if kw(opt, "MINMATCHLEN") && more {
            min_match_len = arg_i64(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if get_len && get_idx {
        return Err(CmdError::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::msg("ERR String too long for LCS"));
    }
    let table = LcsTable::build(&a, &b, proto_max_bulk_len(ctx))?;
    let total = table.len(a.len(), b.len());
    if get_len && !get_idx {
        ctx.out.int(total as i64);
        return Ok(());
    }
    let walk = table.walk(&a, &b);
    if !get_idx {
        ctx.out.bulk(&walk.lcs);
        return Ok(());
    }
    let kept: Vec<&LcsRange> = walk
        .ranges
        .iter()
        .filter(|m| min_match_len == 0 || m.len() as i64 >= min_match_len)
        .collect();
    let out = &mut ctx.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(kept.len());
    for m in kept {
        out.array(2 + with_match_len as usize);
        out.array(2);
        out.int(m.a.0 as i64);
        out.int(m.a.1 as i64);
        out.array(2);
        out.int(m.b.0 as i64);
        out.int(m.b.1 as i64);
        if with_match_len {
            out.int(m.len() as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
    Ok(())
}

/// The dynamic-programming table of LCS lengths: cell (i, j) holds the LCS length of the first i
/// bytes of A and the first j bytes of B.
struct LcsTable {
    cells: Vec<u32>,
    width: usize,
}

/// One common run: inclusive index ranges in A and B.
struct LcsRange {
    a: (usize, usize),
    b: (usize, usize),
}

impl LcsRange {
    fn len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

/// The result of walking the table back from the end: the LCS itself and its contiguous runs, from
/// the end of the strings towards their start.
struct LcsWalk {
    lcs: Vec<u8>,
    ranges: Vec<LcsRange>,
}

impl LcsTable {
    fn build(a: &[u8], b: &[u8], max_bytes: u64) -> Result<LcsTable, CmdError> {
        let width = b.len() + 1;
        let cells = (a.len() as u64 + 1).saturating_mul(width as u64);
        let bytes = cells.saturating_mul(4);
        if bytes > max_bytes {
            return Err(CmdError::msg(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let mut v: Vec<u32> = Vec::new();
        if v.try_reserve_exact(cells as usize).is_err() {
            return Err(CmdError::msg(
                "ERR Insufficient memory, failed allocating transient memory for LCS",
            ));
        }
        v.resize(cells as usize, 0);
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                v[i * width + j] = if a[i - 1] == b[j - 1] {
                    v[(i - 1) * width + j - 1] + 1
                } else {
                    v[(i - 1) * width + j].max(v[i * width + j - 1])
                };
            }
        }
        Ok(LcsTable { cells: v, width })
    }

    fn len(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// Walks back from (|A|, |B|): on equal bytes take the byte and step diagonally, otherwise step
    /// towards the larger neighbour (B first on ties). Runs are cut where the walk leaves the
    /// diagonal or reaches the start of either string.
    fn walk(&self, a: &[u8], b: &[u8]) -> LcsWalk {
        let mut idx = self.len(a.len(), b.len()) as usize;
        let mut lcs = vec![0u8; idx];
        let mut ranges = Vec::new();
        let (mut i, mut j) = (a.len(), b.len());
        // The run being extended backwards, if any.
        let mut cur: Option<LcsRange> = None;
        while i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                lcs[idx - 1] = a[i - 1];
                match cur.as_mut() {
                    None => {
                        cur = Some(LcsRange {
                            a: (i - 1, i - 1),
                            b: (j - 1, j - 1),
                        })
                    }
                    Some(r) if r.a.0 == i && r.b.0 == j => {
                        r.a.0 -= 1;
                        r.b.0 -= 1;
                    }
                    Some(_) => emit = true,
                }
                if cur.as_ref().is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                    emit = true;
                }
                idx -= 1;
                i -= 1;
                j -= 1;
            } else {
                if self.len(i - 1, j) > self.len(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                if cur.is_some() {
                    emit = true;
                }
            }
            if emit {
                if let Some(r) = cur.take() {
                    ranges.push(r);
                }
            }
        }
        LcsWalk { lcs, ranges }
    }
}

#[cfg(test)]
mod tests;
