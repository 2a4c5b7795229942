//! Golden tables for TUN encapsulation (ipip, 6in6, 4in6, 6in4, GUE, GRE), the tunnel MTU
//! verdicts, and decapsulation; expected outer headers are built with etherparse.

mod common;

use std::net::IpAddr;

use common::verify::{self, GUE_PORT};
use common::{MAC_DIR, MAC_GW, assert_frame, ip, v4, v6};
use etherparse::{
    IpDscp, IpEcn, IpHeaders, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder,
};
use lvs_core::rewrite::decap::{self, TunnelType};
use lvs_core::rewrite::tunnel::{EncapVerdict, Tunnel, TunnelKind, encap, overhead};
use lvs_core::rewrite::{PacketBuf, RewriteError};

/// IP headers with DSCP 46 and ECN `ecn`, TTL `ttl`, DF `df`, (v6) flow label 0x12345.
fn ip_hdr(src: IpAddr, dst: IpAddr, ttl: u8, ecn: u8, df: bool, id: u16) -> IpHeaders {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let h = Ipv4Header {
                dscp: IpDscp::try_new(46).unwrap(),
                ecn: IpEcn::try_new(ecn).unwrap(),
                identification: id,
                dont_fragment: df,
                time_to_live: ttl,
                source: s.octets(),
                destination: d.octets(),
                ..Default::default()
            };
            IpHeaders::Ipv4(h, Default::default())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: 46 << 2 | ecn,
                flow_label: Ipv6FlowLabel::try_new(0x12345).unwrap(),
                hop_limit: ttl,
                source: s.octets(),
                destination: d.octets(),
                ..Default::default()
            },
            Default::default(),
        ),
        _ => panic!("mixed"),
    }
}

/// The client's packet to the VIP, as the director forwards it (TTL already decremented).
fn inner_frame(v6: bool, ecn: u8, df: bool, len: usize) -> Vec<u8> {
    let (c, v) = if v6 {
        (ip("2001:db8::7"), ip("2001:db8::110"))
    } else {
        (ip("198.51.100.7"), ip("192.0.2.110"))
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_GW, MAC_DIR)
        .ip(ip_hdr(c, v, 63, ecn, df, 0x1111))
        .udp(40000, 53)
        .write(&mut out, &vec![0x77; len])
        .unwrap();
    out
}

/// The expected frame: `outer` IP header around `payload` with protocol `proto`.
fn outer_frame(outer: IpHeaders, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_GW, MAC_DIR)
        .ip(outer)
        .write(&mut out, IpNumber(proto), payload)
        .unwrap();
    out
}

fn endpoints(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (ip("fd00::1"), ip("fd00::2"))
    } else {
        (ip("172.16.0.1"), ip("172.16.0.2"))
    }
}

fn run(input: &[u8], t: &Tunnel) -> (Result<EncapVerdict, RewriteError>, Vec<u8>) {
    let mut buf = vec![0u8; 64 + input.len()];
    buf[64..].copy_from_slice(input);
    let mut pkt = PacketBuf::new(&mut buf, 64, input.len()).unwrap();
    let v = encap(&mut pkt, t);
    (v, pkt.frame().to_vec())
}

/// Decapsulates `frame` and checks it gives back `want`.
fn check_decap(case: &str, frame: &[u8], want: &[u8], gue: Option<u16>, ty: TunnelType) {
    let found = decap::inner(frame, gue).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(found.tunnel, ty, "{case}");
    let l3 = if want[12..14] == [0x81, 0x00] { 18 } else { 14 };
    assert_eq!(&frame[found.range.clone()], &want[l3..], "{case}");
    let mut buf = frame.to_vec();
    let mut pkt = PacketBuf::new(&mut buf, 0, frame.len()).unwrap();
    decap::decap(&mut pkt, gue).unwrap();
    assert_frame(&format!("decap-{case}"), frame, pkt.frame(), want);
}

