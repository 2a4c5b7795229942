//! Shared helpers of the rewriter tests: an independent checksum verifier, a tiny pcap writer,
//! and frame builders on etherparse's `PacketBuilder` (the oracle, never the code under test).
#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use etherparse::{IpNumber, PacketBuilder};
use lvs_core::rewrite::ConnAddrs;

pub mod verify;

pub use verify::verify_frame;

/// Client-side MAC (the router in front of the director).
pub const MAC_GW: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The director's MAC.
pub const MAC_DIR: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// A real server's MAC.
pub const MAC_RS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x03];

/// The connection of the golden tables (IPVS names; documentation and private-use addresses).
pub fn conn(v6: bool) -> ConnAddrs {
    let a = |v4: &str, v6s: &str| if v6 { ip(v6s) } else { ip(v4) };
    ConnAddrs {
        caddr: a("198.51.100.7", "2001:db8:c::7"),
        cport: 40123,
        vaddr: a("192.0.2.110", "2001:db8:f::110"),
        vport: 80,
        daddr: a("172.16.0.2", "fd00:16::2"),
        dport: 8080,
        laddr: a("172.16.0.254", "fd00:16::fe"),
        lport: 5001,
    }
}

/// Writes `frames` to `<target tmpdir>/<name>.pcap` (LINKTYPE_ETHERNET) and returns the path.
pub fn write_pcap(name: &str, frames: &[&[u8]]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.pcap"));
    let mut out = Vec::new();
    // pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, linktype 1 (Ethernet).
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 262_144, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = f.len() as u32;
        for v in [i as u32, 0, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    let mut file = std::fs::File::create(&path).expect("create pcap");
    file.write_all(&out).expect("write pcap");
    path
}

/// Asserts `got == want` and that `got` passes [`verify_frame`]; on failure dumps
/// `[input, got, want]` to a pcap named after the case and panics with its path.
pub fn assert_frame(case: &str, input: &[u8], got: &[u8], want: &[u8]) {
    let verdict = if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        Some(format!(
            "frames differ at byte {at} (got len {}, want len {})",
            got.len(),
            want.len()
        ))
    } else {
        verify_frame(got).err()
    };
    if let Some(why) = verdict {
        let path = write_pcap(&case.replace([' ', '/'], "_"), &[input, got, want]);
        panic!(
            "{case}: {why}; frames [input, got, want] in {}",
            path.display()
        );
    }
}

/// An IPv4 or IPv6 `PacketBuilder` step for `src -> dst` with `ttl`, over Ethernet `smac -> dmac`.
pub fn ip_builder(
    smac: [u8; 6],
    dmac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let eth = PacketBuilder::ethernet2(smac, dmac);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), ttl),
        _ => panic!("mixed families"),
    }
}

/// Transport of a test packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// TCP with this sequence number and flags (syn?).
    Tcp { syn: bool },
    /// UDP.
    Udp,
}

/// Builds an Ethernet frame `src:sport -> dst:dport` carrying `payload`.
pub fn frame(
    smac: [u8; 6],
    dmac: [u8; 6],
    l4: L4,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let b = ip_builder(smac, dmac, src.0, dst.0, ttl);
    let mut out = Vec::new();
    match l4 {
        L4::Tcp { syn } => {
            let t = b.tcp(src.1, dst.1, 0x0102_0304, 29200).ack(0x0a0b_0c0d);
            let t = if syn { t.syn() } else { t };
            t.write(&mut out, payload).expect("build tcp");
        }
        L4::Udp => b
            .udp(src.1, dst.1)
            .write(&mut out, payload)
            .expect("build udp"),
    }
    out
}

/// Builds an Ethernet frame whose IP payload is `payload` with protocol `proto`.
pub fn raw_frame(
    smac: [u8; 6],
    dmac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    proto: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    ip_builder(smac, dmac, src, dst, ttl)
        .write(&mut out, IpNumber(proto), payload)
        .expect("build");
    out
}

/// Parses a literal address.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// The IP packet inside an untagged Ethernet frame.
pub fn l3(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

/// The octets of an IPv4 address.
pub fn v4(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => panic!("not v4"),
    }
}

/// The octets of an IPv6 address.
pub fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => panic!("not v6"),
    }
}
