//! Where each group's replicas start. With several groups, the server's placement policy
//! (`crates/placement`) decides, over the simulated nodes as a topology (each node its own
//! rack and host until the lab models racks); with one group, the first `replication` nodes,
//! as the lab always did (the pinned seeds replay the same runs).

use raft::{Membership, NodeId};

use crate::hosted::GroupReplica;
use crate::node::SimNode;

/// The nodes (slots) of each group's initial voters: `replication` distinct nodes per group.
///
/// Group `g` starts at node `g % nodes` and steps by a stride coprime with `nodes`, the stride
/// changing with every round of `nodes` groups. Each full round puts exactly `replication`
/// replicas on every node, and successive rounds pair nodes differently.
pub fn place(nodes: usize, groups: usize, replication: usize) -> Vec<Vec<usize>> {
    assert!(
        replication >= 1 && replication <= nodes,
        "replication {replication} with {nodes} nodes"
    );
    if groups > 1 {
        if let Ok(plan) = placement::initial(
            &topology(nodes, |_| placement::NodeState::Up),
            groups as u64,
            replication,
            None,
        ) {
            return plan
                .replicas
                .into_iter()
                .map(|nodes| nodes.into_iter().map(|id| id as usize - 1).collect())
                .collect();
        }
    }
    let strides: Vec<usize> = (1..nodes.max(2))
        .filter(|&stride| gcd(stride, nodes) == 1)
        .collect();
    (0..groups)
        .map(|group| {
            let start = group % nodes;
            let stride = strides[(group / nodes) % strides.len()];
            (0..replication)
                .map(|i| (start + i * stride) % nodes)
                .collect()
        })
        .collect()
}

/// The simulated nodes as placement sees them (node id = slot + 1), with their states.
pub fn topology(
    nodes: usize,
    state: impl Fn(usize) -> placement::NodeState,
) -> placement::Topology {
    placement::Topology::new((0..nodes).map(|slot| placement::NodeInfo {
        id: slot as u64 + 1,
        labels: placement::Labels::new(
            "dc1",
            "pod1",
            &format!("rack{}", slot + 1),
            &format!("host{}", slot + 1),
        ),
        state: state(slot),
    }))
}

/// Puts each group's initial replicas on the nodes `layout` names, with the group's bootstrap
/// membership. A single group is hosted on every node, the spares starting outside the
/// membership (as before multi-raft): the membership nemesis grows the group onto them.
pub(crate) fn host_initial_replicas(nodes: &mut [SimNode], layout: &[Vec<usize>]) {
    for (group, voters) in layout.iter().enumerate() {
        let membership = Membership::with_voters(voters.iter().map(|&slot| slot as NodeId + 1));
        let hosts: Vec<usize> = if layout.len() == 1 {
            (0..nodes.len()).collect()
        } else {
            voters.clone()
        };
        for slot in hosts {
            nodes[slot]
                .groups
                .insert(group, GroupReplica::new(slot, membership.clone()));
        }
    }
}

/// A client's first guess at `group`'s leader: one of its hosts, from one draw shared by all
/// groups (with one group, the drawn node itself).
pub(crate) fn initial_target(nodes: &[SimNode], group: usize, guess: usize) -> usize {
    let hosts: Vec<usize> = (0..nodes.len())
        .filter(|&slot| nodes[slot].groups.contains_key(&group))
        .collect();
    hosts
        .get(guess % hosts.len().max(1))
        .copied()
        .unwrap_or(guess)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::place;

    // Goal: the rotation is even and valid. Method: 9 nodes, 32 groups, 3 replicas: distinct
    // nodes per group, loads within one of each other, and not every group on the same sets.
    #[test]
    fn nine_nodes_thirty_two_groups_spread_evenly() {
        let layout = place(9, 32, 3);
        let mut load = [0usize; 9];
        for replicas in &layout {
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3, "replicas share a node: {replicas:?}");
            for &node in replicas {
                load[node] += 1;
            }
        }
        let (low, high) = (load.iter().min().copied(), load.iter().max().copied());
        assert!(
            high.zip(low).is_some_and(|(h, l)| h - l <= 1),
            "uneven load {load:?}"
        );
        let distinct: std::collections::BTreeSet<Vec<usize>> = layout
            .iter()
            .map(|r| {
                let mut s = r.clone();
                s.sort_unstable();
                s
            })
            .collect();
        assert!(
            distinct.len() >= 27,
            "too few distinct replica sets: {}",
            distinct.len()
        );
    }

    // Goal: small clusters work and one group keeps today's voters. Method: edge sizes.
    #[test]
    fn small_clusters() {
        assert_eq!(place(5, 1, 3), vec![vec![0, 1, 2]]);
        assert_eq!(place(1, 2, 1), vec![vec![0], vec![0]]);
        assert_eq!(place(2, 3, 2), vec![vec![0, 1], vec![1, 0], vec![0, 1]]);
    }
}
