//! Where each shard's replicas live, under four policies.
//!
//! A *group* is a set of r distinct servers holding one or more shards (a copyset holds
//! many; under the other policies each shard is its own group). A *slot* is one replica
//! position `group * r + k`. The simulation works on groups, so copysets cost almost nothing.

use std::str::FromStr;

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::error::FleetError;
use crate::topology::Topology;

/// A replica placement policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// r distinct servers chosen uniformly: the baseline, blind to the topology.
    Random,
    /// r distinct racks chosen uniformly, one server in each.
    RackAware,
    /// Replicas spread evenly over datacenters first, then over distinct racks inside
    /// each: ninesdb's rule (never two replicas in one domain when avoidable, highest level first).
    DcAware,
    /// Copyset Replication (Cidon et al. 2013): shards only use a few fixed server sets.
    Copysets,
}

impl Policy {
    /// All policies, in report order.
    pub const ALL: [Policy; 4] = [
        Policy::Random,
        Policy::RackAware,
        Policy::DcAware,
        Policy::Copysets,
    ];

    /// The policy's name as written in fleet.toml and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Random => "random",
            Policy::RackAware => "rack-aware",
            Policy::DcAware => "dc-aware",
            Policy::Copysets => "copysets",
        }
    }

    /// Whether the policy needs r distinct racks.
    pub fn needs_distinct_racks(self) -> bool {
        self == Policy::RackAware
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(text: &str) -> Result<Policy, String> {
        Policy::ALL
            .into_iter()
            .find(|policy| policy.name() == text)
            .ok_or_else(|| {
                format!(
                    "unknown policy {text:?}: expected random, rack-aware, dc-aware or copysets"
                )
            })
    }
}

/// Draws a uniform integer in `0..bound` (`bound > 0`).
pub fn below(rng: &mut Xoshiro256PlusPlus, bound: u32) -> u32 {
    rng.gen_range(0..bound)
}

/// Fisher-Yates shuffle (kept here so the order is ours, stable across rand versions).
pub fn shuffle(rng: &mut Xoshiro256PlusPlus, items: &mut [u32]) {
    for index in (1..items.len()).rev() {
        let other = rng.gen_range(0..=index);
        items.swap(index, other);
    }
}

/// A placement: groups of servers, shards per group, and an index from server to slots.
#[derive(Debug, Clone)]
pub struct Placement {
    r: usize,
    /// Group g's servers are `members[g * r..(g + 1) * r]`.
    members: Vec<u32>,
    /// Shards held by each group (> 0).
    shard_count: Vec<u32>,
    /// Server s's index entries are `index[index_start[s]..index_start[s + 1]]` (in entries).
    index_start: Vec<usize>,
    /// Entries of `r + 1` words: the slot, then the group's r servers. Copying the members
    /// here makes a server event read memory sequentially: the hot loop of the simulation.
    index: Vec<u32>,
    /// Distinct peers of each server (its scatter width): bounds its rebuild parallelism.
    scatter: Vec<u32>,
    /// Every group holds exactly one shard.
    one_shard_per_group: bool,
}

