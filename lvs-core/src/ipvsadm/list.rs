//! `ipvsadm -L` and `-S` output, byte for byte as ipvsadm 1.31 prints it (`list_all`,
//! `print_title`, `print_service_entry`, `print_largenum`, `list_conn`/`print_conn`,
//! `list_timeout`, `list_daemon`), as pure functions of an [`AdmState`].
//!
//! Names: without `-n` ipvsadm asks `gethostbyaddr(3)` and `getservbyport(3)` for every
//! address and port. The core does no I/O, so that goes through a [`Resolver`] the caller
//! passes; [`NumericResolver`] answers nothing (what `-n` prints).

use core::fmt::Write;
use std::net::IpAddr;

use super::Protocol;
use super::model::{AdmConn, AdmDaemon, AdmDest, AdmService, AdmState};
use super::sort::{cmp_dests, cmp_services, msort};

/// Name look-ups for listings without `-n`.
pub trait Resolver {
    /// A host name for `addr` (`gethostbyaddr`), `None` to print it numerically.
    fn host(&self, addr: IpAddr) -> Option<String>;
    /// A service name for `port` (`getservbyport`), `None` to print the number.
    fn service(&self, port: u16, protocol: Protocol) -> Option<String>;
}

/// The resolver of `-n`: every address and port prints as a number.
#[derive(Clone, Copy, Debug, Default)]
pub struct NumericResolver;

impl Resolver for NumericResolver {
    fn host(&self, _: IpAddr) -> Option<String> {
        None
    }
    fn service(&self, _: u16, _: Protocol) -> Option<String> {
        None
    }
}

/// ipvsadm's `FMT_*` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListFormat {
    /// `-n`
    pub numeric: bool,
    /// `-S` (FMT_RULE)
    pub rule: bool,
    /// `--stats`
    pub stats: bool,
    /// `--rate`
    pub rate: bool,
    /// `--thresholds`
    pub thresholds: bool,
    /// `--persistent-conn`
    pub persistent_conn: bool,
    /// `--nosort`
    pub nosort: bool,
    /// `--exact`
    pub exact: bool,
    /// `--tun-info`
    pub tun_info: bool,
}

/// `addrport_to_anyname`: `a.b.c.d:port`, `[v6]:port`, with names unless `-n`; the result is cut
/// to 59 bytes like ipvsadm's 60-byte buffer.
fn addrport(
    addr: IpAddr,
    port: u16,
    proto: Option<Protocol>,
    fmt: &ListFormat,
    res: &dyn Resolver,
) -> String {
    let (open, close) = if addr.is_ipv6() { ("[", "]") } else { ("", "") };
    let mut s = if fmt.numeric {
        format!("{open}{addr}{close}:{port}")
    } else {
        let host = res.host(addr).unwrap_or_else(|| addr.to_string());
        let serv = proto
            .and_then(|p| res.service(port, p))
            .unwrap_or_else(|| port.to_string());
        format!("{open}{host}{close}:{serv}")
    };
    truncate(&mut s, 59);
    s
}

fn truncate(s: &mut String, n: usize) {
    if s.len() > n {
        let mut i = n;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
}

/// `print_largenum`: 9 columns, K/M/G/T from 10^8 up, unless `--exact`.
pub fn largenum(out: &mut String, i: u64, exact: bool) {
    let _ = if exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        write!(out, "{i:>w$}")
    } else if i < 100_000_000 {
        write!(out, "{i:>9}")
    } else if i < 1_000_000_000 {
        write!(out, "{:>8}K", i / 1000)
    } else if i < 100_000_000_000 {
        write!(out, "{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        write!(out, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", i / 1_000_000_000_000)
    };
}

