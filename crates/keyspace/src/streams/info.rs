//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS.

use bytes::Bytes;
use resp::Value;

use super::group::Group;
use super::groups::{help_reply, subcommand, subcommand_syntax};
use super::{entry_reply, get, Stream, NO_KEY};
use crate::util::{bulk_str, err, parse_i64, NOT_INT};
use crate::{Context, Keyspace};

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn field(name: &str, v: Value) -> (Value, Value) {
    (bulk_str(name), v)
}

fn int(n: u64) -> Value {
    Value::Integer(n as i64)
}

pub fn xinfo(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let arities = [("consumers", 4), ("groups", 3), ("help", 2), ("stream", -3)];
    let sub = match subcommand("XINFO", a, &arities) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    if sub == "help" {
        return help_reply(XINFO_HELP);
    }
    let s = match get(ks, &a[2], c) {
        Ok(Some(s)) => s,
        Ok(None) => return err(NO_KEY),
        Err(e) => return e,
    };
    match sub.as_str() {
        "consumers" => consumers(s, a, c.now_ms),
        "groups" => Value::Array(
            s.groups
                .iter()
                .map(|(name, g)| {
                    Value::Map(vec![
                        field("name", Value::Bulk(name.clone())),
                        field("consumers", int(g.consumers.len() as u64)),
                        field("pending", int(g.pel.len() as u64)),
                        field("last-delivered-id", g.last_id.reply()),
                        field("entries-read", g.entries_read.map_or(Value::Null, int)),
                        field("lag", lag(s, g)),
                    ])
                })
                .collect(),
        ),
        _ => stream(s, a),
    }
}

fn consumers(s: &Stream, a: &[Bytes], now_ms: u64) -> Value {
    let Some(g) = s.groups.get(&a[3]) else {
        return Value::Error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(&a[3]),
            String::from_utf8_lossy(&a[2])
        ));
    };
    Value::Array(
        g.consumers
            .iter()
            .map(|(name, consumer)| {
                let idle = (now_ms as i64)
                    .wrapping_sub(consumer.seen_time as i64)
                    .max(0);
                Value::Map(vec![
                    field("name", Value::Bulk(name.clone())),
                    field("pending", int(consumer.pel.len() as u64)),
                    field("idle", Value::Integer(idle)),
                ])
            })
            .collect(),
    )
}

/// Redis's `streamReplyWithCGLag`: entries not yet delivered to the group, or nil when
/// deletions make it unknowable.
fn lag(s: &Stream, g: &Group) -> Value {
    if s.entries_added == 0 {
        return Value::Integer(0);
    }
    let read = match g.entries_read {
        Some(n) if !s.has_tombstones_from(g.last_id) => Some(n),
        _ => s.estimate_entries_read(g.last_id),
    };
    read.map_or(Value::Null, |n| {
        Value::Integer(s.entries_added.wrapping_sub(n) as i64)
    })
}

fn stream(s: &Stream, a: &[Bytes]) -> Value {
    let full = match a.len() {
        3 => None,
        4 | 6 if a[3].eq_ignore_ascii_case(b"full") => {
            if a.len() == 4 {
                Some(10)
            } else if !a[4].eq_ignore_ascii_case(b"count") {
                return subcommand_syntax("XINFO", &a[1]);
            } else {
                match parse_i64(&a[5]) {
                    Some(n) if n < 0 => Some(10),
                    Some(n) => Some(n as u64),
                    None => return err(NOT_INT),
                }
            }
        }
        _ => return subcommand_syntax("XINFO", &a[1]),
    };
    let mut map = vec![
        field("length", int(s.len() as u64)),
        field("radix-tree-keys", int(s.nodes.len() as u64)),
        field("radix-tree-nodes", int(s.radix_tree_nodes())),
        field("last-generated-id", s.last_id.reply()),
        field("max-deleted-entry-id", s.max_deleted.reply()),
        field("entries-added", int(s.entries_added)),
        field("recorded-first-entry-id", s.first_id.reply()),
    ];
    let Some(count) = full else {
        map.push(field("groups", int(s.groups.len() as u64)));
        let first = s.entries.first_key_value();
        let last = s.entries.last_key_value();
        map.push(field(
            "first-entry",
            first.map_or(Value::Null, |(id, p)| entry_reply(*id, p)),
        ));
        map.push(field(
            "last-entry",
            last.map_or(Value::Null, |(id, p)| entry_reply(*id, p)),
        ));
        return Value::Map(map);
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let entries = s
        .entries
        .iter()
        .take(limit)
        .map(|(id, p)| entry_reply(*id, p))
        .collect();
    map.push(field("entries", Value::Array(entries)));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| full_group(s, name, g, limit))
        .collect();
    map.push(field("groups", Value::Array(groups)));
    Value::Map(map)
}

fn full_group(s: &Stream, name: &Bytes, g: &Group, limit: usize) -> Value {
    let pending = g
        .pel
        .iter()
        .take(limit)
        .map(|(id, nack)| {
            Value::Array(vec![
                id.reply(),
                Value::Bulk(nack.consumer.clone()),
                int(nack.delivery_time),
                int(nack.delivery_count),
            ])
        })
        .collect();
    let consumers = g
        .consumers
        .iter()
        .map(|(cname, consumer)| {
            let pel = consumer
                .pel
                .iter()
                .take(limit)
                .map(|id| {
                    let nack = &g.pel[id];
                    Value::Array(vec![
                        id.reply(),
                        int(nack.delivery_time),
                        int(nack.delivery_count),
                    ])
                })
                .collect();
            Value::Map(vec![
                field("name", Value::Bulk(cname.clone())),
                field("seen-time", int(consumer.seen_time)),
                field("pel-count", int(consumer.pel.len() as u64)),
                field("pending", Value::Array(pel)),
            ])
        })
        .collect();
    Value::Map(vec![
        field("name", Value::Bulk(name.clone())),
        field("last-delivered-id", g.last_id.reply()),
        field("entries-read", g.entries_read.map_or(Value::Null, int)),
        field("lag", lag(s, g)),
        field("pel-count", int(g.pel.len() as u64)),
        field("pending", Value::Array(pending)),
        field("consumers", Value::Array(consumers)),
    ])
}
