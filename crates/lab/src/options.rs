//! What one simulated run is asked to do: seed, size, fault classes, deliberate bug.

use std::fmt;
use std::str::FromStr;

/// Fault classes the nemesis may use in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FaultSet {
    /// Message delay spread, loss, duplication and reordering.
    pub net: bool,
    /// Partitions: random halves, isolated leader, bridge, one-way.
    pub partition: bool,
    /// Crash and restart (unwritten state is lost).
    pub crash: bool,
    /// Stop-the-world pauses.
    pub pause: bool,
    /// Membership changes and leadership transfers while faults happen.
    pub membership: bool,
    /// Clock rates that differ between nodes (within the configured drift bound).
    pub clock: bool,
    /// Disk faults: an operator wipes a node's data; (with the storage engine) bit flips at
    /// rest, torn writes, a full disk.
    pub disk: bool,
    /// A node is lost for good (its disk destroyed, it never returns); after `down-after` the
    /// repair loop rebuilds its replicas on other nodes.
    pub node_loss: bool,
}

impl FaultSet {
    /// Every class.
    pub const ALL: FaultSet = FaultSet {
        net: true,
        partition: true,
        crash: true,
        pause: true,
        membership: true,
        clock: true,
        disk: true,
        node_loss: true,
    };
    const NAMES: [&'static str; 8] = [
        "net",
        "partition",
        "crash",
        "pause",
        "membership",
        "clock",
        "disk",
        "node-loss",
    ];

    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "net" => &mut self.net,
            "partition" => &mut self.partition,
            "crash" => &mut self.crash,
            "pause" => &mut self.pause,
            "membership" => &mut self.membership,
            "clock" => &mut self.clock,
            "disk" => &mut self.disk,
            "node-loss" => &mut self.node_loss,
            _ => return None,
        })
    }
}

impl FromStr for FaultSet {
    type Err = String;

    /// `all`, `none`, or a comma-separated list of class names.
    fn from_str(text: &str) -> Result<FaultSet, String> {
        match text {
            "all" => return Ok(FaultSet::ALL),
            "none" => return Ok(FaultSet::default()),
            _ => {}
        }
        let mut set = FaultSet::default();
        for name in text.split(',').map(str::trim) {
            let flag = set.flag(name).ok_or_else(|| {
                format!(
                    "unknown fault class '{name}'; use all, none, or a list of: {}",
                    FaultSet::NAMES.join(", ")
                )
            })?;
            *flag = true;
        }
        Ok(set)
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == FaultSet::ALL {
            return write!(f, "all");
        }
        let mut copy = *self;
        let names: Vec<&str> = FaultSet::NAMES
            .into_iter()
            .filter(|name| copy.flag(name).is_some_and(|on| *on))
            .collect();
        if names.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", names.join(","))
        }
    }
}

/// Deliberate defects, each of which the checkers must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Commit an entry of an earlier term by counting replicas (Raft §5.4.2).
    CommitOldTerm,
    /// Do not persist the vote: a restarted node can vote twice in one term.
    ForgetVote,
    /// Serve reads from any node's local state, without ReadIndex.
    StaleReads,
    /// Skip check-quorum: a cut-off leader keeps leading and keeps its read lease.
    SkipCheckQuorum,
    /// Acknowledge appends before they are persisted.
    AckBeforePersist,
}

impl Bug {
    /// Every bug, for tests.
    pub const ALL: [Bug; 5] = [
        Bug::CommitOldTerm,
        Bug::ForgetVote,
        Bug::StaleReads,
        Bug::SkipCheckQuorum,
        Bug::AckBeforePersist,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bug::CommitOldTerm => "commit-old-term",
            Bug::ForgetVote => "forget-vote",
            Bug::StaleReads => "stale-reads",
            Bug::SkipCheckQuorum => "skip-check-quorum",
            Bug::AckBeforePersist => "ack-before-persist",
        }
    }
}

impl FromStr for Bug {
    type Err = String;

    fn from_str(text: &str) -> Result<Bug, String> {
        Bug::ALL
            .into_iter()
            .find(|bug| bug.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                format!("unknown bug '{text}'; known: {}", names.join(", "))
            })
    }
}

/// Most groups in one run: each costs a replica per placed node, a tick on each of them and
/// its share of the checkers.
pub const GROUPS_MAX: usize = 1024;

/// One run's settings. Everything else (clients, rates, timings) is drawn from the seed.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The seed: the same options give the same run, bit for bit.
    pub seed: u64,
    /// Nodes in the cluster. Each group starts with 3 or 5 voters (or all nodes if fewer),
    /// placed by `layout::place`.
    pub nodes: usize,
    /// Raft groups (keys map to groups by `key % groups`); every node hosts the replicas of
    /// the groups placed on it and shares one log, one clock and one link per peer among them.
    pub groups: usize,
    /// Fault classes to draw from.
    pub faults: FaultSet,
    /// A deliberate defect to switch on.
    pub bug: Option<Bug>,
    /// Simulated milliseconds of clients and faults before everything heals.
    pub duration_ms: u64,
    /// Record a trace line per event.
    pub trace: bool,
}

impl SimOptions {
    /// Defaults for `seed`.
    pub fn new(seed: u64) -> SimOptions {
        SimOptions {
            seed,
            nodes: 5,
            groups: 1,
            faults: FaultSet::ALL,
            bug: None,
            duration_ms: 10_000,
            trace: false,
        }
    }

    /// Checks the settings make a run.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=raft::REPLICAS_MAX).contains(&self.nodes) {
            return Err(format!(
                "--nodes must be between 1 and {}, got {}",
                raft::REPLICAS_MAX,
                self.nodes
            ));
        }
        if !(1..=GROUPS_MAX).contains(&self.groups) {
            return Err(format!(
                "--groups must be between 1 and {GROUPS_MAX}, got {}",
                self.groups
            ));
        }
        if self.duration_ms == 0 || self.duration_ms > 3_600_000 {
            return Err(format!(
                "--duration-ms must be between 1 and 3600000, got {}",
                self.duration_ms
            ));
        }
        Ok(())
    }
}
