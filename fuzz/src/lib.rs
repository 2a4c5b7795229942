//! Checks shared by the cargo-fuzz targets of `lvs_core::wire`.
//!
//! One `check_*` function per target (`fuzz_targets/*.rs` are one-line wrappers). Each feeds
//! arbitrary bytes to a parser and asserts the module contracts: `new_checked` either fails or
//! yields a view whose every accessor runs without panicking, fields agree with each other,
//! `fill_checksum` makes `verify_checksum` true, reprs round-trip, and the flow extractor agrees
//! with the views. Build and run from the workspace root:
//!
//! ```text
//! cargo fuzz build -s none
//! cargo fuzz run -s none flow -- -max_total_time=10
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod ha;
pub use ha::{check_sync, check_vrrp};

use lvs_core::wire::dump::{IpSummary, Summary};
use lvs_core::wire::flow::{self, Fragment, FrameInfo};
use lvs_core::wire::{
    ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv6Packet, IpProtocol,
    IpVersion, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket, UdpPacket,
};

/// Some addresses for pseudo-header checksums.
const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));

/// Ethernet view, and the repr round trip of its header.
pub fn check_ethernet(data: &[u8]) {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let repr = EthernetRepr::parse(&frame);
    assert_eq!(frame.header_len() + frame.payload().len(), data.len());
    assert_eq!(frame.vlan_id().is_some(), frame.header_len() == 18);
    let mut out = [0u8; 18];
    let len = repr
        .emit(&mut out)
        .expect("18 bytes hold any Ethernet header");
    let again = EthernetFrame::new_checked(&out[..len]).expect("emitted header parses");
    assert_eq!(EthernetRepr::parse(&again), repr);
    let mut copy = data.to_vec();
    let mut frame = EthernetFrame::new_checked(&mut copy[..]).expect("same bytes");
    frame.set_vlan_id(4095);
    frame.set_ethertype(repr.ethertype);
    let _ = frame.payload_mut();
}

/// ARP view and repr round trip.
pub fn check_arp(data: &[u8]) {
    let Ok(packet) = ArpPacket::new_checked(data) else {
        return;
    };
    let repr = ArpRepr::parse(&packet);
    let _ = packet.is_gratuitous();
    let mut out = [0u8; 28];
    repr.emit(&mut out).expect("28 bytes");
    assert_eq!(&out[..], &data[..28]);
}

/// IPv4 view: lengths, checksum fill/verify, and the repr of an option-less header.
pub fn check_ipv4(data: &[u8]) {
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    assert!(packet.header_len() >= 20 && packet.header_len() <= usize::from(packet.total_len()));
    assert_eq!(packet.payload().len(), packet.payload_len());
    assert_eq!(packet.options().len(), packet.header_len() - 20);
    let _ = (
        packet.dscp(),
        packet.ecn(),
        packet.ident(),
        packet.frag_offset(),
        packet.is_fragment(),
    );
    let _ = (
        packet.src_addr(),
        packet.dst_addr(),
        packet.next_header(),
        packet.hop_limit(),
    );
    let repr = Ipv4Repr::parse(&packet);
    let mut out = [0u8; 20];
    repr.emit(&mut out).expect("the total length already fit");
    let emitted = Ipv4Packet::new_unchecked(&out[..]);
    assert!(emitted.verify_checksum());
    assert_eq!(Ipv4Repr::parse(&emitted).src_addr, repr.src_addr);
    let mut copy = data.to_vec();
    let mut packet = Ipv4Packet::new_checked(&mut copy[..]).expect("same bytes");
    packet.fill_checksum();
    assert!(packet.verify_checksum());
    packet.decrement_hop_limit();
    assert!(
        packet.verify_checksum(),
        "decrement_hop_limit keeps the checksum valid"
    );
    let _ = packet.payload_mut();
}

/// IPv6 view, extension-header walk and repr round trip.
pub fn check_ipv6(data: &[u8]) {
    let Ok(packet) = Ipv6Packet::new_checked(data) else {
        return;
    };
    assert_eq!(packet.payload().len(), usize::from(packet.payload_len()));
    let _ = (
        packet.traffic_class(),
        packet.flow_label(),
        packet.src_addr(),
        packet.dst_addr(),
    );
    if let Ok(upper) = packet.upper_layer() {
        assert!(upper.offset >= 40 && upper.offset <= packet.total_len());
    }
    let repr = Ipv6Repr::parse(&packet);
    let mut out = [0u8; 40];
    repr.emit(&mut out).expect("40 bytes");
    assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&out[..])), repr);
}

/// TCP view, options iteration and checksum fill/verify over both families.
pub fn check_tcp(data: &[u8]) {
    let Ok(segment) = TcpPacket::new_checked(data) else {
        return;
    };
    assert_eq!(segment.header_len() + segment.payload().len(), data.len());
    let _ = (
        segment.src_port(),
        segment.dst_port(),
        segment.seq_number(),
        segment.ack_number(),
    );
    let _ = (
        segment.flags().to_string(),
        segment.window_len(),
        segment.urgent_at(),
        segment.mss(),
    );
    let mut options = segment.options_iter();
    let mut last = 0;
    while let Some(option) = options.next() {
        assert!(options.offset() > last || options.offset() == segment.options().len());
        last = options.offset();
        if option.is_err() {
            assert!(
                options.next().is_none(),
                "the iterator stops after an error"
            );
            break;
        }
    }
    let mut copy = data.to_vec();
    let mut segment = TcpPacket::new_checked(&mut copy[..]).expect("same bytes");
    for addr in [V4, V6] {
        segment.fill_checksum(&addr, &addr);
        assert!(segment.verify_checksum(&addr, &addr));
    }
}

