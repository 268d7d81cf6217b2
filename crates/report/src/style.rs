//! Colours and the page's style sheet.
//!
//! Colours come from the Okabe-Ito palette (M. Okabe and K. Ito, "Color Universal Design",
//! 2002), chosen so the common forms of colour blindness still tell them apart. Colour is never
//! the only cue: node states also carry a word, failures a label, verdicts a word.

use crate::NodeState;

/// Line colours for a panel's series, in order: blue, orange, bluish green, reddish purple,
/// sky blue, black. Vermillion is kept for faults and failures.
pub(crate) const SERIES_COLOURS: [&str; 6] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#1F2328",
];

/// Fill colour of a node's square, and the text colour that reads on it.
pub(crate) fn node_colours(state: NodeState) -> (&'static str, &'static str) {
    match state {
        NodeState::Up => ("#009E73", "#08140F"),
        NodeState::Down => ("#D55E00", "#140800"),
        NodeState::Slow => ("#E69F00", "#140E00"),
        NodeState::Paused => ("#56B4E9", "#04121C"),
        NodeState::Isolated => ("#CC79A7", "#1A0A12"),
        NodeState::Wiped => ("#4D4D4D", "#FFFFFF"),
    }
}

/// The word shown for a state, in the legend and (except for `Up`) inside the node's square.
pub(crate) fn node_state_word(state: NodeState) -> &'static str {
    match state {
        NodeState::Up => "up",
        NodeState::Down => "down",
        NodeState::Slow => "slow",
        NodeState::Paused => "paused",
        NodeState::Isolated => "isolated",
        NodeState::Wiped => "wiped",
    }
}

/// The state's word cut to fit a compact node square (big clusters).
pub(crate) fn node_state_short(state: NodeState) -> &'static str {
    match state {
        NodeState::Up => "up",
        NodeState::Down => "down",
        NodeState::Slow => "slow",
        NodeState::Paused => "pause",
        NodeState::Isolated => "isol.",
        NodeState::Wiped => "wiped",
    }
}

/// Every state, in legend order.
pub(crate) const NODE_STATES: [NodeState; 6] = [
    NodeState::Up,
    NodeState::Slow,
    NodeState::Paused,
    NodeState::Isolated,
    NodeState::Down,
    NodeState::Wiped,
];

/// The page's whole style sheet, inlined in `<head>`.
pub(crate) const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f8; color: #1f2328;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 24px 40px; }
h1 { font-size: 24px; line-height: 1.25; margin: 0; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 0 0 12px; }
h3 { font-size: 13px; margin: 14px 0 6px; color: #57606a; text-transform: uppercase; letter-spacing: .04em; }
section { background: #fff; border: 1px solid #d8dee4; border-radius: 10px; padding: 16px 20px; margin-top: 16px; }
code { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  background: #eff2f5; padding: 1px 5px; border-radius: 4px; }
.title-row { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.verdict { display: inline-block; padding: 2px 12px; border-radius: 999px; font-weight: 700; font-size: 13px; letter-spacing: .05em; }
.verdict.pass { background: #dcf2e8; color: #00553c; border: 1px solid #8fd0b5; }
.verdict.fail { background: #fbe3d6; color: #8f3300; border: 1px solid #eea985; }
.meta { color: #57606a; margin: 6px 0 0; }
.description { margin: 10px 0 0; max-width: 860px; }
.failed-checks { margin-top: 12px; padding: 10px 14px; border-left: 4px solid #D55E00; background: #fdf1ea; border-radius: 4px; }
.failed-checks ul { margin: 4px 0 0; padding-left: 20px; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(205px, 1fr)); gap: 10px; }
.card { border: 1px solid #e3e8ed; border-radius: 8px; padding: 8px 12px; background: #fafbfc; }
.card .k { color: #57606a; font-size: 12px; }
.card .v { font-size: 17px; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.empty { color: #57606a; font-style: italic; margin: 0; }
svg { display: block; }
svg.panel { width: 100%; height: auto; margin: 4px 0 10px; }
svg.topology { max-width: 100%; height: auto; }
svg text { font-family: inherit; }
.t-title { font-size: 14px; font-weight: 600; fill: #1f2328; }
.t-unit { font-weight: 400; fill: #57606a; }
.t-legend { font-size: 12px; fill: #1f2328; }
.t-muted { fill: #6e7781; }
.t-tick { font-size: 11px; fill: #57606a; font-variant-numeric: tabular-nums; }
.t-axis { font-size: 11px; fill: #57606a; }
.t-nodata { font-size: 14px; fill: #6e7781; font-style: italic; }
.t-fault { font-size: 11px; fill: #9a3600; font-weight: 600; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.grid { stroke: #eaeef2; stroke-width: 1; }
.axis { stroke: #8c959f; stroke-width: 1; }
.fault { fill: #D55E00; fill-opacity: .11; }
.fault-edge { stroke: #D55E00; stroke-opacity: .45; stroke-width: 1; }
.series { fill: none; stroke-width: 1.6; stroke-linejoin: round; stroke-linecap: round; }
.box-dc { fill: #f6f8fa; stroke: #8c959f; stroke-width: 1.2; }
.box-pod { fill: #ffffff; stroke: #afb8c1; stroke-width: 1; }
.box-rack { fill: #f6f8fa; stroke: #c9d1d9; stroke-width: 1; }
.failed > .box-dc, .failed > .box-pod, .failed > .box-rack { fill: #fdf0e9; stroke: #D55E00; stroke-width: 2.5; }
.cross { stroke: #D55E00; stroke-width: 2; stroke-opacity: .45; }
.t-box { font-size: 12px; font-weight: 600; fill: #1f2328; }
.t-box-small { font-size: 11px; fill: #57606a; }
.t-fail { fill: #b33f00; font-weight: 700; }
.node-id { font-size: 11px; font-weight: 700; }
.node-info { font-size: 10px; }
.node-state { font-size: 9.5px; font-weight: 600; }
.node-id.compact { font-size: 9.5px; }
.node-state.compact { font-size: 8px; }
.wan { fill: none; stroke: #57606a; stroke-width: 2; }
.wan.failed { stroke: #D55E00; stroke-dasharray: 6 4; }
.wan-end { fill: #57606a; }
.wan-cut { stroke: #D55E00; stroke-width: 2.5; stroke-linecap: round; }
.topology-wrap { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
.topology-wrap .drawing { flex: 0 1 auto; min-width: 0; }
.topology-wrap aside { flex: 0 0 250px; font-size: 13px; }
aside ul { list-style: none; padding: 0; margin: 0; }
aside li { margin: 3px 0; }
.swatch { display: inline-block; width: 13px; height: 13px; border-radius: 3px; vertical-align: -2px; margin-right: 7px; border: 1px solid rgba(0,0,0,.2); }
.swatch.outline { background: #fdf0e9; border: 2px solid #D55E00; }
.swatch.dash { height: 0; border: 0; border-top: 2px dashed #D55E00; border-radius: 0; vertical-align: 3px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { color: #57606a; font-weight: 600; font-size: 12px; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
.ok { color: #00694b; font-weight: 700; white-space: nowrap; }
.bad { color: #b33f00; font-weight: 700; white-space: nowrap; }
.notes ul { margin: 0; padding-left: 20px; }
.notes li { margin: 4px 0; }
a { color: #0060a0; }
footer { color: #6e7781; font-size: 12px; margin-top: 20px; text-align: center; }
"#;
