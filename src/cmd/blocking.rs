//! The blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP (lists) and BZPOPMIN, BZPOPMAX,
//! BZMPOP (sorted sets), and the serving of blocked clients when their keys become ready.
//!
//! A blocking command first looks at its keys in order: the first that holds data is served at
//! once, with the reply of the non-blocking form, and propagated as that form (BLPOP → `LPOP key`,
//! BLMPOP → `LPOP key <popped>`, BZMPOP → `ZPOPMIN key <popped>`, BLMOVE → `LMOVE ...`); a key of
//! another type answers WRONGTYPE. When none has data the client blocks (see `server::blocking`),
//! except inside a transaction, where it answers as if it had timed out.
//!
//! [`handle_ready`] runs when the outermost command that wrote to a key with waiters ends (after
//! EXEC as a whole): for each ready key it serves the waiters in the order they blocked, as long
//! as the key holds the type they wait for. Each serving is a command of its own for replication
//! (after the write that made the key ready), as Redis 7.0 propagates it. A waiter whose key holds
//! the other type (a list waiter on a sorted set) keeps waiting; BLMOVE to a destination of the
//! wrong type answers WRONGTYPE and pops nothing.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::notify::class as nc;
use crate::db::value::{Value, ZSet};
use crate::db::{Keyspace, NO_EXPIRE};
use crate::resp::Reply;
use crate::server::blocking::BlockOp;
use crate::server::{Core, Server};
use crate::util::eq_ic;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("blpop", -3, blpop)
        .flags(WRITE | NOSCRIPT | BLOCKING)
        .keys(1, -2, 1)
        .acl("@write @list @slow @blocking")
        .doc(
            "list",
            "2.0.0",
            "Remove and get the first element in a list, or block until one is available",
            "O(N) where N is the number of provided keys.",
        ),
    CommandSpec::new("brpop", -3, brpop)
        .flags(WRITE | NOSCRIPT | BLOCKING)
        .keys(1, -2, 1)
        .acl("@write @list @slow @blocking")
        .doc(
            "list",
            "2.0.0",
            "Remove and get the last element in a list, or block until one is available",
            "O(N) where N is the number of provided keys.",
        ),
    CommandSpec::new("blmove", 6, blmove)
        .flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING)
        .keys(1, 2, 1)
        .acl("@write @list @slow @blocking")
        .doc(
            "list",
            "6.2.0",
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "O(1)",
        ),
    CommandSpec::new("brpoplpush", 4, brpoplpush)
        .flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING)
        .keys(1, 2, 1)
        .acl("@write @list @slow @blocking")
        .doc(
            "list",
            "2.2.0",
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "O(1)",
        ),
    CommandSpec::new("blmpop", -5, blmpop)
        .flags(WRITE | BLOCKING | MOVABLE_KEYS)
        .keys(0, 0, 0)
        .acl("@write @list @slow @blocking")
        .doc(
            "list",
            "7.0.0",
            "Pop elements from a list, or block until one is available",
            "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        ),
    CommandSpec::new("bzpopmin", -3, bzpopmin)
        .flags(WRITE | NOSCRIPT | BLOCKING | FAST)
        .keys(1, -2, 1)
        .acl("@write @sortedset @fast @blocking")
        .doc(
            "sorted-set",
            "5.0.0",
            "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
            "O(log(N)) with N being the number of elements in the sorted set.",
        ),
    CommandSpec::new("bzpopmax", -3, bzpopmax)
        .flags(WRITE | NOSCRIPT | BLOCKING | FAST)
        .keys(1, -2, 1)
        .acl("@write @sortedset @fast @blocking")
        .doc(
            "sorted-set",
            "5.0.0",
            "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
            "O(log(N)) with N being the number of elements in the sorted set.",
        ),
    CommandSpec::new("bzmpop", -5, bzmpop)
        .flags(WRITE | BLOCKING | MOVABLE_KEYS)
        .keys(0, 0, 0)
        .acl("@write @sortedset @slow @blocking")
        .doc(
            "sorted-set",
            "7.0.0",
            "Remove and return members with scores in a sorted set or block until one is available",
            "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
];

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

/// Parses a timeout in seconds as Redis 7.0 does: a long double (`strtold`: hex and `inf` accepted,
/// no spaces, not NaN), turned into milliseconds rounded up. Returns None for 0 (wait forever).
/// A negative value, or one whose milliseconds do not fit a 64-bit integer, is "negative".
pub fn parse_timeout(a: &[u8]) -> Result<Option<u64>, CmdError> {
    if !super::string::ld::is_valid(a) {
        return Err(CmdError::msg("ERR timeout is not a float or out of range"));
    }
    let negative = || CmdError::msg("ERR timeout is negative");
    // The long double parsed; as a double it may overflow (1e400), which is out of range anyway.
    let secs = crate::util::parse_f64(a).ok_or_else(negative)?;
    let ms = (secs * 1000.0).ceil();
    // (NaN is outside every range; 2^63 is the first value a 64-bit integer cannot hold.)
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err(negative());
    }
    let ms = ms as u64;
    Ok(if ms == 0 { None } else { Some(ms) })
}

