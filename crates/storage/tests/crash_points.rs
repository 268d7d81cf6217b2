// Goal: a crash after ANY mutating disk operation loses nothing acknowledged and invents nothing. Method: rerun a scripted workload, crash after the k-th operation for every k, recover, compare with a model.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{matches_one, run, run_with, script, Model};
use storage::{SimDisk, Wal, WalOptions};

const SEGMENT: u64 = 1200;
/// A record cap that splits most of the script's `Entries` into several records (its largest
/// entry, a joint membership change, takes 89 bytes with the entry count).
const RECORD_SPLIT: u64 = 100;

fn options() -> WalOptions {
    WalOptions {
        segment_bytes_max: SEGMENT,
        ..WalOptions::default()
    }
}

fn split_options() -> WalOptions {
    WalOptions {
        segment_bytes_max: SEGMENT,
        record_bytes_max: RECORD_SPLIT,
    }
}

/// Operations the full script takes on a disk seeded `seed`.
fn total_operations(seed: u64, options: &WalOptions) -> u64 {
    let (mut wal, _) =
        Wal::open(SimDisk::new(seed, u64::MAX), options.clone()).expect("open empty disk");
    let (_, failed) = run(&mut wal, &script());
    assert!(failed.is_none(), "script fails without a crash");
    wal.disk().operations()
}

/// Returns whether recovery cut a torn tail.
fn crash_at(seed: u64, k: u64, options: &WalOptions) -> bool {
    let split = options.record_bytes_max < WalOptions::default().record_bytes_max;
    let mut disk = SimDisk::new(seed, u64::MAX);
    disk.crash_after(k);
    let (mut wal, _) = Wal::open(disk, options.clone()).expect("open empty disk");
    let (acked, in_flight) = run_with(&mut wal, &script(), split);
    let candidates: Vec<Model> = in_flight.unwrap_or_else(|| vec![acked.clone()]);
    let mut disk = wal.into_disk();
    disk.crash();
    let opened = catch_unwind(AssertUnwindSafe(|| Wal::open(disk, options.clone())));
    let (wal, recovered) = opened
        .unwrap_or_else(|_| panic!("seed {seed} k {k}: recovery panicked"))
        .expect("recovery fails");
    assert!(
        recovered.damaged.is_empty(),
        "seed {seed} k {k}: a pure crash damaged {:?}: {:?}",
        recovered.damaged,
        recovered.findings
    );
    assert!(
        matches_one(&recovered, &candidates),
        "seed {seed} k {k}: recovered state is none of the acknowledged/in-flight states\nrecovered {:#?}\nfindings {:?}",
        recovered.groups,
        recovered.findings
    );
    // Recovering twice gives the same state: the repair itself is durable and idempotent.
    let mut disk = wal.into_disk();
    disk.crash();
    let (_, again) = Wal::open(disk, options.clone()).expect("second recovery");
    assert_eq!(
        again.groups, recovered.groups,
        "seed {seed} k {k}: second recovery differs"
    );
    assert!(again.damaged.is_empty());
    recovered
        .findings
        .iter()
        .any(|f| f.starts_with("torn tail"))
}

#[test]
fn every_crash_point_recovers_acknowledged_state() {
    let mut torn = 0;
    for seed in [1, 2, 3, 0xDEAD_BEEF] {
        let total = total_operations(seed, &options());
        assert!(total > 60, "script too short: {total} operations");
        for k in 1..=total {
            torn += usize::from(crash_at(seed, k, &options()));
        }
    }
    // The sweep must exercise torn appends, not only clean cuts.
    assert!(torn > 10, "only {torn} crash points left a torn tail");
}

#[test]
fn every_crash_point_recovers_acknowledged_state_with_split_records() {
    // Same sweep, with a record cap that splits a round's entries of a group into several
    // records: a crash may keep a prefix of them (never a gap, never damage).
    let mut torn = 0;
    for seed in [1, 2, 0xDEAD_BEEF] {
        let total = total_operations(seed, &split_options());
        for k in 1..=total {
            torn += usize::from(crash_at(seed, k, &split_options()));
        }
    }
    assert!(torn > 10, "only {torn} crash points left a torn tail");
}

#[test]
fn recovery_after_crash_can_continue_writing() {
    // Crash mid-way, recover, then run the whole script again on top: Raft semantics make the
    // rerun's records overwrite, and the final state equals the script's.
    let total = total_operations(7, &options());
    for k in [total / 3, total / 2, total - 3] {
        let mut disk = SimDisk::new(7, u64::MAX);
        disk.crash_after(k);
        let (mut wal, _) = Wal::open(disk, options()).expect("open");
        let _ = run(&mut wal, &script());
        let mut disk = wal.into_disk();
        disk.crash();
        let (mut wal, _) = Wal::open(disk, options()).expect("recover");
        let (model, failed) = run(&mut wal, &script());
        assert!(failed.is_none());
        let (_, recovered) = Wal::open(wal.into_disk(), options()).expect("reopen");
        assert!(recovered.damaged.is_empty(), "{:?}", recovered.findings);
        assert_eq!(recovered.groups, model.view(), "k {k}");
    }
}
