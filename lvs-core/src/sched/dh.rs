//! Destination hashing (`ip_vs_dh.c`).

use super::hash::{fold_addr, hash_32};
use super::table::{NO_DEST, SlotTable};
use super::{DestChange, DestId, RebuildStats, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// dh: a `2^bits`-bucket table (256 by default) dealt round-robin over the list, one bucket per
/// dest per round whatever its weight; the packet's destination address picks the bucket.
#[derive(Debug)]
pub(crate) struct DestinationHash {
    bits: u32,
    table: SlotTable,
}

impl DestinationHash {
    pub(crate) fn new(bits: u8) -> Self {
        let mut s = Self {
            bits: u32::from(bits),
            table: SlotTable::default(),
        };
        s.reassign(&[]);
        s
    }

    /// `ip_vs_dh_reassign`: bucket `i` goes to dest `i % n`.
    fn reassign(&mut self, dests: &[SchedDest]) {
        let size = 1usize << self.bits;
        let slots = (0..size)
            .map(|i| {
                if dests.is_empty() {
                    NO_DEST
                } else {
                    (i % dests.len()) as u32
                }
            })
            .collect();
        self.table.install(slots, dests);
    }
}

impl Scheduler for DestinationHash {
    fn name(&self) -> &'static str {
        "dh"
    }

    /// `ip_vs_dh_init_svc`: build the table from the current list.
    fn init_service(&mut self, dests: &[SchedDest]) {
        self.reassign(dests);
    }

    /// `ip_vs_dh_dest_changed`: every add, edit and delete rebuilds the table.
    fn update(&mut self, dests: &[SchedDest], _change: DestChange) {
        self.reassign(dests);
    }

    /// `ip_vs_dh_schedule`: bucket `hash_32(fold(vaddr), bits)`; its owner if weight > 0 and not
    /// overloaded, else no dest (dh has no fallback).
    fn schedule(&mut self, dests: &[SchedDest], flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let slot = hash_32(fold_addr(flow.vaddr), self.bits) as usize;
        let i = self.table.owner(slot, dests)?;
        dests[i].is_available().then_some(i)
    }

    fn last_rebuild(&self) -> Option<RebuildStats> {
        Some(self.table.stats())
    }

    fn lookup_table(&self) -> Option<Vec<Option<DestId>>> {
        Some(self.table.owners())
    }
}
