//! Keyless commands for plain clients cover the whole cluster, as on one Redis: DBSIZE, KEYS,
//! SCAN (a cursor that walks every group and ends at 0), RANDOMKEY, FLUSHALL. A
//! cluster-aware connection keeps Redis Cluster's per-node meaning.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{wait_for_leaders, Client, Cluster, Reply};

fn integer(reply: Reply) -> i64 {
    match reply {
        Reply::Integer(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// Every key a plain SCAN returns, looping the cursor until it comes back to 0; panics if it
/// takes more calls than the keys could need.
fn scan_all(client: &mut Client, keys: usize) -> (Vec<Vec<u8>>, usize) {
    let (mut cursor, mut seen, mut calls) = (b"0".to_vec(), Vec::new(), 0);
    loop {
        calls += 1;
        assert!(
            calls <= keys / 10 + 100,
            "SCAN did not come back to 0 after {calls} calls for {keys} keys"
        );
        let Reply::Array(mut parts) = client
            .call(&[b"SCAN", &cursor, b"COUNT", b"10"])
            .expect("SCAN replies")
        else {
            panic!("SCAN reply is not an array")
        };
        let (Some(Reply::Array(batch)), Some(Reply::Bulk(Some(next)))) = (parts.pop(), parts.pop())
        else {
            panic!("SCAN reply has no cursor and keys")
        };
        seen.extend(batch.into_iter().map(|k| {
            if let Reply::Bulk(Some(k)) = k {
                k
            } else {
                panic!("a key is not a bulk string")
            }
        }));
        if next == b"0" {
            return (seen, calls);
        }
        cursor = next;
    }
}

// Goal: a plain client on any node sees every key of a 3-group cluster through the keyless
// commands, and SCAN terminates. Method: SCAN on 0 and 1 key, then 1,000 keys written through
// node 1 (spread over the 3 groups); every node's DBSIZE, KEYS and SCAN see all of them,
// RANDOMKEY finds keys of several groups; FLUSHALL on one node empties every group. A
// cluster-aware connection (after CLUSTER SLOTS) sees only the groups its node leads.
#[test]
fn plain_clients_see_the_whole_cluster() {
    let cluster = Cluster::start_with(3, 20001, "keyless", &["--groups", "3"], |_| None);
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    let mut clients: Vec<Client> = cluster
        .clients
        .iter()
        .map(|a| Client::connect(*a).expect("connects"))
        .collect();

    assert_eq!(
        scan_all(&mut clients[1], 0).0,
        Vec::<Vec<u8>>::new(),
        "SCAN of an empty cluster"
    );
    assert_eq!(clients[0].call(&[b"RANDOMKEY"]).unwrap(), Reply::Bulk(None));
    clients[0].call(&[b"SET", b"only", b"1"]).unwrap();
    assert_eq!(
        scan_all(&mut clients[2], 1).0,
        vec![b"only".to_vec()],
        "SCAN of one key"
    );
    clients[0].call(&[b"DEL", b"only"]).unwrap();

    let written: BTreeSet<Vec<u8>> = (0..1000).map(|i| format!("key:{i}").into_bytes()).collect();
    for key in &written {
        assert_eq!(
            clients[0].call(&[b"SET", key, b"v"]).unwrap(),
            Reply::Simple("OK".to_owned())
        );
    }
    for (node, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            integer(client.call(&[b"DBSIZE"]).unwrap()),
            1000,
            "DBSIZE on node {}",
            node + 1
        );
        let Reply::Array(keys) = client.call(&[b"KEYS", b"*"]).unwrap() else {
            panic!("KEYS is not an array")
        };
        assert_eq!(keys.len(), 1000, "KEYS * on node {}", node + 1);
        let (scanned, calls) = scan_all(client, 1000);
        let unique: BTreeSet<Vec<u8>> = scanned.iter().cloned().collect();
        assert_eq!(
            unique,
            written,
            "SCAN on node {} returned {} keys ({} distinct) in {calls} calls",
            node + 1,
            scanned.len(),
            unique.len()
        );
    }
    let random: BTreeSet<u16> = (0..60)
        .map(|_| match clients[1].call(&[b"RANDOMKEY"]).unwrap() {
            Reply::Bulk(Some(key)) => {
                let Reply::Integer(slot) =
                    clients[1].call(&[b"CLUSTER", b"KEYSLOT", &key]).unwrap()
                else {
                    panic!("KEYSLOT")
                };
                (slot as u16) / (16384 / 3 + 1)
            }
            other => panic!("RANDOMKEY gave {other:?}"),
        })
        .collect();
    assert!(
        random.len() >= 2,
        "RANDOMKEY drew keys of {} group(s) only",
        random.len()
    );

    // A cluster-aware connection: this node's own groups only, as Redis Cluster answers.
    let mut aware = Client::connect(cluster.clients[0]).expect("connects");
    aware.call(&[b"CLUSTER", b"SLOTS"]).unwrap();
    let own = integer(aware.call(&[b"DBSIZE"]).unwrap());
    assert!(
        own < 1000,
        "a cluster-aware DBSIZE counts only this node's groups, got {own}"
    );

    assert_eq!(
        clients[2].call(&[b"FLUSHALL"]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    for client in &mut clients {
        assert_eq!(integer(client.call(&[b"DBSIZE"]).unwrap()), 0);
    }
}
