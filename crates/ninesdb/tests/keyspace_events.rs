//! Real processes: keyspace notifications (`notify-keyspace-events`) against redis-server
//! 7.0. The same commands run on both; a subscriber to `__key*__:*` on each records what it
//! hears, and the two transcripts must be equal message for message. The commands cover
//! every event Redis raises from a command (strings, keys, hashes, lists, sets, sorted sets,
//! geo, bitmaps, HyperLogLog, SORT, streams, RESTORE, scripts, MULTI); "expired" is checked
//! on its own, since when it fires differs (Redis on access or its expiry cycle, ninesdb when
//! the leader's sweep applies).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{start_redis, Client, Cluster, Reply};

/// Cluster at 26801 (peers 26901), redis-server at 26999.
const BASE: u16 = 26801;
const REDIS_PORT: u16 = 26999;

/// Every event of a command, in Redis's order. `{dump}` is replaced by DUMP's payload of
/// the string "hello" (taken from redis-server).
const CASES: &[&str] = &[
    // Strings.
    "SET s1 v",
    "SET s1 v EX 100",
    "SET s1 w KEEPTTL",
    "SET s1 w NX",
    "SETNX s1 x",
    "SETNX s2 y",
    "SETEX s3 100 v",
    "PSETEX s3 100000 v",
    "MSET m1 1 m2 2",
    "MSETNX m1 1 m3 3",
    "MSETNX m4 4 m5 5",
    "GETSET s2 z",
    "GETDEL s2",
    "GETDEL s2",
    "GETEX s1 EX 200",
    "GETEX s1 PERSIST",
    "GETEX s1",
    "APPEND s1 xx",
    "APPEND a1 yy",
    "INCR n",
    "DECR n",
    "INCRBY n 5",
    "DECRBY n 2",
    "INCRBYFLOAT f 1.5",
    "SETRANGE s1 2 abc",
    "SETRANGE s9 0 \"\"",
    // Keys.
    "EXPIRE m1 100",
    "PEXPIRE m1 100000",
    "EXPIREAT m1 4000000000",
    "PERSIST m1",
    "PERSIST m1",
    "EXPIRE m2 100 XX",
    "EXPIRE m2 -1",
    "RENAME m3 m6",
    "RENAMENX m6 m4",
    "RENAMENX m6 m8",
    "COPY m4 m7",
    "COPY m4 m7 REPLACE",
    "DEL m4 m5 nokey",
    "UNLINK m8",
    // Hashes.
    "HSET h f1 v1 f2 v2",
    "HSETNX h f1 x",
    "HSETNX h f3 x",
    "HMSET h f4 v",
    "HINCRBY h n 2",
    "HINCRBYFLOAT h fl 0.5",
    "HDEL h f1 nof",
    "HDEL h nof",
    "HDEL h f2 f3 f4 n fl",
    // Lists.
    "LPUSH l a b c",
    "RPUSH l d",
    "LPUSHX nol a",
    "RPUSHX l e",
    "LINSERT l BEFORE a z",
    "LINSERT l BEFORE nope z",
    "LSET l 0 q",
    "LREM l 1 q",
    "LREM l 1 nope",
    "LTRIM l 0 3",
    "LPOP l",
    "RPOP l 2",
    "LPOP l 0",
    "LMOVE l l2 LEFT RIGHT",
    "RPOPLPUSH l2 l3",
    "LMOVE l3 l3 LEFT RIGHT",
    "LMPOP 2 nol l3 LEFT COUNT 5",
    "RPUSH l x y",
    "BLPOP l 1",
    "BRPOP l 1",
    "RPUSH l4 a",
    "BLMOVE l4 l5 RIGHT LEFT 1",
    "BLMPOP 1 1 l5 RIGHT",
    // Sets.
    "SADD st a b c",
    "SADD st a",
    "SREM st a",
    "SREM st nope",
    "SMOVE st st2 b",
    "SMOVE st st2 zz",
    "SPOP st",
    "SADD st x y",
    "SPOP st 5",
    "SPOP st 0",
    "SADD s1set a b",
    "SADD s2set b c",
    "SINTERSTORE dst s1set s2set",
    "SUNIONSTORE dst s1set s2set",
    "SDIFFSTORE dst s1set s1set",
    "SDIFFSTORE dst s1set s1set",
    "SINTERSTORE dst2 s1set nosuch",
    // Sorted sets.
    "ZADD z 1 a 2 b 3 c",
    "ZADD z XX 5 a",
    "ZADD z NX 1 a",
    "ZADD z XX 1 nope",
    "ZINCRBY z 1 b",
    "ZADD z INCR 1 c",
    "ZREM z a",
    "ZREM z nope",
    "ZREMRANGEBYSCORE z 0 3",
    "ZADD z 1 a 2 b 3 c 4 d",
    "ZREMRANGEBYRANK z 0 0",
    "ZREMRANGEBYLEX z [zz [zzz",
    "ZREMRANGEBYLEX z - +",
    "ZADD z 1 a 2 b 3 c",
    "ZPOPMIN z",
    "ZPOPMAX z 5",
    "ZADD za 1 a 2 b",
    "ZADD zb 2 b 3 c",
    "ZUNIONSTORE zu 2 za zb",
    "ZINTERSTORE zi 2 za zb",
    "ZDIFFSTORE zi 2 za za",
    "ZRANGESTORE zr za 0 -1",
    "ZRANGESTORE zr za 5 6",
    "ZMPOP 1 za MIN",
    "BZPOPMIN zb 1",
    "BZMPOP 1 1 zb MAX COUNT 3",
    // Geo.
    "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEORADIUS g 15 37 200 km STORE gr",
    "GEORADIUS g 15 37 200 km STOREDIST gr",
    "GEOSEARCHSTORE gs g FROMLONLAT 0 0 BYRADIUS 1 km",
    // Bitmaps.
    "SETBIT b 7 1",
    "SETBIT b 7 1",
    "BITOP OR bo b b",
    "BITOP AND bo nob nob",
    "BITFIELD bf SET u8 0 255",
    "BITFIELD bf GET u8 0",
    // HyperLogLog.
    "PFADD hl a b",
    "PFADD hl a",
    "PFMERGE hm hl",
    "PFCOUNT hl",
    // SORT ... STORE.
    "RPUSH sl 3 1 2",
    "SORT sl STORE so",
    "SORT nosuch STORE so",
    // Streams.
    "XADD x 1-1 f v",
    "XADD x 2-1 f v",
    "XADD x MAXLEN 1 3-1 f v",
    "XADD x MAXLEN 5 4-1 f v",
    "XADD nostream NOMKSTREAM 1-1 f v",
    "XGROUP CREATE x g 0",
    "XGROUP CREATE x2 g $ MKSTREAM",
    "XGROUP CREATECONSUMER x g c1",
    "XGROUP CREATECONSUMER x g c1",
    "XREADGROUP GROUP g c2 COUNT 1 STREAMS x >",
    "XREADGROUP GROUP g c2 COUNT 1 STREAMS x >",
    "XCLAIM x g c3 0 3-1",
    "XAUTOCLAIM x g c4 0 0",
    "XACK x g 3-1",
    "XGROUP SETID x g 0",
    "XGROUP DELCONSUMER x g c1",
    "XGROUP DELCONSUMER x g nope",
    "XGROUP DESTROY x g",
    "XGROUP DESTROY x g",
    "XDEL x 4-1",
    "XDEL x 9-9",
    "XADD x 5-1 f v",
    "XTRIM x MAXLEN 0",
    "XTRIM x MAXLEN 0",
    "XSETID x 9-0",
    // RESTORE.
    "RESTORE rk 0 {dump}",
    "RESTORE rk 0 {dump} REPLACE",
    // A script, MULTI/EXEC, a command that fails.
    "EVAL \"redis.call('set', KEYS[1], 'v'); redis.call('incr', KEYS[2]); return redis.call('del', KEYS[1])\" 2 sk sn",
    "MULTI",
    "SET t1 1",
    "INCR t1",
    "LPUSH t1 x",
    "EXEC",
    "INCR s1",
];

