//! Tests of the placement policy on small hand-built topologies, plus properties (spread never
//! worse after a move, determinism) checked over seeded generated topologies.

use std::collections::{BTreeMap, BTreeSet};

use crate::*;

/// A node in pod "p1" on its own host "h{id}".
fn node(id: NodeId, dc: &str, rack: &str) -> NodeInfo {
    NodeInfo::up(id, Labels::new(dc, "p1", rack, &format!("h{id}")))
}

/// `dcs` datacenters "dc1".., each with racks "r1".. of `per_rack` nodes; ids from 1, rack by
/// rack. Rack names repeat across datacenters on purpose.
fn grid(dcs: usize, racks: usize, per_rack: usize) -> Topology {
    let mut nodes = Vec::new();
    for dc in 1..=dcs {
        for rack in 1..=racks {
            for _ in 0..per_rack {
                nodes.push(node(
                    nodes.len() as NodeId + 1,
                    &format!("dc{dc}"),
                    &format!("r{rack}"),
                ));
            }
        }
    }
    Topology::new(nodes)
}

/// One datacenter whose racks "r1".. hold `sizes[i]` nodes each.
fn racks(sizes: &[usize]) -> Topology {
    let mut nodes = Vec::new();
    for (rack, &size) in sizes.iter().enumerate() {
        for _ in 0..size {
            nodes.push(node(
                nodes.len() as NodeId + 1,
                "dc1",
                &format!("r{}", rack + 1),
            ));
        }
    }
    Topology::new(nodes)
}

fn by_group(plan: &Plan) -> BTreeMap<GroupId, Vec<NodeId>> {
    (1..).zip(plan.replicas.iter().cloned()).collect()
}

