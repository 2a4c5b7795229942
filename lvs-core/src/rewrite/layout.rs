//! [`Layout`]: validated offsets of a TCP/UDP/SCTP frame, so the data path parses once (flow
//! extraction) and every rewriter of that packet reuses the offsets.

use super::RewriteError;
use super::parse::{self, Ip, L4};
use crate::wire::flow::{Fragment, FrameInfo};
use crate::wire::proto;
use crate::wire::{IpProtocol, IpVersion};

/// Where the IP and transport headers of a whole (unfragmented) TCP, UDP or SCTP datagram sit in
/// an Ethernet frame.
///
/// Built only by [`Layout::parse`] or [`Layout::from_frame_info`], which validate the offsets;
/// the `*_at` rewriters re-check only that the frame still reaches [`Layout::end`], so a layout
/// used with the wrong frame gives wrong output or an error, never a panic.
#[derive(Debug, Clone, Copy)]
pub struct Layout(pub(crate) L4);

impl Layout {
    /// Parses the frame (Ethernet, at most one VLAN tag, IPv4/IPv6, TCP/UDP/SCTP).
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<Self, RewriteError> {
        parse::transport(frame).map(Self)
    }

    /// Takes the offsets found by [`crate::wire::flow::extract`], re-checking the few facts the
    /// rewriters rely on (offsets in order and in the frame, a whole datagram, a complete
    /// transport header) instead of walking the headers again.
    #[inline]
    pub fn from_frame_info(frame: &[u8], info: &FrameInfo) -> Result<Self, RewriteError> {
        if info.fragment != Fragment::None {
            return Err(RewriteError::Fragment);
        }
        let (l3, l4, end) = (info.l3_offset, info.l4_offset, info.l4_end);
        let v6 = info.ip_version == IpVersion::Ipv6;
        let min_hdr = if v6 { 40 } else { 20 };
        if l3.checked_add(min_hdr).is_none_or(|h| h > l4) || l4 > end || end > frame.len() {
            return Err(RewriteError::BadIpHeader);
        }
        let proto = match info.flow.proto {
            IpProtocol::Tcp => proto::TCP,
            IpProtocol::Udp => proto::UDP,
            IpProtocol::Sctp => proto::SCTP,
            _ => return Err(RewriteError::UnsupportedProtocol),
        };
        let ip = Ip {
            l3,
            v6,
            hdr_len: l4 - l3,
            end,
            proto,
            frag: false,
            later_frag: false,
        };
        parse::transport_of(frame, ip).map(Self)
    }

    /// Offset of the IP header.
    pub fn l3(&self) -> usize {
        self.0.ip.l3
    }

    /// Offset of the transport header.
    pub fn l4(&self) -> usize {
        self.0.at
    }

    /// End of the IP packet (Ethernet padding excluded).
    pub fn end(&self) -> usize {
        self.0.ip.end
    }

    /// Whether the packet is IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.0.ip.v6
    }

    /// The transport protocol number (6, 17 or 132).
    pub fn proto(&self) -> u8 {
        self.0.ip.proto
    }
}
