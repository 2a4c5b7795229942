//! End to end through `lvs-router run` in direct-routing mode (`-g`): the real servers hold the
//! VIPs on lo with arp_ignore/arp_announce set by `lvs-router realserver --dr --apply`, and
//! answer the client directly. IPv4 and IPv6, TCP and UDP, rr. Lab: tests/e2e/cluster.rs.

mod e2e;

use e2e::checks::{direct_return, rules, transfers_both};
use e2e::cluster::{Cluster, one_arm_toml};

#[test]
fn dr_end_to_end() {
    if e2e::unavailable("dr_end_to_end") {
        return;
    }
    let mut lab = Cluster::build("dr");
    let bin = e2e::router_bin().to_str().unwrap().to_owned();
    for s in &lab.servers {
        s.sh(&format!(
            "{bin} realserver --dr --apply --vip 192.0.2.10 --vip 2001:db8:2::10"
        ));
        let lo = s.ip("-o addr show dev lo");
        assert!(
            lo.contains("192.0.2.10/32") && lo.contains("2001:db8:2::10/128"),
            "{lo}"
        );
    }
    direct_return(&lab);
    lab.start_router(&rules("-g", true), &one_arm_toml(""));
    transfers_both(&lab, 1);
    assert_eq!(lab.stop_router(), Some(0), "{}", lab.router_log());
}
