//! Pub/Sub commands on the command connection: PUBLISH, SPUBLISH and PUBSUB's introspection.
//! What subscribers receive is compared by `events` (the listeners subscribe to `CHANNELS`,
//! the `ch*` pattern and `SHARD_CHANNELS`, besides keyspace notifications), so a message
//! lost, duplicated, reordered or altered is a mismatch, and PUBLISH's receiver count is
//! compared here.

use super::gen::Gen;
use super::{Cmd, Mode};

/// Channels the listeners subscribe to (and one nobody does).
pub const CHANNELS: &[&str] = &["ch0", "ch1", "ch2"];
/// Sharded channels the listeners subscribe to.
pub const SHARD_CHANNELS: &[&str] = &["sch0", "sch1"];
/// The pattern the listeners subscribe to besides the keyspace channels.
pub const PATTERN: &str = "ch*";

fn channel(g: &mut Gen) -> String {
    match g.rng.below(10) {
        0..=6 => g.pick(CHANNELS),
        7 => "ch9".to_owned(),
        8 => "other".to_owned(),
        _ => g.pick(SHARD_CHANNELS),
    }
}

fn shard_channel(g: &mut Gen) -> String {
    if g.chance(80) {
        g.pick(SHARD_CHANNELS)
    } else {
        channel(g)
    }
}

pub fn pubsub(g: &mut Gen) -> Cmd {
    match g.rng.below(12) {
        0..=5 => {
            let mut c = Cmd::new("PUBLISH");
            c.arg(channel(g)).arg(g.member());
            c
        }
        6..=7 => {
            let mut c = Cmd::new("SPUBLISH");
            c.arg(shard_channel(g)).arg(g.member());
            c
        }
        8 => {
            let mut c = Cmd::new("PUBSUB");
            c.arg("NUMSUB");
            for _ in 0..g.rng.below(4) {
                c.arg(channel(g));
            }
            c
        }
        9 => {
            let mut c = Cmd::new("PUBSUB");
            c.arg("CHANNELS");
            if g.chance(70) {
                c.arg(g.pick(&["ch*", "*", "s*", "ch[01]", "__key*"]));
            }
            c.mode(Mode::Sorted);
            c
        }
        10 => {
            let mut c = Cmd::new("PUBSUB");
            c.arg(g.pick(&["NUMPAT", "SHARDCHANNELS"]));
            c.mode(Mode::Sorted);
            c
        }
        _ => {
            let mut c = Cmd::new("PUBSUB");
            c.arg("SHARDNUMSUB");
            for _ in 0..g.rng.below(3) {
                c.arg(shard_channel(g));
            }
            c
        }
    }
}
