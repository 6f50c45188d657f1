//! The index of a sorted set: member → score in a hash table (ZSCORE, ZADD's lookup in O(1)), and
//! the (score, member) order in a counted B+tree (rank, rank ranges, score and lex bounds, pops in
//! O(log N)).
//!
//! # Layout, and why
//!
//! Each member's bytes live once, in one heap block holding a LEB128 length and the bytes
//! ([`Member`], a thin 8-byte pointer). The hash table owns the blocks; the tree's entries are
//! (score, pointer) pairs of 16 bytes that borrow them. Leaves hold up to [`LEAF_MAX`] entries, inner
//! nodes up to [`INNER_MAX`] children, each child with the number of entries below it (its count,
//! which gives ranks) and its last entry (which steers searches). With 1M members this costs about
//! 16 bytes of member block, 17–34 of hash slot and about 23 of tree per member, where a skiplist
//! with a separate dict entry costs twice that.
//!
//! Every change goes through [`ZIndex`]'s methods, which keep three rules that make the borrowed
//! pointers sound: a member is removed from the tree before its block is freed; every node on the
//! path of an insert or removal refreshes its `last` entry, so no `last` names a removed member;
//! and nothing hands out a pointer, only slices borrowed from `&self`.
//!
//! Appends at either end split a full leaf unevenly (the full leaf stays full), so sets filled in
//! order (loading, cloning, ZADD with growing scores) have full leaves; random inserts leave them
//! about 70% full. Removals merge a node that fell under a quarter with a neighbour.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;

use super::value::{FastState, ScoreKey};

/// Entries per leaf: 64 × 16 bytes fill a 1 KiB block exactly.
const LEAF_MAX: usize = 64;
/// Children per inner node.
const INNER_MAX: usize = 64;

// ---------------------------------------------------------------------------------------------
// Member blocks
// ---------------------------------------------------------------------------------------------

/// A member's bytes in one heap block: LEB128 length, then the bytes. Owned by the hash table.
struct Member(NonNull<u8>);

// A Member owns its block alone and never changes it, like a Box<[u8]>.
unsafe impl Send for Member {}
unsafe impl Sync for Member {}

