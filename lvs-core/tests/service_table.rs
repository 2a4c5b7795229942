//! The service table against the kernel's `ip_vs_ctl.c` / `ip_vs_core.c` rules. Expected values
//! are worked out by hand from those rules.

use std::net::IpAddr;
use std::time::Duration;

use lvs_core::ipvsadm::{Command, DestConfig, Protocol, ServiceKey, parse_line};
use lvs_core::sched::ConnKind;
use lvs_core::service::{NewConn, Scheduled, ServiceError, ServiceTable};
use lvs_core::time::Instant;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn apply(t: &mut ServiceTable, line: &str) -> Result<(), ServiceError> {
    t.apply(&parse_line(line).unwrap())
}

fn table(lines: &[&str]) -> ServiceTable {
    let mut t = ServiceTable::default();
    for l in lines {
        apply(&mut t, l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    t
}

fn dest_of(line: &str) -> DestConfig {
    match parse_line(line).unwrap() {
        Command::AddDest(_, d) => d,
        other => panic!("{other:?}"),
    }
}

fn vip80() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.1"),
        port: 80,
    }
}

fn dest_addrs(t: &ServiceTable, key: &ServiceKey) -> Vec<String> {
    t.service(key)
        .unwrap()
        .dests()
        .iter()
        .map(|d| format!("{}:{}", d.addr, d.port))
        .collect()
}

/// Everything observable about the table, to prove a refused command changed nothing.
fn snapshot(t: &ServiceTable) -> String {
    let mut s = String::new();
    for svc in t.services() {
        s += &format!(
            "{:?} {:?} {:?}\n",
            svc.key(),
            svc.config(),
            svc.scheduler().map(|x| x.name())
        );
        for (i, d) in svc.dests().iter().enumerate() {
            s += &format!("  {d:?} {:?}\n", svc.dest_info(i));
        }
    }
    s
}

fn tcp_conn(c: &str, cport: u16, d: &str, dport: u16) -> NewConn {
    NewConn {
        protocol: Protocol::Tcp,
        caddr: ip(c),
        cport,
        daddr: ip(d),
        dport,
        fwmark: 0,
    }
}

fn pick(t: &mut ServiceTable, conn: &NewConn, now: u64, kind: Option<ConnKind>) -> Option<String> {
    let s = t.schedule(conn, Instant::from_secs(now))?;
    if let Some(k) = kind {
        t.bind_conn(&s, k);
    }
    Some(format!("{}:{}", s.daddr, s.dport))
}

const BASE: &[&str] = &[
    "-A -t 192.0.2.1:80 -s rr",
    "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
    "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m",
    "-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m",
];

#[test]
fn dests_are_kept_in_kernel_list_order() {
    let mut t = table(BASE);
    assert_eq!(
        dest_addrs(&t, &vip80()),
        ["10.0.0.4:80", "10.0.0.3:80", "10.0.0.2:80"]
    );
    apply(&mut t, "-d -t 192.0.2.1:80 -r 10.0.0.3:80").unwrap();
    assert_eq!(dest_addrs(&t, &vip80()), ["10.0.0.4:80", "10.0.0.2:80"]);
    apply(&mut t, "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m").unwrap();
    assert_eq!(
        dest_addrs(&t, &vip80()),
        ["10.0.0.3:80", "10.0.0.4:80", "10.0.0.2:80"]
    );
    // Editing keeps the position.
    apply(&mut t, "-e -t 192.0.2.1:80 -r 10.0.0.4:80 -m -w 5").unwrap();
    assert_eq!(
        dest_addrs(&t, &vip80()),
        ["10.0.0.3:80", "10.0.0.4:80", "10.0.0.2:80"]
    );
    assert_eq!(t.service(&vip80()).unwrap().dests()[1].weight, 5);
}

