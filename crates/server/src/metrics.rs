//! `/metrics` in Prometheus's text format (version 0.0.4): what this node's clients ran
//! (`stats`), its hosted groups and its disk (the node thread's `Status`), its view of the
//! other members (health reports, links), and the gray-failure inputs and verdicts.
//!
//! The exposition is written by hand (a few dozen lines, no registry to keep in step with
//! the server's own counters); the test parses it with Prometheus's own Python parser.

use std::fmt::Write;
use std::time::Duration;

use crate::client::Shared;
use crate::cluster;
use crate::driver::Status;

/// Upper bounds of latency histograms' buckets, in microseconds (the last bucket, +Inf, is
/// implicit): 50 µs to 10 s, about three per decade.
pub const BUCKETS_US: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// A latency histogram in `BUCKETS_US` (counts per bucket, not cumulative).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// One count per bucket, the last for slower than every bound (empty until used).
    pub buckets: Vec<u64>,
    pub sum_us: u64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, micros: u64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; BUCKETS_US.len() + 1];
        }
        let at = BUCKETS_US
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[at] += 1;
        self.sum_us = self.sum_us.saturating_add(micros);
        self.count += 1;
    }
}

/// The node thread's disk and log figures since start, and its leaders' latest repairs
/// (carried in `Status`).
#[derive(Clone, Debug, Default)]
pub struct NodeCounters {
    pub fsync: Histogram,
    pub wal_bytes: u64,
    pub wal_records: u64,
    pub snapshots: u64,
    pub snapshot_bytes: u64,
    pub snapshot_time: Histogram,
    pub repairs: u64,
    /// The latest repairs, newest last (at most `RECENT_REPAIRS`).
    pub recent_repairs: std::collections::VecDeque<RepairDone>,
}

/// Repairs kept for the dashboard.
const RECENT_REPAIRS: usize = 32;

/// A replica rebuilt by a leader here: `new_node` replaces `leaving_node`.
#[derive(Clone, Debug)]
pub struct RepairDone {
    pub group: crate::cluster::GroupId,
    pub new_node: raft::NodeId,
    pub leaving_node: Option<raft::NodeId>,
    pub took_ms: u64,
    pub at_unix_ms: u64,
}

impl NodeCounters {
    pub fn record_repair(&mut self, repair: RepairDone) {
        self.repairs += 1;
        if self.recent_repairs.len() == RECENT_REPAIRS {
            self.recent_repairs.pop_front();
        }
        self.recent_repairs.push_back(repair);
    }
}

/// Writes one metric family's HELP and TYPE lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the format asks (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A histogram's `_bucket` (cumulative, `le` in seconds), `_sum` and `_count` lines.
fn histogram_lines(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (i, bound) in BUCKETS_US.iter().enumerate() {
        cumulative += h.buckets.get(i).copied().unwrap_or(0);
        let le = *bound as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braced} {}", h.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{braced} {}", h.count);
}

/// The whole exposition.
pub fn render(shared: &Shared, status: &Status) -> String {
    let mut out = String::new();
    commands(&mut out, shared);
    clients(&mut out, shared, status);
    groups(&mut out, status);
    disk(&mut out, &status.counters);
    members(&mut out, shared);
    out
}

fn commands(out: &mut String, shared: &Shared) {
    let commands = shared.stats.commands();
    family(
        out,
        "ninesdb_commands_total",
        "counter",
        "Commands this node's clients ran, by command.",
    );
    for (name, s) in &commands {
        let _ = writeln!(
            out,
            "ninesdb_commands_total{{cmd=\"{}\"}} {}",
            escape(name),
            s.latency.count
        );
    }
    family(
        out,
        "ninesdb_command_failures_total",
        "counter",
        "Commands answered with an error, by command and whether they were refused before running.",
    );
    for (name, s) in &commands {
        let name = escape(name);
        let _ = writeln!(
            out,
            "ninesdb_command_failures_total{{cmd=\"{name}\",stage=\"rejected\"}} {}",
            s.rejected_calls
        );
        let _ = writeln!(
            out,
            "ninesdb_command_failures_total{{cmd=\"{name}\",stage=\"failed\"}} {}",
            s.failed_calls
        );
    }
    family(
        out,
        "ninesdb_command_duration_seconds",
        "histogram",
        "Time from a command's arrival to its reply, by command.",
    );
    for (name, s) in &commands {
        histogram_lines(
            out,
            "ninesdb_command_duration_seconds",
            &format!("cmd=\"{}\"", escape(name)),
            &s.latency,
        );
    }
    family(
        out,
        "ninesdb_errors_total",
        "counter",
        "Error replies by kind (their first word), as Redis's errorstats.",
    );
    for (kind, count) in shared.stats.errors() {
        let _ = writeln!(
            out,
            "ninesdb_errors_total{{kind=\"{}\"}} {count}",
            escape(&kind)
        );
    }
}

