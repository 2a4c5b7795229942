//! Shared by the health monitor tests: the one service and its NAT real servers.

#![allow(unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr};

use lvs_core::ipvsadm::{DestConfig, FwdMethod, Protocol, ServiceKey, TunnelConfig};

/// TCP 192.0.2.1:80.
pub fn svc() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 80,
    }
}

/// 10.0.0.`last`:80, NAT, no thresholds.
pub fn dest(last: u8, weight: u32) -> DestConfig {
    DestConfig {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port: 80,
        fwd: FwdMethod::Masq,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: TunnelConfig::default(),
    }
}
