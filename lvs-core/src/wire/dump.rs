//! tcpdump-style one-line summaries, for logs, examples and `replay`.
//!
//! ```text
//! 02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 203.0.113.7.40000 > 192.0.2.10.80: Flags [S], seq 1000, win 64240, options [mss 1460], length 0
//! 02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 10.0.0.1 > 10.0.0.2: IP 203.0.113.7.40000 > 192.0.2.10.80: Flags [S], ...
//! 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 192.0.2.10 tell 192.0.2.1, length 28
//! ```
//!
//! The link part names the EtherType (`IPv4`, `IPv6`, `ARP`, like `tcpdump -e`); network
//! headers inside a tunnel are `IP` / `IP6` as in tcpdump's plain output. Sequence numbers are
//! absolute. Malformed or cut bytes end the line with `[|proto]` (tcpdump's truncation mark) or
//! the [`WireError`](super::WireError); formatting never panics and never allocates.

use core::fmt::{self, Formatter};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::icmpv4::dst_unreachable;
use super::{
    ArpOperation, ArpPacket, EtherType, EthernetFrame, Icmpv4Packet, Icmpv4Type, Icmpv6Packet,
    Icmpv6Type, IpProtocol, Ipv4Packet, Ipv6Packet, TcpOption, TcpPacket, UdpPacket,
};

/// Tunnels nest at most this deep in a summary (a crafted packet could nest thousands).
const MAX_DEPTH: usize = 4;

/// One-line summary of an Ethernet frame.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a>(pub &'a [u8]);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let frame = match EthernetFrame::new_checked(self.0) {
            Ok(frame) => frame,
            Err(_) => return write!(f, "[|ether] length {}", self.0.len()),
        };
        write!(f, "{} > {}, ", frame.src_addr(), frame.dst_addr())?;
        if let Some(vlan) = frame.vlan_id() {
            write!(f, "vlan {vlan}, ")?;
        }
        match frame.ethertype() {
            EtherType::Ipv4 => {
                f.write_str("IPv4 ")?;
                ipv4(f, frame.payload(), 0)
            }
            EtherType::Ipv6 => {
                f.write_str("IPv6 ")?;
                ipv6(f, frame.payload(), 0)
            }
            EtherType::Arp => arp(f, frame.payload()),
            other => write!(
                f,
                "ethertype 0x{:04x}, length {}",
                u16::from(other),
                self.0.len()
            ),
        }
    }
}

/// One-line summary of a bare IP packet (a TUN device's), `IP ...` or `IP6 ...`.
#[derive(Debug, Clone, Copy)]
pub struct IpSummary<'a>(pub &'a [u8]);

impl fmt::Display for IpSummary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        ip(f, self.0, 0)
    }
}

/// An inner IP packet: `IP ` / `IP6 ` then its summary.
fn ip(f: &mut Formatter<'_>, bytes: &[u8], depth: usize) -> fmt::Result {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => {
            f.write_str("IP ")?;
            ipv4(f, bytes, depth)
        }
        Some(6) => {
            f.write_str("IP6 ")?;
            ipv6(f, bytes, depth)
        }
        _ => f.write_str("[|ip]"),
    }
}

fn ipv4(f: &mut Formatter<'_>, bytes: &[u8], depth: usize) -> fmt::Result {
    let p = match Ipv4Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(e) => return write!(f, "[|ip] {e}"),
    };
    let (src, dst) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
    if p.frag_offset() != 0 {
        return write!(
            f,
            "{src} > {dst}: {} (frag {}:{}@{}{})",
            ProtoName(p.next_header()),
            p.ident(),
            p.payload_len(),
            p.frag_offset(),
            if p.more_frags() { "+" } else { "" }
        );
    }
    upper(f, p.next_header(), &src, &dst, p.payload(), depth)
}

