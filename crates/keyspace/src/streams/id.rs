//! Stream ids (`<ms>-<seq>`) and Redis's rules for parsing them.

use std::fmt;

use bytes::Bytes;
use resp::Value;

use crate::util::err;

pub(crate) const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// A stream entry id: milliseconds, then a sequence number within the millisecond. Ordered
/// as Redis orders them (ms first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next id, or `None` past the last possible one (Redis's `streamIncrID` error).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous id, or `None` before 0-0 (Redis's `streamDecrID` error).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    pub fn reply(self) -> Value {
        Value::Bulk(Bytes::from(self.to_string()))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis's `string2ull`: a canonical decimal (`string2ll`, refusing negatives), else what C's
/// `strtoull` takes whole: leading white space, a sign (a minus wraps, as in C), leading
/// zeros, digits only after them, no overflow.
fn parse_u64(b: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::parse_i64(b) {
        return u64::try_from(v).ok();
    }
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    let (negative, digits) = match b[start] {
        b'-' => (true, &b[start + 1..]),
        b'+' => (false, &b[start + 1..]),
        _ => (false, &b[start..]),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// What an id argument said: an id, or (for XADD) `<ms>-*` asking for the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub id: StreamId,
    pub seq_given: bool,
}

/// Redis's `streamGenericParseIDOrReply`. `missing_seq` fills a bare `<ms>`; `strict`
/// refuses `-` and `+`; `allow_seq_star` accepts `<ms>-*` (XADD only).
pub(crate) fn parse_generic(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_seq_star: bool,
) -> Result<Parsed, Value> {
    let invalid = || err(INVALID_ID);
    if b.len() > 127 {
        return Err(invalid());
    }
    // C stops at a NUL byte: what follows it is ignored.
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    if strict && (b == b"-" || b == b"+") {
        return Err(invalid());
    }
    if b == b"-" {
        return Ok(Parsed {
            id: StreamId::MIN,
            seq_given: true,
        });
    }
    if b == b"+" {
        return Ok(Parsed {
            id: StreamId::MAX,
            seq_given: true,
        });
    }
    let (ms, seq) = match b.iter().position(|&c| c == b'-') {
        Some(dash) => (&b[..dash], Some(&b[dash + 1..])),
        None => (b, None),
    };
    let ms = parse_u64(ms).ok_or_else(invalid)?;
    match seq {
        None => Ok(Parsed {
            id: StreamId::new(ms, missing_seq),
            seq_given: true,
        }),
        Some(b"*") if allow_seq_star => Ok(Parsed {
            id: StreamId::new(ms, 0),
            seq_given: false,
        }),
        Some(seq) => Ok(Parsed {
            id: StreamId::new(ms, parse_u64(seq).ok_or_else(invalid)?),
            seq_given: true,
        }),
    }
}

/// An id where `-` and `+` are allowed (range bounds).
pub(crate) fn parse(b: &[u8], missing_seq: u64) -> Result<StreamId, Value> {
    parse_generic(b, missing_seq, false, false).map(|p| p.id)
}

/// An id where `-` and `+` are refused.
pub(crate) fn parse_strict(b: &[u8]) -> Result<StreamId, Value> {
    parse_generic(b, 0, true, false).map(|p| p.id)
}

/// A range bound, maybe exclusive (`(id`), turned inclusive: an exclusive start moves to the
/// next id, an exclusive end to the previous one (Redis's errors when there is none).
pub(crate) fn parse_bound(b: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Value> {
    if b.len() > 1 && b[0] == b'(' {
        let id = parse_generic(&b[1..], missing_seq, true, false)?.id;
        return if start {
            id.next()
                .ok_or_else(|| err("ERR invalid start ID for the interval"))
        } else {
            id.prev()
                .ok_or_else(|| err("ERR invalid end ID for the interval"))
        };
    }
    parse(b, missing_seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(parse(b"5", 0), Ok(StreamId::new(5, 0)));
        assert_eq!(parse(b"5", u64::MAX), Ok(StreamId::new(5, u64::MAX)));
        assert_eq!(parse(b"5-3", 0), Ok(StreamId::new(5, 3)));
        assert_eq!(parse(b"-", 0), Ok(StreamId::MIN));
        assert_eq!(parse(b"+", 0), Ok(StreamId::MAX));
        assert!(parse_strict(b"+").is_err());
        assert!(parse(b"5-", 0).is_err());
        assert!(parse(b"-5", 0).is_err());
        assert!(parse(b"5-3-1", 0).is_err());
        assert!(parse(b"18446744073709551616", 0).is_err());
        assert_eq!(
            parse_generic(b"7-*", 0, true, true),
            Ok(Parsed {
                id: StreamId::new(7, 0),
                seq_given: false
            })
        );
        assert!(parse(b"7-*", 0).is_err());
        assert_eq!(parse_bound(b"(5-3", 0, true), Ok(StreamId::new(5, 4)));
        assert_eq!(
            parse_bound(b"(5-0", 0, false),
            Ok(StreamId::new(4, u64::MAX))
        );
        assert!(parse_bound(b"(0-0", 0, false).is_err());
    }
}
