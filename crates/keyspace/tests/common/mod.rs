//! Shared test helpers: argument tokenizing and a compact text form of replies.
#![allow(dead_code)]

use bytes::Bytes;
use keyspace::{Context, Keyspace};
use resp::Value;

pub fn ctx(now_ms: u64) -> Context {
    Context { now_ms, seed: 7 }
}

/// Splits a command line into arguments: whitespace-separated, "double quoted" with \" \\ \n \r \xNN.
pub fn tokenize(line: &str) -> Vec<Bytes> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mut arg = Vec::new();
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => arg.push(b'\n'),
                        b'r' => arg.push(b'\r'),
                        b'x' => {
                            let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                            arg.push(u8::from_str_radix(h, 16).unwrap());
                            i += 2;
                        }
                        c => arg.push(c),
                    }
                } else {
                    arg.push(b[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                arg.push(b[i]);
                i += 1;
            }
        }
        out.push(Bytes::from(arg));
    }
    out
}

pub fn args(line: &str) -> Vec<Bytes> {
    tokenize(line)
}

fn quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// `+OK`, `-ERR ..`, `:1`, `"bulk"`, `(nil)`, `(nil-array)`, `[a, b]`, `{k: v}`, `~[set]`.
pub fn show(v: &Value) -> String {
    match v {
        Value::Simple(s) => format!("+{s}"),
        Value::Error(s) => format!("-{s}"),
        Value::Integer(i) => format!(":{i}"),
        Value::Bulk(b) => quote(b),
        Value::Null => "(nil)".into(),
        Value::NullArray => "(nil-array)".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Push(a) => format!(">[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Set(a) => format!("~[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => {
            format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Value::Double(d) => format!(",{d}"),
        Value::Boolean(b) => format!("#{b}"),
        Value::Verbatim(f, b) => format!("={f}:{}", quote(b)),
        // Replies built in both protocols at once (sorted-set scores): shown as RESP2 reads.
        Value::Raw { resp2, .. } => match parse_resp2(resp2) {
            Some((v, n)) if n == resp2.len() => show(&v),
            _ => format!("raw:{}", quote(resp2)),
        },
    }
}

/// Reads one RESP2 reply from the start of `b`: the value and the bytes it took.
pub fn parse_resp2(b: &[u8]) -> Option<(Value, usize)> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&b[1..end]).ok()?;
    let after = end + 2;
    match b.first()? {
        b'+' => Some((Value::Simple(line.to_string()), after)),
        b'-' => Some((Value::Error(line.to_string()), after)),
        b':' => Some((Value::Integer(line.parse().ok()?), after)),
        b'$' => {
            let n: i64 = line.parse().ok()?;
            if n < 0 {
                return Some((Value::Null, after));
            }
            let data = b.get(after..after + n as usize)?;
            Some((
                Value::Bulk(Bytes::copy_from_slice(data)),
                after + n as usize + 2,
            ))
        }
        b'*' => {
            let n: i64 = line.parse().ok()?;
            if n < 0 {
                return Some((Value::NullArray, after));
            }
            let mut at = after;
            let mut items = Vec::new();
            for _ in 0..n {
                let (v, used) = parse_resp2(&b[at..])?;
                items.push(v);
                at += used;
            }
            Some((Value::Array(items), at))
        }
        _ => None,
    }
}

/// Runs one command: apply() for writes; for reads also checks read() agrees and changes nothing.
pub fn run(ks: &mut Keyspace, line: &str, c: Context) -> Value {
    let a = tokenize(line);
    let is_read = keyspace::check(&a)
        .map(|s| s.kind == keyspace::Kind::Read)
        .unwrap_or(false);
    if is_read {
        let before = ks.digest();
        let r = ks.read(&a, c);
        let w = ks.apply(&a, c);
        assert_eq!(r, w, "read and apply differ for {line}");
        assert_eq!(before, ks.digest(), "read command {line} changed the state");
        r
    } else {
        ks.apply(&a, c)
    }
}
