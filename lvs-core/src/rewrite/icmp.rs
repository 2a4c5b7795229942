//! Related ICMP errors for NAT and FULLNAT (LVS-SPEC "ICMP", kernel `ip_vs_in_icmp` /
//! `ip_vs_out_icmp` / `ip_vs_nat_icmp`).
//!
//! A related error quotes a packet of a balanced connection (RFC 792: the IP header + at least
//! 8 bytes; RFC 1812 4.3.2.3 / RFC 4443 2.4(c): as much as fits). The connection is found from the
//! quoted tuple ([`quoted_tuple`]); then the outer addresses and the quoted addresses and ports
//! are translated so the receiver can match the error against its own socket. Every change is
//! folded into the checksums incrementally: the outer IPv4 header checksum, the quoted IPv4 header
//! checksum, the quoted TCP/UDP checksum when it lies within the quoted bytes, and the ICMP
//! checksum (which covers all of the above; for ICMPv6 also the outer pseudo-header,
//! RFC 4443 2.3). Unlike the kernel, which leaves it stale, the quoted TCP/UDP checksum is
//! translated too, so the quote is byte-for-byte what the receiver sent. A quoted SCTP CRC32c
//! cannot be recomputed over a truncated quote and is left.
//!
//! Direction names follow the data path: `*_in` handles errors arriving from the client side,
//! `*_out` errors arriving from the real-server side.

use std::net::IpAddr;

use super::nat::same_family;
use super::parse::{self, Ip};
use super::{ConnAddrs, RewriteError};
use crate::wire::checksum::Delta;
use crate::wire::proto;
use crate::wire::{read_u16, write_u16};

/// The transport tuple of the packet quoted in a related ICMP error, as it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTuple {
    /// Transport protocol of the quoted packet (TCP, UDP or SCTP).
    pub proto: u8,
    /// Quoted source address.
    pub src: IpAddr,
    /// Quoted source port.
    pub sport: u16,
    /// Quoted destination address.
    pub dst: IpAddr,
    /// Quoted destination port.
    pub dport: u16,
}

/// Whether an ICMP type is a "related" error (LVS-SPEC "ICMP"): ICMPv4 destination-unreachable
/// (3), source-quench (4), time-exceeded (11); ICMPv6 destination-unreachable (1),
/// packet-too-big (2), time-exceeded (3), parameter-problem (4).
pub fn is_related_type(v6: bool, icmp_type: u8) -> bool {
    if v6 {
        matches!(icmp_type, 1..=4)
    } else {
        matches!(icmp_type, 3 | 4 | 11)
    }
}

/// The located parts of a related ICMP error.
struct Located {
    outer: Ip,
    icmp: usize,
    quoted: Ip,
}

fn locate(frame: &[u8]) -> Result<Located, RewriteError> {
    let outer = parse::frame_ip(frame)?;
    if outer.frag {
        return Err(RewriteError::Fragment);
    }
    let want = if outer.v6 { proto::ICMPV6 } else { proto::ICMP };
    if outer.proto != want {
        return Err(RewriteError::NotIcmpError);
    }
    let icmp = outer.l4();
    if icmp + 8 > outer.end {
        return Err(RewriteError::Truncated);
    }
    if !is_related_type(outer.v6, frame[icmp]) {
        return Err(RewriteError::NotIcmpError);
    }
    let quoted = parse::ip_at(&frame[..outer.end], icmp + 8, true)
        .map_err(|_| RewriteError::BadQuotedPacket)?;
    if quoted.v6 != outer.v6
        || quoted.later_frag
        || !matches!(quoted.proto, proto::TCP | proto::UDP | proto::SCTP)
        || quoted.l4() + 4 > quoted.end
    {
        return Err(RewriteError::BadQuotedPacket);
    }
    Ok(Located {
        outer,
        icmp,
        quoted,
    })
}

fn addr_at(b: &[u8], at: usize, len: usize) -> IpAddr {
    if len == 4 {
        IpAddr::from([b[at], b[at + 1], b[at + 2], b[at + 3]])
    } else {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[at..at + 16]);
        IpAddr::from(a)
    }
}

/// Reads the quoted tuple of a related ICMP error, for the connection lookup.
pub fn quoted_tuple(frame: &[u8]) -> Result<QuotedTuple, RewriteError> {
    let l = locate(frame)?;
    let (s, d, n) = l.quoted.addrs();
    let p = l.quoted.l4();
    Ok(QuotedTuple {
        proto: l.quoted.proto,
        src: addr_at(frame, s, n),
        sport: read_u16(frame, p),
        dst: addr_at(frame, d, n),
        dport: read_u16(frame, p + 2),
    })
}

/// NAT, error from the client side about a reply `vaddr:vport -> caddr:cport`: the outer
/// destination becomes `daddr`, the quoted source `daddr:dport` (kernel `ip_vs_nat_icmp`,
/// inbound).
pub fn nat_in(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    translate(
        frame,
        None,
        Some(conn.daddr),
        Some((conn.daddr, conn.dport)),
        None,
    )
}

