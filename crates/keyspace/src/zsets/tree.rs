//! A counted B+tree of (score, member) entries: the ordered index of a sorted set.
//!
//! Leaves hold entries in order; an inner node holds, for each child, the number of entries
//! below it and the child's largest entry. The counts give rank and select in O(log n), the
//! largest entries steer searches, and a cursor walks k neighbours in O(log n + k). Nodes
//! hold at most `MAX` entries or children and (except the root) at least `MIN`, so the
//! height stays logarithmic. No unsafe code, no randomness: the shape is a pure function of
//! the operations applied.

use std::cmp::Ordering;

use bytes::Bytes;

/// Largest number of entries in a leaf, or of children in an inner node.
const MAX: usize = 64;
/// Smallest number below which a non-root node is merged with (or refilled from) a sibling.
const MIN: usize = MAX / 4;

/// One entry of the index: ordered by score, then by member bytes (memcmp), as Redis does.
/// Scores are never NaN (callers guarantee it). -0.0 and 0.0 compare equal, as in C (a
/// skiplist set keeps a -0 score), so their members order by bytes.
#[derive(Clone, Debug)]
pub struct Entry {
    pub score: f64,
    pub member: Bytes,
}

impl Entry {
    pub fn new(score: f64, member: Bytes) -> Entry {
        Entry { score, member }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| self.member.cmp(&other.member))
    }
}

#[derive(Clone, Debug)]
struct Child {
    /// Entries in the subtree.
    count: usize,
    /// The subtree's largest entry (steers searches without descending).
    last: Entry,
    node: Node,
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(Vec<Entry>),
    Inner(Vec<Child>),
}

impl Node {
    fn width(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(v) => v.len(),
        }
    }
    fn count(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(v) => v.iter().map(|c| c.count).sum(),
        }
    }
    fn last(&self) -> Option<&Entry> {
        match self {
            Node::Leaf(v) => v.last(),
            Node::Inner(v) => v.last().map(|c| &c.last),
        }
    }
    /// Wraps a non-empty node as a child.
    fn into_child(self) -> Child {
        let last = self
            .last()
            .cloned()
            .unwrap_or(Entry::new(0.0, Bytes::new()));
        Child {
            count: self.count(),
            last,
            node: self,
        }
    }

    /// Inserts `e` (not present); returns the new right half if the node split.
    fn insert(&mut self, e: Entry) -> Option<Node> {
        match self {
            Node::Leaf(items) => {
                let at = items.partition_point(|x| *x < e);
                items.insert(at, e);
                if items.len() > MAX {
                    let right = items.split_off(items.len() / 2);
                    return Some(Node::Leaf(right));
                }
                None
            }
            Node::Inner(children) => {
                let at = children
                    .partition_point(|c| c.last < e)
                    .min(children.len() - 1);
                let child = &mut children[at];
                let split = child.node.insert(e);
                child.count += 1;
                if let Some(right) = split {
                    child.count -= right.count();
                    child.last = child
                        .node
                        .last()
                        .cloned()
                        .unwrap_or_else(|| child.last.clone());
                    children.insert(at + 1, right.into_child());
                } else if let Some(last) = child.node.last() {
                    if *last != child.last {
                        child.last = last.clone();
                    }
                }
                if children.len() > MAX {
                    let right = children.split_off(children.len() / 2);
                    return Some(Node::Inner(right));
                }
                None
            }
        }
    }

    /// Removes `e` if present (true); children left below `MIN` are rebalanced.
    fn remove(&mut self, e: &Entry) -> bool {
        match self {
            Node::Leaf(items) => match items.binary_search(e) {
                Ok(at) => {
                    items.remove(at);
                    true
                }
                Err(_) => false,
            },
            Node::Inner(children) => {
                let at = children.partition_point(|c| c.last < *e);
                if at == children.len() || !children[at].node.remove(e) {
                    return false;
                }
                let child = &mut children[at];
                child.count -= 1;
                if let Some(last) = child.node.last() {
                    if *last != child.last {
                        child.last = last.clone();
                    }
                }
                if child.node.width() < MIN && children.len() > 1 {
                    rebalance(children, at);
                }
                true
            }
        }
    }
}

