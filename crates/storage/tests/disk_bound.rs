// Goal: disk use stays bounded under an endless stream of entries with periodic snapshots. Method: 200k entries of 100 bytes over 4 groups on a SimDisk with small segments; assert the bound after every flush.

mod common;

use bytes::Bytes;
use raft::{Entry, Membership, Payload, Snapshot};
use storage::{Record, SimDisk, Wal, WalOptions};

const GROUPS: u64 = 4;
const ENTRIES: u64 = 200_000;
const PER_FLUSH: u64 = 10;
const SNAPSHOT_EVERY: u64 = 1_000;
const SEGMENT: u64 = 256 << 10;
const SNAPSHOT_DATA: usize = 1_000;

#[test]
fn disk_use_stays_bounded_with_periodic_snapshots() {
    let (mut wal, _) = Wal::open(
        SimDisk::new(5, u64::MAX),
        WalOptions {
            segment_bytes_max: SEGMENT,
            ..WalOptions::default()
        },
    )
    .expect("open");
    // Uncovered entries span at most SNAPSHOT_EVERY per group (~500 KiB over 4 groups, two
    // segments) plus the segment being filled and one partly covered: 4 segments, each at
    // most one flush over the limit, plus 2 snapshot files per group.
    let flush_max = GROUPS * PER_FLUSH * 130;
    let bound = 4 * (SEGMENT + flush_max) + GROUPS * 2 * (SNAPSHOT_DATA as u64 + 200);
    let mut last = [0u64; GROUPS as usize];
    let mut peak = 0;
    let mut written = 0;
    while written < ENTRIES {
        for group in 0..GROUPS {
            let first = last[group as usize] + 1;
            let entries = (first..first + PER_FLUSH)
                .map(|index| Entry {
                    term: 1,
                    index,
                    payload: Payload::Command(Bytes::from(vec![7u8; 100])),
                })
                .collect();
            wal.queue(Record::Entries { group, entries })
                .expect("queue");
            last[group as usize] += PER_FLUSH;
            written += PER_FLUSH;
        }
        wal.flush().expect("flush");
        for group in 0..GROUPS {
            // Staggered so that groups do not all snapshot in the same flush.
            let index = last[group as usize];
            #[allow(clippy::manual_is_multiple_of)] // rust-version 1.85 predates is_multiple_of
            if (index + group * SNAPSHOT_EVERY / GROUPS) % SNAPSHOT_EVERY == 0 {
                let snapshot = Snapshot::new(
                    index,
                    1,
                    Membership::with_voters([1, 2, 3]),
                    Bytes::from(vec![1u8; SNAPSHOT_DATA]),
                );
                wal.save_snapshot(group, &snapshot).expect("snapshot");
            }
        }
        let used = wal.bytes_on_disk();
        assert_eq!(
            used,
            wal.disk().used_bytes(),
            "bookkeeping disagrees with the disk"
        );
        assert!(
            used <= bound,
            "{used} bytes on disk after {written} entries, bound {bound}"
        );
        peak = peak.max(used);
    }
    assert!(peak > SEGMENT, "the test never filled a segment");
    let (_, recovered) = Wal::open(
        wal.into_disk(),
        WalOptions {
            segment_bytes_max: SEGMENT,
            ..WalOptions::default()
        },
    )
    .expect("reopen");
    assert!(recovered.damaged.is_empty());
    for group in 0..GROUPS {
        let state = &recovered.groups[&group];
        let covered = state.snapshot.as_ref().map_or(0, |s| s.meta.index);
        assert_eq!(covered + state.entries.len() as u64, last[group as usize]);
    }
}
