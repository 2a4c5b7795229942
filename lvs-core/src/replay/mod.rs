//! Replaying captured frames through the director in capture time.
//!
//! `lvs-router replay` reads pcap files (the I/O lives in `lvs-net`), and this module does the
//! rest as a pure function over frames, so it is tested without files:
//!
//! ```text
//!   [Frame] per input --merge--> one stream ordered by time
//!        --drive--> Director (now = the frame's timestamp; timers fire in capture time)
//!        --> every transmitted frame with its timestamp + a Summary of verdicts
//! ```
//!
//! Virtual time is the capture's own clock: a frame's [`Instant`] is its timestamp in nanoseconds
//! since the Unix epoch, so output frames carry timestamps comparable with the input's.

mod drive;
mod rules;

pub use drive::{MAX_TIMER_STEPS, Summary, replay};
pub use rules::{Rule, RulesError, parse_rules};

use crate::time::Instant;

/// One link-layer frame (Ethernet) and the time it was seen or sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Capture time, nanoseconds since the Unix epoch.
    pub at: Instant,
    /// The Ethernet frame, starting at the destination MAC.
    pub data: Vec<u8>,
}

impl Frame {
    /// A frame seen at `at`.
    pub const fn new(at: Instant, data: Vec<u8>) -> Self {
        Self { at, data }
    }
}

/// Merges several captures into one stream ordered by timestamp.
///
/// The sort is stable over the inputs laid end to end: frames with equal timestamps keep the
/// order of their inputs (first input first) and their order inside an input. A capture whose
/// own timestamps step backwards (`tcpdump -i any` can interleave CPUs that way) is reordered
/// too: the director's `now` must never go back, since its timers assume a monotonic clock.
pub fn merge(inputs: impl IntoIterator<Item = Vec<Frame>>) -> Vec<Frame> {
    let mut all: Vec<Frame> = inputs.into_iter().flatten().collect();
    all.sort_by_key(|frame| frame.at);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(at: u64, tag: u8) -> Frame {
        Frame::new(Instant::from_nanos(at), vec![tag])
    }

    #[test]
    fn merge_orders_by_time_and_keeps_input_order_on_ties() {
        let a = vec![frame(10, 1), frame(30, 2), frame(30, 3)];
        let b = vec![frame(5, 4), frame(30, 5), frame(40, 6)];
        let tags: Vec<u8> = merge([a, b]).iter().map(|f| f.data[0]).collect();
        assert_eq!(tags, [4, 1, 2, 3, 5, 6]);
    }

    #[test]
    fn merge_makes_time_monotonic_within_one_input() {
        let tags: Vec<u8> = merge([vec![frame(20, 1), frame(10, 2)]])
            .iter()
            .map(|f| f.data[0])
            .collect();
        assert_eq!(tags, [2, 1]);
    }
}
