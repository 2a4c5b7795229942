//! ipvsadm grammar: every service/server option, defaults, quirks and error texts, worked out
//! from ipvsadm 1.31's `ipvsadm.c`.

use std::net::{IpAddr, Ipv4Addr};

use lvs_core::ipvsadm::{
    AddressFamily, Command, DestConfig, FwdMethod, IpvsadmError, Netmask, Protocol, SchedFlags,
    ServiceConfig, ServiceKey, TunnelConfig, TunnelCsum, TunnelType, parse_args, parse_line,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip(addr),
        port,
    }
}

fn err(line: &str) -> String {
    parse_line(line).unwrap_err().to_string()
}

fn service(line: &str) -> (ServiceKey, ServiceConfig) {
    match parse_line(line).unwrap() {
        Command::AddService(k, c) | Command::EditService(k, c) => (k, c),
        other => panic!("not a service command: {other:?}"),
    }
}

fn dest(line: &str) -> (ServiceKey, DestConfig) {
    match parse_line(line).unwrap() {
        Command::AddDest(k, d) | Command::EditDest(k, d) => (k, d),
        other => panic!("not a dest command: {other:?}"),
    }
}

#[test]
fn add_service_defaults() {
    let cmd = parse_line("-A -t 192.0.2.1:80").unwrap();
    let expected = ServiceConfig {
        scheduler: "wlc".into(),
        persistent: None,
        netmask: Netmask::V4(Ipv4Addr::BROADCAST),
        one_packet: false,
        sched_flags: SchedFlags::EMPTY,
        pe: None,
    };
    assert_eq!(cmd, Command::AddService(tcp("192.0.2.1", 80), expected));
}

#[test]
fn long_and_short_forms_agree() {
    let short = parse_line("-A -u 192.0.2.1:53 -s rr -p 60 -M 255.255.255.0 -o -b flag-3 --pe sip");
    let long = parse_line(
        "--add-service --udp-service 192.0.2.1:53 --scheduler rr --persistent 60 \
         --netmask 255.255.255.0 --ops --sched-flags flag-3 --pe sip",
    );
    assert_eq!(short, long);
    let (key, cfg) =
        service("-A -u 192.0.2.1:53 -s rr -p 60 -M 255.255.255.0 -o -b flag-3 --pe sip");
    assert_eq!(
        key,
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: ip("192.0.2.1"),
            port: 53
        }
    );
    assert_eq!(cfg.scheduler, "rr");
    assert_eq!(cfg.persistent, Some(60));
    assert_eq!(cfg.netmask, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)));
    assert!(cfg.one_packet);
    assert_eq!(cfg.sched_flags, SchedFlags::FLAG_3);
    assert_eq!(cfg.pe.as_deref(), Some("sip"));

    let a = parse_line("-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -m -w 3 -x 10 -y 5");
    let b = parse_line(
        "--add-server --tcp-service 192.0.2.1:80 --real-server 10.0.0.1:8080 --masquerading \
         --weight 3 --u-threshold 10 --l-threshold 5",
    );
    assert_eq!(a, b);
    assert_eq!(
        parse_line("-E -t 192.0.2.1:80"),
        parse_line("--edit-service --tcp-service 192.0.2.1:80")
    );
    assert_eq!(
        parse_line("-D -t 192.0.2.1:80"),
        parse_line("--delete-service -t 192.0.2.1:80")
    );
    assert_eq!(parse_line("-C"), Ok(Command::Clear));
    assert_eq!(parse_line("--clear"), Ok(Command::Clear));
    assert_eq!(
        parse_line("-e -t 1.2.3.4:80 -r 10.0.0.1"),
        parse_line("--edit-server -t 1.2.3.4:80 -r 10.0.0.1")
    );
    assert_eq!(
        parse_line("-d -t 1.2.3.4:80 -r 10.0.0.1"),
        parse_line("--delete-server -t 1.2.3.4:80 -r 10.0.0.1")
    );
    assert_eq!(
        parse_line("-A --sctp-service 1.2.3.4:9"),
        parse_line("-A --sctp-service=1.2.3.4:9")
    );
    assert_eq!(
        parse_line("-At 1.2.3.4:80 -srr"),
        parse_line("-A -t 1.2.3.4:80 -s rr")
    );
    assert_eq!(parse_line("ipvsadm -C"), Ok(Command::Clear));
}

