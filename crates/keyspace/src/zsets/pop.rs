//! ZPOPMIN, ZPOPMAX, ZMPOP, and the blocking BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! The keyspace never waits. A blocking pop is answered here as if its timeout had just
//! run out (a nil array when nothing can be popped, as Redis does inside MULTI);
//! [`crate::Keyspace::try_blocking_pop`] tells "popped" from "nothing yet: block on these
//! keys for so long", for sorted sets as for lists.

use bytes::Bytes;
use resp::Value;

use super::{members_reply, pairs_array, score_reply, ZSet};
use crate::lists::timeout_arg;
use crate::util::*;
use crate::{notify_class, BlockingPop, Context, Keyspace};

/// Removes up to `n` members from the low end (or the high end when `max`), in pop order.
fn pop_n(z: &mut ZSet, n: usize, max: bool) -> Vec<(Bytes, f64)> {
    let n = n.min(z.len());
    let picked: Vec<(Bytes, f64)> = if max {
        z.iter_rev_from(z.len())
            .take(n)
            .map(|(m, s)| (m.clone(), s))
            .collect()
    } else {
        z.iter().take(n).map(|(m, s)| (m.clone(), s)).collect()
    };
    for (m, _) in &picked {
        z.remove(m);
    }
    picked
}

/// The event of a pop of the highest (`max`) or lowest scores.
fn pop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

fn zpop(ks: &mut Keyspace, a: &[Bytes], c: &Context, max: bool) -> Value {
    if a.len() > 3 {
        return err(SYNTAX);
    }
    let count = match a.get(2) {
        None => None,
        Some(n) => match parse_i64(n) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return err(POSITIVE),
        },
    };
    let z = match ks.zset_mut(&a[1], c.now_ms, false) {
        Ok(Some(z)) => z,
        Ok(None) => return Value::Array(vec![]),
        Err(e) => return e,
    };
    if count == Some(0) {
        return Value::Array(vec![]);
    }
    let n = count.unwrap_or(1).min(z.len() as u64) as usize;
    let popped = pop_n(z, n, max);
    ks.changed(&a[1], notify_class::ZSET, pop_event(max));
    match count {
        // Without COUNT: one flat [member, score] in both protocols.
        None => Value::Array(
            popped
                .into_iter()
                .flat_map(|(m, s)| [Value::Bulk(m), score_reply(s)])
                .collect(),
        ),
        Some(_) => members_reply(&popped, true),
    }
}

pub fn zpopmin(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    zpop(ks, a, c, false)
}
pub fn zpopmax(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    zpop(ks, a, c, true)
}

/// What ZMPOP/BZMPOP ask for: the keys, which end, how many.
struct MultiPop<'a> {
    keys: &'a [Bytes],
    max: bool,
    count: usize,
}

/// Reads `numkeys key... MIN|MAX [COUNT count]` from `a[at]` on.
fn parse_multi(a: &[Bytes], at: usize) -> Result<MultiPop<'_>, Value> {
    let numkeys = match parse_i64(&a[at]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(err("ERR numkeys should be greater than 0")),
    };
    let where_at = (at as u64 + 1).saturating_add(numkeys);
    if where_at >= a.len() as u64 {
        return Err(err(SYNTAX));
    }
    let where_at = where_at as usize;
    let max = match a[where_at].to_ascii_lowercase().as_slice() {
        b"min" => false,
        b"max" => true,
        _ => return Err(err(SYNTAX)),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < a.len() {
        if count.is_none() && a[j].eq_ignore_ascii_case(b"count") && j + 1 < a.len() {
            match parse_i64(&a[j + 1]) {
                Some(n) if n >= 1 => count = Some(n as u64),
                _ => return Err(err("ERR count should be greater than 0")),
            }
            j += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    Ok(MultiPop {
        keys: &a[at + 1..where_at],
        max,
        // More than the set holds is as good as all of it.
        count: usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX),
    })
}

/// Pops from the first key holding a sorted set: `[key, [[member, score]...]]`, None when
/// no key holds one. A key of another type before it is WRONGTYPE.
fn multi_pop(ks: &mut Keyspace, req: &MultiPop<'_>, c: &Context) -> Result<Option<Value>, Value> {
    for key in req.keys {
        let Some(z) = ks.zset_mut(key, c.now_ms, false)? else {
            continue;
        };
        let popped = pop_n(z, req.count, req.max);
        ks.changed(key, notify_class::ZSET, pop_event(req.max));
        return Ok(Some(Value::Array(vec![
            Value::Bulk(key.clone()),
            pairs_array(popped),
        ])));
    }
    Ok(None)
}

pub fn zmpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let req = match parse_multi(a, 1) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match multi_pop(ks, &req, c) {
        Ok(Some(v)) => v,
        Ok(None) => Value::NullArray,
        Err(e) => e,
    }
}

