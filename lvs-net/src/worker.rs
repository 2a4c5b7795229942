//! The per-thread event loop: receive a ring block, hand each frame to a [`FrameHandler`],
//! send the results in sendmmsg batches straight out of the ring, drain originated frames,
//! resolve next hops, and sleep in poll(2) until the next frame or the earliest deadline.
//!
//! # Wiring the director
//! One `Director` per worker, each wrapped in [`DirectorHandler`] (the adapter maps the
//! director's `Verdict` to [`Action`]); the workers of one interface join one fanout group
//! with [`crate::device::Steering::Client`] so both directions of a connection meet the same
//! director; they share one [`crate::neigh::SharedNeighbours`].
//!
//! `Action::Pass` does nothing: the host stack already has its own copy of every frame an
//! AF_PACKET tap sees, unless [`crate::device::isolate`] dropped it (traffic to VIPs).

mod config;
mod counters;
mod director;
mod run;
mod tunnel;

use std::net::IpAddr;
use std::sync::OnceLock;

use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

pub use config::{PortConfig, Route, WorkerConfig};
pub use counters::{Counters, CountersSnapshot};
pub use director::{DirectorHandler, PREFETCH_MIN_CONNS};
pub use run::Worker;
pub use tunnel::TunnelEndpoint;

/// How many frames [`FrameHandler::prefetch`] sees at once (the director's batch).
pub const PREFETCH_BATCH: usize = lvs_core::director::PREFETCH_BATCH;

/// What the handler decided about one frame; the frame itself is `pkt.frame()` afterwards.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send the frame toward `next_hop` (routed by [`Route`]s; on-link when none matches).
    /// With `mac: None` the worker resolves the next hop's MAC (ARP/ND) and writes it.
    Forward {
        /// The IP the frame is delivered to on the link (real server, tunnel end, client).
        next_hop: IpAddr,
        /// The destination MAC if the handler already wrote it.
        mac: Option<MacAddr>,
    },
    /// Send the first `len` bytes of the frame back out of the port it came in on (ARP/ND
    /// answers written over the request, which may be longer).
    Reply {
        /// Length of the answer.
        len: usize,
    },
    /// Drop it (the handler counts why).
    Drop,
    /// Not ours: the host stack handles its own copy.
    Pass,
}

/// The packet logic a worker drives; `lvs_core::director::Director` behind an adapter in the
/// router, or a small test handler. Mirrors the director's sans-IO methods.
pub trait FrameHandler {
    /// Handles one received frame from port `port` (index into the worker's ports). The frame
    /// sits in `pkt` with at least [`crate::device::HEADROOM`] bytes of headroom.
    fn handle_frame(&mut self, now: Instant, port: usize, pkt: &mut PacketBuf<'_>) -> Action;

    /// Called once by [`Worker::new`] with each port's MAC, in port order, so answers the
    /// handler writes ([`Action::Reply`]) can carry the MAC of the port they leave from. The
    /// default ignores them.
    fn set_port_macs(&mut self, macs: &[MacAddr]) {
        let _ = macs;
    }

    /// Called with up to [`PREFETCH_BATCH`] received frames right before their
    /// [`handle_frame`](Self::handle_frame) calls, in the same order, so a handler can look
    /// their connections up together and overlap the lookups' cache misses
    /// (`Director::lookup_batch`). A hint: the default does nothing.
    fn prefetch(&mut self, frames: &[&[u8]]) {
        let _ = frames;
    }

    /// Whether a GSO super-frame (a train of TCP or UDP segments behind one set of headers,
    /// see [`crate::device::vnet`]) may be handed to [`handle_frame`](Self::handle_frame)
    /// whole, its headers rewritten once and the train sent with a GSO header for the kernel
    /// to segment. `false` makes the worker cut the train into segments first and hand those
    /// in one by one (what an encapsulating method needs). The default accepts.
    fn gso_whole(&self, port: usize, frame: &[u8]) -> bool {
        let _ = (port, frame);
        true
    }

    /// Runs timers due at `now`; called when [`poll_timeout`](Self::poll_timeout) has passed.
    fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next instant `handle_timeout` has work, if any.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Writes the next originated frame (ICMP errors, ARP answers, GARP) into `buf`.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let _ = (now, buf);
        None
    }
}

/// The data plane's clock: CLOCK_MONOTONIC (std's `Instant`) as nanoseconds since the first
/// call in this process, so all workers share one epoch and the core's instants compare
/// across threads.
pub fn now() -> Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(std::time::Instant::now);
    Instant::from_nanos(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

/// The IP destination of an untagged Ethernet frame (to route originated frames).
pub(crate) fn frame_dst_ip(frame: &[u8]) -> Option<IpAddr> {
    match u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]) {
        0x0800 => Some(IpAddr::from(<[u8; 4]>::try_from(frame.get(30..34)?).ok()?)),
        0x86dd => Some(IpAddr::from(<[u8; 16]>::try_from(frame.get(38..54)?).ok()?)),
        0x0806 => Some(IpAddr::from(<[u8; 4]>::try_from(frame.get(38..42)?).ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_from_a_shared_epoch() {
        let a = now();
        let b = std::thread::spawn(now).join().unwrap();
        assert!(b >= a);
    }

    #[test]
    fn originated_frames_route_by_destination() {
        let mut f = [0u8; 60];
        f[12..14].copy_from_slice(&[8, 0]);
        f[30..34].copy_from_slice(&[192, 0, 2, 9]);
        assert_eq!(frame_dst_ip(&f), Some("192.0.2.9".parse().unwrap()));
        f[12..14].copy_from_slice(&[8, 6]);
        f[38..42].copy_from_slice(&[192, 0, 2, 7]);
        assert_eq!(frame_dst_ip(&f), Some("192.0.2.7".parse().unwrap()));
        assert_eq!(frame_dst_ip(&f[..20]), None);
    }
}
