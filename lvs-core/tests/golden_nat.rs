//! Golden tables for NAT, FULLNAT, DR and TTL: input frame -> rewriter -> output, compared with
//! an expected frame built independently with etherparse's `PacketBuilder`.

mod common;

use std::net::IpAddr;

use common::{L4, MAC_DIR, MAC_GW, MAC_RS, assert_frame, conn, frame};
use lvs_core::rewrite::{
    ConnAddrs, Layout, RewriteError, TtlVerdict, decrement_ttl, dr, fullnat_in, fullnat_out,
    nat_in, nat_in_at, nat_out,
};
use lvs_core::wire::{MacAddr, WireError, flow};

const PAYLOADS: [&[u8]; 3] = [b"", b"GET / HTTP/1.0\r\n\r\n", b"odd"];

struct Case {
    name: &'static str,
    v6: bool,
    l4: L4,
    udp_zero: bool,
}

const CASES: [Case; 6] = [
    Case {
        name: "tcp4",
        v6: false,
        l4: L4::Tcp { syn: false },
        udp_zero: false,
    },
    Case {
        name: "tcp4-syn",
        v6: false,
        l4: L4::Tcp { syn: true },
        udp_zero: false,
    },
    Case {
        name: "udp4",
        v6: false,
        l4: L4::Udp,
        udp_zero: false,
    },
    Case {
        name: "udp4-nocsum",
        v6: false,
        l4: L4::Udp,
        udp_zero: true,
    },
    Case {
        name: "tcp6",
        v6: true,
        l4: L4::Tcp { syn: false },
        udp_zero: false,
    },
    Case {
        name: "udp6",
        v6: true,
        l4: L4::Udp,
        udp_zero: false,
    },
];

/// Builds a frame and, for the UDP-without-checksum cases, zeroes the UDP checksum (RFC 768).
fn build(c: &Case, src: (IpAddr, u16), dst: (IpAddr, u16), payload: &[u8]) -> Vec<u8> {
    let mut f = frame(MAC_GW, MAC_DIR, c.l4, src, dst, 64, payload);
    if c.udp_zero {
        f[14 + 20 + 6..14 + 20 + 8].fill(0);
    }
    f
}

type Rewrite = fn(&mut [u8], &ConnAddrs) -> Result<(), RewriteError>;
type Row = (
    &'static str,
    Rewrite,
    [(IpAddr, u16); 2],
    [(IpAddr, u16); 2],
);

/// (name, rewriter, input tuple, expected tuple) for one connection.
fn table(k: &ConnAddrs) -> [Row; 4] {
    let (c, v, d, l) = (
        (k.caddr, k.cport),
        (k.vaddr, k.vport),
        (k.daddr, k.dport),
        (k.laddr, k.lport),
    );
    [
        ("nat-in", nat_in, [c, v], [c, d]),
        ("nat-out", nat_out, [d, c], [v, c]),
        ("fullnat-in", fullnat_in, [c, v], [l, d]),
        ("fullnat-out", fullnat_out, [d, l], [v, c]),
    ]
}

#[test]
fn nat_and_fullnat_golden() {
    for c in &CASES {
        let k = conn(c.v6);
        for (method, f, from, to) in table(&k) {
            for p in PAYLOADS {
                let input = build(c, from[0], from[1], p);
                let want = build(c, to[0], to[1], p);
                let mut got = input.clone();
                f(&mut got, &k).unwrap_or_else(|e| panic!("{method} {}: {e}", c.name));
                assert_frame(
                    &format!("{method}-{}-{}", c.name, p.len()),
                    &input,
                    &got,
                    &want,
                );
            }
        }
    }
}

#[test]
fn nat_keeps_ethernet_padding() {
    let k = conn(false);
    let c = &CASES[0];
    let mut input = build(c, (k.caddr, k.cport), (k.vaddr, k.vport), b"");
    let mut want = build(c, (k.caddr, k.cport), (k.daddr, k.dport), b"");
    input.resize(60, 0);
    want.resize(60, 0);
    let mut got = input.clone();
    nat_in(&mut got, &k).unwrap();
    assert_eq!(got, want);
}

