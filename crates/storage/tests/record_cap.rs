// Goal: the writer never writes a record recovery would call damage. Method: with a small record cap, a group's entries are split into records that each fit and are recovered whole; an entry too large for any record is refused with nothing queued or written, and the log still opens cleanly; the real cap's arithmetic (ENTRY_SIZE_MAX) matches the encoding.

mod common;

use bytes::Bytes;
use common::{entries, hard, run, script};
use raft::{Entry, Payload};
use storage::codec::{
    self, COMMAND_HEADER_LEN, ENTRIES_HEADER_LEN, ENTRY_HEADER_LEN, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use storage::{Disk, Record, SimDisk, Wal, WalError, WalOptions, ENTRY_SIZE_MAX, RECORD_SIZE_MAX};

const CAP: u64 = 300;

fn options() -> WalOptions {
    WalOptions {
        record_bytes_max: CAP,
        ..WalOptions::default()
    }
}

fn command(index: u64, size: usize) -> Entry {
    Entry {
        term: 1,
        index,
        payload: Payload::Command(Bytes::from(vec![index as u8; size])),
    }
}

/// Every record's payload length in every segment, in order.
fn record_lengths(disk: &SimDisk) -> Vec<u64> {
    let mut lengths = Vec::new();
    for name in disk.list("wal").expect("list") {
        let buf = disk.read(&format!("wal/{name}")).expect("read");
        let mut pos = SEGMENT_HEADER_LEN;
        while pos < buf.len() {
            let len =
                u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as u64;
            lengths.push(len);
            pos += RECORD_HEADER_LEN + len as usize;
        }
    }
    lengths
}

#[test]
fn entries_are_split_at_the_cap_and_recovered_whole() {
    let (mut wal, _) = Wal::open(SimDisk::new(1, u64::MAX), options()).expect("open");
    wal.queue(hard(1, 1, Some(1), 0)).expect("queue");
    // 40 entries of 60-byte commands (81 bytes each encoded): 3 fit a 300-byte record.
    let many: Vec<Entry> = (1..=40).map(|index| command(index, 60)).collect();
    wal.queue(Record::Entries {
        group: 1,
        entries: many.clone(),
    })
    .expect("queue");
    // An entry that fills a record exactly: the cap is inclusive.
    let exact = command(
        41,
        (CAP - ENTRIES_HEADER_LEN - ENTRY_HEADER_LEN - COMMAND_HEADER_LEN) as usize,
    );
    assert_eq!(ENTRIES_HEADER_LEN + codec::entry_encoded_len(&exact), CAP);
    wal.queue(Record::Entries {
        group: 1,
        entries: vec![exact.clone()],
    })
    .expect("an entry of exactly the cap fits");
    let stats = wal.flush().expect("flush");
    assert_eq!(
        stats.records,
        1 + 14 + 1,
        "hard state, 40 entries by 3, the exact one"
    );
    let lengths = record_lengths(wal.disk());
    assert!(
        lengths.iter().all(|&len| len <= CAP),
        "a record above the cap: {lengths:?}"
    );
    assert!(
        lengths.contains(&CAP),
        "no record filled to the cap: {lengths:?}"
    );

    // Read back with the default cap: split records are today's records, the format is the same.
    let (_, recovered) = Wal::open(wal.into_disk(), WalOptions::default()).expect("reopen");
    assert!(
        recovered.damaged.is_empty() && recovered.findings.is_empty(),
        "{:?}",
        recovered.findings
    );
    let mut expected = many;
    expected.push(exact);
    assert_eq!(recovered.groups[&1].entries, expected);
    assert_eq!(recovered.groups[&1].hard_state.term, 1);
}

#[test]
fn the_script_splits_and_recovers_like_the_model() {
    let (mut wal, _) = Wal::open(
        SimDisk::new(2, u64::MAX),
        WalOptions {
            record_bytes_max: 100,
            ..options()
        },
    )
    .expect("open");
    let (model, failed) = run(&mut wal, &script());
    assert!(failed.is_none());
    let lengths = record_lengths(wal.disk());
    assert!(
        lengths.iter().all(|&len| len <= 100),
        "a record above the cap: {lengths:?}"
    );
    let (_, recovered) = Wal::open(wal.into_disk(), WalOptions::default()).expect("reopen");
    assert!(recovered.damaged.is_empty(), "{:?}", recovered.findings);
    assert_eq!(recovered.groups, model.view());
}

#[test]
fn an_entry_too_large_for_any_record_is_refused_before_anything_is_written() {
    let (mut wal, _) = Wal::open(SimDisk::new(3, u64::MAX), options()).expect("open");
    wal.queue(hard(1, 1, Some(1), 0)).expect("queue");
    wal.queue(entries(1, 1, 3, 1, 20)).expect("queue");
    wal.flush().expect("flush");
    let operations = wal.disk().operations();
    let used = wal.disk().used_bytes();

    // The too-large entry sits between two that fit: none of the call is queued.
    let refused = vec![command(4, 10), command(5, CAP as usize), command(6, 10)];
    let error = wal
        .queue(Record::Entries {
            group: 1,
            entries: refused,
        })
        .expect_err("refused");
    let needed = ENTRIES_HEADER_LEN + ENTRY_HEADER_LEN + COMMAND_HEADER_LEN + CAP;
    match error {
        WalError::RecordTooLarge {
            group: 1,
            index: 5,
            bytes,
            max: CAP,
        } => assert_eq!(bytes, needed),
        other => panic!("wrong error: {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        format!("entry 5 of group 1 needs a wal record of {needed} bytes, above the cap of {CAP}")
    );
    // A gap is refused too (recovery calls non-consecutive entries damage).
    let gapped = vec![command(4, 10), command(6, 10)];
    let error = wal
        .queue(Record::Entries {
            group: 1,
            entries: gapped,
        })
        .expect_err("refused");
    assert!(
        matches!(
            error,
            WalError::EntriesNotConsecutive {
                group: 1,
                previous: 4,
                index: 6
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        wal.flush().expect("nothing to flush").records,
        0,
        "the refused calls queued something"
    );
    assert_eq!(
        wal.disk().operations(),
        operations,
        "the refusal touched the disk"
    );
    assert_eq!(wal.disk().used_bytes(), used);

    // The log goes on: the caller answers its client and proposes the next entries.
    wal.queue(entries(1, 4, 2, 1, 20)).expect("queue");
    wal.flush().expect("flush");
    let (_, recovered) = Wal::open(wal.into_disk(), options()).expect("reopen");
    assert!(
        recovered.damaged.is_empty() && recovered.findings.is_empty(),
        "{:?}",
        recovered.findings
    );
    let indexes: Vec<u64> = recovered.groups[&1]
        .entries
        .iter()
        .map(|e| e.index)
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5]);
}

#[test]
fn entry_size_max_fills_a_record_of_the_real_cap() {
    // calloc'd: neither test writes these 64 MiB.
    let largest = command(1, ENTRY_SIZE_MAX as usize);
    assert_eq!(
        ENTRIES_HEADER_LEN + codec::entry_encoded_len(&largest),
        RECORD_SIZE_MAX
    );
    let (mut wal, _) = Wal::open(SimDisk::new(4, u64::MAX), WalOptions::default()).expect("open");
    let too_large = command(7, ENTRY_SIZE_MAX as usize + 1);
    let error = wal
        .queue(Record::Entries {
            group: 9,
            entries: vec![too_large],
        })
        .expect_err("refused");
    assert!(
        matches!(error, WalError::RecordTooLarge { group: 9, index: 7, bytes, max: RECORD_SIZE_MAX } if bytes == RECORD_SIZE_MAX + 1),
        "{error:?}"
    );
    // A cap above RECORD_SIZE_MAX is lowered to it: recovery would refuse larger records.
    let (mut wal, _) = Wal::open(
        wal.into_disk(),
        WalOptions {
            record_bytes_max: u64::MAX,
            ..WalOptions::default()
        },
    )
    .expect("open");
    let too_large = command(7, ENTRY_SIZE_MAX as usize + 1);
    let error = wal
        .queue(Record::Entries {
            group: 9,
            entries: vec![too_large],
        })
        .expect_err("refused");
    assert!(
        matches!(
            error,
            WalError::RecordTooLarge {
                max: RECORD_SIZE_MAX,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn entry_encoded_len_matches_the_encoding() {
    let Record::Entries { entries, .. } = entries(1, 1, 14, 1, 33) else {
        unreachable!()
    };
    for entry in &entries {
        let mut out = Vec::new();
        codec::put_entries(&mut out, std::slice::from_ref(entry));
        assert_eq!(
            out.len() as u64,
            ENTRIES_HEADER_LEN + codec::entry_encoded_len(entry),
            "{entry:?}"
        );
    }
}
