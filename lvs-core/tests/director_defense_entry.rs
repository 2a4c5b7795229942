//! `drop_entry` as the kernel's `ip_vs_random_dropentry` (beyond half-open TCP: idle
//! ESTABLISHED and UDP entries with few packets, unanswered SCTP INITs), and persistence
//! templates counted against the connection budget.

mod director_util;

use director_util::*;
use lvs_core::conn::{SctpState, TcpState};
use lvs_core::director::{DirectorConfig, DropReason, Sysctls};

/// [`config`] with the `drop_entry` defense mode `drop_entry`, a low memory threshold and a
/// table of `budget` entries.
fn defense_config(drop_entry: u8, budget: usize) -> DirectorConfig {
    DirectorConfig {
        conn_budget: budget,
        sysctls: Sysctls {
            drop_entry,
            amemthresh: 10,
            ..Sysctls::default()
        },
        ..config()
    }
}

fn sim(drop_entry: u8, budget: usize) -> Sim {
    let mut s = Sim::new(defense_config(drop_entry, budget));
    s.ipvsadm(
        "-A -t 192.0.2.10:80
         -a -t 192.0.2.10:80 -r 10.0.0.11:80 -m
         -A -u 192.0.2.10:53
         -a -u 192.0.2.10:53 -r 10.0.0.11:53 -m
         -A --sctp-service 192.0.2.10:3868
         -a --sctp-service 192.0.2.10:3868 -r 10.0.0.11:3868 -g",
    );
    s
}

fn client(n: u16) -> (&'static str, u16) {
    ("198.51.100.7", 10_000 + n)
}

/// An SCTP packet with one bodiless chunk.
fn sctp(src: (&str, u16), chunk_type: u8) -> Vec<u8> {
    sctp_in(src, ("192.0.2.10", 3868), 0, &[chunk_type, 0, 0, 4])
}

/// The mix of entries: TCP established with 2 client packets, a busy one with 10, UDP with
/// 1, SCTP (DR) established with 2.
fn populate(s: &mut Sim) {
    let v = ("192.0.2.10", 80);
    let send = |s: &mut Sim, f: Vec<u8>| assert!(matches!(s.send(&f), Out::Forward(..)));
    send(s, tcp((MAC_GW, MAC_DIR), client(1), v, 64, SYN, b""));
    send(s, tcp((MAC_GW, MAC_DIR), client(1), v, 64, ACK, b""));
    send(s, tcp((MAC_GW, MAC_DIR), client(2), v, 64, SYN, b""));
    for _ in 0..9 {
        send(s, tcp((MAC_GW, MAC_DIR), client(2), v, 64, ACK, b"x"));
    }
    send(
        s,
        udp((MAC_GW, MAC_DIR), client(3), ("192.0.2.10", 53), 64, b"q"),
    );
    send(s, sctp(client(4), 1));
    send(s, sctp(client(4), 10));
}

/// `(client port, state name)` of every connection, sorted.
fn table(s: &Sim) -> Vec<(u16, &'static str)> {
    let mut v: Vec<_> =
        s.d.conns(s.now)
            .map(|c| (c.client.1, c.state_name))
            .collect();
    v.sort();
    v
}

#[test]
fn idle_entries_with_few_packets_are_dropped_busy_ones_stay() {
    let mut s = sim(3, 10_000);
    populate(&mut s);
    let all = vec![
        (10_001, TcpState::Established.name()),
        (10_002, TcpState::Established.name()),
        (10_003, "UDP"),
        (10_004, SctpState::Established.name()),
    ];
    assert_eq!(table(&s), all);
    // Less than 60 s idle: nothing goes, though the defense runs every second.
    s.advance(59);
    assert_eq!(table(&s), all);
    // Idle long enough: the slices cover the table many times over before UDP's 300 s run
    // out. The busy connection (10 client packets) stays.
    s.advance(150);
    assert_eq!(table(&s), [(10_002, "ESTABLISHED")]);
    assert_eq!(s.counters(0, "10.0.0.11"), (1, 0));
    assert_eq!(s.counters(1, "10.0.0.11"), (0, 0));
    assert_eq!(s.counters(2, "10.0.0.11"), (0, 0));
}

#[test]
fn without_the_defense_the_same_entries_live_on() {
    let mut s = sim(0, 10_000);
    populate(&mut s);
    s.advance(209);
    assert_eq!(table(&s).len(), 4);
    // Armed (level 1) but with a roomy budget: no pressure, no drops.
    let mut s = sim(1, 10_000);
    populate(&mut s);
    s.advance(209);
    assert_eq!(table(&s).len(), 4);
    assert_eq!(s.d.sysctls().drop_entry, 1);
}

