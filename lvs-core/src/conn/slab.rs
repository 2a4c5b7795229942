//! A slab of entries in one array, so that a slot's entry is one address computation away
//! from the index (a chunked slab costs a dependent load of the chunk's pointer on every
//! lookup: 3 ns of a 40 ns established packet).
//!
//! The array never moves while the table stays within its budget: at its first growth it
//! reserves address space for the whole budget (up to [`MAX_RESERVE_BYTES`]). That is
//! address space, not memory: the allocation is a fresh mapping whose pages the kernel
//! commits when an entry is first written, so resident memory follows the slots in use (the
//! director bench checks this against the process's RSS). Beyond the reservation the array
//! grows as a `Vec` does, copying itself.

use core::mem::size_of;

use super::ConnFlags;
use super::key::{Entry, Family};

const NONE: u32 = u32::MAX;

/// Slots are below 2^31: the top bit of a tagged slot is the address family.
pub(super) const MAX_SLOTS: u32 = 1 << 31;

/// The most address space one slab reserves ahead (16M IPv4 or 8M IPv6 entries): well below
/// what an allocator or a fuzzer's malloc limit refuses, and far above a worker's table.
const MAX_RESERVE_BYTES: usize = 1 << 30;

/// The least a growth adds (64 KiB of IPv4 entries), for slabs without a budget.
const MIN_GROW: usize = 1024;

pub(super) struct Slab<A> {
    entries: Vec<Entry<A>>,
    /// Head of the free list, threaded through `meta.control_slot` of free entries.
    free: u32,
    live: u32,
    /// How many entries to make room for at the next growth (the table's budget).
    planned: usize,
}

impl<A: Family> Slab<A> {
    pub(super) const fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: NONE,
            live: 0,
            planned: 0,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.live as usize
    }

    #[inline(always)]
    pub(super) fn get(&self, slot: u32) -> Option<&Entry<A>> {
        self.entries.get(slot as usize)
    }

    #[inline(always)]
    pub(super) fn get_mut(&mut self, slot: u32) -> Option<&mut Entry<A>> {
        self.entries.get_mut(slot as usize)
    }

    /// Plans room for `entries` in all: reserved at the next growth, or now when the array
    /// is already allocated and smaller.
    pub(super) fn plan(&mut self, entries: usize) {
        self.planned = entries;
        let capacity = self.entries.capacity();
        if capacity > 0 && capacity < self.reservation() {
            self.grow();
        }
    }

    pub(super) fn planned(&self) -> usize {
        self.planned
    }

    /// The entries to reserve room for: the plan, up to [`MAX_RESERVE_BYTES`].
    fn reservation(&self) -> usize {
        self.planned.min(MAX_RESERVE_BYTES / size_of::<Entry<A>>())
    }

    /// Makes room for more entries: the planned total in one reservation (address space
    /// only, see the module docs), else a `Vec`'s usual doubling.
    fn grow(&mut self) {
        let target = self.reservation();
        let len = self.entries.len();
        if target > self.entries.capacity() && self.entries.try_reserve_exact(target - len).is_ok()
        {
            return;
        }
        self.entries.reserve(MIN_GROW);
    }

    /// A free slot, marked live, with its generation; `None` when 2^31 slots are in use.
    pub(super) fn alloc(&mut self) -> Option<u32> {
        let slot = if self.free != NONE {
            let slot = self.free;
            self.free = self.get(slot).map_or(NONE, |e| e.meta.control_slot);
            slot
        } else {
            let slot = self.used();
            if slot >= MAX_SLOTS {
                return None;
            }
            if self.entries.len() == self.entries.capacity() {
                self.grow();
            }
            self.entries.push(Entry::default());
            slot
        };
        self.live += 1;
        Some(slot)
    }

    /// Frees a live slot: bumps its generation so old handles go stale.
    pub(super) fn free(&mut self, slot: u32) {
        let head = self.free;
        if let Some(e) = self.get_mut(slot) {
            let generation = e.meta.generation.wrapping_add(1);
            e.meta = Default::default();
            e.meta.generation = generation;
            e.meta.control_slot = head;
            e.meta.flags = ConnFlags::empty();
            self.free = slot;
            self.live -= 1;
        }
    }

    /// Slots handed out so far (live or free).
    #[inline]
    pub(super) fn used(&self) -> u32 {
        self.entries.len() as u32
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &Entry<A>)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_live())
            .map(|(i, e)| (i as u32, e))
    }

    /// The bytes of the slots handed out so far: the array's written part. The reserved
    /// rest is address space the kernel has not committed (see the module docs).
    pub(super) fn allocation_size(&self) -> usize {
        self.entries.len() * size_of::<Entry<A>>()
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;

    fn filled(slab: &mut Slab<Ipv4Addr>, n: u32) {
        for k in 0..n {
            let slot = slab.alloc().unwrap();
            assert_eq!(slot, k);
            slab.get_mut(slot).unwrap().meta.cport = k as u16;
        }
    }

    /// Allocates slots up to `total`, asserting that the array does not move meanwhile.
    fn alloc_in_place(slab: &mut Slab<Ipv4Addr>, total: u32) {
        let first = slab.get(0).unwrap() as *const Entry<Ipv4Addr>;
        for _ in slab.used()..total {
            slab.alloc().unwrap();
        }
        assert!(
            core::ptr::eq(first, slab.get(0).unwrap()),
            "the array moved"
        );
    }

    #[test]
    fn entries_stay_in_place_up_to_the_plan() {
        let mut slab = Slab::<Ipv4Addr>::new();
        slab.plan(50_000);
        filled(&mut slab, 1);
        alloc_in_place(&mut slab, 50_000);
        // Only written slots count as memory.
        assert_eq!(
            slab.allocation_size(),
            50_000 * size_of::<Entry<Ipv4Addr>>()
        );
    }

    #[test]
    fn grows_past_the_plan_keeping_every_entry() {
        let mut slab = Slab::<Ipv4Addr>::new();
        slab.plan(10);
        filled(&mut slab, 5_000);
        assert_eq!(slab.used(), 5_000);
        for k in 0..5_000u32 {
            assert_eq!(slab.get(k).unwrap().meta.cport, k as u16);
        }
        assert!(slab.get(5_000).is_none());
    }

    #[test]
    fn a_raised_plan_reserves_at_once() {
        let mut slab = Slab::<Ipv4Addr>::new();
        slab.plan(100);
        filled(&mut slab, 100);
        slab.plan(20_000);
        alloc_in_place(&mut slab, 20_000);
        assert_eq!(slab.get(99).unwrap().meta.cport, 99);
    }

    #[test]
    fn freed_slots_come_back_first_with_a_new_generation() {
        let mut slab = Slab::<Ipv4Addr>::new();
        filled(&mut slab, 3);
        let generation = slab.get(1).unwrap().meta.generation;
        slab.free(1);
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.alloc(), Some(1));
        assert_eq!(
            slab.get(1).unwrap().meta.generation,
            generation.wrapping_add(1)
        );
        assert_eq!(slab.alloc(), Some(3));
    }
}
