//! Validation of the fleet model against closed forms (reliability-anchors.md sections 3, 5).
//! The model's nines only count if these pass: a failure here is a modelling bug.

use fleet::closed_form::{
    copyset_loss_probability, expected_lost_random, failures_per_day, mttdl_birth_death,
    rack_quorum_loss_expected,
};
use fleet::config::{Config, HOURS_PER_YEAR};
use fleet::montecarlo::{distinct_sample, simulate, Source};
use fleet::placement::{Placement, Policy};
use fleet::sim::{RepairModel, Sim};
use fleet::stats::{poisson_interval, wilson};
use fleet::topology::Topology;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// A configuration with every failure process off; each test turns on what it studies.
fn quiet_config(servers: u32, racks: u32, datacenters: u32, shards: u64) -> Config {
    let mut config = Config::default_config();
    config.disable_all_failures();
    config.fleet.servers = servers;
    config.fleet.racks = racks;
    config.fleet.datacenters = datacenters;
    config.fleet.shards = shards;
    config.check().expect("test config is valid");
    config
}

fn topology_of(config: &Config) -> Topology {
    Topology::new(
        config.fleet.servers,
        config.fleet.racks,
        config.fleet.datacenters,
        config.failures.power_domains.racks_per_domain,
    )
}

fn place(
    topology: &Topology,
    policy: Policy,
    r: u32,
    shards: u64,
    scatter_width: u32,
    seed: u64,
) -> Placement {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Placement::build(topology, policy, r, shards, scatter_width, &mut rng).expect("placement")
}

#[test]
fn machine_failures_per_day_match_n_over_mtbf() {
    // Goal: 10,000 servers at a 30-year MTBF fail 0.913 times a day (anchors 3.1, 5.1).
    // Method: 100 simulated years of server failures; the count is Poisson, so the measured
    // rate must be within 4 standard deviations of N/MTBF.
    let mut config = quiet_config(10_000, 500, 3, 10_000);
    config.failures.servers.enabled = true;
    config.fleet.years = 100.0;
    let topology = topology_of(&config);
    let placement = place(&topology, Policy::Random, 3, config.fleet.shards, 2, 1);
    let result = simulate(&config, &topology, &placement, 11, 12);
    let failures = result.events[Source::ALL
        .iter()
        .position(|&s| s == Source::Servers)
        .unwrap_or(0)];
    let days = config.fleet.years * HOURS_PER_YEAR / 24.0;
    let expected = failures_per_day(10_000, 30.0);
    assert!((expected - 0.913).abs() < 0.0005, "closed form: {expected}");
    let measured = failures as f64 / days;
    eprintln!("failures/day: measured {measured:.4}, N/MTBF {expected:.4}");
    let sigma = (expected * days).sqrt() / days;
    assert!(
        (measured - expected).abs() < 4.0 * sigma,
        "measured {measured:.4}/day, expected {expected:.4} +- {sigma:.4}"
    );
}

/// Measures the mean time to data loss of independent groups (disjoint copysets) with
/// exponential failures (MTBF 1 year) and exponential parallel repair, and returns
/// (measured years, 95% interval low, high, exact birth-death value).
fn markov_mttdl(r: u32, repair_mean_years: f64, servers: u32, years: f64) -> (f64, f64, f64, f64) {
    let mut config = quiet_config(servers, servers / 20, 1, u64::from(servers));
    config.failures.servers.enabled = true;
    config.failures.servers.mtbf_years = 1.0;
    config.repair.detection_minutes = 0.0;
    config.repair.fixed_mean_hours = repair_mean_years * HOURS_PER_YEAR;
    config.fleet.years = years;
    let topology = topology_of(&config);
    // Scatter width r - 1: one permutation, every server in exactly one copyset, so the
    // groups are independent birth-death chains and one failure completes at most one loss.
    let placement = place(
        &topology,
        Policy::Copysets,
        r,
        config.fleet.shards,
        r - 1,
        5,
    );
    let groups = placement.groups() as f64;
    let result = simulate(&config, &topology, &placement, 21, 22);
    let losses = result.stats.loss_events.len() as u64;
    let exposure = groups * years;
    let interval = poisson_interval(losses);
    let exact = mttdl_birth_death(r, 1.0, 1.0 / repair_mean_years);
    (
        exposure / losses as f64,
        exposure / interval.high,
        exposure / interval.low,
        exact,
    )
}

#[test]
fn mttdl_matches_birth_death_chain_for_r2() {
    // Goal: with independent exponential failures and repairs, the model's MTTDL for r = 2
    // equals the exact birth-death chain (anchors 5.4) within the run's 95% interval.
    let (measured, low, high, exact) = markov_mttdl(2, 0.02, 2_000, 100.0);
    eprintln!(
        "r=2: measured MTTDL {measured:.2} y [{low:.2}, {high:.2}], birth-death chain {exact:.2} y"
    );
    assert!(
        (low..=high).contains(&exact),
        "r=2: measured {measured:.2} y [{low:.2}, {high:.2}], exact {exact:.2} y"
    );
}

