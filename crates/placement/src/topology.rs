//! The cluster as placement sees it: nodes, the failure domains they sit in, and their state.

use std::collections::BTreeMap;
use std::fmt;

use crate::NodeId;

/// Where a node sits in the failure-domain tree, outermost first.
///
/// Names are local to their parent: rack `r1` in `dc1` and rack `r1` in `dc2` are different
/// racks, because operators reuse rack names across sites. Placement therefore compares a
/// node's whole path down to a level, never a label on its own.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels {
    /// The datacenter: a site that can lose power or connectivity as a whole.
    pub dc: String,
    /// The pod: racks under one cluster switch.
    pub pod: String,
    /// The rack: nodes under one top-of-rack switch and power feed.
    pub rack: String,
    /// The physical host: several nodes (processes or VMs) may share one.
    pub host: String,
}

impl Labels {
    /// Labels from their four parts, outermost first.
    pub fn new(dc: &str, pod: &str, rack: &str, host: &str) -> Labels {
        Labels {
            dc: dc.to_owned(),
            pod: pod.to_owned(),
            rack: rack.to_owned(),
            host: host.to_owned(),
        }
    }

    /// The path from the datacenter down to `level`, inclusive. Two nodes share a domain at
    /// `level` exactly when these paths are equal. `Node` is the host path: the node id is
    /// added by the caller, since labels do not know it.
    fn path(&self, level: Level) -> Vec<&str> {
        let parts = [
            self.dc.as_str(),
            self.pod.as_str(),
            self.rack.as_str(),
            self.host.as_str(),
        ];
        parts[..=level.index().min(LABELLED_LEVELS - 1)].to_vec()
    }
}

/// `dc:pod:rack:host`, the form operators write them in.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}:{}", self.dc, self.pod, self.rack, self.host)
    }
}

/// What a node can be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Serving, and may receive new replicas.
    Up,
    /// Not responding. Its replicas still count where they are; repairing them is the
    /// caller's decision (see [`crate::replacement`]), made after its own dead-node timeout.
    Down,
    /// Serving, but the operator wants it emptied: it receives nothing new, and
    /// [`crate::rebalance`] moves its replicas away.
    Draining,
}

/// One node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its id.
    pub id: NodeId,
    /// Where it sits.
    pub labels: Labels,
    /// Whether it can take replicas.
    pub state: NodeState,
}

impl NodeInfo {
    /// A node in state `Up`.
    pub fn up(id: NodeId, labels: Labels) -> NodeInfo {
        NodeInfo {
            id,
            labels,
            state: NodeState::Up,
        }
    }
}

/// A level of the failure-domain tree, outermost first, so `Datacenter < Node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// A datacenter.
    Datacenter,
    /// A pod within a datacenter.
    Pod,
    /// A rack within a pod.
    Rack,
    /// A physical host within a rack.
    Host,
    /// A single node (process).
    Node,
}

impl Level {
    /// All levels, outermost first.
    pub const ALL: [Level; 5] = [
        Level::Datacenter,
        Level::Pod,
        Level::Rack,
        Level::Host,
        Level::Node,
    ];

    /// The plural, for messages: "racks".
    pub fn plural(self) -> &'static str {
        match self {
            Level::Datacenter => "datacenters",
            Level::Pod => "pods",
            Level::Rack => "racks",
            Level::Host => "hosts",
            Level::Node => "nodes",
        }
    }

    /// The level just above, or `None` for `Datacenter`.
    pub fn parent(self) -> Option<Level> {
        match self {
            Level::Datacenter => None,
            Level::Pod => Some(Level::Datacenter),
            Level::Rack => Some(Level::Pod),
            Level::Host => Some(Level::Rack),
            Level::Node => Some(Level::Host),
        }
    }

    /// Position in [`Level::ALL`], used to index per-level arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Level {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Level::Datacenter => "datacenter",
            Level::Pod => "pod",
            Level::Rack => "rack",
            Level::Host => "host",
            Level::Node => "node",
        };
        formatter.write_str(name)
    }
}

/// Labelled domains above `Node`: `Datacenter`, `Pod`, `Rack`, `Host`.
const LABELLED_LEVELS: usize = 4;

/// A node plus the interned keys of its domains, so the hot loops compare integers instead of
/// string paths.
#[derive(Clone, Debug)]
struct Entry {
    info: NodeInfo,
    /// - `domains[level]` is equal for two nodes exactly when their label paths down to
    ///   `level` are equal.
    domains: [u64; LABELLED_LEVELS],
}