/// UDP view and checksum rules (zero over IPv4, never zero over IPv6).
pub fn check_udp(data: &[u8]) {
    let Ok(datagram) = UdpPacket::new_checked(data) else {
        return;
    };
    assert_eq!(datagram.payload().len(), datagram.payload_len());
    let _ = (
        datagram.src_port(),
        datagram.dst_port(),
        datagram.is_empty(),
    );
    let mut copy = data.to_vec();
    let mut datagram = UdpPacket::new_checked(&mut copy[..]).expect("same bytes");
    for addr in [V4, V6] {
        datagram.fill_checksum(&addr, &addr);
        assert_ne!(datagram.checksum(), 0);
        assert!(datagram.verify_checksum(&addr, &addr));
    }
}

/// ICMPv4 and ICMPv6 views over the same bytes.
pub fn check_icmp(data: &[u8]) {
    if let Ok(message) = Icmpv4Packet::new_checked(data) {
        let t = message.msg_type();
        assert!(!t.is_lvs_related() || t.is_error());
        let _ = (
            message.msg_code(),
            message.echo_ident(),
            message.echo_seq_no(),
            message.next_hop_mtu(),
        );
        let mut copy = data.to_vec();
        let mut message = Icmpv4Packet::new_checked(&mut copy[..]).expect("same bytes");
        message.fill_checksum();
        assert!(message.verify_checksum());
    }
    if let Ok(message) = Icmpv6Packet::new_checked(data) {
        let t = message.msg_type();
        assert!(!t.is_lvs_related() || t.is_error());
        let _ = (
            message.mtu(),
            message.neighbor_flags(),
            message.target_addr(),
            message.link_layer_addr(),
        );
        let mut copy = data.to_vec();
        let mut message = Icmpv6Packet::new_checked(&mut copy[..]).expect("same bytes");
        message.fill_checksum(&V6, &V6);
        assert!(message.verify_checksum(&V6, &V6));
    }
}

/// Flow extraction from a frame and from a bare packet, checked against the views.
pub fn check_flow(data: &[u8]) {
    if let Ok(info) = flow::extract(data) {
        check_frame_info(data, &info);
        // Without the link header, the same packet gives the same key.
        let bare = flow::extract_ip(&data[info.l3_offset..])
            .expect("the IP packet parsed inside the frame");
        assert_eq!(bare.flow, info.flow);
        assert_eq!(bare.l4_offset + info.l3_offset, info.l4_offset);
    }
    if let Ok(info) = flow::extract_ip(data) {
        check_frame_info(data, &info);
    }
}

fn check_frame_info(data: &[u8], info: &FrameInfo) {
    assert!(
        info.l3_offset <= info.l4_offset
            && info.l4_offset <= info.l4_end
            && info.l4_end <= data.len()
    );
    let ip = &data[info.l3_offset..];
    let (src, dst) = match info.ip_version {
        IpVersion::Ipv4 => {
            let p = Ipv4Packet::new_checked(ip).expect("flow promises a valid IPv4 view");
            assert_eq!(info.l3_offset + usize::from(p.total_len()), info.l4_end);
            (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()))
        }
        IpVersion::Ipv6 => {
            let p = Ipv6Packet::new_checked(ip).expect("flow promises a valid IPv6 view");
            assert_eq!(info.l3_offset + p.total_len(), info.l4_end);
            (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()))
        }
    };
    assert_eq!((info.flow.src_addr, info.flow.dst_addr), (src, dst));
    if info.fragment == Fragment::NonFirst {
        assert_eq!((info.flow.src_port, info.flow.dst_port), (0, 0));
        assert!(info.icmp.is_none());
        return;
    }
    let l4 = &data[info.l4_offset..info.l4_end];
    let whole = info.fragment == Fragment::None;
    match info.flow.proto {
        IpProtocol::Tcp if whole => {
            let t = TcpPacket::new_checked(l4).expect("flow promises a valid TCP view");
            assert_eq!(
                (t.src_port(), t.dst_port()),
                (info.flow.src_port, info.flow.dst_port)
            );
        }
        IpProtocol::Udp if whole => {
            let u = UdpPacket::new_checked(l4).expect("flow promises a valid UDP view");
            assert_eq!(
                (u.src_port(), u.dst_port()),
                (info.flow.src_port, info.flow.dst_port)
            );
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            if let Some(icmp) = info.icmp {
                assert!(l4.len() >= 8);
                assert_eq!((icmp.msg_type, icmp.msg_code), (l4[0], l4[1]));
                if let Some(q) = icmp.quoted {
                    assert!(icmp.related && whole);
                    assert_eq!(q.l3_offset, info.l4_offset + 8);
                    assert!(q.l4_offset + 8 <= info.l4_end);
                    assert_eq!(q.ip_version, info.ip_version);
                }
            }
        }
        IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Sctp => {
            assert!(l4.len() >= 8);
            let ports = (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            );
            assert_eq!(ports, (info.flow.src_port, info.flow.dst_port));
        }
        _ => assert_eq!((info.flow.src_port, info.flow.dst_port), (0, 0)),
    }
}

/// The one-line summaries never panic and stay on one line.
pub fn check_dump(data: &[u8]) {
    for line in [Summary(data).to_string(), IpSummary(data).to_string()] {
        assert!(!line.is_empty());
        assert!(!line.contains('\n'));
    }
}
