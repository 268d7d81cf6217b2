//! What scenarios do to whole nodes (crash, destroy, wipe, decommission), and the lab side of
//! gray-failure handling: nodes tell each other their health, and a node far slower than its
//! peers hands its leaderships away (the rule is `placement::health`, the server's own).

use placement::health::Health;
use raft::{NodeId, Role};

use crate::net::Packet;
use crate::params::MS;
use crate::scenario::world::{HEALTH_EVERY, HEARD_WINDOW};

/// How often leaderships return to their preferred nodes.
pub const LEADER_BALANCE_EVERY: u64 = 5_000 * MS;
use crate::sim::{Event, Sim};

impl Sim {
    /// A process dies: unwritten state is lost, its CPU queue with it.
    pub(crate) fn crash_node(&mut self, node: usize) {
        if !self.nodes[node].is_up() {
            return;
        }
        self.trace_note(format!("crash n{}", node + 1));
        self.nodes[node].crash();
        if let Some(world) = self.world.as_mut() {
            world.cpu[node].reset();
        }
    }

    /// Nodes destroyed with their disks (a fire): they never return, and once `down_after` has
    /// passed their replicas are rebuilt on the survivors.
    pub(crate) fn destroy_nodes(&mut self, nodes: &[usize]) {
        for &node in nodes {
            self.crash_node(node);
            if let Some(disk) = self.nodes[node].disk_mut() {
                disk.wipe();
            }
        }
        for &node in nodes {
            self.register_loss(node, self.now);
        }
        self.trace_note(format!(
            "destroyed for good: {:?}",
            nodes.iter().map(|n| n + 1).collect::<Vec<_>>()
        ));
    }

    /// An operator deletes a node's data directory: it comes back empty, under new identities,
    /// and the repair loop swaps the old ones out.
    pub(crate) fn wipe_node(&mut self, node: usize) {
        self.crash_node(node);
        if let Some(disk) = self.nodes[node].disk_mut() {
            disk.wipe();
        }
        self.nodes[node].take_new_identities();
        self.disk_stats.wipes += 1;
        self.trace_note(format!("operator wipes n{}", node + 1));
        self.schedule(1_000 * MS, Event::Restart { node });
    }

    /// An operator removes a node: it keeps serving while each of its replicas is replaced
    /// elsewhere (learner first, then a joint change), and stops once no group holds it.
    pub(crate) fn decommission(&mut self, node: usize) {
        let since = self.now.saturating_sub(self.down_after);
        self.register_loss(node, since);
        if let Some(world) = self.world.as_mut() {
            world.removed.push(node);
        }
        self.trace_note(format!(
            "operator removes n{}: its replicas move away first",
            node + 1
        ));
    }

    /// Stops decommissioned nodes no group holds any more.
    fn stop_removed_nodes(&mut self) {
        let removed = self
            .world
            .as_ref()
            .map(|w| w.removed.clone())
            .unwrap_or_default();
        for node in removed {
            if !self.nodes[node].is_up() {
                continue;
            }
            let held = self.nodes[node].groups.iter().any(|(&group, hosted)| {
                self.leader_membership(group)
                    .is_none_or(|m| m.replicas().contains(&hosted.id))
            });
            if !held {
                self.trace_note(format!("n{} holds no replica any more: stopped", node + 1));
                self.crash_node(node);
            }
        }
    }

    /// Every 100 ms (from the sweep): who leads what, the topology picture, removals.
    pub(crate) fn sample_leaders(&mut self) {
        if self.now % (100 * MS) >= crate::scenario::load::SWEEP_EVERY {
            return;
        }
        let counts = self.leader_counts();
        let now = self.now;
        let world = self.world.as_ref().expect("scenario mode");
        if world.record.snapshot.is_none() && world.record.snapshot_at.is_some_and(|at| now >= at) {
            let states = self.node_states();
            let replicas = self
                .nodes
                .iter()
                .map(|n| if n.lost { 0 } else { n.groups.len() })
                .collect();
            let world = self.world.as_mut().expect("scenario mode");
            world.record.snapshot = Some(states);
            world.record.snapshot_failed = world
                .net
                .failed_elements()
                .iter()
                .chain(world.net.lossy_elements().iter())
                .map(|e| e.to_string())
                .collect();
            world.record.snapshot_leaders = counts.clone();
            world.record.snapshot_replicas = replicas;
        }
        let world = self.world.as_mut().expect("scenario mode");
        world.record.leader_samples.push((now, counts));
        self.stop_removed_nodes();
    }

    /// Each node's state for the report's topology.
    pub(crate) fn node_states(&self) -> Vec<report::NodeState> {
        let world = self.world.as_ref().expect("scenario mode");
        (0..self.nodes.len())
            .map(|i| {
                let node = &self.nodes[i];
                if node.lost {
                    report::NodeState::Wiped
                } else if !node.is_up() {
                    report::NodeState::Down
                } else if node.paused_until > self.now {
                    report::NodeState::Paused
                } else if world.cpu[i].factor > 1.0 || world.disk_factor[i] > 1.0 {
                    report::NodeState::Slow
                } else if (0..self.nodes.len())
                    .filter(|&j| j != i)
                    .all(|j| !world.net.connected(i, j))
                {
                    report::NodeState::Isolated
                } else {
                    report::NodeState::Up
                }
            })
            .collect()
    }

