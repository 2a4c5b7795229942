//! `ip_vs_leave`: a connection-starting packet whose service has no usable dest is dropped
//! and the client gets ICMP (ICMPv6) port unreachable from the address it contacted, quoting
//! its packet; a port-21 service reached on another port and client port 20 (active FTP
//! data) pass the packet to the host; the
//! errors are rate-limited like the kernel's global ICMP budget.

mod director_util;

use director_util::*;
use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, SlicedPacket, TransportSlice, icmpv4, icmpv6};
use lvs_core::director::DropReason;

/// Checks `frame` is an ICMP(v6) port unreachable from `from` to `to` quoting `orig`'s IP
/// packet (all of it: these are small).
#[track_caller]
fn assert_port_unreachable(frame: &[u8], from: &str, to: &str, orig: &[u8]) {
    let p = SlicedPacket::from_ethernet(frame).expect("parses");
    // Back out to the sender's MAC.
    assert_eq!(frame[..6], MAC_GW);
    assert_eq!(frame[6..12], MAC_DIR);
    match p.net.expect("ip") {
        NetSlice::Ipv4(h) => {
            assert_eq!(h.header().source_addr().to_string(), from);
            assert_eq!(h.header().destination_addr().to_string(), to);
        }
        NetSlice::Ipv6(h) => {
            assert_eq!(h.header().source_addr().to_string(), from);
            assert_eq!(h.header().destination_addr().to_string(), to);
        }
        other => panic!("not IP: {other:?}"),
    }
    let quoted = match p.transport.expect("icmp") {
        TransportSlice::Icmpv4(i) => {
            assert_eq!(
                i.icmp_type(),
                Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port)
            );
            assert_eq!(ones_sum(i.slice()), 0xffff, "ICMP checksum");
            i.payload().to_vec()
        }
        TransportSlice::Icmpv6(i) => {
            assert_eq!(
                i.icmp_type(),
                Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port)
            );
            i.payload().to_vec()
        }
        other => panic!("not ICMP: {other:?}"),
    };
    assert_eq!(quoted, orig[14..], "the whole original packet is quoted");
}

/// The one's-complement sum of `b`: 0xffff over a message with a correct checksum.
fn ones_sum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn syn(client: (&str, u16), vip: (&str, u16)) -> Vec<u8> {
    tcp((MAC_GW, MAC_DIR), client, vip, 64, SYN, b"")
}

#[test]
fn a_service_without_dests_answers_port_unreachable() {
    let mut s = Sim::new(config());
    s.ipvsadm("-A -t 192.0.2.10:80\n-A -u 192.0.2.10:53\n-A -t [2001:db8::10]:80");
    let f = syn(("198.51.100.7", 40000), ("192.0.2.10", 80));
    assert_eq!(s.send(&f), Out::Drop(DropReason::NoDest));
    let tx = s.transmitted();
    assert_eq!(tx.len(), 1);
    assert_port_unreachable(&tx[0], "192.0.2.10", "198.51.100.7", &f);
    // UDP alike (every datagram may start a connection).
    let u = udp(
        (MAC_GW, MAC_DIR),
        ("198.51.100.7", 5353),
        ("192.0.2.10", 53),
        64,
        b"q",
    );
    assert_eq!(s.send(&u), Out::Drop(DropReason::NoDest));
    assert_port_unreachable(&s.transmitted()[0], "192.0.2.10", "198.51.100.7", &u);
    // IPv6: ICMPv6 port unreachable from the VIP.
    let f6 = syn(("2001:db8::7", 40000), ("2001:db8::10", 80));
    assert_eq!(s.send(&f6), Out::Drop(DropReason::NoDest));
    assert_port_unreachable(&s.transmitted()[0], "2001:db8::10", "2001:db8::7", &f6);
    assert_eq!(s.d.drop_counters().get(DropReason::NoDest), 3);
    // A segment that cannot start a connection is dropped without an answer.
    let ack = tcp_in(("198.51.100.7", 40000), ("192.0.2.10", 80), ACK, b"");
    assert_eq!(s.send(&ack), Out::Drop(DropReason::NotSyn));
    assert!(s.transmitted().is_empty());
}

