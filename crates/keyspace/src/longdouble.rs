//! Redis's `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT, in software.
//!
//! Redis parses both operands with `strtold`, adds them in the x87 80-bit format (64-bit
//! significand, exponent range to about 1e±4932) and prints the sum with `%.17Lf`, trailing
//! zeros removed. An f64 cannot reproduce that: `9223372036854775807 + 0.1` or `1e400` or
//! `0x10` come out differently. This module does the same steps exactly: correctly rounded
//! parsing (decimal and hexadecimal), one correctly rounded addition (round half to even, the
//! x87 default), and an exact decimal expansion for printing. Plain integers, no floats: the
//! result is the same on every replica and every CPU.

use std::cmp::Ordering;

/// Lowest binary exponent of a significand bit (the smallest subnormal is 2^-16445).
const LSB_MIN: i64 = -16445;
/// Values at or above 2^16384 overflow.
const TOP: i64 = 16384;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer texts are not numbers.
const MAX_CHARS: usize = 5 * 1024;

/// A long double: finite (`mant × 2^exp`, sign apart) or infinite. NaN is never produced:
/// the parser rejects it and an addition that would make it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongDouble {
    Finite { neg: bool, mant: u64, exp: i64 },
    Inf { neg: bool },
}

impl LongDouble {
    pub fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }
}

