//! The command metadata table against ninesdb's handler table (keyspace) and against the
//! facts Redis 7.0.15 derives at start-up.

use acl::commands::{self, category, flag, key_flag};

/// Goal: one table describes every command. Method: every command keyspace handles has
/// metadata, with the same arity and the same legacy key range.
#[test]
fn every_keyspace_command_has_metadata_with_its_arity() {
    let mut missing = Vec::new();
    for spec in keyspace::commands() {
        let Some(meta) = commands::lookup(spec.name.as_bytes()) else {
            missing.push(spec.name);
            continue;
        };
        assert_eq!(meta.arity, spec.arity, "arity of {}", spec.name);
        assert_eq!(
            (meta.first_key, meta.last_key, meta.key_step),
            (spec.first_key, spec.last_key, spec.step),
            "legacy key range of {}",
            spec.name
        );
    }
    assert!(missing.is_empty(), "commands without metadata: {missing:?}");
}

/// Goal: ninesdb's admin commands are @admin @dangerous, so `-@dangerous` takes them away;
/// its session commands are not.
#[test]
fn ninesdb_commands_are_described() {
    let ninesdb = commands::lookup(b"NINESDB").expect("NINESDB");
    let names: Vec<&str> = ninesdb.subcommands.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "ninesdb|debug",
            "ninesdb|drain",
            "ninesdb|join",
            "ninesdb|req",
            "ninesdb|session",
            "ninesdb|status",
            "ninesdb|undrain"
        ]
    );
    for admin in ["debug", "drain", "join", "status", "undrain"] {
        let meta = commands::lookup_sub(b"ninesdb", admin.as_bytes()).expect("subcommand");
        assert_eq!(
            meta.categories & (category::ADMIN | category::DANGEROUS),
            category::ADMIN | category::DANGEROUS,
            "{admin}"
        );
    }
    for session in ["session", "req"] {
        let meta = commands::lookup_sub(b"ninesdb", session.as_bytes()).expect("subcommand");
        assert_eq!(meta.categories & category::DANGEROUS, 0, "{session}");
    }
    assert_eq!(
        commands::lookup_sub(b"ninesdb", b"join").map(|m| m.arity),
        Some(6)
    );
}

/// Goal: server.c's derived facts. Method: spot checks where each rule shows.
#[test]
fn implicit_categories_and_movable_keys_follow_redis() {
    let get = commands::lookup(b"get").expect("get");
    assert_eq!(
        get.categories,
        category::READ | category::STRING | category::FAST
    );
    // EVAL is readonly-free scripting: no @read; not fast: @slow.
    let eval = commands::lookup(b"eval").expect("eval");
    assert_eq!(eval.categories, category::SLOW | category::SCRIPTING);
    assert_ne!(eval.flags & flag::MOVABLE_KEYS, 0);
    // EVAL_RO is readonly but scripting: still no @read.
    let eval_ro = commands::lookup(b"eval_ro").expect("eval_ro");
    assert_eq!(eval_ro.categories & category::READ, 0);
    let blpop = commands::lookup(b"blpop").expect("blpop");
    assert_ne!(blpop.categories & category::BLOCKING, 0);
    assert_eq!(blpop.flags & flag::MOVABLE_KEYS, 0);
    let subscribe = commands::lookup(b"subscribe").expect("subscribe");
    assert_ne!(subscribe.categories & category::PUBSUB, 0);
    let set = commands::lookup(b"set").expect("set");
    assert_ne!(set.key_specs[0].flags & key_flag::VARIABLE_FLAGS, 0);
    // Sentinel-only commands do not exist outside sentinel mode.
    assert!(commands::lookup_sub(b"sentinel", b"masters").is_none());
}

/// Goal: the lookups name commands as Redis does. Method: each lookup form, each edge.
#[test]
fn lookups_follow_redis() {
    assert_eq!(commands::lookup(b"GeT").map(|m| m.name), Some("get"));
    assert_eq!(
        commands::lookup_sub(b"CONFIG", b"Get").map(|m| m.name),
        Some("config|get")
    );
    assert_eq!(
        commands::lookup_full(b"config|get").map(|m| m.name),
        Some("config|get")
    );
    assert!(commands::lookup_full(b"config|get|x").is_none());
    assert!(commands::lookup_full(b"get|x").is_none());
    assert!(commands::lookup_full(b"").is_none());
    let args = |words: &[&str]| {
        words
            .iter()
            .map(|w| w.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        commands::lookup_args(&args(&["config", "get", "x"])).map(|m| m.name),
        Some("config|get")
    );
    assert_eq!(
        commands::lookup_args(&args(&["config"])).map(|m| m.name),
        Some("config")
    );
    assert!(commands::lookup_args(&args(&["config", "nosuch"])).is_none());
    assert_eq!(
        commands::lookup_args(&args(&["get", "k"])).map(|m| m.name),
        Some("get")
    );
    assert!(commands::lookup_args(&args(&[])).is_none());
    // Ids are dense and unique.
    let mut ids: Vec<u16> = commands::all().map(|m| m.id).collect();
    ids.sort_unstable();
    let expected: Vec<u16> =
        (0..u16::try_from(commands::COMMAND_ID_COUNT).expect("fits")).collect();
    assert_eq!(ids, expected);
}

/// Goal: keys and their access flags are found as db.c finds them. Method: one case per
/// finder: plain range, keynum, keyword, variable flags, and the command callbacks.
#[test]
fn keys_are_found_as_redis_finds_them() {
    let keys = |line: &str| {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let meta = commands::lookup_args(&args).expect("a command");
        commands::keys(meta, &args)
            .into_iter()
            .map(|k| (k.index, k.flags))
            .collect::<Vec<_>>()
    };
    let ro = key_flag::RO | key_flag::ACCESS;
    assert_eq!(keys("mget a b c"), [(1, ro), (2, ro), (3, ro)]);
    assert_eq!(
        keys("mset a 1 b 2").iter().map(|k| k.0).collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(
        keys("eval s 2 a b c")
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(keys("eval s x a"), []);
    assert_eq!(keys("eval s 5 a"), []);
    assert_eq!(
        keys("xread count 1 streams a b 0 0")
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>(),
        [4, 5]
    );
    assert_eq!(keys("set k v"), [(1, key_flag::OW | key_flag::UPDATE)]);
    assert_eq!(
        keys("set k v GET"),
        [(1, key_flag::RW | key_flag::ACCESS | key_flag::UPDATE)]
    );
    assert_eq!(keys("bitfield k get u8 0"), [(1, ro)]);
    assert_eq!(
        keys("bitfield k get u8 0 set u8 0 1"),
        [(1, key_flag::RW | key_flag::ACCESS | key_flag::UPDATE)]
    );
    assert_eq!(
        keys("sort k by x get y store d"),
        [(1, ro), (7, key_flag::OW | key_flag::UPDATE)]
    );
    // KEYS with a non-empty key argument is MIGRATE's syntax error: no keys at all.
    assert_eq!(keys("migrate h p k 0 5 keys a b"), []);
    assert_eq!(
        keys("migrate h p k 0 5")
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(
        keys("migrate h p  0 5 keys a b")
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>(),
        [7, 8]
    );
    assert_eq!(
        keys("zunionstore d 2 a b")
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>(),
        [1, 3, 4]
    );
    assert_eq!(keys("object encoding k"), [(2, key_flag::RO)]);
}
