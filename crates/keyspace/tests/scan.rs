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
