//! Per-connection results (merged at the end), the final report, its table and its JSON line.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// What one connection measured inside the measurement window.
pub struct Stats {
    /// Microseconds, 1 us .. 1 h at 3 significant digits.
    pub histogram: Histogram<u64>,
    pub ops: u64,
    pub errors: BTreeMap<String, u64>,
    /// Redirects followed (cluster routing: "MOVED", "ASK"); the request was retried, not lost.
    pub redirects: BTreeMap<String, u64>,
    /// When the last measured reply arrived (open loop may answer after the window).
    pub last: Option<Instant>,
}

impl Stats {
    pub fn new() -> Self {
        let histogram =
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        Stats {
            histogram,
            ops: 0,
            errors: BTreeMap::new(),
            redirects: BTreeMap::new(),
            last: None,
        }
    }

    /// One successful reply, `micros` after it was sent (or scheduled), arriving at `when`.
    pub fn record_at(&mut self, micros: u64, when: Instant) {
        self.ops += 1;
        self.histogram.saturating_record(micros.max(1));
        self.last = self.last.max(Some(when));
    }

    pub fn error(&mut self, kind: &str, count: u64) {
        if count > 0 {
            *self.errors.entry(kind.to_owned()).or_insert(0) += count;
        }
    }

    pub fn redirect(&mut self, kind: &str) {
        *self.redirects.entry(kind.to_owned()).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        self.ops += other.ops;
        self.last = self.last.max(other.last);
        // Same bounds everywhere, so adding cannot fail.
        self.histogram
            .add(&other.histogram)
            .expect("histograms with equal bounds");
        for (kind, count) in &other.errors {
            self.error(kind, *count);
        }
        for (kind, count) in &other.redirects {
            *self.redirects.entry(kind.clone()).or_insert(0) += count;
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of one run, as printed and as written to `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub unix_time: u64,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// How many runs this report is the median of.
    pub runs: usize,
    pub workload: String,
    pub connections: usize,
    pub pipeline: usize,
    pub keys: u64,
    pub zipf: f64,
    pub value_size: usize,
    pub seconds: f64,
    pub rate: Option<f64>,
    pub session: bool,
    /// Successful replies measured (errors are not ops).
    pub ops: u64,
    pub ops_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub errors: BTreeMap<String, u64>,
    /// Redirects the client followed (a Redis Cluster's `MOVED`/`ASK`); those requests succeeded.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub redirects: BTreeMap<String, u64>,
    /// When the target is a Redis Cluster: how many nodes the client routed to by key slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routed_nodes: Option<usize>,
    pub cpu_seconds: Option<f64>,
    pub cpu_us_per_op: Option<f64>,
    /// CPU the load generator itself used per op (it shares the machine with the target).
    pub client_cpu_us_per_op: Option<f64>,
}

impl Report {
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// A short human table.
    pub fn table(&self) -> String {
        let mode = match self.rate {
            Some(rate) => format!("open loop {rate:.0}/s"),
            None => "closed loop".to_owned(),
        };
        let mut out = format!(
            "{} {} | {} conns x {} pipeline | {} | {:.1} s\n",
            self.target, self.workload, self.connections, self.pipeline, mode, self.seconds
        );
        out += &format!(
            "{:>12} {:>10} {:>10} {:>10} {:>10} {:>8}\n",
            "ops/s", "p50", "p99", "p99.9", "max", "errors"
        );
        out += &format!(
            "{:>12.0} {:>10} {:>10} {:>10} {:>10} {:>8}\n",
            self.ops_per_sec,
            micros(self.p50_us),
            micros(self.p99_us),
            micros(self.p999_us),
            micros(self.max_us),
            self.error_total()
        );
        for (kind, count) in &self.errors {
            out += &format!("  error {kind}: {count}\n");
        }
        if let Some(nodes) = self.routed_nodes {
            out += &format!("  routed by key slot over {nodes} cluster nodes\n");
        }
        for (kind, count) in &self.redirects {
            out += &format!("  followed {kind} redirects: {count}\n");
        }
        if let (Some(cpu), Some(per_op)) = (self.cpu_seconds, self.cpu_us_per_op) {
            out += &format!("  server CPU: {cpu:.2} s, {per_op:.1} us per op\n");
        }
        if let Some(per_op) = self.client_cpu_us_per_op {
            out += &format!("  client CPU: {per_op:.1} us per op\n");
        }
        out
    }
}

/// The median of a sorted-in-place list (mean of the two middle values when even).
fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    let mut v: Vec<f64> = values.map(|x| x as f64).collect();
    median_f64(&mut v).round() as u64
}

/// Several runs of the same load as one report: the run with the median ops/s, with ops/s,
/// p50, p99 and p99.9 each replaced by their median over the runs (independently), max by the
/// largest max, and `runs` set. `None` for no runs.
pub fn median_report(mut reports: Vec<Report>) -> Option<Report> {
    let n = reports.len();
    if n <= 1 {
        return reports.pop();
    }
    let ops_median = median_f64(&mut reports.iter().map(|r| r.ops_per_sec).collect::<Vec<_>>());
    let p50 = median_u64(reports.iter().map(|r| r.p50_us));
    let p99 = median_u64(reports.iter().map(|r| r.p99_us));
    let p999 = median_u64(reports.iter().map(|r| r.p999_us));
    let max = reports.iter().map(|r| r.max_us).max().unwrap_or(0);
    reports.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    let mut base = reports.swap_remove(n / 2);
    base.ops_per_sec = ops_median;
    base.p50_us = p50;
    base.p99_us = p99;
    base.p999_us = p999;
    base.max_us = max;
    base.runs = n;
    Some(base)
}

/// Human latency: us below 10 ms, ms above.
pub fn micros(us: u64) -> String {
    if us < 10_000 {
        format!("{us}us")
    } else {
        format!("{:.1}ms", us as f64 / 1000.0)
    }
}

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .map_err(|e| format!("read {path}: {e} - is process {pid} running?"))?;
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("malformed {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("malformed {path}"))
    };
    // utime and stime are fields 14 and 15 overall, 12 and 13 after the name (0-based 11, 12).
    let ticks = tick(11)? + tick(12)?;
    // USER_HZ is 100 on every Linux configuration we run on (sysconf would need libc).
    Ok(ticks as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ops_per_sec: f64, p50_us: u64, p99_us: u64) -> Report {
        Report {
            unix_time: 0,
            target: "resp://127.0.0.1:1".into(),
            label: None,
            runs: 1,
            workload: "write".into(),
            connections: 64,
            pipeline: 1,
            keys: 10,
            zipf: 0.0,
            value_size: 64,
            seconds: 15.0,
            rate: None,
            session: false,
            ops: (ops_per_sec * 15.0) as u64,
            ops_per_sec,
            p50_us,
            p99_us,
            p999_us: p99_us * 2,
            max_us: p99_us * 3,
            errors: BTreeMap::new(),
            redirects: BTreeMap::new(),
            routed_nodes: None,
            cpu_seconds: None,
            cpu_us_per_op: None,
            client_cpu_us_per_op: None,
        }
    }

    #[test]
    fn median_of_three_takes_each_median_independently() {
        let m = median_report(vec![
            report(300.0, 10, 900),
            report(100.0, 30, 100),
            report(200.0, 20, 500),
        ])
        .unwrap();
        assert_eq!(m.ops_per_sec, 200.0);
        assert_eq!(m.p50_us, 20);
        assert_eq!(m.p99_us, 500);
        assert_eq!(m.p999_us, 1000);
        assert_eq!(m.max_us, 2700);
        assert_eq!(m.runs, 3);
        // An outlier does not move the median.
        let m = median_report(vec![
            report(1.0, 9000, 9000),
            report(100.0, 30, 100),
            report(110.0, 20, 120),
        ])
        .unwrap();
        assert_eq!((m.ops_per_sec, m.p50_us, m.p99_us), (100.0, 30, 120));
    }

    #[test]
    fn median_of_one_two_and_none() {
        assert!(median_report(Vec::new()).is_none());
        let one = median_report(vec![report(5.0, 1, 2)]).unwrap();
        assert_eq!((one.ops_per_sec, one.runs), (5.0, 1));
        let two = median_report(vec![report(100.0, 10, 20), report(200.0, 30, 41)]).unwrap();
        assert_eq!(
            (two.ops_per_sec, two.p50_us, two.p99_us, two.runs),
            (150.0, 20, 31, 2)
        );
    }
}
