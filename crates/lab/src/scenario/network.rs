//! The hierarchical network of a scenario: each message between two nodes (or between a client
//! and a node) follows its path through the topology's switches and links, takes that path's
//! latency plus long-tailed jitter plus its size over the path's narrowest link, and is lost
//! when an element on the path has failed, when a partition cuts the pair, or by the loss
//! chance of the faults active on its path.

use std::collections::BTreeMap;

use crate::rng::SimRng;
use crate::topology::{ElementId, NodeLabels, Path, Topology};

/// One route, precomputed: elements as indexes into `Network::elements`.
#[derive(Clone, Debug)]
struct Route {
    base_us: u64,
    jitter_us: u64,
    /// Bytes per microsecond of the narrowest link.
    bytes_per_us: u64,
    elements: Vec<u16>,
}

/// The network's state: routes, failed elements, partitions and loss.
#[derive(Debug)]
pub struct Network {
    nodes: usize,
    elements: Vec<ElementId>,
    /// `[from * nodes + to]`.
    routes: Vec<Route>,
    /// `[dc * nodes + node]`: from a client in datacenter `dc` (behind its core switch).
    client_routes: Vec<Route>,
    pub datacenters: Vec<String>,
    /// Per element, how many active faults hold it down.
    failed: Vec<u32>,
    /// Per element, the loss chances of active faults on it.
    element_loss: Vec<Vec<f64>>,
    /// Loss chances on every message.
    global_loss: Vec<f64>,
    /// Cut directed pairs (from, to), with how many faults cut each.
    cut: BTreeMap<(usize, usize), u32>,
    /// Chances that a message is corrupted on the wire (caught by the frame checksum).
    corruption: Vec<f64>,
    /// Corrupted messages the receivers' checksums caught (and dropped).
    pub corrupt_frames_caught: u64,
}

fn route(path: &Path, topology: &Topology, index: &BTreeMap<ElementId, u16>) -> Route {
    let latency = topology.latency().for_class(path.class);
    Route {
        base_us: latency.mean_us,
        jitter_us: latency.jitter_us,
        bytes_per_us: (path.bottleneck_bandwidth / 1_000_000).max(1),
        elements: path.elements.iter().filter_map(|element| index.get(element).copied()).collect(),
    }
}

impl Network {
    /// The network of `topology` (node slot `i` is topology node `i + 1`).
    pub fn new(topology: &Topology) -> Network {
        let elements: Vec<ElementId> = topology.elements().cloned().collect();
        let index: BTreeMap<ElementId, u16> = elements.iter().enumerate().map(|(i, e)| (e.clone(), i as u16)).collect();
        let nodes = topology.node_count();
        let mut routes = Vec::with_capacity(nodes * nodes);
        for from in 1..=nodes as u64 {
            for to in 1..=nodes as u64 {
                let path = topology.path(from, to).expect("topology ids are 1..=N");
                routes.push(route(&path, topology, &index));
            }
        }
        let datacenters: Vec<String> = topology.datacenters().map(str::to_owned).collect();
        let mut client_routes = Vec::with_capacity(datacenters.len() * nodes);
        for dc in &datacenters {
            for node in 1..=nodes as u64 {
                let labels = topology.labels(node).expect("topology ids are 1..=N");
                client_routes.push(client_route(topology, dc, labels, &index));
            }
        }
        let count = elements.len();
        Network {
            nodes,
            elements,
            routes,
            client_routes,
            datacenters,
            failed: vec![0; count],
            element_loss: vec![Vec::new(); count],
            global_loss: Vec::new(),
            cut: BTreeMap::new(),
            corruption: Vec::new(),
            corrupt_frames_caught: 0,
        }
    }

    /// The delay of a message of `bytes` from node `from` to node `to`, or `None` if it is lost.
    pub fn node_to_node(&mut self, from: usize, to: usize, bytes: u64, rng: &mut SimRng) -> Option<u64> {
        if self.cut.contains_key(&(from, to)) {
            return None;
        }
        let route = &self.routes[from * self.nodes + to];
        let delay = Self::travel(route, &self.failed, &self.element_loss, &self.global_loss, bytes, rng)?;
        (!self.corrupted(rng)).then_some(delay)
    }

    /// The delay between a client in datacenter `dc` and node `node` (either way), or `None`.
    pub fn client_to_node(&mut self, dc: usize, node: usize, rng: &mut SimRng) -> Option<u64> {
        let route = &self.client_routes[dc * self.nodes + node];
        let delay = Self::travel(route, &self.failed, &self.element_loss, &self.global_loss, 100, rng)?;
        (!self.corrupted(rng)).then_some(delay)
    }

    fn travel(route: &Route, failed: &[u32], element_loss: &[Vec<f64>], global_loss: &[f64], bytes: u64, rng: &mut SimRng) -> Option<u64> {
        for &element in &route.elements {
            if failed[element as usize] > 0 {
                return None;
            }
            for &chance in &element_loss[element as usize] {
                if rng.chance(chance) {
                    return None;
                }
            }
        }
        for &chance in global_loss {
            if rng.chance(chance) {
                return None;
            }
        }
        let jitter = if route.jitter_us == 0 { 0 } else { rng.exponential(route.jitter_us as f64) as u64 };
        Some(route.base_us + jitter + bytes / route.bytes_per_us)
    }

