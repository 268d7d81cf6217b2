// Goal: running out of space loses nothing: flush reports Full, keeps the batch queued, and succeeds once space is back. Method: a SimDisk with a tiny capacity, raised later; reopen and compare.

mod common;

use common::{entries, hard, snapshot};
use storage::{DiskError, SimDisk, Wal, WalError, WalOptions};

#[test]
fn full_disk_keeps_records_queued() {
    let (mut wal, _) = Wal::open(
        SimDisk::new(1, 2_000),
        WalOptions {
            segment_bytes_max: 1_000,
            ..WalOptions::default()
        },
    )
    .expect("open");
    wal.queue(hard(1, 1, Some(1), 0)).expect("queue");
    wal.queue(entries(1, 1, 4, 1, 100)).expect("queue");
    wal.flush().expect("fits");
    wal.queue(entries(1, 5, 20, 1, 100)).expect("queue");
    wal.queue(hard(1, 2, Some(2), 3)).expect("queue");
    let error = wal.flush().expect_err("must not fit");
    assert!(
        matches!(error, WalError::Disk(DiskError::Full { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("disk full"), "{error}");
    // A retry without space fails the same way and loses nothing either.
    assert!(matches!(
        wal.flush(),
        Err(WalError::Disk(DiskError::Full { .. }))
    ));
    let error = wal.save_snapshot(1, &snapshot(4, 1, 1)).map(|_| ()).err();
    wal.disk_mut().set_capacity(1 << 20);
    let stats = wal.flush().expect("space is back");
    assert_eq!(stats.records, 2);
    if error.is_some() {
        wal.save_snapshot(1, &snapshot(4, 1, 1))
            .expect("snapshot now fits");
    }
    let (_, recovered) = Wal::open(wal.into_disk(), WalOptions::default()).expect("reopen");
    let group = &recovered.groups[&1];
    assert_eq!(group.hard_state.term, 2);
    assert_eq!(group.snapshot.as_ref().map(|s| s.meta.index), Some(4));
    assert_eq!(group.entries.first().map(|e| e.index), Some(5));
    assert_eq!(group.entries.last().map(|e| e.index), Some(24));
    assert!(recovered.damaged.is_empty());
}
