//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP,
//! and XREAD/XREADGROUP with BLOCK): what the server needs to know of them to make a client
//! wait.
//!
//! A blocking command waits at the leader of its keys' group. Each attempt to serve it is an
//! ordinary replicated write of the command itself, which the keyspace applies as the command
//! with its timeout already run out: it pops if it can, and answers nil if every key is
//! empty. So an element is handed to a client only once a majority has the pop on disk, and a
//! failover can never give it to someone else too. A nil answer blocks the client instead of
//! being sent ([`crate::group`]): after every applied batch the leader looks at the keys its
//! blocked clients wait on and proposes the command again for the earliest arrivals, as many
//! as the key has elements.
//!
//! Streams follow the same path. XREADGROUP is a write (it moves entries into the group's
//! PEL); XREAD with BLOCK is proposed as one too, so that it waits at the leader like the
//! others. When an XREAD blocks, its `$` ids become the streams' last ids at that point of
//! the log ([`wait_args`]), as Redis resolves them when the client blocks; entries added
//! afterwards then serve it.

use std::time::Duration;

use bytes::Bytes;
use resp::Value;

/// Whether `args` is a blocking command (Redis's `blocking` flag; XREAD and XREADGROUP only
/// with a BLOCK option).
pub fn is_blocking(args: &[Bytes]) -> bool {
    let flagged = args
        .first()
        .and_then(|name| keyspace::lookup(name))
        .is_some_and(|spec| spec.flags.contains(&"blocking"));
    flagged && (!is_stream_read(args) || stream_block_ms(args).is_some())
}

fn is_stream_read(args: &[Bytes]) -> bool {
    matches!(name(args).as_str(), "xread" | "xreadgroup")
}

/// XREAD/XREADGROUP's `BLOCK <ms>` argument (options come before STREAMS); `Some(None)` if
/// it is there but not a valid timeout (the keyspace then answers the error).
fn stream_block_ms(args: &[Bytes]) -> Option<Option<u64>> {
    let mut i = 1;
    while i < args.len() {
        let option = args[i].to_ascii_lowercase();
        match option.as_slice() {
            b"streams" => return None,
            b"block" => {
                let ms = args.get(i + 1).and_then(|t| std::str::from_utf8(t).ok());
                return Some(ms.and_then(|t| t.parse::<u64>().ok()));
            }
            b"count" => i += 2,
            b"group" => i += 3,
            _ => i += 1,
        }
    }
    None
}

fn name(args: &[Bytes]) -> String {
    args.first()
        .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
        .unwrap_or_default()
}

