//! Field-by-field comparison of two IPv4/IPv6 TCP/UDP/ICMP frames with etherparse, the
//! independent parser.

use std::net::IpAddr;

use etherparse::{Ipv4Header, Ipv6Header, NetHeaders, PacketHeaders, TransportHeader};

/// The network header of a parsed frame.
pub(crate) enum Ip {
    V4(Ipv4Header),
    V6(Ipv6Header),
}

/// The IP and TCP/UDP/ICMP fields of a frame, parsed by etherparse.
pub(crate) struct Parsed<'a> {
    pub(crate) ip: Ip,
    pub(crate) transport: TransportHeader,
    pub(crate) payload: &'a [u8],
}

impl Parsed<'_> {
    /// Source and destination addresses.
    pub(crate) fn addrs(&self) -> (IpAddr, IpAddr) {
        match &self.ip {
            Ip::V4(h) => (h.source.into(), h.destination.into()),
            Ip::V6(h) => (h.source.into(), h.destination.into()),
        }
    }
}

/// Parses an Ethernet frame carrying IP (no IPv6 extension headers) and TCP, UDP, ICMP or
/// ICMPv6; `None` for anything else.
pub(crate) fn parse(frame: &[u8]) -> Option<Parsed<'_>> {
    let headers = PacketHeaders::from_ethernet_slice(frame).ok()?;
    let ip = match headers.net? {
        NetHeaders::Ipv4(h, _) => Ip::V4(h),
        NetHeaders::Ipv6(h, exts) if exts.is_empty() => Ip::V6(h),
        _ => return None,
    };
    let transport = headers.transport?;
    Some(Parsed {
        ip,
        transport,
        payload: headers.payload.slice(),
    })
}

macro_rules! field {
    ($diffs:expr, $name:expr, $ours:expr, $theirs:expr) => {
        if $ours != $theirs {
            $diffs.push(format!("{}: ours {:?}, kernel {:?}", $name, $ours, $theirs));
        }
    };
}

