//! Hash commands.

use bytes::Bytes;
use resp::Value;

use crate::keys::{scan_cursor, scan_opts, scan_seq};
use crate::util::*;
use crate::{notify_class, Context, Keyspace};

fn hset_generic(ks: &mut Keyspace, a: &[Bytes], c: &Context, name: &str) -> Result<i64, Value> {
    if a.len() % 2 != 0 {
        return Err(arity_err(name));
    }
    let h = ks
        .hash_mut(&a[1], c.now_ms, true)?
        .ok_or_else(|| err("ERR internal"))?;
    let mut added = 0;
    for p in a[2..].chunks(2) {
        if h.insert(p[0].clone(), p[1].clone()).is_none() {
            added += 1;
        }
    }
    ks.changed(&a[1], notify_class::HASH, "hset");
    Ok(added)
}

pub fn hset(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    hset_generic(ks, a, c, "hset").map_or_else(|e| e, Value::Integer)
}

pub fn hmset(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    hset_generic(ks, a, c, "hmset").map_or_else(|e| e, |_| ok())
}

pub fn hsetnx(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Err(e) => return e,
        Ok(Some(h)) if h.contains_key(a[2].as_ref()) => return Value::Integer(0),
        Ok(_) => {}
    }
    hset_generic(ks, a, c, "hsetnx").map_or_else(|e| e, |_| Value::Integer(1))
}

pub fn hget(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => h
            .and_then(|h| h.get(a[2].as_ref()))
            .map_or(Value::Null, bulk),
        Err(e) => e,
    }
}

pub fn hmget(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => Value::Array(
            a[2..]
                .iter()
                .map(|f| h.and_then(|h| h.get(f.as_ref())).map_or(Value::Null, bulk))
                .collect(),
        ),
        Err(e) => e,
    }
}

pub fn hdel(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let h = match ks.hash_mut(&a[1], c.now_ms, false) {
        Ok(Some(h)) => h,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let n = a[2..]
        .iter()
        .filter(|f| h.remove(f.as_ref()).is_some())
        .count();
    if n > 0 {
        ks.changed(&a[1], notify_class::HASH, "hdel");
    }
    Value::Integer(n as i64)
}

pub fn hexists(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => Value::Integer(i64::from(h.is_some_and(|h| h.contains_key(a[2].as_ref())))),
        Err(e) => e,
    }
}

pub fn hgetall(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => Value::Map(
            h.into_iter()
                .flatten()
                .map(|(k, v)| (bulk(k), bulk(v)))
                .collect(),
        ),
        Err(e) => e,
    }
}

pub fn hkeys(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => Value::Array(h.into_iter().flatten().map(|(k, _)| bulk(k)).collect()),
        Err(e) => e,
    }
}

pub fn hvals(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => Value::Array(h.into_iter().flatten().map(|(_, v)| bulk(v)).collect()),
        Err(e) => e,
    }
}

pub fn hlen(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => Value::Integer(h.map_or(0, |h| h.len() as i64)),
        Err(e) => e,
    }
}

pub fn hstrlen(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_hash(&a[1], c.now_ms) {
        Ok(h) => Value::Integer(
            h.and_then(|h| h.get(a[2].as_ref()))
                .map_or(0, |v| v.len() as i64),
        ),
        Err(e) => e,
    }
}

pub fn hincrby(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let by = match int_arg(&a[3]) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let cur = match ks.get_hash(&a[1], c.now_ms) {
        Err(e) => return e,
        Ok(h) => match h.and_then(|h| h.get(a[2].as_ref())) {
            None => 0,
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return err("ERR hash value is not an integer"),
            },
        },
    };
    let Some(n) = cur.checked_add(by) else {
        return err(OVERFLOW);
    };
    match ks.hash_mut(&a[1], c.now_ms, true) {
        Ok(Some(h)) => {
            h.insert(a[2].clone(), Bytes::from(n.to_string()));
        }
        Ok(None) => return err("ERR internal"),
        Err(e) => return e,
    }
    ks.changed(&a[1], notify_class::HASH, "hincrby");
    Value::Integer(n)
}

