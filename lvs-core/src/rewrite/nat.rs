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

use super::parse::L4;
use super::{ConnAddrs, Layout, RewriteError, sctp};
use crate::wire::checksum::Delta;
use crate::wire::proto;
use crate::wire::{read_u16, write_u16};

/// NAT request path: destination `vaddr:vport` -> `daddr:dport`.
///
/// The frame is Ethernet (optionally one VLAN tag) + a whole IPv4/IPv6 TCP, UDP or SCTP
/// datagram. The caller has matched the connection; the destination is overwritten whatever it
/// was. Errors leave the frame untouched.
pub fn nat_in(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    nat_in_at(frame, &Layout::parse(frame)?, conn)
}

/// [`nat_in`] with the offsets already known (the data path's hot entry).
#[inline]
pub fn nat_in_at(frame: &mut [u8], at: &Layout, conn: &ConnAddrs) -> Result<(), RewriteError> {
    rewrite_tuple(frame, &at.0, None, Some((conn.daddr, conn.dport)))
}

/// NAT reply path: source `daddr:dport` -> `vaddr:vport`.
pub fn nat_out(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    nat_out_at(frame, &Layout::parse(frame)?, conn)
}

/// [`nat_out`] with the offsets already known.
#[inline]
pub fn nat_out_at(frame: &mut [u8], at: &Layout, conn: &ConnAddrs) -> Result<(), RewriteError> {
    rewrite_tuple(frame, &at.0, Some((conn.vaddr, conn.vport)), None)
}

/// Writes `addr` over the address field at `at` (the caller has checked the family and that
/// the field lies in the frame), recording the change in `d`. Fixed-size copies: the compiler
/// turns them into single loads/stores instead of `memcpy` calls.
#[inline(always)]
fn put_addr(frame: &mut [u8], at: usize, addr: IpAddr, d: &mut Delta) {
    match addr {
        IpAddr::V4(a) => {
            if let Some(field) = frame.get_mut(at..at + 4) {
                let old = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
                let new = a.to_bits();
                d.word((old >> 16) as u16, (new >> 16) as u16);
                d.word(old as u16, new as u16);
                field.copy_from_slice(&new.to_be_bytes());
            }
        }
        IpAddr::V6(a) => {
            if let Some(field) = frame.get_mut(at..at + 16) {
                let new = a.octets();
                d.bytes(field, &new);
                field.copy_from_slice(&new);
            }
        }
    }
}

/// Checks that `addr` has the family of a `len`-byte address field.
#[inline]
pub(crate) fn same_family(addr: IpAddr, len: usize) -> bool {
    matches!((addr, len), (IpAddr::V4(_), 4) | (IpAddr::V6(_), 16))
}

/// Rewrites the source and/or destination address and port of a TCP/UDP/SCTP frame with
/// incremental checksum updates. Validates everything before the first write.
/// Always inlined: each caller passes constant `Some`/`None`, which then folds away.
#[inline(always)]
pub(crate) fn rewrite_tuple(
    frame: &mut [u8],
    l4: &L4,
    src: Option<(IpAddr, u16)>,
    dst: Option<(IpAddr, u16)>,
) -> Result<(), RewriteError> {
    // Every offset of a `Layout` is below `end`: this one check keeps a layout of another frame
    // from indexing out of bounds.
    if frame.len() < l4.ip.end {
        return Err(RewriteError::Truncated);
    }
    let (sa, da, alen) = l4.ip.addrs();
    if src.is_some_and(|(a, _)| !same_family(a, alen))
        || dst.is_some_and(|(a, _)| !same_family(a, alen))
    {
        return Err(RewriteError::AddressFamily);
    }
    let mut addr_delta = Delta::default();
    if let Some((a, _)) = src {
        put_addr(frame, sa, a, &mut addr_delta);
    }
    if let Some((a, _)) = dst {
        put_addr(frame, da, a, &mut addr_delta);
    }
    let mut l4_delta = addr_delta;
    if let Some((_, p)) = src {
        l4_delta.word(read_u16(frame, l4.at), p);
        write_u16(frame, l4.at, p);
    }
    if let Some((_, p)) = dst {
        l4_delta.word(read_u16(frame, l4.at + 2), p);
        write_u16(frame, l4.at + 2, p);
    }
    if !l4.ip.v6 {
        let at = l4.ip.l3 + 10;
        write_u16(frame, at, addr_delta.apply(read_u16(frame, at)));
    }
    fix_l4(frame, l4, l4_delta);
    Ok(())
}

/// Applies a change to the transport checksum, honouring UDP's zero rule and SCTP's CRC.
#[inline(always)]
pub(crate) fn fix_l4(frame: &mut [u8], l4: &L4, d: Delta) {
    match l4.ip.proto {
        proto::SCTP => sctp::fill_checksum(&mut frame[l4.at..l4.ip.end]),
        proto::UDP => {
            let old = read_u16(frame, l4.csum_at);
            if old == 0 && !l4.ip.v6 {
                return;
            }
            let new = d.apply(old);
            write_u16(frame, l4.csum_at, if new == 0 { 0xffff } else { new });
        }
        _ => {
            let old = read_u16(frame, l4.csum_at);
            write_u16(frame, l4.csum_at, d.apply(old));
        }
    }
}
