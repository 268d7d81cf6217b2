//! A scenario file: one fault of the brief, staged on a topology, with the load that watches
//! it and the outcome a correct system shows. Files live in `scenarios/*.toml`; the format is
//! described in `scenarios/README.md` and checked here (unknown fields are errors, so a typo
//! never silently drops a fault).

use serde::Deserialize;

/// Limits that bound a run's size whatever a file says.
pub const DURATION_MAX_S: f64 = 3_600.0;
pub const RATE_MAX: f64 = 200_000.0;
pub const KEYS_MAX: u64 = 1_000_000;
pub const FAULTS_MAX: usize = 1_000;

/// One scenario, as written in its file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, the file's stem by convention: `leader-crash`.
    pub name: String,
    /// What happens and what a correct store does, in a paragraph.
    pub description: String,
    /// The fault of `shared/BRIEF.md` this answers, in a few words.
    pub brief: String,
    /// Catalogue number in reliability-anchors.md section 4 (`S2`), if any.
    #[serde(default)]
    pub catalogue: Option<String>,
    /// Topology file, relative to `scenarios/` (`topologies/three-dc-15.toml`).
    pub topology: String,
    /// Simulated seconds of load and faults (faults still active at the end are healed, except
    /// permanent losses, then the final checks run).
    pub duration_s: f64,
    /// The duration of the short form the test suite runs (faults scaled to fit).
    #[serde(default)]
    pub short_duration_s: Option<f64>,
    #[serde(default)]
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Faults, in any order.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub expect: ExpectSpec,
    /// Sentences for the report's notes (why the outcome is what it is).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Also run with gray-failure handling off and report both p99s side by side.
    #[serde(default)]
    pub compare_gray_failure: bool,
}

/// `[cluster]`: how the store is set up.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSpec {
    /// Raft groups (shards).
    pub groups: usize,
    /// Voters per group.
    pub replication: usize,
    /// `spread` (the placement policy over every datacenter) or `one-dc:<name>` (every replica
    /// in one datacenter: the setup some deployments choose for latency).
    pub placement: String,
    /// The datacenter leaders should live in (near most clients), as the server's preferred
    /// leaders; none: spread over all.
    pub leader_dc: Option<String>,
    /// Gray-failure handling: a node far slower than its peers hands its leaderships away.
    pub gray_failure: bool,
    /// Leader lease reads (no quorum round per read; safe within the clock-drift bound).
    pub lease_reads: bool,
    /// Seconds a node must be gone before its replicas are rebuilt elsewhere.
    pub down_after_s: f64,
    /// Milliseconds per Raft tick (election timeout is 10-20 ticks).
    pub tick_ms: u64,
    /// Disk write+fsync latency range, microseconds (NVMe-class by default).
    pub disk_us: (u64, u64),
}

impl Default for ClusterSpec {
    fn default() -> ClusterSpec {
        ClusterSpec {
            groups: 16,
            replication: 3,
            placement: "spread".to_owned(),
            leader_dc: None,
            gray_failure: true,
            lease_reads: true,
            down_after_s: 10.0,
            tick_ms: 50,
            disk_us: (100, 600),
        }
    }
}

/// `[workload]`: the clients.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// Requests per second, open loop (arrivals do not wait for answers), over all clients.
    pub rate: f64,
    /// Closed loop instead: this many clients, each sending its next request as soon as the
    /// last one ended (answered or given up). 0: open loop at `rate`.
    pub concurrency: usize,
    /// Share of reads (GET); the rest are writes (SET, compare-and-set, DEL).
    pub reads: f64,
    /// Keys, chosen uniformly.
    pub keys: u64,
    /// A request not answered correctly within this many milliseconds counts as unavailable
    /// (the SLA deadline).
    pub deadline_ms: u64,
    /// One attempt waits this long before the client tries another node.
    pub attempt_timeout_ms: u64,
    /// Datacenters the clients live in (default: every one), load split evenly.
    pub client_dcs: Vec<String>,
}

impl Default for WorkloadSpec {
    fn default() -> WorkloadSpec {
        WorkloadSpec {
            rate: 2_000.0,
            concurrency: 0,
            reads: 0.5,
            keys: 2_000,
            deadline_ms: 1_000,
            attempt_timeout_ms: 300,
            client_dcs: Vec::new(),
        }
    }
}

