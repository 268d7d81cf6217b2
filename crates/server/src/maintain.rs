//! Placement work, once a second, on the groups this node leads (as a CockroachDB
//! leaseholder runs its replicate queue): the leader of a group sees its own membership and
//! progress, and this node's view says which nodes are down or draining.
//!
//! - Repair: a replica on a node down for `down-after` (or draining) is replaced: a learner
//!   on the best node by the placement policy, caught up by log or snapshot, then promoted
//!   while the old replica is removed, both steps by joint consensus. At most
//!   `REPAIRS_MAX` catch-ups run from one node at a time, so repair never starves clients.
//! - Leader balance: a group led away from its preferred leader (the plan's first node)
//!   hands leadership back once that node is up and caught up, at most once per
//!   `TRANSFER_EVERY` (hysteresis: no flapping).
//! - Orphans: a replica removed from its group while it was away destroys itself once the
//!   group's leader reports a membership without it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use raft::NodeId;

use crate::cluster::{self, node_of, replica_id, GroupReport, ReplicaId};
use crate::driver::Driver;
use crate::group::Repair;

/// Catch-ups in flight from one node at once.
const REPAIRS_MAX: usize = 4;
/// A learner not caught up after this long is dropped (and repair tried again).
const REPAIR_GIVE_UP: Duration = Duration::from_secs(120);
/// Silence from any leader after which a replica checks whether it still belongs.
const ORPHAN_AFTER: Duration = Duration::from_secs(10);
/// Maintenance rounds (one a second) between two runs of the placement planning.
const PLAN_EVERY: u64 = 5;
/// Least time between two leadership hand-offs of one group.
const TRANSFER_EVERY: Duration = Duration::from_secs(30);

impl Driver {
    pub(crate) fn maintain(&mut self) {
        let (topology, mut load, reports, peer_health, sick_peers) = {
            let view = cluster::lock(&self.view);
            let sick: Vec<NodeId> = view
                .health
                .keys()
                .copied()
                .filter(|&n| n != self.config.id && view.is_sick(n))
                .collect();
            (
                cluster::topology(&self.config, &view),
                view.load(),
                view.reports.clone(),
                view.peer_health(self.config.id),
                sick,
            )
        };
        if self.config.gray_failure {
            let loss = cluster::lock(&self.view).report_loss_permille(self.config.id);
            self.health.record_report_loss(loss);
            let (sick, changed) = self
                .health
                .assess(&peer_health, crate::health::micros(Instant::now()));
            if changed {
                let mine = self.health.mine();
                let verdict = if sick {
                    "far slower than its peers: handing its leaderships away"
                } else {
                    "healthy again: may lead"
                };
                let line = format!("gray failure: this node is {verdict} (fsync {} us, tick lag {} us, {} per mille of peer reports missed)", mine.fsync_us, mine.lag_us, mine.loss_permille);
                if sick {
                    tracing::warn!("{line}");
                } else {
                    tracing::info!("{line}");
                }
            }
        }
        self.sick_peers = sick_peers;
        self.finish_repairs();
        self.start_repairs(&topology, &mut load);
        self.remove_orphans(&reports);
        // Planning (the policy over every group) costs milliseconds: every PLAN_EVERY rounds,
        // or at once when this node must shed its leaderships.
        self.maintain_rounds += 1;
        let shedding = self.health.is_sick()
            || topology
                .node(self.config.id)
                .is_some_and(|n| n.state == placement::NodeState::Draining);
        if self.maintain_rounds % PLAN_EVERY == 0 || shedding {
            let current = self.current_placement(&reports);
            let cluster_busy = reports
                .values()
                .any(|(report, _)| !report.learners.is_empty());
            self.start_moves(&topology, &current, cluster_busy);
            self.balance_leaders(&topology, &current);
        }
    }

