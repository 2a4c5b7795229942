//! TUN (`ipvsadm -i`): the whole IP packet is wrapped in an outer header addressed to the real
//! server (LVS-SPEC "Forwarding methods", kernel `ip_vs_tunnel_xmit{,_v6}`).
//!
//! ```text
//!   ipip   [outer IPv4|IPv6][inner]                      proto 4 (IPv4 inner) / 41 (IPv6 inner)
//!   gue    [outer][UDP][GUE v0: 0x00 proto 0x0000][inner] or GUE "direct IP" (v1): [outer][UDP][inner]
//!   gre    [outer][GRE flags|0x0800/0x86dd (+ csum, reserved)][inner]        (RFC 2784)
//! ```
//! `ipvsadm --tun-type gue` makes the kernel send GUE version 0 with a 4-byte header (hlen 0,
//! proto_ctype = 4 or 41, flags 0), UDP source port from the flow hash, destination `--tun-port`,
//! UDP checksum only with `--tun-csum`; `--tun-type gre` sends RFC 2784 GRE without key or
//! sequence number, with the checksum bit only with `--tun-csum`. Remote checksum offload
//! (`--tun-remcsum`) is not implemented.
//!
//! Outer fields: TTL / hop limit = the inner one (the caller has already decremented it),
//! DF = inner DF (IPv4 inner; 0 for IPv6 inner as in the kernel), DSCP copied and ECN
//! encapsulated as the kernel's `INET_ECN_encapsulate` (CE becomes ECT(0), RFC 6040 compatibility
//! mode), IPv4 identification from the caller, IPv6 flow label copied from an IPv6 inner packet.
//! The new outer headers are summed in full (they are originated); the inner packet is untouched.

use std::net::IpAddr;

use super::parse;
use super::{PacketBuf, RewriteError};
use crate::wire::checksum;
use crate::wire::{IpProtocol, read_u16, write_u16};
use crate::wire::{ethertype, proto};

/// The encapsulation of a tunnel dest (`ipvsadm --tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// IP-in-IP (protocol 4 or 41).
    Ipip,
    /// Generic UDP Encapsulation (draft-ietf-intarea-gue), Linux fou/gue.
    Gue {
        /// UDP destination port (`--tun-port`).
        port: u16,
        /// Compute the outer UDP checksum (`--tun-csum`). Over IPv6 the checksum is always
        /// computed: zero-checksum UDP over IPv6 is only allowed with RFC 6936 care.
        csum: bool,
        /// Send the GUE version 1 "direct IP" form (no GUE header) instead of version 0.
        direct: bool,
    },
    /// GRE (RFC 2784).
    Gre {
        /// Set the checksum-present bit and fill the GRE checksum (`--tun-csum`).
        csum: bool,
    },
}

/// One tunnel transmission: outer endpoints and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// The encapsulation.
    pub kind: TunnelKind,
    /// Outer source: the director's address. Its family picks the outer IP version.
    pub src: IpAddr,
    /// Outer destination: the real server.
    pub dst: IpAddr,
    /// MTU of the path toward the real server.
    pub path_mtu: u16,
    /// Outer IPv4 identification (from the caller's counter; unused for IPv6).
    pub ident: u16,
}

/// Outcome of [`encap`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapVerdict {
    /// The frame now carries the outer headers. If it exceeds the path MTU (an IPv4 inner
    /// packet without DF), the caller fragments the outer packet.
    Encapsulated,
    /// IPv4 inner packet with DF too big for the tunnel: the frame is unchanged; send ICMP
    /// fragmentation-needed (type 3 code 4) with this next-hop MTU (RFC 1191).
    FragNeeded {
        /// The tunnel MTU: path MTU - outer overhead.
        mtu: u16,
    },
    /// IPv6 inner packet too big for the tunnel: the frame is unchanged; send ICMPv6
    /// packet-too-big with this MTU (RFC 8201; never below the IPv6 minimum of 1280: where the
    /// kernel drops the packet when the tunnel MTU is under 1280, this reports 1280 and leaves
    /// the drop-or-fragment choice to the caller).
    PacketTooBig {
        /// The tunnel MTU, at least 1280.
        mtu: u32,
    },
}

/// Outer overhead in bytes: IP header (20/40) + UDP (8) + GUE (4, or 0 when direct) or GRE
/// (4, 8 with checksum).
pub fn overhead(kind: TunnelKind, outer_v6: bool) -> usize {
    let ip = if outer_v6 { 40 } else { 20 };
    ip + match kind {
        TunnelKind::Ipip => 0,
        TunnelKind::Gue { direct, .. } => 8 + if direct { 0 } else { 4 },
        TunnelKind::Gre { csum } => 4 + if csum { 4 } else { 0 },
    }
}

/// The largest inner packet the tunnel carries unfragmented: path MTU - [`overhead`].
pub fn tunnel_mtu(t: &Tunnel) -> u16 {
    t.path_mtu
        .saturating_sub(overhead(t.kind, t.src.is_ipv6()) as u16)
}

/// The UDP source port for GUE: a hash of the inner addresses and ports mapped into Linux's
/// default local port range 32768..61000, like `udp_flow_src_port`, so ECMP spreads flows.
fn flow_port(inner: &[u8], v6: bool, l4: Option<usize>) -> u16 {
    let (a, n) = if v6 { (8, 32) } else { (12, 8) };
    let mut h: u32 = 0x811c_9dc5;
    let ports = l4.and_then(|p| inner.get(p..p + 4)).unwrap_or(&[]);
    for &b in inner[a..a + n].iter().chain(ports) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (((u64::from(h) * (61_000 - 32_768)) >> 32) + 32_768) as u16
}