#[test]
fn tunnel_golden() {
    let kinds = [
        ("ipip", TunnelKind::Ipip),
        (
            "gue",
            TunnelKind::Gue {
                port: GUE_PORT,
                csum: false,
                direct: false,
            },
        ),
        (
            "gue-csum",
            TunnelKind::Gue {
                port: GUE_PORT,
                csum: true,
                direct: false,
            },
        ),
        (
            "gue-direct",
            TunnelKind::Gue {
                port: GUE_PORT,
                csum: true,
                direct: true,
            },
        ),
        ("gre", TunnelKind::Gre { csum: false }),
        ("gre-csum", TunnelKind::Gre { csum: true }),
    ];
    for (kname, kind) in kinds {
        for (inner_v6, outer_v6) in [(false, false), (true, true), (false, true), (true, false)] {
            for (ecn, outer_ecn) in [(0u8, 0u8), (1, 1), (3, 2)] {
                for len in [0usize, 33, 1000] {
                    let case = format!("{kname}-{inner_v6}-{outer_v6}-{ecn}-{len}");
                    let input = inner_frame(inner_v6, ecn, true, len);
                    let (src, dst) = endpoints(outer_v6);
                    let t = Tunnel {
                        kind,
                        src,
                        dst,
                        path_mtu: 1500,
                        ident: 0x4242,
                    };
                    let (v, got) = run(&input, &t);
                    assert_eq!(v, Ok(EncapVerdict::Encapsulated), "{case}");
                    let inner = &input[14..];
                    let inner_proto = if inner_v6 { 41 } else { 4 };
                    // Outer: TTL 63 from the inner, DSCP 46, ECN per RFC 6040, DF = inner DF.
                    let mut outer = ip_hdr(src, dst, 63, outer_ecn, !inner_v6, 0x4242);
                    if let IpHeaders::Ipv6(h, _) = &mut outer {
                        let fl = if inner_v6 { 0x12345 } else { 0 };
                        h.flow_label = Ipv6FlowLabel::try_new(fl).unwrap();
                    }
                    let want = match kind {
                        TunnelKind::Ipip => outer_frame(outer, inner_proto, inner),
                        TunnelKind::Gue { csum, direct, .. } => {
                            // The source port is a flow hash: take it from the output and check
                            // its range (Linux's default ephemeral range).
                            let sport_at = 14 + if outer_v6 { 40 } else { 20 };
                            let sport = u16::from_be_bytes([got[sport_at], got[sport_at + 1]]);
                            assert!((32768..61000).contains(&sport), "{case}: sport {sport}");
                            let mut payload = if direct {
                                vec![]
                            } else {
                                vec![0, inner_proto, 0, 0]
                            };
                            payload.extend_from_slice(inner);
                            let mut out = Vec::new();
                            PacketBuilder::ethernet2(MAC_GW, MAC_DIR)
                                .ip(outer)
                                .udp(sport, GUE_PORT)
                                .write(&mut out, &payload)
                                .unwrap();
                            if !csum && !outer_v6 {
                                out[sport_at + 6..sport_at + 8].fill(0);
                            }
                            out
                        }
                        TunnelKind::Gre { csum } => {
                            let mut g = vec![if csum { 0x80 } else { 0 }, 0];
                            g.extend_from_slice(if inner_v6 {
                                &[0x86, 0xdd]
                            } else {
                                &[0x08, 0x00]
                            });
                            if csum {
                                g.extend_from_slice(&[0; 4]);
                            }
                            g.extend_from_slice(inner);
                            if csum {
                                let c = verify::csum(&g);
                                g[4..6].copy_from_slice(&c.to_be_bytes());
                            }
                            outer_frame(outer, 47, &g)
                        }
                    };
                    assert_frame(&format!("encap-{case}"), &input, &got, &want);
                    let (gue, ty) = match kind {
                        TunnelKind::Ipip => (None, TunnelType::Ipip),
                        TunnelKind::Gue { direct: true, .. } => {
                            (Some(GUE_PORT), TunnelType::GueDirect)
                        }
                        TunnelKind::Gue { .. } => (Some(GUE_PORT), TunnelType::Gue),
                        TunnelKind::Gre { .. } => (None, TunnelType::Gre),
                    };
                    check_decap(&case, &want, &input, gue, ty);
                }
            }
        }
    }
}

