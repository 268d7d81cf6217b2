//! `ninesdb lab ...`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use clap::{Args, Subcommand};
use lab::{Bug, FaultSet, SimOptions};

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Run many seeded simulations with faults; print each failing seed with the command that
    /// reproduces it, and end with "N seeds, V violations" (exit status 1 if V > 0).
    Fuzz(FuzzArgs),
    /// Rerun one seed and print its event trace (same seed and flags: byte-identical output).
    Replay(ReplayArgs),
    /// Measure the Raft core (entries committed per second, 3 voters, in-memory network)
    /// and the simulator (events per wall second).
    BenchCore(BenchCoreArgs),
    /// Run datacenter scenarios (scenarios/*.toml): the brief's faults on a simulated
    /// topology under client load. Prints one row per scenario (availability, nines, p99,
    /// detect, recover, linearizable, lost writes, verdict) and writes HTML reports.
    /// Without a scenario: a short tour of the headline scenarios (under a minute).
    Run(ScenarioArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Nodes in the simulated cluster (each group starts with 3 or 5 voters on them; the rest
    /// join by membership changes and repairs).
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Raft groups (multi-raft): keys map to groups, each node hosts the replicas placed on it
    /// and shares its log, clock and peer links among them.
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Fault classes: all, none, or a comma-separated list of net, partition, crash, pause,
    /// membership, clock, disk, node-loss.
    #[arg(long, default_value = "all")]
    faults: FaultSet,
    /// Switch on a deliberate defect to see the checkers catch it: commit-old-term,
    /// forget-vote, stale-reads, skip-check-quorum, ack-before-persist.
    #[arg(long)]
    bug: Option<Bug>,
    /// Simulated milliseconds of faults and client load before everything heals.
    #[arg(long, default_value_t = 10_000)]
    duration_ms: u64,
}

impl RunArgs {
    fn options(&self, seed: u64) -> Result<SimOptions, String> {
        let options = SimOptions {
            seed,
            nodes: self.nodes,
            groups: self.groups,
            faults: self.faults,
            bug: self.bug,
            duration_ms: self.duration_ms,
            trace: false,
        };
        options.validate()?;
        Ok(options)
    }
}

#[derive(Debug, Args)]
struct FuzzArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 200)]
    seeds: u64,
    /// The first seed (seeds run from here upwards).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The seed to rerun.
    #[arg(long)]
    seed: u64,
    #[command(flatten)]
    run: RunArgs,
}

pub use crate::scenario_cli::ScenarioArgs;

#[derive(Debug, Args)]
struct BenchCoreArgs {
    /// Entries to commit through the core.
    #[arg(long, default_value_t = 5_000_000)]
    entries: u64,
    /// Commands per proposal batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seeds to run for the simulator's speed.
    #[arg(long, default_value_t = 20)]
    sim_seeds: u64,
}

pub fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        LabCommand::Run(scenarios) => crate::scenario_cli::run(scenarios),
        LabCommand::Fuzz(fuzz) => run_fuzz(fuzz),
        LabCommand::Replay(replay) => {
            let options = replay
                .run
                .options(replay.seed)
                .map_err(anyhow::Error::msg)?;
            let text = lab::replay_text(&options);
            print!("{text}");
            let clean = text.ends_with("\n0 violations\n");
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        LabCommand::BenchCore(bench) => {
            let core = lab::bench::core_throughput(bench.entries, bench.batch);
            println!(
                "raft core: {} entries committed in {:.3} s = {:.0} entries/s (3 voters, in-memory network, 64-byte commands, batches of {})",
                core.entries_committed, core.seconds, core.entries_per_second(), bench.batch
            );
            let sim = lab::bench::simulator_speed(bench.sim_seeds).map_err(anyhow::Error::msg)?;
            println!(
                "simulator: {} events in {:.3} s = {:.0} events/s in the event loop; with the final checks ({:.3} s) {:.0} events/s ({} default seeds, one thread)",
                sim.events,
                sim.simulate_seconds,
                sim.events as f64 / sim.simulate_seconds,
                sim.check_seconds,
                sim.events as f64 / (sim.simulate_seconds + sim.check_seconds),
                bench.sim_seeds
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs the seeds on worker threads and prints failures in seed order, so that the output
/// does not depend on scheduling (only the wall time on the summary line does).
fn run_fuzz(args: FuzzArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let base = args
        .run
        .options(args.first_seed)
        .map_err(anyhow::Error::msg)?;
    let summary = Mutex::new(lab::FuzzSummary::default());
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<Option<(usize, Option<String>)>>> =
        Mutex::new(vec![None; args.seeds as usize]);
    let progress = progress_bar(args.seeds);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let offset = next.fetch_add(1, Ordering::Relaxed);
                if offset >= args.seeds {
                    break;
                }
                let options = SimOptions {
                    seed: args.first_seed + offset,
                    ..base.clone()
                };
                let report = lab::run_seed(&options);
                summary.lock().expect("no panics while locked").add(&report);
                let failure = (!report.violations.is_empty()).then(|| {
                    let first = report.violations[0]
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    format!(
                        "seed {}: {} violation(s): {first}\n  reproduce with: {}",
                        options.seed,
                        report.violations.len(),
                        lab::reproduce_command(&options)
                    )
                });
                results.lock().expect("no panics while locked")[offset as usize] =
                    Some((report.violations.len(), failure));
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
            });
        }
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let results = results.into_inner().expect("no panics while locked");
    let mut violations = 0;
    for (count, failure) in results.into_iter().flatten() {
        violations += count;
        if let Some(line) = failure {
            println!("{line}");
        }
    }
    let summary = summary.into_inner().expect("no panics while locked");
    let repairs = summary
        .repair_line()
        .map(|line| format!("; {line}"))
        .unwrap_or_default();
    println!(
        "{} seeds, {violations} violations (nodes {}, groups {}, faults {}) in {:.1} s wall{repairs}",
        args.seeds,
        base.nodes,
        base.groups,
        base.faults,
        started.elapsed().as_secs_f64()
    );
    Ok(if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(crate) fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} seeds  {elapsed} elapsed, ~{eta} left",
    )
    .ok()?;
    bar.set_style(style);
    Some(bar)
}
