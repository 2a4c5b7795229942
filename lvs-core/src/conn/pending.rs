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

/// Out keys not yet in the index: `(hash, tagged slot)` in arrival order.
pub(super) struct PendingOut {
    hashes: [u64; PENDING],
    slots: [u32; PENDING],
    len: usize,
}

impl PendingOut {
    pub(super) const fn new() -> Self {
        Self {
            hashes: [0; PENDING],
            slots: [0; PENDING],
            len: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a key; when full, first hands back the oldest, which the caller places in the
    /// index.
    pub(super) fn push(&mut self, hash: u64, slot: u32) -> Option<(u64, u32)> {
        let oldest = (self.len == PENDING).then(|| self.take(0));
        self.hashes[self.len] = hash;
        self.slots[self.len] = slot;
        self.len += 1;
        oldest
    }

    /// Removes `slot`'s key if it is here; `false` when it is not (it is in the index).
    pub(super) fn remove(&mut self, slot: u32) -> bool {
        match self.slots[..self.len].iter().position(|&s| s == slot) {
            Some(k) => {
                self.take(k);
                true
            }
            None => false,
        }
    }

    /// The slots held under `hash`, oldest first, until `visit` returns `true`.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut visit: impl FnMut(u32) -> bool) -> Option<u32> {
        (0..self.len)
            .filter(|&k| self.hashes[k] == hash)
            .map(|k| self.slots[k])
            .find(|&s| visit(s))
    }

    /// Removes entry `k`, keeping the order of the rest.
    fn take(&mut self, k: usize) -> (u64, u32) {
        let taken = (self.hashes[k], self.slots[k]);
        self.hashes.copy_within(k + 1..self.len, k);
        self.slots.copy_within(k + 1..self.len, k);
        self.len -= 1;
        taken
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
        assert_eq!(p.find(1, |s| s > 4), Some(10));
        // Order is kept: the next one handed back is the oldest left.
        assert_eq!(p.push(9, 101), None);
        assert_eq!(p.push(9, 102), Some((1, 1)));
    }
}