#[test]
fn mttdl_matches_birth_death_chain_for_r3() {
    // Goal: the same for r = 3 (MTTDL ~ MTBF^3 / (3 T^2) when repair is fast).
    let (measured, low, high, exact) = markov_mttdl(3, 0.05, 3_000, 200.0);
    eprintln!(
        "r=3: measured MTTDL {measured:.1} y [{low:.1}, {high:.1}], birth-death chain {exact:.1} y"
    );
    assert!(
        (low..=high).contains(&exact),
        "r=3: measured {measured:.1} y [{low:.1}, {high:.1}], exact {exact:.1} y"
    );
}

/// Fails `failed` random servers of the placement `trials` times; returns (trials that lost
/// data, total shards lost).
fn simultaneous_failures(
    placement: &Placement,
    servers: u32,
    failed: usize,
    trials: u32,
    seed: u64,
) -> (u64, u64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut is_failed = vec![false; servers as usize];
    let (mut lossy, mut lost_total) = (0, 0);
    for _ in 0..trials {
        let chosen = distinct_sample(&mut rng, 0, servers as usize, failed);
        chosen.iter().for_each(|&s| is_failed[s as usize] = true);
        let lost = placement.lost_shards(&chosen, &is_failed);
        chosen.iter().for_each(|&s| is_failed[s as usize] = false);
        lossy += u64::from(lost > 0);
        lost_total += lost;
    }
    (lossy, lost_total)
}

#[test]
fn copysets_paper_one_percent_of_5000_nodes() {
    // Goal: the Copysets paper's RAMCloud case (anchors 3.4, 5.5): 5,000 nodes, r = 3, 1% of
    // nodes lost at once. Minimum copysets (scatter width 2, N/R copysets): ~0.15% chance of
    // loss (closed form 0.157%). Method: 100,000 random failure sets against the model's
    // placement; the closed form must lie in the Wilson interval.
    let topology = Topology::new(5_000, 250, 1, 25);
    let placement = place(&topology, Policy::Copysets, 3, 100_000, 2, 3);
    assert_eq!(placement.groups(), 1_667);
    let trials = 100_000;
    let (lossy, _) = simultaneous_failures(&placement, 5_000, 50, trials, 4);
    let measured = wilson(lossy, u64::from(trials));
    let expected = copyset_loss_probability(5_000, 3, 50, 1_667.0);
    eprintln!(
        "copysets: P(loss) measured {:.4}% [{:.4}, {:.4}], closed form {:.4}%",
        measured.value * 100.0,
        measured.low * 100.0,
        measured.high * 100.0,
        expected * 100.0
    );
    assert!(
        (expected - 0.00157).abs() < 0.00002,
        "closed form {expected}"
    );
    assert!(
        measured.low <= expected && expected <= measured.high,
        "copysets: {measured:?}, expected {expected}"
    );
    assert!(
        (measured.value - 0.0015).abs() < 0.0005,
        "paper: 0.15%, measured {}",
        measured.value
    );
}

#[test]
fn random_placement_loses_data_almost_surely() {
    // Goal: random replication of 10^7 shards on the same 5,000 nodes loses data in ~99.99%
    // of such events (anchors 5.5). Method: 60 failure sets; every one must lose data, and
    // the mean shards lost per event must match shards x C(50,3)/C(5000,3) = 9.4.
    let topology = Topology::new(5_000, 250, 1, 25);
    let shards = 10_000_000;
    let placement = place(&topology, Policy::Random, 3, shards, 2, 6);
    let trials = 60;
    let (lossy, lost_total) = simultaneous_failures(&placement, 5_000, 50, trials, 7);
    let measured = wilson(lossy, u64::from(trials));
    let expected = copyset_loss_probability(5_000, 3, 50, shards as f64);
    eprintln!(
        "random: {lossy}/{trials} events lost data (closed form {:.4}%), {lost_total} shards lost",
        expected * 100.0
    );
    assert!(expected > 0.9999, "closed form {expected}");
    assert!(
        measured.low <= expected && expected <= measured.high,
        "random: {measured:?}, expected {expected}"
    );
    let mean_lost = expected_lost_random(5_000, 50, shards as f64) * f64::from(trials);
    let interval = poisson_interval(lost_total);
    assert!(
        interval.low <= mean_lost && mean_lost <= interval.high,
        "lost {lost_total}, expected {mean_lost:.1}"
    );
}

fn repair_model() -> RepairModel {
    RepairModel::from_config(&Config::default_config())
}