/// Encapsulates the IP packet of the Ethernet frame in `pkt` (see the module doc).
///
/// Needs [`overhead`] bytes of headroom (the Ethernet header moves back) or tailroom; Ethernet
/// padding is dropped and the Ethernet type follows the outer family. MACs are left for the
/// caller's next-hop resolution.
pub fn encap(pkt: &mut PacketBuf<'_>, t: &Tunnel) -> Result<EncapVerdict, RewriteError> {
    let frame = pkt.frame();
    let (et_at, _) = parse::ethertype(frame)?;
    let ip = parse::frame_ip(frame)?;
    let outer_v6 = match (t.src, t.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => false,
        (IpAddr::V6(_), IpAddr::V6(_)) => true,
        _ => return Err(RewriteError::AddressFamily),
    };
    let inner_len = ip.end - ip.l3;
    let oh = overhead(t.kind, outer_v6);
    let mtu = tunnel_mtu(t);
    let inner = &frame[ip.l3..ip.end];
    let df = !ip.v6 && inner[6] & 0x40 != 0;
    if inner_len > usize::from(mtu) {
        if ip.v6 {
            return Ok(EncapVerdict::PacketTooBig {
                mtu: u32::from(mtu).max(1280),
            });
        }
        if df {
            return Ok(EncapVerdict::FragNeeded { mtu });
        }
    }
    let outer_len = u16::try_from(inner_len + oh).map_err(|_| RewriteError::TooLong)?;
    // Inner fields copied to the outer header.
    let (tos, ttl) = if ip.v6 {
        ((read_u16(inner, 0) >> 4) as u8, inner[7])
    } else {
        (inner[1], inner[8])
    };
    let ecn = if tos & 3 == 3 { 2 } else { tos & 3 };
    let tos = (tos & !3) | ecn;
    let flow = if ip.v6 {
        u32::from_be_bytes([0, inner[1] & 0x0f, inner[2], inner[3]])
    } else {
        0
    };
    let inner_proto = if ip.v6 { proto::IPV6 } else { proto::IPIP };
    let l4 = (!ip.frag).then_some(ip.hdr_len);
    let sport = flow_port(inner, ip.v6, l4);

    pkt.truncate_and_open(ip.end, ip.l3, oh)?;
    let f = pkt.frame_mut();
    write_u16(
        f,
        et_at,
        if outer_v6 {
            ethertype::IPV6
        } else {
            ethertype::IPV4
        },
    );
    let o = ip.l3;
    let ip_hl = if outer_v6 { 40 } else { 20 };
    let proto = match t.kind {
        TunnelKind::Ipip => inner_proto,
        TunnelKind::Gue { .. } => proto::UDP,
        TunnelKind::Gre { .. } => proto::GRE,
    };
    write_ip(
        &mut f[o..o + ip_hl],
        t,
        outer_len,
        proto,
        tos,
        ttl,
        flow,
        df,
    );
    let h = o + ip_hl;
    let end = o + usize::from(outer_len);
    match t.kind {
        TunnelKind::Ipip => {}
        TunnelKind::Gue { port, csum, direct } => {
            write_u16(f, h, sport);
            write_u16(f, h + 2, port);
            write_u16(f, h + 4, outer_len - ip_hl as u16);
            write_u16(f, h + 6, 0);
            if !direct {
                f[h + 8..h + 12].copy_from_slice(&[0, inner_proto, 0, 0]);
            }
            if csum || outer_v6 {
                let (s, d, n) = if outer_v6 {
                    (o + 8, o + 24, 16)
                } else {
                    (o + 12, o + 16, 4)
                };
                let ps = checksum::pseudo_header_bytes(
                    &f[s..s + n],
                    &f[d..d + n],
                    IpProtocol::Udp,
                    u32::from(read_u16(f, h + 4)),
                );
                let c = checksum::finish(checksum::combine(&[ps, checksum::data(&f[h..end])]));
                write_u16(f, h + 6, if c == 0 { 0xffff } else { c });
            }
        }
        TunnelKind::Gre { csum } => {
            write_u16(f, h, if csum { 0x8000 } else { 0 });
            write_u16(
                f,
                h + 2,
                if ip.v6 {
                    ethertype::IPV6
                } else {
                    ethertype::IPV4
                },
            );
            if csum {
                f[h + 4..h + 8].fill(0);
                let c = checksum::finish(checksum::data(&f[h..end]));
                write_u16(f, h + 4, c);
            }
        }
    }
    Ok(EncapVerdict::Encapsulated)
}

/// Writes a fresh outer IPv4 or IPv6 header into `b` (exactly 20 or 40 bytes).
#[allow(clippy::too_many_arguments)]
fn write_ip(
    b: &mut [u8],
    t: &Tunnel,
    total: u16,
    proto: u8,
    tos: u8,
    ttl: u8,
    flow: u32,
    df: bool,
) {
    match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            b[0] = 0x45;
            b[1] = tos;
            write_u16(b, 2, total);
            write_u16(b, 4, t.ident);
            write_u16(b, 6, if df { 0x4000 } else { 0 });
            b[8] = ttl;
            b[9] = proto;
            write_u16(b, 10, 0);
            b[12..16].copy_from_slice(&s.octets());
            b[16..20].copy_from_slice(&d.octets());
            let c = checksum::finish(checksum::data(&b[..20]));
            write_u16(b, 10, c);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let w = 0x6000_0000 | u32::from(tos) << 20 | flow;
            b[..4].copy_from_slice(&w.to_be_bytes());
            write_u16(b, 4, total - 40);
            b[6] = proto;
            b[7] = ttl;
            b[8..24].copy_from_slice(&s.octets());
            b[24..40].copy_from_slice(&d.octets());
        }
        // `encap` has checked the families.
        _ => {}
    }
}
