//! What subscribers hear, compared: one listener per server subscribes to every keyspace
//! notification (`notify-keyspace-events KEA`) and to the pub/sub family's channels; at each
//! check the tester writes a marker key on both servers and compares what each listener heard
//! up to the marker's "set" event. The keyspace events and the channel messages are compared
//! as two sequences: each is ordered on both servers, but how the two interleave is not (a
//! node publishes a PUBLISH at once, the events of a write when it applies it). "expired"
//! events are left out: when a key's expiry is noticed is the servers' own business (Redis
//! on access or in its expiry cycle, ninesdb when the leader's sweep applies).

use std::net::SocketAddr;

use super::pubsub::{CHANNELS, PATTERN, SHARD_CHANNELS};
use crate::common::{Client, Reply};

/// The key written to mark a point in both servers' event streams.
pub const MARKER_KEY: &str = "__events_marker__";

/// The two listeners, (redis-server, ninesdb).
pub struct Listeners {
    redis: Client,
    ninesdb: Client,
    marks: u64,
}

/// One server's transcript since the last mark: (keyspace events, channel messages), each
/// as `channel message` lines.
pub type Heard = (Vec<String>, Vec<String>);

/// Two transcripts as replies for the tester's report: equal summaries when they agree, else
/// the few lines from the first difference of the first sequence that differs.
pub fn as_replies(redis: &Heard, ninesdb: &Heard) -> (Reply, Reply) {
    for (what, ours, theirs) in [
        ("keyspace events", &redis.0, &ninesdb.0),
        ("messages", &redis.1, &ninesdb.1),
    ] {
        if ours == theirs {
            continue;
        }
        let at = ours
            .iter()
            .zip(theirs)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(theirs.len()));
        let window = |lines: &[String]| {
            let mut out = vec![Reply::Simple(format!(
                "{what}: {} heard, from #{at}:",
                lines.len()
            ))];
            out.extend(
                lines[at.min(lines.len())..(at + 4).min(lines.len())]
                    .iter()
                    .map(|l| Reply::Bulk(Some(l.clone().into_bytes()))),
            );
            Reply::Array(out)
        };
        return (window(ours), window(theirs));
    }
    let summary = |heard: &Heard| {
        Reply::Array(vec![
            Reply::Integer(heard.0.len() as i64),
            Reply::Integer(heard.1.len() as i64),
        ])
    };
    (summary(redis), summary(ninesdb))
}

impl Listeners {
    /// Turns keyspace notifications on at both servers (ninesdb's setting is per node: the
    /// listener must use the node the commands go to) and subscribes.
    pub fn open(redis: SocketAddr, ninesdb: SocketAddr) -> Listeners {
        Listeners {
            redis: listen(redis),
            ninesdb: listen(ninesdb),
            marks: 0,
        }
    }

    /// The marker command to run on both servers, then `heard` reads up to it.
    pub fn next_marker(&mut self) -> Vec<String> {
        self.marks += 1;
        vec![
            "SET".to_owned(),
            MARKER_KEY.to_owned(),
            self.marks.to_string(),
        ]
    }

    /// Both transcripts up to the last marker.
    pub fn heard(&mut self) -> (Heard, Heard) {
        (heard_until(&mut self.redis), heard_until(&mut self.ninesdb))
    }
}

fn listen(address: SocketAddr) -> Client {
    let mut client = Client::connect(address).expect("a listener connects");
    let on = client
        .call(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"])
        .expect("CONFIG SET");
    assert_eq!(on, Reply::Simple("OK".to_owned()), "keyspace events on");
    let mut subscribe = |args: Vec<&[u8]>, replies: usize| {
        let first = client.call(&args).expect("subscribes");
        assert!(matches!(first, Reply::Array(_)), "{first:?}");
        for _ in 1..replies {
            client.read_reply().expect("subscribes");
        }
    };
    subscribe(vec![b"PSUBSCRIBE", b"__key*__:*", PATTERN.as_bytes()], 2);
    let mut channels: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    channels.extend(CHANNELS.iter().map(|c| c.as_bytes()));
    subscribe(channels, CHANNELS.len());
    let mut shards: Vec<&[u8]> = vec![b"SSUBSCRIBE"];
    shards.extend(SHARD_CHANNELS.iter().map(|c| c.as_bytes()));
    subscribe(shards, SHARD_CHANNELS.len());
    client
}

fn text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

fn heard_until(listener: &mut Client) -> Heard {
    let mut heard: Heard = (Vec::new(), Vec::new());
    loop {
        let message = listener.read_reply().expect("a listener hears the marker");
        let Reply::Array(parts) = message else {
            panic!("a listener got {message:?}");
        };
        let kind = text(&parts[0]);
        let (channel, body) = match kind.as_str() {
            "pmessage" => (text(&parts[2]), text(&parts[3])),
            "message" | "smessage" => (text(&parts[1]), text(&parts[2])),
            other => panic!("a listener got a {other}"),
        };
        if channel.starts_with("__key") {
            if channel == "__keyevent@0__:set" && body == MARKER_KEY {
                // The marker's own pair of events; the keyspace one came just before.
                heard.0.pop();
                return heard;
            }
            if channel.ends_with("expired") || body == "expired" {
                continue;
            }
            heard.0.push(format!("{channel} {body}"));
        } else {
            let via = if kind == "pmessage" {
                format!(" (via {})", text(&parts[1]))
            } else {
                String::new()
            };
            heard.1.push(format!("{channel} {body}{via}"));
        }
    }
}
