//! The fwmark classifier: userspace has no netfilter `MARK` target, so the rules that an
//! `iptables -t mangle -A PREROUTING ... -j MARK --set-mark n` setup would hold live here.
//!
//! It runs only for packets that match no connection (connections are keyed by their 5-tuple,
//! whatever mark created them), so it costs nothing on established flows.

use core::ops::RangeInclusive;
use std::net::IpAddr;

use crate::wire::IpProtocol;
use crate::wire::flow::FlowKey;

/// An address prefix (`192.0.2.0/24`, `2001:db8::/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// The network address.
    pub addr: IpAddr,
    /// Prefix length (0..=32 or 0..=128).
    pub len: u8,
}

impl Prefix {
    /// Whether `a` is inside the prefix (never across families).
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let len = u32::from(self.len.min(32));
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let len = u32::from(self.len.min(128));
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// One rule: every given condition must hold; the first matching rule sets the mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwmarkRule {
    /// Protocol, any when `None`.
    pub proto: Option<IpProtocol>,
    /// Source prefix.
    pub src: Option<Prefix>,
    /// Destination prefix.
    pub dst: Option<Prefix>,
    /// Destination port range.
    pub dports: Option<RangeInclusive<u16>>,
    /// The mark (> 0).
    pub mark: u32,
}

impl FwmarkRule {
    /// Whether the rule matches the packet.
    pub fn matches(&self, flow: &FlowKey) -> bool {
        self.proto.is_none_or(|p| p == flow.proto)
            && self.src.is_none_or(|p| p.contains(flow.src_addr))
            && self.dst.is_none_or(|p| p.contains(flow.dst_addr))
            && self
                .dports
                .as_ref()
                .is_none_or(|r| r.contains(&flow.dst_port))
    }
}

/// The mark of a packet: the first matching rule's, 0 when none matches.
pub(super) fn classify(rules: &[FwmarkRule], flow: &FlowKey) -> u32 {
    rules.iter().find(|r| r.matches(flow)).map_or(0, |r| r.mark)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(dst: [u8; 4], port: u16) -> FlowKey {
        FlowKey {
            proto: IpProtocol::Tcp,
            src_addr: IpAddr::from([198, 51, 100, 7]),
            src_port: 40000,
            dst_addr: IpAddr::from(dst),
            dst_port: port,
        }
    }

    #[test]
    fn prefix_and_ports() {
        let rule = FwmarkRule {
            proto: Some(IpProtocol::Tcp),
            src: None,
            dst: Some(Prefix {
                addr: IpAddr::from([192, 0, 2, 0]),
                len: 24,
            }),
            dports: Some(80..=443),
            mark: 7,
        };
        let rules = [rule];
        assert_eq!(classify(&rules, &flow([192, 0, 2, 9], 80)), 7);
        assert_eq!(classify(&rules, &flow([192, 0, 2, 255], 443)), 7);
        assert_eq!(classify(&rules, &flow([192, 0, 3, 1], 80)), 0);
        assert_eq!(classify(&rules, &flow([192, 0, 2, 9], 444)), 0);
        let p0 = Prefix {
            addr: IpAddr::from([0, 0, 0, 0]),
            len: 0,
        };
        assert!(p0.contains(IpAddr::from([1, 2, 3, 4])));
        assert!(!p0.contains("::1".parse().unwrap()));
    }
}
