//! The user database: permission checks and their errors, AUTH, atomic SETUSER, the
//! snapshot codec, ACL LOG. (Replies the ACL commands give are checked against Redis in
//! `differential.rs`; these check what no ACL command shows.)

use acl::{Acl, AclLog, DeniedReason, LogContext, LogEvent};
use bytes::Bytes;
use resp::Value;

fn args(line: &str) -> Vec<Bytes> {
    resp::split_args(line.as_bytes()).expect("well quoted")
}

fn acl_with(users: &[&str]) -> Acl {
    let mut acl = Acl::new();
    for rules in users {
        let reply = acl.apply(&args(&format!("ACL SETUSER {rules}")));
        assert_eq!(reply, Value::Simple("OK".to_owned()), "{rules}");
    }
    acl
}

fn error_text(result: Result<(), acl::Denied>) -> String {
    match result.map_err(|denied| denied.error()) {
        Err(Value::Error(text)) => text,
        other => panic!("expected a denial, got {other:?}"),
    }
}

/// Goal: Redis's NOPERM texts and the object ACL LOG records, for each reason.
#[test]
fn denials_carry_redis_errors_and_objects() {
    let acl = acl_with(&["u on nopass ~a* &ch* +get +set +publish +subscribe +config|get"]);
    assert_eq!(acl.check(b"u", &args("get a1")), Ok(()));
    assert_eq!(
        error_text(acl.check(b"u", &args("del a1"))),
        "NOPERM this user has no permissions to run the 'del' command"
    );
    assert_eq!(
        error_text(acl.check(b"u", &args("config set x y"))),
        "NOPERM this user has no permissions to run the 'config|set' command"
    );
    let denied = acl.check(b"u", &args("set b1 v")).expect_err("key b1");
    assert_eq!(denied.reason, DeniedReason::Key);
    assert_eq!(denied.object(), Bytes::from_static(b"b1"));
    assert_eq!(
        error_text(Err(denied)),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    let denied = acl
        .check(b"u", &args("subscribe ch1 other"))
        .expect_err("channel");
    assert_eq!(denied.reason, DeniedReason::Channel);
    assert_eq!(denied.argument, Some((2, Bytes::from_static(b"other"))));
    assert_eq!(
        error_text(Err(denied)),
        "NOPERM this user has no permissions to access one of the channels used as arguments"
    );
    let denied = acl.check(b"u", &args("del a1")).expect_err("command");
    assert_eq!(denied.object(), Bytes::from_static(b"del"));
}

/// Goal: read and write key permissions follow the key spec flags, SET ... GET included.
#[test]
fn read_and_write_patterns_follow_key_flags() {
    let acl = acl_with(&["u on nopass %R~r* %W~w* +@all"]);
    assert_eq!(acl.check(b"u", &args("get r1")), Ok(()));
    assert!(acl.check(b"u", &args("get w1")).is_err());
    assert_eq!(acl.check(b"u", &args("set w1 v")), Ok(()));
    assert!(acl.check(b"u", &args("set r1 v")).is_err());
    // GET makes SET read the key too: write-only is not enough.
    assert!(acl.check(b"u", &args("set w1 v get")).is_err());
    // LPUSH inserts: write; LRANGE reads.
    assert_eq!(acl.check(b"u", &args("lpush w1 a")), Ok(()));
    assert!(acl.check(b"u", &args("lrange w1 0 -1")).is_err());
    // COPY reads the source and writes the destination.
    assert_eq!(acl.check(b"u", &args("copy r1 w1")), Ok(()));
    assert!(acl.check(b"u", &args("copy w1 r1")).is_err());
}

/// Goal: a command passes when one selector allows all of it; Redis reports the most
/// severe refusal otherwise.
#[test]
fn selectors_are_alternatives() {
    let acl = acl_with(&["u on nopass +get ~a* (+set ~b*)"]);
    assert_eq!(acl.check(b"u", &args("get a1")), Ok(()));
    assert_eq!(acl.check(b"u", &args("set b1 v")), Ok(()));
    // GET on b1: root refuses the key, the selector the command: the key wins.
    let denied = acl.check(b"u", &args("get b1")).expect_err("denied");
    assert_eq!(denied.reason, DeniedReason::Key);
    // SET on a1: root refuses the command, the selector the key.
    assert_eq!(
        acl.check(b"u", &args("set a1 v")).map_err(|d| d.reason),
        Err(DeniedReason::Key)
    );
    assert_eq!(
        acl.check(b"u", &args("del a1")).map_err(|d| d.reason),
        Err(DeniedReason::Command)
    );
}

/// Goal: the default user runs ninesdb's admin commands until `-@dangerous` (or any rule
/// set without @admin) applies; sessions stay open; NINESDB REQ checks what it carries.
#[test]
fn ninesdb_commands_are_checked_like_any_command() {
    let mut acl = Acl::new();
    assert_eq!(acl.check(b"default", &args("ninesdb drain 3")), Ok(()));
    assert_eq!(
        acl.apply(&args("ACL SETUSER default -@dangerous")),
        Value::Simple("OK".to_owned())
    );
    assert_eq!(
        error_text(acl.check(b"default", &args("ninesdb drain 3"))),
        "NOPERM this user has no permissions to run the 'ninesdb|drain' command"
    );
    assert!(acl
        .check(b"default", &args("ninesdb join 4 h:1 h:2 a:b:c:d"))
        .is_err());
    assert_eq!(acl.check(b"default", &args("ninesdb session")), Ok(()));
    assert_eq!(
        acl.check(b"default", &args("ninesdb req 1 1 set k v")),
        Ok(())
    );
    assert_eq!(
        error_text(acl.check(b"default", &args("ninesdb req 1 1 flushall"))),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
}

/// Goal: what the server needs beyond Redis's replies: unknown commands pass (the table
/// answers them), deleted users are refused, AUTH/HELLO need no permission.
#[test]
fn edges_of_check() {
    let acl = acl_with(&["u on nopass nocommands"]);
    assert_eq!(acl.check(b"u", &args("nosuchcommand x")), Ok(()));
    assert_eq!(acl.check(b"u", &args("auth a b")), Ok(()));
    assert_eq!(acl.check(b"u", &args("hello 3")), Ok(()));
    assert!(acl.check(b"u", &args("ping")).is_err());
    assert!(acl.check(b"gone", &args("ping")).is_err());
}

/// Goal: a SETUSER that fails anywhere changes nothing (Redis stages on a copy).
#[test]
fn failing_setuser_changes_nothing() {
    let mut acl = acl_with(&["u on >pw ~a* +get"]);
    let before = acl.encode();
    for bad in [
        "ACL SETUSER u -get +nosuch",
        "ACL SETUSER u resetpass <missing",
        "ACL SETUSER u off (+set ~b* bogus)",
        "ACL SETUSER u allkeys ~x",
        "ACL SETUSER u (+get",
        "ACL SETUSER newuser on +nosuch",
    ] {
        assert!(matches!(acl.apply(&args(bad)), Value::Error(_)), "{bad}");
        assert_eq!(acl.encode(), before, "{bad} changed the database");
    }
    assert!(acl.user(b"newuser").is_none());
}

/// Goal: AUTH as Redis answers it, and the requirepass equivalence.
#[test]
fn auth_and_requirepass() {
    let mut acl = Acl::new();
    assert!(!acl.auth_required());
    let error = acl
        .auth(&args("AUTH pw"))
        .expect_err("no password configured");
    assert!(error.log_username.is_none());
    assert!(
        matches!(error.reply, Value::Error(ref t) if t.starts_with("ERR AUTH <password> called without"))
    );
    assert_eq!(
        acl.apply(&acl::requirepass_command(Some(b"s3cret"))),
        Value::Simple("OK".to_owned())
    );
    assert!(acl.auth_required());
    assert_eq!(
        acl.auth(&args("AUTH s3cret")),
        Ok(Bytes::from_static(b"default"))
    );
    let error = acl.auth(&args("AUTH wrong")).expect_err("wrong password");
    assert_eq!(
        error.reply,
        Value::Error("WRONGPASS invalid username-password pair or user is disabled.".to_owned())
    );
    assert_eq!(error.log_username, Some(Bytes::from_static(b"default")));
    acl.apply(&args("ACL SETUSER alice >a"));
    assert!(acl.authenticate(b"alice", b"a").is_err(), "alice is off");
    acl.apply(&args("ACL SETUSER alice on"));
    assert_eq!(acl.authenticate(b"alice", b"a"), Ok(()));
    assert!(acl.authenticate(b"nobody", b"a").is_err());
    assert_eq!(
        acl.apply(&acl::requirepass_command(None)),
        Value::Simple("OK".to_owned())
    );
    assert!(!acl.auth_required());
}

/// Goal: the snapshot codec round-trips every kind of state and refuses every damaged
/// copy without panicking.
#[test]
fn codec_round_trips_and_refuses_damage() {
    let acl = acl_with(&[
        "a on >p1 #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 ~x* %R~r* %W~w* &c* +@read -get +select|0",
        "b off nopass skip-sanitize-payload allkeys allchannels +@all -@dangerous (+set ~s*) (%R~q* +config|get)",
        "c reset",
    ]);
    let bytes = acl.encode();
    let decoded = Acl::decode(&bytes).expect("decode");
    assert_eq!(decoded, acl);
    assert_eq!(decoded.encode(), bytes);
    for index in 0..bytes.len() {
        let mut damaged = bytes.to_vec();
        damaged[index] ^= 0x20;
        assert!(
            Acl::decode(&damaged).is_err(),
            "a flip at {index} was accepted"
        );
    }
    for length in 0..bytes.len() {
        assert!(
            Acl::decode(&bytes[..length]).is_err(),
            "a cut at {length} was accepted"
        );
    }
    // Garbage of every length never panics.
    let mut state: u64 = 42;
    for length in 0..2000 {
        let garbage: Vec<u8> = (0..length)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 56) as u8
            })
            .collect();
        assert!(Acl::decode(&garbage).is_err());
    }
}