/// `LEFT` → true, `RIGHT` → false; anything else is a syntax error.
fn parse_left(a: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(a, "left") {
        Ok(true)
    } else if eq_ic(a, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// How a served BLMOVE spells a list end in its propagated LMOVE.
fn end_name(left: bool) -> Bytes {
    Bytes::from_static(if left { b"left" } else { b"right" })
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_keys(ctx, args, BlockOp::Pop { left: true })
}

fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_keys(ctx, args, BlockOp::Pop { left: false })
}

fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_keys(ctx, args, BlockOp::ZPop { max: false })
}

fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_keys(ctx, args, BlockOp::ZPop { max: true })
}

/// `B*POP key [key ...] timeout`.
fn pop_keys(ctx: &mut Ctx, args: &[Bytes], op: BlockOp) -> CmdResult {
    let last = args.len() - 1;
    let timeout = parse_timeout(&args[last])?;
    serve_or_block(ctx, &args[1..last], op, timeout, args)
}

fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from_left = parse_left(&args[3])?;
    let to_left = parse_left(&args[4])?;
    let timeout = parse_timeout(&args[5])?;
    let op = BlockOp::Move {
        dst: Bytes::copy_from_slice(&args[2]),
        from_left,
        to_left,
        from: Bytes::copy_from_slice(&args[3]),
        to: Bytes::copy_from_slice(&args[4]),
        rpoplpush: false,
    };
    serve_or_block(ctx, &args[1..2], op, timeout, args)
}

fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let timeout = parse_timeout(&args[3])?;
    let op = BlockOp::Move {
        dst: Bytes::copy_from_slice(&args[2]),
        from_left: false,
        to_left: true,
        from: Bytes::from_static(b"RIGHT"),
        to: Bytes::from_static(b"LEFT"),
        rpoplpush: true,
    };
    serve_or_block(ctx, &args[1..2], op, timeout, args)
}

fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let where_idx = super::mpop_where(args, 2)?;
    let left = parse_left(&args[where_idx])?;
    let count = super::mpop_count(args, where_idx)?;
    let timeout = parse_timeout(&args[1])?;
    serve_or_block(
        ctx,
        &args[3..where_idx],
        BlockOp::MPop { left, count },
        timeout,
        args,
    )
}

fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let where_idx = super::mpop_where(args, 2)?;
    let w = &args[where_idx];
    let max = if eq_ic(w, "min") {
        false
    } else if eq_ic(w, "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let count = super::mpop_count(args, where_idx)?;
    let timeout = parse_timeout(&args[1])?;
    serve_or_block(
        ctx,
        &args[3..where_idx],
        BlockOp::ZMPop { max, count },
        timeout,
        args,
    )
}

/// What a key holds, for a blocking pop.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Holds {
    Nothing,
    List,
    ZSet,
    Other,
}

/// Looks a key up as a write does (expired keys are deleted first), without statistics.
fn holds(ks: &mut Keyspace, db: usize, key: &[u8]) -> Holds {
    match ks.lookup_write_peek(db, key).map(|e| &e.value) {
        None => Holds::Nothing,
        Some(Value::List(l)) if !l.is_empty() => Holds::List,
        Some(Value::ZSet(z)) if !z.is_empty() => Holds::ZSet,
        Some(Value::List(_)) | Some(Value::ZSet(_)) => Holds::Nothing,
        Some(_) => Holds::Other,
    }
}

