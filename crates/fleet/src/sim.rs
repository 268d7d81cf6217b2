//! The state of one simulated fleet over time: which replicas exist, which servers answer.
//!
//! Two kinds of harm, kept apart on purpose:
//! - *destroyed* replicas (server, disk, operator, datacenter loss) are missing until a
//!   rebuild finishes; a shard is **lost** when all r of its replicas are missing at once;
//! - *unreachable* servers (switch, power, reboot) keep their data and come back.
//!
//! A shard is **unavailable** while fewer than a majority of its replicas are present on
//! reachable servers. A lost shard is assumed restored (from a backup, or re-created) by the
//! pending rebuilds, and counts as lost once until it is whole again. A rebuilt replica is
//! placed in its old slot (as if on a replacement server in the same domain), so the
//! placement, and its failure-domain properties, never change.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::{Config, RepairOrder};
use crate::placement::Placement;

/// How destroyed replicas are rebuilt.
#[derive(Debug, Clone, Copy)]
pub struct RepairModel {
    /// Delay before a rebuild starts, hours.
    pub detection_hours: f64,
    /// Repair bandwidth per node, GB per hour.
    pub bandwidth_gb_per_hour: f64,
    /// Most peers feeding one node's rebuild.
    pub peers_max: u32,
    /// Completion order over the transfer window.
    pub order: RepairOrder,
    /// If > 0: exponential rebuild time with this mean, ignoring bandwidth.
    pub fixed_mean_hours: f64,
    /// Data per shard, GB.
    pub shard_size_gb: f64,
}

