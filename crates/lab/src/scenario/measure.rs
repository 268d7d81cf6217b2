//! What a scenario run measured: availability (requests answered correctly within the
//! deadline over all requests), latency percentiles, per-fault time to detect and to recover,
//! unavailable seconds per group, and the time series the report draws.

use std::collections::BTreeMap;

use crate::params::MS;
use crate::scenario::load::RequestRecord;

/// Width of the windows the recovery rule and the per-group unavailability look at.
pub const WINDOW: u64 = 100 * MS;

/// A window is good when at least this share of its requests succeeded.
pub const GOOD_WINDOW: f64 = 0.99;

/// What the run recorded besides the requests.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Each new leader: (time, group, node).
    pub elections: Vec<(u64, usize, usize)>,
    /// Every 100 ms: how many groups each node leads.
    pub leader_samples: Vec<(u64, Vec<u16>)>,
    /// Each fault as it happened.
    pub faults: Vec<FaultRecord>,
    /// Node states when the topology picture is taken (mid-fault).
    pub snapshot: Option<Vec<report::NodeState>>,
    pub snapshot_at: Option<u64>,
    /// At the snapshot: the failed network elements, each node's leaderships and replicas.
    pub snapshot_failed: Vec<String>,
    pub snapshot_leaders: Vec<u16>,
    pub snapshot_replicas: Vec<usize>,
}

