//! The slab and the two indexes of one address family.

use core::hint::black_box;

use foldhash::fast::FixedState;

use super::ConnFlags;
use super::index::LineIndex;
use super::key::{Entry, Family, KIND_OUT};
use super::slab::{MAX_SLOTS, Slab};
use super::table::ConnError;

/// The addresses and indexes of one family.
pub(super) struct Tables<A> {
    pub(super) slab: Slab<A>,
    by_in: LineIndex,
    by_out: LineIndex,
}

impl<A: Family> Tables<A> {
    pub(super) fn new() -> Self {
        Self {
            slab: Slab::new(),
            by_in: LineIndex::new(),
            by_out: LineIndex::new(),
        }
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn find_in(
        &self,
        h: &FixedState,
        kind: u8,
        p: u8,
        c: A,
        cp: u16,
        v: A,
        vp: u16,
    ) -> Option<u32> {
        let hash = A::hash(h, kind, p, c, cp, v, vp);
        let slab = &self.slab;
        self.by_in.find(hash, |s| {
            slab.get(s)
                .is_some_and(|e| e.matches_in(kind, p, c, cp, v, vp))
        })
    }

    /// Loads one level of `hash`'s probe without comparing keys: 0 the index chunk, 1 the
    /// candidates' entries.
    #[inline]
    pub(super) fn warm_in(&self, hash: u64, level: u8) {
        let slab = &self.slab;
        if level == 0 {
            self.by_in.warm(hash);
        } else {
            black_box(self.by_in.find(hash, |s| {
                black_box(slab.get(s).map(|e| e.meta.proto));
                false
            }));
        }
    }

    #[inline]
    pub(super) fn find_out(
        &self,
        h: &FixedState,
        p: u8,
        d: A,
        dp: u16,
        b: A,
        bp: u16,
    ) -> Option<u32> {
        let hash = A::hash(h, KIND_OUT, p, d, dp, b, bp);
        let slab = &self.slab;
        self.by_out.find(hash, |s| {
            slab.get(s).is_some_and(|e| e.matches_out(p, d, dp, b, bp))
        })
    }

    pub(super) fn insert(&mut self, h: &FixedState, entry: Entry<A>) -> Result<u32, ConnError> {
        let m = &entry.meta;
        if self
            .find_in(
                h,
                entry.in_kind(),
                m.proto,
                entry.caddr,
                m.cport,
                entry.vaddr,
                m.vport,
            )
            .is_some()
        {
            return Err(ConnError::Exists);
        }
        let Some(slot) = self.slab.alloc() else {
            return Err(ConnError::Full {
                budget: MAX_SLOTS as usize,
            });
        };
        let generation = self.slab.get(slot).map_or(0, |e| e.meta.generation);
        let Self {
            slab,
            by_in,
            by_out,
        } = self;
        if let Some(e) = slab.get_mut(slot) {
            *e = entry;
            e.meta.generation = generation;
        }
        let rehash_in = |s: u32| slab.get(s).map_or(0, |e| e.in_hash(h));
        by_in.insert(entry.in_hash(h), slot, rehash_in);
        if has_out(&entry) {
            let rehash_out = |s: u32| slab.get(s).map_or(0, |e| e.out_hash(h));
            by_out.insert(entry.out_hash(h), slot, rehash_out);
        }
        Ok(slot)
    }

    /// Unlinks and frees a live slot, returning its entry.
    pub(super) fn remove(&mut self, h: &FixedState, slot: u32) -> Option<Entry<A>> {
        let entry = *self.slab.get(slot).filter(|e| e.is_live())?;
        self.by_in.remove(entry.in_hash(h), slot);
        if has_out(&entry) {
            self.by_out.remove(entry.out_hash(h), slot);
        }
        self.slab.free(slot);
        Some(entry)
    }

    pub(super) fn reserve(&mut self, h: &FixedState, additional: usize) {
        let Self {
            slab,
            by_in,
            by_out,
        } = self;
        by_in.reserve(additional, |s| slab.get(s).map_or(0, |e| e.in_hash(h)));
        by_out.reserve(additional, |s| slab.get(s).map_or(0, |e| e.out_hash(h)));
    }

    pub(super) fn allocation_size(&self) -> usize {
        self.slab.allocation_size() + self.by_in.allocation_size() + self.by_out.allocation_size()
    }
}

fn has_out<A>(entry: &Entry<A>) -> bool {
    !entry.meta.flags.contains(ConnFlags::TEMPLATE)
        && super::ForwardMethod::from_u8(entry.meta.fwd).sees_replies()
}
