//! Peer identity and limits with real processes: a fake peer speaks the peer protocol to a
//! running node (no TLS, so the `Hello` is the only proof of who calls). A caller of another
//! cluster, protocol version or an unknown node id is refused before any of its frames acts;
//! a member list from a member that is not the meta group's leader changes nothing; and half
//! frames cannot grow a node's memory.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::{wait_for_leaders, Client, Cluster, Reply};
use server::wire::{self, Frame};

fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for frame in frames {
        wire::encode(frame, &mut out);
    }
    out.to_vec()
}

fn hello(from: u64, version: u64, cluster: &str) -> Frame {
    Frame::Hello {
        from,
        version,
        cluster: cluster.to_owned(),
        tls_port: 0,
    }
}

fn peer_port(base: u16, id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], common::port(base + 100 + id as u16 - 1)))
}

/// Connects to a peer port and sends `bytes`.
fn send(address: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("peer port");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = stream.write_all(bytes);
    stream
}

/// Whether the node closed the connection (within the read timeout), reading past any frame
/// it sent.
fn closed_by_node(stream: &mut TcpStream) -> bool {
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) => {
                return !matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

/// The next frame the node sends on `stream`.
fn read_frame(stream: &mut TcpStream) -> Option<Frame> {
    let mut header = [0; 8];
    stream.read_exact(&mut header).ok()?;
    let length = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let mut frame = BytesMut::from(&header[..]);
    frame.resize(8 + length, 0);
    stream.read_exact(&mut frame[8..]).ok()?;
    wire::decode(&mut frame).ok()?
}

fn get(address: SocketAddr, key: &str) -> Reply {
    Client::connect(address)
        .expect("client port")
        .call(&[b"GET", key.as_bytes()])
        .expect("reply")
}

/// Retries a SET until it is answered OK (leaders may move while links are disturbed).
fn set_eventually(address: SocketAddr, key: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply =
            Client::connect(address).and_then(|mut c| c.call(&[b"SET", key.as_bytes(), b"v"]).ok());
        match reply {
            Some(Reply::Simple(ok)) => return Reply::Simple(ok),
            other if Instant::now() > deadline => return other.unwrap_or(Reply::Bulk(None)),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn wait_for_log(cluster: &Cluster, id: u64, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cluster.log(id).contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

// Goal: only members of this cluster speaking this protocol get a hearing, and a member
// list counts only from the meta group's leader of the current term. Method: fake peers
// against node 1: another cluster id, another version, node id 99 sending a forwarded SET,
// frames without a Hello; then a valid Hello as node 2 followed by a member list of term 999
// moving node 3 elsewhere. Nothing is executed or changed, each refusal is logged, and node 1
// keeps serving keys of every group (through its links to nodes 2 and 3).
#[test]
fn strangers_are_refused_and_forged_frames_change_nothing() {
    let base = 22601;
    let cluster = Cluster::start_with(3, base, "peer-identity", &["--groups", "3"], |_| None);
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    let id_file = |id: u64| {
        std::fs::read_to_string(cluster.data.join(format!("node{id}/CLUSTER_ID")))
            .expect("the cluster id is kept in the data directory")
    };
    let cluster_id = id_file(1);
    assert!(!cluster_id.is_empty());
    assert_eq!(
        (id_file(2), id_file(3)),
        (cluster_id.clone(), cluster_id.clone())
    );
    let node1 = peer_port(base, 1);

    let mut stream = send(node1, &encode(&[hello(2, wire::PROTOCOL_VERSION, "other")]));
    assert!(closed_by_node(&mut stream), "another cluster id is refused");
    assert!(wait_for_log(&cluster, 1, "cluster id \"other\""));

    let mut stream = send(node1, &encode(&[hello(2, 1, &cluster_id)]));
    assert!(
        closed_by_node(&mut stream),
        "another protocol version is refused"
    );
    assert!(wait_for_log(&cluster, 1, "protocol version 1"));

    let forward = |key: &str| Frame::Forward {
        id: 1,
        resp3: false,
        args: ["SET", key, "forged"]
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect(),
    };
    let mut stream = send(
        node1,
        &encode(&[
            hello(99, wire::PROTOCOL_VERSION, &cluster_id),
            forward("from99"),
        ]),
    );
    assert!(closed_by_node(&mut stream), "unknown node id 99 is refused");
    assert!(wait_for_log(&cluster, 1, "node id 99 is not a member"));
    let mut stream = send(node1, &encode(&[forward("nohello")]));
    assert!(
        closed_by_node(&mut stream),
        "a forward without a hello is refused"
    );

    forged_member_lists_change_nothing(&cluster, node1, &cluster_id);
    assert_eq!(get(cluster.clients[0], "from99"), Reply::Bulk(None));
    assert_eq!(get(cluster.clients[0], "nohello"), Reply::Bulk(None));
    // Node 1 still reaches every group's leader (no stale link marked down): keys of all
    // three groups are written through it.
    for key in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        assert_eq!(
            set_eventually(cluster.clients[0], key),
            Reply::Simple("OK".into()),
            "SET {key} through node 1"
        );
    }
}

/// A member list without a Hello closes the link; one from a member that is not the meta
/// group's leader of that term (here: term 999, moving node 3 to a foreign address) is
/// ignored: the MEMBERS file and CLUSTER SLOTS are unchanged.
fn forged_member_lists_change_nothing(cluster: &Cluster, node1: SocketAddr, cluster_id: &str) {
    // The node writes MEMBERS once it has read the meta group's registry (all 3 recorded).
    let path = cluster.data.join("node1/MEMBERS");
    let deadline = Instant::now() + Duration::from_secs(20);
    let complete = |path: &std::path::Path| {
        std::fs::read_to_string(path).is_ok_and(|text| text.lines().count() == 3)
    };
    while !complete(&path) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let members_before = std::fs::read_to_string(&path).expect("MEMBERS file");
    let forged = members_before
        .lines()
        .map(|line| {
            if line.starts_with("3 ") {
                "3 127.0.0.1:22699 127.0.0.1:22698 dc1:pod1:rack3:host3".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let members = Frame::Members {
        term: 999,
        index: 999,
        members: forged,
    };
    let mut stream = send(node1, &encode(std::slice::from_ref(&members)));
    assert!(
        closed_by_node(&mut stream),
        "a member list without a hello is refused"
    );

    let mut stream = send(
        node1,
        &encode(&[hello(2, wire::PROTOCOL_VERSION, cluster_id)]),
    );
    match read_frame(&mut stream) {
        Some(Frame::Hello {
            from,
            version,
            cluster,
            ..
        }) => assert_eq!(
            (from, version, cluster),
            (1, wire::PROTOCOL_VERSION, cluster_id.to_owned()),
            "node 1 answers a member's hello with its own"
        ),
        other => panic!("expected node 1's hello, got {other:?}"),
    }
    stream.write_all(&encode(&[members])).expect("send");
    assert!(
        wait_for_log(cluster, 1, "member list from node 2 (term 999) ignored"),
        "{}",
        cluster.log(1)
    );
    drop(stream);
    std::thread::sleep(Duration::from_millis(1500)); // two rounds of member adoption
    let members_after =
        std::fs::read_to_string(cluster.data.join("node1/MEMBERS")).expect("MEMBERS file");
    assert_eq!(
        members_after, members_before,
        "the MEMBERS file is unchanged"
    );
    let slots = Client::connect(cluster.clients[0])
        .expect("node 1")
        .call(&[b"CLUSTER", b"SLOTS"])
        .expect("reply");
    assert!(!format!("{slots:?}").contains("22698"), "{slots:?}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

// Goal: memory stays bounded under the half-frame attack of the issue (20 connections each
// sending half of a claimed 64 MiB frame took a node from 32 MB to 1 GB). Method: 20
// connections to node 1's peer port, half without a Hello, half with a member's Hello (no TLS
// here, so anyone can claim one), each sending a header that claims 64 MiB and then 32 MiB;
// node 1's RSS is measured while they hang on, and must grow by less than 150 MB. The
// cluster serves afterwards.
#[test]
fn half_frames_cannot_grow_memory() {
    let base = 22801;
    let cluster = Cluster::start_with(3, base, "half-frames", &["--groups", "3"], |_| None);
    wait_for_leaders(cluster.clients[0], Duration::from_secs(30));
    let cluster_id =
        std::fs::read_to_string(cluster.data.join("node1/CLUSTER_ID")).expect("cluster id");
    let pid = cluster.pid(1).expect("node 1 runs");
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(pid);
    let node1 = peer_port(base, 1);
    let attackers: Vec<_> = (0..20u64)
        .map(|i| {
            let cluster_id = cluster_id.clone();
            std::thread::spawn(move || {
                let mut start = Vec::new();
                if i % 2 == 1 {
                    start = encode(&[hello(2 + i % 4 / 2, wire::PROTOCOL_VERSION, &cluster_id)]);
                }
                start.extend_from_slice(&(wire::FRAME_SIZE_MAX as u32).to_le_bytes());
                start.extend_from_slice(&0u32.to_le_bytes());
                let mut stream = send(node1, &start);
                let chunk = vec![0x5a; 1 << 20];
                for _ in 0..32 {
                    if stream.write_all(&chunk).is_err() {
                        break;
                    }
                }
                stream
            })
        })
        .collect();
    let streams: Vec<TcpStream> = attackers
        .into_iter()
        .map(|a| a.join().expect("attacker"))
        .collect();
    let during = rss_kib(pid);
    let grown_mb = during.saturating_sub(before) / 1024;
    eprintln!("node 1 RSS: {before} KiB before, {during} KiB under attack (+{grown_mb} MB)");
    assert!(grown_mb < 150, "RSS grew by {grown_mb} MB");
    drop(streams);
    for key in ["a", "b", "c", "d"] {
        assert_eq!(
            set_eventually(cluster.clients[0], key),
            Reply::Simple("OK".into())
        );
    }
}
