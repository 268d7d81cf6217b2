//! Real processes: Pub/Sub across the cluster (PUBLISH on one node reaches subscribers on
//! every node, in order), Redis's exact framing in RESP2 and RESP3, and a subscriber that
//! never reads is disconnected at its output limit while the node's memory stays bounded.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{start_redis, Client, Cluster, Reply};

/// Port blocks: clusters at 25201 and 25401, redis-server at 25599.
const ORDER_BASE: u16 = 25201;
const LIMIT_BASE: u16 = 25401;
const REDIS_PORT: u16 = 25599;
/// A one-node cluster for forged peer frames (peer port 25351).
const FORGED_BASE: u16 = 25251;
const LIMIT_FLAG: &str = "pubsub 1mb 512kb 5";

/// A connection that reads replies as raw bytes (one whole reply at a time, any RESP2 or
/// RESP3 type), so that framing can be compared byte for byte.
struct Raw {
    reader: BufReader<TcpStream>,
}

impl Raw {
    fn connect(address: SocketAddr) -> Raw {
        let stream = TcpStream::connect(address).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Raw {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&out).expect("sends");
    }

    /// The raw bytes of the next reply.
    fn reply(&mut self) -> Vec<u8> {
        let mut raw = Vec::new();
        self.read_into(&mut raw);
        raw
    }

    fn read_into(&mut self, raw: &mut Vec<u8>) {
        let mut line = Vec::new();
        let read = self.reader.read_until(b'\n', &mut line).expect("a reply");
        assert!(read > 0, "the connection closed");
        raw.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let count = || text.parse::<i64>().expect("a length");
        match line[0] {
            b'$' | b'=' | b'!' if count() >= 0 => {
                let mut data = vec![0; count() as usize + 2];
                self.reader.read_exact(&mut data).expect("bulk data");
                raw.extend_from_slice(&data);
            }
            b'*' | b'>' | b'~' => {
                for _ in 0..count().max(0) {
                    self.read_into(raw);
                }
            }
            b'%' => {
                for _ in 0..count() * 2 {
                    self.read_into(raw);
                }
            }
            _ => {}
        }
    }

    fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.reply()
    }
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// `*3 $7 message $<channel> $<payload>` (RESP2) or with `>3` (RESP3).
fn message(resp3: bool, channel: &str, payload: &str) -> String {
    format!(
        "{}3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
        if resp3 { '>' } else { '*' },
        channel.len(),
        payload.len()
    )
}

fn publish(client: &mut Client, channel: &str, payload: &[u8]) -> Reply {
    client
        .call(&[b"PUBLISH", channel.as_bytes(), payload])
        .expect("PUBLISH answers")
}

