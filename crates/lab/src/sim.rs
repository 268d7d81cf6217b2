//! The discrete-event world: an event queue in simulated microseconds, the network between
//! nodes and clients, and the loop that drives nodes, clients, the nemesis and the checkers.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use lincheck::kv::{KvInput, KvOutput};
use lincheck::Operation;
use raft::{Membership, NodeId, Role};

use crate::check::Observer;
use crate::client::SimClient;
use crate::net::{Packet, Reply};
use crate::node::{slot_of, Effects, SimNode};
use crate::options::{Bug, SimOptions};
use crate::params::{Params, MS};
use crate::rng::SimRng;

/// Each simulated disk's size (the disk fault class fills it up on purpose).
pub const DISK_CAPACITY: u64 = 1 << 30;

/// How long a full disk waits before the node tries its write again.
pub const DISK_RETRY_DELAY: u64 = 50 * MS;

/// How often the repair loop looks for identities to replace.
pub const REPAIR_INTERVAL: u64 = 200 * MS;

/// Most events one run may process: a run that would go on forever is stopped and reported.
pub const EVENTS_MAX: u64 = 20_000_000;

/// Something that happens at a simulated time.
#[derive(Debug)]
pub(crate) enum Event {
    Tick { node: usize, incarnation: u64 },
    /// Drain a node's Ready after an administrative call (no tick, no packet).
    Flush { node: usize, incarnation: u64 },
    DiskDone { node: usize, incarnation: u64 },
    /// Boxed: the event queue moves events around, and a packet is large.
    ToNode { node: usize, packet: Box<Packet> },
    ToClient { client: usize, reply: Reply },
    ClientWake { client: usize },
    ClientTimeout { client: usize, request: u64 },
    Nemesis,
    /// Leader churn: strike the node that just became leader (if it still leads that term).
    StrikeLeader { node: usize, term: raft::Term },
    Restart { node: usize },
    /// The operator frees space on a full disk.
    DiskSpace { node: usize },
    /// The repair loop: replace identities that lost their data (every 200 ms).
    Repair,
    Heal { epoch: u64 },
    EndOfFaults,
    StartFinalReads,
    /// During convergence: stop as soon as every member applied the same state.
    CheckConverged,
}

struct Scheduled {
    time: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Clients and faults.
    Faults,
    /// Everything healed; clients finish their work.
    Healing,
    /// One client reads every key; the results must show every acknowledged write.
    FinalReads,
    /// Nothing new; replicas must converge.
    Converging,
}

/// What a finished run reports.
#[derive(Debug, Default)]
pub struct RunReport {
    pub seed: u64,
    pub violations: Vec<String>,
    /// Keys whose linearizability check ran out of budget (neither pass nor fail).
    pub undecided: Vec<String>,
    pub events: u64,
    pub simulated_micros: u64,
    pub operations: usize,
    pub acknowledged_writes: usize,
    pub indeterminate: usize,
    pub leaders_elected: usize,
    pub disk: DiskStats,
    pub trace: Vec<String>,
}

/// What the disk faults did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Bits flipped at rest in log segments and snapshot files.
    pub bit_flips: u64,
    /// Replicas that recovery found damaged in a sealed log segment (then rebuilt).
    pub rebuilt_after_wal_corruption: u64,
    /// Replicas that recovery found damaged in a snapshot file (then rebuilt).
    pub rebuilt_after_snapshot_corruption: u64,
    /// Nodes whose data an operator wiped (they rejoined as new replicas).
    pub wipes: u64,
    /// Times a node's disk filled up.
    pub disk_full: u64,
    /// Torn tails recovery truncated after crashes.
    pub torn_tails: u64,
}

