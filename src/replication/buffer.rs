//! The replication buffer: the propagated write stream, addressed by absolute replication offset.
//!
//! One buffer serves every replica and the backlog (as in Redis 7's shared replication buffer): writes
//! are appended once; each replica sender reads from its own offset as zero-copy `Bytes` slices; the
//! backlog is the retained tail that partial resynchronisation serves from. Chunks are dropped from the
//! front only when they are older than what the backlog must keep (`repl-backlog-size`) *and* no
//! attached replica still needs them.
//!
//! Offsets follow Redis: `master_repl_offset` is the total number of bytes ever appended; the byte at
//! offset `o` (1-based as in PSYNC: a replica at offset `o` wants bytes from `o + 1`) is stored at
//! position `o` here, 0-based, so `PSYNC replid o` asks for `read(o, ..)`.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Size at which the tail is frozen into a chunk even if no reader asked for it.
const CHUNK: usize = 16 * 1024;

pub struct ReplBuffer {
    /// Frozen chunks: (offset of their first byte, bytes).
    chunks: VecDeque<(u64, Bytes)>,
    /// Bytes appended after the last frozen chunk.
    tail: BytesMut,
    /// Offset of the first byte of `tail`.
    tail_start: u64,
    /// The backlog must retain at least this many bytes (`repl-backlog-size`).
    backlog_size: u64,
}

impl ReplBuffer {
    /// A buffer whose next appended byte will have offset `start` (the current master_repl_offset).
    pub fn new(start: u64, backlog_size: u64) -> Self {
        ReplBuffer {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            tail_start: start,
            backlog_size,
        }
    }

    /// Total bytes ever appended, i.e. `master_repl_offset`.
    pub fn end_offset(&self) -> u64 {
        self.tail_start + self.tail.len() as u64
    }

    /// Offset of the oldest byte still held (`repl_backlog_first_byte_offset` is this + 1).
    pub fn start_offset(&self) -> u64 {
        self.chunks.front().map(|c| c.0).unwrap_or(self.tail_start)
    }

    /// Bytes currently held (`repl_backlog_histlen`).
    pub fn histlen(&self) -> u64 {
        self.end_offset() - self.start_offset()
    }

    pub fn backlog_size(&self) -> u64 {
        self.backlog_size
    }

    pub fn set_backlog_size(&mut self, size: u64) {
        self.backlog_size = size;
    }

    /// Appends propagated bytes.
    pub fn append(&mut self, data: &[u8]) {
        self.append_with(|tail| tail.extend_from_slice(data));
    }

    /// Appends what `encode` writes into the tail (no intermediate buffer).
    pub fn append_with(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        encode(&mut self.tail);
        if self.tail.len() >= CHUNK {
            self.freeze_tail();
        }
    }

    fn freeze_tail(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let n = self.tail.len() as u64;
        let b = self.tail.split().freeze();
        self.chunks.push_back((self.tail_start, b));
        self.tail_start += n;
        if self.tail.capacity() < CHUNK / 2 {
            self.tail = BytesMut::with_capacity(CHUNK);
        }
    }

    /// Whether bytes from `offset` onward are all still held (a partial resync can be served).
    pub fn can_serve_from(&self, offset: u64) -> bool {
        offset >= self.start_offset() && offset <= self.end_offset()
    }