/// How long the command may block: `Some(None)` for ever (timeout 0), `None` if the timeout
/// does not parse (the keyspace then answers the error, and the client never blocks).
pub fn timeout(args: &[Bytes]) -> Option<Option<Duration>> {
    if is_stream_read(args) {
        // Milliseconds, an integer; 0 waits for ever.
        let ms = stream_block_ms(args)??;
        return Some((ms > 0).then(|| Duration::from_millis(ms.min(1 << 40))));
    }
    let at = match name(args).as_str() {
        "blmpop" | "bzmpop" => 1,
        _ => args.len().checked_sub(1)?,
    };
    let seconds: f64 = std::str::from_utf8(args.get(at)?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some((seconds > 0.0).then(|| Duration::from_secs_f64(seconds.min(1e9))))
}

/// The keys whose elements would serve the command (BLMOVE's destination is not one).
pub fn source_keys(args: &[Bytes]) -> Vec<Bytes> {
    match name(args).as_str() {
        "blmove" | "brpoplpush" => args.get(1).cloned().into_iter().collect(),
        _ => keyspace::key_positions(args)
            .into_iter()
            .map(|i| args[i].clone())
            .collect(),
    }
}

/// The reply when the timeout runs out: a nil of the command's reply shape.
pub fn timed_out(args: &[Bytes]) -> Value {
    match name(args).as_str() {
        "blmove" | "brpoplpush" => Value::Null,
        _ => Value::NullArray,
    }
}

/// How many elements `key` holds for this command (0 if absent or of another type). A
/// stream read says only whether it would be served: as many as want it may try (a retry
/// that finds nothing blocks again).
pub fn available(keyspace: &keyspace::Keyspace, args: &[Bytes], key: &Bytes, now_ms: u64) -> i64 {
    if is_stream_read(args) {
        return if keyspace::stream_ready(keyspace, args, key, now_ms) {
            i64::MAX
        } else {
            0
        };
    }
    let count = if name(args).starts_with("bz") {
        "ZCARD"
    } else {
        "LLEN"
    };
    let query = [Bytes::from_static(count.as_bytes()), key.clone()];
    match keyspace.read(&query, keyspace::Context { now_ms, seed: 0 }) {
        Value::Integer(n) => n,
        _ => 0,
    }
}

/// The arguments a client keeps while it waits, resolved against the keyspace at the
/// attempt that found nothing: XREAD's `$` ids become the streams' last ids then.
pub fn wait_args(keyspace: &keyspace::Keyspace, args: Vec<Bytes>, now_ms: u64) -> Vec<Bytes> {
    if name(&args) == "xread" {
        return keyspace::resolve_last_ids(keyspace, &args, now_ms);
    }
    args
}

/// The error that ends a blocked XREADGROUP whose stream or group is gone (Redis's texts),
/// answered by the leader without another attempt.
pub fn gone(keyspace: &keyspace::Keyspace, args: &[Bytes], now_ms: u64) -> Option<Value> {
    keyspace::blocked_read_gone(keyspace, args, now_ms)
}

/// Whether the keyspace's answer to one attempt means "nothing to pop yet".
pub fn nothing_popped(reply: &Value) -> bool {
    matches!(reply, Value::Null | Value::NullArray)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn timeouts_parse_as_redis_floats() {
        assert_eq!(timeout(&args("BLPOP a b 0")), Some(None));
        assert_eq!(
            timeout(&args("BLPOP a 1.5")),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(
            timeout(&args("BLMPOP 0.25 2 a b LEFT")),
            Some(Some(Duration::from_millis(250)))
        );
        assert_eq!(timeout(&args("BLPOP a -1")), None);
        assert_eq!(timeout(&args("BLPOP a x")), None);
    }

    #[test]
    fn a_move_waits_on_its_source_only() {
        assert_eq!(
            source_keys(&args("BLMOVE src dst LEFT RIGHT 0")),
            args("src")
        );
        assert_eq!(timed_out(&args("BRPOPLPUSH src dst 0")), Value::Null);
        assert_eq!(timed_out(&args("BZPOPMIN z 0")), Value::NullArray);
    }

    #[test]
    fn stream_reads_block_only_with_block() {
        assert!(!is_blocking(&args("XREAD STREAMS s 0")));
        assert!(!is_blocking(&args("XREAD COUNT 2 STREAMS block 0")));
        assert!(is_blocking(&args("XREAD COUNT 2 BLOCK 100 STREAMS s $")));
        assert!(is_blocking(&args(
            "XREADGROUP GROUP g c BLOCK 0 STREAMS s >"
        )));
        assert!(!is_blocking(&args("XREADGROUP GROUP block c STREAMS s >")));
        assert_eq!(
            timeout(&args("XREAD BLOCK 1500 STREAMS s $")),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(timeout(&args("XREAD BLOCK 0 STREAMS s $")), Some(None));
        assert_eq!(timeout(&args("XREAD BLOCK x STREAMS s $")), None);
        assert_eq!(
            source_keys(&args("XREAD BLOCK 0 STREAMS a b $ 0")),
            args("a b")
        );
        assert_eq!(
            timed_out(&args("XREAD BLOCK 0 STREAMS a $")),
            Value::NullArray
        );
    }

    #[test]
    fn a_blocked_xread_waits_for_entries_after_the_last_id_when_it_blocked() {
        let mut keyspace = keyspace::Keyspace::new();
        let context = keyspace::Context {
            now_ms: 10,
            seed: 0,
        };
        keyspace.apply(&args("XADD s 5-0 f v"), context);
        let kept = wait_args(&keyspace, args("XREAD BLOCK 0 STREAMS s $"), 10);
        assert_eq!(kept, args("XREAD COUNT 1000 BLOCK 0 STREAMS s 5-0"));
        let key = Bytes::from_static(b"s");
        assert_eq!(available(&keyspace, &kept, &key, 10), 0);
        keyspace.apply(&args("XADD s 6-0 f w"), context);
        assert_eq!(available(&keyspace, &kept, &key, 10), i64::MAX);
    }

    #[test]
    fn a_blocked_xreadgroup_ends_when_its_group_or_stream_goes() {
        let mut keyspace = keyspace::Keyspace::new();
        let context = keyspace::Context {
            now_ms: 10,
            seed: 0,
        };
        keyspace.apply(&args("XGROUP CREATE s g $ MKSTREAM"), context);
        let blocked = args("XREADGROUP GROUP g c BLOCK 0 STREAMS s >");
        assert_eq!(gone(&keyspace, &blocked, 10), None);
        assert_eq!(
            gone(&keyspace, &args("XREAD BLOCK 0 STREAMS s $"), 10),
            None
        );
        keyspace.apply(&args("XGROUP DESTROY s g"), context);
        assert_eq!(
            gone(&keyspace, &blocked, 10),
            Some(Value::Error(
                "NOGROUP the consumer group this client was blocked on no longer exists".to_owned()
            ))
        );
        keyspace.apply(&args("DEL s"), context);
        assert_eq!(
            gone(&keyspace, &blocked, 10),
            Some(Value::Error(
                "UNBLOCKED the stream key no longer exists".to_owned()
            ))
        );
    }
}
