//! Consumer groups: the last delivered id, the read counter, the pending entries list (PEL)
//! and the consumers, each with its own view of the PEL.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::id::StreamId;

/// A delivered, not yet acknowledged entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Nack {
    /// Log time of the last delivery (ms).
    pub delivery_time: u64,
    pub delivery_count: u64,
    pub consumer: Bytes,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Consumer {
    /// Log time the consumer last read or claimed (ms).
    pub seen_time: u64,
    /// Its entries of the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Group {
    pub last_id: StreamId,
    /// The logical read counter; `None` when unknown (Redis's -1).
    pub entries_read: Option<u64>,
    /// Invariant: every id here is in its consumer's `pel`, and every consumer's `pel`
    /// entry is here with that consumer.
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates a consumer if absent; returns whether it did.
    pub fn create_consumer(&mut self, name: &Bytes, now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.clone(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Looks a consumer up the way XREADGROUP and XCLAIM do: refreshes its seen time, and
    /// creates it when absent.
    pub fn touch_consumer(&mut self, name: &Bytes, now_ms: u64) {
        if !self.create_consumer(name, now_ms) {
            if let Some(c) = self.consumers.get_mut(name) {
                c.seen_time = now_ms;
            }
        }
    }

    /// Removes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pel {
            self.pel.remove(id);
        }
        Some(consumer.pel.len())
    }

    /// Removes an entry from the PEL (an ack, or a claim of a deleted entry).
    pub fn remove_pending(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Gives a pending entry (existing or not) to `consumer`, which must exist.
    pub fn assign(
        &mut self,
        id: StreamId,
        consumer: &Bytes,
        delivery_time: u64,
        delivery_count: u64,
    ) {
        if let Some(old) = self.pel.get(&id) {
            if old.consumer != consumer {
                let old = old.consumer.clone();
                if let Some(c) = self.consumers.get_mut(&old) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(
            id,
            Nack {
                delivery_time,
                delivery_count,
                consumer: consumer.clone(),
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}
