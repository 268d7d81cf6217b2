//! Drives the fleet with its failure processes over simulated years, and runs many such
//! runs on all cores.
//!
//! Failures are Poisson processes per component class (the superposition of N units with
//! rate 1/MTBF is one process of rate N/MTBF; the failing unit is uniform). Only failure
//! events are simulated, never idle shards: a run costs O(events x replicas touched).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::{Config, Duration, HOURS_PER_YEAR};
use crate::error::FleetError;
use crate::placement::{below, Placement, Policy};
use crate::sim::{RepairModel, RunStats, Sim};
use crate::topology::Topology;

/// The kinds of events, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Server hardware failure (data rebuilt elsewhere).
    Servers,
    /// Disk failure (data destroyed).
    Disks,
    /// Operator wipes a node.
    HumanError,
    /// Top-of-rack switch failure.
    Racks,
    /// Power-domain failure.
    PowerDomains,
    /// Datacenter-wide power outage.
    DcPower,
    /// Datacenter disaster.
    Datacenters,
    /// Planned reboot.
    Maintenance,
}

/// Number of sources.
pub const SOURCES: usize = 8;

impl Source {
    /// All sources, in report order.
    pub const ALL: [Source; SOURCES] = [
        Source::Servers,
        Source::Disks,
        Source::HumanError,
        Source::Racks,
        Source::PowerDomains,
        Source::DcPower,
        Source::Datacenters,
        Source::Maintenance,
    ];

    /// Name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Source::Servers => "servers",
            Source::Disks => "disks",
            Source::HumanError => "human_error",
            Source::Racks => "racks",
            Source::PowerDomains => "power_domains",
            Source::DcPower => "dc_power",
            Source::Datacenters => "datacenters",
            Source::Maintenance => "maintenance",
        }
    }
}

/// One run's results.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// What the fleet state measured.
    pub stats: RunStats,
    /// Events per source.
    pub events: [u64; SOURCES],
}

/// One unit of work: a policy, a replication factor and a run index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Placement policy.
    pub policy: Policy,
    /// Replication factor.
    pub r: u32,
    /// Run index (selects the seeds).
    pub run: u32,
}

/// SplitMix64 step: derives independent stream seeds from the root seed.
pub fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seeds of a job. The failure stream depends on the run only, so every policy and r face
/// the same failure history (common random numbers: differences between rows are not noise).
fn job_seeds(root: u64, job: Job) -> (u64, u64, u64) {
    let policy_index = Policy::ALL
        .iter()
        .position(|&p| p == job.policy)
        .unwrap_or(0) as u64;
    let key = (u64::from(job.run) << 32) | (u64::from(job.r) << 8) | policy_index;
    (
        mix(mix(root, 1), key),
        mix(mix(root, 2), u64::from(job.run)),
        mix(mix(root, 3), key),
    )
}

/// Per-hour rates of the Poisson sources (0 when disabled); maintenance is scheduled, not Poisson.
fn rates(config: &Config, topology: &Topology) -> [f64; SOURCES] {
    let f = &config.failures;
    let per_hour = |enabled: bool, units: usize, mtbf_years: f64| {
        if enabled {
            units as f64 / (mtbf_years * HOURS_PER_YEAR)
        } else {
            0.0
        }
    };
    let servers = topology.servers() as usize;
    [
        per_hour(f.servers.enabled, servers, f.servers.mtbf_years),
        per_hour(f.disks.enabled, servers, f.disks.mtbf_years),
        per_hour(f.human_error.enabled, servers, f.human_error.mtbf_years),
        per_hour(
            f.racks.enabled,
            topology.racks() as usize,
            f.racks.mtbf_years,
        ),
        per_hour(
            f.power_domains.enabled,
            topology.power_domains().len(),
            f.power_domains.mtbf_years,
        ),
        per_hour(
            f.dc_power.enabled,
            topology.datacenters() as usize,
            f.dc_power.mtbf_years,
        ),
        per_hour(
            f.datacenters.enabled,
            topology.datacenters() as usize,
            f.datacenters.mtbf_years,
        ),
        0.0,
    ]
}

fn exponential(rng: &mut Xoshiro256PlusPlus, rate: f64) -> f64 {
    let u: f64 = rng.gen();
    -(1.0 - u).ln() / rate
}

fn sample(rng: &mut Xoshiro256PlusPlus, duration: &Duration) -> f64 {
    duration.sample(rng.gen())
}

/// Runs one simulated fleet history over `config.fleet.years`.
pub fn simulate(
    config: &Config,
    topology: &Topology,
    placement: &Placement,
    failure_seed: u64,
    repair_seed: u64,
) -> RunResult {
    let horizon = config.fleet.years * HOURS_PER_YEAR;
    let mut sim = Sim::new(
        placement,
        topology.servers(),
        RepairModel::from_config(config),
        repair_seed,
    );
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(failure_seed);
    let rates = rates(config, topology);
    let mut next = [f64::INFINITY; SOURCES];
    for (index, &rate) in rates.iter().enumerate() {
        if rate > 0.0 {
            next[index] = exponential(&mut rng, rate);
        }
    }
    // Rolling reboots: one server at a time, in server order, evenly spaced over the interval.
    let maintenance_gap = config.maintenance.interval_days * 24.0 / f64::from(topology.servers());
    let mut maintenance_server = below(&mut rng, topology.servers());
    if config.maintenance.enabled {
        next[SOURCES - 1] = maintenance_gap * rng.gen::<f64>();
    }
    let mut events = [0u64; SOURCES];
    loop {
        let (index, time) =
            next.iter()
                .copied()
                .enumerate()
                .fold((0, f64::INFINITY), |best, candidate| {
                    if candidate.1 < best.1 {
                        candidate
                    } else {
                        best
                    }
                });
        if time > horizon {
            break;
        }
        sim.advance_to(time);
        events[index] += 1;
        let source = Source::ALL[index];
        if source == Source::Maintenance {
            sim.outage(
                maintenance_server..maintenance_server + 1,
                sample(&mut rng, &config.maintenance.outage),
            );
            maintenance_server = (maintenance_server + 1) % topology.servers();
            next[index] = time + maintenance_gap;
        } else {
            apply(source, config, topology, &mut sim, &mut rng);
            next[index] = time + exponential(&mut rng, rates[index]);
        }
    }
    RunResult {
        stats: sim.finish(horizon),
        events,
    }
}

