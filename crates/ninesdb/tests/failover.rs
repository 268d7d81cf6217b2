//! Real processes: a leader killed with SIGKILL under continuous writes.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Cluster, Reply};

// Goal: the failover acceptance. Method: 3 servers with the default timeouts; a
// client writes a new key at a time through a follower (forwarded) and directly; SIGKILL the
// leader; measure until writes succeed again (must be under 3 s); restart the killed node; every
// acknowledged write must be readable, on the new leader and after the old one caught up.
#[test]
fn writes_resume_within_three_seconds_after_the_leader_is_killed() {
    let mut cluster = Cluster::start(3, 17201, "failover");
    let leader = cluster
        .leader(Duration::from_secs(20))
        .expect("a leader within 20 s");
    let survivor = if leader == 1 { 2 } else { 1 };
    let mut acknowledged = Vec::new();
    let mut client = Client::connect(cluster.clients[(survivor - 1) as usize]).expect("connects");
    for i in 0..200 {
        let key = format!("before-{i}");
        if client
            .call(&[b"SET", key.as_bytes(), b"v"])
            .expect("replies")
            == Reply::Simple("OK".into())
        {
            acknowledged.push(key);
        }
    }
    assert_eq!(
        acknowledged.len(),
        200,
        "every write before the failure succeeds"
    );
    cluster.kill(leader);
    let killed_at = Instant::now();
    let mut resumed_after = None;
    let mut i = 0;
    while killed_at.elapsed() < Duration::from_secs(20) {
        let key = format!("after-{i}");
        i += 1;
        let reply = client.call(&[b"SET", key.as_bytes(), b"v"]);
        if reply.as_ref().ok() == Some(&Reply::Simple("OK".into())) {
            acknowledged.push(key);
            resumed_after.get_or_insert(killed_at.elapsed());
            if acknowledged.len() >= 400 {
                break;
            }
        } else if reply.is_err() {
            client = Client::connect(cluster.clients[(survivor - 1) as usize]).expect("reconnects");
        }
    }
    let resumed_after = resumed_after.expect("writes resumed");
    eprintln!("writes resumed {resumed_after:?} after SIGKILL of the leader (node {leader})");
    assert!(
        resumed_after < Duration::from_secs(3),
        "writes resumed only after {resumed_after:?}"
    );
    eprintln!(
        "{} writes acknowledged in {:?}",
        acknowledged.len(),
        killed_at.elapsed()
    );
    cluster.restart(leader);
    std::thread::sleep(Duration::from_secs(3));
    let checking = Instant::now();
    for node in [survivor, leader] {
        let mut reader = Client::connect(cluster.clients[(node - 1) as usize]).expect("connects");
        for key in &acknowledged {
            let value = reader.call(&[b"GET", key.as_bytes()]).expect("replies");
            assert_eq!(
                value,
                Reply::Bulk(Some(b"v".to_vec())),
                "acknowledged {key} missing via node {node}"
            );
        }
        eprintln!("read back via node {node} after {:?}", checking.elapsed());
    }
}

// Goal: exactly-once retries. Method: open a session through a follower (forwarded), send the
// same numbered INCR three times (as a client retrying after timeouts would), then SIGKILL the
// leader and retry it again on the new one: the counter must be 1 throughout; the next number
// increments it.
#[test]
fn session_retries_apply_once_even_across_a_failover() {
    let mut cluster = Cluster::start(3, 17401, "sessions");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let follower = if leader == 1 { 2 } else { 1 };
    let mut client = Client::connect(cluster.clients[(follower - 1) as usize]).expect("connects");
    let Reply::Integer(session) = client.call(&[b"NINESDB", b"SESSION"]).expect("replies") else {
        panic!("no session id")
    };
    let session = session.to_string();
    let incr = |client: &mut Client, seq: &str| {
        client.call(&[
            b"NINESDB",
            b"REQ",
            session.as_bytes(),
            seq.as_bytes(),
            b"INCR",
            b"counter",
        ])
    };
    for _ in 0..3 {
        assert_eq!(incr(&mut client, "1").expect("replies"), Reply::Integer(1));
    }
    cluster.kill(leader);
    let deadline = Instant::now() + Duration::from_secs(10);
    let retried = loop {
        match incr(&mut client, "1") {
            Ok(Reply::Integer(value)) => break value,
            _ if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
                client =
                    Client::connect(cluster.clients[(follower - 1) as usize]).expect("reconnects");
            }
            other => panic!("no answer after failover: {other:?}"),
        }
    };
    assert_eq!(retried, 1, "the retried increment was applied twice");
    assert_eq!(incr(&mut client, "2").expect("replies"), Reply::Integer(2));
    assert_eq!(
        client.call(&[b"GET", b"counter"]).expect("replies"),
        Reply::Bulk(Some(b"2".to_vec()))
    );
}

