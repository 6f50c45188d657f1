//! Request parsing: turns the bytes a client sent into argument vectors.
//!
//! Redis accepts two request forms: multibulk (`*<n>\r\n$<len>\r\n<arg>\r\n...`) and inline commands
//! (a line of space-separated words, as typed in telnet). The parser scans a byte slice and reports each
//! complete command as a list of argument ranges into that slice, so the caller can slice one frozen
//! buffer into zero-copy `Bytes` arguments. An incomplete command is `Ok(None)`, not an error.

use std::ops::Range;

/// Longest inline line, and longest `*<n>` / `$<len>` header line, Redis accepts (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;

/// Limits the parser enforces, from the configuration and the client's state.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`: the largest single argument.
    pub max_bulk_len: u64,
    /// Unauthenticated clients may only send small requests (Redis: 10 args, 16 KiB bulks).
    pub authenticated: bool,
    /// The master link may send arguments of any size.
    pub is_master: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
            is_master: false,
        }
    }
}

/// A request the server cannot parse. The text is what Redis replies before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `*<n>` with a bad or too large n.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `*<n>` with n > 10 from a client that has not authenticated yet.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// `$<len>` with len > 16384 from a client that has not authenticated yet.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// `$<len>` with a bad or too large len.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// Something other than `$` where a bulk string must start.
    #[error("Protocol error: expected '$', got '{0}'")]
    ExpectedDollar(char),
    /// A `*<n>` header line longer than [`INLINE_MAX`].
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    /// A `$<len>` header line longer than [`INLINE_MAX`].
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline line longer than [`INLINE_MAX`].
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline line with an unterminated quote.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
}

/// One parsed command: its argument ranges into the scanned slice.
///
/// Inline commands with quotes or escapes cannot be expressed as ranges of the input; their unescaped
/// arguments are returned owned in `owned` instead (rare: only telnet users type them).
#[derive(Debug, Default)]
pub struct ParsedCommand {
    pub args: Vec<Range<usize>>,
    pub owned: Option<Vec<Vec<u8>>>,
}

