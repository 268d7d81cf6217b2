//! Result files: JSON and charts, and the cluster-size sweep behind one of the charts.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::chart::{LineChart, Series};
use crate::config::Config;
use crate::error::FleetError;
use crate::montecarlo;
use crate::report::{self, Summary};

/// Cluster sizes of the sweep, with 100 shards per server (the default's density).
const SWEEP_SERVERS: [u32; 5] = [1_000, 2_500, 5_000, 10_000, 20_000];
const SWEEP_SHARDS_PER_SERVER: u64 = 100;

/// Runs the configured policies at several cluster sizes, keeping 20 servers per rack and
/// 100 shards per server (so the data per server stays the same), with one replication
/// factor: 3 if configured, else the first one (a sweep over every r would cost too much).
pub fn size_sweep(config: &Config, threads: usize) -> Result<Vec<Summary>, FleetError> {
    let replication = &config.fleet.replication;
    let r = if replication.contains(&3) {
        3
    } else {
        replication[0]
    };
    let mut summaries = Vec::new();
    for servers in SWEEP_SERVERS {
        let mut sized = config.clone();
        sized.fleet.replication = vec![r];
        sized.fleet.servers = servers;
        sized.fleet.racks = (servers / 20).max(sized.fleet.datacenters);
        sized.fleet.shards = u64::from(servers) * SWEEP_SHARDS_PER_SERVER;
        sized.check()?;
        let jobs = montecarlo::jobs_of(&sized);
        let results =
            montecarlo::run_jobs(&sized, &jobs, threads, &format!("sweep {servers} servers"))?;
        summaries.extend(report::summarize(&sized, &jobs, &results));
    }
    Ok(summaries)
}

#[derive(Serialize)]
struct Document<'a> {
    config: ConfigEcho<'a>,
    wall_seconds: f64,
    results: &'a [Summary],
    size_sweep: Option<&'a [Summary]>,
}

#[derive(Serialize)]
struct ConfigEcho<'a> {
    servers: u32,
    racks: u32,
    datacenters: u32,
    shards: u64,
    years: f64,
    runs: u32,
    seed: u64,
    replication: &'a [u32],
}

/// The results as a JSON document.
pub fn json(
    config: &Config,
    summaries: &[Summary],
    sweep: Option<&[Summary]>,
    wall_seconds: f64,
) -> String {
    let fleet = &config.fleet;
    let document = Document {
        config: ConfigEcho {
            servers: fleet.servers,
            racks: fleet.racks,
            datacenters: fleet.datacenters,
            shards: fleet.shards,
            years: fleet.years,
            runs: fleet.runs,
            seed: fleet.seed,
            replication: &fleet.replication,
        },
        wall_seconds,
        results: summaries,
        size_sweep: sweep,
    };
    // Serializing plain numbers and strings cannot fail; non-finite floats become null.
    serde_json::to_string_pretty(&document)
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}

/// One series per policy (and per r, when `split_by_r` and several r were run).
fn by_policy(
    summaries: &[Summary],
    split_by_r: bool,
    x: impl Fn(&Summary) -> f64,
    y: impl Fn(&Summary) -> f64,
) -> Vec<Series> {
    let several_r = summaries.iter().any(|s| s.r != summaries[0].r);
    let mut series: Vec<Series> = Vec::new();
    for summary in summaries {
        let name = if split_by_r && several_r {
            format!("{} (r={})", summary.policy.name(), summary.r)
        } else {
            summary.policy.name().to_owned()
        };
        match series.iter_mut().find(|s| s.name == name) {
            Some(existing) => existing.points.push((x(summary), y(summary))),
            None => series.push(Series {
                name,
                points: vec![(x(summary), y(summary))],
            }),
        }
    }
    series
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, FleetError> {
    std::fs::write(&path, text).map_err(|source| FleetError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

/// Writes results.json, nines-vs-r.svg and (with a sweep) loss-vs-size.svg into `dir`.
/// An empty `dir` writes nothing.
pub fn write_files(
    dir: &Path,
    config: &Config,
    summaries: &[Summary],
    sweep: Option<&[Summary]>,
    wall_seconds: f64,
) -> Result<Vec<PathBuf>, FleetError> {
    if dir.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|source| FleetError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let fleet = &config.fleet;
    let mut written = vec![write(
        dir.join("results.json"),
        &json(config, summaries, sweep, wall_seconds),
    )?];
    let nines = LineChart {
        title: format!(
            "Availability nines vs replication factor ({} servers, {} shards)",
            fleet.servers, fleet.shards
        ),
        x_label: "replication factor r".into(),
        y_label: "nines = -log10(unavailable shard-time fraction)".into(),
        x_log: false,
        x_integer: true,
        y_log: false,
        series: by_policy(summaries, false, |s| f64::from(s.r), |s| s.nines.value),
        note: format!(
            "{} years x {} runs per point, seed {}; points with no unavailability seen are omitted",
            fleet.years, fleet.runs, fleet.seed
        ),
    };
    written.push(write(dir.join("nines-vs-r.svg"), &nines.to_svg())?);
    if let Some(sweep) = sweep {
        let loss = LineChart {
            title: "P(losing any shard in a year) vs cluster size".into(),
            x_label: "servers (100 shards per server, 20 per rack)".into(),
            y_label: "P(data loss per year)".into(),
            x_log: true,
            x_integer: false,
            y_log: true,
            series: by_policy(
                sweep,
                true,
                |s| f64::from(s.servers),
                |s| s.p_loss_per_year.value,
            ),
            note: format!(
                "{} years x {} runs per point, seed {}; zero estimates are omitted",
                fleet.years, fleet.runs, fleet.seed
            ),
        };
        written.push(write(dir.join("loss-vs-size.svg"), &loss.to_svg())?);
    }
    Ok(written)
}