fn clients(out: &mut String, shared: &Shared, status: &Status) {
    use std::sync::atomic::Ordering;
    let gauges = [
        (
            "ninesdb_connected_clients",
            "Client connections open now.",
            shared.clients.load(Ordering::Relaxed) as u64,
        ),
        (
            "ninesdb_blocked_clients",
            "Clients waiting in a blocking command now.",
            crate::client::lock_blocked(shared).len() as u64,
        ),
        (
            "ninesdb_memory_used_bytes",
            "Estimated data size of the groups hosted here (what maxmemory limits).",
            status.memory_used,
        ),
        (
            "ninesdb_maxmemory_bytes",
            "The maxmemory setting (0: none).",
            status.memory.maxmemory,
        ),
    ];
    for (name, help, value) in gauges {
        family(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let (channels, patterns, shard_channels) = shared.pubsub.counts();
    family(
        out,
        "ninesdb_pubsub_subscriptions",
        "gauge",
        "Channels, patterns and shard channels subscribed to on this node.",
    );
    for (kind, n) in [
        ("channel", channels),
        ("pattern", patterns),
        ("shard_channel", shard_channels),
    ] {
        let _ = writeln!(out, "ninesdb_pubsub_subscriptions{{kind=\"{kind}\"}} {n}");
    }
    family(
        out,
        "ninesdb_evicted_keys_total",
        "counter",
        "Keys the leaders here evicted for maxmemory.",
    );
    let _ = writeln!(out, "ninesdb_evicted_keys_total {}", status.evicted_keys);
}

type Column = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::group::GroupStatus) -> u64,
);
/// One per-group metric: name, type, help, and its value from a group's status.
const GROUP_COLUMNS: [Column; 10] = [
    (
        "ninesdb_group_leader",
        "gauge",
        "1 if this node's replica leads the group.",
        |g| u64::from(g.role == Some(raft::Role::Leader)),
    ),
    (
        "ninesdb_group_term",
        "gauge",
        "The replica's Raft term.",
        |g| g.term,
    ),
    (
        "ninesdb_group_commit_index",
        "gauge",
        "The replica's commit index.",
        |g| g.commit_index,
    ),
    (
        "ninesdb_group_applied_index",
        "gauge",
        "The replica's applied index.",
        |g| g.applied_index,
    ),
    (
        "ninesdb_group_apply_lag",
        "gauge",
        "Committed entries not applied yet.",
        |g| g.commit_index.saturating_sub(g.applied_index),
    ),
    (
        "ninesdb_group_pending_writes",
        "gauge",
        "Writes proposed here and waiting to commit (the proposal queue).",
        |g| g.pending_writes as u64,
    ),
    (
        "ninesdb_group_keys",
        "gauge",
        "Live keys in the replica.",
        |g| g.keys as u64,
    ),
    (
        "ninesdb_group_voters",
        "gauge",
        "Voters in the group's configuration.",
        |g| g.voters.len() as u64,
    ),
    (
        "ninesdb_group_repairing",
        "gauge",
        "1 if this leader is replacing a lost replica of the group.",
        |g| u64::from(g.repairing),
    ),
    (
        "ninesdb_group_leader_changes_total",
        "counter",
        "Times this replica saw the group's leader change.",
        |g| g.leader_changes,
    ),
];

fn groups(out: &mut String, status: &Status) {
    for (name, kind, help, value) in GROUP_COLUMNS {
        family(out, name, kind, help);
        for g in &status.groups {
            let role = if g.group == cluster::META {
                "meta"
            } else {
                "data"
            };
            let _ = writeln!(
                out,
                "{name}{{group=\"{}\",kind=\"{role}\"}} {}",
                g.group,
                value(g)
            );
        }
    }
}

