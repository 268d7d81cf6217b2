// Goal: SCAN's guarantee holds: keys present for the whole iteration are returned, and it terminates.
// Method: scan 2000 keys with small COUNTs while adding and deleting other keys between calls.

mod common;

use std::collections::BTreeSet;

use bytes::Bytes;
use common::{args, ctx, run};
use keyspace::Keyspace;
use resp::Value;

#[test]
fn scan_returns_stable_keys_despite_changes() {
    let mut ks = Keyspace::default();
    for i in 0..2000 {
        run(&mut ks, &format!("SET stable{i} v"), ctx(1));
        run(&mut ks, &format!("SET churn{i} v"), ctx(1));
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut calls = 0;
    loop {
        let reply = ks.read(&args(&format!("SCAN {cursor} COUNT 7")), ctx(1));
        let Value::Array(parts) = reply else {
            panic!("bad reply")
        };
        let (Value::Bulk(c), Value::Array(keys)) = (&parts[0], &parts[1]) else {
            panic!("bad parts")
        };
        for k in keys {
            if let Value::Bulk(k) = k {
                seen.insert(k.clone());
            }
        }
        // Churn between calls.
        run(&mut ks, &format!("DEL churn{calls}"), ctx(1));
        run(&mut ks, &format!("SET new{calls} v"), ctx(1));
        calls += 1;
        cursor = String::from_utf8(c.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
        assert!(calls < 10_000, "SCAN does not terminate");
    }
    for i in 0..2000 {
        assert!(
            seen.contains(&Bytes::from(format!("stable{i}"))),
            "stable{i} missed"
        );
    }
    assert!(calls > 400, "COUNT not honoured: {calls} calls");
}

#[test]
fn sscan_and_hscan_page_large_collections() {
    let mut ks = Keyspace::default();
    let members: Vec<String> = (0..300).map(|i| format!("m{i:03}")).collect();
    run(&mut ks, &format!("SADD s {}", members.join(" ")), ctx(1));
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    loop {
        let Value::Array(parts) = ks.read(&args(&format!("SSCAN s {cursor} COUNT 50")), ctx(1))
        else {
            panic!()
        };
        let (Value::Bulk(c), Value::Array(items)) = (&parts[0], &parts[1]) else {
            panic!()
        };
        seen.extend(items.iter().cloned());
        cursor = String::from_utf8(c.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
}

/// Loops a SCAN-family command's cursor to 0; returns the distinct items and the calls made.
fn loop_cursor(
    ks: &Keyspace,
    prefix: &[&str],
    limit_calls: usize,
) -> (std::collections::BTreeSet<Bytes>, usize) {
    let mut cursor = Bytes::from_static(b"0");
    let mut items = std::collections::BTreeSet::new();
    for calls in 1..=limit_calls {
        let mut args: Vec<Bytes> = prefix
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        args.push(cursor.clone());
        args.extend([Bytes::from_static(b"COUNT"), Bytes::from_static(b"10")]);
        let Value::Array(mut parts) = ks.read(&args, ctx(1)) else {
            panic!("{prefix:?}: not an array")
        };
        let (Some(Value::Array(batch)), Some(Value::Bulk(next))) = (parts.pop(), parts.pop())
        else {
            panic!("{prefix:?}: bad reply")
        };
        items.extend(batch.into_iter().map(|v| {
            if let Value::Bulk(b) = v {
                b
            } else {
                panic!("not a bulk")
            }
        }));
        if next.as_ref() == b"0" {
            return (items, calls);
        }
        cursor = next;
    }
    panic!("{prefix:?} did not come back to 0 within {limit_calls} calls");
}

// Goal: SCAN, SSCAN, HSCAN and ZSCAN end at cursor 0 on every size and return everything.
// Method: 0, 1, 1,000 and 100,000 keys / members / fields; loop each cursor with COUNT 10.
#[test]
fn scan_family_terminates_on_every_size() {
    for n in [0usize, 1, 1_000, 100_000] {
        let mut ks = Keyspace::default();
        for i in 0..n {
            let key = format!("k{i}");
            run(&mut ks, &format!("SET {key} v"), ctx(1));
            run(&mut ks, &format!("SADD set m{i}"), ctx(1));
            run(&mut ks, &format!("HSET hash f{i} v"), ctx(1));
            run(&mut ks, &format!("ZADD zset {i} m{i}"), ctx(1));
        }
        let limit = n / 5 + 10;
        let (keys, _) = loop_cursor(&ks, &["SCAN"], limit);
        let extra = usize::from(n > 0) * 3; // the set, the hash and the zset are keys too
        assert_eq!(keys.len(), n + extra, "SCAN over {n} keys");
        let (members, _) = loop_cursor(&ks, &["SSCAN", "set"], limit);
        assert_eq!(members.len(), n, "SSCAN over {n} members");
        // HSCAN returns fields and values: n distinct fields plus the shared value "v".
        let (fields, _) = loop_cursor(&ks, &["HSCAN", "hash"], limit);
        assert_eq!(
            fields.len(),
            n + usize::from(n > 0),
            "HSCAN over {n} fields"
        );
        // ZSCAN returns members and scores: n of each, all distinct here.
        let (pairs, _) = loop_cursor(&ks, &["ZSCAN", "zset"], limit);
        assert_eq!(pairs.len(), 2 * n, "ZSCAN over {n} members");
    }
}