/// Rules the random rule sets are drawn from.
const RULES: &[&str] = &[
    "+@all",
    "-@all",
    "+@read",
    "-@write",
    "+@dangerous",
    "-@admin",
    "+@fast",
    "-@slow",
    "+@connection",
    "-@keyspace",
    "+get",
    "-get",
    "+config|get",
    "-config|set",
    "+config",
    "-client",
    "+client|id",
    "+select|0",
    "+select|1",
    "-select",
    "~a*",
    "%R~r*",
    "%W~w*",
    "resetkeys",
    "allkeys",
    "&c*",
    "resetchannels",
    "allchannels",
    "+debug",
    "(+set ~s*)",
    "clearselectors",
    "-@all",
    "+@pubsub",
    "-publish",
    "+acl|whoami",
];

/// A seeded linear congruential generator: the same rule sets every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).expect("fits") % bound
    }
}

/// A database whose user "u" is rebuilt from `acl`'s description of it.
fn rebuilt_from_description(acl: &Acl) -> (Acl, Vec<u8>) {
    let description = acl.user(b"u").expect("u").describe();
    let mut rebuilt = Acl::new();
    let mut command = args("ACL SETUSER u");
    command.extend(
        description
            .split(|&c| c == b' ')
            .map(Bytes::copy_from_slice),
    );
    assert_eq!(rebuilt.apply(&command), Value::Simple("OK".to_owned()));
    (rebuilt, description)
}

