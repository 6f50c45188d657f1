//! Keyspace notifications (`notify-keyspace-events`): the event queue the command path fills.
//!
//! # Design
//! An event is raised where a key changes — in a command handler (`lpush`, `expire`, ...) or inside
//! the keyspace itself (`expired` by lazy or active expiry, `new` when a key is created, `keymiss`
//! on a read miss, and later `evicted`). The keyspace has no access to the server, so every event
//! is only queued here, cheaply, and published right after the command by dispatch's `call` (and
//! after each active-expiry cycle by the cron), through the pub/sub registry
//! (`server::notify::deliver`). Delivery goes in raising order, so subscribers see exactly the
//! order Redis publishes in.
//!
//! When notifications are off (the default), raising an event costs one branch: [`Notifier::flags`]
//! is 0 unless a class *and* one of `K`/`E` are configured, so `flags & class` is false and nothing
//! is copied or allocated.
//!
//! A client subscribed to its own events (RESP3) receives them within its own reply stream, where
//! Redis would have written them: an event raised by a handler through [`crate::cmd::Ctx::notify`]
//! remembers how long the reply buffer was at that point; one raised inside the keyspace inherits
//! the position of the event before it (or the start of the command); one raised with
//! `notify_after_reply` goes after the command's whole reply, where Redis raises it after replying.
//!
//! The class bits are Redis's (see [`crate::config::notify`], re-exported here as [`class`]).

use bytes::Bytes;

pub use crate::config::notify as class;

/// One raised event, waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub db: usize,
    /// The event name (`set`, `lpush`, `expired`, ...): the `__keyevent@<db>__:` channel suffix and
    /// the `__keyspace@<db>__:` message.
    pub event: &'static str,
    pub key: Bytes,
    /// Length of the raising client's reply buffer when the handler raised it; None when raised
    /// inside the keyspace (then the previous event's position applies).
    pub reply_pos: Option<usize>,
}

/// The configured classes and the events raised since the last delivery.
#[derive(Debug, Default)]
pub struct Notifier {
    /// The configured flags when at least one of `K`/`E` is set, else 0: the one word every event
    /// site tests.
    pub flags: u32,
    /// Events raised and not yet published.
    pub pending: Vec<Event>,
}

impl Notifier {
    /// Applies a `notify-keyspace-events` value (start-up, CONFIG SET).
    pub fn set_flags(&mut self, configured: u32) {
        self.flags = if configured & (class::KEYSPACE | class::KEYEVENT) != 0 {
            configured
        } else {
            0
        };
        if self.flags == 0 {
            self.pending.clear();
        }
    }

    /// Whether events of `class` are published at all (for callers that would do work to raise one).
    #[inline]
    pub fn wants(&self, class: u32) -> bool {
        self.flags & class != 0
    }

    /// Queues an event of `class` when that class is enabled.
    #[inline]
    pub fn raise(&mut self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        if self.flags & class != 0 {
            self.push(event, db, key, None);
        }
    }

    /// As [`Notifier::raise`], remembering the raising client's reply position.
    #[inline]
    pub fn raise_at(&mut self, class: u32, event: &'static str, db: usize, key: &[u8], pos: usize) {
        if self.flags & class != 0 {
            self.push(event, db, key, Some(pos));
        }
    }

    #[cold]
    #[inline(never)]
    fn push(&mut self, event: &'static str, db: usize, key: &[u8], reply_pos: Option<usize>) {
        self.pending.push(Event {
            db,
            event,
            key: Bytes::copy_from_slice(key),
            reply_pos,
        });
    }

    /// Whether events wait for delivery (the one check dispatch makes per command).
    #[inline]
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Takes the waiting events, in raising order.
    pub fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
    }
}

/// The keyspace channel of a key: `__keyspace@<db>__:<key>`.
pub fn keyspace_channel(db: usize, key: &[u8]) -> Vec<u8> {
    channel(b"__keyspace@", db, key)
}

/// The keyevent channel of an event: `__keyevent@<db>__:<event>`.
pub fn keyevent_channel(db: usize, event: &str) -> Vec<u8> {
    channel(b"__keyevent@", db, event.as_bytes())
}

fn channel(prefix: &[u8], db: usize, tail: &[u8]) -> Vec<u8> {
    let mut b = itoa::Buffer::new();
    let db = b.format(db).as_bytes();
    let mut c = Vec::with_capacity(prefix.len() + db.len() + 3 + tail.len());
    c.extend_from_slice(prefix);
    c.extend_from_slice(db);
    c.extend_from_slice(b"__:");
    c.extend_from_slice(tail);
    c
}