fn header_len(len: usize) -> usize {
    let mut n = 1;
    let mut v = len >> 7;
    while v != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// The bytes of the block at `p`.
///
/// # Safety
/// `p` must point to a live block made by [`Member::new`]; the slice must not outlive it.
unsafe fn block_bytes<'a>(p: NonNull<u8>) -> &'a [u8] {
    let base = p.as_ptr();
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = *base.add(i);
        len |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    std::slice::from_raw_parts(base.add(i), len)
}

impl Member {
    fn new(bytes: &[u8]) -> Member {
        let h = header_len(bytes.len());
        let layout = Self::layout(h + bytes.len());
        // SAFETY: the layout has a non-zero size (h >= 1); every byte is written below.
        unsafe {
            let p = alloc(layout);
            let Some(p) = NonNull::new(p) else {
                handle_alloc_error(layout)
            };
            let mut v = bytes.len();
            let mut i = 0;
            loop {
                let low = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    *p.as_ptr().add(i) = low;
                    break;
                }
                *p.as_ptr().add(i) = low | 0x80;
                i += 1;
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr().add(h), bytes.len());
            Member(p)
        }
    }

    fn layout(size: usize) -> Layout {
        match Layout::from_size_align(size, 1) {
            Ok(l) => l,
            // Only for sizes near isize::MAX, which no argument can reach.
            Err(_) => handle_alloc_error(Layout::new::<u8>()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: the block lives as long as self.
        unsafe { block_bytes(self.0) }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let len = self.as_slice().len();
        // SAFETY: allocated in `new` with this same layout.
        unsafe { dealloc(self.0.as_ptr(), Self::layout(header_len(len) + len)) }
    }
}

impl Hash for Member {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The same as hashing the `[u8]` it borrows as, so lookups by slice work.
        self.as_slice().hash(state)
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for Member {}

impl Borrow<[u8]> for Member {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

// ---------------------------------------------------------------------------------------------
// The counted B+tree
// ---------------------------------------------------------------------------------------------

/// A (score, member) pair in the tree; `member` borrows a block the hash table owns.
#[derive(Clone, Copy)]
struct Entry {
    score: f64,
    member: NonNull<u8>,
}

impl Entry {
    fn bytes<'a>(&self) -> &'a [u8] {
        // SAFETY: entries only exist in a ZIndex's tree, whose members outlive them (module docs);
        // callers tie the slice to a borrow of that ZIndex.
        unsafe { block_bytes(self.member) }
    }

    fn cmp_to(&self, score: f64, member: &[u8]) -> Ordering {
        ScoreKey(self.score)
            .cmp(&ScoreKey(score))
            .then_with(|| self.bytes().cmp(member))
    }
}

enum Node {
    Leaf(Vec<Entry>),
    Inner(Vec<Child>),
}

struct Child {
    /// Entries in the subtree.
    count: usize,
    /// Its last (greatest) entry.
    last: Entry,
    node: Node,
}

impl Node {
    /// Entries or children held directly (not the subtree's count).
    fn width(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(c) => c.len(),
        }
    }

    fn last(&self) -> Option<Entry> {
        match self {
            Node::Leaf(v) => v.last().copied(),
            Node::Inner(c) => c.last().map(|c| c.last),
        }
    }

    fn max_width(&self) -> usize {
        match self {
            Node::Leaf(_) => LEAF_MAX,
            Node::Inner(_) => INNER_MAX,
        }
    }

    fn child(node: Node, count: usize) -> Option<Child> {
        let last = node.last()?;
        Some(Child { count, last, node })
    }
}

/// Inserts `item` at `pos` of a node's vector holding at most `cap` items. A full vector splits
/// first: an insert at the end moves just the new item to a new right part, one at the front keeps
/// just it on the left, anything else cuts in half. Returns the right part of a split.
///
/// Vectors grow by doubling up to `cap` and never past it, so a small set stays small and a full
/// leaf is exactly one `cap`-sized block.
fn insert_split<T>(v: &mut Vec<T>, pos: usize, item: T, cap: usize) -> Option<Vec<T>> {
    if v.len() < cap {
        if v.len() == v.capacity() {
            let want = (v.len() * 2).clamp(4, cap);
            v.reserve_exact(want - v.len());
        }
        v.insert(pos, item);
        return None;
    }
    let mut right = Vec::with_capacity(cap);
    if pos == v.len() {
        right.push(item);
    } else if pos == 0 {
        right.append(v);
        v.push(item);
    } else {
        let half = v.len() / 2;
        right.extend(v.drain(half..));
        if pos <= half {
            v.insert(pos, item);
        } else {
            right.insert(pos - half, item);
        }
    }
    Some(right)
}

/// Inserts `e` below `node`; returns the new right sibling when `node` split.
fn insert_rec(node: &mut Node, e: Entry) -> Option<Child> {
    match node {
        Node::Leaf(v) => {
            let pos = v.partition_point(|x| x.cmp_to(e.score, e.bytes()) == Ordering::Less);
            let right = insert_split(v, pos, e, LEAF_MAX)?;
            let n = right.len();
            Node::child(Node::Leaf(right), n)
        }
        Node::Inner(children) => {
            let mut idx =
                children.partition_point(|c| c.last.cmp_to(e.score, e.bytes()) == Ordering::Less);
            if idx == children.len() {
                idx -= 1;
            }
            let c = &mut children[idx];
            let split = insert_rec(&mut c.node, e);
            c.count += 1;
            let Some(new) = split else {
                if let Some(l) = c.node.last() {
                    c.last = l;
                }
                return None;
            };
            c.count -= new.count;
            if let Some(l) = c.node.last() {
                c.last = l;
            }
            let right = insert_split(children, idx + 1, new, INNER_MAX)?;
            let n = right.iter().map(|c| c.count).sum();
            Node::child(Node::Inner(right), n)
        }
    }
}

/// Where a removal looks: by key, or by rank.
#[derive(Clone, Copy)]
enum Target<'a> {
    Key(f64, &'a [u8]),
    Rank(usize),
}

/// Removes the target below `node`; returns the removed entry.
fn remove_rec(node: &mut Node, t: Target) -> Option<Entry> {
    match node {
        Node::Leaf(v) => {
            let pos = match t {
                Target::Key(s, m) => {
                    let pos = v.partition_point(|x| x.cmp_to(s, m) == Ordering::Less);
                    if pos >= v.len() || v[pos].cmp_to(s, m) != Ordering::Equal {
                        return None;
                    }
                    pos
                }
                Target::Rank(r) if r < v.len() => r,
                Target::Rank(_) => return None,
            };
            Some(v.remove(pos))
        }
        Node::Inner(children) => {
            let (idx, sub) = match t {
                Target::Key(s, m) => {
                    let idx = children.partition_point(|c| c.last.cmp_to(s, m) == Ordering::Less);
                    if idx == children.len() {
                        return None;
                    }
                    (idx, t)
                }
                Target::Rank(mut r) => {
                    let mut idx = 0;
                    while idx < children.len() && r >= children[idx].count {
                        r -= children[idx].count;
                        idx += 1;
                    }
                    if idx == children.len() {
                        return None;
                    }
                    (idx, Target::Rank(r))
                }
            };
            let removed = remove_rec(&mut children[idx].node, sub)?;
            let c = &mut children[idx];
            c.count -= 1;
            match c.node.last() {
                None => {
                    children.remove(idx);
                }
                Some(l) => {
                    c.last = l;
                    rebalance(children, idx);
                }
            }
            Some(removed)
        }
    }
}

/// Merges the child at `idx` with a neighbour when it fell under a quarter of its capacity and
/// both fit in one node.
fn rebalance(children: &mut Vec<Child>, idx: usize) {
    let w = children[idx].node.width();
    let max = children[idx].node.max_width();
    if w >= max / 4 {
        return;
    }
    let (left, right) = if idx + 1 < children.len() && w + children[idx + 1].node.width() <= max {
        (idx, idx + 1)
    } else if idx > 0 && w + children[idx - 1].node.width() <= max {
        (idx - 1, idx)
    } else {
        return;
    };
    let r = children.remove(right);
    let l = &mut children[left];
    l.count += r.count;
    l.last = r.last;
    match (&mut l.node, r.node) {
        (Node::Leaf(a), Node::Leaf(b)) => {
            a.reserve_exact(b.len());
            a.extend(b)
        }
        (Node::Inner(a), Node::Inner(b)) => {
            a.reserve_exact(b.len());
            a.extend(b)
        }
        // Siblings are always at the same height.
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// ZIndex
// ---------------------------------------------------------------------------------------------

/// Members with their scores, in hash and in (score, member) order. See the module docs.
pub struct ZIndex {
    dict: HashMap<Member, f64, FastState>,
    root: Node,
}

// The tree's entries point into blocks the same ZIndex owns, and are read only through `&self`
// (module docs): moving or sharing a ZIndex across threads is as safe as for its hash table.
unsafe impl Send for ZIndex {}
unsafe impl Sync for ZIndex {}

impl Default for ZIndex {
    fn default() -> Self {
        ZIndex {
            dict: HashMap::default(),
            root: Node::Leaf(Vec::new()),
        }
    }
}

impl Clone for ZIndex {
    fn clone(&self) -> Self {
        let mut z = ZIndex::default();
        z.dict.reserve(self.len());
        // In order: every insert appends, which keeps leaves full.
        for (m, s) in self.iter() {
            z.insert_new(m, s);
        }
        z
    }
}

impl std::fmt::Debug for ZIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

impl ZIndex {
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// The member's score.
    #[inline]
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.get(member).copied()
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.dict.contains_key(member)
    }

    /// Adds a member or changes its score; returns the old score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some((k, &old)) = self.dict.get_key_value(member) {
            // Same score and same sign (the tree entry holds the sign as stored): nothing moves.
            if old.to_bits() != score.to_bits() {
                let p = k.0;
                self.tree_remove(Target::Key(old, member));
                self.tree_insert(Entry { score, member: p });
                if let Some(v) = self.dict.get_mut(member) {
                    *v = score;
                }
            }
            return Some(old);
        }
        self.insert_new(member, score);
        None
    }

    /// Adds a member known to be absent.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let m = Member::new(member);
        let p = m.0;
        self.dict.insert(m, score);
        self.tree_insert(Entry { score, member: p });
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (k, s) = self.dict.remove_entry(member)?;
        // The tree lets go of the block before it is freed (when `k` drops).
        self.tree_remove(Target::Key(s, member));
        drop(k);
        Some(s)
    }

    /// Removes and returns the entry at this rank (0 is the lowest score).
    pub fn remove_at(&mut self, rank: usize) -> Option<(bytes::Bytes, f64)> {
        let e = self.tree_remove(Target::Rank(rank))?;
        let m = bytes::Bytes::copy_from_slice(e.bytes());
        self.dict.remove(&m[..]);
        Some((m, e.score))
    }

    pub fn pop_first(&mut self) -> Option<(bytes::Bytes, f64)> {
        self.remove_at(0)
    }

    pub fn pop_last(&mut self) -> Option<(bytes::Bytes, f64)> {
        self.remove_at(self.len().checked_sub(1)?)
    }

    /// 0-based rank of a member, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = self.score(member)?;
        Some(self.count_before(|es, em| {
            ScoreKey(es).cmp(&ScoreKey(s)).then_with(|| em.cmp(member)) == Ordering::Less
        }))
    }

    /// How many entries, from the lowest, satisfy `before` (which must hold for a prefix of the
    /// order and fail for the rest): the rank of the first entry that fails it.
    pub fn count_before(&self, mut before: impl FnMut(f64, &[u8]) -> bool) -> usize {
        let mut node = &self.root;
        let mut rank = 0;
        loop {
            match node {
                Node::Leaf(v) => {
                    return rank + v.partition_point(|e| before(e.score, e.bytes()));
                }
                Node::Inner(children) => {
                    let idx = children.partition_point(|c| before(c.last.score, c.last.bytes()));
                    rank += children[..idx].iter().map(|c| c.count).sum::<usize>();
                    match children.get(idx) {
                        Some(c) => node = &c.node,
                        None => return rank,
                    }
                }
            }
        }
    }

    /// The entry at a rank.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.iter_from(rank).next()
    }

    pub fn first(&self) -> Option<(&[u8], f64)> {
        self.get(0)
    }

    pub fn last(&self) -> Option<(&[u8], f64)> {
        self.get(self.len().checked_sub(1)?)
    }

    /// Entries lowest first.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Entries from this rank up.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        Iter::new(&self.root, rank, self.len(), false)
    }

    /// Entries highest first.
    pub fn rev_iter(&self) -> Iter<'_> {
        match self.len().checked_sub(1) {
            Some(r) => self.rev_iter_from(r),
            None => Iter::empty(),
        }
    }

    /// Entries from this rank down to rank 0.
    pub fn rev_iter_from(&self, rank: usize) -> Iter<'_> {
        Iter::new(&self.root, rank, self.len(), true)
    }

    /// Members in hash order (no particular order), with scores.
    pub fn members(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.dict.iter().map(|(m, &s)| (m.as_slice(), s))
    }

    fn tree_insert(&mut self, e: Entry) {
        let before = self.dict.len() - 1;
        if let Some(new) = insert_rec(&mut self.root, e) {
            let old = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            let left_count = before + 1 - new.count;
            if let Some(left) = Node::child(old, left_count) {
                self.root = Node::Inner(vec![left, new]);
            }
        }
    }

    fn tree_remove(&mut self, t: Target) -> Option<Entry> {
        let e = remove_rec(&mut self.root, t)?;
        // Drop levels left with one child.
        loop {
            match &mut self.root {
                Node::Inner(c) if c.len() <= 1 => {
                    self.root = match c.pop() {
                        Some(only) => only.node,
                        None => Node::Leaf(Vec::new()),
                    };
                }
                _ => break,
            }
        }
        Some(e)
    }

    /// Checks the tree against the hash table (tests).
    #[cfg(test)]
    fn check(&self) {
        fn walk(n: &Node, out: &mut Vec<(Vec<u8>, f64)>, top: bool) -> (usize, Option<Entry>) {
            match n {
                Node::Leaf(v) => {
                    assert!(top || !v.is_empty());
                    assert!(v.len() <= LEAF_MAX);
                    out.extend(v.iter().map(|e| (e.bytes().to_vec(), e.score)));
                    (v.len(), v.last().copied())
                }
                Node::Inner(c) => {
                    assert!(c.len() <= INNER_MAX && (top && c.len() >= 2 || !c.is_empty()));
                    let mut total = 0;
                    for ch in c {
                        let (n, last) = walk(&ch.node, out, false);
                        assert_eq!(n, ch.count);
                        let last = last.expect("empty child");
                        assert_eq!(last.member, ch.last.member);
                        assert_eq!(last.score.to_bits(), ch.last.score.to_bits());
                        total += n;
                    }
                    (total, c.last().map(|c| c.last))
                }
            }
        }
        let mut all = Vec::new();
        let (n, _) = walk(&self.root, &mut all, true);
        assert_eq!(n, self.dict.len());
        for w in all.windows(2) {
            assert_eq!(
                ScoreKey(w[0].1)
                    .cmp(&ScoreKey(w[1].1))
                    .then_with(|| w[0].0.cmp(&w[1].0)),
                Ordering::Less
            );
        }
        for (m, s) in &all {
            assert_eq!(self.score(m).map(f64::to_bits), Some(s.to_bits()));
        }
    }
}

