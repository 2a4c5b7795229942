//! The director fuzz model: bytes -> a sequence of frames, replies, ICMP errors, config
//! changes and time steps fed to one `Director`, with the invariants checked after every step.
//! Shared by the cargo-fuzz target `director` and `lvs-core/tests/director_props.rs`.
//!
//! Invariants: the table (connections and persistence templates) stays within its budget;
//! every dest's active/inactive counters equal
//! the connections the table holds for it in active/inactive states (no leak, no underflow);
//! a forwarded frame whose input had valid checksums re-parses with valid checksums (tunnels
//! and ICMP quotes included); nothing panics.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::{IpAddr, Ipv6Addr};

use lvs_core::conn::{SctpState, TcpState};
use lvs_core::director::{Director, DirectorConfig, FullNatPool, PortShare, Sysctls, Verdict};
use lvs_core::ipvsadm::{Protocol, ServiceKey, parse_line};
use lvs_core::rewrite::PacketBuf;
use lvs_core::time::Instant;
use lvs_core::wire::dump::Summary;
use lvs_core::wire::{
    Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet, MacAddr, TcpPacket, UdpPacket,
};

const BUDGET: usize = 64;
const VIP: [u8; 4] = [192, 0, 2, 10];
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

const SETUP: &[&str] = &[
    "-A -t 192.0.2.10:80 -s rr",
    "-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m",
    "-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -x 5",
    "-A -t 192.0.2.10:22 -s wlc -p 30",
    "-a -t 192.0.2.10:22 -r 10.0.0.11 -g",
    "-a -t 192.0.2.10:22 -r 10.0.0.12 -i",
    "-A -u 192.0.2.10:53 -s sh",
    "-a -u 192.0.2.10:53 -r 10.0.0.11:5353 -m",
    "-A -u 192.0.2.10:54 -o",
    "-a -u 192.0.2.10:54 -r 10.0.0.12:54 -m",
    "-A -t 192.0.2.10:443",
    "-a -t 192.0.2.10:443 -r 10.0.0.13:443 -m",
    "-A -t [2001:db8::10]:80 -s rr",
    "-a -t [2001:db8::10]:80 -r [fd00::11]:8080 -m",
    "-a -t [2001:db8::10]:80 -r [fd00::12]:80 -g",
    "-A --sctp-service 192.0.2.10:3868 -s rr",
    "-a --sctp-service 192.0.2.10:3868 -r 10.0.0.11:3868 -m",
    "-a --sctp-service 192.0.2.10:3868 -r 10.0.0.12:3868 -g",
];

const CHANGES: &[&str] = &[
    "-e -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 0",
    "-e -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 3",
    "-d -t 192.0.2.10:80 -r 10.0.0.12:8080",
    "-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m",
    "-d -t 192.0.2.10:22 -r 10.0.0.11:22",
    "-a -t 192.0.2.10:22 -r 10.0.0.11 -g",
    "-E -t 192.0.2.10:80 -s wlc",
    "-D -u 192.0.2.10:53",
    "-A -u 192.0.2.10:53 -s sh",
    "-a -u 192.0.2.10:53 -r 10.0.0.11:5353 -m",
];

/// Reads bytes; 0 when exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// An Ethernet + IP + TCP/UDP/ICMP frame with full checksums, built with the wire views.
pub fn build(src: IpAddr, dst: IpAddr, proto: u8, ttl: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            let total = (20 + l4.len()) as u16;
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40;
            h[8] = ttl;
            h[9] = proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            f.extend_from_slice(&h);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f[12..14].copy_from_slice(&[0x86, 0xdd]);
            let mut h = [0u8; 40];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
            h[6] = proto;
            h[7] = ttl;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            f.extend_from_slice(&h);
        }
        _ => return f,
    }
    f.extend_from_slice(l4);
    fill(&mut f);
    f
}

fn ip_at(f: &[u8]) -> Option<(usize, bool)> {
    match f.get(12..14)? {
        [0x08, 0x00] => Some((14, false)),
        [0x86, 0xdd] => Some((14, true)),
        _ => None,
    }
}

