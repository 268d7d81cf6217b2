//! Encoding of every Value in RESP2 and RESP3, checked byte for byte.

use bytes::{Bytes, BytesMut};
use resp::{encode, format_double, Protocol, Value};

fn enc(v: &Value, p: Protocol) -> String {
    let mut out = BytesMut::new();
    encode(v, p, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

fn both(v: Value, resp2: &str, resp3: &str) {
    assert_eq!(enc(&v, Protocol::Resp2), resp2, "RESP2 of {v:?}");
    assert_eq!(enc(&v, Protocol::Resp3), resp3, "RESP3 of {v:?}");
}

// Goal: every scalar variant has Redis's exact bytes in both protocols; method: table of expected strings.
#[test]
fn scalars_both_protocols() {
    both(Value::Simple("OK".into()), "+OK\r\n", "+OK\r\n");
    both(
        Value::Error("ERR bad".into()),
        "-ERR bad\r\n",
        "-ERR bad\r\n",
    );
    both(Value::Integer(42), ":42\r\n", ":42\r\n");
    both(Value::Integer(-7), ":-7\r\n", ":-7\r\n");
    both(Value::Integer(0), ":0\r\n", ":0\r\n");
    both(
        Value::Integer(i64::MIN),
        ":-9223372036854775808\r\n",
        ":-9223372036854775808\r\n",
    );
    both(
        Value::Integer(i64::MAX),
        ":9223372036854775807\r\n",
        ":9223372036854775807\r\n",
    );
    both(
        Value::Bulk(Bytes::from_static(b"foo")),
        "$3\r\nfoo\r\n",
        "$3\r\nfoo\r\n",
    );
    both(Value::Bulk(Bytes::new()), "$0\r\n\r\n", "$0\r\n\r\n");
    both(
        Value::Bulk(Bytes::from_static(b"a\r\nb")),
        "$4\r\na\r\nb\r\n",
        "$4\r\na\r\nb\r\n",
    );
    both(Value::Null, "$-1\r\n", "_\r\n");
    both(Value::NullArray, "*-1\r\n", "_\r\n");
    both(Value::Boolean(true), ":1\r\n", "#t\r\n");
    both(Value::Boolean(false), ":0\r\n", "#f\r\n");
    both(Value::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
    both(Value::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
    both(
        Value::Double(f64::NEG_INFINITY),
        "$4\r\n-inf\r\n",
        ",-inf\r\n",
    );
    both(Value::Double(f64::NAN), "$3\r\nnan\r\n", ",nan\r\n");
    both(
        Value::Verbatim("txt".into(), Bytes::from_static(b"Some string")),
        "$11\r\nSome string\r\n",
        "=15\r\ntxt:Some string\r\n",
    );
}

// Goal: aggregates nest and map/set degrade to arrays in RESP2; method: expected strings.
#[test]
fn aggregates_both_protocols() {
    both(Value::Array(vec![]), "*0\r\n", "*0\r\n");
    both(
        Value::Array(vec![
            Value::Integer(1),
            Value::Bulk(Bytes::from_static(b"x")),
            Value::Null,
        ]),
        "*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n",
        "*3\r\n:1\r\n$1\r\nx\r\n_\r\n",
    );
    both(
        Value::Map(vec![
            (Value::Bulk(Bytes::from_static(b"a")), Value::Integer(1)),
            (Value::Simple("b".into()), Value::Boolean(true)),
        ]),
        "*4\r\n$1\r\na\r\n:1\r\n+b\r\n:1\r\n",
        "%2\r\n$1\r\na\r\n:1\r\n+b\r\n#t\r\n",
    );
    both(
        Value::Set(vec![
            Value::Bulk(Bytes::from_static(b"m")),
            Value::Double(2.0),
        ]),
        "*2\r\n$1\r\nm\r\n$1\r\n2\r\n",
        "~2\r\n$1\r\nm\r\n,2\r\n",
    );
    // A Pub/Sub message: a push in RESP3, a plain array in RESP2 (pubsub.c).
    both(
        Value::Push(vec![
            Value::Bulk(Bytes::from_static(b"message")),
            Value::Bulk(Bytes::from_static(b"ch")),
            Value::Null,
            Value::Integer(0),
        ]),
        "*4\r\n$7\r\nmessage\r\n$2\r\nch\r\n$-1\r\n:0\r\n",
        ">4\r\n$7\r\nmessage\r\n$2\r\nch\r\n_\r\n:0\r\n",
    );
    both(
        Value::Array(vec![
            Value::Array(vec![Value::NullArray]),
            Value::Map(vec![]),
        ]),
        "*2\r\n*1\r\n*-1\r\n*0\r\n",
        "*2\r\n*1\r\n_\r\n%0\r\n",
    );
}

// Goal: CR/LF in simple strings and errors cannot break the protocol; method: they become spaces as in Redis.
#[test]
fn line_values_sanitized() {
    both(
        Value::Error("ERR a\r\nb".into()),
        "-ERR a  b\r\n",
        "-ERR a  b\r\n",
    );
    both(Value::Simple("x\ny".into()), "+x y\r\n", "+x y\r\n");
}

// Goal: doubles are the shortest round-trip text laid out like %.17g; method: known values and a round-trip sweep.
#[test]
fn double_formatting() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-2.5, "-2.5"),
        (0.1, "0.1"),
        (3.3, "3.3"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e16, "10000000000000000"),
        (1e17, "1e+17"),
        (1.5e300, "1.5e+300"),
        (123456789.125, "123456789.125"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (5e-324, "5e-324"),
    ];
    for &(d, s) in cases {
        assert_eq!(format_double(d), s, "{d:e}");
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let d = f64::from_bits(x);
        if d.is_finite() {
            let s = format_double(d);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), d.to_bits(), "{s}");
        }
    }
}