/// Applies one failure event of `source` to a uniformly chosen unit.
fn apply(
    source: Source,
    config: &Config,
    topology: &Topology,
    sim: &mut Sim<'_>,
    rng: &mut Xoshiro256PlusPlus,
) {
    let f = &config.failures;
    match source {
        Source::Servers | Source::Disks | Source::HumanError => {
            let server = below(rng, topology.servers());
            sim.destroy(&[server]);
        }
        Source::Racks => {
            let rack = below(rng, topology.racks());
            let hours = sample(rng, &f.racks.outage);
            sim.outage(topology.rack_servers(rack), hours);
        }
        Source::PowerDomains => {
            let domains = topology.power_domains();
            let domain = domains[below(rng, domains.len() as u32) as usize].clone();
            let hours = sample(rng, &f.power_domains.outage);
            sim.outage(domain, hours);
        }
        Source::DcPower => {
            let dc = topology.dc_servers(below(rng, topology.datacenters()));
            let hours = sample(rng, &f.dc_power.outage);
            // Stochastic rounding keeps the expected number of lost servers exact.
            let expected = f.dc_power.lost_fraction * dc.len() as f64;
            let count = (expected + rng.gen::<f64>()).floor() as usize;
            let lost = distinct_sample(rng, dc.start, dc.len(), count.min(dc.len()));
            sim.outage(dc, hours);
            sim.destroy(&lost);
        }
        Source::Datacenters => {
            let dc: Vec<u32> = topology
                .dc_servers(below(rng, topology.datacenters()))
                .collect();
            sim.destroy(&dc);
        }
        Source::Maintenance => unreachable!("maintenance is scheduled by the caller"),
    }
}

/// `count` distinct ids from `start..start + len` (Floyd's algorithm).
pub fn distinct_sample(
    rng: &mut Xoshiro256PlusPlus,
    start: u32,
    len: usize,
    count: usize,
) -> Vec<u32> {
    let mut taken = vec![false; len];
    let mut chosen = Vec::with_capacity(count);
    for upper in len - count..len {
        let pick = rng.gen_range(0..=upper);
        let pick = if taken[pick] { upper } else { pick };
        taken[pick] = true;
        chosen.push(start + pick as u32);
    }
    chosen
}

/// Runs one job: builds its placement, then simulates.
pub fn run_job(config: &Config, topology: &Topology, job: Job) -> Result<RunResult, FleetError> {
    let (placement_seed, failure_seed, repair_seed) = job_seeds(config.fleet.seed, job);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(placement_seed);
    let placement = Placement::build(
        topology,
        job.policy,
        job.r,
        config.fleet.shards,
        config.copysets.scatter_width,
        &mut rng,
    )?;
    Ok(simulate(
        config,
        topology,
        &placement,
        failure_seed,
        repair_seed,
    ))
}

/// Every (policy, r, run) of a configuration, in report order.
pub fn jobs_of(config: &Config) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &policy in &config.fleet.policies {
        for &r in &config.fleet.replication {
            jobs.extend((0..config.fleet.runs).map(|run| Job { policy, r, run }));
        }
    }
    jobs
}

/// Runs `jobs` on `threads` threads; results come back in job order whatever the
/// scheduling, so output depends on the seed only. Shows progress when stderr is a terminal.
pub fn run_jobs(
    config: &Config,
    jobs: &[Job],
    threads: usize,
    label: &str,
) -> Result<Vec<RunResult>, FleetError> {
    let topology = Topology::new(
        config.fleet.servers,
        config.fleet.racks,
        config.fleet.datacenters,
        config.failures.power_domains.racks_per_domain,
    );
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunResult, FleetError>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let show_progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(&job) = jobs.get(index) else { break };
                let result = run_job(config, &topology, job);
                let failed = result.is_err();
                results.lock().unwrap_or_else(|poison| poison.into_inner())[index] = Some(result);
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if show_progress {
                    let seconds = started.elapsed().as_secs_f64();
                    eprint!(
                        "\r[fleet] {label}: {finished}/{} runs, {seconds:.1} s",
                        jobs.len()
                    );
                }
                if failed {
                    next.store(jobs.len(), Ordering::Relaxed); // Stop early: the error is reported below.
                }
            });
        }
    });
    if show_progress {
        eprintln!();
    }
    let results = results
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    // Report the first real error, not the runs skipped because of it.
    let mut collected = Vec::with_capacity(jobs.len());
    let mut skipped = false;
    for result in results {
        match result {
            Some(result) => collected.push(result?),
            None => skipped = true,
        }
    }
    if skipped {
        return Err(FleetError::Config("a run was skipped".to_owned()));
    }
    Ok(collected)
}
