//! A simulated node: the Raft core driven exactly as the contract on `raft::Ready` says,
//! with a simulated disk (group commit, loses everything not yet written on a crash) and the
//! key-value state machine.

use std::collections::{BTreeMap, VecDeque};

use lincheck::kv::{KvInput, KvOutput};
use raft::{Entry, HardState, LogIndex, NodeId, Payload, ProposeError, Ready, Replica, RestoreState, Snapshot, Term};

use crate::kv::{Command, KvStore};
use crate::net::{Outcome, Reply, Request};

/// Raft ids are `slot + 1 + IDENTITY_STRIDE * generation`. A node that lost its durable
/// state (an operator wiped it, or recovery found it damaged) never votes under its old
/// identity: it comes back as a new replica with the next generation, and the group replaces
/// the old identity by joint consensus.
pub const IDENTITY_STRIDE: u64 = 1000;

/// The node slot an id belongs to.
pub fn slot_of(id: NodeId) -> usize {
    (id.saturating_sub(1) % IDENTITY_STRIDE) as usize
}

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
}

/// Things a node did that the simulator must carry out or the checkers must see.
#[derive(Debug, Default)]
pub struct Effects {
    /// Packets to other nodes (by raft id) or to clients.
    pub to_nodes: Vec<raft::Message>,
    pub to_clients: Vec<(usize, Reply)>,
    /// Entries applied: (index, term, digest of the payload).
    pub applied: Vec<(LogIndex, Term, u64)>,
    /// The disk went from idle to busy: schedule its completion.
    pub disk_started: bool,
}

/// A node of the simulated cluster.
pub struct SimNode {
    /// The current identity (changes when the node loses its durable state).
    pub id: NodeId,
    /// How many times this node lost its durable state.
    pub generation: u64,
    /// Whether this slot ever ran: an empty disk then means lost data, not a new cluster.
    pub started_before: bool,
    pub replica: Option<Replica>,
    pub durable: Durable,
    pub store: KvStore,
    pub applied: LogIndex,
    /// Bumped at every crash: events of an earlier life are ignored.
    pub incarnation: u64,
    /// The simulated time of the next tick of this node's clock.
    pub next_tick_at: u64,
    /// Microseconds per tick: this node's clock rate (skewed within the drift bound).
    pub tick_micros: u64,
    /// A stop-the-world pause: events before this time wait.
    pub paused_until: u64,
    disk_queue: VecDeque<Ready>,
    disk_in_flight: Vec<Ready>,
    pending_writes: BTreeMap<LogIndex, (Term, usize, u64)>,
    pending_reads: BTreeMap<u64, (usize, u64, u64)>,
    confirmed_reads: Vec<(LogIndex, u64)>,
    next_read_context: u64,
    /// Take a snapshot when this many entries are applied beyond the last one.
    pub snapshot_every: u64,
    /// The deliberate defect of serving reads locally on any node.
    pub stale_reads: bool,
}

impl SimNode {
    pub fn new(id: NodeId, tick_micros: u64, snapshot_every: u64, stale_reads: bool) -> SimNode {
        SimNode {
            id,
            generation: 0,
            started_before: false,
            replica: None,
            durable: Durable::default(),
            store: KvStore::default(),
            applied: 0,
            incarnation: 0,
            next_tick_at: 0,
            tick_micros,
            paused_until: 0,
            disk_queue: VecDeque::new(),
            disk_in_flight: Vec::new(),
            pending_writes: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            confirmed_reads: Vec::new(),
            next_read_context: 1,
            snapshot_every,
            stale_reads,
        }
    }

    pub fn is_up(&self) -> bool {
        self.replica.is_some()
    }

    /// Starts (or restarts) from the durable state.
    pub fn start(&mut self, config: raft::Config, initial_membership: raft::Membership, now: u64) -> Result<(), String> {
        let restore = RestoreState {
            hard_state: self.durable.hard_state,
            snapshot: self.durable.snapshot.clone(),
            entries: self.durable.entries.clone(),
            initial_membership,
        };
        self.replica = Some(Replica::new(config, restore)?);
        self.store = match &self.durable.snapshot {
            Some(snapshot) => KvStore::decode(&snapshot.data).ok_or("snapshot does not decode")?,
            None => KvStore::default(),
        };
        self.applied = self.durable.snapshot.as_ref().map_or(0, |s| s.meta.index);
        self.next_tick_at = now + self.tick_micros;
        Ok(())
    }

    /// The node's durable state is gone or untrustworthy: it comes back as a new replica.
    pub fn take_new_identity(&mut self) {
        self.generation += 1;
        self.id = self.id % IDENTITY_STRIDE + IDENTITY_STRIDE * self.generation;
        self.durable = Durable::default();
    }

    /// Power loss: whatever was not yet written is gone.
    pub fn crash(&mut self) {
        self.replica = None;
        self.incarnation += 1;
        self.disk_queue.clear();
        self.disk_in_flight.clear();
        self.pending_writes.clear();
        self.pending_reads.clear();
        self.confirmed_reads.clear();
    }

    /// Runs the ticks this node's clock has reached by `now` (a paused node catches up all at
    /// once, as a real process whose timers fire late).
    pub fn sync_clock(&mut self, now: u64) {
        let Some(replica) = self.replica.as_mut() else { return };
        while self.next_tick_at <= now {
            replica.tick();
            self.next_tick_at += self.tick_micros;
        }
    }

    pub fn handle_message(&mut self, message: raft::Message) {
        if let Some(replica) = self.replica.as_mut() {
            // Rejected messages are dropped, as the contract says; the lab counts nothing here.
            let _ = replica.step(message);
        }
    }