#[test]
fn nat_refuses_bad_input_unchanged() {
    let k = conn(false);
    let c = &CASES[0];
    let good = build(c, (k.caddr, k.cport), (k.vaddr, k.vport), b"abc");
    // Family mismatch: a v6 connection on a v4 packet.
    let mut f = good.clone();
    assert_eq!(
        nat_in(&mut f, &conn(true)),
        Err(RewriteError::AddressFamily)
    );
    assert_eq!(f, good);
    // Truncated: IP total length beyond the frame.
    let mut f = good[..good.len() - 1].to_vec();
    assert_eq!(nat_in(&mut f, &k), Err(RewriteError::Truncated));
    // Fragment (MF set).
    let mut f = good.clone();
    f[14 + 6] |= 0x20;
    assert_eq!(nat_in(&mut f, &k), Err(RewriteError::Fragment));
    // ICMP is not rewritten by the plain NAT path.
    let mut f = good.clone();
    f[14 + 9] = 1;
    assert_eq!(nat_in(&mut f, &k), Err(RewriteError::UnsupportedProtocol));
    // Not IP.
    let mut f = good.clone();
    f[12..14].copy_from_slice(&[0x88, 0xcc]);
    assert_eq!(nat_in(&mut f, &k), Err(RewriteError::NotIp));
}

/// A UDP frame with one VLAN tag (id 42) whose TPID is `tpid` (0x8100 or 0x88a8).
fn vlan_udp(tpid: [u8; 2], src: (IpAddr, u16), dst: (IpAddr, u16)) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2(MAC_GW, MAC_DIR)
        .single_vlan(etherparse::VlanId::try_new(42).unwrap())
        .ipv4(common::v4(src.0), common::v4(dst.0), 64)
        .udp(src.1, dst.1)
        .write(&mut out, b"tagged")
        .unwrap();
    out[12..14].copy_from_slice(&tpid);
    out
}

#[test]
fn nat_vlan_tagged() {
    let k = conn(false);
    let mk = |src, dst| vlan_udp([0x81, 0x00], src, dst);
    let input = mk((k.caddr, k.cport), (k.vaddr, k.vport));
    let want = mk((k.caddr, k.cport), (k.daddr, k.dport));
    let mut got = input.clone();
    nat_in(&mut got, &k).unwrap();
    assert_frame("nat-in-vlan", &input, &got, &want);
}

/// One 802.1ad service tag (0x88a8) is unwrapped like an 802.1Q tag, as by `wire::flow`; two
/// tags are not IP.
#[test]
fn nat_service_tagged() {
    let k = conn(false);
    let mk = |src, dst| vlan_udp([0x88, 0xa8], src, dst);
    let input = mk((k.caddr, k.cport), (k.vaddr, k.vport));
    let want = mk((k.caddr, k.cport), (k.daddr, k.dport));
    let mut got = input.clone();
    nat_in(&mut got, &k).unwrap();
    assert_frame("nat-in-s-tag", &input, &got, &want);
    // The data path's way: flow extraction, then the layout it found.
    let info = flow::extract(&input).unwrap();
    assert_eq!((info.vlan_id, info.l3_offset), (Some(42), 18));
    let mut got = input.clone();
    nat_in_at(
        &mut got,
        &Layout::from_frame_info(&input, &info).unwrap(),
        &k,
    )
    .unwrap();
    assert_frame("nat-in-at-s-tag", &input, &got, &want);
    // S-tag + C-tag.
    let mut double = input.clone();
    double.splice(16..16, [0x81, 0x00, 0x00, 0x07]);
    assert_eq!(nat_in(&mut double, &k), Err(RewriteError::NotIp));
    assert_eq!(flow::extract(&double), Err(WireError::NotIp));
}

#[test]
fn dr_golden() {
    let k = conn(false);
    let input = frame(
        MAC_GW,
        MAC_DIR,
        L4::Udp,
        (k.caddr, 1),
        (k.vaddr, 53),
        64,
        b"q",
    );
    let want = frame(
        MAC_DIR,
        MAC_RS,
        L4::Udp,
        (k.caddr, 1),
        (k.vaddr, 53),
        64,
        b"q",
    );
    let mut got = input.clone();
    dr(&mut got, MacAddr(MAC_RS), MacAddr(MAC_DIR)).unwrap();
    assert_frame("dr", &input, &got, &want);
    assert_eq!(
        dr(&mut [0u8; 11], MacAddr(MAC_RS), MacAddr(MAC_DIR)),
        Err(RewriteError::Truncated)
    );
}

#[test]
fn ttl_golden() {
    for v6 in [false, true] {
        let k = conn(v6);
        let udp = |ttl| {
            frame(
                MAC_GW,
                MAC_DIR,
                L4::Udp,
                (k.caddr, 1),
                (k.vaddr, 53),
                ttl,
                b"x",
            )
        };
        for ttl in [255u8, 64, 2] {
            let input = udp(ttl);
            let want = udp(ttl - 1);
            let mut got = input.clone();
            assert_eq!(decrement_ttl(&mut got), Ok(TtlVerdict::Forward));
            assert_frame(&format!("ttl-{v6}-{ttl}"), &input, &got, &want);
        }
        for ttl in [1u8, 0] {
            let input = udp(ttl);
            let mut got = input.clone();
            assert_eq!(decrement_ttl(&mut got), Ok(TtlVerdict::Expired));
            assert_eq!(got, input);
        }
    }
}

