//! The one error type of every rewriter; it doubles as a data-path drop reason.

/// Why a rewriter refused a frame. Nothing was modified when one of these is returned, unless the
/// variant says otherwise.
///
/// The data path turns each variant into a `Verdict::Drop` reason and a counter label, so the
/// variants name the cause precisely and carry no borrowed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The frame ends before a header that the rewriter needs.
    #[error("truncated frame")]
    Truncated,
    /// The Ethernet type is neither IPv4 nor IPv6 (after at most one VLAN tag).
    #[error("not an IP frame")]
    NotIp,
    /// An IP header is malformed: wrong version, IHL below 5, total/payload length inconsistent
    /// with the frame, or an IPv6 extension-header chain that does not fit.
    #[error("malformed IP header")]
    BadIpHeader,
    /// The packet is an IP fragment; rewriters work on whole datagrams, as IPVS does after
    /// netfilter defragmentation, so the caller reassembles first.
    #[error("IP fragment")]
    Fragment,
    /// The transport protocol cannot be rewritten by this method.
    #[error("unsupported transport protocol")]
    UnsupportedProtocol,
    /// A transport header is malformed (e.g. TCP data offset below 5 or past the packet end).
    #[error("malformed transport header")]
    BadTransportHeader,
    /// A connection address does not have the packet's address family (or the two tunnel
    /// endpoints differ in family).
    #[error("address family mismatch")]
    AddressFamily,
    /// The caller's buffer has neither the headroom nor the tailroom the rewrite needs.
    #[error("no room in the buffer to grow the packet")]
    NoRoom,
    /// The grown packet would exceed the 65535-byte IP length limit.
    #[error("packet would exceed the maximum IP length")]
    TooLong,
    /// An ICMP message is not one of the "related" error types (LVS-SPEC "ICMP").
    #[error("ICMP message is not a related error")]
    NotIcmpError,
    /// The quoted packet inside an ICMP error is too short or malformed to translate.
    #[error("malformed quoted packet in ICMP error")]
    BadQuotedPacket,
    /// RFC 1122 3.2.2 / RFC 4443 2.4(e): no ICMP error is sent about an ICMP error, a non-initial
    /// fragment, or a packet to or from a multicast/broadcast/unspecified address.
    #[error("an ICMP error must not be sent about this packet")]
    IcmpSuppressed,
    /// The outer packet is not a tunnel this module can decapsulate.
    #[error("not a supported tunnel packet")]
    NotTunnel,
    /// A checksum of an outer tunnel header (UDP, GRE) is wrong.
    #[error("bad tunnel checksum")]
    BadChecksum,
    /// A GUE or GRE header carries flags or a version this implementation does not support.
    #[error("unsupported tunnel header")]
    UnsupportedTunnel,
}

impl RewriteError {
    /// A stable snake_case name for metrics labels and logs (`"truncated"`, `"no_room"`, ...).
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::NotIp => "not_ip",
            Self::BadIpHeader => "bad_ip_header",
            Self::Fragment => "fragment",
            Self::UnsupportedProtocol => "unsupported_protocol",
            Self::BadTransportHeader => "bad_transport_header",
            Self::AddressFamily => "address_family",
            Self::NoRoom => "no_room",
            Self::TooLong => "too_long",
            Self::NotIcmpError => "not_icmp_error",
            Self::BadQuotedPacket => "bad_quoted_packet",
            Self::IcmpSuppressed => "icmp_suppressed",
            Self::NotTunnel => "not_tunnel",
            Self::BadChecksum => "bad_checksum",
            Self::UnsupportedTunnel => "unsupported_tunnel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RewriteError;

    #[test]
    fn labels_are_snake_case() {
        assert_eq!(RewriteError::Truncated.label(), "truncated");
        assert_eq!(RewriteError::NoRoom.label(), "no_room");
        assert_eq!(RewriteError::IcmpSuppressed.label(), "icmp_suppressed");
    }
}
