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

/// The IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    /// IPv4 (RFC 791).
    Ipv4,
    /// IPv6 (RFC 8200).
    Ipv6,
}
