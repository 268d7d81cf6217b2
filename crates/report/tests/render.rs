//! Tests of the rendered pages: determinism, escaping, the SVG elements each input produces,
//! failure marks, and robustness to empty or hostile input.

use report::{
    render, render_index, Check, Datacenter, FaultInterval, IndexRow, NodeBox, NodeState, Panel,
    Pod, Rack, Run, Series, Topology, Verdict, WanLink,
};

fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
    Series {
        name: name.to_string(),
        points,
    }
}

fn ramp(count: usize) -> Vec<(f64, f64)> {
    (0..count)
        .map(|i| (i as f64 * 0.1, (i % 17) as f64))
        .collect()
}

fn fault(start: f64, end: Option<f64>, label: &str) -> FaultInterval {
    FaultInterval {
        start,
        end,
        label: label.to_string(),
    }
}

fn rack(name: &str, tor_failed: bool, first_id: u64) -> Rack {
    let node = |id| NodeBox {
        id,
        state: NodeState::Up,
        leaders: 1,
        replicas: 3,
    };
    Rack {
        name: name.to_string(),
        tor_failed,
        nodes: vec![node(first_id), node(first_id + 1)],
    }
}

fn full_run() -> Run {
    let topology = Topology {
        datacenters: vec![
            Datacenter {
                name: "east".into(),
                failed: false,
                pods: vec![Pod {
                    name: "pod-0".into(),
                    switch_failed: false,
                    racks: vec![rack("rack-healthy", false, 1), rack("rack-cut", true, 3)],
                }],
            },
            Datacenter {
                name: "west".into(),
                failed: true,
                pods: vec![],
            },
        ],
        wan_links: vec![WanLink {
            a: "east".into(),
            b: "west".into(),
            failed: true,
        }],
    };
    Run {
        scenario: "tor-failure".into(),
        description: "a rack loses its switch".into(),
        seed: 7,
        verdict: Verdict::Fail {
            failed_checks: vec!["recovers within 5 s".into()],
        },
        summary: vec![("availability".into(), "99.9% (3.0 nines)".into())],
        panels: vec![
            Panel {
                title: "throughput".into(),
                unit: "ops/s".into(),
                series: vec![series("reads", ramp(5000))],
                log_scale: false,
            },
            Panel {
                title: "latency".into(),
                unit: "ms".into(),
                series: vec![series("p99", ramp(300))],
                log_scale: true,
            },
        ],
        faults: vec![
            fault(10.0, Some(20.0), "ToR down"),
            fault(30.0, None, "crash"),
        ],
        topology,
        checks: vec![Check {
            name: "recovers within 5 s".into(),
            passed: false,
            detail: "took 9 s".into(),
        }],
        notes: vec!["a note".into()],
    }
}

fn assert_no_non_finite(page: &str) {
    let without_class_names = page.replace("node-info", "");
    assert!(
        !without_class_names.contains("NaN"),
        "NaN leaked into the page"
    );
    assert!(
        !without_class_names.contains("inf"),
        "an infinity leaked into the page"
    );
}

#[test]
fn rendering_is_deterministic() {
    // Goal: same run, same bytes (the lab's "same seed, identical report"); method: render two
    // independently built copies of a run with every section filled, and compare.
    let first = render(&full_run());
    let second = render(&full_run());
    assert_eq!(first, second);
    assert!(
        first.len() > 10_000,
        "suspiciously short page: {} bytes",
        first.len()
    );
    let rows = [IndexRow {
        scenario: "a".into(),
        href: "a.html".into(),
        cells: vec![],
        passed: true,
    }];
    assert_eq!(render_index("t", &rows), render_index("t", &rows));
}

#[test]
fn text_is_escaped_everywhere() {
    // Goal: input text can never inject markup; method: put a script tag, an ampersand and a
    // quote in every kind of text field and look for them raw in the page.
    let hostile = "<script>alert(1)</script>&\"'";
    let mut run = full_run();
    run.scenario = hostile.into();
    run.description = hostile.into();
    run.summary = vec![(hostile.into(), hostile.into())];
    run.panels[0].title = hostile.into();
    run.panels[0].unit = hostile.into();
    run.panels[0].series[0].name = hostile.into();
    run.faults[0].label = hostile.into();
    run.topology.datacenters[0].name = hostile.into();
    run.topology.datacenters[0].pods[0].racks[0].name = hostile.into();
    run.checks[0].detail = hostile.into();
    run.notes = vec![hostile.into()];
    let page = render(&run);
    assert!(!page.contains("<script"), "raw script tag in the page");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"));
    assert!(!page.contains("&\""), "raw ampersand-quote in the page");

    let rows = [IndexRow {
        scenario: hostile.into(),
        href: "javascript:alert(1)".into(),
        cells: vec![(hostile.into(), hostile.into())],
        passed: false,
    }];
    let index = render_index(hostile, &rows);
    assert!(!index.contains("<script"), "raw script tag in the index");
    assert!(!index.contains("javascript:"), "script URL kept as a link");
}

