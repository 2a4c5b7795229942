//! `ipvsadm -S -n | ipvsadm -R` reproduces the state, for random configurations: every
//! service form (TCP/UDP/SCTP, IPv4/IPv6, fwmark), schedulers with their flags, persistence
//! with masks, one-packet scheduling, every forwarding method and tunnel type, weights.

use lvs_core::director::{Director, DirectorConfig};
use lvs_core::ipvsadm::{
    AdmState, ListFormat, NumericResolver, list_all, parse_line, restore_lines, save,
};
use lvs_core::time::Instant;
use proptest::prelude::*;

fn service() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..3usize, 1..4u8, 1..3u16).prop_map(|(p, a, port)| {
            let proto = ["-t", "-u", "--sctp-service"][p];
            format!("{proto} 192.0.2.{a}:{}", port * 80)
        }),
        (0..2usize, 1..3u8).prop_map(|(p, a)| format!("{} [2001:db8::{a}]:443", ["-t", "-u"][p])),
        (1..3u32, any::<bool>())
            .prop_map(|(m, v6)| format!("-f {m}{}", if v6 { " -6" } else { "" })),
    ]
}

fn service_opts() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("-s rr"),
            Just("-s wlc"),
            Just("-s sh -b sh-fallback,sh-port"),
            Just("-s sh -b sh-port"),
            Just("-s mh -b mh-fallback"),
            Just("-s wrr -b flag-3"),
        ],
        prop_oneof![
            Just(""),
            Just(" -p"),
            Just(" -p 60 -M 255.255.255.0"),
            Just(" -p 90 -M 64")
        ],
        any::<bool>(),
    )
        .prop_map(|(s, p, o)| format!("{s}{p}{}", if o { " -o" } else { "" }))
}

fn dest_opts() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("-m"),
            Just("-g"),
            Just("-i"),
            Just("-i --tun-type gue --tun-port 6080 --tun-remcsum"),
            Just("-i --tun-type gre --tun-csum"),
        ],
        0..5u32,
    )
        .prop_map(|(f, w)| format!("{f} -w {w}"))
}

fn commands() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            (service(), service_opts()).prop_map(|(s, o)| format!("-A {s} {o}")),
            (service(), service_opts()).prop_map(|(s, o)| format!("-E {s} {o}")),
            (service(), 1..4u8, 0..2u16, dest_opts())
                .prop_map(|(s, a, p, o)| { format!("-a {s} -r 10.0.0.{a}:{} {o}", 8080 + p) }),
            (service(), 1..3u8, dest_opts())
                .prop_map(|(s, a, o)| format!("-a {s} -r [2001:db8:1::{a}]:8080 {o}")),
            (service(), 1..4u8).prop_map(|(s, a)| format!("-d {s} -r 10.0.0.{a}:8080")),
            service().prop_map(|s| format!("-D {s}")),
        ],
        1..40,
    )
}

fn dump(d: &Director) -> (String, String) {
    let state = AdmState::from_director(d, None);
    let f = ListFormat {
        numeric: true,
        tun_info: true,
        ..ListFormat::default()
    };
    (
        save(&state, true, &NumericResolver),
        list_all(&state, &f, &NumericResolver),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn save_then_restore_is_the_identity(lines in commands()) {
        let mut a = Director::new(DirectorConfig::default());
        for l in &lines {
            // Refused commands (bad combinations, missing services) are part of the game.
            if let Ok(cmd) = parse_line(l) {
                let _ = a.apply(&cmd, Instant::ZERO);
            }
        }
        let (saved, listed) = dump(&a);
        let mut b = Director::new(DirectorConfig::default());
        for words in restore_lines(&saved) {
            let line = words.join(" ");
            let cmd = parse_line(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            b.apply(&cmd, Instant::ZERO).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let (saved_b, listed_b) = dump(&b);
        prop_assert_eq!(saved_b, saved);
        prop_assert_eq!(listed_b, listed);
    }
}
