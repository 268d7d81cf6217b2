//! The scenario's world around the simulated nodes: the hierarchical network, each node's CPU
//! (a queue served one event at a time, at a cost per event), disk speed and health monitor,
//! the clients, and what the run records for its measures.

use std::collections::VecDeque;

use placement::health::{Health, Monitor};

use crate::net::Packet;
use crate::params::MS;
use crate::scenario::load::Load;
use crate::scenario::measure::Recorder;
use crate::scenario::network::Network;
use crate::scenario::spec::Scenario;
use crate::sim::Event;
use crate::topology::Topology;

/// Client requests waiting for a node's CPU, at most; beyond, new ones are refused at once.
pub const CLIENT_QUEUE_MAX: usize = 10_000;

/// A client request that would wait longer than this for the CPU is refused at once
/// (admission control: a fast error beats a late answer, and keeps the queue short).
pub const SHED_AFTER: u64 = 500 * MS;

/// How often nodes tell their peers their health.
pub const HEALTH_EVERY: u64 = 500 * MS;

/// CPU microseconds per event at nominal speed. A write's path costs its leader about 40 µs
/// and each follower about 15 µs, a lease read about 12 µs: in line with the real server's
/// measured 20-26k writes/s with three replicas sharing two cores (README, multi-raft table).
pub mod cost {
    pub const EVENT: u64 = 4;
    pub const REQUEST: u64 = 8;
    pub const RAFT_MESSAGE: u64 = 4;
    /// Per KiB of entries or snapshot carried.
    pub const PER_KIB: u64 = 1;
    pub const DISK_DONE: u64 = 6;
    pub const TICK: u64 = 1;
    pub const TICK_PER_GROUP: u64 = 1;
}

/// An event waiting for the CPU.
#[derive(Debug)]
pub(crate) struct Queued {
    pub arrived: u64,
    pub event: Event,
}

/// One node's processor: busy until `busy_until`; events that arrive meanwhile wait, Raft
/// traffic and timers ahead of client requests (so an overloaded node keeps its heartbeats).
#[derive(Debug)]
pub struct Cpu {
    /// How many times slower than nominal (thermal throttling).
    pub factor: f64,
    pub busy_until: u64,
    /// A `NodeResume` event is scheduled.
    pub resume_pending: bool,
    pub(crate) internal: VecDeque<Queued>,
    pub(crate) clients: VecDeque<Queued>,
    /// Client requests refused for lack of CPU.
    pub shed: u64,
}

impl Cpu {
    fn new() -> Cpu {
        Cpu {
            factor: 1.0,
            busy_until: 0,
            resume_pending: false,
            internal: VecDeque::new(),
            clients: VecDeque::new(),
            shed: 0,
        }
    }

    pub fn queued(&self) -> usize {
        self.internal.len() + self.clients.len()
    }

    /// The process died: whatever waited is gone.
    pub fn reset(&mut self) {
        self.internal.clear();
        self.clients.clear();
        self.busy_until = 0;
    }

    /// The CPU time `event` costs at this node's speed.
    pub(crate) fn cost(&self, event: &Event, groups: usize) -> u64 {
        let nominal = match event {
            Event::Tick { .. } => cost::TICK + cost::TICK_PER_GROUP * groups as u64,
            Event::DiskDone { .. } => cost::DISK_DONE,
            Event::ToNode { packet, .. } => match packet.as_ref() {
                Packet::Raft(_, message) => {
                    cost::RAFT_MESSAGE + message.body.payload_size() / 1024 * cost::PER_KIB
                }
                Packet::Request(_) => cost::REQUEST,
                _ => 0,
            },
            _ => 0,
        };
        ((cost::EVENT + nominal) as f64 * self.factor) as u64
    }
}

/// Per node: what it knows of its peers' health.
#[derive(Debug, Clone, Default)]
pub struct PeerHealth {
    /// `(health, when heard)` per peer slot.
    pub heard: Vec<Option<(Health, u64)>>,
    /// When the reports of each peer arrived over the last `HEARD_WINDOW` (report loss).
    pub received: Vec<VecDeque<u64>>,
}

/// The window over which a node counts the peers' reports it missed (as the server does).
pub const HEARD_WINDOW: u64 = 3_000 * MS;

/// Everything a scenario adds to the simulation.
pub struct World {
    pub scenario: Scenario,
    pub topology: Topology,
    pub net: Network,
    /// Each node's datacenter (index into `net.datacenters`).
    pub node_dc: Vec<usize>,
    pub cpu: Vec<Cpu>,
    /// How many times slower than nominal each node's disk is.
    pub disk_factor: Vec<f64>,
    pub health: Vec<Monitor>,
    pub peer_health: Vec<PeerHealth>,
    /// Leadership transfers the gray-failure handling started.
    pub sick_handoffs: u64,
    pub load: Load,
    pub record: Recorder,
    /// Per fault: the nodes and elements it acted on (to undo it), once started.
    pub fault_targets: Vec<FaultTargets>,
    /// Nodes an operator decommissioned (drained, then stopped).
    pub removed: Vec<usize>,
}

/// What a fault acted on.
#[derive(Debug, Clone, Default)]
pub struct FaultTargets {
    pub nodes: Vec<usize>,
    pub elements: Vec<usize>,
    /// Directed pairs cut.
    pub cuts: Vec<(usize, usize)>,
    /// A stream added (overload).
    pub stream: Option<usize>,
    pub started: bool,
    pub ended: bool,
}

impl World {
    pub fn new(scenario: Scenario, topology: Topology, load: Load) -> World {
        let net = Network::new(&topology);
        let nodes = topology.node_count();
        let node_dc = (1..=nodes as u64)
            .map(|id| {
                let dc = &topology.labels(id).expect("ids are 1..=N").dc;
                net.datacenters
                    .iter()
                    .position(|d| d == dc)
                    .expect("every node's datacenter is listed")
            })
            .collect();
        let faults = scenario.faults.len();
        World {
            scenario,
            net,
            node_dc,
            cpu: (0..nodes).map(|_| Cpu::new()).collect(),
            disk_factor: vec![1.0; nodes],
            health: vec![Monitor::default(); nodes],
            peer_health: vec![
                PeerHealth {
                    heard: vec![None; nodes],
                    received: vec![VecDeque::new(); nodes]
                };
                nodes
            ],
            sick_handoffs: 0,
            load,
            record: Recorder::default(),
            fault_targets: vec![FaultTargets::default(); faults],
            removed: Vec::new(),
            topology,
        }
    }

    /// Microseconds per tick of a clock running at the nominal rate.
    pub fn tick_nominal(&self) -> u64 {
        self.scenario.cluster.tick_ms * MS
    }

    /// The fresh health reports `node` holds of its peers.
    pub fn fresh_peer_health(&self, node: usize, now: u64) -> Vec<Health> {
        self.peer_health[node]
            .heard
            .iter()
            .enumerate()
            .filter(|&(peer, _)| peer != node)
            .filter_map(|(_, heard)| {
                heard.filter(|&(_, at)| now.saturating_sub(at) < placement::health::FRESH_FOR_US)
            })
            .map(|(health, _)| health)
            .collect()
    }
}