fn disk(out: &mut String, counters: &NodeCounters) {
    family(
        out,
        "ninesdb_fsync_duration_seconds",
        "histogram",
        "Time of each write-ahead log flush that synced.",
    );
    histogram_lines(out, "ninesdb_fsync_duration_seconds", "", &counters.fsync);
    let totals = [
        (
            "ninesdb_wal_bytes_total",
            "Bytes appended to the write-ahead log.",
            counters.wal_bytes,
        ),
        (
            "ninesdb_wal_records_total",
            "Records appended to the write-ahead log.",
            counters.wal_records,
        ),
        (
            "ninesdb_snapshots_total",
            "Snapshots saved.",
            counters.snapshots,
        ),
        (
            "ninesdb_snapshot_bytes_total",
            "Bytes of the snapshots saved.",
            counters.snapshot_bytes,
        ),
        (
            "ninesdb_repairs_total",
            "Replicas rebuilt by this node's leaders.",
            counters.repairs,
        ),
    ];
    for (name, help, value) in totals {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        out,
        "ninesdb_snapshot_duration_seconds",
        "histogram",
        "Time to save each snapshot.",
    );
    histogram_lines(
        out,
        "ninesdb_snapshot_duration_seconds",
        "",
        &counters.snapshot_time,
    );
}

fn members(out: &mut String, shared: &Shared) {
    let config = &shared.config;
    let view = cluster::lock(&shared.view);
    let down_after = Duration::from_millis(config.down_after_ms);
    family(
        out,
        "ninesdb_member_up",
        "gauge",
        "1 if this node hears the member (itself included).",
    );
    for &id in view.members.keys() {
        let up = id == config.id || !view.is_down(id, down_after);
        let _ = writeln!(out, "ninesdb_member_up{{node=\"{id}\"}} {}", u64::from(up));
    }
    family(
        out,
        "ninesdb_member_heard_seconds",
        "gauge",
        "Time since this node last heard the member.",
    );
    for (id, at) in &view.last_heard {
        let _ = writeln!(
            out,
            "ninesdb_member_heard_seconds{{node=\"{id}\"}} {}",
            at.elapsed().as_secs_f64()
        );
    }
    type Input = (
        &'static str,
        &'static str,
        fn(&crate::health::Health) -> f64,
    );
    let inputs: [Input; 3] = [
        (
            "ninesdb_member_fsync_seconds",
            "The member's recent fsync time (a gray-failure input).",
            |h| h.fsync_us as f64 / 1e6,
        ),
        (
            "ninesdb_member_tick_lateness_seconds",
            "How late the member's timer ticks (a gray-failure input).",
            |h| h.lag_us as f64 / 1e6,
        ),
        (
            "ninesdb_member_report_loss_ratio",
            "Share of the member's peers' health reports it missed (a gray-failure input).",
            |h| h.loss_permille as f64 / 1000.0,
        ),
    ];
    for (name, help, value) in inputs {
        family(out, name, "gauge", help);
        for (id, (health, _)) in &view.health {
            let _ = writeln!(out, "{name}{{node=\"{id}\"}} {}", value(health));
        }
    }
    family(
        out,
        "ninesdb_member_sick",
        "gauge",
        "1 if the member is judged sick (a gray failure): it sheds its leaderships.",
    );
    for &id in view.members.keys() {
        let _ = writeln!(
            out,
            "ninesdb_member_sick{{node=\"{id}\"}} {}",
            u64::from(view.is_sick(id))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_per_bucket_and_print_cumulatively() {
        let mut h = Histogram::default();
        for micros in [10, 60, 60, 20_000_000] {
            h.observe(micros);
        }
        assert_eq!(h.buckets[0], 1);
        assert_eq!(h.buckets[1], 2);
        assert_eq!(h.buckets[BUCKETS_US.len()], 1);
        let mut out = String::new();
        histogram_lines(&mut out, "x", "cmd=\"get\"", &h);
        assert!(out.contains("x_bucket{cmd=\"get\",le=\"0.00005\"} 1\n"));
        assert!(out.contains("x_bucket{cmd=\"get\",le=\"0.0001\"} 3\n"));
        assert!(out.contains("x_bucket{cmd=\"get\",le=\"10\"} 3\n"));
        assert!(out.contains("x_bucket{cmd=\"get\",le=\"+Inf\"} 4\n"));
        assert!(out.contains("x_count{cmd=\"get\"} 4\n"));
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
