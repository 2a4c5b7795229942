//! Maglev hashing (`ip_vs_mh.c`).

use core::hash::Hasher;
use core::net::IpAddr;

use siphasher::sip::SipHasher13;

use super::hash::{fold_addr, gcd};
use super::table::{NO_DEST, SlotTable};
use super::{DestChange, DestId, RebuildStats, SchedDest, SchedFlags, SchedFlow, Scheduler};
use crate::time::Instant;

/// `generate_hash_secret`: both words of the first key are 2654435761, of the second
/// 2654446892. The kernel's `hsiphash_key_t` is two `unsigned long`, i.e. two u64 on 64-bit.
const HASH1: (u64, u64) = (2_654_435_761, 2_654_435_761);
const HASH2: (u64, u64) = (2_654_446_892, 2_654_446_892);

/// `hsiphash` on a 64-bit kernel: SipHash-1-3 (one compression round, three finalisation
/// rounds) over the bytes of `v` in memory order (little-endian on the hosts IPVS runs on),
/// the 64-bit result truncated to u32 (the function returns `u32`).
fn hsiphash(v: u32, key: (u64, u64)) -> u32 {
    let mut h = SipHasher13::new_with_keys(key.0, key.1);
    h.write(&v.to_le_bytes());
    h.finish() as u32
}

/// `ip_vs_mh_hashkey`: hash `offset + port + fold(addr)`, all host order, wrapping in u32.
fn hashkey(addr: IpAddr, port: u16, key: (u64, u64), offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(fold_addr(addr));
    hsiphash(v, key)
}

/// mh: a Maglev lookup table of `M` slots (a prime, 4093 by default). Each dest has a
/// permutation `offset + j * skip (mod M)` from the hashes of its address and port; dests take
/// turns, in list order, claiming their next free slot, `turns` slots per turn in proportion to
/// their last non-zero weight.
#[derive(Debug)]
pub(crate) struct MaglevHash {
    size: u32,
    /// `IP_VS_MH_TAB_BITS` = `CONFIG_IP_VS_MH_TAB_INDEX / 2` for the index that selects `size`.
    tab_bits: u32,
    flags: SchedFlags,
    table: SlotTable,
}

/// The kernel's `CONFIG_IP_VS_MH_TAB_INDEX` (8..=17) for a table size; 65537, not a kernel size,
/// is treated like its neighbour 65521 (index 16).
fn tab_index(size: u32) -> u32 {
    match size {
        251 => 8,
        509 => 9,
        1021 => 10,
        2039 => 11,
        4093 => 12,
        8191 => 13,
        16381 => 14,
        32749 => 15,
        65521 | 65537 => 16,
        _ => 17,
    }
}

/// Per-dest permutation state (`struct ip_vs_mh_dest_setup`).
#[derive(Clone, Copy)]
struct Setup {
    perm: u32,
    skip: u32,
    turns: u32,
}

impl MaglevHash {
    /// `size` was validated against `MH_TABLE_SIZES` by `SchedConfig::validate`.
    pub(crate) fn new(size: u32, flags: SchedFlags) -> Self {
        let mut s = Self {
            size,
            tab_bits: tab_index(size) / 2,
            flags,
            table: SlotTable::default(),
        };
        s.reassign(&[]);
        s
    }

