//! List commands.

use std::collections::VecDeque;

use bytes::Bytes;
use resp::Value;

use crate::util::*;
use crate::{notify_class, Context, Keyspace};

fn push(ks: &mut Keyspace, a: &[Bytes], c: &Context, left: bool, create: bool) -> Value {
    let l = match ks.list_mut(&a[1], c.now_ms, create) {
        Ok(Some(l)) => l,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    for v in &a[2..] {
        if left {
            l.push_front(v.clone());
        } else {
            l.push_back(v.clone());
        }
    }
    let n = l.len() as i64;
    ks.changed(&a[1], notify_class::LIST, push_event(left));
    Value::Integer(n)
}

/// The event of a push to the head (`left`) or the tail.
fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// The event of a pop from the head (`left`) or the tail.
fn pop_event(left: bool) -> &'static str {
    if left {
        "lpop"
    } else {
        "rpop"
    }
}

pub fn lpush(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    push(ks, a, c, true, true)
}
pub fn rpush(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    push(ks, a, c, false, true)
}
pub fn lpushx(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    push(ks, a, c, true, false)
}
pub fn rpushx(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    push(ks, a, c, false, false)
}

fn pop(ks: &mut Keyspace, a: &[Bytes], c: &Context, left: bool) -> Value {
    let name = if left { "lpop" } else { "rpop" };
    if a.len() > 3 {
        return arity_err(name);
    }
    let count = if a.len() == 3 {
        match parse_i64(&a[2]) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return err(POSITIVE),
        }
    } else {
        None
    };
    let l = match ks.list_mut(&a[1], c.now_ms, false) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return if count.is_some() {
                Value::NullArray
            } else {
                Value::Null
            }
        }
        Err(e) => return e,
    };
    let reply = match count {
        Some(0) => return Value::Array(vec![]),
        None => {
            let v = if left { l.pop_front() } else { l.pop_back() };
            v.map_or(Value::Null, Value::Bulk)
        }
        Some(n) => {
            let n = n.min(l.len());
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                if let Some(v) = if left { l.pop_front() } else { l.pop_back() } {
                    out.push(Value::Bulk(v));
                }
            }
            Value::Array(out)
        }
    };
    ks.changed(&a[1], notify_class::LIST, pop_event(left));
    reply
}

pub fn lpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    pop(ks, a, c, true)
}
pub fn rpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    pop(ks, a, c, false)
}

pub fn llen(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_list(&a[1], c.now_ms) {
        Ok(l) => Value::Integer(l.map_or(0, |l| l.len() as i64)),
        Err(e) => e,
    }
}

pub fn lrange(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (s, e) = match (int_arg(&a[2]), int_arg(&a[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(x), _) | (_, Err(x)) => return x,
    };
    let l = match ks.get_list(&a[1], c.now_ms) {
        Ok(Some(l)) => l,
        Ok(None) => return Value::Array(vec![]),
        Err(x) => return x,
    };
    match list_range(s, e, l.len()) {
        Some((s, e)) => Value::Array(l.range(s..=e).map(bulk).collect()),
        None => Value::Array(vec![]),
    }
}

fn index_of(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i.checked_add(len as i64)? } else { i };
    if i < 0 || i >= len as i64 {
        None
    } else {
        Some(i as usize)
    }
}

// LINDEX and LSET look the key up before they read the index (a missing or wrong-type key
// answers first), as Redis does.
pub fn lindex(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let l = match ks.get_list(&a[1], c.now_ms) {
        Ok(Some(l)) => l,
        Ok(None) => return Value::Null,
        Err(e) => return e,
    };
    match int_arg(&a[2]) {
        Ok(i) => index_of(i, l.len())
            .and_then(|i| l.get(i))
            .map_or(Value::Null, bulk),
        Err(e) => e,
    }
}

