//! TTL / hop-limit decrement of every forwarded packet (RFC 1812 5.3.1, RFC 8200 3), with the
//! IPv4 header checksum updated incrementally (RFC 1624; RFC 1141's special case is subsumed).

use super::parse::{self, Ip};
use super::{Layout, RewriteError};
use crate::wire::checksum::Delta;
use crate::wire::{read_u16, write_u16};

/// Outcome of [`decrement_ttl`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlVerdict {
    /// The TTL/hop limit was decremented; forward the frame.
    Forward,
    /// The TTL/hop limit was 0 or 1: the frame is left unchanged and must not be forwarded; the
    /// caller originates ICMP time-exceeded (code 0) with [`super::originate::icmp_error`].
    Expired,
}

/// Decrements the IPv4 TTL or IPv6 hop limit of an Ethernet frame.
pub fn decrement_ttl(frame: &mut [u8]) -> Result<TtlVerdict, RewriteError> {
    let ip = parse::frame_ip(frame)?;
    decrement(frame, &ip)
}

/// [`decrement_ttl`] with the offsets already known.
#[inline]
pub fn decrement_ttl_at(frame: &mut [u8], at: &Layout) -> Result<TtlVerdict, RewriteError> {
    if frame.len() < at.end() {
        return Err(RewriteError::Truncated);
    }
    decrement(frame, &at.0.ip)
}

#[inline]
fn decrement(frame: &mut [u8], ip: &Ip) -> Result<TtlVerdict, RewriteError> {
    let at = if ip.v6 { ip.l3 + 7 } else { ip.l3 + 8 };
    let ttl = frame[at];
    if ttl <= 1 {
        return Ok(TtlVerdict::Expired);
    }
    frame[at] = ttl - 1;
    if !ip.v6 {
        // TTL is the high byte of the word at offset 8 (TTL, protocol).
        let mut d = Delta::default();
        let proto = u16::from(frame[ip.l3 + 9]);
        d.word(u16::from(ttl) << 8 | proto, u16::from(ttl - 1) << 8 | proto);
        let c = ip.l3 + 10;
        write_u16(frame, c, d.apply(read_u16(frame, c)));
    }
    Ok(TtlVerdict::Forward)
}
