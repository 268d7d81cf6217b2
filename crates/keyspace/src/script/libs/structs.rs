//! `struct`: Roberto Ierusalimschy's struct library as Redis ships it (lua_struct.c), as it
//! behaves on x86-64: native order little-endian, `long` and `size_t` 8 bytes, maximum
//! alignment 8, integers up to 32 bytes (64 significant bits).

use mlua::{Lua, MultiValue, Table, Value};

use crate::script::api::lua_error;

const INT_SIZE_MAX: usize = 32;
const ALIGN_MAX: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            little: true,
            align: 1,
        }
    }
}

struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    fn number(&mut self, lua: &Lua, default: usize) -> mlua::Result<usize> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(&d) = self.fmt.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let digit = usize::from(d - b'0');
            if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - digit {
                return lua_error(lua, "integral size overflow");
            }
            a = a * 10 + digit;
            self.pos += 1;
        }
        Ok(a)
    }

    fn size(&mut self, lua: &Lua, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(lua, 1)?,
            b'i' | b'I' => {
                let size = self.number(lua, 4)?;
                if size > INT_SIZE_MAX {
                    return lua_error(
                        lua,
                        &format!("integral size {size} is larger than limit of {INT_SIZE_MAX}"),
                    );
                }
                size
            }
            _ => 0,
        })
    }

    /// `<`, `>`, `!n` and spaces; anything else is an invalid option.
    fn control(&mut self, lua: &Lua, opt: u8, h: &mut Header, function: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(lua, ALIGN_MAX)?;
                if a == 0 || a & (a - 1) != 0 {
                    return lua_error(lua, &format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            _ => {
                return lua_error(
                    lua,
                    &format!(
                        "bad argument #1 to '{function}' (invalid format option '{}')",
                        opt as char
                    ),
                )
            }
        }
        Ok(())
    }
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn check_number(lua: &Lua, args: &MultiValue, index: usize) -> mlua::Result<f64> {
    let value = args.get(index - 1).cloned().unwrap_or(Value::Nil);
    let type_name = value.type_name();
    match lua.coerce_number(value)? {
        Some(n) => Ok(n),
        None => lua_error(
            lua,
            &format!(
                "bad argument #{index} to 'pack' (number expected, got {})",
                if type_name == "nil" {
                    "no value"
                } else {
                    type_name
                }
            ),
        ),
    }
}

// b_pack's loop over format options, one arm each, as in lua_struct.c.
#[allow(clippy::too_many_lines)]
fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    let fmt = match args.front().cloned().map(|v| lua.coerce_string(v)) {
        Some(Ok(Some(s))) => s.as_bytes().to_vec(),
        _ => {
            return lua_error(
                lua,
                "bad argument #1 to 'pack' (string expected, got no value)",
            )
        }
    };
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::new();
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 2;
    while f.pos < f.fmt.len() {
        let opt = f.fmt[f.pos];
        f.pos += 1;
        let mut size = f.size(lua, opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    bytes[at] = (value & 0xff) as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(lua, &args, arg)? as f32;
                arg += 1;
                let bytes = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&bytes);
            }
            b'd' => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                let bytes = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let value = args.get(arg - 1).cloned().unwrap_or(Value::Nil);
                let type_name = value.type_name();
                let Some(s) = lua.coerce_string(value)? else {
                    return lua_error(
                        lua,
                        &format!(
                            "bad argument #{arg} to 'pack' (string expected, got {})",
                            if type_name == "nil" {
                                "no value"
                            } else {
                                type_name
                            }
                        ),
                    );
                };
                arg += 1;
                let s = s.as_bytes().to_vec();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return lua_error(
                        lua,
                        &format!("bad argument #{arg} to 'pack' (string too short)"),
                    );
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(lua, opt, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

// b_unpack's loop over format options, one arm each, as in lua_struct.c.
#[allow(clippy::too_many_lines)]
fn unpack(
    lua: &Lua,
    (fmt, data, start): (mlua::LuaString, mlua::LuaString, Option<i64>),
) -> mlua::Result<MultiValue> {
    let fmt = fmt.as_bytes().to_vec();
    let data = data.as_bytes().to_vec();
    let start = start.unwrap_or(1);
    if start <= 0 {
        return lua_error(
            lua,
            "bad argument #3 to 'unpack' (offset must be 1 or greater)",
        );
    }
    let mut pos = (start - 1) as usize;
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::new();
    let mut results: Vec<Value> = Vec::new();
    let short =
        |lua: &Lua| lua_error::<()>(lua, "bad argument #2 to 'unpack' (data string too short)");
    while f.pos < f.fmt.len() {
        let opt = f.fmt[f.pos];
        f.pos += 1;
        let mut size = f.size(lua, opt)?;
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if size > data.len() || pos > data.len() - size {
            short(lua)?;
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                for i in 0..size {
                    let b = if h.little {
                        bytes[size - 1 - i]
                    } else {
                        bytes[i]
                    };
                    l = (l << 8) | u64::from(b);
                }
                let value = if opt.is_ascii_lowercase() && size > 0 {
                    let shift = (size * 8 - 1).min(63);
                    let mask = u64::MAX << shift;
                    if l & mask != 0 {
                        (l | mask) as i64 as f64
                    } else {
                        l as i64 as f64
                    }
                } else {
                    l as f64
                };
                results.push(Value::Number(value));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let x = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                results.push(Value::Number(f64::from(x)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let x = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                results.push(Value::Number(x));
            }
            b'c' => {
                if size == 0 {
                    let previous = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::Integer(i)) => Some(*i as f64),
                        _ => None,
                    };
                    let Some(n) = previous else {
                        return lua_error(lua, "format 'c0' needs a previous size");
                    };
                    results.pop();
                    size = if n > 0.0 { n as usize } else { 0 };
                    if size > data.len() || pos > data.len() - size {
                        short(lua)?;
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return lua_error(lua, "unfinished string in data");
                };
                results.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => f.control(lua, opt, &mut h, "unpack")?,
        }
        pos = pos.saturating_add(size);
    }
    results.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_iter(results))
}

fn size(lua: &Lua, fmt: mlua::LuaString) -> mlua::Result<i64> {
    let fmt = fmt.as_bytes().to_vec();
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::new();
    let mut pos = 0usize;
    while f.pos < f.fmt.len() {
        let opt = f.fmt[f.pos];
        f.pos += 1;
        let size = f.size(lua, opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return lua_error(
                lua,
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            );
        }
        if opt == b'c' && size == 0 {
            return lua_error(
                lua,
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            );
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(lua, opt, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as i64)
}

pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set("unpack", lua.create_function(unpack)?)?;
    t.set("size", lua.create_function(size)?)?;
    Ok(t)
}
