//! Connection life-cycle rules across the control plane: persistence, quiescing, dest
//! deletion (+ expire_nodest_conn), port reuse, config swap under load, one-packet scheduling.

mod director_util;

use director_util::*;
use lvs_core::conn::TcpState;
use lvs_core::director::{DropReason, Sysctls};
use lvs_core::ipvsadm::parse_line;

const VIP: &str = "192.0.2.10";

/// The client's packet from `port` to the VIP.
fn from_client(port: u16, f: Flags, payload: &[u8]) -> Vec<u8> {
    tcp_in(("198.51.100.7", port), (VIP, 80), f, payload)
}

fn syn_from(port: u16) -> Vec<u8> {
    from_client(port, SYN, b"")
}

fn two_dests(extra: &str) -> Sim {
    let mut s = Sim::new(config());
    s.add_two_nat_dests(extra);
    s
}

#[test]
fn rr_alternates_and_persistence_pins_a_client() {
    // rr walks the list newest first: .12 was added last.
    let mut s = two_dests("");
    let picks: Vec<String> = (0..4)
        .map(|i| dest_of(&s.send(&syn_from(40000 + i))))
        .collect();
    assert_eq!(picks, ["10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.11"]);

    let mut s = two_dests("-p 60");
    let picks: Vec<String> = (0..4)
        .map(|i| dest_of(&s.send(&syn_from(40000 + i))))
        .collect();
    assert_eq!(picks, ["10.0.0.12"; 4]);
    assert_eq!(s.d.snapshot().templates, 1);
    // Another client goes to the other dest.
    let other = tcp_in(("198.51.100.8", 1), (VIP, 80), SYN, b"");
    assert_eq!(dest_of(&s.send(&other)), "10.0.0.11");
    let persist: Vec<u32> = s.d.snapshot().services[0]
        .dests
        .iter()
        .map(|d| d.persist_conns)
        .collect();
    assert_eq!(persist, [1, 1]);
    // Connections end (SYN_RECV: 60 s), the template lives its 60 s after the last use, then
    // the persistence counters drop.
    s.advance(200);
    assert_eq!(s.d.conn_count(), 0);
    assert_eq!(s.d.snapshot().templates, 0);
    let persist: Vec<u32> = s.d.snapshot().services[0]
        .dests
        .iter()
        .map(|d| d.persist_conns)
        .collect();
    assert_eq!(persist, [0, 0]);
}

#[test]
fn quiesced_dest_keeps_flows_and_gets_no_new_ones() {
    let mut s = two_dests("");
    let a = syn_from(40000);
    assert_eq!(dest_of(&s.send(&a)), "10.0.0.12");
    s.ipvsadm("-e -t 192.0.2.10:80 -r 10.0.0.12:80 -m -w 0");
    // The existing flow continues to .12.
    let ack = from_client(40000, ACK, b"x");
    assert_eq!(dest_of(&s.send(&ack)), "10.0.0.12");
    // New ones all go to .11.
    for p in 1..5 {
        assert_eq!(dest_of(&s.send(&syn_from(40000 + p))), "10.0.0.11");
    }
    assert_eq!(s.counters(0, "10.0.0.12"), (1, 0));
    assert_eq!(s.counters(0, "10.0.0.11"), (4, 0));
}

#[test]
fn deleted_dest_drops_then_expires_with_expire_nodest_conn() {
    let mut s = two_dests("");
    s.send(&syn_from(40000)).frame();
    s.ipvsadm("-d -t 192.0.2.10:80 -r 10.0.0.12:80");
    let ack = from_client(40000, ACK, b"x");
    assert_eq!(s.send(&ack), Out::Drop(DropReason::DestDeleted));
    assert_eq!(s.d.conn_count(), 1);
    // With the sysctl the next packet expires it.
    let mut sys = s.d.sysctls().clone();
    sys.expire_nodest_conn = true;
    s.d.set_sysctls(sys);
    assert_eq!(s.send(&ack), Out::Drop(DropReason::DestDeleted));
    assert_eq!(s.d.conn_count(), 0);

    // And deleting a dest with the sysctl on flushes its connections at once.
    let mut s = two_dests("");
    s.d.set_sysctls(Sysctls {
        expire_nodest_conn: true,
        ..Sysctls::default()
    });
    s.send(&syn_from(40000)).frame();
    s.send(&syn_from(40001)).frame();
    s.ipvsadm("-d -t 192.0.2.10:80 -r 10.0.0.12:80");
    assert_eq!(s.d.conn_count(), 1);
    assert_eq!(s.counters(0, "10.0.0.11"), (1, 0));
}

