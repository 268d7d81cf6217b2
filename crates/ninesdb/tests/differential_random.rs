//! Random differential test: seeded random command sequences over a small key space, run on a
//! real redis-server and on a 3-node ninesdb (through a follower), every reply compared.
//!
//! The generator (tests/random/) has one function per command family; each draws commands of
//! its family with valid and invalid arguments (wrong types, missing and extra arguments, `nan`,
//! `1e400`, i64 edges, huge and negative counts, bad options). Replies Redis leaves unordered
//! are compared sorted, random ones (SRANDMEMBER...) by shape, times to live within a tolerance.
//! Every few hundred commands, and at the end, every key's type, value and TTL are compared too.
//!
//! Environment:
//! - `NINESDB_DIFF_SEED`: a seed, a list `1,2,3` or a range `1..20` (default 1);
//! - `NINESDB_DIFF_COMMANDS`: commands per seed (default 3000);
//! - `NINESDB_DIFF_FAMILIES`: comma list of families (default `DEFAULT_FAMILIES`; `all` for
//!   every family of `random::FAMILIES`).
//!
//! A mismatch is printed with its seed, its position, the earlier commands on its keys and the
//! environment that reproduces it; the first few are shrunk to a short command list that can be
//! pasted into keyspace's tests/cases/*.txt (or, if it has no escapes, tests/differential/*.txt).
//! A long campaign is the same test with bigger values:
//!
//! ```text
//! NINESDB_DIFF_SEED=1..50 NINESDB_DIFF_COMMANDS=20000 \
//!     cargo test -p ninesdb --test differential_random -- --nocapture
//! ```

mod common;
mod random;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{start_redis, Client, Cluster, Reply};
use random::compare::{agree, show};
use random::events::Listeners;
use random::run::{run, Run, Servers};
use random::{Family, Mode, FAMILIES};

/// The families run by default: every family of `random::FAMILIES` (ninesdb has all their
/// commands), so that a missing or wrong command is a mismatch, not silence.
const DEFAULT_FAMILIES: &str = "all";
const DEFAULT_SEED: &str = "1";
const DEFAULT_COMMANDS: usize = 3000;
/// Compare the whole key space after this many commands.
const CHECK_EVERY: usize = 500;
/// Mismatches printed in full (the total is always printed); `NINESDB_DIFF_SHOW` overrides.
const SHOWN: usize = 30;
/// Mismatches shrunk, and the replays each may take.
const SHRUNK: usize = 5;
const SHRINK_BUDGET: usize = 150;
/// The ports: ninesdb clients on 17001-17003 (peers 17101-17103), redis-server on 17199
/// (`NINESDB_TEST_PORT_BASE` moves the block: clients from it, redis at +198).
const CLUSTER_BASE: u16 = 17001;
/// The second redis-server of `NINESDB_DIFF_AGAINST=redis` is one below the first.
const REDIS_OFFSET: u16 = 198;

/// `7`, `1,2,3` or `1..20` (end excluded).
fn parse_seeds(text: &str) -> Vec<u64> {
    if let Some((a, b)) = text.split_once("..") {
        let (a, b) = (a.trim().parse::<u64>(), b.trim().parse::<u64>());
        return (a.expect("NINESDB_DIFF_SEED: a number before ..")
            ..b.expect("NINESDB_DIFF_SEED: a number after .."))
            .collect();
    }
    text.split(',')
        .map(|s| s.trim().parse().expect("NINESDB_DIFF_SEED: numbers"))
        .collect()
}

fn families(list: &str) -> Vec<&'static Family> {
    if list.trim() == "all" {
        return FAMILIES.iter().collect();
    }
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            FAMILIES.iter().find(|f| f.name == name).unwrap_or_else(|| {
                let known: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
                panic!(
                    "NINESDB_DIFF_FAMILIES: no family {name:?} (known: {})",
                    known.join(",")
                )
            })
        })
        .collect()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// One mismatch, for the report: the command, both replies, the last commands on its keys and
