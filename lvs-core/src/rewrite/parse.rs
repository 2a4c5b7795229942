//! Just enough header walking for the rewriters: where L3 and L4 start, validated so that every
//! later index into the frame is in bounds.
//!
//! The rewriters re-derive these offsets themselves instead of trusting caller-supplied ones, so
//! each is a total function of the bytes: after `frame_ip`/`transport` succeed, the offsets
//! they return satisfy `l3 + hdr_len <= end <= frame.len()` (strict mode) and the transport
//! header lies within `end`.

use super::RewriteError;
use super::csum::get16;

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_IPIP: u8 = 4;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;
pub(crate) const PROTO_IPV6: u8 = 41;
pub(crate) const PROTO_GRE: u8 = 47;
pub(crate) const PROTO_ICMPV6: u8 = 58;
pub(crate) const PROTO_SCTP: u8 = 132;

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

/// Returns the offset of the Ethernet type field and its value, after at most one VLAN tag.
#[inline]
pub(crate) fn ethertype(frame: &[u8]) -> Result<(usize, u16), RewriteError> {
    if frame.len() < 14 {
        return Err(RewriteError::Truncated);
    }
    let et = get16(frame, 12);
    if et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ {
        if frame.len() < 18 {
            return Err(RewriteError::Truncated);
        }
        return Ok((16, get16(frame, 16)));
    }
    Ok((12, et))
}

/// Parses the Ethernet header and the IP header behind it (strict: the whole IP packet is
/// present).
#[inline]
pub(crate) fn frame_ip(frame: &[u8]) -> Result<Ip, RewriteError> {
    let (at, et) = ethertype(frame)?;
    let ip = ip_at(frame, at + 2, false)?;
    let want_v6 = match et {
        ETHERTYPE_IPV4 => false,
        ETHERTYPE_IPV6 => true,
        _ => return Err(RewriteError::NotIp),
    };
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
            let total = usize::from(get16(b, l3 + 2));
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
            let frag_field = get16(b, l3 + 6);
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
            let mut end = l3 + 40 + usize::from(get16(b, l3 + 4));
            if end > b.len() {
                if !lenient {
                    return Err(RewriteError::Truncated);
                }
                end = b.len();
            }
            let mut proto = b[l3 + 6];
            let mut at = l3 + 40;
            let (mut frag, mut later_frag) = (false, false);
            // RFC 8200 4.1 ordering allows a handful of headers; 8 bounds the walk.
            for _ in 0..8 {
                let len = match proto {
                    0 | 43 | 60 => {
                        let l = b.get(at + 1).ok_or(RewriteError::Truncated)?;
                        (usize::from(*l) + 1) * 8
                    }
                    44 => {
                        if at + 8 > end {
                            return Err(RewriteError::Truncated);
                        }
                        let f = get16(b, at + 2);
                        frag |= f & 0xfff9 != 0;
                        later_frag |= f & 0xfff8 != 0;
                        8
                    }
                    51 => {
                        let l = b.get(at + 1).ok_or(RewriteError::Truncated)?;
                        (usize::from(*l) + 2) * 4
                    }
                    _ => break,
                };
                if at + len > end {
                    return Err(RewriteError::Truncated);
                }
                proto = b[at];
                at += len;
            }
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
        && get16(h, 8) & 0x3fff == 0
    {
        let total = usize::from(get16(h, 4));
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
        PROTO_TCP => {
            if room < 20 {
                return Err(RewriteError::Truncated);
            }
            let doff = usize::from(b[at + 12] >> 4) * 4;
            if doff < 20 || doff > room {
                return Err(RewriteError::BadTransportHeader);
            }
            at + 16
        }
        PROTO_UDP => {
            if room < 8 {
                return Err(RewriteError::Truncated);
            }
            let ulen = usize::from(get16(b, at + 4));
            if ulen < 8 || ulen > room {
                return Err(RewriteError::BadTransportHeader);
            }
            at + 6
        }
        PROTO_SCTP => {
            if room < 12 {
                return Err(RewriteError::Truncated);
            }
            at + 8
        }
        _ => return Err(RewriteError::UnsupportedProtocol),
    };
    Ok(L4 { ip, at, csum_at })
}
