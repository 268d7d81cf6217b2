//! Parsing, formatting, glob matching, hashing and the seeded generator used by commands.

use bytes::Bytes;
use resp::Value;

/// Redis's `proto-max-bulk-len`: the largest string a command may build.
pub const MAX_STRING: usize = 512 * 1024 * 1024;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INT: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SYNTAX: &str = "ERR syntax error";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const NAN_INF: &str = "ERR increment would produce NaN or Infinity";
pub const POSITIVE: &str = "ERR value is out of range, must be positive";
pub const DB_RANGE: &str = "ERR DB index is out of range";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
/// getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX): counts that are negated (SRANDMEMBER...).
pub const RANGE_LONG: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

pub fn err(s: &str) -> Value {
    Value::Error(s.to_string())
}
pub fn ok() -> Value {
    Value::Simple("OK".to_string())
}
pub fn wrongtype() -> Value {
    err(WRONGTYPE)
}
pub fn bulk(b: &Bytes) -> Value {
    Value::Bulk(b.clone())
}
pub fn bulk_str(s: &str) -> Value {
    Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}
pub fn arity_err(name: &str) -> Value {
    Value::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}
pub fn expire_err(name: &str) -> Value {
    Value::Error(format!("ERR invalid expire time in '{name}' command"))
}

/// Redis's `string2ll`: canonical decimal only ("+1", " 1", "01", "-0" are rejected).
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, d) = if b[0] == b'-' {
        (true, &b[1..])
    } else {
        (false, b)
    };
    if d.is_empty() || !(b'1'..=b'9').contains(&d[0]) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(i64::from(c - b'0'))?;
    }
    if neg {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// `parse_i64` with Redis's standard error.
pub fn int_arg(b: &[u8]) -> Result<i64, Value> {
    parse_i64(b).ok_or_else(|| err(NOT_INT))
}

/// Redis's `string2ld`: no leading space, no trailing garbage, no NaN (infinities parse).
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5 * 1024 || b[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Redis's `stringmatchlen` (case-sensitive), including its guard against abusive patterns.
pub fn glob_match(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip = false;
    glob_impl(pattern, string, &mut skip, 0, false)
}

/// `stringmatchlen` with `nocase` (COMMAND LIST FILTERBY PATTERN).
pub fn glob_match_nocase(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip = false;
    glob_impl(pattern, string, &mut skip, 0, true)
}

#[allow(clippy::too_many_lines)]
fn glob_impl(pat: &[u8], s: &[u8], skip: &mut bool, nesting: u32, nocase: bool) -> bool {
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    if nesting > 1000 {
        return false;
    }
    let at = |i: usize| pat.get(i).copied().unwrap_or(0);
    let (mut p, mut si) = (0usize, 0usize);
    while p < pat.len() && si < s.len() {
        match pat[p] {
            b'*' => {
                while p < pat.len() && at(p + 1) == b'*' {
                    p += 1;
                }
                if pat.len() - p == 1 {
                    return true;
                }
                while si < s.len() {
                    if glob_impl(&pat[p + 1..], &s[si..], skip, nesting + 1, nocase) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    si += 1;
                }
                *skip = true;
                return false;
            }
            b'?' => si += 1,
            b'[' => {
                p += 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                let c = fold(s[si]);
                loop {
                    let plen = pat.len().saturating_sub(p);
                    if at(p) == b'\\' && plen >= 2 {
                        p += 1;
                        if fold(at(p)) == c {
                            matched = true;
                        }
                    } else if at(p) == b']' && plen > 0 {
                        break;
                    } else if plen == 0 {
                        p -= 1;
                        break;
                    } else if plen >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (fold(at(p)), fold(at(p + 2)));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if fold(at(p)) == c {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            ch => {
                let mut ch = ch;
                if ch == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    ch = pat[p];
                }
                if fold(ch) != fold(s[si]) {
                    return false;
                }
                si += 1;
            }
        }
        p += 1;
        if si == s.len() {
            while p < pat.len() && pat[p] == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && si == s.len()
}

/// FNV-1a 64 with a final mix: stable across builds and platforms (used in replicated state).
pub fn hash64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64 seeded from the command's context: deterministic choices.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_5eed_5eed_5eed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Clamps a Redis-style (start, end) pair with negative indexes to a slice range.
pub fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 {
        e = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return None;
    }
    Some((s as usize, e as usize))
}

/// LRANGE/LTRIM index clamping (unlike GETRANGE, a negative end is not raised to 0).
pub fn list_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut e = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

/// Redis's `getRangeLongFromObjectOrReply`: an integer within `min..=max`, with its errors.
pub fn range_arg(b: &[u8], min: i64, max: i64) -> Result<i64, Value> {
    let n = int_arg(b)?;
    if n < min || n > max {
        return Err(Value::Error(format!(
            "ERR value is out of range, value must between {min} and {max}"
        )));
    }
    Ok(n)
}

/// Redis's `getIntFromObjectOrReply`: a C `int`.
pub fn int32_arg(b: &[u8]) -> Result<i64, Value> {
    range_arg(b, i64::from(i32::MIN), i64::from(i32::MAX))
}

/// The digits after `0x` of a C hex float (`1.8p3`: mantissa, optional point, optional binary
/// exponent), and whether any mantissa digit is nonzero (to tell underflow from zero). Out of
/// f64 range it gives an infinity or a zero; the caller decides what that means.
pub fn hex_float(s: &str) -> Option<(f64, bool)> {
    let (mant, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let nonzero = v != 0.0;
    let shift = i64::from(exp) - 4 * frac.len() as i64;
    // Two steps, so that a large mantissa with a very negative exponent is not lost.
    let half = (shift / 2).clamp(-1100, 1100) as i32;
    let rest = (shift - shift / 2).clamp(-1100, 1100) as i32;
    Some((v * 2f64.powi(half) * 2f64.powi(rest), nonzero))
}

/// A list of pairs as Redis 7 replies them: flat in RESP2 (`f1 v1 f2 v2`), an array of
/// two-element arrays in RESP3 (`[[f1, v1], [f2, v2]]`), e.g. HRANDFIELD ... WITHVALUES.
pub fn pairs_reply(pairs: Vec<(Value, Value)>) -> Value {
    let mut flat = Vec::with_capacity(pairs.len() * 2);
    let mut nested = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        flat.push(k.clone());
        flat.push(v.clone());
        nested.push(Value::Array(vec![k, v]));
    }
    let mut resp2 = bytes::BytesMut::new();
    let mut resp3 = bytes::BytesMut::new();
    resp::encode(&Value::Array(flat), resp::Protocol::Resp2, &mut resp2);
    resp::encode(&Value::Array(nested), resp::Protocol::Resp3, &mut resp3);
    Value::Raw {
        resp2: resp2.freeze(),
        resp3: resp3.freeze(),
    }
}
