//! One scenario end to end: build the world from its file and topology, run it, measure,
//! check the expected outcome, and describe it for the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::options::{FaultSet, SimOptions};
use crate::params::{Params, MS};
use crate::rng::SimRng;
use crate::scenario::load::{Load, Stream};
use crate::scenario::measure::{measure, Measures};
use crate::scenario::spec::Scenario;
use crate::scenario::world::World;
use crate::sim::Sim;
use crate::topology::Topology;

/// Clients start this long after the nodes (time to elect the first leaders), as a real
/// cluster is up before traffic is sent to it.
pub const WARM_UP: u64 = 2_000 * MS;

/// How to run a scenario.
#[derive(Clone, Debug, Default)]
pub struct RunSettings {
    pub seed: u64,
    /// Run the short form (the file's `short_duration_s`).
    pub short: bool,
    /// Override the file's gray-failure handling (to compare on and off).
    pub gray_failure: Option<bool>,
    /// Record the event trace (`ScenarioOutcome::trace`): slow, for debugging one run.
    pub trace: bool,
}

/// What one run showed.
#[derive(Debug)]
pub struct ScenarioOutcome {
    pub name: String,
    pub seed: u64,
    pub measures: Measures,
    /// Safety and liveness violations the checkers found (empty: linearizable and sound).
    pub violations: Vec<String>,
    pub lost_writes: u64,
    /// Keys whose linearizability the checker's search could not decide within its budget.
    pub undecided: usize,
    pub checks: Vec<report::Check>,
    pub simulated_s: f64,
    pub wall_s: f64,
    pub events: u64,
    pub report: report::Run,
    /// With `compare_gray_failure`: the same run's measures with the handling off.
    pub without_gray_failure: Option<Measures>,
    /// The event trace, if asked for.
    pub trace: Vec<String>,
}

impl ScenarioOutcome {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Simulated time over wall time.
    pub fn speedup(&self) -> f64 {
        self.simulated_s / self.wall_s.max(1e-9)
    }
}

/// Reads every `*.toml` scenario of `dir` (sorted by file name) with its topology.
pub fn load_scenarios(dir: &Path) -> Result<Vec<(PathBuf, Scenario, Topology)>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read scenarios from {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| load_scenario(&path).map(|(s, t)| (path, s, t)))
        .collect()
}

/// Reads one scenario file and the topology it names (relative to the file's directory).
pub fn load_scenario(path: &Path) -> Result<(Scenario, Topology), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let scenario = Scenario::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let topology_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&scenario.topology);
    let text = std::fs::read_to_string(&topology_path).map_err(|e| {
        format!(
            "{}: cannot read topology {}: {e}",
            path.display(),
            topology_path.display()
        )
    })?;
    let topology =
        Topology::from_toml(&text).map_err(|e| format!("{}: {e}", topology_path.display()))?;
    Ok((scenario, topology))
}

/// Each group's initial voters (slots), by the placement policy over the topology: spread
/// over every datacenter, or confined to one.
fn initial_layout(scenario: &Scenario, topology: &Topology) -> Result<Vec<Vec<usize>>, String> {
    let only_dc = scenario.cluster.placement.strip_prefix("one-dc:");
    if let Some(dc) = only_dc {
        topology
            .nodes_in(dc)
            .map_err(|e| format!("cluster.placement: {e}"))?;
    }
    let placement_topology = super::placement_topology(topology, |slot| {
        let labels = topology.labels(slot as u64 + 1)?;
        only_dc
            .is_none_or(|dc| labels.dc == dc)
            .then_some(placement::NodeState::Up)
    });
    if let Some(dc) = &scenario.cluster.leader_dc {
        topology
            .nodes_in(dc)
            .map_err(|e| format!("cluster.leader_dc: {e}"))?;
    }
    let leader_dc = scenario.cluster.leader_dc.as_deref();
    let plan = placement::initial(
        &placement_topology,
        scenario.cluster.groups as u64,
        scenario.cluster.replication,
        leader_dc,
    )
    .map_err(|e| format!("placement: {e}"))?;
    Ok(plan
        .replicas
        .into_iter()
        .map(|ids| ids.into_iter().map(|id| id as usize - 1).collect())
        .collect())
}

