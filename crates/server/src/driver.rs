//! The node thread: hosts the replicas of every group placed on this node over one
//! write-ahead log, and drives them by the `raft::Ready` contract, the same way the lab's
//! simulated node does. Inputs arrive on one bounded channel; each round drains what is
//! waiting, then carries out every group's Ready together, so all the round's writes of all
//! groups share one fsync. One tick input ticks every group (coalesced timers).
//!
//! Placement work runs here too, once a second, on the groups this node leads (as a
//! CockroachDB leaseholder runs its replicate queue): rebuild replicas of dead or draining
//! nodes ([`crate::maintain`]), hand leadership to each group's preferred leader.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use raft::{NodeId, Ready, Replica};
use resp::Value;
use storage::{FsDisk, Record, Wal};
use tokio::sync::oneshot;

use crate::cluster::{
    self, from_wal_key, generation_of, node_of, wal_key, GroupId, GroupReport, ReplicaId,
    SharedView,
};
use crate::command::Operation;
use crate::config::ServerConfig;
use crate::group::{Group, GroupStatus};
use crate::state::StateMachine;
use crate::wire::Frame;

/// Most inputs taken in one round (bounds the batch and the latency of a round).
pub const ROUND_INPUTS_MAX: usize = 4_096;
/// How long a stopping node waits for its leaderships to move before it stops anyway.
const STOP_HANDOFF_MAX: Duration = Duration::from_secs(3);
/// How often placement work runs.
const MAINTAIN_EVERY: Duration = Duration::from_secs(1);
/// The file that marks a data directory as a member of a created cluster.
pub const CLUSTER_FILE: &str = "CLUSTER";

/// How a command ended at this node.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Executed: the reply.
    Reply(Value),
    /// This node does not lead the group (the leader's node, if known): the caller forwards
    /// or redirects.
    NotLeader(Option<NodeId>),
}

/// Where an outcome goes.
pub type Waiter = oneshot::Sender<Outcome>;

/// What this node's state looks like, for INFO, CLUSTER and `ctl status`.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub id: NodeId,
    pub groups: Vec<GroupStatus>,
    /// The estimated data size of the groups hosted here (what `maxmemory` limits).
    pub memory_used: u64,
    /// Keys the leaders here evicted for `maxmemory`.
    pub evicted_keys: u64,
    /// The log's and the disk's figures since start.
    pub counters: crate::metrics::NodeCounters,
    /// `maxmemory` and its policy as the node thread applies them now.
    pub memory: MemorySettings,
}

/// The settings of `maxmemory` that CONFIG SET changes at run time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemorySettings {
    pub maxmemory: u64,
    pub policy: crate::limits::EvictionPolicy,
    pub samples: usize,
}

impl Status {
    /// Data groups (not the meta group) this node leads.
    pub fn leading(&self) -> impl Iterator<Item = &GroupStatus> {
        self.groups
            .iter()
            .filter(|g| g.group != cluster::META && g.role == Some(raft::Role::Leader))
    }
}

/// Inputs of the node thread.
pub enum Input {
    Tick,
    Peer {
        group: GroupId,
        message: raft::Message,
    },
    /// `stale_ok`: a `READONLY` connection's read, which a follower may serve.
    Command {
        group: GroupId,
        args: Vec<Bytes>,
        read: bool,
        stale_ok: bool,
        reply: Waiter,
    },
    /// A keyed command of a connection with several in flight (`crate::pipeline`): run as
    /// `Command` (never stale, never blocking) only while its gate is open, so nothing the
    /// connection sent after a command refused here overtakes it.
    Pipelined {
        group: GroupId,
        args: Vec<Bytes>,
        read: bool,
        gate: std::sync::Arc<crate::pipeline::Gate>,
        reply: Waiter,
    },
    Exec {
        group: GroupId,
        commands: Vec<Vec<Bytes>>,
        watched: Vec<(Bytes, u64)>,
        reply: Waiter,
    },
    /// Opens an exactly-once session.
    OpenSession {
        group: GroupId,
        reply: Waiter,
    },
    /// A numbered write of a session.
    SessionCommand {
        group: GroupId,
        session: u64,
        seq: u64,
        args: Vec<Bytes>,
        reply: Waiter,
    },
    Versions {
        group: GroupId,
        keys: Vec<Bytes>,
        reply: oneshot::Sender<Vec<(Bytes, u64)>>,
    },
    Status {
        /// Also digest every keyspace (O(data): for `NINESDB STATUS`, not CLUSTER SLOTS).
        digests: bool,
        reply: oneshot::Sender<Status>,
    },
    /// CONFIG SET of the memory settings.
    Configure(MemorySettings),
    Shutdown,
}

