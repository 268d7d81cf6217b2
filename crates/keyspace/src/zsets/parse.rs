//! Arguments of the sorted-set commands read as Redis 7.0 reads them (C's `strtod` with
//! Redis's checks around it), and scores written as Redis 7.0 writes them (`%.17g`).

use bytes::Bytes;

use super::zset::{LexBound, LexRange, ScoreRange};

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What C's `strtod` makes of the longest number at the start of `s`.
struct Strtod {
    value: f64,
    /// Bytes consumed (0: no conversion).
    used: usize,
    /// ERANGE: the number overflowed to ±inf or underflowed to zero.
    range_error: bool,
}

/// No number at all: nothing consumed.
const NO_NUMBER: Strtod = Strtod {
    value: 0.0,
    used: 0,
    range_error: false,
};

fn ascii_prefix(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

/// C's `strtod` (glibc): leading white space, a sign, then `inf`/`infinity`, `nan[(...)]`,
/// a hexadecimal float (`0x1.8p3`) or a decimal one (`1.5e3`).
fn strtod(s: &[u8]) -> Strtod {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let neg = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    if ascii_prefix(rest, b"inf") {
        let n = if ascii_prefix(rest, b"infinity") {
            8
        } else {
            3
        };
        return Strtod {
            value: sign * f64::INFINITY,
            used: i + n,
            ..NO_NUMBER
        };
    }
    if ascii_prefix(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            if let Some(close) = rest[4..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
            {
                if rest[4 + close] == b')' {
                    n = 4 + close + 1;
                }
            }
        }
        return Strtod {
            value: f64::NAN,
            used: i + n,
            ..NO_NUMBER
        };
    }
    if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((value, used, nonzero)) = hex_float(&rest[2..]) {
            let value = sign * value;
            return Strtod {
                value,
                used: i + 2 + used,
                range_error: value.is_infinite() || (value == 0.0 && nonzero),
            };
        }
    }
    decimal(s, i, neg)
}

/// The decimal part of `strtod` from `s[i]` (after the sign): digits [. digits]
/// [e [sign] digits], at least one mantissa digit.
fn decimal(s: &[u8], mut i: usize, neg: bool) -> Strtod {
    let start = i;
    let (mut digits, mut nonzero) = (0usize, false);
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() {
            nonzero |= c != b'0';
            digits += 1;
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return NO_NUMBER;
    }
    // An exponent counts only with at least one digit ("1e" is the number 1, then "e").
    if i < s.len() && (s[i] | 0x20) == b'e' {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let digits_at = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j > digits_at {
            i = j;
        }
    }
    let text = std::str::from_utf8(&s[start..i]).unwrap_or("0");
    let value: f64 = text.parse().unwrap_or(0.0);
    let value = if neg { -value } else { value };
    Strtod {
        value,
        used: i,
        range_error: value.is_infinite() || (value == 0.0 && nonzero),
    }
}

/// A hexadecimal float after its `0x`: hex digits [. hex digits] [p [sign] digits].
/// Returns (value, bytes used, whether any digit was nonzero), or None without digits.
fn hex_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut i = 0;
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let (mut digits, mut seen_dot, mut sticky, mut nonzero) = (0, false, false, false);
    while i < s.len() {
        let c = s[i];
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            b'.' if !seen_dot => {
                seen_dot = true;
                i += 1;
                continue;
            }
            _ => break,
        };
        digits += 1;
        nonzero |= d != 0;
        if mantissa >> 56 == 0 {
            mantissa = mantissa << 4 | u64::from(d);
            if seen_dot {
                exp -= 4;
            }
        } else {
            // Beyond 60 bits: keep the magnitude, remember lost bits for rounding.
            sticky |= d != 0;
            if !seen_dot {
                exp += 4;
            }
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        let mut j = i + 1;
        let neg = s.get(j) == Some(&b'-');
        if matches!(s.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let at = j;
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i64::from(s[j] - b'0'));
            j += 1;
        }
        if j > at {
            exp = exp.saturating_add(if neg { -e } else { e });
            i = j;
        }
    }
    let m = (mantissa | u64::from(sticky)) as f64;
    Some((scale2(m, exp), i, nonzero))
}

/// `m * 2^exp` without overflowing or underflowing on the way.
fn scale2(mut m: f64, mut exp: i64) -> f64 {
    while exp > 0 && m.is_finite() && m != 0.0 {
        let step = exp.min(1000);
        m *= 2f64.powi(step as i32);
        exp -= step;
    }
    while exp < 0 && m != 0.0 {
        let step = exp.max(-1000);
        m *= 2f64.powi(step as i32);
        exp -= step;
    }
    m
}

/// A score, increment or weight as Redis's `string2d` reads it: the whole argument must be
/// a number (no leading space, nothing after it), not NaN, and must not overflow or
/// underflow to zero ("1e400" and "1e-400" are errors, "inf" is fine).
pub fn parse_score(b: &[u8]) -> Option<f64> {
    if b.is_empty() || is_c_space(b[0]) {
        return None;
    }
    let r = strtod(b);
    if r.used != b.len() || r.value.is_nan() {
        return None;
    }
    let literal_inf = r.value.is_infinite() && !r.range_error;
    if r.range_error && !literal_inf {
        return None;
    }
    Some(r.value)
}

