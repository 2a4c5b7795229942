//! The deadline index: a one-level timer wheel of one-second slots, re-armed lazily.
//!
//! Each connection has one authoritative wheel entry `(slot, deadline)`; the entry's own
//! `queued` field names that deadline. A packet only moves `expires` later, which costs the
//! wheel nothing: when the old deadline comes up the entry is re-queued at the stored
//! `expires` instead of expiring. Only a shorter deadline (a state change to a state with a
//! shorter timeout, an explicit expire-now) pushes a new wheel entry; the old one no longer
//! matches `queued` and is dropped the next time its slot comes up, within one turn. Deadlines
//! further out than the wheel (1024 s) sit in their slot modulo 1024 and are skipped until
//! their turn.

use core::mem;

const SLOTS: usize = 1024;

/// What the owner decided about a due wheel entry.
pub(super) enum Action {
    /// Forget this wheel entry (stale, superseded, or the connection expired).
    Drop,
    /// Leave it in its slot: its deadline is a later turn of the wheel.
    Keep,
    /// Queue the connection again at this deadline.
    Rearm(u32),
}

pub(super) struct Wheel {
    slots: Box<[Vec<(u32, u32)>]>,
    /// The last second processed.
    cursor: u64,
}

impl Wheel {
    pub(super) fn new() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            cursor: 0,
        }
    }

    /// A placeholder without slots, swapped in while the wheel is being advanced.
    pub(super) fn empty() -> Self {
        Self {
            slots: Box::default(),
            cursor: 0,
        }
    }

    /// Queues `tag` at `deadline`. A deadline already passed goes to the next second.
    #[inline]
    pub(super) fn schedule(&mut self, tag: u32, deadline: u32) {
        let tick = u64::from(deadline).max(self.cursor + 1);
        self.slots[(tick % SLOTS as u64) as usize].push((tag, deadline));
    }

    /// Processes every slot from the cursor up to `now_secs` (each slot at most once), handing
    /// each entry to `f` with whether it is due; an entry for a later turn is only checked for
    /// staleness (so superseded entries live at most one turn).
    pub(super) fn advance(&mut self, now_secs: u64, mut f: impl FnMut(u32, u32, bool) -> Action) {
        if now_secs <= self.cursor {
            return;
        }
        let ticks = (now_secs - self.cursor).min(SLOTS as u64);
        let first = self.cursor + 1;
        // Before the loop: the callbacks' re-arms go after the cursor.
        self.cursor = now_secs;
        for tick in first..first + ticks {
            let index = (tick % SLOTS as u64) as usize;
            let mut batch = mem::take(&mut self.slots[index]);
            for (tag, deadline) in batch.drain(..) {
                match f(tag, deadline, u64::from(deadline) <= now_secs) {
                    Action::Drop => {}
                    Action::Keep => self.slots[index].push((tag, deadline)),
                    Action::Rearm(next) => self.schedule(tag, next),
                }
            }
            // Keep the slot's capacity: no allocation in steady state.
            if self.slots[index].is_empty() {
                self.slots[index] = batch;
            } else {
                batch.append(&mut self.slots[index]);
                self.slots[index] = batch;
            }
        }
    }

    /// The first second after the cursor with a queued entry: a lower bound of the next
    /// expiry (the entry may be re-armed rather than expire).
    pub(super) fn next_tick(&self) -> Option<u64> {
        (1..=SLOTS as u64)
            .map(|d| self.cursor + d)
            .find(|t| !self.slots[(t % SLOTS as u64) as usize].is_empty())
    }

    pub(super) fn allocation_size(&self) -> usize {
        self.slots.len() * mem::size_of::<Vec<(u32, u32)>>()
            + self
                .slots
                .iter()
                .map(|s| s.capacity() * mem::size_of::<(u32, u32)>())
                .sum::<usize>()
    }
}