/// One fault's actual span.
#[derive(Debug, Clone)]
pub struct FaultRecord {
    pub start: u64,
    pub end: Option<u64>,
    pub label: String,
    /// Nodes it struck (for "leaders leave" and "detect").
    pub nodes: Vec<usize>,
    /// Groups those nodes led when it struck: "detect" waits for one of them to elect.
    pub groups_led: Vec<usize>,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Measures {
    pub requests: u64,
    pub answered_in_time: u64,
    /// Requests whose client died with its datacenter (not counted either way).
    pub orphaned: u64,
    pub availability: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// p99 of requests issued while some fault was active.
    pub p99_during_faults_ms: Option<f64>,
    /// Per fault: seconds from its start to the first new leader of a group the struck nodes
    /// led (None: they led none, or no election happened).
    pub detect_s: Vec<Option<f64>>,
    /// Per fault: seconds from its start until the last bad window ended, among the windows
    /// before the next fault (less a deadline) (0: no bad window).
    pub recover_s: Vec<f64>,
    /// Per group: seconds of windows in which its requests mostly failed.
    pub unavailable_s: Vec<f64>,
    pub elections: usize,
}

impl Measures {
    /// Nines of availability: -log10(1 - availability); infinite when nothing failed.
    pub fn nines(&self) -> f64 {
        if self.availability >= 1.0 {
            f64::INFINITY
        } else {
            -(1.0 - self.availability).log10()
        }
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / MS as f64
}

/// Computes the measures from the requests and the recorder, for a run of `duration` with
/// `groups` groups and the given deadline.
pub fn measure(
    records: &[RequestRecord],
    recorder: &Recorder,
    duration: u64,
    groups: usize,
    deadline: u64,
) -> Measures {
    let counted: Vec<&RequestRecord> = records.iter().filter(|r| !r.orphaned).collect();
    let ok = |r: &RequestRecord| r.answered.is_some_and(|at| at - r.issued <= deadline);
    let answered_in_time = counted.iter().filter(|r| ok(r)).count() as u64;
    let mut latencies: Vec<u64> = counted
        .iter()
        .filter_map(|r| r.answered.map(|at| at - r.issued))
        .collect();
    latencies.sort_unstable();
    let during = |at: u64| {
        recorder
            .faults
            .iter()
            .any(|f| at >= f.start && f.end.is_none_or(|end| at < end))
    };
    let mut during_faults: Vec<u64> = counted
        .iter()
        .filter(|r| during(r.issued))
        .filter_map(|r| r.answered.map(|at| at - r.issued))
        .collect();
    during_faults.sort_unstable();
    let windows = (duration / WINDOW + 1) as usize;
    let mut totals = vec![(0u32, 0u32); windows];
    let mut per_group: BTreeMap<(usize, usize), (u32, u32)> = BTreeMap::new();
    for r in &counted {
        let w = ((r.issued / WINDOW) as usize).min(windows - 1);
        totals[w].0 += 1;
        let g = per_group.entry((r.group as usize, w)).or_default();
        g.0 += 1;
        if ok(r) {
            totals[w].1 += 1;
            g.1 += 1;
        }
    }
    let bad = |w: usize| totals[w].0 > 0 && (totals[w].1 as f64) < GOOD_WINDOW * totals[w].0 as f64;
    let mut unavailable_s = vec![0.0; groups];
    for (&(group, _), &(all, good)) in &per_group {
        if good * 2 < all {
            unavailable_s[group] += WINDOW as f64 / 1e6;
        }
    }
    let mut starts: Vec<u64> = recorder.faults.iter().map(|f| f.start).collect();
    starts.sort_unstable();
    let mut detect_s = Vec::new();
    let mut recover_s = Vec::new();
    for fault in &recorder.faults {
        let next = starts
            .iter()
            .copied()
            .find(|&s| s > fault.start)
            .unwrap_or(duration);
        let first_election = recorder.elections.iter().find(|&&(at, group, _)| {
            at >= fault.start
                && at < next.max(fault.start + 30_000 * MS)
                && fault.groups_led.contains(&group)
        });
        detect_s.push(first_election.map(|&(at, _, _)| (at - fault.start) as f64 / 1e6));
        // Requests issued within a deadline of the next fault may fail because of it: they are
        // the next fault's, not this one's.
        let until = next.saturating_sub(deadline).max(fault.start);
        let (from, to) = (
            (fault.start / WINDOW) as usize,
            ((until / WINDOW) as usize).min(windows),
        );
        let last_bad = (from..to).rev().find(|&w| bad(w));
        recover_s.push(last_bad.map_or(0.0, |w| {
            ((w as u64 + 1) * WINDOW).saturating_sub(fault.start) as f64 / 1e6
        }));
    }
    let requests = counted.len() as u64;
    Measures {
        requests,
        answered_in_time,
        orphaned: (records.len() - counted.len()) as u64,
        availability: if requests == 0 {
            1.0
        } else {
            answered_in_time as f64 / requests as f64
        },
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        p999_ms: percentile(&latencies, 0.999),
        max_ms: latencies.last().map_or(0.0, |&l| l as f64 / MS as f64),
        p99_during_faults_ms: (!during_faults.is_empty()).then(|| percentile(&during_faults, 0.99)),
        detect_s,
        recover_s,
        unavailable_s,
        elections: recorder.elections.len(),
    }
}

/// A chart line: (simulated seconds, value) pairs.
pub type Points = Vec<(f64, f64)>;

/// Per-second series for the report: (throughput ok/s, errors/s, p99 ms) points, in
/// windows of `step` microseconds.
pub fn series(
    records: &[RequestRecord],
    duration: u64,
    deadline: u64,
    step: u64,
) -> (Points, Points, Points) {
    let windows = (duration / step + 1) as usize;
    let mut ok = vec![0u64; windows];
    let mut failed = vec![0u64; windows];
    let mut latency: Vec<Vec<u64>> = vec![Vec::new(); windows];
    for r in records.iter().filter(|r| !r.orphaned) {
        let w = ((r.issued / step) as usize).min(windows - 1);
        match r.answered.map(|at| at - r.issued) {
            Some(took) if took <= deadline => {
                ok[w] += 1;
                latency[w].push(took);
            }
            _ => failed[w] += 1,
        }
    }
    let per_second = 1e6 / step as f64;
    let at = |w: usize| (w as u64 * step) as f64 / 1e6;
    let throughput = (0..windows)
        .map(|w| (at(w), ok[w] as f64 * per_second))
        .collect();
    let errors = (0..windows)
        .map(|w| (at(w), failed[w] as f64 * per_second))
        .collect();
    let p99 = latency
        .iter_mut()
        .enumerate()
        .filter(|(_, window)| !window.is_empty())
        .map(|(w, window)| {
            window.sort_unstable();
            (at(w), percentile(window, 0.99))
        })
        .collect();
    (throughput, errors, p99)
}
