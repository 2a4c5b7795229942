//! Frames whose transport checksum is still *partial* (Linux `CHECKSUM_PARTIAL`, virtio
//! `VIRTIO_NET_HDR_F_NEEDS_CSUM`): GSO super-frames and offloaded sends of a local stack.
//!
//! In such a frame the TCP/UDP checksum field holds only the folded, uncomplemented sum of the
//! pseudo-header (addresses, protocol, transport length); whoever transmits the frame (the NIC,
//! or the kernel's software GSO/checksum fallback) sums the transport header and payload from
//! `csum_start` on, adds the field and writes the complement. For a GSO super-frame the kernel
//! also rescales the length part of that sum per segment, so the field must describe the whole
//! train as it is sent.
//!
//! The rewriters themselves know nothing about this: they apply RFC 1624 deltas to whatever the
//! field holds, ports included, which is wrong for a partial sum (the ports are covered by the
//! later full sum, not by the pseudo-header). A data path that forwards a partial frame without
//! finishing it therefore calls [`refresh_pseudo_header`] after the rewrite: it recomputes the
//! field from the frame's final addresses and length, whatever the rewrite did to it (NAT,
//! FULLNAT with TOA growing the header, DR, TTL), and says where the field now is, so the caller
//! can hand the frame on with a matching `csum_start`/`csum_offset`. It costs one pseudo-header
//! sum (a few dozen bytes), not a pass over the payload.
//!
//! Encapsulated frames (TUN) are refused: their outer protocol is not TCP/UDP, and a tunnel
//! around a partial inner checksum cannot be described by one `csum_start` when the outer
//! header carries a checksum of its own.

use super::{Layout, RewriteError};
use crate::wire::checksum;
use crate::wire::{IpProtocol, proto, write_u16};

