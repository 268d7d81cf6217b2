//! Generic key commands.

use bytes::Bytes;
use resp::Value;

use crate::util::*;
use crate::{notify_class, scan_hash, Context, Data, Keyspace};

/// Largest COUNT honoured by SCAN-family commands.
pub const SCAN_COUNT_MAX: usize = 10_000;

pub fn del(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let mut n = 0;
    for k in &a[1..] {
        ks.expire_if_due(k, c.now_ms);
        if ks.remove(k).is_some() {
            ks.notify(notify_class::GENERIC, "del", k);
            n += 1;
        }
    }
    Value::Integer(n)
}

pub fn exists(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    Value::Integer(
        a[1..]
            .iter()
            .filter(|k| ks.get(k, c.now_ms).is_some())
            .count() as i64,
    )
}

pub fn type_(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    Value::Simple(
        ks.get(&a[1], c.now_ms)
            .map_or("none", |e| e.data.type_name())
            .to_string(),
    )
}

fn expire_generic(
    ks: &mut Keyspace,
    a: &[Bytes],
    c: &Context,
    base: i64,
    secs: bool,
    name: &str,
) -> Value {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        match o.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Value::Error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(o)
                ))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return err("ERR GT and LT options at the same time are not compatible");
    }
    let mut when = match int_arg(&a[2]) {
        Ok(w) => w,
        Err(e) => return e,
    };
    if secs {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return expire_err(name);
        }
        when *= 1000;
    }
    if when > i64::MAX - base {
        return expire_err(name);
    }
    when += base;
    let key = &a[1];
    ks.expire_if_due(key, c.now_ms);
    let Some(e) = ks.keys.get(key.as_ref()) else {
        return Value::Integer(0);
    };
    let cur = e.expire;
    let skip = (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|t| when <= t as i64))
        || (lt && cur.is_some_and(|t| when >= t as i64));
    if skip {
        return Value::Integer(0);
    }
    if when <= c.now_ms as i64 {
        ks.remove(key);
        ks.notify(notify_class::GENERIC, "del", key);
    } else {
        ks.set_expire(key, Some(when as u64));
        ks.notify(notify_class::GENERIC, "expire", key);
    }
    Value::Integer(1)
}

fn now_i64(c: &Context) -> i64 {
    i64::try_from(c.now_ms).unwrap_or(i64::MAX)
}

pub fn expire(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    expire_generic(ks, a, c, now_i64(c), true, "expire")
}
pub fn pexpire(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    expire_generic(ks, a, c, now_i64(c), false, "pexpire")
}
pub fn expireat(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    expire_generic(ks, a, c, 0, true, "expireat")
}
pub fn pexpireat(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    expire_generic(ks, a, c, 0, false, "pexpireat")
}

fn ttl_generic(ks: &Keyspace, a: &[Bytes], c: &Context, ms: bool) -> Value {
    match ks.get(&a[1], c.now_ms) {
        None => Value::Integer(-2),
        Some(e) => match e.expire {
            None => Value::Integer(-1),
            Some(t) => {
                let left = t.saturating_sub(c.now_ms) as i64;
                Value::Integer(if ms { left } else { to_secs(left) })
            }
        },
    }
}

/// Milliseconds to rounded seconds, `(ms + 500) / 1000` without overflow: an expiry set with
/// `PEXPIREAT k 9223372036854775807` reads back as 9223372036854776, as in Redis.
fn to_secs(ms: i64) -> i64 {
    ((i128::from(ms) + 500) / 1000) as i64
}

pub fn ttl(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    ttl_generic(ks, a, c, false)
}
pub fn pttl(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    ttl_generic(ks, a, c, true)
}

fn expiretime_generic(ks: &Keyspace, a: &[Bytes], c: &Context, ms: bool) -> Value {
    match ks.get(&a[1], c.now_ms) {
        None => Value::Integer(-2),
        Some(e) => match e.expire {
            None => Value::Integer(-1),
            Some(t) => Value::Integer(if ms { t as i64 } else { to_secs(t as i64) }),
        },
    }
}
pub fn expiretime(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    expiretime_generic(ks, a, c, false)
}
pub fn pexpiretime(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    expiretime_generic(ks, a, c, true)
}

