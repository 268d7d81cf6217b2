//! Real processes: a leaderboard of 100,000 members, queried like an application would,
//! with every answer compared to redis-server's.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{start_redis, Client, Cluster, Reply};

/// A member's score: deterministic, with ties (so members' byte order matters) and
/// fractions (so float formatting matters).
fn score(i: u64) -> String {
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match i % 4 {
        0 => format!("{}", mixed % 1000),
        1 => format!("{}.5", mixed % 5000),
        2 => format!("-{}.25", mixed % 300),
        _ => format!("{}", (mixed % 100_000) as f64 / 7.0),
    }
}

/// Writes members `range` into `board` on `address` with ZADD, 50 members a command.
fn fill(address: SocketAddr, range: std::ops::Range<u64>) {
    let mut client = Client::connect(address).expect("connects");
    let ids: Vec<u64> = range.collect();
    for chunk in ids.chunks(50) {
        let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"board".to_vec()];
        for &i in chunk {
            args.push(score(i).into_bytes());
            args.push(format!("player:{i}").into_bytes());
        }
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let reply = client.call(&refs).expect("ZADD replies");
        assert_eq!(
            reply,
            Reply::Integer(chunk.len() as i64),
            "ZADD of new members"
        );
    }
}

// Goal: the leaderboard acceptance: 100k ZADDs, then ZRANGE/ZRANK queries equal to
// redis-server's. Method: the same members and scores into redis-server and a 3-node
// ninesdb (8 writers each, 50 members a ZADD); then top-10s, pages, ranks of 500 members,
// score ranges, counts and increments on both, compared reply by reply.
#[test]
fn leaderboard_matches_redis() {
    const MEMBERS: u64 = 100_000;
    let _redis = start_redis(common::port(20499));
    let redis_address = SocketAddr::from(([127, 0, 0, 1], common::port(20499)));
    let cluster = Cluster::start(3, 20401, "leaderboard");
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    let writers: Vec<_> = (0..8u64)
        .flat_map(|w| {
            let range = w * MEMBERS / 8..(w + 1) * MEMBERS / 8;
            let node = cluster.clients[(w % 3) as usize];
            [
                std::thread::spawn({
                    let range = range.clone();
                    move || fill(node, range)
                }),
                std::thread::spawn(move || fill(redis_address, range)),
            ]
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer finished");
    }
    let mut redis = Client::connect(redis_address).expect("connects to redis");
    let mut ninesdb = Client::connect(cluster.clients[1]).expect("connects to ninesdb");
    let mut queries: Vec<Vec<String>> = vec![
        vec!["ZCARD".into(), "board".into()],
        vec![
            "ZRANGE".into(),
            "board".into(),
            "0".into(),
            "9".into(),
            "REV".into(),
            "WITHSCORES".into(),
        ],
        vec![
            "ZREVRANGE".into(),
            "board".into(),
            "0".into(),
            "9".into(),
            "WITHSCORES".into(),
        ],
        vec![
            "ZRANGE".into(),
            "board".into(),
            "0".into(),
            "9".into(),
            "WITHSCORES".into(),
        ],
        vec![
            "ZRANGE".into(),
            "board".into(),
            "50000".into(),
            "50019".into(),
            "WITHSCORES".into(),
        ],
        vec!["ZRANGE".into(), "board".into(), "-10".into(), "-1".into()],
        vec![
            "ZRANGEBYSCORE".into(),
            "board".into(),
            "(100".into(),
            "101".into(),
            "WITHSCORES".into(),
            "LIMIT".into(),
            "0".into(),
            "25".into(),
        ],
        vec![
            "ZRANGE".into(),
            "board".into(),
            "+inf".into(),
            "4000".into(),
            "BYSCORE".into(),
            "REV".into(),
            "LIMIT".into(),
            "3".into(),
            "7".into(),
        ],
        vec!["ZCOUNT".into(), "board".into(), "-10".into(), "10".into()],
        vec![
            "ZCOUNT".into(),
            "board".into(),
            "-inf".into(),
            "+inf".into(),
        ],
    ];
    for i in (0..MEMBERS).step_by(200) {
        queries.push(vec!["ZRANK".into(), "board".into(), format!("player:{i}")]);
        queries.push(vec![
            "ZREVRANK".into(),
            "board".into(),
            format!("player:{}", i + 1),
        ]);
        queries.push(vec![
            "ZSCORE".into(),
            "board".into(),
            format!("player:{}", i + 2),
        ]);
    }
    queries.push(vec![
        "ZINCRBY".into(),
        "board".into(),
        "1000000".into(),
        "player:77".into(),
    ]);
    queries.push(vec![
        "ZRANGE".into(),
        "board".into(),
        "0".into(),
        "2".into(),
        "REV".into(),
        "WITHSCORES".into(),
    ]);
    queries.push(vec!["ZRANK".into(), "board".into(), "player:77".into()]);
    let mut differences = Vec::new();
    for query in &queries {
        let refs: Vec<&[u8]> = query.iter().map(|a| a.as_bytes()).collect();
        let expected = redis.call(&refs).expect("redis replies");
        let actual = ninesdb.call(&refs).expect("ninesdb replies");
        if expected != actual {
            differences.push(format!(
                "{}\n    redis:   {expected:?}\n    ninesdb: {actual:?}",
                query.join(" ")
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} replies differ:\n{}",
        differences.len(),
        queries.len(),
        differences
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