impl Input {
    /// The bytes a write would put in the log (arguments and their framing); 0 for others.
    fn write_bytes(&self) -> u64 {
        let args_bytes = |args: &[Bytes]| args.iter().map(|a| a.len() as u64 + 8).sum::<u64>() + 8;
        match self {
            Input::Command {
                args, read: false, ..
            }
            | Input::Pipelined {
                args, read: false, ..
            }
            | Input::SessionCommand { args, .. } => args_bytes(args),
            Input::Exec {
                commands, watched, ..
            } => {
                commands.iter().map(|c| args_bytes(c)).sum::<u64>()
                    + watched
                        .iter()
                        .map(|(k, _)| k.len() as u64 + 16)
                        .sum::<u64>()
            }
            _ => 0,
        }
    }

    /// The commands a client write carries (none for reads and other inputs).
    fn write_commands(&self) -> Box<dyn Iterator<Item = &[Bytes]> + '_> {
        match self {
            Input::Command {
                args, read: false, ..
            }
            | Input::Pipelined {
                args, read: false, ..
            }
            | Input::SessionCommand { args, .. } => Box::new(std::iter::once(args.as_slice())),
            Input::Exec { commands, .. } => Box::new(commands.iter().map(Vec::as_slice)),
            _ => Box::new(std::iter::empty()),
        }
    }

    /// Answers a client input with an error without running it.
    fn refuse(self, error: String) {
        match self {
            Input::Command { reply, .. }
            | Input::Pipelined { reply, .. }
            | Input::Exec { reply, .. }
            | Input::OpenSession { reply, .. }
            | Input::SessionCommand { reply, .. } => {
                let _ = reply.send(Outcome::Reply(Value::Error(error)));
            }
            _ => {}
        }
    }

    /// The group a client input is for.
    fn group(&self) -> Option<GroupId> {
        match self {
            Input::Command { group, .. }
            | Input::Pipelined { group, .. }
            | Input::Exec { group, .. }
            | Input::OpenSession { group, .. }
            | Input::SessionCommand { group, .. }
            | Input::Versions { group, .. } => Some(*group),
            _ => None,
        }
    }
}

/// The node thread's state.
pub struct Driver {
    pub(crate) config: ServerConfig,
    raft_template: raft::Config,
    pub(crate) groups: BTreeMap<GroupId, Group>,
    /// Replicas destroyed here: a late message must not bring them back empty.
    tombstones: BTreeSet<(GroupId, ReplicaId)>,
    /// The placement the cluster was created with (`plan[g]`, preferred leader first; group
    /// 0 is the meta group).
    pub(crate) plan: Vec<Vec<NodeId>>,
    pub(crate) wal: Wal<FsDisk>,
    pub(crate) peers: std::sync::Arc<crate::peer::Peers>,
    pub(crate) view: SharedView,
    last_report: Instant,
    /// A digest of the groups this node led at the last report.
    last_leading: u64,
    last_maintenance: Instant,
    /// The meta group's term this leader recorded the seed members in.
    pub(crate) registry_seeded_term: u64,
    /// The meta replica's (term, applied) when the registry was last read.
    pub(crate) registry_read_at: (u64, u64),
    /// The member list version last persisted and dialled.
    pub(crate) members_adopted: (u64, u64),
    /// This node's speed, and whether it judged itself sick.
    pub(crate) health: crate::health::Monitor,
    /// Peers that say they are sick: not given leaderships.
    pub(crate) sick_peers: Vec<NodeId>,
    /// Maintenance rounds so far.
    pub(crate) maintain_rounds: u64,
    /// When a shutdown began: leaderships are being handed away.
    stopping: Option<Instant>,
    /// Keys evicted for `maxmemory` by the leaders here, and eviction rounds so far.
    pub(crate) evicted_keys: u64,
    pub(crate) evict_rounds: u64,
    /// The log's and the disk's figures since start, and repairs (`/metrics`).
    pub(crate) counters: crate::metrics::NodeCounters,
}

