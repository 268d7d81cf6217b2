//! TLS with real processes: a three-node cluster with a TLS client port per node and mutual
//! TLS between the nodes, tried with Debian's redis-cli (`--tls`) and redis-py (`ssl=True`),
//! and refusing what it must: plain text on the TLS port, clients and members whose
//! certificate another CA signed. Certificates come from `ninesdb certs`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{wait_for_leaders, Client, Cluster, Reply};

const NINESDB: &str = env!("CARGO_BIN_EXE_ninesdb");

/// Makes a throwaway CA with certificates for 3 nodes and a client in `dir`.
fn make_certs(dir: &Path, ca_name: &str) {
    let status = Command::new(NINESDB)
        .args(["certs", "--nodes", "3", "--ca-name", ca_name, "--out"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("ninesdb certs runs");
    assert!(status.success(), "ninesdb certs failed");
}

/// Node `id`'s TLS flags with certificates from `certs` (the CA too: `ca`).
fn tls_flags(id: u64, base: u16, certs: &Path, ca: &Path) -> Vec<String> {
    let path = |name: String| certs.join(name).display().to_string();
    vec![
        "--tls-port".into(),
        (base + 200 + id as u16 - 1).to_string(),
        "--tls-cert-file".into(),
        path(format!("node{id}.crt")),
        "--tls-key-file".into(),
        path(format!("node{id}.key")),
        "--tls-ca-cert-file".into(),
        ca.display().to_string(),
    ]
}

/// `redis-cli --tls` with the CA and a client certificate (if given): (success, output).
fn redis_cli(port: u16, ca: &Path, client: Option<&Path>, args: &[&str]) -> (bool, String) {
    let mut command = Command::new("redis-cli");
    command
        .args(["--tls", "--cacert"])
        .arg(ca)
        .args(["-p", &port.to_string()]);
    if let Some(dir) = client {
        command
            .arg("--cert")
            .arg(dir.join("client.crt"))
            .arg("--key")
            .arg(dir.join("client.key"));
    }
    let output = command
        .args(args)
        .output()
        .expect("redis-cli runs (scripts/test.sh installs redis-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Retries `redis-cli` until its output contains `expected` (leaders settle after startup).
fn redis_cli_until(port: u16, ca: &Path, client: &Path, args: &[&str], expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, text) = redis_cli(port, ca, Some(client), args);
        if text.contains(expected) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn setup(base: u16, name: &str) -> (Cluster, PathBuf, PathBuf) {
    let scratch = std::env::temp_dir().join(format!("ninesdb-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let (certs, other) = (scratch.join("certs"), scratch.join("other"));
    make_certs(&certs, "cluster CA");
    make_certs(&other, "another CA");
    let ca = certs.join("ca.crt");
    let cluster = Cluster::start_each(
        3,
        base,
        name,
        &["--groups", "3"],
        |_| None,
        |id| tls_flags(id, base, &certs, &ca),
    );
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    (cluster, certs, other)
}

// Goal: a TLS cluster serves redis-cli --tls and redis-py ssl=True (plain and cluster
// clients, an 8 MiB value both ways), shows TLS clients the TLS ports in CLUSTER SLOTS / SHARDS / NODES and plain
// clients the plain ones. Method: three nodes with TLS ports at +200 and peer TLS; SET
// through one node's TLS port, GET through another's; python3 with ssl=True.
#[test]
fn tls_clients_work_across_the_cluster() {
    let base = 22001;
    let (cluster, certs, _other) = setup(base, "tls-clients");
    let ca = certs.join("ca.crt");
    let (tls1, tls2) = (base + 200, base + 201);
    let (ok, text) = redis_cli(
        tls1,
        &ca,
        Some(&certs),
        &["-c", "SET", "tls:key", "over-tls"],
    );
    assert!(ok && text.trim() == "OK", "SET over TLS: {text}");
    let text = redis_cli_until(tls2, &ca, &certs, &["-c", "GET", "tls:key"], "over-tls");
    assert_eq!(text.trim(), "over-tls", "GET over TLS through node 2");

    // SLOTS lists each group's leader: TLS ports only, whichever nodes lead.
    let (_, slots) = redis_cli(tls1, &ca, Some(&certs), &["CLUSTER", "SLOTS"]);
    let ports: Vec<u16> = slots
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .filter(|&n: &u16| n >= base)
        .collect();
    assert!(!ports.is_empty(), "{slots}");
    assert!(
        ports.iter().all(|p| (tls1..tls1 + 3).contains(p)),
        "only TLS ports in {slots}"
    );
    let (_, shards) = redis_cli(tls1, &ca, Some(&certs), &["CLUSTER", "SHARDS"]);
    assert!(shards.contains("tls-port"), "{shards}");
    // NODES lists every member, each at its TLS port (learned from its Hello).
    let nodes = redis_cli_until(tls1, &ca, &certs, &["CLUSTER", "NODES"], "22203@");
    for id in 0..3 {
        let entry = format!("127.0.0.1:{}@{}", tls1 + id, base + 100 + id);
        assert!(nodes.contains(&entry), "{entry} in {nodes}");
    }
    let plain = Client::connect(cluster.clients[0])
        .expect("plain port open")
        .call(&[b"CLUSTER", b"SLOTS"])
        .expect("reply");
    let plain = format!("{plain:?}");
    // Plain clients see plain ports only.
    let plain_ports = (base..base + 3).filter(|p| plain.contains(&format!("Integer({p})")));
    assert!(plain_ports.count() > 0, "{plain}");
    for port in tls1..tls1 + 3 {
        assert!(!plain.contains(&format!("Integer({port})")), "{plain}");
    }

    redis_py_over_tls(tls1, &certs);
    let _ = std::fs::remove_dir_all(certs.parent().expect("scratch"));
}

/// redis-py with `ssl=True`: `Redis` and `RedisCluster`, small keys and an 8 MiB value; the
/// cluster client is sent to TLS ports only.
fn redis_py_over_tls(tls1: u16, certs: &Path) {
    let ca = certs.join("ca.crt");
    let script = format!(
        r#"
import redis
from redis.cluster import RedisCluster
tls = dict(ssl=True, ssl_ca_certs={ca:?}, ssl_certfile={cert:?}, ssl_keyfile={key:?})
r = redis.Redis(host="127.0.0.1", port={tls1}, **tls)
assert r.set("py:plain", "1")
assert r.get("py:plain") == b"1"
rc = RedisCluster(host="127.0.0.1", port={tls1}, **tls)
for i in range(30):
    rc.set(f"py:{{i}}", i)
assert all(rc.get(f"py:{{i}}") == str(i).encode() for i in range(30))
assert all(n.port >= {tls1} for n in rc.get_nodes()), [n.port for n in rc.get_nodes()]
big = bytes(range(256)) * (8 << 12)  # 8 MiB: the reply spans many TLS records
assert rc.set("py:big", big)
assert rc.get("py:big") == big
assert r.get("py:plain") == b"1"
print("redis-py ok")
"#,
        ca = ca.display().to_string(),
        cert = certs.join("client.crt").display().to_string(),
        key = certs.join("client.key").display().to_string(),
    );
    let output = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs (scripts/test.sh installs python3-redis)");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("redis-py ok"),
        "redis-py over TLS: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// Goal: the TLS port refuses what it must: plain text, a client without a certificate
// (tls-auth-clients yes, Redis's default), a client whose certificate another CA signed; and
// the peer port refuses a member whose certificate another CA signed. Method: each try
// against a running TLS cluster; then node 3 restarted with the other CA's certificate.
#[test]
fn tls_refuses_plain_text_and_strangers() {
    let base = 22301;
    let (mut cluster, certs, other) = setup(base, "tls-refusals");
    let ca = certs.join("ca.crt");
    let tls1 = base + 200;
    let (ok, text) = redis_cli(tls1, &ca, Some(&certs), &["PING"]);
    assert!(
        ok && text.contains("PONG"),
        "the right client works: {text}"
    );

    let plain = Client::connect(SocketAddr::from(([127, 0, 0, 1], tls1)))
        .expect("TLS port accepts TCP")
        .call(&[b"PING"]);
    assert!(plain.is_err(), "plain text on the TLS port: {plain:?}");
    let (ok, text) = redis_cli(tls1, &ca, None, &["PING"]);
    assert!(
        !ok || !text.contains("PONG"),
        "no client certificate: {text}"
    );
    let (ok, text) = redis_cli(tls1, &ca, Some(&other), &["PING"]);
    assert!(!ok || !text.contains("PONG"), "another CA's client: {text}");
    assert!(
        cluster.log(1).contains("handshake failed"),
        "refusals are logged: {}",
        cluster.log(1)
    );

    // Node 3 comes back with a certificate (and CA) of another PKI: nodes 1 and 2 refuse it
    // and it refuses them; they keep serving (2 of 3 replicas).
    cluster.kill(3);
    cluster.node_flags[2] = tls_flags(3, base, &other, &other.join("ca.crt"));
    cluster.restart(3);
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = |log: &str| log.contains("refused: TLS handshake failed");
    while !(refused(&cluster.log(1)) && cluster.log(3).contains("TLS handshake with node 1"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        refused(&cluster.log(1)),
        "node 1 refuses the other CA's member: {}",
        cluster.log(1)
    );
    assert!(
        cluster.log(3).contains("TLS handshake with node 1"),
        "node 3 refuses node 1 (another CA): {}",
        cluster.log(3)
    );
    let mut client = Client::connect(cluster.clients[0]).expect("node 1");
    let deadline = Instant::now() + Duration::from_secs(20);
    let written = loop {
        let reply = client.call(&[b"SET", b"still", b"served"]);
        if matches!(reply, Ok(Reply::Simple(_))) || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        written.expect("reply"),
        Reply::Simple("OK".into()),
        "the cluster goes on without the stranger"
    );
    let _ = std::fs::remove_dir_all(certs.parent().expect("scratch"));
}