/// how to run up to it again.
fn describe(run: &Run, at: usize, family_list: &str) -> String {
    let step = &run.steps[at];
    let mut text = format!(
        "seed {} command {} (step {at}, {}): {}\n    redis:   {}\n    ninesdb: {}\n",
        run.seed,
        step.number,
        step.cmd.family,
        step.cmd.line(),
        show(&step.redis),
        show(&step.ninesdb)
    );
    // The commands on every key (KEYS, SCAN...) would crowd out the ones on its own keys.
    let every = random::gen::all_keys().len();
    let earlier: Vec<_> = run.steps[..at]
        .iter()
        .rev()
        .filter(|s| {
            s.cmd.keys.len() < every && s.cmd.keys.iter().any(|k| step.cmd.keys.contains(k))
        })
        .take(6)
        .collect();
    if !earlier.is_empty() {
        text.push_str("    earlier on its keys:\n");
        for s in earlier.into_iter().rev() {
            text.push_str(&format!(
                "      [{}] {}  -> redis {}\n",
                s.number,
                s.cmd.line(),
                show(&s.redis)
            ));
        }
    }
    text.push_str(&format!(
        "    reproduce: NINESDB_DIFF_SEED={} NINESDB_DIFF_COMMANDS={} NINESDB_DIFF_FAMILIES={family_list} \
         cargo test -p ninesdb --test differential_random\n",
        run.seed,
        step.number + 1
    ));
    text
}

