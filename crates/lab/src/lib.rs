//! The lab: a deterministic discrete-event simulator that runs the real Raft core on simulated
//! nodes, disks, clocks and networks, injects faults, records what clients saw, and checks it.
//!
//! Each simulated node hosts a replica of every Raft group placed on it (multi-raft), with one
//! log, one clock and one link per peer shared by its groups.
//!
//! A seed decides everything (topology size, fault rates, workload, timings), so a failing
//! seed reproduces bit for bit: `ninesdb lab replay --seed N` prints its event trace.

pub mod bench;
pub mod check;
mod client;
pub mod fuzz;
pub mod hosted;
pub mod kv;
pub mod layout;
mod nemesis;
pub mod net;
pub mod node;
pub mod options;
pub mod params;
mod queue;
mod repair;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod topology;

pub use fuzz::{fuzz, replay_text, reproduce_command, run_seed, FuzzSummary};
pub use options::{Bug, FaultSet, SimOptions};
pub use sim::{RunReport, Sim};