    /// Whether a message is corrupted on the way. Every frame carries a CRC32C of its payload,
    /// which detects every error of up to three bits, so the receiver drops it (as a lost
    /// message) and the sender's retries take over.
    fn corrupted(&mut self, rng: &mut SimRng) -> bool {
        let hit = self.corruption.iter().any(|&chance| rng.chance(chance));
        if hit {
            self.corrupt_frames_caught += 1;
        }
        hit
    }

    /// The index of a named element, or an error naming the ones that exist.
    pub fn element(&self, name: &str) -> Result<usize, String> {
        self.elements.iter().position(|element| element.to_string() == name).ok_or_else(|| {
            let known: Vec<String> = self.elements.iter().take(12).map(ToString::to_string).collect();
            format!("no element `{name}` in the topology (some that exist: {})", known.join(", "))
        })
    }

    pub fn element_name(&self, element: usize) -> String {
        self.elements[element].to_string()
    }

    pub fn set_failed(&mut self, element: usize, down: bool) {
        let count = &mut self.failed[element];
        *count = if down { *count + 1 } else { count.saturating_sub(1) };
    }

    pub fn is_failed(&self, element: usize) -> bool {
        self.failed[element] > 0
    }

    /// Adds (or with `on == false` removes) a loss chance on one element, or everywhere.
    pub fn set_loss(&mut self, element: Option<usize>, chance: f64, on: bool) {
        let list = match element {
            Some(element) => &mut self.element_loss[element],
            None => &mut self.global_loss,
        };
        if on {
            list.push(chance);
        } else if let Some(at) = list.iter().position(|&c| c == chance) {
            list.remove(at);
        }
    }

    pub fn set_corruption(&mut self, chance: f64, on: bool) {
        if on {
            self.corruption.push(chance);
        } else if let Some(at) = self.corruption.iter().position(|&c| c == chance) {
            self.corruption.remove(at);
        }
    }

    /// Cuts (or restores) the directed pair `from -> to`.
    pub fn set_cut(&mut self, from: usize, to: usize, cut: bool) {
        let count = self.cut.entry((from, to)).or_insert(0);
        *count = if cut { *count + 1 } else { count.saturating_sub(1) };
        if *count == 0 {
            self.cut.remove(&(from, to));
        }
    }

    /// Whether node `from` can currently send to node `to` at all (no failed element, no cut).
    pub fn connected(&self, from: usize, to: usize) -> bool {
        !self.cut.contains_key(&(from, to)) && self.routes[from * self.nodes + to].elements.iter().all(|&e| self.failed[e as usize] == 0)
    }

    /// Clears every fault (the end of the run heals all).
    pub fn heal_all(&mut self) {
        self.failed.iter_mut().for_each(|count| *count = 0);
        self.element_loss.iter_mut().for_each(Vec::clear);
        self.global_loss.clear();
        self.cut.clear();
        self.corruption.clear();
    }

    /// Names of the failed elements.
    pub fn failed_elements(&self) -> Vec<&ElementId> {
        self.elements.iter().zip(&self.failed).filter(|(_, &count)| count > 0).map(|(element, _)| element).collect()
    }

    /// Elements with loss on them (for the report's topology).
    pub fn lossy_elements(&self) -> Vec<&ElementId> {
        self.elements.iter().zip(&self.element_loss).filter(|(_, loss)| !loss.is_empty()).map(|(element, _)| element).collect()
    }
}

/// A client in `dc` reaches a node through its datacenter's core: down the node's pod uplink,
/// pod switch and ToR; over the WAN first if the node is in another datacenter.
fn client_route(topology: &Topology, dc: &str, labels: &NodeLabels, index: &BTreeMap<ElementId, u16>) -> Route {
    let mut path = vec![ElementId::Core { dc: dc.to_owned() }];
    let class = if labels.dc == dc {
        crate::topology::HopClass::CrossPod
    } else {
        path.push(ElementId::wan(dc, &labels.dc));
        path.push(ElementId::Core { dc: labels.dc.clone() });
        let same_region = topology.region(dc).is_some() && topology.region(dc) == topology.region(&labels.dc);
        if same_region { crate::topology::HopClass::SameRegion } else { crate::topology::HopClass::CrossContinent }
    };
    path.push(ElementId::PodUplink { dc: labels.dc.clone(), pod: labels.pod.clone() });
    path.push(ElementId::PodSwitch { dc: labels.dc.clone(), pod: labels.pod.clone() });
    path.push(ElementId::Tor { dc: labels.dc.clone(), pod: labels.pod.clone(), rack: labels.rack.clone() });
    let latency = topology.latency().for_class(class);
    Route {
        base_us: latency.mean_us,
        jitter_us: latency.jitter_us,
        bytes_per_us: (topology.bandwidth().host_nic / 1_000_000).max(1),
        elements: path.iter().filter_map(|element| index.get(element).copied()).collect(),
    }
}
