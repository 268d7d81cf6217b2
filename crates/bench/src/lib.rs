//! `bench`: the load generator behind `ninesdb bench`. A lean RESP client per connection
//! (tokio task), closed loop or open loop (`--rate`, latency from the scheduled send time),
//! HDR histograms merged at the end, optional server CPU accounting from /proc.

pub mod chart;
pub mod conn;
pub mod keys;
pub mod load;
pub mod resp;
pub mod stats;

use load::Plan;
use stats::{Report, Stats};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// How long replies may still arrive after the window before they count as timeouts.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// SET key value.
    Write,
    /// GET key.
    Read,
    /// 50% SET, 50% GET.
    Mixed,
}

/// Load-test a RESP server (ninesdb or Redis).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Server(s): `resp://host:port[,host:port...]`. Load goes to the first; a connection that
    /// gets `-MOVED <slot> <host:port>` reconnects there; one that breaks tries the next.
    #[arg(long, default_value = "resp://127.0.0.1:7001")]
    pub target: String,
    /// Concurrent connections (one task each).
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Commands per batch in closed loop; in open loop, the most requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// write = SET, read = GET, mixed = 50/50.
    #[arg(long, value_enum, default_value_t = Workload::Write)]
    pub workload: Workload,
    /// Number of distinct keys (key:000000000000 .. key:<keys-1>).
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Zipfian skew of key popularity (0 = uniform; 0.99 is the usual "hot keys" setting).
    #[arg(long, default_value_t = 0.0)]
    pub zipf: f64,
    /// Value size in bytes for writes.
    #[arg(long, default_value_t = 64)]
    pub value_size: usize,
    /// Seconds of load before measuring (connections warm up, caches fill).
    #[arg(long, default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Open loop: total requests per second over all connections, latency measured from the
    /// scheduled send time (queueing is not hidden). Without it: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Server process ids (comma-separated) whose CPU time (user + system) to report.
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
    /// Append one JSON object per run to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// ninesdb only: open a session per connection (`NINESDB SESSION`) and send writes as
    /// `NINESDB REQ <session> <seq> SET ...`, so retried writes are never counted twice.
    #[arg(long)]
    pub session: bool,
    /// Client runtime threads (default 1: on small machines the client must not starve the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// A name for the target in the JSON line and in charts (e.g. `redis-aof`).
    #[arg(long)]
    pub label: Option<String>,
    /// Run this many times (same flags) and report the median ops/s and the median of each
    /// latency percentile; every run is printed, only the median goes to `--json`.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Do not load anything: read these JSON lines (from `--json`) and write an SVG chart of
    /// ops/s per load row and target to `--chart-out`.
    #[arg(long, requires = "chart_out")]
    pub chart_from: Option<std::path::PathBuf>,
    /// Where `--chart-from` writes its SVG.
    #[arg(long, requires = "chart_from")]
    pub chart_out: Option<std::path::PathBuf>,
}

/// Parses bench flags from an argument list (for tests and the example CLI).
pub fn parse_args<I, T>(argv: I) -> Result<BenchArgs, String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{Args, FromArgMatches};
    let command = BenchArgs::augment_args(clap::Command::new("bench"));
    let matches = command.try_get_matches_from(argv).map_err(|e| e.to_string())?;
    BenchArgs::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// Runs one benchmark, prints the table, appends the JSON line if asked.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    if let (Some(from), Some(to)) = (&args.chart_from, &args.chart_out) {
        chart::write_chart(from, to)?;
        println!("chart: {}", to.display());
        return Ok(());
    }
    let mut reports = Vec::with_capacity(args.repeat);
    for i in 0..args.repeat {
        let report = run_collect(args)?;
        if args.repeat > 1 {
            println!("run {} of {}:", i + 1, args.repeat);
        }
        println!("{}", report.table());
        reports.push(report);
    }
    let report = stats::median_report(reports).ok_or("--repeat must be at least 1")?;
    if args.repeat > 1 {
        println!("median of {} runs:\n{}", args.repeat, report.table());
    }
    if let Some(path) = &args.json {
        append_json(path, &report)?;
    }
    Ok(())
}

/// Runs one benchmark and returns its report (nothing printed except the progress line).
pub fn run_collect(args: &BenchArgs) -> Result<Report, String> {
    validate(args)?;
    let targets = parse_targets(&args.target)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    runtime.block_on(drive(args, targets))
}

fn validate(args: &BenchArgs) -> Result<(), String> {
    let checks = [
        (args.connections == 0, "--connections must be at least 1"),
        (args.pipeline == 0, "--pipeline must be at least 1"),
        (args.keys == 0, "--keys must be at least 1"),
        (args.threads == 0, "--threads must be at least 1"),
        (args.repeat == 0, "--repeat must be at least 1"),
        (!args.seconds.is_finite() || args.seconds <= 0.0, "--seconds must be positive"),
        (!args.warmup_seconds.is_finite() || args.warmup_seconds < 0.0, "--warmup-seconds must not be negative"),
        (!args.zipf.is_finite() || args.zipf < 0.0, "--zipf must not be negative"),
        (args.rate.is_some_and(|r| !r.is_finite() || r <= 0.0), "--rate must be positive"),
    ];
    match checks.iter().find(|(bad, _)| *bad) {
        Some((_, message)) => Err((*message).to_owned()),
        None => Ok(()),
    }
}

