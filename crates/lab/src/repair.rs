//! Node loss and the repair loop, the lab's stand-in for a placement driver.
//!
//! The loop runs every `REPAIR_INTERVAL` and makes at most one membership change per group at a
//! time, by joint consensus through the group's leader:
//! - a replica that took a new identity (its node was wiped, or recovery found it damaged) is
//!   swapped for the new one;
//! - a replica on a node lost for good, once the node has been down `DOWN_AFTER`, is replaced:
//!   a learner is added on a node outside the group, caught up (log or snapshot), then
//!   promoted while the dead replica is removed. At most `CATCH_UPS_PER_NODE_MAX` learners
//!   catch up on one node at once, so repair does not swamp a node.
//!
//! The nemesis loses a node only while every group it holds can spare it and nothing else is
//! being repaired, so every group keeps a majority of intact replicas.

use std::collections::{BTreeMap, BTreeSet};

use raft::{Membership, NodeId};

use crate::node::slot_of;
use crate::params::MS;
use crate::sim::{Event, Sim};

/// How long a node must be unreachable before its replicas are rebuilt elsewhere.
pub const DOWN_AFTER: u64 = 2_000 * MS;

/// Learners catching up on one node at once.
pub const CATCH_UPS_PER_NODE_MAX: usize = 2;

/// What the repair loop knows about lost nodes.
#[derive(Debug, Default)]
pub(crate) struct Repairs {
    /// Lost nodes (slots) and when they were lost.
    lost_at: BTreeMap<usize, u64>,
    /// Groups that held a replica on the latest lost node and are not whole again.
    pending: BTreeMap<usize, GroupRepair>,
    /// Per group, the node where its replacement learner catches up.
    catching_up: BTreeMap<usize, usize>,
    /// For each loss whose groups are all repaired: microseconds until they were.
    pub durations: Vec<u64>,
}

/// One group's repair after a node loss.
#[derive(Debug)]
struct GroupRepair {
    /// Voters the group had when the node was lost: the count to restore.
    voters_needed: usize,
    /// The membership nemesis reshaped the group since: its new size is on purpose.
    reshaped: bool,
}

impl Repairs {
    pub fn nodes_lost(&self) -> usize {
        self.lost_at.len()
    }

    /// Whether every group that held a replica on a lost node is whole again.
    pub fn all_repaired(&self) -> bool {
        self.pending.is_empty()
    }

    /// The membership nemesis changed `group` on purpose: its voter count is what it chose.
    pub fn on_reshaped(&mut self, group: usize) {
        if let Some(repair) = self.pending.get_mut(&group) {
            repair.reshaped = true;
        }
    }

    /// Catch-ups under way on node `slot`.
    fn catch_ups_on(&self, slot: usize) -> usize {
        self.catching_up
            .values()
            .filter(|&&target| target == slot)
            .count()
    }
}

impl Sim {
    /// The nemesis loses a node for good: its disk is destroyed and it never returns. Only
    /// when every group it holds can spare its data and has somewhere to rebuild it, and no
    /// earlier loss is still being repaired.
    pub(crate) fn lose_node(&mut self) {
        let Some(index) = self.victim() else { return };
        if !self.repairs.all_repaired() || !self.node_may_lose_data(index) {
            return;
        }
        // A change under way may still add this node's replica to a group: wait for it.
        let changing = |group: &usize| {
            self.nodes
                .iter()
                .filter_map(|n| n.replica(*group))
                .any(|r| r.membership_change_pending())
        };
        if self.nodes[index].groups.keys().any(changing) {
            return;
        }
        let mut held = BTreeMap::new();
        for (&group, hosted) in &self.nodes[index].groups {
            let Some(membership) = self
                .leader_membership(group)
                .filter(|m| m.replicas().contains(&hosted.id))
            else {
                continue;
            };
            if self
                .repair_target(group, &membership, Some(index))
                .is_none()
            {
                return;
            }
            held.insert(
                group,
                GroupRepair {
                    voters_needed: membership.voters.len(),
                    reshaped: false,
                },
            );
        }
        self.nodes[index].crash();
        if let Some(disk) = self.nodes[index].disk_mut() {
            disk.wipe();
        }
        self.nodes[index].lost = true;
        self.trace_note(format!(
            "node n{} lost for good: groups {:?} need repair",
            index + 1,
            held.keys().collect::<Vec<_>>()
        ));
        self.repairs.lost_at.insert(index, self.now);
        self.repairs.pending = held;
        self.note_repairs_done();
    }

    /// Node `index` is gone for good (or being decommissioned) since `since`: every group
    /// with a replica on it and a surviving member needs that replica rebuilt elsewhere. A
    /// group with no surviving member cannot be repaired: its data is lost.
    pub(crate) fn register_loss(&mut self, index: usize, since: u64) {
        self.nodes[index].lost = true;
        self.repairs.lost_at.insert(index, since);
        for (&group, hosted) in &self.nodes[index].groups {
            let Some(membership) = self
                .leader_membership(group)
                .or_else(|| crate::check::newest_membership(&self.nodes, group))
            else {
                continue;
            };
            if !membership.replicas().contains(&hosted.id) {
                continue;
            }
            let survivors = membership
                .voters
                .iter()
                .any(|&id| !self.nodes[slot_of(id)].lost);
            if survivors {
                self.repairs.pending.entry(group).or_insert(GroupRepair {
                    voters_needed: membership.voters.len(),
                    reshaped: false,
                });
            }
        }
    }

