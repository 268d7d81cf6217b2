//! The stream value: entries by id, the stream's counters, its consumer groups, and a model
//! of how Redis packs entries into radix-tree nodes.
//!
//! Redis stores a stream as listpacks ("nodes") of up to 100 entries or 4096 bytes, keyed by
//! the id of their first ("master") entry. Clients see those nodes: approximate trimming
//! (`MAXLEN ~`, `MINID ~`) only drops whole nodes, and XINFO STREAM reports the node count
//! and the radix tree's size. So [`Node`] keeps each node's entry counts and its listpack
//! size, computed with listpack's encoding rules, and every replica builds the same nodes.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::group::Group;
use super::id::StreamId;
use super::listpack;

/// Redis's `stream-node-max-entries` default.
pub(crate) const NODE_ENTRIES_MAX: u64 = 100;
/// Redis's `stream-node-max-bytes` default.
pub(crate) const NODE_BYTES_MAX: u64 = 4096;

/// One listpack of the stream as Redis would hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// The fields of the node's first entry: later entries with the same fields store only
    /// their values.
    pub master_fields: Vec<Bytes>,
    /// Entries not deleted.
    pub live: u64,
    /// Entries flagged deleted (XDEL, trimming inside the node): they still take room.
    pub deleted: u64,
    /// The listpack's size in bytes.
    pub bytes: u64,
    /// The id of the last entry appended (deleted or not).
    pub last: StreamId,
}

