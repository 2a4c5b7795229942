//! Weighted least-connection (`ip_vs_wlc.c`), the default scheduler.

use super::{DestChange, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// wlc: the available dest with the smallest `overhead / weight`.
#[derive(Debug, Default)]
pub(crate) struct WeightedLeastConn;

/// The kernel's two-stage weighted-least scan shared by wlc, sed, lblc and lblcr: the first
/// available dest seeds `least`, then every later dest that is not overloaded replaces it when
/// `loh * w_d > doh * w_least`.
///
/// The comparison is `doh / w_d < loh / w_least` cross-multiplied, so no division rounds and a
/// weight of 0 never wins (`loh * 0 > x` is false for `x >= 0`), which is why the second stage
/// only skips overloaded dests, as the kernel does. Overheads are u32 and weights at most
/// `i32::MAX`, so each product fits in i64 (the kernel casts to `__s64` for the same reason).
/// Ties keep the earlier dest.
pub(super) fn weighted_least(
    dests: &[SchedDest],
    overhead: impl Fn(&SchedDest) -> u32,
) -> Option<usize> {
    let first = dests.iter().position(SchedDest::is_available)?;
    let mut least = first;
    let mut loh = i64::from(overhead(&dests[first]));
    let mut lw = i64::from(dests[first].weight);
    // A plain index loop: the iterator adapters (`enumerate().skip()`) cost twice the
    // instructions per dest.
    let mut i = first + 1;
    while i < dests.len() {
        let d = &dests[i];
        let doh = i64::from(overhead(d));
        let dw = i64::from(d.weight);
        if !d.overloaded && loh * dw > doh * lw {
            least = i;
            loh = doh;
            lw = dw;
        }
        i += 1;
    }
    Some(least)
}

impl Scheduler for WeightedLeastConn {
    fn name(&self) -> &'static str {
        "wlc"
    }

    fn update(&mut self, _dests: &[SchedDest], _change: DestChange) {}

    /// `ip_vs_wlc_schedule` with the overhead `(active << 8) + inactive`.
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        weighted_least(dests, SchedDest::overhead)
    }
}
