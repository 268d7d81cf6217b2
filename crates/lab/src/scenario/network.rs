//! The hierarchical network of a scenario: each message between two nodes (or between a client
//! and a node) follows its path through the topology's switches and links, takes that path's
//! latency plus long-tailed jitter plus its size over the path's narrowest link, and is lost
//! when an element on the path has failed, when a partition cuts the pair, or by the loss
//! chance of the faults active on its path. A message whose direct WAN link is cut goes
//! through a third datacenter whose links are up (the detour's latency is the sum of the two
//! legs), as inter-datacenter routing does.

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
    /// For a route between datacenters: (from, to) datacenter indexes, for detours.
    across: Option<(u16, u16)>,
}

/// The WAN between datacenters, for detours around a cut link.
#[derive(Debug)]
struct Wan {
    count: usize,
    /// `[a * count + b]`: the link's element (none for a == b).
    links: Vec<Option<u16>>,
    cores: Vec<Option<u16>>,
    /// `[a * count + b]`: one-way (mean, jitter) microseconds.
    latency: Vec<(u64, u64)>,
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
    /// No element failed and no loss anywhere: a message's path needs no walk (most of a run).
    pristine: bool,
    /// Loss chances on every message.
    global_loss: Vec<f64>,
    /// Cut directed pairs (from, to), with how many faults cut each.
    cut: BTreeMap<(usize, usize), u32>,
    /// Chances that a message is corrupted on the wire (caught by the frame checksum).
    corruption: Vec<f64>,
    /// Corrupted messages the receivers' checksums caught (and dropped).
    pub corrupt_frames_caught: u64,
    wan: Wan,
}

fn route(
    path: &Path,
    topology: &Topology,
    index: &BTreeMap<ElementId, u16>,
    across: Option<(u16, u16)>,
) -> Route {
    let latency = topology.latency().for_class(path.class);
    Route {
        base_us: latency.mean_us,
        jitter_us: latency.jitter_us,
        bytes_per_us: (path.bottleneck_bandwidth / 1_000_000).max(1),
        elements: path
            .elements
            .iter()
            .filter_map(|element| index.get(element).copied())
            .collect(),
        across,
    }
}

fn wan(topology: &Topology, datacenters: &[String], index: &BTreeMap<ElementId, u16>) -> Wan {
    let count = datacenters.len();
    let mut links = vec![None; count * count];
    let mut latency = vec![(0, 0); count * count];
    for (a, dc_a) in datacenters.iter().enumerate() {
        for (b, dc_b) in datacenters.iter().enumerate() {
            if a == b {
                continue;
            }
            links[a * count + b] = index.get(&ElementId::wan(dc_a, dc_b)).copied();
            let same_region =
                topology.region(dc_a).is_some() && topology.region(dc_a) == topology.region(dc_b);
            let class = if same_region {
                crate::topology::HopClass::SameRegion
            } else {
                crate::topology::HopClass::CrossContinent
            };
            let l = topology.latency().for_class(class);
            latency[a * count + b] = (l.mean_us, l.jitter_us);
        }
    }
    let cores = datacenters
        .iter()
        .map(|dc| index.get(&ElementId::Core { dc: dc.clone() }).copied())
        .collect();
    Wan {
        count,
        links,
        cores,
        latency,
    }
}

