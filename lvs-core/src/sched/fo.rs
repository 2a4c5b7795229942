//! Weighted failover (`ip_vs_fo.c`).

use super::{DestChange, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// fo: the available dest with the highest weight; the first one in list order on ties.
#[derive(Debug, Default)]
pub(crate) struct WeightedFailover;

impl Scheduler for WeightedFailover {
    fn name(&self) -> &'static str {
        "fo"
    }

    fn update(&mut self, _dests: &[SchedDest], _change: DestChange) {}

    /// `ip_vs_fo_schedule`: strict `>` against the best weight so far (starting at 0, so a
    /// weight-0 dest never wins).
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut hw = 0;
        for (i, d) in dests.iter().enumerate() {
            if !d.overloaded && d.weight > hw {
                best = Some(i);
                hw = d.weight;
            }
        }
        best
    }
}
