//! The pub/sub registry: which clients listen on which channels and patterns, and the per-client
//! feed that carries published messages to their connections.
//!
//! A subscriber's connection task owns the receiving end of an unbounded channel; PUBLISH only
//! pushes onto it, so a slow subscriber never blocks the publisher. (Unbounded for now: Redis's
//! `client-output-buffer-limit pubsub` would disconnect such a subscriber instead.)
//!
//! Lock order: taken under the core lock (commands) or alone (connection close), never the reverse.

use bytes::Bytes;
use indexmap::{IndexMap, IndexSet};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// One published message on its way to a subscriber; the connection encodes it for the client's
/// protocol (RESP2 array or RESP3 push).
#[derive(Debug, Clone)]
pub struct PubMsg {
    /// The pattern that matched (`pmessage`), or None for a channel subscription (`message`).
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub payload: Bytes,
}

impl PubMsg {
    /// Appends the message as the client will read it.
    pub fn encode(&self, out: &mut crate::resp::Reply) {
        match &self.pattern {
            Some(p) => {
                out.push(4);
                out.bulk(b"pmessage");
                out.bulk(p);
            }
            None => {
                out.push(3);
                out.bulk(b"message");
            }
        }
        out.bulk(&self.channel);
        out.bulk(&self.payload);
    }
}

pub type Feed = UnboundedSender<PubMsg>;

/// The subscriptions of one client (connection-local), in the order they were made.
#[derive(Default)]
pub struct ClientSubs {
    pub channels: IndexSet<Bytes>,
    pub patterns: IndexSet<Bytes>,
    /// The sending end of this client's feed, created at its first subscription.
    pub tx: Option<Feed>,
    /// The receiving end, for the connection to pick up after the batch.
    pub rx: Option<UnboundedReceiver<PubMsg>>,
}

impl ClientSubs {
    /// Subscriptions of both kinds (the count SUBSCRIBE and friends reply with).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// This client's feed, created on first use.
    pub fn feed(&mut self) -> Feed {
        if let Some(tx) = &self.tx {
            return tx.clone();
        }
        let (tx, rx) = unbounded_channel();
        self.tx = Some(tx.clone());
        self.rx = Some(rx);
        tx
    }
}

/// Subscribers by channel and by pattern: client id → its feed.
#[derive(Default)]
pub struct Registry {
    pub channels: IndexMap<Bytes, IndexMap<u64, Feed>>,
    pub patterns: IndexMap<Bytes, IndexMap<u64, Feed>>,
}

fn add(map: &mut IndexMap<Bytes, IndexMap<u64, Feed>>, name: &Bytes, id: u64, tx: Feed) {
    map.entry(name.clone()).or_default().insert(id, tx);
}

fn remove(map: &mut IndexMap<Bytes, IndexMap<u64, Feed>>, name: &[u8], id: u64) {
    if let Some(subs) = map.get_mut(name) {
        subs.shift_remove(&id);
        if subs.is_empty() {
            map.shift_remove(name);
        }
    }
}

impl Registry {
    pub fn subscribe(&mut self, channel: &Bytes, id: u64, tx: Feed) {
        add(&mut self.channels, channel, id, tx);
    }

    pub fn unsubscribe(&mut self, channel: &[u8], id: u64) {
        remove(&mut self.channels, channel, id);
    }

    pub fn psubscribe(&mut self, pattern: &Bytes, id: u64, tx: Feed) {
        add(&mut self.patterns, pattern, id, tx);
    }

    pub fn punsubscribe(&mut self, pattern: &[u8], id: u64) {
        remove(&mut self.patterns, pattern, id);
    }

    /// Forgets every subscription of a client (connection closed, RESET).
    pub fn remove_client(&mut self, id: u64, subs: &ClientSubs) {
        for c in &subs.channels {
            self.unsubscribe(c, id);
        }
        for p in &subs.patterns {
            self.punsubscribe(p, id);
        }
    }

    /// Delivers a message to every channel and pattern subscriber except `own` (whose copies are
    /// returned, in order, for the caller to write into its own reply stream, ahead of the PUBLISH
    /// reply as Redis does). Returns the number of receivers, counting a client once per matching
    /// subscription.
    pub fn publish(
        &self,
        channel: &[u8],
        payload: &[u8],
        own: u64,
        own_copies: &mut Vec<PubMsg>,
    ) -> usize {
        let mut receivers = 0;
        let channel_b = Bytes::copy_from_slice(channel);
        let payload_b = Bytes::copy_from_slice(payload);
        let mut send = |id: u64, tx: &Feed, msg: PubMsg| {
            if id == own {
                own_copies.push(msg);
            } else {
                // A closed feed means the client is going away; it unregisters itself.
                let _ = tx.send(msg);
            }
        };
        if let Some(subs) = self.channels.get(channel) {
            for (&id, tx) in subs {
                receivers += 1;
                send(
                    id,
                    tx,
                    PubMsg {
                        pattern: None,
                        channel: channel_b.clone(),
                        payload: payload_b.clone(),
                    },
                );
            }
        }
        for (pat, subs) in &self.patterns {
            if !crate::util::glob_match(pat, channel, false) {
                continue;
            }
            for (&id, tx) in subs {
                receivers += 1;
                send(
                    id,
                    tx,
                    PubMsg {
                        pattern: Some(pat.clone()),
                        channel: channel_b.clone(),
                        payload: payload_b.clone(),
                    },
                );
            }
        }
        receivers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_counts_every_matching_subscription_and_cleans_up() {
        let mut reg = Registry::default();
        let mut subs = ClientSubs::default();
        let tx = subs.feed();
        let ch = Bytes::from_static(b"news.1");
        let pat = Bytes::from_static(b"news.*");
        subs.channels.insert(ch.clone());
        subs.patterns.insert(pat.clone());
        reg.subscribe(&ch, 7, tx.clone());
        reg.psubscribe(&pat, 7, tx);
        let mut own = Vec::new();
        assert_eq!(reg.publish(b"news.1", b"hi", 1, &mut own), 2);
        assert_eq!(reg.publish(b"news.2", b"hi", 1, &mut own), 1);
        assert_eq!(reg.publish(b"other", b"hi", 1, &mut own), 0);
        assert!(own.is_empty());
        let rx = subs.rx.as_mut().unwrap();
        let m = rx.try_recv().unwrap();
        assert!(m.pattern.is_none());
        let m = rx.try_recv().unwrap();
        assert_eq!(m.pattern.as_deref(), Some(&b"news.*"[..]));
        assert_eq!(reg.publish(b"news.1", b"x", 7, &mut own), 2);
        assert_eq!(own.len(), 2);
        reg.remove_client(7, &subs);
        assert!(reg.channels.is_empty() && reg.patterns.is_empty());
    }
}
