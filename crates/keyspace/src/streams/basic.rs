//! XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID.

use bytes::Bytes;
use resp::Value;

use super::id::{self, Parsed, StreamId};
use super::stream::{Stream, Trim};
use super::{entry_reply, get, NO_KEY};
use crate::util::{arity_err, err, ok, parse_i64, NOT_INT, SYNTAX};
use crate::{notify_class, Context, Keyspace};

/// The default LIMIT of an approximate trim: 100 nodes' worth (Redis's
/// `100 * stream-node-max-entries`).
const APPROX_LIMIT: u64 = 100 * super::stream::NODE_ENTRIES_MAX;

/// XADD's and XTRIM's options (Redis's `streamAddTrimArgs`).
#[derive(Default)]
struct AddTrimArgs {
    /// XADD: the id argument's position, and the id unless `*`.
    id_at: usize,
    id: Option<Parsed>,
    no_mkstream: bool,
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
}

fn int(b: &[u8]) -> Result<i64, Value> {
    parse_i64(b).ok_or_else(|| err(NOT_INT))
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(a: &[Bytes], xadd: bool) -> Result<AddTrimArgs, Value> {
    const BOTH: &str =
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut args = AddTrimArgs::default();
    let mut limit_given = None;
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = a[i].to_ascii_lowercase();
        if xadd && opt == b"*" {
            break;
        } else if (opt == b"maxlen" || opt == b"minid") && more > 0 {
            if args.trim.is_some() {
                return Err(err(BOTH));
            }
            args.approx = false;
            let next = &a[i + 1][..];
            if more >= 2 && (next == b"~" || next == b"=") {
                args.approx = next == b"~";
                i += 1;
            }
            args.trim = Some(if opt == b"maxlen" {
                let max = int(&a[i + 1])?;
                if max < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(max as u64)
            } else {
                Trim::MinId(id::parse_strict(&a[i + 1])?)
            });
            i += 1;
        } else if opt == b"limit" && more > 0 {
            let limit = int(&a[i + 1])?;
            if limit < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = Some(limit as u64);
            i += 1;
        } else if xadd && opt == b"nomkstream" {
            args.no_mkstream = true;
        } else if xadd {
            args.id = Some(id::parse_generic(&a[i], 0, true, true)?);
            break;
        } else {
            return Err(err(SYNTAX));
        }
        i += 1;
    }
    args.id_at = i;
    if limit_given.is_some_and(|l| l > 0) && args.trim.is_none() {
        return Err(err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && args.trim.is_none() {
        return Err(err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    match limit_given {
        Some(_) if !args.approx => {
            return Err(err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ))
        }
        Some(l) => args.limit = l,
        None if args.approx => args.limit = APPROX_LIMIT,
        None => {}
    }
    Ok(args)
}

/// The id XADD gives a new entry, or its error (Redis's `streamAppendItem` rules).
fn new_id(s: &Stream, given: Option<Parsed>, now_ms: u64) -> Result<StreamId, Value> {
    const SMALLER: &str =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    let last = s.last_id;
    let id = match given {
        // Never below the last id, whatever the log's clock says.
        None if now_ms > last.ms => StreamId::new(now_ms, 0),
        None => last.next().ok_or_else(|| err(SMALLER))?,
        Some(Parsed {
            id,
            seq_given: true,
        }) => id,
        Some(Parsed {
            id,
            seq_given: false,
        }) if id.ms == last.ms => {
            if last.seq == u64::MAX {
                // Redis fails here without setting errno, and so reports the other error.
                return Err(err("ERR Elements are too large to be stored"));
            }
            StreamId::new(last.ms, last.seq + 1)
        }
        Some(Parsed { id, .. }) => id,
    };
    if id <= last {
        return Err(err(SMALLER));
    }
    Ok(id)
}

pub fn xadd(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let args = match parse_add_trim(a, true) {
        Ok(args) => args,
        Err(e) => return e,
    };
    let fields_at = args.id_at + 1;
    let pairs = a.len().saturating_sub(fields_at);
    if pairs < 2 || pairs % 2 == 1 {
        return arity_err("xadd");
    }
    if args.id.is_some_and(|p| p.seq_given && p.id.is_zero()) {
        return err("ERR The ID specified in XADD must be greater than 0-0");
    }
    let key = &a[1];
    let s = match ks.stream_mut(key, c.now_ms, !args.no_mkstream) {
        Ok(Some(s)) => s,
        Ok(None) => return Value::Null,
        Err(e) => return e,
    };
    let mut events: &[&'static str] = &[];
    let reply = if s.last_id == StreamId::MAX {
        err("ERR The stream has exhausted the last possible ID, unable to add more items")
    } else {
        match new_id(s, args.id, c.now_ms) {
            Ok(id) => {
                s.append(id, a[fields_at..].to_vec());
                events = &["xadd"];
                if let Some(trim) = args.trim {
                    if s.trim(trim, args.approx, args.limit) > 0 {
                        events = &["xadd", "xtrim"];
                    }
                }
                id.reply()
            }
            Err(e) => e,
        }
    };
    ks.modified(key);
    for event in events {
        ks.notify(notify_class::STREAM, event, key);
    }
    reply
}

fn range(ks: &Keyspace, a: &[Bytes], c: &Context, rev: bool) -> Value {
    let (start_arg, end_arg) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let start = match id::parse_bound(start_arg, 0, true) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let end = match id::parse_bound(end_arg, u64::MAX, false) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let mut count: Option<u64> = None;
    let mut j = 4;
    while j < a.len() {
        if a[j].eq_ignore_ascii_case(b"count") && j + 1 < a.len() {
            match int(&a[j + 1]) {
                Ok(n) => count = Some(n.max(0) as u64),
                Err(e) => return e,
            }
            j += 2;
        } else {
            return err(SYNTAX);
        }
    }
    let s = match get(ks, &a[1], c) {
        Ok(Some(s)) => s,
        Ok(None) => return Value::Array(vec![]),
        Err(e) => return e,
    };
    if count == Some(0) {
        return Value::NullArray;
    }
    let limit = count.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    if start > end {
        return Value::Array(vec![]);
    }
    let entries = s.entries.range(start..=end);
    let out: Vec<Value> = if rev {
        entries
            .rev()
            .take(limit)
            .map(|(id, p)| entry_reply(*id, p))
            .collect()
    } else {
        entries
            .take(limit)
            .map(|(id, p)| entry_reply(*id, p))
            .collect()
    };
    Value::Array(out)
}

pub fn xrange(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    range(ks, a, c, false)
}

pub fn xrevrange(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    range(ks, a, c, true)
}

pub fn xlen(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    match get(ks, &a[1], c) {
        Ok(s) => Value::Integer(s.map_or(0, |s| s.len() as i64)),
        Err(e) => e,
    }
}

pub fn xdel(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match get(ks, &a[1], c) {
        Ok(Some(_)) => {}
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    }
    let mut ids = Vec::with_capacity(a.len() - 2);
    for arg in &a[2..] {
        match id::parse_strict(arg) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let Ok(Some(s)) = ks.stream_mut(&a[1], c.now_ms, false) else {
        return Value::Integer(0);
    };
    let mut deleted = 0;
    let mut first_deleted = false;
    for id in ids {
        if s.delete(id) {
            first_deleted |= id == s.first_id;
            s.max_deleted = s.max_deleted.max(id);
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.entries.is_empty() {
            s.first_id = StreamId::MIN;
        } else if first_deleted {
            s.first_id = s
                .entries
                .first_key_value()
                .map_or(StreamId::MIN, |(id, _)| *id);
        }
        ks.changed(&a[1], notify_class::STREAM, "xdel");
    }
    Value::Integer(deleted)
}

pub fn xtrim(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let args = match parse_add_trim(a, false) {
        Ok(args) => args,
        Err(e) => return e,
    };
    let s = match ks.stream_mut(&a[1], c.now_ms, false) {
        Ok(Some(s)) => s,
        Ok(None) => return Value::Integer(0),
        Err(e) => return e,
    };
    let Some(trim) = args.trim else {
        return Value::Integer(0);
    };
    let deleted = s.trim(trim, args.approx, args.limit);
    if deleted > 0 {
        ks.changed(&a[1], notify_class::STREAM, "xtrim");
    }
    Value::Integer(deleted as i64)
}

pub fn xsetid(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let id = match id::parse_strict(&a[2]) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if a[i].eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            match int(&a[i + 1]) {
                Ok(n) if n < 0 => return err("ERR entries_added must be positive"),
                Ok(n) => entries_added = Some(n as u64),
                Err(e) => return e,
            }
        } else if a[i].eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            match id::parse_strict(&a[i + 1]) {
                Ok(m) if id < m => {
                    return err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                }
                Ok(m) => max_deleted = m,
                Err(e) => return e,
            }
        } else {
            return err(SYNTAX);
        }
        i += 2;
    }
    let s = match ks.stream_mut(&a[1], c.now_ms, false) {
        Ok(Some(s)) => s,
        Ok(None) => return err(NO_KEY),
        Err(e) => return e,
    };
    if !s.entries.is_empty() {
        if id < s.last_valid_id() {
            return err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added.is_some_and(|n| (s.len() as u64) > n) {
            return err("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.max_deleted = max_deleted;
    }
    ks.changed(&a[1], notify_class::STREAM, "xsetid");
    ok()
}