/// Per command: how often it ran and how often Redis answered an error (so a generator that
/// only ever writes errors shows up). `NINESDB_DIFF_STATS=1` prints it.
fn stats(runs: &[Run]) -> String {
    let mut by_command: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for step in runs
        .iter()
        .flat_map(|r| &r.steps)
        .filter(|s| !matches!(s.cmd.family, "check" | "resync" | "settle"))
    {
        let entry = by_command.entry(step.cmd.name()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(matches!(step.redis, Reply::Error(_)));
    }
    let lines: Vec<String> = by_command
        .iter()
        .map(|(name, (n, errors))| format!("{name} {n} ({}% errors)", errors * 100 / n))
        .collect();
    format!("{} commands: {}", by_command.len(), lines.join(", "))
}

/// The mismatches by command, the first few in full and the first of them shrunk.
fn report(runs: &[Run], servers: &mut Servers, family_list: &str) -> String {
    let mut by_command: BTreeMap<String, usize> = BTreeMap::new();
    for r in runs {
        for &at in &r.mismatches {
            *by_command.entry(r.steps[at].cmd.name()).or_default() += 1;
        }
    }
    let shown: usize = env_or("NINESDB_DIFF_SHOW", &SHOWN.to_string())
        .parse()
        .expect("NINESDB_DIFF_SHOW: a number");
    let all: Vec<(&Run, usize)> = runs
        .iter()
        .flat_map(|r| r.mismatches.iter().map(move |&at| (r, at)))
        .collect();
    let counts: Vec<String> = by_command
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let mut report = format!(
        "(by command: {}); the first {}:\n",
        counts.join(", "),
        all.len().min(shown)
    );
    for (r, at) in all.iter().take(shown) {
        report.push_str(&describe(r, *at, family_list));
    }
    // Shrinking replays on both servers: the runs are over, their state no longer matters.
    for (r, at) in all.iter().take(SHRUNK) {
        let step = &r.steps[*at];
        match random::shrink::shrink(servers, &r.steps, *at, SHRINK_BUDGET) {
            Some(cmds) => {
                report.push_str(&format!(
                    "shrunk seed {} command {} to {} command(s):\n",
                    r.seed,
                    step.number,
                    cmds.len()
                ));
                for cmd in cmds {
                    report.push_str(&format!("    {}\n", cmd.line()));
                }
            }
            None => report.push_str(&format!(
                "seed {} command {}: its history alone does not reproduce it (run the whole prefix)\n",
                r.seed, step.number
            )),
        }
    }
    report
}

// Goal: ninesdb answers like Redis 7.0 on any sequence of commands, not only the hand-written
// ones. Method: seeded random sequences (see the module comment), each reply compared; the test
// fails on any mismatch and prints what reproduces it.
#[test]
fn random_commands_match_redis() {
    let seeds = parse_seeds(&env_or("NINESDB_DIFF_SEED", DEFAULT_SEED));
    let commands: usize = env_or("NINESDB_DIFF_COMMANDS", &DEFAULT_COMMANDS.to_string())
        .parse()
        .expect("NINESDB_DIFF_COMMANDS: a number");
    let family_list = env_or("NINESDB_DIFF_FAMILIES", DEFAULT_FAMILIES);
    let enabled = families(&family_list);
    assert!(!enabled.is_empty(), "no family enabled");

    let cluster_base = common::port_base(CLUSTER_BASE);
    let (redis_port, other_redis_port) =
        (cluster_base + REDIS_OFFSET, cluster_base + REDIS_OFFSET - 1);
    // A server left over from an aborted run would answer in place of the new ones.
    for port in [
        redis_port,
        other_redis_port,
        cluster_base,
        cluster_base + 1,
        cluster_base + 2,
    ] {
        assert!(
            Client::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_none(),
            "port {port} is taken (a leftover server?)"
        );
    }
    let _redis = start_redis(redis_port);
    // NINESDB_DIFF_AGAINST=redis: a second redis-server in ninesdb's place, to check the
    // generator and the comparison modes themselves (any mismatch is then the tester's).
    let (_cluster, _other, address) = if env_or("NINESDB_DIFF_AGAINST", "ninesdb") == "redis" {
        let other = start_redis(other_redis_port);
        (
            None,
            Some(other),
            SocketAddr::from(([127, 0, 0, 1], other_redis_port)),
        )
    } else {
        let cluster = Cluster::start(3, cluster_base, "diffrandom");
        let leader = cluster.leader(Duration::from_secs(20)).expect("a leader");
        let follower = if leader == 1 { 2 } else { 1 };
        let address = cluster.clients[(follower - 1) as usize];
        (Some(cluster), None, address)
    };
    let mut servers = Servers {
        redis: Client::connect(SocketAddr::from(([127, 0, 0, 1], redis_port)))
            .expect("connects to redis"),
        ninesdb: Client::connect(address).expect("connects to ninesdb"),
        retries: 0,
        listeners: Some(Listeners::open(
            SocketAddr::from(([127, 0, 0, 1], redis_port)),
            address,
        )),
    };

    let started = Instant::now();
    let runs: Vec<Run> = seeds
        .iter()
        .map(|&seed| run(&mut servers, seed, commands, &enabled, CHECK_EVERY))
        .collect();
    let elapsed = started.elapsed();
    let steps: usize = runs.iter().map(|r| r.steps.len()).sum();
    let total: usize = runs.iter().map(|r| r.mismatches.len()).sum();
    eprintln!(
        "{} seed(s) x {commands} commands ({steps} steps with checks) of [{family_list}] in {:.1} s: {total} mismatches, \
         {} TRYAGAIN retries",
        seeds.len(),
        elapsed.as_secs_f64(),
        servers.retries
    );
    if !env_or("NINESDB_DIFF_STATS", "").is_empty() {
        eprintln!("{}", stats(&runs));
    }
    if total == 0 {
        return;
    }

    let report = report(&runs, &mut servers, &family_list);
    panic!("{total} mismatches in {steps} steps {report}");
}

// Goal: the comparer is not blind. Method: doctored replies (a changed value, a missing
// element, an error text, a wrong TTL) must disagree under every mode that should notice,
// while what a mode forgives (order, random content, TTL drift) must agree.
#[test]
fn comparer_catches_doctored_replies() {
    let bulk = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
    let list = |items: &[&str]| Reply::Array(items.iter().map(|s| bulk(s)).collect());
    // Exact: any change shows.
    assert!(agree(&bulk("1"), &bulk("1"), Mode::Exact));
    assert!(!agree(&bulk("1"), &bulk("2"), Mode::Exact));
    assert!(!agree(&Reply::Bulk(None), &bulk(""), Mode::Exact));
    assert!(!agree(
        &Reply::NilArray,
        &Reply::Array(Vec::new()),
        Mode::Exact
    ));
    assert!(!agree(
        &Reply::Error("ERR syntax error".into()),
        &Reply::Error("ERR syntax".into()),
        Mode::Exact
    ));
    assert!(!agree(&list(&["a", "b"]), &list(&["b", "a"]), Mode::Exact));
    // Sorted: order forgiven, content not.
    assert!(agree(&list(&["a", "b"]), &list(&["b", "a"]), Mode::Sorted));
    assert!(!agree(&list(&["a", "b"]), &list(&["a", "a"]), Mode::Sorted));
    assert!(!agree(&list(&["a", "b"]), &list(&["a"]), Mode::Sorted));
    // Pairs: pairs stay pairs.
    assert!(agree(
        &list(&["f", "1", "g", "2"]),
        &list(&["g", "2", "f", "1"]),
        Mode::Pairs
    ));
    assert!(!agree(
        &list(&["f", "1", "g", "2"]),
        &list(&["f", "2", "g", "1"]),
        Mode::Pairs
    ));
    // Scan: the cursor exact, the items as a set.
    let scan = |cursor: &str, items: &[&str]| Reply::Array(vec![bulk(cursor), list(items)]);
    assert!(agree(
        &scan("0", &["a", "b"]),
        &scan("0", &["b", "a"]),
        Mode::Scan
    ));
    assert!(!agree(
        &scan("0", &["a", "b"]),
        &scan("5", &["a", "b"]),
        Mode::Scan
    ));
    assert!(!agree(
        &scan("0", &["a", "b"]),
        &scan("0", &["a", "c", "b"]),
        Mode::Scan
    ));
    assert!(!agree(
        &scan("0", &["f", "1"]),
        &scan("0", &["f", "2"]),
        Mode::ScanPairs
    ));
    // Shape: content forgiven, kinds and lengths not.
    assert!(agree(&list(&["a", "b"]), &list(&["c", "d"]), Mode::Shape));
    assert!(!agree(&list(&["a", "b"]), &list(&["c"]), Mode::Shape));
    assert!(!agree(&bulk("a"), &Reply::Bulk(None), Mode::Shape));
    assert!(!agree(&bulk("a"), &Reply::Integer(1), Mode::Shape));
    assert!(!agree(
        &Reply::Error("ERR value is out of range".into()),
        &list(&[]),
        Mode::Shape
    ));
    // Near: drift forgiven, sentinels and real differences not.
    assert!(agree(
        &Reply::Integer(1000),
        &Reply::Integer(999),
        Mode::Near(2)
    ));
    assert!(!agree(
        &Reply::Integer(1000),
        &Reply::Integer(990),
        Mode::Near(2)
    ));
    assert!(!agree(
        &Reply::Integer(-1),
        &Reply::Integer(-2),
        Mode::Near(2)
    ));
    assert!(!agree(
        &Reply::Integer(-1),
        &Reply::Integer(1),
        Mode::Near(2)
    ));
}

// Goal: a seed names one sequence (a mismatch reproduces from its seed and position), and every
// family is wired and writes commands of its own. Method: generate twice, compare; look at names.
#[test]
fn generator_is_deterministic_and_every_family_generates() {
    let draw = |seed: u64, family: &Family| {
        let mut gen = random::gen::Gen::new(seed);
        (0..300)
            .map(|_| (family.generate)(&mut gen).line())
            .collect::<Vec<_>>()
    };
    let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FAMILIES.len(), "family names are unique");
    for family in FAMILIES {
        assert_eq!(
            draw(7, family),
            draw(7, family),
            "family {} is deterministic",
            family.name
        );
        assert_ne!(
            draw(7, family),
            draw(8, family),
            "family {} depends on the seed",
            family.name
        );
    }
    for name in DEFAULT_FAMILIES.split(',').filter(|&name| name != "all") {
        assert!(
            FAMILIES.iter().any(|f| f.name == name),
            "default family {name} exists"
        );
    }
}
