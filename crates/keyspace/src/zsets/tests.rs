// Goal: the sorted-set structure answers exactly like a naive ordered model, and ranks stay
// cheap on big sets. Method: thousands of seeded random operations (insert, re-score,
// remove, rank, select, ranges by rank, score and lex, cursors both ways) checked against a
// BTreeSet of (score, member) after each step, with the B+tree's invariants checked along
// the way; then a 100,000-member set ranked and selected at many points.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::tree::Entry;
use super::zset::{LexBound, LexRange, ScoreRange, ZSet};
use crate::util::Rng;

struct Model {
    scores: BTreeMap<Bytes, f64>,
    order: BTreeSet<Entry>,
}

impl Model {
    fn insert(&mut self, m: Bytes, s: f64) -> Option<f64> {
        let s = if s == 0.0 { 0.0 } else { s };
        let old = self.scores.insert(m.clone(), s);
        if let Some(o) = old {
            self.order.remove(&Entry::new(o, m.clone()));
        }
        self.order.insert(Entry::new(s, m));
        old
    }
    fn remove(&mut self, m: &[u8]) -> Option<f64> {
        let s = self.scores.remove(m)?;
        self.order.remove(&Entry::new(s, Bytes::copy_from_slice(m)));
        Some(s)
    }
    fn sorted(&self) -> Vec<(Bytes, f64)> {
        self.order
            .iter()
            .map(|e| (e.member.clone(), e.score))
            .collect()
    }
}

fn member(rng: &mut Rng, space: usize) -> Bytes {
    Bytes::from(format!("m{}", rng.below(space)))
}

fn score(rng: &mut Rng) -> f64 {
    // Few distinct scores so ties (ordered by member) are common; sometimes infinities.
    match rng.below(20) {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => -0.0,
        _ => (rng.below(40) as f64 - 20.0) / 4.0,
    }
}

fn collect<'a>(it: impl Iterator<Item = (&'a Bytes, f64)>) -> Vec<(Bytes, f64)> {
    it.map(|(m, s)| (m.clone(), s)).collect()
}

#[test]
fn structure_matches_a_naive_model() {
    model_run(0..4);
}

// Members sharing a hash bucket (a 4-bit hash here) behave the same, and ZSCAN's walk still
// visits every member once, in an order that depends on the members only.
#[test]
fn shared_hash_buckets_match_the_model() {
    super::zset::HASH_MASK.with(|m| m.set(0xf));
    model_run(4..6);
    let mut a = ZSet::new();
    let mut b = ZSet::new();
    let mut rng = Rng::new(5);
    for i in 0..300 {
        let m = Bytes::from(format!("x{i}"));
        a.insert(m.clone(), score(&mut rng));
        if i % 3 == 0 {
            a.remove(format!("x{}", i / 2).as_bytes());
        }
    }
    // b: the same members inserted in another order.
    let members: Vec<(Bytes, f64)> = collect(a.iter());
    for (m, s) in members.iter().rev() {
        b.insert(m.clone(), *s);
    }
    let scan = |z: &ZSet| -> Vec<(u64, Bytes)> {
        z.scan_from(0).map(|(h, m, _)| (h, m.clone())).collect()
    };
    assert_eq!(scan(&a), scan(&b));
    assert_eq!(scan(&a).len(), a.len());
    assert!(scan(&a).windows(2).all(|w| w[0] < w[1]));
    let bulk = ZSet::from_items(members);
    bulk.check();
    assert_eq!(scan(&bulk), scan(&a));
    super::zset::HASH_MASK.with(|m| m.set(u64::MAX));
}

#[allow(clippy::too_many_lines)]
fn model_run(seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let mut rng = Rng::new(seed);
        let mut z = ZSet::new();
        let mut model = Model {
            scores: BTreeMap::new(),
            order: BTreeSet::new(),
        };
        // Small member spaces exercise splits and merges back and forth.
        let space = [50, 300, 3000, 20, 200, 2000][seed as usize];
        for step in 0..6000 {
            match rng.below(10) {
                0..=4 => {
                    let (m, s) = (member(&mut rng, space), score(&mut rng));
                    assert_eq!(z.insert(m.clone(), s), model.insert(m, s));
                }
                5..=7 => {
                    let m = member(&mut rng, space);
                    assert_eq!(z.remove(&m), model.remove(&m));
                }
                _ => {
                    // Remove a run by rank, as ZREMRANGEBYRANK does.
                    let sorted = model.sorted();
                    if !sorted.is_empty() {
                        let start = rng.below(sorted.len());
                        let n = rng.below(40).min(sorted.len() - start);
                        let doomed = collect(z.range(start..start + n, false));
                        assert_eq!(doomed, sorted[start..start + n].to_vec());
                        for (m, _) in doomed {
                            assert!(z.remove(&m).is_some());
                            model.remove(&m);
                        }
                    }
                }
            }
            assert_eq!(z.len(), model.scores.len());
            if step % 97 == 0 {
                z.check();
            }
            if step % 7 != 0 {
                continue;
            }
            let sorted = model.sorted();
            let n = sorted.len();
            // rank and score of every member, select of every rank (on small sets).
            if n < 400 || step % 70 == 0 {
                for (i, (m, s)) in sorted.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(i));
                    assert_eq!(z.score(m), Some(*s));
                    assert_eq!(
                        z.get_by_rank(i).map(|(m, s)| (m.clone(), s)),
                        Some((m.clone(), *s))
                    );
                }
            }
            assert_eq!(z.rank(b"absent"), None);
            assert_eq!(collect(z.iter()), sorted);
            // Cursors from a random rank, both ways.
            let from = rng.below(n + 2);
            assert_eq!(collect(z.iter_from(from)), sorted[from.min(n)..].to_vec());
            let mut rev: Vec<_> = sorted[..(from + 1).min(n)].to_vec();
            rev.reverse();
            assert_eq!(collect(z.iter_rev_from(from)), rev);
            // Index ranges as ZRANGE reads them.
            let (a, b) = (
                rng.below(2 * n + 3) as i64 - n as i64 - 1,
                rng.below(2 * n + 3) as i64 - n as i64 - 1,
            );
            let r = z.index_range(a, b);
            let (mut lo, mut hi) = (
                if a < 0 { n as i64 + a } else { a },
                if b < 0 { n as i64 + b } else { b },
            );
            lo = lo.max(0);
            hi = hi.min(n as i64 - 1);
            let want = if lo > hi {
                0..0
            } else {
                lo as usize..hi as usize + 1
            };
            assert_eq!(r, want);
            // Score ranges with every kind of end.
            let range = ScoreRange {
                min: score(&mut rng),
                min_ex: rng.below(2) == 0,
                max: score(&mut rng),
                max_ex: rng.below(2) == 0,
            };
            let want: Vec<_> = sorted
                .iter()
                .filter(|(_, s)| range.above_min(*s) && range.below_max(*s))
                .cloned()
                .collect();
            let ranks = z.score_ranks(&range);
            assert_eq!(collect(z.range(ranks.clone(), false)), want, "{range:?}");
            let mut want_rev = want.clone();
            want_rev.reverse();
            assert_eq!(collect(z.range(ranks, true)), want_rev);
        }
    }
}