/// Where the partial checksum of a frame lies after [`refresh_pseudo_header`], in the terms of
/// `struct virtio_net_hdr` (offsets from the start of the Ethernet frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialCsum {
    /// Offset of the transport header: where the sum the transmitter completes starts.
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start` (16 for TCP, 6 for UDP).
    pub csum_offset: u16,
    /// Length of the headers up to and including the transport header (virtio `hdr_len`).
    pub hdr_len: u16,
}

/// Rewrites the TCP/UDP checksum field of an unencapsulated frame with the pseudo-header sum
/// of its current addresses and transport length (module doc). Errors (not TCP/UDP, a frame
/// that does not parse, offsets beyond 64 KiB) leave the frame unchanged.
pub fn refresh_pseudo_header(frame: &mut [u8]) -> Result<PartialCsum, RewriteError> {
    let at = Layout::parse(frame)?;
    let l4 = &at.0;
    let (csum_offset, hdr_len, protocol) = match l4.ip.proto {
        proto::TCP => (16, usize::from(frame[l4.at + 12] >> 4) * 4, IpProtocol::Tcp),
        proto::UDP => (6, 8, IpProtocol::Udp),
        _ => return Err(RewriteError::UnsupportedProtocol),
    };
    let len = l4.ip.end - l4.at;
    let (sa, da, alen) = l4.ip.addrs();
    let to16 = |n: usize| u16::try_from(n).map_err(|_| RewriteError::BadIpHeader);
    let out = PartialCsum {
        csum_start: to16(l4.at)?,
        csum_offset,
        hdr_len: to16(l4.at + hdr_len)?,
    };
    let sum = checksum::pseudo_header_bytes(
        &frame[sa..sa + alen],
        &frame[da..da + alen],
        protocol,
        u32::try_from(len).map_err(|_| RewriteError::BadIpHeader)?,
    );
    write_u16(frame, l4.at + usize::from(csum_offset), sum);
    Ok(out)
}

/// Finishes a partial checksum in software: sums from `csum_start` to the end of the IP packet
/// (Ethernet padding excluded) with the field and writes the complement, as the kernel's
/// `skb_checksum_help` does. A UDP result of zero is sent as 0xffff. The inverse of keeping a
/// frame partial; tests and fallbacks use it.
pub fn complete(frame: &mut [u8], at: PartialCsum) -> Result<(), RewriteError> {
    let layout = Layout::parse(frame)?;
    let start = usize::from(at.csum_start);
    let field = start + usize::from(at.csum_offset);
    let end = layout.end();
    if field + 2 > end || start > field {
        return Err(RewriteError::Truncated);
    }
    let mut c = checksum::finish(checksum::data(&frame[start..end]));
    if c == 0 && layout.proto() == proto::UDP {
        c = 0xffff;
    }
    write_u16(frame, field, c);
    Ok(())
}

/// Cuts a TCP or UDP GSO super-frame into its segments, in software: what the kernel does on
/// transmit (`tcp_gso_segment`, `__udp_gso_segment`), for a data path that must handle the
/// segments one by one (encapsulation).
///
/// `frame` is the train (Ethernet, at most one VLAN tag, IPv4/IPv6, TCP/UDP; its checksum may
/// be partial or complete, it is not read); `gso_size` the payload bytes per segment. Segment
/// `i` is written to `out[i * slot + headroom..]` (a whole frame with complete IP and
/// transport checksums) and its range in `out` pushed to `ranges`; `slot` must hold
/// `headroom` + the headers + `gso_size`. Per segment the IPv4 identification counts up from
/// the train's, TCP sequence numbers advance, FIN and PSH stay on the last segment only and
/// CWR on the first; UDP segments each get their own length. On error nothing is pushed.
pub fn segment(
    frame: &[u8],
    gso_size: usize,
    out: &mut [u8],
    slot: usize,
    headroom: usize,
    ranges: &mut Vec<core::ops::Range<usize>>,
) -> Result<usize, RewriteError> {
    let at = Layout::parse(frame)?;
    let l4 = &at.0;
    let (l3, l4_at, end, v6) = (l4.ip.l3, l4.at, l4.ip.end, l4.ip.v6);
    let tcp = match l4.ip.proto {
        proto::TCP => true,
        proto::UDP => false,
        _ => return Err(RewriteError::UnsupportedProtocol),
    };
    let hdr = l4_at
        + if tcp {
            usize::from(frame[l4_at + 12] >> 4) * 4
        } else {
            8
        };
    let payload = end.saturating_sub(hdr);
    if gso_size == 0 || payload == 0 {
        return Err(RewriteError::BadTransportHeader);
    }
    let n = payload.div_ceil(gso_size);
    if headroom + hdr + gso_size > slot || n.checked_mul(slot).is_none_or(|t| t > out.len()) {
        return Err(RewriteError::NoRoom);
    }
    let ip_id = crate::wire::read_u16(frame, l3 + 4);
    let seq = if tcp {
        u32::from_be_bytes([
            frame[l4_at + 4],
            frame[l4_at + 5],
            frame[l4_at + 6],
            frame[l4_at + 7],
        ])
    } else {
        0
    };
    let (sa, da, alen) = l4.ip.addrs();
    let first = ranges.len();
    for i in 0..n {
        let chunk = &frame[hdr + i * gso_size..(hdr + (i + 1) * gso_size).min(end)];
        let base = i * slot + headroom;
        let len = hdr + chunk.len();
        let seg = &mut out[base..base + len];
        seg[..hdr].copy_from_slice(&frame[..hdr]);
        seg[hdr..].copy_from_slice(chunk);
        let ip_len = len - l3;
        if v6 {
            write_u16(seg, l3 + 4, to_u16(ip_len - 40));
        } else {
            write_u16(seg, l3 + 2, to_u16(ip_len));
            write_u16(seg, l3 + 4, ip_id.wrapping_add(i as u16));
            write_u16(seg, l3 + 10, 0);
            let c = checksum::finish(checksum::data(&seg[l3..l4_at]));
            write_u16(seg, l3 + 10, c);
        }
        let l4_len = len - l4_at;
        if tcp {
            let s = seq.wrapping_add((i * gso_size) as u32);
            seg[l4_at + 4..l4_at + 8].copy_from_slice(&s.to_be_bytes());
            const FIN: u8 = 0x01;
            const PSH: u8 = 0x08;
            const CWR: u8 = 0x80;
            if i + 1 < n {
                seg[l4_at + 13] &= !(FIN | PSH);
            }
            if i > 0 {
                seg[l4_at + 13] &= !CWR;
            }
        } else {
            write_u16(seg, l4_at + 4, to_u16(l4_len));
        }
        let field = l4_at + if tcp { 16 } else { 6 };
        write_u16(seg, field, 0);
        let protocol = if tcp {
            IpProtocol::Tcp
        } else {
            IpProtocol::Udp
        };
        let ph = checksum::pseudo_header_bytes(
            &seg[sa..sa + alen],
            &seg[da..da + alen],
            protocol,
            l4_len as u32,
        );
        let mut c = checksum::finish(checksum::combine(&[ph, checksum::data(&seg[l4_at..])]));
        if c == 0 && !tcp {
            c = 0xffff;
        }
        write_u16(seg, field, c);
        ranges.push(base..base + len);
    }
    debug_assert_eq!(ranges.len() - first, n);
    Ok(n)
}

/// Segment lengths fit 16 bits: the train's IP length does, and a segment is shorter.
fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::{ConnAddrs, nat_in};
    use etherparse::PacketBuilder;

    fn tcp_frame() -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([198, 51, 100, 7], [192, 0, 2, 10], 64)
            .tcp(40000, 80, 1, 65535);
        let mut v = Vec::new();
        b.write(&mut v, &[0x5a; 3000]).unwrap();
        v
    }

    #[test]
    fn refresh_then_complete_gives_the_full_checksum() {
        let full = tcp_frame();
        let mut f = full.clone();
        let at = refresh_pseudo_header(&mut f).unwrap();
        assert_eq!(
            at,
            PartialCsum {
                csum_start: 34,
                csum_offset: 16,
                hdr_len: 54
            }
        );
        assert_ne!(f, full);
        complete(&mut f, at).unwrap();
        assert_eq!(f, full);
    }

    #[test]
    fn nat_of_a_partial_frame_refreshed_equals_nat_of_the_full_frame() {
        let conn = ConnAddrs {
            caddr: [198, 51, 100, 7].into(),
            cport: 40000,
            vaddr: [192, 0, 2, 10].into(),
            vport: 80,
            daddr: [10, 0, 2, 11].into(),
            dport: 8080,
            laddr: [10, 0, 2, 1].into(),
            lport: 5000,
        };
        let mut want = tcp_frame();
        nat_in(&mut want, &conn).unwrap();
        let mut f = tcp_frame();
        refresh_pseudo_header(&mut f).unwrap();
        nat_in(&mut f, &conn).unwrap();
        let at = refresh_pseudo_header(&mut f).unwrap();
        complete(&mut f, at).unwrap();
        assert_eq!(f, want);
    }

    #[test]
    fn non_tcp_udp_is_refused_unchanged() {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([198, 51, 100, 7], [192, 0, 2, 10], 64)
            .icmpv4_echo_request(1, 1);
        let mut v = Vec::new();
        b.write(&mut v, b"ping").unwrap();
        let before = v.clone();
        assert!(refresh_pseudo_header(&mut v).is_err());
        assert_eq!(v, before);
    }

    #[test]
    fn segments_are_valid_tcp_and_cover_the_train() {
        let train = tcp_frame(); // 3000 bytes of payload, PSH set by etherparse? set it here
        let mut train = train;
        train[14 + 20 + 13] |= 0x08 | 0x01; // PSH + FIN on the train
        let mut out = vec![0u8; 4 * 2048];
        let mut ranges = Vec::new();
        let n = segment(&train, 1448, &mut out, 2048, 64, &mut ranges).unwrap();
        assert_eq!(n, 3);
        let mut payload = Vec::new();
        for (i, r) in ranges.iter().enumerate() {
            let seg = &out[r.clone()];
            let p = etherparse::SlicedPacket::from_ethernet(seg).unwrap();
            let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
                panic!("not ipv4")
            };
            assert_eq!(ip.header().total_len() as usize, seg.len() - 14);
            assert_eq!(
                ip.header().to_header().calc_header_checksum(),
                ip.header().header_checksum()
            );
            assert_eq!(ip.header().identification(), i as u16);
            let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
                panic!("not tcp")
            };
            let want = t
                .to_header()
                .calc_checksum_ipv4(&ip.header().to_header(), t.payload())
                .unwrap();
            assert_eq!(t.checksum(), want);
            assert_eq!(t.sequence_number(), 1 + (i as u32) * 1448);
            let last = i == n - 1;
            assert_eq!(t.fin(), last);
            assert_eq!(t.psh(), last);
            payload.extend_from_slice(t.payload());
        }
        assert_eq!(payload, vec![0x5a; 3000]);
        assert_eq!(
            segment(&train, 1448, &mut out[..2 * 2048], 2048, 64, &mut ranges),
            Err(RewriteError::NoRoom)
        );
    }
}
