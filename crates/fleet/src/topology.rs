//! Where each server sits: rack, power domain, datacenter.
//!
//! Servers are numbered rack by rack and racks datacenter by datacenter, so every failure
//! domain is a contiguous range of server ids: an event on a domain is a range, never a list.

use std::ops::Range;

/// The fleet's failure-domain hierarchy.
#[derive(Debug, Clone)]
pub struct Topology {
    rack_of_server: Vec<u32>,
    /// `rack_start[k]..rack_start[k + 1]` are rack k's servers.
    rack_start: Vec<u32>,
    /// `dc_rack_start[d]..dc_rack_start[d + 1]` are datacenter d's racks.
    dc_rack_start: Vec<u32>,
    /// Server ranges of the power domains (groups of racks inside one datacenter).
    power_domains: Vec<Range<u32>>,
}

/// Splits `count` items into `parts` near-equal contiguous parts: start of each part, plus the end.
fn split_starts(count: u32, parts: u32) -> Vec<u32> {
    (0..=parts)
        .map(|part| (u64::from(part) * u64::from(count) / u64::from(parts)) as u32)
        .collect()
}

impl Topology {
    /// Builds the hierarchy. Callers guarantee `0 < datacenters <= racks <= servers`
    /// and `racks_per_domain > 0` (the config check does).
    pub fn new(servers: u32, racks: u32, datacenters: u32, racks_per_domain: u32) -> Topology {
        assert!(
            datacenters > 0 && datacenters <= racks && racks <= servers,
            "bad topology sizes"
        );
        assert!(racks_per_domain > 0, "racks_per_domain must be > 0");
        let rack_start = split_starts(servers, racks);
        let mut rack_of_server = vec![0; servers as usize];
        for rack in 0..racks as usize {
            for server in rack_start[rack]..rack_start[rack + 1] {
                rack_of_server[server as usize] = rack as u32;
            }
        }
        let dc_rack_start = split_starts(racks, datacenters);
        let mut power_domains = Vec::new();
        for dc in 0..datacenters as usize {
            let mut rack = dc_rack_start[dc];
            while rack < dc_rack_start[dc + 1] {
                let end = (rack + racks_per_domain).min(dc_rack_start[dc + 1]);
                power_domains.push(rack_start[rack as usize]..rack_start[end as usize]);
                rack = end;
            }
        }
        Topology {
            rack_of_server,
            rack_start,
            dc_rack_start,
            power_domains,
        }
    }

    /// Number of servers.
    pub fn servers(&self) -> u32 {
        self.rack_of_server.len() as u32
    }

    /// Number of racks.
    pub fn racks(&self) -> u32 {
        (self.rack_start.len() - 1) as u32
    }

    /// Number of datacenters.
    pub fn datacenters(&self) -> u32 {
        (self.dc_rack_start.len() - 1) as u32
    }

    /// The rack of a server.
    pub fn rack_of(&self, server: u32) -> u32 {
        self.rack_of_server[server as usize]
    }

    /// The servers of a rack.
    pub fn rack_servers(&self, rack: u32) -> Range<u32> {
        self.rack_start[rack as usize]..self.rack_start[rack as usize + 1]
    }

    /// The racks of a datacenter.
    pub fn dc_racks(&self, dc: u32) -> Range<u32> {
        self.dc_rack_start[dc as usize]..self.dc_rack_start[dc as usize + 1]
    }

    /// The servers of a datacenter.
    pub fn dc_servers(&self, dc: u32) -> Range<u32> {
        let racks = self.dc_racks(dc);
        self.rack_start[racks.start as usize]..self.rack_start[racks.end as usize]
    }

    /// The datacenter of a rack.
    pub fn dc_of_rack(&self, rack: u32) -> u32 {
        // Few datacenters: a linear scan is cheapest.
        (0..self.datacenters())
            .find(|&dc| self.dc_racks(dc).contains(&rack))
            .unwrap_or(0)
    }

    /// The server ranges of the power domains.
    pub fn power_domains(&self) -> &[Range<u32>] {
        &self.power_domains
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_partition_the_servers() {
        // Goal: racks, datacenters and power domains each cover every server exactly once.
        let topology = Topology::new(10_000, 500, 3, 25);
        assert_eq!(topology.rack_servers(0), 0..20);
        let dc_total: u32 = (0..3).map(|dc| topology.dc_servers(dc).len() as u32).sum();
        assert_eq!(dc_total, 10_000);
        let pd_total: u32 = topology
            .power_domains()
            .iter()
            .map(|range| range.len() as u32)
            .sum();
        assert_eq!(pd_total, 10_000);
        assert_eq!(topology.dc_of_rack(499), 2);
        assert_eq!(topology.rack_of(9_999), 499);
    }
}
