//! Golden listings. The expected lines were computed from ipvsadm 1.31's printf formats
//! (`print_title`, `print_service_entry`, `print_largenum`, `print_conn`) with a C-printf
//! oracle, column by column, never copied from this crate's output.

use std::net::IpAddr;

use super::*;
use crate::director::{Director, DirectorConfig};
use crate::time::Instant;

const COMMANDS: &[&str] = &[
    "-A -t 192.0.2.110:8080 -s rr",
    "-a -t 192.0.2.110:8080 -r 172.16.0.2:8080 -m",
    "-a -t 192.0.2.110:8080 -r 172.16.0.1:8081 -m -w 3 -x 100 -y 50",
    "-A -u 192.0.2.110:53 -s sh -b sh-fallback,sh-port -p 60 -M 255.255.255.0",
    "-a -u 192.0.2.110:53 -r 10.0.0.6 -g -w 0",
    "-a -u 192.0.2.110:53 -r 10.0.0.5 -i --tun-type gue --tun-port 6080 --tun-csum",
    "-A --sctp-service 192.0.2.111:2905",
    "-A -f 7 -s mh -b mh-port",
    "-a -f 7 -r 10.0.0.7:80 -m",
    "-A -t [2001:db8::1]:443 -s wrr -p -M 64",
    "-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 2",
    "-A -u 192.0.2.112:5060 -o -s rr",
];

