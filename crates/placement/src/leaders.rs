//! Preferred leaders: which replica of each group should lead, so that leader work (every
//! write and most reads) is even across nodes and, when asked, stays in one datacenter close
//! to the clients.

use std::collections::BTreeMap;

use crate::topology::Topology;
use crate::{tie_break, GroupId, NodeId};

/// Hand `group`'s leadership from `from` to `to`, another of its replicas. The caller applies
/// it by transferring leadership and by listing `to` first for the group from now on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderTransfer {
    /// The group.
    pub group: GroupId,
    /// Its preferred leader now (the first of its replicas).
    pub from: NodeId,
    /// The replica to lead instead.
    pub to: NodeId,
}

/// At most `max_transfers` leadership transfers that even out leader counts in `current`
/// (group -> replicas, preferred leader first).
///
/// First, groups led from a node that is not `Up`, or from outside `preferred_dc` while a
/// replica inside it is `Up`, get a better leader. Then, while some group's leader has at
/// least two more leaderships than another `Up` replica of the same group (no further from
/// `preferred_dc`), the widest such gap is closed by one transfer. Each such transfer lowers
/// the sum of squared leader counts, so the loop ends.
pub fn balance_leaders(
    topology: &Topology,
    current: &BTreeMap<GroupId, Vec<NodeId>>,
    preferred_dc: Option<&str>,
    max_transfers: usize,
) -> Vec<LeaderTransfer> {
    let mut groups = current.clone();
    let mut transfers = Vec::new();
    let mut counts = leader_counts(topology, &groups);
    let ids: Vec<GroupId> = groups.keys().copied().collect();
    for group in ids {
        if transfers.len() >= max_transfers {
            return transfers;
        }
        if let Some(transfer) = misplaced(topology, group, &groups[&group], &counts, preferred_dc) {
            apply(&mut groups, &mut counts, &transfer);
            transfers.push(transfer);
        }
    }
    while transfers.len() < max_transfers {
        let Some(transfer) = widest_gap(topology, &groups, &counts, preferred_dc) else {
            break;
        };
        apply(&mut groups, &mut counts, &transfer);
        transfers.push(transfer);
    }
    transfers
}

/// Picks every group's preferred leader in `groups` (reordering each list), greedily and
/// then evened out by [`balance_leaders`].
pub(crate) fn choose(
    topology: &Topology,
    groups: &mut BTreeMap<GroupId, Vec<NodeId>>,
    preferred_dc: Option<&str>,
) {
    let mut counts: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (&group, replicas) in groups.iter_mut() {
        let Some(best) = (0..replicas.len()).min_by_key(|&position| {
            let node = replicas[position];
            (
                rank(topology, node, preferred_dc),
                counts.get(&node).copied().unwrap_or(0),
                tie_break(group, node),
            )
        }) else {
            continue;
        };
        replicas.swap(0, best);
        *counts.entry(replicas[0]).or_insert(0) += 1;
    }
    let mut counts = leader_counts(topology, groups);
    for transfer in balance_leaders(topology, groups, preferred_dc, usize::MAX) {
        apply(groups, &mut counts, &transfer);
    }
}

/// How far `node` is from leading well: 0 `Up` and in `preferred_dc` (or no preference),
/// 1 `Up` elsewhere, 2 not `Up`.
fn rank(topology: &Topology, node: NodeId, preferred_dc: Option<&str>) -> u8 {
    if !topology.is_up(node) {
        return 2;
    }
    let in_preferred = match (preferred_dc, topology.node(node)) {
        (Some(dc), Some(info)) => info.labels.dc == dc,
        _ => true,
    };
    u8::from(!in_preferred)
}

/// Leaderships per `Up` node (0 for `Up` nodes leading nothing).
fn leader_counts(
    topology: &Topology,
    groups: &BTreeMap<GroupId, Vec<NodeId>>,
) -> BTreeMap<NodeId, usize> {
    let mut counts: BTreeMap<NodeId, usize> = topology.up_nodes().map(|id| (id, 0)).collect();
    for replicas in groups.values() {
        if let Some(count) = replicas.first().and_then(|leader| counts.get_mut(leader)) {
            *count += 1;
        }
    }
    counts
}

/// A transfer for `group` if its leader ranks worse than its best replica.
fn misplaced(
    topology: &Topology,
    group: GroupId,
    replicas: &[NodeId],
    counts: &BTreeMap<NodeId, usize>,
    preferred_dc: Option<&str>,
) -> Option<LeaderTransfer> {
    let leader = *replicas.first()?;
    let best = *replicas.iter().min_by_key(|&&node| {
        (
            rank(topology, node, preferred_dc),
            counts.get(&node).copied().unwrap_or(0),
            tie_break(group, node),
        )
    })?;
    let better = rank(topology, best, preferred_dc) < rank(topology, leader, preferred_dc);
    better.then_some(LeaderTransfer {
        group,
        from: leader,
        to: best,
    })
}

/// The transfer closing the widest leader-count gap of at least two, if any.
fn widest_gap(
    topology: &Topology,
    groups: &BTreeMap<GroupId, Vec<NodeId>>,
    counts: &BTreeMap<NodeId, usize>,
    preferred_dc: Option<&str>,
) -> Option<LeaderTransfer> {
    let mut best: Option<(usize, LeaderTransfer)> = None;
    for (&group, replicas) in groups {
        let Some((&leader, others)) = replicas.split_first() else {
            continue;
        };
        let Some(&leader_count) = counts.get(&leader) else {
            continue;
        };
        for &other in others {
            let Some(&other_count) = counts.get(&other) else {
                continue;
            };
            let allowed =
                rank(topology, other, preferred_dc) <= rank(topology, leader, preferred_dc);
            let gap = leader_count.saturating_sub(other_count);
            if allowed && gap >= 2 && best.is_none_or(|(widest, _)| gap > widest) {
                best = Some((
                    gap,
                    LeaderTransfer {
                        group,
                        from: leader,
                        to: other,
                    },
                ));
            }
        }
    }
    best.map(|(_, transfer)| transfer)
}

/// Applies `transfer` to `groups` (moving `to` first) and to `counts`.
fn apply(
    groups: &mut BTreeMap<GroupId, Vec<NodeId>>,
    counts: &mut BTreeMap<NodeId, usize>,
    transfer: &LeaderTransfer,
) {
    let replicas = groups
        .get_mut(&transfer.group)
        .expect("transfers name known groups");
    let position = replicas
        .iter()
        .position(|&node| node == transfer.to)
        .expect("transfers go to a replica of the group");
    assert_eq!(
        replicas[0], transfer.from,
        "transfer from a node that does not lead: group={}",
        transfer.group
    );
    replicas.swap(0, position);
    if let Some(count) = counts.get_mut(&transfer.from) {
        *count -= 1;
    }
    if let Some(count) = counts.get_mut(&transfer.to) {
        *count += 1;
    }
}