impl Placement {
    /// Places `shards` shards with replication `r` under `policy`.
    pub fn build(
        topology: &Topology,
        policy: Policy,
        r: u32,
        shards: u64,
        scatter_width: u32,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Placement, FleetError> {
        let r_usize = r as usize;
        if r == 0 || r > topology.servers() {
            return Err(FleetError::Config(format!(
                "replication must be in 1..=servers, got {r}"
            )));
        }
        if policy == Policy::Copysets {
            let (members, shard_count) = copysets(topology, r_usize, shards, scatter_width, rng);
            return Ok(Placement::from_groups(
                topology.servers(),
                r_usize,
                members,
                shard_count,
            ));
        }
        if policy == Policy::RackAware && r > topology.racks() {
            return Err(FleetError::Config(format!(
                "rack-aware placement needs r <= racks, got r = {r}"
            )));
        }
        let per_dc = r.div_ceil(topology.datacenters());
        let smallest_dc = (0..topology.datacenters())
            .map(|dc| topology.dc_servers(dc).len())
            .min()
            .unwrap_or(0);
        if policy == Policy::DcAware && per_dc as usize > smallest_dc {
            return Err(FleetError::Config(format!(
                "dc-aware placement of r = {r} needs {per_dc} servers in every datacenter, the smallest has {smallest_dc}"
            )));
        }
        let mut members = Vec::with_capacity(shards as usize * r_usize);
        let mut chosen = Vec::with_capacity(r_usize);
        for _ in 0..shards {
            chosen.clear();
            match policy {
                Policy::Random => pick_servers(rng, 0..topology.servers(), r_usize, &mut chosen),
                Policy::RackAware => {
                    pick_in_racks(topology, rng, 0..topology.racks(), r_usize, &mut chosen)
                }
                Policy::DcAware => pick_dc_aware(topology, rng, r_usize, &mut chosen),
                Policy::Copysets => unreachable!("handled above"),
            }
            members.extend_from_slice(&chosen);
        }
        Ok(Placement::from_groups(
            topology.servers(),
            r_usize,
            members,
            vec![1; shards as usize],
        ))
    }

    /// Builds the index from explicit groups (tests use it for hand-made placements).
    ///
    /// # Panics
    /// If a group lists a server twice or a server id is out of range.
    pub fn from_groups(
        servers: u32,
        r: usize,
        members: Vec<u32>,
        shard_count: Vec<u32>,
    ) -> Placement {
        assert_eq!(
            members.len(),
            shard_count.len() * r,
            "members must hold r servers per group"
        );
        let mut counts = vec![0usize; servers as usize + 1];
        for group in members.chunks_exact(r) {
            for (k, &server) in group.iter().enumerate() {
                assert!(server < servers, "server {server} out of range");
                assert!(
                    !group[..k].contains(&server),
                    "group lists server {server} twice"
                );
                counts[server as usize + 1] += 1;
            }
        }
        for s in 0..servers as usize {
            counts[s + 1] += counts[s];
        }
        let index_start = counts.clone();
        let mut next = counts;
        let stride = r + 1;
        let mut index = vec![0u32; members.len() * stride];
        for (group_id, group) in members.chunks_exact(r).enumerate() {
            for (k, &server) in group.iter().enumerate() {
                let at = next[server as usize] * stride;
                next[server as usize] += 1;
                index[at] = (group_id * r + k) as u32;
                index[at + 1..at + stride].copy_from_slice(group);
            }
        }
        let one_shard_per_group = shard_count.iter().all(|&count| count == 1);
        let mut placement = Placement {
            r,
            members,
            shard_count,
            index_start,
            index,
            scatter: Vec::new(),
            one_shard_per_group,
        };
        placement.scatter = placement.scatter_widths(servers);
        placement
    }

    /// Counts each server's distinct peers with a marker array (cheaper than sorting).
    fn scatter_widths(&self, servers: u32) -> Vec<u32> {
        let mut marked = vec![u32::MAX; servers as usize];
        let mut widths = vec![0u32; servers as usize];
        for server in 0..servers {
            let mut width = 0;
            for entry in self.entries(server) {
                for &peer in &entry[1..] {
                    if peer != server && marked[peer as usize] != server {
                        marked[peer as usize] = server;
                        width += 1;
                    }
                }
            }
            widths[server as usize] = width;
        }
        widths
    }

    /// Replication factor.
    pub fn r(&self) -> usize {
        self.r
    }

    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.shard_count.len()
    }

    /// Total shards.
    pub fn shards(&self) -> u64 {
        self.shard_count.iter().map(|&count| u64::from(count)).sum()
    }

    /// Shards in a group.
    #[inline]
    pub fn shard_count(&self, group: usize) -> u32 {
        // One shard per group except under copysets: skip the (cache-missing) load then.
        if self.one_shard_per_group {
            1
        } else {
            self.shard_count[group]
        }
    }

    /// The servers of a group.
    pub fn members(&self, group: usize) -> &[u32] {
        &self.members[group * self.r..(group + 1) * self.r]
    }

    /// The server holding a slot.
    pub fn server_of_slot(&self, slot: u32) -> u32 {
        self.members[slot as usize]
    }

