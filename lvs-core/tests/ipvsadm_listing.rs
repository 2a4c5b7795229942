//! `ipvsadm -Lnc` and `-Ln --stats` from a director that forwarded real frames: the model is
//! read from the director (connections, states, expiry, counters), then formatted.

mod director_util;

use director_util::*;
use lvs_core::ipvsadm::{AdmState, ListFormat, NumericResolver, list_all, list_conns};

#[test]
fn connections_and_counters_come_from_the_director() {
    let mut sim = Sim::new(config());
    sim.ipvsadm("-A -t 192.0.2.110:80 -s rr\n-a -t 192.0.2.110:80 -r 10.0.0.11 -m");
    // Both services before any traffic: a config change after traffic zeroes the service
    // counters on the director branch as of this writing (reported).
    sim.ipvsadm("-A -u 192.0.2.110:53\n-a -u 192.0.2.110:53 -r 10.0.0.11 -m");
    let syn = tcp(
        (MAC_GW, MAC_DIR),
        ("192.0.2.50", 40000),
        ("192.0.2.110", 80),
        64,
        SYN,
        b"",
    );
    assert!(matches!(sim.send(&syn), Out::Forward(..)));
    sim.advance(5);
    let dns = udp(
        (MAC_GW, MAC_DIR),
        ("192.0.2.51", 5353),
        ("192.0.2.110", 53),
        64,
        b"q",
    );
    assert!(matches!(sim.send(&dns), Out::Forward(..)));
    let state = AdmState::from_director(&sim.d, Some(sim.now));
    let numeric = ListFormat {
        numeric: true,
        ..ListFormat::default()
    };
    let mut rows: Vec<String> = list_conns(&state.conns, &numeric, &NumericResolver)
        .lines()
        .map(str::to_owned)
        .collect();
    rows[2..].sort();
    // "%-3s %-6s %-11s %-18s %-18s %s": SYN_RECV re-armed to 60 s, 5 s ago; UDP 300 s.
    assert_eq!(
        rows,
        [
            "IPVS connection entries",
            "pro expire state       source             virtual            destination",
            "TCP 00:55  SYN_RECV    192.0.2.50:40000   192.0.2.110:80     10.0.0.11:80",
            "UDP 05:00  UDP         192.0.2.51:5353    192.0.2.110:53     10.0.0.11:53",
        ]
    );
    let stats = ListFormat {
        stats: true,
        ..numeric
    };
    let text = list_all(&state, &stats, &NumericResolver);
    // One 40-byte SYN (20 IP + 20 TCP) in, nothing out: "%-33s" + five "%9llu".
    assert!(
        text.contains(
            "TCP  192.0.2.110:80                      1        1        0       40        0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  -> 10.0.0.11:80                        1        1        0       40        0\n"
        ),
        "{text}"
    );
}
