//! [`TunnelEndpoint`]: the real-server side of IPVS-TUN without kernel ipip/gre/fou modules.
//!
//! Frames arriving on the real server's interface are decapsulated
//! (`lvs_core::rewrite::decap`: IPIP, IPv6-in-IP, GRE, GUE) and the inner packet, addressed to
//! the VIP, is written into a TUN device that carries the VIP, so the host stack delivers it to
//! the service's socket and answers the client directly. Run it in a worker on the real
//! server's interface, with [`crate::device::isolate::Isolation::apply_tunnel_endpoint`] so
//! the host does not answer the outer packets with ICMP protocol-unreachable.
//!
//! Only frames sent to the receiving port's MAC are taken, as the kernel's `ip_rcv` drops
//! `PACKET_OTHERHOST` frames before any tunnel module sees them: a packet socket also sees
//! the frames a switch floods while it has not learnt a MAC, and decapsulating another real
//! server's packets would deliver them twice.

use lvs_core::rewrite::{PacketBuf, RewriteError, decap};
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

use super::{Action, FrameHandler};
use crate::device::tun::TunQueue;

/// Decapsulates tunnelled frames into a TUN queue (module doc).
#[derive(Debug)]
pub struct TunnelEndpoint {
    queue: TunQueue,
    gue_port: Option<u16>,
    /// Each port's MAC ([`FrameHandler::set_port_macs`]); empty: every frame is taken.
    port_macs: Vec<MacAddr>,
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
            port_macs: Vec::new(),
            delivered: 0,
            errors: 0,
        }
    }
}

impl FrameHandler for TunnelEndpoint {
    fn handle_frame(&mut self, _now: Instant, port: usize, pkt: &mut PacketBuf<'_>) -> Action {
        if !addressed_to(pkt.frame(), self.port_macs.get(port)) {
            return Action::Pass;
        }
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

    fn set_port_macs(&mut self, macs: &[MacAddr]) {
        self.port_macs = macs.to_vec();
    }
}

/// Whether `frame` is addressed to this host on a port with MAC `mac` (`PACKET_HOST`): its
/// Ethernet destination is that MAC. Tunnelled packets are unicast, so broadcast and
/// multicast frames are not taken either. `None` (MAC unknown) takes every frame.
fn addressed_to(frame: &[u8], mac: Option<&MacAddr>) -> bool {
    mac.is_none_or(|m| frame.get(..6) == Some(&m.0[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_frames_for_the_port_mac_are_taken() {
        let mine = MacAddr([2, 0, 0, 0, 0, 0x11]);
        let mut frame = [0u8; 60];
        frame[..6].copy_from_slice(&mine.0);
        assert!(addressed_to(&frame, Some(&mine)));
        // Flooded to us, sent to another real server.
        frame[5] = 0x12;
        assert!(!addressed_to(&frame, Some(&mine)));
        frame[..6].fill(0xff);
        assert!(!addressed_to(&frame, Some(&mine)));
        assert!(!addressed_to(&[], Some(&mine)));
        assert!(addressed_to(&frame, None));
    }
}
