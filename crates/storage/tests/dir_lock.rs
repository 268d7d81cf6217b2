// Goal: a second process cannot open a data directory in use. Method: two DirLock::acquire on one directory (an flock is per open file, so one process shows it): the second fails naming the directory and the holder's PID; after the first is dropped, acquiring succeeds.

use storage::fs::LOCK_FILE;
use storage::DirLock;

#[test]
fn a_held_data_dir_is_refused_until_released() {
    let dir = std::env::temp_dir().join(format!("ninesdb-dir-lock-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = DirLock::acquire(&dir).expect("first lock");
    let pid = std::process::id().to_string();
    let written = std::fs::read_to_string(dir.join(LOCK_FILE)).expect("lock file");
    assert_eq!(written.trim(), pid);
    assert_eq!(first.path(), dir.join(LOCK_FILE));

    let error = DirLock::acquire(&dir).expect_err("second lock refused");
    assert!(
        error.contains(&dir.display().to_string()),
        "no directory in: {error}"
    );
    assert!(
        error.contains(&format!("in use by process {pid}")),
        "no holder PID in: {error}"
    );
    // The refused attempt did not wipe the holder's PID.
    assert_eq!(
        std::fs::read_to_string(dir.join(LOCK_FILE))
            .expect("lock file")
            .trim(),
        pid
    );

    drop(first);
    let again = DirLock::acquire(&dir).expect("lock after release");
    drop(again);
    std::fs::remove_dir_all(&dir).expect("clean up");
}