#[test]
fn rack_destroyed_loses_nothing_with_rack_aware_placement() {
    // Goal: a rack whose data is destroyed loses no shard under rack-aware placement, but
    // does under random placement (anchors 5.6). Method: 200 servers in 10 racks, 100,000
    // shards; destroy each rack in turn on a fresh fleet; random's total must match
    // G x C(20,3)/C(200,3) per rack.
    let topology = Topology::new(200, 10, 1, 5);
    let mut lost_by_policy = Vec::new();
    for policy in [Policy::RackAware, Policy::Random] {
        let placement = place(&topology, policy, 3, 100_000, 2, 8);
        let mut lost = 0;
        for rack in 0..10 {
            let mut sim = Sim::new(&placement, 200, repair_model(), 9);
            let servers: Vec<u32> = topology.rack_servers(rack).collect();
            lost += sim.destroy(&servers);
        }
        lost_by_policy.push(lost);
    }
    assert_eq!(lost_by_policy[0], 0, "rack-aware lost shards to one rack");
    let interval = poisson_interval(lost_by_policy[1]);
    let expected = 10.0 * expected_lost_random(200, 20, 100_000.0);
    eprintln!(
        "one rack destroyed x 10: rack-aware lost {}, random lost {} (closed form {expected:.0})",
        lost_by_policy[0], lost_by_policy[1]
    );
    assert!(
        lost_by_policy[1] > 0 && interval.low <= expected && expected <= interval.high,
        "random lost {}, expected {expected:.0}",
        lost_by_policy[1]
    );
}

#[test]
fn rack_unreachable_quorum_losses_match_closed_form() {
    // Goal: one unreachable rack takes ~4.8 of 10^5 random groups below a majority with 250
    // racks (anchors 5.6) and none with rack-aware placement. Method: take each rack down in
    // turn and count the groups without a majority.
    let topology = Topology::new(5_000, 250, 1, 25);
    for policy in [Policy::RackAware, Policy::Random] {
        let placement = place(&topology, policy, 3, 100_000, 2, 10);
        let mut sim = Sim::new(&placement, 5_000, repair_model(), 11);
        let mut total = 0u64;
        for rack in 0..250 {
            sim.make_unreachable(topology.rack_servers(rack));
            total += sim.unavailable_groups() as u64;
            sim.make_reachable(topology.rack_servers(rack));
            assert_eq!(
                sim.unavailable_groups(),
                0,
                "groups must recover when the rack returns"
            );
        }
        if policy == Policy::RackAware {
            assert_eq!(
                total, 0,
                "rack-aware groups lost their majority to one rack"
            );
        } else {
            let expected = 250.0 * rack_quorum_loss_expected(100_000.0, 250.0);
            eprintln!(
                "rack unreachable: random {:.2} groups/rack (closed form {:.2})",
                total as f64 / 250.0,
                expected / 250.0
            );
            let interval = poisson_interval(total);
            assert!(
                interval.low <= expected && expected <= interval.high,
                "random: {total} vs {expected:.0}"
            );
        }
    }
}

#[test]
fn unavailability_equals_event_rate_times_impact() {
    // Goal: with non-overlapping events, the Monte Carlo's unavailable shard-hours equal
    // events x groups hit per event x duration (anchors 5.9). Method: short (3-minute) rack
    // outages so overlaps are negligible; the impact per rack is measured on the same
    // placement with the scenario API; the two must agree within 3%.
    let mut config = quiet_config(5_000, 250, 1, 100_000);
    config.failures.racks.enabled = true;
    config.failures.racks.mtbf_years = 1.0;
    config.failures.racks.outage = fleet::config::Duration::Fixed { hours: 0.05 };
    config.fleet.years = 40.0;
    let topology = topology_of(&config);
    let placement = place(&topology, Policy::Random, 3, config.fleet.shards, 2, 12);
    let mut sim = Sim::new(&placement, 5_000, repair_model(), 13);
    let mut per_rack = 0.0;
    for rack in 0..250 {
        sim.make_unreachable(topology.rack_servers(rack));
        per_rack += sim.unavailable_shards() as f64 / 250.0;
        sim.make_reachable(topology.rack_servers(rack));
    }
    let result = simulate(&config, &topology, &placement, 14, 15);
    let events = result.events[Source::ALL
        .iter()
        .position(|&s| s == Source::Racks)
        .unwrap_or(0)] as f64;
    let expected = events * per_rack * 0.05;
    let measured = result.stats.unavailable_shard_hours;
    eprintln!("event impact: measured {measured:.1} shard-hours, events x impact {expected:.1}");
    assert!(
        (measured / expected - 1.0).abs() < 0.03,
        "measured {measured:.1} shard-hours, expected {expected:.1}"
    );
}

#[test]
fn same_seed_same_result() {
    // Goal: determinism: the same seed and config reproduce a run exactly.
    let mut config = quiet_config(1_000, 50, 3, 20_000);
    config.failures.servers.enabled = true;
    config.failures.servers.mtbf_years = 0.5;
    config.failures.racks.enabled = true;
    config.maintenance.enabled = true;
    let topology = topology_of(&config);
    let placement = place(&topology, Policy::DcAware, 3, config.fleet.shards, 2, 16);
    let first = simulate(&config, &topology, &placement, 17, 18);
    let second = simulate(&config, &topology, &placement, 17, 18);
    assert_eq!(first.events, second.events);
    assert_eq!(first.stats.loss_events, second.stats.loss_events);
    assert_eq!(
        first.stats.unavailable_shard_hours.to_bits(),
        second.stats.unavailable_shard_hours.to_bits()
    );
}
