//! Shared harness of the director simulations: a director in virtual time, frame builders on
//! etherparse (the oracle), owned verdicts.
#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;

use etherparse::PacketBuilder;
use lvs_core::director::{
    Director, DirectorConfig, DropReason, FwmarkRule, NextHop, Prefix, Verdict,
};
use lvs_core::ipvsadm::parse_line;
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_core::wire::{IpProtocol, MacAddr};

#[path = "../common/verify.rs"]
pub mod verify;

/// The gateway in front of the director (clients' frames come from it).
pub const MAC_GW: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The director.
pub const MAC_DIR: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Real server 1.
pub const MAC_RS1: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
/// Real server 2.
pub const MAC_RS2: [u8; 6] = [0x02, 0, 0, 0, 0, 0x12];

/// A verdict with the frame copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Forward(Vec<u8>, NextHop),
    Reply(Vec<u8>),
    Drop(DropReason),
    Pass,
}

impl Out {
    /// The forwarded frame; panics otherwise.
    #[track_caller]
    pub fn frame(&self) -> &[u8] {
        match self {
            Self::Forward(f, _) => f,
            other => panic!("expected Forward, got {other:?}"),
        }
    }

    /// The next hop; panics unless forwarded.
    #[track_caller]
    pub fn next_hop(&self) -> NextHop {
        match self {
            Self::Forward(_, h) => *h,
            other => panic!("expected Forward, got {other:?}"),
        }
    }
}

/// A director driven in virtual time.
pub struct Sim {
    pub d: Director,
    pub now: Instant,
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// [`config`] with one fwmark rule: TCP to 192.0.2.0/24, ports 8000 to 8999, gets `mark`.
pub fn fwmark_config(mark: u32) -> DirectorConfig {
    DirectorConfig {
        fwmark_rules: vec![FwmarkRule {
            proto: Some(IpProtocol::Tcp),
            src: None,
            dst: Some(Prefix {
                addr: ip("192.0.2.0"),
                len: 24,
            }),
            dports: Some(8000..=8999),
            mark,
        }],
        ..config()
    }
}

/// A config with the test MACs and two known real servers.
pub fn config() -> DirectorConfig {
    DirectorConfig {
        hash_seed: 7,
        rng_seed: 11,
        conn_budget: 10_000,
        mac: MacAddr(MAC_DIR),
        addrs: vec![ip("10.0.0.1"), ip("fd00::1")],
        neighbours: vec![
            (ip("10.0.0.11"), MacAddr(MAC_RS1)),
            (ip("10.0.0.12"), MacAddr(MAC_RS2)),
            (ip("fd00::11"), MacAddr(MAC_RS1)),
            (ip("fd00::12"), MacAddr(MAC_RS2)),
        ],
        ..DirectorConfig::default()
    }
}

impl Sim {
    pub fn new(config: DirectorConfig) -> Self {
        Self {
            d: Director::new(config),
            now: Instant::ZERO,
        }
    }

    /// A director with `config` and one service, 192.0.2.10:80 rr, with one masqueraded dest,
    /// 10.0.0.11:8080.
    pub fn one_nat_dest(config: DirectorConfig) -> Self {
        let mut s = Self::new(config);
        s.ipvsadm(
            "-A -t 192.0.2.10:80 -s rr
             -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m",
        );
        s
    }

    /// A director with `config` and one persistent service, 192.0.2.10:80 (300 s), with one
    /// masqueraded dest, 10.0.0.11:80.
    pub fn one_persistent_nat_dest(config: DirectorConfig) -> Self {
        let mut s = Self::new(config);
        s.ipvsadm(
            "-A -t 192.0.2.10:80 -p 300
             -a -t 192.0.2.10:80 -r 10.0.0.11:80 -m",
        );
        s
    }

    /// Adds one service, 192.0.2.10:80 rr with the extra options `extra`, with two
    /// masqueraded dests, 10.0.0.11:80 and 10.0.0.12:80 (rr picks .12 first, the newest).
    pub fn add_two_nat_dests(&mut self, extra: &str) {
        self.ipvsadm(&format!(
            "-A -t 192.0.2.10:80 -s rr {extra}
             -a -t 192.0.2.10:80 -r 10.0.0.11:80 -m
             -a -t 192.0.2.10:80 -r 10.0.0.12:80 -m"
        ));
    }

    /// Applies ipvsadm command lines.
    #[track_caller]
    pub fn ipvsadm(&mut self, lines: &str) {
        for l in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let cmd = parse_line(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            self.d
                .apply(&cmd, self.now)
                .unwrap_or_else(|e| panic!("{l}: {e}"));
        }
    }

    /// Feeds a frame (64 bytes of headroom, 64 of tailroom).
    pub fn send(&mut self, frame: &[u8]) -> Out {
        let mut buf = vec![0u8; frame.len() + 128];
        buf[64..64 + frame.len()].copy_from_slice(frame);
        let mut pkt = PacketBuf::new(&mut buf, 64, frame.len()).expect("buf");
        match self.d.handle_packet(self.now, &mut pkt) {
            Verdict::Forward { frame, next_hop } => {
                let f = frame.to_vec();
                verify::verify_frame(&f).unwrap_or_else(|e| panic!("forwarded frame: {e}"));
                Out::Forward(f, next_hop)
            }
            Verdict::Reply { frame } => Out::Reply(frame.to_vec()),
            Verdict::Drop(r) => Out::Drop(r),
            Verdict::Pass => Out::Pass,
        }
    }

    /// Advances virtual time by `secs`, running every timer due on the way.
    pub fn advance(&mut self, secs: u64) {
        let end = self.now + core::time::Duration::from_secs(secs);
        while let Some(t) = self.d.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.d.handle_timeout(self.now);
        }
        self.now = end;
        self.d.handle_timeout(self.now);
    }

