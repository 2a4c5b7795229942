//! A hash index of slab slots in cache-line chunks (the layout of folly's F14 tables).
//!
//! Why not `hashbrown::HashTable<u32>`: its control bytes and its slots live in two arrays, so
//! at millions of entries a lookup misses the cache twice before it reaches the entry. Here
//! one 64-byte chunk holds 12 one-byte tags, 12 slots and an overflow count: one miss for the
//! index, one for the entry. Same memory per slot (5.3 bytes) as hashbrown.
//!
//! Probing is linear over chunks. A chunk's `overflow` counts the entries whose probe passed
//! it because it was full; a lookup stops at the first chunk without the key and without
//! overflow. Removal clears the tag and decrements the counts on the probe path, so there are
//! no tombstones. The index stores no hashes: growth re-hashes each slot through a callback
//! that reads the key from the slab.

use core::mem::size_of;

pub(super) const SLOTS: usize = 12;
/// Grow above 7/8 full.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Chunk {
    /// Bytes 0..12: the tags (0 = empty; otherwise the top 7 bits of the hash with the high
    /// bit set). Bytes 12..16: the overflow count, little-endian. One array so the tag match
    /// is a single 16-byte load.
    ctrl: [u8; 16],
    slots: [u32; SLOTS],
}

impl Chunk {
    #[inline]
    fn overflow(&self) -> u32 {
        u32::from_le_bytes([self.ctrl[12], self.ctrl[13], self.ctrl[14], self.ctrl[15]])
    }

    #[inline]
    fn set_overflow(&mut self, n: u32) {
        self.ctrl[12..].copy_from_slice(&n.to_le_bytes());
    }
}

#[inline]
const fn tag_of(hash: u64) -> u8 {
    (hash >> 57) as u8 | 0x80
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = ONES * 0x7f;
const HIGH: u64 = ONES * 0x80;

/// 0x80 in each byte of `x` that is zero, exactly (the SWAR test without the false positives
/// of the shorter `(x - ONES) & !x` form).
#[inline(always)]
const fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The high bits of the bytes of `m` (each 0x80 or 0) gathered into the low 8 bits.
#[inline(always)]
const fn gather(m: u64) -> u32 {
    ((m & HIGH).wrapping_mul(0x0002_0408_1020_4081) >> 56) as u32
}

/// A bit mask (bit k for slot k) of the slots whose tag is `tag`, without branches; the
/// overflow bytes are not looked at. On x86_64 one SSE2 compare and byte mask (three
/// instructions, a quarter of the portable version's latency on the lookup's dependency
/// chain); elsewhere [`match_tags_swar`].
#[inline(always)]
fn match_tags(ctrl: &[u8; 16], tag: u8) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i};
        let eq = cmp_eq_mask_i8_m128i(
            load_unaligned_m128i(ctrl),
            safe_arch::set_splat_i8_m128i(tag as i8),
        );
        move_mask_i8_m128i(eq) as u32 & ((1 << SLOTS) - 1)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    match_tags_swar(ctrl, tag)
}

/// [`match_tags`] in portable 64-bit arithmetic (SWAR).
#[inline(always)]
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn match_tags_swar(ctrl: &[u8; 16], tag: u8) -> u32 {
    let b = ONES * u64::from(tag);
    let lo = u64::from_le_bytes([
        ctrl[0], ctrl[1], ctrl[2], ctrl[3], ctrl[4], ctrl[5], ctrl[6], ctrl[7],
    ]);
    let hi = u64::from(u32::from_le_bytes([ctrl[8], ctrl[9], ctrl[10], ctrl[11]]));
    gather(zero_bytes(lo ^ b)) | (gather(zero_bytes(hi ^ b) & 0x8080_8080) << 8)
}

pub(super) struct LineIndex {
    chunks: Vec<Chunk>,
    len: usize,
}

