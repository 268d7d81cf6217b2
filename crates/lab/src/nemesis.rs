//! The nemesis: injects the faults of the enabled classes at random times (Jepsen's word).

use std::collections::BTreeSet;

use raft::{NodeId, Role};

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
            }
        }
        let gap = self.nemesis_gap();
        self.schedule(gap, Event::Nemesis);
    }

    /// The node the current leader runs on, if any node leads in the highest term.
    fn leader_index(&self) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.replica.as_ref().filter(|r| r.role() == Role::Leader).map(|r| (r.term(), i)))
            .max()
            .map(|(_, i)| i)
    }

    /// A victim: often the leader (faults there hurt most), else any node that is up.
    fn victim(&mut self) -> Option<usize> {
        if self.rng.chance(self.params.target_leader_chance) {
            if let Some(leader) = self.leader_index() {
                return Some(leader);
            }
        }
        let up: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].is_up()).collect();
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
                (shuffled[..cut.min(shuffled.len())].to_vec(), shuffled[cut.min(shuffled.len())..].to_vec(), None)
            }
            1 => {
                let leader = self.leader_index().unwrap_or(shuffled[0]);
                (vec![leader], ids.iter().copied().filter(|&id| id != leader).collect(), None)
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
        self.trace_note(format!("partition {} {:?} | {:?} bridge={:?}", names[kind as usize], side_a, side_b, bridge));
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
        let still_leads = self.nodes[node].replica.as_ref().is_some_and(|r| r.role() == Role::Leader && r.term() == term);
        if self.phase == Phase::Faults && still_leads {
            self.churn(node);
        }
    }

    fn churn_leader(&mut self) {
        if let Some(leader) = self.leader_index() {
            self.churn(leader);
        }
    }

    fn churn(&mut self, leader: usize) {
        let crash = self.options.faults.crash && (!self.options.faults.partition || self.rng.chance(0.5));
        if crash {
            self.nodes[leader].crash();
            self.trace_note(format!("churn: crash leader n{}", leader + 1));
            let downtime = self.rng.range(5 * MS, 200 * MS);
            self.schedule(downtime, Event::Restart { node: leader });
            return;
        }
        self.blocked = (0..self.nodes.len()).filter(|&other| other != leader).flat_map(|other| [(leader, other), (other, leader)]).collect();
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

    /// The leader of the newest term any running node knows, if it leads now; a deposed
    /// leader that has not noticed yet (paused, cut off) has an outdated view.
    fn current_leader(&self) -> Option<usize> {
        let newest_term = self.nodes.iter().filter_map(|n| n.replica.as_ref()).map(|r| r.term()).max()?;
        self.leader_index().filter(|&i| self.nodes[i].replica.as_ref().is_some_and(|r| r.term() == newest_term))
    }

    /// The membership of the current leader, if any.
    fn leader_membership(&self) -> Option<raft::Membership> {
        let leader = self.current_leader()?;
        self.nodes[leader].replica.as_ref().map(|r| r.membership().clone())
    }

    /// Identities in the leader's membership whose node has since taken a new identity.
    fn stale_identities(&self, membership: &raft::Membership) -> Vec<NodeId> {
        membership.replicas().into_iter().filter(|&id| self.nodes.get(crate::node::slot_of(id)).is_some_and(|n| n.id != id)).collect()
    }

    /// An operator deletes a node's data directory. Only when the group can afford it: a
    /// majority of intact voters must remain, and no other replacement may be under way (the
    /// lab checks Raft, not what happens when a majority's data is destroyed).
    fn wipe_one(&mut self) {
        let Some(membership) = self.may_destroy_data() else { return };
        let Some(&victim_id) = self.rng.pick(&membership.voters.iter().copied().collect::<Vec<_>>()) else { return };
        let index = crate::node::slot_of(victim_id);
        self.nodes[index].crash();
        if let Some(disk) = self.nodes[index].disk_mut() {
            disk.wipe();
        }
        self.nodes[index].take_new_identity();
        self.disk_stats.wipes += 1;
        self.trace_note(format!("operator wipes n{}: it returns as replica {} (group voters {:?})", index + 1, self.nodes[index].id, membership.voters));
        let downtime = self.rng.range(10 * MS, 1_000 * MS);
        self.schedule(downtime, Event::Restart { node: index });
    }

    /// Whether the group can afford to lose one more replica's data: only then does the lab
    /// destroy or damage data (it checks Raft, not what happens when a majority's data is gone).
    fn may_destroy_data(&self) -> Option<raft::Membership> {
        let leader = self.current_leader()?;
        let membership = self.nodes[leader].replica.as_ref()?.membership().clone();
        let anyone_changing = self.nodes.iter().filter_map(|n| n.replica.as_ref()).any(|r| r.membership_change_pending());
        let anyone_down = self.nodes.iter().any(|n| !n.is_up());
        let ok = !anyone_changing
            && !anyone_down
            && self.latent_damage.is_empty()
            && membership.voters.len() >= 3
            && self.stale_identities(&membership).is_empty();
        ok.then_some(membership)
    }

    /// A bit rots in a sealed log segment (or a snapshot file) of one voter; the node crashes
    /// soon after and meets the damage in recovery.
    fn flip_bit(&mut self) {
        let Some(membership) = self.may_destroy_data() else { return };
        let voters: Vec<NodeId> = membership.voters.iter().copied().collect();
        let Some(&victim) = self.rng.pick(&voters) else { return };
        let index = crate::node::slot_of(victim);
        let prefix = if self.rng.chance(0.5) { "wal/" } else { "snap/" };
        let Some(flipped) = self.nodes[index].disk_mut().and_then(|d| d.flip_bit_at_rest(prefix, true)) else { return };
        self.trace_note(format!("bit flip on n{} in {} at byte {}", index + 1, flipped.0, flipped.1));
        self.disk_stats.bit_flips += 1;
        self.latent_damage.insert(index);
        self.nodes[index].crash();
        let downtime = self.rng.range(10 * MS, 500 * MS);
        self.schedule(downtime, Event::Restart { node: index });
    }

    /// A node's disk fills up (logs of another process, say) until the operator frees space.
    fn fill_disk(&mut self) {
        let Some(index) = self.victim() else { return };
        let Some(disk) = self.nodes[index].disk_mut() else { return };
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

    /// The repair loop: the leader replaces each stale identity by the node's new one.
    pub(crate) fn on_repair(&mut self) {
        self.schedule(crate::sim::REPAIR_INTERVAL, Event::Repair);
        let (Some(leader), Some(membership)) = (self.current_leader(), self.leader_membership()) else { return };
        let Some(&stale) = self.stale_identities(&membership).first() else { return };
        let fresh = self.nodes[crate::node::slot_of(stale)].id;
        let swap = |set: &std::collections::BTreeSet<NodeId>| -> Vec<NodeId> {
            set.iter().map(|&id| if id == stale { fresh } else { id }).collect()
        };
        let (voters, learners) = (swap(&membership.voters), swap(&membership.learners));
        let Some(replica) = self.nodes[leader].replica.as_mut() else { return };
        let result = replica.propose_membership_change(voters.clone(), learners.clone());
        if result.is_ok() {
            self.trace_note(format!("repair: replace replica {stale} by {fresh}: voters {voters:?} learners {learners:?}"));
            self.after_admin_action(leader);
        }
    }

    pub(crate) fn on_restart(&mut self, index: usize) {
        if !self.nodes[index].is_up() {
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

    /// Asks the leader for a new random membership: 1, 3 or 5 voters, some learners.
    fn change_membership(&mut self) {
        let Some(leader) = self.leader_index() else { return };
        if !self.latent_damage.is_empty() {
            return;
        }
        let mut ids: Vec<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        self.rng.shuffle(&mut ids);
        let size = [1, 3, 3, 5][self.rng.range(0, 4) as usize].min(ids.len());
        let voters = ids[..size].to_vec();
        let Some(replica) = self.nodes[leader].replica.as_mut() else { return };
        let current = replica.membership().voters.clone();
        let learners: Vec<NodeId> = ids[size..].iter().copied().filter(|id| !current.contains(id)).collect();
        let result = replica.propose_membership_change(voters.clone(), learners.clone());
        self.trace_note(format!("membership change to voters {voters:?} learners {learners:?}: {result:?}"));
        self.after_admin_action(leader);
    }

    fn transfer_leader(&mut self) {
        let Some(leader) = self.leader_index() else { return };
        let Some(replica) = self.nodes[leader].replica.as_mut() else { return };
        let voters: Vec<NodeId> = replica.membership().voters.iter().copied().collect();
        let Some(&target) = self.rng.pick(&voters) else { return };
        let Some(replica) = self.nodes[leader].replica.as_mut() else { return };
        let result = replica.transfer_leader(target);
        self.trace_note(format!("transfer leadership n{} -> n{target}: {result:?}", leader + 1));
        self.after_admin_action(leader);
    }

    /// An admin call changed a replica outside a node event: flush what it produced.
    fn after_admin_action(&mut self, index: usize) {
        self.schedule(0, Event::Flush { node: index, incarnation: self.nodes[index].incarnation });
    }
}
