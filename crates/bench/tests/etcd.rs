//! The etcd target against a real one-member etcd on loopback (client port 19031, peer 19032).
//! Goal: writes, then linearizable reads of the keys written, report ops and no errors, and an
//! unreachable endpoint fails the run with one clear message. Needs the `etcd` feature; skips,
//! saying so, when the etcd binary is missing. About 5 s.
#![cfg(feature = "etcd")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Etcd {
    server: Child,
    dir: std::path::PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn args(target: &str, extra: &[&str]) -> bench::BenchArgs {
    let mut argv = vec![
        "bench",
        "--target",
        target,
        "--warmup-seconds",
        "0",
        "--keys",
        "100",
    ];
    argv.extend_from_slice(extra);
    bench::parse_args(argv).unwrap()
}

#[test]
fn writes_and_linearizable_reads() {
    if Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("SKIPPED: the etcd binary is needed (apt-get install etcd-server)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("bench-etcd-test-{}", std::process::id()));
    let server = Command::new("etcd")
        .args([
            "--name",
            "s1",
            "--listen-client-urls",
            "http://127.0.0.1:19031",
            "--advertise-client-urls",
            "http://127.0.0.1:19031",
        ])
        .args([
            "--listen-peer-urls",
            "http://127.0.0.1:19032",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:19032",
        ])
        .args([
            "--initial-cluster",
            "s1=http://127.0.0.1:19032",
            "--initial-cluster-state",
            "new",
        ])
        .arg("--data-dir")
        .arg(dir.join("s1"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd");
    let _etcd = Etcd { server, dir };
    let target = "etcd://127.0.0.1:19031";
    let deadline = Instant::now() + Duration::from_secs(10);
    let write = loop {
        // The first attempts may come before etcd listens or has elected itself.
        match bench::run_collect(&args(
            target,
            &["--connections", "2", "--pipeline", "4", "--seconds", "1"],
        )) {
            Ok(report) => break report,
            Err(e) if Instant::now() < deadline => eprintln!("waiting for etcd: {e}"),
            Err(e) => panic!("etcd never answered: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("{}", write.table());
    assert!(
        write.ops > 20 && write.error_total() == 0,
        "{} ops, errors {:?}",
        write.ops,
        write.errors
    );
    let read = bench::run_collect(&args(
        target,
        &[
            "--workload",
            "read",
            "--connections",
            "2",
            "--seconds",
            "1",
            "--rate",
            "200",
        ],
    ))
    .unwrap();
    eprintln!("{}", read.table());
    assert!(
        read.ops > 100 && read.error_total() == 0,
        "{} ops, errors {:?}",
        read.ops,
        read.errors
    );
    assert!(
        read.ops_per_sec < 260.0,
        "open loop at 200/s did {} ops/s",
        read.ops_per_sec
    );
}

#[test]
fn unreachable_etcd_says_what_to_check() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let error =
        bench::run_collect(&args(&format!("etcd://{free}"), &["--seconds", "1"])).unwrap_err();
    assert!(
        error.contains(&free) && error.contains("is it running"),
        "{error}"
    );
}
