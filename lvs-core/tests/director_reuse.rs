//! A new SYN on the client port of an existing connection (`ip_vs_in_hook` of kernel 5.16+):
//! `is_new_conn_expected` (TIME_WAIT, CLOSE, FIN_WAIT without replies), connections controlled
//! by a persistence template, and `expire_nodest_conn` independent of `conn_reuse_mode`.

mod director_util;

use director_util::*;
use lvs_core::conn::TcpState;
use lvs_core::director::{DropReason, Sysctls};

const VIP: &str = "192.0.2.10";
const CLIENT: (&str, u16) = ("198.51.100.7", 40000);

fn from_client(f: Flags) -> Vec<u8> {
    tcp_in(CLIENT, (VIP, 80), f, b"")
}

/// One rr service with two masqueraded dests (rr picks .12 first, the newest) and `sysctls`.
fn two_dests(extra: &str, sysctls: Sysctls) -> Sim {
    let mut s = Sim::new(config());
    s.d.set_sysctls(sysctls);
    s.add_two_nat_dests(extra);
    s
}

/// The client's connection: SYN and ACK, to .12.
fn establish(s: &mut Sim) {
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.12");
    s.send(&from_client(ACK)).frame();
    assert_eq!(only_state(s), Some(TcpState::Established));
}

/// The TCP connections in the table (templates left out), as (dest address, state).
fn tcp_conns(s: &Sim) -> Vec<(String, Option<TcpState>)> {
    s.d.conns(s.now)
        .filter(|c| !c.template)
        .map(|c| (c.dest.0.to_string(), c.state))
        .collect()
}

#[test]
fn syn_on_close_is_rescheduled() {
    let mut s = two_dests("", Sysctls::default());
    establish(&mut s);
    // The client resets: ESTABLISHED -> CLOSE (10 s).
    assert_eq!(dest_of(&s.send(&from_client(RST))), "10.0.0.12");
    assert_eq!(only_state(&s), Some(TcpState::Close));
    // The same port again: `is_new_conn_expected` holds for CLOSE, the next rr pick.
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.11");
    assert_eq!(
        tcp_conns(&s),
        [("10.0.0.11".to_string(), Some(TcpState::SynRecv))]
    );
    assert_eq!(s.counters(0, "10.0.0.12"), (0, 0));
    assert_eq!(s.counters(0, "10.0.0.11"), (1, 0));
    assert_eq!(s.d.snapshot().services[0].stats.conns, 2);

    // conn_reuse_mode 0: no special handling, the SYN takes the old connection.
    let mut s = two_dests(
        "",
        Sysctls {
            conn_reuse_mode: 0,
            ..Sysctls::default()
        },
    );
    establish(&mut s);
    s.send(&from_client(RST)).frame();
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.12");
    assert_eq!(
        tcp_conns(&s),
        [("10.0.0.12".to_string(), Some(TcpState::SynRecv))]
    );
    assert_eq!(s.d.snapshot().services[0].stats.conns, 1);
}

#[test]
fn syn_on_a_persistent_connection_keeps_it() {
    let mut s = two_dests("-p 60", Sysctls::default());
    establish(&mut s);
    let fin = from_client(FINACK);
    s.send(&fin).frame();
    let fin_out = tcp_from_rs(MAC_RS2, ("10.0.0.12", 80), CLIENT, FINACK, b"");
    s.send(&fin_out).frame();
    assert_eq!(
        tcp_conns(&s),
        [("10.0.0.12".to_string(), Some(TcpState::TimeWait))]
    );
    // A template controls the connection (`cp->control`): no rescheduling, the SYN moves
    // the old connection on (TIME_WAIT -> SYN_RECV) and no connection is created.
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.12");
    assert_eq!(
        tcp_conns(&s),
        [("10.0.0.12".to_string(), Some(TcpState::SynRecv))]
    );
    assert_eq!(s.d.snapshot().services[0].stats.conns, 1);
    assert_eq!(s.d.snapshot().templates, 1);

    // Also with `expire_nodest_conn` and the dest quiesced: the controlled connection
    // drains on its weight-0 dest.
    let mut s = two_dests(
        "-p 60",
        Sysctls {
            expire_nodest_conn: true,
            ..Sysctls::default()
        },
    );
    establish(&mut s);
    s.ipvsadm("-e -t 192.0.2.10:80 -r 10.0.0.12:80 -m -w 0");
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.12");
    assert_eq!(tcp_conns(&s).len(), 1);
    assert_eq!(s.d.snapshot().services[0].stats.conns, 1);
}