/// A resumable scanner over a client's query buffer.
///
/// `need` remembers how many bytes, counted from the start of the pending command, must be buffered
/// before a pending large bulk can complete, so a multi-megabyte value arriving in 16 KiB reads is not
/// rescanned on every read. It is relative to the command's start because the caller drops the bytes
/// of the commands it already ran (the pending command then starts at offset 0).
#[derive(Debug, Default)]
pub struct RequestParser {
    need: usize,
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser { need: 0 }
    }

    /// Bytes, from the start of the pending command, that must be buffered before parsing can make
    /// progress (a hint for read sizing).
    pub fn needed(&self) -> usize {
        self.need
    }

    /// Parses one command starting at `buf[pos..]`.
    ///
    /// Returns `Ok(Some((cmd, end)))` with the command's end offset, `Ok(None)` when more bytes are
    /// needed. An empty command (`*0`, `*-1`, a blank inline line) is returned with no arguments so the
    /// caller can skip it. `cmd` is reused to avoid allocating per command.
    pub fn parse(
        &mut self,
        buf: &[u8],
        pos: usize,
        limits: &ParseLimits,
        cmd: &mut ParsedCommand,
    ) -> Result<Option<usize>, ProtocolError> {
        cmd.args.clear();
        cmd.owned = None;
        if pos >= buf.len() || (self.need > 0 && buf.len() - pos < self.need) {
            return Ok(None);
        }
        self.need = 0;
        if buf[pos] == b'*' {
            self.parse_multibulk(buf, pos, limits, cmd)
        } else {
            parse_inline(buf, pos, cmd)
        }
    }

    fn parse_multibulk(
        &mut self,
        buf: &[u8],
        pos: usize,
        limits: &ParseLimits,
        cmd: &mut ParsedCommand,
    ) -> Result<Option<usize>, ProtocolError> {
        let Some((count, mut p)) = read_line_int(buf, pos + 1, ProtocolError::TooBigMbulkCount)?
        else {
            return Ok(None);
        };
        let count = count.ok_or(ProtocolError::InvalidMultibulkLength)?;
        if count > i32::MAX as i64 {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        if count > 10 && !limits.authenticated && !limits.is_master {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        if count <= 0 {
            return Ok(Some(p));
        }
        let max_bulk = if limits.is_master {
            i64::MAX
        } else {
            limits.max_bulk_len.min(i64::MAX as u64) as i64
        };
        let unauthenticated = !limits.authenticated && !limits.is_master;
        // Do not trust the count for the allocation: a client could announce 2^31 arguments.
        cmd.args.reserve((count as usize).min(1024));
        for _ in 0..count {
            if p >= buf.len() {
                return Ok(None);
            }
            if buf[p] != b'$' {
                return Err(ProtocolError::ExpectedDollar(buf[p] as char));
            }
            let Some((len, q)) = read_line_int(buf, p + 1, ProtocolError::TooBigBulkCount)? else {
                return Ok(None);
            };
            let len = len.ok_or(ProtocolError::InvalidBulkLength)?;
            if len < 0 || len > max_bulk {
                return Err(ProtocolError::InvalidBulkLength);
            }
            if unauthenticated && len > 16384 {
                return Err(ProtocolError::UnauthenticatedBulkLength);
            }
            let end = q + len as usize;
            if buf.len() < end + 2 {
                self.need = end + 2 - pos;
                return Ok(None);
            }
            cmd.args.push(q..end);
            p = end + 2;
        }
        Ok(Some(p))
    }
}

/// Reads a decimal integer line starting at `start`, ending in `\r\n`.
/// `Ok(None)`: line not complete yet. `Ok(Some((None, _)))`: not a valid integer.
#[allow(clippy::type_complexity)]
fn read_line_int(
    buf: &[u8],
    start: usize,
    too_big: ProtocolError,
) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let rest = &buf[start.min(buf.len())..];
    // Fast path, what every client sends: up to 18 digits (no overflow possible), no leading zero,
    // then "\r" and one more byte. Anything else takes the general path below.
    let mut v: u64 = 0;
    let mut i = 0;
    while i < rest.len() && i < 18 {
        let c = rest[i];
        if c.is_ascii_digit() {
            v = v * 10 + (c - b'0') as u64;
            i += 1;
            continue;
        }
        if c == b'\r' && i > 0 && i + 1 < rest.len() && (rest[0] != b'0' || i == 1) {
            return Ok(Some((Some(v as i64), start + i + 2)));
        }
        break;
    }
    let Some(cr) = find_before_nul(rest, b'\r') else {
        if rest.len() > INLINE_MAX {
            return Err(too_big);
        }
        return Ok(None);
    };
    if cr + 1 >= rest.len() {
        if rest.len() > INLINE_MAX {
            return Err(too_big);
        }
        return Ok(None);
    }
    let value = parse_i64(&rest[..cr]);
    // Redis skips "\r\n" without checking the '\n'; so do we.
    Ok(Some((value, start + cr + 2)))
}

/// The first `c` in `s`, searched as Redis searches its query buffer (a C string): a NUL byte ends the
/// search, so a header or inline line with a NUL before its terminator is never complete (Redis waits
/// for more input, then rejects the line once it is longer than [`INLINE_MAX`]).
fn find_before_nul(s: &[u8], c: u8) -> Option<usize> {
    for (i, &b) in s.iter().enumerate() {
        if b == c {
            return Some(i);
        }
        if b == 0 {
            return None;
        }
    }
    None
}

