//! A scenario run as the report crate draws it: headline figures, charts over simulated time
//! with the faults shaded, the topology as it was mid-fault, the checks and the notes.

use std::collections::BTreeSet;

use report::{Datacenter, FaultInterval, NodeBox, Panel, Pod, Rack, Run, Series, Verdict, WanLink};

use crate::scenario::measure::series;
use crate::scenario::run::ScenarioOutcome;
use crate::scenario::spec::Scenario;
use crate::scenario::world::World;
use crate::topology::Topology;

/// Width of the charts' time windows.
const STEP: u64 = 250_000;

pub fn describe(
    scenario: &Scenario,
    topology: &Topology,
    world: &World,
    outcome: &ScenarioOutcome,
    dead: &BTreeSet<usize>,
    duration: u64,
    deadline: u64,
) -> Run {
    let summary = summary(world, outcome, dead, deadline);
    let (throughput, errors, p99) = series(&world.load.records, duration, deadline, STEP);
    let panels = vec![
        Panel {
            title: "throughput".into(),
            unit: "ok/s".into(),
            series: vec![Series {
                name: "answered in time".into(),
                points: throughput,
            }],
            log_scale: false,
        },
        Panel {
            title: "errors".into(),
            unit: "req/s".into(),
            series: vec![Series {
                name: "failed or late".into(),
                points: errors,
            }],
            log_scale: false,
        },
        Panel {
            title: "latency p99".into(),
            unit: "ms".into(),
            series: vec![Series {
                name: "p99 per 250 ms".into(),
                points: p99,
            }],
            log_scale: true,
        },
        leaders_panel(world),
    ];
    let faults = world
        .record
        .faults
        .iter()
        .map(|f| FaultInterval {
            start: f.start as f64 / 1e6,
            end: f.end.map(|e| e as f64 / 1e6),
            label: f.label.clone(),
        })
        .collect();
    let failed_checks: Vec<String> = outcome
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.clone())
        .collect();
    let mut notes = scenario.notes.clone();
    notes.push(format!(
        "Catalogue: {}. Brief: {}.",
        scenario.catalogue.as_deref().unwrap_or("-"),
        scenario.brief
    ));
    notes.push(format!(
        "Setup: {} nodes, {} groups x {} replicas ({} placement), {} req/s open loop ({:.0}% reads), deadline {} ms, gray-failure handling {}, {} reads.",
        topology.node_count(),
        scenario.cluster.groups,
        scenario.cluster.replication,
        scenario.cluster.placement,
        scenario.workload.rate,
        scenario.workload.reads * 100.0,
        scenario.workload.deadline_ms,
        if scenario.cluster.gray_failure { "on" } else { "off" },
        if scenario.cluster.lease_reads { "lease" } else { "ReadIndex" }
    ));
    for violation in outcome.violations.iter().take(5) {
        notes.push(format!("Checker: {violation}"));
    }
    Run {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        seed: outcome.seed,
        verdict: if failed_checks.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail { failed_checks }
        },
        summary,
        panels,
        faults,
        topology: picture(topology, world),
        checks: outcome.checks.clone(),
        notes,
    }
}

/// The headline figures, in the order the page shows them.
fn summary(
    world: &World,
    outcome: &ScenarioOutcome,
    dead: &BTreeSet<usize>,
    deadline: u64,
) -> Vec<(String, String)> {
    let m = &outcome.measures;
    let nines = if m.nines().is_finite() {
        format!("{:.1} nines", m.nines())
    } else {
        "no failed request".to_owned()
    };
    let per_fault = |values: Vec<String>| {
        if values.is_empty() {
            "-".to_owned()
        } else {
            values.join(", ")
        }
    };
    let mut summary = vec![
        (
            "availability".to_owned(),
            format!("{:.4}% ({nines})", m.availability * 100.0),
        ),
        (
            "requests".to_owned(),
            format!(
                "{} ({} answered within {} ms)",
                m.requests,
                m.answered_in_time,
                deadline / 1_000
            ),
        ),
        (
            "latency p50 / p99 / p999 / max".to_owned(),
            format!(
                "{:.2} / {:.2} / {:.2} / {:.1} ms",
                m.p50_ms, m.p99_ms, m.p999_ms, m.max_ms
            ),
        ),
        (
            "p99 while faults were active".to_owned(),
            m.p99_during_faults_ms
                .map_or("-".to_owned(), |p| format!("{p:.2} ms")),
        ),
        (
            "time to detect (first new leader)".to_owned(),
            per_fault(
                m.detect_s
                    .iter()
                    .map(|d| d.map_or("no election".to_owned(), |s| format!("{s:.2} s")))
                    .collect(),
            ),
        ),
        (
            "time to recover (service at 99%)".to_owned(),
            per_fault(m.recover_s.iter().map(|s| format!("{s:.1} s")).collect()),
        ),
        (
            "linearizable".to_owned(),
            if outcome
                .violations
                .iter()
                .any(|v| !v.starts_with("repair") && !v.starts_with("liveness"))
            {
                "NO".to_owned()
            } else {
                "yes".to_owned()
            },
        ),
        (
            "acknowledged writes lost".to_owned(),
            format!(
                "{} ({} groups lost every replica)",
                outcome.lost_writes,
                dead.len()
            ),
        ),
        ("elections".to_owned(), m.elections.to_string()),
        (
            "unavailable seconds per group".to_owned(),
            unavailable_per_group(&m.unavailable_s),
        ),
    ];
    if let Some(off) = &outcome.without_gray_failure {
        summary.push((
            "same run, gray-failure handling off".to_owned(),
            format!(
                "p99 while faults were active {} ms (on: {} ms); availability {:.4}% (on: {:.4}%)",
                off.p99_during_faults_ms
                    .map_or("-".to_owned(), |p| format!("{p:.1}")),
                m.p99_during_faults_ms
                    .map_or("-".to_owned(), |p| format!("{p:.1}")),
                off.availability * 100.0,
                m.availability * 100.0
            ),
        ));
    }
    let shed: u64 = world.cpu.iter().map(|c| c.shed).sum();
    if shed > 0 {
        summary.push((
            "requests refused by admission control".to_owned(),
            shed.to_string(),
        ));
    }
    if world.sick_handoffs > 0 {
        summary.push((
            "leaderships handed away by sick nodes".to_owned(),
            world.sick_handoffs.to_string(),
        ));
    }
    if world.net.corrupt_frames_caught > 0 {
        summary.push((
            "corrupted frames caught by checksum".to_owned(),
            world.net.corrupt_frames_caught.to_string(),
        ));
    }
    // Wall time stays out: the page is a pure function of the seed.
    summary.push((
        "simulated".to_owned(),
        format!("{:.0} s, {} events", outcome.simulated_s, outcome.events),
    ));
    summary
}

