//! Writes a realistic sample report, a top-of-rack switch failure, to the path given as the
//! first argument: `cargo run -p report --example sample -- /tmp/sample.html`.
//!
//! The data is synthetic but shaped like a lab run: 3 datacenters x 2 pods x 2 racks x 2 nodes,
//! 64 groups of 3 replicas, 120 simulated seconds sampled every 50 ms, and the ToR switch of one
//! rack down from 40 s to 70 s. A fixed-seed generator makes the page the same on every run.

use std::process::ExitCode;

use report::{
    Check, Datacenter, FaultInterval, NodeBox, NodeState, Panel, Pod, Rack, Run, Series, Topology,
    Verdict, WanLink,
};

const DURATION_SECONDS: f64 = 120.0;
const SAMPLE_SECONDS: f64 = 0.05;
const FAULT_START: f64 = 40.0;
const FAULT_END: f64 = 70.0;
/// Leaders on the cut-off rack are replaced after one election timeout and a vote.
const RECOVERED_AT: f64 = 41.4;

/// xorshift64*: a fixed sequence, so the sample is identical on every run.
struct Noise(u64);

impl Noise {
    /// A value in [-1, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn times() -> impl Iterator<Item = f64> {
    let samples = (DURATION_SECONDS / SAMPLE_SECONDS).round() as usize;
    (0..=samples).map(|index| index as f64 * SAMPLE_SECONDS)
}

/// Share of requests served: a dip while the cut-off rack's leaders are replaced, a ramp back.
fn served_share(time: f64) -> f64 {
    if (FAULT_START..RECOVERED_AT).contains(&time) {
        0.86
    } else if (RECOVERED_AT..RECOVERED_AT + 1.5).contains(&time) {
        0.86 + 0.14 * (time - RECOVERED_AT) / 1.5
    } else if (FAULT_END..FAULT_END + 2.0).contains(&time) {
        0.97 // The healed rack catches up, competing for bandwidth.
    } else {
        1.0
    }
}

fn throughput_panel(noise: &mut Noise) -> Panel {
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for time in times() {
        let share = served_share(time);
        reads.push((time, (6000.0 + 180.0 * noise.next()) * share));
        writes.push((time, (2000.0 + 90.0 * noise.next()) * share));
    }
    Panel {
        title: "throughput".into(),
        unit: "ops/s".into(),
        series: vec![
            Series {
                name: "reads".into(),
                points: reads,
            },
            Series {
                name: "writes".into(),
                points: writes,
            },
        ],
        log_scale: false,
    }
}

fn errors_panel(noise: &mut Noise) -> Panel {
    let mut timeouts = Vec::new();
    let mut redirects = Vec::new();
    for time in times() {
        let lost = (1.0 - served_share(time)) * 8000.0;
        timeouts.push((time, (lost + 2.0 * noise.next().abs()).round()));
        let moved = if (RECOVERED_AT..RECOVERED_AT + 4.0).contains(&time) {
            420.0 * (-(time - RECOVERED_AT)).exp()
        } else {
            0.0
        };
        redirects.push((time, (moved + 1.5 * noise.next().abs()).round()));
    }
    Panel {
        title: "errors".into(),
        unit: "requests/s".into(),
        series: vec![
            Series {
                name: "timeouts (SLA 1 s)".into(),
                points: timeouts,
            },
            Series {
                name: "MOVED redirects".into(),
                points: redirects,
            },
        ],
        log_scale: false,
    }
}

fn latency_panel(noise: &mut Noise) -> Panel {
    let (mut p50, mut p99, mut p999) = (Vec::new(), Vec::new(), Vec::new());
    for time in times() {
        let stalled = (FAULT_START..RECOVERED_AT).contains(&time);
        p50.push((time, if stalled { 2.6 } else { 1.8 } + 0.2 * noise.next()));
        p99.push((
            time,
            if stalled {
                1000.0
            } else {
                38.0 + 6.0 * noise.next()
            },
        ));
        // One slow sample at 90 s: thinning keeps it visible.
        let spike = (time - 90.0).abs() < 1e-9;
        p999.push((
            time,
            if stalled || spike {
                1000.0
            } else {
                95.0 + 20.0 * noise.next()
            },
        ));
    }
    Panel {
        title: "latency".into(),
        unit: "ms".into(),
        series: vec![
            Series {
                name: "p50".into(),
                points: p50,
            },
            Series {
                name: "p99".into(),
                points: p99,
            },
            Series {
                name: "p999".into(),
                points: p999,
            },
        ],
        log_scale: true,
    }
}

