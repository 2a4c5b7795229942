//! Tunnel decapsulation for the real-server helper (hosts here have no kernel ipip/fou/gre):
//! given an outer packet of any kind [`super::tunnel`] sends, find or strip the inner packet.
//!
//! Accepted: IPv4/IPv6 outer with protocol 4 or 41; UDP to the configured GUE port carrying GUE
//! version 0 (data message, optional fields skipped by `hlen`) or version 1 (direct IPv4/IPv6);
//! GRE version 0 (RFC 2784) with optional checksum, key and sequence number (RFC 2890) and
//! protocol type IPv4/IPv6. Outer UDP and GRE checksums are verified when present.

use std::ops::Range;

use super::parse;
use super::{PacketBuf, RewriteError};
use crate::wire::checksum;
use crate::wire::{IpProtocol, read_u16, write_u16};
use crate::wire::{ethertype, proto};

/// Which encapsulation an outer packet used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelType {
    /// IP-in-IP.
    Ipip,
    /// GUE version 0.
    Gue,
    /// GUE version 1, direct IP.
    GueDirect,
    /// GRE.
    Gre,
}

/// Where the inner packet is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inner {
    /// Byte range of the inner IP packet within the frame.
    pub range: Range<usize>,
    /// The inner packet is IPv6.
    pub v6: bool,
    /// The encapsulation found.
    pub tunnel: TunnelType,
}

/// Finds the inner IP packet of a tunnelled Ethernet frame. `gue_port` is the UDP port on which
/// GUE is accepted (`None`: no GUE).
pub fn inner(frame: &[u8], gue_port: Option<u16>) -> Result<Inner, RewriteError> {
    let outer = parse::frame_ip(frame)?;
    if outer.frag {
        return Err(RewriteError::Fragment);
    }
    let b = &frame[..outer.end];
    let h = outer.l4();
    let (at, tunnel, want_v6) = match outer.proto {
        proto::IPIP => (h, TunnelType::Ipip, Some(false)),
        proto::IPV6 => (h, TunnelType::Ipip, Some(true)),
        proto::UDP => {
            if b.len() < h + 8 {
                return Err(RewriteError::Truncated);
            }
            if gue_port != Some(read_u16(b, h + 2)) {
                return Err(RewriteError::NotTunnel);
            }
            let ulen = usize::from(read_u16(b, h + 4));
            if ulen < 8 || h + ulen != outer.end {
                return Err(RewriteError::BadTransportHeader);
            }
            let (s, d, n) = outer.addrs();
            let c = read_u16(b, h + 6);
            if c != 0 || outer.v6 {
                let ps = checksum::pseudo_header_bytes(
                    &b[s..s + n],
                    &b[d..d + n],
                    IpProtocol::Udp,
                    ulen as u32,
                );
                if !verify_sum(&b[h..outer.end], ps) {
                    return Err(RewriteError::BadChecksum);
                }
            }
            let g = h + 8;
            let first = *b.get(g).ok_or(RewriteError::Truncated)?;
            match first >> 6 {
                0 => {
                    if b.len() < g + 4 {
                        return Err(RewriteError::Truncated);
                    }
                    // C bit: a control message, not encapsulated data.
                    if first & 0x20 != 0 {
                        return Err(RewriteError::NotTunnel);
                    }
                    let hlen = usize::from(first & 0x1f) * 4;
                    let v6 = match b[g + 1] {
                        proto::IPIP => false,
                        proto::IPV6 => true,
                        _ => return Err(RewriteError::UnsupportedTunnel),
                    };
                    (g + 4 + hlen, TunnelType::Gue, Some(v6))
                }
                1 => (g, TunnelType::GueDirect, None),
                _ => return Err(RewriteError::UnsupportedTunnel),
            }
        }
        proto::GRE => {
            if b.len() < h + 4 {
                return Err(RewriteError::Truncated);
            }
            let flags = read_u16(b, h);
            // Routing present, strict source route, recursion, other flags or version != 0.
            if flags & 0x4fff != 0 {
                return Err(RewriteError::UnsupportedTunnel);
            }
            let (c, k, s) = (
                flags & 0x8000 != 0,
                flags & 0x2000 != 0,
                flags & 0x1000 != 0,
            );
            let len = 4 + 4 * (usize::from(c) + usize::from(k) + usize::from(s));
            if b.len() < h + len {
                return Err(RewriteError::Truncated);
            }
            if c && !verify_sum(&b[h..outer.end], 0) {
                return Err(RewriteError::BadChecksum);
            }
            let v6 = match read_u16(b, h + 2) {
                ethertype::IPV4 => false,
                ethertype::IPV6 => true,
                _ => return Err(RewriteError::UnsupportedTunnel),
            };
            (h + len, TunnelType::Gre, Some(v6))
        }
        _ => return Err(RewriteError::NotTunnel),
    };
    let ip = parse::ip_at(b, at, false)?;
    if want_v6.is_some_and(|v6| v6 != ip.v6) {
        return Err(RewriteError::BadIpHeader);
    }
    Ok(Inner {
        range: ip.l3..ip.end,
        v6: ip.v6,
        tunnel,
    })
}

/// Strips the outer headers in place: the frame becomes Ethernet + the inner packet, with the
/// Ethernet type of the inner family. Moves the shorter side (normally the Ethernet header).
pub fn decap(pkt: &mut PacketBuf<'_>, gue_port: Option<u16>) -> Result<Inner, RewriteError> {
    let found = inner(pkt.frame(), gue_port)?;
    let (et_at, _) = parse::ethertype(pkt.frame())?;
    let l3 = et_at + 2;
    pkt.truncate(found.range.end);
    pkt.close_gap(l3, found.range.start - l3)?;
    write_u16(
        pkt.frame_mut(),
        et_at,
        if found.v6 {
            ethertype::IPV6
        } else {
            ethertype::IPV4
        },
    );
    let len = found.range.len();
    Ok(Inner {
        range: l3..l3 + len,
        ..found
    })
}

/// Whether `data` plus the partial sum `init` (a pseudo-header, or 0) verifies: a received
/// checksum is correct when the sum over everything it covers is `0xffff` (RFC 1071).
fn verify_sum(data: &[u8], init: u16) -> bool {
    checksum::combine(&[init, checksum::data(data)]) == 0xffff
}