// Goal: PUBLISH on one node reaches subscribers on the others, in publish order, in each
// subscriber's protocol; PSUBSCRIBE gets `pmessage`; PUBLISH counts this node's receivers
// (as Redis Cluster); unsubscribes answer as Redis. Method: 3 nodes; a RESP2 subscriber on
// node 2, a RESP3 one on node 3, a pattern subscriber on node 2; 1,000 PUBLISHes on node 1.
#[test]
fn messages_reach_every_node_in_publish_order() {
    let cluster = Cluster::start_with(
        3,
        ORDER_BASE,
        "pubsub-order",
        &["--groups", "1", "--client-output-buffer-limit", LIMIT_FLAG],
        |_| None,
    );
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    let mut two = Raw::connect(cluster.clients[1]);
    assert_eq!(
        text(&two.call(&[b"SUBSCRIBE", b"news"])),
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    let mut three = Raw::connect(cluster.clients[2]);
    assert!(text(&three.call(&[b"HELLO", b"3"])).starts_with('%'));
    assert_eq!(
        text(&three.call(&[b"SUBSCRIBE", b"news"])),
        ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    let mut pattern = Raw::connect(cluster.clients[1]);
    assert_eq!(
        text(&pattern.call(&[b"PSUBSCRIBE", b"n*s"])),
        "*3\r\n$10\r\npsubscribe\r\n$3\r\nn*s\r\n:1\r\n"
    );
    let mut publisher = Client::connect(cluster.clients[0]).expect("connects");
    // The peer links are up once a leader is known, but give a moment for the last one.
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..1000 {
        // Node 1 has no subscriber: Redis Cluster's count is the local node's.
        assert_eq!(
            publish(&mut publisher, "news", format!("m{i}").as_bytes()),
            Reply::Integer(0)
        );
    }
    for i in 0..1000 {
        let payload = format!("m{i}");
        assert_eq!(
            text(&two.reply()),
            message(false, "news", &payload),
            "node 2, #{i}"
        );
        assert_eq!(
            text(&three.reply()),
            message(true, "news", &payload),
            "node 3, #{i}"
        );
        assert_eq!(
            text(&pattern.reply()),
            format!(
                "*4\r\n$8\r\npmessage\r\n$3\r\nn*s\r\n$4\r\nnews\r\n${}\r\n{payload}\r\n",
                payload.len()
            ),
            "pattern on node 2, #{i}"
        );
    }
    let mut local = Client::connect(cluster.clients[1]).expect("connects");
    counted_on_the_node(&mut local, &mut two, &mut three, &mut pattern);
    leaving_and_coming_back(&mut local, &mut three, &mut pattern, &mut publisher);
}

/// On node 2 itself: the channel subscriber and the pattern subscriber are counted; node 3
/// hears a message published on node 2; PUBSUB and INFO see this node's subscribers.
fn counted_on_the_node(local: &mut Client, two: &mut Raw, three: &mut Raw, pattern: &mut Raw) {
    // On node 2 itself: the channel subscriber and the pattern subscriber are counted.
    assert_eq!(publish(local, "news", b"here"), Reply::Integer(2));
    assert_eq!(text(&two.reply()), message(false, "news", "here"));
    assert_eq!(
        text(&pattern.reply()),
        "*4\r\n$8\r\npmessage\r\n$3\r\nn*s\r\n$4\r\nnews\r\n$4\r\nhere\r\n"
    );
    // ... and node 3 hears a message published on node 2.
    assert_eq!(text(&three.reply()), message(true, "news", "here"));
    assert_eq!(
        local
            .call(&[b"PUBSUB", b"NUMSUB", b"news", b"none"])
            .unwrap(),
        Reply::Array(vec![
            Reply::Bulk(Some(b"news".to_vec())),
            Reply::Integer(1),
            Reply::Bulk(Some(b"none".to_vec())),
            Reply::Integer(0),
        ])
    );
    assert_eq!(
        local.call(&[b"PUBSUB", b"NUMPAT"]).unwrap(),
        Reply::Integer(1)
    );
    let Ok(Reply::Bulk(Some(info))) = local.call(&[b"INFO", b"stats"]) else {
        panic!("INFO answers")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(
        info.contains("pubsub_channels:1\r\npubsub_patterns:1\r\npubsubshard_channels:0"),
        "{info}"
    );
}

/// Unsubscribing (RESP3 and RESP2), subscribing again, and a blocked RESP3 subscriber.
fn leaving_and_coming_back(
    local: &mut Client,
    three: &mut Raw,
    pattern: &mut Raw,
    publisher: &mut Client,
) {
    // A RESP3 subscriber may run any command between pushes.
    assert_eq!(text(&three.call(&[b"GET", b"nothing"])), "_\r\n");
    assert_eq!(
        text(&three.call(&[b"UNSUBSCRIBE"])),
        ">3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n"
    );
    assert_eq!(
        text(&three.call(&[b"UNSUBSCRIBE"])),
        ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"
    );
    pattern.send(&[b"PUNSUBSCRIBE", b"n*s", b"other"]);
    assert_eq!(
        text(&pattern.reply()),
        "*3\r\n$12\r\npunsubscribe\r\n$3\r\nn*s\r\n:0\r\n"
    );
    assert_eq!(
        text(&pattern.reply()),
        "*3\r\n$12\r\npunsubscribe\r\n$5\r\nother\r\n:0\r\n"
    );
    // Subscribing again after leaving everything starts a new mailbox that works.
    assert_eq!(
        text(&three.call(&[b"SUBSCRIBE", b"again"])),
        ">3\r\n$9\r\nsubscribe\r\n$5\r\nagain\r\n:1\r\n"
    );
    assert_eq!(publish(publisher, "again", b"back"), Reply::Integer(0));
    assert_eq!(text(&three.reply()), message(true, "again", "back"));
    // A RESP3 subscriber blocked in BLPOP still gets its messages, before the reply.
    three.send(&[b"BLPOP", b"nothing-here", b"3"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        publish(publisher, "again", b"while-blocked"),
        Reply::Integer(0)
    );
    assert_eq!(
        text(&three.reply()),
        message(true, "again", "while-blocked")
    );
    assert_eq!(
        text(&three.reply()),
        "_\r\n",
        "BLPOP times out after the push"
    );
    // Out of subscriber mode, plain commands run again.
    assert_eq!(text(&pattern.call(&[b"GET", b"nothing"])), "$-1\r\n");
    assert_eq!(
        local.call(&[b"PUBSUB", b"NUMPAT"]).unwrap(),
        Reply::Integer(0)
    );
}

/// Sends `args` and records the next `replies` replies.
fn step(transcript: &mut Vec<String>, subscriber: &mut Raw, args: &[&[u8]], replies: usize) {
    subscriber.send(args);
    for _ in 0..replies {
        transcript.push(text(&subscriber.reply()));
    }
}

/// Runs `script` on a fresh connection to `address` (HELLO's reply, which names the
/// server, is read and left out) and publishes between the steps from another connection.
fn framing_transcript(address: SocketAddr) -> Vec<String> {
    let mut subscriber = Raw::connect(address);
    let mut publisher = Raw::connect(address);
    let mut transcript = Vec::new();
    step(
        &mut transcript,
        &mut subscriber,
        &[b"SUBSCRIBE", b"a", b"b", b"a"],
        3,
    );
    step(&mut transcript, &mut subscriber, &[b"PSUBSCRIBE", b"a*"], 1);
    step(
        &mut transcript,
        &mut subscriber,
        &[b"SSUBSCRIBE", b"s{1}"],
        1,
    );
    step(&mut transcript, &mut subscriber, &[b"PING"], 1);
    step(&mut transcript, &mut subscriber, &[b"PING", b"hi"], 1);
    step(&mut transcript, &mut subscriber, &[b"GET", b"k"], 1);
    step(&mut transcript, &mut subscriber, &[b"CLIENT", b"ID"], 1);
    step(&mut transcript, &mut subscriber, &[b"NOSUCHCOMMAND"], 1);
    step(&mut transcript, &mut subscriber, &[b"SUBSCRIBE"], 1);
    publisher.call(&[b"PUBLISH", b"a", b"one"]);
    transcript.push(text(&subscriber.reply()));
    transcript.push(text(&subscriber.reply()));
    publisher.call(&[b"SPUBLISH", b"s{1}", b"two"]);
    transcript.push(text(&subscriber.reply()));
    transcript.push(text(&publisher.call(&[b"PUBLISH", b"b", b""])));
    transcript.push(text(&subscriber.reply()));
    step(
        &mut transcript,
        &mut subscriber,
        &[b"UNSUBSCRIBE", b"b", b"zzz"],
        2,
    );
    step(&mut transcript, &mut subscriber, &[b"UNSUBSCRIBE"], 1);
    step(&mut transcript, &mut subscriber, &[b"PUNSUBSCRIBE"], 1);
    step(&mut transcript, &mut subscriber, &[b"PUNSUBSCRIBE"], 1);
    step(&mut transcript, &mut subscriber, &[b"SUNSUBSCRIBE"], 1);
    step(&mut transcript, &mut subscriber, &[b"SUNSUBSCRIBE"], 1);
    step(&mut transcript, &mut subscriber, &[b"PING"], 1);
    resp3_transcript(&mut transcript, &mut subscriber, &mut publisher);
    multi_and_acl_transcript(&mut transcript, &mut subscriber, &mut publisher, address);
    transcript
}

/// RESP3: pushes, no subscriber-mode restriction, RESET.
fn resp3_transcript(transcript: &mut Vec<String>, subscriber: &mut Raw, publisher: &mut Raw) {
    // RESP3: pushes, and no subscriber-mode restriction.
    subscriber.call(&[b"HELLO", b"3"]);
    step(transcript, subscriber, &[b"SUBSCRIBE", b"c"], 1);
    step(transcript, subscriber, &[b"PSUBSCRIBE", b"c*"], 1);
    step(transcript, subscriber, &[b"PING"], 1);
    step(transcript, subscriber, &[b"GET", b"k"], 1);
    publisher.call(&[b"PUBLISH", b"c", b"three"]);
    transcript.push(text(&subscriber.reply()));
    transcript.push(text(&subscriber.reply()));
    step(transcript, subscriber, &[b"UNSUBSCRIBE", b"c"], 1);
    step(transcript, subscriber, &[b"PUNSUBSCRIBE"], 1);
    step(transcript, subscriber, &[b"RESET"], 1);
    step(transcript, subscriber, &[b"SUBSCRIBE", b"d"], 1);
    step(transcript, subscriber, &[b"RESET"], 1);
    step(transcript, subscriber, &[b"GET", b"k"], 1);
}

/// PUBLISH in MULTI, and ACL channel permissions.
fn multi_and_acl_transcript(
    transcript: &mut Vec<String>,
    subscriber: &mut Raw,
    publisher: &mut Raw,
    address: SocketAddr,
) {
    // PUBLISH in a transaction: counted at its place in EXEC's reply, delivered once the
    // rest has run; not at all when a WATCH fails.
    step(transcript, subscriber, &[b"SUBSCRIBE", b"t"], 1);
    let mut tx = Raw::connect(address);
    for args in [
        &[&b"MULTI"[..]][..],
        &[b"SET", b"k", b"v"],
        &[b"PUBLISH", b"t", b"in-multi"],
        &[b"GET", b"k"],
        &[b"EXEC"],
        &[b"WATCH", b"k"],
    ] {
        transcript.push(text(&tx.call(args)));
    }
    transcript.push(text(&subscriber.reply()));
    transcript.push(text(&publisher.call(&[b"SET", b"k", b"changed"])));
    for args in [
        &[&b"MULTI"[..]][..],
        &[b"PUBLISH", b"t", b"never"],
        &[b"EXEC"],
        &[b"MULTI"],
        &[b"PUBLISH", b"t", b"only"],
        &[b"EXEC"],
    ] {
        transcript.push(text(&tx.call(args)));
    }
    transcript.push(text(&subscriber.reply()));
    step(transcript, subscriber, &[b"UNSUBSCRIBE"], 1);
    // ACL channel permissions (`&pattern`): channels match the patterns, a PSUBSCRIBE
    // pattern must equal one literally.
    let acl = Raw::connect(address).call(&[
        b"ACL", b"SETUSER", b"reader", b"on", b">pw", b"~*", b"&news*", b"+@all",
    ]);
    transcript.push(text(&acl));
    step(transcript, subscriber, &[b"AUTH", b"reader", b"pw"], 1);
    step(transcript, subscriber, &[b"SUBSCRIBE", b"other"], 1);
    step(transcript, subscriber, &[b"PUBLISH", b"other", b"x"], 1);
    step(transcript, subscriber, &[b"PSUBSCRIBE", b"n*"], 1);
    step(transcript, subscriber, &[b"SSUBSCRIBE", b"elsewhere"], 1);
    step(transcript, subscriber, &[b"PSUBSCRIBE", b"news*"], 1);
    step(transcript, subscriber, &[b"SUBSCRIBE", b"news1"], 1);
}

// Goal: a subscriber sees the same bytes from ninesdb as from Redis 7.0: subscribe and
// unsubscribe notices with their counts, messages, pmessages and smessages, RESP2's
// subscriber-mode errors and PING, RESP3 pushes, RESET. Method: one script on a
// redis-server and on a ninesdb node; the transcripts must be equal.
#[test]
fn framing_matches_redis() {
    let _redis = start_redis(common::port(REDIS_PORT));
    let cluster = Cluster::start(1, LIMIT_BASE + 50, "pubsub-framing");
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    let expected = framing_transcript(SocketAddr::from(([127, 0, 0, 1], common::port(REDIS_PORT))));
    let actual = framing_transcript(cluster.clients[0]);
    assert_eq!(expected.len(), actual.len());
    // The script reached what it is about (on Redis too).
    let all = expected.concat();
    for needed in [
        "pmessage",
        "smessage",
        ">3\r\n",
        "Can't execute 'get'",
        "NOPERM",
        "+RESET",
    ] {
        assert!(all.contains(needed), "the transcript has no {needed:?}");
    }
    let differences: Vec<String> = expected
        .iter()
        .zip(&actual)
        .enumerate()
        .filter(|(_, (e, a))| e != a)
        .map(|(i, (e, a))| format!("#{i}\n    redis:   {e:?}\n    ninesdb: {a:?}"))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} replies differ:\n{}",
        differences.len(),
        expected.len(),
        differences.join("\n")
    );
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

// Goal: a subscriber that never reads cannot grow a node's memory: past the pubsub output
// limit (1mb hard here) it is disconnected, as Redis does, and its subscription goes with
// it. Method: 3 nodes; a subscriber on node 2 that never reads; 64 MiB published on node
// 1 in 64 KiB messages; node 2's RSS may not grow by more than 48 MiB, and its
// subscription count falls to 0.
#[test]
fn a_subscriber_that_never_reads_is_disconnected_at_its_limit() {
    let cluster = Cluster::start_with(
        3,
        LIMIT_BASE,
        "pubsub-limit",
        &["--groups", "1", "--client-output-buffer-limit", LIMIT_FLAG],
        |_| None,
    );
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    let pid = cluster.pid(2).expect("node 2 runs");
    let mut sleeper = Raw::connect(cluster.clients[1]);
    assert_eq!(
        text(&sleeper.call(&[b"SUBSCRIBE", b"firehose"])),
        "*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n"
    );
    let mut observer = Client::connect(cluster.clients[1]).expect("connects");
    let before = resident_bytes(pid);
    let mut publisher = Client::connect(cluster.clients[0]).expect("connects");
    let payload = vec![b'p'; 64 << 10];
    let mut peak = before;
    for _ in 0..1024 {
        publish(&mut publisher, "firehose", &payload);
        peak = peak.max(resident_bytes(pid));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut count = || match observer.call(&[b"PUBSUB", b"NUMSUB", b"firehose"]) {
        Ok(Reply::Array(items)) => items.get(1).cloned(),
        _ => None,
    };
    let mut observed = count();
    while observed != Some(Reply::Integer(0)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        observed = count();
    }
    eprintln!("node 2 resident: {before} bytes before, {peak} at most while publishing");
    assert_eq!(observed, Some(Reply::Integer(0)), "the subscriber is gone");
    assert!(
        cluster
            .log(2)
            .contains("closed for overcoming of output buffer limits"),
        "node 2 says why it closed the subscriber"
    );
    assert!(
        peak.saturating_sub(before) < 48 << 20,
        "node 2 grew from {before} to {peak} bytes"
    );
    // A message over max-request-bytes (16 MiB by default) is refused, as a write is.
    let Reply::Error(error) = publish(&mut publisher, "firehose", &vec![b'x'; 17 << 20]) else {
        panic!("a 17 MiB message was published")
    };
    assert!(error.contains("max-request-bytes"), "{error}");
    // The node serves on: a new subscriber hears new messages.
    let mut fresh = Raw::connect(cluster.clients[1]);
    fresh.call(&[b"SUBSCRIBE", b"firehose"]);
    std::thread::sleep(Duration::from_millis(100));
    publish(&mut publisher, "firehose", b"after");
    assert_eq!(text(&fresh.reply()), message(false, "firehose", "after"));
}

fn publish_frame(message: &str) -> server::wire::Frame {
    server::wire::Frame::Publish {
        shard: false,
        channel: bytes::Bytes::from_static(b"news"),
        message: bytes::Bytes::copy_from_slice(message.as_bytes()),
    }
}

/// Sends `frames` to a peer port as a caller would, and waits until the node hangs up.
fn send_frames(address: SocketAddr, frames: &[server::wire::Frame]) {
    let mut out = bytes::BytesMut::new();
    for frame in frames {
        server::wire::encode(frame, &mut out);
    }
    let mut stream = TcpStream::connect(address).expect("peer port");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = stream.write_all(&out);
    let mut buffer = [0; 4096];
    while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
}

// Goal: only a member that said a valid `Hello` can publish through the peer port. Method:
// a subscriber on a one-node cluster; Publish frames with no Hello, after another cluster's
// Hello and after an unknown member's Hello; then a real PUBLISH: it is the first message
// the subscriber gets.
#[test]
fn forged_publish_frames_deliver_nothing() {
    let cluster = Cluster::start(1, FORGED_BASE, "pubsub-forged");
    cluster.leader(Duration::from_secs(20)).expect("a leader");
    let cluster_id = std::fs::read_to_string(cluster.data.join("node1/CLUSTER_ID"))
        .expect("the cluster id is kept in the data directory");
    let mut subscriber = Raw::connect(cluster.clients[0]);
    subscriber.call(&[b"SUBSCRIBE", b"news"]);
    let peer = SocketAddr::from(([127, 0, 0, 1], common::port(FORGED_BASE + 100)));
    let hello = |from: u64, cluster: &str| server::wire::Frame::Hello {
        from,
        version: server::wire::PROTOCOL_VERSION,
        cluster: cluster.to_owned(),
        tls_port: 0,
    };
    send_frames(peer, &[publish_frame("no hello")]);
    send_frames(peer, &[hello(2, "other"), publish_frame("other cluster")]);
    send_frames(peer, &[hello(99, &cluster_id), publish_frame("stranger")]);
    let mut publisher = Client::connect(cluster.clients[0]).expect("connects");
    assert_eq!(publish(&mut publisher, "news", b"real"), Reply::Integer(1));
    assert_eq!(text(&subscriber.reply()), message(false, "news", "real"));
}
