//! NAT through a two-arm director (client side and server side on separate interfaces, routes
//! in the TOML) with two workers in one fanout group steered by the client endpoint, so both
//! directions of every connection meet the same worker's connection table.

mod e2e;

use e2e::checks::{rules, transfers_both};
use e2e::cluster::{Cluster, two_arm_toml};

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