// Goal: graceful shutdown. Method: write, SIGTERM every server; each must exit 0 within 5 s;
// restart them all: every acknowledged write is still there (it was on disk).
#[test]
fn sigterm_stops_cleanly_and_nothing_acknowledged_is_lost() {
    let mut cluster = Cluster::start(3, 17601, "shutdown");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let mut client = Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
    for i in 0..100 {
        let key = format!("k{i}");
        assert_eq!(
            client
                .call(&[b"SET", key.as_bytes(), b"v"])
                .expect("replies"),
            Reply::Simple("OK".into())
        );
    }
    for id in 1..=3 {
        assert!(
            cluster.terminate(id, Duration::from_secs(5)),
            "node {id} did not exit cleanly within 5 s of SIGTERM"
        );
    }
    for id in 1..=3 {
        cluster.restart(id);
    }
    let leader = cluster
        .leader(Duration::from_secs(20))
        .expect("a leader after the restart");
    let mut client = Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
    assert_eq!(
        client.call(&[b"DBSIZE"]).expect("replies"),
        Reply::Integer(100)
    );
}

// Goal: a node stopped on purpose hands its leaderships away first, so clients wait for a
// transfer, not an election timeout (1-2 s here). Method: 3 servers; SIGTERM the leader (and,
// in a second round, `SHUTDOWN` the new one); from the moment its process has exited, a write
// through a survivor must succeed within 900 ms (an election could not have finished), and
// the stopped node's log says it handed its leaderships away.
#[test]
fn a_stopping_leader_hands_its_leadership_away() {
    let mut cluster = Cluster::start(3, 17651, "handoff");
    for round in 0..2 {
        let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
        let survivor = (1..=3)
            .find(|&n| n != leader && cluster.processes[(n - 1) as usize].is_some())
            .expect("a survivor");
        let mut client =
            Client::connect(cluster.clients[(survivor - 1) as usize]).expect("connects");
        assert_eq!(
            client.call(&[b"SET", b"before", b"v"]).unwrap(),
            Reply::Simple("OK".into())
        );
        if round == 0 {
            assert!(
                cluster.terminate(leader, Duration::from_secs(10)),
                "node {leader} exits 0 after SIGTERM"
            );
        } else {
            let mut admin =
                Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
            assert_eq!(
                admin.call(&[b"SHUTDOWN"]).unwrap(),
                Reply::Simple("OK".into())
            );
            let status = cluster.processes[(leader - 1) as usize]
                .take()
                .expect("running")
                .wait()
                .expect("exits");
            assert!(status.success(), "node {leader} exits 0 after SHUTDOWN");
        }
        // Measured from the process's exit: a leadership handed over already has a leader.
        let stopped_at = Instant::now();
        let mut resumed = None;
        while stopped_at.elapsed() < Duration::from_secs(20) {
            if client.call(&[b"SET", b"after", b"v"]).ok() == Some(Reply::Simple("OK".into())) {
                resumed = Some(stopped_at.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let resumed = resumed.expect("writes resumed");
        eprintln!("round {round}: writes resumed {resumed:?} after node {leader} was told to stop");
        let log = std::fs::read_to_string(cluster.data.join(format!("node{leader}.log")))
            .unwrap_or_default();
        assert!(
            log.contains("stopping: handing") && !log.contains("stopping: handing 0 "),
            "node {leader} handed its leaderships away:\n{log}"
        );
        assert!(
            resumed < Duration::from_millis(900),
            "writes resumed only after {resumed:?}: that is an election timeout, not a transfer"
        );
        if round == 0 {
            cluster.restart(leader);
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}
