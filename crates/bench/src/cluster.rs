//! Redis Cluster routing: key slots (CRC16 of the key or its `{hash tag}`), the slot map from
//! `CLUSTER SLOTS`, and the redirects (`-MOVED`, `-ASK`) that correct a stale map.

use crate::conn::Conn;
use crate::resp::{self, Value};
use std::time::Duration;
use tokio::time::Instant;

/// Hash slots of a Redis Cluster.
pub const SLOTS_COUNT: usize = 16384;

/// How long the `CLUSTER SLOTS` probe may take before the target counts as a single endpoint.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub use ::resp::slot::{crc16, key_slot};

/// Which node serves each slot. Node addresses are `host:port`; slots nobody announced go to
/// node 0 (the server will redirect or refuse them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    pub nodes: Vec<String>,
    /// `owner[slot]` is an index into `nodes`; always `SLOTS_COUNT` long.
    pub owner: Vec<u16>,
}

impl SlotMap {
    /// Reads a `CLUSTER SLOTS` reply: `[[first, last, [host, port, ..], replicas..], ..]`.
    /// An empty host means "the address you asked", whose host is `asked`'s.
    pub fn from_cluster_slots(value: &Value, asked: &str) -> Result<SlotMap, String> {
        let Value::Array(ranges) = value else {
            return Err(format!("CLUSTER SLOTS: not an array: {value:?}"));
        };
        let asked_host = asked.rsplit_once(':').map_or(asked, |(host, _)| host);
        let mut map = SlotMap {
            nodes: Vec::new(),
            owner: vec![0; SLOTS_COUNT],
        };
        for range in ranges {
            let (first, last, address) = slot_range(range, asked_host)?;
            let node = map.node_index(&address);
            map.owner[first..=last]
                .iter_mut()
                .for_each(|owner| *owner = node);
        }
        if map.nodes.is_empty() {
            return Err("CLUSTER SLOTS: no slot ranges".to_owned());
        }
        Ok(map)
    }

    /// The index of `address`, added to `nodes` if new.
    pub fn node_index(&mut self, address: &str) -> u16 {
        match self.nodes.iter().position(|n| n == address) {
            Some(index) => index as u16,
            None => {
                self.nodes.push(address.to_owned());
                assert!(
                    self.nodes.len() <= SLOTS_COUNT,
                    "more nodes than slots: {}",
                    self.nodes.len()
                );
                (self.nodes.len() - 1) as u16
            }
        }
    }

    /// Distinct nodes that own at least one slot.
    pub fn owners_count(&self) -> usize {
        let mut seen = vec![false; self.nodes.len()];
        self.owner.iter().for_each(|&o| seen[o as usize] = true);
        seen.iter().filter(|s| **s).count()
    }
}

/// One entry of `CLUSTER SLOTS`: (first slot, last slot, master `host:port`).
fn slot_range(range: &Value, asked_host: &str) -> Result<(usize, usize, String), String> {
    let bad = || format!("CLUSTER SLOTS: malformed range {range:?}");
    let Value::Array(items) = range else {
        return Err(bad());
    };
    let (Some(Value::Integer(first)), Some(Value::Integer(last)), Some(Value::Array(master))) =
        (items.first(), items.get(1), items.get(2))
    else {
        return Err(bad());
    };
    let (first, last) = (
        usize::try_from(*first).map_err(|_| bad())?,
        usize::try_from(*last).map_err(|_| bad())?,
    );
    if first > last || last >= SLOTS_COUNT {
        return Err(bad());
    }
    let host = match master.first() {
        Some(Value::Bulk(host)) if !host.is_empty() && host != b"?" => {
            String::from_utf8_lossy(host).into_owned()
        }
        Some(Value::Bulk(_)) => asked_host.to_owned(),
        _ => return Err(bad()),
    };
    let Some(Value::Integer(port)) = master.get(1) else {
        return Err(bad());
    };
    // An IPv6 host needs brackets to be a `host:port` TcpStream::connect understands.
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok((first, last, format!("{host}:{port}")))
}

