//! The wire views checked against etherparse, an independent parser and builder.
//!
//! Frames are built with `etherparse::PacketBuilder` (which also computes every checksum), read
//! with both etherparse and `lvs_core::wire`, and the fields compared. Every prefix of every
//! frame must give `Err` or a consistent view, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    IcmpEchoHeader, IpFragOffset, IpHeaders, IpNumber, Ipv4Header, Ipv6Extensions,
    Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader, NetHeaders, PacketBuilder, PacketHeaders,
    TcpOptionElement, TransportHeader,
};
use lvs_core::wire::dump::{IpSummary, Summary};
use lvs_core::wire::flow::{self, Fragment};
use lvs_core::wire::{
    ArpOperation, ArpPacket, EtherType, EthernetFrame, Icmpv4Packet, Icmpv4Type, Icmpv6Packet,
    Icmpv6Type, IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet, MacAddr, TcpPacket, UdpPacket,
    checksum,
};

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DIRECTOR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CIP: [u8; 4] = [203, 0, 113, 7];
const VIP: [u8; 4] = [192, 0, 2, 10];
const CIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
const VIP6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn build(builder: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    builder(&mut out);
    out
}

fn tcp4_syn() -> Vec<u8> {
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ipv4(CIP, VIP, 64)
            .tcp(40000, 80, 1000, 64240)
            .syn()
            .options(&[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::Timestamp(1, 0),
            ])
            .unwrap()
            .write_to_vec(out, &[])
            .unwrap();
    })
}

fn tcp4_data() -> Vec<u8> {
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ipv4(CIP, VIP, 64)
            .tcp(40000, 80, 1001, 502)
            .ack(7001)
            .psh()
            .write_to_vec(out, b"GET / HTTP/1.0\r\n\r\n")
            .unwrap();
    })
}

fn udp4_vlan() -> Vec<u8> {
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .single_vlan(100.try_into().unwrap())
            .ipv4(CIP, VIP, 17)
            .udp(40000, 53)
            .write_to_vec(out, b"odd")
            .unwrap();
    })
}

fn tcp6() -> Vec<u8> {
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ipv6(CIP6, VIP6, 64)
            .tcp(40000, 443, 0xfffffff0, 65535)
            .syn()
            .ack(5)
            .write_to_vec(out, b"hello")
            .unwrap();
    })
}

/// IPv6 + hop-by-hop + destination options + fragment (offset 0, more) + UDP.
fn udp6_exts() -> Vec<u8> {
    build(|out| {
        let exts = Ipv6Extensions {
            hop_by_hop_options: Some(
                Ipv6RawExtHeader::new_raw(IpNumber::UDP, &[1, 4, 0, 0, 0, 0]).unwrap(),
            ),
            destination_options: Some(
                Ipv6RawExtHeader::new_raw(
                    IpNumber::UDP,
                    &[1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                )
                .unwrap(),
            ),
            routing: None,
            fragment: Some(Ipv6FragmentHeader::new(
                IpNumber::UDP,
                IpFragOffset::ZERO,
                true,
                0xabcd,
            )),
            auth: None,
        };
        let header = Ipv6Header {
            source: CIP6,
            destination: VIP6,
            hop_limit: 9,
            ..Default::default()
        };
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ip(IpHeaders::Ipv6(header, exts))
            .udp(5353, 53)
            .write_to_vec(out, b"0123456789abcdef")
            .unwrap();
    })
}

fn icmp4_echo() -> Vec<u8> {
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ipv4(CIP, VIP, 64)
            .icmpv4_echo_request(0x1234, 1)
            .write_to_vec(out, b"ping")
            .unwrap();
    })
}

