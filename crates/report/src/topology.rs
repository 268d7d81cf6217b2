//! The topology drawing: datacenter boxes (one below the other) holding pod boxes holding rack
//! boxes holding node squares, with WAN links as arcs in a gutter on the left.
//!
//! Sizes are computed bottom-up (a rack from its nodes, a pod from its racks, ...); children
//! flow left to right and wrap, so a wide cluster grows downwards instead of off the page.

use crate::escape::{escape, truncate};
use crate::limits::{RACK_COLUMNS_MAX, SVG_LABEL_CHARS_MAX};
use crate::style::{node_colours, node_state_short, node_state_word, NODE_STATES};
use crate::{Datacenter, NodeBox, NodeState, Pod, Rack, Topology};

/// Node squares at full size carry the id, leaders and replicas, and the state's word.
const NODE_FULL: NodeStyle = NodeStyle {
    width: 54.0,
    height: 46.0,
    compact: false,
};
/// Past `COMPACT_NODES_MIN` nodes, squares shrink to the id and a short state word.
const NODE_COMPACT: NodeStyle = NodeStyle {
    width: 34.0,
    height: 28.0,
    compact: true,
};
const COMPACT_NODES_MIN: usize = 49;
const NODE_GAP: f64 = 6.0;
const RACK_PADDING: f64 = 8.0;
const RACK_HEADER: f64 = 22.0;
const POD_PADDING: f64 = 10.0;
const POD_HEADER: f64 = 24.0;
const DC_PADDING: f64 = 12.0;
const DC_HEADER: f64 = 28.0;
const BOX_GAP: f64 = 10.0;
const DC_GAP: f64 = 18.0;
/// The drawing (gutter and datacenter boxes) stays within this width, the room a section has
/// on the page, so it is never scaled down; datacenter boxes wrap their pods to fit.
const DRAWING_WIDTH_MAX: f64 = 1088.0;
const CHAR_WIDTH_12PX: f64 = 7.0;

#[derive(Clone, Copy)]
struct NodeStyle {
    width: f64,
    height: f64,
    compact: bool,
}

#[derive(Clone, Copy)]
struct Size {
    width: f64,
    height: f64,
}

/// Children placed left to right, wrapping at `width_max`: their offsets and the total size.
struct Flow {
    offsets: Vec<(f64, f64)>,
    size: Size,
}

fn flow(sizes: &[Size], width_max: f64) -> Flow {
    let mut offsets = Vec::with_capacity(sizes.len());
    let (mut x, mut y, mut row_height, mut width) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for size in sizes {
        if x > 0.0 && x + size.width > width_max {
            y += row_height + BOX_GAP;
            x = 0.0;
            row_height = 0.0;
        }
        offsets.push((x, y));
        width = width.max(x + size.width);
        row_height = row_height.max(size.height);
        x += size.width + BOX_GAP;
    }
    Flow {
        offsets,
        size: Size {
            width,
            height: y + row_height,
        },
    }
}

fn label_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH_12PX
}

fn rack_label(rack: &Rack) -> String {
    truncate(&rack.name, SVG_LABEL_CHARS_MAX)
}

struct RackLayout {
    size: Size,
    columns: usize,
    node: NodeStyle,
}

/// Nodes in rows of at most `RACK_COLUMNS_MAX`, balanced: 5 nodes are 3 + 2, not 4 + 1.
fn rack_layout(rack: &Rack, node: NodeStyle) -> RackLayout {
    let rows = rack.nodes.len().div_ceil(RACK_COLUMNS_MAX).max(1);
    let columns = rack.nodes.len().div_ceil(rows).max(1);
    let nodes_width = columns as f64 * node.width + (columns - 1) as f64 * NODE_GAP;
    let header = label_width(&rack_label(rack))
        + if rack.tor_failed {
            label_width(" · ToR failed")
        } else {
            0.0
        };
    let size = Size {
        width: nodes_width.max(header) + 2.0 * RACK_PADDING,
        height: RACK_HEADER
            + rows as f64 * node.height
            + (rows - 1) as f64 * NODE_GAP
            + RACK_PADDING,
    };
    RackLayout {
        size,
        columns,
        node,
    }
}

struct PodLayout {
    racks: Vec<RackLayout>,
    offsets: Vec<(f64, f64)>,
    size: Size,
}

fn pod_layout(pod: &Pod, width_max: f64, node: NodeStyle) -> PodLayout {
    let racks: Vec<RackLayout> = pod
        .racks
        .iter()
        .map(|rack| rack_layout(rack, node))
        .collect();
    let sizes: Vec<Size> = racks.iter().map(|rack| rack.size).collect();
    let placed = flow(&sizes, width_max - 2.0 * POD_PADDING);
    let header = label_width(&truncate(&pod.name, SVG_LABEL_CHARS_MAX)) + 110.0;
    let size = Size {
        width: placed.size.width.max(header) + 2.0 * POD_PADDING,
        height: POD_HEADER + placed.size.height + POD_PADDING,
    };
    PodLayout {
        racks,
        offsets: placed.offsets,
        size,
    }
}

