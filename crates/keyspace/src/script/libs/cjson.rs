//! `cjson`: Lua CJSON 2.1.0 as Redis ships it (lua_cjson.c), with its default settings:
//! numbers with 14 significant digits, sparse arrays refused past ratio 2 and 10 items,
//! nesting at most 1000, `/` escaped, empty tables encoded as `{}`. The setting functions
//! answer the defaults and change nothing: a setting kept in the Lua state between scripts
//! would make replicas depend on their history.

use mlua::{LightUserData, Lua, Table, Value};

use crate::script::api::lua_error;
use crate::script::convert::format_g;

const DEPTH_MAX: usize = 1000;
const SPARSE_RATIO: i64 = 2;
const SPARSE_SAFE: i64 = 10;

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, args: mlua::MultiValue| {
            if args.len() != 1 {
                return lua_error(lua, "bad argument #1 to 'encode' (expected 1 argument)");
            }
            let mut out = Vec::new();
            encode(lua, &args[0], &mut out, 0)?;
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, args: mlua::MultiValue| {
            if args.len() != 1 {
                return lua_error(lua, "bad argument #1 to 'decode' (expected 1 argument)");
            }
            let Some(text) = lua.coerce_string(args[0].clone())? else {
                return lua_error(lua, "bad argument #1 to 'decode' (string expected)");
            };
            let bytes = text.as_bytes().to_vec();
            decode(lua, &bytes)
        })?,
    )?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    let settings: [(&str, Value); 7] = [
        ("encode_sparse_array", Value::Boolean(false)),
        ("encode_max_depth", Value::Integer(DEPTH_MAX as i64)),
        ("decode_max_depth", Value::Integer(DEPTH_MAX as i64)),
        ("encode_number_precision", Value::Integer(14)),
        ("encode_keep_buffer", Value::Boolean(true)),
        ("encode_invalid_numbers", Value::Boolean(false)),
        ("decode_invalid_numbers", Value::Boolean(true)),
    ];
    for (name, value) in settings {
        t.set(
            name,
            lua.create_function(move |_, _: mlua::MultiValue| Ok(value.clone()))?,
        )?;
    }
    Ok(t)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) | Value::Error(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

fn encode_number(lua: &Lua, x: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !x.is_finite() {
        return lua_error(lua, "Cannot serialise number: must not be NaN or Inf");
    }
    out.extend_from_slice(format_g(x, 14).as_bytes());
    Ok(())
}

fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in bytes {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// lua_array_length: the largest index if every key is a positive integer, else None.
fn array_length(lua: &Lua, t: &Table) -> mlua::Result<Option<i64>> {
    let (mut max, mut items) = (0i64, 0i64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(n) if n.floor() == n && n >= 1.0 => {
                max = max.max(n as i64);
                items += 1;
            }
            _ => return Ok(None),
        }
    }
    if max > items * SPARSE_RATIO && max > SPARSE_SAFE {
        return lua_error(lua, "Cannot serialise table: excessively sparse array");
    }
    Ok(Some(max))
}

fn encode(lua: &Lua, value: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => encode_number(lua, *i as f64, out)?,
        Value::Number(n) => encode_number(lua, *n, out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth + 1 > DEPTH_MAX {
                return lua_error(
                    lua,
                    &format!("Cannot serialise, excessive nesting ({})", depth + 1),
                );
            }
            match array_length(lua, t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(lua, &t.raw_get::<Value>(i)?, out, depth + 1)?;
                    }
                    out.push(b']');
                }
                _ => encode_object(lua, t, out, depth)?,
            }
        }
        other => {
            return lua_error(
                lua,
                &format!("Cannot serialise {}: type not supported", type_name(other)),
            )
        }
    }
    Ok(())
}