#[test]
fn tunnel_mtu_verdicts() {
    let (s4, d4) = endpoints(false);
    let (s6, d6) = endpoints(true);
    let ipip4 = Tunnel {
        kind: TunnelKind::Ipip,
        src: s4,
        dst: d4,
        path_mtu: 1500,
        ident: 1,
    };
    // 1500-byte inner IPv4 with DF: 1480 fits the tunnel.
    let big = inner_frame(false, 0, true, 1500 - 28);
    assert_eq!(
        run(&big, &ipip4).0,
        Ok(EncapVerdict::FragNeeded { mtu: 1480 })
    );
    let fits = inner_frame(false, 0, true, 1480 - 28);
    assert_eq!(run(&fits, &ipip4).0, Ok(EncapVerdict::Encapsulated));
    // Without DF the packet is encapsulated; the caller fragments the outer packet.
    let nodf = inner_frame(false, 0, false, 1500 - 28);
    let (v, out) = run(&nodf, &ipip4);
    assert_eq!(v, Ok(EncapVerdict::Encapsulated));
    assert_eq!(out.len(), 14 + 1520);
    // IPv6 inner over IPv6 GUE: 1500 - 40 - 8 - 4.
    let gue6 = Tunnel {
        kind: TunnelKind::Gue {
            port: GUE_PORT,
            csum: false,
            direct: false,
        },
        src: s6,
        dst: d6,
        path_mtu: 1500,
        ident: 0,
    };
    assert_eq!(overhead(gue6.kind, true), 52);
    let big6 = inner_frame(true, 0, false, 1500 - 48);
    assert_eq!(
        run(&big6, &gue6).0,
        Ok(EncapVerdict::PacketTooBig { mtu: 1448 })
    );
    // Never below the IPv6 minimum MTU.
    let small = Tunnel {
        path_mtu: 1300,
        ..gue6
    };
    assert_eq!(
        run(&big6, &small).0,
        Ok(EncapVerdict::PacketTooBig { mtu: 1280 })
    );
    assert_eq!(overhead(TunnelKind::Gre { csum: true }, false), 28);
    // Mixed outer families and missing room are errors, frame unchanged.
    let bad = Tunnel { dst: d6, ..ipip4 };
    assert_eq!(run(&fits, &bad).0, Err(RewriteError::AddressFamily));
    let mut buf = fits.clone();
    let mut pkt = PacketBuf::new(&mut buf, 0, fits.len()).unwrap();
    assert_eq!(encap(&mut pkt, &ipip4), Err(RewriteError::NoRoom));
    assert_eq!(pkt.frame(), &fits[..]);
}

#[test]
fn decap_variants_and_refusals() {
    let input = inner_frame(false, 0, true, 20);
    let inner = &input[14..];
    let outer = || ip_hdr(ip("172.16.0.1"), ip("172.16.0.2"), 64, 0, true, 0);
    // GRE with a key and a sequence number (RFC 2890).
    let mut g = vec![0x30, 0, 0x08, 0, 0, 0, 0, 7, 0, 0, 0, 1];
    g.extend_from_slice(inner);
    check_decap(
        "gre-key-seq",
        &outer_frame(outer(), 47, &g),
        &input,
        None,
        TunnelType::Gre,
    );
    // GRE with a bad checksum.
    let mut g = vec![0x80, 0, 0x08, 0, 0xde, 0xad, 0, 0];
    g.extend_from_slice(inner);
    let f = outer_frame(outer(), 47, &g);
    assert_eq!(decap::inner(&f, None), Err(RewriteError::BadChecksum));
    // GRE version 1 (PPTP) is refused.
    let mut g = vec![0, 1, 0x08, 0];
    g.extend_from_slice(inner);
    assert_eq!(
        decap::inner(&outer_frame(outer(), 47, &g), None),
        Err(RewriteError::UnsupportedTunnel)
    );
    // GUE with 4 bytes of optional fields (hlen 1).
    let mut payload = vec![0x01, 4, 0, 0, 9, 9, 9, 9];
    payload.extend_from_slice(inner);
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_GW, MAC_DIR)
        .ip(outer())
        .udp(1234, GUE_PORT)
        .write(&mut f, &payload)
        .unwrap();
    check_decap("gue-hlen", &f, &input, Some(GUE_PORT), TunnelType::Gue);
    // UDP on another port is not a tunnel.
    assert_eq!(
        decap::inner(&f, Some(GUE_PORT + 1)),
        Err(RewriteError::NotTunnel)
    );
    // The inner packet is not the advertised family.
    let f = outer_frame(outer(), 41, inner);
    assert_eq!(decap::inner(&f, None), Err(RewriteError::BadIpHeader));
    // A plain TCP packet is not a tunnel.
    assert_eq!(
        decap::inner(&inner_frame(false, 0, true, 0), None),
        Err(RewriteError::NotTunnel)
    );
    let _ = (v4, v6);
}

#[test]
fn encap_vlan_tagged() {
    let inner = inner_frame(false, 0, true, 10);
    // The same packet behind an 802.1Q tag (VLAN 7).
    let mut tagged = inner[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    tagged.extend_from_slice(&inner[12..]);
    let (src, dst) = endpoints(true);
    let t = Tunnel {
        kind: TunnelKind::Ipip,
        src,
        dst,
        path_mtu: 1500,
        ident: 0,
    };
    let (v, got) = run(&tagged, &t);
    assert_eq!(v, Ok(EncapVerdict::Encapsulated));
    // Expected: tag kept, Ethernet type IPv6, outer header as in the untagged case.
    let untagged = {
        let (v, out) = run(&inner, &t);
        assert_eq!(v, Ok(EncapVerdict::Encapsulated));
        out
    };
    let mut want = untagged[..12].to_vec();
    want.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    want.extend_from_slice(&untagged[12..]);
    assert_eq!(&want[16..18], &[0x86, 0xdd]);
    assert_frame("encap-vlan", &tagged, &got, &want);
    check_decap("vlan", &got, &tagged, None, TunnelType::Ipip);
}
