// Goal: the real file system behaves like the simulated disk. Method: run the same script on FsDisk in a temp directory and on SimDisk; both recoveries equal the model.

mod common;

use common::{run, script};
use storage::{FsDisk, SimDisk, Wal, WalOptions};

fn options() -> WalOptions {
    WalOptions {
        segment_bytes_max: 1200,
        ..WalOptions::default()
    }
}

#[test]
fn fs_disk_recovers_the_same_state_as_sim_disk() {
    let dir = std::env::temp_dir().join(format!("ninesdb-storage-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut wal, recovered) = Wal::open(FsDisk::open(&dir).expect("fs"), options()).expect("open");
    assert!(recovered.groups.is_empty());
    let (model, failed) = run(&mut wal, &script());
    assert!(failed.is_none());
    let fs_bytes = wal.bytes_on_disk();
    drop(wal);
    let (wal, from_fs) = Wal::open(FsDisk::open(&dir).expect("fs"), options()).expect("reopen");
    assert_eq!(wal.bytes_on_disk(), fs_bytes);
    drop(wal);

    let (mut sim, _) = Wal::open(SimDisk::new(1, u64::MAX), options()).expect("open");
    run(&mut sim, &script());
    assert_eq!(sim.bytes_on_disk(), fs_bytes);
    let (_, from_sim) = Wal::open(sim.into_disk(), options()).expect("reopen");
    std::fs::remove_dir_all(&dir).expect("clean up");

    assert!(from_fs.damaged.is_empty(), "{:?}", from_fs.findings);
    assert_eq!(from_fs.groups, model.view());
    assert_eq!(from_fs.groups, from_sim.groups);
    assert_eq!(from_fs.findings, from_sim.findings);
}
