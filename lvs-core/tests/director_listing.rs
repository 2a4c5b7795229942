//! `ipvsadm -Lnc` lists persistence templates as the kernel lists its template entries:
//! state NONE (ASSURED once a connection under it was established), client network and port 0, the service's port and the real server's port for
//! a template of the service's own port, ports 0 for port-0 services, and protocol IP with the
//! mark as the virtual address for fwmark services.

mod director_util;

use director_util::*;
use lvs_core::ipvsadm::{AdmState, ListFormat, NumericResolver, list_conns};

/// The connection rows (after the two title lines), sorted.
fn rows(s: &Sim) -> Vec<String> {
    let st = AdmState::from_director(&s.d, Some(s.now));
    let f = ListFormat {
        numeric: true,
        ..ListFormat::default()
    };
    let mut v: Vec<String> = list_conns(&st.conns, &f, &NumericResolver)
        .lines()
        .skip(2)
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn templates_of_an_inet_service_with_a_netmask() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -t 192.0.2.10:80 -p 300 -M 255.255.255.0
         -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m",
    );
    let f = tcp_in(("198.51.100.7", 40000), ("192.0.2.10", 80), SYN, b"");
    assert!(matches!(s.send(&f), Out::Forward(..)));
    s.advance(10);
    assert_eq!(
        rows(&s),
        [
            "TCP 00:50  SYN_RECV    198.51.100.7:40000 192.0.2.10:80      10.0.0.11:8080",
            "TCP 04:50  NONE        198.51.100.0:0     192.0.2.10:80      10.0.0.11:8080",
        ]
    );
    let t: Vec<_> = s.d.templates(s.now).collect();
    assert_eq!(t.len(), 1);
    assert!(t[0].template && t[0].state.is_none() && t[0].sctp_state.is_none());
    // The template outlives its connection (60 s) and goes at its own timeout.
    s.advance(51);
    assert_eq!(
        rows(&s),
        ["TCP 03:59  NONE        198.51.100.0:0     192.0.2.10:80      10.0.0.11:8080"]
    );
    s.advance(240);
    assert!(rows(&s).is_empty());
}

#[test]
fn templates_of_a_port_zero_service_have_ports_zero() {
    let mut s = Sim::new(config());
    s.ipvsadm(
        "-A -u 192.0.2.10:0 -p 60
         -a -u 192.0.2.10:0 -r 10.0.0.11 -m",
    );
    let f = udp(
        (MAC_GW, MAC_DIR),
        ("198.51.100.7", 5353),
        ("192.0.2.10", 53),
        64,
        b"q",
    );
    assert!(matches!(s.send(&f), Out::Forward(..)));
    assert_eq!(
        rows(&s),
        [
            "UDP 01:00  NONE        198.51.100.7:0     192.0.2.10:0       10.0.0.11:0",
            "UDP 05:00  UDP         198.51.100.7:5353  192.0.2.10:53      10.0.0.11:53",
        ]
    );
}

#[test]
fn fwmark_templates_show_protocol_ip_and_the_mark() {
    let mut s = Sim::new(fwmark_config(7));
    s.ipvsadm(
        "-A -f 7 -p 120
         -a -f 7 -r 10.0.0.11 -g",
    );
    let f = tcp_in(("198.51.100.7", 40000), ("192.0.2.20", 8080), SYN, b"");
    assert!(matches!(s.send(&f), Out::Forward(..)));
    assert_eq!(
        rows(&s),
        [
            "IP  02:00  NONE        198.51.100.7:0     0.0.0.7:0          10.0.0.11:0",
            "TCP 01:00  SYN_RECV    198.51.100.7:40000 192.0.2.20:8080    10.0.0.11:8080",
        ]
    );
}

#[test]
fn an_established_connection_assures_its_template() {
    let mut s = Sim::one_persistent_nat_dest(config());
    let c = ("198.51.100.7", 40000);
    let v = ("192.0.2.10", 80);
    assert!(matches!(
        s.send(&tcp((MAC_GW, MAC_DIR), c, v, 64, SYN, b"")),
        Out::Forward(..)
    ));
    assert!(matches!(
        s.send(&tcp((MAC_GW, MAC_DIR), c, v, 64, ACK, b"")),
        Out::Forward(..)
    ));
    assert_eq!(
        rows(&s),
        [
            "TCP 05:00  ASSURED     198.51.100.7:0     192.0.2.10:80      10.0.0.11:80",
            "TCP 15:00  ESTABLISHED 198.51.100.7:40000 192.0.2.10:80      10.0.0.11:80",
        ]
    );
}