fn encode_object(lua: &Lua, t: &Table, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    out.push(b'{');
    let mut first = true;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair?;
        if !first {
            out.push(b',');
        }
        first = false;
        match &k {
            Value::Integer(_) | Value::Number(_) => {
                out.push(b'"');
                encode_number(lua, number_of(&k).unwrap_or(0.0), out)?;
                out.extend_from_slice(b"\":");
            }
            Value::String(s) => {
                encode_string(&s.as_bytes(), out);
                out.push(b':');
            }
            other => {
                return lua_error(
                    lua,
                    &format!(
                        "Cannot serialise {}: table key must be a number or string",
                        type_name(other)
                    ),
                )
            }
        }
        encode(lua, &v, out, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

// ---- decoding ----

#[derive(Clone, Debug, PartialEq)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A lexing error: what it was.
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(what) => what,
        }
    }
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    /// The next token and where it starts.
    fn next(&mut self) -> (Token, usize) {
        while self.pos < self.data.len()
            && matches!(self.data[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.data.get(self.pos) else {
            return (Token::End, start);
        };
        let single = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = single {
            self.pos += 1;
            return (token, start);
        }
        let token = match c {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.keyword(b"true", Token::Boolean(true)),
            b'f' => self.keyword(b"false", Token::Boolean(false)),
            b'n' => self.keyword(b"null", Token::Null),
            _ => Token::Error("invalid token"),
        };
        if matches!(token, Token::Error(_)) {
            self.pos = start;
        }
        (token, start)
    }

    fn keyword(&mut self, word: &[u8], token: Token) -> Token {
        if self.data[self.pos..].starts_with(word) {
            self.pos += word.len();
            token
        } else {
            Token::Error("invalid token")
        }
    }

    fn number(&mut self) -> Token {
        let rest = &self.data[self.pos..];
        let lower: Vec<u8> = rest.iter().take(4).map(u8::to_ascii_lowercase).collect();
        let unsigned = if lower.first() == Some(&b'-') {
            &lower[1..]
        } else {
            &lower[..]
        };
        if unsigned.starts_with(b"0x")
            || unsigned.starts_with(b"inf")
            || unsigned.starts_with(b"nan")
        {
            return Token::Error("invalid number");
        }
        // strtod's longest prefix: sign, digits, fraction, exponent.
        let mut end = 0;
        if rest.first() == Some(&b'-') {
            end += 1;
        }
        let digits = |from: usize| {
            rest[from..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let int_digits = digits(end);
        end += int_digits;
        let mut frac_digits = 0;
        if rest.get(end) == Some(&b'.') {
            frac_digits = digits(end + 1);
            end += 1 + frac_digits;
        }
        if int_digits + frac_digits == 0 {
            return Token::Error("invalid token");
        }
        if matches!(rest.get(end), Some(b'e' | b'E')) {
            let mut e = end + 1;
            if matches!(rest.get(e), Some(b'+' | b'-')) {
                e += 1;
            }
            let n = digits(e);
            if n > 0 {
                end = e + n;
            }
        }
        let text = std::str::from_utf8(&rest[..end]).unwrap_or("0");
        match text.parse::<f64>() {
            Ok(x) => {
                self.pos += end;
                Token::Number(x)
            }
            Err(_) => Token::Error("invalid number"),
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.data.get(at..at + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(text, 16).ok()
    }

    fn string(&mut self) -> Token {
        let mut out = Vec::new();
        let mut i = self.pos + 1;
        loop {
            let Some(&c) = self.data.get(i) else {
                return Token::Error("unexpected end of string");
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.data.get(i + 1) else {
                        return Token::Error("unexpected end of string");
                    };
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        _ => None,
                    };
                    if let Some(s) = simple {
                        out.push(s);
                        i += 2;
                        continue;
                    }
                    if e != b'u' {
                        return Token::Error("invalid escape code");
                    }
                    let Some((code, used)) = self.unicode(i) else {
                        return Token::Error("invalid unicode escape code");
                    };
                    let Some(ch) = char::from_u32(code) else {
                        return Token::Error("invalid unicode escape code");
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += used;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        Token::Str(out)
    }

    /// `\uXXXX` (or a surrogate pair) at `at`: the code point and the bytes it took.
    fn unicode(&self, at: usize) -> Option<(u32, usize)> {
        let high = self.hex4(at + 2)?;
        if (0xDC00..=0xDFFF).contains(&high) {
            return None;
        }
        if !(0xD800..=0xDBFF).contains(&high) {
            return Some((high, 6));
        }
        if self.data.get(at + 6..at + 8)? != b"\\u" {
            return None;
        }
        let low = self.hex4(at + 8)?;
        if !(0xDC00..=0xDFFF).contains(&low) {
            return None;
        }
        Some((0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), 12))
    }
}

fn expected<T>(lua: &Lua, what: &str, token: &Token, at: usize) -> mlua::Result<T> {
    lua_error(
        lua,
        &format!(
            "Expected {what} but found {} at character {}",
            token.name(),
            at + 1
        ),
    )
}

fn decode(lua: &Lua, data: &[u8]) -> mlua::Result<Value> {
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return lua_error(lua, "JSON parser does not support UTF-16 or UTF-32");
    }
    let mut p = Parser {
        data,
        pos: 0,
        depth: 0,
    };
    let (token, at) = p.next();
    let value = value(lua, &mut p, token, at)?;
    let (token, at) = p.next();
    if token != Token::End {
        return expected(lua, "the end", &token, at);
    }
    Ok(value)
}

fn descend(lua: &Lua, p: &mut Parser<'_>) -> mlua::Result<()> {
    p.depth += 1;
    if p.depth > DEPTH_MAX {
        return lua_error(
            lua,
            &format!(
                "Found too many nested data structures ({}) at character {}",
                p.depth, p.pos
            ),
        );
    }
    Ok(())
}

fn value(lua: &Lua, p: &mut Parser<'_>, token: Token, at: usize) -> mlua::Result<Value> {
    Ok(match token {
        Token::Str(s) => Value::String(lua.create_string(&s)?),
        Token::Number(x) => Value::Number(x),
        Token::Boolean(b) => Value::Boolean(b),
        Token::Null => null(),
        Token::ObjBegin => {
            descend(lua, p)?;
            let t = lua.create_table()?;
            let (mut token, mut at) = p.next();
            if token != Token::ObjEnd {
                loop {
                    let Token::Str(key) = token else {
                        return expected(lua, "object key string", &token, at);
                    };
                    let (colon, colon_at) = p.next();
                    if colon != Token::Colon {
                        return expected(lua, "colon", &colon, colon_at);
                    }
                    let (v, v_at) = p.next();
                    let v = value(lua, p, v, v_at)?;
                    t.raw_set(lua.create_string(&key)?, v)?;
                    let (sep, sep_at) = p.next();
                    match sep {
                        Token::ObjEnd => break,
                        Token::Comma => (token, at) = p.next(),
                        other => return expected(lua, "comma or object end", &other, sep_at),
                    }
                }
            }
            p.depth -= 1;
            Value::Table(t)
        }
        Token::ArrBegin => {
            descend(lua, p)?;
            let t = lua.create_table()?;
            let (mut token, mut at) = p.next();
            if token != Token::ArrEnd {
                let mut i = 1;
                loop {
                    let v = value(lua, p, token, at)?;
                    t.raw_set(i, v)?;
                    i += 1;
                    let (sep, sep_at) = p.next();
                    match sep {
                        Token::ArrEnd => break,
                        Token::Comma => (token, at) = p.next(),
                        other => return expected(lua, "comma or array end", &other, sep_at),
                    }
                }
            }
            p.depth -= 1;
            Value::Table(t)
        }
        other => return expected(lua, "value", &other, at),
    })
}
