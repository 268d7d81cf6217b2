//! Reply encoding, RESP2 and RESP3.

use bytes::{BufMut, BytesMut};

use crate::{Protocol, Value};

/// Appends the encoding of `value` in `protocol` to `out`.
///
/// Simple strings and errors must not contain CR or LF; like Redis's `addReplyError`, any
/// are written as spaces so the output is always valid protocol.
pub fn encode(value: &Value, protocol: Protocol, out: &mut BytesMut) {
    let resp3 = protocol == Protocol::Resp3;
    match value {
        Value::Simple(s) => line(out, b'+', s.as_bytes()),
        Value::Error(s) => line(out, b'-', s.as_bytes()),
        Value::Integer(n) => header(out, b':', *n),
        Value::Bulk(b) => bulk(out, b),
        Value::Raw {
            resp2,
            resp3: bytes3,
        } => out.put_slice(if resp3 { bytes3 } else { resp2 }),
        Value::Null if resp3 => out.put_slice(b"_\r\n"),
        Value::Null => out.put_slice(b"$-1\r\n"),
        Value::NullArray if resp3 => out.put_slice(b"_\r\n"),
        Value::NullArray => out.put_slice(b"*-1\r\n"),
        Value::Array(items) => {
            header(out, b'*', len_i64(items.len()));
            for v in items {
                encode(v, protocol, out);
            }
        }
        Value::Push(items) => {
            header(out, if resp3 { b'>' } else { b'*' }, len_i64(items.len()));
            for v in items {
                encode(v, protocol, out);
            }
        }
        Value::Map(pairs) => {
            if resp3 {
                header(out, b'%', len_i64(pairs.len()));
            } else {
                header(out, b'*', len_i64(pairs.len()).saturating_mul(2));
            }
            for (k, v) in pairs {
                encode(k, protocol, out);
                encode(v, protocol, out);
            }
        }
        Value::Set(items) => {
            header(out, if resp3 { b'~' } else { b'*' }, len_i64(items.len()));
            for v in items {
                encode(v, protocol, out);
            }
        }
        Value::Double(d) => {
            let text = format_double(*d);
            if resp3 {
                line(out, b',', text.as_bytes());
            } else {
                bulk(out, text.as_bytes());
            }
        }
        Value::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Value::Boolean(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Value::Verbatim(format, text) => {
            if resp3 {
                header(out, b'=', len_i64(format.len() + 1 + text.len()));
                out.put_slice(format.as_bytes());
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            } else {
                bulk(out, text);
            }
        }
    }
}

/// Appends a command as clients send it: a multibulk array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    header(out, b'*', len_i64(args.len()));
    for a in args {
        bulk(out, a.as_ref());
    }
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `<prefix><text>\r\n`, CR and LF in the text written as spaces.
fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

/// `$<len>\r\n<data>\r\n`
fn bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 24);
    header(out, b'$', len_i64(data.len()));
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// `<prefix><n>\r\n`
fn header(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.reserve(buf.len() - i + 3);
    out.put_u8(prefix);
    out.put_slice(&buf[i..]);
    out.put_slice(b"\r\n");
}

/// A double as Redis 7 writes it: the shortest digits that round-trip, laid out like C's
/// `%.17g` (plain decimal for exponents -4..=16, else `d.ddde+XX`); "inf", "-inf", "nan".
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{d:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut s = String::with_capacity(32);
    if neg {
        s.push('-');
    }
    if !(-4..17).contains(&exp) {
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            s.push('0');
        }
        s.push_str(&a.to_string());
    } else if exp < 0 {
        s.push_str("0.");
        for _ in 0..(-exp - 1) {
            s.push('0');
        }
        s.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            s.push_str(&digits);
            for _ in digits.len()..int_len {
                s.push('0');
            }
        } else {
            s.push_str(&digits[..int_len]);
            s.push('.');
            s.push_str(&digits[int_len..]);
        }
    }
    s
}