fn ipv6(f: &mut Formatter<'_>, bytes: &[u8], depth: usize) -> fmt::Result {
    let p = match Ipv6Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(e) => return write!(f, "[|ip6] {e}"),
    };
    let (src, dst) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
    let upper_layer = match p.upper_layer() {
        Ok(u) => u,
        Err(e) => return write!(f, "{src} > {dst}: [|ip6] {e}"),
    };
    let payload = bytes
        .get(upper_layer.offset..p.total_len())
        .unwrap_or_default();
    if let Some(frag) = upper_layer.fragment.filter(|fr| fr.offset != 0) {
        return write!(
            f,
            "{src} > {dst}: {} (frag {}:{}@{}{})",
            ProtoName(upper_layer.next_header),
            frag.ident,
            payload.len(),
            frag.offset,
            if frag.more_frags { "+" } else { "" }
        );
    }
    upper(f, upper_layer.next_header, &src, &dst, payload, depth)
}

/// Host and optional port, tcpdump style (`192.0.2.1.80`, `2001:db8::1.80`).
struct Endpoint<'a>(&'a IpAddr, Option<u16>);

impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(port) => write!(f, "{}.{port}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

struct ProtoName(IpProtocol);

impl fmt::Display for ProtoName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpProtocol::Tcp => f.write_str("tcp"),
            IpProtocol::Udp => f.write_str("udp"),
            IpProtocol::Sctp => f.write_str("sctp"),
            IpProtocol::Icmp => f.write_str("icmp"),
            IpProtocol::Icmpv6 => f.write_str("icmp6"),
            IpProtocol::Gre => f.write_str("gre"),
            IpProtocol::Esp => f.write_str("esp"),
            IpProtocol::Ipip => f.write_str("ipip"),
            IpProtocol::Ipv6 => f.write_str("ip6"),
            other => write!(f, "ip-proto-{}", u8::from(other)),
        }
    }
}

fn upper(
    f: &mut Formatter<'_>,
    proto: IpProtocol,
    src: &IpAddr,
    dst: &IpAddr,
    payload: &[u8],
    depth: usize,
) -> fmt::Result {
    match proto {
        IpProtocol::Tcp => match TcpPacket::new_checked(payload) {
            Ok(t) => {
                write!(
                    f,
                    "{} > {}: ",
                    Endpoint(src, Some(t.src_port())),
                    Endpoint(dst, Some(t.dst_port()))
                )?;
                tcp(f, &t)
            }
            Err(_) => write!(f, "{src} > {dst}: [|tcp]"),
        },
        IpProtocol::Udp => match UdpPacket::new_checked(payload) {
            Ok(u) => write!(
                f,
                "{} > {}: UDP, length {}",
                Endpoint(src, Some(u.src_port())),
                Endpoint(dst, Some(u.dst_port())),
                u.payload_len()
            ),
            Err(_) => write!(f, "{src} > {dst}: [|udp]"),
        },
        IpProtocol::Sctp if payload.len() >= 12 => write!(
            f,
            "{} > {}: sctp, length {}",
            Endpoint(src, Some(u16::from_be_bytes([payload[0], payload[1]]))),
            Endpoint(dst, Some(u16::from_be_bytes([payload[2], payload[3]]))),
            payload.len()
        ),
        IpProtocol::Icmp => {
            write!(f, "{src} > {dst}: ")?;
            icmpv4(f, payload)
        }
        IpProtocol::Icmpv6 => {
            write!(f, "{src} > {dst}: ")?;
            icmpv6(f, payload)
        }
        IpProtocol::Ipip | IpProtocol::Ipv6 if depth < MAX_DEPTH => {
            write!(f, "{src} > {dst}: ")?;
            ip(f, payload, depth + 1)
        }
        IpProtocol::Gre if depth < MAX_DEPTH => {
            write!(f, "{src} > {dst}: ")?;
            gre(f, payload, depth)
        }
        other => write!(
            f,
            "{src} > {dst}: {}, length {}",
            ProtoName(other),
            payload.len()
        ),
    }
}