pub fn lset(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let l = match ks.list_mut(&a[1], c.now_ms, false) {
        Ok(Some(l)) => l,
        Ok(None) => return err("ERR no such key"),
        Err(e) => return e,
    };
    let i = match int_arg(&a[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let Some(slot) = index_of(i, l.len()).and_then(|i| l.get_mut(i)) else {
        return err("ERR index out of range");
    };
    *slot = a[3].clone();
    ks.changed(&a[1], notify_class::LIST, "lset");
    ok()
}

pub fn lrem(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let count = match int_arg(&a[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let l = match ks.list_mut(&a[1], c.now_ms, false) {
        Ok(Some(l)) => l,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let target = &a[3];
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs().min(usize::MAX as u64) as usize
    };
    let mut removed = 0usize;
    if count >= 0 {
        let mut i = 0;
        while i < l.len() && removed < limit {
            if l[i] == *target {
                l.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = l.len();
        while i > 0 && removed < limit {
            i -= 1;
            if l[i] == *target {
                l.remove(i);
                removed += 1;
            }
        }
    }
    if removed > 0 {
        ks.changed(&a[1], notify_class::LIST, "lrem");
    }
    Value::Integer(removed as i64)
}

pub fn ltrim(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (s, e) = match (int_arg(&a[2]), int_arg(&a[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(x), _) | (_, Err(x)) => return x,
    };
    let l = match ks.list_mut(&a[1], c.now_ms, false) {
        Ok(Some(l)) => l,
        Ok(None) => return ok(),
        Err(x) => return x,
    };
    match list_range(s, e, l.len()) {
        Some((s, e)) => {
            l.truncate(e + 1);
            l.drain(..s);
        }
        None => l.clear(),
    }
    ks.changed(&a[1], notify_class::LIST, "ltrim");
    ok()
}

pub fn linsert(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let before = match a[2].to_ascii_uppercase().as_slice() {
        b"BEFORE" => true,
        b"AFTER" => false,
        _ => return err(SYNTAX),
    };
    let l = match ks.list_mut(&a[1], c.now_ms, false) {
        Ok(Some(l)) => l,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let Some(pos) = l.iter().position(|v| *v == a[3]) else {
        return Value::Integer(-1);
    };
    l.insert(if before { pos } else { pos + 1 }, a[4].clone());
    let n = l.len() as i64;
    ks.changed(&a[1], notify_class::LIST, "linsert");
    Value::Integer(n)
}

/// A list end: LEFT (head) or RIGHT (tail).
#[derive(Clone, Copy, PartialEq)]
enum End {
    Left,
    Right,
}

fn end_arg(b: &[u8]) -> Result<End, Value> {
    match b.to_ascii_uppercase().as_slice() {
        b"LEFT" => Ok(End::Left),
        b"RIGHT" => Ok(End::Right),
        _ => Err(err(SYNTAX)),
    }
}

fn pop_end(l: &mut VecDeque<Bytes>, end: End) -> Option<Bytes> {
    match end {
        End::Left => l.pop_front(),
        End::Right => l.pop_back(),
    }
}

fn push_end(l: &mut VecDeque<Bytes>, end: End, v: Bytes) {
    match end {
        End::Left => l.push_front(v),
        End::Right => l.push_back(v),
    }
}

/// Moves one element from `src`'s `from` end to `dst`'s `to` end (LMOVE). `None` when `src`
/// is missing, without looking at `dst` (as Redis).
fn move_one(
    ks: &mut Keyspace,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
    now: u64,
) -> Result<Option<Bytes>, Value> {
    if ks.get_list(src, now)?.is_none() {
        return Ok(None);
    }
    ks.get_list(dst, now)?;
    let Some(v) = ks.list_mut(src, now, false)?.and_then(|l| pop_end(l, from)) else {
        return Ok(None);
    };
    // Push before recording the pop, so a one-element list rotated onto itself survives.
    if let Some(d) = ks.list_mut(dst, now, true)? {
        push_end(d, to, v.clone());
    }
    // Redis's order (t_list.c `lmoveGenericCommand`): the push, then the pop.
    ks.notify(notify_class::LIST, push_event(to == End::Left), dst);
    ks.changed(src, notify_class::LIST, pop_event(from == End::Left));
    ks.modified(dst);
    Ok(Some(v))
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (from, to) = match (end_arg(&a[3]), end_arg(&a[4])) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match move_one(ks, &a[1], &a[2], from, to, c.now_ms) {
        Ok(v) => v.map_or(Value::Null, Value::Bulk),
        Err(e) => e,
    }
}

/// RPOPLPUSH source destination (LMOVE source destination RIGHT LEFT)
pub fn rpoplpush(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match move_one(ks, &a[1], &a[2], End::Right, End::Left, c.now_ms) {
        Ok(v) => v.map_or(Value::Null, Value::Bulk),
        Err(e) => e,
    }
}

/// The arguments of LMPOP/BLMPOP after the command (and timeout): numkeys key... LEFT|RIGHT
/// [COUNT n].
struct Mpop<'a> {
    keys: &'a [Bytes],
    end: End,
    count: u64,
}

fn mpop_args(a: &[Bytes]) -> Result<Mpop<'_>, Value> {
    let numkeys = match parse_i64(&a[0]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(err("ERR numkeys should be greater than 0")),
    };
    // The LEFT|RIGHT argument must follow the keys.
    if numkeys >= a.len() as u64 - 1 {
        return Err(err(SYNTAX));
    }
    let n = numkeys as usize;
    let end = end_arg(&a[n + 1])?;
    let mut count = None;
    let mut j = n + 2;
    while j < a.len() {
        if count.is_none() && a[j].eq_ignore_ascii_case(b"COUNT") && j + 1 < a.len() {
            match parse_i64(&a[j + 1]) {
                Some(c) if c >= 1 => count = Some(c as u64),
                _ => return Err(err("ERR count should be greater than 0")),
            }
            j += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    Ok(Mpop {
        keys: &a[1..=n],
        end,
        count: count.unwrap_or(1),
    })
}

/// Pops up to `count` elements from the first non-empty list among `keys`: [key, [elements]].
/// `None` when every list is empty. A key of another type met first is WRONGTYPE.
fn mpop(ks: &mut Keyspace, m: &Mpop, now: u64) -> Result<Option<Value>, Value> {
    for key in m.keys {
        let Some(l) = ks.list_mut(key, now, false)? else {
            continue;
        };
        let n = m.count.min(l.len() as u64) as usize;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if let Some(v) = pop_end(l, m.end) {
                out.push(Value::Bulk(v));
            }
        }
        ks.changed(key, notify_class::LIST, pop_event(m.end == End::Left));
        return Ok(Some(Value::Array(vec![bulk(key), Value::Array(out)])));
    }
    Ok(None)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let m = match mpop_args(&a[1..]) {
        Ok(m) => m,
        Err(e) => return e,
    };
    match mpop(ks, &m, c.now_ms) {
        Ok(v) => v.unwrap_or(Value::NullArray),
        Err(e) => e,
    }
}

/// The options of LPOS: (rank, count, maxlen), checked before the key as Redis does.
fn lpos_opts(a: &[Bytes]) -> Result<(i64, Option<u64>, u64), Value> {
    let (mut rank, mut count, mut maxlen) = (1, None, 0);
    let mut j = 3;
    while j < a.len() {
        let opt = a[j].to_ascii_uppercase();
        let Some(v) = a.get(j + 1) else {
            return Err(err(SYNTAX));
        };
        match opt.as_slice() {
            b"RANK" => match int_arg(v)? {
                0 => {
                    return Err(err(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from \
                         the second ... or use negative to start from the end of the list",
                    ))
                }
                r => rank = r,
            },
            b"COUNT" => match parse_i64(v) {
                Some(n) if n >= 0 => count = Some(n as u64),
                _ => return Err(err("ERR COUNT can't be negative")),
            },
            b"MAXLEN" => match parse_i64(v) {
                Some(n) if n >= 0 => maxlen = n as u64,
                _ => return Err(err("ERR MAXLEN can't be negative")),
            },
            _ => return Err(err(SYNTAX)),
        }
        j += 2;
    }
    Ok((rank, count, maxlen))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (rank, count, maxlen) = match lpos_opts(a) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let l = match ks.get_list(&a[1], c.now_ms) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return if count.is_some() {
                Value::Array(vec![])
            } else {
                Value::Null
            }
        }
        Err(e) => return e,
    };
    // COUNT 0 means every match; MAXLEN 0 means the whole list. Redis stops once
    // `matches - rank + 1 >= count` in C's wrapping arithmetic: with RANK i64::MIN that sum
    // is negative, so every match is returned whatever the COUNT.
    let want = match count {
        Some(0) => u64::MAX,
        Some(_) if rank == i64::MIN => u64::MAX,
        Some(n) => n,
        None => 1,
    };
    let scan = if maxlen == 0 {
        l.len()
    } else {
        (maxlen.min(l.len() as u64)) as usize
    };
    // Matches to skip before reporting: RANK -n counts from the tail. (Redis compares the
    // match number with the rank, so i64::MIN behaves as -1.)
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let positions: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..scan)
    } else {
        Box::new((l.len() - scan..l.len()).rev())
    };
    let mut found = Vec::new();
    let mut seen = 0u64;
    for i in positions {
        if l[i] != a[2] {
            continue;
        }
        seen += 1;
        if seen > skip {
            found.push(Value::Integer(i as i64));
            if found.len() as u64 >= want {
                break;
            }
        }
    }
    if count.is_some() {
        Value::Array(found)
    } else {
        found.into_iter().next().unwrap_or(Value::Null)
    }
}

// ---- blocking commands: the keyspace's part ----

/// What a blocking command (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
/// BZMPOP) can do now.
#[derive(Debug, PartialEq)]
pub enum BlockingPop {
    /// Answer now: the popped element(s) in the blocking command's reply shape, or an error.
    Reply(Value),
    /// Nothing to pop: block the client until one of `keys` may have data, for `timeout_ms`
    /// (0 = forever, as Redis's timeout 0).
    Block { keys: Vec<Bytes>, timeout_ms: u64 },
}

/// The `timeout` argument of a blocking command, in milliseconds, with Redis 7.0's rules: a
/// long double (no leading space, nothing after it, not NaN, within long double range) of
/// seconds, times 1000, rounded up; what is below 0 or does not fit an i64 (an infinity,
/// 1e300) is "negative" there, because C's conversion makes it LLONG_MIN.
pub fn timeout_arg(b: &[u8]) -> Result<u64, Value> {
    const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
    const NEGATIVE: &str = "ERR timeout is negative";
    let text = std::str::from_utf8(b)
        .ok()
        .filter(|t| !t.is_empty() && t.len() < 5 * 1024 && !t.as_bytes()[0].is_ascii_whitespace())
        .ok_or_else(|| err(NOT_FLOAT))?;
    let secs = long_double(text).ok_or_else(|| err(NOT_FLOAT))?;
    // A plain decimal exactly (a long double holds 9223372036854775 s to the millisecond,
    // an f64 does not); hex floats and infinities through f64.
    let ms = match decimal_ms(text) {
        Some(ms) => ms,
        None => {
            let ms = (secs * 1000.0).ceil();
            if ms.is_nan() || !(0.0..9.223_372_036_854_776e18).contains(&ms) {
                return Err(err(NEGATIVE));
            }
            ms as i128
        }
    };
    // What does not fit an i64 is LLONG_MIN after C's conversion: "negative" too.
    if ms > i128::from(i64::MAX) || ms < -1 || (ms == -1 && !is_minus_one_thousandth(b)) {
        return Err(err(NEGATIVE));
    }
    Ok(ms.max(0) as u64)
}

/// Whether a decimal is exactly -0.001 ("-0.001", "-1e-3", "-.0010"): a long double holds
/// it a hair closer to zero, so times 1000 rounded up it is 0 ms for Redis, not -1 (checked
/// against Redis 7.0.15: `BZPOPMIN z -0.001` pops).
fn is_minus_one_thousandth(s: &[u8]) -> bool {
    let Some(s) = s.strip_prefix(b"-") else {
        return false;
    };
    let (mantissa, exp) = match s.iter().position(|&c| c == b'e' || c == b'E') {
        Some(at) => (
            &s[..at],
            std::str::from_utf8(&s[at + 1..])
                .ok()
                .and_then(|e| e.parse::<i64>().ok()),
        ),
        None => (s, Some(0)),
    };
    let Some(exp) = exp else {
        return false;
    };
    let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &[][..]),
    };
    if !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return false;
    }
    // Significant digits and the exponent of the last one: value = digits * 10^(exp - frac).
    let all: Vec<u8> = int.iter().chain(frac).copied().collect();
    let trimmed_start = all.iter().position(|&c| c != b'0').unwrap_or(all.len());
    let trimmed_end = all.iter().rposition(|&c| c != b'0').map_or(0, |p| p + 1);
    if trimmed_start >= trimmed_end {
        return false;
    }
    let last_exp = exp - frac.len() as i64 + (all.len() - trimmed_end) as i64;
    &all[trimmed_start..trimmed_end] == b"1" && last_exp == -3
}