/// `text` split like redis-cli splits a line (double quotes group words).
fn words(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    out.push(std::mem::take(&mut current).into_bytes());
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(current.into_bytes());
    }
    out
}

fn call(client: &mut Client, args: &[Vec<u8>]) -> Reply {
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    client.call(&refs).expect("a reply")
}

/// A subscriber to every keyspace and keyevent channel.
fn subscriber(address: SocketAddr) -> Client {
    let mut sub = Client::connect(address).expect("connects");
    let reply = sub
        .call(&[b"PSUBSCRIBE", b"__key*__:*"])
        .expect("subscribes");
    assert!(matches!(reply, Reply::Array(_)), "{reply:?}");
    sub
}

/// The next (channel, message) the subscriber hears.
fn message(sub: &mut Client) -> (String, String) {
    match sub.read_reply().expect("a message") {
        Reply::Array(parts) => match &parts[..] {
            [Reply::Bulk(Some(kind)), _, Reply::Bulk(Some(channel)), Reply::Bulk(Some(message))]
                if kind == b"pmessage" =>
            {
                (
                    String::from_utf8_lossy(channel).into_owned(),
                    String::from_utf8_lossy(message).into_owned(),
                )
            }
            other => panic!("not a pmessage: {other:?}"),
        },
        other => panic!("not a pmessage: {other:?}"),
    }
}

