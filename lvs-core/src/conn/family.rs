//! The slab and the index of one address family.
//!
//! One index holds both directions: a connection's in entry under the hash of its client
//! packets' tuple `(proto, caddr, cport, vaddr, vport)`, and (NAT, FULLNAT) its out entry,
//! flagged with [`OUT`], under the hash of its replies' tuple `(proto, daddr, dport, caddr or
//! laddr, cport or lport)`. Both are hashed as "a packet's own (source, destination)", so a
//! packet of unknown direction is found with one hash and one probe ([`Tables::find_packet`]).
//! Templates hash with their own kind and never match a packet. A new connection's out entry
//! waits a few inserts in [`PendingOut`] before it goes into the index (see there); every
//! lookup here sees it all the same.

use super::ConnFlags;
use super::index::LineIndex;
use super::key::{Entry, Family, KIND_CONN, KeyHasher};
use super::pending::PendingOut;
use super::slab::{MAX_SLOTS, Slab};
use super::table::ConnError;

/// The index-slot flag of an out entry (slab slots are below 2^31).
const OUT: u32 = 1 << 31;

/// The addresses and index of one family.
pub(super) struct Tables<A> {
    pub(super) slab: Slab<A>,
    index: LineIndex,
    /// Out entries of the latest new connections, not yet in `index`.
    pending: PendingOut,
}

impl<A: Family> Tables<A> {
    pub(super) fn new() -> Self {
        Self {
            slab: Slab::new(),
            index: LineIndex::new(),
            pending: PendingOut::new(),
        }
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn find_in(
        &self,
        h: &KeyHasher,
        kind: u8,
        p: u8,
        c: A,
        cp: u16,
        v: A,
        vp: u16,
    ) -> Option<u32> {
        let hash = A::hash(h, kind, p, c, cp, v, vp);
        let slab = &self.slab;
        self.index.find(hash, |s| {
            s & OUT == 0
                && slab
                    .get(s)
                    .is_some_and(|e| e.matches_in(kind, p, c, cp, v, vp))
        })
    }

    #[inline]
    pub(super) fn find_out(
        &self,
        h: &KeyHasher,
        p: u8,
        d: A,
        dp: u16,
        b: A,
        bp: u16,
    ) -> Option<u32> {
        let hash = A::hash(h, KIND_CONN, p, d, dp, b, bp);
        let slab = &self.slab;
        let matches = |s: u32| {
            s & OUT != 0
                && slab
                    .get(s & !OUT)
                    .is_some_and(|e| e.matches_out(p, d, dp, b, bp))
        };
        self.index
            .find(hash, matches)
            .or_else(|| self.pending.find(hash, matches))
            .map(|s| s & !OUT)
    }

    /// The connection of a packet `src:sp -> dst:dp`, either direction, in one probe: the
    /// connection whose in key it is (a client packet) wins over one whose out key it is (a
    /// reply), as a lookup of the in key before the out key would have it. `true` = out.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn find_packet(
        &self,
        hash: u64,
        p: u8,
        src: A,
        sp: u16,
        dst: A,
        dp: u16,
    ) -> Option<(u32, bool)> {
        let slab = &self.slab;
        let mut found = None;
        let mut reply = None;
        self.index.probe(hash, |s| {
            let Some(e) = slab.get(s & !OUT) else {
                return false;
            };
            if s & OUT == 0 {
                if e.matches_in(KIND_CONN, p, src, sp, dst, dp) {
                    found = Some((s, false));
                    return true;
                }
            } else if reply.is_none() && e.matches_out(p, src, sp, dst, dp) {
                reply = Some((s & !OUT, true));
            }
            false
        });
        found.or(reply).or_else(|| {
            if self.pending.is_empty() {
                return None;
            }
            let s = self.pending.find(hash, |s| {
                slab.get(s & !OUT)
                    .is_some_and(|e| e.matches_out(p, src, sp, dst, dp))
            })?;
            Some((s & !OUT, true))
        })
    }

