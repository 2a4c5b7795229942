//! NAT (masquerading, `ipvsadm -m`): the request's destination VIP:vport becomes RIP:dport, the
//! reply's source RIP:dport becomes VIP:vport (LVS-SPEC "Forwarding methods").
//!
//! Checksums are updated incrementally (RFC 1624): one [`Delta`] for the address words feeds the
//! IPv4 header checksum and, together with the port words, the TCP/UDP checksum, whose
//! pseudo-header covers the addresses (RFC 793 3.1, RFC 768, RFC 8200 8.1). UDP over IPv4 with a
//! zero checksum ("not computed", RFC 768) keeps zero; a computed UDP checksum of zero is sent as
//! 0xffff, so UDP over IPv6 never carries zero. SCTP's CRC32c is recomputed in full
//! (see [`super::sctp`]).

use std::net::IpAddr;

use super::csum::{Delta, get16, put16};
use super::parse::{self, L4, PROTO_SCTP, PROTO_UDP};
use super::{ConnAddrs, RewriteError, sctp};

/// NAT request path: destination `vaddr:vport` -> `daddr:dport`.
///
/// The frame is Ethernet (optionally one 802.1Q tag) + a whole IPv4/IPv6 TCP, UDP or SCTP
/// datagram. The caller has matched the connection; the destination is overwritten whatever it
/// was. Errors leave the frame untouched.
pub fn nat_in(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    rewrite_tuple(frame, None, Some((conn.daddr, conn.dport)))
}

/// NAT reply path: source `daddr:dport` -> `vaddr:vport`.
pub fn nat_out(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    rewrite_tuple(frame, Some((conn.vaddr, conn.vport)), None)
}

/// Writes `addr` over the `len`-byte address field at `at`, recording the change in `d`.
fn put_addr(
    frame: &mut [u8],
    at: usize,
    len: usize,
    addr: IpAddr,
    d: &mut Delta,
) -> Result<(), RewriteError> {
    let (v4, v6);
    let new: &[u8] = match addr {
        IpAddr::V4(a) if len == 4 => {
            v4 = a.octets();
            &v4
        }
        IpAddr::V6(a) if len == 16 => {
            v6 = a.octets();
            &v6
        }
        _ => return Err(RewriteError::AddressFamily),
    };
    let field = &mut frame[at..at + len];
    d.bytes(field, new);
    field.copy_from_slice(new);
    Ok(())
}

/// Checks that `addr` has the family of a `len`-byte address field.
pub(crate) fn same_family(addr: IpAddr, len: usize) -> bool {
    matches!((addr, len), (IpAddr::V4(_), 4) | (IpAddr::V6(_), 16))
}

/// Rewrites the source and/or destination address and port of a TCP/UDP/SCTP frame with
/// incremental checksum updates. Validates everything before the first write.
pub(crate) fn rewrite_tuple(
    frame: &mut [u8],
    src: Option<(IpAddr, u16)>,
    dst: Option<(IpAddr, u16)>,
) -> Result<(), RewriteError> {
    let l4 = parse::transport(frame)?;
    let (sa, da, alen) = l4.ip.addrs();
    for (a, _) in src.iter().chain(dst.iter()) {
        if !same_family(*a, alen) {
            return Err(RewriteError::AddressFamily);
        }
    }
    let mut addr_delta = Delta::default();
    if let Some((a, _)) = src {
        put_addr(frame, sa, alen, a, &mut addr_delta)?;
    }
    if let Some((a, _)) = dst {
        put_addr(frame, da, alen, a, &mut addr_delta)?;
    }
    let mut l4_delta = addr_delta;
    if let Some((_, p)) = src {
        l4_delta.word(get16(frame, l4.at), p);
        put16(frame, l4.at, p);
    }
    if let Some((_, p)) = dst {
        l4_delta.word(get16(frame, l4.at + 2), p);
        put16(frame, l4.at + 2, p);
    }
    if !l4.ip.v6 {
        let at = l4.ip.l3 + 10;
        put16(frame, at, addr_delta.apply(get16(frame, at)));
    }
    fix_l4(frame, &l4, l4_delta);
    Ok(())
}

/// Applies a change to the transport checksum, honouring UDP's zero rule and SCTP's CRC.
pub(crate) fn fix_l4(frame: &mut [u8], l4: &L4, d: Delta) {
    match l4.ip.proto {
        PROTO_SCTP => sctp::fill_checksum(&mut frame[l4.at..l4.ip.end]),
        PROTO_UDP => {
            let old = get16(frame, l4.csum_at);
            if old == 0 && !l4.ip.v6 {
                return;
            }
            let new = d.apply(old);
            put16(frame, l4.csum_at, if new == 0 { 0xffff } else { new });
        }
        _ => {
            let old = get16(frame, l4.csum_at);
            put16(frame, l4.csum_at, d.apply(old));
        }
    }
}
