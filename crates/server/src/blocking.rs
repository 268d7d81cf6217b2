//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP):
//! what the server needs to know of them to make a client wait.
//!
//! A blocking command waits at the leader of its keys' group. Each attempt to serve it is an
//! ordinary replicated write of the command itself, which the keyspace applies as the command
//! with its timeout already run out: it pops if it can, and answers nil if every key is
//! empty. So an element is handed to a client only once a majority has the pop on disk, and a
//! failover can never give it to someone else too. A nil answer blocks the client instead of
//! being sent ([`crate::group`]): after every applied batch the leader looks at the keys its
//! blocked clients wait on and proposes the command again for the earliest arrivals, as many
//! as the key has elements.

use std::time::Duration;

use bytes::Bytes;
use resp::Value;

/// Whether `args` is a blocking command (Redis's `blocking` flag).
pub fn is_blocking(args: &[Bytes]) -> bool {
    args.first()
        .and_then(|name| keyspace::lookup(name))
        .is_some_and(|spec| spec.flags.contains(&"blocking"))
}

fn name(args: &[Bytes]) -> String {
    args.first()
        .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
        .unwrap_or_default()
}

/// How long the command may block: `Some(None)` for ever (timeout 0), `None` if the timeout
/// does not parse (the keyspace then answers the error, and the client never blocks).
pub fn timeout(args: &[Bytes]) -> Option<Option<Duration>> {
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

/// How many elements `key` holds for this command (0 if absent or of another type).
pub fn available(keyspace: &keyspace::Keyspace, args: &[Bytes], key: &Bytes, now_ms: u64) -> i64 {
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
}
