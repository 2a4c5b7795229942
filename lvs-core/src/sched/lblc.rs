//! Locality-based least-connection (`ip_vs_lblc.c`).

use core::time::Duration;

use super::cache::{LocalityTable, is_overloaded};
use super::wlc::weighted_least;
use super::{DestChange, DestId, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// lblc: remember the dest chosen for each destination address (the VIP, or any address a
/// fwmark service catches) and keep sending that address there; choose again by wlc when the
/// cached dest is gone, quiesced, or busier than its weight while another dest is below half of
/// its own.
#[derive(Debug)]
pub(crate) struct LocalityLeastConn {
    expiration: Duration,
    table: LocalityTable<DestId>,
}

impl LocalityLeastConn {
    pub(crate) fn new(expiration: Duration) -> Self {
        Self {
            expiration,
            table: LocalityTable::new(expiration),
        }
    }
}

impl Scheduler for LocalityLeastConn {
    fn name(&self) -> &'static str {
        "lblc"
    }

    /// `ip_vs_lblc_init_svc`: an empty cache; the timer is armed by the first `schedule`.
    fn init_service(&mut self, dests: &[SchedDest]) {
        self.table = LocalityTable::new(self.expiration);
        self.table.reindex(dests);
    }

    /// lblc has no dest hooks in the kernel: entries keep pointing at their dest, and one whose
    /// dest was deleted fails the availability test at the next lookup.
    fn update(&mut self, dests: &[SchedDest], _change: DestChange) {
        self.table.reindex(dests);
    }

    /// `ip_vs_lblc_schedule`. Any hit refreshes the entry's last use, even when it is then
    /// rescheduled. The cached dest is kept when it is still in the list, has weight > 0 and is
    /// not `is_overloaded`; the kernel does NOT test the threshold overload flag here, so a
    /// cached dest above its upper threshold keeps its traffic (only the wlc fallback skips
    /// overloaded dests).
    fn schedule(&mut self, dests: &[SchedDest], flow: &SchedFlow, now: Instant) -> Option<usize> {
        self.table.arm(now);
        let cached = match self.table.get_mut(flow.vaddr) {
            Some(en) => {
                en.lastuse = now;
                Some(en.data)
            }
            None => None,
        };
        if let Some(i) = cached.and_then(|id| self.table.index_of(id))
            && dests[i].weight > 0
            && !is_overloaded(dests, i)
        {
            return Some(i);
        }
        let pick = weighted_least(dests, SchedDest::overhead)?;
        // `ip_vs_lblc_new`: the same dest keeps its entry; another dest replaces it with a
        // fresh entry (last use = now, which the hit above already set).
        match self.table.get_mut(flow.vaddr) {
            Some(en) => {
                en.data = dests[pick].id;
                en.lastuse = now;
            }
            None => self.table.insert(flow.vaddr, now, dests[pick].id),
        }
        Some(pick)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    fn cache_len(&self) -> Option<usize> {
        Some(self.table.len())
    }
}