#[test]
fn unanswered_sctp_inits_are_shed_at_once() {
    let mut s = sim(3, 10_000);
    for i in 0..320 {
        let _ = s.send(&sctp(client(i), 1));
    }
    // The first defense tick runs at the first timer call: 1/32 of 320 slots.
    s.advance(0);
    assert_eq!(s.d.conn_count(), 310);
    // Answered ones (here: established by the client's COOKIE ECHO, DR) are not half-open.
    let mut s = sim(3, 10_000);
    for i in 0..320 {
        let _ = s.send(&sctp(client(i), 1));
        let _ = s.send(&sctp(client(i), 10));
    }
    s.advance(0);
    assert_eq!(s.d.conn_count(), 320);
}

#[test]
fn templates_count_against_the_budget() {
    let mut s = Sim::one_persistent_nat_dest(DirectorConfig {
        conn_budget: 10,
        ..config()
    });
    // Each new client is a template and a connection: five fit in ten entries.
    for i in 0..6u8 {
        let c = format!("198.51.100.{}", i + 1);
        let f = tcp_in((&c, 1000), ("192.0.2.10", 80), SYN, b"");
        let out = s.send(&f);
        if i < 5 {
            assert!(matches!(out, Out::Forward(..)), "client {i}: {out:?}");
        } else {
            assert_eq!(out, Out::Drop(DropReason::TableFull));
        }
    }
    let snap = s.d.snapshot();
    assert_eq!((s.d.conn_count(), snap.templates), (5, 5));
    // A connection of a known client needs no new template, but there is no room either.
    let f = tcp_in(("198.51.100.1", 1001), ("192.0.2.10", 80), SYN, b"");
    assert_eq!(s.send(&f), Out::Drop(DropReason::TableFull));
    // The SYN_RECV connections time out after 60 s; the templates (300 s) stay, so a known
    // client's next connection needs one entry and fits.
    s.advance(61);
    assert_eq!((s.d.conn_count(), s.d.snapshot().templates), (0, 5));
    for i in 1..=4u8 {
        let c = format!("198.51.100.{i}");
        let f = tcp_in((&c, 2000), ("192.0.2.10", 80), SYN, b"");
        assert!(matches!(s.send(&f), Out::Forward(..)), "client {i}");
    }
    assert_eq!(s.d.conn_count() + s.d.snapshot().templates, 9);
    // A new client needs two entries and one is free: its template takes it and the
    // connection is refused; the table never exceeds its budget.
    let f = tcp_in(("198.51.100.9", 1000), ("192.0.2.10", 80), SYN, b"");
    assert_eq!(s.send(&f), Out::Drop(DropReason::TableFull));
    assert_eq!(s.d.conn_count() + s.d.snapshot().templates, 10);
    assert_eq!(s.d.drop_counters().get(DropReason::TableFull), 3);
}

fn persistent(drop_entry: u8) -> Sim {
    Sim::one_persistent_nat_dest(defense_config(drop_entry, 10_000))
}

/// A SYN from client network `n` (a /32 each).
fn syn_from(n: u16) -> Vec<u8> {
    let c = format!("203.0.{}.{}", n / 250, n % 250 + 1);
    tcp_in((&c, 1000), ("192.0.2.10", 80), SYN, b"")
}

#[test]
fn a_dropped_half_open_connection_takes_its_unassured_template_along() {
    let mut s = persistent(3);
    for n in 0..320 {
        assert!(matches!(s.send(&syn_from(n)), Out::Forward(..)));
    }
    assert_eq!((s.d.conn_count(), s.d.snapshot().templates), (320, 320));
    // One round: 10 half-open connections go, and with them their templates (the template
    // slice of the same round only meets templates that still control a connection).
    s.advance(0);
    assert_eq!((s.d.conn_count(), s.d.snapshot().templates), (310, 310));
    let d = &s.d.snapshot().services[0].dests[0];
    assert_eq!((d.active_conns, d.persist_conns), (310, 310));
}

#[test]
fn idle_unassured_templates_go_assured_ones_stay() {
    for drop_entry in [0, 3] {
        let mut s = persistent(drop_entry);
        // 64 clients that never complete the handshake (their connections expire after
        // 60 s), and one that does before closing: its template is assured.
        for n in 0..64 {
            let _ = s.send(&syn_from(n));
        }
        let c = ("198.51.100.7", 2000);
        let v = ("192.0.2.10", 80);
        for f in [SYN, ACK, RST] {
            assert!(matches!(
                s.send(&tcp((MAC_GW, MAC_DIR), c, v, 64, f, b"")),
                Out::Forward(..)
            ));
        }
        // Before the templates' own 300 s run out.
        s.advance(290);
        assert_eq!(s.d.conn_count(), 0);
        let templates = s.d.snapshot().templates;
        if drop_entry == 0 {
            assert_eq!(templates, 65);
        } else {
            assert_eq!(templates, 1, "only the assured template is left");
            let t: Vec<_> = s.d.templates(s.now).collect();
            assert_eq!(t[0].client.0, ip("198.51.100.7"));
        }
    }
}