/// The simulated world.
pub struct Sim {
    pub(crate) options: SimOptions,
    pub(crate) params: Params,
    pub(crate) now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    pub(crate) rng: SimRng,
    pub(crate) nodes: Vec<SimNode>,
    pub(crate) clients: Vec<SimClient>,
    /// Directed links cut by the current partition: (from, to) node slots.
    pub(crate) blocked: BTreeSet<(usize, usize)>,
    pub(crate) partition_epoch: u64,
    /// Nodes with a bit flip that recovery has not met yet: until it has, the nemesis does not
    /// reshape the group (a shrink onto the damaged replica would lose a majority's data,
    /// beyond what the lab tests).
    pub(crate) latent_damage: BTreeSet<usize>,
    /// (key, operation); the key is `None` for a read that timed out (left out of checks).
    pub(crate) history: Vec<(Option<u64>, Operation<KvInput, KvOutput>)>,
    pub(crate) observer: Observer,
    pub(crate) phase: Phase,
    pub(crate) initial_membership: Membership,
    trace: Vec<String>,
    pub(crate) disk_stats: DiskStats,
    events: u64,
    converge_deadline: u64,
}

impl Sim {
    /// Builds the world for `options`; nothing has happened yet.
    pub fn new(options: SimOptions) -> Result<Sim, String> {
        options.validate()?;
        let mut rng = SimRng::new(options.seed);
        let params = Params::draw(&options, &mut rng);
        let stale_reads = options.bug == Some(Bug::StaleReads);
        let nodes = (0..options.nodes)
            .map(|i| {
                let tick = (params.tick_micros as i64 * (1000 + params.clock_skew_permille[i]) / 1000) as u64;
                let disk = storage::SimDisk::new(rng.next_u64(), DISK_CAPACITY);
                let wal_options = storage::WalOptions { segment_bytes_max: params.segment_bytes };
                SimNode::new(i as NodeId + 1, tick, params.snapshot_every, stale_reads, disk, wal_options)
            })
            .collect();
        let clients = (0..=params.clients).map(|_| SimClient::new(rng.range(0, options.nodes as u64) as usize)).collect();
        let initial_membership = Membership::with_voters(params.initial_voters.iter().copied());
        Ok(Sim {
            observer: Observer::new(options.nodes),
            options,
            params,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            rng,
            nodes,
            clients,
            blocked: BTreeSet::new(),
            partition_epoch: 0,
            latent_damage: BTreeSet::new(),
            history: Vec::new(),
            phase: Phase::Faults,
            initial_membership,
            trace: Vec::new(),
            disk_stats: DiskStats::default(),
            events: 0,
            converge_deadline: u64::MAX,
        })
    }