#[test]
fn syn_on_time_wait_is_rescheduled() {
    let mut s = two_dests("");
    let c = ("198.51.100.7", 40000);
    assert_eq!(dest_of(&s.send(&syn_from(40000))), "10.0.0.12");
    let ack = tcp_in(c, (VIP, 80), ACK, b"");
    s.send(&ack).frame();
    let fin = tcp_in(c, (VIP, 80), FINACK, b"");
    s.send(&fin).frame();
    let fin_out = tcp_from_rs(MAC_RS2, ("10.0.0.12", 80), c, FINACK, b"");
    s.send(&fin_out).frame();
    let st: Vec<_> = s.d.conns(s.now).map(|c| c.state).collect();
    assert_eq!(st, [Some(TcpState::TimeWait)]);
    // The same client port again, at once: a new connection on the next rr pick.
    assert_eq!(dest_of(&s.send(&syn_from(40000))), "10.0.0.11");
    let st: Vec<_> = s.d.conns(s.now).map(|c| c.state).collect();
    assert_eq!(st, [Some(TcpState::SynRecv)]);
    assert_eq!(s.counters(0, "10.0.0.12"), (0, 0));
    assert_eq!(s.counters(0, "10.0.0.11"), (1, 0));
    // A SYN on an ESTABLISHED connection is not a reuse.
    let ack = tcp_in(c, (VIP, 80), ACK, b"");
    s.send(&ack).frame();
    assert_eq!(dest_of(&s.send(&syn_from(40000))), "10.0.0.11");
}

#[test]
fn replace_config_keeps_unchanged_dests_and_their_flows() {
    let mut s = two_dests("");
    for p in 0..10 {
        s.send(&syn_from(40000 + p)).frame();
    }
    // A restore script: -C first, as `ipvsadm -S` output fed to `-R` often is.
    let new: Vec<_> = [
        "-C",
        "-A -t 192.0.2.10:80 -s rr",
        "-a -t 192.0.2.10:80 -r 10.0.0.11:80 -m -w 3",
        "-a -t 192.0.2.10:80 -r 10.0.0.13:80 -m",
        "-A -u 192.0.2.10:53",
        "-a -u 192.0.2.10:53 -r 10.0.0.11:53 -m",
    ]
    .iter()
    .map(|l| parse_line(l).unwrap())
    .collect();
    // An invalid config changes nothing.
    let mut bad = new.clone();
    bad.push(parse_line("-a -t 192.0.2.99:80 -r 10.0.0.11:80 -m").unwrap());
    assert!(s.d.replace_config(&bad, s.now).is_err());
    assert_eq!(s.d.snapshot().services.len(), 1);

    s.d.replace_config(&new, s.now).unwrap();
    let snap = s.d.snapshot();
    assert_eq!(snap.services.len(), 2);
    let d: Vec<(String, i32, u32)> = snap.services[0]
        .dests
        .iter()
        .map(|d| (d.addr.to_string(), d.weight, d.active_conns))
        .collect();
    // .12 removed, .11 kept its 5 connections and took the new weight, .13 added at the head.
    assert_eq!(d, [("10.0.0.13".into(), 1, 0), ("10.0.0.11".into(), 3, 5)]);
    // Flows to .11 continue, flows to .12 are dropped.
    let to11 = from_client(40001, ACK, b"");
    assert_eq!(dest_of(&s.send(&to11)), "10.0.0.11");
    let to12 = from_client(40000, ACK, b"");
    assert_eq!(s.send(&to12), Out::Drop(DropReason::DestDeleted));
}

#[test]
fn one_packet_scheduling_keeps_no_connection() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:53 -s rr -o
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m
         -a -u 192.0.2.10:53 -r 10.0.0.12:53 -m",
    );
    let q = udp_in(("198.51.100.7", 5353), (VIP, 53), b"q");
    let picks: Vec<String> = (0..4).map(|_| dest_of(&s.send(&q))).collect();
    assert_eq!(picks, ["10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.11"]);
    assert_eq!(s.d.conn_count(), 0);
    assert_eq!(s.d.snapshot().services[0].stats.conns, 4);
}