    /// The nodes as the placement policy sees them: a scenario's real labels, else one rack
    /// and host per node.
    pub(crate) fn placement_topology(
        &self,
        state: impl Fn(usize) -> placement::NodeState,
    ) -> placement::Topology {
        match &self.world {
            Some(world) => {
                crate::scenario::placement_topology(&world.topology, |slot| Some(state(slot)))
            }
            None => crate::layout::topology(self.nodes.len(), state),
        }
    }

    /// The repair loop (see the module doc): one change per group per round, at most.
    pub(crate) fn on_repair(&mut self) {
        self.schedule(crate::sim::REPAIR_INTERVAL, Event::Repair);
        for group in 0..self.options.groups {
            let (Some(leader), Some(membership)) =
                (self.current_leader(group), self.leader_membership(group))
            else {
                continue;
            };
            if let Some(&stale) = self.stale_identities(group, &membership).first() {
                self.replace_stale(group, leader, &membership, stale);
            } else if !self.lost_identities(&membership).is_empty() {
                // A change that was not yet committed when the node was lost may bring its
                // replica in only now: such a group needs repair too.
                let voters_needed = membership.voters.len();
                self.repairs.pending.entry(group).or_insert(GroupRepair {
                    voters_needed,
                    reshaped: false,
                });
                self.replace_lost(group, leader, &membership);
            }
        }
        self.note_repairs_done();
    }

    /// Swaps a replica's old identity for its node's new one.
    fn replace_stale(
        &mut self,
        group: usize,
        leader: usize,
        membership: &Membership,
        stale: NodeId,
    ) {
        let Some(fresh) = self.nodes[slot_of(stale)].id_in(group) else {
            return;
        };
        let swap = |set: &BTreeSet<NodeId>| -> Vec<NodeId> {
            set.iter()
                .map(|&id| if id == stale { fresh } else { id })
                .collect()
        };
        let (voters, learners) = (swap(&membership.voters), swap(&membership.learners));
        self.propose_repair(
            group,
            leader,
            voters,
            learners,
            format!("replace replica {stale} by {fresh}"),
        );
    }

    /// One step of replacing `group`'s replica on a lost node: add a learner elsewhere, wait
    /// for it to catch up, then promote it and drop the dead replica in one joint change.
    fn replace_lost(&mut self, group: usize, leader: usize, membership: &Membership) {
        let Some(&dead) = self.lost_identities(membership).first() else {
            return;
        };
        let lost_at = self
            .repairs
            .lost_at
            .get(&slot_of(dead))
            .copied()
            .unwrap_or_default();
        if self.now < lost_at + self.down_after {
            return;
        }
        let without = |set: &BTreeSet<NodeId>, drop: &[NodeId]| -> Vec<NodeId> {
            set.iter()
                .copied()
                .filter(|id| !drop.contains(id))
                .collect()
        };
        if !membership.voters.contains(&dead) {
            let (voters, learners) = (
                without(&membership.voters, &[]),
                without(&membership.learners, &[dead]),
            );
            self.propose_repair(
                group,
                leader,
                voters,
                learners,
                format!("drop learner {dead} on a lost node"),
            );
            return;
        }
        let learner = self
            .repairs
            .catching_up
            .get(&group)
            .and_then(|&slot| self.nodes[slot].id_in(group));
        match learner {
            Some(learner) if membership.voters.contains(&learner) => {
                self.repairs.catching_up.remove(&group);
            }
            Some(learner) if membership.learners.contains(&learner) => {
                let Some(replica) = self.nodes[leader].replica(group) else {
                    return;
                };
                if replica
                    .matched(learner)
                    .is_none_or(|matched| matched < replica.commit_index())
                {
                    return;
                }
                let mut voters = without(&membership.voters, &[dead]);
                voters.push(learner);
                let learners = without(&membership.learners, &[dead, learner]);
                if self.propose_repair(
                    group,
                    leader,
                    voters,
                    learners,
                    format!("promote {learner} in place of {dead} (lost)"),
                ) {
                    self.repairs.catching_up.remove(&group);
                }
            }
            _ => self.add_learner(group, leader, membership),
        }
    }

    /// Starts a replacement for `group`: a learner on the least loaded eligible node.
    fn add_learner(&mut self, group: usize, leader: usize, membership: &Membership) {
        let target = match self.repairs.catching_up.get(&group) {
            Some(&slot) => slot,
            None => match self.repair_target(group, membership, None) {
                Some(slot) if self.repairs.catch_ups_on(slot) < CATCH_UPS_PER_NODE_MAX => slot,
                _ => return,
            },
        };
        let Some(id) = self.host_replica(target, group) else {
            return;
        };
        self.repairs.catching_up.insert(group, target);
        let voters = membership.voters.iter().copied().collect();
        let learners = membership.learners.iter().copied().chain([id]).collect();
        self.propose_repair(
            group,
            leader,
            voters,
            learners,
            format!("add learner {id} on n{}", target + 1),
        );
    }

