//! `bench`: the load generator behind `ninesdb bench`. A lean RESP client per connection
//! (tokio task; routed by key slot when the target is a Redis Cluster), or an etcd gRPC client
//! (feature `etcd`); closed loop or open loop (`--rate`, latency from the scheduled send time),
//! HDR histograms merged at the end, optional server CPU accounting from /proc.

pub mod chart;
pub mod cluster;
pub mod conn;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod keys;
pub mod load;
pub mod resp;
pub mod route;
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

/// The protocol of `--target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Resp,
    Etcd,
}

/// Load-test a RESP server (ninesdb, Redis, a Redis Cluster) or etcd.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Server(s): `resp://host:port[,host:port...]` or `etcd://host:port[,host:port...]`.
    /// RESP: if the first answers CLUSTER SLOTS with several nodes (a Redis Cluster), each client
    /// keeps one connection per node and sends each request to its key's slot owner, follows
    /// -MOVED (and refreshes the map) and -ASK (once, with ASKING). Otherwise load goes to the
    /// first; a connection that gets -MOVED <slot> <host:port> reconnects there, one that breaks
    /// tries the next. etcd: load goes to the first endpoint (put the leader first); a connection
    /// that finds it unreachable moves to the next. etcd needs a build with `--features etcd`.
    #[arg(long, default_value = "resp://127.0.0.1:7001")]
    pub target: String,
    /// Concurrent clients, one task and one connection each (against a Redis Cluster: one
    /// connection per node each).
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Closed loop: commands per batch (RESP: pipelined; etcd: that many concurrent gRPC
    /// requests, multiplexed on its HTTP/2 connection). Open loop: the most requests
    /// in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Route every request to the first target even if it is a Redis Cluster (redirects then
    /// count as errors and move the connection, as with a single server).
    #[arg(long)]
    pub no_routing: bool,
    /// write = SET, read = GET, mixed = 50/50 (etcd: Put, linearizable Range of one key).
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
    let matches = command
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
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
    let (scheme, targets) = parse_target(&args.target)?;
    check_scheme(args, scheme)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    runtime.block_on(drive(args, scheme, targets))
}

fn validate(args: &BenchArgs) -> Result<(), String> {
    let checks = [
        (args.connections == 0, "--connections must be at least 1"),
        (args.pipeline == 0, "--pipeline must be at least 1"),
        (args.keys == 0, "--keys must be at least 1"),
        (args.threads == 0, "--threads must be at least 1"),
        (args.repeat == 0, "--repeat must be at least 1"),
        (
            !args.seconds.is_finite() || args.seconds <= 0.0,
            "--seconds must be positive",
        ),
        (
            !args.warmup_seconds.is_finite() || args.warmup_seconds < 0.0,
            "--warmup-seconds must not be negative",
        ),
        (
            !args.zipf.is_finite() || args.zipf < 0.0,
            "--zipf must not be negative",
        ),
        (
            args.rate.is_some_and(|r| !r.is_finite() || r <= 0.0),
            "--rate must be positive",
        ),
    ];
    match checks.iter().find(|(bad, _)| *bad) {
        Some((_, message)) => Err((*message).to_owned()),
        None => Ok(()),
    }
}

/// What this build can do with the scheme.
fn check_scheme(args: &BenchArgs, scheme: Scheme) -> Result<(), String> {
    match scheme {
        Scheme::Resp => Ok(()),
        Scheme::Etcd if !cfg!(feature = "etcd") => Err(format!(
            "--target {}: this binary was built without etcd support; rebuild with --features etcd \
             (cargo build --release --features etcd; needs protoc: apt-get install protobuf-compiler)",
            args.target
        )),
        Scheme::Etcd if args.session => Err("--session is for ninesdb (RESP) targets, not etcd".to_owned()),
        Scheme::Etcd => Ok(()),
    }
}

/// `resp://a:1,b:2` or `a:1,resp://b:2` -> ["a:1", "b:2"] (RESP targets only).
pub fn parse_targets(target: &str) -> Result<Vec<String>, String> {
    match parse_target(target)? {
        (Scheme::Resp, targets) => Ok(targets),
        (Scheme::Etcd, _) => Err(format!("--target {target:?}: not a RESP target")),
    }
}

