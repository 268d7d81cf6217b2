//! Moving replicas between nodes: off draining nodes, into a better spread, and towards even
//! replica counts, never making any group's spread worse.

use std::collections::{BTreeMap, BTreeSet};

use crate::policy::best_target;
use crate::spread::{Crowding, Shortfall};
use crate::topology::{Level, NodeState, Topology};
use crate::{GroupId, NodeId};

/// Move `group`'s replica from node `from` to node `to`.
///
/// `to` takes `from`'s place in the group's list, so if `from` was the preferred leader, `to`
/// becomes it. The caller carries it out as a membership change: add `to`, let it catch up,
/// then remove `from` (transferring leadership first if `from` leads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The group.
    pub group: GroupId,
    /// The node losing the replica.
    pub from: NodeId,
    /// The node gaining it.
    pub to: NodeId,
}

/// A rebalancing plan: the moves, and what could not be done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rebalance {
    /// The moves, in the order to carry them out; each assumes the ones before it are done.
    pub moves: Vec<Move>,
    /// Replicas that could not leave a draining node without making their group's spread
    /// worse, with what would unblock them.
    pub stuck: Vec<Shortfall>,
}

/// At most `max_moves` moves for `current` (group -> replicas, preferred leader first); see
/// [`plan_rebalance`], which also says what it could not do.
pub fn rebalance(
    topology: &Topology,
    current: &BTreeMap<GroupId, Vec<NodeId>>,
    max_moves: usize,
) -> Vec<Move> {
    plan_rebalance(topology, current, max_moves).moves
}

/// At most `max_moves` moves for `current`, in three phases, each only while moves remain:
///
/// 1. Drain: every replica on a `Draining` node goes to the best `Up` node, as
///    [`crate::replacement`] would choose it. Replicas on `Down` nodes stay: repairing them
///    waits for the caller's dead-node timeout, so that a restart does not copy data.
/// 2. Spread: a group whose spread can be made strictly better by moving one replica (say a
///    new datacenter came up) gets that move.
/// 3. Load: while an `Up` node holds at least two replicas more than another, the widest such
///    gap is closed by one move. A group led from the fuller node is preferred when that also
///    evens leader counts, and avoided otherwise. Each move lowers the sum of squared counts,
///    so the phase ends. Even leader counts further with [`crate::balance_leaders`].
///
/// No move puts more of a group's replicas in one domain, at any level, than were there
/// before it, so no move lowers [`crate::Spread::distinct_at`] or shrinks
/// [`crate::Spread::majority_survives_loss_of`].
pub fn plan_rebalance(
    topology: &Topology,
    current: &BTreeMap<GroupId, Vec<NodeId>>,
    max_moves: usize,
) -> Rebalance {
    let mut state = State::new(topology, current);
    let mut plan = Rebalance::default();
    drain(&mut state, &mut plan, max_moves);
    improve_spread(&mut state, &mut plan, max_moves);
    even_load(&mut state, &mut plan, max_moves);
    plan
}

/// Evens replica counts in `groups` in place with phase 3 alone, no limit on moves: the
/// greedy initial placement can leave a node two apart from another.
pub(crate) fn even_out(topology: &Topology, groups: &mut BTreeMap<GroupId, Vec<NodeId>>) {
    let mut state = State::new(topology, groups);
    even_load(&mut state, &mut Rebalance::default(), usize::MAX);
    *groups = state.groups;
}

/// The placement as the plan's moves so far leave it.
struct State<'a> {
    topology: &'a Topology,
    groups: BTreeMap<GroupId, Vec<NodeId>>,
    /// - `load[n]` is how many groups list `n`, for every node listed or in the topology.
    load: BTreeMap<NodeId, usize>,
    /// - `hosted[n]` is the set of groups listing `n`.
    hosted: BTreeMap<NodeId, BTreeSet<GroupId>>,
}

