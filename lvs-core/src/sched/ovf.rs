//! Weighted overflow (`ip_vs_ovf.c`).

use super::{DestChange, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// ovf: the available dest with the highest weight among those whose active connections do not
/// exceed their weight (the weight is read as a connection budget); first in list order on ties.
#[derive(Debug, Default)]
pub(crate) struct WeightedOverflow;

impl Scheduler for WeightedOverflow {
    fn name(&self) -> &'static str {
        "ovf"
    }

    fn update(&mut self, _dests: &[SchedDest], _change: DestChange) {}

    /// `ip_vs_ovf_schedule`: skip overloaded, weight-0 and `active > weight` dests; keep the
    /// first of the highest weight. The budget test is in i64 so a huge counter cannot wrap.
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.is_available() || i64::from(d.active_conns) > i64::from(d.weight) {
                continue;
            }
            if best.is_none_or(|b| d.weight > dests[b].weight) {
                best = Some(i);
            }
        }
        best
    }
}
