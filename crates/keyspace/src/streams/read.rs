//! XREAD and XREADGROUP, and what the server needs to block them: the keyspace serves what
//! it can now (a nil when nothing), and tells whether a blocked client would be served.

use bytes::Bytes;
use resp::Value;

use super::id::{self, StreamId};
use super::stream::Stream;
use super::{creating_consumer, entry_reply, get};
use crate::util::{err, parse_i64, NOT_INT, SYNTAX};
use crate::{Context, Data, Keyspace};

/// Entries a blocked XREAD without COUNT receives when served (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: &[u8] = b"1000";

/// An id argument of XREAD/XREADGROUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Entries above this id (`$` resolved to the stream's last id).
    After(StreamId),
    /// XREADGROUP's `>`: entries never delivered to the group.
    New,
}

#[derive(Debug, Default)]
struct ReadArgs {
    block: bool,
    /// 0 = no limit.
    count: u64,
    /// Index of the first key.
    streams_at: usize,
    streams: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

/// Parses the options up to STREAMS (Redis's `xreadCommand`).
fn parse_options(a: &[Bytes], xreadgroup: bool) -> Result<ReadArgs, Value> {
    let mut r = ReadArgs::default();
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - i - 1;
        let o = a[i].to_ascii_lowercase();
        if o == b"block" && more > 0 {
            i += 1;
            match parse_i64(&a[i]) {
                None => return Err(err("ERR timeout is not an integer or out of range")),
                Some(t) if t < 0 => return Err(err("ERR timeout is negative")),
                Some(_) => r.block = true,
            }
        } else if o == b"count" && more > 0 {
            i += 1;
            r.count = parse_i64(&a[i]).ok_or_else(|| err(NOT_INT))?.max(0) as u64;
        } else if o == b"streams" && more > 0 {
            r.streams_at = i + 1;
            let n = a.len() - r.streams_at;
            if n % 2 != 0 {
                return Err(err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            r.streams = n / 2;
            break;
        } else if o == b"group" && more >= 2 {
            if !xreadgroup {
                return Err(err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.group = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if o == b"noack" {
            if !xreadgroup {
                return Err(err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.noack = true;
        } else {
            return Err(err(SYNTAX));
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(err(SYNTAX));
    }
    if xreadgroup && r.group.is_none() {
        return Err(err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// Checks every key (type, group) and parses every id, in Redis's order.
fn parse_ids(ks: &Keyspace, a: &[Bytes], r: &ReadArgs, c: &Context) -> Result<Vec<Want>, Value> {
    let mut wants = Vec::with_capacity(r.streams);
    for k in 0..r.streams {
        let key = &a[r.streams_at + k];
        let arg = &a[r.streams_at + r.streams + k];
        let s = get(ks, key, c)?;
        if let Some((group, _)) = &r.group {
            if s.is_none_or(|s| !s.groups.contains_key(group)) {
                return Err(Value::Error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(group)
                )));
            }
        }
        let want = match &arg[..] {
            b"$" if r.group.is_some() => return Err(err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
            b"$" => Want::After(s.map_or(StreamId::MIN, |s| s.last_id)),
            b">" if r.group.is_none() => return Err(err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
            b">" => Want::New,
            // Redis marks `>` with the greatest id, so that id given in full means `>` too.
            _ if r.group.is_some() && id::parse_strict(arg)? == StreamId::MAX => Want::New,
            _ => Want::After(id::parse_strict(arg)?),
        };
        wants.push(want);
    }
    Ok(wants)
}

/// `key => entries` per stream served: an array of pairs in RESP2, a map in RESP3.
fn streams_reply(served: Vec<(Value, Value)>) -> Value {
    if served.is_empty() {
        return Value::NullArray;
    }
    let nested = Value::Array(
        served
            .iter()
            .map(|(k, v)| Value::Array(vec![k.clone(), v.clone()]))
            .collect(),
    );
    let mut resp2 = bytes::BytesMut::new();
    let mut resp3 = bytes::BytesMut::new();
    resp::encode(&nested, resp::Protocol::Resp2, &mut resp2);
    resp::encode(&Value::Map(served), resp::Protocol::Resp3, &mut resp3);
    Value::Raw {
        resp2: resp2.freeze(),
        resp3: resp3.freeze(),
    }
}

fn limit(count: u64) -> usize {
    if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    }
}

pub fn xread(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let r = match parse_options(a, false) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let wants = match parse_ids(ks, a, &r, c) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let mut served = Vec::new();
    for (k, want) in wants.into_iter().enumerate() {
        let key = &a[r.streams_at + k];
        let (Ok(Some(s)), Want::After(after)) = (get(ks, key, c), want) else {
            continue;
        };
        if s.entries.is_empty() || s.last_valid_id() <= after {
            continue;
        }
        let Some(start) = after.next() else { continue };
        let entries: Vec<Value> = s
            .entries
            .range(start..)
            .take(limit(r.count))
            .map(|(id, p)| entry_reply(*id, p))
            .collect();
        served.push((Value::Bulk(key.clone()), Value::Array(entries)));
    }
    streams_reply(served)
}

pub fn xreadgroup(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let r = match parse_options(a, true) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let wants = match parse_ids(ks, a, &r, c) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let Some((group, consumer)) = r.group.clone() else {
        return err(SYNTAX);
    };
    let mut served = Vec::new();
    for (k, want) in wants.into_iter().enumerate() {
        let key = &a[r.streams_at + k];
        let read = Read {
            group: &group,
            consumer: &consumer,
            count: limit(r.count),
            noack: r.noack,
            now_ms: c.now_ms,
        };
        let entries = creating_consumer(ks, key, &group, &consumer, |ks| {
            let Ok(Some(s)) = ks.stream_mut(key, c.now_ms, false) else {
                return None;
            };
            match want {
                Want::After(after) => Some(read.history(s, after)),
                Want::New => read.new_entries(s),
            }
        });
        let Some(entries) = entries else {
            continue;
        };
        served.push((Value::Bulk(key.clone()), Value::Array(entries)));
        ks.modified(key);
    }
    streams_reply(served)
}

/// One XREADGROUP read of one stream.
struct Read<'a> {
    group: &'a Bytes,
    consumer: &'a Bytes,
    count: usize,
    noack: bool,
    now_ms: u64,
}

impl Read<'_> {
    /// The consumer's own pending entries above `after`: delivered again (a deleted entry
    /// shows as its id with a nil).
    fn history(&self, s: &mut Stream, after: StreamId) -> Vec<Value> {
        let Some(g) = s.groups.get_mut(self.group) else {
            return Vec::new();
        };
        g.touch_consumer(self.consumer, self.now_ms);
        let Some(start) = after.next() else {
            return Vec::new();
        };
        let ids: Vec<StreamId> = g.consumers[self.consumer]
            .pel
            .range(start..)
            .take(self.count)
            .copied()
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match s.entries.get(&id) {
                Some(pairs) => {
                    out.push(entry_reply(id, pairs));
                    if let Some(nack) = g.pel.get_mut(&id) {
                        nack.delivery_time = self.now_ms;
                        nack.delivery_count += 1;
                    }
                }
                None => out.push(Value::Array(vec![id.reply(), Value::NullArray])),
            }
        }
        out
    }

    /// Entries never delivered to the group, or `None` when there are none.
    fn new_entries(&self, s: &mut Stream) -> Option<Vec<Value>> {
        let last = s.groups.get(self.group)?.last_id;
        if s.entries.is_empty() || s.last_valid_id() <= last {
            return None;
        }
        let start = last.next()?;
        let ids: Vec<StreamId> = s
            .entries
            .range(start..)
            .take(self.count)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            advance_group(s, self.group, id);
            out.push(entry_reply(id, &s.entries[&id]));
            let g = s.groups.get_mut(self.group)?;
            g.touch_consumer(self.consumer, self.now_ms);
            if !self.noack {
                g.assign(id, self.consumer, self.now_ms, 1);
            }
        }
        // The consumer exists once served, even when NOACK keeps nothing pending.
        s.groups
            .get_mut(self.group)?
            .touch_consumer(self.consumer, self.now_ms);
        Some(out)
    }
}

/// Moves a group's last delivered id to `id`, keeping its read counter (Redis's
/// `streamReplyWithRange` bookkeeping).
fn advance_group(s: &mut Stream, group: &Bytes, id: StreamId) {
    let tombstones = s.has_tombstones_from(id);
    let estimate = s.estimate_entries_read(id);
    let added = s.entries_added;
    let Some(g) = s.groups.get_mut(group) else {
        return;
    };
    if id <= g.last_id {
        return;
    }
    match g.entries_read {
        Some(n) if !tombstones => g.entries_read = Some(n + 1),
        _ if added > 0 => g.entries_read = estimate,
        _ => {}
    }
    g.last_id = id;
}

/// The arguments of an XREAD ... BLOCK to keep while it waits: `$` becomes the stream's last
/// id now (Redis resolves it when the client blocks, so entries added meanwhile are not
/// missed), and a COUNT is added if none was given (Redis serves a blocked reader at most
/// 1000 entries). Other commands come back as they are.
pub fn resolve_last_ids(ks: &Keyspace, args: &[Bytes], now_ms: u64) -> Vec<Bytes> {
    let mut out = args.to_vec();
    if !args
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"xread"))
    {
        return out;
    }
    let Ok(r) = parse_options(args, false) else {
        return out;
    };
    let c = Context { now_ms, seed: 0 };
    for k in 0..r.streams {
        let at = r.streams_at + r.streams + k;
        if &args[at][..] == b"$" {
            let last = match get(ks, &args[r.streams_at + k], &c) {
                Ok(Some(s)) => s.last_id,
                _ => StreamId::MIN,
            };
            out[at] = Bytes::from(last.to_string());
        }
    }
    if !args[1..r.streams_at]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(b"count"))
    {
        out.splice(
            1..1,
            [
                Bytes::from_static(b"COUNT"),
                Bytes::from_static(BLOCKED_DEFAULT_COUNT),
            ],
        );
    }
    out
}

/// Whether a blocked XREAD/XREADGROUP would get something from `key` now: an entry above
/// its id (or, for `>`, above the group's last delivered id). A key that is gone or changed
/// type, or a group that was destroyed, counts too for XREADGROUP: the retry then answers
/// the error.
pub fn stream_ready(ks: &Keyspace, args: &[Bytes], key: &[u8], now_ms: u64) -> bool {
    let xreadgroup = args
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"xreadgroup"));
    let Ok(r) = parse_options(args, xreadgroup) else {
        return true;
    };
    let Some(k) = (0..r.streams).find(|&k| &args[r.streams_at + k][..] == key) else {
        return false;
    };
    let stream = match ks.get(key, now_ms).map(|e| &e.data) {
        Some(Data::Stream(s)) => Some(s),
        Some(_) => return xreadgroup,
        None => None,
    };
    let arg = &args[r.streams_at + r.streams + k];
    match (&r.group, stream) {
        (Some(_), None) => true,
        (Some((group, _)), Some(s)) => match s.groups.get(group) {
            None => true,
            Some(g) if &arg[..] == b">" => s.last_valid_id() > g.last_id,
            Some(_) => true,
        },
        (None, None) => false,
        (None, Some(s)) => match id::parse_strict(arg) {
            Ok(after) => !s.entries.is_empty() && s.last_valid_id() > after,
            Err(_) => true,
        },
    }
}

/// What Redis answers a client blocked in XREADGROUP whose stream or group went away: the
/// stream deleted (or replaced by another type) unblocks it with `UNBLOCKED`, the group
/// destroyed with `NOGROUP`. `None` while both are there (and for other commands).
pub fn blocked_read_gone(ks: &Keyspace, args: &[Bytes], now_ms: u64) -> Option<Value> {
    if !args
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"xreadgroup"))
    {
        return None;
    }
    let r = parse_options(args, true).ok()?;
    let (group, _) = r.group.as_ref()?;
    for k in 0..r.streams {
        match ks.get(&args[r.streams_at + k], now_ms).map(|e| &e.data) {
            Some(Data::Stream(s)) if s.groups.contains_key(group) => {}
            Some(Data::Stream(_)) => {
                return Some(err(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ))
            }
            _ => return Some(err("UNBLOCKED the stream key no longer exists")),
        }
    }
    None
}
