//! The undo log of a running script: the first time a write touches a key, its entry as it
//! was is saved; an aborted script puts every saved key back, so it leaves no trace.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{scan_hash, Entry, Keyspace};

/// What a script's writes replaced.
pub(crate) struct Undo {
    clock: u64,
    last_delete: u64,
    /// Keyspace events recorded before the script ran (the script's own are dropped with
    /// its writes).
    events: usize,
    /// Each key's entry before the script's first write to it (`None`: it did not exist).
    saved: BTreeMap<Bytes, Option<Entry>>,
    /// A write touched every key (FLUSHALL, FLUSHDB): the whole map was saved.
    everything: Option<BTreeMap<Bytes, Entry>>,
}

impl Undo {
    pub(crate) fn new(ks: &Keyspace) -> Undo {
        Undo {
            clock: ks.clock,
            last_delete: ks.last_delete,
            events: ks.events_recorded(),
            saved: BTreeMap::new(),
            everything: None,
        }
    }

    /// Saves what a write command may change, before it runs.
    pub(crate) fn before_write(&mut self, ks: &Keyspace, args: &[Bytes]) {
        if self.everything.is_some() {
            return;
        }
        let name = args
            .first()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        if name == b"flushall" || name == b"flushdb" {
            // The map as it was when the script started: now, less the script's earlier writes.
            let mut all = ks.keys.clone();
            for (key, entry) in std::mem::take(&mut self.saved) {
                match entry {
                    Some(entry) => all.insert(key, entry),
                    None => all.remove(&key),
                };
            }
            self.everything = Some(all);
            return;
        }
        for position in crate::key_positions(args) {
            let key = &args[position];
            if !self.saved.contains_key(key) {
                self.saved.insert(key.clone(), ks.keys.get(key).cloned());
            }
        }
    }

    /// Puts the keyspace back as it was when the script started.
    pub(crate) fn roll_back(self, ks: &mut Keyspace) {
        if let Some(keys) = self.everything {
            restore_all(ks, keys);
        } else {
            for (key, entry) in self.saved {
                restore_key(ks, key, entry);
            }
        }
        ks.clock = self.clock;
        ks.last_delete = self.last_delete;
        ks.drop_events_after(self.events);
    }
}

fn restore_key(ks: &mut Keyspace, key: Bytes, entry: Option<Entry>) {
    if let Some(now) = ks.keys.remove(&key) {
        ks.used_bytes -= now.size;
        if let Some(t) = now.expire {
            ks.expires.remove(&(t, key.clone()));
        }
        ks.scan_index.remove(&(scan_hash(&key), key.clone()));
    }
    if let Some(entry) = entry {
        if let Some(t) = entry.expire {
            ks.expires.insert((t, key.clone()));
        }
        ks.scan_index.insert((scan_hash(&key), key.clone()));
        ks.used_bytes += entry.size;
        ks.keys.insert(key, entry);
    }
}

fn restore_all(ks: &mut Keyspace, keys: BTreeMap<Bytes, Entry>) {
    ks.expires.clear();
    ks.scan_index.clear();
    ks.used_bytes = keys.values().map(|e| e.size).sum();
    for (key, entry) in &keys {
        if let Some(t) = entry.expire {
            ks.expires.insert((t, key.clone()));
        }
        ks.scan_index.insert((scan_hash(key), key.clone()));
    }
    ks.keys = keys;
}