impl RepairModel {
    /// The repair model of a configuration.
    pub fn from_config(config: &Config) -> RepairModel {
        RepairModel {
            detection_hours: config.repair.detection_minutes / 60.0,
            bandwidth_gb_per_hour: config.repair.bandwidth_mb_s * 3600.0 / 1000.0,
            peers_max: config.repair.peers_max,
            order: config.repair.order,
            fixed_mean_hours: config.repair.fixed_mean_hours,
            shard_size_gb: config.fleet.shard_size_gb,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Simulated hours.
    pub hours: f64,
    /// Data-loss events: (hour, shards lost). One event may lose many shards.
    pub loss_events: Vec<(f64, u64)>,
    /// Shards lost (all replicas destroyed).
    pub lost_shards: u64,
    /// Shards that had a majority of replicas destroyed at once: Raft may have lost
    /// acknowledged writes there and needs manual recovery (a superset of `lost_shards`).
    pub quorum_destroyed_shards: u64,
    /// Sum over shards of the time without a majority, shard-hours.
    pub unavailable_shard_hours: f64,
    /// Times a group went from available to unavailable.
    pub unavailable_episodes: u64,
    /// Replicas (slots) destroyed.
    pub replicas_destroyed: u64,
}

#[derive(Debug, Clone, Copy)]
enum EventKind {
    /// A range of servers becomes reachable again (one outage ends).
    Restore(u32, u32),
    /// A destroyed replica's rebuild finishes.
    Repair(u32),
}

#[derive(Debug, Clone, Copy)]
struct Event {
    time: f64,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Event) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Event {
    /// Reversed, so the max-heap pops the earliest event; `seq` breaks ties deterministically.
    fn cmp(&self, other: &Event) -> Ordering {
        other
            .time
            .total_cmp(&self.time)
            .then(other.seq.cmp(&self.seq))
    }
}

/// One fleet's state.
pub struct Sim<'a> {
    placement: &'a Placement,
    repair: RepairModel,
    majority: u32,
    now: f64,
    /// Per server: number of overlapping outages (0 = reachable).
    unreachable: Vec<u16>,
    /// Bitset over slots: the replica is destroyed and not yet rebuilt.
    missing: Vec<u64>,
    /// Number of bits set in `missing`.
    missing_slots: u64,
    /// Bitset over groups: lost, and not yet fully rebuilt. A group is lost once until it
    /// is whole again; losing the half-restored copy again is not new data loss.
    lost: Vec<u64>,
    /// Groups and shards without a majority now. Unavailable shard-hours are the integral
    /// of `unavailable_shards` over time, so no per-group timestamp (and no cache miss) is needed.
    unavailable_groups: usize,
    unavailable_shards: u64,
    /// Per server: data held, GB (sets its rebuild time).
    server_gb: Vec<f64>,
    queue: BinaryHeap<Event>,
    seq: u64,
    rng: Xoshiro256PlusPlus,
    stats: RunStats,
}

impl<'a> Sim<'a> {
    /// A healthy fleet at time 0. `seed` drives the rebuild times only.
    pub fn new(placement: &'a Placement, servers: u32, repair: RepairModel, seed: u64) -> Sim<'a> {
        let r = placement.r();
        let mut server_gb = vec![0.0; servers as usize];
        for (server, gb) in server_gb.iter_mut().enumerate() {
            let shards: u64 = placement
                .entries(server as u32)
                .map(|entry| u64::from(placement.shard_count(entry[0] as usize / r)))
                .sum();
            *gb = shards as f64 * repair.shard_size_gb;
        }
        Sim {
            placement,
            repair,
            majority: r as u32 / 2 + 1,
            now: 0.0,
            unreachable: vec![0; servers as usize],
            missing: vec![0; (placement.groups() * r).div_ceil(64)],
            lost: vec![0; placement.groups().div_ceil(64)],
            missing_slots: 0,
            unavailable_groups: 0,
            unavailable_shards: 0,
            server_gb,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            stats: RunStats::default(),
        }
    }

    /// Current simulated time, hours.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// What has been measured so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// Groups without a majority right now.
    pub fn unavailable_groups(&self) -> usize {
        self.unavailable_groups
    }

    /// Shards without a majority right now.
    pub fn unavailable_shards(&self) -> u64 {
        self.unavailable_shards
    }

    /// Moves the clock forward, integrating the unavailable shards over the elapsed time.
    fn set_now(&mut self, time: f64) {
        if time > self.now {
            self.stats.unavailable_shard_hours +=
                self.unavailable_shards as f64 * (time - self.now);
            self.now = time;
        }
    }

    fn is_missing(&self, slot: usize) -> bool {
        self.missing[slot / 64] & (1 << (slot % 64)) != 0
    }

    fn set_missing(&mut self, slot: usize, missing: bool) {
        if missing {
            self.missing_slots += 1;
            self.missing[slot / 64] |= 1 << (slot % 64);
        } else {
            self.missing_slots -= 1;
            self.missing[slot / 64] &= !(1 << (slot % 64));
        }
    }

    /// Replicas of the entry's group that are present on reachable servers.
    fn available_count(&self, entry: &[u32]) -> u32 {
        let base = entry[0] as usize / self.placement.r() * self.placement.r();
        let members = &entry[1..];
        let mut count = 0;
        for (k, &server) in members.iter().enumerate() {
            if self.unreachable[server as usize] == 0 && !self.is_missing(base + k) {
                count += 1;
            }
        }
        count
    }

    fn missing_count(&self, slot: usize) -> u32 {
        let r = self.placement.r();
        let base = slot / r * r;
        (base..base + r).filter(|&s| self.is_missing(s)).count() as u32
    }

    fn push(&mut self, time: f64, kind: EventKind) {
        self.seq += 1;
        self.queue.push(Event {
            time,
            seq: self.seq,
            kind,
        });
    }

    /// Processes every pending restore and rebuild up to `time`, then sets the clock there.
    pub fn advance_to(&mut self, time: f64) {
        while let Some(event) = self.queue.peek().copied() {
            if event.time > time {
                break;
            }
            self.queue.pop();
            self.set_now(event.time);
            match event.kind {
                EventKind::Restore(start, end) => self.make_reachable(start..end),
                EventKind::Repair(slot) => self.rebuild(slot),
            }
        }
        self.set_now(time);
    }

    /// Makes `servers` unreachable now, and reachable again after `hours`.
    pub fn outage(&mut self, servers: Range<u32>, hours: f64) {
        self.make_unreachable(servers.clone());
        self.push(
            self.now + hours,
            EventKind::Restore(servers.start, servers.end),
        );
    }

    /// Makes `servers` unreachable until `make_reachable` is called for them.
    pub fn make_unreachable(&mut self, servers: Range<u32>) {
        for server in servers {
            self.unreachable[server as usize] += 1;
            if self.unreachable[server as usize] == 1 {
                self.on_reachability_change(server, false);
            }
        }
    }

    /// Ends one outage of `servers`.
    pub fn make_reachable(&mut self, servers: Range<u32>) {
        for server in servers {
            assert!(
                self.unreachable[server as usize] > 0,
                "server {server} restored twice"
            );
            self.unreachable[server as usize] -= 1;
            if self.unreachable[server as usize] == 0 {
                self.on_reachability_change(server, true);
            }
        }
    }

    /// Updates the groups of a server whose reachability just flipped.
    fn on_reachability_change(&mut self, server: u32, reachable: bool) {
        let placement = self.placement;
        if self.missing_slots == 0 {
            return self.on_reachability_change_all_present(server, reachable);
        }
        for entry in placement.entries(server) {
            let slot = entry[0] as usize;
            if self.is_missing(slot) {
                continue; // A destroyed replica counted as unavailable already.
            }
            let now_available = self.available_count(entry);
            let before = if reachable {
                now_available - 1
            } else {
                now_available + 1
            };
            self.on_count_change(slot / placement.r(), before, now_available);
        }
    }

    /// The common case, with no replica destroyed anywhere: only reachability counts, and
    /// the missing-replica bitset (the hot loop's cache misses) is not read at all.
    fn on_reachability_change_all_present(&mut self, server: u32, reachable: bool) {
        let placement = self.placement;
        let majority = self.majority;
        for entry in placement.entries(server) {
            let now_available = entry[1..]
                .iter()
                .filter(|&&member| self.unreachable[member as usize] == 0)
                .count() as u32;
            let before = if reachable {
                now_available - 1
            } else {
                now_available + 1
            };
            // Only a crossing of the majority line matters; skip the call otherwise.
            if (before >= majority) != (now_available >= majority) {
                self.on_count_change(entry[0] as usize / placement.r(), before, now_available);
            }
        }
    }

    /// Starts or ends an unavailability episode when a group crosses the majority line.
    fn on_count_change(&mut self, group: usize, before: u32, after: u32) {
        if before >= self.majority && after < self.majority {
            self.unavailable_groups += 1;
            self.unavailable_shards += u64::from(self.placement.shard_count(group));
            self.stats.unavailable_episodes += 1;
        } else if before < self.majority && after >= self.majority {
            self.unavailable_groups -= 1;
            self.unavailable_shards -= u64::from(self.placement.shard_count(group));
        }
    }

    /// Destroys the data of `servers` at once (one event); returns the shards it lost.
    pub fn destroy(&mut self, servers: &[u32]) -> u64 {
        let total_servers = self.unreachable.len();
        let failed = servers.len().max(1);
        let mut lost = 0;
        for &server in servers {
            let transfer_hours = self.transfer_hours(server, failed, total_servers);
            lost += self.destroy_server(server, transfer_hours);
        }
        if lost > 0 {
            self.stats.loss_events.push((self.now, lost));
            self.stats.lost_shards += lost;
        }
        lost
    }

    /// Time to copy a server's data back. Its peers (its scatter width, at most
    /// `peers_max`) each send at the per-node bandwidth; when many servers fail at once they
    /// share the surviving servers. This is the Copysets trade-off: few peers, slow rebuild.
    fn transfer_hours(&self, server: u32, failed: usize, total_servers: usize) -> f64 {
        let peers = self
            .placement
            .scatter(server)
            .clamp(1, self.repair.peers_max) as f64;
        let survivors = total_servers.saturating_sub(failed).max(1) as f64;
        let sources_per_failed = (peers * failed as f64).min(survivors) / failed as f64;
        self.server_gb[server as usize] / (sources_per_failed * self.repair.bandwidth_gb_per_hour)
    }

    fn destroy_server(&mut self, server: u32, transfer_hours: f64) -> u64 {
        let placement = self.placement;
        let r = placement.r();
        let mut lost = 0;
        for entry in placement.entries(server) {
            let slot = entry[0] as usize;
            if self.is_missing(slot) {
                continue; // Already being rebuilt: nothing more to lose here.
            }
            let was_available = self.unreachable[server as usize] == 0;
            self.set_missing(slot, true);
            self.stats.replicas_destroyed += 1;
            let group = slot / r;
            if was_available {
                let after = self.available_count(entry);
                self.on_count_change(group, after + 1, after);
            }
            let missing = self.missing_count(slot);
            let shards = u64::from(placement.shard_count(group));
            if missing == r as u32 && self.lost[group / 64] & (1 << (group % 64)) == 0 {
                self.lost[group / 64] |= 1 << (group % 64);
                lost += shards;
            }
            if missing == r as u32 - self.majority + 1 {
                self.stats.quorum_destroyed_shards += shards;
            }
            let done = self.now + self.rebuild_hours(transfer_hours, placement.shard_count(group));
            self.push(done, EventKind::Repair(slot as u32));
        }
        lost
    }

    /// When the rebuild of one slot (holding `shards` shards) finishes, from now. A slot
    /// holding many shards (a copyset) is whole again only when its last shard is: the
    /// maximum of `shards` draws, sampled by inverting its distribution function.
    fn rebuild_hours(&mut self, transfer_hours: f64, shards: u32) -> f64 {
        let u: f64 = self.rng.gen();
        if self.repair.fixed_mean_hours > 0.0 {
            return self.repair.detection_hours - self.repair.fixed_mean_hours * (1.0 - u).ln();
        }
        let last = u.powf(1.0 / f64::from(shards.max(1)));
        let transfer = match self.repair.order {
            RepairOrder::Uniform => transfer_hours * last,
            RepairOrder::Exponential => -transfer_hours * (1.0 - last).max(f64::MIN_POSITIVE).ln(),
        };
        self.repair.detection_hours + transfer
    }

    /// A rebuild finished: the slot holds data again.
    fn rebuild(&mut self, slot: u32) {
        let slot = slot as usize;
        if !self.is_missing(slot) {
            return;
        }
        self.set_missing(slot, false);
        if self.missing_count(slot) == 0 {
            let group = slot / self.placement.r();
            self.lost[group / 64] &= !(1 << (group % 64));
        }
        let server = self.placement.server_of_slot(slot as u32);
        if self.unreachable[server as usize] > 0 {
            return; // Present but unreachable: the available count did not change.
        }
        let r = self.placement.r();
        let group = slot / r;
        let mut after = 0;
        for (k, &member) in self.placement.members(group).iter().enumerate() {
            if self.unreachable[member as usize] == 0 && !self.is_missing(group * r + k) {
                after += 1;
            }
        }
        self.on_count_change(group, after - 1, after);
    }

    /// Runs to `hours`; episodes still open count up to there.
    pub fn finish(mut self, hours: f64) -> RunStats {
        self.advance_to(hours);
        self.stats.hours = hours;
        self.stats
    }
}
