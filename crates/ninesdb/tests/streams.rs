//! Real processes: a stream consumed by a consumer group (XADD, XREADGROUP BLOCK, XACK)
//! through a leader failure.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Cluster, Reply};

/// An entry id as (ms, seq), ordered as Redis orders them.
type Id = (u64, u64);

fn parse_id(bytes: &[u8]) -> Id {
    let text = String::from_utf8_lossy(bytes);
    let (ms, seq) = text.split_once('-').expect("an id is ms-seq");
    (ms.parse().expect("ms"), seq.parse().expect("seq"))
}

/// What producers and consumers saw, shared by their threads.
#[derive(Default)]
struct Ledger {
    /// Acknowledged XADDs: id -> job.
    added: BTreeMap<Id, String>,
    /// XADDs whose outcome is unknown (they may or may not be in the stream).
    maybe_added: BTreeSet<String>,
    /// Every entry handed to a consumer: id -> (job, times).
    delivered: BTreeMap<Id, (String, usize)>,
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

/// XADDs jobs until told to stop; the ids one producer is given must only go up, across
/// the failover too.
fn producer(id: usize, nodes: Vec<SocketAddr>, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let mut client = connect(&nodes, id);
    let mut last: Option<Id> = None;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let job = format!("job-{id}-{n}");
        n += 1;
        let reply = client.call(&[b"XADD", b"jobs", b"*", b"job", job.as_bytes()]);
        match &reply {
            Ok(Reply::Bulk(Some(entry))) => {
                let entry = parse_id(entry);
                assert!(
                    last.is_none_or(|l| entry > l),
                    "producer {id}: id went back from {last:?} to {entry:?}"
                );
                last = Some(entry);
                ledger.lock().unwrap().added.insert(entry, job);
            }
            Ok(Reply::Error(e)) if !e.starts_with("UNKNOWN") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                assert!(is_unknown(&reply), "unexpected XADD reply {reply:?}");
                ledger.lock().unwrap().maybe_added.insert(job);
                if reply.is_err() {
                    client = connect(&nodes, id + n);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Records one XREADGROUP reply's entries; returns how many there were.
fn record(reply: &Reply, ledger: &Mutex<Ledger>) -> Vec<Vec<u8>> {
    let Reply::Array(streams) = reply else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for stream in streams {
        let Reply::Array(parts) = stream else {
            panic!("XREADGROUP stream part {stream:?}")
        };
        let Some(Reply::Array(entries)) = parts.get(1) else {
            panic!("XREADGROUP entries {parts:?}")
        };
        for entry in entries {
            let Reply::Array(entry) = entry else {
                panic!("XREADGROUP entry {entry:?}")
            };
            let (Some(Reply::Bulk(Some(id))), Some(Reply::Array(fields))) =
                (entry.first(), entry.get(1))
            else {
                panic!("XREADGROUP entry {entry:?}")
            };
            let Some(Reply::Bulk(Some(job))) = fields.get(1) else {
                panic!("XREADGROUP fields {fields:?}")
            };
            let job = String::from_utf8_lossy(job).into_owned();
            let mut ledger = ledger.lock().unwrap();
            let seen = ledger
                .delivered
                .entry(parse_id(id))
                .or_insert((job.clone(), 0));
            assert_eq!(seen.0, job, "entry {id:?} changed its job");
            seen.1 += 1;
            ids.push(id.clone());
        }
    }
    ids
}

/// XREADGROUP BLOCK + XACK until told it is done and a read timed out.
fn consumer(id: usize, nodes: Vec<SocketAddr>, ledger: Arc<Mutex<Ledger>>, done: Arc<AtomicBool>) {
    let mut client = connect(&nodes, id);
    let name = format!("consumer-{id}");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reply = client.call(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            name.as_bytes(),
            b"COUNT",
            b"10",
            b"BLOCK",
            b"1000",
            b"STREAMS",
            b"jobs",
            b">",
        ]);
        match &reply {
            Ok(r @ Reply::Array(_)) => {
                for entry in record(r, &ledger) {
                    // An ack that fails leaves the entry in the PEL, which the end checks.
                    let _ = client.call(&[b"XACK", b"jobs", b"g", &entry]);
                }
            }
            Ok(Reply::NilArray) => {
                if done.load(Ordering::Relaxed) {
                    return;
                }
            }
            Ok(Reply::Error(e)) if !e.starts_with("UNKNOWN") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                assert!(is_unknown(&reply), "unexpected XREADGROUP reply {reply:?}");
                if reply.is_err() {
                    client = connect(&nodes, id + attempt);
                }
            }
        }
    }
}

/// Calls until the reply is not a transient error (no leader yet, a failover).
fn call_settled(nodes: &[SocketAddr], args: &[&[u8]]) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut client = connect(nodes, 0);
        match client.call(args) {
            Ok(Reply::Error(e)) if !e.starts_with("BUSYGROUP") && !e.starts_with("NOGROUP") => {
                assert!(Instant::now() < deadline, "{e}");
            }
            Ok(reply) => return reply,
            Err(_) => assert!(Instant::now() < deadline, "no answer"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ids an array of `[id, ...]` items starts with (XRANGE, XPENDING's extended form).
fn first_ids(reply: &Reply) -> Vec<Id> {
    let Reply::Array(items) = reply else {
        panic!("not an array: {reply:?}")
    };
    items
        .iter()
        .map(|item| match item {
            Reply::Array(parts) => match parts.first() {
                Some(Reply::Bulk(Some(id))) => parse_id(id),
                other => panic!("no id in {other:?}"),
            },
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

// Goal: the stream acceptance: every acknowledged XADD is delivered to a consumer
// at least once, stays in the stream, and is acknowledged or still pending in the group's
// PEL; ids never go backwards, across a failover too. Method: 3 servers (one group), 2
// producers XADD, 4 consumers XREADGROUP BLOCK + XACK, spread over the nodes; the leader is
// SIGKILLed mid-run and restarted; then producers stop, consumers drain, and the stream, the
// PEL and the ledger are checked against each other.
#[test]
fn consumer_group_survives_a_leader_kill() {
    let mut cluster = Cluster::start(3, 23001, "streams");
    let nodes = cluster.clients.clone();
    let created = call_settled(
        &nodes,
        &[b"XGROUP", b"CREATE", b"jobs", b"g", b"$", b"MKSTREAM"],
    );
    assert_eq!(created, Reply::Simple("OK".to_owned()));
    let ledger = run_through_a_kill(&mut cluster);
    let stream = first_ids(&call_settled(&nodes, &[b"XRANGE", b"jobs", b"-", b"+"]));
    let pending = first_ids(&call_settled(
        &nodes,
        &[b"XPENDING", b"jobs", b"g", b"-", b"+", b"1000000"],
    ));
    eprintln!(
        "added {} (+{} unknown), delivered {}, in stream {}, pending {}",
        ledger.added.len(),
        ledger.maybe_added.len(),
        ledger.delivered.len(),
        stream.len(),
        pending.len()
    );
    assert!(
        ledger.added.len() > 300,
        "too few entries to tell anything: {}",
        ledger.added.len()
    );
    assert!(
        stream.windows(2).all(|w| w[0] < w[1]),
        "stream ids not increasing"
    );
    check_ledger(&ledger, &stream, &pending);
    // Nothing is left undelivered once the consumers drained the stream.
    assert_eq!(
        Some(&last_delivered(&nodes)),
        stream.last(),
        "entries left undelivered"
    );
}

/// Producers and consumers run while the group's leader is killed and restarted; returns
/// their ledger once the producers stopped and the consumers drained the stream.
fn run_through_a_kill(cluster: &mut Cluster) -> Ledger {
    let first = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let nodes = cluster.clients.clone();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut producers = Vec::new();
    for id in 0..2 {
        let (nodes, ledger, stop) = (nodes.clone(), Arc::clone(&ledger), Arc::clone(&stop));
        producers.push(std::thread::spawn(move || {
            producer(id, nodes, ledger, stop)
        }));
    }
    let mut consumers = Vec::new();
    for id in 0..4 {
        let (nodes, ledger, done) = (nodes.clone(), Arc::clone(&ledger), Arc::clone(&done));
        consumers.push(std::thread::spawn(move || {
            consumer(id, nodes, ledger, done)
        }));
    }
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill(first);
    eprintln!("killed node {first}, the stream group's leader");
    std::thread::sleep(Duration::from_secs(4));
    cluster.restart(first);
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for thread in producers {
        thread.join().expect("a producer finished");
    }
    done.store(true, Ordering::Relaxed);
    for thread in consumers {
        thread.join().expect("a consumer finished");
    }
    Arc::try_unwrap(ledger)
        .ok()
        .expect("every thread finished")
        .into_inner()
        .unwrap()
}

/// Every acknowledged entry is in the stream and was delivered (or is pending: handed out
/// with the reply lost); every delivered entry is one that was added, with its own job.
fn check_ledger(ledger: &Ledger, stream: &[Id], pending: &[Id]) {
    let in_stream: BTreeSet<Id> = stream.iter().copied().collect();
    let pending: BTreeSet<Id> = pending.iter().copied().collect();
    for (id, job) in &ledger.added {
        assert!(
            in_stream.contains(id),
            "acknowledged {id:?} ({job}) left the stream"
        );
        assert!(
            ledger.delivered.contains_key(id) || pending.contains(id),
            "acknowledged {id:?} ({job}) was never delivered"
        );
    }
    for (id, (job, _)) in &ledger.delivered {
        assert!(
            in_stream.contains(id),
            "delivered {id:?} is not in the stream"
        );
        assert!(
            ledger.added.get(id) == Some(job) || ledger.maybe_added.contains(job),
            "delivered {id:?} ({job}) was never added"
        );
    }
}

/// The group's last delivered id (XINFO GROUPS).
fn last_delivered(nodes: &[SocketAddr]) -> Id {
    let groups = call_settled(nodes, &[b"XINFO", b"GROUPS", b"jobs"]);
    let Reply::Array(groups) = groups else {
        panic!("XINFO GROUPS: {groups:?}")
    };
    let Some(Reply::Array(fields)) = groups.first() else {
        panic!("no group: {groups:?}")
    };
    fields
        .chunks(2)
        .find(|pair| pair[0] == Reply::Bulk(Some(b"last-delivered-id".to_vec())))
        .and_then(|pair| match &pair[1] {
            Reply::Bulk(Some(id)) => Some(parse_id(id)),
            _ => None,
        })
        .expect("last-delivered-id")
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Some(text.as_bytes().to_vec()))
}

/// `[[key, [[id, [field, value]]...]]]`, an XREAD reply of one stream.
fn read_reply(key: &str, entries: &[(&str, &str, &str)]) -> Reply {
    let entries = entries
        .iter()
        .map(|(id, f, v)| Reply::Array(vec![bulk(id), Reply::Array(vec![bulk(f), bulk(v)])]))
        .collect();
    Reply::Array(vec![Reply::Array(vec![bulk(key), Reply::Array(entries)])])
}

// Goal: Redis's blocking stream reads: XREAD BLOCK on `$` gets only entries added after it
// blocked, XREADGROUP BLOCK `>` is woken by an XADD and the entry becomes pending, a timeout
// answers a nil array, inside MULTI nothing blocks, and a destroyed group unblocks its
// consumers with Redis's error. Method: 3 servers, the blocked clients on a follower
// (forwarded to the leader), the writes on the leader.
#[test]
fn blocked_stream_reads_wake_on_new_entries() {
    let cluster = Cluster::start(3, 23051, "streamblock");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let follower = if leader == 1 { 2 } else { 1 };
    let (at_leader, at_follower) = (
        cluster.clients[(leader - 1) as usize],
        cluster.clients[(follower - 1) as usize],
    );
    let mut writer = Client::connect(at_leader).unwrap();
    assert_eq!(
        writer.call(&[b"XADD", b"s", b"1-0", b"f", b"a"]).unwrap(),
        bulk("1-0")
    );
    xread_waits_past_the_last_id(&mut writer, at_follower);
    xreadgroup_waits_for_a_new_entry(&mut writer, at_follower);
    timeouts_and_multi(at_follower);
    gone_group_unblocks(&mut writer, at_follower);
}

/// A consumer blocked in a group that is destroyed hears Redis's NOGROUP error.
fn gone_group_unblocks(writer: &mut Client, at_follower: SocketAddr) {
    let created = writer
        .call(&[b"XGROUP", b"CREATE", b"s", b"doomed", b"$"])
        .unwrap();
    assert_eq!(created, Reply::Simple("OK".to_owned()));
    let consumer = std::thread::spawn(move || {
        let mut c = Client::connect(at_follower).unwrap();
        c.call(&[
            b"XREADGROUP",
            b"GROUP",
            b"doomed",
            b"carol",
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"s",
            b">",
        ])
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(700));
    let destroyed = writer
        .call(&[b"XGROUP", b"DESTROY", b"s", b"doomed"])
        .unwrap();
    assert_eq!(destroyed, Reply::Integer(1));
    assert_eq!(
        consumer.join().unwrap(),
        Reply::Error(
            "NOGROUP the consumer group this client was blocked on no longer exists".to_owned()
        )
    );
}

/// `$` is the last id when the client blocks: 1-0 is not served, 2-0 is.
fn xread_waits_past_the_last_id(writer: &mut Client, at_follower: SocketAddr) {
    let reader = std::thread::spawn(move || {
        let mut c = Client::connect(at_follower).unwrap();
        c.call(&[b"XREAD", b"BLOCK", b"20000", b"STREAMS", b"s", b"$"])
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        writer.call(&[b"XADD", b"s", b"2-0", b"f", b"b"]).unwrap(),
        bulk("2-0")
    );
    assert_eq!(
        reader.join().unwrap(),
        read_reply("s", &[("2-0", "f", "b")])
    );
}

/// A consumer blocked on `>` gets the next entry, which is then pending for it.
fn xreadgroup_waits_for_a_new_entry(writer: &mut Client, at_follower: SocketAddr) {
    let created = writer
        .call(&[b"XGROUP", b"CREATE", b"s", b"g", b"$"])
        .unwrap();
    assert_eq!(created, Reply::Simple("OK".to_owned()));
    let consumer = std::thread::spawn(move || {
        let mut c = Client::connect(at_follower).unwrap();
        c.call(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"alice",
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"s",
            b">",
        ])
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        writer.call(&[b"XADD", b"s", b"3-0", b"f", b"c"]).unwrap(),
        bulk("3-0")
    );
    assert_eq!(
        consumer.join().unwrap(),
        read_reply("s", &[("3-0", "f", "c")])
    );
    let pending = writer.call(&[b"XPENDING", b"s", b"g"]).unwrap();
    assert_eq!(
        pending,
        Reply::Array(vec![
            Reply::Integer(1),
            bulk("3-0"),
            bulk("3-0"),
            Reply::Array(vec![Reply::Array(vec![bulk("alice"), bulk("1")])]),
        ])
    );
}

/// Nothing comes: the timeout answers a nil array, not before its time; inside MULTI a
/// blocking read answers at once, as Redis's does.
fn timeouts_and_multi(at_follower: SocketAddr) {
    let mut c = Client::connect(at_follower).unwrap();
    let started = Instant::now();
    let timed_out = c
        .call(&[b"XREAD", b"BLOCK", b"300", b"STREAMS", b"s", b"$"])
        .unwrap();
    assert_eq!(timed_out, Reply::NilArray);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "answered early"
    );
    let timed_out = c
        .call(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"bob",
            b"BLOCK",
            b"300",
            b"STREAMS",
            b"s",
            b">",
        ])
        .unwrap();
    assert_eq!(timed_out, Reply::NilArray);
    assert_eq!(c.call(&[b"MULTI"]).unwrap(), Reply::Simple("OK".to_owned()));
    c.call(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"])
        .unwrap();
    assert_eq!(
        c.call(&[b"EXEC"]).unwrap(),
        Reply::Array(vec![Reply::NilArray])
    );
}
