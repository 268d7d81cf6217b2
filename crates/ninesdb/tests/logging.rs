//! Logs from real server processes: `--log-format json` writes one JSON object per line,
//! each with its level and the node id, group events with their group and term; and
//! `--log-level warn` keeps warnings but drops the info lines.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{wait_for_leaders, Cluster};
use serde_json::Value;

/// Waits up to 10 s for node `id`'s log to satisfy `done`.
fn wait_for_log(cluster: &Cluster, id: u64, done: impl Fn(&str) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if done(&cluster.log(id)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

// Goal: a JSON log a shipper can take as is (issue 18, item 2). Method: one node with
// `--log-format json`; once its groups have leaders, every line parses, has a level, a
// timestamp and node 1; the serving line is INFO; a leader election line names its group and
// term, both as numbers, matching the words of its message.
#[test]
fn json_lines_carry_the_level_node_group_and_term() {
    let base = common::port_base(28001);
    let cluster = Cluster::start_with(
        1,
        base,
        "logging-json",
        &["--groups", "1", "--log-format", "json"],
        |_| None,
    );
    wait_for_leaders(cluster.clients[0], Duration::from_secs(20));
    assert!(
        wait_for_log(&cluster, 1, |log| log.contains("leads (term")),
        "no leader line: {}",
        cluster.log(1)
    );
    let log = cluster.log(1);
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    for line in &lines {
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                .contains(&line["level"].as_str().unwrap_or("")),
            "a level: {line}"
        );
        assert_eq!(line["node"], 1, "the node id: {line}");
        assert!(line["ts"].is_string(), "a timestamp: {line}");
        assert!(
            line["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("server")),
            "{line}"
        );
    }
    let serving = lines
        .iter()
        .find(|l| message(l).starts_with("serving Redis clients"))
        .unwrap_or_else(|| panic!("no serving line: {log}"));
    assert_eq!(serving["level"], "INFO");
    let elected = lines
        .iter()
        .find(|l| message(l).contains("leads (term"))
        .expect("a leader line");
    let (group, term) = (
        elected["group"].as_u64().expect("a numeric group"),
        elected["term"].as_u64().expect("a numeric term"),
    );
    assert!(term >= 1, "{elected}");
    assert_eq!(
        message(elected),
        format!("group {group}: node 1 leads (term {term})")
    );
    assert_eq!(elected["leader"], 1);
}

// Goal: `--log-level warn` filters. Method: one node at warn (text format); a stranger's hello
// of another cluster on its peer port makes a warning; the log then holds that warning, with
// its level and node, and no info line (the serving line, leader lines).
#[test]
fn log_level_warn_drops_info_lines() {
    let base = common::port_base(28051);
    let cluster = Cluster::start_with(
        1,
        base,
        "logging-warn",
        &["--groups", "1", "--log-level", "warn"],
        |_| None,
    );
    wait_for_leaders(cluster.clients[0], Duration::from_secs(20));
    let peer = SocketAddr::from(([127, 0, 0, 1], common::port(base + 100)));
    let mut frame = bytes::BytesMut::new();
    server::wire::encode(
        &server::wire::Frame::Hello {
            from: 7,
            version: server::wire::PROTOCOL_VERSION,
            cluster: "another cluster".to_owned(),
            tls_port: 0,
        },
        &mut frame,
    );
    let mut stranger = TcpStream::connect(peer).expect("the peer port");
    let _ = stranger.write_all(&frame);
    assert!(
        wait_for_log(&cluster, 1, |log| log.contains("refused")),
        "no warning about the stranger: {}",
        cluster.log(1)
    );
    let log = cluster.log(1);
    assert!(
        log.lines()
            .any(|l| l.starts_with("ninesdb[1] WARN peer connection from") && l.contains("refused")),
        "{log}"
    );
    assert!(
        !log.contains("serving Redis clients") && !log.contains("leads (term"),
        "info lines at --log-level warn: {log}"
    );
}
