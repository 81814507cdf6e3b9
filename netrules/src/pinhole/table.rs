//! The table of tracked connections, shaped for a controller that opens a million of them a
//! second.
//!
//! Each connection lives in a slot (its key and value together) of a vector kept in chunks,
//! which grows without copying; a new connection takes the most recently freed slot or the
//! next one at the end, both warm in cache. An index maps keys to slots: open addressing
//! over buckets of one cache line, eight lanes each of (slot, 32 bits of the key's hash,
//! which is all that rebuilding the index needs). A probe for a new connection usually reads
//! one line, and placing the connection writes that same line, so the part of the table
//! touched at random costs one cold line per new connection. (With the standard `HashMap`
//! holding the connections, each new one also wrote a second cold line of a table of over a
//! hundred megabytes; hashbrown's `HashTable` over 8-byte entries still wrote its entry to
//! another line than the control bytes it probed. `perf` showed that store, and the locked
//! instructions waiting behind it, as the controller's largest cost.) A connection's cookie
//! names its slot and the slot's generation, which moves on when the slot is freed, so a
//! cookie never names a later connection.
//!
//! Memory follows the peak: freed slots are reused before the vector grows, and its chunks
//! are kept; the index moves to a new table of twice the live entries whenever live and
//! removed entries would fill seven eighths of it, a few buckets per insert (moving millions
//! of entries at once stalled the controller for up to 100 ms). (The controller bounds the
//! connections tracked per switch.)

use crate::compile::cookie;
use crate::reference::ConnKey;

/// Bits of a cookie below the generation: the slot index.
const INDEX_BITS: u32 = 32;
/// The generation's bits (between the kind byte and the index).
const GENERATION_MASK: u32 = 0x00ff_ffff;

/// Tracked connections: [`ConnKey`] to `V`, each with a cookie.
#[derive(Clone, Debug)]
pub(crate) struct ConnTable<V> {
    index: Index,
    hasher: ahash::RandomState,
    slots: Slots<V>,
    free: Vec<u32>,
}

/// The index from keys to slots: open addressing over buckets of one cache line, each
/// with eight lanes of (slot + 1, the key's 32-bit hash); a lane's slot is [`EMPTY`], or
/// [`GONE`] once its entry is removed. A key's lanes are searched from its hash's bucket
/// onwards, lane by lane, up to the first empty lane, and a new key goes in the first
/// lane there that is empty or gone. So a probe of a key that is not there usually reads
/// one line, and placing the key writes the line just read (the standard table writes its
/// entry to another line than the control bytes it probed, a second cold line per new
/// connection).
///
/// Before entries and gone lanes fill seven eighths of it, a new table is made (twice as
/// many lanes as live entries, rounded up to a power of two) and the entries move to it a
/// few buckets at a time, with each later insert ([`Index::reserve_one`]), not all at once:
/// moving millions of entries at once held the controller up for tens of milliseconds.
/// Meanwhile a key is looked for in both tables; a moved lane is left [`GONE`] in the old
/// one, so the old table's searches still pass it.
#[derive(Clone, Debug, Default)]
struct Index {
    buckets: Vec<Bucket>,
    /// Entries in `buckets`.
    live: usize,
    /// Gone lanes in `buckets`.
    gone: usize,
    /// The table whose entries are being moved to `buckets` (empty once they all are).
    old: Vec<Bucket>,
    /// Entries still in `old`.
    old_live: usize,
    /// The buckets of `old` below this one are moved.
    moved: usize,
}

const LANES: usize = 8;
const EMPTY: u32 = 0;
const GONE: u32 = u32::MAX;
/// Buckets of the old table moved per insert: the move is over well before the new table
/// (twice the size) can fill.
const MOVE_PER_INSERT: usize = 4;

#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Bucket {
    slot: [u32; LANES],
    hash: [u32; LANES],
}

/// Where [`Index::find`] found a key: its lane, in the old table (being moved out of), or
/// the lane where it goes.
enum Found {
    At(usize, usize),
    InOld,
    Free(usize, usize),
}