/// The cluster's nodes, by id.
///
/// Labels are fixed once a node is in (re-insert it to change them); only the state changes,
/// through [`Topology::set_state`]. That keeps the interned domain keys valid.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    entries: BTreeMap<NodeId, Entry>,
}

impl Topology {
    /// A topology of `nodes`.
    ///
    /// # Panics
    /// If two nodes have the same id: that is a bug in the caller, and silently keeping one of
    /// them would place replicas on a node that is not where the operator thinks.
    pub fn new(nodes: impl IntoIterator<Item = NodeInfo>) -> Topology {
        let mut entries = BTreeMap::new();
        for info in nodes {
            let id = info.id;
            let previous = entries.insert(
                id,
                Entry {
                    info,
                    domains: [0; LABELLED_LEVELS],
                },
            );
            assert!(previous.is_none(), "duplicate node id in topology: id={id}");
        }
        let mut topology = Topology { entries };
        topology.intern();
        topology
    }

    /// The node `id`, if it is in the topology.
    pub fn node(&self, id: NodeId) -> Option<&NodeInfo> {
        self.entries.get(&id).map(|entry| &entry.info)
    }

    /// Sets node `id`'s state. Unknown ids are ignored: the topology, not its callers, says
    /// which nodes exist, and a late state report for a removed node must not resurrect it.
    pub fn set_state(&mut self, id: NodeId, state: NodeState) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.info.state = state;
        }
    }

    /// Adds `node`, or replaces the node with its id (labels included).
    pub fn insert(&mut self, node: NodeInfo) {
        self.entries.insert(
            node.id,
            Entry {
                info: node,
                domains: [0; LABELLED_LEVELS],
            },
        );
        self.intern();
    }

    /// Removes node `id`, returning it.
    pub fn remove(&mut self, id: NodeId) -> Option<NodeInfo> {
        let removed = self.entries.remove(&id).map(|entry| entry.info);
        self.intern();
        removed
    }

    /// All nodes, by ascending id.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.entries.values().map(|entry| &entry.info)
    }

    /// The ids of the nodes in state `Up`, ascending.
    pub fn up_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes()
            .filter(|node| node.state == NodeState::Up)
            .map(|node| node.id)
    }

    /// Whether `id` is in the topology and `Up`.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.node(id)
            .is_some_and(|node| node.state == NodeState::Up)
    }

    /// The key of `id`'s domain at `level`: equal keys, same domain. `None` above `Node` for a
    /// node that is not in the topology, whose location is unknown.
    pub(crate) fn domain(&self, id: NodeId, level: Level) -> Option<u64> {
        match level {
            Level::Node => Some(id),
            _ => self
                .entries
                .get(&id)
                .map(|entry| entry.domains[level.index()]),
        }
    }

    /// `id`'s domain at `level` named for an operator, without the level: "r1 (dc1/p1)".
    pub(crate) fn domain_name(&self, id: NodeId, level: Level) -> String {
        if level == Level::Node {
            return id.to_string();
        }
        let Some(node) = self.node(id) else {
            return format!("unknown (node {id} is not in the topology)");
        };
        let mut path = node.labels.path(level);
        let name = path.pop().unwrap_or_default();
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{name} ({})", path.join("/"))
        }
    }

    /// `id`'s domain at `level` with the level: "rack r1 (dc1/p1)".
    pub(crate) fn describe(&self, id: NodeId, level: Level) -> String {
        format!("{level} {}", self.domain_name(id, level))
    }

    /// The domains at `level` that hold `Up` nodes: key, one member (to name it) and how many
    /// `Up` nodes it holds.
    pub(crate) fn up_domains(&self, level: Level) -> BTreeMap<u64, (NodeId, usize)> {
        let mut domains: BTreeMap<u64, (NodeId, usize)> = BTreeMap::new();
        for id in self.up_nodes() {
            let key = self
                .domain(id, level)
                .expect("up nodes are in the topology");
            domains.entry(key).or_insert((id, 0)).1 += 1;
        }
        domains
    }

    /// Recomputes every node's domain keys, numbering distinct label paths per level.
    fn intern(&mut self) {
        for level in &Level::ALL[..LABELLED_LEVELS] {
            let mut keys: BTreeMap<Vec<String>, u64> = BTreeMap::new();
            for entry in self.entries.values_mut() {
                let path: Vec<String> = entry
                    .info
                    .labels
                    .path(*level)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                let next = keys.len() as u64;
                entry.domains[level.index()] = *keys.entry(path).or_insert(next);
            }
        }
    }
}