/// Fills the IP and transport checksums of a frame from `build`.
fn fill(f: &mut [u8]) {
    let Some((l3, v6)) = ip_at(f) else { return };
    let (src, dst, proto, l4) = if v6 {
        let Ok(ip) = Ipv6Packet::new_checked(&f[l3..]) else {
            return;
        };
        (
            IpAddr::V6(ip.src_addr()),
            IpAddr::V6(ip.dst_addr()),
            ip.next_header(),
            l3 + 40,
        )
    } else {
        let Ok(mut ip) = Ipv4Packet::new_checked(&mut f[l3..]) else {
            return;
        };
        ip.fill_checksum();
        (
            IpAddr::V4(ip.src_addr()),
            IpAddr::V4(ip.dst_addr()),
            ip.next_header(),
            l3 + 20,
        )
    };
    let body = &mut f[l4..];
    match proto {
        IpProtocol::Tcp => {
            if let Ok(mut t) = TcpPacket::new_checked(body) {
                t.fill_checksum(&src, &dst);
            }
        }
        IpProtocol::Udp => {
            if let Ok(mut u) = UdpPacket::new_checked(body) {
                u.fill_checksum(&src, &dst);
            }
        }
        IpProtocol::Icmp => {
            if let Ok(mut i) = Icmpv4Packet::new_checked(body) {
                i.fill_checksum();
            }
        }
        IpProtocol::Icmpv6 => {
            if let Ok(mut i) = Icmpv6Packet::new_checked(body) {
                i.fill_checksum(&src, &dst);
            }
        }
        _ => {}
    }
}

/// Whether every checksum of the IP packet at `p` verifies (recursing into IP-in-IP and
/// checking quoted IPv4 headers of ICMP errors). `Err` names the first bad one.
pub fn verify_ip(p: &[u8]) -> Result<(), String> {
    let v6 = p.first().map(|b| b >> 4) == Some(6);
    let (src, dst, proto, body) = if v6 {
        let ip = Ipv6Packet::new_checked(p).map_err(|e| format!("ipv6: {e}"))?;
        let up = ip.upper_layer().map_err(|e| format!("ipv6 ext: {e}"))?;
        (
            IpAddr::V6(ip.src_addr()),
            IpAddr::V6(ip.dst_addr()),
            up.next_header,
            &p[up.offset..ip.total_len().min(p.len())],
        )
    } else {
        let ip = Ipv4Packet::new_checked(p).map_err(|e| format!("ipv4: {e}"))?;
        if !ip.verify_checksum() {
            return Err("ipv4 header checksum".into());
        }
        let hl = ip.header_len();
        (
            IpAddr::V4(ip.src_addr()),
            IpAddr::V4(ip.dst_addr()),
            ip.next_header(),
            &p[hl..usize::from(ip.total_len())],
        )
    };
    let ok = match proto {
        IpProtocol::Tcp => {
            TcpPacket::new_checked(body).is_ok_and(|t| t.verify_checksum(&src, &dst))
        }
        IpProtocol::Udp => {
            UdpPacket::new_checked(body).is_ok_and(|u| u.verify_checksum(&src, &dst))
        }
        IpProtocol::Icmp => Icmpv4Packet::new_checked(body).is_ok_and(|i| i.verify_checksum()),
        IpProtocol::Icmpv6 => {
            Icmpv6Packet::new_checked(body).is_ok_and(|i| i.verify_checksum(&src, &dst))
        }
        IpProtocol::Ipip | IpProtocol::Ipv6 => return verify_ip(body),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{proto:?} checksum"))
    }
}

fn verify_frame(f: &[u8]) -> Result<(), String> {
    match ip_at(f) {
        Some((l3, _)) => verify_ip(&f[l3..]),
        None => Ok(()),
    }
}

