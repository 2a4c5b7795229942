//! Weighted round-robin (`ip_vs_wrr.c`).

use super::hash::gcd;
use super::{DestChange, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// wrr: walk the list from the cursor taking the first available dest whose weight reaches the
/// current weight `cw`; each time the walk wraps, lower `cw` by the weights' gcd `di`, and when it
/// drops to 0 start again at `mw`.
///
/// State as `struct ip_vs_wrr_mark`: `cl` is the index of the last pick (`None` = the list head),
/// `mw` the maximum weight minus `di - 1` (so the last pass runs with `cw = 1` and still catches a
/// dest whose weight fell below `di`).
#[derive(Debug, Default)]
pub(crate) struct WeightedRoundRobin {
    cl: Option<usize>,
    cw: i32,
    mw: i32,
    di: i32,
}

/// `ip_vs_wrr_gcd_weight`: gcd of the positive weights, 1 when there is none.
fn gcd_weight(dests: &[SchedDest]) -> i32 {
    let g = dests
        .iter()
        .filter(|d| d.weight > 0)
        .fold(0, |g, d| gcd(g, d.weight.unsigned_abs()));
    // A gcd of positive i32 values is itself a positive i32.
    if g == 0 { 1 } else { g as i32 }
}

/// `ip_vs_wrr_max_weight`: the largest weight, 0 for an empty list.
fn max_weight(dests: &[SchedDest]) -> i32 {
    dests.iter().map(|d| d.weight).fold(0, i32::max)
}

impl WeightedRoundRobin {
    /// The state `ip_vs_wrr_init_svc` leaves for an empty service: `di = 1`, `mw = cw = 0`.
    pub(crate) fn new() -> Self {
        Self {
            cl: None,
            cw: 0,
            mw: 0,
            di: 1,
        }
    }
}

impl Scheduler for WeightedRoundRobin {
    fn name(&self) -> &'static str {
        "wrr"
    }

    /// `ip_vs_wrr_init_svc`: cursor at the head, `cw = mw`. This is the state `-E -s wrr` gives
    /// an existing service.
    fn init_service(&mut self, dests: &[SchedDest]) {
        self.cl = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        self.cw = self.mw;
    }

    /// `ip_vs_wrr_dest_changed` (add, edit and delete alike): cursor back to the head, `di`/`mw`
    /// recomputed; `cw` is kept unless it is above the new `mw` or 0 (then `cw = mw`), and with
    /// `di > 1` it is rounded down to a multiple of `di`, plus 1.
    fn update(&mut self, dests: &[SchedDest], _change: DestChange) {
        self.cl = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    /// `ip_vs_wrr_schedule`, including its termination rule: when every dest was checked with
    /// `cw <= di` (the last pass, which accepts any weight >= 1) and none was available, give up.
    /// On that failure the cursor is left where the kernel leaves it (the head, or `last` when the
    /// final scan stopped there).
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        if self.mw == 0 {
            return None;
        }
        let last = self.cl;
        let mut pos = self.cl;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            let start = pos.map_or(0, |p| p + 1);
            for (i, d) in dests.iter().enumerate().skip(start) {
                if !d.overloaded && d.weight >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            // The walk reached the list head.
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                // Either the pass that just ended accepted any weight >= 1 for the whole list, or
                // we started at the head and so already saw every dest with weight >= 1.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The first pass with w >= 1 only covered the dests after `last`: finish the
                // lap up to and including `last`, then stop.
                stop = last;
            }
        }
    }
}
