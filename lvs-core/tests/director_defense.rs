//! A SYN flood against a small budget, with each DoS defense: the budget holds in every case,
//! and each defense shows its own effect.

mod director_util;

use director_util::*;
use lvs_core::conn::TcpState;
use lvs_core::director::{DirectorConfig, DropReason, Event, Sysctls};

const BUDGET: usize = 1000;

fn flood_sim(sysctls: Sysctls) -> Sim {
    let cfg = DirectorConfig {
        conn_budget: BUDGET,
        sysctls: Sysctls {
            amemthresh: 200,
            ..sysctls
        },
        ..config()
    };
    let mut s = Sim::new(cfg);
    s.ipvsadm(
        "-A -t 192.0.2.10:80
         -a -t 192.0.2.10:80 -r 10.0.0.11:80 -m",
    );
    s
}

/// 100 SYNs per second from distinct sources for `secs` seconds; asserts the budget after
/// every packet.
fn flood(s: &mut Sim, secs: u32) {
    for sec in 0..secs {
        for i in 0..100u32 {
            let n = sec * 100 + i;
            let src = format!("203.0.{}.{}", n / 250, n % 250 + 1);
            let f = tcp_in(
                (&src, 1024 + (n % 60000) as u16),
                ("192.0.2.10", 80),
                SYN,
                b"",
            );
            let _ = s.send(&f);
            assert!(s.d.conn_count() <= BUDGET);
        }
        s.advance(1);
    }
}

#[test]
fn no_defense_fills_the_budget_and_refuses_the_rest() {
    let mut s = flood_sim(Sysctls::default());
    flood(&mut s, 30);
    assert_eq!(s.d.conn_count(), BUDGET);
    assert_eq!(s.d.drop_counters().get(DropReason::TableFull), 2000);
    assert_eq!(s.counters(0, "10.0.0.11"), (1000, 0));
}

#[test]
fn drop_packet_drops_a_share_of_new_connections_under_pressure() {
    let mut s = flood_sim(Sysctls {
        drop_packet: 1,
        ..Sysctls::default()
    });
    flood(&mut s, 30);
    let dropped = s.d.drop_counters().get(DropReason::DefenseDropPacket);
    assert!(dropped > 0, "no defense drops");
    // Level 1 switched itself to 2 under pressure.
    assert_eq!(s.d.sysctls().drop_packet, 2);
    assert!(s.d.conn_count() <= BUDGET);
    let mut saw = false;
    while let Some(e) = s.d.poll_event() {
        if let Event::DefenseChanged {
            pressure: true,
            drop_rate,
            ..
        } = e
        {
            assert!(drop_rate >= 1);
            saw = true;
        }
    }
    assert!(saw);
}

#[test]
fn drop_entry_sheds_half_open_entries_each_second() {
    let mut base = flood_sim(Sysctls::default());
    flood(&mut base, 12);
    base.advance(5);
    assert_eq!(base.d.conn_count(), BUDGET);

    let mut s = flood_sim(Sysctls {
        drop_entry: 1,
        ..Sysctls::default()
    });
    flood(&mut s, 12);
    s.advance(5);
    assert!(s.d.conn_count() < BUDGET - 100, "{}", s.d.conn_count());
    // The dest counters follow the table.
    let (a, i) = s.counters(0, "10.0.0.11");
    assert_eq!((a + i) as usize, s.d.conn_count());
}

#[test]
fn secure_tcp_needs_the_real_servers_answer() {
    let c = ("198.51.100.7", 40000);
    let v = ("192.0.2.10", 80);
    for (level, want) in [(0, TcpState::Established), (3, TcpState::SynRecv)] {
        let mut s = flood_sim(Sysctls {
            secure_tcp: level,
            ..Sysctls::default()
        });
        // The defense decides on its 1-second tick.
        s.advance(1);
        s.send(&tcp_in(c, v, SYN, b"")).frame();
        s.send(&tcp_in(c, v, ACK, b"")).frame();
        let st: Vec<_> = s.d.conns(s.now).map(|c| c.state).collect();
        assert_eq!(st, [Some(want)], "secure_tcp {level}");
    }
}
