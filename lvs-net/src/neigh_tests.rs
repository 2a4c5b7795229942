use super::*;

const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn miss_retries_then_fails_in_virtual_time() {
    let mut c = NeighbourCache::new();
    let t0 = Instant::from_secs(100);
    let rs = ip("192.0.2.10");
    assert_eq!(c.lookup(t0, rs), Lookup::Miss { request: true });
    assert_eq!(c.lookup(t0, rs), Lookup::Miss { request: false });
    assert_eq!(c.poll_timeout(), Some(t0 + RETRANS_TIME));
    let mut due = Vec::new();
    c.poll_requests(t0 + Duration::from_millis(500), &mut due);
    assert!(due.is_empty());
    c.poll_requests(t0 + RETRANS_TIME, &mut due);
    assert_eq!(due, vec![rs]);
    due.clear();
    c.poll_requests(t0 + RETRANS_TIME * 2, &mut due);
    assert_eq!(due, vec![rs]);
    due.clear();
    // The third request went out; no answer within one more interval: failed.
    c.poll_requests(t0 + RETRANS_TIME * 3, &mut due);
    assert!(due.is_empty());
    assert_eq!(c.lookup(t0 + RETRANS_TIME * 3, rs), Lookup::Failed);
    assert_eq!(c.poll_timeout(), None);
    // Forgotten after GC_TIME, so a later lookup starts over.
    c.poll_requests(t0 + RETRANS_TIME * 3 + GC_TIME, &mut due);
    assert!(c.is_empty());
    assert_eq!(
        c.lookup(t0 + GC_TIME * 2, rs),
        Lookup::Miss { request: true }
    );
}

#[test]
fn learned_entry_ages_into_refresh() {
    let mut c = NeighbourCache::new();
    let t0 = Instant::from_secs(5);
    let rs = ip("2001:db8::10");
    c.learn(t0, rs, PEER);
    assert_eq!(
        c.lookup(t0 + Duration::from_secs(29), rs),
        Lookup::Hit(PEER)
    );
    let t1 = t0 + REACHABLE_TIME;
    assert_eq!(c.lookup(t1, rs), Lookup::Refresh(PEER));
    // One refresh at a time; the stale MAC keeps working meanwhile.
    assert_eq!(c.lookup(t1, rs), Lookup::Hit(PEER));
    c.learn(t1 + Duration::from_millis(3), rs, PEER);
    assert_eq!(
        c.lookup(t1 + Duration::from_millis(4), rs),
        Lookup::Hit(PEER)
    );
    assert_eq!(c.get(rs), Some(PEER));
}

#[test]
fn arp_request_parses_with_etherparse_and_teaches_its_sender() {
    let mut b = [0u8; 64];
    let n = arp_request(
        &mut b,
        MAC,
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 10),
    )
    .unwrap();
    let p = etherparse::SlicedPacket::from_ethernet(&b[..n]).unwrap();
    let Some(etherparse::NetSlice::Arp(a)) = p.net else {
        panic!("not ARP: {p:?}")
    };
    assert_eq!(a.operation(), etherparse::ArpOperation::REQUEST);
    assert_eq!(a.target_protocol_addr(), &[192, 0, 2, 10]);
    assert_eq!(a.sender_hw_addr(), &MAC.0);
    assert_eq!(learn_from(&b[..n]), Some((ip("192.0.2.1"), MAC)));
    assert_eq!(
        arp_request(
            &mut [0u8; 41],
            MAC,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED
        ),
        None
    );
}

#[test]
fn neighbour_solicitation_checksum_and_learning() {
    let mut b = [0u8; 128];
    let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let target: Ipv6Addr = "2001:db8::abcd:10".parse().unwrap();
    let n = neighbour_solicitation(&mut b, MAC, src, target).unwrap();
    assert_eq!(&b[..6], &[0x33, 0x33, 0xff, 0xcd, 0, 0x10]);
    let p = etherparse::SlicedPacket::from_ethernet(&b[..n]).unwrap();
    let Some(etherparse::TransportSlice::Icmpv6(icmp)) = p.transport else {
        panic!("{p:?}")
    };
    let Some(etherparse::NetSlice::Ipv6(ip6)) = &p.net else {
        panic!()
    };
    let want = icmp
        .icmp_type()
        .calc_checksum(
            ip6.header().source(),
            ip6.header().destination(),
            icmp.payload(),
        )
        .unwrap();
    assert_eq!(icmp.checksum(), want);
    assert_eq!(learn_from(&b[..n]), Some((IpAddr::V6(src), MAC)));
    // An NA teaches its target with option 2.
    let mut na = [0u8; 128];
    let len = lvs_core::rewrite::originate::unsolicited_na(&mut na, PEER, target, target).unwrap();
    assert_eq!(learn_from(&na[..len]), Some((IpAddr::V6(target), PEER)));
    assert_eq!(learn_from(&na[..60]), None);
}
