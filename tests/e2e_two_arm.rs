//! NAT through a two-arm director (client side and server side on separate interfaces, routes
//! in the TOML) with two workers in one fanout group steered by the client endpoint, so both
//! directions of every connection meet the same worker's connection table; and persistent
//! services with a /24 and a /64 netmask on two workers steered by client network.

mod e2e;

use e2e::adm;
use e2e::checks::{rules, transfers_both};
use e2e::cluster::{Cluster, rip, rip6, two_arm_toml};

#[test]
fn nat_two_arm_two_workers() {
    if e2e::unavailable("nat_two_arm_two_workers") {
        return;
    }
    let mut lab = Cluster::build_with("twoarm", true);
    lab.start_router(&rules("-m", true), &two_arm_toml("workers = 2"));
    transfers_both(&lab, 2);
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}

/// Persistent services with `-M 255.255.255.0` and `-M 64` on two workers: for each family,
/// two clients of one network that steering by client address alone would put on different
/// workers (checked with the steering's userspace twin) reach the same real server over many
/// connections, and the workers hold one template for their network between them, as the
/// kernel's one table does.
#[test]
fn persistent_network_two_workers() {
    use lvs_net::device::steer::{SteerKey, SteerPacket, fanout_member, program_value};
    use std::net::IpAddr;
    if e2e::unavailable("persistent_network_two_workers") {
        return;
    }
    // (VIP, first client, a client of its network on the other worker, the network's
    // template source in `-Lnc`).
    let mut families = Vec::new();
    for (vip, prefix, first, network) in [
        ("192.0.2.10", "203.0.113.", 10, "203.0.113.0:0"),
        ("2001:db8:2::10", "2001:db8:1::", 0x10, "[2001:db8:1::]:0"),
    ] {
        let v: IpAddr = vip.parse().unwrap();
        let client = |i: u32| {
            if v.is_ipv4() {
                format!("{prefix}{i}")
            } else {
                format!("{prefix}{i:x}")
            }
        };
        let worker = |c: &str| {
            let pkt = SteerPacket::from_client(6, c.parse().unwrap(), 40_000, v, 80);
            let value = program_value(&[v], &[], SteerKey::ClientAddress, &pkt).unwrap();
            fanout_member(value, 2)
        };
        let a = client(first);
        let b = (first + 1..250)
            .map(client)
            .find(|c| worker(c) != worker(&a))
            .expect("a client of the network on the other worker");
        families.push((vip, a, b, network));
    }
    let mut lab = Cluster::build_with("steermask", true);
    let sock = lab.dir().join("ctl.sock");
    let mut rules = String::from(
        "-A -t 192.0.2.10:80 -s rr -p 300 -M 255.255.255.0\n\
         -A -t [2001:db8:2::10]:80 -s rr -p 300 -M 64\n",
    );
    for i in 1..=3 {
        rules.push_str(&format!("-a -t 192.0.2.10:80 -r {}:80 -m -w 1\n", rip(i)));
        rules.push_str(&format!(
            "-a -t [2001:db8:2::10]:80 -r [{}]:80 -m -w 1\n",
            rip6(i)
        ));
    }
    for (_, a, b, _) in &families {
        for c in [a, b] {
            let len = if c.contains(':') {
                "64 dev c0 nodad"
            } else {
                "24 dev c0"
            };
            lab.client.ip(&format!("addr add {c}/{len}"));
        }
    }
    let extra = format!("workers = 2\ncontrol_socket = \"{}\"", sock.display());
    lab.start_router(&rules, &two_arm_toml(&extra));
    for (vip, a, b, _) in &families {
        let url = if vip.contains(':') {
            format!("http://[{vip}]/id")
        } else {
            format!("http://{vip}/id")
        };
        let mut seen = std::collections::BTreeMap::new();
        for n in 0..24 {
            let src = if n % 2 == 0 { a } else { b };
            let out = std::process::Command::new("nsenter")
                .arg(format!("--net={}", lab.client.ns_path().display()))
                .args([
                    "--",
                    "curl",
                    "-sS",
                    "-g",
                    "--max-time",
                    "10",
                    "--interface",
                    src,
                ])
                .arg(&url)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "curl from {src}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                lab.router_log()
            );
            let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            *seen.entry((id, src.clone())).or_insert(0) += 1;
        }
        let servers: std::collections::BTreeSet<_> = seen.keys().map(|(id, _)| id).collect();
        assert_eq!(servers.len(), 1, "{vip}: {seen:?}");
    }
    // One template per network over both workers' tables.
    let (ok, conns, err) = adm(&sock, &["-Lnc"]);
    assert!(ok, "adm -Lnc: {err}");
    for (_, _, _, network) in &families {
        let templates = conns
            .lines()
            .filter(|l| l.split_whitespace().nth(3) == Some(network))
            .count();
        assert_eq!(templates, 1, "{network}: {conns}");
    }
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}