    /// Where a replacement for `group` may go, as the server's placement policy chooses:
    /// among nodes up and not lost (nor `excluded`) and not holding a member of the group, the
    /// best spread, then the fewest replicas.
    fn repair_target(
        &self,
        group: usize,
        membership: &Membership,
        excluded: Option<usize>,
    ) -> Option<usize> {
        let members = membership.replicas();
        let usable = |i: usize| Some(i) != excluded && !self.nodes[i].lost && self.nodes[i].is_up();
        let topology = self.placement_topology(|i| {
            if usable(i) {
                placement::NodeState::Up
            } else {
                placement::NodeState::Down
            }
        });
        let current: Vec<u64> = (0..self.nodes.len())
            .filter(|&i| {
                usable(i)
                    && self.nodes[i]
                        .id_in(group)
                        .is_some_and(|id| members.contains(&id))
            })
            .map(|i| i as u64 + 1)
            .collect();
        let load: std::collections::BTreeMap<u64, usize> = (0..self.nodes.len())
            .map(|i| {
                (
                    i as u64 + 1,
                    self.nodes[i].groups.len() + self.repairs.catch_ups_on(i),
                )
            })
            .collect();
        placement::replacement(&topology, group as u64 + 1, &current, &load)
            .map(|id| id as usize - 1)
    }

    /// Proposes a repair's membership change at `group`'s leader; whether it was accepted.
    fn propose_repair(
        &mut self,
        group: usize,
        leader: usize,
        voters: Vec<NodeId>,
        learners: Vec<NodeId>,
        what: String,
    ) -> bool {
        let Some(replica) = self.nodes[leader].replica_mut(group) else {
            return false;
        };
        let accepted = replica
            .propose_membership_change(voters.clone(), learners.clone())
            .is_ok();
        if accepted {
            self.trace_note(format!(
                "repair group {group}: {what}: voters {voters:?} learners {learners:?}"
            ));
            self.after_admin_action(leader);
        }
        accepted
    }

    /// Drops the groups that are whole again from the pending repairs, and records the time to
    /// full repair of the latest loss once none is left (again, if a group turned up late).
    fn note_repairs_done(&mut self) {
        let done: Vec<usize> = self
            .repairs
            .pending
            .iter()
            .filter(|&(&group, repair)| self.group_whole(group, repair))
            .map(|(&group, _)| group)
            .collect();
        for &group in &done {
            self.repairs.pending.remove(&group);
            self.repairs.catching_up.remove(&group);
            self.trace_note(format!("repair group {group}: complete"));
        }
        let Some((&slot, &at)) = self.repairs.lost_at.iter().max_by_key(|&(_, &at)| at) else {
            return;
        };
        let first_time = self.repairs.durations.len() < self.repairs.lost_at.len();
        if self.repairs.pending.is_empty() && (first_time || !done.is_empty()) {
            self.repairs
                .durations
                .truncate(self.repairs.lost_at.len() - 1);
            self.repairs.durations.push(self.now - at);
            self.trace_note(format!(
                "every group of lost node n{} repaired after {} ms",
                slot + 1,
                (self.now - at) / MS
            ));
        }
    }

    /// Whether `group`'s committed membership has no replica on a lost node and (unless the
    /// nemesis reshaped it) as many voters as before the loss.
    fn group_whole(&self, group: usize, repair: &GroupRepair) -> bool {
        let Some(leader) = self.current_leader(group) else {
            return false;
        };
        let Some(replica) = self.nodes[leader].replica(group) else {
            return false;
        };
        let membership = replica.membership();
        !replica.membership_change_pending()
            && self.lost_identities(membership).is_empty()
            && (repair.reshaped || membership.voters.len() >= repair.voters_needed)
    }

    /// The repair-completed check after the run: every group back to full replica count, with
    /// no replica on a lost node.
    pub(crate) fn check_repairs_completed(&mut self) {
        for (&group, repair) in &self.repairs.pending {
            let membership = crate::check::newest_membership(&self.nodes, group);
            let text = format!(
                "repair incomplete: group {group} needs {} voters, has {:?} (lost replicas {:?})",
                repair.voters_needed,
                membership.as_ref().map(|m| &m.voters),
                membership.as_ref().map(|m| self.lost_identities(m))
            );
            self.observer.violation(text);
        }
        for group in 0..self.options.groups {
            let Some(membership) = crate::check::newest_membership(&self.nodes, group) else {
                continue;
            };
            let lost = self.lost_identities(&membership);
            if !lost.is_empty() && !self.repairs.pending.contains_key(&group) {
                self.observer.violation(format!(
                    "repair: group {group} still has replicas {lost:?} on lost nodes"
                ));
            }
        }
    }
}
