//! Real processes: the admin HTTP port. `/health` and `/ready` answer as probes expect,
//! `/metrics` parses with Prometheus's own Python parser and its counters move under load and
//! through a leader kill, the dashboard page is served, and Redis's introspection (INFO
//! commandstats/errorstats, SLOWLOG, CONFIG SET slowlog-log-slower-than, CONFIG RESETSTAT)
//! reports what ran; CONFIG SET maxmemory takes effect at once; CLIENT LIST and KILL see
//! every connection.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{wait_for_leaders, Client, Cluster, Reply};

/// Clients 27401-27403, peers 27501-27503, admin ports 27451-27453.
const BASE: u16 = 27401;
const ADMIN_OFFSET: u16 = 50;

/// GET `path` on `address`: (status code, body).
fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    // Chunked bodies (axum streams large ones): keep only the data lines.
    let body = if response
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Some((code, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// Parses an exposition with `prometheus_client.parser` and returns `name{labels} value`
/// lines of every sample, sorted (the parser refuses malformed text: the test fails then).
fn parse_with_prometheus(text: &str) -> Vec<String> {
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
             out = []\n\
             for family in text_string_to_metric_families(sys.stdin.read()):\n\
             \x20   for s in family.samples:\n\
             \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
             \x20       out.append(f'{s.name}{{{labels}}} {s.value}')\n\
             print('\\n'.join(sorted(out)))\n",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh installs python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "Prometheus's parser refused /metrics: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The value of the first parsed sample whose line starts with `prefix`.
fn sample(samples: &[String], prefix: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.starts_with(prefix))
        .and_then(|s| s.rsplit(' ').next()?.parse().ok())
}

fn admin(cluster: &Cluster, id: u64) -> SocketAddr {
    let client = cluster.clients[(id - 1) as usize];
    SocketAddr::new(client.ip(), client.port() + ADMIN_OFFSET)
}

fn scrape(cluster: &Cluster, id: u64) -> Vec<String> {
    let (code, body) = http_get(admin(cluster, id), "/metrics").expect("/metrics answers");
    assert_eq!(code, 200, "{body}");
    parse_with_prometheus(&body)
}

// Goal: an operator's scraper and probes get what they need (issue 18's acceptance: counters
// move, the leader change is counted, the text parses with a Prometheus parser). Method: a
// 3-node cluster with admin ports; writes; a scrape; the leader of group 1 killed; more
// writes; a scrape of a survivor; the probes before and after.
#[test]
fn metrics_probes_and_introspection() {
    let mut cluster = Cluster::start_each(
        3,
        BASE,
        "admin-http",
        &["--groups", "1"],
        |_| None,
        |id| {
            vec![
                "--admin-addr".to_owned(),
                format!("127.0.0.1:{}", BASE + ADMIN_OFFSET + id as u16 - 1),
            ]
        },
    );
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    for id in 1..=3 {
        assert_eq!(
            http_get(admin(&cluster, id), "/health").map(|r| r.0),
            Some(200)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(admin(&cluster, 1), "/ready").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "node 1 never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, page) = http_get(admin(&cluster, 1), "/").expect("the dashboard");
    assert_eq!(code, 200);
    assert!(page.contains("Topology and health") && page.contains("/status.json"));
    let (code, status) = http_get(admin(&cluster, 1), "/status.json").expect("status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    assert_eq!(status["nodes"].as_array().map(Vec::len), Some(3));

    // `ctl config-set` sets a value on every server of the cluster.
    let ctl = std::process::Command::new(env!("CARGO_BIN_EXE_ninesdb"))
        .args(["ctl", "--port", &BASE.to_string(), "config-set"])
        .args(["latency-monitor-threshold", "25"])
        .output()
        .expect("ninesdb ctl runs");
    assert!(
        ctl.status.success(),
        "{}",
        String::from_utf8_lossy(&ctl.stdout)
    );
    for address in &cluster.clients {
        let shown = Client::connect(*address)
            .unwrap()
            .call(&[b"CONFIG", b"GET", b"latency-monitor-threshold"])
            .unwrap();
        assert_eq!(
            shown,
            Reply::Array(vec![
                Reply::Bulk(Some(b"latency-monitor-threshold".to_vec())),
                Reply::Bulk(Some(b"25".to_vec()))
            ]),
            "at {address}"
        );
    }

    let leader = cluster.leader(Duration::from_secs(10)).expect("a leader");
    let survivor = if leader == 1 { 2 } else { 1 };
    let mut client = Client::connect(cluster.clients[(survivor - 1) as usize]).unwrap();
    assert_eq!(
        client
            .call(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"])
            .unwrap(),
        Reply::Simple("OK".to_owned())
    );
    for i in 0..200 {
        let key = format!("k{i}");
        client.call(&[b"SET", key.as_bytes(), b"v"]).unwrap();
    }
    client.call(&[b"LPUSH", b"k1", b"x"]).unwrap(); // WRONGTYPE
    let before = scrape(&cluster, survivor);
    assert!(sample(&before, "ninesdb_commands_total{cmd=set}").unwrap() >= 200.0);
    assert_eq!(
        sample(&before, "ninesdb_errors_total{kind=WRONGTYPE}"),
        Some(1.0)
    );
    assert!(sample(&before, "ninesdb_command_duration_seconds_count{cmd=set}").unwrap() >= 200.0);
    assert!(sample(&before, "ninesdb_fsync_duration_seconds_count").unwrap() > 0.0);
    assert!(sample(&before, "ninesdb_wal_bytes_total").unwrap() > 0.0);
    let changes_before = sample(&before, "ninesdb_group_leader_changes_total{group=1,").unwrap();

    let info = match client.call(&[b"INFO", b"commandstats"]).unwrap() {
        Reply::Bulk(Some(text)) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("INFO gave {other:?}"),
    };
    assert!(info.contains("cmdstat_set:calls=200,"), "{info}");
    assert!(info.contains("cmdstat_lpush:calls=1,") && info.contains("failed_calls=1"));
    match client.call(&[b"SLOWLOG", b"GET", b"1"]).unwrap() {
        Reply::Array(entries) => assert_eq!(entries.len(), 1),
        other => panic!("SLOWLOG GET gave {other:?}"),
    }

    // MEMORY USAGE is the key's estimated size (its group's answer); STATS the node's.
    match client.call(&[b"MEMORY", b"USAGE", b"k1"]).unwrap() {
        Reply::Integer(bytes) => assert!(bytes > 0),
        other => panic!("MEMORY USAGE gave {other:?}"),
    }
    assert_eq!(
        client.call(&[b"MEMORY", b"USAGE", b"nosuchkey"]).unwrap(),
        Reply::Bulk(None)
    );
    match client.call(&[b"MEMORY", b"STATS"]).unwrap() {
        Reply::Array(fields) => {
            assert!(fields.contains(&Reply::Bulk(Some(b"keys.count".to_vec()))))
        }
        other => panic!("MEMORY STATS gave {other:?}"),
    }

    // CLIENT LIST shows every connection of the node; CLIENT KILL closes another one.
    let mut victim = Client::connect(cluster.clients[(survivor - 1) as usize]).unwrap();
    victim.call(&[b"CLIENT", b"SETNAME", b"victim"]).unwrap();
    let list = match client.call(&[b"CLIENT", b"LIST"]).unwrap() {
        Reply::Bulk(Some(text)) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("CLIENT LIST gave {other:?}"),
    };
    let line = list
        .lines()
        .find(|l| l.contains("name=victim"))
        .unwrap_or_else(|| panic!("no victim in {list}"));
    assert!(line.contains("cmd=client"), "{line}");
    let victim_id = line
        .split(' ')
        .find_map(|field| field.strip_prefix("id="))
        .unwrap()
        .to_owned();
    assert_eq!(
        client
            .call(&[b"CLIENT", b"KILL", b"ID", victim_id.as_bytes()])
            .unwrap(),
        Reply::Integer(1)
    );
    assert!(
        victim.call(&[b"PING"]).is_err(),
        "a killed client is closed"
    );

    // maxmemory changes at run time: the node thread refuses writes past it at once.
    let set = |client: &mut Client, name: &[u8], value: &[u8]| {
        client.call(&[b"CONFIG", b"SET", name, value]).unwrap()
    };
    assert_eq!(
        set(&mut client, b"maxmemory", b"1kb"),
        Reply::Simple("OK".to_owned())
    );
    assert_eq!(
        client.call(&[b"CONFIG", b"GET", b"maxmemory"]).unwrap(),
        Reply::Array(vec![
            Reply::Bulk(Some(b"maxmemory".to_vec())),
            Reply::Bulk(Some(b"1024".to_vec()))
        ])
    );
    match client.call(&[b"SET", b"big", &[b'x'; 4096]]).unwrap() {
        Reply::Error(e) => assert!(e.starts_with("OOM"), "{e}"),
        other => panic!("a write past maxmemory gave {other:?}"),
    }
    assert_eq!(
        set(&mut client, b"maxmemory", b"0"),
        Reply::Simple("OK".to_owned())
    );
    assert_eq!(
        client.call(&[b"SET", b"big", &[b'x'; 4096]]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    match set(&mut client, b"maxmemory-policy", b"sometimes") {
        Reply::Error(e) => assert!(e.contains("maxmemory-policy"), "{e}"),
        other => panic!("a bad policy gave {other:?}"),
    }

    cluster.kill(leader);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if client.call(&[b"SET", b"after", b"kill"]).ok() == Some(Reply::Simple("OK".to_owned())) {
            break;
        }
        assert!(Instant::now() < deadline, "no write after the leader kill");
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = scrape(&cluster, survivor);
    let changes_after = sample(&after, "ninesdb_group_leader_changes_total{group=1,").unwrap();
    assert!(
        changes_after > changes_before,
        "leader changes {changes_before} -> {changes_after}"
    );
    assert!(sample(&after, "ninesdb_commands_total{cmd=set}").unwrap() > 200.0);
    assert_eq!(
        http_get(admin(&cluster, survivor), "/ready").map(|r| r.0),
        Some(200),
        "the survivors' group has a leader again"
    );
    assert_eq!(
        client.call(&[b"CONFIG", b"RESETSTAT"]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    let reset = scrape(&cluster, survivor);
    assert_eq!(sample(&reset, "ninesdb_commands_total{cmd=set}"), None);
}
