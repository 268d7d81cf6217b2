// Goal: exact Redis replies for every command. Method: replay tests/cases.txt (`CMD args -> reply`
// lines, `@now MS`, `@seed N` and `@reset` directives) against one keyspace and compare text forms.

mod common;

use common::{run, show};
use keyspace::{Context, Keyspace};

#[test]
fn command_cases() {
    let text = include_str!("cases.txt");
    let mut ks = Keyspace::default();
    let mut c = Context {
        now_ms: 1_000_000,
        seed: 7,
    };
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start().trim_end_matches('\r');
        let blank = line.trim().is_empty();
        if blank || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('@') {
            let mut it = rest.split_whitespace();
            match (it.next(), it.next()) {
                (Some("now"), Some(v)) => c.now_ms = v.parse().unwrap(),
                (Some("seed"), Some(v)) => c.seed = v.parse().unwrap(),
                (Some("reset"), _) => ks = Keyspace::default(),
                _ => panic!("line {}: bad directive {line}", n + 1),
            }
            continue;
        }
        let (cmd, want) = line
            .split_once(" -> ")
            .unwrap_or_else(|| panic!("line {}: no ' -> '", n + 1));
        let got = show(&run(&mut ks, cmd, c));
        count += 1;
        if got != want {
            failures.push(format!(
                "line {}: {cmd}\n   want {want}\n    got {got}",
                n + 1
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
