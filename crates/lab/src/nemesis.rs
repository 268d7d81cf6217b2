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
        let ids: Vec<NodeId> = (1..=self.nodes.len() as NodeId).collect();
        let mut shuffled = ids.clone();
        self.rng.shuffle(&mut shuffled);
        let kind = self.rng.range(0, 4);
        let (side_a, side_b, bridge): (Vec<NodeId>, Vec<NodeId>, Option<NodeId>) = match kind {
            0 => {
                let cut = self.rng.range(1, ids.len().max(2) as u64) as usize;
                (shuffled[..cut.min(shuffled.len())].to_vec(), shuffled[cut.min(shuffled.len())..].to_vec(), None)
            }
            1 => {
                let leader = self.leader_index().map_or(shuffled[0], |i| i as NodeId + 1);
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
        let id = leader as NodeId + 1;
        self.blocked = (1..=self.nodes.len() as NodeId).filter(|&other| other != id).flat_map(|other| [(id, other), (other, id)]).collect();
        self.partition_epoch += 1;
        self.trace_note(format!("churn: isolate leader n{id}"));
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
        let mut ids: Vec<NodeId> = (1..=self.nodes.len() as NodeId).collect();
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