/// One `[[fault]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Simulated second it begins.
    pub at_s: f64,
    /// How long it lasts; none: until the end of the run.
    #[serde(default)]
    pub for_s: Option<f64>,
    pub kind: FaultKind,
    /// What it hits. Nodes: `node:3`, `leader` (the node leading most groups when it strikes),
    /// `random`, `dc:<dc>`, `rack:<dc>/<pod>/<rack>`, `pod:<dc>/<pod>`, `all`. Network elements
    /// (for `fail`, `loss`): `tor:..`, `pod:..`, `uplink:..`, `core:<dc>`, `wan:<a>-<b>`, comma
    /// separated, or `all` for loss on every link. Partitions: `A | B` (and `A > B` for
    /// one-way), each side a comma-separated list of node selectors.
    #[serde(default)]
    pub target: String,
    /// `loss`: chance each message is lost; `bitflip-wire`: chance each message is corrupted.
    #[serde(default)]
    pub chance: f64,
    /// `throttle`, `slow-disk`: how many times slower; `overload`: times the node's fair share
    /// of traffic sent to it; `clock-skew`: the clock's rate (1.5 = 50% fast).
    #[serde(default)]
    pub factor: f64,
    /// `crash-random`, `rolling-restart`, `pause`: how many; `bitflip-disk`: bits flipped.
    #[serde(default)]
    pub count: u32,
    /// `crash-random`, `rolling-restart`: seconds each node stays down; `pause`: seconds each
    /// pause lasts (`for_s` is then the window the pauses fall in).
    #[serde(default)]
    pub down_s: Option<f64>,
}

/// What can go wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Processes killed; restarted when the fault ends (none: at the end of the run).
    Crash,
    /// Several nodes crash at random times in the window, each down `down_s`.
    CrashRandom,
    /// Every node of the target in turn: stop, `down_s` down, start, next.
    RollingRestart,
    /// Nodes destroyed with their disks: they never return (fire, flood).
    Destroy,
    /// Stop-the-world pauses (GC): `count` pauses of `down_s` in the window (or one for `for_s`).
    Pause,
    /// CPU `factor` times slower (thermal throttling).
    Throttle,
    /// Disk `factor` times slower (a failing drive).
    SlowDisk,
    /// Switches or links down.
    Fail,
    /// Messages on paths through the target lost with `chance`.
    Loss,
    /// Two sides cannot talk (both directions).
    Partition,
    /// Messages from the first side to the second are lost; the other way works.
    OneWay,
    /// A load balancer bug sends `factor` times a node's share of traffic to one node.
    Overload,
    /// An operator deletes a node's data directory; the node restarts empty.
    Wipe,
    /// An operator removes (decommissions) a node while another is down.
    Remove,
    /// Bits flipped at rest in a node's log segments; the node restarts and meets them.
    BitflipDisk,
    /// Messages corrupted on the wire with `chance`.
    BitflipWire,
    /// A node's clock runs at `factor` times the real rate.
    ClockSkew,
}

/// `[expect]`: the outcome a correct store shows. Every field given becomes a check.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpectSpec {
    /// Requests answered correctly within the deadline, percent, at least.
    pub availability_min: Option<f64>,
    /// Acknowledged writes lost, at most (default 0).
    pub lost_writes_max: Option<u64>,
    /// Acknowledged writes lost, at least: a scenario that shows loss honestly.
    pub lost_writes_min: Option<u64>,
    /// The history must be linearizable (default true).
    pub linearizable: bool,
    /// Service back (every 100 ms window at 99% success) within this many seconds of each
    /// fault's start.
    pub recover_within_s: Option<f64>,
    /// p99 latency of the run, milliseconds, at most.
    pub p99_max_ms: Option<f64>,
    /// The faulty node leads no group this many seconds after the first fault begins.
    pub leaders_leave_within_s: Option<f64>,
    /// Replicas lost with destroyed nodes are rebuilt elsewhere by the end.
    pub repaired: bool,
    /// With `compare_gray_failure`: the handling must lower p99 during the faults and raise
    /// availability, against the same run with it off.
    pub gray_failure_helps: bool,
}

impl Default for ExpectSpec {
    fn default() -> ExpectSpec {
        ExpectSpec {
            availability_min: None,
            lost_writes_max: Some(0),
            lost_writes_min: None,
            linearizable: true,
            recover_within_s: None,
            p99_max_ms: None,
            leaders_leave_within_s: None,
            repaired: false,
            gray_failure_helps: false,
        }
    }
}