/// Find the entry of `hash` in `buckets` whose slot `is` says is the key's, or where it
/// goes: the lanes from the hash's bucket onwards, up to the first empty one. `None` only
/// for a table without a free lane.
fn find_in(buckets: &[Bucket], hash: u32, mut is: impl FnMut(u32) -> bool) -> Option<Found> {
    let mask = buckets.len().wrapping_sub(1);
    let mut b = hash as usize & mask;
    let mut free = None;
    for _ in 0..buckets.len() {
        let bucket = buckets.get(b)?;
        for lane in 0..LANES {
            match bucket.slot[lane] {
                EMPTY => {
                    let (b, lane) = free.unwrap_or((b, lane));
                    return Some(Found::Free(b, lane));
                }
                GONE => {
                    free.get_or_insert((b, lane));
                }
                s if bucket.hash[lane] == hash && is(s - 1) => {
                    return Some(Found::At(b, lane));
                }
                _ => {}
            }
        }
        b = (b + 1) & mask;
    }
    free.map(|(b, lane)| Found::Free(b, lane))
}

impl Index {
    /// Find the entry of `hash` whose slot `is` says is the key's (in either table), or
    /// where it goes (in the new one). `None` only for a table without a free lane (never
    /// after [`Index::reserve_one`]).
    fn find(&self, hash: u32, mut is: impl FnMut(u32) -> bool) -> Option<Found> {
        let found = find_in(&self.buckets, hash, &mut is);
        if self.old_live > 0 && !matches!(found, Some(Found::At(..))) {
            if let Some(Found::At(..)) = find_in(&self.old, hash, &mut is) {
                return Some(Found::InOld);
            }
        }
        found
    }

    /// Make room for one more entry: move a few more of the old table's entries, and start
    /// a new table if entries and gone lanes (of both) would pass seven eighths of this one.
    fn reserve_one(&mut self) {
        self.move_some(MOVE_PER_INSERT);
        let lanes = self.buckets.len() * LANES;
        if (self.live + self.gone + self.old_live + 1) * 8 <= lanes * 7 {
            return;
        }
        // Rare: a new table while the last move is not over (only if entries came faster
        // than the move's pace allows, which they do not): finish it first.
        self.move_some(usize::MAX);
        let want = ((self.live + 1) * 2).div_ceil(LANES).next_power_of_two();
        let mut buckets = Vec::with_capacity(want);
        huge::advise(&mut buckets);
        buckets.resize(want, Bucket::default());
        self.old = core::mem::replace(&mut self.buckets, buckets);
        self.old_live = self.live;
        self.moved = 0;
        self.live = 0;
        self.gone = 0;
        // A small table moves at once (the first ones, and any the moves would not clear).
        if self.old.len() <= 64 {
            self.move_some(usize::MAX);
        }
    }

    /// Move the entries of up to `count` more buckets of the old table to the new one.
    fn move_some(&mut self, count: usize) {
        if self.old.is_empty() {
            return;
        }
        let end = self.moved.saturating_add(count).min(self.old.len());
        for b in self.moved..end {
            for lane in 0..LANES {
                let Some(bucket) = self.old.get_mut(b) else {
                    break;
                };
                let slot = bucket.slot[lane];
                if slot == EMPTY || slot == GONE {
                    continue;
                }
                let hash = bucket.hash[lane];
                bucket.slot[lane] = GONE;
                self.old_live -= 1;
                if let Some(Found::Free(nb, nl)) = find_in(&self.buckets, hash, |_| false) {
                    self.put(nb, nl, slot - 1, hash);
                }
            }
        }
        self.moved = end;
        if self.moved == self.old.len() {
            self.old = Vec::new();
            self.old_live = 0;
            self.moved = 0;
        }
    }

    fn put(&mut self, b: usize, lane: usize, slot: u32, hash: u32) {
        if let Some(bucket) = self.buckets.get_mut(b) {
            if bucket.slot[lane] == GONE {
                self.gone -= 1;
            }
            bucket.slot[lane] = slot + 1;
            bucket.hash[lane] = hash;
            self.live += 1;
        }
    }

    /// Remove the entry of `slot` (whose key has `hash`), from whichever table holds it.
    fn remove(&mut self, hash: u32, slot: u32) {
        if let Some(Found::At(b, lane)) = find_in(&self.buckets, hash, |s| s == slot) {
            if let Some(bucket) = self.buckets.get_mut(b) {
                bucket.slot[lane] = GONE;
                self.live -= 1;
                self.gone += 1;
            }
        } else if self.old_live > 0 {
            if let Some(Found::At(b, lane)) = find_in(&self.old, hash, |s| s == slot) {
                if let Some(bucket) = self.old.get_mut(b) {
                    bucket.slot[lane] = GONE;
                    self.old_live -= 1;
                }
            }
        }
    }
}

