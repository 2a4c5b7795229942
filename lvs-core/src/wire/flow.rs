//! Flow keys and frame layout in one pass.
//!
//! [`extract`] reads an Ethernet frame (one optional VLAN tag, 0x8100 or 0x88a8, as
//! [`EthernetFrame`](super::EthernetFrame)), [`extract_ip`] a bare IP
//! packet (TUN devices). Both return a [`FrameInfo`]: the [`FlowKey`] the connection table is
//! indexed by, plus every offset the rewriters need, so they never parse the frame again.
//!
//! What the key holds:
//! - TCP, UDP, SCTP: the ports. A non-first fragment has no transport header: its ports are 0
//!   and [`FrameInfo::fragment`] says [`Fragment::NonFirst`].
//! - ICMP / ICMPv6 echo request and reply: the echo identifier as *both* ports, so echo flows
//!   are told apart and a reply's key is the request's [`FlowKey::reversed`].
//! - Other ICMP, and every other protocol (GRE, ESP, IPIP, ...): ports 0. The packet is still
//!   described; whether to balance it is the caller's decision.
//! - ICMP errors LVS treats as related (v4: destination unreachable, source quench, time
//!   exceeded; v6: destination unreachable, packet too big, time exceeded, parameter problem):
//!   [`FrameInfo::icmp`] carries the quoted packet's offsets and its own key
//!   ([`QuotedPacket`]). The quote must hold the whole quoted IP header (IPv6: with its
//!   extension headers) and 8 bytes of its transport header (RFC 792, RFC 4443 section 3);
//!   otherwise [`IcmpInfo::quoted`] is `None`.
//!
//! Errors: [`WireError::NotIp`] for non-IP EtherTypes (ARP goes to [`ArpPacket`](super::ArpPacket)),
//! and the length errors of the views. After `Ok`, for an unfragmented TCP, UDP, ICMP or ICMPv6
//! packet, the matching view's `new_checked(&frame[l4_offset..l4_end])` succeeds, and the IP
//! view's `new_checked(&frame[l3_offset..])` always does. Checksums are not verified.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ethernet::{ethertype, payload_ethertype};
use super::ip::proto::{ICMP, ICMPV6, SCTP, TCP, UDP};
use super::ipv6::walk_ext_headers;
use super::{IpProtocol, IpVersion, Result, WireError, read_u16};

/// The 5-tuple of a packet, in its own direction (source = sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Transport protocol (the upper layer after IPv6 extension headers).
    pub proto: IpProtocol,
    /// Source address.
    pub src_addr: IpAddr,
    /// Source port (echo identifier for ICMP echo, 0 when there is none).
    pub src_port: u16,
    /// Destination address.
    pub dst_addr: IpAddr,
    /// Destination port (echo identifier for ICMP echo, 0 when there is none).
    pub dst_port: u16,
}

impl FlowKey {
    /// The key of the other direction.
    #[inline]
    pub const fn reversed(&self) -> Self {
        Self {
            proto: self.proto,
            src_addr: self.dst_addr,
            src_port: self.dst_port,
            dst_addr: self.src_addr,
            dst_port: self.src_port,
        }
    }
}

/// `TCP 203.0.113.7:40000 -> 192.0.2.10:80`, IPv6 addresses in brackets.
impl core::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let src = core::net::SocketAddr::new(self.src_addr, self.src_port);
        let dst = core::net::SocketAddr::new(self.dst_addr, self.dst_port);
        write!(f, "{} {src} -> {dst}", self.proto)
    }
}

/// Whether a packet is an IP fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fragment {
    /// Not a fragment.
    #[default]
    None,
    /// The first fragment (offset 0, more fragments): the transport header is here.
    First,
    /// A later fragment: no transport header, ports are 0.
    NonFirst,
}

/// The packet quoted inside an ICMP error (the packet that caused it, as the sender sent it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotedPacket {
    /// Offset of the quoted IP header in the frame.
    pub l3_offset: usize,
    /// Offset of the quoted transport header in the frame.
    pub l4_offset: usize,
    /// IP version of the quoted packet (the same as the outer one in practice).
    pub ip_version: IpVersion,
    /// Key of the quoted packet, in its direction.
    pub flow: FlowKey,
    /// Whether the quoted packet was a fragment.
    pub fragment: Fragment,
}

