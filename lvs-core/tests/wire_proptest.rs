//! Property tests of the wire layer: incremental checksums equal full recomputes, and no byte
//! string makes a parser panic or break its contract.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::wire::dump::{IpSummary, Summary};
use lvs_core::wire::flow::{self, Fragment};
use lvs_core::wire::{
    ArpPacket, EthernetFrame, Icmpv4Packet, Icmpv6Packet, IpProtocol, IpVersion, Ipv4Packet,
    Ipv6Packet, TcpPacket, UdpPacket, checksum,
};
use proptest::prelude::*;

/// A checksummed buffer: word 0 is the checksum, word 1 a fixed non-zero word (so the covered
/// data is never all zero, the one case where 0x0000 and 0xffff are both "right"), the rest
/// random.
fn covered(mut data: Vec<u8>) -> Vec<u8> {
    data[0] = 0;
    data[1] = 0;
    data[2] = 0x45;
    let hc = checksum::finish(checksum::data(&data));
    data[..2].copy_from_slice(&hc.to_be_bytes());
    data
}

fn full(data: &[u8]) -> u16 {
    let mut copy = data.to_vec();
    copy[0] = 0;
    copy[1] = 0;
    checksum::finish(checksum::data(&copy))
}

fn hc(data: &[u8]) -> u16 {
    u16::from_be_bytes([data[0], data[1]])
}

proptest! {
    #[test]
    fn incremental_u16_equals_full(data in prop::collection::vec(any::<u8>(), 8..200), at in 2usize..100, new: u16) {
        let mut data = covered(data);
        let at = ((at * 2).min(data.len() - 2)).max(4) & !1;
        prop_assume!(at + 2 <= data.len());
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        let updated = checksum::update_u16(hc(&data), old, new);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(updated, full(&data));
    }

    #[test]
    fn incremental_u32_equals_full(data in prop::collection::vec(any::<u8>(), 8..200), at in 2usize..100, new: u32) {
        let mut data = covered(data);
        let at = ((at * 2).min(data.len() - 4)).max(4) & !1;
        prop_assume!(at + 4 <= data.len());
        let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let updated = checksum::update_u32(hc(&data), old, new);
        data[at..at + 4].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(updated, full(&data));
    }

    #[test]
    fn incremental_bytes_equals_full(data in prop::collection::vec(any::<u8>(), 24..200), at in 2usize..100, new: [u8; 16]) {
        let mut data = covered(data);
        let at = ((at * 2).min(data.len() - 16)).max(4) & !1;
        prop_assume!(at + 16 <= data.len());
        let old: [u8; 16] = data[at..at + 16].try_into().unwrap();
        let updated = checksum::update_bytes(hc(&data), &old, &new);
        data[at..at + 16].copy_from_slice(&new);
        prop_assert_eq!(updated, full(&data));
        // The IPv6-address form agrees.
        let via_addr = checksum::update_addr(updated, &IpAddr::V6(Ipv6Addr::from(new)), &IpAddr::V6(Ipv6Addr::from(old)));
        data[at..at + 16].copy_from_slice(&old);
        prop_assert_eq!(via_addr, full(&data));
    }

    #[test]
    fn incremental_odd_sized_bytes_equals_full(data in prop::collection::vec(any::<u8>(), 24..200), at in 2usize..100, new: [u8; 6]) {
        let mut data = covered(data);
        let at = ((at * 2).min(data.len() - 6)).max(4) & !1;
        prop_assume!(at + 6 <= data.len());
        let old: [u8; 6] = data[at..at + 6].try_into().unwrap();
        let updated = checksum::update_bytes(hc(&data), &old, &new);
        data[at..at + 6].copy_from_slice(&new);
        prop_assert_eq!(updated, full(&data));
    }

    /// What the NAT rewriter does: change the destination address (pseudo-header) and port of
    /// a TCP segment incrementally, then compare with a full fill.
    #[test]
    fn tcp_nat_rewrite_equals_fill(payload in prop::collection::vec(any::<u8>(), 0..100), old_dst: u32, new_dst: u32, new_port: u16) {
        let src = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        let mut seg = vec![0u8; 20];
        seg[..4].copy_from_slice(&[0x9c, 0x40, 0x00, 0x50]);
        seg[12] = 0x50;
        seg.extend_from_slice(&payload);
        let mut t = TcpPacket::new_checked(&mut seg[..]).unwrap();
        t.fill_checksum(&src, &IpAddr::V4(Ipv4Addr::from(old_dst)));
        let mut c = checksum::update_u32(t.checksum(), old_dst, new_dst);
        c = checksum::update_u16(c, t.dst_port(), new_port);
        t.set_dst_port(new_port);
        t.set_checksum(c);
        let new_dst = IpAddr::V4(Ipv4Addr::from(new_dst));
        prop_assert!(t.verify_checksum(&src, &new_dst));
        let incremental = t.checksum();
        t.fill_checksum(&src, &new_dst);
        prop_assert_eq!(incremental, t.checksum());
    }

    #[test]
    fn data_is_split_invariant(data in prop::collection::vec(any::<u8>(), 0..300), cut in 0usize..150) {
        let cut = (cut * 2).min(data.len() & !1);
        let whole = checksum::data(&data);
        let parts = checksum::combine(&[checksum::data(&data[..cut]), checksum::data(&data[cut..])]);
        // Equal as ones'-complement numbers: 0x0000 and 0xffff are the same value.
        prop_assert_eq!(whole % 0xffff, parts % 0xffff);
    }

    #[test]
    fn reference_sum(data in prop::collection::vec(any::<u8>(), 0..300)) {
        // The RFC 1071 reference loop, word by word with end-around carry.
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            sum += u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
            sum = (sum & 0xffff) + (sum >> 16);
        }
        prop_assert_eq!(checksum::data(&data), sum as u16);
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&data);
    }

    /// Random bytes behind a valid-looking Ethernet + IP prefix reach the deeper parsers.
    #[test]
    fn random_ip_frames_never_panic(v6: bool, proto in prop::sample::select(vec![1u8, 4, 6, 17, 41, 43, 44, 47, 58, 60, 0, 51, 132]), rest in prop::collection::vec(any::<u8>(), 0..160)) {
        let mut frame = vec![0u8; 14];
        if v6 {
            frame[12..14].copy_from_slice(&[0x86, 0xdd]);
            let mut ip = vec![0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(rest.len() as u16).to_be_bytes());
            ip[6] = proto;
            frame.extend_from_slice(&ip);
        } else {
            frame[12..14].copy_from_slice(&[0x08, 0x00]);
            let mut ip = vec![0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&(20 + rest.len() as u16).to_be_bytes());
            ip[9] = proto;
            frame.extend_from_slice(&ip);
        }
        frame.extend_from_slice(&rest);
        exercise(&frame);
        exercise(&frame[14..]);
    }
}

