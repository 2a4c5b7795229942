//! Source hashing (`ip_vs_sh.c`).

use super::hash::{fold_addr, hash_32};
use super::table::{NO_DEST, SlotTable};
use super::{DestChange, DestId, RebuildStats, SchedDest, SchedFlags, SchedFlow, Scheduler};
use crate::time::Instant;

/// sh: a `2^bits`-bucket table (256 by default) laid out in list order, each dest taking
/// `weight` consecutive buckets (at least 1, so a weight-0 dest still owns a bucket); the client
/// address (and port with `sh-port`) picks the bucket.
#[derive(Debug)]
pub(crate) struct SourceHash {
    bits: u32,
    flags: SchedFlags,
    table: SlotTable,
}

impl SourceHash {
    pub(crate) fn new(bits: u8, flags: SchedFlags) -> Self {
        let mut s = Self {
            bits: u32::from(bits),
            flags,
            table: SlotTable::default(),
        };
        s.reassign(&[]);
        s
    }

    fn mask(&self) -> u32 {
        (1u32 << self.bits) - 1
    }

    /// `ip_vs_sh_reassign`: walk the list cyclically, filling `weight` buckets per dest; a dest
    /// moves on after `++count >= weight`, which is already true at 1 for weight 0.
    fn reassign(&mut self, dests: &[SchedDest]) {
        let size = 1usize << self.bits;
        let mut slots = vec![NO_DEST; size];
        if !dests.is_empty() {
            let (mut p, mut count) = (0usize, 0i64);
            for slot in &mut slots {
                *slot = p as u32;
                count += 1;
                if count >= i64::from(dests[p].weight) {
                    p = (p + 1) % dests.len();
                    count = 0;
                }
            }
        }
        self.table.install(slots, dests);
    }

    /// `ip_vs_sh_hashkey`: `(offset + hash_32(port + addr, bits)) & mask`, the sum of the host-order
    /// port and folded address wrapping in 32 bits.
    fn hashkey(&self, flow: &SchedFlow, offset: u32) -> usize {
        let port = if self.flags.port() {
            u32::from(flow.cport)
        } else {
            0
        };
        let key = port.wrapping_add(fold_addr(flow.caddr));
        (offset.wrapping_add(hash_32(key, self.bits)) & self.mask()) as usize
    }
}

impl Scheduler for SourceHash {
    fn name(&self) -> &'static str {
        "sh"
    }

    /// `ip_vs_sh_init_svc`: build the table from the current list.
    fn init_service(&mut self, dests: &[SchedDest]) {
        self.reassign(dests);
    }

    /// `ip_vs_sh_dest_changed`: every add, edit and delete rebuilds the whole table.
    fn update(&mut self, dests: &[SchedDest], _change: DestChange) {
        self.reassign(dests);
    }

    /// `ip_vs_sh_schedule`: the bucket owner if available. With `sh-fallback`, an unavailable
    /// owner makes the kernel probe `hashkey(offset = (i + ihash) % size)` for i = 0.. — the
    /// offset is added to the hash again, so the probes start at `2 * ihash`, not at `ihash + 1`.
    /// An empty bucket (no dests) ends the search.
    ///
    /// The port is the client port with `sh-port` (the kernel reads it only for TCP, UDP and
    /// SCTP: the caller passes `cport = 0` for other protocols).
    fn schedule(&mut self, dests: &[SchedDest], flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let ihash = self.hashkey(flow, 0);
        let first = self.table.owner(ihash, dests)?;
        if dests[first].is_available() {
            return Some(first);
        }
        if !self.flags.fallback() {
            return None;
        }
        let size = self.table.len() as u32;
        for offset in 0..size {
            let roffset = (offset + ihash as u32) % size;
            let i = self.table.owner(self.hashkey(flow, roffset), dests)?;
            if dests[i].is_available() {
                return Some(i);
            }
        }
        None
    }

    fn set_flags(&mut self, flags: SchedFlags) {
        self.flags = flags;
    }

    fn last_rebuild(&self) -> Option<RebuildStats> {
        Some(self.table.stats())
    }

    fn lookup_table(&self) -> Option<Vec<Option<DestId>>> {
        Some(self.table.owners())
    }
}
