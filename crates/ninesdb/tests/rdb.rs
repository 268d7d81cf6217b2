//! Real processes: migration between redis-server 7.0 and ninesdb through RDB files
//! (`ninesdb ctl import-rdb` and `export-rdb`), checked by a differential read of every key.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{port_base, start_redis_with, wait_for_leaders, Client, Cluster, Reply};

/// Keys DEBUG POPULATE makes (besides the hand-made keys of every type).
const POPULATE: &str = "20000";

fn call(client: &mut Client, args: &[&str]) -> Reply {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    client.call(&args).expect("a reply")
}

fn ok(client: &mut Client, args: &[&str]) {
    let reply = call(client, args);
    assert!(!matches!(reply, Reply::Error(_)), "{args:?}: {reply:?}");
}

/// Every type in its compact and its large encodings, expiries, a stream with several
/// nodes, deletions, groups, pending entries and consumers, a function library, a key
/// already expired (active expiry off, so SAVE writes it) and a key in database 1.
fn populate(redis: &mut Client) {
    ok(redis, &["DEBUG", "POPULATE", POPULATE, "key", "10"]);
    ok(redis, &["SET", "s:int", "-12345"]);
    ok(redis, &["SET", "s:bin", "a\u{0}b\r\n\u{7f}"]);
    ok(redis, &["SET", "s:lzf", &"abcdefgh".repeat(200)]);
    ok(redis, &["SET", "s:ttl", "v", "PX", "3600000"]);
    ok(redis, &["SET", "s:exat", "v", "EXAT", "4000000000"]);
    ok(redis, &["RPUSH", "l:small", "a", "1", "-7", "70000", "x"]);
    let many: Vec<String> = (0..1500)
        .map(|i| format!("e{i}-{}", i * 7919 % 1000))
        .collect();
    let with = |cmd: &[&str], items: &[String]| -> Vec<String> {
        cmd.iter()
            .map(|s| s.to_string())
            .chain(items.iter().cloned())
            .collect()
    };
    let refs = |v: &Vec<String>| -> Vec<String> { v.clone() };
    let big_list = with(&["RPUSH", "l:big"], &many);
    ok(
        redis,
        &refs(&big_list)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    ok(redis, &["SADD", "set:int", "1", "2", "-3", "100000"]);
    ok(redis, &["SADD", "set:str", "a", "b", "c"]);
    let big_set = with(&["SADD", "set:big"], &many);
    ok(
        redis,
        &big_set.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    ok(redis, &["HSET", "h:small", "f", "v", "n", "1"]);
    let pairs: Vec<String> = (0..600)
        .flat_map(|i| [format!("f{i}"), format!("v{i}")])
        .collect();
    let big_hash = with(&["HSET", "h:big"], &pairs);
    ok(
        redis,
        &big_hash.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    ok(
        redis,
        &["ZADD", "z:small", "1.5", "a", "-inf", "b", "2", "c"],
    );
    let scored: Vec<String> = (0..300)
        .flat_map(|i| [format!("{}.25", i as i64 - 150), format!("m{i}")])
        .collect();
    let big_zset = with(&["ZADD", "z:big"], &scored);
    ok(
        redis,
        &big_zset.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    populate_stream(redis);
    ok(redis, &["PEXPIRE", "l:small", "7200000"]);
    ok(redis, &["FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 42 end)"]);
    ok(redis, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(redis, &["SET", "gone", "v", "PX", "1"]);
    ok(redis, &["SELECT", "1"]);
    ok(redis, &["SET", "in-db-1", "v"]);
    ok(redis, &["SELECT", "0"]);
    std::thread::sleep(Duration::from_millis(20));
}

/// A stream of several nodes with deleted entries, two groups, pending entries, consumers;
/// and a stream whose only entry was deleted.
fn populate_stream(redis: &mut Client) {
    for i in 1..=250 {
        let fields: Vec<String> = if i % 3 == 0 {
            vec!["other".into(), i.to_string()]
        } else {
            vec!["a".into(), i.to_string(), "b".into(), "x".repeat(i % 40)]
        };
        let mut args = vec!["XADD".to_string(), "x:stream".into(), format!("{i}-1")];
        args.extend(fields);
        ok(redis, &args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    ok(redis, &["XDEL", "x:stream", "5-1", "6-1", "250-1"]);
    ok(redis, &["XGROUP", "CREATE", "x:stream", "g1", "0"]);
    ok(
        redis,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "10",
            "STREAMS",
            "x:stream",
            ">",
        ],
    );
    ok(
        redis,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "bob",
            "COUNT",
            "3",
            "STREAMS",
            "x:stream",
            ">",
        ],
    );
    ok(redis, &["XACK", "x:stream", "g1", "1-1", "2-1"]);
    ok(redis, &["XGROUP", "CREATE", "x:stream", "g2", "$"]);
    ok(
        redis,
        &["XGROUP", "CREATECONSUMER", "x:stream", "g2", "carol"],
    );
    ok(redis, &["XADD", "x:empty", "1-1", "f", "v"]);
    ok(redis, &["XDEL", "x:empty", "1-1"]);
}

/// Saves redis-server's dataset and returns the file's path.
fn save(redis: &mut Client) -> PathBuf {
    ok(redis, &["SAVE"]);
    let Reply::Array(dir) = call(redis, &["CONFIG", "GET", "dir"]) else {
        panic!("CONFIG GET dir")
    };
    let Some(Reply::Bulk(Some(dir))) = dir.get(1) else {
        panic!("a dir")
    };
    PathBuf::from(String::from_utf8_lossy(dir).into_owned()).join("dump.rdb")
}

fn ctl(port: u16, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ninesdb"))
        .args(["ctl", "--port", &port.to_string()])
        .args(args)
        .output()
        .expect("ninesdb runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ctl {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A reply as compact text (bulk strings quoted, lossy UTF-8).
fn text(reply: &Reply) -> String {
    match reply {
        Reply::Simple(s) => format!("+{s}"),
        Reply::Error(e) => format!("-{e}"),
        Reply::Integer(n) => n.to_string(),
        Reply::Bulk(None) | Reply::NilArray => "nil".into(),
        Reply::Bulk(Some(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        Reply::Array(items) => {
            format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(" "))
        }
    }
}

/// Pairs of a flat array (HGETALL, ZRANGE WITHSCORES) or members, sorted.
fn sorted(reply: Reply, chunk: usize) -> String {
    let Reply::Array(items) = reply else {
        return text(&reply);
    };
    let mut groups: Vec<String> = items
        .chunks(chunk)
        .map(|c| c.iter().map(text).collect::<Vec<_>>().join(" "))
        .collect();
    groups.sort();
    groups.join(",")
}

/// The commands that read a key of type `kind` without DUMP, then its PTTL.
fn reads<'a>(kind: &str, key: &'a str) -> Vec<Vec<&'a str>> {
    let mut reads = match kind {
        "string" => vec![vec!["GET", key]],
        "list" => vec![vec!["LRANGE", key, "0", "-1"]],
        "set" => vec![vec!["SMEMBERS", key]],
        "hash" => vec![vec!["HGETALL", key]],
        "zset" => vec![vec!["ZRANGE", key, "0", "-1", "WITHSCORES"]],
        "stream" => vec![
            vec!["XRANGE", key, "-", "+"],
            vec!["XINFO", "STREAM", key, "FULL"],
            vec!["XPENDING", key, "g1"],
            vec!["XINFO", "GROUPS", key],
        ],
        other => panic!("unexpected type {other} of {key}"),
    };
    reads.push(vec!["PTTL", key]);
    reads
}

fn pipeline(client: &mut Client, commands: &[Vec<&str>]) -> Vec<Reply> {
    let commands: Vec<Vec<&[u8]>> = commands
        .iter()
        .map(|c| c.iter().map(|a| a.as_bytes()).collect())
        .collect();
    client.pipeline(&commands).expect("replies")
}

/// Each key's type and value read with plain commands (no DUMP), and its PTTL; pipelined.
fn read_keys(client: &mut Client, keys: &[String]) -> Vec<(String, i64)> {
    let types: Vec<Vec<&str>> = keys.iter().map(|k| vec!["TYPE", k.as_str()]).collect();
    let types: Vec<String> = pipeline(client, &types)
        .into_iter()
        .map(|t| match t {
            Reply::Simple(kind) => kind,
            other => panic!("TYPE: {other:?}"),
        })
        .collect();
    let per_key: Vec<Vec<Vec<&str>>> = keys.iter().zip(&types).map(|(k, t)| reads(t, k)).collect();
    let commands: Vec<Vec<&str>> = per_key.iter().flatten().cloned().collect();
    let mut replies = pipeline(client, &commands).into_iter();
    keys.iter()
        .zip(&types)
        .zip(&per_key)
        .map(|((key, kind), reads)| {
            let mut values: Vec<String> = Vec::new();
            for _ in 1..reads.len() {
                let reply = replies.next().expect("a reply per read");
                values.push(match kind.as_str() {
                    "set" => sorted(reply, 1),
                    "hash" => sorted(reply, 2),
                    _ => text(&reply),
                });
            }
            let Some(Reply::Integer(pttl)) = replies.next() else {
                panic!("PTTL {key}")
            };
            (format!("{kind}: {}", values.join("\n")), pttl)
        })
        .collect()
}

fn all_keys(client: &mut Client) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let Reply::Array(mut reply) = call(client, &["SCAN", &cursor, "COUNT", "1000"]) else {
            panic!("SCAN")
        };
        let (Some(Reply::Array(batch)), Some(Reply::Bulk(Some(next)))) = (reply.pop(), reply.pop())
        else {
            panic!("SCAN reply")
        };
        keys.extend(batch.into_iter().map(|k| match k {
            Reply::Bulk(Some(k)) => String::from_utf8_lossy(&k).into_owned(),
            other => panic!("a key: {other:?}"),
        }));
        cursor = String::from_utf8_lossy(&next).into_owned();
        if cursor == "0" {
            return keys;
        }
    }
}

/// Every key of `reference` reads the same on `other` (PTTL within 10 s), and both hold
/// the same number of keys.
fn same_keys(reference: SocketAddr, other: SocketAddr) {
    let mut a = Client::connect(reference).expect("reference answers");
    let mut b = Client::connect(other).expect("other answers");
    let keys = all_keys(&mut a);
    assert!(keys.len() > 20_000, "{} keys", keys.len());
    // A server answers one connection's reads one after another: 8 readers in parallel.
    let share = keys.len().div_ceil(8);
    let mismatches: Vec<String> = std::thread::scope(|scope| {
        let readers: Vec<_> = keys
            .chunks(share)
            .map(|part| scope.spawn(move || differences(reference, other, part)))
            .collect();
        readers
            .into_iter()
            .flat_map(|r| r.join().expect("a reader"))
            .collect()
    });
    assert!(
        mismatches.is_empty(),
        "{} of {} keys differ:\n{}",
        mismatches.len(),
        keys.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(call(&mut a, &["DBSIZE"]), call(&mut b, &["DBSIZE"]));
    assert_eq!(
        text(&call(&mut a, &["FCALL", "myfunc", "0"])),
        text(&call(&mut b, &["FCALL", "myfunc", "0"]))
    );
}

/// The keys of `keys` that read differently on the two servers (PTTL within 10 s).
fn differences(reference: SocketAddr, other: SocketAddr, keys: &[String]) -> Vec<String> {
    let mut a = Client::connect(reference).expect("reference answers");
    let mut b = Client::connect(other).expect("other answers");
    let mut mismatches = Vec::new();
    for batch in keys.chunks(200) {
        let (want, got) = (read_keys(&mut a, batch), read_keys(&mut b, batch));
        for ((key, (want, want_ttl)), (got, got_ttl)) in batch.iter().zip(want).zip(got) {
            let ttl_ok = (want_ttl < 0 && want_ttl == got_ttl)
                || (want_ttl >= 0 && (want_ttl - got_ttl).abs() < 10_000);
            if want != got || !ttl_ok {
                let (want, got) = first_difference(&want, &got);
                mismatches.push(format!(
                    "{key}: want ...{want} (pttl {want_ttl})\n  got  ...{got} (pttl {got_ttl})"
                ));
            }
        }
    }
    mismatches
}

/// Where two texts part, with some context.
fn first_difference(a: &str, b: &str) -> (String, String) {
    let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let from = at.saturating_sub(80);
    let cut = |s: &str| {
        s.get(from..)
            .unwrap_or("")
            .chars()
            .take(240)
            .collect::<String>()
    };
    (cut(a), cut(b))
}

fn start_cluster(base: u16, name: &str) -> Cluster {
    let cluster = Cluster::start_with(3, base, name, &["--groups", "3"], |_| None);
    wait_for_leaders(cluster.clients[0], Duration::from_secs(20));
    cluster
}

/// redis-server populated and saved, the file and its address.
fn redis_with_data(port: u16) -> (common::RedisServer, SocketAddr, PathBuf) {
    let server = start_redis_with(port, &["--enable-debug-command", "local"]);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut redis = Client::connect(address).expect("redis answers");
    populate(&mut redis);
    let file = save(&mut redis);
    ok(&mut redis, &["DEL", "gone"]); // expired, kept by SAVE: the import skips it
    (server, address, file)
}

// Goal: an RDB file written by redis-server 7.0 arrives whole in a 3-group cluster. Method:
// populate every type and encoding plus 20k DEBUG POPULATE keys, SAVE, `ctl import-rdb`,
// then read every key on both sides with plain commands (PTTL within slack), and check the
// summary's skips.
#[test]
fn import_rdb_matches_redis() {
    let base = port_base(26001);
    let (_redis, redis_address, file) = redis_with_data(base + 198);
    let cluster = start_cluster(base, "rdb-import");
    refuses_a_damaged_file(base, &file, cluster.clients[0]);
    let started = std::time::Instant::now();
    let summary = ctl(base, &["import-rdb", file.to_str().expect("a path")]);
    println!("{summary}import took {:?}", started.elapsed());
    assert!(summary.contains("skipped 1: already expired"), "{summary}");
    assert!(summary.contains("skipped 1: in database 1"), "{summary}");
    assert!(summary.contains("stream 2"), "{summary}");
    assert!(!summary.contains("FAILED"), "{summary}");
    let started = std::time::Instant::now();
    same_keys(redis_address, cluster.clients[1]);
    println!("reading every key took {:?}", started.elapsed());
    stream_dump_round_trip(redis_address, cluster.clients[2]);
}

/// A copy of `file` with one byte changed is refused (the checksum) before any key loads.
fn refuses_a_damaged_file(port: u16, file: &Path, address: SocketAddr) {
    let mut bytes = std::fs::read(file).expect("the RDB file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let damaged = file.with_file_name("damaged.rdb");
    std::fs::write(&damaged, bytes).expect("a damaged copy");
    let out = Command::new(env!("CARGO_BIN_EXE_ninesdb"))
        .args(["ctl", "--port", &port.to_string(), "import-rdb"])
        .arg(&damaged)
        .output()
        .expect("ninesdb runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("checksum mismatch"),
        "{err}"
    );
    let mut client = Client::connect(address).expect("ninesdb answers");
    assert_eq!(call(&mut client, &["DBSIZE"]), Reply::Integer(0));
}

/// DUMP `from_key` on one server, RESTORE it as `to_key` on the other.
fn copy_by_dump(from: &mut Client, from_key: &str, to: &mut Client, to_key: &str) {
    let Reply::Bulk(Some(payload)) = call(from, &["DUMP", from_key]) else {
        panic!("DUMP {from_key}")
    };
    let restored = to
        .call(&[b"RESTORE", to_key.as_bytes(), b"0", &payload])
        .expect("RESTORE");
    assert_eq!(restored, Reply::Simple("OK".into()), "RESTORE {to_key}");
}

/// DUMP of a stream from redis-server, RESTORE into ninesdb, DUMP there, RESTORE into
/// redis-server again: the three read alike (XINFO STREAM FULL, XRANGE, XPENDING, groups).
fn stream_dump_round_trip(redis: SocketAddr, ninesdb: SocketAddr) {
    let mut r = Client::connect(redis).expect("redis answers");
    let mut n = Client::connect(ninesdb).expect("ninesdb answers");
    copy_by_dump(&mut r, "x:stream", &mut n, "x:copy");
    copy_by_dump(&mut n, "x:copy", &mut r, "x:back");
    let (want, _) = read_keys(&mut r, &["x:stream".to_owned()]).remove(0);
    let (copy, _) = read_keys(&mut n, &["x:copy".to_owned()]).remove(0);
    let (again, _) = read_keys(&mut r, &["x:back".to_owned()]).remove(0);
    assert_eq!(copy, want, "redis -> ninesdb");
    assert_eq!(again, want, "redis -> ninesdb -> redis");
}

// Goal: `ctl export-rdb` writes a file redis-server 7.0 loads with the same data (streams
// included: ninesdb's own DUMP of them). Method: import as above, export, start a second
// redis-server on the exported file, and read every key on both redis-servers.
#[test]
fn export_rdb_loads_in_redis() {
    let base = port_base(26201);
    let (_redis, redis_address, file) = redis_with_data(base + 198);
    let cluster = start_cluster(base, "rdb-export");
    ctl(base, &["import-rdb", file.to_str().expect("a path")]);
    let dir = cluster.data.join("export");
    std::fs::create_dir_all(&dir).expect("export dir");
    let exported = dir.join("exported.rdb");
    let summary = ctl(
        base + 1,
        &["export-rdb", exported.to_str().expect("a path")],
    );
    assert!(summary.contains("exported"), "{summary}");
    let loader = load_in_redis(base + 197, &dir, "exported.rdb");
    same_keys(
        redis_address,
        SocketAddr::from(([127, 0, 0, 1], base + 197)),
    );
    drop(loader);
}

/// A redis-server on `port` that has loaded `dir/file`.
fn load_in_redis(port: u16, dir: &Path, file: &str) -> common::RedisServer {
    let server = common::start_redis_in(port, dir, &["--dbfilename", file]);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..200 {
        if let Some(mut c) = Client::connect(address) {
            if let Reply::Bulk(Some(info)) = call(&mut c, &["INFO", "persistence"]) {
                if String::from_utf8_lossy(&info).contains("loading:0") {
                    return server;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not load {file}");
}
