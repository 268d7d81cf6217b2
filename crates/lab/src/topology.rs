//! The hierarchical network model's shape: datacenters -> pods -> racks -> hosts -> nodes, the
//! switches and links between them, and the path a message takes from one node to another.
//!
//! A topology comes from a TOML file (examples in `scenarios/topologies/`). It is pure data: no
//! clock, no RNG, no I/O, and only ordered maps, so the same file always gives the same elements
//! in the same order. The simulator applies jitter later from its own seeded RNG.
//!
//! The network is a tree. Each rack has a top-of-rack switch (`tor:<dc>/<pod>/<rack>`), each pod a
//! pod switch (`pod:<dc>/<pod>`) joined to its datacenter's core (`core:<dc>`) by an uplink
//! (`uplink:<dc>/<pod>`), and each pair of datacenters a WAN link (`wan:<dc_a>-<dc_b>`, names
//! sorted). A message between two nodes crosses exactly the elements on the tree path between
//! them, so a failed element cuts exactly the paths through it:
//!
//! | Hop class       | Elements, in order from the source                                     |
//! |-----------------|------------------------------------------------------------------------|
//! | same host       | none                                                                   |
//! | same rack       | tor                                                                    |
//! | cross rack      | tor a, pod, tor b                                                      |
//! | cross pod       | tor a, pod a, uplink a, core, uplink b, pod b, tor b                   |
//! | cross DC        | tor a, pod a, uplink a, core a, wan, core b, uplink b, pod b, tor b    |
//!
//! The pod uplink is an element of its own so the brief's partition "pod 0 cut off from pods 1-3"
//! can be expressed both ways: fail the three pod switches of pods 1-3 (the brief's "three
//! switches"; pods 1-3 then also lose their cross-rack paths), or fail pod 0's uplink (pod 0 and
//! pods 1-3 each stay whole inside).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A simulated node's id, as in `raft::NodeId`.
pub type NodeId = u64;

/// The most nodes one topology may hold: a bound on every per-node table built from it.
pub const NODE_COUNT_MAX: usize = 10_000;

/// The most datacenters: WAN links grow with the square of this.
pub const DATACENTER_COUNT_MAX: usize = 64;

/// One-way latency of a hop class, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// The typical one-way delay: a path's `base_latency_us`.
    pub mean_us: u64,
    /// The scale of the random extra delay the simulator adds (its distribution is the
    /// simulator's choice; it should be long-tailed).
    pub jitter_us: u64,
}

/// `[latency]`: one-way latency per hop class, in microseconds.
///
/// The defaults are half the round-trip times of reliability-anchors.md section 3.6:
/// - same host: loopback RTT 10-30 µs (kernel TCP) -> 10 µs one way.
/// - same rack: RTT 20-100 µs through one ToR on 25-100 GbE -> 25 µs (~0.05 ms RTT).
/// - cross rack: RTT 100-500 µs (Barroso et al., "The Datacenter as a Computer": rack vs DC
///   DRAM 100 vs 300 µs) -> 100 µs.
/// - cross pod: RTT ~500 µs, Dean's "round trip within a datacenter"
///   (https://gist.github.com/jboner/2841832) -> 250 µs.
/// - same region: cross-AZ RTT 0.5-2 ms (AWS: AZs within ~100 km, measured EC2 cross-AZ
///   1.3-2.1 ms) -> 750 µs (~1.5 ms RTT).
/// - cross continent: US east-west RTT 60-80 ms, California-Netherlands 150 ms (Dean) -> 40 ms
///   (80 ms RTT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyTable {
    /// Two nodes on one host.
    pub same_host: Latency,
    /// Two hosts under one ToR switch.
    pub same_rack: Latency,
    /// Two racks of one pod: ToR, pod switch, ToR.
    pub cross_rack: Latency,
    /// Two pods of one datacenter: through the datacenter's core.
    pub cross_pod: Latency,
    /// Two datacenters of one region, over the WAN.
    pub same_region: Latency,
    /// Two datacenters in different regions (or without a region), over the WAN.
    pub cross_continent: Latency,
}

impl Default for LatencyTable {
    fn default() -> LatencyTable {
        LatencyTable {
            same_host: Latency {
                mean_us: 10,
                jitter_us: 5,
            },
            same_rack: Latency {
                mean_us: 25,
                jitter_us: 10,
            },
            cross_rack: Latency {
                mean_us: 100,
                jitter_us: 50,
            },
            cross_pod: Latency {
                mean_us: 250,
                jitter_us: 100,
            },
            same_region: Latency {
                mean_us: 750,
                jitter_us: 250,
            },
            cross_continent: Latency {
                mean_us: 40_000,
                jitter_us: 10_000,
            },
        }
    }
}

