//! XCLAIM and XAUTOCLAIM: moving pending entries to another consumer.

use bytes::Bytes;
use resp::Value;

use super::id::{self, StreamId};
use super::{creating_consumer, entry_reply, get, Stream};
use crate::util::{err, parse_i64, SYNTAX};
use crate::{Context, Keyspace};

fn nogroup(key: &[u8], group: &[u8]) -> Value {
    Value::Error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// Whether the key holds a stream with the group (the error otherwise).
fn check_group(ks: &Keyspace, a: &[Bytes], c: &Context) -> Result<(), Value> {
    match get(ks, &a[1], c)? {
        Some(s) if s.groups.contains_key(&a[2]) => Ok(()),
        _ => Err(nogroup(&a[1], &a[2])),
    }
}

/// XCLAIM's options after the ids.
#[derive(Default)]
struct ClaimOptions {
    /// The delivery time to set (IDLE or TIME), if given.
    delivery_time: Option<i64>,
    retry_count: Option<i64>,
    force: bool,
    justid: bool,
    last_id: StreamId,
}

fn parse_claim_options(a: &[Bytes], now: i64) -> Result<ClaimOptions, Value> {
    let mut o = ClaimOptions::default();
    let mut j = 0;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = a[j].to_ascii_lowercase();
        let int = |b: &[u8], what: &str| {
            parse_i64(b)
                .ok_or_else(|| err(&format!("ERR Invalid {what} option argument for XCLAIM")))
        };
        match opt.as_slice() {
            b"force" => o.force = true,
            b"justid" => o.justid = true,
            b"idle" if more > 0 => {
                j += 1;
                o.delivery_time = Some(now.wrapping_sub(int(&a[j], "IDLE")?));
            }
            b"time" if more > 0 => {
                j += 1;
                o.delivery_time = Some(int(&a[j], "TIME")?);
            }
            b"retrycount" if more > 0 => {
                j += 1;
                o.retry_count = Some(int(&a[j], "RETRYCOUNT")?);
            }
            b"lastid" if more > 0 => {
                j += 1;
                o.last_id = id::parse_strict(&a[j])?;
            }
            _ => {
                return Err(Value::Error(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(&a[j])
                )))
            }
        }
        j += 1;
    }
    Ok(o)
}

