//! Redis's conversions between replies and Lua values (script_lua.c:
//! `redisProtocolToLuaType_*` and `luaReplyToRedisReply`), and C's `%.Ng`.

use bytes::Bytes;
use mlua::{Lua, Table};
use resp::Value;

/// Nesting a reply or a returned table may have (Redis stops at the Lua stack's limit).
pub(crate) const DEPTH_MAX: usize = 200;

/// A command's reply as the script sees it, for the RESP version `redis.setresp` chose.
pub(crate) fn reply_to_lua(lua: &Lua, reply: &Value, resp: u8) -> mlua::Result<mlua::Value> {
    let resp3 = resp == 3;
    Ok(match reply {
        Value::Simple(s) => single(lua, "ok", lua.create_string(s)?)?,
        Value::Error(e) => error_table(lua, e)?,
        Value::Integer(i) => mlua::Value::Number(*i as f64),
        Value::Bulk(b) => mlua::Value::String(lua.create_string(b)?),
        Value::Null | Value::NullArray if resp3 => mlua::Value::Nil,
        Value::Null | Value::NullArray => mlua::Value::Boolean(false),
        // A push never answers a command; as an array if one ever did.
        Value::Array(items) | Value::Push(items) => array(lua, items, resp)?,
        Value::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp)?, true)?;
            }
            single(lua, "set", set)?
        }
        Value::Set(items) => array(lua, items, resp)?,
        Value::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(reply_to_lua(lua, k, resp)?, reply_to_lua(lua, v, resp)?)?;
            }
            single(lua, "map", map)?
        }
        Value::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp)?)?;
            }
            mlua::Value::Table(t)
        }
        Value::Double(d) if resp3 => single(lua, "double", *d)?,
        Value::Double(d) => mlua::Value::String(lua.create_string(resp::format_double(*d))?),
        Value::Boolean(b) if resp3 => mlua::Value::Boolean(*b),
        Value::Boolean(b) => mlua::Value::Number(if *b { 1.0 } else { 0.0 }),
        Value::Verbatim(format, text) if resp3 => {
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(text)?)?;
            inner.raw_set("format", format.as_str())?;
            single(lua, "verbatim_string", inner)?
        }
        Value::Verbatim(_, text) => mlua::Value::String(lua.create_string(text)?),
        Value::Raw {
            resp2,
            resp3: encoded3,
        } => {
            let bytes = if resp3 { encoded3 } else { resp2 };
            let mut at = 0;
            match parse_raw(bytes, &mut at, 0) {
                Some(value) => reply_to_lua(lua, &value, resp)?,
                None => mlua::Value::Boolean(false),
            }
        }
    })
}

fn raw_line<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let rest = bytes.get(*at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *at += end + 2;
    Some(&rest[..end])
}

/// A reply the keyspace built pre-encoded (`Value::Raw`), read back into a value.
fn parse_raw(bytes: &[u8], at: &mut usize, depth: usize) -> Option<Value> {
    if depth > DEPTH_MAX {
        return None;
    }
    let kind = *bytes.get(*at)?;
    *at += 1;
    let line = raw_line(bytes, at)?;
    let text = std::str::from_utf8(line).ok()?;
    let count = |t: &str| t.parse::<i64>().ok();
    Some(match kind {
        b'+' => Value::Simple(text.to_owned()),
        b'-' => Value::Error(text.to_owned()),
        b':' => Value::Integer(count(text)?),
        b'_' => Value::Null,
        b',' => Value::Double(text.parse().ok()?),
        b'#' => Value::Boolean(text == "t"),
        b'$' | b'=' => {
            let n = count(text)?;
            if n < 0 {
                return Some(Value::Null);
            }
            let end = at.checked_add(n as usize)?;
            let body = bytes.get(*at..end)?;
            *at = end.checked_add(2)?;
            if kind == b'=' && body.len() >= 4 {
                let format = String::from_utf8_lossy(&body[..3]).into_owned();
                Value::Verbatim(format, Bytes::copy_from_slice(&body[4..]))
            } else {
                Value::Bulk(Bytes::copy_from_slice(body))
            }
        }
        b'*' | b'~' | b'%' => {
            let n = count(text)?;
            if n < 0 {
                return Some(Value::NullArray);
            }
            let n = usize::try_from(n).ok()?.min(bytes.len());
            if kind == b'%' {
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = parse_raw(bytes, at, depth + 1)?;
                    pairs.push((k, parse_raw(bytes, at, depth + 1)?));
                }
                Value::Map(pairs)
            } else {
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(parse_raw(bytes, at, depth + 1)?);
                }
                if kind == b'~' {
                    Value::Set(items)
                } else {
                    Value::Array(items)
                }
            }
        }
        _ => return None,
    })
}

fn array(lua: &Lua, items: &[Value], resp: u8) -> mlua::Result<mlua::Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp)?)?;
    }
    Ok(mlua::Value::Table(t))
}

fn single(lua: &Lua, field: &str, value: impl mlua::IntoLua) -> mlua::Result<mlua::Value> {
    let t = lua.create_table()?;
    t.raw_set(field, value)?;
    Ok(mlua::Value::Table(t))
}

