//! HyperLogLog commands (Redis's `hyperloglog` group), PFDEBUG and PFSELFTEST apart (Redis's
//! internals, not the data type). GET on an HLL key (from the strings family) compares the
//! representation byte for byte, which is Redis's documented format.

use super::gen::{on_key, Gen, HLLS, STRINGS};
use super::Cmd;

fn hll_key(g: &mut Gen) -> String {
    if g.chance(10) {
        g.key(STRINGS)
    } else {
        g.key(HLLS)
    }
}

fn element(g: &mut Gen) -> String {
    if g.chance(50) {
        g.member()
    } else {
        format!("e{}", g.range(0, 400))
    }
}

pub fn hll(g: &mut Gen) -> Cmd {
    match g.rng.below(10) {
        0..=4 => {
            let mut c = on_key("PFADD", &hll_key(g));
            let most = if g.chance(20) { 60 } else { 4 };
            for _ in 0..g.rng.below(most) {
                c.arg(element(g));
            }
            c
        }
        5..=7 => {
            let mut c = Cmd::new("PFCOUNT");
            for _ in 0..1 + g.rng.below(3) {
                c.key(&hll_key(g));
            }
            c
        }
        _ => {
            let mut c = Cmd::new("PFMERGE");
            for _ in 0..1 + g.rng.below(3) {
                c.key(&hll_key(g));
            }
            c
        }
    }
}