struct DcLayout {
    pods: Vec<PodLayout>,
    offsets: Vec<(f64, f64)>,
    size: Size,
}

fn dc_layout(datacenter: &Datacenter, width_max: f64, node: NodeStyle) -> DcLayout {
    let pod_width_max = width_max - 2.0 * DC_PADDING;
    let pods: Vec<PodLayout> = datacenter
        .pods
        .iter()
        .map(|pod| pod_layout(pod, pod_width_max, node))
        .collect();
    let sizes: Vec<Size> = pods.iter().map(|pod| pod.size).collect();
    let placed = flow(&sizes, pod_width_max);
    let header = label_width(&truncate(&datacenter.name, SVG_LABEL_CHARS_MAX)) + 170.0;
    let size = Size {
        width: placed.size.width.max(header) + 2.0 * DC_PADDING,
        height: DC_HEADER + placed.size.height + DC_PADDING,
    };
    DcLayout {
        pods,
        offsets: placed.offsets,
        size,
    }
}

/// WAN links whose two ends name two different drawn datacenters, as index pairs.
fn drawable_links(topology: &Topology) -> Vec<(usize, usize, bool)> {
    let index_of = |name: &str| topology.datacenters.iter().position(|dc| dc.name == name);
    let mut links = Vec::new();
    for link in &topology.wan_links {
        if let (Some(a), Some(b)) = (index_of(&link.a), index_of(&link.b)) {
            if a != b {
                links.push((a.min(b), a.max(b), link.failed));
            }
        }
    }
    links
}

/// Writes the topology section: the drawing and, beside it, the legend and the failed parts.
pub(crate) fn section(out: &mut String, topology: &Topology) {
    out.push_str("<section class=\"topology\">\n<h2>Topology</h2>\n");
    if topology.datacenters.is_empty() {
        out.push_str("<p class=\"empty\">No topology recorded.</p>\n");
        list_wan_links(out, topology);
        out.push_str("</section>\n");
        return;
    }
    out.push_str("<div class=\"topology-wrap\"><div class=\"drawing\">\n");
    drawing(out, topology);
    out.push_str("</div>\n<aside>\n");
    legend(out, topology);
    failed_parts(out, topology);
    list_wan_links(out, topology);
    out.push_str("</aside></div>\n</section>\n");
}

fn drawing(out: &mut String, topology: &Topology) {
    let links = drawable_links(topology);
    let widest_span = links.iter().map(|(a, b, _)| b - a).max().unwrap_or(0);
    let gutter = if links.is_empty() {
        2.0
    } else {
        30.0 + 22.0 * widest_span as f64
    };
    let node_count: usize = all_nodes(topology).count();
    let node = if node_count >= COMPACT_NODES_MIN {
        NODE_COMPACT
    } else {
        NODE_FULL
    };
    let dc_width_max = DRAWING_WIDTH_MAX - gutter - 2.0;
    let layouts: Vec<DcLayout> = topology
        .datacenters
        .iter()
        .map(|datacenter| dc_layout(datacenter, dc_width_max, node))
        .collect();
    let mut anchors = Vec::with_capacity(layouts.len());
    let mut y = 2.0;
    for layout in &layouts {
        anchors.push(y + layout.size.height / 2.0);
        y += layout.size.height + DC_GAP;
    }
    let width = gutter
        + layouts
            .iter()
            .map(|layout| layout.size.width)
            .fold(0.0, f64::max)
        + 2.0;
    let height = y - DC_GAP + 2.0;
    w!(
        out,
        "<svg class=\"topology\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.1} {height:.1}\" role=\"img\" aria-label=\"cluster topology\">\n"
    );
    wan_links(out, &links, &anchors, gutter);
    let mut y = 2.0;
    for (datacenter, layout) in topology.datacenters.iter().zip(&layouts) {
        dc_svg(out, datacenter, layout, gutter, y);
        y += layout.size.height + DC_GAP;
    }
    out.push_str("</svg>\n");
}

