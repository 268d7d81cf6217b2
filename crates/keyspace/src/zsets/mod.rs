//! Sorted sets: ZADD, ZRANGE and the rest of Redis 7.0's sorted-set commands.
//!
//! `zset` holds the structure ([`ZSet`]: member -> score plus a counted B+tree in `tree`),
//! `parse` reads scores and ranges and writes scores as Redis 7.0 does, and the commands
//! live in `members` (add, remove, score, rank, count, random, scan), `range` (the ZRANGE
//! family), `setops` (union, intersection, difference) and `pop` (ZPOP*, ZMPOP and the
//! non-blocking core of the blocking pops, which the server calls).
//!
//! Replies: Redis 7.0 writes a score with `%.17g` ("1.1000000000000001"), a bulk string in
//! RESP2 and a double in RESP3; member-score pairs are one flat array in RESP2 and an array
//! of pairs in RESP3. The keyspace does not know the client's protocol, so such replies are
//! built in both encodings at once (`Value::Raw`).

mod members;
mod parse;
mod pop;
mod range;
mod setops;
mod tree;
mod zset;

use bytes::{BufMut, Bytes, BytesMut};
use resp::Value;

// The commands, for the table.
pub use members::*;
pub use pop::*;
pub use range::*;
pub use setops::*;

// The structure and its helpers, for other command families (geo builds on sorted sets):
// the set itself and its ranges, reading and printing scores as Redis does, replying with
// scores, and storing a result set under a key.
#[allow(unused_imports)]
pub use parse::{format_score, lex_range, parse_score, score_range, strtod_prefix};
#[allow(unused_imports)]
pub(crate) use range::store;
#[allow(unused_imports)]
pub use zset::{LexBound, LexRange, ScoreRange, ZSet};

const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";
const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

fn put_bulk(out: &mut BytesMut, b: &[u8]) {
    out.put_u8(b'$');
    out.put_slice(b.len().to_string().as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

fn put_len(out: &mut BytesMut, prefix: u8, n: usize) {
    out.put_u8(prefix);
    out.put_slice(n.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

/// A score as Redis 7.0 replies it: RESP2 a bulk string, RESP3 a double, both `%.17g`.
pub(crate) fn score_reply(score: f64) -> Value {
    let text = format_score(score);
    let mut resp2 = BytesMut::with_capacity(text.len() + 8);
    put_bulk(&mut resp2, text.as_bytes());
    let mut resp3 = BytesMut::with_capacity(text.len() + 3);
    resp3.put_u8(b',');
    resp3.put_slice(text.as_bytes());
    resp3.put_slice(b"\r\n");
    Value::Raw {
        resp2: resp2.freeze(),
        resp3: resp3.freeze(),
    }
}

/// Members, optionally with their scores, as ZRANGE replies: plain members are an array of
/// bulk strings; with scores RESP2 gets `[m1, s1, m2, s2]` and RESP3 `[[m1, s1], [m2, s2]]`.
pub(crate) fn members_reply(items: &[(Bytes, f64)], withscores: bool) -> Value {
    if !withscores || items.is_empty() {
        return Value::Array(items.iter().map(|(m, _)| Value::Bulk(m.clone())).collect());
    }
    let size: usize = items.iter().map(|(m, _)| m.len() + 48).sum();
    let (mut resp2, mut resp3) = (BytesMut::with_capacity(size), BytesMut::with_capacity(size));
    put_len(&mut resp2, b'*', items.len() * 2);
    put_len(&mut resp3, b'*', items.len());
    for (m, s) in items {
        let text = format_score(*s);
        put_bulk(&mut resp2, m);
        put_bulk(&mut resp2, text.as_bytes());
        resp3.put_slice(b"*2\r\n");
        put_bulk(&mut resp3, m);
        resp3.put_u8(b',');
        resp3.put_slice(text.as_bytes());
        resp3.put_slice(b"\r\n");
    }
    Value::Raw {
        resp2: resp2.freeze(),
        resp3: resp3.freeze(),
    }
}

/// `[member, score]` pairs nested the same way in both protocols (ZMPOP's inner list).
pub(crate) fn pairs_array(items: Vec<(Bytes, f64)>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|(m, s)| Value::Array(vec![Value::Bulk(m), score_reply(s)]))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