#[test]
fn forwarding_long_forms() {
    for (short, long) in [
        ("-g", "--gatewaying"),
        ("-i", "--ipip"),
        ("-m", "--masquerading"),
    ] {
        assert_eq!(
            parse_line(&format!("-a -t 1.2.3.4:80 -r 10.0.0.1:8080 {short}")),
            parse_line(&format!("-a -t 1.2.3.4:80 -r 10.0.0.1:8080 {long}")),
        );
    }
    assert_eq!(
        dest("-a -t 1.2.3.4:80 -r 10.0.0.1 --ipip").1.fwd,
        FwdMethod::Tunnel
    );
    assert_eq!(
        dest("-a -t 1.2.3.4:80 -r 10.0.0.1 --gatewaying").1.fwd,
        FwdMethod::Route
    );
    let (_, d) =
        dest("-a -t 1.2.3.4:80 -r 10.0.0.1 --ipip --tun-type=gue --tun-port=6080 --tun-csum");
    assert_eq!(
        d.tunnel,
        TunnelConfig {
            kind: TunnelType::Gue,
            port: 6080,
            csum: TunnelCsum::Csum
        }
    );
    let (_, d) = dest("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gre --tun-nocsum");
    assert_eq!(d.tunnel.csum, TunnelCsum::NoCsum);
}

#[test]
fn persistent_takes_an_optional_timeout() {
    assert_eq!(service("-A -t 1.2.3.4:80 -p").1.persistent, Some(300));
    assert_eq!(service("-A -t 1.2.3.4:80 -p -s rr").1.persistent, Some(300));
    assert_eq!(
        service("-A -t 1.2.3.4:80 -p 600 -s rr").1.persistent,
        Some(600)
    );
    assert_eq!(service("-A -t 1.2.3.4:80 -p1").1.persistent, Some(1));
    assert_eq!(
        service("-A -t 1.2.3.4:80 --persistent=2678400")
            .1
            .persistent,
        Some(2_678_400)
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -p 2678401"),
        "invalid timeout value `2678401' specified"
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -p 0"),
        "invalid timeout value `0' specified"
    );
    // The next word is taken when it does not start with '-'.
    assert_eq!(
        err("-A -t 1.2.3.4:80 -p rr"),
        "invalid timeout value `rr' specified"
    );
}

#[test]
fn edit_without_scheduler_resets_to_wlc() {
    assert_eq!(service("-E -t 1.2.3.4:80").1.scheduler, "wlc");
}

#[test]
fn zero_port_needs_persistence() {
    assert_eq!(
        err("-A -t 1.2.3.4"),
        "Zero port specified for non-persistent service"
    );
    assert_eq!(
        err("-E -t 1.2.3.4:0 -s rr"),
        "Zero port specified for non-persistent service"
    );
    assert_eq!(service("-A -t 1.2.3.4 -p").0, tcp("1.2.3.4", 0));
    // fwmark services have no port to check.
    assert!(parse_line("-A -f 5").is_ok());
}

#[test]
fn one_packet_only_for_udp_and_fwmark() {
    assert_eq!(
        err("-A -t 1.2.3.4:80 -o"),
        "One-Packet Scheduling is only for UDP virtual services"
    );
    assert_eq!(
        err("-A --sctp-service 1.2.3.4:80 -o"),
        "One-Packet Scheduling is only for UDP virtual services"
    );
    assert!(service("-A -f 1 -o").1.one_packet);
}

