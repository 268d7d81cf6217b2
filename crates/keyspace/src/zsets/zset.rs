//! The sorted set: member -> score, plus an order-statistic index of (score, member).
//!
//! Ties in score order by member bytes (memcmp), as in Redis. Scores are never NaN, and
//! -0.0 is stored as 0.0 (what Redis's small listpack encoding does), so the two zeros never
//! meet. Members are found through a map keyed by a stable 64-bit hash of the member (then
//! the member itself): that order gives ZSCAN a cursor that survives inserts and deletes.
//!
//! Costs: score lookup O(log n); insert, remove, rank O(log n); the entry at a rank O(log n);
//! k neighbours from a rank, a score or a lex bound O(log n + k).

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;

use super::tree::{self, Entry, Tree};

/// Members sharing one hash (almost always exactly one). `Many` is kept in member order, so
/// the contents (and ZSCAN's order) depend on the members only, not on the history: a
/// replica restored from a snapshot scans like the one that wrote it.
#[derive(Clone, Debug)]
enum Bucket {
    One(Bytes, f64),
    Many(Vec<(Bytes, f64)>),
}

impl Bucket {
    fn find(&self, member: &[u8]) -> Option<f64> {
        match self {
            Bucket::One(m, s) => (m.as_ref() == member).then_some(*s),
            Bucket::Many(v) => v.iter().find(|(m, _)| m.as_ref() == member).map(|p| p.1),
        }
    }
    fn find_entry(&self, member: &[u8]) -> Option<(&Bytes, f64)> {
        match self {
            Bucket::One(m, s) => (m.as_ref() == member).then_some((m, *s)),
            Bucket::Many(v) => v
                .iter()
                .find(|(m, _)| m.as_ref() == member)
                .map(|(m, s)| (m, *s)),
        }
    }
    fn members(&self) -> impl Iterator<Item = (&Bytes, f64)> {
        let (one, many) = match self {
            Bucket::One(m, s) => (Some((m, *s)), &[][..]),
            Bucket::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(|(m, s)| (m, *s)))
    }
}

/// The hash position of a member: in 1..=2^63, so a ZSCAN cursor of 0 means start/done.
pub fn scan_hash(member: &[u8]) -> u64 {
    let h = crate::util::hash64(member) >> 1;
    #[cfg(test)]
    let h = h & HASH_MASK.with(std::cell::Cell::get);
    h + 1
}

#[cfg(test)]
thread_local! {
    /// Tests narrow the hash to make members share buckets (never happens in practice).
    pub static HASH_MASK: std::cell::Cell<u64> = const { std::cell::Cell::new(u64::MAX) };
}

/// A score interval (`zrangespec`): inclusive or exclusive ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub min_ex: bool,
    pub max: f64,
    pub max_ex: bool,
}

impl ScoreRange {
    pub fn above_min(&self, s: f64) -> bool {
        if self.min_ex {
            s > self.min
        } else {
            s >= self.min
        }
    }
    pub fn below_max(&self, s: f64) -> bool {
        if self.max_ex {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a lex interval: `-` (before everything), `+` (after everything), `[m`, `(m`.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

/// A member interval (`zlexrangespec`); meaningful when all scores are equal, as in Redis.
#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn above_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(b) => m >= b.as_ref(),
            LexBound::Excl(b) => m > b.as_ref(),
        }
    }
    pub fn below_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Max => true,
            LexBound::Min => false,
            LexBound::Incl(b) => m <= b.as_ref(),
            LexBound::Excl(b) => m < b.as_ref(),
        }
    }
}

/// A sorted set.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    /// scan_hash(member) -> the members with that hash and their scores.
    members: BTreeMap<u64, Bucket>,
    /// (score, member) in order, with counts for ranks.
    index: Tree,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((a, x), (b, y))| a == b && x.to_bits() == y.to_bits())
    }
}

