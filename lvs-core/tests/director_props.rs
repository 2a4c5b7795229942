//! The director fuzz model (`fuzz/fuzz_targets/director_ops.rs`) under proptest: random op
//! sequences with the invariants checked after every step (budget, dest counters equal to the
//! table's connections, checksums of every forwarded and originated frame).

#[path = "../../fuzz/fuzz_targets/director_ops.rs"]
mod director_ops;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn invariants_hold(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = director_ops::run(&data);
    }
}

/// A scripted run through every op kind, so the model itself is exercised deterministically.
#[test]
fn scripted_run() {
    let mut data = vec![0u8];
    for c in 0..24u8 {
        let port = c % 3;
        data.extend_from_slice(&[1, c, port, 0, 0]); // SYN
        data.extend_from_slice(&[5, 255, 0]); // reply SYN-ACK to the latest frame
        data.extend_from_slice(&[2, c, port, 1, 2]); // ACK with data
        data.extend_from_slice(&[4, c, c % 2]); // UDP
        data.extend_from_slice(&[10, c]); // IPv6 SYN
        data.extend_from_slice(&[7, c, c]); // ICMP error about a recent frame
        data.extend_from_slice(&[8, c, c, 0x40]); // mutated frame
        if c % 6 == 5 {
            data.extend_from_slice(&[11, c / 6]); // config change
            data.extend_from_slice(&[0, 40]); // 20 s
        }
    }
    // SCTP associations (rr over a NAT and a DR dest): the handshake with the server's
    // answers to the latest forwarded frame, data, the shutdown.
    for c in 0..8u8 {
        for op in [
            &[4, c, 2, 0][..], // INIT
            &[5, 255, 0],      // INIT ACK
            &[4, c, 2, 1],     // COOKIE ECHO
            &[5, 255, 1],      // COOKIE ACK
            &[4, c, 2, 2],     // DATA
            &[4, c, 2, 3],     // SHUTDOWN
            &[5, 255, 3],      // SHUTDOWN ACK
            &[4, c, 2, 4],     // SHUTDOWN COMPLETE
        ] {
            data.extend_from_slice(op);
        }
    }
    data.extend_from_slice(&[0, 255, 0, 255, 0, 255]);
    let st = director_ops::run(&data);
    assert!(st.forwarded >= 60, "{st:?}");
    assert!(st.max_conns >= 20, "{st:?}");
    assert!(st.drops > 0, "{st:?}");
}

/// Inputs the fuzzer found, kept as regressions.
const FINDINGS: &[(&str, &[u8])] = &[
    // A reply moved a connection of a deleted dest to an inactive state; the dest's counters
    // in the trash did not follow, and re-adding the dest revived them wrong.
    ("counters_1", include_bytes!("director_cases/counters_1")),
];

#[test]
fn fuzz_findings() {
    for (name, data) in FINDINGS {
        eprintln!("case {name}");
        let _ = director_ops::run(data);
    }
}