    /// `ip_vs_mh_gcd_weight`, `ip_vs_mh_shift_weight`, `ip_vs_mh_permutate` and
    /// `ip_vs_mh_populate`, by `last_weight` so a quiesced dest keeps its slots.
    fn reassign(&mut self, dests: &[SchedDest]) {
        let m = self.size;
        if dests.len() > m as usize {
            // `ip_vs_mh_reassign` returns -EINVAL and leaves the old table in place.
            self.table.keep(dests);
            return;
        }
        let lw = |d: &SchedDest| d.last_weight.max(0).unsigned_abs();
        let g = dests.iter().map(lw).filter(|&w| w > 0).fold(0, gcd);
        if g == 0 {
            // No dest with a non-zero last weight: every slot maps to no dest.
            self.table.install(vec![NO_DEST; m as usize], dests);
            return;
        }
        // rshift = fls(max / gcd) - TAB_BITS, at least 0: keeps the turns of a huge weight
        // ratio from starving the others in a small table.
        let max = dests.iter().map(lw).max().unwrap_or(0) / g;
        let fls = u32::BITS - max.leading_zeros();
        let rshift = fls.saturating_sub(self.tab_bits);
        let mut setup: Vec<Setup> = dests
            .iter()
            .map(|d| {
                let offset = hashkey(d.addr, d.port, HASH1, 0) % m;
                let skip = hashkey(d.addr, d.port, HASH2, 0) % (m - 1) + 1;
                let w = lw(d);
                // `((lw / gcd) >> rshift) ?: (lw != 0)`: a dest that ever had a weight gets a
                // turn even when the shift rounds it to 0.
                let turns = match (w / g) >> rshift {
                    0 => u32::from(w != 0),
                    t => t,
                };
                Setup {
                    perm: offset,
                    skip,
                    turns,
                }
            })
            .collect();

        let mut slots = vec![NO_DEST; m as usize];
        // Occupancy as a bitmap (the kernel's `table` bitmap too): 8 KiB for M = 65537, so the
        // permutation walks probe L1 instead of the 256 KiB slot array.
        let mut taken = vec![0u64; (m as usize).div_ceil(64)];
        let mut n = 0u32;
        'fill: loop {
            for (i, ds) in setup.iter_mut().enumerate() {
                for _ in 0..ds.turns {
                    // Walk this dest's permutation to its next free slot.
                    let mut c = ds.perm as usize;
                    while taken[c / 64] & (1 << (c % 64)) != 0 {
                        ds.perm += ds.skip;
                        if ds.perm >= m {
                            ds.perm -= m;
                        }
                        c = ds.perm as usize;
                    }
                    taken[c / 64] |= 1 << (c % 64);
                    slots[c] = i as u32;
                    n += 1;
                    if n == m {
                        break 'fill;
                    }
                }
            }
        }
        self.table.install(slots, dests);
    }

    fn slot(&self, flow: &SchedFlow, offset: u32) -> usize {
        let port = if self.flags.port() { flow.cport } else { 0 };
        (hashkey(flow.caddr, port, HASH1, offset) % self.size) as usize
    }
}

impl Scheduler for MaglevHash {
    fn name(&self) -> &'static str {
        "mh"
    }

    /// `ip_vs_mh_init_svc`: build the table from the current list.
    fn init_service(&mut self, dests: &[SchedDest]) {
        self.reassign(dests);
    }

    /// `ip_vs_mh_dest_changed`: every add, edit and delete rebuilds the table; see
    /// [`last_rebuild`](Scheduler::last_rebuild) for how many slots moved.
    fn update(&mut self, dests: &[SchedDest], _change: DestChange) {
        self.reassign(dests);
    }

    /// `ip_vs_mh_schedule`: slot `hsiphash(port + fold(caddr)) % M`; its owner if available.
    /// With `mh-fallback` an unavailable owner makes the kernel re-hash with offsets
    /// `(i + ihash) % M`, i = 0.., until an available owner; an empty slot ends the search.
    ///
    /// The port is the client port with `mh-port` (TCP, UDP and SCTP only in the kernel: the
    /// caller passes `cport = 0` for other protocols).
    fn schedule(&mut self, dests: &[SchedDest], flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let ihash = self.slot(flow, 0);
        let first = self.table.owner(ihash, dests)?;
        if dests[first].is_available() {
            return Some(first);
        }
        if !self.flags.fallback() {
            return None;
        }
        for offset in 0..self.size {
            let roffset = (offset + ihash as u32) % self.size;
            let i = self.table.owner(self.slot(flow, roffset), dests)?;
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
