//! The discrete-event world: an event queue in simulated microseconds, the network between
//! nodes and clients, and the loop that drives nodes, clients, the nemesis and the checkers.

use std::collections::BTreeSet;

use lincheck::kv::{KvInput, KvOutput};
use lincheck::Operation;
use raft::Role;

use crate::check::Observer;
use crate::client::SimClient;
use crate::net::{Packet, Reply};
use crate::node::{slot_of, Effects, SimNode};
use crate::options::{Bug, SimOptions};
use crate::params::{Params, MS};
use crate::repair::Repairs;
use crate::rng::SimRng;

/// Each simulated disk's size (the disk fault class fills it up on purpose).
pub const DISK_CAPACITY: u64 = 1 << 30;

/// How long a full disk waits before the node tries its write again.
pub const DISK_RETRY_DELAY: u64 = 50 * MS;

/// How often the repair loop looks for identities to replace.
pub const REPAIR_INTERVAL: u64 = 200 * MS;

/// The group whose leaders leader churn strikes. One group suffices for Figure 8's
/// situation; striking every group's leaders would keep all of them electing forever.
pub const CHURN_GROUP: usize = 0;

/// Most events one run may process: a run that would go on forever is stopped and reported.
pub const EVENTS_MAX: u64 = 20_000_000;

/// Something that happens at a simulated time.
#[derive(Debug)]
pub(crate) enum Event {
    Tick {
        node: usize,
        incarnation: u64,
    },
    /// Drain a node's Ready after an administrative call (no tick, no packet).
    Flush {
        node: usize,
        incarnation: u64,
    },
    DiskDone {
        node: usize,
        incarnation: u64,
    },
    /// Boxed: the event queue moves events around, and a packet is large.
    ToNode {
        node: usize,
        packet: Box<Packet>,
    },
    ToClient {
        client: usize,
        reply: Reply,
    },
    ClientWake {
        client: usize,
    },
    ClientTimeout {
        client: usize,
        request: u64,
    },
    Nemesis,
    /// Leader churn: strike the node that just became leader of `CHURN_GROUP` (if it still
    /// leads that term).
    StrikeLeader {
        node: usize,
        term: raft::Term,
    },
    Restart {
        node: usize,
    },
    /// The operator frees space on a full disk.
    DiskSpace {
        node: usize,
    },
    /// The repair loop: replace identities that lost their data (every 200 ms).
    Repair,
    Heal {
        epoch: u64,
    },
    EndOfFaults,
    StartFinalReads,
    /// During convergence: stop as soon as every member applied the same state.
    CheckConverged,
    /// Scenario: a request of this client stream is due.
    Arrival {
        stream: usize,
    },
    /// Scenario: check requests in flight against their timeouts; sample leaders.
    Sweep,
    /// Scenario: a step of a fault (0 starts it, `faults::END` ends it).
    Fault {
        index: usize,
        step: u32,
    },
    /// Scenario: the node's CPU is free for its next queued event.
    NodeResume {
        node: usize,
    },
    /// Scenario: nodes exchange and judge their health.
    HealthBeat,
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
    /// Nodes lost for good (the node-loss fault class).
    pub nodes_lost: usize,
    /// For each loss whose groups were all repaired: microseconds from the loss until every
    /// group it held was back to full replica count on other nodes.
    pub repair_micros: Vec<u64>,
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
    queue: crate::queue::EventQueue<Event>,
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
    /// Node losses and the repairs they need.
    pub(crate) repairs: Repairs,
    trace: Vec<String>,
    pub(crate) disk_stats: DiskStats,
    events: u64,
    converge_deadline: u64,
    /// Final readers that have read all their keys.
    final_readers_done: usize,
    /// A scenario's world (network model, CPUs, clients, measures); `None` in fuzz runs.
    pub(crate) world: Option<Box<crate::scenario::world::World>>,
    /// How long a lost node must be gone before its replicas are rebuilt elsewhere.
    pub(crate) down_after: u64,
    /// Emptied effect buffers, reused by the next node event.
    spare_effects: Effects,
}

