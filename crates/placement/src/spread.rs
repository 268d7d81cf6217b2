//! How well replica sets are spread, and the guarantees a topology or a placement cannot give.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::topology::{Level, Topology};
use crate::{GroupId, NodeId};

/// How well one group's replicas are spread over the failure domains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spread {
    /// The highest level at which every replica is in a different domain; `None` for an empty
    /// set or one that names a node twice.
    pub distinct_at: Option<Level>,
    /// The levels at which losing any one domain still leaves a majority of the replicas,
    /// outermost first.
    pub majority_survives_loss_of: Vec<Level>,
    /// The guarantees missing, for an operator; `None` when a majority survives the loss of
    /// any one domain at every level.
    pub shortfall: Option<String>,
}

/// How `replicas` are spread over `topology`'s failure domains.
///
/// This looks at the layout only, not at node states: a replica on a `Down` node still sits
/// in its rack. Nodes missing from the topology are assumed to share one domain at every
/// level above `Node`, the conservative guess.
pub fn spread(topology: &Topology, replicas: &[NodeId]) -> Spread {
    let crowding = Crowding::of(topology, replicas);
    let majority = replicas.len() / 2 + 1;
    let distinct_at = if replicas.is_empty() {
        None
    } else {
        Level::ALL
            .into_iter()
            .find(|level| crowding.at(*level) <= 1)
    };
    let majority_survives_loss_of: Vec<Level> = Level::ALL
        .into_iter()
        .filter(|level| !replicas.is_empty() && replicas.len() - crowding.at(*level) >= majority)
        .collect();
    let clauses = losing_clauses(topology, replicas, &majority_survives_loss_of);
    let shortfall = match clauses.as_slice() {
        [] => None,
        [(level, clause)] => Some(format!("{clause}: losing that {level} loses the majority")),
        _ => {
            let clauses: Vec<&str> = clauses.iter().map(|(_, clause)| clause.as_str()).collect();
            Some(format!(
                "{}: losing any one of these loses the majority",
                clauses.join("; ")
            ))
        }
    };
    Spread {
        distinct_at,
        majority_survives_loss_of,
        shortfall,
    }
}

/// One clause per level whose loss can take the majority ("2 of 3 replicas in rack r1
/// (dc1/p1)"), skipping a level whose most crowded domain holds the same replicas as the
/// level above: a single-pod datacenter need not be reported twice.
fn losing_clauses(
    topology: &Topology,
    replicas: &[NodeId],
    surviving: &[Level],
) -> Vec<(Level, String)> {
    let mut clauses = Vec::new();
    let mut previous: Option<Vec<NodeId>> = None;
    for level in Level::ALL {
        if replicas.is_empty() || surviving.contains(&level) {
            continue;
        }
        let members = most_crowded(topology, replicas, level);
        if previous.as_ref() == Some(&members) {
            continue;
        }
        let place = if level == Level::Node { "on" } else { "in" };
        let domain = topology.describe(members[0], level);
        clauses.push((
            level,
            format!(
                "{} of {} replicas {place} {domain}",
                members.len(),
                replicas.len()
            ),
        ));
        previous = Some(members);
    }
    clauses
}

/// The replicas in the domain at `level` holding the most of them; the lowest key wins ties.
fn most_crowded(topology: &Topology, replicas: &[NodeId], level: Level) -> Vec<NodeId> {
    let occupancy = occupancy(topology, replicas, level);
    let mut best: Vec<NodeId> = Vec::new();
    for members in occupancy.into_values() {
        if members.len() > best.len() {
            best = members;
        }
    }
    best
}

/// `replicas` grouped by their domain at `level`; unknown nodes share the `None` domain.
fn occupancy(
    topology: &Topology,
    replicas: &[NodeId],
    level: Level,
) -> BTreeMap<Option<u64>, Vec<NodeId>> {
    let mut domains: BTreeMap<Option<u64>, Vec<NodeId>> = BTreeMap::new();
    for &id in replicas {
        domains
            .entry(topology.domain(id, level))
            .or_default()
            .push(id);
    }
    domains
}

/// For each level, the most replicas of one set in a single domain.
///
/// Both measures [`Spread`] reports are functions of it (distinct at a level means 1,
/// a majority survives means at most `(n - 1) / 2`), so a change that raises no entry cannot
/// make a spread worse. Moves are checked against it for that reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Crowding([usize; 5]);

