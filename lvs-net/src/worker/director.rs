//! [`DirectorHandler`]: the sans-IO director as a [`FrameHandler`].

pub use lvs_core::director::PREFETCH_MIN_CONNS;
use lvs_core::director::{Director, Verdict};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;

use super::{Action, FrameHandler};

/// Drives one `Director` (one per worker: no shared state on the packet path).
///
/// The verdict's `frame` is always a prefix of `pkt.frame()` (the rewriters move the frame
/// inside the `PacketBuf`, and the worker reads it back from there), so only a reply's
/// length has to travel in the [`Action`].
#[derive(Debug)]
pub struct DirectorHandler(pub Director);

impl FrameHandler for DirectorHandler {
    #[inline]
    fn handle_frame(&mut self, now: Instant, port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        match self.0.handle_packet_on(now, port, pkt) {
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

    /// [`Director::prefetch`] (which does nothing below [`PREFETCH_MIN_CONNS`]).
    #[inline]
    fn prefetch(&self, frames: &[&[u8]]) {
        self.0.prefetch(frames);
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