impl Sim {
    /// Builds the world for `options`; nothing has happened yet.
    pub fn new(options: SimOptions) -> Result<Sim, String> {
        options.validate()?;
        let mut rng = SimRng::new(options.seed);
        let params = Params::draw(&options, &mut rng);
        Ok(Sim::build(options, params, rng))
    }

    /// Builds the world for `options` with `params` decided already.
    pub(crate) fn build(options: SimOptions, params: Params, mut rng: SimRng) -> Sim {
        let stale_reads = options.bug == Some(Bug::StaleReads);
        let mut nodes: Vec<SimNode> = (0..options.nodes)
            .map(|i| {
                let tick = (params.tick_micros as i64 * (1000 + params.clock_skew_permille[i])
                    / 1000) as u64;
                let disk = storage::SimDisk::new(rng.next_u64(), DISK_CAPACITY);
                let wal_options = storage::WalOptions {
                    segment_bytes_max: params.segment_bytes,
                    ..storage::WalOptions::default()
                };
                SimNode::new(
                    i,
                    tick,
                    params.snapshot_every,
                    stale_reads,
                    disk,
                    wal_options,
                )
            })
            .collect();
        crate::layout::host_initial_replicas(&mut nodes, &params.layout);
        let clients = (0..params.clients + params.final_readers)
            .map(|_| {
                let first_guess = rng.range(0, options.nodes as u64) as usize;
                SimClient::new(
                    (0..options.groups)
                        .map(|group| crate::layout::initial_target(&nodes, group, first_guess))
                        .collect(),
                )
            })
            .collect();
        Sim {
            observer: Observer::new(options.nodes, options.groups),
            repairs: Repairs::default(),
            options,
            params,
            now: 0,
            queue: crate::queue::EventQueue::default(),
            rng,
            nodes,
            clients,
            blocked: BTreeSet::new(),
            partition_epoch: 0,
            latent_damage: BTreeSet::new(),
            history: Vec::new(),
            phase: Phase::Faults,
            trace: Vec::new(),
            disk_stats: DiskStats::default(),
            events: 0,
            converge_deadline: u64::MAX,
            final_readers_done: 0,
            world: None,
            down_after: crate::repair::DOWN_AFTER,
            spare_effects: Effects::default(),
        }
    }

    /// Groups whose every replica was on nodes lost for good: their data is gone, and the
    /// final reads and convergence checks leave them out (a scenario reports the loss).
    pub(crate) fn dead_groups(&self) -> BTreeSet<usize> {
        (0..self.options.groups)
            .filter(|&group| {
                self.nodes
                    .iter()
                    .filter(|n| n.groups.contains_key(&group))
                    .all(|n| n.lost)
            })
            .collect()
    }

    pub(crate) fn schedule(&mut self, delay: u64, event: Event) {
        self.queue.push(self.now + delay, event);
    }

