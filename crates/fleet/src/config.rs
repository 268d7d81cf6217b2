//! The model's inputs: parsed from `fleet.toml` (or the embedded default) and checked.

use serde::Deserialize;

use crate::error::FleetError;
use crate::placement::Policy;

/// The default configuration, shipped in the binary so `ninesdb fleet` needs no file.
pub const DEFAULT_CONFIG: &str = include_str!("../fleet.toml");

/// Hours in a (Julian) year: the SRE book's nines table uses 365.25 days.
pub const HOURS_PER_YEAR: f64 = 365.25 * 24.0;

/// Everything the model needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Fleet size, data and run control.
    pub fleet: FleetSection,
    /// Re-replication after data is destroyed.
    pub repair: RepairSection,
    /// Copyset Replication parameters.
    pub copysets: CopysetsSection,
    /// Failure processes.
    pub failures: Failures,
    /// Planned rolling reboots.
    pub maintenance: Maintenance,
}

/// `[fleet]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// Number of servers.
    pub servers: u32,
    /// Number of racks (servers are split evenly, in order).
    pub racks: u32,
    /// Number of datacenters (racks are split evenly, in order).
    pub datacenters: u32,
    /// Number of shards (Raft groups).
    pub shards: u64,
    /// Logical data per shard, GB (10^9 bytes).
    pub shard_size_gb: f64,
    /// Replication factors to model.
    pub replication: Vec<u32>,
    /// Placement policies to model.
    pub policies: Vec<Policy>,
    /// Simulated years per run.
    pub years: f64,
    /// Independent runs per (policy, r).
    pub runs: u32,
    /// Root seed: every run's streams derive from it.
    pub seed: u64,
}

/// `[repair]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairSection {
    /// Delay before re-replication starts.
    pub detection_minutes: f64,
    /// Repair bandwidth per node, MB/s.
    pub bandwidth_mb_s: f64,
    /// Most peers that can feed one node's rebuild.
    pub peers_max: u32,
    /// How a rebuild's replicas complete over the transfer window.
    pub order: RepairOrder,
    /// If > 0: exponential repair with this mean (hours), ignoring bandwidth.
    pub fixed_mean_hours: f64,
}

/// Completion order of the replicas of one rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepairOrder {
    /// Uniformly over the transfer window.
    Uniform,
    /// Exponential with the transfer time as mean.
    Exponential,
}

/// `[copysets]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopysetsSection {
    /// Scatter width S: each node shares copysets with about S other nodes.
    pub scatter_width: u32,
}

/// `[failures.*]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failures {
    /// Server hardware failures (data rebuilt elsewhere).
    pub servers: Process,
    /// Disk failures (data destroyed).
    pub disks: Process,
    /// Operator errors that wipe one node's data.
    pub human_error: Process,
    /// Top-of-rack switch failures (rack unreachable).
    pub racks: OutageProcess,
    /// Power-domain failures (several racks unreachable).
    pub power_domains: PowerDomains,
    /// Datacenter-wide power outages with nodes that never come back.
    pub dc_power: DcPower,
    /// Datacenter disasters (all its data destroyed).
    pub datacenters: Process,
}

/// A Poisson failure process that destroys data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Off: no events.
    pub enabled: bool,
    /// Mean time between failures of one unit, years.
    pub mtbf_years: f64,
}

/// A Poisson process whose events make a domain unreachable for a while.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageProcess {
    /// Off: no events.
    pub enabled: bool,
    /// Mean time between failures of one unit, years.
    pub mtbf_years: f64,
    /// How long the domain stays unreachable.
    pub outage: Duration,
}

/// `[failures.power_domains]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerDomains {
    /// Off: no events.
    pub enabled: bool,
    /// Racks per power domain (domains never span datacenters).
    pub racks_per_domain: u32,
    /// Mean time between failures of one domain, years.
    pub mtbf_years: f64,
    /// How long the domain stays dark.
    pub outage: Duration,
}

/// `[failures.dc_power]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcPower {
    /// Off: no events.
    pub enabled: bool,
    /// Mean time between outages of one datacenter, years.
    pub mtbf_years: f64,
    /// How long the datacenter stays dark.
    pub outage: Duration,
    /// Fraction of the datacenter's servers that never come back.
    pub lost_fraction: f64,
}

