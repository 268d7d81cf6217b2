//! The streaming request parser (Redis networking.c `processMultibulkBuffer` and
//! `processInlineBuffer`, with their error texts).

use bytes::{Buf, Bytes, BytesMut};

use crate::{Limits, ProtocolError};

/// The most the parser reserves in the buffer ahead of received data while a large bulk
/// argument arrives: a header that lies about its length costs no more than this.
pub const READ_AHEAD_MAX: usize = 1024 * 1024;

/// Redis allocates the argument vector for at most this many arguments up front.
const ARGV_PREALLOC_MAX: usize = 1024;

/// Streaming parser: feed bytes as they arrive, take complete commands out.
///
/// Use one parser per connection with the same buffer on every call, only ever appending to
/// it between calls: the parser remembers how far it has already scanned (so a command that
/// arrives byte by byte costs linear time) and takes the arguments of a partly received
/// multibulk command out of the buffer as they complete.
#[derive(Debug)]
pub struct Parser {
    limits: Limits,
    state: State,
    /// The front `scanned` bytes of the buffer are known not to hold the terminator of the
    /// line being looked for.
    scanned: usize,
    /// Bytes of the arguments held in `state` (they count toward the query buffer).
    held: u64,
    /// The first error, repeated by every later call: the connection is to be closed.
    failed: Option<ProtocolError>,
}

#[derive(Debug)]
enum State {
    /// Between commands.
    Start,
    /// Inside a multibulk command.
    Multibulk {
        /// Arguments still to come.
        remaining: u64,
        /// The length of the bulk whose header has been read, if any.
        bulk: Option<usize>,
        args: Vec<Bytes>,
    },
}

impl Parser {
    /// A parser with `limits`.
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            state: State::Start,
            scanned: 0,
            held: 0,
            failed: None,
        }
    }

    /// The parser's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// True when the parser holds part of a command (arguments or a partial header).
    pub fn in_command(&self) -> bool {
        matches!(self.state, State::Multibulk { .. })
    }

    /// Parses the next complete command from the front of `buffer` (consuming its bytes),
    /// Ok(None) if more bytes are needed. A command is its arguments (multibulk
    /// `*N\r\n$len\r\n...` as clients send, or an inline command line `SET a b\r\n` as
    /// redis-cli/telnet send, split like Redis's sdssplitargs). Empty inline lines and `*0` /
    /// `*-1` are skipped. Errors on a query buffer beyond `query_buffer_max`. After an error,
    /// every later call returns the same error.
    pub fn parse(&mut self, buffer: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.parse_inner(buffer) {
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
            ok => ok,
        }
    }

    fn parse_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.held.saturating_add(buf.len() as u64) > self.limits.query_buffer_max {
            return Err(err("ERR Protocol error: query buffer limit exceeded"));
        }
        if self.scanned > buf.len() {
            self.scanned = 0; // the caller broke the contract; rescan rather than misbehave
        }
        loop {
            if let State::Start = self.state {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if first == b'*' {
                    if !self.multibulk_header(buf)? {
                        return Ok(None);
                    }
                    continue; // `*0` / `*-1` consumed, or now in State::Multibulk
                }
                match self.inline(buf)? {
                    None => return Ok(None),
                    Some(args) if args.is_empty() => continue,
                    Some(args) => return Ok(Some(args)),
                }
            }
            return self.multibulk_args(buf);
        }
    }

    /// Index of the first `byte` in `buf`, scanning only what has not been scanned before.
    fn find(&mut self, buf: &[u8], byte: u8) -> Option<usize> {
        match buf[self.scanned..].iter().position(|&b| b == byte) {
            Some(i) => Some(self.scanned + i),
            None => {
                self.scanned = buf.len();
                None
            }
        }
    }

    fn consume(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(n);
        self.scanned = 0;
    }

    /// Reads a `*N\r\n` header: Ok(false) when incomplete.
    fn multibulk_header(&mut self, buf: &mut BytesMut) -> Result<bool, ProtocolError> {
        let Some(cr) = self.find(buf, b'\r') else {
            if buf.len() as u64 > self.limits.inline_len_max {
                return Err(err("ERR Protocol error: too big mbulk count string"));
            }
            return Ok(false);
        };
        if cr + 2 > buf.len() {
            self.scanned = cr; // found again next time at once
            return Ok(false);
        }
        let count = match string2ll(&buf[1..cr]) {
            Some(n) if n <= 0 => 0,
            Some(n) if (n as u64) <= self.limits.multibulk_len_max => n as u64,
            _ => return Err(err("ERR Protocol error: invalid multibulk length")),
        };
        self.consume(buf, cr + 2);
        if count > 0 {
            let cap = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(ARGV_PREALLOC_MAX);
            self.state = State::Multibulk {
                remaining: count,
                bulk: None,
                args: Vec::with_capacity(cap),
            };
        }
        Ok(true)
    }

    fn multibulk_args(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            let State::Multibulk {
                remaining, bulk, ..
            } = &self.state
            else {
                return Ok(None);
            };
            if *remaining == 0 {
                let State::Multibulk { args, .. } =
                    std::mem::replace(&mut self.state, State::Start)
                else {
                    return Ok(None);
                };
                self.held = 0;
                return Ok(Some(args));
            }
            let len = match *bulk {
                Some(len) => len,
                None => {
                    let Some(len) = self.bulk_header(buf)? else {
                        return Ok(None);
                    };
                    if let State::Multibulk { bulk, .. } = &mut self.state {
                        *bulk = Some(len);
                    }
                    len
                }
            };
            let need = len.saturating_add(2);
            if buf.len() < need {
                // Read ahead for a large argument, but never more than READ_AHEAD_MAX beyond
                // what has arrived.
                let want = (need - buf.len()).min(READ_AHEAD_MAX);
                if buf.capacity() - buf.len() < want {
                    buf.reserve(want);
                }
                return Ok(None);
            }
            let arg = buf.split_to(len).freeze();
            self.consume(buf, 2); // like Redis, the two bytes after the bulk are not checked
            self.held = self.held.saturating_add(len as u64);
            if let State::Multibulk {
                remaining,
                bulk,
                args,
            } = &mut self.state
            {
                args.push(arg);
                *remaining -= 1;
                *bulk = None;
            }
        }
    }

    /// Reads a `$N\r\n` header: Ok(None) when incomplete.
    fn bulk_header(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, ProtocolError> {
        let Some(cr) = self.find(buf, b'\r') else {
            if buf.len() as u64 > self.limits.inline_len_max {
                return Err(err("ERR Protocol error: too big bulk count string"));
            }
            return Ok(None);
        };
        if cr + 2 > buf.len() {
            self.scanned = cr;
            return Ok(None);
        }
        if buf[0] != b'$' {
            // Redis formats the byte with %c, then turns CR / LF into spaces.
            let got = match buf[0] {
                b'\r' | b'\n' => ' ',
                b => char::from(b),
            };
            return Err(ProtocolError(format!(
                "ERR Protocol error: expected '$', got '{got}'"
            )));
        }
        let len = match string2ll(&buf[1..cr]) {
            Some(n) if n >= 0 && (n as u64) <= self.limits.bulk_len_max => usize::try_from(n).ok(),
            _ => None,
        };
        let Some(len) = len else {
            return Err(err("ERR Protocol error: invalid bulk length"));
        };
        self.consume(buf, cr + 2);
        Ok(Some(len))
    }

    /// Reads an inline command line: Ok(None) when incomplete, an empty vector for a blank line.
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(nl) = self.find(buf, b'\n') else {
            if buf.len() as u64 > self.limits.inline_len_max {
                return Err(err("ERR Protocol error: too big inline request"));
            }
            return Ok(None);
        };
        let end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let Some(args) = split_args(&buf[..end]) else {
            return Err(err("ERR Protocol error: unbalanced quotes in request"));
        };
        self.consume(buf, nl + 1);
        Ok(Some(args))
    }
}

