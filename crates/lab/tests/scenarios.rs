//! Every shipped scenario (`scenarios/*.toml`), in its short form, meets its expected outcome;
//! and a scenario run is a pure function of its seed (same seed, same report bytes).
//!
//! One test per scenario, so that nextest runs them in parallel and names the one that fails;
//! `every_scenario_file_has_a_test` keeps the list complete.

use std::path::PathBuf;

use lab::scenario::run::load_scenario;
use lab::scenario::{run_scenario, RunSettings};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// Runs `name`'s short form with seed 1 and asserts every expected-outcome check passed.
fn short_form_passes(name: &str) {
    let (scenario, topology) =
        load_scenario(&scenarios_dir().join(format!("{name}.toml"))).expect("the scenario loads");
    let outcome = run_scenario(
        &scenario,
        &topology,
        &RunSettings {
            seed: 1,
            short: true,
            gray_failure: None,
            trace: false,
        },
    )
    .expect("the scenario runs");
    let failed: Vec<String> = outcome
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let m = &outcome.measures;
    println!(
        "{name}: availability {:.4}%, p99 {:.1} ms, lost {}, {} checks",
        m.availability * 100.0,
        m.p99_ms,
        outcome.lost_writes,
        outcome.checks.len()
    );
    assert!(
        failed.is_empty(),
        "{name} (short form, seed 1) missed its expected outcome:\n{}\nviolations: {:?}",
        failed.join("\n"),
        outcome.violations
    );
    assert!(
        outcome.checks.len() >= 3,
        "{name}: too few checks to mean anything"
    );
}

macro_rules! scenario_tests {
    ($($test:ident => $file:literal,)*) => {
        $(
            // Goal: the scenario's expected outcome holds. Method: its short form, seed 1.
            #[test]
            fn $test() {
                short_form_passes($file);
            }
        )*
        const LISTED: &[&str] = &[$($file),*];
    };
}

scenario_tests! {
    clock_skew => "clock-skew",
    clock_skew_lease_reads => "clock-skew-lease-reads",
    dc_fire => "dc-fire",
    dc_fire_one_dc => "dc-fire-one-dc",
    disk_bitflips => "disk-bitflips",
    flaky_link => "flaky-link",
    fleet_day => "fleet-day",
    gc_pauses => "gc-pauses",
    leader_crash => "leader-crash",
    one_way_partition => "one-way-partition",
    overload_lb_bug => "overload-lb-bug",
    packet_loss_1 => "packet-loss-1",
    packet_loss_10 => "packet-loss-10",
    pod0_uplink_cut => "pod0-uplink-cut",
    random_crashes => "random-crashes",
    remove_wrong_node => "remove-wrong-node",
    rolling_restart => "rolling-restart",
    split_50_50 => "split-50-50",
    steady_state => "steady-state",
    steady_state_read_heavy => "steady-state-read-heavy",
    thermal_throttle => "thermal-throttle",
    three_switch_partition => "three-switch-partition",
    tor_switch_failure => "tor-switch-failure",
    wan_cut => "wan-cut",
    wipe_data_dir => "wipe-data-dir",
    wire_bitflips => "wire-bitflips",
}

// Goal: no scenario file goes untested. Method: compare the directory with the list above.
#[test]
fn every_scenario_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(scenarios_dir())
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.path()
                .file_stem()
                .filter(|_| e.path().extension().is_some_and(|x| x == "toml"))
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = LISTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "add a line to scenario_tests! for each scenario file"
    );
}

// Goal: same seed, same report, byte for byte; another seed, another run. Method: run the
// leader-crash short form twice with seed 7 and once with seed 8, render each report.
#[test]
fn same_seed_same_report() {
    let (scenario, topology) =
        load_scenario(&scenarios_dir().join("leader-crash.toml")).expect("loads");
    let render = |seed| {
        let outcome = run_scenario(
            &scenario,
            &topology,
            &RunSettings {
                seed,
                short: true,
                gray_failure: None,
                trace: false,
            },
        )
        .expect("runs");
        report::render(&outcome.report)
    };
    let first = render(7);
    assert_eq!(first, render(7), "two runs of seed 7 differ");
    assert_ne!(first, render(8), "seeds 7 and 8 gave the same report");
}
