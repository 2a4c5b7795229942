//! Reply keys on their way into the index.
//!
//! A new NAT or FULLNAT connection files two index entries: its in key, whose index line the
//! packet's own lookup has just loaded, and its out key (the reply's tuple), whose line is
//! anywhere in the index. In a table of millions that line is a cache miss (about 100 ns on
//! this VM, the largest single cost of a new connection at 10M entries). So the out key waits
//! here while its line is prefetched, and goes into the index [`PENDING`] new connections
//! later, when the line has long arrived.
//!
//! Until then lookups must still find it: a lookup that finds no in key and no reply in the
//! index also scans these few entries (hashes first, 8 bytes each). Client packets of known
//! connections (an in key) and replies already in the index never scan.

/// Reply keys held back at most (one worker batch's new connections fit).
pub(super) const PENDING: usize = 16;

/// A `slots` value for a key removed before it was placed.
const GONE: u32 = u32::MAX;

/// Out keys not yet in the index: `(hash, tagged slot)` in a ring, oldest at `head`.
pub(super) struct PendingOut {
    hashes: [u64; PENDING],
    slots: [u32; PENDING],
    head: usize,
    /// Keys in the ring, removed ones included until they reach the head.
    len: usize,
}

impl PendingOut {
    pub(super) const fn new() -> Self {
        Self {
            hashes: [0; PENDING],
            slots: [GONE; PENDING],
            head: 0,
            len: 0,
        }
    }

    /// Keys waiting (removed ones not counted).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        (0..self.len as u32)
            .filter(|&i| self.slots[self.position(i)] != GONE)
            .count()
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a key; when full, first hands back the oldest (unless it was removed), which the
    /// caller places in the index.
    #[inline]
    pub(super) fn push(&mut self, hash: u64, slot: u32) -> Option<(u64, u32)> {
        let mut oldest = None;
        if self.len == PENDING {
            let k = self.head;
            if self.slots[k] != GONE {
                oldest = Some((self.hashes[k], self.slots[k]));
            }
            self.head = (k + 1) % PENDING;
            self.len -= 1;
        }
        let k = (self.head + self.len) % PENDING;
        self.hashes[k] = hash;
        self.slots[k] = slot;
        self.len += 1;
        oldest
    }

    /// Removes `slot`'s key if it is here; `false` when it is not (it is in the index).
    #[inline]
    pub(super) fn remove(&mut self, slot: u32) -> bool {
        let mut at = 0u32;
        for (k, &s) in self.slots.iter().enumerate() {
            at |= u32::from(s == slot) << k;
        }
        match self.in_ring(at) {
            0 => false,
            hits => {
                let k = self.position(hits.trailing_zeros());
                self.slots[k] = GONE;
                true
            }
        }
    }

    /// The slots held under `hash`, oldest first, until `visit` returns `true`.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut visit: impl FnMut(u32) -> bool) -> Option<u32> {
        // One pass over the whole array without branches, then the matches in ring order.
        let mut at = 0u32;
        for (k, &h) in self.hashes.iter().enumerate() {
            at |= u32::from(h == hash) << k;
        }
        let mut hits = self.in_ring(at);
        while hits != 0 {
            let slot = self.slots[self.position(hits.trailing_zeros())];
            if slot != GONE && visit(slot) {
                return Some(slot);
            }
            hits &= hits - 1;
        }
        None
    }

    /// A mask of array positions (bit k = position k) as ring order (bit i = the i-th
    /// oldest key), without the positions outside the ring, whose stale contents were
    /// handed back to the index.
    #[inline(always)]
    fn in_ring(&self, at: u32) -> u32 {
        (at >> self.head | at << (PENDING - self.head)) & ((1 << self.len) - 1)
    }

    /// The array position of the `i`-th oldest key.
    #[inline(always)]
    fn position(&self, i: u32) -> usize {
        (self.head + i as usize) % PENDING
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_hands_back_the_oldest() {
        let mut p = PendingOut::new();
        for k in 0..PENDING as u32 {
            assert_eq!(p.push(u64::from(k % 3), k), None);
        }
        assert_eq!(p.push(9, 100), Some((0, 0)));
        assert_eq!(p.find(9, |_| true), Some(100));
        let mut seen = Vec::new();
        assert_eq!(
            p.find(1, |s| {
                seen.push(s);
                false
            }),
            None
        );
        assert_eq!(seen, [1, 4, 7, 10, 13]);
        assert!(p.remove(7));
        assert!(!p.remove(7));
        assert_eq!(p.len(), PENDING - 1);
        assert_eq!(p.find(1, |s| s > 4), Some(10));
        // Order is kept: the next ones handed back are the oldest left, and a removed key
        // is never handed back.
        assert_eq!(p.push(9, 101), Some((1, 1)));
        for _ in 0..4 {
            p.push(9, 102);
        }
        assert_eq!(p.push(9, 103), Some((0, 6)));
        assert_eq!(p.push(9, 104), None, "7 was removed");
        assert_eq!(p.push(9, 105), Some((2, 8)));
    }
}
