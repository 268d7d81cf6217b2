//! How clients find the leader: plain clients are forwarded, cluster-aware ones redirected.

mod common;

use std::time::Duration;

use common::{Client, Cluster, Reply};

// Goal: a connection that asked for the slot map gets `-MOVED <slot> <leader>` from a
// follower, and a plain one is served through it. Method: CLUSTER SLOTS on a follower (the
// leader owns all 16384 slots), then GET there; a second, plain connection to the same
// follower gets the value itself.
#[test]
fn cluster_aware_clients_are_redirected_and_plain_ones_forwarded() {
    let cluster = Cluster::start(3, 18201, "clusterproto");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let follower = if leader == 1 { 2 } else { 1 };
    let leader_address = cluster.clients[(leader - 1) as usize];
    let mut aware = Client::connect(cluster.clients[(follower - 1) as usize]).expect("connects");
    let Reply::Array(slots) = aware.call(&[b"CLUSTER", b"SLOTS"]).expect("replies") else {
        panic!("CLUSTER SLOTS is an array")
    };
    let Some(Reply::Array(range)) = slots.first() else {
        panic!("one slot range")
    };
    assert_eq!(&range[..2], &[Reply::Integer(0), Reply::Integer(16383)]);
    let Reply::Array(owner) = &range[2] else {
        panic!("an owner")
    };
    assert_eq!(
        owner[1],
        Reply::Integer(i64::from(leader_address.port())),
        "the leader owns the slots"
    );
    assert_eq!(
        aware
            .call(&[b"CLUSTER", b"KEYSLOT", b"user1000"])
            .expect("replies"),
        Reply::Integer(3443)
    );
    let moved = aware.call(&[b"SET", b"user1000", b"x"]).expect("replies");
    assert_eq!(moved, Reply::Error(format!("MOVED 3443 {leader_address}")));
    let mut plain = Client::connect(cluster.clients[(follower - 1) as usize]).expect("connects");
    assert_eq!(
        plain.call(&[b"SET", b"user1000", b"x"]).expect("replies"),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        plain.call(&[b"GET", b"user1000"]).expect("replies"),
        Reply::Bulk(Some(b"x".to_vec()))
    );
}

/// SIGSTOP or SIGCONT to a server this test started.
fn signal(cluster: &Cluster, id: u64, signal: &str) {
    let pid = cluster.processes[(id - 1) as usize]
        .as_ref()
        .expect("running")
        .id();
    assert!(std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs")
        .success());
}

// Goal: READONLY reads on a follower are served locally while the leader is heard from, and
// refused (never answered staler) once the follower's staleness bound (1 s) is exceeded.
// Method: write through the leader; READONLY GET on a follower; freeze the other two nodes
// (SIGSTOP: no leader can be elected), read at once (served) and after 1.5 s (refused);
// thaw them and read again (served).
#[test]
fn readonly_follower_reads_respect_the_staleness_bound() {
    let cluster = Cluster::start(3, 19401, "readonly");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let follower = if leader == 1 { 2 } else { 1 };
    let other = (1..=3)
        .find(|&id| id != leader && id != follower)
        .expect("a third node");
    let mut writer = Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
    assert_eq!(
        writer.call(&[b"SET", b"stale", b"v1"]).expect("replies"),
        Reply::Simple("OK".into())
    );
    let mut reader = Client::connect(cluster.clients[(follower - 1) as usize]).expect("connects");
    assert_eq!(
        reader.call(&[b"READONLY"]).expect("replies"),
        Reply::Simple("OK".into())
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reader.call(&[b"GET", b"stale"]).expect("replies") != Reply::Bulk(Some(b"v1".to_vec())) {
        assert!(
            std::time::Instant::now() < deadline,
            "the follower never applied the write"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&cluster, leader, "-STOP");
    signal(&cluster, other, "-STOP");
    let fresh = reader.call(&[b"GET", b"stale"]).expect("replies");
    std::thread::sleep(Duration::from_millis(1_500));
    let stale = reader.call(&[b"GET", b"stale"]).expect("replies");
    signal(&cluster, leader, "-CONT");
    signal(&cluster, other, "-CONT");
    assert_eq!(
        fresh,
        Reply::Bulk(Some(b"v1".to_vec())),
        "within the bound the follower serves"
    );
    let Reply::Error(refusal) = stale else {
        panic!("beyond the bound the follower must refuse, got {stale:?}")
    };
    assert!(
        refusal.starts_with("TRYAGAIN this replica last heard from its leader"),
        "{refusal}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reader.call(&[b"GET", b"stale"]).expect("replies") != Reply::Bulk(Some(b"v1".to_vec())) {
        assert!(
            std::time::Instant::now() < deadline,
            "reads did not resume after the thaw"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