/// Every IP and transport header field and the payload of `ours` against `kernel`, and the
/// validity of every checksum in `ours` (recomputed by etherparse). Empty when they match.
pub(crate) fn diff(ours: &[u8], kernel: &[u8]) -> Vec<String> {
    let (Some(a), Some(b)) = (parse(ours), parse(kernel)) else {
        return vec!["not both IP TCP/UDP/ICMP frames".into()];
    };
    let mut d = Vec::new();
    match (&a.ip, &b.ip) {
        (Ip::V4(x), Ip::V4(y)) => {
            field!(d, "ip.dscp", x.dscp, y.dscp);
            field!(d, "ip.ecn", x.ecn, y.ecn);
            field!(d, "ip.total_len", x.total_len, y.total_len);
            field!(d, "ip.identification", x.identification, y.identification);
            field!(d, "ip.dont_fragment", x.dont_fragment, y.dont_fragment);
            field!(d, "ip.more_fragments", x.more_fragments, y.more_fragments);
            field!(
                d,
                "ip.fragment_offset",
                x.fragment_offset,
                y.fragment_offset
            );
            field!(d, "ip.ttl", x.time_to_live, y.time_to_live);
            field!(d, "ip.protocol", x.protocol, y.protocol);
            field!(
                d,
                "ip.header_checksum",
                x.header_checksum,
                y.header_checksum
            );
            field!(d, "ip.options", x.options.as_slice(), y.options.as_slice());
            let recomputed = x.calc_header_checksum();
            field!(
                d,
                "ip.header_checksum (ours: recomputed vs stored)",
                recomputed,
                x.header_checksum
            );
        }
        (Ip::V6(x), Ip::V6(y)) => {
            field!(d, "ip6.traffic_class", x.traffic_class, y.traffic_class);
            field!(d, "ip6.flow_label", x.flow_label, y.flow_label);
            field!(d, "ip6.payload_length", x.payload_length, y.payload_length);
            field!(d, "ip6.next_header", x.next_header, y.next_header);
            field!(d, "ip6.hop_limit", x.hop_limit, y.hop_limit);
        }
        _ => d.push("different IP versions".into()),
    }
    field!(d, "ip.addresses", a.addrs(), b.addrs());
    // Checksums recomputed over our own frame: valid whatever the kernel wrote.
    let pseudo = |tcp_or_udp: &TransportHeader| match (&a.ip, tcp_or_udp) {
        (Ip::V4(x), TransportHeader::Tcp(h)) => h.calc_checksum_ipv4(x, a.payload).ok(),
        (Ip::V6(x), TransportHeader::Tcp(h)) => h.calc_checksum_ipv6(x, a.payload).ok(),
        (Ip::V4(x), TransportHeader::Udp(h)) => h.calc_checksum_ipv4(x, a.payload).ok(),
        (Ip::V6(x), TransportHeader::Udp(h)) => h.calc_checksum_ipv6(x, a.payload).ok(),
        (Ip::V6(x), TransportHeader::Icmpv6(h)) => h
            .icmp_type
            .calc_checksum(x.source, x.destination, a.payload)
            .ok(),
        (_, TransportHeader::Icmpv4(h)) => Some(h.icmp_type.calc_checksum(a.payload)),
        _ => None,
    };
    let recomputed = pseudo(&a.transport);
    let checksums = match (&a.transport, &b.transport) {
        (TransportHeader::Tcp(s), TransportHeader::Tcp(t)) => {
            field!(d, "tcp.source_port", s.source_port, t.source_port);
            field!(
                d,
                "tcp.destination_port",
                s.destination_port,
                t.destination_port
            );
            field!(d, "tcp.seq", s.sequence_number, t.sequence_number);
            field!(
                d,
                "tcp.ack",
                s.acknowledgment_number,
                t.acknowledgment_number
            );
            let flags = |h: &etherparse::TcpHeader| {
                [h.ns, h.cwr, h.ece, h.urg, h.ack, h.psh, h.rst, h.syn, h.fin]
            };
            field!(
                d,
                "tcp.flags [ns cwr ece urg ack psh rst syn fin]",
                flags(s),
                flags(t)
            );
            field!(d, "tcp.window", s.window_size, t.window_size);
            field!(d, "tcp.urgent_pointer", s.urgent_pointer, t.urgent_pointer);
            field!(d, "tcp.options", s.options.as_slice(), t.options.as_slice());
            Some(("tcp", s.checksum, t.checksum))
        }
        (TransportHeader::Udp(s), TransportHeader::Udp(t)) => {
            field!(d, "udp.source_port", s.source_port, t.source_port);
            field!(
                d,
                "udp.destination_port",
                s.destination_port,
                t.destination_port
            );
            field!(d, "udp.length", s.length, t.length);
            Some(("udp", s.checksum, t.checksum))
        }
        (TransportHeader::Icmpv4(s), TransportHeader::Icmpv4(t)) => {
            field!(d, "icmp.type and code", s.icmp_type, t.icmp_type);
            Some(("icmp", s.checksum, t.checksum))
        }
        (TransportHeader::Icmpv6(s), TransportHeader::Icmpv6(t)) => {
            field!(d, "icmp6.type and code", s.icmp_type, t.icmp_type);
            Some(("icmp6", s.checksum, t.checksum))
        }
        _ => {
            d.push("different transport protocols".into());
            None
        }
    };
    if let Some((proto, ours, kernel)) = checksums {
        field!(d, format!("{proto}.checksum"), ours, kernel);
        field!(
            d,
            format!("{proto}.checksum (ours: recomputed vs stored)"),
            recomputed,
            Some(ours)
        );
    }
    // For ICMP errors this is the quoted packet, translated too.
    field!(d, "payload", a.payload, b.payload);
    d
}