pub fn xclaim(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    if let Err(e) = check_group(ks, a, c) {
        return e;
    }
    let Some(min_idle) = parse_i64(&a[4]) else {
        return err("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle = min_idle.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match id::parse_strict(&a[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = c.now_ms as i64;
    let o = match parse_claim_options(&a[j..], now) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Ok(Some(_)) = ks.stream_mut(&a[1], c.now_ms, false) else {
        return err(SYNTAX);
    };
    let delivery_time = match o.delivery_time {
        Some(t) if (0..=now).contains(&t) => t as u64,
        _ => c.now_ms,
    };
    let out = creating_consumer(ks, &a[1], &a[2], &a[3], |ks| {
        let Ok(Some(s)) = ks.stream_mut(&a[1], c.now_ms, false) else {
            return Vec::new();
        };
        claim_ids(s, &a[2], &a[3], &ids, &o, min_idle, delivery_time, c.now_ms)
    });
    ks.modified(&a[1]);
    Value::Array(out)
}

#[allow(clippy::too_many_arguments)]
fn claim_ids(
    s: &mut Stream,
    group: &Bytes,
    consumer: &Bytes,
    ids: &[StreamId],
    o: &ClaimOptions,
    min_idle: i64,
    delivery_time: u64,
    now_ms: u64,
) -> Vec<Value> {
    let exists: Vec<bool> = ids.iter().map(|id| s.entries.contains_key(id)).collect();
    let Some(g) = s.groups.get_mut(group) else {
        return Vec::new();
    };
    if o.last_id > g.last_id {
        g.last_id = o.last_id;
    }
    let mut claimed = Vec::new();
    let mut consumer_made = false;
    for (&id, &exists) in ids.iter().zip(&exists) {
        if !exists {
            // The entry is gone: its pending record goes too.
            g.remove_pending(id);
            continue;
        }
        let count = match g.pel.get(&id) {
            Some(nack) => {
                let idle = (now_ms as i64).wrapping_sub(nack.delivery_time as i64);
                if min_idle != 0 && idle < min_idle {
                    continue;
                }
                nack.delivery_count
            }
            // FORCE makes a pending record; Redis creates it already delivered once.
            None if o.force => 1,
            None => continue,
        };
        if !consumer_made {
            g.touch_consumer(consumer, now_ms);
            consumer_made = true;
        }
        let count = match o.retry_count {
            Some(n) if n >= 0 => n as u64,
            _ if o.justid => count,
            _ => count + 1,
        };
        g.assign(id, consumer, delivery_time, count);
        claimed.push(id);
    }
    claimed
        .into_iter()
        .map(|id| {
            if o.justid {
                id.reply()
            } else {
                entry_reply(id, &s.entries[&id])
            }
        })
        .collect()
}

pub fn xautoclaim(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let Some(min_idle) = parse_i64(&a[4]) else {
        return err("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle = min_idle.max(0);
    let start = match id::parse_bound(&a[5], 0, true) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if a[j].eq_ignore_ascii_case(b"count") && more > 0 {
            const COUNT_MAX: i64 = i64::MAX / 16;
            match parse_i64(&a[j + 1]) {
                Some(n) if (1..=COUNT_MAX).contains(&n) => count = n,
                _ => return err("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if a[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    if let Err(e) = check_group(ks, a, c) {
        return e;
    }
    let Ok(Some(_)) = ks.stream_mut(&a[1], c.now_ms, false) else {
        return err(SYNTAX);
    };
    let reply = creating_consumer(ks, &a[1], &a[2], &a[3], |ks| {
        match ks.stream_mut(&a[1], c.now_ms, false) {
            Ok(Some(s)) => autoclaim(s, a, start, count, min_idle, justid, c.now_ms),
            _ => err(SYNTAX),
        }
    });
    ks.modified(&a[1]);
    reply
}

fn autoclaim(
    s: &mut Stream,
    a: &[Bytes],
    start: StreamId,
    mut count: i64,
    min_idle: i64,
    justid: bool,
    now_ms: u64,
) -> Value {
    let (group, consumer) = (&a[2], &a[3]);
    let mut attempts = count.saturating_mul(10);
    let pending: Vec<StreamId> = match s.groups.get(group) {
        Some(g) => g.pel.range(start..).map(|(id, _)| *id).collect(),
        None => Vec::new(),
    };
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut next = StreamId::MIN;
    let mut walked = 0;
    let Some(g) = s.groups.get_mut(group) else {
        return err(SYNTAX);
    };
    let mut consumer_made = false;
    for &id in &pending {
        if attempts == 0 || count == 0 {
            break;
        }
        attempts -= 1;
        walked += 1;
        if !s.entries.contains_key(&id) {
            g.remove_pending(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        let nack = &g.pel[&id];
        let idle = (now_ms as i64).wrapping_sub(nack.delivery_time as i64);
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        let delivery_count = if justid {
            nack.delivery_count
        } else {
            nack.delivery_count + 1
        };
        if !consumer_made {
            g.touch_consumer(consumer, now_ms);
            consumer_made = true;
        }
        g.assign(id, consumer, now_ms, delivery_count);
        claimed.push(id);
        count -= 1;
    }
    if let Some(id) = pending.get(walked) {
        next = *id;
    }
    let claimed = claimed
        .into_iter()
        .map(|id| {
            if justid {
                id.reply()
            } else {
                entry_reply(id, &s.entries[&id])
            }
        })
        .collect();
    Value::Array(vec![
        next.reply(),
        Value::Array(claimed),
        Value::Array(deleted.into_iter().map(StreamId::reply).collect()),
    ])
}
