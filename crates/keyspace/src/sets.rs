//! Set commands.

use std::collections::BTreeSet;

use bytes::Bytes;
use resp::Value;

use crate::keys::{scan_cursor, scan_opts, scan_seq};
use crate::util::*;
use crate::{notify_class, Context, Data, Keyspace};

/// Largest reply of SRANDMEMBER with a negative count (repeats allowed).
pub const SRANDMEMBER_MAX: u64 = 1 << 20;

pub fn sadd(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let s = match ks.set_mut(&a[1], c.now_ms, true) {
        Ok(Some(s)) => s,
        Ok(None) => return err("ERR internal"),
        Err(e) => return e,
    };
    let n = a[2..].iter().filter(|m| s.insert((*m).clone())).count();
    ks.modified(&a[1]);
    if n > 0 {
        ks.notify(notify_class::SET, "sadd", &a[1]);
    }
    Value::Integer(n as i64)
}

pub fn srem(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let s = match ks.set_mut(&a[1], c.now_ms, false) {
        Ok(Some(s)) => s,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let n = a[2..].iter().filter(|m| s.remove(m.as_ref())).count();
    if n > 0 {
        ks.changed(&a[1], notify_class::SET, "srem");
    }
    Value::Integer(n as i64)
}

pub fn smembers(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_set(&a[1], c.now_ms) {
        Ok(s) => Value::Set(s.into_iter().flatten().map(bulk).collect()),
        Err(e) => e,
    }
}

pub fn sismember(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_set(&a[1], c.now_ms) {
        Ok(s) => Value::Integer(i64::from(s.is_some_and(|s| s.contains(a[2].as_ref())))),
        Err(e) => e,
    }
}

pub fn smismember(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_set(&a[1], c.now_ms) {
        Ok(s) => Value::Array(
            a[2..]
                .iter()
                .map(|m| Value::Integer(i64::from(s.is_some_and(|s| s.contains(m.as_ref())))))
                .collect(),
        ),
        Err(e) => e,
    }
}

pub fn scard(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_set(&a[1], c.now_ms) {
        Ok(s) => Value::Integer(s.map_or(0, |s| s.len() as i64)),
        Err(e) => e,
    }
}

/// `k` distinct random indexes below `n` (k < n), in increasing order.
pub(crate) fn pick_distinct(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut chosen = BTreeSet::new();
    // Floyd's algorithm: k draws, no rejection loop.
    for j in (n - k)..n {
        let t = rng.below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

pub fn spop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    if a.len() > 3 {
        return err(SYNTAX);
    }
    let count = if a.len() == 3 {
        match parse_i64(&a[2]) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return err(POSITIVE),
        }
    } else {
        None
    };
    let mut rng = Rng::new(c.seed);
    let s = match ks.set_mut(&a[1], c.now_ms, false) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return if count.is_some() {
                Value::Set(vec![])
            } else {
                Value::Null
            }
        }
        Err(e) => return e,
    };
    let reply = match count {
        Some(0) => return Value::Set(vec![]),
        None => {
            let i = rng.below(s.len());
            let m = s.iter().nth(i).cloned();
            if let Some(m) = &m {
                s.remove(m);
            }
            m.map_or(Value::Null, Value::Bulk)
        }
        Some(n) if n >= s.len() as u64 => {
            let all = std::mem::take(s);
            Value::Set(all.into_iter().map(Value::Bulk).collect())
        }
        Some(n) => {
            let idx = pick_distinct(s.len(), n as usize, &mut rng);
            let picked: Vec<Bytes> = {
                let mut it = idx.iter().peekable();
                s.iter()
                    .enumerate()
                    .filter(|(i, _)| {
                        if it.peek() == Some(&i) {
                            it.next();
                            true
                        } else {
                            false
                        }
                    })
                    .map(|(_, m)| m.clone())
                    .collect()
            };
            for m in &picked {
                s.remove(m);
            }
            Value::Set(picked.into_iter().map(Value::Bulk).collect())
        }
    };
    ks.changed(&a[1], notify_class::SET, "spop");
    reply
}

pub fn srandmember(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    if a.len() > 3 {
        return err(SYNTAX);
    }
    let count = if a.len() == 3 {
        match int_arg(&a[2]) {
            // Redis reads the count in -LONG_MAX..=LONG_MAX (it negates it).
            Ok(i64::MIN) => return err(RANGE_LONG),
            Ok(n) => Some(n),
            Err(e) => return e,
        }
    } else {
        None
    };
    let mut rng = Rng::new(c.seed);
    let s = match ks.get_set(&a[1], c.now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return if count.is_some() {
                Value::Array(vec![])
            } else {
                Value::Null
            }
        }
        Err(e) => return e,
    };
    match count {
        None => s.iter().nth(rng.below(s.len())).map_or(Value::Null, bulk),
        Some(0) => Value::Array(vec![]),
        Some(n) if n < 0 => {
            let k = n.unsigned_abs();
            if k > SRANDMEMBER_MAX {
                return err("ERR value is out of range");
            }
            let members: Vec<&Bytes> = s.iter().collect();
            Value::Array(
                (0..k)
                    .map(|_| bulk(members[rng.below(members.len())]))
                    .collect(),
            )
        }
        Some(n) if n as u64 >= s.len() as u64 => Value::Array(s.iter().map(bulk).collect()),
        Some(n) => {
            let idx = pick_distinct(s.len(), n as usize, &mut rng);
            let members: Vec<&Bytes> = s.iter().collect();
            Value::Array(idx.into_iter().map(|i| bulk(members[i])).collect())
        }
    }
}

