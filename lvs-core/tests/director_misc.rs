//! IPv6, the fwmark classifier, events, the estimator through the director, fragments.

mod director_util;

use director_util::*;
use lvs_core::conn::FlowHint;
use lvs_core::director::{DirectorConfig, DropReason, Event, Verdict};
use lvs_core::rewrite::PacketBuf;

#[test]
fn ipv6_nat_round_trip() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -t [2001:db8::10]:443 -s wlc
         -a -t [2001:db8::10]:443 -r [fd00::12]:8443 -m",
    );
    let c = ("2001:db8:1::7", 50000);
    let syn = tcp_in(c, ("2001:db8::10", 443), SYN, b"");
    let out = s.send(&syn);
    let want = tcp_to_rs(MAC_RS2, c, ("fd00::12", 8443), SYN, b"");
    assert_frame("v6 syn", out.frame(), &want);
    let synack = tcp_from_rs(MAC_RS2, ("fd00::12", 8443), c, SYNACK, b"");
    let out = s.send(&synack);
    let want = tcp_out(("2001:db8::10", 443), c, SYNACK, b"");
    assert_frame("v6 synack", out.frame(), &want);
    assert_eq!(s.counters(0, "fd00::12"), (1, 0));
}

#[test]
fn fwmark_rules_pick_the_service() {
    let mut s = Sim::new(fwmark_config(5));
    s.ipvsadm(
        "-A -f 5 -s rr
         -a -f 5 -r 10.0.0.11 -g",
    );
    let c = ("198.51.100.7", 40000);
    let syn = tcp_in(c, ("192.0.2.20", 8080), SYN, b"");
    let out = s.send(&syn);
    // DR: the packet is unchanged but for MACs and TTL.
    let want = tcp_to_rs(MAC_RS1, c, ("192.0.2.20", 8080), SYN, b"");
    assert_frame("fwmark dr", out.frame(), &want);
    // The connection is keyed by its 5-tuple: later packets need no mark.
    let ack = tcp_in(c, ("192.0.2.20", 8080), ACK, b"");
    assert_eq!(s.send(&ack).next_hop().addr, ip("10.0.0.11"));
    // Outside the rule: not ours.
    let other = tcp_in(c, ("192.0.2.20", 9000), SYN, b"");
    assert_eq!(s.send(&other), Out::Pass);
    let other = tcp_in(c, ("192.0.3.20", 8080), SYN, b"");
    assert_eq!(s.send(&other), Out::Pass);
}

#[test]
fn events_and_overload() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53 -s wlc
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m -x 2",
    );
    assert_eq!(s.d.poll_event(), Some(Event::ConfigApplied));
    assert_eq!(s.d.poll_event(), Some(Event::ConfigApplied));
    for p in 0..3 {
        let q = udp_in(("198.51.100.7", 1000 + p), ("192.0.2.10", 53), b"q");
        let _ = s.send(&q);
    }
    let mut created = 0;
    let mut overloaded = 0;
    while let Some(e) = s.d.poll_event() {
        match e {
            Event::ConnCreated(_) => created += 1,
            Event::DestOverloaded { dest, .. } => {
                assert_eq!(dest, (ip("10.0.0.11"), 53));
                overloaded += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // Upper threshold 2: the second connection sets the flag, the third finds no dest.
    assert_eq!((created, overloaded), (2, 1));
    assert_eq!(s.d.drop_counters().get(DropReason::NoDest), 1);
    s.advance(301);
    let expired = std::iter::from_fn(|| s.d.poll_event())
        .filter(|e| matches!(e, Event::ConnExpired(_)))
        .count();
    assert_eq!(expired, 2);
    assert!(!s.d.snapshot().services[0].dests[0].overloaded);
}

#[test]
fn conn_events_off_leaves_the_other_events() {
    let mut s = Sim::new(DirectorConfig {
        conn_events: false,
        ..config()
    });
    s.ipvsadm(
        "-A -u 192.0.2.10:53 -s wlc
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m -x 2",
    );
    for p in 0..3 {
        let q = udp_in(("198.51.100.7", 1000 + p), ("192.0.2.10", 53), b"q");
        let _ = s.send(&q);
    }
    s.advance(301);
    let events: Vec<Event> = std::iter::from_fn(|| s.d.poll_event()).collect();
    // The connections came and went, unreported; the overload still is.
    assert_eq!(s.d.snapshot().services[0].dests[0].stats.conns, 2);
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Event::ConnCreated(_) | Event::ConnExpired(_))),
        "{events:?}"
    );
    let overloads = events
        .iter()
        .filter(|e| matches!(e, Event::DestOverloaded { .. }))
        .count();
    assert_eq!(overloads, 1);
}