#[test]
fn refused_commands_report_kernel_errors_and_change_nothing() {
    let mut t = table(BASE);
    let cases = [
        ("-A -t 192.0.2.1:80", "Service already exists"),
        ("-E -t 192.0.2.9:80", "No such service"),
        ("-E -u 192.0.2.1:80", "No such service"),
        ("-D -t 192.0.2.1:81", "No such service"),
        ("-a -t 192.0.2.1:81 -r 10.0.0.9", "Service not defined"),
        ("-e -t 192.0.2.1:81 -r 10.0.0.9", "Service not defined"),
        ("-d -t 192.0.2.1:81 -r 10.0.0.9", "Service not defined"),
        (
            "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
            "Destination already exists",
        ),
        (
            "-e -t 192.0.2.1:80 -r 10.0.0.9:80 -m",
            "No such destination",
        ),
        ("-d -t 192.0.2.1:80 -r 10.0.0.9:80", "No such destination"),
        // A masq dest on 8080 edited without -m is looked up as the -g dest on port 80.
        (
            "-E -t 192.0.2.1:80 -s bogus",
            "Scheduler or persistence engine not found",
        ),
        (
            "-E -t 192.0.2.1:80 --pe nope",
            "Scheduler or persistence engine not found",
        ),
        (
            "-A -t 192.0.2.1:81 -s nope",
            "Scheduler or persistence engine not found",
        ),
        (
            "-a -t 192.0.2.1:80 -r 10.0.0.9:80 -m -y 3",
            "Numerical result out of range",
        ),
        (
            "-e -t 192.0.2.1:80 -r 10.0.0.2:80 -m -x 2 -y 3",
            "Numerical result out of range",
        ),
        (
            "-a -t 192.0.2.1:80 -r 224.0.0.5:80 -m",
            "Invalid operation.  Possibly wrong module version, address not unicast, ...",
        ),
        (
            "-a -t 192.0.2.1:80 -r 0.0.0.0:80 -m",
            "Invalid operation.  Possibly wrong module version, address not unicast, ...",
        ),
    ];
    let before = snapshot(&t);
    for (line, text) in cases {
        assert_eq!(apply(&mut t, line).unwrap_err().to_string(), text, "{line}");
        assert_eq!(snapshot(&t), before, "{line} changed the table");
    }
    // The parser stops mixed families earlier; the table checks them too (EINVAL).
    let v6 = ip("2001:db8::1");
    let masq = DestConfig {
        addr: v6,
        ..dest_of("-a -t 192.0.2.1:80 -r 10.0.0.9:80 -m")
    };
    assert_eq!(
        t.apply(&Command::AddDest(vip80(), masq)),
        Err(ServiceError::InvalidOperation)
    );
    assert_eq!(snapshot(&t), before);
    let tunnel = DestConfig {
        addr: v6,
        ..dest_of("-a -t 192.0.2.1:80 -r 10.0.0.9:80 -i")
    };
    assert_eq!(t.apply(&Command::AddDest(vip80(), tunnel)), Ok(()));
    let mut t = table(&[
        "-A -t 192.0.2.1:80",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:8080 -m",
    ]);
    assert_eq!(
        apply(&mut t, "-e -t 192.0.2.1:80 -r 10.0.0.2:8080 -w 2"),
        Err(ServiceError::NoSuchDest)
    );
}

#[test]
fn delete_and_clear() {
    let mut t = table(BASE);
    apply(&mut t, "-A -f 3").unwrap();
    apply(&mut t, "-D -t 192.0.2.1:80").unwrap();
    assert_eq!(t.services().count(), 1);
    apply(&mut t, "-C").unwrap();
    assert_eq!(t.services().count(), 0);
    // A re-created service starts empty.
    apply(&mut t, "-A -t 192.0.2.1:80").unwrap();
    assert!(t.service(&vip80()).unwrap().dests().is_empty());
}

#[test]
fn edit_service_rebinds_only_a_different_scheduler() {
    let mut t = table(BASE);
    let c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.4:80");
    // Same scheduler: rr keeps its cursor.
    apply(&mut t, "-E -t 192.0.2.1:80 -s rr").unwrap();
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.3:80");
    // Another scheduler and back: a fresh rr starts at the list head again.
    apply(&mut t, "-E -t 192.0.2.1:80").unwrap();
    assert_eq!(
        t.service(&vip80()).unwrap().scheduler().unwrap().name(),
        "wlc"
    );
    apply(&mut t, "-E -t 192.0.2.1:80 -s rr").unwrap();
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.4:80");
    // The `none` scheduler never picks.
    apply(&mut t, "-E -t 192.0.2.1:80 -s none").unwrap();
    assert_eq!(pick(&mut t, &c, 0, None), None);
}

#[test]
fn edit_dest_reaches_the_scheduler() {
    // wlc, all idle: the head (.4) wins ties. Quiescing it with weight 0 moves new
    // connections to the next dest.
    let mut t = table(&[
        "-A -t 192.0.2.1:80",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
        "-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m",
    ]);
    let c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.4:80");
    apply(&mut t, "-e -t 192.0.2.1:80 -r 10.0.0.4:80 -m -w 0").unwrap();
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.2:80");
    let d = &t.service(&vip80()).unwrap().dests()[0];
    assert_eq!((d.weight, d.last_weight), (0, 1));
}

