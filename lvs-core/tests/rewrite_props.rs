//! Property tests: every rewriter's incremental checksums equal a full recompute (done here
//! from scratch), NAT/FULLNAT round trips restore the tuple, encap + decap is the identity.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{L4, MAC_DIR, MAC_GW, frame, verify, verify_frame};
use lvs_core::rewrite::icmp;
use lvs_core::rewrite::partial::{complete, refresh_pseudo_header};
use lvs_core::rewrite::toa::{ToaVerdict, insert_toa};
use lvs_core::rewrite::tunnel::{EncapVerdict, Tunnel, TunnelKind, encap};
use lvs_core::rewrite::{
    ConnAddrs, PacketBuf, TtlVerdict, clamp_mss, decap, decrement_ttl, fullnat_in, fullnat_out,
    nat_in, nat_out,
};
use proptest::prelude::*;

fn addr(v6: bool) -> impl Strategy<Value = IpAddr> {
    // Avoid multicast/unspecified: irrelevant for rewriting, and keeps etherparse happy.
    if v6 {
        any::<u128>()
            .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a | 1 << 125)))
            .boxed()
    } else {
        (1u32..0xe000_0000)
            .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            .boxed()
    }
}

fn conn(v6: bool) -> impl Strategy<Value = ConnAddrs> {
    (addr(v6), addr(v6), addr(v6), addr(v6), any::<[u16; 4]>()).prop_map(|(c, v, d, l, p)| {
        ConnAddrs {
            caddr: c,
            cport: p[0],
            vaddr: v,
            vport: p[1],
            daddr: d,
            dport: p[2],
            laddr: l,
            lport: p[3],
        }
    })
}

#[derive(Debug, Clone)]
struct Pkt {
    k: ConnAddrs,
    l4: L4,
    ttl: u8,
    payload: Vec<u8>,
    udp_zero: bool,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        2u8..,
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_flat_map(|(v6, tcp, zero, ttl, payload)| {
            conn(v6).prop_map(move |k| Pkt {
                k,
                l4: if tcp { L4::Tcp { syn: zero } } else { L4::Udp },
                ttl,
                payload: payload.clone(),
                udp_zero: zero && !tcp && !v6,
            })
        })
}

/// The client's packet `caddr:cport -> vaddr:vport`.
fn request(p: &Pkt) -> Vec<u8> {
    let mut f = frame(
        MAC_GW,
        MAC_DIR,
        p.l4,
        (p.k.caddr, p.k.cport),
        (p.k.vaddr, p.k.vport),
        p.ttl,
        &p.payload,
    );
    if p.udp_zero {
        f[14 + 20 + 6..14 + 20 + 8].fill(0);
    }
    f
}

/// Swaps source and destination addresses and ports: the reply. Checksums stay valid (the sums
/// are order-independent).
fn swap(f: &[u8]) -> Vec<u8> {
    let mut f = f.to_vec();
    let (s, n, l4) = if f[14] >> 4 == 6 {
        (14 + 8, 16, 54)
    } else {
        (14 + 12, 4, 34)
    };
    let src = f[s..s + n].to_vec();
    f.copy_within(s + n..s + 2 * n, s);
    f[s + n..s + 2 * n].copy_from_slice(&src);
    let sp = [f[l4], f[l4 + 1]];
    f.copy_within(l4 + 2..l4 + 4, l4);
    f[l4 + 2..l4 + 4].copy_from_slice(&sp);
    f
}

/// The stored and the from-scratch transport checksums (UDP 0 stays 0 when not computed; a
/// computed 0 is sent as 0xffff).
fn l4_checksums(f: &[u8]) -> (u16, u16) {
    let v6 = f[14] >> 4 == 6;
    let (l4, proto) = if v6 { (54, f[20]) } else { (34, f[23]) };
    let c_at = l4 + if proto == 6 { 16 } else { 6 };
    let stored = u16::from_be_bytes([f[c_at], f[c_at + 1]]);
    if proto == 17 && stored == 0 && !v6 {
        return (0, 0);
    }
    let mut seg = f[l4..].to_vec();
    seg[c_at - l4..c_at - l4 + 2].fill(0);
    let mut ph = Vec::new();
    ph.extend_from_slice(if v6 { &f[22..54] } else { &f[26..34] });
    ph.extend_from_slice(&[0, proto]);
    ph.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    ph.extend_from_slice(&seg);
    let mut c = verify::csum(&ph);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    (stored, c)
}