#[test]
fn lex_ranges_match_a_naive_model() {
    let mut rng = Rng::new(99);
    let mut z = ZSet::new();
    let mut all = BTreeSet::new();
    for _ in 0..3000 {
        let m = Bytes::from(format!("{:03}", rng.below(700)));
        if rng.below(3) == 0 {
            z.remove(&m);
            all.remove(&m);
        } else {
            z.insert(m.clone(), 0.0);
            all.insert(m);
        }
        let bound = |rng: &mut Rng| {
            let m = Bytes::from(format!("{:03}", rng.below(700)));
            match rng.below(6) {
                0 => LexBound::Min,
                1 => LexBound::Max,
                2 | 3 => LexBound::Incl(m),
                _ => LexBound::Excl(m),
            }
        };
        let r = LexRange {
            min: bound(&mut rng),
            max: bound(&mut rng),
        };
        let want: Vec<Bytes> = all
            .iter()
            .filter(|m| r.above_min(m) && r.below_max(m))
            .cloned()
            .collect();
        let got: Vec<Bytes> = z
            .range(z.lex_ranks(&r), false)
            .map(|(m, _)| m.clone())
            .collect();
        assert_eq!(got, want, "{r:?}");
    }
    z.check();
}

#[test]
fn ranks_in_a_big_set() {
    let mut z = ZSet::new();
    let n = 100_000usize;
    // Inserted in a scrambled order, scores with many ties.
    for i in 0..n {
        let k = (i * 7919) % n;
        z.insert(Bytes::from(format!("member:{k:06}")), (k / 10) as f64);
    }
    assert_eq!(z.len(), n);
    z.check();
    for k in (0..n).step_by(997) {
        let m = format!("member:{k:06}");
        assert_eq!(z.rank(m.as_bytes()), Some(k));
        let (got, s) = z.get_by_rank(k).unwrap();
        assert_eq!(got.as_ref(), m.as_bytes());
        assert_eq!(s, (k / 10) as f64);
    }
    let r = ScoreRange {
        min: 5000.0,
        min_ex: false,
        max: 5001.0,
        max_ex: true,
    };
    assert_eq!(z.score_ranks(&r), 50_000..50_010);
    assert_eq!(z.iter_from(99_998).count(), 2);
    assert_eq!(z.iter_rev_from(5).count(), 6);
    // Removing half keeps ranks right.
    for k in (0..n).step_by(2) {
        z.remove(format!("member:{k:06}").as_bytes());
    }
    z.check();
    assert_eq!(z.len(), n / 2);
    assert_eq!(z.rank(b"member:099999"), Some(n / 2 - 1));
    assert_eq!(z.rank(b"member:000001"), Some(0));
}

// Building in one go (snapshots, stored results) gives the same set as inserting one by one,
// for every size around the node limits, sorted or not, with repeated members or not.
#[test]
fn bulk_build_matches_inserts() {
    let mut rng = Rng::new(3);
    for n in (0..200).chain([1000, 4095, 4096, 4097, 50_000]) {
        let items: Vec<(Bytes, f64)> = (0..n)
            .map(|_| (member(&mut rng, n.max(1) * 2), score(&mut rng)))
            .collect();
        let mut one_by_one = ZSet::new();
        for (m, s) in &items {
            one_by_one.insert(m.clone(), *s);
        }
        // Distinct members in order, as a snapshot holds them.
        let sorted = collect(one_by_one.iter());
        let bulk = ZSet::from_items(sorted.clone());
        bulk.check();
        assert_eq!(bulk, one_by_one, "n={n}");
        assert_eq!(collect(bulk.iter()), sorted);
        // Any order, repeats allowed: the last score wins.
        let any = ZSet::from_items(items);
        any.check();
        assert_eq!(any, one_by_one, "n={n} unsorted");
        for (i, (m, _)) in sorted.iter().enumerate().step_by(97) {
            assert_eq!(bulk.rank(m), Some(i));
        }
    }
}
