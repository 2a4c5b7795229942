//! Field-by-field comparison of two IPv4 TCP/UDP/ICMP frames with etherparse, the independent
//! parser.

use etherparse::{NetHeaders, PacketHeaders, TransportHeader};

/// The IPv4 and TCP/UDP fields of a frame, parsed by etherparse.
pub(crate) struct Parsed<'a> {
    pub(crate) ip: etherparse::Ipv4Header,
    pub(crate) transport: TransportHeader,
    pub(crate) payload: &'a [u8],
}

/// Parses an Ethernet frame carrying IPv4 + TCP, UDP or ICMP; `None` for anything else.
pub(crate) fn parse(frame: &[u8]) -> Option<Parsed<'_>> {
    let headers = PacketHeaders::from_ethernet_slice(frame).ok()?;
    let Some(NetHeaders::Ipv4(ip, _)) = headers.net else {
        return None;
    };
    let transport = headers.transport?;
    if !matches!(
        transport,
        TransportHeader::Tcp(_) | TransportHeader::Udp(_) | TransportHeader::Icmpv4(_)
    ) {
        return None;
    }
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

/// Every IPv4 and TCP/UDP header field and the payload of `ours` against `kernel`, and the
/// validity of every checksum in `ours` (recomputed by etherparse). Empty when they match.
pub(crate) fn diff(ours: &[u8], kernel: &[u8]) -> Vec<String> {
    let (Some(a), Some(b)) = (parse(ours), parse(kernel)) else {
        return vec!["not both IPv4 TCP/UDP frames".into()];
    };
    let mut d = Vec::new();
    let (x, y) = (&a.ip, &b.ip);
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
    field!(d, "ip.source", x.source, y.source);
    field!(d, "ip.destination", x.destination, y.destination);
    field!(d, "ip.options", x.options.as_slice(), y.options.as_slice());
    field!(
        d,
        "ip.header_checksum (ours: recomputed vs stored)",
        x.calc_header_checksum(),
        x.header_checksum
    );
    match (&a.transport, &b.transport) {
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
            field!(d, "tcp.checksum", s.checksum, t.checksum);
            field!(
                d,
                "tcp.checksum (ours: recomputed vs stored)",
                s.calc_checksum_ipv4(x, a.payload).ok(),
                Some(s.checksum)
            );
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
            field!(d, "udp.checksum", s.checksum, t.checksum);
            field!(
                d,
                "udp.checksum (ours: recomputed vs stored)",
                s.calc_checksum_ipv4(x, a.payload).ok(),
                Some(s.checksum)
            );
        }
        (TransportHeader::Icmpv4(s), TransportHeader::Icmpv4(t)) => {
            field!(d, "icmp.type and code", s.icmp_type, t.icmp_type);
            field!(d, "icmp.checksum", s.checksum, t.checksum);
            let recomputed = s.icmp_type.calc_checksum(a.payload);
            field!(
                d,
                "icmp.checksum (ours: recomputed vs stored)",
                recomputed,
                s.checksum
            );
        }
        _ => d.push("different transport protocols".into()),
    }
    field!(d, "payload", a.payload, b.payload);
    d
}