/// `resp://a:1,b:2`, `a:1,b:2` or `etcd://a:1,b:2` -> the scheme and ["a:1", "b:2"]. The scheme
/// of the first address applies to all; a later one must not differ.
pub fn parse_target(target: &str) -> Result<(Scheme, Vec<String>), String> {
    let scheme = if target.trim_start().starts_with("etcd://") {
        Scheme::Etcd
    } else {
        Scheme::Resp
    };
    let mut targets = Vec::new();
    for part in target.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (part_scheme, address) = match part.split_once("://") {
            Some(("resp", address)) => (Scheme::Resp, address),
            Some(("etcd", address)) => (Scheme::Etcd, address),
            Some((other, _)) => {
                return Err(format!(
                    "--target: unknown scheme {other:?} (resp:// or etcd://)"
                ))
            }
            None => (scheme, part),
        };
        if part_scheme != scheme {
            return Err(format!("--target {target:?}: mixes resp:// and etcd://"));
        }
        let address = address.trim_end_matches('/');
        if !address.contains(':') {
            return Err(format!("--target: {address:?} is not host:port"));
        }
        targets.push(address.to_owned());
    }
    if targets.is_empty() {
        return Err(format!("--target {target:?}: no host:port given"));
    }
    Ok((scheme, targets))
}

/// The async part of a run: probe, load, measure, merge.
async fn drive(args: &BenchArgs, scheme: Scheme, targets: Vec<String>) -> Result<Report, String> {
    // Fail fast with a clear message instead of N identical connect errors.
    let slots = match scheme {
        Scheme::Resp => probe_resp(args, &targets[0]).await?,
        Scheme::Etcd => {
            probe_etcd(&targets[0]).await?;
            None
        }
    };
    let routed_nodes = slots.as_ref().map(cluster::SlotMap::owners_count);
    let plan = Arc::new(make_plan(args, targets, slots));
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(show_progress(plan.clone())));
    let tasks: Vec<_> = (0..args.connections)
        .map(|id| match scheme {
            Scheme::Resp => tokio::spawn(load::connection(plan.clone(), id)),
            Scheme::Etcd => tokio::spawn(etcd_connection(plan.clone(), id)),
        })
        .collect();
    tokio::time::sleep_until(plan.start).await;
    let cpu_before = (
        cpu_total(&args.pids)?,
        stats::cpu_seconds(std::process::id()).ok(),
    );
    tokio::time::sleep_until(plan.end).await;
    let cpu_after = (
        cpu_total(&args.pids)?,
        stats::cpu_seconds(std::process::id()).ok(),
    );
    let mut total = Stats::new();
    for task in tasks {
        total.merge(
            &task
                .await
                .map_err(|e| format!("a connection task failed: {e}"))?,
        );
    }
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    let cpu = cpu_before
        .0
        .zip(cpu_after.0)
        .map(|(before, after)| after - before);
    let client_cpu = cpu_before
        .1
        .zip(cpu_after.1)
        .map(|(before, after)| after - before);
    let mut report = make_report(args, &plan, &total, cpu, client_cpu);
    report.routed_nodes = routed_nodes;
    Ok(report)
}

/// Checks the first address answers, and asks whether it is a cluster to route over.
async fn probe_resp(args: &BenchArgs, address: &str) -> Result<Option<cluster::SlotMap>, String> {
    drop(conn::connect(address).await?);
    if args.no_routing {
        return Ok(None);
    }
    Ok(cluster::probe(address).await)
}

#[cfg(feature = "etcd")]
async fn probe_etcd(endpoint: &str) -> Result<(), String> {
    etcd::probe(endpoint).await
}

#[cfg(not(feature = "etcd"))]
async fn probe_etcd(_endpoint: &str) -> Result<(), String> {
    unreachable!("check_scheme refuses etcd targets without the etcd feature")
}

#[cfg(feature = "etcd")]
async fn etcd_connection(plan: Arc<Plan>, id: usize) -> Stats {
    etcd::connection(plan, id).await
}