pub fn persist(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    ks.expire_if_due(&a[1], c.now_ms);
    match ks.keys.get(a[1].as_ref()) {
        Some(e) if e.expire.is_some() => {
            ks.set_expire(&a[1], None);
            ks.notify(notify_class::GENERIC, "persist", &a[1]);
            Value::Integer(1)
        }
        _ => Value::Integer(0),
    }
}

/// Redis deletes a replaced destination and adds the key anew (RENAME, COPY REPLACE), so a
/// "new" event is raised for it even where ninesdb replaces the value in place.
fn replaced_is_new(ks: &mut Keyspace, dst: &Bytes) {
    if ks.keys.contains_key(dst.as_ref()) {
        ks.notify(notify_class::NEW, "new", dst);
    }
}

fn rename_generic(ks: &mut Keyspace, a: &[Bytes], c: &Context, nx: bool) -> Value {
    let (src, dst) = (&a[1], &a[2]);
    ks.expire_if_due(src, c.now_ms);
    ks.expire_if_due(dst, c.now_ms);
    if !ks.keys.contains_key(src.as_ref()) {
        return err("ERR no such key");
    }
    if src == dst {
        return if nx { Value::Integer(0) } else { ok() };
    }
    if nx && ks.keys.contains_key(dst.as_ref()) {
        return Value::Integer(0);
    }
    let Some(e) = ks.remove(src) else {
        return err("ERR no such key");
    };
    replaced_is_new(ks, dst);
    ks.put(dst, e.data, e.expire);
    if e.converted {
        ks.mark_converted(dst);
    }
    if e.float_text {
        ks.mark_float_text(dst);
    }
    ks.notify(notify_class::GENERIC, "rename_from", src);
    ks.notify(notify_class::GENERIC, "rename_to", dst);
    if nx {
        Value::Integer(1)
    } else {
        ok()
    }
}

pub fn rename(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    rename_generic(ks, a, c, false)
}
pub fn renamenx(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    rename_generic(ks, a, c, true)
}

pub fn keys(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let pat = &a[1];
    let all = pat.as_ref() == b"*";
    Value::Array(
        ks.keys
            .iter()
            .filter(|(k, e)| !e.expired(c.now_ms) && (all || glob_match(pat, k)))
            .map(|(k, _)| bulk(k))
            .collect(),
    )
}

/// Options of SCAN/HSCAN/SSCAN: cursor, MATCH, COUNT, TYPE, NOVALUES.
pub struct ScanOpts {
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: usize,
    pub type_: Option<Bytes>,
    pub novalues: bool,
}