/// `resp://a:1,b:2` or `a:1,resp://b:2` -> ["a:1", "b:2"].
pub fn parse_targets(target: &str) -> Result<Vec<String>, String> {
    let targets: Vec<String> = target
        .split(',')
        .map(|t| t.trim().trim_start_matches("resp://").trim_end_matches('/').to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    match targets.iter().find(|t| !t.contains(':')) {
        _ if targets.is_empty() => Err(format!("--target {target:?}: no host:port given")),
        Some(bad) => Err(format!("--target: {bad:?} is not host:port")),
        None => Ok(targets),
    }
}

/// The async part of a run: probe, load, measure, merge.
async fn drive(args: &BenchArgs, targets: Vec<String>) -> Result<Report, String> {
    // Fail fast with a clear message instead of N identical connect errors.
    drop(conn::connect(&targets[0]).await?);
    let plan = Arc::new(make_plan(args, targets));
    let progress = std::io::stderr().is_terminal().then(|| tokio::spawn(show_progress(plan.clone())));
    let tasks: Vec<_> = (0..args.connections).map(|id| tokio::spawn(load::connection(plan.clone(), id))).collect();
    tokio::time::sleep_until(plan.start).await;
    let cpu_before = cpu_total(&args.pids)?;
    tokio::time::sleep_until(plan.end).await;
    let cpu_after = cpu_total(&args.pids)?;
    let mut total = Stats::new();
    for task in tasks {
        total.merge(&task.await.map_err(|e| format!("a connection task failed: {e}"))?);
    }
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    let cpu = cpu_before.zip(cpu_after).map(|(before, after)| after - before);
    Ok(make_report(args, &plan, &total, cpu))
}

fn make_plan(args: &BenchArgs, targets: Vec<String>) -> Plan {
    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(args.warmup_seconds);
    let end = start + Duration::from_secs_f64(args.seconds);
    Plan {
        targets,
        workload: args.workload,
        pipeline: args.pipeline,
        keys: args.keys,
        cdf: keys::zipf_cdf(args.keys, args.zipf),
        value: vec![b'x'; args.value_size],
        session: args.session,
        connections: args.connections,
        t0,
        start,
        end,
        drain_deadline: end + DRAIN_GRACE,
        interval: args.rate.map(|rate| Duration::from_secs_f64(args.connections as f64 / rate)),
        progress: Arc::new(AtomicU64::new(0)),
    }
}

/// Sum of the CPU seconds of `pids`; `None` when no pid was given.
fn cpu_total(pids: &[u32]) -> Result<Option<f64>, String> {
    if pids.is_empty() {
        return Ok(None);
    }
    pids.iter().map(|pid| stats::cpu_seconds(*pid)).sum::<Result<f64, String>>().map(Some)
}

/// One progress line on stderr per second (only on a terminal: logs stay clean).
async fn show_progress(plan: Arc<Plan>) {
    let mut last = 0;
    let mut tick = tokio::time::interval_at(plan.t0 + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        let now = tick.tick().await;
        let done = plan.progress.load(Ordering::Relaxed);
        let phase = if now < plan.start { "warm-up" } else if now < plan.end { "measuring" } else { "draining" };
        eprint!("\r[{:>5.1}s {phase:<9}] {done} requests, {}/s    ", (now - plan.t0).as_secs_f64(), done - last);
        let _ = std::io::stderr().flush();
        last = done;
    }
}

fn make_report(args: &BenchArgs, plan: &Plan, total: &Stats, cpu: Option<f64>) -> Report {
    // Open loop can answer measured requests after the window: divide by the real span.
    let span = total.last.map_or(plan.end, |last| last.max(plan.end)) - plan.start;
    let h = &total.histogram;
    let empty = h.is_empty();
    let q = |quantile: f64| if empty { 0 } else { h.value_at_quantile(quantile) };
    Report {
        unix_time: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        target: args.target.clone(),
        label: args.label.clone(),
        runs: 1,
        workload: format!("{:?}", args.workload).to_lowercase(),
        connections: args.connections,
        pipeline: args.pipeline,
        keys: args.keys,
        zipf: args.zipf,
        value_size: args.value_size,
        seconds: args.seconds,
        rate: args.rate,
        session: args.session,
        ops: total.ops,
        ops_per_sec: total.ops as f64 / span.as_secs_f64(),
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: if empty { 0 } else { h.max() },
        errors: total.errors.clone(),
        cpu_seconds: cpu,
        cpu_us_per_op: cpu.filter(|_| total.ops > 0).map(|c| c * 1e6 / total.ops as f64),
    }
}

fn append_json(path: &std::path::Path, report: &Report) -> Result<(), String> {
    let line = serde_json::to_string(report).map_err(|e| format!("encode JSON: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    writeln!(file, "{line}").map_err(|e| format!("write {}: {e}", path.display()))
}
