// Goal: TTLs depend only on the log's now_ms: keys read as absent once due, lazy and replicated expiry agree.
// Method: drive one keyspace with explicit times and check TTL, reads, dbsize, expire_due and versions.

mod common;

use common::{args, ctx, run, show};
use keyspace::Keyspace;

#[test]
fn keys_expire_at_the_stamped_time() {
    let mut ks = Keyspace::default();
    run(&mut ks, "SET a 1 PX 100", ctx(1000));
    run(&mut ks, "SET b 1 EX 1", ctx(1000));
    run(&mut ks, "SET c 1", ctx(1000));
    assert_eq!(show(&run(&mut ks, "PTTL a", ctx(1050))), ":50");
    assert_eq!(show(&run(&mut ks, "GET a", ctx(1099))), "\"1\"");
    assert_eq!(show(&run(&mut ks, "GET a", ctx(1100))), "(nil)");
    assert_eq!(show(&run(&mut ks, "TTL a", ctx(1100))), ":-2");
    assert_eq!(ks.dbsize(1099), 3);
    assert_eq!(ks.dbsize(1100), 2);
    assert_eq!(ks.dbsize(2000), 1);
    // Reads never remove anything; the replicated expiry does.
    assert_eq!(
        ks.read(&args("EXISTS a b c"), ctx(5000)),
        resp::Value::Integer(1)
    );
    let v = ks.version(b"a");
    assert_eq!(ks.expire_due(5000, 1), 1);
    assert_ne!(ks.version(b"a"), v);
    assert_eq!(ks.expire_due(5000, 10), 1);
    assert_eq!(ks.expire_due(5000, 10), 0);
    assert_eq!(show(&run(&mut ks, "KEYS *", ctx(5000))), "[\"c\"]");
}

#[test]
fn lazy_and_replicated_expiry_reach_the_same_state() {
    let script = [
        "SET a 1 PX 10",
        "RPUSH l x",
        "PEXPIRE l 20",
        "SADD s m",
        "EXPIRE s 100",
    ];
    let mut lazy = Keyspace::default();
    let mut eager = Keyspace::default();
    for s in script {
        run(&mut lazy, s, ctx(0));
        run(&mut eager, s, ctx(0));
    }
    // A write touching an expired key deletes it first; a new value starts without TTL.
    assert_eq!(show(&run(&mut lazy, "RPUSH l y", ctx(30))), ":1");
    assert_eq!(show(&run(&mut lazy, "TTL l", ctx(30))), ":-1");
    assert_eq!(show(&run(&mut lazy, "INCR a", ctx(30))), ":1");
    assert_eq!(eager.expire_due(30, 100), 2);
    assert_eq!(show(&run(&mut eager, "RPUSH l y", ctx(30))), ":1");
    assert_eq!(show(&run(&mut eager, "INCR a", ctx(30))), ":1");
    assert_eq!(lazy.dbsize(30), eager.dbsize(30));
    let dump = |ks: &Keyspace| {
        show(&ks.read(&args("MGET a"), ctx(30))) + &show(&ks.read(&args("LRANGE l 0 -1"), ctx(30)))
    };
    assert_eq!(dump(&lazy), dump(&eager));
}

#[test]
fn expire_in_the_past_deletes_and_bumps_version() {
    let mut ks = Keyspace::default();
    run(&mut ks, "SET a 1", ctx(10_000));
    let v = ks.version(b"a");
    assert_eq!(show(&run(&mut ks, "EXPIREAT a 1", ctx(10_000))), ":1");
    assert_eq!(show(&run(&mut ks, "EXISTS a", ctx(10_000))), ":0");
    assert_ne!(ks.version(b"a"), v);
    run(&mut ks, "SET a 1 EX 10", ctx(10_000));
    assert_eq!(show(&run(&mut ks, "SET a 2 KEEPTTL", ctx(15_000))), "+OK");
    assert_eq!(show(&run(&mut ks, "TTL a", ctx(15_000))), ":5");
    assert_eq!(show(&run(&mut ks, "GETSET a 3", ctx(15_000))), "\"2\"");
    assert_eq!(show(&run(&mut ks, "TTL a", ctx(15_000))), ":-1");
}
