//! Golden tables for related ICMP errors under NAT and FULLNAT: the outer and the quoted tuple
//! are translated; expected frames are built with etherparse around a quote that is itself built
//! with etherparse and cut to the same length.

mod common;

use std::net::IpAddr;

use common::{L4, MAC_DIR, MAC_GW, assert_frame, conn, frame, ip, ip_builder};
use etherparse::{Icmpv4Type, Icmpv6Type, icmpv4, icmpv6};
use lvs_core::rewrite::ConnAddrs;
use lvs_core::rewrite::RewriteError;
use lvs_core::rewrite::icmp::{self, QuotedTuple, quoted_tuple};

/// The quoted packet: a whole frame's IP packet, cut to `keep` bytes of transport header.
fn quote(l4: L4, src: (IpAddr, u16), dst: (IpAddr, u16), keep: usize) -> Vec<u8> {
    let f = frame(MAC_GW, MAC_DIR, l4, src, dst, 60, &[0x5a; 100]);
    let ip = &f[14..];
    let hl = if src.0.is_ipv6() { 40 } else { 20 };
    ip[..(hl + keep).min(ip.len())].to_vec()
}

/// An ICMP error `src -> dst` quoting `q`; `kind` 0 = unreachable/too-big, 1 = time exceeded.
fn icmp_frame(src: IpAddr, dst: IpAddr, kind: u8, q: &[u8]) -> Vec<u8> {
    let b = ip_builder(MAC_GW, MAC_DIR, src, dst, 50);
    let mut out = Vec::new();
    if src.is_ipv6() {
        let t = match kind {
            0 => Icmpv6Type::PacketTooBig { mtu: 1400 },
            _ => Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded),
        };
        b.icmpv6(t).write(&mut out, q).unwrap();
    } else {
        let t = match kind {
            0 => Icmpv4Type::DestinationUnreachable(
                icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 },
            ),
            _ => Icmpv4Type::TimeExceeded(icmpv4::TimeExceededCode::TtlExceededInTransit),
        };
        b.icmpv4(t).write(&mut out, q).unwrap();
    }
    out
}

type Rewrite = fn(&mut [u8], &ConnAddrs) -> Result<(), RewriteError>;
type Tuple = (IpAddr, u16);
/// (name, rewriter, outer in, quoted in, outer out, quoted out)
type Row = (
    &'static str,
    Rewrite,
    [IpAddr; 2],
    [Tuple; 2],
    [IpAddr; 2],
    [Tuple; 2],
);

#[test]
fn related_icmp_golden() {
    for v6 in [false, true] {
        let k = conn(v6);
        let router = if v6 {
            ip("2001:db8:ff::1")
        } else {
            ip("203.0.113.1")
        };
        let (c, v, d, l) = (
            (k.caddr, k.cport),
            (k.vaddr, k.vport),
            (k.daddr, k.dport),
            (k.laddr, k.lport),
        );
        let table: [Row; 5] = [
            (
                "nat-in",
                icmp::nat_in,
                [router, k.vaddr],
                [v, c],
                [router, k.daddr],
                [d, c],
            ),
            (
                "nat-out-rs",
                icmp::nat_out,
                [k.daddr, k.caddr],
                [c, d],
                [k.vaddr, k.caddr],
                [c, v],
            ),
            (
                "nat-out-router",
                icmp::nat_out,
                [router, k.caddr],
                [c, d],
                [k.vaddr, k.caddr],
                [c, v],
            ),
            (
                "fullnat-in",
                icmp::fullnat_in,
                [router, k.vaddr],
                [v, c],
                [k.laddr, k.daddr],
                [d, l],
            ),
            (
                "fullnat-out",
                icmp::fullnat_out,
                [k.daddr, k.laddr],
                [l, d],
                [k.vaddr, k.caddr],
                [c, v],
            ),
        ];
        for (name, f, oin, qin, oout, qout) in table {
            for l4 in [L4::Tcp { syn: false }, L4::Udp] {
                for keep in [8, 20, 1000] {
                    for kind in [0, 1] {
                        let input =
                            icmp_frame(oin[0], oin[1], kind, &quote(l4, qin[0], qin[1], keep));
                        let want =
                            icmp_frame(oout[0], oout[1], kind, &quote(l4, qout[0], qout[1], keep));
                        let mut got = input.clone();
                        f(&mut got, &k).unwrap_or_else(|e| panic!("{name}: {e}"));
                        let case = format!("icmp-{name}-{v6}-{l4:?}-{keep}-{kind}");
                        assert_frame(&case, &input, &got, &want);
                    }
                }
            }
        }
    }
}

#[test]
fn quoted_tuple_and_refusals() {
    let k = conn(false);
    let q = quote(L4::Udp, (k.vaddr, k.vport), (k.caddr, k.cport), 8);
    let f = icmp_frame(ip("203.0.113.1"), k.vaddr, 1, &q);
    assert_eq!(
        quoted_tuple(&f),
        Ok(QuotedTuple {
            proto: 17,
            src: k.vaddr,
            sport: k.vport,
            dst: k.caddr,
            dport: k.cport
        })
    );
    // Only 4 bytes of the transport header quoted: ports present, still fine.
    let f4 = icmp_frame(ip("203.0.113.1"), k.vaddr, 1, &q[..24]);
    assert!(quoted_tuple(&f4).is_ok());
    // Quote shorter than the ports: refused.
    let f2 = icmp_frame(ip("203.0.113.1"), k.vaddr, 1, &q[..22]);
    assert_eq!(quoted_tuple(&f2), Err(RewriteError::BadQuotedPacket));
    // Echo request is not a related error.
    let mut echo = Vec::new();
    ip_builder(MAC_GW, MAC_DIR, k.caddr, k.vaddr, 64)
        .icmpv4_echo_request(1, 2)
        .write(&mut echo, b"ping")
        .unwrap();
    assert_eq!(icmp::nat_in(&mut echo, &k), Err(RewriteError::NotIcmpError));
    // A v6 connection on a v4 error.
    let mut g = f.clone();
    assert_eq!(
        icmp::nat_in(&mut g, &conn(true)),
        Err(RewriteError::AddressFamily)
    );
    assert_eq!(g, f);
}
