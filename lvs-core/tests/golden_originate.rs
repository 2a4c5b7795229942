//! Golden tables for originated packets: ICMP errors, ARP and neighbour advertisements, against
//! frames built with etherparse.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{L4, MAC_DIR, MAC_GW, assert_frame, frame, ip, v4, v6};
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, IpDscp, IpHeaders, Ipv4Header, Ipv6Header,
    PacketBuilder, icmpv4, icmpv6,
};
use lvs_core::rewrite::RewriteError;
use lvs_core::rewrite::originate::{
    IcmpErrorKind, NaFlags, arp_reply, gratuitous_arp, icmp_error, neighbor_advert, unsolicited_na,
};
use lvs_core::wire::MacAddr;

/// The expected ICMP error from `from` to `to` quoting `quote`.
fn want_error(from: IpAddr, to: IpAddr, kind: IcmpErrorKind, quote: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(MAC_DIR, MAC_GW);
    let mut out = Vec::new();
    match (from, to) {
        (IpAddr::V4(f), IpAddr::V4(t)) => {
            let h = Ipv4Header {
                dscp: IpDscp::try_new(0xc0 >> 2).unwrap(),
                identification: 77,
                dont_fragment: false,
                time_to_live: 64,
                source: f.octets(),
                destination: t.octets(),
                ..Default::default()
            };
            let ty = match kind {
                IcmpErrorKind::TimeExceeded => etherparse::Icmpv4Type::TimeExceeded(
                    icmpv4::TimeExceededCode::TtlExceededInTransit,
                ),
                IcmpErrorKind::FragNeeded { mtu } => {
                    etherparse::Icmpv4Type::DestinationUnreachable(
                        icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
                    )
                }
                IcmpErrorKind::PortUnreachable => etherparse::Icmpv4Type::DestinationUnreachable(
                    icmpv4::DestUnreachableHeader::Port,
                ),
                IcmpErrorKind::PacketTooBig { .. } => unreachable!(),
            };
            eth.ip(IpHeaders::Ipv4(h, Default::default()))
                .icmpv4(ty)
                .write(&mut out, quote)
        }
        (IpAddr::V6(f), IpAddr::V6(t)) => {
            let h = Ipv6Header {
                hop_limit: 64,
                source: f.octets(),
                destination: t.octets(),
                ..Default::default()
            };
            let ty = match kind {
                IcmpErrorKind::TimeExceeded => {
                    etherparse::Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded)
                }
                IcmpErrorKind::PacketTooBig { mtu } => etherparse::Icmpv6Type::PacketTooBig { mtu },
                IcmpErrorKind::PortUnreachable => etherparse::Icmpv6Type::DestinationUnreachable(
                    icmpv6::DestUnreachableCode::Port,
                ),
                IcmpErrorKind::FragNeeded { .. } => unreachable!(),
            };
            eth.ip(IpHeaders::Ipv6(h, Default::default()))
                .icmpv6(ty)
                .write(&mut out, quote)
        }
        _ => panic!("mixed"),
    }
    .unwrap();
    out
}

#[test]
fn icmp_errors_golden() {
    let cases = [
        (false, IcmpErrorKind::TimeExceeded),
        (false, IcmpErrorKind::FragNeeded { mtu: 1480 }),
        (true, IcmpErrorKind::TimeExceeded),
        (true, IcmpErrorKind::PacketTooBig { mtu: 1440 }),
        (false, IcmpErrorKind::PortUnreachable),
        (true, IcmpErrorKind::PortUnreachable),
    ];
    for (is_v6, kind) in cases {
        let (c, v, me) = if is_v6 {
            (ip("2001:db8::7"), ip("2001:db8::110"), ip("2001:db8::1"))
        } else {
            (ip("198.51.100.7"), ip("192.0.2.110"), ip("192.0.2.1"))
        };
        // Max quote: 576 - 28 = 548 (IPv4), 1280 - 48 = 1232 (IPv6).
        let cap = if is_v6 { 1232 } else { 548 };
        for len in [0usize, 10, 600, 1400] {
            let orig = frame(
                MAC_GW,
                MAC_DIR,
                L4::Udp,
                (c, 40000),
                (v, 53),
                1,
                &vec![3; len],
            );
            let ipb = &orig[14..];
            let want = want_error(me, c, kind, &ipb[..ipb.len().min(cap)]);
            let mut out = [0u8; 1600];
            let n = icmp_error(&orig, kind, me, 77, &mut out).unwrap();
            assert_frame(
                &format!("icmp-err-{is_v6}-{kind:?}-{len}"),
                &orig,
                &out[..n],
                &want,
            );
            assert!(n - 14 <= if is_v6 { 1280 } else { 576 });
            // Too small an output buffer.
            assert_eq!(
                icmp_error(&orig, kind, me, 77, &mut out[..n - 1]),
                Err(RewriteError::NoRoom)
            );
        }
    }
}