    /// Every group's voters' nodes, leader first: this node's own knowledge for the groups it
    /// leads, the leaders' reports for the others.
    fn current_placement(
        &self,
        reports: &BTreeMap<u64, (GroupReport, Instant)>,
    ) -> BTreeMap<u64, Vec<NodeId>> {
        let mut current: BTreeMap<u64, Vec<NodeId>> = reports
            .iter()
            .map(|(&group, (report, _))| {
                let mut nodes: Vec<NodeId> = report
                    .voters
                    .iter()
                    .map(|&r| node_of(r))
                    .filter(|&n| n != report.leader)
                    .collect();
                nodes.insert(0, report.leader);
                (group, nodes)
            })
            .collect();
        for group in self.groups.values().filter(|g| g.is_leader()) {
            let me = self.config.id;
            let others = group
                .replica
                .membership()
                .voters
                .iter()
                .map(|&r| node_of(r))
                .filter(|&n| n != me);
            current.insert(group.id, std::iter::once(me).chain(others).collect());
        }
        current
    }

    /// Moves replicas to even out the nodes (a node joined) or off draining nodes, as the
    /// placement policy plans them, for the groups this node leads: the same learner-then-
    /// promote steps as repair, within the same budget.
    fn start_moves(
        &mut self,
        topology: &placement::Topology,
        current: &BTreeMap<u64, Vec<NodeId>>,
        cluster_busy: bool,
    ) {
        // One move at a time per node, and none while any group in the cluster has a replica
        // catching up: every leader plans from its own view, and moves planned on stale
        // counts overshoot and then move back.
        if cluster_busy || self.groups.values().any(|g| g.repair.is_some()) {
            return;
        }
        let budget = 1;
        for planned in placement::rebalance(topology, current, budget) {
            let Some(group) = self.groups.get_mut(&planned.group) else {
                continue;
            };
            if !group.is_leader()
                || group.repair.is_some()
                || group.replica.membership_change_pending()
            {
                continue;
            }
            // The leader's own replica may move too: once the change removing it commits, it
            // hands leadership to the most caught-up voter (raft's removed-leader hand-off).
            let membership = group.replica.membership().clone();
            let Some(&leaving) = membership
                .voters
                .iter()
                .find(|&&r| node_of(r) == planned.from)
            else {
                continue;
            };
            let new = replica_id(planned.to, fresh_generation(group.replica.last_index()));
            match group
                .replica
                .propose_membership_change(membership.voters.iter().copied().collect(), vec![new])
            {
                Ok(_) => {
                    tracing::info!(
                        group = group.id,
                        "group {}: moving replica {leaving} (node {}) to node {} to balance",
                        group.id,
                        planned.from,
                        planned.to
                    );
                    group.repair = Some(Repair {
                        new,
                        leaving: Some(leaving),
                        since: Instant::now(),
                    });
                }
                Err(error) => tracing::warn!(
                    group = group.id,
                    "group {}: cannot move to node {}: {error}",
                    group.id,
                    planned.to
                ),
            }
        }
    }

