//! End to end through `lvs-router run` in FULLNAT mode: `-m` dests of services that have a
//! local-address pool (`[[fullnat]]` in the TOML) get both addresses rewritten, so the real
//! servers see the local address as the client and answer it, with no route back to the
//! client at all. IPv4 and IPv6, TCP and UDP, rr.
//!
//! `fullnat_two_workers`: the same with `workers = 2`. Worker i allocates the local ports with
//! `lport % 2 == i` and the fanout steering program sends a reply to member `lport % 2`, so
//! every reply meets the worker holding its connection; the metrics endpoint shows that both
//! workers forwarded.

mod e2e;

use e2e::checks::{rules, transfers_both};
use e2e::client::{Held, http_get};
use e2e::cluster::{Cluster, one_arm_toml};

const LIP: &str = "172.16.0.100";
const LIP6: &str = "fd00:5e::100";

fn pools() -> String {
    let mut t = String::new();
    for (vip, lip) in [("192.0.2.10", LIP), ("[2001:db8:2::10]", LIP6)] {
        for (p, port) in [("-t", 80), ("-t", 9000), ("-u", 9001), ("-t", 9002)] {
            t.push_str(&format!(
                "\n[[fullnat]]\nservice = \"{p} {vip}:{port}\"\nladdrs = [\"{lip}\"]\nports = \"20000-60000\"\n"
            ));
        }
    }
    t
}

#[test]
fn fullnat_end_to_end() {
    if e2e::unavailable("fullnat_end_to_end") {
        return;
    }
    let mut lab = Cluster::build("fnat");
    // No way back to the client: replies can only work through the local address.
    for s in &lab.servers {
        s.ip("route del default");
        s.ip("-6 route del default");
    }
    let mut r = rules("-m", true);
    for vip in ["192.0.2.10", "[2001:db8:2::10]"] {
        r.push_str(&format!("-A -t {vip}:9002 -s rr\n"));
        r.push_str(&format!(
            "-a -t {vip}:9002 -r {}:9002 -m\n",
            if vip.starts_with('[') {
                "[fd00:5e::11]".to_owned()
            } else {
                e2e::cluster::rip(1)
            }
        ));
    }
    lab.start_router(&r, &one_arm_toml(&pools()));
    transfers_both(&lab, 1);
    let (v4, v6) = lab
        .client
        .thread(|| {
            (
                Held::open("192.0.2.10:9002".parse().unwrap()),
                Held::open("[2001:db8:2::10]:9002".parse().unwrap()),
            )
        })
        .join()
        .unwrap();
    let (mut v4, mut v6) = (v4.expect("hold v4"), v6.expect("hold v6"));
    assert_eq!(v4.peer, LIP, "the real server sees the local address");
    assert_eq!(v6.peer, LIP6);
    v4.ping(b"ping").expect("echo v4");
    v6.ping(b"ping6").expect("echo v6");
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}

#[test]
fn fullnat_two_workers() {
    if e2e::unavailable("fullnat_two_workers") {
        return;
    }
    let mut lab = Cluster::build("fnw2");
    for s in &lab.servers {
        s.ip("route del default");
        s.ip("-6 route del default");
    }
    let metrics = "127.0.0.1:19643";
    let sock = lab.dir().join("ctl.sock");
    let extra = format!(
        "workers = 2\nmetrics_listen = \"{metrics}\"\ncontrol_socket = \"{}\"\n{}",
        sock.display(),
        pools()
    );
    lab.start_router(&rules("-m", true), &one_arm_toml(&extra));
    transfers_both(&lab, 2);
    let text = lab
        .director
        .thread(move || http_get(metrics.parse().unwrap(), "/metrics"))
        .join()
        .unwrap()
        .expect("scrape");
    let text = String::from_utf8(text).unwrap();
    for w in 0..2 {
        let series = format!("lvs_worker_forwarded_total{{worker=\"{w}\"}} ");
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&series)?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(n > 0, "worker {w} forwarded nothing:\n{text}");
    }
    // -Lnc merges both workers' tables: every HTTP connection of the rr split (150 per
    // family, plus the two downloads) is still listed (TIME_WAIT lasts 2 minutes).
    let (ok, rows, err) = e2e::adm(&sock, &["-Lnc"]);
    assert!(ok, "{err}");
    let http = rows
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some("192.0.2.10:80"))
        .count();
    assert!(http >= 150, "{http} rows for 192.0.2.10:80:\n{rows}");
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}
