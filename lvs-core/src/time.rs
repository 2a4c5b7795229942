//! Virtual time.
//!
//! The core never reads a clock. Callers pass an [`Instant`]: the data plane derives it from a
//! monotonic clock, simulations and `replay` from virtual or capture time.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time, in nanoseconds since an epoch the caller chooses (boot, capture start, 0 in
/// tests). Only differences between instants of one caller are meaningful.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Self = Self(0);

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis.saturating_mul(1_000_000))
    }

    /// An instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The first tick of a timer that fired at `self` and repeats every `period` that is later
    /// than `now`: `self + k * period` for the smallest k >= 1. Ticks missed while nobody
    /// called are skipped in one step, however long the gap (a capture jumping years ahead
    /// must not loop once per period). A zero period gives `now` plus one nanosecond.
    pub fn next_tick_after(self, period: Duration, now: Self) -> Self {
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1);
        let missed = now.0.saturating_sub(self.0) / period;
        Self(
            self.0
                .saturating_add(period.saturating_mul(missed.saturating_add(1))),
        )
    }
}

impl Add<Duration> for Instant {
    type Output = Self;

    /// Saturates at the far future instead of wrapping: a timer that far out never fires.
    fn add(self, rhs: Duration) -> Self {
        let nanos = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(nanos))
    }
}

impl Sub for Instant {
    type Output = Duration;

    fn sub(self, rhs: Self) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(5);
        assert_eq!(t + Duration::from_millis(1500), Instant::from_millis(6500));
        assert_eq!(t - Instant::from_secs(7), Duration::ZERO);
        assert_eq!(Instant::from_secs(7) - t, Duration::from_secs(2));
        assert_eq!(t + Duration::MAX, Instant::from_nanos(u64::MAX));
        assert_eq!(Instant::from_millis(2500).as_secs(), 2);
    }

    #[test]
    fn next_tick_skips_missed_ticks_in_one_step() {
        let two = Duration::from_secs(2);
        let fired = Instant::from_secs(10);
        // Not yet due again, exactly due, between ticks.
        assert_eq!(
            fired.next_tick_after(two, Instant::from_secs(11)),
            Instant::from_secs(12)
        );
        assert_eq!(
            fired.next_tick_after(two, Instant::from_secs(12)),
            Instant::from_secs(14)
        );
        assert_eq!(
            fired.next_tick_after(two, Instant::from_secs(15)),
            Instant::from_secs(16)
        );
        // A gap of about 56 years (a capture with a zeroed timestamp before a real one).
        let far = Instant::from_secs(1_763_700_000);
        assert_eq!(
            Instant::ZERO.next_tick_after(two, far),
            Instant::from_secs(1_763_700_002)
        );
        assert_eq!(
            fired.next_tick_after(Duration::ZERO, fired),
            Instant::from_nanos(10_000_000_001)
        );
    }
}