#[test]
fn thresholds_follow_bind_and_unbind() {
    // .4 (head) has -x 2: after two connections it is overloaded and rr skips it; it clears
    // when total * 4 < 2 * 3, i.e. at one connection.
    let mut t = table(&[
        "-A -t 192.0.2.1:80 -s rr",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
        "-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m -x 2",
    ]);
    let mut conns: Vec<Scheduled> = Vec::new();
    let mut got = Vec::new();
    for k in 0..5 {
        let s = t
            .schedule(
                &tcp_conn("198.51.100.1", 1000 + k, "192.0.2.1", 80),
                Instant::ZERO,
            )
            .unwrap();
        t.bind_conn(&s, ConnKind::Active);
        got.push(s.daddr.to_string());
        conns.push(s);
    }
    assert_eq!(
        got,
        ["10.0.0.4", "10.0.0.2", "10.0.0.4", "10.0.0.2", "10.0.0.2"]
    );
    let four = |t: &ServiceTable| t.service(&vip80()).unwrap().dests()[0].clone();
    assert!(four(&t).overloaded);
    t.unbind_conn(&conns[0], ConnKind::Active, Instant::ZERO);
    assert!(!four(&t).overloaded, "1 * 4 < 2 * 3 clears the flag");
    assert_eq!(four(&t).active_conns, 1);
    // Raising -x clears the flag too (__ip_vs_update_dest).
    let s = t
        .schedule(
            &tcp_conn("198.51.100.1", 2000, "192.0.2.1", 80),
            Instant::ZERO,
        )
        .unwrap();
    t.bind_conn(&s, ConnKind::Active);
    assert!(four(&t).overloaded);
    apply(&mut t, "-e -t 192.0.2.1:80 -r 10.0.0.4:80 -m -x 3").unwrap();
    assert!(!four(&t).overloaded);
}

#[test]
fn persistence_pins_a_client_network_until_the_template_expires() {
    let mut t = table(&[
        "-A -t 192.0.2.1:80 -s rr -p 60 -M 255.255.255.0",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m",
    ]);
    let vip = "192.0.2.1";
    // rr picks the head (.3) and creates a template for 198.51.100.0/24.
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 1000, vip, 80), 0, None).unwrap(),
        "10.0.0.3:80"
    );
    assert_eq!(t.service(&vip80()).unwrap().dests()[0].persist_conns, 1);
    // Same /24, other host and port: the template answers, rr is not asked.
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.77", 1001, vip, 80), 30, None).unwrap(),
        "10.0.0.3:80"
    );
    // Another network: rr moves on.
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.101.1", 1002, vip, 80), 30, None).unwrap(),
        "10.0.0.2:80"
    );
    // Used at 30, the template lives until 90: still there at 89.
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 1003, vip, 80), 89, None).unwrap(),
        "10.0.0.3:80"
    );
    // The other network's template (last used at 30) goes at 90; ours was re-armed to 149.
    t.handle_timeout(Instant::from_secs(89));
    assert_eq!(t.template_count(), 2);
    t.handle_timeout(Instant::from_secs(90));
    assert_eq!(t.template_count(), 1);
    assert_eq!(t.service(&vip80()).unwrap().dests()[1].persist_conns, 0);
    t.handle_timeout(Instant::from_secs(148));
    assert_eq!(t.template_count(), 1);
    t.handle_timeout(Instant::from_secs(149));
    assert_eq!(t.template_count(), 0);
    assert_eq!(t.service(&vip80()).unwrap().dests()[0].persist_conns, 0);
}

#[test]
fn templates_live_while_they_control_connections() {
    let mut t = table(&[
        "-A -t 192.0.2.1:80 -s rr -p 10",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
    ]);
    let c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    let s = t.schedule(&c, Instant::ZERO).unwrap();
    t.bind_conn(&s, ConnKind::Active);
    // The timer fires at 10 with a controlled connection: re-armed for 60 s (70, 130, ...).
    t.handle_timeout(Instant::from_secs(100));
    assert_eq!(t.template_count(), 1);
    t.unbind_conn(&s, ConnKind::Active, Instant::from_secs(100));
    t.handle_timeout(Instant::from_secs(129));
    assert_eq!(t.template_count(), 1);
    t.handle_timeout(Instant::from_secs(130));
    assert_eq!(t.template_count(), 0);
}

