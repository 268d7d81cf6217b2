//! Turns runs into per-(policy, r) summaries, and summaries into a table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::closed_form;
use crate::config::{Config, HOURS_PER_YEAR};
use crate::montecarlo::{Job, RunResult, Source, SOURCES};
use crate::placement::Policy;
use crate::stats::{mean_interval, mean_time_between, nines, wilson, Estimate};

/// The results of all runs of one (policy, r).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Placement policy.
    pub policy: Policy,
    /// Replication factor.
    pub r: u32,
    /// Servers in the fleet.
    pub servers: u32,
    /// Shards in the fleet.
    pub shards: u64,
    /// Runs aggregated.
    pub runs: usize,
    /// Simulated years over all runs.
    pub simulated_years: f64,
    /// Probability that a year loses at least one shard (Wilson interval over run-years).
    pub p_loss_per_year: Estimate,
    /// Shards lost per year (t interval over runs).
    pub shards_lost_per_year: Estimate,
    /// Data-loss events observed.
    pub loss_events: u64,
    /// Mean time to data loss, years (Poisson interval; infinite when none observed).
    pub mttdl_years: Estimate,
    /// Shards that had a majority of replicas destroyed at once, per year (Raft needs
    /// manual recovery there and may lose recent acknowledged writes).
    pub quorum_destroyed_shards_per_year: f64,
    /// Shard-minutes without a majority per year (t interval over runs).
    pub unavailable_shard_minutes_per_year: Estimate,
    /// Fraction of shard-time with a majority.
    pub availability: f64,
    /// Nines of availability, with the interval carried over from the unavailability.
    pub nines: Estimate,
    /// Server failures per day (source `servers` only: the brief's "machine failures").
    pub machine_failures_per_day: f64,
    /// Events per year for each source.
    pub events_per_year: Vec<(String, f64)>,
}

/// Groups `results` (in `jobs` order) by (policy, r) and summarizes each group.
pub fn summarize(config: &Config, jobs: &[Job], results: &[RunResult]) -> Vec<Summary> {
    let mut summaries = Vec::new();
    let mut start = 0;
    while start < jobs.len() {
        let key = (jobs[start].policy, jobs[start].r);
        let end = (start..jobs.len())
            .find(|&i| (jobs[i].policy, jobs[i].r) != key)
            .unwrap_or(jobs.len());
        summaries.push(summarize_one(config, key.0, key.1, &results[start..end]));
        start = end;
    }
    summaries
}

/// Counts the whole or partial years of a run that saw at least one loss event.
fn years_with_loss(result: &RunResult) -> (u64, u64) {
    let years = (result.stats.hours / HOURS_PER_YEAR).ceil().max(1.0) as u64;
    let mut hit = vec![false; years as usize];
    for &(hour, _) in &result.stats.loss_events {
        let year = ((hour / HOURS_PER_YEAR) as usize).min(hit.len() - 1);
        hit[year] = true;
    }
    (hit.iter().filter(|&&h| h).count() as u64, years)
}