/// BZPOPMIN/BZPOPMAX key... timeout: `[key, member, score]` from the first key holding a
/// sorted set.
fn bzpop(ks: &mut Keyspace, a: &[Bytes], c: &Context, max: bool) -> BlockingPop {
    let timeout_ms = match timeout_arg(&a[a.len() - 1]) {
        Ok(t) => t,
        Err(e) => return BlockingPop::Reply(e),
    };
    let keys = &a[1..a.len() - 1];
    for key in keys {
        let z = match ks.zset_mut(key, c.now_ms, false) {
            Ok(Some(z)) => z,
            Ok(None) => continue,
            Err(e) => return BlockingPop::Reply(e),
        };
        let popped = pop_n(z, 1, max);
        ks.changed(key, notify_class::ZSET, pop_event(max));
        if let Some((m, s)) = popped.into_iter().next() {
            return BlockingPop::Reply(Value::Array(vec![
                Value::Bulk(key.clone()),
                Value::Bulk(m),
                score_reply(s),
            ]));
        }
    }
    BlockingPop::Block {
        keys: keys.to_vec(),
        timeout_ms,
    }
}

/// BZMPOP timeout numkeys key... MIN|MAX [COUNT count]: its own arguments are checked
/// before the timeout, as in Redis.
fn bzmpop_now(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> BlockingPop {
    let req = match parse_multi(a, 2) {
        Ok(r) => r,
        Err(e) => return BlockingPop::Reply(e),
    };
    let timeout_ms = match timeout_arg(&a[1]) {
        Ok(t) => t,
        Err(e) => return BlockingPop::Reply(e),
    };
    match multi_pop(ks, &req, c) {
        Ok(Some(v)) => BlockingPop::Reply(v),
        Ok(None) => BlockingPop::Block {
            keys: req.keys.to_vec(),
            timeout_ms,
        },
        Err(e) => BlockingPop::Reply(e),
    }
}

/// The non-blocking core of BZPOPMIN, BZPOPMAX and BZMPOP (`a` has passed the table's arity
/// check), behind [`Keyspace::try_blocking_pop`]: pops now if a key holds a sorted set, in
/// the blocking command's reply shape (`[key, member, score]`, or for BZMPOP
/// `[key, [[member, score]...]]`), or says which keys to wait on and for how long.
pub(crate) fn try_blocking(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> BlockingPop {
    match a[0].to_ascii_lowercase().as_slice() {
        b"bzpopmin" => bzpop(ks, a, c, false),
        b"bzpopmax" => bzpop(ks, a, c, true),
        b"bzmpop" => bzmpop_now(ks, a, c),
        _ => BlockingPop::Reply(err("ERR not a blocking sorted-set command")),
    }
}

/// The table's handlers: the blocking command whose timeout has already run out, as Redis
/// runs it inside MULTI (nothing to pop = a nil array).
fn blocking_now(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match try_blocking(ks, a, c) {
        BlockingPop::Reply(v) => v,
        BlockingPop::Block { .. } => Value::NullArray,
    }
}

pub fn bzpopmin(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c)
}
pub fn bzpopmax(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c)
}
pub fn bzmpop(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    blocking_now(ks, a, c)
}
