//! Real processes: blocking list commands as a worker queue, through leader failures.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Cluster, Reply};

/// What the workers saw, shared by their threads.
#[derive(Default)]
struct Ledger {
    /// Jobs whose LPUSH was acknowledged.
    pushed: BTreeSet<String>,
    /// Jobs whose LPUSH outcome is unknown (error or broken connection).
    maybe_pushed: BTreeSet<String>,
    /// Every job handed to a consumer, with how often.
    popped: BTreeMap<String, usize>,
    /// BRPOPs whose outcome is unknown: each may have taken one job nobody saw.
    unknown_pops: usize,
}

fn is_unknown(reply: &std::io::Result<Reply>) -> bool {
    match reply {
        Err(_) => true,
        Ok(Reply::Error(e)) => e.starts_with("UNKNOWN"),
        Ok(_) => false,
    }
}

/// Connects to the first live node from `start`, trying each in turn.
fn connect(nodes: &[SocketAddr], start: usize) -> Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for i in 0..nodes.len() {
            if let Some(client) = Client::connect(nodes[(start + i) % nodes.len()]) {
                return client;
            }
        }
        assert!(Instant::now() < deadline, "no node accepts connections");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn producer(id: usize, nodes: Vec<SocketAddr>, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let mut client = connect(&nodes, id);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let job = format!("job-{id}-{n}");
        n += 1;
        let reply = client.call(&[b"LPUSH", b"queue", job.as_bytes()]);
        match &reply {
            Ok(Reply::Integer(_)) => {
                ledger.lock().unwrap().pushed.insert(job);
            }
            // Certainly not applied (no leader yet, leadership moved before commit): the job
            // was never queued, and the next one has a new name anyway.
            Ok(Reply::Error(e)) if !e.starts_with("UNKNOWN") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                assert!(is_unknown(&reply), "unexpected LPUSH reply {reply:?}");
                ledger.lock().unwrap().maybe_pushed.insert(job);
                if reply.is_err() {
                    client = connect(&nodes, id + n);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn consumer(id: usize, nodes: Vec<SocketAddr>, ledger: Arc<Mutex<Ledger>>, done: Arc<AtomicBool>) {
    let mut client = connect(&nodes, id);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reply = client.call(&[b"BRPOP", b"queue", b"1"]);
        match &reply {
            Ok(Reply::Array(parts)) if !parts.is_empty() => {
                let Some(Reply::Bulk(Some(job))) = parts.get(1) else {
                    panic!("BRPOP gave {parts:?}")
                };
                *ledger
                    .lock()
                    .unwrap()
                    .popped
                    .entry(String::from_utf8_lossy(job).into_owned())
                    .or_default() += 1;
            }
            Ok(Reply::Bulk(None)) | Ok(Reply::NilArray) | Ok(Reply::Array(_)) => {}
            Ok(Reply::Error(e)) if !e.starts_with("UNKNOWN") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                ledger.lock().unwrap().unknown_pops += 1;
                if reply.is_err() {
                    client = connect(&nodes, id + attempt);
                }
            }
        }
        // A timed-out BRPOP is a nil array: the queue looked empty for a second.
        if done.load(Ordering::Relaxed) && matches!(&reply, Ok(Reply::NilArray)) {
            return;
        }
    }
}

// Goal: the worker-queue acceptance: every pushed job is popped exactly once or its
// pop is reported as an unknown outcome; none twice, none lost. Method: 3 servers (one
// group), 8 producers LPUSH and 8 consumers BRPOP (1 s timeout), spread over the nodes; the
// queue group's leader is SIGKILLed twice (restarted in between); then the producers stop,
// the consumers drain the queue, and the ledger is checked.
#[test]
fn worker_queue_survives_two_leader_kills() {
    let mut cluster = Cluster::start(3, 20201, "blocking");
    let first = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let nodes = cluster.clients.clone();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut threads = Vec::new();
    for id in 0..8 {
        let (nodes, ledger, stop) = (nodes.clone(), Arc::clone(&ledger), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            producer(id, nodes, ledger, stop)
        }));
    }
    let mut consumers = Vec::new();
    for id in 0..8 {
        let (nodes, ledger, done) = (nodes.clone(), Arc::clone(&ledger), Arc::clone(&done));
        consumers.push(std::thread::spawn(move || {
            consumer(id, nodes, ledger, done)
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    cluster.kill(first);
    eprintln!("killed node {first}, the queue group's leader");
    std::thread::sleep(Duration::from_secs(3));
    cluster.restart(first);
    std::thread::sleep(Duration::from_secs(3));
    let second = cluster
        .leader(Duration::from_secs(20))
        .expect("a leader after the first kill");
    cluster.kill(second);
    eprintln!("killed node {second}, the queue group's leader");
    std::thread::sleep(Duration::from_secs(3));
    cluster.restart(second);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("a producer finished");
    }
    done.store(true, Ordering::Relaxed);
    for thread in consumers {
        thread.join().expect("a consumer finished");
    }
    // Whatever is still queued (consumers stop after a second of empty queue).
    let mut reader = connect(&nodes, 0);
    let mut left = BTreeSet::new();
    while let Ok(Reply::Bulk(Some(job))) = reader.call(&[b"RPOP", b"queue"]) {
        left.insert(String::from_utf8_lossy(&job).into_owned());
    }
    let ledger = ledger.lock().unwrap();
    eprintln!(
        "pushed {} (+{} unknown), popped {} distinct, left {}, unknown pops {}",
        ledger.pushed.len(),
        ledger.maybe_pushed.len(),
        ledger.popped.len(),
        left.len(),
        ledger.unknown_pops
    );
    assert!(
        ledger.pushed.len() > 500,
        "too few jobs to tell anything: {}",
        ledger.pushed.len()
    );
    let twice: Vec<_> = ledger.popped.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "jobs popped more than once: {twice:?}");
    for job in ledger.popped.keys().chain(&left) {
        assert!(
            ledger.pushed.contains(job) || ledger.maybe_pushed.contains(job),
            "{job} came out but was never pushed"
        );
    }
    let overlap: Vec<_> = left
        .iter()
        .filter(|j| ledger.popped.contains_key(*j))
        .collect();
    assert!(
        overlap.is_empty(),
        "jobs both popped and still queued: {overlap:?}"
    );
    let lost: Vec<_> = ledger
        .pushed
        .iter()
        .filter(|j| !ledger.popped.contains_key(*j) && !left.contains(*j))
        .collect();
    assert!(
        lost.len() <= ledger.unknown_pops,
        "{} acknowledged jobs never came out, but only {} pops had an unknown outcome: {:?}",
        lost.len(),
        ledger.unknown_pops,
        lost.iter().take(10).collect::<Vec<_>>()
    );
}

// Goal: Redis's blocking semantics on one node: served in arrival order, the timeout answers
// nil, CLIENT UNBLOCK frees a client, INFO counts blocked clients, and a client that hangs up
// while blocked is withdrawn (the element stays for the next one). Method: 3 servers, clients
// through a follower (forwarded) and the leader.
#[test]
fn blocked_clients_are_served_in_arrival_order() {
    let cluster = Cluster::start(3, 20251, "blockorder");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let follower = if leader == 1 { 2 } else { 1 };
    let at = |node: u64| cluster.clients[(node - 1) as usize];

    // Timeout: nil array after about the time asked.
    let nil_array = Reply::NilArray;
    let mut c = Client::connect(at(follower)).unwrap();
    let started = Instant::now();
    assert_eq!(c.call(&[b"BLPOP", b"empty", b"0.3"]).unwrap(), nil_array);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "BLPOP 0.3 returned after {waited:?}"
    );

    // Arrival order: three clients block one after another, then three pushes serve them in order.
    let mut handles = Vec::new();
    for (i, node) in [follower, leader, follower].into_iter().enumerate() {
        let address = at(node);
        handles.push(std::thread::spawn(move || {
            let mut c = Client::connect(address).unwrap();
            (i, c.call(&[b"BRPOP", b"jobs", b"10"]).unwrap())
        }));
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut pusher = Client::connect(at(leader)).unwrap();
    let info = |c: &mut Client| match c.call(&[b"INFO", b"clients"]).unwrap() {
        Reply::Bulk(Some(text)) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("INFO gave {other:?}"),
    };
    assert!(
        info(&mut pusher).contains("blocked_clients:1"),
        "one blocked client on the leader's node:\n{}",
        info(&mut pusher)
    );
    pusher.call(&[b"RPUSH", b"jobs", b"a", b"b", b"c"]).unwrap();
    let mut served: Vec<(usize, Reply)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    served.sort_by_key(|(i, _)| *i);
    let got: Vec<Reply> = served.into_iter().map(|(_, r)| r).collect();
    let pair = |v: &[u8]| {
        Reply::Array(vec![
            Reply::Bulk(Some(b"jobs".to_vec())),
            Reply::Bulk(Some(v.to_vec())),
        ])
    };
    assert_eq!(
        got,
        vec![pair(b"c"), pair(b"b"), pair(b"a")],
        "BRPOP served in arrival order"
    );

    // A client that hangs up while blocked is withdrawn: the next push is not popped for it.
    {
        use std::io::Write;
        let mut gone = std::net::TcpStream::connect(at(follower)).unwrap();
        gone.write_all(b"*3\r\n$5\r\nBLPOP\r\n$4\r\nleft\r\n$1\r\n0\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // Dropped here: the connection closes while the command waits.
    }
    std::thread::sleep(Duration::from_millis(300));
    pusher.call(&[b"RPUSH", b"left", b"kept"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        pusher.call(&[b"LLEN", b"left"]).unwrap(),
        Reply::Integer(1),
        "the element waits for a client still there"
    );

    // CLIENT UNBLOCK: the blocked client hears nil (TIMEOUT) or -UNBLOCKED (ERROR).
    for (mode, expect_error) in [(&b"TIMEOUT"[..], false), (&b"ERROR"[..], true)] {
        let address = at(follower);
        let mut blocked = Client::connect(address).unwrap();
        let Reply::Integer(id) = blocked.call(&[b"CLIENT", b"ID"]).unwrap() else {
            panic!("CLIENT ID")
        };
        let handle = std::thread::spawn(move || blocked.call(&[b"BLPOP", b"never", b"0"]).unwrap());
        std::thread::sleep(Duration::from_millis(300));
        let mut admin = Client::connect(address).unwrap();
        assert_eq!(
            admin
                .call(&[b"CLIENT", b"UNBLOCK", id.to_string().as_bytes(), mode])
                .unwrap(),
            Reply::Integer(1)
        );
        let reply = handle.join().unwrap();
        match reply {
            Reply::Error(e) => assert!(expect_error && e.starts_with("UNBLOCKED"), "{e}"),
            other => assert!(!expect_error && other == nil_array, "{other:?}"),
        }
        assert_eq!(
            admin
                .call(&[b"CLIENT", b"UNBLOCK", id.to_string().as_bytes()])
                .unwrap(),
            Reply::Integer(0),
            "no longer blocked"
        );
    }

    // Sorted sets block the same way: BZPOPMIN is served by a later ZADD, lowest score first.
    let address = at(follower);
    let waiter = std::thread::spawn(move || {
        Client::connect(address)
            .unwrap()
            .call(&[b"BZPOPMIN", b"board", b"10"])
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    pusher
        .call(&[b"ZADD", b"board", b"5", b"five", b"2", b"two"])
        .unwrap();
    let popped = Reply::Array(vec![
        Reply::Bulk(Some(b"board".to_vec())),
        Reply::Bulk(Some(b"two".to_vec())),
        Reply::Bulk(Some(b"2".to_vec())),
    ]);
    assert_eq!(waiter.join().unwrap(), popped);
    assert_eq!(
        pusher.call(&[b"ZCARD", b"board"]).unwrap(),
        Reply::Integer(1)
    );

    // Inside MULTI a blocking command does not block: nil when empty.
    let mut tx = Client::connect(at(follower)).unwrap();
    tx.call(&[b"MULTI"]).unwrap();
    tx.call(&[b"BLPOP", b"nothing", b"0"]).unwrap();
    assert_eq!(tx.call(&[b"EXEC"]).unwrap(), Reply::Array(vec![nil_array]));
}
