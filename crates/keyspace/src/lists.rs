//! List commands.

use bytes::Bytes;
use resp::Value;

use crate::util::*;
use crate::{Context, Keyspace};

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
    ks.modified(&a[1]);
    Value::Integer(n)
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
    ks.modified(&a[1]);
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
    ks.modified(&a[1]);
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
        ks.modified(&a[1]);
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
    ks.modified(&a[1]);
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
    ks.modified(&a[1]);
    Value::Integer(n)
}