/// The groups that were unavailable at all, worst first (at most 8 named), and a total.
fn unavailable_per_group(seconds: &[f64]) -> String {
    let mut hit: Vec<(usize, f64)> = seconds
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, s)| s > 0.0)
        .collect();
    if hit.is_empty() {
        return "none (no group had a 100 ms window with most requests failing)".to_owned();
    }
    hit.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let named: Vec<String> = hit
        .iter()
        .take(8)
        .map(|(group, s)| format!("g{group} {s:.1} s"))
        .collect();
    let more = if hit.len() > 8 {
        format!(", and {} more", hit.len() - 8)
    } else {
        String::new()
    };
    format!(
        "{} of {} groups: {}{more}",
        hit.len(),
        seconds.len(),
        named.join(", ")
    )
}

/// Leaderships held by the nodes the first fault struck, against the busiest other node.
fn leaders_panel(world: &World) -> Panel {
    let struck: Vec<usize> = world
        .record
        .faults
        .first()
        .map(|f| f.nodes.clone())
        .unwrap_or_default();
    let on_struck = world
        .record
        .leader_samples
        .iter()
        .map(|(at, counts)| {
            (
                *at as f64 / 1e6,
                struck.iter().map(|&n| counts[n] as f64).sum(),
            )
        })
        .collect();
    let total = world
        .record
        .leader_samples
        .iter()
        .map(|(at, counts)| (*at as f64 / 1e6, counts.iter().map(|&c| c as f64).sum()))
        .collect();
    Panel {
        title: "leaders".into(),
        unit: "groups".into(),
        series: vec![
            Series {
                name: "groups with a leader".into(),
                points: total,
            },
            Series {
                name: "led by the nodes the first fault struck".into(),
                points: on_struck,
            },
        ],
        log_scale: false,
    }
}

/// The topology mid-fault.
fn picture(topology: &Topology, world: &World) -> report::Topology {
    let record = &world.record;
    let failed = |name: String| record.snapshot_failed.contains(&name);
    let mut datacenters: Vec<Datacenter> = Vec::new();
    for id in topology.node_ids() {
        let Some(labels) = topology.labels(id) else {
            continue;
        };
        let slot = id as usize - 1;
        let dc = match datacenters.iter().position(|d| d.name == labels.dc) {
            Some(at) => at,
            None => {
                datacenters.push(Datacenter {
                    name: labels.dc.clone(),
                    failed: failed(format!("core:{}", labels.dc)),
                    pods: Vec::new(),
                });
                datacenters.len() - 1
            }
        };
        let pods = &mut datacenters[dc].pods;
        let pod = match pods.iter().position(|p| p.name == labels.pod) {
            Some(at) => at,
            None => {
                let switch_failed = failed(format!("pod:{}/{}", labels.dc, labels.pod))
                    || failed(format!("uplink:{}/{}", labels.dc, labels.pod));
                pods.push(Pod {
                    name: labels.pod.clone(),
                    switch_failed,
                    racks: Vec::new(),
                });
                pods.len() - 1
            }
        };
        let racks = &mut pods[pod].racks;
        let rack = match racks.iter().position(|r| r.name == labels.rack) {
            Some(at) => at,
            None => {
                racks.push(Rack {
                    name: labels.rack.clone(),
                    tor_failed: failed(format!("tor:{}/{}/{}", labels.dc, labels.pod, labels.rack)),
                    nodes: Vec::new(),
                });
                racks.len() - 1
            }
        };
        racks[rack].nodes.push(NodeBox {
            id,
            state: record
                .snapshot
                .as_ref()
                .and_then(|s| s.get(slot).copied())
                .unwrap_or_default(),
            leaders: record.snapshot_leaders.get(slot).copied().unwrap_or(0) as usize,
            replicas: record.snapshot_replicas.get(slot).copied().unwrap_or(0),
        });
    }
    for dc in &mut datacenters {
        let all_gone = dc
            .pods
            .iter()
            .flat_map(|p| &p.racks)
            .flat_map(|r| &r.nodes)
            .all(|n| n.state == report::NodeState::Wiped);
        dc.failed |= all_gone;
    }
    let names: Vec<String> = datacenters.iter().map(|d| d.name.clone()).collect();
    let mut wan_links = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let name = crate::topology::ElementId::wan(a, b).to_string();
            wan_links.push(WanLink {
                a: a.clone(),
                b: b.clone(),
                failed: failed(name),
            });
        }
    }
    report::Topology {
        datacenters,
        wan_links,
    }
}