    /// Up to `max` bytes starting at `offset`, as zero-copy slices appended to `out`; returns the
    /// number of bytes. `None` when `offset` is no longer (or not yet) in the buffer.
    pub fn read(&mut self, offset: u64, max: usize, out: &mut Vec<Bytes>) -> Option<usize> {
        if !self.can_serve_from(offset) {
            return None;
        }
        // Readers see everything appended so far: freeze the tail so it can be shared.
        if offset.saturating_add(max as u64) > self.tail_start {
            self.freeze_tail();
        }
        let mut pos = offset;
        let mut taken = 0usize;
        // First chunk that contains `pos`: chunks are in offset order.
        let idx = match self.chunks.binary_search_by(|(start, _)| start.cmp(&pos)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        for (start, b) in self.chunks.iter().skip(idx) {
            if taken >= max {
                break;
            }
            let end = start + b.len() as u64;
            if pos >= end {
                continue;
            }
            let from = (pos - start) as usize;
            let n = (b.len() - from).min(max - taken);
            out.push(b.slice(from..from + n));
            taken += n;
            pos += n as u64;
        }
        Some(taken)
    }

    /// Drops chunks that are older than the backlog must keep and that no replica needs any more:
    /// `min_needed` is the lowest offset an attached replica still has to read (None: no replicas).
    pub fn trim(&mut self, min_needed: Option<u64>) {
        let end = self.end_offset();
        let keep_from = end.saturating_sub(self.backlog_size);
        let limit = match min_needed {
            Some(m) => keep_from.min(m),
            None => keep_from,
        };
        while let Some((start, b)) = self.chunks.front() {
            if start + b.len() as u64 <= limit {
                self.chunks.pop_front();
            } else {
                break;
            }
        }
    }

    /// Forgets everything and restarts at offset `start` (a new replication history).
    pub fn reset(&mut self, start: u64) {
        self.chunks.clear();
        self.tail.clear();
        self.tail_start = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(buf: &mut ReplBuffer, off: u64, max: usize) -> Option<Vec<u8>> {
        let mut v = Vec::new();
        buf.read(off, max, &mut v)?;
        Some(v.concat())
    }

    #[test]
    fn offsets_and_reads() {
        let mut b = ReplBuffer::new(100, 1 << 20);
        assert_eq!(b.end_offset(), 100);
        b.append(b"hello ");
        b.append(b"world");
        assert_eq!(b.end_offset(), 111);
        assert_eq!(collect(&mut b, 100, 100).unwrap(), b"hello world");
        assert_eq!(collect(&mut b, 106, 3).unwrap(), b"wor");
        assert_eq!(collect(&mut b, 111, 10).unwrap(), b"");
        assert!(collect(&mut b, 99, 10).is_none());
        assert!(collect(&mut b, 112, 10).is_none());
        b.append(b"!");
        assert_eq!(collect(&mut b, 106, 100).unwrap(), b"world!");
    }

    #[test]
    fn backlog_trims_but_keeps_what_replicas_need() {
        let mut b = ReplBuffer::new(0, 64 * 1024);
        let block = vec![7u8; 10_000];
        for _ in 0..100 {
            b.append(&block);
        }
        let mut sink = Vec::new();
        b.read(0, 1, &mut sink);
        // A replica still at offset 5000 pins everything after it.
        b.trim(Some(5000));
        assert!(b.can_serve_from(5000));
        assert!(b.start_offset() <= 5000);
        // Without replicas, only the backlog size (rounded to chunks) is kept.
        b.trim(None);
        assert!(b.histlen() >= 64 * 1024 && b.histlen() < 64 * 1024 + 2 * CHUNK as u64 + 10_000);
        assert!(!b.can_serve_from(5000));
        let start = b.start_offset();
        assert_eq!(
            collect(&mut b, start, usize::MAX).unwrap().len() as u64,
            b.histlen()
        );
    }

    #[test]
    fn reads_cross_chunk_boundaries_exactly() {
        let mut b = ReplBuffer::new(0, 1 << 30);
        let mut all = Vec::new();
        for i in 0..50_000u32 {
            let s = format!("{i},");
            b.append(s.as_bytes());
            all.extend_from_slice(s.as_bytes());
            if i % 7919 == 0 {
                // Interleave reads so the tail is frozen at odd places.
                collect(&mut b, 0, 1);
            }
        }
        for (off, len) in [
            (0u64, 10usize),
            (16380, 20),
            (100_000, 50_000),
            (all.len() as u64 - 3, 100),
        ] {
            let got = collect(&mut b, off, len).unwrap();
            let end = (off as usize + len).min(all.len());
            assert_eq!(got, &all[off as usize..end]);
        }
    }
}