impl Crowding {
    /// Counts pairwise rather than building maps: replica sets are tiny, and rebalancing
    /// evaluates this for every candidate move.
    pub(crate) fn of(topology: &Topology, replicas: &[NodeId]) -> Crowding {
        let mut most = [0; 5];
        for level in Level::ALL {
            let domains: Vec<Option<u64>> = replicas
                .iter()
                .map(|&id| topology.domain(id, level))
                .collect();
            most[level.index()] = domains
                .iter()
                .map(|domain| domains.iter().filter(|other| *other == domain).count())
                .max()
                .unwrap_or(0);
        }
        Crowding(most)
    }

    pub(crate) fn at(self, level: Level) -> usize {
        self.0[level.index()]
    }

    /// No level is more crowded than in `other`.
    pub(crate) fn no_worse_than(self, other: Crowding) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .all(|(mine, theirs)| mine <= theirs)
    }

    /// No level is more crowded than in `other`, and at least one is less.
    pub(crate) fn better_than(self, other: Crowding) -> bool {
        self.no_worse_than(other) && self != other
    }

    /// The outermost level more crowded than in `other`.
    pub(crate) fn first_worse_level(self, other: Crowding) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|level| self.at(*level) > other.at(*level))
    }
}

/// A guarantee placement cannot give, why, and what would fix it, in an operator's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// The group concerned, or `None` when the topology itself is the cause for every group.
    pub group: Option<GroupId>,
    /// The level of failure domain the guarantee is about.
    pub level: Level,
    /// The explanation.
    pub reason: String,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            Some(group) => write!(formatter, "group {group}: {}", self.reason),
            None => formatter.write_str(&self.reason),
        }
    }
}

/// Every guarantee the placement `current` (group -> replicas) does not give on `topology`,
/// for `ctl status`.
///
/// Causes shared by all groups (one datacenter, too few racks, uneven racks) are reported
/// once with `group: None`; a group is named only for a gap the topology does not explain,
/// which [`crate::rebalance`] may be able to close.
pub fn shortfalls(topology: &Topology, current: &BTreeMap<GroupId, Vec<NodeId>>) -> Vec<Shortfall> {
    let replications: BTreeSet<usize> = current.values().map(Vec::len).collect();
    let mut found: Vec<Shortfall> = replications
        .iter()
        .flat_map(|&replication| topology_shortfalls(topology, replication))
        .collect();
    for (&group, replicas) in current {
        found.extend(group_shortfall(topology, group, replicas));
    }
    found.extend(load_shortfall(topology, current));
    found
}

/// A group's own shortfall: the outermost level at which losing a domain can take its
/// majority although the topology has room to avoid it.
fn group_shortfall(topology: &Topology, group: GroupId, replicas: &[NodeId]) -> Option<Shortfall> {
    let spread = spread(topology, replicas);
    let level = Level::ALL.into_iter().find(|level| {
        !spread.majority_survives_loss_of.contains(level)
            && !topology_cannot_spread(topology, replicas.len(), *level)
    })?;
    let reason = format!("{}; run rebalance to spread it", spread.shortfall?);
    Some(Shortfall {
        group: Some(group),
        level,
        reason,
    })
}

/// Whether no placement of `replication` replicas on `topology`'s `Up` nodes keeps a majority
/// through the loss of any one domain at `level`.
fn topology_cannot_spread(topology: &Topology, replication: usize, level: Level) -> bool {
    let per_domain_max = replication.saturating_sub(1) / 2;
    let capacity: usize = topology
        .up_domains(level)
        .values()
        .map(|&(_, size)| size.min(per_domain_max))
        .sum();
    replication > 0 && capacity < replication
}

