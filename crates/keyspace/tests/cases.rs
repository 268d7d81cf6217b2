// Goal: exact Redis replies for every command. Method: replay each file of tests/cases/
// (`CMD args -> reply` lines, `@now MS`, `@seed N` and `@reset` directives) against a fresh
// keyspace and compare text forms. One file per command family.

mod common;

use common::{run, show};
use keyspace::{Context, Keyspace};

#[test]
fn command_cases() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let mut failures = Vec::new();
    let mut count = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable case file");
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        run_file(&name, &text, &mut failures, &mut count);
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn run_file(file: &str, text: &str, failures: &mut Vec<String>, count: &mut usize) {
    let mut ks = Keyspace::default();
    let mut c = Context {
        now_ms: 1_000_000,
        seed: 7,
    };
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
                _ => panic!("{file} line {}: bad directive {line}", n + 1),
            }
            continue;
        }
        let (cmd, want) = line
            .split_once(" -> ")
            .unwrap_or_else(|| panic!("{file} line {}: no ' -> '", n + 1));
        let got = show(&run(&mut ks, cmd, c));
        *count += 1;
        // The memory estimate is kept incrementally: every change must have moved it.
        if ks.memory_used() != ks.memory_recount() {
            failures.push(format!(
                "{file} line {}: {cmd}\n   memory estimate {} but a recount says {}",
                n + 1,
                ks.memory_used(),
                ks.memory_recount()
            ));
        }
        if got != want {
            failures.push(format!(
                "{file} line {}: {cmd}\n   want {want}\n    got {got}",
                n + 1
            ));
        }
    }
}