#[test]
fn templates_of_deleted_and_quiesced_dests() {
    let lines = [
        "-A -t 192.0.2.1:80 -s rr -p",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m",
    ];
    let c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    // Quiesced (weight 0): the template still pins the client (expire_quiescent_template=0).
    let mut t = table(&lines);
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.3:80");
    apply(&mut t, "-e -t 192.0.2.1:80 -r 10.0.0.3:80 -m -w 0").unwrap();
    assert_eq!(pick(&mut t, &c, 1, None).unwrap(), "10.0.0.3:80");
    // With the sysctl on, the template is dropped and rr picks an available dest.
    t.set_expire_quiescent_template(true);
    assert_eq!(pick(&mut t, &c, 2, None).unwrap(), "10.0.0.2:80");
    // Deleted dest: its template no longer counts.
    let mut t = table(&lines);
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.3:80");
    apply(&mut t, "-d -t 192.0.2.1:80 -r 10.0.0.3:80").unwrap();
    assert_eq!(pick(&mut t, &c, 1, None).unwrap(), "10.0.0.2:80");
}

#[test]
fn a_deleted_dest_comes_back_from_the_trash_with_its_counters() {
    let mut t = table(BASE);
    let c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    assert_eq!(
        pick(&mut t, &c, 0, Some(ConnKind::Active)).unwrap(),
        "10.0.0.4:80"
    );
    apply(&mut t, "-d -t 192.0.2.1:80 -r 10.0.0.4:80").unwrap();
    apply(&mut t, "-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m").unwrap();
    assert_eq!(t.service(&vip80()).unwrap().dests()[0].active_conns, 1);
    // A dest without connections comes back fresh.
    apply(&mut t, "-d -t 192.0.2.1:80 -r 10.0.0.3:80").unwrap();
    apply(&mut t, "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m").unwrap();
    assert_eq!(t.service(&vip80()).unwrap().dests()[0].active_conns, 0);
    // The trash matches by service address, not by service instance: deleting and re-creating
    // the service brings the counters back too (ip_vs_trash_get_dest).
    apply(&mut t, "-D -t 192.0.2.1:80").unwrap();
    apply(&mut t, "-A -t 192.0.2.1:80 -s rr").unwrap();
    apply(&mut t, "-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m").unwrap();
    assert_eq!(t.service(&vip80()).unwrap().dests()[0].active_conns, 1);
    // Not for another service.
    apply(&mut t, "-d -t 192.0.2.1:80 -r 10.0.0.4:80").unwrap();
    apply(&mut t, "-A -t 192.0.2.1:81 -s rr").unwrap();
    apply(&mut t, "-a -t 192.0.2.1:81 -r 10.0.0.4:80 -m").unwrap();
    let k81 = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.1"),
        port: 81,
    };
    assert_eq!(t.service(&k81).unwrap().dests()[0].active_conns, 0);
}

#[test]
fn fwmark_services_take_marked_packets() {
    let mut t = table(&[
        "-A -f 7 -s rr -p",
        "-a -f 7 -r 10.0.0.2 -g",
        "-a -f 7 -r 10.0.0.3 -g",
        "-A -t 192.0.2.1:80 -s rr",
        "-a -t 192.0.2.1:80 -r 10.0.0.9:80 -m",
    ]);
    let mut c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    // Unmarked: the TCP service.
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.9:80");
    // Marked: the fwmark service wins; dest port 0 means "the packet's port".
    c.fwmark = 7;
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.3:80");
    // The fwmark template (<IPPROTO_IP, caddr, 0, fwmark, 0>) covers other VIPs and ports.
    let other = NewConn {
        daddr: ip("192.0.2.200"),
        dport: 443,
        ..c
    };
    assert_eq!(pick(&mut t, &other, 1, None).unwrap(), "10.0.0.3:443");
    // Another client gets rr's next dest.
    let c2 = NewConn {
        caddr: ip("198.51.100.2"),
        ..other
    };
    assert_eq!(pick(&mut t, &c2, 1, None).unwrap(), "10.0.0.2:443");
    // A mark without a service falls back to the address lookup.
    let c3 = NewConn { fwmark: 8, ..c };
    assert_eq!(pick(&mut t, &c3, 1, None).unwrap(), "10.0.0.9:80");
}

