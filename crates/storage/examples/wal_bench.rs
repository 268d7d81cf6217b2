//! Prints the WAL throughput table: `cargo run --release -p storage --example wal_bench [seconds]`.
//! Uses fresh directories under the system temp dir and removes them.

use storage::bench::{raw_fsync, raw_sequential, wal_throughput, BenchRow};

fn print(name: &str, row: &BenchRow) {
    println!(
        "| {name:<10} | {:>7} | {:>6} | {:>9} | {:>7} | {:>9.1} | {:>11.0} | {:>8.1} |",
        row.writers, row.record_bytes, row.records, row.syncs, row.records_per_sync, row.records_per_sec, row.mb_per_sec
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let base = std::env::temp_dir().join(format!("ninesdb-wal-bench-{}", std::process::id()));
    println!("| run        | writers | bytes  | records   | syncs   | rec/sync  | records/s   | MB/s     |");
    println!("|------------|---------|--------|-----------|---------|-----------|-------------|----------|");
    let dir = base.join("raw");
    print("raw_fsync", &raw_fsync(&dir, 64, seconds)?);
    print("raw_fsync", &raw_fsync(&dir, 4096, seconds)?);
    // What a 256 x 4 KiB group commit costs the disk: 1 MiB appended, one fdatasync.
    print("raw_fsync", &raw_fsync(&dir, 1 << 20, seconds)?);
    print("raw_seq", &raw_sequential(&dir, seconds)?);
    for record_bytes in [64, 4096] {
        for writers in [1, 16, 256] {
            let dir = base.join(format!("wal-{writers}-{record_bytes}"));
            let row = wal_throughput(&dir, writers, record_bytes, seconds)?;
            std::fs::remove_dir_all(&dir)?;
            print("wal", &row);
        }
    }
    std::fs::remove_dir_all(&base)?;
    Ok(())
}