#[test]
fn rates_follow_the_kernel_estimator() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m",
    );
    s.advance(0);
    // 10 datagrams of IP length 29 per 2 s, for a minute: 5 pps, 145 B/s once converged.
    for t in 0..30u16 {
        for i in 0..10u16 {
            let q = udp_in(("198.51.100.7", 1000 + i), ("192.0.2.10", 53), b"q");
            let _ = s.send(&q);
        }
        let _ = t;
        s.advance(2);
    }
    let r = s.d.snapshot().services[0].rates;
    assert_eq!((r.inpps, r.inbps, r.outpps, r.cps), (5, 145, 0, 0));
}

#[test]
fn fragments_to_a_vip_are_dropped() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m",
    );
    let mut q = udp_in(("198.51.100.7", 1000), ("192.0.2.10", 53), b"qqqqqqqq");
    // More-fragments set: a first fragment (header checksum does not matter to the director).
    q[20] |= 0x20;
    assert_eq!(s.send(&q), Out::Drop(DropReason::Fragment));
    q[14 + 16..14 + 20].copy_from_slice(&[192, 0, 2, 99]);
    assert_eq!(s.send(&q), Out::Pass);
}

#[test]
fn port_zero_persistent_service_takes_every_port() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -t 192.0.2.10:0 -s rr -p 100
         -a -t 192.0.2.10:0 -r 10.0.0.11 -m
         -a -t 192.0.2.10:0 -r 10.0.0.12 -m",
    );
    let c = "198.51.100.7";
    // NAT to a port-0 dest keeps the packet's port; one template (vport 0) pins the client.
    let out = s.send(&tcp_in((c, 40000), ("192.0.2.10", 8080), SYN, b""));
    let want = tcp_to_rs(MAC_RS2, (c, 40000), ("10.0.0.12", 8080), SYN, b"");
    assert_frame("port 0, 8080", out.frame(), &want);
    let out = s.send(&tcp_in((c, 40001), ("192.0.2.10", 9090), SYN, b""));
    let want = tcp_to_rs(MAC_RS2, (c, 40001), ("10.0.0.12", 9090), SYN, b"");
    assert_frame("port 0, 9090", out.frame(), &want);
    assert_eq!(s.d.snapshot().templates, 1);
    // Another client lands on the other dest.
    let out = s.send(&tcp_in(("198.51.100.8", 1), ("192.0.2.10", 22), SYN, b""));
    assert_eq!(out.next_hop().addr, ip("10.0.0.11"));
}

/// An SCTP packet with one chunk of `chunk_type`, CRC32c filled (stored little-endian as the
/// RFC's reference code does).
fn sctp(src: (&str, u16), dst: (&str, u16), chunk_type: u8) -> Vec<u8> {
    let chunk = [
        chunk_type, 0, 0, 20, 0x11, 0x22, 0x33, 0x44, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1,
    ];
    sctp_in(src, dst, 0, &chunk)
}

#[test]
fn sctp_init_starts_a_nat_connection() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A --sctp-service 192.0.2.10:3868
         -a --sctp-service 192.0.2.10:3868 -r 10.0.0.11:3869 -m",
    );
    let c = ("198.51.100.7", 5000);
    let data = sctp(c, ("192.0.2.10", 3868), 0);
    assert_eq!(s.send(&data), Out::Drop(DropReason::NotSyn));
    let init = sctp(c, ("192.0.2.10", 3868), 1);
    let out = s.send(&init);
    let f = out.frame();
    // Destination and port rewritten, CRC32c recomputed over the new header.
    assert_eq!(&f[30..34], &[10, 0, 0, 11]);
    assert_eq!(&f[36..38], &3869u16.to_be_bytes());
    let mut l4 = f[34..].to_vec();
    let got = u32::from_le_bytes([l4[8], l4[9], l4[10], l4[11]]);
    l4[8..12].fill(0);
    assert_eq!(got, crc32c(&l4));
    // The association is tracked: a DATA chunk now goes through.
    assert_eq!(s.send(&data).next_hop().addr, ip("10.0.0.11"));
    assert_eq!(s.d.conn_count(), 1);
}