/// `[maintenance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Off: no reboots.
    pub enabled: bool,
    /// Each server is rebooted once per this many days.
    pub interval_days: f64,
    /// How long one reboot keeps a server unreachable.
    pub outage: Duration,
}

/// A duration distribution, in hours.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Duration {
    /// Always the same.
    Fixed {
        /// Hours.
        hours: f64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound, hours.
        min_hours: f64,
        /// Upper bound, hours.
        max_hours: f64,
    },
    /// Exponential with a mean.
    Exponential {
        /// Mean, hours.
        mean_hours: f64,
    },
}

impl Duration {
    /// Draws one duration from a uniform sample `u` in [0, 1).
    pub fn sample(&self, u: f64) -> f64 {
        match *self {
            Duration::Fixed { hours } => hours,
            Duration::Uniform {
                min_hours,
                max_hours,
            } => min_hours + (max_hours - min_hours) * u,
            Duration::Exponential { mean_hours } => -mean_hours * (1.0 - u).ln(),
        }
    }

    fn check(&self, what: &str) -> Result<(), FleetError> {
        let ok = match *self {
            Duration::Fixed { hours } => hours.is_finite() && hours >= 0.0,
            Duration::Uniform {
                min_hours,
                max_hours,
            } => {
                min_hours.is_finite()
                    && max_hours.is_finite()
                    && min_hours >= 0.0
                    && max_hours >= min_hours
            }
            Duration::Exponential { mean_hours } => mean_hours.is_finite() && mean_hours >= 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(invalid(format!(
                "{what} must be finite, >= 0 (and max >= min), got {self:?}"
            )))
        }
    }
}

fn invalid(message: String) -> FleetError {
    FleetError::Config(message)
}

/// Checks `value` is finite and > 0.
fn positive(what: &str, value: f64) -> Result<(), FleetError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(format!("{what} must be > 0, got {value}")))
    }
}

impl Config {
    /// The embedded default configuration.
    pub fn default_config() -> Config {
        // The embedded file is tested (`default_config_parses`), so this cannot fail at run time.
        Config::parse(DEFAULT_CONFIG)
            .unwrap_or_else(|error| panic!("embedded fleet.toml is invalid: {error}"))
    }

