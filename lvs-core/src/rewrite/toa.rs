//! TOA, "TCP option address" (DPVS `tcp_opt_addr`): FULLNAT hides the client from the real
//! server, so the client address and port travel in TCP option kind 254, inserted into the first
//! data segment of the connection (LVS-SPEC "Forwarding methods").
//!
//! Layout (DPVS): kind 254, length 8 = kind, len, port(2), IPv4 address(4); length 20 with an
//! IPv6 address(16). Port and address in network order. The option family follows the client's
//! address, not the packet's (DPVS NAT64 puts an IPv6 TOA into IPv4 packets).
//!
//! The option goes right after the fixed TCP header, ahead of the existing options, so an
//! end-of-options-list (kind 0) pad at the end cannot hide it. Because the TCP header is limited to
//! 60 bytes (RFC 9293 3.1, data offset 4 bits), a segment whose options leave no room is sent
//! without TOA ([`ToaVerdict::NoOptionSpace`]), as DPVS does.

use std::net::IpAddr;

use super::parse;
use super::{PacketBuf, RewriteError};
use crate::wire::checksum::{self, Delta};
use crate::wire::proto;
use crate::wire::{read_u16, write_u16};

/// TCP option kind of TOA.
pub const TOA_KIND: u8 = 254;
/// TOA length with an IPv4 client address.
pub const TOA_LEN_V4: usize = 8;
/// TOA length with an IPv6 client address.
pub const TOA_LEN_V6: usize = 20;

/// Outcome of [`insert_toa`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToaVerdict {
    /// The option was inserted; the frame grew by 8 or 20 bytes.
    Inserted,
    /// The TCP header has no room for the option; the frame is unchanged.
    NoOptionSpace,
}

/// The largest MSS a FULLNAT connection may announce so that a full segment plus the TOA option
/// still fits `path_mtu`: MTU - IP header (20/40) - TCP header (20) - TOA (8/20).
///
/// Pass the result to [`super::clamp_mss`] on the SYN and SYN-ACK.
pub fn clamped_mss(path_mtu: u16, ip_v6: bool, client_v6: bool) -> u16 {
    let ip = if ip_v6 { 40 } else { 20 };
    let toa = if client_v6 { TOA_LEN_V6 } else { TOA_LEN_V4 } as u16;
    path_mtu.saturating_sub(ip + 20 + toa)
}

/// Inserts a TOA option carrying `caddr:cport` into the TCP segment in `pkt`.
///
/// Updates the IPv4 total length and header checksum (or the IPv6 payload length), the TCP data
/// offset and the TCP checksum, all incrementally: the inserted words add their sum, the data
/// offset and pseudo-header length words change, and the payload keeps its 16-bit alignment
/// (the option length is a multiple of 4). Ethernet padding after the IP packet is dropped.
/// Needs 8/20 bytes of headroom or tailroom ([`RewriteError::NoRoom`] otherwise).
pub fn insert_toa(
    pkt: &mut PacketBuf<'_>,
    caddr: IpAddr,
    cport: u16,
) -> Result<ToaVerdict, RewriteError> {
    let frame = pkt.frame();
    let l4 = parse::transport(frame)?;
    if l4.ip.proto != proto::TCP {
        return Err(RewriteError::UnsupportedProtocol);
    }
    let mut opt = [0u8; TOA_LEN_V6];
    opt[0] = TOA_KIND;
    opt[2..4].copy_from_slice(&cport.to_be_bytes());
    let n = match caddr {
        IpAddr::V4(a) => {
            opt[4..8].copy_from_slice(&a.octets());
            TOA_LEN_V4
        }
        IpAddr::V6(a) => {
            opt[4..20].copy_from_slice(&a.octets());
            TOA_LEN_V6
        }
    };
    opt[1] = n as u8;
    let opt = &opt[..n];
    let doff = usize::from(frame[l4.at + 12] >> 4) * 4;
    if doff + n > 60 {
        return Ok(ToaVerdict::NoOptionSpace);
    }
    let ip = l4.ip;
    let (len_at, old_len) = if ip.v6 {
        (ip.l3 + 4, ip.end - ip.l3 - 40)
    } else {
        (ip.l3 + 2, ip.end - ip.l3)
    };
    let new_len = u16::try_from(old_len + n).map_err(|_| RewriteError::TooLong)?;
    let tcp_len = ip.end - l4.at;
    // Checksum changes, computed before anything moves.
    let old_word = read_u16(frame, l4.at + 12);
    let new_word = old_word + ((n as u16 / 4) << 12);
    let mut tcp_d = Delta::default();
    tcp_d.word(old_word, new_word);
    tcp_d.word(tcp_len as u16, (tcp_len + n) as u16);
    tcp_d.add(checksum::data(opt));
    let mut ip_d = Delta::default();
    ip_d.word(old_len as u16, new_len);

    let at = l4.at + 20;
    pkt.truncate_and_open(ip.end, at, n)?;
    let f = pkt.frame_mut();
    f[at..at + n].copy_from_slice(opt);
    write_u16(f, l4.at + 12, new_word);
    write_u16(f, len_at, new_len);
    if !ip.v6 {
        write_u16(f, ip.l3 + 10, ip_d.apply(read_u16(f, ip.l3 + 10)));
    }
    write_u16(f, l4.csum_at, tcp_d.apply(read_u16(f, l4.csum_at)));
    Ok(ToaVerdict::Inserted)
}

/// Reads a TOA option from a TCP frame: `Some((caddr, cport))` if present.
pub fn read_toa(frame: &[u8]) -> Result<Option<(IpAddr, u16)>, RewriteError> {
    let l4 = parse::transport(frame)?;
    if l4.ip.proto != proto::TCP {
        return Err(RewriteError::UnsupportedProtocol);
    }
    let end = l4.at + usize::from(frame[l4.at + 12] >> 4) * 4;
    let mut i = l4.at + 20;
    while i < end {
        match frame[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = usize::from(*frame.get(i + 1).filter(|_| i + 1 < end).unwrap_or(&0));
                if len < 2 || i + len > end {
                    return Err(RewriteError::BadTransportHeader);
                }
                let port = || read_u16(frame, i + 2);
                match (kind, len) {
                    (TOA_KIND, TOA_LEN_V4) => {
                        let a: [u8; 4] = [frame[i + 4], frame[i + 5], frame[i + 6], frame[i + 7]];
                        return Ok(Some((IpAddr::from(a), port())));
                    }
                    (TOA_KIND, TOA_LEN_V6) => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&frame[i + 4..i + 20]);
                        return Ok(Some((IpAddr::from(a), port())));
                    }
                    _ => i += len,
                }
            }
        }
    }
    Ok(None)
}