/// Every parser over `data`, with every accessor after `new_checked`, and the flow contract.
fn exercise(data: &[u8]) {
    let _ = Summary(data).to_string();
    let _ = IpSummary(data).to_string();
    if let Ok(f) = EthernetFrame::new_checked(data) {
        let _ = (
            f.src_addr(),
            f.dst_addr(),
            f.ethertype(),
            f.vlan_id(),
            f.header_len(),
            f.payload(),
        );
    }
    if let Ok(p) = ArpPacket::new_checked(data) {
        let _ = (
            p.operation(),
            p.src_hardware_addr(),
            p.src_protocol_addr(),
            p.dst_hardware_addr(),
            p.dst_protocol_addr(),
        );
    }
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = (
            p.header_len(),
            p.options(),
            p.payload(),
            p.frag_offset(),
            p.next_header(),
            p.verify_checksum(),
        );
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = (p.payload(), p.flow_label(), p.upper_layer());
    }
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if let Ok(t) = TcpPacket::new_checked(data) {
        let _ = (
            t.flags(),
            t.payload(),
            t.mss(),
            t.options_iter().count(),
            t.verify_checksum(&a, &a),
        );
    }
    if let Ok(u) = UdpPacket::new_checked(data) {
        let _ = (u.payload(), u.verify_checksum(&a, &a));
    }
    if let Ok(i) = Icmpv4Packet::new_checked(data) {
        let _ = (i.msg_type(), i.payload(), i.verify_checksum());
    }
    if let Ok(i) = Icmpv6Packet::new_checked(data) {
        let _ = (
            i.target_addr(),
            i.link_layer_addr(),
            i.verify_checksum(&a, &a),
        );
    }
    for info in [flow::extract(data), flow::extract_ip(data)]
        .into_iter()
        .flatten()
    {
        check_flow_contract(data, &info);
    }
}

/// The promise of `flow`'s module doc: the views over the reported ranges check out.
fn check_flow_contract(data: &[u8], info: &flow::FrameInfo) {
    assert!(
        info.l3_offset <= info.l4_offset
            && info.l4_offset <= info.l4_end
            && info.l4_end <= data.len()
    );
    let ip = &data[info.l3_offset..];
    match info.ip_version {
        IpVersion::Ipv4 => assert!(Ipv4Packet::new_checked(ip).is_ok()),
        IpVersion::Ipv6 => assert!(Ipv6Packet::new_checked(ip).is_ok()),
    }
    if info.fragment != Fragment::None {
        return;
    }
    let l4 = &data[info.l4_offset..info.l4_end];
    match info.flow.proto {
        IpProtocol::Tcp => {
            let t = TcpPacket::new_checked(l4).unwrap();
            assert_eq!(
                (t.src_port(), t.dst_port()),
                (info.flow.src_port, info.flow.dst_port)
            );
        }
        IpProtocol::Udp => {
            let u = UdpPacket::new_checked(l4).unwrap();
            assert_eq!(
                (u.src_port(), u.dst_port()),
                (info.flow.src_port, info.flow.dst_port)
            );
        }
        IpProtocol::Icmp if info.icmp.is_some() => assert!(Icmpv4Packet::new_checked(l4).is_ok()),
        IpProtocol::Icmpv6 if info.icmp.is_some() => assert!(Icmpv6Packet::new_checked(l4).is_ok()),
        _ => {}
    }
    if let Some(q) = info.icmp.and_then(|i| i.quoted) {
        assert!(
            info.l4_offset + 8 == q.l3_offset
                && q.l3_offset < q.l4_offset
                && q.l4_offset + 8 <= info.l4_end
        );
    }
}
