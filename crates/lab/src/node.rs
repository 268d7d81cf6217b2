//! A simulated node: hosts one replica of each group placed on it (`hosted.rs`) and drives
//! each Raft core exactly as the contract on `raft::Ready` says, over one simulated disk and
//! one write-ahead log shared by all its groups (group commit across groups: one write and
//! one fsync per batch), and one clock whose tick reaches every group at once.

use std::collections::{BTreeMap, VecDeque};

use raft::{NodeId, Ready, Replica, RestoreState};
use storage::{Record, SimDisk, Wal, WalError, WalOptions};

use crate::hosted::{log_key, GroupReplica};
use crate::kv::KvStore;
use crate::net::{Outcome, Reply, Request};

pub use crate::hosted::{fnv, slot_of, IDENTITY_STRIDE};

/// Things a node did that the simulator must carry out or the checkers must see.
#[derive(Debug, Default)]
pub struct Effects {
    /// Raft messages to other nodes: (group, message).
    pub to_nodes: Vec<(usize, raft::Message)>,
    pub to_clients: Vec<(usize, Reply)>,
    /// Entries applied: (group, index, term, digest of the payload).
    pub applied: Vec<(usize, raft::LogIndex, raft::Term, u64)>,
    /// The disk went from idle to busy: schedule its completion.
    pub disk_started: bool,
    /// The disk is full: try the batch again later.
    pub disk_retry: bool,
    /// Lines for the trace: what recovery found, storage errors.
    pub notes: Vec<String>,
}

/// A node of the simulated cluster.
pub struct SimNode {
    /// The node's place in the cluster (`n{slot + 1}` in traces).
    pub slot: usize,
    /// The groups this node hosts a replica of, by group.
    pub groups: BTreeMap<usize, GroupReplica>,
    /// Lost for good (its disk destroyed): it never comes back.
    pub lost: bool,
    /// The write-ahead log on this node's disk, while the node is up.
    wal: Option<Wal<SimDisk>>,
    /// The disk while the node is down (what a crash leaves).
    disk_at_rest: Option<SimDisk>,
    wal_options: WalOptions,
    /// The disk refused a write for lack of space: writes are refused until it accepts again.
    pub disk_full: bool,
    /// Bumped at every crash: events of an earlier life are ignored.
    pub incarnation: u64,
    /// The simulated time of the next tick of this node's clock.
    pub next_tick_at: u64,
    /// Microseconds per tick: this node's clock rate (skewed within the drift bound).
    pub tick_micros: u64,
    /// A stop-the-world pause: events before this time wait.
    pub paused_until: u64,
    /// Readies waiting for the disk, in order: (group, Ready).
    disk_queue: VecDeque<(usize, Ready)>,
    /// The batch being written.
    disk_in_flight: Vec<(usize, Ready)>,
    /// How many Readies of the batch in flight have their records queued in the log.
    disk_in_flight_queued: usize,
    next_read_context: u64,
    /// Take a snapshot when this many entries are applied beyond the last one.
    pub snapshot_every: u64,
    /// The deliberate defect of serving reads locally on any node.
    pub stale_reads: bool,
}

impl SimNode {
    pub fn new(
        slot: usize,
        tick_micros: u64,
        snapshot_every: u64,
        stale_reads: bool,
        disk: SimDisk,
        wal_options: WalOptions,
    ) -> SimNode {
        SimNode {
            slot,
            groups: BTreeMap::new(),
            lost: false,
            wal: None,
            disk_at_rest: Some(disk),
            wal_options,
            disk_full: false,
            incarnation: 0,
            next_tick_at: 0,
            tick_micros,
            paused_until: 0,
            disk_queue: VecDeque::new(),
            disk_in_flight: Vec::new(),
            disk_in_flight_queued: 0,
            next_read_context: 1,
            snapshot_every,
            stale_reads,
        }
    }

    pub fn is_up(&self) -> bool {
        self.wal.is_some()
    }

    /// This node's replica of `group`, while it is up.
    pub fn replica(&self, group: usize) -> Option<&Replica> {
        self.groups
            .get(&group)
            .and_then(|hosted| hosted.replica.as_ref())
    }

    pub fn replica_mut(&mut self, group: usize) -> Option<&mut Replica> {
        self.groups
            .get_mut(&group)
            .and_then(|hosted| hosted.replica.as_mut())
    }

    /// This node's identity in `group`, if it hosts the group.
    pub fn id_in(&self, group: usize) -> Option<NodeId> {
        self.groups.get(&group).map(|hosted| hosted.id)
    }