/// Joins the under-full child `at` with a neighbour, then splits the pair evenly again if
/// it holds more than `MAX` (a borrow), so both halves end with at least `MIN`.
fn rebalance(children: &mut Vec<Child>, at: usize) {
    let left = if at + 1 < children.len() { at } else { at - 1 };
    let right = children.remove(left + 1);
    let pair = &mut children[left];
    let right_count = right.count;
    match (&mut pair.node, right.node) {
        (Node::Leaf(a), Node::Leaf(mut b)) => a.append(&mut b),
        (Node::Inner(a), Node::Inner(mut b)) => a.append(&mut b),
        // Siblings are always at the same depth; were they not, keep both as they are.
        (_, other) => {
            let other = other.into_child();
            children.insert(left + 1, other);
            return;
        }
    }
    if pair.node.width() > MAX {
        let half = pair.node.width() / 2;
        let tail = match &mut pair.node {
            Node::Leaf(a) => Node::Leaf(a.split_off(half)),
            Node::Inner(a) => Node::Inner(a.split_off(half)),
        };
        let head = std::mem::replace(&mut pair.node, Node::Leaf(Vec::new()));
        *pair = head.into_child();
        children.insert(left + 1, tail.into_child());
    } else {
        // The right child's own `last` may be stale if it was just emptied: ask the node.
        pair.count += right_count;
        if let Some(last) = pair.node.last() {
            pair.last = last.clone();
        }
    }
}

/// Splits `items` into runs of nearly equal length, about `MAX * 3 / 4` each: with two runs
/// or more, every run is longer than `MAX * 3 / 8` (at least `MIN`) and at most `MAX * 3 / 4`.
fn pack<T>(items: Vec<T>) -> Vec<Vec<T>> {
    let target = MAX * 3 / 4;
    let runs = items.len().div_ceil(target).max(1);
    let (base, extra) = (items.len() / runs, items.len() % runs);
    let mut out = Vec::with_capacity(runs);
    let mut it = items.into_iter();
    for r in 0..runs {
        let n = base + usize::from(r < extra);
        out.push(it.by_ref().take(n).collect());
    }
    out
}

/// The ordered index: a counted B+tree.
#[derive(Clone, Debug)]
pub struct Tree {
    root: Node,
    len: usize,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree {
            root: Node::Leaf(Vec::new()),
            len: 0,
        }
    }
}

impl Tree {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Builds a tree from strictly increasing entries in O(n): nodes filled to about
    /// three quarters, every one between `MIN` and `MAX` (the root may hold fewer).
    pub fn from_sorted(entries: Vec<Entry>) -> Tree {
        let len = entries.len();
        let mut level: Vec<Node> = pack(entries).into_iter().map(Node::Leaf).collect();
        while level.len() > 1 {
            let children: Vec<Child> = level.into_iter().map(Node::into_child).collect();
            level = pack(children).into_iter().map(Node::Inner).collect();
        }
        Tree {
            root: level.pop().unwrap_or(Node::Leaf(Vec::new())),
            len,
        }
    }

