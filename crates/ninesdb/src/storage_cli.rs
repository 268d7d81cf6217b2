//! `ninesdb storage ...`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use storage::bench::{raw_fsync, raw_sequential, wal_throughput, BenchRow};

#[derive(Debug, Args)]
pub struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
}

#[derive(Debug, Subcommand)]
enum StorageCommand {
    /// Measure the write-ahead log (1, 16, 256 concurrent writers of 64 B and 4 KiB records,
    /// each waiting until its record is durable) next to this disk's raw fsync and sequential
    /// rates. Writes to temporary directories and removes them.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Where to write (a fresh subdirectory is made and removed); default: the temp dir.
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub fn run(args: StorageArgs) -> anyhow::Result<ExitCode> {
    let StorageCommand::Bench(bench) = args.command;
    let base = bench
        .dir
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("ninesdb-wal-bench-{}", std::process::id()));
    let result = run_bench(&base, bench.seconds);
    let _ = std::fs::remove_dir_all(&base);
    result?;
    Ok(ExitCode::SUCCESS)
}

fn run_bench(base: &std::path::Path, seconds: f64) -> anyhow::Result<()> {
    println!("| run        | writers | bytes   | records   | syncs   | rec/sync  | records/s   | MB/s     |");
    println!("|------------|---------|---------|-----------|---------|-----------|-------------|----------|");
    let raw = base.join("raw");
    print_row("raw fsync", &raw_fsync(&raw, 64, seconds)?);
    print_row("raw fsync", &raw_fsync(&raw, 4096, seconds)?);
    // What a 256 x 4 KiB group commit costs the disk: 1 MiB appended, one fdatasync.
    print_row("raw fsync", &raw_fsync(&raw, 1 << 20, seconds)?);
    print_row("raw seq", &raw_sequential(&raw, seconds)?);
    for record_bytes in [64, 4096] {
        for writers in [1, 16, 256] {
            let dir = base.join(format!("wal-{writers}-{record_bytes}"));
            let row = wal_throughput(&dir, writers, record_bytes, seconds)?;
            std::fs::remove_dir_all(&dir)?;
            print_row("wal", &row);
        }
    }
    Ok(())
}

fn print_row(name: &str, row: &BenchRow) {
    println!(
        "| {name:<10} | {:>7} | {:>7} | {:>9} | {:>7} | {:>9.1} | {:>11.0} | {:>8.1} |",
        row.writers,
        row.record_bytes,
        row.records,
        row.syncs,
        row.records_per_sync,
        row.records_per_sec,
        row.mb_per_sec
    );
}