/// Goal: rules rebuilt from ACL LIST give the same user (ACL LIST is how Redis saves
/// users). Method: random rule sequences, seeded; describe, re-apply, compare the
/// descriptions and the decisions on probe commands.
#[test]
fn descriptions_rebuild_the_same_permissions() {
    let mut random = Lcg(7);
    let mut exercised = 0;
    for round in 0..300 {
        let mut acl = Acl::new();
        let mut line = String::from("ACL SETUSER u on nopass");
        for _ in 0..1 + random.below(8) {
            line.push(' ');
            line.push_str(RULES[random.below(RULES.len())]);
        }
        // Rules after "allkeys"/"allchannels" may be refused; such rounds test nothing.
        if acl.apply(&args(&line)) != Value::Simple("OK".to_owned()) {
            continue;
        }
        exercised += 1;
        let (rebuilt, description) = rebuilt_from_description(&acl);
        let again = rebuilt.user(b"u").expect("u").describe();
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&description),
            "round {round}: {line}"
        );
        for probe in [
            "get a1",
            "set s1 v",
            "config get x",
            "select 0",
            "publish c1 m",
            "debug x",
            "client id",
        ] {
            assert_eq!(
                acl.check(b"u", &args(probe)).is_ok(),
                rebuilt.check(b"u", &args(probe)).is_ok(),
                "round {round}: {line}: {probe}"
            );
        }
    }
    assert!(
        exercised >= 150,
        "only {exercised} of 300 rule sets were valid"
    );
}

