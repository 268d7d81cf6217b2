//! Real processes: `ninesdb ctl backup` while clients write, `ctl restore` into a cluster of
//! another shape, and a damaged backup refused.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{port_base, wait_for_leaders, Client, Cluster, Reply};

/// Writes per writer at most, and the writers.
const WRITES_MAX: usize = 20_000;
const WRITERS: usize = 4;

/// (success, stdout, stderr) of `ninesdb ctl --port <port> <args>`.
fn ctl(port: u16, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ninesdb"))
        .args(["ctl", "--port", &port.to_string()])
        .args(args)
        .output()
        .expect("ninesdb runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SETs `w<writer>:<i> <i>` until told to stop, recording each acknowledged key.
fn writer(id: usize, address: SocketAddr, stop: &AtomicBool, acked: &Mutex<Vec<String>>) {
    let mut client = Client::connect(address).expect("a node answers");
    for i in 0..WRITES_MAX {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let key = format!("w{id}:{i}");
        if let Ok(Reply::Simple(_)) =
            client.call(&[b"SET", key.as_bytes(), i.to_string().as_bytes()])
        {
            acked.lock().expect("no writer panicked").push(key);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("the backup") {
        let entry = entry.expect("an entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("a copy");
    }
}

// Goal: a backup taken while clients write holds every key acknowledged before it started,
// and restores into a cluster of another shape; a damaged file is refused by name. Method:
// 4 writers on a 3-node, 3-group cluster; `ctl backup` mid-way; restore into a 4-node,
// 2-group cluster and read every key acknowledged before the backup began; flip one byte of
// a copy of group 2's file and restore from that copy.
#[test]
fn backup_under_load_restores_into_another_shape() {
    let base = port_base(26051);
    let source = Cluster::start_with(3, base, "backup-source", &["--groups", "3"], |_| None);
    wait_for_leaders(source.clients[0], Duration::from_secs(20));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| {
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            let address = source.clients[id % source.clients.len()];
            std::thread::spawn(move || writer(id, address, &stop, &acked))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let before: Vec<String> = acked.lock().expect("no writer panicked").clone();
    let dir = source.data.join("backup");
    let (ok, out, err) = ctl(base, &["backup", "--to", dir.to_str().expect("a path")]);
    assert!(ok, "backup failed: {out}{err}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("a writer");
    }
    let after = acked.lock().expect("no writer panicked").len();
    println!(
        "{out}{} keys acknowledged before the backup, {after} in all",
        before.len()
    );
    assert!(before.len() > 100, "the writers wrote {}", before.len());
    redis_persistence_commands(source.clients[0]);
    assert!(out.contains("backup of 3 groups"), "{out}");

    let target_base = base + 200;
    let target = Cluster::start_with(4, target_base, "backup-target", &["--groups", "2"], |_| {
        None
    });
    wait_for_leaders(target.clients[0], Duration::from_secs(20));
    let started = Instant::now();
    let (ok, out, err) = ctl(
        target_base,
        &["restore", "--from", dir.to_str().expect("a path")],
    );
    assert!(ok, "restore failed: {out}{err}");
    println!("{out}restored in {:?}", started.elapsed());
    let mut client = Client::connect(target.clients[1]).expect("the target answers");
    let missing: Vec<&String> = before
        .iter()
        .filter(|key| {
            let want = key.split_once(':').map(|(_, i)| i.as_bytes().to_vec());
            client.call(&[b"GET", key.as_bytes()]).ok() != Some(Reply::Bulk(want))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} keys missing or wrong, e.g. {:?}",
        missing.len(),
        before.len(),
        &missing[..missing.len().min(5)]
    );

    refuses_a_damaged_copy(&dir, &source.data.join("damaged"), target_base);
}

/// SAVE, BGSAVE and LASTSAVE answer as Redis's do when nothing is left unsaved.
fn redis_persistence_commands(address: SocketAddr) {
    let mut client = Client::connect(address).expect("a node answers");
    let seconds = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    let before = seconds();
    let Ok(Reply::Integer(last)) = client.call(&[b"LASTSAVE"]) else {
        panic!("LASTSAVE answers an integer")
    };
    assert!(
        (before..=seconds()).contains(&last),
        "LASTSAVE {last}, now {before}"
    );
    assert_eq!(
        client.call(&[b"SAVE"]).ok(),
        Some(Reply::Simple("OK".into()))
    );
    assert_eq!(
        client.call(&[b"BGSAVE"]).ok(),
        Some(Reply::Simple("Background saving started".into()))
    );
}

/// Copies the backup, flips one byte of group 2's file, and checks the restore refuses it
/// naming the file and the group.
fn refuses_a_damaged_copy(dir: &Path, damaged: &Path, port: u16) {
    copy_dir(dir, damaged);
    let file = damaged.join("group-2.snapshot");
    let mut bytes = std::fs::read(&file).expect("group 2's file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).expect("a damaged copy");
    let (ok, out, err) = ctl(
        port,
        &["restore", "--from", damaged.to_str().expect("a path")],
    );
    assert!(!ok, "a damaged backup was restored: {out}");
    assert!(
        err.contains("group-2.snapshot") && err.contains("group 2"),
        "{err}"
    );
}

// Goal: `up --restore-from` builds a new cluster of another shape from a backup in one step.
// Method: a 3-node, 3-group cluster with keys of three types, `ctl backup`; then `up` with
// 4 nodes and 2 groups restoring it, read while `up` runs; `up` on a used data directory with
// --restore-from is refused.
#[test]
fn up_restores_a_backup_into_a_new_cluster() {
    let base = port_base(26051) + 20;
    let source = Cluster::start_with(3, base, "backup-up-source", &["--groups", "3"], |_| None);
    wait_for_leaders(source.clients[0], Duration::from_secs(20));
    let mut client = Client::connect(source.clients[0]).expect("a node answers");
    for i in 0..200 {
        let key = format!("k{i}");
        client.call(&[b"SET", key.as_bytes(), b"v"]).expect("SET");
    }
    client
        .call(&[b"RPUSH", b"list", b"a", b"b"])
        .expect("RPUSH");
    client
        .call(&[b"XADD", b"stream", b"1-1", b"f", b"v"])
        .expect("XADD");
    // Outside the source's directory, which goes with it.
    let dir = std::env::temp_dir().join(format!("ninesdb-test-up-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, out, err) = ctl(base, &["backup", "--to", dir.to_str().expect("a path")]);
    assert!(ok, "backup failed: {out}{err}");
    drop(source);

    let up_port = base + 200;
    let data = std::env::temp_dir().join(format!("ninesdb-test-up-restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let up = |seconds: &str| {
        Command::new(env!("CARGO_BIN_EXE_ninesdb"))
            .args([
                "up",
                "--nodes",
                "4",
                "--groups",
                "2",
                "--port",
                &up_port.to_string(),
            ])
            .args([
                "--seconds",
                seconds,
                "--restore-from",
                dir.to_str().expect("a path"),
            ])
            .arg("--data")
            .arg(&data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ninesdb up starts")
    };
    let mut first = up("8");
    let address = SocketAddr::from(([127, 0, 0, 1], up_port));
    let deadline = Instant::now() + Duration::from_secs(30);
    let restored = loop {
        let size = Client::connect(address).and_then(|mut c| c.call(&[b"DBSIZE"]).ok());
        if size == Some(Reply::Integer(202)) || Instant::now() > deadline {
            break size;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = first.wait();
    assert_eq!(restored, Some(Reply::Integer(202)));
    let again = up("1").wait().expect("up ends");
    assert!(
        !again.success(),
        "a second --restore-from into a used directory ran"
    );
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&dir);
}