#[test]
fn netmask_forms() {
    assert_eq!(
        service("-A -t 1.2.3.4:80 -p -M 255.255.0.0").1.netmask,
        Netmask::V4(Ipv4Addr::new(255, 255, 0, 0))
    );
    // inet_aton reads a lone number as the last byte.
    assert_eq!(
        service("-A -t 1.2.3.4:80 -p -M 24").1.netmask,
        Netmask::V4(Ipv4Addr::new(0, 0, 0, 24))
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -M 255.255.0.x"),
        "illegal virtual server persistent mask specified"
    );
    let (key, cfg) = service("-A -t [2001:db8::1]:443 -p -M 64");
    assert_eq!(key.af(), AddressFamily::Inet6);
    assert_eq!(cfg.netmask, Netmask::V6(64));
    assert_eq!(
        service("-A -t [2001:db8::1]:443").1.netmask,
        Netmask::V6(128)
    );
    assert_eq!(
        err("-A -t [2001:db8::1]:443 -M 129"),
        "illegal ipv6 netmask specified"
    );
    assert_eq!(
        err("-A -t [2001:db8::1]:443 -M /64"),
        "illegal ipv6 netmask specified"
    );
    // Order quirk: a later IPv6 service address resets the mask to 128.
    assert_eq!(
        service("-A -M 255.0.0.0 -t [2001:db8::1]:443").1.netmask,
        Netmask::V6(128)
    );
}

#[test]
fn fwmark_services() {
    let (key, cfg) = service("-A -f 7 -6 -p");
    assert_eq!(
        key,
        ServiceKey::Fwmark {
            mark: 7,
            af: AddressFamily::Inet6
        }
    );
    assert_eq!(cfg.netmask, Netmask::V6(128));
    assert_eq!(service("--add-service --fwmark-service 7 --ipv6").0, key);
    assert_eq!(
        service("-A -f 7").0,
        ServiceKey::Fwmark {
            mark: 7,
            af: AddressFamily::Inet
        }
    );
    assert_eq!(err("-A -6 -f 7"), "-6 used before -f");
    assert_eq!(err("-A -t 1.2.3.4:80 -6"), "-6 used before -f");
    assert_eq!(err("-A -f 0"), "invalid fwmark value `0' specified");
    assert_eq!(
        err("-A -f 4294967296"),
        "invalid fwmark value `4294967296' specified"
    );
    assert_eq!(err("-A -f x"), "invalid fwmark value `x' specified");
}

#[test]
fn service_addresses() {
    assert_eq!(service("-A -t 192.0.2.1:http").0, tcp("192.0.2.1", 80));
    assert_eq!(
        service("-A -t [2001:db8::1]:https").0,
        tcp("2001:db8::1", 443)
    );
    assert_eq!(
        err("-A -t 80"),
        "illegal virtual server address[:port] specified"
    );
    assert_eq!(
        err("-A -t www.example.com:80"),
        "illegal virtual server address[:port] specified"
    );
    assert_eq!(
        err("-A -t 1.2.3.4:65536"),
        "illegal virtual server address[:port] specified"
    );
    assert_eq!(
        err("-A -t [2001:db8::1]"),
        "illegal virtual server address[:port] specified"
    );
}

#[test]
fn sched_flags() {
    let f = service("-A -t 1.2.3.4:80 -s sh -b sh-fallback,sh-port")
        .1
        .sched_flags;
    assert_eq!(f, SchedFlags::SH_FALLBACK.union(SchedFlags::SH_PORT));
    // -b is checked after every option, so it may precede -s.
    assert!(
        service("-A -t 1.2.3.4:80 -b mh-port -s mh")
            .1
            .sched_flags
            .port()
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -b sh-port"),
        "incompatible scheduler flag `sh-port'"
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -s sh -b mh-port"),
        "incompatible scheduler flag `mh-port'"
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -b bogus"),
        "invalid scheduler flag `bogus'"
    );
    assert!(
        service("-A -t 1.2.3.4:80 -b flag-1,flag-2")
            .1
            .sched_flags
            .fallback()
    );
}

