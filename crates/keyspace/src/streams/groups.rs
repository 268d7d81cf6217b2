//! XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.

use bytes::Bytes;
use resp::Value;

use super::get;
use super::group::Group;
use super::id::{self, StreamId};
use crate::keys::unknown_subcommand;
use crate::util::{arity_err, err, ok, parse_i64, NOT_INT, SYNTAX};
use crate::{notify_class, Context, Keyspace};

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

pub(crate) fn help_reply(lines: &[&str]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|l| Value::Simple((*l).to_string()))
            .collect(),
    )
}

/// Redis's `addReplySubcommandSyntaxError`.
pub(crate) fn subcommand_syntax(cmd: &str, sub: &[u8]) -> Value {
    let sub = &sub[..sub.len().min(128)];
    Value::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// Redis's container-command checks: a known subcommand with its arity.
pub(crate) fn subcommand(cmd: &str, a: &[Bytes], arities: &[(&str, i64)]) -> Result<String, Value> {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let Some((_, arity)) = arities.iter().find(|(name, _)| *name == sub) else {
        return Err(unknown_subcommand(cmd, &a[1]));
    };
    let n = a.len() as i64;
    if (*arity > 0 && n != *arity) || (*arity < 0 && n < -arity) {
        return Err(arity_err(&format!("{}|{sub}", cmd.to_ascii_lowercase())));
    }
    Ok(sub)
}

fn nogroup(key: &[u8], group: &[u8]) -> Value {
    Value::Error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// XGROUP's options after the id: MKSTREAM (CREATE), ENTRIESREAD (CREATE, SETID).
fn xgroup_options(a: &[Bytes], sub: &str) -> Result<(bool, Option<u64>), Value> {
    let (mut mkstream, mut entries_read) = (false, None);
    let mut i = 5;
    while i < a.len() {
        if sub == "create" && a[i].eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if (sub == "create" || sub == "setid")
            && a[i].eq_ignore_ascii_case(b"entriesread")
            && i + 1 < a.len()
        {
            match parse_i64(&a[i + 1]) {
                None => return Err(err(NOT_INT)),
                Some(-1) => entries_read = None,
                Some(n) if n < 0 => {
                    return Err(err("ERR value for ENTRIESREAD must be positive or -1"))
                }
                Some(n) => entries_read = Some(n as u64),
            }
            i += 2;
        } else {
            return Err(subcommand_syntax("XGROUP", &a[1]));
        }
    }
    Ok((mkstream, entries_read))
}

pub fn xgroup(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let arities = [
        ("create", -5),
        ("createconsumer", 5),
        ("delconsumer", 5),
        ("destroy", 4),
        ("help", 2),
        ("setid", -5),
    ];
    let sub = match subcommand("XGROUP", a, &arities) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    if sub == "help" {
        return help_reply(XGROUP_HELP);
    }
    let (mkstream, entries_read) = match xgroup_options(a, &sub) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (key, name) = (&a[2], &a[3]);
    let exists = match get(ks, key, c) {
        Ok(s) => s.map(|s| s.groups.contains_key(name)),
        Err(e) => return e,
    };
    if !mkstream {
        match exists {
            None => return err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
            Some(false) if matches!(sub.as_str(), "setid" | "createconsumer" | "delconsumer") => {
                return Value::Error(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(key)
                ))
            }
            _ => {}
        }
    }
    let (reply, event) = match run_subcommand(ks, a, c, &sub, entries_read) {
        Some(outcome) => outcome,
        None => return subcommand_syntax("XGROUP", &a[1]),
    };
    if !matches!(reply, Value::Error(_)) {
        ks.modified(key);
        if let Some(event) = event {
            ks.notify(notify_class::STREAM, event, key);
        }
    }
    reply
}

fn with_stream<T: Default>(
    ks: &mut Keyspace,
    key: &Bytes,
    c: &Context,
    f: impl FnOnce(&mut super::Stream) -> T,
) -> T {
    match ks.stream_mut(key, c.now_ms, false) {
        Ok(Some(s)) => f(s),
        _ => T::default(),
    }
}

fn with_group<T>(
    ks: &mut Keyspace,
    key: &Bytes,
    name: &[u8],
    c: &Context,
    f: impl FnOnce(&mut Group) -> T,
) -> Option<T> {
    match ks.stream_mut(key, c.now_ms, false) {
        Ok(Some(s)) => s.groups.get_mut(name).map(f),
        _ => None,
    }
}

/// Runs an XGROUP subcommand: the reply, and the event if it changed something (t_stream.c
/// `xgroupCommand`); `None` for a subcommand with the wrong arguments.
fn run_subcommand(
    ks: &mut Keyspace,
    a: &[Bytes],
    c: &Context,
    sub: &str,
    entries_read: Option<u64>,
) -> Option<(Value, Option<&'static str>)> {
    let (key, name) = (&a[2], &a[3]);
    Some(match sub {
        "create" if a.len() <= 8 => (create(ks, a, c, entries_read), Some("xgroup-create")),
        "setid" if a.len() == 5 || a.len() == 7 => {
            (setid(ks, a, c, entries_read), Some("xgroup-setid"))
        }
        "destroy" if a.len() == 4 => {
            let removed = with_stream(ks, key, c, |s| s.groups.remove(name).is_some());
            (
                Value::Integer(i64::from(removed)),
                removed.then_some("xgroup-destroy"),
            )
        }
        "createconsumer" if a.len() == 5 => {
            let created = with_group(ks, key, name, c, |g| g.create_consumer(&a[4], c.now_ms))
                .unwrap_or(false);
            (
                Value::Integer(i64::from(created)),
                created.then_some("xgroup-createconsumer"),
            )
        }
        "delconsumer" if a.len() == 5 => {
            let pending = with_group(ks, key, name, c, |g| g.delete_consumer(&a[4])).flatten();
            (
                Value::Integer(pending.map_or(0, |n| n as i64)),
                pending.map(|_| "xgroup-delconsumer"),
            )
        }
        _ => return None,
    })
}

fn create(ks: &mut Keyspace, a: &[Bytes], c: &Context, entries_read: Option<u64>) -> Value {
    let last = match get(ks, &a[2], c) {
        Ok(s) => s.map_or(StreamId::MIN, |s| s.last_id),
        Err(e) => return e,
    };
    let id = if &a[4][..] == b"$" {
        last
    } else {
        match id::parse_strict(&a[4]) {
            Ok(id) => id,
            Err(e) => return e,
        }
    };
    let Ok(Some(s)) = ks.stream_mut(&a[2], c.now_ms, true) else {
        return err(SYNTAX);
    };
    if s.groups.contains_key(&a[3]) {
        return err("BUSYGROUP Consumer Group name already exists");
    }
    s.groups.insert(a[3].clone(), Group::new(id, entries_read));
    ok()
}

fn setid(ks: &mut Keyspace, a: &[Bytes], c: &Context, entries_read: Option<u64>) -> Value {
    let Ok(Some(s)) = ks.stream_mut(&a[2], c.now_ms, false) else {
        return err(SYNTAX);
    };
    let id = if &a[4][..] == b"$" {
        s.last_id
    } else {
        match id::parse(&a[4], 0) {
            Ok(id) => id,
            Err(e) => return e,
        }
    };
    let Some(g) = s.groups.get_mut(&a[3]) else {
        return err(SYNTAX);
    };
    g.last_id = id;
    g.entries_read = entries_read;
    ok()
}

pub fn xack(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    match get(ks, &a[1], c) {
        Ok(Some(s)) if s.groups.contains_key(&a[2]) => {}
        Ok(_) => return Value::Integer(0),
        Err(e) => return e,
    }
    let mut ids = Vec::with_capacity(a.len() - 3);
    for arg in &a[3..] {
        match id::parse_strict(arg) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let acked = with_group(ks, &a[1], &a[2], c, |g| {
        ids.into_iter().filter(|id| g.remove_pending(*id)).count()
    })
    .unwrap_or(0);
    if acked > 0 {
        ks.modified(&a[1]);
    }
    Value::Integer(acked as i64)
}

/// XPENDING's range form: IDLE, start, end, count and maybe a consumer.
struct PendingRange {
    min_idle: i64,
    start: StreamId,
    end: StreamId,
    count: i64,
    consumer: Option<Bytes>,
}

fn parse_pending_range(a: &[Bytes]) -> Result<PendingRange, Value> {
    let int = |b: &[u8]| parse_i64(b).ok_or_else(|| err(NOT_INT));
    let mut at = 3;
    let mut min_idle = 0;
    if a[3].eq_ignore_ascii_case(b"idle") {
        min_idle = int(&a[4])?;
        if a.len() < 8 {
            return Err(err(SYNTAX));
        }
        at += 2;
    }
    let count = int(&a[at + 2])?.max(0);
    let start = id::parse_bound(&a[at], 0, true)?;
    let end = id::parse_bound(&a[at + 1], u64::MAX, false)?;
    Ok(PendingRange {
        min_idle,
        start,
        end,
        count,
        consumer: a.get(at + 3).cloned(),
    })
}

pub fn xpending(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    if a.len() != 3 && !(6..=9).contains(&a.len()) {
        return err(SYNTAX);
    }
    let range = if a.len() >= 6 {
        match parse_pending_range(a) {
            Ok(r) => Some(r),
            Err(e) => return e,
        }
    } else {
        None
    };
    let g = match get(ks, &a[1], c) {
        Ok(Some(s)) => match s.groups.get(&a[2]) {
            Some(g) => g,
            None => return nogroup(&a[1], &a[2]),
        },
        Ok(None) => return nogroup(&a[1], &a[2]),
        Err(e) => return e,
    };
    let Some(r) = range else {
        return pending_summary(g);
    };
    let ids: Vec<StreamId> = match &r.consumer {
        Some(name) => match g.consumers.get(name) {
            Some(consumer) if r.start <= r.end => {
                consumer.pel.range(r.start..=r.end).copied().collect()
            }
            Some(_) => Vec::new(),
            None => return Value::Array(vec![]),
        },
        None if r.start <= r.end => g.pel.range(r.start..=r.end).map(|(id, _)| *id).collect(),
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for id in ids {
        if out.len() as i64 >= r.count {
            break;
        }
        let nack = &g.pel[&id];
        let idle = (c.now_ms as i64).wrapping_sub(nack.delivery_time as i64);
        if r.min_idle != 0 && idle < r.min_idle {
            continue;
        }
        out.push(Value::Array(vec![
            id.reply(),
            Value::Bulk(nack.consumer.clone()),
            Value::Integer(idle.max(0)),
            Value::Integer(nack.delivery_count as i64),
        ]));
    }
    Value::Array(out)
}

fn pending_summary(g: &Group) -> Value {
    let (Some((first, _)), Some((last, _))) = (g.pel.first_key_value(), g.pel.last_key_value())
    else {
        return Value::Array(vec![
            Value::Integer(0),
            Value::Null,
            Value::Null,
            Value::NullArray,
        ]);
    };
    let consumers = g
        .consumers
        .iter()
        .filter(|(_, c)| !c.pel.is_empty())
        .map(|(name, c)| {
            Value::Array(vec![
                Value::Bulk(name.clone()),
                Value::Bulk(Bytes::from(c.pel.len().to_string())),
            ])
        })
        .collect();
    Value::Array(vec![
        Value::Integer(g.pel.len() as i64),
        first.reply(),
        last.reply(),
        Value::Array(consumers),
    ])
}

pub use super::claim::{xautoclaim, xclaim};