/// Asks `address` for its slot map over a fresh connection, within `timeout`. `Ok(None)` when
/// the target is not a cluster (the command fails, as on a plain redis-server) or is too slow.
pub async fn fetch(address: &str, timeout: Duration) -> Result<Option<SlotMap>, String> {
    let deadline = Instant::now() + timeout;
    let Ok(conn) = tokio::time::timeout_at(deadline, crate::conn::connect(address)).await else {
        return Ok(None);
    };
    let mut conn = conn?;
    let mut buf = Vec::new();
    resp::push_command(&mut buf, &[b"CLUSTER", b"SLOTS"]);
    conn.send(&buf).await?;
    match conn.value_before(deadline).await? {
        Some(value @ Value::Array(_)) => SlotMap::from_cluster_slots(&value, address).map(Some),
        _ => Ok(None),
    }
}

/// The map to route by, if the target is a cluster of more than one node; `None` means "use the
/// first address for everything" (plain Redis, ninesdb with one group, or no sensible answer).
pub async fn probe(address: &str) -> Option<SlotMap> {
    fetch(address, PROBE_TIMEOUT)
        .await
        .ok()
        .flatten()
        .filter(|map| map.owners_count() > 1)
}

/// `-MOVED <slot> <host:port>` or `-ASK <slot> <host:port>`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect<'a> {
    Moved { slot: u16, address: &'a str },
    Ask { slot: u16, address: &'a str },
}

pub fn redirect(error: &str) -> Option<Redirect<'_>> {
    let mut words = error.split_whitespace();
    let kind = words.next()?;
    let slot: u16 = words
        .next()?
        .parse()
        .ok()
        .filter(|s| (*s as usize) < SLOTS_COUNT)?;
    let address = words.next()?;
    match kind {
        "MOVED" => Some(Redirect::Moved { slot, address }),
        "ASK" => Some(Redirect::Ask { slot, address }),
        _ => None,
    }
}

impl Conn {
    /// Waits for the next complete reply, with its content, until `deadline`.
    pub async fn value_before(&mut self, deadline: Instant) -> Result<Option<Value>, String> {
        loop {
            if let Some(value) = self.try_parse(resp::parse_value)? {
                return Ok(Some(value));
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Ok(result) => result?,
                Err(_) => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Reference values from `CLUSTER KEYSLOT` and the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"user1000"));
        // An empty tag or no closing brace: the whole key is hashed.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(key_slot(b"foo{bar"), crc16(b"foo{bar") % 16384);
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::Bulk(host.as_bytes().to_vec()),
            Value::Integer(port),
            Value::Bulk(b"id".to_vec()),
        ])
    }

    fn range(first: i64, last: i64, master: Value) -> Value {
        Value::Array(vec![Value::Integer(first), Value::Integer(last), master])
    }

    #[test]
    fn slot_map_from_cluster_slots() {
        let reply = Value::Array(vec![
            range(0, 5460, node("127.0.0.1", 7000)),
            range(5461, 10922, node("", 7001)),
            range(10923, 16383, node("127.0.0.1", 7002)),
        ]);
        let map = SlotMap::from_cluster_slots(&reply, "10.0.0.1:7000").unwrap();
        assert_eq!(
            map.nodes,
            vec!["127.0.0.1:7000", "10.0.0.1:7001", "127.0.0.1:7002"]
        );
        assert_eq!(
            (
                map.owner[0],
                map.owner[5460],
                map.owner[5461],
                map.owner[16383]
            ),
            (0, 0, 1, 2)
        );
        assert_eq!(map.owners_count(), 3);
        // One node for every slot: not worth routing.
        let single = Value::Array(vec![range(0, 16383, node("127.0.0.1", 7000))]);
        assert_eq!(
            SlotMap::from_cluster_slots(&single, "x:1")
                .unwrap()
                .owners_count(),
            1
        );
        assert!(SlotMap::from_cluster_slots(
            &Value::Array(vec![range(0, 16384, node("a", 1))]),
            "x:1"
        )
        .is_err());
        assert!(SlotMap::from_cluster_slots(&Value::Array(vec![]), "x:1").is_err());
    }

    #[test]
    fn redirects_parse() {
        assert_eq!(
            redirect("MOVED 3999 127.0.0.1:6381"),
            Some(Redirect::Moved {
                slot: 3999,
                address: "127.0.0.1:6381"
            })
        );
        assert_eq!(
            redirect("ASK 1 h:2"),
            Some(Redirect::Ask {
                slot: 1,
                address: "h:2"
            })
        );
        assert_eq!(redirect("MOVED 16384 h:2"), None);
        assert_eq!(redirect("ERR boom"), None);
    }
}