/// Everything heard up to the "set" event of `marker` (excluded).
fn heard_until(sub: &mut Client, marker: &str) -> Vec<(String, String)> {
    let mut heard = Vec::new();
    loop {
        let (channel, message) = message(sub);
        if channel == "__keyevent@0__:set" && message == marker {
            return heard;
        }
        heard.push((channel, message));
    }
}

/// Sets `notify-keyspace-events` and checks that CONFIG GET shows it as Redis does.
fn configure(client: &mut Client, flags: &str, shown: &str) {
    let reply = call(
        client,
        &words(&format!("CONFIG SET notify-keyspace-events {flags}")),
    );
    assert_eq!(reply, Reply::Simple("OK".to_owned()));
    let reply = call(client, &words("CONFIG GET notify-keyspace-events"));
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::Bulk(Some(b"notify-keyspace-events".to_vec())),
            Reply::Bulk(Some(shown.as_bytes().to_vec())),
        ])
    );
}

/// Both servers: (redis-server, ninesdb).
struct Pair {
    redis: Client,
    ninesdb: Client,
}

impl Pair {
    /// Runs `args` on both; returns both replies.
    fn run(&mut self, args: &[Vec<u8>]) -> (Reply, Reply) {
        (call(&mut self.redis, args), call(&mut self.ninesdb, args))
    }
}

