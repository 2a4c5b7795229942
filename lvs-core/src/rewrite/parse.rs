//! Just enough header walking for the rewriters: where L3 and L4 start, validated so that every
//! later index into the frame is in bounds.
//!
//! The rewriters re-derive these offsets themselves instead of trusting caller-supplied ones, so
//! each is a total function of the bytes: after `frame_ip`/`transport` succeed, the offsets
//! they return satisfy `l3 + hdr_len <= end <= frame.len()` (strict mode) and the transport
//! header lies within `end`.

use super::RewriteError;
use crate::wire::{WireError, ethertype, payload_ethertype, proto, read_u16, walk_ext_headers};

/// Where an IP header sits and what it says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ip {
    /// Offset of the IP header.
    pub(crate) l3: usize,
    /// IPv6 rather than IPv4.
    pub(crate) v6: bool,
    /// IPv4 IHL * 4, or 40 + the extension headers walked for IPv6.
    pub(crate) hdr_len: usize,
    /// Offset one past the IP packet (Ethernet padding excluded). In lenient (quoted) mode it is
    /// clipped to the bytes present.
    pub(crate) end: usize,
    /// The upper-layer protocol.
    pub(crate) proto: u8,
    /// The datagram is a fragment (IPv4 MF or offset, IPv6 fragment header with MF or offset).
    pub(crate) frag: bool,
    /// Only for IPv4/IPv6 fragments: this is not the first fragment.
    pub(crate) later_frag: bool,
}

impl Ip {
    /// Offset of the upper-layer header.
    pub(crate) fn l4(&self) -> usize {
        self.l3 + self.hdr_len
    }

    /// Offset and length of the source and destination address fields.
    pub(crate) fn addrs(&self) -> (usize, usize, usize) {
        if self.v6 {
            (self.l3 + 8, self.l3 + 24, 16)
        } else {
            (self.l3 + 12, self.l3 + 16, 4)
        }
    }
}

/// Returns the offset of the Ethernet type field and its value, after at most one VLAN tag
/// (0x8100 or 0x88a8: the crate's one tag rule, see [`crate::wire::EthernetFrame`]).
#[inline]
pub(crate) fn ethertype(frame: &[u8]) -> Result<(usize, u16), RewriteError> {
    payload_ethertype(frame).map_err(from_wire)
}

/// The rewriter error for a failed `wire` walk: a short buffer stays [`RewriteError::Truncated`],
/// anything else (an extension-header chain longer than `wire` walks) is a bad IP header.
#[cold]
fn from_wire(e: WireError) -> RewriteError {
    match e {
        WireError::Truncated => RewriteError::Truncated,
        _ => RewriteError::BadIpHeader,
    }
}

/// Parses the Ethernet header and the IP header behind it (strict: the whole IP packet is
/// present).
#[inline]
pub(crate) fn frame_ip(frame: &[u8]) -> Result<Ip, RewriteError> {
    let (at, et) = ethertype(frame)?;
    // The EtherType first, as `wire::flow`: a non-IP frame is `NotIp` whatever its payload.
    let want_v6 = match et {
        ethertype::IPV4 => false,
        ethertype::IPV6 => true,
        _ => return Err(RewriteError::NotIp),
    };
    let ip = ip_at(frame, at + 2, false)?;
    if ip.v6 != want_v6 {
        return Err(RewriteError::BadIpHeader);
    }
    Ok(ip)
}

