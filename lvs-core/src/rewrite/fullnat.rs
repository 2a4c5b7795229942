//! FULLNAT (DPVS `-b`): both ends are translated, so the real server sees the director's local
//! address LIP:lport as the client and replies to it without routing through the director.
//!
//! Request: `caddr:cport -> vaddr:vport` becomes `laddr:lport -> daddr:dport`.
//! Reply: `daddr:dport -> laddr:lport` becomes `vaddr:vport -> caddr:cport`.
//! Checksums are updated incrementally as in [`super::nat`]. The client address travels to the
//! real server in the TOA option ([`super::toa`]); the SYN's MSS is clamped so that option
//! still fits the path ([`clamp_mss`]).

use super::nat::rewrite_tuple;
use super::parse;
use super::{ConnAddrs, Layout, RewriteError};
use crate::wire::checksum::Delta;
use crate::wire::proto;
use crate::wire::{read_u16, write_u16};

/// FULLNAT request path: source -> `laddr:lport`, destination -> `daddr:dport`.
pub fn fullnat_in(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    fullnat_in_at(frame, &Layout::parse(frame)?, conn)
}

/// [`fullnat_in`] with the offsets already known.
#[inline]
pub fn fullnat_in_at(frame: &mut [u8], at: &Layout, conn: &ConnAddrs) -> Result<(), RewriteError> {
    let (src, dst) = ((conn.laddr, conn.lport), (conn.daddr, conn.dport));
    rewrite_tuple(frame, &at.0, Some(src), Some(dst))
}

/// FULLNAT reply path: source -> `vaddr:vport`, destination -> `caddr:cport`.
pub fn fullnat_out(frame: &mut [u8], conn: &ConnAddrs) -> Result<(), RewriteError> {
    fullnat_out_at(frame, &Layout::parse(frame)?, conn)
}

/// [`fullnat_out`] with the offsets already known.
#[inline]
pub fn fullnat_out_at(frame: &mut [u8], at: &Layout, conn: &ConnAddrs) -> Result<(), RewriteError> {
    let (src, dst) = ((conn.vaddr, conn.vport), (conn.caddr, conn.cport));
    rewrite_tuple(frame, &at.0, Some(src), Some(dst))
}

/// TCP option kinds walked by [`clamp_mss`] (RFC 9293 3.2).
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

/// Lowers the MSS option of a TCP SYN or SYN-ACK to at most `max_mss`, updating the checksum
/// incrementally. Returns whether the option was changed.
///
/// FULLNAT adds a TOA option (8 or 20 bytes) to the first data segment, so the MSS both ends
/// announce must leave room for it: pass e.g. [`super::toa::clamped_mss`]. Segments without SYN
/// or without an MSS option are left alone (the RFC 9293 default of 536/1220 is already small).
pub fn clamp_mss(frame: &mut [u8], max_mss: u16) -> Result<bool, RewriteError> {
    let l4 = parse::transport(frame)?;
    if l4.ip.proto != proto::TCP {
        return Err(RewriteError::UnsupportedProtocol);
    }
    if frame[l4.at + 13] & 0x02 == 0 {
        return Ok(false);
    }
    let doff = usize::from(frame[l4.at + 12] >> 4) * 4;
    let (mut i, end) = (l4.at + 20, l4.at + doff);
    while i < end {
        match frame[i] {
            OPT_END => break,
            OPT_NOP => i += 1,
            kind => {
                let Some(&len) = frame.get(i + 1).filter(|_| i + 1 < end) else {
                    break;
                };
                let len = usize::from(len);
                if len < 2 || i + len > end {
                    return Err(RewriteError::BadTransportHeader);
                }
                if kind == OPT_MSS && len == 4 {
                    let old = read_u16(frame, i + 2);
                    if old <= max_mss {
                        return Ok(false);
                    }
                    let mut d = Delta::default();
                    // Options need not be 16-bit aligned: a field at an odd offset from the
                    // header start sums byte-swapped (RFC 1071 2(B)).
                    if (i + 2 - l4.at) % 2 == 1 {
                        d.word(old.swap_bytes(), max_mss.swap_bytes());
                    } else {
                        d.word(old, max_mss);
                    }
                    write_u16(frame, i + 2, max_mss);
                    write_u16(frame, l4.csum_at, d.apply(read_u16(frame, l4.csum_at)));
                    return Ok(true);
                }
                i += len;
            }
        }
    }
    Ok(false)
}
