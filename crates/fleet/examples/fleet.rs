//! Runs the fleet model standalone: `cargo run --release -p fleet --example fleet -- --help`.
use clap::Parser;

/// The fleet model of ninesdb (same flags as `ninesdb fleet`).
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: fleet::FleetArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = fleet::run(&cli.args) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