impl LineIndex {
    pub(super) const fn new() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.chunks.len().wrapping_sub(1)
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    /// The first slot whose tag matches and for which `eq` holds.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut found = None;
        self.probe(hash, |slot| {
            let hit = eq(slot);
            if hit {
                found = Some(slot);
            }
            hit
        });
        found
    }

    /// Hands `visit` every slot whose tag matches, in probe order, until it returns `true` or
    /// the probe ends.
    #[inline(always)]
    pub(super) fn probe(&self, hash: u64, mut visit: impl FnMut(u32) -> bool) {
        if self.chunks.is_empty() {
            return;
        }
        let tag = tag_of(hash);
        let mask = self.mask();
        let mut i = self.home(hash);
        for _ in 0..self.chunks.len() {
            let c = &self.chunks[i];
            let mut hits = match_tags(&c.ctrl, tag);
            while hits != 0 {
                // Below SLOTS, as `hits` has only slot bits; checked by a branch, which
                // stays off the lookup's dependency chain (a `%` would be on it).
                let k = hits.trailing_zeros() as usize;
                let Some(&slot) = c.slots.get(k) else {
                    return;
                };
                if visit(slot) {
                    return;
                }
                hits &= hits - 1;
            }
            if c.overflow() == 0 {
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The tag-match mask of `hash`'s home chunk (bit k for slot k) and the chunk's
    /// slots, for the batch warm-up: the first pass loads the line, the second picks the
    /// candidate entries from it.
    #[inline]
    pub(super) fn home_matches(&self, hash: u64) -> (u32, Option<&[u32; SLOTS]>) {
        match self.chunks.get(self.home(hash)) {
            Some(c) => (match_tags(&c.ctrl, tag_of(hash)), Some(&c.slots)),
            None => (0, None),
        }
    }

    /// Starts loading `hash`'s home chunk (the batch warm-up's first pass).
    #[inline]
    pub(super) fn prefetch_home(&self, hash: u64) {
        if let Some(c) = self.chunks.get(self.home(hash)) {
            crate::hint::prefetch(c);
        }
    }

    /// Adds `slot` under `hash` (duplicates allowed). `rehash` gives the hash of any stored
    /// slot, for growth.
    pub(super) fn insert(&mut self, hash: u64, slot: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * LOAD_DEN > self.chunks.len() * SLOTS * LOAD_NUM {
            self.grow(self.len + 1, &rehash);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, slot: u32) {
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            let c = &mut self.chunks[i];
            if let Some(k) = c.ctrl[..SLOTS].iter().position(|&t| t == 0) {
                c.ctrl[k] = tag_of(hash);
                c.slots[k] = slot;
                return;
            }
            c.set_overflow(c.overflow() + 1);
            i = (i + 1) & mask;
        }
    }

    /// Removes `slot` stored under `hash`; `false` if it is not there.
    pub(super) fn remove(&mut self, hash: u64, slot: u32) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let tag = tag_of(hash);
        let home = self.home(hash);
        let mask = self.mask();
        let mut i = home;
        for _ in 0..self.chunks.len() {
            let c = &mut self.chunks[i];
            if let Some(k) = (0..SLOTS).find(|&k| c.ctrl[k] == tag && c.slots[k] == slot) {
                c.ctrl[k] = 0;
                let mut j = home;
                while j != i {
                    let passed = &mut self.chunks[j];
                    passed.set_overflow(passed.overflow() - 1);
                    j = (j + 1) & mask;
                }
                self.len -= 1;
                return true;
            }
            if c.overflow() == 0 {
                return false;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// Makes room for `additional` more entries without growing on insert.
    pub(super) fn reserve(&mut self, additional: usize, rehash: impl Fn(u32) -> u64) {
        let want = self.len + additional;
        if want * LOAD_DEN > self.chunks.len() * SLOTS * LOAD_NUM {
            self.grow(want, &rehash);
        }
    }

    fn grow(&mut self, entries: usize, rehash: &impl Fn(u32) -> u64) {
        let need = (entries * LOAD_DEN).div_ceil(SLOTS * LOAD_NUM).max(1);
        let chunks = need.next_power_of_two().max(self.chunks.len() * 2).max(1);
        let old = core::mem::replace(&mut self.chunks, vec![Chunk::default(); chunks]);
        for c in &old {
            for k in 0..SLOTS {
                if c.ctrl[k] != 0 {
                    self.place(rehash(c.slots[k]), c.slots[k]);
                }
            }
        }
    }

    pub(super) fn allocation_size(&self) -> usize {
        self.chunks.capacity() * size_of::<Chunk>()
    }

    /// Slots stored.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn h(x: u32) -> u64 {
        // A poor hash on purpose (many equal low bits): long probe chains and overflow.
        u64::from(x % 97).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (u64::from(x) << 60)
    }

    #[test]
    fn tag_matching_is_exact() {
        let mut tags = [0u8; 16];
        // Overflow bytes that look like tags must never match.
        tags[12..].copy_from_slice(&[0x80, 0x81, 0xff, 0xab]);
        tags[0] = 0x80;
        tags[3] = 0x81;
        tags[4] = 0x80;
        tags[11] = 0xff;
        // 0x81 next to 0x80: the inexact zero-byte trick would flag a neighbour.
        let bits = |m: u32| (0..32).filter(|k| m >> k & 1 == 1).collect::<Vec<_>>();
        for matcher in [match_tags, match_tags_swar] {
            assert_eq!(bits(matcher(&tags, 0x80)), [0, 4]);
            assert_eq!(bits(matcher(&tags, 0x81)), [3]);
            assert_eq!(bits(matcher(&tags, 0xff)), [11]);
            assert_eq!(bits(matcher(&tags, 0x82)), Vec::<usize>::new());
            assert_eq!(
                bits(matcher(&[0xab; 16], 0xab)),
                (0..SLOTS).collect::<Vec<_>>()
            );
        }
    }

    proptest::proptest! {
        /// Both tag matchers against the obvious loop, over tags drawn from a few values so
        /// that matches, near misses and overflow look-alikes are common.
        #[test]
        fn tag_matchers_agree_with_a_loop(
            ctrl in proptest::array::uniform16(proptest::sample::select(vec![0u8, 0x80, 0x81, 0xc0, 0xff])),
            tag in proptest::sample::select(vec![0x80u8, 0x81, 0xc0, 0xff]),
        ) {
            let want = (0..SLOTS).filter(|&k| ctrl[k] == tag).fold(0, |m, k| m | 1 << k);
            proptest::prop_assert_eq!(match_tags(&ctrl, tag), want);
            proptest::prop_assert_eq!(match_tags_swar(&ctrl, tag), want);
        }
    }

    #[test]
    fn chunk_is_one_line() {
        assert_eq!(size_of::<Chunk>(), 64);
    }

    #[test]
    fn agrees_with_a_hash_map_under_churn() {
        let mut index = LineIndex::new();
        let mut model: HashSet<u32> = HashSet::new();
        let mut x = 12345u64;
        for step in 0..200_000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = (x >> 40) as u32 % 5000;
            if model.remove(&key) {
                assert!(index.remove(h(key), key), "step {step}");
            } else {
                index.insert(h(key), key, h);
                model.insert(key);
            }
            if step % 1000 == 0 {
                for k in 0..5000 {
                    assert_eq!(index.find(h(k), |s| s == k).is_some(), model.contains(&k));
                }
                // With every entry gone, every overflow count is back to zero.
                let overflow: u32 = index.chunks.iter().map(Chunk::overflow).sum();
                if model.is_empty() {
                    assert_eq!(overflow, 0);
                }
            }
        }
        for k in model.iter().copied().collect::<Vec<_>>() {
            assert!(index.remove(h(k), k));
        }
        assert!(index.chunks.iter().all(|c| c.ctrl == [0; 16]));
        assert_eq!(index.len, 0);
        assert!(!index.remove(h(1), 1));
    }
}
