//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis ships it (lua_cmsgpack.c): pack, unpack,
//! unpack_one, unpack_limit. Integral numbers pack as the smallest integer form, others as a
//! float when that is exact, else a double; a table whose keys are exactly 1..n packs as an
//! array, any other as a map; tables nested 16 deep pack as nil.

use mlua::{Lua, MultiValue, Table, Value};

use crate::script::api::lua_error;
use crate::script::convert::TWO_63;

const NESTING_MAX: usize = 16;

pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return lua_error(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                );
            }
            let mut out = Vec::new();
            for value in args.iter() {
                pack(value, &mut out, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, data: mlua::LuaString| unpack(lua, &data.as_bytes(), 0, 0))?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, (data, offset): (mlua::LuaString, Option<i64>)| {
            unpack(lua, &data.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(
            |lua, (data, limit, offset): (mlua::LuaString, i64, Option<i64>)| {
                unpack(lua, &data.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

fn pack_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_number(x: f64, out: &mut Vec<u8>) {
    // IS_INT64_EQUIVALENT: finite and unchanged by a cast to int64.
    if x.is_finite() && (-TWO_63..TWO_63).contains(&x) && (x as i64) as f64 == x {
        pack_int(x as i64, out);
    } else if f64::from(x as f32) == x {
        out.push(0xca);
        out.extend_from_slice(&(x as f32).to_bits().to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&x.to_bits().to_be_bytes());
    }
}

fn pack_len(len: usize, small: u8, small_max: usize, ops: [u8; 2], out: &mut Vec<u8>) {
    if len <= small_max {
        out.push(small | len as u8);
    } else if len <= 0xffff {
        out.push(ops[0]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(ops[1]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// table_is_an_array: keys exactly 1..n.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || n.trunc() != n || n > f64::from(i32::MAX) {
            return Ok(false);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(max == count)
}

fn pack(value: &Value, out: &mut Vec<u8>, level: usize) -> mlua::Result<()> {
    match value {
        Value::String(s) => {
            let bytes = s.as_bytes();
            let len = bytes.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&bytes);
        }
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => pack_number(*i as f64, out),
        Value::Number(n) => pack_number(*n, out),
        Value::Table(t) if level < NESTING_MAX => {
            if is_array(t)? {
                let len = t.raw_len();
                pack_len(len, 0x90, 15, [0xdc, 0xdd], out);
                for i in 1..=len {
                    pack(&t.get::<Value>(i)?, out, level + 1)?;
                }
            } else {
                let pairs: Vec<(Value, Value)> = t
                    .clone()
                    .pairs::<Value, Value>()
                    .collect::<mlua::Result<_>>()?;
                pack_len(pairs.len(), 0x80, 15, [0xde, 0xdf], out);
                for (k, v) in &pairs {
                    pack(k, out, level + 1)?;
                    pack(v, out, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

enum Failure {
    Eof,
    BadFormat,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Failure> {
        let end = self.pos.checked_add(n).ok_or(Failure::Eof)?;
        let bytes = self.data.get(self.pos..end).ok_or(Failure::Eof)?;
        self.pos = end;
        Ok(bytes)
    }
    fn be(&mut self, n: usize) -> Result<u64, Failure> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

// One arm per MessagePack type byte: a table, clearer whole than split.
#[allow(clippy::too_many_lines)]
fn decode(lua: &Lua, c: &mut Cursor<'_>, depth: usize) -> mlua::Result<Result<Value, Failure>> {
    if depth > 1000 {
        return Ok(Err(Failure::BadFormat));
    }
    let byte = match c.take(1) {
        Ok(b) => b[0],
        Err(f) => return Ok(Err(f)),
    };
    let number = |x: f64| Value::Number(x);
    let string = |c: &mut Cursor<'_>, n: usize| -> mlua::Result<Result<Value, Failure>> {
        match c.take(n) {
            Ok(bytes) => Ok(Ok(Value::String(lua.create_string(bytes)?))),
            Err(f) => Ok(Err(f)),
        }
    };
    macro_rules! try_ok {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(f) => return Ok(Err(f)),
            }
        };
    }
    let value = match byte {
        0x00..=0x7f => number(f64::from(byte)),
        0xe0..=0xff => number(f64::from(byte as i8)),
        0xa0..=0xbf => return string(c, usize::from(byte & 0x1f)),
        0x90..=0x9f => return array(lua, c, usize::from(byte & 0x0f), depth),
        0x80..=0x8f => return map(lua, c, usize::from(byte & 0x0f), depth),
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xcc => number(try_ok!(c.be(1)) as f64),
        0xcd => number(try_ok!(c.be(2)) as f64),
        0xce => number(try_ok!(c.be(4)) as f64),
        0xcf => number(try_ok!(c.be(8)) as f64),
        0xd0 => number(f64::from(try_ok!(c.be(1)) as u8 as i8)),
        0xd1 => number(f64::from(try_ok!(c.be(2)) as u16 as i16)),
        0xd2 => number(f64::from(try_ok!(c.be(4)) as u32 as i32)),
        0xd3 => number(try_ok!(c.be(8)) as i64 as f64),
        0xca => number(f64::from(f32::from_bits(try_ok!(c.be(4)) as u32))),
        0xcb => number(f64::from_bits(try_ok!(c.be(8)))),
        0xd9 => {
            let n = try_ok!(c.be(1)) as usize;
            return string(c, n);
        }
        0xda => {
            let n = try_ok!(c.be(2)) as usize;
            return string(c, n);
        }
        0xdb => {
            let n = try_ok!(c.be(4)) as usize;
            return string(c, n);
        }
        0xdc => {
            let n = try_ok!(c.be(2)) as usize;
            return array(lua, c, n, depth);
        }
        0xdd => {
            let n = try_ok!(c.be(4)) as usize;
            return array(lua, c, n, depth);
        }
        0xde => {
            let n = try_ok!(c.be(2)) as usize;
            return map(lua, c, n, depth);
        }
        0xdf => {
            let n = try_ok!(c.be(4)) as usize;
            return map(lua, c, n, depth);
        }
        _ => return Ok(Err(Failure::BadFormat)),
    };
    Ok(Ok(value))
}

fn array(
    lua: &Lua,
    c: &mut Cursor<'_>,
    n: usize,
    depth: usize,
) -> mlua::Result<Result<Value, Failure>> {
    let t = lua.create_table()?;
    for i in 1..=n {
        match decode(lua, c, depth + 1)? {
            Ok(v) => t.raw_set(i, v)?,
            Err(f) => return Ok(Err(f)),
        }
    }
    Ok(Ok(Value::Table(t)))
}

fn map(
    lua: &Lua,
    c: &mut Cursor<'_>,
    n: usize,
    depth: usize,
) -> mlua::Result<Result<Value, Failure>> {
    let t = lua.create_table()?;
    for _ in 0..n {
        let k = match decode(lua, c, depth + 1)? {
            Ok(v) => v,
            Err(f) => return Ok(Err(f)),
        };
        let v = match decode(lua, c, depth + 1)? {
            Ok(v) => v,
            Err(f) => return Ok(Err(f)),
        };
        if !matches!(k, Value::Nil) {
            t.raw_set(k, v)?;
        }
    }
    Ok(Ok(Value::Table(t)))
}

/// mp_unpack_full: every object (limit 0 and offset 0), or at most `limit` from `offset`
/// with the next offset first (-1 at the end).
fn unpack(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return lua_error(
            lua,
            &format!(
                "Invalid request to unpack with offset of {offset} and limit of {}.",
                data.len()
            ),
        );
    }
    if offset as usize > data.len() {
        return lua_error(
            lua,
            &format!(
                "Start offset {offset} greater than input length {}.",
                data.len()
            ),
        );
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut c = Cursor {
        data,
        pos: offset as usize,
    };
    let mut values = Vec::new();
    let mut count = 0;
    while c.pos < data.len() && count < limit {
        match decode(lua, &mut c, 0)? {
            Ok(v) => values.push(v),
            Err(Failure::Eof) => return lua_error(lua, "Missing bytes in input."),
            Err(Failure::BadFormat) => return lua_error(lua, "Bad data format in input."),
        }
        count += 1;
    }
    if !decode_all {
        let next = if c.pos >= data.len() {
            -1
        } else {
            c.pos as i64
        };
        values.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(values))
}
