//! keepalived `PING_CHECK`: one ICMP(v6) echo request, up on the matching echo reply.
//!
//! An unprivileged ICMP datagram socket is used when `net.ipv4.ping_group_range` admits us
//! (the kernel then owns the identifier and strips the IP header); otherwise a raw socket, which
//! needs CAP_NET_RAW. Both are connected to the target, so the kernel filters other sources.

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::failure;
use super::probe::remaining;

static SEQ: AtomicU16 = AtomicU16::new(1);

const PAYLOAD: &[u8] = b"lvs-rs health check";

/// Sends an echo request to `target`'s address and waits for the reply until `deadline`.
pub(crate) fn echo(target: SocketAddr, deadline: Instant) -> Result<(), String> {
    let v4 = target.is_ipv4();
    let (domain, proto) = if v4 {
        (Domain::IPV4, Protocol::ICMPV4)
    } else {
        (Domain::IPV6, Protocol::ICMPV6)
    };
    let (mut sock, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => (s, false),
        Err(_) => (
            Socket::new(domain, Type::RAW, Some(proto))
                .map_err(|e| failure("icmp socket", target, e))?,
            true,
        ),
    };
    let peer = SocketAddr::new(target.ip(), 0);
    sock.connect(&SockAddr::from(peer))
        .map_err(|e| failure("icmp connect", target, e))?;
    let id = (std::process::id() as u16) ^ 0x4c56;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let (req_type, reply_type) = if v4 { (8, 0) } else { (128, 129) };
    let request = echo_message(req_type, id, seq);
    sock.send(&request)
        .map_err(|e| failure("icmp send", target, e))?;
    let mut buf = [0u8; 1500];
    loop {
        let left = remaining("icmp recv", target, deadline)?;
        sock.set_read_timeout(Some(left))
            .map_err(|e| failure("icmp recv", target, e))?;
        let n = match sock.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(failure("icmp recv", target, "timeout"));
            }
            Err(e) => return Err(failure("icmp recv", target, e)),
        };
        // A raw IPv4 socket hands us the IP header; ping sockets and ICMPv6 do not.
        let skip = if raw && v4 {
            usize::from(buf[0] & 0x0f) * 4
        } else {
            0
        };
        let Some(msg) = buf[..n].get(skip..) else {
            continue;
        };
        if msg.len() >= 8 + PAYLOAD.len()
            && msg[0] == reply_type
            && u16::from_be_bytes([msg[6], msg[7]]) == seq
            // The kernel rewrites the identifier of a ping socket; a raw socket keeps ours.
            && (!raw || u16::from_be_bytes([msg[4], msg[5]]) == id)
            && &msg[8..8 + PAYLOAD.len()] == PAYLOAD
        {
            return Ok(());
        }
    }
}

/// An echo request: type, code 0, checksum, identifier, sequence, payload. ICMPv6 checksums
/// cover a pseudo-header the kernel fills in, so the one computed here matters for IPv4 only.
fn echo_message(kind: u8, id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![kind, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(PAYLOAD);
    let sum = checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// RFC 1071 Internet checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_to_zero() {
        let m = echo_message(8, 0x1234, 7);
        assert_eq!(checksum(&m), 0);
        assert_eq!(&m[4..8], &[0x12, 0x34, 0, 7]);
    }
}
