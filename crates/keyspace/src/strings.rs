//! String commands.

use bytes::{Bytes, BytesMut};
use resp::Value;

use crate::util::*;
use crate::{Context, Data, Keyspace};

pub fn get(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_str(&a[1], c.now_ms) {
        Ok(Some(v)) => bulk(v),
        Ok(None) => Value::Null,
        Err(e) => e,
    }
}

/// Expiry options shared by SET and GETEX.
#[derive(Clone, Copy, PartialEq)]
enum Ttl {
    Unset,
    Keep,
    Persist,
    At(i64),
}

/// Parses an EX/PX/EXAT/PXAT value into an absolute time in ms (Redis's getExpireMillisecondsOrReply).
fn expire_value(
    raw: &[u8],
    unit_secs: bool,
    relative: bool,
    now: u64,
    cmd: &str,
) -> Result<i64, Value> {
    let mut ms = int_arg(raw)?;
    if ms <= 0 {
        return Err(expire_err(cmd));
    }
    if unit_secs {
        if ms > i64::MAX / 1000 {
            return Err(expire_err(cmd));
        }
        ms *= 1000;
    }
    if relative {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        if ms > i64::MAX - now {
            return Err(expire_err(cmd));
        }
        ms += now;
    }
    Ok(ms)
}

/// SET's and GETEX's options as Redis's `parseExtendedStringArgumentsOrReply` reads them: an
/// option may repeat (`PX 1 PX 2`: the last value wins), but not meet a conflicting one (`NX XX`,
/// `EX 1 PX 2`, `KEEPTTL EX 1`). `set`: SET's options (NX, XX, GET, KEEPTTL), else GETEX's (PERSIST).
struct StrOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keep: bool,
    persist: bool,
    /// (index of the value, unit is seconds, relative): the last EX/PX/EXAT/PXAT.
    expire: Option<(usize, bool, bool)>,
}

fn str_opts(a: &[Bytes], from: usize, set: bool) -> Result<StrOpts, Value> {
    let mut o = StrOpts {
        nx: false,
        xx: false,
        get: false,
        keep: false,
        persist: false,
        expire: None,
    };
    let mut i = from;
    while i < a.len() {
        let opt = a[i].to_ascii_uppercase();
        let has_next = i + 1 < a.len();
        let expiry = match opt.as_slice() {
            b"EX" => Some((true, true)),
            b"PX" => Some((false, true)),
            b"EXAT" => Some((true, false)),
            b"PXAT" => Some((false, false)),
            _ => None,
        };
        match opt.as_slice() {
            b"NX" if set && !o.xx => o.nx = true,
            b"XX" if set && !o.nx => o.xx = true,
            b"GET" if set => o.get = true,
            b"KEEPTTL" if set && o.expire.is_none() => o.keep = true,
            b"PERSIST" if !set && o.expire.is_none() => o.persist = true,
            _ if expiry.is_some() && has_next && !o.keep && !o.persist => {
                let (secs, rel) = expiry.unwrap_or_default();
                if o.expire.is_some_and(|(_, s, r)| (s, r) != (secs, rel)) {
                    return Err(err(SYNTAX));
                }
                o.expire = Some((i + 1, secs, rel));
                i += 1;
            }
            _ => return Err(err(SYNTAX)),
        }
        i += 1;
    }
    Ok(o)
}

