//! `ninesdb lab bench-core`: the Raft core's raw speed with an instant in-memory network and
//! instant persistence, and the simulator's speed in events per wall second.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use raft::{Config, Membership, Message, Replica, RestoreState, Role};

use crate::options::SimOptions;

/// What the core benchmark measured.
#[derive(Debug)]
pub struct CoreBenchResult {
    pub entries_committed: u64,
    pub seconds: f64,
}

impl CoreBenchResult {
    pub fn entries_per_second(&self) -> f64 {
        self.entries_committed as f64 / self.seconds
    }
}

/// Commits `entries_target` 64-byte commands in batches of `batch` through three voters.
pub fn core_throughput(entries_target: u64, batch: usize) -> CoreBenchResult {
    let mut replicas: Vec<Replica> = (1..=3)
        .map(|id| {
            let mut config = Config::new(id);
            config.inflight_appends_max = 256;
            let restore = RestoreState {
                initial_membership: Membership::with_voters([1, 2, 3]),
                ..RestoreState::default()
            };
            Replica::new(config, restore).expect("valid config")
        })
        .collect();
    let mut wire: VecDeque<Message> = VecDeque::new();
    while replicas[0].role() != Role::Leader {
        replicas[0].tick();
        drive(&mut replicas, &mut wire);
    }
    let command = Bytes::from(vec![7u8; 64]);
    let start_commit = replicas[0].commit_index();
    let started = Instant::now();
    while replicas[0].commit_index() - start_commit < entries_target {
        // Keep a few batches in flight, as a loaded leader would.
        if replicas[0].last_index() - replicas[0].commit_index() < 4 * batch as u64 {
            let _ = replicas[0].propose(vec![command.clone(); batch]);
        }
        drive(&mut replicas, &mut wire);
    }
    CoreBenchResult {
        entries_committed: replicas[0].commit_index() - start_commit,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// One round: every replica's Ready is persisted and applied at once; messages delivered.
fn drive(replicas: &mut [Replica], wire: &mut VecDeque<Message>) {
    for replica in replicas.iter_mut() {
        while let Some(ready) = replica.ready() {
            wire.extend(ready.messages);
            wire.extend(ready.messages_after_persist);
            replica.advance(ready.persisted);
        }
    }
    while let Some(message) = wire.pop_front() {
        let to = (message.to - 1) as usize;
        let _ = replicas[to].step(message);
    }
}

/// What the simulator benchmark measured over some default seeds.
#[derive(Debug, Default)]
pub struct SimBenchResult {
    pub events: u64,
    /// Wall seconds in the event loop (the simulation proper).
    pub simulate_seconds: f64,
    /// Wall seconds in the checks after each run (linearizability, convergence, logs).
    pub check_seconds: f64,
}

/// Runs `seeds` default runs, timing the event loop and the final checks apart.
pub fn simulator_speed(seeds: u64) -> Result<SimBenchResult, String> {
    let mut result = SimBenchResult::default();
    for seed in 0..seeds {
        let mut sim = crate::Sim::new(SimOptions::new(seed))?;
        let started = Instant::now();
        result.events += sim.simulate();
        result.simulate_seconds += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let report = sim.finish();
        result.check_seconds += started.elapsed().as_secs_f64();
        if !report.violations.is_empty() {
            return Err(format!("seed {seed} failed: {}", report.violations[0]));
        }
    }
    Ok(result)
}
