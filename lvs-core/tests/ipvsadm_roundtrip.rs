//! Every command the parser can produce is written back (`Display`, the `ipvsadm -S` shape) as
//! words that parse to the same command.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::ipvsadm::{
    AddressFamily, Command, DestConfig, FwdMethod, MAX_TIMEOUT, Netmask, Protocol, SchedFlags,
    ServiceConfig, ServiceKey, TunnelConfig, TunnelCsum, TunnelType, parse_line,
};
use lvs_core::sched::SCHEDULER_NAMES;
use proptest::prelude::*;

fn addr(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        any::<u128>()
            .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            .boxed()
    } else {
        any::<u32>()
            .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            .boxed()
    }
}

fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (
            prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Sctp)
            ],
            any::<bool>(),
            any::<u16>()
        )
            .prop_flat_map(|(protocol, v6, port)| {
                addr(v6).prop_map(move |addr| ServiceKey::Inet {
                    protocol,
                    addr,
                    port,
                })
            }),
        (1..=u32::MAX, any::<bool>()).prop_map(|(mark, v6)| ServiceKey::Fwmark {
            mark,
            af: if v6 {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
        }),
    ]
}

fn service_config(key: ServiceKey) -> impl Strategy<Value = ServiceConfig> {
    let fwmark = matches!(key, ServiceKey::Fwmark { .. });
    let udp = matches!(
        key,
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            ..
        }
    );
    let need_persistence = !fwmark && key.port() == 0;
    (
        prop::sample::select(SCHEDULER_NAMES.to_vec()),
        proptest::option::of(1..=MAX_TIMEOUT),
        any::<u32>(),
        1u8..=128,
        any::<bool>(),
        0u32..8,
        any::<bool>(),
    )
        .prop_map(
            move |(sched, persistent, m4, m6, ops, flags, pe)| ServiceConfig {
                scheduler: sched.to_owned(),
                persistent: if need_persistence {
                    Some(persistent.unwrap_or(300))
                } else {
                    persistent
                },
                netmask: match key.af() {
                    AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(m4)),
                    AddressFamily::Inet6 => Netmask::V6(m6),
                },
                one_packet: ops && (fwmark || udp),
                sched_flags: SchedFlags::from_bits_truncate(flags << 3),
                pe: pe.then(|| "sip".to_owned()),
            },
        )
}

fn dest_config(key: ServiceKey) -> impl Strategy<Value = DestConfig> {
    let fwmark = matches!(key, ServiceKey::Fwmark { .. });
    (
        prop_oneof![
            Just(FwdMethod::Masq),
            Just(FwdMethod::Tunnel),
            Just(FwdMethod::Route)
        ],
        any::<bool>(),
        any::<u16>(),
        0u32..=65535,
        0u32..=i32::MAX as u32,
        0u32..=i32::MAX as u32,
        0u8..3,
        1u16..,
        0u8..3,
    )
        .prop_flat_map(
            move |(fwd, other_af, port, weight, u, l, kind, tport, csum)| {
                let v6 =
                    (key.af() == AddressFamily::Inet6) != (other_af && fwd == FwdMethod::Tunnel);
                addr(v6).prop_map(move |addr| {
                    let kind =
                        [TunnelType::Ipip, TunnelType::Gue, TunnelType::Gre][usize::from(kind)];
                    let csum = match (kind, csum) {
                        (TunnelType::Ipip, _) | (_, 0) => TunnelCsum::NoCsum,
                        (_, 1) => TunnelCsum::Csum,
                        (TunnelType::Gre, _) => TunnelCsum::Csum,
                        _ => TunnelCsum::RemCsum,
                    };
                    let tunnel = match fwd {
                        FwdMethod::Tunnel => TunnelConfig {
                            kind,
                            port: if kind == TunnelType::Gue { tport } else { 0 },
                            csum,
                        },
                        _ => TunnelConfig::default(),
                    };
                    let forced = !fwmark && matches!(fwd, FwdMethod::Tunnel | FwdMethod::Route);
                    DestConfig {
                        addr,
                        port: if forced { key.port() } else { port },
                        fwd,
                        weight,
                        u_threshold: u,
                        l_threshold: l,
                        tunnel,
                    }
                })
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    service_key().prop_flat_map(|key| {
        prop_oneof![
            service_config(key).prop_map(move |c| Command::AddService(key, c)),
            service_config(key).prop_map(move |c| Command::EditService(key, c)),
            Just(Command::DeleteService(key)),
            Just(Command::Clear),
            dest_config(key).prop_map(move |d| Command::AddDest(key, d)),
            dest_config(key).prop_map(move |d| Command::EditDest(key, d)),
            (addr(key.af() == AddressFamily::Inet6), any::<u16>())
                .prop_map(move |(a, p)| Command::DeleteDest(key, a, p)),
        ]
    })
}

proptest! {
    #[test]
    fn display_parses_back(cmd in command()) {
        let text = cmd.to_string();
        prop_assert_eq!(parse_line(&text), Ok(cmd), "{}", text);
    }
}

#[test]
fn save_shapes() {
    let cases = [
        "-A -t 192.0.2.1:80 -s wlc",
        "-A -u [2001:db8::1]:53 -s sh -p 60 -M 64 -o -b sh-fallback,sh-port",
        "-E -f 7 -6 -s mh -p 300 --pe sip -b mh-port",
        "-A -t 192.0.2.1:0 -s rr -p 300 -M 255.255.255.0",
        "-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -m -w 3",
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum -x 10 -y 5",
        "-a -f 7 -r 10.0.0.1:0 -g -w 0",
        "-d -t 192.0.2.1:80 -r 10.0.0.1:8080",
        "-D -t 192.0.2.1:80",
        "-C",
    ];
    for line in cases {
        assert_eq!(parse_line(line).unwrap().to_string(), line);
    }
}

proptest! {
    /// Any line is an answer or an error, never a panic.
    #[test]
    fn parse_line_never_panics(words in prop::collection::vec(
        prop_oneof![
            "-[AEDCaedLZSRhv6gimo]{1,3}",
            "--[a-z-]{2,16}(=[a-z0-9.:]{0,6})?",
            "[0-9.:\\[\\]a-f]{0,20}",
            prop::sample::select(vec!["-t", "-u", "-f", "-r", "-p", "-M", "-w", "-x", "-y", "-s", "-b", "--tun-type", "--tun-port"]).prop_map(str::to_owned),
        ],
        0..10,
    )) {
        let _ = parse_line(&words.join(" "));
    }
}
