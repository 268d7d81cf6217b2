//! HTML reports of lab runs: a run's data in, one self-contained page out.
//!
//! The page has inline CSS and inline SVG only: no JavaScript, no fonts, images or style sheets
//! fetched from anywhere, so a report can be mailed, archived or opened from a CI artefact and
//! look the same. [`render`] draws one run: its verdict, summary figures, charts that share the
//! simulated-time axis with the fault intervals shaded on each, the topology with the failed
//! parts marked, the expected-outcome checks and notes. [`render_index`] draws a table linking
//! several reports.
//!
//! **Invariant:** rendering is a pure function of its input. The same [`Run`] gives the same
//! bytes: nothing reads a clock, an RNG or the environment, nothing iterates a hash map, and
//! numbers are printed with fixed precision. The lab relies on this for "same seed, identical
//! report".
//!
//! Every piece of text from the input is escaped ([`escape`]) before it reaches the page.

#![deny(missing_docs)]

/// Appends formatted text to a `String`; writing to a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = write!($out, $($arg)*);
    }};
}

mod chart;
mod escape;
mod html;
pub mod limits;
mod style;
mod topology;

pub use chart::downsample;
pub use escape::escape;

/// Everything one lab run shows in its report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Run {
    /// The scenario's name, e.g. `rack-switch-failure`; the page's title.
    pub scenario: String,
    /// What the scenario does and why, in a sentence or a paragraph.
    pub description: String,
    /// The seed that reproduces the run.
    pub seed: u64,
    /// Whether the run met its expected outcome.
    pub verdict: Verdict,
    /// Headline figures as (name, value), shown in this order, e.g.
    /// `("availability", "99.95% (3.3 nines)")`.
    pub summary: Vec<(String, String)>,
    /// Charts stacked vertically; all share one time axis.
    pub panels: Vec<Panel>,
    /// Fault intervals, shaded and labelled on every panel and listed in a table.
    pub faults: Vec<FaultInterval>,
    /// The cluster's layout with failed parts marked.
    pub topology: Topology,
    /// Expected-outcome checks, each passed or failed with a detail.
    pub checks: Vec<Check>,
    /// Free-form remarks, e.g. why data was lost when all replicas were in one datacenter.
    pub notes: Vec<String>,
}

/// A run's verdict against its scenario's expected outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Every expected-outcome check passed.
    #[default]
    Pass,
    /// Some checks failed; their names are listed next to the verdict.
    Fail {
        /// Names (or one-line descriptions) of the checks that failed.
        failed_checks: Vec<String>,
    },
}

/// One chart: several series over simulated time, in one unit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// Heading, e.g. `throughput`.
    pub title: String,
    /// Unit of the values, e.g. `ops/s` or `ms`; shown next to the title.
    pub unit: String,
    /// Lines of the chart, coloured in order from a colour-blind-safe palette.
    pub series: Vec<Series>,
    /// A logarithmic value axis. Values at or below zero cannot be drawn on it and are skipped.
    pub log_scale: bool,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// (simulated seconds, value) pairs, in any order. Non-finite pairs are skipped. Long
    /// series are thinned to a minimum and a maximum per pixel column, so spikes survive.
    pub points: Vec<(f64, f64)>,
}

/// A fault's time span, shaded on every chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultInterval {
    /// Simulated second at which the fault began.
    pub start: f64,
    /// Simulated second at which it was healed; `None` means it lasted until the end of the run.
    pub end: Option<f64>,
    /// Short label drawn on the band, e.g. `ToR switch us-east/pod-0/rack-1 down`.
    pub label: String,
}

/// The cluster's physical layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Topology {
    /// Datacenters, drawn one below the other.
    pub datacenters: Vec<Datacenter>,
    /// Links between datacenters, named by [`Datacenter::name`].
    pub wan_links: Vec<WanLink>,
}

/// A datacenter: pods of racks of nodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Datacenter {
    /// Name, also used by [`WanLink`] ends.
    pub name: String,
    /// The whole datacenter is gone (fire, power): outlined red and crossed out.
    pub failed: bool,
    /// Pods, each under one cluster switch.
    pub pods: Vec<Pod>,
}

/// A pod: racks under one cluster switch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pod {
    /// Name, e.g. `pod-0`.
    pub name: String,
    /// The pod's switch has failed: outlined red and labelled.
    pub switch_failed: bool,
    /// Racks in the pod.
    pub racks: Vec<Rack>,
}

/// A rack: nodes under one top-of-rack switch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rack {
    /// Name, e.g. `rack-1`.
    pub name: String,
    /// The top-of-rack switch has failed: outlined red, crossed out and labelled.
    pub tor_failed: bool,
    /// Nodes in the rack.
    pub nodes: Vec<NodeBox>,
}

/// One node as drawn in the topology: a square coloured by state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeBox {
    /// The node's id, shown as `n{id}`.
    pub id: u64,
    /// The node's state at the moment the topology was captured.
    pub state: NodeState,
    /// Groups this node leads.
    pub leaders: usize,
    /// Replicas (of any role) this node holds.
    pub replicas: usize,
}

/// A node's state, shown by colour and by a word (so colour is never the only cue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeState {
    /// Serving normally.
    #[default]
    Up,
    /// Crashed or stopped.
    Down,
    /// Running, but slow (throttled CPU, slow disk).
    Slow,
    /// Stopped the world (e.g. a GC pause).
    Paused,
    /// Running but cut off from the network.
    Isolated,
    /// Its data directory was lost.
    Wiped,
}

/// A WAN link between two datacenters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WanLink {
    /// One end, a [`Datacenter::name`].
    pub a: String,
    /// The other end, a [`Datacenter::name`].
    pub b: String,
    /// The link is cut: drawn dashed red.
    pub failed: bool,
}

/// One expected-outcome check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Check {
    /// What was checked, e.g. `no acknowledged write lost`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The numbers behind the verdict, e.g. `lost 0 of 41203 acknowledged writes`.
    pub detail: String,
}

/// One row of the index page: a scenario's report and its headline figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexRow {
    /// Scenario name; the link text.
    pub scenario: String,
    /// Link to the scenario's report, usually a relative path such as `leader-crash.html`.
    pub href: String,
    /// Further columns as (header, value). Headers are gathered from all rows in order of
    /// first appearance; a row without some header shows a dash there.
    pub cells: Vec<(String, String)>,
    /// The verdict column.
    pub passed: bool,
}

/// Renders one run as a complete HTML page.
pub fn render(run: &Run) -> String {
    let mut out = String::with_capacity(64 * 1024);
    html::page_start(&mut out, &run.scenario);
    html::header(&mut out, run);
    html::summary(&mut out, &run.summary);
    chart::panels(&mut out, &run.panels, &run.faults);
    html::faults(&mut out, &run.faults);
    topology::section(&mut out, &run.topology);
    html::checks(&mut out, &run.checks);
    html::notes(&mut out, &run.notes);
    html::page_end(&mut out);
    out
}

/// Renders an index page: a table with one row per report, linking to each.
pub fn render_index(title: &str, rows: &[IndexRow]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    html::page_start(&mut out, title);
    html::index_table(&mut out, title, rows);
    html::page_end(&mut out);
    out
}