/// Runs `scenario` on `topology`.
pub fn run_scenario(
    scenario: &Scenario,
    topology: &Topology,
    settings: &RunSettings,
) -> Result<ScenarioOutcome, String> {
    let scenario = match (settings.short, scenario.short_duration_s) {
        (true, Some(short)) => scenario.shortened(short),
        _ => scenario.clone(),
    };
    let mut scenario = scenario;
    if let Some(gray) = settings.gray_failure {
        scenario.cluster.gray_failure = gray;
    }
    let started = Instant::now();
    let mut sim = build(&scenario, topology, settings.seed)?;
    sim.options.trace = settings.trace;
    let events = sim.simulate();
    let world = sim.world.take().ok_or("the scenario's world is gone")?;
    let dead = sim.dead_groups();
    let groups = scenario.cluster.groups;
    let final_readers = sim.params.final_readers as u64;
    let duration = (scenario.duration_s * 1e6) as u64;
    let deadline = scenario.workload.deadline_ms * MS;
    // The measures need only the world: work them out on another core meanwhile.
    let (measures, lost_writes, report) = std::thread::scope(|scope| {
        let measuring = scope.spawn(|| {
            measure(
                &world.load.records,
                &world.record,
                duration,
                groups,
                deadline,
            )
        });
        let lost_writes = super::lost::lost_writes(
            &sim.history,
            |client| client < final_readers,
            |key| (key % groups as u64) as usize,
            &dead,
        );
        let report = sim.finish();
        (
            measuring.join().expect("measuring panicked"),
            lost_writes,
            report,
        )
    });
    let wall_s = started.elapsed().as_secs_f64();
    let violations = report.violations.clone();
    let undecided = report.undecided.len();
    let mut checks = checks(
        &scenario,
        &measures,
        &world,
        lost_writes,
        &violations,
        &dead,
    );
    if undecided > 0 {
        if let Some(check) = checks.first_mut() {
            check.detail.push_str(&format!(
                "; {undecided} keys undecided (the search ran out of budget)"
            ));
        }
    }
    let outcome = ScenarioOutcome {
        name: scenario.name.clone(),
        seed: settings.seed,
        lost_writes,
        undecided,
        simulated_s: duration as f64 / 1e6,
        wall_s,
        events,
        report: report::Run::default(),
        without_gray_failure: None,
        trace: report.trace,
        measures,
        violations,
        checks,
    };
    let mut outcome = outcome;
    if scenario.compare_gray_failure && settings.gray_failure.is_none() {
        compare_gray_failure(&scenario, topology, settings, &mut outcome)?;
    }
    let run = super::report::describe(
        &scenario, topology, &world, &outcome, &dead, duration, deadline,
    );
    Ok(ScenarioOutcome {
        report: run,
        ..outcome
    })
}

/// Runs the scenario again with gray-failure handling off (same seed) and puts the two p99s
/// of the fault period side by side.
fn compare_gray_failure(
    scenario: &Scenario,
    topology: &Topology,
    settings: &RunSettings,
    outcome: &mut ScenarioOutcome,
) -> Result<(), String> {
    let off = run_scenario(
        scenario,
        topology,
        &RunSettings {
            gray_failure: Some(false),
            trace: false,
            ..settings.clone()
        },
    )?;
    let on_p99 = outcome
        .measures
        .p99_during_faults_ms
        .unwrap_or(outcome.measures.p99_ms);
    let off_p99 = off
        .measures
        .p99_during_faults_ms
        .unwrap_or(off.measures.p99_ms);
    outcome.without_gray_failure = Some(off.measures.clone());
    if scenario.expect.gray_failure_helps {
        outcome.checks.push(report::Check {
            name: "handling gray failure lowers p99 during the fault and raises availability".to_owned(),
            passed: on_p99 < off_p99 && outcome.measures.availability > off.measures.availability,
            detail: format!(
                "p99 during the fault: {on_p99:.1} ms with handling, {off_p99:.1} ms without; availability {:.4}% vs {:.4}%",
                outcome.measures.availability * 100.0,
                off.measures.availability * 100.0
            ),
        });
    }
    Ok(())
}

