// Goal: random stream commands never panic and always leave a stream whose snapshot decodes
// (decoding checks the node model against the entries, the PELs against the consumers) and
// reads back equal. Method: a seeded mix of every stream command with valid and invalid
// arguments on two keys, a snapshot round trip after each, with time moving forwards and
// sometimes backwards (a new leader's slower clock); XADD `*` ids must still only go up
// (until an XSETID sets the last id back).

mod common;

use common::{ctx, run, show};
use keyspace::Keyspace;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn id(r: &mut Rng) -> String {
    match r.below(10) {
        0..=5 => format!("{}-{}", r.below(60), r.below(3)),
        6 => r.below(60).to_string(),
        7 => format!("({}-{}", r.below(60), r.below(3)),
        _ => r.pick(&["-", "+", "$", ">", "0", "x"]).to_owned(),
    }
}

fn command(r: &mut Rng) -> String {
    let key = r.pick(&["s1", "s2"]);
    let group = r.pick(&["g1", "g2"]);
    let consumer = r.pick(&["c1", "c2", "c3"]);
    match r.below(16) {
        0..=3 => {
            let trim = match r.below(6) {
                0 => format!("MAXLEN ~ {} ", r.below(20)),
                1 => format!("MINID {} ", id(r)),
                2 => format!("MAXLEN {} LIMIT 3 ", r.below(20)),
                _ => String::new(),
            };
            let new_id = if r.below(3) == 0 {
                "*".to_owned()
            } else {
                format!("{}-{}", r.below(400), r.below(3))
            };
            format!("XADD {key} {trim}{new_id} f {} g v", r.below(1000))
        }
        4 => format!("XDEL {key} {} {}", id(r), id(r)),
        5 => format!(
            "XTRIM {key} {} {} {}",
            r.pick(&["MAXLEN", "MINID"]),
            r.pick(&["~", "="]),
            r.below(30)
        ),
        6 => format!("XGROUP CREATE {key} {group} {} MKSTREAM", id(r)),
        7 => format!(
            "XGROUP {} {key} {group} {consumer}",
            r.pick(&["CREATECONSUMER", "DELCONSUMER", "DESTROY"])
        ),
        8 | 9 => format!(
            "XREADGROUP GROUP {group} {consumer} COUNT {} STREAMS {key} {}",
            r.below(4),
            r.pick(&[">", ">", "0"])
        ),
        10 => format!("XACK {key} {group} {} {}", id(r), id(r)),
        11 => format!(
            "XCLAIM {key} {group} {consumer} 0 {} {} {}",
            id(r),
            id(r),
            r.pick(&["", "FORCE", "JUSTID", "LASTID 50"])
        ),
        12 => format!(
            "XAUTOCLAIM {key} {group} {consumer} 0 {} COUNT {}",
            id(r),
            1 + r.below(4)
        ),
        13 => format!("XSETID {key} {}", id(r)),
        14 => format!("XGROUP SETID {key} {group} {}", id(r)),
        _ => format!("XINFO STREAM {key} FULL"),
    }
}

#[test]
fn random_stream_commands_keep_the_stream_consistent() {
    for seed in 1..=20u64 {
        let mut r = Rng(seed);
        let mut ks = Keyspace::new();
        let mut now: u64 = 1_000;
        let mut last_star: Option<(u64, u64)> = None;
        for step in 0..600 {
            // Mostly forwards; sometimes the clock goes back (another leader's).
            now = match r.below(10) {
                0 => now.saturating_sub(r.below(500)),
                _ => now + r.below(3),
            };
            let line = command(&mut r);
            let reply = show(&run(&mut ks, &line, ctx(now)));
            // Only an explicit XSETID may move the last id back (Redis allows it down to the
            // last entry): ids from `*` count from there.
            if line.starts_with("XSETID s1") && reply == "+OK" {
                last_star = None;
            }
            assert!(
                !(line.contains(" * ") && reply.contains("equal or smaller")),
                "seed {seed} step {step}: {line} refused its own id at {now}: {reply}"
            );
            if line.contains(" * ") && line.contains("s1") && reply.starts_with('"') {
                let text = reply.trim_matches('"');
                let (ms, seq) = text.split_once('-').expect("an id");
                let id = (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap());
                assert!(
                    last_star.is_none_or(|l| id > l),
                    "seed {seed} step {step}: {line} gave {text}"
                );
                last_star = Some(id);
            }
            let back = Keyspace::decode(&ks.encode())
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: after {line}: {e}"));
            assert_eq!(back, ks, "seed {seed} step {step}: {line}");
        }
    }
}
