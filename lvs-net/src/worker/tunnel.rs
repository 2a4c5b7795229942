//! [`TunnelEndpoint`]: the real-server side of IPVS-TUN without kernel ipip/gre/fou modules.
//!
//! Frames arriving on the real server's interface are decapsulated
//! (`lvs_core::rewrite::decap`: IPIP, IPv6-in-IP, GRE, GUE) and the inner packet, addressed to
//! the VIP, is written into a TUN device that carries the VIP, so the host stack delivers it to
//! the service's socket and answers the client directly. Run it in a worker on the real
//! server's interface, with [`crate::device::isolate::Isolation::apply_tunnel_endpoint`] so
//! the host does not answer the outer packets with ICMP protocol-unreachable.

use lvs_core::rewrite::{PacketBuf, RewriteError, decap};
use lvs_core::time::Instant;

use super::{Action, FrameHandler};
use crate::device::tun::TunQueue;

/// Decapsulates tunnelled frames into a TUN queue (module doc).
#[derive(Debug)]
pub struct TunnelEndpoint {
    queue: TunQueue,
    gue_port: Option<u16>,
    /// Inner packets written to the TUN device.
    pub delivered: u64,
    /// Tunnelled frames that failed to decapsulate or to be written.
    pub errors: u64,
}

impl TunnelEndpoint {
    /// Writes inner packets into `queue`; GUE is accepted on `gue_port` if set.
    pub fn new(queue: TunQueue, gue_port: Option<u16>) -> Self {
        Self {
            queue,
            gue_port,
            delivered: 0,
            errors: 0,
        }
    }
}

impl FrameHandler for TunnelEndpoint {
    fn handle_frame(&mut self, _now: Instant, _port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        match decap::inner(pkt.frame(), self.gue_port) {
            Ok(inner) => {
                match pkt.frame().get(inner.range).map(|p| self.queue.send(p)) {
                    Some(Ok(_)) => self.delivered += 1,
                    _ => self.errors += 1,
                }
                Action::Drop
            }
            Err(RewriteError::NotTunnel) => Action::Pass,
            Err(_) => {
                self.errors += 1;
                Action::Drop
            }
        }
    }
}
