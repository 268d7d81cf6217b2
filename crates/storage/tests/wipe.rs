// Goal: after the operator deletes the data directory, the log opens empty. Method: write, wipe the SimDisk, reopen.

mod common;

use common::{run, script};
use storage::{SimDisk, Wal, WalOptions};

#[test]
fn wiped_disk_opens_empty() {
    let (mut wal, _) = Wal::open(SimDisk::new(1, u64::MAX), WalOptions::default()).expect("open");
    run(&mut wal, &script());
    let mut disk = wal.into_disk();
    disk.wipe();
    assert_eq!(disk.used_bytes(), 0);
    let (wal, recovered) = Wal::open(disk, WalOptions::default()).expect("open wiped");
    assert!(recovered.groups.is_empty());
    assert!(recovered.damaged.is_empty());
    assert_eq!(wal.bytes_on_disk(), 0);
}
