//! A chunked slab of entries.
//!
//! Chunks of 4096 entries instead of one `Vec`: growth never copies the table (no
//! multi-hundred-megabyte `memcpy` on a new connection at 10M entries) and the slack is at
//! most one chunk, which keeps bytes per connection close to the entry size.

use core::mem::size_of;

use super::ConnFlags;
use super::key::{Entry, Family};

const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const NONE: u32 = u32::MAX;

/// Slots are below 2^31: the top bit of a tagged slot is the address family.
pub(super) const MAX_SLOTS: u32 = 1 << 31;

pub(super) struct Slab<A> {
    chunks: Vec<Box<[Entry<A>]>>,
    /// Slots handed out at least once.
    used: u32,
    /// Head of the free list, threaded through `meta.control_slot` of free entries.
    free: u32,
    live: u32,
}

impl<A: Family> Slab<A> {
    pub(super) const fn new() -> Self {
        Self {
            chunks: Vec::new(),
            used: 0,
            free: NONE,
            live: 0,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.live as usize
    }

    #[inline]
    pub(super) fn get(&self, slot: u32) -> Option<&Entry<A>> {
        let chunk = self.chunks.get((slot >> CHUNK_BITS) as usize)?;
        chunk.get(slot as usize & (CHUNK - 1))
    }

    #[inline]
    pub(super) fn get_mut(&mut self, slot: u32) -> Option<&mut Entry<A>> {
        let chunk = self.chunks.get_mut((slot >> CHUNK_BITS) as usize)?;
        chunk.get_mut(slot as usize & (CHUNK - 1))
    }

    /// A free slot, marked live, with its generation; `None` when 2^31 slots are in use.
    pub(super) fn alloc(&mut self) -> Option<u32> {
        let slot = if self.free != NONE {
            let slot = self.free;
            self.free = self.get(slot).map_or(NONE, |e| e.meta.control_slot);
            slot
        } else {
            if self.used >= MAX_SLOTS {
                return None;
            }
            let slot = self.used;
            if slot as usize >= self.chunks.len() * CHUNK {
                self.chunks
                    .push(vec![Entry::default(); CHUNK].into_boxed_slice());
            }
            self.used += 1;
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
        self.used
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &Entry<A>)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .take(self.used as usize)
            .enumerate()
            .filter(|(_, e)| e.is_live())
            .map(|(i, e)| (i as u32, e))
    }

    pub(super) fn allocation_size(&self) -> usize {
        self.chunks.len() * CHUNK * size_of::<Entry<A>>()
            + self.chunks.capacity() * size_of::<Box<[Entry<A>]>>()
    }
}