impl LatencyTable {
    /// The latency of one hop class.
    pub fn for_class(&self, class: HopClass) -> Latency {
        match class {
            HopClass::SameHost => self.same_host,
            HopClass::SameRack => self.same_rack,
            HopClass::CrossRack => self.cross_rack,
            HopClass::CrossPod => self.cross_pod,
            HopClass::SameRegion => self.same_region,
            HopClass::CrossContinent => self.cross_continent,
        }
    }
}

/// `[bandwidth]`: capacity per link class, in bytes per second.
///
/// Defaults: 25 GbE host NICs and 100 GbE ToR uplinks (the "modern 25-100 GbE" of
/// reliability-anchors.md section 3.6), 400 Gb/s pod uplinks, and 10 Gb/s of WAN capacity
/// for this cluster's share of an inter-datacenter link (our estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandwidthTable {
    /// A host's network interface.
    pub host_nic: u64,
    /// A ToR switch's link to its pod switch.
    pub tor_uplink: u64,
    /// A pod switch's link to its datacenter core.
    pub pod_uplink: u64,
    /// A WAN link between two datacenters.
    pub wan: u64,
}

impl Default for BandwidthTable {
    fn default() -> BandwidthTable {
        BandwidthTable {
            host_nic: 3_125_000_000,
            tor_uplink: 12_500_000_000,
            pod_uplink: 50_000_000_000,
            wan: 1_250_000_000,
        }
    }
}

/// How far apart two nodes are: decides a path's latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HopClass {
    /// Same host (or the same node).
    SameHost,
    /// Same rack, different hosts.
    SameRack,
    /// Same pod, different racks.
    CrossRack,
    /// Same datacenter, different pods.
    CrossPod,
    /// Different datacenters with the same region.
    SameRegion,
    /// Different datacenters in different regions (a datacenter without a region is alone in its
    /// own).
    CrossContinent,
}

/// A switch or link that can fail. Ordered by kind, then by names, so element lists are
/// deterministic. Displayed (and parsed) as `tor:dc/pod/rack`, `pod:dc/pod`, `uplink:dc/pod`,
/// `core:dc` and `wan:dc_a-dc_b`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElementId {
    /// A rack's top-of-rack switch.
    Tor {
        /// Datacenter name.
        dc: String,
        /// Pod name.
        pod: String,
        /// Rack name.
        rack: String,
    },
    /// A pod's switch: joins its racks' ToRs.
    PodSwitch {
        /// Datacenter name.
        dc: String,
        /// Pod name.
        pod: String,
    },
    /// The link from a pod switch to its datacenter's core.
    PodUplink {
        /// Datacenter name.
        dc: String,
        /// Pod name.
        pod: String,
    },
    /// A datacenter's core (cluster/spine) switch.
    Core {
        /// Datacenter name.
        dc: String,
    },
    /// The WAN link between two datacenters; invariant: `dc_a < dc_b`.
    Wan {
        /// The smaller datacenter name.
        dc_a: String,
        /// The larger datacenter name.
        dc_b: String,
    },
}

impl ElementId {
    /// The WAN link between two distinct datacenters, whatever order they are given in.
    ///
    /// # Panics
    /// If the two names are equal.
    pub fn wan(dc_x: &str, dc_y: &str) -> ElementId {
        assert!(dc_x != dc_y, "wan link needs two datacenters: dc={dc_x}");
        let (dc_a, dc_b) = if dc_x < dc_y {
            (dc_x, dc_y)
        } else {
            (dc_y, dc_x)
        };
        ElementId::Wan {
            dc_a: dc_a.to_string(),
            dc_b: dc_b.to_string(),
        }
    }
}

impl fmt::Display for ElementId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElementId::Tor { dc, pod, rack } => write!(formatter, "tor:{dc}/{pod}/{rack}"),
            ElementId::PodSwitch { dc, pod } => write!(formatter, "pod:{dc}/{pod}"),
            ElementId::PodUplink { dc, pod } => write!(formatter, "uplink:{dc}/{pod}"),
            ElementId::Core { dc } => write!(formatter, "core:{dc}"),
            ElementId::Wan { dc_a, dc_b } => write!(formatter, "wan:{dc_a}-{dc_b}"),
        }
    }
}

impl FromStr for ElementId {
    type Err = String;

    /// Parses the `Display` form. It does not check that the element exists in a topology.
    fn from_str(text: &str) -> Result<ElementId, String> {
        let error = || {
            format!("bad element id `{text}`: expected tor:dc/pod/rack, pod:dc/pod, uplink:dc/pod, core:dc or wan:dc-dc")
        };
        let (kind, rest) = text.split_once(':').ok_or_else(error)?;
        let names: Vec<&str> = if kind == "wan" {
            rest.split('-').collect()
        } else {
            rest.split('/').collect()
        };
        if names.iter().any(|name| check_name(name).is_err()) {
            return Err(error());
        }
        let owned = |index: usize| names[index].to_string();
        match (kind, names.len()) {
            ("tor", 3) => Ok(ElementId::Tor {
                dc: owned(0),
                pod: owned(1),
                rack: owned(2),
            }),
            ("pod", 2) => Ok(ElementId::PodSwitch {
                dc: owned(0),
                pod: owned(1),
            }),
            ("uplink", 2) => Ok(ElementId::PodUplink {
                dc: owned(0),
                pod: owned(1),
            }),
            ("core", 1) => Ok(ElementId::Core { dc: owned(0) }),
            ("wan", 2) if names[0] != names[1] => Ok(ElementId::wan(names[0], names[1])),
            _ => Err(error()),
        }
    }
}