#[test]
fn dest_defaults_and_forwarding() {
    let (key, d) = dest("-a -t 192.0.2.1:80 -r 10.0.0.1");
    assert_eq!(key, tcp("192.0.2.1", 80));
    assert_eq!(
        d,
        DestConfig {
            addr: ip("10.0.0.1"),
            port: 80,
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: TunnelConfig::default(),
        }
    );
    // -g and -i force the real port to the virtual port; -m keeps it.
    assert_eq!(dest("-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -g").1.port, 80);
    assert_eq!(dest("-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -i").1.port, 80);
    assert_eq!(dest("-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -m").1.port, 8080);
    assert_eq!(dest("-a -t 192.0.2.1:80 -r 10.0.0.1 -m").1.port, 80);
    // -e without a method means -g, so the port is forced too.
    let (_, e) = dest("-e -t 192.0.2.1:80 -r 10.0.0.1:8080 -w 2");
    assert_eq!((e.fwd, e.port, e.weight), (FwdMethod::Route, 80, 2));
    // -e carries every setting: without -w the weight goes back to 1.
    assert_eq!(dest("-e -t 192.0.2.1:80 -r 10.0.0.1 -x 5").1.weight, 1);
    // -r before -t sees no service port yet.
    assert_eq!(dest("-a -r 10.0.0.1 -m -t 192.0.2.1:80").1.port, 0);
    // fwmark services keep the given port (or 0).
    assert_eq!(dest("-a -f 3 -r 10.0.0.1:8080 -g").1.port, 8080);
    assert_eq!(dest("-a -f 3 -r 10.0.0.1").1.port, 0);
    // -d is not forced: it names the dest as given.
    assert_eq!(
        parse_line("-d -t 192.0.2.1:80 -r 10.0.0.1:8080"),
        Ok(Command::DeleteDest(
            tcp("192.0.2.1", 80),
            ip("10.0.0.1"),
            8080
        ))
    );
    assert_eq!(
        dest("-a -t [2001:db8::1]:80 -r [2001:db8::10]:8080 -m")
            .1
            .addr,
        ip("2001:db8::10")
    );
}

#[test]
fn dest_numbers() {
    let (_, d) = dest("-a -t 1.2.3.4:80 -r 10.0.0.1 -w 0 -x 2147483647 -y 0");
    assert_eq!(
        (d.weight, d.u_threshold, d.l_threshold),
        (0, 2_147_483_647, 0)
    );
    assert_eq!(
        dest("-a -t 1.2.3.4:80 -r 10.0.0.1 -w 65535").1.weight,
        65535
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -w 65536"),
        "illegal weight specified"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -w -1"),
        "illegal weight specified"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -x 2147483648"),
        "illegal u_threshold specified"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -y x"),
        "illegal l_threshold specified"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1:x"),
        "illegal real server address[:port] specified"
    );
}

#[test]
fn tunnel_options() {
    let (_, d) =
        dest("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 6080 --tun-remcsum");
    assert_eq!(
        d.tunnel,
        TunnelConfig {
            kind: TunnelType::Gue,
            port: 6080,
            csum: TunnelCsum::RemCsum
        }
    );
    let (_, d) = dest("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gre --tun-csum");
    assert_eq!(
        d.tunnel,
        TunnelConfig {
            kind: TunnelType::Gre,
            port: 0,
            csum: TunnelCsum::Csum
        }
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue"),
        "You need to supply the 'tun-port' option for the 'gue' tunnel type"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-port 5"),
        "Illegal 'tun-port' option with the 'ipip' tunnel type"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gre --tun-remcsum"),
        "Illegal 'tun-remcsum' option with the 'gre' tunnel type"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 5 --tun-csum --tun-nocsum"),
        "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -m --tun-type gre"),
        "Tunnel options conflict with forward method"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type vxlan"),
        "illegal tunnel type specified"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-port 0"),
        "illegal tunnel port specified"
    );
}

#[test]
fn mixed_families_only_for_tunnels() {
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r [2001:db8::1]:80 -m"),
        "Different address family is allowed only for tunneling servers"
    );
    assert_eq!(
        dest("-a -t 1.2.3.4:80 -r 2001:db8::1 -i").1.addr,
        ip("2001:db8::1")
    );
    assert_eq!(
        err("-a -f 1 -6 -r 10.0.0.1"),
        "Different address family is allowed only for tunneling servers"
    );
}

