//! Lua scripts on real processes: a runaway script is bounded and leaves every replica
//! identical; a Redlock-style lock script never grants the lock twice across a leader kill.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{status, wait_for_leaders, Client, Cluster, Reply};

const RUNAWAY_BUDGET: &str = "50000000";

fn call(client: &mut Client, args: &[&str]) -> std::io::Result<Reply> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    client.call(&args)
}

/// Every group's replicas, per node: (group, applied, digest) from `NINESDB STATUS`.
fn replica_digests(cluster: &Cluster) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    for address in &cluster.clients {
        let Some(status) = status(*address) else {
            continue;
        };
        for hosted in status["hosted"].as_array().into_iter().flatten() {
            out.push((
                hosted["group"].as_u64().unwrap_or(0),
                hosted["applied"].as_u64().unwrap_or(0),
                hosted["digest"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

/// Waits until every group's replicas have applied the same index, then says whether their
/// digests agree (a replica that is behind would differ without being wrong).
fn replicas_agree(cluster: &Cluster, timeout: Duration) -> Result<usize, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let digests = replica_digests(cluster);
        let mut by_group: std::collections::BTreeMap<u64, Vec<(u64, String)>> =
            std::collections::BTreeMap::new();
        for (group, applied, digest) in digests {
            by_group.entry(group).or_default().push((applied, digest));
        }
        let caught_up = by_group
            .values()
            .all(|r| r.len() == 3 && r.iter().all(|(a, _)| *a == r[0].0));
        if caught_up {
            for (group, replicas) in &by_group {
                if replicas.iter().any(|(_, d)| *d != replicas[0].1) {
                    return Err(format!("group {group}: replicas differ: {replicas:?}"));
                }
            }
            return Ok(by_group.len());
        }
        if Instant::now() > deadline {
            return Err(format!("replicas did not catch up: {by_group:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// Goal: a script that never ends is aborted by its instruction budget on every replica, the
// caller gets an error, its write is rolled back, other keys are served meanwhile, and the
// replicas end identical. Method: 3 nodes, 3 groups; a client keeps writing another group's
// key while the runaway runs; then every replica's keyspace digest is compared.
#[test]
fn runaway_script_is_bounded_and_replicas_agree() {
    let cluster = Cluster::start_with(
        3,
        23501,
        "scripts-runaway",
        &["--groups", "3", "--script-instructions-max", RUNAWAY_BUDGET],
        |_| None,
    );
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    let mut client = Client::connect(cluster.clients[0]).expect("connects");
    assert_eq!(
        call(&mut client, &["SET", "{a}x", "before"]).expect("answers"),
        Reply::Simple("OK".into())
    );
    // A key of another group ({b} is slot 3300, {a} slot 15495: groups 1 and 3 of 3).
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let other = {
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        let address = cluster.clients[1];
        std::thread::spawn(move || {
            let mut c = Client::connect(address).expect("connects");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let value = n.to_string();
                match call(&mut c, &["SET", "{b}y", &value]) {
                    Ok(Reply::Simple(_)) => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("the other group's first failed write: {other:?}");
                        }
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let served_before = served.load(Ordering::Relaxed);
    let reply = call(
        &mut client,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'partial'); while true do end",
            "1",
            "{a}x",
        ],
    )
    .expect("the runaway's caller gets an answer");
    let took = started.elapsed();
    let served_during = served.load(Ordering::Relaxed) - served_before;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    other.join().expect("the other client");
    let Reply::Error(text) = &reply else {
        panic!("the runaway answered {reply:?}");
    };
    assert!(
        text.contains("ran past the budget of 50000000 Lua instructions"),
        "{text}"
    );
    eprintln!("runaway aborted after {took:?}; {served_during} writes to another group meanwhile");
    assert_eq!(
        call(&mut client, &["GET", "{a}x"]).expect("answers"),
        Reply::Bulk(Some(b"before".to_vec())),
        "the aborted script's write was rolled back"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "another group's key failed"
    );
    assert!(served.load(Ordering::Relaxed) > 0);
    let groups =
        replicas_agree(&cluster, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(groups, 4, "3 data groups and the meta group");
}

/// Acquires with SET NX PX; releases only if the value is still ours (compare-and-delete).
const ACQUIRE: &str = "return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])";
const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const LOCK_MS: u64 = 4_000;
/// A holder's claim is checked only while its lock is surely valid (acquire time plus the
/// lock time, less this margin for clock rates and reply delays).
const VALIDITY_MARGIN_MS: u64 = 1_000;

struct LockStats {
    /// The current holder in this process: (thread, when its acquire was answered).
    holder: Mutex<Option<(usize, Instant)>>,
    grants: AtomicU64,
    violations: Mutex<Vec<String>>,
    /// When each token's acquire was answered OK.
    granted: Mutex<std::collections::HashMap<String, Instant>>,
}

fn locker(thread: usize, clients: Vec<SocketAddr>, stats: Arc<LockStats>, stop: Arc<AtomicBool>) {
    let mut node = thread % clients.len();
    let mut client: Option<Client> = None;
    let mut attempt = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = client.as_mut() else {
            client = Client::connect(clients[node]);
            node = (node + 1) % clients.len();
            if client.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        };
        attempt += 1;
        let token = format!("t{thread}-{attempt}");
        let lock_ms = LOCK_MS.to_string();
        let reply = call(c, &["EVAL", ACQUIRE, "1", "lock", &token, &lock_ms]);
        let acquired_at = Instant::now();
        match reply {
            Ok(Reply::Simple(ok)) if ok == "OK" => {}
            Ok(Reply::Bulk(None)) => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            // An error (a leader change) or a dead node: the outcome is unknown; try elsewhere.
            Ok(_) => continue,
            Err(_) => {
                client = None;
                continue;
            }
        }
        stats.grants.fetch_add(1, Ordering::Relaxed);
        {
            let mut holder = stats.holder.lock().expect("holder");
            if let Some((other, since)) = *holder {
                if since.elapsed() < Duration::from_millis(LOCK_MS - VALIDITY_MARGIN_MS) {
                    stats.violations.lock().expect("violations").push(format!(
                        "thread {thread} got the lock while thread {other} held it ({:?} in)",
                        since.elapsed()
                    ));
                }
            }
            *holder = Some((thread, acquired_at));
        }
        stats
            .granted
            .lock()
            .expect("granted")
            .insert(token.clone(), acquired_at);
        // The holder's critical section: write our token, read it back. Only a write that
        // succeeded, followed by a read of another holder's token, says something: an error
        // (a leader change) says nothing, and neither does a late write of a holder whose own
        // lock had expired before ours was granted (Redlock's known hazard: what a fencing
        // token is for), so the other's grant must overlap ours to count.
        let wrote = call(c, &["SET", "owner", &token]);
        let read = call(c, &["GET", "owner"]);
        if let (Ok(Reply::Simple(ok)), Ok(Reply::Bulk(Some(seen)))) = (&wrote, &read) {
            let seen = String::from_utf8_lossy(seen).into_owned();
            if ok == "OK" && seen != token {
                let other_granted = stats.granted.lock().expect("granted").get(&seen).copied();
                let overlapping = other_granted.is_some_and(|other| {
                    acquired_at.saturating_duration_since(other)
                        < Duration::from_millis(LOCK_MS - VALIDITY_MARGIN_MS)
                });
                if overlapping {
                    stats.violations.lock().expect("violations").push(format!(
                        "thread {thread}: holder {seen} wrote the owner key while we held the lock"
                    ));
                }
            }
        }
        {
            let mut holder = stats.holder.lock().expect("holder");
            if matches!(*holder, Some((t, _)) if t == thread) {
                *holder = None;
            }
        }
        if call(c, &["EVAL", RELEASE, "1", "lock", &token]).is_err() {
            client = None;
        }
    }
}

// Goal: a Redlock-style lock built from scripts grants the lock to one holder at a time,
// across a leader kill. Method: 16 threads acquire (SET NX PX in EVAL) and release
// (compare-and-delete in EVAL) through all 3 nodes; each holder writes its token and reads it
// back; a process-wide record of the current holder catches a second grant while the first
// is still valid. The leader is killed midway; grants must go on after it.
#[test]
fn lock_script_never_grants_twice_across_a_leader_kill() {
    let mut cluster = Cluster::start(3, 23701, "scripts-redlock");
    let leader = cluster.leader(Duration::from_secs(30)).expect("a leader");
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    let stats = Arc::new(LockStats {
        holder: Mutex::new(None),
        grants: AtomicU64::new(0),
        violations: Mutex::new(Vec::new()),
        granted: Mutex::new(std::collections::HashMap::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..16)
        .map(|thread| {
            let (clients, stats, stop) = (cluster.clients.clone(), stats.clone(), stop.clone());
            std::thread::spawn(move || locker(thread, clients, stats, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let before_kill = stats.grants.load(Ordering::Relaxed);
    cluster.kill(leader);
    std::thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("a locker thread");
    }
    let grants = stats.grants.load(Ordering::Relaxed);
    let violations = stats.violations.lock().expect("violations").clone();
    eprintln!("{grants} grants ({before_kill} before the leader kill)");
    assert!(
        violations.is_empty(),
        "the lock was granted twice:\n{}",
        violations.join("\n")
    );
    assert!(
        before_kill > 10,
        "only {before_kill} grants before the kill"
    );
    assert!(
        grants > before_kill + 10,
        "no progress after the kill: {grants}"
    );
}