/// ceil(x * 1000) of a plain decimal `x` (`-12.5e-1`), computed exactly; `None` for other
/// forms (hex, infinities) or more than 36 significant digits. Huge results saturate.
fn decimal_ms(text: &str) -> Option<i128> {
    let (neg, s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = || int.bytes().chain(frac.bytes());
    if int.len() + frac.len() == 0 || !digits().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let significant: Vec<u8> = digits().skip_while(|&c| c == b'0').collect();
    if significant.len() > 36 {
        return None;
    }
    let m = significant
        .iter()
        .fold(0u128, |m, &c| m * 10 + u128::from(c - b'0'));
    let k = exp.saturating_sub(frac.len() as i64).saturating_add(3);
    let magnitude: u128 = if m == 0 {
        0
    } else if k >= 0 {
        u32::try_from(k)
            .ok()
            .and_then(|k| 10u128.checked_pow(k))
            .and_then(|p| m.checked_mul(p))
            .unwrap_or(u128::MAX)
    } else {
        match u32::try_from(-k).ok().and_then(|k| 10u128.checked_pow(k)) {
            // Round away from zero for positives (ceil), toward zero for negatives.
            Some(d) => m / d + u128::from(!neg && m % d != 0),
            None => u128::from(!neg),
        }
    };
    let v = i128::try_from(magnitude).unwrap_or(i128::MAX);
    Some(if neg { -v } else { v })
}

/// Parses like C's `strtold` on the whole text: `None` for syntax errors, NaN and values
/// beyond long double range (|x| > ~1.19e4932, or nonzero below ~3.6e-4951); values that
/// fit a long double but not an f64 become infinities or zeros of the right sign.
fn long_double(text: &str) -> Option<f64> {
    let (neg, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        hex_float(hex)?.0
    } else {
        let v: f64 = unsigned.parse().ok()?;
        if v.is_nan() {
            return None;
        }
        if (v.is_infinite() && !lower.starts_with("inf")) || (v == 0.0 || v.abs() < 1e-300) {
            // Beyond f64: decide by the decimal exponent whether a long double holds it.
            if let Some(e) = decimal_exponent(unsigned) {
                if !(-4951..=4932).contains(&e) {
                    return None;
                }
            }
        }
        v
    };
    Some(if neg { -v } else { v })
}

/// The power of ten of a decimal's leading nonzero digit (`0.05` -> -2, `12e3` -> 4); `None`
/// when every digit is zero.
fn decimal_exponent(s: &str) -> Option<i64> {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], saturating_exponent(&s[i + 1..])),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let int = int.trim_start_matches('0');
    if !int.is_empty() {
        return Some(int.len() as i64 - 1 + exp);
    }
    let zeros = frac.bytes().take_while(|&c| c == b'0').count();
    if zeros == frac.len() {
        return None;
    }
    Some(-(zeros as i64) - 1 + exp)
}