fn tcp(f: &mut Formatter<'_>, t: &TcpPacket<&[u8]>) -> fmt::Result {
    write!(f, "Flags [{}], seq {}", t.flags(), t.seq_number())?;
    let len = t.payload().len();
    if len > 0 {
        write!(f, ":{}", t.seq_number().wrapping_add(len as u32))?;
    }
    if t.ack() {
        write!(f, ", ack {}", t.ack_number())?;
    }
    write!(f, ", win {}", t.window_len())?;
    if !t.options().is_empty() {
        f.write_str(", options [")?;
        for (i, option) in t.options_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match option {
                Ok(TcpOption::EndOfList) => f.write_str("eol")?,
                Ok(TcpOption::NoOp) => f.write_str("nop")?,
                Ok(TcpOption::Mss(mss)) => write!(f, "mss {mss}")?,
                Ok(TcpOption::WindowScale(shift)) => write!(f, "wscale {shift}")?,
                Ok(TcpOption::SackPermitted) => f.write_str("sackOK")?,
                Ok(TcpOption::Sack(blocks)) => write!(f, "sack {}", blocks.len() / 8)?,
                Ok(TcpOption::Timestamps { tsval, tsecr }) => {
                    write!(f, "TS val {tsval} ecr {tsecr}")?
                }
                Ok(TcpOption::Unknown { kind, data }) => write!(f, "opt-{kind}:{}", data.len())?,
                Err(_) => f.write_str("bad opts")?,
            }
        }
        f.write_str("]")?;
    }
    write!(f, ", length {len}")
}

fn icmpv4(f: &mut Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let p = match Icmpv4Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(_) => return f.write_str("[|icmp]"),
    };
    f.write_str("ICMP ")?;
    let code = p.msg_code();
    match p.msg_type() {
        Icmpv4Type::EchoRequest | Icmpv4Type::EchoReply => write!(
            f,
            "echo {}, id {}, seq {}",
            if p.msg_type() == Icmpv4Type::EchoRequest {
                "request"
            } else {
                "reply"
            },
            p.echo_ident(),
            p.echo_seq_no()
        )?,
        Icmpv4Type::DstUnreachable => {
            // tcpdump names the quoted destination (and port, for port unreachable).
            let quoted = Ipv4Packet::new_unchecked(p.payload());
            let dst = if p.payload().len() >= 20 {
                quoted.dst_addr()
            } else {
                Ipv4Addr::UNSPECIFIED
            };
            match code {
                dst_unreachable::FRAG_NEEDED => write!(
                    f,
                    "{dst} unreachable - need to frag (mtu {})",
                    p.next_hop_mtu()
                )?,
                dst_unreachable::NET_UNREACHABLE => write!(f, "net {dst} unreachable")?,
                dst_unreachable::HOST_UNREACHABLE => write!(f, "host {dst} unreachable")?,
                dst_unreachable::PROTO_UNREACHABLE => write!(f, "{dst} protocol unreachable")?,
                dst_unreachable::PORT_UNREACHABLE => {
                    let port = quoted_port(p.payload());
                    write!(f, "{dst} port {port} unreachable")?
                }
                dst_unreachable::ADMIN_PROHIBITED => {
                    write!(f, "{dst} unreachable - admin prohibited filter")?
                }
                _ => write!(f, "{dst} unreachable - code {code}")?,
            }
        }
        Icmpv4Type::SourceQuench => f.write_str("source quench")?,
        Icmpv4Type::Redirect => f.write_str("redirect")?,
        Icmpv4Type::TimeExceeded if code == 0 => f.write_str("time exceeded in-transit")?,
        Icmpv4Type::TimeExceeded => f.write_str("ip reassembly time exceeded")?,
        Icmpv4Type::ParamProblem => f.write_str("parameter problem")?,
        other => write!(f, "type {}, code {code}", u8::from(other))?,
    }
    write!(f, ", length {}", bytes.len())
}

