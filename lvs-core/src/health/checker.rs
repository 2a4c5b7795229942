//! One checker's timing and up/down state: keepalived's `*_epilog` functions.

use core::time::Duration;

use super::{CheckToken, CheckerConfig};
use crate::time::Instant;

/// What a result changed in the checker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transition {
    /// Nothing to report.
    None,
    /// The checker went from down to up.
    Up,
    /// The checker went from up to down.
    Down,
}

/// A checker's state between probes.
#[derive(Clone, Debug)]
pub(super) struct Checker {
    pub(super) cfg: CheckerConfig,
    /// Index of its virtual server in the monitor.
    pub(super) vs: usize,
    /// Index of its real server in the virtual server.
    pub(super) rs: usize,
    /// keepalived `is_up`.
    pub(super) is_up: bool,
    /// keepalived `has_run`: false until the first result.
    has_run: bool,
    /// keepalived `retry_it`: retries spent since the last success.
    retry_it: u32,
    /// When the next probe is due; `None` while one is in flight.
    pub(super) next: Option<Instant>,
    /// A probe is in flight.
    in_flight: bool,
    /// While a probe is in flight: when to stop waiting for its result, if ever.
    pub(super) lost_at: Option<Instant>,
    seq: u32,
    /// The last result, for the listing.
    pub(super) last: Option<String>,
    /// Consecutive failed probes.
    pub(super) fails: u32,
    /// When `is_up` last changed (or the monitor started).
    pub(super) since: Instant,
}

impl Checker {
    pub(super) fn new(
        cfg: CheckerConfig,
        vs: usize,
        rs: usize,
        up: bool,
        first: Instant,
        now: Instant,
    ) -> Self {
        Self {
            cfg,
            vs,
            rs,
            is_up: up,
            has_run: false,
            retry_it: 0,
            next: Some(first),
            in_flight: false,
            lost_at: None,
            seq: 0,
            last: None,
            fails: 0,
            since: now,
        }
    }

    /// The last probe number used.
    pub(super) fn seq(&self) -> u32 {
        self.seq
    }

    /// Numbers this checker's probes from `base + 1` on.
    pub(super) fn set_seq(&mut self, base: u32) {
        self.seq = base;
    }

    /// Takes over `old`'s verdict (a reload): up/down, retries spent, last result, fails and
    /// since; not its schedule or the probe it may have in flight.
    pub(super) fn carry(&mut self, old: &Self) {
        self.is_up = old.is_up;
        self.has_run = old.has_run;
        self.retry_it = old.retry_it;
        self.last = old.last.clone();
        self.fails = old.fails;
        self.since = old.since;
    }

    /// Marks a probe as sent and returns its token; with `lost_results_fail` a missing result
    /// counts as a failure after twice the timeout plus a second.
    pub(super) fn start(
        &mut self,
        index: u32,
        now: Instant,
        lost_results_fail: bool,
    ) -> CheckToken {
        self.seq = self.seq.wrapping_add(1);
        self.next = None;
        self.in_flight = true;
        // The IO layer answers within connect_timeout; twice that plus a second covers a
        // loaded one, after which the probe counts as failed rather than stalling the checker.
        let grace = self.cfg.timing.connect_timeout.saturating_mul(2) + Duration::from_secs(1);
        self.lost_at = lost_results_fail.then(|| now + grace);
        CheckToken {
            checker: index,
            seq: self.seq,
        }
    }

    /// Whether `token` names the probe in flight.
    pub(super) fn expects(&self, token: CheckToken) -> bool {
        self.in_flight && token.seq == self.seq
    }

    /// keepalived's epilog: schedules the next probe and updates the up/down state.
    ///
    /// An up checker (or one that has not run yet) goes down only when `retry_it` has reached
    /// `retry`; until then it retries after `delay_before_retry`. A down checker that fails stays
    /// down and is probed again after `delay_loop`. Any success resets the retry count.
    pub(super) fn finish(&mut self, now: Instant, success: bool, result: String) -> Transition {
        let t = &self.cfg.timing;
        let mut delay = t.delay_loop;
        let mut transition = Transition::None;
        if success || ((self.is_up || !self.has_run) && self.retry_it >= t.retry) {
            self.retry_it = 0;
            if success && !self.is_up {
                transition = Transition::Up;
            } else if !success && self.is_up {
                transition = Transition::Down;
            }
            if transition != Transition::None {
                self.is_up = success;
                self.since = now;
            }
        } else if self.is_up {
            delay = t.delay_before_retry;
            self.retry_it += 1;
        }
        self.has_run = true;
        self.fails = if success {
            0
        } else {
            self.fails.saturating_add(1)
        };
        self.last = Some(result);
        self.in_flight = false;
        self.lost_at = None;
        self.next = Some(now + delay);
        transition
    }
}