/// A Redis stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stream {
    /// Live entries: id -> field, value, field, value...
    pub entries: BTreeMap<StreamId, Vec<Bytes>>,
    /// The nodes, by master id.
    pub nodes: BTreeMap<StreamId, Node>,
    /// The greatest id ever added (or set by XSETID): new ids are above it.
    pub last_id: StreamId,
    /// The first live entry's id as Redis records it (0-0 when empty).
    pub first_id: StreamId,
    /// The greatest id XDEL removed (XSETID may set it too).
    pub max_deleted: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The id of the last live entry (Redis's `streamLastValidID`), 0-0 when empty.
    pub fn last_valid_id(&self) -> StreamId {
        self.entries
            .last_key_value()
            .map_or(StreamId::MIN, |(id, _)| *id)
    }

    /// Appends an entry with an id the caller checked is above `last_id`.
    pub fn append(&mut self, id: StreamId, pairs: Vec<Bytes>) {
        assert!(
            id > self.last_id,
            "stream id regressed: last={} new={}",
            self.last_id,
            id
        );
        // XSETID may lower the last id of an empty stream below nodes that hold only
        // deleted entries: they go, so that every node starts at or below its entries.
        if self
            .nodes
            .last_key_value()
            .is_some_and(|(master, _)| *master > id)
        {
            self.nodes
                .retain(|master, node| *master < id && node.live > 0);
        }
        let fields: Vec<&Bytes> = pairs.iter().step_by(2).collect();
        let values_len: u64 = pairs.iter().map(|b| b.len() as u64).sum();
        let tail = self
            .nodes
            .last_key_value()
            .map(|(master, node)| (*master, node));
        let fits = tail.is_some_and(|(_, node)| {
            node.bytes + values_len < NODE_BYTES_MAX && node.live + node.deleted < NODE_ENTRIES_MAX
        });
        if !fits {
            let mut bytes = listpack::HEADER_BYTES;
            bytes += listpack::int_size(1) + listpack::int_size(0);
            bytes += listpack::int_size(fields.len() as i64);
            bytes += fields.iter().map(|f| listpack::string_size(f)).sum::<u64>();
            bytes += listpack::int_size(0);
            let node = Node {
                master_fields: fields.iter().map(|f| (*f).clone()).collect(),
                live: 0,
                deleted: 0,
                bytes,
                last: id,
            };
            self.nodes.insert(id, node);
        }
        let Some(mut tail) = self.nodes.last_entry() else {
            unreachable!("a node was just made");
        };
        let master = *tail.key();
        let node = tail.get_mut();
        let same_fields = node.master_fields.len() == fields.len()
            && node.master_fields.iter().zip(&fields).all(|(a, b)| a == *b);
        node.bytes += listpack::entry_size(master, id, &pairs, same_fields);
        node.live += 1;
        node.last = id;
        self.entries.insert(id, pairs);
        self.entries_added += 1;
        self.last_id = id;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    /// The master id of the node holding `id`.
    fn node_of(&self, id: StreamId) -> Option<StreamId> {
        self.nodes.range(..=id).next_back().map(|(m, _)| *m)
    }

    /// Deletes one entry (XDEL): flagged in its node, the node freed when it was its last
    /// live entry. Returns whether it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        let Some(master) = self.node_of(id) else {
            return true;
        };
        let Some(node) = self.nodes.get_mut(&master) else {
            return true;
        };
        if node.live <= 1 {
            self.nodes.remove(&master);
        } else {
            node.live -= 1;
            node.deleted += 1;
        }
        true
    }

    /// Redis's `streamTrim`: drops whole nodes from the head while the strategy allows,
    /// then (unless `approx`) flags entries inside the next node. `limit` (0 = none) caps
    /// the entries removed by whole nodes. Returns how many entries went.
    pub fn trim(&mut self, strategy: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0;
        while let Some((&master, node)) = self.nodes.first_key_value() {
            if let Trim::MaxLen(max) = strategy {
                if self.len() as u64 <= max {
                    break;
                }
            }
            let entries = node.live;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let whole = match strategy {
                Trim::MaxLen(max) => self.len() as u64 - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            if whole {
                let next = self.nodes.range(master..).nth(1).map(|(m, _)| *m);
                let doomed: Vec<StreamId> = match next {
                    Some(next) => self
                        .entries
                        .range(master..next)
                        .map(|(id, _)| *id)
                        .collect(),
                    None => self.entries.range(master..).map(|(id, _)| *id).collect(),
                };
                for id in doomed {
                    self.entries.remove(&id);
                }
                self.nodes.remove(&master);
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            deleted += self.trim_inside(master, strategy);
            break;
        }
        if self.entries.is_empty() {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.first_valid_id();
        }
        deleted
    }

    /// Flags entries of the head node deleted from its start, as the strategy asks.
    fn trim_inside(&mut self, master: StreamId, strategy: Trim) -> u64 {
        let mut removed = 0;
        while let Some((&id, _)) = self.entries.range(master..).next() {
            let stop = match strategy {
                Trim::MaxLen(max) => self.len() as u64 <= max,
                Trim::MinId(min) => id >= min,
            };
            if stop || self.node_of(id) != Some(master) {
                break;
            }
            self.entries.remove(&id);
            removed += 1;
        }
        if let Some(node) = self.nodes.get_mut(&master) {
            node.live -= removed;
            node.deleted += removed;
        }
        removed
    }

    fn first_valid_id(&self) -> StreamId {
        self.entries
            .first_key_value()
            .map_or(StreamId::MIN, |(id, _)| *id)
    }

    /// Redis's `rax->numnodes` for the node keys (16-byte big-endian ids): the nodes of a
    /// radix tree whose single-child chains are compressed into one node.
    pub fn radix_tree_nodes(&self) -> u64 {
        let keys: Vec<[u8; 16]> = self
            .nodes
            .keys()
            .map(|id| {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&id.ms.to_be_bytes());
                k[8..].copy_from_slice(&id.seq.to_be_bytes());
                k
            })
            .collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }

    /// Bytes for memory accounting (maxmemory): the listpacks as Redis sizes them, and a
    /// record per pending entry and per consumer.
    pub fn size_estimate(&self) -> u64 {
        const RECORD: u64 = 48;
        let nodes: u64 = self.nodes.values().map(|n| n.bytes).sum();
        let groups: u64 = self
            .groups
            .iter()
            .map(|(name, g)| {
                let consumers: u64 = g.consumers.keys().map(|c| c.len() as u64 + RECORD).sum();
                name.len() as u64 + RECORD + consumers + g.pel.len() as u64 * RECORD
            })
            .sum();
        nodes + groups
    }

    /// Redis's `streamRangeHasTombstones` from `start` to the end.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical read counter of `id`,
    /// or `None` when it cannot be known.
    pub fn estimate_entries_read(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.entries.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            let length = self.len() as u64;
            if id < self.first_id {
                return Some(self.entries_added.wrapping_sub(length));
            }
            if id == self.first_id {
                return Some(self.entries_added.wrapping_sub(length).wrapping_add(1));
            }
        }
        None
    }
}

/// A trimming strategy (XADD/XTRIM's MAXLEN or MINID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Nodes of the compressed trie over `keys` (sorted, distinct, equal length) below a node
/// at `depth`. Depth is at most 16, so the recursion is bounded.
fn rax_count(keys: &[[u8; 16]], depth: usize) -> u64 {
    if depth == 16 {
        return 1;
    }
    let first = keys[0];
    let last = keys[keys.len() - 1];
    if first[depth] == last[depth] {
        // One way on: a compressed node up to where the keys part (or end).
        let mut end = depth;
        while end < 16 && first[end] == last[end] {
            end += 1;
        }
        return 1 + rax_count(keys, end);
    }
    // A branching node: one child per distinct next byte.
    let mut count = 1;
    let mut start = 0;
    while start < keys.len() {
        let byte = keys[start][depth];
        let end = start
            + keys[start..]
                .iter()
                .take_while(|k| k[depth] == byte)
                .count();
        count += rax_count(&keys[start..end], depth + 1);
        start = end;
    }
    count
}
