//! One group's replica on a simulated node: the Raft core, the key-value state machine it
//! applies to, and the client requests waiting on it. The node (`node.rs`) owns the things
//! its groups share: the log on disk, the clock, the link to each peer.

use std::collections::BTreeMap;

use lincheck::kv::{KvInput, KvOutput};
use raft::{
    Entry, LogIndex, Membership, NodeId, Payload, ProposeError, Ready, Replica, Role, Term,
};
use storage::{SimDisk, Wal};

use crate::kv::{Command, KvStore};
use crate::net::{Outcome, Reply, Request};
use crate::node::Effects;

/// Raft ids are `slot + 1 + IDENTITY_STRIDE * generation`. A replica that lost its durable
/// state (an operator wiped the node, or recovery found it damaged) never votes under its old
/// identity: it comes back as a new replica with the next generation, and the group replaces
/// the old identity by joint consensus. Ids only need to be unique within a group.
pub const IDENTITY_STRIDE: u64 = 1000;

/// The node slot an id belongs to.
pub fn slot_of(id: NodeId) -> usize {
    (id.saturating_sub(1) % IDENTITY_STRIDE) as usize
}

/// The key of a replica's records in its node's log: the group and the identity, so that a
/// replica that takes a new identity starts from an empty key, and recovery's verdict on a
/// key (damaged) names both. With one group the key is the identity, as before multi-raft.
pub fn log_key(group: usize, id: NodeId) -> storage::GroupId {
    assert!(id < 1 << 32, "replica id {id} does not fit the log key");
    ((group as u64) << 32) | id
}

/// One group's replica hosted on a node.
pub struct GroupReplica {
    /// The current identity (changes when this replica loses its durable state).
    pub id: NodeId,
    /// How many times this replica lost its durable state.
    generation: u64,
    /// The membership to start from when there is no durable state: the group's bootstrap
    /// voters for a replica placed at the start, empty for one that must wait to be added.
    initial_membership: Membership,
    /// The Raft core, while the node is up.
    pub replica: Option<Replica>,
    pub store: KvStore,
    pub applied: LogIndex,
    /// Proposed writes: log index -> (term proposed in, client, request).
    pending_writes: BTreeMap<LogIndex, (Term, usize, u64)>,
    /// Reads waiting for their ReadIndex: context -> (client, request, key).
    pending_reads: BTreeMap<u64, (usize, u64, u64)>,
    /// Reads confirmed at an index, waiting for it to be applied: (index, context).
    confirmed_reads: Vec<(LogIndex, u64)>,
}

impl GroupReplica {
    /// A replica on node `slot`; `initial_membership` is empty unless it bootstraps the group.
    pub fn new(slot: usize, initial_membership: Membership) -> GroupReplica {
        GroupReplica {
            id: slot as NodeId + 1,
            generation: 0,
            initial_membership,
            replica: None,
            store: KvStore::default(),
            applied: 0,
            pending_writes: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            confirmed_reads: Vec::new(),
        }
    }

    /// The membership to start from without durable state.
    pub fn initial_membership(&self) -> &Membership {
        &self.initial_membership
    }

    /// The durable state is gone or untrustworthy: come back as a new replica that waits to
    /// be added to the group.
    pub fn take_new_identity(&mut self) {
        self.generation += 1;
        self.id = self.id % IDENTITY_STRIDE + IDENTITY_STRIDE * self.generation;
        self.initial_membership = Membership::default();
    }

    /// The node stopped: the core and every request waiting on it are gone.
    pub fn stop(&mut self) {
        self.replica = None;
        self.pending_writes.clear();
        self.pending_reads.clear();
        self.confirmed_reads.clear();
    }

    /// A client's request for this group: reads go through ReadIndex, writes through the log.
    /// `context` numbers the read; `refuse_writes` is set while the node's disk is full.
    pub fn handle_request(
        &mut self,
        request: Request,
        context: u64,
        stale_reads: bool,
        refuse_writes: bool,
        effects: &mut Effects,
    ) {
        let Some(replica) = self.replica.as_mut() else {
            return;
        };
        if request.input == KvInput::Get {
            if stale_reads {
                let value = self.store.get(request.key);
                effects.to_clients.push((
                    request.client,
                    Reply {
                        request: request.request,
                        outcome: Outcome::Done(KvOutput::Value(value)),
                    },
                ));
                return;
            }
            match replica.read_index(context) {
                Ok(()) => {
                    self.pending_reads
                        .insert(context, (request.client, request.request, request.key));
                }
                Err(error) => effects
                    .to_clients
                    .push((request.client, refusal(request.request, error))),
            }
            return;
        }
        if refuse_writes {
            // The write could not be made durable here: refuse it plainly (it did not happen).
            effects.to_clients.push((
                request.client,
                Reply {
                    request: request.request,
                    outcome: Outcome::Failed,
                },
            ));
            return;
        }
        let command = Command {
            client: request.client as u64,
            request: request.request,
            key: request.key,
            input: request.input,
        };
        match replica.propose(vec![command.encode()]) {
            Ok(index) => {
                self.pending_writes
                    .insert(index, (replica.term(), request.client, request.request));
            }
            Err(error) => effects
                .to_clients
                .push((request.client, refusal(request.request, error))),
        }
    }

