//! Pipelines: a connection's commands go to the node thread together (`server::pipeline`),
//! and what the client sees must stay what Redis shows for the same commands one by one.

mod common;

use std::time::Duration;

use common::{start_redis, Client, Cluster, Reply};

/// The cluster's first client port (peers at +100, redis-server at +198).
const BASE: u16 = 26401;
const COMMANDS: usize = 10_000;

/// A small seeded generator (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn command(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// One random command on a few keys of every group: writes and reads of the same keys, each
/// kind's errors (wrong type, not an integer, arity), multi-key commands inside a hash tag,
/// and connection commands that run alone (PING, ECHO).
fn random_command(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let key = format!("k{}", rng.below(12));
    let list = format!("l{}", rng.below(3));
    let value = format!("v{n}");
    match rng.below(16) {
        0 | 1 => command(&["SET", &key, &value]),
        2 | 3 => command(&["GET", &key]),
        4 => command(&["INCR", &key]),
        5 => command(&["APPEND", &key, &value]),
        6 => command(&["DEL", &key]),
        7 => command(&["EXISTS", &key, &key]),
        8 => command(&["RPUSH", &list, &value, "x"]),
        9 => command(&["LRANGE", &list, "0", "3"]),
        10 => command(&["LPOP", &list]),
        11 => command(&["LLEN", &key]),
        12 => command(&["MSET", "{t}a", &value, "{t}b", &n.to_string()]),
        13 => command(&["MGET", "{t}a", "{t}b", "{t}c"]),
        14 => match rng.below(3) {
            0 => command(&["PING"]),
            1 => command(&["ECHO", &value]),
            _ => command(&["GET"]),
        },
        _ => command(&["INCRBY", "{t}b", "3"]),
    }
}

/// The pipeline: random commands, with a MULTI block and a blocking command in the middle
/// (one that finds an element, one that waits out its timeout).
fn pipeline(seed: u64) -> Vec<Vec<Vec<u8>>> {
    let mut rng = Rng(seed);
    let mut commands: Vec<Vec<Vec<u8>>> =
        (0..COMMANDS).map(|n| random_command(&mut rng, n)).collect();
    let middle = COMMANDS / 2;
    let block = [
        command(&["RPUSH", "{t}list", "a"]),
        command(&["MULTI"]),
        command(&["SET", "{t}a", "in-multi"]),
        command(&["INCR", "{t}b"]),
        command(&["LPUSH", "{t}a", "wrong type at EXEC"]),
        command(&["GET", "{t}a"]),
        command(&["EXEC"]),
        command(&["GET", "{t}a"]),
        command(&["BLPOP", "{t}list", "1"]),
        command(&["BLPOP", "{t}list", "0.1"]),
        command(&["SET", "{t}a", "after"]),
        command(&["GET", "{t}a"]),
    ];
    commands.splice(middle..middle, block);
    commands
}

// Goal: a pipeline answered with several commands in flight gives exactly Redis's replies,
// in order: a read sees the writes before it on the connection and not those after it,
// across groups, through a forwarding node, with a transaction and blocking commands in the
// middle. Method: 10,000 seeded commands sent at once, as one pipeline, to redis-server and
// to a 3-node, 3-group ninesdb (through node 1, which leads some groups and forwards the
// rest); every reply compared.
#[test]
fn a_deep_mixed_pipeline_answers_as_redis() {
    let _redis = start_redis(common::port(BASE + 198));
    let cluster = Cluster::start_with(3, BASE, "pipeline", &["--groups", "3"], |_| None);
    common::wait_for_leaders(cluster.clients[0], Duration::from_secs(20));
    // Leaderships first go where elections put them, then back to each group's preferred
    // node: let that settle, so no reply is a transfer's TRYAGAIN.
    std::thread::sleep(Duration::from_secs(3));
    let redis_address = std::net::SocketAddr::from(([127, 0, 0, 1], common::port(BASE + 198)));
    for seed in [1, 2] {
        let commands = pipeline(seed);
        let mut redis = Client::connect(redis_address).expect("connects to redis");
        let mut ninesdb = Client::connect(cluster.clients[0]).expect("connects to ninesdb");
        redis.call(&[b"FLUSHALL"]).expect("redis flushes");
        assert_eq!(
            ninesdb.call(&[b"FLUSHALL"]).expect("ninesdb flushes"),
            Reply::Simple("OK".to_owned())
        );
        let expected = redis.pipeline(&commands).expect("redis answers");
        let actual = ninesdb.pipeline(&commands).expect("ninesdb answers");
        let differences: Vec<String> = commands
            .iter()
            .zip(expected.iter().zip(&actual))
            .enumerate()
            .filter(|(_, (_, (e, a)))| e != a)
            .map(|(at, (command, (e, a)))| {
                let words: Vec<String> = command
                    .iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                format!("#{at} {}: redis {e:?}, ninesdb {a:?}", words.join(" "))
            })
            .collect();
        assert!(
            differences.is_empty(),
            "seed {seed}: {} of {} replies differ, the first:\n{}",
            differences.len(),
            commands.len(),
            differences[..differences.len().min(20)].join("\n")
        );
    }
}
