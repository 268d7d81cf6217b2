//! SORT and SORT_RO: sort a list, set or sorted set by its elements or by keys named after
//! them (`BY weight_*`, `BY obj_*->field`), fetch other keys per element (`GET`), page with
//! LIMIT, and return or STORE the result.
//!
//! Pattern keys are looked up in this keyspace, i.e. in the Raft group of the sorted key: keys
//! of another group read as missing (hash tags such as `{t}w_*` keep them together).

use std::cmp::Ordering;
use std::collections::VecDeque;

use bytes::Bytes;
use resp::Value;

use crate::util::*;
use crate::{notify_class, Context, Data, Keyspace};

const SCORE_ERR: &str = "ERR One or more scores can't be converted into double";

/// The parsed options of one SORT call.
struct Opts {
    by: Option<Bytes>,
    /// `BY` a pattern without `*`: keep the value's own order.
    dontsort: bool,
    gets: Vec<Bytes>,
    limit_start: i64,
    limit_count: i64,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

/// C string view of an argument: Redis searches patterns with `strchr`/`strstr`, which stop
/// at the first NUL byte.
fn c_prefix(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

fn parse(a: &[Bytes], readonly: bool) -> Result<Opts, Value> {
    let mut o = Opts {
        by: None,
        dontsort: false,
        gets: Vec::new(),
        limit_start: 0,
        limit_count: -1,
        desc: false,
        alpha: false,
        store: None,
    };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let opt = a[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"asc" => o.desc = false,
            b"desc" => o.desc = true,
            b"alpha" => o.alpha = true,
            b"limit" if left >= 2 => {
                o.limit_start = int_arg(&a[j + 1])?;
                o.limit_count = int_arg(&a[j + 2])?;
                j += 2;
            }
            b"store" if left >= 1 && !readonly => {
                o.store = Some(a[j + 1].clone());
                j += 1;
            }
            b"by" if left >= 1 => {
                // Once a constant BY is seen, Redis never sorts (a later BY does not undo it).
                if !c_prefix(&a[j + 1]).contains(&b'*') {
                    o.dontsort = true;
                }
                o.by = Some(a[j + 1].clone());
                j += 1;
            }
            b"get" if left >= 1 => {
                o.gets.push(a[j + 1].clone());
                j += 1;
            }
            _ => return Err(err(SYNTAX)),
        }
        j += 1;
    }
    Ok(o)
}

/// The value of the key a pattern names for one element: `#` is the element itself; the first
/// `*` is replaced by the element; `key_*->field` reads a hash field. Anything else (no `*`,
/// missing key, wrong type) is `None`.
fn lookup(ks: &Keyspace, pattern: &[u8], elem: &Bytes, now: u64) -> Option<Bytes> {
    let cpat = c_prefix(pattern);
    if cpat == b"#" {
        return Some(elem.clone());
    }
    let star = cpat.iter().position(|&c| c == b'*')?;
    let after = &cpat[star + 1..];
    // A hash field: `->` after the `*`, followed by at least one byte.
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < after.len());
    let (post_end, field) = match arrow {
        Some(i) => (star + 1 + i, Some(&pattern[star + 1 + i + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post_end - star);
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..post_end]);
    match (&ks.get(&key, now)?.data, field) {
        (Data::Str(s), None) => Some(s.clone()),
        (Data::Hash(h), Some(f)) => h.get(f).cloned(),
        _ => None,
    }
}

/// The elements to sort, in the value's own order, and whether that order means something
/// (lists and sorted sets: `BY nosort` keeps it, DESC reverses it; a set's order is arbitrary).
fn elements(ks: &Keyspace, key: &[u8], now: u64) -> Result<(Vec<Bytes>, bool), Value> {
    match ks.get(key, now).map(|e| &e.data) {
        None => Ok((Vec::new(), true)),
        Some(Data::List(l)) => Ok((l.iter().cloned().collect(), true)),
        Some(Data::Set(s)) => Ok((s.iter().cloned().collect(), false)),
        // Members in score order (ties by member), as ZRANGE 0 -1 gives them.
        Some(Data::ZSet(z)) => Ok((z.iter().map(|(m, _)| m.clone()).collect(), true)),
        Some(_) => Err(wrongtype()),
    }
}

/// C's `strtod` over a whole string, as Redis's SORT applies it: the text is cut at a NUL
/// byte, may start with white space, must be consumed entirely; overflow, underflow (to zero
/// or a subnormal) and NaN are errors; an empty string is 0.
fn strtod_score(b: &[u8]) -> Option<f64> {
    let b = c_prefix(b);
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let text = std::str::from_utf8(&b[start..]).ok()?;
    let (neg, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        // An exact hex subnormal (0x1p-1074) is no range error; overflow and a nonzero
        // value lost to zero are.
        let (v, nonzero) = hex_float(hex)?;
        if v.is_infinite() || (nonzero && v == 0.0) {
            return None; // ERANGE
        }
        v
    } else {
        let v: f64 = unsigned.parse().ok()?;
        if v.is_nan() {
            return None;
        }
        let literal_inf = lower.starts_with("inf");
        if v.is_infinite() && !literal_inf {
            return None; // ERANGE: overflow
        }
        let nonzero_digits = unsigned
            .bytes()
            .take_while(|c| *c != b'e' && *c != b'E')
            .any(|c| (b'1'..=b'9').contains(&c));
        if (v == 0.0 && nonzero_digits) || (v != 0.0 && v.abs() < f64::MIN_POSITIVE) {
            return None; // ERANGE: underflow
        }
        v
    };
    Some(if neg { -v } else { v })
}

/// What an element sorts by.
enum SortKey {
    Score(f64),
    Text(Option<Bytes>),
}

fn compare(a: &(Bytes, SortKey), b: &(Bytes, SortKey)) -> Ordering {
    match (&a.1, &b.1) {
        // Equal scores fall back to the elements, so the result is deterministic.
        (SortKey::Score(x), SortKey::Score(y)) => x
            .partial_cmp(y)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0)),
        // ALPHA BY: a missing key sorts first; equal texts keep their order.
        (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Redis's LIMIT clamping: the (start, end) index range to output, `end < start` when empty.
fn limit_range(start: i64, count: i64, len: usize) -> (i64, i64) {
    let len = len as i64;
    let mut start = start.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// The elements in output order (before GET), or the score conversion error.
fn sorted(ks: &Keyspace, key: &[u8], o: &mut Opts, now: u64) -> Result<Vec<Bytes>, Value> {
    let (items, ordered) = elements(ks, key, now)?;
    // An unordered set must still give every replica (and Redis's replicas) the same stored
    // list: Redis forces an ALPHA sort there.
    if o.dontsort && !ordered && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let (start, end) = limit_range(o.limit_start, o.limit_count, items.len());
    let take = |v: Vec<Bytes>| -> Vec<Bytes> {
        if end < start {
            return Vec::new();
        }
        v.into_iter()
            .skip(start as usize)
            .take((end - start + 1) as usize)
            .collect()
    };
    if o.dontsort {
        let mut items = items;
        if ordered && o.desc {
            items.reverse();
        }
        return Ok(take(items));
    }
    let mut keyed = Vec::with_capacity(items.len());
    let mut bad = false;
    for e in items {
        let by = match &o.by {
            Some(p) => lookup(ks, p, &e, now),
            None => Some(e.clone()),
        };
        let k = if o.alpha {
            // Without BY the element itself is compared (C locale: bytewise).
            SortKey::Text(if o.by.is_some() { by } else { Some(e.clone()) })
        } else {
            match by {
                None => SortKey::Score(0.0),
                Some(v) => SortKey::Score(strtod_score(&v).unwrap_or_else(|| {
                    bad = true;
                    0.0
                })),
            }
        };
        keyed.push((e, k));
    }
    if bad {
        return Err(err(SCORE_ERR));
    }
    // A stable sort: ties that Redis leaves to its sort routine keep the value's order.
    if o.desc {
        keyed.sort_by(|a, b| compare(b, a));
    } else {
        keyed.sort_by(compare);
    }
    Ok(take(keyed.into_iter().map(|(e, _)| e).collect()))
}

/// What each output slot holds: the elements, or for each element the value of each GET
/// pattern (`None` = missing key).
fn fetch(ks: &Keyspace, o: &Opts, out: Vec<Bytes>, now: u64) -> Vec<Option<Bytes>> {
    if o.gets.is_empty() {
        return out.into_iter().map(Some).collect();
    }
    let mut slots = Vec::with_capacity(out.len().saturating_mul(o.gets.len()));
    for e in &out {
        for g in &o.gets {
            slots.push(lookup(ks, g, e, now));
        }
    }
    slots
}

fn reply(slots: Vec<Option<Bytes>>) -> Value {
    Value::Array(
        slots
            .into_iter()
            .map(|v| v.map_or(Value::Null, Value::Bulk))
            .collect(),
    )
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]
pub fn sort(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let now = c.now_ms;
    let mut o = match parse(a, false) {
        Ok(o) => o,
        Err(e) => return e,
    };
    // Redis converts a sorted set to its skiplist encoding for any SORT (SORT_RO too, but a
    // read here changes nothing: the one OBJECT ENCODING difference left, in the README).
    if let Some(e) = ks
        .keys
        .get_mut(a[1].as_ref())
        .filter(|e| !e.expired(now) && matches!(e.data, Data::ZSet(_)))
    {
        e.converted = true;
    }
    let slots = match sorted(ks, &a[1], &mut o, now) {
        Ok(out) => fetch(ks, &o, out, now),
        Err(e) => return e,
    };
    let Some(dst) = o.store else {
        return reply(slots);
    };
    // STORE: a list (a missing GET key stores ""), replacing the destination and its TTL;
    // an empty result deletes the destination.
    let list: VecDeque<Bytes> = slots.into_iter().map(Option::unwrap_or_default).collect();
    let n = list.len() as i64;
    ks.expire_if_due(&dst, now);
    if list.is_empty() {
        if ks.remove(&dst).is_some() {
            ks.notify(notify_class::GENERIC, "del", &dst);
        }
    } else {
        ks.put(&dst, Data::List(list), None);
        ks.notify(notify_class::LIST, "sortstore", &dst);
    }
    Value::Integer(n)
}

/// SORT_RO: SORT without STORE (a read; STORE is a syntax error, as in Redis).
pub fn sort_ro(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let mut o = match parse(a, true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match sorted(ks, &a[1], &mut o, c.now_ms) {
        Ok(out) => reply(fetch(ks, &o, out, c.now_ms)),
        Err(e) => e,
    }
}
