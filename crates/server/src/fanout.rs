//! Commands without keys (DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHDB, FLUSHALL, SCRIPT, FUNCTION:
//! the script cache and the function libraries are every group's state) when the slots
//! are spread over several groups, merged over the groups' answers:
//! - a plain client sees the whole keyspace, every group in turn, as on one Redis;
//! - a cluster-aware client (one that asked for the slot map) sees this node's own part, the
//!   groups it leads, as Redis Cluster's nodes answer for their own slots: cluster clients
//!   (redis-py's `dbsize()`, `redis-cli --cluster call`) send them to every master and add
//!   up, which then counts each key once.
//!
//! With one group they act on the whole keyspace.

use bytes::Bytes;
use resp::{Protocol, Value};

use crate::client::{route, Shared, Target, FORWARDED_GROUP};
use crate::cluster::{GroupId, GROUPS_MAX};
use crate::driver::Input;

/// Runs a keyless command; returns the encoded reply.
pub async fn keyless(
    protocol: Protocol,
    cluster_aware: bool,
    args: Vec<Bytes>,
    read: bool,
    shared: &Shared,
) -> Bytes {
    let encode = |value: &Value| {
        let mut out = bytes::BytesMut::new();
        resp::encode(value, protocol, &mut out);
        out.freeze()
    };
    if shared.config.group_count() == 1 {
        let target = Target::group(1, shared);
        let command = args.clone();
        return route(
            protocol,
            cluster_aware,
            shared,
            target,
            args,
            move |reply| Input::Command {
                group: 1,
                args: command.clone(),
                read,
                stale_ok: false,
                reply,
            },
            read,
            None,
        )
        .await;
    }
    let mut groups = if cluster_aware {
        led_here(shared).await
    } else {
        (1..=shared.config.group_count()).collect()
    };
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    if name == "randomkey" && !groups.is_empty() {
        // Start at a group drawn at random, so every group's keys can come up.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let start = nanos as usize % groups.len();
        groups.rotate_left(start);
    }
    if name == "scan" {
        return encode(&scan(&groups, args, shared).await);
    }
    let mut answers = Vec::with_capacity(groups.len());
    for &group in &groups {
        let answer = ask(group, args.clone(), read, shared).await;
        if let Value::Error(_) = answer {
            return encode(&answer);
        }
        answers.push(answer);
    }
    encode(&merge(&name, answers))
}

/// Keys of `slot`, at most `count` (COUNTKEYSINSLOT, GETKEYSINSLOT): the slot's group lists
/// its keys, and those of other slots are left out.
pub async fn keys_in_slot(slot: u16, count: usize, shared: &Shared) -> Result<Vec<Bytes>, Value> {
    let group = Target::slot(slot, shared).group;
    let keys = [Bytes::from_static(b"KEYS"), Bytes::from_static(b"*")].to_vec();
    match ask(group, keys, true, shared).await {
        Value::Array(items) => Ok(items
            .into_iter()
            .filter_map(|item| {
                if let Value::Bulk(key) = item {
                    Some(key)
                } else {
                    None
                }
            })
            .filter(|key| crate::local::key_slot(key) == slot)
            .take(count)
            .collect()),
        Value::Error(error) => Err(Value::Error(error)),
        _ => Err(Value::Error("ERR unexpected reply listing keys".to_owned())),
    }
}

/// Groups this node leads now.
async fn led_here(shared: &Shared) -> Vec<GroupId> {
    let status = crate::client::status(shared).await.unwrap_or_default();
    status.leading().map(|g| g.group).collect()
}

/// Runs `args` on one group (forwarded to its leader if need be), as a value.
pub(crate) async fn ask(group: GroupId, args: Vec<Bytes>, read: bool, shared: &Shared) -> Value {
    let target = Target::group(group, shared);
    let forwarded: Vec<Bytes> = [
        Bytes::from_static(FORWARDED_GROUP),
        Bytes::from(group.to_string()),
    ]
    .into_iter()
    .chain(args.iter().cloned())
    .collect();
    let reply = route(
        Protocol::Resp2,
        false,
        shared,
        target,
        forwarded,
        move |reply| Input::Command {
            group,
            args: args.clone(),
            read,
            stale_ok: false,
            reply,
        },
        read,
        None,
    )
    .await;
    parse_reply(&reply)
        .unwrap_or_else(|| Value::Error("ERR a group's reply did not parse".to_owned()))
}