/// Where a node sits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeLabels {
    /// Datacenter name.
    pub dc: String,
    /// Pod name, unique within its datacenter.
    pub pod: String,
    /// Rack name, unique within its pod.
    pub rack: String,
    /// Host name, unique within its rack.
    pub host: String,
}

/// The route of a message from one node to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// How far apart the two nodes are.
    pub class: HopClass,
    /// The switches and links crossed, in order from the source.
    pub elements: Vec<ElementId>,
    /// The class's mean one-way latency, in microseconds (jitter is added by the simulator).
    pub base_latency_us: u64,
    /// The smallest capacity of the link classes crossed, in bytes per second. A same-host path
    /// is capped at the host NIC's rate, a conservative stand-in for loopback.
    pub bottleneck_bandwidth: u64,
}

/// A parsed, checked topology.
///
/// Invariants (checked by `from_toml`):
/// - there is at least one datacenter; every datacenter, pod, rack and host has at least one
///   child; names are unique among siblings and made of ASCII letters, digits and `_`;
/// - node ids are exactly `1..=N`, each on one host, with `N <= NODE_COUNT_MAX`;
/// - `elements` holds every switch and link of the tree, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    nodes: BTreeMap<NodeId, NodeLabels>,
    regions: BTreeMap<String, Option<String>>,
    elements: BTreeSet<ElementId>,
    latency: LatencyTable,
    bandwidth: BandwidthTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    dc: Vec<DatacenterSpec>,
    #[serde(default)]
    latency: LatencyTable,
    #[serde(default)]
    bandwidth: BandwidthTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatacenterSpec {
    name: String,
    region: Option<String>,
    #[serde(default)]
    pod: Vec<PodSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PodSpec {
    name: String,
    #[serde(default)]
    rack: Vec<RackSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RackSpec {
    name: String,
    #[serde(default)]
    host: Vec<HostSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSpec {
    name: String,
    #[serde(default)]
    nodes: Vec<NodeId>,
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "name `{name}` must be non-empty ASCII letters, digits or `_`"
        ))
    }
}

/// Checks a list of sibling names: each valid, none repeated, at least one.
fn check_siblings<'a>(
    what: &str,
    parent: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for name in names {
        check_name(name).map_err(|error| format!("{parent}: {what}.{error}"))?;
        if !seen.insert(name) {
            return Err(format!("{parent}: {what} `{name}` is listed twice"));
        }
    }
    if seen.is_empty() {
        return Err(format!(
            "{parent} has no {what} (add at least one `[[...{what}]]`)"
        ));
    }
    Ok(())
}

impl Topology {
    /// Parses and checks a topology file. Errors name the offending field or element.
    pub fn from_toml(text: &str) -> Result<Topology, String> {
        let spec: FileSpec = toml::from_str(text).map_err(|error| format!("topology: {error}"))?;
        Topology::build(spec).map_err(|error| format!("topology: {error}"))
    }

    fn build(spec: FileSpec) -> Result<Topology, String> {
        check_siblings("dc", "the file", spec.dc.iter().map(|dc| dc.name.as_str()))?;
        if spec.dc.len() > DATACENTER_COUNT_MAX {
            return Err(format!(
                "dc: {} datacenters, at most {DATACENTER_COUNT_MAX}",
                spec.dc.len()
            ));
        }
        check_tables(&spec.latency, &spec.bandwidth)?;
        let mut topology = Topology {
            nodes: BTreeMap::new(),
            regions: BTreeMap::new(),
            elements: BTreeSet::new(),
            latency: spec.latency,
            bandwidth: spec.bandwidth,
        };
        for dc in &spec.dc {
            topology.add_datacenter(dc)?;
        }
        topology.add_wan_links();
        topology.check_node_ids()?;
        Ok(topology)
    }