/// Arcs in the left gutter between datacenter boxes; longer spans bulge further out.
fn wan_links(out: &mut String, links: &[(usize, usize, bool)], anchors: &[f64], gutter: f64) {
    if links.is_empty() {
        return;
    }
    w!(
        out,
        "<text class=\"t-box-small\" x=\"2\" y=\"12\">WAN</text>\n"
    );
    for &(a, b, failed) in links {
        let (top, bottom) = (anchors[a], anchors[b]);
        let bulge = 12.0 + 22.0 * (b - a) as f64;
        let control = gutter - bulge / 0.75;
        let class = if failed { "wan failed" } else { "wan" };
        w!(
            out,
            "<path class=\"{class}\" d=\"M{gutter:.1},{top:.1}C{control:.1},{top:.1} {control:.1},{bottom:.1} {gutter:.1},{bottom:.1}\"/>\
             <circle class=\"wan-end\" cx=\"{gutter:.1}\" cy=\"{top:.1}\" r=\"3\"/><circle class=\"wan-end\" cx=\"{gutter:.1}\" cy=\"{bottom:.1}\" r=\"3\"/>\n"
        );
        if failed {
            let (x, y) = (gutter - bulge, (top + bottom) / 2.0);
            w!(
                out,
                "<line class=\"wan-cut\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/><line class=\"wan-cut\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>\n",
                x - 6.0, y - 6.0, x + 6.0, y + 6.0, x - 6.0, y + 6.0, x + 6.0, y - 6.0
            );
        }
    }
}

/// A box's outline and its header: the name, then a red failure label when it failed.
fn box_with_header(
    out: &mut String,
    class: &str,
    origin: (f64, f64),
    size: Size,
    name: &str,
    failure: Option<&str>,
    header_y: f64,
) {
    let (x, y) = origin;
    w!(
        out,
        "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\"/>\
         <text class=\"t-box\" x=\"{:.1}\" y=\"{:.1}\">{}",
        size.width,
        size.height,
        x + 8.0,
        y + header_y,
        escape(&truncate(name, SVG_LABEL_CHARS_MAX))
    );
    if let Some(failure) = failure {
        w!(out, "<tspan class=\"t-fail\"> · {failure}</tspan>");
    }
    out.push_str("</text>\n");
}

fn cross(out: &mut String, origin: (f64, f64), size: Size) {
    let (x, y) = origin;
    let (right, bottom) = (x + size.width, y + size.height);
    w!(
        out,
        "<line class=\"cross\" x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{bottom:.1}\"/>\
         <line class=\"cross\" x1=\"{x:.1}\" y1=\"{bottom:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\"/>\n"
    );
}

fn dc_svg(out: &mut String, datacenter: &Datacenter, layout: &DcLayout, x: f64, y: f64) {
    let failed = if datacenter.failed { " failed" } else { "" };
    w!(out, "<g class=\"dc{failed}\">\n");
    let failure = datacenter.failed.then_some("datacenter failed");
    box_with_header(
        out,
        "box-dc",
        (x, y),
        layout.size,
        &datacenter.name,
        failure,
        19.0,
    );
    for ((pod, pod_layout), (dx, dy)) in datacenter
        .pods
        .iter()
        .zip(&layout.pods)
        .zip(&layout.offsets)
    {
        pod_svg(
            out,
            pod,
            pod_layout,
            x + DC_PADDING + dx,
            y + DC_HEADER + dy,
        );
    }
    if datacenter.failed {
        cross(out, (x, y), layout.size);
    }
    out.push_str("</g>\n");
}

fn pod_svg(out: &mut String, pod: &Pod, layout: &PodLayout, x: f64, y: f64) {
    let failed = if pod.switch_failed { " failed" } else { "" };
    w!(out, "<g class=\"pod{failed}\">\n");
    let failure = pod.switch_failed.then_some("pod switch failed");
    box_with_header(
        out,
        "box-pod",
        (x, y),
        layout.size,
        &pod.name,
        failure,
        17.0,
    );
    for ((rack, rack_layout), (dx, dy)) in pod.racks.iter().zip(&layout.racks).zip(&layout.offsets)
    {
        rack_svg(
            out,
            rack,
            rack_layout,
            x + POD_PADDING + dx,
            y + POD_HEADER + dy,
        );
    }
    out.push_str("</g>\n");
}

fn rack_svg(out: &mut String, rack: &Rack, layout: &RackLayout, x: f64, y: f64) {
    let (size, columns, node_style) = (layout.size, layout.columns, layout.node);
    let failed = if rack.tor_failed { " failed" } else { "" };
    w!(out, "<g class=\"rack{failed}\">\n");
    let failure = rack.tor_failed.then_some("ToR failed");
    box_with_header(
        out,
        "box-rack",
        (x, y),
        size,
        &rack_label(rack),
        failure,
        15.0,
    );
    for (index, node) in rack.nodes.iter().enumerate() {
        let column = (index % columns) as f64;
        let row = (index / columns) as f64;
        let node_x = x + RACK_PADDING + column * (node_style.width + NODE_GAP);
        let node_y = y + RACK_HEADER + row * (node_style.height + NODE_GAP);
        node_svg(out, node, node_style, (node_x, node_y));
    }
    out.push_str("</g>\n");
}