pub fn set(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let o = match str_opts(a, 3, true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (nx, xx, get) = (o.nx, o.xx, o.get);
    let mut ttl = if o.keep { Ttl::Keep } else { Ttl::Unset };
    if let Some((j, secs, rel)) = o.expire {
        match expire_value(&a[j], secs, rel, c.now_ms, "set") {
            Ok(t) => ttl = Ttl::At(t),
            Err(e) => return e,
        }
    }
    let key = &a[1];
    let now = c.now_ms;
    let old = match ks.get(key, now) {
        None => None,
        Some(e) => match &e.data {
            Data::Str(s) => Some(s.clone()),
            _ if get => return wrongtype(),
            _ => Some(Bytes::new()),
        },
    };
    let exists = ks.get(key, now).is_some();
    let reply_old = || match &old {
        Some(v) => Value::Bulk(v.clone()),
        None => Value::Null,
    };
    if (nx && exists) || (xx && !exists) {
        return if get { reply_old() } else { Value::Null };
    }
    set_value(ks, key, a[2].clone(), ttl, now);
    if get {
        reply_old()
    } else {
        ok()
    }
}

/// Stores a string with the given TTL handling; an expiry already past deletes the key.
fn set_value(ks: &mut Keyspace, key: &Bytes, v: Bytes, ttl: Ttl, now: u64) {
    ks.expire_if_due(key, now);
    let expire = match ttl {
        Ttl::Keep => ks.keys.get(key.as_ref()).and_then(|e| e.expire),
        Ttl::At(t) if t <= now as i64 => {
            ks.remove(key);
            return;
        }
        Ttl::At(t) => Some(t as u64),
        Ttl::Unset | Ttl::Persist => None,
    };
    ks.put(key, Data::Str(v), expire);
}

pub fn setnx(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    if ks.get(&a[1], c.now_ms).is_some() {
        return Value::Integer(0);
    }
    set_value(ks, &a[1], a[2].clone(), Ttl::Unset, c.now_ms);
    Value::Integer(1)
}

fn setex_generic(ks: &mut Keyspace, a: &[Bytes], c: &Context, secs: bool, name: &str) -> Value {
    match expire_value(&a[2], secs, true, c.now_ms, name) {
        Ok(t) => {
            set_value(ks, &a[1], a[3].clone(), Ttl::At(t), c.now_ms);
            ok()
        }
        Err(e) => e,
    }
}

pub fn setex(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    setex_generic(ks, a, c, true, "setex")
}

pub fn psetex(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    setex_generic(ks, a, c, false, "psetex")
}

pub fn mget(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    Value::Array(
        a[1..]
            .iter()
            .map(|k| match ks.get_str(k, c.now_ms) {
                Ok(Some(v)) => bulk(v),
                _ => Value::Null,
            })
            .collect(),
    )
}

pub fn mset(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    if a.len() % 2 == 0 {
        return arity_err("mset");
    }
    for p in a[1..].chunks(2) {
        set_value(ks, &p[0], p[1].clone(), Ttl::Unset, c.now_ms);
    }
    ok()
}

pub fn msetnx(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    if a.len() % 2 == 0 {
        return arity_err("msetnx");
    }
    if a[1..].chunks(2).any(|p| ks.get(&p[0], c.now_ms).is_some()) {
        return Value::Integer(0);
    }
    for p in a[1..].chunks(2) {
        set_value(ks, &p[0], p[1].clone(), Ttl::Unset, c.now_ms);
    }
    Value::Integer(1)
}

pub fn getset(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let old = match ks.get_str(&a[1], c.now_ms) {
        Ok(v) => v.cloned(),
        Err(e) => return e,
    };
    set_value(ks, &a[1], a[2].clone(), Ttl::Unset, c.now_ms);
    old.map_or(Value::Null, Value::Bulk)
}

pub fn getdel(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let old = match ks.get_str(&a[1], c.now_ms) {
        Ok(v) => v.cloned(),
        Err(e) => return e,
    };
    ks.expire_if_due(&a[1], c.now_ms);
    if old.is_some() {
        ks.remove(&a[1]);
    }
    old.map_or(Value::Null, Value::Bulk)
}

pub fn getex(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let o = match str_opts(a, 2, false) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let v = match ks.get_str(&a[1], c.now_ms) {
        Ok(Some(v)) => v.clone(),
        Ok(None) => return Value::Null,
        Err(e) => return e,
    };
    // Like Redis, the expiry's value is checked only once the key is known to be a string.
    let mut ttl = if o.persist { Ttl::Persist } else { Ttl::Unset };
    if let Some((j, secs, rel)) = o.expire {
        match expire_value(&a[j], secs, rel, c.now_ms, "getex") {
            Ok(t) => ttl = Ttl::At(t),
            Err(e) => return e,
        }
    }
    match ttl {
        Ttl::At(t) if t <= c.now_ms as i64 => {
            ks.remove(&a[1]);
        }
        Ttl::At(t) => ks.set_expire(&a[1], Some(t as u64)),
        Ttl::Persist => {
            if ks
                .keys
                .get(a[1].as_ref())
                .is_some_and(|e| e.expire.is_some())
            {
                ks.set_expire(&a[1], None);
            }
        }
        Ttl::Unset | Ttl::Keep => {}
    }
    Value::Bulk(v)
}

/// Replaces a string value in place, keeping its TTL.
fn store_keep_ttl(ks: &mut Keyspace, key: &Bytes, v: Bytes, now: u64) {
    set_value(ks, key, v, Ttl::Keep, now);
}

pub fn append(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let old = match ks.get_str(&a[1], c.now_ms) {
        Ok(v) => v.cloned(),
        Err(e) => return e,
    };
    let old_len = old.as_ref().map_or(0, Bytes::len);
    if old_len + a[2].len() > MAX_STRING {
        return err(TOO_BIG);
    }
    let mut b = BytesMut::with_capacity(old_len + a[2].len());
    if let Some(o) = &old {
        b.extend_from_slice(o);
    }
    b.extend_from_slice(&a[2]);
    let len = b.len();
    store_keep_ttl(ks, &a[1], b.freeze(), c.now_ms);
    Value::Integer(len as i64)
}

pub fn strlen(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match ks.get_str(&a[1], c.now_ms) {
        Ok(v) => Value::Integer(v.map_or(0, |v| v.len() as i64)),
        Err(e) => e,
    }
}

fn incr_generic(ks: &mut Keyspace, key: &Bytes, by: i64, now: u64) -> Value {
    let cur = match ks.get_str(key, now) {
        Ok(Some(v)) => match parse_i64(v) {
            Some(n) => n,
            None => return err(NOT_INT),
        },
        Ok(None) => 0,
        Err(e) => return e,
    };
    let Some(n) = cur.checked_add(by) else {
        return err(OVERFLOW);
    };
    store_keep_ttl(ks, key, Bytes::from(n.to_string()), now);
    Value::Integer(n)
}

pub fn incr(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    incr_generic(ks, &a[1], 1, c.now_ms)
}

pub fn decr(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    incr_generic(ks, &a[1], -1, c.now_ms)
}

pub fn incrby(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match int_arg(&a[2]) {
        Ok(by) => incr_generic(ks, &a[1], by, c.now_ms),
        Err(e) => e,
    }
}

pub fn decrby(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match int_arg(&a[2]) {
        Ok(i64::MIN) => err("ERR decrement would overflow"),
        Ok(by) => incr_generic(ks, &a[1], -by, c.now_ms),
        Err(e) => e,
    }
}

pub fn incrbyfloat(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let cur = match ks.get_str(&a[1], c.now_ms) {
        Ok(v) => v.cloned(),
        Err(e) => return e,
    };
    let cur_text = cur.clone().unwrap_or_else(|| Bytes::from_static(b"0"));
    // Redis adds in long double (strtold, x87 80-bit, "%.17Lf"): see longdouble.rs.
    let Some(x) = crate::longdouble::parse(&cur_text) else {
        return err(NOT_FLOAT);
    };
    let Some(y) = crate::longdouble::parse(&a[2]) else {
        return err(NOT_FLOAT);
    };
    let Some(sum) = crate::longdouble::add(x, y) else {
        return err(NAN_INF);
    };
    let out = Bytes::from(crate::longdouble::format_human(sum));
    store_keep_ttl(ks, &a[1], out.clone(), c.now_ms);
    Value::Bulk(out)
}

pub fn getrange(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (start, end) = match (int_arg(&a[2]), int_arg(&a[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let v = match ks.get_str(&a[1], c.now_ms) {
        Ok(Some(v)) => v,
        Ok(None) => return Value::Bulk(Bytes::new()),
        Err(e) => return e,
    };
    if start < 0 && end < 0 && start > end {
        return Value::Bulk(Bytes::new());
    }
    match range(start, end, v.len()) {
        Some((s, e)) => Value::Bulk(v.slice(s..=e)),
        None => Value::Bulk(Bytes::new()),
    }
}

pub fn setrange(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let offset = match int_arg(&a[2]) {
        Ok(o) if o < 0 => return err("ERR offset is out of range"),
        Ok(o) => o as u64,
        Err(e) => return e,
    };
    let val = &a[3];
    let old = match ks.get_str(&a[1], c.now_ms) {
        Ok(v) => v.cloned(),
        Err(e) => return e,
    };
    let old_len = old.as_ref().map_or(0, Bytes::len);
    if val.is_empty() {
        return Value::Integer(old_len as i64);
    }
    if offset + val.len() as u64 > MAX_STRING as u64 {
        return err(TOO_BIG);
    }
    let offset = offset as usize;
    let new_len = old_len.max(offset + val.len());
    let mut b = BytesMut::zeroed(new_len);
    if let Some(o) = &old {
        b[..o.len()].copy_from_slice(o);
    }
    b[offset..offset + val.len()].copy_from_slice(val);
    store_keep_ttl(ks, &a[1], b.freeze(), c.now_ms);
    Value::Integer(new_len as i64)
}