    /// Inserts an entry that is not already present.
    pub fn insert(&mut self, e: Entry) {
        if let Some(right) = self.root.insert(e) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            self.root = Node::Inner(vec![left.into_child(), right.into_child()]);
        }
        self.len += 1;
    }

    /// Removes an entry; false if it was not there.
    pub fn remove(&mut self, e: &Entry) -> bool {
        if !self.root.remove(e) {
            return false;
        }
        self.len -= 1;
        // A root left with one child hands over to it (the tree gets shorter).
        loop {
            let only = match &mut self.root {
                Node::Inner(children) if children.len() == 1 => children.pop(),
                _ => None,
            };
            match only {
                Some(child) => self.root = child.node,
                None => break,
            }
        }
        true
    }

    /// The number of leading entries for which `pred` holds; `pred` must be true on a prefix
    /// of the order and false after it (e.g. "entry < x", "score <= max"). O(log n).
    pub fn count_while(&self, pred: impl Fn(&Entry) -> bool) -> usize {
        let mut node = &self.root;
        let mut acc = 0;
        loop {
            match node {
                Node::Leaf(items) => return acc + items.partition_point(&pred),
                Node::Inner(children) => {
                    let at = children.partition_point(|c| pred(&c.last));
                    acc += children[..at].iter().map(|c| c.count).sum::<usize>();
                    match children.get(at) {
                        Some(c) => node = &c.node,
                        None => return acc,
                    }
                }
            }
        }
    }

    /// The 0-based rank of an entry that is present (entries before it otherwise).
    pub fn rank(&self, e: &Entry) -> usize {
        self.count_while(|x| x < e)
    }

    /// The entry at 0-based rank `i`.
    pub fn get(&self, mut i: usize) -> Option<&Entry> {
        if i >= self.len {
            return None;
        }
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => return items.get(i),
                Node::Inner(children) => {
                    let mut at = 0;
                    while at + 1 < children.len() && i >= children[at].count {
                        i -= children[at].count;
                        at += 1;
                    }
                    node = &children[at].node;
                }
            }
        }
    }

    /// The leaf holding rank `i` (or the last leaf if `i == len`), the index inside it, and
    /// the path of (siblings, index) from the root down to it.
    fn seek(&self, mut i: usize) -> (&[Entry], usize, Path<'_>) {
        let mut path = Vec::new();
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => return (items, i, path),
                Node::Inner(children) => {
                    let mut at = 0;
                    while at + 1 < children.len() && i >= children[at].count {
                        i -= children[at].count;
                        at += 1;
                    }
                    path.push((children.as_slice(), at));
                    node = &children[at].node;
                }
            }
        }
    }

    /// Entries in ascending order starting at rank `from`.
    pub fn iter_from(&self, from: usize) -> Iter<'_> {
        let (leaf, at, path) = self.seek(from.min(self.len));
        Iter {
            path,
            leaf,
            next: at,
            rev: false,
            left: self.len.saturating_sub(from),
        }
    }

    /// Entries in descending order starting at rank `from` (inclusive, clamped to the last).
    pub fn iter_rev_from(&self, from: usize) -> Iter<'_> {
        if self.len == 0 {
            return Iter {
                path: Vec::new(),
                leaf: &[],
                next: 0,
                rev: true,
                left: 0,
            };
        }
        let from = from.min(self.len - 1);
        let (leaf, at, path) = self.seek(from);
        Iter {
            path,
            leaf,
            next: at + 1,
            rev: true,
            left: from + 1,
        }
    }

    /// Checks every structural invariant (tests): counts, largest entries, order, fill, depth.
    #[cfg(test)]
    pub fn check(&self) {
        fn walk(node: &Node, root: bool, depth: usize, leaf_depth: &mut Option<usize>) -> usize {
            if !root {
                assert!(
                    node.width() >= MIN,
                    "under-full node of width {}",
                    node.width()
                );
            }
            assert!(node.width() <= MAX);
            match node {
                Node::Leaf(items) => {
                    assert!(items.windows(2).all(|w| w[0] < w[1]), "leaf out of order");
                    assert_eq!(
                        *leaf_depth.get_or_insert(depth),
                        depth,
                        "leaves at different depths"
                    );
                    items.len()
                }
                Node::Inner(children) => {
                    assert!(children.len() >= 2 || !root || children.is_empty());
                    let mut total = 0;
                    for c in children {
                        let n = walk(&c.node, false, depth + 1, leaf_depth);
                        assert_eq!(n, c.count, "stale count");
                        assert_eq!(c.node.last(), Some(&c.last), "stale largest entry");
                        total += n;
                    }
                    assert!(children.windows(2).all(|w| w[0].last < w[1].last));
                    total
                }
            }
        }
        let mut leaf_depth = None;
        assert_eq!(walk(&self.root, true, 0, &mut leaf_depth), self.len);
    }
}

/// (siblings, index) at each level from the root down to a leaf.
type Path<'a> = Vec<(&'a [Child], usize)>;

/// A cursor over the tree, ascending or descending; O(1) amortised per step.
pub struct Iter<'a> {
    /// From the root down to the current leaf.
    path: Path<'a>,
    leaf: &'a [Entry],
    /// Ascending: index of the next entry in `leaf`. Descending: one past it.
    next: usize,
    rev: bool,
    left: usize,
}

impl<'a> Iter<'a> {
    /// Moves to the neighbouring leaf (right when ascending); false at the end.
    fn step_leaf(&mut self) -> bool {
        // Climb to the first level where a sibling exists in the walking direction.
        loop {
            let Some((siblings, at)) = self.path.pop() else {
                return false;
            };
            let next = if self.rev {
                at.checked_sub(1)
            } else {
                Some(at + 1).filter(|&n| n < siblings.len())
            };
            let Some(next) = next else {
                continue;
            };
            self.path.push((siblings, next));
            let mut node = &siblings[next].node;
            // Descend to the nearest leaf on that side.
            loop {
                match node {
                    Node::Leaf(items) => {
                        self.leaf = items;
                        self.next = if self.rev { items.len() } else { 0 };
                        return true;
                    }
                    Node::Inner(children) => {
                        let at = if self.rev { children.len() - 1 } else { 0 };
                        self.path.push((children.as_slice(), at));
                        node = &children[at].node;
                    }
                }
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        if self.left == 0 {
            return None;
        }
        loop {
            if self.rev {
                if self.next > 0 {
                    self.next -= 1;
                    self.left -= 1;
                    return self.leaf.get(self.next);
                }
            } else if self.next < self.leaf.len() {
                self.next += 1;
                self.left -= 1;
                return self.leaf.get(self.next - 1);
            }
            if !self.step_leaf() {
                self.left = 0;
                return None;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}