fn err(s: &str) -> ProtocolError {
    ProtocolError(s.to_owned())
}

/// Redis's `string2ll`: an optional '-', then digits without leading zeros ("0" alone is
/// fine), no sign '+', no spaces, at most 20 characters, within i64.
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

fn is_space(b: u8) -> bool {
    // C isspace in the "C" locale.
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`: None on unbalanced quotes (or a closing quote not followed by a
/// space). Like the C original, which works on a C string, the line ends at a NUL byte.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut p = 0usize;
    let mut out = Vec::new();
    loop {
        while at(line, p) != 0 && is_space(at(line, p)) {
            p += 1;
        }
        if at(line, p) == 0 {
            return Some(out);
        }
        out.push(Bytes::from(split_one(line, &mut p)?));
    }
}

/// The C string view of `line`: 0 past the end.
fn at(line: &[u8], i: usize) -> u8 {
    line.get(i).copied().unwrap_or(0)
}

/// One argument of `sdssplitargs`, starting at `*p` (not a space), leaving `*p` after it.
fn split_one(line: &[u8], p: &mut usize) -> Option<Vec<u8>> {
    let (mut inq, mut insq, mut done) = (false, false, false);
    let mut cur = Vec::new();
    // A closing quote must be followed by a space or nothing at all.
    let closes = |next: u8| next == 0 || is_space(next);
    while !done {
        let c = at(line, *p);
        if inq {
            if c == b'\\' && at(line, *p + 1) == b'x' {
                if let (Some(h), Some(l)) = (hex_val(at(line, *p + 2)), hex_val(at(line, *p + 3))) {
                    cur.push(h * 16 + l);
                    *p += 3;
                } else {
                    // `\x` not followed by two hex digits: the escape gives 'x'.
                    *p += 1;
                    cur.push(b'x');
                }
            } else if c == b'\\' && at(line, *p + 1) != 0 {
                *p += 1;
                cur.push(match at(line, *p) {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
            } else if c == b'"' {
                if !closes(at(line, *p + 1)) {
                    return None;
                }
                done = true;
            } else if c == 0 {
                return None; // unterminated quotes
            } else {
                cur.push(c);
            }
        } else if insq {
            if c == b'\\' && at(line, *p + 1) == b'\'' {
                *p += 1;
                cur.push(b'\'');
            } else if c == b'\'' {
                if !closes(at(line, *p + 1)) {
                    return None;
                }
                done = true;
            } else if c == 0 {
                return None;
            } else {
                cur.push(c);
            }
        } else {
            match c {
                b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                b'"' => inq = true,
                b'\'' => insq = true,
                _ => cur.push(c),
            }
        }
        if at(line, *p) != 0 {
            *p += 1;
        }
    }
    Some(cur)
}
