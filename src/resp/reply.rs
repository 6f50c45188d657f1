//! Reply encoding into a connection's output buffer, in RESP2 or RESP3.
//!
//! Commands write their replies straight into the output buffer through [`Reply`], which knows the
//! client's protocol version: a map is `%n` in RESP3 and `*2n` in RESP2, a null is `_` or `$-1`, and so
//! on, exactly as Redis 7.0 downgrades RESP3 types for RESP2 clients. No reply tree is built.

use bytes::{BufMut, BytesMut};

/// The protocol a client speaks, chosen with HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

/// A writer of replies for one client.
pub struct Reply<'a> {
    pub buf: &'a mut BytesMut,
    pub proto: Proto,
}

impl<'a> Reply<'a> {
    pub fn new(buf: &'a mut BytesMut, proto: Proto) -> Self {
        Reply { buf, proto }
    }

    pub fn resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }

    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.put_u8(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string (`+text`). The text must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.put_u8(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply. `msg` starts with the error code (`ERR ...`, `WRONGTYPE ...`); newlines in it
    /// are replaced by spaces as Redis does, so a reply can never break the protocol.
    pub fn error(&mut self, msg: &str) {
        self.buf.put_u8(b'-');
        for &b in msg.as_bytes() {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len() as i64);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n` (e.g. a value stored as an integer).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n);
        self.bulk(s.as_bytes());
    }

    /// The null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        match self.proto {
            Proto::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Proto::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        match self.proto {
            Proto::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Proto::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs; a flat array of `2n` elements in RESP2.
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', 2 * n as i64),
            Proto::Resp3 => self.header(b'%', n as i64),
        }
    }

    /// A set of `n` elements; an array in RESP2.
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n as i64),
            Proto::Resp3 => self.header(b'~', n as i64),
        }
    }

    /// An out-of-band push of `n` elements; an array in RESP2.
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n as i64),
            Proto::Resp3 => self.header(b'>', n as i64),
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        match self.proto {
            Proto::Resp2 => self.int(b as i64),
            Proto::Resp3 => self
                .buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// A double as Redis 7.0 prints it (`%.17g`, `inf`, `-inf`): a bulk string in RESP2, `,` in RESP3.
    pub fn double(&mut self, d: f64) {
        let s = crate::util::fmt_double(d);
        match self.proto {
            Proto::Resp2 => self.bulk(s.as_bytes()),
            Proto::Resp3 => {
                self.buf.put_u8(b',');
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Verbatim text (`=len\r\ntxt:...` in RESP3, a bulk string in RESP2), as INFO and CLIENT LIST use.
    pub fn verbatim(&mut self, s: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(s),
            Proto::Resp3 => {
                self.header(b'=', s.len() as i64 + 4);
                self.buf.extend_from_slice(b"txt:");
                self.buf.extend_from_slice(s);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Appends bytes that are already RESP-encoded.
    pub fn raw(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s);
    }

    /// Starts an aggregate whose length is not known yet; returns a mark for [`Reply::end_deferred`].
    pub fn begin_deferred(&mut self) -> usize {
        self.buf.len()
    }

    /// Inserts the header of an aggregate started with [`Reply::begin_deferred`]: `kind` is `b'*'`,
    /// `b'%'` (map of `n` pairs) or `b'~'` (set).
    pub fn end_deferred(&mut self, mark: usize, kind: u8, n: usize) {
        let tail = self.buf.split_off(mark);
        match kind {
            b'%' => self.map(n),
            b'~' => self.set(n),
            _ => self.array(n),
        }
        self.buf.unsplit(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(proto: Proto, f: impl FnOnce(&mut Reply)) -> Vec<u8> {
        let mut b = BytesMut::new();
        let mut r = Reply::new(&mut b, proto);
        f(&mut r);
        b.to_vec()
    }

    #[test]
    fn resp2_downgrades() {
        assert_eq!(enc(Proto::Resp2, |r| r.map(2)), b"*4\r\n");
        assert_eq!(enc(Proto::Resp2, |r| r.null()), b"$-1\r\n");
        assert_eq!(enc(Proto::Resp2, |r| r.null_array()), b"*-1\r\n");
        assert_eq!(enc(Proto::Resp2, |r| r.double(1.5)), b"$3\r\n1.5\r\n");
        assert_eq!(enc(Proto::Resp2, |r| r.boolean(true)), b":1\r\n");
    }

    #[test]
    fn resp3_types() {
        assert_eq!(enc(Proto::Resp3, |r| r.map(2)), b"%2\r\n");
        assert_eq!(enc(Proto::Resp3, |r| r.null()), b"_\r\n");
        assert_eq!(enc(Proto::Resp3, |r| r.double(f64::INFINITY)), b",inf\r\n");
        assert_eq!(enc(Proto::Resp3, |r| r.set(1)), b"~1\r\n");
        assert_eq!(
            enc(Proto::Resp3, |r| r.verbatim(b"ab")),
            b"=6\r\ntxt:ab\r\n"
        );
    }

    #[test]
    fn errors_never_break_framing() {
        assert_eq!(
            enc(Proto::Resp2, |r| r.error("ERR a\r\nb")),
            b"-ERR a  b\r\n"
        );
    }

    #[test]
    fn deferred_header() {
        let out = enc(Proto::Resp2, |r| {
            r.int(7);
            let m = r.begin_deferred();
            r.bulk(b"a");
            r.bulk(b"b");
            r.end_deferred(m, b'*', 2);
        });
        assert_eq!(out, b":7\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    }
}
