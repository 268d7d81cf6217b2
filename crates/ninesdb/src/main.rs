//! The `ninesdb` command line.

mod backup_cli;
mod certs_cli;
mod ctl_cli;
mod lab_cli;
mod loader;
mod pipeline;
mod rdb_cli;
mod rdb_file;
mod scenario_cli;
mod server_cli;
mod storage_cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// ninesdb: a Redis-compatible key-value store that keeps answering through datacenter faults,
/// and the lab that shows it.
#[derive(Debug, Parser)]
#[command(name = "ninesdb", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a local cluster of separate server processes; stops them all on Ctrl-C.
    Up(server_cli::UpArgs),
    /// Run one server (a replica) of a cluster.
    Server(server_cli::ServerArgs),
    /// Make a throwaway CA with node and client certificates, to try TLS (`up --tls` makes
    /// its own).
    Certs(certs_cli::CertsArgs),
    /// Look at a running cluster (`status`: topology, health, groups needing attention) and
    /// act on it (`drain` a node for maintenance).
    Ctl(ctl_cli::CtlArgs),
    /// The deterministic simulator: fuzz the Raft core under faults, replay a seed, benchmark.
    Lab(lab_cli::LabArgs),
    /// Monte Carlo model of a large fleet over years: data loss and availability per placement.
    Fleet(fleet::FleetArgs),
    /// The storage engine: benchmark the write-ahead log against this disk.
    Storage(storage_cli::StorageArgs),
    /// Load generator for Redis-protocol targets (ninesdb, redis-server, a Redis Cluster) and
    /// etcd (with --features etcd): closed or open loop, HDR latency percentiles, errors by
    /// kind, server CPU per operation.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Lab(args) => lab_cli::run(args),
        Command::Up(args) => server_cli::run_up(args),
        Command::Server(args) => server_cli::run_server(args),
        Command::Certs(args) => certs_cli::run(&args),
        Command::Ctl(args) => ctl_cli::run(args),
        Command::Storage(args) => storage_cli::run(args),
        Command::Bench(args) => {
            bench::run(&args).map_err(anyhow::Error::msg)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Fleet(args) => {
            fleet::run(&args).map_err(|error| anyhow::anyhow!("{error}"))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
