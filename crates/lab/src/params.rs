//! The run's parameters drawn from its seed (swarm testing: each seed gets its own mix of
//! fault rates, sizes and settings, so that rare combinations are tried too).

use crate::options::{Bug, SimOptions};
use crate::rng::SimRng;

/// Microseconds per millisecond.
pub const MS: u64 = 1_000;

/// Everything about a run that the seed decides.
#[derive(Clone, Debug)]
pub struct Params {
    pub clients: usize,
    /// Clients that read every key after healing, in parallel (one per group, up to 8), so
    /// that many groups' keys are read back before the run's deadline.
    pub final_readers: usize,
    /// Keys `0..keys`; key `k` belongs to group `k % groups`.
    pub keys: u64,
    /// Voters each group starts with (3 or 5, or every node if fewer): the replica count the
    /// repair loop restores after a node loss.
    pub replication: usize,
    /// Each group's initial voters (node slots), from `layout::place`.
    pub layout: Vec<Vec<usize>>,
    pub drop_chance: f64,
    pub duplicate_chance: f64,
    /// Mean of the exponential part of a message's delay, in microseconds.
    pub delay_tail_mean: f64,
    /// Chance that a message is held up 10-100 ms (reordering it past many others).
    pub delay_spike_chance: f64,
    /// Disk write+fsync latency range, microseconds.
    pub disk_latency: (u64, u64),
    /// Mean time between nemesis actions, microseconds.
    pub nemesis_gap_mean: f64,
    /// How much the nemesis favours the leader as its target.
    pub target_leader_chance: f64,
    pub lease_reads: bool,
    pub append_entries_max: usize,
    pub snapshot_every: u64,
    pub snapshot_chunk_bytes: u64,
    pub client_timeout: u64,
    /// Clock rate of each node, in parts per thousand off nominal.
    pub clock_skew_permille: Vec<i64>,
    pub tick_micros: u64,
    /// Leader churn (Jepsen's `primaries` nemesis at a high rate): isolate or crash whoever
    /// leads, every few tens of milliseconds. Successive leaders then hold conflicting
    /// uncommitted entries: the situation of the Raft paper's Figure 8.
    pub leader_churn: bool,
    /// Size at which the log starts a new segment (small sizes exercise rotation and
    /// dropping segments).
    pub segment_bytes: u64,
}

impl Params {
    /// Draws the parameters for `options` from `rng`.
    pub fn draw(options: &SimOptions, rng: &mut SimRng) -> Params {
        let faults = options.faults;
        let replication = if options.nodes >= 5 && rng.chance(0.5) {
            5
        } else {
            options.nodes.min(3)
        };
        // More groups spread the same draw of keys and clients over more Raft groups: every
        // group gets a key or two (few keys: clients contend on them), and every fourth group
        // adds a client.
        let groups = options.groups;
        let net = faults.net;
        let leader_churn = (faults.partition || faults.crash) && rng.chance(0.25);
        Params {
            leader_churn,
            segment_bytes: [2_048, 16_384, 1 << 20][rng.range(0, 3) as usize],
            clients: rng.range(2, 7) as usize + groups / 4,
            keys: rng.range(1, 6) + groups as u64 - 1,
            final_readers: groups.min(8),
            replication,
            layout: crate::layout::place(options.nodes, groups, replication),
            drop_chance: if net {
                [0.0, 0.01, 0.05, 0.15][rng.range(0, 4) as usize]
            } else {
                0.0
            },
            duplicate_chance: if net {
                [0.0, 0.01, 0.05][rng.range(0, 3) as usize]
            } else {
                0.0
            },
            delay_tail_mean: if net {
                [100.0, 1_000.0, 5_000.0][rng.range(0, 3) as usize]
            } else {
                100.0
            },
            delay_spike_chance: if net {
                [0.0, 0.01, 0.05][rng.range(0, 3) as usize]
            } else {
                0.0
            },
            disk_latency: [(100, 500), (500, 3_000), (2_000, 20_000)][rng.range(0, 3) as usize],
            nemesis_gap_mean: if leader_churn {
                40.0 * MS as f64
            } else {
                [200.0, 500.0, 1_500.0][rng.range(0, 3) as usize] * MS as f64
            },
            target_leader_chance: [0.2, 0.5, 0.9][rng.range(0, 3) as usize],
            lease_reads: options.bug == Some(Bug::SkipCheckQuorum) || rng.chance(0.5),
            append_entries_max: if leader_churn {
                1
            } else {
                [1, 4, 64, 4096][rng.range(0, 4) as usize]
            },
            snapshot_every: [8, 64, 1_000_000][rng.range(0, 3) as usize],
            snapshot_chunk_bytes: [16, 256, 1 << 20][rng.range(0, 3) as usize],
            client_timeout: rng.range(200, 1_000) * MS,
            clock_skew_permille: (0..options.nodes)
                .map(|_| {
                    if faults.clock {
                        rng.range(0, 61) as i64 - 30
                    } else {
                        0
                    }
                })
                .collect(),
            tick_micros: 10 * MS,
        }
    }
}
