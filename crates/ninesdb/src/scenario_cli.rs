//! `ninesdb lab run [SCENARIO|all]`: datacenter scenarios, a table and HTML reports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::Args;
use lab::scenario::{load_scenarios, run_scenario, RunSettings, Scenario, ScenarioOutcome};
use lab::topology::Topology;

/// The tour `lab run` gives without a scenario: the headline faults, in their short form.
const TOUR: [&str; 6] = [
    "leader-crash",
    "tor-switch-failure",
    "three-switch-partition",
    "dc-fire",
    "thermal-throttle",
    "packet-loss-10",
];

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// A scenario name (file stem in the scenarios directory), a path to a .toml file, or
    /// `all`. Without one: a short tour of the headline scenarios.
    scenario: Option<String>,
    /// The seed: the same seed gives the same run and the same report, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the HTML reports (one per scenario, plus index.html).
    #[arg(long, default_value = "lab-report")]
    report: PathBuf,
    /// Run each scenario's short form (what the test suite runs).
    #[arg(long)]
    short: bool,
    /// Force gray-failure handling on or off, whatever the files say.
    #[arg(long, value_parser = ["on", "off"])]
    gray_failure: Option<String>,
    /// The scenarios directory (default: ./scenarios, else the source tree's).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Write each scenario's event trace to DIR/<name>.trace (slow; for one scenario).
    #[arg(long)]
    trace: bool,
}

fn scenarios_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_owned();
    }
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

pub fn run(args: ScenarioArgs) -> anyhow::Result<ExitCode> {
    let dir = scenarios_dir(args.dir.as_deref());
    let all = load_scenarios(&dir).map_err(anyhow::Error::msg)?;
    let (chosen, short): (Vec<(Scenario, Topology)>, bool) = match args.scenario.as_deref() {
        None => {
            let tour = TOUR
                .iter()
                .filter_map(|name| all.iter().find(|(_, s, _)| s.name == *name))
                .map(|(_, s, t)| (s.clone(), t.clone()))
                .collect();
            (tour, true)
        }
        Some("all") => (
            all.iter().map(|(_, s, t)| (s.clone(), t.clone())).collect(),
            args.short,
        ),
        Some(name) if name.ends_with(".toml") => {
            let (scenario, topology) =
                lab::scenario::run::load_scenario(Path::new(name)).map_err(anyhow::Error::msg)?;
            (vec![(scenario, topology)], args.short)
        }
        Some(name) => match all.iter().find(|(_, s, _)| s.name == name) {
            Some((_, s, t)) => (vec![(s.clone(), t.clone())], args.short),
            None => {
                let names: Vec<&str> = all.iter().map(|(_, s, _)| s.name.as_str()).collect();
                anyhow::bail!(
                    "no scenario `{name}` in {}; known: {}, or all",
                    dir.display(),
                    names.join(", ")
                );
            }
        },
    };
    let settings = RunSettings {
        seed: args.seed,
        short,
        gray_failure: args.gray_failure.as_deref().map(|v| v == "on"),
        trace: args.trace,
    };
    let started = std::time::Instant::now();
    let outcomes = run_all(&chosen, &settings, args.threads)?;
    print_table(&outcomes);
    write_reports(&args.report, &outcomes)?;
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    println!(
        "{passed} of {} scenarios met their expected outcome (seed {}, {:.1} s wall); reports in {}",
        outcomes.len(),
        args.seed,
        started.elapsed().as_secs_f64(),
        args.report.join("index.html").display()
    );
    Ok(if passed == outcomes.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the scenarios on worker threads; results in the given order.
fn run_all(
    chosen: &[(Scenario, Topology)],
    settings: &RunSettings,
    threads: Option<usize>,
) -> anyhow::Result<Vec<ScenarioOutcome>> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ScenarioOutcome, String>>>> =
        Mutex::new((0..chosen.len()).map(|_| None).collect());
    let progress = crate::lab_cli::progress_bar(chosen.len() as u64);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(chosen.len()) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((scenario, topology)) = chosen.get(index) else {
                    break;
                };
                let outcome = run_scenario(scenario, topology, settings);
                results.lock().expect("no panics while locked")[index] = Some(outcome);
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
    results
        .into_iter()
        .zip(chosen)
        .map(|(r, (s, _))| {
            r.unwrap_or_else(|| Err("not run".into()))
                .map_err(|e| anyhow::anyhow!("scenario {}: {e}", s.name))
        })
        .collect()
}

fn print_table(outcomes: &[ScenarioOutcome]) {
    println!(
        "{:<28} {:>10} {:>6} {:>9} {:>8} {:>8} {:>6} {:>5} {:>7}  verdict",
        "scenario", "avail", "nines", "p99", "detect", "recover", "linear", "lost", "speed"
    );
    for o in outcomes {
        let m = &o.measures;
        let nines = if m.nines().is_finite() {
            format!("{:.1}", m.nines())
        } else {
            "inf".to_owned()
        };
        let detect = m
            .detect_s
            .iter()
            .flatten()
            .copied()
            .reduce(f64::max)
            .map_or("-".to_owned(), |s| format!("{s:.2}s"));
        let recover = m
            .recover_s
            .iter()
            .copied()
            .reduce(f64::max)
            .map_or("-".to_owned(), |s| format!("{s:.1}s"));
        let linear = match (
            o.violations
                .iter()
                .any(|v| !v.starts_with("repair") && !v.starts_with("liveness")),
            o.undecided,
        ) {
            (true, _) => "NO".to_owned(),
            (false, 0) => "yes".to_owned(),
            (false, undecided) => format!("yes/{undecided}?"),
        };
        let failed: Vec<&str> = o
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        let verdict = if failed.is_empty() {
            "PASS".to_owned()
        } else {
            format!("FAIL: {}", failed.join("; "))
        };
        println!(
            "{:<28} {:>9.4}% {:>6} {:>7.1}ms {:>8} {:>8} {:>6} {:>5} {:>6.0}x  {verdict}",
            o.name,
            m.availability * 100.0,
            nines,
            m.p99_ms,
            detect,
            recover,
            linear,
            o.lost_writes,
            o.speedup()
        );
    }
}

fn write_reports(dir: &Path, outcomes: &[ScenarioOutcome]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut rows = Vec::new();
    for o in outcomes {
        let file = format!("{}.html", o.name);
        std::fs::write(dir.join(&file), report::render(&o.report))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dir.join(&file).display()))?;
        if !o.trace.is_empty() {
            std::fs::write(
                dir.join(format!("{}.trace", o.name)),
                o.trace.join("\n") + "\n",
            )?;
        }
        let m = &o.measures;
        rows.push(report::IndexRow {
            scenario: o.name.clone(),
            href: file,
            cells: vec![
                (
                    "availability".into(),
                    format!("{:.4}%", m.availability * 100.0),
                ),
                ("p99".into(), format!("{:.1} ms", m.p99_ms)),
                ("lost writes".into(), o.lost_writes.to_string()),
            ],
            passed: o.passed(),
        });
    }
    std::fs::write(
        dir.join("index.html"),
        report::render_index("ninesdb lab scenarios", &rows),
    )?;
    Ok(())
}
