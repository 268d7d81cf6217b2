//! String commands.

use bytes::{Bytes, BytesMut};
use resp::Value;

use crate::util::*;
use crate::{notify_class, Context, Data, Keyspace};

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

/// The options of SET (`set`) or GETEX, as Redis's parseExtendedStringArgumentsOrReply reads
/// them: an expiry kind excludes the other kinds, KEEPTTL and PERSIST, but may repeat (the last
/// value wins); NX excludes XX; the expiry value itself is checked later.
#[derive(Default)]
struct StrOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (value, in seconds, relative to now)
    expire: Option<(&'a Bytes, bool, bool)>,
}

fn str_opts(a: &[Bytes], from: usize, set: bool) -> Result<StrOpts<'_>, Value> {
    let mut o = StrOpts::default();
    let mut kind: Option<Vec<u8>> = None;
    let mut i = from;
    while i < a.len() {
        let opt = a[i].to_ascii_uppercase();
        let next = a.get(i + 1);
        let other_expiry = |k: &[u8]| kind.as_deref().is_some_and(|x| x != k);
        match opt.as_slice() {
            b"NX" if set && !o.xx => o.nx = true,
            b"XX" if set && !o.nx => o.xx = true,
            b"GET" if set => o.get = true,
            b"KEEPTTL" if set && kind.is_none() => o.keepttl = true,
            b"PERSIST" if !set && kind.is_none() => o.persist = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT"
                if !o.keepttl && !o.persist && !other_expiry(&opt) && next.is_some() =>
            {
                let secs = opt == b"EX" || opt == b"EXAT";
                let rel = opt == b"EX" || opt == b"PX";
                o.expire = next.map(|v| (v, secs, rel));
                kind = Some(opt);
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
    let mut ttl = if o.keepttl { Ttl::Keep } else { Ttl::Unset };
    // SET checks the expiry before looking at the key (GETEX after).
    if let Some((v, secs, rel)) = o.expire {
        match expire_value(v, secs, rel, c.now_ms, "set") {
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
    notify_set(ks, key, ttl, now);
    if get {
        reply_old()
    } else {
        ok()
    }
}

/// SET's events (t_string.c `setGenericCommand`): "set", then "expire" with a TTL; a TTL
/// already past (EXAT/PXAT) removed the key at once, where Redis expires it on the next
/// access: "expired" follows here at once.
fn notify_set(ks: &mut Keyspace, key: &Bytes, ttl: Ttl, now: u64) {
    ks.notify(notify_class::STRING, "set", key);
    if let Ttl::At(t) = ttl {
        ks.notify(notify_class::GENERIC, "expire", key);
        if t <= now as i64 {
            ks.notify(notify_class::EXPIRED, "expired", key);
        }
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
    notify_set(ks, &a[1], Ttl::Unset, c.now_ms);
    Value::Integer(1)
}

fn setex_generic(ks: &mut Keyspace, a: &[Bytes], c: &Context, secs: bool, name: &str) -> Value {
    match expire_value(&a[2], secs, true, c.now_ms, name) {
        Ok(t) => {
            set_value(ks, &a[1], a[3].clone(), Ttl::At(t), c.now_ms);
            notify_set(ks, &a[1], Ttl::At(t), c.now_ms);
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
        ks.notify(notify_class::STRING, "set", &p[0]);
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
        ks.notify(notify_class::STRING, "set", &p[0]);
    }
    Value::Integer(1)
}

pub fn getset(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let old = match ks.get_str(&a[1], c.now_ms) {
        Ok(v) => v.cloned(),
        Err(e) => return e,
    };
    set_value(ks, &a[1], a[2].clone(), Ttl::Unset, c.now_ms);
    ks.notify(notify_class::STRING, "set", &a[1]);
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
        ks.notify(notify_class::GENERIC, "del", &a[1]);
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
    let ttl = match o.expire {
        Some((raw, secs, rel)) => match expire_value(raw, secs, rel, c.now_ms, "getex") {
            Ok(t) => Ttl::At(t),
            Err(e) => return e,
        },
        None if o.persist => Ttl::Persist,
        None => Ttl::Unset,
    };
    match ttl {
        Ttl::At(t) if t <= c.now_ms as i64 => {
            ks.remove(&a[1]);
            ks.notify(notify_class::GENERIC, "del", &a[1]);
        }
        Ttl::At(t) => {
            ks.set_expire(&a[1], Some(t as u64));
            ks.notify(notify_class::GENERIC, "expire", &a[1]);
        }
        Ttl::Persist => {
            if ks
                .keys
                .get(a[1].as_ref())
                .is_some_and(|e| e.expire.is_some())
            {
                ks.set_expire(&a[1], None);
                ks.notify(notify_class::GENERIC, "persist", &a[1]);
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
    ks.notify(notify_class::STRING, "append", &a[1]);
    // Redis appends to an existing string in place (raw); a new key is encoded as SET's.
    if old.is_some() {
        ks.mark_converted(&a[1]);
    }
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
    ks.notify(notify_class::STRING, "incrby", key);
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
    ks.mark_float_text(&a[1]);
    ks.notify(notify_class::STRING, "incrbyfloat", &a[1]);
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
    ks.mark_converted(&a[1]);
    ks.notify(notify_class::STRING, "setrange", &a[1]);
    Value::Integer(new_len as i64)
}

/// The largest LCS table ninesdb fills: (len1 + 1) * (len2 + 1) cells, e.g. two strings of
/// 4095 bytes. The work is O(len1 * len2) inside the replicated apply loop, and Redis's own
/// bound (a table of at most proto-max-bulk-len bytes, 134 million cells, ~0.5 s) would stall
/// every command behind it; this one costs at most ~30 ms and 32 MB. Since the shorter string
/// is then at most 4095 bytes, LCS lengths fit the table's u16 cells.
pub const LCS_MAX_CELLS: u64 = 1 << 24;

/// Redis's bound: a table of u32 cells no larger than proto-max-bulk-len.
const LCS_REDIS_MAX_BYTES: u64 = 512 * 1024 * 1024;

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
pub fn lcs(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (x, y) = match (ks.get_str(&a[1], c.now_ms), ks.get_str(&a[2], c.now_ms)) {
        (Ok(x), Ok(y)) => (
            x.cloned().unwrap_or_default(),
            y.cloned().unwrap_or_default(),
        ),
        _ => return err("ERR The specified keys must contain string values"),
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < a.len() {
        let opt = a[j].to_ascii_uppercase();
        match opt.as_slice() {
            b"IDX" => getidx = true,
            b"LEN" => getlen = true,
            b"WITHMATCHLEN" => withmatchlen = true,
            b"MINMATCHLEN" if j + 1 < a.len() => {
                match int_arg(&a[j + 1]) {
                    Ok(n) => minmatchlen = n.max(0),
                    Err(e) => return e,
                }
                j += 1;
            }
            _ => return err(SYNTAX),
        }
        j += 1;
    }
    if getidx && getlen {
        return err("ERR If you want both the length and indexes, please just use IDX.");
    }
    let cells = (x.len() as u64 + 1) * (y.len() as u64 + 1);
    if cells.saturating_mul(4) > LCS_REDIS_MAX_BYTES {
        return err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    if cells > LCS_MAX_CELLS {
        return Value::Error(format!(
            "ERR LCS of a {}-byte and a {}-byte string needs a table of {cells} cells; \
             ninesdb allows at most {LCS_MAX_CELLS} (e.g. two strings of 4095 bytes)",
            x.len(),
            y.len()
        ));
    }
    if getlen {
        return Value::Integer(i64::from(lcs_len(&x, &y)));
    }
    if x.is_empty() || y.is_empty() {
        // Nothing in common, without a table as long as the other string.
        return lcs_full(b"", b"", getidx, withmatchlen, 0);
    }
    lcs_full(&x, &y, getidx, withmatchlen, minmatchlen as u64)
}

/// The LCS length with two rows of the table (rows as long as the shorter string).
fn lcs_len(x: &[u8], y: &[u8]) -> u32 {
    let (x, y) = if x.len() < y.len() { (y, x) } else { (x, y) };
    let mut prev = vec![0u32; y.len() + 1];
    let mut cur = vec![0u32; y.len() + 1];
    for &xc in x {
        for (j, &yc) in y.iter().enumerate() {
            cur[j + 1] = if xc == yc {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[y.len()]
}

/// The LCS string, or with `idx` the matching ranges, walking the table back from the end
/// exactly as Redis does (so the same LCS and the same ranges are chosen).
fn lcs_full(x: &[u8], y: &[u8], idx: bool, withmatchlen: bool, minmatchlen: u64) -> Value {
    let w = y.len() + 1;
    let mut t = vec![0u16; (x.len() + 1) * w];
    for i in 1..=x.len() {
        for j in 1..=y.len() {
            t[i * w + j] = if x[i - 1] == y[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[x.len() * w + y.len()];
    let mut out = vec![0u8; usize::from(total)];
    let mut k = usize::from(total);
    let mut matches = Vec::new();
    // The range being grown backwards: (x start, x end, y start, y end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (x.len(), y.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if x[i - 1] == y[j - 1] {
            out[k - 1] = x[i - 1];
            range = match range {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                // Contiguous with the current range (always, right after a match).
                Some((xs, xe, ys, ye)) => Some((xs - 1, xe, ys - 1, ye)),
            };
            if range.is_some_and(|(xs, _, ys, _)| xs == 0 || ys == 0) {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((xs, xe, ys, ye)) = range.take() {
                let len = (xe - xs + 1) as u64;
                if len >= minmatchlen {
                    let pos = |s: usize, e: usize| {
                        Value::Array(vec![Value::Integer(s as i64), Value::Integer(e as i64)])
                    };
                    let mut m = vec![pos(xs, xe), pos(ys, ye)];
                    if withmatchlen {
                        m.push(Value::Integer(len as i64));
                    }
                    matches.push(Value::Array(m));
                }
            }
        }
    }
    if idx {
        Value::Map(vec![
            (bulk_str("matches"), Value::Array(matches)),
            (bulk_str("len"), Value::Integer(i64::from(total))),
        ])
    } else {
        Value::Bulk(Bytes::from(out))
    }
}