impl Driver {
    /// Recovers the log and the replicas in it; creates this node's replicas of a new
    /// cluster. Refuses a damaged log (the operator must rejoin the node as a new replica)
    /// and a configuration that differs from the one the cluster was created with.
    pub fn open(
        config: ServerConfig,
        raft_template: raft::Config,
        mut wal: Wal<FsDisk>,
        recovered: storage::Recovered,
        peers: std::sync::Arc<crate::peer::Peers>,
        view: SharedView,
    ) -> Result<Driver, String> {
        for finding in &recovered.findings {
            tracing::warn!("recovery: {finding}");
        }
        if !recovered.damaged.is_empty() {
            return Err("the write-ahead log is damaged (see the findings above): this node must not vote on it; \
                        move the data directory away and rejoin the node as a new replica"
                .to_owned());
        }
        let plan = cluster::initial_plan(&config)?;
        let marker = config.data_dir.join(CLUSTER_FILE);
        let fingerprint = cluster::fingerprint(&config);
        let mut groups = BTreeMap::new();
        match std::fs::read_to_string(&marker) {
            Ok(created) if created != fingerprint => {
                return Err(format!(
                    "this data directory belongs to a cluster created with other settings:\n{created}\nnow:\n{fingerprint}\
                     groups, replication and members' labels cannot change in place; start with the original settings"
                ));
            }
            Ok(_) => {
                for (key, state) in recovered.groups {
                    let (group, replica) = from_wal_key(key);
                    let initial = if generation_of(replica) == 0 {
                        raft::Membership::with_voters(plan_voters(&plan, group))
                    } else {
                        raft::Membership::default()
                    };
                    let machine = match &state.snapshot {
                        Some(snapshot) => StateMachine::decode(&snapshot.data)
                            .map_err(|e| format!("group {group}: snapshot does not decode: {e}"))?,
                        None => StateMachine::default(),
                    };
                    let applied = state.snapshot.as_ref().map_or(0, |s| s.meta.index);
                    let restore = raft::RestoreState {
                        hard_state: state.hard_state,
                        snapshot: state.snapshot,
                        entries: state.entries,
                        initial_membership: initial,
                    };
                    let replica =
                        Replica::new(replica_config(&raft_template, group, replica), restore)?;
                    groups.insert(
                        group,
                        Group::new(group, replica, machine, applied).with_script_settings(&config),
                    );
                }
            }
            Err(_) if !recovered.groups.is_empty() => {
                return Err(format!("{} has a log but no {CLUSTER_FILE} file (written by an older ninesdb?): move it away to start afresh", config.data_dir.display()));
            }
            Err(_) => {
                // A new cluster: create this node's replicas as planned, durably, then mark.
                for shortfall in cluster::plan_shortfalls(&config) {
                    tracing::warn!("placement: {shortfall}");
                }
                for (group, nodes) in plan.iter().enumerate() {
                    let group = group as GroupId;
                    if !nodes.contains(&config.id) {
                        continue;
                    }
                    let restore = raft::RestoreState {
                        initial_membership: raft::Membership::with_voters(nodes.iter().copied()),
                        ..Default::default()
                    };
                    let replica =
                        Replica::new(replica_config(&raft_template, group, config.id), restore)?;
                    wal.queue(Record::HardState {
                        group: wal_key(group, config.id),
                        hard_state: raft::HardState::default(),
                    })
                    .map_err(|e| e.to_string())?;
                    groups.insert(
                        group,
                        Group::new(group, replica, StateMachine::default(), 0)
                            .with_script_settings(&config),
                    );
                }
                wal.flush().map_err(|e| e.to_string())?;
                crate::membership::write_file(&marker, &fingerprint)?;
                tracing::info!("created this node's {} replicas of a new cluster ({} groups and the meta group)", groups.len(), plan.len() - 1);
            }
        }
        Ok(Driver {
            config,
            raft_template,
            groups,
            tombstones: BTreeSet::new(),
            plan,
            wal,
            peers,
            view,
            last_report: Instant::now(),
            last_leading: 0,
            last_maintenance: Instant::now(),
            registry_seeded_term: 0,
            registry_read_at: (0, 0),
            members_adopted: (0, 0),
            health: crate::health::Monitor::default(),
            sick_peers: Vec::new(),
            maintain_rounds: 0,
            stopping: None,
            evicted_keys: 0,
            evict_rounds: 0,
            counters: crate::metrics::NodeCounters::default(),
        })
    }