/// Serves the first key that holds data, or blocks the client on all of them.
fn serve_or_block(
    ctx: &mut Ctx,
    keys: &[Bytes],
    op: BlockOp,
    timeout: Option<u64>,
    args: &[Bytes],
) -> CmdResult {
    let db = ctx.db();
    let want = if op.wants_list() {
        Holds::List
    } else {
        Holds::ZSet
    };
    for key in keys {
        match holds(&mut ctx.core.ks, db, key) {
            Holds::Nothing => continue,
            h if h == want => {
                let argv = serve_key(&mut ctx.core.ks, db, key, &op, &mut ctx.out)?;
                ctx.core.prop.replace(argv);
                return Ok(());
            }
            _ => return Err(CmdError::WrongType),
        }
    }
    if super::tx::deny_blocking(ctx.client) {
        // Inside a transaction nothing blocks: the answer of the non-blocking form on no data.
        match op {
            BlockOp::Move { .. } => ctx.out.null(),
            _ => ctx.out.null_array(),
        }
        return Ok(());
    }
    // Served later, BLMOVE propagates LMOVE with the ends spelled `left`/`right` whatever the
    // client wrote (served at once, with the client's own arguments), as Redis 7.0 does.
    let op = match op {
        BlockOp::Move {
            dst,
            from_left,
            to_left,
            rpoplpush,
            ..
        } => BlockOp::Move {
            dst,
            from_left,
            to_left,
            from: end_name(from_left),
            to: end_name(to_left),
            rpoplpush,
        },
        op => op,
    };
    let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
    for k in keys {
        if !unique.iter().any(|u| u == k) {
            unique.push(Bytes::copy_from_slice(k));
        }
    }
    let core = &mut *ctx.core;
    let waiter = core
        .blocking
        .block(&mut core.ks.blocking, ctx.client, db, unique, op, timeout);
    ctx.client.blocked = Some(waiter);
    ctx.client.publish_blocked(ctx.client.last_cmd, args);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------

/// Performs `op` on `key`, which holds a non-empty value of the type `op` wants; writes the reply
/// and returns the command to propagate. Changes nothing on error (BLMOVE's destination of the
/// wrong type).
fn serve_key(
    ks: &mut Keyspace,
    db: usize,
    key: &Bytes,
    op: &BlockOp,
    out: &mut Reply,
) -> Result<Vec<Bytes>, CmdError> {
    let key_arg = || Bytes::copy_from_slice(key);
    match op {
        BlockOp::Pop { left } => {
            let popped = list_pop(ks, db, key, *left, 1);
            ks.notify_after_reply(nc::LIST, pop_event(*left), db, key);
            ks.notify_del_if_gone(db, key);
            out.array(2);
            out.bulk(key);
            out.bulk(popped.first().map_or(&b""[..], |b| &b[..]));
            let name: &'static [u8] = if *left { b"LPOP" } else { b"RPOP" };
            Ok(vec![Bytes::from_static(name), key_arg()])
        }
        BlockOp::MPop { left, count } => {
            let popped = list_pop(ks, db, key, *left, *count);
            ks.notify_after_reply(nc::LIST, pop_event(*left), db, key);
            ks.notify_del_if_gone(db, key);
            out.array(2);
            out.bulk(key);
            out.array(popped.len());
            for el in &popped {
                out.bulk(el);
            }
            let name: &'static [u8] = if *left { b"LPOP" } else { b"RPOP" };
            Ok(vec![
                Bytes::from_static(name),
                key_arg(),
                Bytes::from(popped.len().to_string()),
            ])
        }
        BlockOp::Move {
            dst,
            from_left,
            to_left,
            from,
            to,
            rpoplpush,
        } => {
            match ks.lookup_write_peek(db, dst).map(|e| &e.value) {
                None | Some(Value::List(_)) => {}
                Some(_) => return Err(CmdError::WrongType),
            }
            let el = list_move(ks, db, key, dst, *from_left, *to_left);
            if el.is_some() {
                let push = if *to_left { "lpush" } else { "rpush" };
                ks.notify(nc::LIST, push, db, dst);
                ks.notify_after_reply(nc::LIST, pop_event(*from_left), db, key);
                ks.notify_del_if_gone(db, key);
            }
            match &el {
                Some(el) => out.bulk(el),
                None => out.null(),
            }
            Ok(if *rpoplpush {
                vec![Bytes::from_static(b"RPOPLPUSH"), key_arg(), dst.clone()]
            } else {
                vec![
                    Bytes::from_static(b"LMOVE"),
                    key_arg(),
                    dst.clone(),
                    from.clone(),
                    to.clone(),
                ]
            })
        }
        BlockOp::ZPop { max } => {
            let popped = zset_pop(ks, db, key, *max, 1);
            notify_zpop(ks, db, key, *max);
            out.array(3);
            out.bulk(key);
            match popped.first() {
                Some((m, s)) => {
                    out.bulk(m);
                    out.double(*s);
                }
                None => {
                    out.null();
                    out.null();
                }
            }
            let name: &'static [u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            Ok(vec![Bytes::from_static(name), key_arg()])
        }
        BlockOp::ZMPop { max, count } => {
            let popped = zset_pop(ks, db, key, *max, *count);
            notify_zpop(ks, db, key, *max);
            out.array(2);
            out.bulk(key);
            out.array(popped.len());
            for (m, s) in &popped {
                out.array(2);
                out.bulk(m);
                out.double(*s);
            }
            let name: &'static [u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            Ok(vec![
                Bytes::from_static(name),
                key_arg(),
                Bytes::from(popped.len().to_string()),
            ])
        }
        // WAIT registers no key, so it is never served here.
        BlockOp::Wait { .. } | BlockOp::Shutdown => {
            Err(CmdError::msg("ERR WAIT is not served by keys"))
        }
    }
}

