// Goal: what the sorted-set case file cannot show: RESP3 replies (doubles, nested pairs),
// ZRANDMEMBER's random forms, ZSCAN's guarantee under churn, the blocking-pop API for the
// server, and big sets. Method: replay commands and compare encoded bytes with Redis
// 7.0.15's (captured with HELLO 3), check ZRANDMEMBER's invariants over many seeds, scan
// a 3000-member set while changing it, and drive Keyspace::try_blocking_pop directly.

mod common;

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use common::{args, ctx, run, show};
use keyspace::{BlockingPop, Context, Keyspace};
use resp::{Protocol, Value};

fn encoded(v: &Value, p: Protocol) -> String {
    let mut out = BytesMut::new();
    resp::encode(v, p, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

// Replies copied from Redis 7.0.15 after HELLO 3 (and, for a few, RESP2).
#[test]
fn resp3_replies_match_redis() {
    let mut ks = Keyspace::default();
    let cases: &[(&str, &str)] = &[
        ("ZADD z 1.1 a 2 b 3 c inf d 0 e", ":5\r\n"),
        ("ZSCORE z a", ",1.1000000000000001\r\n"),
        ("ZMSCORE z b nope", "*2\r\n,2\r\n_\r\n"),
        (
            "ZRANGE z 0 1 WITHSCORES",
            "*2\r\n*2\r\n$1\r\ne\r\n,0\r\n*2\r\n$1\r\na\r\n,1.1000000000000001\r\n",
        ),
        ("ZRANGE z 0 1", "*2\r\n$1\r\ne\r\n$1\r\na\r\n"),
        (
            "ZRANGEBYSCORE z 2 +inf WITHSCORES LIMIT 0 2",
            "*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        ),
        ("ZINCRBY z 1 b", ",3\r\n"),
        ("ZADD z INCR -0 n0", ",-0\r\n"),
        ("ZPOPMIN z", "*2\r\n$1\r\ne\r\n,0\r\n"),
        ("ZPOPMIN z 1", "*1\r\n*2\r\n$2\r\nn0\r\n,0\r\n"),
        (
            "ZPOPMAX z 5",
            "*4\r\n*2\r\n$1\r\nd\r\n,inf\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,3\r\n*2\r\n$1\r\na\r\n,1.1000000000000001\r\n",
        ),
        ("ZADD z 1 q 2 r 3 s", ":3\r\n"),
        (
            "ZMPOP 1 z MIN COUNT 2",
            "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nq\r\n,1\r\n*2\r\n$1\r\nr\r\n,2\r\n",
        ),
        ("BZPOPMAX z 0", "*3\r\n$1\r\nz\r\n$1\r\ns\r\n,3\r\n"),
        ("ZADD z 1 q 2 r", ":2\r\n"),
        (
            "BZMPOP 0 1 z MIN",
            "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nq\r\n,1\r\n",
        ),
        ("ZUNION 1 z WITHSCORES", "*1\r\n*2\r\n$1\r\nr\r\n,2\r\n"),
        ("ZRANDMEMBER z 5 WITHSCORES", "*1\r\n*2\r\n$1\r\nr\r\n,2\r\n"),
        (
            "ZRANDMEMBER z -2 WITHSCORES",
            "*2\r\n*2\r\n$1\r\nr\r\n,2\r\n*2\r\n$1\r\nr\r\n,2\r\n",
        ),
        ("ZSCAN z 0", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nr\r\n$1\r\n2\r\n"),
        ("ZPOPMIN nokey", "*0\r\n"),
        ("ZMPOP 1 nokey MIN", "_\r\n"),
    ];
    for (cmd, want) in cases {
        let got = run(&mut ks, cmd, ctx(1));
        assert_eq!(encoded(&got, Protocol::Resp3), *want, "{cmd}");
    }
    // RESP2: scores are bulk strings, pairs are flat.
    let mut ks = Keyspace::default();
    run(&mut ks, "ZADD z 1.1 a 2 b", ctx(1));
    let got = run(&mut ks, "ZRANGE z 0 -1 WITHSCORES", ctx(1));
    assert_eq!(
        encoded(&got, Protocol::Resp2),
        "*4\r\n$1\r\na\r\n$18\r\n1.1000000000000001\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    let got = run(&mut ks, "ZPOPMIN z 1", ctx(1));
    assert_eq!(
        encoded(&got, Protocol::Resp2),
        "*2\r\n$1\r\na\r\n$18\r\n1.1000000000000001\r\n"
    );
    let got = run(&mut ks, "ZSCORE z b", ctx(1));
    assert_eq!(encoded(&got, Protocol::Resp2), "$1\r\n2\r\n");
}

fn members(v: &Value) -> Vec<String> {
    let text = show(v);
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        panic!("not an array: {text}");
    };
    if inner.is_empty() {
        return vec![];
    }
    inner
        .split(", ")
        .map(|s| s.trim_matches('"').to_string())
        .collect()
}

// ZRANDMEMBER: a positive count gives distinct members, a negative one exactly |count|
// draws (repeats allowed), WITHSCORES pairs each member with its own score, and the
// choice depends on the seed only.
#[test]
fn zrandmember_forms() {
    let mut ks = Keyspace::default();
    let all: Vec<String> = (0..50).map(|i| format!("m{i:02}")).collect();
    let line: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{i} {m}"))
        .collect();
    run(&mut ks, &format!("ZADD z {}", line.join(" ")), ctx(1));
    let mut seen = BTreeSet::new();
    for seed in 0..200u64 {
        let c = Context { now_ms: 1, seed };
        let one = members(&Value::Array(vec![run(&mut ks, "ZRANDMEMBER z", c)]));
        seen.insert(one[0].clone());
        let distinct = members(&run(&mut ks, "ZRANDMEMBER z 7", c));
        assert_eq!(distinct.len(), 7);
        assert_eq!(distinct.iter().collect::<BTreeSet<_>>().len(), 7);
        assert!(distinct.iter().all(|m| all.contains(m)));
        let draws = members(&run(&mut ks, "ZRANDMEMBER z -70", c));
        assert_eq!(draws.len(), 70);
        let pairs = members(&run(&mut ks, "ZRANDMEMBER z -5 WITHSCORES", c));
        assert_eq!(pairs.len(), 10);
        for p in pairs.chunks(2) {
            let i: usize = p[1].parse().unwrap();
            assert_eq!(all[i], p[0]);
        }
        assert_eq!(
            run(&mut ks, "ZRANDMEMBER z 7", c),
            run(&mut ks, "ZRANDMEMBER z 7", c)
        );
    }
    // Every member comes up sometime.
    assert!(seen.len() > 40, "{} distinct singles", seen.len());
    assert_eq!(
        show(&run(&mut ks, "ZRANDMEMBER z -1048577", ctx(1))),
        "-ERR value is out of range"
    );
    assert_eq!(
        members(&run(&mut ks, "ZRANDMEMBER z -1048576", ctx(1))).len(),
        1 << 20
    );
}

// ZSCAN on a set too big to come back whole: every member present for the whole scan is
// returned, even while others are added and removed, and the scan terminates.
#[test]
fn zscan_returns_stable_members_despite_changes() {
    let mut ks = Keyspace::default();
    for chunk in 0..30 {
        let line: Vec<String> = (0..100)
            .map(|i| {
                let n = chunk * 100 + i;
                format!("{n} stable{n} {n} churn{n}")
            })
            .collect();
        run(&mut ks, &format!("ZADD z {}", line.join(" ")), ctx(1));
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut calls = 0;
    loop {
        let Value::Array(parts) = ks.read(&args(&format!("ZSCAN z {cursor} COUNT 9")), ctx(1))
        else {
            panic!("bad reply")
        };
        let (Value::Bulk(c), Value::Array(items)) = (&parts[0], &parts[1]) else {
            panic!("bad parts")
        };
        for pair in items.chunks(2) {
            let (Value::Bulk(m), Value::Bulk(s)) = (&pair[0], &pair[1]) else {
                panic!("bad pair")
            };
            // Each member comes with its own score.
            let n: String = String::from_utf8_lossy(m)
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            if !m.starts_with(b"new") {
                assert_eq!(s.as_ref(), n.as_bytes());
            }
            seen.insert(m.clone());
        }
        run(&mut ks, &format!("ZREM z churn{calls}"), ctx(1));
        run(&mut ks, &format!("ZADD z 5 new{calls}"), ctx(1));
        calls += 1;
        cursor = String::from_utf8(c.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
        assert!(calls < 10_000, "ZSCAN does not terminate");
    }
    for n in 0..3000 {
        assert!(
            seen.contains(&Bytes::from(format!("stable{n}"))),
            "stable{n} missed"
        );
    }
    assert!(calls > 300, "COUNT not honoured: {calls} calls");
    // MATCH filters members, COUNT still bounds the work per call.
    let Value::Array(parts) = ks.read(&args("ZSCAN z 0 MATCH stable1?? COUNT 100000"), ctx(1))
    else {
        panic!()
    };
    assert_eq!(show(&parts[0]), "\"0\"");
    assert_eq!(members(&parts[1]).len(), 200);
}

// The server's side of BZPOPMIN/BZPOPMAX/BZMPOP (Keyspace::try_blocking_pop): a reply now,
// or the keys to wait on and for how long; inside MULTI the empty case is a nil array.
#[test]
fn blocking_pop_api() {
    let mut ks = Keyspace::default();
    let c = ctx(1);
    let block = |keys: &[&str], timeout_ms: u64| BlockingPop::Block {
        keys: keys.iter().map(|k| Bytes::from(k.to_string())).collect(),
        timeout_ms,
    };
    assert_eq!(
        ks.try_blocking_pop(&args("BZPOPMIN a b 0"), c),
        block(&["a", "b"], 0)
    );
    assert_eq!(
        ks.try_blocking_pop(&args("BZMPOP 1.5 2 a b MIN"), c),
        block(&["a", "b"], 1500)
    );
    assert_eq!(
        ks.try_blocking_pop(&args("BZPOPMAX a 0.0001"), c),
        block(&["a"], 1)
    );
    // Redis holds -0.001 s as a long double a hair above -1 ms: it rounds up to 0.
    assert_eq!(
        ks.try_blocking_pop(&args("BZPOPMAX a -0.001"), c),
        block(&["a"], 0)
    );
    run(&mut ks, "ZADD b 1 x 2 y 3 w", c);
    let reply = |p: BlockingPop| match p {
        BlockingPop::Reply(v) => show(&v),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reply(ks.try_blocking_pop(&args("BZPOPMAX a b 0"), c)),
        r#"["b", "w", "3"]"#
    );
    assert_eq!(
        reply(ks.try_blocking_pop(&args("BZMPOP 0 2 a b MIN COUNT 5"), c)),
        r#"["b", [["x", "1"], ["y", "2"]]]"#
    );
    assert_eq!(run(&mut ks, "EXISTS b", c), Value::Integer(0));
    run(&mut ks, "SET s v", c);
    for (cmd, want) in [
        ("BZPOPMIN a -1", "-ERR timeout is negative"),
        ("BZPOPMIN a -0.002", "-ERR timeout is negative"),
        (
            "BZPOPMIN a x",
            "-ERR timeout is not a float or out of range",
        ),
        ("BZMPOP x 0 a MIN", "-ERR numkeys should be greater than 0"),
        ("BZMPOP x 1 a MID", "-ERR syntax error"),
        (
            "BZPOPMIN a",
            "-ERR wrong number of arguments for 'bzpopmin' command",
        ),
        ("ZPOPMIN a", "-ERR 'zpopmin' is not a blocking list command"),
        (
            "BZPOPMIN a s 0",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
    ] {
        assert_eq!(reply(ks.try_blocking_pop(&args(cmd), c)), want, "{cmd}");
    }
    // MULTI: the blocking command whose timeout ran out at once.
    let got = ks.exec(&[args("BZPOPMIN a 0"), args("BZMPOP 0 1 a MAX")], &[], c);
    assert_eq!(show(&got), "[(nil-array), (nil-array)]");
}

// Big sets: ranks and ranges by rank answer from the index (a 200,000-member set built
// by ZADD, ranked and ranged at many places; no timing asserted).
#[test]
fn big_set_ranks_and_ranges() {
    let mut ks = Keyspace::default();
    for chunk in 0..200 {
        let line: Vec<String> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                format!("{} m{n:06}", n / 3)
            })
            .collect();
        run(&mut ks, &format!("ZADD big {}", line.join(" ")), ctx(1));
    }
    assert_eq!(run(&mut ks, "ZCARD big", ctx(1)), Value::Integer(200_000));
    for n in (0..200_000).step_by(4999) {
        assert_eq!(
            run(&mut ks, &format!("ZRANK big m{n:06}"), ctx(1)),
            Value::Integer(n)
        );
        assert_eq!(
            show(&run(&mut ks, &format!("ZRANGE big {n} {n}"), ctx(1))),
            format!("[\"m{n:06}\"]")
        );
        assert_eq!(
            run(&mut ks, &format!("ZREVRANK big m{n:06}"), ctx(1)),
            Value::Integer(199_999 - n)
        );
    }
    assert_eq!(
        show(&run(&mut ks, "ZRANGE big -2 -1 WITHSCORES", ctx(1))),
        r#"["m199998", "66666", "m199999", "66666"]"#
    );
    assert_eq!(
        run(&mut ks, "ZCOUNT big 1000 (2000", ctx(1)),
        Value::Integer(3000)
    );
    assert_eq!(
        show(&run(
            &mut ks,
            "ZRANGEBYSCORE big 50000 +inf LIMIT 10 2",
            ctx(1)
        )),
        r#"["m150010", "m150011"]"#
    );
    assert_eq!(
        run(&mut ks, "ZREMRANGEBYRANK big 0 99999", ctx(1)),
        Value::Integer(100_000)
    );
    assert_eq!(run(&mut ks, "ZRANK big m100000", ctx(1)), Value::Integer(0));
    let snapshot = Keyspace::decode(&ks.encode()).unwrap();
    assert_eq!(snapshot, ks);
}

// DUMP of a sorted set restores to the same set (members, scores, order), and dumping the
// copy gives the same bytes (Redis 7.0.15 restores these payloads too: checked by hand).
#[test]
fn dump_and_restore_round_trip() {
    let mut ks = Keyspace::default();
    let c = ctx(1);
    run(
        &mut ks,
        "ZADD z 1.5 a -2 b inf c 3 d 12345 12 -inf \"\\xff\\x00\" 0 e",
        c,
    );
    let Value::Bulk(p) = run(&mut ks, "DUMP z", c) else {
        panic!("a payload")
    };
    let restore = [
        Bytes::from_static(b"RESTORE"),
        Bytes::from_static(b"r"),
        Bytes::from_static(b"0"),
        p.clone(),
    ];
    assert_eq!(show(&ks.apply(&restore, c)), "+OK");
    assert_eq!(
        run(&mut ks, "ZRANGE r 0 -1 WITHSCORES", c),
        run(&mut ks, "ZRANGE z 0 -1 WITHSCORES", c)
    );
    assert_eq!(run(&mut ks, "DUMP r", c), Value::Bulk(p));
}