    /// Starts (or restarts): recovers the log from the disk, then each hosted group's replica
    /// with `configs[i]` (the i-th hosted group). A replica whose state recovery finds
    /// damaged comes back as a new replica (it must not vote on state it cannot trust); the
    /// notes say what recovery found.
    pub fn start(
        &mut self,
        configs: Vec<raft::Config>,
        now: u64,
        effects: &mut Effects,
    ) -> Result<(), String> {
        let disk = self.disk_at_rest.take().ok_or("no disk")?;
        let (mut wal, mut recovered) = Wal::open(disk, self.wal_options.clone())
            .map_err(|e| format!("recovery failed: {e}"))?;
        for finding in &recovered.findings {
            effects
                .notes
                .push(format!("n{} recovery: {finding}", self.slot + 1));
        }
        let mut configs = configs.into_iter();
        for (&group, hosted) in &mut self.groups {
            let mut config = configs.next().ok_or("a config per hosted group")?;
            if recovered.damaged.contains(&log_key(group, hosted.id)) {
                let old = hosted.id;
                hosted.take_new_identity();
                let _ = wal.remove_group(log_key(group, old));
                effects.notes.push(format!(
                    "replica {old} of group {group} is damaged: the node rejoins as replica {}",
                    hosted.id
                ));
            }
            config.id = hosted.id;
            let state = recovered
                .groups
                .remove(&log_key(group, hosted.id))
                .unwrap_or_default();
            let restore = RestoreState {
                hard_state: state.hard_state,
                snapshot: state.snapshot.clone(),
                entries: state.entries,
                initial_membership: hosted.initial_membership().clone(),
            };
            hosted.replica = Some(Replica::new(config, restore)?);
            hosted.store = match &state.snapshot {
                Some(snapshot) => {
                    KvStore::decode(&snapshot.data).ok_or("snapshot does not decode")?
                }
                None => KvStore::default(),
            };
            hosted.applied = state.snapshot.as_ref().map_or(0, |s| s.meta.index);
        }
        self.wal = Some(wal);
        self.disk_full = false;
        self.next_tick_at = now + self.tick_micros;
        Ok(())
    }

    /// Hosts a new replica of `group` that waits to be added to it (repair, membership
    /// changes): started at once with `config` if the node is up, else at its restart.
    pub fn host(&mut self, group: usize, mut config: raft::Config) -> Result<NodeId, String> {
        assert!(
            !self.groups.contains_key(&group),
            "n{} already hosts group {group}",
            self.slot + 1
        );
        let mut hosted = GroupReplica::new(self.slot, raft::Membership::default());
        if self.is_up() {
            config.id = hosted.id;
            hosted.replica = Some(Replica::new(config, RestoreState::default())?);
        }
        let id = hosted.id;
        self.groups.insert(group, hosted);
        Ok(id)
    }

    /// The disk, whether the node is up or down.
    pub fn disk_mut(&mut self) -> Option<&mut SimDisk> {
        match (&mut self.wal, &mut self.disk_at_rest) {
            (Some(wal), _) => Some(wal.disk_mut()),
            (None, Some(disk)) => Some(disk),
            (None, None) => None,
        }
    }

    /// The node's durable state is gone: every replica comes back as a new one.
    pub fn take_new_identities(&mut self) {
        for hosted in self.groups.values_mut() {
            hosted.take_new_identity();
        }
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
        for hosted in self.groups.values_mut() {
            hosted.stop();
        }
        self.incarnation += 1;
        if let Some(wal) = self.wal.take() {
            let mut disk = wal.into_disk();
            disk.crash();
            self.disk_at_rest = Some(disk);
        }
        self.disk_queue.clear();
        self.disk_in_flight.clear();
        self.disk_in_flight_queued = 0;
    }

    /// Runs the ticks this node's clock has reached by `now`, each on every group (a paused
    /// node catches up all at once, as a real process whose timers fire late).
    pub fn sync_clock(&mut self, now: u64) {
        if !self.is_up() {
            return;
        }
        while self.next_tick_at <= now {
            for replica in self
                .groups
                .values_mut()
                .filter_map(|hosted| hosted.replica.as_mut())
            {
                replica.tick();
            }
            self.next_tick_at += self.tick_micros;
        }
    }

    pub fn handle_message(&mut self, group: usize, message: raft::Message) {
        if let Some(replica) = self.replica_mut(group) {
            // Rejected messages are dropped, as the contract says; the lab counts nothing here.
            let _ = replica.step(message);
        }
    }

    pub fn handle_request(&mut self, request: Request, effects: &mut Effects) {
        if !self.is_up() {
            return;
        }
        let context = self.next_read_context;
        let (stale_reads, disk_full) = (self.stale_reads, self.disk_full);
        let Some(hosted) = self.groups.get_mut(&request.group) else {
            // Not a replica of that group here (any more): the client asks its slot map again.
            effects.to_clients.push((
                request.client,
                Reply {
                    request: request.request,
                    outcome: Outcome::NotLeader(None),
                },
            ));
            return;
        };
        if request.input == lincheck::kv::KvInput::Get && !stale_reads {
            self.next_read_context += 1;
        }
        hosted.handle_request(request, context, stale_reads, disk_full, effects);
    }