/// The keyspace event of a list pop.
fn pop_event(left: bool) -> &'static str {
    if left {
        "lpop"
    } else {
        "rpop"
    }
}

/// The keyspace events of a sorted-set pop: `zpopmin`/`zpopmax`, then `del` if it emptied the key.
fn notify_zpop(ks: &mut Keyspace, db: usize, key: &[u8], max: bool) {
    ks.notify(nc::ZSET, if max { "zpopmax" } else { "zpopmin" }, db, key);
    ks.notify_del_if_gone_after_reply(db, key);
}

/// Pops up to `count` elements from one end of the list at `key` (deleted once empty), in pop
/// order; counts them as changes.
fn list_pop(ks: &mut Keyspace, db: usize, key: &[u8], left: bool, count: usize) -> Vec<Bytes> {
    let Some(e) = ks.lookup_write(db, key) else {
        return Vec::new();
    };
    let Value::List(l) = &mut e.value else {
        return Vec::new();
    };
    let l = Arc::make_mut(l);
    let n = count.min(l.len());
    let popped: Vec<Bytes> = if left {
        l.drain(..n).collect()
    } else {
        let mut v: Vec<Bytes> = l.drain(l.len() - n..).collect();
        v.reverse();
        v
    };
    if l.is_empty() {
        ks.remove_entry(db, key);
    }
    ks.dirty += popped.len() as u64;
    popped
}

/// Pushes one element onto the list at `key`, creating it when missing.
fn list_push(ks: &mut Keyspace, db: usize, key: &[u8], el: Bytes, left: bool) {
    if let Some(e) = ks.lookup_write(db, key) {
        if let Value::List(l) = &mut e.value {
            let l = Arc::make_mut(l);
            if left {
                l.push_front(el);
            } else {
                l.push_back(el);
            }
            return;
        }
    }
    ks.set(
        db,
        Bytes::copy_from_slice(key),
        Value::List(Arc::new(VecDeque::from([el]))),
        NO_EXPIRE,
    );
}

