//! Cluster routing against a real Redis Cluster: three masters on loopback (ports 19001-19003).
//! Goal: with routing, a write load sees no errors while a slot is mid-migration (every request
//! for it gets -ASK) and then moves (-MOVED); without routing, the same cluster answers -MOVED.
//! Skips, saying so, when redis-server or redis-cli is missing. About 8 s.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PORTS: [u16; 3] = [19001, 19002, 19003];

/// The three redis-server processes; killed (by their own handles) when dropped.
struct Cluster {
    servers: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `redis-cli -p PORT ARGS...`, its stdout trimmed.
fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_cluster() -> Cluster {
    let dir = std::env::temp_dir().join(format!("bench-cluster-test-{}", std::process::id()));
    let mut cluster = Cluster {
        servers: Vec::new(),
        dir: dir.clone(),
    };
    for port in PORTS {
        assert_ne!(
            cli(port, &["ping"]),
            "PONG",
            "port {port} is taken: the test needs 19001-19003 free"
        );
        let data = dir.join(port.to_string());
        std::fs::create_dir_all(&data).unwrap();
        let server = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
            ])
            .args([
                "--cluster-config-file",
                "nodes.conf",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        cluster.servers.push(server);
    }
    for port in PORTS {
        wait_for("PING", || cli(port, &["ping"]) == "PONG");
    }
    let nodes: Vec<String> = PORTS.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(nodes.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    let created = Command::new("redis-cli")
        .args(&create)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success(), "redis-cli --cluster create failed");
    for port in PORTS {
        wait_for("cluster_state:ok", || {
            cli(port, &["cluster", "info"]).contains("cluster_state:ok")
        });
    }
    cluster
}

fn bench_args(extra: &[&str]) -> bench::BenchArgs {
    let mut argv = vec![
        "bench",
        "--target",
        "resp://127.0.0.1:19001",
        "--warmup-seconds",
        "0",
        "--workload",
        "write",
    ];
    argv.extend_from_slice(extra);
    bench::parse_args(argv).unwrap()
}

/// Moves `slot` from `source` to `target` the way `redis-cli --cluster reshard` does.
fn finish_migration(slot: &str, (source, target): (u16, u16), target_id: &str) {
    let keys = cli(source, &["cluster", "getkeysinslot", slot, "1000"]);
    let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
    if !keys.is_empty() {
        let target_port = target.to_string();
        let mut migrate = vec![
            "migrate",
            "127.0.0.1",
            &target_port,
            "",
            "0",
            "5000",
            "KEYS",
        ];
        migrate.extend(keys);
        assert_eq!(cli(source, &migrate), "OK");
    }
    for port in [target, source]
        .into_iter()
        .chain(PORTS.into_iter().filter(|p| *p != source && *p != target))
    {
        assert_eq!(
            cli(port, &["cluster", "setslot", slot, "node", target_id]),
            "OK"
        );
    }
}

#[test]
fn routes_by_slot_and_follows_ask_and_moved() {
    if !installed("redis-server") || !installed("redis-cli") {
        eprintln!("SKIPPED: redis-server and redis-cli are needed (apt-get install redis-server redis-tools)");
        return;
    }
    let _cluster = start_cluster();
    // The first key of the key space, its slot, its owner, and the node it will move to.
    let key = "key:000000000000";
    let slot = cli(19001, &["cluster", "keyslot", key]);
    let source = *PORTS
        .iter()
        .find(|p| cli(**p, &["get", key]).is_empty())
        .expect("one node owns the key");
    let target = *PORTS.iter().find(|p| **p != source).unwrap();
    let (source_id, target_id) = (
        cli(source, &["cluster", "myid"]),
        cli(target, &["cluster", "myid"]),
    );
    assert_eq!(
        cli(
            target,
            &["cluster", "setslot", &slot, "importing", &source_id]
        ),
        "OK"
    );
    assert_eq!(
        cli(
            source,
            &["cluster", "setslot", &slot, "migrating", &target_id]
        ),
        "OK"
    );

    // 100 keys, so the migrating slot gets a request in about every 100.
    let load = std::thread::spawn(|| {
        bench::run_collect(&bench_args(&[
            "--keys",
            "100",
            "--connections",
            "4",
            "--pipeline",
            "4",
            "--seconds",
            "3",
        ]))
    });
    std::thread::sleep(Duration::from_millis(1500));
    finish_migration(&slot, (source, target), &target_id);
    let report = load.join().unwrap().unwrap();
    eprintln!("{}", report.table());
    assert_eq!(report.routed_nodes, Some(3));
    assert_eq!(
        report.error_total(),
        0,
        "errors with routing: {:?}",
        report.errors
    );
    assert!(
        report.redirects.get("ASK").copied().unwrap_or(0) > 0,
        "no -ASK followed: {:?}",
        report.redirects
    );
    assert!(
        report.redirects.get("MOVED").copied().unwrap_or(0) > 0,
        "no -MOVED followed: {:?}",
        report.redirects
    );
    assert!(report.ops > 1000, "only {} ops", report.ops);
    for port in PORTS {
        let keys: u64 = cli(port, &["dbsize"]).parse().unwrap();
        assert!(
            keys > 10,
            "node {port} holds {keys} keys: the load did not spread by slot"
        );
    }
    assert_eq!(
        cli(target, &["get", key]),
        "x".repeat(64),
        "the migrated key was written at its new owner"
    );

    // The same load without routing: most requests land on the wrong node.
    let report = bench::run_collect(&bench_args(&[
        "--no-routing",
        "--connections",
        "2",
        "--seconds",
        "1",
    ]))
    .unwrap();
    eprintln!("{}", report.table());
    assert_eq!(report.routed_nodes, None);
    assert!(
        report.errors.get("MOVED").copied().unwrap_or(0) > 0,
        "no -MOVED without routing: {:?}",
        report.errors
    );
}