/// The guarantees no placement of `replication` replicas can give on `topology`'s `Up` nodes.
pub(crate) fn topology_shortfalls(topology: &Topology, replication: usize) -> Vec<Shortfall> {
    // The most replicas one domain may hold while its loss leaves a majority.
    let per_domain_max = replication.saturating_sub(1) / 2;
    if replication == 0 {
        return Vec::new();
    }
    if per_domain_max == 0 {
        let reason = format!(
            "with {replication} replica(s) a group loses its majority when any one node fails; use 3 or 5 replicas outside tests"
        );
        return vec![Shortfall {
            group: None,
            level: Level::Node,
            reason,
        }];
    }
    let mut found = Vec::new();
    for level in Level::ALL {
        // A level that splits nothing its parent did not (one pod per datacenter) adds no news.
        let domains = topology.up_domains(level);
        let same_as_parent = level
            .parent()
            .is_some_and(|parent| topology.up_domains(parent).len() == domains.len());
        if same_as_parent || !topology_cannot_spread(topology, replication, level) {
            continue;
        }
        let reason =
            domain_shortfall_reason(topology, level, &domains, replication, per_domain_max);
        found.push(Shortfall {
            group: None,
            level,
            reason,
        });
    }
    found
}

/// Why `domains` cannot hold `replication` replicas with at most `per_domain_max` in each.
fn domain_shortfall_reason(
    topology: &Topology,
    level: Level,
    domains: &BTreeMap<u64, (NodeId, usize)>,
    replication: usize,
    per_domain_max: usize,
) -> String {
    let plural = level.plural();
    let needed = replication.div_ceil(per_domain_max);
    let names = domain_list(topology, level, domains, false);
    if domains.len() < needed {
        let more = needed - domains.len();
        format!(
            "only {} {} with up nodes ({names}): a group of {replication} replicas needs {needed} {plural} to keep its majority \
             through the loss of one, so losing a {level} can lose the majority; add {more} more {}",
            domains.len(),
            if domains.len() == 1 { level.to_string() } else { plural.to_owned() },
            if more == 1 { level.to_string() } else { plural.to_owned() },
        )
    } else {
        let sizes = domain_list(topology, level, domains, true);
        format!(
            "the {plural} hold too few up nodes ({sizes}) to place {replication} replicas with at most {per_domain_max} per {level}, \
             so losing a {level} can lose the majority; add up nodes to the smaller {plural}"
        )
    }
}

/// "dc1, dc2" or, with sizes, "dc1: 5, dc2: 1"; at most eight, then a count of the rest.
fn domain_list(
    topology: &Topology,
    level: Level,
    domains: &BTreeMap<u64, (NodeId, usize)>,
    sizes: bool,
) -> String {
    const SHOWN_MAX: usize = 8;
    let mut parts: Vec<String> = domains
        .values()
        .take(SHOWN_MAX)
        .map(|&(member, size)| {
            let name = topology.domain_name(member, level);
            if sizes {
                format!("{name}: {size}")
            } else {
                name
            }
        })
        .collect();
    if domains.len() > SHOWN_MAX {
        parts.push(format!("and {} more", domains.len() - SHOWN_MAX));
    }
    parts.join(", ")
}

/// Uneven replica counts on `Up` nodes (more than one apart), blamed on the outermost level
/// whose domains hold different numbers of `Up` nodes: spreading every group across unequal
/// racks must load the nodes of the small racks more.
fn load_shortfall(
    topology: &Topology,
    current: &BTreeMap<GroupId, Vec<NodeId>>,
) -> Option<Shortfall> {
    let mut load: BTreeMap<NodeId, usize> = topology.up_nodes().map(|id| (id, 0)).collect();
    for id in current.values().flatten() {
        if let Some(count) = load.get_mut(id) {
            *count += 1;
        }
    }
    let least = *load.values().min()?;
    let most = *load.values().max()?;
    if most - least <= 1 {
        return None;
    }
    let uneven = Level::ALL[..4].iter().copied().find(|level| {
        let sizes: BTreeSet<usize> = topology
            .up_domains(*level)
            .values()
            .map(|&(_, size)| size)
            .collect();
        sizes.len() > 1
    });
    let Some(level) = uneven else {
        let reason = format!(
            "up nodes hold between {least} and {most} replicas each; run rebalance to even them"
        );
        return Some(Shortfall {
            group: None,
            level: Level::Node,
            reason,
        });
    };
    let plural = level.plural();
    let sizes = domain_list(topology, level, &topology.up_domains(level), true);
    let reason = format!(
        "the {plural} hold different numbers of up nodes ({sizes}): keeping each group's replicas in distinct {plural} leaves \
         up nodes with between {least} and {most} replicas each; add up nodes to the smaller {plural} to even the load"
    );
    Some(Shortfall {
        group: None,
        level,
        reason,
    })
}
