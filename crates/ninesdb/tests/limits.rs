//! Real processes: limits that agree end to end, and one process per data directory.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Cluster, Reply};

// Goal: the security review's first incident: an 80 MiB SET was accepted by the client layer,
// refused by every follower, stalled the group for 22 s and left the leader unable to restart
// ("implausible record length"). Method: 3 servers; an 80 MiB SET through the leader must get
// a clear error at once; the group keeps taking writes; the leader stops cleanly (SIGTERM)
// and restarts; every write is still there.
#[test]
fn an_oversized_write_is_refused_and_the_node_restarts() {
    let mut cluster = Cluster::start(3, 21001, "limits");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let mut client = Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
    assert_eq!(
        client.call(&[b"SET", b"before", b"1"]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    let huge = vec![b'x'; 80 << 20];
    let started = Instant::now();
    let reply = client
        .call(&[b"SET", b"huge", &huge])
        .expect("a reply, not a closed connection");
    let Reply::Error(error) = reply else {
        panic!("an 80 MiB SET was accepted: {reply:?}")
    };
    assert!(
        error.contains("max-request-bytes"),
        "the error says which limit: {error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused after {:?}",
        started.elapsed()
    );
    // The same limit inside a transaction.
    client.call(&[b"MULTI"]).unwrap();
    client.call(&[b"SET", b"huge", &huge[..20 << 20]]).unwrap();
    let reply = client.call(&[b"EXEC"]).unwrap();
    assert!(
        matches!(&reply, Reply::Error(e) if e.contains("max-request-bytes")),
        "EXEC of 20 MiB: {reply:?}"
    );
    // A value under the limit is fine, and the group goes on.
    let big = vec![b'y'; 8 << 20];
    assert_eq!(
        client.call(&[b"SET", b"big", &big]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    for i in 0..50 {
        let key = format!("after-{i}");
        assert_eq!(
            client.call(&[b"SET", key.as_bytes(), b"v"]).unwrap(),
            Reply::Simple("OK".to_owned())
        );
    }
    assert!(
        cluster.terminate(leader, Duration::from_secs(20)),
        "node {leader} stopped cleanly"
    );
    cluster.restart(leader);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut reader = loop {
        if let Some(mut c) = Client::connect(cluster.clients[(leader - 1) as usize]) {
            if c.call(&[b"GET", b"after-49"]).ok() == Some(Reply::Bulk(Some(b"v".to_vec()))) {
                break c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {leader} did not come back with its data"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        reader.call(&[b"STRLEN", b"big"]).unwrap(),
        Reply::Integer(8 << 20)
    );
    assert_eq!(
        reader.call(&[b"EXISTS", b"huge"]).unwrap(),
        Reply::Integer(0)
    );
}

// Goal: two processes never open one data directory. Method: start a cluster, then a second
// process for node 1 on node 1's directory: it must exit non-zero saying the directory is in
// use, while the first keeps serving.
#[test]
fn a_second_process_on_a_data_directory_is_refused() {
    let cluster = Cluster::start(3, 21051, "dirlock");
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    let mut second = cluster.second_process(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().expect("waits") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second process is still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "the second process exited successfully");
    let log = std::fs::read_to_string(cluster.data.join("node1.log")).unwrap_or_default();
    assert!(
        log.contains("in use by process"),
        "the log says why:\n{log}"
    );
    let mut client = Client::connect(cluster.clients[0]).expect("the first still serves");
    assert_eq!(
        client.call(&[b"PING"]).unwrap(),
        Reply::Simple("PONG".to_owned())
    );
}

// Goal: fail-stop: a storage error ends the process with a non-zero status (before, the node
// thread stopped but the process went on answering BUSY, so no supervisor saw it), and the
// group carries on without it. Method: 3 servers; `NINESDB DEBUG FAIL-DISK` on the leader
// makes its next log flush fail; a write triggers it; the process must exit non-zero with the
// reason in its log, and writes through another node succeed again.
#[test]
fn a_storage_error_ends_the_process() {
    let mut cluster = Cluster::start(3, 21201, "failstop");
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let mut client = Client::connect(cluster.clients[(leader - 1) as usize]).expect("connects");
    assert_eq!(
        client.call(&[b"NINESDB", b"DEBUG", b"FAIL-DISK"]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    let _ = client.call(&[b"SET", b"k", b"v"]);
    let child = cluster.processes[(leader - 1) as usize]
        .as_mut()
        .expect("the leader's process");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "node {leader} still runs after its disk failed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    cluster.processes[(leader - 1) as usize] = None;
    assert!(
        !status.success(),
        "node {leader} exited with {status} after a storage error"
    );
    let log =
        std::fs::read_to_string(cluster.data.join(format!("node{leader}.log"))).unwrap_or_default();
    assert!(
        log.contains("injected disk failure"),
        "the log says why:\n{log}"
    );
    let other = if leader == 1 { 2 } else { 1 };
    let mut survivor = Client::connect(cluster.clients[(other - 1) as usize]).expect("connects");
    let deadline = Instant::now() + Duration::from_secs(20);
    while survivor.call(&[b"SET", b"after", b"v"]).ok() != Some(Reply::Simple("OK".to_owned())) {
        assert!(
            Instant::now() < deadline,
            "the group took no writes after its leader stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process's resident memory in bytes (Linux).
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The leader holds `big` (1 MiB); returns a client of it, a second connection that will
/// not read, the leader's PID and its resident memory before that connection asks anything.
fn big_value_and_a_greedy_client(cluster: &Cluster) -> (Client, std::net::TcpStream, u32, u64) {
    let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
    let address = cluster.clients[(leader - 1) as usize];
    let mut client = Client::connect(address).expect("connects");
    let value = vec![b'v'; 1 << 20];
    assert_eq!(
        client.call(&[b"SET", b"big", &value]).unwrap(),
        Reply::Simple("OK".to_owned())
    );
    let pid = cluster.processes[(leader - 1) as usize]
        .as_ref()
        .expect("the leader runs")
        .id();
    std::thread::sleep(Duration::from_millis(500));
    let before = resident_bytes(pid);
    let greedy = std::net::TcpStream::connect(address).expect("connects");
    (client, greedy, pid, before)
}

/// After 3 s with the non-reading client, the leader (`pid`) may not have grown by 256 MiB
/// from `before` bytes.
fn assert_bounded_growth(pid: u32, before: u64) {
    std::thread::sleep(Duration::from_secs(3));
    let after = resident_bytes(pid);
    eprintln!(
        "leader resident memory {} MiB before, {} MiB with the non-reading client",
        before >> 20,
        after >> 20
    );
    assert!(before > 0, "no /proc/{pid}/status");
    assert!(
        after.saturating_sub(before) < 256 << 20,
        "the node grew by {} MiB for a client that does not read",
        after.saturating_sub(before) >> 20
    );
}

// Goal: the review's memory incident: 3,000 pipelined GETs of a 1 MiB value from a client
// that never reads took a node from 483 MB to 1.4 GB. Method: the same against the leader;
// its resident memory may not grow by more than 256 MiB while the client sits there.
#[test]
fn a_client_that_never_reads_holds_bounded_memory() {
    use std::io::Write;
    let cluster = Cluster::start(3, 21401, "noreader");
    let (mut client, mut greedy, pid, before) = big_value_and_a_greedy_client(&cluster);
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(3000);
    greedy.write_all(&request).expect("the pipeline is sent");
    assert_bounded_growth(pid, before);
    // The node still serves others.
    assert_eq!(
        client.call(&[b"STRLEN", b"big"]).unwrap(),
        Reply::Integer(1 << 20)
    );
    drop(greedy);
}

// Goal: a client that pipelines writes and reads and never reads a reply is still bounded,
// now that a connection keeps up to 1,024 commands in flight (`server::pipeline`). Method:
// 3,000 x (GET of a 1 MiB value, SET, INCR) sent at once by a connection that never reads;
// the leader may not grow by 256 MiB, others are served, and what the stuck client got
// applied is a prefix: the counter is at most 3,000, and the writes stop with it.
#[test]
fn a_pipelining_client_that_never_reads_holds_bounded_memory() {
    use std::io::Write;
    let cluster = Cluster::start(3, 26451, "noreaderpipe");
    let (mut client, mut greedy, pid, before) = big_value_and_a_greedy_client(&cluster);
    let mut request = Vec::new();
    for i in 0..3000 {
        let key = format!("s{i}");
        request.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
        request.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nx\r\n", key.len()).as_bytes(),
        );
        request.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
    }
    greedy.write_all(&request).expect("the pipeline is sent");
    assert_bounded_growth(pid, before);
    assert_eq!(
        client.call(&[b"STRLEN", b"big"]).unwrap(),
        Reply::Integer(1 << 20)
    );
    let Reply::Bulk(Some(count)) = client.call(&[b"GET", b"n"]).unwrap() else {
        panic!("INCR n ran at least once");
    };
    let count: usize = String::from_utf8_lossy(&count).parse().expect("a number");
    assert!(count <= 3000, "INCR ran {count} times");
    // The commands ran in order: the SET sent just before the last INCR that ran did run, and
    // the one after it did not.
    assert_eq!(
        client
            .call(&[b"EXISTS", format!("s{}", count - 1).as_bytes()])
            .unwrap(),
        Reply::Integer(1)
    );
    if count < 3000 {
        assert_eq!(
            client
                .call(&[b"EXISTS", format!("s{}", count + 1).as_bytes()])
                .unwrap(),
            Reply::Integer(0)
        );
    }
    drop(greedy);
}

// Goal: Redis's maxclients and timeout as flags. Method: servers with `--maxclients 4
// --timeout 1`; four idle connections fill node 1, a fifth is refused with Redis's error; after
// two idle seconds the four are closed by the server and a new client is served.
#[test]
fn maxclients_refuses_and_timeout_closes_idle_clients() {
    use std::io::{Read, Write};
    let cluster = Cluster::start_with(
        3,
        21601,
        "maxclients",
        &["--groups", "1", "--maxclients", "4", "--timeout", "1"],
        |_| None,
    );
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    std::thread::sleep(Duration::from_millis(300));
    let address = cluster.clients[0];
    let mut idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(address).expect("connects"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = std::net::TcpStream::connect(address).expect("the listener accepts");
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut refusal = String::new();
    let _ = fifth.read_to_string(&mut refusal);
    assert!(
        refusal.starts_with("-ERR max number of clients reached"),
        "{refusal:?}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).unwrap_or(0),
            0,
            "an idle client is closed after the timeout"
        );
        let _ = stream.write_all(b"PING\r\n");
    }
    let mut client = Client::connect(address).expect("connects");
    assert_eq!(
        client.call(&[b"PING"]).unwrap(),
        Reply::Simple("PONG".to_owned())
    );
}

// Goal: Redis's client-output-buffer-limit: a client that never reads is disconnected once
// its pending replies pass the hard limit, and the node's memory stays bounded meanwhile.
// Method: servers with `--client-output-buffer-limit 'normal 4mb 2mb 10'`; the same 3,000
// pipelined GETs of a 1 MiB value; the connection must end (EOF or reset) after far fewer
// than 3,000 replies, the leader's memory may not grow by 256 MiB, and others are served.
#[test]
fn a_non_reading_client_is_disconnected_at_its_output_limit() {
    use std::io::{Read, Write};
    let cluster = Cluster::start_with(
        3,
        21801,
        "outputlimit",
        &[
            "--groups",
            "1",
            "--client-output-buffer-limit",
            "normal 4mb 2mb 10",
        ],
        |_| None,
    );
    let (mut client, mut greedy, pid, before) = big_value_and_a_greedy_client(&cluster);
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(3000);
    // The server may close the connection while the pipeline is still being sent.
    let _ = greedy.write_all(&request);
    assert_bounded_growth(pid, before);
    // Now read: what the kernel buffered comes first, then the end of the connection.
    greedy
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    let closed = loop {
        match greedy.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    eprintln!(
        "the non-reading client got {} MiB of replies, then its connection ended",
        received >> 20
    );
    assert!(closed, "the connection was not closed by the server");
    assert!(
        received < 100 << 20,
        "{} MiB of replies reached a client over a 4 MiB limit",
        received >> 20
    );
    assert_eq!(
        client.call(&[b"STRLEN", b"big"]).unwrap(),
        Reply::Integer(1 << 20)
    );
}