fn topology() -> Topology {
    let mut node_id = 0u64;
    let mut datacenters = Vec::new();
    for dc_name in ["dc-east", "dc-central", "dc-west"] {
        let mut pods = Vec::new();
        for pod_index in 0..2 {
            let mut racks = Vec::new();
            for rack_index in 0..2 {
                let cut_off = dc_name == "dc-east" && pod_index == 0 && rack_index == 1;
                let mut nodes = Vec::new();
                for _ in 0..2 {
                    node_id += 1;
                    // 64 leaders over the 22 reachable nodes: 20 lead 3 groups, 2 lead 2.
                    let leaders = if cut_off {
                        0
                    } else if node_id > 22 {
                        2
                    } else {
                        3
                    };
                    let state = if cut_off {
                        NodeState::Isolated
                    } else {
                        NodeState::Up
                    };
                    nodes.push(NodeBox {
                        id: node_id,
                        state,
                        leaders,
                        replicas: 8,
                    });
                }
                racks.push(Rack {
                    name: format!("rack-{rack_index}"),
                    tor_failed: cut_off,
                    nodes,
                });
            }
            pods.push(Pod {
                name: format!("pod-{pod_index}"),
                switch_failed: false,
                racks,
            });
        }
        datacenters.push(Datacenter {
            name: dc_name.into(),
            failed: false,
            pods,
        });
    }
    let link = |a: &str, b: &str| WanLink {
        a: a.into(),
        b: b.into(),
        failed: false,
    };
    let wan_links = vec![
        link("dc-east", "dc-central"),
        link("dc-central", "dc-west"),
        link("dc-east", "dc-west"),
    ];
    Topology {
        datacenters,
        wan_links,
    }
}

fn checks() -> Vec<Check> {
    let check = |name: &str, detail: &str| Check {
        name: name.into(),
        passed: true,
        detail: detail.into(),
    };
    vec![
        check(
            "no acknowledged write lost",
            "0 of 240,118 acknowledged writes lost",
        ),
        check(
            "linearizable",
            "961,402 operations checked key by key: linearizable",
        ),
        check(
            "serves again within 5 s",
            "timeouts back to baseline 2.9 s after the switch failed",
        ),
        check(
            "leaders leave the cut-off rack",
            "n3 and n4 led 6 groups before the fault and 0 from 41.4 s",
        ),
        check(
            "cut-off nodes serve no stale reads",
            "n3 and n4 answered 0 reads after their leases ran out",
        ),
    ]
}

fn sample_run() -> Run {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    Run {
        scenario: "rack-switch-failure".into(),
        description: "The top-of-rack switch of dc-east/pod-0/rack-1 fails at 40 s and is replaced at 70 s. \
                      Its two nodes keep running but reach no one. Every group keeps one replica in each \
                      datacenter, so each group keeps a majority: the groups led from the cut-off rack \
                      must elect new leaders elsewhere within seconds, and no acknowledged write may be lost."
            .into(),
        seed: 42,
        verdict: Verdict::Pass,
        summary: vec![
            ("availability".into(), "99.75% (2.6 nines)".into()),
            ("p50".into(), "1.8 ms".into()),
            ("p99".into(), "41 ms".into()),
            ("p999".into(), "870 ms".into()),
            ("time to detect".into(), "1.0 s".into()),
            ("time to recover".into(), "2.9 s".into()),
            ("linearizable".into(), "yes".into()),
            ("acknowledged writes lost".into(), "0".into()),
        ],
        panels: vec![throughput_panel(&mut noise), errors_panel(&mut noise), latency_panel(&mut noise)],
        faults: vec![FaultInterval {
            start: FAULT_START,
            end: Some(FAULT_END),
            label: "ToR switch dc-east/pod-0/rack-1 down".into(),
        }],
        topology: topology(),
        checks: checks(),
        notes: vec![
            "Requests to the 6 groups led from the cut-off rack timed out until followers elsewhere \
             noticed the silence (one election timeout, about 1 s) and elected new leaders; clients \
             then followed MOVED redirects to them."
                .into(),
            "The topology shows the cluster during the fault, at 60 s.".into(),
        ],
    }
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sample OUTPUT.html");
        return ExitCode::from(2);
    };
    let page = report::render(&sample_run());
    if let Err(error) = std::fs::write(&path, page.as_bytes()) {
        eprintln!("cannot write {path}: {error}");
        return ExitCode::FAILURE;
    }
    println!("wrote {path} ({} bytes)", page.len());
    ExitCode::SUCCESS
}
