//! Carrying out a scenario's faults: each `[[fault]]` starts at `at_s` (step 0), may act in
//! several steps (random crashes, a rolling restart, a series of pauses), and ends after
//! `for_s` (undone, except what cannot be: a destroyed node stays destroyed).

use raft::Role;

use crate::params::MS;
use crate::scenario::load::Stream;
use crate::scenario::measure::FaultRecord;
use crate::scenario::spec::{FaultKind, FaultSpec};
use crate::scenario::world::FaultTargets;
use crate::sim::{Event, Sim};

/// The step number that ends a fault.
pub const END: u32 = u32::MAX;

/// One part of a node selector (see `FaultSpec::target`).
enum Selector<'a> {
    All,
    /// The node leading the most groups when the fault strikes.
    Leader,
    Random,
    /// A node slot.
    Node(usize),
    /// `dc`, `dc/pod`, `dc/pod/rack` or `dc/pod/rack/host`.
    Place(&'a str),
}

impl<'a> Selector<'a> {
    /// Parses one part, for a cluster of `nodes` nodes.
    fn parse(part: &'a str, nodes: usize) -> Result<Selector<'a>, String> {
        match part.split_once(':') {
            None if part == "all" => Ok(Selector::All),
            None if part == "leader" => Ok(Selector::Leader),
            None if part == "random" => Ok(Selector::Random),
            Some(("node", id)) => match id.parse::<usize>() {
                Ok(id) if (1..=nodes).contains(&id) => Ok(Selector::Node(id - 1)),
                _ => Err(format!("`{part}`: nodes are node:1 to node:{nodes}")),
            },
            Some(("dc" | "pod" | "rack" | "host", place)) => Ok(Selector::Place(place)),
            _ => Err(format!("unknown node selector `{part}` (node:N, leader, random, all, dc:, pod:, rack:, host:)")),
        }
    }
}

/// The comma-separated parts of a selector.
fn selector_parts(selector: &str) -> impl Iterator<Item = &str> {
    selector
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
}

/// The nodes under a ToR, pod switch, pod uplink or core switch (none for a WAN link).
fn nodes_behind(topology: &crate::topology::Topology, element: &str) -> Vec<usize> {
    let Some((kind, place)) = element.split_once(':') else {
        return Vec::new();
    };
    match kind {
        "tor" | "pod" | "uplink" | "core" => topology
            .nodes_in(place)
            .map(|ids| ids.into_iter().map(|id| id as usize - 1).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn micros(seconds: f64) -> u64 {
    (seconds * 1e6) as u64
}

impl Sim {
    fn world_fault(&self, index: usize) -> FaultSpec {
        self.world.as_ref().expect("scenario mode").scenario.faults[index].clone()
    }

    /// Schedules every fault's start (called once, at time 0).
    pub(crate) fn schedule_faults(&mut self) {
        let count = self.world.as_ref().map_or(0, |w| w.scenario.faults.len());
        for index in 0..count {
            let fault = self.world_fault(index);
            self.schedule(micros(fault.at_s), Event::Fault { index, step: 0 });
        }
    }

    pub(crate) fn on_fault(&mut self, index: usize, step: u32) {
        if self.phase != crate::sim::Phase::Faults {
            return;
        }
        let fault = self.world_fault(index);
        if step == END {
            self.end_fault(index, &fault);
            return;
        }
        if step == 0 {
            if let Err(error) = self.start_fault(index, &fault) {
                self.observer.violation(format!(
                    "scenario fault {} ({:?}) could not start: {error}",
                    index + 1,
                    fault.kind
                ));
                return;
            }
            if let Some(length) = fault.for_s {
                self.schedule(micros(length), Event::Fault { index, step: END });
            }
            return;
        }
        self.fault_step(index, &fault, step);
    }

    fn start_fault(&mut self, index: usize, fault: &FaultSpec) -> Result<(), String> {
        let leaders_before: Vec<Option<usize>> = (0..self.options.groups)
            .map(|g| self.leader_index(g))
            .collect();
        let (nodes, label) = match fault.kind {
            FaultKind::CrashRandom | FaultKind::RollingRestart => {
                self.schedule_steps(index, fault)?
            }
            FaultKind::Pause if fault.count > 0 && fault.down_s.is_some() => {
                self.schedule_steps(index, fault)?
            }
            FaultKind::Fail | FaultKind::Loss | FaultKind::BitflipWire => {
                self.start_network_fault(index, fault)?
            }
            FaultKind::Partition | FaultKind::OneWay => self.start_partition(index, fault)?,
            FaultKind::Overload => self.start_overload(index, fault)?,
            _ => self.start_node_fault(fault)?,
        };
        let label =
            label.unwrap_or_else(|| format!("{:?} {}", fault.kind, fault.target).to_lowercase());
        let now = self.now;
        let groups_led = (0..self.options.groups)
            .filter(|&g| leaders_before[g].is_some_and(|l| nodes.contains(&l)))
            .collect();
        let world = self.world.as_mut().expect("scenario mode");
        world.fault_targets[index].nodes = nodes.clone();
        world.fault_targets[index].started = true;
        world.record.faults.push(FaultRecord {
            start: now,
            end: None,
            label,
            nodes,
            groups_led,
        });
        if world.record.snapshot_at.is_none() {
            let length = fault
                .for_s
                .map_or(1_000 * MS, |s| micros(s / 2.0).min(2_000 * MS));
            world.record.snapshot_at = Some(now + length.max(MS));
        }
        Ok(())
    }

    /// Faults that act on nodes at once: the nodes struck and, if the default will not do,
    /// the fault's label.
    fn start_node_fault(
        &mut self,
        fault: &FaultSpec,
    ) -> Result<(Vec<usize>, Option<String>), String> {
        let nodes = self.resolve_nodes(&fault.target)?;
        let mut label = None;
        match fault.kind {
            FaultKind::Crash => nodes.iter().for_each(|&node| self.crash_node(node)),
            FaultKind::Destroy => {
                self.destroy_nodes(&nodes);
                if let Some(dc) = fault.target.strip_prefix("dc:") {
                    let world = self.world.as_mut().expect("scenario mode");
                    if let Some(dc) = world.net.datacenters.iter().position(|d| d == dc) {
                        world.load.kill_dc(dc);
                    }
                }
            }
            FaultKind::Pause => {
                let length = micros(fault.for_s.or(fault.down_s).unwrap_or(1.0));
                for &node in &nodes {
                    self.nodes[node].paused_until = self.now + length;
                }
            }
            FaultKind::Throttle | FaultKind::SlowDisk => {
                let world = self.world.as_mut().expect("scenario mode");
                let throttle = fault.kind == FaultKind::Throttle;
                for &node in &nodes {
                    if throttle {
                        world.cpu[node].factor = fault.factor;
                    } else {
                        world.disk_factor[node] = fault.factor;
                    }
                }
                label = Some(format!(
                    "{} {}x slower: {}",
                    if throttle { "CPU" } else { "disk" },
                    fault.factor,
                    fault.target
                ));
            }
            FaultKind::Wipe => nodes.iter().for_each(|&node| self.wipe_node(node)),
            FaultKind::Remove => nodes.iter().for_each(|&node| self.decommission(node)),
            FaultKind::BitflipDisk => {
                for &node in &nodes {
                    self.flip_bits_at_rest(node, fault.count);
                }
                label = Some(format!(
                    "{} bits flipped at rest on {}",
                    fault.count, fault.target
                ));
            }
            FaultKind::ClockSkew => {
                let nominal = self.world.as_ref().expect("scenario mode").tick_nominal();
                for &node in &nodes {
                    self.nodes[node].tick_micros = ((nominal as f64 / fault.factor) as u64).max(1);
                }
                label = Some(format!("clock of {} at {}x", fault.target, fault.factor));
            }
            _ => return Err(format!("{:?} is not a node fault", fault.kind)),
        }
        Ok((nodes, label))
    }

    /// `count` bits flipped in a node's files at rest; the node restarts soon after (a crash,
    /// a deploy) and meets the damage in recovery.
    fn flip_bits_at_rest(&mut self, node: usize, count: u32) {
        let mut flipped = 0;
        for _ in 0..count {
            let prefix = if self.rng.chance(0.5) {
                "wal/"
            } else {
                "snap/"
            };
            if let Some((file, at)) = self.nodes[node]
                .disk_mut()
                .and_then(|d| d.flip_bit_at_rest(prefix, true))
            {
                self.trace_note(format!("bit flip on n{} in {file} at byte {at}", node + 1));
                flipped += 1;
            }
        }
        self.disk_stats.bit_flips += flipped;
        self.crash_node(node);
        self.schedule(500 * MS, Event::Restart { node });
    }

    /// Faults made of steps over their window: random crashes, a rolling restart, a series of
    /// pauses (see `fault_step`).
    fn schedule_steps(
        &mut self,
        index: usize,
        fault: &FaultSpec,
    ) -> Result<(Vec<usize>, Option<String>), String> {
        let window = micros(fault.for_s.unwrap_or(10.0));
        if fault.kind == FaultKind::Pause {
            for step in 0..fault.count {
                self.schedule(
                    window * u64::from(step) / u64::from(fault.count),
                    Event::Fault {
                        index,
                        step: step + 1,
                    },
                );
            }
            return Ok((
                Vec::new(),
                Some(format!(
                    "{} pauses of {} s on {}",
                    fault.count,
                    fault.down_s.unwrap_or_default(),
                    fault.target
                )),
            ));
        }
        let nodes = self.resolve_nodes(&fault.target)?;
        let rolling = fault.kind == FaultKind::RollingRestart;
        let count = if rolling {
            nodes.len() as u32
        } else {
            fault.count.max(1)
        };
        for step in 0..count {
            let at = if rolling {
                window * u64::from(step) / u64::from(count)
            } else {
                self.rng.range(0, window)
            };
            self.schedule(
                at,
                Event::Fault {
                    index,
                    step: 2 * step + 1,
                },
            );
        }
        Ok((nodes, None))
    }

    /// Switches or links down, or loss or corruption on their paths (or everywhere).
    fn start_network_fault(
        &mut self,
        index: usize,
        fault: &FaultSpec,
    ) -> Result<(Vec<usize>, Option<String>), String> {
        let world = self.world.as_mut().expect("scenario mode");
        let everywhere = fault.target.is_empty() || fault.target == "all";
        let elements = if everywhere {
            vec![]
        } else {
            fault
                .target
                .split(',')
                .map(|name| world.net.element(name.trim()))
                .collect::<Result<Vec<_>, _>>()?
        };
        match fault.kind {
            FaultKind::Fail => elements.iter().for_each(|&e| world.net.set_failed(e, true)),
            FaultKind::BitflipWire => world.net.set_corruption(fault.chance, true),
            _ if elements.is_empty() => world.net.set_loss(None, fault.chance, true),
            _ => elements
                .iter()
                .for_each(|&e| world.net.set_loss(Some(e), fault.chance, true)),
        }
        // The nodes behind a failed or lossy switch are the ones it strikes.
        let mut nodes: Vec<usize> = elements
            .iter()
            .flat_map(|&e| nodes_behind(&world.topology, &world.net.element_name(e)))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let label = (fault.kind != FaultKind::Fail).then(|| {
            format!(
                "{:?} {}% on {}",
                fault.kind,
                fault.chance * 100.0,
                if everywhere { "all" } else { &fault.target }
            )
            .to_lowercase()
        });
        world.fault_targets[index].elements = elements;
        Ok((nodes, label))
    }

    /// `A | B` (both ways) or `A > B` (one way): every pair across is cut. The smaller side is
    /// the one struck.
    fn start_partition(
        &mut self,
        index: usize,
        fault: &FaultSpec,
    ) -> Result<(Vec<usize>, Option<String>), String> {
        let separator = if fault.kind == FaultKind::Partition {
            '|'
        } else {
            '>'
        };
        let (left, right) = fault.target.split_once(separator).ok_or_else(|| {
            format!(
                "target `{}` needs two sides separated by `{separator}`",
                fault.target
            )
        })?;
        let (left, right) = (self.resolve_side(left)?, self.resolve_side(right)?);
        let mut cuts = Vec::new();
        for &a in &left {
            for &b in &right {
                cuts.push((a, b));
                if fault.kind == FaultKind::Partition {
                    cuts.push((b, a));
                }
            }
        }
        let world = self.world.as_mut().expect("scenario mode");
        for &(a, b) in &cuts {
            world.net.set_cut(a, b, true);
        }
        world.fault_targets[index].cuts = cuts;
        Ok((
            if right.len() < left.len() {
                right
            } else {
                left
            },
            None,
        ))
    }

    /// A load balancer's bug: a new client stream sends `factor` times the node's share of
    /// the traffic to one node.
    fn start_overload(
        &mut self,
        index: usize,
        fault: &FaultSpec,
    ) -> Result<(Vec<usize>, Option<String>), String> {
        let nodes = self.resolve_nodes(&fault.target)?;
        let node = *nodes.first().ok_or("no node to overload")?;
        let now = self.now;
        let world = self.world.as_mut().expect("scenario mode");
        let share = world.scenario.workload.rate / world.node_dc.len() as f64;
        let dc = world.node_dc[node];
        world.load.streams.push(Stream {
            dc,
            gap_mean: 1e6 / (share * fault.factor),
            pinned: Some(node),
            active: true,
            next_at: now,
            closed: false,
        });
        let stream = world.load.streams.len() - 1;
        world.fault_targets[index].stream = Some(stream);
        self.schedule(1, Event::Arrival { stream });
        Ok((
            nodes,
            Some(format!("{}x traffic to {}", fault.factor, fault.target)),
        ))
    }

    /// Later steps: odd steps of crash-random / rolling-restart crash a node, even ones restart
    /// it; steps of a pause series pause the target then.
    fn fault_step(&mut self, index: usize, fault: &FaultSpec, step: u32) {
        let down = micros(fault.down_s.unwrap_or(1.0));
        match fault.kind {
            FaultKind::Pause => {
                let Ok(nodes) = self.resolve_nodes(&fault.target) else {
                    return;
                };
                for node in nodes {
                    self.nodes[node].paused_until = self.now + down;
                    self.trace_note(format!("pause n{} for {} ms", node + 1, down / MS));
                }
            }
            FaultKind::RollingRestart => {
                let nodes = self.world.as_ref().expect("scenario mode").fault_targets[index]
                    .nodes
                    .clone();
                let k = ((step - 1) / 2) as usize;
                let Some(&node) = nodes.get(k) else { return };
                if step % 2 == 1 {
                    self.crash_node(node);
                    self.schedule(
                        down,
                        Event::Fault {
                            index,
                            step: step + 1,
                        },
                    );
                } else {
                    self.on_restart(node);
                }
            }
            FaultKind::CrashRandom if step % 2 == 1 => {
                let nodes = self.world.as_ref().expect("scenario mode").fault_targets[index]
                    .nodes
                    .clone();
                let up: Vec<usize> = nodes
                    .into_iter()
                    .filter(|&n| self.nodes[n].is_up())
                    .collect();
                let Some(&node) = self.rng.pick(&up) else {
                    return;
                };
                self.crash_node(node);
                self.schedule(down, Event::Restart { node });
            }
            _ => {}
        }
    }

    fn end_fault(&mut self, index: usize, fault: &FaultSpec) {
        let world = self.world.as_mut().expect("scenario mode");
        let targets = std::mem::take(&mut world.fault_targets[index]);
        if !targets.started || targets.ended {
            return;
        }
        world.fault_targets[index] = FaultTargets {
            ended: true,
            ..targets.clone()
        };
        match fault.kind {
            FaultKind::Crash | FaultKind::Wipe => {
                for &node in &targets.nodes {
                    self.on_restart(node);
                }
            }
            FaultKind::Throttle => targets
                .nodes
                .iter()
                .for_each(|&n| world.cpu[n].factor = 1.0),
            FaultKind::SlowDisk => targets
                .nodes
                .iter()
                .for_each(|&n| world.disk_factor[n] = 1.0),
            FaultKind::Fail => targets
                .elements
                .iter()
                .for_each(|&e| world.net.set_failed(e, false)),
            FaultKind::Loss if targets.elements.is_empty() => {
                world.net.set_loss(None, fault.chance, false)
            }
            FaultKind::Loss => targets
                .elements
                .iter()
                .for_each(|&e| world.net.set_loss(Some(e), fault.chance, false)),
            FaultKind::BitflipWire => world.net.set_corruption(fault.chance, false),
            FaultKind::Partition | FaultKind::OneWay => targets
                .cuts
                .iter()
                .for_each(|&(a, b)| world.net.set_cut(a, b, false)),
            FaultKind::Overload => {
                if let Some(stream) = targets.stream {
                    world.load.streams[stream].active = false;
                }
            }
            FaultKind::Pause => targets
                .nodes
                .iter()
                .for_each(|&n| self.nodes[n].paused_until = 0),
            FaultKind::ClockSkew => {
                let nominal = world.tick_nominal();
                targets
                    .nodes
                    .iter()
                    .for_each(|&n| self.nodes[n].tick_micros = nominal);
            }
            FaultKind::Destroy
            | FaultKind::Remove
            | FaultKind::BitflipDisk
            | FaultKind::CrashRandom
            | FaultKind::RollingRestart => {}
        }
        let now = self.now;
        let world = self.world.as_mut().expect("scenario mode");
        if let Some(record) = world
            .record
            .faults
            .iter_mut()
            .rev()
            .find(|r| r.end.is_none() && r.nodes == targets.nodes)
        {
            record.end = Some(now);
        }
    }

    /// Ends every fault still active (the run's end heals the network, CPUs, disks, clocks).
    pub(crate) fn end_all_faults(&mut self) {
        let count = self.world.as_ref().map_or(0, |w| w.scenario.faults.len());
        for index in 0..count {
            let fault = self.world_fault(index);
            self.end_fault(index, &fault);
        }
        let now = self.now;
        if let Some(world) = self.world.as_mut() {
            world.net.heal_all();
            for record in &mut world.record.faults {
                record.end.get_or_insert(now);
            }
        }
    }

    /// Checks every fault's target against the topology before the run, so that a typo is an
    /// error up front (`leader` and `random` are resolved when the fault strikes).
    pub(crate) fn validate_targets(&self) -> Result<(), String> {
        let world = self.world.as_ref().expect("scenario mode");
        let nodes = |selector: &str| -> Result<(), String> {
            for part in selector_parts(selector) {
                if let Selector::Place(place) = Selector::parse(part, self.nodes.len())? {
                    world.topology.nodes_in(place)?;
                }
            }
            Ok(())
        };
        for (index, fault) in world.scenario.faults.iter().enumerate() {
            let target = fault.target.as_str();
            let checked = match fault.kind {
                FaultKind::Fail | FaultKind::Loss | FaultKind::BitflipWire
                    if target.is_empty() || target == "all" =>
                {
                    Ok(())
                }
                FaultKind::Fail | FaultKind::Loss | FaultKind::BitflipWire => target
                    .split(',')
                    .try_for_each(|name| world.net.element(name.trim()).map(|_| ())),
                FaultKind::Partition | FaultKind::OneWay => {
                    let separator = if fault.kind == FaultKind::Partition {
                        '|'
                    } else {
                        '>'
                    };
                    match target.split_once(separator) {
                        Some((left, right)) => nodes(left).and_then(|()| nodes(right)),
                        None => Err(format!(
                            "target `{target}` needs two sides separated by `{separator}`"
                        )),
                    }
                }
                _ => nodes(target),
            };
            checked.map_err(|error| format!("fault {} ({:?}): {error}", index + 1, fault.kind))?;
        }
        Ok(())
    }

    /// Node slots a selector names: `node:N`, `leader`, `random`, `all`, `dc:X`,
    /// `pod:X/P`, `rack:X/P/R`, `host:X/P/R/H`, or several separated by commas.
    pub(crate) fn resolve_nodes(&mut self, selector: &str) -> Result<Vec<usize>, String> {
        let mut nodes = Vec::new();
        for part in selector_parts(selector) {
            match Selector::parse(part, self.nodes.len())? {
                Selector::All => nodes.extend(0..self.nodes.len()),
                Selector::Leader => {
                    nodes.push(self.busiest_leader().ok_or("no node leads a group now")?)
                }
                Selector::Random => {
                    let up: Vec<usize> = (0..self.nodes.len())
                        .filter(|&i| self.nodes[i].is_up() && !self.nodes[i].lost)
                        .collect();
                    nodes.push(*self.rng.pick(&up).ok_or("no node is up")?);
                }
                Selector::Node(slot) => nodes.push(slot),
                Selector::Place(place) => {
                    let world = self.world.as_ref().expect("scenario mode");
                    nodes.extend(
                        world
                            .topology
                            .nodes_in(place)?
                            .into_iter()
                            .map(|id| id as usize - 1),
                    );
                }
            }
        }
        nodes.sort_unstable();
        nodes.dedup();
        Ok(nodes)
    }

    fn resolve_side(&mut self, side: &str) -> Result<Vec<usize>, String> {
        let nodes = self.resolve_nodes(side.trim())?;
        if nodes.is_empty() {
            return Err(format!("side `{side}` names no node"));
        }
        Ok(nodes)
    }

    /// The node that leads the most groups now.
    pub(crate) fn busiest_leader(&self) -> Option<usize> {
        let mut counts = vec![0usize; self.nodes.len()];
        for group in 0..self.options.groups {
            if let Some(node) = self.leader_index(group) {
                counts[node] += 1;
            }
        }
        let best = counts.iter().copied().max().filter(|&c| c > 0)?;
        counts.iter().position(|&c| c == best)
    }

    /// How many groups each node leads (a replica leading in the highest term seen).
    pub(crate) fn leader_counts(&self) -> Vec<u16> {
        let mut counts = vec![0u16; self.nodes.len()];
        for group in 0..self.options.groups {
            if let Some(node) = self.leader_index(group) {
                if self.nodes[node]
                    .replica(group)
                    .is_some_and(|r| r.role() == Role::Leader)
                {
                    counts[node] += 1;
                }
            }
        }
        counts
    }
}