/// Slots in chunks of [`CHUNK`]: growing adds a chunk and never copies the slots (a vector
/// of millions would, at each doubling).
#[derive(Clone, Debug)]
struct Slots<V> {
    chunks: Vec<Vec<Slot<V>>>,
}

/// log2 of the slots per chunk (524,288 slots, 28 MiB, of which at least 24 MiB in whole
/// 2 MiB huge pages, see [`huge`]; memory is only touched as slots are used).
const CHUNK_BITS: u32 = 19;
const CHUNK: usize = 1 << CHUNK_BITS;

impl<V> Slots<V> {
    fn get(&self, index: u32) -> Option<&Slot<V>> {
        let chunk = self.chunks.get((index >> CHUNK_BITS) as usize)?;
        chunk.get(index as usize & (CHUNK - 1))
    }

    fn get_mut(&mut self, index: u32) -> Option<&mut Slot<V>> {
        let chunk = self.chunks.get_mut((index >> CHUNK_BITS) as usize)?;
        chunk.get_mut(index as usize & (CHUNK - 1))
    }

    /// Append `slot`; its index, or `None` if there are 2^32 already.
    fn push(&mut self, slot: Slot<V>) -> Option<u32> {
        let full = self.chunks.last().is_none_or(|c| c.len() == CHUNK);
        let chunk_index = self.chunks.len() - usize::from(!full);
        let chunk_start = u32::try_from(chunk_index << CHUNK_BITS).ok()?;
        if full {
            let mut chunk = Vec::with_capacity(CHUNK);
            huge::advise(&mut chunk);
            self.chunks.push(chunk);
        }
        let chunk = self.chunks.last_mut()?;
        let index = chunk_start.checked_add(u32::try_from(chunk.len()).ok()?)?;
        // The index keeps slot + 1, and u32::MAX means a removed entry.
        if index >= u32::MAX - 1 {
            return None;
        }
        chunk.push(slot);
        Some(index)
    }

    fn iter(&self) -> impl Iterator<Item = &Slot<V>> + '_ {
        self.chunks.iter().flatten()
    }
}

#[derive(Clone, Debug)]
struct Slot<V> {
    generation: u32,
    /// The key's 32-bit hash (while the slot is taken).
    hash: u32,
    conn: Option<(ConnKey, V)>,
}

fn cookie_of(index: u32, generation: u32) -> u64 {
    cookie::PINHOLE | u64::from(generation & GENERATION_MASK) << INDEX_BITS | u64::from(index)
}

/// The slot index a pinhole cookie names, if it is a pinhole's.
fn index_of(cookie: u64) -> Option<u32> {
    (cookie & cookie::KIND_MASK == cookie::PINHOLE).then_some((cookie & 0xffff_ffff) as u32)
}

/// Where [`ConnTable::entry`] found a key.
pub(crate) enum Entry<'t, V> {
    /// Tracked.
    Occupied,
    /// Not tracked: where it goes.
    Vacant(Vacant<'t, V>),
    /// Not tracked, and no room to track it (never: the index makes room first).
    Full,
}

/// A key that is not in the table, ready to be inserted without another probe.
pub(crate) struct Vacant<'t, V> {
    index: &'t mut Index,
    at: (usize, usize),
    slots: &'t mut Slots<V>,
    free: &'t mut Vec<u32>,
    key: ConnKey,
    hash: u32,
}

impl<V> Vacant<'_, V> {
    /// Insert the key with `value`; returns its cookie, or gives `value` back if every one of
    /// the 2^32 slots is taken.
    pub(crate) fn insert(self, value: V) -> Result<u64, V> {
        let reuse = self.free.pop().filter(|&i| self.slots.get(i).is_some());
        let index = match reuse {
            Some(i) => i,
            None => {
                let fresh = Slot {
                    generation: 0,
                    hash: 0,
                    conn: None,
                };
                let Some(i) = self.slots.push(fresh) else {
                    return Err(value);
                };
                i
            }
        };
        let generation = match self.slots.get_mut(index) {
            Some(slot) => {
                slot.hash = self.hash;
                slot.conn = Some((self.key, value));
                slot.generation
            }
            // In range by construction.
            None => return Err(value),
        };
        self.index.put(self.at.0, self.at.1, index, self.hash);
        Ok(cookie_of(index, generation))
    }
}

