//! DR, TUN and FULLNAT through the whole director: life cycles (INPUT-ONLY rows for DR/TUN),
//! output frames checked against etherparse, counters.

mod director_util;

use director_util::*;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use lvs_core::conn::TcpState;
use lvs_core::director::{DirectorConfig, FullNatPool, PortShare};
use lvs_core::ipvsadm::{Protocol, ServiceKey};

const CIP: &str = "198.51.100.7";
const VIP: &str = "192.0.2.10";
const RIP: &str = "10.0.0.11";

#[test]
fn dr_life_cycle_uses_input_only_rows() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -t 192.0.2.10:80 -s wlc
         -a -t 192.0.2.10:80 -r 10.0.0.11 -g",
    );
    let syn = tcp_in((CIP, 40000), (VIP, 80), SYN, b"");
    let out = s.send(&syn);
    // Only the MACs and the TTL change.
    let want = tcp_to_rs(MAC_RS1, (CIP, 40000), (VIP, 80), SYN, b"");
    assert_frame("dr syn", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(RIP));
    assert_eq!(only_state(&s), Some(TcpState::SynRecv));
    assert!(s.d.conns(s.now).next().unwrap().input_only);
    assert_eq!(s.counters(0, RIP), (1, 0));
    let ack = tcp_in((CIP, 40000), (VIP, 80), ACK, b"data");
    s.send(&ack).frame();
    assert_eq!(only_state(&s), Some(TcpState::Established));
    // IO fin from ES -> FIN_WAIT (the IN row would say CLOSE_WAIT).
    let fin = tcp_in((CIP, 40000), (VIP, 80), FINACK, b"");
    s.send(&fin).frame();
    assert_eq!(only_state(&s), Some(TcpState::FinWait));
    assert_eq!(s.counters(0, RIP), (0, 1));
    // FIN_WAIT: 120 s.
    s.advance(119);
    assert_eq!(s.d.conn_count(), 1);
    s.advance(2);
    assert_eq!(s.d.conn_count(), 0);
    assert_eq!(s.counters(0, RIP), (0, 0));
}

#[test]
fn tun_ipip_wraps_with_outer_header() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11 -i",
    );
    let q = udp_in((CIP, 5353), (VIP, 53), b"query");
    let out = s.send(&q);
    let f = out.frame();
    assert_eq!(out.next_hop().addr, ip(RIP));
    assert_eq!(&f[..6], &MAC_RS1);
    assert_eq!(&f[6..12], &MAC_DIR);
    let p = SlicedPacket::from_ethernet(f).expect("parse");
    let Some(NetSlice::Ipv4(outer)) = p.net else {
        panic!("outer not ipv4")
    };
    let h = outer.header();
    assert_eq!(h.source(), [10, 0, 0, 1]);
    assert_eq!(h.destination(), [10, 0, 0, 11]);
    assert_eq!(h.protocol().0, 4);
    assert_eq!(h.ttl(), 63);
    // The inner packet is the client's with its TTL decremented.
    let want_inner = udp((MAC_GW, MAC_DIR), (CIP, 5353), (VIP, 53), 63, b"query");
    assert_eq!(&f[34..], &want_inner[14..]);
    assert_eq!(s.counters(0, RIP), (0, 1));
    // UDP: 300 s.
    s.advance(299);
    assert_eq!(s.d.conn_count(), 1);
    s.advance(2);
    assert_eq!(s.d.conn_count(), 0);
}

fn fullnat_sim() -> Sim {
    let key = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip(VIP),
        port: 80,
    };
    let cfg = DirectorConfig {
        fullnat: vec![FullNatPool {
            service: key,
            laddrs: vec![ip("10.0.0.100")],
            ports: 5000..=5001,
            share: PortShare::ALL,
        }],
        ..config()
    };
    Sim::one_nat_dest(cfg)
}