fn merge(name: &str, answers: Vec<Value>) -> Value {
    match name {
        "dbsize" => Value::Integer(
            answers
                .iter()
                .map(|a| if let Value::Integer(n) = a { *n } else { 0 })
                .sum(),
        ),
        "keys" => Value::Array(
            answers
                .into_iter()
                .flat_map(|a| {
                    if let Value::Array(items) = a {
                        items
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
        ),
        "randomkey" => answers
            .into_iter()
            .find(|a| !matches!(a, Value::Null))
            .unwrap_or(Value::Null),
        // SCRIPT EXISTS: a script is there if every group has it (EVALSHA may go to any).
        "script" if is_script_exists(&answers) => {
            let mut merged: Vec<Value> = Vec::new();
            for answer in answers {
                let Value::Array(items) = answer else {
                    continue;
                };
                if merged.is_empty() {
                    merged = items;
                    continue;
                }
                for (have, item) in merged.iter_mut().zip(items) {
                    if item == Value::Integer(0) {
                        *have = Value::Integer(0);
                    }
                }
            }
            Value::Array(merged)
        }
        // FLUSHDB / FLUSHALL, SCRIPT LOAD / FLUSH, FUNCTION ...: every group applied the same
        // command to the same libraries and said the same.
        _ => answers
            .into_iter()
            .next()
            .unwrap_or(Value::Simple("OK".to_owned())),
    }
}

/// The answers are SCRIPT EXISTS's arrays of 0/1 (SCRIPT's other answers are not arrays).
fn is_script_exists(answers: &[Value]) -> bool {
    answers.iter().all(|a| matches!(a, Value::Array(items) if items.iter().all(|i| matches!(i, Value::Integer(0 | 1)))))
        && answers.iter().any(|a| matches!(a, Value::Array(_)))
}

/// Bits of a multi-group SCAN cursor that say which group it is in.
const SCAN_GROUP_BITS: u32 = GROUPS_MAX.trailing_zeros();
const _: () = assert!(
    1 << SCAN_GROUP_BITS == GROUPS_MAX,
    "GROUPS_MAX is a power of two"
);
const _: () = assert!(
    SCAN_GROUP_BITS + keyspace::SCAN_CURSOR_BITS <= 64,
    "a group's cursor and the group's position fit a u64"
);

/// SCAN over several groups: the cursor is `inner << SCAN_GROUP_BITS | position`, where
/// position indexes `groups` and inner is that group's own cursor (which the keyspace keeps
/// below 2^SCAN_CURSOR_BITS). Each group is walked to its end before the next begins, so a
/// key present for the whole scan is returned, and the cursor comes back to 0.
async fn scan(groups: &[GroupId], mut args: Vec<Bytes>, shared: &Shared) -> Value {
    let Some(cursor) = args
        .get(1)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<u64>().ok())
    else {
        return Value::Error("ERR invalid cursor".to_owned());
    };
    let (mut position, inner) = (
        (cursor & (GROUPS_MAX - 1)) as usize,
        cursor >> SCAN_GROUP_BITS,
    );
    let Some(&group) = groups.get(position) else {
        return Value::Array(vec![
            Value::Bulk(Bytes::from_static(b"0")),
            Value::Array(Vec::new()),
        ]);
    };
    args[1] = Bytes::from(inner.to_string());
    let answer = ask(group, args, true, shared).await;
    let Value::Array(mut parts) = answer else {
        return answer;
    };
    let (Some(Value::Array(keys)), Some(Value::Bulk(next))) = (parts.pop(), parts.pop()) else {
        return Value::Error("ERR a group's SCAN reply did not parse".to_owned());
    };
    let next: u64 = std::str::from_utf8(&next)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let cursor = if next != 0 {
        next << SCAN_GROUP_BITS | position as u64
    } else {
        position += 1;
        if position < groups.len() {
            position as u64
        } else {
            0
        }
    };
    Value::Array(vec![
        Value::Bulk(Bytes::from(cursor.to_string())),
        Value::Array(keys),
    ])
}

/// Decodes a RESP2 reply (the kinds keyless commands give); `None` if it is not one.
pub fn parse_reply(bytes: &[u8]) -> Option<Value> {
    let (value, rest) = parse_one(bytes)?;
    rest.is_empty().then_some(value)
}

fn parse_one(bytes: &[u8]) -> Option<(Value, &[u8])> {
    let end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let (line, rest) = (std::str::from_utf8(&bytes[1..end]).ok()?, &bytes[end + 2..]);
    match bytes.first()? {
        b'+' => Some((Value::Simple(line.to_owned()), rest)),
        b'-' => Some((Value::Error(line.to_owned()), rest)),
        b':' => Some((Value::Integer(line.parse().ok()?), rest)),
        b'$' if line == "-1" => Some((Value::Null, rest)),
        b'$' => {
            let length: usize = line.parse().ok()?;
            let data = rest.get(..length)?;
            (rest.get(length..length + 2)? == b"\r\n").then(|| {
                (
                    Value::Bulk(Bytes::copy_from_slice(data)),
                    &rest[length + 2..],
                )
            })
        }
        b'*' if line == "-1" => Some((Value::Null, rest)),
        b'*' => {
            let count: usize = line.parse().ok()?;
            let mut items = Vec::with_capacity(count.min(1024));
            let mut rest = rest;
            for _ in 0..count {
                let (item, after) = parse_one(rest)?;
                items.push(item);
                rest = after;
            }
            Some((Value::Array(items), rest))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: replies merged from groups parse back exactly. Method: encode, parse, compare.
    #[test]
    fn replies_parse_back() {
        let values = [
            Value::Integer(-4),
            Value::Simple("OK".to_owned()),
            Value::Null,
            Value::Array(vec![
                Value::Bulk(Bytes::from_static(b"17")),
                Value::Array(vec![Value::Bulk(Bytes::from_static(b"a\r\nb"))]),
            ]),
        ];
        for value in values {
            let mut out = bytes::BytesMut::new();
            resp::encode(&value, Protocol::Resp2, &mut out);
            assert_eq!(parse_reply(&out), Some(value));
        }
        assert_eq!(parse_reply(b"$5\r\nab\r\n"), None);
        assert_eq!(parse_reply(b"*2\r\n:1\r\n"), None);
    }
}
