//! Installing a leader's snapshot replaces the group's whole log, atomically.

use bytes::Bytes;
use raft::{Entry, HardState, Membership, Payload, Snapshot};
use storage::{Record, SimDisk, Wal, WalError, WalOptions};

const GROUP: u64 = 7;

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        term,
        index,
        payload: Payload::Command(Bytes::from(format!("t{term}i{index}"))),
    }
}

/// A group with entries 1..=10 of term 1, durable.
fn log_of_ten() -> Wal<SimDisk> {
    let (mut wal, _) = Wal::open(SimDisk::new(3, 1 << 30), WalOptions::default()).expect("opens");
    wal.queue(Record::HardState {
        group: GROUP,
        hard_state: HardState {
            term: 1,
            vote: Some(1),
            commit: 4,
        },
    })
    .expect("queue");
    wal.queue(Record::Entries {
        group: GROUP,
        entries: (1..=10).map(|i| entry(1, i)).collect(),
    })
    .expect("queue");
    wal.flush().expect("flushes");
    wal
}

fn leader_snapshot() -> Snapshot {
    Snapshot::new(
        8,
        2,
        Membership::with_voters([1, 2, 3]),
        Bytes::from_static(b"state at 8"),
    )
}

// Goal: a finished install never brings back entries of the replaced log. Method: entries
// 1..=10 of term 1, install a term-2 snapshot at 8, crash, recover: only the snapshot remains.
#[test]
fn finished_install_drops_the_replaced_log() {
    let mut wal = log_of_ten();
    wal.install_snapshot(GROUP, &leader_snapshot())
        .expect("installs");
    let mut disk = wal.into_disk();
    disk.crash();
    let (_, recovered) = Wal::open(disk, WalOptions::default()).expect("recovers");
    let group = &recovered.groups[&GROUP];
    assert_eq!(group.snapshot.as_ref().map(|s| s.meta.index), Some(8));
    assert!(
        group.entries.is_empty(),
        "stale entries above the snapshot came back: {:?}",
        group.entries
    );
    assert_eq!(group.hard_state.term, 1);
}

// Goal: a crash in the middle of an install leaves the old state whole. Method: crash after
// each disk operation of the install in turn; the log is either all ten entries (install not
// committed) or the snapshot alone (committed), never a mix, never damage.
#[test]
fn crash_during_install_is_all_or_nothing() {
    let start = log_of_ten().disk().operations();
    for crash_after in 1..=12 {
        let mut wal = log_of_ten();
        wal.disk_mut().crash_after(start + crash_after);
        let _ = wal.install_snapshot(GROUP, &leader_snapshot());
        let mut disk = wal.into_disk();
        disk.crash();
        let (_, recovered) = Wal::open(disk, WalOptions::default()).expect("recovers");
        assert!(
            recovered.damaged.is_empty(),
            "crash after {crash_after}: {:?}",
            recovered.findings
        );
        let group = &recovered.groups[&GROUP];
        match group.snapshot.as_ref().map(|s| s.meta.index) {
            Some(8) => assert!(
                group.entries.is_empty(),
                "crash after {crash_after}: mixed state"
            ),
            None => assert_eq!(
                group.entries,
                (1..=10).map(|i| entry(1, i)).collect::<Vec<_>>(),
                "crash after {crash_after}"
            ),
            other => panic!("crash after {crash_after}: unexpected snapshot {other:?}"),
        }
    }
}

// Goal: a snapshot above Raft's cap is refused cleanly, before anything is written. Method:
// a snapshot whose size claims one byte over raft::SNAPSHOT_SIZE_MAX (no 4 GiB needed: the cap
// is checked before the checksum) given to save and to install: a typed error, no disk
// operation (no install marker either), and the log recovers whole.
#[test]
fn snapshot_above_the_cap_is_refused_before_any_write() {
    let mut wal = log_of_ten();
    let before = wal.disk().operations();
    let mut huge = leader_snapshot();
    huge.meta.size = raft::SNAPSHOT_SIZE_MAX + 1;
    for install in [false, true] {
        let error = if install {
            wal.install_snapshot(GROUP, &huge)
        } else {
            wal.save_snapshot(GROUP, &huge)
        }
        .expect_err("refused");
        assert!(
            matches!(error, WalError::SnapshotTooLarge { group: GROUP, index: 8, bytes, max: raft::SNAPSHOT_SIZE_MAX } if bytes == raft::SNAPSHOT_SIZE_MAX + 1),
            "{error:?}"
        );
        assert_eq!(
            wal.disk().operations(),
            before,
            "install {install}: the refusal touched the disk"
        );
    }
    // Not above the cap but not intact: still the integrity error.
    let mut rotten = leader_snapshot();
    rotten.meta.checksum ^= 1;
    assert!(matches!(
        wal.save_snapshot(GROUP, &rotten),
        Err(WalError::BadSnapshot(_))
    ));
    wal.save_snapshot(GROUP, &leader_snapshot())
        .expect("a good snapshot still saves");
    let (_, recovered) = Wal::open(wal.into_disk(), WalOptions::default()).expect("recovers");
    assert!(recovered.damaged.is_empty(), "{:?}", recovered.findings);
    assert_eq!(
        recovered.groups[&GROUP]
            .snapshot
            .as_ref()
            .map(|s| s.meta.index),
        Some(8)
    );
}
