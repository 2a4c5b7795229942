//! Packets the router originates itself, written whole into the caller's buffer with full
//! checksums: ICMP errors (time-exceeded, fragmentation-needed, packet-too-big, port
//! unreachable), ARP replies and
//! gratuitous ARP, and IPv6 neighbour advertisements.
//!
//! Each function writes an Ethernet frame to the start of `out` and returns its length;
//! [`RewriteError::NoRoom`] if `out` is too small. Frames are not padded to the 60-byte Ethernet
//! minimum (the NIC pads, as for Linux's 42-byte ARP frames).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::parse;
use super::{RewriteError, icmp};
use crate::wire::MacAddr;
use crate::wire::checksum;
use crate::wire::{IpProtocol, write_u16};
use crate::wire::{ethertype, proto};

/// Linux's default TTL / hop limit for packets it originates (`ip_default_ttl`).
const DEFAULT_TTL: u8 = 64;
/// RFC 1812 4.3.2.3: an ICMPv4 error carries as much of the original as fits in 576 bytes.
const ICMPV4_MAX: usize = 576;
/// RFC 4443 2.4(c): an ICMPv6 error must not exceed the minimum IPv6 MTU.
const ICMPV6_MAX: usize = 1280;

/// Which ICMP error to originate about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// TTL / hop limit exceeded in transit (ICMPv4 type 11 code 0, ICMPv6 type 3 code 0).
    TimeExceeded,
    /// IPv4 destination unreachable, fragmentation needed and DF set (type 3 code 4) with the
    /// next-hop MTU (RFC 1191 4).
    FragNeeded {
        /// Next-hop MTU.
        mtu: u16,
    },
    /// ICMPv6 packet too big (type 2, RFC 4443 3.2 / RFC 8201).
    PacketTooBig {
        /// Next-hop MTU.
        mtu: u32,
    },
    /// Destination unreachable, port unreachable (ICMPv4 type 3 code 3, ICMPv6 type 1 code 4):
    /// what IPVS's `ip_vs_leave` sends when a service has no usable real server.
    PortUnreachable,
}

fn is_special_v4(a: [u8; 4]) -> bool {
    let a = Ipv4Addr::from(a);
    a.is_multicast() || a.is_broadcast() || a.is_unspecified()
}

fn is_special_v6(a: [u8; 16]) -> bool {
    let a = Ipv6Addr::from(a);
    a.is_multicast() || a.is_unspecified()
}

