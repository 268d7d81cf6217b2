//! The nemesis: injects the faults of the enabled classes at random times (Jepsen's word).

use std::collections::BTreeSet;

use raft::{NodeId, Role};

use crate::node::slot_of;
use crate::params::MS;
use crate::sim::{Event, Phase, Sim};

#[derive(Clone, Copy, Debug)]
enum Action {
    Partition,
    Crash,
    Pause,
    Membership,
    TransferLeader,
    Wipe,
    BitFlip,
    DiskFull,
    LoseNode,
}

impl Sim {
    pub(crate) fn on_nemesis(&mut self) {
        if self.phase != Phase::Faults {
            return;
        }
        let faults = self.options.faults;
        let mut actions = Vec::new();
        if faults.partition {
            actions.push(Action::Partition);
        }
        if faults.crash {
            actions.push(Action::Crash);
        }
        if faults.pause {
            actions.push(Action::Pause);
        }
        if faults.membership {
            actions.extend([Action::Membership, Action::TransferLeader]);
        }
        if faults.disk {
            actions.extend([Action::Wipe, Action::BitFlip, Action::DiskFull]);
        }
        if faults.node_loss {
            actions.push(Action::LoseNode);
        }
        if self.params.leader_churn {
            self.churn_leader();
            let gap = self.nemesis_gap();
            self.schedule(gap, Event::Nemesis);
            return;
        }
        if let Some(&action) = self.rng.pick(&actions) {
            match action {
                Action::Partition => self.partition(),
                Action::Crash => self.crash_one(),
                Action::Pause => self.pause_one(),
                Action::Membership => self.change_membership(),
                Action::TransferLeader => self.transfer_leader(),
                Action::Wipe => self.wipe_one(),
                Action::BitFlip => self.flip_bit(),
                Action::DiskFull => self.fill_disk(),
                Action::LoseNode => self.lose_node(),
            }
        }
        let gap = self.nemesis_gap();
        self.schedule(gap, Event::Nemesis);
    }

    /// A group to act on (no draw with one group, so that single-group runs stay as they were).
    fn pick_group(&mut self) -> usize {
        match self.options.groups {
            1 => 0,
            groups => self.rng.range(0, groups as u64) as usize,
        }
    }