/// A decimal exponent (`-12`, `+400`), saturating far beyond any float's range.
fn saturating_exponent(e: &str) -> i64 {
    let (neg, digits) = match e.as_bytes().first() {
        Some(b'-') => (true, &e[1..]),
        Some(b'+') => (false, &e[1..]),
        _ => (false, e),
    };
    let v = digits.bytes().fold(0i64, |v, c| {
        v.saturating_mul(10)
            .saturating_add(i64::from(c.wrapping_sub(b'0')))
    });
    if neg {
        -v
    } else {
        v
    }
}

/// BLPOP/BRPOP: the first non-empty list among the keys.
fn try_bpop(ks: &mut Keyspace, a: &[Bytes], now: u64, end: End) -> BlockingPop {
    let keys = &a[1..a.len() - 1];
    let timeout_ms = match timeout_arg(&a[a.len() - 1]) {
        Ok(t) => t,
        Err(e) => return BlockingPop::Reply(e),
    };
    for key in keys {
        match ks.list_mut(key, now, false) {
            Err(e) => return BlockingPop::Reply(e),
            Ok(None) => {}
            Ok(Some(l)) => {
                if let Some(v) = pop_end(l, end) {
                    ks.changed(key, notify_class::LIST, pop_event(end == End::Left));
                    return BlockingPop::Reply(Value::Array(vec![bulk(key), Value::Bulk(v)]));
                }
            }
        }
    }
    BlockingPop::Block {
        keys: keys.to_vec(),
        timeout_ms,
    }
}

