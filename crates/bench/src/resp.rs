//! A lean RESP client codec: commands are appended to a reused buffer, replies are parsed
//! incrementally from the bytes read so far without allocating (except for error text).

/// One parsed reply; only what the load generator needs to tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple,
    Integer(i64),
    Bulk,
    Nil,
    Array,
    Error(String),
}

/// Appends one command as a RESP array of bulk strings.
pub fn push_command(buf: &mut Vec<u8>, parts: &[&[u8]]) {
    buf.push(b'*');
    push_uint(buf, parts.len() as u64);
    buf.extend_from_slice(b"\r\n");
    for part in parts {
        buf.push(b'$');
        push_uint(buf, part.len() as u64);
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(part);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Decimal digits without going through `fmt` (this runs for every command).
pub fn push_uint(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// A reply parser: `Ok(None)` until a whole reply is there, then the reply and its length.
pub type Parser<T> = fn(&[u8]) -> Result<Option<(T, usize)>, String>;

/// Parses one reply from the front of `buf`: `Ok(None)` if it is not complete yet,
/// otherwise the reply and how many bytes it used.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(line_end) = find_crlf(buf) else {
        return Ok(None);
    };
    if line_end == 0 {
        return Err("protocol error: empty reply line".to_owned());
    }
    let kind = buf[0];
    let line = &buf[1..line_end];
    let after = line_end + 2;
    match kind {
        b'+' => Ok(Some((Reply::Simple, after))),
        b'-' => Ok(Some((
            Reply::Error(String::from_utf8_lossy(line).into_owned()),
            after,
        ))),
        b':' => Ok(Some((Reply::Integer(number(line)?), after))),
        b'$' => parse_bulk(buf, number(line)?, after),
        b'*' => parse_array(buf, number(line)?, after),
        other => Err(format!(
            "protocol error: unexpected reply type byte {:?}",
            other as char
        )),
    }
}

fn parse_bulk(buf: &[u8], len: i64, after: usize) -> Result<Option<(Reply, usize)>, String> {
    if len < 0 {
        return Ok(Some((Reply::Nil, after)));
    }
    let end = after + len as usize + 2;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((Reply::Bulk, end)))
}

fn parse_array(buf: &[u8], len: i64, mut at: usize) -> Result<Option<(Reply, usize)>, String> {
    if len < 0 {
        return Ok(Some((Reply::Nil, at)));
    }
    for _ in 0..len {
        match parse(&buf[at..])? {
            Some((_, used)) => at += used,
            None => return Ok(None),
        }
    }
    Ok(Some((Reply::Array, at)))
}

/// A fully decoded reply, for the few control commands whose content matters (CLUSTER SLOTS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
}

/// Deepest nesting `parse_value` accepts (CLUSTER SLOTS needs 3).
const VALUE_DEPTH_MAX: usize = 8;

/// Like `parse`, but keeps the content: `Ok(None)` if the reply is not complete yet.
pub fn parse_value(buf: &[u8]) -> Result<Option<(Value, usize)>, String> {
    parse_value_at(buf, 0)
}

fn parse_value_at(buf: &[u8], depth: usize) -> Result<Option<(Value, usize)>, String> {
    if depth > VALUE_DEPTH_MAX {
        return Err(format!(
            "protocol error: reply nested deeper than {VALUE_DEPTH_MAX}"
        ));
    }
    let Some(line_end) = find_crlf(buf) else {
        return Ok(None);
    };
    if line_end == 0 {
        return Err("protocol error: empty reply line".to_owned());
    }
    let line = &buf[1..line_end];
    let text = || String::from_utf8_lossy(line).into_owned();
    let mut at = line_end + 2;
    let value = match buf[0] {
        b'+' => Value::Simple(text()),
        b'-' => Value::Error(text()),
        b':' => Value::Integer(number(line)?),
        b'$' => match usize::try_from(number(line)?) {
            Err(_) => Value::Nil,
            Ok(len) if buf.len() < at + len + 2 => return Ok(None),
            Ok(len) => {
                at += len + 2;
                Value::Bulk(buf[line_end + 2..at - 2].to_vec())
            }
        },
        b'*' => match usize::try_from(number(line)?) {
            Err(_) => Value::Nil,
            Ok(len) => {
                let mut items = Vec::with_capacity(len.min(1024));
                for _ in 0..len {
                    let Some((item, used)) = parse_value_at(&buf[at..], depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(item);
                    at += used;
                }
                Value::Array(items)
            }
        },
        other => {
            return Err(format!(
                "protocol error: unexpected reply type byte {:?}",
                other as char
            ))
        }
    };
    Ok(Some((value, at)))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn number(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "protocol error: bad number {:?}",
                String::from_utf8_lossy(line)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_and_waits_for_more() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Some((Reply::Simple, 5)));
        assert_eq!(parse(b":42\r\n").unwrap(), Some((Reply::Integer(42), 5)));
        assert_eq!(parse(b"$3\r\nabc\r\n").unwrap(), Some((Reply::Bulk, 9)));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Some((Reply::Nil, 5)));
        assert_eq!(
            parse(b"*2\r\n:1\r\n$1\r\nx\r\n").unwrap(),
            Some((Reply::Array, 15))
        );
        assert_eq!(
            parse(b"-ERR boom\r\n").unwrap(),
            Some((Reply::Error("ERR boom".into()), 11))
        );
        assert_eq!(parse(b"$3\r\nab").unwrap(), None);
        assert_eq!(parse(b"*2\r\n:1\r\n").unwrap(), None);
        assert_eq!(parse(b"+O").unwrap(), None);
        assert!(parse(b"\r\n").is_err());
    }

    #[test]
    fn parses_values_with_their_content() {
        let slots = b"*1\r\n*3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n";
        let (value, used) = parse_value(slots).unwrap().unwrap();
        assert_eq!(used, slots.len());
        let node = Value::Array(vec![
            Value::Bulk(b"127.0.0.1".to_vec()),
            Value::Integer(7000),
            Value::Bulk(b"id".to_vec()),
        ]);
        assert_eq!(
            value,
            Value::Array(vec![Value::Array(vec![
                Value::Integer(0),
                Value::Integer(5460),
                node
            ])])
        );
        assert_eq!(parse_value(&slots[..slots.len() - 3]).unwrap(), None);
        assert_eq!(
            parse_value(b"-ERR no\r\n").unwrap(),
            Some((Value::Error("ERR no".into()), 9))
        );
        assert_eq!(
            parse_value(b"$-1\r\n+OK\r\n").unwrap(),
            Some((Value::Nil, 5))
        );
        assert!(parse_value(&b"*1\r\n".repeat(20)).is_err());
    }

    #[test]
    fn encodes_commands() {
        let mut buf = Vec::new();
        push_command(&mut buf, &[b"SET", b"k", b"v"]);
        assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }
}
