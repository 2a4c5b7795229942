//! Least-connection (`ip_vs_lc.c`).

use super::{DestChange, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// lc: the available dest with the smallest overhead; the first one in list order on ties.
/// Weight only matters as "> 0".
#[derive(Debug, Default)]
pub(crate) struct LeastConn;

impl Scheduler for LeastConn {
    fn name(&self) -> &'static str {
        "lc"
    }

    fn update(&mut self, _dests: &[SchedDest], _change: DestChange) {}

    /// `ip_vs_lc_schedule`: strict `<` keeps the earlier dest on ties.
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let mut least: Option<(usize, u32)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.is_available() {
                continue;
            }
            let doh = d.overhead();
            if least.is_none_or(|(_, loh)| doh < loh) {
                least = Some((i, doh));
            }
        }
        least.map(|(i, _)| i)
    }
}
