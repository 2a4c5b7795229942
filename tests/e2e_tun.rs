//! End to end through `lvs-router run` in tunnel mode (`-i`), with `lvs-router realserver`
//! decapsulating on each real server (this machine has no ipip/gre/fou modules): ipip and GRE
//! over IPv4 and IPv6, and GUE. The tunnel's MTU is the path MTU less the outer header, so
//! the client's full-sized segments get ICMP fragmentation-needed / packet-too-big with the
//! reduced MTU from the director, which the client's kernel must have cached once the upload
//! is done.

mod e2e;

use e2e::checks::{rules, start_decapsulators, transfers, transfers_both};
use e2e::cluster::{Cluster, one_arm_toml};

/// The client's cached path MTU toward `vip` (from `ip route get`).
fn cached_mtu(lab: &Cluster, vip: &str) -> Option<u32> {
    let out = lab.client.ip(&format!("route get {vip}"));
    let mut words = out.split_whitespace();
    words.find(|w| *w == "mtu")?;
    words.next()?.parse().ok()
}

#[test]
fn tun_ipip_end_to_end() {
    if e2e::unavailable("tun_ipip_end_to_end") {
        return;
    }
    let mut lab = Cluster::build("tunip");
    start_decapsulators(&mut lab, &["192.0.2.10", "2001:db8:2::10"], None);
    lab.start_router(&rules("-i", true), &one_arm_toml(""));
    transfers_both(&lab, 1);
    // Path MTU 1500 less the outer IPv4 (20) / IPv6 (40) header.
    assert_eq!(cached_mtu(&lab, "192.0.2.10"), Some(1480));
    assert_eq!(cached_mtu(&lab, "2001:db8:2::10"), Some(1460));
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}

#[test]
fn tun_gue_end_to_end() {
    if e2e::unavailable("tun_gue_end_to_end") {
        return;
    }
    let mut lab = Cluster::build("tungue");
    start_decapsulators(&mut lab, &["192.0.2.10", "2001:db8:2::10"], Some(6080));
    lab.start_router(
        &rules("-i --tun-type gue --tun-port 6080", false),
        &one_arm_toml(""),
    );
    transfers(&lab, "192.0.2.10");
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}

#[test]
fn tun_gre_end_to_end() {
    if e2e::unavailable("tun_gre_end_to_end") {
        return;
    }
    let mut lab = Cluster::build("tungre");
    start_decapsulators(&mut lab, &["192.0.2.10", "2001:db8:2::10"], None);
    lab.start_router(&rules("-i --tun-type gre", true), &one_arm_toml(""));
    transfers_both(&lab, 1);
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}
