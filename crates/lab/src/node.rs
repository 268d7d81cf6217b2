//! A simulated node: the Raft core driven exactly as the contract on `raft::Ready` says,
//! with a simulated disk (group commit, loses everything not yet written on a crash) and the
//! key-value state machine.

use std::collections::{BTreeMap, VecDeque};

use lincheck::kv::{KvInput, KvOutput};
use raft::{Entry, LogIndex, NodeId, Payload, ProposeError, Ready, Replica, RestoreState, Role, Term};
use storage::{Record, SimDisk, Wal, WalError, WalOptions};

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
    /// The disk is full: try the batch again later.
    pub disk_retry: bool,
    /// Lines for the trace: what recovery found, storage errors.
    pub notes: Vec<String>,
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
    /// The write-ahead log on this node's disk, while the node is up.
    wal: Option<Wal<SimDisk>>,
    /// The disk while the node is down (what a crash leaves).
    disk_at_rest: Option<SimDisk>,
    wal_options: WalOptions,
    /// The disk refused a write for lack of space: writes are refused until it accepts again.
    pub disk_full: bool,

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
    /// How many Readies of the batch in flight have their records queued in the log.
    disk_in_flight_queued: usize,
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
    pub fn new(id: NodeId, tick_micros: u64, snapshot_every: u64, stale_reads: bool, disk: SimDisk, wal_options: WalOptions) -> SimNode {
        SimNode {
            id,
            generation: 0,
            started_before: false,
            replica: None,
            wal: None,
            disk_at_rest: Some(disk),
            wal_options,
            disk_full: false,
            disk_in_flight_queued: 0,
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

    /// Starts (or restarts): recovers the log from the disk. If recovery finds this replica's
    /// state damaged, the node comes back as a new replica (it must not vote on state it cannot
    /// trust); the notes say what recovery found.
    pub fn start(&mut self, mut config: raft::Config, initial_membership: raft::Membership, now: u64, effects: &mut Effects) -> Result<(), String> {
        let disk = self.disk_at_rest.take().ok_or("no disk")?;
        let (mut wal, mut recovered) = Wal::open(disk, self.wal_options.clone()).map_err(|e| format!("recovery failed: {e}"))?;
        for finding in &recovered.findings {
            effects.notes.push(format!("n{} recovery: {finding}", self.id));
        }
        let mut membership = initial_membership;
        if recovered.damaged.contains(&self.id) {
            let old = self.id;
            self.take_new_identity();
            let _ = wal.remove_group(old);
            config.id = self.id;
            membership = raft::Membership::default();
            effects.notes.push(format!("replica {old} is damaged: the node rejoins as replica {}", self.id));
        }
        let group = recovered.groups.remove(&self.id).unwrap_or_default();
        let restore = RestoreState { hard_state: group.hard_state, snapshot: group.snapshot.clone(), entries: group.entries, initial_membership: membership };
        self.replica = Some(Replica::new(config, restore)?);
        self.store = match &group.snapshot {
            Some(snapshot) => KvStore::decode(&snapshot.data).ok_or("snapshot does not decode")?,
            None => KvStore::default(),
        };
        self.applied = group.snapshot.as_ref().map_or(0, |s| s.meta.index);
        self.wal = Some(wal);
        self.disk_full = false;
        self.next_tick_at = now + self.tick_micros;
        Ok(())
    }

    /// The disk, whether the node is up or down.
    pub fn disk_mut(&mut self) -> Option<&mut SimDisk> {
        match (&mut self.wal, &mut self.disk_at_rest) {
            (Some(wal), _) => Some(wal.disk_mut()),
            (None, Some(disk)) => Some(disk),
            (None, None) => None,
        }
    }

    /// Bytes of log segments and snapshots on this node's disk.
    pub fn wal_bytes(&self) -> u64 {
        self.wal.as_ref().map_or(0, Wal::bytes_on_disk)
    }

    /// The node's durable state is gone or untrustworthy: it comes back as a new replica.
    pub fn take_new_identity(&mut self) {
        self.generation += 1;
        self.id = self.id % IDENTITY_STRIDE + IDENTITY_STRIDE * self.generation;
    }

    /// Power loss: whatever was not yet written is gone.
    pub fn crash(&mut self) {
        if !self.disk_in_flight.is_empty() {
            // Power fails while this batch is being written: its first write reaches the disk,
            // nothing after it (its fsync) does. The disk's crash may leave a torn tail.
            if let Some(disk) = self.wal.as_mut().map(Wal::disk_mut) {
                let operations = disk.operations();
                disk.crash_after(operations + 1);
            }
            let _ = self.write_batch();
        }
        self.replica = None;
        self.incarnation += 1;
        if let Some(wal) = self.wal.take() {
            let mut disk = wal.into_disk();
            disk.crash();
            self.disk_at_rest = Some(disk);
        }
        self.disk_queue.clear();
        self.disk_in_flight.clear();
        self.disk_in_flight_queued = 0;
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
        if self.disk_full {
            // The write could not be made durable here: refuse it plainly (it did not happen).
            effects.to_clients.push((request.client, Reply { request: request.request, outcome: Outcome::Failed }));
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

    /// The disk finished the batch in flight: write it to the log (one flush: group commit)
    /// and carry out each Ready. A full disk keeps the batch for a later try.
    pub fn disk_done(&mut self, effects: &mut Effects) {
        match self.write_batch() {
            Ok(()) => {}
            Err(WalError::Disk(storage::DiskError::Full { needed, available })) => {
                if !self.disk_full {
                    effects.notes.push(format!("n{} disk full: needed {needed} bytes, {available} left; refusing writes", self.id));
                }
                self.disk_full = true;
                self.hand_off_if_leader();
                effects.disk_retry = true;
                return;
            }
            Err(error) => {
                // Any other storage error: the node stops as a real one would, and recovers.
                effects.notes.push(format!("n{} storage error: {error}; crashing", self.id));
                self.crash();
                return;
            }
        }
        self.disk_full = false;
        self.disk_in_flight_queued = 0;
        for ready in std::mem::take(&mut self.disk_in_flight) {
            self.install_snapshot(&ready);
            self.complete(ready, effects);
        }
        self.pump(effects);
    }

    /// Queues the batch's records (snapshots first written whole, in order) and flushes.
    fn write_batch(&mut self) -> Result<(), WalError> {
        let (Some(wal), id) = (self.wal.as_mut(), self.id) else { return Ok(()) };
        while let Some(ready) = self.disk_in_flight.get(self.disk_in_flight_queued) {
            if let Some(snapshot) = &ready.snapshot {
                // The leader's snapshot replaces the whole log, as Raft's install does.
                wal.flush()?;
                wal.install_snapshot(id, snapshot)?;
            }
            if let Some(hard_state) = ready.hard_state {
                wal.queue(Record::HardState { group: id, hard_state });
            }
            if !ready.entries.is_empty() {
                wal.queue(Record::Entries { group: id, entries: ready.entries.clone() });
            }
            self.disk_in_flight_queued += 1;
        }
        wal.flush()?;
        Ok(())
    }

    /// A full disk cannot take the leader's entries: hand leadership to a healthy voter.
    fn hand_off_if_leader(&mut self) {
        let Some(replica) = self.replica.as_mut() else { return };
        if replica.role() != Role::Leader {
            return;
        }
        let id = replica.id();
        if let Some(&target) = replica.membership().voters.iter().find(|&&v| v != id) {
            let _ = replica.transfer_leader(target);
        }
    }

    fn install_snapshot(&mut self, ready: &Ready) {
        let Some(snapshot) = &ready.snapshot else { return };
        if let Some(store) = KvStore::decode(&snapshot.data) {
            self.store = store;
        }
        self.applied = snapshot.meta.index;
        self.pending_writes.retain(|&index, _| index > snapshot.meta.index);
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
        if replica.compact(self.applied, self.store.encode()).is_err() {
            return;
        }
        if let (Some(wal), Some(snapshot)) = (self.wal.as_mut(), replica.snapshot()) {
            // A full disk only postpones the log's truncation; the next snapshot tries again.
            let _ = wal.save_snapshot(self.id, snapshot);
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
