//! `maxmemory` on real servers: writes refused with Redis's `-OOM` under `noeviction`, and
//! keys evicted by the leader (replicated as deletes, so every replica agrees) under
//! `allkeys-lru`, keeping the keys clients use.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Cluster, Reply};

/// A field of INFO from `client`.
fn info_field(client: &mut Client, name: &str) -> Option<String> {
    let Reply::Bulk(Some(text)) = client.call(&[b"INFO"]).ok()? else {
        return None;
    };
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_owned))
}

fn info_number(client: &mut Client, name: &str) -> u64 {
    info_field(client, name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO has no number {name}"))
}

// Goal: maxmemory with noeviction: a write that adds data past the limit gets Redis's exact
// `-OOM` error, reads and deletes still work, and after a delete writes are taken again.
// Method: `--maxmemory 2mb`, write 20 KB values until refused.
#[test]
fn noeviction_refuses_writes_with_redis_oom_error() {
    let cluster = Cluster::start_with(
        3,
        24501,
        "oom",
        &["--groups", "1", "--maxmemory", "2mb"],
        |_| None,
    );
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let mut client = Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
    let value = vec![b'x'; 20 << 10];
    let mut refused_at = None;
    for i in 0..400 {
        let key = format!("k{i}");
        match client.call(&[b"SET", key.as_bytes(), &value]).unwrap() {
            Reply::Simple(ok) if ok == "OK" => {}
            Reply::Error(e) => {
                assert_eq!(e, "OOM command not allowed when used memory > 'maxmemory'.");
                refused_at = Some(i);
                break;
            }
            other => panic!("SET {key}: {other:?}"),
        }
    }
    let refused_at = refused_at.expect("writes past 2 MB were refused");
    eprintln!(
        "the write of key {refused_at} (about {} KiB in) was refused",
        refused_at * 20
    );
    assert!(
        (90..=110).contains(&refused_at),
        "2 MiB holds about 100 values of 20 KiB; refused at {refused_at}"
    );
    let used = info_number(&mut client, "used_memory");
    assert!(
        used > 2 << 20 && used < (2 << 20) + (64 << 10),
        "used_memory {used}"
    );
    assert_eq!(
        client.call(&[b"GET", b"k0"]).unwrap(),
        Reply::Bulk(Some(value.clone()))
    );
    assert_eq!(
        client.call(&[b"DEL", b"k0", b"k1", b"k2"]).unwrap(),
        Reply::Integer(3)
    );
    assert_eq!(
        client.call(&[b"SET", b"again", &value]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    assert_eq!(info_number(&mut client, "evicted_keys"), 0);
}

// Goal: maxmemory with allkeys-lru: the leader evicts the least recently used keys until the
// data fits, replicas delete the same keys, and keys in use survive. Method: `--maxmemory 2mb
// --maxmemory-policy allkeys-lru`; ten hot keys are read between every write of 300 cold
// 20 KB values (6 MB in all); afterwards used_memory is at most 2 MB, evicted_keys > 0, every
// hot key is there, and each node's key count agrees.
#[test]
fn allkeys_lru_evicts_cold_keys_and_replicas_agree() {
    let cluster = Cluster::start_with(
        3,
        24701,
        "lru",
        &[
            "--groups",
            "1",
            "--maxmemory",
            "2mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
        |_| None,
    );
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let mut client = Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
    let value = vec![b'x'; 20 << 10];
    for h in 0..10 {
        let key = format!("hot{h}");
        assert_eq!(
            client.call(&[b"SET", key.as_bytes(), b"1"]).unwrap(),
            Reply::Simple("OK".to_owned())
        );
    }
    let mut refused = 0;
    for i in 0..300 {
        let key = format!("cold{i}");
        match client.call(&[b"SET", key.as_bytes(), &value]).unwrap() {
            Reply::Simple(_) => {}
            Reply::Error(e) if e.starts_with("OOM") => refused += 1,
            other => panic!("SET {key}: {other:?}"),
        }
        for h in 0..10 {
            let key = format!("hot{h}");
            client.call(&[b"GET", key.as_bytes()]).unwrap();
        }
        // Let eviction keep pace (a round per 100 ms tick).
        if i % 20 == 19 {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    assert_eq!(refused, 0, "allkeys-lru evicts instead of refusing");
    std::thread::sleep(Duration::from_millis(1_000));
    let used = info_number(&mut client, "used_memory");
    let evicted = info_number(&mut client, "evicted_keys");
    let Reply::Integer(remaining) = client.call(&[b"DBSIZE"]).unwrap() else {
        panic!("DBSIZE")
    };
    eprintln!(
        "after 6 MB of writes: used_memory {used}, evicted_keys {evicted}, {remaining} keys left"
    );
    assert_eq!(
        evicted,
        310 - remaining as u64,
        "evicted_keys counts the evicted keys"
    );
    assert!(used <= 2 << 20, "used_memory {used} over maxmemory");
    assert!(evicted >= 150, "evicted_keys {evicted}");
    for h in 0..10 {
        let key = format!("hot{h}");
        assert_eq!(
            client.call(&[b"GET", key.as_bytes()]).unwrap(),
            Reply::Bulk(Some(b"1".to_vec())),
            "{key} was in use and must not be evicted"
        );
    }
    // Replicas applied the same deletions: every node reports the same key count.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts: Vec<String> = cluster
            .clients
            .iter()
            .map(|&a| {
                let mut c = Client::connect(a).expect("connects");
                info_field(&mut c, "db0").unwrap_or_default()
            })
            .collect();
        if counts.iter().all(|c| c == &counts[0]) && !counts[0].is_empty() {
            eprintln!("every node: {}", counts[0]);
            break;
        }
        assert!(Instant::now() < deadline, "nodes disagree: {counts:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