    pub fn handle_request(&mut self, request: Request, effects: &mut Effects) {
        let Some(replica) = self.replica.as_mut() else { return };
        if request.input == KvInput::Get {
            if self.stale_reads {
                let value = self.store.get(request.key);
                effects.to_clients.push((request.client, Reply { request: request.request, outcome: Outcome::Done(KvOutput::Value(value)) }));
                return;
            }
            let context = self.next_read_context;
            self.next_read_context += 1;
            match replica.read_index(context) {
                Ok(()) => {
                    self.pending_reads.insert(context, (request.client, request.request, request.key));
                }
                Err(error) => effects.to_clients.push((request.client, refusal(request.request, error))),
            }
            return;
        }
        let command = Command { client: request.client as u64, request: request.request, key: request.key, input: request.input };
        match replica.propose(vec![command.encode()]) {
            Ok(index) => {
                self.pending_writes.insert(index, (replica.term(), request.client, request.request));
            }
            Err(error) => effects.to_clients.push((request.client, refusal(request.request, error))),
        }
    }

    /// Drains every Ready: sends what may go now, queues writes for the disk, completes
    /// Readies that need no disk when nothing is queued ahead of them.
    pub fn pump(&mut self, effects: &mut Effects) {
        loop {
            let Some(replica) = self.replica.as_mut() else { return };
            let Some(mut ready) = replica.ready() else { break };
            effects.to_nodes.append(&mut ready.messages);
            let needs_disk = ready.snapshot.is_some() || ready.hard_state.is_some() || !ready.entries.is_empty();
            if !needs_disk && self.disk_queue.is_empty() && self.disk_in_flight.is_empty() {
                self.complete(ready, effects);
            } else {
                self.disk_queue.push_back(ready);
            }
        }
        if self.disk_in_flight.is_empty() && !self.disk_queue.is_empty() {
            // Group commit: everything queued goes in one write and one fsync.
            self.disk_in_flight = self.disk_queue.drain(..).collect();
            effects.disk_started = true;
        }
    }

    /// The disk finished the batch in flight.
    pub fn disk_done(&mut self, effects: &mut Effects) {
        for ready in std::mem::take(&mut self.disk_in_flight) {
            self.persist(&ready);
            self.complete(ready, effects);
        }
        self.pump(effects);
    }

    fn persist(&mut self, ready: &Ready) {
        if let Some(snapshot) = &ready.snapshot {
            self.durable.snapshot = Some(snapshot.clone());
            self.durable.entries.clear();
            if let Some(store) = KvStore::decode(&snapshot.data) {
                self.store = store;
            }
            self.applied = snapshot.meta.index;
            self.pending_writes.retain(|&index, _| index > snapshot.meta.index);
        }
        if let Some(hard_state) = ready.hard_state {
            self.durable.hard_state = hard_state;
        }
        if let Some(first) = ready.entries.first() {
            self.durable.entries.retain(|e| e.index < first.index);
            self.durable.entries.extend(ready.entries.iter().cloned());
        }
    }

    fn complete(&mut self, ready: Ready, effects: &mut Effects) {
        effects.to_nodes.extend(ready.messages_after_persist);
        for entry in &ready.committed_entries {
            self.apply(entry, effects);
        }
        self.confirmed_reads.extend(ready.read_states.iter().map(|r| (r.index, r.context)));
        for context in ready.dropped_reads {
            if let Some((client, request, _)) = self.pending_reads.remove(&context) {
                effects.to_clients.push((client, Reply { request, outcome: Outcome::Failed }));
            }
        }
        self.serve_reads(effects);
        if let Some(replica) = self.replica.as_mut() {
            replica.advance(ready.persisted);
        }
        self.maybe_snapshot();
    }

    fn apply(&mut self, entry: &Entry, effects: &mut Effects) {
        if entry.index <= self.applied {
            return;
        }
        let (digest, output) = match &entry.payload {
            Payload::Command(bytes) => {
                let output = Command::decode(bytes).map(|command| self.store.apply_once(&command));
                (fnv(bytes), output)
            }
            Payload::Empty => (1, None),
            Payload::Membership(change) => (fnv(format!("{change:?}").as_bytes()), None),
        };
        self.applied = entry.index;
        effects.applied.push((entry.index, entry.term, digest));
        if let Some((term, client, request)) = self.pending_writes.remove(&entry.index) {
            let outcome = match output {
                Some(output) if term == entry.term => Outcome::Done(output),
                // Another entry took our proposal's place: it can never commit now.
                _ => Outcome::Failed,
            };
            effects.to_clients.push((client, Reply { request, outcome }));
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
                effects.to_clients.push((client, Reply { request, outcome }));
            }
        }
        self.confirmed_reads = still_waiting;
    }

    /// Snapshots the state machine and compacts the log once enough entries were applied.
    fn maybe_snapshot(&mut self) {
        let Some(replica) = self.replica.as_mut() else { return };
        if self.applied < replica.first_index() + self.snapshot_every {
            return;
        }
        if replica.compact(self.applied, self.store.encode()).is_ok() {
            self.durable.snapshot = replica.snapshot().cloned();
            let applied = self.applied;
            self.durable.entries.retain(|e| e.index > applied);
        }
    }

    pub fn disk_busy(&self) -> bool {
        !self.disk_in_flight.is_empty()
    }
}

fn refusal(request: u64, error: ProposeError) -> Reply {
    let outcome = match error {
        ProposeError::NotLeader { leader_hint } => Outcome::NotLeader(leader_hint),
        _ => Outcome::Failed,
    };
    Reply { request, outcome }
}

/// FNV-1a, for digests that must not depend on the process (std's hasher is seeded).
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}