    /// A server's index entries: `[slot, member_0, .., member_{r-1}]` each.
    pub fn entries(&self, server: u32) -> std::slice::ChunksExact<'_, u32> {
        let stride = self.r + 1;
        let range = self.index_start[server as usize] * stride
            ..self.index_start[server as usize + 1] * stride;
        self.index[range].chunks_exact(stride)
    }

    /// A server's scatter width (distinct peers).
    pub fn scatter(&self, server: u32) -> u32 {
        self.scatter[server as usize]
    }

    /// Shards whose every replica is on a failed server, without simulating time: the
    /// closed-form copyset checks use it. `failed` lists the servers, `is_failed` flags them.
    /// Each lost group is counted once, from its slot 0.
    pub fn lost_shards(&self, failed: &[u32], is_failed: &[bool]) -> u64 {
        let mut lost = 0;
        for &server in failed {
            for entry in self.entries(server) {
                let first_slot = (entry[0] as usize).is_multiple_of(self.r);
                if first_slot && entry[1..].iter().all(|&member| is_failed[member as usize]) {
                    lost += u64::from(self.shard_count(entry[0] as usize / self.r));
                }
            }
        }
        lost
    }
}

/// Appends `count` distinct servers from `range` to `chosen` (rejection: count is small).
fn pick_servers(
    rng: &mut Xoshiro256PlusPlus,
    range: std::ops::Range<u32>,
    count: usize,
    chosen: &mut Vec<u32>,
) {
    let target = chosen.len() + count;
    while chosen.len() < target {
        let server = range.start + below(rng, range.len() as u32);
        if !chosen.contains(&server) {
            chosen.push(server);
        }
    }
}

/// Appends one server in each of `count` distinct racks from `racks`.
fn pick_in_racks(
    topology: &Topology,
    rng: &mut Xoshiro256PlusPlus,
    racks: std::ops::Range<u32>,
    count: usize,
    chosen: &mut Vec<u32>,
) {
    if count > racks.len() {
        // Fewer racks than replicas in this domain: fall back to distinct servers.
        let servers =
            topology.rack_servers(racks.start).start..topology.rack_servers(racks.end - 1).end;
        return pick_servers(rng, servers, count, chosen);
    }
    let start = chosen.len();
    while chosen.len() < start + count {
        let rack = racks.start + below(rng, racks.len() as u32);
        if chosen[start..]
            .iter()
            .all(|&server| topology.rack_of(server) != rack)
        {
            let servers = topology.rack_servers(rack);
            chosen.push(servers.start + below(rng, servers.len() as u32));
        }
    }
}

/// Spreads r replicas evenly over datacenters (the extra ones to random distinct
/// datacenters), then over distinct racks inside each.
fn pick_dc_aware(
    topology: &Topology,
    rng: &mut Xoshiro256PlusPlus,
    r: usize,
    chosen: &mut Vec<u32>,
) {
    let dcs = topology.datacenters() as usize;
    let base = r / dcs;
    let mut extra_dcs = Vec::with_capacity(dcs);
    // The first (r mod dcs) of a random order of datacenters get one replica more.
    extra_dcs.extend(0..dcs as u32);
    shuffle(rng, &mut extra_dcs);
    extra_dcs.truncate(r % dcs);
    for dc in 0..dcs as u32 {
        let count = base + usize::from(extra_dcs.contains(&dc));
        if count > 0 {
            pick_in_racks(topology, rng, topology.dc_racks(dc), count, chosen);
        }
    }
}