fn build(scenario: &Scenario, topology: &Topology, seed: u64) -> Result<Sim, String> {
    let cluster = &scenario.cluster;
    let nodes = topology.node_count();
    let options = SimOptions {
        seed,
        nodes,
        groups: cluster.groups,
        faults: FaultSet::default(),
        bug: None,
        duration_ms: (scenario.duration_s * 1000.0).ceil() as u64,
        trace: false,
    };
    options.validate()?;
    if cluster.replication > nodes {
        return Err(format!(
            "cluster.replication {} needs at least as many nodes; the topology has {nodes}",
            cluster.replication
        ));
    }
    let layout = initial_layout(scenario, topology)?;
    let params = Params {
        clients: 0,
        final_readers: cluster.groups.min(8),
        keys: scenario.workload.keys,
        replication: cluster.replication,
        layout: layout.clone(),
        drop_chance: 0.0,
        duplicate_chance: 0.0,
        delay_tail_mean: 50.0,
        delay_spike_chance: 0.0,
        disk_latency: cluster.disk_us,
        nemesis_gap_mean: f64::MAX,
        target_leader_chance: 0.0,
        lease_reads: cluster.lease_reads,
        append_entries_max: 64,
        snapshot_every: 5_000,
        snapshot_chunk_bytes: 1 << 20,
        client_timeout: 500 * MS,
        clock_skew_permille: vec![0; nodes],
        tick_micros: cluster.tick_ms * MS,
        leader_churn: false,
        segment_bytes: 1 << 20,
    };
    let mut sim = Sim::build(options, params, SimRng::new(seed));
    let datacenters: Vec<String> = topology.datacenters().map(str::to_owned).collect();
    let client_dcs: Vec<usize> = if scenario.workload.client_dcs.is_empty() {
        (0..datacenters.len()).collect()
    } else {
        scenario
            .workload
            .client_dcs
            .iter()
            .map(|dc| {
                datacenters.iter().position(|d| d == dc).ok_or_else(|| {
                    format!(
                        "workload.client_dcs: no datacenter `{dc}` (the topology has {})",
                        datacenters.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    let initial_leaders = layout.iter().map(|voters| voters[0]).collect();
    let mut load = Load::new(datacenters.len(), sim.clients.len(), initial_leaders);
    load.keys = scenario.workload.keys;
    load.reads = scenario.workload.reads;
    load.deadline = scenario.workload.deadline_ms * MS;
    load.attempt_timeout = scenario.workload.attempt_timeout_ms * MS;
    load.start_at = WARM_UP;
    let per_dc = scenario.workload.rate / client_dcs.len() as f64;
    let concurrency = scenario.workload.concurrency;
    load.streams = if concurrency == 0 {
        client_dcs
            .into_iter()
            .map(|dc| Stream {
                dc,
                gap_mean: 1e6 / per_dc,
                pinned: None,
                active: true,
                next_at: WARM_UP,
                closed: false,
            })
            .collect()
    } else {
        // Closed loop: one stream per client, spread over the client datacenters.
        (0..concurrency)
            .map(|i| Stream {
                dc: client_dcs[i % client_dcs.len()],
                gap_mean: 0.0,
                pinned: None,
                active: true,
                next_at: WARM_UP,
                closed: true,
            })
            .collect()
    };
    // Room for the requests an open loop will send (plus a margin for Poisson's spread):
    // growing these by doubling copied tens of megabytes and touched every page twice.
    let expected = (scenario.workload.rate * scenario.duration_s * 1.05) as usize + 1024;
    load.records.reserve(expected);
    sim.history.reserve(expected);
    sim.down_after = (cluster.down_after_s * 1e6) as u64;
    sim.world = Some(Box::new(World::new(
        scenario.clone(),
        topology.clone(),
        load,
    )));
    sim.validate_targets()?;
    Ok(sim)
}

/// The expected-outcome checks of the scenario file, against what the run measured.
fn checks(
    scenario: &Scenario,
    m: &Measures,
    world: &World,
    lost: u64,
    violations: &[String],
    dead: &std::collections::BTreeSet<usize>,
) -> Vec<report::Check> {
    let expect = &scenario.expect;
    let mut checks = Vec::new();
    let mut check = |name: String, passed: bool, detail: String| {
        checks.push(report::Check {
            name,
            passed,
            detail,
        })
    };
    let (safety, other): (Vec<&String>, Vec<&String>) = violations
        .iter()
        .partition(|v| !v.starts_with("repair") && !v.starts_with("liveness"));
    if expect.linearizable {
        check(
            "linearizable, no safety violation".into(),
            safety.is_empty(),
            safety.first().map_or(
                "per-key linearizability, election safety, log matching, convergence: all held"
                    .into(),
                |v| format!("{} violation(s); first: {v}", safety.len()),
            ),
        );
    } else {
        check(
            "the checkers catch the hazard".into(),
            !safety.is_empty(),
            safety.first().map_or("no violation found".into(), |v| {
                format!("{} violation(s); first: {v}", safety.len())
            }),
        );
    }
    let liveness: Vec<&&String> = other.iter().filter(|v| v.starts_with("liveness")).collect();
    let survivors = if dead.is_empty() {
        String::new()
    } else {
        format!(
            " ({} groups lost every replica: nothing can serve them)",
            dead.len()
        )
    };
    check(
        "every group with a surviving replica serves again after the faults".into(),
        liveness.is_empty(),
        liveness.first().map_or(
            format!("final reads and convergence completed{survivors}"),
            |v| v.to_string(),
        ),
    );
    if let Some(max) = expect.lost_writes_max {
        check(
            format!("acknowledged writes lost <= {max}"),
            lost <= max,
            format!(
                "{lost} keys lost their last acknowledged write; {} groups lost every replica",
                dead.len()
            ),
        );
    }
    if let Some(min) = expect.lost_writes_min {
        check(
            format!("the loss shows: acknowledged writes lost >= {min}"),
            lost >= min,
            format!(
                "{lost} keys lost their last acknowledged write; {} groups lost every replica",
                dead.len()
            ),
        );
    }
    if let Some(min) = expect.availability_min {
        check(
            format!("availability >= {min}%"),
            m.availability * 100.0 >= min,
            format!(
                "{:.4}% ({} of {} requests answered within {} ms)",
                m.availability * 100.0,
                m.answered_in_time,
                m.requests,
                scenario.workload.deadline_ms
            ),
        );
    }
    if let Some(max) = expect.p99_max_ms {
        check(
            format!("p99 <= {max} ms"),
            m.p99_ms <= max,
            format!("p99 {:.1} ms", m.p99_ms),
        );
    }
    if let Some(max) = expect.recover_within_s {
        let worst = m.recover_s.iter().copied().fold(0.0, f64::max);
        check(
            format!("service back within {max} s of each fault"),
            worst <= max,
            format!("slowest recovery {worst:.1} s (last 100 ms window under 99% success)"),
        );
    }
    if let Some(within) = expect.leaders_leave_within_s {
        let (passed, detail) = leaders_left(world, within);
        check(
            format!("leaderships leave the faulty node within {within} s"),
            passed,
            detail,
        );
    }
    if expect.repaired {
        let incomplete: Vec<&&String> = other.iter().filter(|v| v.starts_with("repair")).collect();
        check(
            "lost replicas rebuilt elsewhere".into(),
            incomplete.is_empty(),
            incomplete.first().map_or(
                "every group back to full replica count on live nodes".into(),
                |v| v.to_string(),
            ),
        );
    }
    checks
}

/// Whether the first fault's nodes led no group within `within` seconds of its start.
fn leaders_left(world: &World, within: f64) -> (bool, String) {
    let Some(fault) = world.record.faults.first() else {
        return (false, "no fault ran".into());
    };
    let before = world
        .record
        .leader_samples
        .iter()
        .rev()
        .find(|(at, _)| *at <= fault.start)
        .map_or(0, |(_, c)| fault.nodes.iter().map(|&n| c[n] as u64).sum());
    let left = world
        .record
        .leader_samples
        .iter()
        .find(|(at, counts)| *at >= fault.start && fault.nodes.iter().all(|&n| counts[n] == 0));
    match left {
        Some((at, _)) => {
            let after = (at - fault.start) as f64 / 1e6;
            (after <= within, format!("led {before} groups when the fault began; none {after:.1} s later ({} handed away by the gray-failure rule)", world.sick_handoffs))
        }
        None => (
            false,
            format!("led {before} groups when the fault began and still led some at the end"),
        ),
    }
}