/// Parses a signed decimal integer exactly as Redis's `string2ll`: no spaces, no '+', no leading zeros.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Parses one inline command line (telnet style).
fn parse_inline(
    buf: &[u8],
    pos: usize,
    cmd: &mut ParsedCommand,
) -> Result<Option<usize>, ProtocolError> {
    let rest = &buf[pos..];
    let Some(nl) = find_before_nul(rest, b'\n') else {
        if rest.len() > INLINE_MAX {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(None);
    };
    if nl > INLINE_MAX {
        return Err(ProtocolError::TooBigInline);
    }
    let mut line_end = nl;
    if line_end > 0 && rest[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    let line = &rest[..line_end];
    let end = pos + nl + 1;
    if line.iter().any(|&b| b == b'"' || b == b'\'') {
        let owned = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
        cmd.owned = Some(owned);
        return Ok(Some(end));
    }
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let s = i;
        // Inside a word only space, tab, CR and LF end it (a vertical tab or form feed does not).
        while i < line.len() && !matches!(line[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        cmd.args.push(pos + s..pos + i);
    }
    Ok(Some(end))
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a line into arguments with Redis's quoting rules (the ones redis.conf and inline commands
/// share): double quotes with `\n \r \t \b \a \\ \" \xHH` escapes, single quotes with `\'` only, and a
/// closing quote must be followed by a space or the end of the line. `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(line[i + 2]), hex_val(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // The closing quote must be followed by a space or nothing.
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut cmd = ParsedCommand::default();
        let mut pos = 0;
        let mut out = Vec::new();
        while let Some(end) = p.parse(input, pos, &ParseLimits::default(), &mut cmd)? {
            let args = match &cmd.owned {
                Some(o) => o.clone(),
                None => cmd.args.iter().map(|r| input[r.clone()].to_vec()).collect(),
            };
            out.push(args);
            pos = end;
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_pipeline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(
            cmds,
            vec![vec![b"GET".to_vec(), b"k".to_vec()], vec![b"PING".to_vec()]]
        );
    }

    #[test]
    fn incomplete_is_none_at_every_cut() {
        let full = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        for cut in 0..full.len() {
            let mut p = RequestParser::new();
            let mut cmd = ParsedCommand::default();
            assert_eq!(
                p.parse(&full[..cut], 0, &ParseLimits::default(), &mut cmd),
                Ok(None),
                "cut {cut}"
            );
        }
        assert_eq!(parse_all(full).unwrap().len(), 1);
    }

    #[test]
    fn inline_commands() {
        assert_eq!(
            parse_all(b"PING\r\n").unwrap(),
            vec![vec![b"PING".to_vec()]]
        );
        assert_eq!(
            parse_all(b"set  k   v\n").unwrap(),
            vec![vec![b"set".to_vec(), b"k".to_vec(), b"v".to_vec()]]
        );
        assert_eq!(
            parse_all(b"set k \"a b\\x41\\n\"\r\n").unwrap(),
            vec![vec![b"set".to_vec(), b"k".to_vec(), b"a bA\n".to_vec()]]
        );
        assert_eq!(parse_all(b"\r\n").unwrap(), vec![Vec::<Vec<u8>>::new()]);
        assert_eq!(
            parse_all(b"set k \"abc\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            parse_all(b"*abc\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n"),
            Err(ProtocolError::ExpectedDollar('+'))
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        let limits = ParseLimits {
            max_bulk_len: 10,
            ..Default::default()
        };
        let mut p = RequestParser::new();
        let mut cmd = ParsedCommand::default();
        assert_eq!(
            p.parse(b"*1\r\n$11\r\n", 0, &limits, &mut cmd),
            Err(ProtocolError::InvalidBulkLength)
        );
        let garbage = vec![b'x'; INLINE_MAX + 10];
        assert_eq!(parse_all(&garbage), Err(ProtocolError::TooBigInline));
        let mut big = b"*".to_vec();
        big.extend(std::iter::repeat_n(b'1', INLINE_MAX + 10));
        assert_eq!(parse_all(&big), Err(ProtocolError::TooBigMbulkCount));
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = ParseLimits {
            authenticated: false,
            ..Default::default()
        };
        let mut p = RequestParser::new();
        let mut cmd = ParsedCommand::default();
        assert_eq!(
            p.parse(b"*11\r\n", 0, &limits, &mut cmd),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", 0, &limits, &mut cmd),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        assert_eq!(p.parse(b"*1\r\n$16384\r\n", 0, &limits, &mut cmd), Ok(None));
    }

    #[test]
    fn pending_bulk_hint_is_relative_to_the_command() {
        // A complete PING followed by the head of a large SET: the hint must still hold once the
        // caller has dropped the PING's bytes.
        let mut buf = b"*1\r\n$4\r\nPING\r\n".to_vec();
        let ping_len = buf.len();
        let set = RawCmd::encode(&[b"SET", b"k", &[b'v'; 100]]);
        buf.extend_from_slice(&set[..30]);
        let mut p = RequestParser::new();
        let mut cmd = ParsedCommand::default();
        let lim = ParseLimits::default();
        assert_eq!(p.parse(&buf, 0, &lim, &mut cmd), Ok(Some(ping_len)));
        assert_eq!(p.parse(&buf, ping_len, &lim, &mut cmd), Ok(None));
        assert_eq!(p.needed(), set.len());
        // The caller drops the PING and the rest of the SET arrives.
        let rest = [&buf[ping_len..], &set[30..]].concat();
        assert_eq!(p.parse(&rest, 0, &lim, &mut cmd), Ok(Some(set.len())));
        assert_eq!(cmd.args.len(), 3);
    }

    #[test]
    fn inline_nul_and_vertical_tab() {
        // A NUL before the newline keeps the line incomplete, until it is too long.
        assert_eq!(
            parse_all(b"ping\x00 extra\r\n").unwrap(),
            Vec::<Vec<Vec<u8>>>::new()
        );
        let mut long = b"\x00\r\n".to_vec();
        long.extend(vec![b'a'; INLINE_MAX + 1]);
        assert_eq!(parse_all(&long), Err(ProtocolError::TooBigInline));
        assert_eq!(
            parse_all(b"*1\x00\r\n").unwrap(),
            Vec::<Vec<Vec<u8>>>::new()
        );
        assert_eq!(
            parse_all(b"\x0bset a\x0bb\r\n").unwrap(),
            vec![vec![b"set".to_vec(), b"a\x0bb".to_vec()]]
        );
    }

    /// Test-only multibulk encoder.
    struct RawCmd;
    impl RawCmd {
        fn encode(args: &[&[u8]]) -> Vec<u8> {
            let mut out = format!("*{}\r\n", args.len()).into_bytes();
            for a in args {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            }
            out
        }
    }

    #[test]
    fn header_lines_fast_and_general_paths_agree() {
        for line in [
            &b"0"[..],
            b"1",
            b"12",
            b"007",
            b"-1",
            b"-0",
            b"123456789012345678",
            b"1234567890123456789",
            b"9223372036854775807",
            b"9223372036854775808",
            b"12a",
            b"",
            b" 1",
        ] {
            let mut buf = line.to_vec();
            buf.extend_from_slice(b"\r\n");
            let got = read_line_int(&buf, 0, ProtocolError::TooBigBulkCount).unwrap();
            assert_eq!(got, Some((parse_i64(line), line.len() + 2)), "{line:?}");
            // Without the byte after '\r' the line is not complete yet.
            assert_eq!(
                read_line_int(&buf[..buf.len() - 1], 0, ProtocolError::TooBigBulkCount).unwrap(),
                None
            );
        }
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b""), None);
    }

    #[test]
    fn big_bulk_waits_without_rescanning() {
        let mut p = RequestParser::new();
        let mut cmd = ParsedCommand::default();
        let head = b"*1\r\n$100\r\n";
        assert_eq!(
            p.parse(head, 0, &ParseLimits::default(), &mut cmd),
            Ok(None)
        );
        assert_eq!(p.needed(), head.len() + 102);
    }
}