    /// A raft configuration for a replica's next life (the node sets its id).
    pub(crate) fn raft_config(&mut self) -> raft::Config {
        let mut config = raft::Config::new(1);
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
        // Only the bootstrap identities start with their group's initial membership; a
        // replica that lost its data knows nothing and waits to be added (`GroupReplica`).
        let configs = (0..self.nodes[index].groups.len())
            .map(|_| self.raft_config())
            .collect();
        let now = self.now;
        let mut effects = Effects::default();
        let started = self.nodes[index].start(configs, now, &mut effects);
        self.latent_damage.remove(&index);
        let notes = std::mem::take(&mut effects.notes);
        let damaged = notes.iter().filter(|n| n.contains("is damaged")).count() as u64;
        let in_snapshot = notes.iter().any(|n| n.contains("in snap/"));
        if in_snapshot {
            self.disk_stats.rebuilt_after_snapshot_corruption += damaged;
        } else {
            self.disk_stats.rebuilt_after_wal_corruption += damaged;
        }
        self.disk_stats.torn_tails +=
            notes.iter().filter(|n| n.contains("torn tail")).count() as u64;
        for note in notes {
            self.trace_note(note);
        }
        if let Err(error) = started {
            self.observer
                .violation(format!("node {} failed to restart: {error}", index + 1));
            return;
        }
        let node = &self.nodes[index];
        let (delay, incarnation) = (node.next_tick_at - now, node.incarnation);
        self.schedule(
            delay,
            Event::Tick {
                node: index,
                incarnation,
            },
        );
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
        if self.world.is_some() {
            return self.simulate_scenario();
        }
        for client in 0..self.params.clients {
            let delay = self.rng.range(0, 10 * MS);
            self.schedule(delay, Event::ClientWake { client });
        }
        let gap = self.nemesis_gap();
        self.schedule(gap, Event::Nemesis);
        self.schedule(REPAIR_INTERVAL, Event::Repair);
        self.schedule(self.options.duration_ms * MS, Event::EndOfFaults);
        self.event_loop()
    }

    /// A scenario's start: its clients, faults, sweeps and health beats instead of the nemesis.
    fn simulate_scenario(&mut self) -> u64 {
        // Servers start at different moments: their clocks tick out of phase.
        for node in &mut self.nodes {
            node.next_tick_at += self.rng.range(0, node.tick_micros);
        }
        let streams = self.world.as_ref().map_or(0, |w| w.load.streams.len());
        let start_at = self.world.as_ref().map_or(0, |w| w.load.start_at);
        for stream in 0..streams {
            self.schedule(start_at + 1, Event::Arrival { stream });
        }
        self.schedule_faults();
        self.schedule(crate::scenario::load::SWEEP_EVERY, Event::Sweep);
        self.schedule(crate::scenario::world::HEALTH_EVERY, Event::HealthBeat);
        self.schedule(REPAIR_INTERVAL, Event::Repair);
        self.schedule(self.options.duration_ms * MS, Event::EndOfFaults);
        self.event_loop()
    }

