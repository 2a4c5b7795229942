//! The one error type of the packet layer.

/// Why bytes could not be read (or written) as the requested packet.
///
/// Each variant names one check, so the data path can use it as a drop reason and a metric
/// label. Unknown wire numbers (an EtherType, a protocol, an ICMP type) are *not* errors: they
/// parse as `Unknown(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends before a fixed header, a header length or a length field says it should.
    #[error("truncated: the buffer is shorter than the header or length field requires")]
    Truncated,
    /// The IP version nibble is not the one of the view (4 for `Ipv4Packet`, 6 for
    /// `Ipv6Packet`, 4 or 6 for a bare IP packet).
    #[error("bad IP version")]
    BadVersion,
    /// A header length field is below its minimum: IPv4 IHL < 5, TCP data offset < 5.
    #[error("bad header length field")]
    BadHeaderLen,
    /// The IPv4 total length is smaller than the header length.
    #[error("bad IPv4 total length")]
    BadTotalLen,
    /// The UDP length field is smaller than the 8-byte UDP header.
    #[error("bad UDP length")]
    BadUdpLen,
    /// An ARP packet is not Ethernet/IPv4 (hardware type 1, protocol 0x0800, lengths 6 and 4).
    #[error("unsupported ARP hardware or protocol type")]
    UnsupportedArp,
    /// An IPv6 extension header chain longer than this crate walks
    /// ([`Ipv6Packet::upper_layer`](super::Ipv6Packet::upper_layer)); an attacker-chosen chain
    /// must not cost unbounded time.
    #[error("IPv6 extension header chain too long")]
    TooManyExtHeaders,
    /// A TCP option's length byte is below 2 or runs past the options area.
    #[error("malformed TCP option")]
    BadTcpOption,
    /// The frame carries neither IPv4 nor IPv6 (for flow-key extraction).
    #[error("not an IP packet")]
    NotIp,
    /// A checksum does not verify.
    #[error("bad checksum")]
    BadChecksum,
}
