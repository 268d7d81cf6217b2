//! `bit`: LuaBitOp 1.0.2 (lua_bit.c), 32-bit operations on Lua numbers.

use mlua::{Lua, Table, Variadic};

/// LuaBitOp's `barg`: the number rounded to an integer (ties to even, as adding 2^52+2^51
/// does), its low 32 bits.
fn to_bits(x: f64) -> u32 {
    let rounded = x + 6_755_399_441_055_744.0;
    (rounded.to_bits() & 0xffff_ffff) as u32
}

fn ret(bits: u32) -> f64 {
    f64::from(bits as i32)
}

pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "tobit",
        lua.create_function(|_, x: f64| Ok(ret(to_bits(x))))?,
    )?;
    t.set(
        "bnot",
        lua.create_function(|_, x: f64| Ok(ret(!to_bits(x))))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|_, x: f64| Ok(ret(to_bits(x).swap_bytes())))?,
    )?;
    type Fold = fn(u32, u32) -> u32;
    let folds: [(&str, Fold); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        t.set(
            name,
            lua.create_function(move |_, (first, rest): (f64, Variadic<f64>)| {
                Ok(ret(rest
                    .iter()
                    .fold(to_bits(first), |acc, &x| op(acc, to_bits(x)))))
            })?,
        )?;
    }
    type Shift = fn(u32, u32) -> u32;
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |x, n| x << n),
        ("rshift", |x, n| x >> n),
        ("arshift", |x, n| ((x as i32) >> n) as u32),
        ("rol", |x, n| x.rotate_left(n)),
        ("ror", |x, n| x.rotate_right(n)),
    ];
    for (name, op) in shifts {
        t.set(
            name,
            lua.create_function(move |_, (x, n): (f64, f64)| {
                Ok(ret(op(to_bits(x), to_bits(n) & 31)))
            })?,
        )?;
    }
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let mut bits = to_bits(x);
            let mut n = n.map_or(8, |n| to_bits(n) as i32);
            let upper = n < 0;
            if upper {
                n = -n;
            }
            let n = n.clamp(0, 8) as usize;
            let digits: &[u8] = if upper {
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            let mut out = vec![b'0'; n];
            for slot in out.iter_mut().rev() {
                *slot = digits[(bits & 15) as usize];
                bits >>= 4;
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        })?,
    )?;
    Ok(t)
}
