//! Never queue (`ip_vs_nq.c`).

use super::{DestChange, SchedDest, SchedFlow, Scheduler, sed::sed_overhead};
use crate::time::Instant;

/// nq: the first available dest with no active connection, else sed's pick.
#[derive(Debug, Default)]
pub(crate) struct NeverQueue;

impl Scheduler for NeverQueue {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn update(&mut self, _dests: &[SchedDest], _change: DestChange) {}

    /// `ip_vs_nq_schedule`: one scan; an idle dest returns at once, otherwise the smallest
    /// `(active + 1) / weight` cross-multiplied in i64 (see `wlc::weighted_least`), ties keeping
    /// the earlier dest. Unlike wlc, every candidate is checked for weight > 0.
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let mut least: Option<(usize, i64)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.is_available() {
                continue;
            }
            if d.active_conns == 0 {
                return Some(i);
            }
            let doh = i64::from(sed_overhead(d));
            let better = least.is_none_or(|(l, loh)| {
                loh * i64::from(d.weight) > doh * i64::from(dests[l].weight)
            });
            if better {
                least = Some((i, doh));
            }
        }
        least.map(|(i, _)| i)
    }
}
