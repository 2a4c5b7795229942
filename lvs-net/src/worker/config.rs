//! Worker configuration: ports and routes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::device::AfPacketConfig;

/// One interface of a worker.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// The AF_PACKET set-up.
    pub device: AfPacketConfig,
    /// Source address of ARP requests on this port (0.0.0.0, an ARP probe, when `None`).
    pub ipv4: Option<Ipv4Addr>,
    /// Source address of neighbour solicitations on this port (`::` when `None`).
    pub ipv6: Option<Ipv6Addr>,
}

/// A route: next hops inside `net/prefix` leave through `port`, via `gateway` if set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Network address.
    pub net: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Port index.
    pub port: usize,
    /// Gateway to resolve instead of the next hop itself.
    pub gateway: Option<IpAddr>,
}

impl Route {
    fn matches(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(n.to_bits()) << 96,
                u128::from(i.to_bits()) << 96,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
            _ => return false,
        };
        let p = u32::from(self.prefix.min(bits));
        p == 0 || (a ^ b) >> (128 - p) == 0
    }
}

/// A worker's configuration.
#[derive(Clone, Debug, Default)]
pub struct WorkerConfig {
    /// Its interfaces (port index = position).
    pub ports: Vec<PortConfig>,
    /// Routes, longest prefix wins; a next hop no route matches is on-link on the port the
    /// frame came in on.
    pub routes: Vec<Route>,
}

/// The port and the address to resolve for `next_hop`.
pub(super) fn route(routes: &[Route], next_hop: IpAddr, default_port: usize) -> (usize, IpAddr) {
    routes
        .iter()
        .find(|r| r.matches(next_hop))
        .map_or((default_port, next_hop), |r| {
            (r.port, r.gateway.unwrap_or(next_hop))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_gateway() {
        let mut routes = vec![
            Route {
                net: "0.0.0.0".parse().unwrap(),
                prefix: 0,
                port: 1,
                gateway: Some("192.0.2.254".parse().unwrap()),
            },
            Route {
                net: "198.51.100.0".parse().unwrap(),
                prefix: 24,
                port: 2,
                gateway: None,
            },
        ];
        routes.sort_by_key(|r| core::cmp::Reverse(r.prefix));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            route(&routes, ip("198.51.100.7"), 0),
            (2, ip("198.51.100.7"))
        );
        assert_eq!(route(&routes, ip("203.0.113.1"), 0), (1, ip("192.0.2.254")));
        assert_eq!(route(&routes, ip("2001:db8::1"), 3), (3, ip("2001:db8::1")));
    }
}