    /// Promotes caught-up learners in place of the replicas they replace.
    fn finish_repairs(&mut self) {
        let mut done = Vec::new();
        for group in self.groups.values_mut() {
            let Some(repair) = group.repair.clone() else {
                continue;
            };
            if !group.is_leader() {
                group.repair = None;
                continue;
            }
            if group.replica.membership_change_pending() {
                continue;
            }
            let membership = group.replica.membership().clone();
            if membership.voters.contains(&repair.new) {
                tracing::info!(
                    group = group.id,
                    "group {}: repaired, replica {} on node {} replaces {:?} after {} ms",
                    group.id,
                    repair.new,
                    node_of(repair.new),
                    repair.leaving,
                    repair.since.elapsed().as_millis()
                );
                done.push(crate::metrics::RepairDone {
                    group: group.id,
                    new_node: node_of(repair.new),
                    leaving_node: repair.leaving.map(node_of),
                    took_ms: repair.since.elapsed().as_millis() as u64,
                    at_unix_ms: crate::driver::wall_clock_ms(),
                });
                group.repair = None;
                continue;
            }
            if !membership.learners.contains(&repair.new) {
                group.repair = None;
                continue;
            }
            let caught_up =
                group.replica.matched(repair.new).unwrap_or(0) >= group.replica.commit_index();
            let (voters, learners): (Vec<ReplicaId>, Vec<ReplicaId>) = if caught_up {
                let voters = membership
                    .voters
                    .iter()
                    .copied()
                    .filter(|&r| Some(r) != repair.leaving)
                    .chain([repair.new])
                    .collect();
                (
                    voters,
                    membership
                        .learners
                        .iter()
                        .copied()
                        .filter(|&r| r != repair.new && Some(r) != repair.leaving)
                        .collect(),
                )
            } else if repair.since.elapsed() > REPAIR_GIVE_UP {
                tracing::warn!(
                    group = group.id,
                    "group {}: replica {} did not catch up in {} s; dropping it",
                    group.id,
                    repair.new,
                    REPAIR_GIVE_UP.as_secs()
                );
                group.repair = None;
                (
                    membership.voters.iter().copied().collect(),
                    membership
                        .learners
                        .iter()
                        .copied()
                        .filter(|&r| r != repair.new)
                        .collect(),
                )
            } else {
                continue;
            };
            if let Err(error) = group.replica.propose_membership_change(voters, learners) {
                tracing::warn!(
                    group = group.id,
                    "group {}: membership change refused: {error}",
                    group.id
                );
            }
        }
        for repair in done {
            self.counters.record_repair(repair);
        }
    }

    /// Starts replacing replicas on down or draining nodes (learner first).
    fn start_repairs(
        &mut self,
        topology: &placement::Topology,
        load: &mut BTreeMap<NodeId, usize>,
    ) {
        let me = self.config.id;
        let mut budget =
            REPAIRS_MAX.saturating_sub(self.groups.values().filter(|g| g.repair.is_some()).count());
        let unhealthy = |node: NodeId| {
            topology
                .node(node)
                .is_none_or(|n| n.state != placement::NodeState::Up)
        };
        for group in self.groups.values_mut() {
            if budget == 0 {
                break;
            }
            if !group.is_leader()
                || group.repair.is_some()
                || group.replica.membership_change_pending()
            {
                continue;
            }
            let membership = group.replica.membership().clone();
            let leaving = membership
                .voters
                .iter()
                .copied()
                .find(|&r| node_of(r) != me && unhealthy(node_of(r)));
            // A learner left over (by a leader that lost office mid-repair): carry on with it.
            if let Some(&learner) = membership
                .learners
                .iter()
                .find(|&&r| !unhealthy(node_of(r)))
            {
                group.repair = Some(Repair {
                    new: learner,
                    leaving,
                    since: Instant::now(),
                });
                continue;
            }
            if let Some(&dead_learner) = membership.learners.iter().next() {
                let learners: Vec<ReplicaId> = membership
                    .learners
                    .iter()
                    .copied()
                    .filter(|&r| r != dead_learner)
                    .collect();
                let _ = group.replica.propose_membership_change(
                    membership.voters.iter().copied().collect(),
                    learners,
                );
                continue;
            }
            let Some(leaving) = leaving else { continue };
            let current: Vec<NodeId> = membership
                .voters
                .iter()
                .copied()
                .filter(|&r| r != leaving)
                .map(node_of)
                .collect();
            let Some(target) = placement::replacement(topology, group.id, &current, load) else {
                tracing::warn!(group = group.id, "group {}: replica {leaving} on node {} must be replaced, but no node qualifies", group.id, node_of(leaving));
                continue;
            };
            let new = replica_id(target, fresh_generation(group.replica.last_index()));
            let learners = vec![new];
            match group
                .replica
                .propose_membership_change(membership.voters.iter().copied().collect(), learners)
            {
                Ok(_) => {
                    tracing::info!(
                        group = group.id,
                        "group {}: replacing replica {leaving} (node {}) by {new} on node {target}",
                        group.id,
                        node_of(leaving)
                    );
                    group.repair = Some(Repair {
                        new,
                        leaving: Some(leaving),
                        since: Instant::now(),
                    });
                    *load.entry(target).or_insert(0) += 1;
                    budget -= 1;
                }
                Err(error) => tracing::warn!(
                    group = group.id,
                    "group {}: cannot add a replica on node {target}: {error}",
                    group.id
                ),
            }
        }
    }