fn state() -> AdmState {
    let mut d = Director::new(DirectorConfig::default());
    for line in COMMANDS {
        let cmd = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        d.apply(&cmd, Instant::ZERO)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    let mut s = AdmState::from_director(&d, None);
    s.table_size = 4096;
    s
}

fn text(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn fmt() -> ListFormat {
    ListFormat {
        numeric: true,
        ..ListFormat::default()
    }
}

fn tcp_key() -> ServiceKey {
    parse_line("-D -t 192.0.2.110:8080")
        .map(|c| match c {
            Command::DeleteService(k) => k,
            _ => unreachable!(),
        })
        .unwrap()
}

/// The TCP service with big counters (>= 10^8 in every unit).
fn big_counters() -> AdmState {
    let mut s = state();
    let svc = s
        .services
        .iter_mut()
        .find(|v| v.key() == tcp_key())
        .unwrap();
    let set = |c: &mut AdmCounters, v: [u64; 5]| {
        *c = AdmCounters {
            conns: v[0],
            inpkts: v[1],
            outpkts: v[2],
            inbytes: v[3],
            outbytes: v[4],
        }
    };
    let sv = [
        5,
        123_456_789,
        99_999_999,
        1_234_567_890_123,
        150_000_000_000_000,
    ];
    let d1 = [3, 100_000_000, 999_999_999, 1_000_000_000, 99_999_999_999];
    let d2 = [2, 7, 0, 100_000_000_000, 100_000_000_000_000];
    set(&mut svc.stats, sv);
    set(&mut svc.rates, sv);
    for d in &mut svc.dests {
        let v = if d.port == 8081 { d1 } else { d2 };
        set(&mut d.stats, v);
        set(&mut d.rates, v);
    }
    s
}

const LN: &[&str] = &[
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    "TCP  192.0.2.110:8080 rr",
    "  -> 172.16.0.1:8081              Masq    3      0          0         ",
    "  -> 172.16.0.2:8080              Masq    1      0          0         ",
    "UDP  192.0.2.110:53 sh (sh-fallback,sh-port) persistent 60 mask 255.255.255.0",
    "  -> 10.0.0.5:53                  Tunnel  1      0          0         ",
    "  -> 10.0.0.6:53                  Route   0      0          0         ",
    "UDP  192.0.2.112:5060 rr ops",
    "SCTP 192.0.2.111:2905 wlc",
    "TCP  [2001:db8::1]:443 wrr persistent 300 mask 64",
    "  -> [2001:db8::10]:443           Route   2      0          0         ",
    "FWM  7 mh (mh-port)",
    "  -> 10.0.0.7:80                  Masq    1      0          0         ",
];

const STATS: &[&str] = &[
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
    "  -> RemoteAddress:Port",
    "TCP  192.0.2.110:8080                    5  123456K 99999999    1234G     150T",
    "  -> 172.16.0.1:8081                     3  100000K  999999K    1000M   99999M",
    "  -> 172.16.0.2:8080                     2        7        0     100G     100T",
];

const STATS_EXACT: &[&str] = &[
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
    "  -> RemoteAddress:Port",
    "TCP  192.0.2.110:8080                    5 123456789 99999999 1234567890123 150000000000000",
    "  -> 172.16.0.1:8081                     3 100000000 999999999 1000000000 99999999999",
    "  -> 172.16.0.2:8080                     2        7        0 100000000000 100000000000000",
];

const RATE: &[&str] = &[
    "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
    "  -> RemoteAddress:Port",
    "TCP  192.0.2.110:8080                    5  123456K 99999999    1234G     150T",
    "  -> 172.16.0.1:8081                     3 100000000 999999999    1000M   99999M",
    "  -> 172.16.0.2:8080                     2        7        0     100G     100T",
];

const THRESH: &[&str] = &[
    "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ",
    "  -> RemoteAddress:Port",
    "TCP  192.0.2.110:8080 rr",
    "  -> 172.16.0.1:8081              100        50         0          0         ",
    "  -> 172.16.0.2:8080              0          0          0          0         ",
];

const PCONN: &[&str] = &[
    "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ",
    "  -> RemoteAddress:Port",
    "UDP  192.0.2.110:53 sh (sh-fallback,sh-port) persistent 60 mask 255.255.255.0",
    "  -> 10.0.0.5:53                  1         0           0          0         ",
    "  -> 10.0.0.6:53                  0         0           0          0         ",
];

const TUNINFO: &[&str] = &[
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn",
    "UDP  192.0.2.110:53 sh (sh-fallback,sh-port) persistent 60 mask 255.255.255.0",
    "  -> 10.0.0.5:53                  Tunnel  gue:6080:+c   1      0          0         ",
    "  -> 10.0.0.6:53                  Route   n/a           0      0          0         ",
];

const SAVE: &[&str] = &[
    "-A -t 192.0.2.110:8080 -s rr",
    "-a -t 192.0.2.110:8080 -r 172.16.0.1:8081 -m -w 3",
    "-a -t 192.0.2.110:8080 -r 172.16.0.2:8080 -m -w 1",
    "-A -u 192.0.2.110:53 -s sh -p 60 -M 255.255.255.0 -b sh-fallback,sh-port",
    "-a -u 192.0.2.110:53 -r 10.0.0.5:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
    "-a -u 192.0.2.110:53 -r 10.0.0.6:53 -g -w 0",
    "-A -u 192.0.2.112:5060 -s rr -o",
    "-A --sctp-service 192.0.2.111:2905 -s wlc",
    "-A -t [2001:db8::1]:443 -s wrr -p 300 -M 64",
    "-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 2",
    "-A -f 7 -s mh -b mh-port",
    "-a -f 7 -r 10.0.0.7:80 -m -w 1",
];

const CONNS: &[&str] = &[
    "IPVS connection entries",
    "pro expire state       source             virtual            destination",
    "TCP 14:59  ESTABLISHED 198.51.100.7:40000 192.0.2.110:8080   172.16.0.1:8081",
    "UDP 100:00 UDP         [2001:db8:ffff::1234]:5353 [2001:db8::1]:53   [2001:db8::10]:53",
];

const CONNS_PE_HEADER: &[&str] = &[
    "IPVS connection entries",
    "pro expire state       source             virtual            destination        pe name          pe_data",
];

const NAMES: &[&str] = &[
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    "TCP  www.example.com:http-alt rr",
    "  -> realserver-one.dc1.example.n Masq    3      0          0         ",
    "  -> 172.16.0.2:http-alt          Masq    1      0          0         ",
];

#[test]
fn list_numeric_all_services_sorted() {
    assert_eq!(list_all(&state(), &fmt(), &NumericResolver), text(LN));
}

#[test]
fn list_nosort_keeps_kernel_order() {
    let f = ListFormat {
        nosort: true,
        ..fmt()
    };
    let out = list_all(&state(), &f, &NumericResolver);
    let heads: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("  ->"))
        .skip(2)
        .collect();
    assert_eq!(heads[0], "TCP  192.0.2.110:8080 rr");
    assert_eq!(
        heads[1],
        "UDP  192.0.2.110:53 sh (sh-fallback,sh-port) persistent 60 mask 255.255.255.0"
    );
    assert_eq!(heads[2], "SCTP 192.0.2.111:2905 wlc");
    // Dests newest first, as the kernel lists them.
    assert!(out.contains("rr\n  -> 172.16.0.1:8081"));
}

#[test]
fn stats_and_rates_with_large_numbers() {
    let s = big_counters();
    let svc = s.service(&tcp_key()).unwrap();
    let stats = ListFormat {
        stats: true,
        ..fmt()
    };
    assert_eq!(list_service(svc, &stats, &NumericResolver), text(STATS));
    let exact = ListFormat {
        exact: true,
        ..stats
    };
    assert_eq!(
        list_service(svc, &exact, &NumericResolver),
        text(STATS_EXACT)
    );
    let rate = ListFormat {
        rate: true,
        ..fmt()
    };
    assert_eq!(list_service(svc, &rate, &NumericResolver), text(RATE));
}

#[test]
fn thresholds_persistent_conn_and_tun_info() {
    let s = state();
    let svc = s.service(&tcp_key()).unwrap();
    let f = ListFormat {
        thresholds: true,
        ..fmt()
    };
    assert_eq!(list_service(svc, &f, &NumericResolver), text(THRESH));
    let udp = s.services.iter().find(|v| v.port == 53).unwrap();
    let f = ListFormat {
        persistent_conn: true,
        ..fmt()
    };
    assert_eq!(list_service(udp, &f, &NumericResolver), text(PCONN));
    let f = ListFormat {
        tun_info: true,
        ..fmt()
    };
    assert_eq!(list_service(udp, &f, &NumericResolver), text(TUNINFO));
}

#[test]
fn save_numeric() {
    assert_eq!(save(&state(), true, &NumericResolver), text(SAVE));
}

#[test]
fn save_reads_back_to_the_same_state() {
    let first = state();
    let mut d = Director::new(DirectorConfig::default());
    for line in save(&first, true, &NumericResolver).lines() {
        d.apply(&parse_line(line).unwrap(), Instant::ZERO).unwrap();
    }
    let mut again = AdmState::from_director(&d, None);
    again.table_size = 4096;
    // ipvsadm -S drops thresholds: everything else must match.
    let mut expect = first.clone();
    for d in expect.services.iter_mut().flat_map(|s| s.dests.iter_mut()) {
        d.u_threshold = 0;
        d.l_threshold = 0;
    }
    assert_eq!(
        list_all(
            &again,
            &ListFormat {
                tun_info: true,
                ..fmt()
            },
            &NumericResolver
        ),
        list_all(
            &expect,
            &ListFormat {
                tun_info: true,
                ..fmt()
            },
            &NumericResolver
        )
    );
    assert_eq!(save(&again, true, &NumericResolver), text(SAVE));
}

#[test]
fn connections_and_timeouts_and_daemons() {
    let conns = vec![
        AdmConn {
            protocol: 6,
            caddr: "198.51.100.7".parse().unwrap(),
            cport: 40000,
            vaddr: "192.0.2.110".parse().unwrap(),
            vport: 8080,
            daddr: "172.16.0.1".parse().unwrap(),
            dport: 8081,
            state: "ESTABLISHED".into(),
            expires: 899,
        },
        AdmConn {
            protocol: 17,
            caddr: "2001:db8:ffff::1234".parse().unwrap(),
            cport: 5353,
            vaddr: "2001:db8::1".parse().unwrap(),
            vport: 53,
            daddr: "2001:db8::10".parse().unwrap(),
            dport: 53,
            state: "UDP".into(),
            expires: 6000,
        },
    ];
    assert_eq!(list_conns(&conns, &fmt(), &NumericResolver), text(CONNS));
    let pe = ListFormat {
        persistent_conn: true,
        ..fmt()
    };
    assert_eq!(
        list_conns(&[], &pe, &NumericResolver),
        text(CONNS_PE_HEADER)
    );
    assert_eq!(
        list_timeout((900, 120, 300)),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    let daemons = [
        AdmDaemon {
            master: true,
            mcast_ifn: "eth0".into(),
            syncid: 7,
            sync_maxlen: 1472,
            mcast_group: Some("224.0.0.81".parse().unwrap()),
            mcast_port: 8848,
            mcast_ttl: 1,
        },
        AdmDaemon {
            master: false,
            mcast_ifn: "eth1".into(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        },
    ];
    assert_eq!(
        list_daemon(&daemons),
        "master sync daemon (mcast=eth0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
         backup sync daemon (mcast=eth1, syncid=0)\n"
    );
}

struct Names;

impl Resolver for Names {
    fn host(&self, addr: IpAddr) -> Option<String> {
        match addr.to_string().as_str() {
            "192.0.2.110" => Some("www.example.com".into()),
            "172.16.0.1" => Some("realserver-one.dc1.example.net".into()),
            _ => None,
        }
    }
    fn service(&self, port: u16, protocol: Protocol) -> Option<String> {
        (port == 8080 && protocol == Protocol::Tcp).then(|| "http-alt".into())
    }
}

#[test]
fn names_without_numeric_are_resolved_and_cut_to_28_columns() {
    let mut s = state();
    s.services.retain(|v| v.key() == tcp_key());
    assert_eq!(list_all(&s, &ListFormat::default(), &Names), text(NAMES));
}

#[test]
fn json_round_trip() {
    let s = big_counters();
    let back: AdmState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn sort_keeps_ipvsadm_wrapping_comparison() {
    // ipvs_cmp_services subtracts addresses into an int: 200.0.0.1 - 10.0.0.1 is negative.
    let mut d = Director::new(DirectorConfig::default());
    for line in [
        "-A -t 10.0.0.1:80",
        "-A -t 200.0.0.1:80",
        "-A -t 11.0.0.1:80",
    ] {
        d.apply(&parse_line(line).unwrap(), Instant::ZERO).unwrap();
    }
    let out = save(&AdmState::from_director(&d, None), true, &NumericResolver);
    assert_eq!(
        out,
        "-A -t 200.0.0.1:80 -s wlc\n-A -t 10.0.0.1:80 -s wlc\n-A -t 11.0.0.1:80 -s wlc\n"
    );
}

const NAMES2: &[&str] = &[
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    "TCP  a-rather-long-frontend-name. wlc persistent 300 pe sip",
    "  -> 10.1.2.3:https               Route   1      0          0         ",
    "FWM  42 IPv6 mh (mh-fallback,mh-port)",
    "  -> [v6-backend.example.net]:8443 Tunnel  1      0          0         ",
];

const SAVE_NAMES: &[&str] = &[
    "-A -t a-rather-long-frontend-name.example.org:https -s wlc -p 300 --pe sip",
    "-a -t a-rather-long-frontend-name.example.org:https -r 10.1.2.3:https -g -w 1",
    "-A -f 42 -6 -s mh -b mh-fallback,mh-port",
    "-a -f 42 -6 -r [v6-backend.example.net]:8443 -i -w 1 --tun-type ipip",
];

const RATE_EXACT: &[&str] = &[
    "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
    "  -> RemoteAddress:Port",
    "TCP  198.51.100.200:443                  1        2        3        4        5",
    "  -> 10.1.2.3:443                 123456789012        7        8 100000000 200000000000",
];

const CONNS_NAMES: &[&str] = &[
    "IPVS connection entries",
    "pro expire state       source             virtual            destination        pe name          pe_data",
    "TCP 00:05  SYN_RECV    192.0.2.77:1234    a-rather-long-frontend-name.example.org:https 10.1.2.3:https",
];

struct Names2;

impl Resolver for Names2 {
    fn host(&self, addr: IpAddr) -> Option<String> {
        match addr.to_string().as_str() {
            "198.51.100.200" => Some("a-rather-long-frontend-name.example.org".into()),
            "2001:db8::abcd" => Some("v6-backend.example.net".into()),
            _ => None,
        }
    }
    fn service(&self, port: u16, protocol: Protocol) -> Option<String> {
        match (port, protocol) {
            (443, Protocol::Tcp) => Some("https".into()),
            // Never asked for: fwmark services have no protocol to look ports up with.
            (8443, _) => Some("pcsync-https".into()),
            _ => None,
        }
    }
}

fn state2() -> AdmState {
    let mut d = Director::new(DirectorConfig::default());
    for line in [
        "-A -t 198.51.100.200:443 -p --pe sip",
        "-a -t 198.51.100.200:443 -r 10.1.2.3",
        "-A -f 42 -6 -s mh -b mh-fallback,mh-port",
        "-a -f 42 -6 -r [2001:db8::abcd]:8443 -i",
    ] {
        d.apply(&parse_line(line).unwrap(), Instant::ZERO).unwrap();
    }
    let mut s = AdmState::from_director(&d, None);
    s.table_size = 4096;
    s
}

#[test]
fn names_cut_services_at_33_and_skip_ports_of_fwmark_services() {
    let s = state2();
    assert_eq!(list_all(&s, &ListFormat::default(), &Names2), text(NAMES2));
    assert_eq!(save(&s, false, &Names2), text(SAVE_NAMES));
}

#[test]
fn rate_exact_and_connections_with_names() {
    let mut s = state2();
    let svc = &mut s.services[0];
    svc.rates = AdmCounters {
        conns: 1,
        inpkts: 2,
        outpkts: 3,
        inbytes: 4,
        outbytes: 5,
    };
    svc.dests[0].rates = AdmCounters {
        conns: 123_456_789_012,
        inpkts: 7,
        outpkts: 8,
        inbytes: 100_000_000,
        outbytes: 200_000_000_000,
    };
    let f = ListFormat {
        rate: true,
        exact: true,
        ..fmt()
    };
    assert_eq!(
        list_service(&s.services[0], &f, &NumericResolver),
        text(RATE_EXACT)
    );
    let conn = AdmConn {
        protocol: 6,
        caddr: "192.0.2.77".parse().unwrap(),
        cport: 1234,
        vaddr: "198.51.100.200".parse().unwrap(),
        vport: 443,
        daddr: "10.1.2.3".parse().unwrap(),
        dport: 443,
        state: "SYN_RECV".into(),
        expires: 5,
    };
    let f = ListFormat {
        persistent_conn: true,
        ..ListFormat::default()
    };
    assert_eq!(list_conns(&[conn], &f, &Names2), text(CONNS_NAMES));
}

#[test]
fn merge_adds_up_workers() {
    let mut a = big_counters();
    let mut b = big_counters();
    b.services[0].dests[0].active_conns = 4;
    b.conns.push(AdmConn {
        protocol: 17,
        caddr: "192.0.2.1".parse().unwrap(),
        cport: 1,
        vaddr: "192.0.2.110".parse().unwrap(),
        vport: 53,
        daddr: "10.0.0.5".parse().unwrap(),
        dport: 53,
        state: "UDP".into(),
        expires: 1,
    });
    b.services.retain(|s| s.key() == tcp_key());
    a.merge(&b);
    let svc = a.service(&tcp_key()).unwrap();
    assert_eq!(svc.stats.inpkts, 2 * 123_456_789);
    assert_eq!(svc.dests[0].active_conns, 4);
    assert_eq!(
        (a.table_size, a.conns.len(), a.services.len()),
        (8192, 1, 6)
    );
}
