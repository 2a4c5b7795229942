//! Power of two choices (`ip_vs_twos.c`).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{DestChange, SchedDest, SchedFlow, Scheduler};
use crate::time::Instant;

/// twos: two weighted random picks, keep the one with the lower `overhead / weight`.
///
/// The kernel draws with `get_random_u32_below(total_weight + 1)` (older kernels:
/// `prandom_u32() % (total_weight + 1)`), uniform in `0..=total_weight`; here a [`StdRng`]
/// seeded from [`SchedConfig::seed`](super::SchedConfig::seed) draws the same range, so runs
/// are reproducible.
#[derive(Debug)]
pub(crate) struct TwoChoices {
    rng: StdRng,
}

impl TwoChoices {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Scheduler for TwoChoices {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn update(&mut self, _dests: &[SchedDest], _change: DestChange) {}

    /// `ip_vs_twos_schedule`: sum the weights of the available dests, draw `r1`, `r2` in
    /// `0..=total`, walk the list subtracting each available weight and take the dest where each
    /// draw first drops to `<= 0` (so a draw of 0 or 1..=w lands on the first dest: it gets one
    /// extra chance in `total + 1`). Keep choice 2 only when strictly less loaded:
    /// `w2 * oh1 > w1 * oh2`, cross-multiplied in i64 (the kernel uses `int`, which could only
    /// differ after an overflow at millions of connections).
    fn schedule(&mut self, dests: &[SchedDest], _flow: &SchedFlow, _now: Instant) -> Option<usize> {
        let mut total: u64 = 0;
        let mut any = false;
        for d in dests.iter().filter(|d| d.is_available()) {
            total += d.weight.unsigned_abs() as u64;
            any = true;
        }
        if !any {
            return None;
        }
        // The kernel sums into an `int`; in u64/i64 no list of i32 weights can overflow.
        let mut r1 = self.rng.random_range(0..=total) as i64;
        let mut r2 = self.rng.random_range(0..=total) as i64;
        let mut c1: Option<usize> = None;
        let mut c2: Option<usize> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.is_available() {
                continue;
            }
            r1 -= i64::from(d.weight);
            r2 -= i64::from(d.weight);
            if r1 <= 0 && c1.is_none() {
                c1 = Some(i);
            }
            if r2 <= 0 && c2.is_none() {
                c2 = Some(i);
            }
            if c1.is_some() && c2.is_some() {
                break;
            }
        }
        // Both draws are <= total, so both land; the fallbacks only guard the types.
        let c1 = c1?;
        let Some(c2) = c2 else { return Some(c1) };
        let (d1, d2) = (&dests[c1], &dests[c2]);
        let lhs = i64::from(d2.weight) * i64::from(d1.overhead());
        let rhs = i64::from(d1.weight) * i64::from(d2.overhead());
        Some(if lhs > rhs { c2 } else { c1 })
    }
}