fn node_svg(out: &mut String, node: &NodeBox, style: NodeStyle, (x, y): (f64, f64)) {
    let (fill, ink) = node_colours(node.state);
    let word = node_state_word(node.state);
    let centre = x + style.width / 2.0;
    let id = truncate(&format!("n{}", node.id), if style.compact { 5 } else { 8 });
    w!(
        out,
        "<g class=\"node\"><title>node {}: {word}, leads {} groups, holds {} replicas</title>\
         <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{}\" height=\"{}\" rx=\"4\" fill=\"{fill}\"/>",
        node.id,
        node.leaders,
        node.replicas,
        style.width,
        style.height
    );
    let id_class = if style.compact {
        "node-id compact"
    } else {
        "node-id"
    };
    w!(out, "<text class=\"{id_class}\" x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{ink}\">{id}</text>", y + if style.compact { 11.0 } else { 14.0 });
    if !style.compact {
        w!(
            out,
            "<text class=\"node-info\" x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{ink}\">L{} R{}</text>",
            y + 27.0,
            node.leaders,
            node.replicas
        );
    }
    if node.state != NodeState::Up {
        let (class, text, dy) = if style.compact {
            ("node-state compact", node_state_short(node.state), 22.5)
        } else {
            ("node-state", word, 40.0)
        };
        w!(
            out,
            "<text class=\"{class}\" x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{ink}\">{text}</text>",
            y + dy
        );
    }
    out.push_str("</g>\n");
}

fn all_nodes(topology: &Topology) -> impl Iterator<Item = &NodeBox> {
    topology
        .datacenters
        .iter()
        .flat_map(|dc| &dc.pods)
        .flat_map(|pod| &pod.racks)
        .flat_map(|rack| &rack.nodes)
}

fn legend(out: &mut String, topology: &Topology) {
    out.push_str("<h3>Node states</h3>\n<ul>\n");
    for state in NODE_STATES {
        let count = all_nodes(topology)
            .filter(|node| node.state == state)
            .count();
        let (fill, _) = node_colours(state);
        w!(
            out,
            "<li><span class=\"swatch\" style=\"background:{fill}\"></span>{} <span class=\"t-count\">({count})</span></li>\n",
            node_state_word(state)
        );
    }
    out.push_str(if all_nodes(topology).count() >= COMPACT_NODES_MIN {
        "</ul>\n<p class=\"meta\">In each square: node id and, unless up, its state. Hover a square for the groups it leads and the replicas it holds.</p>\n"
    } else {
        "</ul>\n<p class=\"meta\">In each square: node id, then L = groups led, R = replicas held, then the state unless up.</p>\n"
    });
    out.push_str(
        "<h3>Marks</h3>\n<ul>\n\
         <li><span class=\"swatch outline\"></span>failed switch, rack or datacenter</li>\n\
         <li><span class=\"swatch dash\"></span>cut WAN link</li>\n</ul>\n",
    );
}

fn failed_parts(out: &mut String, topology: &Topology) {
    let mut parts = Vec::new();
    for datacenter in &topology.datacenters {
        if datacenter.failed {
            parts.push(format!("datacenter {} failed", datacenter.name));
        }
        for pod in &datacenter.pods {
            if pod.switch_failed {
                parts.push(format!(
                    "{}/{}: pod switch failed",
                    datacenter.name, pod.name
                ));
            }
            for rack in pod.racks.iter().filter(|rack| rack.tor_failed) {
                parts.push(format!(
                    "{}/{}/{}: ToR switch failed",
                    datacenter.name, pod.name, rack.name
                ));
            }
        }
    }
    for link in topology.wan_links.iter().filter(|link| link.failed) {
        parts.push(format!("WAN link {} – {} cut", link.a, link.b));
    }
    out.push_str("<h3>Failed parts</h3>\n<ul>\n");
    if parts.is_empty() {
        out.push_str("<li>none</li>\n");
    }
    for part in parts {
        w!(out, "<li class=\"bad-part\">{}</li>\n", escape(&part));
    }
    out.push_str("</ul>\n");
}

fn list_wan_links(out: &mut String, topology: &Topology) {
    if topology.wan_links.is_empty() {
        return;
    }
    let names: Vec<&str> = topology
        .datacenters
        .iter()
        .map(|dc| dc.name.as_str())
        .collect();
    out.push_str("<h3>WAN links</h3>\n<ul>\n");
    for link in &topology.wan_links {
        let known = names.contains(&link.a.as_str()) && names.contains(&link.b.as_str());
        let status = if link.failed {
            "<span class=\"bad\">cut</span>"
        } else {
            "<span class=\"ok\">up</span>"
        };
        let unknown = if known {
            ""
        } else {
            " (unknown datacenter, not drawn)"
        };
        w!(
            out,
            "<li>{} – {}: {status}{unknown}</li>\n",
            escape(&link.a),
            escape(&link.b)
        );
    }
    out.push_str("</ul>\n");
}