/// Fragmentation needed from a router on the path back, quoting the director's reply
/// (VIP:80 > CIP:40000) cut after 8 bytes of TCP.
fn icmp4_frag_needed() -> Vec<u8> {
    let reply = build(|out| {
        PacketBuilder::ipv4(VIP, CIP, 63)
            .tcp(80, 40000, 7000, 1000)
            .ack(1001)
            .write_to_vec(out, &[0; 1400])
            .unwrap();
    });
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ipv4([198, 51, 100, 1], VIP, 250)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: 1480,
                },
            ))
            .write_to_vec(out, &reply[..28])
            .unwrap();
    })
}

fn icmp6_echo() -> Vec<u8> {
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ipv6(CIP6, VIP6, 64)
            .icmpv6_echo_request(77, 3)
            .write_to_vec(out, b"ping6")
            .unwrap();
    })
}

/// Packet too big quoting the whole start of a client's TCP/IPv6 packet.
fn icmp6_too_big() -> Vec<u8> {
    let quoted = build(|out| {
        PacketBuilder::ipv6(CIP6, VIP6, 64)
            .tcp(40000, 443, 1, 100)
            .write_to_vec(out, &[0; 64])
            .unwrap();
    });
    build(|out| {
        PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
            .ipv6(
                [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                CIP6,
                64,
            )
            .icmpv6(etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 })
            .write_to_vec(out, &quoted)
            .unwrap();
    })
}

fn arp_request() -> Vec<u8> {
    build(|out| {
        let arp = etherparse::ArpEthIpv4Packet {
            operation: etherparse::ArpOperation::REQUEST,
            sender_mac: CLIENT_MAC,
            sender_ipv4: [192, 0, 2, 1],
            target_mac: [0; 6],
            target_ipv4: VIP,
        };
        PacketBuilder::ethernet2(CLIENT_MAC, [0xff; 6])
            .arp(arp.into())
            .write_to_vec(out)
            .unwrap();
    })
}

/// The TCP SYN in an IPIP tunnel from the director (10.0.0.1) to a real server (10.0.0.2).
fn ipip() -> Vec<u8> {
    let inner = tcp4_syn()[14..].to_vec();
    build(|out| {
        PacketBuilder::ethernet2(DIRECTOR_MAC, CLIENT_MAC)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 63)
            .write_to_vec(out, IpNumber::IPV4, &inner)
            .unwrap();
    })
}

fn all_frames() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("tcp4_syn", tcp4_syn()),
        ("tcp4_data", tcp4_data()),
        ("udp4_vlan", udp4_vlan()),
        ("tcp6", tcp6()),
        ("udp6_exts", udp6_exts()),
        ("icmp4_echo", icmp4_echo()),
        ("icmp4_frag_needed", icmp4_frag_needed()),
        ("icmp6_echo", icmp6_echo()),
        ("icmp6_too_big", icmp6_too_big()),
        ("arp_request", arp_request()),
        ("ipip", ipip()),
    ]
}

