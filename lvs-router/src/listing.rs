//! Per-worker snapshots merged into one, and an `ipvsadm -Ln --stats`-shaped table of it.
//!
//! The mgmt branch brings ipvsadm's exact listing formatter (`lvs_core::ipvsadm::list`); until
//! it is merged this is a plain table in the same column layout (`%-33s %8s ...`, numbers not
//! abbreviated).

use lvs_core::director::{DirectorSnapshot, Rates, Stats};
use lvs_core::ipvsadm::{ServiceKey, SocketDisplay};

fn add_stats(a: &mut Stats, b: &Stats) {
    a.conns += b.conns;
    a.inpkts += b.inpkts;
    a.outpkts += b.outpkts;
    a.inbytes += b.inbytes;
    a.outbytes += b.outbytes;
}

fn add_rates(a: &mut Rates, b: &Rates) {
    a.cps += b.cps;
    a.inpps += b.inpps;
    a.outpps += b.outpps;
    a.inbps += b.inbps;
    a.outbps += b.outbps;
}

/// Sums the workers' snapshots: every worker holds the same services and dests (the control
/// plane applies each command to all), each with its own share of the connections.
pub(crate) fn merge(mut parts: Vec<DirectorSnapshot>) -> Option<DirectorSnapshot> {
    let mut total = parts.pop()?;
    for p in &parts {
        add_stats(&mut total.stats, &p.stats);
        add_rates(&mut total.rates, &p.rates);
        total.conns += p.conns;
        total.conn_budget += p.conn_budget;
        total.templates += p.templates;
        total.drops.add(&p.drops);
        for svc in &p.services {
            let Some(t) = total.services.iter_mut().find(|s| s.key == svc.key) else {
                continue;
            };
            add_stats(&mut t.stats, &svc.stats);
            add_rates(&mut t.rates, &svc.rates);
            for d in &svc.dests {
                if let Some(td) = t
                    .dests
                    .iter_mut()
                    .find(|x| x.addr == d.addr && x.port == d.port)
                {
                    td.active_conns += d.active_conns;
                    td.inactive_conns += d.inactive_conns;
                    td.persist_conns += d.persist_conns;
                    add_stats(&mut td.stats, &d.stats);
                    add_rates(&mut td.rates, &d.rates);
                }
            }
        }
    }
    Some(total)
}

fn service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Inet {
            protocol,
            addr,
            port,
        } => format!("{:<4} {}", protocol.name(), SocketDisplay(*addr, *port)),
        ServiceKey::Fwmark { mark, .. } => format!("FWM  {mark}"),
    }
}

/// The `ipvsadm -Ln --stats` table of `snap`.
pub(crate) fn stats_table(snap: &DirectorSnapshot) -> String {
    let mut out = String::from("IP Virtual Server version 1.2.1 (size=4096)\n");
    out.push_str(&format!(
        "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
        "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
    ));
    let row = |name: String, s: &Stats| {
        format!(
            "{name:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes
        )
    };
    for svc in &snap.services {
        out.push_str(&row(service_name(&svc.key), &svc.stats));
        for d in &svc.dests {
            let name = format!("  -> {}", SocketDisplay(d.addr, d.port));
            out.push_str(&row(name, &d.stats));
        }
    }
    out
}

/// The `ipvsadm -Ln` table (weights and connection counts) of `snap`.
pub(crate) fn conns_table(snap: &DirectorSnapshot) -> String {
    let mut out = String::from(
        "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    );
    for svc in &snap.services {
        out.push_str(&format!(
            "{} {}\n",
            service_name(&svc.key),
            svc.config.scheduler
        ));
        for d in &svc.dests {
            let fwd = match d.fwd {
                lvs_core::conn::ForwardMethod::Nat => "Masq",
                lvs_core::conn::ForwardMethod::FullNat => "FullNat",
                lvs_core::conn::ForwardMethod::Tun => "Tunnel",
                _ => "Route",
            };
            out.push_str(&format!(
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}\n",
                SocketDisplay(d.addr, d.port).to_string(),
                fwd,
                d.weight,
                d.active_conns,
                d.inactive_conns
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::director::{Director, DirectorConfig};
    use lvs_core::ipvsadm::parse_line;
    use lvs_core::time::Instant;

    fn director() -> Director {
        let mut d = Director::new(DirectorConfig::default());
        for l in [
            "-A -t 192.0.2.10:80 -s wlc",
            "-a -t 192.0.2.10:80 -r 172.16.0.11:8080 -m -w 2",
            "-a -t 192.0.2.10:80 -r 172.16.0.12:8080 -m -w 1",
            "-A -t [2001:db8::10]:80 -s rr",
            "-a -t [2001:db8::10]:80 -r [2001:db8::11]:8080 -m -w 1",
        ] {
            d.apply(&parse_line(l).unwrap(), Instant::ZERO).unwrap();
        }
        d
    }

    #[test]
    fn merging_sums_counters_and_keeps_the_layout() {
        let a = director().snapshot();
        let mut b = a.clone();
        b.services[0].stats.conns = 5;
        b.services[0].dests[1].stats.inbytes = 700;
        b.services[0].dests[1].active_conns = 3;
        let mut a2 = a.clone();
        a2.services[0].stats.conns = 2;
        let m = merge(vec![a2, b]).unwrap();
        assert_eq!(m.services[0].stats.conns, 7);
        assert_eq!(m.services[0].dests[1].active_conns, 3);
        assert_eq!(m.services[0].dests[1].stats.inbytes, 700);
        assert_eq!(m.conn_budget, 2 * a.conn_budget);
        assert!(merge(Vec::new()).is_none());
    }

    #[test]
    fn tables_have_ipvsadm_columns() {
        let s = director().snapshot();
        let l = conns_table(&s);
        assert!(l.contains("TCP  192.0.2.10:80 wlc\n"), "{l}");
        assert!(
            l.contains("  -> 172.16.0.11:8080             Masq    2      0          0         \n"),
            "{l}"
        );
        let t = stats_table(&s);
        assert!(
            t.contains("Prot LocalAddress:Port               Conns   InPkts"),
            "{t}"
        );
        assert!(t.contains("  -> [2001:db8::11]:8080"), "{t}");
    }
}