/// Redis stores -0.0 as 0.0 in its small encoding; NaN never reaches a set.
fn normal(score: f64) -> f64 {
    if score == 0.0 || score.is_nan() {
        0.0
    } else {
        score
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// Builds a set from members and their scores in one go: O(n) for input already in
    /// (score, member) order (snapshots, stored results), O(n log n) otherwise. A member
    /// given twice ends with its last score, as with repeated `insert`s.
    pub fn from_items(items: Vec<(Bytes, f64)>) -> ZSet {
        ZSet::build(items, normal)
    }

    /// Like [`ZSet::from_items`], keeping -0.0 scores (a snapshot of a skiplist set).
    pub fn from_items_signed(items: Vec<(Bytes, f64)>) -> ZSet {
        ZSet::build(items, |s| s)
    }

    fn build(items: Vec<(Bytes, f64)>, normal: fn(f64) -> f64) -> ZSet {
        let mut by_hash: Vec<(u64, Bytes, f64)> = items
            .iter()
            .map(|(m, s)| (scan_hash(m), m.clone(), normal(*s)))
            .collect();
        by_hash.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        if by_hash
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1)
        {
            let mut z = ZSet::new();
            for (m, s) in items {
                z.insert_signed(m, normal(s));
            }
            return z;
        }
        let mut entries: Vec<Entry> = items
            .into_iter()
            .map(|(m, s)| Entry::new(normal(s), m))
            .collect();
        if !entries.windows(2).all(|w| w[0] < w[1]) {
            entries.sort();
        }
        let mut buckets: Vec<(u64, Bucket)> = Vec::with_capacity(by_hash.len());
        for (h, m, s) in by_hash {
            match buckets.last_mut() {
                Some((lh, bucket)) if *lh == h => {
                    // Same hash: the bucket lists members in order (they arrive sorted).
                    if let Bucket::One(m0, s0) = bucket {
                        *bucket = Bucket::Many(vec![(m0.clone(), *s0)]);
                    }
                    if let Bucket::Many(v) = bucket {
                        v.push((m, s));
                    }
                }
                _ => buckets.push((h, Bucket::One(m, s))),
            }
        }
        ZSet {
            members: buckets.into_iter().collect(),
            index: Tree::from_sorted(entries),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.members.get(&scan_hash(member))?.find(member)
    }

    #[allow(dead_code)] // the structure's API (geo), not used by the commands
    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Adds `member` or changes its score; returns the previous score. A NaN score (which
    /// callers must refuse first) is stored as 0; -0.0 is stored as 0.0.
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        self.insert_signed(member, normal(score))
    }

    /// Like [`ZSet::insert`], but keeps a -0.0 score: Redis's large encoding (skiplist)
    /// stores what it is given.
    pub fn insert_signed(&mut self, member: Bytes, score: f64) -> Option<f64> {
        let score = if score.is_nan() { 0.0 } else { score };
        let h = scan_hash(&member);
        let old = match self.members.get_mut(&h) {
            None => {
                self.members.insert(h, Bucket::One(member.clone(), score));
                None
            }
            Some(Bucket::One(m, s)) if *m == member => Some(std::mem::replace(s, score)),
            Some(Bucket::Many(v)) => match v.binary_search_by(|(m, _)| m.cmp(&member)) {
                Ok(at) => Some(std::mem::replace(&mut v[at].1, score)),
                Err(at) => {
                    v.insert(at, (member.clone(), score));
                    None
                }
            },
            Some(bucket) => {
                // A second member with this hash: the bucket becomes a sorted list.
                let mut pair = vec![(member.clone(), score)];
                if let Bucket::One(m, s) = bucket {
                    pair.push((m.clone(), *s));
                }
                pair.sort_by(|a, b| a.0.cmp(&b.0));
                *bucket = Bucket::Many(pair);
                None
            }
        };
        if let Some(old) = old {
            if old.to_bits() == score.to_bits() {
                return Some(old);
            }
            self.index.remove(&Entry::new(old, member.clone()));
        }
        self.index.insert(Entry::new(score, member));
        old
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let h = scan_hash(member);
        let bucket = self.members.get_mut(&h)?;
        let (stored, score) = match bucket {
            Bucket::One(m, s) if m.as_ref() == member => {
                let pair = (m.clone(), *s);
                self.members.remove(&h);
                pair
            }
            Bucket::One(..) => return None,
            Bucket::Many(v) => {
                let at = v.iter().position(|(m, _)| m.as_ref() == member)?;
                let pair = v.remove(at);
                if v.len() == 1 {
                    let (m, s) = v.remove(0);
                    *bucket = Bucket::One(m, s);
                }
                pair
            }
        };
        self.index.remove(&Entry::new(score, stored));
        Some(score)
    }

    /// The 0-based rank of `member` in ascending order (ZRANK).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let (m, s) = self.members.get(&scan_hash(member))?.find_entry(member)?;
        Some(self.index.rank(&Entry::new(s, m.clone())))
    }

    /// The member and score at 0-based ascending rank `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&Bytes, f64)> {
        self.index.get(rank).map(|e| (&e.member, e.score))
    }

    /// All members in ascending (score, member) order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.index.iter_from(0))
    }

    /// Members in ascending order from rank `rank`.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        Iter(self.index.iter_from(rank))
    }

    /// Members in descending order from rank `rank` (inclusive) down to rank 0.
    pub fn iter_rev_from(&self, rank: usize) -> Iter<'_> {
        Iter(self.index.iter_rev_from(rank))
    }

    /// The members whose ranks are in `ranks`, ascending, or descending when `rev`.
    pub fn range(&self, ranks: Range<usize>, rev: bool) -> std::iter::Take<Iter<'_>> {
        let n = ranks.end.saturating_sub(ranks.start);
        if rev && n > 0 {
            self.iter_rev_from(ranks.end - 1).take(n)
        } else {
            self.iter_from(ranks.start).take(n)
        }
    }

    /// Redis's index pair (ZRANGE start stop: negative counts from the end, inclusive) as a
    /// range of ascending ranks; empty when nothing is selected.
    pub fn index_range(&self, start: i64, stop: i64) -> Range<usize> {
        let len = self.len() as i64;
        let mut start = if start < 0 {
            len.saturating_add(start)
        } else {
            start
        };
        let mut stop = if stop < 0 {
            len.saturating_add(stop)
        } else {
            stop
        };
        if start < 0 {
            start = 0;
        }
        if start > stop || start >= len {
            return 0..0;
        }
        if stop >= len {
            stop = len - 1;
        }
        start as usize..stop as usize + 1
    }

    /// The ranks of the members whose score is in `r`.
    pub fn score_ranks(&self, r: &ScoreRange) -> Range<usize> {
        let lo = self.index.count_while(|e| !r.above_min(e.score));
        let hi = self.index.count_while(|e| r.below_max(e.score));
        lo..hi.max(lo)
    }

    /// The ranks of the members in the lex range `r` (all scores assumed equal, as in Redis).
    pub fn lex_ranks(&self, r: &LexRange) -> Range<usize> {
        let lo = self.index.count_while(|e| !r.above_min(&e.member));
        let hi = self.index.count_while(|e| r.below_max(&e.member));
        lo..hi.max(lo)
    }

    /// Members in hash order from hash position `cursor` (ZSCAN), each with its position.
    pub fn scan_from(&self, cursor: u64) -> impl Iterator<Item = (u64, &Bytes, f64)> {
        self.members
            .range(cursor..)
            .flat_map(|(&h, b)| b.members().map(move |(m, s)| (h, m, s)))
    }

    /// Checks that the map and the index agree (tests).
    #[cfg(test)]
    pub fn check(&self) {
        self.index.check();
        let n: usize = self.members.values().map(|b| b.members().count()).sum();
        assert_eq!(n, self.len());
        for (m, s) in self.iter() {
            assert_eq!(self.score(m).map(f64::to_bits), Some(s.to_bits()));
        }
    }
}

/// Members with their scores, in index order.
pub struct Iter<'a>(tree::Iter<'a>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Bytes, f64);
    fn next(&mut self) -> Option<(&'a Bytes, f64)> {
        self.0.next().map(|e| (&e.member, e.score))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}