/// Walks the tree from a rank, up or down; yields (member, score).
pub struct Iter<'a> {
    /// Inner nodes on the path, with the child taken in each.
    stack: Vec<(&'a [Child], usize)>,
    leaf: &'a [Entry],
    pos: usize,
    remaining: usize,
    rev: bool,
}

impl<'a> Iter<'a> {
    fn empty() -> Iter<'a> {
        Iter {
            stack: Vec::new(),
            leaf: &[],
            pos: 0,
            remaining: 0,
            rev: false,
        }
    }

    fn new(root: &'a Node, rank: usize, len: usize, rev: bool) -> Iter<'a> {
        if rank >= len {
            return Iter::empty();
        }
        let mut it = Iter {
            stack: Vec::new(),
            leaf: &[],
            pos: 0,
            remaining: if rev { rank + 1 } else { len - rank },
            rev,
        };
        let mut node = root;
        let mut r = rank;
        loop {
            match node {
                Node::Leaf(v) => {
                    it.leaf = v;
                    it.pos = r;
                    return it;
                }
                Node::Inner(children) => {
                    let mut idx = 0;
                    while idx + 1 < children.len() && r >= children[idx].count {
                        r -= children[idx].count;
                        idx += 1;
                    }
                    it.stack.push((children, idx));
                    node = &children[idx].node;
                }
            }
        }
    }

    /// Moves to the next leaf in the walk's direction.
    fn next_leaf(&mut self) -> bool {
        // Climb to the first level with a sibling in that direction.
        loop {
            let Some((children, idx)) = self.stack.pop() else {
                return false;
            };
            let next = if self.rev {
                idx.checked_sub(1)
            } else {
                Some(idx + 1).filter(|&i| i < children.len())
            };
            if let Some(i) = next {
                self.stack.push((children, i));
                break;
            }
        }
        // Descend to the nearest leaf on that side.
        let mut node = match self.stack.last() {
            Some((children, i)) => &children[*i].node,
            None => return false,
        };
        loop {
            match node {
                Node::Leaf(v) => {
                    self.leaf = v;
                    self.pos = if self.rev {
                        v.len().saturating_sub(1)
                    } else {
                        0
                    };
                    return true;
                }
                Node::Inner(children) => {
                    let i = if self.rev { children.len() - 1 } else { 0 };
                    self.stack.push((children, i));
                    node = &children[i].node;
                }
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        if self.pos >= self.leaf.len() && !self.next_leaf() {
            self.remaining = 0;
            return None;
        }
        let e = self.leaf.get(self.pos)?;
        self.remaining -= 1;
        if self.rev {
            match self.pos.checked_sub(1) {
                Some(p) => self.pos = p,
                // Past the front of this leaf: the next call moves to the previous one.
                None => self.pos = usize::MAX,
            }
        } else {
            self.pos += 1;
        }
        Some((e.bytes(), e.score))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(i: u64) -> Vec<u8> {
        format!("m{i}").into_bytes()
    }

    #[test]
    fn member_blocks_round_trip_lengths() {
        for len in [0usize, 1, 127, 128, 300, 16383, 16384, 70000] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mb = Member::new(&v);
            assert_eq!(mb.as_slice(), &v[..]);
        }
    }

    #[test]
    fn random_operations_keep_order_ranks_and_scores() {
        // A small deterministic generator: the test needs no crate.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut z = ZIndex::default();
        let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
        for step in 0..20000 {
            let r = next();
            let k = m(r % 3000);
            match (r >> 20) % 10 {
                0..=5 => {
                    let s = ((r >> 32) % 500) as f64 - 250.0;
                    assert_eq!(
                        z.insert(&k, s).map(f64::to_bits),
                        model.insert(k, s).map(f64::to_bits)
                    );
                }
                6 | 7 => {
                    assert_eq!(
                        z.remove(&k).map(f64::to_bits),
                        model.remove(&k).map(f64::to_bits)
                    );
                }
                8 => {
                    if let Some((pm, ps)) = z.pop_first() {
                        assert_eq!(model.remove(&pm[..]), Some(ps));
                    }
                }
                _ => {
                    if let Some((pm, ps)) = z.pop_last() {
                        assert_eq!(model.remove(&pm[..]), Some(ps));
                    }
                }
            }
            if step % 997 == 0 {
                z.check();
            }
        }
        z.check();
        let mut sorted: Vec<(Vec<u8>, f64)> = model.into_iter().collect();
        sorted.sort_by(|a, b| {
            ScoreKey(a.1)
                .cmp(&ScoreKey(b.1))
                .then_with(|| a.0.cmp(&b.0))
        });
        let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(got, sorted);
        let back: Vec<(Vec<u8>, f64)> = z.rev_iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(back, sorted.iter().rev().cloned().collect::<Vec<_>>());
        for (i, (mm, _)) in sorted.iter().enumerate() {
            assert_eq!(z.rank(mm), Some(i));
            assert_eq!(z.get(i).map(|e| e.0.to_vec()), Some(mm.clone()));
        }
        for start in [
            0,
            1,
            63,
            64,
            65,
            sorted.len() / 2,
            sorted.len().saturating_sub(1),
        ] {
            let f: Vec<_> = z.iter_from(start).map(|e| e.0.to_vec()).collect();
            let want: Vec<_> = sorted.iter().skip(start).map(|e| e.0.clone()).collect();
            assert_eq!(f, want);
            let b: Vec<_> = z.rev_iter_from(start).map(|e| e.0.to_vec()).collect();
            let want: Vec<_> = sorted[..=start].iter().rev().map(|e| e.0.clone()).collect();
            assert_eq!(b, want);
        }
        let c = z.clone();
        c.check();
        assert_eq!(
            c.iter().map(|e| e.0.to_vec()).collect::<Vec<_>>(),
            z.iter().map(|e| e.0.to_vec()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn appends_fill_leaves_and_everything_can_be_removed() {
        let mut z = ZIndex::default();
        for i in 0..10_000u64 {
            z.insert(&m(i), i as f64);
        }
        z.check();
        // Appending in order leaves full leaves: about len / LEAF_MAX of them.
        fn leaves(n: &Node) -> usize {
            match n {
                Node::Leaf(_) => 1,
                Node::Inner(c) => c.iter().map(|c| leaves(&c.node)).sum(),
            }
        }
        assert!(leaves(&z.root) <= 10_000 / LEAF_MAX + 2);
        assert_eq!(z.count_before(|s, _| s < 5000.0), 5000);
        assert_eq!(z.count_before(|s, _| s <= 5000.0), 5001);
        assert_eq!(z.count_before(|_, _| true), 10_000);
        for i in (0..10_000u64).step_by(2) {
            assert_eq!(z.remove(&m(i)), Some(i as f64));
        }
        z.check();
        while z.pop_last().is_some() {}
        z.check();
        assert!(z.is_empty() && z.first().is_none() && z.iter().next().is_none());
        assert!(z.rev_iter().next().is_none());
    }

    #[test]
    fn negative_zero_keeps_its_sign_and_ties_with_zero() {
        let mut z = ZIndex::default();
        z.insert(b"b", -0.0);
        z.insert(b"a", 0.0);
        assert_eq!(z.rank(b"a"), Some(0));
        z.insert(b"b", 0.0);
        assert!(z.score(b"b").is_some_and(|s| s.is_sign_positive()));
        z.check();
    }
}
