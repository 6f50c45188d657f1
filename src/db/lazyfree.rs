//! Freeing in the background, as Redis's lazy free: UNLINK, FLUSHDB/FLUSHALL ASYNC and the
//! `lazyfree-lazy-user-del`, `-user-flush` and `-expire` options hand what they remove to one
//! thread that drops it, so a large value or a whole database does not stall the server while its
//! memory is given back.
//!
//! What goes there follows Redis's rule: a deleted value whose freeing effort (elements of a
//! hashtable set or hash, members of a skiplist sorted set, nodes of a list's quicklist) is above
//! [`THRESHOLD`] and that nobody else holds (a running snapshot may share it); a flushed database
//! always. INFO's `lazyfree_pending_objects` and `lazyfreed_objects` count them as Redis does: one
//! per value, one per key of a flushed database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};

use super::value::Value;

/// Redis's `LAZYFREE_THRESHOLD`: values cheaper than this to free are freed at once.
pub const THRESHOLD: usize = 64;

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// Something to drop, and how many objects it counts for.
type Job = (Box<dyn Send>, u64);

fn sender() -> Option<&'static Mutex<mpsc::Sender<Job>>> {
    static TX: OnceLock<Option<Mutex<mpsc::Sender<Job>>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                for (obj, n) in rx {
                    drop(obj);
                    // Counted as freed before it stops being pending: whoever sees nothing
                    // pending sees every count.
                    FREED.fetch_add(n, Ordering::SeqCst);
                    PENDING.fetch_sub(n, Ordering::SeqCst);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    })
    .as_ref()
}

/// Drops `obj`, counted as `n` objects, on the lazy-free thread (here, if that thread could not be
/// started).
pub fn free_later<T: Send + 'static>(obj: T, n: u64) {
    PENDING.fetch_add(n, Ordering::SeqCst);
    let unsent = match sender() {
        Some(tx) => tx
            .lock()
            .map_or(true, |tx| tx.send((Box::new(obj), n)).is_err()),
        None => {
            drop(obj);
            true
        }
    };
    if unsent {
        FREED.fetch_add(n, Ordering::SeqCst);
        PENDING.fetch_sub(n, Ordering::SeqCst);
    }
}

/// Objects handed to the lazy-free thread and not freed yet (INFO `lazyfree_pending_objects`).
pub fn pending() -> u64 {
    PENDING.load(Ordering::SeqCst)
}

/// Objects freed by the lazy-free thread since start-up (INFO `lazyfreed_objects`).
pub fn freed() -> u64 {
    FREED.load(Ordering::SeqCst)
}

/// What freeing `v` costs, in Redis's units (its `lazyfreeGetFreeEffort`); counting stops past
/// [`THRESHOLD`].
pub fn free_effort(v: &Value) -> usize {
    match v {
        Value::List(l) => quicklist_nodes(l, THRESHOLD + 1),
        Value::Hash(h) if !h.listpack => h.len(),
        Value::Set(s) if !s.intset => s.set.len(),
        Value::ZSet(z) if !z.listpack => z.len(),
        _ => 1,
    }
}

/// Whether nothing else (a snapshot's clone) holds the value's contents.
fn unshared(v: &Value) -> bool {
    match v {
        Value::List(a) => std::sync::Arc::strong_count(a) == 1,
        Value::Hash(a) => std::sync::Arc::strong_count(a) == 1,
        Value::Set(a) => std::sync::Arc::strong_count(a) == 1,
        Value::ZSet(a) => std::sync::Arc::strong_count(a) == 1,
        _ => true,
    }
}

/// Frees a deleted value as UNLINK does: on the lazy-free thread when it is costly to free and
/// nobody else holds it, here otherwise.
pub fn free_value(v: Value) {
    if free_effort(&v) > THRESHOLD && unshared(&v) {
        free_later(v, 1);
    }
}

/// Listpack bytes of an empty listpack (header and end byte).
const LP_EMPTY: usize = 7;
/// `list-max-listpack-size -2`: a quicklist node's listpack stays within 8 KB.
const NODE_MAX: usize = 8192;
/// The margin Redis keeps when it decides whether an element still fits a node.
const NODE_MARGIN: usize = 8;

/// The quicklist layout Redis builds by pushing `l`'s elements in order (`list-max-listpack-size
/// -2`): the number of nodes (at most `stop`, where counting stops), their listpack bytes in total.
pub fn quicklist_layout(
    l: &std::collections::VecDeque<bytes::Bytes>,
    stop: usize,
) -> (usize, usize) {
    let (mut nodes, mut cur, mut total) = (0usize, 0usize, 0usize);
    for e in l {
        let entry = crate::rdb::listpack::listpack_encode([&e[..]]).len() - LP_EMPTY;
        if nodes == 0 || cur + e.len() + NODE_MARGIN > NODE_MAX {
            if nodes == stop {
                break;
            }
            nodes += 1;
            total += LP_EMPTY;
            cur = LP_EMPTY;
        }
        cur += entry;
        total += entry;
    }
    (nodes, total)
}

fn quicklist_nodes(l: &std::collections::VecDeque<bytes::Bytes>, stop: usize) -> usize {
    quicklist_layout(l, stop).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::collections::VecDeque;
    use std::sync::Arc;

    #[test]
    fn effort_follows_redis_units() {
        let list: VecDeque<Bytes> = (0..1000).map(|i| Bytes::from(format!("{i}x"))).collect();
        // 1000 short elements fit one 8 KB node.
        assert_eq!(free_effort(&Value::List(Arc::new(list))), 1);
        let big: VecDeque<Bytes> = (0..200).map(|_| Bytes::from(vec![b'x'; 4000])).collect();
        // Two 4 KB elements do not fit one node: a node each, counting stops past the threshold.
        assert_eq!(free_effort(&Value::List(Arc::new(big))), THRESHOLD + 1);
        assert_eq!(free_effort(&Value::Int(7)), 1);
    }

    #[test]
    fn costly_values_are_counted_once_freed() {
        let before = freed();
        let big: VecDeque<Bytes> = (0..200).map(|_| Bytes::from(vec![b'x'; 4000])).collect();
        free_value(Value::List(Arc::new(big)));
        // A shared one is only released: nothing to count.
        let shared = Arc::new((0..200).map(|_| Bytes::from(vec![b'y'; 4000])).collect());
        free_value(Value::List(Arc::clone(&shared)));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while freed() < before + 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(freed() > before);
        assert_eq!(Arc::strong_count(&shared), 1);
    }
}
