//! Numbers shared by IPv4 and IPv6.

enum_with_unknown! {
    /// The IPv4 protocol / IPv6 next-header number (IANA "Assigned Internet Protocol Numbers").
    pub enum IpProtocol(u8) {
        /// IPv6 hop-by-hop options (RFC 8200 section 4.3).
        HopByHop = 0,
        /// ICMP for IPv4 (RFC 792).
        Icmp = 1,
        /// IGMP (RFC 3376).
        Igmp = 2,
        /// IPv4 in IP: the LVS tunnel method (RFC 2003).
        Ipip = 4,
        /// TCP (RFC 9293).
        Tcp = 6,
        /// UDP (RFC 768).
        Udp = 17,
        /// IPv6 encapsulation (RFC 2473).
        Ipv6 = 41,
        /// IPv6 routing header (RFC 8200 section 4.4).
        Ipv6Route = 43,
        /// IPv6 fragment header (RFC 8200 section 4.5).
        Ipv6Frag = 44,
        /// Generic routing encapsulation (RFC 2784).
        Gre = 47,
        /// IPsec encapsulating security payload (RFC 4303).
        Esp = 50,
        /// IPsec authentication header (RFC 4302).
        Ah = 51,
        /// ICMP for IPv6 (RFC 4443).
        Icmpv6 = 58,
        /// IPv6 "no next header" (RFC 8200 section 4.7).
        Ipv6NoNxt = 59,
        /// IPv6 destination options (RFC 8200 section 4.6).
        Ipv6Opts = 60,
        /// VRRP (RFC 5798).
        Vrrp = 112,
        /// SCTP (RFC 9260).
        Sctp = 132,
    }
}

impl IpProtocol {
    /// Whether the first four bytes of this protocol's header are source and destination ports
    /// (TCP, UDP, SCTP): what the flow key and the NAT rewriters translate.
    #[inline]
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp | Self::Sctp)
    }
}

/// Upper-case protocol names as ipvsadm prints them (`TCP`, `UDP`, `SCTP`), IANA keywords for
/// the others, and the number for unknown protocols.
impl core::fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            Self::HopByHop => "HOPOPT",
            Self::Icmp => "ICMP",
            Self::Igmp => "IGMP",
            Self::Ipip => "IPIP",
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Ipv6 => "IPv6",
            Self::Ipv6Route => "IPv6-Route",
            Self::Ipv6Frag => "IPv6-Frag",
            Self::Gre => "GRE",
            Self::Esp => "ESP",
            Self::Ah => "AH",
            Self::Icmpv6 => "ICMPv6",
            Self::Ipv6NoNxt => "IPv6-NoNxt",
            Self::Ipv6Opts => "IPv6-Opts",
            Self::Vrrp => "VRRP",
            Self::Sctp => "SCTP",
            Self::Unknown(n) => return write!(f, "proto-{n}"),
        };
        f.write_str(name)
    }
}

/// Protocol numbers as raw bytes, for per-packet code that matches the header byte without the
/// open-enum conversion (the flow extractor, the rewriters). Derived from [`IpProtocol`], so each
/// number is written once.
pub(crate) mod proto {
    use super::IpProtocol;

    pub(crate) const ICMP: u8 = IpProtocol::Icmp.raw();
    pub(crate) const IPIP: u8 = IpProtocol::Ipip.raw();
    pub(crate) const TCP: u8 = IpProtocol::Tcp.raw();
    pub(crate) const UDP: u8 = IpProtocol::Udp.raw();
    pub(crate) const IPV6: u8 = IpProtocol::Ipv6.raw();
    pub(crate) const GRE: u8 = IpProtocol::Gre.raw();
    pub(crate) const ICMPV6: u8 = IpProtocol::Icmpv6.raw();
    pub(crate) const SCTP: u8 = IpProtocol::Sctp.raw();
}

/// The IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    /// IPv4 (RFC 791).
    Ipv4,
    /// IPv6 (RFC 8200).
    Ipv6,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(IpProtocol::Tcp.to_string(), "TCP");
        assert_eq!(IpProtocol::from(132).to_string(), "SCTP");
        assert_eq!(IpProtocol::from(253).to_string(), "proto-253");
        assert_eq!(IpProtocol::Unknown(17), IpProtocol::Udp);
        assert!(IpProtocol::Sctp.has_ports() && !IpProtocol::Icmp.has_ports());
        for n in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(n)), n);
        }
    }
}
