//! Related ICMP errors both ways (NAT), TTL expiry with an originated time-exceeded, ARP and
//! neighbour-solicitation answers for owned VIPs, malformed frames.

mod director_util;

use director_util::*;
use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, SlicedPacket, TransportSlice, icmpv4};
use lvs_core::director::{DirectorConfig, DropReason};
use lvs_core::wire::WireError;

const CIP: &str = "198.51.100.7";
const VIP: &str = "192.0.2.10";
const RIP: &str = "10.0.0.11";

fn nat_udp() -> Sim {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11:5353 -m",
    );
    let q = udp_in((CIP, 40000), (VIP, 53), b"q");
    s.send(&q).frame();
    s
}

fn port_unreachable(
    macs: ([u8; 6], [u8; 6]),
    src: &str,
    dst: &str,
    ttl: u8,
    quote: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    builder(macs, ip(src), ip(dst), ttl)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut out, quote)
        .unwrap();
    out
}

#[test]
fn error_from_the_real_server_side_is_translated_to_the_client() {
    let mut s = nat_udp();
    // The RS got CIP:40000 -> RIP:5353 (TTL 63) and answers port unreachable.
    let seen = udp((MAC_DIR, MAC_RS1), (CIP, 40000), (RIP, 5353), 63, b"q");
    let err = port_unreachable((MAC_RS1, MAC_DIR), RIP, CIP, 64, &seen[14..]);
    let out = s.send(&err);
    // The client must see an error from the VIP quoting what it sent (to VIP:53).
    let quote = udp((MAC_GW, MAC_DIR), (CIP, 40000), (VIP, 53), 63, b"q");
    let want = port_unreachable((MAC_DIR, MAC_DIR), VIP, CIP, 63, &quote[14..]);
    assert_frame("icmp out", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(CIP));
}

#[test]
fn error_from_the_client_side_is_translated_to_the_real_server() {
    let mut s = nat_udp();
    // The client got VIP:53 -> CIP:40000 (our reply) and answers port unreachable.
    let seen = udp((MAC_DIR, MAC_GW), (VIP, 53), (CIP, 40000), 63, b"r");
    let err = port_unreachable((MAC_GW, MAC_DIR), CIP, VIP, 64, &seen[14..]);
    let out = s.send(&err);
    let quote = udp((MAC_DIR, MAC_GW), (RIP, 5353), (CIP, 40000), 63, b"r");
    let want = port_unreachable((MAC_DIR, MAC_RS1), CIP, RIP, 63, &quote[14..]);
    assert_frame("icmp in", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(RIP));
}

#[test]
fn unrelated_icmp_goes_to_the_host() {
    let mut s = nat_udp();
    let mut echo = Vec::new();
    builder((MAC_GW, MAC_DIR), ip(CIP), ip(VIP), 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, b"ping")
        .unwrap();
    assert_eq!(s.send(&echo), Out::Pass);
    // An error quoting an unknown flow too.
    let seen = udp((MAC_DIR, MAC_GW), (VIP, 53), (CIP, 1), 63, b"r");
    let err = port_unreachable((MAC_GW, MAC_DIR), CIP, VIP, 64, &seen[14..]);
    assert_eq!(s.send(&err), Out::Pass);
}

#[test]
fn ttl_expiry_drops_and_queues_time_exceeded() {
    let mut s = nat_udp();
    let q = udp((MAC_GW, MAC_DIR), (CIP, 40001), (VIP, 53), 1, b"q");
    assert_eq!(s.send(&q), Out::Drop(DropReason::TtlExpired));
    let tx = s.transmitted();
    assert_eq!(tx.len(), 1);
    verify::verify_frame(&tx[0]).unwrap();
    let p = SlicedPacket::from_ethernet(&tx[0]).unwrap();
    let Some(NetSlice::Ipv4(h)) = p.net else {
        panic!("v4")
    };
    assert_eq!(h.header().source(), [10, 0, 0, 1]);
    assert_eq!(h.header().destination(), [198, 51, 100, 7]);
    let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
        panic!("icmp")
    };
    assert_eq!(
        icmp.icmp_type(),
        Icmpv4Type::TimeExceeded(icmpv4::TimeExceededCode::TtlExceededInTransit)
    );
    assert_eq!(icmp.payload(), &q[14..]);
    assert_eq!(&tx[0][..6], &MAC_GW);
    assert_eq!(s.d.drop_counters().get(DropReason::TtlExpired), 1);
}