fn tcp_l4(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 0x50;
    t[13] = flags;
    t[14..16].copy_from_slice(&29200u16.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

fn udp_l4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

/// An SCTP packet: common header (checksum left 0: the director does not check it) and
/// one bodiless chunk of `kind`, or a COOKIE ECHO with an ABORT bundled after it for 255.
fn sctp_l4(sport: u16, dport: u16, kind: u8) -> Vec<u8> {
    let mut l4 = vec![0u8; 12];
    l4[..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    if kind == 255 {
        l4.extend_from_slice(&[10, 0, 0, 5, 1, 0, 0, 0, 6, 0, 0, 4]);
    } else {
        l4.extend_from_slice(&[kind, 0, 0, 4]);
    }
    l4
}

/// What a run did, so tests can check the model reaches the interesting paths.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunStats {
    pub forwarded: usize,
    pub max_conns: usize,
    pub drops: u64,
}

struct Model {
    /// `DIRECTOR_OPS_TRACE=1`: print every frame and verdict (debugging a fuzz finding).
    trace: bool,
    stats: RunStats,
    d: Director,
    now: Instant,
    /// Recent forwarded frames (for replies, ICMP errors and mutations).
    seen: Vec<Vec<u8>>,
}

impl Model {
    fn new(sysctls: Sysctls) -> Self {
        let key = ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: IpAddr::from([192, 0, 2, 10]),
            port: 443,
        };
        let mut d = Director::new(DirectorConfig {
            conn_budget: BUDGET,
            mac: MacAddr([2, 0, 0, 0, 0, 2]),
            addrs: vec![
                IpAddr::from([10, 0, 0, 1]),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            ],
            vips: vec![IpAddr::from(VIP), IpAddr::V6(VIP6)],
            fullnat: vec![FullNatPool {
                service: key,
                laddrs: vec![IpAddr::from([10, 0, 0, 100])],
                ports: 5000..=5007,
                share: PortShare::ALL,
            }],
            sysctls: Sysctls {
                amemthresh: 16,
                ..sysctls
            },
            ..DirectorConfig::default()
        });
        for l in SETUP {
            d.apply(&parse_line(l).expect("setup parses"), Instant::ZERO)
                .expect("setup applies");
        }
        d.handle_timeout(Instant::ZERO);
        Self {
            trace: std::env::var_os("DIRECTOR_OPS_TRACE").is_some(),
            stats: RunStats::default(),
            d,
            now: Instant::ZERO,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, frame: &[u8]) {
        let valid = verify_frame(frame).is_ok();
        let mut buf = vec![0u8; frame.len() + 128];
        buf[64..64 + frame.len()].copy_from_slice(frame);
        let Ok(mut pkt) = PacketBuf::new(&mut buf, 64, frame.len()) else {
            return;
        };
        let v = self.d.handle_packet(self.now, &mut pkt);
        if self.trace {
            eprintln!("{:?} {} -> {v:?}", self.now, Summary(frame));
        }
        let out = match v {
            Verdict::Forward { frame, .. } => Some(frame.to_vec()),
            _ => None,
        };
        if let Some(f) = out {
            self.stats.forwarded += 1;
            if valid && let Err(e) = verify_frame(&f) {
                panic!("forwarded frame with bad checksums ({e}): in {frame:02x?} out {f:02x?}");
            }
            if self.seen.len() >= 16 {
                self.seen.remove(0);
            }
            self.seen.push(f);
        }
        let mut tx = [0u8; 2048];
        while let Some(n) = self.d.poll_transmit(self.now, &mut tx) {
            if let Err(e) = verify_frame(&tx[..n]) {
                panic!(
                    "originated frame with bad checksums ({e}): {:02x?}",
                    &tx[..n]
                );
            }
        }
        while self.d.poll_event().is_some() {}
    }

    fn check(&self) {
        let snap = self.d.snapshot();
        assert!(
            self.d.conn_count() + snap.templates <= BUDGET,
            "budget exceeded"
        );
        let conns: Vec<_> = self.d.conns(self.now).collect();
        for svc in &snap.services {
            let ServiceKey::Inet { addr, port, .. } = svc.key else {
                continue;
            };
            for dest in &svc.dests {
                let mine = conns.iter().filter(|c| {
                    c.virt == (addr, port) && c.dest.0 == dest.addr && c.dest.1 == dest.port
                });
                let (mut active, mut inactive) = (0u32, 0u32);
                for c in mine {
                    if c.state.is_some_and(TcpState::is_active)
                        || c.sctp_state.is_some_and(SctpState::is_active)
                    {
                        active += 1;
                    } else {
                        inactive += 1;
                    }
                }
                assert_eq!(
                    (dest.active_conns, dest.inactive_conns),
                    (active, inactive),
                    "counters of {}:{} in {:?}",
                    dest.addr,
                    dest.port,
                    svc.key
                );
            }
        }
    }

    fn step(&mut self, inp: &mut Input<'_>) {
        let op = inp.byte();
        match op % 12 {
            0 => {
                let ms = u64::from(inp.byte()) * 500;
                let end = self.now + core::time::Duration::from_millis(ms);
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
            1..=3 => {
                // Client TCP to one of the v4 services.
                let c = inp.byte();
                let port = [80u16, 22, 443, 81][usize::from(inp.byte() % 4)];
                let flags = [0x02, 0x10, 0x11, 0x04, 0x18, 0x12][usize::from(inp.byte() % 6)];
                let len = usize::from(inp.byte() % 4) * 7;
                let l4 = tcp_l4(40000 + u16::from(c % 8), port, flags, &vec![b'x'; len]);
                let f = build(
                    IpAddr::from([198, 51, 100, c % 4 + 1]),
                    IpAddr::from(VIP),
                    6,
                    64 - (c >> 6),
                    &l4,
                );
                self.send(&f);
            }
            4 => {
                // Client UDP, or SCTP (port index 2) with a chunk from the handshake, data or
                // the shutdown.
                let c = inp.byte();
                let port = [53u16, 54, 3868][usize::from(inp.byte() % 3)];
                let (proto, l4) = if port == 3868 {
                    let kind = [1u8, 10, 0, 7, 14, 6, 255][usize::from(inp.byte() % 7)];
                    (132, sctp_l4(5000 + u16::from(c % 8), port, kind))
                } else {
                    (17, udp_l4(5000 + u16::from(c % 8), port, b"q"))
                };
                let f = build(
                    IpAddr::from([198, 51, 100, c % 4 + 1]),
                    IpAddr::from(VIP),
                    proto,
                    64,
                    &l4,
                );
                self.send(&f);
            }
            5 | 6 => {
                // A reply to a recent forwarded frame: swap addresses and ports.
                let Some(f) = self.pick(inp) else { return };
                let Some((l3, v6)) = ip_at(&f) else { return };
                let (sa, da, pr, l4) = if v6 {
                    let mut s = [0u8; 16];
                    let mut d = [0u8; 16];
                    s.copy_from_slice(&f[l3 + 8..l3 + 24]);
                    d.copy_from_slice(&f[l3 + 24..l3 + 40]);
                    (IpAddr::from(s), IpAddr::from(d), f[l3 + 6], l3 + 40)
                } else {
                    let s = [f[l3 + 12], f[l3 + 13], f[l3 + 14], f[l3 + 15]];
                    let d = [f[l3 + 16], f[l3 + 17], f[l3 + 18], f[l3 + 19]];
                    (IpAddr::from(s), IpAddr::from(d), f[l3 + 9], l3 + 20)
                };
                if f.len() < l4 + 4 {
                    return;
                }
                let sp = u16::from_be_bytes([f[l4], f[l4 + 1]]);
                let dp = u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]);
                let l4b = match pr {
                    6 => tcp_l4(
                        dp,
                        sp,
                        [0x12, 0x10, 0x11, 0x04][usize::from(inp.byte() % 4)],
                        b"",
                    ),
                    17 => udp_l4(dp, sp, b"r"),
                    132 => sctp_l4(dp, sp, [2u8, 11, 0, 8, 6][usize::from(inp.byte() % 5)]),
                    _ => return,
                };
                self.send(&build(da, sa, pr, 64, &l4b));
            }
            7 => {
                // An ICMP error about a recent forwarded frame, from its receiver.
                let Some(f) = self.pick(inp) else { return };
                let Some((l3, v6)) = ip_at(&f) else { return };
                let quote_len = (f.len() - l3).min(28 + usize::from(inp.byte() % 16));
                let mut l4 = if v6 {
                    vec![1, 4, 0, 0, 0, 0, 0, 0]
                } else {
                    vec![3, 3, 0, 0, 0, 0, 0, 0]
                };
                l4.extend_from_slice(&f[l3..l3 + quote_len]);
                let (sa, da) = if v6 {
                    let mut s = [0u8; 16];
                    let mut d = [0u8; 16];
                    s.copy_from_slice(&f[l3 + 8..l3 + 24]);
                    d.copy_from_slice(&f[l3 + 24..l3 + 40]);
                    (IpAddr::from(s), IpAddr::from(d))
                } else {
                    (
                        IpAddr::from([f[l3 + 12], f[l3 + 13], f[l3 + 14], f[l3 + 15]]),
                        IpAddr::from([f[l3 + 16], f[l3 + 17], f[l3 + 18], f[l3 + 19]]),
                    )
                };
                let proto = if v6 { 58 } else { 1 };
                self.send(&build(da, sa, proto, 64, &l4));
            }
            8 => {
                // A mutated copy of a recent frame (checksums no longer promised).
                let Some(mut f) = self.pick(inp) else { return };
                let at = usize::from(inp.byte()) % f.len().max(1);
                if let Some(b) = f.get_mut(at) {
                    *b ^= inp.byte() | 1;
                }
                self.send(&f);
            }
            9 => {
                let n = usize::from(inp.byte());
                let raw = inp.take(n).to_vec();
                self.send(&raw);
            }
            10 => {
                let c = inp.byte();
                let l4 = tcp_l4(
                    40000 + u16::from(c % 8),
                    80,
                    [0x02, 0x10, 0x11][usize::from(c % 3)],
                    b"",
                );
                let src = IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    1,
                    0,
                    0,
                    0,
                    0,
                    u16::from(c % 4),
                ));
                self.send(&build(src, IpAddr::V6(VIP6), 6, 64, &l4));
            }
            _ => {
                let c = CHANGES[usize::from(inp.byte()) % CHANGES.len()];
                if self.trace {
                    eprintln!("{:?} ipvsadm {c}", self.now);
                }
                if let Ok(cmd) = parse_line(c) {
                    let _ = self.d.apply(&cmd, self.now);
                }
            }
        }
    }

    fn pick(&self, inp: &mut Input<'_>) -> Option<Vec<u8>> {
        let i = usize::from(inp.byte());
        (!self.seen.is_empty()).then(|| self.seen[i % self.seen.len()].clone())
    }
}

/// Runs one fuzz input.
pub fn run(data: &[u8]) -> RunStats {
    let mut inp = Input(data);
    let mode = inp.byte();
    let level = |b: u8| b & 3;
    let sysctls = Sysctls {
        expire_nodest_conn: mode & 1 != 0,
        expire_quiescent_template: mode & 2 != 0,
        conn_reuse_mode: (mode >> 2) & 3,
        secure_tcp: level(mode >> 4),
        drop_entry: level(mode >> 6),
        drop_packet: level(mode >> 5),
        ..Sysctls::default()
    };
    let mut m = Model::new(sysctls);
    let mut steps = 0;
    while !inp.0.is_empty() && steps < 512 {
        m.step(&mut inp);
        m.check();
        m.stats.max_conns = m.stats.max_conns.max(m.d.conn_count());
        steps += 1;
    }
    m.stats.drops = m.d.drop_counters().total();
    m.stats
}