fn ip_checksums(f: &[u8]) -> (u16, u16) {
    if f[14] >> 4 == 6 {
        return (0, 0);
    }
    let mut h = f[14..34].to_vec();
    let stored = u16::from_be_bytes([h[10], h[11]]);
    h[10..12].fill(0);
    (stored, verify::csum(&h))
}

fn check_full(f: &[u8]) -> Result<(), TestCaseError> {
    let (a, b) = l4_checksums(f);
    prop_assert_eq!(a, b, "transport checksum");
    let (a, b) = ip_checksums(f);
    prop_assert_eq!(a, b, "IPv4 header checksum");
    prop_assert!(verify_frame(f).is_ok(), "{:?}", verify_frame(f));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn incremental_equals_full(p in pkt()) {
        let req = request(&p);
        for f in [nat_in, fullnat_in] {
            let mut g = req.clone();
            f(&mut g, &p.k).unwrap();
            check_full(&g)?;
        }
        for f in [nat_out, fullnat_out] {
            let mut g = swap(&req);
            f(&mut g, &p.k).unwrap();
            check_full(&g)?;
        }
        let mut g = req.clone();
        prop_assert_eq!(decrement_ttl(&mut g), Ok(TtlVerdict::Forward));
        check_full(&g)?;
        if let L4::Tcp { .. } = p.l4 {
            let mut g = req.clone();
            let _ = clamp_mss(&mut g, 1000).unwrap();
            check_full(&g)?;
            let mut buf = vec![0u8; 32 + req.len()];
            buf[32..].copy_from_slice(&req);
            let mut pb = PacketBuf::new(&mut buf, 32, req.len()).unwrap();
            prop_assert_eq!(insert_toa(&mut pb, p.k.caddr, p.k.cport), Ok(ToaVerdict::Inserted));
            check_full(pb.frame())?;
        }
    }

    #[test]
    fn nat_round_trip(p in pkt()) {
        let req = request(&p);
        let mut fwd = req.clone();
        nat_in(&mut fwd, &p.k).unwrap();
        let mut back = swap(&fwd);
        nat_out(&mut back, &p.k).unwrap();
        prop_assert_eq!(back, swap(&req));
    }

    #[test]
    fn fullnat_round_trip(p in pkt()) {
        let req = request(&p);
        let mut fwd = req.clone();
        fullnat_in(&mut fwd, &p.k).unwrap();
        let mut back = swap(&fwd);
        fullnat_out(&mut back, &p.k).unwrap();
        prop_assert_eq!(back, swap(&req));
    }

    #[test]
    fn encap_decap_identity(p in pkt(), kind in 0u8..6, outer6 in any::<bool>(), outer in (addr(false), addr(false), addr(true), addr(true))) {
        let req = request(&p);
        let kind = match kind {
            0 => TunnelKind::Ipip,
            1 => TunnelKind::Gue { port: verify::GUE_PORT, csum: false, direct: false },
            2 => TunnelKind::Gue { port: verify::GUE_PORT, csum: true, direct: false },
            3 => TunnelKind::Gue { port: verify::GUE_PORT, csum: true, direct: true },
            4 => TunnelKind::Gre { csum: false },
            _ => TunnelKind::Gre { csum: true },
        };
        let (src, dst) = if outer6 { (outer.2, outer.3) } else { (outer.0, outer.1) };
        let t = Tunnel { kind, src, dst, path_mtu: 9000, ident: 7 };
        let mut buf = vec![0u8; 64 + req.len()];
        buf[64..].copy_from_slice(&req);
        let mut pb = PacketBuf::new(&mut buf, 64, req.len()).unwrap();
        prop_assert_eq!(encap(&mut pb, &t), Ok(EncapVerdict::Encapsulated));
        prop_assert!(verify_frame(pb.frame()).is_ok(), "{:?}", verify_frame(pb.frame()));
        decap::decap(&mut pb, Some(verify::GUE_PORT)).unwrap();
        prop_assert_eq!(pb.frame(), &req[..]);
    }

    #[test]
    fn ttl_keeps_checksum(p in pkt()) {
        let mut g = request(&p);
        for _ in 2..p.ttl.min(40) {
            prop_assert_eq!(decrement_ttl(&mut g), Ok(TtlVerdict::Forward));
            check_full(&g)?;
        }
    }

    #[test]
    fn related_icmp_checksums(p in pkt(), keep in 4usize..400, which in 0u8..4) {
        // Quote a packet of the direction each translator expects, cut to `keep` transport bytes.
        let req = request(&p);
        let q = match which {
            0 | 2 => swap(&req),
            _ => {
                let mut g = req.clone();
                if which == 1 { nat_in(&mut g, &p.k).unwrap() } else { fullnat_in(&mut g, &p.k).unwrap() }
                g
            }
        };
        let hl = if p.k.caddr.is_ipv6() { 40 } else { 20 };
        let quote = &q[14..(14 + hl + keep).min(q.len())];
        let b = common::ip_builder(MAC_GW, MAC_DIR, p.k.daddr, p.k.caddr, 9);
        let mut f = Vec::new();
        if p.k.caddr.is_ipv6() {
            b.icmpv6(etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 }).write(&mut f, quote).unwrap();
        } else {
            b.icmpv4(etherparse::Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit)).write(&mut f, quote).unwrap();
        }
        let r = match which {
            0 => icmp::nat_in(&mut f, &p.k),
            1 => icmp::nat_out(&mut f, &p.k),
            2 => icmp::fullnat_in(&mut f, &p.k),
            _ => icmp::fullnat_out(&mut f, &p.k),
        };
        prop_assert_eq!(r, Ok(()));
        prop_assert!(verify_frame(&f).is_ok(), "{:?}", verify_frame(&f));
    }

    /// A CHECKSUM_PARTIAL frame (field = pseudo-header sum) rewritten by any rewriter, then
    /// refreshed and completed, equals the same rewrite of the complete frame: the partial
    /// mode the data path uses for GSO trains loses nothing.
    #[test]
    fn partial_rewrite_refresh_complete_equals_full(p in pkt()) {
        prop_assume!(!p.udp_zero);
        type Rw = fn(&mut [u8], &ConnAddrs) -> Result<(), lvs_core::rewrite::RewriteError>;
        let req = request(&p);
        let cases: [(Rw, bool); 4] =
            [(nat_in, false), (fullnat_in, false), (nat_out, true), (fullnat_out, true)];
        for (f, reply) in cases {
            let full_in = if reply { swap(&req) } else { req.clone() };
            let mut want = full_in.clone();
            f(&mut want, &p.k).unwrap();
            let mut g = full_in.clone();
            refresh_pseudo_header(&mut g).unwrap();
            f(&mut g, &p.k).unwrap();
            let at = refresh_pseudo_header(&mut g).unwrap();
            complete(&mut g, at).unwrap();
            check_full(&g)?;
            prop_assert_eq!(&g, &want);
        }
        if let L4::Tcp { .. } = p.l4 {
            // TOA grows the TCP header and the IP length: the refreshed sum follows.
            let mut partial = req.clone();
            refresh_pseudo_header(&mut partial).unwrap();
            let mut buf = vec![0u8; 32 + req.len()];
            buf[32..].copy_from_slice(&partial);
            let mut pb = PacketBuf::new(&mut buf, 32, req.len()).unwrap();
            prop_assert_eq!(insert_toa(&mut pb, p.k.caddr, p.k.cport), Ok(ToaVerdict::Inserted));
            let mut g = pb.frame().to_vec();
            let at = refresh_pseudo_header(&mut g).unwrap();
            complete(&mut g, at).unwrap();
            check_full(&g)?;
        }
    }
}