fn event(object: &str, user: &str) -> LogEvent {
    LogEvent {
        reason: DeniedReason::Command,
        context: LogContext::Toplevel,
        object: Bytes::copy_from_slice(object.as_bytes()),
        username: Bytes::copy_from_slice(user.as_bytes()),
        client_info: Bytes::from_static(b"id=1"),
    }
}

fn log_field(reply: &Value, entry: usize, field: &str) -> Value {
    let Value::Array(entries) = reply else {
        panic!("not an array: {reply:?}")
    };
    let Value::Map(pairs) = &entries[entry] else {
        panic!("not a map")
    };
    pairs
        .iter()
        .find(|(k, _)| *k == Value::Bulk(Bytes::copy_from_slice(field.as_bytes())))
        .map(|(_, v)| v.clone())
        .expect("field")
}

/// Goal: ACL LOG groups similar events within 60 s, keeps the newest first, and is capped.
#[test]
fn log_groups_and_caps() {
    let mut log = AclLog::new(3);
    log.record(event("get", "u"), 1_000);
    log.record(event("get", "u"), 30_000);
    assert_eq!(log.len(), 1);
    let reply = log.command(&args("ACL LOG"), 31_500);
    assert_eq!(log_field(&reply, 0, "count"), Value::Integer(2));
    assert_eq!(log_field(&reply, 0, "age-seconds"), Value::Double(1.5));
    // 61 s after the last update: a new entry.
    log.record(event("get", "u"), 91_001);
    assert_eq!(log.len(), 2);
    log.record(event("set", "u"), 91_002);
    log.record(event("del", "u"), 91_003);
    assert_eq!(log.len(), 3, "capped at 3");
    let reply = log.command(&args("ACL LOG 1"), 91_003);
    assert_eq!(
        log_field(&reply, 0, "object"),
        Value::Bulk(Bytes::from_static(b"del"))
    );
    assert_eq!(
        log.command(&args("ACL LOG RESET"), 0),
        Value::Simple("OK".to_owned())
    );
    assert!(log.is_empty());
}

/// Goal: GENPASS's length and alphabet, from the random bytes given.
#[test]
fn genpass_uses_the_given_randomness() {
    let random: Vec<u8> = (0..=255u8)
        .cycle()
        .take(acl::limits::GENPASS_RANDOM_BYTES)
        .collect();
    assert_eq!(
        acl::genpass(&args("ACL GENPASS 16"), &random),
        Value::Bulk(Bytes::from_static(b"0123"))
    );
    let Value::Bulk(long) = acl::genpass(&args("ACL GENPASS"), &random) else {
        panic!()
    };
    assert_eq!(long.len(), 64);
    let Value::Bulk(max) = acl::genpass(&args("ACL GENPASS 4096"), &random) else {
        panic!()
    };
    assert_eq!(max.len(), 1024);
}