    /// Parses and checks a configuration.
    pub fn parse(text: &str) -> Result<Config, FleetError> {
        let config: Config =
            toml::from_str(text).map_err(|error| FleetError::Config(error.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks every value, so the simulation can trust them.
    pub fn check(&self) -> Result<(), FleetError> {
        self.check_fleet()?;
        self.check_repair()?;
        self.check_failures()
    }

    fn check_fleet(&self) -> Result<(), FleetError> {
        let fleet = &self.fleet;
        if fleet.servers == 0 {
            return Err(invalid(format!(
                "servers must be > 0, got {}",
                fleet.servers
            )));
        }
        if fleet.racks == 0 || fleet.racks > fleet.servers {
            return Err(invalid(format!(
                "racks must be in 1..=servers ({}), got {}",
                fleet.servers, fleet.racks
            )));
        }
        if fleet.datacenters == 0 || fleet.datacenters > fleet.racks {
            return Err(invalid(format!(
                "datacenters must be in 1..=racks ({}), got {}",
                fleet.racks, fleet.datacenters
            )));
        }
        if fleet.shards == 0 || fleet.shards > u64::from(u32::MAX) / 16 {
            return Err(invalid(format!(
                "shards must be in 1..={}, got {}",
                u32::MAX / 16,
                fleet.shards
            )));
        }
        positive("shard_size_gb", fleet.shard_size_gb)?;
        positive("years", fleet.years)?;
        if fleet.years > 1.0e6 {
            return Err(invalid(format!(
                "years must be <= 1000000, got {}",
                fleet.years
            )));
        }
        if fleet.runs == 0 {
            return Err(invalid("runs must be > 0, got 0".to_owned()));
        }
        if fleet.replication.is_empty() || fleet.policies.is_empty() {
            return Err(invalid(
                "replication and policies must each list at least one value".to_owned(),
            ));
        }
        for &r in &fleet.replication {
            if r == 0 || r > 15 || r > fleet.servers {
                return Err(invalid(format!(
                    "replication factors must be in 1..=min(15, servers), got {r}"
                )));
            }
            if r > fleet.racks
                && fleet
                    .policies
                    .iter()
                    .any(|policy| policy.needs_distinct_racks())
            {
                return Err(invalid(format!(
                    "replication {r} > racks {}: rack-aware placement impossible",
                    fleet.racks
                )));
            }
        }
        Ok(())
    }

    fn check_repair(&self) -> Result<(), FleetError> {
        let repair = &self.repair;
        if !(repair.detection_minutes.is_finite() && repair.detection_minutes >= 0.0) {
            return Err(invalid(format!(
                "detection_minutes must be >= 0, got {}",
                repair.detection_minutes
            )));
        }
        positive("bandwidth_mb_s", repair.bandwidth_mb_s)?;
        if repair.peers_max == 0 {
            return Err(invalid("peers_max must be > 0, got 0".to_owned()));
        }
        if !(repair.fixed_mean_hours.is_finite() && repair.fixed_mean_hours >= 0.0) {
            return Err(invalid(format!(
                "fixed_mean_hours must be >= 0, got {}",
                repair.fixed_mean_hours
            )));
        }
        if self.copysets.scatter_width == 0 {
            return Err(invalid(
                "copysets.scatter_width must be > 0, got 0".to_owned(),
            ));
        }
        Ok(())
    }

    fn check_failures(&self) -> Result<(), FleetError> {
        let f = &self.failures;
        for (name, process) in [
            ("servers", &f.servers),
            ("disks", &f.disks),
            ("human_error", &f.human_error),
            ("datacenters", &f.datacenters),
        ] {
            positive(&format!("failures.{name}.mtbf_years"), process.mtbf_years)?;
        }
        positive("failures.racks.mtbf_years", f.racks.mtbf_years)?;
        f.racks.outage.check("failures.racks.outage")?;
        positive(
            "failures.power_domains.mtbf_years",
            f.power_domains.mtbf_years,
        )?;
        f.power_domains
            .outage
            .check("failures.power_domains.outage")?;
        if f.power_domains.racks_per_domain == 0 {
            return Err(invalid(
                "failures.power_domains.racks_per_domain must be > 0, got 0".to_owned(),
            ));
        }
        positive("failures.dc_power.mtbf_years", f.dc_power.mtbf_years)?;
        f.dc_power.outage.check("failures.dc_power.outage")?;
        let lost = f.dc_power.lost_fraction;
        if !(0.0..=1.0).contains(&lost) {
            return Err(invalid(format!(
                "failures.dc_power.lost_fraction must be in 0..=1, got {lost}"
            )));
        }
        positive("maintenance.interval_days", self.maintenance.interval_days)?;
        self.maintenance.outage.check("maintenance.outage")
    }

    /// Turns every failure process and maintenance off: tests switch on what they study.
    pub fn disable_all_failures(&mut self) {
        let f = &mut self.failures;
        f.servers.enabled = false;
        f.disks.enabled = false;
        f.human_error.enabled = false;
        f.racks.enabled = false;
        f.power_domains.enabled = false;
        f.dc_power.enabled = false;
        f.datacenters.enabled = false;
        self.maintenance.enabled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses() {
        // Goal: the embedded fleet.toml is valid and matches the defaults.
        let config = Config::parse(DEFAULT_CONFIG).expect("default config");
        assert_eq!(config.fleet.servers, 10_000);
        assert_eq!(config.fleet.racks, 500);
        assert_eq!(config.fleet.datacenters, 3);
        assert_eq!(config.fleet.shards, 1_000_000);
        assert_eq!(config.fleet.replication, vec![3]);
        assert_eq!(config.fleet.policies.len(), 4);
    }

    #[test]
    fn bad_values_are_named() {
        // Goal: a bad value yields an error naming the key and the value, not a panic.
        let text = DEFAULT_CONFIG.replace("servers = 10000", "servers = 0");
        let error = Config::parse(&text)
            .expect_err("servers = 0 must fail")
            .to_string();
        assert!(error.contains("servers must be > 0, got 0"), "{error}");
        let text = DEFAULT_CONFIG.replace("mtbf_years = 30.0", "mtbf_years = -1.0");
        let error = Config::parse(&text)
            .expect_err("negative mtbf must fail")
            .to_string();
        assert!(
            error.contains("failures.servers.mtbf_years must be > 0"),
            "{error}"
        );
    }
}