    /// Every originated frame waiting.
    pub fn transmitted(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some(n) = self.d.poll_transmit(self.now, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    /// `(active, inactive)` of a dest.
    pub fn counters(&self, svc: usize, addr: &str) -> (u32, u32) {
        let s = self.d.snapshot();
        let d = s.services[svc]
            .dests
            .iter()
            .find(|d| d.addr == ip(addr))
            .expect("dest");
        (d.active_conns, d.inactive_conns)
    }
}

/// The state of the one connection in the table.
pub fn only_state(s: &Sim) -> Option<lvs_core::conn::TcpState> {
    let c: Vec<_> = s.d.conns(s.now).collect();
    assert_eq!(c.len(), 1);
    c[0].state
}

/// TCP flag sets.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

const NO_FLAGS: Flags = Flags {
    syn: false,
    ack: false,
    fin: false,
    rst: false,
};
pub const SYN: Flags = Flags {
    syn: true,
    ..NO_FLAGS
};
pub const SYNACK: Flags = Flags { ack: true, ..SYN };
pub const ACK: Flags = Flags {
    ack: true,
    ..NO_FLAGS
};
pub const FINACK: Flags = Flags { fin: true, ..ACK };
pub const RST: Flags = Flags {
    rst: true,
    ..NO_FLAGS
};

/// An Ethernet + IP + TCP frame built by etherparse.
pub fn tcp(
    macs: ([u8; 6], [u8; 6]),
    src: (&str, u16),
    dst: (&str, u16),
    ttl: u8,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let b = builder(macs, ip(src.0), ip(dst.0), ttl);
    let mut t = b.tcp(src.1, dst.1, 1000, 29200);
    if f.syn {
        t = t.syn();
    }
    if f.ack {
        t = t.ack(2000);
    }
    if f.fin {
        t = t.fin();
    }
    if f.rst {
        t = t.rst();
    }
    let mut out = Vec::new();
    t.write(&mut out, payload).expect("tcp");
    out
}

/// A client's TCP segment as the gateway hands it to the director (TTL 64).
pub fn tcp_in(src: (&str, u16), dst: (&str, u16), f: Flags, payload: &[u8]) -> Vec<u8> {
    tcp((MAC_GW, MAC_DIR), src, dst, 64, f, payload)
}

/// A TCP segment as the director forwards it to the real server with MAC `rs` (TTL 63).
pub fn tcp_to_rs(
    rs: [u8; 6],
    src: (&str, u16),
    dst: (&str, u16),
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    tcp((MAC_DIR, rs), src, dst, 63, f, payload)
}

/// A TCP segment the real server with MAC `rs` sends through the director (TTL 64).
pub fn tcp_from_rs(
    rs: [u8; 6],
    src: (&str, u16),
    dst: (&str, u16),
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    tcp((rs, MAC_DIR), src, dst, 64, f, payload)
}

/// A TCP segment as the director sends it back toward a client (TTL 63; the test config has
/// no neighbour entry for clients, so both MACs are the director's).
pub fn tcp_out(src: (&str, u16), dst: (&str, u16), f: Flags, payload: &[u8]) -> Vec<u8> {
    tcp((MAC_DIR, MAC_DIR), src, dst, 63, f, payload)
}

/// An Ethernet + IP + UDP frame built by etherparse.
pub fn udp(
    macs: ([u8; 6], [u8; 6]),
    src: (&str, u16),
    dst: (&str, u16),
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    builder(macs, ip(src.0), ip(dst.0), ttl)
        .udp(src.1, dst.1)
        .write(&mut out, payload)
        .expect("udp");
    out
}

/// A client's UDP datagram as the gateway hands it to the director (TTL 64).
pub fn udp_in(src: (&str, u16), dst: (&str, u16), payload: &[u8]) -> Vec<u8> {
    udp((MAC_GW, MAC_DIR), src, dst, 64, payload)
}

/// The address of the next hop a verdict forwards to.
pub fn dest_of(out: &Out) -> String {
    out.next_hop().addr.to_string()
}

/// CRC32c (Castagnoli, reflected, RFC 9260 appendix B), bit by bit: the independent oracle,
/// not the library's table.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A client's SCTP packet as the gateway hands it to the director (TTL 64): the common
/// header with verification `tag`, then the raw `chunks`, CRC32c filled (stored
/// little-endian, as Linux and the RFC's reference code do).
pub fn sctp_in(src: (&str, u16), dst: (&str, u16), tag: u32, chunks: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&src.1.to_be_bytes());
    l4.extend_from_slice(&dst.1.to_be_bytes());
    l4.extend_from_slice(&tag.to_be_bytes());
    l4.extend_from_slice(&[0; 4]);
    l4.extend_from_slice(chunks);
    let c = crc32c(&l4);
    l4[8..12].copy_from_slice(&c.to_le_bytes());
    let mut out = Vec::new();
    builder((MAC_GW, MAC_DIR), ip(src.0), ip(dst.0), 64)
        .write(&mut out, etherparse::IpNumber(132), &l4)
        .unwrap();
    out
}

pub fn builder(
    macs: ([u8; 6], [u8; 6]),
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let eth = PacketBuilder::ethernet2(macs.0, macs.1);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), ttl),
        _ => panic!("mixed families"),
    }
}

/// Asserts two frames are equal, dumping both in hex on failure.
#[track_caller]
pub fn assert_frame(case: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{case}: frames differ at byte {at} (len {} vs {})\n got: {:02x?}\nwant: {:02x?}",
            got.len(),
            want.len(),
            got,
            want
        );
    }
}
