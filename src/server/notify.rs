//! Delivery of keyspace notifications: the events a command (or an active-expiry cycle) queued in
//! the keyspace ([`crate::db::notify`]) are published, in order, to `__keyspace@<db>__:<key>`
//! (message: the event) and `__keyevent@<db>__:<event>` (message: the key), with PUBLISH's
//! semantics: channel and pattern subscribers, RESP2 arrays or RESP3 pushes.
//!
//! Called with the core lock held (the pub/sub lock is taken after it, as the lock order says).

use crate::cmd::Ctx;
use crate::db::notify::{class, keyevent_channel, keyspace_channel, Event};
use crate::db::Keyspace;
use crate::resp::Reply;

use super::pubsub::{PubMsg, Registry};
use super::Server;

/// Publishes one event on the channels `flags` enables. Copies meant for the client `own` (the one
/// that ran the command) are appended to `own_copies` instead of its feed.
fn publish_event(reg: &Registry, flags: u32, ev: &Event, own: u64, own_copies: &mut Vec<PubMsg>) {
    if flags & class::KEYSPACE != 0 {
        let ch = keyspace_channel(ev.db, &ev.key);
        reg.publish(&ch, ev.event.as_bytes(), own, own_copies);
    }
    if flags & class::KEYEVENT != 0 {
        let ch = keyevent_channel(ev.db, ev.event);
        reg.publish(&ch, &ev.key, own, own_copies);
    }
}

/// Publishes the events the command that just ran raised. `mark` is where the command's reply
/// began in the client's output buffer: a client subscribed to its own events gets them in its
/// reply stream where each was raised (RESP3 pushes can interleave with replies).
pub fn deliver_after_command(ctx: &mut Ctx, mark: usize) {
    let events = ctx.core.ks.notify.take();
    let flags = ctx.core.ks.notify.flags;
    let own_id = ctx.client.id;
    let mut own: Vec<(usize, PubMsg)> = Vec::new();
    {
        let reg = ctx.srv.pubsub.lock();
        let len = ctx.out.buf.len();
        let mut pos = mark.min(len);
        let mut copies = Vec::new();
        for ev in &events {
            if let Some(p) = ev.reply_pos {
                pos = p.clamp(pos, len);
            }
            publish_event(&reg, flags, ev, own_id, &mut copies);
            own.extend(copies.drain(..).map(|m| (pos, m)));
        }
    }
    if own.is_empty() {
        return;
    }
    let proto = ctx.client.proto;
    if ctx.client.replies_suppressed() {
        // CLIENT REPLY OFF/SKIP drops the reply but not pushes (as for PUBLISH).
        let mut out = Reply::new(&mut ctx.client.subs.kept, proto);
        for (_, m) in &own {
            m.encode(&mut out);
        }
        return;
    }
    // Splice the pushes in at their positions (non-decreasing, at or after `mark`).
    let start = own[0].0;
    let buf = &mut *ctx.out.buf;
    let tail = buf.split_off(start);
    let mut done = start;
    for (pos, m) in &own {
        buf.extend_from_slice(&tail[done - start..pos - start]);
        done = *pos;
        m.encode(&mut Reply::new(buf, proto));
    }
    buf.extend_from_slice(&tail[done - start..]);
}

/// Publishes events raised outside any client's command (active expiry in the cron, and whatever
/// else runs on the keyspace without a client). Call with the core lock held.
pub fn deliver_detached(srv: &Server, ks: &mut Keyspace) {
    if !ks.notify.has_pending() {
        return;
    }
    let events = ks.notify.take();
    let flags = ks.notify.flags;
    let reg = srv.pubsub.lock();
    // Client ids start at 1: no subscriber is "own" here.
    let mut none = Vec::new();
    for ev in &events {
        publish_event(&reg, flags, ev, 0, &mut none);
    }
}