#[cfg(not(feature = "etcd"))]
async fn etcd_connection(_plan: Arc<Plan>, _id: usize) -> Stats {
    unreachable!("check_scheme refuses etcd targets without the etcd feature")
}

fn make_plan(args: &BenchArgs, targets: Vec<String>, slots: Option<cluster::SlotMap>) -> Plan {
    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(args.warmup_seconds);
    let end = start + Duration::from_secs_f64(args.seconds);
    Plan {
        targets,
        slots,
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
        interval: args
            .rate
            .map(|rate| Duration::from_secs_f64(args.connections as f64 / rate)),
        progress: Arc::new(AtomicU64::new(0)),
    }
}

/// Sum of the CPU seconds of `pids`; `None` when no pid was given.
fn cpu_total(pids: &[u32]) -> Result<Option<f64>, String> {
    if pids.is_empty() {
        return Ok(None);
    }
    pids.iter()
        .map(|pid| stats::cpu_seconds(*pid))
        .sum::<Result<f64, String>>()
        .map(Some)
}

/// One progress line on stderr per second (only on a terminal: logs stay clean).
async fn show_progress(plan: Arc<Plan>) {
    let mut last = 0;
    let mut tick =
        tokio::time::interval_at(plan.t0 + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        let now = tick.tick().await;
        let done = plan.progress.load(Ordering::Relaxed);
        let phase = if now < plan.start {
            "warm-up"
        } else if now < plan.end {
            "measuring"
        } else {
            "draining"
        };
        eprint!(
            "\r[{:>5.1}s {phase:<9}] {done} requests, {}/s    ",
            (now - plan.t0).as_secs_f64(),
            done - last
        );
        let _ = std::io::stderr().flush();
        last = done;
    }
}

fn make_report(
    args: &BenchArgs,
    plan: &Plan,
    total: &Stats,
    cpu: Option<f64>,
    client_cpu: Option<f64>,
) -> Report {
    // Open loop can answer measured requests after the window: divide by the real span.
    let span = total.last.map_or(plan.end, |last| last.max(plan.end)) - plan.start;
    let h = &total.histogram;
    let empty = h.is_empty();
    let q = |quantile: f64| {
        if empty {
            0
        } else {
            h.value_at_quantile(quantile)
        }
    };
    Report {
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
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
        redirects: total.redirects.clone(),
        routed_nodes: None,
        cpu_seconds: cpu,
        cpu_us_per_op: cpu
            .filter(|_| total.ops > 0)
            .map(|c| c * 1e6 / total.ops as f64),
        client_cpu_us_per_op: client_cpu
            .filter(|_| total.ops > 0)
            .map(|c| c * 1e6 / total.ops as f64),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_their_scheme_once() {
        assert_eq!(
            parse_target("resp://a:1,b:2").unwrap(),
            (Scheme::Resp, vec!["a:1".to_owned(), "b:2".to_owned()])
        );
        assert_eq!(
            parse_target("a:1, resp://b:2/").unwrap(),
            (Scheme::Resp, vec!["a:1".to_owned(), "b:2".to_owned()])
        );
        assert_eq!(
            parse_target("etcd://a:1,b:2").unwrap(),
            (Scheme::Etcd, vec!["a:1".to_owned(), "b:2".to_owned()])
        );
        assert!(parse_target("etcd://a:1,resp://b:2")
            .unwrap_err()
            .contains("mixes"));
        assert!(parse_target("http://a:1")
            .unwrap_err()
            .contains("unknown scheme"));
        assert!(parse_target("etcd://a")
            .unwrap_err()
            .contains("not host:port"));
        assert!(parse_target(" , ").unwrap_err().contains("no host:port"));
        assert!(parse_targets("etcd://a:1").is_err());
    }

    #[test]
    fn etcd_targets_need_the_feature_and_no_session() {
        let args = parse_args(["bench", "--target", "etcd://127.0.0.1:1", "--session"]).unwrap();
        let error = run_collect(&args).unwrap_err();
        if cfg!(feature = "etcd") {
            assert!(error.contains("--session"), "{error}");
        } else {
            assert!(error.contains("rebuild with --features etcd"), "{error}");
        }
    }
}