    /// The state machine takes a snapshot received from the leader (now durable).
    pub fn install_snapshot(&mut self, ready: &Ready) {
        let Some(snapshot) = &ready.snapshot else {
            return;
        };
        if let Some(store) = KvStore::decode(&snapshot.data) {
            self.store = store;
        }
        self.applied = snapshot.meta.index;
        self.pending_writes
            .retain(|&index, _| index > snapshot.meta.index);
    }

    /// Carries out the rest of a Ready once its records are durable: messages that waited for
    /// the disk, committed entries, reads; then `advance`.
    pub fn complete(&mut self, group: usize, ready: Ready, effects: &mut Effects) {
        effects.to_nodes.extend(
            ready
                .messages_after_persist
                .into_iter()
                .map(|message| (group, message)),
        );
        for entry in &ready.committed_entries {
            self.apply(group, entry, effects);
        }
        self.confirmed_reads
            .extend(ready.read_states.iter().map(|r| (r.index, r.context)));
        for context in ready.dropped_reads {
            if let Some((client, request, _)) = self.pending_reads.remove(&context) {
                effects.to_clients.push((
                    client,
                    Reply {
                        request,
                        outcome: Outcome::Failed,
                    },
                ));
            }
        }
        self.serve_reads(effects);
        if let Some(replica) = self.replica.as_mut() {
            replica.advance(ready.persisted);
        }
    }

    fn apply(&mut self, group: usize, entry: &Entry, effects: &mut Effects) {
        if entry.index <= self.applied {
            return;
        }
        let digest = payload_digest(&entry.payload);
        let output = match &entry.payload {
            Payload::Command(bytes) => {
                Command::decode(bytes).map(|command| self.store.apply_once(&command))
            }
            _ => None,
        };
        self.applied = entry.index;
        effects
            .applied
            .push((group, entry.index, entry.term, digest));
        if let Some((term, client, request)) = self.pending_writes.remove(&entry.index) {
            let outcome = match output {
                Some(output) if term == entry.term => Outcome::Done(output),
                // Another entry took our proposal's place: it can never commit now.
                _ => Outcome::Failed,
            };
            effects
                .to_clients
                .push((client, Reply { request, outcome }));
        }
    }

    fn serve_reads(&mut self, effects: &mut Effects) {
        let applied = self.applied;
        let mut still_waiting = Vec::new();
        for (index, context) in std::mem::take(&mut self.confirmed_reads) {
            if index > applied {
                still_waiting.push((index, context));
                continue;
            }
            if let Some((client, request, key)) = self.pending_reads.remove(&context) {
                let outcome = Outcome::Done(KvOutput::Value(self.store.get(key)));
                effects
                    .to_clients
                    .push((client, Reply { request, outcome }));
            }
        }
        self.confirmed_reads = still_waiting;
    }

    /// Snapshots the state machine and compacts the log once `every` entries were applied
    /// beyond the last snapshot.
    pub fn maybe_snapshot(&mut self, group: usize, every: u64, wal: Option<&mut Wal<SimDisk>>) {
        let Some(replica) = self.replica.as_mut() else {
            return;
        };
        if self.applied < replica.first_index() + every {
            return;
        }
        if replica.compact(self.applied, self.store.encode()).is_err() {
            return;
        }
        if let (Some(wal), Some(snapshot)) = (wal, replica.snapshot()) {
            // A full disk only postpones the log's truncation; the next snapshot tries again.
            let _ = wal.save_snapshot(log_key(group, self.id), snapshot);
        }
    }

    /// A full disk cannot take the leader's entries: hand leadership to another voter.
    pub fn hand_off_if_leader(&mut self) {
        let Some(replica) = self.replica.as_mut() else {
            return;
        };
        if replica.role() != Role::Leader {
            return;
        }
        let id = replica.id();
        if let Some(&target) = replica.membership().voters.iter().find(|&&v| v != id) {
            let _ = replica.transfer_leader(target);
        }
    }
}

fn refusal(request: u64, error: ProposeError) -> Reply {
    let outcome = match error {
        ProposeError::NotLeader { leader_hint } => Outcome::NotLeader(leader_hint),
        _ => Outcome::Failed,
    };
    Reply { request, outcome }
}

/// A digest of an entry's payload, to compare what replicas applied or hold.
pub fn payload_digest(payload: &Payload) -> u64 {
    match payload {
        Payload::Command(bytes) => fnv(bytes),
        Payload::Empty => 1,
        Payload::Membership(change) => fnv(format!("{change:?}").as_bytes()),
    }
}

/// FNV-1a, for digests that must not depend on the process (std's hasher is seeded).
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    })
}