    fn add_datacenter(&mut self, dc: &DatacenterSpec) -> Result<(), String> {
        let dc_path = format!("dc `{}`", dc.name);
        check_siblings("pod", &dc_path, dc.pod.iter().map(|pod| pod.name.as_str()))?;
        if let Some(region) = &dc.region {
            if region.is_empty() {
                return Err(format!(
                    "{dc_path}: region must not be empty (omit it instead)"
                ));
            }
        }
        self.regions.insert(dc.name.clone(), dc.region.clone());
        self.elements.insert(ElementId::Core {
            dc: dc.name.clone(),
        });
        for pod in &dc.pod {
            let pod_path = format!("{dc_path} pod `{}`", pod.name);
            check_siblings(
                "rack",
                &pod_path,
                pod.rack.iter().map(|rack| rack.name.as_str()),
            )?;
            self.elements.insert(ElementId::PodSwitch {
                dc: dc.name.clone(),
                pod: pod.name.clone(),
            });
            self.elements.insert(ElementId::PodUplink {
                dc: dc.name.clone(),
                pod: pod.name.clone(),
            });
            for rack in &pod.rack {
                let rack_path = format!("{pod_path} rack `{}`", rack.name);
                check_siblings(
                    "host",
                    &rack_path,
                    rack.host.iter().map(|host| host.name.as_str()),
                )?;
                let tor = ElementId::Tor {
                    dc: dc.name.clone(),
                    pod: pod.name.clone(),
                    rack: rack.name.clone(),
                };
                self.elements.insert(tor);
                for host in &rack.host {
                    let labels = NodeLabels {
                        dc: dc.name.clone(),
                        pod: pod.name.clone(),
                        rack: rack.name.clone(),
                        host: host.name.clone(),
                    };
                    self.add_host(
                        &format!("{rack_path} host `{}`", host.name),
                        &host.nodes,
                        &labels,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn add_host(
        &mut self,
        host_path: &str,
        nodes: &[NodeId],
        labels: &NodeLabels,
    ) -> Result<(), String> {
        if nodes.is_empty() {
            return Err(format!(
                "{host_path}: nodes is empty (list at least one node id)"
            ));
        }
        for &node in nodes {
            if node == 0 {
                return Err(format!(
                    "{host_path}: nodes: node id 0 is not allowed (ids are 1..=N)"
                ));
            }
            if let Some(previous) = self.nodes.get(&node) {
                let where_before = format!(
                    "{}/{}/{}/{}",
                    previous.dc, previous.pod, previous.rack, previous.host
                );
                return Err(format!(
                    "{host_path}: nodes: duplicate node id {node} (already on {where_before})"
                ));
            }
            if self.nodes.len() >= NODE_COUNT_MAX {
                return Err(format!(
                    "{host_path}: nodes: more than {NODE_COUNT_MAX} nodes"
                ));
            }
            self.nodes.insert(node, labels.clone());
        }
        Ok(())
    }

    fn add_wan_links(&mut self) {
        let names: Vec<&String> = self.regions.keys().collect();
        for (index, dc_a) in names.iter().enumerate() {
            for dc_b in &names[index + 1..] {
                self.elements.insert(ElementId::wan(dc_a, dc_b));
            }
        }
    }

    fn check_node_ids(&self) -> Result<(), String> {
        for (expected, &node) in (1..).zip(self.nodes.keys()) {
            if node != expected {
                return Err(format!(
                    "nodes: ids must be 1..={} without gaps, but {expected} is missing",
                    self.nodes.len()
                ));
            }
        }
        Ok(())
    }

    /// Every node id, ascending (`1..=N`).
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.keys().copied()
    }

    /// How many nodes there are.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Where a node sits, or `None` for an unknown node.
    pub fn labels(&self, node: NodeId) -> Option<&NodeLabels> {
        self.nodes.get(&node)
    }

    /// A datacenter's region, or `None` if it has none or does not exist.
    pub fn region(&self, dc: &str) -> Option<&str> {
        self.regions.get(dc).and_then(|region| region.as_deref())
    }

    /// Every datacenter name, sorted.
    pub fn datacenters(&self) -> impl Iterator<Item = &str> + '_ {
        self.regions.keys().map(String::as_str)
    }

    /// Every switch and link, sorted by kind then names.
    pub fn elements(&self) -> impl Iterator<Item = &ElementId> + '_ {
        self.elements.iter()
    }

    /// Whether `element` exists in this topology.
    pub fn contains(&self, element: &ElementId) -> bool {
        self.elements.contains(element)
    }

    /// The latency table.
    pub fn latency(&self) -> &LatencyTable {
        &self.latency
    }

    /// The bandwidth table.
    pub fn bandwidth(&self) -> &BandwidthTable {
        &self.bandwidth
    }

    /// The nodes under a selector `dc`, `dc/pod`, `dc/pod/rack` or `dc/pod/rack/host`, ascending.
    /// An error if the selector is malformed or names nothing (every level is non-empty, so an
    /// empty match means a wrong name).
    pub fn nodes_in(&self, selector: &str) -> Result<Vec<NodeId>, String> {
        let parts: Vec<&str> = selector.split('/').collect();
        if parts.len() > 4 || parts.iter().any(|part| check_name(part).is_err()) {
            return Err(format!(
                "bad selector `{selector}`: expected dc, dc/pod, dc/pod/rack or dc/pod/rack/host"
            ));
        }
        let matching: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, labels)| {
                let levels = [&labels.dc, &labels.pod, &labels.rack, &labels.host];
                parts
                    .iter()
                    .zip(levels)
                    .all(|(part, level)| *part == level.as_str())
            })
            .map(|(&node, _)| node)
            .collect();
        if matching.is_empty() {
            return Err(format!(
                "selector `{selector}` names no part of the topology"
            ));
        }
        Ok(matching)
    }

