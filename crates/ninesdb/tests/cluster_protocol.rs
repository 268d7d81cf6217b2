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
    let Reply::Array(slots) = aware.call(&[b"CLUSTER", b"SLOTS"]).expect("replies") else { panic!("CLUSTER SLOTS is an array") };
    let Some(Reply::Array(range)) = slots.first() else { panic!("one slot range") };
    assert_eq!(&range[..2], &[Reply::Integer(0), Reply::Integer(16383)]);
    let Reply::Array(owner) = &range[2] else { panic!("an owner") };
    assert_eq!(owner[1], Reply::Integer(i64::from(leader_address.port())), "the leader owns the slots");
    assert_eq!(aware.call(&[b"CLUSTER", b"KEYSLOT", b"user1000"]).expect("replies"), Reply::Integer(3443));
    let moved = aware.call(&[b"SET", b"user1000", b"x"]).expect("replies");
    assert_eq!(moved, Reply::Error(format!("MOVED 3443 {leader_address}")));
    let mut plain = Client::connect(cluster.clients[(follower - 1) as usize]).expect("connects");
    assert_eq!(plain.call(&[b"SET", b"user1000", b"x"]).expect("replies"), Reply::Simple("OK".into()));
    assert_eq!(plain.call(&[b"GET", b"user1000"]).expect("replies"), Reply::Bulk(Some(b"x".to_vec())));
}