    /// Drains every group's Readies: sends what may go now, queues writes for the disk,
    /// completes Readies that need no disk when nothing of their group is queued ahead.
    pub fn pump(&mut self, effects: &mut Effects) {
        self.pump_groups(None, effects);
    }

    /// `pump` for one group only (`Some`): an event that touched one group's replica can
    /// only have given that one something to do.
    pub fn pump_groups(&mut self, only: Option<usize>, effects: &mut Effects) {
        match only {
            Some(group) => self.pump_group(group, effects),
            None => {
                let groups: Vec<usize> = self.groups.keys().copied().collect();
                for group in groups {
                    self.pump_group(group, effects);
                }
            }
        }
        if self.disk_in_flight.is_empty() && !self.disk_queue.is_empty() {
            // Group commit: everything queued, of every group, goes in one write and one fsync.
            self.disk_in_flight.extend(self.disk_queue.drain(..));
            effects.disk_started = true;
        }
    }

    fn pump_group(&mut self, group: usize, effects: &mut Effects) {
        while let Some(mut ready) = self
            .replica_mut(group)
            .filter(|r| r.has_ready())
            .and_then(Replica::ready)
        {
            effects
                .to_nodes
                .extend(ready.messages.drain(..).map(|message| (group, message)));
            // A new commit index alone need not be synced (`must_sync`): its record rides
            // with the next write, and a crash before then only forgets it.
            let needs_disk = ready.snapshot.is_some()
                || (ready.hard_state.is_some() && ready.must_sync)
                || !ready.entries.is_empty();
            let queued_ahead = self
                .disk_queue
                .iter()
                .chain(&self.disk_in_flight)
                .any(|(g, _)| *g == group);
            if !needs_disk && !queued_ahead {
                if let (Some(hard_state), Some(wal)) = (ready.hard_state, self.wal.as_mut()) {
                    let id = self.groups[&group].id;
                    if let Err(error) = wal.queue(Record::HardState {
                        group: log_key(group, id),
                        hard_state,
                    }) {
                        // Never happens (hard states are never refused); if it did, the node
                        // stops like on any other storage error.
                        effects.notes.push(format!(
                            "n{} storage error: {error}; crashing",
                            self.slot + 1
                        ));
                        self.crash();
                        return;
                    }
                }
                self.complete(group, ready, effects);
            } else {
                self.disk_queue.push_back((group, ready));
            }
        }
    }

    /// The disk finished the batch in flight: write it to the log (one flush: group commit)
    /// and carry out each Ready. A full disk keeps the batch for a later try.
    pub fn disk_done(&mut self, effects: &mut Effects) {
        match self.write_batch() {
            Ok(()) => {}
            Err(WalError::Disk(storage::DiskError::Full { needed, available })) => {
                if !self.disk_full {
                    effects.notes.push(format!(
                        "n{} disk full: needed {needed} bytes, {available} left; refusing writes",
                        self.slot + 1
                    ));
                }
                self.disk_full = true;
                for hosted in self.groups.values_mut() {
                    hosted.hand_off_if_leader();
                }
                effects.disk_retry = true;
                return;
            }
            Err(error) => {
                // Any other storage error: the node stops as a real one would, and recovers.
                effects.notes.push(format!(
                    "n{} storage error: {error}; crashing",
                    self.slot + 1
                ));
                self.crash();
                return;
            }
        }
        self.disk_full = false;
        self.disk_in_flight_queued = 0;
        for (group, ready) in std::mem::take(&mut self.disk_in_flight) {
            if let Some(hosted) = self.groups.get_mut(&group) {
                hosted.install_snapshot(&ready);
            }
            self.complete(group, ready, effects);
        }
        self.pump(effects);
    }

    /// Queues the batch's records (snapshots first written whole, in order) and flushes.
    fn write_batch(&mut self) -> Result<(), WalError> {
        let Some(wal) = self.wal.as_mut() else {
            return Ok(());
        };
        while let Some((group, ready)) = self.disk_in_flight.get(self.disk_in_flight_queued) {
            // Groups are never dropped from a node, so the batch's groups are all here.
            let key = log_key(*group, self.groups[group].id);
            if let Some(snapshot) = &ready.snapshot {
                // The leader's snapshot replaces the whole log, as Raft's install does.
                wal.flush()?;
                wal.install_snapshot(key, snapshot)?;
            }
            if let Some(hard_state) = ready.hard_state {
                wal.queue(Record::HardState {
                    group: key,
                    hard_state,
                })?;
            }
            if !ready.entries.is_empty() {
                wal.queue(Record::Entries {
                    group: key,
                    entries: ready.entries.clone(),
                })?;
            }
            self.disk_in_flight_queued += 1;
        }
        wal.flush()?;
        Ok(())
    }

    fn complete(&mut self, group: usize, ready: Ready, effects: &mut Effects) {
        let Some(hosted) = self.groups.get_mut(&group) else {
            return;
        };
        hosted.complete(group, ready, effects);
        hosted.maybe_snapshot(group, self.snapshot_every, self.wal.as_mut());
    }
}