/// A SCAN cursor as Redis reads it (`strtoul` base 10, then no leading space, no trailing
/// text, no overflow): so `""` is 0, `+5` is 5 and `-1` wraps to the largest cursor.
pub fn scan_cursor(b: &[u8]) -> Result<u64, Value> {
    let invalid = || err("ERR invalid cursor");
    // C stops at a NUL byte.
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    if b.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Parses `cursor [MATCH p] [COUNT n] [TYPE t]` starting at `a[i]` (the cursor).
pub fn scan_opts(
    a: &[Bytes],
    i: usize,
    allow_type: bool,
    allow_novalues: bool,
) -> Result<ScanOpts, Value> {
    let cursor = scan_cursor(&a[i])?;
    let mut o = ScanOpts {
        cursor,
        pattern: None,
        count: 10,
        type_: None,
        novalues: false,
    };
    let mut j = i + 1;
    while j < a.len() {
        let opt = a[j].to_ascii_uppercase();
        let has_next = j + 1 < a.len();
        match opt.as_slice() {
            b"COUNT" if has_next => {
                let n = int_arg(&a[j + 1])?;
                if n < 1 {
                    return Err(err(SYNTAX));
                }
                o.count = (n as usize).min(SCAN_COUNT_MAX);
                j += 2;
            }
            b"MATCH" if has_next => {
                o.pattern = Some(a[j + 1].clone()).filter(|p| p.as_ref() != b"*");
                j += 2;
            }
            b"TYPE" if has_next && allow_type => {
                o.type_ = Some(a[j + 1].to_ascii_lowercase().into());
                j += 2;
            }
            b"NOVALUES" if allow_novalues => {
                o.novalues = true;
                j += 1;
            }
            _ => return Err(err(SYNTAX)),
        }
    }
    Ok(o)
}

/// SCAN: the cursor is a position in (hash of key) order, so keys present for the whole
/// iteration are returned even if others are added or removed meanwhile.
pub fn scan(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let o = match scan_opts(a, 1, true, false) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let mut out = Vec::new();
    let mut next = 0u64;
    let mut last_hash = None;
    for (visited, (h, k)) in ks.scan_index.range((o.cursor, Bytes::new())..).enumerate() {
        // Finish every key sharing a hash before stopping, so the cursor never splits them.
        if visited >= o.count && last_hash != Some(*h) {
            next = *h;
            break;
        }
        last_hash = Some(*h);
        let Some(e) = ks.get(k, c.now_ms) else {
            continue;
        };
        if o.pattern.as_ref().is_some_and(|p| !glob_match(p, k)) {
            continue;
        }
        if o.type_
            .as_ref()
            .is_some_and(|t| t.as_ref() != e.data.type_name().as_bytes())
        {
            continue;
        }
        out.push(bulk(k));
    }
    Value::Array(vec![bulk_str(&next.to_string()), Value::Array(out)])
}

pub fn dbsize(ks: &Keyspace, _a: &[Bytes], c: &Context) -> Value {
    Value::Integer(ks.dbsize(c.now_ms) as i64)
}

pub fn randomkey(ks: &Keyspace, _a: &[Bytes], c: &Context) -> Value {
    let start = scan_hash(&c.seed.to_le_bytes());
    let after = ks.scan_index.range((start, Bytes::new())..);
    let before = ks.scan_index.range(..(start, Bytes::new()));
    for (_, k) in after.chain(before) {
        if ks.get(k, c.now_ms).is_some() {
            return bulk(k);
        }
    }
    Value::Null
}

pub fn flush(ks: &mut Keyspace, a: &[Bytes], _c: &Context) -> Value {
    if a.len() > 2
        || (a.len() == 2 && !matches!(a[1].to_ascii_uppercase().as_slice(), b"ASYNC" | b"SYNC"))
    {
        return err(SYNTAX);
    }
    if !ks.keys.is_empty() {
        ks.keys.clear();
        ks.used_bytes = 0;
        ks.expires.clear();
        ks.scan_index.clear();
        ks.clock += 1;
        ks.last_delete = ks.clock;
    }
    ok()
}

/// Scans an ordered collection for HSCAN/SSCAN: the cursor is an index; COUNT elements per call.
/// Like Redis with small (listpack/intset) encodings, collections of at most `SMALL_SCAN`
/// elements are returned whole, ignoring COUNT.
pub const SMALL_SCAN: usize = 128;

pub fn scan_seq<'a, T: 'a>(
    items: impl ExactSizeIterator<Item = T>,
    o: &ScanOpts,
    key_of: impl Fn(&T) -> &[u8],
    emit: impl Fn(T, &mut Vec<Value>),
) -> Value {
    let mut out = Vec::new();
    let mut next = 0u64;
    let (start, count) = if items.len() <= SMALL_SCAN {
        (0, usize::MAX)
    } else {
        (o.cursor as usize, o.count)
    };
    for (i, item) in items.enumerate().skip(start) {
        if i >= start.saturating_add(count) {
            next = i as u64;
            break;
        }
        if o.pattern
            .as_ref()
            .is_some_and(|p| !glob_match(p, key_of(&item)))
        {
            continue;
        }
        emit(item, &mut out);
    }
    Value::Array(vec![bulk_str(&next.to_string()), Value::Array(out)])
}

/// COPY source destination [DB db] [REPLACE]. Only database 0 exists, so any other DB index
/// gets Redis's answer for an index beyond `databases`.
pub fn copy(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        let opt = a[j].to_ascii_uppercase();
        if opt == b"REPLACE" {
            replace = true;
        } else if opt == b"DB" && j + 1 < a.len() {
            match int32_arg(&a[j + 1]) {
                Ok(0) => {}
                Ok(_) => return err(DB_RANGE),
                Err(e) => return e,
            }
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let (src, dst) = (&a[1], &a[2]);
    if src == dst {
        return err(SAME_OBJECT);
    }
    let Some(e) = ks.get(src, c.now_ms) else {
        return Value::Integer(0);
    };
    let (data, expire, raw, float_text) = (e.data.clone(), e.expire, e.converted, e.float_text);
    if ks.get(dst, c.now_ms).is_some() && !replace {
        return Value::Integer(0);
    }
    ks.expire_if_due(dst, c.now_ms);
    replaced_is_new(ks, dst);
    ks.put(dst, data, expire);
    if raw {
        ks.mark_converted(dst);
    }
    if float_text {
        ks.mark_float_text(dst);
    }
    ks.notify(notify_class::GENERIC, "copy_to", dst);
    Value::Integer(1)
}

/// MOVE key db: as Redis with `databases 1` (database 0 is the only one).
pub fn move_(_ks: &mut Keyspace, a: &[Bytes], _c: &Context) -> Value {
    match int32_arg(&a[2]) {
        Ok(0) => err(SAME_OBJECT),
        Ok(_) => err(DB_RANGE),
        Err(e) => e,
    }
}

/// TOUCH key...: how many exist. Reads are not replicated, so there is no access time to
/// update (see OBJECT IDLETIME).
pub fn touch(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    exists(ks, a, c)
}

pub fn migrate(_ks: &mut Keyspace, _a: &[Bytes], _c: &Context) -> Value {
    err(
        "ERR MIGRATE is not supported by ninesdb: a replicated keyspace cannot connect to \
         another server, and DUMP/RESTORE payloads are not implemented",
    )
}

/// Lines of OBJECT HELP, as Redis 7.0 prints them.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// Redis's default thresholds for small encodings (redis.conf of 7.0).
const SET_MAX_INTSET_ENTRIES: usize = 512;
const HASH_MAX_LISTPACK_ENTRIES: usize = 128;
const HASH_MAX_LISTPACK_VALUE: usize = 64;
const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
const ZSET_MAX_LISTPACK_VALUE: usize = 64;
/// Longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;
/// Redis shares the integer objects 0..10000 (`OBJ_SHARED_INTEGERS`) ...
const SHARED_INTEGERS: i64 = 10_000;
/// ... and reports their refcount as `OBJ_SHARED_REFCOUNT` (INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// The integer a string would be stored as (Redis's `tryObjectEncoding`: at most 20
/// bytes, canonical decimal).
fn int_encoded(s: &[u8]) -> Option<i64> {
    if s.len() > 20 {
        return None;
    }
    parse_i64(s)
}

/// Whether an aggregate needs Redis's large encoding now (hashtable, skiplist).
pub(crate) fn large_encoding(data: &Data) -> bool {
    matches!(encoding(data, false, false), "hashtable" | "skiplist")
}

/// What Redis 7.0 would answer to OBJECT ENCODING for this value: judged from the value, and
/// from `converted` (the entry's history: see `Entry::converted`).
fn encoding(data: &Data, converted: bool, float_text: bool) -> &'static str {
    match data {
        Data::Str(_) if converted => "raw",
        Data::Str(s) if float_text && s.len() <= EMBSTR_MAX => "embstr",
        Data::Set(_) if converted => "hashtable",
        Data::Hash(_) if converted => "hashtable",
        Data::ZSet(_) if converted => "skiplist",
        Data::Str(s) if int_encoded(s).is_some() => "int",
        Data::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
        Data::Str(_) => "raw",
        // Redis 7.0 keeps every list as a quicklist (the listpack list encoding came in 7.2).
        Data::List(_) => "quicklist",
        // Sets: only an intset is compact in 7.0 (a listpack set came in 7.2).
        Data::Set(s)
            if s.len() <= SET_MAX_INTSET_ENTRIES && s.iter().all(|m| parse_i64(m).is_some()) =>
        {
            "intset"
        }
        Data::Set(_) => "hashtable",
        Data::Hash(h)
            if h.len() <= HASH_MAX_LISTPACK_ENTRIES
                && h.iter().all(|(f, v)| {
                    f.len() <= HASH_MAX_LISTPACK_VALUE && v.len() <= HASH_MAX_LISTPACK_VALUE
                }) =>
        {
            "listpack"
        }
        Data::Hash(_) => "hashtable",
        Data::ZSet(z)
            if z.len() <= ZSET_MAX_LISTPACK_ENTRIES
                && z.iter().all(|(m, _)| m.len() <= ZSET_MAX_LISTPACK_VALUE) =>
        {
            "listpack"
        }
        Data::ZSet(_) => "skiplist",
        Data::Stream(_) => "stream",
    }
}

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key, OBJECT HELP.
/// MEMORY USAGE key [SAMPLES count]: the key's size as ninesdb estimates it (the figure
/// `maxmemory` counts: key, value and bookkeeping), not Redis's allocator-exact bytes; a
/// missing key is nil. MEMORY's other subcommands are the server's (node-wide).
pub fn memory(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    if !a[1].eq_ignore_ascii_case(b"usage") {
        return unknown_subcommand("MEMORY", &a[1]);
    }
    match a.len() {
        3 => {}
        5 if a[3].eq_ignore_ascii_case(b"samples") => {
            if let Err(e) = int_arg(&a[4]) {
                return e;
            }
        }
        2 => return arity_err("memory|usage"),
        _ => return err(SYNTAX),
    }
    ks.get(&a[2], c.now_ms)
        .map_or(Value::Null, |e| Value::Integer(e.size as i64))
}

pub fn object(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let sub = a[1].to_ascii_lowercase();
    let arity = match sub.as_slice() {
        b"help" => 2,
        b"encoding" | b"freq" | b"idletime" | b"refcount" => 3,
        _ => return unknown_subcommand("OBJECT", &a[1]),
    };
    if a.len() != arity {
        return arity_err(&format!("object|{}", String::from_utf8_lossy(&sub)));
    }
    if arity == 2 {
        return Value::Array(
            OBJECT_HELP
                .iter()
                .map(|l| Value::Simple((*l).to_string()))
                .collect(),
        );
    }
    let Some(e) = ks.get(&a[2], c.now_ms) else {
        return Value::Null;
    };
    match sub.as_slice() {
        b"encoding" => bulk_str(encoding(&e.data, e.converted, e.float_text)),
        b"freq" => err(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
             Please note that when switching between policies at runtime LRU and LFU data \
             will take some time to adjust.",
        ),
        // Seconds since the key was last written: ninesdb replicates writes only, so a read
        // leaves no trace any replica could agree on (Redis counts reads too). 0 when the
        // write time is unknown (a key from a snapshot older than write times).
        b"idletime" if e.written_ms == 0 => Value::Integer(0),
        b"idletime" => Value::Integer((c.now_ms.saturating_sub(e.written_ms) / 1000) as i64),
        _ => Value::Integer(match &e.data {
            Data::Str(s) if int_encoded(s).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n)) => {
                SHARED_REFCOUNT
            }
            _ => 1,
        }),
    }
}

/// Redis's reply to an unknown subcommand of a container command (`%.128s`, newlines blanked).
pub(crate) fn unknown_subcommand(cmd: &str, sub: &[u8]) -> Value {
    let sub = &sub[..sub.len().min(128)];
    let sub = &sub[..sub.iter().position(|&b| b == 0).unwrap_or(sub.len())];
    let text = String::from_utf8_lossy(sub).replace(['\r', '\n'], " ");
    Value::Error(format!("ERR unknown subcommand '{text}'. Try {cmd} HELP."))
}