#[test]
fn arp_and_neighbour_solicitation_for_owned_vips_are_answered() {
    let cfg = DirectorConfig {
        vips: vec![ip(VIP), ip("2001:db8::10")],
        ..config()
    };
    let mut s = Sim::new(cfg);
    let cmac = [0x02, 0, 0, 0, 0, 0x77];
    // ARP who-has 192.0.2.10 tell 192.0.2.1.
    let mut req = vec![0xff; 6];
    req.extend_from_slice(&cmac);
    req.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    req.extend_from_slice(&cmac);
    req.extend_from_slice(&[192, 0, 2, 1]);
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&[192, 0, 2, 10]);
    let mut want = cmac.to_vec();
    want.extend_from_slice(&MAC_DIR);
    want.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    want.extend_from_slice(&MAC_DIR);
    want.extend_from_slice(&[192, 0, 2, 10]);
    want.extend_from_slice(&cmac);
    want.extend_from_slice(&[192, 0, 2, 1]);
    assert_eq!(s.send(&req), Out::Reply(want));
    // Another address is the host's.
    let mut other = req.clone();
    other[41] = 11;
    assert_eq!(s.send(&other), Out::Pass);

    // NS for 2001:db8::10 from 2001:db8::1 with a source link-layer option.
    let target: std::net::Ipv6Addr = "2001:db8::10".parse().unwrap();
    let mut ns_body = target.octets().to_vec();
    ns_body.extend_from_slice(&[1, 1]);
    ns_body.extend_from_slice(&cmac);
    let mut ns = Vec::new();
    builder(
        (cmac, [0x33, 0x33, 0xff, 0, 0, 0x10]),
        ip("2001:db8::1"),
        ip("ff02::1:ff00:10"),
        255,
    )
    .icmpv6(Icmpv6Type::Unknown {
        type_u8: 135,
        code_u8: 0,
        bytes5to8: [0; 4],
    })
    .write(&mut ns, &ns_body)
    .unwrap();
    let mut na_body = target.octets().to_vec();
    na_body.extend_from_slice(&[2, 1]);
    na_body.extend_from_slice(&MAC_DIR);
    let mut na = Vec::new();
    builder((MAC_DIR, cmac), ip("2001:db8::10"), ip("2001:db8::1"), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: 136,
            code_u8: 0,
            bytes5to8: [0x60, 0, 0, 0],
        })
        .write(&mut na, &na_body)
        .unwrap();
    match s.send(&ns) {
        Out::Reply(f) => assert_frame("na", &f, &na),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let mut s = nat_udp();
    let q = udp_in((CIP, 40000), (VIP, 53), b"q");
    // Cut inside the UDP header.
    assert_eq!(
        s.send(&q[..38]),
        Out::Drop(DropReason::Malformed(WireError::Truncated))
    );
    let mut bad = q.clone();
    bad[14] = 0x35; // version 3
    assert_eq!(
        s.send(&bad),
        Out::Drop(DropReason::Malformed(WireError::BadVersion))
    );
    let mut bad = q.clone();
    bad[14] = 0x44; // IHL 4
    assert_eq!(
        s.send(&bad),
        Out::Drop(DropReason::Malformed(WireError::BadHeaderLen))
    );
    assert_eq!(
        s.send(&q[..10]),
        Out::Drop(DropReason::Malformed(WireError::Truncated))
    );
    let d = s.d.drop_counters();
    assert_eq!(d.get(DropReason::Malformed(WireError::Truncated)), 2);
    assert_eq!(d.total(), 4);
    let labels: Vec<_> = d.iter().map(|(l, _)| l).collect();
    assert_eq!(
        labels,
        [
            "malformed_truncated",
            "malformed_bad_version",
            "malformed_bad_header_len"
        ]
    );
}
