//! Differential tests: the same commands against a real redis-server and a 3-node ninesdb.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{start_redis, Client, Cluster, Reply};

/// Splits a case line like redis-cli: spaces separate, double quotes group, and a backslash
/// escapes (`\n`, `\r`, `\t`, `\xNN`, or the next byte as it is: `\"`, `\\`), so that a
/// Lua script can hold a newline.
fn split(line: &str) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut current = Vec::new();
    let mut quoted = false;
    let mut any = false;
    let mut bytes = line.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'\\' => {
                any = true;
                match bytes.next() {
                    Some(b'n') => current.push(b'\n'),
                    Some(b'r') => current.push(b'\r'),
                    Some(b't') => current.push(b'\t'),
                    Some(b'x') => {
                        let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                        let value = std::str::from_utf8(&hex)
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok());
                        current.push(value.unwrap_or(b'?'));
                    }
                    Some(other) => current.push(other),
                    None => current.push(b'\\'),
                }
            }
            b'"' => {
                quoted = !quoted;
                any = true;
            }
            b' ' if !quoted => {
                if any {
                    args.push(std::mem::take(&mut current));
                    any = false;
                }
            }
            _ => {
                current.push(byte);
                any = true;
            }
        }
    }
    if any {
        args.push(current);
    }
    args
}

fn normalise(reply: Reply, mode: &str) -> Reply {
    match (mode, reply) {
        ("sorted", Reply::Array(mut items)) => {
            items.sort_by_key(|item| format!("{item:?}"));
            Reply::Array(items)
        }
        ("scan", Reply::Array(mut items)) if items.len() == 2 => {
            let list = normalise(items.pop().unwrap_or(Reply::Array(Vec::new())), "sorted");
            items.push(list);
            Reply::Array(items)
        }
        ("type" | "kind", Reply::Bulk(_)) => Reply::Bulk(None),
        ("type" | "kind", Reply::Integer(_)) => Reply::Integer(0),
        ("type", Reply::Array(items)) => {
            Reply::Array(items.into_iter().map(|_| Reply::Bulk(None)).collect())
        }
        ("kind", Reply::Array(_)) => Reply::Array(Vec::new()),
        (_, reply) => reply,
    }
}

/// The case files of tests/differential/, in name order (one per command family).
fn case_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/differential exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                name,
                std::fs::read_to_string(&path).expect("a readable case file"),
            )
        })
        .collect()
}

// Goal: ninesdb answers like Redis, errors included. Method: run every line of the files in
// tests/differential/ (each begins on an empty keyspace) on redis-server and on a 3-node ninesdb (through a follower, so that the
// forwarding path is tested too), compare each reply; list every difference.
#[test]
fn replies_match_redis() {
    let base = common::port_base(17801);
    let _redis = start_redis(common::port(base + 198));
    let cluster = Cluster::start(3, base, "differential");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let follower = if leader == 1 { 2 } else { 1 };
    let redis_address = SocketAddr::from(([127, 0, 0, 1], common::port(base + 198)));
    let ninesdb_address = cluster.clients[(follower - 1) as usize];
    let mut differences = Vec::new();
    let mut cases = 0;
    for (file, text) in case_files() {
        // Each file starts on fresh connections (a file may end with QUIT) and an empty keyspace.
        let mut redis = Client::connect(redis_address).expect("connects to redis");
        let mut ninesdb = Client::connect(ninesdb_address).expect("connects to ninesdb");
        let lines = std::iter::once("FLUSHALL").chain(text.lines().map(str::trim));
        for line in lines.filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (mode, command) = match line.split_once(' ') {
                Some((mode @ ("sorted" | "scan" | "type" | "kind"), rest)) => (mode, rest),
                _ => ("exact", line),
            };
            let args = split(command);
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let expected = normalise(
                redis
                    .call(&refs)
                    .unwrap_or_else(|e| panic!("{file}: redis did not answer {command}: {e}")),
                mode,
            );
            let actual = normalise(
                ninesdb
                    .call(&refs)
                    .unwrap_or_else(|e| panic!("{file}: ninesdb did not answer {command}: {e}")),
                mode,
            );
            cases += 1;
            if expected != actual {
                differences.push(format!(
                    "{file}: {command}\n    redis:   {expected:?}\n    ninesdb: {actual:?}"
                ));
            }
        }
    }
    eprintln!(
        "{cases} differential cases, {} differences",
        differences.len()
    );
    assert!(cases > 240, "only {cases} cases ran");
    assert!(
        differences.is_empty(),
        "{} of {cases} replies differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
