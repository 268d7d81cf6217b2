// Goal: EXEC applies queued commands in order as one unit and honours WATCH versions.
// Method: run exec() with fresh and stale versions, including a change by deletion and by expiry.

mod common;

use bytes::Bytes;
use common::{args, ctx, run, show};
use keyspace::Keyspace;

fn cmds(lines: &[&str]) -> Vec<Vec<Bytes>> {
    lines.iter().map(|l| args(l)).collect()
}

#[test]
fn exec_replies_per_command() {
    let mut ks = Keyspace::default();
    let r = ks.exec(
        &cmds(&[
            "SET a 1",
            "INCR a",
            "LPUSH a x",
            "GET a",
            "PING",
            "NOSUCH x",
        ]),
        &[],
        ctx(1),
    );
    assert_eq!(
        show(&r),
        "[+OK, :2, -WRONGTYPE Operation against a key holding the wrong kind of value, \"2\", +PONG, \
         -ERR unknown command 'NOSUCH', with args beginning with: 'x' ]"
    );
}

#[test]
fn watch_detects_changes() {
    let mut ks = Keyspace::default();
    run(&mut ks, "SET a 1", ctx(1));
    let key = Bytes::from_static(b"a");
    let missing = Bytes::from_static(b"m");
    let va = ks.version(b"a");
    let vm = ks.version(b"m");
    // Unchanged: applies.
    let r = ks.exec(
        &cmds(&["INCR a"]),
        &[(key.clone(), va), (missing.clone(), vm)],
        ctx(2),
    );
    assert_eq!(show(&r), "[:2]");
    // a changed by that EXEC: a transaction that watched the old version aborts and applies nothing.
    let before = ks.digest();
    assert_eq!(
        ks.exec(&cmds(&["SET b 1"]), &[(key.clone(), va)], ctx(3)),
        resp::Value::NullArray
    );
    assert_eq!(ks.digest(), before);
    // Creating then deleting a watched missing key is a change.
    run(&mut ks, "SET m 1", ctx(4));
    run(&mut ks, "DEL m", ctx(4));
    assert_eq!(
        ks.exec(&cmds(&["SET b 1"]), &[(missing, vm)], ctx(5)),
        resp::Value::NullArray
    );
    // A write that does not change the value (SET same value) still counts, like Redis.
    let va = ks.version(b"a");
    run(&mut ks, "SET a 2", ctx(6));
    assert_eq!(
        ks.exec(&cmds(&["GET a"]), &[(key.clone(), va)], ctx(6)),
        resp::Value::NullArray
    );
    // Failed or no-op commands do not change versions.
    let va = ks.version(b"a");
    run(&mut ks, "LPUSH a x", ctx(7));
    run(&mut ks, "SET a 9 NX", ctx(7));
    run(&mut ks, "GET a", ctx(7));
    assert_eq!(
        show(&ks.exec(&cmds(&["GET a"]), &[(key.clone(), va)], ctx(7))),
        "[\"2\"]"
    );
    // Expiry between WATCH and EXEC aborts, even before the replicated delete.
    run(&mut ks, "PEXPIRE a 10", ctx(10));
    let va = ks.version(b"a");
    assert_eq!(
        show(&ks.exec(&cmds(&["GET a"]), &[(key.clone(), va)], ctx(15))),
        "[\"2\"]"
    );
    assert_eq!(
        ks.exec(&cmds(&["GET a"]), &[(key, va)], ctx(20)),
        resp::Value::NullArray
    );
}