/// Goal: nothing panics on hostile argument vectors: short ones, wrong arities, nested
/// NINESDB REQ, binary rules. Method: every command of the table with 0..6 arguments for
/// a restricted user, and rule lines of odd bytes.
#[test]
fn hostile_input_never_panics() {
    let mut acl = acl_with(&["u on nopass ~a* &c* +@all (+get ~b*)"]);
    for meta in acl::commands::all() {
        let mut line: Vec<Bytes> = meta
            .name
            .split('|')
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect();
        for extra in 0..6 {
            let _ = acl.check(b"u", &line);
            let mut dryrun = args("ACL DRYRUN u");
            dryrun.extend(line.iter().cloned());
            let _ = acl.read(&dryrun, b"u");
            line.push(Bytes::from(format!("{extra}")));
        }
    }
    let mut nested = Vec::new();
    for _ in 0..100_000 {
        nested.extend(args("ninesdb req 1 1"));
    }
    nested.extend(args("flushall"));
    assert_eq!(acl.check(b"u", &nested), Ok(()));
    for rule in [
        "",
        "(",
        ")",
        "()",
        "%",
        "%~",
        "~",
        "&",
        "+",
        "-",
        "+@",
        "-@",
        "+|",
        "+a|",
        "#",
        "!",
        "<",
        ">",
        "+config||get",
        "\u{0}",
        "(\"",
        "(~a \"b)",
    ] {
        let mut line = args("ACL SETUSER x");
        line.push(Bytes::copy_from_slice(rule.as_bytes()));
        let _ = acl.apply(&line);
        let _ = acl.read(&args("ACL LIST"), b"u");
    }
    for short in [
        "ACL",
        "ACL SETUSER",
        "ACL DRYRUN u",
        "ACL GETUSER",
        "ACL CAT a b c",
        "AUTH",
    ] {
        let _ = acl.apply(&args(short));
        let _ = acl.read(&args(short), b"u");
        let _ = acl.auth(&args(short));
    }
    assert!(acl.check(b"u", &[]).is_ok());
}

/// Goal: the database cannot outgrow what `decode` reads back. Method: add users with
/// long patterns until SETUSER refuses; what was accepted still round-trips.
#[test]
fn database_size_is_bounded() {
    let mut acl = Acl::new();
    let pattern = "x".repeat(acl::limits::PATTERN_SIZE_MAX);
    let rules: Vec<String> = (0..64).map(|i| format!("~{i}{}", &pattern[4..])).collect();
    let mut refused = None;
    for user in 0..2000 {
        let mut line = args(&format!("ACL SETUSER u{user}"));
        line.extend(rules.iter().map(|r| Bytes::copy_from_slice(r.as_bytes())));
        if let Value::Error(text) = acl.apply(&line) {
            refused = Some((user, text));
            break;
        }
    }
    let (user, text) = refused.expect("the size limit never bit");
    assert!(text.contains("size limit"), "{text}");
    assert!(user > 100, "refused too early, at user {user}");
    let bytes = acl.encode();
    assert!(bytes.len() <= acl::limits::ENCODED_SIZE_MAX);
    assert_eq!(Acl::decode(&bytes).expect("decode"), acl);
    // Deleting frees room again.
    assert_eq!(acl.apply(&args("ACL DELUSER u0 u1")), Value::Integer(2));
    let mut line = args(&format!("ACL SETUSER u{user}"));
    line.extend(rules.iter().map(|r| Bytes::copy_from_slice(r.as_bytes())));
    assert_eq!(acl.apply(&line), Value::Simple("OK".to_owned()));
}