#[test]
fn expire_nodest_conn_reschedules_with_conn_reuse_mode_0() {
    let sys = Sysctls {
        expire_nodest_conn: true,
        conn_reuse_mode: 0,
        ..Sysctls::default()
    };
    let mut s = two_dests("", sys.clone());
    establish(&mut s);
    s.ipvsadm("-e -t 192.0.2.10:80 -r 10.0.0.12:80 -m -w 0");
    // The flow itself continues on the quiesced dest.
    assert_eq!(dest_of(&s.send(&from_client(ACK))), "10.0.0.12");
    // A new SYN on the port: the old connection expires, the SYN goes to a dest with weight.
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.11");
    assert_eq!(
        tcp_conns(&s),
        [("10.0.0.11".to_string(), Some(TcpState::SynRecv))]
    );
    assert_eq!(s.counters(0, "10.0.0.12"), (0, 0));

    // Without expire_nodest_conn the SYN stays on the quiesced dest.
    let mut s = two_dests(
        "",
        Sysctls {
            expire_nodest_conn: false,
            ..sys
        },
    );
    establish(&mut s);
    s.ipvsadm("-e -t 192.0.2.10:80 -r 10.0.0.12:80 -m -w 0");
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.12");
    assert_eq!(only_state(&s), Some(TcpState::Established));
    assert_eq!(s.counters(0, "10.0.0.12"), (1, 0));
}

#[test]
fn deleted_dest_with_expire_nodest_conn_reschedules_a_syn() {
    let mut s = two_dests("", Sysctls::default());
    establish(&mut s);
    s.ipvsadm("-d -t 192.0.2.10:80 -r 10.0.0.12:80");
    // Without the sysctl: dropped, the connection stays.
    assert_eq!(
        s.send(&from_client(SYN)),
        Out::Drop(DropReason::DestDeleted)
    );
    assert_eq!(tcp_conns(&s).len(), 1);
    // With it: the connection goes at once and the SYN is scheduled afresh (kernel 5.9+
    // without a confirmed conntrack entry).
    s.d.set_sysctls(Sysctls {
        expire_nodest_conn: true,
        ..Sysctls::default()
    });
    assert_eq!(dest_of(&s.send(&from_client(SYN))), "10.0.0.11");
    assert_eq!(
        tcp_conns(&s),
        [("10.0.0.11".to_string(), Some(TcpState::SynRecv))]
    );

    // A UDP flow whose dest was deleted while the sysctl was off: its next datagram, once
    // the sysctl is on, expires the entry and is scheduled afresh.
    let q = udp_in(("198.51.100.7", 5353), (VIP, 53), b"q");
    let mut u = Sim::new(config());
    u.ipvsadm(
        "-A -u 192.0.2.10:53 -s rr
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m
         -a -u 192.0.2.10:53 -r 10.0.0.12:53 -m",
    );
    assert_eq!(dest_of(&u.send(&q)), "10.0.0.12");
    u.ipvsadm("-d -u 192.0.2.10:53 -r 10.0.0.12:53");
    assert_eq!(u.send(&q), Out::Drop(DropReason::DestDeleted));
    u.d.set_sysctls(Sysctls {
        expire_nodest_conn: true,
        ..Sysctls::default()
    });
    assert_eq!(dest_of(&u.send(&q)), "10.0.0.11");
    assert_eq!(u.d.conn_count(), 1);
}