pub fn hincrbyfloat(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    // Redis adds in long double (strtold, x87 80-bit, "%.17Lf"): see longdouble.rs.
    let Some(y) = crate::longdouble::parse(&a[3]) else {
        return err(NOT_FLOAT);
    };
    // Checked before the key, unlike INCRBYFLOAT's error on the result.
    if !y.is_finite() {
        return err("ERR value is NaN or Infinity");
    }
    let cur = match ks.get_hash(&a[1], c.now_ms) {
        Err(e) => return e,
        Ok(h) => h
            .and_then(|h| h.get(a[2].as_ref()))
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(b"0")),
    };
    let Some(x) = crate::longdouble::parse(&cur) else {
        return err("ERR hash value is not a float");
    };
    let Some(sum) = crate::longdouble::add(x, y) else {
        return err(NAN_INF);
    };
    let out = Bytes::from(crate::longdouble::format_human(sum));
    match ks.hash_mut(&a[1], c.now_ms, true) {
        Ok(Some(h)) => {
            h.insert(a[2].clone(), out.clone());
        }
        Ok(None) => return err("ERR internal"),
        Err(e) => return e,
    }
    ks.changed(&a[1], notify_class::HASH, "hincrbyfloat");
    Value::Bulk(out)
}

pub fn hscan(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    // Redis's order: the cursor, then the key (a missing one answers before the options are
    // read), then the options.
    if let Err(e) = scan_cursor(&a[2]) {
        return e;
    }
    let h = match ks.get_hash(&a[1], c.now_ms) {
        Ok(Some(h)) => h,
        Ok(None) => return Value::Array(vec![bulk_str("0"), Value::Array(vec![])]),
        Err(e) => return e,
    };
    let o = match scan_opts(a, 2, false, true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let novalues = o.novalues;
    scan_seq(
        h.iter(),
        &o,
        |(k, _)| k.as_ref(),
        |(k, v), out| {
            out.push(bulk(k));
            if !novalues {
                out.push(bulk(v));
            }
        },
    )
}

/// Largest reply of HRANDFIELD with a negative count (repeats allowed): as SRANDMEMBER.
pub const HRANDFIELD_MAX: u64 = crate::sets::SRANDMEMBER_MAX;

/// HRANDFIELD key [count [WITHVALUES]]: random fields from `Context::seed`. A positive count
/// gives distinct fields (in field order), a negative one may repeat them.
pub fn hrandfield(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let mut count = None;
    let mut withvalues = false;
    if a.len() >= 3 {
        let n = match range_arg(&a[2], -i64::MAX, i64::MAX) {
            Ok(n) => n,
            Err(e) => return e,
        };
        if a.len() > 4 || (a.len() == 4 && !a[3].eq_ignore_ascii_case(b"WITHVALUES")) {
            return err(SYNTAX);
        }
        if a.len() == 4 {
            withvalues = true;
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
                return err("ERR value is out of range");
            }
        }
        count = Some(n);
    }
    let h = match ks.get_hash(&a[1], c.now_ms) {
        Ok(Some(h)) => h,
        Ok(None) if count.is_some() => return Value::Array(vec![]),
        Ok(None) => return Value::Null,
        Err(e) => return e,
    };
    let mut rng = Rng::new(c.seed);
    let fields: Vec<(&Bytes, &Bytes)> = h.iter().collect();
    let Some(n) = count else {
        return bulk(fields[rng.below(fields.len())].0);
    };
    let picked: Vec<(&Bytes, &Bytes)> = if n < 0 {
        let k = n.unsigned_abs();
        if k > HRANDFIELD_MAX {
            return err("ERR value is out of range");
        }
        (0..k).map(|_| fields[rng.below(fields.len())]).collect()
    } else if n as u64 >= fields.len() as u64 {
        fields
    } else {
        crate::sets::pick_distinct(fields.len(), n as usize, &mut rng)
            .into_iter()
            .map(|i| fields[i])
            .collect()
    };
    if picked.is_empty() {
        Value::Array(vec![])
    } else if withvalues {
        pairs_reply(
            picked
                .into_iter()
                .map(|(f, v)| (bulk(f), bulk(v)))
                .collect(),
        )
    } else {
        Value::Array(picked.into_iter().map(|(f, _)| bulk(f)).collect())
    }
}