/// Destination port of the UDP/TCP packet quoted by an ICMPv4 error, 0 if not there.
fn quoted_port(quote: &[u8]) -> u16 {
    let Some(&first) = quote.first() else {
        return 0;
    };
    let at = usize::from(first & 0x0f) * 4 + 2;
    match (quote.get(at), quote.get(at + 1)) {
        (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

fn icmpv6(f: &mut Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let p = match Icmpv6Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(_) => return f.write_str("[|icmp6]"),
    };
    f.write_str("ICMP6, ")?;
    let target = p.target_addr().unwrap_or(Ipv6Addr::UNSPECIFIED);
    match p.msg_type() {
        Icmpv6Type::EchoRequest => write!(
            f,
            "echo request, id {}, seq {}",
            p.echo_ident(),
            p.echo_seq_no()
        )?,
        Icmpv6Type::EchoReply => write!(
            f,
            "echo reply, id {}, seq {}",
            p.echo_ident(),
            p.echo_seq_no()
        )?,
        Icmpv6Type::DstUnreachable => write!(f, "destination unreachable, code {}", p.msg_code())?,
        Icmpv6Type::PacketTooBig => write!(f, "packet too big, mtu {}", p.mtu())?,
        Icmpv6Type::TimeExceeded => f.write_str("time exceeded in-transit")?,
        Icmpv6Type::ParamProblem => write!(f, "parameter problem, pointer {}", p.pointer())?,
        Icmpv6Type::NeighborSolicit => write!(f, "neighbor solicitation, who has {target}")?,
        Icmpv6Type::NeighborAdvert => write!(f, "neighbor advertisement, tgt is {target}")?,
        Icmpv6Type::RouterSolicit => f.write_str("router solicitation")?,
        Icmpv6Type::RouterAdvert => f.write_str("router advertisement")?,
        other => write!(f, "type {}, code {}", u8::from(other), p.msg_code())?,
    }
    write!(f, ", length {}", bytes.len())
}

fn arp(f: &mut Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let p = match ArpPacket::new_checked(bytes) {
        Ok(p) => p,
        Err(e) => return write!(f, "ARP, [|arp] {e}"),
    };
    match p.operation() {
        ArpOperation::Request => write!(
            f,
            "ARP, Request who-has {} tell {}",
            p.dst_protocol_addr(),
            p.src_protocol_addr()
        )?,
        ArpOperation::Reply => write!(
            f,
            "ARP, Reply {} is-at {}",
            p.src_protocol_addr(),
            p.src_hardware_addr()
        )?,
        other => write!(f, "ARP, op {}", u16::from(other))?,
    }
    write!(f, ", length {}", bytes.len())
}

/// GRE (RFC 2784, key and sequence from RFC 2890): flags word, protocol type, then optional
/// checksum+reserved, key and sequence number words.
fn gre(f: &mut Formatter<'_>, bytes: &[u8], depth: usize) -> fmt::Result {
    if bytes.len() < 4 {
        return f.write_str("[|gre]");
    }
    let flags = u16::from_be_bytes([bytes[0], bytes[1]]);
    let proto = u16::from_be_bytes([bytes[2], bytes[3]]);
    let mut len = 4;
    for bit in [0x8000, 0x2000, 0x1000] {
        if flags & bit != 0 {
            len += 4;
        }
    }
    let inner = match bytes.get(len..) {
        Some(inner) => inner,
        None => return f.write_str("[|gre]"),
    };
    write!(f, "GREv{}, length {}: ", flags & 0x7, bytes.len())?;
    match EtherType::from(proto) {
        EtherType::Ipv4 | EtherType::Ipv6 => ip(f, inner, depth + 1),
        other => write!(f, "proto 0x{:04x}", u16::from(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header (no options) from 10.0.0.1 to 10.0.0.2 with `proto` and `payload`,
    /// checksum left zero (dump does not verify it).
    fn ipv4(proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn truncated_and_unknown() {
        assert_eq!(Summary(&[0; 5]).to_string(), "[|ether] length 5");
        let tcp_cut = ipv4(6, 0, &[0x9c, 0x40, 0, 80]);
        assert_eq!(
            IpSummary(&tcp_cut).to_string(),
            "IP 10.0.0.1 > 10.0.0.2: [|tcp]"
        );
        assert_eq!(
            IpSummary(&ipv4(50, 0, &[0; 12])).to_string(),
            "IP 10.0.0.1 > 10.0.0.2: esp, length 12"
        );
        assert_eq!(
            IpSummary(&[0x45]).to_string(),
            "IP [|ip] truncated: the buffer is shorter than the header or length field requires"
        );
        assert_eq!(IpSummary(&[0x15]).to_string(), "[|ip]");
        let mut frame = vec![0u8; 14];
        frame[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(
            Summary(&frame).to_string(),
            "00:00:00:00:00:00 > 00:00:00:00:00:00, ethertype 0x88cc, length 14"
        );
    }

    #[test]
    fn later_fragment() {
        // Offset 185 * 8 = 1480, more fragments.
        let p = ipv4(17, 0x2000 | 185, &[0; 16]);
        assert_eq!(
            IpSummary(&p).to_string(),
            "IP 10.0.0.1 > 10.0.0.2: udp (frag 4660:16@1480+)"
        );
    }

    #[test]
    fn port_unreachable_names_the_quoted_port() {
        let quoted = ipv4(17, 0, &[0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0]);
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        assert_eq!(
            IpSummary(&ipv4(1, 0, &icmp)).to_string(),
            "IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.2 port 53 unreachable, length 36"
        );
        let mut ttl = vec![11, 0, 0, 0, 0, 0, 0, 0];
        ttl.extend_from_slice(&quoted);
        assert_eq!(
            IpSummary(&ipv4(1, 0, &ttl)).to_string(),
            "IP 10.0.0.1 > 10.0.0.2: ICMP time exceeded in-transit, length 36"
        );
    }

    #[test]
    fn gre_shows_the_inner_packet() {
        let inner = ipv4(17, 0, &[0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0]);
        // Key present (K bit): 4 extra bytes before the payload.
        let mut gre = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 42];
        gre.extend_from_slice(&inner);
        assert_eq!(
            IpSummary(&ipv4(47, 0, &gre)).to_string(),
            "IP 10.0.0.1 > 10.0.0.2: GREv0, length 36: IP 10.0.0.1.40000 > 10.0.0.2.53: UDP, length 0"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        // IPIP inside IPIP, ten deep: the summary stops descending after MAX_DEPTH.
        let mut p = ipv4(17, 0, &[0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0]);
        for _ in 0..10 {
            p = ipv4(4, 0, &p);
        }
        let line = IpSummary(&p).to_string();
        assert_eq!(line.matches("IP ").count(), MAX_DEPTH + 1);
        // 28 bytes of UDP packet + 10 * 20 of headers, minus the 5 headers shown = 128.
        assert!(line.ends_with("ipip, length 128"), "{line}");
    }

    #[test]
    fn neighbor_advertisement() {
        let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
        na.extend_from_slice(
            &"2001:db8::10"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or([0; 16]),
        );
        na.extend_from_slice(&[2, 1, 2, 0, 0, 0, 0, 1]);
        let mut p = vec![0x60, 0, 0, 0, 0, 32, 58, 255];
        p.extend_from_slice(
            &"2001:db8::10"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or([0; 16]),
        );
        p.extend_from_slice(
            &"ff02::1"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or([0; 16]),
        );
        p.extend_from_slice(&na);
        assert_eq!(
            IpSummary(&p).to_string(),
            "IP6 2001:db8::10 > ff02::1: ICMP6, neighbor advertisement, tgt is 2001:db8::10, length 32"
        );
    }
}