    /// The route from `source_node` to `target_node`, or `None` if either is unknown.
    pub fn path(&self, source_node: NodeId, target_node: NodeId) -> Option<Path> {
        let source = self.nodes.get(&source_node)?;
        let target = self.nodes.get(&target_node)?;
        let class = self.hop_class(source, target);
        let elements = path_elements(class, source, target);
        let bandwidth = &self.bandwidth;
        let bottleneck_bandwidth = match class {
            HopClass::SameHost | HopClass::SameRack => bandwidth.host_nic,
            HopClass::CrossRack => bandwidth.host_nic.min(bandwidth.tor_uplink),
            HopClass::CrossPod => bandwidth
                .host_nic
                .min(bandwidth.tor_uplink)
                .min(bandwidth.pod_uplink),
            HopClass::SameRegion | HopClass::CrossContinent => bandwidth
                .host_nic
                .min(bandwidth.tor_uplink)
                .min(bandwidth.pod_uplink)
                .min(bandwidth.wan),
        };
        let base_latency_us = self.latency.for_class(class).mean_us;
        Some(Path {
            class,
            elements,
            base_latency_us,
            bottleneck_bandwidth,
        })
    }

    /// Whether a message from `source_node` can reach `target_node` with the `failed` elements
    /// down: false exactly when some element on the path failed, or either node is unknown.
    pub fn reachable(
        &self,
        source_node: NodeId,
        target_node: NodeId,
        failed: &BTreeSet<ElementId>,
    ) -> bool {
        match self.path(source_node, target_node) {
            Some(path) => !path.elements.iter().any(|element| failed.contains(element)),
            None => false,
        }
    }

    fn hop_class(&self, source: &NodeLabels, target: &NodeLabels) -> HopClass {
        if source.dc != target.dc {
            let source_region = self.region(&source.dc);
            let same_region = source_region.is_some() && source_region == self.region(&target.dc);
            return if same_region {
                HopClass::SameRegion
            } else {
                HopClass::CrossContinent
            };
        }
        if source.pod != target.pod {
            HopClass::CrossPod
        } else if source.rack != target.rack {
            HopClass::CrossRack
        } else if source.host != target.host {
            HopClass::SameRack
        } else {
            HopClass::SameHost
        }
    }
}

/// The elements from `source` up to the highest switch of `class` (excluded) and down to
/// `target`, in travel order.
fn path_elements(class: HopClass, source: &NodeLabels, target: &NodeLabels) -> Vec<ElementId> {
    let tor = |labels: &NodeLabels| ElementId::Tor {
        dc: labels.dc.clone(),
        pod: labels.pod.clone(),
        rack: labels.rack.clone(),
    };
    let pod = |labels: &NodeLabels| ElementId::PodSwitch {
        dc: labels.dc.clone(),
        pod: labels.pod.clone(),
    };
    let uplink = |labels: &NodeLabels| ElementId::PodUplink {
        dc: labels.dc.clone(),
        pod: labels.pod.clone(),
    };
    let core = |labels: &NodeLabels| ElementId::Core {
        dc: labels.dc.clone(),
    };
    match class {
        HopClass::SameHost => vec![],
        HopClass::SameRack => vec![tor(source)],
        HopClass::CrossRack => vec![tor(source), pod(source), tor(target)],
        HopClass::CrossPod => vec![
            tor(source),
            pod(source),
            uplink(source),
            core(source),
            uplink(target),
            pod(target),
            tor(target),
        ],
        HopClass::SameRegion | HopClass::CrossContinent => vec![
            tor(source),
            pod(source),
            uplink(source),
            core(source),
            ElementId::wan(&source.dc, &target.dc),
            core(target),
            uplink(target),
            pod(target),
            tor(target),
        ],
    }
}

