//! Request parsing: multibulk, inline, pipelining, byte-by-byte arrival, limits, Redis's error texts.

use bytes::{Bytes, BytesMut};
use resp::{Limits, Parser, ProtocolError};

fn args(v: &[&[u8]]) -> Vec<Bytes> {
    v.iter().map(|a| Bytes::copy_from_slice(a)).collect()
}

/// Parses everything in `input` in one buffer: the commands, then the error if any.
fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>, BytesMut) {
    parse_all_with(Limits::default(), input)
}

fn parse_all_with(
    limits: Limits,
    input: &[u8],
) -> (Vec<Vec<Bytes>>, Option<ProtocolError>, BytesMut) {
    let mut p = Parser::new(limits);
    let mut buf = BytesMut::from(input);
    let mut cmds = Vec::new();
    loop {
        match p.parse(&mut buf) {
            Ok(Some(c)) => cmds.push(c),
            Ok(None) => return (cmds, None, buf),
            Err(e) => return (cmds, Some(e), buf),
        }
    }
}

fn error_of(input: &[u8]) -> String {
    match parse_all(input).1 {
        Some(e) => e.to_string(),
        None => panic!("no error for {:?}", String::from_utf8_lossy(input)),
    }
}

// Goal: a plain multibulk command parses and is consumed; method: one buffer, check args and leftover.
#[test]
fn multibulk_basic() {
    let (cmds, err, buf) = parse_all(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    assert_eq!(err, None);
    assert_eq!(cmds, vec![args(&[b"SET", b"key", b"value"])]);
    assert!(buf.is_empty());
    // Binary-safe: CRLF and NUL inside a bulk.
    let (cmds, _, _) = parse_all(b"*2\r\n$4\r\na\r\nb\r\n$1\r\n\0\r\n");
    assert_eq!(cmds, vec![args(&[b"a\r\nb", b"\0"])]);
    // Empty bulk.
    let (cmds, _, _) = parse_all(b"*1\r\n$0\r\n\r\n");
    assert_eq!(cmds, vec![args(&[b""])]);
}

// Goal: several commands in one buffer come out one by one, in order; method: mixed multibulk and inline pipeline.
#[test]
fn pipelined() {
    let (cmds, err, buf) =
        parse_all(b"*1\r\n$4\r\nPING\r\nGET a\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n\r\n\nECHO x\n*0\r\n*-1\r\nPING\r\n*1\r\n$4\r\nPI");
    assert_eq!(err, None);
    assert_eq!(
        cmds,
        vec![
            args(&[b"PING"]),
            args(&[b"GET", b"a"]),
            args(&[b"GET", b"b"]),
            args(&[b"ECHO", b"x"]),
            args(&[b"PING"])
        ]
    );
    assert_eq!(
        &buf[..],
        b"PI",
        "a partial command stays (its header is taken)"
    );
}

// Goal: a command split at every byte boundary parses identically; method: feed 1 byte at a time, and every 2-way split.
#[test]
fn byte_by_byte() {
    let input: &[u8] = b"*3\r\n$3\r\nSET\r\n$10\r\nkey\r\n:1234\r\n$5\r\nvalue\r\nSET \"a b\" 'c d'\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n";
    let expected = vec![
        args(&[b"SET", b"key\r\n:1234", b"value"]),
        args(&[b"SET", b"a b", b"c d"]),
        args(&[b"PING"]),
    ];
    let mut p = Parser::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &b in input {
        buf.extend_from_slice(&[b]);
        while let Some(c) = p.parse(&mut buf).unwrap() {
            got.push(c);
        }
    }
    assert_eq!(got, expected);
    assert!(buf.is_empty());
    for split in 0..=input.len() {
        let mut p = Parser::new(Limits::default());
        let mut buf = BytesMut::from(&input[..split]);
        let mut got = Vec::new();
        while let Some(c) = p.parse(&mut buf).unwrap() {
            got.push(c);
        }
        buf.extend_from_slice(&input[split..]);
        while let Some(c) = p.parse(&mut buf).unwrap() {
            got.push(c);
        }
        assert_eq!(got, expected, "split at {split}");
    }
}

// Goal: a long argument arriving byte by byte costs linear time; method: 200k-byte inline line and bulk, 1 byte per call.
#[test]
fn byte_by_byte_is_linear() {
    let mut line = vec![b'a'; 60_000];
    line.extend_from_slice(b"\r\n");
    let mut bulk = b"*1\r\n$200000\r\n".to_vec();
    bulk.extend(std::iter::repeat_n(b'b', 200_000));
    bulk.extend_from_slice(b"\r\n");
    for input in [line, bulk] {
        let mut p = Parser::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut n = 0;
        for &b in &input {
            buf.extend_from_slice(&[b]);
            if p.parse(&mut buf).unwrap().is_some() {
                n += 1;
            }
        }
        // No timing here (timing never sits in a unit test): a quadratic rescan would be
        // ~2*10^10 byte visits and make this test crawl visibly.
        assert_eq!(n, 1);
    }
}

// Goal: inline commands split like sdssplitargs; method: quotes, escapes, and edge cases against Redis's rules.
#[test]
fn inline_quotes_and_escapes() {
    let cases: &[(&[u8], &[&[u8]])] = &[
        (b"SET a b\r\n", &[b"SET", b"a", b"b"]),
        (b"  SET   a\tb  \r\n", &[b"SET", b"a", b"b"]),
        (b"GET a\n", &[b"GET", b"a"]),
        (b"SET \"a b\" c\r\n", &[b"SET", b"a b", b"c"]),
        (
            b"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\x41\\x7a\\q\"\r\n",
            &[b"ECHO", b"\n\r\t\x08\x07\\\"Azq"],
        ),
        (b"ECHO \"\\xZZ\"\r\n", &[b"ECHO", b"xZZ"]),
        (b"ECHO 'it\\'s \\n raw'\r\n", &[b"ECHO", b"it's \\n raw"]),
        (b"ECHO \"\"\r\n", &[b"ECHO", b""]),
        (b"ECHO ''\r\n", &[b"ECHO", b""]),
        (b"ECHO a\"b c\" d\r\n", &[b"ECHO", b"ab c", b"d"]),
        (b"ECHO a\0b c\r\n", &[b"ECHO", b"a"]),
        (b"ECHO \"\\x00\"\r\n", &[b"ECHO", b"\0"]),
    ];
    for &(input, expected) in cases {
        let (cmds, err, buf) = parse_all(input);
        assert_eq!(err, None, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(
            cmds,
            vec![args(expected)],
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(buf.is_empty());
    }
    // Blank lines are skipped.
    let (cmds, err, _) = parse_all(b"\r\n   \r\n\n\t\nPING\r\n");
    assert_eq!((cmds, err), (vec![args(&[b"PING"])], None));
}

// Goal: every protocol error has Redis's exact text; method: one malformed input per error.
#[test]
#[allow(clippy::too_many_lines)] // a table of cases
fn error_texts() {
    let big_line = |prefix: &[u8]| {
        let mut v = prefix.to_vec();
        v.extend(std::iter::repeat_n(b'1', 64 * 1024 + 1));
        v
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"*x\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*+1\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*01\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1 \r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*99999999999999999999\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1048577\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*2000000\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n".to_vec(),
            "ERR Protocol error: expected '$', got 'f'",
        ),
        (
            b"*1\r\n\r\n".to_vec(),
            "ERR Protocol error: expected '$', got ' '",
        ),
        (
            b"*1\r\n$-1\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$x\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$536870913\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$1073741824\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"SET \"a b\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET 'a\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET \"a\"b\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET 'a'b\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"ECHO a\"b c\"d\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET \"a\\\"\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            big_line(b"SET "),
            "ERR Protocol error: too big inline request",
        ),
        (
            big_line(b"*"),
            "ERR Protocol error: too big mbulk count string",
        ),
        (
            big_line(b"*1\r\n$"),
            "ERR Protocol error: too big bulk count string",
        ),
    ];
    for (input, text) in cases {
        let e = error_of(&input);
        assert_eq!(
            e,
            text,
            "{:?}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
    }
    // The bulk length limit is inclusive: exactly 512 MiB is a valid header (then waits for data).
    let (cmds, err, _) = parse_all(b"*1\r\n$536870912\r\n");
    assert_eq!((cmds.len(), err), (0, None));
}

// Goal: after an error the parser stays failed (the server closes); method: parse again after an error.
#[test]
fn error_is_sticky() {
    let mut p = Parser::new(Limits::default());
    let mut buf = BytesMut::from(&b"*x\r\n"[..]);
    let e = p.parse(&mut buf).unwrap_err();
    buf.clear();
    buf.extend_from_slice(b"PING\r\n");
    assert_eq!(p.parse(&mut buf).unwrap_err(), e);
}

// Goal: a huge bulk header is refused at the header without allocating; method: check buffer capacity stays small.
#[test]
fn huge_bulk_header_never_allocates() {
    let mut p = Parser::new(Limits::default());
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"*1\r\n$1073741824\r\n");
    assert_eq!(
        p.parse(&mut buf).unwrap_err().to_string(),
        "ERR Protocol error: invalid bulk length"
    );
    assert!(buf.capacity() < 4096, "capacity {}", buf.capacity());
}

// Goal: a valid but lying bulk header reserves at most READ_AHEAD_MAX beyond received data; method: 512 MiB header, capacity check.
#[test]
fn liar_bulk_header_bounded_read_ahead() {
    let mut p = Parser::new(Limits::default());
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"*1\r\n$536870912\r\nabc");
    assert_eq!(p.parse(&mut buf).unwrap(), None);
    assert!(
        buf.capacity() <= resp::READ_AHEAD_MAX + 64,
        "capacity {}",
        buf.capacity()
    );
    // A multibulk count that lies preallocates a bounded argv only.
    let mut p = Parser::new(Limits::default());
    let mut buf = BytesMut::from(&b"*1048576\r\n$1\r\na\r\n"[..]);
    assert_eq!(p.parse(&mut buf).unwrap(), None);
    assert!(p.in_command());
}

// Goal: `*100000` then junk fails on the junk like Redis; method: header accepted, the next line is not a '$'.
#[test]
fn big_count_then_junk() {
    let (cmds, err, _) = parse_all(b"*100000\r\njunk\r\n");
    assert!(cmds.is_empty());
    assert_eq!(
        err.unwrap().to_string(),
        "ERR Protocol error: expected '$', got 'j'"
    );
    let (cmds, err, _) = parse_all(b"*100000\r\n");
    assert_eq!((cmds.len(), err), (0, None));
}

// Goal: the query buffer limit holds, counting held arguments too; method: small limits, grow past them.
#[test]
fn query_buffer_limit() {
    let limits = Limits {
        query_buffer_max: 100,
        ..Limits::default()
    };
    let mut p = Parser::new(limits);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"*3\r\n$30\r\n");
    buf.extend_from_slice(&[b'a'; 30]);
    buf.extend_from_slice(b"\r\n$30\r\n");
    buf.extend_from_slice(&[b'b'; 30]);
    buf.extend_from_slice(b"\r\n$50\r\n");
    assert_eq!(p.parse(&mut buf).unwrap(), None);
    // 60 bytes of arguments are held; the buffer may hold 40 more.
    buf.extend_from_slice(&[b'c'; 40]);
    assert_eq!(p.parse(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"c");
    assert_eq!(
        p.parse(&mut buf).unwrap_err().to_string(),
        "ERR Protocol error: query buffer limit exceeded"
    );
    // Small custom limits apply to every check.
    let limits = Limits {
        bulk_len_max: 3,
        multibulk_len_max: 2,
        inline_len_max: 8,
        ..Limits::default()
    };
    assert_eq!(
        parse_all_with(limits, b"*3\r\n").1.unwrap().to_string(),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        parse_all_with(limits, b"*1\r\n$4\r\n")
            .1
            .unwrap()
            .to_string(),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        parse_all_with(limits, b"SET a bcd").1.unwrap().to_string(),
        "ERR Protocol error: too big inline request"
    );
    assert_eq!(parse_all_with(limits, b"SET a bc").1, None);
}
