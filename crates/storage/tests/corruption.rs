// Goal: a bit flipped at rest is found, named, and confined to damaged groups; nothing corrupted is returned as healthy. Method: run the script, flip one random bit (many seeds) in a sealed segment or a snapshot file, reopen, compare undamaged groups with the model.

mod common;

use common::{run, script, Model};
use storage::{Recovered, SimDisk, Wal, WalOptions};

fn options() -> WalOptions {
    WalOptions {
        segment_bytes_max: 1200,
        ..WalOptions::default()
    }
}

fn written(seed: u64) -> (SimDisk, Model) {
    let (mut wal, _) = Wal::open(SimDisk::new(seed, u64::MAX), options()).expect("open");
    let (model, failed) = run(&mut wal, &script());
    assert!(failed.is_none());
    (wal.into_disk(), model)
}

fn healthy_groups_match(recovered: &Recovered, model: &Model) {
    let view = model.view();
    for (group, state) in &recovered.groups {
        if !recovered.damaged.contains(group) {
            assert_eq!(
                Some(state),
                view.get(group),
                "group {group} is not damaged but differs"
            );
        }
    }
    for group in view.keys() {
        assert!(
            recovered.groups.contains_key(group) || recovered.damaged.contains(group),
            "group {group} vanished silently"
        );
    }
}

#[test]
fn bit_flip_in_sealed_segment_damages_groups() {
    for seed in 0..200 {
        let (mut disk, model) = written(seed);
        let (path, offset) = disk
            .flip_bit_at_rest("wal/", true)
            .expect("a sealed segment");
        let (_, recovered) = Wal::open(disk, options()).expect("open");
        assert!(
            !recovered.damaged.is_empty(),
            "seed {seed}: flip in {path} at {offset} went unnoticed"
        );
        let named = recovered
            .findings
            .iter()
            .any(|f| f.contains(&path) && f.contains("offset"));
        assert!(
            named,
            "seed {seed}: findings do not name {path}: {:?}",
            recovered.findings
        );
        healthy_groups_match(&recovered, &model);
    }
}

#[test]
fn damage_persists_until_the_group_is_removed() {
    let (mut disk, _) = written(3);
    disk.flip_bit_at_rest("wal/", true)
        .expect("a sealed segment");
    let (mut wal, first) = Wal::open(disk, options()).expect("open");
    wal.queue(common::entries(9, 1, 2, 1, 10)).expect("queue");
    wal.flush().expect("flush");
    let (mut wal, second) = Wal::open(wal.into_disk(), options()).expect("reopen");
    assert_eq!(
        first.damaged, second.damaged,
        "damage forgotten by a reopen"
    );
    for &group in &first.damaged {
        wal.remove_group(group).expect("remove");
    }
    let (_, third) = Wal::open(wal.into_disk(), options()).expect("reopen");
    assert!(third.damaged.is_empty(), "{:?}", third.findings);
    assert!(third.groups.contains_key(&9));
}

#[test]
fn bit_flip_in_snapshot_is_found() {
    let mut damaged = 0;
    for seed in 0..100 {
        let (mut disk, model) = written(seed);
        let (path, offset) = disk.flip_bit_at_rest("snap/", false).expect("a snapshot");
        let (_, recovered) = Wal::open(disk, options()).expect("open");
        let named = recovered.findings.iter().any(|f| f.contains(&path));
        assert!(
            named,
            "seed {seed}: flip in {path} at {offset} not reported: {:?}",
            recovered.findings
        );
        damaged += usize::from(!recovered.damaged.is_empty());
        healthy_groups_match(&recovered, &model);
    }
    // Half the files are each group's newest: those flips must damage it.
    assert!(damaged > 20, "only {damaged} flips damaged a group");
}

#[test]
fn arbitrary_damage_never_panics_recovery() {
    // Many flips, cuts and garbage files at once: recovery must report, never panic.
    for seed in 0..100u64 {
        let (mut disk, _) = written(seed);
        for _ in 0..(seed % 7 + 1) {
            disk.flip_bit_at_rest("", false);
        }
        if seed % 3 == 0 {
            storage::Disk::write(
                &mut disk,
                "wal/0000000000000099.log",
                &vec![seed as u8; (seed * 13) as usize],
            )
            .expect("write");
        }
        if seed % 5 == 0 {
            storage::Disk::write(
                &mut disk,
                "snap/0000000000000001-0000000000000099.snap",
                b"NDBSNAP1junk",
            )
            .expect("write");
        }
        let opened =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Wal::open(disk, options())));
        let (_, recovered) = opened
            .expect("recovery panicked")
            .expect("recovery errored");
        assert!(
            !recovered.findings.is_empty(),
            "seed {seed}: damage went unreported"
        );
    }
}