fn summarize_one(config: &Config, policy: Policy, r: u32, runs: &[RunResult]) -> Summary {
    let shards = config.fleet.shards;
    let run_years: Vec<f64> = runs
        .iter()
        .map(|run| run.stats.hours / HOURS_PER_YEAR)
        .collect();
    let simulated_years: f64 = run_years.iter().sum();
    let (lossy_years, years) = runs
        .iter()
        .map(years_with_loss)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let lost_per_year: Vec<f64> = runs
        .iter()
        .zip(&run_years)
        .map(|(run, years)| run.stats.lost_shards as f64 / years)
        .collect();
    let loss_events: u64 = runs
        .iter()
        .map(|run| run.stats.loss_events.len() as u64)
        .sum();
    let minutes_per_year: Vec<f64> = runs
        .iter()
        .zip(&run_years)
        .map(|(run, years)| run.stats.unavailable_shard_hours * 60.0 / years)
        .collect();
    let unavailable = mean_interval(&minutes_per_year);
    let shard_minutes_per_year = shards as f64 * HOURS_PER_YEAR * 60.0;
    let fraction = |minutes: f64| (minutes / shard_minutes_per_year).max(0.0);
    let nines_estimate = Estimate {
        value: nines(fraction(unavailable.value)),
        low: nines(fraction(unavailable.high)),
        high: nines(fraction(unavailable.low)),
    };
    let quorum: u64 = runs
        .iter()
        .map(|run| run.stats.quorum_destroyed_shards)
        .sum();
    let mut events = [0u64; SOURCES];
    for run in runs {
        for (total, count) in events.iter_mut().zip(run.events) {
            *total += count;
        }
    }
    Summary {
        policy,
        r,
        servers: config.fleet.servers,
        shards,
        runs: runs.len(),
        simulated_years,
        p_loss_per_year: wilson(lossy_years, years),
        shards_lost_per_year: mean_interval(&lost_per_year),
        loss_events,
        mttdl_years: mean_time_between(loss_events, simulated_years),
        quorum_destroyed_shards_per_year: quorum as f64 / simulated_years,
        unavailable_shard_minutes_per_year: unavailable,
        availability: 1.0 - fraction(unavailable.value),
        nines: nines_estimate,
        machine_failures_per_day: events[0] as f64 / (simulated_years * HOURS_PER_YEAR / 24.0),
        events_per_year: Source::ALL
            .iter()
            .zip(events)
            .map(|(source, count)| (source.name().to_owned(), count as f64 / simulated_years))
            .collect(),
    }
}

/// A number in 3 significant digits, or scientific when very large or small.
pub fn number(value: f64) -> String {
    if value == 0.0 {
        "0".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else if value.is_nan() {
        "-".to_owned()
    } else if value.abs() >= 1.0e5 || value.abs() < 1.0e-2 {
        format!("{value:.2e}")
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn interval(estimate: &Estimate) -> String {
    format!(
        "{} [{}, {}]",
        number(estimate.value),
        number(estimate.low.max(0.0)),
        number(estimate.high)
    )
}

/// Availability as a percentage with as many decimals as its nines need.
fn percent(availability: f64, nines_value: f64) -> String {
    if nines_value.is_infinite() {
        return "100% (none seen)".to_owned();
    }
    let decimals = (nines_value.floor() as usize).clamp(2, 12);
    format!("{:.*}%", decimals, availability * 100.0)
}

/// The header lines and the results table.
pub fn table(config: &Config, summaries: &[Summary]) -> String {
    let fleet = &config.fleet;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ninesdb fleet: {} servers, {} racks, {} DCs, {} shards; {} years x {} runs per row (seed {})",
        fleet.servers, fleet.racks, fleet.datacenters, fleet.shards, fleet.years, fleet.runs, fleet.seed
    );
    if let Some(first) = summaries.first() {
        let expected =
            closed_form::failures_per_day(fleet.servers, config.failures.servers.mtbf_years);
        let _ = writeln!(
            out,
            "machine failures per day: {:.3} measured (expected N/MTBF = {:.3})",
            first.machine_failures_per_day, expected
        );
    }
    let _ = writeln!(
        out,
        "{:<10} {:>2}  {:<26} {:<24} {:<26} {:<28} {:<16} nines [CI]",
        "policy",
        "r",
        "P(loss)/yr [95% CI]",
        "shards lost/yr [CI]",
        "MTTDL yr [CI]",
        "unavail shard-min/yr [CI]",
        "availability"
    );
    for s in summaries {
        let nines_text = if s.nines.value.is_infinite() {
            // No unavailability seen: one shard-minute over all runs bounds the nines.
            let bound = nines(1.0 / (s.shards as f64 * s.simulated_years * HOURS_PER_YEAR * 60.0));
            format!(">{bound:.1}")
        } else {
            format!(
                "{:.2} [{:.2}, {}]",
                s.nines.value,
                s.nines.low,
                number(s.nines.high)
            )
        };
        let _ = writeln!(
            out,
            "{:<10} {:>2}  {:<26} {:<24} {:<26} {:<28} {:<16} {}",
            s.policy.name(),
            s.r,
            interval(&s.p_loss_per_year),
            interval(&s.shards_lost_per_year),
            interval(&s.mttdl_years),
            interval(&s.unavailable_shard_minutes_per_year),
            percent(s.availability, s.nines.value),
            nines_text
        );
    }
    out
}