#[test]
fn option_table_errors() {
    assert_eq!(
        err("-A -t 1.2.3.4:80 -x 5"),
        "Illegal 'u-threshold' option with the 'add-service' command"
    );
    assert_eq!(
        err("-E -t 1.2.3.4:80 -r 10.0.0.1"),
        "Illegal 'real-server' option with the 'edit-service' command"
    );
    assert_eq!(
        err("-D -t 1.2.3.4:80 -s rr"),
        "Illegal 'scheduler' option with the 'delete-service' command"
    );
    assert_eq!(
        err("-C -t 1.2.3.4:80"),
        "Illegal 'service-address' option with the 'flush' command"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -s rr"),
        "Illegal 'scheduler' option with the 'add-server' command"
    );
    assert_eq!(
        err("-d -t 1.2.3.4:80 -r 10.0.0.1 -w 2"),
        "Illegal 'weight' option with the 'delete-server' command"
    );
    assert_eq!(
        err("-e -t 1.2.3.4:80 -r 10.0.0.1 -n"),
        "Illegal 'numeric' option with the 'edit-server' command"
    );
    assert_eq!(
        err("-A -s rr"),
        "You need to supply the 'service-address' option for the 'add-service' command"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80"),
        "You need to supply the 'real-server' option for the 'add-server' command"
    );
    assert_eq!(
        err("-d -r 10.0.0.1"),
        "You need to supply the 'service-address' option for the 'delete-server' command"
    );
    // The first offending column wins: numeric (0) before u-threshold (9).
    assert_eq!(
        err("-A -t 1.2.3.4:80 -x 5 -n"),
        "Illegal 'numeric' option with the 'add-service' command"
    );
    assert_eq!(
        err("-a -t 1.2.3.4:80 -r 10.0.0.1 -m -g"),
        "multiple 'forwarding-method' options specified"
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -u 1.2.3.4:80"),
        "multiple 'service-address' options specified"
    );
    assert_eq!(
        err("-A -t 1.2.3.4:80 -w 1 -w 2"),
        "multiple 'weight' options specified"
    );
}

#[test]
fn popt_level_errors() {
    assert_eq!(err("-t 1.2.3.4:80 -A"), IpvsadmError::NoCommand.to_string());
    assert_eq!(err(""), IpvsadmError::NoCommand.to_string());
    assert_eq!(err("-A -t 1.2.3.4:80 -a"), "invalid option `-a'");
    assert_eq!(err("-A -t 1.2.3.4:80 -q"), "-q: unknown option");
    assert_eq!(
        err("-A -t 1.2.3.4:80 --frobnicate"),
        "--frobnicate: unknown option"
    );
    assert_eq!(err("-A -t"), "-t: missing argument");
    assert_eq!(
        err("-A -t 1.2.3.4:80 --ops=yes"),
        "--ops=yes: option does not take an argument"
    );
    assert_eq!(err("-A -t 1.2.3.4:80 extra"), "unexpected argument extra");
    assert_eq!(err("-L -n"), "the 'list' command is not supported here");
    assert_eq!(
        err("-L -s rr"),
        "Illegal 'scheduler' option with the 'list' command"
    );
}

#[test]
fn args_and_line_agree() {
    let args = [
        "-a",
        "-t",
        "192.0.2.1:80",
        "-r",
        "10.0.0.1:80",
        "-m",
        "-w",
        "4",
    ];
    assert_eq!(
        parse_args(&args),
        parse_line("  -a -t 192.0.2.1:80\t-r 10.0.0.1:80 -m -w 4 ")
    );
    let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    assert_eq!(parse_args(&owned), parse_args(&args));
}

#[test]
fn service_key_display() {
    assert_eq!(tcp("192.0.2.1", 80).to_string(), "-t 192.0.2.1:80");
    assert_eq!(tcp("2001:db8::1", 80).to_string(), "-t [2001:db8::1]:80");
    assert_eq!(
        ServiceKey::Fwmark {
            mark: 3,
            af: AddressFamily::Inet6
        }
        .to_string(),
        "-f 3 -6"
    );
}