/// Replicas per `Up` node, zeros included.
fn replica_counts(
    topology: &Topology,
    groups: &BTreeMap<GroupId, Vec<NodeId>>,
) -> BTreeMap<NodeId, usize> {
    let mut counts: BTreeMap<NodeId, usize> = topology.up_nodes().map(|id| (id, 0)).collect();
    for &id in groups.values().flatten() {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Leaderships per `Up` node, zeros included.
fn leader_counts(
    topology: &Topology,
    groups: &BTreeMap<GroupId, Vec<NodeId>>,
) -> BTreeMap<NodeId, usize> {
    let mut counts: BTreeMap<NodeId, usize> = topology.up_nodes().map(|id| (id, 0)).collect();
    for replicas in groups.values() {
        *counts.entry(replicas[0]).or_insert(0) += 1;
    }
    counts
}

fn range(counts: &BTreeMap<NodeId, usize>) -> (usize, usize) {
    (
        *counts.values().min().unwrap(),
        *counts.values().max().unwrap(),
    )
}

fn rack(topology: &Topology, id: NodeId) -> (String, String) {
    let labels = &topology.node(id).unwrap().labels;
    (labels.dc.clone(), labels.rack.clone())
}

fn dc(topology: &Topology, id: NodeId) -> String {
    topology.node(id).unwrap().labels.dc.clone()
}

/// Applies `moves` one by one, asserting each is well-formed and leaves the group's spread no
/// worse by `spread`'s own measures; returns the placement afterwards.
fn apply_checked(
    topology: &Topology,
    current: &BTreeMap<GroupId, Vec<NodeId>>,
    moves: &[Move],
) -> BTreeMap<GroupId, Vec<NodeId>> {
    let mut groups = current.clone();
    for step in moves {
        let replicas = groups.get_mut(&step.group).unwrap();
        let before = spread(topology, replicas);
        assert!(
            topology.is_up(step.to),
            "{step:?} targets a node that is not up"
        );
        assert!(
            !replicas.contains(&step.to),
            "{step:?} targets a node already in the group"
        );
        let position = replicas
            .iter()
            .position(|&id| id == step.from)
            .expect("move from a replica");
        replicas[position] = step.to;
        let after = spread(topology, replicas);
        assert!(
            after.distinct_at <= before.distinct_at || before.distinct_at.is_none(),
            "{step:?}: {before:?} -> {after:?}"
        );
        assert!(after.distinct_at.is_some(), "{step:?} names a node twice");
        for level in &before.majority_survives_loss_of {
            assert!(
                after.majority_survives_loss_of.contains(level),
                "{step:?} loses {level}: {before:?} -> {after:?}"
            );
        }
    }
    groups
}

#[test]
fn one_dc_three_racks_survives_the_loss_of_any_rack() {
    // Goal: 3 replicas over 3 racks keep a majority through any rack loss. Method: enumerate
    // every rack, remove its nodes, count each group's survivors.
    let topology = grid(1, 3, 3);
    let plan = initial(&topology, 32, 3, None).unwrap();
    assert_eq!(plan.replicas.len(), 32);
    for lost in ["r1", "r2", "r3"] {
        for replicas in &plan.replicas {
            let survivors = replicas
                .iter()
                .filter(|&&id| rack(&topology, id).1 != lost)
                .count();
            assert!(
                survivors >= 2,
                "losing {lost} leaves {replicas:?} {survivors} replica(s)"
            );
        }
    }
    for replicas in &plan.replicas {
        let racks: BTreeSet<_> = replicas.iter().map(|&id| rack(&topology, id)).collect();
        assert_eq!(racks.len(), 3, "{replicas:?} shares a rack");
        let spread = spread(&topology, replicas);
        assert_eq!(spread.distinct_at, Some(Level::Rack));
        assert_eq!(
            spread.majority_survives_loss_of,
            vec![Level::Rack, Level::Host, Level::Node]
        );
    }
}

#[test]
fn one_dc_reports_that_no_group_survives_a_datacenter_loss() {
    // Goal: a single datacenter is reported once, for the whole topology, and not per group.
    // Method: place on 1 DC / 3 racks and read the shortfalls and one group's spread.
    let topology = grid(1, 3, 3);
    let plan = initial(&topology, 32, 3, None).unwrap();
    assert_eq!(plan.shortfalls.len(), 1, "{:#?}", plan.shortfalls);
    let shortfall = &plan.shortfalls[0];
    assert_eq!(
        (shortfall.group, shortfall.level),
        (None, Level::Datacenter)
    );
    assert!(
        shortfall.reason.contains("only 1 datacenter")
            && shortfall.reason.contains("lose the majority"),
        "{shortfall}"
    );
    assert!(
        shortfall.reason.contains("add 2 more datacenters"),
        "{shortfall}"
    );
    let text = spread(&topology, &plan.replicas[0]).shortfall.unwrap();
    assert_eq!(
        text,
        "3 of 3 replicas in datacenter dc1: losing that datacenter loses the majority"
    );
}

#[test]
fn symmetric_topologies_get_replica_counts_within_one() {
    // Goal: symmetric topologies load every node within one replica of the others. Method:
    // count replicas per node for several (topology, groups, replication) cases.
    let cases = [
        (grid(1, 3, 3), 32, 3, (10, 11)),
        (grid(3, 2, 2), 40, 3, (10, 10)),
        (grid(3, 2, 2), 25, 5, (10, 11)),
    ];
    for (topology, groups, replication, expected) in cases {
        let plan = initial(&topology, groups, replication, None).unwrap();
        let counts = replica_counts(&topology, &by_group(&plan));
        assert_eq!(
            range(&counts),
            expected,
            "{groups} groups of {replication}: {counts:?}"
        );
    }
}

#[test]
fn symmetric_topologies_get_leader_counts_within_one() {
    // Goal: preferred leaders are spread within one of each other. Method: count first nodes.
    let cases = [
        (grid(1, 3, 3), 32, 3, (3, 4)),
        (grid(3, 2, 2), 50, 3, (4, 5)),
        (grid(3, 2, 2), 25, 5, (2, 3)),
    ];
    for (topology, groups, replication, expected) in cases {
        let plan = initial(&topology, groups, replication, None).unwrap();
        let counts = leader_counts(&topology, &by_group(&plan));
        assert_eq!(
            range(&counts),
            expected,
            "{groups} groups of {replication}: {counts:?}"
        );
    }
}

#[test]
fn three_datacenters_get_one_replica_each() {
    // Goal: with 3 DCs, 3 replicas land one per DC and nothing is reported missing.
    let topology = grid(3, 2, 2);
    let plan = initial(&topology, 40, 3, None).unwrap();
    assert!(plan.shortfalls.is_empty(), "{:#?}", plan.shortfalls);
    for replicas in &plan.replicas {
        let dcs: BTreeSet<String> = replicas.iter().map(|&id| dc(&topology, id)).collect();
        assert_eq!(dcs.len(), 3, "{replicas:?}");
        assert_eq!(
            spread(&topology, replicas).distinct_at,
            Some(Level::Datacenter)
        );
    }
}

#[test]
fn three_datacenters_split_five_replicas_two_two_one() {
    // Goal: 5 replicas over 3 DCs go 2/2/1, the two in one DC on different racks, so a DC
    // loss leaves at least 3. Method: count per DC and check `spread`.
    let topology = grid(3, 2, 2);
    let plan = initial(&topology, 24, 5, None).unwrap();
    assert!(plan.shortfalls.is_empty(), "{:#?}", plan.shortfalls);
    for replicas in &plan.replicas {
        let mut per_dc: BTreeMap<String, usize> = BTreeMap::new();
        for &id in replicas {
            *per_dc.entry(dc(&topology, id)).or_insert(0) += 1;
        }
        let mut sizes: Vec<usize> = per_dc.into_values().collect();
        sizes.sort();
        assert_eq!(sizes, vec![1, 2, 2], "{replicas:?}");
        let spread = spread(&topology, replicas);
        assert_eq!(spread.distinct_at, Some(Level::Rack), "{replicas:?}");
        assert!(
            spread
                .majority_survives_loss_of
                .contains(&Level::Datacenter),
            "{spread:?}"
        );
    }
}

#[test]
fn preferred_datacenter_holds_every_leader_evenly() {
    // Goal: with a preferred DC every group (all have a replica there) is led from it, and
    // its nodes share the leaderships evenly. Method: check each first node's DC and counts.
    let topology = grid(3, 2, 2);
    let plan = initial(&topology, 40, 3, Some("dc2")).unwrap();
    for replicas in &plan.replicas {
        assert_eq!(dc(&topology, replicas[0]), "dc2", "{replicas:?}");
    }
    let counts = leader_counts(&topology, &by_group(&plan));
    let in_dc2: Vec<usize> = counts
        .iter()
        .filter(|(&id, _)| dc(&topology, id) == "dc2")
        .map(|(_, &count)| count)
        .collect();
    assert_eq!(in_dc2, vec![10, 10, 10, 10]);
}

#[test]
fn uneven_racks_keep_one_replica_per_rack_and_report_the_skew() {
    // Goal: racks of 5, 1 and 1 nodes still get one replica per rack; the lone nodes carry
    // every group and the plan says why. Method: check racks, counts and the shortfall.
    let topology = racks(&[5, 1, 1]);
    let plan = initial(&topology, 32, 3, None).unwrap();
    for replicas in &plan.replicas {
        let racks: BTreeSet<_> = replicas.iter().map(|&id| rack(&topology, id)).collect();
        assert_eq!(racks.len(), 3, "{replicas:?}");
    }
    let counts = replica_counts(&topology, &by_group(&plan));
    assert_eq!((counts[&6], counts[&7]), (32, 32));
    assert!(
        (1..=5).all(|id| (6..=7).contains(&counts[&id])),
        "{counts:?}"
    );
    let skew = plan
        .shortfalls
        .iter()
        .find(|shortfall| shortfall.level == Level::Rack)
        .expect("the skew is reported");
    assert_eq!(skew.group, None);
    assert!(
        skew.reason.contains(
            "different numbers of up nodes (r1 (dc1/p1): 5, r2 (dc1/p1): 1, r3 (dc1/p1): 1)"
        ),
        "{skew}"
    );
    assert!(
        skew.reason.contains("between 6 and 32 replicas") && !skew.reason.contains("majority"),
        "{skew}"
    );
}

#[test]
fn two_racks_for_three_replicas_report_the_rack_level() {
    // Goal: with fewer racks than replicas placement still succeeds, splits 2/1 rather than
    // 3/0, and says that losing a rack can lose the majority.
    let topology = racks(&[3, 3]);
    let plan = initial(&topology, 12, 3, None).unwrap();
    for replicas in &plan.replicas {
        let racks: BTreeSet<_> = replicas.iter().map(|&id| rack(&topology, id)).collect();
        assert_eq!(racks.len(), 2, "{replicas:?}");
    }
    let shortfall = plan
        .shortfalls
        .iter()
        .find(|shortfall| shortfall.level == Level::Rack)
        .expect("rack shortfall");
    assert_eq!(shortfall.group, None);
    assert!(
        shortfall.reason.contains("only 2 racks")
            && shortfall
                .reason
                .contains("losing a rack can lose the majority"),
        "{shortfall}"
    );
    assert!(
        plan.shortfalls
            .iter()
            .all(|shortfall| shortfall.group.is_none()),
        "{:#?}",
        plan.shortfalls
    );
}

#[test]
fn fewer_up_nodes_than_replicas_is_an_error() {
    // Goal: only `Up` nodes count, and too few of them is the one failure. Method: 2 nodes,
    // then 3 nodes of which one is down and one draining.
    assert_eq!(
        initial(&racks(&[2]), 4, 3, None),
        Err(PlacementError::NotEnoughNodes { needed: 3, up: 2 })
    );
    let mut topology = racks(&[1, 1, 1]);
    topology.set_state(2, NodeState::Down);
    topology.set_state(3, NodeState::Draining);
    let error = initial(&topology, 4, 3, None).unwrap_err();
    assert_eq!(error, PlacementError::NotEnoughNodes { needed: 3, up: 1 });
    assert!(error.to_string().contains("start more nodes"), "{error}");
}

#[test]
fn replication_must_be_one_three_or_five() {
    // Goal: even and oversized replication factors are refused, 1 is allowed but reported.
    let topology = grid(1, 3, 3);
    for replication in [0, 2, 4, 6, 7] {
        assert_eq!(
            initial(&topology, 1, replication, None),
            Err(PlacementError::BadReplication(replication))
        );
    }
    let plan = initial(&topology, 9, 1, None).unwrap();
    assert_eq!(range(&replica_counts(&topology, &by_group(&plan))), (1, 1));
    assert!(
        plan.shortfalls
            .iter()
            .any(|shortfall| shortfall.level == Level::Node),
        "{:#?}",
        plan.shortfalls
    );
    let too_many = initial(&topology, GROUPS_MAX + 1, 3, None);
    assert_eq!(
        too_many,
        Err(PlacementError::TooManyGroups {
            groups: GROUPS_MAX + 1,
            max: GROUPS_MAX
        })
    );
}

#[test]
fn domains_are_keyed_by_their_whole_path() {
    // Goal: rack "r1" in dc1 is not rack "r1" in dc2, and likewise for pods. Method: `spread`
    // of nodes whose lower labels collide.
    let topology = Topology::new([
        NodeInfo::up(1, Labels::new("dc1", "p1", "r1", "h1")),
        NodeInfo::up(2, Labels::new("dc2", "p1", "r1", "h1")),
        NodeInfo::up(3, Labels::new("dc1", "p2", "r1", "h1")),
        NodeInfo::up(4, Labels::new("dc1", "p1", "r1", "h1")),
    ]);
    assert_eq!(
        spread(&topology, &[1, 2]).distinct_at,
        Some(Level::Datacenter)
    );
    assert_eq!(spread(&topology, &[1, 3]).distinct_at, Some(Level::Pod));
    assert_eq!(spread(&topology, &[1, 4]).distinct_at, Some(Level::Node));
    assert_eq!(spread(&topology, &[1, 1]).distinct_at, None);
    // Nodes missing from the topology may be anywhere, so they are assumed to be together.
    let unknown = spread(&topology, &[1, 98, 99]);
    assert_eq!(
        (unknown.distinct_at, unknown.majority_survives_loss_of),
        (Some(Level::Node), vec![Level::Node])
    );
    let names: Vec<String> = Level::ALL.iter().map(Level::to_string).collect();
    assert_eq!(names, ["datacenter", "pod", "rack", "host", "node"]);
}

#[test]
fn replacement_stays_in_the_dead_nodes_rack_and_prefers_the_least_loaded() {
    // Goal: a dead node's replacement keeps the spread (same rack when it has a free up
    // node), and among those picks the least loaded. Method: racks r1={1,2,3}, r2={4,5,6},
    // r3={7,8,9}; group [1,4,7] loses 4; racks r1 and r3 are idle yet must not win.
    let mut topology = grid(1, 3, 3);
    topology.set_state(4, NodeState::Down);
    let mut load: BTreeMap<NodeId, usize> = [(5, 10), (6, 3)].into_iter().collect();
    assert_eq!(replacement(&topology, 1, &[1, 7], &load), Some(6));
    load.insert(6, 11);
    assert_eq!(replacement(&topology, 1, &[1, 7], &load), Some(5));
}

#[test]
fn replacement_only_picks_up_nodes_outside_the_group() {
    // Goal: down, draining and member nodes never qualify; with none left the answer is None.
    let mut topology = grid(1, 3, 3);
    topology.set_state(5, NodeState::Draining);
    topology.set_state(6, NodeState::Down);
    let load = BTreeMap::new();
    let chosen = replacement(&topology, 1, &[1, 7], &load).unwrap();
    assert!(
        topology.is_up(chosen) && ![1, 7].contains(&chosen),
        "{chosen}"
    );
    let everyone: Vec<NodeId> = topology.up_nodes().collect();
    assert_eq!(replacement(&topology, 1, &everyone, &load), None);
}

#[test]
fn rebalance_moves_everything_off_a_draining_node() {
    // Goal: draining empties the node, within `max_moves`, keeping each group's spread.
    // Method: drain node 1 of 12, apply the moves with checks, count what is left on it.
    let mut topology = grid(1, 3, 4);
    let current = by_group(&initial(&topology, 32, 3, None).unwrap());
    let on_node_1 = current
        .values()
        .filter(|replicas| replicas.contains(&1))
        .count();
    assert!(on_node_1 > 0);
    topology.set_state(1, NodeState::Draining);
    let plan = plan_rebalance(&topology, &current, 1000);
    assert!(plan.stuck.is_empty(), "{:#?}", plan.stuck);
    assert_eq!(
        plan.moves.iter().filter(|step| step.from == 1).count(),
        on_node_1
    );
    let after = apply_checked(&topology, &current, &plan.moves);
    assert!(after.values().all(|replicas| !replicas.contains(&1)));
    assert_eq!(rebalance(&topology, &current, 2).len(), 2);
    assert_eq!(rebalance(&topology, &current, 0), vec![]);
}

#[test]
fn rebalance_fills_new_nodes_to_within_one() {
    // Goal: after one node joins each rack, moves bring every node within one replica of the
    // others. Method: place on 9 nodes, add 10, 11, 12, apply the moves, count.
    let mut topology = grid(1, 3, 3);
    let current = by_group(&initial(&topology, 32, 3, None).unwrap());
    for (id, rack) in [(10, "r1"), (11, "r2"), (12, "r3")] {
        topology.insert(node(id, "dc1", rack));
    }
    let moves = rebalance(&topology, &current, 1000);
    let after = apply_checked(&topology, &current, &moves);
    assert_eq!(range(&replica_counts(&topology, &after)), (8, 8));
    assert!(
        rebalance(&topology, &after, 1000).is_empty(),
        "a balanced placement needs no moves"
    );
}

#[test]
fn rebalance_fills_a_new_node_only_from_its_own_rack() {
    // Goal: when evening the load would crowd groups, spread wins: a node added to r1 only
    // takes replicas from r1, until r1's nodes are even. Method: check every move's source.
    let mut topology = grid(1, 3, 3);
    let current = by_group(&initial(&topology, 32, 3, None).unwrap());
    topology.insert(node(10, "dc1", "r1"));
    let moves = rebalance(&topology, &current, 1000);
    assert!(
        moves
            .iter()
            .all(|step| step.to == 10 && [1, 2, 3].contains(&step.from)),
        "{moves:?}"
    );
    let counts = replica_counts(&topology, &apply_checked(&topology, &current, &moves));
    assert_eq!(
        [counts[&1], counts[&2], counts[&3], counts[&10]],
        [8, 8, 8, 8]
    );
}

#[test]
fn drain_that_would_crowd_a_group_is_reported_not_done() {
    // Goal: a draining node whose rack has no other up node keeps its replicas, and the plan
    // says why. Method: racks of 2, 2 and 1 nodes; drain the lone node 5.
    let mut topology = racks(&[2, 2, 1]);
    let current = by_group(&initial(&topology, 10, 3, None).unwrap());
    topology.set_state(5, NodeState::Draining);
    let plan = plan_rebalance(&topology, &current, 1000);
    assert!(
        plan.moves.iter().all(|step| step.from != 5),
        "{:?}",
        plan.moves
    );
    assert_eq!(plan.stuck.len(), 10);
    let stuck = &plan.stuck[0];
    assert_eq!((stuck.group, stuck.level), (Some(1), Level::Rack));
    assert!(
        stuck.reason.contains("draining node 5")
            && stuck.reason.contains("add an up node in a rack"),
        "{stuck}"
    );
}

#[test]
fn a_crowded_group_is_reported_and_rebalance_spreads_it() {
    // Goal: a group crowded although the topology has room is named in `shortfalls`, and
    // `rebalance` fixes it. Method: group 1 on nodes 1, 2 (both r1) and 4.
    let topology = grid(1, 3, 3);
    let current: BTreeMap<GroupId, Vec<NodeId>> = [(1, vec![1, 2, 4])].into_iter().collect();
    let found = shortfalls(&topology, &current);
    let crowded = found
        .iter()
        .find(|shortfall| shortfall.group == Some(1))
        .expect("group 1 is named");
    assert_eq!(crowded.level, Level::Rack);
    assert!(
        crowded
            .to_string()
            .starts_with("group 1: 3 of 3 replicas in datacenter dc1"),
        "{crowded}"
    );
    assert!(
        crowded
            .reason
            .contains("2 of 3 replicas in rack r1 (dc1/p1)")
            && crowded.reason.contains("rebalance"),
        "{crowded}"
    );
    let moves = rebalance(&topology, &current, 10);
    let after = apply_checked(&topology, &current, &moves);
    assert_eq!(
        spread(&topology, &after[&1]).distinct_at,
        Some(Level::Rack),
        "{moves:?}"
    );
}

#[test]
fn balance_leaders_evens_a_skewed_placement() {
    // Goal: leadership transfers even out leader counts. Method: make the lowest id lead every
    // group, balance, apply the transfers, count.
    let topology = grid(1, 3, 3);
    let mut current = by_group(&initial(&topology, 32, 3, None).unwrap());
    for replicas in current.values_mut() {
        replicas.sort();
    }
    let transfers = balance_leaders(&topology, &current, None, usize::MAX);
    for transfer in &transfers {
        let replicas = current.get_mut(&transfer.group).unwrap();
        assert_eq!(replicas[0], transfer.from);
        let position = replicas
            .iter()
            .position(|&id| id == transfer.to)
            .expect("transfer to a replica");
        replicas.swap(0, position);
    }
    assert_eq!(range(&leader_counts(&topology, &current)), (3, 4));
    assert_eq!(
        balance_leaders(&topology, &current, None, usize::MAX),
        vec![]
    );
}

#[test]
fn same_inputs_give_same_outputs() {
    // Goal: placement is a pure function, whatever order the nodes are listed in. Method:
    // compare two runs, and a run on the same nodes given in reverse order.
    let topology = grid(3, 2, 2);
    let reversed = Topology::new(
        topology
            .nodes()
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .rev(),
    );
    let plan = initial(&topology, 30, 3, Some("dc1")).unwrap();
    assert_eq!(plan, initial(&topology, 30, 3, Some("dc1")).unwrap());
    assert_eq!(plan, initial(&reversed, 30, 3, Some("dc1")).unwrap());
    let mut draining = topology.clone();
    draining.set_state(3, NodeState::Draining);
    let current = by_group(&plan);
    assert_eq!(
        plan_rebalance(&draining, &current, 100),
        plan_rebalance(&draining, &current, 100)
    );
}

/// A tiny deterministic generator for the property test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (value ^ (value >> 31)) % bound
    }
}