/// An unsigned big integer, 32-bit limbs, least significant first.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bits(&self) -> i64 {
        self.0.last().map_or(0, |&top| {
            (self.0.len() as i64 - 1) * 32 + i64::from(32 - top.leading_zeros())
        })
    }

    fn bit(&self, i: i64) -> bool {
        i >= 0
            && self
                .0
                .get((i / 32) as usize)
                .is_some_and(|limb| limb >> (i % 32) & 1 == 1)
    }

    /// Whether any bit below `i` is set.
    fn any_below(&self, i: i64) -> bool {
        if i <= 0 {
            return false;
        }
        let (whole, part) = ((i / 32) as usize, i % 32);
        self.0.iter().take(whole).any(|&l| l != 0)
            || self
                .0
                .get(whole)
                .is_some_and(|&l| l & ((1u32 << part) - 1) != 0)
    }

    fn mul_add_small(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(mul) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut e: u64) {
        while e >= 9 {
            self.mul_add_small(1_000_000_000, 0);
            e -= 9;
        }
        self.mul_add_small(10u32.pow(e as u32), 0);
        self.trim();
    }

    /// Divides by `d` in place, returning the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | u64::from(*limb);
            *limb = (v / u64::from(d)) as u32;
            rem = v % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    fn shl(&self, n: i64) -> Big {
        let (whole, part) = ((n / 32) as usize, (n % 32) as u32);
        let mut limbs = vec![0u32; whole];
        let mut carry = 0u32;
        for &limb in &self.0 {
            limbs.push(if part == 0 {
                limb
            } else {
                (limb << part) | carry
            });
            carry = if part == 0 { 0 } else { limb >> (32 - part) };
        }
        limbs.push(carry);
        let mut big = Big(limbs);
        big.trim();
        big
    }

    /// `self >> n` as a u128 (the caller knows it fits).
    fn shr_u128(&self, n: i64) -> u128 {
        (0..128)
            .filter(|&i| self.bit(n + i))
            .fold(0u128, |acc, i| acc | 1u128 << i)
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other` (`self >= other`).
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let v = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            *limb = v.rem_euclid(1 << 32) as u32;
            borrow = i64::from(v < 0);
        }
        self.trim();
    }

    fn decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_owned();
        }
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_small(1_000_000_000));
        }
        let mut out = chunks.pop().unwrap_or(0).to_string();
        for chunk in chunks.iter().rev() {
            out.push_str(&format!("{chunk:09}"));
        }
        out
    }
}

/// Rounds `n × 2^e2` (plus less than one unit of its last bit when `sticky`) to a long double,
/// half to even; `None` when it overflows.
fn round(neg: bool, n: &Big, e2: i64, sticky: bool) -> Option<LongDouble> {
    let len = n.bits();
    let lsb = (e2 + len - 64).max(LSB_MIN);
    let drop = lsb - e2;
    let (mut mant, mut exp) = if drop <= 0 {
        (n.shr_u128(0) << (-drop) as u32, lsb)
    } else {
        let kept = n.shr_u128(drop);
        let half = n.bit(drop - 1);
        let rest = sticky || n.any_below(drop - 1);
        let up = half && (rest || kept & 1 == 1);
        (kept + u128::from(up), lsb)
    };
    if mant >> 64 != 0 {
        mant >>= 1;
        exp += 1;
    }
    let bits = 128 - i64::from(mant.leading_zeros());
    if mant != 0 && exp + bits > TOP {
        return None;
    }
    Some(LongDouble::Finite {
        neg,
        mant: mant as u64,
        exp,
    })
}

/// Redis's `string2ld`: `strtold` on the whole text (no leading space, nothing after the
/// number, no NaN, no overflow, no underflow to zero). Infinity parses.
pub fn parse(text: &[u8]) -> Option<LongDouble> {
    if text.is_empty()
        || text.len() >= MAX_CHARS
        || text[0].is_ascii_whitespace()
        || text[0] == 0x0b
    {
        return None;
    }
    // Redis also checks that strtold read every byte: a NUL ends the number too early.
    if text.contains(&0) {
        return None;
    }
    let (neg, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(LongDouble::Inf { neg });
    }
    let value = if lower.starts_with(b"0x") {
        parse_hex(&lower[2..], neg)?
    } else {
        parse_decimal(&lower, neg)?
    };
    match value {
        // Underflow to zero (ERANGE): Redis refuses it; a written zero is fine.
        Some(LongDouble::Finite { mant: 0, .. }) if !written_zero(&lower) => None,
        other => other,
    }
}

/// Whether the digits themselves are all zeros (as opposed to a tiny value rounded to zero).
fn written_zero(body: &[u8]) -> bool {
    let mantissa = if body.starts_with(b"0x") {
        &body[2..body.iter().position(|&c| c == b'p').unwrap_or(body.len())]
    } else {
        &body[..body.iter().position(|&c| c == b'e').unwrap_or(body.len())]
    };
    mantissa.iter().all(|&c| c == b'0' || c == b'.')
}

/// Digits with an optional point; the text after them; the number of digits after the point.
fn digits(text: &[u8], radix: u32) -> Option<(Big, &[u8], i64)> {
    let mut n = Big(Vec::new());
    let (mut count, mut after_point, mut point) = (0, 0i64, false);
    let mut rest = text;
    while let Some(&c) = rest.first() {
        if let Some(d) = (c as char).to_digit(radix) {
            n.mul_add_small(radix, d);
            count += 1;
            after_point += i64::from(point);
        } else if c == b'.' && !point {
            point = true;
        } else {
            break;
        }
        rest = &rest[1..];
    }
    n.trim();
    (count > 0).then_some((n, rest, after_point))
}

/// An exponent's text (`[+-]digits`, saturating) and whether it is all of `text`.
fn exponent(text: &[u8]) -> Option<i64> {
    let (neg, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || !body.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = body
        .iter()
        .fold(0i64, |acc, &d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        })
        .min(1 << 40);
    Some(if neg { -v } else { v })
}

/// `Some(None)`: a number that overflows (refused); `None`: not a number.
fn parse_decimal(body: &[u8], neg: bool) -> Option<Option<LongDouble>> {
    let (n, rest, after_point) = digits(body, 10)?;
    let e10 = match rest {
        [] => 0,
        [b'e', tail @ ..] => exponent(tail)?,
        _ => return None,
    } - after_point;
    if n.is_zero() {
        return Some(Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        }));
    }
    let len10 = n.decimal().len() as i64;
    // Beyond the range by far: 10^4933 overflows, below 10^-4952 rounds to zero.
    if len10 - 1 + e10 > 4933 {
        return Some(None);
    }
    if len10 + e10 < -4952 {
        return Some(Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        }));
    }
    if e10 >= 0 {
        let mut n = n;
        n.mul_pow10(e10 as u64);
        return Some(round(neg, &n, 0, false));
    }
    let mut den = Big::from_u128(1);
    den.mul_pow10((-e10) as u64);
    // n × 2^s / den with at least 66 significant bits, then the remainder as the sticky bit.
    let s = (den.bits() - n.bits() + 66).max(0);
    let mut num = n.shl(s);
    let mut q = 0u128;
    for i in (0..=(num.bits() - den.bits()).max(0)).rev() {
        let shifted = den.shl(i);
        if num.cmp(&shifted) != Ordering::Less {
            num.sub(&shifted);
            q |= 1u128 << i;
        }
    }
    Some(round(neg, &Big::from_u128(q), -s, !num.is_zero()))
}

fn parse_hex(body: &[u8], neg: bool) -> Option<Option<LongDouble>> {
    let (n, rest, after_point) = digits(body, 16)?;
    let e2 = match rest {
        [] => 0,
        [b'p', tail @ ..] => exponent(tail)?,
        _ => return None,
    } - 4 * after_point;
    if n.is_zero() {
        return Some(Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        }));
    }
    if n.bits() + e2 > TOP + 1 {
        return Some(None);
    }
    if n.bits() + e2 < LSB_MIN - 2 {
        return Some(Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        }));
    }
    Some(round(neg, &n, e2, false))
}

/// `a + b` rounded once, or `None` if the sum is infinite or NaN.
pub fn add(a: LongDouble, b: LongDouble) -> Option<LongDouble> {
    let (
        LongDouble::Finite {
            neg: na,
            mant: ma,
            exp: ea,
        },
        LongDouble::Finite {
            neg: nb,
            mant: mb,
            exp: eb,
        },
    ) = (a, b)
    else {
        return None;
    };
    if ma == 0 && mb == 0 {
        return Some(LongDouble::Finite {
            neg: na && nb,
            mant: 0,
            exp: 0,
        });
    }
    if ma == 0 {
        return Some(b);
    }
    if mb == 0 {
        return Some(a);
    }
    // A value far below the other's last bit cannot move it (round to nearest).
    if ea - eb > 200 {
        return Some(a);
    }
    if eb - ea > 200 {
        return Some(b);
    }
    let e = ea.min(eb);
    let x = Big::from_u128(u128::from(ma)).shl(ea - e);
    let y = Big::from_u128(u128::from(mb)).shl(eb - e);
    if na == nb {
        let mut sum = x;
        let mut carry = 0u64;
        let len = sum.0.len().max(y.0.len());
        sum.0.resize(len, 0);
        for (i, limb) in sum.0.iter_mut().enumerate() {
            let v = u64::from(*limb) + u64::from(y.0.get(i).copied().unwrap_or(0)) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            sum.0.push(carry as u32);
        }
        return round(na, &sum, e, false);
    }
    let (mut big, small, neg) = match x.cmp(&y) {
        Ordering::Equal => {
            return Some(LongDouble::Finite {
                neg: false,
                mant: 0,
                exp: 0,
            })
        }
        Ordering::Greater => (x, y, na),
        Ordering::Less => (y, x, nb),
    };
    big.sub(&small);
    round(neg, &big, e, false)
}

/// Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` (rounded half to even, exactly), trailing
/// zeros and point removed, `-0` printed as `0`.
pub fn format_human(value: LongDouble) -> String {
    let LongDouble::Finite { neg, mant, exp } = value else {
        return if matches!(value, LongDouble::Inf { neg: true }) {
            "-inf"
        } else {
            "inf"
        }
        .to_owned();
    };
    let m = Big::from_u128(u128::from(mant));
    let (int, frac) = if exp >= 0 {
        (m.shl(exp), 0u64)
    } else {
        let k = -exp;
        let int = Big::from_u128(m.shr_u128(k));
        let mut scaled = Big::from_u128(if k >= 128 {
            u128::from(mant)
        } else {
            u128::from(mant) & ((1u128 << k) - 1)
        });
        scaled.mul_pow10(17);
        let mut f = scaled.shr_u128(k) as u64;
        let half = scaled.bit(k - 1);
        let rest = scaled.any_below(k - 1);
        if half && (rest || f & 1 == 1) {
            f += 1;
        }
        if f == 100_000_000_000_000_000 {
            let mut int = int;
            int.mul_add_small(1, 1);
            (int, 0)
        } else {
            (int, f)
        }
    };
    let mut out = format!("{}{}.{frac:017}", if neg { "-" } else { "" }, int.decimal());
    while out.ends_with('0') {
        out.pop();
    }
    if out.ends_with('.') {
        out.pop();
    }
    if out == "-0" {
        out = "0".to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> Option<String> {
        add(parse(a.as_bytes())?, parse(b.as_bytes())?).map(format_human)
    }

    #[test]
    fn matches_redis_incrbyfloat() {
        // Each pair: what INCRBYFLOAT on Redis 7.0 (x86-64) answered.
        assert_eq!(
            sum("0", "1e30").as_deref(),
            Some("1000000000000000000024696061952")
        );
        assert_eq!(sum("0", "0x1p3").as_deref(), Some("8"));
        assert_eq!(sum("0", "0x.8").as_deref(), Some("0.5"));
        assert_eq!(sum("0", "-0").as_deref(), Some("0"));
        assert_eq!(sum("0", "1e-400").as_deref(), Some("0"));
        assert_eq!(
            sum("9223372036854775807", "0.1").as_deref(),
            Some("9223372036854775807")
        );
        assert_eq!(sum("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(sum("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(sum("0", "1.5e+3").as_deref(), Some("1500"));
        assert_eq!(sum("16", "3").as_deref(), Some("19"));
        let big = sum("0", "1e400").expect("finite in a long double");
        assert!(big.starts_with("1000000000000000000028188068394758651458645343362905203862591069353968553400862986203936399484832416052209405392731761620"));
        assert_eq!(big.len(), 401);
        assert_eq!(parse(b"1e-5000"), None);
        assert_eq!(parse(b"0x"), None);
        assert_eq!(parse(b"nan"), None);
        assert_eq!(parse(b" 1"), None);
        assert_eq!(parse(b"1e"), None);
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"10\0"), None);
        assert_eq!(sum("0", "inf"), None);
        assert_eq!(sum("1e4932", "1e4932"), None);
    }
}