    /// Every `HEALTH_EVERY`: each running node sends its health to its peers, then judges
    /// itself against what it heard, and a sick node hands its leaderships away.
    pub(crate) fn on_health_beat(&mut self) {
        self.schedule(HEALTH_EVERY, Event::HealthBeat);
        // During the warm-up, at every beat: leaders settle where they belong before load.
        if self.now % LEADER_BALANCE_EVERY < HEALTH_EVERY
            || self.now <= crate::scenario::run::WARM_UP
        {
            self.return_leaderships();
        }
        let now = self.now;
        if now >= 2 * HEARD_WINDOW {
            self.count_missed_reports();
        }
        for node in 0..self.nodes.len() {
            if !self.nodes[node].is_up() || self.nodes[node].paused_until > now {
                continue;
            }
            for peer in (0..self.nodes.len()).filter(|&p| p != node) {
                let world = self.world.as_mut().expect("scenario mode");
                let health = world.health[node].mine();
                if let Some(delay) = world.net.node_to_node(node, peer, 64, &mut self.rng) {
                    self.schedule(
                        delay,
                        Event::ToNode {
                            node: peer,
                            packet: Box::new(Packet::Health(node, health)),
                        },
                    );
                }
            }
            self.assess_health(node);
        }
    }

    /// Each node: the share of the reports its peers (those it ever heard from) should have
    /// sent it over the last `HEARD_WINDOW` that did not arrive (the server's measure).
    fn count_missed_reports(&mut self) {
        let now = self.now;
        let expected_each = HEARD_WINDOW / HEALTH_EVERY;
        let world = self.world.as_mut().expect("scenario mode");
        for node in 0..world.peer_health.len() {
            let peers = &world.peer_health[node];
            let received: Vec<u64> = (0..peers.received.len())
                .filter(|&p| p != node && peers.heard[p].is_some())
                .map(|p| {
                    peers.received[p]
                        .iter()
                        .filter(|&&at| now - at <= HEARD_WINDOW)
                        .count() as u64
                })
                .collect();
            if let Some(loss) = placement::health::report_loss_permille(&received, expected_each) {
                world.health[node].record_report_loss(loss);
            }
        }
    }

    /// A peer's health report arrived at `node`.
    pub(crate) fn on_health_report(&mut self, node: usize, from: usize, health: Health) {
        let now = self.now;
        if let Some(world) = self.world.as_mut() {
            world.peer_health[node].heard[from] = Some((health, now));
            let times = &mut world.peer_health[node].received[from];
            times.push_back(now);
            while times.front().is_some_and(|&at| now - at > HEARD_WINDOW) || times.len() > 64 {
                times.pop_front();
            }
        }
    }

    /// Leadership goes back to each group's preferred leader (its first initial voter, in
    /// the leader datacenter) when that node is a voter again, up and not sick: what the
    /// server's leader balancing does after a failover.
    fn return_leaderships(&mut self) {
        for group in 0..self.options.groups {
            let Some(leader) = self.leader_index(group) else {
                continue;
            };
            let preferred = self.params.layout[group][0];
            let world = self.world.as_ref().expect("scenario mode");
            let sick = world.health[preferred].is_sick()
                || world.peer_health[leader].heard[preferred].is_some_and(|(h, _)| h.sick);
            if leader == preferred
                || sick
                || self.nodes[preferred].lost
                || !self.nodes[preferred].is_up()
                || self.nodes[preferred].paused_until > self.now
            {
                continue;
            }
            let Some(target) = self.nodes[preferred].id_in(group) else {
                continue;
            };
            let Some(replica) = self.nodes[leader].replica_mut(group) else {
                continue;
            };
            let caught_up = replica
                .matched(target)
                .is_some_and(|m| m >= replica.commit_index());
            if replica.membership().voters.contains(&target)
                && caught_up
                && replica.transfer_leader(target).is_ok()
            {
                self.after_admin_action(leader);
            }
        }
    }

    fn assess_health(&mut self, node: usize) {
        let now = self.now;
        let world = self.world.as_mut().expect("scenario mode");
        let peers = world.fresh_peer_health(node, now);
        let (sick, changed) = world.health[node].assess(&peers, now);
        if changed {
            self.trace_note(format!(
                "n{} {}",
                node + 1,
                if sick {
                    "is sick (far slower than its peers): hands its leaderships away"
                } else {
                    "is well again"
                }
            ));
        }
        if !sick
            || !self
                .world
                .as_ref()
                .is_some_and(|w| w.scenario.cluster.gray_failure)
        {
            return;
        }
        let sick_peers: Vec<usize> = {
            let world = self.world.as_ref().expect("scenario mode");
            world.peer_health[node]
                .heard
                .iter()
                .enumerate()
                .filter(|(_, h)| {
                    h.is_some_and(|(h, at)| h.sick && now - at < placement::health::FRESH_FOR_US)
                })
                .map(|(p, _)| p)
                .collect()
        };
        let mut handed = 0;
        for (&group, hosted) in self.nodes[node].groups.iter_mut() {
            let Some(replica) = hosted.replica.as_mut() else {
                continue;
            };
            if replica.role() != Role::Leader {
                continue;
            }
            // The healthy voter furthest along takes over (a transfer waits for it to catch up).
            let me = replica.id();
            let candidate: Option<NodeId> = replica
                .membership()
                .voters
                .iter()
                .copied()
                .filter(|&v| v != me && !sick_peers.contains(&crate::node::slot_of(v)))
                .max_by_key(|&v| replica.matched(v).unwrap_or(0));
            if let Some(target) = candidate {
                if replica.transfer_leader(target).is_ok() {
                    handed += 1;
                    let _ = group;
                }
            }
        }
        if handed > 0 {
            if let Some(world) = self.world.as_mut() {
                world.sick_handoffs += handed;
            }
            self.after_admin_action(node);
        }
    }
}
