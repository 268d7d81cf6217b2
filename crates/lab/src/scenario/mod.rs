//! Scenarios: the brief's faults staged in a simulated datacenter (topology with switches and
//! WAN links, nodes with CPUs and disks, clients with a deadline), run on the real Raft core
//! with the same checkers as the fuzzer, and measured as a user would: availability in nines,
//! latency, time to detect and recover, lost writes.
//!
//! - `spec`: the scenario file format; `network`: paths, latency, failures;
//! - `world`, `cpu`: what a scenario adds to the simulation; `load`: the clients;
//! - `faults`, `nodes`: carrying out faults, gray-failure handling;
//! - `measure`, `lost`: the figures; `run`: one scenario end to end, its checks and report.

pub mod cpu;
pub mod faults;
pub mod load;
pub mod lost;
pub mod measure;
pub mod network;
pub mod nodes;
mod report;
pub mod run;
pub mod spec;
pub mod world;

pub use run::{load_scenarios, run_scenario, RunSettings, ScenarioOutcome};
pub use spec::Scenario;

use crate::topology::Topology;

/// The topology as the placement policy sees it (node id = topology id), with each node's
/// state; nodes whose state is `None` are left out.
pub fn placement_topology(
    topology: &Topology,
    state: impl Fn(usize) -> Option<placement::NodeState>,
) -> placement::Topology {
    placement::Topology::new(topology.node_ids().filter_map(|id| {
        let labels = topology.labels(id)?;
        let state = state(id as usize - 1)?;
        Some(placement::NodeInfo {
            id,
            labels: placement::Labels::new(&labels.dc, &labels.pod, &labels.rack, &labels.host),
            state,
        })
    }))
}