    /// Hands each led group to its preferred leader when that node is healthy and caught up;
    /// a group whose preferred leader no longer holds it follows the policy's leader
    /// balancing; a draining node hands all its groups away.
    fn balance_leaders(
        &mut self,
        topology: &placement::Topology,
        current: &BTreeMap<u64, Vec<NodeId>>,
    ) {
        let balanced: BTreeMap<u64, NodeId> =
            placement::balance_leaders(topology, current, None, current.len())
                .into_iter()
                .map(|t| (t.group, t.to))
                .collect();
        let me = self.config.id;
        // A draining node, or one sick with a gray failure, hands every leadership away.
        let draining = topology
            .node(me)
            .is_some_and(|n| n.state == placement::NodeState::Draining)
            || self.health.is_sick();
        let sick_peers = self.sick_peers.clone();
        let healthy = |node: NodeId| {
            topology
                .node(node)
                .is_some_and(|n| n.state == placement::NodeState::Up)
                && !sick_peers.contains(&node)
        };
        for group in self.groups.values_mut() {
            if !group.is_leader()
                || group.repair.is_some()
                || group.replica.membership_change_pending()
            {
                continue;
            }
            if group
                .last_transfer
                .is_some_and(|at| at.elapsed() < TRANSFER_EVERY)
                && !draining
            {
                continue;
            }
            let last = group.replica.last_index();
            let voters: Vec<ReplicaId> =
                group.replica.membership().voters.iter().copied().collect();
            let caught_up = |r: ReplicaId| group.replica.matched(r).is_some_and(|m| m >= last);
            let preferred = self
                .plan
                .get(group.id as usize)
                .and_then(|nodes| nodes.first())
                .copied()
                .filter(|&p| voters.contains(&replica_id(p, 0)));
            let target = if draining {
                voters
                    .iter()
                    .copied()
                    .filter(|&r| node_of(r) != me && healthy(node_of(r)))
                    .max_by_key(|&r| group.replica.matched(r))
            } else if let Some(preferred) = preferred {
                Some(replica_id(preferred, 0))
                    .filter(|&r| node_of(r) != me && healthy(preferred) && caught_up(r))
            } else {
                balanced
                    .get(&group.id)
                    .and_then(|&to| voters.iter().copied().find(|&r| node_of(r) == to))
                    .filter(|&r| node_of(r) != me && healthy(node_of(r)) && caught_up(r))
            };
            if let Some(target) = target {
                if group.replica.transfer_leader(target).is_ok() {
                    group.last_transfer = Some(Instant::now());
                }
            }
        }
    }

    /// Destroys replicas their group no longer has.
    fn remove_orphans(&mut self, reports: &BTreeMap<u64, (GroupReport, Instant)>) {
        let me = self.config.id;
        let orphans: Vec<(u64, &'static str)> = self
            .groups
            .values()
            .filter(|g| !g.is_leader() && g.last_leader_contact.elapsed() > ORPHAN_AFTER)
            .filter_map(|g| {
                let id = g.replica.id();
                let membership = g.replica.membership();
                if !membership.is_joint()
                    && !membership.replicas().is_empty()
                    && !membership.replicas().contains(&id)
                {
                    return Some((g.id, "its group removed it"));
                }
                let (report, _) = reports.get(&g.id)?;
                let excluded = report.leader != me
                    && report.term >= g.replica.term()
                    && !report.replicas().any(|r| r == id);
                excluded.then_some((g.id, "the group's leader reports a membership without it"))
            })
            .collect();
        for (group, why) in orphans {
            self.destroy(group, why);
        }
    }
}

/// A generation for a new replica identity, from the group's log position (never 0, the
/// creation generation).
fn fresh_generation(last_index: u64) -> u64 {
    match (last_index + 1) & 0xFFFF {
        0 => 1,
        g => g,
    }
}