    /// Runs until `Shutdown` or the channel closes; ticks every `tick`.
    /// Returns `Err` with the reason if a storage error stopped it: the node cannot know what
    /// its log holds any more, so it hands its leaderships away and the process must exit.
    pub fn run(mut self, inputs: Receiver<Input>, tick: Duration) -> Result<(), String> {
        let mut next_tick = Instant::now() + tick;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            let first = match inputs.recv_timeout(timeout) {
                Ok(input) => Some(input),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch: Vec<Input> = first.into_iter().collect();
            batch.extend(inputs.try_iter().take(ROUND_INPUTS_MAX));
            if Instant::now() >= next_tick {
                self.health
                    .record_tick_lag(Instant::now().duration_since(next_tick).as_micros() as u64);
                batch.push(Input::Tick);
                next_tick += tick;
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + tick;
                }
            }
            if batch.iter().any(|i| matches!(i, Input::Shutdown)) && self.stopping.is_none() {
                // Hand every leadership to a caught-up voter first, so clients wait for a
                // transfer (milliseconds), not an election timeout, when this node goes.
                self.stopping = Some(Instant::now());
                let led = self.transfer_leaderships();
                tracing::info!("stopping: handing {led} leaderships to other replicas first");
            }
            if self.stopping.is_some_and(|since| {
                since.elapsed() >= STOP_HANDOFF_MAX || !self.groups.values().any(Group::is_leader)
            }) {
                break;
            }
            for input in batch {
                self.handle(input);
            }
            for group in self.groups.values_mut() {
                group.propose_round();
            }
            if self.last_maintenance.elapsed() >= MAINTAIN_EVERY && self.stopping.is_none() {
                self.last_maintenance = Instant::now();
                self.maintain();
            }
            if let Err(error) = self.process_ready() {
                tracing::error!(
                    "storage error: {error}; handing leaderships away and stopping (restart to recover from the log)"
                );
                self.hand_off_leaderships();
                return Err(format!("storage error: {error}"));
            }
            // Report on schedule, and at once when this node gains or loses a leadership, so
            // routing learns of a new leader within a round trip.
            let leading = self
                .groups
                .values()
                .filter(|g| g.is_leader())
                .map(|g| g.id)
                .fold(0u64, |acc, id| acc.rotate_left(7) ^ (id + 1));
            if self.last_report.elapsed() >= cluster::REPORT_EVERY || leading != self.last_leading {
                self.last_report = Instant::now();
                self.last_leading = leading;
                self.report();
                self.seed_registry();
                self.seed_users();
                self.refresh_members_from_meta();
                self.broadcast_members();
                self.adopt_members();
            }
        }
        let _ = self.wal.flush();
        Ok(())
    }

    /// Asks the most caught-up other voter of every group this node leads to take over
    /// (TimeoutNow once it has the log); returns how many groups this node leads.
    fn transfer_leaderships(&mut self) -> usize {
        let me = self.config.id;
        let mut led = 0;
        for group in self.groups.values_mut().filter(|g| g.is_leader()) {
            led += 1;
            let membership = group.replica.membership();
            let target = membership
                .voters
                .iter()
                .copied()
                .filter(|&r| node_of(r) != me)
                .max_by_key(|&r| group.replica.matched(r));
            if let Some(target) = target {
                let _ = group.replica.transfer_leader(target);
            }
        }
        led
    }

    /// After a storage error: hands leaderships away as [`Driver::transfer_leaderships`]
    /// does, sending only the messages Raft allows before persisting; nothing more is written.
    fn hand_off_leaderships(&mut self) {
        self.transfer_leaderships();
        let messages: Vec<(GroupId, Vec<raft::Message>)> = self
            .groups
            .iter_mut()
            .filter_map(|(&id, g)| g.replica.ready().map(|r| (id, r.messages)))
            .collect();
        for (group, messages) in messages {
            self.send(group, &messages);
        }
        // The peer links send from their own tasks: give them a moment before the exit.
        std::thread::sleep(Duration::from_millis(300));
    }

    fn handle(&mut self, input: Input) {
        if let Some(group) = input.group() {
            if !self.groups.contains_key(&group) {
                return self.not_hosted(input);
            }
        }
        let size = input.write_bytes();
        if size > self.config.max_request_bytes {
            return input.refuse(format!(
                "ERR this write is {size} bytes, over max-request-bytes ({}): a write that large is not replicated; \
                 split the value (APPEND, SETRANGE or several keys), or raise --max-request-bytes (at most {})",
                self.config.max_request_bytes,
                crate::config::REQUEST_BYTES_MAX
            ));
        }
        if let Some(group) = input.group() {
            if self.refuses_for_memory(group, input.write_commands()) {
                return input.refuse(crate::evict::OOM_ERROR.to_owned());
            }
        }
        match input {
            Input::Tick => {
                for group in self.groups.values_mut() {
                    group.on_tick();
                }
                self.evict();
            }
            Input::Peer { group, message } => self.on_message(group, message),
            Input::Command {
                group,
                args,
                read,
                stale_ok,
                reply,
            } => {
                let max_stale = Duration::from_millis(self.config.max_stale_ms);
                let Some(group) = self.groups.get_mut(&group) else {
                    return;
                };
                match (read, stale_ok) {
                    (true, true) => group.stale_read(args, reply, max_stale),
                    (true, false) => group.read(args, reply),
                    (false, _) if crate::blocking::is_blocking(&args) => {
                        group.propose_blocking(args, reply)
                    }
                    (false, _) => group.propose(
                        Operation::Command {
                            now_ms: wall_clock_ms(),
                            args,
                        },
                        reply,
                    ),
                }
            }
            Input::Pipelined {
                group,
                args,
                read,
                gate,
                reply,
            } => {
                if let Some(group) = self.groups.get_mut(&group) {
                    pipelined(group, args, read, gate, reply);
                }
            }
            Input::Exec {
                group,
                commands,
                watched,
                reply,
            } => {
                if let Some(group) = self.groups.get_mut(&group) {
                    group.propose(
                        Operation::Exec {
                            now_ms: wall_clock_ms(),
                            commands,
                            watched,
                        },
                        reply,
                    );
                }
            }
            Input::OpenSession { group, reply } => {
                if let Some(group) = self.groups.get_mut(&group) {
                    group.propose(Operation::OpenSession, reply);
                }
            }
            Input::SessionCommand {
                group,
                session,
                seq,
                args,
                reply,
            } => {
                if let Some(group) = self.groups.get_mut(&group) {
                    group.propose(
                        Operation::SessionCommand {
                            now_ms: wall_clock_ms(),
                            session,
                            seq,
                            args,
                        },
                        reply,
                    );
                }
            }
            Input::Versions { group, keys, reply } => {
                if let Some(group) = self.groups.get(&group) {
                    let versions = keys
                        .into_iter()
                        .map(|k| (k.clone(), group.state.keyspace.version(&k)))
                        .collect();
                    let _ = reply.send(versions);
                }
            }
            Input::Status { digests, reply } => {
                let _ = reply.send(Status {
                    id: self.config.id,
                    groups: self.groups.values().map(|g| g.status(digests)).collect(),
                    memory_used: self.memory_used(),
                    evicted_keys: self.evicted_keys,
                    counters: self.counters.clone(),
                    memory: MemorySettings {
                        maxmemory: self.config.maxmemory,
                        policy: self.config.maxmemory_policy,
                        samples: self.config.maxmemory_samples,
                    },
                });
            }
            Input::Configure(memory) => {
                self.config.maxmemory = memory.maxmemory;
                self.config.maxmemory_policy = memory.policy;
                self.config.maxmemory_samples = memory.samples;
            }
            Input::Shutdown => {}
        }
    }

    /// A client input for a group with no replica here: say who leads it, as far as known.
    fn not_hosted(&self, input: Input) {
        let leader = input
            .group()
            .and_then(|g| cluster::lock(&self.view).leader(g))
            .filter(|&n| n != self.config.id);
        match input {
            Input::Command { reply, .. }
            | Input::Exec { reply, .. }
            | Input::OpenSession { reply, .. }
            | Input::SessionCommand { reply, .. } => {
                let _ = reply.send(Outcome::NotLeader(leader));
            }
            Input::Pipelined { gate, reply, .. } => {
                gate.close();
                let _ = reply.send(Outcome::NotLeader(leader));
            }
            // WATCH of a group hosted elsewhere: no version known, so EXEC will see a change
            // unless the key never existed (the client retries the transaction).
            Input::Versions { keys, reply, .. } => {
                let _ = reply.send(keys.into_iter().map(|k| (k, u64::MAX)).collect());
            }
            _ => {}
        }
    }

    fn on_message(&mut self, group: GroupId, message: raft::Message) {
        if !self.groups.contains_key(&group) && !self.adopt(group, &message) {
            return;
        }
        if let Some(hosted) = self.groups.get_mut(&group) {
            if hosted.replica.id() == message.to {
                hosted.step(message);
            }
        }
    }

    /// A leader talks to a replica of `group` this node does not have: if it is a replica
    /// repair added here (a fresh identity), create it empty; it catches up from the leader.
    /// Identities of the cluster's creation (generation 0) and destroyed ones are never
    /// recreated empty: they may have voted, and an empty replica would forget it.
    fn adopt(&mut self, group: GroupId, message: &raft::Message) -> bool {
        let from_leader = matches!(
            message.body,
            raft::MessageBody::Append { .. }
                | raft::MessageBody::Heartbeat { .. }
                | raft::MessageBody::SnapshotChunk { .. }
        );
        let replica = message.to;
        if !from_leader
            || node_of(replica) != self.config.id
            || generation_of(replica) == 0
            || self.tombstones.contains(&(group, replica))
        {
            return false;
        }
        if group > self.config.group_count() {
            return false;
        }
        match Replica::new(
            replica_config(&self.raft_template, group, replica),
            raft::RestoreState::default(),
        ) {
            Ok(created) => {
                tracing::info!(
                    group,
                    term = message.term,
                    "group {group}: new replica {replica} here, added by the leader on node {}",
                    node_of(message.from)
                );
                self.groups.insert(
                    group,
                    Group::new(group, created, StateMachine::default(), 0)
                        .with_script_settings(&self.config),
                );
                true
            }
            Err(error) => {
                tracing::warn!(
                    group,
                    "group {group}: cannot create replica {replica}: {error}"
                );
                false
            }
        }
    }

    /// Removes a replica this node must no longer host, with its durable state.
    pub(crate) fn destroy(&mut self, group: GroupId, why: &str) {
        let Some(removed) = self.groups.remove(&group) else {
            return;
        };
        let replica = removed.replica.id();
        self.tombstones.insert((group, replica));
        tracing::info!(
            group,
            "group {group}: replica {replica} removed here ({why})"
        );
        if let Err(error) = self.wal.remove_group(wal_key(group, replica)) {
            tracing::error!(
                group,
                "group {group}: removing replica {replica} from the log failed: {error}"
            );
        }
    }

    /// Carries out every group's Ready: send, persist (one flush for all groups), send after
    /// persist, apply, serve reads, advance. Returns an error only for storage failures.
    fn process_ready(&mut self) -> Result<(), String> {
        loop {
            let readies: Vec<(GroupId, Ready)> = self
                .groups
                .iter_mut()
                .filter_map(|(&id, g)| g.replica.ready().map(|r| (id, r)))
                .collect();
            if readies.is_empty() {
                break;
            }
            for (group, ready) in &readies {
                self.send(*group, &ready.messages);
            }
            for (group, ready) in &readies {
                self.persist(*group, ready)?;
            }
            let started = Instant::now();
            if crate::health::INJECTED_DISK_FAILURE.load(std::sync::atomic::Ordering::Relaxed) {
                return Err("injected disk failure (NINESDB DEBUG FAIL-DISK)".to_owned());
            }
            let flushed = self.wal.flush().map_err(|e| e.to_string())?;
            self.counters.wal_bytes += flushed.bytes;
            self.counters.wal_records += flushed.records;
            if flushed.syncs > 0 {
                if let Some(delay) = crate::health::injected_fsync_delay() {
                    std::thread::sleep(delay);
                }
                let micros = started.elapsed().as_micros() as u64;
                self.health.record_fsync(micros);
                self.counters.fsync.observe(micros);
            }
            for (group, ready) in readies {
                self.send(group, &ready.messages_after_persist);
                let every = self.config.snapshot_entries;
                let Some(hosted) = self.groups.get_mut(&group) else {
                    continue;
                };
                // The meta group holds the cluster's own records, not users' keys.
                let notify = if group == cluster::META {
                    0
                } else {
                    self.peers.pubsub().keyspace_events()
                };
                hosted.state.keyspace.set_notify_flags(notify);
                hosted.after_persist(&ready);
                if notify != 0 {
                    let events = hosted.state.keyspace.take_events();
                    self.peers.pubsub().publish_keyspace_events(events, notify);
                }
                hosted.replica.advance(ready.persisted);
                let key = wal_key(group, hosted.replica.id());
                if let Some(snapshot) = hosted.snapshot_due(every, raft::SNAPSHOT_SIZE_MAX)? {
                    let (started, bytes) = (Instant::now(), snapshot.data.len() as u64);
                    self.wal
                        .save_snapshot(key, snapshot)
                        .map_err(|e| e.to_string())?;
                    self.counters.snapshots += 1;
                    self.counters.snapshot_bytes += bytes;
                    self.counters
                        .snapshot_time
                        .observe(started.elapsed().as_micros() as u64);
                }
            }
        }
        for group in self.groups.values_mut() {
            group.release_reads_unless_leader();
        }
        Ok(())
    }

    fn send(&self, group: GroupId, messages: &[raft::Message]) {
        for message in messages {
            // A full queue drops the message: Raft retries, and memory stays bounded.
            self.peers.send(
                node_of(message.to),
                Frame::Raft {
                    group,
                    message: message.clone(),
                },
            );
        }
    }

    /// Queues the Ready's records (installs a received snapshot at once).
    fn persist(&mut self, group: GroupId, ready: &Ready) -> Result<(), String> {
        let Some(hosted) = self.groups.get_mut(&group) else {
            return Ok(());
        };
        let key = wal_key(group, hosted.replica.id());
        if let Some(snapshot) = &ready.snapshot {
            self.wal.flush().map_err(|e| e.to_string())?;
            self.wal
                .install_snapshot(key, snapshot)
                .map_err(|e| e.to_string())?;
            hosted.state = StateMachine::decode(&snapshot.data)
                .map_err(|e| format!("group {group}: leader's snapshot does not decode: {e}"))?;
            hosted.applied = snapshot.meta.index;
        }
        if let Some(hard_state) = ready.hard_state {
            self.wal
                .queue(Record::HardState {
                    group: key,
                    hard_state,
                })
                .map_err(|e| e.to_string())?;
        }
        if !ready.entries.is_empty() {
            // Too large an entry is a storage error like any other: the server bounds
            // requests by storage::ENTRY_SIZE_MAX before proposing, so it never gets here.
            self.wal
                .queue(Record::Entries {
                    group: key,
                    entries: ready.entries.clone(),
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Tells every node (and this one's view) about the groups this node leads.
    fn report(&mut self) {
        let reports: Vec<GroupReport> = self
            .groups
            .values()
            .filter(|g| g.is_leader())
            .map(|g| leader_report(g, self.config.id))
            .collect();
        {
            let mut view = cluster::lock(&self.view);
            for report in &reports {
                view.accept(report.clone());
            }
        }
        self.peers.broadcast(&Frame::Report(reports));
        let mine = self.health.mine();
        cluster::lock(&self.view)
            .health
            .insert(self.config.id, (mine, Instant::now()));
        self.peers.broadcast(&Frame::Health {
            from: self.config.id,
            fsync_us: mine.fsync_us,
            lag_us: mine.lag_us,
            loss_permille: mine.loss_permille,
            sick: mine.sick,
        });
    }
}

/// A pipelined command: run only by a leader and only while its gate is open; otherwise it
/// closes the gate and goes back to its connection, which sends it (and everything after
/// it) the slow way, in order.
fn pipelined(
    group: &mut Group,
    args: Vec<Bytes>,
    read: bool,
    gate: std::sync::Arc<crate::pipeline::Gate>,
    reply: Waiter,
) {
    if gate.is_closed() || !group.is_leader() {
        gate.close();
        let _ = reply.send(Outcome::NotLeader(group.leader_node()));
    } else if read {
        group.read_gated(args, reply, Some(gate));
    } else {
        let operation = Operation::Command {
            now_ms: wall_clock_ms(),
            args,
        };
        group.propose_gated(operation, reply, Some(gate));
    }
}

fn leader_report(group: &Group, me: NodeId) -> GroupReport {
    let membership = group.replica.membership();
    GroupReport {
        group: group.id,
        term: group.replica.term(),
        leader: me,
        voters: membership
            .voters
            .iter()
            .chain(&membership.voters_outgoing)
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        learners: membership.learners.iter().copied().collect(),
        commit: group.replica.commit_index(),
    }
}

/// The voters a group was created with.
pub(crate) fn plan_voters(plan: &[Vec<NodeId>], group: GroupId) -> Vec<NodeId> {
    plan.get(group as usize).cloned().unwrap_or_default()
}

fn replica_config(template: &raft::Config, group: GroupId, replica: ReplicaId) -> raft::Config {
    let mut config = template.clone();
    config.id = replica;
    config.random_seed = template.random_seed ^ replica.rotate_left(17) ^ group.rotate_left(41);
    config
}

/// The answer to a write that may or may not have been applied.
pub const UNKNOWN_OUTCOME: &str = "UNKNOWN outcome unknown: leadership changed after the write was proposed; it may or may not have been applied";
/// The answer to a write that certainly was not applied.
pub const NOT_APPLIED: &str =
    "TRYAGAIN write not applied: leadership changed before it committed; it is safe to retry";

/// Milliseconds since the Unix epoch: read here only, and stamped into log entries by the
/// leader, so every replica applies the same time.
pub fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
