//! Hostile bytes against a live server: errors or a closed connection, never a crash, never
//! unbounded memory, and other clients keep being served.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Client, Cluster, Reply};

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends `bytes` on a fresh connection and returns what came back before the server closed
/// it or stayed quiet for `patience` (a partial command makes it wait for more, as Redis does).
fn send_raw(address: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    send_with_patience(address, bytes, Duration::from_millis(500))
}

fn send_with_patience(address: std::net::SocketAddr, bytes: &[u8], patience: Duration) -> Vec<u8> {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return Vec::new();
    };
    let _ = stream.set_read_timeout(Some(patience));
    let _ = stream.write_all(bytes);
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        reply.extend_from_slice(&buffer[..read]);
    }
    reply
}

// Goal: the bad-input acceptance. Method: a 3-node cluster; one client stays connected
// and checks it is still served after each attack; attacks: a 1 GiB bulk header, a
// 100k-element multibulk header followed by nothing, 2M elements, truncated frames, 500
// random byte strings (seeded xorshift). The server's resident memory may grow by at most
// 64 MiB over the whole test.
#[test]
fn hostile_input_gets_errors_and_the_server_keeps_serving() {
    let cluster = Cluster::start(3, 18001, "badinput");
    let leader = cluster
        .leader(std::time::Duration::from_secs(20))
        .expect("a leader");
    let address = cluster.clients[(leader - 1) as usize];
    let pid = cluster.processes[(leader - 1) as usize]
        .as_ref()
        .expect("running")
        .id();
    let mut bystander = Client::connect(address).expect("connects");
    assert_eq!(
        bystander
            .call(&[b"SET", b"bystander", b"1"])
            .expect("replies"),
        Reply::Simple("OK".into())
    );
    let before = resident_kib(pid);
    let reply = send_raw(address, b"*1\r\n$1073741824\r\n");
    assert!(
        String::from_utf8_lossy(&reply).starts_with("-ERR Protocol error: invalid bulk length"),
        "1 GiB bulk: {:?}",
        String::from_utf8_lossy(&reply)
    );
    let reply = send_raw(address, b"*100000\r\n");
    assert!(
        reply.is_empty() || reply.starts_with(b"-"),
        "100k multibulk: {:?}",
        String::from_utf8_lossy(&reply)
    );
    let reply = send_raw(address, b"*2000000\r\n");
    assert!(
        String::from_utf8_lossy(&reply)
            .starts_with("-ERR Protocol error: invalid multibulk length"),
        "2M multibulk: {:?}",
        String::from_utf8_lossy(&reply)
    );
    for truncated in [
        &b"*2\r\n$3\r\nSET\r\n$5\r\nab"[..],
        b"*3\r\n$3\r\nSET",
        b"$",
        b"*",
        b"*-\r\n",
        b"*1\r\n$x\r\n",
    ] {
        let _ = send_raw(address, truncated);
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..500 {
        let length = 1 + (state % 300) as usize;
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let _ = send_with_patience(address, &bytes, Duration::from_millis(20));
    }
    assert_eq!(
        bystander
            .call(&[b"GET", b"bystander"])
            .expect("still served"),
        Reply::Bulk(Some(b"1".to_vec()))
    );
    let after = resident_kib(pid);
    eprintln!("resident memory of the leader: {before} KiB before, {after} KiB after");
    assert!(
        after < before + 64 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
}