#[test]
fn port_zero_persistent_services_and_the_ftp_rule() {
    let mut t = table(&[
        "-A -t 192.0.2.1:0 -s rr -p",
        "-a -t 192.0.2.1:0 -r 10.0.0.2 -g",
        "-a -t 192.0.2.1:0 -r 10.0.0.3 -g",
        "-A -t 192.0.2.5:21 -s rr -p",
        "-a -t 192.0.2.5:21 -r 10.0.0.7 -g",
    ]);
    let vip = "192.0.2.1";
    // Any port reaches the port-0 service; one template (vport 0) covers them all.
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 1000, vip, 443), 0, None).unwrap(),
        "10.0.0.3:443"
    );
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 1001, vip, 22), 0, None).unwrap(),
        "10.0.0.3:22"
    );
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.2", 1000, vip, 22), 0, None).unwrap(),
        "10.0.0.2:22"
    );
    // UDP has no port-0 service here.
    let udp = NewConn {
        protocol: Protocol::Udp,
        ..tcp_conn("198.51.100.1", 1000, vip, 53)
    };
    assert_eq!(pick(&mut t, &udp, 0, None), None);
    // FTP: unprivileged ports and port 20 of the VIP go to the port-21 service, others do not.
    let ftp = "192.0.2.5";
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 1000, ftp, 21), 0, None).unwrap(),
        "10.0.0.7:21"
    );
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 1001, ftp, 40000), 0, None).unwrap(),
        "10.0.0.7:40000"
    );
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 1002, ftp, 80), 0, None),
        None
    );
    // Connections from client port 20 (active FTP data) are never scheduled.
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.1", 20, ftp, 21), 0, None),
        None
    );
}

#[test]
fn poll_timeout_reports_the_next_template_expiry() {
    let mut t = table(&[
        "-A -t 192.0.2.1:80 -s rr -p 300",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
    ]);
    assert_eq!(t.poll_timeout(), None);
    pick(
        &mut t,
        &tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80),
        5,
        None,
    )
    .unwrap();
    assert_eq!(
        t.poll_timeout(),
        Some(Instant::from_secs(5) + Duration::from_secs(300))
    );
}

#[test]
fn templates_ignore_the_overload_flag() {
    // ip_vs_check_template only asks whether the dest is still in its service: an overloaded
    // dest keeps its persistent clients, only new clients avoid it.
    let mut t = table(&[
        "-A -t 192.0.2.1:80 -s rr -p",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m -x 1",
    ]);
    let vip = "192.0.2.1";
    let a = tcp_conn("198.51.100.1", 1000, vip, 80);
    assert_eq!(
        pick(&mut t, &a, 0, Some(ConnKind::Active)).unwrap(),
        "10.0.0.3:80"
    );
    assert!(t.service(&vip80()).unwrap().dests()[0].overloaded);
    assert_eq!(
        pick(
            &mut t,
            &NewConn { cport: 1001, ..a },
            1,
            Some(ConnKind::Active)
        )
        .unwrap(),
        "10.0.0.3:80"
    );
    assert_eq!(t.service(&vip80()).unwrap().dests()[0].active_conns, 2);
    // A new client: rr moves to .2, then wraps to .3, which is overloaded, and stays on .2.
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.2", 1000, vip, 80), 1, None).unwrap(),
        "10.0.0.2:80"
    );
    assert_eq!(
        pick(&mut t, &tcp_conn("198.51.100.3", 1000, vip, 80), 1, None).unwrap(),
        "10.0.0.2:80"
    );
}

#[test]
fn edit_service_replaces_every_setting() {
    // -E without -p drops persistence (ip_vs_edit_service copies flags, timeout and netmask).
    let mut t = table(&[
        "-A -t 192.0.2.1:80 -s rr -p 60",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m",
    ]);
    let c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.3:80");
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.3:80");
    apply(&mut t, "-E -t 192.0.2.1:80 -s rr").unwrap();
    assert_eq!(t.service(&vip80()).unwrap().config().persistent, None);
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.2:80");
    assert_eq!(pick(&mut t, &c, 0, None).unwrap(), "10.0.0.3:80");
}

/// The counters of a dest, by address, wherever it is in its service's list.
fn counters(t: &ServiceTable, key: &ServiceKey, addr: &str) -> (u32, u32) {
    let svc = t.service(key).unwrap();
    let d = svc.dests().iter().find(|d| d.addr == ip(addr)).unwrap();
    (d.active_conns, d.inactive_conns)
}

