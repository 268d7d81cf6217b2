//! Real Redis Cluster clients against a 6-node, 6-group ninesdb: `redis-cli -c` and redis-py's
//! `RedisCluster` (Debian's python3-redis; `scripts/test.sh` installs both).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{wait_for_leaders, Client, Cluster, Reply};

/// Waits until the 6 groups have 6 different leaders: leadership moves to each group's
/// preferred leader (the placement balances them) a little after the first elections.
fn wait_for_balanced_leaders(cluster: &Cluster, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut leaders = std::collections::BTreeSet::new();
    while Instant::now() < deadline {
        leaders.clear();
        if let Some(Reply::Array(ranges)) = Client::connect(cluster.clients[0])
            .and_then(|mut c| c.call(&[b"CLUSTER", b"SLOTS"]).ok())
        {
            for range in ranges {
                if let Reply::Array(parts) = range {
                    leaders.insert(format!("{:?}", parts.get(2)));
                }
            }
            if leaders.len() == cluster.clients.len() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("leaders did not spread over every node within {timeout:?}: {leaders:?}");
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-c", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs (scripts/test.sh installs redis-tools)");
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

// Goal: `redis-cli -c` follows -MOVED across groups and sees one keyspace. Method: write 60
// keys through one node (they land in all 6 groups), read them back through another; the
// slot map names 6 ranges, each with its leader.
#[test]
fn redis_cli_follows_moved_across_groups() {
    let cluster = Cluster::start_with(6, 18401, "rediscli", &[], |_| None);
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    let (first, second) = (cluster.clients[0].port(), cluster.clients[3].port());
    let mut slots_seen = std::collections::BTreeSet::new();
    for i in 0..60 {
        let key = format!("key:{i}");
        slots_seen.insert(
            redis_cli(first, &["CLUSTER", "KEYSLOT", &key])
                .parse::<u64>()
                .expect("a slot")
                * 6
                / 16384,
        );
        assert_eq!(
            redis_cli(first, &["SET", &key, &format!("value {i}")]),
            "OK"
        );
    }
    assert_eq!(slots_seen.len(), 6, "the keys fall into every group");
    for i in 0..60 {
        assert_eq!(
            redis_cli(second, &["GET", &format!("key:{i}")]),
            format!("value {i}")
        );
    }
    let mut client = Client::connect(cluster.clients[1]).expect("connects");
    let Reply::Array(ranges) = client.call(&[b"CLUSTER", b"SLOTS"]).expect("replies") else {
        panic!("CLUSTER SLOTS is an array")
    };
    assert_eq!(ranges.len(), 6);
    for range in &ranges {
        let Reply::Array(parts) = range else {
            panic!("a range is an array")
        };
        assert_eq!(parts.len(), 3, "first, last, leader: {parts:?}");
    }
    let crossslot = client
        .call(&[b"MSET", b"a", b"1", b"b", b"2"])
        .expect("replies");
    assert_eq!(
        crossslot,
        Reply::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
}

const REDIS_PY: &str = r#"
import sys
from redis.cluster import RedisCluster, ClusterNode
rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", int(sys.argv[1]))], decode_responses=True)
for i in range(300):
    assert rc.set(f"user:{i}", f"v{i}") is True
for i in range(300):
    got = rc.get(f"user:{i}")
    assert got == f"v{i}", (i, got)
assert rc.mset({"{cart}:a": "1", "{cart}:b": "2"}) is True
assert rc.mget("{cart}:a", "{cart}:b") == ["1", "2"]
pipe = rc.pipeline()
for i in range(100):
    pipe.incr(f"counter:{i % 10}")
pipe.execute()
assert [int(rc.get(f"counter:{i}")) for i in range(10)] == [10] * 10
assert rc.delete("user:0") == 1 and rc.exists("user:0") == 0
primaries = {(n.host, n.port) for n in rc.get_primaries()}
keys = rc.dbsize(target_nodes=RedisCluster.RANDOM)
summed = rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
print(f"ok keys={keys} primaries={len(primaries)} summed={summed}")
"#;

// Goal: redis-py's RedisCluster works unchanged. Method: SET/GET 300 keys, a hash-tagged
// MSET/MGET, a pipelined INCR across slots, DEL; DBSIZE of any one node counts every key of
// the cluster (300 - 1 + 2 + 10), because redis-py's node connections never ask for the slot
// map and so are answered as plain clients, over the whole keyspace (README: a cluster
// client that sums DBSIZE over every master counts each key once per master).
#[test]
fn redis_py_cluster_client_works() {
    let cluster = Cluster::start_with(6, 18451, "redispy", &[], |_| None);
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    wait_for_balanced_leaders(&cluster, Duration::from_secs(30));
    let output = Command::new("/usr/bin/python3")
        .args(["-c", REDIS_PY, &cluster.clients[2].port().to_string()])
        .output()
        .expect("python3 runs (scripts/test.sh installs python3-redis)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "redis-py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("ok keys=311 primaries=6 summed=1866"),
        "{stdout}"
    );
}