#[test]
fn a_panel_has_one_path_per_non_empty_series_and_one_band_per_fault() {
    // Goal: each series with data becomes exactly one line, empty ones none, and every fault a
    // band; method: one panel with two drawable series, one empty and one of only NaN and
    // infinities, three faults, no topology; count the elements.
    let run = Run {
        panels: vec![Panel {
            title: "errors".into(),
            unit: "per s".into(),
            series: vec![
                series("a", ramp(100)),
                series("empty", vec![]),
                series("b", vec![(1.0, 2.0), (f64::NAN, 1.0), (3.0, 4.0)]),
                series(
                    "bad",
                    vec![
                        (f64::NAN, 1.0),
                        (2.0, f64::INFINITY),
                        (f64::NEG_INFINITY, 0.0),
                    ],
                ),
            ],
            log_scale: false,
        }],
        faults: vec![
            fault(1.0, Some(2.0), "one"),
            fault(3.0, Some(3.0), "instant"),
            fault(5.0, None, "open"),
        ],
        ..Run::default()
    };
    let page = render(&run);
    assert_eq!(page.matches("<path").count(), 2, "paths");
    assert_eq!(
        page.matches("<rect class=\"fault\"").count(),
        3,
        "fault bands"
    );
    assert_eq!(
        page.matches("(no data)").count(),
        2,
        "legend marks empty series"
    );
    assert_no_non_finite(&page);

    let mut two_panels = run.clone();
    two_panels.panels.push(run.panels[0].clone());
    let page = render(&two_panels);
    assert_eq!(
        page.matches("<rect class=\"fault\"").count(),
        6,
        "every panel shades every fault"
    );
}

