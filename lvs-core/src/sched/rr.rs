//! Round-robin (`ip_vs_rr.c`).

use super::{DestChange, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// rr: the next available dest after the last pick, wrapping.
///
/// The kernel keeps a pointer to the list element last picked (`sched_data`, initially the list
/// head). Here that is an index, `None` for the head, kept pointing at the same element as dests
/// are added in front of it, and moved to the previous element when the element it points at is
/// deleted (`ip_vs_rr_del_dest`).
#[derive(Debug, Default)]
pub(crate) struct RoundRobin {
    cursor: Option<usize>,
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "rr"
    }

    /// `ip_vs_rr_init_svc`: the cursor starts at the list head.
    fn init_service(&mut self, _dests: &[SchedDest]) {
        self.cursor = None;
    }

    fn update(&mut self, dests: &[SchedDest], change: DestChange) {
        self.cursor = match (change, self.cursor) {
            (_, None) => None,
            // Added at the head: the remembered element is one further down.
            (DestChange::Added(_), Some(c)) => Some(c + 1),
            (DestChange::Edited(_), c) => c,
            // `ip_vs_rr_del_dest`: when the cursor's element is unlinked, step back to its
            // predecessor (the head for the first element).
            (DestChange::Removed { index, .. }, Some(c)) if c == index => index.checked_sub(1),
            (DestChange::Removed { index, .. }, Some(c)) if c > index => Some(c - 1),
            (DestChange::Removed { .. }, c) => c,
        };
        // Defensive: a caller passing an inconsistent change must not make us index out of range.
        if self.cursor.is_some_and(|c| c >= dests.len()) {
            self.cursor = None;
        }
    }

    /// `ip_vs_rr_schedule`: scan from the element after the cursor to the end; when the cursor
    /// was not at the head, a second pass scans from the first element up to and including the
    /// cursor's own element.
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let start = self.cursor.map_or(0, |c| c + 1);
        let second = self.cursor.map_or(0..0, |c| 0..(c + 1).min(dests.len()));
        let pick = (start..dests.len())
            .chain(second)
            .find(|&i| dests[i].is_available())?;
        self.cursor = Some(pick);
        Some(pick)
    }
}