/// The reply position of an event raised after the command's reply was written: delivered to the
/// raising client after its reply.
pub const AFTER_REPLY: usize = usize::MAX;

impl super::Keyspace {
    /// Raises an event that Redis raises after writing the command's reply (RPUSH, EXPIRE, ...):
    /// a client subscribed to its own events reads it after the reply. Elsewhere as
    /// [`super::Keyspace::notify`].
    #[inline]
    pub fn notify_after_reply(&mut self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        self.notify.raise_at(class, event, db, key, AFTER_REPLY);
    }

    /// Raises `del` for `key` if it is no longer stored: called after a command's own event when
    /// its removal may have emptied a collection (which the keyspace then deleted), as Redis raises
    /// `lpop` then `del`.
    #[inline]
    pub fn notify_del_if_gone(&mut self, db: usize, key: &[u8]) {
        if self.notify.flags & class::GENERIC != 0 && self.dbs[db].table.get(key).is_none() {
            self.notify.push("del", db, key, None);
        }
    }

    /// [`super::Keyspace::lookup_read_notouch`] without the `keymiss` event (Redis's
    /// `LOOKUP_NONOTIFY`, used by OBJECT); expiry and statistics as usual.
    pub fn lookup_read_nonotify(&mut self, db: usize, key: &[u8]) -> Option<&super::Entry> {
        let saved = self.notify.flags;
        self.notify.flags &= !class::KEY_MISS;
        let found = self.lookup_read_notouch(db, key).is_some();
        self.notify.flags = saved;
        if found {
            self.dbs[db].table.get(key)
        } else {
            None
        }
    }

    /// As [`super::Keyspace::notify_del_if_gone`], for a `del` Redis raises after the reply.
    #[inline]
    pub fn notify_del_if_gone_after_reply(&mut self, db: usize, key: &[u8]) {
        if self.notify.flags & class::GENERIC != 0 && self.dbs[db].table.get(key).is_none() {
            self.notify.push("del", db, key, Some(AFTER_REPLY));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_queued_without_k_or_e() {
        let mut n = Notifier::default();
        n.set_flags(class::ALL);
        n.raise(class::STRING, "set", 0, b"k");
        assert!(!n.has_pending());
        n.set_flags(class::ALL | class::KEYEVENT);
        n.raise(class::STRING, "set", 0, b"k");
        n.raise(class::NEW, "new", 0, b"k");
        n.raise_at(class::LIST, "lpush", 3, b"l", 7);
        let ev = n.take();
        assert_eq!(ev.len(), 2);
        assert_eq!((ev[0].event, ev[0].reply_pos), ("set", None));
        assert_eq!((ev[1].db, ev[1].reply_pos), (3, Some(7)));
        n.raise(class::STRING, "set", 0, b"k");
        n.set_flags(0);
        assert!(!n.has_pending());
    }

    #[test]
    fn channel_names() {
        assert_eq!(keyspace_channel(0, b"foo"), b"__keyspace@0__:foo");
        assert_eq!(keyevent_channel(12, "del"), b"__keyevent@12__:del");
    }

    #[test]
    fn the_keyspace_raises_new_expired_keymiss_and_del_if_gone() {
        use crate::db::{Keyspace, Value, NO_EXPIRE};
        let mut ks = Keyspace::new(2);
        ks.notify
            .set_flags(class::ALL | class::NEW | class::KEY_MISS | class::KEYEVENT);
        ks.set(1, Bytes::from_static(b"a"), Value::Int(1), NO_EXPIRE);
        ks.set(1, Bytes::from_static(b"a"), Value::Int(2), NO_EXPIRE);
        ks.set(0, Bytes::from_static(b"x"), Value::Int(1), ks.now_ms - 1);
        assert!(ks.lookup_read(0, b"x").is_none());
        assert!(ks.lookup_read_nonotify(0, b"nosuch").is_none());
        ks.notify_del_if_gone(1, b"a");
        ks.notify_del_if_gone(1, b"gone");
        ks.notify_after_reply(class::LIST, "lpush", 1, b"l");
        let got: Vec<(usize, &str, &[u8], Option<usize>)> = ks
            .notify
            .pending
            .iter()
            .map(|e| (e.db, e.event, &e.key[..], e.reply_pos))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "new", &b"a"[..], None),
                (0, "new", b"x", None),
                (0, "expired", b"x", None),
                (0, "keymiss", b"x", None),
                (1, "del", b"gone", None),
                (1, "lpush", b"l", Some(AFTER_REPLY)),
            ]
        );
    }
}