#[test]
fn a_spike_survives_thinning_in_the_drawn_chart() {
    // Goal: a one-sample spike in a long series is drawn, not averaged away; method: 200,000
    // flat points with one at 1000, rendered; the y axis must reach 1000 and the path must
    // touch the plot's top edge (the highest y tick's coordinate), with a bounded point count.
    let mut points: Vec<(f64, f64)> = (0..200_000).map(|i| (i as f64 / 1000.0, 10.0)).collect();
    points[123_457].1 = 1000.0;
    let run = Run {
        panels: vec![Panel {
            title: "p99".into(),
            unit: "ms".into(),
            series: vec![series("p99", points)],
            log_scale: false,
        }],
        ..Run::default()
    };
    let page = render(&run);
    let labels: Vec<&str> = page
        .split("dy=\".32em\" text-anchor=\"end\">")
        .skip(1)
        .map(|s| &s[..s.find('<').unwrap()])
        .collect();
    assert_eq!(
        labels.last().copied(),
        Some("1000"),
        "axis labels {labels:?}"
    );
    let path = page.split("<path").nth(1).expect("a path");
    let d = &path[path.find(" d=\"").unwrap() + 4..];
    let d = &d[..d.find('"').unwrap()];
    let ys: Vec<f64> = d
        .split(['M', 'L'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let highest = ys.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(
        ys.len() <= report::limits::SERIES_POINTS_DRAWN_MAX,
        "drew {} points",
        ys.len()
    );
    assert!(
        highest <= 36.5,
        "spike not drawn: highest point at y={highest}"
    );
}

#[test]
fn failed_parts_are_marked() {
    // Goal: a failed ToR switch, datacenter and WAN link are visibly marked and healthy ones
    // are not; method: one failed rack next to a healthy one, count the marks.
    let page = render(&full_run());
    assert_eq!(
        page.matches("<g class=\"rack failed\">").count(),
        1,
        "failed racks"
    );
    assert_eq!(
        page.matches("<g class=\"rack\">").count(),
        1,
        "healthy racks"
    );
    assert_eq!(page.matches("· ToR failed</tspan>").count(), 1, "ToR label");
    assert!(
        page.contains("east/pod-0/rack-cut: ToR switch failed"),
        "failed parts list"
    );
    assert_eq!(
        page.matches("<g class=\"dc failed\">").count(),
        1,
        "failed datacenter"
    );
    assert_eq!(
        page.matches("class=\"cross\"").count(),
        2,
        "the failed datacenter is crossed out"
    );
    assert_eq!(
        page.matches("<path class=\"wan failed\"").count(),
        1,
        "cut WAN link drawn dashed"
    );
}

#[test]
fn node_states_are_coloured_and_named() {
    // Goal: colour is never the only cue; method: a rack with one node per state shows each
    // state's word inside its square (all but up) and in the legend.
    let states = [
        NodeState::Up,
        NodeState::Down,
        NodeState::Slow,
        NodeState::Paused,
        NodeState::Isolated,
        NodeState::Wiped,
    ];
    let nodes = states
        .iter()
        .enumerate()
        .map(|(i, &state)| NodeBox {
            id: i as u64,
            state,
            leaders: 0,
            replicas: 0,
        })
        .collect();
    let run = Run {
        topology: Topology {
            datacenters: vec![Datacenter {
                name: "dc".into(),
                failed: false,
                pods: vec![Pod {
                    name: "p".into(),
                    switch_failed: true,
                    racks: vec![Rack {
                        name: "r".into(),
                        tor_failed: false,
                        nodes,
                    }],
                }],
            }],
            wan_links: vec![],
        },
        ..Run::default()
    };
    let page = render(&run);
    for word in ["down", "slow", "paused", "isolated", "wiped"] {
        assert!(
            page.contains(&format!(">{word}</text>")),
            "{word} not written in its node"
        );
    }
    assert!(!page.contains(">up</text>"), "up nodes carry no state word");
    assert!(
        page.contains("<g class=\"pod failed\">"),
        "failed pod switch"
    );
}

#[test]
fn empty_input_renders() {
    // Goal: no input can panic the renderer; method: default run, empty index, and degenerate
    // panels (no series, one point, all values equal, log scale with only non-positive values).
    let page = render(&Run::default());
    assert!(page.contains("No charts in this run."));
    assert!(page.contains("No topology recorded."));
    assert!(page.ends_with("</html>\n"));
    assert!(render_index("", &[]).contains("No reports."));

    let degenerate = Run {
        panels: vec![
            Panel::default(),
            Panel {
                series: vec![series("one", vec![(5.0, 5.0)])],
                ..Panel::default()
            },
            Panel {
                series: vec![series("flat", vec![(1.0, 0.0), (2.0, 0.0)])],
                ..Panel::default()
            },
            Panel {
                series: vec![series("tiny", vec![(0.0, 5e-324), (5e-324, 5e-324)])],
                ..Panel::default()
            },
            Panel {
                series: vec![series("nonpositive", vec![(1.0, 0.0), (2.0, -1.0)])],
                log_scale: true,
                ..Panel::default()
            },
            Panel {
                series: vec![series(
                    "huge",
                    vec![(0.0, f64::MAX), (1e300, 1.0), (1.0, -1e14)],
                )],
                ..Panel::default()
            },
        ],
        faults: vec![fault(f64::NAN, None, "bad"), fault(-5.0, Some(1e9), "wide")],
        ..Run::default()
    };
    let page = render(&degenerate);
    assert_eq!(
        page.matches(">no data</text>").count(),
        2,
        "empty and non-positive-log panels"
    );
    assert!(page.contains("h0\""), "a lone point is drawn as a dot");
    assert_no_non_finite(&page);
}

#[test]
fn index_lists_every_row_with_all_columns() {
    // Goal: the index links every report and aligns cells under their headers; method: two
    // rows with different cell sets.
    let rows = [
        IndexRow {
            scenario: "leader-crash".into(),
            href: "leader-crash.html".into(),
            cells: vec![
                ("availability".into(), "99.9%".into()),
                ("p99".into(), "40 ms".into()),
            ],
            passed: true,
        },
        IndexRow {
            scenario: "dc-fire".into(),
            href: "dc-fire.html".into(),
            cells: vec![("lost".into(), "0".into())],
            passed: false,
        },
    ];
    let page = render_index("tour", &rows);
    assert!(page.contains("<a href=\"leader-crash.html\">leader-crash</a>"));
    assert!(page.contains("<a href=\"dc-fire.html\">dc-fire</a>"));
    assert!(page.contains("<th>availability</th><th>p99</th><th>lost</th>"));
    assert_eq!(
        page.matches("<td class=\"num\">—</td>").count(),
        3,
        "missing cells"
    );
    assert!(page.contains("1 of 2 scenarios passed."));
}
