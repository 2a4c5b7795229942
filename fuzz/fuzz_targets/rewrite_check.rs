//! Shared checks of the `rewrite_*` fuzz targets (included with `#[path]`, not a target).
//!
//! The input is `[seed (80 bytes)][frame]`. The seed gives the connection addresses and the
//! rewriter parameters; the frame's checksums are first made valid with the `wire` views (an
//! implementation independent of the rewriters), so that every successful rewrite must leave
//! valid checksums and consistent lengths, and every failed one must leave the frame unchanged.
#![allow(dead_code, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::rewrite::ConnAddrs;
use lvs_core::wire::flow::{self, Fragment, FrameInfo};
use lvs_core::wire::{
    Icmpv4Packet, Icmpv6Packet, IpProtocol, IpVersion, Ipv4Packet, TcpPacket, UdpPacket,
};

/// Bytes of seed before the frame.
pub(crate) const SEED: usize = 80;

/// Splits the input into seed and frame (the seed zero-padded).
pub(crate) fn split(data: &[u8]) -> ([u8; SEED], Vec<u8>) {
    let mut seed = [0u8; SEED];
    let n = data.len().min(SEED);
    seed[..n].copy_from_slice(&data[..n]);
    (seed, data[n..].to_vec())
}

fn addr(seed: &[u8], v6: bool, i: usize) -> IpAddr {
    let b = &seed[i * 16..i * 16 + 16];
    if v6 {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or([0; 16])))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

/// Connection addresses of the frame's family from the seed.
pub(crate) fn conn(seed: &[u8; SEED], v6: bool) -> ConnAddrs {
    let p = |i: usize| u16::from_be_bytes([seed[64 + 2 * i], seed[65 + 2 * i]]);
    ConnAddrs {
        caddr: addr(seed, v6, 0),
        cport: p(0),
        vaddr: addr(seed, v6, 1),
        vport: p(1),
        daddr: addr(seed, v6, 2),
        dport: p(2),
        laddr: addr(seed, v6, 3),
        lport: p(3),
    }
}

fn ip_addrs(frame: &[u8], info: &FrameInfo) -> (IpAddr, IpAddr) {
    let l3 = info.l3_offset;
    if info.ip_version == IpVersion::Ipv6 {
        let s: [u8; 16] = frame[l3 + 8..l3 + 24].try_into().unwrap_or([0; 16]);
        let d: [u8; 16] = frame[l3 + 24..l3 + 40].try_into().unwrap_or([0; 16]);
        (IpAddr::from(s), IpAddr::from(d))
    } else {
        let s: [u8; 4] = frame[l3 + 12..l3 + 16].try_into().unwrap_or([0; 4]);
        let d: [u8; 4] = frame[l3 + 16..l3 + 20].try_into().unwrap_or([0; 4]);
        (IpAddr::from(s), IpAddr::from(d))
    }
}

/// Which checksums [`normalize`] filled, so [`assert_valid`] checks exactly those.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Filled {
    l4: bool,
}

/// Makes the frame's IPv4 header, TCP/UDP and ICMP checksums valid. `None` if not an IP frame.
pub(crate) fn normalize(frame: &mut [u8]) -> Option<(FrameInfo, Filled)> {
    let info = flow::extract(frame).ok()?;
    let l3 = info.l3_offset;
    if info.ip_version == IpVersion::Ipv4
        && let Ok(mut ip) = Ipv4Packet::new_checked(&mut frame[l3..info.l4_end])
    {
        ip.fill_checksum();
    }
    let (src, dst) = ip_addrs(frame, &info);
    let mut filled = Filled::default();
    if info.fragment == Fragment::None {
        let seg = &mut frame[info.l4_offset..info.l4_end];
        match info.flow.proto {
            IpProtocol::Tcp => {
                if let Ok(mut t) = TcpPacket::new_checked(seg) {
                    t.fill_checksum(&src, &dst);
                    filled.l4 = true;
                }
            }
            IpProtocol::Udp => {
                let whole = info.l4_end - info.l4_offset;
                if let Ok(mut u) = UdpPacket::new_checked(seg)
                    && usize::from(u.len()) == whole
                {
                    u.fill_checksum(&src, &dst);
                    filled.l4 = true;
                }
            }
            IpProtocol::Icmp => {
                if let Ok(mut i) = Icmpv4Packet::new_checked(seg) {
                    i.fill_checksum();
                    filled.l4 = true;
                }
            }
            IpProtocol::Icmpv6 => {
                if let Ok(mut i) = Icmpv6Packet::new_checked(seg) {
                    i.fill_checksum(&src, &dst);
                    filled.l4 = true;
                }
            }
            _ => {}
        }
    }
    Some((info, filled))
}

/// Asserts the frame parses, its IP length matches the frame, and the checksums verify.
pub(crate) fn assert_valid(frame: &[u8], filled: Filled, what: &str) {
    let info =
        flow::extract(frame).unwrap_or_else(|e| panic!("{what}: output does not parse: {e:?}"));
    assert!(
        info.l4_end <= frame.len(),
        "{what}: IP length beyond the frame"
    );
    let l3 = info.l3_offset;
    if info.ip_version == IpVersion::Ipv4 {
        let ip = Ipv4Packet::new_checked(&frame[l3..info.l4_end]).expect("IPv4 view");
        assert!(ip.verify_checksum(), "{what}: IPv4 header checksum");
    }
    if !filled.l4 || info.fragment != Fragment::None {
        return;
    }
    let (src, dst) = ip_addrs(frame, &info);
    let seg = &frame[info.l4_offset..info.l4_end];
    let ok = match info.flow.proto {
        IpProtocol::Tcp => TcpPacket::new_checked(seg).is_ok_and(|t| t.verify_checksum(&src, &dst)),
        IpProtocol::Udp => UdpPacket::new_checked(seg)
            .is_ok_and(|u| u.verify_checksum(&src, &dst) && !(u.checksum() == 0 && src.is_ipv6())),
        IpProtocol::Icmp => Icmpv4Packet::new_checked(seg).is_ok_and(|i| i.verify_checksum()),
        IpProtocol::Icmpv6 => {
            Icmpv6Packet::new_checked(seg).is_ok_and(|i| i.verify_checksum(&src, &dst))
        }
        _ => true,
    };
    assert!(ok, "{what}: transport checksum");
}

/// Runs an in-place rewriter on a copy: on success the output must be valid, on error the frame
/// must be unchanged. Returns the output on success.
pub(crate) fn run<E: std::fmt::Debug>(
    frame: &[u8],
    filled: Filled,
    what: &str,
    f: impl FnOnce(&mut [u8]) -> Result<(), E>,
) -> Option<Vec<u8>> {
    let mut g = frame.to_vec();
    match f(&mut g) {
        Ok(()) => {
            assert_valid(&g, filled, what);
            Some(g)
        }
        Err(_) => {
            assert_eq!(g, frame, "{what}: error but frame changed");
            None
        }
    }
}