#[test]
fn icmp_error_suppressed() {
    let me = ip("192.0.2.1");
    let te = IcmpErrorKind::TimeExceeded;
    let mut out = [0u8; 1600];
    let c = (ip("198.51.100.7"), 1);
    // To a multicast group, and from the unspecified address.
    let m = frame(MAC_GW, MAC_DIR, L4::Udp, c, (ip("224.0.0.5"), 1), 1, b"x");
    assert_eq!(
        icmp_error(&m, te, me, 0, &mut out),
        Err(RewriteError::IcmpSuppressed)
    );
    let u = frame(
        MAC_GW,
        MAC_DIR,
        L4::Udp,
        (ip("0.0.0.0"), 1),
        (me, 1),
        1,
        b"x",
    );
    assert_eq!(
        icmp_error(&u, te, me, 0, &mut out),
        Err(RewriteError::IcmpSuppressed)
    );
    // Link-layer broadcast.
    let b = frame(MAC_GW, [0xff; 6], L4::Udp, c, (me, 1), 1, b"x");
    assert_eq!(
        icmp_error(&b, te, me, 0, &mut out),
        Err(RewriteError::IcmpSuppressed)
    );
    // About an ICMP error.
    let mut e = Vec::new();
    PacketBuilder::ethernet2(MAC_GW, MAC_DIR)
        .ipv4(v4(c.0), v4(me), 1)
        .icmpv4(etherparse::Icmpv4Type::TimeExceeded(
            icmpv4::TimeExceededCode::TtlExceededInTransit,
        ))
        .write(&mut e, &[0x45; 28])
        .unwrap();
    assert_eq!(
        icmp_error(&e, te, me, 0, &mut out),
        Err(RewriteError::IcmpSuppressed)
    );
    // Wrong kind for the family.
    let ok = frame(MAC_GW, MAC_DIR, L4::Udp, c, (me, 1), 1, b"x");
    let ptb = IcmpErrorKind::PacketTooBig { mtu: 1280 };
    assert_eq!(
        icmp_error(&ok, ptb, me, 0, &mut out),
        Err(RewriteError::AddressFamily)
    );
}

#[test]
fn arp_golden() {
    let me = Ipv4Addr::new(192, 0, 2, 110);
    let them = Ipv4Addr::new(192, 0, 2, 1);
    let mut out = [0u8; 64];
    let n = arp_reply(&mut out, MacAddr(MAC_DIR), me, MacAddr(MAC_GW), them).unwrap();
    let mut want = Vec::new();
    let pkt = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REPLY,
        &MAC_DIR,
        &me.octets(),
        &MAC_GW,
        &them.octets(),
    )
    .unwrap();
    PacketBuilder::ethernet2(MAC_DIR, MAC_GW)
        .arp(pkt)
        .write(&mut want)
        .unwrap();
    assert_frame("arp-reply", &[], &out[..n], &want);

    let n = gratuitous_arp(&mut out, MacAddr(MAC_DIR), me).unwrap();
    let mut want = Vec::new();
    let pkt = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &MAC_DIR,
        &me.octets(),
        &[0; 6],
        &me.octets(),
    )
    .unwrap();
    PacketBuilder::ethernet2(MAC_DIR, [0xff; 6])
        .arp(pkt)
        .write(&mut want)
        .unwrap();
    assert_frame("garp", &[], &out[..n], &want);
    assert_eq!(
        gratuitous_arp(&mut out[..41], MacAddr(MAC_DIR), me),
        Err(RewriteError::NoRoom)
    );
}

#[test]
fn neighbor_advert_golden() {
    let me: Ipv6Addr = "fe80::2".parse().unwrap();
    let vip: Ipv6Addr = "2001:db8::110".parse().unwrap();
    let them: Ipv6Addr = "fe80::1".parse().unwrap();
    let build = |dst_mac: [u8; 6], dst: Ipv6Addr, r: bool, s: bool, o: bool| {
        let mut payload = vip.octets().to_vec();
        payload.extend_from_slice(&[2, 1]);
        payload.extend_from_slice(&MAC_DIR);
        let h = Ipv6Header {
            hop_limit: 255,
            source: me.octets(),
            destination: dst.octets(),
            ..Default::default()
        };
        let na = icmpv6::NeighborAdvertisementHeader {
            router: r,
            solicited: s,
            r#override: o,
        };
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MAC_DIR, dst_mac)
            .ip(IpHeaders::Ipv6(h, Default::default()))
            .icmpv6(etherparse::Icmpv6Type::NeighborAdvertisement(na))
            .write(&mut out, &payload)
            .unwrap();
        out
    };
    let mut out = [0u8; 128];
    for (r, s, o) in [
        (false, true, true),
        (true, true, false),
        (false, false, false),
    ] {
        let flags = NaFlags {
            router: r,
            solicited: s,
            override_entry: o,
        };
        let n = neighbor_advert(
            &mut out,
            MacAddr(MAC_DIR),
            me,
            MacAddr(MAC_GW),
            them,
            vip,
            flags,
        )
        .unwrap();
        assert_frame(
            &format!("na-{r}-{s}-{o}"),
            &[],
            &out[..n],
            &build(MAC_GW, them, r, s, o),
        );
    }
    let n = unsolicited_na(&mut out, MacAddr(MAC_DIR), me, vip).unwrap();
    let all = "ff02::1".parse().unwrap();
    assert_frame(
        "na-unsolicited",
        &[],
        &out[..n],
        &build([0x33, 0x33, 0, 0, 0, 1], all, false, false, true),
    );
    let _ = v6;
}
