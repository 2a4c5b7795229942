//! End to end through `lvs-router run` in NAT mode (`-m`): kernel clients (curl, std sockets)
//! and kernel servers (Python) in namespaces, IPv4 and IPv6, TCP and UDP, rr and wlc, a
//! port-unreachable translated back to the client, clean SIGTERM. Lab: tests/e2e/cluster.rs.
//! Needs root (or `unshare -Urn`) and the Debian packages in `e2e::PACKAGES`.

mod e2e;

use std::net::SocketAddr;

use e2e::client::{distribution, http_get, sha256, udp_ask, upload};
use e2e::cluster::{Cluster, one_arm_toml, rip, rip6};

fn nat_rules() -> String {
    let mut r =
        String::from("# ipvsadm-save -n\n-A -t 192.0.2.10:80 -s rr\n-A -t 192.0.2.10:81 -s wlc\n");
    r.push_str(
        "-A -t 192.0.2.10:9000 -s rr\n-A -u 192.0.2.10:53 -s rr\n-A -u 192.0.2.10:54 -s rr\n",
    );
    r.push_str("-A -t [2001:db8:2::10]:80 -s rr\n-A -u [2001:db8:2::10]:53 -s rr\n");
    for i in 1..=3 {
        let (a, a6) = (rip(i), rip6(i));
        r.push_str(&format!("-a -t 192.0.2.10:80 -r {a}:8080 -m -w 1\n"));
        r.push_str(&format!("-a -t 192.0.2.10:81 -r {a}:80 -m -w 1\n"));
        r.push_str(&format!("-a -t 192.0.2.10:9000 -r {a}:9000 -m -w 1\n"));
        r.push_str(&format!("-a -u 192.0.2.10:53 -r {a}:9001 -m -w 1\n"));
        r.push_str(&format!(
            "-a -t [2001:db8:2::10]:80 -r [{a6}]:8080 -m -w 1\n"
        ));
        r.push_str(&format!(
            "-a -u [2001:db8:2::10]:53 -r [{a6}]:9001 -m -w 1\n"
        ));
    }
    // A closed port on the real server: its port-unreachable must reach the client translated.
    r.push_str(&format!("-a -u 192.0.2.10:54 -r {}:9999 -m -w 1\n", rip(1)));
    r
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn nat_end_to_end() {
    if e2e::unavailable("nat_end_to_end") {
        return;
    }
    let mut lab = Cluster::build("nat");
    // GRO on before the start: the router turns it off and must turn it back on at exit.
    lab.director.sh("ethtool -K d0 gro on");
    let gro = |lab: &Cluster| lab.director.sh("ethtool -k d0");
    lab.start_router(&nat_rules(), &one_arm_toml(""));
    assert!(gro(&lab).contains("generic-receive-offload: off"));

    // 32 bytes and 10 MiB by curl, both families, compared by digest.
    for (url, file) in [
        ("http://192.0.2.10/small", "small"),
        ("http://192.0.2.10/big", "big"),
        ("http://[2001:db8:2::10]/small", "small"),
        ("http://[2001:db8:2::10]/big", "big"),
    ] {
        let got = lab
            .curl(url)
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", lab.router_log()));
        assert_eq!(sha256(&got), sha256(&lab.served(file)), "{url}");
    }

    let big = lab.served("big");
    let client = lab.client.thread(move || {
        let up = upload(sa("192.0.2.10:9000"), &big).expect("upload");
        let udp4 = udp_ask(sa("192.0.2.10:53"), b"hello").expect("udp v4");
        let udp6 = udp_ask(sa("[2001:db8:2::10]:53"), b"hello6").expect("udp v6");
        let refused = udp_ask(sa("192.0.2.10:54"), b"anyone?");
        let rr = distribution(sa("192.0.2.10:80"), 300);
        let wlc = distribution(sa("192.0.2.10:81"), 300);
        let v6 = http_get(sa("[2001:db8:2::10]:80"), "/id").expect("v6 get");
        (up, udp4, udp6, refused, rr, wlc, v6)
    });
    let (up, udp4, udp6, refused, rr, wlc, v6) = client.join().unwrap();
    let log = lab.router_log();
    assert!(
        up.ends_with(&sha256(&lab.served("big"))),
        "upload digest {up}"
    );
    assert!(
        udp4.ends_with(b":hello") && udp4.starts_with(b"rs"),
        "{udp4:?}"
    );
    assert!(udp6.ends_with(b":hello6"), "{udp6:?}");
    // The real server's ICMP port unreachable, translated by the director, makes the
    // connected UDP socket fail with ECONNREFUSED (a timeout would mean it was lost).
    let err = refused.expect_err("closed port answered");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert!(v6.starts_with(b"rs"));

    // rr over sequential connections: exactly one third each.
    let (rr, failed) = rr;
    assert_eq!(failed, 0, "{rr:?}\n{log}");
    assert_eq!(rr.len(), 3, "{rr:?}");
    assert!(rr.values().all(|&n| n == 100), "rr: {rr:?}");
    // wlc: closed connections linger as inactive (TIME_WAIT), so every server gets a share.
    let (wlc, failed) = wlc;
    assert_eq!(failed, 0);
    assert_eq!(wlc.len(), 3, "{wlc:?}");
    assert!(wlc.values().all(|&n| n >= 60), "wlc: {wlc:?}");

    // A reload that drops rs3 drops it from the host-isolation rules too (its replies are no
    // longer ours to keep from the host's forwarding).
    let ruleset = |lab: &Cluster| lab.director.try_cmd(&["nft", "list", "ruleset"]).1;
    assert!(ruleset(&lab).contains(&rip(3)), "{}", ruleset(&lab));
    let without_rs3: String = nat_rules()
        .lines()
        .filter(|l| !l.contains(&rip(3)) && !l.contains(&rip6(3)))
        .map(|l| format!("{l}\n"))
        .collect();
    lab.reload(&without_rs3);
    assert!(!ruleset(&lab).contains(&rip(3)), "{}", ruleset(&lab));
    assert!(ruleset(&lab).contains(&rip(2)), "{}", ruleset(&lab));

    // SIGTERM: exit 0 and the nftables isolation removed.
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
    let (_, tables) = lab.director.try_cmd(&["nft", "list", "tables"]);
    assert!(!tables.contains("lvs_rs"), "left behind: {tables}");
    assert!(gro(&lab).contains("generic-receive-offload: on"));
}