/// `{err = "CODE message"}` for a command's error reply (luaPushErrorBuff on "-CODE msg").
pub(crate) fn error_table(lua: &Lua, error: &str) -> mlua::Result<mlua::Value> {
    let text = match error.split_once(' ') {
        Some(_) => error.to_owned(),
        None => format!("ERR {error}"),
    };
    let text = text.trim_end_matches(['\r', '\n']);
    single(lua, "err", lua.create_string(text)?)
}

/// `{err = "ERR message"}` for an error of the script machinery itself.
pub(crate) fn err_message(lua: &Lua, message: &str) -> mlua::Result<mlua::Value> {
    single(lua, "err", lua.create_string(format!("ERR {message}"))?)
}

/// A script's return value as a reply. `resp` is the version the script chose with
/// `redis.setresp`: it decides how booleans come back.
pub(crate) fn lua_to_reply(value: &mlua::Value, resp: u8, depth: usize) -> Value {
    if depth > DEPTH_MAX {
        return Value::Error("ERR reached lua stack limit".to_owned());
    }
    match value {
        mlua::Value::String(s) => Value::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        mlua::Value::Boolean(b) if resp == 3 => Value::Boolean(*b),
        mlua::Value::Boolean(true) => Value::Integer(1),
        mlua::Value::Boolean(false) => Value::Null,
        mlua::Value::Integer(i) => Value::Integer(*i),
        mlua::Value::Number(n) => Value::Integer(number_to_i64(*n)),
        mlua::Value::Table(t) => table_to_reply(t, resp, depth),
        _ => Value::Null,
    }
}

/// 2^63: the first double past i64.
pub(crate) const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// C's `(long long)` cast of a double as x86-64 does it: out of range (and NaN) gives
/// i64::MIN, which is what Redis answers.
pub(crate) fn number_to_i64(n: f64) -> i64 {
    if n.is_nan() || !(-TWO_63..TWO_63).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn raw_string(t: &Table, field: &str) -> Option<Bytes> {
    match t.raw_get::<mlua::Value>(field).ok()? {
        mlua::Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        _ => None,
    }
}

/// Newlines would break the protocol: Redis replaces them with spaces in errors and statuses.
fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

fn table_to_reply(t: &Table, resp: u8, depth: usize) -> Value {
    if let Some(err) = raw_string(t, "err") {
        return Value::Error(one_line(&err));
    }
    if let Some(ok) = raw_string(t, "ok") {
        return Value::Simple(one_line(&ok));
    }
    match t.raw_get::<mlua::Value>("double") {
        Ok(mlua::Value::Number(n)) => return Value::Double(n),
        Ok(mlua::Value::Integer(i)) => return Value::Double(i as f64),
        _ => {}
    }
    if let Some(big) = raw_string(t, "big_number") {
        return Value::Bulk(Bytes::from(one_line(&big).into_bytes()));
    }
    if let Ok(mlua::Value::Table(v)) = t.raw_get::<mlua::Value>("verbatim_string") {
        if let (Some(format), Some(text)) = (raw_string(&v, "format"), raw_string(&v, "string")) {
            let format = String::from_utf8_lossy(&format).into_owned();
            return Value::Verbatim(format, text);
        }
    }
    if let Ok(mlua::Value::Table(map)) = t.raw_get::<mlua::Value>("map") {
        let mut pairs = Vec::new();
        for (k, v) in map.pairs::<mlua::Value, mlua::Value>().flatten() {
            pairs.push((
                lua_to_reply(&k, resp, depth + 1),
                lua_to_reply(&v, resp, depth + 1),
            ));
        }
        return Value::Map(pairs);
    }
    if let Ok(mlua::Value::Table(set)) = t.raw_get::<mlua::Value>("set") {
        let mut items = Vec::new();
        for (k, _) in set.pairs::<mlua::Value, mlua::Value>().flatten() {
            items.push(lua_to_reply(&k, resp, depth + 1));
        }
        return Value::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<mlua::Value>(i) {
            Ok(mlua::Value::Nil) | Err(_) => break,
            Ok(v) => items.push(lua_to_reply(&v, resp, depth + 1)),
        }
    }
    Value::Array(items)
}

/// C's `printf("%.*g", precision, x)`.
pub(crate) fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    let p = precision.max(1);
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // The exponent after rounding to p significant digits decides the style.
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= p as i32 {
        let mantissa = trim_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (p as i32 - 1 - exponent).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_owned()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::format_g;

    // Goal: %.Ng as C prints it. Method: values whose C output is known.
    #[test]
    fn format_g_matches_c() {
        assert_eq!(format_g(5.0, 17), "5");
        assert_eq!(format_g(3.5, 17), "3.5");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(1e20, 17), "1e+20");
        assert_eq!(format_g(123456789012345678.0, 17), "1.2345678901234568e+17");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(-2.5, 14), "-2.5");
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(format_g(1.0 / 3.0, 14), "0.33333333333333");
    }
}