/// Compares the views with etherparse's headers for one frame; returns the L3 payload slice
/// bounds our views computed.
fn compare_with_etherparse(name: &str, frame: &[u8]) {
    let oracle = PacketHeaders::from_ethernet_slice(frame).unwrap();
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let link = match oracle.link.as_ref().unwrap() {
        etherparse::LinkHeader::Ethernet2(e) => e.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(eth.src_addr(), MacAddr(link.source), "{name}");
    assert_eq!(eth.dst_addr(), MacAddr(link.destination), "{name}");
    let oracle_vlan = oracle.vlan_ids().first().map(|id| id.value());
    assert_eq!(eth.vlan_id(), oracle_vlan, "{name}");
    let ip_bytes = eth.payload();
    match oracle.net.as_ref().unwrap() {
        NetHeaders::Ipv4(h, _) => {
            assert_eq!(eth.ethertype(), EtherType::Ipv4);
            let ip = Ipv4Packet::new_checked(ip_bytes).unwrap();
            assert_eq!(ip.src_addr(), Ipv4Addr::from(h.source), "{name}");
            assert_eq!(ip.dst_addr(), Ipv4Addr::from(h.destination), "{name}");
            assert_eq!(ip.hop_limit(), h.time_to_live);
            assert_eq!(ip.total_len(), h.total_len);
            assert_eq!(ip.ident(), h.identification);
            assert_eq!(ip.dont_frag(), h.dont_fragment);
            assert_eq!(ip.more_frags(), h.more_fragments);
            assert_eq!(ip.frag_offset(), h.fragment_offset.value() * 8);
            assert_eq!(u8::from(ip.next_header()), h.protocol.0);
            assert_eq!(ip.checksum(), h.header_checksum, "{name}");
            assert_eq!(ip.checksum(), h.calc_header_checksum(), "{name}");
            assert!(ip.verify_checksum());
            assert_eq!(ip.header_len(), h.header_len());
            let mut copy = ip_bytes.to_vec();
            let mut ip_mut = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
            ip_mut.set_checksum(0);
            ip_mut.fill_checksum();
            assert_eq!(ip_mut.checksum(), h.header_checksum);
            let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
            compare_transport(name, oracle.transport.as_ref(), ip.payload(), &src, &dst);
        }
        NetHeaders::Ipv6(h, _) => {
            assert_eq!(eth.ethertype(), EtherType::Ipv6);
            let ip = Ipv6Packet::new_checked(ip_bytes).unwrap();
            assert_eq!(ip.src_addr(), Ipv6Addr::from(h.source), "{name}");
            assert_eq!(ip.dst_addr(), Ipv6Addr::from(h.destination), "{name}");
            assert_eq!(ip.hop_limit(), h.hop_limit);
            assert_eq!(ip.payload_len(), h.payload_length);
            assert_eq!(ip.traffic_class(), h.traffic_class);
            assert_eq!(ip.flow_label(), h.flow_label.value());
            assert_eq!(u8::from(ip.next_header()), h.next_header.0);
            let upper = ip.upper_layer().unwrap();
            let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
            let l4 = &ip_bytes[upper.offset..ip.total_len()];
            compare_transport(name, oracle.transport.as_ref(), l4, &src, &dst);
        }
        NetHeaders::Arp(a) => {
            assert_eq!(eth.ethertype(), EtherType::Arp);
            let p = ArpPacket::new_checked(ip_bytes).unwrap();
            assert_eq!(u16::from(p.operation()), a.operation.0);
            assert_eq!(&p.src_hardware_addr().0[..], a.sender_hw_addr());
            assert_eq!(
                &p.src_protocol_addr().octets()[..],
                a.sender_protocol_addr()
            );
            assert_eq!(
                &p.dst_protocol_addr().octets()[..],
                a.target_protocol_addr()
            );
        }
    }
}

fn compare_transport(
    name: &str,
    oracle: Option<&TransportHeader>,
    l4: &[u8],
    src: &IpAddr,
    dst: &IpAddr,
) {
    match oracle {
        Some(TransportHeader::Tcp(h)) => {
            let t = TcpPacket::new_checked(l4).unwrap();
            assert_eq!(
                (t.src_port(), t.dst_port()),
                (h.source_port, h.destination_port),
                "{name}"
            );
            assert_eq!(t.seq_number(), h.sequence_number);
            assert_eq!(t.ack_number(), h.acknowledgment_number);
            assert_eq!(
                (t.syn(), t.ack(), t.fin(), t.rst(), t.psh(), t.urg()),
                (h.syn, h.ack, h.fin, h.rst, h.psh, h.urg)
            );
            assert_eq!(t.window_len(), h.window_size);
            assert_eq!(t.header_len(), h.header_len());
            assert_eq!(t.options(), h.options.as_slice());
            assert_eq!(t.checksum(), h.checksum, "{name}");
            assert!(t.verify_checksum(src, dst), "{name}");
            let mut copy = l4.to_vec();
            let mut t = TcpPacket::new_checked(&mut copy[..]).unwrap();
            t.set_checksum(0x1234);
            t.fill_checksum(src, dst);
            assert_eq!(t.checksum(), h.checksum, "{name}");
        }
        Some(TransportHeader::Udp(h)) => {
            let u = UdpPacket::new_checked(l4).unwrap();
            assert_eq!(
                (u.src_port(), u.dst_port(), u.len()),
                (h.source_port, h.destination_port, h.length)
            );
            assert_eq!(u.checksum(), h.checksum, "{name}");
            assert!(u.verify_checksum(src, dst), "{name}");
            let mut copy = l4.to_vec();
            let mut u = UdpPacket::new_checked(&mut copy[..]).unwrap();
            u.fill_checksum(src, dst);
            assert_eq!(u.checksum(), h.checksum, "{name}");
        }
        Some(TransportHeader::Icmpv4(h)) => {
            let p = Icmpv4Packet::new_checked(l4).unwrap();
            assert_eq!(p.checksum(), h.checksum, "{name}");
            assert!(p.verify_checksum());
            assert_eq!(&l4[..8], &h.to_bytes()[..]);
            let mut copy = l4.to_vec();
            let mut p = Icmpv4Packet::new_checked(&mut copy[..]).unwrap();
            p.fill_checksum();
            assert_eq!(p.checksum(), h.checksum);
        }
        Some(TransportHeader::Icmpv6(h)) => {
            let p = Icmpv6Packet::new_checked(l4).unwrap();
            assert_eq!(p.checksum(), h.checksum, "{name}");
            assert!(p.verify_checksum(src, dst));
            assert_eq!(&l4[..8], &h.to_bytes()[..]);
            let mut copy = l4.to_vec();
            let mut p = Icmpv6Packet::new_checked(&mut copy[..]).unwrap();
            p.fill_checksum(src, dst);
            assert_eq!(p.checksum(), h.checksum);
        }
        None => {}
        other => panic!("{name}: unexpected {other:?}"),
    }
}

#[test]
fn views_agree_with_etherparse() {
    for (name, frame) in all_frames() {
        compare_with_etherparse(name, &frame);
    }
}

#[test]
fn flow_keys() {
    let v4 = |a: [u8; 4]| IpAddr::from(a);
    let v6 = |a: [u8; 16]| IpAddr::from(a);

    let info = flow::extract(&tcp4_syn()).unwrap();
    assert_eq!(
        (info.l3_offset, info.l4_offset, info.ip_version),
        (14, 34, IpVersion::Ipv4)
    );
    assert_eq!(info.flow.proto, IpProtocol::Tcp);
    assert_eq!((info.flow.src_addr, info.flow.src_port), (v4(CIP), 40000));
    assert_eq!((info.flow.dst_addr, info.flow.dst_port), (v4(VIP), 80));
    assert_eq!(info.fragment, Fragment::None);
    assert_eq!(info.icmp, None);
    assert_eq!(info.hop_limit, 64);

    let frame = udp4_vlan();
    let info = flow::extract(&frame).unwrap();
    assert_eq!(
        (info.vlan_id, info.l3_offset, info.l4_offset),
        (Some(100), 18, 38)
    );
    assert_eq!(info.l4_end, frame.len());
    assert_eq!(
        (info.flow.proto, info.flow.src_port, info.flow.dst_port),
        (IpProtocol::Udp, 40000, 53)
    );

    let info = flow::extract(&tcp6()).unwrap();
    assert_eq!(
        (info.l3_offset, info.l4_offset, info.ip_version),
        (14, 54, IpVersion::Ipv6)
    );
    assert_eq!(
        (info.flow.src_addr, info.flow.dst_addr),
        (v6(CIP6), v6(VIP6))
    );
    assert_eq!((info.flow.src_port, info.flow.dst_port), (40000, 443));

    // hop-by-hop (8) + destination options (16) + fragment (8) after the fixed header.
    let info = flow::extract(&udp6_exts()).unwrap();
    assert_eq!(info.l4_offset, 14 + 40 + 8 + 16 + 8);
    assert_eq!(info.fragment, Fragment::First);
    assert_eq!(
        (info.flow.proto, info.flow.src_port, info.flow.dst_port),
        (IpProtocol::Udp, 5353, 53)
    );

    let info = flow::extract(&icmp4_echo()).unwrap();
    assert_eq!(
        (info.flow.proto, info.flow.src_port, info.flow.dst_port),
        (IpProtocol::Icmp, 0x1234, 0x1234)
    );
    let icmp = info.icmp.unwrap();
    assert_eq!((icmp.msg_type, icmp.related, icmp.quoted), (8, false, None));

    let info = flow::extract(&icmp6_echo()).unwrap();
    assert_eq!(
        (info.flow.proto, info.flow.src_port),
        (IpProtocol::Icmpv6, 77)
    );

    let info = flow::extract(&icmp4_frag_needed()).unwrap();
    assert_eq!((info.flow.src_port, info.flow.dst_port), (0, 0));
    let icmp = info.icmp.unwrap();
    assert_eq!((icmp.msg_type, icmp.msg_code, icmp.related), (3, 4, true));
    let quoted = icmp.quoted.unwrap();
    assert_eq!(
        (quoted.l3_offset, quoted.l4_offset),
        (14 + 20 + 8, 14 + 20 + 8 + 20)
    );
    assert_eq!((quoted.flow.src_addr, quoted.flow.src_port), (v4(VIP), 80));
    assert_eq!(
        (quoted.flow.dst_addr, quoted.flow.dst_port),
        (v4(CIP), 40000)
    );

    let info = flow::extract(&icmp6_too_big()).unwrap();
    let quoted = info.icmp.unwrap().quoted.unwrap();
    assert_eq!(quoted.l4_offset, 14 + 40 + 8 + 40);
    assert_eq!(
        (
            quoted.flow.src_addr,
            quoted.flow.src_port,
            quoted.flow.dst_port
        ),
        (v6(CIP6), 40000, 443)
    );

    assert_eq!(
        flow::extract(&arp_request()),
        Err(lvs_core::wire::WireError::NotIp)
    );

    let info = flow::extract(&ipip()).unwrap();
    assert_eq!((info.flow.proto, info.flow.src_port), (IpProtocol::Ipip, 0));

    // A bare IP packet (TUN) gives the same key, offsets shifted by the Ethernet header.
    let frame = tcp6();
    let bare = flow::extract_ip(&frame[14..]).unwrap();
    let full = flow::extract(&frame).unwrap();
    assert_eq!(bare.flow, full.flow);
    assert_eq!(bare.l4_offset + 14, full.l4_offset);
}

#[test]
fn non_first_fragment_has_no_ports() {
    let mut frame = tcp4_data();
    // Offset 185 * 8 bytes, then fix the IPv4 checksum (not that flow checks it).
    frame[14 + 6..14 + 8].copy_from_slice(&185u16.to_be_bytes());
    let info = flow::extract(&frame).unwrap();
    assert_eq!(info.fragment, Fragment::NonFirst);
    assert_eq!((info.flow.src_port, info.flow.dst_port), (0, 0));
    assert_eq!(info.flow.proto, IpProtocol::Tcp);
}

#[test]
fn summaries() {
    let cases = [
        (
            tcp4_syn(),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 203.0.113.7.40000 > 192.0.2.10.80: Flags [S], seq 1000, win 64240, options [mss 1460,nop,wscale 7,sackOK,TS val 1 ecr 0], length 0",
        ),
        (
            tcp4_data(),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 203.0.113.7.40000 > 192.0.2.10.80: Flags [P.], seq 1001:1019, ack 7001, win 502, length 18",
        ),
        (
            udp4_vlan(),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, vlan 100, IPv4 203.0.113.7.40000 > 192.0.2.10.53: UDP, length 3",
        ),
        (
            icmp4_echo(),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 203.0.113.7 > 192.0.2.10: ICMP echo request, id 4660, seq 1, length 12",
        ),
        (
            icmp4_frag_needed(),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 198.51.100.1 > 192.0.2.10: ICMP 203.0.113.7 unreachable - need to frag (mtu 1480), length 36",
        ),
        (
            arp_request(),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 192.0.2.10 tell 192.0.2.1, length 28",
        ),
        (
            ipip(),
            "02:00:00:00:00:02 > 02:00:00:00:00:01, IPv4 10.0.0.1 > 10.0.0.2: IP 203.0.113.7.40000 > 192.0.2.10.80: Flags [S], seq 1000, win 64240, options [mss 1460,nop,wscale 7,sackOK,TS val 1 ecr 0], length 0",
        ),
        (
            icmp6_too_big(),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv6 2001:db8:1::1 > 2001:db8::7: ICMP6, packet too big, mtu 1280, length 132",
        ),
        (
            icmp6_echo(),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, IPv6 2001:db8::7 > 2001:db8::10: ICMP6, echo request, id 77, seq 3, length 13",
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(Summary(&frame).to_string(), expected);
    }
    let frame = tcp6();
    assert_eq!(
        IpSummary(&frame[14..]).to_string(),
        "IP6 2001:db8::7.40000 > 2001:db8::10.443: Flags [S.], seq 4294967280:4294967285, ack 5, win 65535, length 5"
    );
}

/// Every prefix of every frame: the views and the extractor return `Err` or something
/// consistent with the full frame, and nothing panics.
#[test]
fn every_prefix_never_panics() {
    for (name, frame) in all_frames() {
        let full = flow::extract(&frame);
        for len in 0..=frame.len() {
            let prefix = &frame[..len];
            let _ = Summary(prefix).to_string();
            let _ = IpSummary(prefix.get(14..).unwrap_or_default()).to_string();
            match flow::extract(prefix) {
                Ok(info) => {
                    // A prefix can only parse if it still holds the whole IP packet.
                    assert_eq!(Ok(info), full, "{name} at {len}");
                    assert!(info.l4_end <= len);
                }
                Err(_) => assert!(len < frame.len() || full.is_err(), "{name} at {len}"),
            }
            if let Ok(eth) = EthernetFrame::new_checked(prefix) {
                let p = eth.payload();
                if let Ok(ip) = Ipv4Packet::new_checked(p) {
                    let _ = (ip.payload(), ip.options(), ip.verify_checksum());
                }
                if let Ok(ip) = Ipv6Packet::new_checked(p) {
                    let _ = (ip.payload(), ip.upper_layer());
                }
                if let Ok(arp) = ArpPacket::new_checked(p) {
                    assert_eq!(arp.operation(), ArpOperation::Request);
                }
            }
        }
    }
}

#[test]
fn icmp_types_match_etherparse_numbers() {
    assert_eq!(
        u8::from(Icmpv4Type::DstUnreachable),
        etherparse::icmpv4::TYPE_DEST_UNREACH
    );
    assert_eq!(
        u8::from(Icmpv4Type::TimeExceeded),
        etherparse::icmpv4::TYPE_TIME_EXCEEDED
    );
    assert_eq!(
        u8::from(Icmpv4Type::EchoRequest),
        etherparse::icmpv4::TYPE_ECHO_REQUEST
    );
    assert_eq!(
        u8::from(Icmpv6Type::PacketTooBig),
        etherparse::icmpv6::TYPE_PACKET_TOO_BIG
    );
    assert_eq!(
        u8::from(Icmpv6Type::NeighborAdvert),
        etherparse::icmpv6::TYPE_NEIGHBOR_ADVERTISEMENT
    );
    assert_eq!(u8::from(IpProtocol::Sctp), IpNumber::SCTP.0);
    assert_eq!(
        u8::from(IpProtocol::Ipv6Frag),
        IpNumber::IPV6_FRAGMENTATION_HEADER.0
    );
    let _ = (IcmpEchoHeader { id: 0, seq: 0 }, Ipv4Header::default());
}

#[test]
fn pseudo_header_checksums_match_etherparse() {
    let payload = b"some payload bytes, odd length!";
    let udp = etherparse::UdpHeader {
        source_port: 1,
        destination_port: 2,
        length: 8 + payload.len() as u16,
        checksum: 0,
    };
    let expected = udp.calc_checksum_ipv4_raw(CIP, VIP, payload).unwrap();
    let mut bytes = udp.to_bytes().to_vec();
    bytes.extend_from_slice(payload);
    let mut u = UdpPacket::new_checked(&mut bytes[..]).unwrap();
    u.fill_checksum(&IpAddr::from(CIP), &IpAddr::from(VIP));
    assert_eq!(u.checksum(), expected);
    let expected6 = udp.calc_checksum_ipv6_raw(CIP6, VIP6, payload).unwrap();
    u.fill_checksum(&IpAddr::from(CIP6), &IpAddr::from(VIP6));
    assert_eq!(u.checksum(), expected6);
    // The same through the raw checksum functions.
    let sum = checksum::combine(&[
        checksum::pseudo_header_v6(
            &CIP6.into(),
            &VIP6.into(),
            IpProtocol::Udp,
            bytes.len() as u32,
        ),
        checksum::data(&{
            let mut b = bytes.clone();
            b[6] = 0;
            b[7] = 0;
            b
        }),
    ]);
    assert_eq!(checksum::finish(sum), expected6);
}

/// Writes the fuzz seed corpus when `LVS_WRITE_FUZZ_CORPUS` names the `fuzz/corpus` directory
/// (`LVS_WRITE_FUZZ_CORPUS=$PWD/fuzz/corpus cargo test -p lvs-core --test wire_etherparse
/// fuzz_corpus`); otherwise only checks that every seed slices cleanly.
#[test]
fn fuzz_corpus() {
    let dir = std::env::var_os("LVS_WRITE_FUZZ_CORPUS").map(std::path::PathBuf::from);
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();
    for (name, frame) in all_frames() {
        for target in ["ethernet", "flow", "dump"] {
            seeds.push((target, name.to_string(), frame.clone()));
        }
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        let l3 = eth.header_len();
        match eth.ethertype() {
            EtherType::Arp => seeds.push(("arp", name.to_string(), frame[l3..].to_vec())),
            EtherType::Ipv4 => seeds.push(("ipv4", name.to_string(), frame[l3..].to_vec())),
            EtherType::Ipv6 => seeds.push(("ipv6", name.to_string(), frame[l3..].to_vec())),
            _ => {}
        }
        if let Ok(info) = flow::extract(&frame) {
            let l4 = frame[info.l4_offset..info.l4_end].to_vec();
            match info.flow.proto {
                IpProtocol::Tcp => seeds.push(("tcp", name.to_string(), l4)),
                IpProtocol::Udp => seeds.push(("udp", name.to_string(), l4)),
                IpProtocol::Icmp | IpProtocol::Icmpv6 => seeds.push(("icmp", name.to_string(), l4)),
                _ => {}
            }
            // Bare IP packets exercise extract_ip in the flow target too.
            seeds.push((
                "flow",
                format!("{name}_bare"),
                frame[info.l3_offset..].to_vec(),
            ));
        }
    }
    assert!(seeds.len() > 40);
    if let Some(dir) = dir {
        for (target, name, bytes) in seeds {
            let target_dir = dir.join(target);
            std::fs::create_dir_all(&target_dir).unwrap();
            std::fs::write(target_dir.join(name), bytes).unwrap();
        }
    }
}