#[test]
fn layout_variants_match() {
    use lvs_core::rewrite::{
        Layout, decrement_ttl_at, fullnat_in_at, fullnat_out_at, nat_in_at, nat_out_at,
    };
    type At = fn(&mut [u8], &Layout, &ConnAddrs) -> Result<(), RewriteError>;
    let ats: [At; 4] = [nat_in_at, nat_out_at, fullnat_in_at, fullnat_out_at];
    for c in &CASES {
        let k = conn(c.v6);
        for ((method, f, from, to), at) in table(&k).into_iter().zip(ats) {
            let input = build(c, from[0], from[1], b"layout");
            let want = build(c, to[0], to[1], b"layout");
            let info = lvs_core::wire::flow::extract(&input).unwrap();
            let layout = Layout::from_frame_info(&input, &info).unwrap();
            let mut got = input.clone();
            at(&mut got, &layout, &k).unwrap();
            assert_frame(&format!("{method}-at-{}", c.name), &input, &got, &want);
            let mut plain = input.clone();
            f(&mut plain, &k).unwrap();
            assert_eq!(plain, got);
            // A layout used on a shorter frame is refused, not a panic.
            let mut short = input[..layout.end() - 1].to_vec();
            assert_eq!(at(&mut short, &layout, &k), Err(RewriteError::Truncated));
            assert_eq!(
                decrement_ttl_at(&mut short, &layout),
                Err(RewriteError::Truncated)
            );
        }
    }
}

/// Found by fuzzing: a later IPv6 fragment header must not clear an earlier one's offset.
#[test]
fn ipv6_second_fragment_header_keeps_fragment() {
    let k = conn(true);
    let mut f = Vec::new();
    // Hop-by-hop, then a non-first fragment header (offset 33), then an atomic one.
    let mut payload = vec![44, 0, 1, 4, 0, 0, 0, 0];
    payload.extend_from_slice(&[44, 0, 0x01, 0x08, 0, 0, 0, 1]);
    payload.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 2]);
    payload.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
    // By hand: etherparse's builder does not take a raw extension-header chain.
    f.extend_from_slice(&MAC_DIR);
    f.extend_from_slice(&MAC_GW);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, payload.len() as u8, 0, 64]);
    f.extend_from_slice(&common::v6(k.caddr));
    f.extend_from_slice(&common::v6(k.vaddr));
    f.extend_from_slice(&payload);
    let orig = f.clone();
    assert_eq!(nat_in(&mut f, &k), Err(RewriteError::Fragment));
    assert_eq!(f, orig);
}

/// Bit-at-a-time CRC32c (test-side, independent of the table-driven one under test).
fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// An SCTP packet (common header + one DATA chunk) with a valid CRC32c (RFC 9260 6.8).
fn sctp(sport: u16, dport: u16) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    // DATA chunk: type 0, flags 3, length 20, TSN, stream, seq, PPID, 4 bytes of data.
    p.extend_from_slice(&[
        0, 3, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, b'p', b'i', b'n', b'g',
    ]);
    let c = crc32c(&p);
    p[8..12].copy_from_slice(&c.to_le_bytes());
    p
}

/// An Ethernet frame carrying [`sctp`] `src -> dst`.
fn sctp_frame(src: (IpAddr, u16), dst: (IpAddr, u16)) -> Vec<u8> {
    common::raw_frame(MAC_GW, MAC_DIR, src.0, dst.0, 64, 132, &sctp(src.1, dst.1))
}

#[test]
fn nat_sctp_golden() {
    for v6 in [false, true] {
        let k = conn(v6);
        let (c, v, d, l) = (
            (k.caddr, k.cport),
            (k.vaddr, k.vport),
            (k.daddr, k.dport),
            (k.laddr, k.lport),
        );
        let input = sctp_frame(c, v);
        let want = sctp_frame(c, d);
        let mut got = input.clone();
        nat_in(&mut got, &k).unwrap();
        assert_frame(&format!("nat-in-sctp-{v6}"), &input, &got, &want);
        let input = sctp_frame(d, l);
        let want = sctp_frame(v, c);
        let mut got = input.clone();
        fullnat_out(&mut got, &k).unwrap();
        assert_frame(&format!("fullnat-out-sctp-{v6}"), &input, &got, &want);
    }
}
