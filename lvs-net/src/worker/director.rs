//! [`DirectorHandler`]: the sans-IO director as a [`FrameHandler`].

use lvs_core::conn::FlowHint;
pub use lvs_core::director::PREFETCH_MIN_CONNS;
use lvs_core::director::{Director, PREFETCH_BATCH, Verdict};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;

use super::{Action, FrameHandler};

/// Drives one `Director` (one per worker: no shared state on the packet path).
///
/// The verdict's `frame` is always a prefix of `pkt.frame()` (the rewriters move the frame
/// inside the `PacketBuf`, and the worker reads it back from there), so only a reply's
/// length has to travel in the [`Action`].
#[derive(Debug)]
pub struct DirectorHandler(pub Director, BatchHints);

/// The connection lookups of the batch being handled ([`Director::lookup_batch`]), handed
/// to the frames in order. A hint that belongs to another frame (the worker skipped one) is
/// harmless: the director checks it against the frame and looks up afresh.
#[derive(Debug, Default)]
pub(crate) struct BatchHints {
    hints: [FlowHint; PREFETCH_BATCH],
    next: usize,
    len: usize,
}

impl DirectorHandler {
    /// A handler for `director`.
    pub fn new(director: Director) -> Self {
        Self(director, BatchHints::default())
    }
}

impl FrameHandler for DirectorHandler {
    #[inline]
    fn handle_frame(&mut self, now: Instant, port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        let b = &mut self.1;
        let hint = if b.next < b.len {
            b.next += 1;
            b.hints[b.next - 1]
        } else {
            FlowHint::default()
        };
        match self.0.handle_packet_hinted(now, port, pkt, hint) {
            Verdict::Forward { next_hop, .. } => Action::Forward {
                next_hop: next_hop.addr,
                mac: next_hop.mac,
            },
            Verdict::Reply { frame } => Action::Reply { len: frame.len() },
            // The director counts the reason (`Director::drop_counters`).
            Verdict::Drop(_) => Action::Drop,
            Verdict::Pass => Action::Pass,
        }
    }

    /// [`Director::lookup_batch`]: the batch's lookups run together (prefetched from
    /// [`PREFETCH_MIN_CONNS`] connections); `handle_frame` takes their results in order.
    #[inline]
    fn prefetch(&mut self, frames: &[&[u8]]) {
        let b = &mut self.1;
        b.len = frames.len().min(PREFETCH_BATCH);
        b.next = 0;
        self.0.lookup_batch(&frames[..b.len], &mut b.hints[..b.len]);
    }

    /// ARP and neighbour-discovery answers carry the MAC of the port the request came in on.
    fn set_port_macs(&mut self, macs: &[lvs_core::wire::MacAddr]) {
        self.0.set_port_macs(macs);
    }

    fn gso_whole(&self, _port: usize, frame: &[u8]) -> bool {
        self.0.gso_whole(frame)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.0.poll_transmit(now, buf)
    }
}