/// BLMOVE/BRPOPLPUSH: the source's element if it has one. An empty source blocks without
/// looking at the destination (as Redis).
fn try_bmove(
    ks: &mut Keyspace,
    a: &[Bytes],
    now: u64,
    from: End,
    to: End,
    t: &[u8],
) -> BlockingPop {
    let timeout_ms = match timeout_arg(t) {
        Ok(t) => t,
        Err(e) => return BlockingPop::Reply(e),
    };
    match move_one(ks, &a[1], &a[2], from, to, now) {
        Ok(Some(v)) => BlockingPop::Reply(Value::Bulk(v)),
        Ok(None) => BlockingPop::Block {
            keys: vec![a[1].clone()],
            timeout_ms,
        },
        Err(e) => BlockingPop::Reply(e),
    }
}

/// BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT n] (its timeout is checked last, as in
/// Redis 7.0).
fn try_bmpop(ks: &mut Keyspace, a: &[Bytes], now: u64) -> BlockingPop {
    let m = match mpop_args(&a[2..]) {
        Ok(m) => m,
        Err(e) => return BlockingPop::Reply(e),
    };
    let timeout_ms = match timeout_arg(&a[1]) {
        Ok(t) => t,
        Err(e) => return BlockingPop::Reply(e),
    };
    match mpop(ks, &m, now) {
        Ok(Some(v)) => BlockingPop::Reply(v),
        Ok(None) => BlockingPop::Block {
            keys: m.keys.to_vec(),
            timeout_ms,
        },
        Err(e) => BlockingPop::Reply(e),
    }
}

