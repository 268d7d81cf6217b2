//! Choosing nodes: the initial placement of groups and the replacement of one replica.

use std::collections::BTreeMap;
use std::fmt;

use crate::limits::{GROUPS_MAX, REPLICATION_MAX};
use crate::spread::{shortfalls, Shortfall};
use crate::topology::{Level, Topology};
use crate::{leaders, rebalance};
use crate::{tie_break, GroupId, NodeId};

/// The initial placement of groups `1..=groups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// `replicas[g - 1]` lists group `g`'s nodes.
    /// - The first is its preferred leader.
    /// - No node appears twice in one list.
    pub replicas: Vec<Vec<NodeId>>,
    /// The guarantees this topology cannot give; placement went ahead regardless.
    pub shortfalls: Vec<Shortfall>,
}

/// Why no placement was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// Fewer `Up` nodes than replicas per group: some group would have to put two replicas
    /// on one node, which buys nothing.
    NotEnoughNodes {
        /// Replicas per group.
        needed: usize,
        /// `Up` nodes available.
        up: usize,
    },
    /// A replication factor other than 1, 3 or 5.
    BadReplication(usize),
    /// More groups than [`GROUPS_MAX`].
    TooManyGroups {
        /// Groups asked for.
        groups: u64,
        /// The limit.
        max: u64,
    },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::NotEnoughNodes { needed, up } => write!(
                formatter,
                "not enough up nodes: {needed} replicas per group need {needed} up nodes but {up} are up; \
                 start more nodes or lower the replication"
            ),
            PlacementError::BadReplication(replication) => write!(
                formatter,
                "replication {replication} is not supported: use 3 (survives one failure) or 5 (survives two); \
                 1 is for tests only"
            ),
            PlacementError::TooManyGroups { groups, max } => {
                write!(formatter, "{groups} groups is more than the {max} placement supports; use fewer, larger groups")
            }
        }
    }
}

impl std::error::Error for PlacementError {}

/// Places groups `1..=groups` with `replication` replicas each on `topology`'s `Up` nodes.
///
/// Each group takes its replicas one at a time, each time the node that best avoids the
/// domains the group already uses (see [`replacement`]), so a group spreads over datacenters
/// first, then pods, racks and hosts. Greedy choices can leave two nodes two replicas apart,
/// so moves that crowd no group then even the counts (as [`crate::rebalance`] would). Then every group's first node is its preferred leader,
/// balanced across nodes and inside `preferred_dc` for every group with a replica there.
///
/// # Errors
/// [`PlacementError::BadReplication`] unless `replication` is 1, 3 or 5;
/// [`PlacementError::TooManyGroups`] above [`GROUPS_MAX`]; [`PlacementError::NotEnoughNodes`]
/// with fewer `Up` nodes than `replication`. A topology that only limits the spread is not an
/// error: [`Plan::shortfalls`] says what is missing.
pub fn initial(
    topology: &Topology,
    groups: u64,
    replication: usize,
    preferred_dc: Option<&str>,
) -> Result<Plan, PlacementError> {
    // Odd only: an even count adds a replica without adding a failure it survives.
    if replication > REPLICATION_MAX || !matches!(replication, 1 | 3 | 5) {
        return Err(PlacementError::BadReplication(replication));
    }
    if groups > GROUPS_MAX {
        return Err(PlacementError::TooManyGroups {
            groups,
            max: GROUPS_MAX,
        });
    }
    let up = topology.up_nodes().count();
    if up < replication {
        return Err(PlacementError::NotEnoughNodes {
            needed: replication,
            up,
        });
    }
    let mut load: BTreeMap<NodeId, usize> = topology.up_nodes().map(|id| (id, 0)).collect();
    let mut placed: BTreeMap<GroupId, Vec<NodeId>> = BTreeMap::new();
    for group in 1..=groups {
        placed.insert(group, place_group(topology, group, replication, &mut load));
    }
    rebalance::even_out(topology, &mut placed);
    leaders::choose(topology, &mut placed, preferred_dc);
    let shortfalls = shortfalls(topology, &placed);
    Ok(Plan {
        replicas: placed.into_values().collect(),
        shortfalls,
    })
}

/// Picks `replication` nodes for `group`, adding them to `load`.
fn place_group(
    topology: &Topology,
    group: GroupId,
    replication: usize,
    load: &mut BTreeMap<NodeId, usize>,
) -> Vec<NodeId> {
    let mut chosen = Vec::with_capacity(replication);
    for _ in 0..replication {
        let node = best_target(topology, group, &chosen, load, |_| true)
            .expect("initial checked there are enough up nodes");
        *load.entry(node).or_insert(0) += 1;
        chosen.push(node);
    }
    chosen
}

/// The best node for a new replica of `group`, whose replicas are `current` (a leaving or
/// dead replica already removed by the caller), given each node's replica count in `load`
/// (absent means 0). Only `Up` nodes outside `current` qualify; `None` if there is none.
///
/// The best node minimises, in order: how many of `current` share its datacenter, its pod, its
/// rack, its host; its load; a hash of (group, node). So a dead node's replacement comes from
/// the same rack when that rack has a free `Up` node (the spread stays as it was), and the
/// least loaded such node wins.
pub fn replacement(
    topology: &Topology,
    group: GroupId,
    current: &[NodeId],
    load: &BTreeMap<NodeId, usize>,
) -> Option<NodeId> {
    best_target(topology, group, current, load, |_| true)
}

/// [`replacement`] restricted to the nodes `accept` allows.
pub(crate) fn best_target(
    topology: &Topology,
    group: GroupId,
    current: &[NodeId],
    load: &BTreeMap<NodeId, usize>,
    accept: impl Fn(NodeId) -> bool,
) -> Option<NodeId> {
    topology
        .up_nodes()
        .filter(|id| !current.contains(id) && accept(*id))
        .min_by_key(|&id| score(topology, group, current, load, id))
}

/// How bad `candidate` is as a new replica of `group`: smaller is better.
fn score(
    topology: &Topology,
    group: GroupId,
    current: &[NodeId],
    load: &BTreeMap<NodeId, usize>,
    candidate: NodeId,
) -> ([usize; 4], usize, u64) {
    let mut shared = [0; 4];
    for (slot, level) in
        shared
            .iter_mut()
            .zip([Level::Datacenter, Level::Pod, Level::Rack, Level::Host])
    {
        let domain = topology.domain(candidate, level);
        *slot = current
            .iter()
            .filter(|&&member| topology.domain(member, level) == domain)
            .count();
    }
    (
        shared,
        load.get(&candidate).copied().unwrap_or(0),
        tie_break(group, candidate),
    )
}