#[test]
fn quiesced_and_overloaded_dests_are_unusable() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -t 192.0.2.10:80
         -a -t 192.0.2.10:80 -r 10.0.0.11:80 -m -x 1",
    );
    assert!(matches!(
        s.send(&syn(("198.51.100.7", 1000), ("192.0.2.10", 80))),
        Out::Forward(..)
    ));
    // The upper threshold is reached: the next client is refused.
    let f = syn(("198.51.100.8", 1000), ("192.0.2.10", 80));
    assert_eq!(s.send(&f), Out::Drop(DropReason::NoDest));
    assert_port_unreachable(&s.transmitted()[0], "192.0.2.10", "198.51.100.8", &f);
    // Quiesced: weight 0, no threshold.
    s.ipvsadm("-e -t 192.0.2.10:80 -r 10.0.0.11:80 -m -w 0");
    let f = syn(("198.51.100.9", 1000), ("192.0.2.10", 80));
    assert_eq!(s.send(&f), Out::Drop(DropReason::NoDest));
    assert_eq!(s.transmitted().len(), 1);
    // The existing connection still flows.
    let ack = tcp_in(("198.51.100.7", 1000), ("192.0.2.10", 80), ACK, b"");
    assert!(matches!(s.send(&ack), Out::Forward(..)));
}

#[test]
fn a_persistent_template_to_an_unusable_dest_answers_too() {
    let mut s = Sim::one_persistent_nat_dest(config());
    assert!(matches!(
        s.send(&syn(("198.51.100.7", 1000), ("192.0.2.10", 80))),
        Out::Forward(..)
    ));
    s.ipvsadm("-d -t 192.0.2.10:80 -r 10.0.0.11:80");
    let f = syn(("198.51.100.7", 1001), ("192.0.2.10", 80));
    assert_eq!(s.send(&f), Out::Drop(DropReason::NoDest));
    assert_port_unreachable(&s.transmitted()[0], "192.0.2.10", "198.51.100.7", &f);
}

#[test]
fn an_ftp_service_reached_on_another_port_passes_to_the_host() {
    let mut s = Sim::new(config());
    s.ipvsadm("-A -t 192.0.2.10:21");
    // A data connection to an unprivileged port finds the FTP service, but it is not ours to
    // refuse.
    assert_eq!(
        s.send(&syn(("198.51.100.7", 40000), ("192.0.2.10", 2000))),
        Out::Pass
    );
    assert!(s.transmitted().is_empty());
    // Active FTP data (client port 20) is never scheduled, and accepted, on any service.
    s.ipvsadm("-A -t 192.0.2.10:80");
    assert_eq!(
        s.send(&syn(("198.51.100.7", 20), ("192.0.2.10", 80))),
        Out::Pass
    );
    assert!(s.transmitted().is_empty());
    // The control port itself is refused as any service.
    let f = syn(("198.51.100.7", 1000), ("192.0.2.10", 21));
    assert_eq!(s.send(&f), Out::Drop(DropReason::NoDest));
    assert_eq!(s.transmitted().len(), 1);
}

#[test]
fn port_unreachables_are_rate_limited() {
    let mut s = Sim::new(config());
    s.ipvsadm("-A -t 192.0.2.10:80");
    let flood = |s: &mut Sim, n: u16, base: u16| {
        for i in 0..n {
            let f = syn(("198.51.100.7", base + i), ("192.0.2.10", 80));
            assert_eq!(s.send(&f), Out::Drop(DropReason::NoDest));
        }
        s.transmitted().len()
    };
    // A burst of 50, then 1000 per second.
    assert_eq!(flood(&mut s, 80, 1000), 50);
    s.now = s.now + core::time::Duration::from_millis(10);
    assert_eq!(flood(&mut s, 80, 2000), 10);
    s.now = s.now + core::time::Duration::from_secs(5);
    assert_eq!(flood(&mut s, 80, 3000), 50);
    // Every one of them is a counted drop.
    assert_eq!(s.d.drop_counters().get(DropReason::NoDest), 240);
}