/// Writes an ICMP error about the Ethernet frame `orig` into `out`, from our address `from` back
/// to the original sender, quoting as much of the original IP packet as RFC 1812 4.3.2.3
/// (576 bytes total) or RFC 4443 2.4(c) (1280 bytes total) allow.
///
/// The Ethernet header mirrors the original (source and destination MAC swapped, a VLAN tag
/// kept). IPv4: TOS precedence "internetwork control" as Linux, identification `ident`, TTL 64,
/// no DF. IPv6: hop limit 64. Refused with [`RewriteError::IcmpSuppressed`] per RFC 1122 3.2.2 /
/// RFC 4443 2.4(e): about ICMP errors, non-initial fragments, link-layer or IP multicast and
/// broadcast, or unspecified sources.
pub fn icmp_error(
    orig: &[u8],
    kind: IcmpErrorKind,
    from: IpAddr,
    ident: u16,
    out: &mut [u8],
) -> Result<usize, RewriteError> {
    let (et_at, _) = parse::ethertype(orig)?;
    let ip = parse::frame_ip(orig)?;
    let (s, d, n) = ip.addrs();
    let special = if ip.v6 {
        is_special_v6(orig[s..s + 16].try_into().unwrap_or([0; 16]))
            || is_special_v6(orig[d..d + 16].try_into().unwrap_or([0; 16]))
    } else {
        is_special_v4(orig[s..s + 4].try_into().unwrap_or([0; 4]))
            || is_special_v4(orig[d..d + 4].try_into().unwrap_or([0; 4]))
    };
    let is_icmp_err = !ip.later_frag
        && ip.proto == if ip.v6 { proto::ICMPV6 } else { proto::ICMP }
        && orig.get(ip.l4()).is_some_and(|&t| {
            if ip.v6 {
                t < 128
            } else {
                icmp::is_related_type(false, t) || matches!(t, 5 | 12)
            }
        });
    if orig[0] & 1 != 0 || special || ip.later_frag || is_icmp_err {
        return Err(RewriteError::IcmpSuppressed);
    }
    let (ty, code, rest): (u8, u8, u32) = match (kind, ip.v6, from) {
        (IcmpErrorKind::TimeExceeded, false, IpAddr::V4(_)) => (11, 0, 0),
        (IcmpErrorKind::FragNeeded { mtu }, false, IpAddr::V4(_)) => (3, 4, u32::from(mtu)),
        (IcmpErrorKind::TimeExceeded, true, IpAddr::V6(_)) => (3, 0, 0),
        (IcmpErrorKind::PacketTooBig { mtu }, true, IpAddr::V6(_)) => (2, 0, mtu),
        (IcmpErrorKind::PortUnreachable, false, IpAddr::V4(_)) => (3, 3, 0),
        (IcmpErrorKind::PortUnreachable, true, IpAddr::V6(_)) => (1, 4, 0),
        _ => return Err(RewriteError::AddressFamily),
    };
    let l3 = et_at + 2;
    let ip_hl = if ip.v6 { 40 } else { 20 };
    let max = if ip.v6 { ICMPV6_MAX } else { ICMPV4_MAX };
    let quote = (ip.end - ip.l3).min(max - ip_hl - 8);
    let total = ip_hl + 8 + quote;
    let len = l3 + total;
    let f = out.get_mut(..len).ok_or(RewriteError::NoRoom)?;
    // Ethernet (+ tag) mirrored.
    f[..6].copy_from_slice(&orig[6..12]);
    f[6..12].copy_from_slice(&orig[..6]);
    f[12..l3].copy_from_slice(&orig[12..l3]);
    let icmp_at = l3 + ip_hl;
    f[icmp_at + 8..].copy_from_slice(&orig[ip.l3..ip.l3 + quote]);
    f[icmp_at] = ty;
    f[icmp_at + 1] = code;
    write_u16(f, icmp_at + 2, 0);
    f[icmp_at + 4..icmp_at + 8].copy_from_slice(&rest.to_be_bytes());
    let sender = &orig[s..s + n];
    let h = &mut f[l3..icmp_at];
    match from {
        IpAddr::V4(a) => {
            h[0] = 0x45;
            h[1] = 0xc0 | (orig[ip.l3 + 1] & 0x1c);
            write_u16(h, 2, total as u16);
            write_u16(h, 4, ident);
            write_u16(h, 6, 0);
            h[8] = DEFAULT_TTL;
            h[9] = proto::ICMP;
            write_u16(h, 10, 0);
            h[12..16].copy_from_slice(&a.octets());
            h[16..20].copy_from_slice(sender);
            let c = checksum::finish(checksum::data(h));
            write_u16(h, 10, c);
            let c = checksum::finish(checksum::data(&f[icmp_at..]));
            write_u16(f, icmp_at + 2, c);
        }
        IpAddr::V6(a) => {
            write_ip6(h, a, sender, (total - 40) as u16, DEFAULT_TTL);
            let ps = checksum::pseudo_header_bytes(
                &a.octets(),
                sender,
                IpProtocol::Icmpv6,
                (total - 40) as u32,
            );
            let c = checksum::finish(checksum::combine(&[ps, checksum::data(&f[icmp_at..])]));
            write_u16(f, icmp_at + 2, c);
        }
    }
    Ok(len)
}