impl Scenario {
    /// Parses and checks a scenario file's text.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|error| format!("scenario: {error}"))?;
        scenario
            .validate()
            .map_err(|error| format!("scenario {}: {error}", scenario.name))?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, value: f64, max: f64| {
            if value.is_finite() && value > 0.0 && value <= max {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be above 0 and at most {max}, got {value}"
                ))
            }
        };
        positive("duration_s", self.duration_s, DURATION_MAX_S)?;
        if let Some(short) = self.short_duration_s {
            positive("short_duration_s", short, self.duration_s)?;
        }
        positive("workload.rate", self.workload.rate, RATE_MAX)?;
        if self.workload.concurrency > crate::scenario::load::SESSIONS_MAX {
            return Err(format!(
                "workload.concurrency must be at most {}, got {}",
                crate::scenario::load::SESSIONS_MAX,
                self.workload.concurrency
            ));
        }
        if !(0.0..=1.0).contains(&self.workload.reads) {
            return Err(format!(
                "workload.reads is a share between 0 and 1, got {}",
                self.workload.reads
            ));
        }
        if !(1..=KEYS_MAX).contains(&self.workload.keys) {
            return Err(format!(
                "workload.keys must be between 1 and {KEYS_MAX}, got {}",
                self.workload.keys
            ));
        }
        if self.workload.deadline_ms == 0 || self.workload.attempt_timeout_ms == 0 {
            return Err("workload.deadline_ms and attempt_timeout_ms must be above 0".to_owned());
        }
        let cluster = &self.cluster;
        if !(1..=crate::options::GROUPS_MAX).contains(&cluster.groups) {
            return Err(format!(
                "cluster.groups must be between 1 and {}, got {}",
                crate::options::GROUPS_MAX,
                cluster.groups
            ));
        }
        if !(1..=7).contains(&cluster.replication) {
            return Err(format!(
                "cluster.replication must be between 1 and 7, got {}",
                cluster.replication
            ));
        }
        if cluster.placement != "spread" && !cluster.placement.starts_with("one-dc:") {
            return Err(format!(
                "cluster.placement is `spread` or `one-dc:<datacenter>`, got `{}`",
                cluster.placement
            ));
        }
        if !(1..=1_000).contains(&cluster.tick_ms)
            || cluster.disk_us.0 > cluster.disk_us.1
            || cluster.disk_us.1 > 10_000_000
        {
            return Err("cluster.tick_ms must be 1..=1000 and cluster.disk_us a (low, high) range under 10 s".to_owned());
        }
        positive("cluster.down_after_s", cluster.down_after_s, DURATION_MAX_S)?;
        if self.faults.len() > FAULTS_MAX {
            return Err(format!(
                "at most {FAULTS_MAX} faults, got {}",
                self.faults.len()
            ));
        }
        for (index, fault) in self.faults.iter().enumerate() {
            fault
                .validate(self.duration_s)
                .map_err(|error| format!("fault {} ({:?}): {error}", index + 1, fault.kind))?;
        }
        Ok(())
    }

    /// The same scenario squeezed into `duration_s`: fault times and lengths (and each crash's
    /// or pause's `down_s`) scale with it, so faults keep their share of the run.
    pub fn shortened(&self, duration_s: f64) -> Scenario {
        let scale = (duration_s / self.duration_s).min(1.0);
        let mut short = self.clone();
        short.duration_s *= scale;
        for fault in &mut short.faults {
            fault.at_s *= scale;
            fault.for_s = fault.for_s.map(|s| s * scale);
            fault.down_s = fault.down_s.map(|s| s * scale);
        }
        short
    }
}

impl FaultSpec {
    fn validate(&self, duration_s: f64) -> Result<(), String> {
        if !self.at_s.is_finite() || self.at_s < 0.0 || self.at_s >= duration_s {
            return Err(format!(
                "at_s must be within the run (0..{duration_s}), got {}",
                self.at_s
            ));
        }
        if let Some(length) = self.for_s {
            if !length.is_finite() || length <= 0.0 {
                return Err(format!("for_s must be above 0, got {length}"));
            }
        }
        let needs = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
        match self.kind {
            FaultKind::Loss | FaultKind::BitflipWire => needs(
                self.chance > 0.0 && self.chance <= 1.0,
                "chance must be in (0, 1]",
            )?,
            FaultKind::Throttle | FaultKind::SlowDisk | FaultKind::Overload => needs(
                self.factor >= 1.0 && self.factor <= 10_000.0,
                "factor must be between 1 and 10000",
            )?,
            FaultKind::ClockSkew => needs(
                self.factor > 0.0 && self.factor <= 100.0,
                "factor (clock rate) must be in (0, 100]",
            )?,
            FaultKind::CrashRandom | FaultKind::RollingRestart => needs(
                self.down_s.is_some_and(|s| s > 0.0),
                "down_s (seconds each node is down) is needed",
            )?,
            FaultKind::Pause => needs(
                self.down_s.is_some_and(|s| s > 0.0) || self.for_s.is_some(),
                "a pause needs for_s or down_s",
            )?,
            FaultKind::BitflipDisk => needs(
                self.count >= 1 && self.count <= 1_000,
                "count (bits to flip) must be 1..=1000",
            )?,
            _ => {}
        }
        if self.count > 10_000 {
            return Err(format!("count must be at most 10000, got {}", self.count));
        }
        needs(
            !self.target.trim().is_empty()
                || matches!(self.kind, FaultKind::Loss | FaultKind::BitflipWire),
            "target is needed",
        )
    }
}
