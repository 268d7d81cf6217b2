//! The Redis protocol, sans-IO: bytes in, commands out; replies in, bytes out.
//!
//! - [`Parser`] turns a connection's query buffer into commands (`Vec<Bytes>`), with Redis's
//!   limits and Redis's exact protocol error texts (networking.c `processMultibulkBuffer` /
//!   `processInlineBuffer`).
//! - [`encode`] writes a [`Value`] as RESP2 or RESP3.
//!
//! Nothing here panics on input, and nothing allocates beyond what the peer has really sent
//! (plus at most [`READ_AHEAD_MAX`] of read-ahead for a large bulk argument).

use bytes::Bytes;

mod encode;
mod parser;
pub mod slot;

pub use encode::{encode, encode_command, format_double};
pub use parser::split_args;
pub use parser::{Parser, READ_AHEAD_MAX};
pub use slot::key_slot;

/// A reply, independent of the protocol version; [`encode`] writes it as RESP2 or RESP3.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: the text after the dash, e.g. "ERR unknown command 'foo', ..." or
    /// "WRONGTYPE Operation against a key holding the wrong kind of value".
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// A missing value: RESP2 `$-1`, RESP3 `_`.
    Null,
    /// A missing array: RESP2 `*-1`, RESP3 `_` (e.g. EXEC after a WATCH failed).
    NullArray,
    /// `*2\r\n...`
    Array(Vec<Value>),
    /// RESP3 push (`>`), data the server sends unasked (Pub/Sub messages); RESP2 writes an
    /// array, which is how RESP2 subscribers have always received them.
    Push(Vec<Value>),
    /// RESP3 map; RESP2 writes a flat array of key, value, key, value.
    Map(Vec<(Value, Value)>),
    /// RESP3 set; RESP2 writes an array.
    Set(Vec<Value>),
    /// RESP3 double; RESP2 writes a bulk string of its shortest round-trip text.
    Double(f64),
    /// RESP3 boolean; RESP2 writes the integer 1 or 0.
    Boolean(bool),
    /// RESP3 verbatim string (`=`) with a 3-letter format like "txt"; RESP2 writes a bulk string.
    Verbatim(String, Bytes),
    /// A reply already encoded in both protocols (a cached answer, e.g. to a retried request),
    /// written verbatim.
    Raw {
        /// The RESP2 bytes.
        resp2: Bytes,
        /// The RESP3 bytes.
        resp3: Bytes,
    },
}

/// Protocol version of a connection (HELLO 2 / HELLO 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// Limits as Redis has them (defaults = Redis's: proto-max-bulk-len 512 MiB, max multibulk
/// length 1,048,576 (Redis: 1024*1024), client-query-buffer-limit 1 GiB, inline max 64 KiB).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest bulk argument (`$N`), Redis's `proto-max-bulk-len`.
    pub bulk_len_max: u64,
    /// Largest argument count (`*N`).
    pub multibulk_len_max: u64,
    /// Largest query buffer (unparsed bytes plus the arguments of the command being
    /// assembled), Redis's `client-query-buffer-limit`.
    pub query_buffer_max: u64,
    /// Largest inline command line, and largest `*N` / `$N` header line, waiting for its
    /// terminator (Redis's `PROTO_INLINE_MAX_SIZE`).
    pub inline_len_max: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            bulk_len_max: 512 * 1024 * 1024,
            multibulk_len_max: 1024 * 1024,
            query_buffer_max: 1024 * 1024 * 1024,
            inline_len_max: 64 * 1024,
        }
    }
}

/// A malformed request. Display gives Redis's exact error text WITHOUT the leading '-' and
/// trailing CRLF, e.g. "ERR Protocol error: invalid bulk length". After one, the server
/// replies the error and closes the connection (as Redis does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}