/// ICMP details of an ICMP or ICMPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpInfo {
    /// Message type: an [`Icmpv4Type`](super::Icmpv4Type) or [`Icmpv6Type`](super::Icmpv6Type)
    /// number according to [`FrameInfo::ip_version`].
    pub msg_type: u8,
    /// Message code.
    pub msg_code: u8,
    /// Whether LVS treats the type as related to a connection (module doc).
    pub related: bool,
    /// The quoted packet of a related error, when the quote is usable.
    pub quoted: Option<QuotedPacket>,
}

/// Everything the data path needs to know about a frame, from one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    /// The VLAN identifier of the tag (802.1Q, or an 802.1ad service tag), if tagged.
    pub vlan_id: Option<u16>,
    /// Offset of the IP header (14, 18 with a tag, 0 for a bare IP packet).
    pub l3_offset: usize,
    /// Offset of the transport header (after IPv4 options or IPv6 extension headers). For a
    /// non-first fragment: the start of its data.
    pub l4_offset: usize,
    /// End of the IP packet per its length field; bytes after it are link padding.
    pub l4_end: usize,
    /// IP version.
    pub ip_version: IpVersion,
    /// TTL / hop limit.
    pub hop_limit: u8,
    /// The packet's key.
    pub flow: FlowKey,
    /// Fragment status.
    pub fragment: Fragment,
    /// Set for ICMP and ICMPv6 packets (not for fragments other than the first).
    pub icmp: Option<IcmpInfo>,
}

/// Extracts the flow key and layout of an Ethernet frame (module doc for the rules).
#[inline]
pub fn extract(frame: &[u8]) -> Result<FrameInfo> {
    let (at, ethertype) = payload_ethertype(frame)?;
    let vlan_id = (at != 12).then(|| read_u16(frame, 14) & 0x0fff);
    let version = match ethertype {
        ethertype::IPV4 => IpVersion::Ipv4,
        ethertype::IPV6 => IpVersion::Ipv6,
        _ => return Err(WireError::NotIp),
    };
    parse_ip(frame, at + 2, version, vlan_id, false)
}

/// Extracts the flow key and layout of a bare IP packet (version from the first nibble).
#[inline]
pub fn extract_ip(packet: &[u8]) -> Result<FrameInfo> {
    let version = match packet.first().map(|b| b >> 4) {
        None => return Err(WireError::Truncated),
        Some(4) => IpVersion::Ipv4,
        Some(6) => IpVersion::Ipv6,
        Some(_) => return Err(WireError::BadVersion),
    };
    parse_ip(packet, 0, version, None, false)
}

