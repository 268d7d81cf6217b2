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
    /// When the last measured reply arrived (open loop may answer after the window).
    pub last: Option<Instant>,
}

impl Stats {
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        Stats { histogram, ops: 0, errors: BTreeMap::new(), last: None }
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

    pub fn merge(&mut self, other: &Stats) {
        self.ops += other.ops;
        self.last = self.last.max(other.last);
        // Same bounds everywhere, so adding cannot fail.
        self.histogram.add(&other.histogram).expect("histograms with equal bounds");
        for (kind, count) in &other.errors {
            self.error(kind, *count);
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
    pub cpu_seconds: Option<f64>,
    pub cpu_us_per_op: Option<f64>,
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
        out += &format!("{:>12} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "ops/s", "p50", "p99", "p99.9", "max", "errors");
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
        if let (Some(cpu), Some(per_op)) = (self.cpu_seconds, self.cpu_us_per_op) {
            out += &format!("  server CPU: {cpu:.2} s, {per_op:.1} us per op\n");
        }
        out
    }
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
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e} - is process {pid} running?"))?;
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| format!("malformed {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or_else(|| format!("malformed {path}"));
    // utime and stime are fields 14 and 15 overall, 12 and 13 after the name (0-based 11, 12).
    let ticks = tick(11)? + tick(12)?;
    // USER_HZ is 100 on every Linux configuration we run on (sysconf would need libc).
    Ok(ticks as f64 / 100.0)
}
