//! Shortest expected delay (`ip_vs_sed.c`).

use super::{DestChange, SchedDest, SchedFlow, Scheduler, wlc::weighted_least};
use crate::time::Instant;

/// sed: the available dest with the smallest `(active + 1) / weight`, the delay a new connection
/// would expect; inactive connections do not count.
#[derive(Debug, Default)]
pub(crate) struct ShortestExpectedDelay;

/// `ip_vs_sed_dest_overhead`: active connections plus the one being scheduled.
pub(super) fn sed_overhead(d: &SchedDest) -> u32 {
    d.active_conns.wrapping_add(1)
}

impl Scheduler for ShortestExpectedDelay {
    fn name(&self) -> &'static str {
        "sed"
    }

    fn update(&mut self, _dests: &[SchedDest], _change: DestChange) {}

    /// `ip_vs_sed_schedule`: wlc's two-stage scan with the sed overhead.
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        weighted_least(dests, sed_overhead)
    }
}
