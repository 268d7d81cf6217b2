//! Member commands: ZADD, ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK, ZCOUNT,
//! ZLEXCOUNT, ZREMRANGEBY{RANK,SCORE,LEX}, ZRANDMEMBER and ZSCAN.

use std::collections::BTreeSet;

use bytes::Bytes;
use resp::Value;

use super::parse::{format_score, lex_range, parse_score, score_range};
use super::{members_reply, score_reply, ZSet, NAN_SCORE, NOT_FLOAT_RANGE, NOT_LEX_RANGE};
use crate::keys::{scan_opts, ScanOpts, SMALL_SCAN};
use crate::util::*;
use crate::{notify_class, Context, Keyspace};

/// Largest reply of ZRANDMEMBER with a negative count (repeats allowed), as for SRANDMEMBER.
pub const ZRANDMEMBER_MAX: u64 = 1 << 20;

pub fn zadd(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    zadd_generic(ks, a, c, false)
}

/// ZINCRBY key increment member: ZADD with INCR (options are still looked for at the
/// increment's place, as Redis does: `ZINCRBY z nx m` is a syntax error).
pub fn zincrby(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    zadd_generic(ks, a, c, true)
}

/// ZADD's options; `incr` is preset for ZINCRBY.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Reads the options, then checks the pairs and option combinations in Redis's order;
/// returns the flags and the scores (every score is read before anything changes).
fn zadd_args(a: &[Bytes], incr: bool) -> Result<(AddFlags, &[Bytes], Vec<f64>), Value> {
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut i = 2;
    while i < a.len() {
        match a[i].to_ascii_lowercase().as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            b"ch" => f.ch = true,
            b"incr" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &a[i..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(err(SYNTAX));
    }
    if f.nx && f.xx {
        return Err(err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs.len() > 2 {
        return Err(err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let scores = pairs
        .chunks(2)
        .map(|p| parse_score(&p[0]).ok_or_else(|| err(NOT_FLOAT)))
        .collect::<Result<Vec<f64>, Value>>()?;
    Ok((f, pairs, scores))
}

fn zadd_generic(ks: &mut Keyspace, a: &[Bytes], c: &Context, incr: bool) -> Value {
    let (f, pairs, scores) = match zadd_args(a, incr) {
        Ok(x) => x,
        Err(e) => return e,
    };
    // A set Redis holds as a skiplist keeps a -0 score as given (its listpack stores 0).
    let was_skiplist = ks.keys.get(a[1].as_ref()).is_some_and(|e| e.converted);
    let z = match ks.zset_mut(&a[1], c.now_ms, !f.xx) {
        Ok(Some(z)) => z,
        Ok(None) => {
            return if f.incr {
                Value::Null
            } else {
                Value::Integer(0)
            }
        }
        Err(e) => return e,
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (p, &score) in pairs.chunks(2).zip(&scores) {
        let member = &p[1];
        match z.score(member) {
            Some(_) if f.nx => {}
            Some(cur) => {
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    nan = true;
                    break;
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                processed += 1;
                last = new;
                if new != cur {
                    if was_skiplist && new == 0.0 && new.is_sign_negative() {
                        z.insert_signed(member.clone(), new);
                    } else {
                        z.insert(member.clone(), new);
                    }
                    updated += 1;
                }
            }
            None if f.xx => {}
            None => {
                if (was_skiplist || z.len() > 128) && score == 0.0 && score.is_sign_negative() {
                    z.insert_signed(member.clone(), score);
                } else {
                    z.insert(member.clone(), score);
                }
                added += 1;
                processed += 1;
                // The reply shows the score as computed: -0 for a new member stays -0.
                last = score;
            }
        }
    }
    if added + updated > 0 {
        ks.changed(
            &a[1],
            notify_class::ZSET,
            if f.incr { "zincr" } else { "zadd" },
        );
    } else if z.is_empty() {
        ks.modified(&a[1]);
    }
    if nan {
        err(NAN_SCORE)
    } else if !f.incr {
        Value::Integer(if f.ch { added + updated } else { added })
    } else if processed > 0 {
        score_reply(last)
    } else {
        Value::Null
    }
}

pub fn zrem(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let z = match ks.zset_mut(&a[1], c.now_ms, false) {
        Ok(Some(z)) => z,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let mut n = 0;
    for m in &a[2..] {
        if z.remove(m).is_some() {
            n += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    if n > 0 {
        ks.changed(&a[1], notify_class::ZSET, "zrem");
    }
    Value::Integer(n)
}

pub fn zscore(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_zset(&a[1], c.now_ms) {
        Ok(z) => z
            .and_then(|z| z.score(&a[2]))
            .map_or(Value::Null, score_reply),
        Err(e) => e,
    }
}

pub fn zmscore(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_zset(&a[1], c.now_ms) {
        Ok(z) => Value::Array(
            a[2..]
                .iter()
                .map(|m| z.and_then(|z| z.score(m)).map_or(Value::Null, score_reply))
                .collect(),
        ),
        Err(e) => e,
    }
}

pub fn zcard(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_zset(&a[1], c.now_ms) {
        Ok(z) => Value::Integer(z.map_or(0, |z| z.len() as i64)),
        Err(e) => e,
    }
}

fn rank_generic(ks: &Keyspace, a: &[Bytes], c: &Context, rev: bool) -> Value {
    let z = match ks.get_zset(&a[1], c.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return Value::Null,
        Err(e) => return e,
    };
    match z.rank(&a[2]) {
        Some(r) if rev => Value::Integer((z.len() - 1 - r) as i64),
        Some(r) => Value::Integer(r as i64),
        None => Value::Null,
    }
}

pub fn zrank(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    rank_generic(ks, a, c, false)
}
pub fn zrevrank(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    rank_generic(ks, a, c, true)
}

pub fn zcount(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let Some(r) = score_range(&a[2], &a[3]) else {
        return err(NOT_FLOAT_RANGE);
    };
    match ks.get_zset(&a[1], c.now_ms) {
        Ok(z) => Value::Integer(z.map_or(0, |z| z.score_ranks(&r).len() as i64)),
        Err(e) => e,
    }
}

pub fn zlexcount(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let Some(r) = lex_range(&a[2], &a[3]) else {
        return err(NOT_LEX_RANGE);
    };
    match ks.get_zset(&a[1], c.now_ms) {
        Ok(z) => Value::Integer(z.map_or(0, |z| z.lex_ranks(&r).len() as i64)),
        Err(e) => e,
    }
}

/// ZREMRANGEBY*: the range is parsed first (its errors win over a missing key), then the
/// members at the ranks it selects are removed.
fn remrange(
    ks: &mut Keyspace,
    a: &[Bytes],
    c: &Context,
    event: &'static str,
    ranks: impl Fn(&ZSet) -> std::ops::Range<usize>,
) -> Value {
    let z = match ks.zset_mut(&a[1], c.now_ms, false) {
        Ok(Some(z)) => z,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let doomed: Vec<Bytes> = z.range(ranks(z), false).map(|(m, _)| m.clone()).collect();
    for m in &doomed {
        z.remove(m);
    }
    if !doomed.is_empty() {
        ks.changed(&a[1], notify_class::ZSET, event);
    }
    Value::Integer(doomed.len() as i64)
}

pub fn zremrangebyrank(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (start, stop) = match (int_arg(&a[2]), int_arg(&a[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    remrange(ks, a, c, "zremrangebyrank", |z| z.index_range(start, stop))
}

pub fn zremrangebyscore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let Some(r) = score_range(&a[2], &a[3]) else {
        return err(NOT_FLOAT_RANGE);
    };
    remrange(ks, a, c, "zremrangebyscore", |z| z.score_ranks(&r))
}

pub fn zremrangebylex(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let Some(r) = lex_range(&a[2], &a[3]) else {
        return err(NOT_LEX_RANGE);
    };
    remrange(ks, a, c, "zremrangebylex", |z| z.lex_ranks(&r))
}

/// `k` distinct random ranks below `n` (k < n), in increasing order (Floyd's algorithm).
fn pick_distinct(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut chosen = BTreeSet::new();
    for j in (n - k)..n {
        let t = rng.below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

pub fn zrandmember(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let mut rng = Rng::new(c.seed);
    if a.len() < 3 {
        return match ks.get_zset(&a[1], c.now_ms) {
            Ok(Some(z)) => z
                .get_by_rank(rng.below(z.len()))
                .map_or(Value::Null, |(m, _)| bulk(m)),
            Ok(None) => Value::Null,
            Err(e) => e,
        };
    }
    let count = match int_arg(&a[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    // Redis reads the count as -LONG_MAX..=LONG_MAX, and with WITHSCORES halves that range
    // (the reply has two entries per member), all before it looks at the key.
    if count == i64::MIN {
        return err(crate::util::RANGE_LONG);
    }
    if a.len() > 4 || (a.len() == 4 && !a[3].eq_ignore_ascii_case(b"withscores")) {
        return err(SYNTAX);
    }
    let withscores = a.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return err("ERR value is out of range");
    }
    let z = match ks.get_zset(&a[1], c.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return Value::Array(vec![]),
        Err(e) => return e,
    };
    let pick = |r: usize| z.get_by_rank(r).map(|(m, s)| (m.clone(), s));
    let items: Vec<(Bytes, f64)> = if count == 0 {
        vec![]
    } else if count < 0 {
        // Repeats allowed: any number of draws, bounded so a reply stays reasonable.
        let k = count.unsigned_abs();
        if k > ZRANDMEMBER_MAX {
            return err("ERR value is out of range");
        }
        (0..k).filter_map(|_| pick(rng.below(z.len()))).collect()
    } else if count as u64 >= z.len() as u64 {
        // The whole set, highest first: Redis walks it from the tail in this case.
        z.iter_rev_from(z.len())
            .map(|(m, s)| (m.clone(), s))
            .collect()
    } else {
        pick_distinct(z.len(), count as usize, &mut rng)
            .into_iter()
            .filter_map(pick)
            .collect()
    };
    members_reply(&items, withscores)
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]. Like Redis's small listpack encoding,
/// sets of up to `SMALL_SCAN` members come back whole with cursor 0. Larger ones are walked
/// in member-hash order and the cursor is the next hash position, so every member present
/// for the whole scan is returned (members sharing a hash come back together).
pub fn zscan(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    // Redis reads the cursor, then the key, and only then the options.
    let Some(cursor) = scan_cursor(&a[2]) else {
        return err("ERR invalid cursor");
    };
    let z = match ks.get_zset(&a[1], c.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return Value::Array(vec![bulk_str("0"), Value::Array(vec![])]),
        Err(e) => return e,
    };
    let mut args = a.to_vec();
    args[2] = Bytes::from_static(b"0");
    let o = match scan_opts(&args, 2, false, false) {
        Ok(o) => ScanOpts { cursor, ..o },
        Err(e) => return e,
    };
    let mut out = Vec::new();
    let emit = |m: &Bytes, s: f64, out: &mut Vec<Value>| {
        if o.pattern.as_ref().is_none_or(|p| glob_match(p, m)) {
            out.push(bulk(m));
            out.push(bulk_str(&format_score(s)));
        }
    };
    let mut next = 0u64;
    if z.len() <= SMALL_SCAN {
        for (m, s) in z.iter() {
            emit(m, s, &mut out);
        }
    } else {
        let mut last_hash = None;
        for (visited, (h, m, s)) in z.scan_from(o.cursor).enumerate() {
            // Finish the members sharing a hash before stopping, so none is split off.
            if visited >= o.count && last_hash != Some(h) {
                next = h;
                break;
            }
            last_hash = Some(h);
            emit(m, s, &mut out);
        }
    }
    Value::Array(vec![bulk_str(&next.to_string()), Value::Array(out)])
}

/// A scan cursor as Redis's `strtoul` reads it: a sign is allowed ("-1" wraps to the
/// largest cursor), an empty string is 0; leading space, trailing bytes or overflow are not.
/// (HSCAN and SSCAN read only plain digits; Redis reads all of them like this.)
fn scan_cursor(b: &[u8]) -> Option<u64> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = &b[..end];
    // Read as a C string: whatever follows a NUL is not looked at.
    if s.first()
        .is_some_and(|&c| c.is_ascii_whitespace() || c == 0x0b)
    {
        return None;
    }
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        // No conversion at all: strtoul returns 0 and the end pointer is the start.
        return s.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}