#[test]
fn counters_reach_their_dest_by_id_across_list_changes() {
    // Two services, so deleting the first one shifts the other's place in the table.
    let mut t = table(&[
        "-A -t 192.0.2.1:81 -s rr",
        "-a -t 192.0.2.1:81 -r 10.0.1.2:80 -m",
        "-A -t 192.0.2.1:80 -s rr",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m",
    ]);
    let c = tcp_conn("198.51.100.1", 1000, "192.0.2.1", 80);
    let s = t.schedule(&c, Instant::ZERO).unwrap();
    assert_eq!(s.daddr, ip("10.0.0.3"));
    t.bind_conn(&s, ConnKind::Inactive);
    // A dest added at the head moves 10.0.0.3 down the list; its id still finds it.
    apply(&mut t, "-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m").unwrap();
    assert!(t.conn_state_changed(s.dest, true));
    assert_eq!(counters(&t, &vip80(), "10.0.0.3"), (1, 0));
    assert_eq!(counters(&t, &vip80(), "10.0.0.4"), (0, 0));
    // The other service goes: this one moves to the table's first place.
    apply(&mut t, "-D -t 192.0.2.1:81").unwrap();
    assert!(t.conn_state_changed(s.dest, false));
    assert_eq!(counters(&t, &vip80(), "10.0.0.3"), (0, 1));
    // Deleted with a connection, the dest waits in the trash and its counters still move.
    apply(&mut t, "-d -t 192.0.2.1:80 -r 10.0.0.3:80").unwrap();
    assert!(t.conn_state_changed(s.dest, true));
    apply(&mut t, "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m").unwrap();
    assert_eq!(counters(&t, &vip80(), "10.0.0.3"), (1, 0));
    apply(&mut t, "-d -t 192.0.2.1:80 -r 10.0.0.3:80").unwrap();
    // Its last connection ends: the trash forgets it, and its id finds nothing.
    t.unbind_conn(&s, ConnKind::Active, Instant::ZERO);
    assert!(!t.conn_state_changed(s.dest, true));
    apply(&mut t, "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m").unwrap();
    assert_eq!(counters(&t, &vip80(), "10.0.0.3"), (0, 0));
    // The others were never touched.
    assert_eq!(counters(&t, &vip80(), "10.0.0.2"), (0, 0));
    assert_eq!(counters(&t, &vip80(), "10.0.0.4"), (0, 0));
}

proptest::proptest! {
    /// Service lookups over random adds, deletes and clears, across the size where lookups
    /// switch from a scan to the key index: every key in the model is found (as a new
    /// connection's service, and by `service`), every other key is not, and the table lists
    /// the model's services in creation order.
    #[test]
    fn service_lookups_follow_adds_deletes_and_clears(
        ops in proptest::collection::vec((0u8..40, 0u8..10), 1..200),
    ) {
        let line = |op: &str, k: u8| format!("{op} -t 192.0.2.{}:{}", k % 4 + 1, 1000 + u16::from(k));
        let key = |k: u8| ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: ip(&format!("192.0.2.{}", k % 4 + 1)),
            port: 1000 + u16::from(k),
        };
        let mut t = ServiceTable::default();
        let mut model: Vec<u8> = Vec::new();
        for (k, what) in ops {
            match what {
                0 => {
                    apply(&mut t, "-C").unwrap();
                    model.clear();
                }
                1..=3 => {
                    let r = apply(&mut t, &line("-D", k));
                    proptest::prop_assert_eq!(r.is_ok(), model.contains(&k));
                    model.retain(|&m| m != k);
                }
                _ => {
                    let r = apply(&mut t, &line("-A", k));
                    proptest::prop_assert_eq!(r.is_ok(), !model.contains(&k));
                    if r.is_ok() {
                        model.push(k);
                    }
                }
            }
            let listed: Vec<ServiceKey> = t.services().map(|s| *s.key()).collect();
            let want: Vec<ServiceKey> = model.iter().map(|&m| key(m)).collect();
            proptest::prop_assert_eq!(listed, want);
            for k in 0..40 {
                let ServiceKey::Inet { addr, port, .. } = key(k) else { unreachable!() };
                let conn = NewConn { protocol: Protocol::Tcp, caddr: ip("198.51.100.7"), cport: 40000, daddr: addr, dport: port, fwmark: 0 };
                let found = t.find_service(&conn).copied();
                proptest::prop_assert_eq!(found, model.contains(&k).then(|| key(k)));
                proptest::prop_assert_eq!(t.service(&key(k)).is_some(), model.contains(&k));
            }
        }
    }
}
