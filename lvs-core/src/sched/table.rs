//! The lookup table shared by sh, dh and mh: slot -> dest, rebuilt off the hot path.

use super::{DestId, RebuildStats, SchedDest};

/// A slot that maps to no dest (the kernel's NULL bucket).
pub(super) const NO_DEST: u32 = u32::MAX;

/// Slots hold indices into the dest list as it was at the last rebuild; every list change
/// triggers a rebuild (the kernel's `add_dest`/`del_dest`/`upd_dest` all reassign), so the
/// indices stay valid until then. The ids of that list are kept to report which slots moved.
#[derive(Debug, Default)]
pub(super) struct SlotTable {
    slots: Vec<u32>,
    ids: Vec<DestId>,
    stats: RebuildStats,
}

impl SlotTable {
    /// Install a freshly built table for `dests`, counting the slots whose owner changed.
    pub(super) fn install(&mut self, slots: Vec<u32>, dests: &[SchedDest]) {
        let new_ids: Vec<DestId> = dests.iter().map(|d| d.id).collect();
        let owner = |ids: &[DestId], s: u32| ids.get(s as usize).copied();
        let moved = if self.slots.len() == slots.len() {
            self.slots
                .iter()
                .zip(&slots)
                .filter(|&(&old, &new)| owner(&self.ids, old) != owner(&new_ids, new))
                .count()
        } else {
            // First build (or a size change): every slot that has an owner now counts as moved.
            slots.iter().filter(|&&s| s != NO_DEST).count()
        };
        self.stats = RebuildStats {
            slots: slots.len(),
            moved,
        };
        self.slots = slots;
        self.ids = new_ids;
    }

    /// Keep the table but re-point its slots at the dests' new indices and report that nothing
    /// moved (the kernel refused to rebuild but its slots hold dest pointers, which survive list
    /// changes). A slot whose dest left the list reads as empty: the kernel would still return
    /// the deleted dest, which this view of the list cannot.
    pub(super) fn keep(&mut self, dests: &[SchedDest]) {
        let new_ids: Vec<DestId> = dests.iter().map(|d| d.id).collect();
        for s in &mut self.slots {
            let id = self.ids.get(*s as usize);
            *s = id
                .and_then(|id| new_ids.iter().position(|n| n == id))
                .map_or(NO_DEST, |i| i as u32);
        }
        self.ids = new_ids;
        self.stats = RebuildStats {
            slots: self.slots.len(),
            moved: 0,
        };
    }

    /// The dest index in slot `slot`, `None` for an empty slot. A slot whose index is beyond the
    /// current list (only possible after a refused rebuild) reads as empty.
    pub(super) fn owner(&self, slot: usize, dests: &[SchedDest]) -> Option<usize> {
        let s = *self.slots.get(slot)? as usize;
        (s < dests.len()).then_some(s)
    }

    /// Every slot's owner by id.
    pub(super) fn owners(&self) -> Vec<Option<DestId>> {
        self.slots
            .iter()
            .map(|&s| self.ids.get(s as usize).copied())
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn stats(&self) -> RebuildStats {
        self.stats
    }
}