    pub(crate) fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { time: self.now + delay, seq: self.seq, event }));
    }

    /// The raft configuration of node `index` for its next life.
    pub(crate) fn raft_config(&mut self, index: usize) -> raft::Config {
        let mut config = raft::Config::new(self.nodes[index].id);
        config.random_seed = self.rng.next_u64();
        config.lease_reads = self.params.lease_reads;
        config.append_entries_max = self.params.append_entries_max;
        config.snapshot_chunk_bytes = self.params.snapshot_chunk_bytes;
        // Leader churn also replicates one append at a time: a new leader's catch-up of older
        // terms' entries then spans many round trips, the window Figure 8 needs.
        config.inflight_appends_max = if self.params.leader_churn { 1 } else { 8 };
        config.bugs = raft::Bugs {
            commit_old_term_by_counting: self.options.bug == Some(Bug::CommitOldTerm),
            forget_vote: self.options.bug == Some(Bug::ForgetVote),
            ack_before_persist: self.options.bug == Some(Bug::AckBeforePersist),
            skip_check_quorum: self.options.bug == Some(Bug::SkipCheckQuorum),
        };
        config
    }

    pub(crate) fn start_node(&mut self, index: usize) {
        let config = self.raft_config(index);
        // Only the bootstrap identities start with the initial membership; a node that lost its
        // data knows nothing and waits to be added.
        let membership = if self.nodes[index].generation == 0 { self.initial_membership.clone() } else { Membership::default() };
        self.nodes[index].started_before = true;
        let now = self.now;
        let mut effects = Effects::default();
        let started = self.nodes[index].start(config, membership, now, &mut effects);
        self.latent_damage.remove(&index);
        let notes = std::mem::take(&mut effects.notes);
        let damaged = notes.iter().any(|n| n.contains("is damaged"));
        let in_snapshot = notes.iter().any(|n| n.contains("in snap/"));
        if damaged && in_snapshot {
            self.disk_stats.rebuilt_after_snapshot_corruption += 1;
        } else if damaged {
            self.disk_stats.rebuilt_after_wal_corruption += 1;
        }
        self.disk_stats.torn_tails += notes.iter().filter(|n| n.contains("torn tail")).count() as u64;
        for note in notes {
            self.trace_note(note);
        }
        if let Err(error) = started {
            self.observer.violation(format!("node {} failed to restart: {error}", index + 1));
            return;
        }
        let node = &self.nodes[index];
        let (delay, incarnation) = (node.next_tick_at - now, node.incarnation);
        self.schedule(delay, Event::Tick { node: index, incarnation });
    }

    /// Runs the whole scenario and the final checks.
    pub fn run(mut self) -> RunReport {
        self.simulate();
        self.finish()
    }

    /// Runs the scenario (the event loop) without the final checks; returns the events run.
    pub fn simulate(&mut self) -> u64 {
        for index in 0..self.nodes.len() {
            self.start_node(index);
        }
        for client in 0..self.params.clients {
            let delay = self.rng.range(0, 10 * MS);
            self.schedule(delay, Event::ClientWake { client });
        }
        let gap = self.nemesis_gap();
        self.schedule(gap, Event::Nemesis);
        self.schedule(REPAIR_INTERVAL, Event::Repair);
        self.schedule(self.options.duration_ms * MS, Event::EndOfFaults);
        let deadline = self.options.duration_ms * MS + 60_000 * MS;
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.time > deadline || next.time > self.converge_deadline || self.events >= EVENTS_MAX {
                break;
            }
            self.now = next.time;
            self.events += 1;
            self.handle(next.event);
        }
        self.events
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Tick { node, incarnation } => self.on_node_event(node, incarnation, None, event_kind::TICK),
            Event::DiskDone { node, incarnation } => self.on_node_event(node, incarnation, None, event_kind::DISK),
            Event::Flush { node, incarnation } => self.on_node_event(node, incarnation, None, event_kind::FLUSH),
            Event::ToNode { node, packet } => {
                let incarnation = self.nodes[node].incarnation;
                self.on_node_event(node, incarnation, Some(packet), event_kind::PACKET);
            }
            Event::ToClient { client, reply } => self.on_reply(client, reply),
            Event::ClientWake { client } => self.on_client_wake(client),
            Event::ClientTimeout { client, request } => self.on_client_timeout(client, request),
            Event::Nemesis => self.on_nemesis(),
            Event::StrikeLeader { node, term } => self.on_strike_leader(node, term),
            Event::Restart { node } => self.on_restart(node),
            Event::DiskSpace { node } => self.on_disk_space(node),
            Event::Repair => self.on_repair(),
            Event::Heal { epoch } => self.on_heal(epoch),
            Event::EndOfFaults => self.on_end_of_faults(),
            Event::StartFinalReads => self.on_start_final_reads(),
            Event::CheckConverged => {
                if crate::check::converged(&self.nodes) {
                    self.converge_deadline = self.now;
                } else {
                    self.schedule(100 * MS, Event::CheckConverged);
                }
            }
        }
    }

    fn on_node_event(&mut self, index: usize, incarnation: u64, packet: Option<Box<Packet>>, kind: u8) {
        let node = &self.nodes[index];
        if !node.is_up() || node.incarnation != incarnation {
            return;
        }
        if node.paused_until > self.now {
            // Stopped the world: everything for this node waits until it resumes.
            let delay = node.paused_until - self.now;
            let event = match (kind, packet) {
                (event_kind::DISK, _) => Event::DiskDone { node: index, incarnation },
                (event_kind::FLUSH, _) => Event::Flush { node: index, incarnation },
                (_, Some(packet)) => Event::ToNode { node: index, packet },
                _ => Event::Tick { node: index, incarnation },
            };
            self.schedule(delay, event);
            return;
        }
        let mut effects = Effects::default();
        let now = self.now;
        let node = &mut self.nodes[index];
        node.sync_clock(now);
        // Descriptions are built only when tracing: the fuzz loop must not allocate for them.
        let trace = self.options.trace;
        let description: std::borrow::Cow<'static, str> = match (kind, packet.map(|p| *p)) {
            (event_kind::DISK, _) => {
                node.disk_done(&mut effects);
                "disk done".into()
            }
            (_, Some(Packet::Raft(message))) => {
                let text = if trace { format!("recv {} from n{}", message.body.kind(), message.from).into() } else { "".into() };
                node.handle_message(message);
                text
            }
            (_, Some(Packet::Request(request))) => {
                let text = if trace { format!("client c{} asks {:?} k{}", request.client, request.input, request.key).into() } else { "".into() };
                node.handle_request(request, &mut effects);
                text
            }
            _ if kind == event_kind::FLUSH => "admin call".into(),
            _ => "tick".into(),
        };
        node.pump(&mut effects);
        if kind == event_kind::TICK {
            let (delay, incarnation) = (node.next_tick_at.saturating_sub(now), node.incarnation);
            self.schedule(delay, Event::Tick { node: index, incarnation });
        }
        self.carry_out(index, effects);
        self.observe_node(index);
        if self.options.trace {
            self.trace_line(index, &description);
        }
    }

    fn observe_node(&mut self, index: usize) {
        let Some(replica) = self.nodes[index].replica.as_ref() else { return };
        replica.check_invariants();
        if replica.role() == Role::Leader && self.observer.on_leader(replica) && self.params.leader_churn && self.phase == Phase::Faults {
            let term = replica.term();
            let delay = self.rng.range(0, 8 * MS);
            self.schedule(delay, Event::StrikeLeader { node: index, term });
        }
    }

    fn carry_out(&mut self, index: usize, effects: Effects) {
        for note in effects.notes {
            if note.contains("disk full") {
                self.disk_stats.disk_full += 1;
            }
            self.trace_note(note);
        }
        if effects.disk_retry {
            let incarnation = self.nodes[index].incarnation;
            self.schedule(DISK_RETRY_DELAY, Event::DiskDone { node: index, incarnation });
        }
        for (log_index, term, digest) in effects.applied {
            self.observer.on_apply(self.nodes[index].id, log_index, term, digest);
        }
        for message in effects.to_nodes {
            self.send_raft(message);
        }
        for (client, reply) in effects.to_clients {
            if let Some(delay) = self.link_delay() {
                self.schedule(delay, Event::ToClient { client, reply });
            }
        }
        if effects.disk_started {
            let (low, high) = self.params.disk_latency;
            let delay = self.rng.range(low, high);
            let incarnation = self.nodes[index].incarnation;
            self.schedule(delay, Event::DiskDone { node: index, incarnation });
        }
    }

    fn send_raft(&mut self, message: raft::Message) {
        let (from, to) = (slot_of(message.from), slot_of(message.to));
        if to >= self.nodes.len() || self.blocked.contains(&(from, to)) {
            return;
        }
        if self.rng.chance(self.params.duplicate_chance) {
            if let Some(delay) = self.link_delay() {
                self.schedule(delay, Event::ToNode { node: to, packet: Box::new(Packet::Raft(message.clone())) });
            }
        }
        if let Some(delay) = self.link_delay() {
            self.schedule(delay, Event::ToNode { node: to, packet: Box::new(Packet::Raft(message)) });
        }
    }

    /// A packet's delay, or `None` if it is lost.
    pub(crate) fn link_delay(&mut self) -> Option<u64> {
        if self.rng.chance(self.params.drop_chance) {
            return None;
        }
        let mut delay = 50 + self.rng.exponential(self.params.delay_tail_mean) as u64;
        if self.rng.chance(self.params.delay_spike_chance) {
            delay += self.rng.range(10 * MS, 100 * MS);
        }
        Some(delay)
    }

    fn trace_line(&mut self, index: usize, description: &str) {
        let node = &self.nodes[index];
        let status = match node.replica.as_ref() {
            Some(r) => format!("{:?} term={} last={} commit={} applied={} voters={:?}/{:?}", r.role(), r.term(), r.last_index(), r.commit_index(), node.applied, r.membership().voters, r.membership().voters_outgoing),
            None => "down".to_owned(),
        };
        self.trace.push(format!("{:>10}us n{} {:<40} | {}", self.now, index + 1, description, status));
    }

    pub(crate) fn trace_note(&mut self, note: String) {
        if self.options.trace {
            self.trace.push(format!("{:>10}us -- {}", self.now, note));
        }
    }

    fn on_end_of_faults(&mut self) {
        self.phase = Phase::Healing;
        self.trace_note("end of faults: heal everything".to_owned());
        self.blocked.clear();
        for index in 0..self.nodes.len() {
            self.nodes[index].paused_until = 0;
            if !self.nodes[index].is_up() {
                self.start_node(index);
            }
        }
        let settle = self.params.client_timeout + 2_000 * MS;
        self.schedule(settle, Event::StartFinalReads);
    }

    fn on_start_final_reads(&mut self) {
        self.phase = Phase::FinalReads;
        self.trace_note("final reads".to_owned());
        let reader = self.params.clients;
        self.schedule(0, Event::ClientWake { client: reader });
    }

    /// Called by the final reader when it has read every key.
    pub(crate) fn on_final_reads_done(&mut self) {
        self.phase = Phase::Converging;
        self.converge_deadline = self.now + 20_000 * MS;
        self.schedule(100 * MS, Event::CheckConverged);
    }

    /// The checks that need the whole history, and the report.
    pub fn finish(mut self) -> RunReport {
        if self.events >= EVENTS_MAX {
            self.observer.violation(format!("liveness: stopped after {EVENTS_MAX} events at {}us (an event storm)", self.now));
        }
        if self.phase != Phase::Converging {
            self.observer.violation(format!("liveness: final reads did not finish after healing (phase {:?})", self.phase));
        } else {
            self.observer.check_convergence(&self.nodes);
        }
        self.observer.check_log_matching(&self.nodes);
        let acknowledged_writes = self.history.iter().filter(|(_, op)| op.output.is_some() && op.input != KvInput::Get).count();
        let indeterminate = self.history.iter().filter(|(_, op)| op.output.is_none()).count();
        crate::check::check_linearizability(&self.history, &mut self.observer);
        let leaders_elected = self.observer.leaders_elected();
        RunReport {
            seed: self.options.seed,
            violations: self.observer.violations,
            undecided: self.observer.undecided,
            events: self.events,
            simulated_micros: self.now,
            operations: self.history.len(),
            acknowledged_writes,
            indeterminate,
            leaders_elected,
            disk: self.disk_stats,
            trace: self.trace,
        }
    }

    pub(crate) fn nemesis_gap(&mut self) -> u64 {
        self.rng.exponential(self.params.nemesis_gap_mean) as u64 + 1
    }
}

mod event_kind {
    pub const TICK: u8 = 0;
    pub const DISK: u8 = 1;
    pub const PACKET: u8 = 2;
    pub const FLUSH: u8 = 3;
}