fn check_tables(latency: &LatencyTable, bandwidth: &BandwidthTable) -> Result<(), String> {
    let classes = [
        ("same_host", latency.same_host),
        ("same_rack", latency.same_rack),
        ("cross_rack", latency.cross_rack),
        ("cross_pod", latency.cross_pod),
        ("same_region", latency.same_region),
        ("cross_continent", latency.cross_continent),
    ];
    for pair in classes.windows(2) {
        let ((near_name, near), (far_name, far)) = (pair[0], pair[1]);
        if far.mean_us < near.mean_us {
            return Err(format!(
                "latency.{far_name}.mean_us={} is below latency.{near_name}.mean_us={}: farther must not be faster",
                far.mean_us, near.mean_us
            ));
        }
    }
    let links = [
        ("host_nic", bandwidth.host_nic),
        ("tor_uplink", bandwidth.tor_uplink),
        ("pod_uplink", bandwidth.pod_uplink),
        ("wan", bandwidth.wan),
    ];
    for (name, bytes_per_second) in links {
        if bytes_per_second == 0 {
            return Err(format!("bandwidth.{name} must be positive"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE_DC: &str = include_str!("../../../scenarios/topologies/three-dc.toml");
    const ONE_DC: &str = include_str!("../../../scenarios/topologies/one-dc.toml");
    const FOUR_PODS: &str = include_str!("../../../scenarios/topologies/four-pods.toml");

    fn parse(text: &str) -> Topology {
        Topology::from_toml(text).unwrap_or_else(|error| panic!("{error}"))
    }

    fn element(text: &str) -> ElementId {
        text.parse().unwrap_or_else(|error| panic!("{error}"))
    }

    fn failed(texts: &[&str]) -> BTreeSet<ElementId> {
        texts.iter().map(|text| element(text)).collect()
    }

    fn path_text(topology: &Topology, source_node: NodeId, target_node: NodeId) -> String {
        let path = topology
            .path(source_node, target_node)
            .expect("both nodes exist");
        let names: Vec<String> = path.elements.iter().map(ToString::to_string).collect();
        format!(
            "{:?} {}us [{}]",
            path.class,
            path.base_latency_us,
            names.join(" ")
        )
    }

    /// One character per (source, target) pair: `#` reachable, `.` cut.
    fn reachability_matrix(topology: &Topology, failed: &BTreeSet<ElementId>) -> String {
        let mut matrix = String::new();
        for source_node in topology.node_ids() {
            for target_node in topology.node_ids() {
                let reachable = topology.reachable(source_node, target_node, failed);
                matrix.push(if reachable { '#' } else { '.' });
            }
            matrix.push('\n');
        }
        matrix
    }

    const TINY: &str = r#"
[[dc]]
name = "a"
[[dc.pod]]
name = "p0"
[[dc.pod.rack]]
name = "r0"
host = [{ name = "h0", nodes = [1, 2] }, { name = "h1", nodes = [3] }]
"#;

    #[test]
    fn example_files_parse() {
        // Goal: the shipped examples are valid and have the advertised shapes.
        let three_dc = parse(THREE_DC);
        assert_eq!(three_dc.node_count(), 24);
        assert_eq!(
            three_dc.datacenters().collect::<Vec<_>>(),
            ["east_a", "east_b", "europe"]
        );
        assert_eq!(three_dc.region("east_a"), Some("us_east"));
        // 12 ToRs, 6 pod switches, 6 uplinks, 3 cores, 3 WAN links.
        assert_eq!(three_dc.elements().count(), 12 + 6 + 6 + 3 + 3);
        assert_eq!(*three_dc.latency(), LatencyTable::default());
        assert_eq!(*three_dc.bandwidth(), BandwidthTable::default());
        let one_dc = parse(ONE_DC);
        assert_eq!(one_dc.node_count(), 9);
        assert_eq!(one_dc.elements().count(), 3 + 1 + 1 + 1);
        assert_eq!(one_dc.nodes_in("dc1/p0/r1").unwrap(), [4, 5, 6]);
        assert_eq!(parse(FOUR_PODS).node_count(), 16);
    }

    #[test]
    fn helpers_select_and_label() {
        // Goal: selectors and labels agree with the file; a wrong name is an error, not empty.
        let topology = parse(THREE_DC);
        assert_eq!(
            topology.nodes_in("east_b").unwrap(),
            (9..=16).collect::<Vec<_>>()
        );
        assert_eq!(topology.nodes_in("europe/p1").unwrap(), [21, 22, 23, 24]);
        assert_eq!(topology.nodes_in("east_a/p1/r1").unwrap(), [7, 8]);
        assert_eq!(topology.nodes_in("east_a/p1/r1/h1").unwrap(), [8]);
        assert!(topology
            .nodes_in("east_a/p9")
            .unwrap_err()
            .contains("east_a/p9"));
        assert!(topology.nodes_in("east_a//r0").is_err());
        let labels = topology.labels(7).unwrap();
        let expected = ("east_a", "p1", "r1", "h0");
        assert_eq!(
            (&*labels.dc, &*labels.pod, &*labels.rack, &*labels.host),
            expected
        );
        assert!(topology.labels(25).is_none());
        assert!(topology.path(1, 25).is_none());
        assert!(!topology.reachable(1, 25, &BTreeSet::new()));
    }

    #[test]
    fn partial_tables_use_defaults() {
        // Goal: a file may override one latency class or link and keep the other defaults.
        let text = format!("{TINY}\n[latency]\nsame_rack = {{ mean_us = 30, jitter_us = 1 }}\n[bandwidth]\nwan = 7\n");
        let topology = parse(&text);
        assert_eq!(
            topology.latency().same_rack,
            Latency {
                mean_us: 30,
                jitter_us: 1
            }
        );
        assert_eq!(
            topology.latency().cross_pod,
            LatencyTable::default().cross_pod
        );
        assert_eq!(topology.bandwidth().wan, 7);
        assert_eq!(
            topology.bandwidth().host_nic,
            BandwidthTable::default().host_nic
        );
    }

    #[test]
    fn errors_name_the_field() {
        // Goal: each kind of bad file is refused with a message naming what is wrong.
        let cases = [
            (TINY.replace("[1, 2]", "[1, 1]"), "duplicate node id 1"),
            (
                TINY.replace("nodes = [3]", "nodes = [2]"),
                "duplicate node id 2",
            ),
            (
                TINY.replace("[1, 2]", "[1, 4]"),
                "ids must be 1..=3 without gaps, but 2 is missing",
            ),
            (TINY.replace("[1, 2]", "[0, 1, 2]"), "node id 0"),
            (
                TINY.replace("name = \"p0\"", "name = \"p0\"\ncolour = \"red\""),
                "unknown field `colour`",
            ),
            (
                format!(
                    "{TINY}\n[latency]\nsame_rack = {{ mean_us = 1, jitter_us = 1, tail = 2 }}\n"
                ),
                "unknown field `tail`",
            ),
            (
                format!("{TINY}\n[bandwidth]\nfiber = 1\n"),
                "unknown field `fiber`",
            ),
            (
                format!("{TINY}\n[[dc]]\nname = \"empty\"\n"),
                "dc `empty` has no pod",
            ),
            (
                format!("{TINY}\n[[dc]]\nname = \"a\"\n"),
                "dc `a` is listed twice",
            ),
            (TINY.replace("name = \"r0\"", "name = \"r/0\""), "r/0"),
            (
                TINY.replace("[1, 2]", "[]")
                    .replace("nodes = [3]", "nodes = [1, 2]"),
                "host `h0`: nodes is empty",
            ),
            (String::new(), "has no dc"),
            (
                format!("{TINY}\n[latency]\ncross_rack = {{ mean_us = 5, jitter_us = 1 }}\n"),
                "latency.cross_rack.mean_us=5",
            ),
            (format!("{TINY}\n[bandwidth]\nwan = 0\n"), "bandwidth.wan"),
        ];
        for (text, expected) in cases {
            let error = Topology::from_toml(&text).expect_err(expected);
            assert!(
                error.contains(expected),
                "error {error:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn paths_per_pair_kind() {
        // Goal: each kind of pair on the 3-DC file gets its hop class, latency and element list.
        let topology = parse(THREE_DC);
        assert_eq!(path_text(&topology, 1, 1), "SameHost 10us []");
        assert_eq!(
            path_text(&topology, 1, 2),
            "SameRack 25us [tor:east_a/p0/r0]"
        );
        assert_eq!(
            path_text(&topology, 1, 3),
            "CrossRack 100us [tor:east_a/p0/r0 pod:east_a/p0 tor:east_a/p0/r1]"
        );
        assert_eq!(
            path_text(&topology, 1, 8),
            "CrossPod 250us [tor:east_a/p0/r0 pod:east_a/p0 uplink:east_a/p0 core:east_a \
             uplink:east_a/p1 pod:east_a/p1 tor:east_a/p1/r1]"
        );
        assert_eq!(
            path_text(&topology, 16, 1),
            "SameRegion 750us [tor:east_b/p1/r1 pod:east_b/p1 uplink:east_b/p1 core:east_b \
             wan:east_a-east_b core:east_a uplink:east_a/p0 pod:east_a/p0 tor:east_a/p0/r0]"
        );
        assert_eq!(
            path_text(&topology, 9, 17),
            "CrossContinent 40000us [tor:east_b/p0/r0 pod:east_b/p0 uplink:east_b/p0 core:east_b \
             wan:east_b-europe core:europe uplink:europe/p0 pod:europe/p0 tor:europe/p0/r0]"
        );
        let bandwidth = BandwidthTable::default();
        assert_eq!(
            topology.path(1, 2).unwrap().bottleneck_bandwidth,
            bandwidth.host_nic
        );
        assert_eq!(
            topology.path(1, 17).unwrap().bottleneck_bandwidth,
            bandwidth.wan
        );
        // A datacenter without a region is alone in its own: cross-continent.
        let no_region = parse(&THREE_DC.replace("region = \"us_east\"\n", ""));
        assert_eq!(
            no_region.path(1, 9).unwrap().class,
            HopClass::CrossContinent
        );
    }

    #[test]
    fn failed_tor_cuts_its_rack_off_but_not_its_hosts() {
        // Goal: a dead ToR isolates its rack from everyone, including its rack mates on other
        // hosts, while nodes on one host still talk. Method: check every pair against that rule.
        let topology = parse(TINY);
        let failed_tor = failed(&["tor:a/p0/r0"]);
        assert!(topology.reachable(1, 2, &failed_tor), "same host");
        assert!(
            !topology.reachable(1, 3, &failed_tor),
            "same rack, other host"
        );
        let topology = parse(THREE_DC);
        let failed_tor = failed(&["tor:east_a/p0/r1"]);
        let rack: BTreeSet<NodeId> = topology
            .nodes_in("east_a/p0/r1")
            .unwrap()
            .into_iter()
            .collect();
        for source_node in topology.node_ids() {
            for target_node in topology.node_ids() {
                let touches_rack = rack.contains(&source_node) || rack.contains(&target_node);
                let expected = !touches_rack || source_node == target_node;
                let actual = topology.reachable(source_node, target_node, &failed_tor);
                assert_eq!(
                    actual, expected,
                    "source={source_node} target={target_node}"
                );
            }
        }
    }

    #[test]
    fn failed_wan_link_cuts_exactly_its_two_datacenters() {
        // Goal: a cut cable between two datacenters separates exactly those two; every other
        // pair, and everything inside a datacenter, still works.
        let topology = parse(THREE_DC);
        let cut = failed(&["wan:east_a-europe"]);
        for source_node in topology.node_ids() {
            for target_node in topology.node_ids() {
                let source_dc = &topology.labels(source_node).unwrap().dc;
                let target_dc = &topology.labels(target_node).unwrap().dc;
                let mut pair = [source_dc.as_str(), target_dc.as_str()];
                pair.sort_unstable();
                let expected = pair != ["east_a", "europe"];
                let actual = topology.reachable(source_node, target_node, &cut);
                assert_eq!(
                    actual, expected,
                    "source={source_node} target={target_node}"
                );
            }
        }
    }

    #[test]
    fn three_switch_partition_cuts_pod_0_from_pods_1_to_3() {
        // Goal: the brief's "losing three switches can cut pod 0 off from pods 1-3".
        // Method: fail the pod switches of pods 1-3 and pin the whole reachability matrix; nodes
        // are numbered pod by pod, rack by rack (two per rack, four per pod).
        let topology = parse(FOUR_PODS);
        let three_switches = failed(&["pod:dc1/p1", "pod:dc1/p2", "pod:dc1/p3"]);
        let expected = "\
####............
####............
####............
####............
....##..........
....##..........
......##........
......##........
........##......
........##......
..........##....
..........##....
............##..
............##..
..............##
..............##
";
        assert_eq!(reachability_matrix(&topology, &three_switches), expected);
        // The clean cut: pod 0's uplink alone; each side stays whole inside.
        let uplink = failed(&["uplink:dc1/p0"]);
        let expected = "\
####............
####............
####............
####............
....############
....############
....############
....############
....############
....############
....############
....############
....############
....############
....############
....############
";
        assert_eq!(reachability_matrix(&topology, &uplink), expected);
    }

    #[test]
    fn element_order_is_deterministic() {
        // Goal: elements come out sorted by kind then names, whatever order the file lists
        // datacenters in, and every element id survives Display -> FromStr.
        let topology = parse(THREE_DC);
        let elements: Vec<ElementId> = topology.elements().cloned().collect();
        let mut sorted = elements.clone();
        sorted.sort();
        assert_eq!(elements, sorted);
        let names: Vec<String> = elements.iter().map(ToString::to_string).collect();
        assert_eq!(names[0], "tor:east_a/p0/r0");
        assert_eq!(names[12], "pod:east_a/p0");
        assert_eq!(names[18], "uplink:east_a/p0");
        assert_eq!(names[24..27], ["core:east_a", "core:east_b", "core:europe"]);
        assert_eq!(
            names[27..],
            [
                "wan:east_a-east_b",
                "wan:east_a-europe",
                "wan:east_b-europe"
            ]
        );
        for (listed, name) in elements.iter().zip(&names) {
            assert_eq!(&element(name), listed);
            assert!(topology.contains(listed));
        }
        assert_eq!(element("wan:europe-east_a"), element("wan:east_a-europe"));
        assert!("wan:a-a".parse::<ElementId>().is_err());
        assert!("rack:a".parse::<ElementId>().is_err());
        // Reverse the datacenters' order in the file: same topology, same element order.
        let blocks: Vec<&str> = THREE_DC.split("\n[[dc]]\n").collect();
        let mut reversed = blocks[0].to_string();
        for block in blocks[1..].iter().rev() {
            reversed.push_str("\n[[dc]]\n");
            reversed.push_str(block.split("\n[latency]").next().unwrap());
            reversed.push('\n');
        }
        assert!(reversed.find("\"europe\"").unwrap() < reversed.find("\"east_a\"").unwrap());
        let reversed = parse(&reversed);
        assert_eq!(reversed.elements().cloned().collect::<Vec<_>>(), elements);
        assert_eq!(reversed, topology);
    }
}
