//! `ninesdb lab fuzz` and `ninesdb lab replay`: many seeded runs, one line per failure with the
//! command that reproduces it, and one summary line.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::options::SimOptions;
use crate::sim::{RunReport, Sim};

/// Runs one seed; a panic inside the logic is a violation too, not a crash of the lab.
pub fn run_seed(options: &SimOptions) -> RunReport {
    let seed = options.seed;
    let outcome = catch_unwind(AssertUnwindSafe(|| Sim::new(options.clone()).map(Sim::run)));
    match outcome {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => RunReport {
            seed,
            violations: vec![format!("bad options: {error}")],
            ..RunReport::default()
        },
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            RunReport {
                seed,
                violations: vec![format!("panic: {}", text.unwrap_or_default())],
                ..RunReport::default()
            }
        }
    }
}

/// The command line that reruns `options`.
pub fn reproduce_command(options: &SimOptions) -> String {
    let mut command = format!(
        "ninesdb lab replay --seed {} --nodes {} --groups {} --faults {}",
        options.seed, options.nodes, options.groups, options.faults
    );
    if let Some(bug) = options.bug {
        let _ = write!(command, " --bug {}", bug.name());
    }
    if options.duration_ms != SimOptions::new(0).duration_ms {
        let _ = write!(command, " --duration-ms {}", options.duration_ms);
    }
    command
}

/// Totals over a fuzz campaign.
#[derive(Debug, Default)]
pub struct FuzzSummary {
    pub seeds: u64,
    pub failing_seeds: u64,
    pub violations: u64,
    pub undecided_keys: u64,
    pub events: u64,
    pub operations: u64,
    pub first_failing_seed: Option<u64>,
    /// Nodes lost for good, over all seeds.
    pub nodes_lost: u64,
    /// Times from a node's loss to the full repair of its groups, microseconds.
    pub repair_micros: Vec<u64>,
}

impl FuzzSummary {
    /// Adds one seed's report.
    pub fn add(&mut self, report: &RunReport) {
        self.seeds += 1;
        self.events += report.events;
        self.operations += report.operations as u64;
        self.undecided_keys += report.undecided.len() as u64;
        self.nodes_lost += report.nodes_lost as u64;
        self.repair_micros.extend(&report.repair_micros);
        if !report.violations.is_empty() {
            self.failing_seeds += 1;
            self.violations += report.violations.len() as u64;
            self.first_failing_seed = Some(
                self.first_failing_seed
                    .map_or(report.seed, |seed| seed.min(report.seed)),
            );
        }
    }

    /// "N node losses, time to full repair: mean X s, max Y s", or `None` without losses.
    pub fn repair_line(&self) -> Option<String> {
        let count = self.repair_micros.len() as u64;
        let max = self.repair_micros.iter().max()?;
        let mean = self.repair_micros.iter().sum::<u64>() / count.max(1);
        Some(format!(
            "{} node losses, time to full repair: mean {:.2} s, max {:.2} s",
            self.nodes_lost,
            mean as f64 / 1e6,
            *max as f64 / 1e6
        ))
    }
}

/// Runs `count` seeds from `first_seed`; calls `on_failure` with a line for each failing seed.
pub fn fuzz(
    base: &SimOptions,
    first_seed: u64,
    count: u64,
    mut on_failure: impl FnMut(String),
) -> FuzzSummary {
    let mut summary = FuzzSummary::default();
    for seed in first_seed..first_seed.saturating_add(count) {
        let options = SimOptions {
            seed,
            trace: false,
            ..base.clone()
        };
        let report = run_seed(&options);
        summary.add(&report);
        if report.violations.is_empty() {
            continue;
        }
        let first = report.violations[0]
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        on_failure(format!(
            "seed {seed}: {} violation(s): {first}\n  reproduce with: {}",
            report.violations.len(),
            reproduce_command(&options)
        ));
    }
    summary
}

/// The full text `ninesdb lab replay` prints: the trace, the violations, the totals.
pub fn replay_text(options: &SimOptions) -> String {
    let options = SimOptions {
        trace: true,
        ..options.clone()
    };
    let report = run_seed(&options);
    let mut out = String::new();
    for line in &report.trace {
        out.push_str(line);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "seed {}: {} events, {:.3} simulated s, {} operations ({} acknowledged writes, {} indeterminate), {} leaders elected, disk faults {:?}",
        report.seed,
        report.events,
        report.simulated_micros as f64 / 1e6,
        report.operations,
        report.acknowledged_writes,
        report.indeterminate,
        report.leaders_elected,
        report.disk
    );
    for (loss, micros) in report.repair_micros.iter().enumerate() {
        let _ = writeln!(
            out,
            "node loss {}: every group repaired after {:.3} s",
            loss + 1,
            *micros as f64 / 1e6
        );
    }
    for undecided in &report.undecided {
        let _ = writeln!(out, "undecided: {undecided}");
    }
    for violation in &report.violations {
        let _ = writeln!(out, "VIOLATION: {violation}");
    }
    let _ = writeln!(out, "{} violations", report.violations.len());
    out
}