impl Network {
    /// The network of `topology` (node slot `i` is topology node `i + 1`).
    pub fn new(topology: &Topology) -> Network {
        let elements: Vec<ElementId> = topology.elements().cloned().collect();
        let index: BTreeMap<ElementId, u16> = elements
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u16))
            .collect();
        let nodes = topology.node_count();
        let datacenters: Vec<String> = topology.datacenters().map(str::to_owned).collect();
        let dc_of = |id: u64| {
            let dc = &topology.labels(id).expect("topology ids are 1..=N").dc;
            datacenters.iter().position(|d| d == dc).expect("listed") as u16
        };
        let mut routes = Vec::with_capacity(nodes * nodes);
        for from in 1..=nodes as u64 {
            for to in 1..=nodes as u64 {
                let path = topology.path(from, to).expect("topology ids are 1..=N");
                let across = (dc_of(from) != dc_of(to)).then(|| (dc_of(from), dc_of(to)));
                routes.push(route(&path, topology, &index, across));
            }
        }
        let mut client_routes = Vec::with_capacity(datacenters.len() * nodes);
        for (d, dc) in datacenters.iter().enumerate() {
            for node in 1..=nodes as u64 {
                let labels = topology.labels(node).expect("topology ids are 1..=N");
                let mut route = client_route(topology, dc, labels, &index);
                route.across = (d as u16 != dc_of(node)).then(|| (d as u16, dc_of(node)));
                client_routes.push(route);
            }
        }
        let wan = wan(topology, &datacenters, &index);
        let count = elements.len();
        Network {
            nodes,
            elements,
            routes,
            client_routes,
            datacenters,
            failed: vec![0; count],
            element_loss: vec![Vec::new(); count],
            pristine: true,
            global_loss: Vec::new(),
            cut: BTreeMap::new(),
            corruption: Vec::new(),
            corrupt_frames_caught: 0,
            wan,
        }
    }

    /// The delay of a message of `bytes` from node `from` to node `to`, or `None` if it is lost.
    pub fn node_to_node(
        &mut self,
        from: usize,
        to: usize,
        bytes: u64,
        rng: &mut SimRng,
    ) -> Option<u64> {
        if self.cut.contains_key(&(from, to)) {
            return None;
        }
        let delay = self.travel(&self.routes[from * self.nodes + to], bytes, rng)?;
        (!self.corrupted(rng)).then_some(delay)
    }

    /// The delay between a client in datacenter `dc` and node `node` (either way), or `None`.
    pub fn client_to_node(&mut self, dc: usize, node: usize, rng: &mut SimRng) -> Option<u64> {
        let delay = self.travel(&self.client_routes[dc * self.nodes + node], 100, rng)?;
        (!self.corrupted(rng)).then_some(delay)
    }

    fn travel(&self, route: &Route, bytes: u64, rng: &mut SimRng) -> Option<u64> {
        let direct_wan = route
            .across
            .and_then(|(a, b)| self.wan.links[a as usize * self.wan.count + b as usize]);
        let mut detour = None;
        let walk: &[u16] = if self.pristine { &[] } else { &route.elements };
        for &element in walk {
            if self.failed[element as usize] > 0 {
                let (Some(wan), Some((a, b))) = (direct_wan, route.across) else {
                    return None;
                };
                if element != wan || detour.is_some() {
                    return None;
                }
                detour = Some(self.detour(a as usize, b as usize, rng)?);
                continue;
            }
            if self.lost_on(element, rng) {
                return None;
            }
        }
        for &chance in &self.global_loss {
            if rng.chance(chance) {
                return None;
            }
        }
        let jitter = if route.jitter_us == 0 {
            0
        } else {
            rng.exponential(route.jitter_us as f64) as u64
        };
        let base = match (detour, route.across) {
            // The direct leg's latency is replaced by the two legs through the relay.
            (Some(legs), Some((a, b))) => (route.base_us + legs)
                .saturating_sub(self.wan.latency[a as usize * self.wan.count + b as usize].0),
            _ => route.base_us,
        };
        Some(base + jitter + bytes / route.bytes_per_us)
    }

    fn lost_on(&self, element: u16, rng: &mut SimRng) -> bool {
        self.element_loss[element as usize]
            .iter()
            .any(|&chance| rng.chance(chance))
    }

    /// The two legs' latency through the first datacenter whose core and links to both ends
    /// are up, or `None` (lost) if there is none or the message is lost on the way.
    fn detour(&self, a: usize, b: usize, rng: &mut SimRng) -> Option<u64> {
        let count = self.wan.count;
        let relay = self.relay(a, b)?;
        for element in [
            self.wan.links[a * count + relay],
            self.wan.cores[relay],
            self.wan.links[relay * count + b],
        ]
        .into_iter()
        .flatten()
        {
            if self.lost_on(element, rng) {
                return None;
            }
        }
        let (first, second) = (
            self.wan.latency[a * count + relay],
            self.wan.latency[relay * count + b],
        );
        let mut jitter = |scale: u64| {
            if scale == 0 {
                0
            } else {
                rng.exponential(scale as f64) as u64
            }
        };
        Some(first.0 + jitter(first.1) + second.0 + jitter(second.1))
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
        self.elements
            .iter()
            .position(|element| element.to_string() == name)
            .ok_or_else(|| {
                let known: Vec<String> = self
                    .elements
                    .iter()
                    .take(12)
                    .map(ToString::to_string)
                    .collect();
                format!(
                    "no element `{name}` in the topology (some that exist: {})",
                    known.join(", ")
                )
            })
    }

    pub fn element_name(&self, element: usize) -> String {
        self.elements[element].to_string()
    }

    pub fn set_failed(&mut self, element: usize, down: bool) {
        let count = &mut self.failed[element];
        *count = if down {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
        self.refresh_pristine();
    }

    fn refresh_pristine(&mut self) {
        self.pristine = self.failed.iter().all(|&count| count == 0)
            && self.element_loss.iter().all(Vec::is_empty)
            && self.global_loss.is_empty();
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
        self.refresh_pristine();
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
        *count = if cut {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
        if *count == 0 {
            self.cut.remove(&(from, to));
        }
    }

    /// The first datacenter that can relay between `a` and `b`: its core and its links to
    /// both are up.
    fn relay(&self, a: usize, b: usize) -> Option<usize> {
        let count = self.wan.count;
        let up = |element: Option<u16>| element.is_some_and(|e| self.failed[e as usize] == 0);
        (0..count).find(|&r| {
            r != a
                && r != b
                && up(self.wan.links[a * count + r])
                && up(self.wan.links[r * count + b])
                && up(self.wan.cores[r])
        })
    }

    /// Whether node `from` can currently send to node `to` at all (no failed element except
    /// a WAN link with a detour, no cut).
    pub fn connected(&self, from: usize, to: usize) -> bool {
        let route = &self.routes[from * self.nodes + to];
        let direct_wan = route
            .across
            .and_then(|(a, b)| self.wan.links[a as usize * self.wan.count + b as usize]);
        let detour = route
            .across
            .is_some_and(|(a, b)| self.relay(a as usize, b as usize).is_some());
        !self.cut.contains_key(&(from, to))
            && route
                .elements
                .iter()
                .all(|&e| self.failed[e as usize] == 0 || (Some(e) == direct_wan && detour))
    }

    /// Clears every fault (the end of the run heals all).
    pub fn heal_all(&mut self) {
        self.failed.iter_mut().for_each(|count| *count = 0);
        self.element_loss.iter_mut().for_each(Vec::clear);
        self.global_loss.clear();
        self.cut.clear();
        self.corruption.clear();
        self.refresh_pristine();
    }

    /// Names of the failed elements.
    pub fn failed_elements(&self) -> Vec<&ElementId> {
        self.elements
            .iter()
            .zip(&self.failed)
            .filter(|(_, &count)| count > 0)
            .map(|(element, _)| element)
            .collect()
    }

    /// Elements with loss on them (for the report's topology).
    pub fn lossy_elements(&self) -> Vec<&ElementId> {
        self.elements
            .iter()
            .zip(&self.element_loss)
            .filter(|(_, loss)| !loss.is_empty())
            .map(|(element, _)| element)
            .collect()
    }
}

/// A client in `dc` reaches a node through its datacenter's core: down the node's pod uplink,
/// pod switch and ToR; over the WAN first if the node is in another datacenter.
fn client_route(
    topology: &Topology,
    dc: &str,
    labels: &NodeLabels,
    index: &BTreeMap<ElementId, u16>,
) -> Route {
    let mut path = vec![ElementId::Core { dc: dc.to_owned() }];
    let class = if labels.dc == dc {
        crate::topology::HopClass::CrossPod
    } else {
        path.push(ElementId::wan(dc, &labels.dc));
        path.push(ElementId::Core {
            dc: labels.dc.clone(),
        });
        let same_region =
            topology.region(dc).is_some() && topology.region(dc) == topology.region(&labels.dc);
        if same_region {
            crate::topology::HopClass::SameRegion
        } else {
            crate::topology::HopClass::CrossContinent
        }
    };
    path.push(ElementId::PodUplink {
        dc: labels.dc.clone(),
        pod: labels.pod.clone(),
    });
    path.push(ElementId::PodSwitch {
        dc: labels.dc.clone(),
        pod: labels.pod.clone(),
    });
    path.push(ElementId::Tor {
        dc: labels.dc.clone(),
        pod: labels.pod.clone(),
        rack: labels.rack.clone(),
    });
    let latency = topology.latency().for_class(class);
    Route {
        base_us: latency.mean_us,
        jitter_us: latency.jitter_us,
        bytes_per_us: (topology.bandwidth().host_nic / 1_000_000).max(1),
        elements: path
            .iter()
            .filter_map(|element| index.get(element).copied())
            .collect(),
        across: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_dcs() -> Network {
        let text = include_str!("../../../../scenarios/topologies/three-dc-15.toml");
        Network::new(&Topology::from_toml(text).expect("the shipped topology parses"))
    }

    // Goal: a cut WAN link is detoured through the third datacenter at the sum of the two
    // legs, a second cut isolates, and a failed ToR cuts its node but not its rack's peers'
    // other paths. Method: nodes 1 (dc_a, r0), 2 (dc_a, r1) and 11 (dc_c); no jitter draws
    // matter for the bounds checked.
    #[test]
    fn a_cut_wan_link_is_detoured_and_a_second_cut_isolates() {
        let mut net = three_dcs();
        let mut rng = SimRng::new(1);
        let direct = net.node_to_node(0, 10, 64, &mut rng).expect("delivered");
        assert!(
            (20_000..40_000).contains(&direct),
            "dc_a to dc_c takes about 20 ms one way, got {direct} us"
        );
        let wan_ac = net.element("wan:dc_a-dc_c").expect("exists");
        net.set_failed(wan_ac, true);
        assert!(net.connected(0, 10), "dc_b can relay");
        let detour = net
            .node_to_node(0, 10, 64, &mut rng)
            .expect("detoured through dc_b");
        assert!(
            (25_000..50_000).contains(&detour),
            "5 ms to dc_b plus 20 ms to dc_c, got {detour} us"
        );
        let wan_bc = net.element("wan:dc_b-dc_c").expect("exists");
        net.set_failed(wan_bc, true);
        assert!(!net.connected(0, 10));
        assert_eq!(
            net.node_to_node(0, 10, 64, &mut rng),
            None,
            "no relay left: dc_c is cut off from dc_a"
        );
        net.heal_all();
        let tor = net.element("tor:dc_a/p0/r0").expect("exists");
        net.set_failed(tor, true);
        assert_eq!(
            net.node_to_node(0, 1, 64, &mut rng),
            None,
            "node 1's ToR is down"
        );
        assert!(
            net.node_to_node(1, 10, 64, &mut rng).is_some(),
            "node 2 is under another ToR"
        );
    }
}