/// Runs a blocking list command without blocking: pops now if it can. `a` must have passed
/// the table's arity check.
pub(crate) fn try_blocking(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> BlockingPop {
    let now = c.now_ms;
    match a[0].to_ascii_lowercase().as_slice() {
        b"blpop" => try_bpop(ks, a, now, End::Left),
        b"brpop" => try_bpop(ks, a, now, End::Right),
        b"blmove" => match (end_arg(&a[3]), end_arg(&a[4])) {
            (Ok(f), Ok(t)) => try_bmove(ks, a, now, f, t, &a[5]),
            (Err(e), _) | (_, Err(e)) => BlockingPop::Reply(e),
        },
        b"brpoplpush" => try_bmove(ks, a, now, End::Right, End::Left, &a[3]),
        b"blmpop" => try_bmpop(ks, a, now),
        _ => BlockingPop::Reply(err("ERR not a blocking list command")),
    }
}

/// The table's handler for the blocking commands: the blocking command whose timeout has
/// already run out, as Redis runs it inside MULTI (nothing to pop = a nil reply).
fn blocking_now(ks: &mut Keyspace, a: &[Bytes], c: &Context, nil: Value) -> Value {
    match try_blocking(ks, a, c) {
        BlockingPop::Reply(v) => v,
        BlockingPop::Block { .. } => nil,
    }
}

pub fn blpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c, Value::NullArray)
}
pub fn brpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c, Value::NullArray)
}
pub fn blmpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c, Value::NullArray)
}
pub fn blmove(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c, Value::Null)
}
pub fn brpoplpush(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c, Value::Null)
}
