//! The fleet model: availability and durability of ninesdb-style replication at 10,000+
//! servers over years of operation.
//!
//! A Monte Carlo simulation of failure events (servers, disks, operators, racks, power
//! domains, datacenter power, datacenter disasters, rolling reboots) against shards placed
//! by four policies, with re-replication bounded by repair bandwidth. See
//! `docs/fleet/README-snippet.md` and the comments in `fleet.toml`.
#![deny(missing_docs)]

pub mod chart;
pub mod closed_form;
pub mod config;
pub mod error;
pub mod montecarlo;
mod output;
pub mod placement;
pub mod report;
pub mod sim;
pub mod stats;
pub mod topology;

use std::path::PathBuf;
use std::time::Instant;

pub use config::Config;
pub use error::FleetError;
pub use placement::Policy;

/// Command-line arguments of `ninesdb fleet`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FleetArgs {
    /// Configuration file (TOML). Without it the embedded defaults are used; get a copy to
    /// edit with --print-config.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the default fleet.toml (every value with its source) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Number of servers (racks scale along to keep the servers per rack, unless --racks is given).
    #[arg(long, value_name = "N")]
    pub servers: Option<u32>,
    /// Number of racks (top-of-rack switch domains).
    #[arg(long, value_name = "N")]
    pub racks: Option<u32>,
    /// Number of datacenters.
    #[arg(long, value_name = "N")]
    pub datacenters: Option<u32>,
    /// Number of shards (Raft groups).
    #[arg(long, value_name = "N")]
    pub shards: Option<u64>,
    /// Simulated years per run.
    #[arg(long, value_name = "YEARS")]
    pub years: Option<f64>,
    /// Runs per (policy, r): more runs, tighter confidence intervals.
    #[arg(long, value_name = "N")]
    pub runs: Option<u32>,
    /// Root seed: the same seed and config give the same output.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Placement policies, comma-separated: random, rack-aware, dc-aware, copysets.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub policies: Option<Vec<Policy>>,
    /// Replication factors, comma-separated (e.g. 2,3,4,5).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub replication: Option<Vec<u32>>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Directory for results.json and the SVG charts.
    #[arg(long, value_name = "DIR", default_value = "fleet-out")]
    pub out: PathBuf,
    /// Write no files (only print).
    #[arg(long)]
    pub no_files: bool,
    /// Print the results as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also sweep the cluster size (1,000 to 20,000 servers, 100 shards per server, r = 3 or
    /// the first --replication) for the "data-loss probability vs cluster size" chart
    /// (loss-vs-size.svg); takes several times longer.
    #[arg(long)]
    pub sweep: bool,
}

/// Loads the configuration and applies the command-line overrides.
pub fn load_config(args: &FleetArgs) -> Result<Config, FleetError> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| FleetError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Config::parse(&text)?
        }
        None => Config::default_config(),
    };
    let fleet = &mut config.fleet;
    if let Some(servers) = args.servers {
        if args.racks.is_none() && fleet.servers > 0 {
            let per_rack = (fleet.servers / fleet.racks).max(1);
            fleet.racks = (servers / per_rack).max(fleet.datacenters).max(1);
        }
        fleet.servers = servers;
    }
    fleet.racks = args.racks.unwrap_or(fleet.racks);
    fleet.datacenters = args.datacenters.unwrap_or(fleet.datacenters);
    fleet.shards = args.shards.unwrap_or(fleet.shards);
    fleet.years = args.years.unwrap_or(fleet.years);
    fleet.runs = args.runs.unwrap_or(fleet.runs);
    fleet.seed = args.seed.unwrap_or(fleet.seed);
    if let Some(policies) = &args.policies {
        fleet.policies.clone_from(policies);
    }
    if let Some(replication) = &args.replication {
        fleet.replication.clone_from(replication);
    }
    config.check()?;
    Ok(config)
}

/// Runs `ninesdb fleet`.
pub fn run(args: &FleetArgs) -> Result<(), FleetError> {
    if args.print_config {
        print!("{}", config::DEFAULT_CONFIG);
        return Ok(());
    }
    let config = load_config(args)?;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let started = Instant::now();
    let jobs = montecarlo::jobs_of(&config);
    let results = montecarlo::run_jobs(&config, &jobs, threads, "main")?;
    let summaries = report::summarize(&config, &jobs, &results);
    let sweep = if args.sweep {
        Some(output::size_sweep(&config, threads)?)
    } else {
        None
    };
    let elapsed = started.elapsed().as_secs_f64();
    let out_dir = if args.no_files {
        PathBuf::new()
    } else {
        args.out.clone()
    };
    let written = output::write_files(&out_dir, &config, &summaries, sweep.as_deref(), elapsed)?;
    if args.json {
        println!(
            "{}",
            output::json(&config, &summaries, sweep.as_deref(), elapsed)
        );
    } else {
        print!("{}", report::table(&config, &summaries));
        println!("wall time: {elapsed:.1} s on {threads} threads");
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