#[test]
fn a_director_moves_to_its_worker_thread() {
    fn is_send<T: Send>(_: &T) {}
    let d = lvs_core::director::Director::new(config());
    is_send(&d);
    let h = std::thread::spawn(move || d.conn_count());
    assert_eq!(h.join().unwrap(), 0);
}

#[test]
fn a_batch_lookup_changes_nothing() {
    let mut s = Sim::new(DirectorConfig {
        batch_lookup_from: 0,
        ..config()
    });
    s.ipvsadm(
        "-A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m",
    );
    let q = udp_in(("198.51.100.7", 1000), ("192.0.2.10", 53), b"q");
    s.send(&q).frame();
    let junk = [0u8; 7];
    let many: Vec<&[u8]> = std::iter::repeat_n(&q[..], 40)
        .chain([&junk[..], &[][..]])
        .collect();
    let mut hints = vec![FlowHint::default(); many.len()];
    s.d.lookup_batch(&many, &mut hints);
    // Up to PREFETCH_BATCH frames are looked up; the rest keep the empty hint.
    assert!(hints[..32].iter().all(|h| *h != FlowHint::default()));
    assert!(hints[32..].iter().all(|h| *h == FlowHint::default()));
    assert_eq!(s.d.conn_count(), 1);
    assert_eq!(s.d.snapshot().stats.inpkts, 1);
    let mut buf = vec![0u8; q.len() + 128];
    buf[64..64 + q.len()].copy_from_slice(&q);
    let mut pkt = PacketBuf::new(&mut buf, 64, q.len()).unwrap();
    let hinted = s.d.handle_packet_hinted(s.now, 0, &mut pkt, hints[0]);
    assert!(matches!(hinted, Verdict::Forward { .. }));
    assert_eq!(s.send(&q).next_hop().addr, ip("10.0.0.11"));
    // Below `batch_lookup_from` (by default 32k connections) nothing is looked up.
    let mut small = Sim::new(config());
    small.ipvsadm(
        "-A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m",
    );
    small.send(&q).frame();
    small.d.lookup_batch(&many, &mut hints);
    assert!(hints.iter().all(|h| *h == FlowHint::default()));
}

#[test]
fn config_changes_keep_the_counters_of_services_that_stay() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m",
    );
    for port in [1000, 1001] {
        let q = udp_in(("198.51.100.7", port), ("192.0.2.10", 53), b"q");
        let _ = s.send(&q);
    }
    let before = s.d.snapshot().services[0].stats;
    assert_eq!((before.conns, before.inpkts), (2, 2));
    // Adding a dest (and a second service) changes the config but not this service's life:
    // the kernel keeps its ip_vs_service and so its counters.
    s.ipvsadm(
        "-a -u 192.0.2.10:53 -r 10.0.0.12:53 -m
         -A -t 192.0.2.20:80",
    );
    let after = s.d.snapshot();
    let svc = after
        .services
        .iter()
        .find(|v| v.dests.len() == 2)
        .expect("the UDP service");
    assert_eq!((svc.stats.conns, svc.stats.inpkts), (2, 2));
    // A service deleted and re-created is a new ip_vs_service: fresh counters.
    s.ipvsadm(
        "-D -u 192.0.2.10:53
         -A -u 192.0.2.10:53",
    );
    let again = s.d.snapshot();
    let svc = again
        .services
        .iter()
        .find(|v| v.key.to_string().contains("192.0.2.10:53"))
        .expect("the re-created service");
    assert_eq!(svc.stats.conns, 0);
}