/// The IP layer. `quoted` relaxes the length checks for a packet quoted in an ICMP error: its
/// length field describes the original packet, which the quote cuts short.
///
/// Speed: the protocol is matched as a raw byte and the result built once at the end, so the
/// TCP/UDP path neither calls the open-enum conversion nor copies the (large) `FrameInfo`.
#[inline(always)]
fn parse_ip(
    buf: &[u8],
    l3: usize,
    version: IpVersion,
    vlan_id: Option<u16>,
    quoted: bool,
) -> Result<FrameInfo> {
    let ip = buf.get(l3..).ok_or(WireError::Truncated)?;
    let (src_addr, dst_addr, hop_limit, proto, l4, end, fragment);
    match version {
        IpVersion::Ipv4 => {
            if ip.len() < 20 {
                return Err(WireError::Truncated);
            }
            if ip[0] >> 4 != 4 {
                return Err(WireError::BadVersion);
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if ihl < 20 {
                return Err(WireError::BadHeaderLen);
            }
            let total = usize::from(read_u16(ip, 2));
            if ip.len() < ihl || (!quoted && ip.len() < total) {
                return Err(WireError::Truncated);
            }
            if total < ihl {
                return Err(WireError::BadTotalLen);
            }
            let frag = read_u16(ip, 6);
            fragment = if frag & 0x1fff != 0 {
                Fragment::NonFirst
            } else if frag & 0x2000 != 0 {
                Fragment::First
            } else {
                Fragment::None
            };
            src_addr = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
            dst_addr = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
            hop_limit = ip[8];
            proto = ip[9];
            l4 = l3 + ihl;
            end = if quoted { buf.len() } else { l3 + total };
        }
        IpVersion::Ipv6 => {
            if ip.len() < 40 {
                return Err(WireError::Truncated);
            }
            if ip[0] >> 4 != 6 {
                return Err(WireError::BadVersion);
            }
            let total = 40 + usize::from(read_u16(ip, 4));
            if !quoted && ip.len() < total {
                return Err(WireError::Truncated);
            }
            end = if quoted { buf.len() } else { l3 + total };
            let mut a = [0u8; 16];
            a.copy_from_slice(&ip[8..24]);
            src_addr = IpAddr::V6(Ipv6Addr::from(a));
            a.copy_from_slice(&ip[24..40]);
            dst_addr = IpAddr::V6(Ipv6Addr::from(a));
            hop_limit = ip[7];
            let next = ip[6];
            if matches!(next, TCP | UDP | ICMPV6) {
                // The common case skips the walk.
                proto = next;
                l4 = l3 + 40;
                fragment = Fragment::None;
            } else {
                let upper = walk_ext_headers(buf, next.into(), l3 + 40, end)?;
                proto = upper.next_header.into();
                l4 = upper.offset;
                fragment = match upper.fragment {
                    None => Fragment::None,
                    Some(f) if f.offset != 0 => Fragment::NonFirst,
                    // An atomic fragment (offset 0, M clear, RFC 6946) is a whole packet.
                    Some(f) if !f.more_frags => Fragment::None,
                    Some(_) => Fragment::First,
                };
            }
        }
    }
    let mut ports = (0, 0);
    let mut icmp = None;
    if fragment != Fragment::NonFirst {
        let l4_bytes = buf.get(l4..end).ok_or(WireError::Truncated)?;
        match (proto, version) {
            (TCP | UDP | SCTP, _) => {
                // Quotes and first fragments are only promised 8 bytes of transport header
                // (RFC 792; a fragment's data is a multiple of 8 bytes); a whole packet must
                // hold its full header.
                let relaxed = quoted || fragment == Fragment::First;
                check_l4_len(proto, l4_bytes, relaxed)?;
                ports = (read_u16(l4_bytes, 0), read_u16(l4_bytes, 2));
            }
            // ICMPv4 over IPv6 or the reverse is described with zero ports, balanced nowhere.
            (ICMP, IpVersion::Ipv4) | (ICMPV6, IpVersion::Ipv6) => {
                (ports, icmp) =
                    icmp_info(buf, l4, end, version, fragment == Fragment::None && !quoted)?;
            }
            _ => {}
        }
    }
    let proto = match proto {
        TCP => IpProtocol::Tcp,
        UDP => IpProtocol::Udp,
        other => IpProtocol::from(other),
    };
    Ok(FrameInfo {
        vlan_id,
        l3_offset: l3,
        l4_offset: l4,
        l4_end: end,
        ip_version: version,
        hop_limit,
        flow: FlowKey {
            proto,
            src_addr,
            src_port: ports.0,
            dst_addr,
            dst_port: ports.1,
        },
        fragment,
        icmp,
    })
}

/// The ICMP part of [`parse_ip`], out of line: the hot path is TCP and UDP. Returns the key's
/// ports (the echo identifier, or zeros) and the details; `find_quote` is false for quotes
/// (no nesting) and fragments.
#[inline(never)]
fn icmp_info(
    buf: &[u8],
    l4: usize,
    end: usize,
    version: IpVersion,
    find_quote: bool,
) -> Result<((u16, u16), Option<IcmpInfo>)> {
    let l4_bytes = buf.get(l4..end).ok_or(WireError::Truncated)?;
    if l4_bytes.len() < 8 {
        return Err(WireError::Truncated);
    }
    let (msg_type, msg_code) = (l4_bytes[0], l4_bytes[1]);
    let (echo, related) = match version {
        IpVersion::Ipv4 => (matches!(msg_type, 0 | 8), matches!(msg_type, 3 | 4 | 11)),
        IpVersion::Ipv6 => (matches!(msg_type, 128 | 129), matches!(msg_type, 1..=4)),
    };
    let ports = if echo {
        let ident = read_u16(l4_bytes, 4);
        (ident, ident)
    } else {
        (0, 0)
    };
    let quoted = if related && find_quote {
        parse_quoted(&buf[..end], l4 + 8, version)
    } else {
        None
    };
    Ok((
        ports,
        Some(IcmpInfo {
            msg_type,
            msg_code,
            related,
            quoted,
        }),
    ))
}

/// Checks that `l4` holds the transport header: the full header for a whole packet (TCP with
/// its options, UDP with a sane length field, SCTP's 12-byte common header), 8 bytes otherwise.
#[inline(always)]
fn check_l4_len(proto: u8, l4: &[u8], relaxed: bool) -> Result<()> {
    if l4.len() < 8 {
        return Err(WireError::Truncated);
    }
    if relaxed {
        return Ok(());
    }
    match proto {
        TCP => {
            if l4.len() < 20 {
                return Err(WireError::Truncated);
            }
            let header_len = usize::from(l4[12] >> 4) * 4;
            if header_len < 20 {
                return Err(WireError::BadHeaderLen);
            }
            if l4.len() < header_len {
                return Err(WireError::Truncated);
            }
        }
        UDP => {
            let len = usize::from(read_u16(l4, 4));
            if len < 8 {
                return Err(WireError::BadUdpLen);
            }
            if l4.len() < len {
                return Err(WireError::Truncated);
            }
        }
        _ => {
            if l4.len() < 12 {
                return Err(WireError::Truncated);
            }
        }
    }
    Ok(())
}

/// The quoted packet of an ICMP error, starting at `at`; `None` if unusable.
#[inline(never)]
fn parse_quoted(buf: &[u8], at: usize, outer: IpVersion) -> Option<QuotedPacket> {
    let version = match buf.get(at)? >> 4 {
        4 => IpVersion::Ipv4,
        6 => IpVersion::Ipv6,
        _ => return None,
    };
    // An IPv4 error quotes IPv4, an IPv6 error IPv6 (RFC 792, RFC 4443).
    if version != outer {
        return None;
    }
    let inner = parse_ip(buf, at, version, None, true).ok()?;
    // parse_ip skips the transport check of a non-first fragment; the 8-byte rule holds for
    // every quote (a quoted non-first fragment is returned with ports 0, for the caller to pass).
    if inner.l4_offset + 8 > buf.len() {
        return None;
    }
    Some(QuotedPacket {
        l3_offset: inner.l3_offset,
        l4_offset: inner.l4_offset,
        ip_version: version,
        flow: inner.flow,
        fragment: inner.fragment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 (20) + TCP (20): 198.51.100.1:1234 > 192.0.2.10:80, worked by hand.
    fn tcp4() -> [u8; 54] {
        let mut f = [0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14..34].copy_from_slice(&[
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 192, 0, 2, 10,
        ]);
        f[34..38].copy_from_slice(&[0x04, 0xd2, 0x00, 0x50]);
        f[46] = 0x50; // data offset 5
        f
    }

    #[test]
    fn tcp4_key_and_offsets() {
        let info = extract(&tcp4()).unwrap();
        assert_eq!((info.l3_offset, info.l4_offset, info.l4_end), (14, 34, 54));
        assert_eq!(
            info.flow.src_addr,
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))
        );
        assert_eq!(info.flow.dst_addr, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
        assert_eq!((info.flow.src_port, info.flow.dst_port), (1234, 80));
        assert_eq!(info.flow.reversed().reversed(), info.flow);
        assert_eq!(info.flow.reversed().src_port, 80);
        assert_eq!(
            info.flow.to_string(),
            "TCP 198.51.100.1:1234 -> 192.0.2.10:80"
        );
        let bare = extract_ip(&tcp4()[14..]).unwrap();
        assert_eq!(
            (bare.l3_offset, bare.l4_offset, bare.flow),
            (0, 20, info.flow)
        );
    }

    #[test]
    fn one_vlan_tag_of_either_kind() {
        let untagged = extract(&tcp4()).unwrap();
        for tpid in [[0x81, 0x00], [0x88, 0xa8]] {
            let mut f = tcp4().to_vec();
            f.splice(12..12, [tpid[0], tpid[1], 0x20, 0x2a]);
            let info = extract(&f).unwrap();
            assert_eq!(info.vlan_id, Some(42), "{tpid:x?}");
            assert_eq!((info.l3_offset, info.l4_offset, info.l4_end), (18, 38, 58));
            assert_eq!(info.flow, untagged.flow);
            // Two tags (802.1ad S-tag + 802.1Q C-tag) are not unwrapped.
            f.splice(16..16, [0x81, 0x00, 0x00, 0x07]);
            assert_eq!(extract(&f), Err(WireError::NotIp), "{tpid:x?}");
        }
    }

    #[test]
    fn length_errors() {
        let f = tcp4();
        for len in 0..54 {
            assert_eq!(extract(&f[..len]), Err(WireError::Truncated), "len {len}");
        }
        let mut bad = f;
        bad[46] = 0x40;
        assert_eq!(extract(&bad), Err(WireError::BadHeaderLen));
        let mut bad = f;
        bad[14] = 0x55;
        assert_eq!(extract(&bad), Err(WireError::BadVersion));
        let mut bad = f;
        bad[12] = 0x88;
        assert_eq!(extract(&bad), Err(WireError::NotIp));
        assert_eq!(extract_ip(&[0x50]), Err(WireError::BadVersion));
        assert_eq!(extract_ip(&[]), Err(WireError::Truncated));
    }

    #[test]
    fn first_fragment_needs_only_eight_bytes() {
        // MF set, 8 bytes of TCP: ports are known, the rest arrives in later fragments.
        let mut f = [0u8; 42];
        f[..42].copy_from_slice(&tcp4()[..42]);
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        f[20] = 0x20;
        let info = extract(&f).unwrap();
        assert_eq!(info.fragment, Fragment::First);
        assert_eq!((info.flow.src_port, info.flow.dst_port), (1234, 80));
    }

    #[test]
    fn quoted_packet_cut_short_is_none() {
        // ICMP port unreachable quoting an IPv4 header and only 4 bytes of UDP.
        let mut f = [0u8; 14 + 20 + 8 + 24];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14..34].copy_from_slice(&[
            0x45, 0, 0, 52, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 10, 198, 51, 100, 1,
        ]);
        f[34] = 3;
        f[35] = 3;
        f[42..62].copy_from_slice(&[
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 198, 51, 100, 1, 192, 0, 2, 10,
        ]);
        f[62..66].copy_from_slice(&[0x04, 0xd2, 0x00, 0x35]);
        let info = extract(&f).unwrap();
        let icmp = info.icmp.unwrap();
        assert!(icmp.related);
        assert_eq!(icmp.quoted, None);
        // With the full 8 bytes it is found, in the quoted packet's own direction.
        let mut g = [0u8; 14 + 20 + 8 + 28];
        g[..66].copy_from_slice(&f);
        g[16..18].copy_from_slice(&56u16.to_be_bytes());
        let quoted = extract(&g).unwrap().icmp.unwrap().quoted.unwrap();
        assert_eq!((quoted.l3_offset, quoted.l4_offset), (42, 62));
        assert_eq!(
            (
                quoted.flow.proto,
                quoted.flow.src_port,
                quoted.flow.dst_port
            ),
            (IpProtocol::Udp, 1234, 53)
        );
    }

    #[test]
    fn icmp_version_mismatch_is_described_not_balanced() {
        // ICMPv4 (proto 1) inside IPv6: no ICMP details, zero ports.
        let mut p = [0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[6] = 1;
        p[40] = 8;
        let info = extract_ip(&p).unwrap();
        assert_eq!(
            (info.flow.proto, info.flow.src_port, info.icmp),
            (IpProtocol::Icmp, 0, None)
        );
    }

    #[test]
    fn quoted_non_first_fragment_needs_eight_bytes_too() {
        // Found by the flow fuzz target: a frag-needed error quoting a non-first fragment with
        // only 4 bytes after the quoted IPv4 header.
        let frame = [
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x34, 0x00, 0x00, 0x40, 0x00, 0xfa, 0x01, 0x94, 0x85, 0xc6, 0x33,
            0x64, 0x01, 0x00, 0x02, 0xc0, 0x0a, 0x03, 0x04, 0x3f, 0x4b, 0x00, 0x00, 0x05, 0xc8,
            0x45, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x40, 0x7a, 0x00, 0x3f, 0x06, 0x38, 0x46, 0xc0,
            0x00, 0x02, 0x0a, 0xcb, 0x00, 0x71, 0x07, 0x00, 0x50, 0x9c, 0x40, 0x3d, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1b, 0x58,
        ];
        let icmp = extract(&frame).unwrap().icmp.unwrap();
        assert!(icmp.related);
        assert_eq!(icmp.quoted, None);
    }
}