/// NAT, error from the real-server side about a request `caddr:cport -> daddr:dport`: the outer
/// source becomes `vaddr`, the quoted destination `vaddr:vport` (kernel `ip_vs_nat_icmp`,
/// outbound; like the kernel, the outer source is replaced even when a router sent the error).
pub fn nat_out(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    translate(
        frame,
        Some(conn.vaddr),
        None,
        None,
        Some((conn.vaddr, conn.vport)),
    )
}

/// FULLNAT, error from the client side about a reply `vaddr:vport -> caddr:cport`: outer
/// `laddr -> daddr`, quoted `daddr:dport -> laddr:lport`.
pub fn fullnat_in(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    translate(
        frame,
        Some(conn.laddr),
        Some(conn.daddr),
        Some((conn.daddr, conn.dport)),
        Some((conn.laddr, conn.lport)),
    )
}

/// FULLNAT, error from the real-server side about a request `laddr:lport -> daddr:dport`:
/// outer `vaddr -> caddr`, quoted `caddr:cport -> vaddr:vport`.
pub fn fullnat_out(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    translate(
        frame,
        Some(conn.vaddr),
        Some(conn.caddr),
        Some((conn.caddr, conn.cport)),
        Some((conn.vaddr, conn.vport)),
    )
}

/// Overwrites `len` bytes at `at` with `addr`, recording the change in `d`.
fn write_addr(frame: &mut [u8], at: usize, len: usize, addr: IpAddr, d: &mut Delta) {
    let (v4, v6);
    let new: &[u8] = match addr {
        IpAddr::V4(a) => {
            v4 = a.octets();
            &v4
        }
        IpAddr::V6(a) => {
            v6 = a.octets();
            &v6
        }
    };
    let field = &mut frame[at..at + len];
    d.bytes(field, new);
    field.copy_from_slice(new);
}

/// Replaces the 16-bit checksum at `at` by `d` applied to it and records that change in `outer`.
fn fix_and_record(frame: &mut [u8], at: usize, d: Delta, outer: &mut Delta) {
    let old = read_u16(frame, at);
    let new = d.apply(old);
    outer.word(old, new);
    write_u16(frame, at, new);
}

fn translate(
    frame: &mut [u8],
    outer_src: Option<IpAddr>,
    outer_dst: Option<IpAddr>,
    q_src: Option<(IpAddr, u16)>,
    q_dst: Option<(IpAddr, u16)>,
) -> Result<(), RewriteError> {
    let l = locate(frame)?;
    let (os, od, n) = l.outer.addrs();
    let all = [outer_src, outer_dst, q_src.map(|x| x.0), q_dst.map(|x| x.0)];
    if all.iter().flatten().any(|a| !same_family(*a, n)) {
        return Err(RewriteError::AddressFamily);
    }
    // Outer addresses: the outer IPv4 header checksum, and for ICMPv6 the pseudo-header.
    let mut outer_d = Delta::default();
    if let Some(a) = outer_src {
        write_addr(frame, os, n, a, &mut outer_d);
    }
    if let Some(a) = outer_dst {
        write_addr(frame, od, n, a, &mut outer_d);
    }
    if !l.outer.v6 {
        let c = l.outer.l3 + 10;
        write_u16(frame, c, outer_d.apply(read_u16(frame, c)));
    }
    // `icmp_d` collects every change inside the ICMP message.
    let mut icmp_d = if l.outer.v6 {
        outer_d
    } else {
        Delta::default()
    };
    let (qs, qd, _) = l.quoted.addrs();
    let mut qaddr_d = Delta::default();
    if let Some((a, _)) = q_src {
        write_addr(frame, qs, n, a, &mut qaddr_d);
    }
    if let Some((a, _)) = q_dst {
        write_addr(frame, qd, n, a, &mut qaddr_d);
    }
    icmp_d.add_delta(qaddr_d);
    if !l.quoted.v6 {
        fix_and_record(frame, l.quoted.l3 + 10, qaddr_d, &mut icmp_d);
    }
    let p = l.quoted.l4();
    let mut ql4_d = qaddr_d;
    for (off, new) in [(0, q_src), (2, q_dst)] {
        if let Some((_, port)) = new {
            let old = read_u16(frame, p + off);
            ql4_d.word(old, port);
            icmp_d.word(old, port);
            write_u16(frame, p + off, port);
        }
    }
    let csum_at = match l.quoted.proto {
        proto::TCP => Some(p + 16),
        proto::UDP => Some(p + 6),
        _ => None,
    };
    if let Some(c) = csum_at.filter(|c| c + 2 <= l.quoted.end) {
        let udp_zero = l.quoted.proto == proto::UDP && read_u16(frame, c) == 0;
        if !udp_zero || l.quoted.v6 {
            fix_and_record(frame, c, ql4_d, &mut icmp_d);
            if l.quoted.proto == proto::UDP && read_u16(frame, c) == 0 {
                icmp_d.word(0, 0xffff);
                write_u16(frame, c, 0xffff);
            }
        }
    }
    let c = l.icmp + 2;
    write_u16(frame, c, icmp_d.apply(read_u16(frame, c)));
    Ok(())
}