/// What C's `strtod` reads at the start of `b`, ignoring what follows (0 when nothing): how
/// Redis reads a score stored as text in a listpack or an RDB payload.
pub fn strtod_prefix(b: &[u8]) -> f64 {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    strtod(&b[..end]).value
}

/// `strtod` over a C string: the argument up to its first NUL must be a number, all of it.
fn c_strtod(b: &[u8]) -> Option<Strtod> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let r = strtod(&b[..end]);
    // No conversion leaves the end pointer at the start: fine only for an empty string.
    if r.used != end {
        return None;
    }
    Some(r)
}

/// One end of a score range (`zslParseRange`): `(` makes it exclusive; `strtod` with no
/// other check than NaN, so " 1", "", "1e400" are accepted (as 1, 0 and inf).
fn score_bound(b: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match b.first() {
        Some(b'(') => (&b[1..], true),
        _ => (b, false),
    };
    let r = c_strtod(text)?;
    if r.value.is_nan() {
        return None;
    }
    Some((r.value, exclusive))
}

/// A `min max` score range; None means "ERR min or max is not a float".
pub fn score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, min_ex) = score_bound(min)?;
    let (max, max_ex) = score_bound(max)?;
    Some(ScoreRange {
        min,
        min_ex,
        max,
        max_ex,
    })
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
fn lex_bound(b: &[u8]) -> Option<LexBound> {
    // `+` and `-` are read as C strings: "+" then a NUL still counts as "+".
    let alone = |b: &[u8]| b.len() == 1 || b[1] == 0;
    match b.first()? {
        b'+' if alone(b) => Some(LexBound::Max),
        b'-' if alone(b) => Some(LexBound::Min),
        b'(' => Some(LexBound::Excl(Bytes::copy_from_slice(&b[1..]))),
        b'[' => Some(LexBound::Incl(Bytes::copy_from_slice(&b[1..]))),
        _ => None,
    }
}

/// A `min max` lex range; None means "ERR min or max not valid string range item".
pub fn lex_range(min: &[u8], max: &[u8]) -> Option<LexRange> {
    Some(LexRange {
        min: lex_bound(min)?,
        max: lex_bound(max)?,
    })
}

/// A score as Redis 7.0 prints it: `%.17g`, with "inf" and "-inf".
pub fn format_score(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if f.is_nan() {
        return "nan".to_string();
    }
    // 17 significant digits, correctly rounded: "d.dddddddddddddddde<exp>".
    let sci = format!("{f:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    let push_trimmed = |out: &mut String, d: &[u8]| {
        let end = d.iter().rposition(|&c| c != b'0').map_or(0, |p| p + 1);
        if end > 0 {
            out.push('.');
            out.extend(d[..end].iter().map(|&c| c as char));
        }
    };
    if !(-4..17).contains(&exp) {
        out.push(digits[0] as char);
        push_trimmed(&mut out, &digits[1..]);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int = exp as usize + 1;
        out.extend(digits[..int].iter().map(|&c| c as char));
        push_trimmed(&mut out, &digits[int..]);
    } else {
        out.push('0');
        let mut frac = vec![b'0'; (-exp - 1) as usize];
        frac.extend_from_slice(&digits);
        push_trimmed(&mut out, &frac);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_printf_g17() {
        for (f, want) in [
            (1.1, "1.1000000000000001"),
            (2.0, "2"),
            (1e20, "1e+20"),
            (1e-5, "1.0000000000000001e-05"),
            (0.1, "0.10000000000000001"),
            (123_456_789.123, "123456789.123"),
            (3.000_000_000_1, "3.0000000001"),
            (-2.5, "-2.5"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (5e-324, "4.9406564584124654e-324"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157e+308"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (1e23, "9.9999999999999992e+22"),
        ] {
            assert_eq!(format_score(f), want, "{f:e}");
        }
    }

    #[test]
    fn reads_scores_like_string2d() {
        let ok = |s: &str| parse_score(s.as_bytes());
        assert_eq!(ok("1.5"), Some(1.5));
        assert_eq!(ok("+5"), Some(5.0));
        assert_eq!(ok(".5"), Some(0.5));
        assert_eq!(ok("1."), Some(1.0));
        assert_eq!(ok("0x10"), Some(16.0));
        assert_eq!(ok("0x1p3"), Some(8.0));
        assert_eq!(ok("0x.8"), Some(0.5));
        assert_eq!(ok("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(ok("1e-320"), Some(1e-320));
        assert_eq!(ok("0e-999"), Some(0.0));
        for bad in [
            "",
            " 5",
            "5 ",
            "nan",
            "1e400",
            "-1e400",
            "1e-400",
            "0x",
            "1e",
            "abc",
            "1_0",
            "1\u{0}",
            "infx",
            "0x1p-5000",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_range_bounds_like_zsl_parse_range() {
        let r = |a: &str, b: &str| score_range(a.as_bytes(), b.as_bytes());
        let x = r("(1", " 2").unwrap();
        assert!(x.min == 1.0 && x.min_ex && x.max == 2.0 && !x.max_ex);
        let x = r("", "(").unwrap();
        assert!(x.min == 0.0 && x.max == 0.0 && x.max_ex);
        assert_eq!(r("1e400", "1").unwrap().min, f64::INFINITY);
        assert_eq!(r("1\u{0}junk", "2").unwrap().min, 1.0);
        assert!(r("nan", "1").is_none());
        assert!(r("1 ", "1").is_none());
        assert!(r("[1", "1").is_none());
    }
}
