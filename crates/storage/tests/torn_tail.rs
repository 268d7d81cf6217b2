// Goal: a crash in the middle of an append leaves a torn tail that recovery cuts durably, after which writing resumes. Method: crash right after an unsynced append on many seeds, reopen, flush more, reopen twice.

mod common;

use common::{entries, hard};
use storage::{Disk, SimDisk, Wal, WalOptions};

#[test]
fn torn_tail_is_truncated_and_writing_resumes() {
    let mut torn_seen = 0;
    for seed in 0..40 {
        let (mut wal, _) =
            Wal::open(SimDisk::new(seed, u64::MAX), WalOptions::default()).expect("open");
        wal.queue(hard(1, 1, Some(1), 0)).expect("queue");
        wal.queue(entries(1, 1, 5, 1, 100)).expect("queue");
        wal.flush().expect("flush");
        // The next append happens, its sync does not: the machine dies in between.
        let next = wal.disk().operations() + 1;
        wal.disk_mut().crash_after(next);
        wal.queue(entries(1, 6, 5, 1, 100)).expect("queue");
        wal.queue(entries(1, 11, 5, 1, 100)).expect("queue");
        assert!(wal.flush().is_err());
        let mut disk = wal.into_disk();
        disk.crash();
        let (mut wal, recovered) = Wal::open(disk, WalOptions::default()).expect("recover");
        assert!(recovered.damaged.is_empty(), "{:?}", recovered.findings);
        let log = &recovered.groups[&1].entries;
        assert!(
            [5, 10, 15].contains(&log.len()),
            "seed {seed}: a partial record was returned: {} entries",
            log.len()
        );
        if let Some(finding) = recovered
            .findings
            .iter()
            .find(|f| f.starts_with("torn tail"))
        {
            assert!(
                finding.contains("wal/0000000000000001.log at offset"),
                "{finding}"
            );
            torn_seen += 1;
        }
        // Writing continues after the repair, and the state is stable across reopens.
        let next_index = log.len() as u64 + 1;
        wal.queue(entries(1, next_index, 3, 2, 10)).expect("queue");
        wal.flush().expect("flush after recovery");
        let (wal, once) = Wal::open(wal.into_disk(), WalOptions::default()).expect("reopen");
        let (wal, twice) = Wal::open(wal.into_disk(), WalOptions::default()).expect("reopen again");
        assert_eq!(once.groups, twice.groups);
        assert!(
            once.findings.iter().all(|f| !f.starts_with("torn")),
            "{:?}",
            once.findings
        );
        assert_eq!(once.groups[&1].entries.len() as u64, next_index + 2);
        assert_eq!(wal.disk().list("wal").expect("list").len(), 2);
    }
    assert!(torn_seen > 20, "only {torn_seen} seeds tore the append");
}