/// `print_title`.
fn title(out: &mut String, fmt: &ListFormat) {
    let remote = "  -> RemoteAddress:Port\n";
    let prot = "Prot LocalAddress:Port";
    let _ = if fmt.stats {
        let h = ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"];
        write!(
            out,
            "{prot:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{remote}",
            h[0], h[1], h[2], h[3], h[4]
        )
    } else if fmt.rate {
        let h = ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"];
        write!(
            out,
            "{prot:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{remote}",
            h[0], h[1], h[2], h[3], h[4]
        )
    } else if fmt.thresholds {
        write!(
            out,
            "{prot:<33} {:<10} {:<10} {:<10} {:<10}\n{remote}",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if fmt.persistent_conn {
        write!(
            out,
            "{prot:<33} {:<9} {:<11} {:<10} {:<10}\n{remote}",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if fmt.tun_info {
        out.push_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n",
        );
        Ok(())
    } else if !fmt.rule {
        out.push_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        );
        Ok(())
    } else {
        Ok(())
    };
}

/// `print_sched_flags`: the names depend on the scheduler.
pub(super) fn sched_flag_names(svc: &AdmService) -> String {
    let names: [(u32, &str); 3] = match svc.scheduler.as_str() {
        "sh" => [(0x8, "sh-fallback"), (0x10, "sh-port"), (0, "")],
        "mh" => [(0x8, "mh-fallback"), (0x10, "mh-port"), (0, "")],
        _ => [(0x8, "flag-1"), (0x10, "flag-2"), (0x20, "flag-3")],
    };
    names
        .iter()
        .filter(|(bit, _)| *bit != 0 && svc.sched_flags & bit != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

fn v4_mask(m: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(m)
}

/// The service's name in listings (`svc_name`): `TCP  addr:port` cut to 33 bytes for IPv4,
/// `FWM  n [IPv6]`; in rule form `-t addr:port` / `-f n [-6]`.
pub(super) fn service_name(svc: &AdmService, fmt: &ListFormat, res: &dyn Resolver) -> String {
    if svc.fwmark != 0 {
        return match (fmt.rule, svc.ipv6) {
            (true, true) => format!("-f {} -6", svc.fwmark),
            (true, false) => format!("-f {}", svc.fwmark),
            (false, true) => format!("FWM  {} IPv6", svc.fwmark),
            (false, false) => format!("FWM  {}", svc.fwmark),
        };
    }
    let vname = addrport(svc.addr, svc.port, svc.proto(), fmt, res);
    if fmt.rule {
        let opt = match svc.proto() {
            Some(Protocol::Tcp) => "-t",
            Some(Protocol::Udp) => "-u",
            Some(Protocol::Sctp) => "--sctp-service",
            None => "--xxx-service",
        };
        format!("{opt} {vname}")
    } else {
        let mut s = format!("{:<4} {vname}", svc.proto().map_or("?", Protocol::name));
        if !svc.ipv6 {
            truncate(&mut s, 33);
        }
        s
    }
}

/// `print_service_entry` for one service and its dests.
fn service_entry(out: &mut String, svc: &AdmService, fmt: &ListFormat, res: &dyn Resolver) {
    let name = service_name(svc, fmt, res);
    if fmt.rule {
        super::save::service_rule(out, svc, &name);
    } else if fmt.stats || fmt.rate {
        let c = if fmt.stats { &svc.stats } else { &svc.rates };
        let _ = write!(out, "{name:<33}");
        for v in [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes] {
            largenum(out, v, fmt.exact);
        }
    } else {
        let _ = write!(out, "{name} {}", svc.scheduler);
        if svc.sched_flags & 0x38 != 0 {
            let _ = write!(out, " ({})", sched_flag_names(svc));
        }
        if let Some(t) = svc.persistent {
            let _ = write!(out, " persistent {t}");
            if !svc.ipv6 && svc.netmask != u32::MAX {
                let _ = write!(out, " mask {}", v4_mask(svc.netmask));
            }
            if svc.ipv6 && svc.netmask != 128 {
                let _ = write!(out, " mask {}", svc.netmask);
            }
            if let Some(pe) = &svc.pe {
                let _ = write!(out, " pe {pe}");
            }
        }
        if svc.one_packet {
            out.push_str(" ops");
        }
    }
    out.push('\n');
    let mut dests = svc.dests.clone();
    if !fmt.nosort {
        msort(&mut dests, &cmp_dests);
    }
    for d in &dests {
        dest_entry(out, svc, &name, d, fmt, res);
    }
}

fn dest_entry(
    out: &mut String,
    svc: &AdmService,
    svc_name: &str,
    d: &AdmDest,
    fmt: &ListFormat,
    res: &dyn Resolver,
) {
    let mut dname = addrport(d.addr, d.port, svc.proto(), fmt, res);
    if !fmt.rule && !d.addr.is_ipv6() {
        truncate(&mut dname, 28);
    }
    let _ = if fmt.rule {
        super::save::dest_rule(out, svc_name, &dname, d);
        Ok(())
    } else if fmt.stats {
        let _ = write!(out, "  -> {dname:<28}");
        let s = &d.stats;
        for v in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
            largenum(out, v, fmt.exact);
        }
        writeln!(out)
    } else if fmt.rate {
        // ipvsadm prints the three per-second counts plainly, only the byte rates through
        // print_largenum.
        let r = &d.rates;
        let _ = write!(
            out,
            "  -> {dname:<28} {:>8} {:>8} {:>8}",
            r.conns, r.inpkts, r.outpkts
        );
        largenum(out, r.inbytes, fmt.exact);
        largenum(out, r.outbytes, fmt.exact);
        writeln!(out)
    } else if fmt.thresholds {
        writeln!(
            out,
            "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
            d.u_threshold, d.l_threshold, d.active_conns, d.inactive_conns
        )
    } else if fmt.persistent_conn {
        // `%-9u` of the int weight.
        writeln!(
            out,
            "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
            d.weight as u32, d.persist_conns, d.active_conns, d.inactive_conns
        )
    } else if fmt.tun_info {
        writeln!(
            out,
            "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
            d.fwd.name(),
            tun_info(d),
            d.weight,
            d.active_conns,
            d.inactive_conns
        )
    } else {
        writeln!(
            out,
            "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
            d.fwd.name(),
            d.weight,
            d.active_conns,
            d.inactive_conns
        )
    };
}

/// `fwd_tun_info`: `ipip`, `gue:PORT:FLAGS`, `gre:FLAGS`, or `n/a` for other methods.
fn tun_info(d: &AdmDest) -> String {
    const FLAGS: [&str; 3] = ["-c", "+c", "r+c"];
    let flags = FLAGS.get(usize::from(d.tun_flags)).copied().unwrap_or("");
    match (d.fwd, d.tun_type) {
        (super::model::AdmFwd::Tunnel, 0) => "ipip".into(),
        (super::model::AdmFwd::Tunnel, 1) => format!("gue:{}:{flags}", d.tun_port),
        (super::model::AdmFwd::Tunnel, 2) => format!("gre:{flags}"),
        _ => "n/a".into(),
    }
}

/// `list_all`: the version header (not for `-S`), the title, every service in ipvsadm order.
pub fn list_all(state: &AdmState, fmt: &ListFormat, res: &dyn Resolver) -> String {
    let mut out = String::new();
    if !fmt.rule {
        let _ = writeln!(
            out,
            "IP Virtual Server version 1.2.1 (size={})",
            state.table_size
        );
    }
    let mut services = state.services.clone();
    if !fmt.nosort {
        msort(&mut services, &cmp_services);
    }
    title(&mut out, fmt);
    for svc in &services {
        service_entry(&mut out, svc, fmt, res);
    }
    out
}

/// `list_service`: the title and one service, no version header.
pub fn list_service(svc: &AdmService, fmt: &ListFormat, res: &dyn Resolver) -> String {
    let mut out = String::new();
    title(&mut out, fmt);
    service_entry(&mut out, svc, fmt, res);
    out
}

/// `list_conn`: `-c`, in the table's order.
pub fn list_conns(conns: &[AdmConn], fmt: &ListFormat, res: &dyn Resolver) -> String {
    let mut out = String::from("IPVS connection entries\n");
    let _ = if fmt.persistent_conn {
        writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        )
    } else {
        writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        )
    };
    for c in conns {
        let proto = match c.protocol {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        };
        let pname = match c.protocol {
            6 => "TCP",
            17 => "UDP",
            132 => "SCTP",
            50 => "ESP",
            51 => "AH",
            1 | 58 => "ICMP",
            _ => "IP",
        };
        let cname = addrport(c.caddr, c.cport, proto, fmt, res);
        let vname = addrport(c.vaddr, c.vport, proto, fmt, res);
        let dname = addrport(c.daddr, c.dport, proto, fmt, res);
        let expire = format!("{:02}:{:02}", c.expires / 60, c.expires % 60);
        let _ = writeln!(
            out,
            "{pname:<3} {expire:<6} {:<11} {cname:<18} {vname:<18} {dname}",
            c.state
        );
    }
    out
}

/// `list_timeout`.
pub fn list_timeout(t: (u32, u32, u32)) -> String {
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", t.0, t.1, t.2)
}

/// `list_daemon`: one line per running sync daemon.
pub fn list_daemon(daemons: &[AdmDaemon]) -> String {
    let mut out = String::new();
    for d in daemons {
        let kind = if d.master { "master" } else { "backup" };
        let _ = write!(
            out,
            "{kind} sync daemon (mcast={}, syncid={}",
            d.mcast_ifn, d.syncid
        );
        if d.sync_maxlen != 0 {
            let _ = write!(out, ", maxlen={}", d.sync_maxlen);
        }
        if let Some(g) = d.mcast_group {
            let _ = write!(out, ", group={g}");
        }
        if d.mcast_port != 0 {
            let _ = write!(out, ", port={}", d.mcast_port);
        }
        if d.mcast_ttl != 0 {
            let _ = write!(out, ", ttl={}", d.mcast_ttl);
        }
        out.push_str(")\n");
    }
    out
}