/// A random topology of 1-3 DCs, 1-3 racks each, 1-3 nodes per rack, two racks per pod.
fn generated(rng: &mut Rng) -> Topology {
    let mut nodes = Vec::new();
    for dc in 0..=rng.below(3) {
        for rack in 0..=rng.below(3) {
            for _ in 0..=rng.below(3) {
                let id = nodes.len() as NodeId + 1;
                let labels = Labels::new(
                    &format!("dc{dc}"),
                    &format!("p{}", rack / 2),
                    &format!("r{rack}"),
                    &format!("h{}", id / 2),
                );
                nodes.push(NodeInfo::up(id, labels));
            }
        }
    }
    Topology::new(nodes)
}

#[test]
fn generated_rebalances_never_worsen_spread() {
    // Goal: on any topology, no rebalance move crowds a group, and plans are reproducible.
    // Method: 200 seeds; place, then drain one node, add two, take one down; apply the moves
    // with `apply_checked`, and check that draining nodes end empty unless reported stuck.
    for seed in 0..200 {
        let mut rng = Rng(seed);
        let mut topology = generated(&mut rng);
        let up = topology.up_nodes().count();
        let replication = if up >= 5 && rng.below(2) == 0 {
            5
        } else if up >= 3 {
            3
        } else {
            1
        };
        let current = by_group(&initial(&topology, 1 + rng.below(40), replication, None).unwrap());
        let count = up as u64;
        topology.set_state(1 + rng.below(count), NodeState::Draining);
        for id in [count + 1, count + 2] {
            let labels = Labels::new(
                &format!("dc{}", rng.below(3)),
                "p0",
                &format!("r{}", rng.below(2)),
                &format!("n{id}"),
            );
            topology.insert(NodeInfo::up(id, labels));
        }
        topology.set_state(1 + rng.below(count), NodeState::Down);
        let plan = plan_rebalance(&topology, &current, 500);
        assert_eq!(
            plan,
            plan_rebalance(&topology, &current, 500),
            "seed {seed}"
        );
        let after = apply_checked(&topology, &current, &plan.moves);
        let stuck: usize = plan.stuck.len();
        let left: usize = after
            .values()
            .flatten()
            .filter(|&&id| topology.node(id).unwrap().state == NodeState::Draining)
            .count();
        assert_eq!(left, stuck, "seed {seed}: {:#?}", plan.stuck);
    }
}