#[test]
fn fullnat_translates_both_ends_and_inserts_toa_once() {
    let mut s = fullnat_sim();
    let syn = tcp_in((CIP, 40000), (VIP, 80), SYN, b"");
    let out = s.send(&syn);
    let want = tcp_to_rs(MAC_RS1, ("10.0.0.100", 5000), (RIP, 8080), SYN, b"");
    assert_frame("fullnat syn", out.frame(), &want);
    let synack = tcp_from_rs(MAC_RS1, (RIP, 8080), ("10.0.0.100", 5000), SYNACK, b"");
    let out = s.send(&synack);
    let want = tcp_out((VIP, 80), (CIP, 40000), SYNACK, b"");
    assert_frame("fullnat synack", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(CIP));

    // The first data segment carries TOA: kind 254, len 8, port 40000, address 198.51.100.7.
    let data = tcp_in((CIP, 40000), (VIP, 80), ACK, b"GET /");
    let out = s.send(&data);
    let p = SlicedPacket::from_ethernet(out.frame()).expect("parse");
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not tcp")
    };
    assert_eq!(t.options(), &[254, 8, 0x9c, 0x40, 198, 51, 100, 7]);
    assert_eq!(t.payload(), b"GET /");
    assert_eq!((t.source_port(), t.destination_port()), (5000, 8080));
    // The second does not.
    let out = s.send(&data);
    let want = tcp_to_rs(MAC_RS1, ("10.0.0.100", 5000), (RIP, 8080), ACK, b"GET /");
    assert_frame("fullnat second data", out.frame(), &want);
    assert_eq!(only_state(&s), Some(TcpState::Established));
}

/// Two connections take the pool's two ports; a third finds none (a drop, `NoLocalPort`).
fn fill_two_port_pool(s: &mut Sim) {
    for port in [40000, 40001] {
        let syn = tcp_in((CIP, port), (VIP, 80), SYN, b"");
        s.send(&syn).frame();
    }
    let syn = tcp_in((CIP, 40002), (VIP, 80), SYN, b"");
    assert_eq!(
        s.send(&syn),
        Out::Drop(lvs_core::director::DropReason::NoLocalPort)
    );
}

#[test]
fn fullnat_pool_exhaustion_is_a_drop_reason() {
    let mut s = fullnat_sim();
    fill_two_port_pool(&mut s);
    let ports: Vec<u16> = s.d.conns(s.now).map(|c| c.local.1).collect();
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [5000, 5001]);
}

#[test]
fn fullnat_worker_share_allocates_only_its_residue_class() {
    // Worker 1 of 3 over 5000..=5007 owns 5002 and 5005 (port % 3 == 1), nothing else.
    let key = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip(VIP),
        port: 80,
    };
    let mut s = Sim::one_nat_dest(DirectorConfig {
        fullnat: vec![FullNatPool {
            service: key,
            laddrs: vec![ip("10.0.0.100")],
            ports: 5000..=5007,
            share: PortShare { index: 1, count: 3 },
        }],
        ..config()
    });
    fill_two_port_pool(&mut s);
    let mut ports: Vec<u16> = s.d.conns(s.now).map(|c| c.local.1).collect();
    ports.sort_unstable();
    assert_eq!(ports, [5002, 5005]);
    let share = PortShare { index: 1, count: 3 };
    assert_eq!(share.first_in(&(5000..=5007)), Some(5002));
    assert_eq!(share.len_in(&(5000..=5007)), 2);
    assert_eq!(
        PortShare { index: 2, count: 4 }.first_in(&(65533..=65535)),
        Some(65534)
    );
    assert_eq!(
        PortShare { index: 0, count: 4 }.first_in(&(65533..=65535)),
        None
    );
    assert_eq!(PortShare::ALL.len_in(&(1025..=65535)), 64511);
}

#[test]
fn tun_gue_and_gre_follow_the_dest_settings() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53 -s rr
         -a -u 192.0.2.10:53 -r 10.0.0.11 -i --tun-type gue --tun-port 6080
         -a -u 192.0.2.10:53 -r 10.0.0.12 -i --tun-type gre",
    );
    // rr: newest (.12, GRE) first.
    let q = udp_in((CIP, 5353), (VIP, 53), b"query");
    let out = s.send(&q);
    let f = out.frame();
    assert_eq!(out.next_hop().addr, ip("10.0.0.12"));
    assert_eq!(f[23], 47, "GRE");
    // GRE without checksum: flags 0, protocol 0x0800, then the inner packet.
    assert_eq!(&f[34..38], &[0, 0, 0x08, 0x00]);
    let inner = udp((MAC_GW, MAC_DIR), (CIP, 5353), (VIP, 53), 63, b"query");
    assert_eq!(&f[38..], &inner[14..]);

    let q2 = udp_in((CIP, 5354), (VIP, 53), b"query");
    let out = s.send(&q2);
    let f = out.frame();
    assert_eq!(out.next_hop().addr, ip(RIP));
    assert_eq!(f[23], 17, "UDP");
    assert_eq!(&f[36..38], &6080u16.to_be_bytes());
    // GUE v0 header: hlen 0, proto 4 (IPv4 inner), flags 0.
    assert_eq!(&f[42..46], &[0, 4, 0, 0]);
    let inner = udp((MAC_GW, MAC_DIR), (CIP, 5354), (VIP, 53), 63, b"query");
    assert_eq!(&f[46..], &inner[14..]);
}