    /// Starts loading the home index line of `hash` (the batch warm-up's first pass).
    #[inline]
    pub(super) fn warm_index(&self, hash: u64) {
        self.index.prefetch_home(hash);
    }

    /// Starts loading the entries of the home line's candidates for `hash` (the second pass,
    /// which reads the line the first one fetched), without comparing keys.
    #[inline]
    pub(super) fn warm_entries(&self, hash: u64) {
        let (mut hits, slots) = self.index.home_matches(hash);
        let Some(slots) = slots else {
            return;
        };
        while hits != 0 {
            let k = hits.trailing_zeros() as usize;
            if let Some(e) = slots.get(k).and_then(|&s| self.slab.get(s & !OUT)) {
                crate::hint::prefetch(e);
            }
            hits &= hits - 1;
        }
    }

    /// Adds `entry`, returning its slot and the slot's generation.
    pub(super) fn insert(
        &mut self,
        h: &KeyHasher,
        entry: Entry<A>,
    ) -> Result<(u32, u32), ConnError> {
        let m = &entry.meta;
        let (kind, in_hash) = (entry.in_kind(), entry.in_hash(h));
        let slab = &self.slab;
        let exists = self.index.find(in_hash, |s| {
            s & OUT == 0
                && slab.get(s).is_some_and(|e| {
                    e.matches_in(kind, m.proto, entry.caddr, m.cport, entry.vaddr, m.vport)
                })
        });
        if exists.is_some() {
            return Err(ConnError::Exists);
        }
        let Some(slot) = self.slab.alloc() else {
            return Err(ConnError::Full {
                budget: MAX_SLOTS as usize,
            });
        };
        let Self {
            slab,
            index,
            pending,
        } = self;
        let mut generation = 0;
        if let Some(e) = slab.get_mut(slot) {
            generation = e.meta.generation;
            *e = entry;
            e.meta.generation = generation;
        }
        let rehash = |s: u32| rehash(slab, h, s);
        index.insert(in_hash, slot, rehash);
        if has_out(&entry) {
            // The out entry waits (see `PendingOut`) while its index line loads.
            let out_hash = entry.out_hash(h);
            index.prefetch_home(out_hash);
            if let Some((oldest_hash, oldest)) = pending.push(out_hash, slot | OUT) {
                index.insert(oldest_hash, oldest, rehash);
            }
        }
        Ok((slot, generation))
    }

    /// Unlinks and frees a live slot, returning its entry.
    pub(super) fn remove(&mut self, h: &KeyHasher, slot: u32) -> Option<Entry<A>> {
        let entry = *self.slab.get(slot).filter(|e| e.is_live())?;
        self.index.remove(entry.in_hash(h), slot);
        if has_out(&entry) && !self.pending.remove(slot | OUT) {
            self.index.remove(entry.out_hash(h), slot | OUT);
        }
        self.slab.free(slot);
        Some(entry)
    }

    /// Room for `additional` more connections with both entries.
    pub(super) fn reserve(&mut self, h: &KeyHasher, additional: usize) {
        let Self { slab, index, .. } = self;
        slab.plan(slab.planned().max(slab.len().saturating_add(additional)));
        index.reserve(additional.saturating_mul(2), |s| rehash(slab, h, s));
    }

    pub(super) fn allocation_size(&self) -> usize {
        self.slab.allocation_size() + self.index.allocation_size()
    }

    /// Index entries, placed or pending (tests check that removals leave none behind).
    #[cfg(test)]
    pub(super) fn index_entries(&self) -> usize {
        self.index.len() + self.pending.len()
    }
}

/// The hash an index slot is stored under (for growth).
#[inline]
fn rehash<A: Family>(slab: &Slab<A>, h: &KeyHasher, s: u32) -> u64 {
    slab.get(s & !OUT).map_or(0, |e| {
        if s & OUT == 0 {
            e.in_hash(h)
        } else {
            e.out_hash(h)
        }
    })
}

fn has_out<A>(entry: &Entry<A>) -> bool {
    !entry.meta.flags.contains(ConnFlags::TEMPLATE)
        && super::ForwardMethod::from_u8(entry.meta.fwd).sees_replies()
}