/// Copyset Replication: P = ceil(S / (r - 1)) permutations of the servers, each cut into
/// copysets of r; a shard's primary is a uniform server and its copyset a uniform one of the
/// primary's. Our permutations interleave datacenters (shuffled within each), so a copyset
/// spans datacenters as ninesdb's placement rule asks; the paper's loss figures depend only
/// on the number of copysets, which this keeps.
fn copysets(
    topology: &Topology,
    r: usize,
    shards: u64,
    scatter_width: u32,
    rng: &mut Xoshiro256PlusPlus,
) -> (Vec<u32>, Vec<u32>) {
    let permutations = if r == 1 {
        1
    } else {
        (scatter_width as usize).div_ceil(r - 1).max(1)
    };
    let mut members: Vec<u32> = Vec::new();
    for _ in 0..permutations {
        let order = interleaved_permutation(topology, rng);
        let full = order.len() / r * r;
        members.extend_from_slice(&order[..full]);
        let leftover = order.len() - full;
        if leftover > 0 {
            // The last few servers join the first ones of the permutation: every server is in
            // a copyset, and the wrap-around set is still r distinct servers.
            members.extend_from_slice(&order[full..]);
            members.extend_from_slice(&order[..r - leftover]);
        }
    }
    let groups = members.len() / r;
    let mut of_server: Vec<Vec<u32>> = vec![Vec::new(); topology.servers() as usize];
    for group in 0..groups {
        for &server in &members[group * r..(group + 1) * r] {
            of_server[server as usize].push(group as u32);
        }
    }
    let mut shard_count = vec![0u32; groups];
    for _ in 0..shards {
        let primary = &of_server[below(rng, topology.servers()) as usize];
        shard_count[primary[below(rng, primary.len() as u32) as usize] as usize] += 1;
    }
    // Empty copysets hold nothing and cannot lose anything: drop them.
    let mut kept_members = Vec::with_capacity(members.len());
    let mut kept_counts = Vec::with_capacity(groups);
    for group in 0..groups {
        if shard_count[group] > 0 {
            kept_members.extend_from_slice(&members[group * r..(group + 1) * r]);
            kept_counts.push(shard_count[group]);
        }
    }
    (kept_members, kept_counts)
}

/// A random permutation of all servers in which consecutive servers come from different
/// datacenters, round robin, while every datacenter still has servers left.
fn interleaved_permutation(topology: &Topology, rng: &mut Xoshiro256PlusPlus) -> Vec<u32> {
    let mut per_dc: Vec<Vec<u32>> = (0..topology.datacenters())
        .map(|dc| {
            let mut servers: Vec<u32> = topology.dc_servers(dc).collect();
            shuffle(rng, &mut servers);
            servers
        })
        .collect();
    let mut order = Vec::with_capacity(topology.servers() as usize);
    let first_dc = below(rng, topology.datacenters()) as usize;
    while order.len() < topology.servers() as usize {
        for step in 0..per_dc.len() {
            let dc = (first_dc + step) % per_dc.len();
            if let Some(server) = per_dc[dc].pop() {
                order.push(server);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn rng() -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(7)
    }

    #[test]
    fn policies_respect_their_domains() {
        // Goal: rack-aware never repeats a rack, dc-aware puts one replica per datacenter for r = 3.
        let topology = Topology::new(600, 30, 3, 5);
        let rack_aware = Placement::build(&topology, Policy::RackAware, 3, 5_000, 2, &mut rng())
            .expect("rack-aware");
        for group in 0..rack_aware.groups() {
            let racks: Vec<u32> = rack_aware
                .members(group)
                .iter()
                .map(|&s| topology.rack_of(s))
                .collect();
            assert!(
                racks[0] != racks[1] && racks[1] != racks[2] && racks[0] != racks[2],
                "{racks:?}"
            );
        }
        let dc_aware = Placement::build(&topology, Policy::DcAware, 3, 5_000, 2, &mut rng())
            .expect("dc-aware");
        for group in 0..dc_aware.groups() {
            let mut dcs: Vec<u32> = dc_aware
                .members(group)
                .iter()
                .map(|&s| topology.dc_of_rack(topology.rack_of(s)))
                .collect();
            dcs.sort_unstable();
            assert_eq!(dcs, vec![0, 1, 2]);
        }
    }

    #[test]
    fn minimum_copysets_have_scatter_width_two() {
        // Goal: S = 2, r = 3 gives about N / r copysets and every server exactly 2 peers.
        let topology = Topology::new(5_000, 250, 1, 25);
        let placement = Placement::build(&topology, Policy::Copysets, 3, 100_000, 2, &mut rng())
            .expect("copysets");
        assert_eq!(placement.groups(), 1_667);
        assert_eq!(placement.shards(), 100_000);
        let wrapped = (0..5_000).filter(|&s| placement.scatter(s) != 2).count();
        assert!(
            wrapped <= 4,
            "only the wrap-around copyset's servers may differ: {wrapped}"
        );
    }
}