    /// The node `group`'s leader runs on, if any replica leads in the highest term.
    pub(crate) fn leader_index(&self, group: usize) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                n.replica(group)
                    .filter(|r| r.role() == Role::Leader)
                    .map(|r| (r.term(), i))
            })
            .max()
            .map(|(_, i)| i)
    }

    /// The leader's node of a random group.
    fn some_leader(&mut self) -> Option<usize> {
        let group = self.pick_group();
        self.leader_index(group)
    }

    /// A victim: often a leader (faults there hurt most), else any node that is up.
    pub(crate) fn victim(&mut self) -> Option<usize> {
        if self.rng.chance(self.params.target_leader_chance) {
            if let Some(leader) = self.some_leader() {
                return Some(leader);
            }
        }
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_up())
            .collect();
        self.rng.pick(&up).copied()
    }

    fn partition(&mut self) {
        let ids: Vec<usize> = (0..self.nodes.len()).collect();
        let mut shuffled = ids.clone();
        self.rng.shuffle(&mut shuffled);
        let kind = self.rng.range(0, 4);
        let (side_a, side_b, bridge): (Vec<usize>, Vec<usize>, Option<usize>) = match kind {
            0 => {
                let cut = self.rng.range(1, ids.len().max(2) as u64) as usize;
                (
                    shuffled[..cut.min(shuffled.len())].to_vec(),
                    shuffled[cut.min(shuffled.len())..].to_vec(),
                    None,
                )
            }
            1 => {
                let leader = self.some_leader().unwrap_or(shuffled[0]);
                (
                    vec![leader],
                    ids.iter().copied().filter(|&id| id != leader).collect(),
                    None,
                )
            }
            _ => {
                let bridge = shuffled[0];
                let rest = &shuffled[1..];
                let half = rest.len() / 2;
                (rest[..half].to_vec(), rest[half..].to_vec(), Some(bridge))
            }
        };
        let one_way = kind == 3;
        self.blocked = BTreeSet::new();
        for &a in &side_a {
            for &b in &side_b {
                self.blocked.insert((a, b));
                if !one_way {
                    self.blocked.insert((b, a));
                }
            }
        }
        self.partition_epoch += 1;
        let names = ["halves", "isolate-leader", "bridge", "one-way"];
        self.trace_note(format!(
            "partition {} {:?} | {:?} bridge={:?}",
            names[kind as usize], side_a, side_b, bridge
        ));
        let duration = self.rng.range(100 * MS, 4_000 * MS);
        let epoch = self.partition_epoch;
        self.schedule(duration, Event::Heal { epoch });
    }

    pub(crate) fn on_heal(&mut self, epoch: u64) {
        if epoch == self.partition_epoch && !self.blocked.is_empty() {
            self.blocked.clear();
            self.trace_note("partition healed".to_owned());
        }
    }

    /// Leader churn: cut the leader off alone for a moment, or crash it, so that it keeps
    /// entries nobody else has while the others elect a successor.
    pub(crate) fn on_strike_leader(&mut self, node: usize, term: raft::Term) {
        let still_leads = self.nodes[node]
            .replica(crate::sim::CHURN_GROUP)
            .is_some_and(|r| r.role() == Role::Leader && r.term() == term);
        if self.phase == Phase::Faults && still_leads {
            self.churn(node);
        }
    }

    fn churn_leader(&mut self) {
        if let Some(leader) = self.leader_index(crate::sim::CHURN_GROUP) {
            self.churn(leader);
        }
    }

    fn churn(&mut self, leader: usize) {
        let crash =
            self.options.faults.crash && (!self.options.faults.partition || self.rng.chance(0.5));
        if crash {
            self.nodes[leader].crash();
            self.trace_note(format!("churn: crash leader n{}", leader + 1));
            let downtime = self.rng.range(5 * MS, 200 * MS);
            self.schedule(downtime, Event::Restart { node: leader });
            return;
        }
        self.blocked = (0..self.nodes.len())
            .filter(|&other| other != leader)
            .flat_map(|other| [(leader, other), (other, leader)])
            .collect();
        self.partition_epoch += 1;
        self.trace_note(format!("churn: isolate leader n{}", leader + 1));
        let duration = self.rng.range(5 * MS, 200 * MS);
        let epoch = self.partition_epoch;
        self.schedule(duration, Event::Heal { epoch });
    }

    fn crash_one(&mut self) {
        let Some(index) = self.victim() else { return };
        self.nodes[index].crash();
        self.trace_note(format!("crash n{}", index + 1));
        let downtime = self.rng.range(10 * MS, 3_000 * MS);
        self.schedule(downtime, Event::Restart { node: index });
    }

    /// The node of `group`'s leader in the newest term any running replica knows, if it
    /// leads now; a deposed leader that has not noticed yet (paused, cut off) has an
    /// outdated view.
    pub(crate) fn current_leader(&self, group: usize) -> Option<usize> {
        let newest_term = self
            .nodes
            .iter()
            .filter_map(|n| n.replica(group))
            .map(|r| r.term())
            .max()?;
        self.leader_index(group).filter(|&i| {
            self.nodes[i]
                .replica(group)
                .is_some_and(|r| r.term() == newest_term)
        })
    }

    /// The membership of `group`'s current leader, if any.
    pub(crate) fn leader_membership(&self, group: usize) -> Option<raft::Membership> {
        let leader = self.current_leader(group)?;
        self.nodes[leader]
            .replica(group)
            .map(|r| r.membership().clone())
    }

    /// Identities in `membership` whose node has since taken a new identity in `group`.
    pub(crate) fn stale_identities(
        &self,
        group: usize,
        membership: &raft::Membership,
    ) -> Vec<NodeId> {
        membership
            .replicas()
            .into_iter()
            .filter(|&id| {
                self.nodes
                    .get(slot_of(id))
                    .and_then(|n| n.id_in(group))
                    .is_some_and(|current| current != id)
            })
            .collect()
    }

    /// Identities in `membership` on nodes lost for good.
    pub(crate) fn lost_identities(&self, membership: &raft::Membership) -> Vec<NodeId> {
        membership
            .replicas()
            .into_iter()
            .filter(|&id| self.nodes.get(slot_of(id)).is_some_and(|n| n.lost))
            .collect()
    }

    /// An operator deletes a node's data directory (every group's). Only when each group can
    /// afford it (see `may_destroy_data`).
    fn wipe_one(&mut self) {
        let Some((index, membership)) = self.data_victim() else {
            return;
        };
        self.nodes[index].crash();
        if let Some(disk) = self.nodes[index].disk_mut() {
            disk.wipe();
        }
        self.nodes[index].take_new_identities();
        self.disk_stats.wipes += 1;
        let ids: Vec<NodeId> = self.nodes[index]
            .groups
            .values()
            .map(|hosted| hosted.id)
            .collect();
        self.trace_note(format!(
            "operator wipes n{}: it returns as replicas {ids:?} (group voters {:?})",
            index + 1,
            membership.voters
        ));
        let downtime = self.rng.range(10 * MS, 1_000 * MS);
        self.schedule(downtime, Event::Restart { node: index });
    }

    /// A node whose data may be destroyed: a voter of a random group that can afford to lose
    /// it, on a node every one of whose groups can too.
    fn data_victim(&mut self) -> Option<(usize, raft::Membership)> {
        let group = self.pick_group();
        let membership = self.may_destroy_data(group)?;
        let voters: Vec<NodeId> = membership.voters.iter().copied().collect();
        let index = slot_of(*self.rng.pick(&voters)?);
        self.node_may_lose_data(index)
            .then_some((index, membership))
    }

    /// Whether `group` can afford to lose one more replica's data: only then does the lab
    /// destroy or damage data (it checks Raft, not what happens when a majority's data is
    /// gone). No change may be under way, no node down, no damage unmet, and no replica
    /// awaiting its replacement.
    fn may_destroy_data(&self, group: usize) -> Option<raft::Membership> {
        let leader = self.current_leader(group)?;
        let leader_replica = self.nodes[leader].replica(group)?;
        let membership = leader_replica.membership().clone();
        let anyone_changing = self
            .nodes
            .iter()
            .filter_map(|n| n.replica(group))
            .any(|r| r.membership_change_pending());
        // A voter still catching up (a new replica after a wipe, say) holds no data yet: losing
        // another one then would leave a minority with the data, which the lab does not test.
        let all_caught_up = membership.voters.iter().all(|&v| {
            leader_replica
                .matched(v)
                .is_some_and(|m| m >= leader_replica.commit_index())
        });
        let anyone_down = self.nodes.iter().any(|n| !n.is_up() && !n.lost);
        let ok = !anyone_changing
            && all_caught_up
            && !anyone_down
            && self.latent_damage.is_empty()
            && membership.voters.len() >= 3
            && self.stale_identities(group, &membership).is_empty()
            && self.lost_identities(&membership).is_empty();
        ok.then_some(membership)
    }

    /// Whether every group with a replica on node `index` can afford to lose it.
    pub(crate) fn node_may_lose_data(&self, index: usize) -> bool {
        self.nodes[index].groups.iter().all(|(&group, hosted)| {
            let member = self
                .leader_membership(group)
                .is_none_or(|m| m.replicas().contains(&hosted.id));
            !member || self.may_destroy_data(group).is_some()
        })
    }

    /// A bit rots in a sealed log segment (or a snapshot file) of one voter's node; the node
    /// crashes soon after and meets the damage in recovery.
    fn flip_bit(&mut self) {
        let Some((index, _)) = self.data_victim() else {
            return;
        };
        let prefix = if self.rng.chance(0.5) {
            "wal/"
        } else {
            "snap/"
        };
        let Some(flipped) = self.nodes[index]
            .disk_mut()
            .and_then(|d| d.flip_bit_at_rest(prefix, true))
        else {
            return;
        };
        self.trace_note(format!(
            "bit flip on n{} in {} at byte {}",
            index + 1,
            flipped.0,
            flipped.1
        ));
        self.disk_stats.bit_flips += 1;
        self.latent_damage.insert(index);
        self.nodes[index].crash();
        let downtime = self.rng.range(10 * MS, 500 * MS);
        self.schedule(downtime, Event::Restart { node: index });
    }

    /// A node's disk fills up (logs of another process, say) until the operator frees space.
    fn fill_disk(&mut self) {
        let Some(index) = self.victim() else { return };
        let Some(disk) = self.nodes[index].disk_mut() else {
            return;
        };
        let used = disk.used_bytes();
        disk.set_capacity(used + 512);
        self.trace_note(format!("disk of n{} full at {used} bytes", index + 1));
        let duration = self.rng.range(100 * MS, 3_000 * MS);
        self.schedule(duration, Event::DiskSpace { node: index });
    }

    pub(crate) fn on_disk_space(&mut self, index: usize) {
        if let Some(disk) = self.nodes[index].disk_mut() {
            disk.set_capacity(crate::sim::DISK_CAPACITY);
            self.trace_note(format!("disk of n{} has space again", index + 1));
        }
    }

    pub(crate) fn on_restart(&mut self, index: usize) {
        if !self.nodes[index].is_up() && !self.nodes[index].lost {
            self.trace_note(format!("restart n{}", index + 1));
            self.start_node(index);
        }
    }

    fn pause_one(&mut self) {
        let Some(index) = self.victim() else { return };
        let duration = self.rng.range(50 * MS, 3_000 * MS);
        self.nodes[index].paused_until = self.now + duration;
        self.trace_note(format!("pause n{} for {}ms", index + 1, duration / MS));
    }

    /// Asks a group's leader for a new random membership: 1, 3 or 5 voters, some learners,
    /// among the nodes that host the group (and, with many groups, one more node that gets a
    /// new replica for it, so that groups also move).
    fn change_membership(&mut self) {
        let group = self.pick_group();
        let Some(leader) = self.leader_index(group) else {
            return;
        };
        if !self.latent_damage.is_empty() {
            return;
        }
        let mut ids: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|n| !n.lost)
            .filter_map(|n| n.id_in(group))
            .collect();
        if self.options.groups > 1 {
            ids.extend(self.host_on_another_node(group));
        }
        self.rng.shuffle(&mut ids);
        let size = [1, 3, 3, 5][self.rng.range(0, 4) as usize].min(ids.len());
        let voters = ids[..size].to_vec();
        let Some(replica) = self.nodes[leader].replica_mut(group) else {
            return;
        };
        let current = replica.membership().voters.clone();
        let learners: Vec<NodeId> = ids[size..]
            .iter()
            .copied()
            .filter(|id| !current.contains(id))
            .collect();
        let result = replica.propose_membership_change(voters.clone(), learners.clone());
        if result.is_ok() {
            self.repairs.on_reshaped(group);
        }
        self.trace_note(format!("membership change of group {group} to voters {voters:?} learners {learners:?}: {result:?}"));
        self.after_admin_action(leader);
    }

    /// Hosts a new replica of `group` on a random node that is neither lost nor hosting it;
    /// returns its id.
    fn host_on_another_node(&mut self, group: usize) -> Option<NodeId> {
        let others: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].lost && !self.nodes[i].groups.contains_key(&group))
            .collect();
        let &index = self.rng.pick(&others)?;
        self.host_replica(index, group)
    }

    /// Node `index`'s replica of `group`, hosting a new one that waits to be added if the node
    /// has none; `None` (and a violation) if the core refuses to start it.
    pub(crate) fn host_replica(&mut self, index: usize, group: usize) -> Option<NodeId> {
        if let Some(id) = self.nodes[index].id_in(group) {
            return Some(id);
        }
        let config = self.raft_config();
        match self.nodes[index].host(group, config) {
            Ok(id) => Some(id),
            Err(error) => {
                self.observer
                    .violation(format!("n{} cannot host group {group}: {error}", index + 1));
                None
            }
        }
    }

    fn transfer_leader(&mut self) {
        let group = self.pick_group();
        let Some(leader) = self.leader_index(group) else {
            return;
        };
        let Some(replica) = self.nodes[leader].replica(group) else {
            return;
        };
        let voters: Vec<NodeId> = replica.membership().voters.iter().copied().collect();
        let Some(&target) = self.rng.pick(&voters) else {
            return;
        };
        let Some(replica) = self.nodes[leader].replica_mut(group) else {
            return;
        };
        let result = replica.transfer_leader(target);
        self.trace_note(format!(
            "transfer leadership n{} -> n{target}: {result:?}",
            leader + 1
        ));
        self.after_admin_action(leader);
    }

    /// An admin call changed a replica outside a node event: flush what it produced.
    pub(crate) fn after_admin_action(&mut self, index: usize) {
        self.schedule(
            0,
            Event::Flush {
                node: index,
                incarnation: self.nodes[index].incarnation,
            },
        );
    }
}