/// Writes a 40-byte IPv6 header carrying ICMPv6.
fn write_ip6(h: &mut [u8], src: Ipv6Addr, dst: &[u8], payload: u16, hop: u8) {
    h[..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    write_u16(h, 4, payload);
    h[6] = proto::ICMPV6;
    h[7] = hop;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(dst);
}

/// Writes an ARP packet (RFC 826) in an Ethernet frame; returns 42.
fn arp(
    out: &mut [u8],
    eth_dst: MacAddr,
    op: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) -> Result<usize, RewriteError> {
    let f = out.get_mut(..42).ok_or(RewriteError::NoRoom)?;
    f[..6].copy_from_slice(&eth_dst.0);
    f[6..12].copy_from_slice(&sha.0);
    write_u16(f, 12, ethertype::ARP);
    // Hardware Ethernet (1), protocol IPv4, lengths 6 and 4.
    f[14..20].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    write_u16(f, 20, op);
    f[22..28].copy_from_slice(&sha.0);
    f[28..32].copy_from_slice(&spa.octets());
    f[32..38].copy_from_slice(&tha.0);
    f[38..42].copy_from_slice(&tpa.octets());
    Ok(42)
}

/// ARP reply (op 2): `our_ip` is at `our_mac`, sent to the requester.
pub fn arp_reply(
    out: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    to_mac: MacAddr,
    to_ip: Ipv4Addr,
) -> Result<usize, RewriteError> {
    arp(out, to_mac, 2, our_mac, our_ip, to_mac, to_ip)
}

/// Gratuitous ARP announcing `ip` at `mac` (RFC 5227 2.4 ARP announcement: a broadcast request
/// with sender and target address both `ip` and a zero target hardware address, as `arping -U`
/// and keepalived send).
pub fn gratuitous_arp(out: &mut [u8], mac: MacAddr, ip: Ipv4Addr) -> Result<usize, RewriteError> {
    arp(out, MacAddr::BROADCAST, 1, mac, ip, MacAddr::ZERO, ip)
}

/// Flags of a neighbour advertisement (RFC 4861 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_entry: bool,
}

/// Neighbour advertisement (ICMPv6 type 136, RFC 4861 4.4) for `target` at `our_mac`, with a
/// target link-layer address option and hop limit 255 (RFC 4861 7.1.2 requires it).
pub fn neighbor_advert(
    out: &mut [u8],
    our_mac: MacAddr,
    src: Ipv6Addr,
    dst_mac: MacAddr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    flags: NaFlags,
) -> Result<usize, RewriteError> {
    const LEN: usize = 14 + 40 + 32;
    let f = out.get_mut(..LEN).ok_or(RewriteError::NoRoom)?;
    f[..6].copy_from_slice(&dst_mac.0);
    f[6..12].copy_from_slice(&our_mac.0);
    write_u16(f, 12, ethertype::IPV6);
    write_ip6(&mut f[14..54], src, &dst.octets(), 32, 255);
    let m = &mut f[54..];
    m[..4].copy_from_slice(&[136, 0, 0, 0]);
    m[4] = u8::from(flags.router) << 7
        | u8::from(flags.solicited) << 6
        | u8::from(flags.override_entry) << 5;
    m[5..8].fill(0);
    m[8..24].copy_from_slice(&target.octets());
    // Target link-layer address option: type 2, length 1 (8 bytes).
    m[24] = 2;
    m[25] = 1;
    m[26..32].copy_from_slice(&our_mac.0);
    let ps = checksum::pseudo_header_bytes(&src.octets(), &dst.octets(), IpProtocol::Icmpv6, 32);
    let c = checksum::finish(checksum::combine(&[ps, checksum::data(m)]));
    write_u16(m, 2, c);
    Ok(LEN)
}

/// Unsolicited neighbour advertisement announcing `target` (a VIP after failover, RFC 4861
/// 7.2.6): to all-nodes ff02::1 (MAC 33:33:00:00:00:01), solicited clear, override set.
pub fn unsolicited_na(
    out: &mut [u8],
    our_mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<usize, RewriteError> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let flags = NaFlags {
        router: false,
        solicited: false,
        override_entry: true,
    };
    neighbor_advert(
        out,
        our_mac,
        src,
        MacAddr([0x33, 0x33, 0, 0, 0, 1]),
        all_nodes,
        target,
        flags,
    )
}