/// Parses an IP header at `l3`. With `lenient`, the packet may be cut short (an ICMP quote):
/// `end` is clipped to `b.len()` and only the fixed header must be present.
#[inline]
pub(crate) fn ip_at(b: &[u8], l3: usize, lenient: bool) -> Result<Ip, RewriteError> {
    let first = *b.get(l3).ok_or(RewriteError::Truncated)?;
    match first >> 4 {
        4 => {
            if b.len() < l3 + 20 {
                return Err(RewriteError::Truncated);
            }
            let hdr_len = usize::from(first & 0x0f) * 4;
            let total = usize::from(read_u16(b, l3 + 2));
            if hdr_len < 20 || total < hdr_len {
                return Err(RewriteError::BadIpHeader);
            }
            let mut end = l3 + total;
            if end > b.len() {
                if !lenient {
                    return Err(RewriteError::Truncated);
                }
                end = b.len();
            }
            if l3 + hdr_len > end {
                return Err(RewriteError::Truncated);
            }
            let frag_field = read_u16(b, l3 + 6);
            let offset = frag_field & 0x1fff;
            Ok(Ip {
                l3,
                v6: false,
                hdr_len,
                end,
                proto: b[l3 + 9],
                frag: offset != 0 || frag_field & 0x2000 != 0,
                later_frag: offset != 0,
            })
        }
        6 => {
            if b.len() < l3 + 40 {
                return Err(RewriteError::Truncated);
            }
            let mut end = l3 + 40 + usize::from(read_u16(b, l3 + 4));
            if end > b.len() {
                if !lenient {
                    return Err(RewriteError::Truncated);
                }
                end = b.len();
            }
            let next = b[l3 + 6];
            let (at, proto, frag, later_frag) = if matches!(next, proto::TCP | proto::UDP) {
                // The common case skips the walk.
                (l3 + 40, next, false, false)
            } else {
                let upper = walk_ext_headers(b, next.into(), l3 + 40, end).map_err(from_wire)?;
                let (frag, later_frag) = upper.fragment.map_or((false, false), |f| {
                    (f.offset != 0 || f.more_frags, f.offset != 0)
                });
                (upper.offset, upper.next_header.into(), frag, later_frag)
            };
            Ok(Ip {
                l3,
                v6: true,
                hdr_len: at - l3,
                end,
                proto,
                frag,
                later_frag,
            })
        }
        _ => Err(RewriteError::BadIpHeader),
    }
}

/// A located transport header (TCP, UDP or SCTP) of a whole, unfragmented datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct L4 {
    pub(crate) ip: Ip,
    /// Offset of the transport header.
    pub(crate) at: usize,
    /// Offset of the transport checksum field (for SCTP: the CRC32c field).
    pub(crate) csum_at: usize,
}

/// Parses a frame down to its TCP/UDP/SCTP header.
#[inline]
pub(crate) fn transport(frame: &[u8]) -> Result<L4, RewriteError> {
    // Fast path for the common case, an untagged IPv4 frame without options or fragmentation:
    // the same checks as `ip_at`, specialised. Anything else takes the general walk.
    if let Some(h) = frame.get(12..34)
        && h[..3] == [0x08, 0x00, 0x45]
        && read_u16(h, 8) & 0x3fff == 0
    {
        let total = usize::from(read_u16(h, 4));
        if total >= 20 && 14 + total <= frame.len() {
            let ip = Ip {
                l3: 14,
                v6: false,
                hdr_len: 20,
                end: 14 + total,
                proto: h[11],
                frag: false,
                later_frag: false,
            };
            return transport_of(frame, ip);
        }
    }
    let ip = frame_ip(frame)?;
    if ip.frag {
        return Err(RewriteError::Fragment);
    }
    transport_of(frame, ip)
}

#[inline]
pub(crate) fn transport_of(b: &[u8], ip: Ip) -> Result<L4, RewriteError> {
    let at = ip.l4();
    let room = ip.end - at;
    let csum_at = match ip.proto {
        proto::TCP => {
            if room < 20 {
                return Err(RewriteError::Truncated);
            }
            let doff = usize::from(b[at + 12] >> 4) * 4;
            if doff < 20 || doff > room {
                return Err(RewriteError::BadTransportHeader);
            }
            at + 16
        }
        proto::UDP => {
            if room < 8 {
                return Err(RewriteError::Truncated);
            }
            let ulen = usize::from(read_u16(b, at + 4));
            if ulen < 8 || ulen > room {
                return Err(RewriteError::BadTransportHeader);
            }
            at + 6
        }
        proto::SCTP => {
            if room < 12 {
                return Err(RewriteError::Truncated);
            }
            at + 8
        }
        _ => return Err(RewriteError::UnsupportedProtocol),
    };
    Ok(L4 { ip, at, csum_at })
}