/// LMOVE on lists the caller checked: pops from `src`, pushes onto `dst` (a rotation in place
/// when they are the same key, so the key keeps its TTL).
fn list_move(
    ks: &mut Keyspace,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Option<Bytes> {
    if src == dst {
        let e = ks.lookup_write(db, src)?;
        let Value::List(l) = &mut e.value else {
            return None;
        };
        let l = Arc::make_mut(l);
        let el = if from_left {
            l.pop_front()
        } else {
            l.pop_back()
        }?;
        if to_left {
            l.push_front(el.clone());
        } else {
            l.push_back(el.clone());
        }
        ks.dirty += 1;
        return Some(el);
    }
    let el = list_pop(ks, db, src, from_left, 1).pop()?;
    list_push(ks, db, dst, el.clone(), to_left);
    Some(el)
}

/// Pops up to `count` members from the low (or high, `max`) end of the sorted set at `key`
/// (deleted once empty); counts them as changes.
fn zset_pop(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    max: bool,
    count: usize,
) -> Vec<(Bytes, f64)> {
    let mut popped = Vec::new();
    let Some(e) = ks.lookup_write(db, key) else {
        return popped;
    };
    let Value::ZSet(z) = &mut e.value else {
        return popped;
    };
    let z: &mut ZSet = Arc::make_mut(z);
    for _ in 0..count {
        let item = if max { z.pop_last() } else { z.pop_first() };
        let Some((m, s)) = item else { break };
        popped.push((m, s));
    }
    if z.is_empty() {
        ks.remove_entry(db, key);
    }
    ks.dirty += popped.len() as u64;
    popped
}

/// Serves the clients blocked on keys made ready by the command that just ended (the outermost
/// one: EXEC counts as one). Called by dispatch under the same lock hold, after that command was
/// propagated; each served pop is propagated on its own right after, as Redis 7.0 does. Keys that
/// a serving makes ready (BLMOVE's destination) are served in the same loop.
pub fn handle_ready(srv: &Server, core: &mut Core, from_master: bool) {
    loop {
        let ready = core.ks.blocking.take_ready();
        if ready.is_empty() {
            return;
        }
        for (db, key) in ready {
            serve_waiters(srv, core, db, &key, from_master);
        }
    }
}

/// Serves the waiters of one ready key, oldest first, while it holds what they wait for.
fn serve_waiters(srv: &Server, core: &mut Core, db: usize, key: &Bytes, from_master: bool) {
    loop {
        let Core {
            ks,
            blocking,
            prop,
            repl,
            stats,
            ..
        } = core;
        // Expired keys met here become DELs in the stream, as for any command.
        ks.tick();
        prop.enter(ks.dirty);
        let h = holds(ks, db, key);
        let waiter = match h {
            Holds::List | Holds::ZSet => ks.blocking.waiters(db, key).and_then(|q| {
                q.iter().copied().find(|id| {
                    blocking
                        .get(*id)
                        .is_some_and(|b| b.op.wants_list() == (h == Holds::List))
                })
            }),
            _ => None,
        };
        let Some(id) = waiter else {
            prop.prevent();
            if prop.leave(ks, db, &[], from_master) {
                prop.flush(repl);
            }
            return;
        };
        let Some(b) = blocking.take(&mut ks.blocking, id) else {
            return;
        };
        let mut buf = BytesMut::new();
        let mut out = Reply::new(&mut buf, b.proto);
        let dirty_before = ks.dirty;
        let argv = match serve_key(ks, db, key, &b.op, &mut out) {
            Ok(argv) => {
                // Redis 7.0 counts no change for a served BLPOP/BRPOP/BLMOVE/BRPOPLPUSH (it does
                // for the others), so `rdb_changes_since_last_save` agrees; it is propagated all
                // the same.
                if matches!(b.op, BlockOp::Pop { .. } | BlockOp::Move { .. }) {
                    ks.dirty = dirty_before;
                }
                prop.force();
                argv
            }
            Err(e) => {
                let text = e.to_string();
                stats.count_error(text.split(' ').next().unwrap_or("ERR"));
                out.error(&text);
                prop.prevent();
                Vec::new()
            }
        };
        if prop.leave(ks, db, &argv, from_master) {
            prop.flush(repl);
        }
        // Its keyspace events (`lpop`, `del`, ...) are published now, after the serving write's.
        crate::server::notify::deliver_detached(srv, ks);
        b.wake(buf.freeze());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::dispatch;
    use crate::server::client::{Client, ClientHandle};

    fn client(id: u64) -> Client {
        let h = ClientHandle::new(id, format!("127.0.0.1:{id}"), "127.0.0.1:6379".into(), -1);
        Client::new(h, true)
    }

    fn run(srv: &Server, c: &mut Client, line: &str) -> String {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut core = srv.core.lock();
        let mut buf = BytesMut::new();
        let proto = c.proto;
        let mut ctx = Ctx {
            core: &mut core,
            client: c,
            srv,
            out: Reply::new(&mut buf, proto),
        };
        dispatch(&mut ctx, &args);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The replication stream so far, one command per line, arguments space-separated.
    fn stream(srv: &Server) -> Vec<String> {
        let mut core = srv.core.lock();
        let b = core.repl.backlog.as_mut().expect("backlog");
        let mut out = Vec::new();
        b.read(b.start_offset(), usize::MAX, &mut out);
        let bytes = out.concat();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut lines = Vec::new();
        let mut parts = text.split("\r\n").filter(|p| !p.is_empty()).peekable();
        while let Some(head) = parts.next() {
            let n: usize = head.trim_start_matches('*').parse().expect("array header");
            let mut words = Vec::new();
            for _ in 0..n {
                parts.next();
                words.push(parts.next().unwrap_or_default().to_string());
            }
            lines.push(words.join(" "));
        }
        lines
    }

    #[test]
    fn served_pops_follow_the_write_that_served_them_in_the_stream() {
        let srv = Server::new(crate::config::Config::default(), None);
        {
            let mut core = srv.core.lock();
            core.repl.ensure_backlog(1 << 20);
            core.set_propagation_active(true);
        }
        let (mut a, mut b, mut p) = (client(1), client(2), client(3));
        assert_eq!(run(&srv, &mut a, "BLPOP l 0"), "");
        assert_eq!(run(&srv, &mut b, "BLMPOP 0 1 l RIGHT COUNT 5"), "");
        assert!(a.blocked.is_some() && b.blocked.is_some());
        assert_eq!(srv.core.lock().blocking.len(), 2);
        assert_eq!(run(&srv, &mut p, "RPUSH l x y z"), ":3\r\n");
        let ra = a.blocked.as_mut().and_then(|w| w.try_reply());
        let rb = b.blocked.as_mut().and_then(|w| w.try_reply());
        assert_eq!(ra.as_deref(), Some(&b"*2\r\n$1\r\nl\r\n$1\r\nx\r\n"[..]));
        assert_eq!(
            rb.as_deref(),
            Some(&b"*2\r\n$1\r\nl\r\n*2\r\n$1\r\nz\r\n$1\r\ny\r\n"[..])
        );
        assert!(srv.core.lock().blocking.is_empty());
        // A transaction: the waiter is served after EXEC, with the state EXEC left.
        let mut c = client(4);
        assert_eq!(run(&srv, &mut c, "BZPOPMAX z 0"), "");
        for line in ["MULTI", "ZADD z 1 a 2 b", "ZADD z 3 c", "EXEC"] {
            run(&srv, &mut p, line);
        }
        let rc = c.blocked.as_mut().and_then(|w| w.try_reply());
        assert_eq!(
            rc.as_deref(),
            Some(&b"*3\r\n$1\r\nz\r\n$1\r\nc\r\n$1\r\n3\r\n"[..])
        );
        // A served BLMOVE spells the ends in lowercase; served at once, as the client wrote them.
        let mut e = client(5);
        assert_eq!(run(&srv, &mut e, "BLMOVE src dst LEFT RiGhT 0"), "");
        run(&srv, &mut p, "RPUSH src v w");
        run(&srv, &mut p, "BLMOVE src dst LEFT RiGhT 0");
        // Served at once: propagated as the non-blocking form.
        run(&srv, &mut p, "RPUSH m 1 2");
        run(&srv, &mut p, "BRPOPLPUSH m m2 0");
        run(&srv, &mut p, "BZMPOP 0 1 z MIN COUNT 9");
        let mut got = stream(&srv);
        // (EXEC's own propagation is the transaction code's business: only its place matters here.)
        got.dedup_by(|a, b| a == "EXEC" && b == "EXEC");
        assert_eq!(
            got,
            [
                "SELECT 0",
                "RPUSH l x y z",
                "LPOP l",
                "RPOP l 2",
                "MULTI",
                "ZADD z 1 a 2 b",
                "ZADD z 3 c",
                "EXEC",
                "ZPOPMAX z",
                "RPUSH src v w",
                "LMOVE src dst left right",
                "LMOVE src dst LEFT RiGhT",
                "RPUSH m 1 2",
                "RPOPLPUSH m m2",
                "ZPOPMIN z 2",
            ]
        );
    }

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout(b"0"), Ok(None));
        assert_eq!(parse_timeout(b"1.5"), Ok(Some(1500)));
        assert_eq!(parse_timeout(b"0.0001"), Ok(Some(1)));
        assert_eq!(parse_timeout(b"-0.0001"), Ok(None));
        assert_eq!(parse_timeout(b"0x10"), Ok(Some(16000)));
        let neg = Err(CmdError::msg("ERR timeout is negative"));
        assert_eq!(parse_timeout(b"-1"), neg);
        assert_eq!(parse_timeout(b"inf"), neg);
        assert_eq!(parse_timeout(b"1e400"), neg);
        assert_eq!(parse_timeout(b"1e18"), neg);
        let bad = Err(CmdError::msg("ERR timeout is not a float or out of range"));
        assert_eq!(parse_timeout(b"abc"), bad);
        assert_eq!(parse_timeout(b"nan"), bad);
        assert_eq!(parse_timeout(b" 1"), bad);
        assert_eq!(parse_timeout(b""), bad);
    }
}