    fn event_loop(&mut self) -> u64 {
        let deadline = self.options.duration_ms * MS + 60_000 * MS;
        while let Some((time, event)) = self.queue.pop() {
            if time > deadline || time > self.converge_deadline || self.events >= EVENTS_MAX {
                break;
            }
            self.now = time;
            self.events += 1;
            self.handle(event);
        }
        self.events
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Tick { node, incarnation } => {
                self.on_node_event(node, incarnation, None, event_kind::TICK)
            }
            Event::DiskDone { node, incarnation } => {
                self.on_node_event(node, incarnation, None, event_kind::DISK)
            }
            Event::Flush { node, incarnation } => {
                self.on_node_event(node, incarnation, None, event_kind::FLUSH)
            }
            Event::ToNode { node, packet } => {
                let incarnation = self.nodes[node].incarnation;
                self.on_node_event(node, incarnation, Some(packet), event_kind::PACKET);
            }
            Event::ToClient { client, reply }
                if self.world.as_ref().is_some_and(|w| w.load.owns(client)) =>
            {
                self.on_session_reply(client, reply)
            }
            Event::ToClient { client, reply } => self.on_reply(client, reply),
            Event::Arrival { stream } => self.on_arrival(stream),
            Event::Sweep => self.on_sweep(),
            Event::Fault { index, step } => self.on_fault(index, step),
            Event::NodeResume { node } => self.on_node_resume(node),
            Event::HealthBeat => self.on_health_beat(),
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
                if crate::check::converged(&self.nodes, self.options.groups, &self.dead_groups())
                    && self.repairs.all_repaired()
                {
                    self.converge_deadline = self.now;
                } else {
                    self.schedule(100 * MS, Event::CheckConverged);
                }
            }
        }
    }

    fn on_node_event(
        &mut self,
        index: usize,
        incarnation: u64,
        packet: Option<Box<Packet>>,
        kind: u8,
    ) {
        let node = &self.nodes[index];
        if !node.is_up() || node.incarnation != incarnation {
            return;
        }
        if self.world.is_some() {
            if let Some(Packet::Health(from, health)) = packet.as_deref() {
                let (from, health) = (*from, *health);
                self.on_health_report(index, from, health);
                return;
            }
            self.enqueue_on_cpu(index, node_event(index, incarnation, kind, packet));
            return;
        }
        if node.paused_until > self.now {
            // Stopped the world: everything for this node waits until it resumes.
            let delay = node.paused_until - self.now;
            self.schedule(delay, node_event(index, incarnation, kind, packet));
            return;
        }
        self.run_node_event(index, packet, kind);
    }

    /// Carries out one event on a node that is up and free to run it.
    pub(crate) fn run_node_event(&mut self, index: usize, packet: Option<Box<Packet>>, kind: u8) {
        // The buffers of the last event's effects, emptied: no allocation per event.
        let mut effects = std::mem::take(&mut self.spare_effects);
        let now = self.now;
        let node = &mut self.nodes[index];
        node.sync_clock(now);
        // Descriptions are built only when tracing: the fuzz loop must not allocate for them.
        let trace = self.options.trace;
        let mut group = None;
        let description: std::borrow::Cow<'static, str> = match (kind, packet.map(|p| *p)) {
            (event_kind::DISK, _) => {
                node.disk_done(&mut effects);
                "disk done".into()
            }
            (_, Some(Packet::Raft(to_group, message))) => {
                let text = if trace {
                    format!("recv {} from n{}", message.body.kind(), message.from).into()
                } else {
                    "".into()
                };
                group = Some(to_group);
                node.handle_message(to_group, message);
                text
            }
            (_, Some(Packet::Request(request))) => {
                let text = if trace {
                    format!(
                        "client c{} asks {:?} k{}",
                        request.client, request.input, request.key
                    )
                    .into()
                } else {
                    "".into()
                };
                group = Some(request.group);
                node.handle_request(request, &mut effects);
                text
            }
            _ if kind == event_kind::FLUSH => "admin call".into(),
            _ => "tick".into(),
        };
        node.pump_groups(group, &mut effects);
        if kind == event_kind::TICK {
            let (delay, incarnation) = (node.next_tick_at.saturating_sub(now), node.incarnation);
            self.schedule(
                delay,
                Event::Tick {
                    node: index,
                    incarnation,
                },
            );
        }
        self.carry_out(index, effects);
        self.observe_node(index, group);
        if self.options.trace {
            self.trace_line(index, group, &description);
        }
    }

    /// Checks every replica on the node, and watches for new leaders (election safety,
    /// leader completeness, and leader churn's next target).
    fn observe_node(&mut self, index: usize, only: Option<usize>) {
        let mut strike = None;
        let groups = &self.nodes[index].groups;
        let (one, all) = match only {
            Some(group) => (groups.get_key_value(&group), None),
            None => (None, Some(groups.iter())),
        };
        for (&group, hosted) in one.into_iter().chain(all.into_iter().flatten()) {
            let Some(replica) = hosted.replica.as_ref() else {
                continue;
            };
            replica.check_invariants();
            let first_time =
                replica.role() == Role::Leader && self.observer.on_leader(group, replica);
            if first_time {
                if let Some(world) = self.world.as_mut() {
                    world.record.elections.push((self.now, group, index));
                }
            }
            if first_time
                && group == CHURN_GROUP
                && self.params.leader_churn
                && self.phase == Phase::Faults
            {
                strike = Some(replica.term());
            }
        }
        if let Some(term) = strike {
            let delay = self.rng.range(0, 8 * MS);
            self.schedule(delay, Event::StrikeLeader { node: index, term });
        }
    }

    fn carry_out(&mut self, index: usize, mut effects: Effects) {
        for note in effects.notes.drain(..) {
            if note.contains("disk full") {
                self.disk_stats.disk_full += 1;
            }
            self.trace_note(note);
        }
        if effects.disk_retry {
            let incarnation = self.nodes[index].incarnation;
            self.schedule(
                DISK_RETRY_DELAY,
                Event::DiskDone {
                    node: index,
                    incarnation,
                },
            );
        }
        for (group, log_index, term, digest) in effects.applied.drain(..) {
            let id = self.nodes[index].id_in(group).unwrap_or_default();
            self.observer.on_apply(group, id, log_index, term, digest);
        }
        for (group, message) in effects.to_nodes.drain(..) {
            self.send_raft(group, message);
        }
        for (client, reply) in effects.to_clients.drain(..) {
            if let Some(delay) = self.reply_delay(index, client) {
                self.schedule(delay, Event::ToClient { client, reply });
            }
        }
        if effects.disk_started {
            let (low, high) = self.params.disk_latency;
            let mut delay = self.rng.range(low, high);
            if let Some(world) = self.world.as_mut() {
                delay = (delay as f64 * world.disk_factor[index]) as u64;
                world.health[index].record_fsync(delay);
            }
            let incarnation = self.nodes[index].incarnation;
            self.schedule(
                delay,
                Event::DiskDone {
                    node: index,
                    incarnation,
                },
            );
        }
        effects.disk_started = false;
        effects.disk_retry = false;
        self.spare_effects = effects;
    }

    /// Sends a group's message over the link between the two nodes: partitions and link
    /// faults act on node pairs, so they hit every group at once.
    fn send_raft(&mut self, group: usize, message: raft::Message) {
        let (from, to) = (slot_of(message.from), slot_of(message.to));
        if to >= self.nodes.len() || self.blocked.contains(&(from, to)) {
            return;
        }
        if let Some(world) = self.world.as_mut() {
            let bytes = 64 + message.body.payload_size();
            if let Some(delay) = world.net.node_to_node(from, to, bytes, &mut self.rng) {
                self.schedule(
                    delay,
                    Event::ToNode {
                        node: to,
                        packet: Box::new(Packet::Raft(group, message)),
                    },
                );
            }
            return;
        }
        if self.rng.chance(self.params.duplicate_chance) {
            if let Some(delay) = self.link_delay() {
                self.schedule(
                    delay,
                    Event::ToNode {
                        node: to,
                        packet: Box::new(Packet::Raft(group, message.clone())),
                    },
                );
            }
        }
        if let Some(delay) = self.link_delay() {
            self.schedule(
                delay,
                Event::ToNode {
                    node: to,
                    packet: Box::new(Packet::Raft(group, message)),
                },
            );
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

    /// One status line per node event: the group the event concerned (with one group, always
    /// that one), or which groups the node leads.
    fn trace_line(&mut self, index: usize, group: Option<usize>, description: &str) {
        let node = &self.nodes[index];
        let group = group.or((self.options.groups == 1).then_some(0));
        let status = match (node.is_up(), group) {
            (false, _) => "down".to_owned(),
            (true, Some(group)) => match node
                .groups
                .get(&group)
                .and_then(|hosted| hosted.replica.as_ref().map(|r| (hosted, r)))
            {
                Some((hosted, r)) => format!(
                    "g{group} {:?} term={} last={} commit={} applied={} voters={:?}/{:?}",
                    r.role(),
                    r.term(),
                    r.last_index(),
                    r.commit_index(),
                    hosted.applied,
                    r.membership().voters,
                    r.membership().voters_outgoing
                ),
                None => format!("g{group} not hosted"),
            },
            (true, None) => {
                let leads: Vec<usize> = node
                    .groups
                    .iter()
                    .filter(|(_, h)| h.replica.as_ref().is_some_and(|r| r.role() == Role::Leader))
                    .map(|(&g, _)| g)
                    .collect();
                format!("{} groups, leads {leads:?}", node.groups.len())
            }
        };
        self.trace.push(format!(
            "{:>10}us n{} {:<40} | {}",
            self.now,
            index + 1,
            description,
            status
        ));
    }

    pub(crate) fn trace_note(&mut self, note: String) {
        if self.options.trace {
            self.trace.push(format!("{:>10}us -- {}", self.now, note));
        }
    }

    fn on_end_of_faults(&mut self) {
        if self.world.is_some() {
            self.end_all_faults();
            if let Some(world) = self.world.as_mut() {
                world.load.stopped = true;
            }
        }
        self.phase = Phase::Healing;
        self.trace_note("end of faults: heal everything".to_owned());
        self.blocked.clear();
        for index in 0..self.nodes.len() {
            self.nodes[index].paused_until = 0;
            if !self.nodes[index].is_up() && !self.nodes[index].lost {
                self.start_node(index);
            }
        }
        let settle = self.params.client_timeout + 2_000 * MS;
        self.schedule(settle, Event::StartFinalReads);
    }

    fn on_start_final_reads(&mut self) {
        self.phase = Phase::FinalReads;
        self.trace_note("final reads".to_owned());
        for reader in self.params.clients..self.params.clients + self.params.final_readers {
            self.schedule(0, Event::ClientWake { client: reader });
        }
    }

    /// Called by each final reader when it has read its keys; the last one ends the phase.
    pub(crate) fn on_final_reads_done(&mut self) {
        self.final_readers_done += 1;
        if self.final_readers_done < self.params.final_readers {
            return;
        }
        self.phase = Phase::Converging;
        self.converge_deadline = self.now + 20_000 * MS;
        self.schedule(100 * MS, Event::CheckConverged);
    }

    /// The checks that need the whole history, and the report.
    pub fn finish(mut self) -> RunReport {
        if self.events >= EVENTS_MAX {
            self.observer.violation(format!(
                "liveness: stopped after {EVENTS_MAX} events at {}us (an event storm)",
                self.now
            ));
        }
        if self.phase != Phase::Converging {
            self.observer.violation(format!(
                "liveness: final reads did not finish after healing (phase {:?})",
                self.phase
            ));
        } else {
            let dead = self.dead_groups();
            self.observer
                .check_convergence(&self.nodes, self.options.groups, &dead);
        }
        self.observer
            .check_log_matching(&self.nodes, self.options.groups);
        self.check_repairs_completed();
        let acknowledged_writes = self
            .history
            .iter()
            .filter(|(_, op)| op.output.is_some() && op.input != KvInput::Get)
            .count();
        let indeterminate = self
            .history
            .iter()
            .filter(|(_, op)| op.output.is_none())
            .count();
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
            nodes_lost: self.repairs.nodes_lost(),
            repair_micros: self.repairs.durations.clone(),
            trace: self.trace,
        }
    }

    pub(crate) fn nemesis_gap(&mut self) -> u64 {
        self.rng.exponential(self.params.nemesis_gap_mean) as u64 + 1
    }
}

/// The event that delivers `kind` (and `packet`) to node `index` again later.
fn node_event(index: usize, incarnation: u64, kind: u8, packet: Option<Box<Packet>>) -> Event {
    match (kind, packet) {
        (event_kind::DISK, _) => Event::DiskDone {
            node: index,
            incarnation,
        },
        (event_kind::FLUSH, _) => Event::Flush {
            node: index,
            incarnation,
        },
        (_, Some(packet)) => Event::ToNode {
            node: index,
            packet,
        },
        _ => Event::Tick {
            node: index,
            incarnation,
        },
    }
}

pub(crate) mod event_kind {
    pub const TICK: u8 = 0;
    pub const DISK: u8 = 1;
    pub const PACKET: u8 = 2;
    pub const FLUSH: u8 = 3;
}