impl<V> Default for ConnTable<V> {
    fn default() -> Self {
        ConnTable {
            index: Index::default(),
            hasher: ahash::RandomState::new(),
            slots: Slots { chunks: Vec::new() },
            free: Vec::new(),
        }
    }
}

impl<V> ConnTable<V> {
    /// The number of connections.
    pub(crate) fn len(&self) -> usize {
        self.index.live
    }

    fn hash(&self, key: &ConnKey) -> u32 {
        let h = self.hasher.hash_one(key);
        (h ^ (h >> 32)) as u32
    }

    /// The connection under `key`, or where it goes: one probe of the index.
    pub(crate) fn entry(&mut self, key: ConnKey) -> Entry<'_, V> {
        let hash = self.hash(&key);
        self.index.reserve_one();
        let slots = &self.slots;
        let found = self.index.find(hash, |i| {
            slots
                .get(i)
                .and_then(|s| s.conn.as_ref())
                .is_some_and(|(k, _)| *k == key)
        });
        match found {
            Some(Found::Free(b, lane)) => Entry::Vacant(Vacant {
                index: &mut self.index,
                at: (b, lane),
                slots: &mut self.slots,
                free: &mut self.free,
                key,
                hash,
            }),
            Some(Found::At(..) | Found::InOld) => Entry::Occupied,
            None => Entry::Full,
        }
    }

    /// The connection `cookie` names, if it is tracked.
    pub(crate) fn get_by_cookie(&self, cookie: u64) -> Option<(&ConnKey, &V)> {
        let index = index_of(cookie)?;
        let slot = self.slots.get(index)?;
        let (k, v) = slot.conn.as_ref()?;
        (cookie_of(index, slot.generation) == cookie).then_some((k, v))
    }

    /// Forget the connection `cookie` names (if it is tracked); returns it.
    pub(crate) fn remove_by_cookie(&mut self, cookie: u64) -> Option<(ConnKey, V)> {
        self.get_by_cookie(cookie)?;
        let index = index_of(cookie)?;
        let slot = self.slots.get_mut(index)?;
        self.index.remove(slot.hash, index);
        let conn = slot.conn.take();
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        self.free.push(index);
        conn
    }

    /// The number of free slots (to be reused before the vector grows).
    #[cfg(test)]
    pub(crate) fn free_slots(&self) -> usize {
        self.free.len()
    }

    /// Every connection: cookie, key and value (in slot order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &ConnKey, &V)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let (k, v) = s.conn.as_ref()?;
            Some((cookie_of(i as u32, s.generation), k, v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{FiveTuple, Path};
    use core::net::Ipv4Addr;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn key(switch: u64, n: u16) -> ConnKey {
        ConnKey {
            switch,
            path: Path::Private,
            opening: FiveTuple {
                proto: 6,
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
                src_port: n,
                dst_port: 22,
            },
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Look the key up; insert it (with this value) if it is not there.
        Open(u64, u16, u32),
        /// Remove by the i-th cookie ever issued (live or stale).
        Remove(usize),
        /// Remove by a cookie that was never issued.
        Forged(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u64..3, 0u16..40, any::<u32>()).prop_map(|(s, n, v)| Op::Open(s, n, v)),
            3 => any::<usize>().prop_map(Op::Remove),
            1 => any::<u64>().prop_map(Op::Forged),
        ]
    }

    proptest! {
        /// The table behaves as a map from keys to values whose cookies are unique forever:
        /// a cookie removes its own connection once, and never a later one in its slot.
        #[test]
        fn behaves_as_a_map_with_unique_cookies(ops in proptest::collection::vec(op(), 1..300)) {
            let mut t: ConnTable<u32> = ConnTable::default();
            let mut model: BTreeMap<ConnKey, (u64, u32)> = BTreeMap::new();
            let mut issued: Vec<u64> = Vec::new();
            for op in ops {
                match op {
                    Op::Open(s, n, v) => {
                        let k = key(s, n);
                        match t.entry(k) {
                            Entry::Occupied => prop_assert!(model.contains_key(&k)),
                            Entry::Full => prop_assert!(false, "no room for {:?}", k),
                            Entry::Vacant(vacant) => {
                                prop_assert!(!model.contains_key(&k));
                                let ck = vacant.insert(v).unwrap();
                                prop_assert_eq!(ck & cookie::KIND_MASK, cookie::PINHOLE);
                                prop_assert!(!issued.contains(&ck), "cookie {:#x} reissued", ck);
                                issued.push(ck);
                                model.insert(k, (ck, v));
                            }
                        }
                    }
                    Op::Remove(i) if !issued.is_empty() => {
                        let ck = issued[i % issued.len()];
                        let live = model.iter().find(|(_, (c, _))| *c == ck).map(|(k, v)| (*k, v.1));
                        prop_assert_eq!(t.get_by_cookie(ck).map(|(k, v)| (*k, *v)), live);
                        prop_assert_eq!(t.remove_by_cookie(ck), live);
                        if let Some((k, _)) = live {
                            model.remove(&k);
                        }
                    }
                    Op::Remove(_) => {}
                    Op::Forged(ck) => {
                        if !issued.contains(&ck) {
                            prop_assert_eq!(t.remove_by_cookie(ck), None);
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
            let all: BTreeMap<ConnKey, (u64, u32)> = t.iter().map(|(c, k, v)| (*k, (c, *v))).collect();
            prop_assert_eq!(all, model);
        }
    }

    /// Connections come and go (a thousand live, a hundred thousand in all): removed
    /// entries are cleared by rebuilds, so the index stays small and every live key is found.
    #[test]
    fn churn_keeps_the_index_small() {
        let mut t: ConnTable<u32> = ConnTable::default();
        let mut live = std::collections::VecDeque::new();
        for n in 0..100_000u32 {
            let k = key(u64::from(n % 7) + 1, (n % 60_000) as u16);
            match t.entry(k) {
                Entry::Vacant(v) => live.push_back((k, v.insert(n).unwrap())),
                Entry::Occupied => panic!("{k:?} is still tracked"),
                Entry::Full => panic!("no room"),
            }
            if live.len() > 1000 {
                let (k, ck) = live.pop_front().unwrap();
                assert_eq!(t.remove_by_cookie(ck).map(|(k, _)| k), Some(k));
            }
        }
        assert_eq!(t.len(), 1000);
        for (k, _) in &live {
            assert!(matches!(t.entry(*k), Entry::Occupied));
        }
        // Twice the live entries, rounded up to whole buckets and a power of two, at most
        // eight sevenths of that before a rebuild.
        assert!(
            t.index.buckets.len() * LANES <= 4096,
            "{}",
            t.index.buckets.len()
        );
    }

    /// Large tables move to their next size a few buckets per insert: while a move is on,
    /// every key is found in one table or the other, removals find theirs, and new keys are
    /// not mistaken for old ones.
    #[test]
    fn incremental_moves_keep_every_key() {
        let mut t: ConnTable<u32> = ConnTable::default();
        let mut live: Vec<(ConnKey, u64)> = Vec::new();
        let mut moves_seen = 0;
        let mut was_moving = false;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |below: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % below.max(1) as u64) as usize
        };
        for n in 0..60_000u32 {
            let k = key(u64::from(n % 5) + 1, (n / 5) as u16);
            let Entry::Vacant(v) = t.entry(k) else {
                panic!("{k:?} is new")
            };
            live.push((k, v.insert(n).unwrap()));
            // Remove one in four, at random among the live.
            if next(4) == 0 {
                let (k, ck) = live.swap_remove(next(live.len()));
                assert_eq!(t.remove_by_cookie(ck).map(|(k, _)| k), Some(k));
                assert!(
                    matches!(t.entry(k), Entry::Vacant(_)),
                    "{k:?} removed at {n}"
                );
            }
            // Look a live key and one never opened up.
            let (k, _) = live[next(live.len())];
            assert!(matches!(t.entry(k), Entry::Occupied), "{k:?} at {n}");
            let other = key(9, next(60_000) as u16);
            assert!(
                matches!(t.entry(other), Entry::Vacant(_)),
                "{other:?} at {n}"
            );
            let moving = !t.index.old.is_empty();
            if moving && !was_moving {
                moves_seen += 1;
            }
            was_moving = moving;
            assert_eq!(t.index.live + t.index.old_live, live.len(), "at {n}");
        }
        assert!(moves_seen >= 3, "{moves_seen} moves");
        for (k, ck) in &live {
            assert!(matches!(t.entry(*k), Entry::Occupied));
            assert_eq!(t.get_by_cookie(*ck).map(|(k, _)| *k), Some(*k));
        }
        assert_eq!(t.len(), live.len());
    }

    #[test]
    fn freed_slots_are_reused_under_a_new_generation() {
        let mut t: ConnTable<()> = ConnTable::default();
        let Entry::Vacant(v) = t.entry(key(1, 1)) else {
            panic!("empty table")
        };
        let first = v.insert(()).unwrap();
        assert!(matches!(t.entry(key(1, 1)), Entry::Occupied));
        assert_eq!(t.remove_by_cookie(first), Some((key(1, 1), ())));
        assert_eq!(t.remove_by_cookie(first), None);
        assert_eq!(t.free_slots(), 1);
        let Entry::Vacant(v) = t.entry(key(1, 2)) else {
            panic!("removed")
        };
        let second = v.insert(()).unwrap();
        assert_eq!(second & 0xffff_ffff, first & 0xffff_ffff);
        assert_ne!(second, first);
        assert_eq!(t.free_slots(), 0);
        assert_eq!(t.get_by_cookie(first), None);
        assert_eq!(t.get_by_cookie(second), Some((&key(1, 2), &())));
        // Not a pinhole's cookie, or a slot out of range.
        assert_eq!(t.get_by_cookie(second & !cookie::KIND_MASK), None);
        assert_eq!(t.get_by_cookie(cookie::PINHOLE | 77), None);
    }

    #[test]
    fn the_index_grows_without_losing_a_key() {
        let mut t: ConnTable<u64> = ConnTable::default();
        let mut cookies = Vec::new();
        for s in 1..=3 {
            for n in 0..5000 {
                let Entry::Vacant(v) = t.entry(key(s, n)) else {
                    panic!("duplicate {s}/{n}")
                };
                cookies.push(v.insert(s * 100_000 + u64::from(n)).unwrap());
            }
        }
        assert_eq!(t.len(), 15000);
        for s in 1..=3 {
            for n in 0..5000 {
                assert!(matches!(t.entry(key(s, n)), Entry::Occupied));
            }
        }
        for ck in cookies.iter().step_by(2) {
            assert!(t.remove_by_cookie(*ck).is_some());
        }
        assert_eq!(t.len(), 7500);
        assert_eq!(t.iter().count(), 7500);
    }
}

/// Transparent huge pages for the table's large allocations.
///
/// A controller opening a million connections a second writes its slots and index into
/// fresh memory at tens of megabytes a second, and the index is read at random. With 4 KiB
/// pages, every 4 KiB of new slots costs a page fault and every lookup a TLB miss; on the
/// 2-core VM of the reactive benchmark, page faults took a quarter of the controller
/// thread's time, and about 5% with 2 MiB pages; alternating runs read the whole reactive
/// path 6% faster (`cargo bench -p benches --bench reactive`, see the README). Where the kernel's `transparent_hugepage/enabled` is `always` this
/// happens anyway; where it is `madvise` (Debian's default), only ranges that asked for it
/// get huge pages: [`advise`] asks. Off without the `huge-pages` feature and off Linux.
mod huge {
    /// A huge page (x86-64 and aarch64 with 4 KiB base pages).
    #[cfg(all(feature = "huge-pages", target_os = "linux"))]
    const HUGE: usize = 2 << 20;

    /// Ask the kernel to back the 2 MiB-aligned part of `v`'s allocation (its whole
    /// capacity) with huge pages. Best effort: a refusal (a kernel without transparent huge
    /// pages, `never`) leaves ordinary pages.
    #[cfg(all(feature = "huge-pages", target_os = "linux"))]
    #[allow(unsafe_code)]
    pub(super) fn advise<T>(v: &mut Vec<T>) {
        let bytes = v.capacity().saturating_mul(core::mem::size_of::<T>());
        let start = v.as_mut_ptr() as usize;
        let Some(end) = start.checked_add(bytes) else {
            return;
        };
        let first = start.next_multiple_of(HUGE);
        let last = end - end % HUGE;
        if last <= first {
            return;
        }
        // SAFETY: `madvise(MADV_HUGEPAGE)` changes only how the kernel backs the range with
        // physical memory; it neither frees the memory nor changes what it holds or whether
        // it may be read and written. The range lies within `v`'s allocation (it is
        // `[start, start + capacity * size_of::<T>())` rounded inwards to 2 MiB, which is a
        // multiple of every page size it is used with), and `v` is borrowed for the call, so
        // the allocation outlives it. The result is ignored on purpose: advice refused
        // changes nothing.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }

    /// Without the feature, or off Linux: nothing.
    #[cfg(not(all(feature = "huge-pages", target_os = "linux")))]
    pub(super) fn advise<T>(_: &mut Vec<T>) {}
}
