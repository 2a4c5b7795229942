//! NAT through the whole director: a TCP life cycle from SYN to TIME_WAIT expiry with every
//! frame checked against an etherparse-built expectation, the dest counters at each step, and
//! the -Lc view.

mod director_util;

use director_util::*;
use lvs_core::conn::TcpState;
use lvs_core::director::DropReason;

const CIP: &str = "198.51.100.7";
const VIP: &str = "192.0.2.10";
const RIP: &str = "10.0.0.11";

fn nat_sim() -> Sim {
    Sim::one_nat_dest(config())
}

#[test]
fn tcp_life_cycle() {
    let mut s = nat_sim();
    // Client SYN -> RS with dst rewritten, TTL - 1, MACs director -> RS.
    let syn = tcp_in((CIP, 40000), (VIP, 80), SYN, b"");
    let out = s.send(&syn);
    let want = tcp_to_rs(MAC_RS1, (CIP, 40000), (RIP, 8080), SYN, b"");
    assert_frame("syn", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(RIP));
    assert_eq!(out.next_hop().mac.map(|m| m.0), Some(MAC_RS1));
    assert_eq!(only_state(&s), Some(TcpState::SynRecv));
    assert_eq!(s.counters(0, RIP), (1, 0));

    // RS SYN-ACK -> client with src rewritten back to the VIP.
    s.advance(1);
    let synack = tcp_from_rs(MAC_RS1, (RIP, 8080), (CIP, 40000), SYNACK, b"");
    let out = s.send(&synack);
    let want = tcp_out((VIP, 80), (CIP, 40000), SYNACK, b"");
    assert_frame("synack", out.frame(), &want);
    assert_eq!(out.next_hop().addr, ip(CIP));
    assert_eq!(out.next_hop().mac, None);
    assert_eq!(only_state(&s), Some(TcpState::SynRecv));

    let ack = tcp_in((CIP, 40000), (VIP, 80), ACK, b"GET /");
    let out = s.send(&ack);
    let want = tcp_to_rs(MAC_RS1, (CIP, 40000), (RIP, 8080), ACK, b"GET /");
    assert_frame("ack", out.frame(), &want);
    assert_eq!(only_state(&s), Some(TcpState::Established));
    assert_eq!(s.counters(0, RIP), (1, 0));
    // ESTABLISHED timeout: 900 s.
    let left = s.d.conns(s.now).next().unwrap().expires_in.as_secs();
    assert!((899..=900).contains(&left), "{left}");

    // Client closes first: ES -IN fin-> CLOSE_WAIT (inactive), RS FIN -> TIME_WAIT.
    let fin = tcp_in((CIP, 40000), (VIP, 80), FINACK, b"");
    s.send(&fin).frame();
    assert_eq!(only_state(&s), Some(TcpState::CloseWait));
    assert_eq!(s.counters(0, RIP), (0, 1));
    let fin_out = tcp_from_rs(MAC_RS1, (RIP, 8080), (CIP, 40000), FINACK, b"");
    let out = s.send(&fin_out);
    let want = tcp_out((VIP, 80), (CIP, 40000), FINACK, b"");
    assert_frame("fin out", out.frame(), &want);
    assert_eq!(only_state(&s), Some(TcpState::TimeWait));
    s.send(&ack).frame();
    assert_eq!(only_state(&s), Some(TcpState::TimeWait));

    // TIME_WAIT lasts 120 s.
    s.advance(118);
    assert_eq!(s.d.conn_count(), 1);
    s.advance(3);
    assert_eq!(s.d.conn_count(), 0);
    assert_eq!(s.counters(0, RIP), (0, 0));

    let snap = s.d.snapshot();
    let st = snap.services[0].stats;
    // In: SYN, ACK+data, FIN, ACK+data; out: SYN-ACK, FIN. IP lengths 20 + 20 (+ 5 data).
    assert_eq!((st.conns, st.inpkts, st.outpkts), (1, 4, 2));
    assert_eq!(st.inbytes, 40 + 45 + 40 + 45);
    assert_eq!(st.outbytes, 40 + 40);
    assert_eq!(snap.stats, st);
}

#[test]
fn non_syn_first_packet_is_dropped_and_counted() {
    let mut s = nat_sim();
    let ack = tcp_in((CIP, 40001), (VIP, 80), ACK, b"x");
    assert_eq!(s.send(&ack), Out::Drop(DropReason::NotSyn));
    assert_eq!(s.d.drop_counters().get(DropReason::NotSyn), 1);
    assert_eq!(s.d.conn_count(), 0);
    // Not a service: the host's.
    let other = tcp_in((CIP, 40001), (VIP, 81), SYN, b"");
    assert_eq!(s.send(&other), Out::Pass);
}
