//! Redis streams: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD, XREADGROUP,
//! XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO.
//!
//! Time comes only from [`Context::now_ms`], the leader-stamped time of the log entry: new
//! ids, delivery times and consumers' seen times. An id is never below the stream's last id
//! even when that time goes back (a new leader with a slower clock): Redis's own rule,
//! `ms = max(now, last.ms)` and the sequence counts on, makes ids monotonic per stream
//! whatever the clocks do.

mod basic;
mod claim;
pub(crate) mod codec;
mod group;
mod groups;
mod id;
mod info;
mod listpack;
pub(crate) mod rdb;
mod read;
mod stream;

use bytes::Bytes;
use resp::Value;

pub use basic::{xadd, xdel, xlen, xrange, xrevrange, xsetid, xtrim};
pub use groups::{xack, xautoclaim, xclaim, xgroup, xpending};
pub use id::StreamId;
pub use info::xinfo;
pub use read::{blocked_read_gone, resolve_last_ids, stream_ready, xread, xreadgroup};
pub(crate) use stream::Stream;

use crate::{Context, Data, Keyspace};

/// `[id, [field, value, ...]]`: one entry as every stream command replies it.
pub(crate) fn entry_reply(id: StreamId, pairs: &[Bytes]) -> Value {
    Value::Array(vec![
        id.reply(),
        Value::Array(pairs.iter().map(|b| Value::Bulk(b.clone())).collect()),
    ])
}

/// The stream at `key`, for a read (WRONGTYPE for another type).
pub(crate) fn get<'a>(
    ks: &'a Keyspace,
    key: &[u8],
    c: &Context,
) -> Result<Option<&'a Stream>, Value> {
    match ks.get(key, c.now_ms).map(|e| &e.data) {
        None => Ok(None),
        Some(Data::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(crate::util::wrongtype()),
    }
}

/// Whether the stream at `key` has `consumer` in `group`, live or not.
fn has_consumer(ks: &Keyspace, key: &[u8], group: &[u8], consumer: &[u8]) -> bool {
    matches!(
        ks.keys.get(key).map(|e| &e.data),
        Some(Data::Stream(s)) if s.groups.get(group).is_some_and(|g| g.consumers.contains_key(consumer))
    )
}

/// Runs `f`, a command that creates `consumer` in `group` on its way (XREADGROUP, XCLAIM,
/// XAUTOCLAIM), raising "xgroup-createconsumer" if it did, as Redis's
/// `streamCreateConsumer` does.
pub(crate) fn creating_consumer<T>(
    ks: &mut Keyspace,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    f: impl FnOnce(&mut Keyspace) -> T,
) -> T {
    let had = has_consumer(ks, key, group, consumer);
    let out = f(ks);
    if !had && has_consumer(ks, key, group, consumer) {
        ks.notify(crate::notify_class::STREAM, "xgroup-createconsumer", key);
    }
    out
}

/// Redis's "no such key" error (XSETID, XINFO on a missing key).
pub(crate) const NO_KEY: &str = "ERR no such key";