/// Looks up every key as a set (missing = None); WRONGTYPE if any holds another type.
fn sets_of<'a>(
    ks: &'a Keyspace,
    keys: &[Bytes],
    now: u64,
) -> Result<Vec<Option<&'a BTreeSet<Bytes>>>, Value> {
    keys.iter().map(|k| ks.get_set(k, now)).collect()
}

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

fn combine(ks: &Keyspace, keys: &[Bytes], now: u64, op: Op) -> Result<BTreeSet<Bytes>, Value> {
    let sets = sets_of(ks, keys, now)?;
    let empty = BTreeSet::new();
    let mut it = sets.iter().map(|s| s.unwrap_or(&empty));
    let Some(first) = it.next() else {
        return Ok(BTreeSet::new());
    };
    let rest: Vec<&BTreeSet<Bytes>> = it.collect();
    Ok(match op {
        Op::Inter => {
            if rest.iter().any(|s| s.is_empty()) {
                return Ok(BTreeSet::new());
            }
            first
                .iter()
                .filter(|m| rest.iter().all(|s| s.contains(*m)))
                .cloned()
                .collect()
        }
        Op::Union => {
            let mut out = first.clone();
            for s in rest {
                out.extend(s.iter().cloned());
            }
            out
        }
        Op::Diff => first
            .iter()
            .filter(|m| !rest.iter().any(|s| s.contains(*m)))
            .cloned()
            .collect(),
    })
}

fn combine_reply(ks: &Keyspace, a: &[Bytes], c: &Context, op: Op) -> Value {
    match combine(ks, &a[1..], c.now_ms, op) {
        Ok(s) => Value::Set(s.into_iter().map(Value::Bulk).collect()),
        Err(e) => e,
    }
}

pub fn sinter(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    combine_reply(ks, a, c, Op::Inter)
}
pub fn sunion(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    combine_reply(ks, a, c, Op::Union)
}
pub fn sdiff(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    combine_reply(ks, a, c, Op::Diff)
}

fn combine_store(ks: &mut Keyspace, a: &[Bytes], c: &Context, op: Op) -> Value {
    let s = match combine(ks, &a[2..], c.now_ms, op) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let n = s.len() as i64;
    ks.expire_if_due(&a[1], c.now_ms);
    if s.is_empty() {
        if ks.remove(&a[1]).is_some() {
            ks.notify(notify_class::GENERIC, "del", &a[1]);
        }
    } else {
        ks.put(&a[1], Data::Set(s), None);
        // Redis builds the result by adding to an intset, which converts for good at the
        // first member that is not an integer: `modified` records that.
        ks.modified(&a[1]);
        let event = match op {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        ks.notify(notify_class::SET, event, &a[1]);
    }
    Value::Integer(n)
}

pub fn sinterstore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    combine_store(ks, a, c, Op::Inter)
}
pub fn sunionstore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    combine_store(ks, a, c, Op::Union)
}
pub fn sdiffstore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    combine_store(ks, a, c, Op::Diff)
}

pub fn smove(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (src, dst, m) = (&a[1], &a[2], &a[3]);
    // A missing source answers 0 before the destination's type is checked (Redis's order).
    let has = match (ks.get_set(src, c.now_ms), ks.get_set(dst, c.now_ms)) {
        (Ok(None), _) => return Value::Integer(0),
        (Err(e), _) | (_, Err(e)) => return e,
        (Ok(Some(s)), _) => s.contains(m.as_ref()),
    };
    if src == dst || !has {
        return Value::Integer(i64::from(has));
    }
    if let Ok(Some(s)) = ks.set_mut(src, c.now_ms, false) {
        s.remove(m.as_ref());
    }
    ks.changed(src, notify_class::SET, "srem");
    let added = match ks.set_mut(dst, c.now_ms, true) {
        Ok(Some(d)) => d.insert(m.clone()),
        _ => false,
    };
    ks.modified(dst);
    if added {
        ks.notify(notify_class::SET, "sadd", dst);
    }
    Value::Integer(1)
}

pub fn sscan(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    // Redis's order: the cursor, then the key (a missing one answers before the options are
    // read), then the options.
    if let Err(e) = scan_cursor(&a[2]) {
        return e;
    }
    let s = match ks.get_set(&a[1], c.now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => return Value::Array(vec![bulk_str("0"), Value::Array(vec![])]),
        Err(e) => return e,
    };
    match scan_opts(a, 2, false, false) {
        Ok(o) => scan_seq(s.iter(), &o, |m| m.as_ref(), |m, out| out.push(bulk(m))),
        Err(e) => e,
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let numkeys = match parse_i64(&a[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return err("ERR numkeys should be greater than 0"),
    };
    if numkeys > (a.len() - 2) as u64 {
        return err("ERR Number of keys can't be greater than number of args");
    }
    let n = numkeys as usize;
    let mut limit = 0u64;
    let mut j = 2 + n;
    while j < a.len() {
        if a[j].eq_ignore_ascii_case(b"LIMIT") && j + 1 < a.len() {
            match parse_i64(&a[j + 1]) {
                Some(l) if l >= 0 => limit = l as u64,
                _ => return err("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return err(SYNTAX);
        }
    }
    let sets = match sets_of(ks, &a[2..2 + n], c.now_ms) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let Some(sets) = sets.into_iter().collect::<Option<Vec<_>>>() else {
        return Value::Integer(0);
    };
    // Walk the smallest set; LIMIT 0 means no limit.
    let Some(smallest) = sets.iter().min_by_key(|s| s.len()) else {
        return Value::Integer(0);
    };
    let limit = if limit == 0 { u64::MAX } else { limit };
    let mut count = 0u64;
    for m in smallest.iter() {
        if count >= limit {
            break;
        }
        if sets.iter().all(|s| s.contains(m)) {
            count += 1;
        }
    }
    Value::Integer(count as i64)
}