// Goal: a subscriber hears the same keyspace events from ninesdb as from redis-server, for
// every command that raises one, in the same order, on a node that applies the writes as a
// follower. Method: the CASES on both, one PSUBSCRIBE transcript per server, compared whole;
// also the flags' text in CONFIG GET, a bad flag's error, and silence when the flags are off.
#[test]
fn events_match_redis() {
    let _redis = start_redis(REDIS_PORT);
    let cluster = Cluster::start(3, BASE, "keyspace-events");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let node = if leader == 1 { 2 } else { 1 };
    let ninesdb = cluster.clients[(node - 1) as usize];
    let redis = SocketAddr::from(([127, 0, 0, 1], REDIS_PORT));
    let mut pair = Pair {
        redis: Client::connect(redis).expect("redis"),
        ninesdb: Client::connect(ninesdb).expect("ninesdb"),
    };

    for client in [&mut pair.redis, &mut pair.ninesdb] {
        let bad = call(client, &words("CONFIG SET notify-keyspace-events KEq"));
        assert_eq!(
            bad,
            Reply::Error("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_owned())
        );
        configure(client, "Kg$lshzxet", "g$lshzxetK");
        configure(client, "Elg", "glE");
        configure(client, "KEA", "AKE");
    }
    let mut subs = (subscriber(redis), subscriber(ninesdb));
    // Redis's DUMP of a string, for RESTORE on both.
    call(&mut pair.redis, &words("SET dsrc hello"));
    let Reply::Bulk(Some(payload)) = call(&mut pair.redis, &words("DUMP dsrc")) else {
        panic!("DUMP gave no payload");
    };
    call(&mut pair.ninesdb, &words("SET dsrc hello"));

    let mut differing_replies = Vec::new();
    for case in CASES {
        let args: Vec<Vec<u8>> = words(case)
            .into_iter()
            .map(|w| if w == b"{dump}" { payload.clone() } else { w })
            .collect();
        let (mut from_redis, mut from_ninesdb) = pair.run(&args);
        if case.starts_with("SPOP") {
            // Members in the set's own order: Redis leaves it unspecified.
            for reply in [&mut from_redis, &mut from_ninesdb] {
                if let Reply::Array(items) = reply {
                    items.sort_by_key(|item| format!("{item:?}"));
                }
            }
        }
        if from_redis != from_ninesdb {
            differing_replies.push(format!(
                "{case}: redis {from_redis:?}, ninesdb {from_ninesdb:?}"
            ));
        }
    }
    assert!(
        differing_replies.is_empty(),
        "replies differ (the transcripts would too):\n{}",
        differing_replies.join("\n")
    );
    pair.run(&words("SET marker-1 x"));
    let heard_redis = heard_until(&mut subs.0, "marker-1");
    let heard_ninesdb = heard_until(&mut subs.1, "marker-1");
    let first_difference = heard_redis
        .iter()
        .zip(&heard_ninesdb)
        .position(|(r, n)| r != n);
    assert!(
        heard_redis == heard_ninesdb,
        "{} events from redis, {} from ninesdb; first difference at {:?}:\nredis:   {:?}\nninesdb: {:?}",
        heard_redis.len(),
        heard_ninesdb.len(),
        first_difference,
        first_difference.map(|i| &heard_redis[i..(i + 6).min(heard_redis.len())]),
        first_difference.map(|i| &heard_ninesdb[i..(i + 6).min(heard_ninesdb.len())]),
    );
    // Every command of CASES that changes something is heard; the check is not vacuous.
    assert!(heard_redis.len() > 300, "only {} events", heard_redis.len());

    // Off: nothing is published, then on again.
    for client in [&mut pair.redis, &mut pair.ninesdb] {
        configure(client, "\"\"", "");
    }
    pair.run(&words("SET quiet 1"));
    pair.run(&words("DEL quiet"));
    for client in [&mut pair.redis, &mut pair.ninesdb] {
        configure(client, "E$", "$E");
    }
    pair.run(&words("SET marker-2 x"));
    for sub in [&mut subs.0, &mut subs.1] {
        assert_eq!(heard_until(sub, "marker-2"), Vec::new());
    }
}

// Goal: a key whose TTL runs out raises "expired" with no command touching it, as Redis's
// active expiry does. Method: SET with PX 300 on both; both subscribers hear the keyevent
// within 5 s.
#[test]
fn expiry_raises_expired() {
    let _redis = start_redis(REDIS_PORT - 1);
    let cluster = Cluster::start_with(
        1,
        BASE + 50,
        "keyspace-expired",
        &["--groups", "1", "--notify-keyspace-events", "Ex"],
        |_| None,
    );
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    let redis = SocketAddr::from(([127, 0, 0, 1], REDIS_PORT - 1));
    let ninesdb = cluster.clients[0];
    let mut redis_client = Client::connect(redis).expect("redis");
    configure(&mut redis_client, "Ex", "xE");
    let mut ninesdb_client = Client::connect(ninesdb).expect("ninesdb");
    let shown = call(
        &mut ninesdb_client,
        &words("CONFIG GET notify-keyspace-events"),
    );
    assert_eq!(
        shown,
        Reply::Array(vec![
            Reply::Bulk(Some(b"notify-keyspace-events".to_vec())),
            Reply::Bulk(Some(b"xE".to_vec())),
        ]),
        "--notify-keyspace-events sets it at start"
    );
    for (address, client) in [(redis, &mut redis_client), (ninesdb, &mut ninesdb_client)] {
        let mut sub = subscriber(address);
        let started = Instant::now();
        call(client, &words("SET soon v PX 300"));
        // Only "expired" is on: SET's own events are not published.
        assert_eq!(
            message(&mut sub),
            ("__keyevent@0__:expired".to_owned(), "soon".to_owned())
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