impl<'a> State<'a> {
    fn new(topology: &'a Topology, current: &BTreeMap<GroupId, Vec<NodeId>>) -> State<'a> {
        let mut load: BTreeMap<NodeId, usize> = topology.nodes().map(|node| (node.id, 0)).collect();
        let mut hosted: BTreeMap<NodeId, BTreeSet<GroupId>> = BTreeMap::new();
        for (&group, replicas) in current {
            for &node in replicas {
                *load.entry(node).or_insert(0) += 1;
                hosted.entry(node).or_default().insert(group);
            }
        }
        State {
            topology,
            groups: current.clone(),
            load,
            hosted,
        }
    }

    /// `group`'s replicas with `replica` swapped for `to`.
    fn after(&self, group: GroupId, replica: NodeId, to: NodeId) -> Vec<NodeId> {
        self.groups[&group]
            .iter()
            .map(|&node| if node == replica { to } else { node })
            .collect()
    }

    fn crowding(&self, replicas: &[NodeId]) -> Crowding {
        Crowding::of(self.topology, replicas)
    }

    fn leads(&self, group: GroupId, node: NodeId) -> bool {
        self.groups[&group].first() == Some(&node)
    }

    fn leader_count(&self, node: NodeId) -> usize {
        self.hosted.get(&node).map_or(0, |groups| {
            groups
                .iter()
                .filter(|&&group| self.leads(group, node))
                .count()
        })
    }

    fn apply(&mut self, plan: &mut Rebalance, step: Move) {
        let replicas = self
            .groups
            .get_mut(&step.group)
            .expect("moves name known groups");
        let position = replicas
            .iter()
            .position(|&node| node == step.from)
            .expect("moves start from a replica");
        assert!(
            !replicas.contains(&step.to),
            "move onto a node already in the group: group={} to={}",
            step.group,
            step.to
        );
        replicas[position] = step.to;
        *self.load.get_mut(&step.from).expect("replicas are counted") -= 1;
        *self.load.entry(step.to).or_insert(0) += 1;
        self.hosted
            .get_mut(&step.from)
            .expect("replicas are indexed")
            .remove(&step.group);
        self.hosted.entry(step.to).or_default().insert(step.group);
        plan.moves.push(step);
    }
}

/// Phase 1: every replica off `Draining` nodes, unless that would crowd its group.
fn drain(state: &mut State<'_>, plan: &mut Rebalance, max_moves: usize) {
    let draining: Vec<NodeId> = state
        .topology
        .nodes()
        .filter(|node| node.state == NodeState::Draining)
        .map(|node| node.id)
        .collect();
    for from in draining {
        let groups: Vec<GroupId> = state
            .hosted
            .get(&from)
            .map(|groups| groups.iter().copied().collect())
            .unwrap_or_default();
        for group in groups {
            if plan.moves.len() >= max_moves {
                return;
            }
            let before = state.crowding(&state.groups[&group]);
            let rest: Vec<NodeId> = state.groups[&group]
                .iter()
                .copied()
                .filter(|&node| node != from)
                .collect();
            let keeps_spread = |to: NodeId| {
                state
                    .crowding(&state.after(group, from, to))
                    .no_worse_than(before)
            };
            match best_target(state.topology, group, &rest, &state.load, keeps_spread) {
                Some(to) => state.apply(plan, Move { group, from, to }),
                None => plan.stuck.push(stuck(state, group, from, &rest, before)),
            }
        }
    }
}

/// Why `group`'s replica cannot leave draining node `from`.
fn stuck(
    state: &State<'_>,
    group: GroupId,
    from: NodeId,
    rest: &[NodeId],
    before: Crowding,
) -> Shortfall {
    let Some(to) = best_target(state.topology, group, rest, &state.load, |_| true) else {
        let reason = format!("cannot move its replica off draining node {from}: no up node outside the group can take it; add a node");
        return Shortfall {
            group: Some(group),
            level: Level::Node,
            reason,
        };
    };
    let after = state.after(group, from, to);
    let level = state
        .crowding(&after)
        .first_worse_level(before)
        .expect("the best target was rejected for crowding");
    let domain = state.topology.describe(to, level);
    let reason = format!(
        "cannot move its replica off draining node {from}: every up node outside the group would crowd it, the best into \
         {domain}; add an up node in a {level} the group does not use, or move it by hand accepting a weaker spread"
    );
    Shortfall {
        group: Some(group),
        level,
        reason,
    }
}

/// Phase 2: one move per group per pass while some move strictly improves a group's spread.
fn improve_spread(state: &mut State<'_>, plan: &mut Rebalance, max_moves: usize) {
    loop {
        let mut improved = false;
        let groups: Vec<GroupId> = state.groups.keys().copied().collect();
        for group in groups {
            if plan.moves.len() >= max_moves {
                return;
            }
            if let Some(step) = spread_move(state, group) {
                state.apply(plan, step);
                improved = true;
            }
        }
        if !improved {
            return;
        }
    }
}

/// The move of one of `group`'s replicas on an `Up` node that most improves its crowding,
/// if any strictly does; the outermost level counts most.
fn spread_move(state: &State<'_>, group: GroupId) -> Option<Move> {
    let replicas = &state.groups[&group];
    let before = state.crowding(replicas);
    let mut best: Option<(Crowding, Move)> = None;
    for &from in replicas.iter().filter(|&&node| state.topology.is_up(node)) {
        let rest: Vec<NodeId> = replicas
            .iter()
            .copied()
            .filter(|&node| node != from)
            .collect();
        let improves = |to: NodeId| {
            state
                .crowding(&state.after(group, from, to))
                .better_than(before)
        };
        let Some(to) = best_target(state.topology, group, &rest, &state.load, improves) else {
            continue;
        };
        let after = state.crowding(&state.after(group, from, to));
        if best.is_none_or(|(crowding, _)| after < crowding) {
            best = Some((after, Move { group, from, to }));
        }
    }
    best.map(|(_, step)| step)
}

/// Phase 3: close the widest replica-count gap between `Up` nodes, one move at a time.
fn even_load(state: &mut State<'_>, plan: &mut Rebalance, max_moves: usize) {
    while plan.moves.len() < max_moves {
        let Some(step) = load_move(state) else { return };
        state.apply(plan, step);
    }
}

/// The move across the widest gap (at least two) between `Up` nodes that some group can make
/// without crowding; `None` when no gap can be closed.
fn load_move(state: &State<'_>) -> Option<Move> {
    let up: Vec<(NodeId, usize)> = state
        .topology
        .up_nodes()
        .map(|id| (id, state.load.get(&id).copied().unwrap_or(0)))
        .collect();
    let mut pairs: Vec<(usize, NodeId, NodeId)> = Vec::new();
    for &(from, from_load) in &up {
        for &(to, to_load) in &up {
            if from_load >= to_load + 2 {
                pairs.push((from_load - to_load, from, to));
            }
        }
    }
    // Widest gap first; then by ids, so the order does not depend on anything else.
    pairs.sort_by_key(|&(gap, from, to)| (std::cmp::Reverse(gap), from, to));
    pairs
        .into_iter()
        .find_map(|(_, from, to)| group_to_move(state, from, to))
}

/// The group whose replica on `from` can best go to `to`: one not already on `to`, not
/// crowded by the move, led from `from` exactly when that evens leader counts; lowest id next.
fn group_to_move(state: &State<'_>, from: NodeId, to: NodeId) -> Option<Move> {
    let hosted = state.hosted.get(&from)?;
    let prefer_leader = state.leader_count(from) >= state.leader_count(to) + 2;
    hosted
        .iter()
        .copied()
        .filter(|&group| !state.groups[&group].contains(&to))
        .filter(|&group| {
            let before = state.crowding(&state.groups[&group]);
            state
                .crowding(&state.after(group, from, to))
                .no_worse_than(before)
        })
        .min_by_key(|&group| (state.leads(group, from) != prefer_leader, group))
        .map(|group| Move { group, from, to })
}
