//! The checks every forwarding method runs: rules for the lab's three servers, then 32-byte and
//! 10 MiB downloads by curl and a 10 MiB upload compared by SHA-256, a UDP request/response,
//! and an exact rr split of sequential connections.

use std::net::SocketAddr;
use std::time::Duration;

use super::client::{distribution, sha256, udp_ask, upload};
use super::cluster::{Cluster, rip, rip6};

/// ipvsadm-save lines: TCP 80 (rr), TCP 9000 (rr, uploads), UDP 9001 (rr) on both VIPs, with
/// `fwd` (`-g`, `-i`, `-i --tun-type gue --tun-port 6080`, `-m`) for every dest. DR and TUN
/// force the real port to the virtual one, so services use the servers' own ports.
pub fn rules(fwd: &str, v6: bool) -> String {
    let mut r = String::new();
    let vips: &[&str] = if v6 {
        &["192.0.2.10", "[2001:db8:2::10]"]
    } else {
        &["192.0.2.10"]
    };
    for vip in vips {
        for (p, port) in [("-t", 80), ("-t", 9000), ("-u", 9001)] {
            r.push_str(&format!("-A {p} {vip}:{port} -s rr\n"));
            for i in 1..=3 {
                let a = if vip.starts_with('[') {
                    format!("[{}]", rip6(i))
                } else {
                    rip(i)
                };
                r.push_str(&format!("-a {p} {vip}:{port} -r {a}:{port} {fwd} -w 1\n"));
            }
        }
    }
    r
}

/// Runs the transfers and the rr split on `vip` (`192.0.2.10` or `[2001:db8:2::10]`).
pub fn transfers(lab: &Cluster, vip: &str) {
    transfers_with(lab, vip, 1);
}

/// [`transfers`] for a director with `workers` workers: each worker's `Director` keeps its own
/// rr cursor (the kernel has one per service), so a server's share may be off by up to
/// `workers - 1` from the exact third.
pub fn transfers_with(lab: &Cluster, vip: &str, workers: usize) {
    for file in ["small", "big"] {
        let url = format!("http://{vip}/{file}");
        let got = lab
            .curl(&url)
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", lab.router_log()));
        assert_eq!(sha256(&got), sha256(&lab.served(file)), "{url}");
    }
    let big = lab.served("big");
    let want = sha256(&big);
    let sa = |p: u16| -> SocketAddr { format!("{vip}:{p}").parse().unwrap() };
    let (up, udp, rr) = (sa(9000), sa(9001), sa(80));
    let (up, udp, (rr, failed)) = lab
        .client
        .thread(move || {
            (
                upload(up, &big),
                udp_ask(udp, b"hello"),
                distribution(rr, 150),
            )
        })
        .join()
        .unwrap();
    let log = lab.router_log();
    let up = up.unwrap_or_else(|e| panic!("upload to {vip}: {e}\n{log}"));
    assert!(up.ends_with(&want), "upload digest {up}");
    let udp = udp.unwrap_or_else(|e| panic!("udp to {vip}: {e}\n{log}"));
    assert!(
        udp.starts_with(b"rs") && udp.ends_with(b":hello"),
        "{udp:?}"
    );
    assert_eq!(failed, 0, "{rr:?}\n{log}");
    assert_eq!(rr.len(), 3, "{rr:?}");
    let slack = workers - 1;
    assert!(
        rr.values().all(|&n| n.abs_diff(50) <= slack),
        "rr over {vip}: {rr:?}"
    );
}

/// [`transfers_with`] on both VIPs (IPv4, then IPv6), after checking that the router says it
/// runs `workers` workers when there are more than one.
pub fn transfers_both(lab: &Cluster, workers: usize) {
    if workers > 1 {
        let log = lab.router_log();
        assert!(log.contains(&format!("workers={workers}")), "{log}");
    }
    transfers_with(lab, "192.0.2.10", workers);
    transfers_with(lab, "[2001:db8:2::10]", workers);
}

/// Starts a TUN decapsulator (`lvs-router realserver`) for `vips` on every real server, on GUE
/// port `gue` or plain IPIP, waits until each one decapsulates, and adds the direct-return
/// routes ([`direct_return`]).
pub fn start_decapsulators(lab: &mut Cluster, vips: &[&str], gue: Option<u16>) {
    let bin = super::router_bin().to_str().unwrap().to_owned();
    let port = gue.map(|p| p.to_string());
    for (i, s) in lab.servers.iter_mut().enumerate() {
        let mut args = vec![bin.as_str(), "-v", "realserver", "--interface", "e0"];
        for vip in vips {
            args.extend(["--vip", vip]);
        }
        if let Some(p) = &port {
            args.extend(["--gue-port", p]);
        }
        let log = format!("decap{i}.log");
        s.spawn_ready(&args, &log, "decapsulating", Duration::from_secs(20));
    }
    direct_return(lab);
}

/// Real servers answer clients directly (DR, TUN): an on-link route to the client's subnet.
pub fn direct_return(lab: &Cluster) {
    for s in &lab.servers {
        s.ip("route add 203.0.113.0/24 dev e0");
        s.ip("-6 route add 2001:db8:1::/64 dev e0");
    }
}
